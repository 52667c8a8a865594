//! DB instances: the RDS for PostgreSQL instance `{env}-postgres`, or the instances of the
//! Aurora cluster `{env}-postgres-{n}`.

use aws_sdk_rds::types::{DbInstance, Filter};
use serde_json::Value;

use super::cluster::MEMBERS;
use super::{owner, rds_tags, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::aws::secrets;
use crate::aws::snapshots::final_snapshot;
use crate::engine::values::string_set;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

const NOT_FOUND: &[&str] = &["DBInstanceNotFound", "DBInstanceNotFoundFault"];

/// Fields ModifyDBInstance changes at once whatever `ApplyImmediately` says.
const IMMEDIATE: &[&str] = &[
    "maxAllocatedStorage",
    "backupRetentionPeriod",
    "preferredBackupWindow",
    "preferredMaintenanceWindow",
    "deletionProtection",
    "performanceInsightsEnabled",
    "vpcSecurityGroupIds",
    "dbParameterGroupName",
];

/// Fields that wait for the maintenance window unless applied immediately.
const DEFERRED: &[&str] = &[
    "dbInstanceClass",
    "engineVersion",
    "allocatedStorage",
    "storageType",
    "multiAZ",
];

impl_adapter!(
    Instance,
    after: [ResourceKind::DbCluster],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// `{env}-postgres`, the graph's instances, and the members of the Aurora cluster as
/// observed (so a reader the spec dropped is found): one DescribeDBInstances.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, seen: &ObservedState) -> Result<Vec<Observed>> {
    let mut names = graph.names(ResourceKind::DbInstance);
    names.insert(names::postgres(cx.env));
    let members = seen
        .values()
        .filter(|o| o.id.kind == ResourceKind::DbCluster)
        .filter_map(|o| o.fields.get(MEMBERS)?.as_array().cloned())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned));
    names.extend(members);
    let filter = Filter::builder()
        .name("db-instance-id")
        .set_values(Some(names.into_iter().collect()))
        .build();
    let result = cx
        .clients
        .rds
        .describe_db_instances()
        .filters(filter)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .op(SERVICE, "DescribeDBInstances");
    let found: Vec<DbInstance> = absent_on(result, NOT_FOUND)?.unwrap_or_default();
    Ok(found.iter().map(|i| observed(cx.env, i)).collect())
}

fn observed(env: &str, i: &DbInstance) -> Observed {
    let mut f = Out::default();
    f.opt("engine", i.engine());
    f.opt("engineVersion", i.engine_version());
    f.opt("dbInstanceClass", i.db_instance_class());
    f.opt("dbClusterIdentifier", i.db_cluster_identifier());
    if i.db_cluster_identifier().is_none() {
        // An Aurora instance's storage, backups and protection are its cluster's.
        f.opt("allocatedStorage", i.allocated_storage());
        f.opt("maxAllocatedStorage", i.max_allocated_storage());
        f.opt("storageType", i.storage_type());
        f.opt("multiAZ", i.multi_az());
        f.opt("backupRetentionPeriod", i.backup_retention_period());
        f.opt("preferredBackupWindow", i.preferred_backup_window());
        f.opt("deletionProtection", i.deletion_protection());
        f.opt("storageEncrypted", i.storage_encrypted());
        let groups = i
            .vpc_security_groups()
            .iter()
            .filter(|g| g.status() != Some("revoking"))
            .filter_map(|g| g.vpc_security_group_id());
        f.set("vpcSecurityGroupIds", string_set(groups));
    }
    f.opt(
        "preferredMaintenanceWindow",
        i.preferred_maintenance_window(),
    );
    f.opt(
        "performanceInsightsEnabled",
        i.performance_insights_enabled(),
    );
    let parameter_group = i
        .db_parameter_groups()
        .first()
        .and_then(|g| g.db_parameter_group_name());
    f.opt("dbParameterGroupName", parameter_group);
    let subnet_group = i.db_subnet_group().and_then(|g| g.db_subnet_group_name());
    f.opt("dbSubnetGroupName", subnet_group);
    f.opt("dbName", i.db_name());
    f.opt("masterUsername", i.master_username());
    let name = i.db_instance_identifier().unwrap_or_default();
    let id = ResourceId::new(ResourceKind::DbInstance, name);
    let mut o = Observed::new(id, i.db_instance_arn().map(str::to_owned), f.0);
    o.status = i.db_instance_status().map(str::to_owned);
    o.owner = owner(env, i.tag_list());
    if let Some(cluster) = i.db_cluster_identifier() {
        o.depends_on
            .push(ResourceId::new(ResourceKind::DbCluster, cluster));
    } else {
        if let Some(group) = subnet_group {
            o.depends_on
                .push(ResourceId::new(ResourceKind::DbSubnetGroup, group));
        }
        if let Some(group) = parameter_group {
            o.depends_on
                .push(ResourceId::new(ResourceKind::DbParameterGroup, group));
        }
    }
    if let Some(p) = i.pending_modified_values() {
        let mut pending = Out::default();
        pending.opt("dbInstanceClass", p.db_instance_class());
        pending.opt("engineVersion", p.engine_version());
        pending.opt("allocatedStorage", p.allocated_storage());
        pending.opt("storageType", p.storage_type());
        pending.opt("multiAZ", p.multi_az());
        pending.opt("backupRetentionPeriod", p.backup_retention_period());
        o.pending = pending.0;
    }
    o
}

async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let name = &w.desired.id.name;
    let mut request = cx
        .clients
        .rds
        .create_db_instance()
        .db_instance_identifier(name)
        .db_instance_class(view.req_str("dbInstanceClass")?)
        .engine(view.req_str("engine")?)
        .set_enable_performance_insights(view.bool("performanceInsightsEnabled")?)
        .set_preferred_maintenance_window(
            view.str("preferredMaintenanceWindow")?.map(str::to_owned),
        )
        .set_publicly_accessible(view.bool("publiclyAccessible")?)
        .set_tags(Some(rds_tags(&w.desired.tags)));
    match view.str("dbClusterIdentifier")? {
        Some(cluster) => request = request.db_cluster_identifier(cluster),
        None => {
            request = request
                .set_engine_version(view.str("engineVersion")?.map(str::to_owned))
                .set_allocated_storage(view.i32("allocatedStorage")?)
                .set_max_allocated_storage(view.i32("maxAllocatedStorage")?)
                .set_storage_type(view.str("storageType")?.map(str::to_owned))
                .set_multi_az(view.bool("multiAZ")?)
                .set_backup_retention_period(view.i32("backupRetentionPeriod")?)
                .set_preferred_backup_window(view.str("preferredBackupWindow")?.map(str::to_owned))
                .set_deletion_protection(view.bool("deletionProtection")?)
                .set_storage_encrypted(view.bool("storageEncrypted")?)
                .set_vpc_security_group_ids(view.strings("vpcSecurityGroupIds")?)
                .set_db_parameter_group_name(view.str("dbParameterGroupName")?.map(str::to_owned))
                .set_db_subnet_group_name(view.str("dbSubnetGroupName")?.map(str::to_owned))
                .set_db_name(view.str("dbName")?.map(str::to_owned))
                .set_master_username(view.str("masterUsername")?.map(str::to_owned))
                .set_copy_tags_to_snapshot(view.bool("copyTagsToSnapshot")?);
            request = match view.str("masterUserSecretArn")? {
                Some(arn) => {
                    request.master_user_password(secrets::read(cx, arn, "password").await?)
                }
                None => request.manage_master_user_password(true),
            };
        }
    }
    let out = request.send().await.op(SERVICE, "CreateDBInstance")?;
    Ok(out
        .db_instance()
        .map_or_else(|| view.observed(None), |i| observed(cx.env, i)))
}

/// ModifyDBInstance: what RDS changes at once in one call, what it would hold for the
/// maintenance window in another, with `ApplyImmediately` from the policy.
async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let mut last = None;
    for (fields, immediately) in [(IMMEDIATE, true), (DEFERRED, w.apply_immediately)] {
        let changed: Vec<&str> = fields.iter().copied().filter(|f| w.changed(f)).collect();
        if changed.is_empty() {
            continue;
        }
        let mut request = cx
            .clients
            .rds
            .modify_db_instance()
            .db_instance_identifier(&w.desired.id.name)
            .apply_immediately(immediately);
        for field in changed {
            request = match field {
                "maxAllocatedStorage" => {
                    request.set_max_allocated_storage(view.i32("maxAllocatedStorage")?)
                }
                "backupRetentionPeriod" => {
                    request.set_backup_retention_period(view.i32("backupRetentionPeriod")?)
                }
                "preferredBackupWindow" => request.set_preferred_backup_window(
                    view.str("preferredBackupWindow")?.map(str::to_owned),
                ),
                "preferredMaintenanceWindow" => request.set_preferred_maintenance_window(
                    view.str("preferredMaintenanceWindow")?.map(str::to_owned),
                ),
                "deletionProtection" => {
                    request.set_deletion_protection(view.bool("deletionProtection")?)
                }
                "performanceInsightsEnabled" => request
                    .set_enable_performance_insights(view.bool("performanceInsightsEnabled")?),
                "vpcSecurityGroupIds" => {
                    request.set_vpc_security_group_ids(view.strings("vpcSecurityGroupIds")?)
                }
                "dbParameterGroupName" => request.set_db_parameter_group_name(
                    view.str("dbParameterGroupName")?.map(str::to_owned),
                ),
                "dbInstanceClass" => {
                    request.set_db_instance_class(view.str("dbInstanceClass")?.map(str::to_owned))
                }
                "engineVersion" => {
                    request.set_engine_version(view.str("engineVersion")?.map(str::to_owned))
                }
                "allocatedStorage" => request.set_allocated_storage(view.i32("allocatedStorage")?),
                "storageType" => {
                    request.set_storage_type(view.str("storageType")?.map(str::to_owned))
                }
                "multiAZ" => request.set_multi_az(view.bool("multiAZ")?),
                _ => request,
            };
        }
        let out = request.send().await.op(SERVICE, "ModifyDBInstance")?;
        last = out.db_instance().map(|i| observed(cx.env, i));
    }
    Ok(last.unwrap_or_else(|| view.observed(w.current.and_then(|c| c.arn.clone()))))
}

/// A standalone instance: deletion protection off only now, then deleted with a final
/// snapshot. An Aurora instance: deleted (its data is the cluster's).
async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let rds = &cx.clients.rds;
    let name = &current.id.name;
    if current.fields.contains_key("dbClusterIdentifier") {
        let result = rds
            .delete_db_instance()
            .db_instance_identifier(name)
            .send()
            .await
            .op(SERVICE, "DeleteDBInstance");
        return absent_on(result, NOT_FOUND).map(|_| None);
    }
    if current.fields.get("deletionProtection") == Some(&Value::Bool(true)) {
        let result = rds
            .modify_db_instance()
            .db_instance_identifier(name)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .op(SERVICE, "ModifyDBInstance");
        if absent_on(result, NOT_FOUND)?.is_none() {
            return Ok(None);
        }
    }
    let snapshot = final_snapshot(name);
    let result = rds
        .delete_db_instance()
        .db_instance_identifier(name)
        .final_db_snapshot_identifier(&snapshot)
        .delete_automated_backups(false)
        .send()
        .await
        .op(SERVICE, "DeleteDBInstance");
    Ok(absent_on(result, NOT_FOUND)?.map(|_| snapshot))
}
