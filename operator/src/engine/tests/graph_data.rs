//! Unit tests of the data tier's graph: PostgreSQL as an instance or an Aurora cluster, and
//! the alarm presets with their severities and topics.

use serde_json::json;

use super::*;
use crate::engine::resource::{Desired, DesiredGraph, ResourceId, ResourceKind as K};
use crate::spec::{parse_document, Format};

const DATA: &str = r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {name: shop}
spec:
  region: us-east-1
  alerts:
    snsTopicArn: arn:aws:sns:us-east-1:123456789012:shop-alerts
    topics:
      critical: arn:aws:sns:us-east-1:123456789012:shop-pager
  network:
    subnets: [subnet-b, subnet-a]
    securityGroups: [sg-1]
  postgres:
    engineVersion: "15.4"
    databaseName: shop
    masterPassword: {managed: false, secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-AbCdEf"}
    parameters: {rds.force_ssl: 1}
    aurora: {minCapacity: 0.5, maxCapacity: 4, readers: 1}
  redis:
    engineVersion: "7.1"
    nodeType: cache.t4g.small
  rabbitmq:
    engineVersion: "3.13"
    instanceType: mq.t3.micro
    username: shop
    passwordSecretArn: arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/mq-AbCdEf
  alarms:
    presets:
      postgres: {cpuHigh: 90, connectionsHigh: 500, severity: {cpuHigh: critical}}
      redis: {evictionsHigh: 1000}
      rabbitmq: {messagesReadyHigh: 10000}
    custom:
      errors:
        namespace: Shop
        metricName: Errors
        threshold: 5
        severity: info
"#;

fn graph_of(yaml: &str) -> DesiredGraph {
    desired_graph(&parse_document(yaml, Format::Yaml).unwrap())
}

fn find(graph: &DesiredGraph, kind: K, name: &str) -> Desired {
    graph
        .get(&ResourceId::new(kind, name))
        .unwrap_or_else(|| panic!("{kind:?} {name} in {:#?}", graph.resources))
        .clone()
}

#[test]
fn the_data_tier_comes_in_dependency_order_and_aurora_is_a_cluster_with_its_instances() {
    let graph = graph_of(DATA);
    let data: Vec<String> = graph
        .resources
        .iter()
        .filter(|r| !matches!(r.id.kind, K::MetricAlarm))
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(
        data,
        [
            "db-subnet-group/shop-postgres",
            "db-cluster-parameter-group/shop-postgres",
            "db-cluster/shop-postgres",
            "db-instance/shop-postgres-1",
            "db-instance/shop-postgres-2",
            "cache-subnet-group/shop-redis",
            "replication-group/shop-redis",
            "mq-broker/shop-rabbitmq",
        ]
    );
    let cluster = find(&graph, K::DbCluster, "shop-postgres");
    assert_eq!(
        cluster.fields["serverlessV2ScalingConfiguration"],
        json!({"minCapacity": 0.5, "maxCapacity": 4})
    );
    assert_eq!(cluster.fields["engine"], json!("aurora-postgresql"));
    assert_eq!(
        cluster.fields["dbClusterParameterGroupName"],
        json!("shop-postgres")
    );
    // The password is never a field: the secret's ARN is read at creation only.
    assert_eq!(
        cluster.create_only["masterUserSecretArn"],
        json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-AbCdEf")
    );
    assert!(!cluster.fields.contains_key("masterUserSecretArn"));
    assert_eq!(cluster.create_only["databaseName"], json!("shop"));
    let group = find(&graph, K::DbClusterParameterGroup, "shop-postgres");
    assert_eq!(group.fields["parameters"], json!({"rds.force_ssl": "1"}));
    assert_eq!(group.create_only["family"], json!("aurora-postgresql15"));
    let subnets = find(&graph, K::DbSubnetGroup, "shop-postgres");
    assert_eq!(subnets.fields["subnetIds"], json!(["subnet-a", "subnet-b"]));
    let reader = find(&graph, K::DbInstance, "shop-postgres-2");
    assert_eq!(reader.fields["dbInstanceClass"], json!("db.serverless"));
    assert_eq!(
        reader.depends_on,
        [ResourceId::new(K::DbCluster, "shop-postgres")]
    );
}

#[test]
fn an_rds_instance_uses_a_db_parameter_group_and_rds_managed_password_by_default() {
    let yaml = DATA.replace(
        "aurora: {minCapacity: 0.5, maxCapacity: 4, readers: 1}",
        "instance: {class: db.t3.small, allocatedStorage: 20}",
    );
    let yaml = yaml.replace(
        r#"masterPassword: {managed: false, secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-AbCdEf"}"#,
        "",
    );
    let graph = graph_of(&yaml);
    let db = find(&graph, K::DbInstance, "shop-postgres");
    assert_eq!(db.fields["engine"], json!("postgres"));
    assert_eq!(db.fields["storageType"], json!("gp3"));
    assert_eq!(db.fields["dbParameterGroupName"], json!("shop-postgres"));
    assert_eq!(db.create_only["manageMasterUserPassword"], json!(true));
    assert!(!db.create_only.contains_key("masterUserSecretArn"));
    assert_eq!(
        db.depends_on,
        [
            ResourceId::new(K::DbSubnetGroup, "shop-postgres"),
            ResourceId::new(K::DbParameterGroup, "shop-postgres"),
        ]
    );
    let group = find(&graph, K::DbParameterGroup, "shop-postgres");
    assert_eq!(group.create_only["family"], json!("postgres15"));
    // An instance has a free storage alarm; Aurora storage grows by itself.
    let storage = find(&graph, K::MetricAlarm, "shop-postgres-free-storage-low");
    assert_eq!(storage.fields["threshold"], json!(2_147_483_648_u64));
    assert_eq!(
        storage.fields["comparisonOperator"],
        json!("LessThanThreshold")
    );
    assert_eq!(
        storage.fields["dimensions"],
        json!({"DBInstanceIdentifier": "shop-postgres"})
    );
    // Free storage low is critical unless the preset says otherwise.
    assert_eq!(
        storage.fields["alarmActions"],
        json!(["arn:aws:sns:us-east-1:123456789012:shop-pager"])
    );
}

#[test]
fn every_component_has_its_presets_each_notifying_the_topic_of_its_severity() {
    let graph = graph_of(DATA);
    let alarms: Vec<(String, serde_json::Value)> = graph
        .resources
        .iter()
        .filter(|r| r.id.kind == K::MetricAlarm)
        .map(|r| (r.id.name.clone(), r.fields["alarmActions"][0].clone()))
        .collect();
    let pager = json!("arn:aws:sns:us-east-1:123456789012:shop-pager");
    let alerts = json!("arn:aws:sns:us-east-1:123456789012:shop-alerts");
    assert_eq!(
        alarms,
        [
            ("shop-postgres-cpu-high".to_owned(), pager),
            ("shop-postgres-connections-high".to_owned(), alerts.clone()),
            ("shop-redis-cpu-high".to_owned(), alerts.clone()),
            ("shop-redis-memory-high".to_owned(), alerts.clone()),
            ("shop-redis-evictions-high".to_owned(), alerts.clone()),
            ("shop-rabbitmq-cpu-high".to_owned(), alerts.clone()),
            (
                "shop-rabbitmq-messages-ready-high".to_owned(),
                alerts.clone()
            ),
            // Info has no topic of its own: the default one.
            ("shop-errors".to_owned(), alerts),
        ]
    );
    let cpu = find(&graph, K::MetricAlarm, "shop-postgres-cpu-high");
    assert_eq!(
        cpu.fields["dimensions"],
        json!({"DBClusterIdentifier": "shop-postgres"})
    );
    assert_eq!(cpu.fields["threshold"], json!(90));
    assert_eq!(cpu.fields["okActions"], cpu.fields["alarmActions"]);
    let memory = find(&graph, K::MetricAlarm, "shop-redis-memory-high");
    assert_eq!(memory.fields["namespace"], json!("AWS/ElastiCache"));
    assert_eq!(
        memory.fields["metricName"],
        json!("DatabaseMemoryUsagePercentage")
    );
    assert_eq!(
        memory.fields["dimensions"],
        json!({"CacheClusterId": "shop-redis-001"})
    );
    assert_eq!(memory.fields["threshold"], json!(80));
    let ready = find(&graph, K::MetricAlarm, "shop-rabbitmq-messages-ready-high");
    assert_eq!(ready.fields["namespace"], json!("AWS/AmazonMQ"));
    assert_eq!(
        ready.fields["dimensions"],
        json!({"Broker": "shop-rabbitmq"})
    );
    assert_eq!(ready.fields["threshold"], json!(10000));
}

#[test]
fn an_ignore_rule_on_a_preset_severity_leaves_its_topic_alone() {
    let yaml = DATA.replace(
        "  network:",
        "  policy:\n    ignore:\n      - path: alarms.presets.postgres.severity.cpuHigh\n  network:",
    );
    let graph = graph_of(&yaml);
    let cpu = find(&graph, K::MetricAlarm, "shop-postgres-cpu-high");
    assert!(!cpu.fields.contains_key("alarmActions"));
    assert!(cpu.create_only.contains_key("alarmActions"));
}
