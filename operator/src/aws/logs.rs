//! CloudWatch Logs: one log group per service, with its retention.

use aws_sdk_cloudwatchlogs::types::LogGroup as SdkLogGroup;
use aws_sdk_cloudwatchlogs::Client;

use super::adapter::{impl_adapter, Cx, Result, Write};
use super::error::{absent_on, OpResult};
use super::fields::{Out, View};
use super::tags;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};

/// The service label the SDK uses, for errors.
const SERVICE: &str = "CloudWatch Logs";
const RETENTION: &str = "retentionInDays";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// The largest page DescribeLogGroups returns.
const LIST_PAGE: i32 = 50;

impl_adapter!(
    LogGroup,
    after: [],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// Every log group under the environment's prefix `/ecs/{env}-`, with its owner (tags read
/// once per group and remembered).
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let client = &cx.clients.logs;
    let prefix = format!("/ecs/{}-", cx.env);
    let groups: Vec<SdkLogGroup> = client
        .describe_log_groups()
        .log_group_name_prefix(&prefix)
        .limit(LIST_PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .op(SERVICE, "DescribeLogGroups")?;
    let desired = graph.names(ResourceKind::LogGroup);
    let found = groups.iter().map(observed).collect();
    tags::owned(cx, found, &desired, |arn| async move {
        let out = client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .op(SERVICE, "ListTagsForResource")?;
        Ok(out
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect())
    })
    .await
}

fn observed(g: &SdkLogGroup) -> Observed {
    let mut f = Out::default();
    f.opt(RETENTION, g.retention_in_days());
    let id = ResourceId::new(
        ResourceKind::LogGroup,
        g.log_group_name().unwrap_or_default(),
    );
    // `logGroupArn` has no `:*` suffix: it is the one tagging APIs take.
    let arn = g.log_group_arn().or(g.arn()).map(str::to_owned);
    Observed::new(id, arn, f.0)
}

async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let name = &w.desired.id.name;
    cx.clients
        .logs
        .create_log_group()
        .log_group_name(name)
        .set_tags(Some(w.desired.tags.clone().into_iter().collect()))
        .send()
        .await
        .op(SERVICE, "CreateLogGroup")?;
    if let Some(days) = view.i32(RETENTION)? {
        put_retention(&cx.clients.logs, name, days).await?;
    }
    Ok(view.observed(None))
}

async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let days = view.req_i32(RETENTION)?;
    put_retention(&cx.clients.logs, &w.desired.id.name, days).await?;
    Ok(view.observed(w.current.and_then(|c| c.arn.clone())))
}

async fn put_retention(client: &Client, name: &str, days: i32) -> Result<()> {
    client
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .op(SERVICE, "PutRetentionPolicy")
        .map(drop)
}

async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .logs
        .delete_log_group()
        .log_group_name(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeleteLogGroup");
    absent_on(result, NOT_FOUND).map(|_| None)
}

async fn tag(
    cx: Cx<'_>,
    current: &Observed,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let arn = taggable(tags::arn_of(current)?);
    cx.clients
        .logs
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .op(SERVICE, "TagResource")
        .map(drop)
}

async fn untag(cx: Cx<'_>, current: &Observed, keys: &[&str]) -> Result<()> {
    let arn = taggable(tags::arn_of(current)?);
    cx.clients
        .logs
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .op(SERVICE, "UntagResource")
        .map(drop)
}

/// The log group's ARN as TagResource and UntagResource take it: without the `:*` that
/// DescribeLogGroups' older `arn` field ends with.
fn taggable(arn: &str) -> &str {
    arn.strip_suffix(":*").unwrap_or(arn)
}
