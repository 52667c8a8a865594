//! ECS on Fargate: the cluster settings and each service's task, secrets, load balancing,
//! health check and deployment. Autoscaling is in `autoscaling.rs`.

use super::arn::{self, Kind};
use super::autoscaling;
use super::rules::{in_range, name_problem, repeated, ENV_VAR};
use super::Ctx;
use crate::names::{self, limits};
use crate::spec::{CapacityProvider, CpuArchitecture, Ecs, Service};

/// Log retention values CloudWatch Logs accepts, in days.
const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// ECS runs at most 5000 tasks per service.
pub(super) const MAX_TASKS: u32 = 5000;

/// Words in an environment variable's name that mark its value as a secret.
const SECRET_WORDS: [&str; 7] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "PRIVATE_KEY",
    "CREDENTIALS",
];
/// Name endings that say the value only points at or describes a secret (`DB_SECRET_ARN`,
/// `TOKEN_TTL`, `OAUTH_TOKEN_URL`), so a literal value is fine.
const NOT_SECRET_SUFFIXES: [&str; 12] = [
    "_ARN",
    "_NAME",
    "_ID",
    "_URL",
    "_ENDPOINT",
    "_FILE",
    "_PATH",
    "_TTL",
    "_EXPIRY",
    "_EXPIRES_IN",
    "_LENGTH",
    "_HEADER",
];

/// Memory (MiB) Fargate allows with a CPU size: an explicit list or a stepped range.
enum FargateMemory {
    List(&'static [u32]),
    Range { min: u32, max: u32, step: u32 },
}

impl FargateMemory {
    fn for_cpu(cpu: u32) -> Option<Self> {
        use FargateMemory::{List, Range};
        Some(match cpu {
            256 => List(&[512, 1024, 2048]),
            512 => Range {
                min: 1024,
                max: 4096,
                step: 1024,
            },
            1024 => Range {
                min: 2048,
                max: 8192,
                step: 1024,
            },
            2048 => Range {
                min: 4096,
                max: 16384,
                step: 1024,
            },
            4096 => Range {
                min: 8192,
                max: 30720,
                step: 1024,
            },
            8192 => Range {
                min: 16384,
                max: 61440,
                step: 4096,
            },
            16384 => Range {
                min: 32768,
                max: 122880,
                step: 8192,
            },
            _ => return None,
        })
    }

    fn allows(&self, memory: u32) -> bool {
        match self {
            Self::List(list) => list.contains(&memory),
            Self::Range { min, max, step } => {
                (*min..=*max).contains(&memory) && (memory - min).is_multiple_of(*step)
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::List(list) => {
                let list: Vec<String> = list.iter().map(u32::to_string).collect();
                list.join(", ")
            }
            Self::Range { min, max, step } => format!("{min}–{max} in steps of {step}"),
        }
    }
}

pub(super) fn check(cx: &mut Ctx<'_>) {
    let env = cx.env;
    let Some(ecs) = &env.spec.ecs else { return };
    if ecs.capacity_providers.is_empty() {
        cx.err(
            "spec.ecs.capacityProviders",
            "must name at least one of FARGATE, FARGATE_SPOT",
        );
    }
    for i in repeated(&ecs.capacity_providers) {
        cx.err(
            format!("spec.ecs.capacityProviders[{i}]"),
            format!("{} is listed twice", ecs.capacity_providers[i].as_str()),
        );
    }
    if let Some(role) = &ecs.execution_role_arn {
        arn::check(cx, "spec.ecs.executionRoleArn", role, Kind::IamRole);
    }
    if let Some(role) = &ecs.task_role_arn {
        arn::check(cx, "spec.ecs.taskRoleArn", role, Kind::IamRole);
    }
    if !LOG_RETENTION_DAYS.contains(&ecs.log_retention_days) {
        cx.err(
            "spec.ecs.logRetentionDays",
            format!(
                "{} is not a CloudWatch Logs retention; use one of {}",
                ecs.log_retention_days,
                LOG_RETENTION_DAYS.map(|d| d.to_string()).join(", ")
            ),
        );
    }
    if ecs.execution_role_arn.is_none() {
        let needs_role = ecs
            .services
            .iter()
            .find(|(_, s)| !s.secrets.is_empty() || s.image.contains(".dkr.ecr."));
        if let Some((name, _)) = needs_role {
            cx.err(
                "spec.ecs.executionRoleArn",
                format!(
                    "required: service {name} reads secrets or pulls from ECR, which Fargate does with the task execution role"
                ),
            );
        }
    }
    for (name, svc) in &ecs.services {
        service(cx, ecs, name, svc);
    }
}

fn service(cx: &mut Ctx<'_>, ecs: &Ecs, name: &str, svc: &Service) {
    let base = format!("spec.ecs.services.{name}");
    if let Some(problem) = name_problem(name) {
        cx.err(base.clone(), format!("service name {problem}"));
    } else {
        service_names(cx, &base, name, svc);
    }
    if svc.image.trim().is_empty() {
        cx.err(format!("{base}.image"), "must not be empty");
    } else if svc
        .image
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        cx.err(format!("{base}.image"), "must not contain whitespace");
    } else if svc.image.len() > 255 {
        cx.err(
            format!("{base}.image"),
            format!("is {} characters; ECS allows 255", svc.image.len()),
        );
    }
    cpu_memory(cx, &base, svc);
    in_range(
        cx,
        format!("{base}.desiredCount"),
        "desiredCount",
        svc.desired_count,
        0,
        MAX_TASKS,
    );
    if let Some(port) = svc.port {
        in_range(cx, format!("{base}.port"), "port", port, 1, 65535);
    }
    if let Some(command) = &svc.command {
        if command.is_empty() {
            cx.err(
                format!("{base}.command"),
                "must not be empty; leave it out to run the image's command",
            );
        }
        for (i, arg) in command.iter().enumerate() {
            if arg.is_empty() {
                cx.err(format!("{base}.command[{i}]"), "must not be empty");
            }
        }
    }
    variables(cx, &base, svc);
    if let Some(tg) = &svc.target_group_arn {
        target_group(cx, &base, svc, tg);
    }
    placement(cx, ecs, &base, svc);
    if let Some(role) = &svc.task_role_arn {
        arn::check(cx, &format!("{base}.taskRoleArn"), role, Kind::IamRole);
    }
    health_check(cx, &base, svc);
    deployment(cx, &base, svc);
    if let Some(scaling) = &svc.autoscaling {
        autoscaling::check(cx, &base, svc, scaling);
    }
}

/// `{env}-{service}` and the names of the policies and alarms derived from it must fit.
fn service_names(cx: &mut Ctx<'_>, base: &str, name: &str, svc: &Service) {
    if !cx.name_ok {
        return;
    }
    let env = cx.env.metadata.name.as_str();
    let mut derived = vec![
        (
            names::ecs_service(env, name),
            limits::ECS_SERVICE,
            "ECS service",
        ),
        (names::log_group(env, name), limits::LOG_GROUP, "log group"),
    ];
    if let Some(scaling) = &svc.autoscaling {
        for tt in &scaling.target_tracking {
            derived.push((
                names::service_child(env, name, tt.metric.slug()),
                limits::SCALING_POLICY,
                "scaling policy",
            ));
        }
        if scaling.queue_depth.is_some() {
            let queue = names::service_child(env, name, autoscaling::QUEUE_SUFFIX);
            derived.push((queue.clone(), limits::SCALING_POLICY, "scaling policy"));
            derived.push((queue, limits::CLOUDWATCH_ALARM, "alarm"));
        }
    }
    let has_preset = cx
        .env
        .spec
        .alarms
        .as_ref()
        .is_some_and(|a| a.presets.ecs.is_some());
    // The ECS preset's alarms are {service}-cpu-high and {service}-memory-high.
    if has_preset {
        derived.push((
            names::service_child(env, name, "memory-high"),
            limits::CLOUDWATCH_ALARM,
            "alarm",
        ));
    }
    // One error is enough: shortening the service name fixes all of them.
    if let Some((derived, limit, what)) = derived.into_iter().find(|(n, l, _)| n.len() > *l) {
        cx.err(
            base,
            format!(
                "service name too long: the {what} name {derived:?} is {} characters and AWS allows {limit}",
                derived.len()
            ),
        );
    }
}

fn cpu_memory(cx: &mut Ctx<'_>, base: &str, svc: &Service) {
    match FargateMemory::for_cpu(svc.cpu) {
        None => cx.err(
            format!("{base}.cpu"),
            format!(
                "cpu {} is not a Fargate size; use 256, 512, 1024, 2048, 4096, 8192 or 16384",
                svc.cpu
            ),
        ),
        Some(allowed) if !allowed.allows(svc.memory) => cx.err(
            format!("{base}.memory"),
            format!(
                "memory {} is not valid with cpu {}; Fargate allows {}",
                svc.memory,
                svc.cpu,
                allowed.describe()
            ),
        ),
        Some(_) => {}
    }
}

/// Plain variables and secrets: valid names, no name in both, no secret in plain text.
fn variables(cx: &mut Ctx<'_>, base: &str, svc: &Service) {
    for (name, value) in &svc.env {
        let field = format!("{base}.env.{name}");
        if !ENV_VAR.is_match(name) {
            cx.err(
                field,
                "variable names are letters, digits and '_', not starting with a digit",
            );
        } else if svc.secrets.contains_key(name) {
            cx.err(field, "is also in secrets; keep it in one place");
        } else if !value.is_empty() && looks_secret(name) {
            cx.err(
                field,
                "looks like a secret in plain text; move it to secrets as a Secrets Manager ARN",
            );
        }
    }
    for (name, value) in &svc.secrets {
        let field = format!("{base}.secrets.{name}");
        if !ENV_VAR.is_match(name) {
            cx.err(
                field,
                "variable names are letters, digits and '_', not starting with a digit",
            );
        } else {
            arn::check(cx, &field, value, Kind::ContainerSecret);
        }
    }
}

pub(super) fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
        && !NOT_SECRET_SUFFIXES.iter().any(|s| upper.ends_with(s))
}

fn target_group(cx: &mut Ctx<'_>, base: &str, svc: &Service, tg: &str) {
    let field = format!("{base}.targetGroupArn");
    let Some(arn) = arn::check(cx, &field, tg, Kind::TargetGroup) else {
        return;
    };
    let spec = &cx.env.spec;
    if cx.partition.is_some() && arn.region != spec.region {
        cx.err(
            field.clone(),
            format!(
                "target group is in {}; a service can only use one in its own region {}",
                arn.region, spec.region
            ),
        );
    }
    let role_account = spec
        .role_arn
        .as_deref()
        .and_then(|role| arn::valid(role, Kind::IamRole, cx.partition))
        .map(|role| role.account.to_owned());
    if let Some(account) = role_account.filter(|a| a != arn.account) {
        cx.err(
            field.clone(),
            format!(
                "target group is in account {}, but the environment (spec.roleArn) is in account {account}",
                arn.account
            ),
        );
    }
    if svc.port.is_none() {
        cx.err(
            field,
            "needs port: the container port registered in the target group",
        );
    }
}

/// Capacity provider and CPU architecture.
fn placement(cx: &mut Ctx<'_>, ecs: &Ecs, base: &str, svc: &Service) {
    if let Some(cp) = svc.capacity_provider {
        if !ecs.capacity_providers.contains(&cp) {
            cx.err(
                format!("{base}.capacityProvider"),
                format!(
                    "{} is not one of the cluster's capacityProviders",
                    cp.as_str()
                ),
            );
        }
    }
    let effective = svc
        .capacity_provider
        .or_else(|| ecs.capacity_providers.first().copied());
    if svc.cpu_architecture == CpuArchitecture::Arm64
        && effective == Some(CapacityProvider::FargateSpot)
    {
        cx.err(
            format!("{base}.cpuArchitecture"),
            "Fargate Spot runs only X86_64 tasks; use capacityProvider FARGATE for ARM64",
        );
    }
}

fn health_check(cx: &mut Ctx<'_>, base: &str, svc: &Service) {
    let Some(hc) = &svc.health_check else { return };
    let base = format!("{base}.healthCheck");
    match hc.command.first().map(String::as_str) {
        Some("CMD" | "CMD-SHELL") if hc.command.len() >= 2 && hc.command.iter().all(|a| !a.is_empty()) => {}
        Some("CMD" | "CMD-SHELL") => cx.err(
            format!("{base}.command"),
            "needs the command to run after CMD or CMD-SHELL, with no empty arguments",
        ),
        _ => cx.err(
            format!("{base}.command"),
            "must start with CMD or CMD-SHELL, e.g. [CMD-SHELL, curl -f http://localhost/health || exit 1]",
        ),
    }
    let interval_ok = in_range(
        cx,
        format!("{base}.intervalSeconds"),
        "interval",
        hc.interval_seconds,
        5,
        300,
    );
    if in_range(
        cx,
        format!("{base}.timeoutSeconds"),
        "timeout",
        hc.timeout_seconds,
        2,
        60,
    ) && interval_ok
        && hc.timeout_seconds >= hc.interval_seconds
    {
        cx.err(
            format!("{base}.timeoutSeconds"),
            format!(
                "timeout {} must be shorter than the interval {}",
                hc.timeout_seconds, hc.interval_seconds
            ),
        );
    }
    in_range(cx, format!("{base}.retries"), "retries", hc.retries, 1, 10);
    in_range(
        cx,
        format!("{base}.startPeriodSeconds"),
        "startPeriod",
        hc.start_period_seconds,
        0,
        300,
    );
}

fn deployment(cx: &mut Ctx<'_>, base: &str, svc: &Service) {
    let d = &svc.deployment;
    let base = format!("{base}.deployment");
    let (min, max) = (d.minimum_healthy_percent, d.maximum_percent);
    if !in_range(
        cx,
        format!("{base}.minimumHealthyPercent"),
        "minimumHealthyPercent",
        min,
        0,
        100,
    ) {
        return;
    }
    if max <= min {
        cx.err(
            format!("{base}.maximumPercent"),
            format!("{max} must be greater than minimumHealthyPercent {min}"),
        );
        return;
    }
    // ECS may run floor(n × max%) tasks and must keep ceil(n × min%) healthy: when it can
    // neither start a new task nor stop an old one, a deployment never makes progress.
    let mut counts = vec![svc.desired_count];
    if let Some(scaling) = &svc.autoscaling {
        counts.push(scaling.min_capacity);
    }
    let stuck = counts.into_iter().filter(|&n| n >= 1).find(|&n| {
        let n = u64::from(n);
        let most = n * u64::from(max) / 100;
        let least = (n * u64::from(min)).div_ceil(100);
        most <= n && least >= n
    });
    if let Some(n) = stuck {
        cx.err(
            format!("{base}.maximumPercent"),
            format!(
                "with {n} task(s), minimumHealthyPercent {min} and maximumPercent {max} ECS can neither start a new task nor stop an old one; raise maximumPercent (e.g. 200) or lower minimumHealthyPercent"
            ),
        );
    }
}
