//! ECS services: Fargate through a capacity provider, awsvpc, optionally behind a target
//! group, rolling deployments with the circuit breaker.

use std::collections::BTreeSet;

use aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentRolloutState, LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags,
    Service as SdkService, ServiceField,
};
use aws_sdk_ecs::Client;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use super::{ecs_tags, owner, strategy, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::engine::kinds::{FAILED_REVISION, ROLLOUT_STATE};
use crate::engine::values::{arn_name, family_revision, string_set};
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

/// DescribeServices takes at most this many services a call.
const DESCRIBE_BATCH: usize = 10;
/// The largest page ListServices returns (its default is 10).
const LIST_PAGE: i32 = 100;
const PARALLEL_DESCRIBES: usize = 5;
const TASK_DEFINITION: &str = "taskDefinition";
const CIRCUIT_BREAKER: &str = "deploymentCircuitBreaker";
const NETWORK: [&str; 3] = ["subnets", "securityGroups", "assignPublicIp"];
const LOAD_BALANCER: [&str; 2] = ["targetGroupArn", "loadBalancerContainerPort"];
const DEPLOYMENT: [&str; 3] = ["minimumHealthyPercent", "maximumPercent", CIRCUIT_BREAKER];
/// Errors meaning the service (or its cluster) is already gone.
const GONE: &[&str] = &[
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "ClusterNotFoundException",
];

impl_adapter!(
    Service,
    after: [ResourceKind::EcsCluster],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// Every service in the environment's cluster: ListServices in pages of 100, then
/// DescribeServices ten at a time. INACTIVE services are gone; DRAINING ones are reported
/// (their phase is Busy) so nothing is created over them.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, seen: &ObservedState) -> Result<Vec<Observed>> {
    let cluster = names::ecs_cluster(cx.env);
    let cluster_id = ResourceId::new(ResourceKind::EcsCluster, cluster.clone());
    if !seen.contains_key(&cluster_id) {
        return Ok(Vec::new());
    }
    let client = &cx.clients.ecs;
    let Some(listed) = list(client, &cluster).await? else {
        return Ok(Vec::new());
    };
    let mut names = graph.names(ResourceKind::EcsService);
    names.extend(listed);
    let names: Vec<String> = names.into_iter().collect();
    let calls: Vec<_> = names
        .chunks(DESCRIBE_BATCH)
        .map(|chunk| describe(client, &cluster, chunk))
        .collect();
    let described: Vec<Vec<SdkService>> = futures::stream::iter(calls)
        .buffered(PARALLEL_DESCRIBES)
        .try_collect()
        .await?;
    Ok(described
        .iter()
        .flatten()
        .filter(|s| s.status() != Some("INACTIVE"))
        .map(|s| observed(cx.env, s))
        .collect())
}

/// Names of the cluster's services; `None` when the cluster does not exist.
async fn list(client: &Client, cluster: &str) -> Result<Option<BTreeSet<String>>> {
    let result: std::result::Result<Vec<String>, _> = client
        .list_services()
        .cluster(cluster)
        .max_results(LIST_PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    let arns = absent_on(
        result.op(SERVICE, "ListServices"),
        &["ClusterNotFoundException"],
    )?;
    Ok(arns.map(|arns| arns.iter().map(|arn| arn_name(arn).to_owned()).collect()))
}

async fn describe(client: &Client, cluster: &str, names: &[String]) -> Result<Vec<SdkService>> {
    let out = client
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names.to_vec()))
        .include(ServiceField::Tags)
        .send()
        .await
        .op(SERVICE, "DescribeServices")?;
    Ok(out.services().to_vec())
}

fn observed(env: &str, s: &SdkService) -> Observed {
    let mut f = Out::default();
    let cluster = s.cluster_arn().map(arn_name);
    f.opt("cluster", cluster);
    f.opt(TASK_DEFINITION, s.task_definition());
    f.set("desiredCount", s.desired_count());
    f.opt(
        "capacityProvider",
        s.capacity_provider_strategy()
            .first()
            .map(|p| p.capacity_provider()),
    );
    if let Some(vpc) = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
    {
        f.set(
            "subnets",
            string_set(vpc.subnets().iter().map(String::as_str)),
        );
        let groups = vpc.security_groups().iter().map(String::as_str);
        f.set("securityGroups", string_set(groups));
        f.opt(
            "assignPublicIp",
            vpc.assign_public_ip()
                .map(|a| *a == AssignPublicIp::Enabled),
        );
    }
    if let Some(lb) = s.load_balancers().first() {
        f.opt("targetGroupArn", lb.target_group_arn());
        f.opt("loadBalancerContainerPort", lb.container_port());
    }
    if let Some(d) = s.deployment_configuration() {
        f.opt("minimumHealthyPercent", d.minimum_healthy_percent());
        f.opt("maximumPercent", d.maximum_percent());
        f.opt(
            CIRCUIT_BREAKER,
            d.deployment_circuit_breaker()
                .map(|c| json!({"enable": c.enable(), "rollback": c.rollback()})),
        );
    }
    deployments(&mut f, s);
    let name = s.service_name().unwrap_or_default();
    let mut o = Observed::new(
        ResourceId::new(ResourceKind::EcsService, name),
        s.service_arn().map(str::to_owned),
        f.0,
    );
    o.status = s.status().map(str::to_owned);
    o.owner = owner(env, s.tags());
    o.depends_on = cluster
        .map(|c| ResourceId::new(ResourceKind::EcsCluster, c))
        .into_iter()
        .chain(
            s.task_definition()
                .and_then(family_revision)
                .map(|(family, _)| ResourceId::new(ResourceKind::TaskDefinition, family)),
        )
        .collect();
    o
}

/// The primary deployment's rollout state, and the revision of a deployment whose rollout
/// FAILED (the circuit breaker stopped it).
fn deployments(f: &mut Out, s: &SdkService) {
    let deployments = s.deployments();
    let primary = deployments
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .or(deployments.first());
    f.opt(
        ROLLOUT_STATE,
        primary.and_then(|d| d.rollout_state()).map(|r| r.as_str()),
    );
    f.opt(
        FAILED_REVISION,
        deployments
            .iter()
            .find(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed))
            .and_then(|d| d.task_definition()),
    );
}

/// The container a service's load balancer targets: the service's own name without the
/// environment prefix (`{env}-{svc}` runs container `{svc}`).
fn container_name<'a>(env: &str, service: &'a str) -> &'a str {
    service
        .strip_prefix(env)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(service)
}

/// CreateService with the write's idempotency token, so a retried create makes one service.
async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let name = &w.desired.id.name;
    let mut request = cx
        .clients
        .ecs
        .create_service()
        .cluster(view.req_str("cluster")?)
        .service_name(name)
        .client_token(w.token)
        .task_definition(view.req_str(TASK_DEFINITION)?)
        .set_desired_count(view.i32("desiredCount")?)
        .set_network_configuration(network(&view)?)
        .set_load_balancers(load_balancers(&view, container_name(cx.env, name))?)
        .set_deployment_configuration(deployment(&view)?)
        .propagate_tags(PropagateTags::Service)
        .set_tags(Some(ecs_tags(&w.desired.tags)));
    request = match view.str("capacityProvider")? {
        Some(provider) => request.capacity_provider_strategy(strategy(provider)?),
        None => request.launch_type(LaunchType::Fargate),
    };
    let out = request.send().await.op(SERVICE, "CreateService")?;
    Ok(out
        .service()
        .map_or_else(|| view.observed(None), |s| observed(cx.env, s)))
}

/// One UpdateService with only what changed.
async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let Some(request) = update_request(&cx.clients.ecs, cx.env, &view, &w)? else {
        return Ok(view.observed(w.current.and_then(|c| c.arn.clone())));
    };
    let out = request.send().await.op(SERVICE, "UpdateService")?;
    Ok(out
        .service()
        .map_or_else(|| view.observed(None), |s| observed(cx.env, s)))
}

fn update_request(
    client: &Client,
    env: &str,
    view: &View<'_>,
    w: &Write<'_>,
) -> Result<Option<UpdateServiceFluentBuilder>> {
    let name = &view.id.name;
    let mut request = client
        .update_service()
        .cluster(view.req_str("cluster")?)
        .service(name);
    let mut touched = false;
    if w.changed(TASK_DEFINITION) {
        request = request.task_definition(view.req_str(TASK_DEFINITION)?);
        touched = true;
    }
    if w.changed("desiredCount") {
        request = request.desired_count(view.req_i32("desiredCount")?);
        touched = true;
    }
    if w.any_changed(&NETWORK) {
        request = request.set_network_configuration(network(view)?);
        touched = true;
    }
    if w.changed("capacityProvider") {
        let provider = view.req_str("capacityProvider")?;
        request = request
            .capacity_provider_strategy(strategy(provider)?)
            .force_new_deployment(true);
        touched = true;
    }
    if w.any_changed(&LOAD_BALANCER) {
        request = request.set_load_balancers(load_balancers(view, container_name(env, name))?);
        touched = true;
    }
    if w.any_changed(&DEPLOYMENT) {
        request = request.set_deployment_configuration(deployment(view)?);
        touched = true;
    }
    Ok(touched.then_some(request))
}

fn network(view: &View<'_>) -> Result<Option<NetworkConfiguration>> {
    let Some(subnets) = view.strings("subnets")? else {
        return Ok(None);
    };
    let mut vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(subnets))
        .set_security_groups(view.strings("securityGroups")?);
    if let Some(public) = view.bool("assignPublicIp")? {
        vpc = vpc.assign_public_ip(if public {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        });
    }
    Ok(Some(
        NetworkConfiguration::builder()
            .awsvpc_configuration(vpc.build()?)
            .build(),
    ))
}

fn load_balancers(view: &View<'_>, container: &str) -> Result<Option<Vec<LoadBalancer>>> {
    let Some(target_group) = view.str("targetGroupArn")? else {
        return Ok(None);
    };
    Ok(Some(vec![LoadBalancer::builder()
        .target_group_arn(target_group)
        .container_name(container)
        .set_container_port(view.i32("loadBalancerContainerPort")?)
        .build()]))
}

fn deployment(view: &View<'_>) -> Result<Option<DeploymentConfiguration>> {
    if !DEPLOYMENT.iter().any(|f| view.has(f)) {
        return Ok(None);
    }
    let breaker = view
        .value(CIRCUIT_BREAKER)
        .map(|v| {
            let flag = |name: &str| v.get(name).and_then(|b| b.as_bool());
            match (flag("enable"), flag("rollback")) {
                (Some(enable), Some(rollback)) => Ok(DeploymentCircuitBreaker::builder()
                    .enable(enable)
                    .rollback(rollback)
                    .build()),
                _ => Err(view.error(CIRCUIT_BREAKER)),
            }
        })
        .transpose()?;
    Ok(Some(
        DeploymentConfiguration::builder()
            .set_minimum_healthy_percent(view.i32("minimumHealthyPercent")?)
            .set_maximum_percent(view.i32("maximumPercent")?)
            .set_deployment_circuit_breaker(breaker)
            .build(),
    ))
}

/// Scales the service to 0, then deletes it (force: whatever is still draining).
async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let client = &cx.clients.ecs;
    let cluster = current
        .fields
        .get("cluster")
        .and_then(|v| v.as_str())
        .map_or_else(|| names::ecs_cluster(cx.env), str::to_owned);
    let name = &current.id.name;
    let scaled = client
        .update_service()
        .cluster(&cluster)
        .service(name)
        .desired_count(0)
        .send()
        .await
        .op(SERVICE, "UpdateService");
    if absent_on(scaled, GONE)?.is_none() {
        return Ok(None);
    }
    let deleted = client
        .delete_service()
        .cluster(&cluster)
        .service(name)
        .force(true)
        .send()
        .await
        .op(SERVICE, "DeleteService");
    absent_on(deleted, GONE).map(|_| None)
}
