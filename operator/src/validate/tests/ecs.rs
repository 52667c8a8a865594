use super::*;
use crate::spec::{CapacityProvider, CpuArchitecture, Deployment, HealthCheck};

fn ecs(e: &mut Environment) -> &mut crate::spec::Ecs {
    e.spec.ecs.as_mut().unwrap()
}

#[test]
fn capacity_providers() {
    assert_only(
        |e| {
            ecs(e).capacity_providers.clear();
            svc(e, "worker").capacity_provider = None;
        },
        "spec.ecs.capacityProviders",
        "must name at least one",
    );
    assert_only(
        |e| ecs(e).capacity_providers.push(CapacityProvider::Fargate),
        "spec.ecs.capacityProviders[2]",
        "FARGATE is listed twice",
    );
    assert_only(
        |e| ecs(e).capacity_providers = vec![CapacityProvider::Fargate],
        "spec.ecs.services.worker.capacityProvider",
        "FARGATE_SPOT is not one of the cluster's capacityProviders",
    );
}

#[test]
fn arm64_cannot_run_on_fargate_spot() {
    assert_only(
        |e| svc(e, "worker").cpu_architecture = CpuArchitecture::Arm64,
        "spec.ecs.services.worker.cpuArchitecture",
        "Fargate Spot runs only X86_64",
    );
    // The cluster's first provider is the default.
    assert_only(
        |e| {
            ecs(e).capacity_providers =
                vec![CapacityProvider::FargateSpot, CapacityProvider::Fargate];
            svc(e, "api").cpu_architecture = CpuArchitecture::Arm64;
        },
        "spec.ecs.services.api.cpuArchitecture",
        "use capacityProvider FARGATE for ARM64",
    );
    assert_passes(|e| svc(e, "api").cpu_architecture = CpuArchitecture::Arm64);
}

#[test]
fn cluster_roles_and_log_retention() {
    assert_only(
        |e| ecs(e).execution_role_arn = Some("shop-execution".into()),
        "spec.ecs.executionRoleArn",
        "must be an IAM role ARN",
    );
    assert_only(
        |e| ecs(e).task_role_arn = Some("arn:aws:iam::123456789012:policy/x".into()),
        "spec.ecs.taskRoleArn",
        "malformed",
    );
    assert_only(
        |e| ecs(e).execution_role_arn = None,
        "spec.ecs.executionRoleArn",
        "required: service api reads secrets or pulls from ECR",
    );
    assert_only(
        |e| ecs(e).log_retention_days = 10,
        "spec.ecs.logRetentionDays",
        "10 is not a CloudWatch Logs retention; use one of 1, 3, 5, 7",
    );
}

#[test]
fn service_names() {
    assert_only(
        |e| {
            let worker = ecs(e).services.remove("worker").unwrap();
            ecs(e).services.insert("Worker".into(), worker);
        },
        "spec.ecs.services.Worker",
        "service name 'W' is not allowed",
    );
    // shop-prod-{234 a}-alb-requests (the api's target-tracking policy) is 257 > 256.
    let long = "a".repeat(234);
    assert_only(
        |e| {
            let api = ecs(e).services.remove("api").unwrap();
            ecs(e).services.insert(long.clone(), api);
        },
        &format!("spec.ecs.services.{long}"),
        "service name too long: the scaling policy name",
    );
    // The worker's queue policy and alarm (shop-prod-{234 a}-queue-out) fit, but the ECS
    // preset's alarm shop-prod-{234 a}-memory-high is 256 > 255.
    assert_only(
        |e| {
            let worker = ecs(e).services.remove("worker").unwrap();
            ecs(e).services.insert(long.clone(), worker);
        },
        &format!("spec.ecs.services.{long}"),
        "service name too long: the alarm name",
    );
    // Without the preset, shop-prod-{236 a}-queue-out fits as a policy (256) but not as the
    // alarm driving it (255).
    let long = "a".repeat(236);
    assert_only(
        |e| {
            e.spec.alarms.as_mut().unwrap().presets.ecs = None;
            let worker = ecs(e).services.remove("worker").unwrap();
            ecs(e).services.insert(long.clone(), worker);
        },
        &format!("spec.ecs.services.{long}"),
        "the alarm name \"shop-prod-",
    );
}

#[test]
fn images() {
    let field = "spec.ecs.services.api.image";
    assert_only(
        |e| svc(e, "api").image = " ".into(),
        field,
        "must not be empty",
    );
    assert_only(
        |e| svc(e, "api").image = "nginx latest".into(),
        field,
        "whitespace",
    );
    assert_only(
        |e| svc(e, "api").image = format!("registry.example.com/{}", "x".repeat(240)),
        field,
        "ECS allows 255",
    );
    assert_passes(|e| svc(e, "api").image = "public.ecr.aws/nginx/nginx@sha256:0123abcd".into());
}

#[test]
fn fargate_cpu_and_memory_pairs() {
    assert_only(
        |e| svc(e, "api").cpu = 300,
        "spec.ecs.services.api.cpu",
        "cpu 300 is not a Fargate size; use 256, 512",
    );
    assert_only(
        |e| svc(e, "api").memory = 3000,
        "spec.ecs.services.api.memory",
        "memory 3000 is not valid with cpu 512; Fargate allows 1024–4096 in steps of 1024",
    );
    assert_only(
        |e| svc(e, "worker").memory = 4096,
        "spec.ecs.services.worker.memory",
        "Fargate allows 512, 1024, 2048",
    );
    assert_only(
        |e| {
            svc(e, "api").cpu = 8192;
            svc(e, "api").memory = 18432;
        },
        "spec.ecs.services.api.memory",
        "16384–61440 in steps of 4096",
    );
    for (cpu, memory) in [
        (256, 2048),
        (1024, 8192),
        (2048, 4096),
        (4096, 30720),
        (8192, 20480),
        (16384, 122880),
    ] {
        assert_passes(|e| {
            svc(e, "api").cpu = cpu;
            svc(e, "api").memory = memory;
        });
    }
}

#[test]
fn counts_and_ports() {
    assert_only(
        |e| {
            svc(e, "api").autoscaling = None;
            svc(e, "api").desired_count = 5001;
        },
        "spec.ecs.services.api.desiredCount",
        "5001 is out of range; allowed 0–5000",
    );
    for port in [0, 65536] {
        assert_only(
            |e| svc(e, "api").port = Some(port),
            "spec.ecs.services.api.port",
            "allowed 1–65535",
        );
    }
    assert_only(
        |e| svc(e, "api").port = None,
        "spec.ecs.services.api.targetGroupArn",
        "needs port",
    );
}

#[test]
fn commands() {
    assert_only(
        |e| svc(e, "worker").command = Some(Vec::new()),
        "spec.ecs.services.worker.command",
        "must not be empty",
    );
    assert_only(
        |e| svc(e, "worker").command = Some(vec!["node".into(), String::new()]),
        "spec.ecs.services.worker.command[1]",
        "must not be empty",
    );
}

#[test]
fn variable_names() {
    assert_only(
        |e| {
            svc(e, "api").env.insert("1ST".into(), "x".into());
        },
        "spec.ecs.services.api.env.1ST",
        "variable names are letters, digits and '_'",
    );
    assert_only(
        |e| {
            let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x".to_owned();
            svc(e, "api").secrets.insert("my-key".into(), arn);
        },
        "spec.ecs.services.api.secrets.my-key",
        "variable names are letters, digits and '_'",
    );
    assert_only(
        |e| {
            svc(e, "api")
                .env
                .insert("DATABASE_URL".into(), "postgres://db".into());
        },
        "spec.ecs.services.api.env.DATABASE_URL",
        "is also in secrets",
    );
}

#[test]
fn no_plaintext_secrets() {
    for name in [
        "DB_PASSWORD",
        "redis_passwd",
        "JWT_SECRET_KEY",
        "GITHUB_TOKEN",
        "STRIPE_API_KEY",
        "SSH_PRIVATE_KEY",
        "GOOGLE_CREDENTIALS",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        let errors = errors_after(|e| {
            svc(e, "worker").env.insert(name.into(), "hunter2".into());
        });
        assert_has(
            &errors,
            &format!("spec.ecs.services.worker.env.{name}"),
            "move it to secrets as a Secrets Manager ARN",
        );
        assert_eq!(errors.len(), 1);
    }
    // An ARN pasted as the value is still the wrong place: the app would get the ARN.
    assert_only(
        |e| {
            let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf".to_owned();
            svc(e, "worker").env.insert("DB_PASSWORD".into(), arn);
        },
        "spec.ecs.services.worker.env.DB_PASSWORD",
        "looks like a secret",
    );
    // Names that point at or describe a secret, and empty values, are fine.
    assert_passes(|e| {
        let env = &mut svc(e, "worker").env;
        for name in [
            "VAULT_TOKEN_URL",
            "SESSION_TOKEN_TTL",
            "APP_SECRET_NAME",
            "DB_PASSWORD_FILE",
        ] {
            env.insert(name.into(), "value".into());
        }
        env.insert("DB_PASSWORD".into(), String::new());
    });
}

#[test]
fn secret_references() {
    assert_only(
        |e| {
            svc(e, "api")
                .secrets
                .insert("API_KEY".into(), "sk_live_123".into());
        },
        "spec.ecs.services.api.secrets.API_KEY",
        "is not an ARN; it must be a Secrets Manager secret ARN",
    );
    assert_only(
        |e| {
            let arn = "arn:aws:s3:::shop-secrets/key".to_owned();
            svc(e, "api").secrets.insert("API_KEY".into(), arn);
        },
        "spec.ecs.services.api.secrets.API_KEY",
        "service \"s3\"",
    );
}

#[test]
fn target_groups() {
    let field = "spec.ecs.services.api.targetGroupArn";
    assert_only(
        |e| svc(e, "api").target_group_arn = Some("shop-api".into()),
        field,
        "must be a target group ARN",
    );
    let errors = errors_after(|e| {
        svc(e, "api").target_group_arn = Some(
            "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/shop-api/0123456789abcdef"
                .into(),
        )
    });
    assert_has(
        &errors,
        field,
        "target group is in us-west-2; a service can only use one in its own region us-east-1",
    );
    assert_only(
        |e| {
            e.spec.role_arn = Some("arn:aws:iam::210987654321:role/plumb".into());
        },
        field,
        "target group is in account 123456789012, but the environment (spec.roleArn) is in account 210987654321",
    );
}

#[test]
fn service_task_role() {
    assert_only(
        |e| svc(e, "worker").task_role_arn = Some("arn:aws:iam::123456789012:role/".into()),
        "spec.ecs.services.worker.taskRoleArn",
        "malformed",
    );
}

fn health(e: &mut Environment) -> &mut HealthCheck {
    svc(e, "api").health_check.as_mut().unwrap()
}

#[test]
fn health_checks() {
    let base = "spec.ecs.services.api.healthCheck";
    assert_only(
        |e| health(e).command = vec!["curl -f http://localhost/".into()],
        &format!("{base}.command"),
        "must start with CMD or CMD-SHELL",
    );
    assert_only(
        |e| health(e).command = vec!["CMD-SHELL".into()],
        &format!("{base}.command"),
        "needs the command to run after CMD",
    );
    assert_only(
        |e| health(e).interval_seconds = 4,
        &format!("{base}.intervalSeconds"),
        "allowed 5–300",
    );
    assert_only(
        |e| health(e).timeout_seconds = 61,
        &format!("{base}.timeoutSeconds"),
        "allowed 2–60",
    );
    assert_only(
        |e| {
            health(e).interval_seconds = 10;
            health(e).timeout_seconds = 10;
        },
        &format!("{base}.timeoutSeconds"),
        "must be shorter than the interval 10",
    );
    assert_only(
        |e| health(e).retries = 11,
        &format!("{base}.retries"),
        "allowed 1–10",
    );
    assert_only(
        |e| health(e).start_period_seconds = 301,
        &format!("{base}.startPeriodSeconds"),
        "allowed 0–300",
    );
}

#[test]
fn deployments() {
    let set = |name: &'static str, min: u32, max: u32| {
        move |e: &mut Environment| {
            svc(e, name).deployment = Deployment {
                minimum_healthy_percent: min,
                maximum_percent: max,
                ..Deployment::default()
            }
        }
    };
    let base = "spec.ecs.services.worker.deployment";
    assert_only(
        set("worker", 101, 200),
        &format!("{base}.minimumHealthyPercent"),
        "allowed 0–100",
    );
    assert_only(
        set("worker", 100, 100),
        &format!("{base}.maximumPercent"),
        "100 must be greater than minimumHealthyPercent 100",
    );
    // One task, 100% healthy and at most 150%: ECS can neither start nor stop a task.
    assert_only(
        set("worker", 100, 150),
        &format!("{base}.maximumPercent"),
        "with 1 task(s), minimumHealthyPercent 100 and maximumPercent 150 ECS can neither",
    );
    assert_passes(set("worker", 0, 100));
    assert_passes(set("worker", 50, 300));
    // Two tasks at 150% may run a third.
    assert_passes(set("api", 100, 150));
}
