//! Rollouts and lost answers, through the real reconciler against moto behind a fault proxy:
//! the proxy shows what moto never does (a deployment in progress, one the circuit breaker
//! failed and rolled back) and loses the answer to a create that moto carried out.

#[path = "support/proxy.rs"]
mod proxy;
mod support;

use plumb_operator::aws::{CallCounter, Clients};
use plumb_operator::reconcile::{Outcome, Reconciler};
use plumb_operator::spec::{parse_document, Condition, Environment, Format, ResourceStatus};
use plumb_operator::store::Store;
use proxy::{Fault, Proxy, Seen};
use serde_json::{json, Value};
use sqlx::PgPool;
use support::{network, Moto, Network};

const API: &str = "shop-api";
const CLUSTER: &str = "shop-cluster";

/// moto, the proxy in front of it, a reconciler that talks to the proxy, and clients of the
/// test's own that read moto directly (what is really there, not what the proxy shows).
struct World {
    _moto: Moto,
    proxy: Proxy,
    reconciler: Reconciler,
    clients: Clients,
    network: Network,
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
        World {
            _moto: moto,
            proxy,
            reconciler,
            clients,
            network,
        }
    }

    /// Stores `shop` with the api running `image` (a new generation when the image changed).
    async fn store(&self, image: &str) {
        self.reconciler
            .store
            .apply(&shop(&self.network, image), "test")
            .await
            .unwrap();
    }

    /// One reconcile, with the reconciler's and the proxy's records of it alone.
    async fn reconcile(&self) -> Outcome {
        self.reconciler.counter.reset();
        self.proxy.forget();
        self.reconciler.reconcile("shop").await.unwrap()
    }

    async fn reconcile_ready(&self) -> Outcome {
        let outcome = self.reconcile().await;
        assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
        outcome
    }

    /// Calls of `operation` in the last reconcile.
    fn calls(&self, operation: &str) -> u64 {
        self.reconciler.counter.calls(operation)
    }

    /// UpdateService requests for the api in the last reconcile, as the proxy saw them.
    fn api_updates(&self) -> Vec<Seen> {
        self.proxy
            .requests("UpdateService", |r| r["service"] == API)
    }

    async fn condition(&self, type_: &str) -> Condition {
        let env = self.reconciler.store.get("shop").await.unwrap();
        let status = env.status.unwrap();
        status
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)
            .unwrap()
    }

    async fn resource(&self, key: &str) -> ResourceStatus {
        let env = self.reconciler.store.get("shop").await.unwrap();
        env.status.unwrap().resources[key].clone()
    }

    /// The api service's task definition ARN, as moto holds it.
    async fn api_task_definition(&self) -> String {
        let out = self
            .clients
            .ecs
            .describe_services()
            .cluster(CLUSTER)
            .services(API)
            .send()
            .await
            .unwrap();
        out.services()[0].task_definition().unwrap().to_owned()
    }

    /// The image of a task definition revision, as moto holds it.
    async fn image_of(&self, arn: &str) -> String {
        let out = self
            .clients
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .unwrap();
        let td = out.task_definition().unwrap();
        td.container_definitions()[0].image().unwrap().to_owned()
    }

    /// Revisions of the api's family moto holds.
    async fn api_revisions(&self) -> usize {
        let out = self
            .clients
            .ecs
            .list_task_definitions()
            .family_prefix(API)
            .send()
            .await
            .unwrap();
        out.task_definition_arns().len()
    }

    /// Names of the services moto holds in the cluster, twins included.
    async fn service_names(&self) -> Vec<String> {
        let out = self
            .clients
            .ecs
            .list_services()
            .cluster(CLUSTER)
            .send()
            .await
            .unwrap();
        let mut names: Vec<String> = out
            .service_arns()
            .iter()
            .map(|arn| arn.rsplit('/').next().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }
}

/// `api` (autoscaled) and `worker`; only the api's image varies.
fn shop(net: &Network, image: &str) -> Environment {
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  network:
    subnets: [{s0}, {s1}]
    securityGroups: [{sg}]
  ecs:
    executionRoleArn: arn:aws:iam::123456789012:role/shop-execution
    services:
      api:
        image: {image}
        cpu: 512
        memory: 1024
        desiredCount: 2
        port: 3000
        autoscaling:
          minCapacity: 2
          maxCapacity: 6
          targetTracking:
            - {{metric: cpu, target: 70}}
      worker:
        image: registry.example.com/shop-worker:1
        cpu: 256
        memory: 512
        desiredCount: 1
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    parse_document(&yaml, Format::Yaml).unwrap()
}

/// Applies `change` to the api service in a DescribeServices answer.
fn on_api(answer: &mut Value, change: impl Fn(&mut Value)) {
    let services = answer["services"].as_array_mut().into_iter().flatten();
    for service in services.filter(|s| s["serviceName"] == API) {
        change(service);
    }
}

/// The service's PRIMARY deployment as moto reported it.
fn primary(service: &Value) -> Value {
    let deployments = service["deployments"].as_array().unwrap();
    deployments
        .iter()
        .find(|d| d["status"] == "PRIMARY")
        .unwrap()
        .clone()
}

fn is_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_rollout_in_progress_is_progressing_and_rolled_once_it_completed(pool: PgPool) {
    let w = World::start(pool).await;
    w.store("registry.example.com/shop-api:1").await;
    w.reconcile_ready().await;
    let first = w.api_task_definition().await;

    // ECS is still rolling the api out (say, someone forced a deployment).
    w.proxy.rewrite("DescribeServices", |answer| {
        on_api(answer, |service| {
            for d in service["deployments"].as_array_mut().unwrap() {
                if d["status"] == "PRIMARY" {
                    d["rolloutState"] = json!("IN_PROGRESS");
                    d["rolloutStateReason"] = json!("ECS deployment in progress.");
                }
            }
        })
    });
    w.store("registry.example.com/shop-api:2").await;
    for _ in 0..2 {
        let outcome = w.reconcile().await;
        assert!(!outcome.ready);
        assert_eq!(outcome.reason, "Progressing", "{}", outcome.message);
        assert!(
            outcome.message.contains("ecs-service/shop-api"),
            "{}",
            outcome.message
        );
        assert!(w.api_updates().is_empty(), "no UpdateService while busy");
        // Nor a new revision: the family is observed at the revision the service runs, so
        // one registered now would be registered again on every reconcile until then.
        assert_eq!(
            w.reconciler.counter.writes(),
            0,
            "{:?}",
            w.reconciler.counter.snapshot()
        );
        let progressing = w.condition("Progressing").await;
        assert_eq!(progressing.status, "True");
        assert!(
            progressing.message.contains("ecs-service/shop-api"),
            "{}",
            progressing.message
        );
        assert_eq!(w.condition("Degraded").await.status, "False");
        assert_eq!(
            w.resource("ecs-service/shop-api").await.phase.as_deref(),
            Some("Busy")
        );
    }
    assert_eq!(
        w.api_task_definition().await,
        first,
        "the service was not touched"
    );

    // The rollout COMPLETED: the change goes out.
    w.proxy.stop_rewrite("DescribeServices");
    w.reconcile_ready().await;
    assert_eq!(w.calls("RegisterTaskDefinition"), 1);
    let updates = w.api_updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(w.reconciler.counter.writes(), 2);
    let now = w.api_task_definition().await;
    assert_ne!(now, first);
    assert_eq!(updates[0].request["taskDefinition"], json!(now));
    assert_eq!(w.image_of(&now).await, "registry.example.com/shop-api:2");
    assert_eq!(w.api_revisions().await, 2, "one revision for the new image");
    assert_eq!(w.condition("Progressing").await.status, "False");

    w.reconcile_ready().await;
    assert_eq!(w.reconciler.counter.writes(), 0, "settled");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_failed_rollout_is_degraded_and_not_redeployed_until_the_spec_changes(pool: PgPool) {
    let w = World::start(pool).await;
    w.store("registry.example.com/shop-api:1").await;
    w.reconcile_ready().await;
    let good = w.api_task_definition().await;
    w.store("registry.example.com/shop-api:2").await;
    w.reconcile_ready().await;
    assert_eq!(w.calls("RegisterTaskDefinition"), 1);
    assert_eq!(w.api_updates().len(), 1);
    let bad = w.api_task_definition().await;
    assert_ne!(bad, good);

    // The new revision's tasks never became healthy: the circuit breaker FAILED the
    // deployment and rolls the service back to the previous revision.
    let (failed, rolled_back) = (bad.clone(), good.clone());
    w.proxy.rewrite("DescribeServices", move |answer| {
        on_api(answer, |service| {
            let moto = primary(service);
            let mut rollback = moto.clone();
            rollback["id"] = json!("ecs-svc/rollback");
            rollback["taskDefinition"] = json!(rolled_back);
            rollback["rolloutState"] = json!("IN_PROGRESS");
            let mut broken = moto;
            broken["status"] = json!("ACTIVE");
            broken["taskDefinition"] = json!(failed);
            broken["rolloutState"] = json!("FAILED");
            broken["rolloutStateReason"] =
                json!("ECS deployment circuit breaker: tasks failed to start.");
            service["taskDefinition"] = json!(rolled_back);
            service["deployments"] = json!([rollback, broken]);
        })
    });
    let outcome = w.reconcile().await;
    assert!(!outcome.ready);
    assert_eq!(outcome.reason, "Degraded", "{}", outcome.message);
    let degraded = w.condition("Degraded").await;
    assert_eq!(degraded.status, "True");
    assert!(degraded.message.contains(&bad), "{}", degraded.message);
    assert_eq!(w.calls("RegisterTaskDefinition"), 0);
    assert_eq!(w.calls("UpdateService"), 0);
    let api = w.resource("ecs-service/shop-api").await;
    assert_eq!(api.phase.as_deref(), Some("Failed"));
    assert_eq!(api.failed_generation, Some(2));

    // The rollback completed and ECS dropped the FAILED deployment: the service runs the
    // previous revision, which differs from the spec, and stays held for this generation.
    let rolled_back = good.clone();
    w.proxy.rewrite("DescribeServices", move |answer| {
        on_api(answer, |service| {
            let mut deployment = primary(service);
            deployment["taskDefinition"] = json!(rolled_back);
            service["taskDefinition"] = json!(rolled_back);
            service["deployments"] = json!([deployment]);
        })
    });
    for _ in 0..2 {
        let outcome = w.reconcile().await;
        assert!(!outcome.ready);
        assert_eq!(outcome.reason, "Degraded", "{}", outcome.message);
        assert!(outcome.message.contains(&bad), "{}", outcome.message);
        assert_eq!(w.calls("RegisterTaskDefinition"), 0);
        assert_eq!(w.calls("UpdateService"), 0);
        assert_eq!(w.reconciler.counter.writes(), 0);
        assert_eq!(
            w.resource("ecs-service/shop-api").await.failed_generation,
            Some(2)
        );
    }

    // A fixed image is a new generation: it rolls out, from the revision ECS runs.
    w.store("registry.example.com/shop-api:3").await;
    w.reconcile_ready().await;
    assert_eq!(w.calls("RegisterTaskDefinition"), 1);
    let updates = w.api_updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    let fixed = w.api_task_definition().await;
    assert_eq!(updates[0].request["taskDefinition"], json!(fixed));
    assert_eq!(w.image_of(&fixed).await, "registry.example.com/shop-api:3");
    assert_eq!(w.condition("Degraded").await.status, "False");
    assert_eq!(
        w.resource("ecs-service/shop-api").await.failed_generation,
        None
    );

    w.proxy.stop_rewrite("DescribeServices");
    w.reconcile_ready().await;
    assert_eq!(w.reconciler.counter.writes(), 0, "settled");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_retried_create_service_creates_one_service(pool: PgPool) {
    let w = World::start(pool).await;
    w.store("registry.example.com/shop-api:1").await;
    // moto creates the service; its answer is lost on the way back. The SDK sends the same
    // request again. AWS answers a CreateService whose clientToken it has seen with the
    // service it made then; moto ignores the token and answers with the service made anew
    // under the same name, so here the retry succeeds either way.
    w.proxy.drop_answers("CreateService", 1, Fault::Close, |r| {
        r["serviceName"] == API
    });
    w.reconcile_ready().await;

    let attempts = w
        .proxy
        .requests("CreateService", |r| r["serviceName"] == API);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts[0].dropped && !attempts[1].dropped);
    let tokens: Vec<&str> = attempts.iter().map(|a| a.client_token().unwrap()).collect();
    assert_eq!(
        tokens[0], tokens[1],
        "the retry carries the same clientToken"
    );
    assert!(is_token(tokens[0]), "{}", tokens[0]);
    let worker = w
        .proxy
        .requests("CreateService", |r| r["serviceName"] == "shop-worker");
    assert_ne!(
        worker[0].client_token(),
        Some(tokens[0]),
        "one token per resource"
    );

    assert_eq!(w.service_names().await, [API, "shop-worker"]);
    w.reconcile_ready().await;
    assert_eq!(w.reconciler.counter.writes(), 0, "settled");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_create_whose_every_answer_was_lost_is_found_not_made_twice(pool: PgPool) {
    let w = World::start(pool).await;
    w.store("registry.example.com/shop-api:1").await;
    // Every attempt reaches moto, no answer reaches Plumb: the SDK gives up.
    let attempts = w.proxy.aws_config().max_attempts as usize;
    w.proxy
        .drop_answers("CreateService", attempts, Fault::ServerError, |r| {
            r["serviceName"] == API
        });
    let outcome = w.reconcile().await;
    assert!(!outcome.ready);
    assert_eq!(outcome.reason, "ApplyFailed", "{}", outcome.message);
    let seen = w
        .proxy
        .requests("CreateService", |r| r["serviceName"] == API);
    assert_eq!(seen.len(), attempts);
    assert!(seen.iter().all(|s| s.dropped));
    let token = seen[0].client_token().unwrap();
    assert!(is_token(token));
    assert!(seen.iter().all(|s| s.client_token() == Some(token)));

    // The next reconcile finds the service moto made and creates no other.
    w.reconcile_ready().await;
    let created: Vec<Value> = w
        .proxy
        .seen()
        .into_iter()
        .filter(|s| s.operation == "CreateService")
        .map(|s| s.request["serviceName"].clone())
        .collect();
    assert!(!created.contains(&json!(API)), "{created:?}");
    assert_eq!(w.service_names().await, [API, "shop-worker"]);
}

/// The convergence guard: AWS keeps answering with a value that never sticks; three
/// applies, then NotConverging and no more writes, until the field matches again.
#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_field_that_never_sticks_is_applied_three_times_then_not_converging(pool: PgPool) {
    let moto = Moto::start().await;
    let net = network(&moto).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let reconciler = Reconciler::new(
        Store::from_pool(pool),
        proxy.aws_config(),
        CallCounter::new(),
    );
    let yaml = format!(
        r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {{name: shop}}
spec:
  region: us-east-1
  network: {{subnets: [{s0}, {s1}], securityGroups: [{sg}]}}
  ecs:
    services:
      worker: {{image: registry.example.com/shop-worker:1, cpu: 256, memory: 512, desiredCount: 1}}
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group,
    );
    let env = parse_document(&yaml, Format::Yaml).unwrap();
    reconciler.store.apply(&env, "test").await.unwrap();
    let first = reconciler.reconcile("shop").await.unwrap();
    assert!(first.ready, "{}: {}", first.reason, first.message);

    // From now on AWS reports 7 tasks whatever Plumb writes.
    proxy.rewrite("DescribeServices", |answer: &mut Value| {
        if let Some(services) = answer["services"].as_array_mut() {
            for s in services {
                s["desiredCount"] = json!(7);
            }
        }
    });
    let updates = || reconciler.counter.calls("UpdateService");
    for round in 1..=3 {
        let before = updates();
        let outcome = reconciler.reconcile("shop").await.unwrap();
        assert_eq!(updates() - before, 1, "round {round}: {}", outcome.message);
    }
    for _ in 0..2 {
        let before = updates();
        let outcome = reconciler.reconcile("shop").await.unwrap();
        assert_eq!(updates(), before, "no fourth write");
        assert!(!outcome.ready);
        assert_eq!(outcome.reason, "NotConverging");
        assert!(
            outcome.message.contains("ecs-service/shop-worker")
                && outcome.message.contains("desiredCount"),
            "{}",
            outcome.message
        );
    }

    // It sticks again: the guard lets go, and the environment is Ready.
    proxy.stop_rewrite("DescribeServices");
    let outcome = reconciler.reconcile("shop").await.unwrap();
    assert!(outcome.ready, "{}: {}", outcome.reason, outcome.message);
    let status = reconciler.store.get("shop").await.unwrap().status.unwrap();
    assert_eq!(status.resources["ecs-service/shop-worker"].reapplied, None);
}
