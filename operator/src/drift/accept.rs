//! `plumb drift accept`: keep the console change. The observed value of an open drift record
//! is written into the spec at the path the field comes from, as a new generation; the
//! record resolves as `accepted` in the same transaction.
//!
//! The spec says some things differently from AWS (memory as a number, `env` as a map, an
//! image as a tag): a value is taken only when the spec built from it derives exactly the
//! observed value; otherwise the request is refused, naming the spec path to edit by hand.

use serde_json::Value;

use std::collections::BTreeMap;

use chrono::Utc;

use super::{DriftRecord, DriftState, Finding, RecordRef, Resolution, Tracked, EXISTS};
use crate::alerts::message::Context;
use crate::alerts::AlertConfig;
use crate::engine::diff::same;
use crate::engine::graph::desired_graph;
use crate::engine::DesiredGraph;
use crate::spec::{self, Environment};
use crate::store::{Store, StoreError};
use crate::validate::validate;

/// Why a drift record cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    #[error("drift of {0} is resolved already")]
    NotOpen(String),
    #[error("{0} was deleted out of band; remove it from the spec, or let Plumb recreate it")]
    Gone(String),
    #[error("{resource} {field} comes from more than one place in the spec; edit the spec")]
    NoPath { resource: String, field: String },
    #[error("AWS reports no value for {resource} {field}; edit spec.{path}")]
    NoValue {
        resource: String,
        field: String,
        path: String,
    },
    #[error("the observed value of {resource} {field} cannot be written to spec.{path} as it is ({reason}); edit the spec")]
    NotExpressible {
        resource: String,
        field: String,
        path: String,
        reason: String,
    },
}

impl AcceptError {
    /// The request field the error is about, for the API's error body.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NotOpen(_) | Self::Gone(_) | Self::NoPath { .. } => "resource",
            Self::NoValue { .. } | Self::NotExpressible { .. } => "field",
        }
    }
}

/// `env` with the record's observed value in its spec. The metadata is kept (its
/// resourceVersion makes the write conditional on the spec the drift was found against).
pub fn accepted_spec(env: &Environment, record: &DriftRecord) -> Result<Environment, AcceptError> {
    if record.state != DriftState::Open {
        return Err(AcceptError::NotOpen(record.resource.clone()));
    }
    if record.field == EXISTS {
        return Err(AcceptError::Gone(record.resource.clone()));
    }
    let Some(path) = record.spec_path.clone() else {
        return Err(AcceptError::NoPath {
            resource: record.resource.clone(),
            field: record.field.clone(),
        });
    };
    let Some(observed) = record.observed.clone() else {
        return Err(AcceptError::NoValue {
            resource: record.resource.clone(),
            field: record.field.clone(),
            path,
        });
    };
    let refuse = |reason: String| AcceptError::NotExpressible {
        resource: record.resource.clone(),
        field: record.field.clone(),
        path: path.clone(),
        reason,
    };
    // Only a place in the spec that sets this one field: the region, the network or a
    // service as a whole reach much more than the field that drifted.
    let users = desired_graph(env)
        .resources
        .iter()
        .flat_map(|d| d.paths.values())
        .filter(|p| *p == &path || p.starts_with(&format!("{path}.")))
        .count();
    if users != 1 || !path.contains('.') {
        return Err(refuse(
            "that place in the spec sets more than this field".into(),
        ));
    }
    let mut document =
        serde_json::to_value(&env.spec).map_err(|e| refuse(format!("the spec: {e}")))?;
    let slot = locate(&mut document, &path).ok_or_else(|| refuse("no such place".into()))?;
    *slot = in_kind_of(slot, observed.clone());
    let spec: spec::EnvironmentSpec =
        serde_json::from_value(document).map_err(|e| refuse(e.to_string()))?;
    let changed = Environment {
        spec,
        status: None,
        ..env.clone()
    };
    if let Err(errors) = validate(&changed) {
        let reasons: Vec<String> = errors
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.reason))
            .collect();
        return Err(refuse(reasons.join("; ")));
    }
    // The spec must now derive exactly what AWS has, and change nothing else: a value the
    // spec shares among resources (the region, the subnets) is not one drift can move.
    let graph = desired_graph(&changed);
    if let Some(other) = also_changed(&desired_graph(env), &graph, &record.resource, &record.field)
    {
        return Err(refuse(format!("it would also change {other}")));
    }
    let derived = graph
        .resources
        .iter()
        .find(|d| d.id.to_string() == record.resource)
        .and_then(|d| d.fields.get(&record.field).map(|v| (d.id.kind, v)));
    match derived {
        Some((kind, value)) if same(kind, &record.field, value, &observed) => Ok(changed),
        Some((_, value)) => Err(refuse(format!("the spec would derive {value}"))),
        None => Err(refuse("the field is not managed from there".into())),
    }
}

/// Something besides `resource`'s `field` that differs between the two graphs.
fn also_changed(
    before: &DesiredGraph,
    after: &DesiredGraph,
    resource: &str,
    field: &str,
) -> Option<String> {
    let ids = |g: &DesiredGraph| -> Vec<String> {
        g.resources.iter().map(|d| d.id.to_string()).collect()
    };
    if ids(before) != ids(after) {
        return Some("which resources the spec derives".to_owned());
    }
    before
        .resources
        .iter()
        .zip(&after.resources)
        .find_map(|(b, a)| {
            let id = b.id.to_string();
            if id != resource {
                return (b != a).then_some(id);
            }
            let mut b = b.clone();
            let mut a = a.clone();
            b.fields.remove(field);
            a.fields.remove(field);
            (b != a).then(|| format!("other fields of {id}"))
        })
}

/// The value at a dotted path below `spec`, creating nothing.
fn locate<'a>(document: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.').try_fold(document, |at, segment| match at {
        Value::Object(map) => map.get_mut(segment),
        Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?),
        _ => None,
    })
}

/// `observed` in the JSON type the spec had there: AWS reports some numbers as strings.
fn in_kind_of(current: &Value, observed: Value) -> Value {
    match (current, &observed) {
        (Value::Number(_), Value::String(s)) => s
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| s.parse::<f64>().map(Value::from))
            .unwrap_or(observed),
        (Value::String(_), Value::Number(n)) => Value::String(n.to_string()),
        _ => observed,
    }
}

/// Why `plumb drift accept` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AcceptFailure {
    #[error("no open drift of {resource} {field} in environment {environment:?}")]
    NoDrift {
        environment: String,
        resource: String,
        field: String,
    },
    #[error(transparent)]
    Refused(#[from] AcceptError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes the observed value of `resource`'s drifted `field` into `name`'s spec as a new
/// generation, resolving the record as `accepted` and announcing it, in one transaction.
/// Returns the environment as stored.
pub async fn accept(
    store: &Store,
    config: &AlertConfig,
    name: &str,
    resource: &str,
    field: &str,
    actor: &str,
) -> Result<Environment, AcceptFailure> {
    let env = store.get(name).await?;
    let record = store
        .open_drift(name, resource, field)
        .await?
        .ok_or_else(|| AcceptFailure::NoDrift {
            environment: name.to_owned(),
            resource: resource.to_owned(),
            field: field.to_owned(),
        })?;
    let changed = accepted_spec(&env, &record)?;
    let cx = Context {
        environment: name,
        environment_uid: env.metadata.uid.unwrap_or_default(),
        alerts: changed.spec.alerts.as_ref(),
        role_arn: changed.spec.role_arn.as_deref(),
        external_id: changed.spec.external_id.as_deref(),
        policy: changed.spec.policy.drift,
        config,
        now: Utc::now(),
    };
    let finding = Finding {
        resource: record.resource.clone(),
        kind: record.kind.clone(),
        field: record.field.clone(),
        spec_path: record.spec_path.clone(),
        desired: record.desired.clone(),
        observed: record.observed.clone(),
        stateful: desired_graph(&env)
            .resources
            .iter()
            .any(|d| d.id.to_string() == record.resource && d.id.kind.is_stateful()),
    };
    let handle = RecordRef::Existing(record.id);
    let tracked = Tracked {
        resolve: vec![(handle, Resolution::Accepted)],
        resolved: BTreeMap::from([(
            record.resource.clone(),
            vec![(handle, finding, Resolution::Accepted)],
        )]),
        ..Tracked::default()
    };
    // Accepted is final: announced without waiting out the quiet period.
    let mut alerts = cx.drift_alerts(&tracked);
    for a in &mut alerts {
        a.alert.delay = std::time::Duration::ZERO;
    }
    let alert = alerts.into_iter().next().map(|a| a.alert);
    let stored = store
        .accept_drift(&changed, actor, &record, alert.as_ref())
        .await?;
    Ok(stored)
}
