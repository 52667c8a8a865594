//! Unit tests of `names::claims`.

use super::*;
use crate::engine::graph::desired_graph;
use crate::spec::{parse_document, EnvironmentSpec, Format};

const FULL: &str = r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata:
  name: shop
spec:
  region: eu-west-1
  ecs:
    services:
      api:
        image: repo/api:1.0
        cpu: 256
        memory: 512
        desiredCount: 2
        autoscaling:
          minCapacity: 2
          maxCapacity: 10
          targetTracking:
            - metric: cpu
              target: 70
            - metric: albRequestsPerTarget
              target: 500
              resourceLabel: app/shop/0123456789abcdef/targetgroup/api/0123456789abcdef
      worker:
        image: repo/api:1.0
        cpu: 256
        memory: 512
        desiredCount: 1
        autoscaling:
          minCapacity: 1
          maxCapacity: 5
          queueDepth:
            queueName: jobs
            scaleOut:
              threshold: 100
            scaleIn:
              threshold: 10
  postgres:
    engineVersion: "15.4"
    aurora:
      minCapacity: 0.5
      maxCapacity: 4
      readers: 1
  redis:
    engineVersion: "7.0"
    nodeType: cache.t3.micro
  rabbitmq:
    engineVersion: "3.13"
    instanceType: mq.t3.micro
    username: shop
    passwordSecretArn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/mq-AbCdEf
  alarms:
    custom:
      api-5xx:
        namespace: AWS/ApplicationELB
        metricName: HTTPCode_Target_5XX_Count
        threshold: 10
"#;

fn parse(yaml: &str) -> Environment {
    parse_document(yaml, Format::Yaml).unwrap()
}

/// An environment with one plain service per name given.
fn with_services(env: &str, services: &[&str]) -> Environment {
    let services: String = services
        .iter()
        .map(|s| format!("      {s}: {{image: repo/x, cpu: 256, memory: 512, desiredCount: 1}}\n"))
        .collect();
    parse(&format!(
        "apiVersion: plumb.dev/v1\nkind: Environment\nmetadata:\n  name: {env}\n\
         spec:\n  region: us-east-1\n  ecs:\n    services:\n{services}"
    ))
}

fn listed(env: &Environment) -> Vec<(&'static str, String)> {
    claims(env)
        .into_iter()
        .map(|c| (c.namespace.as_str(), c.name))
        .collect()
}

#[test]
fn every_derived_name_in_its_namespace() {
    let expected = [
        ("ecs-cluster", "shop-cluster"),
        ("ecs-service", "shop-api"),
        ("ecs-service", "shop-worker"),
        ("task-family", "shop-api"),
        ("task-family", "shop-worker"),
        ("log-group", "/ecs/shop-api"),
        ("log-group", "/ecs/shop-worker"),
        ("scalable-target", "service/shop-cluster/shop-api"),
        ("scalable-target", "service/shop-cluster/shop-worker"),
        ("scaling-policy", "shop-api-alb-requests"),
        ("scaling-policy", "shop-api-cpu"),
        ("scaling-policy", "shop-worker-queue-in"),
        ("scaling-policy", "shop-worker-queue-out"),
        ("alarm", "shop-api-5xx"),
        ("alarm", "shop-worker-queue-in"),
        ("alarm", "shop-worker-queue-out"),
        ("rds-instance", "shop-postgres-1"),
        ("rds-instance", "shop-postgres-2"),
        ("rds-cluster", "shop-postgres"),
        ("elasticache", "shop-redis"),
        ("mq", "shop-rabbitmq"),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(ns, name)| (ns, name.to_owned()))
        .collect();
    assert_eq!(listed(&parse(FULL)), expected);
    for claim in claims(&parse(FULL)) {
        assert_eq!(
            (claim.account.as_str(), claim.region.as_str()),
            ("", "eu-west-1")
        );
    }
}

#[test]
fn a_single_rds_instance_is_named_after_the_environment() {
    let mut env = parse(FULL);
    let pg = env.spec.postgres.as_mut().unwrap();
    pg.aurora = None;
    pg.instance = Some(crate::spec::RdsInstance {
        class: "db.t3.small".into(),
        allocated_storage: 20,
        max_allocated_storage: None,
        storage_type: "gp3".into(),
        multi_az: false,
    });
    let rds: Vec<_> = listed(&env)
        .into_iter()
        .filter(|(ns, _)| ns.starts_with("rds"))
        .collect();
    assert_eq!(rds, [("rds-instance", "shop-postgres".to_owned())]);
}

#[test]
fn a_spec_with_only_a_region_claims_nothing() {
    let env = Environment::new("bare", EnvironmentSpec::in_region("us-east-1"));
    assert_eq!(claims(&env), []);
}

#[test]
fn prod_with_eu_api_and_prod_eu_with_api_claim_the_same_names() {
    let prod = claims(&with_services("prod", &["eu-api"]));
    let prod_eu = claims(&with_services("prod-eu", &["api"]));
    let shared: Vec<_> = prod
        .iter()
        .filter(|c| prod_eu.contains(c))
        .map(|c| (c.namespace.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(
        shared,
        [
            ("ecs-service", "prod-eu-api"),
            ("task-family", "prod-eu-api"),
            ("log-group", "/ecs/prod-eu-api"),
        ]
    );
}

#[test]
fn the_scope_is_the_role_account_and_the_region() {
    let mut env = with_services("prod", &["api"]);
    assert!(claims(&env).iter().all(|c| c.account.is_empty()));

    env.spec.role_arn = Some("arn:aws:iam::123456789012:role/plumb".to_owned());
    let other_account = claims(&env);
    assert!(other_account.iter().all(|c| c.account == "123456789012"));

    env.spec.region = "eu-west-1".to_owned();
    let other_region = claims(&env);
    assert!(other_region.iter().all(|c| c.region == "eu-west-1"));
    assert!(other_account.iter().all(|c| !other_region.contains(c)));
}

#[test]
fn the_account_is_the_twelve_digit_field_of_the_role_arn() {
    assert_eq!(account(None), "");
    assert_eq!(
        account(Some("arn:aws-cn:iam::210987654321:role/a/b")),
        "210987654321"
    );
    assert_eq!(account(Some("arn:aws:iam::1234:role/short")), "");
    assert_eq!(account(Some("not an arn")), "");
}

#[test]
fn a_name_derived_twice_is_claimed_once() {
    // The explicit alarm `worker-queue-out` is named like the worker's queue-depth alarm.
    let mut env = parse(FULL);
    let alarms = env.spec.alarms.as_mut().unwrap();
    let alarm = alarms.custom["api-5xx"].clone();
    alarms.custom.insert("worker-queue-out".to_owned(), alarm);
    let all = claims(&env);
    let queue_out = all
        .iter()
        .filter(|c| c.namespace == Namespace::Alarm && c.name == "shop-worker-queue-out")
        .count();
    assert_eq!(queue_out, 1);
}

/// Every resource the graph builds is claimed, in the namespace of its kind.
#[test]
fn every_resource_of_the_graph_is_claimed() {
    let env = parse(FULL);
    let all = claims(&env);
    let graph = desired_graph(&env);
    assert!(!graph.resources.is_empty());
    for resource in &graph.resources {
        let namespace = namespace(resource.id.kind);
        assert!(
            all.iter()
                .any(|c| c.namespace == namespace && c.name == resource.id.name),
            "{} is not claimed",
            resource.id
        );
    }
}
