//! The ECS cluster: capacity providers, default capacity provider, Container Insights.

use aws_sdk_ecs::types::{Cluster as SdkCluster, ClusterField, ClusterSetting, ClusterSettingName};

use super::{ecs_tags, owner, strategy, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::engine::values::string_set;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

const INSIGHTS: &str = "containerInsights";

impl_adapter!(
    Cluster,
    after: [],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// `{env}-cluster` (whether or not the spec has ECS: a dropped ECS part leaves an orphan),
/// and any other cluster the graph names. One DescribeClusters.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let mut names = graph.names(ResourceKind::EcsCluster);
    names.insert(names::ecs_cluster(cx.env));
    let out = cx
        .clients
        .ecs
        .describe_clusters()
        .set_clusters(Some(names.into_iter().collect()))
        .include(ClusterField::Settings)
        .include(ClusterField::Tags)
        .send()
        .await
        .op(SERVICE, "DescribeClusters")?;
    Ok(out
        .clusters()
        .iter()
        .filter(|c| c.status() != Some("INACTIVE"))
        .map(|c| observed(cx.env, c))
        .collect())
}

fn observed(env: &str, c: &SdkCluster) -> Observed {
    let mut f = Out::default();
    f.set(
        "capacityProviders",
        string_set(c.capacity_providers().iter().map(String::as_str)),
    );
    f.opt(
        "defaultCapacityProvider",
        c.default_capacity_provider_strategy()
            .first()
            .map(|s| s.capacity_provider()),
    );
    f.opt(
        INSIGHTS,
        c.settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value()),
    );
    let id = ResourceId::new(
        ResourceKind::EcsCluster,
        c.cluster_name().unwrap_or_default(),
    );
    let mut o = Observed::new(id, c.cluster_arn().map(str::to_owned), f.0);
    o.status = c.status().map(str::to_owned);
    o.owner = owner(env, c.tags());
    o
}

async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let mut request = cx
        .clients
        .ecs
        .create_cluster()
        .cluster_name(&w.desired.id.name)
        .set_capacity_providers(view.strings("capacityProviders")?)
        .set_tags(Some(ecs_tags(&w.desired.tags)));
    if let Some(provider) = view.str("defaultCapacityProvider")? {
        request = request.default_capacity_provider_strategy(strategy(provider)?);
    }
    if let Some(insights) = view.str(INSIGHTS)? {
        request = request.settings(insights_setting(insights));
    }
    let out = request.send().await.op(SERVICE, "CreateCluster")?;
    Ok(out
        .cluster()
        .map_or_else(|| view.observed(None), |c| observed(cx.env, c)))
}

async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let name = &w.desired.id.name;
    let mut last = None;
    if w.any_changed(&["capacityProviders", "defaultCapacityProvider"]) {
        let default = view
            .str("defaultCapacityProvider")?
            .map(strategy)
            .transpose()?;
        let out = cx
            .clients
            .ecs
            .put_cluster_capacity_providers()
            .cluster(name)
            .set_capacity_providers(Some(view.strings("capacityProviders")?.unwrap_or_default()))
            .set_default_capacity_provider_strategy(Some(default.into_iter().collect()))
            .send()
            .await
            .op(SERVICE, "PutClusterCapacityProviders")?;
        last = out.cluster().map(|c| observed(cx.env, c));
    }
    if w.changed(INSIGHTS) {
        let out = cx
            .clients
            .ecs
            .update_cluster()
            .cluster(name)
            .settings(insights_setting(view.req_str(INSIGHTS)?))
            .send()
            .await
            .op(SERVICE, "UpdateCluster")?;
        last = out.cluster().map(|c| observed(cx.env, c));
    }
    Ok(last.unwrap_or_else(|| view.observed(w.current.and_then(|c| c.arn.clone()))))
}

async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .ecs
        .delete_cluster()
        .cluster(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeleteCluster");
    absent_on(result, &["ClusterNotFoundException"]).map(|_| None)
}

fn insights_setting(value: &str) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(value)
        .build()
}
