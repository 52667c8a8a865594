//! `apply --wait`: watch an environment's status until the controller made it Ready at the
//! applied generation. Prints what Plumb changed (its events) and each resource's phase once
//! per change, and gives up at once when only a change to the spec (or to AWS) can help. On a
//! terminal, a progress line below them counts the resources Ready and says what is awaited.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use plumb_operator::spec::{Condition, Environment, EnvironmentStatus, ResourceStatus};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::time::Instant;

use super::client::{ApiFailure, Client};

/// How often the status is read.
const POLL: Duration = Duration::from_secs(1);

/// The Ready reason of an environment whose changes AWS holds for a maintenance window.
const SCHEDULED: &str = "Scheduled";

/// Ready reasons that waiting cannot fix: the spec (or something outside Plumb) must change.
const TERMINAL: &[&str] = &["ReplacementRefused", "Conflict", "Degraded"];

/// One entry of the audit history, as the API returns it.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub generation: Option<i64>,
    pub message: String,
}

/// The newest `limit` events of `name`, newest first; none when it does not exist.
pub async fn events(client: &Client, name: &str, limit: u32) -> anyhow::Result<Vec<Event>> {
    let limit = limit.to_string();
    let url = client.url(
        &["api", "v1", "environments", name, "events"],
        &[("limit", &limit)],
    )?;
    match client.send(Method::GET, url, None).await {
        Ok(response) => Ok(response.json().await?),
        Err(e) if not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>()
        .is_some_and(|f| f.status == StatusCode::NOT_FOUND)
}

/// The newest event id of `name` (0 when it has none): what `wait_ready` prints starts after it.
pub async fn last_event(client: &Client, name: &str) -> anyhow::Result<i64> {
    Ok(events(client, name, 1).await?.first().map_or(0, |e| e.id))
}

/// Waits until `name` is Ready at `generation` or at a later one; fails with the reason when
/// it cannot get there without a change, or after `timeout`.
pub async fn wait_ready(
    client: &Client,
    name: &str,
    generation: i64,
    after_event: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let url = client.url(&["api", "v1", "environments", name], &[])?;
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut said = String::new();
    let mut seen = after_event;
    let out = Progress::new();
    loop {
        let env: Environment = client
            .send(Method::GET, url.clone(), None)
            .await?
            .json()
            .await?;
        let mut new: Vec<Event> = events(client, name, 100).await?;
        new.retain(|e| e.id > seen);
        new.sort_by_key(|e| e.id);
        for event in &new {
            seen = seen.max(event.id);
            if event.action == "Reconciled" {
                // "create ecs-service/shop-api" → "ecs-service/shop-api: create done"
                if let Some((verb, resource)) = event.message.split_once(' ') {
                    out.line(&format!("  {resource}: {verb} done"));
                }
            }
        }
        let status = env.status.unwrap_or_default();
        for (key, resource) in &status.resources {
            let line = progress(key, resource);
            if shown.get(key) != Some(&line) {
                out.line(&format!("  {line}"));
                shown.insert(key.clone(), line);
            }
        }
        let ready_resources = status
            .resources
            .values()
            .filter(|r| r.phase.as_deref() == Some("Ready"))
            .count();
        out.count(ready_resources, status.resources.len());
        let ready = condition(&status, "Ready");
        let applied = status.observed_generation.is_some_and(|g| g >= generation);
        if ready.is_some_and(|c| c.status == "True") && applied {
            let ready = ready.map(|c| format!("{}: {}", c.reason, c.message));
            out.done();
            println!("environment/{name} ready ({})", ready.unwrap_or_default());
            return Ok(());
        }
        // Everything applied; AWS holds some of it for a maintenance window, which may be
        // days away: waiting longer tells nothing more.
        if let Some(scheduled) = ready.filter(|c| c.reason == SCHEDULED && applied) {
            out.done();
            println!(
                "environment/{name} applied; AWS makes the rest at the maintenance window ({})",
                scheduled.message
            );
            return Ok(());
        }
        // Conditions found for an older generation say nothing about this one yet.
        let current = |c: &&Condition| c.observed_generation.is_some_and(|g| g >= generation);
        let now = ready.filter(current).filter(|c| c.status != "True");
        if let Some(ready) = now {
            let reason = format!("{}: {}", ready.reason, ready.message);
            let stalled = condition(&status, "Stalled")
                .filter(current)
                .is_some_and(|c| c.status == "True");
            if stalled || TERMINAL.contains(&ready.reason.as_str()) {
                bail!("not ready: {reason}");
            }
            if reason != said {
                out.line(&format!("  waiting: {reason}"));
                out.waiting(&reason);
                said = reason;
            }
        }
        if Instant::now() >= deadline {
            let reason = ready
                .map(|c| format!("{}: {}", c.reason, c.message))
                .unwrap_or_else(|| "not reconciled yet".to_owned());
            bail!("not ready after {}s: {reason}", timeout.as_secs());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Where `wait_ready` reports: plain lines, and on a terminal also a live line below them
/// (cleared when waiting ends, however it ends).
enum Progress {
    Lines,
    Terminal(ProgressBar),
}

impl Progress {
    fn new() -> Self {
        if !std::io::stdout().is_terminal() {
            return Self::Lines;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {pos}/{len} resources Ready  {wide_msg}")
        {
            bar.set_style(style);
        }
        bar.set_message("waiting for the controller's first look");
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::Terminal(bar)
    }

    /// A line printed once (above the live line on a terminal).
    fn line(&self, line: &str) {
        match self {
            Self::Lines => println!("{line}"),
            Self::Terminal(bar) => bar.println(line),
        }
    }

    fn count(&self, ready: usize, total: usize) {
        if let Self::Terminal(bar) = self {
            bar.set_length(total as u64);
            bar.set_position(ready as u64);
        }
    }

    fn waiting(&self, reason: &str) {
        if let Self::Terminal(bar) = self {
            bar.set_message(reason.to_owned());
        }
    }

    fn done(&self) {
        if let Self::Terminal(bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}

pub fn condition<'a>(status: &'a EnvironmentStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// `ecs-service/shop-api: Busy (rolling out)`.
fn progress(key: &str, resource: &ResourceStatus) -> String {
    let phase = resource.phase.as_deref().unwrap_or("Unknown");
    match resource.message.as_deref().filter(|m| !m.is_empty()) {
        Some(message) => format!("{key}: {phase} ({message})"),
        None => format!("{key}: {phase}"),
    }
}
