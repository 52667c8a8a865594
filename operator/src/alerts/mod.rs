//! Alerts through SNS: what is announced, to which topic, and when.
//!
//! A drift record that opens or resolves, and an environment whose AWS calls start or stop
//! failing, write an alert row to the outbox in the same transaction as the change itself
//! ([`crate::store`]); the sender ([`sender`]) publishes due rows to SNS and marks them sent.
//!
//! - Once per episode: an open drift seen again sends nothing. A resolve waits out the quiet
//!   period before it is sent; when the same drift (same fingerprint) comes back in that time,
//!   the resolve is withdrawn and the episode goes on (a flap), so a flapping field costs one
//!   `opened` and one `resolved` message, the latter saying how often it flapped.
//! - Many drifts in one sweep of one environment are one summary message.
//! - AWS itself failing is one `degraded` message per environment, and one `recovered`.

pub mod message;
pub mod sender;

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::spec::Severity;

/// How alerts are sent, the same for every environment.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// Where alerts of an environment without `spec.alerts` go (`--alerts-topic-arn`); none:
    /// they are recorded as unsent for lack of a topic.
    pub default_topic: Option<String>,
    /// How long a resolved drift or a recovery waits before it is announced; the same drift
    /// coming back within it is a flap, not a new episode.
    pub quiet_period: Duration,
    /// More drifts than this opening (or resolving) in one sweep of one environment are
    /// announced as one summary.
    pub summary_threshold: usize,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            default_topic: None,
            quiet_period: Duration::from_secs(300),
            summary_threshold: 10,
        }
    }
}

/// What an alert announces; the `state` message attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum AlertState {
    /// Drift found.
    Opened,
    /// Drift gone (corrected, spec changed, resource gone, accepted).
    Resolved,
    /// AWS calls of the environment fail (throttling, 5xx, credentials).
    Degraded,
    /// They succeed again.
    Recovered,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One alert to write to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub environment: String,
    pub environment_uid: Uuid,
    pub state: AlertState,
    /// The resource kind (`ecs-service`), `summary`, or `aws`: the `kind` attribute.
    pub kind: String,
    /// `kind/name` of the resource a drift alert is about.
    pub resource: Option<String>,
    pub severity: Severity,
    /// The topic for the severity from `spec.alerts`; None: the server's default topic.
    pub topic_arn: Option<String>,
    /// The environment's role, used to reach a topic of its own.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// environment + resource + field set + values (see [`message::fingerprint`]).
    pub fingerprint: String,
    /// One line of printable ASCII under 100 characters, as SNS requires.
    pub subject: String,
    /// The JSON message (see the README, "Alerts").
    pub body: Value,
    /// Sent no earlier than this long after it is written.
    pub delay: Duration,
}
