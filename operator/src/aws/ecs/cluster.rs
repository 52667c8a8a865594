//! The ECS cluster: capacity providers, default capacity provider, Container Insights.

use std::collections::BTreeSet;

use aws_sdk_ecs::types::{Cluster, ClusterField, ClusterSetting, ClusterSettingName};
use aws_sdk_ecs::Client;

use super::{ecs_tags, has_env_tag, strategy, SERVICE};
use crate::aws::error::{absent_on, AwsError, OpResult};
use crate::aws::fields::{sorted_set, Out, View};
use crate::engine::{Desired, Observed, ResourceId, ResourceKind};

const INSIGHTS: &str = "containerInsights";

/// The named clusters that exist and are desired or tagged as `env`'s.
pub(crate) async fn observe(
    client: &Client,
    env: &str,
    names: &BTreeSet<String>,
    desired: &BTreeSet<String>,
) -> Result<Vec<Observed>, AwsError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let out = client
        .describe_clusters()
        .set_clusters(Some(names.iter().cloned().collect()))
        .include(ClusterField::Settings)
        .include(ClusterField::Tags)
        .send()
        .await
        .op(SERVICE, "DescribeClusters")?;
    Ok(out
        .clusters()
        .iter()
        .filter(|c| c.status() != Some("INACTIVE"))
        .filter(|c| {
            let name = c.cluster_name().unwrap_or_default();
            desired.contains(name) || has_env_tag(c.tags(), env)
        })
        .map(observed)
        .collect())
}

fn observed(c: &Cluster) -> Observed {
    let mut f = Out::default();
    f.set("capacityProviders", sorted_set(c.capacity_providers()));
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
    Observed {
        id: ResourceId::new(
            ResourceKind::EcsCluster,
            c.cluster_name().unwrap_or_default(),
        ),
        arn: c.cluster_arn().map(str::to_owned),
        status: c.status().map(str::to_owned),
        fields: f.0,
    }
}

pub(crate) async fn create(client: &Client, desired: &Desired) -> Result<Observed, AwsError> {
    let view = View::for_create(desired);
    let mut request = client
        .create_cluster()
        .cluster_name(&desired.id.name)
        .set_capacity_providers(view.strings("capacityProviders")?)
        .set_tags(Some(ecs_tags(&desired.tags)));
    if let Some(provider) = view.str("defaultCapacityProvider")? {
        request = request.default_capacity_provider_strategy(strategy(provider)?);
    }
    if let Some(insights) = view.str(INSIGHTS)? {
        request = request.settings(insights_setting(insights));
    }
    let out = request.send().await.op(SERVICE, "CreateCluster")?;
    Ok(out.cluster().map_or_else(|| view.observed(None), observed))
}

pub(crate) async fn update(
    client: &Client,
    desired: &Desired,
    current: Option<&Observed>,
    changed: &BTreeSet<&str>,
) -> Result<Observed, AwsError> {
    let view = View::for_update(desired, current);
    let mut last = None;
    if changed.contains("capacityProviders") || changed.contains("defaultCapacityProvider") {
        let default = view
            .str("defaultCapacityProvider")?
            .map(strategy)
            .transpose()?;
        let out = client
            .put_cluster_capacity_providers()
            .cluster(&desired.id.name)
            .set_capacity_providers(Some(view.strings("capacityProviders")?.unwrap_or_default()))
            .set_default_capacity_provider_strategy(Some(default.into_iter().collect()))
            .send()
            .await
            .op(SERVICE, "PutClusterCapacityProviders")?;
        last = out.cluster().map(observed);
    }
    if changed.contains(INSIGHTS) {
        let out = client
            .update_cluster()
            .cluster(&desired.id.name)
            .settings(insights_setting(view.req_str(INSIGHTS)?))
            .send()
            .await
            .op(SERVICE, "UpdateCluster")?;
        last = out.cluster().map(observed);
    }
    Ok(last.unwrap_or_else(|| view.observed(None)))
}

pub(crate) async fn delete(client: &Client, id: &ResourceId) -> Result<(), AwsError> {
    let result = client
        .delete_cluster()
        .cluster(&id.name)
        .send()
        .await
        .op(SERVICE, "DeleteCluster");
    absent_on(result, &["ClusterNotFoundException"]).map(drop)
}

fn insights_setting(value: &str) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(value)
        .build()
}
