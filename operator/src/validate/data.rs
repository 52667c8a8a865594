//! Stateful components: PostgreSQL (RDS instance or Aurora Serverless v2), Redis on
//! ElastiCache and RabbitMQ on Amazon MQ.

use std::sync::LazyLock;

use regex::Regex;

use super::arn::{self, Kind};
use super::rules::{
    check_daily_window, check_weekly_window, finite, in_range, version, windows_overlap,
};
use super::Ctx;
use crate::spec::{AuroraServerless, MqDeploymentMode, Postgres, RabbitMq, RdsInstance, Redis};

/// PostgreSQL identifiers: a letter, then letters, digits and '_', at most 63.
static PG_IDENTIFIER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9_]{0,62}$").expect("static pattern"));
static DB_CLASS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^db\.[a-z0-9-]+\.[a-z0-9]+$").expect("static pattern"));
static CACHE_NODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^cache\.[a-z0-9-]+\.[a-z0-9]+$").expect("static pattern"));
static MQ_INSTANCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^mq\.[a-z0-9-]+\.[a-z0-9]+$").expect("static pattern"));
static TWO_PART_VERSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,2}\.\d{1,2}(?:\.\d{1,2})?$").expect("static pattern"));
/// Engine parameter names (`rds.force_ssl`, `maxmemory-policy`, `shared_preload_libraries`).
static PARAMETER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9._-]{0,254}$").expect("static pattern"));
static HH_MM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[01]\d|2[0-3]):[0-5]\d$").expect("static pattern"));
/// Amazon MQ for RabbitMQ user names.
static MQ_USERNAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9._-]{2,100}$").expect("static pattern"));

/// Words PostgreSQL reserves, and names RDS keeps for itself.
const PG_RESERVED: [&str; 80] = [
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
    "admin",
    "rdsadmin",
    "rdsrepladmin",
];
const RESERVED_DATABASES: [&str; 3] = ["template0", "template1", "rdsadmin"];

/// Oldest Aurora PostgreSQL minor per major that runs Serverless v2.
const AURORA_SERVERLESS_V2: [(u32, u32); 4] = [(13, 6), (14, 3), (15, 2), (16, 1)];
/// Oldest Aurora PostgreSQL minor per major that can pause at 0 ACUs.
const AURORA_AUTO_PAUSE: [(u32, u32); 4] = [(13, 15), (14, 12), (15, 7), (16, 3)];

pub(super) fn check(cx: &mut Ctx<'_>) {
    let spec = &cx.env.spec;
    if let Some(pg) = &spec.postgres {
        postgres(cx, pg);
    }
    if let Some(redis_spec) = &spec.redis {
        redis(cx, redis_spec);
    }
    if let Some(mq) = &spec.rabbitmq {
        rabbitmq(cx, mq);
    }
}

fn postgres(cx: &mut Ctx<'_>, pg: &Postgres) {
    parameters(cx, "spec.postgres.parameters", &pg.parameters);
    let parsed = version(&pg.engine_version).filter(|(major, _)| *major >= 11);
    if parsed.is_none() {
        cx.err(
            "spec.postgres.engineVersion",
            "must be a PostgreSQL version 11 or later, like 16 or 15.10",
        );
    }
    if let Some(name) = &pg.database_name {
        if let Some(problem) = identifier_problem(name) {
            cx.err("spec.postgres.databaseName", problem);
        } else if RESERVED_DATABASES.contains(&name.to_ascii_lowercase().as_str()) {
            cx.err(
                "spec.postgres.databaseName",
                format!("{name:?} is reserved"),
            );
        }
    }
    let user = pg.master_username.to_ascii_lowercase();
    if let Some(problem) = identifier_problem(&pg.master_username) {
        cx.err("spec.postgres.masterUsername", problem);
    } else if user.starts_with("pg_") || user.starts_with("rds_") {
        cx.err(
            "spec.postgres.masterUsername",
            "names starting with pg_ or rds_ are reserved",
        );
    }
    let mp = &pg.master_password;
    match (mp.managed, &mp.secret_arn) {
        (true, Some(_)) => cx.err(
            "spec.postgres.masterPassword",
            "set either managed: true or secretArn, not both",
        ),
        (false, None) => cx.err(
            "spec.postgres.masterPassword",
            "set managed: true (RDS keeps it in Secrets Manager) or secretArn",
        ),
        (false, Some(secret)) => {
            arn::check(
                cx,
                "spec.postgres.masterPassword.secretArn",
                secret,
                Kind::Secret,
            );
        }
        (true, None) => {}
    }
    let backup = check_daily_window(
        cx,
        "spec.postgres.preferredBackupWindow",
        pg.preferred_backup_window.as_deref(),
        30,
    );
    let maintenance = check_weekly_window(
        cx,
        "spec.postgres.preferredMaintenanceWindow",
        pg.preferred_maintenance_window.as_deref(),
        30,
    );
    if let (Some(b), Some(m)) = (backup, maintenance) {
        if windows_overlap(b, m) {
            cx.err(
                "spec.postgres.preferredBackupWindow",
                "overlaps preferredMaintenanceWindow; RDS requires them apart",
            );
        }
    }
    match (&pg.instance, &pg.aurora) {
        (Some(instance), None) => rds_instance(cx, pg, instance),
        (None, Some(aurora)) => aurora_serverless(cx, pg, aurora, parsed),
        (Some(_), Some(_)) => cx.err("spec.postgres", "set either instance or aurora, not both"),
        (None, None) => cx.err(
            "spec.postgres",
            "set instance (an RDS instance) or aurora (Aurora Serverless v2)",
        ),
    }
    if let Some(preset) = cx
        .env
        .spec
        .alarms
        .as_ref()
        .and_then(|a| a.presets.postgres.as_ref())
    {
        if let Some(instance) = &pg.instance {
            if preset.free_storage_low_gib.is_finite()
                && preset.free_storage_low_gib >= f64::from(instance.allocated_storage)
            {
                cx.err(
                    "spec.alarms.presets.postgres.freeStorageLowGib",
                    format!(
                        "{} GiB is not below the {} GiB allocated; the alarm would always fire",
                        preset.free_storage_low_gib, instance.allocated_storage
                    ),
                );
            }
        }
    }
}

/// Parameter names as the engines spell them, values of at most 4096 characters.
fn parameters(
    cx: &mut Ctx<'_>,
    field: &str,
    parameters: &std::collections::BTreeMap<String, String>,
) {
    for (name, value) in parameters {
        if !PARAMETER.is_match(name) {
            cx.err(
                format!("{field}.{name}"),
                "must be a parameter name: a letter, then letters, digits, '.', '_' or '-'",
            );
        } else if value.is_empty() || value.len() > 4096 {
            cx.err(
                format!("{field}.{name}"),
                "must be a value of 1–4096 characters",
            );
        }
    }
}

fn identifier_problem(name: &str) -> Option<String> {
    if !PG_IDENTIFIER.is_match(name) {
        Some("must be 1–63 letters, digits or '_', starting with a letter".to_owned())
    } else if PG_RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        Some(format!("{name:?} is a reserved word"))
    } else {
        None
    }
}

fn rds_instance(cx: &mut Ctx<'_>, pg: &Postgres, instance: &RdsInstance) {
    in_range(
        cx,
        "spec.postgres.backupRetentionDays",
        "backupRetentionDays",
        pg.backup_retention_days,
        0,
        35,
    );
    let base = "spec.postgres.instance";
    if instance.class == "db.serverless" {
        cx.err(
            format!("{base}.class"),
            "db.serverless is Aurora only; use postgres.aurora for Aurora Serverless v2",
        );
    } else if !DB_CLASS.is_match(&instance.class) {
        cx.err(
            format!("{base}.class"),
            "must be an RDS instance class such as db.t3.small or db.r6g.xlarge",
        );
    }
    match instance.storage_type.as_str() {
        "gp2" | "gp3" => {}
        "io1" | "io2" => cx.err(
            format!("{base}.storageType"),
            "io1 and io2 need provisioned IOPS, which this spec does not set; use gp3",
        ),
        other => cx.err(
            format!("{base}.storageType"),
            format!("{other:?} is not supported; use gp3 or gp2"),
        ),
    }
    let storage_ok = in_range(
        cx,
        format!("{base}.allocatedStorage"),
        "allocatedStorage (GiB)",
        instance.allocated_storage,
        20,
        65536,
    );
    if let Some(max) = instance.max_allocated_storage {
        if max > 65536 {
            cx.err(
                format!("{base}.maxAllocatedStorage"),
                format!("{max} GiB is more than the 65536 GiB RDS allows"),
            );
        } else if storage_ok && max <= instance.allocated_storage {
            cx.err(
                format!("{base}.maxAllocatedStorage"),
                format!(
                    "{max} GiB must be greater than allocatedStorage {} GiB",
                    instance.allocated_storage
                ),
            );
        }
    }
}

fn aurora_serverless(
    cx: &mut Ctx<'_>,
    pg: &Postgres,
    aurora: &AuroraServerless,
    engine: Option<(u32, Option<u32>)>,
) {
    in_range(
        cx,
        "spec.postgres.backupRetentionDays",
        "backupRetentionDays",
        pg.backup_retention_days,
        1,
        35,
    );
    if let Some((major, minor)) = engine {
        if !supports(major, minor, &AURORA_SERVERLESS_V2) {
            cx.err(
                "spec.postgres.engineVersion",
                "Aurora Serverless v2 needs Aurora PostgreSQL 13.6, 14.3, 15.2, 16.1 or later",
            );
        }
    }
    let base = "spec.postgres.aurora";
    let min_ok = acu(cx, &format!("{base}.minCapacity"), aurora.min_capacity, 0.0);
    let max_ok = acu(cx, &format!("{base}.maxCapacity"), aurora.max_capacity, 1.0);
    if min_ok && aurora.min_capacity == 0.0 {
        if let Some((major, minor)) = engine {
            if !supports(major, minor, &AURORA_AUTO_PAUSE) {
                cx.err(
                    format!("{base}.minCapacity"),
                    "0 ACUs (auto-pause) needs Aurora PostgreSQL 13.15, 14.12, 15.7, 16.3 or later; use 0.5 or upgrade",
                );
            }
        }
    }
    if min_ok && max_ok && aurora.min_capacity > aurora.max_capacity {
        cx.err(
            format!("{base}.minCapacity"),
            format!(
                "{} ACUs is more than maxCapacity {}",
                aurora.min_capacity, aurora.max_capacity
            ),
        );
    }
    in_range(
        cx,
        format!("{base}.readers"),
        "readers",
        aurora.readers,
        0,
        15,
    );
}

/// Whether `major.minor` is at least the oldest supported minor of its major (newer majors
/// all qualify; a bare major means its newest minor).
fn supports(major: u32, minor: Option<u32>, oldest: &[(u32, u32)]) -> bool {
    let newest_known = oldest.iter().map(|(m, _)| *m).max().unwrap_or(0);
    match oldest.iter().find(|(m, _)| *m == major) {
        Some((_, least)) => minor.is_none_or(|minor| minor >= *least),
        None => major > newest_known,
    }
}

/// ACUs: `lowest`–256 in steps of 0.5.
fn acu(cx: &mut Ctx<'_>, field: &str, value: f64, lowest: f64) -> bool {
    if !finite(cx, field, value) {
        return false;
    }
    if !(lowest..=256.0).contains(&value) || (value * 2.0).fract() != 0.0 {
        cx.err(
            field,
            format!("{value} ACUs is not allowed; use {lowest}–256 in steps of 0.5"),
        );
        return false;
    }
    true
}

fn redis(cx: &mut Ctx<'_>, r: &Redis) {
    if !TWO_PART_VERSION.is_match(&r.engine_version) {
        cx.err(
            "spec.redis.engineVersion",
            "must be a Redis version such as 7.1, 7.0 or 6.2",
        );
    }
    if !CACHE_NODE.is_match(&r.node_type) {
        cx.err(
            "spec.redis.nodeType",
            "must be an ElastiCache node type such as cache.t3.micro or cache.r6g.large",
        );
    }
    in_range(cx, "spec.redis.replicas", "replicas", r.replicas, 0, 5);
    if r.automatic_failover && r.replicas == 0 {
        cx.err(
            "spec.redis.automaticFailover",
            "needs at least one replica to fail over to",
        );
    }
    if r.multi_az && !r.automatic_failover {
        cx.err("spec.redis.multiAz", "needs automaticFailover: true");
    }
    if let Some(secret) = &r.auth_token_secret_arn {
        arn::check(cx, "spec.redis.authTokenSecretArn", secret, Kind::Secret);
        if !r.transit_encryption {
            cx.err(
                "spec.redis.authTokenSecretArn",
                "an AUTH token needs transitEncryption: true",
            );
        }
    }
    parameters(cx, "spec.redis.parameters", &r.parameters);
    in_range(
        cx,
        "spec.redis.snapshotRetentionDays",
        "snapshotRetentionDays",
        r.snapshot_retention_days,
        0,
        35,
    );
    check_daily_window(
        cx,
        "spec.redis.snapshotWindow",
        r.snapshot_window.as_deref(),
        60,
    );
    check_weekly_window(
        cx,
        "spec.redis.maintenanceWindow",
        r.maintenance_window.as_deref(),
        60,
    );
}

fn rabbitmq(cx: &mut Ctx<'_>, mq: &RabbitMq) {
    match version(&mq.engine_version).filter(|_| TWO_PART_VERSION.is_match(&mq.engine_version)) {
        None => cx.err(
            "spec.rabbitmq.engineVersion",
            "must be a RabbitMQ version such as 3.13",
        ),
        Some((major, minor)) => {
            if (major, minor.unwrap_or(0)) >= (3, 13) && !mq.auto_minor_version_upgrade {
                cx.err(
                    "spec.rabbitmq.autoMinorVersionUpgrade",
                    "Amazon MQ requires true for RabbitMQ 3.13 and later",
                );
            }
        }
    }
    if !MQ_INSTANCE.is_match(&mq.instance_type) {
        cx.err(
            "spec.rabbitmq.instanceType",
            "must be an Amazon MQ instance type such as mq.t3.micro or mq.m5.large",
        );
    } else if mq.deployment_mode == MqDeploymentMode::ClusterMultiAz
        && mq.instance_type == "mq.t3.micro"
    {
        cx.err(
            "spec.rabbitmq.instanceType",
            "mq.t3.micro runs only SINGLE_INSTANCE brokers; use mq.m5.large or larger for CLUSTER_MULTI_AZ",
        );
    }
    if !MQ_USERNAME.is_match(&mq.username) {
        cx.err(
            "spec.rabbitmq.username",
            "must be 2–100 letters, digits, '.', '_' or '-'",
        );
    } else if mq.username == "guest" {
        cx.err(
            "spec.rabbitmq.username",
            "guest is not allowed by Amazon MQ",
        );
    }
    arn::check(
        cx,
        "spec.rabbitmq.passwordSecretArn",
        &mq.password_secret_arn,
        Kind::Secret,
    );
    if let Some(window) = &mq.maintenance_window {
        const DAYS: [&str; 7] = [
            "MONDAY",
            "TUESDAY",
            "WEDNESDAY",
            "THURSDAY",
            "FRIDAY",
            "SATURDAY",
            "SUNDAY",
        ];
        if !DAYS.contains(&window.day_of_week.as_str()) {
            cx.err(
                "spec.rabbitmq.maintenanceWindow.dayOfWeek",
                "must be MONDAY … SUNDAY",
            );
        }
        if !HH_MM.is_match(&window.time_of_day) {
            cx.err(
                "spec.rabbitmq.maintenanceWindow.timeOfDay",
                "must be HH:MM, 24-hour",
            );
        }
        if window.time_zone.is_empty() || window.time_zone.len() > 64 {
            cx.err(
                "spec.rabbitmq.maintenanceWindow.timeZone",
                "must be an IANA time zone such as UTC or Europe/Berlin",
            );
        }
    }
    let subnets = mq
        .subnets
        .as_ref()
        .or(cx.env.spec.network.as_ref().map(|n| &n.subnets));
    match (mq.deployment_mode, subnets.map(Vec::len)) {
        (MqDeploymentMode::ClusterMultiAz, Some(n)) if n < 2 => cx.err(
            "spec.rabbitmq.subnets",
            "CLUSTER_MULTI_AZ needs subnets in at least two availability zones",
        ),
        (MqDeploymentMode::SingleInstance, Some(n)) if mq.subnets.is_some() && n != 1 => cx.err(
            "spec.rabbitmq.subnets",
            "SINGLE_INSTANCE takes exactly one subnet",
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_support_tables() {
        assert!(supports(15, Some(4), &AURORA_SERVERLESS_V2));
        assert!(!supports(15, Some(1), &AURORA_SERVERLESS_V2));
        assert!(!supports(12, Some(9), &AURORA_SERVERLESS_V2));
        assert!(supports(17, Some(0), &AURORA_SERVERLESS_V2));
        assert!(supports(16, None, &AURORA_AUTO_PAUSE));
        assert!(!supports(15, Some(4), &AURORA_AUTO_PAUSE));
        assert!(supports(15, Some(7), &AURORA_AUTO_PAUSE));
    }
}
