//! The `ecs` component: the cluster, and per service its log group, task definition family
//! and service.

use serde_json::json;

use super::{Builder, Cx};
use crate::engine::resource::{Desired, Reference, ResourceId, ResourceKind};
use crate::engine::values::string_set;
use crate::names;
use crate::spec::{CpuArchitecture, Ecs, Service};

pub(super) fn resources(cx: &Cx<'_>, ecs: &Ecs) -> Vec<Desired> {
    let mut out = vec![cluster(cx, ecs)];
    out.extend(ecs.services.keys().map(|svc| log_group(cx, ecs, svc)));
    let services: Vec<Desired> = ecs
        .services
        .iter()
        .map(|(svc, s)| service(cx, ecs, svc, s))
        .collect();
    for ((svc, s), service) in ecs.services.iter().zip(&services) {
        let mut td = task_definition(cx, ecs, svc, s);
        if !service
            .references
            .get("taskDefinition")
            .is_some_and(|r| r.managed)
        {
            // The service's revision is someone else's business (an ignore rule): a revision
            // Plumb registered would never run, and the family is observed at the revision
            // the service runs, so it would be registered again on every sweep. Its fields
            // are set when the family is first created, and never compared.
            let fields = std::mem::take(&mut td.fields);
            td.create_only.extend(fields);
        }
        out.push(td);
    }
    out.extend(services);
    out
}

pub(super) fn cluster_id(env: &str) -> ResourceId {
    ResourceId::new(ResourceKind::EcsCluster, names::ecs_cluster(env))
}

pub(super) fn service_id(env: &str, svc: &str) -> ResourceId {
    ResourceId::new(ResourceKind::EcsService, names::ecs_service(env, svc))
}

/// `ecs.services.{svc}`.
pub(super) fn service_path(svc: &str) -> String {
    format!("ecs.services.{svc}")
}

fn cluster(cx: &Cx<'_>, ecs: &Ecs) -> Desired {
    let mut r = cx.resource(cluster_id(cx.env), vec![]);
    let providers = ecs.capacity_providers.iter().map(|p| p.as_str());
    r.set(
        "capacityProviders",
        string_set(providers),
        "ecs.capacityProviders",
    );
    if let Some(first) = ecs.capacity_providers.first() {
        r.set(
            "defaultCapacityProvider",
            json!(first.as_str()),
            "ecs.capacityProviders",
        );
    }
    let insights = if ecs.container_insights {
        "enabled"
    } else {
        "disabled"
    };
    r.set(
        "containerInsights",
        json!(insights),
        "ecs.containerInsights",
    );
    r.build()
}

fn log_group(cx: &Cx<'_>, ecs: &Ecs, svc: &str) -> Desired {
    let id = ResourceId::new(ResourceKind::LogGroup, names::log_group(cx.env, svc));
    let mut r = cx.resource(id, vec![]);
    r.set(
        "retentionInDays",
        json!(ecs.log_retention_days),
        "ecs.logRetentionDays",
    );
    r.build()
}

fn task_definition(cx: &Cx<'_>, ecs: &Ecs, svc: &str, s: &Service) -> Desired {
    let path = service_path(svc);
    let at = |field: &str| format!("{path}.{field}");
    let log_group = names::log_group(cx.env, svc);
    let id = ResourceId::new(
        ResourceKind::TaskDefinition,
        names::ecs_service(cx.env, svc),
    );
    let log_group_id = ResourceId::new(ResourceKind::LogGroup, log_group.clone());
    let mut r = cx.resource(id, vec![log_group_id]);
    r.set("containerName", json!(svc), &path);
    r.set("image", json!(s.image), &at("image"));
    r.set("cpu", json!(s.cpu), &at("cpu"));
    r.set("memory", json!(s.memory), &at("memory"));
    let architecture = match s.cpu_architecture {
        CpuArchitecture::X86_64 => "X86_64",
        CpuArchitecture::Arm64 => "ARM64",
    };
    r.set(
        "cpuArchitecture",
        json!(architecture),
        &at("cpuArchitecture"),
    );
    r.set("logGroup", json!(log_group), &path);
    r.set("region", json!(cx.region), "region");
    if let Some(command) = s.command.as_ref().filter(|c| !c.is_empty()) {
        r.set("command", json!(command), &at("command"));
    }
    if !s.env.is_empty() {
        r.set_compound("environment", json!(s.env), &at("env"));
    }
    if !s.secrets.is_empty() {
        r.set_compound("secrets", json!(s.secrets), &at("secrets"));
    }
    if let Some(port) = s.port {
        r.set("containerPort", json!(port), &at("port"));
    }
    if let Some(arn) = &ecs.execution_role_arn {
        r.set("executionRoleArn", json!(arn), "ecs.executionRoleArn");
    }
    match (&s.task_role_arn, &ecs.task_role_arn) {
        (Some(arn), _) => r.set("taskRoleArn", json!(arn), &at("taskRoleArn")),
        (None, Some(arn)) => r.set("taskRoleArn", json!(arn), "ecs.taskRoleArn"),
        (None, None) => {}
    }
    if let Some(h) = &s.health_check {
        let value = json!({
            "command": h.command,
            "interval": h.interval_seconds,
            "timeout": h.timeout_seconds,
            "retries": h.retries,
            "startPeriod": h.start_period_seconds,
        });
        r.set_compound("healthCheck", value, &at("healthCheck"));
    }
    r.build()
}

fn service(cx: &Cx<'_>, ecs: &Ecs, svc: &str, s: &Service) -> Desired {
    let path = service_path(svc);
    let at = |field: &str| format!("{path}.{field}");
    let family = ResourceId::new(
        ResourceKind::TaskDefinition,
        names::ecs_service(cx.env, svc),
    );
    let mut r = cx.resource(
        service_id(cx.env, svc),
        vec![cluster_id(cx.env), family.clone()],
    );
    r.set("cluster", json!(names::ecs_cluster(cx.env)), "ecs");
    r.reference("taskDefinition", Reference::Arn(family), &path);
    if s.autoscaling.is_some() {
        r.create_only("desiredCount", json!(s.desired_count));
    } else {
        r.set("desiredCount", json!(s.desired_count), &at("desiredCount"));
    }
    match (s.capacity_provider, ecs.capacity_providers.first()) {
        (Some(p), _) => r.set(
            "capacityProvider",
            json!(p.as_str()),
            &at("capacityProvider"),
        ),
        (None, Some(p)) => r.set(
            "capacityProvider",
            json!(p.as_str()),
            "ecs.capacityProviders",
        ),
        (None, None) => {}
    }
    network(cx, &mut r, svc, s);
    if let Some(arn) = &s.target_group_arn {
        r.set("targetGroupArn", json!(arn), &at("targetGroupArn"));
        if let Some(port) = s.port {
            r.set("loadBalancerContainerPort", json!(port), &at("port"));
        }
    }
    let d = &s.deployment;
    r.set(
        "minimumHealthyPercent",
        json!(d.minimum_healthy_percent),
        &at("deployment.minimumHealthyPercent"),
    );
    r.set(
        "maximumPercent",
        json!(d.maximum_percent),
        &at("deployment.maximumPercent"),
    );
    let breaker = d.circuit_breaker;
    r.set_compound(
        "deploymentCircuitBreaker",
        json!({"enable": breaker.enable, "rollback": breaker.rollback}),
        &at("deployment.circuitBreaker"),
    );
    r.build()
}

fn network(cx: &Cx<'_>, r: &mut Builder<'_>, svc: &str, s: &Service) {
    let path = service_path(svc);
    if let Some(network) = cx.network {
        let subnets = network.subnets.iter().map(String::as_str);
        r.set("subnets", string_set(subnets), "network.subnets");
        r.set(
            "assignPublicIp",
            json!(network.assign_public_ip),
            "network.assignPublicIp",
        );
    }
    let (groups, groups_path) = match (&s.security_groups, cx.network) {
        (Some(groups), _) => (groups.as_slice(), format!("{path}.securityGroups")),
        (None, Some(network)) => (
            network.security_groups.as_slice(),
            "network.securityGroups".to_owned(),
        ),
        (None, None) => (&[][..], String::new()),
    };
    if !groups.is_empty() {
        let groups = groups.iter().map(String::as_str);
        r.set("securityGroups", string_set(groups), &groups_path);
    }
}
