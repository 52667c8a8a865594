//! Carrying out a plan: each action through its kind's adapter, with references resolved to
//! the ARNs known at that moment (observed, or written earlier in the same run).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::aws::{self, AwsError, Cx, Write};
use crate::engine::diff::field_changes;
use crate::engine::{
    Change, Desired, DesiredGraph, FieldChange, Observed, ObservedState, Plan, ResourceId, Verb,
};

/// The result of one action.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub resource: ResourceId,
    pub action: Verb,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What running a plan did.
#[derive(Debug, Default)]
pub(super) struct Run {
    pub applied: Vec<Applied>,
    /// What AWS holds now, as far as the writes' answers tell.
    pub after: ObservedState,
    /// The write that failed (the run stops there).
    pub failure: Option<Failure>,
}

/// A write AWS refused.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub message: String,
    /// Retrying soon cannot help (see [`AwsError::is_permanent`]).
    pub permanent: bool,
    /// AWS itself failed (see [`AwsError::is_outage`]).
    pub outage: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Who is applying, for idempotency tokens.
#[derive(Debug, Clone, Copy)]
pub(super) struct Writer<'a> {
    pub cx: Cx<'a>,
    pub uid: uuid::Uuid,
    pub generation: i64,
    /// `policy.applyImmediately`.
    pub apply_immediately: bool,
}

/// Carries out `plan` in order, stopping at the first failed write.
pub(super) async fn run(
    w: Writer<'_>,
    graph: &DesiredGraph,
    plan: &Plan,
    observed: ObservedState,
) -> Run {
    let mut run = Run {
        after: observed,
        ..Run::default()
    };
    let mut written: BTreeSet<ResourceId> = BTreeSet::new();
    for action in &plan.actions {
        let desired = graph.get(&action.resource);
        let change = match (&action.change, desired) {
            (Change::NoOp, Some(desired)) => moved_references(desired, &run.after, &written),
            (change, _) => Some(change.clone()),
        };
        let Some(change) = change.filter(|c| *c != Change::NoOp) else {
            continue;
        };
        let Some(verb) = change.verb() else { continue };
        if !verb.writes() {
            run.applied.push(Applied {
                resource: action.resource.clone(),
                action: verb,
                ok: false,
                message: reason(&change),
            });
            continue;
        }
        let result = write(w, &action.resource, &change, desired, &run.after).await;
        let mut message = None;
        match result {
            Ok(Written::Now(now)) => {
                run.after.insert(action.resource.clone(), now);
                written.insert(action.resource.clone());
            }
            Ok(Written::Gone { snapshot }) => {
                run.after.remove(&action.resource);
                message = snapshot.map(|name| format!("final snapshot {name}"));
            }
            Ok(Written::Released) => {
                run.after.remove(&action.resource);
                message = Some("left in place, untagged: no longer managed by Plumb".to_owned());
            }
            Err(e) => {
                run.failure = Some(Failure {
                    message: format!("{} {}: {e}", verb.as_str(), action.resource),
                    permanent: e.is_permanent(),
                    outage: e.is_outage(),
                });
                run.applied.push(Applied {
                    resource: action.resource.clone(),
                    action: verb,
                    ok: false,
                    message: Some(e.to_string()),
                });
                break;
            }
        }
        run.applied.push(Applied {
            resource: action.resource.clone(),
            action: verb,
            ok: true,
            message,
        });
    }
    run
}

/// What a write left.
enum Written {
    /// The resource as it now is.
    Now(Observed),
    /// Deleted, after a final snapshot for a kind that holds data.
    Gone { snapshot: Option<String> },
    /// Left in place and untagged.
    Released,
}

fn reason(change: &Change) -> Option<String> {
    match change {
        Change::ReplacementRequired { reason, .. } => {
            Some(format!("replacement required and not allowed: {reason}"))
        }
        Change::Wait { reason } | Change::Conflict { reason } | Change::Blocked { reason } => {
            Some(reason.clone())
        }
        Change::Scheduled { fields } => {
            let fields: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            Some(format!(
                "scheduled for the maintenance window: {}",
                fields.join(", ")
            ))
        }
        Change::Create { .. }
        | Change::Update { .. }
        | Change::NoOp
        | Change::Delete
        | Change::Adopt
        | Change::Release => None,
    }
}

/// A resource that matched when planned but refers to something written since, whose ARN
/// changed: an update of those fields.
fn moved_references(
    desired: &Desired,
    after: &ObservedState,
    written: &BTreeSet<ResourceId>,
) -> Option<Change> {
    let touched = desired
        .references
        .values()
        .any(|r| r.managed && r.reference.targets().iter().any(|t| written.contains(*t)));
    if !touched {
        return None;
    }
    let current = after.get(&desired.id)?;
    let arn = |id: &ResourceId| after.get(id).and_then(|o| o.arn.clone());
    let fields: Vec<FieldChange> = field_changes(desired, current, &arn)
        .into_iter()
        .filter(|c| desired.references.contains_key(&c.field))
        .collect();
    (!fields.is_empty()).then_some(Change::Update { fields })
}

/// One write, and what it left.
async fn write(
    w: Writer<'_>,
    id: &ResourceId,
    change: &Change,
    desired: Option<&Desired>,
    after: &ObservedState,
) -> Result<Written, AwsError> {
    let current = after.get(id);
    let need_current = || {
        current.ok_or_else(|| AwsError::Field {
            resource: id.clone(),
            field: "arn",
        })
    };
    let need_desired = || {
        desired.ok_or_else(|| AwsError::Field {
            resource: id.clone(),
            field: "desired",
        })
    };
    match change {
        Change::Delete => {
            let snapshot = match current {
                Some(current) => aws::delete(w.cx, current).await?,
                None => None,
            };
            Ok(Written::Gone { snapshot })
        }
        Change::Release => {
            aws::release(w.cx, need_current()?).await?;
            Ok(Written::Released)
        }
        Change::Adopt => {
            let desired = need_desired()?;
            aws::adopt(w.cx, need_current()?, &desired.tags).await?;
            let mut adopted = need_current()?.clone();
            adopted.owner = crate::engine::Owner::Ours;
            Ok(Written::Now(adopted))
        }
        Change::Create { .. } => create(w, need_desired()?, after).await.map(Written::Now),
        Change::Update { fields } => {
            let resolved = resolve(need_desired()?, after)?;
            let changed: BTreeSet<String> = fields.iter().map(|f| f.field.clone()).collect();
            let token = token(w, id);
            let write = Write {
                desired: &resolved,
                current,
                changed: &changed,
                token: &token,
                apply_immediately: w.apply_immediately,
            };
            aws::update(w.cx, write).await.map(Written::Now)
        }
        Change::NoOp
        | Change::ReplacementRequired { .. }
        | Change::Wait { .. }
        | Change::Conflict { .. }
        | Change::Blocked { .. }
        | Change::Scheduled { .. } => match current {
            Some(current) => Ok(Written::Now(current.clone())),
            None => Ok(Written::Gone { snapshot: None }),
        },
    }
}

/// Creates the resource; when AWS's answer lacks some of what was asked (a field it dropped
/// or applies only on update), finishes it at once with an update of just those fields. When
/// AWS honoured the whole request, as it should, this costs nothing.
async fn create(
    w: Writer<'_>,
    desired: &Desired,
    after: &ObservedState,
) -> Result<Observed, AwsError> {
    let resolved = resolve(desired, after)?;
    let token = token(w, &desired.id);
    let none = BTreeSet::new();
    let write = Write {
        desired: &resolved,
        current: None,
        changed: &none,
        token: &token,
        apply_immediately: w.apply_immediately,
    };
    let created = aws::create(w.cx, write).await?;
    let fields: Vec<FieldChange> = field_changes(&resolved, &created, &|_| None);
    if fields.is_empty() {
        return Ok(created);
    }
    tracing::info!(resource = %desired.id, ?fields, "create answered without some fields; updating them");
    let changed: BTreeSet<String> = fields.into_iter().map(|f| f.field).collect();
    let write = Write {
        desired: &resolved,
        current: Some(&created),
        changed: &changed,
        token: &token,
        // Finishing a create: nothing runs on it yet to disturb.
        apply_immediately: true,
    };
    let mut updated = aws::update(w.cx, write).await?;
    if updated.arn.is_none() {
        updated.arn = created.arn;
    }
    Ok(updated)
}

/// The desired resource with every reference replaced by the ARNs known now.
fn resolve(desired: &Desired, after: &ObservedState) -> Result<Desired, AwsError> {
    let mut out = desired.clone();
    let arns: BTreeMap<&ResourceId, Option<String>> =
        after.iter().map(|(id, o)| (id, o.arn.clone())).collect();
    for (field, r) in std::mem::take(&mut out.references) {
        let arn = |id: &ResourceId| arns.get(id).cloned().flatten();
        let Some(value) = r.reference.resolve(arn) else {
            let missing = r.reference.targets().into_iter().find(|t| arn(t).is_none());
            return Err(AwsError::Unresolved {
                resource: desired.id.clone(),
                target: missing.cloned().unwrap_or_else(|| desired.id.clone()),
            });
        };
        let target = if r.managed {
            &mut out.fields
        } else {
            &mut out.create_only
        };
        target.insert(field, value);
    }
    Ok(out)
}

/// The idempotency token of writes to `id` for this generation: the same across retries and
/// across a crash between the write and its record, new for the next generation. 32 hex
/// characters (ECS takes up to 36).
fn token(w: Writer<'_>, id: &ResourceId) -> String {
    let digest = Sha256::digest(format!("{}/{id}/{}", w.uid, w.generation));
    hex::encode(&digest[..16])
}
