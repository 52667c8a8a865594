//! Status, written by the reconciler. It does not move `resourceVersion`, which versions what
//! users write (metadata and spec): a status update never turns a user's write into a 409.
//!
//! `observedGeneration` never moves backwards: a write carrying an older one keeps the newer.
//! The controller's writes are fenced by its lease ([`Store::write_status_fenced`]).

use sqlx::PgConnection;
use uuid::Uuid;

use super::{Store, StoreError};
use crate::controller::Lease;
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
        let name = lease.name.as_str();
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
        let held = sqlx::query(
            "SELECT 1 FROM reconcile_queue \
             WHERE name = $1 AND lease_token = $2 AND lease_expires_at > clock_timestamp() \
             FOR SHARE",
        )
        .bind(name)
        .bind(lease.token)
        .fetch_optional(&mut *tx)
        .await?;
        if env.is_none() || held.is_none() {
            return Ok(false);
        }
        let written = upsert(&mut tx, name, uid, status).await?;
        tx.commit().await?;
        Ok(written)
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
