//! One worker step: claim one environment, reconcile it under the lease while the lease is
//! heartbeated, release it with the next run time. The loop around it (in [`super`]) only
//! decides what to try next.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error_policy::error_policy;
use super::lease::{self, Lease};
use super::scheduler::jitter;
use super::{status, Queue, Reconcile, Shared};
use crate::reconcile::ReconcileError;

/// The soonest a row that could not be claimed is tried again here.
const RETRY_FLOOR: Duration = Duration::from_secs(1);

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reconciled; the lease was released with the step's requeue.
    Reconciled,
    /// The reconcile step failed (the error's static kind); released with the error
    /// policy's wait.
    Failed(&'static str),
    /// Not claimed: not due yet, held by another worker, or gone.
    NotClaimed,
    /// The lease was lost mid-reconcile; its new holder carries on, and nothing was
    /// released.
    LeaseLost,
    /// Abandoned at shutdown; released as due at once, for another replica.
    Abandoned,
}

/// A step's result, and when the environment is due next (`None`: nothing to schedule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worked {
    pub step: Step,
    pub next_in: Option<Duration>,
}

impl Worked {
    pub fn next_in(&self) -> Option<Duration> {
        self.next_in
    }
}

/// Claims `name` and reconciles it once if it is due. Abandons the reconcile (releasing the
/// lease) when `abandon` is cancelled.
pub(crate) async fn work<R: Reconcile>(
    shared: &Shared<R>,
    name: &str,
    abandon: &CancellationToken,
) -> Worked {
    let config = &shared.config;
    let queue = &shared.queue;
    let claimed = Instant::now();
    let lease = match queue.claim(name, &config.owner, config.lease).await {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            return Worked {
                step: Step::NotClaimed,
                next_in: look_again(queue, name, config.lease).await,
            }
        }
        Err(e) => {
            tracing::warn!(env = name, error = %e, "cannot claim");
            return Worked {
                step: Step::NotClaimed,
                next_in: Some(config.poll),
            };
        }
    };
    tracing::debug!(env = name, attempts = lease.attempts, "claimed");
    let _held = config.metrics.as_ref().map(|m| m.lease_held());
    let worked = reconcile_claimed(shared, lease, claimed, abandon).await;
    if let Some(metrics) = &config.metrics {
        let took =
            matches!(worked.step, Step::Reconciled | Step::Failed(_)).then(|| claimed.elapsed());
        metrics.reconciled(worked.step, took);
    }
    worked
}

/// Reconciles the environment `lease` holds, heartbeating the lease meanwhile, and
/// releases it.
async fn reconcile_claimed<R: Reconcile>(
    shared: &Shared<R>,
    lease: Lease,
    claimed: Instant,
    abandon: &CancellationToken,
) -> Worked {
    let config = &shared.config;
    let queue = &shared.queue;
    let name = lease.name.as_str();
    let hold = lease::hold(queue, &lease, claimed, config.lease, config.heartbeat);
    // Boxed: a whole reconcile is a deep, large future; the worker's stays small.
    let reconcile = Box::pin(shared.reconciler.reconcile(&lease));
    let finished = tokio::select! {
        result = reconcile => result,
        () = hold => {
            return Worked {
                step: Step::LeaseLost,
                next_in: look_again(queue, name, config.lease).await,
            };
        }
        () = abandon.cancelled() => {
            release(queue, &lease, Duration::ZERO, lease.attempts, None, config.lease).await;
            return Worked { step: Step::Abandoned, next_in: None };
        }
    };
    match finished {
        Ok(action) => {
            let wait = jitter(action.requeue_after());
            tracing::debug!(env = name, next_in = ?wait, "reconciled");
            Worked {
                step: Step::Reconciled,
                next_in: release(queue, &lease, wait, 0, None, config.lease).await,
            }
        }
        Err(ReconcileError::LeaseLost(_)) => {
            tracing::warn!(env = name, "lease lost before the status was written");
            Worked {
                step: Step::LeaseLost,
                next_in: look_again(queue, name, config.lease).await,
            }
        }
        Err(error) => {
            let attempts = lease.attempts.saturating_add(1);
            let action = error_policy(&error, attempts.unsigned_abs());
            tracing::warn!(
                env = name,
                kind = error.kind(),
                attempts,
                permanent = error.is_permanent(),
                retry_in = ?action.requeue_after(),
                error = %error,
                "reconcile failed"
            );
            if error.is_permanent() {
                if let Err(e) = status::report(&shared.store, &lease, &error).await {
                    tracing::warn!(env = name, error = %e, "cannot record the failure in the status");
                }
            }
            let message = error.to_string();
            let next_in = release(
                queue,
                &lease,
                action.requeue_after(),
                attempts,
                Some(&message),
                config.lease,
            )
            .await;
            Worked {
                step: Step::Failed(error.kind()),
                next_in,
            }
        }
    }
}

/// Releases the lease; when the database cannot be reached, the lease expires by itself,
/// and the row is looked at again then.
async fn release(
    queue: &Queue,
    lease: &Lease,
    after: Duration,
    attempts: i32,
    error: Option<&str>,
    length: Duration,
) -> Option<Duration> {
    match queue.release(lease, after, attempts, error).await {
        Ok(next_in) => next_in,
        Err(e) => {
            tracing::warn!(env = %lease.name, error = %e, "cannot release the lease; it will expire");
            Some(length)
        }
    }
}

/// When to try a row again that could not be claimed or whose lease was lost.
async fn look_again(queue: &Queue, name: &str, fallback: Duration) -> Option<Duration> {
    match queue.due_in(name).await {
        Ok(wait) => wait.map(|w| w.max(RETRY_FLOOR)),
        Err(e) => {
            tracing::warn!(env = name, error = %e, "cannot read the reconcile queue");
            Some(fallback)
        }
    }
}
