//! Scaling policies: target tracking on a predefined metric, or step scaling driven by an
//! alarm. Policies carry no tags: each belongs to whoever owns its target.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{
    AdjustmentType, MetricAggregationType, MetricType, PolicyType, PredefinedMetricSpecification,
    ScalingPolicy, StepAdjustment, StepScalingPolicyConfiguration,
    TargetTrackingScalingPolicyConfiguration,
};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::{dimension, namespace, NOT_FOUND, PAGE, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, AwsError, OpResult};
use crate::aws::fields::{Out, View};
use crate::engine::values::{canonical_f64, sort_steps, step};
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};

const PARALLEL_DESCRIBES: usize = 5;
const RESOURCE_ID: &str = "resourceId";
const TARGET_TRACKING: &str = "TargetTrackingScaling";
const STEP: &str = "StepScaling";

impl_adapter!(
    Policy,
    after: [ResourceKind::ScalableTarget],
    observe: observe,
    create: put,
    update: put,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// Every policy on each observed target (those the graph does not name are orphans).
async fn observe(cx: Cx<'_>, _: &DesiredGraph, seen: &ObservedState) -> Result<Vec<Observed>> {
    let targets: Vec<&Observed> = seen
        .values()
        .filter(|o| o.id.kind == ResourceKind::ScalableTarget)
        .collect();
    let calls: Vec<_> = targets.into_iter().map(|t| policies_of(cx, t)).collect();
    let found: Vec<Vec<Observed>> = futures::stream::iter(calls)
        .buffered(PARALLEL_DESCRIBES)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

async fn policies_of(cx: Cx<'_>, target: &Observed) -> Result<Vec<Observed>> {
    let resource_id = target.id.name.as_str();
    let policies: Vec<ScalingPolicy> = cx
        .clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(namespace())
        .scalable_dimension(dimension())
        .resource_id(resource_id)
        .max_results(PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .op(SERVICE, "DescribeScalingPolicies")?;
    Ok(policies
        .iter()
        .filter(|p| p.resource_id() == resource_id)
        .map(|p| {
            let mut o = observed(p);
            o.owner = target.owner.clone();
            o.depends_on = vec![target.id.clone()];
            o
        })
        .collect())
}

fn observed(p: &ScalingPolicy) -> Observed {
    let mut f = Out::default();
    f.set(RESOURCE_ID, p.resource_id());
    f.set("policyType", p.policy_type().as_str());
    if let Some(t) = p.target_tracking_scaling_policy_configuration() {
        if let Some(metric) = t.predefined_metric_specification() {
            let metric_type = metric.predefined_metric_type().as_str();
            f.set("predefinedMetricType", metric_type);
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
        let steps = s.step_adjustments().iter().map(|s| {
            step(
                s.metric_interval_lower_bound(),
                s.metric_interval_upper_bound(),
                i64::from(s.scaling_adjustment()),
            )
        });
        f.set("steps", sort_steps(steps.collect()));
    }
    let id = ResourceId::new(ResourceKind::ScalingPolicy, p.policy_name());
    Observed::new(id, Some(p.policy_arn().to_owned()), f.0)
}

/// PutScalingPolicy creates and updates alike; the whole configuration is sent.
async fn put(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let policy_type = view.req_str("policyType")?;
    let mut request = cx
        .clients
        .autoscaling
        .put_scaling_policy()
        .policy_name(&w.desired.id.name)
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

fn target_tracking(view: &View<'_>) -> Result<TargetTrackingScalingPolicyConfiguration> {
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

fn step_scaling(view: &View<'_>) -> Result<StepScalingPolicyConfiguration> {
    let steps = view
        .value("steps")
        .and_then(Value::as_array)
        .ok_or_else(|| view.error("steps"))?
        .iter()
        .map(|step| step_adjustment(view, step))
        .collect::<Result<Vec<_>>>()?;
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

fn step_adjustment(view: &View<'_>, step: &Value) -> Result<StepAdjustment> {
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

async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let resource_id = current
        .fields
        .get(RESOURCE_ID)
        .and_then(Value::as_str)
        .ok_or_else(|| AwsError::Field {
            resource: current.id.clone(),
            field: RESOURCE_ID,
        })?;
    let result = cx
        .clients
        .autoscaling
        .delete_scaling_policy()
        .policy_name(&current.id.name)
        .service_namespace(namespace())
        .scalable_dimension(dimension())
        .resource_id(resource_id)
        .send()
        .await
        .op(SERVICE, "DeleteScalingPolicy");
    absent_on(result, NOT_FOUND).map(|_| None)
}

/// Policies have no tags of their own; adopting the target adopts them.
async fn tag(_: Cx<'_>, _: &Observed, _: &BTreeMap<String, String>) -> Result<()> {
    Ok(())
}

/// Policies have no tags of their own; releasing the target releases them.
async fn untag(_: Cx<'_>, _: &Observed, _: &[&str]) -> Result<()> {
    Ok(())
}
