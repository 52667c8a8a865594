//! Each service's write calls, with request parameters shaped as CloudTrail records them.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::*;
use crate::cloudtrail::parse::{parse, Parsed, DETAIL_TYPE};

/// The EventBridge event of `name` on `event_source`, made by a person with the CLI.
fn message(event_source: &str, name: &str, request: Value) -> String {
    let source =
        Source::from_event_source(event_source).map_or("aws.unknown", |s| s.eventbridge_source());
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": DETAIL_TYPE,
        "source": source,
        "account": "111122223333",
        "time": "2025-03-01T12:00:03Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEEXAMPLE",
                "arn": "arn:aws:iam::111122223333:user/alice",
                "accountId": "111122223333",
                "accessKeyId": "AKIAEXAMPLEEXAMPLE",
                "userName": "alice"
            },
            "eventTime": "2025-03-01T12:00:00Z",
            "eventSource": event_source,
            "eventName": name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.debian.12",
            "requestParameters": request,
            "responseElements": null,
            "requestID": "f4b2a1c0-0000-4000-8000-000000000001",
            "eventID": "0c1d2e3f-0000-4000-8000-000000000002",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "111122223333",
            "eventCategory": "Management"
        }
    })
    .to_string()
}

fn event(event_source: &str, name: &str, request: Value) -> Event {
    match parse(&message(event_source, name, request)) {
        Ok(Parsed::Call(event)) => *event,
        other => panic!("{name}: {other:?}"),
    }
}

fn named(kind: ResourceKind, name: &str) -> Target {
    Target::named(kind, name)
}

fn scoped(kind: ResourceKind, name: &str, parent: ResourceKind, parent_name: &str) -> Target {
    Target::Resource {
        id: ResourceId::new(kind, name),
        within: Some(ResourceId::new(parent, parent_name)),
    }
}

/// The targets of a mapped call; panics when the call is not mapped or malformed.
fn found(event_source: &str, name: &str, request: Value) -> Vec<Target> {
    targets(&event(event_source, name, request))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .unwrap_or_else(|| panic!("{name} is not mapped"))
}

fn not_mapped(event_source: &str, name: &str, request: Value) {
    assert_eq!(
        targets(&event(event_source, name, request)),
        Ok(None),
        "{name}"
    );
}

const ECS: &str = "ecs.amazonaws.com";
const AUTOSCALING: &str = "application-autoscaling.amazonaws.com";
const CLOUDWATCH: &str = "monitoring.amazonaws.com";
const LOGS: &str = "logs.amazonaws.com";
const RDS: &str = "rds.amazonaws.com";
const ELASTICACHE: &str = "elasticache.amazonaws.com";
const MQ: &str = "amazonmq.amazonaws.com";

#[test]
fn ecs_service_calls_name_the_service_in_its_cluster_by_name_or_arn() {
    let api = || {
        vec![scoped(
            ResourceKind::EcsService,
            "shop-api",
            ResourceKind::EcsCluster,
            "shop-cluster",
        )]
    };
    let update = json!({
        "cluster": "shop-cluster", "service": "shop-api", "desiredCount": 5,
        "forceNewDeployment": false
    });
    assert_eq!(found(ECS, "UpdateService", update), api());
    let by_arn = json!({
        "cluster": "arn:aws:ecs:eu-west-1:111122223333:cluster/shop-cluster",
        "service": "arn:aws:ecs:eu-west-1:111122223333:service/shop-cluster/shop-api",
        "taskDefinition": "shop-api:8"
    });
    assert_eq!(found(ECS, "UpdateService", by_arn), api());
    // The service's ARN names its cluster, which wins over none given.
    let arn_only = json!({
        "service": "arn:aws:ecs:eu-west-1:111122223333:service/shop-cluster/shop-api"
    });
    assert_eq!(found(ECS, "UpdateService", arn_only), api());
    let created = json!({
        "cluster": "shop-cluster", "serviceName": "shop-api",
        "taskDefinition": "shop-api:1", "desiredCount": 2, "launchType": "FARGATE"
    });
    assert_eq!(found(ECS, "CreateService", created), api());
    let deleted = json!({"cluster": "shop-cluster", "service": "shop-api", "force": true});
    assert_eq!(found(ECS, "DeleteService", deleted), api());
}

#[test]
fn an_ecs_call_without_a_cluster_acts_on_the_default_cluster() {
    let update = json!({"service": "shop-api", "desiredCount": 1});
    assert_eq!(
        found(ECS, "UpdateService", update),
        [scoped(
            ResourceKind::EcsService,
            "shop-api",
            ResourceKind::EcsCluster,
            "default"
        )]
    );
    // The old service ARN names no cluster: the parameter (or the default) says which.
    let old_arn = json!({
        "cluster": "shop-cluster",
        "service": "arn:aws:ecs:eu-west-1:111122223333:service/shop-api"
    });
    assert_eq!(
        found(ECS, "UpdateService", old_arn),
        [scoped(
            ResourceKind::EcsService,
            "shop-api",
            ResourceKind::EcsCluster,
            "shop-cluster"
        )]
    );
}

#[test]
fn ecs_cluster_and_task_definition_calls() {
    let cluster = || vec![named(ResourceKind::EcsCluster, "shop-cluster")];
    assert_eq!(
        found(ECS, "CreateCluster", json!({"clusterName": "shop-cluster"})),
        cluster()
    );
    let providers = json!({
        "cluster": "shop-cluster",
        "capacityProviders": ["FARGATE"],
        "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]
    });
    assert_eq!(
        found(ECS, "PutClusterCapacityProviders", providers),
        cluster()
    );
    let settings = json!({
        "cluster": "arn:aws:ecs:eu-west-1:111122223333:cluster/shop-cluster",
        "settings": [{"name": "containerInsights", "value": "enabled"}]
    });
    assert_eq!(found(ECS, "UpdateClusterSettings", settings), cluster());

    let family = || vec![named(ResourceKind::TaskDefinition, "shop-api")];
    let register = json!({
        "family": "shop-api", "networkMode": "awsvpc", "cpu": "512", "memory": "1024",
        "containerDefinitions": [{"name": "api", "image": "registry.example.com/api:2"}]
    });
    assert_eq!(found(ECS, "RegisterTaskDefinition", register), family());
    for revision in [
        "shop-api:7",
        "arn:aws:ecs:eu-west-1:111122223333:task-definition/shop-api:7",
    ] {
        let request = json!({ "taskDefinition": revision });
        assert_eq!(found(ECS, "DeregisterTaskDefinition", request), family());
    }
    let deleted = json!({"taskDefinitions": ["shop-api:6", "shop-api:7", "shop-worker:3"]});
    assert_eq!(
        found(ECS, "DeleteTaskDefinitions", deleted),
        [
            named(ResourceKind::TaskDefinition, "shop-api"),
            named(ResourceKind::TaskDefinition, "shop-worker")
        ]
    );
}

#[test]
fn ecs_tags_name_what_their_arn_names_and_a_task_names_nothing() {
    let tagged = json!({
        "resourceArn": "arn:aws:ecs:eu-west-1:111122223333:service/shop-cluster/shop-api",
        "tags": [{"key": "team", "value": "payments"}]
    });
    assert_eq!(
        found(ECS, "TagResource", tagged),
        [scoped(
            ResourceKind::EcsService,
            "shop-api",
            ResourceKind::EcsCluster,
            "shop-cluster"
        )]
    );
    let untagged = json!({
        "resourceArn": "arn:aws:ecs:eu-west-1:111122223333:cluster/shop-cluster",
        "tagKeys": ["team"]
    });
    assert_eq!(
        found(ECS, "UntagResource", untagged),
        [named(ResourceKind::EcsCluster, "shop-cluster")]
    );
    let task = json!({
        "resourceArn": "arn:aws:ecs:eu-west-1:111122223333:task/shop-cluster/0123456789abcdef",
        "tags": [{"key": "team", "value": "payments"}]
    });
    assert_eq!(found(ECS, "TagResource", task), []);
}

#[test]
fn ecs_calls_that_change_no_configuration_are_not_mapped() {
    let run = json!({"cluster": "shop-cluster", "taskDefinition": "shop-api:7", "count": 1});
    not_mapped(ECS, "RunTask", run);
    let stop = json!({"cluster": "shop-cluster", "task": "0123456789abcdef"});
    not_mapped(ECS, "StopTask", stop);
}

#[test]
fn autoscaling_calls_name_ecs_targets_and_their_policies_only() {
    let register = json!({
        "serviceNamespace": "ecs",
        "resourceId": "service/shop-cluster/shop-api",
        "scalableDimension": "ecs:service:DesiredCount",
        "minCapacity": 2, "maxCapacity": 10
    });
    assert_eq!(
        found(AUTOSCALING, "RegisterScalableTarget", register),
        [named(
            ResourceKind::ScalableTarget,
            "service/shop-cluster/shop-api"
        )]
    );
    let policy = json!({
        "policyName": "shop-api-cpu",
        "serviceNamespace": "ecs",
        "resourceId": "service/shop-cluster/shop-api",
        "scalableDimension": "ecs:service:DesiredCount",
        "policyType": "TargetTrackingScaling",
        "targetTrackingScalingPolicyConfiguration": {"targetValue": 70.0}
    });
    assert_eq!(
        found(AUTOSCALING, "PutScalingPolicy", policy),
        [scoped(
            ResourceKind::ScalingPolicy,
            "shop-api-cpu",
            ResourceKind::ScalableTarget,
            "service/shop-cluster/shop-api"
        )]
    );
    let table = json!({
        "serviceNamespace": "dynamodb",
        "resourceId": "table/orders",
        "scalableDimension": "dynamodb:table:ReadCapacityUnits",
        "minCapacity": 5, "maxCapacity": 100
    });
    assert_eq!(found(AUTOSCALING, "RegisterScalableTarget", table), []);
}

#[test]
fn cloudwatch_alarm_calls_name_every_alarm_and_set_alarm_state_is_not_mapped() {
    let put = json!({
        "alarmName": "shop-api-cpu-high", "metricName": "CPUUtilization",
        "namespace": "AWS/ECS", "statistic": "Average", "period": 60,
        "evaluationPeriods": 3, "threshold": 80.0,
        "comparisonOperator": "GreaterThanThreshold"
    });
    assert_eq!(
        found(CLOUDWATCH, "PutMetricAlarm", put),
        [named(ResourceKind::MetricAlarm, "shop-api-cpu-high")]
    );
    let deleted = json!({"alarmNames": ["shop-api-cpu-high", "shop-db-cpu-high"]});
    assert_eq!(
        found(CLOUDWATCH, "DeleteAlarms", deleted),
        [
            named(ResourceKind::MetricAlarm, "shop-api-cpu-high"),
            named(ResourceKind::MetricAlarm, "shop-db-cpu-high")
        ]
    );
    let disabled = json!({"alarmNames": ["shop-api-cpu-high"]});
    assert_eq!(
        found(CLOUDWATCH, "DisableAlarmActions", disabled),
        [named(ResourceKind::MetricAlarm, "shop-api-cpu-high")]
    );
    let tagged = json!({
        "resourceARN": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:shop-api-cpu-high",
        "tags": [{"key": "team", "value": "payments"}]
    });
    assert_eq!(
        found(CLOUDWATCH, "TagResource", tagged),
        [named(ResourceKind::MetricAlarm, "shop-api-cpu-high")]
    );
    let state = json!({
        "alarmName": "shop-api-cpu-high", "stateValue": "ALARM", "stateReason": "testing"
    });
    not_mapped(CLOUDWATCH, "SetAlarmState", state);
}

#[test]
fn log_group_calls_name_the_group_and_log_streams_are_not_mapped() {
    let group = || vec![named(ResourceKind::LogGroup, "/ecs/shop-api")];
    let retention = json!({"logGroupName": "/ecs/shop-api", "retentionInDays": 30});
    assert_eq!(found(LOGS, "PutRetentionPolicy", retention), group());
    assert_eq!(
        found(
            LOGS,
            "DeleteLogGroup",
            json!({"logGroupName": "/ecs/shop-api"})
        ),
        group()
    );
    let tagged = json!({
        "resourceArn": "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/shop-api:*",
        "tags": {"team": "payments"}
    });
    assert_eq!(found(LOGS, "TagResource", tagged), group());
    let stream = json!({
        "logGroupName": "/ecs/shop-api", "logStreamName": "ecs/api/0123456789abcdef"
    });
    not_mapped(LOGS, "CreateLogStream", stream);
}

#[test]
fn rds_calls_name_instances_clusters_and_groups_in_lower_case() {
    let modify = json!({
        "dBInstanceIdentifier": "Shop-Postgres", "dBInstanceClass": "db.t4g.large",
        "applyImmediately": true, "masterUserPassword": "****"
    });
    assert_eq!(
        found(RDS, "ModifyDBInstance", modify),
        [named(ResourceKind::DbInstance, "shop-postgres")]
    );
    let renamed = json!({
        "dBInstanceIdentifier": "shop-postgres",
        "newDBInstanceIdentifier": "shop-postgres-old",
        "applyImmediately": true
    });
    assert_eq!(
        found(RDS, "ModifyDBInstance", renamed),
        [
            named(ResourceKind::DbInstance, "shop-postgres"),
            named(ResourceKind::DbInstance, "shop-postgres-old")
        ]
    );
    let cluster = json!({
        "dBClusterIdentifier": "shop-postgres",
        "serverlessV2ScalingConfiguration": {"minCapacity": 0.5, "maxCapacity": 8.0}
    });
    assert_eq!(
        found(RDS, "ModifyDBCluster", cluster),
        [named(ResourceKind::DbCluster, "shop-postgres")]
    );
    let parameters = json!({
        "dBParameterGroupName": "shop-postgres",
        "parameters": [{"parameterName": "work_mem", "parameterValue": "65536",
                        "applyMethod": "immediate"}]
    });
    assert_eq!(
        found(RDS, "ModifyDBParameterGroup", parameters),
        [named(ResourceKind::DbParameterGroup, "shop-postgres")]
    );
    let subnets = json!({
        "dBSubnetGroupName": "shop-postgres",
        "dBSubnetGroupDescription": "shop (Plumb)",
        "subnetIds": ["subnet-0a", "subnet-0b"]
    });
    assert_eq!(
        found(RDS, "ModifyDBSubnetGroup", subnets),
        [named(ResourceKind::DbSubnetGroup, "shop-postgres")]
    );
    for (arn, kind) in [
        ("db:shop-postgres-1", ResourceKind::DbInstance),
        ("cluster:shop-postgres", ResourceKind::DbCluster),
        (
            "cluster-pg:shop-postgres",
            ResourceKind::DbClusterParameterGroup,
        ),
        ("subgrp:shop-postgres", ResourceKind::DbSubnetGroup),
    ] {
        let request = json!({
            "resourceName": format!("arn:aws:rds:eu-west-1:111122223333:{arn}"),
            "tags": [{"key": "team", "value": "payments"}]
        });
        let name = arn.split_once(':').map(|(_, n)| n).unwrap_or_default();
        assert_eq!(
            found(RDS, "AddTagsToResource", request),
            [named(kind, name)],
            "{arn}"
        );
    }
    not_mapped(
        RDS,
        "RebootDBInstance",
        json!({"dBInstanceIdentifier": "shop-postgres"}),
    );
}

#[test]
fn elasticache_calls_name_the_replication_group_and_its_groups() {
    let modify = json!({
        "replicationGroupId": "shop-redis", "cacheNodeType": "cache.t4g.medium",
        "applyImmediately": true
    });
    assert_eq!(
        found(ELASTICACHE, "ModifyReplicationGroup", modify),
        [named(ResourceKind::ReplicationGroup, "shop-redis")]
    );
    let parameters = json!({
        "cacheParameterGroupName": "shop-redis",
        "parameterNameValues": [{"parameterName": "maxmemory-policy",
                                 "parameterValue": "allkeys-lru"}]
    });
    assert_eq!(
        found(ELASTICACHE, "ModifyCacheParameterGroup", parameters),
        [named(ResourceKind::CacheParameterGroup, "shop-redis")]
    );
    let tagged = json!({
        "resourceName": "arn:aws:elasticache:eu-west-1:111122223333:replicationgroup:shop-redis",
        "tags": [{"key": "team", "value": "payments"}]
    });
    assert_eq!(
        found(ELASTICACHE, "AddTagsToResource", tagged),
        [named(ResourceKind::ReplicationGroup, "shop-redis")]
    );
}

#[test]
fn mq_calls_name_a_broker_by_id_once_it_exists() {
    let update = json!({
        "brokerId": "b-1234a5b6-78cd-901e-2f34-3a45b6c178d9",
        "hostInstanceType": "mq.m5.large"
    });
    assert_eq!(
        found(MQ, "UpdateBroker", update),
        [Target::Broker(
            "b-1234a5b6-78cd-901e-2f34-3a45b6c178d9".to_owned()
        )]
    );
    let created = json!({
        "brokerName": "shop-rabbitmq", "engineType": "RabbitMQ",
        "engineVersion": "3.13", "hostInstanceType": "mq.m5.large",
        "deploymentMode": "SINGLE_INSTANCE", "publiclyAccessible": false,
        "users": [{"username": "plumb", "password": "***"}]
    });
    assert_eq!(
        found(MQ, "CreateBroker", created),
        [named(ResourceKind::MqBroker, "shop-rabbitmq")]
    );
    let tagged = json!({
        "resourceArn": "arn:aws:mq:eu-west-1:111122223333:broker:shop-rabbitmq:b-1234a5b6-78cd-901e-2f34-3a45b6c178d9",
        "tags": {"team": "payments"}
    });
    assert_eq!(
        found(MQ, "CreateTags", tagged),
        [named(ResourceKind::MqBroker, "shop-rabbitmq")]
    );
}

#[test]
fn a_mapped_call_without_its_names_is_malformed() {
    for (source, name, request) in [
        (ECS, "UpdateService", json!({"cluster": "shop-cluster"})),
        (ECS, "UpdateService", json!({"service": ""})),
        (ECS, "UpdateService", json!({"service": 7})),
        (ECS, "UpdateService", Value::Null),
        (CLOUDWATCH, "DeleteAlarms", json!({"alarmNames": []})),
        (CLOUDWATCH, "DeleteAlarms", json!({"alarmNames": [1, null]})),
        (
            RDS,
            "ModifyDBInstance",
            json!({"dBInstanceIdentifier": "a\u{0}b"}),
        ),
        (MQ, "UpdateBroker", json!({"brokerId": ["b-1"]})),
    ] {
        let event = event(source, name, request.clone());
        assert!(targets(&event).is_err(), "{name} {request}");
    }
}

#[test]
fn keys_are_matched_without_regard_to_case() {
    let request = json!({"DBInstanceIdentifier": "shop-postgres"});
    assert_eq!(
        found(RDS, "ModifyDBInstance", request),
        [named(ResourceKind::DbInstance, "shop-postgres")]
    );
}

#[test]
fn malformed_arns_name_nothing() {
    for arn in [
        "arn:aws:ecs",
        "arn:aws:ecs:eu-west-1:111122223333:service/",
        "arn:aws:ecs:eu-west-1:111122223333:service//shop-api",
        "arn:aws:sqs:eu-west-1:111122223333:service/shop-cluster/shop-api",
        "not-an-arn:aws:ecs:eu-west-1:111122223333:cluster/shop-cluster",
    ] {
        let request = json!({ "resourceArn": arn, "tags": [] });
        assert_eq!(found(ECS, "TagResource", request), [], "{arn}");
    }
}

/// `deploy/eventbridge-rule.json`: the rule the deployment guide creates.
const RULE: &str = include_str!("../../../../deploy/eventbridge-rule.json");

/// EventBridge's default quota on an event pattern's length.
const PATTERN_QUOTA: usize = 2048;

#[test]
fn the_eventbridge_rule_sends_exactly_the_calls_the_parser_maps() {
    let rule: Value = serde_json::from_str(RULE).expect("the rule is JSON");
    let strings = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    };
    assert_eq!(
        strings(&rule["detail-type"]),
        BTreeSet::from([DETAIL_TYPE.to_owned()])
    );
    let sources = strings(&rule["source"]);
    for source in &sources {
        assert!(
            Source::from_eventbridge_source(source).is_some(),
            "the parser does not read {source}"
        );
    }
    let every: BTreeSet<String> = Source::VARIANTS
        .iter()
        .map(|s| s.eventbridge_source().to_owned())
        .collect();
    assert_eq!(sources, every);
    let calls: BTreeSet<String> = Source::VARIANTS
        .iter()
        .flat_map(|s| s.calls())
        .map(str::to_owned)
        .collect();
    assert_eq!(strings(&rule["detail"]["eventName"]), calls);
    let compact = serde_json::to_string(&rule).expect("serialises");
    assert!(
        compact.len() <= PATTERN_QUOTA,
        "{} characters, over EventBridge's {PATTERN_QUOTA}",
        compact.len()
    );
}

#[test]
fn every_source_is_read_back_from_its_names() {
    for source in Source::VARIANTS {
        assert_eq!(
            Source::from_event_source(source.event_source()),
            Some(*source)
        );
        assert_eq!(
            Source::from_eventbridge_source(source.eventbridge_source()),
            Some(*source)
        );
        assert!(source.calls().next().is_some(), "{source:?} maps no call");
    }
}
