//! The Environment resource, v1: the object users declare and Plumb keeps true.
//!
//! Every struct rejects unknown fields: a typo in a spec must fail loudly, never silently do
//! nothing. Maps keyed by name (services, alarms) rather than lists keep JSON merge patches
//! precise and field paths readable (`spec.ecs.services.api.cpu`).

mod alarms;
mod data;
mod ecs;
mod parse;

pub use alarms::*;
pub use data::*;
pub use ecs::*;
pub use parse::{from_json_value, parse_document, parse_documents, Format, ParseError};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const API_VERSION: &str = "plumb.dev/v1";
pub const KIND: &str = "Environment";

/// A declared AWS application environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    /// Always `plumb.dev/v1`.
    #[schema(example = "plumb.dev/v1")]
    pub api_version: String,
    /// Always `Environment`.
    #[schema(example = "Environment")]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: EnvironmentSpec,
    /// Written by Plumb; ignored when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EnvironmentStatus>,
}

/// Identity and bookkeeping. Users set `name`, `labels` and (for optimistic concurrency)
/// `resourceVersion`; the rest is set by the server and ignored when sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// Lower-case letters, digits and single hyphens; every AWS name is derived from it.
    #[schema(example = "arive")]
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Bumped only when the spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Bumped on every write; send it back to update without overwriting someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<DateTime<Utc>>,
    /// Set once deletion was requested; the object stays until teardown finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<DateTime<Utc>>,
}

/// What the environment should be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// AWS region, e.g. `us-east-1`.
    #[schema(example = "us-east-1")]
    pub region: String,
    /// Role assumed through STS to reach another account. Its account must be one the server
    /// allows (`--allowed-accounts`; by default only the server's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External id sent when assuming `roleArn`, as the role's trust policy may require
    /// (`sts:ExternalId`); the server's default when left out. Only with `roleArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Tags put on every managed resource (besides Plumb's own `plumb:*` tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Alerts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<Ecs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<Postgres>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<Redis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq: Option<RabbitMq>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<Alarms>,
}

/// How often a healthy environment is looked at again when nothing asks for it, in seconds.
pub const DEFAULT_RESYNC_SECONDS: u32 = 300;

/// How Plumb treats drift, deletion and replacement, and how often it looks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub drift: DriftPolicy,
    #[serde(default)]
    pub deletion: DeletionPolicy,
    /// Stateful resources (databases, caches, brokers) are never replaced unless this is true.
    #[serde(default)]
    pub allow_replacement: bool,
    /// Disruptive changes to databases, caches and brokers (instance class, node type,
    /// engine version) wait for the resource's maintenance window unless this is true; until
    /// then they show as scheduled, not as drift.
    #[serde(default)]
    pub apply_immediately: bool,
    /// Take over resources that already carry the names Plumb derives but are not tagged as
    /// this environment's (created by hand or by Terraform): they are tagged as ours on the
    /// first reconcile and managed from then on. Without it such a resource is a conflict,
    /// reported and never touched.
    #[serde(default)]
    pub adopt: bool,
    /// Field paths Plumb neither reports nor corrects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<IgnoreRule>,
    /// Seconds between two looks at a healthy environment (10–86400; each wait varies by up
    /// to 10 % so that environments do not all come due together). A spec change, a delete
    /// and a trigger are acted on at once regardless.
    #[serde(default = "default_resync_seconds")]
    #[schema(default = 300, minimum = 10, maximum = 86400)]
    pub resync_seconds: u32,
}

fn default_resync_seconds() -> u32 {
    DEFAULT_RESYNC_SECONDS
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            drift: DriftPolicy::default(),
            deletion: DeletionPolicy::default(),
            allow_replacement: false,
            apply_immediately: false,
            adopt: false,
            ignore: Vec::new(),
            resync_seconds: DEFAULT_RESYNC_SECONDS,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftPolicy {
    /// Record drift, alert, and repair it.
    #[default]
    Correct,
    /// Record drift and alert; change nothing.
    Report,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeletionPolicy {
    /// Deleting the environment leaves stateful resources in place.
    #[default]
    Retain,
    /// Deleting the environment deletes everything it manages.
    Delete,
}

/// A field Plumb neither reports nor corrects, e.g. `ecs.services.*.image` when a deploy
/// pipeline sets images. The field is still set when its resource is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreRule {
    /// Dotted path below `spec`; `*` matches exactly one segment, and a rule covers everything
    /// below the field it names (`ecs.services.api` covers the whole service). For a field
    /// compared as one value (`env`, `secrets`, `healthCheck`, step lists), naming something
    /// inside it covers the whole field. Target-tracking entries go by index
    /// (`ecs.services.api.autoscaling.targetTracking.0.target`).
    #[schema(example = "ecs.services.*.image")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where drift and alarm notifications go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alerts {
    /// The topic for every severity without a topic of its own.
    pub sns_topic_arn: String,
    /// A topic per severity (critical alarms to the pager, warnings to chat).
    #[serde(default, skip_serializing_if = "SeverityTopics::is_empty")]
    pub topics: SeverityTopics,
}

/// SNS topics by severity; a severity left out goes to `alerts.snsTopicArn`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeverityTopics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

impl SeverityTopics {
    pub fn is_empty(&self) -> bool {
        self.critical.is_none() && self.warning.is_none() && self.info.is_none()
    }

    /// Each set topic with its severity.
    pub fn iter(&self) -> impl Iterator<Item = (Severity, &str)> {
        [
            (Severity::Critical, &self.critical),
            (Severity::Warning, &self.warning),
            (Severity::Info, &self.info),
        ]
        .into_iter()
        .filter_map(|(severity, topic)| Some((severity, topic.as_deref()?)))
    }
}

impl Alerts {
    /// Where a notification of `severity` goes.
    pub fn topic(&self, severity: Severity) -> &str {
        self.topics
            .iter()
            .find(|(s, _)| *s == severity)
            .map_or(self.sns_topic_arn.as_str(), |(_, topic)| topic)
    }
}

/// How urgent an alarm or alert is; each may go to its own topic.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Someone is paged.
    Critical,
    /// Looked at during the day.
    #[default]
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// Network placement, referenced and never managed by Plumb.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Network {
    /// Private subnets for tasks, databases, caches and brokers.
    pub subnets: Vec<String>,
    /// Default security groups; each component may name its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// Written by Plumb.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Per managed resource: its ARN or id and the state AWS reports.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, ResourceStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
    pub last_transition_time: DateTime<Utc>,
    /// The generation of the spec this condition was found for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// AWS's own status word, `Present` when it has none, or `Missing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `Ready`, `Busy`, `Failed`, `Missing` or `Conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The generation whose change of this resource failed (a rolled-back deployment): the
    /// resource is not written again until the spec moves past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_generation: Option<i64>,
    /// Fields applied in consecutive reconciles of one generation without sticking, with
    /// their counts (the convergence guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reapplied: Option<Reapplied>,
}

/// How often each field of a resource was applied in a row, in one generation, without AWS
/// reporting the desired value afterwards.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reapplied {
    pub generation: i64,
    pub fields: BTreeMap<String, u32>,
}

impl Environment {
    /// A fresh object with the v1 header, for code and tests that build specs directly.
    pub fn new(name: impl Into<String>, spec: EnvironmentSpec) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            metadata: ObjectMeta {
                name: name.into(),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }
}

impl EnvironmentSpec {
    /// A spec with only a region: the smallest valid environment.
    pub fn in_region(region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            role_arn: None,
            external_id: None,
            tags: BTreeMap::new(),
            policy: Policy::default(),
            alerts: None,
            network: None,
            ecs: None,
            postgres: None,
            redis: None,
            rabbitmq: None,
            alarms: None,
        }
    }
}
