//! ECS: the environment's cluster, its task definition families and its services.

pub(crate) mod cluster;
pub(crate) mod service;
pub(crate) mod task_definition;

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{CapacityProviderStrategyItem, Tag};
use aws_sdk_ecs::Client;

use super::desired_names;
use super::error::AwsError;
use super::join::{join_all, BoxFuture};
use crate::engine::graph::TAG_ENVIRONMENT;
use crate::engine::{DesiredGraph, Observed, ResourceKind};
use crate::names;

/// The service label the SDK uses, for errors.
pub(crate) const SERVICE: &str = "ECS";

/// The env's cluster, task definition families and services (desired, plus the cluster and
/// services tagged as the env's that the graph does not name).
pub(crate) async fn observe(
    client: &Client,
    env: &str,
    graph: &DesiredGraph,
) -> Result<Vec<Observed>, AwsError> {
    let cluster = names::ecs_cluster(env);
    let desired_clusters = desired_names(graph, ResourceKind::EcsCluster);
    let mut clusters = desired_clusters.clone();
    clusters.insert(cluster.clone());
    let families = desired_names(graph, ResourceKind::TaskDefinition);
    let services = desired_names(graph, ResourceKind::EcsService);
    let calls: Vec<BoxFuture<'_, Result<Vec<Observed>, AwsError>>> = vec![
        Box::pin(cluster::observe(client, env, &clusters, &desired_clusters)),
        Box::pin(task_definition::observe(client, &families)),
        Box::pin(service::observe(client, env, &cluster, &services)),
    ];
    // One result per call, in the calls' order.
    let mut results = join_all(calls).await.into_iter();
    let mut next = || results.next().unwrap_or_else(|| Ok(Vec::new()));
    let (mut found, task_definitions, mut services) = (next()?, next()?, next()?);
    service::show_latest(&mut services, &task_definitions);
    found.extend(task_definitions);
    found.extend(services);
    Ok(found)
}

fn ecs_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn has_env_tag(tags: &[Tag], env: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(TAG_ENVIRONMENT) && t.value() == Some(env))
}

/// All tasks on one capacity provider.
fn strategy(provider: &str) -> Result<CapacityProviderStrategyItem, AwsError> {
    Ok(CapacityProviderStrategyItem::builder()
        .capacity_provider(provider)
        .weight(1)
        .build()?)
}
