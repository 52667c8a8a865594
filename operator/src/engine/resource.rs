//! The vocabulary shared by the graph builder, the diff, the plan and the AWS adapters.
//!
//! A resource is identified by its kind and its deterministic AWS name. Its managed fields are
//! a flat map from a field name (camelCase, as in the AWS API) to a canonical JSON value;
//! only fields the spec sets appear, so a field left out is never a difference.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The kinds of AWS resource Plumb manages. Each later kind (RDS, ElastiCache, MQ) is one
/// more variant and one more adapter, not one more engine.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// ECS cluster with its capacity providers.
    EcsCluster,
    /// CloudWatch Logs log group of one service.
    LogGroup,
    /// ECS task definition family (a new revision on change).
    TaskDefinition,
    /// ECS service.
    EcsService,
    /// Application Auto Scaling scalable target of one service.
    ScalableTarget,
    /// Application Auto Scaling policy (target tracking or step scaling).
    ScalingPolicy,
    /// CloudWatch metric alarm.
    MetricAlarm,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcsCluster => "ecs-cluster",
            Self::LogGroup => "log-group",
            Self::TaskDefinition => "task-definition",
            Self::EcsService => "ecs-service",
            Self::ScalableTarget => "scalable-target",
            Self::ScalingPolicy => "scaling-policy",
            Self::MetricAlarm => "metric-alarm",
        }
    }

    /// Holds data (databases, caches, brokers): never deleted or replaced unless the
    /// environment's policy allows it.
    pub fn is_stateful(self) -> bool {
        false
    }
}

/// Kind + deterministic AWS name, e.g. `ecs-service/arive-api`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub struct ResourceId {
    pub kind: ResourceKind,
    pub name: String,
}

impl ResourceId {
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

/// Managed fields: field name → canonical JSON value.
pub type Fields = BTreeMap<String, Value>;

/// One resource as the spec wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub id: ResourceId,
    /// Resources that must exist before this one (and go after it on deletion).
    pub depends_on: Vec<ResourceId>,
    /// Compared with what AWS reports; a difference is an update (or a replacement).
    pub fields: Fields,
    /// Set when the resource is created and never compared afterwards (e.g. the
    /// `desiredCount` of an autoscaled service, which belongs to the autoscaler).
    pub create_only: Fields,
    /// Tags every managed resource carries (`plumb:environment`, `plumb:managed-by`, and the
    /// spec's). Applied at creation; not compared.
    pub tags: BTreeMap<String, String>,
}

/// The desired resources of one environment, in dependency order (each after what it
/// depends on).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredGraph {
    pub resources: Vec<Desired>,
}

/// One resource as AWS reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub id: ResourceId,
    pub arn: Option<String>,
    /// AWS's own status word (`ACTIVE`, `DRAINING`, …), when it has one.
    pub status: Option<String>,
    /// The same field names as [`Desired::fields`], as far as AWS reports them.
    pub fields: Fields,
}

/// Everything observed for one environment: the desired resources that exist, plus resources
/// tagged as this environment's that the spec no longer names.
pub type ObservedState = BTreeMap<ResourceId, Observed>;

/// One field that differs: `from` is what AWS has (None: absent), `to` what the spec wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    #[schema(value_type = Object)]
    pub from: Option<Value>,
    #[schema(value_type = Object)]
    pub to: Option<Value>,
}

/// What must happen to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Change {
    /// It does not exist: create it with every desired and create-only field.
    Create { fields: Vec<FieldChange> },
    /// It exists and these managed fields differ.
    Update { fields: Vec<FieldChange> },
    /// It exists and matches.
    NoOp,
    /// It exists, is this environment's, and the spec no longer names it.
    Delete,
    /// The change cannot be made in place and replacing is not allowed: refused.
    ReplacementRequired {
        reason: String,
        fields: Vec<FieldChange>,
    },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Action {
    pub resource: ResourceId,
    pub change: Change,
}

/// Ordered actions: creates and updates in dependency order, then deletes in reverse
/// dependency order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Plan {
    pub actions: Vec<Action>,
}
