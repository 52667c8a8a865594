//! Unit tests of `engine::graph`.

use serde_json::json;

use super::*;
use crate::engine::fixtures::fields;
use crate::engine::resource::{Desired, DesiredGraph, Reference, ResourceId, ResourceKind};
use crate::spec::{parse_document, Format};
use crate::spec::{Environment, Step};
use autoscaling::{steps, Direction};

const TWO_SERVICES: &str = r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata:
  name: arive
spec:
  region: us-east-1
  tags:
    team: core
  network:
    subnets: [subnet-b, subnet-a]
    securityGroups: [sg-2, sg-1]
  ecs:
    capacityProviders: [FARGATE_SPOT, FARGATE]
    containerInsights: true
    executionRoleArn: arn:aws:iam::123456789012:role/exec
    logRetentionDays: 14
    services:
      api:
        image: repo/api:1.0
        cpu: 512
        memory: 1024
        desiredCount: 2
        port: 3000
        env:
          NODE_ENV: production
        secrets:
          DATABASE_URL: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf
        targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0123
        capacityProvider: FARGATE
        cpuArchitecture: ARM64
        taskRoleArn: arn:aws:iam::123456789012:role/api
        healthCheck:
          command: [CMD-SHELL, "curl -f http://localhost:3000/health || exit 1"]
        deployment:
          minimumHealthyPercent: 50
        autoscaling:
          minCapacity: 2
          maxCapacity: 10
          targetTracking:
            - metric: cpu
              target: 70
          queueDepth:
            queueName: jobs
            scaleOut:
              threshold: 100
              steps:
                - lower: 500
                  adjustment: 3
                - lower: 0
                  upper: 500
                  adjustment: 1
            scaleIn:
              threshold: 10
              cooldown: 120
      worker:
        image: repo/api:1.0
        cpu: 256
        memory: 512
        desiredCount: 1
"#;

fn env(yaml: &str) -> Environment {
    parse_document(yaml, Format::Yaml).expect("test spec parses")
}

fn graph() -> DesiredGraph {
    desired_graph(&env(TWO_SERVICES))
}

fn find(graph: &DesiredGraph, kind: ResourceKind, name: &str) -> Desired {
    graph
        .resources
        .iter()
        .find(|d| d.id == ResourceId::new(kind, name))
        .unwrap_or_else(|| panic!("{}/{name} in graph", kind.as_str()))
        .clone()
}

#[test]
fn ids_come_in_dependency_order() {
    let ids: Vec<String> = graph().resources.iter().map(|d| d.id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "ecs-cluster/arive-cluster",
            "log-group//ecs/arive-api",
            "log-group//ecs/arive-worker",
            "task-definition/arive-api",
            "task-definition/arive-worker",
            "ecs-service/arive-api",
            "ecs-service/arive-worker",
            "scalable-target/service/arive-cluster/arive-api",
            "scaling-policy/arive-api-cpu",
            "scaling-policy/arive-api-queue-out",
            "scaling-policy/arive-api-queue-in",
            "metric-alarm/arive-api-queue-out",
            "metric-alarm/arive-api-queue-in",
        ]
    );
}

#[test]
fn every_dependency_comes_earlier() {
    let g = graph();
    for (i, d) in g.resources.iter().enumerate() {
        for dep in &d.depends_on {
            let at = g.resources.iter().position(|r| &r.id == dep);
            assert!(
                at.is_some_and(|at| at < i),
                "{} depends on {dep}, which must come before it",
                d.id
            );
        }
    }
}

#[test]
fn dependencies_are_the_expected_ones() {
    let g = graph();
    let deps = |kind, name: &str| -> Vec<String> {
        find(&g, kind, name)
            .depends_on
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert!(deps(ResourceKind::EcsCluster, "arive-cluster").is_empty());
    assert!(deps(ResourceKind::LogGroup, "/ecs/arive-api").is_empty());
    assert_eq!(
        deps(ResourceKind::TaskDefinition, "arive-api"),
        ["log-group//ecs/arive-api"]
    );
    assert_eq!(
        deps(ResourceKind::EcsService, "arive-api"),
        ["ecs-cluster/arive-cluster", "task-definition/arive-api"]
    );
    assert_eq!(
        deps(
            ResourceKind::ScalableTarget,
            "service/arive-cluster/arive-api"
        ),
        ["ecs-service/arive-api"]
    );
    assert_eq!(
        deps(ResourceKind::ScalingPolicy, "arive-api-queue-in"),
        ["scalable-target/service/arive-cluster/arive-api"]
    );
    assert_eq!(
        deps(ResourceKind::MetricAlarm, "arive-api-queue-in"),
        ["scaling-policy/arive-api-queue-in"]
    );
}

#[test]
fn every_resource_carries_plumb_and_spec_tags() {
    for d in graph().resources {
        let tags: Vec<(&str, &str)> = d
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            tags,
            [
                ("plumb:environment", "arive"),
                ("plumb:managed-by", "plumb"),
                ("team", "core"),
            ],
            "{}",
            d.id
        );
    }
}

#[test]
fn spec_tags_cannot_override_plumb_tags() {
    let yaml = TWO_SERVICES.replace("team: core", "\"plumb:environment\": other");
    let g = desired_graph(&env(&yaml));
    assert_eq!(g.resources[0].tags[TAG_ENVIRONMENT], "arive");
}

#[test]
fn cluster_fields() {
    let d = find(&graph(), ResourceKind::EcsCluster, "arive-cluster");
    assert_eq!(
        d.fields,
        fields(json!({
            "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProvider": "FARGATE_SPOT",
            "containerInsights": "enabled",
        }))
    );
    assert!(d.create_only.is_empty());
}

#[test]
fn log_group_fields() {
    let d = find(&graph(), ResourceKind::LogGroup, "/ecs/arive-worker");
    assert_eq!(d.fields, fields(json!({"retentionInDays": 14})));
}

#[test]
fn task_definition_fields_of_a_full_service() {
    let d = find(&graph(), ResourceKind::TaskDefinition, "arive-api");
    assert_eq!(
        d.fields,
        fields(json!({
            "containerName": "api",
            "image": "repo/api:1.0",
            "cpu": 512,
            "memory": 1024,
            "cpuArchitecture": "ARM64",
            "logGroup": "/ecs/arive-api",
            "region": "us-east-1",
            "environment": {"NODE_ENV": "production"},
            "secrets": {
                "DATABASE_URL": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
            },
            "containerPort": 3000,
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
            "taskRoleArn": "arn:aws:iam::123456789012:role/api",
            "healthCheck": {
                "command": ["CMD-SHELL", "curl -f http://localhost:3000/health || exit 1"],
                "interval": 30,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 0,
            },
        }))
    );
}

#[test]
fn task_definition_leaves_out_what_the_spec_leaves_out() {
    let d = find(&graph(), ResourceKind::TaskDefinition, "arive-worker");
    assert_eq!(
        d.fields,
        fields(json!({
            "containerName": "worker",
            "image": "repo/api:1.0",
            "cpu": 256,
            "memory": 512,
            "cpuArchitecture": "X86_64",
            "logGroup": "/ecs/arive-worker",
            "region": "us-east-1",
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        }))
    );
}

#[test]
fn task_role_falls_back_to_the_cluster_role_and_command_is_kept_in_order() {
    let yaml = TWO_SERVICES
        .replace(
            "    logRetentionDays: 14",
            "    logRetentionDays: 14\n    taskRoleArn: arn:aws:iam::123456789012:role/shared",
        )
        .replace(
            "        desiredCount: 1",
            "        desiredCount: 1\n        command: [node, worker.js]",
        );
    let g = desired_graph(&env(&yaml));
    let worker = find(&g, ResourceKind::TaskDefinition, "arive-worker");
    assert_eq!(
        worker.fields["taskRoleArn"],
        json!("arn:aws:iam::123456789012:role/shared")
    );
    assert_eq!(worker.fields["command"], json!(["node", "worker.js"]));
    let api = find(&g, ResourceKind::TaskDefinition, "arive-api");
    assert_eq!(
        api.fields["taskRoleArn"],
        json!("arn:aws:iam::123456789012:role/api")
    );
}

#[test]
fn autoscaled_service_fields_and_create_only_desired_count() {
    let d = find(&graph(), ResourceKind::EcsService, "arive-api");
    assert_eq!(
        d.fields,
        fields(json!({
            "cluster": "arive-cluster",
            "capacityProvider": "FARGATE",
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-1", "sg-2"],
            "assignPublicIp": false,
            "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0123",
            "loadBalancerContainerPort": 3000,
            "minimumHealthyPercent": 50,
            "maximumPercent": 200,
            "deploymentCircuitBreaker": {"enable": true, "rollback": true},
        }))
    );
    assert_eq!(d.create_only, fields(json!({"desiredCount": 2})));
    let td = &d.references["taskDefinition"];
    assert!(td.managed);
    assert_eq!(
        td.reference,
        Reference::Arn(ResourceId::new(ResourceKind::TaskDefinition, "arive-api"))
    );
}

#[test]
fn static_service_manages_desired_count() {
    let d = find(&graph(), ResourceKind::EcsService, "arive-worker");
    assert_eq!(
        d.fields,
        fields(json!({
            "cluster": "arive-cluster",
            "desiredCount": 1,
            "capacityProvider": "FARGATE_SPOT",
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-1", "sg-2"],
            "assignPublicIp": false,
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
            "deploymentCircuitBreaker": {"enable": true, "rollback": true},
        }))
    );
    assert!(d.create_only.is_empty());
}

#[test]
fn service_without_network_has_no_network_fields() {
    let yaml = TWO_SERVICES.replace(
        "  network:\n    subnets: [subnet-b, subnet-a]\n    securityGroups: [sg-2, sg-1]\n",
        "",
    );
    let g = desired_graph(&env(&yaml));
    let d = find(&g, ResourceKind::EcsService, "arive-worker");
    for absent in ["subnets", "securityGroups", "assignPublicIp"] {
        assert!(!d.fields.contains_key(absent), "{absent} must be absent");
    }
}

#[test]
fn scalable_target_fields() {
    let d = find(
        &graph(),
        ResourceKind::ScalableTarget,
        "service/arive-cluster/arive-api",
    );
    assert_eq!(
        d.fields,
        fields(json!({"minCapacity": 2, "maxCapacity": 10}))
    );
}

#[test]
fn target_tracking_policy_fields() {
    let d = find(&graph(), ResourceKind::ScalingPolicy, "arive-api-cpu");
    assert_eq!(
        d.fields,
        fields(json!({
            "resourceId": "service/arive-cluster/arive-api",
            "policyType": "TargetTrackingScaling",
            "predefinedMetricType": "ECSServiceAverageCPUUtilization",
            "targetValue": 70,
            "scaleOutCooldown": 60,
            "scaleInCooldown": 300,
            "disableScaleIn": false,
        }))
    );
}

#[test]
fn step_policies_sort_steps_and_default_them() {
    let g = graph();
    let out = find(&g, ResourceKind::ScalingPolicy, "arive-api-queue-out");
    assert_eq!(
        out.fields,
        fields(json!({
            "resourceId": "service/arive-cluster/arive-api",
            "policyType": "StepScaling",
            "adjustmentType": "ChangeInCapacity",
            "cooldown": 60,
            "metricAggregationType": "Average",
            "steps": [
                {"lower": 0, "upper": 500, "adjustment": 1},
                {"lower": 500, "adjustment": 3},
            ],
        }))
    );
    let scale_in = find(&g, ResourceKind::ScalingPolicy, "arive-api-queue-in");
    assert_eq!(scale_in.fields["cooldown"], json!(120));
    assert_eq!(
        scale_in.fields["steps"],
        json!([{"upper": 0, "adjustment": -1}])
    );
}

#[test]
fn default_scale_out_step_is_plus_one() {
    assert_eq!(
        steps(&[], Direction::Out),
        json!([{"lower": 0, "adjustment": 1}])
    );
}

#[test]
fn open_lower_bound_sorts_first_and_fractions_stay_fractions() {
    let s = |lower, upper, adjustment| Step {
        lower,
        upper,
        adjustment,
    };
    assert_eq!(
        steps(
            &[s(Some(-10.5), Some(0.0), -1), s(None, Some(-10.5), -2)],
            Direction::In
        ),
        json!([{"upper": -10.5, "adjustment": -2}, {"lower": -10.5, "upper": 0, "adjustment": -1}])
    );
}

#[test]
fn queue_alarms_fields() {
    let g = graph();
    let out = find(&g, ResourceKind::MetricAlarm, "arive-api-queue-out");
    assert_eq!(
        out.fields,
        fields(json!({
            "namespace": "AWS/SQS",
            "metricName": "ApproximateNumberOfMessagesVisible",
            "dimensions": {"QueueName": "jobs"},
            "statistic": "Average",
            "period": 60,
            "evaluationPeriods": 2,
            "threshold": 100,
            "comparisonOperator": "GreaterThanOrEqualToThreshold",
            "treatMissingData": "missing",
        }))
    );
    let policy = |name: &str| ResourceId::new(ResourceKind::ScalingPolicy, name);
    assert_eq!(
        out.references["alarmActions"].reference,
        Reference::ArnSet {
            resources: vec![policy("arive-api-queue-out")],
            literals: vec![],
        }
    );
    let scale_in = find(&g, ResourceKind::MetricAlarm, "arive-api-queue-in");
    assert_eq!(
        scale_in.fields["comparisonOperator"],
        json!("LessThanThreshold")
    );
    assert_eq!(scale_in.fields["threshold"], json!(10));
    assert_eq!(
        scale_in.references["alarmActions"].reference.targets(),
        [&policy("arive-api-queue-in")]
    );
}

#[test]
fn rabbitmq_queue_alarm_uses_the_broker_metric() {
    let yaml = TWO_SERVICES.replace(
        "            queueName: jobs\n",
        "            queueName: jobs\n            source: rabbitmq\n",
    );
    let g = desired_graph(&env(&yaml));
    let out = find(&g, ResourceKind::MetricAlarm, "arive-api-queue-out");
    assert_eq!(out.fields["namespace"], json!("AWS/AmazonMQ"));
    assert_eq!(out.fields["metricName"], json!("MessageCount"));
    assert_eq!(
        out.fields["dimensions"],
        json!({"Broker": "arive-rabbitmq", "VirtualHost": "/", "Queue": "jobs"})
    );
}

#[test]
fn no_ecs_means_no_resources() {
    let e = env("apiVersion: plumb.dev/v1\nkind: Environment\nmetadata: {name: arive}\nspec: {region: us-east-1}\n");
    assert!(desired_graph(&e).resources.is_empty());
}

#[test]
fn no_field_is_ever_null() {
    for d in graph().resources {
        for (k, v) in d.fields.iter().chain(&d.create_only) {
            assert!(!v.is_null(), "{}.{k} is null", d.id);
        }
    }
}

#[test]
fn ignored_fields_move_to_create_only() {
    let yaml = TWO_SERVICES.replace(
            "  region: us-east-1\n",
            "  region: us-east-1\n  policy:\n    ignore:\n      - path: ecs.services.*.image\n      - path: ecs.services.api.env.FEATURE\n      - path: ecs.services.api.autoscaling.targetTracking.0\n",
        );
    let g = desired_graph(&env(&yaml));
    for svc in ["arive-api", "arive-worker"] {
        let td = find(&g, ResourceKind::TaskDefinition, svc);
        assert!(!td.fields.contains_key("image"));
        assert_eq!(td.create_only["image"], json!("repo/api:1.0"));
        assert!(td.fields.contains_key("cpu"));
        // Ignoring the image leaves the service's revision managed.
        let service = find(&g, ResourceKind::EcsService, svc);
        assert!(service.references["taskDefinition"].managed);
    }
    let api = find(&g, ResourceKind::TaskDefinition, "arive-api");
    assert!(api.create_only.contains_key("environment"));
    assert!(api.fields.contains_key("secrets"));
    let cpu = find(&g, ResourceKind::ScalingPolicy, "arive-api-cpu");
    assert!(cpu.fields.keys().eq(["resourceId"]));
    assert_eq!(cpu.create_only.len(), 6);
}

#[test]
fn ignore_rule_matching() {
    let m = ignore_rule_matches;
    assert!(m("ecs.services.api.image", "ecs.services.api.image", false));
    assert!(m("ecs.services.*.image", "ecs.services.api.image", false));
    assert!(m("*.services.*.*", "ecs.services.api.image", false));
    assert!(!m("ecs.services.*.image", "ecs.services.api.cpu", false));
    assert!(!m(
        "ecs.services.web.image",
        "ecs.services.api.image",
        false
    ));
    // A broader rule covers everything below it.
    assert!(m("ecs.services.api", "ecs.services.api.image", false));
    assert!(m("ecs", "ecs.services.api.image", false));
    // A narrower rule covers a field only when the field is compound.
    assert!(!m(
        "ecs.services.api.image.tag",
        "ecs.services.api.image",
        false
    ));
    assert!(m("ecs.services.api.env.FLAG", "ecs.services.api.env", true));
    assert!(!m(
        "ecs.services.api.env.FLAG",
        "ecs.services.api.secrets",
        true
    ));
    // Segments are whole: no partial matches.
    assert!(!m("ecs.services.ap", "ecs.services.api.image", false));
    assert!(m("*.securityGroups", "network.securityGroups", false));
    assert!(!m(
        "*.securityGroups",
        "ecs.services.api.securityGroups",
        false
    ));
}
