//! The controller: keeps every environment reconciled, continuously, with any number of
//! replicas sharing the work through Postgres.
//!
//! - The queue ([`queue`]) holds one row per environment: when it is next due, who holds its
//!   lease, how many attempts failed. A spec change, a delete request or a trigger moves it
//!   to now and sends `NOTIFY plumb_queue`, in the transaction of the write.
//! - The scheduler ([`scheduler`]) is each replica's view of what comes due when; it is fed
//!   by notifications, by a modest poll of the queue, and by the replica's own releases.
//! - A worker ([`worker`]) claims a due environment `FOR UPDATE SKIP LOCKED` under a lease
//!   ([`lease`]), heartbeats the lease while the reconcile step runs, and releases it with the
//!   next run time: the step's [`Action`], or the [`error_policy`]'s backoff.
//! - One environment is never reconciled twice at once: only the lease holder runs it, and
//!   its status writes are fenced by the lease.
//!
//! Shutdown: cancelling the token stops claiming; in-flight reconciles may finish within the
//! grace period, after which they are abandoned and their leases released.

mod error_policy;
mod lease;
pub mod queue;
pub mod scheduler;
mod status;
mod worker;

pub use error_policy::{backoff, error_policy};
pub use lease::Lease;
pub use queue::{Queue, QueueEntry, QueueStats, CHANNEL};
pub use scheduler::Scheduler;
pub use status::RECONCILE_FAILED;
pub use worker::{Step, Worked};

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::reconcile::{ReconcileError, Reconciler};
use crate::spec::Policy;
use crate::store::{listen, Store};
use worker::work;

/// How soon an environment that is making progress (AWS busy, a rollout under way, a write
/// that may succeed on retry) is looked at again.
pub const SOON: Duration = Duration::from_secs(30);
/// How long an environment waits after an error retrying soon cannot fix (an invalid
/// parameter, access denied, a quota).
pub const STALLED: Duration = Duration::from_secs(15 * 60);

/// What to do after a reconcile: look again after a while. There is no "never": every
/// environment is looked at again at least once per resync interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    requeue_after: Duration,
}

impl Action {
    pub fn requeue(after: Duration) -> Self {
        Self {
            requeue_after: after,
        }
    }

    /// The environment's resync interval (`spec.policy.resyncSeconds`, 5 minutes unless set).
    pub fn resync(policy: &Policy) -> Self {
        Self::requeue(Duration::from_secs(policy.resync_seconds.into()))
    }

    /// Soon: AWS is busy or a rollout is under way.
    pub fn soon() -> Self {
        Self::requeue(SOON)
    }

    /// Long: only a change to the spec, the account or permissions can help.
    pub fn stalled() -> Self {
        Self::requeue(STALLED)
    }

    pub fn requeue_after(&self) -> Duration {
        self.requeue_after
    }
}

/// The reconcile step the controller runs for an environment whose lease it holds.
pub trait Reconcile: Send + Sync + 'static {
    fn reconcile(
        &self,
        lease: &Lease,
    ) -> impl Future<Output = Result<Action, ReconcileError>> + Send;
}

impl Reconcile for Reconciler {
    async fn reconcile(&self, lease: &Lease) -> Result<Action, ReconcileError> {
        self.reconcile_leased(lease)
            .await
            .map(|outcome| outcome.action())
    }
}

impl<R: Reconcile> Reconcile for Arc<R> {
    fn reconcile(
        &self,
        lease: &Lease,
    ) -> impl Future<Output = Result<Action, ReconcileError>> + Send {
        R::reconcile(self, lease)
    }
}

/// How a controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Who this controller is, written as `lease_owner` of the leases it holds.
    pub owner: String,
    /// Reconciles run at once by this controller.
    pub workers: usize,
    /// How long a claimed lease lasts without a heartbeat.
    pub lease: Duration,
    /// How often a held lease is renewed (well under `lease`).
    pub heartbeat: Duration,
    /// How often the queue is read for work notifications did not announce (another
    /// replica's releases, expired leases, a notification lost while reconnecting).
    pub poll: Duration,
    /// How long in-flight reconciles may take to finish after shutdown was requested.
    pub grace: Duration,
    /// Where reconcile results, durations and held leases are counted (`None`: nowhere).
    pub metrics: Option<Metrics>,
}

impl Config {
    /// Defaults: 2 workers, a 30 s lease renewed every 10 s, a 5 s poll, 20 s of grace.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            workers: 2,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_secs(5),
            grace: Duration::from_secs(20),
            metrics: None,
        }
    }
}

/// A controller replica.
pub struct Controller<R> {
    shared: Arc<Shared<R>>,
}

/// What every worker of a controller reaches.
pub(crate) struct Shared<R> {
    pub reconciler: R,
    pub store: Store,
    pub queue: Queue,
    pub config: Config,
}

impl<R: Reconcile> Controller<R> {
    pub fn new(store: Store, reconciler: R, config: Config) -> Self {
        let queue = Queue::new(store.pool().clone());
        Self {
            shared: Arc::new(Shared {
                reconciler,
                store,
                queue,
                config,
            }),
        }
    }

    /// The queue this controller works from.
    pub fn queue(&self) -> &Queue {
        &self.shared.queue
    }

    /// One worker step for `name`, as the loop runs it: claim it if it is due, reconcile it
    /// under the lease, release it with the next run time.
    pub async fn step(&self, name: &str) -> Worked {
        work(&self.shared, name, &CancellationToken::new()).await
    }

    /// Runs until `shutdown` is cancelled; then lets in-flight reconciles finish within the
    /// grace period, abandons the rest and releases their leases.
    pub async fn run(self, shutdown: CancellationToken) {
        let config = &self.shared.config;
        let workers = config.workers.max(1);
        tracing::info!(owner = %config.owner, workers, "controller started");
        let (notified, mut notifications) = mpsc::channel(1024);
        // Tasks in a JoinSet end with it: a controller dropped mid-run leaves nothing behind.
        let mut listener = JoinSet::new();
        listener.spawn(listen(
            self.shared.queue.pool().clone(),
            CHANNEL,
            notified,
            shutdown.clone(),
            config.poll,
        ));
        let abandon = CancellationToken::new();
        let mut scheduler = Scheduler::new();
        let mut jobs: JoinSet<(String, Worked)> = JoinSet::new();
        let mut running: HashSet<String> = HashSet::new();
        let mut poll = tokio::time::interval(config.poll);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(done) = jobs.join_next() => {
                    let Ok((name, worked)) = done else { continue };
                    running.remove(&name);
                    if let Some(after) = worked.next_in() {
                        scheduler.schedule(name, Instant::now() + after);
                    }
                }
                Some(name) = notifications.recv() => {
                    scheduler.schedule(name, Instant::now());
                }
                _ = poll.tick() => {
                    match self.shared.queue.upcoming(config.poll, 1000).await {
                        Ok(rows) => {
                            let now = Instant::now();
                            for (name, wait) in rows {
                                scheduler.schedule(name, now + wait);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot read the reconcile queue"),
                    }
                }
                name = scheduler.next(), if jobs.len() < workers => {
                    // Already running here: its release says when it is due next.
                    if running.insert(name.clone()) {
                        let shared = self.shared.clone();
                        let abandon = abandon.clone();
                        jobs.spawn(async move {
                            let worked = work(&shared, &name, &abandon).await;
                            (name, worked)
                        });
                    }
                }
            }
        }
        tracing::info!(in_flight = jobs.len(), "controller stopping; no new claims");
        let grace = config.grace;
        let drained =
            tokio::time::timeout(grace, async { while jobs.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = jobs.len(),
                "grace period over; abandoning in-flight reconciles and releasing their leases"
            );
            abandon.cancel();
            while jobs.join_next().await.is_some() {}
        }
        while listener.join_next().await.is_some() {}
        tracing::info!("controller stopped");
    }
}
