//! Canonical JSON values: the one place that decides how numbers, sets, step lists and ARNs
//! are written, for the graph, the diff and the adapters alike.

use serde_json::{Map, Number, Value};

/// A float as canonical JSON: an integer when it is integral (and exactly representable),
/// otherwise a float. Not-a-number and infinities have no JSON form and become `null`.
pub fn canonical_f64(x: f64) -> Value {
    // Integers beyond 2^53 are not exact in an f64; leave those as floats.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if x.is_finite() && x.fract() == 0.0 && x.abs() <= EXACT {
        // In range and integral, so the cast is exact.
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// Strings as a set: a sorted, de-duplicated array.
pub fn string_set<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    let mut items: Vec<&str> = items.into_iter().collect();
    items.sort_unstable();
    items.dedup();
    Value::from(items)
}

/// Any JSON values as a set: sorted by their text, de-duplicated.
pub fn value_set(mut items: Vec<Value>) -> Value {
    items.sort_by_cached_key(Value::to_string);
    items.dedup();
    Value::Array(items)
}

/// Numbers canonical, empty containers and null object members removed, recursively; an
/// empty value (`null`, `[]`, `{}`) becomes `null`.
pub fn canonical(value: &Value) -> Value {
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

/// One step-scaling step: `{lower?, upper?, adjustment}`, bounds relative to the alarm
/// threshold, open bounds left out.
pub fn step(lower: Option<f64>, upper: Option<f64>, adjustment: i64) -> Value {
    let mut step = Map::new();
    if let Some(lower) = lower {
        step.insert("lower".to_owned(), canonical_f64(lower));
    }
    if let Some(upper) = upper {
        step.insert("upper".to_owned(), canonical_f64(upper));
    }
    step.insert("adjustment".to_owned(), Value::from(adjustment));
    Value::Object(step)
}

/// Steps sorted by lower bound, an open lower bound first.
pub fn sort_steps(mut steps: Vec<Value>) -> Value {
    let lower = |s: &Value| {
        s.get("lower")
            .and_then(Value::as_f64)
            .unwrap_or(f64::NEG_INFINITY)
    };
    steps.sort_by(|a, b| lower(a).total_cmp(&lower(b)));
    Value::Array(steps)
}

/// The resource part of `arn:{partition}:{service}:{region}:{account}:{prefix}{rest}`:
/// `rest`, when the ARN is of that service and its resource starts with `prefix`.
pub fn arn_resource<'a>(arn: &'a str, service: &str, prefix: &str) -> Option<&'a str> {
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

/// The last `/`-separated part of an ARN (a cluster's or a service's name).
pub fn arn_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `arn:…:task-definition/{family}:{revision}` (or `family:revision`) → (family, revision).
pub fn family_revision(task_definition: &str) -> Option<(&str, &str)> {
    let tail = task_definition
        .rsplit_once("task-definition/")
        .map_or(task_definition, |(_, tail)| tail);
    tail.rsplit_once(':')
}

/// `arn:…:autoscaling:…:scalingPolicy:{id}:resource/{resource id}:policyName/{name}` →
/// (resource id, policy name).
pub fn scaling_policy_arn(arn: &str) -> Option<(&str, &str)> {
    let resource = arn_resource(arn, "autoscaling", "scalingPolicy:")?;
    let (_, rest) = resource.split_once(":resource/")?;
    rest.rsplit_once(":policyName/")
}
