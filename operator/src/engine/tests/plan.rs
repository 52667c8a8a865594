//! Unit tests of `engine::plan`.

use serde_json::json;

use super::*;
use crate::engine::diff::diff;
use crate::engine::fixtures::{desired, fields};
use crate::engine::graph::desired_graph;
use crate::engine::resource::{Observed, ObservedState};
use crate::spec::IgnoreRule;

use ResourceKind as K;

fn observed(kind: ResourceKind, name: &str, f: Value) -> Observed {
    Observed {
        id: ResourceId::new(kind, name),
        arn: None,
        status: None,
        fields: fields(f),
    }
}

fn state(observed: &[Observed]) -> ObservedState {
    observed.iter().map(|o| (o.id.clone(), o.clone())).collect()
}

fn change(field: &str, from: Option<Value>, to: Value) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        from,
        to: Some(to),
    }
}

fn summary(plan: &Plan) -> Vec<(String, &'static str)> {
    plan.actions
        .iter()
        .map(|a| {
            let word = match a.change {
                Change::Create { .. } => "create",
                Change::Update { .. } => "update",
                Change::NoOp => "noop",
                Change::Delete => "delete",
                Change::ReplacementRequired { .. } => "refused",
            };
            (a.resource.to_string(), word)
        })
        .collect()
}

fn pairs(items: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), *b)).collect()
}

#[test]
fn missing_is_created_with_desired_and_create_only_fields() {
    let mut d = desired(K::EcsService, "s", json!({"cluster": "c"}));
    d.create_only = fields(json!({"desiredCount": 2}));
    let graph = DesiredGraph { resources: vec![d] };
    let plan = plan(&graph, &diff(&graph, &state(&[])), &Policy::default());
    assert_eq!(
        plan.actions,
        [Action {
            resource: ResourceId::new(K::EcsService, "s"),
            change: Change::Create {
                fields: vec![
                    FieldChange {
                        field: "cluster".into(),
                        from: None,
                        to: Some(json!("c")),
                    },
                    FieldChange {
                        field: "desiredCount".into(),
                        from: None,
                        to: Some(json!(2)),
                    },
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
    let plan = plan(&graph, &diff(&graph, &observed), &Policy::default());
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
    let plan = plan(&graph, &diff(&graph, &observed), &Policy::default());
    assert!(plan.is_noop());
    assert_eq!(plan.render_text(), "No changes.\n");
    assert!(Plan::default().is_noop());
}

#[test]
fn orphans_are_deleted_after_everything_else_in_reverse_dependency_order() {
    let graph = DesiredGraph {
        resources: vec![desired(K::EcsCluster, "c", json!({}))],
    };
    let observed = state(&[
        observed(K::EcsCluster, "c", json!({})),
        observed(K::TaskDefinition, "old", json!({})),
        observed(K::LogGroup, "/ecs/old", json!({})),
        observed(K::MetricAlarm, "old-b", json!({})),
        observed(K::MetricAlarm, "old-a", json!({})),
        observed(K::EcsService, "old", json!({})),
        observed(K::ScalingPolicy, "old-cpu", json!({})),
    ]);
    // Hand the diffs over shuffled: the plan orders them itself.
    let mut diffs = diff(&graph, &observed);
    diffs.reverse();
    let plan = plan(&graph, &diffs, &Policy::default());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("ecs-cluster/c", "noop"),
            ("metric-alarm/old-a", "delete"),
            ("metric-alarm/old-b", "delete"),
            ("scaling-policy/old-cpu", "delete"),
            ("ecs-service/old", "delete"),
            ("task-definition/old", "delete"),
            ("log-group//ecs/old", "delete"),
        ])
    );
}

#[test]
fn stateful_orphans_are_retained_unless_the_policy_deletes() {
    let retain = Policy::default();
    let delete = Policy {
        deletion: DeletionPolicy::Delete,
        ..Policy::default()
    };
    assert_eq!(orphan_change(false, &retain), Some(Change::Delete));
    assert_eq!(orphan_change(false, &delete), Some(Change::Delete));
    assert_eq!(orphan_change(true, &retain), None);
    assert_eq!(orphan_change(true, &delete), Some(Change::Delete));
}

#[test]
fn immutable_field_change_replaces_a_stateless_resource_in_place_of_its_update() {
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
    let plan = plan(&graph, &diff(&graph, &observed), &Policy::default());
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
    let plan = plan(&graph, &diff(&graph, &observed), &Policy::default());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("scaling-policy/p", "delete"),
            ("scaling-policy/p", "create")
        ])
    );
}

#[test]
fn mutable_changes_are_updates_even_next_to_immutable_fields() {
    let changes = [change("desiredCount", Some(json!(1)), json!(2))];
    assert_eq!(
        decide(K::EcsService, &changes, false, false),
        Decision::InPlace
    );
    assert_eq!(
        decide(K::EcsService, &changes, true, false),
        Decision::InPlace
    );
}

#[test]
fn replacement_decision_for_stateless_and_stateful_kinds() {
    let changes = [
        change("resourceId", Some(json!("a")), json!("b")),
        change("cooldown", Some(json!(1)), json!(2)),
        change("policyType", Some(json!("x")), json!("y")),
    ];
    let k = K::ScalingPolicy;
    assert_eq!(decide(k, &changes, false, false), Decision::Replace);
    assert_eq!(decide(k, &changes, false, true), Decision::Replace);
    assert_eq!(
        decide(k, &changes, true, false),
        Decision::Refuse(vec!["resourceId".into(), "policyType".into()])
    );
    assert_eq!(decide(k, &changes, true, true), Decision::Replace);
}

#[test]
fn refused_replacement_of_a_stateful_resource_names_the_fields() {
    let d = desired(K::EcsService, "db", json!({"cluster": "b"}));
    let changes = vec![change("cluster", Some(json!("a")), json!("b"))];
    assert_eq!(
        changed(&d, &changes, true, &Policy::default()),
        vec![Change::ReplacementRequired {
            reason: "cluster cannot change in place and policy.allowReplacement is false".into(),
            fields: changes.clone(),
        }]
    );
    let allow = Policy {
        allow_replacement: true,
        ..Policy::default()
    };
    assert_eq!(
        changed(&d, &changes, true, &allow),
        vec![
            Change::Delete,
            Change::Create {
                fields: vec![change("cluster", None, json!("b"))]
            }
        ]
    );
}

#[test]
fn immutable_fields_per_kind() {
    assert_eq!(immutable_fields(K::EcsService), ["cluster"]);
    assert_eq!(
        immutable_fields(K::ScalingPolicy),
        ["resourceId", "policyType"]
    );
    for kind in [
        K::EcsCluster,
        K::LogGroup,
        K::TaskDefinition,
        K::ScalableTarget,
        K::MetricAlarm,
    ] {
        assert!(immutable_fields(kind).is_empty(), "{kind:?}");
    }
}

fn task_definition_and_service() -> DesiredGraph {
    DesiredGraph {
        resources: vec![
            desired(K::TaskDefinition, "arive-api", json!({"image": "api:2"})),
            desired(
                K::EcsService,
                "arive-api",
                json!({"taskDefinition": "arive-api", "desiredCount": 2}),
            ),
            desired(K::TaskDefinition, "arive-web", json!({"image": "web:1"})),
            desired(
                K::EcsService,
                "arive-web",
                json!({"taskDefinition": "arive-web", "desiredCount": 1}),
            ),
        ],
    }
}

#[test]
fn new_task_definition_revision_rolls_its_service() {
    let graph = task_definition_and_service();
    let observed = state(&[
        observed(K::TaskDefinition, "arive-api", json!({"image": "api:1"})),
        observed(
            K::EcsService,
            "arive-api",
            json!({"taskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/arive-api:3", "desiredCount": 2}),
        ),
        observed(K::TaskDefinition, "arive-web", json!({"image": "web:1"})),
        observed(
            K::EcsService,
            "arive-web",
            json!({"taskDefinition": "arive-web", "desiredCount": 1}),
        ),
    ]);
    let diffs = diff(&graph, &observed);
    // arive-api runs an older revision than the latest: already a difference.
    let plan = plan(&graph, &diffs, &Policy::default());
    assert_eq!(
        plan.actions[1].change,
        Change::Update {
            fields: vec![change(
                "taskDefinition",
                Some(json!("arive-api:3")),
                json!("arive-api (new revision)")
            )]
        }
    );
    assert_eq!(plan.actions[3].change, Change::NoOp);
}

#[test]
fn a_noop_service_becomes_an_update_when_its_task_definition_changes() {
    let graph = task_definition_and_service();
    let observed = state(&[
        observed(K::TaskDefinition, "arive-api", json!({"image": "api:1"})),
        observed(
            K::EcsService,
            "arive-api",
            json!({"taskDefinition": "arive-api", "desiredCount": 2}),
        ),
        observed(K::TaskDefinition, "arive-web", json!({"image": "web:0"})),
        observed(
            K::EcsService,
            "arive-web",
            json!({"taskDefinition": "arive-web", "desiredCount": 3}),
        ),
    ]);
    let plan = plan(&graph, &diff(&graph, &observed), &Policy::default());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("task-definition/arive-api", "update"),
            ("ecs-service/arive-api", "update"),
            ("task-definition/arive-web", "update"),
            ("ecs-service/arive-web", "update"),
        ])
    );
    assert_eq!(
        plan.actions[1].change,
        Change::Update {
            fields: vec![change(
                "taskDefinition",
                Some(json!("arive-api")),
                json!("arive-api (new revision)")
            )]
        }
    );
    // An update for other reasons gains the roll, in field order.
    assert_eq!(
        plan.actions[3].change,
        Change::Update {
            fields: vec![
                change("desiredCount", Some(json!(3)), json!(1)),
                change(
                    "taskDefinition",
                    Some(json!("arive-web")),
                    json!("arive-web (new revision)")
                ),
            ]
        }
    );
}

#[test]
fn a_created_task_definition_rolls_an_existing_service_but_not_a_new_one() {
    let graph = task_definition_and_service();
    let observed = state(&[observed(
        K::EcsService,
        "arive-api",
        json!({"taskDefinition": "arive-api:7", "desiredCount": 2}),
    )]);
    let plan = plan(&graph, &diff(&graph, &observed), &Policy::default());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("task-definition/arive-api", "create"),
            ("ecs-service/arive-api", "update"),
            ("task-definition/arive-web", "create"),
            ("ecs-service/arive-web", "create"),
        ])
    );
    assert_eq!(
        plan.actions[1].change,
        Change::Update {
            fields: vec![change(
                "taskDefinition",
                Some(json!("arive-api:7")),
                json!("arive-api (new revision)")
            )]
        }
    );
}

const SPEC: &str = r#"
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

/// What AWS reports for SPEC's resources once created, with these field overrides.
fn echo(graph: &DesiredGraph, overrides: &[(&str, &str, Value)]) -> ObservedState {
    graph
        .resources
        .iter()
        .map(|d| {
            let mut o = observed(d.id.kind, &d.id.name, json!({}));
            o.fields = d.fields.clone();
            o.fields.extend(d.create_only.clone());
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
    let plan = plan(&graph, &diff(&graph, &observed), &env.spec.policy);
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
    // Without the rule the image is corrected and the service rolls.
    let mut strict = env.spec.policy.clone();
    strict.ignore.clear();
    let mut env = env;
    env.spec.policy = strict.clone();
    let graph = desired_graph(&env);
    let plan = super::plan(&graph, &diff(&graph, &observed), &strict);
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
    assert!(!service.fields.contains_key("taskDefinition"));
    assert!(service.create_only.contains_key("taskDefinition"));
    // Only the environment-wide region is still managed on the task definition.
    let observed = echo(
        &graph,
        &[("task-definition/arive-api", "region", json!("eu-west-1"))],
    );
    let plan = plan(&graph, &diff(&graph, &observed), &env.spec.policy);
    assert_eq!(
        summary(&plan)[2..],
        pairs(&[
            ("task-definition/arive-api", "update"),
            ("ecs-service/arive-api", "noop"),
        ])
    );
}

#[test]
fn render_text_of_a_small_plan() {
    let id = |kind, name: &str| ResourceId::new(kind, name);
    let plan = Plan {
        actions: vec![
            Action {
                resource: id(K::EcsCluster, "arive-cluster"),
                change: Change::NoOp,
            },
            Action {
                resource: id(K::LogGroup, "/ecs/arive-api"),
                change: Change::Create {
                    fields: vec![change("retentionInDays", None, json!(30))],
                },
            },
            Action {
                resource: id(K::EcsService, "arive-api"),
                change: Change::Update {
                    fields: vec![
                        change("subnets", Some(json!(["a", "b"])), json!(["a", "c"])),
                        change("targetGroupArn", None, json!("arn:tg")),
                        change(
                            "taskDefinition",
                            Some(json!("arive-api:3")),
                            json!("arive-api (new revision)"),
                        ),
                    ],
                },
            },
            Action {
                resource: id(K::EcsService, "arive-db"),
                change: Change::ReplacementRequired {
                    reason: "cluster cannot change in place".into(),
                    fields: vec![change("cluster", Some(json!("a")), json!("b"))],
                },
            },
            Action {
                resource: id(K::MetricAlarm, "arive-old"),
                change: Change::Delete,
            },
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
    ~ taskDefinition: \"arive-api:3\" → \"arive-api (new revision)\"
! ecs-service/arive-db (replacement required: cluster cannot change in place)
    ~ cluster: \"a\" → \"b\"
- metric-alarm/arive-old
Plan: 1 to create, 1 to update, 1 to delete, 1 refused.
"
    );
    assert!(!plan.is_noop());
}

#[test]
fn full_pipeline_from_nothing_creates_everything_in_graph_order() {
    let env = crate::spec::parse_document(SPEC, crate::spec::Format::Yaml).expect("spec parses");
    let graph = desired_graph(&env);
    let plan = plan(
        &graph,
        &diff(&graph, &ObservedState::new()),
        &env.spec.policy,
    );
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("ecs-cluster/arive-cluster", "create"),
            ("log-group//ecs/arive-api", "create"),
            ("task-definition/arive-api", "create"),
            ("ecs-service/arive-api", "create"),
        ])
    );
    // The ignored image is still set at creation.
    let Change::Create { fields } = &plan.actions[2].change else {
        panic!("task definition is created");
    };
    assert!(fields
        .iter()
        .any(|f| f.field == "image" && f.to == Some(json!("repo/api:1"))));
    assert!(plan
        .render_text()
        .ends_with("Plan: 4 to create, 0 to update, 0 to delete, 0 refused.\n"));
}
