//! The audit history: every change to an environment, who made it and when.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::{Store, StoreError};

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: i64,
    pub environment: String,
    pub at: DateTime<Utc>,
    /// The API token's name, or `cli` / `plumb` for local and internal changes.
    pub actor: String,
    /// `Created`, `Updated`, `DeletionRequested`, `Deleted`, …
    pub action: String,
    pub generation: Option<i64>,
    pub resource_version: Option<i64>,
    pub message: String,
}

impl Store {
    /// The newest `limit` events of an environment, newest first.
    pub async fn events(&self, environment: &str, limit: u32) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, environment, at, actor, action, generation, resource_version, message \
             FROM events WHERE environment = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(environment)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Event {
                    id: row.try_get("id")?,
                    environment: row.try_get("environment")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    generation: row.try_get("generation")?,
                    resource_version: row.try_get("resource_version")?,
                    message: row.try_get("message")?,
                })
            })
            .collect()
    }
}
