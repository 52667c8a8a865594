//! The write calls that change what Plumb manages, per service, and the resources each one
//! names. One table per service; a call not in its table changes nothing Plumb manages
//! (`SetAlarmState`, `CreateLogStream`, `RunTask`). Pure.
//!
//! Names are taken from `requestParameters` as CloudTrail records them (the API's member
//! names in camelCase: `dBInstanceIdentifier`, `alarmNames`); keys are matched without
//! regard to case, and a parameter may be a name or an ARN where the API accepts both.
//! RDS and ElastiCache keep identifiers in lower case whatever case a call used.

use serde_json::Value;
use strum::VariantArray;

use super::parse::Event;
use crate::engine::{ResourceId, ResourceKind};

/// Longest name taken from an event; AWS's own limits are shorter.
const NAME_CHARS: usize = 1024;

/// The AWS services whose events Plumb reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, VariantArray)]
pub enum Source {
    Ecs,
    AutoScaling,
    CloudWatch,
    Logs,
    Rds,
    ElastiCache,
    Mq,
}

impl Source {
    /// `detail.eventSource`.
    pub fn event_source(self) -> &'static str {
        match self {
            Self::Ecs => "ecs.amazonaws.com",
            Self::AutoScaling => "application-autoscaling.amazonaws.com",
            Self::CloudWatch => "monitoring.amazonaws.com",
            Self::Logs => "logs.amazonaws.com",
            Self::Rds => "rds.amazonaws.com",
            Self::ElastiCache => "elasticache.amazonaws.com",
            Self::Mq => "amazonmq.amazonaws.com",
        }
    }

    /// The EventBridge `source` of its events.
    pub fn eventbridge_source(self) -> &'static str {
        match self {
            Self::Ecs => "aws.ecs",
            Self::AutoScaling => "aws.application-autoscaling",
            Self::CloudWatch => "aws.monitoring",
            Self::Logs => "aws.logs",
            Self::Rds => "aws.rds",
            Self::ElastiCache => "aws.elasticache",
            Self::Mq => "aws.amazonmq",
        }
    }

    pub fn from_event_source(event_source: &str) -> Option<Self> {
        Self::VARIANTS
            .iter()
            .copied()
            .find(|s| s.event_source() == event_source)
    }

    pub fn from_eventbridge_source(source: &str) -> Option<Self> {
        Self::VARIANTS
            .iter()
            .copied()
            .find(|s| s.eventbridge_source() == source)
    }

    /// The calls of this service that change what Plumb manages.
    pub fn calls(self) -> impl Iterator<Item = &'static str> {
        self.table().iter().map(|(name, _)| *name)
    }

    fn table(self) -> &'static [(&'static str, Extract)] {
        match self {
            Self::Ecs => ECS,
            Self::AutoScaling => AUTOSCALING,
            Self::CloudWatch => CLOUDWATCH,
            Self::Logs => LOGS,
            Self::Rds => RDS,
            Self::ElastiCache => ELASTICACHE,
            Self::Mq => MQ,
        }
    }
}

/// A resource an event names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A resource by the name Plumb gives it. With `within`, it counts as an environment's
    /// only when that resource is the same environment's too: AWS keeps an ECS service's
    /// name unique per cluster, a scaling policy's per scalable target.
    Resource {
        id: ResourceId,
        within: Option<ResourceId>,
    },
    /// An Amazon MQ broker by the id AWS gave it (`b-…`); its ARN ends with it.
    Broker(String),
}

impl Target {
    fn named(kind: ResourceKind, name: &str) -> Self {
        Self::Resource {
            id: ResourceId::new(kind, name),
            within: None,
        }
    }
}

/// The call lacks a name it must carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} names no {parameter}")]
pub struct Malformed {
    pub call: String,
    pub parameter: &'static str,
}

/// The resources `event` names: `None` when its call changes nothing Plumb manages;
/// empty when it names nothing Plumb could hold (another service's scalable target, an
/// ECS task).
pub fn targets(event: &Event) -> Result<Option<Vec<Target>>, Malformed> {
    let Some((_, extract)) = event
        .source
        .table()
        .iter()
        .find(|(name, _)| *name == event.name)
    else {
        return Ok(None);
    };
    let params = Params {
        call: &event.name,
        request: &event.request,
    };
    let mut found = extract(&params)?;
    found.sort();
    found.dedup();
    Ok(Some(found))
}

type Extract = fn(&Params<'_>) -> Result<Vec<Target>, Malformed>;

const ECS: &[(&str, Extract)] = &[
    ("CreateCluster", ecs_cluster_created),
    ("UpdateCluster", ecs_cluster),
    ("UpdateClusterSettings", ecs_cluster),
    ("PutClusterCapacityProviders", ecs_cluster),
    ("DeleteCluster", ecs_cluster),
    ("CreateService", ecs_service_created),
    ("UpdateService", ecs_service),
    ("DeleteService", ecs_service),
    ("RegisterTaskDefinition", task_family),
    ("DeregisterTaskDefinition", task_definition),
    ("DeleteTaskDefinitions", task_definitions),
    ("TagResource", ecs_tagged),
    ("UntagResource", ecs_tagged),
];

const AUTOSCALING: &[(&str, Extract)] = &[
    ("RegisterScalableTarget", scalable_target),
    ("DeregisterScalableTarget", scalable_target),
    ("PutScalingPolicy", scaling_policy),
    ("DeleteScalingPolicy", scaling_policy),
];

const CLOUDWATCH: &[(&str, Extract)] = &[
    ("PutMetricAlarm", alarm),
    ("DeleteAlarms", alarms),
    ("EnableAlarmActions", alarms),
    ("DisableAlarmActions", alarms),
    ("TagResource", alarm_tagged),
    ("UntagResource", alarm_tagged),
];

const LOGS: &[(&str, Extract)] = &[
    ("CreateLogGroup", log_group),
    ("DeleteLogGroup", log_group),
    ("PutRetentionPolicy", log_group),
    ("DeleteRetentionPolicy", log_group),
    ("TagLogGroup", log_group),
    ("UntagLogGroup", log_group),
    ("TagResource", log_group_tagged),
    ("UntagResource", log_group_tagged),
];

const RDS: &[(&str, Extract)] = &[
    ("CreateDBInstance", db_instance),
    ("ModifyDBInstance", db_instance),
    ("DeleteDBInstance", db_instance),
    ("StartDBInstance", db_instance),
    ("StopDBInstance", db_instance),
    ("CreateDBCluster", db_cluster),
    ("ModifyDBCluster", db_cluster),
    ("DeleteDBCluster", db_cluster),
    ("StartDBCluster", db_cluster),
    ("StopDBCluster", db_cluster),
    ("CreateDBParameterGroup", db_parameter_group),
    ("ModifyDBParameterGroup", db_parameter_group),
    ("ResetDBParameterGroup", db_parameter_group),
    ("DeleteDBParameterGroup", db_parameter_group),
    ("CreateDBClusterParameterGroup", db_cluster_parameter_group),
    ("ModifyDBClusterParameterGroup", db_cluster_parameter_group),
    ("ResetDBClusterParameterGroup", db_cluster_parameter_group),
    ("DeleteDBClusterParameterGroup", db_cluster_parameter_group),
    ("CreateDBSubnetGroup", db_subnet_group),
    ("ModifyDBSubnetGroup", db_subnet_group),
    ("DeleteDBSubnetGroup", db_subnet_group),
    ("AddTagsToResource", rds_tagged),
    ("RemoveTagsFromResource", rds_tagged),
];

const ELASTICACHE: &[(&str, Extract)] = &[
    ("CreateReplicationGroup", replication_group),
    ("ModifyReplicationGroup", replication_group),
    ("DeleteReplicationGroup", replication_group),
    ("IncreaseReplicaCount", replication_group),
    ("DecreaseReplicaCount", replication_group),
    (
        "ModifyReplicationGroupShardConfiguration",
        replication_group,
    ),
    ("CreateCacheParameterGroup", cache_parameter_group),
    ("ModifyCacheParameterGroup", cache_parameter_group),
    ("ResetCacheParameterGroup", cache_parameter_group),
    ("DeleteCacheParameterGroup", cache_parameter_group),
    ("CreateCacheSubnetGroup", cache_subnet_group),
    ("ModifyCacheSubnetGroup", cache_subnet_group),
    ("DeleteCacheSubnetGroup", cache_subnet_group),
    ("AddTagsToResource", elasticache_tagged),
    ("RemoveTagsFromResource", elasticache_tagged),
];

const MQ: &[(&str, Extract)] = &[
    ("CreateBroker", broker_created),
    ("UpdateBroker", broker),
    ("DeleteBroker", broker),
    ("CreateTags", broker_tagged),
    ("DeleteTags", broker_tagged),
];

/// The parameters of one call.
struct Params<'a> {
    call: &'a str,
    request: &'a Value,
}

impl<'a> Params<'a> {
    /// A request parameter's value, its key matched without regard to case.
    fn get(&self, key: &str) -> Option<&'a Value> {
        field(self.request, key)
    }

    /// A request parameter that is a usable name.
    fn name(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str).filter(|n| usable(n))
    }

    fn required(&self, key: &'static str) -> Result<&'a str, Malformed> {
        self.name(key).ok_or_else(|| Malformed {
            call: self.call.to_owned(),
            parameter: key,
        })
    }

    /// A list of names (a lone string is a list of one); at least one is required.
    fn names(&self, key: &'static str) -> Result<Vec<&'a str>, Malformed> {
        let names: Vec<&str> = match self.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter(|n| usable(n))
                .collect(),
            Some(Value::String(one)) if usable(one) => vec![one.as_str()],
            _ => Vec::new(),
        };
        if names.is_empty() {
            return Err(Malformed {
                call: self.call.to_owned(),
                parameter: key,
            });
        }
        Ok(names)
    }
}

fn field<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    let object = object.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A name Plumb could have given: not empty, bounded, printable.
fn usable(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= NAME_CHARS && !name.chars().any(char::is_control)
}

/// An ARN's parts: `arn:{partition}:{service}:{region}:{account}:{resource}`.
fn arn_resource<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    let ok = parts.next() == Some("arn")
        && parts.next().is_some()
        && parts.next() == Some(service)
        && parts.next().is_some()
        && parts.next().is_some();
    parts.next().filter(|resource| ok && usable(resource))
}

// ECS: names or ARNs (`arn:aws:ecs:{region}:{account}:cluster/{name}`,
// `…:service/{cluster}/{name}`, `…:task-definition/{family}:{revision}`). A call that names
// no cluster acts on the cluster called `default`.

const DEFAULT_CLUSTER: &str = "default";

fn ecs_cluster_created(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    // CreateCluster without a name creates `default`.
    let name = p.name("clusterName").unwrap_or(DEFAULT_CLUSTER);
    Ok(vec![Target::named(ResourceKind::EcsCluster, name)])
}

fn ecs_cluster(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let cluster = cluster_name(p.required("cluster")?);
    Ok(cluster
        .map(|c| Target::named(ResourceKind::EcsCluster, c))
        .into_iter()
        .collect())
}

/// A cluster's name from its name or ARN.
fn cluster_name(cluster: &str) -> Option<&str> {
    if !cluster.starts_with("arn:") {
        return Some(cluster);
    }
    arn_resource(cluster, "ecs")?
        .strip_prefix("cluster/")
        .filter(|n| usable(n))
}

fn ecs_service_created(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let service = p.required("serviceName")?;
    let cluster = match p.name("cluster") {
        Some(c) => cluster_name(c),
        None => Some(DEFAULT_CLUSTER),
    };
    Ok(cluster
        .map(|cluster| in_cluster(cluster, service))
        .into_iter()
        .collect())
}

fn ecs_service(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let service = p.required("service")?;
    let cluster = || match p.name("cluster") {
        Some(c) => cluster_name(c),
        None => Some(DEFAULT_CLUSTER),
    };
    let found = if service.starts_with("arn:") {
        service_arn(service).and_then(|(in_arn, name)| Some((in_arn.or_else(cluster)?, name)))
    } else {
        cluster().map(|cluster| (cluster, service))
    };
    Ok(found
        .map(|(cluster, service)| in_cluster(cluster, service))
        .into_iter()
        .collect())
}

/// `…:service/{cluster}/{name}` (or the old `…:service/{name}`, which names no cluster).
fn service_arn(arn: &str) -> Option<(Option<&str>, &str)> {
    let path = arn_resource(arn, "ecs")?.strip_prefix("service/")?;
    match path.split_once('/') {
        Some((cluster, name)) if usable(cluster) && usable(name) => Some((Some(cluster), name)),
        Some(_) => None,
        None => usable(path).then_some((None, path)),
    }
}

fn in_cluster(cluster: &str, service: &str) -> Target {
    Target::Resource {
        id: ResourceId::new(ResourceKind::EcsService, service),
        within: Some(ResourceId::new(ResourceKind::EcsCluster, cluster)),
    }
}

fn task_family(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let family = p.required("family")?;
    Ok(vec![Target::named(ResourceKind::TaskDefinition, family)])
}

fn task_definition(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let revision = p.required("taskDefinition")?;
    Ok(family_of(revision).into_iter().collect())
}

fn task_definitions(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let revisions = p.names("taskDefinitions")?;
    Ok(revisions.into_iter().filter_map(family_of).collect())
}

/// `family`, `family:revision` or `…:task-definition/family:revision`.
fn family_of(revision: &str) -> Option<Target> {
    let revision = if revision.starts_with("arn:") {
        arn_resource(revision, "ecs")?.strip_prefix("task-definition/")?
    } else {
        revision
    };
    let family = revision.split(':').next().filter(|f| usable(f))?;
    Some(Target::named(ResourceKind::TaskDefinition, family))
}

fn ecs_tagged(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let arn = p.required("resourceArn")?;
    let Some(resource) = arn_resource(arn, "ecs") else {
        return Ok(Vec::new());
    };
    let found = if resource.starts_with("cluster/") {
        cluster_name(arn).map(|c| Target::named(ResourceKind::EcsCluster, c))
    } else if resource.starts_with("service/") {
        service_arn(arn).and_then(|(cluster, name)| Some(in_cluster(cluster?, name)))
    } else if resource.starts_with("task-definition/") {
        family_of(arn)
    } else {
        None
    };
    Ok(found.into_iter().collect())
}

// Application Auto Scaling: only ECS services' targets and policies are Plumb's.

fn ecs_namespace(p: &Params<'_>) -> bool {
    p.name("serviceNamespace") == Some("ecs")
}

fn scalable_target(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let resource_id = p.required("resourceId")?;
    if !ecs_namespace(p) {
        return Ok(Vec::new());
    }
    Ok(vec![Target::named(
        ResourceKind::ScalableTarget,
        resource_id,
    )])
}

fn scaling_policy(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let policy = p.required("policyName")?;
    let resource_id = p.required("resourceId")?;
    if !ecs_namespace(p) {
        return Ok(Vec::new());
    }
    Ok(vec![Target::Resource {
        id: ResourceId::new(ResourceKind::ScalingPolicy, policy),
        within: Some(ResourceId::new(ResourceKind::ScalableTarget, resource_id)),
    }])
}

// CloudWatch alarms: `arn:aws:cloudwatch:{region}:{account}:alarm:{name}`.

fn alarm(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let name = p.required("alarmName")?;
    Ok(vec![Target::named(ResourceKind::MetricAlarm, name)])
}

fn alarms(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let names = p.names("alarmNames")?;
    Ok(names
        .into_iter()
        .map(|n| Target::named(ResourceKind::MetricAlarm, n))
        .collect())
}

fn alarm_tagged(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let arn = p.required("resourceARN")?;
    let name = arn_resource(arn, "cloudwatch")
        .and_then(|r| r.strip_prefix("alarm:"))
        .filter(|n| usable(n));
    Ok(name
        .map(|n| Target::named(ResourceKind::MetricAlarm, n))
        .into_iter()
        .collect())
}

// CloudWatch Logs: `arn:aws:logs:{region}:{account}:log-group:{name}` (or `…:{name}:*`).

fn log_group(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let name = match p.name("logGroupName") {
        Some(name) => name,
        None => p.required("logGroupIdentifier")?,
    };
    let name = if name.starts_with("arn:") {
        match log_group_of(name) {
            Some(name) => name,
            None => return Ok(Vec::new()),
        }
    } else {
        name
    };
    Ok(vec![Target::named(ResourceKind::LogGroup, name)])
}

fn log_group_tagged(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let arn = p.required("resourceArn")?;
    Ok(log_group_of(arn)
        .map(|n| Target::named(ResourceKind::LogGroup, n))
        .into_iter()
        .collect())
}

fn log_group_of(arn: &str) -> Option<&str> {
    let name = arn_resource(arn, "logs")?.strip_prefix("log-group:")?;
    let name = name.strip_suffix(":*").unwrap_or(name);
    usable(name).then_some(name)
}

// RDS: identifiers in lower case; tags by ARN
// (`arn:aws:rds:{region}:{account}:{db|cluster|pg|cluster-pg|subgrp}:{name}`).

fn lower(kind: ResourceKind, name: &str) -> Target {
    Target::named(kind, &name.to_ascii_lowercase())
}

/// The resource a call names and, when it renames it, its new name.
fn renamed(
    p: &Params<'_>,
    kind: ResourceKind,
    key: &'static str,
    new_key: &str,
) -> Result<Vec<Target>, Malformed> {
    let mut found = vec![lower(kind, p.required(key)?)];
    found.extend(p.name(new_key).map(|n| lower(kind, n)));
    Ok(found)
}

fn db_instance(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    renamed(
        p,
        ResourceKind::DbInstance,
        "dBInstanceIdentifier",
        "newDBInstanceIdentifier",
    )
}

fn db_cluster(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    renamed(
        p,
        ResourceKind::DbCluster,
        "dBClusterIdentifier",
        "newDBClusterIdentifier",
    )
}

fn db_parameter_group(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let name = p.required("dBParameterGroupName")?;
    Ok(vec![lower(ResourceKind::DbParameterGroup, name)])
}

fn db_cluster_parameter_group(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let name = p.required("dBClusterParameterGroupName")?;
    Ok(vec![lower(ResourceKind::DbClusterParameterGroup, name)])
}

fn db_subnet_group(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let name = p.required("dBSubnetGroupName")?;
    Ok(vec![lower(ResourceKind::DbSubnetGroup, name)])
}

fn rds_tagged(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let arn = p.required("resourceName")?;
    let found = arn_resource(arn, "rds")
        .and_then(|r| r.split_once(':'))
        .and_then(|(type_, name)| {
            let kind = match type_ {
                "db" => ResourceKind::DbInstance,
                "cluster" => ResourceKind::DbCluster,
                "pg" => ResourceKind::DbParameterGroup,
                "cluster-pg" => ResourceKind::DbClusterParameterGroup,
                "subgrp" => ResourceKind::DbSubnetGroup,
                _ => return None,
            };
            usable(name).then(|| lower(kind, name))
        });
    Ok(found.into_iter().collect())
}

// ElastiCache: identifiers in lower case; tags by ARN
// (`arn:aws:elasticache:{region}:{account}:{replicationgroup|parametergroup|subnetgroup}:{name}`).

fn replication_group(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let id = p.required("replicationGroupId")?;
    Ok(vec![lower(ResourceKind::ReplicationGroup, id)])
}

fn cache_parameter_group(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let name = p.required("cacheParameterGroupName")?;
    Ok(vec![lower(ResourceKind::CacheParameterGroup, name)])
}

fn cache_subnet_group(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let name = p.required("cacheSubnetGroupName")?;
    Ok(vec![lower(ResourceKind::CacheSubnetGroup, name)])
}

fn elasticache_tagged(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let arn = p.required("resourceName")?;
    let found = arn_resource(arn, "elasticache")
        .and_then(|r| r.split_once(':'))
        .and_then(|(type_, name)| {
            let kind = match type_ {
                "replicationgroup" => ResourceKind::ReplicationGroup,
                "parametergroup" => ResourceKind::CacheParameterGroup,
                "subnetgroup" => ResourceKind::CacheSubnetGroup,
                _ => return None,
            };
            usable(name).then(|| lower(kind, name))
        });
    Ok(found.into_iter().collect())
}

// Amazon MQ: brokers by id after they are created
// (`arn:aws:mq:{region}:{account}:broker:{name}:{id}`).

fn broker_created(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let name = p.required("brokerName")?;
    Ok(vec![Target::named(ResourceKind::MqBroker, name)])
}

fn broker(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let id = p.required("brokerId")?;
    Ok(vec![Target::Broker(id.to_owned())])
}

fn broker_tagged(p: &Params<'_>) -> Result<Vec<Target>, Malformed> {
    let arn = p.required("resourceArn")?;
    let name = arn_resource(arn, "mq")
        .and_then(|r| r.strip_prefix("broker:"))
        .and_then(|r| r.split(':').next())
        .filter(|n| usable(n));
    Ok(name
        .map(|n| Target::named(ResourceKind::MqBroker, n))
        .into_iter()
        .collect())
}

#[cfg(test)]
#[path = "tests/targets.rs"]
mod tests;
