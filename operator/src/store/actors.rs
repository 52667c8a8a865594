//! Who changed a resource, from the CloudTrail event path: the environment holding each name
//! an event gives (by the name claims, or for an Amazon MQ broker id by the ARNs in the
//! environment's status), the actor beside it in `drift_actors`, and a reconcile requested,
//! all in one transaction.

use serde_json::Value;
use sqlx::PgConnection;

use super::{Store, StoreError};
use crate::cloudtrail::{Scope, Target, Touched};
use crate::controller::queue;
use crate::drift::Actor;
use crate::engine::{ResourceId, ResourceKind};
use crate::names::claims::namespace;

/// How far a drift record may have been seen before the change an event reports and still be
/// that change's: the clocks of AWS and of the database may disagree by this much.
const CLOCK_SKEW: &str = "1 minute";

impl Store {
    /// Finds the environments holding the resources `targets` name in `scope` and, for each
    /// one found, records `actor` as who changed it, names the actor on its open drift records
    /// that name none yet (first seen after the change), and requests a reconcile of its
    /// environment. Returns what was found, sorted; empty when no environment holds any.
    pub async fn record_actor(
        &self,
        scope: &Scope,
        targets: &[Target],
        actor: &Actor,
    ) -> Result<Vec<Touched>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut touched = Vec::new();
        for target in targets {
            touched.extend(holders(&mut tx, scope, target).await?);
        }
        touched.sort();
        touched.dedup();
        if touched.is_empty() {
            return Ok(touched);
        }
        let json = serde_json::to_value(actor)
            .map_err(|e| StoreError::Corrupt(actor.event_name.clone(), e.to_string()))?;
        for t in &touched {
            record(&mut tx, t, &json, actor).await?;
        }
        let mut environments: Vec<&str> = touched.iter().map(|t| t.environment.as_str()).collect();
        environments.dedup();
        for environment in environments {
            queue::request(&mut tx, environment).await?;
        }
        tx.commit().await?;
        Ok(touched)
    }
}

/// The environments holding what `target` names.
async fn holders(
    conn: &mut PgConnection,
    scope: &Scope,
    target: &Target,
) -> Result<Vec<Touched>, StoreError> {
    match target {
        Target::Resource { id, within } => {
            let mut found = claimants(conn, scope, id).await?;
            if let Some(parent) = within {
                let parents = claimants(conn, scope, parent).await?;
                found.retain(|env| parents.contains(env));
            }
            Ok(found
                .into_iter()
                .map(|environment| Touched {
                    environment,
                    resource: id.clone(),
                })
                .collect())
        }
        Target::Broker(id) => broker(conn, scope, id).await,
    }
}

/// The environments claiming `id`'s name in `scope`.
async fn claimants(
    conn: &mut PgConnection,
    scope: &Scope,
    id: &ResourceId,
) -> Result<Vec<String>, StoreError> {
    let found = sqlx::query_scalar(
        "SELECT environment FROM name_claims \
         WHERE account = ANY($1) AND region = $2 AND namespace = $3 AND name = $4 \
         ORDER BY environment",
    )
    .bind(&scope.claim_accounts)
    .bind(&scope.region)
    .bind(namespace(id.kind).as_str())
    .bind(&id.name)
    .fetch_all(&mut *conn)
    .await?;
    Ok(found)
}

/// The environments whose recorded status holds a broker whose ARN
/// (`arn:aws:mq:{region}:{account}:broker:{name}:{id}`) ends with `broker_id`, in the
/// scope's region and account.
async fn broker(
    conn: &mut PgConnection,
    scope: &Scope,
    broker_id: &str,
) -> Result<Vec<Touched>, StoreError> {
    let prefix = format!("{}/", ResourceKind::MqBroker.as_str());
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.name, substr(r.key, length($1) + 1) \
         FROM environment_status s, \
              jsonb_each(CASE jsonb_typeof(s.resources) WHEN 'object' THEN s.resources \
                         ELSE '{}'::jsonb END) AS r(key, value) \
         WHERE starts_with(r.key, $1) \
           AND split_part(r.value->>'arn', ':', 3) = 'mq' \
           AND split_part(r.value->>'arn', ':', 4) = $2 \
           AND ($3::text IS NULL OR split_part(r.value->>'arn', ':', 5) = $3) \
           AND split_part(r.value->>'arn', ':', 8) = $4 \
         ORDER BY s.name",
    )
    .bind(&prefix)
    .bind(&scope.region)
    .bind(scope.account.as_deref())
    .bind(broker_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(environment, name)| Touched {
            environment,
            resource: ResourceId::new(ResourceKind::MqBroker, name),
        })
        .collect())
}

async fn record(
    conn: &mut PgConnection,
    touched: &Touched,
    json: &Value,
    actor: &Actor,
) -> Result<(), StoreError> {
    let resource = touched.resource.to_string();
    sqlx::query(
        "INSERT INTO drift_actors (environment, resource, actor, event_time) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&touched.environment)
    .bind(&resource)
    .bind(json)
    .bind(actor.event_time)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "UPDATE drift SET actor = $3 \
         WHERE environment = $1 AND resource = $2 AND state = 'open' AND actor IS NULL \
           AND first_seen >= $4 - interval '{CLOCK_SKEW}'"
    ))
    .bind(&touched.environment)
    .bind(&resource)
    .bind(json)
    .bind(actor.event_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
