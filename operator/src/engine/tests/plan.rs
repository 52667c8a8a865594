//! Unit tests of `engine::plan`: creates, updates, replacements, ignore rules, rendering.

use serde_json::{json, Value};

use super::*;
use crate::engine::diff::diff;
use crate::engine::fixtures::{desired, echo_references, fields};
use crate::engine::graph::desired_graph;
use crate::engine::kinds::{always_ready, as_is, exact, no_defaults};
use crate::engine::resource::{ObservedState, ResourceKind};
use crate::spec::IgnoreRule;

use ResourceKind as K;

pub(super) fn observed(kind: ResourceKind, name: &str, f: Value) -> Observed {
    Observed::new(
        ResourceId::new(kind, name),
        Some(format!("arn:{name}")),
        fields(f),
    )
}

pub(super) fn state(observed: &[Observed]) -> ObservedState {
    observed.iter().map(|o| (o.id.clone(), o.clone())).collect()
}

pub(super) fn change(field: &str, from: Option<Value>, to: Value) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        from,
        to: Some(to),
        effect: None,
    }
}

pub(super) fn summary(plan: &Plan) -> Vec<(String, &'static str)> {
    plan.actions
        .iter()
        .map(|a| {
            let word = a.change.verb().map_or("noop", |v| v.as_str());
            (a.resource.to_string(), word)
        })
        .collect()
}

pub(super) fn pairs(items: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), *b)).collect()
}

pub(super) fn plan_of(graph: &DesiredGraph, observed: &ObservedState, policy: &Policy) -> Plan {
    plan(graph, &diff(graph, observed), policy, &Holds::new())
}

#[test]
fn missing_is_created_with_desired_and_create_only_fields() {
    let mut d = desired(K::EcsService, "s", json!({"cluster": "c"}));
    d.create_only = fields(json!({"desiredCount": 2}));
    let graph = DesiredGraph { resources: vec![d] };
    let plan = plan_of(&graph, &state(&[]), &Policy::default());
    assert_eq!(
        plan.actions,
        [Action {
            resource: ResourceId::new(K::EcsService, "s"),
            change: Change::Create {
                fields: vec![
                    change("cluster", None, json!("c")),
                    change("desiredCount", None, json!(2)),
                ]
            },
        }]
    );
    assert!(!plan.is_noop());
}

#[test]
fn differing_fields_are_updated_and_matching_resources_are_noops() {
    let graph = DesiredGraph {
        resources: vec![
            desired(K::LogGroup, "/ecs/a", json!({"retentionInDays": 30})),
            desired(K::LogGroup, "/ecs/b", json!({"retentionInDays": 30})),
        ],
    };
    let observed = state(&[
        observed(K::LogGroup, "/ecs/a", json!({"retentionInDays": 7})),
        observed(K::LogGroup, "/ecs/b", json!({"retentionInDays": 30})),
    ]);
    let plan = plan_of(&graph, &observed, &Policy::default());
    assert_eq!(
        plan.actions,
        [
            Action {
                resource: ResourceId::new(K::LogGroup, "/ecs/a"),
                change: Change::Update {
                    fields: vec![change("retentionInDays", Some(json!(7)), json!(30))]
                },
            },
            Action {
                resource: ResourceId::new(K::LogGroup, "/ecs/b"),
                change: Change::NoOp,
            },
        ]
    );
}

#[test]
fn everything_matching_is_a_noop_plan() {
    let graph = DesiredGraph {
        resources: vec![desired(
            K::LogGroup,
            "/ecs/a",
            json!({"retentionInDays": 30}),
        )],
    };
    let observed = state(&[observed(
        K::LogGroup,
        "/ecs/a",
        json!({"retentionInDays": 30.0}),
    )]);
    let plan = plan_of(&graph, &observed, &Policy::default());
    assert!(plan.is_noop());
    assert_eq!(plan.render_text(), "No changes.\n");
    assert!(Plan::default().is_noop());
}

#[test]
fn a_field_that_cannot_change_in_place_replaces_a_stateless_resource() {
    let graph = DesiredGraph {
        resources: vec![
            desired(K::EcsCluster, "new-cluster", json!({})),
            desired(
                K::EcsService,
                "s",
                json!({"cluster": "new-cluster", "desiredCount": 2}),
            ),
            desired(K::ScalableTarget, "service/new-cluster/s", json!({})),
        ],
    };
    let observed = state(&[
        observed(K::EcsCluster, "new-cluster", json!({})),
        observed(
            K::EcsService,
            "s",
            json!({"cluster": "arn:aws:ecs:us-east-1:1:cluster/old-cluster", "desiredCount": 1}),
        ),
        observed(K::ScalableTarget, "service/new-cluster/s", json!({})),
    ]);
    let plan = plan_of(&graph, &observed, &Policy::default());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("ecs-cluster/new-cluster", "noop"),
            ("ecs-service/s", "delete"),
            ("ecs-service/s", "create"),
            ("scalable-target/service/new-cluster/s", "noop"),
        ])
    );
    assert_eq!(
        plan.actions[2].change,
        Change::Create {
            fields: vec![
                change("cluster", None, json!("new-cluster")),
                change("desiredCount", None, json!(2)),
            ]
        }
    );
}

#[test]
fn scaling_policy_type_change_is_a_replacement() {
    let graph = DesiredGraph {
        resources: vec![desired(
            K::ScalingPolicy,
            "p",
            json!({"policyType": "StepScaling", "cooldown": 60}),
        )],
    };
    let observed = state(&[observed(
        K::ScalingPolicy,
        "p",
        json!({"policyType": "TargetTrackingScaling"}),
    )]);
    let plan = plan_of(&graph, &observed, &Policy::default());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("scaling-policy/p", "delete"),
            ("scaling-policy/p", "create")
        ])
    );
}

/// A kind given only in this test, the way a new kind is added: every rule must be written
/// out (the struct has no defaults) or this does not compile.
const DATABASE: Rules = Rules {
    name: "test-database",
    stateful: true,
    replace_on: &["engine"],
    revisioned: false,
    aws_default: no_defaults,
    normalize: as_is,
    equivalent: exact,
    deferred: &["size"],
    disruptive: &[("size", "restarts it")],
    phase: always_ready,
};

#[test]
fn a_stateful_kind_is_never_replaced_unless_the_policy_allows_it() {
    let d = desired(
        K::LogGroup,
        "orders",
        json!({"engine": "postgres", "size": 2}),
    );
    let changes = vec![
        change("engine", Some(json!("mysql")), json!("postgres")),
        change("size", Some(json!(1)), json!(2)),
    ];
    assert_eq!(
        changed(&DATABASE, &d, &changes, &Policy::default()),
        vec![Change::ReplacementRequired {
            reason: "engine cannot change in place and policy.allowReplacement is false".into(),
            fields: changes.clone(),
        }]
    );
    let allow = Policy {
        allow_replacement: true,
        ..Policy::default()
    };
    let replaced = changed(&DATABASE, &d, &changes, &allow);
    assert_eq!(replaced[0], Change::Delete);
    assert!(matches!(replaced[1], Change::Create { .. }));
    // A change to a field that can change in place is an update, stateful or not.
    // It says when AWS makes it and what it interrupts.
    let size = vec![change("size", Some(json!(1)), json!(2))];
    let mut later = size.clone();
    later[0].effect = Some("at the maintenance window; restarts it".into());
    assert_eq!(
        changed(&DATABASE, &d, &size, &Policy::default()),
        vec![Change::Update { fields: later }]
    );
    let now = Policy {
        apply_immediately: true,
        ..Policy::default()
    };
    let mut at_once = size.clone();
    at_once[0].effect = Some("now (policy.applyImmediately); restarts it".into());
    assert_eq!(
        changed(&DATABASE, &d, &size, &now),
        vec![Change::Update { fields: at_once }]
    );
}

#[test]
fn fields_that_force_replacement_per_kind() {
    assert_eq!(K::EcsService.rules().replace_on, ["cluster"]);
    assert_eq!(
        K::ScalingPolicy.rules().replace_on,
        ["resourceId", "policyType"]
    );
    for kind in [
        K::EcsCluster,
        K::LogGroup,
        K::TaskDefinition,
        K::ScalableTarget,
        K::MetricAlarm,
    ] {
        assert!(kind.rules().replace_on.is_empty(), "{kind:?}");
    }
    assert!(K::LogGroup.is_stateful());
    assert!(K::TaskDefinition.rules().revisioned);
}

pub(super) const SPEC: &str = r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {name: arive}
spec:
  region: us-east-1
  policy:
    ignore:
      - path: ecs.services.*.image
        reason: set by the deploy pipeline
  ecs:
    services:
      api:
        image: repo/api:1
        cpu: 256
        memory: 512
        desiredCount: 2
"#;

/// What AWS reports for a graph's resources once created (references pointing at their
/// targets' ARNs), with these field overrides.
pub(super) fn echo(graph: &DesiredGraph, overrides: &[(&str, &str, Value)]) -> ObservedState {
    graph
        .resources
        .iter()
        .map(|d| {
            let mut o = observed(d.id.kind, &d.id.name, json!({}));
            o.arn = Some(format!("arn:{}", d.id));
            o.fields = d.fields.clone();
            o.fields.extend(d.create_only.clone());
            echo_references(d, &mut o.fields);
            for (id, field, value) in overrides {
                if d.id.to_string() == *id {
                    o.fields.insert((*field).to_owned(), value.clone());
                }
            }
            (d.id.clone(), o)
        })
        .collect()
}

#[test]
fn ignored_fields_neither_update_nor_roll_the_service() {
    let env = crate::spec::parse_document(SPEC, crate::spec::Format::Yaml).expect("spec parses");
    let graph = desired_graph(&env);
    let observed = echo(
        &graph,
        &[
            ("task-definition/arive-api", "image", json!("repo/api:2")),
            ("ecs-service/arive-api", "desiredCount", json!(5)),
        ],
    );
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("ecs-cluster/arive-cluster", "noop"),
            ("log-group//ecs/arive-api", "noop"),
            ("task-definition/arive-api", "noop"),
            ("ecs-service/arive-api", "update"),
        ])
    );
    assert_eq!(
        plan.actions[3].change,
        Change::Update {
            fields: vec![change("desiredCount", Some(json!(5)), json!(2))]
        }
    );
    // Without the rule the image is corrected and the service rolls onto the new revision.
    let mut env = env;
    env.spec.policy.ignore.clear();
    let graph = desired_graph(&env);
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan)[2..],
        pairs(&[
            ("task-definition/arive-api", "update"),
            ("ecs-service/arive-api", "update"),
        ])
    );
}

#[test]
fn an_ignored_task_definition_reference_is_not_rolled() {
    let mut env =
        crate::spec::parse_document(SPEC, crate::spec::Format::Yaml).expect("spec parses");
    env.spec.policy.ignore = vec![IgnoreRule {
        path: "ecs.services.api".into(),
        reason: None,
    }];
    let graph = desired_graph(&env);
    let service = &graph.resources[3];
    assert!(!service.references["taskDefinition"].managed);
    // The task definition is the service's business then: not even the environment-wide
    // region is compared, so no revision is registered that the service would never run.
    let td = &graph.resources[2];
    assert!(td.fields.is_empty());
    assert_eq!(td.create_only["region"], json!("us-east-1"));
    let observed = echo(
        &graph,
        &[("task-definition/arive-api", "region", json!("eu-west-1"))],
    );
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan)[2..],
        pairs(&[
            ("task-definition/arive-api", "noop"),
            ("ecs-service/arive-api", "noop"),
        ])
    );
}

#[test]
fn render_text_of_a_small_plan() {
    let id = |kind, name: &str| ResourceId::new(kind, name);
    let action = |resource, change| Action { resource, change };
    let plan = Plan {
        actions: vec![
            action(id(K::EcsCluster, "arive-cluster"), Change::NoOp),
            action(
                id(K::LogGroup, "/ecs/arive-api"),
                Change::Create {
                    fields: vec![change("retentionInDays", None, json!(30))],
                },
            ),
            action(
                id(K::EcsService, "arive-api"),
                Change::Update {
                    fields: vec![
                        change("subnets", Some(json!(["a", "b"])), json!(["a", "c"])),
                        change("targetGroupArn", None, json!("arn:tg")),
                    ],
                },
            ),
            action(
                id(K::EcsService, "arive-db"),
                Change::ReplacementRequired {
                    reason: "cluster cannot change in place".into(),
                    fields: vec![change("cluster", Some(json!("a")), json!("b"))],
                },
            ),
            action(
                id(K::EcsService, "arive-web"),
                Change::Wait {
                    reason: "deployment in progress".into(),
                },
            ),
            action(
                id(K::EcsService, "arive-eu-api"),
                Change::Conflict {
                    reason: "tagged as environment \"arive-eu\"'s".into(),
                },
            ),
            action(id(K::MetricAlarm, "arive-old"), Change::Delete),
        ],
    };
    assert_eq!(
        plan.render_text(),
        "\
+ log-group//ecs/arive-api
    + retentionInDays = 30
~ ecs-service/arive-api
    ~ subnets: [\"a\",\"b\"] → [\"a\",\"c\"]
    ~ targetGroupArn: (absent) → \"arn:tg\"
! ecs-service/arive-db (replacement required: cluster cannot change in place)
    ~ cluster: \"a\" → \"b\"
… ecs-service/arive-web (waiting: deployment in progress)
! ecs-service/arive-eu-api (conflict: tagged as environment \"arive-eu\"'s)
- metric-alarm/arive-old
Plan: 1 to create, 1 to update, 1 to delete, 1 refused. 1 waiting on AWS. 1 in conflict.
"
    );
    assert!(!plan.is_noop());
}

#[test]
fn full_pipeline_from_nothing_creates_everything_in_graph_order() {
    let env = crate::spec::parse_document(SPEC, crate::spec::Format::Yaml).expect("spec parses");
    let graph = desired_graph(&env);
    let plan = plan_of(&graph, &ObservedState::new(), &env.spec.policy);
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("ecs-cluster/arive-cluster", "create"),
            ("log-group//ecs/arive-api", "create"),
            ("task-definition/arive-api", "create"),
            ("ecs-service/arive-api", "create"),
        ])
    );
    // The ignored image is still set at creation; the revision's ARN is known after apply.
    let Change::Create { fields } = &plan.actions[2].change else {
        panic!("task definition is created");
    };
    assert!(fields
        .iter()
        .any(|f| f.field == "image" && f.to == Some(json!("repo/api:1"))));
    let Change::Create { fields } = &plan.actions[3].change else {
        panic!("service is created");
    };
    let td = fields.iter().find(|f| f.field == "taskDefinition");
    assert_eq!(
        td.and_then(|f| f.to.clone()),
        Some(json!("(known after apply: task-definition/arive-api)"))
    );
    assert!(plan
        .render_text()
        .ends_with("Plan: 4 to create, 0 to update, 0 to delete, 0 refused.\n"));
}
