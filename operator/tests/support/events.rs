//! The CloudTrail event path's fixtures on moto: EventBridge, the rule of
//! `deploy/eventbridge-rule.json` sending to an SQS queue, and CloudTrail-shaped events.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use chrono::Utc;
use serde_json::{json, Value};
use uuid::Uuid;

use super::Moto;

pub const REGION: &str = "us-east-1";
/// moto's account.
pub const ACCOUNT: &str = "123456789012";
/// The rule the deployment guide creates.
pub const RULE: &str = include_str!("../../../deploy/eventbridge-rule.json");

/// An EventBridge client on moto.
pub async fn eventbridge(moto: &Moto) -> aws_sdk_eventbridge::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    aws_sdk_eventbridge::Client::new(&sdk)
}

/// The `detail` of an ECS UpdateService call by `identity` from `from`, as CloudTrail
/// records it.
pub fn update_service(cluster: &str, service: &str, identity: Value, from: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": "ecs.amazonaws.com",
        "eventName": "UpdateService",
        "awsRegion": REGION,
        "sourceIPAddress": from,
        "userAgent": if from.ends_with(".amazonaws.com") { from } else { "aws-cli/2.15.0" },
        "requestParameters": {"cluster": cluster, "service": service, "desiredCount": 5},
        "responseElements": null,
        "requestID": Uuid::new_v4().to_string(),
        "eventID": Uuid::new_v4().to_string(),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
}

/// An IAM user, as CloudTrail names one.
pub fn alice() -> Value {
    json!({
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEEXAMPLE",
        "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"),
        "accountId": ACCOUNT,
        "userName": "alice"
    })
}

/// Sends a CloudTrail event on `source` through EventBridge.
pub async fn put(events: &aws_sdk_eventbridge::Client, source: &str, detail: &Value) {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source(source)
        .detail_type("AWS API Call via CloudTrail")
        .detail(detail.to_string())
        .build();
    let put = events.put_events().entries(entry).send().await.unwrap();
    assert_eq!(put.failed_entry_count, 0, "{put:?}");
}
