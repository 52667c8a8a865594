//! One rules entry per resource kind: what the pure engine must know about it.
//!
//! A [`Rules`] value is a struct literal with no defaults, and [`ResourceKind::rules`] matches
//! every kind, so a new kind compiles only once each rule is given. For example, an entry that
//! forgets how to read its status does not compile:
//!
//! ```compile_fail
//! use plumb_operator::engine::kinds::{no_defaults, Rules};
//! const WIDGET: Rules = Rules {
//!     name: "widget",
//!     stateful: false,
//!     replace_on: &[],
//!     revisioned: false,
//!     aws_default: no_defaults,
//!     normalize: |_, value| value,
//!     // phase: missing
//! };
//! ```
//!
//! The I/O half of a kind, its adapter, lives in `crate::aws` and is dispatched the same way.

mod autoscaling;
mod cloudwatch;
mod ecs;

pub use ecs::{FAILED_REVISION, ROLLOUT_STATE};

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
        }
    }
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
