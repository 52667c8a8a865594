//! RabbitMQ on moto through the real SDK, with the store in Postgres: an Amazon MQ broker
//! created with every field of the spec, changed, corrected, left alone when settled, never
//! replaced without leave, and torn down per the deletion policy.
//!
//! Where moto differs from AWS, the fault proxy shows AWS's behaviour: moto applies an
//! UpdateBroker's instance type at once, where Amazon MQ holds it as
//! `pendingHostInstanceType` until the maintenance window; moto never reports a broker
//! rebooting.

#[path = "support/proxy.rs"]
#[allow(dead_code)] // The lost-answer faults are the rollout tests'.
mod proxy;
mod support;

use plumb_operator::aws::{CallCounter, Clients};
use plumb_operator::engine::{Change, Verb};
use plumb_operator::reconcile::{Outcome, Reconciler};
use plumb_operator::spec::{parse_document, Environment, Format};
use plumb_operator::store::Store;
use proxy::Proxy;
use serde_json::Value;
use sqlx::PgPool;
use support::{network, xml_value, Moto, Network};

/// The broker user's password the test plants in Secrets Manager.
const PASSWORD: &str = "mq-Pa55word-planted-0123";

struct World {
    moto: Moto,
    proxy: Proxy,
    reconciler: Reconciler,
    clients: Clients,
    network: Network,
    secret: String,
}

impl World {
    async fn start(pool: PgPool) -> World {
        let moto = Moto::start().await;
        let network = network(&moto).await;
        let proxy = Proxy::start(&moto.endpoint).await;
        let reconciler = Reconciler::new(
            Store::from_pool(pool),
            proxy.aws_config(),
            CallCounter::new(),
        );
        let clients = moto.clients().await;
        let secret = clients
            .secrets
            .create_secret()
            .name("shop/rabbitmq")
            .secret_string(format!(r#"{{"username":"shop","password":"{PASSWORD}"}}"#))
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_owned();
        World {
            moto,
            proxy,
            reconciler,
            clients,
            network,
            secret,
        }
    }

    fn spec(&self, policy: &str) -> Environment {
        let yaml = format!(
            r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  policy: {{{policy}}}
  network:
    subnets: [{s0}, {s1}]
    securityGroups: [{sg}]
  rabbitmq:
    engineVersion: "3.13"
    instanceType: mq.t3.micro
    deploymentMode: SINGLE_INSTANCE
    username: shop
    passwordSecretArn: {secret}
    publiclyAccessible: false
    autoMinorVersionUpgrade: true
    maintenanceWindow: {{dayOfWeek: SUNDAY, timeOfDay: "03:00", timeZone: UTC}}
    generalLogs: true
"#,
            s0 = self.network.subnets[0],
            s1 = self.network.subnets[1],
            sg = self.network.security_group,
            secret = self.secret,
        );
        parse_document(&yaml, Format::Yaml).unwrap()
    }

    async fn store(&self, env: &Environment) {
        let mut env = env.clone();
        env.metadata.resource_version = None;
        self.reconciler.store.apply(&env, "test").await.unwrap();
    }

    async fn reconcile(&self) -> Outcome {
        self.reconciler.reconcile("shop").await.unwrap()
    }

    async fn reconcile_ready(&self) -> Outcome {
        let outcome = self.reconcile().await;
        assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
        outcome
    }

    /// Writes Plumb sent to Amazon MQ since the proxy last forgot.
    fn writes(&self) -> Vec<String> {
        self.proxy
            .seen()
            .into_iter()
            .map(|s| s.operation)
            .filter(|op| {
                [
                    "CreateBroker",
                    "UpdateBroker",
                    "DeleteBroker",
                    "RebootBroker",
                    "CreateTags",
                    "DeleteTags",
                ]
                .contains(&op.as_str())
            })
            .collect()
    }

    async fn broker(&self) -> aws_sdk_mq::operation::describe_broker::DescribeBrokerOutput {
        let list = self.clients.mq.list_brokers().send().await.unwrap();
        let id = list
            .broker_summaries()
            .iter()
            .find(|b| b.broker_name() == Some("shop-rabbitmq"))
            .and_then(|b| b.broker_id())
            .expect("the broker")
            .to_owned();
        self.clients
            .mq
            .describe_broker()
            .broker_id(id)
            .send()
            .await
            .unwrap()
    }

    async fn teardown(&self) -> Outcome {
        self.reconciler
            .store
            .mark_deleting("shop", None, "test")
            .await
            .unwrap();
        let mut outcome = self.reconcile().await;
        for _ in 0..5 {
            if outcome.deleted {
                break;
            }
            outcome = self.reconcile().await;
        }
        assert!(outcome.deleted, "{}: {}", outcome.reason, outcome.message);
        outcome
    }
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_broker_gets_every_field_of_the_spec_and_a_settled_one_no_writes(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    let outcome = w.reconcile_ready().await;
    let created: Vec<String> = outcome
        .applied
        .iter()
        .filter(|a| a.action == Verb::Create)
        .map(|a| a.resource.to_string())
        .collect();
    assert_eq!(created, ["mq-broker/shop-rabbitmq"]);

    let b = w.broker().await;
    assert_eq!(b.engine_type().map(|t| t.as_str()), Some("RABBITMQ"));
    assert_eq!(b.engine_version(), Some("3.13"));
    assert_eq!(b.host_instance_type(), Some("mq.t3.micro"));
    assert_eq!(
        b.deployment_mode().map(|m| m.as_str()),
        Some("SINGLE_INSTANCE")
    );
    assert_eq!(b.publicly_accessible(), Some(false));
    assert_eq!(b.auto_minor_version_upgrade(), Some(true));
    let window = b.maintenance_window_start_time().unwrap();
    assert_eq!(window.day_of_week().map(|d| d.as_str()), Some("SUNDAY"));
    assert_eq!(window.time_of_day(), Some("03:00"));
    assert_eq!(window.time_zone(), Some("UTC"));
    assert_eq!(b.logs().and_then(|l| l.general()), Some(true));
    assert_eq!(b.security_groups(), [w.network.security_group.as_str()]);
    // A single instance lives in the first subnet of the network.
    assert_eq!(b.subnet_ids(), [w.network.subnets[0].as_str()]);
    assert_eq!(b.users()[0].username(), Some("shop"));
    let tags = b.tags().unwrap();
    assert_eq!(
        tags.get("plumb:environment").map(String::as_str),
        Some("shop")
    );
    // The password went to Amazon MQ, read from the secret, with the write's token.
    let create = &w.proxy.requests("CreateBroker", |_| true)[0].request;
    assert_eq!(create["users"][0]["password"], PASSWORD);
    assert!(create["creatorRequestId"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    let stored = w.reconciler.store.get("shop").await.unwrap();
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    let said = format!(
        "{}\n{}\n{:?}",
        serde_json::to_string(&outcome).unwrap(),
        serde_json::to_string(&stored).unwrap(),
        events.iter().map(|e| &e.message).collect::<Vec<_>>()
    );
    assert!(!said.contains(PASSWORD));

    w.proxy.forget();
    for _ in 0..20 {
        let outcome = w.reconcile_ready().await;
        assert!(outcome.plan.is_noop(), "{}", outcome.plan.render_text());
    }
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn every_mutable_field_of_a_broker_is_changed_in_place(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;
    let other = xml_value(
        &w.moto
            .ec2(
                "CreateSecurityGroup",
                &[("GroupName", "broker"), ("GroupDescription", "broker")],
            )
            .await,
        "groupId",
    );
    let mut env = w.spec("");
    let mq = env.spec.rabbitmq.as_mut().unwrap();
    mq.instance_type = "mq.m5.large".into();
    mq.general_logs = false;
    mq.security_groups = Some(vec![other.clone()]);
    let window = mq.maintenance_window.as_mut().unwrap();
    window.day_of_week = "MONDAY".into();
    window.time_of_day = "04:00".into();
    w.store(&env).await;
    w.proxy.forget();
    let outcome = w.reconcile_ready().await;
    let plan = outcome.plan.render_text();
    assert!(
        plan.contains(
            "hostInstanceType: \"mq.t3.micro\" → \"mq.m5.large\"  (at the maintenance window"
        ),
        "{plan}"
    );
    assert_eq!(w.writes(), ["UpdateBroker"]);
    let b = w.broker().await;
    assert_eq!(b.host_instance_type(), Some("mq.m5.large"));
    assert_eq!(b.logs().and_then(|l| l.general()), Some(false));
    assert_eq!(b.security_groups(), [other]);
    let window = b.maintenance_window_start_time().unwrap();
    assert_eq!(window.day_of_week().map(|d| d.as_str()), Some("MONDAY"));
    assert_eq!(window.time_of_day(), Some("04:00"));
    w.proxy.forget();
    w.reconcile_ready().await;
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_console_change_to_the_broker_is_corrected_or_only_reported(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;
    let id = w.broker().await.broker_id().unwrap().to_owned();
    let drift = || async {
        let logs = aws_sdk_mq::types::Logs::builder().general(false).build();
        w.clients
            .mq
            .update_broker()
            .broker_id(&id)
            .logs(logs)
            .send()
            .await
            .unwrap();
    };
    drift().await;
    w.reconcile_ready().await;
    assert_eq!(
        w.broker().await.logs().and_then(|l| l.general()),
        Some(true)
    );

    w.store(&w.spec("drift: report")).await;
    w.reconcile_ready().await;
    drift().await;
    w.proxy.forget();
    let outcome = w.reconcile_ready().await;
    assert_eq!(outcome.reason, "Drifted", "{}", outcome.message);
    assert!(outcome.message.contains("mq-broker/shop-rabbitmq"));
    assert_eq!(w.writes(), Vec::<String>::new());
    assert_eq!(
        w.broker().await.logs().and_then(|l| l.general()),
        Some(false)
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn making_the_broker_public_is_refused_and_touches_nothing(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;
    let mut env = w.spec("");
    env.spec.rabbitmq.as_mut().unwrap().publicly_accessible = true;
    w.store(&env).await;
    w.proxy.forget();
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "ReplacementRefused");
    assert!(
        outcome
            .message
            .contains("publiclyAccessible cannot change in place"),
        "{}",
        outcome.message
    );
    let refused = outcome
        .plan
        .actions
        .iter()
        .find(|a| a.resource.to_string() == "mq-broker/shop-rabbitmq")
        .unwrap();
    assert!(matches!(refused.change, Change::ReplacementRequired { .. }));
    let status = w
        .reconciler
        .store
        .get("shop")
        .await
        .unwrap()
        .status
        .unwrap();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason, "ReplacementRefused");
    assert_eq!(w.writes(), Vec::<String>::new());
    assert_eq!(w.broker().await.publicly_accessible(), Some(false));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_pending_instance_type_is_scheduled_and_a_rebooting_broker_waited_on(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;

    let mut env = w.spec("");
    env.spec.rabbitmq.as_mut().unwrap().instance_type = "mq.m5.large".into();
    w.store(&env).await;
    // Amazon MQ holds the new type for the window (moto would apply it at once).
    w.proxy.rewrite("DescribeBroker", |b| {
        b["pendingHostInstanceType"] = Value::from("mq.m5.large");
    });
    w.proxy.forget();
    for _ in 0..3 {
        let outcome = w.reconcile().await;
        assert_eq!(outcome.reason, "Scheduled", "{}", outcome.message);
        assert!(
            outcome.message.contains("hostInstanceType"),
            "{}",
            outcome.message
        );
    }
    assert_eq!(w.writes(), Vec::<String>::new());

    // The window passed.
    w.proxy.stop_rewrite("DescribeBroker");
    let id = w.broker().await.broker_id().unwrap().to_owned();
    w.clients
        .mq
        .update_broker()
        .broker_id(&id)
        .host_instance_type("mq.m5.large")
        .send()
        .await
        .unwrap();
    let outcome = w.reconcile_ready().await;
    assert_eq!(outcome.reason, "Reconciled");
    assert_eq!(w.writes(), Vec::<String>::new());

    // Rebooting: nothing is written until it runs again.
    let mut env = env.clone();
    env.spec.rabbitmq.as_mut().unwrap().general_logs = false;
    w.store(&env).await;
    w.proxy.rewrite("DescribeBroker", |b| {
        b["brokerState"] = Value::from("REBOOT_IN_PROGRESS");
    });
    w.proxy.forget();
    let outcome = w.reconcile().await;
    assert_eq!(outcome.reason, "Progressing", "{}", outcome.message);
    assert!(outcome
        .message
        .contains("Amazon MQ reports it REBOOT_IN_PROGRESS"));
    assert_eq!(w.writes(), Vec::<String>::new());
    w.proxy.stop_rewrite("DescribeBroker");
    w.reconcile_ready().await;
    assert_eq!(
        w.broker().await.logs().and_then(|l| l.general()),
        Some(false)
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn deleting_under_retain_leaves_the_broker_untagged_and_says_so(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("")).await;
    w.reconcile_ready().await;
    w.proxy.forget();
    w.teardown().await;
    assert_eq!(w.writes(), ["DeleteTags"]);
    let b = w.broker().await;
    assert!(
        !b.tags().unwrap().keys().any(|k| k.starts_with("plumb:")),
        "{:?}",
        b.tags()
    );
    let events = w.reconciler.store.events("shop", 100).await.unwrap();
    assert_eq!(events[0].action, "Deleted");
    assert!(
        events[0]
            .message
            .contains("left in place and untagged (deletion: retain): ")
            && events[0].message.contains("mq-broker/shop-rabbitmq"),
        "{}",
        events[0].message
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn deleting_under_delete_removes_the_broker(pool: PgPool) {
    let w = World::start(pool).await;
    w.store(&w.spec("deletion: delete")).await;
    w.reconcile_ready().await;
    w.proxy.forget();
    w.teardown().await;
    assert_eq!(w.writes(), ["DeleteBroker"]);
    let list = w.clients.mq.list_brokers().send().await.unwrap();
    assert!(list.broker_summaries().is_empty());
}
