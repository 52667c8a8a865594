//! The `autoscaling` component: per autoscaled service its scalable target, its
//! target-tracking and queue-depth step-scaling policies, and the CloudWatch alarms that
//! drive the step policies.

use serde_json::{json, Value};

use super::ecs::{service_id, service_path};
use super::Cx;
use crate::engine::resource::{Desired, Reference, ResourceId, ResourceKind};
use crate::engine::values::{canonical_f64, sort_steps, step};
use crate::names;
use crate::spec::{Autoscaling, Ecs, QueueDepthScaling, QueueSource, Step, StepPolicy};

pub(super) fn resources(cx: &Cx<'_>, ecs: &Ecs) -> Vec<Desired> {
    let autoscaled: Vec<(&str, &Autoscaling)> = ecs
        .services
        .iter()
        .filter_map(|(svc, s)| s.autoscaling.as_ref().map(|a| (svc.as_str(), a)))
        .collect();
    let mut out: Vec<Desired> = autoscaled
        .iter()
        .map(|(svc, a)| target(cx, svc, a))
        .collect();
    for (svc, a) in &autoscaled {
        out.extend(policies(cx, svc, a));
    }
    for (svc, a) in &autoscaled {
        if let Some(q) = &a.queue_depth {
            out.extend(queue_alarms(cx, svc, q));
        }
    }
    out
}

fn target_id(env: &str, svc: &str) -> ResourceId {
    ResourceId::new(
        ResourceKind::ScalableTarget,
        names::scalable_resource_id(env, svc),
    )
}

fn policy_id(env: &str, svc: &str, suffix: &str) -> ResourceId {
    ResourceId::new(
        ResourceKind::ScalingPolicy,
        names::service_child(env, svc, suffix),
    )
}

fn target(cx: &Cx<'_>, svc: &str, a: &Autoscaling) -> Desired {
    let path = format!("{}.autoscaling", service_path(svc));
    let mut r = cx.resource(target_id(cx.env, svc), vec![service_id(cx.env, svc)]);
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
    r.build()
}

/// Target-tracking policies in spec order, then the queue-depth step policies (out, in).
fn policies(cx: &Cx<'_>, svc: &str, a: &Autoscaling) -> Vec<Desired> {
    let scaling = format!("{}.autoscaling", service_path(svc));
    let resource_id = json!(names::scalable_resource_id(cx.env, svc));
    let mut out = Vec::new();
    for (i, t) in a.target_tracking.iter().enumerate() {
        let path = format!("{scaling}.targetTracking.{i}");
        let at = |field: &str| format!("{path}.{field}");
        let id = policy_id(cx.env, svc, t.metric.slug());
        let mut r = cx.resource(id, vec![target_id(cx.env, svc)]);
        r.set("resourceId", resource_id.clone(), &scaling);
        r.set("policyType", json!("TargetTrackingScaling"), &path);
        let metric = t.metric.predefined_metric_type();
        r.set("predefinedMetricType", json!(metric), &at("metric"));
        r.set("targetValue", canonical_f64(t.target), &at("target"));
        let out_cooldown = json!(t.scale_out_cooldown);
        r.set("scaleOutCooldown", out_cooldown, &at("scaleOutCooldown"));
        let in_cooldown = json!(t.scale_in_cooldown);
        r.set("scaleInCooldown", in_cooldown, &at("scaleInCooldown"));
        let disable = json!(t.disable_scale_in);
        r.set("disableScaleIn", disable, &at("disableScaleIn"));
        if let Some(label) = &t.resource_label {
            r.set("resourceLabel", json!(label), &at("resourceLabel"));
        }
        out.push(r.build());
    }
    if let Some(q) = &a.queue_depth {
        for (direction, policy) in queue_directions(q) {
            let path = format!("{scaling}.queueDepth.{}", direction.spec_field());
            let id = policy_id(cx.env, svc, direction.suffix());
            let mut r = cx.resource(id, vec![target_id(cx.env, svc)]);
            r.set("resourceId", resource_id.clone(), &scaling);
            r.set("policyType", json!("StepScaling"), &path);
            r.set("adjustmentType", json!("ChangeInCapacity"), &path);
            let cooldown = json!(policy.cooldown);
            r.set("cooldown", cooldown, &format!("{path}.cooldown"));
            r.set("metricAggregationType", json!("Average"), &path);
            let steps = steps(&policy.steps, direction);
            r.set_compound("steps", steps, &format!("{path}.steps"));
            out.push(r.build());
        }
    }
    out
}

/// One alarm per step-scaling direction, named like the policy it triggers.
fn queue_alarms(cx: &Cx<'_>, svc: &str, q: &QueueDepthScaling) -> Vec<Desired> {
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
                "Broker": names::rabbitmq(cx.env),
                "VirtualHost": "/",
                "Queue": q.queue_name,
            }),
        ),
    };
    queue_directions(q)
        .map(|(direction, policy)| {
            let name = names::service_child(cx.env, svc, direction.suffix());
            let path = at(direction.spec_field());
            let policy_id = policy_id(cx.env, svc, direction.suffix());
            let id = ResourceId::new(ResourceKind::MetricAlarm, name);
            let mut r = cx.resource(id, vec![policy_id.clone()]);
            r.set("namespace", json!(namespace), &at("source"));
            r.set("metricName", json!(metric), &at("source"));
            r.set_compound("dimensions", dimensions.clone(), &at("queueName"));
            r.set("statistic", json!("Average"), &queue);
            r.set("period", json!(q.period), &at("period"));
            let periods = json!(q.evaluation_periods);
            r.set("evaluationPeriods", periods, &at("evaluationPeriods"));
            let threshold = canonical_f64(policy.threshold);
            r.set("threshold", threshold, &format!("{path}.threshold"));
            r.set("comparisonOperator", json!(direction.comparison()), &path);
            r.set("treatMissingData", json!("missing"), &path);
            let actions = Reference::ArnSet {
                resources: vec![policy_id],
                literals: vec![],
            };
            r.reference("alarmActions", actions, &path);
            r.build()
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
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
pub(super) fn steps(steps: &[Step], direction: Direction) -> Value {
    if steps.is_empty() {
        return match direction {
            Direction::Out => json!([step(Some(0.0), None, 1)]),
            Direction::In => json!([step(None, Some(0.0), -1)]),
        };
    }
    let steps = steps
        .iter()
        .map(|s| step(s.lower, s.upper, i64::from(s.adjustment)))
        .collect();
    sort_steps(steps)
}
