//! CloudWatch metric alarms: the scaling alarms of queue-depth autoscaling, the spec's
//! explicit alarms and its presets. Alarm actions are ARNs (the engine resolves references to
//! scaling policies before a write).

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag,
};

use serde_json::{Map, Value};

use super::adapter::{impl_adapter, Cx, Result, Write};
use super::error::{absent_on, OpResult};
use super::fields::{Out, View};
use super::tags;
use crate::engine::values::{canonical_f64, scaling_policy_arn, string_set};
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};

/// The service label the SDK uses, for errors.
const SERVICE: &str = "CloudWatch";
/// The largest page DescribeAlarms returns.
const PAGE: i32 = 100;
const ACTIONS: &str = "alarmActions";
const OK_ACTIONS: &str = "okActions";

impl_adapter!(
    Alarm,
    after: [],
    observe: observe,
    create: put,
    update: put,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// Every metric alarm named `{env}-…`, 100 a page, with its owner (tags read once per alarm
/// and remembered).
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let client = &cx.clients.cloudwatch;
    let pages: Vec<_> = client
        .describe_alarms()
        .alarm_name_prefix(format!("{}-", cx.env))
        .alarm_types(AlarmType::MetricAlarm)
        .max_records(PAGE)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .op(SERVICE, "DescribeAlarms")?;
    let alarms: Vec<MetricAlarm> = pages
        .iter()
        .flat_map(|page| page.metric_alarms().to_vec())
        .collect();
    let desired = graph.names(ResourceKind::MetricAlarm);
    let found = alarms.iter().map(observed).collect();
    tags::owned(cx, found, &desired, |arn| async move {
        let out = client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .op(SERVICE, "ListTagsForResource")?;
        let tags = out.tags().iter();
        Ok(tags
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect())
    })
    .await
}

fn observed(a: &MetricAlarm) -> Observed {
    let mut f = Out::default();
    f.opt("alarmDescription", a.alarm_description());
    f.opt("namespace", a.namespace());
    f.opt("metricName", a.metric_name());
    let dimensions: Map<String, Value> = a
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?.to_owned(), Value::from(d.value()?))))
        .collect();
    f.set("dimensions", dimensions);
    f.opt("statistic", a.statistic().map(|s| s.as_str()));
    f.opt("extendedStatistic", a.extended_statistic());
    f.opt("period", a.period());
    f.opt("evaluationPeriods", a.evaluation_periods());
    f.opt("datapointsToAlarm", a.datapoints_to_alarm());
    f.opt("threshold", a.threshold().map(canonical_f64));
    f.opt(
        "comparisonOperator",
        a.comparison_operator().map(|c| c.as_str()),
    );
    f.opt("treatMissingData", a.treat_missing_data());
    f.set(
        ACTIONS,
        string_set(a.alarm_actions().iter().map(String::as_str)),
    );
    f.set(
        OK_ACTIONS,
        string_set(a.ok_actions().iter().map(String::as_str)),
    );
    let id = ResourceId::new(
        ResourceKind::MetricAlarm,
        a.alarm_name().unwrap_or_default(),
    );
    let mut o = Observed::new(id, a.alarm_arn().map(str::to_owned), f.0);
    o.status = a.state_value().map(|s| s.as_str().to_owned());
    o.depends_on = a
        .alarm_actions()
        .iter()
        .filter_map(|arn| scaling_policy_arn(arn))
        .map(|(_, name)| ResourceId::new(ResourceKind::ScalingPolicy, name))
        .collect();
    o
}

/// PutMetricAlarm creates and updates alike, with the whole configuration; tags go only with
/// the first.
async fn put(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let dimensions = view.string_map("dimensions")?.map(|dims| {
        dims.into_iter()
            .map(|(name, value)| Dimension::builder().name(name).value(value).build())
            .collect()
    });
    let tags = w.current.is_none().then(|| {
        w.desired
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    });
    cx.clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&w.desired.id.name)
        .set_alarm_description(view.str("alarmDescription")?.map(str::to_owned))
        .set_namespace(view.str("namespace")?.map(str::to_owned))
        .set_metric_name(view.str("metricName")?.map(str::to_owned))
        .set_dimensions(dimensions)
        .set_statistic(view.str("statistic")?.map(Statistic::from))
        .set_extended_statistic(view.str("extendedStatistic")?.map(str::to_owned))
        .set_period(view.i32("period")?)
        .set_evaluation_periods(view.i32("evaluationPeriods")?)
        .set_datapoints_to_alarm(view.i32("datapointsToAlarm")?)
        .set_threshold(view.f64("threshold")?)
        .set_comparison_operator(
            view.str("comparisonOperator")?
                .map(ComparisonOperator::from),
        )
        .set_treat_missing_data(view.str("treatMissingData")?.map(str::to_owned))
        .set_alarm_actions(view.strings(ACTIONS)?)
        .set_ok_actions(view.strings(OK_ACTIONS)?)
        .set_tags(tags)
        .send()
        .await
        .op(SERVICE, "PutMetricAlarm")?;
    Ok(view.observed(w.current.and_then(|c| c.arn.clone())))
}

async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .cloudwatch
        .delete_alarms()
        .alarm_names(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeleteAlarms");
    absent_on(result, &["ResourceNotFound"]).map(|_| None)
}

async fn tag(cx: Cx<'_>, current: &Observed, tags: &BTreeMap<String, String>) -> Result<()> {
    let arn = tags::arn_of(current)?;
    let tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    cx.clients
        .cloudwatch
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .op(SERVICE, "TagResource")
        .map(drop)
}

async fn untag(cx: Cx<'_>, current: &Observed, keys: &[&str]) -> Result<()> {
    let arn = tags::arn_of(current)?;
    cx.clients
        .cloudwatch
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .op(SERVICE, "UntagResource")
        .map(drop)
}
