//! The vocabulary shared by the graph builder, the diff, the plan and the AWS adapters.
//!
//! A resource is identified by its kind and its deterministic AWS name. Its managed fields are
//! a flat map from a field name (camelCase, as in the AWS API) to a canonical JSON value;
//! only fields the spec sets appear, so a field left out is never a difference. A field whose
//! value is another resource's ARN is a [`Reference`], resolved by the engine.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The kinds of AWS resource Plumb manages. Each kind has one rules entry
/// ([`ResourceKind::rules`]) and one adapter; both registries match exhaustively, so a new
/// variant does not compile until both are given.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::VariantArray,
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
    /// RDS DB subnet group of the PostgreSQL instance or cluster.
    DbSubnetGroup,
    /// RDS DB parameter group of a PostgreSQL instance.
    DbParameterGroup,
    /// RDS DB cluster parameter group of an Aurora PostgreSQL cluster.
    DbClusterParameterGroup,
    /// Aurora PostgreSQL cluster (Serverless v2).
    DbCluster,
    /// RDS for PostgreSQL instance, or an instance of an Aurora cluster.
    DbInstance,
    /// ElastiCache subnet group of the Redis replication group.
    CacheSubnetGroup,
    /// ElastiCache parameter group of the Redis replication group.
    CacheParameterGroup,
    /// ElastiCache for Redis replication group (a primary and its replicas).
    ReplicationGroup,
    /// Amazon MQ for RabbitMQ broker.
    MqBroker,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        self.rules().name
    }

    /// Holds data (databases, caches, brokers, logs): never deleted or replaced unless the
    /// environment's policy allows it.
    pub fn is_stateful(self) -> bool {
        self.rules().stateful
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

/// A field whose value is the ARN of other resources of the same environment: a service's
/// task definition revision, an alarm's scaling-policy actions. The engine resolves it to
/// ARNs (from what it observed, or from what it wrote earlier in the same run), so neither
/// the graph nor the adapters need to know how.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// The ARN of one resource.
    Arn(ResourceId),
    /// The ARNs of these resources, plus literal values, compared as a set.
    ArnSet {
        resources: Vec<ResourceId>,
        literals: Vec<String>,
    },
}

impl Reference {
    /// The resources it names.
    pub fn targets(&self) -> Vec<&ResourceId> {
        match self {
            Self::Arn(id) => vec![id],
            Self::ArnSet { resources, .. } => resources.iter().collect(),
        }
    }

    /// The value, when every target's ARN is known.
    pub fn resolve(&self, arn: impl Fn(&ResourceId) -> Option<String>) -> Option<Value> {
        match self {
            Self::Arn(id) => arn(id).map(Value::String),
            Self::ArnSet {
                resources,
                literals,
            } => {
                let mut values = literals.clone();
                for id in resources {
                    values.push(arn(id)?);
                }
                values.sort_unstable();
                values.dedup();
                Some(Value::from(values))
            }
        }
    }
}

/// A reference field, and whether it is compared (an ignore rule makes it create-only).
#[derive(Debug, Clone, PartialEq)]
pub struct RefField {
    pub reference: Reference,
    pub managed: bool,
}

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
    /// Fields whose values are other resources' ARNs.
    pub references: BTreeMap<String, RefField>,
    /// Tags every managed resource carries (`plumb:environment`, `plumb:managed-by`, and the
    /// spec's). Applied at creation (and on adoption); not compared.
    pub tags: BTreeMap<String, String>,
    /// Where the spec sets each field and reference (`ecs.services.api.desiredCount`), for
    /// drift records and `plumb drift accept`.
    pub paths: BTreeMap<String, String>,
}

impl Desired {
    /// A resource with no fields yet.
    pub fn new(id: ResourceId, depends_on: Vec<ResourceId>) -> Self {
        Self {
            id,
            depends_on,
            fields: Fields::new(),
            create_only: Fields::new(),
            references: BTreeMap::new(),
            tags: BTreeMap::new(),
            paths: BTreeMap::new(),
        }
    }
}

/// The desired resources of one environment, in dependency order (each after what it
/// depends on).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredGraph {
    pub resources: Vec<Desired>,
}

impl DesiredGraph {
    pub fn get(&self, id: &ResourceId) -> Option<&Desired> {
        self.resources.iter().find(|d| &d.id == id)
    }

    /// Names of the graph's resources of one kind.
    pub fn names(&self, kind: ResourceKind) -> std::collections::BTreeSet<String> {
        self.resources
            .iter()
            .filter(|r| r.id.kind == kind)
            .map(|r| r.id.name.clone())
            .collect()
    }
}

/// What an observed AWS status means for Plumb.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "phase", content = "reason")]
pub enum Phase {
    /// Settled: it can be compared and written.
    #[default]
    Ready,
    /// AWS is working on it (creating, modifying, draining, a deployment rolling out): wait,
    /// write nothing.
    Busy(String),
    /// Its last change failed (a rolled-back deployment, a failed instance): not written again
    /// until the spec changes.
    Failed(String),
}

/// Who the `plumb:environment` tag says a resource belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Owner {
    /// Tagged as this environment's.
    #[default]
    Ours,
    /// Tagged as another environment's (named).
    Other(String),
    /// Not tagged by Plumb at all.
    Untagged,
}

/// One resource as AWS reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub id: ResourceId,
    pub arn: Option<String>,
    /// AWS's own status word (`ACTIVE`, `DRAINING`, …), when it has one.
    pub status: Option<String>,
    /// What the status means; set from the kind's rules when observed.
    #[serde(default)]
    pub phase: Phase,
    #[serde(default)]
    pub owner: Owner,
    /// The same field names as [`Desired::fields`], as far as AWS reports them; a kind may
    /// add fields its phase rule reads (a service's `rolloutState`).
    pub fields: Fields,
    /// Resources this one needs, as AWS reports them (a service's cluster, a policy's target):
    /// orphans are deleted dependents first.
    #[serde(default)]
    pub depends_on: Vec<ResourceId>,
    /// Values AWS holds for the maintenance window (RDS `PendingModifiedValues`, ElastiCache
    /// and Amazon MQ pending fields), under the same field names as [`Observed::fields`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: Fields,
}

impl Observed {
    /// A resource of ours with these fields and nothing else known.
    pub fn new(id: ResourceId, arn: Option<String>, fields: Fields) -> Self {
        Self {
            id,
            arn,
            status: None,
            phase: Phase::Ready,
            owner: Owner::Ours,
            fields,
            depends_on: Vec::new(),
            pending: Fields::new(),
        }
    }
}

/// Everything observed for one environment: the resources with the names the graph derives
/// (whoever owns them), plus resources tagged as this environment's that the spec no longer
/// names.
pub type ObservedState = BTreeMap<ResourceId, Observed>;

/// One field that differs: `from` is what AWS has (None: absent), `to` what the spec wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    #[schema(value_type = Object)]
    pub from: Option<Value>,
    #[schema(value_type = Object)]
    pub to: Option<Value>,
    /// When and how AWS makes the change, where that is not simply "now": "at the
    /// maintenance window", "now; reboots the instance", "now; fails over".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

impl FieldChange {
    pub fn new(field: impl Into<String>, from: Option<Value>, to: Option<Value>) -> Self {
        Self {
            field: field.into(),
            from,
            to,
            effect: None,
        }
    }
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
    /// AWS is busy with it: nothing is written until it settles.
    Wait { reason: String },
    /// It exists under our name but belongs to someone else: reported, never touched.
    Conflict { reason: String },
    /// It is not written again until the spec changes (its last change failed).
    Blocked { reason: String },
    /// It exists untagged or tagged as someone else's, and `policy.adopt` makes it ours: it
    /// is tagged as this environment's.
    Adopt,
    /// AWS holds these changes for the resource's maintenance window: nothing is written,
    /// and they are not drift.
    Scheduled { fields: Vec<FieldChange> },
    /// It holds data the spec no longer names and the deletion policy is `retain`: it is left
    /// in place and untagged, no longer Plumb's.
    Release,
}

/// What one action does, as a word for status, events and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Verb {
    Create,
    Update,
    Delete,
    Refused,
    Wait,
    Conflict,
    Blocked,
    Adopt,
    Scheduled,
    Release,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Refused => "refused",
            Self::Wait => "wait",
            Self::Conflict => "conflict",
            Self::Blocked => "blocked",
            Self::Adopt => "adopt",
            Self::Scheduled => "scheduled",
            Self::Release => "release",
        }
    }

    /// Whether carrying it out calls AWS.
    pub fn writes(self) -> bool {
        match self {
            Self::Create | Self::Update | Self::Delete | Self::Adopt | Self::Release => true,
            Self::Refused | Self::Wait | Self::Conflict | Self::Blocked | Self::Scheduled => false,
        }
    }
}

impl Change {
    /// The verb, or None for a no-op.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            Self::Create { .. } => Some(Verb::Create),
            Self::Update { .. } => Some(Verb::Update),
            Self::NoOp => None,
            Self::Delete => Some(Verb::Delete),
            Self::ReplacementRequired { .. } => Some(Verb::Refused),
            Self::Wait { .. } => Some(Verb::Wait),
            Self::Conflict { .. } => Some(Verb::Conflict),
            Self::Blocked { .. } => Some(Verb::Blocked),
            Self::Adopt => Some(Verb::Adopt),
            Self::Scheduled { .. } => Some(Verb::Scheduled),
            Self::Release => Some(Verb::Release),
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Action {
    pub resource: ResourceId,
    pub change: Change,
}

/// Ordered actions: creates and updates in dependency order, then deletes dependents first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Plan {
    pub actions: Vec<Action>,
}
