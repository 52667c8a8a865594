//! `describe NAME`: an environment's conditions, resources and recent events.

use std::process::ExitCode;

use chrono::Utc;
use plumb_operator::drift::DriftRecord;
use plumb_operator::spec::Environment;
use reqwest::Method;

use super::client::Client;
use super::wait::events;
use super::DescribeArgs;

pub async fn describe(args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["api", "v1", "environments", &args.name], &[])?;
    let env: Environment = client.send(Method::GET, url, None).await?.json().await?;
    let events = events(&client, &args.name, args.events).await?;
    let url = client.url(
        &["api", "v1", "environments", &args.name, "drift"],
        &[("state", "open")],
    )?;
    let drift: Vec<DriftRecord> = client.send(Method::GET, url, None).await?.json().await?;
    let meta = &env.metadata;
    let status = env.status.clone().unwrap_or_default();
    println!("Name:        {}", meta.name);
    println!("Region:      {}", env.spec.region);
    if let Some(role) = &env.spec.role_arn {
        println!("Role:        {role}");
    }
    let labels: Vec<String> = meta
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if labels.is_empty() {
        println!("Labels:      <none>");
    } else {
        println!("Labels:      {}", labels.join(","));
    }
    println!(
        "Generation:  {} (observed: {})",
        meta.generation.unwrap_or_default(),
        status
            .observed_generation
            .map_or_else(|| "none".to_owned(), |g| g.to_string())
    );
    if let Some(at) = meta.deletion_timestamp {
        println!("Deleting:    since {}", at.to_rfc3339());
    }

    println!("\nConditions:");
    let rows = status.conditions.iter().map(|c| {
        vec![
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            c.observed_generation
                .map(|g| g.to_string())
                .unwrap_or_default(),
            c.message.clone(),
        ]
    });
    table(&["TYPE", "STATUS", "REASON", "GENERATION", "MESSAGE"], rows);

    println!("\nResources:");
    let rows = status.resources.iter().map(|(key, r)| {
        let name = key.split_once('/').map_or(key.as_str(), |(_, name)| name);
        let phase = match &r.message {
            Some(m) if !m.is_empty() => format!("{} ({m})", r.phase.as_deref().unwrap_or("")),
            _ => r.phase.clone().unwrap_or_default(),
        };
        vec![
            r.kind.clone(),
            name.to_owned(),
            phase,
            r.arn.clone().unwrap_or_else(|| "-".to_owned()),
        ]
    });
    table(&["KIND", "NAME", "PHASE", "ARN"], rows);

    println!("\nOpen drift:");
    super::drift::print_table(&drift, false);

    println!("\nEvents:");
    let now = Utc::now();
    let rows = events.iter().rev().map(|e| {
        vec![
            format!("{}s ago", (now - e.at).num_seconds().max(0)),
            e.actor.clone(),
            e.action.clone(),
            e.generation.map(|g| g.to_string()).unwrap_or_default(),
            e.message.clone(),
        ]
    });
    table(&["AGE", "ACTOR", "ACTION", "GENERATION", "MESSAGE"], rows);
    Ok(ExitCode::SUCCESS)
}

/// Left-aligned columns under a header, indented; `(none)` when there are no rows.
pub(super) fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    if rows.is_empty() {
        println!("  (none)");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("  {}", cells.join("   ").trim_end());
    }
}
