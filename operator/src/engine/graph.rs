//! Spec → desired resource graph: what AWS should hold for one environment.
//!
//! Covers ECS (cluster, log groups, task definitions, services) and Application Auto Scaling
//! (scalable targets, target-tracking and step-scaling policies, and the CloudWatch alarms
//! that drive queue-depth step scaling). Resources come out in dependency order, grouped by
//! kind: cluster → log groups → task definitions → services → scalable targets → scaling
//! policies → alarms; within a kind, services in name order.
//!
//! Every field is canonical JSON (integral numbers as integers, sets as sorted arrays, maps as
//! objects) and is present only when the spec sets what it derives from, so a field left out
//! of the spec is never compared.
//!
//! `spec.policy.ignore` is applied here: each field knows the spec path it comes from (e.g.
//! the task definition's `image` comes from `ecs.services.api.image`), and a field whose path
//! an ignore rule matches moves from [`Desired::fields`] to [`Desired::create_only`]. It is
//! still set when the resource is created, but never compared, so it is neither reported nor
//! corrected. See [`ignore_rule_matches`] for the matching rule.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::diff::canonical_f64;
use super::resource::{Desired, DesiredGraph, Fields, ResourceId, ResourceKind};
use crate::names;
use crate::spec::{
    Autoscaling, CpuArchitecture, Ecs, Environment, IgnoreRule, QueueDepthScaling, QueueSource,
    Service, Step, StepPolicy,
};

/// Tag naming the environment a resource belongs to.
pub const TAG_ENVIRONMENT: &str = "plumb:environment";
/// Tag marking a resource as managed by Plumb (value [`MANAGED_BY`]).
pub const TAG_MANAGED_BY: &str = "plumb:managed-by";
pub const MANAGED_BY: &str = "plumb";

/// Prefix of a symbolic alarm action naming a scaling policy of the same environment
/// (`policy:{policy name}`); the adapter resolves it to the policy's ARN.
pub const POLICY_ACTION_PREFIX: &str = "policy:";

/// The desired resources of `env`, in dependency order.
pub fn desired_graph(env: &Environment) -> DesiredGraph {
    let Some(ecs) = &env.spec.ecs else {
        return DesiredGraph::default();
    };
    let cx = Cx {
        env: &env.metadata.name,
        region: &env.spec.region,
        network: env.spec.network.as_ref(),
        ecs,
        tags: tags(env),
        rules: &env.spec.policy.ignore,
    };

    let mut resources = vec![cx.cluster()];
    resources.extend(ecs.services.keys().map(|svc| cx.log_group(svc)));
    resources.extend(
        ecs.services
            .iter()
            .map(|(svc, s)| cx.task_definition(svc, s)),
    );
    resources.extend(ecs.services.iter().map(|(svc, s)| cx.service(svc, s)));
    let autoscaled = || {
        ecs.services
            .iter()
            .filter_map(|(svc, s)| s.autoscaling.as_ref().map(|a| (svc.as_str(), a)))
    };
    resources.extend(autoscaled().map(|(svc, a)| cx.scalable_target(svc, a)));
    for (svc, a) in autoscaled() {
        resources.extend(cx.scaling_policies(svc, a));
    }
    for (svc, a) in autoscaled() {
        if let Some(q) = &a.queue_depth {
            resources.extend(cx.queue_alarms(svc, q));
        }
    }
    DesiredGraph { resources }
}

/// Whether an ignore rule's path matches the spec path a field comes from.
///
/// Both are dotted paths below `spec` (`ecs.services.api.image`); `*` in the rule matches
/// exactly one segment. A rule matches a field when it names the field's path or a part of the
/// spec that contains it (`ecs.services.api` ignores every field of that service). For
/// compound fields (a map or object compared as one value: `env`, `secrets`, `healthCheck`,
/// step-scaling `steps`) a rule naming something inside the field
/// (`ecs.services.api.env.FEATURE_FLAG`) ignores the whole field: Plumb cannot leave one
/// entry alone while managing the others, and not touching it is the safe side.
pub fn ignore_rule_matches(rule: &str, field_path: &str, compound: bool) -> bool {
    let rule: Vec<&str> = rule.split('.').collect();
    let field: Vec<&str> = field_path.split('.').collect();
    let common = rule.len().min(field.len());
    let prefix_matches = rule
        .iter()
        .zip(&field)
        .take(common)
        .all(|(r, f)| *r == "*" || r == f);
    prefix_matches && (rule.len() <= field.len() || compound)
}

/// Plumb's tags and the spec's; Plumb's win on a clash.
fn tags(env: &Environment) -> BTreeMap<String, String> {
    let mut tags = env.spec.tags.clone();
    tags.insert(TAG_ENVIRONMENT.to_owned(), env.metadata.name.clone());
    tags.insert(TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned());
    tags
}

/// What every resource builder needs from the environment.
struct Cx<'a> {
    env: &'a str,
    region: &'a str,
    network: Option<&'a crate::spec::Network>,
    ecs: &'a Ecs,
    tags: BTreeMap<String, String>,
    rules: &'a [IgnoreRule],
}

impl Cx<'_> {
    fn resource(&self, id: ResourceId, depends_on: Vec<ResourceId>) -> Builder<'_> {
        Builder {
            rules: self.rules,
            desired: Desired {
                id,
                depends_on,
                fields: Fields::new(),
                create_only: Fields::new(),
                tags: self.tags.clone(),
            },
        }
    }

    fn cluster_id(&self) -> ResourceId {
        ResourceId::new(ResourceKind::EcsCluster, names::ecs_cluster(self.env))
    }

    fn service_id(&self, svc: &str) -> ResourceId {
        ResourceId::new(ResourceKind::EcsService, names::ecs_service(self.env, svc))
    }

    fn cluster(&self) -> Desired {
        let mut r = self.resource(self.cluster_id(), vec![]);
        let providers = &self.ecs.capacity_providers;
        let mut sorted: Vec<&str> = providers.iter().map(|p| p.as_str()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        r.set("capacityProviders", json!(sorted), "ecs.capacityProviders");
        if let Some(first) = providers.first() {
            r.set(
                "defaultCapacityProvider",
                json!(first.as_str()),
                "ecs.capacityProviders",
            );
        }
        let insights = if self.ecs.container_insights {
            "enabled"
        } else {
            "disabled"
        };
        r.set(
            "containerInsights",
            json!(insights),
            "ecs.containerInsights",
        );
        r.desired
    }

    fn log_group(&self, svc: &str) -> Desired {
        let id = ResourceId::new(ResourceKind::LogGroup, names::log_group(self.env, svc));
        let mut r = self.resource(id, vec![]);
        r.set(
            "retentionInDays",
            json!(self.ecs.log_retention_days),
            "ecs.logRetentionDays",
        );
        r.desired
    }

    fn task_definition(&self, svc: &str, s: &Service) -> Desired {
        let path = service_path(svc);
        let at = |field: &str| format!("{path}.{field}");
        let log_group = names::log_group(self.env, svc);
        let id = ResourceId::new(
            ResourceKind::TaskDefinition,
            names::ecs_service(self.env, svc),
        );
        let log_group_id = ResourceId::new(ResourceKind::LogGroup, log_group.clone());
        let mut r = self.resource(id, vec![log_group_id]);
        r.set("containerName", json!(svc), &path);
        r.set("image", json!(s.image), &at("image"));
        r.set("cpu", json!(s.cpu), &at("cpu"));
        r.set("memory", json!(s.memory), &at("memory"));
        let architecture = match s.cpu_architecture {
            CpuArchitecture::X86_64 => "X86_64",
            CpuArchitecture::Arm64 => "ARM64",
        };
        r.set(
            "cpuArchitecture",
            json!(architecture),
            &at("cpuArchitecture"),
        );
        r.set("logGroup", json!(log_group), &path);
        r.set("region", json!(self.region), "region");
        if let Some(command) = s.command.as_ref().filter(|c| !c.is_empty()) {
            r.set("command", json!(command), &at("command"));
        }
        if !s.env.is_empty() {
            r.set_compound("environment", json!(s.env), &at("env"));
        }
        if !s.secrets.is_empty() {
            r.set_compound("secrets", json!(s.secrets), &at("secrets"));
        }
        if let Some(port) = s.port {
            r.set("containerPort", json!(port), &at("port"));
        }
        if let Some(arn) = &self.ecs.execution_role_arn {
            r.set("executionRoleArn", json!(arn), "ecs.executionRoleArn");
        }
        match (&s.task_role_arn, &self.ecs.task_role_arn) {
            (Some(arn), _) => r.set("taskRoleArn", json!(arn), &at("taskRoleArn")),
            (None, Some(arn)) => r.set("taskRoleArn", json!(arn), "ecs.taskRoleArn"),
            (None, None) => {}
        }
        if let Some(h) = &s.health_check {
            let value = json!({
                "command": h.command,
                "interval": h.interval_seconds,
                "timeout": h.timeout_seconds,
                "retries": h.retries,
                "startPeriod": h.start_period_seconds,
            });
            r.set_compound("healthCheck", value, &at("healthCheck"));
        }
        r.desired
    }

    fn service(&self, svc: &str, s: &Service) -> Desired {
        let path = service_path(svc);
        let at = |field: &str| format!("{path}.{field}");
        let family = names::ecs_service(self.env, svc);
        let task_definition_id = ResourceId::new(ResourceKind::TaskDefinition, family.clone());
        let mut r = self.resource(
            self.service_id(svc),
            vec![self.cluster_id(), task_definition_id],
        );
        r.set("cluster", json!(names::ecs_cluster(self.env)), "ecs");
        r.set("taskDefinition", json!(family), &path);
        if s.autoscaling.is_some() {
            r.create_only("desiredCount", json!(s.desired_count));
        } else {
            r.set("desiredCount", json!(s.desired_count), &at("desiredCount"));
        }
        match (s.capacity_provider, self.ecs.capacity_providers.first()) {
            (Some(p), _) => r.set(
                "capacityProvider",
                json!(p.as_str()),
                &at("capacityProvider"),
            ),
            (None, Some(p)) => r.set(
                "capacityProvider",
                json!(p.as_str()),
                "ecs.capacityProviders",
            ),
            (None, None) => {}
        }
        if let Some(network) = self.network {
            r.set("subnets", sorted_set(&network.subnets), "network.subnets");
            r.set(
                "assignPublicIp",
                json!(network.assign_public_ip),
                "network.assignPublicIp",
            );
        }
        let (groups, groups_path) = match (&s.security_groups, self.network) {
            (Some(groups), _) => (groups.as_slice(), at("securityGroups")),
            (None, Some(network)) => (
                network.security_groups.as_slice(),
                "network.securityGroups".to_owned(),
            ),
            (None, None) => (&[][..], String::new()),
        };
        if !groups.is_empty() {
            r.set("securityGroups", sorted_set(groups), &groups_path);
        }
        if let Some(arn) = &s.target_group_arn {
            r.set("targetGroupArn", json!(arn), &at("targetGroupArn"));
            if let Some(port) = s.port {
                r.set("loadBalancerContainerPort", json!(port), &at("port"));
            }
        }
        if let Some(d) = &s.deployment {
            r.set(
                "minimumHealthyPercent",
                json!(d.minimum_healthy_percent),
                &at("deployment.minimumHealthyPercent"),
            );
            r.set(
                "maximumPercent",
                json!(d.maximum_percent),
                &at("deployment.maximumPercent"),
            );
        }
        r.set(
            "deploymentCircuitBreaker",
            json!({"enable": true, "rollback": true}),
            &at("deployment"),
        );
        r.desired
    }

    fn scalable_target_id(&self, svc: &str) -> ResourceId {
        ResourceId::new(
            ResourceKind::ScalableTarget,
            names::scalable_resource_id(self.env, svc),
        )
    }

    fn scalable_target(&self, svc: &str, a: &Autoscaling) -> Desired {
        let path = format!("{}.autoscaling", service_path(svc));
        let mut r = self.resource(self.scalable_target_id(svc), vec![self.service_id(svc)]);
        r.set(
            "minCapacity",
            json!(a.min_capacity),
            &format!("{path}.minCapacity"),
        );
        r.set(
            "maxCapacity",
            json!(a.max_capacity),
            &format!("{path}.maxCapacity"),
        );
        r.desired
    }

    /// Target-tracking policies in spec order, then the queue-depth step policies (out, in).
    fn scaling_policies(&self, svc: &str, a: &Autoscaling) -> Vec<Desired> {
        let scaling = format!("{}.autoscaling", service_path(svc));
        let resource_id = json!(names::scalable_resource_id(self.env, svc));
        let policy_id = |suffix: &str| {
            ResourceId::new(
                ResourceKind::ScalingPolicy,
                names::service_child(self.env, svc, suffix),
            )
        };
        let mut out = Vec::new();
        for (i, t) in a.target_tracking.iter().enumerate() {
            let path = format!("{scaling}.targetTracking.{i}");
            let at = |field: &str| format!("{path}.{field}");
            let mut r = self.resource(
                policy_id(t.metric.slug()),
                vec![self.scalable_target_id(svc)],
            );
            r.set("resourceId", resource_id.clone(), &scaling);
            r.set("policyType", json!("TargetTrackingScaling"), &path);
            r.set(
                "predefinedMetricType",
                json!(t.metric.predefined_metric_type()),
                &at("metric"),
            );
            r.set("targetValue", canonical_f64(t.target), &at("target"));
            r.set(
                "scaleOutCooldown",
                json!(t.scale_out_cooldown),
                &at("scaleOutCooldown"),
            );
            r.set(
                "scaleInCooldown",
                json!(t.scale_in_cooldown),
                &at("scaleInCooldown"),
            );
            r.set(
                "disableScaleIn",
                json!(t.disable_scale_in),
                &at("disableScaleIn"),
            );
            if let Some(label) = &t.resource_label {
                r.set("resourceLabel", json!(label), &at("resourceLabel"));
            }
            out.push(r.desired);
        }
        if let Some(q) = &a.queue_depth {
            for (direction, step) in queue_directions(q) {
                let path = format!("{scaling}.queueDepth.{}", direction.spec_field());
                let mut r = self.resource(
                    policy_id(direction.suffix()),
                    vec![self.scalable_target_id(svc)],
                );
                r.set("resourceId", resource_id.clone(), &scaling);
                r.set("policyType", json!("StepScaling"), &path);
                r.set("adjustmentType", json!("ChangeInCapacity"), &path);
                r.set(
                    "cooldown",
                    json!(step.cooldown),
                    &format!("{path}.cooldown"),
                );
                r.set("metricAggregationType", json!("Average"), &path);
                r.set_compound(
                    "steps",
                    steps(&step.steps, direction),
                    &format!("{path}.steps"),
                );
                out.push(r.desired);
            }
        }
        out
    }

    /// One alarm per step-scaling direction, named like the policy it triggers.
    fn queue_alarms(&self, svc: &str, q: &QueueDepthScaling) -> Vec<Desired> {
        let queue = format!("{}.autoscaling.queueDepth", service_path(svc));
        let at = |field: &str| format!("{queue}.{field}");
        let (namespace, metric, dimensions) = match q.source {
            QueueSource::Sqs => (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                json!({"QueueName": q.queue_name}),
            ),
            QueueSource::RabbitMq => (
                "AWS/AmazonMQ",
                "MessageCount",
                json!({
                    "Broker": names::rabbitmq(self.env),
                    "VirtualHost": "/",
                    "Queue": q.queue_name,
                }),
            ),
        };
        queue_directions(q)
            .map(|(direction, step)| {
                let name = names::service_child(self.env, svc, direction.suffix());
                let path = at(direction.spec_field());
                let policy = ResourceId::new(ResourceKind::ScalingPolicy, name.clone());
                let id = ResourceId::new(ResourceKind::MetricAlarm, name.clone());
                let mut r = self.resource(id, vec![policy]);
                r.set("namespace", json!(namespace), &at("source"));
                r.set("metricName", json!(metric), &at("source"));
                r.set_compound("dimensions", dimensions.clone(), &at("queueName"));
                r.set("statistic", json!("Average"), &queue);
                r.set("period", json!(q.period), &at("period"));
                r.set(
                    "evaluationPeriods",
                    json!(q.evaluation_periods),
                    &at("evaluationPeriods"),
                );
                r.set(
                    "threshold",
                    canonical_f64(step.threshold),
                    &format!("{path}.threshold"),
                );
                r.set("comparisonOperator", json!(direction.comparison()), &path);
                r.set("treatMissingData", json!("missing"), &path);
                r.set(
                    "alarmActions",
                    json!([format!("{POLICY_ACTION_PREFIX}{name}")]),
                    &path,
                );
                r.desired
            })
            .collect()
    }
}

/// `ecs.services.{svc}`.
fn service_path(svc: &str) -> String {
    format!("ecs.services.{svc}")
}

fn sorted_set(items: &[String]) -> Value {
    let mut sorted: Vec<&str> = items.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    json!(sorted)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Out,
    In,
}

impl Direction {
    fn suffix(self) -> &'static str {
        match self {
            Self::Out => names::QUEUE_OUT,
            Self::In => names::QUEUE_IN,
        }
    }

    fn spec_field(self) -> &'static str {
        match self {
            Self::Out => "scaleOut",
            Self::In => "scaleIn",
        }
    }

    fn comparison(self) -> &'static str {
        match self {
            Self::Out => "GreaterThanOrEqualToThreshold",
            Self::In => "LessThanThreshold",
        }
    }
}

fn queue_directions(q: &QueueDepthScaling) -> impl Iterator<Item = (Direction, &StepPolicy)> {
    std::iter::once((Direction::Out, &q.scale_out))
        .chain(q.scale_in.as_ref().map(|s| (Direction::In, s)))
}

/// Step adjustments sorted by lower bound (an open lower bound first); open bounds are left
/// out. No steps means one step of +1 above the threshold (out) or -1 below it (in).
fn steps(steps: &[Step], direction: Direction) -> Value {
    if steps.is_empty() {
        return match direction {
            Direction::Out => json!([{"lower": 0, "adjustment": 1}]),
            Direction::In => json!([{"upper": 0, "adjustment": -1}]),
        };
    }
    let mut sorted: Vec<&Step> = steps.iter().collect();
    sorted.sort_by(|a, b| {
        let key = |s: &Step| s.lower.unwrap_or(f64::NEG_INFINITY);
        key(a).total_cmp(&key(b))
    });
    let out = sorted
        .into_iter()
        .map(|s| {
            let mut step = Map::new();
            if let Some(lower) = s.lower {
                step.insert("lower".to_owned(), canonical_f64(lower));
            }
            if let Some(upper) = s.upper {
                step.insert("upper".to_owned(), canonical_f64(upper));
            }
            step.insert("adjustment".to_owned(), json!(s.adjustment));
            Value::Object(step)
        })
        .collect();
    Value::Array(out)
}

/// Builds one resource, sending each field to `fields` or, when an ignore rule matches its
/// spec path, to `create_only`.
struct Builder<'a> {
    rules: &'a [IgnoreRule],
    desired: Desired,
}

impl Builder<'_> {
    fn set(&mut self, field: &str, value: Value, spec_path: &str) {
        self.put(field, value, spec_path, false);
    }

    /// A map or object compared as one value; a rule naming a part of it ignores all of it.
    fn set_compound(&mut self, field: &str, value: Value, spec_path: &str) {
        self.put(field, value, spec_path, true);
    }

    fn create_only(&mut self, field: &str, value: Value) {
        self.desired.create_only.insert(field.to_owned(), value);
    }

    fn put(&mut self, field: &str, value: Value, spec_path: &str, compound: bool) {
        let ignored = self
            .rules
            .iter()
            .any(|rule| ignore_rule_matches(&rule.path, spec_path, compound));
        let target = if ignored {
            &mut self.desired.create_only
        } else {
            &mut self.desired.fields
        };
        target.insert(field.to_owned(), value);
    }
}

#[cfg(test)]
#[path = "tests/graph.rs"]
mod tests;
