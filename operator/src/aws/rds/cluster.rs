//! The Aurora PostgreSQL cluster `{env}-postgres` with Serverless v2 scaling. Its instances
//! are [`super::instance`]'s.

use aws_sdk_rds::types::{DbCluster, Filter, ServerlessV2ScalingConfiguration};
use serde_json::json;

use super::{owner, rds_tags, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::aws::secrets;
use crate::aws::snapshots::final_snapshot;
use crate::engine::values::{canonical_f64, string_set};
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

const NOT_FOUND: &[&str] = &["DBClusterNotFoundFault", "DBClusterNotFound"];
const SCALING: &str = "serverlessV2ScalingConfiguration";
/// Observed only: the instances of the cluster, for the instance adapter to look up.
pub(crate) const MEMBERS: &str = "dbClusterMembers";

impl_adapter!(
    Cluster,
    after: [],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// `{env}-postgres` and any other cluster the graph names: one DescribeDBClusters.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let mut names = graph.names(ResourceKind::DbCluster);
    names.insert(names::postgres(cx.env));
    let filter = Filter::builder()
        .name("db-cluster-id")
        .set_values(Some(names.into_iter().collect()))
        .build();
    let result = cx
        .clients
        .rds
        .describe_db_clusters()
        .filters(filter)
        .send()
        .await
        .op(SERVICE, "DescribeDBClusters");
    let Some(out) = absent_on(result, NOT_FOUND)? else {
        return Ok(Vec::new());
    };
    Ok(out
        .db_clusters()
        .iter()
        .map(|c| observed(cx.env, c))
        .collect())
}

fn observed(env: &str, c: &DbCluster) -> Observed {
    let mut f = Out::default();
    f.opt("engine", c.engine());
    f.opt("engineVersion", c.engine_version());
    if let Some(s) = c.serverless_v2_scaling_configuration() {
        let scaling = json!({
            "minCapacity": s.min_capacity().map(canonical_f64),
            "maxCapacity": s.max_capacity().map(canonical_f64),
        });
        f.set(SCALING, scaling);
    }
    f.opt("backupRetentionPeriod", c.backup_retention_period());
    f.opt("preferredBackupWindow", c.preferred_backup_window());
    f.opt(
        "preferredMaintenanceWindow",
        c.preferred_maintenance_window(),
    );
    f.opt("deletionProtection", c.deletion_protection());
    f.opt("storageEncrypted", c.storage_encrypted());
    let groups = c
        .vpc_security_groups()
        .iter()
        .filter(|g| g.status() != Some("revoking"))
        .filter_map(|g| g.vpc_security_group_id());
    f.set("vpcSecurityGroupIds", string_set(groups));
    f.opt(
        "dbClusterParameterGroupName",
        c.db_cluster_parameter_group(),
    );
    f.opt("dbSubnetGroupName", c.db_subnet_group());
    f.opt("databaseName", c.database_name());
    f.opt("masterUsername", c.master_username());
    let members = c
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier());
    f.set(MEMBERS, string_set(members));
    let name = c.db_cluster_identifier().unwrap_or_default();
    let id = ResourceId::new(ResourceKind::DbCluster, name);
    let mut o = Observed::new(id, c.db_cluster_arn().map(str::to_owned), f.0);
    o.status = c.status().map(str::to_owned);
    o.owner = owner(env, c.tag_list());
    if let Some(group) = c.db_subnet_group() {
        o.depends_on
            .push(ResourceId::new(ResourceKind::DbSubnetGroup, group));
    }
    if let Some(group) = c.db_cluster_parameter_group() {
        o.depends_on.push(ResourceId::new(
            ResourceKind::DbClusterParameterGroup,
            group,
        ));
    }
    if let Some(p) = c.pending_modified_values() {
        let mut pending = Out::default();
        pending.opt("engineVersion", p.engine_version());
        pending.opt("backupRetentionPeriod", p.backup_retention_period());
        o.pending = pending.0;
    }
    o
}

fn scaling(view: &View<'_>) -> Option<ServerlessV2ScalingConfiguration> {
    let min = view.member(SCALING, "minCapacity")?.as_f64();
    let max = view.member(SCALING, "maxCapacity")?.as_f64();
    Some(
        ServerlessV2ScalingConfiguration::builder()
            .set_min_capacity(min)
            .set_max_capacity(max)
            .build(),
    )
}

async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let mut request = cx
        .clients
        .rds
        .create_db_cluster()
        .db_cluster_identifier(&w.desired.id.name)
        .engine(view.req_str("engine")?)
        .set_engine_version(view.str("engineVersion")?.map(str::to_owned))
        .set_serverless_v2_scaling_configuration(scaling(&view))
        .set_backup_retention_period(view.i32("backupRetentionPeriod")?)
        .set_preferred_backup_window(view.str("preferredBackupWindow")?.map(str::to_owned))
        .set_preferred_maintenance_window(
            view.str("preferredMaintenanceWindow")?.map(str::to_owned),
        )
        .set_deletion_protection(view.bool("deletionProtection")?)
        .set_storage_encrypted(view.bool("storageEncrypted")?)
        .set_vpc_security_group_ids(view.strings("vpcSecurityGroupIds")?)
        .set_db_cluster_parameter_group_name(
            view.str("dbClusterParameterGroupName")?.map(str::to_owned),
        )
        .set_db_subnet_group_name(view.str("dbSubnetGroupName")?.map(str::to_owned))
        .set_database_name(view.str("databaseName")?.map(str::to_owned))
        .set_master_username(view.str("masterUsername")?.map(str::to_owned))
        .set_copy_tags_to_snapshot(view.bool("copyTagsToSnapshot")?)
        .set_tags(Some(rds_tags(&w.desired.tags)));
    request = match view.str("masterUserSecretArn")? {
        Some(arn) => request.master_user_password(secrets::read(cx, arn, "password").await?),
        None => request.manage_master_user_password(true),
    };
    let out = request.send().await.op(SERVICE, "CreateDBCluster")?;
    Ok(out
        .db_cluster()
        .map_or_else(|| view.observed(None), |c| observed(cx.env, c)))
}

/// ModifyDBCluster with the fields that differ; an engine version change waits for the
/// maintenance window unless the policy applies changes immediately, everything else goes
/// at once.
async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let name = &w.desired.id.name;
    let changed = |field: &'static str| w.changed(field);
    let mut last = None;
    let now = [
        "backupRetentionPeriod",
        "preferredBackupWindow",
        "preferredMaintenanceWindow",
    ]
    .into_iter()
    .chain([
        "deletionProtection",
        "vpcSecurityGroupIds",
        "dbClusterParameterGroupName",
        SCALING,
    ])
    .any(changed);
    if now {
        let mut request = cx
            .clients
            .rds
            .modify_db_cluster()
            .db_cluster_identifier(name)
            .apply_immediately(true);
        if changed(SCALING) {
            request = request.set_serverless_v2_scaling_configuration(scaling(&view));
        }
        if changed("backupRetentionPeriod") {
            request = request.set_backup_retention_period(view.i32("backupRetentionPeriod")?);
        }
        if changed("preferredBackupWindow") {
            let window = view.str("preferredBackupWindow")?.map(str::to_owned);
            request = request.set_preferred_backup_window(window);
        }
        if changed("preferredMaintenanceWindow") {
            let window = view.str("preferredMaintenanceWindow")?.map(str::to_owned);
            request = request.set_preferred_maintenance_window(window);
        }
        if changed("deletionProtection") {
            request = request.set_deletion_protection(view.bool("deletionProtection")?);
        }
        if changed("vpcSecurityGroupIds") {
            request = request.set_vpc_security_group_ids(view.strings("vpcSecurityGroupIds")?);
        }
        if changed("dbClusterParameterGroupName") {
            let group = view.str("dbClusterParameterGroupName")?.map(str::to_owned);
            request = request.set_db_cluster_parameter_group_name(group);
        }
        let out = request.send().await.op(SERVICE, "ModifyDBCluster")?;
        last = out.db_cluster().map(|c| observed(cx.env, c));
    }
    if changed("engineVersion") {
        let out = cx
            .clients
            .rds
            .modify_db_cluster()
            .db_cluster_identifier(name)
            .set_engine_version(view.str("engineVersion")?.map(str::to_owned))
            .apply_immediately(w.apply_immediately)
            .send()
            .await
            .op(SERVICE, "ModifyDBCluster")?;
        last = out.db_cluster().map(|c| observed(cx.env, c));
    }
    Ok(last.unwrap_or_else(|| view.observed(w.current.and_then(|c| c.arn.clone()))))
}

/// Takes a final snapshot as it goes; deletion protection is turned off only now.
async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let rds = &cx.clients.rds;
    let name = &current.id.name;
    let protected = current.fields.get("deletionProtection") == Some(&json!(true));
    if protected {
        let result = rds
            .modify_db_cluster()
            .db_cluster_identifier(name)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .op(SERVICE, "ModifyDBCluster");
        if absent_on(result, NOT_FOUND)?.is_none() {
            return Ok(None);
        }
    }
    let snapshot = final_snapshot(name);
    let result = rds
        .delete_db_cluster()
        .db_cluster_identifier(name)
        .final_db_snapshot_identifier(&snapshot)
        .send()
        .await
        .op(SERVICE, "DeleteDBCluster");
    Ok(absent_on(result, NOT_FOUND)?.map(|_| snapshot))
}
