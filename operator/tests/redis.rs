//! Redis on moto through the real SDK, with the store in Postgres: an ElastiCache
//! replication group with its cache subnet group and parameter group, created with every
//! field of the spec, changed, corrected, left alone when settled, never replaced without
//! leave, and torn down per the deletion policy.
//!
//! moto 5.2.5 lacks much of ElastiCache (parameter groups, the cache clusters of a
//! replication group, replica counts, deleting for good): a stand-in in the fault proxy
//! answers those as AWS documents them (see `support/elasticache.rs`), and shows what moto
//! never does: a node type held for the maintenance window, a group busy modifying.

#[path = "support/elasticache.rs"]
mod elasticache;
#[path = "support/proxy.rs"]
#[allow(dead_code)] // The lost-answer faults are the rollout tests'.
mod proxy;
mod support;

use elasticache::ElastiCache;
use plumb_operator::aws::{CallCounter, Clients};
use plumb_operator::engine::{Change, Verb};
use plumb_operator::reconcile::{Outcome, Reconciler};
use plumb_operator::spec::{parse_document, Environment, Format};
use plumb_operator::store::Store;
use proxy::Proxy;
use sqlx::PgPool;
use support::{network, xml_value, Moto, Network};

/// The AUTH token the test plants in Secrets Manager.
const TOKEN: &str = "r3dis-AUTH-token-0123456789";

struct World {
    moto: Moto,
    proxy: Proxy,
    cache: ElastiCache,
    reconciler: Reconciler,
    clients: Clients,
    network: Network,
    secret: String,
}

impl World {
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
        let network = network(&moto).await;
        let proxy = Proxy::start(&moto.endpoint).await;
        let cache = ElastiCache::install(&proxy);
        let reconciler = Reconciler::new(
            Store::from_pool(pool),
            proxy.aws_config(),
            CallCounter::new(),
        );
        let clients = moto.clients().await;
        let secret = clients
            .secrets
            .create_secret()
            .name("shop/redis-auth")
            .secret_string(format!(r#"{{"token":"{TOKEN}"}}"#))
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_owned();
        World {
            moto,
            proxy,
            cache,
            reconciler,
            clients,
            network,
            secret,
        }
    }

    fn spec(&self, policy: &str) -> Environment {
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
  redis:
    engineVersion: "7.0"
    nodeType: cache.t3.micro
    replicas: 1
    automaticFailover: true
    multiAz: true
    atRestEncryption: true
    transitEncryption: true
    authTokenSecretArn: {secret}
    parameters:
      maxmemory-policy: allkeys-lru
      timeout: 300
    snapshotRetentionDays: 7
    snapshotWindow: "02:00-03:00"
    maintenanceWindow: "sun:05:00-sun:06:00"
"#,
            s0 = self.network.subnets[0],
            s1 = self.network.subnets[1],
            sg = self.network.security_group,
            secret = self.secret,
        );
        parse_document(&yaml, Format::Yaml).unwrap()
    }

    async fn store(&self, env: &Environment) {
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

    /// Writes Plumb sent to ElastiCache since the proxy last forgot.
    fn writes(&self) -> Vec<String> {
        self.proxy
            .seen()
            .into_iter()
            .map(|s| s.operation)
            .filter(|op| !op.starts_with("Describe") && !op.starts_with("List") && !op.is_empty())
            .filter(|op| op != "GetSecretValue")
            .collect()
    }

    async fn group(&self) -> aws_sdk_elasticache::types::ReplicationGroup {
        let out = self
            .clients
            .elasticache
            .describe_replication_groups()
            .replication_group_id("shop-redis")
            .send()
            .await
            .unwrap();
        out.replication_groups()[0].clone()
    }

    async fn tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .clients
            .elasticache
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

    async fn teardown(&self) -> Outcome {
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
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_replication_group_gets_every_field_of_the_spec_and_a_settled_one_no_writes(
    pool: PgPool,
) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
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
            "cache-subnet-group/shop-redis",
            "cache-parameter-group/shop-redis",
            "replication-group/shop-redis"
        ]
    );

    // What moto keeps of the group.
    let g = w.group().await;
    assert_eq!(g.engine(), Some("redis"));
    assert_eq!(g.cache_node_type(), Some("cache.t3.micro"));
    assert_eq!(g.automatic_failover().map(|s| s.as_str()), Some("enabled"));
    assert_eq!(g.multi_az().map(|s| s.as_str()), Some("enabled"));
    assert_eq!(g.at_rest_encryption_enabled(), Some(true));
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    assert_eq!(g.auth_token_enabled(), Some(true));
    assert_eq!(g.snapshot_retention_limit(), Some(7));
    assert_eq!(g.snapshot_window(), Some("02:00-03:00"));
    let tags = w.tags(g.arn().unwrap()).await;
    assert!(
        tags.contains(&("plumb:environment".into(), "shop".into())),
        "{tags:?}"
    );
    // The request carried what moto drops; the token was read from the secret.
    let create = &w.proxy.requests("CreateReplicationGroup", |_| true)[0].request;
    assert_eq!(create["EngineVersion"], "7.0");
    assert_eq!(create["NumCacheClusters"], "2");
    assert_eq!(create["PreferredMaintenanceWindow"], "sun:05:00-sun:06:00");
    assert_eq!(create["CacheSubnetGroupName"], "shop-redis");
    assert_eq!(create["CacheParameterGroupName"], "shop-redis");
    assert_eq!(
        create["SecurityGroupIds.SecurityGroupId.1"],
        w.network.security_group.as_str()
    );
    assert_eq!(create["AuthToken"], TOKEN);
    let nodes = w.cache.nodes("shop-redis");
    assert_eq!(nodes.clusters, 2);
    assert_eq!(nodes.engine_version, "7.0.7");

    // The subnet group in moto, the parameter group in the stand-in.
    let subnets = w
        .clients
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name("shop-redis")
        .send()
        .await
        .unwrap();
    let mut ids: Vec<&str> = subnets.cache_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .collect();
    ids.sort();
    assert_eq!(ids, [&w.network.subnets[0], &w.network.subnets[1]]);
    let (family, tags) = w.cache.parameter_group("shop-redis").unwrap();
    assert_eq!(family, "redis7");
    assert_eq!(
        tags.get("plumb:environment").map(String::as_str),
        Some("shop")
    );
    let parameters = w.cache.parameters("shop-redis").unwrap();
    assert_eq!(
        parameters.into_iter().collect::<Vec<_>>(),
        [
            ("maxmemory-policy".to_owned(), "allkeys-lru".to_owned()),
            ("timeout".to_owned(), "300".to_owned())
        ]
    );

    // The token is nowhere Plumb writes.
    let stored = w.reconciler.store.get("shop").await.unwrap();
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    let said = format!(
        "{}\n{}\n{:?}",
        serde_json::to_string(&outcome).unwrap(),
        serde_json::to_string(&stored).unwrap(),
        events.iter().map(|e| &e.message).collect::<Vec<_>>()
    );
    assert!(!said.contains(TOKEN));

    // Settled: sweep after sweep, not one write (`7.0` is met by `7.0.7`).
    w.proxy.forget();
    for _ in 0..20 {
        let outcome = w.reconcile_ready().await;
        assert!(outcome.plan.is_noop(), "{}", outcome.plan.render_text());
    }
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn every_mutable_field_of_a_replication_group_is_changed_in_place(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;
    let other = xml_value(
        &w.moto
            .ec2(
                "CreateSecurityGroup",
                &[("GroupName", "cache"), ("GroupDescription", "cache")],
            )
            .await,
        "groupId",
    );

    let mut env = w.spec("");
    let redis = env.spec.redis.as_mut().unwrap();
    redis.node_type = "cache.t3.small".into();
    redis.engine_version = "7.1".into();
    redis.automatic_failover = false;
    redis.multi_az = false;
    redis.snapshot_retention_days = 3;
    redis.snapshot_window = Some("04:00-05:00".into());
    redis.maintenance_window = Some("Mon:07:00-Mon:08:00".into());
    redis.security_groups = Some(vec![other.clone()]);
    redis.parameters.insert("timeout".into(), "600".into());
    w.store(&env).await;
    w.proxy.forget();
    let outcome = w.reconcile().await;
    let plan = outcome.plan.render_text();
    assert!(
        plan.contains("cacheNodeType: \"cache.t3.micro\" → \"cache.t3.small\"  (at the maintenance window; online resize; brief failover"),
        "{plan}"
    );
    // The node type waits for the window (moto applies it at once): one call, with
    // ApplyImmediately=false.
    let modifies = w.proxy.requests("ModifyReplicationGroup", |_| true);
    assert_eq!(modifies.len(), 1);
    let m = &modifies[0].request;
    assert_eq!(m["ApplyImmediately"], "false");
    assert_eq!(m["CacheNodeType"], "cache.t3.small");
    assert_eq!(m["EngineVersion"], "7.1");
    assert_eq!(m["AutomaticFailoverEnabled"], "false");
    assert_eq!(m["MultiAZEnabled"], "false");
    assert_eq!(m["SnapshotRetentionLimit"], "3");
    assert_eq!(m["SnapshotWindow"], "04:00-05:00");
    assert_eq!(m["PreferredMaintenanceWindow"], "Mon:07:00-Mon:08:00");
    assert_eq!(m["SecurityGroupIds.SecurityGroupId.1"], other.as_str());
    assert_eq!(w.cache.parameters("shop-redis").unwrap()["timeout"], "600");
    let g = w.group().await;
    assert_eq!(g.cache_node_type(), Some("cache.t3.small"));
    assert_eq!(g.snapshot_retention_limit(), Some(3));
    assert_eq!(g.multi_az().map(|s| s.as_str()), Some("disabled"));
    let nodes = w.cache.nodes("shop-redis");
    assert_eq!(nodes.engine_version, "7.1.7");
    assert_eq!(nodes.security_groups, [other.as_str()]);
    w.reconcile_ready().await;

    // A replica more: IncreaseReplicaCount, at once as AWS requires.
    let mut env = env.clone();
    env.spec.redis.as_mut().unwrap().replicas = 2;
    w.store(&env).await;
    w.proxy.forget();
    w.reconcile_ready().await;
    let increase = w.proxy.requests("IncreaseReplicaCount", |_| true);
    assert_eq!(increase.len(), 1);
    assert_eq!(increase[0].request["NewReplicaCount"], "2");
    assert_eq!(increase[0].request["ApplyImmediately"], "true");
    assert_eq!(w.cache.nodes("shop-redis").clusters, 3);

    // The window as AWS writes it back (lower case) is the same window: no loop.
    w.cache.change("shop-redis", |n| {
        n.maintenance_window = Some("mon:07:00-mon:08:00".into());
    });
    w.proxy.forget();
    w.reconcile_ready().await;
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_console_change_to_the_group_is_corrected_or_only_reported(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;
    let drift = || async {
        w.clients
            .elasticache
            .modify_replication_group()
            .replication_group_id("shop-redis")
            .snapshot_retention_limit(1)
            .apply_immediately(true)
            .send()
            .await
            .unwrap();
    };
    drift().await;
    w.reconcile_ready().await;
    assert_eq!(w.group().await.snapshot_retention_limit(), Some(7));

    w.store(&w.spec("drift: report")).await;
    w.reconcile_ready().await;
    drift().await;
    w.proxy.forget();
    let outcome = w.reconcile_ready().await;
    assert_eq!(outcome.reason, "Drifted", "{}", outcome.message);
    assert!(outcome.message.contains("replication-group/shop-redis"));
    assert_eq!(w.writes(), Vec::<String>::new());
    assert_eq!(w.group().await.snapshot_retention_limit(), Some(1));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn turning_encryption_at_rest_off_is_refused_and_touches_nothing(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;
    let mut env = w.spec("");
    env.spec.redis.as_mut().unwrap().at_rest_encryption = false;
    w.store(&env).await;
    w.proxy.forget();
    let outcome = w.reconcile().await;
    assert!(!outcome.ready);
    assert_eq!(outcome.reason, "ReplacementRefused");
    assert!(
        outcome
            .message
            .contains("atRestEncryptionEnabled cannot change in place"),
        "{}",
        outcome.message
    );
    let refused = outcome
        .plan
        .actions
        .iter()
        .find(|a| a.resource.to_string() == "replication-group/shop-redis")
        .unwrap();
    assert!(matches!(refused.change, Change::ReplacementRequired { .. }));
    assert_eq!(w.writes(), Vec::<String>::new());
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
    assert_eq!(w.group().await.at_rest_encryption_enabled(), Some(true));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_node_type_aws_holds_for_the_window_is_scheduled_and_a_busy_group_waited_on(
    pool: PgPool,
) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;

    let mut env = w.spec("");
    env.spec.redis.as_mut().unwrap().node_type = "cache.t3.small".into();
    w.store(&env).await;
    w.cache.change("shop-redis", |n| {
        n.pending = (Some("cache.t3.small".into()), None);
    });
    w.proxy.forget();
    for _ in 0..3 {
        let outcome = w.reconcile().await;
        assert_eq!(outcome.reason, "Scheduled", "{}", outcome.message);
        assert!(
            outcome.message.contains("cacheNodeType"),
            "{}",
            outcome.message
        );
    }
    assert_eq!(w.writes(), Vec::<String>::new());

    // The window passed: AWS reports the new type and nothing pending.
    w.cache.change("shop-redis", |n| n.pending = (None, None));
    w.clients
        .elasticache
        .modify_replication_group()
        .replication_group_id("shop-redis")
        .cache_node_type("cache.t3.small")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let outcome = w.reconcile_ready().await;
    assert_eq!(outcome.reason, "Reconciled");
    assert_eq!(w.writes(), Vec::<String>::new());

    // Busy modifying: nothing is written until it is available again.
    let mut env = env.clone();
    env.spec.redis.as_mut().unwrap().snapshot_retention_days = 10;
    w.store(&env).await;
    w.cache
        .change("shop-redis", |n| n.status = Some("modifying".into()));
    w.proxy.forget();
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "Progressing", "{}", outcome.message);
    assert!(outcome.message.contains("ElastiCache reports it modifying"));
    assert_eq!(w.writes(), Vec::<String>::new());
    w.cache.change("shop-redis", |n| n.status = None);
    w.reconcile_ready().await;
    assert_eq!(w.group().await.snapshot_retention_limit(), Some(10));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn deleting_under_retain_leaves_the_cache_untagged_and_says_so(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;
    w.teardown().await;
    assert!(!w.writes().iter().any(|op| op.starts_with("Delete")));
    let g = w.group().await;
    assert_eq!(g.status(), Some("available"));
    let tags = w.tags(g.arn().unwrap()).await;
    assert!(
        !tags.iter().any(|(k, _)| k.starts_with("plumb:")),
        "{tags:?}"
    );
    let (_, tags) = w.cache.parameter_group("shop-redis").unwrap();
    assert!(!tags.keys().any(|k| k.starts_with("plumb:")), "{tags:?}");
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    let last = &events[0];
    assert_eq!(last.action, "Deleted");
    assert!(
        last.message
            .contains("left in place and untagged (deletion: retain): ")
            && last.message.contains("replication-group/shop-redis")
            && last.message.contains("cache-subnet-group/shop-redis")
            && last.message.contains("cache-parameter-group/shop-redis"),
        "{}",
        last.message
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn deleting_under_delete_takes_a_final_snapshot_then_the_groups_go(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("deletion: delete")).await;
    w.reconcile_ready().await;
    w.teardown().await;
    let writes = w.writes();
    let group = writes.iter().position(|op| op == "DeleteReplicationGroup");
    let subnets = writes.iter().position(|op| op == "DeleteCacheSubnetGroup");
    let parameters = writes
        .iter()
        .position(|op| op == "DeleteCacheParameterGroup");
    assert!(
        group.is_some() && group < subnets && group < parameters,
        "{writes:?}"
    );
    let request = &w.proxy.requests("DeleteReplicationGroup", |_| true)[0].request;
    let snapshot = request["FinalSnapshotIdentifier"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(snapshot.starts_with("shop-redis-final-"), "{snapshot}");
    assert_eq!(w.cache.snapshots(), [snapshot.as_str()]);
    assert!(w.cache.nodes("shop-redis").deleted);
    assert!(w.cache.parameters("shop-redis").is_none());
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    assert!(
        events.iter().any(|e| e.message
            == format!("delete replication-group/shop-redis: final snapshot {snapshot}")),
        "{events:?}"
    );
}
