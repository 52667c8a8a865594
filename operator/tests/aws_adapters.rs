//! The AWS adapters against moto server, through the real SDK clients: every field of the
//! catalogue round-trips, observation is batched and read-only, updates make exactly the
//! expected writes, out-of-band changes and orphans show up, deletes remove.

mod support;
#[path = "support/throttle.rs"]
mod throttle;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use plumb_operator::aws::{
    self, clients_for, Access, ArnCache, AwsError, CallCounter, ClientPool, Clients, Cx, Write,
};
use plumb_operator::engine::{
    Desired, DesiredGraph, Fields, Observed, ObservedState, RefField, Reference, ResourceId,
    ResourceKind as K,
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
    cache: ArnCache,
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
            cache: ArnCache::new(),
        }
    }

    fn cx(&self) -> Cx<'_> {
        Cx {
            clients: &self.clients,
            env: ENV,
            cache: &self.cache,
        }
    }

    async fn observe(&self, graph: &DesiredGraph) -> ObservedState {
        aws::observe(self.cx(), graph, &BTreeSet::new())
            .await
            .expect("observe")
    }

    /// Creates every resource of the graph, in its order, references resolved to the ARNs
    /// created before; returns the ARNs.
    async fn create_all(&self, graph: &DesiredGraph) -> BTreeMap<ResourceId, String> {
        let mut arns = BTreeMap::new();
        for desired in &graph.resources {
            let resolved = resolve(desired, &arns);
            let created = self
                .write(&resolved, None, &BTreeSet::new(), true)
                .await
                .unwrap_or_else(|e| panic!("create {}: {e}", desired.id));
            assert_eq!(created.id, desired.id);
            if let Some(arn) = created.arn {
                arns.insert(desired.id.clone(), arn);
            }
        }
        arns
    }

    async fn write(
        &self,
        desired: &Desired,
        current: Option<&Observed>,
        changed: &BTreeSet<String>,
        create: bool,
    ) -> Result<Observed, AwsError> {
        let write = Write {
            desired,
            current,
            changed,
            token: "0123456789abcdef0123456789abcdef",
            apply_immediately: false,
        };
        if create {
            aws::create(self.cx(), write).await
        } else {
            aws::update(self.cx(), write).await
        }
    }

    /// Updates `desired`'s `fields` to their desired values, references resolved to what
    /// was observed.
    async fn update(
        &self,
        desired: &Desired,
        fields: &[&str],
        observed: &ObservedState,
    ) -> Observed {
        let arns = observed
            .iter()
            .filter_map(|(id, o)| Some((id.clone(), o.arn.clone()?)))
            .collect();
        let resolved = resolve(desired, &arns);
        let changed = fields.iter().map(|f| (*f).to_owned()).collect();
        self.write(&resolved, observed.get(&desired.id), &changed, false)
            .await
            .unwrap_or_else(|e| panic!("update {}: {e}", desired.id))
    }

    async fn delete(&self, id: &ResourceId, observed: &ObservedState) {
        let current = observed.get(id).unwrap_or_else(|| panic!("{id} observed"));
        aws::delete(self.cx(), current)
            .await
            .unwrap_or_else(|e| panic!("delete {id}: {e}"));
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

    /// Read calls by (service, operation), all outcomes.
    fn reads(&self) -> BTreeMap<(String, String), u64> {
        let mut out = BTreeMap::new();
        for ((service, op, _), n) in self.calls.snapshot() {
            *out.entry((service, op)).or_default() += n;
        }
        out
    }
}

/// The desired resource with its references replaced by the given ARNs.
fn resolve(desired: &Desired, arns: &BTreeMap<ResourceId, String>) -> Desired {
    let mut out = desired.clone();
    for (field, r) in std::mem::take(&mut out.references) {
        let value = r
            .reference
            .resolve(|id| arns.get(id).cloned())
            .unwrap_or_else(|| panic!("{}: {field} unresolved", desired.id));
        out.fields.insert(field, value);
    }
    out
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
    let mut d = Desired::new(ResourceId::new(kind, name), vec![]);
    d.fields = fields(managed);
    d.tags = BTreeMap::from([
        ("plumb:environment".to_owned(), ENV.to_owned()),
        ("plumb:managed-by".to_owned(), "plumb".to_owned()),
        ("team".to_owned(), "checkout".to_owned()),
    ]);
    d
}

fn reference(d: &mut Desired, field: &str, reference: Reference) {
    let managed = true;
    d.references
        .insert(field.to_owned(), RefField { reference, managed });
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
    let family = ResourceId::new(K::TaskDefinition, format!("{ENV}-{svc}"));
    reference(&mut s, "taskDefinition", Reference::Arn(family));
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
    let mut alarm = desired(
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
        }),
    );
    let policy = ResourceId::new(K::ScalingPolicy, &name);
    reference(
        &mut alarm,
        "alarmActions",
        Reference::ArnSet {
            resources: vec![policy],
            literals: vec![],
        },
    );
    alarm
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
    let arns = w.create_all(&graph).await;

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
    // References were written as ARNs: the service runs the revision created, the alarm
    // triggers the policy created.
    let td = &arns[&ResourceId::new(K::TaskDefinition, "shop-api")];
    assert!(td.ends_with("task-definition/shop-api:1"), "{td}");
    assert_eq!(
        field(&observed, K::EcsService, "shop-api", "taskDefinition"),
        &json!(td)
    );
    let policy = ResourceId::new(K::ScalingPolicy, "shop-worker-queue-out");
    let arn = &arns[&policy];
    assert!(arn.ends_with(":policyName/shop-worker-queue-out"), "{arn}");
    assert_eq!(observed[&policy].arn.as_ref(), Some(arn));
    assert_eq!(
        field(
            &observed,
            K::MetricAlarm,
            "shop-worker-queue-out",
            "alarmActions"
        ),
        &json!([arn])
    );
    for o in observed.values() {
        assert_eq!(o.owner, plumb_operator::engine::Owner::Ours, "{}", o.id);
        let has_arn = o.arn.is_some();
        assert!(
            has_arn || o.id.kind == K::ScalableTarget,
            "{} without ARN",
            o.id
        );
    }
    // Orphans are deleted dependents first: observation says what each one needs.
    let alarm = &observed[&ResourceId::new(K::MetricAlarm, "shop-worker-queue-out")];
    assert_eq!(alarm.depends_on, std::slice::from_ref(&policy));
    assert_eq!(
        observed[&policy].depends_on,
        [ResourceId::new(K::ScalableTarget, resource_id("worker"))]
    );

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
async fn a_sweep_reads_each_kind_in_batches_and_revisions_once() {
    let w = World::start().await;
    let graph = two_services(&w.network);
    w.create_all(&graph).await;

    w.calls.reset();
    let first = w.observe(&graph).await;
    let second_start = w.calls.snapshot();
    let second = w.observe(&graph).await;
    assert_eq!(first, second);
    assert_eq!(w.calls.writes(), 0);
    // The first sweep reads the tags of log groups and alarms once; the revisions the
    // services run were remembered when they were registered.
    let tags = |service: &str| {
        second_start
            .get(&(
                service.to_owned(),
                "ListTagsForResource".to_owned(),
                "ok".to_owned(),
            ))
            .copied()
    };
    assert_eq!(tags("CloudWatch Logs"), Some(2));
    assert_eq!(tags("CloudWatch"), Some(2));
    w.calls.reset();
    w.observe(&graph).await;
    let expected: BTreeMap<(String, String), u64> = [
        ("ECS", "DescribeClusters", 1),
        ("ECS", "ListServices", 1),
        ("ECS", "DescribeServices", 1),
        ("ECS", "ListTaskDefinitionFamilies", 1),
        ("CloudWatch Logs", "DescribeLogGroups", 1),
        ("Application Auto Scaling", "DescribeScalableTargets", 1),
        ("Application Auto Scaling", "DescribeScalingPolicies", 2),
        ("CloudWatch", "DescribeAlarms", 1),
    ]
    .into_iter()
    .map(|(service, op, n)| ((service.to_owned(), op.to_owned()), n))
    .collect();
    assert_eq!(w.reads(), expected);
}

#[tokio::test]
async fn a_new_image_is_one_new_revision_and_the_service_moves_to_it() {
    let w = World::start().await;
    let mut graph = two_services(&w.network);
    let arns = w.create_all(&graph).await;
    let observed = w.observe(&graph).await;
    let td_id = ResourceId::new(K::TaskDefinition, "shop-api");
    let first = arns[&td_id].clone();

    let td = graph
        .resources
        .iter_mut()
        .find(|r| r.id == td_id)
        .expect("api task definition");
    td.fields
        .insert("image".into(), json!("public.ecr.aws/nginx/nginx:1.28"));
    let td = td.clone();

    w.calls.reset();
    let registered = w.update(&td, &["image"], &observed).await;
    assert_eq!(
        w.writes(),
        BTreeMap::from([("RegisterTaskDefinition".to_owned(), 1)])
    );
    let second = registered.arn.clone().expect("revision ARN");
    assert!(second.ends_with("task-definition/shop-api:2"), "{second}");
    assert_round_trip(
        &td,
        &ObservedState::from([(td_id.clone(), registered)]),
        &[],
    );

    // The family's observed revision is the one its service runs: still the first.
    let observed = w.observe(&graph).await;
    assert_eq!(observed[&td_id].arn.as_deref(), Some(first.as_str()));
    let mut after = observed.clone();
    if let Some(o) = after.get_mut(&td_id) {
        o.arn = Some(second.clone());
    }
    let service = find(&graph, K::EcsService, "shop-api");
    w.update(service, &["taskDefinition"], &after).await;
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
        &json!(second)
    );
    assert_round_trip(&td, &observed, &[]);
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
    let written = w.update(&policy, &["targetValue"], &observed).await;
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
async fn twelve_services_are_described_in_two_calls_and_their_revisions_once() {
    let w = World::start().await;
    let names: Vec<String> = (1..=12).map(|i| format!("svc{i:02}")).collect();
    let mut resources = vec![cluster()];
    resources.extend(names.iter().map(|n| task_definition(n, false)));
    resources.extend(names.iter().map(|n| service(n, false, &w.network, false)));
    let graph = DesiredGraph { resources };
    w.create_all(&graph).await;

    // A process that never saw these revisions describes each once, then remembers them.
    let fresh = World {
        cache: ArnCache::new(),
        ..w
    };
    fresh.calls.reset();
    let observed = fresh.observe(&graph).await;
    let services = observed
        .keys()
        .filter(|id| id.kind == K::EcsService)
        .count();
    assert_eq!(services, 12);
    assert_eq!(fresh.calls.calls("DescribeServices"), 2);
    assert_eq!(fresh.calls.calls("ListServices"), 1);
    assert_eq!(fresh.calls.calls("DescribeTaskDefinition"), 12);
    fresh.calls.reset();
    fresh.observe(&graph).await;
    assert_eq!(fresh.calls.calls("DescribeTaskDefinition"), 0);
    assert_eq!(fresh.calls.calls("DescribeServices"), 2);
}

#[tokio::test]
async fn everything_of_a_dropped_service_is_found_and_nobody_elses() {
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
    assert!(!observed.contains_key(&ResourceId::new(K::EcsService, "manual")));
    let orphans: BTreeSet<String> = observed
        .keys()
        .filter(|id| graph.get(id).is_none())
        .map(ToString::to_string)
        .collect();
    let expected: BTreeSet<String> = [
        "log-group//ecs/shop-worker",
        "task-definition/shop-worker",
        "ecs-service/shop-worker",
        "scalable-target/service/shop-cluster/shop-worker",
        "scaling-policy/shop-worker-memory",
        "scaling-policy/shop-worker-queue-out",
        "scaling-policy/shop-worker-queue-in",
        "scaling-policy/shop-api-legacy",
        "metric-alarm/shop-worker-queue-out",
        "metric-alarm/shop-worker-queue-in",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(orphans, expected);
}

#[tokio::test]
async fn every_kind_is_deleted() {
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
    let mut service = service("api", false, &w.network, false);
    service.references.clear();
    service
        .fields
        .insert("taskDefinition".into(), json!("shop-api"));
    let err = w
        .write(&service, None, &BTreeSet::new(), true)
        .await
        .expect_err("no cluster yet");
    assert_eq!(err.kind(), "service");
    assert_eq!(err.code(), Some("ClusterNotFoundException"));
    let counted = w.calls.snapshot();
    let key = (
        "ECS".to_owned(),
        "CreateService".to_owned(),
        "error".to_owned(),
    );
    assert_eq!(counted.get(&key), Some(&1));

    let broken = desired(
        K::LogGroup,
        "/ecs/shop-broken",
        json!({"retentionInDays": "thirty"}),
    );
    let err = w
        .write(&broken, None, &BTreeSet::new(), true)
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
    let cache = ArnCache::new();
    let cx = Cx {
        clients: &clients,
        env: ENV,
        cache: &cache,
    };
    let graph = DesiredGraph {
        resources: vec![cluster()],
    };
    let write = Write {
        desired: &graph.resources[0],
        current: None,
        changed: &BTreeSet::new(),
        token: "t",
        apply_immediately: false,
    };
    aws::create(cx, write)
        .await
        .expect("create with assumed-role credentials");
    let observed = aws::observe(cx, &graph, &BTreeSet::new())
        .await
        .expect("observe");
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
    let cache = ArnCache::new();
    let cx = Cx {
        clients: &clients,
        env: ENV,
        cache: &cache,
    };
    let graph = DesiredGraph {
        resources: vec![cluster()],
    };
    let err = aws::observe(cx, &graph, &BTreeSet::new())
        .await
        .expect_err("throttled");
    assert_eq!(err.kind(), "throttled", "{err}");
    assert!(
        matches!(err.code(), Some("ThrottlingException" | "Throttling")),
        "{err}"
    );
    let AwsError::Throttled {
        service, operation, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    // Five attempts for the call that gave up (the first and four retries), each counted
    // as throttled.
    let counted = calls.snapshot();
    let key = (
        (*service).to_owned(),
        (*operation).to_owned(),
        "throttled".to_owned(),
    );
    assert_eq!(counted.get(&key), Some(&5), "{counted:?}");
    assert!(
        counted.keys().all(|(_, _, outcome)| outcome == "throttled"),
        "{counted:?}"
    );
}
