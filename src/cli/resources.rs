//! `apply`, `get` and `delete`.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use plumb_operator::spec::Environment;
use reqwest::Method;
use serde::Deserialize;

use super::client::Client;
use super::{files, wait};
use super::{ApplyArgs, DeleteArgs, GetArgs, OutputFormat};

const OUTCOME_HEADER: &str = "plumb-outcome";

pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let envs = files::read_all(&args.files)?;
    let client = Client::new(&args.server)?;
    let mut failed = false;
    let mut applied = Vec::new();
    for (source, env) in envs {
        let name = env.metadata.name.clone();
        let body = serde_json::to_value(&env)?;
        let url = client.url(&["api", "v1", "environments", &name], &[])?;
        // With --wait, only what happens after this write is shown.
        let after_event = if args.wait {
            wait::last_event(&client, &name).await?
        } else {
            0
        };
        match client.send(Method::PUT, url, Some(&body)).await {
            Ok(response) => {
                let outcome = response
                    .headers()
                    .get(OUTCOME_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("configured")
                    .to_owned();
                let stored: Environment = response.json().await?;
                println!("environment/{name} {outcome}");
                let generation = stored.metadata.generation.unwrap_or_default();
                applied.push((name, generation, after_event));
            }
            Err(e) => {
                failed = true;
                eprintln!("error: environment/{name} ({source}): {e:#}");
            }
        }
    }
    if args.wait {
        let timeout = std::time::Duration::from_secs(args.timeout);
        for (name, generation, after_event) in &applied {
            let waited = wait::wait_ready(&client, name, *generation, *after_event, timeout);
            if let Err(e) = waited.await {
                failed = true;
                eprintln!("error: environment/{name}: {e:#}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Deserialize)]
struct List {
    items: Vec<Environment>,
    #[serde(default)]
    metadata: ListMeta,
}

#[derive(Default, Deserialize)]
struct ListMeta {
    #[serde(rename = "continue")]
    continue_: Option<String>,
}

pub async fn get(args: GetArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    if let Some(name) = &args.name {
        let url = client.url(&["api", "v1", "environments", name], &[])?;
        let env: Environment = client.send(Method::GET, url, None).await?.json().await?;
        match args.output {
            OutputFormat::Yaml => print!("{}", serde_yaml_ng::to_string(&env)?),
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&env)?),
            OutputFormat::Table => print_table(&[env]),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut query = vec![("limit", "500")];
        if let Some(selector) = &args.selector {
            query.push(("labelSelector", selector));
        }
        if let Some(after) = &next {
            query.push(("continue", after));
        }
        let url = client.url(&["api", "v1", "environments"], &query)?;
        let page: List = client
            .send(Method::GET, url, None)
            .await?
            .json()
            .await
            .context("unexpected answer from the server")?;
        items.extend(page.items);
        next = page.metadata.continue_;
        if next.is_none() {
            break;
        }
    }
    match args.output {
        OutputFormat::Yaml => {
            for env in &items {
                print!("---\n{}", serde_yaml_ng::to_string(env)?);
            }
        }
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&items)?),
        OutputFormat::Table if items.is_empty() => eprintln!("no environments"),
        OutputFormat::Table => print_table(&items),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn delete(args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["api", "v1", "environments", &args.name], &[])?;
    client.send(Method::DELETE, url, None).await?;
    println!("environment/{} marked for deletion", args.name);
    Ok(ExitCode::SUCCESS)
}

fn print_table(envs: &[Environment]) {
    let rows: Vec<[String; 5]> = envs
        .iter()
        .map(|env| {
            [
                env.metadata.name.clone(),
                env.spec.region.clone(),
                env.metadata
                    .generation
                    .map(|g| g.to_string())
                    .unwrap_or_default(),
                state(env),
                env.metadata
                    .creation_timestamp
                    .map(|t| age(Utc::now() - t))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["NAME", "REGION", "GENERATION", "STATUS", "AGE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
}

fn state(env: &Environment) -> String {
    if env.metadata.deletion_timestamp.is_some() {
        return "Deleting".to_owned();
    }
    env.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| {
            if c.status == "True" {
                "Ready".to_owned()
            } else {
                c.reason.clone()
            }
        })
        .unwrap_or_else(|| "Pending".to_owned())
}

fn age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
