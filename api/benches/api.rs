//! GET and PUT latency (p50 / p99) and throughput of the REST API on loopback, against real
//! Postgres. Run with `bench/api.sh` (or `cargo bench -p plumb-api --bench api` with
//! DATABASE_URL naming a server).

use std::sync::Arc;
use std::time::{Duration, Instant};

use plumb_api::{ApiConfig, AppState, Application};
use plumb_operator::aws::AwsConfig;
use plumb_operator::store::{Role, Store};
use reqwest::{Client, StatusCode};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use tokio_util::sync::CancellationToken;

const CONCURRENCY: usize = 16;
const REQUESTS: usize = 4000;

fn spec(name: &str, desired: u64) -> serde_json::Value {
    json!({
        "apiVersion": "plumb.dev/v1", "kind": "Environment",
        "metadata": {"name": name, "labels": {"bench": "true"}},
        "spec": {
            "region": "us-east-1",
            "tags": {"desired": desired.to_string()},
            "network": {"subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60819"],
                        "securityGroups": ["sg-0123456789abcdef0"]},
            "ecs": {"executionRoleArn": "arn:aws:iam::123456789012:role/bench-execution",
                    "services": {"api": {
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1",
                "cpu": 512, "memory": 1024, "desiredCount": desired, "port": 3000}}}
        }
    })
}

struct Figures {
    label: &'static str,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Figures {
    fn print(mut self) {
        self.latencies.sort();
        let at = |q: f64| self.latencies[((self.latencies.len() as f64 - 1.0) * q) as usize];
        println!(
            "{:<4} {:>6} requests, {:>2} concurrent: p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  {:>8.0} req/s",
            self.label,
            self.latencies.len(),
            CONCURRENCY,
            at(0.50).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            at(1.0).as_secs_f64() * 1e3,
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
        );
    }
}

/// Runs `REQUESTS` requests from `CONCURRENCY` workers; `request(worker, i)` sends one.
async fn run<F, Fut>(label: &'static str, request: F) -> Figures
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = StatusCode> + Send,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|worker| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(REQUESTS / CONCURRENCY);
                for i in 0..REQUESTS / CONCURRENCY {
                    let t = Instant::now();
                    let status = request(worker, i).await;
                    assert!(status.is_success(), "{label} answered {status}");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(REQUESTS);
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    Figures {
        label,
        latencies,
        elapsed: start.elapsed(),
    }
}

#[tokio::main]
async fn main() {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = format!("plumb_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to DATABASE_URL");
    conn.execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .expect("create database");
    let url = format!(
        "{}/{db}",
        admin
            .rsplit_once('/')
            .map(|(root, _)| root)
            .unwrap_or(&admin)
    );

    let store = Store::connect(&url, 16).await.expect("connect");
    store.migrate().await.expect("migrate");
    let token = store
        .create_token("bench", Role::Editor)
        .await
        .expect("token")
        .secret;
    let state = AppState::new(store, ApiConfig::default(), AwsConfig::default()).unwrap();
    let app = Application::build("127.0.0.1:0".parse().unwrap(), state)
        .await
        .expect("bind");
    let base = format!("http://{}/api/v1/environments", app.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(shutdown.clone()));

    let http = Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    for worker in 0..CONCURRENCY {
        let name = format!("bench-{worker}");
        let status = http
            .put(format!("{base}/{name}"))
            .bearer_auth(&token)
            .json(&spec(&name, 1))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }
    println!("plumb API on loopback, Postgres store, {CONCURRENCY} keep-alive clients");

    let (h, b, t) = (http.clone(), base.clone(), token.clone());
    run("GET", move |worker, _| {
        let request = h.get(format!("{b}/bench-{worker}")).bearer_auth(&t);
        async move {
            request
                .send()
                .await
                .map(|r| r.status())
                .unwrap_or(StatusCode::BAD_GATEWAY)
        }
    })
    .await
    .print();

    // Each PUT changes the spec (a new desiredCount), so every one is a real write:
    // row lock, generation and resourceVersion bump, event row, commit.
    let (h, b, t) = (http.clone(), base.clone(), token.clone());
    run("PUT", move |worker, i| {
        let name = format!("bench-{worker}");
        let request = h
            .put(format!("{b}/{name}"))
            .bearer_auth(&t)
            .json(&spec(&name, 2 + i as u64));
        async move {
            request
                .send()
                .await
                .map(|r| r.status())
                .unwrap_or(StatusCode::BAD_GATEWAY)
        }
    })
    .await
    .print();

    shutdown.cancel();
    let _ = server.await;
    let mut conn = PgConnection::connect(&admin).await.expect("reconnect");
    let _ = conn
        .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
        .await;
}
