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
mod elasticache;
mod mq;
mod rds;

pub use ecs::{FAILED_REVISION, ROLLOUT_STATE};
pub use mq::MAINTENANCE_WINDOW as MQ_MAINTENANCE_WINDOW;

/// The parameters of a parameter group (RDS or ElastiCache), compared as a subset.
pub const PARAMETERS: &str = "parameters";

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
            Self::CacheSubnetGroup => &elasticache::CACHE_SUBNET_GROUP,
            Self::CacheParameterGroup => &elasticache::CACHE_PARAMETER_GROUP,
            Self::ReplicationGroup => &elasticache::REPLICATION_GROUP,
            Self::MqBroker => &mq::BROKER,
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

/// `engineVersion`: `15` is met by `15.4`, and `15.4` by `15.7` (AWS's automatic minor
/// upgrades move forward; an older version cannot be restored in place, so a newer minor
/// is never drift). Other fields: equal only.
pub fn version_satisfied(field: &str, want: &Value, got: &Value) -> bool {
    if field != "engineVersion" {
        return false;
    }
    let (Some(want), Some(got)) = (want.as_str(), got.as_str()) else {
        return false;
    };
    let parts = |v: &str| -> Option<Vec<u32>> { v.split('.').map(|p| p.parse().ok()).collect() };
    let (Some(want), Some(got)) = (parts(want), parts(got)) else {
        return false;
    };
    match (want.first(), got.first()) {
        (Some(a), Some(b)) if a == b => got[..want.len().min(got.len())] >= want[..],
        _ => false,
    }
}

/// `parameters` (RDS and ElastiCache parameter groups): every parameter the spec names has
/// its value in AWS (as strings).
pub fn parameters_set(field: &str, want: &Value, got: &Value) -> bool {
    if field != PARAMETERS {
        return false;
    }
    let (Some(want), Some(got)) = (want.as_object(), got.as_object()) else {
        return false;
    };
    want.iter()
        .all(|(name, value)| got.get(name) == Some(value))
}
