//! ECS on Fargate: the cluster, its services, and their autoscaling.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The environment's ECS cluster (named `{env}-cluster`) and its services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ecs {
    /// Capacity providers attached to the cluster; the first is the default strategy.
    #[serde(default = "default_capacity_providers")]
    pub capacity_providers: Vec<CapacityProvider>,
    #[serde(default)]
    pub container_insights: bool,
    /// Role ECS uses to pull images, write logs and read secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Role the application containers run as (each service may override it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Retention of each service's log group `/ecs/{env}-{service}`.
    #[serde(default = "default_log_retention_days")]
    pub log_retention_days: u32,
    /// Services by name; each becomes the ECS service `{env}-{name}`.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
}

fn default_capacity_providers() -> Vec<CapacityProvider> {
    vec![CapacityProvider::Fargate]
}

fn default_log_retention_days() -> u32 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum CapacityProvider {
    #[serde(rename = "FARGATE")]
    Fargate,
    #[serde(rename = "FARGATE_SPOT")]
    FargateSpot,
}

impl CapacityProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fargate => "FARGATE",
            Self::FargateSpot => "FARGATE_SPOT",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CpuArchitecture {
    #[default]
    #[serde(rename = "X86_64")]
    X86_64,
    #[serde(rename = "ARM64")]
    Arm64,
}

/// One Fargate service: a task definition family `{env}-{name}` and the service running it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    #[schema(example = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1.4.2")]
    pub image: String,
    /// CPU units (256 = 0.25 vCPU); must pair with `memory` as Fargate allows.
    #[schema(example = 512)]
    pub cpu: u32,
    /// MiB.
    #[schema(example = 1024)]
    pub memory: u32,
    /// Tasks to run. With autoscaling it is only the initial count.
    #[schema(example = 2)]
    pub desired_count: u32,
    /// Container port, also registered with the target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Overrides the image's command (e.g. a worker running the API's image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Plain environment variables. Secrets go in `secrets`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Environment variable name → Secrets Manager secret or SSM parameter ARN.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// ALB target group the service registers its tasks in (needs `port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// Capacity provider for this service; defaults to the cluster's first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider: Option<CapacityProvider>,
    #[serde(default)]
    pub cpu_architecture: CpuArchitecture,
    /// Overrides `network.securityGroups` for this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Rolling deployment bounds and the circuit breaker; written into the stored spec with
    /// AWS's own defaults when left out, so `plumb get -o yaml` shows what is managed.
    #[serde(default)]
    pub deployment: Deployment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
}

/// Container health check, run inside the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// e.g. `["CMD-SHELL", "curl -f http://localhost:3000/health || exit 1"]`.
    pub command: Vec<String>,
    #[serde(default = "default_health_interval")]
    pub interval_seconds: u32,
    #[serde(default = "default_health_timeout")]
    pub timeout_seconds: u32,
    #[serde(default = "default_health_retries")]
    pub retries: u32,
    #[serde(default)]
    pub start_period_seconds: u32,
}

fn default_health_interval() -> u32 {
    30
}
fn default_health_timeout() -> u32 {
    5
}
fn default_health_retries() -> u32 {
    3
}

/// Rolling deployment bounds and the deployment circuit breaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    #[serde(default = "default_min_healthy")]
    pub minimum_healthy_percent: u32,
    #[serde(default = "default_max_percent")]
    pub maximum_percent: u32,
    /// Stops a deployment whose tasks keep failing (and rolls back); on unless turned off.
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
}

impl Default for Deployment {
    fn default() -> Self {
        Self {
            minimum_healthy_percent: default_min_healthy(),
            maximum_percent: default_max_percent(),
            circuit_breaker: CircuitBreaker::default(),
        }
    }
}

/// ECS's deployment circuit breaker: a deployment whose tasks keep failing is stopped and, with
/// `rollback`, the service returns to its last completed deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreaker {
    #[serde(default = "yes")]
    pub enable: bool,
    #[serde(default = "yes")]
    pub rollback: bool,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            enable: true,
            rollback: true,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_min_healthy() -> u32 {
    100
}
fn default_max_percent() -> u32 {
    200
}

/// Application Auto Scaling for the service. `desiredCount` then belongs to the autoscaler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    pub min_capacity: u32,
    pub max_capacity: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_tracking: Vec<TargetTracking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_depth: Option<QueueDepthScaling>,
}

/// A target-tracking policy, named `{env}-{service}-{metric}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetTracking {
    pub metric: ScalingMetric,
    /// Percent for cpu/memory; requests per target for albRequestsPerTarget.
    #[schema(example = 70.0)]
    pub target: f64,
    /// `app/{lb}/{id}/targetgroup/{tg}/{id}`; required for albRequestsPerTarget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_label: Option<String>,
    #[serde(default = "default_scale_out_cooldown")]
    pub scale_out_cooldown: u32,
    #[serde(default = "default_scale_in_cooldown")]
    pub scale_in_cooldown: u32,
    #[serde(default)]
    pub disable_scale_in: bool,
}

fn default_scale_out_cooldown() -> u32 {
    60
}
fn default_scale_in_cooldown() -> u32 {
    300
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ScalingMetric {
    Cpu,
    Memory,
    AlbRequestsPerTarget,
}

impl ScalingMetric {
    /// Application Auto Scaling's predefined metric type.
    pub fn predefined_metric_type(self) -> &'static str {
        match self {
            Self::Cpu => "ECSServiceAverageCPUUtilization",
            Self::Memory => "ECSServiceAverageMemoryUtilization",
            Self::AlbRequestsPerTarget => "ALBRequestCountPerTarget",
        }
    }

    /// Short name used in derived resource names.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::AlbRequestsPerTarget => "alb-requests",
        }
    }
}

/// Step scaling on the depth of a queue, with the CloudWatch alarms that drive it: an SQS queue
/// (ApproximateNumberOfMessagesVisible) or a queue on the environment's RabbitMQ broker
/// (Amazon MQ MessageCount).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueDepthScaling {
    /// Name of the queue (not managed by Plumb).
    #[schema(example = "jobs")]
    pub queue_name: String,
    /// Where the queue lives; SQS unless set.
    #[serde(default)]
    pub source: QueueSource,
    /// Seconds per alarm datapoint.
    #[serde(default = "default_period")]
    pub period: u32,
    #[serde(default = "default_evaluation_periods")]
    pub evaluation_periods: u32,
    pub scale_out: StepPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in: Option<StepPolicy>,
}

fn default_period() -> u32 {
    60
}
fn default_evaluation_periods() -> u32 {
    2
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum QueueSource {
    /// An SQS queue in the environment's account and region.
    #[default]
    #[serde(rename = "sqs")]
    Sqs,
    /// A queue on the broker in `spec.rabbitmq` (`{env}-rabbitmq`).
    #[serde(rename = "rabbitmq")]
    RabbitMq,
}

/// One direction of step scaling: the alarm threshold and the steps above (or below) it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepPolicy {
    /// Messages visible in the queue at which the alarm fires.
    pub threshold: f64,
    #[serde(default = "default_scale_out_cooldown")]
    pub cooldown: u32,
    /// Steps relative to the threshold; when empty, one step of +1 (scale out) or -1 (scale in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

/// Change capacity by `adjustment` tasks when the metric is within [lower, upper) of the
/// threshold (bounds relative to the threshold; open where left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    pub adjustment: i32,
}
