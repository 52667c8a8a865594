//! What Plumb owns, against moto through the real SDK, with the store in Postgres: dropping a
//! service, an autoscaling block or an alarm from the spec removes exactly what Plumb created
//! for it; a resource of someone else with one of our names is a conflict, left as it is,
//! unless the spec adopts it.

mod support;

use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic, Tag};
use plumb_operator::aws::{CallCounter, Clients};
use plumb_operator::reconcile::{Outcome, Reconciler};
use plumb_operator::spec::{parse_document, DeletionPolicy, Environment, Format};
use plumb_operator::store::Store;
use sqlx::PgPool;
use support::{network, Moto, Network};

struct World {
    _moto: Moto,
    reconciler: Reconciler,
    clients: Clients,
    network: Network,
}

impl World {
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
        let network = network(&moto).await;
        let reconciler = Reconciler::new(
            Store::from_pool(pool),
            moto.aws_config(),
            CallCounter::new(),
        );
        let clients = moto.clients().await;
        World {
            _moto: moto,
            reconciler,
            clients,
            network,
        }
    }

    async fn apply(&self, env: &Environment) -> Outcome {
        self.reconciler.store.apply(env, "test").await.unwrap();
        self.reconciler.reconcile("shop").await.unwrap()
    }

    async fn apply_ready(&self, env: &Environment) -> Outcome {
        let outcome = self.apply(env).await;
        assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
        outcome
    }

    async fn service_status(&self, name: &str) -> Option<String> {
        let out = self
            .clients
            .ecs
            .describe_services()
            .cluster("shop-cluster")
            .services(name)
            .send()
            .await
            .unwrap();
        out.services()
            .first()
            .and_then(|s| s.status().map(str::to_owned))
    }

    async fn active_revisions(&self, family: &str) -> usize {
        let out = self
            .clients
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .send()
            .await
            .unwrap();
        out.task_definition_arns()
            .iter()
            .filter(|arn| arn.contains(&format!("task-definition/{family}:")))
            .count()
    }

    async fn log_group(&self, name: &str) -> bool {
        let out = self
            .clients
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .unwrap();
        out.log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(name))
    }

    async fn target(&self, service: &str) -> bool {
        let out = self
            .clients
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(format!("service/shop-cluster/{service}"))
            .send()
            .await
            .unwrap();
        !out.scalable_targets().is_empty()
    }

    async fn policies(&self, service: &str) -> Vec<String> {
        let out = self
            .clients
            .autoscaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(format!("service/shop-cluster/{service}"))
            .send()
            .await
            .unwrap();
        let mut names: Vec<String> = out
            .scaling_policies()
            .iter()
            .map(|p| p.policy_name().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Alarm names with the prefix, with their thresholds.
    async fn alarms(&self, prefix: &str) -> Vec<(String, f64)> {
        let out = self
            .clients
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .send()
            .await
            .unwrap();
        let mut alarms: Vec<(String, f64)> = out
            .metric_alarms()
            .iter()
            .map(|a| {
                let name = a.alarm_name().unwrap_or_default().to_owned();
                (name, a.threshold().unwrap_or_default())
            })
            .collect();
        alarms.sort_by(|a, b| a.0.cmp(&b.0));
        alarms
    }

    /// An alarm made by hand, tagged as `owner`'s (or untagged).
    async fn foreign_alarm(&self, name: &str, threshold: f64, owner: Option<&str>) {
        let tags =
            owner.map(|env| vec![Tag::builder().key("plumb:environment").value(env).build()]);
        self.clients
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("Shop")
            .metric_name("Errors")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(threshold)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .set_tags(tags)
            .send()
            .await
            .unwrap();
    }
}

struct Shape {
    worker: bool,
    api_autoscaling: bool,
    errors_alarm: bool,
    adopt: bool,
}

const FULL: Shape = Shape {
    worker: true,
    api_autoscaling: true,
    errors_alarm: true,
    adopt: false,
};

/// `api` (autoscaled on CPU), `worker` (scaled on a queue's depth, with its alarms) and an
/// explicit `errors` alarm; parts left out as `shape` says.
fn shop(net: &Network, shape: &Shape) -> Environment {
    let autoscaling = if shape.api_autoscaling {
        "        autoscaling:\n          minCapacity: 2\n          maxCapacity: 6\n          targetTracking: [{metric: cpu, target: 70}]\n"
    } else {
        ""
    };
    let worker = if shape.worker {
        r#"      worker:
        image: registry.example.com/shop-worker:1
        cpu: 256
        memory: 512
        desiredCount: 1
        autoscaling:
          minCapacity: 1
          maxCapacity: 4
          queueDepth:
            queueName: shop-jobs
            scaleOut: {threshold: 100}
            scaleIn: {threshold: 1}
"#
    } else {
        ""
    };
    let alarm = if shape.errors_alarm {
        "    custom:\n      errors: {namespace: Shop, metricName: Errors, statistic: Sum, threshold: 5}\n"
    } else {
        "    custom: {}\n"
    };
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  policy: {{adopt: {adopt}}}
  network:
    subnets: [{s0}, {s1}]
    securityGroups: [{sg}]
  ecs:
    services:
      api:
        image: registry.example.com/shop-api:1
        cpu: 256
        memory: 512
        desiredCount: 3
{autoscaling}{worker}  alarms:
{alarm}"#,
        adopt = shape.adopt,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    parse_document(&yaml, Format::Yaml).unwrap()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn dropping_a_service_removes_what_plumb_made_for_it_and_nothing_else(pool: PgPool) {
    let w = World::start(pool).await;
    w.apply_ready(&shop(&w.network, &FULL)).await;
    // Someone else's things sharing the environment's prefix.
    w.foreign_alarm("shop-legacy-errors", 9.0, None).await;
    w.foreign_alarm("shop-eu-errors", 9.0, Some("shop-eu"))
        .await;
    w.clients
        .logs
        .create_log_group()
        .log_group_name("/ecs/shop-legacy")
        .send()
        .await
        .unwrap();
    assert!(w.target("shop-worker").await);
    assert_eq!(
        w.policies("shop-worker").await,
        ["shop-worker-queue-in", "shop-worker-queue-out"]
    );

    let without_worker = Shape {
        worker: false,
        ..FULL
    };
    let outcome = w.apply_ready(&shop(&w.network, &without_worker)).await;
    let deleted: Vec<String> = outcome
        .applied
        .iter()
        .filter(|a| a.ok && a.action.as_str() == "delete")
        .map(|a| a.resource.to_string())
        .collect();
    // Dependents first: alarms, then their policies, the target, the service, its revisions.
    assert_eq!(
        deleted,
        [
            "metric-alarm/shop-worker-queue-in",
            "scaling-policy/shop-worker-queue-in",
            "metric-alarm/shop-worker-queue-out",
            "scaling-policy/shop-worker-queue-out",
            "scalable-target/service/shop-cluster/shop-worker",
            "ecs-service/shop-worker",
            "task-definition/shop-worker",
        ]
    );
    assert_ne!(
        w.service_status("shop-worker").await.as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(w.active_revisions("shop-worker").await, 0);
    assert!(!w.target("shop-worker").await);
    assert!(w.policies("shop-worker").await.is_empty());
    // Logs are data: kept under the default deletion policy.
    assert!(w.log_group("/ecs/shop-worker").await);
    // Nothing of anyone else's was touched; the api is whole.
    assert_eq!(
        w.alarms("shop-").await,
        [
            ("shop-errors".to_owned(), 5.0),
            ("shop-eu-errors".to_owned(), 9.0),
            ("shop-legacy-errors".to_owned(), 9.0),
        ]
    );
    assert!(w.log_group("/ecs/shop-legacy").await);
    assert_eq!(
        w.service_status("shop-api").await.as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(w.active_revisions("shop-api").await, 1);
    assert_eq!(w.policies("shop-api").await, ["shop-api-cpu"]);

    // Settled: the next reconcile writes nothing.
    w.reconciler.counter.reset();
    let again = w.reconciler.reconcile("shop").await.unwrap();
    assert!(
        again.ready && again.plan.is_noop(),
        "{}",
        again.plan.render_text()
    );
    assert_eq!(w.reconciler.counter.writes(), 0);

    // Under `deletion: retain` the worker's log group was released: it stays, without
    // Plumb's tags, and is no longer Plumb's to delete.
    let tags = w
        .clients
        .logs
        .list_tags_for_resource()
        .resource_arn("arn:aws:logs:us-east-1:123456789012:log-group:/ecs/shop-worker")
        .send()
        .await
        .unwrap();
    assert!(
        !tags
            .tags()
            .unwrap_or(&Default::default())
            .keys()
            .any(|k| k.starts_with("plumb:")),
        "{tags:?}"
    );
    let mut env = shop(&w.network, &without_worker);
    env.spec.policy.deletion = DeletionPolicy::Delete;
    w.apply_ready(&env).await;
    assert!(w.log_group("/ecs/shop-worker").await);
    assert!(w.log_group("/ecs/shop-legacy").await);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn dropping_autoscaling_removes_target_and_policies_and_manages_the_count_again(
    pool: PgPool,
) {
    let w = World::start(pool).await;
    w.apply_ready(&shop(&w.network, &FULL)).await;
    // The autoscaler moved the count; while autoscaled that is not drift.
    w.clients
        .ecs
        .update_service()
        .cluster("shop-cluster")
        .service("shop-api")
        .desired_count(5)
        .send()
        .await
        .unwrap();
    let outcome = w.reconciler.reconcile("shop").await.unwrap();
    assert!(outcome.plan.is_noop(), "{}", outcome.plan.render_text());

    let fixed = Shape {
        api_autoscaling: false,
        ..FULL
    };
    let outcome = w.apply_ready(&shop(&w.network, &fixed)).await;
    let text = outcome.plan.render_text();
    assert!(text.contains("- scaling-policy/shop-api-cpu"), "{text}");
    assert!(
        text.contains("- scalable-target/service/shop-cluster/shop-api"),
        "{text}"
    );
    assert!(
        text.contains("~ ecs-service/shop-api\n    ~ desiredCount: 5 → 3"),
        "{text}"
    );
    assert!(!w.target("shop-api").await);
    assert!(w.policies("shop-api").await.is_empty());
    let count = w
        .clients
        .ecs
        .describe_services()
        .cluster("shop-cluster")
        .services("shop-api")
        .send()
        .await
        .unwrap()
        .services()[0]
        .desired_count();
    assert_eq!(count, 3);
    // The worker's autoscaling is untouched.
    assert!(w.target("shop-worker").await);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn dropping_an_alarm_deletes_it_alone(pool: PgPool) {
    let w = World::start(pool).await;
    w.apply_ready(&shop(&w.network, &FULL)).await;
    let before = w.alarms("shop-").await;
    assert!(before.iter().any(|(n, _)| n == "shop-errors"), "{before:?}");

    let quiet = Shape {
        errors_alarm: false,
        ..FULL
    };
    let outcome = w.apply_ready(&shop(&w.network, &quiet)).await;
    let writes: Vec<String> = outcome
        .applied
        .iter()
        .map(|a| format!("{} {}", a.action.as_str(), a.resource))
        .collect();
    assert_eq!(writes, ["delete metric-alarm/shop-errors"]);
    let after = w.alarms("shop-").await;
    let expected: Vec<(String, f64)> = before
        .into_iter()
        .filter(|(n, _)| n != "shop-errors")
        .collect();
    assert_eq!(after, expected);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_resource_with_our_name_but_not_our_tag_is_a_conflict_until_adopted(pool: PgPool) {
    let w = World::start(pool).await;
    // Made by hand before Plumb, with the name Plumb derives for the spec's `errors` alarm.
    w.foreign_alarm("shop-errors", 42.0, None).await;
    // And one tagged as another environment's.
    w.foreign_alarm("shop-api-cpu-high", 42.0, Some("shop-canary"))
        .await;

    let env = with_ecs_preset(shop(&w.network, &FULL));
    let outcome = w.apply(&env).await;
    assert!(!outcome.ready);
    assert_eq!(outcome.reason, "Conflict");
    assert!(
        outcome.message.contains("metric-alarm/shop-errors")
            && outcome.message.contains("not tagged by Plumb"),
        "{}",
        outcome.message
    );
    assert!(
        outcome.message.contains("metric-alarm/shop-api-cpu-high")
            && outcome.message.contains("\"shop-canary\""),
        "{}",
        outcome.message
    );
    // Everything else was made; the two alarms are as they were.
    assert_eq!(
        w.service_status("shop-api").await.as_deref(),
        Some("ACTIVE")
    );
    let alarms = w.alarms("shop-").await;
    assert!(
        alarms.contains(&("shop-errors".to_owned(), 42.0)),
        "{alarms:?}"
    );
    assert!(
        alarms.contains(&("shop-api-cpu-high".to_owned(), 42.0)),
        "{alarms:?}"
    );
    let status = w
        .reconciler
        .store
        .get("shop")
        .await
        .unwrap()
        .status
        .unwrap();
    let errors = &status.resources["metric-alarm/shop-errors"];
    assert_eq!(errors.phase.as_deref(), Some("Conflict"));
    // Another reconcile still leaves them alone.
    w.reconciler.counter.reset();
    let again = w.reconciler.reconcile("shop").await.unwrap();
    assert_eq!(again.reason, "Conflict");
    assert_eq!(w.reconciler.counter.calls("PutMetricAlarm"), 0);

    // Adopted: tagged as ours on the next reconcile and brought to the spec.
    let adopt = Shape {
        adopt: true,
        ..FULL
    };
    let env = with_ecs_preset(shop(&w.network, &adopt));
    let outcome = w.apply_ready(&env).await;
    let adopted: Vec<String> = outcome
        .applied
        .iter()
        .filter(|a| a.action.as_str() == "adopt")
        .map(|a| a.resource.to_string())
        .collect();
    assert_eq!(
        adopted,
        ["metric-alarm/shop-api-cpu-high", "metric-alarm/shop-errors"]
    );
    let alarms = w.alarms("shop-").await;
    assert!(
        alarms.contains(&("shop-errors".to_owned(), 5.0)),
        "{alarms:?}"
    );
    assert!(
        alarms.contains(&("shop-api-cpu-high".to_owned(), 80.0)),
        "{alarms:?}"
    );
    let tags = w
        .clients
        .cloudwatch
        .list_tags_for_resource()
        .resource_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-errors")
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == Some("plumb:environment") && t.value() == Some("shop")));
}

/// The ECS alarm preset on: `{env}-{service}-cpu-high` and `-memory-high` at 80 %.
fn with_ecs_preset(mut env: Environment) -> Environment {
    if let Some(alarms) = env.spec.alarms.as_mut() {
        alarms.presets.ecs = Some(plumb_operator::spec::EcsPreset {
            cpu_high: 80.0,
            memory_high: 80.0,
            evaluation_periods: 2,
            severity: Default::default(),
        });
    }
    env
}
