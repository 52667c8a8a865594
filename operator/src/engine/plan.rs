//! `plan(diff)`: the ordered actions that bring AWS to the desired graph.
//!
//! - Missing → `Create` with every desired and create-only field.
//! - Observed under our name but not tagged as ours → `Conflict` (never touched), or with
//!   `policy.adopt`, `Adopt` (tag it ours) and then as below.
//! - Busy (AWS is creating, modifying, draining, rolling out) → `Wait`: nothing is written,
//!   and a revisioned resource it references that differs (a task definition) waits too.
//! - Failed (its last change failed), or held by the caller (a failure recorded for the
//!   current generation) → `Blocked`, and so is every resource it references: not written
//!   again until the spec changes.
//! - Differs → `Update`; but a change to a field the kind cannot change in place
//!   ([`Rules::replace_on`](super::kinds::Rules)) replaces the resource: `Delete` then
//!   `Create` for stateless kinds, and for stateful kinds too when `policy.allowReplacement`
//!   is set; otherwise it is refused as `ReplacementRequired`.
//! - Matches → `NoOp`.
//! - Orphaned → `Delete`; a stateful one only under `policy.deletion: delete`, otherwise it is
//!   released (`Release`: left in place and untagged), with every orphan it needs. A
//!   busy orphan → `Wait`.
//! - A stateful resource whose name a stateful orphan of another kind holds (an RDS instance
//!   where the spec now wants an Aurora cluster) is refused unless `policy.allowReplacement`,
//!   and the orphan is kept as it is. A resource to be created that needs a refused, blocked
//!   or conflicting one is blocked.
//! - Fields AWS already holds for the maintenance window → `Scheduled` (nothing written). An
//!   update says per field when AWS makes it and what it interrupts (the kind's
//!   [`Rules`](super::kinds::Rules) `deferred` and `disruptive`).
//! - A reference follows its target: when the target is created, replaced, or updated into a
//!   new revision ([`Rules::revisioned`](super::kinds::Rules)), the referring field changes to
//!   an ARN known only after apply, so the referrer is updated after its target.
//!
//! Ignore rules (`policy.ignore`) were applied when the graph was built: an ignored field is
//! create-only, never compared, so it never reaches an update.
//!
//! Desired resources come in graph (dependency) order, a replacement's delete right before
//! its create; deletes of orphans come last, dependents first.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::diff::{after_apply, current, DiffState, ResourceDiff};
use super::kinds::Rules;
use super::resource::{
    Action, Change, Desired, DesiredGraph, FieldChange, Observed, Owner, Phase, Plan, ResourceId,
};
use crate::spec::{DeletionPolicy, Policy};

/// Resources the caller holds back, with the reason (failures recorded for this generation).
pub type Holds = BTreeMap<ResourceId, String>;

/// Orders the actions that turn what was observed into the desired graph.
pub fn plan(graph: &DesiredGraph, diffs: &[ResourceDiff], policy: &Policy, holds: &Holds) -> Plan {
    let by_id: HashMap<&ResourceId, &ResourceDiff> = diffs.iter().map(|d| (&d.id, d)).collect();
    let blocked = blocked(graph, &by_id, holds);
    let waiting = waiting(graph, &by_id);
    let stand_ins = stand_ins(graph, diffs);
    let mut actions = Vec::new();
    for desired in &graph.resources {
        let Some(diff) = by_id.get(&desired.id) else {
            continue;
        };
        let changes = match (blocked.get(&desired.id), waiting.get(&desired.id)) {
            (Some(reason), _) if diff.state != DiffState::Matches => vec![Change::Blocked {
                reason: reason.clone(),
            }],
            (_, Some(reason)) if matches!(diff.state, DiffState::Differs(_)) => {
                vec![Change::Wait {
                    reason: reason.clone(),
                }]
            }
            _ => match stand_ins.get(&desired.id) {
                Some(other) if !policy.allow_replacement => vec![Change::ReplacementRequired {
                    reason: format!(
                        "{} exists as a {}; making it a {} needs a new resource and a move of its data, and policy.allowReplacement is false",
                        desired.id.name,
                        other.kind.as_str(),
                        desired.id.kind.as_str()
                    ),
                    fields: Vec::new(),
                }],
                _ => desired_changes(desired, diff, policy),
            },
        };
        actions.extend(changes.into_iter().map(|change| Action {
            resource: desired.id.clone(),
            change,
        }));
    }
    hold_dependents(graph, &mut actions);
    follow_references(graph, &by_id, &mut actions);
    let kept: BTreeSet<&ResourceId> = if policy.allow_replacement {
        BTreeSet::new()
    } else {
        stand_ins.values().copied().collect()
    };
    actions.extend(orphan_actions(graph, diffs, policy, &kept));
    Plan { actions }
}

/// Stateful resources the graph wants that are missing while a stateful orphan of another
/// kind holds their name (PostgreSQL as an RDS instance in AWS and an Aurora cluster in the
/// spec): the orphan, by the desired id.
fn stand_ins<'a>(
    graph: &DesiredGraph,
    diffs: &'a [ResourceDiff],
) -> BTreeMap<ResourceId, &'a ResourceId> {
    let orphans: Vec<&ResourceDiff> = diffs
        .iter()
        .filter(|d| d.state == DiffState::Orphaned && d.id.kind.is_stateful())
        .collect();
    let missing = diffs
        .iter()
        .filter(|d| d.state == DiffState::Missing && d.id.kind.is_stateful());
    missing
        .filter(|d| graph.get(&d.id).is_some())
        .filter_map(|d| {
            let other = orphans
                .iter()
                .find(|o| o.id.name == d.id.name && o.id.kind != d.id.kind)?;
            Some((d.id.clone(), &other.id))
        })
        .collect()
}

/// A resource to be created that needs one held back (refused, in conflict, blocked) is
/// held too: creating it would fail, or land beside the wrong thing. So is one that only
/// held-back resources would use.
fn hold_dependents(graph: &DesiredGraph, actions: &mut [Action]) {
    let mut held: BTreeMap<ResourceId, String> = BTreeMap::new();
    for desired in &graph.resources {
        let Some(i) = actions.iter().position(|a| a.resource == desired.id) else {
            continue;
        };
        let holder = desired.depends_on.iter().find_map(|dep| {
            let action = actions.iter().find(|a| &a.resource == dep)?;
            match &action.change {
                Change::ReplacementRequired { .. } | Change::Conflict { .. } => {
                    Some(format!("needs {dep}, which is held back"))
                }
                Change::Blocked { .. } if held.contains_key(dep) => held.get(dep).cloned(),
                Change::Blocked { .. } => Some(format!("needs {dep}, which is held back")),
                _ => None,
            }
        });
        if let (Some(reason), Change::Create { .. }) = (holder, &actions[i].change) {
            actions[i].change = Change::Blocked {
                reason: reason.clone(),
            };
            held.insert(desired.id.clone(), reason);
        }
    }
    // Nor is anything created that only held-back resources would use.
    for desired in graph.resources.iter().rev() {
        let users: Vec<&Desired> = graph
            .resources
            .iter()
            .filter(|r| r.depends_on.contains(&desired.id))
            .collect();
        let held_back = |id: &ResourceId| {
            actions.iter().any(|a| {
                &a.resource == id
                    && matches!(
                        a.change,
                        Change::ReplacementRequired { .. }
                            | Change::Conflict { .. }
                            | Change::Blocked { .. }
                    )
            })
        };
        if users.is_empty() || !users.iter().all(|u| held_back(&u.id)) {
            continue;
        }
        if let Some(action) = actions
            .iter_mut()
            .find(|a| a.resource == desired.id && matches!(a.change, Change::Create { .. }))
        {
            let names: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
            action.change = Change::Blocked {
                reason: format!("only {} would use it, which is held back", names.join(", ")),
            };
        }
    }
}

impl Plan {
    /// Nothing to create, update, delete, wait for or refuse.
    pub fn is_noop(&self) -> bool {
        self.actions.iter().all(|a| a.change == Change::NoOp)
    }
}

/// Held resources, failed ones, and every resource they reference, with the reason.
fn blocked(
    graph: &DesiredGraph,
    by_id: &HashMap<&ResourceId, &ResourceDiff>,
    holds: &Holds,
) -> Holds {
    let mut out = holds.clone();
    for diff in by_id.values() {
        if let Some(Observed {
            phase: Phase::Failed(reason),
            ..
        }) = &diff.observed
        {
            out.entry(diff.id.clone()).or_insert_with(|| reason.clone());
        }
    }
    for desired in &graph.resources {
        let Some(reason) = out.get(&desired.id).cloned() else {
            continue;
        };
        for r in desired.references.values() {
            for target in r.reference.targets() {
                let because = format!("{reason} (held with {})", desired.id);
                out.entry(target.clone()).or_insert(because);
            }
        }
    }
    out
}

/// Revisioned resources (task definitions) that a busy resource references, with the reason.
/// A new revision could not be taken up before the busy one settles, and a family is
/// observed at the revision its service runs: registered now, it would be registered again
/// on every reconcile until the rollout ends. So it waits, and goes out with its referrer.
fn waiting(graph: &DesiredGraph, by_id: &HashMap<&ResourceId, &ResourceDiff>) -> Holds {
    let mut out = Holds::new();
    for desired in &graph.resources {
        let Some(Observed {
            phase: Phase::Busy(reason),
            ..
        }) = by_id.get(&desired.id).and_then(|d| d.observed.as_ref())
        else {
            continue;
        };
        let targets = desired
            .references
            .values()
            .flat_map(|r| r.reference.targets());
        for target in targets.filter(|t| t.kind.rules().revisioned) {
            let because = format!("{reason} (waiting with {})", desired.id);
            out.entry(target.clone()).or_insert(because);
        }
    }
    out
}

fn desired_changes(desired: &Desired, diff: &ResourceDiff, policy: &Policy) -> Vec<Change> {
    let Some(observed) = &diff.observed else {
        return vec![Change::Create {
            fields: create_fields(desired),
        }];
    };
    let mut out = Vec::new();
    if observed.owner != Owner::Ours {
        if !policy.adopt {
            return vec![Change::Conflict {
                reason: conflict_reason(&observed.owner),
            }];
        }
        out.push(Change::Adopt);
    }
    match (&observed.phase, &diff.state) {
        (Phase::Busy(reason), _) => {
            out.push(Change::Wait {
                reason: reason.clone(),
            });
            return out;
        }
        (_, DiffState::Differs(changes)) => {
            out.extend(changed(desired.id.kind.rules(), desired, changes, policy))
        }
        (_, DiffState::Missing | DiffState::Matches | DiffState::Orphaned) => {
            if diff.scheduled.is_empty() {
                out.push(Change::NoOp)
            }
        }
    }
    if !diff.scheduled.is_empty() {
        out.push(Change::Scheduled {
            fields: diff.scheduled.clone(),
        });
    }
    out
}

fn conflict_reason(owner: &Owner) -> String {
    let whose = match owner {
        Owner::Other(env) => format!("tagged as environment {env:?}'s"),
        Owner::Untagged | Owner::Ours => "not tagged by Plumb".to_owned(),
    };
    format!(
        "a resource with this name exists and is {whose}; it is left as it is (set policy.adopt to take it over)"
    )
}

/// Every desired and create-only field (references as known after apply), as changes from
/// nothing, in field-name order.
fn create_fields(desired: &Desired) -> Vec<FieldChange> {
    let mut all = desired.create_only.clone();
    all.extend(desired.fields.clone());
    for (field, r) in &desired.references {
        all.insert(field.clone(), after_apply(&r.reference.targets()));
    }
    all.into_iter()
        .map(|(field, value)| FieldChange::new(field, None, Some(value)))
        .collect()
}

/// An update, or a replacement when a field the kind cannot change in place differs (refused
/// for a stateful kind unless the policy allows it).
fn changed(
    rules: &Rules,
    desired: &Desired,
    changes: &[FieldChange],
    policy: &Policy,
) -> Vec<Change> {
    let blocking: Vec<&str> = changes
        .iter()
        .map(|c| c.field.as_str())
        .filter(|f| rules.replace_on.contains(f))
        .collect();
    if blocking.is_empty() {
        vec![Change::Update {
            fields: changes
                .iter()
                .map(|c| with_effect(rules, c, policy))
                .collect(),
        }]
    } else if rules.stateful && !policy.allow_replacement {
        vec![Change::ReplacementRequired {
            reason: format!(
                "{} cannot change in place and policy.allowReplacement is false",
                blocking.join(", ")
            ),
            fields: changes.to_vec(),
        }]
    } else {
        vec![
            Change::Delete,
            Change::Create {
                fields: create_fields(desired),
            },
        ]
    }
}

/// The change, saying when AWS makes it (a deferred field waits for the maintenance window
/// unless `policy.applyImmediately`) and what it interrupts.
fn with_effect(rules: &Rules, change: &FieldChange, policy: &Policy) -> FieldChange {
    let field = change.field.as_str();
    let mut effect = Vec::new();
    if rules.deferred.contains(&field) {
        effect.push(if policy.apply_immediately {
            "now (policy.applyImmediately)"
        } else {
            "at the maintenance window"
        });
    }
    if let Some((_, what)) = rules.disruptive.iter().find(|(f, _)| *f == field) {
        effect.push(what);
    }
    FieldChange {
        effect: (!effect.is_empty()).then(|| effect.join("; ")),
        ..change.clone()
    }
}

/// Whether `id` gets a new ARN in this plan: created, replaced, or a new revision.
fn gets_new_arn(actions: &[Action], id: &ResourceId) -> bool {
    actions
        .iter()
        .filter(|a| &a.resource == id)
        .any(|a| match a.change {
            Change::Create { .. } => true,
            Change::Update { .. } => id.kind.rules().revisioned,
            _ => false,
        })
}

/// A referrer whose target gets a new ARN is updated after it: its no-op becomes an update,
/// or its update gains the field. Referrers being created, replaced, refused or waited on are
/// left as they are.
fn follow_references(
    graph: &DesiredGraph,
    by_id: &HashMap<&ResourceId, &ResourceDiff>,
    actions: &mut [Action],
) {
    let mut moved: Vec<(usize, FieldChange)> = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        if !matches!(action.change, Change::NoOp | Change::Update { .. }) {
            continue;
        }
        let Some(desired) = graph.get(&action.resource) else {
            continue;
        };
        let observed = by_id.get(&desired.id).and_then(|d| d.observed.as_ref());
        for (field, r) in desired.references.iter().filter(|(_, r)| r.managed) {
            let targets = r.reference.targets();
            if targets.iter().any(|t| gets_new_arn(actions, t)) {
                let from = observed.and_then(|o| current(desired.id.kind, field, o));
                let to = Some(after_apply(&targets));
                moved.push((
                    i,
                    FieldChange {
                        field: field.clone(),
                        from,
                        to,
                        effect: None,
                    },
                ));
            }
        }
    }
    for (i, change) in moved {
        let action = &mut actions[i];
        match &mut action.change {
            Change::NoOp => {
                action.change = Change::Update {
                    fields: vec![change],
                }
            }
            Change::Update { fields } => {
                fields.retain(|f| f.field != change.field);
                fields.push(change);
                fields.sort_by(|a, b| a.field.cmp(&b.field));
            }
            _ => {}
        }
    }
}

/// Orphans that go (or are waited on), dependents first: a resource is deleted before what it
/// depends on. A stateful orphan is deleted only under `policy.deletion: delete`; otherwise
/// it is released (left in place, untagged), and so is every orphan it needs (the subnet
/// group a retained database uses cannot go). A stateful orphan that needs a stateful
/// resource the graph still wants keeps its data there (an Aurora reader the spec dropped: the
/// data is the cluster's) and simply goes. `kept` orphans (the stand-ins of a refused
/// replacement) and those connected to them are left exactly as they are.
fn orphan_actions(
    graph: &DesiredGraph,
    diffs: &[ResourceDiff],
    policy: &Policy,
    kept: &BTreeSet<&ResourceId>,
) -> Vec<Action> {
    let orphans: BTreeMap<&ResourceId, &Observed> = diffs
        .iter()
        .filter(|d| d.state == DiffState::Orphaned)
        .filter_map(|d| d.observed.as_ref().map(|o| (&d.id, o)))
        .collect();
    let kept = connected(&orphans, kept.iter().copied());
    let data_elsewhere = |o: &Observed| {
        o.depends_on
            .iter()
            .any(|dep| dep.kind.is_stateful() && graph.get(dep).is_some())
    };
    let retained = needed(
        &orphans,
        orphans
            .iter()
            .filter(|(id, o)| id.kind.is_stateful() && !data_elsewhere(o))
            .filter(|_| policy.deletion == DeletionPolicy::Retain)
            .map(|(id, _)| *id),
    );
    let going: BTreeMap<&ResourceId, &Observed> = orphans
        .iter()
        .filter(|(id, _)| !kept.contains(*id))
        .map(|(id, o)| (*id, *o))
        .collect();
    let mut actions: Vec<Action> = dependents_first(&going)
        .into_iter()
        .map(|id| {
            let change = match &going[id].phase {
                Phase::Busy(reason) => Change::Wait {
                    reason: reason.clone(),
                },
                Phase::Ready | Phase::Failed(_) if retained.contains(id) => Change::Release,
                Phase::Ready | Phase::Failed(_) => Change::Delete,
            };
            Action {
                resource: id.clone(),
                change,
            }
        })
        .collect();
    // Deleting a database takes AWS minutes: what it needs (its cluster, subnet group,
    // parameter group) goes once it is gone, not in the same breath.
    let leaving: Vec<(&ResourceId, &Observed)> = actions
        .iter()
        .filter(|a| a.resource.kind.is_stateful())
        .filter(|a| matches!(a.change, Change::Delete | Change::Wait { .. }))
        .filter_map(|a| going.get_key_value(&a.resource).map(|(id, o)| (*id, *o)))
        .collect();
    for action in &mut actions {
        if action.change != Change::Delete {
            continue;
        }
        let user = leaving
            .iter()
            .find(|(_, o)| o.depends_on.contains(&action.resource));
        if let Some((user, _)) = user {
            action.change = Change::Wait {
                reason: format!("{user} is being deleted and still uses it"),
            };
        }
    }
    actions
}

/// `start` and every orphan they need, directly or not (a retained database's subnet group).
fn needed<'a>(
    orphans: &BTreeMap<&'a ResourceId, &Observed>,
    start: impl IntoIterator<Item = &'a ResourceId>,
) -> BTreeSet<&'a ResourceId> {
    let mut out: BTreeSet<&ResourceId> = BTreeSet::new();
    let mut todo: Vec<&ResourceId> = start.into_iter().collect();
    while let Some(id) = todo.pop() {
        if !out.insert(id) {
            continue;
        }
        let needs = orphans
            .get(id)
            .map(|o| o.depends_on.as_slice())
            .unwrap_or_default();
        todo.extend(
            needs
                .iter()
                .filter_map(|dep| orphans.get_key_value(dep).map(|(k, _)| *k)),
        );
    }
    out
}

/// `start` and every orphan linked to one of them by a dependency, either way.
fn connected<'a>(
    orphans: &BTreeMap<&'a ResourceId, &Observed>,
    start: impl IntoIterator<Item = &'a ResourceId>,
) -> BTreeSet<&'a ResourceId> {
    let mut out: BTreeSet<&ResourceId> = BTreeSet::new();
    let mut todo: Vec<&ResourceId> = start.into_iter().collect();
    while let Some(id) = todo.pop() {
        if !out.insert(id) {
            continue;
        }
        for (other, o) in orphans {
            let linked = o.depends_on.contains(id)
                || orphans
                    .get(id)
                    .is_some_and(|me| me.depends_on.contains(other));
            if linked && !out.contains(other) {
                todo.push(other);
            }
        }
    }
    out
}

/// The orphans ordered so that each comes before everything it depends on; among those free
/// to go, by id. A dependency cycle (which AWS does not allow) falls back to id order.
fn dependents_first<'a>(orphans: &BTreeMap<&'a ResourceId, &Observed>) -> Vec<&'a ResourceId> {
    // How many orphans still depend on each one.
    let mut needed_by: BTreeMap<&ResourceId, usize> = orphans.keys().map(|id| (*id, 0)).collect();
    for o in orphans.values() {
        for dep in &o.depends_on {
            if let Some(n) = needed_by.get_mut(dep) {
                *n += 1;
            }
        }
    }
    let mut order = Vec::with_capacity(orphans.len());
    let mut done: BTreeSet<&ResourceId> = BTreeSet::new();
    while order.len() < orphans.len() {
        let next = needed_by
            .iter()
            .find(|(id, n)| **n == 0 && !done.contains(*id))
            .or_else(|| needed_by.iter().find(|(id, _)| !done.contains(*id)))
            .map(|(id, _)| *id);
        let Some(id) = next else { break };
        done.insert(id);
        order.push(id);
        for dep in &orphans[id].depends_on {
            if let Some(n) = needed_by.get_mut(dep) {
                *n = n.saturating_sub(1);
            }
        }
    }
    order
}

#[cfg(test)]
#[path = "tests/plan.rs"]
mod tests;

#[cfg(test)]
#[path = "tests/plan_cases.rs"]
mod cases;
