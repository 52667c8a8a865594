//! The Redis replication group `{env}-redis`: a primary and its read replicas, cluster mode
//! off. ElastiCache reports the engine version, maintenance window, security groups, subnet
//! group and parameter group per node (cache cluster), not per group: they are read from the
//! primary's cache cluster.

use aws_sdk_elasticache::types::{CacheCluster, ReplicationGroup as Group};
use serde_json::Value;

use super::{cache_tags, list_tags, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::aws::snapshots::final_snapshot;
use crate::aws::{secrets, tags};
use crate::engine::values::string_set;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

const NOT_FOUND: &[&str] = &["ReplicationGroupNotFoundFault"];
const CLUSTER_NOT_FOUND: &[&str] = &["CacheClusterNotFound", "CacheClusterNotFoundFault"];
/// The member of the secret holding the AUTH token (else the whole secret string).
const TOKEN_KEY: &str = "token";
/// Nodes: the primary and its replicas.
const NODES: &str = "numCacheClusters";

/// Fields ModifyReplicationGroup changes on the nodes: with `ApplyImmediately=false` they
/// wait for the maintenance window.
const DEFERRED: &[&str] = &["cacheNodeType", "engineVersion"];
/// Fields ModifyReplicationGroup changes for the group, at once.
const GROUP: &[&str] = &[
    "automaticFailoverEnabled",
    "multiAZEnabled",
    "snapshotRetentionLimit",
    "snapshotWindow",
    "preferredMaintenanceWindow",
    "securityGroupIds",
    "cacheParameterGroupName",
];

impl_adapter!(
    ReplicationGroup,
    after: [],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// `{env}-redis` (and any other name the graph gives): DescribeReplicationGroups, then
/// DescribeCacheClusters of its primary.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let mut names = graph.names(ResourceKind::ReplicationGroup);
    names.insert(names::redis(cx.env));
    let mut found = Vec::new();
    for name in &names {
        let result = cx
            .clients
            .elasticache
            .describe_replication_groups()
            .replication_group_id(name)
            .send()
            .await
            .op(SERVICE, "DescribeReplicationGroups");
        let Some(out) = absent_on(result, NOT_FOUND)? else {
            continue;
        };
        for group in out.replication_groups() {
            let node = match primary(group) {
                Some(id) => node(cx, id).await?,
                None => None,
            };
            found.push(observed(group, node.as_ref()));
        }
    }
    tags::owned(cx, found, &names, |arn| list_tags(cx, arn)).await
}

/// The primary's cache cluster id (else the first member's).
fn primary(g: &Group) -> Option<&str> {
    g.node_groups()
        .iter()
        .flat_map(|n| n.node_group_members())
        .find(|m| m.current_role() == Some("primary"))
        .and_then(|m| m.cache_cluster_id())
        .or_else(|| g.member_clusters().first().map(String::as_str))
}

async fn node(cx: Cx<'_>, id: &str) -> Result<Option<CacheCluster>> {
    let result = cx
        .clients
        .elasticache
        .describe_cache_clusters()
        .cache_cluster_id(id)
        .send()
        .await
        .op(SERVICE, "DescribeCacheClusters");
    Ok(absent_on(result, CLUSTER_NOT_FOUND)?.and_then(|out| out.cache_clusters().first().cloned()))
}

fn observed(g: &Group, node: Option<&CacheCluster>) -> Observed {
    let mut f = Out::default();
    f.opt("engine", g.engine());
    f.opt("cacheNodeType", g.cache_node_type());
    let members = g.member_clusters().len();
    if members > 0 {
        f.set(NODES, members);
    }
    // The status words (`enabled`, `enabling`, …); the kind's rules read them as booleans.
    f.opt(
        "automaticFailoverEnabled",
        g.automatic_failover().map(|s| s.as_str()),
    );
    f.opt("multiAZEnabled", g.multi_az().map(|s| s.as_str()));
    f.opt("atRestEncryptionEnabled", g.at_rest_encryption_enabled());
    f.opt("transitEncryptionEnabled", g.transit_encryption_enabled());
    f.opt("snapshotRetentionLimit", g.snapshot_retention_limit());
    f.opt("snapshotWindow", g.snapshot_window());
    f.opt("description", g.description());
    let name = g.replication_group_id().unwrap_or_default();
    let id = ResourceId::new(ResourceKind::ReplicationGroup, name);
    let mut depends_on = Vec::new();
    let mut pending = Out::default();
    if let Some(c) = node {
        f.opt("engineVersion", c.engine_version());
        f.opt(
            "preferredMaintenanceWindow",
            c.preferred_maintenance_window(),
        );
        let groups = c
            .security_groups()
            .iter()
            .filter(|s| s.status() != Some("revoking"))
            .filter_map(|s| s.security_group_id());
        f.set("securityGroupIds", string_set(groups));
        let parameters = c
            .cache_parameter_group()
            .and_then(|p| p.cache_parameter_group_name());
        f.opt("cacheParameterGroupName", parameters);
        f.opt("cacheSubnetGroupName", c.cache_subnet_group_name());
        if let Some(group) = c.cache_subnet_group_name() {
            depends_on.push(ResourceId::new(ResourceKind::CacheSubnetGroup, group));
        }
        if let Some(group) = parameters.filter(|p| !p.starts_with("default.")) {
            depends_on.push(ResourceId::new(ResourceKind::CacheParameterGroup, group));
        }
        if let Some(p) = c.pending_modified_values() {
            pending.opt("cacheNodeType", p.cache_node_type());
            pending.opt("engineVersion", p.engine_version());
        }
    }
    let mut o = Observed::new(id, g.arn().map(str::to_owned), f.0);
    o.status = g.status().map(str::to_owned);
    o.depends_on = depends_on;
    o.pending = pending.0;
    o
}

async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let mut request = cx
        .clients
        .elasticache
        .create_replication_group()
        .replication_group_id(&w.desired.id.name)
        .replication_group_description(view.str("description")?.unwrap_or("Plumb"))
        .engine(view.req_str("engine")?)
        .set_engine_version(view.str("engineVersion")?.map(str::to_owned))
        .cache_node_type(view.req_str("cacheNodeType")?)
        .set_num_cache_clusters(view.i32(NODES)?)
        .set_automatic_failover_enabled(view.bool("automaticFailoverEnabled")?)
        .set_multi_az_enabled(view.bool("multiAZEnabled")?)
        .set_at_rest_encryption_enabled(view.bool("atRestEncryptionEnabled")?)
        .set_transit_encryption_enabled(view.bool("transitEncryptionEnabled")?)
        .set_snapshot_retention_limit(view.i32("snapshotRetentionLimit")?)
        .set_snapshot_window(view.str("snapshotWindow")?.map(str::to_owned))
        .set_preferred_maintenance_window(
            view.str("preferredMaintenanceWindow")?.map(str::to_owned),
        )
        .set_security_group_ids(view.strings("securityGroupIds")?)
        .set_cache_parameter_group_name(view.str("cacheParameterGroupName")?.map(str::to_owned))
        .set_cache_subnet_group_name(view.str("cacheSubnetGroupName")?.map(str::to_owned))
        .set_tags(Some(cache_tags(&w.desired.tags)));
    if let Some(arn) = view.str("authTokenSecretArn")? {
        request = request.auth_token(secrets::read(cx, arn, TOKEN_KEY).await?);
    }
    let out = request.send().await.op(SERVICE, "CreateReplicationGroup")?;
    let arn = out.replication_group().and_then(|g| g.arn());
    let mut o = view.observed(arn.map(str::to_owned));
    o.status = out
        .replication_group()
        .and_then(|g| g.status())
        .map(str::to_owned);
    Ok(o)
}

/// One ModifyReplicationGroup for the group's settings and its nodes' (these with
/// `ApplyImmediately` from the policy); a replica count change goes alone
/// (Increase/DecreaseReplicaCount), since ElastiCache refuses one while the group modifies:
/// it waits for the next sweep when both changed.
async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let name = &w.desired.id.name;
    let arn = w.current.and_then(|c| c.arn.clone());
    if w.any_changed(GROUP) || w.any_changed(DEFERRED) {
        let immediately = !w.any_changed(DEFERRED) || w.apply_immediately;
        let mut request = cx
            .clients
            .elasticache
            .modify_replication_group()
            .replication_group_id(name)
            .apply_immediately(immediately);
        for field in GROUP.iter().chain(DEFERRED).filter(|f| w.changed(f)) {
            request = match *field {
                "automaticFailoverEnabled" => {
                    request.set_automatic_failover_enabled(view.bool("automaticFailoverEnabled")?)
                }
                "multiAZEnabled" => request.set_multi_az_enabled(view.bool("multiAZEnabled")?),
                "snapshotRetentionLimit" => {
                    request.set_snapshot_retention_limit(view.i32("snapshotRetentionLimit")?)
                }
                "snapshotWindow" => {
                    request.set_snapshot_window(view.str("snapshotWindow")?.map(str::to_owned))
                }
                "preferredMaintenanceWindow" => request.set_preferred_maintenance_window(
                    view.str("preferredMaintenanceWindow")?.map(str::to_owned),
                ),
                "securityGroupIds" => {
                    request.set_security_group_ids(view.strings("securityGroupIds")?)
                }
                "cacheParameterGroupName" => request.set_cache_parameter_group_name(
                    view.str("cacheParameterGroupName")?.map(str::to_owned),
                ),
                "cacheNodeType" => {
                    request.set_cache_node_type(view.str("cacheNodeType")?.map(str::to_owned))
                }
                "engineVersion" => {
                    request.set_engine_version(view.str("engineVersion")?.map(str::to_owned))
                }
                _ => request,
            };
        }
        request.send().await.op(SERVICE, "ModifyReplicationGroup")?;
        return Ok(view.observed(arn));
    }
    if w.changed(NODES) {
        let want = view.i32(NODES)?.ok_or_else(|| view.error(NODES))?;
        let have = w
            .current
            .and_then(|c| c.fields.get(NODES))
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let replicas = want.saturating_sub(1);
        let elasticache = &cx.clients.elasticache;
        if i64::from(want) > have {
            elasticache
                .increase_replica_count()
                .replication_group_id(name)
                .new_replica_count(replicas)
                .apply_immediately(true)
                .send()
                .await
                .op(SERVICE, "IncreaseReplicaCount")?;
        } else {
            elasticache
                .decrease_replica_count()
                .replication_group_id(name)
                .new_replica_count(replicas)
                .apply_immediately(true)
                .send()
                .await
                .op(SERVICE, "DecreaseReplicaCount")?;
        }
    }
    Ok(view.observed(arn))
}

/// Deleted with a final snapshot.
async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let snapshot = final_snapshot(&current.id.name);
    let result = cx
        .clients
        .elasticache
        .delete_replication_group()
        .replication_group_id(&current.id.name)
        .final_snapshot_identifier(&snapshot)
        .send()
        .await
        .op(SERVICE, "DeleteReplicationGroup");
    Ok(absent_on(result, NOT_FOUND)?.map(|_| snapshot))
}
