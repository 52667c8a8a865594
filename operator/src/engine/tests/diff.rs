//! Unit tests of `engine::diff`.

use serde_json::json;

use super::*;
use crate::engine::fixtures::{desired, echo_references, fields};
use crate::engine::resource::{RefField, Reference};
use crate::engine::values::canonical_f64;

use ResourceKind as K;

fn n(kind: ResourceKind, field: &str, value: Value) -> Value {
    normalize(kind, field, &value)
}

fn same(kind: ResourceKind, field: &str, a: Value, b: Value) -> bool {
    n(kind, field, a) == n(kind, field, b)
}

// --- normalisation rules ---------------------------------------------------------------

#[test]
fn numbers_compare_by_value() {
    assert!(same(K::LogGroup, "retentionInDays", json!(1), json!(1.0)));
    assert_eq!(n(K::LogGroup, "retentionInDays", json!(30.0)), json!(30));
    assert!(same(
        K::ScalingPolicy,
        "targetValue",
        json!(70.5),
        json!(70.5)
    ));
    assert!(!same(
        K::ScalingPolicy,
        "targetValue",
        json!(70.5),
        json!(70)
    ));
    assert!(same(
        K::ScalingPolicy,
        "steps",
        json!([{"lower": 0.0, "adjustment": 1}]),
        json!([{"lower": 0, "adjustment": 1.0}])
    ));
}

#[test]
fn huge_floats_stay_floats() {
    assert_eq!(canonical_f64(1e300), json!(1e300));
    assert_eq!(canonical_f64(-3.0), json!(-3));
    assert_eq!(canonical_f64(f64::NAN), Value::Null);
}

#[test]
fn numeric_strings_are_numbers_where_aws_reports_strings() {
    assert!(same(K::TaskDefinition, "cpu", json!(512), json!("512")));
    assert!(same(
        K::TaskDefinition,
        "memory",
        json!(1024),
        json!("1024.0")
    ));
    assert!(!same(
        K::TaskDefinition,
        "memory",
        json!(1024),
        json!("2048")
    ));
    // Elsewhere a string stays a string.
    assert!(!same(
        K::TaskDefinition,
        "containerPort",
        json!(80),
        json!("80")
    ));
    assert_eq!(n(K::TaskDefinition, "cpu", json!("lots")), json!("lots"));
}

#[test]
fn null_empty_list_empty_object_and_absent_are_all_empty() {
    for empty in [
        Value::Null,
        json!([]),
        json!({}),
        json!({"a": null, "b": []}),
    ] {
        assert_eq!(n(K::TaskDefinition, "environment", empty), Value::Null);
    }
    assert!(same(
        K::TaskDefinition,
        "healthCheck",
        json!({"command": ["x"], "startPeriod": null}),
        json!({"command": ["x"]})
    ));
    assert!(!same(
        K::TaskDefinition,
        "command",
        json!([""]),
        Value::Null
    ));
}

#[test]
fn empty_strings_and_whitespace_are_compared_exactly() {
    assert!(!same(K::TaskDefinition, "image", json!(""), Value::Null));
    assert!(!same(K::TaskDefinition, "image", json!("a "), json!("a")));
}

#[test]
fn absent_fields_take_the_aws_default() {
    assert_eq!(
        n(K::ScalingPolicy, "disableScaleIn", Value::Null),
        json!(false)
    );
    assert_eq!(
        n(K::EcsService, "assignPublicIp", Value::Null),
        json!(false)
    );
    assert_eq!(
        n(K::TaskDefinition, "cpuArchitecture", Value::Null),
        json!("X86_64")
    );
    assert_eq!(
        n(K::EcsCluster, "containerInsights", Value::Null),
        json!("disabled")
    );
    assert_eq!(
        n(K::MetricAlarm, "treatMissingData", Value::Null),
        json!("missing")
    );
    assert_eq!(n(K::EcsService, "subnets", Value::Null), Value::Null);
}

#[test]
fn set_like_lists_ignore_order_and_duplicates() {
    assert!(same(
        K::EcsCluster,
        "capacityProviders",
        json!(["FARGATE", "FARGATE_SPOT"]),
        json!(["FARGATE_SPOT", "FARGATE"])
    ));
    assert!(same(
        K::EcsService,
        "subnets",
        json!(["a", "b"]),
        json!(["b", "a", "b"])
    ));
    assert!(same(
        K::EcsService,
        "securityGroups",
        json!(["x", "y"]),
        json!(["y", "x"])
    ));
    assert!(same(
        K::MetricAlarm,
        "alarmActions",
        json!(["p", "q"]),
        json!(["q", "p"])
    ));
    assert!(!same(
        K::EcsService,
        "subnets",
        json!(["a"]),
        json!(["a", "b"])
    ));
}

#[test]
fn command_order_matters() {
    assert!(!same(
        K::TaskDefinition,
        "command",
        json!(["node", "worker.js"]),
        json!(["worker.js", "node"])
    ));
}

#[test]
fn steps_are_sorted_by_lower_bound() {
    assert!(same(
        K::ScalingPolicy,
        "steps",
        json!([{"upper": 0, "adjustment": -1}, {"lower": 0, "upper": 500, "adjustment": 1}, {"lower": 500, "adjustment": 3}]),
        json!([{"lower": 500, "adjustment": 3}, {"lower": 0, "upper": 500, "adjustment": 1}, {"upper": 0, "adjustment": -1}])
    ));
}

#[test]
fn cluster_arn_is_the_cluster_name() {
    assert_eq!(
        n(
            K::EcsService,
            "cluster",
            json!("arn:aws:ecs:us-east-1:123:cluster/arive-cluster")
        ),
        json!("arive-cluster")
    );
    assert!(same(
        K::EcsService,
        "cluster",
        json!("arive-cluster"),
        json!("arn:aws-cn:ecs:cn-north-1:123:cluster/arive-cluster")
    ));
    assert!(!same(
        K::EcsService,
        "cluster",
        json!("arive-cluster"),
        json!("arn:aws:ecs:us-east-1:123:cluster/other-cluster")
    ));
    // Only an ECS cluster ARN is shortened.
    assert!(!same(
        K::EcsService,
        "cluster",
        json!("arive-cluster"),
        json!("arn:aws:eks:us-east-1:123:cluster/arive-cluster")
    ));
}

#[test]
fn task_definition_references_compare_the_revision_arn() {
    let td = ResourceId::new(K::TaskDefinition, "arive-api");
    let rev3 = "arn:aws:ecs:us-east-1:123:task-definition/arive-api:3";
    let rev4 = "arn:aws:ecs:us-east-1:123:task-definition/arive-api:4";
    let mut service = desired(K::EcsService, "arive-api", json!({}));
    service.references.insert(
        "taskDefinition".into(),
        RefField {
            reference: Reference::Arn(td.clone()),
            managed: true,
        },
    );
    let running = |arn: &str| {
        let mut o = Observed::new(
            service.id.clone(),
            None,
            fields(json!({"taskDefinition": arn})),
        );
        o.owner = Owner::Ours;
        o
    };
    let td_ = td.clone();
    let arn_is = move |arn: &'static str| {
        let td = td_.clone();
        move |id: &ResourceId| (id == &td).then(|| arn.to_owned())
    };
    assert!(field_changes(&service, &running(rev3), &arn_is(rev3)).is_empty());
    let changes = field_changes(&service, &running(rev3), &arn_is(rev4));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].from, Some(json!(rev3)));
    assert_eq!(changes[0].to, Some(json!(rev4)));
    // Not created yet: the ARN is known only after apply.
    let changes = field_changes(&service, &running(rev3), &|_| None);
    assert_eq!(
        changes[0].to,
        Some(json!("(known after apply: task-definition/arive-api)"))
    );
}

#[test]
fn role_arns_compare_as_given() {
    let arn = json!("arn:aws:iam::123456789012:role/exec");
    assert_eq!(n(K::TaskDefinition, "executionRoleArn", arn.clone()), arn);
    assert!(!same(
        K::TaskDefinition,
        "executionRoleArn",
        arn,
        json!("exec")
    ));
}

#[test]
fn alarm_actions_are_a_set_of_arns() {
    let arn = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:6d8b7c1e-0000-4000-8000-000000000000:resource/ecs/service/arive-cluster/arive-api:policyName/arive-api-queue-out";
    let topic = "arn:aws:sns:us-east-1:123456789012:alerts";
    assert!(same(
        K::MetricAlarm,
        "alarmActions",
        json!([arn, topic, arn]),
        json!([topic, arn])
    ));
    let policy = ResourceId::new(K::ScalingPolicy, "arive-api-queue-out");
    let reference = Reference::ArnSet {
        resources: vec![policy.clone()],
        literals: vec![topic.to_owned()],
    };
    let resolved = reference.resolve(|id| (id == &policy).then(|| arn.to_owned()));
    assert_eq!(resolved, Some(json!([arn, topic])));
    assert_eq!(reference.resolve(|_| None), None);
}

#[test]
fn assign_public_ip_words_are_booleans() {
    assert!(same(
        K::EcsService,
        "assignPublicIp",
        json!(true),
        json!("ENABLED")
    ));
    assert!(same(
        K::EcsService,
        "assignPublicIp",
        json!(false),
        json!("DISABLED")
    ));
}

#[test]
fn objects_ignore_member_order() {
    let a: Value = serde_json::from_str(r#"{"A": "1", "B": "2"}"#).unwrap_or_default();
    let b: Value = serde_json::from_str(r#"{"B": "2", "A": "1"}"#).unwrap_or_default();
    assert!(same(K::TaskDefinition, "environment", a, b));
}

// --- diff ------------------------------------------------------------------------------

fn observed(kind: ResourceKind, name: &str, f: Value) -> (ResourceId, Observed) {
    let id = ResourceId::new(kind, name);
    let mut o = Observed::new(id.clone(), Some(format!("arn:test:{name}")), fields(f));
    o.status = Some("ACTIVE".to_owned());
    (id, o)
}

fn state_of(diffs: &[ResourceDiff], kind: ResourceKind, name: &str) -> DiffState {
    let id = ResourceId::new(kind, name);
    diffs
        .iter()
        .find(|d| d.id == id)
        .map(|d| d.state.clone())
        .unwrap_or_else(|| panic!("{id} in diff"))
}

#[test]
fn missing_matching_and_differing_resources() {
    let graph = DesiredGraph {
        resources: vec![
            desired(K::EcsCluster, "c", json!({"containerInsights": "enabled"})),
            desired(K::LogGroup, "/ecs/a", json!({"retentionInDays": 30})),
            desired(K::LogGroup, "/ecs/b", json!({"retentionInDays": 30})),
        ],
    };
    let observed: ObservedState = [
        observed(K::EcsCluster, "c", json!({"containerInsights": "enabled"})),
        observed(K::LogGroup, "/ecs/a", json!({"retentionInDays": 7})),
    ]
    .into_iter()
    .collect();
    let diffs = diff(&graph, &observed);
    assert_eq!(state_of(&diffs, K::EcsCluster, "c"), DiffState::Matches);
    assert_eq!(
        state_of(&diffs, K::LogGroup, "/ecs/a"),
        DiffState::Differs(vec![FieldChange {
            field: "retentionInDays".into(),
            from: Some(json!(7)),
            to: Some(json!(30)),
            effect: None,
        }])
    );
    assert_eq!(state_of(&diffs, K::LogGroup, "/ecs/b"), DiffState::Missing);
    let missing = diffs.iter().find(|d| d.id.name == "/ecs/b");
    assert_eq!(missing.and_then(|d| d.observed.as_ref()), None);
    let matching = diffs.iter().find(|d| d.id.name == "c");
    assert_eq!(
        matching.and_then(|d| d.observed.as_ref()?.arn.clone()),
        Some("arn:test:c".to_owned())
    );
}

#[test]
fn a_realistic_service_with_only_representation_differences_matches() {
    let graph = DesiredGraph {
        resources: vec![
            desired(
                K::TaskDefinition,
                "arive-api",
                json!({"cpu": 512, "memory": 1024, "command": ["node", "api.js"], "cpuArchitecture": "X86_64"}),
            ),
            desired(
                K::EcsService,
                "arive-api",
                json!({
                    "cluster": "arive-cluster",
                    "subnets": ["subnet-a", "subnet-b"],
                    "assignPublicIp": false,
                }),
            ),
        ],
    };
    let observed: ObservedState = [
            observed(
                K::TaskDefinition,
                "arive-api",
                json!({"cpu": "512", "memory": "1024", "command": ["node", "api.js"], "family": "arive-api"}),
            ),
            observed(
                K::EcsService,
                "arive-api",
                json!({
                    "cluster": "arn:aws:ecs:us-east-1:123:cluster/arive-cluster",
                    "taskDefinition": "arn:test:arive-api",
                    "subnets": ["subnet-b", "subnet-a"],
                    "assignPublicIp": "DISABLED",
                    "runningCount": 3,
                    "desiredCount": 7,
                }),
            ),
        ]
        .into_iter()
        .collect();
    let diffs = diff(&graph, &observed);
    assert!(
        diffs.iter().all(|d| d.state == DiffState::Matches),
        "{diffs:#?}"
    );
}

#[test]
fn desired_absent_or_empty_vs_observed() {
    // Desired sets the field; AWS reports it empty: a difference from "nothing".
    let graph = DesiredGraph {
        resources: vec![desired(
            K::TaskDefinition,
            "t",
            json!({"environment": {"A": "1"}, "secrets": {}}),
        )],
    };
    let observed: ObservedState = [observed(K::TaskDefinition, "t", json!({"environment": {}}))]
        .into_iter()
        .collect();
    let diffs = diff(&graph, &observed);
    assert_eq!(
        diffs[0].state,
        DiffState::Differs(vec![FieldChange {
            field: "environment".into(),
            from: None,
            to: Some(json!({"A": "1"})),
            effect: None,
        }])
    );
}

#[test]
fn only_desired_fields_are_compared() {
    let mut d = desired(K::EcsService, "s", json!({"cluster": "c"}));
    d.create_only = fields(json!({"desiredCount": 2}));
    let graph = DesiredGraph { resources: vec![d] };
    let observed: ObservedState = [observed(
        K::EcsService,
        "s",
        json!({"cluster": "c", "desiredCount": 9, "platformVersion": "LATEST"}),
    )]
    .into_iter()
    .collect();
    assert_eq!(diff(&graph, &observed)[0].state, DiffState::Matches);
}

#[test]
fn changes_report_normalised_observed_values_in_field_order() {
    let graph = DesiredGraph {
        resources: vec![desired(
            K::EcsService,
            "s",
            json!({"subnets": ["a", "c"], "cluster": "arive-cluster", "desiredCount": 2}),
        )],
    };
    let observed: ObservedState = [observed(
        K::EcsService,
        "s",
        json!({
            "subnets": ["b", "a"],
            "cluster": "arn:aws:ecs:us-east-1:123:cluster/arive-cluster",
            "desiredCount": 3,
        }),
    )]
    .into_iter()
    .collect();
    assert_eq!(
        diff(&graph, &observed)[0].state,
        DiffState::Differs(vec![
            FieldChange {
                field: "desiredCount".into(),
                from: Some(json!(3)),
                to: Some(json!(2)),
                effect: None,
            },
            FieldChange {
                field: "subnets".into(),
                from: Some(json!(["a", "b"])),
                to: Some(json!(["a", "c"])),
                effect: None,
            },
        ])
    );
}

#[test]
fn orphans_are_ours_and_come_after_the_desired() {
    let graph = DesiredGraph {
        resources: vec![
            desired(K::EcsCluster, "c", json!({})),
            desired(K::EcsService, "keep", json!({})),
        ],
    };
    let (foreign_id, mut foreign) = observed(K::EcsService, "someone-elses", json!({}));
    foreign.owner = Owner::Other("prod-eu".into());
    let mut observed: ObservedState = [
        observed(K::EcsCluster, "c", json!({})),
        observed(K::EcsService, "keep", json!({})),
        observed(K::EcsService, "old", json!({})),
        observed(K::MetricAlarm, "old-alarm", json!({})),
    ]
    .into_iter()
    .collect();
    observed.insert(foreign_id, foreign);
    let diffs = diff(&graph, &observed);
    let order: Vec<(String, &DiffState)> =
        diffs.iter().map(|d| (d.id.to_string(), &d.state)).collect();
    use DiffState::*;
    assert_eq!(
        order,
        [
            ("ecs-cluster/c".to_owned(), &Matches),
            ("ecs-service/keep".to_owned(), &Matches),
            ("ecs-service/old".to_owned(), &Orphaned),
            ("metric-alarm/old-alarm".to_owned(), &Orphaned),
        ]
    );
    assert!(diffs[2..].iter().all(|d| d.observed.is_some()));
}

#[test]
fn desired_resources_keep_graph_order() {
    let graph = DesiredGraph {
        resources: vec![
            desired(K::EcsService, "z", json!({})),
            desired(K::EcsService, "a", json!({})),
            desired(K::MetricAlarm, "m", json!({})),
        ],
    };
    let diffs = diff(&graph, &ObservedState::new());
    let names: Vec<&str> = diffs.iter().map(|d| d.id.name.as_str()).collect();
    assert_eq!(names, ["z", "a", "m"]);
    assert!(diffs.iter().all(|d| d.state == DiffState::Missing));
}

#[test]
fn graph_built_from_a_spec_matches_its_own_normalised_echo() {
    // What an adapter would report right after creating everything: the desired values,
    // in AWS's shapes. Nothing may differ.
    let env = crate::spec::parse_document(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {name: arive}
spec:
  region: us-east-1
  network: {subnets: [subnet-b, subnet-a]}
  ecs:
    services:
      api:
        image: repo/api:1
        cpu: 256
        memory: 512
        desiredCount: 1
        autoscaling:
          minCapacity: 1
          maxCapacity: 4
          targetTracking: [{metric: cpu, target: 60}]
          queueDepth: {queueName: jobs, scaleOut: {threshold: 10}}
"#,
        crate::spec::Format::Yaml,
    )
    .expect("spec parses");
    let graph = super::super::graph::desired_graph(&env);
    let observed: ObservedState = graph
        .resources
        .iter()
        .map(|d| {
            let mut f = d.fields.clone();
            if let Some(cpu) = f.get_mut("cpu") {
                *cpu = json!(cpu.to_string());
            }
            if let Some(cluster) = f.get_mut("cluster") {
                *cluster = json!(format!(
                    "arn:aws:ecs:us-east-1:1:cluster/{}",
                    cluster.as_str().unwrap_or_default()
                ));
            }
            if let Some(v) = f.get_mut("targetValue") {
                *v = json!(60.0);
            }
            // References point at the resources' own ARNs.
            echo_references(d, &mut f);
            let o = Observed::new(d.id.clone(), Some(format!("arn:{}", d.id)), f);
            (d.id.clone(), o)
        })
        .collect();
    let diffs = diff(&graph, &observed);
    assert_eq!(diffs.len(), graph.resources.len());
    assert!(
        diffs.iter().all(|d| d.state == DiffState::Matches),
        "{diffs:#?}"
    );
}
