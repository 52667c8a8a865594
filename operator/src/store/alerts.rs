//! The alert outbox as the sender sees it: claim one due row under a row lock, then record
//! what became of it (sent, failed and when to try again, or unsendable) in the same
//! transaction. See [`crate::alerts::sender`] for why that repeats a message at worst.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use super::{drift, Store, StoreError};
use crate::alerts::NewAlert;

/// The longest `last_error` kept, in bytes; AWS's messages are far shorter.
const ERROR_MAX: usize = 2000;

/// A row of the alert outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxAlert {
    pub id: i64,
    pub environment: String,
    /// opened | resolved | degraded | recovered
    pub state: String,
    /// The resource kind, `summary` or `aws`.
    pub kind: String,
    pub resource: Option<String>,
    /// The drift records it announces.
    pub records: Vec<i64>,
    /// critical | warning | info
    pub severity: String,
    /// None: the server's default topic.
    pub topic_arn: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub fingerprint: String,
    pub subject: String,
    pub body: Value,
    pub created_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    /// Publishes tried, successful or not.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Never to be sent (no topic); `last_error` says why.
    pub unsendable_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, environment, state, kind, resource, records, severity, topic_arn, \
                       role_arn, external_id, fingerprint, subject, body, created_at, \
                       not_before, attempts, last_error, sent_at, message_id, cancelled_at, \
                       unsendable_at";

/// Still to be sent: neither sent, withdrawn nor unsendable.
const UNSENT: &str = "sent_at IS NULL AND cancelled_at IS NULL AND unsendable_at IS NULL";

/// One claimed outbox row, locked until it is marked (which commits) or dropped (which
/// rolls back and leaves the row as it was, due again).
pub struct Claim {
    tx: Transaction<'static, Postgres>,
    alert: OutboxAlert,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("alert", &self.alert.id)
            .finish_non_exhaustive()
    }
}

impl Claim {
    pub fn alert(&self) -> &OutboxAlert {
        &self.alert
    }

    /// Published with `message_id`: never sent again.
    pub async fn sent(mut self, message_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alert_outbox SET sent_at = clock_timestamp(), message_id = $2, \
                                     attempts = attempts + 1 \
             WHERE id = $1",
        )
        .bind(self.alert.id)
        .bind(message_id)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Publishing failed with `error`: due again after `retry_after`.
    pub async fn failed(mut self, error: &str, retry_after: Duration) -> Result<(), StoreError> {
        let retry_ms = i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX);
        sqlx::query(
            "UPDATE alert_outbox SET attempts = attempts + 1, last_error = $2, \
                    not_before = clock_timestamp() + make_interval(secs => $3::double precision / 1000) \
             WHERE id = $1",
        )
        .bind(self.alert.id)
        .bind(truncated(error))
        .bind(retry_ms)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Never to be sent, for the reason `error` gives.
    pub async fn unsendable(mut self, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE alert_outbox SET unsendable_at = now(), last_error = $2 WHERE id = $1")
            .bind(self.alert.id)
            .bind(truncated(error))
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Claims the longest-due outbox row that may go now, locked (`FOR UPDATE SKIP LOCKED`)
    /// so no other sender takes it while this one publishes it; `None` when none may.
    ///
    /// Rows of one environment and topic go in id order: a row waits while an earlier one
    /// is still to be sent and either due or failing (an `opened` before its `resolved`).
    /// An earlier one merely waiting out its quiet period does not hold later ones back; one
    /// another sender holds is still unsent, so it holds them back too.
    pub async fn claim_alert(&self) -> Result<Option<Claim>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM alert_outbox a \
             WHERE {UNSENT} AND not_before <= now() \
               AND NOT EXISTS ( \
                   SELECT 1 FROM alert_outbox e \
                   WHERE e.environment = a.environment AND e.id < a.id \
                     AND e.topic_arn IS NOT DISTINCT FROM a.topic_arn \
                     AND e.sent_at IS NULL AND e.cancelled_at IS NULL \
                     AND e.unsendable_at IS NULL \
                     AND (e.not_before <= now() OR e.attempts > 0)) \
             ORDER BY not_before, id \
             LIMIT 1 \
             FOR UPDATE SKIP LOCKED"
        ))
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            Some(row) => Ok(Some(Claim {
                alert: from_row(&row)?,
                tx,
            })),
            None => Ok(None),
        }
    }

    /// Outbox rows still to be sent, due or not.
    pub async fn alerts_pending(&self) -> Result<i64, StoreError> {
        let n = sqlx::query_scalar(&format!("SELECT count(*) FROM alert_outbox WHERE {UNSENT}"))
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// How long until the earliest row still to be sent and not yet due comes due.
    pub async fn next_alert_due(&self) -> Result<Option<Duration>, StoreError> {
        let seconds: Option<f64> = sqlx::query_scalar(&format!(
            "SELECT EXTRACT(EPOCH FROM min(not_before) - now())::double precision \
             FROM alert_outbox WHERE {UNSENT} AND not_before > now()"
        ))
        .fetch_one(self.pool())
        .await?;
        Ok(seconds.map(|s| Duration::try_from_secs_f64(s).unwrap_or_default()))
    }

    /// One outbox row.
    pub async fn alert(&self, id: i64) -> Result<Option<OutboxAlert>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM alert_outbox WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Writes `alert` to the outbox on its own (a reconcile writes its alerts in the
    /// transaction of its status) and wakes the senders; returns its id.
    pub async fn enqueue_alert(
        &self,
        alert: &NewAlert,
        records: &[i64],
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let id = drift::enqueue(&mut tx, alert, records).await?;
        tx.commit().await?;
        Ok(id)
    }
}

fn from_row(row: &PgRow) -> Result<OutboxAlert, StoreError> {
    Ok(OutboxAlert {
        id: row.try_get("id")?,
        environment: row.try_get("environment")?,
        state: row.try_get("state")?,
        kind: row.try_get("kind")?,
        resource: row.try_get("resource")?,
        records: row.try_get("records")?,
        severity: row.try_get("severity")?,
        topic_arn: row.try_get("topic_arn")?,
        role_arn: row.try_get("role_arn")?,
        external_id: row.try_get("external_id")?,
        fingerprint: row.try_get("fingerprint")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        not_before: row.try_get("not_before")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        sent_at: row.try_get("sent_at")?,
        message_id: row.try_get("message_id")?,
        cancelled_at: row.try_get("cancelled_at")?,
        unsendable_at: row.try_get("unsendable_at")?,
    })
}

/// `text` cut to [`ERROR_MAX`] bytes at a character boundary.
fn truncated(text: &str) -> &str {
    if text.len() <= ERROR_MAX {
        return text;
    }
    let mut end = ERROR_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_is_cut_at_a_character_boundary() {
        assert_eq!(truncated("short"), "short");
        let long = "é".repeat(ERROR_MAX);
        let cut = truncated(&long);
        assert!(cut.len() <= ERROR_MAX);
        assert!(cut.len() >= ERROR_MAX - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
