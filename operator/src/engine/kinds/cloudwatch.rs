//! CloudWatch: metric alarm, and CloudWatch Logs' log group.

use serde_json::Value;

use super::Rules;
use crate::engine::values::value_set;

pub(super) const METRIC_ALARM: Rules = Rules {
    name: "metric-alarm",
    stateful: false,
    replace_on: &[],
    revisioned: false,
    aws_default: |field| match field {
        "treatMissingData" => Some(Value::from("missing")),
        _ => None,
    },
    normalize: |field, value| match (field, value) {
        ("alarmActions", Value::Array(items)) => value_set(items),
        (_, value) => value,
    },
    equivalent: super::exact,
    deferred: &[],
    disruptive: &[],
    phase: super::always_ready,
};

/// Logs are data: a log group Plumb no longer needs is deleted only under `deletion: delete`.
pub(super) const LOG_GROUP: Rules = Rules {
    name: "log-group",
    stateful: true,
    replace_on: &[],
    revisioned: false,
    aws_default: super::no_defaults,
    normalize: super::as_is,
    equivalent: super::exact,
    deferred: &[],
    disruptive: &[],
    phase: super::always_ready,
};
