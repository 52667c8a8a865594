//! ECS: the environment's cluster, its task definition families and its services.

pub(crate) mod cluster;
pub(crate) mod service;
pub(crate) mod task_definition;

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{CapacityProviderStrategyItem, Tag};

use super::error::{AwsError, OpResult};
use super::tags;
use super::Cx;
use crate::engine::{Observed, Owner};

/// The service label the SDK uses, for errors.
pub(crate) const SERVICE: &str = "ECS";

fn ecs_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn owner(env: &str, tags: &[Tag]) -> Owner {
    tags::owner(
        env,
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    )
}

/// All tasks on one capacity provider.
fn strategy(provider: &str) -> Result<CapacityProviderStrategyItem, AwsError> {
    Ok(CapacityProviderStrategyItem::builder()
        .capacity_provider(provider)
        .weight(1)
        .build()?)
}

/// TagResource on a cluster, service or task definition.
async fn tag(
    cx: Cx<'_>,
    current: &Observed,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let arn = crate::aws::tags::arn_of(current)?;
    cx.clients
        .ecs
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(ecs_tags(tags)))
        .send()
        .await
        .op(SERVICE, "TagResource")?;
    Ok(())
}

/// UntagResource on a cluster, service or task definition.
async fn untag(cx: Cx<'_>, current: &Observed, keys: &[&str]) -> Result<(), AwsError> {
    let arn = crate::aws::tags::arn_of(current)?;
    cx.clients
        .ecs
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .op(SERVICE, "UntagResource")?;
    Ok(())
}
