//! ElastiCache: the Redis replication group, its cache subnet group and parameter group.
//! Every ElastiCache resource is tagged, untagged and read for tags by ARN the same way.

pub(crate) mod parameter_group;
pub(crate) mod replication_group;
pub(crate) mod subnet_group;

use std::collections::BTreeMap;

use aws_sdk_elasticache::types::Tag;

use super::adapter::{Cx, Result};
use super::error::OpResult;
use super::tags;
use crate::engine::Observed;

/// The service label the SDK uses, for errors.
pub(crate) const SERVICE: &str = "ElastiCache";

fn cache_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags of one ElastiCache resource, by ARN.
async fn list_tags(cx: Cx<'_>, arn: String) -> Result<Vec<(String, String)>> {
    let out = cx
        .clients
        .elasticache
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .op(SERVICE, "ListTagsForResource")?;
    Ok(out
        .tag_list()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect())
}

/// AddTagsToResource, for any ElastiCache resource.
async fn tag(cx: Cx<'_>, current: &Observed, tags: &BTreeMap<String, String>) -> Result<()> {
    let arn = tags::arn_of(current)?;
    cx.clients
        .elasticache
        .add_tags_to_resource()
        .resource_name(arn)
        .set_tags(Some(cache_tags(tags)))
        .send()
        .await
        .op(SERVICE, "AddTagsToResource")
        .map(drop)
}

/// RemoveTagsFromResource, for any ElastiCache resource.
async fn untag(cx: Cx<'_>, current: &Observed, keys: &[&str]) -> Result<()> {
    let arn = tags::arn_of(current)?;
    cx.clients
        .elasticache
        .remove_tags_from_resource()
        .resource_name(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .op(SERVICE, "RemoveTagsFromResource")
        .map(drop)
}
