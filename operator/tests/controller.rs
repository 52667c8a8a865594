//! The controller against real Postgres, with a reconcile step that records what it does
//! instead of reaching AWS: replicas share the work and never reconcile one environment at
//! once, a dead replica's environments are taken over once its leases expire, and a worker
//! whose lease is gone cannot write status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use plumb_operator::aws::{AwsConfig, CallCounter};
use plumb_operator::controller::{
    Action, Config, Controller, Lease, Queue, Reconcile, Step, CHANNEL, RECONCILE_FAILED,
};
use plumb_operator::reconcile::{ReconcileError, Reconciler};
use plumb_operator::spec::{Environment, EnvironmentSpec, EnvironmentStatus};
use plumb_operator::store::Store;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

fn env(name: &str) -> Environment {
    Environment::new(name, EnvironmentSpec::in_region("us-east-1"))
}

/// A pool big enough for two controllers (each holds a connection to listen on).
async fn pool(options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .unwrap()
}

async fn create(store: &Store, names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut created = Vec::new();
    for name in names {
        store.create(&env(&name), "test").await.unwrap();
        created.push(name);
    }
    created
}

/// One run of the fake step.
#[derive(Debug, Clone)]
struct Run {
    env: String,
    by: String,
    started: DateTime<Utc>,
}

/// What every fake step saw, across controllers.
#[derive(Debug, Default)]
struct Journal {
    /// Environment → who is reconciling it right now.
    in_flight: Mutex<HashMap<String, String>>,
    /// Each time a step began while another held the same environment.
    overlaps: Mutex<Vec<String>>,
    runs: Mutex<Vec<Run>>,
}

impl Journal {
    fn runs(&self) -> Vec<Run> {
        self.runs.lock().unwrap().clone()
    }
}

/// A reconcile step that records its start and end, takes `work`, and asks to run again
/// after `requeue`.
struct Fake {
    by: String,
    journal: Arc<Journal>,
    work: Duration,
    requeue: Duration,
}

impl Reconcile for Fake {
    async fn reconcile(&self, lease: &Lease) -> Result<Action, ReconcileError> {
        let started = Utc::now();
        if let Some(other) = self
            .journal
            .in_flight
            .lock()
            .unwrap()
            .insert(lease.name.clone(), self.by.clone())
        {
            self.journal.overlaps.lock().unwrap().push(format!(
                "{} started by {} while {other} ran it",
                lease.name, self.by
            ));
        }
        tokio::time::sleep(self.work).await;
        self.journal.in_flight.lock().unwrap().remove(&lease.name);
        self.journal.runs.lock().unwrap().push(Run {
            env: lease.name.clone(),
            by: self.by.clone(),
            started,
        });
        Ok(Action::requeue(self.requeue))
    }
}

/// Quick settings: a short lease, frequent heartbeats and polls.
fn config(owner: &str, workers: usize, lease: Duration) -> Config {
    Config {
        workers,
        lease,
        heartbeat: lease / 4,
        poll: Duration::from_millis(200),
        grace: Duration::from_secs(5),
        ..Config::new(owner)
    }
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn two_controllers_share_twenty_environments_and_never_run_one_twice_at_once(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = Store::from_pool(pool(options).await);
    let names = create(&store, (0..20).map(|i| format!("env-{i:02}"))).await;
    let journal = Arc::new(Journal::default());
    let shutdown = CancellationToken::new();
    let mut controllers = Vec::new();
    for by in ["a", "b"] {
        let fake = Fake {
            by: by.to_owned(),
            journal: journal.clone(),
            work: Duration::from_millis(30),
            // Due again almost at once: the two controllers keep contending for every
            // environment, over and over.
            requeue: Duration::from_millis(100),
        };
        let controller =
            Controller::new(store.clone(), fake, config(by, 3, Duration::from_secs(5)));
        controllers.push(tokio::spawn(controller.run(shutdown.clone())));
    }

    // Until every environment was reconciled several times, by either.
    eventually(
        Duration::from_secs(60),
        "every environment reconciled 5 times",
        || {
            let runs = journal.runs();
            let names = &names;
            async move {
                names
                    .iter()
                    .all(|n| runs.iter().filter(|r| &r.env == n).count() >= 5)
            }
        },
    )
    .await;
    shutdown.cancel();
    for controller in controllers {
        controller.await.unwrap();
    }

    let overlaps = journal.overlaps.lock().unwrap().clone();
    assert!(overlaps.is_empty(), "{overlaps:#?}");
    let runs = journal.runs();
    let by: BTreeMap<&str, usize> = runs.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.by.as_str()).or_default() += 1;
        m
    });
    assert!(by.get("a").is_some_and(|n| *n > 0), "{by:?}");
    assert!(by.get("b").is_some_and(|n| *n > 0), "{by:?}");
    let shared: BTreeSet<&str> = names
        .iter()
        .filter(|n| {
            let who: BTreeSet<&str> = runs
                .iter()
                .filter(|r| &r.env == *n)
                .map(|r| r.by.as_str())
                .collect();
            who.len() == 2
        })
        .map(String::as_str)
        .collect();
    assert!(
        !shared.is_empty(),
        "some environments were reconciled by both controllers (one after the other): {by:?}"
    );

    // Shut down cleanly: every lease was given back.
    let queue = Queue::new(store.pool().clone());
    for name in &names {
        let entry = queue.entry(name).await.unwrap().unwrap();
        assert_eq!(entry.lease_owner, None, "{entry:?}");
        assert_eq!(entry.lease_expires_at, None, "{entry:?}");
        assert_eq!(entry.attempts, 0);
    }
}

/// Never finishes: holds its lease (heartbeated) until it is dropped.
struct Stuck {
    journal: Arc<Journal>,
}

impl Reconcile for Stuck {
    async fn reconcile(&self, lease: &Lease) -> Result<Action, ReconcileError> {
        self.journal.runs.lock().unwrap().push(Run {
            env: lease.name.clone(),
            by: "crashing".to_owned(),
            started: Utc::now(),
        });
        std::future::pending().await
    }
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_crashed_controllers_environments_are_taken_over_once_its_leases_expire(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = Store::from_pool(pool(options).await);
    let names = create(&store, (0..4).map(|i| format!("env-{i}"))).await;
    let queue = Queue::new(store.pool().clone());
    let lease = Duration::from_secs(2);

    let stuck = Arc::new(Journal::default());
    let crashing = Controller::new(
        store.clone(),
        Stuck {
            journal: stuck.clone(),
        },
        config("crashing", 4, lease),
    );
    let crashing = tokio::spawn(crashing.run(CancellationToken::new()));
    eventually(Duration::from_secs(30), "all four claimed", || {
        let n = stuck.runs().len();
        async move { n == 4 }
    })
    .await;
    // Held past the first lease length: the heartbeat keeps the leases.
    tokio::time::sleep(lease + lease / 2).await;
    for name in &names {
        let entry = queue.entry(name).await.unwrap().unwrap();
        assert_eq!(entry.lease_owner.as_deref(), Some("crashing"));
        assert!(entry.lease_expires_at.unwrap() > Utc::now(), "{entry:?}");
    }

    // The replica dies: no release, no more heartbeats.
    crashing.abort();
    let _ = crashing.await;
    let mut expiry = BTreeMap::new();
    for name in &names {
        let entry = queue.entry(name).await.unwrap().unwrap();
        expiry.insert(name.clone(), entry.lease_expires_at.unwrap());
    }

    let journal = Arc::new(Journal::default());
    let survivor = Controller::new(
        store.clone(),
        Fake {
            by: "survivor".to_owned(),
            journal: journal.clone(),
            work: Duration::from_millis(10),
            requeue: Duration::from_secs(300),
        },
        config("survivor", 2, lease),
    );
    let shutdown = CancellationToken::new();
    let survivor = tokio::spawn(survivor.run(shutdown.clone()));
    eventually(
        Duration::from_secs(30),
        "the survivor takes all four",
        || {
            let runs = journal.runs();
            let names = &names;
            async move { names.iter().all(|n| runs.iter().any(|r| &r.env == n)) }
        },
    )
    .await;
    shutdown.cancel();
    survivor.await.unwrap();

    for run in journal.runs() {
        assert!(
            run.started >= expiry[&run.env],
            "{} taken at {} before the dead lease expired at {}",
            run.env,
            run.started,
            expiry[&run.env]
        );
    }
    for name in &names {
        let entry = queue.entry(name).await.unwrap().unwrap();
        assert_eq!(
            entry.lease_owner, None,
            "released by the survivor: {entry:?}"
        );
        assert!(entry.next_run_at > Utc::now() + chrono::Duration::seconds(200));
    }
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn shutdown_lets_reconciles_finish_within_the_grace_then_abandons_and_releases(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = Store::from_pool(pool(options).await);
    let queue = Queue::new(store.pool().clone());

    // Within the grace period: the reconcile finishes and is released with its requeue.
    create(&store, ["quick".to_owned()]).await;
    let journal = Arc::new(Journal::default());
    let fake = Fake {
        by: "a".to_owned(),
        journal: journal.clone(),
        work: Duration::from_millis(500),
        requeue: Duration::from_secs(300),
    };
    let shutdown = CancellationToken::new();
    let controller = Controller::new(store.clone(), fake, config("a", 1, Duration::from_secs(5)));
    let running = tokio::spawn(controller.run(shutdown.clone()));
    eventually(Duration::from_secs(30), "quick started", || {
        let started = journal.in_flight.lock().unwrap().contains_key("quick");
        async move { started }
    })
    .await;
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(journal.runs().len(), 1, "finished within the grace period");
    let entry = queue.entry("quick").await.unwrap().unwrap();
    assert_eq!(entry.lease_owner, None);
    assert!(entry.next_run_at > Utc::now() + chrono::Duration::seconds(200));

    // Past the grace period: abandoned, and released as due at once for another replica.
    create(&store, ["slow".to_owned()]).await;
    let stuck = Arc::new(Journal::default());
    let shutdown = CancellationToken::new();
    let controller = Controller::new(
        store.clone(),
        Stuck {
            journal: stuck.clone(),
        },
        Config {
            grace: Duration::from_millis(300),
            ..config("b", 1, Duration::from_secs(30))
        },
    );
    let running = tokio::spawn(controller.run(shutdown.clone()));
    eventually(Duration::from_secs(30), "slow started", || {
        let n = stuck.runs().len();
        async move { n == 1 }
    })
    .await;
    assert_eq!(
        queue
            .entry("slow")
            .await
            .unwrap()
            .unwrap()
            .lease_owner
            .as_deref(),
        Some("b")
    );
    shutdown.cancel();
    running.await.unwrap();
    let entry = queue.entry("slow").await.unwrap().unwrap();
    assert_eq!(entry.lease_owner, None, "released, not left to expire");
    assert_eq!(entry.lease_expires_at, None);
    assert_eq!(queue.due_in("slow").await.unwrap(), Some(Duration::ZERO));
}

fn status(observed: i64, reason: &str) -> EnvironmentStatus {
    EnvironmentStatus {
        observed_generation: Some(observed),
        conditions: vec![plumb_operator::spec::Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: Utc::now(),
            observed_generation: Some(observed),
        }],
        resources: BTreeMap::new(),
    }
}

async fn ready_reason(store: &Store, name: &str) -> String {
    let env = store.get(name).await.unwrap();
    env.status.unwrap().conditions[0].reason.clone()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_worker_whose_lease_expired_cannot_write_status(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let created = store.create(&env("shop"), "test").await.unwrap();
    let uid = created.metadata.uid.unwrap();
    let queue = Queue::new(pool);

    let first = queue
        .claim("shop", "slow", Duration::from_millis(300))
        .await
        .unwrap()
        .expect("due at creation");
    assert!(
        queue
            .claim("shop", "other", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "held"
    );
    assert!(store
        .write_status_fenced(&first, uid, &status(1, "ByFirst"))
        .await
        .unwrap());

    tokio::time::sleep(Duration::from_millis(400)).await;
    // Expired, even before anyone took it over.
    assert!(!store
        .write_status_fenced(&first, uid, &status(1, "LateFirst"))
        .await
        .unwrap());
    let second = queue
        .claim("shop", "fast", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("an expired lease can be claimed");
    assert_ne!(second.token, first.token);
    assert!(store
        .write_status_fenced(&second, uid, &status(1, "BySecond"))
        .await
        .unwrap());
    assert!(!store
        .write_status_fenced(&first, uid, &status(1, "StaleFirst"))
        .await
        .unwrap());
    assert_eq!(ready_reason(&store, "shop").await, "BySecond");
    // Nor can it renew or release the lease it lost.
    assert!(!queue
        .heartbeat(&first, Duration::from_secs(30))
        .await
        .unwrap());
    assert_eq!(
        queue
            .release(&first, Duration::from_secs(1), 0, None)
            .await
            .unwrap(),
        None
    );
    let entry = queue.entry("shop").await.unwrap().unwrap();
    assert_eq!(entry.lease_owner.as_deref(), Some("fast"));

    // The holder of an unexpired lease still writes, and a stale uid does not.
    assert!(!store
        .write_status_fenced(&second, uuid::Uuid::new_v4(), &status(1, "OtherUid"))
        .await
        .unwrap());
    assert_eq!(ready_reason(&store, "shop").await, "BySecond");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn observed_generation_never_moves_backwards(pool: PgPool) {
    let store = Store::from_pool(pool);
    let created = store.create(&env("shop"), "test").await.unwrap();
    let uid = created.metadata.uid.unwrap();
    assert!(store
        .write_status("shop", uid, &status(3, "Three"))
        .await
        .unwrap());
    assert!(store
        .write_status("shop", uid, &status(2, "Two"))
        .await
        .unwrap());
    let read = store.get("shop").await.unwrap().status.unwrap();
    assert_eq!(read.observed_generation, Some(3));
    assert_eq!(read.conditions[0].reason, "Two", "the rest is replaced");
}

/// The next `NOTIFY plumb_queue` payload.
async fn notified(listener: &mut PgListener) -> String {
    let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notification")
        .unwrap();
    n.payload().to_owned()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn spec_changes_deletes_and_triggers_queue_the_environment_and_notify(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let queue = Queue::new(pool.clone());
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();

    // Created: due at once, announced.
    store.create(&env("shop"), "test").await.unwrap();
    assert_eq!(notified(&mut listener).await, "shop");
    let created = queue.entry("shop").await.unwrap().unwrap();
    assert!(created.next_run_at <= Utc::now());
    assert_eq!(queue.due_in("shop").await.unwrap(), Some(Duration::ZERO));

    // Reconciled and released for 5 minutes.
    let lease = queue
        .claim("shop", "w", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let wait = queue
        .release(&lease, Duration::from_secs(300), 0, None)
        .await
        .unwrap()
        .unwrap();
    assert!(wait > Duration::from_secs(290), "{wait:?}");
    assert!(queue
        .claim("shop", "w", Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());

    // A label change is not a spec change: still 5 minutes away.
    let mut labelled = store.get("shop").await.unwrap();
    labelled
        .metadata
        .labels
        .insert("team".into(), "payments".into());
    labelled.metadata.resource_version = None;
    store.update(&labelled, "test").await.unwrap();
    assert!(queue.due_in("shop").await.unwrap().unwrap() > Duration::from_secs(290));

    // A spec change: due now.
    let mut changed = store.get("shop").await.unwrap();
    changed.spec.region = "eu-west-1".into();
    changed.metadata.resource_version = None;
    store.update(&changed, "test").await.unwrap();
    assert_eq!(notified(&mut listener).await, "shop");
    assert_eq!(queue.due_in("shop").await.unwrap(), Some(Duration::ZERO));
    let due = queue.entry("shop").await.unwrap().unwrap().next_run_at;

    // Requests collapse: a second one keeps the earlier time.
    store.request_reconcile("shop", "alice").await.unwrap();
    assert_eq!(notified(&mut listener).await, "shop");
    assert_eq!(queue.entry("shop").await.unwrap().unwrap().next_run_at, due);
    let events = store.events("shop", 1).await.unwrap();
    assert_eq!(events[0].action, "ReconcileRequested");
    assert_eq!(events[0].actor, "alice");

    // A request while the lease is held: the release makes it due at once instead of
    // after the requested wait.
    let lease = queue
        .claim("shop", "w", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    store.request_reconcile("shop", "alice").await.unwrap();
    assert_eq!(notified(&mut listener).await, "shop");
    let wait = queue
        .release(&lease, Duration::from_secs(300), 0, None)
        .await
        .unwrap();
    assert_eq!(wait, Some(Duration::ZERO));
    let lease = queue
        .claim("shop", "w", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("due again at once");
    // Without a request meanwhile, the release's wait stands.
    let wait = queue
        .release(&lease, Duration::from_secs(300), 0, None)
        .await
        .unwrap();
    assert!(wait.unwrap() > Duration::from_secs(290), "{wait:?}");

    // A delete request: due now.
    store.mark_deleting("shop", None, "test").await.unwrap();
    assert_eq!(notified(&mut listener).await, "shop");
    assert_eq!(queue.due_in("shop").await.unwrap(), Some(Duration::ZERO));

    // Unknown environments cannot be requested.
    assert!(store.request_reconcile("nope", "alice").await.is_err());
    assert_eq!(queue.entry("nope").await.unwrap(), None);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_error_only_a_change_can_fix_waits_long_and_says_why_once(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let mut shop = env("shop");
    shop.spec.role_arn = Some("arn:aws:iam::222222222222:role/plumb".into());
    store.create(&shop, "test").await.unwrap();
    // Refused before any AWS call: the role's account is not allowed.
    let aws = AwsConfig {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        allowed_accounts: ["111111111111".to_owned()].into(),
        ..AwsConfig::default()
    };
    let reconciler = Reconciler::new(store.clone(), aws, CallCounter::new());
    let controller = Controller::new(store.clone(), reconciler, Config::new("test"));

    let worked = controller.step("shop").await;
    assert_eq!(worked.step, Step::Failed("account-not-allowed"));
    let wait = worked.next_in.unwrap();
    assert!(
        wait >= Duration::from_secs(810) && wait <= Duration::from_secs(990),
        "{wait:?}"
    );
    let entry = controller.queue().entry("shop").await.unwrap().unwrap();
    assert_eq!(entry.attempts, 1);
    assert!(entry
        .last_error
        .as_deref()
        .unwrap()
        .contains("222222222222"));
    assert_eq!(entry.lease_owner, None);

    let status = store.get("shop").await.unwrap().status.unwrap();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, RECONCILE_FAILED);
    assert!(
        ready.message.contains("--allowed-accounts"),
        "{}",
        ready.message
    );
    assert_eq!(ready.observed_generation, Some(1));
    let stalled = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap();
    assert_eq!(stalled.status, "True");
    let written: DateTime<Utc> =
        sqlx::query_scalar("SELECT updated_at FROM environment_status WHERE name = 'shop'")
            .fetch_one(store.pool())
            .await
            .unwrap();

    // Not due for a long while.
    assert_eq!(controller.step("shop").await.step, Step::NotClaimed);
    // Asked again: the same error, and the status already says it, so it is not rewritten.
    store.request_reconcile("shop", "test").await.unwrap();
    assert_eq!(
        controller.step("shop").await.step,
        Step::Failed("account-not-allowed")
    );
    let again: DateTime<Utc> =
        sqlx::query_scalar("SELECT updated_at FROM environment_status WHERE name = 'shop'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(again, written);
}
