//! Application Auto Scaling: the scalable target of each autoscaled service (its desired
//! count) and the target-tracking and step-scaling policies on it.

use std::collections::BTreeSet;

use aws_sdk_applicationautoscaling::types::{
    AdjustmentType, MetricAggregationType, MetricType, PolicyType, PredefinedMetricSpecification,
    ScalableDimension, ScalableTarget, ScalingPolicy, ServiceNamespace, StepAdjustment,
    StepScalingPolicyConfiguration, TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_applicationautoscaling::Client;
use serde_json::{Map, Value};

use super::desired_names;
use super::error::{absent_on, AwsError, OpResult};
use super::fields::{canonical_f64, Out, View};
use super::join::{join_all, join_chunked, BoxFuture};
use crate::engine::{Desired, DesiredGraph, Observed, ResourceId, ResourceKind};

/// The service label the SDK uses, for errors.
const SERVICE: &str = "Application Auto Scaling";
/// DescribeScalableTargets takes at most this many resource ids a call.
const DESCRIBE_BATCH: usize = 50;
const PARALLEL_DESCRIBES: usize = 5;
const NOT_FOUND: &[&str] = &["ObjectNotFoundException"];
const RESOURCE_ID: &str = "resourceId";
const TARGET_TRACKING: &str = "TargetTrackingScaling";
const STEP: &str = "StepScaling";

fn namespace() -> ServiceNamespace {
    ServiceNamespace::Ecs
}

fn dimension() -> ScalableDimension {
    ScalableDimension::EcsServiceDesiredCount
}

/// The desired scalable targets that exist, and every policy on the desired targets
/// (those the graph does not name are orphans).
pub(crate) async fn observe(
    client: &Client,
    graph: &DesiredGraph,
) -> Result<Vec<Observed>, AwsError> {
    let targets = desired_names(graph, ResourceKind::ScalableTarget);
    let mut resource_ids = targets.clone();
    resource_ids.extend(
        graph
            .resources
            .iter()
            .filter(|r| r.id.kind == ResourceKind::ScalingPolicy)
            .filter_map(|r| r.fields.get(RESOURCE_ID)?.as_str().map(str::to_owned)),
    );
    let calls: Vec<BoxFuture<'_, Result<Vec<Observed>, AwsError>>> = vec![
        Box::pin(observe_targets(client, &targets)),
        Box::pin(observe_policies(client, &resource_ids)),
    ];
    let mut found = Vec::new();
    for result in join_all(calls).await {
        found.extend(result?);
    }
    Ok(found)
}

async fn observe_targets(
    client: &Client,
    resource_ids: &BTreeSet<String>,
) -> Result<Vec<Observed>, AwsError> {
    let ids: Vec<String> = resource_ids.iter().cloned().collect();
    let mut found = Vec::new();
    for chunk in ids.chunks(DESCRIBE_BATCH) {
        let mut token = None;
        loop {
            let out = client
                .describe_scalable_targets()
                .service_namespace(namespace())
                .scalable_dimension(dimension())
                .set_resource_ids(Some(chunk.to_vec()))
                .set_next_token(token)
                .send()
                .await
                .op(SERVICE, "DescribeScalableTargets")?;
            found.extend(out.scalable_targets().iter().map(observed_target));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

fn observed_target(t: &ScalableTarget) -> Observed {
    let mut f = Out::default();
    f.set("minCapacity", t.min_capacity());
    f.set("maxCapacity", t.max_capacity());
    Observed {
        id: ResourceId::new(ResourceKind::ScalableTarget, t.resource_id()),
        arn: t.scalable_target_arn().map(str::to_owned),
        status: None,
        fields: f.0,
    }
}

async fn observe_policies(
    client: &Client,
    resource_ids: &BTreeSet<String>,
) -> Result<Vec<Observed>, AwsError> {
    let calls: Vec<BoxFuture<'_, Result<Vec<Observed>, AwsError>>> = resource_ids
        .iter()
        .map(|id| Box::pin(policies_of(client, id)) as BoxFuture<'_, _>)
        .collect();
    let mut found = Vec::new();
    for result in join_chunked(calls, PARALLEL_DESCRIBES).await {
        found.extend(result?);
    }
    Ok(found)
}

/// Every policy on one scalable target (all pages).
async fn policies_of(client: &Client, resource_id: &str) -> Result<Vec<Observed>, AwsError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .describe_scaling_policies()
            .service_namespace(namespace())
            .scalable_dimension(dimension())
            .resource_id(resource_id)
            .set_next_token(token)
            .send()
            .await
            .op(SERVICE, "DescribeScalingPolicies")?;
        found.extend(
            out.scaling_policies()
                .iter()
                .filter(|p| p.resource_id() == resource_id)
                .map(observed_policy),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(found);
        }
    }
}

fn observed_policy(p: &ScalingPolicy) -> Observed {
    let mut f = Out::default();
    f.set(RESOURCE_ID, p.resource_id());
    f.set("policyType", p.policy_type().as_str());
    if let Some(t) = p.target_tracking_scaling_policy_configuration() {
        if let Some(metric) = t.predefined_metric_specification() {
            f.set(
                "predefinedMetricType",
                metric.predefined_metric_type().as_str(),
            );
            f.opt("resourceLabel", metric.resource_label());
        }
        f.set("targetValue", canonical_f64(t.target_value()));
        f.opt("scaleOutCooldown", t.scale_out_cooldown());
        f.opt("scaleInCooldown", t.scale_in_cooldown());
        f.opt("disableScaleIn", t.disable_scale_in());
    }
    if let Some(s) = p.step_scaling_policy_configuration() {
        f.opt("adjustmentType", s.adjustment_type().map(|a| a.as_str()));
        f.opt("cooldown", s.cooldown());
        f.opt(
            "metricAggregationType",
            s.metric_aggregation_type().map(|m| m.as_str()),
        );
        f.set("steps", steps(s.step_adjustments()));
    }
    Observed {
        id: ResourceId::new(ResourceKind::ScalingPolicy, p.policy_name()),
        arn: Some(p.policy_arn().to_owned()),
        status: None,
        fields: f.0,
    }
}

/// Steps sorted by lower bound (an open lower bound first); open bounds left out.
fn steps(adjustments: &[StepAdjustment]) -> Value {
    let mut sorted: Vec<&StepAdjustment> = adjustments.iter().collect();
    sorted.sort_by(|a, b| {
        let key = |s: &StepAdjustment| s.metric_interval_lower_bound().unwrap_or(f64::NEG_INFINITY);
        key(a).total_cmp(&key(b))
    });
    let steps = sorted.into_iter().map(|s| {
        let mut step = Map::new();
        if let Some(lower) = s.metric_interval_lower_bound() {
            step.insert("lower".to_owned(), canonical_f64(lower));
        }
        if let Some(upper) = s.metric_interval_upper_bound() {
            step.insert("upper".to_owned(), canonical_f64(upper));
        }
        step.insert("adjustment".to_owned(), Value::from(s.scaling_adjustment()));
        Value::Object(step)
    });
    Value::Array(steps.collect())
}

/// Registers the target with the environment's tags.
pub(crate) async fn create_target(
    client: &Client,
    desired: &Desired,
) -> Result<Observed, AwsError> {
    let view = View::for_create(desired);
    let tags = desired
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    register_target(client, &view, Some(tags)).await
}

/// Registers the target again with the new bounds.
pub(crate) async fn update_target(
    client: &Client,
    desired: &Desired,
    current: Option<&Observed>,
) -> Result<Observed, AwsError> {
    register_target(client, &View::for_update(desired, current), None).await
}

async fn register_target(
    client: &Client,
    view: &View<'_>,
    tags: Option<std::collections::HashMap<String, String>>,
) -> Result<Observed, AwsError> {
    let out = client
        .register_scalable_target()
        .service_namespace(namespace())
        .scalable_dimension(dimension())
        .resource_id(&view.id.name)
        .set_min_capacity(view.i32("minCapacity")?)
        .set_max_capacity(view.i32("maxCapacity")?)
        .set_tags(tags)
        .send()
        .await
        .op(SERVICE, "RegisterScalableTarget")?;
    Ok(view.observed(out.scalable_target_arn().map(str::to_owned)))
}

pub(crate) async fn delete_target(client: &Client, id: &ResourceId) -> Result<(), AwsError> {
    let result = client
        .deregister_scalable_target()
        .service_namespace(namespace())
        .scalable_dimension(dimension())
        .resource_id(&id.name)
        .send()
        .await
        .op(SERVICE, "DeregisterScalableTarget");
    absent_on(result, NOT_FOUND).map(drop)
}

/// PutScalingPolicy creates and updates alike; the whole configuration is sent.
pub(crate) async fn put_policy(
    client: &Client,
    desired: &Desired,
    current: Option<&Observed>,
) -> Result<Observed, AwsError> {
    let view = View::for_update(desired, current);
    let policy_type = view.req_str("policyType")?;
    let mut request = client
        .put_scaling_policy()
        .policy_name(&desired.id.name)
        .service_namespace(namespace())
        .scalable_dimension(dimension())
        .resource_id(view.req_str(RESOURCE_ID)?)
        .policy_type(PolicyType::from(policy_type));
    request = match policy_type {
        TARGET_TRACKING => {
            request.target_tracking_scaling_policy_configuration(target_tracking(&view)?)
        }
        STEP => request.step_scaling_policy_configuration(step_scaling(&view)?),
        _ => return Err(view.error("policyType")),
    };
    let out = request.send().await.op(SERVICE, "PutScalingPolicy")?;
    Ok(view.observed(Some(out.policy_arn().to_owned())))
}

fn target_tracking(view: &View<'_>) -> Result<TargetTrackingScalingPolicyConfiguration, AwsError> {
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(view.req_str("predefinedMetricType")?))
        .set_resource_label(view.str("resourceLabel")?.map(str::to_owned))
        .build()?;
    Ok(TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(view.req_f64("targetValue")?)
        .predefined_metric_specification(metric)
        .set_scale_out_cooldown(view.i32("scaleOutCooldown")?)
        .set_scale_in_cooldown(view.i32("scaleInCooldown")?)
        .set_disable_scale_in(view.bool("disableScaleIn")?)
        .build()?)
}

fn step_scaling(view: &View<'_>) -> Result<StepScalingPolicyConfiguration, AwsError> {
    let steps = view
        .value("steps")
        .and_then(Value::as_array)
        .ok_or_else(|| view.error("steps"))?
        .iter()
        .map(|step| step_adjustment(view, step))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StepScalingPolicyConfiguration::builder()
        .set_adjustment_type(view.str("adjustmentType")?.map(AdjustmentType::from))
        .set_step_adjustments(Some(steps))
        .set_cooldown(view.i32("cooldown")?)
        .set_metric_aggregation_type(
            view.str("metricAggregationType")?
                .map(MetricAggregationType::from),
        )
        .build())
}

fn step_adjustment(view: &View<'_>, step: &Value) -> Result<StepAdjustment, AwsError> {
    let adjustment = step
        .get("adjustment")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| view.error("steps"))?;
    Ok(StepAdjustment::builder()
        .set_metric_interval_lower_bound(step.get("lower").and_then(Value::as_f64))
        .set_metric_interval_upper_bound(step.get("upper").and_then(Value::as_f64))
        .scaling_adjustment(adjustment)
        .build()?)
}

pub(crate) async fn delete_policy(
    client: &Client,
    id: &ResourceId,
    current: Option<&Observed>,
    desired: Option<&Desired>,
) -> Result<(), AwsError> {
    let resource_id = current
        .and_then(|c| c.fields.get(RESOURCE_ID))
        .or_else(|| desired.and_then(|d| d.fields.get(RESOURCE_ID)))
        .and_then(Value::as_str)
        .ok_or_else(|| AwsError::Field {
            resource: id.clone(),
            field: RESOURCE_ID,
        })?;
    let result = client
        .delete_scaling_policy()
        .policy_name(&id.name)
        .service_namespace(namespace())
        .scalable_dimension(dimension())
        .resource_id(resource_id)
        .send()
        .await
        .op(SERVICE, "DeleteScalingPolicy");
    absent_on(result, NOT_FOUND).map(drop)
}
