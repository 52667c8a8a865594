//! The AWS adapters against moto server, through the real SDK clients: every field of the
//! catalogue round-trips, observation is batched and read-only, updates make exactly the
//! expected writes, out-of-band changes and orphans show up, deletes remove.

mod support;
#[path = "support/throttle.rs"]
mod throttle;

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use plumb_operator::aws::{self, clients_for, Access, AwsError, CallCounter, ClientPool, Clients};
use plumb_operator::engine::{
    Action, Change, Desired, DesiredGraph, FieldChange, Fields, Observed, ObservedState,
    ResourceId, ResourceKind as K,
};
use serde_json::{json, Value};
use support::{network, Moto, Network};
use throttle::Throttler;

const ENV: &str = "shop";
const CLUSTER: &str = "shop-cluster";
const REGION: &str = "us-east-1";

/// One test's AWS: its own moto, clients that count their calls, a VPC for services.
struct World {
    _moto: Moto,
    clients: Clients,
    calls: CallCounter,
    network: Network,
}

impl World {
    async fn start() -> World {
        let moto = Moto::start().await;
        let calls = CallCounter::new();
        let clients = clients_for(&moto.aws_config(), REGION, None, calls.clone())
            .await
            .expect("clients");
        let network = network(&moto).await;
        World {
            _moto: moto,
            clients,
            calls,
            network,
        }
    }

    async fn observe(&self, graph: &DesiredGraph) -> ObservedState {
        aws::observe(&self.clients, ENV, graph)
            .await
            .expect("observe")
    }

    async fn apply(
        &self,
        desired: Option<&Desired>,
        action: Action,
        observed: &ObservedState,
        resolved: &mut BTreeMap<ResourceId, String>,
    ) -> Result<Option<Observed>, AwsError> {
        aws::apply(&self.clients, ENV, desired, &action, observed, resolved).await
    }

    /// Creates every resource of the graph, in its order.
    async fn create_all(&self, graph: &DesiredGraph) -> BTreeMap<ResourceId, String> {
        let mut resolved = BTreeMap::new();
        let nothing = ObservedState::new();
        for desired in &graph.resources {
            let action = Action {
                resource: desired.id.clone(),
                change: Change::Create { fields: vec![] },
            };
            let created = self
                .apply(Some(desired), action, &nothing, &mut resolved)
                .await
                .unwrap_or_else(|e| panic!("create {}: {e}", desired.id));
            let created = created.expect("a create returns the resource");
            assert_eq!(created.id, desired.id);
        }
        resolved
    }

    /// Updates `desired`'s `fields` to their desired values.
    async fn update(
        &self,
        desired: &Desired,
        fields: &[&str],
        observed: &ObservedState,
    ) -> Option<Observed> {
        let current = observed.get(&desired.id);
        let changes = fields
            .iter()
            .map(|f| FieldChange {
                field: (*f).to_owned(),
                from: current.and_then(|c| c.fields.get(*f).cloned()),
                to: desired.fields.get(*f).cloned(),
            })
            .collect();
        let action = Action {
            resource: desired.id.clone(),
            change: Change::Update { fields: changes },
        };
        self.apply(Some(desired), action, observed, &mut BTreeMap::new())
            .await
            .unwrap_or_else(|e| panic!("update {}: {e}", desired.id))
    }

    async fn delete(&self, id: &ResourceId, observed: &ObservedState) {
        let action = Action {
            resource: id.clone(),
            change: Change::Delete,
        };
        let out = self
            .apply(None, action, observed, &mut BTreeMap::new())
            .await
            .unwrap_or_else(|e| panic!("delete {id}: {e}"));
        assert_eq!(out, None);
    }

    /// Calls that may change something, by operation.
    fn writes(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, op, _), n) in self.calls.snapshot() {
            if !["Describe", "List", "Get"]
                .iter()
                .any(|p| op.starts_with(p))
            {
                *out.entry(op).or_default() += n;
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Desired resources, built by hand in the field catalogue's canonical form.

fn fields(value: Value) -> Fields {
    value
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn desired(kind: K, name: &str, managed: Value) -> Desired {
    Desired {
        id: ResourceId::new(kind, name),
        depends_on: vec![],
        fields: fields(managed),
        create_only: Fields::new(),
        tags: BTreeMap::from([
            ("plumb:environment".to_owned(), ENV.to_owned()),
            ("plumb:managed-by".to_owned(), "plumb".to_owned()),
            ("team".to_owned(), "checkout".to_owned()),
        ]),
    }
}

fn cluster() -> Desired {
    desired(
        K::EcsCluster,
        CLUSTER,
        json!({
            "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProvider": "FARGATE",
            "containerInsights": "enabled",
        }),
    )
}

fn log_group(svc: &str) -> Desired {
    desired(
        K::LogGroup,
        &format!("/ecs/{ENV}-{svc}"),
        json!({"retentionInDays": 30}),
    )
}

/// A web service has a port, a health check and a target group; a worker has neither.
fn task_definition(svc: &str, web: bool) -> Desired {
    let mut td = desired(
        K::TaskDefinition,
        &format!("{ENV}-{svc}"),
        json!({
            "containerName": svc,
            "image": "public.ecr.aws/nginx/nginx:1.27",
            "cpu": 256,
            "memory": 512,
            "cpuArchitecture": "ARM64",
            "logGroup": format!("/ecs/{ENV}-{svc}"),
            "region": REGION,
            "command": ["serve", "--port", "8080"],
            "environment": {"LOG_LEVEL": "info", "MODE": svc},
            "secrets": {"DB_PASSWORD": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"},
            "executionRoleArn": "arn:aws:iam::123456789012:role/shop-execution",
            "taskRoleArn": format!("arn:aws:iam::123456789012:role/shop-{svc}"),
        }),
    );
    if web {
        td.fields.insert("containerPort".into(), json!(8080));
        td.fields.insert(
            "healthCheck".into(),
            json!({
                "command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
                "interval": 30,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 10,
            }),
        );
    }
    td
}

fn target_group(svc: &str) -> String {
    format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{ENV}-{svc}/0123456789abcdef")
}

fn service(svc: &str, web: bool, net: &Network, autoscaled: bool) -> Desired {
    let mut s = desired(
        K::EcsService,
        &format!("{ENV}-{svc}"),
        json!({
            "cluster": CLUSTER,
            "taskDefinition": format!("{ENV}-{svc}"),
            "capacityProvider": "FARGATE",
            "subnets": net.subnets,
            "securityGroups": [net.security_group],
            "assignPublicIp": false,
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
            "deploymentCircuitBreaker": {"enable": true, "rollback": true},
        }),
    );
    if web {
        s.fields
            .insert("targetGroupArn".into(), json!(target_group(svc)));
        s.fields
            .insert("loadBalancerContainerPort".into(), json!(8080));
    }
    if autoscaled {
        s.create_only.insert("desiredCount".into(), json!(2));
    } else {
        s.fields.insert("desiredCount".into(), json!(2));
    }
    s
}

fn resource_id(svc: &str) -> String {
    format!("service/{CLUSTER}/{ENV}-{svc}")
}

fn scalable_target(svc: &str) -> Desired {
    desired(
        K::ScalableTarget,
        &resource_id(svc),
        json!({"minCapacity": 2, "maxCapacity": 10}),
    )
}

fn target_tracking(
    svc: &str,
    suffix: &str,
    metric: &str,
    target: Value,
    label: Option<&str>,
) -> Desired {
    let mut p = desired(
        K::ScalingPolicy,
        &format!("{ENV}-{svc}-{suffix}"),
        json!({
            "resourceId": resource_id(svc),
            "policyType": "TargetTrackingScaling",
            "predefinedMetricType": metric,
            "targetValue": target,
            "scaleOutCooldown": 60,
            "scaleInCooldown": 300,
            "disableScaleIn": false,
        }),
    );
    if let Some(label) = label {
        p.fields.insert("resourceLabel".into(), json!(label));
    }
    p
}

fn step_policy(svc: &str, direction: &str, steps: Value) -> Desired {
    desired(
        K::ScalingPolicy,
        &format!("{ENV}-{svc}-queue-{direction}"),
        json!({
            "resourceId": resource_id(svc),
            "policyType": "StepScaling",
            "adjustmentType": "ChangeInCapacity",
            "cooldown": 60,
            "metricAggregationType": "Average",
            "steps": steps,
        }),
    )
}

fn queue_alarm(svc: &str, direction: &str, threshold: Value, comparison: &str) -> Desired {
    let name = format!("{ENV}-{svc}-queue-{direction}");
    desired(
        K::MetricAlarm,
        &name,
        json!({
            "namespace": "AWS/SQS",
            "metricName": "ApproximateNumberOfMessagesVisible",
            "dimensions": {"QueueName": "shop-jobs"},
            "statistic": "Average",
            "period": 60,
            "evaluationPeriods": 2,
            "threshold": threshold,
            "comparisonOperator": comparison,
            "treatMissingData": "missing",
            "alarmActions": [format!("policy:{name}")],
        }),
    )
}

/// Two services covering the whole catalogue: `api` (web, CPU and ALB-request tracking) and
/// `worker` (memory tracking, queue-depth step scaling out and in, with their alarms).
fn two_services(net: &Network) -> DesiredGraph {
    let label = "app/shop/0123456789abcdef/targetgroup/shop-api/0123456789abcdef";
    DesiredGraph {
        resources: vec![
            cluster(),
            log_group("api"),
            log_group("worker"),
            task_definition("api", true),
            task_definition("worker", false),
            service("api", true, net, true),
            service("worker", false, net, true),
            scalable_target("api"),
            scalable_target("worker"),
            target_tracking(
                "api",
                "cpu",
                "ECSServiceAverageCPUUtilization",
                json!(60),
                None,
            ),
            target_tracking(
                "api",
                "alb-requests",
                "ALBRequestCountPerTarget",
                json!(1000.5),
                Some(label),
            ),
            target_tracking(
                "worker",
                "memory",
                "ECSServiceAverageMemoryUtilization",
                json!(75),
                None,
            ),
            step_policy(
                "worker",
                "out",
                json!([{"lower": 0, "upper": 100, "adjustment": 1}, {"lower": 100, "adjustment": 3}]),
            ),
            step_policy("worker", "in", json!([{"upper": 0, "adjustment": -1}])),
            queue_alarm("worker", "out", json!(100), "GreaterThanOrEqualToThreshold"),
            queue_alarm("worker", "in", json!(0.5), "LessThanThreshold"),
        ],
    }
}

fn find<'a>(graph: &'a DesiredGraph, kind: K, name: &str) -> &'a Desired {
    graph
        .resources
        .iter()
        .find(|r| r.id.kind == kind && r.id.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn field<'a>(observed: &'a ObservedState, kind: K, name: &str, field: &str) -> &'a Value {
    let id = ResourceId::new(kind, name);
    let resource = observed
        .get(&id)
        .unwrap_or_else(|| panic!("{id} not observed"));
    resource
        .fields
        .get(field)
        .unwrap_or_else(|| panic!("{id} has no {field}: {:?}", resource.fields))
}

/// Every managed field of `desired` is observed with exactly its desired value, except
/// `missing`, which must be absent.
fn assert_round_trip(desired: &Desired, observed: &ObservedState, missing: &[&str]) {
    let found = observed
        .get(&desired.id)
        .unwrap_or_else(|| panic!("{} not observed", desired.id));
    for (name, want) in &desired.fields {
        let got = found.fields.get(name);
        if missing.contains(&name.as_str()) {
            assert_eq!(got, None, "{}: {name}", desired.id);
        } else {
            assert_eq!(got, Some(want), "{}: {name}", desired.id);
        }
    }
}

/// Fields moto does not keep from CreateService (it does from UpdateService).
const MOTO_CREATE_SERVICE_GAPS: [&str; 4] = [
    "capacityProvider",
    "minimumHealthyPercent",
    "maximumPercent",
    "deploymentCircuitBreaker",
];

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn created_resources_report_every_managed_field_as_desired() {
    let w = World::start().await;
    let graph = two_services(&w.network);
    let resolved = w.create_all(&graph).await;

    let observed = w.observe(&graph).await;
    assert_eq!(
        observed.len(),
        graph.resources.len(),
        "{:#?}",
        observed.keys()
    );
    for desired in &graph.resources {
        let missing: &[&str] = if desired.id.kind == K::EcsService {
            &MOTO_CREATE_SERVICE_GAPS
        } else {
            &[]
        };
        assert_round_trip(desired, &observed, missing);
    }
    // The autoscaled services were created with their create-only desired count.
    assert_eq!(
        field(&observed, K::EcsService, "shop-api", "desiredCount"),
        &json!(2)
    );
    // Alarm actions were written as the policies' ARNs and read back as `policy:{name}`.
    let policy = ResourceId::new(K::ScalingPolicy, "shop-worker-queue-out");
    let arn = resolved.get(&policy).expect("policy ARN recorded");
    assert!(arn.ends_with(":policyName/shop-worker-queue-out"), "{arn}");
    assert_eq!(observed[&policy].arn.as_ref(), Some(arn));
    for kind in [
        K::EcsCluster,
        K::TaskDefinition,
        K::EcsService,
        K::ScalingPolicy,
        K::LogGroup,
    ] {
        assert!(
            observed
                .values()
                .filter(|o| o.id.kind == kind)
                .all(|o| o.arn.is_some()),
            "{kind:?} without ARN"
        );
    }

    // What moto drops from CreateService it keeps from UpdateService: after one, every field
    // of every resource matches.
    for svc in ["shop-api", "shop-worker"] {
        let service = find(&graph, K::EcsService, svc);
        w.update(service, &MOTO_CREATE_SERVICE_GAPS, &observed)
            .await;
    }
    let observed = w.observe(&graph).await;
    for desired in &graph.resources {
        assert_round_trip(desired, &observed, &[]);
    }
}

#[tokio::test]
async fn observing_twice_only_reads_with_the_minimum_of_calls() {
    let w = World::start().await;
    let graph = two_services(&w.network);
    w.create_all(&graph).await;

    w.calls.reset();
    let first = w.observe(&graph).await;
    let one_sweep = w.calls.snapshot();
    let second = w.observe(&graph).await;

    assert_eq!(first, second);
    assert_eq!(w.calls.writes(), 0);
    assert_eq!(w.calls.total(), 20);
    let expected: BTreeMap<(String, String, String), u64> = [
        ("ECS", "DescribeClusters", 1),
        ("ECS", "ListServices", 1),
        ("ECS", "DescribeServices", 1),
        ("ECS", "DescribeTaskDefinition", 2),
        ("CloudWatch Logs", "DescribeLogGroups", 1),
        ("Application Auto Scaling", "DescribeScalableTargets", 1),
        ("Application Auto Scaling", "DescribeScalingPolicies", 2),
        ("CloudWatch", "DescribeAlarms", 1),
    ]
    .into_iter()
    .map(|(service, op, n)| ((service.to_owned(), op.to_owned(), "ok".to_owned()), n))
    .collect();
    assert_eq!(one_sweep, expected);
}

#[tokio::test]
async fn a_new_image_is_one_new_revision_and_the_service_moves_to_it() {
    let w = World::start().await;
    let mut graph = two_services(&w.network);
    w.create_all(&graph).await;
    let observed = w.observe(&graph).await;
    assert_eq!(
        field(&observed, K::EcsService, "shop-api", "taskDefinition"),
        &json!("shop-api")
    );

    let td = graph
        .resources
        .iter_mut()
        .find(|r| r.id == ResourceId::new(K::TaskDefinition, "shop-api"))
        .expect("api task definition");
    td.fields
        .insert("image".into(), json!("public.ecr.aws/nginx/nginx:1.28"));
    let td = td.clone();

    w.calls.reset();
    let registered = w
        .update(&td, &["image"], &observed)
        .await
        .expect("new revision");
    assert_eq!(
        w.writes(),
        BTreeMap::from([("RegisterTaskDefinition".to_owned(), 1)])
    );
    assert!(registered
        .arn
        .as_deref()
        .is_some_and(|arn| arn.ends_with("task-definition/shop-api:2")));
    assert_round_trip(
        &td,
        &ObservedState::from([(td.id.clone(), registered)]),
        &[],
    );

    // The service still runs revision 1, which is no longer the latest: it shows as such.
    let observed = w.observe(&graph).await;
    assert_round_trip(&td, &observed, &[]);
    assert_eq!(
        field(&observed, K::EcsService, "shop-api", "taskDefinition"),
        &json!("shop-api:1")
    );

    let service = find(&graph, K::EcsService, "shop-api");
    w.update(service, &["taskDefinition"], &observed).await;
    assert_eq!(
        w.writes(),
        BTreeMap::from([
            ("RegisterTaskDefinition".to_owned(), 1),
            ("UpdateService".to_owned(), 1)
        ])
    );
    let observed = w.observe(&graph).await;
    assert_eq!(
        field(&observed, K::EcsService, "shop-api", "taskDefinition"),
        &json!("shop-api")
    );
}

#[tokio::test]
async fn a_new_target_value_is_one_put_scaling_policy() {
    let w = World::start().await;
    let mut graph = two_services(&w.network);
    w.create_all(&graph).await;
    let observed = w.observe(&graph).await;

    let policy = graph
        .resources
        .iter_mut()
        .find(|r| r.id == ResourceId::new(K::ScalingPolicy, "shop-api-cpu"))
        .expect("cpu policy");
    policy.fields.insert("targetValue".into(), json!(45.5));
    let policy = policy.clone();

    w.calls.reset();
    let written = w
        .update(&policy, &["targetValue"], &observed)
        .await
        .expect("policy");
    assert_eq!(
        w.writes(),
        BTreeMap::from([("PutScalingPolicy".to_owned(), 1)])
    );
    assert!(written.arn.is_some());

    let observed = w.observe(&graph).await;
    assert_round_trip(&policy, &observed, &[]);
    assert_eq!(
        field(&observed, K::ScalingPolicy, "shop-api-cpu", "targetValue"),
        &json!(45.5)
    );
}

#[tokio::test]
async fn out_of_band_changes_show_up_in_observe() {
    let w = World::start().await;
    let graph = two_services(&w.network);
    w.create_all(&graph).await;

    w.clients
        .ecs
        .update_service()
        .cluster(CLUSTER)
        .service("shop-api")
        .desired_count(7)
        .send()
        .await
        .expect("update service");
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
        .build()
        .expect("metric");
    let config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(90.0)
        .predefined_metric_specification(metric)
        .build()
        .expect("config");
    w.clients
        .autoscaling
        .put_scaling_policy()
        .policy_name("shop-api-cpu")
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(resource_id("api"))
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .expect("put scaling policy");
    w.clients
        .logs
        .put_retention_policy()
        .log_group_name("/ecs/shop-worker")
        .retention_in_days(7)
        .send()
        .await
        .expect("put retention");

    let observed = w.observe(&graph).await;
    assert_eq!(
        field(&observed, K::EcsService, "shop-api", "desiredCount"),
        &json!(7)
    );
    assert_eq!(
        field(&observed, K::ScalingPolicy, "shop-api-cpu", "targetValue"),
        &json!(90)
    );
    // The out-of-band policy has no cooldowns: they are absent, not defaulted.
    let cpu = &observed[&ResourceId::new(K::ScalingPolicy, "shop-api-cpu")];
    assert_eq!(cpu.fields.get("scaleInCooldown"), None);
    assert_eq!(
        field(
            &observed,
            K::LogGroup,
            "/ecs/shop-worker",
            "retentionInDays"
        ),
        &json!(7)
    );
    assert_eq!(
        field(&observed, K::LogGroup, "/ecs/shop-api", "retentionInDays"),
        &json!(30)
    );
}

#[tokio::test]
async fn twelve_services_are_described_in_two_calls() {
    let w = World::start().await;
    let names: Vec<String> = (1..=12).map(|i| format!("svc{i:02}")).collect();
    let mut resources = vec![cluster()];
    resources.extend(names.iter().map(|n| task_definition(n, false)));
    resources.extend(names.iter().map(|n| service(n, false, &w.network, false)));
    let graph = DesiredGraph { resources };
    w.create_all(&graph).await;

    w.calls.reset();
    let observed = w.observe(&graph).await;
    let services = observed
        .keys()
        .filter(|id| id.kind == K::EcsService)
        .count();
    assert_eq!(services, 12);
    assert_eq!(w.calls.calls("DescribeServices"), 2);
    assert_eq!(w.calls.calls("ListServices"), 1);
    assert_eq!(w.calls.calls("DescribeTaskDefinition"), 12);
    assert_eq!(w.calls.total(), 16);
}

#[tokio::test]
async fn orphans_tagged_as_the_environments_are_found_and_deleted() {
    let w = World::start().await;
    let full = two_services(&w.network);
    w.create_all(&full).await;
    // Someone else's service in the same cluster (not tagged as this environment's).
    w.clients
        .ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name("manual")
        .task_definition("shop-api")
        .desired_count(1)
        .send()
        .await
        .expect("create untagged service");
    // An extra policy on a desired scalable target.
    let extra = target_tracking(
        "api",
        "legacy",
        "ECSServiceAverageMemoryUtilization",
        json!(50),
        None,
    );
    w.create_all(&DesiredGraph {
        resources: vec![extra.clone()],
    })
    .await;

    // The spec drops the worker and the extra policy.
    let graph = DesiredGraph {
        resources: full
            .resources
            .iter()
            .filter(|r| !r.id.name.contains("worker"))
            .cloned()
            .collect(),
    };
    let observed = w.observe(&graph).await;
    let worker = ResourceId::new(K::EcsService, "shop-worker");
    assert!(
        observed.contains_key(&worker),
        "tagged service not desired is an orphan"
    );
    assert!(
        observed.contains_key(&extra.id),
        "policy on a desired target is an orphan"
    );
    assert!(!observed.contains_key(&ResourceId::new(K::EcsService, "manual")));
    let orphans: Vec<&ResourceId> = observed
        .keys()
        .filter(|id| !graph.resources.iter().any(|r| &r.id == *id))
        .collect();
    assert_eq!(orphans, vec![&worker, &extra.id]);

    w.calls.reset();
    w.delete(&extra.id, &observed).await;
    w.delete(&worker, &observed).await;
    assert_eq!(
        w.writes(),
        BTreeMap::from([
            ("DeleteScalingPolicy".to_owned(), 1),
            ("DeleteService".to_owned(), 1),
            ("UpdateService".to_owned(), 1),
        ])
    );
    let observed = w.observe(&graph).await;
    assert!(!observed.contains_key(&worker));
    assert!(!observed.contains_key(&extra.id));
    assert_eq!(observed.len(), graph.resources.len());
}

#[tokio::test]
async fn every_kind_is_deleted_in_reverse_order() {
    let w = World::start().await;
    let graph = two_services(&w.network);
    w.create_all(&graph).await;
    let observed = w.observe(&graph).await;
    // A second revision of the api family: deleting the family deregisters both.
    let mut td = find(&graph, K::TaskDefinition, "shop-api").clone();
    td.fields
        .insert("image".into(), json!("public.ecr.aws/nginx/nginx:1.28"));
    w.update(&td, &["image"], &observed).await;

    w.calls.reset();
    for desired in graph.resources.iter().rev() {
        w.delete(&desired.id, &observed).await;
    }
    assert_eq!(
        w.writes(),
        BTreeMap::from([
            ("DeleteAlarms".to_owned(), 2),
            ("DeleteCluster".to_owned(), 1),
            ("DeleteLogGroup".to_owned(), 2),
            ("DeleteScalingPolicy".to_owned(), 5),
            ("DeleteService".to_owned(), 2),
            ("DeregisterScalableTarget".to_owned(), 2),
            ("DeregisterTaskDefinition".to_owned(), 3),
            ("UpdateService".to_owned(), 2),
        ])
    );
    assert_eq!(w.observe(&graph).await, ObservedState::new());

    // Deleting what is already gone succeeds. (moto answers a missing scalable target or
    // policy with ValidationException where AWS says ObjectNotFoundException: not checked.)
    let again = graph
        .resources
        .iter()
        .rev()
        .filter(|r| !matches!(r.id.kind, K::ScalingPolicy | K::ScalableTarget));
    for desired in again {
        w.delete(&desired.id, &observed).await;
    }
}

#[tokio::test]
async fn aws_errors_keep_their_code() {
    let w = World::start().await;
    let service = service("api", false, &w.network, false);
    let action = Action {
        resource: service.id.clone(),
        change: Change::Create { fields: vec![] },
    };
    let err = w
        .apply(
            Some(&service),
            action,
            &ObservedState::new(),
            &mut BTreeMap::new(),
        )
        .await
        .expect_err("no cluster yet");
    assert_eq!(err.kind(), "service");
    assert_eq!(err.code(), Some("ClusterNotFoundException"));
    let counted = w.calls.snapshot();
    assert_eq!(
        counted.get(&(
            "ECS".to_owned(),
            "CreateService".to_owned(),
            "error".to_owned()
        )),
        Some(&1)
    );

    let broken = desired(
        K::LogGroup,
        "/ecs/shop-broken",
        json!({"retentionInDays": "thirty"}),
    );
    let action = Action {
        resource: broken.id.clone(),
        change: Change::Create { fields: vec![] },
    };
    let err = w
        .apply(
            Some(&broken),
            action,
            &ObservedState::new(),
            &mut BTreeMap::new(),
        )
        .await
        .expect_err("malformed field");
    assert_eq!(err.kind(), "field");
}

#[tokio::test]
async fn clients_can_assume_the_environments_role() {
    let moto = Moto::start().await;
    let calls = CallCounter::new();
    let role = "arn:aws:iam::123456789012:role/plumb-shop";
    let clients = clients_for(&moto.aws_config(), REGION, Some(role), calls.clone())
        .await
        .expect("clients");
    let graph = DesiredGraph {
        resources: vec![cluster()],
    };
    let action = Action {
        resource: graph.resources[0].id.clone(),
        change: Change::Create { fields: vec![] },
    };
    aws::apply(
        &clients,
        ENV,
        graph.resources.first(),
        &action,
        &ObservedState::new(),
        &mut BTreeMap::new(),
    )
    .await
    .expect("create with assumed-role credentials");
    let observed = aws::observe(&clients, ENV, &graph).await.expect("observe");
    assert_round_trip(&graph.resources[0], &observed, &[]);
    assert_eq!(calls.calls("CreateCluster"), 1);
}

#[tokio::test]
async fn clients_assume_a_role_in_a_listed_account_and_refuse_others() {
    let moto = Moto::start().await;
    let mut config = moto.aws_config();
    config.allowed_accounts = ["111111111111".to_owned()].into();
    config.external_id = Some("plumb-shop".to_owned());
    let pool = ClientPool::new(config, CallCounter::new());
    let as_role = |role_arn| Access {
        region: REGION,
        role_arn: Some(role_arn),
        external_id: None,
    };

    let clients = pool
        .get(as_role("arn:aws:iam::111111111111:role/plumb-shop"))
        .await
        .expect("a listed account");
    let created = clients
        .ecs
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("create with the role's credentials");
    let arn = created.cluster.and_then(|c| c.cluster_arn);
    assert_eq!(
        arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:111111111111:cluster/shop-cluster"),
        "the cluster is in the role's account"
    );

    let err = pool
        .get(as_role("arn:aws:iam::123456789012:role/plumb-shop"))
        .await
        .expect_err("moto's own account is not listed");
    assert_eq!(err.kind(), "account-not-allowed");
}

#[tokio::test]
async fn throttling_is_retried_then_reported_and_counted() {
    let throttler = Throttler::start().await;
    let calls = CallCounter::new();
    let clients = clients_for(&throttler.aws_config(), REGION, None, calls.clone())
        .await
        .expect("clients");
    let graph = DesiredGraph {
        resources: vec![cluster()],
    };
    let err = aws::observe(&clients, ENV, &graph)
        .await
        .expect_err("throttled");
    assert_eq!(err.kind(), "throttled");
    assert_eq!(err.code(), Some("ThrottlingException"));
    // Five attempts per call (the first and four retries), each counted as throttled.
    let counted = calls.snapshot();
    let throttled =
        |op: &str| counted.get(&("ECS".to_owned(), op.to_owned(), "throttled".to_owned()));
    assert_eq!(throttled("DescribeClusters"), Some(&5));
    assert_eq!(throttled("ListServices"), Some(&5));
    assert!(
        counted.keys().all(|(_, _, outcome)| outcome == "throttled"),
        "{counted:?}"
    );
}
