//! CloudWatch alarms: explicit ones, and presets that expand per component.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Severity;

/// Severities of a preset's alarms that differ from the preset's own, by the name of the
/// threshold field (`cpuHigh: critical`).
pub type PresetSeverities = BTreeMap<String, Severity>;

/// Alarms notify the topic of their severity (`alerts.topics`, else `alerts.snsTopicArn`)
/// when `alerts` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alarms {
    #[serde(default)]
    pub presets: AlarmPresets,
    /// Explicit alarms by name; each becomes the CloudWatch alarm `{env}-{name}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Alarm>,
}

/// Ready-made alarms per component; a preset left out adds nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmPresets {
    /// CPU and memory high, per ECS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsPreset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresPreset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisPreset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq: Option<RabbitMqPreset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EcsPreset {
    /// Percent.
    #[serde(default = "eighty")]
    pub cpu_high: f64,
    /// Percent.
    #[serde(default = "eighty")]
    pub memory_high: f64,
    #[serde(default = "two")]
    pub evaluation_periods: u32,
    /// Both are warnings unless named here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity: PresetSeverities,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostgresPreset {
    /// Percent.
    #[serde(default = "eighty")]
    pub cpu_high: f64,
    /// GiB of free storage below which the alarm fires (RDS instances only).
    #[serde(default = "two_f")]
    pub free_storage_low_gib: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections_high: Option<f64>,
    /// Free storage low is critical, the others warnings, unless named here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity: PresetSeverities,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedisPreset {
    /// Percent (EngineCPUUtilization).
    #[serde(default = "seventy_five")]
    pub cpu_high: f64,
    /// Percent (DatabaseMemoryUsagePercentage).
    #[serde(default = "eighty")]
    pub memory_high: f64,
    /// Keys evicted per 5 minutes (Evictions) above which the alarm fires; no alarm when
    /// left out (with an LRU policy some evictions are normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evictions_high: Option<f64>,
    /// All are warnings unless named here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity: PresetSeverities,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMqPreset {
    /// Percent (SystemCpuUtilization).
    #[serde(default = "eighty")]
    pub cpu_high: f64,
    /// Messages ready across the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_ready_high: Option<f64>,
    /// Both are warnings unless named here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity: PresetSeverities,
}

fn eighty() -> f64 {
    80.0
}
fn seventy_five() -> f64 {
    75.0
}
fn two() -> u32 {
    2
}
fn two_f() -> f64 {
    2.0
}

/// One CloudWatch metric alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alarm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[schema(example = "AWS/ApplicationELB")]
    pub namespace: String,
    #[schema(example = "HTTPCode_Target_5XX_Count")]
    pub metric_name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount`, or a percentile such as `p99`.
    #[serde(default = "default_statistic")]
    pub statistic: String,
    /// Seconds: 10, 30 or a multiple of 60.
    #[serde(default = "default_period")]
    pub period: u32,
    #[serde(default = "one")]
    pub evaluation_periods: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<u32>,
    pub threshold: f64,
    #[serde(default)]
    pub comparison: Comparison,
    #[serde(default)]
    pub treat_missing_data: MissingData,
    /// Which topic it notifies (`alerts.topics`).
    #[serde(default)]
    pub severity: Severity,
}

fn default_statistic() -> String {
    "Average".to_owned()
}
fn default_period() -> u32 {
    300
}
fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Comparison {
    #[default]
    GreaterThanThreshold,
    GreaterThanOrEqualToThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum MissingData {
    #[default]
    Missing,
    Breaching,
    NotBreaching,
    Ignore,
}
