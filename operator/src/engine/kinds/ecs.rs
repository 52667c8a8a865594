//! ECS: cluster, task definition family, service.

use serde_json::Value;

use super::Rules;
use crate::engine::resource::{Observed, Phase};
use crate::engine::values::{arn_resource, canonical_f64, value_set};

pub(super) const CLUSTER: Rules = Rules {
    name: "ecs-cluster",
    stateful: false,
    replace_on: &[],
    revisioned: false,
    aws_default: |field| match field {
        "containerInsights" => Some(Value::from("disabled")),
        _ => None,
    },
    normalize: |field, value| match (field, value) {
        ("capacityProviders", Value::Array(items)) => value_set(items),
        (_, value) => value,
    },
    equivalent: super::exact,
    deferred: &[],
    disruptive: &[],
    phase: |o| match o.status.as_deref() {
        Some("PROVISIONING") => Phase::Busy("cluster provisioning".to_owned()),
        Some("DEPROVISIONING") => Phase::Busy("cluster deprovisioning".to_owned()),
        Some("FAILED") => Phase::Failed("cluster provisioning failed".to_owned()),
        _ => Phase::Ready,
    },
};

pub(super) const TASK_DEFINITION: Rules = Rules {
    name: "task-definition",
    stateful: false,
    replace_on: &[],
    revisioned: true,
    aws_default: |field| match field {
        "cpuArchitecture" => Some(Value::from("X86_64")),
        _ => None,
    },
    normalize: |field, value| match (field, value) {
        // ECS reports task-level cpu and memory as strings.
        ("cpu" | "memory", Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => canonical_f64(x),
            _ => Value::String(s),
        },
        (_, value) => value,
    },
    equivalent: super::exact,
    deferred: &[],
    disruptive: &[],
    phase: super::always_ready,
};

pub(super) const SERVICE: Rules = Rules {
    name: "ecs-service",
    stateful: false,
    replace_on: &["cluster"],
    revisioned: false,
    aws_default: |field| match field {
        "assignPublicIp" => Some(Value::Bool(false)),
        _ => None,
    },
    normalize: |field, value| match (field, value) {
        ("cluster", Value::String(s)) => Value::String(
            arn_resource(&s, "ecs", "cluster/")
                .map(str::to_owned)
                .unwrap_or(s),
        ),
        ("assignPublicIp", Value::String(s)) => match s.as_str() {
            "ENABLED" => Value::Bool(true),
            "DISABLED" => Value::Bool(false),
            _ => Value::String(s),
        },
        ("subnets" | "securityGroups", Value::Array(items)) => value_set(items),
        (_, value) => value,
    },
    equivalent: super::exact,
    deferred: &[],
    disruptive: &[],
    phase: service_phase,
};

/// Observed field with the primary deployment's `rolloutState`.
pub const ROLLOUT_STATE: &str = "rolloutState";
/// Observed field with the task definition of a deployment whose rollout FAILED.
pub const FAILED_REVISION: &str = "failedRevision";

/// DRAINING: going away (wait until it is gone). A FAILED rollout (the circuit breaker gave
/// up): failed, naming the revision. A deployment rolling out: busy.
fn service_phase(o: &Observed) -> Phase {
    let field = |name: &str| o.fields.get(name).and_then(Value::as_str);
    if o.status.as_deref() == Some("DRAINING") {
        return Phase::Busy("service draining".to_owned());
    }
    if let Some(revision) = field(FAILED_REVISION) {
        return Phase::Failed(format!(
            "deployment of {revision} failed and was rolled back by the circuit breaker"
        ));
    }
    match field(ROLLOUT_STATE) {
        Some("IN_PROGRESS") => Phase::Busy("deployment in progress".to_owned()),
        _ => Phase::Ready,
    }
}
