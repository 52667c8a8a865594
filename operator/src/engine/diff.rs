//! `diff(desired, observed)`: which managed fields differ, after normalisation.
//!
//! Only the keys of [`Desired::fields`] and its managed references are compared: never
//! `create_only`, never a key only AWS reports. Both sides go through [`normalize`] first, so
//! representation differences (numbers as strings, ARN vs name, list order of sets, empty vs
//! absent, AWS defaults) never show up as drift. A reference compares the ARNs of the
//! resources it names, as observed; one whose target does not exist yet differs, with a `to`
//! that says the ARN is known only after apply.

use std::collections::BTreeSet;

use serde_json::Value;

use super::kinds::Rules;
use super::resource::{
    Desired, DesiredGraph, FieldChange, Observed, ObservedState, Owner, ResourceId, ResourceKind,
};
use super::values::canonical;

/// The comparison of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDiff {
    pub id: ResourceId,
    pub state: DiffState,
    /// What AWS reported (None when the resource is missing); the plan reads its phase, owner
    /// and current values from it, the adapters its ARN.
    pub observed: Option<Observed>,
    /// Managed fields that differ now but whose desired value AWS already holds for the
    /// maintenance window: not part of [`DiffState::Differs`], never written again.
    pub scheduled: Vec<FieldChange>,
}

/// How one resource compares.
#[derive(Debug, Clone, PartialEq)]
pub enum DiffState {
    /// Desired and not observed.
    Missing,
    /// Desired and observed; these managed fields differ (in field-name order). `from` is the
    /// normalised observed value (None when absent or empty), `to` the desired value.
    Differs(Vec<FieldChange>),
    /// Desired and observed; every managed field matches.
    Matches,
    /// Observed (tagged as this environment's) and no longer desired.
    Orphaned,
}

/// Compares the desired graph with what was observed. Desired resources come back in graph
/// (dependency) order, then the orphans by id.
pub fn diff(graph: &DesiredGraph, observed: &ObservedState) -> Vec<ResourceDiff> {
    let arn = |id: &ResourceId| observed.get(id).and_then(|o| o.arn.clone());
    let mut out: Vec<ResourceDiff> = graph
        .resources
        .iter()
        .map(|desired| {
            let found = observed.get(&desired.id);
            let mut scheduled = Vec::new();
            let state = match found {
                None => DiffState::Missing,
                Some(o) => {
                    let (later, changes): (Vec<FieldChange>, Vec<FieldChange>) =
                        field_changes(desired, o, &arn)
                            .into_iter()
                            .partition(|c| is_scheduled(desired.id.kind, c, o));
                    scheduled = later;
                    if changes.is_empty() {
                        DiffState::Matches
                    } else {
                        DiffState::Differs(changes)
                    }
                }
            };
            ResourceDiff {
                id: desired.id.clone(),
                state,
                observed: found.cloned(),
                scheduled,
            }
        })
        .collect();

    let desired: BTreeSet<&ResourceId> = graph.resources.iter().map(|d| &d.id).collect();
    out.extend(
        observed
            .iter()
            .filter(|(id, o)| !desired.contains(id) && o.owner == Owner::Ours)
            .map(|(id, o)| ResourceDiff {
                id: id.clone(),
                state: DiffState::Orphaned,
                observed: Some(o.clone()),
                scheduled: Vec::new(),
            }),
    );
    out
}

/// The managed fields (and references, resolved with `arn`) of `desired` that differ from
/// what `observed` reports.
pub fn field_changes(
    desired: &Desired,
    observed: &Observed,
    arn: &dyn Fn(&ResourceId) -> Option<String>,
) -> Vec<FieldChange> {
    let kind = desired.id.kind;
    let mut changes: Vec<FieldChange> = desired
        .fields
        .iter()
        .filter_map(|(field, want)| compare(kind, field, want.clone(), observed))
        .collect();
    for (field, r) in desired.references.iter().filter(|(_, r)| r.managed) {
        let change = match r.reference.resolve(arn) {
            Some(want) => compare(kind, field, want, observed),
            None => Some(FieldChange {
                field: field.clone(),
                from: current(kind, field, observed),
                to: Some(after_apply(&r.reference.targets())),
                effect: None,
            }),
        };
        changes.extend(change);
    }
    changes.sort_by(|a, b| a.field.cmp(&b.field));
    changes
}

/// Whether AWS holds the change's desired value for the maintenance window.
fn is_scheduled(kind: ResourceKind, change: &FieldChange, observed: &Observed) -> bool {
    let (Some(pending), Some(want)) = (observed.pending.get(&change.field), &change.to) else {
        return false;
    };
    same(kind, &change.field, want, pending)
}

/// Whether `got` (as AWS reports it, or as Plumb applied it) satisfies `want`, after
/// normalising both.
pub fn same(kind: ResourceKind, field: &str, want: &Value, got: &Value) -> bool {
    let rules = kind.rules();
    let want = normalize_with(rules, field, want);
    let got = normalize_with(rules, field, got);
    want == got || (!want.is_null() && !got.is_null() && (rules.equivalent)(field, &want, &got))
}

fn compare(
    kind: ResourceKind,
    field: &str,
    want: Value,
    observed: &Observed,
) -> Option<FieldChange> {
    let raw = observed.fields.get(field).unwrap_or(&Value::Null);
    if same(kind, field, &want, raw) {
        return None;
    }
    let got = normalize(kind, field, raw);
    Some(FieldChange {
        field: field.to_owned(),
        from: (!got.is_null()).then_some(got),
        to: Some(want),
        effect: None,
    })
}

/// The normalised value AWS reports for `field`, None when absent.
pub fn current(kind: ResourceKind, field: &str, observed: &Observed) -> Option<Value> {
    let got = observed.fields.get(field).unwrap_or(&Value::Null);
    Some(normalize(kind, field, got)).filter(|v| !v.is_null())
}

/// What a plan shows for a reference whose ARN is known only once its target was written.
pub fn after_apply(targets: &[&ResourceId]) -> Value {
    let names: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    Value::String(format!("(known after apply: {})", names.join(", ")))
}

/// The canonical form of one field's value; two values are the same when their canonical
/// forms are equal. Pass `Value::Null` for an absent field. The rules:
///
/// - empty: `null`, `[]` and `{}` (at any depth; object members that are empty are dropped)
///   are all absent, `Value::Null`;
/// - AWS defaults: an absent field whose AWS default the kind knows takes it;
/// - numbers compare by value (`1` == `1.0`); integral values become integers;
/// - then the kind's own rules ([`Rules::normalize`]): numeric strings, ARN vs name, sets;
/// - strings are otherwise compared exactly.
pub fn normalize(kind: ResourceKind, field: &str, value: &Value) -> Value {
    normalize_with(kind.rules(), field, value)
}

/// [`normalize`] with the rules given.
pub fn normalize_with(rules: &Rules, field: &str, value: &Value) -> Value {
    let value = canonical(value);
    if value.is_null() {
        return (rules.aws_default)(field).unwrap_or(Value::Null);
    }
    (rules.normalize)(field, value)
}

#[cfg(test)]
#[path = "tests/diff.rs"]
mod tests;
