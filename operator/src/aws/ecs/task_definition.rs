//! Task definition families: Fargate, awsvpc, one essential container logging to CloudWatch.
//! A change registers a new revision; the resource is the family's latest ACTIVE revision.

use std::collections::BTreeSet;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, HealthCheck, KeyValuePair,
    LogConfiguration, LogDriver, NetworkMode, OsFamily, PortMapping, RuntimePlatform, Secret,
    TaskDefinition, TaskDefinitionStatus, TransportProtocol,
};
use aws_sdk_ecs::Client;
use serde_json::{json, Map, Value};

use super::{ecs_tags, SERVICE};
use crate::aws::error::{absent_on, AwsError, OpResult};
use crate::aws::fields::{Out, View};
use crate::aws::join::{join_chunked, BoxFuture};
use crate::engine::{Desired, Observed, ResourceId, ResourceKind};

/// DescribeTaskDefinition takes one family per call; this many run at once.
const PARALLEL_DESCRIBES: usize = 5;
const HEALTH_CHECK: &str = "healthCheck";

/// The latest ACTIVE revision of each family that has one.
pub(crate) async fn observe(
    client: &Client,
    families: &BTreeSet<String>,
) -> Result<Vec<Observed>, AwsError> {
    let calls: Vec<BoxFuture<'_, Result<Option<Observed>, AwsError>>> = families
        .iter()
        .map(|family| Box::pin(describe(client, family)) as BoxFuture<'_, _>)
        .collect();
    let results = join_chunked(calls, PARALLEL_DESCRIBES).await;
    let mut out = Vec::new();
    for result in results {
        out.extend(result?);
    }
    Ok(out)
}

async fn describe(client: &Client, family: &str) -> Result<Option<Observed>, AwsError> {
    let result = client
        .describe_task_definition()
        .task_definition(family)
        .send()
        .await
        .op(SERVICE, "DescribeTaskDefinition");
    // ECS answers ClientException for a family with no ACTIVE revision.
    let Some(out) = absent_on(result, &["ClientException"])? else {
        return Ok(None);
    };
    Ok(out
        .task_definition()
        .filter(|td| td.status() != Some(&TaskDefinitionStatus::Inactive))
        .map(observed))
}

pub(crate) fn observed(td: &TaskDefinition) -> Observed {
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
    Observed {
        id: ResourceId::new(
            ResourceKind::TaskDefinition,
            td.family().unwrap_or_default(),
        ),
        arn: td.task_definition_arn().map(str::to_owned),
        status: td.status().map(|s| s.as_str().to_owned()),
        fields: f.0,
    }
}

fn container_fields(f: &mut Out, c: &ContainerDefinition) {
    f.opt("containerName", c.name());
    f.opt("image", c.image());
    let options = c.log_configuration().and_then(|l| l.options());
    f.opt(
        "logGroup",
        options.and_then(|o| o.get("awslogs-group")).cloned(),
    );
    f.opt(
        "region",
        options.and_then(|o| o.get("awslogs-region")).cloned(),
    );
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
pub(crate) async fn create(client: &Client, desired: &Desired) -> Result<Observed, AwsError> {
    register(client, desired, &View::for_create(desired)).await
}

/// Registers a new revision with the desired fields over the current ones.
pub(crate) async fn update(
    client: &Client,
    desired: &Desired,
    current: Option<&Observed>,
) -> Result<Observed, AwsError> {
    register(client, desired, &View::for_update(desired, current)).await
}

async fn register(
    client: &Client,
    desired: &Desired,
    view: &View<'_>,
) -> Result<Observed, AwsError> {
    let mut platform = RuntimePlatform::builder().operating_system_family(OsFamily::Linux);
    if let Some(arch) = view.str("cpuArchitecture")? {
        platform = platform.cpu_architecture(CpuArchitecture::from(arch));
    }
    let out = client
        .register_task_definition()
        .family(&desired.id.name)
        .container_definitions(container(view)?)
        .cpu(view.req_number_string("cpu")?)
        .memory(view.req_number_string("memory")?)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .runtime_platform(platform.build())
        .set_execution_role_arn(view.str("executionRoleArn")?.map(str::to_owned))
        .set_task_role_arn(view.str("taskRoleArn")?.map(str::to_owned))
        .set_tags(Some(ecs_tags(&desired.tags)))
        .send()
        .await
        .op(SERVICE, "RegisterTaskDefinition")?;
    Ok(out
        .task_definition()
        .map_or_else(|| view.observed(None), observed))
}

fn container(view: &View<'_>) -> Result<ContainerDefinition, AwsError> {
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
                .collect::<Result<Vec<_>, _>>()
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

fn log_configuration(
    view: &View<'_>,
    container: &str,
) -> Result<Option<LogConfiguration>, AwsError> {
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

fn health_check(view: &View<'_>) -> Result<Option<HealthCheck>, AwsError> {
    if !view.has(HEALTH_CHECK) {
        return Ok(None);
    }
    let command: Option<Vec<String>> = view
        .member(HEALTH_CHECK, "command")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().map(|s| s.as_str().map(str::to_owned)).collect());
    let number = |member: &str| -> Result<Option<i32>, AwsError> {
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
pub(crate) async fn delete(client: &Client, id: &ResourceId) -> Result<(), AwsError> {
    for arn in active_revisions(client, &id.name).await? {
        client
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .op(SERVICE, "DeregisterTaskDefinition")?;
    }
    Ok(())
}

async fn active_revisions(client: &Client, family: &str) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .set_next_token(token)
            .send()
            .await
            .op(SERVICE, "ListTaskDefinitions")?;
        // The prefix also matches longer families (`prod-api` and `prod-api-worker`).
        arns.extend(
            out.task_definition_arns()
                .iter()
                .filter(|arn| family_revision(arn).is_some_and(|(f, _)| f == family))
                .cloned(),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(arns);
        }
    }
}

/// `arn:…:task-definition/{family}:{revision}` (or `family:revision`) → (family, revision).
pub(crate) fn family_revision(task_definition: &str) -> Option<(&str, &str)> {
    let tail = task_definition
        .rsplit_once("task-definition/")
        .map_or(task_definition, |(_, tail)| tail);
    tail.rsplit_once(':')
}
