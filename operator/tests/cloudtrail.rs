//! The CloudTrail event path against moto and Postgres: an EventBridge rule with the pattern
//! of `deploy/eventbridge-rule.json` sends CloudTrail-shaped events to an SQS queue, and the
//! consumer records who changed an environment's resource and makes the environment due.

// Shared with the other moto tests; this one needs only the server and its clients.
#[path = "support/events.rs"]
mod events;
#[allow(dead_code)]
mod support;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Utc};
use events::{alice, eventbridge, update_service, ACCOUNT, REGION, RULE};
use plumb_operator::aws::{caller_identity, CallCounter, CallKey, CallOutcome, Clients};
use plumb_operator::cloudtrail::{self, Config, Consumer, EventOutcome};
use plumb_operator::controller::Queue;
use plumb_operator::drift::Actor;
use plumb_operator::metrics::Metrics;
use plumb_operator::spec::{from_json_value, EnvironmentStatus, ResourceStatus};
use plumb_operator::store::Store;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::Moto;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct World {
    moto: Moto,
    store: Store,
    clients: Clients,
    events: aws_sdk_eventbridge::Client,
    queue_url: String,
    /// The environment `shop`: one ECS service, `api`.
    uid: Uuid,
    metrics: Metrics,
}

impl World {
    /// moto with the queue and the rule that fills it, and the environment `shop` stored.
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
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
        let events = eventbridge(&moto).await;
        events
            .put_rule()
            .name("plumb-cloudtrail")
            .event_pattern(RULE)
            .send()
            .await
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("plumb-events")
            .arn(queue_arn)
            .build()
            .unwrap();
        let put = events
            .put_targets()
            .rule("plumb-cloudtrail")
            .targets(target)
            .send()
            .await
            .unwrap();
        assert_eq!(put.failed_entry_count, 0);

        let store = Store::from_pool(pool);
        let shop = from_json_value(json!({
            "apiVersion": "plumb.dev/v1",
            "kind": "Environment",
            "metadata": {"name": "shop"},
            "spec": {
                "region": REGION,
                "ecs": {"services": {"api": {
                    "image": "registry.example.com/api:1", "cpu": 256, "memory": 512,
                    "desiredCount": 2
                }}}
            }
        }))
        .unwrap();
        let (shop, _) = store.apply(&shop, "test").await.unwrap();
        let world = World {
            moto,
            store,
            clients,
            events,
            queue_url,
            uid: shop.metadata.uid.unwrap(),
            metrics: Metrics::new(CallCounter::new()).unwrap(),
        };
        world.reconciled().await;
        world
    }

    fn config(&self) -> Config {
        Config {
            wait: Duration::from_secs(1),
            backoff: Duration::from_millis(50),
            metrics: Some(self.metrics.clone()),
            ..Config::new(&self.queue_url, REGION)
        }
    }

    async fn consumer(&self) -> Consumer {
        Consumer::connect(
            self.store.clone(),
            &self.moto.aws_config(),
            CallCounter::new(),
            &self.config(),
        )
        .await
        .unwrap()
    }

    /// As after a reconcile: `shop` is next due in an hour.
    async fn reconciled(&self) {
        sqlx::query(
            "UPDATE reconcile_queue SET next_run_at = now() + interval '1 hour' \
             WHERE name = 'shop'",
        )
        .execute(self.store.pool())
        .await
        .unwrap();
    }

    async fn due_now(&self) -> bool {
        let queue = Queue::new(self.store.pool().clone());
        queue.due_in("shop").await.unwrap() == Some(Duration::ZERO)
    }

    /// Sends a CloudTrail event of `name` on `source` through EventBridge.
    async fn put(&self, source: &str, detail: Value) {
        events::put(&self.events, source, &detail).await;
    }

    /// Sends `body` to the queue as it is.
    async fn send_raw(&self, body: &str) {
        self.clients
            .sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// Messages in the queue, visible or being handled.
    async fn queued(&self) -> u64 {
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        out.attributes
            .unwrap()
            .values()
            .map(|n| n.parse::<u64>().unwrap())
            .sum()
    }

    /// (resource, actor) of every `drift_actors` row of `shop`, oldest first.
    async fn actors(&self) -> Vec<(String, Actor)> {
        let rows: Vec<(String, Value)> = sqlx::query_as(
            "SELECT resource, actor FROM drift_actors WHERE environment = 'shop' ORDER BY id",
        )
        .fetch_all(self.store.pool())
        .await
        .unwrap();
        rows.into_iter()
            .map(|(resource, actor)| (resource, serde_json::from_value(actor).unwrap()))
            .collect()
    }

    /// An open drift record of `shop`'s api service, first seen at `first_seen`.
    async fn open_drift(&self, field: &str, first_seen: DateTime<Utc>) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO drift (environment, environment_uid, resource, kind, field, desired, \
                                observed, first_seen, last_seen) \
             VALUES ('shop', $1, 'ecs-service/shop-api', 'ecs-service', $2, '2', '5', $3, $3) \
             RETURNING id",
        )
        .bind(self.uid)
        .bind(field)
        .bind(first_seen)
        .fetch_one(self.store.pool())
        .await
        .unwrap()
    }

    async fn drift_actor(&self, id: i64) -> Option<Actor> {
        let actor: Option<Value> = sqlx::query_scalar("SELECT actor FROM drift WHERE id = $1")
            .bind(id)
            .fetch_one(self.store.pool())
            .await
            .unwrap();
        actor.map(|a| serde_json::from_value(a).unwrap())
    }

    /// `plumb_events_total` by outcome, from /metrics.
    async fn counted(&self, outcome: EventOutcome) -> f64 {
        let text = self.metrics.render(&self.store).await;
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "plumb_events_total"
                    && s.labels.get("outcome") == Some(outcome.as_str())
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                ref other => panic!("{other:?}"),
            })
            .unwrap()
    }
}

/// Outcomes of polls until `n` messages were handled (moto may split a batch).
async fn poll(consumer: &Consumer, n: usize) -> Vec<EventOutcome> {
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        outcomes.extend(consumer.poll().await.unwrap());
        if outcomes.len() >= n {
            break;
        }
    }
    outcomes.sort();
    outcomes
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_persons_change_records_the_actor_and_makes_the_environment_due(pool: PgPool) {
    let w = World::start(pool).await;
    let consumer = w.consumer().await;
    let before = w.open_drift("desiredCount", Utc::now()).await;
    let earlier = w
        .open_drift("taskDefinition", Utc::now() - chrono::Duration::hours(2))
        .await;
    assert!(!w.due_now().await);

    w.put(
        "aws.ecs",
        update_service("shop-cluster", "shop-api", alice(), "203.0.113.7"),
    )
    .await;
    assert_eq!(poll(&consumer, 1).await, [EventOutcome::Matched]);

    let actors = w.actors().await;
    assert_eq!(actors.len(), 1, "{actors:?}");
    let (resource, actor) = &actors[0];
    assert_eq!(resource, "ecs-service/shop-api");
    assert_eq!(
        actor.arn.as_deref(),
        Some("arn:aws:iam::123456789012:user/alice")
    );
    assert_eq!(actor.type_.as_deref(), Some("IAMUser"));
    assert_eq!(actor.source_ip_address.as_deref(), Some("203.0.113.7"));
    assert_eq!(actor.user_agent.as_deref(), Some("aws-cli/2.15.0"));
    assert_eq!(actor.event_name, "UpdateService");
    assert!(w.due_now().await, "an event makes the environment due now");
    // The drift seen after the change gets its actor; one seen before it was someone
    // else's doing.
    assert_eq!(w.drift_actor(before).await.as_ref(), Some(actor));
    assert_eq!(w.drift_actor(earlier).await, None);
    assert_eq!(w.queued().await, 0, "handled messages are deleted");
    assert_eq!(w.counted(EventOutcome::Matched).await, 1.0);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn plumbs_own_calls_and_autoscaling_record_nothing(pool: PgPool) {
    let w = World::start(pool).await;
    let consumer = w.consumer().await;
    let plumb = caller_identity(&w.moto.aws_config(), CallCounter::new())
        .await
        .unwrap();
    let own = json!({"type": "IAMUser", "arn": plumb.arn, "accountId": ACCOUNT});
    w.put(
        "aws.ecs",
        update_service("shop-cluster", "shop-api", own, "198.51.100.4"),
    )
    .await;
    let autoscaling = json!({
        "type": "AssumedRole",
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/\
                        AWSServiceRoleForApplicationAutoScaling_ECSService/AutoScaling"),
        "accountId": ACCOUNT,
        "invokedBy": "ecs.application-autoscaling.amazonaws.com"
    });
    w.put(
        "aws.ecs",
        update_service(
            "shop-cluster",
            "shop-api",
            autoscaling,
            "ecs.application-autoscaling.amazonaws.com",
        ),
    )
    .await;

    assert_eq!(
        poll(&consumer, 2).await,
        [EventOutcome::Own, EventOutcome::AwsService]
    );
    assert_eq!(w.actors().await, []);
    assert!(!w.due_now().await);
    assert_eq!(w.queued().await, 0);
    assert_eq!(w.counted(EventOutcome::Own).await, 1.0);
    assert_eq!(w.counted(EventOutcome::AwsService).await, 1.0);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn garbage_and_foreign_events_are_deleted_and_counted(pool: PgPool) {
    let w = World::start(pool).await;
    let consumer = w.consumer().await;
    w.send_raw("garbage").await;
    w.send_raw(&"{".repeat(5000)).await;
    w.put(
        "aws.ecs",
        update_service("other-cluster", "other-api", alice(), "203.0.113.7"),
    )
    .await;
    // Plumb's service name in someone else's cluster is not Plumb's service.
    w.put(
        "aws.ecs",
        update_service("other-cluster", "shop-api", alice(), "203.0.113.7"),
    )
    .await;

    assert_eq!(
        poll(&consumer, 4).await,
        [
            EventOutcome::Foreign,
            EventOutcome::Foreign,
            EventOutcome::Unparseable,
            EventOutcome::Unparseable
        ]
    );
    assert_eq!(w.actors().await, []);
    assert!(!w.due_now().await);
    assert_eq!(w.queued().await, 0, "every message is deleted");
    assert_eq!(w.counted(EventOutcome::Unparseable).await, 2.0);
    assert_eq!(w.counted(EventOutcome::Foreign).await, 2.0);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn the_rule_sends_no_reads_and_no_calls_that_change_nothing_managed(pool: PgPool) {
    let w = World::start(pool).await;
    let consumer = w.consumer().await;
    let mut describe = update_service("shop-cluster", "shop-api", alice(), "203.0.113.7");
    describe["eventName"] = json!("DescribeServices");
    describe["readOnly"] = json!(true);
    w.put("aws.ecs", describe).await;
    let mut run_task = update_service("shop-cluster", "shop-api", alice(), "203.0.113.7");
    run_task["eventName"] = json!("RunTask");
    w.put("aws.ecs", run_task).await;
    let mut ec2 = update_service("shop-cluster", "shop-api", alice(), "203.0.113.7");
    ec2["eventSource"] = json!("ec2.amazonaws.com");
    ec2["eventName"] = json!("TerminateInstances");
    w.put("aws.ec2", ec2).await;

    assert_eq!(consumer.poll().await.unwrap(), []);
    assert_eq!(w.queued().await, 0);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_mq_event_finds_the_broker_by_the_id_its_arn_ends_with(pool: PgPool) {
    let w = World::start(pool).await;
    let broker_id = "b-1234a5b6-78cd-901e-2f34-3a45b6c178d9";
    let status = EnvironmentStatus {
        resources: [(
            "mq-broker/shop-rabbitmq".to_owned(),
            ResourceStatus {
                kind: "mq-broker".to_owned(),
                arn: Some(format!(
                    "arn:aws:mq:{REGION}:{ACCOUNT}:broker:shop-rabbitmq:{broker_id}"
                )),
                ..ResourceStatus::default()
            },
        )]
        .into(),
        ..EnvironmentStatus::default()
    };
    assert!(w.store.write_status("shop", w.uid, &status).await.unwrap());
    let consumer = w.consumer().await;
    let detail = |id: &str| {
        json!({
            "userIdentity": alice(),
            "eventTime": Utc::now().to_rfc3339(),
            "eventSource": "amazonmq.amazonaws.com",
            "eventName": "UpdateBroker",
            "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": {"brokerId": id, "hostInstanceType": "mq.m5.large"},
            "readOnly": false,
            "recipientAccountId": ACCOUNT
        })
    };
    w.put("aws.amazonmq", detail(broker_id)).await;
    w.put(
        "aws.amazonmq",
        detail("b-00000000-0000-0000-0000-000000000000"),
    )
    .await;

    assert_eq!(
        poll(&consumer, 2).await,
        [EventOutcome::Matched, EventOutcome::Foreign]
    );
    let actors = w.actors().await;
    assert_eq!(actors.len(), 1, "{actors:?}");
    assert_eq!(actors[0].0, "mq-broker/shop-rabbitmq");
    assert_eq!(actors[0].1.event_name, "UpdateBroker");
    assert!(w.due_now().await);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_missing_queue_makes_the_consumer_back_off_until_cancelled(pool: PgPool) {
    let w = World::start(pool).await;
    let counter = CallCounter::new();
    let config = Config {
        queue_url: format!("{}/{ACCOUNT}/no-such-queue", w.moto.endpoint),
        ..w.config()
    };
    let cancel = CancellationToken::new();
    let consumer = tokio::spawn(cloudtrail::run(
        w.store.clone(),
        w.moto.aws_config(),
        counter.clone(),
        config,
        cancel.clone(),
    ));
    let failed: CallKey = (
        "SQS".to_owned(),
        "ReceiveMessage".to_owned(),
        CallOutcome::Error.as_str().to_owned(),
    );
    let mut attempts = 0;
    for _ in 0..200 {
        attempts = counter.snapshot().get(&failed).copied().unwrap_or(0);
        if attempts >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(attempts >= 3, "retried {attempts} times");
    assert!(!consumer.is_finished(), "the consumer keeps trying");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), consumer)
        .await
        .expect("stops once cancelled")
        .expect("ends without panicking");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_message_the_database_refuses_comes_back_then_is_dropped_as_failed(pool: PgPool) {
    let w = World::start(pool).await;
    // Every delivery is visible again at once, and recording any actor fails.
    w.clients
        .sqs
        .set_queue_attributes()
        .queue_url(&w.queue_url)
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .send()
        .await
        .unwrap();
    sqlx::query("ALTER TABLE drift_actors RENAME TO drift_actors_elsewhere")
        .execute(w.store.pool())
        .await
        .unwrap();
    let consumer = w.consumer().await;
    w.put(
        "aws.ecs",
        update_service("shop-cluster", "shop-api", alice(), "203.0.113.7"),
    )
    .await;

    for delivery in 1..cloudtrail::consumer::MAX_RECEIVES {
        let refused = consumer.poll().await;
        assert!(
            matches!(refused, Err(cloudtrail::ConsumerError::Store(_))),
            "delivery {delivery}: {refused:?}"
        );
        assert_eq!(w.queued().await, 1, "kept for another delivery");
    }
    assert_eq!(consumer.poll().await.unwrap(), [EventOutcome::Failed]);
    assert_eq!(w.queued().await, 0);
    assert_eq!(w.counted(EventOutcome::Failed).await, 1.0);
    assert!(
        !w.due_now().await,
        "the transaction that failed requested nothing"
    );
}
