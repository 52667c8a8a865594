//! The cache subnet group `{env}-redis`: the subnets the replication group's nodes live in.

use aws_sdk_elasticache::types::CacheSubnetGroup;

use super::{cache_tags, list_tags, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::aws::tags;
use crate::engine::values::string_set;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

const NOT_FOUND: &[&str] = &["CacheSubnetGroupNotFoundFault"];

impl_adapter!(
    SubnetGroup,
    after: [],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// `{env}-redis` (and any other name the graph gives): one DescribeCacheSubnetGroups each.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let mut names = graph.names(ResourceKind::CacheSubnetGroup);
    names.insert(names::redis(cx.env));
    let mut found = Vec::new();
    for name in &names {
        let result = cx
            .clients
            .elasticache
            .describe_cache_subnet_groups()
            .cache_subnet_group_name(name)
            .send()
            .await
            .op(SERVICE, "DescribeCacheSubnetGroups");
        if let Some(out) = absent_on(result, NOT_FOUND)? {
            found.extend(out.cache_subnet_groups().iter().map(observed));
        }
    }
    tags::owned(cx, found, &names, |arn| list_tags(cx, arn)).await
}

fn observed(g: &CacheSubnetGroup) -> Observed {
    let mut f = Out::default();
    let subnets = g.subnets().iter().filter_map(|s| s.subnet_identifier());
    f.set("subnetIds", string_set(subnets));
    f.opt("description", g.cache_subnet_group_description());
    let name = g.cache_subnet_group_name().unwrap_or_default();
    let id = ResourceId::new(ResourceKind::CacheSubnetGroup, name);
    Observed::new(id, g.arn().map(str::to_owned), f.0)
}

async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let out = cx
        .clients
        .elasticache
        .create_cache_subnet_group()
        .cache_subnet_group_name(&w.desired.id.name)
        .cache_subnet_group_description(view.str("description")?.unwrap_or("Plumb"))
        .set_subnet_ids(view.strings("subnetIds")?)
        .set_tags(Some(cache_tags(&w.desired.tags)))
        .send()
        .await
        .op(SERVICE, "CreateCacheSubnetGroup")?;
    Ok(out
        .cache_subnet_group()
        .map_or_else(|| view.observed(None), observed))
}

async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let out = cx
        .clients
        .elasticache
        .modify_cache_subnet_group()
        .cache_subnet_group_name(&w.desired.id.name)
        .set_subnet_ids(view.strings("subnetIds")?)
        .send()
        .await
        .op(SERVICE, "ModifyCacheSubnetGroup")?;
    Ok(out.cache_subnet_group().map_or_else(
        || view.observed(w.current.and_then(|c| c.arn.clone())),
        observed,
    ))
}

async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .elasticache
        .delete_cache_subnet_group()
        .cache_subnet_group_name(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeleteCacheSubnetGroup");
    absent_on(result, NOT_FOUND).map(|_| None)
}
