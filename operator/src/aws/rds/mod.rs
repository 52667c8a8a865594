//! RDS: the PostgreSQL instance or Aurora cluster with its instances, the DB subnet group and
//! the parameter groups. Every RDS resource is tagged and untagged by ARN the same way.

pub(crate) mod cluster;
pub(crate) mod instance;
pub(crate) mod parameter_group;
pub(crate) mod subnet_group;

use std::collections::BTreeMap;

use aws_sdk_rds::types::Tag;

use super::adapter::{Cx, Result};
use super::error::OpResult;
use super::tags;
use crate::engine::{Observed, Owner};

/// The service label the SDK uses, for errors.
pub(crate) const SERVICE: &str = "RDS";

fn rds_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
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

/// The tags of one RDS resource, by ARN.
async fn list_tags(cx: Cx<'_>, arn: String) -> Result<Vec<(String, String)>> {
    let out = cx
        .clients
        .rds
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

/// AddTagsToResource, for any RDS resource.
async fn tag(cx: Cx<'_>, current: &Observed, tags: &BTreeMap<String, String>) -> Result<()> {
    let arn = tags::arn_of(current)?;
    cx.clients
        .rds
        .add_tags_to_resource()
        .resource_name(arn)
        .set_tags(Some(rds_tags(tags)))
        .send()
        .await
        .op(SERVICE, "AddTagsToResource")
        .map(drop)
}

/// RemoveTagsFromResource, for any RDS resource.
async fn untag(cx: Cx<'_>, current: &Observed, keys: &[&str]) -> Result<()> {
    let arn = tags::arn_of(current)?;
    cx.clients
        .rds
        .remove_tags_from_resource()
        .resource_name(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .op(SERVICE, "RemoveTagsFromResource")
        .map(drop)
}
