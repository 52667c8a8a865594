//! Amazon MQ: the RabbitMQ broker.
//!
//! UpdateBroker changes the instance type and engine version at the next maintenance window
//! (or reboot: Plumb never reboots a broker), and the rest at once. What Amazon MQ rewrites
//! is normalised: `3.13` is met by `3.13.7`, instance types and days compare without case,
//! security groups and subnets as sets.

use serde_json::Value;

use super::{version_satisfied, Rules};
use crate::engine::resource::{Observed, Phase};
use crate::engine::values::value_set;

/// The maintenance window's start, `{dayOfWeek, timeOfDay, timeZone}`.
pub const MAINTENANCE_WINDOW: &str = "maintenanceWindowStartTime";

pub(super) const BROKER: Rules = Rules {
    name: "mq-broker",
    stateful: true,
    // UpdateBroker changes none of these: a new broker (new endpoints, empty queues) is the
    // only way.
    replace_on: &[
        "engineType",
        "deploymentMode",
        "publiclyAccessible",
        "subnetIds",
    ],
    revisioned: false,
    aws_default: |field| match field {
        "publiclyAccessible" => Some(Value::Bool(false)),
        "logs" => Some(serde_json::json!({"general": false})),
        _ => None,
    },
    normalize: normalize_broker,
    equivalent: version_satisfied,
    // Amazon MQ makes these at the next maintenance window whatever Plumb asks (only a
    // reboot, which Plumb never does, brings them forward): not `deferred`, whose timing
    // policy.applyImmediately would change, but said as their effect.
    deferred: &[],
    disruptive: &[
        (
            "hostInstanceType",
            "at the maintenance window; the broker restarts, brief outage",
        ),
        (
            "engineVersion",
            "at the maintenance window; the broker restarts, brief outage",
        ),
    ],
    phase: broker_phase,
};

fn normalize_broker(field: &str, value: Value) -> Value {
    match (field, value) {
        ("securityGroups" | "subnetIds", Value::Array(items)) => value_set(items),
        ("hostInstanceType", Value::String(s)) => Value::String(s.to_ascii_lowercase()),
        ("engineType", Value::String(s)) => Value::String(s.to_ascii_uppercase()),
        (MAINTENANCE_WINDOW, Value::Object(mut window)) => {
            if let Some(Value::String(day)) = window.get_mut("dayOfWeek") {
                *day = day.to_ascii_uppercase();
            }
            Value::Object(window)
        }
        (_, value) => value,
    }
}

/// BrokerState: creation, reboot and deletion are Amazon MQ's own work. CREATION_FAILED and
/// CRITICAL_ACTION_REQUIRED (the broker runs degraded, e.g. its KMS key is unusable or it
/// ran out of memory or disk: AWS asks a person to act) are not written again until the
/// spec changes.
fn broker_phase(o: &Observed) -> Phase {
    match o.status.as_deref() {
        None | Some("RUNNING" | "REPLICA") => Phase::Ready,
        Some(failed @ ("CREATION_FAILED" | "CRITICAL_ACTION_REQUIRED")) => {
            Phase::Failed(format!("Amazon MQ reports it {failed}"))
        }
        Some(busy) => Phase::Busy(format!("Amazon MQ reports it {busy}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::{ResourceId, ResourceKind};

    #[test]
    fn what_amazon_mq_rewrites_compares_equal() {
        let n = BROKER.normalize;
        assert_eq!(
            n("hostInstanceType", json!("MQ.M5.LARGE")),
            json!("mq.m5.large")
        );
        assert_eq!(n("engineType", json!("RabbitMQ")), json!("RABBITMQ"));
        assert_eq!(n("subnetIds", json!(["b", "a"])), json!(["a", "b"]));
        assert_eq!(
            n(
                MAINTENANCE_WINDOW,
                json!({"dayOfWeek": "Sunday", "timeOfDay": "03:00", "timeZone": "UTC"})
            ),
            json!({"dayOfWeek": "SUNDAY", "timeOfDay": "03:00", "timeZone": "UTC"})
        );
        assert!((BROKER.equivalent)(
            "engineVersion",
            &json!("3.13"),
            &json!("3.13.7")
        ));
        assert!(!(BROKER.equivalent)(
            "engineVersion",
            &json!("3.13"),
            &json!("3.12.13")
        ));
    }

    #[test]
    fn broker_states_map_to_phases() {
        let with = |s: &str| {
            let id = ResourceId::new(ResourceKind::MqBroker, "x");
            let mut o = Observed::new(id, None, Default::default());
            o.status = Some(s.to_owned());
            broker_phase(&o)
        };
        assert_eq!(with("RUNNING"), Phase::Ready);
        for busy in [
            "CREATION_IN_PROGRESS",
            "REBOOT_IN_PROGRESS",
            "DELETION_IN_PROGRESS",
        ] {
            assert_eq!(
                with(busy),
                Phase::Busy(format!("Amazon MQ reports it {busy}"))
            );
        }
        assert!(matches!(with("CREATION_FAILED"), Phase::Failed(_)));
        assert!(matches!(with("CRITICAL_ACTION_REQUIRED"), Phase::Failed(_)));
    }
}
