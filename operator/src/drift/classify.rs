//! Pending or drift: what a reconcile found before it wrote anything, what `report` leaves
//! alone, and what the sweep amounts to after the writes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{AppliedFields, Finding, LastApplied, Sweep, EXISTS};
use crate::engine::diff::{field_changes, same, DiffState, ResourceDiff};
use crate::engine::{
    Action, Change, Desired, DesiredGraph, FieldChange, ObservedState, Owner, Phase, Plan,
    ResourceId,
};

/// The drift among a reconcile's differences: fields whose applied value is still the
/// desired one, and resources that were applied and are missing now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Classified {
    pub fields: BTreeMap<ResourceId, Vec<FieldChange>>,
    pub gone: BTreeSet<ResourceId>,
}

impl Classified {
    /// The change of `id`'s `field`, when it is drift.
    pub fn drifted(&self, id: &ResourceId, field: &str) -> Option<&FieldChange> {
        self.fields.get(id)?.iter().find(|c| c.field == field)
    }

    /// How many fields (and missing resources) drifted.
    pub fn count(&self) -> usize {
        self.fields.values().map(Vec::len).sum::<usize>() + self.gone.len()
    }
}

/// Splits the differences of `diffs` into drift and pending by what was last `applied`. A
/// resource with no applied record counts as applied when `assume_applied` (the current
/// generation was applied before Plumb kept records), for its fields, not its existence.
/// A resource AWS holds busy, or that is not this environment's, is not classified: Plumb
/// cannot tell yet.
pub fn classify(
    graph: &DesiredGraph,
    diffs: &[ResourceDiff],
    applied: &LastApplied,
    assume_applied: bool,
) -> Classified {
    let mut out = Classified::default();
    for diff in diffs {
        let Some(desired) = graph.get(&diff.id) else {
            continue;
        };
        let last = applied.get(&diff.id.to_string());
        match &diff.state {
            DiffState::Missing if last.is_some() => {
                out.gone.insert(diff.id.clone());
            }
            DiffState::Differs(changes) => {
                let comparable = diff
                    .observed
                    .as_ref()
                    .is_some_and(|o| o.owner == Owner::Ours && !matches!(o.phase, Phase::Busy(_)));
                if !comparable {
                    continue;
                }
                let drifted: Vec<FieldChange> = changes
                    .iter()
                    .filter(|c| was_applied(desired, last, c, assume_applied))
                    .cloned()
                    .collect();
                if !drifted.is_empty() {
                    out.fields.insert(diff.id.clone(), drifted);
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether the desired value of the change is what Plumb last applied.
fn was_applied(
    desired: &Desired,
    last: Option<&AppliedFields>,
    change: &FieldChange,
    assume_applied: bool,
) -> bool {
    let Some(want) = &change.to else {
        return false;
    };
    match last {
        Some(last) => last
            .fields
            .get(&change.field)
            .is_some_and(|applied| same(desired.id.kind, &change.field, want, applied)),
        None => assume_applied && desired.fields.contains_key(&change.field),
    }
}

/// The plan under `policy.drift: report`: drifted fields are not written, a drifted-away
/// resource is not recreated; what the spec changed (pending) still is.
pub fn leave_alone(plan: Plan, drift: &Classified) -> Plan {
    let actions = plan
        .actions
        .into_iter()
        .map(|action| {
            let change = match action.change {
                Change::Update { fields } => {
                    let keep: Vec<FieldChange> = fields
                        .into_iter()
                        .filter(|f| drift.drifted(&action.resource, &f.field).is_none())
                        .collect();
                    if keep.is_empty() {
                        Change::NoOp
                    } else {
                        Change::Update { fields: keep }
                    }
                }
                Change::Create { .. } if drift.gone.contains(&action.resource) => Change::NoOp,
                other => other,
            };
            Action {
                resource: action.resource,
                change,
            }
        })
        .collect();
    Plan { actions }
}

/// What a reconcile's drift amounts to once its writes are done (`after`: what AWS reported,
/// or answered a write with), and what was applied now: every managed field that matches is
/// recorded with the generation. `written` are the resources the run wrote (a busy one
/// among them is compared: its answer is fresh).
///
/// A value AWS echoes on a write but does not keep shows as drift on the next look; the
/// convergence guard stops re-applying it after a few rounds, as it stops a fight with
/// something else that keeps changing the field.
pub fn sweep(
    graph: &DesiredGraph,
    drift: &Classified,
    after: &ObservedState,
    applied: &LastApplied,
    generation: i64,
    written: &BTreeSet<ResourceId>,
) -> (Sweep, LastApplied) {
    let mut sweep = Sweep::default();
    let mut now = LastApplied::new();
    let arn = |id: &ResourceId| after.get(id).and_then(|o| o.arn.clone());
    for desired in &graph.resources {
        let key = desired.id.to_string();
        sweep.desired.insert(key.clone());
        let before = applied.get(&key);
        let gone = drift.gone.contains(&desired.id);
        let found = after.get(&desired.id).filter(|o| {
            o.owner == Owner::Ours
                && (!matches!(o.phase, Phase::Busy(_)) || written.contains(&desired.id))
        });
        let Some(observed) = found else {
            if gone && !after.contains_key(&desired.id) {
                sweep.drifted.push(exists(desired, false));
            }
            if let Some(before) = before {
                now.insert(key, before.clone());
            }
            continue;
        };
        let differing: BTreeMap<String, FieldChange> = field_changes(desired, observed, &arn)
            .into_iter()
            .map(|c| (c.field.clone(), c))
            .collect();
        let values = desired_values(desired, &arn);
        let mut fields = before.map(|b| b.fields.clone()).unwrap_or_default();
        fields.retain(|f, _| values.contains_key(f));
        for (field, want) in &values {
            let was = drift.drifted(&desired.id, field);
            match (differing.get(field), was) {
                (Some(change), Some(_)) => sweep.drifted.push(finding(desired, change)),
                (Some(_), None) => {}
                (None, was) => {
                    if let Some(want) = want {
                        fields.insert(field.clone(), want.clone());
                    }
                    if let Some(was) = was {
                        sweep.corrected.push(finding(desired, was));
                    }
                }
            }
        }
        if gone {
            sweep.corrected.push(exists(desired, false));
        }
        let mut compared = values;
        compared.insert(EXISTS.to_owned(), Some(Value::Bool(true)));
        sweep.compared.insert(key.clone(), compared);
        now.insert(key, AppliedFields { generation, fields });
    }
    (sweep, now)
}

/// Every managed field's desired value now; a reference whose targets are not all known
/// yet is None.
fn desired_values(
    desired: &Desired,
    arn: &dyn Fn(&ResourceId) -> Option<String>,
) -> BTreeMap<String, Option<Value>> {
    let mut out: BTreeMap<String, Option<Value>> = desired
        .fields
        .iter()
        .map(|(f, v)| (f.clone(), Some(v.clone())))
        .collect();
    for (field, r) in desired.references.iter().filter(|(_, r)| r.managed) {
        out.insert(field.clone(), r.reference.resolve(arn));
    }
    out
}

fn finding(desired: &Desired, change: &FieldChange) -> Finding {
    Finding {
        resource: desired.id.to_string(),
        kind: desired.id.kind.as_str().to_owned(),
        field: change.field.clone(),
        spec_path: desired.paths.get(&change.field).cloned(),
        desired: change.to.clone(),
        observed: change.from.clone(),
        stateful: desired.id.kind.is_stateful(),
    }
}

/// The resource itself: desired to exist, observed `present` or not.
fn exists(desired: &Desired, present: bool) -> Finding {
    Finding {
        resource: desired.id.to_string(),
        kind: desired.id.kind.as_str().to_owned(),
        field: EXISTS.to_owned(),
        spec_path: None,
        desired: Some(Value::Bool(true)),
        observed: Some(Value::Bool(present)),
        stateful: desired.id.kind.is_stateful(),
    }
}
