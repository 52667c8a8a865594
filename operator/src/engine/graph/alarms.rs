//! The `alarms` component: the spec's explicit alarms and the ECS preset (CPU and memory high
//! per service). Each notifies `alerts.snsTopicArn` on alarm and on recovery when it is set.
//! The presets of the data tier come with its components.

use serde_json::{json, Value};

use super::{Builder, Cx};
use crate::engine::resource::{Desired, ResourceId, ResourceKind};
use crate::engine::values::canonical_f64;
use crate::names;
use crate::spec::{Alarm, Comparison, EcsPreset, Environment, MissingData};

pub(super) fn resources(cx: &Cx<'_>, env: &Environment) -> Vec<Desired> {
    let Some(alarms) = &env.spec.alarms else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let (Some(preset), Some(ecs)) = (&alarms.presets.ecs, &env.spec.ecs) {
        for svc in ecs.services.keys() {
            out.extend(ecs_preset(cx, preset, svc));
        }
    }
    for (name, alarm) in &alarms.custom {
        out.push(custom(cx, name, alarm));
    }
    out
}

fn custom(cx: &Cx<'_>, name: &str, a: &Alarm) -> Desired {
    let path = format!("alarms.custom.{name}");
    let at = |field: &str| format!("{path}.{field}");
    let id = ResourceId::new(ResourceKind::MetricAlarm, names::alarm(cx.env, name));
    let mut r = cx.resource(id, vec![]);
    if let Some(description) = &a.description {
        r.set("alarmDescription", json!(description), &at("description"));
    }
    r.set("namespace", json!(a.namespace), &at("namespace"));
    r.set("metricName", json!(a.metric_name), &at("metricName"));
    if !a.dimensions.is_empty() {
        r.set_compound("dimensions", json!(a.dimensions), &at("dimensions"));
    }
    let (field, statistic) = statistic(&a.statistic);
    r.set(field, json!(statistic), &at("statistic"));
    r.set("period", json!(a.period), &at("period"));
    let periods = json!(a.evaluation_periods);
    r.set("evaluationPeriods", periods, &at("evaluationPeriods"));
    if let Some(n) = a.datapoints_to_alarm {
        r.set("datapointsToAlarm", json!(n), &at("datapointsToAlarm"));
    }
    r.set("threshold", canonical_f64(a.threshold), &at("threshold"));
    let comparison = comparison(a.comparison);
    r.set("comparisonOperator", json!(comparison), &at("comparison"));
    let missing = missing_data(a.treat_missing_data);
    r.set("treatMissingData", json!(missing), &at("treatMissingData"));
    notify(cx, &mut r);
    r.build()
}

/// `{env}-{svc}-cpu-high` and `{env}-{svc}-memory-high` on the service's ECS metrics.
fn ecs_preset(cx: &Cx<'_>, preset: &EcsPreset, svc: &str) -> Vec<Desired> {
    let path = "alarms.presets.ecs";
    let metrics = [
        ("cpu-high", "CPUUtilization", preset.cpu_high, "cpuHigh"),
        (
            "memory-high",
            "MemoryUtilization",
            preset.memory_high,
            "memoryHigh",
        ),
    ];
    metrics
        .into_iter()
        .map(|(suffix, metric, threshold, field)| {
            let name = names::service_child(cx.env, svc, suffix);
            let id = ResourceId::new(ResourceKind::MetricAlarm, name);
            let mut r = cx.resource(id, vec![]);
            let description = format!("{svc}: {metric} above {threshold}%");
            r.set("alarmDescription", json!(description), path);
            r.set("namespace", json!("AWS/ECS"), path);
            r.set("metricName", json!(metric), path);
            let dimensions = json!({
                "ClusterName": names::ecs_cluster(cx.env),
                "ServiceName": names::ecs_service(cx.env, svc),
            });
            r.set_compound("dimensions", dimensions, path);
            r.set("statistic", json!("Average"), path);
            r.set("period", json!(60), path);
            let periods = json!(preset.evaluation_periods);
            r.set(
                "evaluationPeriods",
                periods,
                &format!("{path}.evaluationPeriods"),
            );
            let threshold = canonical_f64(threshold);
            r.set("threshold", threshold, &format!("{path}.{field}"));
            r.set("comparisonOperator", json!("GreaterThanThreshold"), path);
            r.set("treatMissingData", json!("missing"), path);
            notify(cx, &mut r);
            r.build()
        })
        .collect()
}

/// The alert topic as the alarm's and the recovery's action.
fn notify(cx: &Cx<'_>, r: &mut Builder<'_>) {
    if let Some(topic) = cx.alert_topic {
        r.set("alarmActions", json!([topic]), "alerts.snsTopicArn");
        r.set("okActions", json!([topic]), "alerts.snsTopicArn");
    }
}

/// A percentile (`p99`, `p99.9`) is an extended statistic; the rest are plain statistics.
fn statistic(statistic: &str) -> (&'static str, &str) {
    let percentile = statistic
        .strip_prefix('p')
        .is_some_and(|n| n.parse::<f64>().is_ok());
    if percentile {
        ("extendedStatistic", statistic)
    } else {
        ("statistic", statistic)
    }
}

fn comparison(c: Comparison) -> &'static str {
    match c {
        Comparison::GreaterThanThreshold => "GreaterThanThreshold",
        Comparison::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
        Comparison::LessThanThreshold => "LessThanThreshold",
        Comparison::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
    }
}

fn missing_data(m: MissingData) -> Value {
    let word = match m {
        MissingData::Missing => "missing",
        MissingData::Breaching => "breaching",
        MissingData::NotBreaching => "notBreaching",
        MissingData::Ignore => "ignore",
    };
    json!(word)
}
