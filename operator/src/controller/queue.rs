//! The reconcile queue's SQL: one row per environment (`reconcile_queue`), claimed under a
//! lease. Times are the database's (`now()`), and waits are computed there, so replicas whose
//! clocks disagree still agree on what is due.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::Lease;
use crate::store::StoreError;

/// The channel `NOTIFY` announces requests on; the payload is the environment's name.
pub const CHANNEL: &str = "plumb_queue";

/// The wait until a row can be claimed: its next run, or its lease's expiry if later.
const WAIT: &str = "GREATEST(EXTRACT(EPOCH FROM \
     GREATEST(next_run_at, COALESCE(lease_expires_at, next_run_at)) - now()), 0)::float8";

/// One row, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub name: String,
    pub next_run_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// The queue at a glance, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueStats {
    /// Rows due now whose lease is free.
    pub due: i64,
    /// How long the longest-waiting of them has been due.
    pub oldest_due: Duration,
    /// Rows under a live lease.
    pub leased: i64,
}

/// Asks for `name` to be reconciled now, in the caller's transaction (the write that changed
/// the spec, requested the delete, or the trigger), and notifies the controllers on commit.
///
/// Requests collapse: a row already due keeps its earlier time. A row whose lease is held
/// moves to the time of the request, after the holder's claim, which tells the holder at
/// release that it must run again rather than wait for its next resync.
pub(crate) async fn request(conn: &mut PgConnection, name: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO reconcile_queue (name) VALUES ($1) \
         ON CONFLICT (name) DO UPDATE SET \
           next_run_at = CASE WHEN reconcile_queue.lease_expires_at > clock_timestamp() \
                              THEN clock_timestamp() \
                              ELSE LEAST(reconcile_queue.next_run_at, now()) END, \
           attempts = 0, updated_at = now()",
    )
    .bind(name)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Handle on the queue; cheap to clone.
#[derive(Debug, Clone)]
pub struct Queue {
    pool: PgPool,
}

impl Queue {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Takes the lease on `name` for `length` if the row is due and its lease free or
    /// expired; `None` when it is not due, held, being claimed by someone else, or gone.
    pub async fn claim(
        &self,
        name: &str,
        owner: &str,
        length: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let token = Uuid::new_v4();
        let row = sqlx::query(
            "UPDATE reconcile_queue q SET lease_owner = $2, lease_token = $3, \
               lease_expires_at = now() + make_interval(secs => $4), updated_at = now() \
             FROM (SELECT name FROM reconcile_queue \
                   WHERE name = $1 AND next_run_at <= now() \
                     AND (lease_expires_at IS NULL OR lease_expires_at <= now()) \
                   FOR UPDATE SKIP LOCKED) due \
             WHERE q.name = due.name \
             RETURNING q.next_run_at, q.attempts",
        )
        .bind(name)
        .bind(owner)
        .bind(token)
        .bind(length.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Lease {
                name: name.to_owned(),
                owner: owner.to_owned(),
                token,
                attempts: row.try_get("attempts")?,
                due_at: row.try_get("next_run_at")?,
            })
        })
        .transpose()
    }

    /// Extends the lease to `length` from now. False when it is no longer ours: another
    /// worker claimed it (after it expired), or the environment is gone.
    pub async fn heartbeat(&self, lease: &Lease, length: Duration) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE reconcile_queue SET lease_expires_at = now() + make_interval(secs => $3), \
               updated_at = now() \
             WHERE name = $1 AND lease_token = $2",
        )
        .bind(&lease.name)
        .bind(lease.token)
        .bind(length.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease back: the row is next due `after` from now, unless a request arrived
    /// while the lease was held (then it is due at once). Records the failed `attempts` and
    /// the last error. Returns the wait until the row is due, or `None` when the lease was
    /// no longer ours or the environment is gone.
    pub async fn release(
        &self,
        lease: &Lease,
        after: Duration,
        attempts: i32,
        error: Option<&str>,
    ) -> Result<Option<Duration>, StoreError> {
        let wait: Option<f64> = sqlx::query_scalar(&format!(
            "UPDATE reconcile_queue SET \
               next_run_at = CASE WHEN next_run_at > $3 THEN next_run_at \
                                  ELSE now() + make_interval(secs => $4) END, \
               lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, \
               attempts = $5, last_error = $6, updated_at = now() \
             WHERE name = $1 AND lease_token = $2 \
             RETURNING {WAIT}"
        ))
        .bind(&lease.name)
        .bind(lease.token)
        .bind(lease.due_at)
        .bind(after.as_secs_f64())
        .bind(attempts)
        .bind(error)
        .fetch_optional(&self.pool)
        .await?;
        Ok(wait.map(seconds))
    }

    /// Rows that can be claimed within `within`, soonest first, with the wait for each.
    pub async fn upcoming(
        &self,
        within: Duration,
        limit: i64,
    ) -> Result<Vec<(String, Duration)>, StoreError> {
        let rows: Vec<(String, f64)> = sqlx::query_as(&format!(
            "SELECT name, {WAIT} AS wait FROM reconcile_queue \
             WHERE next_run_at <= now() + make_interval(secs => $1) \
               AND (lease_expires_at IS NULL \
                    OR lease_expires_at <= now() + make_interval(secs => $1)) \
             ORDER BY wait, name LIMIT $2"
        ))
        .bind(within.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, wait)| (name, seconds(wait)))
            .collect())
    }

    /// The wait until `name` can be claimed; `None` when it has no row.
    pub async fn due_in(&self, name: &str) -> Result<Option<Duration>, StoreError> {
        let wait: Option<f64> = sqlx::query_scalar(&format!(
            "SELECT {WAIT} FROM reconcile_queue WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(wait.map(seconds))
    }

    /// How many rows are due and leased now, and the oldest due row's wait.
    pub async fn stats(&self) -> Result<QueueStats, StoreError> {
        let (due, oldest, leased): (i64, f64, i64) = sqlx::query_as(
            "WITH q AS (SELECT next_run_at, lease_expires_at > now() AS leased \
                        FROM reconcile_queue) \
             SELECT count(*) FILTER (WHERE next_run_at <= now() AND leased IS NOT TRUE), \
                    COALESCE(EXTRACT(EPOCH FROM now() - min(next_run_at) \
                      FILTER (WHERE next_run_at <= now() AND leased IS NOT TRUE)), 0)::float8, \
                    count(*) FILTER (WHERE leased) \
             FROM q",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            due,
            oldest_due: seconds(oldest),
            leased,
        })
    }

    /// The row of `name`, for inspection.
    pub async fn entry(&self, name: &str) -> Result<Option<QueueEntry>, StoreError> {
        let row = sqlx::query(
            "SELECT name, next_run_at, lease_owner, lease_expires_at, attempts, last_error \
             FROM reconcile_queue WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(QueueEntry {
                name: row.try_get("name")?,
                next_run_at: row.try_get("next_run_at")?,
                lease_owner: row.try_get("lease_owner")?,
                lease_expires_at: row.try_get("lease_expires_at")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
            })
        })
        .transpose()
    }
}

/// Seconds from the database as a wait; negative or not a number is no wait.
fn seconds(wait: f64) -> Duration {
    Duration::try_from_secs_f64(wait).unwrap_or(Duration::ZERO)
}
