//! Reading a password or token from Secrets Manager when a database, cache or broker is
//! created. The value goes straight into the create request (whose SDK input redacts it from
//! `Debug`); it is never logged, stored, or put into an error.

use super::adapter::{Cx, Result};
use super::error::{AwsError, OpResult};

const SERVICE: &str = "Secrets Manager";

/// The secret's value: the `key` member when the secret is a JSON object holding one (as
/// RDS writes its credentials: `{"username": …, "password": …}`), else the whole string.
pub(crate) async fn read(cx: Cx<'_>, arn: &str, key: &str) -> Result<String> {
    let out = cx
        .clients
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .op(SERVICE, "GetSecretValue")?;
    let Some(value) = out.secret_string() else {
        return Err(AwsError::Response {
            service: SERVICE,
            operation: "GetSecretValue",
            detail: format!("{arn} holds no string value"),
        });
    };
    Ok(member(value, key).unwrap_or_else(|| value.to_owned()))
}

fn member(value: &str, key: &str) -> Option<String> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(value).ok()?;
    object.get(key)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_secret_gives_its_member_and_a_plain_one_itself() {
        assert_eq!(
            member(r#"{"username":"u","password":"p4ss"}"#, "password").as_deref(),
            Some("p4ss")
        );
        assert_eq!(member("p4ss", "password"), None);
        assert_eq!(member(r#"{"user":"u"}"#, "password"), None);
    }
}
