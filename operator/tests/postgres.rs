//! PostgreSQL on moto through the real SDK, with the store in Postgres: an RDS instance and an
//! Aurora Serverless v2 cluster created with every field of the spec, changed, corrected,
//! left alone when settled, never replaced without leave, and torn down per the deletion
//! policy. A fault proxy shows what moto never does: a modification held for the maintenance
//! window, and an instance busy modifying.

#[path = "support/proxy.rs"]
#[allow(dead_code)] // The lost-answer faults are the rollout tests'.
mod proxy;
mod support;

use plumb_operator::aws::{CallCounter, Clients};
use plumb_operator::engine::{Change, Verb};
use plumb_operator::reconcile::{Outcome, Reconciler};
use plumb_operator::spec::{parse_document, Environment, Format};
use plumb_operator::store::Store;
use proxy::Proxy;
use sqlx::PgPool;
use support::{network, Moto, Network};

struct World {
    _moto: Moto,
    proxy: Proxy,
    reconciler: Reconciler,
    clients: Clients,
    network: Network,
}

impl World {
    /// Plumb talks to moto through a proxy; the test's own clients go straight to moto.
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
        let network = network(&moto).await;
        let proxy = Proxy::start(&moto.endpoint).await;
        let reconciler = Reconciler::new(
            Store::from_pool(pool),
            proxy.aws_config(),
            CallCounter::new(),
        );
        let clients = moto.clients().await;
        World {
            _moto: moto,
            proxy,
            reconciler,
            clients,
            network,
        }
    }

    /// moto never reports `PerformanceInsightsEnabled`, which AWS always does: the proxy adds
    /// what the spec stored last asked for to every DescribeDBInstances answer, with `more`
    /// (further elements, such as pending values) for the instance `shop-postgres`.
    fn describe_as_aws(&self, insights: bool, more: &'static str) {
        self.proxy.rewrite_text("DescribeDBInstances", move |xml| {
            xml.replace(
                "<DBInstanceIdentifier>shop-postgres</DBInstanceIdentifier>",
                &format!(
                    "<DBInstanceIdentifier>shop-postgres</DBInstanceIdentifier>\
                     <PerformanceInsightsEnabled>{insights}</PerformanceInsightsEnabled>{more}"
                ),
            )
        });
    }

    async fn store(&self, env: &Environment) {
        let insights = env
            .spec
            .postgres
            .as_ref()
            .is_some_and(|p| p.performance_insights);
        self.describe_as_aws(insights, "");
        let mut env = env.clone();
        env.metadata.resource_version = None;
        self.reconciler.store.apply(&env, "test").await.unwrap();
    }

    async fn reconcile(&self) -> Outcome {
        self.reconciler.reconcile("shop").await.unwrap()
    }

    async fn reconcile_ready(&self) -> Outcome {
        let outcome = self.reconcile().await;
        assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
        outcome
    }

    /// Deletes the environment and reconciles until its teardown finished.
    async fn delete_environment(&self) -> Outcome {
        self.reconciler
            .store
            .mark_deleting("shop", None, "test")
            .await
            .unwrap();
        let mut outcome = self.reconcile().await;
        for _ in 0..5 {
            if outcome.deleted {
                break;
            }
            outcome = self.reconcile().await;
        }
        assert!(outcome.deleted, "{}: {}", outcome.reason, outcome.message);
        outcome
    }

    /// Writes Plumb sent to RDS since the proxy last forgot.
    fn rds_writes(&self) -> Vec<String> {
        self.proxy
            .seen()
            .into_iter()
            .map(|s| s.operation)
            .filter(|op| !op.starts_with("Describe") && !op.starts_with("List") && !op.is_empty())
            .collect()
    }

    async fn instance(&self, name: &str) -> aws_sdk_rds::types::DbInstance {
        let out = self
            .clients
            .rds
            .describe_db_instances()
            .db_instance_identifier(name)
            .send()
            .await
            .unwrap();
        out.db_instances()[0].clone()
    }

    async fn tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .clients
            .rds
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .unwrap();
        out.tag_list()
            .iter()
            .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
            .collect()
    }
}

/// An RDS for PostgreSQL instance with every field the spec has, and two parameters.
fn instance_spec(net: &Network, extra_policy: &str, instance: &str) -> Environment {
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  policy: {{{extra_policy}}}
  network:
    subnets: [{s0}, {s1}]
    securityGroups: [{sg}]
  postgres:
    engineVersion: "15.10"
    databaseName: shop
    masterUsername: shop_admin
    backupRetentionDays: 7
    preferredBackupWindow: "03:00-04:00"
    preferredMaintenanceWindow: "sun:05:00-sun:06:00"
    deletionProtection: true
    storageEncrypted: true
    performanceInsights: true
    parameters:
      rds.force_ssl: 1
      log_min_duration_statement: 1000
    instance: {{{instance}}}
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    parse_document(&yaml, Format::Yaml).unwrap()
}

const SMALL: &str =
    "class: db.t3.small, allocatedStorage: 20, maxAllocatedStorage: 100, storageType: gp3";

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_rds_instance_gets_every_field_of_the_spec_and_a_settled_one_no_writes(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&instance_spec(&w.network, "", SMALL)).await;
    let outcome = w.reconcile_ready().await;
    let created: Vec<String> = outcome
        .applied
        .iter()
        .filter(|a| a.action == Verb::Create)
        .map(|a| a.resource.to_string())
        .collect();
    assert_eq!(
        created,
        [
            "db-subnet-group/shop-postgres",
            "db-parameter-group/shop-postgres",
            "db-instance/shop-postgres"
        ]
    );

    let db = w.instance("shop-postgres").await;
    assert_eq!(db.engine(), Some("postgres"));
    assert_eq!(db.engine_version(), Some("15.10"));
    assert_eq!(db.db_instance_class(), Some("db.t3.small"));
    assert_eq!(db.allocated_storage(), Some(20));
    assert_eq!(db.max_allocated_storage(), Some(100));
    assert_eq!(db.storage_type(), Some("gp3"));
    assert_eq!(db.multi_az(), Some(false));
    assert_eq!(db.backup_retention_period(), Some(7));
    assert_eq!(db.preferred_backup_window(), Some("03:00-04:00"));
    assert_eq!(
        db.preferred_maintenance_window(),
        Some("sun:05:00-sun:06:00")
    );
    assert_eq!(db.deletion_protection(), Some(true));
    assert_eq!(db.storage_encrypted(), Some(true));
    // moto does not keep Performance Insights; the request carried it.
    let create = &w.proxy.requests("CreateDBInstance", |_| true)[0].request;
    assert_eq!(create["EnablePerformanceInsights"], "true");
    assert_eq!(create["ManageMasterUserPassword"], "true");
    assert!(create.get("MasterUserPassword").is_none());
    assert_eq!(db.db_name(), Some("shop"));
    assert_eq!(db.master_username(), Some("shop_admin"));
    assert_eq!(db.publicly_accessible(), Some(false));
    let groups: Vec<&str> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(groups, [w.network.security_group.as_str()]);
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some("shop-postgres")
    );
    let subnets: Vec<&str> = db
        .db_subnet_group()
        .unwrap()
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .collect();
    assert_eq!(subnets.len(), 2);
    assert_eq!(
        db.db_parameter_groups()[0].db_parameter_group_name(),
        Some("shop-postgres")
    );
    let tags = w.tags(db.db_instance_arn().unwrap()).await;
    assert!(
        tags.contains(&("plumb:environment".into(), "shop".into())),
        "{tags:?}"
    );

    let parameters = w
        .clients
        .rds
        .describe_db_parameters()
        .db_parameter_group_name("shop-postgres")
        .source("user")
        .send()
        .await
        .unwrap();
    let mut set: Vec<(&str, &str)> = parameters
        .parameters()
        .iter()
        .map(|p| (p.parameter_name().unwrap(), p.parameter_value().unwrap()))
        .collect();
    set.sort();
    assert_eq!(
        set,
        [
            ("log_min_duration_statement", "1000"),
            ("rds.force_ssl", "1")
        ]
    );

    // Settled: sweep after sweep, not one write.
    w.proxy.forget();
    for _ in 0..20 {
        let outcome = w.reconcile_ready().await;
        assert!(outcome.plan.is_noop(), "{}", outcome.plan.render_text());
    }
    assert_eq!(w.rds_writes(), Vec::<String>::new());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn every_mutable_field_of_an_instance_is_changed_in_place(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&instance_spec(&w.network, "", SMALL)).await;
    w.reconcile_ready().await;

    let mut env = instance_spec(
        &w.network,
        "",
        "class: db.t3.medium, allocatedStorage: 50, maxAllocatedStorage: 200, storageType: gp2, multiAz: true",
    );
    let pg = env.spec.postgres.as_mut().unwrap();
    pg.backup_retention_days = 14;
    pg.preferred_backup_window = Some("01:00-02:00".into());
    pg.preferred_maintenance_window = Some("Mon:07:00-Mon:08:00".into());
    pg.performance_insights = false;
    pg.parameters
        .insert("log_min_duration_statement".into(), "500".into());
    w.store(&env).await;
    // AWS still has Performance Insights on until Plumb turns it off.
    w.describe_as_aws(true, "");
    w.proxy.forget();
    let outcome = w.reconcile().await;
    w.describe_as_aws(false, "");
    // moto applies at once what AWS would hold for the window: the class change went out
    // with ApplyImmediately=false, and the plan said so.
    let plan = outcome.plan.render_text();
    assert!(
        plan.contains("dbInstanceClass: \"db.t3.small\" → \"db.t3.medium\"  (at the maintenance window; restarts the instance"),
        "{plan}"
    );
    let modifies = w.proxy.requests("ModifyDBInstance", |_| true);
    let deferred = modifies
        .iter()
        .find(|s| s.request.get("DBInstanceClass").is_some())
        .expect("the class change");
    assert_eq!(deferred.request["ApplyImmediately"], "false");
    let immediate = modifies
        .iter()
        .find(|s| s.request.get("BackupRetentionPeriod").is_some())
        .expect("the backup change");
    assert_eq!(immediate.request["ApplyImmediately"], "true");

    let db = w.instance("shop-postgres").await;
    assert_eq!(db.db_instance_class(), Some("db.t3.medium"));
    assert_eq!(db.allocated_storage(), Some(50));
    assert_eq!(db.max_allocated_storage(), Some(200));
    assert_eq!(db.storage_type(), Some("gp2"));
    assert_eq!(db.multi_az(), Some(true));
    assert_eq!(db.backup_retention_period(), Some(14));
    assert_eq!(db.preferred_backup_window(), Some("01:00-02:00"));
    assert!(modifies.iter().any(|s| s
        .request
        .get("EnablePerformanceInsights")
        .and_then(|v| v.as_str())
        == Some("false")));
    let parameters = w
        .clients
        .rds
        .describe_db_parameters()
        .db_parameter_group_name("shop-postgres")
        .source("user")
        .send()
        .await
        .unwrap();
    let slow = parameters
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some("log_min_duration_statement"))
        .and_then(|p| p.parameter_value());
    assert_eq!(slow, Some("500"));
    // The window as AWS writes it back (lower case) is the same window: no loop.
    w.proxy.forget();
    w.reconcile_ready().await;
    assert_eq!(w.rds_writes(), Vec::<String>::new());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_console_change_is_corrected_or_only_reported(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&instance_spec(&w.network, "", SMALL)).await;
    w.reconcile_ready().await;
    let rds = &w.clients.rds;
    let drift = || async {
        rds.modify_db_instance()
            .db_instance_identifier("shop-postgres")
            .backup_retention_period(1)
            .apply_immediately(true)
            .send()
            .await
            .unwrap();
    };
    drift().await;
    w.reconcile_ready().await;
    assert_eq!(
        w.instance("shop-postgres").await.backup_retention_period(),
        Some(7)
    );

    w.store(&instance_spec(&w.network, "drift: report", SMALL))
        .await;
    w.reconcile_ready().await;
    drift().await;
    w.proxy.forget();
    let outcome = w.reconcile_ready().await;
    assert_eq!(outcome.reason, "Drifted", "{}", outcome.message);
    assert!(outcome.message.contains("db-instance/shop-postgres"));
    assert_eq!(w.rds_writes(), Vec::<String>::new());
    assert_eq!(
        w.instance("shop-postgres").await.backup_retention_period(),
        Some(1)
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_change_that_would_replace_the_database_is_refused_and_touches_nothing(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&instance_spec(&w.network, "", SMALL)).await;
    w.reconcile_ready().await;

    // Encryption at rest cannot change in place.
    let mut env = instance_spec(&w.network, "", SMALL);
    env.spec.postgres.as_mut().unwrap().storage_encrypted = false;
    w.store(&env).await;
    w.proxy.forget();
    let outcome = w.reconcile().await;
    assert!(!outcome.ready);
    assert_eq!(outcome.reason, "ReplacementRefused");
    assert!(
        outcome
            .message
            .contains("storageEncrypted cannot change in place"),
        "{}",
        outcome.message
    );
    let refused = outcome
        .plan
        .actions
        .iter()
        .find(|a| a.resource.to_string() == "db-instance/shop-postgres")
        .unwrap();
    assert!(matches!(refused.change, Change::ReplacementRequired { .. }));
    assert_eq!(w.rds_writes(), Vec::<String>::new());
    let status = w
        .reconciler
        .store
        .get("shop")
        .await
        .unwrap()
        .status
        .unwrap();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason, "ReplacementRefused");

    // An instance the spec now wants as an Aurora cluster: refused, the instance kept.
    let mut env = instance_spec(&w.network, "", SMALL);
    let pg = env.spec.postgres.as_mut().unwrap();
    pg.engine_version = "15.4".into();
    pg.instance = None;
    pg.aurora = Some(plumb_operator::spec::AuroraServerless {
        min_capacity: 0.5,
        max_capacity: 4.0,
        readers: 0,
    });
    w.store(&env).await;
    w.proxy.forget();
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "ReplacementRefused");
    assert!(
        outcome
            .message
            .contains("shop-postgres exists as a db-instance"),
        "{}",
        outcome.message
    );
    assert_eq!(w.rds_writes(), Vec::<String>::new());
    assert_eq!(
        w.instance("shop-postgres").await.db_instance_status(),
        Some("available")
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_change_aws_holds_for_the_window_is_scheduled_not_resent(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&instance_spec(&w.network, "", SMALL)).await;
    w.reconcile_ready().await;

    // AWS (here: the proxy, as moto applies everything at once) holds the new class for the
    // maintenance window.
    let medium =
        "class: db.t3.medium, allocatedStorage: 20, maxAllocatedStorage: 100, storageType: gp3";
    w.store(&instance_spec(&w.network, "", medium)).await;
    w.describe_as_aws(
        true,
        "<PendingModifiedValues><DBInstanceClass>db.t3.medium</DBInstanceClass></PendingModifiedValues>",
    );
    w.proxy.forget();
    for _ in 0..3 {
        let outcome = w.reconcile().await;
        assert_eq!(outcome.reason, "Scheduled", "{}", outcome.message);
        assert!(
            outcome.message.contains("dbInstanceClass"),
            "{}",
            outcome.message
        );
    }
    assert_eq!(w.rds_writes(), Vec::<String>::new());
    let env = w.reconciler.store.get("shop").await.unwrap();
    let status = env.status.unwrap();
    assert_eq!(status.observed_generation, env.metadata.generation);
    let resource = &status.resources["db-instance/shop-postgres"];
    assert_eq!(
        resource.message.as_deref(),
        Some(
            "scheduled for the maintenance window: dbInstanceClass \"db.t3.small\" → \"db.t3.medium\""
        )
    );

    // The window passed: AWS reports the new class and nothing pending.
    w.describe_as_aws(true, "");
    w.clients
        .rds
        .modify_db_instance()
        .db_instance_identifier("shop-postgres")
        .db_instance_class("db.t3.medium")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let outcome = w.reconcile_ready().await;
    assert_eq!(outcome.reason, "Reconciled");
    assert_eq!(w.rds_writes(), Vec::<String>::new());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_busy_instance_is_waited_on_not_written(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&instance_spec(&w.network, "", SMALL)).await;
    w.reconcile_ready().await;
    let mut env = instance_spec(&w.network, "", SMALL);
    env.spec.postgres.as_mut().unwrap().backup_retention_days = 10;
    w.store(&env).await;
    w.proxy.rewrite_text("DescribeDBInstances", |xml| {
        xml.replace(
            "<DBInstanceStatus>available</DBInstanceStatus>",
            "<DBInstanceStatus>backing-up</DBInstanceStatus>",
        )
    });
    w.proxy.forget();
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "Progressing", "{}", outcome.message);
    assert!(outcome.message.contains("RDS reports it backing-up"));
    assert!(outcome.requeue_after_seconds <= 60);
    assert_eq!(w.rds_writes(), Vec::<String>::new());
    w.describe_as_aws(true, "");
    w.reconcile_ready().await;
    assert_eq!(
        w.instance("shop-postgres").await.backup_retention_period(),
        Some(10)
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn deleting_under_retain_leaves_the_database_untagged_and_says_so(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&instance_spec(&w.network, "", SMALL)).await;
    w.reconcile_ready().await;
    w.delete_environment().await;
    assert!(!w.rds_writes().iter().any(|op| op.starts_with("Delete")));

    let db = w.instance("shop-postgres").await;
    assert_eq!(db.db_instance_status(), Some("available"));
    assert_eq!(db.deletion_protection(), Some(true));
    let tags = w.tags(db.db_instance_arn().unwrap()).await;
    assert!(
        !tags.iter().any(|(k, _)| k.starts_with("plumb:")),
        "{tags:?}"
    );
    // Newest first.
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    let last = &events[0];
    assert_eq!(last.action, "Deleted");
    assert!(
        last.message
            .contains("left in place and untagged (deletion: retain): ")
            && last.message.contains("db-instance/shop-postgres")
            && last.message.contains("db-subnet-group/shop-postgres")
            && last.message.contains("db-parameter-group/shop-postgres"),
        "{}",
        last.message
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn deleting_under_delete_takes_a_final_snapshot_first(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&instance_spec(&w.network, "deletion: delete", SMALL))
        .await;
    w.reconcile_ready().await;
    w.delete_environment().await;
    // Protection off only now, then the delete with a final snapshot.
    let writes = w.rds_writes();
    let protection_off = writes.iter().position(|op| op == "ModifyDBInstance");
    let delete = writes.iter().position(|op| op == "DeleteDBInstance");
    assert!(protection_off < delete, "{writes:?}");
    let request = &w.proxy.requests("DeleteDBInstance", |_| true)[0].request;
    let snapshot = request["FinalDBSnapshotIdentifier"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(snapshot.starts_with("shop-postgres-final-"), "{snapshot}");

    let snapshots = w
        .clients
        .rds
        .describe_db_snapshots()
        .db_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.db_snapshots().len(), 1);
    let gone = w
        .clients
        .rds
        .describe_db_instances()
        .db_instance_identifier("shop-postgres")
        .send()
        .await;
    assert!(gone.is_err(), "the instance is gone");
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.message
                == format!("delete db-instance/shop-postgres: final snapshot {snapshot}")),
        "{events:?}"
    );
}

/// An Aurora Serverless v2 cluster whose master password is the secret at `secret_arn`.
fn aurora_spec(net: &Network, secret_arn: &str, policy: &str, aurora: &str) -> Environment {
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  policy: {{{policy}}}
  network:
    subnets: [{s0}, {s1}]
    securityGroups: [{sg}]
  postgres:
    engineVersion: "15.4"
    databaseName: shop
    masterUsername: shop_admin
    masterPassword: {{managed: false, secretArn: "{secret_arn}"}}
    backupRetentionDays: 7
    preferredBackupWindow: "03:00-04:00"
    preferredMaintenanceWindow: "sun:05:00-sun:06:00"
    parameters:
      rds.force_ssl: 1
    aurora: {{{aurora}}}
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    parse_document(&yaml, Format::Yaml).unwrap()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_aurora_cluster_gets_every_field_its_readers_follow_the_spec(pool: PgPool) {
    let w = World::start(pool).await;
    let planted = "aurora-Pl4nted-s3cret";
    let secret = w
        .clients
        .secrets
        .create_secret()
        .name("shop/db-password")
        .secret_string(format!(
            r#"{{"username":"shop_admin","password":"{planted}"}}"#
        ))
        .send()
        .await
        .unwrap();
    let arn = secret.arn().unwrap().to_owned();
    let spec = |policy: &str, aurora: &str| aurora_spec(&w.network, &arn, policy, aurora);
    w.store(&spec(
        "deletion: delete",
        "minCapacity: 0.5, maxCapacity: 4, readers: 1",
    ))
    .await;
    let outcome = w.reconcile_ready().await;

    let cluster = w
        .clients
        .rds
        .describe_db_clusters()
        .db_cluster_identifier("shop-postgres")
        .send()
        .await
        .unwrap()
        .db_clusters()[0]
        .clone();
    assert_eq!(cluster.engine(), Some("aurora-postgresql"));
    assert_eq!(cluster.engine_version(), Some("15.4"));
    let scaling = cluster.serverless_v2_scaling_configuration().unwrap();
    assert_eq!(
        (scaling.min_capacity(), scaling.max_capacity()),
        (Some(0.5), Some(4.0))
    );
    assert_eq!(cluster.backup_retention_period(), Some(7));
    assert_eq!(cluster.preferred_backup_window(), Some("03:00-04:00"));
    assert_eq!(
        cluster.preferred_maintenance_window(),
        Some("sun:05:00-sun:06:00")
    );
    assert_eq!(cluster.deletion_protection(), Some(true));
    assert_eq!(cluster.storage_encrypted(), Some(true));
    assert_eq!(cluster.database_name(), Some("shop"));
    assert_eq!(cluster.master_username(), Some("shop_admin"));
    assert_eq!(cluster.db_subnet_group(), Some("shop-postgres"));
    assert_eq!(cluster.db_cluster_parameter_group(), Some("shop-postgres"));
    let groups: Vec<&str> = cluster
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(groups, [w.network.security_group.as_str()]);
    let mut members: Vec<&str> = cluster
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier())
        .collect();
    members.sort();
    assert_eq!(members, ["shop-postgres-1", "shop-postgres-2"]);
    let writer = w.instance("shop-postgres-1").await;
    assert_eq!(writer.db_instance_class(), Some("db.serverless"));
    assert_eq!(writer.db_cluster_identifier(), Some("shop-postgres"));
    // The password was read from the secret for the create, and is nowhere else.
    let create = &w.proxy.requests("CreateDBCluster", |_| true)[0].request;
    assert_eq!(create["MasterUserPassword"], planted);
    let status = w.reconciler.store.get("shop").await.unwrap();
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    let shown = format!(
        "{}{}{}{events:?}",
        serde_json::to_string(&outcome).unwrap(),
        outcome.plan.render_text(),
        serde_json::to_string(&status).unwrap()
    );
    assert!(!shown.contains(planted));

    // Scaling changes in place; a dropped reader goes (its data is the cluster's).
    w.store(&spec(
        "deletion: delete",
        "minCapacity: 1, maxCapacity: 8, readers: 0",
    ))
    .await;
    w.reconcile_ready().await;
    let cluster = w
        .clients
        .rds
        .describe_db_clusters()
        .db_cluster_identifier("shop-postgres")
        .send()
        .await
        .unwrap()
        .db_clusters()[0]
        .clone();
    let scaling = cluster.serverless_v2_scaling_configuration().unwrap();
    assert_eq!(
        (scaling.min_capacity(), scaling.max_capacity()),
        (Some(1.0), Some(8.0))
    );
    let reader = w
        .clients
        .rds
        .describe_db_instances()
        .db_instance_identifier("shop-postgres-2")
        .send()
        .await;
    assert!(reader.is_err(), "the reader is gone");

    // Settled: 20 sweeps, not one write.
    w.proxy.forget();
    for _ in 0..20 {
        w.reconcile_ready().await;
    }
    assert_eq!(w.rds_writes(), Vec::<String>::new());

    // Deleted with the environment: the instances first, then the cluster with a final
    // snapshot, then its groups.
    w.delete_environment().await;
    let writes = w.rds_writes();
    let position = |op: &str| writes.iter().position(|w| w == op).unwrap();
    assert!(
        position("DeleteDBInstance") < position("DeleteDBCluster"),
        "{writes:?}"
    );
    assert!(
        position("DeleteDBCluster") < position("DeleteDBSubnetGroup"),
        "{writes:?}"
    );
    let request = &w.proxy.requests("DeleteDBCluster", |_| true)[0].request;
    let snapshot = request["FinalDBSnapshotIdentifier"].as_str().unwrap();
    assert!(snapshot.starts_with("shop-postgres-final-"), "{snapshot}");
    let snapshots = w
        .clients
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(snapshot)
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.db_cluster_snapshots().len(), 1);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_database_made_by_hand_is_a_conflict_until_adopted(pool: PgPool) {
    let w = World::start(pool).await;
    w.clients
        .rds
        .create_db_instance()
        .db_instance_identifier("shop-postgres")
        .db_instance_class("db.t3.small")
        .engine("postgres")
        .engine_version("15.10")
        .allocated_storage(20)
        .master_username("admin")
        .manage_master_user_password(true)
        .storage_encrypted(true)
        .backup_retention_period(1)
        .send()
        .await
        .unwrap();
    let mut env = instance_spec(&w.network, "", SMALL);
    env.spec.postgres.as_mut().unwrap().parameters.clear();
    w.store(&env).await;
    w.proxy.forget();
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "Conflict", "{}", outcome.message);
    assert!(!w
        .rds_writes()
        .iter()
        .any(|op| op.contains("DBInstance") || op == "AddTagsToResource"));

    let mut adopt = instance_spec(&w.network, "adopt: true", SMALL);
    adopt.spec.postgres.as_mut().unwrap().parameters.clear();
    w.store(&adopt).await;
    w.reconcile_ready().await;
    let db = w.instance("shop-postgres").await;
    let tags = w.tags(db.db_instance_arn().unwrap()).await;
    assert!(
        tags.contains(&("plumb:environment".into(), "shop".into())),
        "{tags:?}"
    );
    // From then on the fields the spec sets are Plumb's.
    assert_eq!(db.backup_retention_period(), Some(7));
    assert_eq!(db.max_allocated_storage(), Some(100));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_aurora_console_change_is_corrected_and_retain_leaves_the_cluster(pool: PgPool) {
    let w = World::start(pool).await;
    let secret = w
        .clients
        .secrets
        .create_secret()
        .name("shop/db-password")
        .secret_string("Pl4inText-pw")
        .send()
        .await
        .unwrap();
    let arn = secret.arn().unwrap().to_owned();
    let aurora = "minCapacity: 0.5, maxCapacity: 4, readers: 1";
    w.store(&aurora_spec(&w.network, &arn, "", aurora)).await;
    w.reconcile_ready().await;
    let create = &w.proxy.requests("CreateDBCluster", |_| true)[0].request;
    assert_eq!(
        create["MasterUserPassword"], "Pl4inText-pw",
        "a plain secret is the password"
    );

    let backups = || async {
        w.clients
            .rds
            .describe_db_clusters()
            .db_cluster_identifier("shop-postgres")
            .send()
            .await
            .unwrap()
            .db_clusters()[0]
            .backup_retention_period()
    };
    w.clients
        .rds
        .modify_db_cluster()
        .db_cluster_identifier("shop-postgres")
        .backup_retention_period(2)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    w.reconcile_ready().await;
    assert_eq!(backups().await, Some(7));

    w.delete_environment().await;
    assert!(!w.rds_writes().iter().any(|op| op.starts_with("Delete")));
    let cluster = w
        .clients
        .rds
        .describe_db_clusters()
        .db_cluster_identifier("shop-postgres")
        .send()
        .await
        .unwrap()
        .db_clusters()[0]
        .clone();
    assert_eq!(cluster.status(), Some("available"));
    assert_eq!(cluster.db_cluster_members().len(), 2);
    let tags = w.tags(cluster.db_cluster_arn().unwrap()).await;
    assert!(
        !tags.iter().any(|(k, _)| k.starts_with("plumb:")),
        "{tags:?}"
    );
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    for kept in [
        "db-cluster/shop-postgres",
        "db-instance/shop-postgres-1",
        "db-instance/shop-postgres-2",
        "db-cluster-parameter-group/shop-postgres",
        "db-subnet-group/shop-postgres",
    ] {
        assert!(events[0].message.contains(kept), "{}", events[0].message);
    }
}
