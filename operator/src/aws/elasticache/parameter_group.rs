//! The cache parameter group `{env}-redis`. Only the parameters the spec names are read back
//! (`Source=user`) and written; ElastiCache applies a changed parameter to the nodes using
//! the group at once, or at their next restart for those it marks as requiring one.

use aws_sdk_elasticache::types::{Parameter, ParameterNameValue};
use serde_json::{Map, Value};

use super::{cache_tags, list_tags, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::aws::tags;
use crate::engine::kinds::PARAMETERS;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

const NOT_FOUND: &[&str] = &[
    "CacheParameterGroupNotFound",
    "CacheParameterGroupNotFoundFault",
];

/// ModifyCacheParameterGroup takes at most 20 parameters a call.
const PER_CALL: usize = 20;

impl_adapter!(
    ParameterGroup,
    after: [],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// `{env}-redis` (and any other name the graph gives): the group, then its user-set
/// parameters.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let mut names = graph.names(ResourceKind::CacheParameterGroup);
    names.insert(names::redis(cx.env));
    let mut found = Vec::new();
    for name in &names {
        let result = cx
            .clients
            .elasticache
            .describe_cache_parameter_groups()
            .cache_parameter_group_name(name)
            .send()
            .await
            .op(SERVICE, "DescribeCacheParameterGroups");
        let Some(out) = absent_on(result, NOT_FOUND)? else {
            continue;
        };
        let Some(group) = out.cache_parameter_groups().first() else {
            continue;
        };
        let parameters: Vec<Parameter> = cx
            .clients
            .elasticache
            .describe_cache_parameters()
            .cache_parameter_group_name(name)
            .source("user")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op(SERVICE, "DescribeCacheParameters")?;
        let values: Map<String, Value> = parameters
            .iter()
            .filter_map(|p| Some((p.parameter_name()?.to_owned(), p.parameter_value()?.into())))
            .collect();
        let mut f = Out::default();
        f.set(PARAMETERS, values);
        f.opt("family", group.cache_parameter_group_family());
        f.opt("description", group.description());
        let name = group.cache_parameter_group_name().unwrap_or(name);
        let id = ResourceId::new(ResourceKind::CacheParameterGroup, name);
        found.push(Observed::new(id, group.arn().map(str::to_owned), f.0));
    }
    tags::owned(cx, found, &names, |arn| list_tags(cx, arn)).await
}

/// Creates the group, then sets its parameters.
async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let name = &w.desired.id.name;
    let out = cx
        .clients
        .elasticache
        .create_cache_parameter_group()
        .cache_parameter_group_name(name)
        .cache_parameter_group_family(view.req_str("family")?)
        .description(view.str("description")?.unwrap_or("Plumb"))
        .set_tags(Some(cache_tags(&w.desired.tags)))
        .send()
        .await
        .op(SERVICE, "CreateCacheParameterGroup")?;
    let arn = out
        .cache_parameter_group()
        .and_then(|g| g.arn().map(str::to_owned));
    modify(cx, name, wanted(&view)?).await?;
    Ok(view.observed(arn))
}

/// Sets the parameters whose value differs.
async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let current = w
        .current
        .and_then(|c| c.fields.get(PARAMETERS))
        .and_then(Value::as_object);
    let differing = wanted(&view)?
        .into_iter()
        .filter(|(k, v)| current.and_then(|c| c.get(k)).and_then(Value::as_str) != Some(v))
        .collect();
    modify(cx, &w.desired.id.name, differing).await?;
    Ok(view.observed(w.current.and_then(|c| c.arn.clone())))
}

/// The parameters the spec names, as (name, value).
fn wanted(view: &View<'_>) -> Result<Vec<(String, String)>> {
    Ok(view
        .string_map(PARAMETERS)?
        .unwrap_or_default()
        .into_iter()
        .collect())
}

async fn modify(cx: Cx<'_>, name: &str, set: Vec<(String, String)>) -> Result<()> {
    let set: Vec<ParameterNameValue> = set
        .into_iter()
        .map(|(k, v)| {
            ParameterNameValue::builder()
                .parameter_name(k)
                .parameter_value(v)
                .build()
        })
        .collect();
    for chunk in set.chunks(PER_CALL) {
        cx.clients
            .elasticache
            .modify_cache_parameter_group()
            .cache_parameter_group_name(name)
            .set_parameter_name_values(Some(chunk.to_vec()))
            .send()
            .await
            .op(SERVICE, "ModifyCacheParameterGroup")?;
    }
    Ok(())
}

async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .elasticache
        .delete_cache_parameter_group()
        .cache_parameter_group_name(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeleteCacheParameterGroup");
    absent_on(result, NOT_FOUND).map(|_| None)
}
