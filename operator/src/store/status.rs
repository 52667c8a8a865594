//! Status, written by the reconciler. It does not move `resourceVersion`, which versions what
//! users write (metadata and spec): a status update never turns a user's write into a 409.

use uuid::Uuid;

use super::{Store, StoreError};
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
        let conditions = serde_json::to_value(&status.conditions)
            .map_err(|e| StoreError::Corrupt(name.to_owned(), e.to_string()))?;
        let resources = serde_json::to_value(&status.resources)
            .map_err(|e| StoreError::Corrupt(name.to_owned(), e.to_string()))?;
        let done = sqlx::query(
            "INSERT INTO environment_status (name, observed_generation, conditions, resources, updated_at) \
             SELECT name, $3, $4, $5, now() FROM environments WHERE name = $1 AND uid = $2 \
             ON CONFLICT (name) DO UPDATE SET observed_generation = EXCLUDED.observed_generation, \
             conditions = EXCLUDED.conditions, resources = EXCLUDED.resources, updated_at = now()",
        )
        .bind(name)
        .bind(uid)
        .bind(status.observed_generation)
        .bind(conditions)
        .bind(resources)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
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
