//! The `postgres` component: an RDS for PostgreSQL instance `{env}-postgres`, or an Aurora
//! PostgreSQL cluster `{env}-postgres` with Serverless v2 scaling and its instances
//! `{env}-postgres-{n}` (1 the writer, then the readers, all `db.serverless`); a DB subnet
//! group `{env}-postgres` from `network.subnets`, and with `postgres.parameters` a parameter
//! group `{env}-postgres` (a cluster parameter group for Aurora).
//!
//! The master password is never a field: RDS manages it (`manageMasterUserPassword`), or the
//! adapter reads the secret whose ARN is `masterUserSecretArn` when it creates the database.
//! The database name, master user, subnet group and parameter family are set at creation
//! only.

use serde_json::{json, Value};

use super::{Builder, Cx};
use crate::engine::kinds::PARAMETERS;
use crate::engine::resource::{Desired, ResourceId, ResourceKind};
use crate::engine::values::{canonical_f64, string_set};
use crate::names;
use crate::spec::{AuroraServerless, Postgres, RdsInstance};

/// Engine of an RDS for PostgreSQL instance.
pub const ENGINE_INSTANCE: &str = "postgres";
/// Engine of an Aurora PostgreSQL cluster and its instances.
pub const ENGINE_AURORA: &str = "aurora-postgresql";
/// Instance class of Aurora Serverless v2 instances.
const SERVERLESS: &str = "db.serverless";

pub(super) fn resources(cx: &Cx<'_>, pg: &Postgres) -> Vec<Desired> {
    let name = names::postgres(cx.env);
    let mut out = Vec::new();
    let mut needs = Vec::new();
    if let Some(network) = cx.network.filter(|n| !n.subnets.is_empty()) {
        let id = ResourceId::new(ResourceKind::DbSubnetGroup, &name);
        let mut r = cx.resource(id.clone(), vec![]);
        let subnets = string_set(network.subnets.iter().map(String::as_str));
        r.set("subnetIds", subnets, "network.subnets");
        r.create_only("description", json!(format!("{} (Plumb)", cx.env)));
        out.push(r.build());
        needs.push(id);
    }
    let aurora = pg.aurora.as_ref();
    if !pg.parameters.is_empty() {
        let kind = if aurora.is_some() {
            ResourceKind::DbClusterParameterGroup
        } else {
            ResourceKind::DbParameterGroup
        };
        let id = ResourceId::new(kind, &name);
        let mut r = cx.resource(id.clone(), vec![]);
        r.set_compound(PARAMETERS, json!(pg.parameters), "postgres.parameters");
        r.create_only("family", json!(family(pg)));
        r.create_only("description", json!(format!("{} (Plumb)", cx.env)));
        out.push(r.build());
        needs.push(id);
    }
    match (aurora, &pg.instance) {
        (Some(aurora), _) => out.extend(aurora_cluster(cx, pg, aurora, needs)),
        (None, Some(instance)) => out.push(rds_instance(cx, pg, instance, needs)),
        (None, None) => {}
    }
    out
}

/// `postgres16`, `aurora-postgresql15`: the parameter family of the engine's major version.
fn family(pg: &Postgres) -> String {
    let major = pg.engine_version.split('.').next().unwrap_or_default();
    let engine = if pg.aurora.is_some() {
        ENGINE_AURORA
    } else {
        ENGINE_INSTANCE
    };
    format!("{engine}{major}")
}

/// What an instance and a cluster share: version, backups, windows, protection,
/// encryption, security groups, and at creation the database, user and password.
fn common(cx: &Cx<'_>, r: &mut Builder<'_>, pg: &Postgres, engine: &str) {
    let at = |field: &str| format!("postgres.{field}");
    r.set("engine", json!(engine), "postgres");
    r.set(
        "engineVersion",
        json!(pg.engine_version),
        &at("engineVersion"),
    );
    let days = json!(pg.backup_retention_days);
    r.set("backupRetentionPeriod", days, &at("backupRetentionDays"));
    if let Some(window) = &pg.preferred_backup_window {
        r.set(
            "preferredBackupWindow",
            json!(window),
            &at("preferredBackupWindow"),
        );
    }
    if let Some(window) = &pg.preferred_maintenance_window {
        r.set(
            "preferredMaintenanceWindow",
            json!(window),
            &at("preferredMaintenanceWindow"),
        );
    }
    let protection = json!(pg.deletion_protection);
    r.set("deletionProtection", protection, &at("deletionProtection"));
    let encrypted = json!(pg.storage_encrypted);
    r.set("storageEncrypted", encrypted, &at("storageEncrypted"));
    let groups = match &pg.security_groups {
        Some(groups) => Some((groups, at("securityGroups"))),
        None => cx
            .network
            .filter(|n| !n.security_groups.is_empty())
            .map(|n| (&n.security_groups, "network.securityGroups".to_owned())),
    };
    if let Some((groups, path)) = groups {
        let set = string_set(groups.iter().map(String::as_str));
        r.set("vpcSecurityGroupIds", set, &path);
    }
    if cx.network.is_some_and(|n| !n.subnets.is_empty()) {
        r.create_only("dbSubnetGroupName", json!(names::postgres(cx.env)));
    }
    r.create_only("masterUsername", json!(pg.master_username));
    match &pg.master_password.secret_arn {
        Some(arn) if !pg.master_password.managed => {
            r.create_only("masterUserSecretArn", json!(arn));
        }
        _ => r.create_only("manageMasterUserPassword", Value::Bool(true)),
    }
    r.create_only("copyTagsToSnapshot", Value::Bool(true));
}

fn rds_instance(
    cx: &Cx<'_>,
    pg: &Postgres,
    instance: &RdsInstance,
    needs: Vec<ResourceId>,
) -> Desired {
    let at = |field: &str| format!("postgres.instance.{field}");
    let id = ResourceId::new(ResourceKind::DbInstance, names::postgres(cx.env));
    let mut r = cx.resource(id, needs);
    common(cx, &mut r, pg, ENGINE_INSTANCE);
    r.set("dbInstanceClass", json!(instance.class), &at("class"));
    let storage = json!(instance.allocated_storage);
    r.set("allocatedStorage", storage, &at("allocatedStorage"));
    if let Some(max) = instance.max_allocated_storage {
        r.set(
            "maxAllocatedStorage",
            json!(max),
            &at("maxAllocatedStorage"),
        );
    }
    let storage_type = json!(instance.storage_type);
    r.set("storageType", storage_type, &at("storageType"));
    r.set("multiAZ", json!(instance.multi_az), &at("multiAz"));
    let insights = json!(pg.performance_insights);
    r.set(
        "performanceInsightsEnabled",
        insights,
        "postgres.performanceInsights",
    );
    if !pg.parameters.is_empty() {
        let group = json!(names::postgres(cx.env));
        r.set("dbParameterGroupName", group, "postgres.parameters");
    }
    if let Some(db) = &pg.database_name {
        r.create_only("dbName", json!(db));
    }
    r.create_only("publiclyAccessible", Value::Bool(false));
    r.build()
}

fn aurora_cluster(
    cx: &Cx<'_>,
    pg: &Postgres,
    aurora: &AuroraServerless,
    needs: Vec<ResourceId>,
) -> Vec<Desired> {
    let name = names::postgres(cx.env);
    let cluster = ResourceId::new(ResourceKind::DbCluster, &name);
    let mut r = cx.resource(cluster.clone(), needs);
    common(cx, &mut r, pg, ENGINE_AURORA);
    let scaling = json!({
        "minCapacity": canonical_f64(aurora.min_capacity),
        "maxCapacity": canonical_f64(aurora.max_capacity),
    });
    r.set_compound(
        "serverlessV2ScalingConfiguration",
        scaling,
        "postgres.aurora",
    );
    if !pg.parameters.is_empty() {
        let group = json!(name);
        r.set("dbClusterParameterGroupName", group, "postgres.parameters");
    }
    if let Some(db) = &pg.database_name {
        r.create_only("databaseName", json!(db));
    }
    let mut out = vec![r.build()];
    for n in 1..=aurora.readers.saturating_add(1) {
        let id = ResourceId::new(ResourceKind::DbInstance, names::aurora_instance(cx.env, n));
        let mut r = cx.resource(id, vec![cluster.clone()]);
        r.set("engine", json!(ENGINE_AURORA), "postgres");
        r.set("dbInstanceClass", json!(SERVERLESS), "postgres.aurora");
        r.set("dbClusterIdentifier", json!(name), "postgres.aurora");
        let insights = json!(pg.performance_insights);
        r.set(
            "performanceInsightsEnabled",
            insights,
            "postgres.performanceInsights",
        );
        r.create_only("publiclyAccessible", Value::Bool(false));
        r.create_only("copyTagsToSnapshot", Value::Bool(true));
        out.push(r.build());
    }
    out
}
