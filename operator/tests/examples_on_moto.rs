//! Every example in `examples/` reconciles in full on moto through the real SDK (with its
//! PostgreSQL, Redis and RabbitMQ), and a second sweep of each only reads. What moto lacks of
//! ElastiCache (parameter groups, a replication group's nodes) a stand-in in the fault proxy
//! answers, as AWS documents it (`support/elasticache.rs`). The examples name their teams' subnets and secrets; here they
//! get moto's own, and the secrets a value the test plants (and looks for where it must never
//! appear).

#[path = "support/elasticache.rs"]
mod elasticache;
#[path = "support/proxy.rs"]
#[allow(dead_code)] // The lost-answer faults are the rollout tests'.
mod proxy;
mod support;

use std::sync::{Arc, Mutex};

use plumb_operator::aws::CallCounter;
use plumb_operator::engine::ResourceKind;
use plumb_operator::reconcile::Reconciler;
use plumb_operator::spec::{parse_documents, Environment, Network as NetworkSpec};
use plumb_operator::store::Store;
use proxy::Proxy;
use sqlx::PgPool;
use support::{network, Moto};

/// The examples, as moto can hold them: its subnets and security group, its secrets.
async fn examples(moto: &Moto) -> (Vec<Environment>, Vec<String>) {
    let net = network(moto).await;
    let clients = moto.clients().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut envs = Vec::new();
    let mut planted = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        for mut env in parse_documents(&text).unwrap() {
            env.spec.network = Some(NetworkSpec {
                subnets: net.subnets.clone(),
                security_groups: vec![net.security_group.clone()],
                assign_public_ip: false,
            });
            for service in env
                .spec
                .ecs
                .iter_mut()
                .flat_map(|e| e.services.values_mut())
            {
                service.security_groups = None;
            }
            if let Some(redis) = env.spec.redis.as_mut() {
                redis.security_groups = None;
                if let Some(arn) = redis.auth_token_secret_arn.as_mut() {
                    let value = format!("redis-{}-t0ken-Value", env.metadata.name);
                    *arn = secret(&clients, arn, &value).await;
                    planted.push(value);
                }
            }
            if let Some(mq) = env.spec.rabbitmq.as_mut() {
                mq.security_groups = None;
                mq.subnets = None;
                let value = format!("mq-{}-passw0rd-Value", env.metadata.name);
                mq.password_secret_arn = secret(&clients, &mq.password_secret_arn, &value).await;
                planted.push(value);
            }
            if let Some(pg) = env.spec.postgres.as_mut() {
                pg.security_groups = None;
                if let Some(arn) = pg.master_password.secret_arn.as_mut() {
                    let value = format!("pg-{}-s3cret-Value", env.metadata.name);
                    *arn = secret(&clients, arn, &value).await;
                    planted.push(value);
                }
            }
            envs.push(env);
        }
    }
    (envs, planted)
}

/// A secret in moto named as the one `arn` names, holding `value`; its ARN.
async fn secret(clients: &plumb_operator::aws::Clients, arn: &str, value: &str) -> String {
    let name = arn.rsplit(":secret:").next().unwrap();
    // Secrets Manager ARNs end in a random six-character suffix.
    let name = name.rsplit_once('-').map_or(name, |(n, _)| n);
    let out = clients
        .secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    out.arn().unwrap().to_owned()
}

/// Every log line at debug and above (more than a server logs by default), kept.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> Logs {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_writer(move || writer.clone())
            .init();
        logs
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn every_example_reconciles_in_full_and_a_second_sweep_only_reads(pool: PgPool) {
    let logs = Logs::capture();
    let moto = Moto::start().await;
    let (envs, planted) = examples(&moto).await;
    assert!(envs.len() >= 4);
    let proxy = Proxy::start(&moto.endpoint).await;
    elasticache::ElastiCache::install(&proxy);
    // moto never reports PerformanceInsightsEnabled, which AWS always does: the proxy adds
    // what each example asks for.
    let insights: Vec<(String, bool)> = envs
        .iter()
        .filter_map(|e| {
            let pg = e.spec.postgres.as_ref()?;
            pg.instance.as_ref()?;
            Some((
                format!("{}-postgres", e.metadata.name),
                pg.performance_insights,
            ))
        })
        .collect();
    proxy.rewrite_text("DescribeDBInstances", move |xml| {
        insights.iter().fold(xml.to_owned(), |xml, (name, on)| {
            let id = format!("<DBInstanceIdentifier>{name}</DBInstanceIdentifier>");
            xml.replace(
                &id,
                &format!("{id}<PerformanceInsightsEnabled>{on}</PerformanceInsightsEnabled>"),
            )
        })
    });
    let counter = CallCounter::new();
    let reconciler = Reconciler::new(Store::from_pool(pool), proxy.aws_config(), counter);
    for env in &envs {
        let name = env.metadata.name.clone();
        reconciler.store.apply(env, "test").await.unwrap();
        let outcome = reconciler.reconcile(&name).await.unwrap();
        assert!(
            outcome.ready,
            "{name}: {}: {}",
            outcome.reason, outcome.message
        );
        let created = |kind: ResourceKind| {
            outcome
                .applied
                .iter()
                .filter(|a| a.resource.kind == kind)
                .count()
        };
        let services = env.spec.ecs.as_ref().map_or(0, |e| e.services.len());
        assert_eq!(created(ResourceKind::EcsService), services, "{name}");
        if let Some(pg) = &env.spec.postgres {
            let databases = match &pg.aurora {
                Some(aurora) => {
                    created(ResourceKind::DbCluster) + created(ResourceKind::DbInstance)
                        - aurora.readers as usize
                }
                None => created(ResourceKind::DbInstance),
            };
            assert_eq!(databases, if pg.aurora.is_some() { 2 } else { 1 }, "{name}");
        }
        if let Some(redis) = &env.spec.redis {
            assert_eq!(created(ResourceKind::ReplicationGroup), 1, "{name}");
            let parameters = usize::from(!redis.parameters.is_empty());
            assert_eq!(
                created(ResourceKind::CacheParameterGroup),
                parameters,
                "{name}"
            );
        }
        if env.spec.rabbitmq.is_some() {
            assert_eq!(created(ResourceKind::MqBroker), 1, "{name}");
        }
        // A second sweep of the unchanged environment reads each kind in batches, writes
        // nothing, and describes no task definition revision: the services run revisions
        // already seen.
        reconciler.counter.reset();
        let again = reconciler.reconcile(&name).await.unwrap();
        assert!(
            again.ready && again.plan.is_noop(),
            "{name}: {}",
            again.plan.render_text()
        );
        assert_eq!(reconciler.counter.writes(), 0, "{name}");
        assert_eq!(
            reconciler.counter.calls("DescribeTaskDefinition"),
            0,
            "{name}"
        );

        // The planted secret is nowhere Plumb writes.
        let stored = reconciler.store.get(&name).await.unwrap();
        let events = reconciler.store.events(&name, 1000).await.unwrap();
        let said = format!(
            "{}\n{}\n{}\n{:?}",
            serde_json::to_string(&outcome).unwrap(),
            serde_json::to_string(&stored).unwrap(),
            again.plan.render_text(),
            events.iter().map(|e| &e.message).collect::<Vec<_>>()
        );
        for secret in &planted {
            assert!(!said.contains(secret.as_str()), "{name} shows a secret");
        }
    }
    let logged = logs.text();
    assert!(
        logged.contains("CreateDBCluster"),
        "the capture saw the reconciles"
    );
    for secret in &planted {
        assert!(
            !logged.contains(secret.as_str()),
            "a log line shows a secret"
        );
    }
    // The password went to RDS, read from the secret, and only there; so did the AUTH token
    // to ElastiCache and the broker password to Amazon MQ.
    let sent = |op: &str, field: fn(&serde_json::Value) -> &serde_json::Value| {
        proxy
            .requests(op, |_| true)
            .iter()
            .any(|c| planted.iter().any(|p| field(&c.request) == p.as_str()))
    };
    assert!(sent("CreateDBCluster", |r| &r["MasterUserPassword"]));
    assert!(sent("CreateReplicationGroup", |r| &r["AuthToken"]));
    assert!(sent("CreateBroker", |r| &r["users"][0]["password"]));
}
