//! The alert sender against moto server through the real SDK, with the outbox in Postgres:
//! each topic is subscribed by an SQS queue, and what the queue receives (the SNS envelope:
//! subject, message, message attributes) is what subscribers get.

// Shared with the other moto tests; this one needs only the server.
#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use plumb_operator::alerts::message::Context;
use plumb_operator::alerts::sender::{self, Delivery, Sender, Stepped, STALLED};
use plumb_operator::alerts::{AlertConfig, NewAlert};
use plumb_operator::aws::{clients_for, AwsConfig, CallCounter, ClientPool, Clients};
use plumb_operator::drift::{Finding, RecordRef, Resolution, Tracked};
use plumb_operator::metrics::Metrics;
use plumb_operator::spec::{Alerts, DriftPolicy, SeverityTopics};
use plumb_operator::store::{OutboxAlert, Store};
use serde_json::{json, Value};
use sqlx::PgPool;
use support::Moto;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// moto's account.
const ACCOUNT: &str = "123456789012";
/// The reason a row without a topic is kept unsent.
const NO_TOPIC: &str = "no topic: set spec.alerts or --alerts-topic-arn";

struct World {
    moto: Moto,
    store: Store,
    /// The test's own clients in us-east-1.
    clients: Clients,
}

/// A topic and the queue subscribed to it.
struct Topic {
    arn: String,
    queue_url: String,
    clients: Clients,
}

impl World {
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
        let clients = moto.clients().await;
        World {
            moto,
            store: Store::from_pool(pool),
            clients,
        }
    }

    /// How the sender reaches moto: roles only in moto's own account.
    fn aws_config(&self) -> AwsConfig {
        AwsConfig {
            allowed_accounts: [ACCOUNT.to_owned()].into(),
            ..self.moto.aws_config()
        }
    }

    fn sender(&self, default_topic: Option<&str>) -> Sender {
        self.sender_with(self.aws_config(), default_topic)
    }

    fn sender_with(&self, aws: AwsConfig, default_topic: Option<&str>) -> Sender {
        let config = AlertConfig {
            default_topic: default_topic.map(str::to_owned),
            ..AlertConfig::default()
        };
        let clients = Arc::new(ClientPool::new(aws, CallCounter::new()));
        Sender::new(self.store.clone(), clients, config)
    }

    /// A topic named `name` in us-east-1, with a queue subscribed.
    async fn topic(&self, name: &str) -> Topic {
        self.topic_in(name, self.clients.clone()).await
    }

    /// A topic and its queue made with `clients` (their region).
    async fn topic_in(&self, name: &str, clients: Clients) -> Topic {
        let (arn, queue_url) = support::subscribed_queue(&clients, name).await;
        Topic {
            arn,
            queue_url,
            clients,
        }
    }

    async fn enqueue(&self, alert: &NewAlert) -> i64 {
        self.store.enqueue_alert(alert, &[]).await.expect("enqueue")
    }

    async fn row(&self, id: i64) -> OutboxAlert {
        self.store
            .alert(id)
            .await
            .expect("read the outbox")
            .expect("the row")
    }

    /// Seconds until the row is due, by the database's clock.
    async fn due_in(&self, id: i64) -> f64 {
        sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM not_before - now())::double precision \
             FROM alert_outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_one(self.store.pool())
        .await
        .expect("not_before")
    }

    /// Makes the row due now, as if its wait were over.
    async fn make_due(&self, id: i64) {
        sqlx::query("UPDATE alert_outbox SET not_before = now() WHERE id = $1")
            .bind(id)
            .execute(self.store.pool())
            .await
            .expect("make due");
    }
}

impl Topic {
    /// Every SNS envelope the queue holds now (each removed from it).
    async fn received(&self) -> Vec<Value> {
        support::drain(&self.clients, &self.queue_url).await
    }
}

fn config(quiet_period: Duration) -> AlertConfig {
    AlertConfig {
        quiet_period,
        ..AlertConfig::default()
    }
}

fn spec_alerts(topic: &str) -> Alerts {
    Alerts {
        sns_topic_arn: topic.to_owned(),
        topics: SeverityTopics::default(),
    }
}

/// How `env`'s alerts are worded and addressed.
fn context<'a>(env: &'a str, alerts: Option<&'a Alerts>, config: &'a AlertConfig) -> Context<'a> {
    Context {
        environment: env,
        environment_uid: Uuid::new_v4(),
        alerts,
        role_arn: None,
        external_id: None,
        policy: DriftPolicy::Report,
        config,
        now: Utc::now(),
    }
}

fn finding(env: &str, field: &str, desired: i64, observed: i64) -> Finding {
    Finding {
        resource: format!("ecs-service/{env}-api"),
        kind: "ecs-service".to_owned(),
        field: field.to_owned(),
        spec_path: Some(format!("ecs.services.api.{field}")),
        desired: Some(json!(desired)),
        observed: Some(json!(observed)),
        stateful: false,
    }
}

/// The `opened` alert of `findings` (all of one resource).
fn opened(cx: &Context<'_>, findings: Vec<Finding>) -> NewAlert {
    let resource = findings[0].resource.clone();
    let group = findings
        .into_iter()
        .enumerate()
        .map(|(n, f)| (RecordRef::New(n), f))
        .collect();
    let tracked = Tracked {
        opened: BTreeMap::from([(resource, group)]),
        ..Tracked::default()
    };
    let mut alerts = cx.drift_alerts(&tracked);
    assert_eq!(alerts.len(), 1);
    alerts.remove(0).alert
}

/// The `resolved` alert of `findings`, corrected after one flap.
fn resolved(cx: &Context<'_>, findings: Vec<Finding>) -> NewAlert {
    let resource = findings[0].resource.clone();
    let group = findings
        .into_iter()
        .enumerate()
        .map(|(n, f)| (RecordRef::Existing(n as i64 + 1), f, Resolution::Corrected))
        .collect();
    let tracked = Tracked {
        resolved: BTreeMap::from([(resource.clone(), group)]),
        flapped: BTreeMap::from([(resource, vec![1])]),
        ..Tracked::default()
    };
    let mut alerts = cx.drift_alerts(&tracked);
    assert_eq!(alerts.len(), 1);
    alerts.remove(0).alert
}

/// The envelope's message attributes as name → (type, value).
fn attributes(envelope: &Value) -> BTreeMap<String, (String, String)> {
    envelope["MessageAttributes"]
        .as_object()
        .expect("message attributes")
        .iter()
        .map(|(name, a)| {
            let text = |key: &str| a[key].as_str().expect(key).to_owned();
            (name.clone(), (text("Type"), text("Value")))
        })
        .collect()
}

fn string_attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, (String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), ("String".to_owned(), (*v).to_owned())))
        .collect()
}

/// Steps until no row may go; what each step did.
async fn steps(sender: &Sender) -> Vec<Stepped> {
    let mut out = Vec::new();
    while let Some(stepped) = sender.step().await.expect("step") {
        out.push(stepped);
    }
    out
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn every_alert_reaches_its_topic_once_with_its_subject_body_and_attributes(pool: PgPool) {
    let world = World::start(pool).await;
    let topic = world.topic("shop-alerts").await;
    let alerts = spec_alerts(&topic.arn);
    let config = config(Duration::ZERO);
    let cx = context("shop", Some(&alerts), &config);
    let drift = || vec![finding("shop", "desiredCount", 2, 5)];
    let written = [
        opened(&cx, drift()),
        resolved(&cx, drift()),
        cx.degraded("ECS DescribeServices: throttled"),
    ];
    let mut ids = Vec::new();
    for alert in &written {
        ids.push(world.enqueue(alert).await);
    }

    let sender = world.sender(None);
    let handled = sender
        .pass(&CancellationToken::new())
        .await
        .expect("a pass");
    assert_eq!(handled, 3);

    let received = topic.received().await;
    assert_eq!(received.len(), 3, "{received:#?}");
    let mut by_subject: BTreeMap<&str, &Value> = BTreeMap::new();
    for envelope in &received {
        let subject = envelope["Subject"].as_str().expect("a subject");
        assert!(
            by_subject.insert(subject, envelope).is_none(),
            "{subject} twice"
        );
    }
    for (alert, id) in written.iter().zip(&ids) {
        let envelope = by_subject
            .get(alert.subject.as_str())
            .unwrap_or_else(|| panic!("{} not received", alert.subject));
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["TopicArn"], topic.arn.as_str());
        let message: Value =
            serde_json::from_str(envelope["Message"].as_str().expect("message text"))
                .expect("the message is JSON");
        assert_eq!(message, alert.body);
        assert_eq!(
            attributes(envelope),
            string_attributes(&[
                ("environment", "shop"),
                ("severity", "warning"),
                ("kind", &alert.kind),
                ("state", alert.state.as_str()),
            ])
        );
        let row = world.row(*id).await;
        assert!(row.sent_at.is_some(), "{row:?}");
        assert_eq!(row.message_id.as_deref(), envelope["MessageId"].as_str());
        assert_eq!(row.attempts, 1);
        assert_eq!(row.last_error, None);
    }
    assert_eq!(written[1].body["flaps"], 1);
    assert_eq!(written[2].kind, "aws");

    // In id order, one environment's alerts to one topic.
    let sent: Vec<_> = futures::future::join_all(ids.iter().map(|id| world.row(*id)))
        .await
        .into_iter()
        .map(|row| row.sent_at.expect("sent"))
        .collect();
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "{sent:?}");

    assert_eq!(sender.pass(&CancellationToken::new()).await.unwrap(), 0);
    assert!(topic.received().await.is_empty(), "each alert once");
    assert_eq!(world.store.alerts_pending().await.unwrap(), 0);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_alert_not_yet_due_waits_and_a_withdrawn_one_is_never_sent(pool: PgPool) {
    let world = World::start(pool).await;
    let topic = world.topic("shop-alerts").await;
    let alerts = spec_alerts(&topic.arn);
    let config = config(Duration::from_secs(300));
    let cx = context("shop", Some(&alerts), &config);
    // A resolve waits out the quiet period; another is withdrawn in it (the drift came back).
    let waiting = world
        .enqueue(&resolved(&cx, vec![finding("shop", "desiredCount", 2, 5)]))
        .await;
    let withdrawn = world
        .enqueue(&resolved(&cx, vec![finding("shop", "cpu", 256, 512)]))
        .await;
    sqlx::query("UPDATE alert_outbox SET cancelled_at = now(), not_before = now() WHERE id = $1")
        .bind(withdrawn)
        .execute(world.store.pool())
        .await
        .unwrap();
    let due_in = world.due_in(waiting).await;
    assert!((299.0..=300.0).contains(&due_in), "{due_in}");

    let sender = world.sender(None);
    assert_eq!(steps(&sender).await, []);
    assert!(topic.received().await.is_empty());
    assert_eq!(world.store.alerts_pending().await.unwrap(), 1);
    let next = world
        .store
        .next_alert_due()
        .await
        .unwrap()
        .expect("one waits");
    assert!(next > Duration::from_secs(298), "{next:?}");

    // Its quiet period over, the waiting one goes; the withdrawn one never does.
    world.make_due(waiting).await;
    assert_eq!(
        steps(&sender).await,
        [Stepped {
            alert: waiting,
            delivery: Delivery::Sent
        }]
    );
    let received = topic.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(attributes(&received[0])["state"].1, "resolved");
    let row = world.row(withdrawn).await;
    assert_eq!((row.sent_at, row.attempts), (None, 0));
    assert_eq!(world.store.next_alert_due().await.unwrap(), None);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_topic_that_does_not_exist_is_retried_slowly_and_holds_back_the_next_alert(pool: PgPool) {
    let world = World::start(pool).await;
    let missing = format!("arn:aws:sns:us-east-1:{ACCOUNT}:shop-pager");
    let alerts = spec_alerts(&missing);
    let config = config(Duration::ZERO);
    let cx = context("shop", Some(&alerts), &config);
    let drift = || vec![finding("shop", "desiredCount", 2, 5)];
    let first = world.enqueue(&opened(&cx, drift())).await;
    let metrics = Metrics::new(CallCounter::new()).unwrap();
    let sender = world.sender(None).with_metrics(metrics.clone());

    assert_eq!(
        steps(&sender).await,
        [Stepped {
            alert: first,
            delivery: Delivery::Failed
        }]
    );
    let row = world.row(first).await;
    assert_eq!((row.sent_at, row.attempts), (None, 1));
    let error = row.last_error.expect("the error is kept");
    assert!(
        error.contains("Publish") && error.contains("NotFound"),
        "{error}"
    );
    let due_in = world.due_in(first).await;
    let stalled = STALLED.as_secs_f64();
    assert!((stalled - 60.0..=stalled).contains(&due_in), "{due_in}");

    // The resolve that follows waits for the opened one, due or not.
    let second = world.enqueue(&resolved(&cx, drift())).await;
    assert_eq!(steps(&sender).await, []);

    // The topic is made: the next try gets through, and the resolve after it.
    let topic = world.topic("shop-pager").await;
    assert_eq!(topic.arn, missing);
    world.make_due(first).await;
    let stepped = steps(&sender).await;
    let order: Vec<i64> = stepped.iter().map(|s| s.alert).collect();
    assert_eq!(order, [first, second]);
    assert!(stepped.iter().all(|s| s.delivery == Delivery::Sent));
    let row = world.row(first).await;
    assert!(row.sent_at.is_some());
    assert_eq!(row.attempts, 2);
    assert!(row.last_error.is_some(), "the failure stays on record");
    let states: Vec<String> = topic
        .received()
        .await
        .iter()
        .map(|e| attributes(e)["state"].1.clone())
        .collect();
    assert_eq!(states.len(), 2);
    assert_eq!(
        states.into_iter().collect::<BTreeSet<_>>(),
        ["opened".to_owned(), "resolved".to_owned()].into()
    );

    let text = metrics.render(&world.store).await;
    for line in [
        "plumb_alerts_sent_total{result=\"failed\",state=\"opened\"} 1",
        "plumb_alerts_sent_total{result=\"sent\",state=\"opened\"} 1",
        "plumb_alerts_sent_total{result=\"sent\",state=\"resolved\"} 1",
        "plumb_alerts_pending 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_failure_that_may_pass_is_retried_after_five_seconds_then_ten(pool: PgPool) {
    let world = World::start(pool).await;
    let topic = world.topic("shop-alerts").await;
    let alerts = spec_alerts(&topic.arn);
    let config = config(Duration::ZERO);
    let cx = context("shop", Some(&alerts), &config);
    let id = world
        .enqueue(&opened(&cx, vec![finding("shop", "desiredCount", 2, 5)]))
        .await;
    // SNS unreachable: nothing listens on the endpoint's port.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = AwsConfig {
        endpoint_url: Some(format!("http://127.0.0.1:{closed}")),
        max_attempts: 1,
        ..world.aws_config()
    };
    let sender = world.sender_with(unreachable, None);

    for (attempts, wait) in [(1, 5.0), (2, 10.0)] {
        let stepped = steps(&sender).await;
        assert_eq!(stepped.len(), 1);
        assert_eq!(stepped[0].delivery, Delivery::Failed);
        let row = world.row(id).await;
        assert_eq!(row.attempts, attempts);
        let error = row.last_error.expect("the error is kept");
        assert!(error.contains("could not reach AWS"), "{error}");
        let due_in = world.due_in(id).await;
        assert!(
            (wait - 2.0..=wait).contains(&due_in),
            "{attempts}: {due_in}"
        );
        world.make_due(id).await;
    }

    // Reachable again: sent.
    let stepped = steps(&world.sender(None)).await;
    assert_eq!(stepped[0].delivery, Delivery::Sent);
    assert_eq!(topic.received().await.len(), 1);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_alert_with_no_topic_is_marked_and_never_retried(pool: PgPool) {
    let world = World::start(pool).await;
    let config = config(Duration::ZERO);
    let cx = context("shop", None, &config);
    let id = world.enqueue(&cx.degraded("ECS: 503")).await;
    let metrics = Metrics::new(CallCounter::new()).unwrap();
    let sender = world.sender(None).with_metrics(metrics.clone());

    assert_eq!(
        steps(&sender).await,
        [Stepped {
            alert: id,
            delivery: Delivery::NoTopic
        }]
    );
    let row = world.row(id).await;
    assert_eq!(row.last_error.as_deref(), Some(NO_TOPIC));
    assert!(row.unsendable_at.is_some());
    assert_eq!((row.sent_at, row.attempts), (None, 0));

    // Not even when it would be due again.
    world.make_due(id).await;
    assert_eq!(steps(&sender).await, []);
    assert_eq!(world.store.alerts_pending().await.unwrap(), 0);
    let text = metrics.render(&world.store).await;
    let line = "plumb_alerts_sent_total{result=\"no-topic\",state=\"degraded\"} 1";
    assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn the_server_topic_is_reached_in_its_region_with_plumbs_own_credentials(pool: PgPool) {
    let world = World::start(pool).await;
    let ireland = clients_for(
        &world.moto.aws_config(),
        "eu-west-1",
        None,
        CallCounter::new(),
    )
    .await
    .unwrap();
    let topic = world.topic_in("plumb-alerts", ireland).await;
    assert!(
        topic.arn.starts_with("arn:aws:sns:eu-west-1:"),
        "{}",
        topic.arn
    );
    let config = config(Duration::ZERO);
    // The environment's role is for topics of its own: this one is outside the allowed
    // accounts, and using it would be refused.
    let cx = Context {
        role_arn: Some("arn:aws:iam::222222222222:role/shop"),
        external_id: Some("shop-external"),
        ..context("shop", None, &config)
    };
    let alert = opened(&cx, vec![finding("shop", "desiredCount", 2, 5)]);
    assert_eq!(alert.topic_arn, None);
    let id = world.enqueue(&alert).await;

    let stepped = steps(&world.sender(Some(&topic.arn))).await;
    assert_eq!(
        stepped[0].delivery,
        Delivery::Sent,
        "{:?}",
        world.row(id).await
    );
    let received = topic.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["Subject"], alert.subject.as_str());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_environments_own_topic_is_reached_through_its_role_if_its_account_is_allowed(
    pool: PgPool,
) {
    let world = World::start(pool).await;
    let topic = world.topic("shop-alerts").await;
    let alerts = spec_alerts(&topic.arn);
    let config = config(Duration::ZERO);
    let drift = || vec![finding("shop", "desiredCount", 2, 5)];
    let allowed = Context {
        role_arn: Some("arn:aws:iam::123456789012:role/shop"),
        external_id: Some("shop-external"),
        ..context("shop", Some(&alerts), &config)
    };
    let ok = world.enqueue(&opened(&allowed, drift())).await;
    let foreign = Context {
        role_arn: Some("arn:aws:iam::222222222222:role/shop"),
        ..context("elsewhere", Some(&alerts), &config)
    };
    let refused = world.enqueue(&opened(&foreign, drift())).await;

    let sender = world.sender(None);
    let stepped: BTreeMap<i64, Delivery> = steps(&sender)
        .await
        .into_iter()
        .map(|s| (s.alert, s.delivery))
        .collect();
    assert_eq!(
        stepped,
        [(ok, Delivery::Sent), (refused, Delivery::Failed)].into()
    );
    let received = topic.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(attributes(&received[0])["environment"].1, "shop");
    let row = world.row(refused).await;
    let error = row.last_error.expect("the refusal is kept");
    assert!(error.contains("--allowed-accounts"), "{error}");
    let due_in = world.due_in(refused).await;
    assert!(due_in > STALLED.as_secs_f64() - 60.0, "{due_in}");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_publish_whose_mark_was_not_committed_is_sent_again_once(pool: PgPool) {
    let world = World::start(pool).await;
    let topic = world.topic("shop-alerts").await;
    let alerts = spec_alerts(&topic.arn);
    let config = config(Duration::ZERO);
    let cx = context("shop", Some(&alerts), &config);
    let alert = opened(&cx, vec![finding("shop", "desiredCount", 2, 5)]);
    let id = world.enqueue(&alert).await;
    let sender = world.sender(None);

    // Published, then the sender dies before its mark commits.
    let claim = world.store.claim_alert().await.unwrap().expect("due");
    assert_eq!(claim.alert().id, id);
    let first = sender.publish(claim.alert()).await.expect("published");
    drop(claim);
    let row = world.row(id).await;
    assert_eq!((row.sent_at, row.attempts), (None, 0), "rolled back");

    // The next pass sends it again, and marks it; then it is done.
    let again = sender.pass(&CancellationToken::new()).await.unwrap();
    assert_eq!(again, 1);
    assert_eq!(sender.pass(&CancellationToken::new()).await.unwrap(), 0);
    let received = topic.received().await;
    assert_eq!(received.len(), 2, "one repeat, nothing lost");
    for envelope in &received {
        assert_eq!(envelope["Subject"], alert.subject.as_str());
        let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        assert_eq!(message, alert.body);
    }
    let row = world.row(id).await;
    assert!(row.sent_at.is_some());
    assert_eq!(row.attempts, 1);
    let ids: BTreeSet<&str> = received
        .iter()
        .map(|e| e["MessageId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(first.as_str()));
    assert!(ids.contains(row.message_id.as_deref().unwrap()));
    assert_ne!(row.message_id.as_deref(), Some(first.as_str()));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn two_senders_at_once_send_each_alert_once_in_order_per_environment(pool: PgPool) {
    let world = World::start(pool).await;
    let topic = world.topic("fleet-alerts").await;
    let alerts = spec_alerts(&topic.arn);
    let config = config(Duration::ZERO);

    let shutdown = CancellationToken::new();
    let mut running = Vec::new();
    for _ in 0..2 {
        let clients = Arc::new(ClientPool::new(world.aws_config(), CallCounter::new()));
        running.push(tokio::spawn(sender::run(
            world.store.clone(),
            clients,
            AlertConfig::default(),
            None,
            shutdown.clone(),
        )));
    }

    // Written while both run: the notifications wake them.
    let environments = ["shop", "blog", "cart"];
    let mut written: BTreeMap<i64, (String, String)> = BTreeMap::new();
    for round in 0..6 {
        for env in environments {
            let cx = context(env, Some(&alerts), &config);
            let field = format!("field{round}");
            let alert = opened(&cx, vec![finding(env, &field, round, round + 1)]);
            let id = world.enqueue(&alert).await;
            written.insert(id, (env.to_owned(), alert.subject));
        }
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while world.store.alerts_pending().await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alerts still unsent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    for task in running {
        task.await.expect("the sender stops cleanly");
    }

    let mut subjects: BTreeMap<String, usize> = BTreeMap::new();
    for envelope in topic.received().await {
        let subject = envelope["Subject"].as_str().unwrap().to_owned();
        *subjects.entry(subject).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = written.values().map(|(_, s)| (s.clone(), 1)).collect();
    assert_eq!(subjects, expected, "each alert exactly once");

    for env in environments {
        let mut sent = Vec::new();
        for (id, (e, _)) in &written {
            if e == env {
                sent.push(world.row(*id).await.sent_at.expect("sent"));
            }
        }
        assert!(sent.windows(2).all(|w| w[0] < w[1]), "{env}: {sent:?}");
    }
}
