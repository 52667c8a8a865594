//! A lease on one environment's queue row: while it is held, only its holder reconciles the
//! environment and writes its status. It lasts a fixed time unless renewed; a holder that
//! dies stops renewing, and once the lease expires another worker may claim the row.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::{Instant, MissedTickBehavior};
use uuid::Uuid;

use super::Queue;

/// A claimed lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The environment.
    pub name: String,
    /// Who holds it.
    pub owner: String,
    /// The fencing token: new on every claim; writes under the lease name it.
    pub token: Uuid,
    /// Reconciles that had failed in a row before this claim.
    pub attempts: i32,
    /// When the row was due when it was claimed. A request during the lease moves the row
    /// past it, which the release notices.
    pub due_at: DateTime<Utc>,
}

/// Renews `lease` (claimed at `claimed`, for `length`) every `every`; returns once it is
/// lost: taken over, gone, or not renewed before it would have expired (the database
/// unreachable meanwhile). Never returns while the lease is held.
pub(crate) async fn hold(
    queue: &Queue,
    lease: &Lease,
    claimed: Instant,
    length: Duration,
    every: Duration,
) {
    let mut expires = claimed + length;
    let mut ticks = tokio::time::interval_at(claimed + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = tokio::time::sleep_until(expires) => {
                tracing::warn!(env = %lease.name, "lease not renewed in time; giving it up");
                return;
            }
        }
        let asked = Instant::now();
        match queue.heartbeat(lease, length).await {
            Ok(true) => expires = asked + length,
            Ok(false) => {
                tracing::warn!(env = %lease.name, "lease lost to another worker");
                return;
            }
            Err(e) => tracing::warn!(env = %lease.name, error = %e, "cannot renew the lease"),
        }
        if Instant::now() >= expires {
            tracing::warn!(env = %lease.name, "lease not renewed in time; giving it up");
            return;
        }
    }
}
