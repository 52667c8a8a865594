//! `plan`, and `apply --wait`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::client::Client;
use super::files;
use super::{PlanArgs, PlanFormat};

pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let envs = files::read_all(&args.files)?;
    let client = Client::new(&args.server)?;
    let mut failed = false;
    for (source, env) in envs {
        let name = env.metadata.name.clone();
        let url = client.url(&["api", "v1", "environments", &name, "plan"], &[])?;
        let body = serde_json::to_value(&env)?;
        match client.send(Method::POST, url, Some(&body)).await {
            Ok(response) => {
                let answer: Value = response.json().await?;
                match args.output {
                    PlanFormat::Json => {
                        println!("{}", serde_json::to_string_pretty(&answer["plan"])?)
                    }
                    PlanFormat::Text => {
                        println!("environment/{name}:");
                        let text = answer["text"].as_str().unwrap_or_default();
                        for line in text.lines() {
                            println!("  {line}");
                        }
                    }
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("error: environment/{name} ({source}): {e:#}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    ready: bool,
    reason: String,
    message: String,
    #[serde(default)]
    applied: Vec<Applied>,
}

#[derive(Debug, Deserialize)]
struct Applied {
    resource: Resource,
    action: String,
    ok: bool,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Resource {
    kind: String,
    name: String,
}

/// Reasons that waiting cannot fix.
const TERMINAL: &[&str] = &["ReplacementRefused", "Conflict", "Degraded"];

/// Reconciles `name` until it is Ready, printing each resource as it is handled; fails with
/// the reason when it stalls past `timeout` or cannot become Ready.
pub async fn wait_ready(client: &Client, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    let url = client.url(&["api", "v1", "environments", name, "reconcile"], &[])?;
    loop {
        let outcome: Outcome = client
            .send(Method::POST, url.clone(), None)
            .await?
            .json()
            .await?;
        for a in &outcome.applied {
            let result = if a.ok {
                "done".to_owned()
            } else {
                a.message.clone().unwrap_or_default()
            };
            println!(
                "  {}/{}: {} {}",
                a.resource.kind, a.resource.name, a.action, result
            );
        }
        if outcome.ready {
            println!(
                "environment/{name} ready ({}: {})",
                outcome.reason, outcome.message
            );
            return Ok(());
        }
        if TERMINAL.contains(&outcome.reason.as_str()) {
            bail!("not ready: {}: {}", outcome.reason, outcome.message);
        }
        if start.elapsed() >= timeout {
            bail!(
                "not ready after {}s: {}: {}",
                timeout.as_secs(),
                outcome.reason,
                outcome.message
            );
        }
        println!("  waiting: {}: {}", outcome.reason, outcome.message);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
