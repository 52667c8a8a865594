//! The CloudTrail event path: a fast way to learn that a resource was changed, and by whom.
//!
//! An EventBridge rule (`deploy/eventbridge-rule.json`) sends the "AWS API Call via
//! CloudTrail" events of the services Plumb manages to an SQS queue. The [`consumer`] reads
//! it, [`parse`]s each message, drops what is not someone else's change ([`classify`]), maps
//! each call to the resources it names ([`targets`]), and for those an environment holds
//! records who made the change and makes the environment due for a reconcile at once.
//!
//! The reconcile decides what drifted, as always: an event only brings it forward and names
//! the actor. EventBridge delivers on a best-effort basis, so the resync stays the backstop;
//! a lost, late or dropped event delays detection and leaves the drift without an actor,
//! nothing more.

pub mod classify;
pub mod consumer;
pub mod parse;
pub mod targets;

pub use classify::{classify, Own, Verdict};
pub use consumer::{run, Config, Consumer, ConsumerError};
pub use parse::{parse, Event, Identity, Parsed, Unparseable};
pub use targets::{Source, Target};

use crate::engine::ResourceId;

/// What became of one message, as counted in `plumb_events_total{outcome}`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "kebab-case")]
pub enum EventOutcome {
    /// A change to resources an environment holds: actor recorded, environment due now.
    Matched,
    /// Plumb's own call (its own identity, or a session it assumed).
    Own,
    /// A call AWS made itself (Application Auto Scaling setting a desired count).
    AwsService,
    /// A call that changes nothing (Describe, List, Get).
    ReadOnly,
    /// A change to resources no environment holds.
    Foreign,
    /// A write that changes nothing Plumb manages (SetAlarmState, CreateLogStream), a call
    /// that failed, or an event that is not a CloudTrail API call of a service Plumb manages.
    Ignored,
    /// Not an EventBridge event, or a call without the names it must carry.
    Unparseable,
    /// The database refused it on every one of its deliveries: deleted, not recorded.
    Failed,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where an event's names are looked up: the name claims of its region, under the accounts
/// it may be recorded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub region: String,
    /// The claim accounts to look in: the event's account, and `""` (environments acting
    /// with Plumb's own credentials) when that is Plumb's own.
    pub claim_accounts: Vec<String>,
    /// The 12-digit account the event happened in, when it says; ARNs (an Amazon MQ
    /// broker's) must be in it.
    pub account: Option<String>,
}

/// A resource of an environment that an event changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Touched {
    pub environment: String,
    pub resource: ResourceId,
}
