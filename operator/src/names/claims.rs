//! Name claims: every AWS name an environment derives, with where AWS keeps it unique.
//!
//! Names are derived from the environment name, so two environments can derive the same one:
//! env `prod` with service `eu-api` and env `prod-eu` with service `api` both derive
//! `prod-eu-api`. The store keeps one claim per derived name and refuses a write whose claims
//! another environment already holds.
//!
//! A claim is unique per (account, region, namespace, name): the scope in which AWS itself
//! refuses a second resource of that name.

use std::collections::BTreeSet;
use std::fmt;

use crate::engine::graph::desired_graph;
use crate::engine::ResourceKind;
use crate::spec::Environment;

/// A kind of AWS name: names must be unique within one namespace of one account and region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Namespace {
    EcsCluster,
    /// ECS keeps service names unique per cluster; claiming them per region refuses nothing
    /// more, because the task definition family of the same name is unique per region.
    EcsService,
    TaskFamily,
    LogGroup,
    /// Application Auto Scaling resource ids (`service/{cluster}/{service}`).
    ScalableTarget,
    ScalingPolicy,
    /// CloudWatch metric alarms: explicit ones and those driving queue-depth scaling.
    Alarm,
    /// RDS DB instances: a single instance or the instances of an Aurora cluster.
    RdsInstance,
    /// RDS DB clusters (Aurora).
    RdsCluster,
    /// RDS DB subnet groups.
    DbSubnetGroup,
    /// RDS DB parameter groups.
    DbParameterGroup,
    /// RDS DB cluster parameter groups.
    DbClusterParameterGroup,
    /// ElastiCache replication groups.
    Elasticache,
    /// ElastiCache cache subnet groups.
    CacheSubnetGroup,
    /// ElastiCache cache parameter groups.
    CacheParameterGroup,
    /// Amazon MQ brokers.
    Mq,
}

impl Namespace {
    /// Static label, as stored and as shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcsCluster => "ecs-cluster",
            Self::EcsService => "ecs-service",
            Self::TaskFamily => "task-family",
            Self::LogGroup => "log-group",
            Self::ScalableTarget => "scalable-target",
            Self::ScalingPolicy => "scaling-policy",
            Self::Alarm => "alarm",
            Self::RdsInstance => "rds-instance",
            Self::RdsCluster => "rds-cluster",
            Self::DbSubnetGroup => "db-subnet-group",
            Self::DbParameterGroup => "db-parameter-group",
            Self::DbClusterParameterGroup => "db-cluster-parameter-group",
            Self::Elasticache => "elasticache",
            Self::CacheSubnetGroup => "cache-subnet-group",
            Self::CacheParameterGroup => "cache-parameter-group",
            Self::Mq => "mq",
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One AWS name an environment derives, in the scope where AWS keeps it unique.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Claim {
    /// The 12-digit account id of `spec.roleArn`; empty for the account Plumb runs in.
    pub account: String,
    /// `spec.region`.
    pub region: String,
    pub namespace: Namespace,
    pub name: String,
}

/// Every AWS name `env` derives (each resource of its graph), sorted and without duplicates.
///
/// Covers what the resource graph builds: the ECS cluster; per service its ECS service, task
/// definition family, log group, and with autoscaling its scalable target, scaling policies
/// and queue-depth alarms; PostgreSQL, Redis and RabbitMQ with their subnet and parameter
/// groups; alarms.
pub fn claims(env: &Environment) -> Vec<Claim> {
    let spec = &env.spec;
    let graph = desired_graph(env);
    let derived: Vec<(Namespace, String)> = graph
        .resources
        .iter()
        .map(|r| (namespace(r.id.kind), r.id.name.clone()))
        .collect();
    let account = account(spec.role_arn.as_deref());
    let unique: BTreeSet<Claim> = derived
        .into_iter()
        .map(|(namespace, name)| Claim {
            account: account.to_owned(),
            region: spec.region.clone(),
            namespace,
            name,
        })
        .collect();
    unique.into_iter().collect()
}

/// Where AWS keeps the names of a kind unique.
pub fn namespace(kind: ResourceKind) -> Namespace {
    match kind {
        ResourceKind::EcsCluster => Namespace::EcsCluster,
        ResourceKind::LogGroup => Namespace::LogGroup,
        ResourceKind::TaskDefinition => Namespace::TaskFamily,
        ResourceKind::EcsService => Namespace::EcsService,
        ResourceKind::ScalableTarget => Namespace::ScalableTarget,
        ResourceKind::ScalingPolicy => Namespace::ScalingPolicy,
        ResourceKind::MetricAlarm => Namespace::Alarm,
        ResourceKind::DbSubnetGroup => Namespace::DbSubnetGroup,
        ResourceKind::DbParameterGroup => Namespace::DbParameterGroup,
        ResourceKind::DbClusterParameterGroup => Namespace::DbClusterParameterGroup,
        ResourceKind::DbCluster => Namespace::RdsCluster,
        ResourceKind::DbInstance => Namespace::RdsInstance,
        ResourceKind::CacheSubnetGroup => Namespace::CacheSubnetGroup,
        ResourceKind::CacheParameterGroup => Namespace::CacheParameterGroup,
        ResourceKind::ReplicationGroup => Namespace::Elasticache,
        ResourceKind::MqBroker => Namespace::Mq,
    }
}

/// The account id in a role ARN (`arn:aws:iam::123456789012:role/name`), or `""` (Plumb's
/// own account) without a role or when the ARN holds no 12-digit account id.
pub fn account(role_arn: Option<&str>) -> &str {
    role_arn
        .and_then(|arn| arn.split(':').nth(4))
        .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "tests/claims.rs"]
mod tests;
