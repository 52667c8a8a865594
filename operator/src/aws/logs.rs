//! CloudWatch Logs: one log group per service, with its retention.

use aws_sdk_cloudwatchlogs::types::LogGroup;
use aws_sdk_cloudwatchlogs::Client;

use super::desired_names;
use super::error::{absent_on, AwsError, OpResult};
use super::fields::{Out, View};
use crate::engine::{Desired, DesiredGraph, Observed, ResourceId, ResourceKind};

/// The service label the SDK uses, for errors.
const SERVICE: &str = "CloudWatch Logs";
const RETENTION: &str = "retentionInDays";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// The desired log groups that exist, listed by the env's prefix `/ecs/{env}-` (all pages).
pub(crate) async fn observe(
    client: &Client,
    env: &str,
    graph: &DesiredGraph,
) -> Result<Vec<Observed>, AwsError> {
    let desired = desired_names(graph, ResourceKind::LogGroup);
    if desired.is_empty() {
        return Ok(Vec::new());
    }
    let prefix = format!("/ecs/{env}-");
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .describe_log_groups()
            .log_group_name_prefix(&prefix)
            .set_next_token(token)
            .send()
            .await
            .op(SERVICE, "DescribeLogGroups")?;
        found.extend(
            out.log_groups()
                .iter()
                .filter(|g| desired.contains(g.log_group_name().unwrap_or_default()))
                .map(observed),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(found);
        }
    }
}

fn observed(g: &LogGroup) -> Observed {
    let mut f = Out::default();
    f.opt(RETENTION, g.retention_in_days());
    Observed {
        id: ResourceId::new(
            ResourceKind::LogGroup,
            g.log_group_name().unwrap_or_default(),
        ),
        arn: g.log_group_arn().or(g.arn()).map(str::to_owned),
        status: None,
        fields: f.0,
    }
}

pub(crate) async fn create(client: &Client, desired: &Desired) -> Result<Observed, AwsError> {
    let view = View::for_create(desired);
    client
        .create_log_group()
        .log_group_name(&desired.id.name)
        .set_tags(Some(desired.tags.clone().into_iter().collect()))
        .send()
        .await
        .op(SERVICE, "CreateLogGroup")?;
    if let Some(days) = view.i32(RETENTION)? {
        put_retention(client, &desired.id.name, days).await?;
    }
    Ok(view.observed(None))
}

pub(crate) async fn update(
    client: &Client,
    desired: &Desired,
    current: Option<&Observed>,
) -> Result<Observed, AwsError> {
    let view = View::for_update(desired, current);
    put_retention(client, &desired.id.name, view.req_i32(RETENTION)?).await?;
    Ok(view.observed(current.and_then(|c| c.arn.clone())))
}

async fn put_retention(client: &Client, name: &str, days: i32) -> Result<(), AwsError> {
    client
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .op(SERVICE, "PutRetentionPolicy")
        .map(drop)
}

pub(crate) async fn delete(client: &Client, id: &ResourceId) -> Result<(), AwsError> {
    let result = client
        .delete_log_group()
        .log_group_name(&id.name)
        .send()
        .await
        .op(SERVICE, "DeleteLogGroup");
    absent_on(result, NOT_FOUND).map(drop)
}
