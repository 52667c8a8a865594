//! Whole reconciles against moto server through the real SDK, with the store in Postgres:
//! what gets created, how many writes a change costs, and what happens to out-of-band changes.

mod support;

use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use plumb_operator::aws::{CallCounter, Clients};
use plumb_operator::engine::Change;
use plumb_operator::reconcile::Reconciler;
use plumb_operator::spec::{parse_document, Environment, Format};
use plumb_operator::store::Store;
use sqlx::PgPool;
use support::{network, Moto, Network};

struct World {
    _moto: Moto,
    reconciler: Reconciler,
    clients: Clients,
    network: Network,
}

impl World {
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
        let network = network(&moto).await;
        let counter = CallCounter::new();
        let reconciler = Reconciler::new(Store::from_pool(pool), moto.aws_config(), counter);
        // A separate counter for the test's own reads and out-of-band writes.
        let clients = moto.clients().await;
        World {
            _moto: moto,
            reconciler,
            clients,
            network,
        }
    }

    fn calls(&self) -> &CallCounter {
        &self.reconciler.counter
    }

    async fn store(&self, env: &Environment) {
        let mut env = env.clone();
        env.metadata.resource_version = None;
        self.reconciler.store.apply(&env, "test").await.unwrap();
    }

    async fn reconcile_ready(&self) -> plumb_operator::reconcile::Outcome {
        let outcome = self.reconciler.reconcile("shop").await.unwrap();
        assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
        outcome
    }
}

/// `api` autoscales on CPU between min and max; `worker` runs a fixed count.
fn shop(net: &Network, image: &str, cpu: u32, min: u32, max: u32, target: u32) -> Environment {
    let memory = cpu * 2;
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  tags: {{team: payments}}
  network:
    subnets: [{s0}, {s1}]
    securityGroups: [{sg}]
  ecs:
    capacityProviders: [FARGATE, FARGATE_SPOT]
    executionRoleArn: arn:aws:iam::123456789012:role/shop-execution
    logRetentionDays: 14
    services:
      api:
        image: {image}
        cpu: {cpu}
        memory: {memory}
        desiredCount: {min}
        port: 3000
        env: {{NODE_ENV: production, PORT: "3000"}}
        secrets:
          DATABASE_URL: arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-AbCdEf
        autoscaling:
          minCapacity: {min}
          maxCapacity: {max}
          targetTracking:
            - {{metric: cpu, target: {target}, scaleInCooldown: 300, scaleOutCooldown: 60}}
      worker:
        image: registry.example.com/shop-worker:1
        cpu: 256
        memory: 512
        desiredCount: 1
        command: [node, worker.js]
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    parse_document(&yaml, Format::Yaml).unwrap()
}

fn base(net: &Network) -> Environment {
    shop(net, "registry.example.com/shop-api:1", 512, 2, 6, 70)
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_new_environment_gets_exactly_the_spec_values(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&base(&w.network)).await;
    w.reconcile_ready().await;

    let ecs = &w.clients.ecs;
    let cluster = ecs
        .describe_clusters()
        .clusters("shop-cluster")
        .send()
        .await
        .unwrap();
    let cluster = &cluster.clusters()[0];
    let mut providers = cluster.capacity_providers().to_vec();
    providers.sort();
    assert_eq!(providers, ["FARGATE", "FARGATE_SPOT"]);

    let td = ecs
        .describe_task_definition()
        .task_definition("shop-api")
        .send()
        .await
        .unwrap();
    let td = td.task_definition().unwrap();
    assert_eq!(td.cpu(), Some("512"));
    assert_eq!(td.memory(), Some("1024"));
    assert_eq!(
        td.execution_role_arn(),
        Some("arn:aws:iam::123456789012:role/shop-execution")
    );
    let container = &td.container_definitions()[0];
    assert_eq!(container.name(), Some("api"));
    assert_eq!(container.image(), Some("registry.example.com/shop-api:1"));
    assert_eq!(container.port_mappings()[0].container_port(), Some(3000));
    let mut env: Vec<_> = container
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
        .collect();
    env.sort();
    assert_eq!(env, [("NODE_ENV", "production"), ("PORT", "3000")]);
    let secret = &container.secrets()[0];
    assert_eq!(secret.name(), "DATABASE_URL");
    assert_eq!(
        secret.value_from(),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-AbCdEf"
    );
    let logs = container.log_configuration().unwrap();
    assert_eq!(logs.options().unwrap()["awslogs-group"], "/ecs/shop-api");
    let worker = ecs
        .describe_task_definition()
        .task_definition("shop-worker")
        .send()
        .await
        .unwrap();
    assert_eq!(
        worker.task_definition().unwrap().container_definitions()[0].command(),
        ["node", "worker.js"]
    );

    let services = ecs
        .describe_services()
        .cluster("shop-cluster")
        .services("shop-api")
        .services("shop-worker")
        .send()
        .await
        .unwrap();
    let by_name = |n: &str| {
        services
            .services()
            .iter()
            .find(|s| s.service_name() == Some(n))
            .unwrap()
            .clone()
    };
    let api = by_name("shop-api");
    assert_eq!(api.desired_count(), 2);
    let vpc = api
        .network_configuration()
        .unwrap()
        .awsvpc_configuration()
        .unwrap();
    let mut subnets = vpc.subnets().to_vec();
    subnets.sort();
    assert_eq!(subnets, w.network.subnets);
    assert_eq!(
        vpc.security_groups(),
        std::slice::from_ref(&w.network.security_group)
    );
    assert_eq!(
        api.capacity_provider_strategy()[0].capacity_provider(),
        "FARGATE"
    );
    let breaker = api
        .deployment_configuration()
        .unwrap()
        .deployment_circuit_breaker()
        .unwrap();
    assert!(breaker.enable() && breaker.rollback());
    assert_eq!(by_name("shop-worker").desired_count(), 1);

    let aas = &w.clients.autoscaling;
    let targets = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids("service/shop-cluster/shop-api")
        .send()
        .await
        .unwrap();
    let target = &targets.scalable_targets()[0];
    assert_eq!((target.min_capacity(), target.max_capacity()), (2, 6));
    let policies = aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id("service/shop-cluster/shop-api")
        .send()
        .await
        .unwrap();
    let policy = &policies.scaling_policies()[0];
    assert_eq!(policy.policy_name(), "shop-api-cpu");
    let tracking = policy
        .target_tracking_scaling_policy_configuration()
        .unwrap();
    assert_eq!(tracking.target_value(), 70.0);
    assert_eq!(tracking.scale_in_cooldown(), Some(300));
    assert_eq!(tracking.scale_out_cooldown(), Some(60));
    let metric = tracking.predefined_metric_specification().unwrap();
    assert_eq!(
        metric.predefined_metric_type().as_str(),
        "ECSServiceAverageCPUUtilization"
    );

    let stored = w.reconciler.store.get("shop").await.unwrap();
    let status = stored.status.unwrap();
    assert_eq!(status.observed_generation, Some(1));
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Reconciled")
    );
    let service = &status.resources["ecs-service/shop-api"];
    assert_eq!(service.arn.as_deref(), api.service_arn());
    assert_eq!(service.state.as_deref(), Some("ACTIVE"));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn changes_cost_exactly_the_writes_they_need(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&base(&w.network)).await;
    w.reconcile_ready().await;

    w.calls().reset();
    let outcome = w.reconcile_ready().await;
    assert_eq!(
        w.calls().writes(),
        0,
        "nothing changed: {:?}",
        w.calls().snapshot()
    );
    assert!(outcome.applied.is_empty());

    let cases: [(Environment, &[(&str, u64)]); 4] = [
        (
            shop(&w.network, "registry.example.com/shop-api:2", 512, 2, 6, 70),
            &[("RegisterTaskDefinition", 1), ("UpdateService", 1)],
        ),
        (
            shop(
                &w.network,
                "registry.example.com/shop-api:2",
                1024,
                2,
                6,
                70,
            ),
            &[("RegisterTaskDefinition", 1), ("UpdateService", 1)],
        ),
        (
            shop(
                &w.network,
                "registry.example.com/shop-api:2",
                1024,
                3,
                8,
                70,
            ),
            &[("RegisterScalableTarget", 1)],
        ),
        (
            shop(
                &w.network,
                "registry.example.com/shop-api:2",
                1024,
                3,
                8,
                55,
            ),
            &[("PutScalingPolicy", 1)],
        ),
    ];
    for (env, expected) in cases {
        w.store(&env).await;
        w.calls().reset();
        w.reconcile_ready().await;
        let writes: u64 = expected.iter().map(|(_, n)| n).sum();
        assert_eq!(w.calls().writes(), writes, "{:?}", w.calls().snapshot());
        for (operation, n) in expected {
            assert_eq!(
                w.calls().calls(operation),
                *n,
                "{operation}: {:?}",
                w.calls().snapshot()
            );
        }
        w.calls().reset();
        w.reconcile_ready().await;
        assert_eq!(w.calls().writes(), 0, "settled: {:?}", w.calls().snapshot());
    }

    let td = w
        .clients
        .ecs
        .describe_task_definition()
        .task_definition("shop-api")
        .send()
        .await
        .unwrap();
    let td = td.task_definition().unwrap();
    assert_eq!(td.cpu(), Some("1024"));
    assert_eq!(
        td.container_definitions()[0].image(),
        Some("registry.example.com/shop-api:2")
    );
    let worker = w
        .clients
        .ecs
        .describe_task_definition()
        .task_definition("shop-worker")
        .send()
        .await
        .unwrap();
    assert_eq!(
        worker.task_definition().unwrap().revision(),
        1,
        "the worker was left alone"
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn out_of_band_changes_are_corrected_but_not_the_autoscalers_count(pool: PgPool) {
    let w = World::start(pool).await;
    let env = base(&w.network);
    w.store(&env).await;
    w.reconcile_ready().await;

    // Someone in the console: the worker's count, the api's count (owned by the autoscaler),
    // and the CPU policy's target.
    let ecs = &w.clients.ecs;
    for (service, count) in [("shop-worker", 5), ("shop-api", 7)] {
        ecs.update_service()
            .cluster("shop-cluster")
            .service(service)
            .desired_count(count)
            .send()
            .await
            .unwrap();
    }
    let policy = w
        .clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .policy_names("shop-api-cpu")
        .send()
        .await
        .unwrap();
    let config = policy.scaling_policies()[0]
        .target_tracking_scaling_policy_configuration()
        .unwrap();
    let changed =
        aws_sdk_applicationautoscaling::types::TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(40.0)
            .set_predefined_metric_specification(config.predefined_metric_specification().cloned())
            .set_scale_in_cooldown(config.scale_in_cooldown())
            .set_scale_out_cooldown(config.scale_out_cooldown())
            .set_disable_scale_in(config.disable_scale_in())
            .build()
            .unwrap();
    w.clients
        .autoscaling
        .put_scaling_policy()
        .policy_name("shop-api-cpu")
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id("service/shop-cluster/shop-api")
        .scalable_dimension(
            aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount,
        )
        .policy_type(aws_sdk_applicationautoscaling::types::PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(changed)
        .send()
        .await
        .unwrap();

    let stored = w.reconciler.store.get("shop").await.unwrap();
    let plan = w.reconciler.plan(&stored).await.unwrap();
    let updates: Vec<(String, Vec<String>)> = plan
        .actions
        .iter()
        .filter_map(|a| match &a.change {
            Change::Update { fields } => Some((
                a.resource.to_string(),
                fields.iter().map(|f| f.field.clone()).collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        updates,
        [
            (
                "ecs-service/shop-worker".to_owned(),
                vec!["desiredCount".to_owned()]
            ),
            (
                "scaling-policy/shop-api-cpu".to_owned(),
                vec!["targetValue".to_owned()]
            ),
        ],
        "{}",
        plan.render_text()
    );

    let outcome = w.reconcile_ready().await;
    let done: Vec<String> = outcome
        .applied
        .iter()
        .map(|a| a.resource.to_string())
        .collect();
    assert_eq!(
        done,
        ["ecs-service/shop-worker", "scaling-policy/shop-api-cpu"]
    );

    let services = ecs
        .describe_services()
        .cluster("shop-cluster")
        .services("shop-api")
        .services("shop-worker")
        .send()
        .await
        .unwrap();
    let count = |n: &str| {
        services
            .services()
            .iter()
            .find(|s| s.service_name() == Some(n))
            .unwrap()
            .desired_count()
    };
    assert_eq!(count("shop-worker"), 1, "corrected");
    assert_eq!(count("shop-api"), 7, "the autoscaler's count is not drift");
    let policy = w
        .clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .policy_names("shop-api-cpu")
        .send()
        .await
        .unwrap();
    let config = policy.scaling_policies()[0]
        .target_tracking_scaling_policy_configuration()
        .unwrap();
    assert_eq!(config.target_value(), 70.0);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn the_plan_is_what_the_reconcile_then_does(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&base(&w.network)).await;
    w.reconcile_ready().await;
    let next = shop(&w.network, "registry.example.com/shop-api:3", 512, 2, 9, 60);
    w.store(&next).await;

    let stored = w.reconciler.store.get("shop").await.unwrap();
    w.calls().reset();
    let plan = w.reconciler.plan(&stored).await.unwrap();
    assert_eq!(w.calls().writes(), 0, "planning writes nothing");
    let planned: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.change != Change::NoOp)
        .map(|a| a.resource.to_string())
        .collect();
    assert_eq!(
        planned,
        [
            "task-definition/shop-api",
            "ecs-service/shop-api",
            "scalable-target/service/shop-cluster/shop-api",
            "scaling-policy/shop-api-cpu",
        ]
    );
    let text = plan.render_text();
    assert!(text.contains("~ task-definition/shop-api"), "{text}");
    assert!(
        text.contains("shop-api:1") && text.contains("shop-api:3"),
        "{text}"
    );

    let outcome = w.reconcile_ready().await;
    let done: Vec<String> = outcome
        .applied
        .iter()
        .map(|a| a.resource.to_string())
        .collect();
    assert_eq!(done, planned);
    assert_eq!(outcome.plan, plan);
}
