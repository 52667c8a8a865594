//! Status, written by the reconciler. It does not move `resourceVersion`, which versions what
//! users write (metadata and spec): a status update never turns a user's write into a 409.
//!
//! `observedGeneration` never moves backwards: a write carrying an older one keeps the newer.
//! The controller's writes are fenced by its lease ([`Store::write_status_fenced`]).

use sqlx::PgConnection;
use uuid::Uuid;

use super::drift::{self, AppliedChanges, SweepCounts};
use super::{Store, StoreError};
use crate::alerts::message::Context;
use crate::controller::Lease;
use crate::drift::Sweep;
use crate::spec::EnvironmentStatus;

impl Store {
    /// Replaces the status of the environment `name` if it is still the one with `uid`.
    /// Returns false when that environment is gone.
    pub async fn write_status(
        &self,
        name: &str,
        uid: Uuid,
        status: &EnvironmentStatus,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool().acquire().await?;
        upsert(&mut conn, name, uid, status).await
    }

    /// Replaces the status of the environment `lease` names, only while the lease is still
    /// the one claimed (same token) and unexpired. Returns false, writing nothing, when the
    /// lease was lost (expired, taken over) or the environment is gone or another one.
    pub async fn write_status_fenced(
        &self,
        lease: &Lease,
        uid: Uuid,
        status: &EnvironmentStatus,
    ) -> Result<bool, StoreError> {
        let written = self
            .write_reconcile(&lease.name, uid, status, Some(lease), None)
            .await?;
        Ok(written.is_some())
    }

    /// Writes a reconcile's status and, with it in one transaction, its drift: records,
    /// their alerts, what was applied, and whether AWS answered. Fenced by `lease` when
    /// given. Returns None, writing nothing, when the lease was lost or the environment is
    /// gone or another one.
    pub async fn write_reconcile(
        &self,
        name: &str,
        uid: Uuid,
        status: &EnvironmentStatus,
        lease: Option<&Lease>,
        drift: Option<&DriftWrite<'_>>,
    ) -> Result<Option<SweepCounts>, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The environment first, then its queue row: the order every writer of both
        // keeps, so none waits on another in a cycle. Holding the row keeps a claim (or a
        // release) from slipping in before the status is written.
        let env =
            sqlx::query("SELECT 1 FROM environments WHERE name = $1 AND uid = $2 FOR KEY SHARE")
                .bind(name)
                .bind(uid)
                .fetch_optional(&mut *tx)
                .await?;
        if env.is_none() {
            return Ok(None);
        }
        if let Some(lease) = lease {
            let held = sqlx::query(
                "SELECT 1 FROM reconcile_queue \
                 WHERE name = $1 AND lease_token = $2 AND lease_expires_at > clock_timestamp() \
                 FOR SHARE",
            )
            .bind(name)
            .bind(lease.token)
            .fetch_optional(&mut *tx)
            .await?;
            if held.is_none() {
                return Ok(None);
            }
        }
        if !upsert(&mut tx, name, uid, status).await? {
            return Ok(None);
        }
        let mut counts = SweepCounts::default();
        if let Some(write) = drift {
            if let Some((sweep, applied)) = write.sweep {
                counts = drift::record_sweep(&mut tx, &write.cx, sweep, applied).await?;
            }
            match write.health {
                Health::Up => {
                    drift::recovered(&mut tx, &write.cx).await?;
                }
                Health::Down(reason) => {
                    drift::degraded(&mut tx, &write.cx, reason).await?;
                }
                Health::Unknown => {}
            }
        }
        tx.commit().await?;
        Ok(Some(counts))
    }

    /// How many environments there are by the reason of their Ready condition; `Pending`
    /// for those not reconciled yet.
    pub async fn ready_reasons(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT COALESCE((SELECT c->>'reason' FROM jsonb_array_elements(s.conditions) c \
                              WHERE c->>'type' = 'Ready' LIMIT 1), 'Pending') AS reason, \
                    count(*) \
             FROM environments e LEFT JOIN environment_status s USING (name) \
             GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Records an event in the audit history of `name`.
    pub async fn record_event(
        &self,
        name: &str,
        uid: Uuid,
        actor: &str,
        action: &str,
        generation: Option<i64>,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO events (environment, environment_uid, actor, action, generation, message) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name)
        .bind(uid)
        .bind(actor)
        .bind(action)
        .bind(generation)
        .bind(message)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// A reconcile's drift, written with its status.
#[derive(Debug, Clone, Copy)]
pub struct DriftWrite<'a> {
    /// Who the environment's alerts go to.
    pub cx: Context<'a>,
    /// The sweep and what is applied now; None when nothing was compared (a failed look).
    pub sweep: Option<(&'a Sweep, &'a AppliedChanges)>,
    pub health: Health<'a>,
}

/// Whether AWS itself answered the reconcile's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health<'a> {
    /// It did: a degraded environment recovers.
    Up,
    /// It failed (throttling, 5xx, credentials): the environment is degraded.
    Down(&'a str),
    /// Nothing to tell (the failure was Plumb's or the request's).
    Unknown,
}

async fn upsert(
    conn: &mut PgConnection,
    name: &str,
    uid: Uuid,
    status: &EnvironmentStatus,
) -> Result<bool, StoreError> {
    let conditions = serde_json::to_value(&status.conditions)
        .map_err(|e| StoreError::Corrupt(name.to_owned(), e.to_string()))?;
    let resources = serde_json::to_value(&status.resources)
        .map_err(|e| StoreError::Corrupt(name.to_owned(), e.to_string()))?;
    let done = sqlx::query(
        "INSERT INTO environment_status (name, observed_generation, conditions, resources, updated_at) \
         SELECT name, $3, $4, $5, now() FROM environments WHERE name = $1 AND uid = $2 \
         ON CONFLICT (name) DO UPDATE SET \
         observed_generation = GREATEST(environment_status.observed_generation, EXCLUDED.observed_generation), \
         conditions = EXCLUDED.conditions, resources = EXCLUDED.resources, updated_at = now()",
    )
    .bind(name)
    .bind(uid)
    .bind(status.observed_generation)
    .bind(conditions)
    .bind(resources)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
