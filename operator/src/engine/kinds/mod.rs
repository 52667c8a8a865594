//! One rules entry per resource kind: what the pure engine must know about it.
//!
//! A [`Rules`] value is a struct literal with no defaults, and [`ResourceKind::rules`] matches
//! every kind, so a new kind compiles only once each rule is given. For example, an entry that
//! forgets how to read its status does not compile:
//!
//! ```compile_fail
//! use plumb_operator::engine::kinds::{exact, no_defaults, Rules};
//! const WIDGET: Rules = Rules {
//!     name: "widget",
//!     stateful: false,
//!     replace_on: &[],
//!     revisioned: false,
//!     aws_default: no_defaults,
//!     normalize: |_, value| value,
//!     equivalent: exact,
//!     deferred: &[],
//!     disruptive: &[],
//!     // phase: missing
//! };
//! ```
//!
//! The I/O half of a kind, its adapter, lives in `crate::aws` and is dispatched the same way.

mod autoscaling;
mod cloudwatch;
mod ecs;
mod rds;

pub use ecs::{FAILED_REVISION, ROLLOUT_STATE};
pub use rds::PARAMETERS;

use serde_json::Value;

use super::resource::{Observed, Phase, ResourceKind};

/// What the engine knows about one kind of AWS resource. Pure: no I/O.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// The kind's name in ids, status and metrics (`ecs-service`).
    pub name: &'static str,
    /// Holds data: never deleted or replaced unless the environment's policy allows it.
    pub stateful: bool,
    /// Fields AWS cannot change in place: changing one replaces the resource.
    pub replace_on: &'static [&'static str],
    /// An update makes a new revision with a new ARN (task definitions), so what refers to it
    /// must be updated after it.
    pub revisioned: bool,
    /// What AWS means when it leaves a field out (`None`: nothing known).
    pub aws_default: fn(field: &str) -> Option<Value>,
    /// This kind's own representation rules for a field's (already canonical, non-null)
    /// value: ARN vs name, strings for numbers, sets.
    pub normalize: fn(field: &str, value: Value) -> Value,
    /// Whether the observed value (normalised) satisfies the desired one (normalised) when
    /// they are not equal: an engine version `15` met by `15.4`. Most kinds: [`exact`].
    pub equivalent: fn(field: &str, want: &Value, got: &Value) -> bool,
    /// Fields whose change AWS makes at the resource's maintenance window unless asked to
    /// apply it at once (`policy.applyImmediately`): instance class, engine version, node
    /// type.
    pub deferred: &'static [&'static str],
    /// Fields whose change interrupts the resource, with what happens ("reboots the
    /// instance", "fails over").
    pub disruptive: &'static [(&'static str, &'static str)],
    /// What an observed resource's status means.
    pub phase: fn(observed: &Observed) -> Phase,
}

impl ResourceKind {
    /// The kind's rules.
    pub fn rules(self) -> &'static Rules {
        match self {
            Self::EcsCluster => &ecs::CLUSTER,
            Self::LogGroup => &cloudwatch::LOG_GROUP,
            Self::TaskDefinition => &ecs::TASK_DEFINITION,
            Self::EcsService => &ecs::SERVICE,
            Self::ScalableTarget => &autoscaling::TARGET,
            Self::ScalingPolicy => &autoscaling::POLICY,
            Self::MetricAlarm => &cloudwatch::METRIC_ALARM,
            Self::DbSubnetGroup => &rds::DB_SUBNET_GROUP,
            Self::DbParameterGroup => &rds::DB_PARAMETER_GROUP,
            Self::DbClusterParameterGroup => &rds::DB_CLUSTER_PARAMETER_GROUP,
            Self::DbCluster => &rds::DB_CLUSTER,
            Self::DbInstance => &rds::DB_INSTANCE,
        }
    }
}

/// For kinds whose fields match only when equal (after normalisation).
pub fn exact(_field: &str, _want: &Value, _got: &Value) -> bool {
    false
}

/// For kinds whose every field AWS always reports.
pub fn no_defaults(_field: &str) -> Option<Value> {
    None
}

/// For kinds whose fields need nothing beyond the canonical form.
pub fn as_is(_field: &str, value: Value) -> Value {
    value
}

/// For kinds with no status word: present means ready.
pub fn always_ready(_observed: &Observed) -> Phase {
    Phase::Ready
}
