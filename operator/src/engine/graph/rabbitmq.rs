//! The `rabbitmq` component: an Amazon MQ for RabbitMQ broker `{env}-rabbitmq` in
//! `rabbitmq.subnets` (else `network.subnets`: the first one for a single instance, all of
//! them for a cluster).
//!
//! The broker user's password is never a field: the adapter reads the secret whose ARN is
//! `passwordSecretArn` when it creates the broker. The user is set at creation only.

use serde_json::{json, Value};

use super::Cx;
use crate::engine::kinds::MQ_MAINTENANCE_WINDOW;
use crate::engine::resource::{Desired, ResourceId, ResourceKind};
use crate::engine::values::string_set;
use crate::names;
use crate::spec::{MqDeploymentMode, RabbitMq};

/// The engine of the broker.
pub const ENGINE: &str = "RABBITMQ";

pub(super) fn resources(cx: &Cx<'_>, mq: &RabbitMq) -> Vec<Desired> {
    let at = |field: &str| format!("rabbitmq.{field}");
    let id = ResourceId::new(ResourceKind::MqBroker, names::rabbitmq(cx.env));
    let mut r = cx.resource(id, vec![]);
    r.set("engineType", json!(ENGINE), "rabbitmq");
    let version = json!(mq.engine_version);
    r.set("engineVersion", version, &at("engineVersion"));
    let instance = json!(mq.instance_type);
    r.set("hostInstanceType", instance, &at("instanceType"));
    let mode = serde_json::to_value(mq.deployment_mode).unwrap_or(Value::Null);
    r.set("deploymentMode", mode, &at("deploymentMode"));
    let public = json!(mq.publicly_accessible);
    r.set("publiclyAccessible", public, &at("publiclyAccessible"));
    let upgrade = json!(mq.auto_minor_version_upgrade);
    r.set(
        "autoMinorVersionUpgrade",
        upgrade,
        &at("autoMinorVersionUpgrade"),
    );
    if let Some(window) = &mq.maintenance_window {
        let start = json!({
            "dayOfWeek": window.day_of_week,
            "timeOfDay": window.time_of_day,
            "timeZone": window.time_zone,
        });
        r.set_compound(MQ_MAINTENANCE_WINDOW, start, &at("maintenanceWindow"));
    }
    let logs = json!({"general": mq.general_logs});
    r.set_compound("logs", logs, &at("generalLogs"));
    let groups = match &mq.security_groups {
        Some(groups) => Some((groups, at("securityGroups"))),
        None => cx
            .network
            .filter(|n| !n.security_groups.is_empty())
            .map(|n| (&n.security_groups, "network.securityGroups".to_owned())),
    };
    if let Some((groups, path)) = groups {
        let set = string_set(groups.iter().map(String::as_str));
        r.set("securityGroups", set, &path);
    }
    let subnets = match &mq.subnets {
        Some(subnets) => Some((subnets.as_slice(), at("subnets"))),
        None => cx.network.filter(|n| !n.subnets.is_empty()).map(|n| {
            let subnets = match mq.deployment_mode {
                MqDeploymentMode::SingleInstance => &n.subnets[..1],
                MqDeploymentMode::ClusterMultiAz => &n.subnets[..],
            };
            (subnets, "network.subnets".to_owned())
        }),
    };
    if let Some((subnets, path)) = subnets {
        let set = string_set(subnets.iter().map(String::as_str));
        r.set("subnetIds", set, &path);
    }
    r.create_only("username", json!(mq.username));
    r.create_only("passwordSecretArn", json!(mq.password_secret_arn));
    vec![r.build()]
}
