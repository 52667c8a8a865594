//! Drift records, what Plumb last applied per resource, and the alert outbox rows their
//! changes write, all in the transaction of the reconcile's status.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{Store, StoreError};
use crate::alerts::message::{fingerprint, Context, DriftAlert};
use crate::alerts::NewAlert;
use crate::drift::track::{OpenRecord, PendingResolve};
use crate::drift::{
    track, Actor, AppliedFields, DriftRecord, DriftState, Finding, LastApplied, RecordRef, Sweep,
    Tracked,
};

/// How long an actor CloudTrail named waits for a reconcile to find its drift: longer than
/// the default resync, so drift found by polling after a lost wake-up still gets its actor.
const ACTOR_TTL: &str = "15 minutes";

/// Which drift records to list.
#[derive(Debug, Clone, Default)]
pub struct DriftFilter {
    pub environment: Option<String>,
    pub state: Option<DriftState>,
    pub limit: u32,
}

/// What one sweep changed, for metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepCounts {
    pub opened: usize,
    pub resolved: usize,
    pub flapped: usize,
    /// For each record opened with the actor CloudTrail named: seconds from the change to
    /// the record.
    pub detected_after: Vec<f64>,
}

const COLUMNS: &str = "id, environment, resource, kind, field, spec_path, desired, observed, \
                       first_seen, last_seen, state, resolution, resolved_at, flaps, actor";

impl Store {
    /// What Plumb last applied to each resource of `environment`.
    pub async fn last_applied(&self, environment: &str) -> Result<LastApplied, StoreError> {
        let rows = sqlx::query(
            "SELECT resource, generation, fields FROM applied_fields WHERE environment = $1",
        )
        .bind(environment)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let fields: Value = row.try_get("fields")?;
                let fields = serde_json::from_value(fields)
                    .map_err(|e| StoreError::Corrupt(environment.to_owned(), e.to_string()))?;
                Ok((
                    row.try_get("resource")?,
                    AppliedFields {
                        generation: row.try_get("generation")?,
                        fields,
                    },
                ))
            })
            .collect()
    }

    /// Drift records, newest first.
    pub async fn drift(&self, filter: &DriftFilter) -> Result<Vec<DriftRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM drift \
             WHERE ($1::text IS NULL OR environment = $1) AND ($2::text IS NULL OR state = $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(filter.environment.as_deref())
        .bind(filter.state.map(DriftState::as_str))
        .bind(i64::from(filter.limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Open drift records by environment and kind.
    pub async fn open_drift_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT environment, kind, count(*) FROM drift WHERE state = 'open' \
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// The open drift record of `resource`'s `field` in `environment`.
    pub async fn open_drift(
        &self,
        environment: &str,
        resource: &str,
        field: &str,
    ) -> Result<Option<DriftRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM drift \
             WHERE environment = $1 AND resource = $2 AND field = $3 AND state = 'open'"
        ))
        .bind(environment)
        .bind(resource)
        .bind(field)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }
}

fn from_row(row: &PgRow) -> Result<DriftRecord, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt("drift".to_owned(), e);
    let state: String = row.try_get("state")?;
    let resolution: Option<String> = row.try_get("resolution")?;
    let actor: Option<Value> = row.try_get("actor")?;
    Ok(DriftRecord {
        id: row.try_get("id")?,
        environment: row.try_get("environment")?,
        resource: row.try_get("resource")?,
        kind: row.try_get("kind")?,
        field: row.try_get("field")?,
        spec_path: row.try_get("spec_path")?,
        desired: row.try_get("desired")?,
        observed: row.try_get("observed")?,
        first_seen: row.try_get("first_seen")?,
        last_seen: row.try_get("last_seen")?,
        state: state
            .parse()
            .map_err(|_| corrupt(format!("state {state:?}")))?,
        resolution: resolution
            .map(|r| r.parse().map_err(|_| corrupt(format!("resolution {r:?}"))))
            .transpose()?,
        resolved_at: row.try_get("resolved_at")?,
        flaps: row.try_get("flaps")?,
        actor: actor
            .map(|a| serde_json::from_value(a).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
    })
}

/// Writes one sweep's drift: records opened, seen again, reopened and resolved, their
/// alerts, and what was applied. Runs inside the transaction of the status it belongs to.
pub(crate) async fn record_sweep(
    conn: &mut PgConnection,
    cx: &Context<'_>,
    sweep: &Sweep,
    applied: &AppliedChanges,
) -> Result<SweepCounts, StoreError> {
    let env = cx.environment;
    let open = open_records(conn, env).await?;
    // Only drift found now can be a flap.
    let found = !sweep.drifted.is_empty() || !sweep.corrected.is_empty();
    let pending = if found {
        pending_resolves(conn, env).await?
    } else {
        Vec::new()
    };
    let actors = actors(conn, env).await?;
    let print = |resource: &str, findings: &[&Finding]| fingerprint(env, resource, findings);
    let tracked = track(&open, &pending, sweep, &actors, &print);
    let ids = write_records(conn, cx, &tracked).await?;
    for DriftAlert { alert, records } in cx.drift_alerts(&tracked) {
        let records: Vec<i64> = records.iter().filter_map(|r| ids.get(r).copied()).collect();
        enqueue(conn, &alert, &records).await?;
    }
    write_applied(conn, env, applied).await?;
    let now = Utc::now();
    Ok(SweepCounts {
        opened: tracked.opened.values().map(Vec::len).sum(),
        resolved: tracked.resolve.len(),
        flapped: tracked.flapped.values().map(Vec::len).sum(),
        detected_after: tracked
            .insert
            .iter()
            .filter_map(|(_, actor)| actor.as_ref())
            .map(|a| (now - a.event_time).num_milliseconds().max(0) as f64 / 1000.0)
            .collect(),
    })
}

async fn open_records(conn: &mut PgConnection, env: &str) -> Result<Vec<OpenRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, resource, field, desired, observed, actor IS NOT NULL AS has_actor \
         FROM drift WHERE environment = $1 AND state = 'open' ORDER BY id FOR UPDATE",
    )
    .bind(env)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(OpenRecord {
                id: row.try_get("id")?,
                resource: row.try_get("resource")?,
                field: row.try_get("field")?,
                desired: row.try_get("desired")?,
                observed: row.try_get("observed")?,
                has_actor: row.try_get("has_actor")?,
            })
        })
        .collect()
}

/// Resolve alerts of `env` still waiting out the quiet period, with their records' fields.
async fn pending_resolves(
    conn: &mut PgConnection,
    env: &str,
) -> Result<Vec<PendingResolve>, StoreError> {
    // Lock them first (FOR UPDATE does not go with GROUP BY), so a sender cannot send one
    // this sweep withdraws. One a sender holds now is being sent: too late to withdraw, so
    // skipped rather than waited for.
    let locked: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM alert_outbox WHERE environment = $1 AND state = 'resolved' \
         AND resource IS NOT NULL AND sent_at IS NULL AND cancelled_at IS NULL \
         AND unsendable_at IS NULL FOR UPDATE SKIP LOCKED",
    )
    .bind(env)
    .fetch_all(&mut *conn)
    .await?;
    let rows = sqlx::query(
        "SELECT a.id, a.resource, a.fingerprint, \
                COALESCE(array_agg(d.id ORDER BY d.id) FILTER (WHERE d.id IS NOT NULL), '{}') AS ids, \
                COALESCE(array_agg(d.field ORDER BY d.id) FILTER (WHERE d.id IS NOT NULL), '{}') AS fields \
         FROM alert_outbox a LEFT JOIN drift d ON d.id = ANY (a.records) AND d.state = 'resolved' \
         WHERE a.id = ANY ($1) \
         GROUP BY a.id",
    )
    .bind(&locked)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let ids: Vec<i64> = row.try_get("ids")?;
            let fields: Vec<String> = row.try_get("fields")?;
            Ok(PendingResolve {
                alert_id: row.try_get("id")?,
                resource: row.try_get("resource")?,
                fingerprint: row.try_get("fingerprint")?,
                records: ids.into_iter().zip(fields).collect(),
            })
        })
        .collect()
}

/// The newest actor CloudTrail named per resource of `env` (CloudTrail's times are whole
/// seconds: the later event of the same second wins), within [`ACTOR_TTL`]; older ones are
/// forgotten.
async fn actors(conn: &mut PgConnection, env: &str) -> Result<BTreeMap<String, Actor>, StoreError> {
    let rows = sqlx::query(&format!(
        "WITH aged AS (DELETE FROM drift_actors \
                       WHERE environment = $1 AND received_at <= now() - interval '{ACTOR_TTL}') \
         SELECT DISTINCT ON (resource) resource, actor FROM drift_actors \
         WHERE environment = $1 AND received_at > now() - interval '{ACTOR_TTL}' \
         ORDER BY resource, event_time DESC, id DESC"
    ))
    .bind(env)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = BTreeMap::new();
    for row in &rows {
        let actor: Value = row.try_get("actor")?;
        // An actor that cannot be read names no one; the drift is recorded without it.
        if let Ok(actor) = serde_json::from_value(actor) {
            out.insert(row.try_get("resource")?, actor);
        }
    }
    Ok(out)
}

/// Carries out the record changes; returns the id of every record referred to.
async fn write_records(
    conn: &mut PgConnection,
    cx: &Context<'_>,
    tracked: &Tracked,
) -> Result<BTreeMap<RecordRef, i64>, StoreError> {
    let mut ids = BTreeMap::new();
    for (n, (f, actor)) in tracked.insert.iter().enumerate() {
        let actor = actor.as_ref().map(actor_json).transpose()?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO drift (environment, environment_uid, resource, kind, field, spec_path, \
                                desired, observed, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(cx.environment)
        .bind(cx.environment_uid)
        .bind(&f.resource)
        .bind(&f.kind)
        .bind(&f.field)
        .bind(&f.spec_path)
        .bind(&f.desired)
        .bind(&f.observed)
        .bind(actor)
        .fetch_one(&mut *conn)
        .await?;
        ids.insert(RecordRef::New(n), id);
    }
    for (id, f) in &tracked.reopen {
        sqlx::query(
            "UPDATE drift SET state = 'open', resolution = NULL, resolved_at = NULL, \
                              flaps = flaps + 1, desired = $2, observed = $3, last_seen = now() \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&f.desired)
        .bind(&f.observed)
        .execute(&mut *conn)
        .await?;
        ids.insert(RecordRef::Existing(*id), *id);
    }
    for (id, f, actor) in &tracked.update {
        let actor = actor.as_ref().map(actor_json).transpose()?;
        sqlx::query(
            "UPDATE drift SET desired = $2, observed = $3, last_seen = now(), \
                              spec_path = COALESCE($4, spec_path), actor = COALESCE(actor, $5) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&f.desired)
        .bind(&f.observed)
        .bind(&f.spec_path)
        .bind(actor)
        .execute(&mut *conn)
        .await?;
        ids.insert(RecordRef::Existing(*id), *id);
    }
    for (handle, how) in &tracked.resolve {
        let id = match handle {
            RecordRef::Existing(id) => *id,
            RecordRef::New(_) => *ids.get(handle).ok_or_else(|| {
                StoreError::Corrupt(cx.environment.to_owned(), "unknown drift record".into())
            })?,
        };
        sqlx::query(
            "UPDATE drift SET state = 'resolved', resolution = $2, resolved_at = now() \
             WHERE id = $1",
        )
        .bind(id)
        .bind(how.as_str())
        .execute(&mut *conn)
        .await?;
        ids.insert(*handle, id);
    }
    // An actor named on a record is used up: a later drift of the resource is someone's
    // later change.
    let named: Vec<&str> = tracked
        .insert
        .iter()
        .filter(|(_, a)| a.is_some())
        .map(|(f, _)| f.resource.as_str())
        .chain(
            tracked
                .update
                .iter()
                .filter(|(_, _, a)| a.is_some())
                .map(|(_, f, _)| f.resource.as_str()),
        )
        .collect();
    if !named.is_empty() {
        sqlx::query("DELETE FROM drift_actors WHERE environment = $1 AND resource = ANY ($2)")
            .bind(cx.environment)
            .bind(&named)
            .execute(&mut *conn)
            .await?;
    }
    for alert in &tracked.cancel {
        sqlx::query("UPDATE alert_outbox SET cancelled_at = now() WHERE id = $1")
            .bind(alert)
            .execute(&mut *conn)
            .await?;
    }
    Ok(ids)
}

fn actor_json(actor: &Actor) -> Result<Value, StoreError> {
    serde_json::to_value(actor).map_err(|e| StoreError::Corrupt("actor".into(), e.to_string()))
}

/// What was applied, as one sweep changed it: entries to write, resources to forget.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppliedChanges {
    pub set: LastApplied,
    pub forget: Vec<String>,
}

impl AppliedChanges {
    /// From what was applied before the sweep to what is applied after it (which names
    /// every resource still desired).
    pub fn between(before: &LastApplied, now: &LastApplied) -> Self {
        Self {
            set: now
                .iter()
                .filter(|(resource, a)| before.get(*resource) != Some(*a))
                .map(|(r, a)| (r.clone(), a.clone()))
                .collect(),
            forget: before
                .keys()
                .filter(|r| !now.contains_key(*r))
                .cloned()
                .collect(),
        }
    }
}

/// Writes what changed in what was applied: one statement each, none when nothing did.
async fn write_applied(
    conn: &mut PgConnection,
    env: &str,
    changes: &AppliedChanges,
) -> Result<(), StoreError> {
    if !changes.set.is_empty() {
        let set = serde_json::to_value(&changes.set)
            .map_err(|e| StoreError::Corrupt(env.to_owned(), e.to_string()))?;
        sqlx::query(
            "INSERT INTO applied_fields (environment, resource, generation, fields) \
             SELECT $1, key, (value->>'generation')::bigint, value->'fields' \
             FROM jsonb_each($2) \
             ON CONFLICT (environment, resource) DO UPDATE SET \
             generation = EXCLUDED.generation, fields = EXCLUDED.fields, updated_at = now()",
        )
        .bind(env)
        .bind(set)
        .execute(&mut *conn)
        .await?;
    }
    if !changes.forget.is_empty() {
        sqlx::query("DELETE FROM applied_fields WHERE environment = $1 AND resource = ANY ($2)")
            .bind(env)
            .bind(&changes.forget)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes one alert to the outbox, due after its delay, and wakes the senders.
pub(crate) async fn enqueue(
    conn: &mut PgConnection,
    alert: &NewAlert,
    records: &[i64],
) -> Result<i64, StoreError> {
    let delay_ms = i64::try_from(alert.delay.as_millis()).unwrap_or(i64::MAX);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alert_outbox (environment, environment_uid, state, kind, resource, records, \
                                   severity, topic_arn, role_arn, external_id, fingerprint, \
                                   subject, body, not_before) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 now() + make_interval(secs => $14::double precision / 1000)) \
         RETURNING id",
    )
    .bind(&alert.environment)
    .bind(alert.environment_uid)
    .bind(alert.state.as_str())
    .bind(&alert.kind)
    .bind(&alert.resource)
    .bind(records)
    .bind(alert.severity.as_str())
    .bind(&alert.topic_arn)
    .bind(&alert.role_arn)
    .bind(&alert.external_id)
    .bind(&alert.fingerprint)
    .bind(&alert.subject)
    .bind(&alert.body)
    .bind(delay_ms)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(ALERTS_CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// Notified when an alert is written, so a sender need not wait for its poll.
pub const ALERTS_CHANNEL: &str = "plumb_alerts";

/// Marks `environment` degraded (its AWS calls fail), announcing it once: a `recovered`
/// still waiting out the quiet period is withdrawn instead. Returns whether it was healthy.
pub(crate) async fn degraded(
    conn: &mut PgConnection,
    cx: &Context<'_>,
    reason: &str,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO aws_health (environment, environment_uid, reason) \
         SELECT name, $2, $3 FROM environments WHERE name = $1 AND uid = $2 \
         ON CONFLICT (environment) DO UPDATE SET reason = EXCLUDED.reason \
         RETURNING (xmax = 0) AS inserted",
    )
    .bind(cx.environment)
    .bind(cx.environment_uid)
    .bind(reason)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = inserted else {
        return Ok(false);
    };
    let fresh: bool = row.try_get("inserted")?;
    if !fresh {
        return Ok(false);
    }
    let withdrawn = sqlx::query(
        "UPDATE alert_outbox SET cancelled_at = now() \
         WHERE environment = $1 AND state = 'recovered' AND sent_at IS NULL \
           AND cancelled_at IS NULL",
    )
    .bind(cx.environment)
    .execute(&mut *conn)
    .await?;
    if withdrawn.rows_affected() == 0 {
        enqueue(conn, &cx.degraded(reason), &[]).await?;
    }
    Ok(true)
}

/// Clears `environment`'s degraded mark, announcing the recovery after the quiet period.
/// Returns whether it was degraded.
pub(crate) async fn recovered(
    conn: &mut PgConnection,
    cx: &Context<'_>,
) -> Result<bool, StoreError> {
    let since: Option<DateTime<Utc>> = sqlx::query_scalar(
        "DELETE FROM aws_health WHERE environment = $1 RETURNING degraded_since",
    )
    .bind(cx.environment)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(since) = since else {
        return Ok(false);
    };
    enqueue(conn, &cx.recovered(since), &[]).await?;
    Ok(true)
}
