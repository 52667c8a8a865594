//! The envelope: what is read, what is optional, and that no message makes the parser (or
//! what runs after it) panic.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::*;
use crate::aws::CallerIdentity;
use crate::cloudtrail::{classify, Own};

/// Application Auto Scaling setting an ECS service's desired count, as CloudTrail records it.
const AUTOSCALING_UPDATE_SERVICE: &str = r#"{
  "version": "0",
  "id": "3f0f6a4e-7d3e-2a6b-5f7c-6f0c1c2d3e4f",
  "detail-type": "AWS API Call via CloudTrail",
  "source": "aws.ecs",
  "account": "111122223333",
  "time": "2025-03-01T12:00:04Z",
  "region": "eu-west-1",
  "resources": [],
  "detail": {
    "eventVersion": "1.08",
    "userIdentity": {
      "type": "AssumedRole",
      "principalId": "AROAEXAMPLEEXAMPLE:AutoScaling",
      "arn": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForApplicationAutoScaling_ECSService/AutoScaling",
      "accountId": "111122223333",
      "sessionContext": {
        "sessionIssuer": {
          "type": "Role",
          "principalId": "AROAEXAMPLEEXAMPLE",
          "arn": "arn:aws:iam::111122223333:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
          "accountId": "111122223333",
          "userName": "AWSServiceRoleForApplicationAutoScaling_ECSService"
        },
        "attributes": {"creationDate": "2025-03-01T11:59:58Z", "mfaAuthenticated": "false"}
      },
      "invokedBy": "ecs.application-autoscaling.amazonaws.com"
    },
    "eventTime": "2025-03-01T12:00:01Z",
    "eventSource": "ecs.amazonaws.com",
    "eventName": "UpdateService",
    "awsRegion": "eu-west-1",
    "sourceIPAddress": "ecs.application-autoscaling.amazonaws.com",
    "userAgent": "ecs.application-autoscaling.amazonaws.com",
    "requestParameters": {"cluster": "shop-cluster", "service": "shop-api", "desiredCount": 4},
    "responseElements": null,
    "requestID": "9e1f2a3b-0000-4000-8000-000000000003",
    "eventID": "5d6e7f80-0000-4000-8000-000000000004",
    "readOnly": false,
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management"
  }
}"#;

fn call(body: &str) -> Event {
    match parse(body) {
        Ok(Parsed::Call(event)) => *event,
        other => panic!("{other:?}"),
    }
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a time")
        .with_timezone(&Utc)
}

#[test]
fn a_cloudtrail_event_is_read_with_its_identity_and_request() {
    let event = call(AUTOSCALING_UPDATE_SERVICE);
    assert_eq!(event.source, Source::Ecs);
    assert_eq!(event.name, "UpdateService");
    assert_eq!(event.time, time("2025-03-01T12:00:01Z"));
    assert_eq!(event.region, "eu-west-1");
    assert_eq!(event.account.as_deref(), Some("111122223333"));
    assert_eq!(
        event.identity,
        Identity {
            type_: Some("AssumedRole".to_owned()),
            arn: Some(
                "arn:aws:sts::111122223333:assumed-role/\
                 AWSServiceRoleForApplicationAutoScaling_ECSService/AutoScaling"
                    .to_owned()
            ),
            invoked_by: Some("ecs.application-autoscaling.amazonaws.com".to_owned()),
            issuer_arn: Some(
                "arn:aws:iam::111122223333:role/aws-service-role/\
                 ecs.application-autoscaling.amazonaws.com/\
                 AWSServiceRoleForApplicationAutoScaling_ECSService"
                    .to_owned()
            ),
        }
    );
    assert_eq!(
        event.source_ip.as_deref(),
        Some("ecs.application-autoscaling.amazonaws.com")
    );
    assert_eq!(event.read_only, Some(false));
    assert_eq!(event.error_code, None);
    assert_eq!(event.request["desiredCount"], json!(4));
}

#[test]
fn the_actor_is_who_called_with_printable_bounded_fields() {
    let mut event = call(AUTOSCALING_UPDATE_SERVICE);
    event.identity.arn = Some("arn:aws:iam::111122223333:user/alice".to_owned());
    event.identity.type_ = Some("IAMUser".to_owned());
    event.source_ip = Some("203.0.113.7".to_owned());
    event.user_agent = Some(format!("aws-cli/2\u{0}\n{}", "x".repeat(4000)));
    let actor = event.actor();
    assert_eq!(
        actor.arn.as_deref(),
        Some("arn:aws:iam::111122223333:user/alice")
    );
    assert_eq!(actor.type_.as_deref(), Some("IAMUser"));
    assert_eq!(actor.source_ip_address.as_deref(), Some("203.0.113.7"));
    let agent = actor.user_agent.expect("a user agent");
    assert!(agent.starts_with("aws-cli/2xxx"), "{agent}");
    assert_eq!(agent.chars().count(), ACTOR_FIELD_CHARS);
    assert_eq!(actor.event_name, "UpdateService");
    assert_eq!(actor.event_time, time("2025-03-01T12:00:01Z"));
}

#[test]
fn optional_fields_of_the_wrong_type_are_absent() {
    let body = json!({
        "detail-type": DETAIL_TYPE,
        "source": "aws.rds",
        "region": "eu-west-1",
        "detail": {
            "eventSource": "rds.amazonaws.com",
            "eventName": "ModifyDBInstance",
            "eventTime": "2025-03-01T12:00:00.123+01:00",
            "userIdentity": {"type": 3, "arn": ["x"]},
            "sourceIPAddress": {"ip": "203.0.113.7"},
            "readOnly": "false",
            "recipientAccountId": 111122223333u64,
            "requestParameters": "not an object"
        }
    })
    .to_string();
    let event = call(&body);
    assert_eq!(event.region, "eu-west-1", "the envelope's region");
    assert_eq!(event.time, time("2025-03-01T11:00:00.123Z"));
    assert_eq!(event.identity, Identity::default());
    assert_eq!(event.source_ip, None);
    assert_eq!(event.read_only, None);
    assert_eq!(event.account, None);
}

#[test]
fn other_events_and_other_services_are_not_calls() {
    let task_change = json!({
        "detail-type": "ECS Task State Change", "source": "aws.ecs",
        "detail": {"lastStatus": "STOPPED"}
    });
    assert_eq!(parse(&task_change.to_string()), Ok(Parsed::Other));
    let ec2 = json!({
        "detail-type": DETAIL_TYPE, "source": "aws.ec2",
        "detail": {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
                   "eventTime": "2025-03-01T12:00:00Z", "awsRegion": "eu-west-1"}
    });
    assert_eq!(parse(&ec2.to_string()), Ok(Parsed::Other));
}

#[test]
fn a_message_without_what_an_event_needs_is_unparseable() {
    let detail = |detail: serde_json::Value| {
        json!({"detail-type": DETAIL_TYPE, "source": "aws.ecs", "detail": detail}).to_string()
    };
    for (body, expected) in [
        ("".to_owned(), "Json"),
        ("not json".to_owned(), "Json"),
        ("null".to_owned(), "NoDetail"),
        ("[]".to_owned(), "NoDetail"),
        ("{}".to_owned(), "NoDetail"),
        (json!({"detail": "x"}).to_string(), "NoDetail"),
        (detail(json!({"eventName": "UpdateService"})), "Missing"),
        (
            detail(json!({"eventSource": "ecs.amazonaws.com", "eventName": 7})),
            "Missing",
        ),
        (
            detail(
                json!({"eventSource": "ecs.amazonaws.com", "eventName": "UpdateService",
                          "awsRegion": "eu-west-1"}),
            ),
            "Missing",
        ),
        (
            detail(
                json!({"eventSource": "ecs.amazonaws.com", "eventName": "UpdateService",
                          "eventTime": "yesterday", "awsRegion": "eu-west-1"}),
            ),
            "Time",
        ),
        (
            detail(
                json!({"eventSource": "ecs.amazonaws.com", "eventName": "UpdateService",
                          "eventTime": "2025-03-01T12:00:00Z"}),
            ),
            "Missing",
        ),
    ] {
        let err = parse(&body).expect_err(&body);
        let kind = format!("{err:?}");
        assert!(kind.starts_with(expected), "{body}: {kind}");
    }
}

#[test]
fn deeply_nested_and_huge_messages_are_refused_without_harm() {
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(parse(&nested), Err(Unparseable::Json(_))));
    let deep_detail = format!(
        r#"{{"detail-type": "{DETAIL_TYPE}", "detail": {{"requestParameters": {}{}}}}}"#,
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    assert!(parse(&deep_detail).is_err());
    let long_name = json!({
        "detail-type": DETAIL_TYPE, "source": "aws.ecs",
        "detail": {"eventSource": "ecs.amazonaws.com", "eventName": "x".repeat(300_000),
                   "eventTime": "2025-03-01T12:00:00Z", "awsRegion": "eu-west-1"}
    });
    let event = call(&long_name.to_string());
    assert_eq!(event.actor().event_name.chars().count(), ACTOR_FIELD_CHARS);
}

/// Plumb as moto's STS names it.
fn own() -> Own {
    Own::new(CallerIdentity {
        account: "111122223333".to_owned(),
        arn: "arn:aws:iam::111122223333:user/plumb".to_owned(),
    })
}

#[test]
fn mangled_messages_never_panic_anywhere_on_the_path() {
    let seeds = [
        AUTOSCALING_UPDATE_SERVICE.to_owned(),
        json!({
            "detail-type": DETAIL_TYPE, "source": "aws.monitoring",
            "detail": {"eventSource": "monitoring.amazonaws.com", "eventName": "DeleteAlarms",
                       "eventTime": "2025-03-01T12:00:00Z", "awsRegion": "eu-west-1",
                       "userIdentity": {"type": "IAMUser",
                                        "arn": "arn:aws:iam::111122223333:user/alice"},
                       "readOnly": false,
                       "requestParameters": {"alarmNames": ["shop-a", "shop-b"]}}
        })
        .to_string(),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let own = own();
    for round in 0..4000 {
        let seed = seeds[round % seeds.len()].as_bytes();
        let mut bytes = seed.to_vec();
        match round % 4 {
            0 => bytes.truncate(rng.random_range(0..=bytes.len())),
            1 => {
                for _ in 0..rng.random_range(1..8) {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] = rng.random();
                }
            }
            2 => {
                let i = rng.random_range(0..bytes.len());
                let insert: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                bytes.splice(i..i, insert);
            }
            _ => {
                let (a, b) = (
                    rng.random_range(0..bytes.len()),
                    rng.random_range(0..bytes.len()),
                );
                bytes.drain(a.min(b)..a.max(b));
            }
        }
        let body = String::from_utf8_lossy(&bytes);
        if let Ok(Parsed::Call(event)) = parse(&body) {
            let _ = classify(&event, &own);
            let _ = event.actor();
        }
    }
}
