//! Drift as records, against moto server through the real SDK with the store in Postgres:
//! an out-of-band change opens one record, `report` writes nothing to AWS, `correct` puts it
//! back, a spec change resolves it, a flap is one episode, and the alert outbox holds one
//! `opened` and one `resolved` per episode.

#[path = "support/proxy.rs"]
#[allow(dead_code)] // Only its 5xx answers are used here.
mod proxy;
mod support;

use std::time::Duration;

use plumb_operator::alerts::AlertConfig;
use plumb_operator::aws::{CallCounter, Clients};
use plumb_operator::drift::{DriftRecord, DriftState, Resolution};
use plumb_operator::reconcile::{Outcome, Reconciler};
use plumb_operator::spec::{parse_document, Environment, Format};
use plumb_operator::store::{DriftFilter, Store};
use proxy::{Fault, Proxy};
use sqlx::{PgPool, Row};
use support::{network, Moto, Network};

struct World {
    _moto: Moto,
    reconciler: Reconciler,
    clients: Clients,
    network: Network,
    pool: PgPool,
}

impl World {
    async fn start(pool: PgPool, quiet_period: Duration) -> World {
        let moto = Moto::start().await;
        let network = network(&moto).await;
        let alerts = AlertConfig {
            quiet_period,
            ..AlertConfig::default()
        };
        let reconciler = Reconciler::new(
            Store::from_pool(pool.clone()),
            moto.aws_config(),
            CallCounter::new(),
        )
        .with_alerts(alerts);
        let clients = moto.clients().await;
        World {
            _moto: moto,
            reconciler,
            clients,
            network,
            pool,
        }
    }

    async fn store(&self, env: &Environment) {
        let mut env = env.clone();
        env.metadata.resource_version = None;
        self.reconciler.store.apply(&env, "test").await.unwrap();
    }

    async fn reconcile(&self) -> Outcome {
        let outcome = self.reconciler.reconcile("shop").await.unwrap();
        assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
        outcome
    }

    async fn set_count(&self, service: &str, count: i32) {
        self.clients
            .ecs
            .update_service()
            .cluster("shop-cluster")
            .service(service)
            .desired_count(count)
            .send()
            .await
            .unwrap();
    }

    async fn count(&self, service: &str) -> i32 {
        let out = self
            .clients
            .ecs
            .describe_services()
            .cluster("shop-cluster")
            .services(service)
            .send()
            .await
            .unwrap();
        out.services()[0].desired_count()
    }

    async fn records(&self, state: Option<DriftState>) -> Vec<DriftRecord> {
        let filter = DriftFilter {
            environment: Some("shop".into()),
            state,
            limit: 100,
        };
        self.reconciler.store.drift(&filter).await.unwrap()
    }

    /// Alert rows as (state, kind, cancelled, due now).
    async fn alerts(&self) -> Vec<(String, String, bool, bool)> {
        sqlx::query(
            "SELECT state, kind, cancelled_at IS NOT NULL AS cancelled, \
                    not_before <= now() AS due \
             FROM alert_outbox WHERE environment = 'shop' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("state"),
                r.get("kind"),
                r.get("cancelled"),
                r.get("due"),
            )
        })
        .collect()
    }

    fn condition<'a>(outcome_env: &'a Environment, type_: &str) -> (&'a str, &'a str) {
        let c = outcome_env
            .status
            .as_ref()
            .unwrap()
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap();
        (c.status.as_str(), c.reason.as_str())
    }
}

/// `api` autoscales (its count is the autoscaler's); `worker` runs a fixed count.
fn shop(net: &Network, policy: &str, worker_count: u32) -> Environment {
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  policy: {{drift: {policy}}}
  alerts: {{snsTopicArn: "arn:aws:sns:us-east-1:123456789012:shop-alerts"}}
  network:
    subnets: [{s0}, {s1}]
    securityGroups: [{sg}]
  ecs:
    executionRoleArn: arn:aws:iam::123456789012:role/shop-execution
    services:
      api:
        image: registry.example.com/shop-api:1
        cpu: 256
        memory: 512
        desiredCount: 2
        autoscaling:
          minCapacity: 2
          maxCapacity: 6
          targetTracking:
            - {{metric: cpu, target: 70}}
      worker:
        image: registry.example.com/shop-worker:1
        cpu: 256
        memory: 512
        desiredCount: {worker_count}
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    parse_document(&yaml, Format::Yaml).unwrap()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn under_report_a_console_change_is_one_open_record_and_nothing_is_written(pool: PgPool) {
    let w = World::start(pool, Duration::from_secs(3600)).await;
    w.store(&shop(&w.network, "report", 1)).await;
    w.reconcile().await;
    assert!(
        w.records(None).await.is_empty(),
        "a fresh environment has no drift"
    );

    // Someone in the console: the worker's count, and the api's (the autoscaler's).
    w.set_count("shop-worker", 5).await;
    w.set_count("shop-api", 4).await;
    w.reconciler.counter.reset();
    for _ in 0..3 {
        let outcome = w.reconcile().await;
        assert_eq!(outcome.reason, "Drifted", "{}", outcome.message);
        assert!(
            outcome.message.contains("1 drifted field"),
            "{}",
            outcome.message
        );
    }
    assert_eq!(
        w.reconciler.counter.writes(),
        0,
        "report writes nothing to AWS"
    );
    assert_eq!(w.count("shop-worker").await, 5);

    let open = w.records(Some(DriftState::Open)).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let record = &open[0];
    assert_eq!(record.resource, "ecs-service/shop-worker");
    assert_eq!(record.field, "desiredCount");
    assert_eq!(
        record.spec_path.as_deref(),
        Some("ecs.services.worker.desiredCount")
    );
    assert_eq!(record.desired, Some(serde_json::json!(1)));
    assert_eq!(record.observed, Some(serde_json::json!(5)));
    assert!(
        record.first_seen < record.last_seen,
        "seen again, not reopened"
    );

    let env = w.reconciler.store.get("shop").await.unwrap();
    assert_eq!(World::condition(&env, "Drifted"), ("True", "DriftFound"));
    assert_eq!(World::condition(&env, "Ready"), ("True", "Drifted"));

    // The same console change made again to another value updates the record.
    w.set_count("shop-worker", 6).await;
    w.reconcile().await;
    let open = w.records(Some(DriftState::Open)).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, record.id);
    assert_eq!(open[0].observed, Some(serde_json::json!(6)));
    assert_eq!(open[0].first_seen, record.first_seen);

    // One alert for the episode so far, whatever the sweeps.
    assert_eq!(
        w.alerts().await,
        [("opened".into(), "ecs-service".into(), false, true)]
    );

    // The spec takes the console's value: resolved as spec-changed, still nothing written.
    w.store(&shop(&w.network, "report", 6)).await;
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "Reconciled", "{}", outcome.message);
    assert_eq!(w.reconciler.counter.writes(), 0);
    let all = w.records(None).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, DriftState::Resolved);
    assert_eq!(all[0].resolution, Some(Resolution::SpecChanged));
    let env = w.reconciler.store.get("shop").await.unwrap();
    assert_eq!(World::condition(&env, "Drifted"), ("False", "InSync"));
    // The resolve waits out the quiet period before it is sent.
    assert_eq!(
        w.alerts().await,
        [
            ("opened".into(), "ecs-service".into(), false, true),
            ("resolved".into(), "ecs-service".into(), false, false),
        ]
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn under_correct_a_console_change_is_put_back_and_resolves_as_corrected(pool: PgPool) {
    let w = World::start(pool, Duration::ZERO).await;
    w.store(&shop(&w.network, "correct", 1)).await;
    w.reconcile().await;

    w.set_count("shop-worker", 5).await;
    w.set_count("shop-api", 4).await;
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "Reconciled", "{}", outcome.message);
    assert_eq!(w.count("shop-worker").await, 1, "put back");
    assert_eq!(
        w.count("shop-api").await,
        4,
        "the autoscaler's count is not drift"
    );

    let all = w.records(None).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].resource, "ecs-service/shop-worker");
    assert_eq!(all[0].observed, Some(serde_json::json!(5)));
    assert_eq!(all[0].resolution, Some(Resolution::Corrected));

    // Sweeps after that find nothing new.
    for _ in 0..3 {
        w.reconcile().await;
    }
    assert_eq!(w.records(None).await.len(), 1);
    assert_eq!(
        w.alerts().await,
        [
            ("opened".into(), "ecs-service".into(), false, true),
            ("resolved".into(), "ecs-service".into(), false, true),
        ]
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_spec_change_is_pending_not_drift(pool: PgPool) {
    let w = World::start(pool, Duration::ZERO).await;
    w.store(&shop(&w.network, "report", 1)).await;
    w.reconcile().await;

    // The spec moves; until it is applied the difference is pending: in the plan, and
    // applied even under report.
    w.store(&shop(&w.network, "report", 3)).await;
    let stored = w.reconciler.store.get("shop").await.unwrap();
    let plan = w.reconciler.plan(&stored).await.unwrap();
    assert!(
        plan.render_text().contains("desiredCount"),
        "{}",
        plan.render_text()
    );
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "Reconciled", "{}", outcome.message);
    assert_eq!(w.count("shop-worker").await, 3);
    assert!(w.records(None).await.is_empty());
    assert!(w.alerts().await.is_empty());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn drift_that_comes_back_within_the_quiet_period_is_one_episode(pool: PgPool) {
    let w = World::start(pool, Duration::from_secs(3600)).await;
    w.store(&shop(&w.network, "correct", 1)).await;
    w.reconcile().await;

    // A script sets the count now and then; Plumb puts it back each time.
    for _ in 0..3 {
        w.set_count("shop-worker", 5).await;
        w.reconcile().await;
        assert_eq!(w.count("shop-worker").await, 1);
        w.reconcile().await;
    }
    let all = w.records(None).await;
    assert_eq!(all.len(), 1, "one record, reopened: {all:?}");
    assert_eq!(all[0].flaps, 2);
    assert_eq!(all[0].resolution, Some(Resolution::Corrected));
    // One opened; each resolve but the last withdrawn; the last waits out the quiet period.
    assert_eq!(
        w.alerts().await,
        [
            ("opened".into(), "ecs-service".into(), false, true),
            ("resolved".into(), "ecs-service".into(), true, false),
            ("resolved".into(), "ecs-service".into(), true, false),
            ("resolved".into(), "ecs-service".into(), false, false),
        ]
    );
    // A different value is a new episode.
    w.set_count("shop-worker", 9).await;
    w.reconcile().await;
    let opened = w
        .alerts()
        .await
        .into_iter()
        .filter(|a| a.0 == "opened")
        .count();
    assert_eq!(opened, 2);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_resource_deleted_out_of_band_is_drift_and_a_deleted_environment_closes_it(pool: PgPool) {
    let w = World::start(pool, Duration::ZERO).await;
    w.store(&shop(&w.network, "report", 1)).await;
    w.reconcile().await;

    w.clients
        .ecs
        .delete_service()
        .cluster("shop-cluster")
        .service("shop-worker")
        .force(true)
        .send()
        .await
        .unwrap();
    w.reconciler.counter.reset();
    w.reconcile().await;
    assert_eq!(w.reconciler.counter.writes(), 0, "report does not recreate");
    let open = w.records(Some(DriftState::Open)).await;
    let gone: Vec<(&str, &str)> = open
        .iter()
        .map(|r| (r.resource.as_str(), r.field.as_str()))
        .collect();
    assert_eq!(gone, [("ecs-service/shop-worker", "exists")]);

    w.reconciler
        .store
        .mark_deleting("shop", None, "test")
        .await
        .unwrap();
    for _ in 0..5 {
        if w.reconciler.reconcile("shop").await.unwrap().deleted {
            break;
        }
    }
    let all = w.records(None).await;
    assert!(
        all.iter().all(|r| r.resolution == Some(Resolution::Gone)),
        "{all:?}"
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn accepting_makes_the_console_value_the_spec_and_closes_the_episode(pool: PgPool) {
    use plumb_operator::drift::accept::{accept, AcceptError, AcceptFailure};
    let w = World::start(pool, Duration::from_secs(3600)).await;
    w.store(&shop(&w.network, "report", 1)).await;
    w.reconcile().await;
    w.set_count("shop-worker", 4).await;
    w.reconcile().await;
    let before = w.reconciler.store.get("shop").await.unwrap();

    let store = &w.reconciler.store;
    let config = w.reconciler.alerts();
    let nothing = accept(
        store,
        config,
        "shop",
        "ecs-service/shop-api",
        "desiredCount",
        "alice",
    )
    .await;
    assert!(
        matches!(nothing, Err(AcceptFailure::NoDrift { .. })),
        "{nothing:?}"
    );

    let stored = accept(
        store,
        config,
        "shop",
        "ecs-service/shop-worker",
        "desiredCount",
        "alice",
    )
    .await
    .unwrap();
    assert_eq!(
        stored.metadata.generation,
        before.metadata.generation.map(|g| g + 1)
    );
    assert_eq!(
        stored.spec.ecs.as_ref().unwrap().services["worker"].desired_count,
        4
    );
    let all = w.records(None).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].resolution, Some(Resolution::Accepted));
    // Announced at once: accepting is final, there is no flap to wait for.
    assert_eq!(
        w.alerts().await,
        [
            ("opened".into(), "ecs-service".into(), false, true),
            ("resolved".into(), "ecs-service".into(), false, true),
        ]
    );
    let events = store.events("shop", 5).await.unwrap();
    assert_eq!(events[0].action, "DriftAccepted");
    assert_eq!(events[0].actor, "alice");

    // The next reconcile finds the spec met, and writes nothing.
    w.reconciler.counter.reset();
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "Reconciled", "{}", outcome.message);
    assert_eq!(w.reconciler.counter.writes(), 0);
    assert_eq!(w.count("shop-worker").await, 4);

    // A resource deleted out of band cannot be accepted.
    w.clients
        .ecs
        .delete_service()
        .cluster("shop-cluster")
        .service("shop-worker")
        .force(true)
        .send()
        .await
        .unwrap();
    w.reconcile().await;
    let gone = accept(
        store,
        config,
        "shop",
        "ecs-service/shop-worker",
        "exists",
        "alice",
    )
    .await;
    assert!(
        matches!(gone, Err(AcceptFailure::Refused(AcceptError::Gone(_)))),
        "{gone:?}"
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn when_aws_fails_drift_is_unknown_and_the_environment_degraded_once(pool: PgPool) {
    let moto = Moto::start().await;
    let net = network(&moto).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let alerts = AlertConfig {
        quiet_period: Duration::ZERO,
        ..AlertConfig::default()
    };
    let store = Store::from_pool(pool.clone());
    let reconciler =
        Reconciler::new(store.clone(), proxy.aws_config(), CallCounter::new()).with_alerts(alerts);
    let mut env = shop(&net, "report", 1);
    env.metadata.resource_version = None;
    store.apply(&env, "test").await.unwrap();
    reconciler.reconcile("shop").await.unwrap();

    // ECS answers 500 to every describe, three reconciles in a row.
    proxy.drop_answers("DescribeServices", 1000, Fault::ServerError, |_| true);
    for _ in 0..3 {
        let failed = reconciler.reconcile("shop").await;
        let error = failed.expect_err("AWS fails");
        assert!(
            matches!(&error, plumb_operator::reconcile::ReconcileError::Aws(e) if e.is_outage()),
            "{error:?}"
        );
    }
    let env = store.get("shop").await.unwrap();
    let drifted = env
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Drifted")
        .unwrap()
        .clone();
    assert_eq!(
        (drifted.status.as_str(), drifted.reason.as_str()),
        ("Unknown", "NotCompared"),
        "never in sync when Plumb could not look"
    );
    let states = |rows: Vec<sqlx::postgres::PgRow>| -> Vec<String> {
        rows.iter().map(|r| r.get::<String, _>("state")).collect()
    };
    let rows = sqlx::query("SELECT state FROM alert_outbox WHERE environment = 'shop' ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(states(rows), ["degraded"], "one alert, not one per failure");

    // AWS answers again: recovered, once.
    proxy.stop_drops();
    for _ in 0..2 {
        reconciler.reconcile("shop").await.unwrap();
    }
    let rows = sqlx::query("SELECT state FROM alert_outbox WHERE environment = 'shop' ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(states(rows), ["degraded", "recovered"]);
    let env = store.get("shop").await.unwrap();
    let drifted = env
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Drifted")
        .unwrap();
    assert_eq!(drifted.status, "False");
}
