//! ECS services: Fargate through a capacity provider, awsvpc, optionally behind a target
//! group, rolling deployments with the circuit breaker.

use std::collections::BTreeSet;

use aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, Service, ServiceField,
};
use aws_sdk_ecs::Client;
use serde_json::json;

use super::task_definition::family_revision;
use super::{ecs_tags, has_env_tag, strategy, SERVICE};
use crate::aws::error::{absent_on, AwsError, OpResult};
use crate::aws::fields::{sorted_set, Out, View};
use crate::aws::join::{join_chunked, BoxFuture};
use crate::engine::{Desired, Observed, ResourceId, ResourceKind};
use crate::names;

/// DescribeServices takes at most this many services a call.
const DESCRIBE_BATCH: usize = 10;
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

/// The desired services that exist in `cluster`, and the cluster's other services tagged as
/// `env`'s (orphans): one ListServices page per 100 services, one DescribeServices per 10.
pub(crate) async fn observe(
    client: &Client,
    env: &str,
    cluster: &str,
    desired: &BTreeSet<String>,
) -> Result<Vec<Observed>, AwsError> {
    let Some(listed) = list(client, cluster).await? else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = desired
        .iter()
        .cloned()
        .chain(listed)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let calls: Vec<BoxFuture<'_, Result<Vec<Service>, AwsError>>> = names
        .chunks(DESCRIBE_BATCH)
        .map(|chunk| Box::pin(describe(client, cluster, chunk)) as BoxFuture<'_, _>)
        .collect();
    let mut out = Vec::new();
    for result in join_chunked(calls, PARALLEL_DESCRIBES).await {
        out.extend(
            result?
                .iter()
                .filter(|s| s.status() != Some("INACTIVE"))
                .filter(|s| {
                    desired.contains(s.service_name().unwrap_or_default())
                        || has_env_tag(s.tags(), env)
                })
                .map(observed),
        );
    }
    Ok(out)
}

/// Names of the cluster's services; `None` when the cluster does not exist.
async fn list(client: &Client, cluster: &str) -> Result<Option<Vec<String>>, AwsError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let result = client
            .list_services()
            .cluster(cluster)
            .set_next_token(token)
            .send()
            .await
            .op(SERVICE, "ListServices");
        let Some(out) = absent_on(result, &["ClusterNotFoundException"])? else {
            return Ok(None);
        };
        names.extend(
            out.service_arns()
                .iter()
                .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_owned()),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(Some(names));
        }
    }
}

async fn describe(
    client: &Client,
    cluster: &str,
    names: &[String],
) -> Result<Vec<Service>, AwsError> {
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

fn observed(s: &Service) -> Observed {
    let mut f = Out::default();
    f.opt(
        "cluster",
        s.cluster_arn()
            .map(|arn| arn.rsplit('/').next().unwrap_or(arn)),
    );
    f.opt(
        TASK_DEFINITION,
        s.task_definition().map(short_task_definition),
    );
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
        f.set("subnets", sorted_set(vpc.subnets()));
        f.set("securityGroups", sorted_set(vpc.security_groups()));
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
    Observed {
        id: ResourceId::new(
            ResourceKind::EcsService,
            s.service_name().unwrap_or_default(),
        ),
        arn: s.service_arn().map(str::to_owned),
        status: s.status().map(str::to_owned),
        fields: f.0,
    }
}

/// A task definition ARN as `family:revision`.
fn short_task_definition(arn: &str) -> String {
    match family_revision(arn) {
        Some((family, revision)) => format!("{family}:{revision}"),
        None => arn.rsplit('/').next().unwrap_or(arn).to_owned(),
    }
}

/// A service running its family's latest ACTIVE revision reports just the family name.
pub(crate) fn show_latest(services: &mut [Observed], task_definitions: &[Observed]) {
    for service in services {
        let Some(running) = service.fields.get(TASK_DEFINITION).and_then(|v| v.as_str()) else {
            continue;
        };
        let Some((family, revision)) = family_revision(running) else {
            continue;
        };
        let latest = task_definitions
            .iter()
            .filter(|td| td.id.name == family)
            .filter_map(|td| td.arn.as_deref().and_then(family_revision))
            .any(|(_, latest)| latest == revision);
        if latest {
            let family = family.to_owned();
            service
                .fields
                .insert(TASK_DEFINITION.to_owned(), json!(family));
        }
    }
}

/// The container a service's load balancer targets: the service's own name without the
/// environment prefix (`{env}-{svc}` runs container `{svc}`).
fn container_name<'a>(env: &str, service: &'a str) -> &'a str {
    service
        .strip_prefix(env)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(service)
}

pub(crate) async fn create(
    client: &Client,
    env: &str,
    desired: &Desired,
) -> Result<Observed, AwsError> {
    let view = View::for_create(desired);
    let name = &desired.id.name;
    let mut request = client
        .create_service()
        .cluster(view.req_str("cluster")?)
        .service_name(name)
        .task_definition(view.req_str(TASK_DEFINITION)?)
        .set_desired_count(view.i32("desiredCount")?)
        .set_network_configuration(network(&view)?)
        .set_load_balancers(load_balancers(&view, container_name(env, name))?)
        .set_deployment_configuration(deployment(&view)?)
        .propagate_tags(PropagateTags::Service)
        .set_tags(Some(ecs_tags(&desired.tags)));
    request = match view.str("capacityProvider")? {
        Some(provider) => request.capacity_provider_strategy(strategy(provider)?),
        None => request.launch_type(LaunchType::Fargate),
    };
    let out = request.send().await.op(SERVICE, "CreateService")?;
    let mut observed = out.service().map_or_else(|| view.observed(None), observed);
    // It was created with the family's latest revision.
    observed.fields.insert(
        TASK_DEFINITION.to_owned(),
        json!(view.req_str(TASK_DEFINITION)?),
    );
    Ok(observed)
}

/// One UpdateService with only what changed.
pub(crate) async fn update(
    client: &Client,
    env: &str,
    desired: &Desired,
    current: Option<&Observed>,
    changed: &BTreeSet<&str>,
) -> Result<Observed, AwsError> {
    if changed.contains("cluster") {
        return Err(AwsError::Immutable {
            resource: desired.id.clone(),
            field: "cluster".to_owned(),
        });
    }
    let view = View::for_update(desired, current);
    let Some(request) = update_request(client, env, &view, changed)? else {
        return Ok(view.observed(current.and_then(|c| c.arn.clone())));
    };
    let out = request.send().await.op(SERVICE, "UpdateService")?;
    let mut observed = out.service().map_or_else(|| view.observed(None), observed);
    let task_definition = if changed.contains(TASK_DEFINITION) {
        view.value(TASK_DEFINITION)
    } else {
        current.and_then(|c| c.fields.get(TASK_DEFINITION))
    };
    if let Some(td) = task_definition {
        observed
            .fields
            .insert(TASK_DEFINITION.to_owned(), td.clone());
    }
    Ok(observed)
}

fn update_request(
    client: &Client,
    env: &str,
    view: &View<'_>,
    changed: &BTreeSet<&str>,
) -> Result<Option<UpdateServiceFluentBuilder>, AwsError> {
    let any = |group: &[&str]| group.iter().any(|f| changed.contains(f));
    let cluster = view.req_str("cluster")?;
    let name = &view.id.name;
    let mut request = client.update_service().cluster(cluster).service(name);
    let mut touched = false;
    if changed.contains(TASK_DEFINITION) {
        // The family name: ECS resolves it to the latest ACTIVE revision.
        request = request.task_definition(view.req_str(TASK_DEFINITION)?);
        touched = true;
    }
    if changed.contains("desiredCount") {
        request = request.desired_count(view.req_i32("desiredCount")?);
        touched = true;
    }
    if any(&NETWORK) {
        request = request.set_network_configuration(network(view)?);
        touched = true;
    }
    if changed.contains("capacityProvider") {
        let provider = view.req_str("capacityProvider")?;
        request = request
            .capacity_provider_strategy(strategy(provider)?)
            .force_new_deployment(true);
        touched = true;
    }
    if any(&LOAD_BALANCER) {
        request = request.set_load_balancers(load_balancers(view, container_name(env, name))?);
        touched = true;
    }
    if any(&DEPLOYMENT) {
        request = request.set_deployment_configuration(deployment(view)?);
        touched = true;
    }
    Ok(touched.then_some(request))
}

fn network(view: &View<'_>) -> Result<Option<NetworkConfiguration>, AwsError> {
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

fn load_balancers(view: &View<'_>, container: &str) -> Result<Option<Vec<LoadBalancer>>, AwsError> {
    let Some(target_group) = view.str("targetGroupArn")? else {
        return Ok(None);
    };
    Ok(Some(vec![LoadBalancer::builder()
        .target_group_arn(target_group)
        .container_name(container)
        .set_container_port(view.i32("loadBalancerContainerPort")?)
        .build()]))
}

fn deployment(view: &View<'_>) -> Result<Option<DeploymentConfiguration>, AwsError> {
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
pub(crate) async fn delete(
    client: &Client,
    env: &str,
    id: &ResourceId,
    current: Option<&Observed>,
) -> Result<(), AwsError> {
    let cluster = current
        .and_then(|c| c.fields.get("cluster"))
        .and_then(|v| v.as_str())
        .map_or_else(|| names::ecs_cluster(env), str::to_owned);
    let scaled = client
        .update_service()
        .cluster(&cluster)
        .service(&id.name)
        .desired_count(0)
        .send()
        .await
        .op(SERVICE, "UpdateService");
    if absent_on(scaled, GONE)?.is_none() {
        return Ok(());
    }
    let deleted = client
        .delete_service()
        .cluster(&cluster)
        .service(&id.name)
        .force(true)
        .send()
        .await
        .op(SERVICE, "DeleteService");
    absent_on(deleted, GONE).map(drop)
}
