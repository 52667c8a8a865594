//! Application Auto Scaling: scalable target and scaling policy.

use serde_json::Value;

use super::Rules;
use crate::engine::values::sort_steps;

pub(super) const TARGET: Rules = Rules {
    name: "scalable-target",
    stateful: false,
    replace_on: &[],
    revisioned: false,
    aws_default: super::no_defaults,
    normalize: super::as_is,
    equivalent: super::exact,
    deferred: &[],
    disruptive: &[],
    phase: super::always_ready,
};

pub(super) const POLICY: Rules = Rules {
    name: "scaling-policy",
    stateful: false,
    replace_on: &["resourceId", "policyType"],
    revisioned: false,
    aws_default: |field| match field {
        "disableScaleIn" => Some(Value::Bool(false)),
        _ => None,
    },
    normalize: |field, value| match (field, value) {
        ("steps", Value::Array(steps)) => sort_steps(steps),
        (_, value) => value,
    },
    equivalent: super::exact,
    deferred: &[],
    disruptive: &[],
    phase: super::always_ready,
};
