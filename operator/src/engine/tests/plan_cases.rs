//! Unit tests of `engine::plan`: references that follow their targets, phases (wait, block),
//! ownership (conflict, adoption) and orphans (dependents first, stateful ones retained).

use serde_json::json;

use super::tests::{change, echo, observed, pairs, plan_of, state, summary, SPEC};
use super::*;
use crate::engine::diff::diff;
use crate::engine::fixtures::desired;
use crate::engine::graph::desired_graph;
use crate::engine::resource::{ObservedState, RefField, Reference, ResourceKind};

use ResourceKind as K;

fn arive() -> (crate::spec::Environment, DesiredGraph) {
    let mut env =
        crate::spec::parse_document(SPEC, crate::spec::Format::Yaml).expect("spec parses");
    env.spec.policy.ignore.clear();
    let graph = desired_graph(&env);
    (env, graph)
}

#[test]
fn a_new_revision_rolls_its_service_after_it() {
    let (env, graph) = arive();
    let observed = echo(
        &graph,
        &[("task-definition/arive-api", "image", json!("repo/api:0"))],
    );
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan)[2..],
        pairs(&[
            ("task-definition/arive-api", "update"),
            ("ecs-service/arive-api", "update"),
        ])
    );
    assert_eq!(
        plan.actions[3].change,
        Change::Update {
            fields: vec![change(
                "taskDefinition",
                Some(json!("arn:task-definition/arive-api")),
                json!("(known after apply: task-definition/arive-api)")
            )]
        }
    );
}

#[test]
fn a_service_running_another_revision_is_moved_back_to_the_family_s() {
    let (env, graph) = arive();
    let observed = echo(
        &graph,
        &[(
            "ecs-service/arive-api",
            "taskDefinition",
            json!("arn:other:9"),
        )],
    );
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        plan.actions[3].change,
        Change::Update {
            fields: vec![change(
                "taskDefinition",
                Some(json!("arn:other:9")),
                json!("arn:task-definition/arive-api")
            )]
        }
    );
}

#[test]
fn a_created_task_definition_rolls_an_existing_service_but_a_new_one_is_just_created() {
    let (env, graph) = arive();
    let mut observed = echo(&graph, &[]);
    observed.remove(&ResourceId::new(K::TaskDefinition, "arive-api"));
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan)[2..],
        pairs(&[
            ("task-definition/arive-api", "create"),
            ("ecs-service/arive-api", "update"),
        ])
    );
    observed.remove(&ResourceId::new(K::EcsService, "arive-api"));
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan)[2..],
        pairs(&[
            ("task-definition/arive-api", "create"),
            ("ecs-service/arive-api", "create"),
        ])
    );
}

#[test]
fn a_busy_resource_waits_and_nothing_is_written_to_it() {
    let (env, graph) = arive();
    let mut observed = echo(
        &graph,
        &[("ecs-service/arive-api", "desiredCount", json!(9))],
    );
    let service = ResourceId::new(K::EcsService, "arive-api");
    if let Some(o) = observed.get_mut(&service) {
        o.phase = Phase::Busy("deployment in progress".into());
    }
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        plan.actions[3],
        Action {
            resource: service,
            change: Change::Wait {
                reason: "deployment in progress".into()
            }
        }
    );
    assert!(plan.render_text().contains("1 waiting on AWS."));
}

#[test]
fn a_new_revision_waits_while_its_service_rolls_out() {
    let (env, graph) = arive();
    let mut observed = echo(
        &graph,
        &[("task-definition/arive-api", "image", json!("repo/api:0"))],
    );
    let service = ResourceId::new(K::EcsService, "arive-api");
    if let Some(o) = observed.get_mut(&service) {
        o.phase = Phase::Busy("deployment in progress".into());
    }
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan)[2..],
        pairs(&[
            ("task-definition/arive-api", "wait"),
            ("ecs-service/arive-api", "wait"),
        ])
    );
    let Change::Wait { reason } = &plan.actions[2].change else {
        panic!("task definition waits: {:?}", plan.actions[2]);
    };
    assert!(reason.contains("ecs-service/arive-api"), "{reason}");
    // Nothing to register: the task definition is left alone.
    let mut settled = echo(&graph, &[]);
    if let Some(o) = settled.get_mut(&service) {
        o.phase = Phase::Busy("deployment in progress".into());
    }
    let plan = plan_of(&graph, &settled, &env.spec.policy);
    assert_eq!(summary(&plan)[2].1, "noop");
}

#[test]
fn a_failed_resource_and_what_it_references_are_blocked() {
    let (env, graph) = arive();
    let mut observed = echo(
        &graph,
        &[("task-definition/arive-api", "image", json!("repo/api:0"))],
    );
    let service = ResourceId::new(K::EcsService, "arive-api");
    let reason = "deployment of arn:td:2 failed and was rolled back by the circuit breaker";
    if let Some(o) = observed.get_mut(&service) {
        o.phase = Phase::Failed(reason.into());
    }
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan)[2..],
        pairs(&[
            ("task-definition/arive-api", "blocked"),
            ("ecs-service/arive-api", "noop"),
        ])
    );
    // Once the rollback finished, the failure recorded for this generation still holds.
    let observed = echo(
        &graph,
        &[("task-definition/arive-api", "image", json!("repo/api:0"))],
    );
    let holds = Holds::from([(service.clone(), reason.to_owned())]);
    let diffs = diff(&graph, &observed);
    let plan = super::plan(&graph, &diffs, &env.spec.policy, &holds);
    let Change::Blocked { reason: why } = &plan.actions[2].change else {
        panic!("task definition blocked: {:?}", plan.actions[2]);
    };
    assert!(why.contains("arn:td:2"), "{why}");
}

#[test]
fn a_resource_of_someone_else_is_a_conflict_unless_adopted() {
    let (mut env, graph) = arive();
    let mut observed = echo(
        &graph,
        &[("ecs-service/arive-api", "desiredCount", json!(9))],
    );
    let service = ResourceId::new(K::EcsService, "arive-api");
    if let Some(o) = observed.get_mut(&service) {
        o.owner = Owner::Other("arive-eu".into());
    }
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    let Change::Conflict { reason } = &plan.actions[3].change else {
        panic!("conflict: {:?}", plan.actions[3]);
    };
    assert!(reason.contains("\"arive-eu\""), "{reason}");
    assert_eq!(plan.actions.len(), 4, "never touched, never deleted");

    env.spec.policy.adopt = true;
    let plan = plan_of(&graph, &observed, &env.spec.policy);
    assert_eq!(
        summary(&plan)[3..],
        pairs(&[
            ("ecs-service/arive-api", "adopt"),
            ("ecs-service/arive-api", "update"),
        ])
    );
}

#[test]
fn orphans_go_dependents_first_whatever_their_kind() {
    let graph = DesiredGraph {
        resources: vec![desired(K::EcsCluster, "c", json!({}))],
    };
    let id = |kind, name: &str| ResourceId::new(kind, name);
    let with_deps = |kind, name: &str, deps: Vec<ResourceId>| {
        let mut o = observed(kind, name, json!({}));
        o.depends_on = deps;
        o
    };
    let observed = state(&[
        observed(K::EcsCluster, "c", json!({})),
        with_deps(K::TaskDefinition, "c-old", vec![]),
        with_deps(
            K::EcsService,
            "c-old",
            vec![id(K::EcsCluster, "c"), id(K::TaskDefinition, "c-old")],
        ),
        with_deps(
            K::ScalableTarget,
            "service/c/c-old",
            vec![id(K::EcsService, "c-old")],
        ),
        with_deps(
            K::ScalingPolicy,
            "c-old-queue-out",
            vec![id(K::ScalableTarget, "service/c/c-old")],
        ),
        with_deps(
            K::MetricAlarm,
            "c-old-queue-out",
            vec![id(K::ScalingPolicy, "c-old-queue-out")],
        ),
    ]);
    let mut diffs = diff(&graph, &observed);
    diffs.reverse();
    let plan = plan(&graph, &diffs, &Policy::default(), &Holds::new());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("ecs-cluster/c", "noop"),
            ("metric-alarm/c-old-queue-out", "delete"),
            ("scaling-policy/c-old-queue-out", "delete"),
            ("scalable-target/service/c/c-old", "delete"),
            ("ecs-service/c-old", "delete"),
            ("task-definition/c-old", "delete"),
        ])
    );
}

#[test]
fn stateful_orphans_are_released_unless_the_policy_deletes_and_busy_ones_are_waited_on() {
    let nothing = DesiredGraph::default();
    let mut draining = observed(K::EcsService, "old", json!({}));
    draining.phase = Phase::Busy("service draining".into());
    let observed = state(&[observed(K::LogGroup, "/ecs/old", json!({})), draining]);
    let retain = plan_of(&nothing, &observed, &Policy::default());
    assert_eq!(
        summary(&retain),
        pairs(&[
            ("log-group//ecs/old", "release"),
            ("ecs-service/old", "wait")
        ])
    );
    let delete = Policy {
        deletion: DeletionPolicy::Delete,
        ..Policy::default()
    };
    let plan = plan_of(&nothing, &observed, &delete);
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("log-group//ecs/old", "delete"),
            ("ecs-service/old", "wait")
        ])
    );
}

#[test]
fn a_reference_to_a_created_target_is_resolved_when_applied() {
    let policy = ResourceId::new(K::ScalingPolicy, "p");
    let mut alarm = desired(K::MetricAlarm, "a", json!({"threshold": 1}));
    alarm.references.insert(
        "alarmActions".into(),
        RefField {
            reference: Reference::ArnSet {
                resources: vec![policy.clone()],
                literals: vec![],
            },
            managed: true,
        },
    );
    let graph = DesiredGraph {
        resources: vec![
            desired(K::ScalingPolicy, "p", json!({"cooldown": 60})),
            alarm,
        ],
    };
    let observed: ObservedState = state(&[observed(
        K::MetricAlarm,
        "a",
        json!({"threshold": 1, "alarmActions": ["arn:gone"]}),
    )]);
    let plan = plan_of(&graph, &observed, &Policy::default());
    assert_eq!(
        plan.actions[1].change,
        Change::Update {
            fields: vec![change(
                "alarmActions",
                Some(json!(["arn:gone"])),
                json!("(known after apply: scaling-policy/p)")
            )]
        }
    );
}

/// A database and the subnet group it needs, as AWS reports them.
fn database(kind: K, name: &str, needs: &[ResourceId]) -> crate::engine::Observed {
    let mut o = observed(kind, name, json!({"engine": "postgres"}));
    o.depends_on = needs.to_vec();
    o
}

#[test]
fn a_retained_database_keeps_what_it_needs_and_a_deleted_one_goes_first() {
    let group = ResourceId::new(K::DbSubnetGroup, "shop-postgres");
    let observed = state(&[
        observed(K::DbSubnetGroup, "shop-postgres", json!({})),
        database(K::DbInstance, "shop-postgres", std::slice::from_ref(&group)),
    ]);
    let nothing = DesiredGraph::default();
    let retain = plan_of(&nothing, &observed, &Policy::default());
    assert_eq!(
        summary(&retain),
        pairs(&[
            ("db-instance/shop-postgres", "release"),
            ("db-subnet-group/shop-postgres", "release"),
        ])
    );
    let delete = Policy {
        deletion: DeletionPolicy::Delete,
        ..Policy::default()
    };
    // The group waits until the database is gone: deleting one takes AWS minutes.
    let plan = plan_of(&nothing, &observed, &delete);
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("db-instance/shop-postgres", "delete"),
            ("db-subnet-group/shop-postgres", "wait"),
        ])
    );
}

#[test]
fn an_aurora_reader_the_spec_drops_goes_under_retain_too() {
    let cluster = ResourceId::new(K::DbCluster, "shop-postgres");
    let graph = DesiredGraph {
        resources: vec![desired(K::DbCluster, "shop-postgres", json!({}))],
    };
    let observed = state(&[
        observed(K::DbCluster, "shop-postgres", json!({})),
        database(K::DbInstance, "shop-postgres-2", &[cluster]),
    ]);
    let plan = plan_of(&graph, &observed, &Policy::default());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("db-cluster/shop-postgres", "noop"),
            ("db-instance/shop-postgres-2", "delete"),
        ])
    );
}

#[test]
fn an_instance_the_spec_wants_as_a_cluster_is_refused_and_kept_with_all_it_needs() {
    let group = ResourceId::new(K::DbParameterGroup, "shop-postgres");
    let cluster = ResourceId::new(K::DbCluster, "shop-postgres");
    let mut writer = desired(K::DbInstance, "shop-postgres-1", json!({}));
    writer.depends_on = vec![cluster.clone()];
    let mut cluster_group = desired(K::DbClusterParameterGroup, "shop-postgres", json!({}));
    cluster_group.depends_on = vec![];
    let mut wanted = desired(K::DbCluster, "shop-postgres", json!({}));
    wanted.depends_on = vec![cluster_group.id.clone()];
    let graph = DesiredGraph {
        resources: vec![cluster_group, wanted, writer],
    };
    let observed = state(&[
        observed(K::DbParameterGroup, "shop-postgres", json!({})),
        database(K::DbInstance, "shop-postgres", &[group]),
    ]);
    let plan = plan_of(&graph, &observed, &Policy::default());
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("db-cluster-parameter-group/shop-postgres", "blocked"),
            ("db-cluster/shop-postgres", "refused"),
            ("db-instance/shop-postgres-1", "blocked"),
        ]),
        "nothing is created, and the instance and its group are left as they are"
    );
    let Change::ReplacementRequired { reason, .. } = &plan.actions[1].change else {
        panic!("{:?}", plan.actions[1]);
    };
    assert!(
        reason.starts_with("shop-postgres exists as a db-instance;"),
        "{reason}"
    );

    // Allowed: the cluster is made, and the instance is released (deletion: retain).
    let allow = Policy {
        allow_replacement: true,
        ..Policy::default()
    };
    let plan = plan_of(&graph, &observed, &allow);
    assert_eq!(
        summary(&plan),
        pairs(&[
            ("db-cluster-parameter-group/shop-postgres", "create"),
            ("db-cluster/shop-postgres", "create"),
            ("db-instance/shop-postgres-1", "create"),
            ("db-instance/shop-postgres", "release"),
            ("db-parameter-group/shop-postgres", "release"),
        ])
    );
}

#[test]
fn a_value_aws_holds_for_the_window_is_scheduled_and_the_rest_updated() {
    let graph = DesiredGraph {
        resources: vec![desired(
            K::DbInstance,
            "shop-postgres",
            json!({"dbInstanceClass": "db.t3.medium", "backupRetentionPeriod": 7}),
        )],
    };
    let mut o = observed(
        K::DbInstance,
        "shop-postgres",
        json!({"dbInstanceClass": "db.t3.small", "backupRetentionPeriod": 1}),
    );
    o.pending = crate::engine::fixtures::fields(json!({"dbInstanceClass": "db.t3.medium"}));
    let plan = plan_of(&graph, &state(&[o]), &Policy::default());
    assert_eq!(
        plan.actions
            .iter()
            .map(|a| a.change.clone())
            .collect::<Vec<_>>(),
        [
            Change::Update {
                fields: vec![change("backupRetentionPeriod", Some(json!(1)), json!(7))]
            },
            Change::Scheduled {
                fields: vec![change(
                    "dbInstanceClass",
                    Some(json!("db.t3.small")),
                    json!("db.t3.medium")
                )]
            },
        ]
    );
}
