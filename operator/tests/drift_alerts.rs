//! Drift to SNS, end to end on moto through the real SDK with the store in Postgres: the
//! reconciler finds drift and writes the outbox, the sender publishes it, and an SQS queue
//! subscribed to the topic receives what a subscriber would.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plumb_operator::alerts::sender::Sender;
use plumb_operator::alerts::AlertConfig;
use plumb_operator::aws::{CallCounter, ClientPool, Clients};
use plumb_operator::reconcile::Reconciler;
use plumb_operator::spec::{parse_document, Environment, Format};
use plumb_operator::store::Store;
use serde_json::Value;
use sqlx::PgPool;
use support::{network, Moto, Network};
use tokio_util::sync::CancellationToken;

struct World {
    _moto: Moto,
    reconciler: Reconciler,
    sender: Sender,
    clients: Clients,
    network: Network,
    topic: String,
    queue_url: String,
}

impl World {
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
        let network = network(&moto).await;
        let clients = moto.clients().await;
        let (topic, queue_url) = support::subscribed_queue(&clients, "shop-alerts").await;
        let config = AlertConfig {
            quiet_period: Duration::ZERO,
            ..AlertConfig::default()
        };
        let store = Store::from_pool(pool);
        let counter = CallCounter::new();
        let reconciler = Reconciler::new(store.clone(), moto.aws_config(), counter.clone())
            .with_alerts(config.clone());
        let pool = Arc::new(ClientPool::new(moto.aws_config(), counter));
        let sender = Sender::new(store, pool, config);
        World {
            _moto: moto,
            reconciler,
            sender,
            clients,
            network,
            topic,
            queue_url,
        }
    }

    async fn store(&self, env: &Environment) {
        let mut env = env.clone();
        env.metadata.resource_version = None;
        self.reconciler.store.apply(&env, "test").await.unwrap();
    }

    /// One sweep, then everything due sent.
    async fn sweep(&self) {
        let outcome = self.reconciler.reconcile("shop").await.unwrap();
        assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
        self.sender.pass(&CancellationToken::new()).await.unwrap();
    }

    /// The SNS envelopes received so far.
    async fn received(&self) -> Vec<Value> {
        support::drain(&self.clients, &self.queue_url).await
    }
}

fn attribute<'a>(envelope: &'a Value, name: &str) -> &'a str {
    envelope["MessageAttributes"][name]["Value"]
        .as_str()
        .unwrap_or_default()
}

fn message(envelope: &Value) -> Value {
    serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap()
}

fn shop(net: &Network, topic: &str, worker_count: u32, thresholds: &[u32]) -> Environment {
    let alarms: String = thresholds
        .iter()
        .enumerate()
        .map(|(n, t)| {
            format!("      queue-{n}: {{namespace: Shop, metricName: Depth{n}, threshold: {t}}}\n")
        })
        .collect();
    let alarms = if alarms.is_empty() {
        String::new()
    } else {
        format!("  alarms:\n    custom:\n{alarms}")
    };
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  policy: {{drift: report}}
  alerts: {{snsTopicArn: "{topic}"}}
  network:
    subnets: [{s0}, {s1}]
    securityGroups: [{sg}]
  ecs:
    executionRoleArn: arn:aws:iam::123456789012:role/shop-execution
    services:
      worker:
        image: registry.example.com/shop-worker:1
        cpu: 256
        memory: 512
        desiredCount: {worker_count}
{alarms}"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    parse_document(&yaml, Format::Yaml).unwrap()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn one_episode_across_ten_sweeps_is_one_opened_and_one_resolved_message(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&shop(&w.network, &w.topic, 1, &[])).await;
    w.sweep().await;

    w.clients
        .ecs
        .update_service()
        .cluster("shop-cluster")
        .service("shop-worker")
        .desired_count(5)
        .send()
        .await
        .unwrap();
    for _ in 0..5 {
        w.sweep().await;
    }
    // The spec takes the console's value: the episode ends.
    w.store(&shop(&w.network, &w.topic, 5, &[])).await;
    for _ in 0..5 {
        w.sweep().await;
    }

    let received = w.received().await;
    let states: Vec<&str> = received.iter().map(|e| attribute(e, "state")).collect();
    assert_eq!(states, ["opened", "resolved"], "{received:#?}");
    for envelope in &received {
        assert_eq!(attribute(envelope, "environment"), "shop");
        assert_eq!(attribute(envelope, "severity"), "warning");
        assert_eq!(attribute(envelope, "kind"), "ecs-service");
    }
    let opened = &received[0];
    assert!(
        opened["Subject"]
            .as_str()
            .unwrap()
            .starts_with("plumb: shop drifted: ecs-service/shop-worker desiredCount"),
        "{opened}"
    );
    let body = message(opened);
    assert_eq!(body["drift"][0]["desired"], 1);
    assert_eq!(body["drift"][0]["observed"], 5);
    assert_eq!(
        body["drift"][0]["specPath"],
        "ecs.services.worker.desiredCount"
    );
    let resolved = message(&received[1]);
    assert_eq!(resolved["resolution"], "spec-changed");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn thirty_drifts_in_one_sweep_are_one_summary_message(pool: PgPool) {
    let w = World::start(pool).await;
    let thresholds = [10; 30];
    w.store(&shop(&w.network, &w.topic, 1, &thresholds)).await;
    w.sweep().await;
    assert!(w.received().await.is_empty());

    // Every alarm's threshold changed in the console, then one sweep.
    let alarms = w
        .clients
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix("shop-queue-")
        .max_records(100)
        .send()
        .await
        .unwrap();
    let alarms = alarms.metric_alarms();
    assert_eq!(alarms.len(), 30);
    for alarm in alarms {
        let mut put = w
            .clients
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(alarm.alarm_name().unwrap())
            .set_namespace(alarm.namespace().map(str::to_owned))
            .set_metric_name(alarm.metric_name().map(str::to_owned))
            .set_statistic(alarm.statistic().cloned())
            .set_period(alarm.period())
            .set_evaluation_periods(alarm.evaluation_periods())
            .set_comparison_operator(alarm.comparison_operator().cloned())
            .set_treat_missing_data(alarm.treat_missing_data().map(str::to_owned))
            .set_alarm_actions(Some(alarm.alarm_actions().to_vec()))
            .set_ok_actions(Some(alarm.ok_actions().to_vec()))
            .threshold(99.0);
        let tags = w
            .clients
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(alarm.alarm_arn().unwrap())
            .send()
            .await
            .unwrap();
        put = put.set_tags(tags.tags);
        put.send().await.unwrap();
    }
    w.sweep().await;

    let received = w.received().await;
    assert_eq!(received.len(), 1, "{received:#?}");
    let summary = &received[0];
    assert_eq!(attribute(summary, "kind"), "summary");
    assert_eq!(attribute(summary, "state"), "opened");
    let body = message(summary);
    let fields: BTreeMap<String, usize> =
        body["drift"]
            .as_array()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut m, d| {
                *m.entry(d["field"].as_str().unwrap().to_owned())
                    .or_default() += 1;
                m
            });
    assert_eq!(fields, BTreeMap::from([("threshold".to_owned(), 30)]));
    assert_eq!(body["count"], 30);
}
