use super::*;
use crate::spec::{AuroraServerless, MqDeploymentMode, RdsInstance};

fn instance(e: &mut Environment) -> &mut RdsInstance {
    pg(e).instance.as_mut().unwrap()
}

/// The fixture's Postgres as Aurora Serverless v2 on 15.4, 0.5–4 ACUs.
fn to_aurora(e: &mut Environment) -> &mut AuroraServerless {
    let pg = pg(e);
    pg.instance = None;
    pg.engine_version = "15.4".into();
    pg.aurora.insert(AuroraServerless {
        min_capacity: 0.5,
        max_capacity: 4.0,
        readers: 0,
    })
}

#[test]
fn postgres_engine_and_names() {
    for version in ["15.x", "9.6", "fifteen", ""] {
        assert_only(
            |e| pg(e).engine_version = version.into(),
            "spec.postgres.engineVersion",
            "must be a PostgreSQL version 11 or later",
        );
    }
    assert_passes(|e| pg(e).engine_version = "16".into());
    assert_only(
        |e| pg(e).database_name = Some("1shop".into()),
        "spec.postgres.databaseName",
        "must be 1–63 letters, digits or '_', starting with a letter",
    );
    assert_only(
        |e| pg(e).database_name = Some("user".into()),
        "spec.postgres.databaseName",
        "\"user\" is a reserved word",
    );
    assert_only(
        |e| pg(e).database_name = Some("template1".into()),
        "spec.postgres.databaseName",
        "\"template1\" is reserved",
    );
    for (user, fragment) in [
        ("admin", "\"admin\" is a reserved word"),
        ("rdsadmin", "reserved word"),
        ("pg_owner", "names starting with pg_ or rds_ are reserved"),
        ("shop-admin", "must be 1–63 letters"),
        ("", "must be 1–63 letters"),
    ] {
        assert_only(
            |e| pg(e).master_username = user.into(),
            "spec.postgres.masterUsername",
            fragment,
        );
    }
    assert_passes(|e| pg(e).master_username = "shop_owner".into());
}

#[test]
fn master_password_is_managed_or_a_secret() {
    assert_only(
        |e| pg(e).master_password.managed = false,
        "spec.postgres.masterPassword",
        "set managed: true (RDS keeps it in Secrets Manager) or secretArn",
    );
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/master-AbCdEf";
    assert_only(
        |e| pg(e).master_password.secret_arn = Some(arn.into()),
        "spec.postgres.masterPassword",
        "not both",
    );
    assert_passes(|e| {
        pg(e).master_password.managed = false;
        pg(e).master_password.secret_arn = Some(arn.into());
    });
    assert_only(
        |e| {
            pg(e).master_password.managed = false;
            pg(e).master_password.secret_arn = Some("Sup3rS3cret!".into());
        },
        "spec.postgres.masterPassword.secretArn",
        "is not an ARN; it must be a Secrets Manager secret ARN",
    );
}

#[test]
fn postgres_windows() {
    assert_only(
        |e| pg(e).preferred_backup_window = Some("3:00-4:00".into()),
        "spec.postgres.preferredBackupWindow",
        "must be hh24:mi-hh24:mi in UTC",
    );
    assert_only(
        |e| pg(e).preferred_backup_window = Some("03:00-03:10".into()),
        "spec.postgres.preferredBackupWindow",
        "lasts 10 minutes; the minimum is 30",
    );
    assert_only(
        |e| pg(e).preferred_maintenance_window = Some("sunday:05:00-sunday:06:00".into()),
        "spec.postgres.preferredMaintenanceWindow",
        "must be ddd:hh24:mi-ddd:hh24:mi",
    );
    assert_only(
        |e| pg(e).preferred_maintenance_window = Some("sun:05:00-sun:05:20".into()),
        "spec.postgres.preferredMaintenanceWindow",
        "lasts 20 minutes",
    );
    assert_only(
        |e| pg(e).preferred_backup_window = Some("05:30-06:30".into()),
        "spec.postgres.preferredBackupWindow",
        "overlaps preferredMaintenanceWindow",
    );
}

#[test]
fn instance_or_aurora() {
    assert_only(
        |e| {
            pg(e).aurora = Some(AuroraServerless {
                min_capacity: 0.5,
                max_capacity: 4.0,
                readers: 0,
            })
        },
        "spec.postgres",
        "set either instance or aurora, not both",
    );
    assert_only(
        |e| pg(e).instance = None,
        "spec.postgres",
        "set instance (an RDS instance) or aurora (Aurora Serverless v2)",
    );
}

#[test]
fn rds_instances() {
    assert_only(
        |e| pg(e).backup_retention_days = 36,
        "spec.postgres.backupRetentionDays",
        "allowed 0–35",
    );
    assert_passes(|e| pg(e).backup_retention_days = 0);
    assert_only(
        |e| instance(e).class = "t3.small".into(),
        "spec.postgres.instance.class",
        "must be an RDS instance class",
    );
    assert_only(
        |e| instance(e).class = "db.serverless".into(),
        "spec.postgres.instance.class",
        "db.serverless is Aurora only",
    );
    assert_only(
        |e| instance(e).storage_type = "io1".into(),
        "spec.postgres.instance.storageType",
        "io1 and io2 need provisioned IOPS",
    );
    assert_only(
        |e| instance(e).storage_type = "standard".into(),
        "spec.postgres.instance.storageType",
        "\"standard\" is not supported; use gp3 or gp2",
    );
    assert_only(
        |e| instance(e).allocated_storage = 10,
        "spec.postgres.instance.allocatedStorage",
        "allowed 20–65536",
    );
    assert_only(
        |e| instance(e).max_allocated_storage = Some(20),
        "spec.postgres.instance.maxAllocatedStorage",
        "20 GiB must be greater than allocatedStorage 20 GiB",
    );
    assert_only(
        |e| instance(e).max_allocated_storage = Some(70000),
        "spec.postgres.instance.maxAllocatedStorage",
        "more than the 65536 GiB",
    );
}

#[test]
fn aurora_serverless_v2() {
    assert_passes(|e| {
        to_aurora(e);
    });
    assert_only(
        |e| {
            to_aurora(e);
            pg(e).backup_retention_days = 0;
        },
        "spec.postgres.backupRetentionDays",
        "allowed 1–35",
    );
    assert_only(
        |e| {
            to_aurora(e);
            pg(e).engine_version = "15.1".into();
        },
        "spec.postgres.engineVersion",
        "Aurora Serverless v2 needs Aurora PostgreSQL 13.6, 14.3, 15.2, 16.1 or later",
    );
    assert_only(
        |e| {
            to_aurora(e);
            pg(e).engine_version = "12".into();
        },
        "spec.postgres.engineVersion",
        "Aurora Serverless v2 needs",
    );
    // Auto-pause at 0 ACUs depends on the engine version.
    let base = "spec.postgres.aurora";
    assert_only(
        |e| to_aurora(e).min_capacity = 0.0,
        &format!("{base}.minCapacity"),
        "0 ACUs (auto-pause) needs Aurora PostgreSQL 13.15, 14.12, 15.7, 16.3 or later",
    );
    assert_passes(|e| {
        to_aurora(e).min_capacity = 0.0;
        pg(e).engine_version = "15.7".into();
    });
    assert_only(
        |e| to_aurora(e).min_capacity = 0.3,
        &format!("{base}.minCapacity"),
        "0.3 ACUs is not allowed; use 0–256 in steps of 0.5",
    );
    assert_only(
        |e| to_aurora(e).max_capacity = 0.5,
        &format!("{base}.maxCapacity"),
        "use 1–256 in steps of 0.5",
    );
    assert_only(
        |e| to_aurora(e).max_capacity = 300.0,
        &format!("{base}.maxCapacity"),
        "300 ACUs is not allowed",
    );
    assert_only(
        |e| to_aurora(e).min_capacity = 8.0,
        &format!("{base}.minCapacity"),
        "8 ACUs is more than maxCapacity 4",
    );
    assert_only(
        |e| to_aurora(e).readers = 16,
        &format!("{base}.readers"),
        "allowed 0–15",
    );
    assert_only(
        |e| to_aurora(e).min_capacity = f64::NAN,
        &format!("{base}.minCapacity"),
        "give a finite value",
    );
}

#[test]
fn redis_rules() {
    assert_only(
        |e| redis(e).engine_version = "7".into(),
        "spec.redis.engineVersion",
        "must be a Redis version such as 7.1",
    );
    assert_only(
        |e| redis(e).node_type = "t3.micro".into(),
        "spec.redis.nodeType",
        "must be an ElastiCache node type",
    );
    assert_only(
        |e| redis(e).replicas = 6,
        "spec.redis.replicas",
        "allowed 0–5",
    );
    assert_only(
        |e| redis(e).replicas = 0,
        "spec.redis.automaticFailover",
        "needs at least one replica",
    );
    assert_only(
        |e| redis(e).automatic_failover = false,
        "spec.redis.multiAz",
        "needs automaticFailover: true",
    );
    assert_only(
        |e| redis(e).transit_encryption = false,
        "spec.redis.authTokenSecretArn",
        "an AUTH token needs transitEncryption: true",
    );
    assert_only(
        |e| redis(e).auth_token_secret_arn = Some("32-char-random-token-goes-here!!".into()),
        "spec.redis.authTokenSecretArn",
        "is not an ARN",
    );
    for name in ["1policy", "max memory", "-x"] {
        assert_only(
            |e| {
                redis(e).parameters = [(name.to_owned(), "allkeys-lru".to_owned())].into();
            },
            &format!("spec.redis.parameters.{name}"),
            "must be a parameter name",
        );
    }
    assert_only(
        |e| redis(e).parameters = [("maxmemory-policy".to_owned(), String::new())].into(),
        "spec.redis.parameters.maxmemory-policy",
        "must be a value of 1–4096 characters",
    );
    assert_only(
        |e| redis(e).snapshot_retention_days = 36,
        "spec.redis.snapshotRetentionDays",
        "allowed 0–35",
    );
    assert_only(
        |e| redis(e).snapshot_window = Some("02:00-02:30".into()),
        "spec.redis.snapshotWindow",
        "lasts 30 minutes; the minimum is 60",
    );
    assert_only(
        |e| redis(e).maintenance_window = Some("sun:06:00".into()),
        "spec.redis.maintenanceWindow",
        "must be ddd:hh24:mi-ddd:hh24:mi",
    );
}

#[test]
fn rabbitmq_rules() {
    assert_only(
        |e| mq(e).engine_version = "3".into(),
        "spec.rabbitmq.engineVersion",
        "must be a RabbitMQ version such as 3.13",
    );
    assert_only(
        |e| mq(e).auto_minor_version_upgrade = false,
        "spec.rabbitmq.autoMinorVersionUpgrade",
        "Amazon MQ requires true for RabbitMQ 3.13 and later",
    );
    assert_passes(|e| {
        mq(e).engine_version = "3.12.13".into();
        mq(e).auto_minor_version_upgrade = false;
    });
    assert_only(
        |e| mq(e).instance_type = "t3.micro".into(),
        "spec.rabbitmq.instanceType",
        "must be an Amazon MQ instance type",
    );
    assert_only(
        |e| mq(e).deployment_mode = MqDeploymentMode::ClusterMultiAz,
        "spec.rabbitmq.instanceType",
        "mq.t3.micro runs only SINGLE_INSTANCE brokers",
    );
    assert_passes(|e| {
        mq(e).deployment_mode = MqDeploymentMode::ClusterMultiAz;
        mq(e).instance_type = "mq.m5.large".into();
    });
    for (user, fragment) in [
        ("guest", "guest is not allowed"),
        ("a", "must be 2–100 letters"),
        ("user:name", "must be 2–100 letters"),
        ("a=b", "must be 2–100 letters"),
    ] {
        assert_only(
            |e| mq(e).username = user.into(),
            "spec.rabbitmq.username",
            fragment,
        );
    }
    assert_only(
        |e| mq(e).password_secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/mq".into(),
        "spec.rabbitmq.passwordSecretArn",
        "is an ARN of service \"ssm\"; it must be a Secrets Manager secret ARN",
    );
}
