//! The `alarms` component: the spec's explicit alarms and the presets of every component
//! (ECS CPU and memory per service; PostgreSQL CPU, free storage, connections; Redis engine
//! CPU, memory, evictions; RabbitMQ CPU and messages ready). Each alarm is named
//! `{env}-{component}-{what}` (explicit ones `{env}-{name}`) and notifies the topic of its
//! severity on alarm and on recovery when `alerts` is set.

use serde_json::{json, Value};

use super::{Builder, Cx};
use crate::engine::resource::{Desired, ResourceId, ResourceKind};
use crate::engine::values::canonical_f64;
use crate::names;
use crate::spec::{
    Alarm, Comparison, EcsPreset, Environment, MissingData, PostgresPreset, PresetSeverities,
    RabbitMqPreset, RedisPreset, Severity,
};

/// GiB in bytes: RDS reports FreeStorageSpace in bytes.
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

pub(super) fn resources(cx: &Cx<'_>, env: &Environment) -> Vec<Desired> {
    let Some(alarms) = &env.spec.alarms else {
        return Vec::new();
    };
    let spec = &env.spec;
    let presets = &alarms.presets;
    let mut out = Vec::new();
    if let (Some(preset), Some(ecs)) = (&presets.ecs, &spec.ecs) {
        for svc in ecs.services.keys() {
            out.extend(ecs_preset(cx, preset, svc));
        }
    }
    if let (Some(preset), Some(pg)) = (&presets.postgres, &spec.postgres) {
        out.extend(postgres_preset(cx, preset, pg.aurora.is_some()));
    }
    if let (Some(preset), Some(_)) = (&presets.redis, &spec.redis) {
        out.extend(redis_preset(cx, preset));
    }
    if let (Some(preset), Some(_)) = (&presets.rabbitmq, &spec.rabbitmq) {
        out.extend(rabbitmq_preset(cx, preset));
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
    notify(cx, &mut r, a.severity, &at("severity"));
    r.build()
}

/// One alarm of a preset: what it watches and when it fires.
struct Watch<'a> {
    /// `{env}-{component}-{suffix}`.
    name: String,
    /// The preset's spec path and the threshold's field in it (`cpuHigh`).
    path: &'a str,
    field: &'a str,
    description: String,
    namespace: &'a str,
    metric: &'a str,
    dimensions: Value,
    statistic: &'a str,
    period: u32,
    periods: Option<u32>,
    threshold: f64,
    comparison: &'a str,
    severity: Severity,
}

impl Watch<'_> {
    fn build(self, cx: &Cx<'_>) -> Desired {
        let id = ResourceId::new(ResourceKind::MetricAlarm, self.name);
        let mut r = cx.resource(id, vec![]);
        let path = self.path;
        let threshold_path = format!("{path}.{}", self.field);
        r.set("alarmDescription", json!(self.description), &threshold_path);
        r.set("namespace", json!(self.namespace), path);
        r.set("metricName", json!(self.metric), path);
        r.set_compound("dimensions", self.dimensions, path);
        r.set("statistic", json!(self.statistic), path);
        r.set("period", json!(self.period), path);
        let periods = json!(self.periods.unwrap_or(1));
        r.set(
            "evaluationPeriods",
            periods,
            &format!("{path}.evaluationPeriods"),
        );
        r.set("threshold", canonical_f64(self.threshold), &threshold_path);
        r.set("comparisonOperator", json!(self.comparison), path);
        r.set("treatMissingData", json!("missing"), path);
        let severity_path = format!("{path}.severity.{}", self.field);
        notify(cx, &mut r, self.severity, &severity_path);
        r.build()
    }
}

/// The severity the preset names for `field`, else `default`.
fn severity(overrides: &PresetSeverities, field: &str, default: Severity) -> Severity {
    overrides.get(field).copied().unwrap_or(default)
}

/// `{env}-{svc}-cpu-high` and `{env}-{svc}-memory-high` on the service's ECS metrics.
fn ecs_preset(cx: &Cx<'_>, preset: &EcsPreset, svc: &str) -> Vec<Desired> {
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
            Watch {
                name: names::service_child(cx.env, svc, suffix),
                path: "alarms.presets.ecs",
                field,
                description: format!("{svc}: {metric} above {threshold}%"),
                namespace: "AWS/ECS",
                metric,
                dimensions: json!({
                    "ClusterName": names::ecs_cluster(cx.env),
                    "ServiceName": names::ecs_service(cx.env, svc),
                }),
                statistic: "Average",
                period: 60,
                periods: Some(preset.evaluation_periods),
                threshold,
                comparison: "GreaterThanThreshold",
                severity: severity(&preset.severity, field, Severity::Warning),
            }
            .build(cx)
        })
        .collect()
}

/// CPU, free storage (an RDS instance: Aurora storage grows by itself) and, when a threshold
/// is set, connections; on the instance `{env}-postgres` or the Aurora cluster of that name.
fn postgres_preset(cx: &Cx<'_>, preset: &PostgresPreset, aurora: bool) -> Vec<Desired> {
    let db = names::postgres(cx.env);
    let dimensions = if aurora {
        json!({"DBClusterIdentifier": db})
    } else {
        json!({"DBInstanceIdentifier": db})
    };
    let path = "alarms.presets.postgres";
    let watch = |suffix: &str, field, metric, threshold, comparison, default| Watch {
        name: names::alarm(cx.env, &format!("postgres-{suffix}")),
        path,
        field,
        description: String::new(),
        namespace: "AWS/RDS",
        metric,
        dimensions: dimensions.clone(),
        statistic: "Average",
        period: 300,
        periods: Some(2),
        threshold,
        comparison,
        severity: severity(&preset.severity, field, default),
    };
    let mut out = vec![Watch {
        description: format!("{db}: CPUUtilization above {}%", preset.cpu_high),
        ..watch(
            "cpu-high",
            "cpuHigh",
            "CPUUtilization",
            preset.cpu_high,
            "GreaterThanThreshold",
            Severity::Warning,
        )
    }];
    if !aurora {
        out.push(Watch {
            description: format!(
                "{db}: free storage below {} GiB",
                preset.free_storage_low_gib
            ),
            statistic: "Minimum",
            ..watch(
                "free-storage-low",
                "freeStorageLowGib",
                "FreeStorageSpace",
                preset.free_storage_low_gib * GIB,
                "LessThanThreshold",
                Severity::Critical,
            )
        });
    }
    if let Some(connections) = preset.connections_high {
        out.push(Watch {
            description: format!("{db}: more than {connections} connections"),
            statistic: "Maximum",
            ..watch(
                "connections-high",
                "connectionsHigh",
                "DatabaseConnections",
                connections,
                "GreaterThanThreshold",
                Severity::Warning,
            )
        });
    }
    out.into_iter().map(|w| w.build(cx)).collect()
}

/// Engine CPU, memory and (when a threshold is set) evictions of the primary node
/// `{env}-redis-001`, as ElastiCache reports replication group metrics per node.
fn redis_preset(cx: &Cx<'_>, preset: &RedisPreset) -> Vec<Desired> {
    let node = format!("{}-001", names::redis(cx.env));
    let path = "alarms.presets.redis";
    let watch = |suffix: &str, field, metric, threshold, statistic| Watch {
        name: names::alarm(cx.env, &format!("redis-{suffix}")),
        path,
        field,
        description: String::new(),
        namespace: "AWS/ElastiCache",
        metric,
        dimensions: json!({"CacheClusterId": node}),
        statistic,
        period: 300,
        periods: Some(2),
        threshold,
        comparison: "GreaterThanThreshold",
        severity: severity(&preset.severity, field, Severity::Warning),
    };
    let mut out = vec![
        Watch {
            description: format!("{node}: EngineCPUUtilization above {}%", preset.cpu_high),
            ..watch(
                "cpu-high",
                "cpuHigh",
                "EngineCPUUtilization",
                preset.cpu_high,
                "Average",
            )
        },
        Watch {
            description: format!("{node}: memory above {}%", preset.memory_high),
            ..watch(
                "memory-high",
                "memoryHigh",
                "DatabaseMemoryUsagePercentage",
                preset.memory_high,
                "Average",
            )
        },
    ];
    if let Some(evictions) = preset.evictions_high {
        out.push(Watch {
            description: format!("{node}: more than {evictions} evictions in 5 minutes"),
            ..watch(
                "evictions-high",
                "evictionsHigh",
                "Evictions",
                evictions,
                "Sum",
            )
        });
    }
    out.into_iter().map(|w| w.build(cx)).collect()
}

/// System CPU and (when a threshold is set) messages ready on the broker `{env}-rabbitmq`.
fn rabbitmq_preset(cx: &Cx<'_>, preset: &RabbitMqPreset) -> Vec<Desired> {
    let broker = names::rabbitmq(cx.env);
    let path = "alarms.presets.rabbitmq";
    let watch = |suffix: &str, field, metric, threshold, statistic| Watch {
        name: names::alarm(cx.env, &format!("rabbitmq-{suffix}")),
        path,
        field,
        description: String::new(),
        namespace: "AWS/AmazonMQ",
        metric,
        dimensions: json!({"Broker": broker}),
        statistic,
        period: 300,
        periods: Some(2),
        threshold,
        comparison: "GreaterThanThreshold",
        severity: severity(&preset.severity, field, Severity::Warning),
    };
    let mut out = vec![Watch {
        description: format!("{broker}: SystemCpuUtilization above {}%", preset.cpu_high),
        ..watch(
            "cpu-high",
            "cpuHigh",
            "SystemCpuUtilization",
            preset.cpu_high,
            "Average",
        )
    }];
    if let Some(ready) = preset.messages_ready_high {
        out.push(Watch {
            description: format!("{broker}: more than {ready} messages ready"),
            ..watch(
                "messages-ready-high",
                "messagesReadyHigh",
                "MessageReadyCount",
                ready,
                "Maximum",
            )
        });
    }
    out.into_iter().map(|w| w.build(cx)).collect()
}

/// The topic of `severity` as the alarm's and the recovery's action.
fn notify(cx: &Cx<'_>, r: &mut Builder<'_>, severity: Severity, path: &str) {
    if let Some(alerts) = cx.alerts {
        let topic = json!([alerts.topic(severity)]);
        r.set("alarmActions", topic.clone(), path);
        r.set("okActions", topic, path);
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
