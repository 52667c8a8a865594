//! The `redis` component: an ElastiCache for Redis replication group `{env}-redis` (a
//! primary and `replicas` read replicas, cluster mode off), a cache subnet group
//! `{env}-redis` from `network.subnets`, and with `redis.parameters` a cache parameter group
//! `{env}-redis` of the engine's family.
//!
//! The AUTH token is never a field: the adapter reads the secret whose ARN is
//! `authTokenSecretArn` when it creates the group. The subnet group, the parameter family
//! and the description are set at creation only.

use serde_json::json;

use super::{Builder, Cx};
use crate::engine::kinds::PARAMETERS;
use crate::engine::resource::{Desired, ResourceId, ResourceKind};
use crate::engine::values::string_set;
use crate::names;
use crate::spec::Redis;

/// The engine of the replication group.
pub const ENGINE: &str = "redis";

pub(super) fn resources(cx: &Cx<'_>, redis: &Redis) -> Vec<Desired> {
    let name = names::redis(cx.env);
    let mut out = Vec::new();
    let mut needs = Vec::new();
    let subnets = cx.network.filter(|n| !n.subnets.is_empty());
    if let Some(network) = subnets {
        let id = ResourceId::new(ResourceKind::CacheSubnetGroup, &name);
        let mut r = cx.resource(id.clone(), vec![]);
        let subnets = string_set(network.subnets.iter().map(String::as_str));
        r.set("subnetIds", subnets, "network.subnets");
        r.create_only("description", json!(format!("{} (Plumb)", cx.env)));
        out.push(r.build());
        needs.push(id);
    }
    if !redis.parameters.is_empty() {
        let id = ResourceId::new(ResourceKind::CacheParameterGroup, &name);
        let mut r = cx.resource(id.clone(), vec![]);
        r.set_compound(PARAMETERS, json!(redis.parameters), "redis.parameters");
        r.create_only("family", json!(family(&redis.engine_version)));
        r.create_only("description", json!(format!("{} (Plumb)", cx.env)));
        out.push(r.build());
        needs.push(id);
    }
    let id = ResourceId::new(ResourceKind::ReplicationGroup, &name);
    let mut r = cx.resource(id, needs);
    replication_group(cx, &mut r, redis);
    if subnets.is_some() {
        r.create_only("cacheSubnetGroupName", json!(name));
    }
    out.push(r.build());
    out
}

fn replication_group(cx: &Cx<'_>, r: &mut Builder<'_>, redis: &Redis) {
    let at = |field: &str| format!("redis.{field}");
    r.set("engine", json!(ENGINE), "redis");
    let version = json!(redis.engine_version);
    r.set("engineVersion", version, &at("engineVersion"));
    r.set("cacheNodeType", json!(redis.node_type), &at("nodeType"));
    let clusters = json!(redis.replicas.saturating_add(1));
    r.set("numCacheClusters", clusters, &at("replicas"));
    let failover = json!(redis.automatic_failover);
    r.set(
        "automaticFailoverEnabled",
        failover,
        &at("automaticFailover"),
    );
    r.set("multiAZEnabled", json!(redis.multi_az), &at("multiAz"));
    let at_rest = json!(redis.at_rest_encryption);
    r.set("atRestEncryptionEnabled", at_rest, &at("atRestEncryption"));
    let transit = json!(redis.transit_encryption);
    r.set(
        "transitEncryptionEnabled",
        transit,
        &at("transitEncryption"),
    );
    let days = json!(redis.snapshot_retention_days);
    r.set("snapshotRetentionLimit", days, &at("snapshotRetentionDays"));
    if let Some(window) = &redis.snapshot_window {
        r.set("snapshotWindow", json!(window), &at("snapshotWindow"));
    }
    if let Some(window) = &redis.maintenance_window {
        r.set(
            "preferredMaintenanceWindow",
            json!(window),
            &at("maintenanceWindow"),
        );
    }
    let groups = match &redis.security_groups {
        Some(groups) => Some((groups, at("securityGroups"))),
        None => cx
            .network
            .filter(|n| !n.security_groups.is_empty())
            .map(|n| (&n.security_groups, "network.securityGroups".to_owned())),
    };
    if let Some((groups, path)) = groups {
        let set = string_set(groups.iter().map(String::as_str));
        r.set("securityGroupIds", set, &path);
    }
    if !redis.parameters.is_empty() {
        let group = json!(names::redis(cx.env));
        r.set("cacheParameterGroupName", group, &at("parameters"));
    }
    if let Some(arn) = &redis.auth_token_secret_arn {
        r.create_only("authTokenSecretArn", json!(arn));
    }
    r.create_only("description", json!(format!("{} (Plumb)", cx.env)));
}

/// `redis7`, `redis6.x`, `redis5.0`: the parameter family of the engine version.
pub fn family(engine_version: &str) -> String {
    let mut parts = engine_version.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or("0");
    match major.parse::<u32>() {
        Ok(n) if n >= 7 => format!("redis{n}"),
        Ok(6) => "redis6.x".to_owned(),
        _ => format!("redis{major}.{minor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::family;

    #[test]
    fn the_parameter_family_follows_the_engine_version() {
        assert_eq!(family("7.1"), "redis7");
        assert_eq!(family("7.0"), "redis7");
        assert_eq!(family("6.2"), "redis6.x");
        assert_eq!(family("5.0"), "redis5.0");
    }
}
