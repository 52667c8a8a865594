//! `diff(desired, observed)`: which managed fields differ, after normalisation.
//!
//! Only the keys of [`Desired::fields`] are compared: never `create_only`, never a key only
//! AWS reports. Both sides go through [`normalize`] first, so representation differences
//! (numbers as strings, ARN vs name, list order of sets, empty vs absent) never show up as
//! drift.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use serde_json::{Map, Number, Value};

use super::resource::{
    Desired, DesiredGraph, FieldChange, Observed, ObservedState, ResourceId, ResourceKind,
};

/// The comparison of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDiff {
    pub id: ResourceId,
    pub state: DiffState,
    /// What AWS reported (None when the resource is missing); the plan reads current values
    /// from it and the adapters its ARN.
    pub observed: Option<Observed>,
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
/// (dependency) order, then the orphans in reverse dependency order of their kind (alarms
/// first, the cluster last), by name within a kind.
pub fn diff(graph: &DesiredGraph, observed: &ObservedState) -> Vec<ResourceDiff> {
    let mut out: Vec<ResourceDiff> = graph
        .resources
        .iter()
        .map(|desired| {
            let found = observed.get(&desired.id);
            let state = match found {
                None => DiffState::Missing,
                Some(o) => {
                    let changes = field_changes(desired, o);
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
            }
        })
        .collect();

    let desired: BTreeSet<&ResourceId> = graph.resources.iter().map(|d| &d.id).collect();
    let mut orphans: Vec<(&ResourceId, &Observed)> = observed
        .iter()
        .filter(|(id, _)| !desired.contains(id))
        .collect();
    orphans.sort_by_key(|(id, _)| (Reverse(id.kind), id.name.as_str()));
    out.extend(orphans.into_iter().map(|(id, o)| ResourceDiff {
        id: id.clone(),
        state: DiffState::Orphaned,
        observed: Some(o.clone()),
    }));
    out
}

fn field_changes(desired: &Desired, observed: &Observed) -> Vec<FieldChange> {
    let kind = desired.id.kind;
    desired
        .fields
        .iter()
        .filter_map(|(field, want)| {
            let got = observed.fields.get(field).unwrap_or(&Value::Null);
            let got = normalize(kind, field, got);
            if normalize(kind, field, want) == got {
                return None;
            }
            Some(FieldChange {
                field: field.clone(),
                from: (!got.is_null()).then_some(got),
                to: Some(want.clone()),
            })
        })
        .collect()
}

/// The canonical form of one field's value; two values are the same when their canonical
/// forms are equal. Pass `Value::Null` for an absent field. The rules:
///
/// - empty: `null`, `[]` and `{}` (at any depth; object members that are empty are dropped)
///   are all absent, `Value::Null`;
/// - AWS defaults: an absent field whose AWS default is known takes it (`disableScaleIn`
///   false, `assignPublicIp` false, `cpuArchitecture` X86_64, `containerInsights` disabled,
///   `treatMissingData` missing);
/// - numbers compare by value (`1` == `1.0`); integral values become integers;
/// - numeric strings are numbers for fields AWS reports as strings (task definition `cpu`,
///   `memory`);
/// - ARN vs name: a service's `cluster` ARN becomes the cluster name, its `taskDefinition` ARN
///   becomes `family:revision`, an alarm action naming an Application Auto Scaling policy ARN
///   becomes `policy:{name}`. Other ARNs (roles, target groups, secrets) compare as given;
/// - `assignPublicIp` `"ENABLED"`/`"DISABLED"` is a boolean;
/// - set-like lists are sorted and deduplicated (`capacityProviders`, `subnets`,
///   `securityGroups`, `alarmActions`); step-scaling `steps` are sorted by lower bound. Other
///   lists (`command`) keep their order;
/// - strings are otherwise compared exactly.
pub fn normalize(kind: ResourceKind, field: &str, value: &Value) -> Value {
    use ResourceKind as K;
    let value = canonical(value);
    if value.is_null() {
        return aws_default(kind, field).unwrap_or(Value::Null);
    }
    match (kind, field, value) {
        (K::TaskDefinition, "cpu" | "memory", Value::String(s)) => match s.parse::<f64>() {
            Ok(x) if x.is_finite() => canonical_f64(x),
            _ => Value::String(s),
        },
        (K::EcsService, "cluster", Value::String(s)) => {
            Value::String(arn_resource(&s, "ecs", "cluster/").unwrap_or(&s).to_owned())
        }
        (K::EcsService, "taskDefinition", Value::String(s)) => Value::String(
            arn_resource(&s, "ecs", "task-definition/")
                .unwrap_or(&s)
                .to_owned(),
        ),
        (K::EcsService, "assignPublicIp", Value::String(s)) => match s.as_str() {
            "ENABLED" => Value::Bool(true),
            "DISABLED" => Value::Bool(false),
            _ => Value::String(s),
        },
        (K::MetricAlarm, "alarmActions", Value::Array(actions)) => {
            let actions = actions.into_iter().map(|a| match a {
                Value::String(s) => Value::String(scaling_policy_action(&s).unwrap_or(s)),
                other => other,
            });
            sorted_set(actions.collect())
        }
        (K::EcsCluster, "capacityProviders", Value::Array(items))
        | (K::EcsService, "subnets" | "securityGroups", Value::Array(items)) => sorted_set(items),
        (K::ScalingPolicy, "steps", Value::Array(mut steps)) => {
            steps.sort_by(|a, b| lower_bound(a).total_cmp(&lower_bound(b)));
            Value::Array(steps)
        }
        (_, _, value) => value,
    }
}

/// A float as canonical JSON: an integer when it is integral (and exactly representable),
/// otherwise a float. Not-a-number and infinities have no JSON form and become `null`.
pub(super) fn canonical_f64(x: f64) -> Value {
    // Integers beyond 2^53 are not exact in an f64; leave those as floats.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if x.is_finite() && x.fract() == 0.0 && x.abs() <= EXACT {
        // In range and integral, so the cast is exact.
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// Numbers canonical, empty containers and null object members removed, recursively.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
        Value::Number(n) => n.as_f64().map_or(Value::Null, canonical_f64),
        Value::Array(items) if items.is_empty() => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(members) => {
            let members: Map<String, Value> = members
                .iter()
                .map(|(k, v)| (k.clone(), canonical(v)))
                .filter(|(_, v)| !v.is_null())
                .collect();
            if members.is_empty() {
                Value::Null
            } else {
                Value::Object(members)
            }
        }
        other => other.clone(),
    }
}

/// What AWS means when it leaves a field out.
fn aws_default(kind: ResourceKind, field: &str) -> Option<Value> {
    use ResourceKind as K;
    match (kind, field) {
        (K::ScalingPolicy, "disableScaleIn") | (K::EcsService, "assignPublicIp") => {
            Some(Value::Bool(false))
        }
        (K::TaskDefinition, "cpuArchitecture") => Some(Value::from("X86_64")),
        (K::EcsCluster, "containerInsights") => Some(Value::from("disabled")),
        (K::MetricAlarm, "treatMissingData") => Some(Value::from("missing")),
        _ => None,
    }
}

/// The resource part of `arn:{partition}:{service}:{region}:{account}:{prefix}{rest}`:
/// `rest`, when the ARN is of that service and its resource starts with `prefix`.
fn arn_resource<'a>(arn: &'a str, service: &str, prefix: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    if parts.next()? != service {
        return None;
    }
    let _region = parts.next()?;
    let _account = parts.next()?;
    parts.next()?.strip_prefix(prefix)
}

/// `arn:…:autoscaling:…:scalingPolicy:{id}:resource/…:policyName/{name}` → `policy:{name}`.
fn scaling_policy_action(action: &str) -> Option<String> {
    let resource = arn_resource(action, "autoscaling", "scalingPolicy:")?;
    let (_, name) = resource.split_once(":policyName/")?;
    Some(format!("{}{name}", super::graph::POLICY_ACTION_PREFIX))
}

fn sorted_set(mut items: Vec<Value>) -> Value {
    items.sort_by_cached_key(Value::to_string);
    items.dedup();
    Value::Array(items)
}

/// A step's lower bound; an open one sorts first.
fn lower_bound(step: &Value) -> f64 {
    step.get("lower")
        .and_then(Value::as_f64)
        .unwrap_or(f64::NEG_INFINITY)
}

#[cfg(test)]
#[path = "tests/diff.rs"]
mod tests;
