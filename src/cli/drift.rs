//! `drift [NAME]`: open drift as a table (resource, field, desired → observed, age, who);
//! `drift accept NAME RESOURCE FIELD`: keep the console change.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use plumb_operator::drift::DriftRecord;
use plumb_operator::spec::Environment;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::Client;
use super::describe::table;
use super::{DriftAcceptArgs, DriftArgs, DriftCommand, DriftStateArg};

pub async fn drift(args: DriftArgs) -> anyhow::Result<ExitCode> {
    if let Some(DriftCommand::Accept(accept_args)) = args.command {
        return accept(accept_args).await;
    }
    let client = Client::new(&args.server)?;
    let state = match args.state {
        DriftStateArg::Open => Some("open"),
        DriftStateArg::Resolved => Some("resolved"),
        DriftStateArg::All => None,
    };
    let mut query: Vec<(&str, &str)> = state.map(|s| ("state", s)).into_iter().collect();
    let url = match &args.name {
        Some(name) => client.url(&["api", "v1", "environments", name, "drift"], &query)?,
        None => {
            query.push(("limit", "500"));
            client.url(&["api", "v1", "drift"], &query)?
        }
    };
    let records: Vec<DriftRecord> = client.send(Method::GET, url, None).await?.json().await?;
    print_table(&records, args.name.is_none());
    Ok(ExitCode::SUCCESS)
}

/// The records as a table; with the environment column when they span several.
pub fn print_table(records: &[DriftRecord], with_environment: bool) {
    let now = Utc::now();
    let rows = records.iter().map(|r| {
        let mut row = Vec::new();
        if with_environment {
            row.push(r.environment.clone());
        }
        row.extend([
            r.resource.clone(),
            r.field.clone(),
            format!("{} → {}", show(&r.desired), show(&r.observed)),
            age(now, r.first_seen),
            r.actor.as_ref().map_or_else(|| "-".to_owned(), |a| a.who()),
            match r.resolution {
                Some(how) => how.as_str().to_owned(),
                None => "open".to_owned(),
            },
        ]);
        row
    });
    let mut header = Vec::new();
    if with_environment {
        header.push("ENVIRONMENT");
    }
    header.extend([
        "RESOURCE",
        "FIELD",
        "DESIRED → OBSERVED",
        "AGE",
        "WHO",
        "STATE",
    ]);
    table(&header, rows);
}

async fn accept(args: DriftAcceptArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    let url = client.url(
        &["api", "v1", "environments", &args.name, "drift", "accept"],
        &[],
    )?;
    let body = json!({"resource": args.resource, "field": args.field});
    let env: Environment = client
        .send(Method::POST, url, Some(&body))
        .await?
        .json()
        .await?;
    println!(
        "environment/{} accepted: {} {} is now the spec (generation {})",
        env.metadata.name,
        args.resource,
        args.field,
        env.metadata.generation.unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

fn show(value: &Option<Value>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), Value::to_string)
}

/// `42s`, `7m`, `3h`, `2d`.
fn age(now: DateTime<Utc>, since: DateTime<Utc>) -> String {
    let s = (now - since).num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
