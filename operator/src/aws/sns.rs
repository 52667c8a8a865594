//! Publishing alerts to SNS: one message with a subject and String message attributes, and
//! the region a topic lives in, read from its ARN.

use aws_sdk_sns::types::MessageAttributeValue;

use super::error::{AwsError, OpResult};

const SERVICE: &str = "SNS";

/// SNS error codes (besides [`AwsError::is_permanent`]'s) that publishing again soon will
/// meet again: the topic is gone, Plumb may not publish to it, or its KMS key is unusable.
pub(crate) const PERMANENT_CODES: &[&str] = &[
    "NotFound",
    "AuthorizationError",
    "InvalidSecurity",
    "KMSAccessDenied",
    "KMSDisabled",
    "KMSInvalidState",
    "KMSNotFound",
    "KMSOptInRequired",
];

/// One message to publish.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub topic_arn: &'a str,
    /// Left out when empty (SNS refuses an empty subject).
    pub subject: &'a str,
    pub body: &'a str,
    /// String attributes, by name; one with an empty value is left out (SNS refuses it).
    pub attributes: &'a [(&'a str, &'a str)],
}

/// Publishes `message`; returns the message id SNS gave it.
pub async fn publish(sns: &aws_sdk_sns::Client, message: Message<'_>) -> Result<String, AwsError> {
    let mut request = sns
        .publish()
        .topic_arn(message.topic_arn)
        .message(message.body);
    if !message.subject.is_empty() {
        request = request.subject(message.subject);
    }
    for (name, value) in message.attributes {
        if value.is_empty() {
            continue;
        }
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*value)
            .build()?;
        request = request.message_attributes(*name, value);
    }
    let out = request.send().await.op(SERVICE, "Publish")?;
    out.message_id.ok_or_else(|| AwsError::Response {
        service: SERVICE,
        operation: "Publish",
        detail: "the answer has no message id".to_owned(),
    })
}

/// The region of an SNS topic ARN, `arn:{partition}:sns:{region}:{account}:{name}`; `None`
/// for anything else.
pub fn topic_region(topic_arn: &str) -> Option<&str> {
    let mut parts = topic_arn.splitn(6, ':');
    let mut next = || parts.next().unwrap_or_default();
    let (arn, partition, service, region, account, name) =
        (next(), next(), next(), next(), next(), next());
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let name_ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    let topic = arn == "arn"
        && !partition.is_empty()
        && service == "sns"
        && region_ok
        && super::is_account_id(account)
        && name_ok;
    topic.then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_of_a_topic_in_any_partition() {
        for (arn, region) in [
            ("arn:aws:sns:us-east-1:123456789012:alerts", "us-east-1"),
            ("arn:aws:sns:eu-west-1:123456789012:pager.fifo", "eu-west-1"),
            (
                "arn:aws-cn:sns:cn-north-1:123456789012:ops_alerts",
                "cn-north-1",
            ),
        ] {
            assert_eq!(topic_region(arn), Some(region), "{arn}");
        }
    }

    #[test]
    fn anything_but_a_topic_arn_has_no_region() {
        for arn in [
            "",
            "alerts",
            "arn:aws:sns::123456789012:alerts",
            "arn:aws:sns:us-east-1:12345:alerts",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:aws:sns:us-east-1:123456789012:alerts:sub-id",
            "arn:aws:sqs:us-east-1:123456789012:alerts",
            "arn:aws:iam::123456789012:role/plumb",
            "arn::sns:us-east-1:123456789012:alerts",
            "arn:aws:sns:US-EAST-1:123456789012:alerts",
        ] {
            assert_eq!(topic_region(arn), None, "{arn}");
        }
    }
}
