//! `plan(diff)`: the ordered actions that bring AWS to the desired graph.
//!
//! - Missing → `Create` with every desired and create-only field.
//! - Differs → `Update`; but a change to a field that cannot change in place
//!   ([`immutable_fields`]) replaces the resource: `Delete` then `Create` of the same id for
//!   stateless kinds, and for stateful kinds too when `policy.allowReplacement` is set;
//!   otherwise it is refused as `ReplacementRequired`.
//! - Matches → `NoOp`.
//! - Orphaned → `Delete`; a stateful resource only when `policy.deletion` is `delete`,
//!   otherwise it is retained and the plan has no action for it.
//! - A task definition that is created or updated gets a new revision, so the service
//!   running that family is updated to roll onto it (its `taskDefinition` field changes to
//!   `"{family} (new revision)"`; the adapter deploys the family's latest revision).
//!
//! Ignore rules (`policy.ignore`) were applied when the graph was built: an ignored field is
//! create-only, never compared, so it never reaches an update.
//!
//! Creates, updates and no-ops come in graph (dependency) order, a replacement's delete right
//! before its create; deletes of orphans come last, in reverse dependency order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde_json::Value;

use super::diff::{normalize, DiffState, ResourceDiff};
use super::resource::{
    Action, Change, Desired, DesiredGraph, FieldChange, Plan, ResourceId, ResourceKind,
};
use crate::spec::{DeletionPolicy, Policy};

/// Appended to a family name in the `taskDefinition` change of a service that must roll onto
/// its task definition's new revision.
pub const NEW_REVISION: &str = " (new revision)";

/// Fields of `kind` that AWS cannot change in place: changing one replaces the resource.
pub fn immutable_fields(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::EcsService => &["cluster"],
        ResourceKind::ScalingPolicy => &["resourceId", "policyType"],
        ResourceKind::EcsCluster
        | ResourceKind::LogGroup
        | ResourceKind::TaskDefinition
        | ResourceKind::ScalableTarget
        | ResourceKind::MetricAlarm => &[],
    }
}

/// Orders the actions that turn what was observed into the desired graph.
pub fn plan(graph: &DesiredGraph, diffs: &[ResourceDiff], policy: &Policy) -> Plan {
    let by_id: HashMap<&ResourceId, &ResourceDiff> = diffs.iter().map(|d| (&d.id, d)).collect();
    let mut actions = Vec::new();
    for desired in &graph.resources {
        let Some(diff) = by_id.get(&desired.id) else {
            continue;
        };
        let changes = match &diff.state {
            DiffState::Missing => vec![Change::Create {
                fields: create_fields(desired),
            }],
            DiffState::Differs(changes) => {
                changed(desired, changes, desired.id.kind.is_stateful(), policy)
            }
            // A desired resource is never an orphan; nothing to do if a caller says so.
            DiffState::Matches | DiffState::Orphaned => vec![Change::NoOp],
        };
        actions.extend(changes.into_iter().map(|change| Action {
            resource: desired.id.clone(),
            change,
        }));
    }
    roll_services_onto_new_revisions(graph, &by_id, &mut actions);

    let desired: BTreeSet<&ResourceId> = graph.resources.iter().map(|d| &d.id).collect();
    let mut deletes: Vec<Action> = diffs
        .iter()
        .filter(|d| d.state == DiffState::Orphaned && !desired.contains(&d.id))
        .filter_map(|d| {
            orphan_change(d.id.kind.is_stateful(), policy).map(|change| Action {
                resource: d.id.clone(),
                change,
            })
        })
        .collect();
    deletes.sort_by(|a, b| {
        let key = |a: &Action| (Reverse(a.resource.kind), a.resource.name.clone());
        key(a).cmp(&key(b))
    });
    actions.extend(deletes);
    Plan { actions }
}

impl Plan {
    /// Nothing to create, update, delete or refuse.
    pub fn is_noop(&self) -> bool {
        self.actions.iter().all(|a| a.change == Change::NoOp)
    }

    /// A terraform-like text rendering: `+` create, `~` update, `-` delete, `!` refused
    /// replacement, each field on an indented line, values as compact JSON; no-ops left out;
    /// a summary line at the end.
    pub fn render_text(&self) -> String {
        Text(self).to_string()
    }
}

/// Every desired and create-only field, as changes from nothing, in field-name order.
fn create_fields(desired: &Desired) -> Vec<FieldChange> {
    let mut all = desired.create_only.clone();
    all.extend(desired.fields.clone());
    all.into_iter()
        .map(|(field, value)| FieldChange {
            field,
            from: None,
            to: Some(value),
        })
        .collect()
}

/// How a resource with changed fields is brought in line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    InPlace,
    Replace,
    /// Names the immutable fields that changed.
    Refuse(Vec<String>),
}

fn decide(
    kind: ResourceKind,
    changes: &[FieldChange],
    stateful: bool,
    allow_replacement: bool,
) -> Decision {
    let immutable = immutable_fields(kind);
    let blocking: Vec<String> = changes
        .iter()
        .filter(|c| immutable.contains(&c.field.as_str()))
        .map(|c| c.field.clone())
        .collect();
    if blocking.is_empty() {
        Decision::InPlace
    } else if stateful && !allow_replacement {
        Decision::Refuse(blocking)
    } else {
        Decision::Replace
    }
}

fn changed(
    desired: &Desired,
    changes: &[FieldChange],
    stateful: bool,
    policy: &Policy,
) -> Vec<Change> {
    if changes.is_empty() {
        return vec![Change::NoOp];
    }
    match decide(desired.id.kind, changes, stateful, policy.allow_replacement) {
        Decision::InPlace => vec![Change::Update {
            fields: changes.to_vec(),
        }],
        Decision::Replace => vec![
            Change::Delete,
            Change::Create {
                fields: create_fields(desired),
            },
        ],
        Decision::Refuse(fields) => vec![Change::ReplacementRequired {
            reason: format!(
                "{} cannot change in place and policy.allowReplacement is false",
                fields.join(", ")
            ),
            fields: changes.to_vec(),
        }],
    }
}

/// Orphans are deleted, except stateful ones whose deletion the policy does not allow: those
/// are retained (no action).
fn orphan_change(stateful: bool, policy: &Policy) -> Option<Change> {
    (!stateful || policy.deletion == DeletionPolicy::Delete).then_some(Change::Delete)
}

/// A created or updated task definition is a new revision; each service running that family
/// must roll onto it. The service's `taskDefinition` change goes from what it runs to
/// `"{family} (new revision)"`. A service being created, replaced or refused is left alone,
/// and so is one whose `taskDefinition` is not managed (ignored).
fn roll_services_onto_new_revisions(
    graph: &DesiredGraph,
    diffs: &HashMap<&ResourceId, &ResourceDiff>,
    actions: &mut [Action],
) {
    let revised: BTreeSet<&str> = actions
        .iter()
        .filter(|a| a.resource.kind == ResourceKind::TaskDefinition)
        .filter(|a| matches!(a.change, Change::Create { .. } | Change::Update { .. }))
        .map(|a| a.resource.name.as_str())
        .collect();
    if revised.is_empty() {
        return;
    }
    let families: HashMap<&ResourceId, String> = graph
        .resources
        .iter()
        .filter(|d| d.id.kind == ResourceKind::EcsService)
        .filter_map(|d| {
            let family = d.fields.get("taskDefinition")?.as_str()?;
            revised.contains(family).then(|| (&d.id, family.to_owned()))
        })
        .collect();
    for action in actions.iter_mut() {
        let Some(family) = families.get(&action.resource) else {
            continue;
        };
        let from = diffs
            .get(&action.resource)
            .and_then(|d| d.observed.as_ref())
            .and_then(|o| o.fields.get("taskDefinition"))
            .map(|v| normalize(ResourceKind::EcsService, "taskDefinition", v))
            .filter(|v| !v.is_null());
        let to = Some(Value::String(format!("{family}{NEW_REVISION}")));
        match &mut action.change {
            Change::NoOp => {
                action.change = Change::Update {
                    fields: vec![FieldChange {
                        field: "taskDefinition".to_owned(),
                        from,
                        to,
                    }],
                };
            }
            Change::Update { fields } => {
                match fields.iter_mut().find(|f| f.field == "taskDefinition") {
                    Some(existing) => existing.to = to,
                    None => {
                        fields.push(FieldChange {
                            field: "taskDefinition".to_owned(),
                            from,
                            to,
                        });
                        fields.sort_by(|a, b| a.field.cmp(&b.field));
                    }
                }
            }
            Change::Create { .. } | Change::Delete | Change::ReplacementRequired { .. } => {}
        }
    }
}

/// The text form of a plan.
struct Text<'a>(&'a Plan);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut create, mut update, mut delete, mut refused) = (0, 0, 0, 0);
        for action in &self.0.actions {
            let id = &action.resource;
            match &action.change {
                Change::NoOp => {}
                Change::Create { fields } => {
                    create += 1;
                    writeln!(f, "+ {id}")?;
                    for c in fields {
                        writeln!(f, "    + {} = {}", c.field, value(&c.to))?;
                    }
                }
                Change::Update { fields } => {
                    update += 1;
                    writeln!(f, "~ {id}")?;
                    write_changes(f, fields)?;
                }
                Change::Delete => {
                    delete += 1;
                    writeln!(f, "- {id}")?;
                }
                Change::ReplacementRequired { reason, fields } => {
                    refused += 1;
                    writeln!(f, "! {id} (replacement required: {reason})")?;
                    write_changes(f, fields)?;
                }
            }
        }
        if create + update + delete + refused == 0 {
            writeln!(f, "No changes.")
        } else {
            writeln!(
                f,
                "Plan: {create} to create, {update} to update, {delete} to delete, {refused} refused."
            )
        }
    }
}

fn write_changes(f: &mut fmt::Formatter<'_>, fields: &[FieldChange]) -> fmt::Result {
    for c in fields {
        writeln!(
            f,
            "    ~ {}: {} → {}",
            c.field,
            value(&c.from),
            value(&c.to)
        )?;
    }
    Ok(())
}

fn value(v: &Option<Value>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "(absent)".to_owned(),
    }
}

#[cfg(test)]
#[path = "tests/plan.rs"]
mod tests;
