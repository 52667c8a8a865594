//! Scalable targets: one per autoscaled ECS service, `service/{cluster}/{service}`.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_applicationautoscaling::types::ScalableTarget;

use super::{dimension, namespace, NOT_FOUND, PAGE, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::engine::values::arn_name;
use crate::engine::{DesiredGraph, Observed, ObservedState, Owner, ResourceId, ResourceKind};

impl_adapter!(
    Target,
    after: [ResourceKind::EcsService],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// The targets the graph names and those of the environment's services, 50 resource ids a
/// call. A target belongs to whoever owns its service (Application Auto Scaling's own tags
/// would cost a call per target).
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, seen: &ObservedState) -> Result<Vec<Observed>> {
    let mut ids: BTreeSet<String> = graph.names(ResourceKind::ScalableTarget);
    ids.extend(
        seen.values()
            .filter(|o| o.id.kind == ResourceKind::EcsService && o.owner == Owner::Ours)
            .filter_map(|o| {
                let cluster = o.fields.get("cluster")?.as_str()?;
                Some(format!("service/{}/{}", arn_name(cluster), o.id.name))
            }),
    );
    let ids: Vec<String> = ids.into_iter().collect();
    let mut found = Vec::new();
    for chunk in ids.chunks(PAGE as usize) {
        let targets: Vec<ScalableTarget> = cx
            .clients
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(namespace())
            .scalable_dimension(dimension())
            .set_resource_ids(Some(chunk.to_vec()))
            .max_results(PAGE)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op(SERVICE, "DescribeScalableTargets")?;
        found.extend(targets.iter().map(|t| observed(t, seen)));
    }
    Ok(found)
}

fn observed(t: &ScalableTarget, seen: &ObservedState) -> Observed {
    let mut f = Out::default();
    f.set("minCapacity", t.min_capacity());
    f.set("maxCapacity", t.max_capacity());
    let service = t
        .resource_id()
        .rsplit('/')
        .next()
        .map(|name| ResourceId::new(ResourceKind::EcsService, name));
    let id = ResourceId::new(ResourceKind::ScalableTarget, t.resource_id());
    let mut o = Observed::new(id, t.scalable_target_arn().map(str::to_owned), f.0);
    o.owner = service
        .as_ref()
        .and_then(|s| seen.get(s))
        .map_or(Owner::Ours, |s| s.owner.clone());
    o.depends_on = service.into_iter().collect();
    o
}

/// Registers the target with the environment's tags.
async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let tags = w.desired.tags.clone().into_iter().collect();
    register(cx, &View::for_create(w.desired), Some(tags)).await
}

/// Registers the target again with the new bounds.
async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    register(cx, &View::for_update(w.desired, w.current), None).await
}

async fn register(
    cx: Cx<'_>,
    view: &View<'_>,
    tags: Option<std::collections::HashMap<String, String>>,
) -> Result<Observed> {
    let out = cx
        .clients
        .autoscaling
        .register_scalable_target()
        .service_namespace(namespace())
        .scalable_dimension(dimension())
        .resource_id(&view.id.name)
        .set_min_capacity(view.i32("minCapacity")?)
        .set_max_capacity(view.i32("maxCapacity")?)
        .set_tags(tags)
        .send()
        .await
        .op(SERVICE, "RegisterScalableTarget")?;
    Ok(view.observed(out.scalable_target_arn().map(str::to_owned)))
}

/// Deregisters the target, which also deletes the policies on it.
async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .autoscaling
        .deregister_scalable_target()
        .service_namespace(namespace())
        .scalable_dimension(dimension())
        .resource_id(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeregisterScalableTarget");
    absent_on(result, NOT_FOUND).map(|_| None)
}

async fn tag(cx: Cx<'_>, current: &Observed, tags: &BTreeMap<String, String>) -> Result<()> {
    let arn = crate::aws::tags::arn_of(current)?;
    cx.clients
        .autoscaling
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .op(SERVICE, "TagResource")
        .map(drop)
}

async fn untag(cx: Cx<'_>, current: &Observed, keys: &[&str]) -> Result<()> {
    let arn = crate::aws::tags::arn_of(current)?;
    cx.clients
        .autoscaling
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .op(SERVICE, "UntagResource")
        .map(drop)
}
