//! CloudWatch alarms: presets (only for components the spec has) and explicit alarms.

use std::sync::LazyLock;

use regex::Regex;

use super::rules::{alarm_period_ok, alarm_span_problem, finite, name_problem};
use super::Ctx;
use crate::names::{self, limits};
use crate::spec::Alarm;

const STATISTICS: [&str; 5] = ["Average", "Sum", "Minimum", "Maximum", "SampleCount"];
const MAX_DIMENSIONS: usize = 30;

/// `p99`, `p99.9`, `p0`–`p100` with up to two decimals.
static PERCENTILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^p(\d{1,3})(?:\.\d{1,2})?$").expect("static pattern"));
/// Characters CloudWatch allows in a namespace.
static NAMESPACE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9._/#:\- ]+$").expect("static pattern"));

pub(super) fn check(cx: &mut Ctx<'_>) {
    let env = cx.env;
    let Some(alarms) = &env.spec.alarms else {
        return;
    };
    let spec = &env.spec;
    let presets = &alarms.presets;
    let base = "spec.alarms.presets";
    if let Some(ecs) = &presets.ecs {
        present(cx, &format!("{base}.ecs"), spec.ecs.is_some(), "spec.ecs");
        percent(cx, &format!("{base}.ecs.cpuHigh"), ecs.cpu_high);
        percent(cx, &format!("{base}.ecs.memoryHigh"), ecs.memory_high);
        if ecs.evaluation_periods < 1 {
            cx.err(
                format!("{base}.ecs.evaluationPeriods"),
                "must be at least 1",
            );
        }
    }
    if let Some(pg) = &presets.postgres {
        present(
            cx,
            &format!("{base}.postgres"),
            spec.postgres.is_some(),
            "spec.postgres",
        );
        percent(cx, &format!("{base}.postgres.cpuHigh"), pg.cpu_high);
        positive(
            cx,
            &format!("{base}.postgres.freeStorageLowGib"),
            pg.free_storage_low_gib,
        );
        if let Some(connections) = pg.connections_high {
            positive(cx, &format!("{base}.postgres.connectionsHigh"), connections);
        }
    }
    if let Some(redis) = &presets.redis {
        present(
            cx,
            &format!("{base}.redis"),
            spec.redis.is_some(),
            "spec.redis",
        );
        percent(cx, &format!("{base}.redis.cpuHigh"), redis.cpu_high);
        percent(cx, &format!("{base}.redis.memoryHigh"), redis.memory_high);
        if let Some(evictions) = redis.evictions_high {
            let field = format!("{base}.redis.evictionsHigh");
            if finite(cx, field.clone(), evictions) && evictions < 0.0 {
                cx.err(field, "must be 0 or more evictions");
            }
        }
    }
    if let Some(mq) = &presets.rabbitmq {
        present(
            cx,
            &format!("{base}.rabbitmq"),
            spec.rabbitmq.is_some(),
            "spec.rabbitmq",
        );
        percent(cx, &format!("{base}.rabbitmq.cpuHigh"), mq.cpu_high);
        if let Some(ready) = mq.messages_ready_high {
            let field = format!("{base}.rabbitmq.messagesReadyHigh");
            if finite(cx, field.clone(), ready) && ready < 0.0 {
                cx.err(field, "must be 0 or more messages");
            }
        }
    }
    let severities = [
        (
            "ecs",
            presets.ecs.as_ref().map(|p| &p.severity),
            &["cpuHigh", "memoryHigh"][..],
        ),
        (
            "postgres",
            presets.postgres.as_ref().map(|p| &p.severity),
            &["cpuHigh", "freeStorageLowGib", "connectionsHigh"][..],
        ),
        (
            "redis",
            presets.redis.as_ref().map(|p| &p.severity),
            &["cpuHigh", "memoryHigh", "evictionsHigh"][..],
        ),
        (
            "rabbitmq",
            presets.rabbitmq.as_ref().map(|p| &p.severity),
            &["cpuHigh", "messagesReadyHigh"][..],
        ),
    ];
    for (preset, given, known) in severities {
        for field in given.into_iter().flat_map(|m| m.keys()) {
            if !known.contains(&field.as_str()) {
                cx.err(
                    format!("{base}.{preset}.severity.{field}"),
                    format!(
                        "names no alarm of the preset; use one of {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    for (name, alarm) in &alarms.custom {
        custom(cx, name, alarm);
    }
    unique_names(cx);
}

/// Two alarms must not derive one name (an ECS service called `postgres` with both presets,
/// or an explicit alarm named like a preset's).
fn unique_names(cx: &mut Ctx<'_>) {
    let graph = crate::engine::graph::desired_graph(cx.env);
    let mut seen = std::collections::BTreeSet::new();
    for r in &graph.resources {
        if r.id.kind == crate::engine::ResourceKind::MetricAlarm && !seen.insert(&r.id.name) {
            cx.err(
                "spec.alarms",
                format!(
                    "two alarms would be named {}; rename the explicit alarm or the service",
                    r.id.name
                ),
            );
        }
    }
}

fn present(cx: &mut Ctx<'_>, field: &str, present: bool, component: &str) {
    if !present {
        cx.err(
            field,
            format!("{component} is not set, so there is nothing to watch"),
        );
    }
}

fn percent(cx: &mut Ctx<'_>, field: &str, value: f64) {
    if finite(cx, field, value) && !(value > 0.0 && value <= 100.0) {
        cx.err(
            field,
            format!("{value} is not a percentage; allowed above 0 up to 100"),
        );
    }
}

fn positive(cx: &mut Ctx<'_>, field: &str, value: f64) {
    if finite(cx, field, value) && value <= 0.0 {
        cx.err(field, "must be greater than 0");
    }
}

fn custom(cx: &mut Ctx<'_>, name: &str, alarm: &Alarm) {
    let base = format!("spec.alarms.custom.{name}");
    if let Some(problem) = name_problem(name) {
        cx.err(base.clone(), format!("alarm name {problem}"));
    } else if cx.name_ok {
        let derived = names::alarm(&cx.env.metadata.name, name);
        if derived.len() > limits::CLOUDWATCH_ALARM {
            cx.err(
                base.clone(),
                format!(
                    "alarm name too long: {derived:?} is {} characters and CloudWatch allows {}",
                    derived.len(),
                    limits::CLOUDWATCH_ALARM
                ),
            );
        }
    }
    if let Some(description) = &alarm.description {
        if description.chars().count() > 1024 {
            cx.err(
                format!("{base}.description"),
                "must be at most 1024 characters",
            );
        }
    }
    if alarm.namespace.trim().is_empty()
        || alarm.namespace.len() > 255
        || !NAMESPACE.is_match(&alarm.namespace)
    {
        cx.err(
            format!("{base}.namespace"),
            "must be 1–255 letters, digits, spaces or . _ / # : -, e.g. AWS/ApplicationELB",
        );
    }
    if alarm.metric_name.trim().is_empty() || alarm.metric_name.len() > 255 {
        cx.err(format!("{base}.metricName"), "must be 1–255 characters");
    }
    if alarm.dimensions.len() > MAX_DIMENSIONS {
        cx.err(
            format!("{base}.dimensions"),
            format!(
                "{} dimensions; CloudWatch allows {MAX_DIMENSIONS}",
                alarm.dimensions.len()
            ),
        );
    }
    for (key, value) in &alarm.dimensions {
        if key.trim().is_empty() || key.len() > 255 {
            cx.err(
                format!("{base}.dimensions.{key}"),
                "name must be 1–255 characters",
            );
        }
        if value.is_empty() || value.len() > 1024 {
            cx.err(
                format!("{base}.dimensions.{key}"),
                "value must be 1–1024 characters",
            );
        }
    }
    if !statistic_ok(&alarm.statistic) {
        cx.err(
            format!("{base}.statistic"),
            format!(
                "{:?} is not a statistic; use {} or a percentile p0–p100 such as p99 or p99.9",
                alarm.statistic,
                STATISTICS.join(", ")
            ),
        );
    }
    let period_ok = alarm_period_ok(alarm.period);
    if !period_ok {
        cx.err(
            format!("{base}.period"),
            format!(
                "{} s is not allowed; use 10, 20, 30 or a multiple of 60",
                alarm.period
            ),
        );
    }
    if alarm.evaluation_periods < 1 {
        cx.err(format!("{base}.evaluationPeriods"), "must be at least 1");
    } else if period_ok {
        if let Some(problem) = alarm_span_problem(alarm.period, alarm.evaluation_periods) {
            cx.err(format!("{base}.evaluationPeriods"), problem);
        }
    }
    if let Some(m) = alarm.datapoints_to_alarm {
        if m < 1 || m > alarm.evaluation_periods {
            cx.err(
                format!("{base}.datapointsToAlarm"),
                format!(
                    "{m} must be 1–{} (at most evaluationPeriods)",
                    alarm.evaluation_periods.max(1)
                ),
            );
        }
    }
    finite(cx, format!("{base}.threshold"), alarm.threshold);
}

fn statistic_ok(statistic: &str) -> bool {
    if STATISTICS.contains(&statistic) {
        return true;
    }
    PERCENTILE.captures(statistic).is_some_and(|caps| {
        let whole: u32 = caps[1].parse().unwrap_or(u32::MAX);
        whole < 100 || statistic == "p100"
    })
}

#[cfg(test)]
mod tests {
    use super::statistic_ok;

    #[test]
    fn statistics_and_percentiles() {
        for ok in [
            "Average",
            "Sum",
            "Minimum",
            "Maximum",
            "SampleCount",
            "p0",
            "p50",
            "p99",
            "p99.9",
            "p99.99",
            "p100",
        ] {
            assert!(statistic_ok(ok), "{ok}");
        }
        for bad in [
            "average", "avg", "p", "p101", "p100.5", "p99.999", "P99", "tm99",
        ] {
            assert!(!statistic_ok(bad), "{bad}");
        }
    }
}
