//! The EventBridge envelope of a CloudTrail event, read leniently: a field of an unexpected
//! type is treated as absent, never as a reason to panic. What an event needs to be handled
//! (its service, call, time and region) must be there; the rest is optional.
//!
//! ```json
//! {"detail-type": "AWS API Call via CloudTrail", "source": "aws.ecs", "account": "…",
//!  "region": "eu-west-1", "time": "…",
//!  "detail": {"eventSource": "ecs.amazonaws.com", "eventName": "UpdateService",
//!             "eventTime": "2025-03-01T12:00:00Z", "awsRegion": "eu-west-1",
//!             "recipientAccountId": "123456789012",
//!             "userIdentity": {"type": "AssumedRole", "arn": "…", "invokedBy": "…",
//!                              "sessionContext": {"sessionIssuer": {"arn": "…"}}},
//!             "sourceIPAddress": "…", "userAgent": "…", "readOnly": false,
//!             "errorCode": "…", "requestParameters": {…}, "responseElements": {…}}}
//! ```
//!
//! `responseElements` is not read: every call Plumb maps names its resources in its request.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::targets::Source;
use crate::drift::Actor;

/// The `detail-type` of every event CloudTrail sends to EventBridge for an API call.
pub const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// Longest actor field kept (a user agent can run long); longer ones are cut.
const ACTOR_FIELD_CHARS: usize = 512;

/// One API call, as CloudTrail reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub source: Source,
    /// The API call: `UpdateService`, `ModifyDBInstance`, …
    pub name: String,
    pub time: DateTime<Utc>,
    pub region: String,
    /// `recipientAccountId`, else the envelope's `account`.
    pub account: Option<String>,
    pub identity: Identity,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `readOnly`, when the event says.
    pub read_only: Option<bool>,
    /// Set when the call failed: it changed nothing.
    pub error_code: Option<String>,
    /// `requestParameters` (`null` when the event has none).
    pub request: Value,
}

/// `userIdentity`: who made the call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `IAMUser`, `AssumedRole`, `Root`, `AWSService`, …
    pub type_: Option<String>,
    pub arn: Option<String>,
    /// The AWS service that made the call on the identity's behalf.
    pub invoked_by: Option<String>,
    /// `sessionContext.sessionIssuer.arn`: the role of an assumed-role session.
    pub issuer_arn: Option<String>,
}

/// A message that is an EventBridge event.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A CloudTrail API call of a service Plumb manages.
    Call(Box<Event>),
    /// Another event: another detail type or another service.
    Other,
}

/// Why a message is not an event Plumb can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unparseable {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not an EventBridge event (no detail object)")]
    NoDetail,
    #[error("the event has no {0}")]
    Missing(&'static str),
    #[error("eventTime {0:?} is not an RFC 3339 time")]
    Time(String),
}

/// Reads one queue message.
pub fn parse(body: &str) -> Result<Parsed, Unparseable> {
    let envelope: Value =
        serde_json::from_str(body).map_err(|e| Unparseable::Json(e.to_string()))?;
    let Some(detail) = envelope.get("detail").filter(|d| d.is_object()) else {
        return Err(Unparseable::NoDetail);
    };
    if text(&envelope, "detail-type") != Some(DETAIL_TYPE) {
        return Ok(Parsed::Other);
    }
    let event_source = text(detail, "eventSource").ok_or(Unparseable::Missing("eventSource"))?;
    let Some(source) = Source::from_event_source(event_source) else {
        return Ok(Parsed::Other);
    };
    let name = text(detail, "eventName")
        .filter(|n| !n.is_empty())
        .ok_or(Unparseable::Missing("eventName"))?;
    let time = text(detail, "eventTime")
        .or_else(|| text(&envelope, "time"))
        .ok_or(Unparseable::Missing("eventTime"))?;
    let time = DateTime::parse_from_rfc3339(time)
        .map_err(|_| Unparseable::Time(clean(time)))?
        .with_timezone(&Utc);
    let region = text(detail, "awsRegion")
        .or_else(|| text(&envelope, "region"))
        .filter(|r| !r.is_empty())
        .ok_or(Unparseable::Missing("awsRegion"))?;
    let identity = detail.get("userIdentity").unwrap_or(&Value::Null);
    let issuer = identity
        .get("sessionContext")
        .and_then(|c| c.get("sessionIssuer"))
        .unwrap_or(&Value::Null);
    Ok(Parsed::Call(Box::new(Event {
        source,
        name: name.to_owned(),
        time,
        region: region.to_owned(),
        account: text(detail, "recipientAccountId")
            .or_else(|| text(&envelope, "account"))
            .map(str::to_owned),
        identity: Identity {
            type_: owned(identity, "type"),
            arn: owned(identity, "arn"),
            invoked_by: owned(identity, "invokedBy"),
            issuer_arn: owned(issuer, "arn"),
        },
        source_ip: owned(detail, "sourceIPAddress"),
        user_agent: owned(detail, "userAgent"),
        read_only: detail.get("readOnly").and_then(Value::as_bool),
        error_code: owned(detail, "errorCode"),
        request: detail.get("requestParameters").cloned().unwrap_or_default(),
    })))
}

impl Event {
    /// Who made the call, as stored beside the drift it caused: printable text only, each
    /// field cut to a bounded length.
    pub fn actor(&self) -> Actor {
        let field = |v: &Option<String>| v.as_deref().map(clean).filter(|v| !v.is_empty());
        Actor {
            arn: field(&self.identity.arn),
            type_: field(&self.identity.type_),
            source_ip_address: field(&self.source_ip),
            user_agent: field(&self.user_agent),
            event_name: clean(&self.name),
            event_time: self.time,
        }
    }
}

/// A string field of an object; absent when missing or not a string.
pub(super) fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn owned(value: &Value, key: &str) -> Option<String> {
    text(value, key).map(str::to_owned)
}

/// Without control characters (Postgres refuses NUL in text and JSONB), at most
/// [`ACTOR_FIELD_CHARS`] characters.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(ACTOR_FIELD_CHARS)
        .collect()
}

#[cfg(test)]
#[path = "tests/parse.rs"]
mod tests;
