//! AWS behaviour moto cannot produce, answered by aws-smithy-mocks through Plumb's own clients
//! (their retries, retry classifiers and call counter): ListServices pages of AWS's size, a
//! DRAINING or INACTIVE service, a permissions error on a task definition, a quota error
//! against throttling; ElastiCache cache parameter groups, which moto does not implement.

#[path = "support/mocks.rs"]
mod mocks;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
use aws_sdk_applicationautoscaling::Client as AutoScaling;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::Client as CloudWatch;
use aws_sdk_cloudwatchlogs::operation::describe_log_groups::DescribeLogGroupsOutput;
use aws_sdk_cloudwatchlogs::Client as Logs;
use aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::list_services::ListServicesOutput;
use aws_sdk_ecs::operation::list_task_definition_families::ListTaskDefinitionFamiliesOutput;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;
use aws_sdk_ecs::types::{Cluster, Service, Tag};
use aws_sdk_ecs::Client as Ecs;
use aws_smithy_mocks::{mock, Rule};
use mocks::{json_error, Answers, MAX_ATTEMPTS};
use plumb_operator::aws::{self, ArnCache, AwsError, CallCounter, Clients, Cx, Write};
use plumb_operator::engine::diff::diff;
use plumb_operator::engine::plan::{plan, Holds};
use plumb_operator::engine::{
    Change, Desired, DesiredGraph, ObservedState, Owner, Phase, ResourceId, ResourceKind as K,
};
use plumb_operator::spec::Policy;
use serde_json::{json, Value};

const ENV: &str = "shop";
const CLUSTER: &str = "shop-cluster";
const ACCOUNT_ARN: &str = "arn:aws:ecs:us-east-1:123456789012";

/// One test's AWS: Plumb's clients answered by the test's rules, their calls counted.
struct World {
    clients: Clients,
    calls: CallCounter,
    cache: ArnCache,
}

impl World {
    async fn new(answers: Answers) -> World {
        let calls = CallCounter::new();
        World {
            clients: mocks::clients(&answers, calls.clone()).await,
            calls,
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

    async fn observe(&self, graph: &DesiredGraph) -> Result<ObservedState, AwsError> {
        aws::observe(self.cx(), graph, &BTreeSet::new()).await
    }
}

/// The test's ECS rules first (the first matching rule answers), then answers for an
/// environment that has its cluster and nothing else: no services, no task definition
/// families, no scalable targets, log groups or alarms.
fn environment(ecs: Vec<Rule>) -> Answers {
    let mut all = ecs;
    all.extend([
        mock!(Ecs::describe_clusters).then_output(|| {
            DescribeClustersOutput::builder()
                .clusters(
                    Cluster::builder()
                        .cluster_name(CLUSTER)
                        .cluster_arn(format!("{ACCOUNT_ARN}:cluster/{CLUSTER}"))
                        .status("ACTIVE")
                        .set_tags(Some(ours()))
                        .build(),
                )
                .build()
        }),
        mock!(Ecs::list_services).then_output(|| ListServicesOutput::builder().build()),
        mock!(Ecs::describe_services).then_output(|| DescribeServicesOutput::builder().build()),
        mock!(Ecs::list_task_definition_families)
            .then_output(|| ListTaskDefinitionFamiliesOutput::builder().build()),
    ]);
    Answers {
        ecs: all,
        autoscaling: vec![mock!(AutoScaling::describe_scalable_targets)
            .then_output(|| DescribeScalableTargetsOutput::builder().build())],
        cloudwatch: vec![mock!(CloudWatch::describe_alarms)
            .then_output(|| DescribeAlarmsOutput::builder().build())],
        logs: vec![mock!(Logs::describe_log_groups)
            .then_output(|| DescribeLogGroupsOutput::builder().build())],
        rds: no_databases(),
        ..Answers::default()
    }
}

/// RDS holding nothing of the environment's.
fn no_databases() -> Vec<Rule> {
    use aws_sdk_rds::operation::{
        describe_db_cluster_parameter_groups::DescribeDbClusterParameterGroupsOutput,
        describe_db_clusters::DescribeDbClustersOutput,
        describe_db_instances::DescribeDbInstancesOutput,
        describe_db_parameter_groups::DescribeDbParameterGroupsOutput,
        describe_db_subnet_groups::DescribeDbSubnetGroupsOutput,
    };
    use aws_sdk_rds::Client as Rds;
    vec![
        mock!(Rds::describe_db_subnet_groups)
            .then_output(|| DescribeDbSubnetGroupsOutput::builder().build()),
        mock!(Rds::describe_db_parameter_groups)
            .then_output(|| DescribeDbParameterGroupsOutput::builder().build()),
        mock!(Rds::describe_db_cluster_parameter_groups)
            .then_output(|| DescribeDbClusterParameterGroupsOutput::builder().build()),
        mock!(Rds::describe_db_clusters)
            .then_output(|| DescribeDbClustersOutput::builder().build()),
        mock!(Rds::describe_db_instances)
            .then_output(|| DescribeDbInstancesOutput::builder().build()),
    ]
}

fn ours() -> Vec<Tag> {
    vec![Tag::builder().key("plumb:environment").value(ENV).build()]
}

fn service_arn(name: &str) -> String {
    format!("{ACCOUNT_ARN}:service/{CLUSTER}/{name}")
}

/// The revision `service` runs.
fn revision(name: &str) -> String {
    format!("{ACCOUNT_ARN}:task-definition/{name}:7")
}

/// A service of the environment's cluster, tagged as the environment's.
fn service(name: &str, status: &str, desired_count: i32) -> Service {
    Service::builder()
        .service_name(name)
        .service_arn(service_arn(name))
        .cluster_arn(format!("{ACCOUNT_ARN}:cluster/{CLUSTER}"))
        .status(status)
        .desired_count(desired_count)
        .task_definition(revision(name))
        .set_tags(Some(ours()))
        .build()
}

fn desired(kind: K, name: &str, fields: Value) -> Desired {
    let mut d = Desired::new(ResourceId::new(kind, name), vec![]);
    d.fields = fields
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    d.tags = BTreeMap::from([("plumb:environment".to_owned(), ENV.to_owned())]);
    d
}

fn cluster() -> Desired {
    desired(K::EcsCluster, CLUSTER, json!({}))
}

fn desired_service(name: &str) -> Desired {
    desired(
        K::EcsService,
        name,
        json!({"cluster": CLUSTER, "desiredCount": 2}),
    )
}

fn services_observed(state: &ObservedState) -> BTreeSet<String> {
    state
        .keys()
        .filter(|id| id.kind == K::EcsService)
        .map(|id| id.name.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// ListServices pages

/// What the ListServices and DescribeServices rules were asked, in order.
#[derive(Default)]
struct Asked {
    /// `(maxResults, nextToken)` of each ListServices call.
    pages: Vec<(Option<i32>, Option<String>)>,
    /// The names of each DescribeServices call.
    described: Vec<Vec<String>>,
}

/// AWS answers ListServices 10 to a page unless asked for more; an answer for 25 services in
/// pages of 10, whatever `maxResults` says, checks that every page is read (and what was
/// asked for) without pinning moto's page size.
#[tokio::test]
async fn every_page_of_list_services_is_read_and_described_ten_at_a_time() {
    const SERVICES: usize = 25;
    const AWS_PAGE: usize = 10;
    let names: Vec<String> = (0..SERVICES).map(|i| format!("shop-svc-{i:02}")).collect();
    let asked = Arc::new(Mutex::new(Asked::default()));

    let list = {
        let (names, asked) = (names.clone(), asked.clone());
        mock!(Ecs::list_services)
            .match_requests(|req| req.cluster() == Some(CLUSTER))
            .then_compute_output(move |req| {
                let token = req.next_token().map(str::to_owned);
                asked
                    .lock()
                    .unwrap()
                    .pages
                    .push((req.max_results(), token.clone()));
                let start: usize = token.map_or(0, |t| t.parse().expect("a token we gave"));
                let end = (start + AWS_PAGE).min(names.len());
                ListServicesOutput::builder()
                    .set_service_arns(Some(
                        names[start..end].iter().map(|n| service_arn(n)).collect(),
                    ))
                    .set_next_token((end < names.len()).then(|| end.to_string()))
                    .build()
            })
    };
    let describe = {
        let asked = asked.clone();
        mock!(Ecs::describe_services)
            .match_requests(|req| req.cluster() == Some(CLUSTER))
            .then_compute_output(move |req| {
                asked
                    .lock()
                    .unwrap()
                    .described
                    .push(req.services().to_vec());
                DescribeServicesOutput::builder()
                    .set_services(Some(
                        req.services()
                            .iter()
                            .map(|name| service(name, "ACTIVE", 1))
                            .collect(),
                    ))
                    .build()
            })
    };
    let world = World::new(environment(vec![list.clone(), describe.clone()])).await;
    // The graph names two of the services; the other 23 are found by their tag.
    let graph = DesiredGraph {
        resources: vec![
            cluster(),
            desired_service(&names[3]),
            desired_service(&names[17]),
        ],
    };

    let state = world.observe(&graph).await.expect("observe");

    assert_eq!(
        services_observed(&state),
        names.iter().cloned().collect::<BTreeSet<_>>()
    );
    assert!(state
        .values()
        .filter(|o| o.id.kind == K::EcsService)
        .all(|o| o.owner == Owner::Ours && o.phase == Phase::Ready));
    assert_eq!(list.num_calls(), 3);
    assert_eq!(describe.num_calls(), 3);
    assert_eq!(world.calls.calls("ListServices"), 3);
    assert_eq!(world.calls.calls("DescribeServices"), 3);
    let asked = asked.lock().unwrap();
    assert_eq!(
        asked.pages,
        vec![
            (Some(100), None),
            (Some(100), Some("10".to_owned())),
            (Some(100), Some("20".to_owned())),
        ]
    );
    let mut sizes: Vec<usize> = asked.described.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![5, 10, 10]);
    let mut described: Vec<&String> = asked.described.iter().flatten().collect();
    described.sort();
    assert_eq!(described, names.iter().collect::<Vec<_>>(), "each once");
}

// ---------------------------------------------------------------------------------------------
// DRAINING and INACTIVE services

/// DescribeServices answers `shop-api` with `status`. The graph names it, so it is described
/// whether or not ListServices lists it.
async fn plan_with_service_status(status: &'static str) -> (ObservedState, Vec<Change>) {
    let describe = mock!(Ecs::describe_services)
        .match_requests(|req| req.services() == ["shop-api"])
        .then_output(move || {
            DescribeServicesOutput::builder()
                // Scaled to 0 while it drains: it differs from the spec's 2.
                .services(service("shop-api", status, 0))
                .build()
        });
    let world = World::new(environment(vec![describe.clone()])).await;
    let graph = DesiredGraph {
        resources: vec![cluster(), desired_service("shop-api")],
    };
    let state = world.observe(&graph).await.expect("observe");
    assert_eq!(describe.num_calls(), 1);
    let plan = plan(
        &graph,
        &diff(&graph, &state),
        &Policy::default(),
        &Holds::new(),
    );
    let id = ResourceId::new(K::EcsService, "shop-api");
    let changes = plan
        .actions
        .into_iter()
        .filter(|a| a.resource == id)
        .map(|a| a.change)
        .collect();
    (state, changes)
}

#[tokio::test]
async fn a_draining_service_is_waited_for_not_created_or_updated() {
    let (state, changes) = plan_with_service_status("DRAINING").await;

    let observed = &state[&ResourceId::new(K::EcsService, "shop-api")];
    assert_eq!(observed.status.as_deref(), Some("DRAINING"));
    assert_eq!(observed.phase, Phase::Busy("service draining".to_owned()));
    assert_eq!(
        changes,
        vec![Change::Wait {
            reason: "service draining".to_owned()
        }]
    );
}

#[tokio::test]
async fn an_inactive_service_is_gone_so_it_is_created() {
    let (state, changes) = plan_with_service_status("INACTIVE").await;

    assert!(services_observed(&state).is_empty());
    assert_eq!(changes.len(), 1);
    assert!(
        matches!(changes[0], Change::Create { .. }),
        "{:?}",
        changes[0]
    );
}

// ---------------------------------------------------------------------------------------------
// DescribeTaskDefinition errors

fn family(name: &str) -> Desired {
    desired(K::TaskDefinition, name, json!({"cpu": 256, "memory": 512}))
}

/// A rule for RegisterTaskDefinition that no correct observation reaches: its call count
/// shows whether anything tried to register a revision.
fn register() -> Rule {
    mock!(Ecs::register_task_definition)
        .then_output(|| RegisterTaskDefinitionOutput::builder().build())
}

#[tokio::test]
async fn access_denied_on_a_running_revision_is_an_error_not_an_absent_family() {
    let describe_service = mock!(Ecs::describe_services)
        .match_requests(|req| req.services() == ["shop-api"])
        .then_output(|| {
            DescribeServicesOutput::builder()
                .services(service("shop-api", "ACTIVE", 2))
                .build()
        });
    let running = revision("shop-api");
    let denied = mock!(Ecs::describe_task_definition)
        .match_requests(move |req| req.task_definition() == Some(running.as_str()))
        .then_http_response(|| {
            json_error(
                "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/plumb/plumb is not authorized to \
                 perform: ecs:DescribeTaskDefinition on resource: * because no identity-based \
                 policy allows the ecs:DescribeTaskDefinition action",
            )
        });
    let register = register();
    let world = World::new(environment(vec![
        describe_service,
        denied.clone(),
        register.clone(),
    ]))
    .await;
    let graph = DesiredGraph {
        resources: vec![cluster(), family("shop-api"), desired_service("shop-api")],
    };

    let err = world.observe(&graph).await.expect_err("an error");

    assert_eq!(err.kind(), "service", "{err}");
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err}");
    assert!(err.to_string().contains("DescribeTaskDefinition"), "{err}");
    assert_eq!(denied.num_calls(), 1, "not retried");
    assert_eq!(register.num_calls(), 0);
    assert_eq!(world.calls.writes(), 0);
}

/// Observes a graph with the family `shop-worker` and no service, DescribeTaskDefinition
/// answering a `ClientException` with `message`.
async fn observe_family_answered(message: &'static str) -> Result<ObservedState, AwsError> {
    let answer = mock!(Ecs::describe_task_definition)
        .match_requests(|req| req.task_definition() == Some("shop-worker"))
        .then_http_response(move || json_error("ClientException", message));
    let register = register();
    let world = World::new(environment(vec![answer.clone(), register.clone()])).await;
    let graph = DesiredGraph {
        resources: vec![cluster(), family("shop-worker")],
    };
    let result = world.observe(&graph).await;
    assert_eq!(answer.num_calls(), 1);
    assert_eq!(register.num_calls(), 0);
    result
}

#[tokio::test]
async fn ecs_not_found_answer_means_the_family_is_absent() {
    let state = observe_family_answered("Unable to describe task definition.")
        .await
        .expect("absent, not an error");

    assert!(!state.contains_key(&ResourceId::new(K::TaskDefinition, "shop-worker")));
    assert!(state.contains_key(&ResourceId::new(K::EcsCluster, CLUSTER)));
}

#[tokio::test]
async fn another_client_exception_is_an_error() {
    let err = observe_family_answered("Invalid revision number. Number: 0")
        .await
        .expect_err("an error");

    assert_eq!(err.kind(), "service", "{err}");
    assert_eq!(err.code(), Some("ClientException"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Quota against throttling

/// A target-tracking policy on `shop-api`'s CPU, as the graph derives it.
fn cpu_policy() -> Desired {
    desired(
        K::ScalingPolicy,
        "shop-api-cpu",
        json!({
            "resourceId": format!("service/{CLUSTER}/shop-api"),
            "policyType": "TargetTrackingScaling",
            "predefinedMetricType": "ECSServiceAverageCPUUtilization",
            "targetValue": 60,
            "scaleOutCooldown": 60,
            "scaleInCooldown": 300,
            "disableScaleIn": false,
        }),
    )
}

/// Creates the policy with PutScalingPolicy answering `code` on every attempt; returns the
/// error, the attempts the rule answered, and the call counter's PutScalingPolicy calls by
/// outcome.
///
/// The error is an HTTP answer, not a modeled one (`then_error`): `QuotaIsFinal` reads the
/// code from the raw response, as AWS sends it, and a modeled error comes with the mock's
/// placeholder response (HTTP 418, no code), which the SDK's own classifier alone would
/// retry as throttling.
async fn put_policy_answered(
    code: &'static str,
    message: &'static str,
) -> (AwsError, usize, BTreeMap<String, u64>) {
    let answer = mock!(AutoScaling::put_scaling_policy)
        .match_requests(|req| req.policy_name() == Some("shop-api-cpu"))
        .then_http_response(move || json_error(code, message));
    let answers = Answers {
        autoscaling: vec![answer.clone()],
        ..Answers::default()
    };
    let world = World::new(answers).await;
    let policy = cpu_policy();
    let write = Write {
        desired: &policy,
        current: None,
        changed: &BTreeSet::new(),
        token: "0123456789abcdef0123456789abcdef",
        apply_immediately: false,
    };
    let err = aws::create(world.cx(), write)
        .await
        .expect_err("PutScalingPolicy fails");
    let outcomes = world
        .calls
        .snapshot()
        .into_iter()
        .filter(|((_, operation, _), _)| operation == "PutScalingPolicy")
        .map(|((_, _, outcome), n)| (outcome, n))
        .collect();
    (err, answer.num_calls(), outcomes)
}

#[tokio::test]
async fn a_quota_error_is_final_not_retried_as_throttling() {
    let message = "Maximum number of scaling policies reached for this scalable target";

    let (err, attempts, counted) = put_policy_answered("LimitExceededException", message).await;

    assert_eq!(err.kind(), "quota", "{err}");
    assert_eq!(err.code(), Some("LimitExceededException"));
    assert!(err.to_string().contains(message), "{err}");
    assert_eq!(attempts, 1, "one attempt of {MAX_ATTEMPTS}");
    assert_eq!(counted, BTreeMap::from([("error".to_owned(), 1)]));
}

#[tokio::test]
async fn throttling_is_retried_until_the_attempts_run_out() {
    let (err, attempts, counted) =
        put_policy_answered("ThrottlingException", "Rate exceeded").await;

    assert_eq!(err.kind(), "throttled", "{err}");
    assert_eq!(attempts, MAX_ATTEMPTS as usize);
    assert_eq!(
        counted,
        BTreeMap::from([("throttled".to_owned(), u64::from(MAX_ATTEMPTS))])
    );
}

// ElastiCache cache parameter groups: moto 5.2.5 implements none of their calls, so the
// adapter is checked here against AWS's documented answers.

fn redis_parameters(parameters: Value) -> Desired {
    let mut d = desired(
        K::CacheParameterGroup,
        "shop-redis",
        json!({ "parameters": parameters }),
    );
    d.create_only = BTreeMap::from([
        ("family".to_owned(), json!("redis7")),
        ("description".to_owned(), json!("shop (Plumb)")),
    ]);
    d
}

#[tokio::test]
async fn a_cache_parameter_group_is_created_with_its_family_and_parameters_twenty_a_call() {
    use aws_sdk_elasticache::operation::create_cache_parameter_group::CreateCacheParameterGroupOutput;
    use aws_sdk_elasticache::operation::modify_cache_parameter_group::ModifyCacheParameterGroupOutput;
    use aws_sdk_elasticache::types::CacheParameterGroup;
    use aws_sdk_elasticache::Client as ElastiCache;

    let sent: Arc<Mutex<Vec<BTreeMap<String, String>>>> = Arc::default();
    let families: Arc<Mutex<Vec<String>>> = Arc::default();
    let (seen, seen_family) = (sent.clone(), families.clone());
    let answers = Answers {
        elasticache: vec![
            mock!(ElastiCache::create_cache_parameter_group).then_compute_output(move |req| {
                let family = req.cache_parameter_group_family().unwrap_or_default();
                seen_family.lock().unwrap().push(family.to_owned());
                CreateCacheParameterGroupOutput::builder()
                    .cache_parameter_group(
                        CacheParameterGroup::builder()
                            .cache_parameter_group_name("shop-redis")
                            .arn("arn:aws:elasticache:us-east-1:123456789012:parametergroup:shop-redis")
                            .build(),
                    )
                    .build()
            }),
            mock!(ElastiCache::modify_cache_parameter_group).then_compute_output(move |req| {
                let values = req
                    .parameter_name_values()
                    .iter()
                    .map(|p| {
                        let name = p.parameter_name().unwrap_or_default().to_owned();
                        (name, p.parameter_value().unwrap_or_default().to_owned())
                    })
                    .collect();
                seen.lock().unwrap().push(values);
                ModifyCacheParameterGroupOutput::builder()
                    .cache_parameter_group_name("shop-redis")
                    .build()
            }),
        ],
        ..Answers::default()
    };
    let w = World::new(answers).await;
    let parameters: serde_json::Map<String, Value> = (0..25)
        .map(|n| (format!("p{n:02}"), json!(n.to_string())))
        .collect();
    let desired = redis_parameters(Value::Object(parameters));
    let created = aws::create(
        w.cx(),
        Write {
            desired: &desired,
            current: None,
            changed: &BTreeSet::new(),
            token: "t",
            apply_immediately: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        created.arn.as_deref(),
        Some("arn:aws:elasticache:us-east-1:123456789012:parametergroup:shop-redis")
    );
    assert_eq!(*families.lock().unwrap(), ["redis7"]);
    let calls = sent.lock().unwrap();
    assert_eq!(calls.iter().map(BTreeMap::len).collect::<Vec<_>>(), [20, 5]);
    assert_eq!(calls[1]["p24"], "24");
}

#[tokio::test]
async fn a_cache_parameter_group_reads_every_page_of_its_user_parameters_and_an_absent_one_is_absent(
) {
    use aws_sdk_elasticache::operation::describe_cache_parameter_groups::DescribeCacheParameterGroupsOutput;
    use aws_sdk_elasticache::operation::describe_cache_parameters::DescribeCacheParametersOutput;
    use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_elasticache::types::{CacheParameterGroup, Parameter, Tag as CacheTag};
    use aws_sdk_elasticache::Client as ElastiCache;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    let parameter = |name: &str, value: &str| {
        Parameter::builder()
            .parameter_name(name)
            .parameter_value(value)
            .source("user")
            .build()
    };
    let mut answers = environment(vec![]);
    answers.elasticache = vec![
        mock!(ElastiCache::describe_cache_parameter_groups)
            .match_requests(|r| r.cache_parameter_group_name() == Some("shop-redis"))
            .then_output(|| {
                DescribeCacheParameterGroupsOutput::builder()
                    .cache_parameter_groups(
                        CacheParameterGroup::builder()
                            .cache_parameter_group_name("shop-redis")
                            .cache_parameter_group_family("redis7")
                            .arn("arn:aws:elasticache:us-east-1:123456789012:parametergroup:shop-redis")
                            .build(),
                    )
                    .build()
            }),
        mock!(ElastiCache::describe_cache_parameter_groups).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(404).unwrap(),
                SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type>\
                     <Code>CacheParameterGroupNotFound</Code><Message>none</Message>\
                     </Error><RequestId>r</RequestId></ErrorResponse>",
                ),
            )
        }),
        mock!(ElastiCache::describe_cache_parameters)
            .match_requests(|r| r.marker().is_none() && r.source() == Some("user"))
            .then_output(move || {
                DescribeCacheParametersOutput::builder()
                    .parameters(parameter("maxmemory-policy", "allkeys-lru"))
                    .marker("page-2")
                    .build()
            }),
        mock!(ElastiCache::describe_cache_parameters)
            .match_requests(|r| r.marker() == Some("page-2"))
            .then_output(move || {
                DescribeCacheParametersOutput::builder()
                    .parameters(parameter("timeout", "300"))
                    .build()
            }),
        mock!(ElastiCache::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tag_list(
                    CacheTag::builder()
                        .key("plumb:environment")
                        .value(ENV)
                        .build(),
                )
                .build()
        }),
    ];
    let w = World::new(answers).await;
    let want = redis_parameters(json!({"maxmemory-policy": "allkeys-lru", "timeout": "300"}));
    let graph = DesiredGraph {
        resources: vec![cluster(), want.clone()],
    };
    let state = w.observe(&graph).await.unwrap();
    let found = &state[&want.id];
    assert_eq!(found.owner, Owner::Ours);
    assert_eq!(
        found.fields["parameters"],
        json!({"maxmemory-policy": "allkeys-lru", "timeout": "300"})
    );
    assert_eq!(found.fields["family"], "redis7");
    let plan = plan(
        &graph,
        &diff(&graph, &state),
        &Policy::default(),
        &Holds::new(),
    );
    assert!(plan.is_noop(), "{}", plan.render_text());

    // Another environment's group name: AWS answers CacheParameterGroupNotFound, so absent.
    let mut other = redis_parameters(json!({"timeout": "300"}));
    other.id.name = "other-redis".into();
    let graph = DesiredGraph {
        resources: vec![other.clone()],
    };
    let state = w.observe(&graph).await.unwrap();
    assert!(!state.contains_key(&other.id));
}
