//! Application Auto Scaling of an ECS service: capacity bounds, target tracking, and step
//! scaling on a queue's depth (with AWS's rules for step adjustments).

use std::sync::LazyLock;

use regex::Regex;

use super::arn;
use super::ecs::MAX_TASKS;
use super::rules::{alarm_span_problem, finite, repeated};
use super::Ctx;
use crate::spec::{
    Autoscaling, QueueDepthScaling, QueueSource, ScalingMetric, Service, Step, StepPolicy,
};

/// Suffix of the scale-out policy and alarm Plumb derives for queue-depth scaling (longer than
/// the scale-in one, `queue-in`).
pub(super) const QUEUE_SUFFIX: &str = crate::names::QUEUE_OUT;

/// Longest cooldown Plumb accepts, in seconds: beyond an hour a service cannot react.
const MAX_COOLDOWN: u32 = 3600;

/// `app/{lb}/{id}/targetgroup/{tg}/{id}`.
static RESOURCE_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^app/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}/(targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16})$",
    )
    .expect("static pattern")
});
/// SQS queue names: 1–80 letters, digits, '-' and '_', with `.fifo` for FIFO queues.
static QUEUE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]+(?:\.fifo)?$").expect("static pattern"));

/// `service` is the service's field path; `svc` the service itself.
pub(super) fn check(cx: &mut Ctx<'_>, service: &str, svc: &Service, scaling: &Autoscaling) {
    let base = format!("{service}.autoscaling");
    let (min, max) = (scaling.min_capacity, scaling.max_capacity);
    if max < 1 {
        cx.err(format!("{base}.maxCapacity"), "must be at least 1");
    } else if max > MAX_TASKS {
        cx.err(
            format!("{base}.maxCapacity"),
            format!("{max} is more than the {MAX_TASKS} tasks ECS runs per service"),
        );
    }
    if min > max {
        cx.err(
            format!("{base}.minCapacity"),
            format!("{min} is greater than maxCapacity {max}"),
        );
    } else if !(min..=max).contains(&svc.desired_count) {
        cx.err(
            format!("{service}.desiredCount"),
            format!(
                "{} is outside the autoscaling range {min}–{max}",
                svc.desired_count
            ),
        );
    }
    if scaling.target_tracking.is_empty() && scaling.queue_depth.is_none() {
        cx.err(
            base.clone(),
            "has no policy; add targetTracking or queueDepth (or remove autoscaling)",
        );
    }
    let metrics = scaling.target_tracking.iter().map(|t| t.metric);
    for i in repeated(metrics) {
        cx.err(
            format!("{base}.targetTracking[{i}].metric"),
            format!(
                "{} already has a policy; one per metric",
                scaling.target_tracking[i].metric.slug()
            ),
        );
    }
    for (i, tt) in scaling.target_tracking.iter().enumerate() {
        let field = format!("{base}.targetTracking[{i}]");
        if finite(cx, format!("{field}.target"), tt.target) {
            let percent = matches!(tt.metric, ScalingMetric::Cpu | ScalingMetric::Memory);
            if percent && !(tt.target > 0.0 && tt.target <= 100.0) {
                cx.err(
                    format!("{field}.target"),
                    format!(
                        "{} is not a percentage; allowed above 0 up to 100",
                        tt.target
                    ),
                );
            } else if !percent && tt.target <= 0.0 {
                cx.err(
                    format!("{field}.target"),
                    "requests per target must be greater than 0",
                );
            }
        }
        resource_label(cx, &field, svc, tt.metric, tt.resource_label.as_deref());
        cooldown(
            cx,
            format!("{field}.scaleOutCooldown"),
            tt.scale_out_cooldown,
        );
        cooldown(cx, format!("{field}.scaleInCooldown"), tt.scale_in_cooldown);
    }
    if let Some(q) = &scaling.queue_depth {
        queue_depth(cx, &format!("{base}.queueDepth"), q);
    }
}

fn resource_label(
    cx: &mut Ctx<'_>,
    field: &str,
    svc: &Service,
    metric: ScalingMetric,
    label: Option<&str>,
) {
    let field = format!("{field}.resourceLabel");
    if metric != ScalingMetric::AlbRequestsPerTarget {
        if label.is_some() {
            cx.err(field, "is only used with metric albRequestsPerTarget");
        }
        return;
    }
    let Some(label) = label else {
        cx.err(
            field,
            "required for albRequestsPerTarget: app/{load-balancer}/{id}/targetgroup/{target-group}/{id}",
        );
        return;
    };
    let Some(caps) = RESOURCE_LABEL.captures(label) else {
        cx.err(
            field,
            "must be app/{load-balancer}/{16 hex}/targetgroup/{target-group}/{16 hex}",
        );
        return;
    };
    let Some(tg) = &svc.target_group_arn else {
        cx.err(
            field,
            "albRequestsPerTarget needs the service to have a targetGroupArn",
        );
        return;
    };
    if let Some(tg) = arn::parse(tg) {
        if tg.resource != &caps[1] {
            cx.err(
                field,
                format!(
                    "names {} but the service's target group is {}",
                    &caps[1], tg.resource
                ),
            );
        }
    }
}

fn cooldown(cx: &mut Ctx<'_>, field: String, seconds: u32) {
    if seconds > MAX_COOLDOWN {
        cx.err(
            field,
            format!("{seconds} s is longer than the {MAX_COOLDOWN} s Plumb allows"),
        );
    }
}

fn queue_depth(cx: &mut Ctx<'_>, base: &str, q: &QueueDepthScaling) {
    let name = q.queue_name.as_str();
    match q.source {
        QueueSource::Sqs => {
            if name.len() > 80 || !QUEUE_NAME.is_match(name) {
                cx.err(
                    format!("{base}.queueName"),
                    "must be an SQS queue name: 1–80 letters, digits, '-' and '_', ending in .fifo for a FIFO queue",
                );
            }
        }
        QueueSource::RabbitMq => {
            if cx.env.spec.rabbitmq.is_none() {
                cx.err(
                    format!("{base}.source"),
                    "rabbitmq means a queue on the environment's broker, but spec.rabbitmq is not set",
                );
            }
            if name.is_empty() || name.len() > 255 || name.starts_with("amq.") {
                cx.err(
                    format!("{base}.queueName"),
                    "must be a RabbitMQ queue name: 1–255 bytes, not starting with amq. (reserved)",
                );
            }
        }
    }
    if q.period == 0 || !q.period.is_multiple_of(60) {
        cx.err(
            format!("{base}.period"),
            format!(
                "{} s: queue metrics are published once a minute; use a multiple of 60",
                q.period
            ),
        );
    } else if q.evaluation_periods >= 1 {
        if let Some(problem) = alarm_span_problem(q.period, q.evaluation_periods) {
            cx.err(format!("{base}.evaluationPeriods"), problem);
        }
    }
    if q.evaluation_periods < 1 {
        cx.err(format!("{base}.evaluationPeriods"), "must be at least 1");
    }
    let out_ok = policy(cx, &format!("{base}.scaleOut"), &q.scale_out, Dir::Out);
    if let Some(scale_in) = &q.scale_in {
        let in_ok = policy(cx, &format!("{base}.scaleIn"), scale_in, Dir::In);
        if out_ok && in_ok && scale_in.threshold >= q.scale_out.threshold {
            cx.err(
                format!("{base}.scaleIn.threshold"),
                format!(
                    "{} must be below the scale-out threshold {}",
                    scale_in.threshold, q.scale_out.threshold
                ),
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Out,
    In,
}

impl Dir {
    /// The bound a step starts from (nearest the threshold) and the one it ends at.
    fn bound_names(self) -> (&'static str, &'static str) {
        match self {
            Self::Out => ("lower", "upper"),
            Self::In => ("upper", "lower"),
        }
    }

    /// A step as distance from the threshold: (start, end); `end` is open when `None`.
    fn span(self, step: &Step) -> (Option<f64>, Option<f64>) {
        match self {
            Self::Out => (step.lower, step.upper),
            Self::In => (step.upper.map(|u| -u), step.lower.map(|l| -l)),
        }
    }
}

/// One step policy; returns true when its threshold is usable for comparisons.
fn policy(cx: &mut Ctx<'_>, base: &str, p: &StepPolicy, dir: Dir) -> bool {
    let mut threshold_ok = finite(cx, format!("{base}.threshold"), p.threshold);
    if threshold_ok && p.threshold < 0.0 {
        cx.err(
            format!("{base}.threshold"),
            "a queue depth cannot be negative; use 0 or more",
        );
        threshold_ok = false;
    }
    cooldown(cx, format!("{base}.cooldown"), p.cooldown);
    steps(cx, base, &p.steps, dir);
    threshold_ok
}

/// AWS's rules for step adjustments, relative to the alarm threshold: every step is on the
/// breaching side of the threshold, the first starts at it, steps neither overlap nor leave
/// gaps, and only the last is open-ended.
fn steps(cx: &mut Ctx<'_>, base: &str, steps: &[Step], dir: Dir) {
    let (start_name, end_name) = dir.bound_names();
    let (sign, side) = match dir {
        Dir::Out => ("greater than 0 (tasks to add)", "above"),
        Dir::In => ("less than 0 (tasks to remove)", "below"),
    };
    let mut spans = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let field = format!("{base}.steps[{i}]");
        let good_adjustment = match dir {
            Dir::Out => step.adjustment > 0,
            Dir::In => step.adjustment < 0,
        };
        if !good_adjustment {
            cx.err(format!("{field}.adjustment"), format!("must be {sign}"));
        }
        let lower_ok = step
            .lower
            .is_none_or(|v| finite(cx, format!("{field}.lower"), v));
        let upper_ok = step
            .upper
            .is_none_or(|v| finite(cx, format!("{field}.upper"), v));
        if !(lower_ok && upper_ok) {
            continue;
        }
        match dir.span(step) {
            (None, _) => cx.err(
                format!("{field}.{start_name}"),
                format!(
                    "required: steps are {side} the threshold, so each needs a {start_name} bound (0 for the first)"
                ),
            ),
            (Some(start), _) if start < 0.0 => cx.err(
                format!("{field}.{start_name}"),
                format!("steps are {side} the threshold; {start_name} must be on that side of 0"),
            ),
            (Some(start), Some(end)) if end <= start => cx.err(
                format!("{field}.{end_name}"),
                format!("must be further from the threshold than {start_name}"),
            ),
            (Some(start), end) => spans.push((i, start, end)),
        }
    }
    if spans.len() != steps.len() || spans.is_empty() {
        return;
    }
    spans.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (first, first_start, _) = spans[0];
    if first_start != 0.0 {
        cx.err(
            format!("{base}.steps[{first}].{start_name}"),
            format!("the step nearest the threshold must start at 0, or a breach just {side} it changes nothing"),
        );
    }
    for pair in spans.windows(2) {
        let ((i, _, end), (j, next_start, _)) = (pair[0], pair[1]);
        match end {
            None => cx.err(
                format!("{base}.steps[{i}].{end_name}"),
                format!("only the step furthest from the threshold may leave {end_name} open; this one overlaps steps[{j}]"),
            ),
            Some(end) if end > next_start => cx.err(
                format!("{base}.steps[{j}].{start_name}"),
                format!("overlaps steps[{i}]; steps must not overlap"),
            ),
            Some(end) if end < next_start => cx.err(
                format!("{base}.steps[{j}].{start_name}"),
                format!("leaves a gap after steps[{i}]; each step must start where the previous ends"),
            ),
            Some(_) => {}
        }
    }
    let (last, _, last_end) = spans[spans.len() - 1];
    if last_end.is_some() {
        cx.err(
            format!("{base}.steps[{last}].{end_name}"),
            format!("the step furthest from the threshold must leave {end_name} open, so any larger breach still scales"),
        );
    }
}
