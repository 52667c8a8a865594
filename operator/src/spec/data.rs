//! Stateful components: PostgreSQL (RDS instance or Aurora Serverless v2), Redis
//! (ElastiCache replication group) and RabbitMQ (Amazon MQ). Plumb never deletes or replaces
//! these unless the environment's policy allows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// PostgreSQL, named `{env}-postgres`: set exactly one of `instance` or `aurora`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Postgres {
    /// e.g. `15.10` (RDS) or `15.4` (Aurora).
    #[schema(example = "15.10")]
    pub engine_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_name: Option<String>,
    #[serde(default = "default_master_username")]
    pub master_username: String,
    /// How the master password is held. Never a plaintext password.
    #[serde(default)]
    pub master_password: MasterPassword,
    #[serde(default = "default_backup_retention")]
    pub backup_retention_days: u32,
    #[serde(default = "default_true")]
    pub deletion_protection: bool,
    #[serde(default = "default_true")]
    pub storage_encrypted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_backup_window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_maintenance_window: Option<String>,
    #[serde(default)]
    pub performance_insights: bool,
    /// Overrides `network.securityGroups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    /// Database parameters (`rds.force_ssl: 1`, `log_min_duration_statement: 1000`), kept in
    /// the parameter group `{env}-postgres` (a cluster parameter group for Aurora). Values are
    /// stored as strings; only the parameters named here are managed.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "scalar_map"
    )]
    pub parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<RdsInstance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aurora: Option<AuroraServerless>,
}

fn default_master_username() -> String {
    "postgres".to_owned()
}
fn default_backup_retention() -> u32 {
    7
}
fn default_true() -> bool {
    true
}

/// The master password: managed by RDS in Secrets Manager (the default), or an existing
/// Secrets Manager secret Plumb reads when it creates the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MasterPassword {
    /// RDS creates and rotates the password in Secrets Manager.
    #[serde(default)]
    pub managed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
}

impl Default for MasterPassword {
    fn default() -> Self {
        Self {
            managed: true,
            secret_arn: None,
        }
    }
}

/// A single RDS for PostgreSQL instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RdsInstance {
    #[schema(example = "db.t3.small")]
    pub class: String,
    /// GiB.
    pub allocated_storage: u32,
    /// Storage autoscaling ceiling in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_allocated_storage: Option<u32>,
    #[serde(default = "default_storage_type")]
    pub storage_type: String,
    #[serde(default)]
    pub multi_az: bool,
}

fn default_storage_type() -> String {
    "gp3".to_owned()
}

/// An Aurora PostgreSQL cluster with Serverless v2 instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuroraServerless {
    /// ACUs, 0.5–256 in steps of 0.5.
    pub min_capacity: f64,
    pub max_capacity: f64,
    /// Reader instances besides the writer.
    #[serde(default)]
    pub readers: u32,
}

/// Redis on ElastiCache: a replication group named `{env}-redis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Redis {
    #[schema(example = "7.0")]
    pub engine_version: String,
    #[schema(example = "cache.t3.micro")]
    pub node_type: String,
    /// Read replicas besides the primary (0–5).
    #[serde(default)]
    pub replicas: u32,
    /// Needs at least one replica.
    #[serde(default)]
    pub automatic_failover: bool,
    #[serde(default)]
    pub multi_az: bool,
    #[serde(default = "default_true")]
    pub at_rest_encryption: bool,
    #[serde(default = "default_true")]
    pub transit_encryption: bool,
    /// Secrets Manager secret holding the AUTH token (needs transit encryption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token_secret_arn: Option<String>,
    /// Engine parameters (`maxmemory-policy: allkeys-lru`), kept in the parameter group
    /// `{env}-redis`; only the parameters named here are managed.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "scalar_map"
    )]
    pub parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub snapshot_retention_days: u32,
    /// `hh24:mi-hh24:mi`, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_window: Option<String>,
    /// `ddd:hh24:mi-ddd:hh24:mi`, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
}

/// RabbitMQ on Amazon MQ: a broker named `{env}-rabbitmq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMq {
    #[schema(example = "3.13")]
    pub engine_version: String,
    #[schema(example = "mq.t3.micro")]
    pub instance_type: String,
    #[serde(default)]
    pub deployment_mode: MqDeploymentMode,
    pub username: String,
    /// Secrets Manager secret holding the broker user's password.
    pub password_secret_arn: String,
    #[serde(default)]
    pub publicly_accessible: bool,
    #[serde(default = "default_true")]
    pub auto_minor_version_upgrade: bool,
    /// When Amazon MQ may patch and restart the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MqMaintenanceWindow>,
    /// Send the broker's general log to CloudWatch Logs.
    #[serde(default)]
    pub general_logs: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    /// Overrides `network.subnets`: one subnet for SINGLE_INSTANCE (the first of
    /// `network.subnets` when left out), several for CLUSTER_MULTI_AZ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<String>>,
}

/// The weekly start of Amazon MQ's two-hour maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MqMaintenanceWindow {
    /// `MONDAY` … `SUNDAY`.
    #[schema(example = "SUNDAY")]
    pub day_of_week: String,
    /// `HH:MM`, 24-hour.
    #[schema(example = "03:00")]
    pub time_of_day: String,
    /// An IANA time zone or `UTC`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// A map of parameter names to scalar values (strings, numbers or booleans, as YAML writes
/// them), kept as the strings AWS stores.
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        String(String),
        Bool(bool),
        Number(serde_json::Number),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match v {
            Scalar::String(s) => Ok((k, s)),
            Scalar::Number(n) => Ok((k, n.to_string())),
            // RDS wants 1/0 or on/off, Redis yes/no: `true` would be guessing.
            Scalar::Bool(b) => Err(serde::de::Error::custom(format!(
                "parameter {k:?}: write the value as the parameter expects it (1 or 0, on or off, yes or no), not {b}"
            ))),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum MqDeploymentMode {
    #[default]
    #[serde(rename = "SINGLE_INSTANCE")]
    SingleInstance,
    #[serde(rename = "CLUSTER_MULTI_AZ")]
    ClusterMultiAz,
}
