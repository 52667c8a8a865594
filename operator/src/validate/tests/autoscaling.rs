use super::*;
use crate::spec::{
    Autoscaling, QueueDepthScaling, QueueSource, ScalingMetric, Step, StepPolicy, TargetTracking,
};

const API: &str = "spec.ecs.services.api.autoscaling";
const QUEUE: &str = "spec.ecs.services.worker.autoscaling.queueDepth";

fn api(e: &mut Environment) -> &mut Autoscaling {
    svc(e, "api").autoscaling.as_mut().unwrap()
}

fn queue(e: &mut Environment) -> &mut QueueDepthScaling {
    svc(e, "worker")
        .autoscaling
        .as_mut()
        .unwrap()
        .queue_depth
        .as_mut()
        .unwrap()
}

fn step(lower: Option<f64>, upper: Option<f64>, adjustment: i32) -> Step {
    Step {
        lower,
        upper,
        adjustment,
    }
}

#[test]
fn capacity_bounds() {
    let errors = errors_after(|e| api(e).max_capacity = 0);
    assert_has(&errors, &format!("{API}.maxCapacity"), "must be at least 1");
    assert_has(
        &errors,
        &format!("{API}.minCapacity"),
        "2 is greater than maxCapacity 0",
    );
    assert_only(
        |e| api(e).max_capacity = 5001,
        &format!("{API}.maxCapacity"),
        "5001 is more than the 5000 tasks",
    );
    assert_only(
        |e| api(e).min_capacity = 11,
        &format!("{API}.minCapacity"),
        "11 is greater than maxCapacity 10",
    );
    assert_only(
        |e| svc(e, "api").desired_count = 11,
        "spec.ecs.services.api.desiredCount",
        "11 is outside the autoscaling range 2–10",
    );
    assert_only(
        |e| svc(e, "api").desired_count = 1,
        "spec.ecs.services.api.desiredCount",
        "outside the autoscaling range",
    );
}

#[test]
fn a_policy_is_required() {
    assert_only(
        |e| api(e).target_tracking.clear(),
        API,
        "has no policy; add targetTracking or queueDepth",
    );
}

#[test]
fn one_target_tracking_policy_per_metric() {
    assert_only(
        |e| {
            api(e).target_tracking.push(TargetTracking {
                metric: ScalingMetric::Cpu,
                target: 50.0,
                resource_label: None,
                scale_out_cooldown: 60,
                scale_in_cooldown: 300,
                disable_scale_in: false,
            })
        },
        &format!("{API}.targetTracking[2].metric"),
        "cpu already has a policy",
    );
}

#[test]
fn targets() {
    for target in [0.0, -5.0, 100.5] {
        assert_only(
            |e| api(e).target_tracking[0].target = target,
            &format!("{API}.targetTracking[0].target"),
            "is not a percentage; allowed above 0 up to 100",
        );
    }
    assert_only(
        |e| api(e).target_tracking[1].target = 0.0,
        &format!("{API}.targetTracking[1].target"),
        "requests per target must be greater than 0",
    );
    // YAML can carry NaN and infinity; neither is a target.
    let errors = yaml_errors("target: 70", "target: .nan");
    assert_has(
        &errors,
        &format!("{API}.targetTracking[0].target"),
        "give a finite value",
    );
    let errors = yaml_errors("target: 500", "target: .inf");
    assert_has(
        &errors,
        &format!("{API}.targetTracking[1].target"),
        "give a finite value",
    );
}

#[test]
fn alb_resource_labels() {
    let field = format!("{API}.targetTracking[1].resourceLabel");
    assert_only(
        |e| api(e).target_tracking[1].resource_label = None,
        &field,
        "required for albRequestsPerTarget",
    );
    assert_only(
        |e| api(e).target_tracking[1].resource_label = Some("app/shop/targetgroup/shop-api".into()),
        &field,
        "must be app/{load-balancer}/{16 hex}/targetgroup/{target-group}/{16 hex}",
    );
    assert_only(
        |e| {
            api(e).target_tracking[1].resource_label = Some(
                "app/shop/0123456789abcdef/targetgroup/shop-web/fedcba9876543210".into(),
            )
        },
        &field,
        "names targetgroup/shop-web/fedcba9876543210 but the service's target group is targetgroup/shop-api/0123456789abcdef",
    );
    assert_only(
        |e| {
            svc(e, "api").target_group_arn = None;
        },
        &field,
        "needs the service to have a targetGroupArn",
    );
    assert_only(
        |e| {
            api(e).target_tracking[0].resource_label =
                Some("app/shop/0123456789abcdef/targetgroup/shop-api/0123456789abcdef".into())
        },
        &format!("{API}.targetTracking[0].resourceLabel"),
        "only used with metric albRequestsPerTarget",
    );
}

#[test]
fn cooldowns() {
    assert_only(
        |e| api(e).target_tracking[0].scale_in_cooldown = 3601,
        &format!("{API}.targetTracking[0].scaleInCooldown"),
        "3601 s is longer than the 3600 s",
    );
    assert_only(
        |e| queue(e).scale_out.cooldown = 7200,
        &format!("{QUEUE}.scaleOut.cooldown"),
        "longer than the 3600 s",
    );
}

#[test]
fn queue_names() {
    for name in ["shop jobs", "", "jobs.fifo.fifo", &"q".repeat(81)] {
        assert_only(
            |e| queue(e).queue_name = name.to_owned(),
            &format!("{QUEUE}.queueName"),
            "must be an SQS queue name",
        );
    }
    assert_passes(|e| queue(e).queue_name = "shop_jobs-2.fifo".into());
    assert_passes(|e| queue(e).queue_name = "q".repeat(80));
}

#[test]
fn rabbitmq_queues() {
    let on_broker = |name: &str| {
        let name = name.to_owned();
        move |e: &mut Environment| {
            queue(e).source = QueueSource::RabbitMq;
            queue(e).queue_name = name;
        }
    };
    assert_passes(on_broker("arrakis.interactions"));
    for name in ["", "amq.gen-1"] {
        assert_only(
            on_broker(name),
            &format!("{QUEUE}.queueName"),
            "must be a RabbitMQ queue name",
        );
    }
    assert_only(
        |e| {
            on_broker("jobs")(e);
            e.spec.rabbitmq = None;
            e.spec.alarms.as_mut().unwrap().presets.rabbitmq = None;
        },
        &format!("{QUEUE}.source"),
        "spec.rabbitmq is not set",
    );
}

#[test]
fn queue_alarm_periods() {
    assert_only(
        |e| queue(e).period = 30,
        &format!("{QUEUE}.period"),
        "queue metrics are published once a minute",
    );
    assert_only(
        |e| queue(e).evaluation_periods = 0,
        &format!("{QUEUE}.evaluationPeriods"),
        "must be at least 1",
    );
    assert_only(
        |e| queue(e).evaluation_periods = 1441,
        &format!("{QUEUE}.evaluationPeriods"),
        "at most one day",
    );
}

#[test]
fn thresholds() {
    assert_only(
        |e| queue(e).scale_out.threshold = -1.0,
        &format!("{QUEUE}.scaleOut.threshold"),
        "cannot be negative",
    );
    assert_only(
        |e| queue(e).scale_in.as_mut().unwrap().threshold = 100.0,
        &format!("{QUEUE}.scaleIn.threshold"),
        "100 must be below the scale-out threshold 100",
    );
    let errors = yaml_errors("threshold: 100", "threshold: -.inf");
    assert_has(
        &errors,
        &format!("{QUEUE}.scaleOut.threshold"),
        "give a finite value",
    );
}

#[test]
fn step_adjustments_point_the_right_way() {
    assert_only(
        |e| queue(e).scale_out.steps[1].adjustment = 0,
        &format!("{QUEUE}.scaleOut.steps[1].adjustment"),
        "must be greater than 0 (tasks to add)",
    );
    assert_only(
        |e| queue(e).scale_in.as_mut().unwrap().steps[0].adjustment = 1,
        &format!("{QUEUE}.scaleIn.steps[0].adjustment"),
        "must be less than 0 (tasks to remove)",
    );
}

fn scale_out_steps(steps: Vec<Step>) -> impl FnOnce(&mut Environment) {
    move |e| queue(e).scale_out.steps = steps
}

fn scale_in_steps(steps: Vec<Step>) -> impl FnOnce(&mut Environment) {
    move |e| {
        queue(e).scale_in = Some(StepPolicy {
            threshold: 10.0,
            cooldown: 300,
            steps,
        })
    }
}

#[test]
fn scale_out_steps_follow_aws_rules() {
    let steps = format!("{QUEUE}.scaleOut.steps");
    assert_only(
        scale_out_steps(vec![step(None, Some(100.0), 1), step(Some(100.0), None, 2)]),
        &format!("{steps}[0].lower"),
        "required: steps are above the threshold",
    );
    assert_only(
        scale_out_steps(vec![step(Some(-10.0), None, 1)]),
        &format!("{steps}[0].lower"),
        "steps are above the threshold",
    );
    assert_only(
        scale_out_steps(vec![
            step(Some(0.0), Some(0.0), 1),
            step(Some(0.0), None, 2),
        ]),
        &format!("{steps}[0].upper"),
        "must be further from the threshold than lower",
    );
    assert_only(
        scale_out_steps(vec![step(Some(50.0), None, 1)]),
        &format!("{steps}[0].lower"),
        "must start at 0",
    );
    assert_only(
        scale_out_steps(vec![
            step(Some(0.0), Some(100.0), 1),
            step(Some(200.0), None, 2),
        ]),
        &format!("{steps}[1].lower"),
        "leaves a gap after steps[0]",
    );
    assert_only(
        scale_out_steps(vec![
            step(Some(0.0), Some(300.0), 1),
            step(Some(200.0), None, 2),
        ]),
        &format!("{steps}[1].lower"),
        "overlaps steps[0]",
    );
    assert_only(
        scale_out_steps(vec![step(Some(0.0), Some(100.0), 1)]),
        &format!("{steps}[0].upper"),
        "must leave upper open",
    );
    let errors = errors_after(scale_out_steps(vec![
        step(Some(100.0), Some(200.0), 2),
        step(Some(0.0), None, 1),
    ]));
    assert_has(
        &errors,
        &format!("{steps}[1].upper"),
        "only the step furthest from the threshold may leave upper open",
    );
    assert_has(
        &errors,
        &format!("{steps}[0].upper"),
        "must leave upper open",
    );
    // Order does not matter; AWS sorts the steps.
    assert_passes(scale_out_steps(vec![
        step(Some(500.0), None, 5),
        step(Some(0.0), Some(100.0), 1),
        step(Some(100.0), Some(500.0), 2),
    ]));
    assert_passes(scale_out_steps(Vec::new()));
}

#[test]
fn scale_in_steps_mirror_scale_out() {
    let steps = format!("{QUEUE}.scaleIn.steps");
    assert_only(
        scale_in_steps(vec![step(Some(-5.0), None, -1)]),
        &format!("{steps}[0].upper"),
        "required: steps are below the threshold",
    );
    assert_only(
        scale_in_steps(vec![step(None, Some(5.0), -1)]),
        &format!("{steps}[0].upper"),
        "steps are below the threshold",
    );
    assert_only(
        scale_in_steps(vec![step(Some(-10.0), Some(0.0), -1)]),
        &format!("{steps}[0].lower"),
        "must leave lower open",
    );
    assert_only(
        scale_in_steps(vec![
            step(Some(-10.0), Some(-2.0), -1),
            step(None, Some(-10.0), -2),
        ]),
        &format!("{steps}[0].upper"),
        "must start at 0",
    );
    assert_passes(scale_in_steps(vec![
        step(None, Some(-5.0), -2),
        step(Some(-5.0), Some(0.0), -1),
    ]));
}
