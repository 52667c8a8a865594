//! Drift found through the CloudTrail event path, end to end on moto with the store in
//! Postgres: a console change, its CloudTrail event through EventBridge into the queue, the
//! consumer, and the reconcile that finds the drift and names who made it; without the
//! queue, polling still finds it.

#[path = "support/events.rs"]
mod events;
mod support;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use plumb_operator::aws::{CallCounter, Clients};
use plumb_operator::cloudtrail::{Config, Consumer, EventOutcome};
use plumb_operator::drift::{DriftRecord, DriftState};
use plumb_operator::reconcile::Reconciler;
use plumb_operator::spec::{parse_document, Environment, Format};
use plumb_operator::store::{DriftFilter, Store};
use sqlx::PgPool;
use support::{network, Moto, Network};

struct World {
    moto: Moto,
    reconciler: Reconciler,
    clients: Clients,
    network: Network,
    events: aws_sdk_eventbridge::Client,
    queue_url: String,
}

impl World {
    /// moto with the rule of the deployment guide sending to a queue.
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
        let network = network(&moto).await;
        let clients = moto.clients().await;
        let queue_url = clients
            .sqs
            .create_queue()
            .queue_name("plumb-events")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let events = events::eventbridge(&moto).await;
        events
            .put_rule()
            .name("plumb-cloudtrail")
            .event_pattern(events::RULE)
            .send()
            .await
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("plumb-events")
            .arn(queue_arn)
            .build()
            .unwrap();
        events
            .put_targets()
            .rule("plumb-cloudtrail")
            .targets(target)
            .send()
            .await
            .unwrap();
        let reconciler = Reconciler::new(
            Store::from_pool(pool),
            moto.aws_config(),
            CallCounter::new(),
        );
        World {
            moto,
            reconciler,
            clients,
            network,
            events,
            queue_url,
        }
    }

    async fn consumer(&self, queue_url: &str) -> Consumer {
        let config = Config {
            wait: Duration::from_secs(1),
            backoff: Duration::from_millis(50),
            ..Config::new(queue_url, events::REGION)
        };
        Consumer::connect(
            self.reconciler.store.clone(),
            &self.moto.aws_config(),
            CallCounter::new(),
            &config,
        )
        .await
        .unwrap()
    }

    async fn reconcile(&self) {
        let outcome = self.reconciler.reconcile("shop").await.unwrap();
        assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
    }

    async fn set_count(&self, count: i32) {
        self.clients
            .ecs
            .update_service()
            .cluster("shop-cluster")
            .service("shop-worker")
            .desired_count(count)
            .send()
            .await
            .unwrap();
    }

    async fn open(&self) -> Vec<DriftRecord> {
        let filter = DriftFilter {
            environment: Some("shop".into()),
            state: Some(DriftState::Open),
            limit: 10,
        };
        self.reconciler.store.drift(&filter).await.unwrap()
    }
}

fn shop(net: &Network) -> Environment {
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  policy: {{drift: report, resyncSeconds: 600}}
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
        desiredCount: 1
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    parse_document(&yaml, Format::Yaml).unwrap()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_console_change_sent_through_eventbridge_names_its_actor_on_the_drift(pool: PgPool) {
    let w = World::start(pool).await;
    w.reconciler
        .store
        .apply(&shop(&w.network), "test")
        .await
        .unwrap();
    w.reconcile().await;
    let consumer = w.consumer(&w.queue_url).await;

    // alice changes the count in the console; CloudTrail's event reaches the queue.
    w.set_count(5).await;
    let detail = events::update_service(
        "shop-cluster",
        "shop-worker",
        events::alice(),
        "203.0.113.7",
    );
    events::put(&w.events, "aws.ecs", &detail).await;
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        outcomes.extend(consumer.poll().await.unwrap());
        if !outcomes.is_empty() {
            break;
        }
    }
    assert_eq!(outcomes, [EventOutcome::Matched]);
    let due = sqlx::query_scalar::<_, bool>(
        "SELECT next_run_at <= now() FROM reconcile_queue WHERE name = 'shop'",
    )
    .fetch_one(w.reconciler.store.pool())
    .await
    .unwrap();
    assert!(due, "the event makes the environment due at once");

    // The reconcile it asks for finds the drift and names alice.
    w.reconcile().await;
    let open = w.open().await;
    assert_eq!(open.len(), 1, "{open:?}");
    let actor = open[0].actor.as_ref().expect("the actor");
    assert_eq!(
        actor.arn.as_deref(),
        Some("arn:aws:iam::123456789012:user/alice")
    );
    assert_eq!(actor.event_name, "UpdateService");
    assert_eq!(actor.source_ip_address.as_deref(), Some("203.0.113.7"));
    assert_eq!(actor.who(), "user/alice");

    // Plumb's own correction and the autoscaler's calls make no drift: nothing else opens.
    w.reconcile().await;
    assert_eq!(w.open().await.len(), 1);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn without_the_event_queue_polling_still_finds_the_drift(pool: PgPool) {
    let w = World::start(pool).await;
    w.reconciler
        .store
        .apply(&shop(&w.network), "test")
        .await
        .unwrap();
    w.reconcile().await;
    let gone = format!("{}/123456789012/no-such-queue", w.moto.endpoint);
    let consumer = w.consumer(&gone).await;
    assert!(consumer.poll().await.is_err(), "the queue is unavailable");

    w.set_count(5).await;
    w.reconcile().await;
    let open = w.open().await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].field, "desiredCount");
    assert_eq!(open[0].actor, None, "no event named anyone");
}
