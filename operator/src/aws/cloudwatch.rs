//! CloudWatch metric alarms. An alarm action `policy:{name}` names a scaling policy of the
//! same environment: it is resolved to the policy's ARN when written, and a scaling policy
//! ARN is shown as `policy:{name}` when observed.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag,
};
use aws_sdk_cloudwatch::Client;
use serde_json::{Map, Value};

use super::desired_names;
use super::error::{absent_on, AwsError, OpResult};
use super::fields::{canonical_f64, Out, View};
use crate::engine::graph::POLICY_ACTION_PREFIX;
use crate::engine::{Desired, DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};

/// The service label the SDK uses, for errors.
const SERVICE: &str = "CloudWatch";
/// DescribeAlarms takes at most this many names a call.
const DESCRIBE_BATCH: usize = 100;
/// What an Application Auto Scaling policy ARN ends with, before the policy name.
const POLICY_ARN_MARKER: &str = ":policyName/";
const ACTIONS: &str = "alarmActions";

/// The desired alarms that exist.
pub(crate) async fn observe(
    client: &Client,
    graph: &DesiredGraph,
) -> Result<Vec<Observed>, AwsError> {
    let names: Vec<String> = desired_names(graph, ResourceKind::MetricAlarm)
        .into_iter()
        .collect();
    let mut found = Vec::new();
    for chunk in names.chunks(DESCRIBE_BATCH) {
        let mut token = None;
        loop {
            let out = client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .set_next_token(token)
                .send()
                .await
                .op(SERVICE, "DescribeAlarms")?;
            found.extend(out.metric_alarms().iter().map(observed));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

fn observed(a: &MetricAlarm) -> Observed {
    let mut f = Out::default();
    f.opt("namespace", a.namespace());
    f.opt("metricName", a.metric_name());
    let dimensions: Map<String, Value> = a
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?.to_owned(), Value::from(d.value()?))))
        .collect();
    f.set("dimensions", dimensions);
    f.opt("statistic", a.statistic().map(|s| s.as_str()));
    f.opt("period", a.period());
    f.opt("evaluationPeriods", a.evaluation_periods());
    f.opt("threshold", a.threshold().map(canonical_f64));
    f.opt(
        "comparisonOperator",
        a.comparison_operator().map(|c| c.as_str()),
    );
    f.opt("treatMissingData", a.treat_missing_data());
    let mut actions: Vec<String> = a.alarm_actions().iter().map(|arn| symbolic(arn)).collect();
    actions.sort_unstable();
    f.set(ACTIONS, actions);
    Observed {
        id: ResourceId::new(
            ResourceKind::MetricAlarm,
            a.alarm_name().unwrap_or_default(),
        ),
        arn: a.alarm_arn().map(str::to_owned),
        status: a.state_value().map(|s| s.as_str().to_owned()),
        fields: f.0,
    }
}

/// A scaling policy ARN as `policy:{name}`; any other action as it is.
fn symbolic(action: &str) -> String {
    match action.rsplit_once(POLICY_ARN_MARKER) {
        Some((head, name))
            if head.contains(":autoscaling:") && head.contains(":scalingPolicy:") =>
        {
            format!("{POLICY_ACTION_PREFIX}{name}")
        }
        _ => action.to_owned(),
    }
}

/// PutMetricAlarm creates and updates alike; tags go only with the first.
pub(crate) async fn put(
    client: &Client,
    desired: &Desired,
    current: Option<&Observed>,
    observed: &ObservedState,
    resolved: &BTreeMap<ResourceId, String>,
) -> Result<Observed, AwsError> {
    let view = View::for_update(desired, current);
    let actions = view
        .strings(ACTIONS)?
        .map(|actions| {
            actions
                .iter()
                .map(|action| resolve(&view, action, observed, resolved))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let dimensions = view.string_map("dimensions")?.map(|dims| {
        dims.into_iter()
            .map(|(name, value)| Dimension::builder().name(name).value(value).build())
            .collect()
    });
    let tags = current.is_none().then(|| {
        desired
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    });
    client
        .put_metric_alarm()
        .alarm_name(&desired.id.name)
        .set_namespace(view.str("namespace")?.map(str::to_owned))
        .set_metric_name(view.str("metricName")?.map(str::to_owned))
        .set_dimensions(dimensions)
        .set_statistic(view.str("statistic")?.map(Statistic::from))
        .set_period(view.i32("period")?)
        .set_evaluation_periods(view.i32("evaluationPeriods")?)
        .set_threshold(view.f64("threshold")?)
        .set_comparison_operator(
            view.str("comparisonOperator")?
                .map(ComparisonOperator::from),
        )
        .set_treat_missing_data(view.str("treatMissingData")?.map(str::to_owned))
        .set_alarm_actions(actions)
        .set_tags(tags)
        .send()
        .await
        .op(SERVICE, "PutMetricAlarm")?;
    Ok(view.observed(current.and_then(|c| c.arn.clone())))
}

/// `policy:{name}` → the policy's ARN, from this run's writes or else from what was observed.
fn resolve(
    view: &View<'_>,
    action: &str,
    observed: &ObservedState,
    resolved: &BTreeMap<ResourceId, String>,
) -> Result<String, AwsError> {
    let Some(name) = action.strip_prefix(POLICY_ACTION_PREFIX) else {
        return Ok(action.to_owned());
    };
    let policy = ResourceId::new(ResourceKind::ScalingPolicy, name);
    resolved
        .get(&policy)
        .cloned()
        .or_else(|| observed.get(&policy).and_then(|o| o.arn.clone()))
        .ok_or_else(|| AwsError::Unresolved {
            resource: view.id.clone(),
            reference: action.to_owned(),
        })
}

pub(crate) async fn delete(client: &Client, id: &ResourceId) -> Result<(), AwsError> {
    let result = client
        .delete_alarms()
        .alarm_names(&id.name)
        .send()
        .await
        .op(SERVICE, "DeleteAlarms");
    absent_on(result, &["ResourceNotFound"]).map(drop)
}
