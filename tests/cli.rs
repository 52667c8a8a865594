//! End to end: the real `plumb` binary serving on a free port against Postgres, driven by the
//! real `plumb apply / get / delete` commands.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};

const PLUMB: &str = env!("CARGO_BIN_EXE_plumb");

fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own, dropped at the end.
struct Database {
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Self {
        let name = format!("plumb_e2e_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let base = admin_url();
        let root = base.rsplit_once('/').map(|(root, _)| root).unwrap_or(&base);
        let url = format!("{root}/{name}");
        Self { name, url }
    }

    async fn drop_now(self) {
        let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        admin.execute(sql.as_str()).await.unwrap();
    }
}

/// A running `plumb serve`, stopped with SIGTERM.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// `plumb serve` with `args` added and `envs` set.
    fn start(database_url: &str, args: &[&str], envs: &[(&str, String)]) -> Self {
        let mut child = Command::new(PLUMB)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("PLUMB_LOG", "warn")
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("plumb listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, url }
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn plumb(server: &Server, token: &str, args: &[&str]) -> Output {
    Command::new(PLUMB)
        .args(args)
        .env("PLUMB_SERVER", &server.url)
        .env("PLUMB_TOKEN", token)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn token(database_url: &str, role: &str) -> String {
    let out = Command::new(PLUMB)
        .args([
            "token",
            "create",
            "--role",
            role,
            "--name",
            &format!("e2e-{role}"),
        ])
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plumb-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

const SHOP: &str = "apiVersion: plumb.dev/v1
kind: Environment
metadata:
  name: shop
  labels:
    team: payments
spec:
  region: us-east-1
";

#[tokio::test(flavor = "multi_thread")]
async fn apply_get_delete_through_the_real_binary() {
    let db = Database::create().await;
    let migrate = Command::new(PLUMB)
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let editor = token(&db.url, "editor");
    let viewer = token(&db.url, "viewer");
    // An API-only replica: nothing here reaches AWS.
    let server = Server::start(&db.url, &["--controller=false"], &[]);

    // Every example, from a directory.
    let applied = plumb(
        &server,
        &editor,
        &["apply", "-f", examples().to_str().unwrap()],
    );
    assert!(applied.status.success(), "{}", stderr(&applied));
    let lines = stdout(&applied);
    assert!(lines.lines().count() >= 4, "{lines}");
    assert!(lines.lines().all(|l| l.ends_with(" created")), "{lines}");

    let again = plumb(
        &server,
        &editor,
        &["apply", "-f", examples().to_str().unwrap()],
    );
    assert!(
        stdout(&again).lines().all(|l| l.ends_with(" unchanged")),
        "{}",
        stdout(&again)
    );

    // One file: created, unchanged, configured.
    let dir = scratch_dir();
    let file = dir.join("shop.yaml");
    std::fs::write(&file, SHOP).unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(
        stdout(&plumb(&server, &editor, &["apply", "-f", file])),
        "environment/shop created\n"
    );
    assert_eq!(
        stdout(&plumb(&server, &editor, &["apply", "-f", file])),
        "environment/shop unchanged\n"
    );
    std::fs::write(
        dir.join("shop.yaml"),
        SHOP.replace("us-east-1", "eu-west-1"),
    )
    .unwrap();
    assert_eq!(
        stdout(&plumb(&server, &editor, &["apply", "-f", file])),
        "environment/shop configured\n"
    );

    // From stdin.
    let mut child = Command::new(PLUMB)
        .args(["apply", "-f", "-"])
        .env("PLUMB_SERVER", &server.url)
        .env("PLUMB_TOKEN", &editor)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        SHOP.replace("shop", "piped").as_bytes(),
    )
    .unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(stdout(&piped), "environment/piped created\n");

    // get: table, json, yaml, selector.
    let table = stdout(&plumb(&server, &viewer, &["get"]));
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("GENERATION"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("shop ") && l.contains("eu-west-1")),
        "{table}"
    );
    // Without a controller, nothing reconciles.
    assert!(
        table
            .lines()
            .skip(1)
            .all(|l| l.split_whitespace().nth(3) == Some("Pending")),
        "{table}"
    );
    let json: Value = serde_json::from_str(&stdout(&plumb(
        &server,
        &viewer,
        &["get", "shop", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(json["metadata"]["generation"], 2);
    assert_eq!(json["spec"]["region"], "eu-west-1");
    let yaml = stdout(&plumb(&server, &viewer, &["get", "shop", "-o", "yaml"]));
    assert!(
        yaml.contains("name: shop") && yaml.contains("region: eu-west-1"),
        "{yaml}"
    );
    let selected = stdout(&plumb(
        &server,
        &viewer,
        &["get", "-l", "team=payments", "-o", "json"],
    ));
    let selected: Vec<Value> = serde_json::from_str(&selected).unwrap();
    let names: Vec<_> = selected
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["piped", "shop"]);

    // Errors name the field and fail the command; nothing is stored.
    std::fs::write(
        dir.join("bad.yaml"),
        SHOP.replace("name: shop", "name: Bad_Name"),
    )
    .unwrap();
    let bad = plumb(
        &server,
        &editor,
        &["apply", "-f", dir.join("bad.yaml").to_str().unwrap()],
    );
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("metadata.name"), "{}", stderr(&bad));
    std::fs::write(dir.join("typo.yaml"), SHOP.replace("region:", "regoin:")).unwrap();
    let typo = plumb(
        &server,
        &editor,
        &["apply", "-f", dir.join("typo.yaml").to_str().unwrap()],
    );
    assert!(!typo.status.success());
    assert!(stderr(&typo).contains("spec.regoin"), "{}", stderr(&typo));
    let forbidden = plumb(&server, &viewer, &["apply", "-f", file]);
    assert!(!forbidden.status.success());
    assert!(stderr(&forbidden).contains("403"), "{}", stderr(&forbidden));
    let missing = plumb(&server, &viewer, &["get", "nope"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );

    // delete marks it deleting.
    let deleted = plumb(&server, &editor, &["delete", "shop"]);
    assert_eq!(stdout(&deleted), "environment/shop marked for deletion\n");
    let json: Value = serde_json::from_str(&stdout(&plumb(
        &server,
        &viewer,
        &["get", "shop", "-o", "json"],
    )))
    .unwrap();
    assert!(json["metadata"]["deletionTimestamp"].is_string());
    let table = stdout(&plumb(&server, &viewer, &["get"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("shop ") && l.contains("Deleting")),
        "{table}"
    );

    // SIGTERM stops the server cleanly.
    assert!(server.stop().success());
    std::fs::remove_dir_all(dir).ok();
    db.drop_now().await;
}

#[test]
fn serve_checks_its_aws_flags_and_hides_the_external_id() {
    let out = Command::new(PLUMB)
        .args(["serve", "--allowed-accounts", "111111111111,12345"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"12345\" is not an AWS account id (12 digits)"),
        "{}",
        stderr(&out)
    );

    let out = Command::new(PLUMB)
        .args(["serve", "--aws-external-id", "tenant 42"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("2–1224 characters"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("tenant 42"), "{}", stderr(&out));

    let help = Command::new(PLUMB)
        .args(["serve", "--help"])
        .env("PLUMB_AWS_EXTERNAL_ID", "tenant-42-secret")
        .env("PLUMB_ALLOWED_ACCOUNTS", "111111111111,222222222222")
        .output()
        .unwrap();
    let text = stdout(&help);
    assert!(text.contains("--allowed-accounts"), "{text}");
    assert!(text.contains("PLUMB_AWS_EXTERNAL_ID"), "{text}");
    assert!(!text.contains("tenant-42-secret"), "{text}");
}

#[test]
fn serve_checks_its_alert_flags() {
    let out = Command::new(PLUMB)
        .args([
            "serve",
            "--alerts-topic-arn",
            "arn:aws:sqs:us-east-1:123456789012:q",
        ])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not an SNS topic ARN"),
        "{}",
        stderr(&out)
    );

    let out = Command::new(PLUMB)
        .args(["serve", "--alert-summary-threshold", "0"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let help = Command::new(PLUMB)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = stdout(&help);
    for flag in [
        "--alerts-sender",
        "PLUMB_ALERTS_TOPIC_ARN",
        "--alert-quiet-period-seconds",
        "[default: 300]",
        "--alert-summary-threshold",
    ] {
        assert!(text.contains(flag), "{flag} in {text}");
    }
}

#[path = "../operator/tests/support/mod.rs"]
mod support;

// The fault proxy, used here only to count what reaches AWS.
#[allow(dead_code)]
#[path = "../operator/tests/support/proxy.rs"]
mod proxy;

fn shop_on(net: &support::Network, image: &str, max: u32) -> String {
    format!(
        "apiVersion: plumb.dev/v1
kind: Environment
metadata:
  name: shop
spec:
  region: us-east-1
  network:
    subnets: [{}, {}]
    securityGroups: [{}]
  ecs:
    services:
      api:
        image: {image}
        cpu: 256
        memory: 512
        desiredCount: 1
        autoscaling:
          minCapacity: 1
          maxCapacity: {max}
          targetTracking:
            - {{metric: cpu, target: 70}}
      worker:
        image: registry.example.com/worker:1
        cpu: 256
        memory: 512
        desiredCount: 1
",
        net.subnets[0], net.subnets[1], net.security_group
    )
}

/// `plumb serve` (controller on) against `moto`, with AWS settings for it.
fn serve_on_moto(database_url: &str, moto: &support::Moto, args: &[&str]) -> Server {
    serve_on(database_url, moto.aws_config().endpoint_url.unwrap(), args)
}

/// `plumb serve` (controller on) sending its AWS calls to `endpoint`.
fn serve_on(database_url: &str, endpoint: String, args: &[&str]) -> Server {
    let envs = [
        ("PLUMB_AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ];
    Server::start(database_url, args, &envs)
}

/// `plumb get NAME -o json`.
fn get_json(server: &Server, token: &str, name: &str) -> Value {
    let out = plumb(server, token, &["get", name, "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn ready(env: &Value) -> &Value {
    let conditions = env["status"]["conditions"].as_array();
    conditions
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .unwrap_or(&Value::Null)
}

/// Polls `check` every 200 ms until it holds; panics with `what` after `limit`.
async fn eventually(limit: std::time::Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_apply_wait_against_moto() {
    let moto = support::Moto::start().await;
    let net = support::network(&moto).await;
    let db = Database::create().await;
    let editor = token(&db.url, "editor");
    let server = serve_on_moto(&db.url, &moto, &[]);

    let dir = scratch_dir();
    let file = dir.join("shop.yaml");
    std::fs::write(&file, shop_on(&net, "registry.example.com/api:1", 4)).unwrap();
    let file = file.to_str().unwrap();

    // Before anything exists, the plan creates everything.
    let plan = plumb(&server, &editor, &["plan", "-f", file]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("+ ecs-cluster/shop-cluster"), "{text}");
    assert!(text.contains("+ ecs-service/shop-api"), "{text}");
    assert!(text.contains("Plan: 9 to create"), "{text}");

    // apply --wait only writes and watches; the controller does the work.
    let applied = plumb(
        &server,
        &editor,
        &["apply", "-f", file, "--wait", "--timeout", "60"],
    );
    assert!(applied.status.success(), "{}", stderr(&applied));
    let out = stdout(&applied);
    assert!(out.starts_with("environment/shop created\n"), "{out}");
    assert!(out.contains("ecs-service/shop-api: create done"), "{out}");
    assert!(out.contains("ecs-service/shop-api: Ready"), "{out}");
    assert!(out.contains("environment/shop ready (Reconciled"), "{out}");
    assert_no_line_twice(&out);

    let settled = plumb(&server, &editor, &["plan", "-f", file]);
    assert!(
        stdout(&settled).contains("No changes."),
        "{}",
        stdout(&settled)
    );

    // A change: the plan shows it, then apply --wait makes exactly that.
    std::fs::write(
        dir.join("shop.yaml"),
        shop_on(&net, "registry.example.com/api:2", 6),
    )
    .unwrap();
    let plan = plumb(&server, &editor, &["plan", "-f", file, "-o", "json"]);
    let plan: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let planned: Vec<String> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["change"]["type"] != "noOp")
        .map(|a| {
            format!(
                "{}/{}",
                a["resource"]["kind"].as_str().unwrap(),
                a["resource"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            "task-definition/shop-api",
            "ecs-service/shop-api",
            "scalable-target/service/shop-cluster/shop-api"
        ]
    );
    let applied = plumb(&server, &editor, &["apply", "-f", file, "--wait"]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let out = stdout(&applied);
    let done: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_suffix(" done"))
        .map(|l| l.rsplit_once(": ").unwrap().0)
        .collect();
    assert_eq!(done, planned, "{out}");
    assert_no_line_twice(&out);

    let json = get_json(&server, &editor, "shop");
    assert_eq!(json["status"]["observedGeneration"], 2);
    assert_eq!(ready(&json)["status"], "True");
    assert_eq!(ready(&json)["observedGeneration"], 2);
    assert!(json["status"]["resources"]["ecs-service/shop-api"]["arn"].is_string());

    // Applying the same spec again: already Ready at its generation.
    let again = plumb(&server, &editor, &["apply", "-f", file, "--wait"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let out = stdout(&again);
    assert!(out.starts_with("environment/shop unchanged\n"), "{out}");
    assert!(!out.contains(" done"), "{out}");

    // A request AWS refuses (subnets that do not exist): apply --wait fails at once with
    // AWS's reason, instead of waiting out its timeout.
    let bad = dir.join("bad.yaml");
    let spec = shop_on(&net, "registry.example.com/api:1", 4)
        .replace("name: shop", "name: bad")
        .replace(&net.subnets[0], "subnet-0a1b2c3d4e5f60718")
        .replace(&net.subnets[1], "subnet-0a1b2c3d4e5f60719");
    std::fs::write(&bad, spec).unwrap();
    let failed = plumb(
        &server,
        &editor,
        &[
            "apply",
            "-f",
            bad.to_str().unwrap(),
            "--wait",
            "--timeout",
            "300",
        ],
    );
    assert!(!failed.status.success(), "{}", stdout(&failed));
    let reason = stderr(&failed);
    // "not ready: …" at once; waiting out the timeout would say "not ready after 300s".
    assert!(reason.contains("not ready: ApplyFailed"), "{reason}");
    assert!(reason.contains("InvalidParameterException"), "{reason}");
    assert_no_line_twice(&stdout(&failed));
    let json = get_json(&server, &editor, "bad");
    let stalled = json["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Stalled")
        .unwrap();
    assert_eq!(stalled["status"], "True", "{json}");

    // describe: conditions, resources with their ARNs, the events.
    let described = plumb(&server, &editor, &["describe", "shop"]);
    assert!(described.status.success(), "{}", stderr(&described));
    let text = stdout(&described);
    assert!(text.contains("Generation:  2 (observed: 2)"), "{text}");
    let line = |start: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in {text}"))
            .to_owned()
    };
    assert!(line("Ready ").contains("True"), "{text}");
    assert!(line("Ready ").contains("Reconciled"), "{text}");
    let service = line("ecs-service ");
    assert!(service.contains("shop-api"), "{text}");
    assert!(service.contains("Ready"), "{text}");
    assert!(
        service.contains("arn:aws:ecs:us-east-1:123456789012:service/shop-cluster/shop-api"),
        "{text}"
    );
    assert!(text.contains("update ecs-service/shop-api"), "{text}");
    assert!(text.contains("Created"), "{text}");

    assert!(server.stop().success());
    std::fs::remove_dir_all(dir).ok();
    db.drop_now().await;
}

/// Progress is printed once per change: no line comes twice.
fn assert_no_line_twice(out: &str) {
    let mut seen = std::collections::BTreeSet::new();
    for line in out.lines() {
        assert!(seen.insert(line), "{line:?} printed twice in\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_controller_keeps_an_environment_true_without_being_asked() {
    let moto = support::Moto::start().await;
    let net = support::network(&moto).await;
    let db = Database::create().await;
    let editor = token(&db.url, "editor");
    let server = serve_on_moto(&db.url, &moto, &["--workers", "1"]);

    // Applied without --wait and never triggered: it becomes Ready on its own.
    let dir = scratch_dir();
    let file = dir.join("shop.yaml");
    let spec = shop_on(&net, "registry.example.com/api:1", 4).replace(
        "  region: us-east-1\n",
        "  region: us-east-1\n  policy:\n    resyncSeconds: 10\n",
    );
    std::fs::write(&file, spec).unwrap();
    let applied = plumb(&server, &editor, &["apply", "-f", file.to_str().unwrap()]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let minute = std::time::Duration::from_secs(60);
    eventually(minute, "shop becomes Ready", || {
        let json = get_json(&server, &editor, "shop");
        ready(&json)["status"] == "True" && json["status"]["observedGeneration"] == 1
    })
    .await;
    let table = stdout(&plumb(&server, &editor, &["get"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("shop ") && l.contains("Ready")),
        "{table}"
    );

    // Changed out of band: within a resync (10 s) Plumb puts it back.
    let clients = moto.clients().await;
    let desired = |clients: &plumb_operator::aws::Clients| {
        let clients = clients.clone();
        async move {
            let answer = clients
                .ecs
                .describe_services()
                .cluster("shop-cluster")
                .services("shop-worker")
                .send()
                .await
                .unwrap();
            answer.services()[0].desired_count()
        }
    };
    assert_eq!(desired(&clients).await, 1);
    clients
        .ecs
        .update_service()
        .cluster("shop-cluster")
        .service("shop-worker")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    assert_eq!(desired(&clients).await, 3);
    let deadline = std::time::Instant::now() + minute;
    while desired(&clients).await != 1 {
        assert!(std::time::Instant::now() < deadline, "not put back");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    // Deleted: the controller tears it down and the environment goes.
    let deleted = plumb(&server, &editor, &["delete", "shop"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    eventually(minute, "shop is gone", || {
        let out = plumb(&server, &editor, &["get", "shop"]);
        !out.status.success() && stderr(&out).contains("not found")
    })
    .await;
    // AWS keeps deleted clusters and services visible for a while, as INACTIVE.
    let described = clients
        .ecs
        .describe_clusters()
        .clusters("shop-cluster")
        .send()
        .await
        .unwrap();
    assert!(
        described
            .clusters()
            .iter()
            .all(|c| c.status() == Some("INACTIVE")),
        "{described:?}"
    );
    let services = clients
        .ecs
        .describe_services()
        .cluster("shop-cluster")
        .services("shop-api")
        .services("shop-worker")
        .send()
        .await
        .unwrap();
    assert!(
        services
            .services()
            .iter()
            .all(|s| s.status() == Some("INACTIVE")),
        "{services:?}"
    );

    assert!(server.stop().success());
    std::fs::remove_dir_all(dir).ok();
    db.drop_now().await;
}

#[tokio::test]
async fn drift_is_listed_described_and_accepted_through_the_real_binary() {
    let moto = support::Moto::start().await;
    let net = support::network(&moto).await;
    let db = Database::create().await;
    let editor = token(&db.url, "editor");
    let viewer = token(&db.url, "viewer");
    let server = serve_on_moto(&db.url, &moto, &["--workers", "1"]);

    let dir = scratch_dir();
    let file = dir.join("shop.yaml");
    let spec = shop_on(&net, "registry.example.com/api:1", 4).replace(
        "  region: us-east-1\n",
        "  region: us-east-1\n  policy:\n    drift: report\n    resyncSeconds: 10\n",
    );
    std::fs::write(&file, spec).unwrap();
    let applied = plumb(
        &server,
        &editor,
        &["apply", "-f", file.to_str().unwrap(), "--wait"],
    );
    assert!(applied.status.success(), "{}", stderr(&applied));
    let none = stdout(&plumb(&server, &viewer, &["drift", "shop"]));
    assert!(none.contains("(none)"), "{none}");

    // Changed in the console; under report Plumb records it within a resync and leaves it.
    let clients = moto.clients().await;
    clients
        .ecs
        .update_service()
        .cluster("shop-cluster")
        .service("shop-worker")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    let minute = std::time::Duration::from_secs(60);
    eventually(minute, "the drift is listed", || {
        let table = stdout(&plumb(&server, &viewer, &["drift", "shop"]));
        table.lines().any(|l| {
            l.contains("ecs-service/shop-worker")
                && l.contains("desiredCount")
                && l.contains("1 → 3")
        })
    })
    .await;
    let everywhere = stdout(&plumb(&server, &viewer, &["drift"]));
    assert!(everywhere.contains("ENVIRONMENT"), "{everywhere}");
    assert!(
        everywhere.lines().any(|l| l.starts_with("  shop ")),
        "{everywhere}"
    );
    let described = stdout(&plumb(&server, &viewer, &["describe", "shop"]));
    assert!(described.contains("Open drift:"), "{described}");
    assert!(described.contains("DriftFound"), "{described}");
    eventually(minute, "Ready says Drifted", || {
        let json = get_json(&server, &editor, "shop");
        ready(&json)["reason"] == "Drifted"
    })
    .await;

    // A viewer may not accept; an editor keeps the console's value.
    let refused = plumb(
        &server,
        &viewer,
        &[
            "drift",
            "accept",
            "shop",
            "ecs-service/shop-worker",
            "desiredCount",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("403") || stderr(&refused).contains("may not"),
        "{}",
        stderr(&refused)
    );
    let accepted = plumb(
        &server,
        &editor,
        &[
            "drift",
            "accept",
            "shop",
            "ecs-service/shop-worker",
            "desiredCount",
        ],
    );
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    assert!(
        stdout(&accepted).contains("generation 2"),
        "{}",
        stdout(&accepted)
    );
    let json = get_json(&server, &editor, "shop");
    assert_eq!(json["spec"]["ecs"]["services"]["worker"]["desiredCount"], 3);
    let resolved = stdout(&plumb(
        &server,
        &viewer,
        &["drift", "shop", "--state", "resolved"],
    ));
    assert!(resolved.contains("accepted"), "{resolved}");
    let again = plumb(
        &server,
        &editor,
        &[
            "drift",
            "accept",
            "shop",
            "ecs-service/shop-worker",
            "desiredCount",
        ],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("no open drift"),
        "{}",
        stderr(&again)
    );

    assert!(server.stop().success());
    std::fs::remove_dir_all(dir).ok();
    db.drop_now().await;
}

/// `GET /metrics`, parsed as Prometheus parses it.
async fn scrape(server: &Server) -> prometheus_parse::Scrape {
    let answer = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = answer.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

/// The value of the sample of `name` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_what_the_controller_did_and_every_aws_call_a_proxy_saw() {
    let moto = support::Moto::start().await;
    let net = support::network(&moto).await;
    let counting = proxy::Proxy::start(&moto.aws_config().endpoint_url.unwrap()).await;
    let db = Database::create().await;
    let editor = token(&db.url, "editor");
    let server = serve_on(&db.url, counting.endpoint.clone(), &["--workers", "1"]);

    let before = scrape(&server).await;
    assert_eq!(sample(&before, "plumb_queue_depth", &[]), Some(0.0));
    assert!(
        before
            .samples
            .iter()
            .all(|s| s.metric != "plumb_aws_calls_total"),
        "no AWS call yet"
    );

    let dir = scratch_dir();
    let file = dir.join("shop.yaml");
    std::fs::write(&file, shop_on(&net, "registry.example.com/api:1", 4)).unwrap();
    let applied = plumb(&server, &editor, &["apply", "-f", file.to_str().unwrap()]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    eventually(
        std::time::Duration::from_secs(60),
        "shop becomes Ready",
        || ready(&get_json(&server, &editor, "shop"))["status"] == "True",
    )
    .await;
    // Ready, so its next look is a resync minutes away: no call is in flight now.
    let after = scrape(&server).await;

    let reconciled = sample(
        &after,
        "plumb_reconciles_total",
        &[("result", "reconciled")],
    );
    assert!(reconciled.is_some_and(|n| n >= 1.0), "{:?}", after.samples);
    let durations = after
        .samples
        .iter()
        .find(|s| s.metric == "plumb_reconcile_duration_seconds")
        .map(|s| match &s.value {
            prometheus_parse::Value::Histogram(buckets) => buckets.last().unwrap().count,
            other => panic!("{other:?} is not a histogram"),
        });
    assert_eq!(durations, reconciled, "one duration per reconcile");
    assert_eq!(
        sample(&after, "plumb_environments", &[("reason", "Reconciled")]),
        Some(1.0)
    );
    assert_eq!(sample(&after, "plumb_leases_held", &[]), Some(0.0));
    assert_eq!(sample(&after, "plumb_queue_depth", &[]), Some(0.0));
    assert_eq!(
        sample(&after, "plumb_queue_oldest_due_seconds", &[]),
        Some(0.0)
    );

    // Every AWS call the proxy forwarded is counted, by operation, and nothing more.
    let mut seen: std::collections::BTreeMap<String, f64> = Default::default();
    for request in counting.seen() {
        *seen.entry(request.operation).or_default() += 1.0;
    }
    let mut counted: std::collections::BTreeMap<String, f64> = Default::default();
    for s in after
        .samples
        .iter()
        .filter(|s| s.metric == "plumb_aws_calls_total")
    {
        let prometheus_parse::Value::Counter(n) = s.value else {
            panic!("{s:?} is not a counter");
        };
        *counted
            .entry(s.labels.get("operation").unwrap().to_owned())
            .or_default() += n;
    }
    assert!(seen.contains_key("CreateService"), "{seen:?}");
    assert_eq!(counted, seen);

    assert!(server.stop().success());
    std::fs::remove_dir_all(dir).ok();
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_publishes_alerts_to_its_default_topic_and_counts_them() {
    let moto = support::Moto::start().await;
    let aws = moto.clients().await;
    let topic = aws
        .sns
        .create_topic()
        .name("plumb-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = aws
        .sqs
        .create_queue()
        .queue_name("plumb-alerts")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:plumb-alerts";
    aws.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    let db = Database::create().await;
    let server = serve_on_moto(
        &db.url,
        &moto,
        &["--controller=false", "--alerts-topic-arn", &topic],
    );

    // An environment without spec.alerts: its alert goes to the server's topic.
    let store = plumb_operator::store::Store::connect(&db.url, 2)
        .await
        .unwrap();
    let config = plumb_operator::alerts::AlertConfig::default();
    let cx = plumb_operator::alerts::message::Context {
        environment: "shop",
        environment_uid: uuid::Uuid::new_v4(),
        alerts: None,
        role_arn: None,
        external_id: None,
        policy: Default::default(),
        config: &config,
        now: chrono::Utc::now(),
    };
    let alert = cx.degraded("ECS DescribeServices: throttled");
    store.enqueue_alert(&alert, &[]).await.unwrap();

    let mut received = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while received.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no alert received");
        let answer = aws
            .sqs
            .receive_message()
            .queue_url(&queue_url)
            .send()
            .await
            .unwrap();
        received = answer.messages.unwrap_or_default();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(received.len(), 1);
    let envelope: Value = serde_json::from_str(received[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], alert.subject.as_str());
    assert_eq!(envelope["MessageAttributes"]["state"]["Value"], "degraded");

    // Counted once marked sent, just after SNS took it.
    let sent = [("state", "degraded"), ("result", "sent")];
    let mut scraped = scrape(&server).await;
    while sample(&scraped, "plumb_alerts_sent_total", &sent).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the alert is not counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        scraped = scrape(&server).await;
    }
    assert_eq!(
        sample(&scraped, "plumb_alerts_sent_total", &sent),
        Some(1.0)
    );
    assert_eq!(sample(&scraped, "plumb_alerts_pending", &[]), Some(0.0));

    assert!(server.stop().success());
    store.pool().close().await;
    db.drop_now().await;
}
