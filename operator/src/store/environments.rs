//! Environments: create, replace, read, list and mark for deletion. A write replaces the
//! environment's name claims in the same transaction; finalizing a deletion drops them.
//! A write that changes the spec, a delete request and a trigger also ask the controller to
//! reconcile, in the same transaction (see [`crate::controller::queue`]).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row, Transaction};
use uuid::Uuid;

use super::selector::{LabelSelector, Requirement};
use super::{claims, drift};
use super::{Store, StoreError};
use crate::alerts::NewAlert;
use crate::controller::queue;
use crate::drift::DriftRecord;
use crate::spec::{
    Condition, Environment, EnvironmentSpec, EnvironmentStatus, ObjectMeta, ResourceStatus,
    API_VERSION, KIND,
};

/// What a create-or-replace did, as `kubectl apply` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    Configured,
    Unchanged,
}

impl WriteOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One page of a listing; `next` continues after the last item.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Environment>,
    pub next: Option<String>,
}

/// The action of the event recorded when a resource is left in place and untagged; its
/// message is the resource's id.
pub const RELEASED: &str = "Released";

const SELECT: &str = "SELECT e.name, e.uid, e.labels, e.spec, e.generation, e.resource_version, \
     e.created_at, e.deleting_at, s.observed_generation, s.conditions, s.resources \
     FROM environments e LEFT JOIN environment_status s ON s.name = e.name";

/// How a write treats an object that does or does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    CreateOnly,
    UpdateOnly,
    CreateOrUpdate,
}

impl Store {
    pub async fn get(&self, name: &str) -> Result<Environment, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE e.name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => from_row(&row),
            None => Err(StoreError::NotFound(name.to_owned())),
        }
    }

    /// Environments matching `selector`, by name, at most `limit`, starting after `after`.
    pub async fn list(
        &self,
        selector: &LabelSelector,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Page, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(SELECT);
        query.push(" WHERE TRUE");
        for requirement in selector.requirements() {
            match requirement {
                Requirement::Equals(key, value) => {
                    query.push(" AND e.labels @> ");
                    query.push_bind(serde_json::json!({ key: value }));
                }
                Requirement::NotEquals(key, value) => {
                    query.push(" AND NOT (e.labels @> ");
                    query.push_bind(serde_json::json!({ key: value }));
                    query.push(")");
                }
                Requirement::Exists(key) => {
                    query.push(" AND e.labels ? ");
                    query.push_bind(key.clone());
                }
                Requirement::NotExists(key) => {
                    query.push(" AND NOT (e.labels ? ");
                    query.push_bind(key.clone());
                    query.push(")");
                }
            }
        }
        if let Some(after) = after {
            query.push(" AND e.name > ");
            query.push_bind(after.to_owned());
        }
        query.push(" ORDER BY e.name LIMIT ");
        query.push_bind(i64::from(limit) + 1);
        let rows = query.build().fetch_all(self.pool()).await?;
        let mut items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| e.metadata.name.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Stores a new environment; fails if the name is taken.
    pub async fn create(&self, env: &Environment, actor: &str) -> Result<Environment, StoreError> {
        self.write(env, actor, Mode::CreateOnly, None)
            .await
            .map(|(env, _)| env)
    }

    /// Replaces the spec and labels of an existing environment.
    pub async fn update(
        &self,
        env: &Environment,
        actor: &str,
    ) -> Result<(Environment, WriteOutcome), StoreError> {
        self.write(env, actor, Mode::UpdateOnly, None).await
    }

    /// Writes `env`'s spec (a new generation, conditional on its resourceVersion) with the
    /// observed value of `record` taken into it, resolving the record as `accepted` and
    /// writing `alert` to the outbox, in one transaction. A record resolved meanwhile is a
    /// conflict.
    pub async fn accept_drift(
        &self,
        env: &Environment,
        actor: &str,
        record: &DriftRecord,
        alert: Option<&NewAlert>,
    ) -> Result<Environment, StoreError> {
        let accepted = Accepted { record, alert };
        let (stored, _) = self
            .write(env, actor, Mode::UpdateOnly, Some(&accepted))
            .await?;
        Ok(stored)
    }

    /// Creates the environment or replaces its spec and labels.
    pub async fn apply(
        &self,
        env: &Environment,
        actor: &str,
    ) -> Result<(Environment, WriteOutcome), StoreError> {
        self.write(env, actor, Mode::CreateOrUpdate, None).await
    }

    /// Marks the environment as deleting. Idempotent; the row itself goes only in
    /// [`Store::finalize_deletion`], once teardown has finished.
    pub async fn mark_deleting(
        &self,
        name: &str,
        expected_version: Option<i64>,
        actor: &str,
    ) -> Result<Environment, StoreError> {
        let mut tx = self.pool().begin().await?;
        let current = lock(&mut tx, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        if current.metadata.deletion_timestamp.is_some() {
            return Ok(current);
        }
        check_version(&current, expected_version)?;
        sqlx::query(
            "UPDATE environments SET deleting_at = now(), updated_at = now(), \
             resource_version = nextval('resource_version_seq') WHERE name = $1",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let env = reread(&mut tx, name).await?;
        queue::request(&mut tx, name).await?;
        record(
            &mut tx,
            &env,
            actor,
            "DeletionRequested",
            "deletion requested",
        )
        .await?;
        tx.commit().await?;
        Ok(env)
    }

    /// Asks the controller to reconcile `name` now (it is due at once, and the controllers
    /// are notified); records who asked. Returns the environment as it is.
    pub async fn request_reconcile(
        &self,
        name: &str,
        actor: &str,
    ) -> Result<Environment, StoreError> {
        let mut tx = self.pool().begin().await?;
        let env = sqlx::query(&format!("{SELECT} WHERE e.name = $1 FOR KEY SHARE OF e"))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        queue::request(&mut tx, name).await?;
        record(
            &mut tx,
            &env,
            actor,
            "ReconcileRequested",
            "reconcile requested",
        )
        .await?;
        tx.commit().await?;
        Ok(env)
    }

    /// Removes an environment whose deletion was requested and whose teardown finished.
    /// `uid` guards against removing a newer environment of the same name. The final event
    /// lists what was left in place ([`RELEASED`] events).
    pub async fn finalize_deletion(
        &self,
        name: &str,
        uid: Uuid,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let current = lock(&mut tx, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        if current.metadata.uid != Some(uid) || current.metadata.deletion_timestamp.is_none() {
            return Err(StoreError::NotFound(name.to_owned()));
        }
        sqlx::query("DELETE FROM environments WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let released: Vec<String> = sqlx::query_scalar(
            "SELECT message FROM events WHERE environment_uid = $1 AND action = $2 ORDER BY id",
        )
        .bind(uid)
        .bind(RELEASED)
        .fetch_all(&mut *tx)
        .await?;
        let mut message = "teardown finished; environment removed".to_owned();
        if !released.is_empty() {
            message.push_str("; left in place and untagged (deletion: retain): ");
            message.push_str(&released.join(", "));
        }
        record(&mut tx, &current, actor, "Deleted", &message).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn write(
        &self,
        env: &Environment,
        actor: &str,
        mode: Mode,
        accepted: Option<&Accepted<'_>>,
    ) -> Result<(Environment, WriteOutcome), StoreError> {
        let name = env.metadata.name.as_str();
        let expected = env
            .metadata
            .resource_version
            .as_deref()
            .map(parse_version)
            .transpose()?;
        let spec = serde_json::to_value(&env.spec)
            .map_err(|e| StoreError::Corrupt(name.to_owned(), e.to_string()))?;
        let labels = serde_json::to_value(&env.metadata.labels)
            .map_err(|e| StoreError::Corrupt(name.to_owned(), e.to_string()))?;

        // Two attempts: a concurrent create of the same name between our read and our
        // insert turns the second attempt into an update (or a conflict).
        for _ in 0..2 {
            let mut tx = self.pool().begin().await?;
            let Some(current) = lock(&mut tx, name).await? else {
                if mode == Mode::UpdateOnly || expected.is_some() {
                    return Err(StoreError::NotFound(name.to_owned()));
                }
                let inserted = sqlx::query(
                    "INSERT INTO environments (name, uid, labels, spec) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(Uuid::new_v4())
                .bind(&labels)
                .bind(&spec)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() == 0 {
                    continue;
                }
                let created = reread(&mut tx, name).await?;
                claims::replace(&mut tx, &created).await?;
                queue::request(&mut tx, name).await?;
                record(&mut tx, &created, actor, "Created", "environment created").await?;
                tx.commit().await?;
                return Ok((created, WriteOutcome::Created));
            };
            if mode == Mode::CreateOnly {
                return Err(StoreError::AlreadyExists(name.to_owned()));
            }
            if current.metadata.deletion_timestamp.is_some() {
                return Err(StoreError::Deleting(name.to_owned()));
            }
            check_version(&current, expected)?;
            let spec_changed = current.spec != env.spec;
            let labels_changed = current.metadata.labels != env.metadata.labels;
            if !spec_changed && !labels_changed {
                return Ok((current, WriteOutcome::Unchanged));
            }
            sqlx::query(
                "UPDATE environments SET spec = $2, labels = $3, updated_at = now(), \
                 generation = generation + $4, resource_version = nextval('resource_version_seq') \
                 WHERE name = $1",
            )
            .bind(name)
            .bind(&spec)
            .bind(&labels)
            .bind(i64::from(spec_changed))
            .execute(&mut *tx)
            .await?;
            let updated = reread(&mut tx, name).await?;
            if spec_changed {
                claims::replace(&mut tx, &updated).await?;
                queue::request(&mut tx, name).await?;
            }
            let message = match (spec_changed, labels_changed) {
                (true, true) => "spec and labels changed",
                (true, false) => "spec changed",
                _ => "labels changed",
            };
            record(&mut tx, &updated, actor, "Updated", message).await?;
            if let Some(accepted) = accepted {
                accepted.write(&mut tx, &updated, actor).await?;
            }
            tx.commit().await?;
            return Ok((updated, WriteOutcome::Configured));
        }
        Err(StoreError::AlreadyExists(name.to_owned()))
    }
}

fn parse_version(text: &str) -> Result<i64, StoreError> {
    // A version that is not ours can match nothing: report it as a conflict with the current.
    Ok(text.trim().parse::<i64>().unwrap_or(-1))
}

fn check_version(current: &Environment, expected: Option<i64>) -> Result<(), StoreError> {
    let current_version = version_of(current);
    match expected {
        Some(expected) if expected != current_version => Err(StoreError::Conflict {
            name: current.metadata.name.clone(),
            current: current_version,
            expected,
        }),
        _ => Ok(()),
    }
}

fn version_of(env: &Environment) -> i64 {
    env.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<Option<Environment>, StoreError> {
    let row = sqlx::query(&format!("{SELECT} WHERE e.name = $1 FOR UPDATE OF e"))
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

async fn reread(tx: &mut Transaction<'_, Postgres>, name: &str) -> Result<Environment, StoreError> {
    let row = sqlx::query(&format!("{SELECT} WHERE e.name = $1"))
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    from_row(&row)
}

async fn record(
    tx: &mut Transaction<'_, Postgres>,
    env: &Environment,
    actor: &str,
    action: &str,
    message: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO events (environment, environment_uid, actor, action, generation, resource_version, message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&env.metadata.name)
    .bind(env.metadata.uid)
    .bind(actor)
    .bind(action)
    .bind(env.metadata.generation)
    .bind(version_of(env))
    .bind(message)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn from_row(row: &PgRow) -> Result<Environment, StoreError> {
    let name: String = row.try_get("name")?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(name.clone(), e.to_string());
    let spec: EnvironmentSpec = serde_json::from_value(row.try_get("spec")?).map_err(corrupt)?;
    let labels = serde_json::from_value(row.try_get("labels")?).map_err(corrupt)?;
    let conditions: Option<Value> = row.try_get("conditions")?;
    let resources: Option<Value> = row.try_get("resources")?;
    let status = EnvironmentStatus {
        observed_generation: row.try_get("observed_generation")?,
        conditions: conditions
            .map(serde_json::from_value::<Vec<Condition>>)
            .transpose()
            .map_err(corrupt)?
            .unwrap_or_default(),
        resources: resources
            .map(serde_json::from_value::<std::collections::BTreeMap<String, ResourceStatus>>)
            .transpose()
            .map_err(corrupt)?
            .unwrap_or_default(),
    };
    let resource_version: i64 = row.try_get("resource_version")?;
    Ok(Environment {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        metadata: ObjectMeta {
            name: name.clone(),
            labels,
            generation: Some(row.try_get("generation")?),
            resource_version: Some(resource_version.to_string()),
            uid: Some(row.try_get("uid")?),
            creation_timestamp: Some(row.try_get::<DateTime<Utc>, _>("created_at")?),
            deletion_timestamp: row.try_get("deleting_at")?,
        },
        spec,
        status: Some(status),
    })
}

/// A drift record taken into the spec by the write it rides with.
struct Accepted<'a> {
    record: &'a DriftRecord,
    alert: Option<&'a NewAlert>,
}

impl Accepted<'_> {
    async fn write(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        env: &Environment,
        actor: &str,
    ) -> Result<(), StoreError> {
        let r = self.record;
        let resolved = sqlx::query(
            "UPDATE drift SET state = 'resolved', resolution = 'accepted', resolved_at = now() \
             WHERE id = $1 AND state = 'open'",
        )
        .bind(r.id)
        .execute(&mut **tx)
        .await?;
        if resolved.rows_affected() == 0 {
            return Err(StoreError::DriftResolved {
                resource: r.resource.clone(),
                field: r.field.clone(),
            });
        }
        if let Some(alert) = self.alert {
            drift::enqueue(tx, alert, &[r.id]).await?;
        }
        let message = format!(
            "drift accepted: {} {} = {} taken into the spec",
            r.resource,
            r.field,
            r.observed
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), ToString::to_string)
        );
        record(tx, env, actor, "DriftAccepted", &message).await
    }
}
