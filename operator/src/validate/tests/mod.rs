//! Rule tests: each breaks one thing in a valid spec and checks the exact field path and a
//! fragment of the reason.

mod alarms;
mod autoscaling;
mod data;
mod ecs;
mod meta;
mod network;

use crate::spec::{
    parse_document, Environment, EnvironmentSpec, Format, Postgres, RabbitMq, Redis, Service,
};
use crate::validate::{validate, FieldError};

/// A spec that uses every part of the model and passes every rule.
pub(super) const VALID: &str = r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata:
  name: shop-prod
  labels:
    team: payments
    app.kubernetes.io/part-of: shop
spec:
  region: us-east-1
  roleArn: arn:aws:iam::123456789012:role/plumb
  tags:
    team: payments
    cost-center: "4711"
  policy:
    drift: report
    ignore:
      - path: ecs.services.*.image
        reason: set by the deploy pipeline
  alerts:
    snsTopicArn: arn:aws:sns:us-east-1:123456789012:shop-alerts
  network:
    subnets: [subnet-0a1b2c3d4e5f60718, subnet-0a1b2c3d4e5f60719]
    securityGroups: [sg-0a1b2c3d4e5f6071a]
  ecs:
    capacityProviders: [FARGATE, FARGATE_SPOT]
    executionRoleArn: arn:aws:iam::123456789012:role/shop-execution
    taskRoleArn: arn:aws:iam::123456789012:role/shop-task
    logRetentionDays: 30
    services:
      api:
        image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-api:1.4.2
        cpu: 512
        memory: 1024
        desiredCount: 2
        port: 3000
        env:
          NODE_ENV: production
          DB_SECRET_ARN: arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-AbCdEf
        secrets:
          DATABASE_URL: arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-url-AbCdEf
          JWT_SECRET: "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/app-AbCdEf:jwt::"
          STRIPE_KEY: arn:aws:ssm:us-east-1:123456789012:parameter/shop/stripe-key
        targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-api/0123456789abcdef
        healthCheck:
          command: [CMD-SHELL, "curl -f http://localhost:3000/health || exit 1"]
        deployment:
          minimumHealthyPercent: 100
          maximumPercent: 200
        autoscaling:
          minCapacity: 2
          maxCapacity: 10
          targetTracking:
            - metric: cpu
              target: 70
            - metric: albRequestsPerTarget
              target: 500
              resourceLabel: app/shop/0123456789abcdef/targetgroup/shop-api/0123456789abcdef
      worker:
        image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-api:1.4.2
        cpu: 256
        memory: 512
        desiredCount: 1
        command: [node, worker.js]
        capacityProvider: FARGATE_SPOT
        autoscaling:
          minCapacity: 1
          maxCapacity: 10
          queueDepth:
            queueName: shop-jobs
            scaleOut:
              threshold: 100
              steps:
                - {lower: 0, upper: 500, adjustment: 1}
                - {lower: 500, adjustment: 3}
            scaleIn:
              threshold: 10
              cooldown: 300
              steps:
                - {upper: 0, adjustment: -1}
  postgres:
    engineVersion: "15.10"
    databaseName: shop
    preferredBackupWindow: "03:00-04:00"
    preferredMaintenanceWindow: "sun:05:00-sun:06:00"
    instance:
      class: db.t3.small
      allocatedStorage: 20
      maxAllocatedStorage: 100
  redis:
    engineVersion: "7.0"
    nodeType: cache.t3.micro
    replicas: 1
    automaticFailover: true
    multiAz: true
    authTokenSecretArn: arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/redis-AbCdEf
    parameters:
      maxmemory-policy: allkeys-lru
      timeout: 300
    snapshotRetentionDays: 7
    snapshotWindow: "02:00-03:00"
    maintenanceWindow: "sun:06:00-sun:07:00"
  rabbitmq:
    engineVersion: "3.13"
    instanceType: mq.t3.micro
    username: shop
    passwordSecretArn: arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/mq-AbCdEf
  alarms:
    presets:
      ecs: {cpuHigh: 80, memoryHigh: 80, evaluationPeriods: 2}
      postgres: {cpuHigh: 80, connectionsHigh: 80}
      redis: {}
      rabbitmq: {messagesReadyHigh: 1000}
    custom:
      api-5xx:
        namespace: AWS/ApplicationELB
        metricName: HTTPCode_Target_5XX_Count
        dimensions:
          TargetGroup: targetgroup/shop-api/0123456789abcdef
          LoadBalancer: app/shop/0123456789abcdef
        statistic: Sum
        period: 60
        evaluationPeriods: 5
        datapointsToAlarm: 3
        threshold: 10
      api-latency:
        namespace: AWS/ApplicationELB
        metricName: TargetResponseTime
        statistic: p99.9
        threshold: 2
"#;

pub(super) fn valid() -> Environment {
    parse_document(VALID, Format::Yaml).expect("the fixture parses")
}

/// The errors of the valid spec after `breaks` changed it; panics when there are none.
pub(super) fn errors_after(breaks: impl FnOnce(&mut Environment)) -> Vec<FieldError> {
    let mut env = valid();
    breaks(&mut env);
    errors_of(&env)
}

pub(super) fn errors_of(env: &Environment) -> Vec<FieldError> {
    match validate(env) {
        Ok(()) => panic!("expected validation errors, the spec passed"),
        Err(errors) => errors.0,
    }
}

/// Asserts an error at exactly `field` whose reason contains `fragment`.
#[track_caller]
pub(super) fn assert_has(errors: &[FieldError], field: &str, fragment: &str) {
    assert!(
        errors
            .iter()
            .any(|e| e.field == field && e.reason.contains(fragment)),
        "no error at {field} containing {fragment:?}; got {errors:#?}"
    );
}

/// Breaks the valid spec and asserts that the one error reported is at `field` and its
/// reason contains `fragment`.
#[track_caller]
pub(super) fn assert_only(breaks: impl FnOnce(&mut Environment), field: &str, fragment: &str) {
    let errors = errors_after(breaks);
    assert_has(&errors, field, fragment);
    assert_eq!(errors.len(), 1, "expected only {field}; got {errors:#?}");
}

/// Changes the valid spec and asserts it still passes.
#[track_caller]
pub(super) fn assert_passes(change: impl FnOnce(&mut Environment)) {
    let mut env = valid();
    change(&mut env);
    if let Err(errors) = validate(&env) {
        panic!("expected the spec to pass; got {:#?}", errors.0);
    }
}

pub(super) fn svc<'a>(env: &'a mut Environment, name: &str) -> &'a mut Service {
    env.spec
        .ecs
        .as_mut()
        .and_then(|ecs| ecs.services.get_mut(name))
        .expect("the fixture has this service")
}

pub(super) fn pg(env: &mut Environment) -> &mut Postgres {
    env.spec
        .postgres
        .as_mut()
        .expect("the fixture has postgres")
}

pub(super) fn redis(env: &mut Environment) -> &mut Redis {
    env.spec.redis.as_mut().expect("the fixture has redis")
}

pub(super) fn mq(env: &mut Environment) -> &mut RabbitMq {
    env.spec
        .rabbitmq
        .as_mut()
        .expect("the fixture has rabbitmq")
}

/// The valid spec's text with one exact piece replaced (for values only YAML can carry).
pub(super) fn yaml_errors(from: &str, to: &str) -> Vec<FieldError> {
    assert!(VALID.contains(from), "the fixture has no {from:?}");
    let env = parse_document(&VALID.replacen(from, to, 1), Format::Yaml).expect("still parses");
    errors_of(&env)
}

#[test]
fn the_full_fixture_passes() {
    let env = valid();
    assert_eq!(validate(&env), Ok(()));
}

#[test]
fn the_smallest_environment_passes() {
    let env = Environment::new("demo", EnvironmentSpec::in_region("eu-central-1"));
    assert_eq!(validate(&env), Ok(()));
}

#[test]
fn every_mistake_is_reported_at_once() {
    let errors = errors_after(|env| {
        env.metadata.name = "Shop_Prod".to_owned();
        env.spec.region = "mars-east-1".to_owned();
        svc(env, "api").memory = 3000;
        svc(env, "worker")
            .env
            .insert("DB_PASSWORD".into(), "hunter2".into());
        pg(env).instance = None;
        redis(env).replicas = 9;
        let alarm = env
            .spec
            .alarms
            .as_mut()
            .unwrap()
            .custom
            .get_mut("api-5xx")
            .unwrap();
        alarm.period = 45;
    });
    assert_has(&errors, "metadata.name", "'S' is not allowed");
    assert_has(&errors, "spec.region", "must be an AWS region");
    assert_has(
        &errors,
        "spec.ecs.services.api.memory",
        "memory 3000 is not valid with cpu 512",
    );
    assert_has(
        &errors,
        "spec.ecs.services.worker.env.DB_PASSWORD",
        "secret in plain text",
    );
    assert_has(&errors, "spec.postgres", "set instance");
    assert_has(&errors, "spec.redis.replicas", "allowed 0–5");
    assert_has(
        &errors,
        "spec.alarms.custom.api-5xx.period",
        "45 s is not allowed",
    );
    assert_eq!(errors.len(), 7, "{errors:#?}");
}

#[test]
fn reasons_never_echo_secret_values() {
    let errors = errors_after(|env| {
        let api = svc(env, "api");
        api.env
            .insert("API_TOKEN".into(), "tok-s3cr3t-value".into());
        api.secrets
            .insert("SESSION_KEY".into(), "tok-s3cr3t-value".into());
        pg(env).master_password.managed = false;
        pg(env).master_password.secret_arn = Some("tok-s3cr3t-value".into());
        mq(env).password_secret_arn = "tok-s3cr3t-value".into();
    });
    assert_eq!(errors.len(), 4, "{errors:#?}");
    for e in &errors {
        assert!(!e.reason.contains("s3cr3t"), "{e:?}");
    }
}
