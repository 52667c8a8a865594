//! Task definition families: Fargate, awsvpc, one essential container logging to CloudWatch.
//! A change registers a new revision. The family's observed revision is the one its service
//! runs (else the latest ACTIVE one); revisions are immutable, so each is described once and
//! remembered by ARN.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, HealthCheck, KeyValuePair,
    LogConfiguration, LogDriver, NetworkMode, OsFamily, PortMapping, RuntimePlatform, Secret, Tag,
    TaskDefinition as SdkTaskDefinition, TaskDefinitionFamilyStatus, TaskDefinitionField,
    TaskDefinitionStatus, TransportProtocol,
};
use aws_sdk_ecs::Client;
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use super::{ecs_tags, owner, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{AwsError, OpResult};
use crate::aws::fields::{Out, View};
use crate::engine::values::family_revision;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};

/// DescribeTaskDefinition takes one revision per call; this many run at once.
const PARALLEL_DESCRIBES: usize = 5;
/// The largest page ListTaskDefinitions and ListTaskDefinitionFamilies return.
const LIST_PAGE: i32 = 100;
const HEALTH_CHECK: &str = "healthCheck";

impl_adapter!(
    TaskDefinition,
    after: [ResourceKind::EcsService],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// For each desired family, and each other ACTIVE family with the environment's prefix, the
/// revision its service runs or else its latest ACTIVE one. Foreign families (another
/// environment's, sharing the prefix) are dropped by their tags.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, seen: &ObservedState) -> Result<Vec<Observed>> {
    let mut families = graph.names(ResourceKind::TaskDefinition);
    families.extend(active_families(&cx.clients.ecs, &format!("{}-", cx.env)).await?);
    let wanted: Vec<String> = families
        .iter()
        .map(|family| running(seen, family).unwrap_or_else(|| family.clone()))
        .collect();
    let calls: Vec<_> = wanted.iter().map(|which| revision(cx, which)).collect();
    let found: Vec<Option<Observed>> = futures::stream::iter(calls)
        .buffered(PARALLEL_DESCRIBES)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// The task definition ARN the family's service runs, when it runs one of this family.
fn running(seen: &ObservedState, family: &str) -> Option<String> {
    let service = seen.get(&ResourceId::new(ResourceKind::EcsService, family))?;
    let arn = service.fields.get("taskDefinition")?.as_str()?;
    let (of, _) = family_revision(arn)?;
    (of == family && arn.starts_with("arn:")).then(|| arn.to_owned())
}

async fn active_families(client: &Client, prefix: &str) -> Result<Vec<String>> {
    client
        .list_task_definition_families()
        .family_prefix(prefix)
        .status(TaskDefinitionFamilyStatus::Active)
        .max_results(LIST_PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .op(SERVICE, "ListTaskDefinitionFamilies")
}

/// One revision (an ARN, remembered) or a family's latest ACTIVE revision; None when there is
/// none. Only ECS's own not-found answer means absent: any other error (a permissions error
/// above all) is an error, so a failed read never registers a new revision.
async fn revision(cx: Cx<'_>, which: &str) -> Result<Option<Observed>> {
    if let Some(known) = cx.cache.revision(which) {
        return Ok(Some(known));
    }
    let result = cx
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(which)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .op(SERVICE, "DescribeTaskDefinition");
    let out = match result {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(td) = out.task_definition() else {
        return Ok(None);
    };
    let by_family = !which.starts_with("arn:");
    if by_family && td.status() == Some(&TaskDefinitionStatus::Inactive) {
        // Every revision was deregistered: the family is gone.
        return Ok(None);
    }
    let observed = observed(cx.env, td, out.tags());
    if let Some(arn) = &observed.arn {
        cx.cache.put_revision(arn, observed.clone());
    }
    Ok(Some(observed))
}

/// ECS answers `ClientException` "Unable to describe task definition." for a family or
/// revision that does not exist, and uses `ClientException` for other client faults too.
pub(crate) fn is_not_found(e: &AwsError) -> bool {
    match e {
        AwsError::Service { code, message, .. } => {
            code == "ClientException" && message.contains("Unable to describe task definition")
        }
        _ => false,
    }
}

fn observed(env: &str, td: &SdkTaskDefinition, tags: &[Tag]) -> Observed {
    let mut f = Out::default();
    f.opt("cpu", td.cpu().map(number));
    f.opt("memory", td.memory().map(number));
    f.opt(
        "cpuArchitecture",
        td.runtime_platform()
            .and_then(|p| p.cpu_architecture())
            .map(|a| a.as_str()),
    );
    f.opt("executionRoleArn", td.execution_role_arn());
    f.opt("taskRoleArn", td.task_role_arn());
    if let Some(c) = td.container_definitions().first() {
        container_fields(&mut f, c);
    }
    let id = ResourceId::new(
        ResourceKind::TaskDefinition,
        td.family().unwrap_or_default(),
    );
    let log_group =
        f.0.get("logGroup")
            .and_then(Value::as_str)
            .map(|g| ResourceId::new(ResourceKind::LogGroup, g));
    let mut o = Observed::new(id, td.task_definition_arn().map(str::to_owned), f.0);
    o.status = td.status().map(|s| s.as_str().to_owned());
    o.owner = owner(env, tags);
    o.depends_on = log_group.into_iter().collect();
    o
}

fn container_fields(f: &mut Out, c: &ContainerDefinition) {
    f.opt("containerName", c.name());
    f.opt("image", c.image());
    let options = c.log_configuration().and_then(|l| l.options());
    let option = |key: &str| options.and_then(|o| o.get(key)).cloned();
    f.opt("logGroup", option("awslogs-group"));
    f.opt("region", option("awslogs-region"));
    if !c.command().is_empty() {
        f.set("command", c.command());
    }
    if !c.environment().is_empty() {
        let env: Map<String, Value> = c
            .environment()
            .iter()
            .filter_map(|kv| Some((kv.name()?.to_owned(), json!(kv.value().unwrap_or_default()))))
            .collect();
        f.set("environment", env);
    }
    if !c.secrets().is_empty() {
        let secrets: Map<String, Value> = c
            .secrets()
            .iter()
            .map(|s| (s.name().to_owned(), json!(s.value_from())))
            .collect();
        f.set("secrets", secrets);
    }
    f.opt(
        "containerPort",
        c.port_mappings().first().and_then(|p| p.container_port()),
    );
    if let Some(h) = c.health_check() {
        let mut check = Map::new();
        check.insert("command".to_owned(), json!(h.command()));
        let numbers = [
            ("interval", h.interval()),
            ("timeout", h.timeout()),
            ("retries", h.retries()),
            ("startPeriod", h.start_period()),
        ];
        for (name, value) in numbers {
            if let Some(value) = value {
                check.insert(name.to_owned(), json!(value));
            }
        }
        f.set(HEALTH_CHECK, check);
    }
}

/// `"256"` → 256; anything else stays a string.
fn number(s: &str) -> Value {
    s.trim()
        .parse::<i64>()
        .map_or_else(|_| json!(s), Value::from)
}

/// Registers the family's first revision.
async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    register(cx, &w.desired.tags, &View::for_create(w.desired)).await
}

/// Registers a new revision with the desired fields over the current ones.
async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    register(cx, &w.desired.tags, &View::for_update(w.desired, w.current)).await
}

async fn register(
    cx: Cx<'_>,
    tags: &BTreeMap<String, String>,
    view: &View<'_>,
) -> Result<Observed> {
    let mut platform = RuntimePlatform::builder().operating_system_family(OsFamily::Linux);
    if let Some(arch) = view.str("cpuArchitecture")? {
        platform = platform.cpu_architecture(CpuArchitecture::from(arch));
    }
    let out = cx
        .clients
        .ecs
        .register_task_definition()
        .family(&view.id.name)
        .container_definitions(container(view)?)
        .cpu(view.req_number_string("cpu")?)
        .memory(view.req_number_string("memory")?)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .runtime_platform(platform.build())
        .set_execution_role_arn(view.str("executionRoleArn")?.map(str::to_owned))
        .set_task_role_arn(view.str("taskRoleArn")?.map(str::to_owned))
        .set_tags(Some(ecs_tags(tags)))
        .send()
        .await
        .op(SERVICE, "RegisterTaskDefinition")?;
    let Some(td) = out.task_definition() else {
        return Ok(view.observed(None));
    };
    // Tagged as asked (the answer need not repeat the tags).
    let asked = ecs_tags(tags);
    let mut observed = observed(cx.env, td, out.tags());
    observed.owner = owner(cx.env, &asked);
    if let Some(arn) = &observed.arn {
        cx.cache.put_revision(arn, observed.clone());
    }
    Ok(observed)
}

fn container(view: &View<'_>) -> Result<ContainerDefinition> {
    let name = view.req_str("containerName")?;
    let environment = view.string_map("environment")?.map(|env| {
        env.into_iter()
            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
            .collect()
    });
    let secrets = view
        .string_map("secrets")?
        .map(|secrets| {
            secrets
                .into_iter()
                .map(|(k, v)| Secret::builder().name(k).value_from(v).build())
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .transpose()?;
    let ports = view.i32("containerPort")?.map(|port| {
        vec![PortMapping::builder()
            .container_port(port)
            .protocol(TransportProtocol::Tcp)
            .build()]
    });
    Ok(ContainerDefinition::builder()
        .name(name)
        .image(view.req_str("image")?)
        .essential(true)
        .set_command(view.strings("command")?)
        .set_environment(environment)
        .set_secrets(secrets)
        .set_port_mappings(ports)
        .set_log_configuration(log_configuration(view, name)?)
        .set_health_check(health_check(view)?)
        .build())
}

fn log_configuration(view: &View<'_>, container: &str) -> Result<Option<LogConfiguration>> {
    let Some(group) = view.str("logGroup")? else {
        return Ok(None);
    };
    let config = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", group)
        .options("awslogs-region", view.req_str("region")?)
        .options("awslogs-stream-prefix", container)
        .build()?;
    Ok(Some(config))
}

fn health_check(view: &View<'_>) -> Result<Option<HealthCheck>> {
    if !view.has(HEALTH_CHECK) {
        return Ok(None);
    }
    let command: Option<Vec<String>> = view
        .member(HEALTH_CHECK, "command")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().map(|s| s.as_str().map(str::to_owned)).collect());
    let number = |member: &str| -> Result<Option<i32>> {
        view.member(HEALTH_CHECK, member)
            .map(|v| {
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| view.error(HEALTH_CHECK))
            })
            .transpose()
    };
    let check = HealthCheck::builder()
        .set_command(Some(command.ok_or_else(|| view.error(HEALTH_CHECK))?))
        .set_interval(number("interval")?)
        .set_timeout(number("timeout")?)
        .set_retries(number("retries")?)
        .set_start_period(number("startPeriod")?)
        .build()?;
    Ok(Some(check))
}

/// Deregisters every ACTIVE revision of the family.
async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let client = &cx.clients.ecs;
    let family = &current.id.name;
    let arns: Vec<String> = client
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .max_results(LIST_PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .op(SERVICE, "ListTaskDefinitions")?;
    // The prefix also matches longer families (`prod-api` and `prod-api-worker`).
    let ours = arns
        .iter()
        .filter(|arn| family_revision(arn).is_some_and(|(f, _)| f == family));
    for arn in ours {
        client
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .op(SERVICE, "DeregisterTaskDefinition")?;
    }
    Ok(None)
}
