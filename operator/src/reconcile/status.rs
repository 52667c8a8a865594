//! The status a reconcile writes: conditions (Ready, Progressing, Degraded), and per desired
//! resource its ARN, AWS status, phase, and a failure recorded against the generation.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use strum::VariantArray;

use super::apply::{Applied, Failure};
use crate::drift::Finding;
use crate::engine::plan::Holds;
use crate::engine::{
    Change, DesiredGraph, ObservedState, Owner, Phase, Plan, ResourceId, ResourceKind, Verb,
};
use crate::spec::{Condition, Environment, EnvironmentStatus, Reapplied, ResourceStatus};

/// Failures recorded for this generation: those resources are held back.
pub(super) fn holds(previous: &EnvironmentStatus, generation: i64) -> Holds {
    previous
        .resources
        .iter()
        .filter(|(_, r)| r.failed_generation == Some(generation))
        .filter_map(|(key, r)| {
            let id = parse_id(key)?;
            let reason = r
                .message
                .clone()
                .unwrap_or_else(|| "change failed".to_owned());
            Some((id, reason))
        })
        .collect()
}

/// The resources the last recorded status lists.
pub(super) fn known(env: &Environment) -> BTreeSet<ResourceId> {
    env.status
        .iter()
        .flat_map(|s| s.resources.keys())
        .filter_map(|key| parse_id(key))
        .collect()
}

/// `kind/name` back to an id (names may hold `/`, kinds do not).
fn parse_id(key: &str) -> Option<ResourceId> {
    let (kind, name) = key.split_once('/')?;
    let kind = ResourceKind::VARIANTS.iter().find(|k| k.as_str() == kind)?;
    Some(ResourceId::new(*kind, name))
}

/// Per desired resource: its ARN, AWS status and phase; a failure seen now, or recorded
/// earlier for this generation, is kept with the generation.
pub(super) fn resources(
    graph: &DesiredGraph,
    after: &ObservedState,
    holds: &Holds,
    generation: i64,
    reapplied: &BTreeMap<String, Reapplied>,
) -> BTreeMap<String, ResourceStatus> {
    graph
        .resources
        .iter()
        .map(|desired| {
            let found = after.get(&desired.id);
            let mut status = ResourceStatus {
                kind: desired.id.kind.as_str().to_owned(),
                arn: found.and_then(|o| o.arn.clone()),
                state: Some(found.map_or_else(
                    || "Missing".to_owned(),
                    |o| o.status.clone().unwrap_or_else(|| "Present".to_owned()),
                )),
                ..ResourceStatus::default()
            };
            let (phase, message) = match found {
                None => ("Missing", None),
                Some(o) if o.owner != Owner::Ours => ("Conflict", None),
                Some(o) => match &o.phase {
                    Phase::Ready => ("Ready", None),
                    Phase::Busy(reason) => ("Busy", Some(reason.clone())),
                    Phase::Failed(reason) => ("Failed", Some(reason.clone())),
                },
            };
            status.phase = Some(phase.to_owned());
            status.message = message;
            if phase == "Failed" {
                status.failed_generation = Some(generation);
            } else if let Some(reason) = holds.get(&desired.id) {
                status.failed_generation = Some(generation);
                status.message = Some(reason.clone());
            }
            status.reapplied = reapplied.get(&desired.id.to_string()).cloned();
            (desired.id.to_string(), status)
        })
        .collect()
}

/// The fields each resource had updated in a run (as planned, for the updates that went
/// through).
pub(super) fn updated_fields(plan: &Plan, applied: &[Applied]) -> Vec<(String, Vec<String>)> {
    plan.actions
        .iter()
        .filter_map(|action| {
            let Change::Update { fields } = &action.change else {
                return None;
            };
            let done = applied
                .iter()
                .any(|a| a.resource == action.resource && a.action == Verb::Update && a.ok);
            let names = fields.iter().map(|f| f.field.clone()).collect();
            done.then(|| (action.resource.to_string(), names))
        })
        .collect()
}

/// Where the environment stands after a run.
#[derive(Debug, Clone)]
pub(super) struct Verdict {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
    pub waiting: Vec<String>,
    pub blocked: Vec<String>,
    /// A write failed in a way retrying soon cannot fix.
    pub stalled: bool,
}

impl Verdict {
    /// The first that applies: a failed write, a refused replacement, a conflict, a blocked
    /// resource (Degraded), a busy one (Progressing), changes AWS holds for a maintenance
    /// window (Scheduled), drift left alone, or all matching.
    pub fn of(
        applied: &[Applied],
        failure: Option<&Failure>,
        drifted: &[Finding],
        total: usize,
    ) -> Self {
        let list = |verb: Verb| -> Vec<String> {
            applied
                .iter()
                .filter(|a| a.action == verb)
                .map(|a| format!("{}: {}", a.resource, a.message.clone().unwrap_or_default()))
                .collect()
        };
        let waiting = list(Verb::Wait);
        let scheduled = list(Verb::Scheduled);
        let (not_converging, blocked): (Vec<String>, Vec<String>) = list(Verb::Blocked)
            .into_iter()
            .partition(|m| m.contains(": NotConverging"));
        let (ready, reason, message) = if let Some(failure) = failure {
            (false, "ApplyFailed", failure.message.clone())
        } else if let Some(m) = joined(&list(Verb::Refused)) {
            (false, "ReplacementRefused", m)
        } else if let Some(m) = joined(&list(Verb::Conflict)) {
            (false, "Conflict", m)
        } else if let Some(m) = joined(&not_converging) {
            (false, "NotConverging", m)
        } else if let Some(m) = joined(&blocked) {
            (false, "Degraded", m)
        } else if let Some(m) = joined(&waiting) {
            (false, "Progressing", m)
        } else if let Some(m) = joined(&scheduled) {
            (false, SCHEDULED, m)
        } else if !drifted.is_empty() {
            let m = format!(
                "{} left alone (policy report): {}",
                count(drifted.len(), "drifted field"),
                drift_list(drifted)
            );
            (true, DRIFTED, m)
        } else {
            (
                true,
                "Reconciled",
                format!("{total} resources match the spec"),
            )
        };
        let blocked = not_converging.into_iter().chain(blocked).collect();
        Self {
            ready,
            reason,
            message,
            waiting,
            blocked,
            stalled: failure.is_some_and(|f| f.permanent),
        }
    }

    /// Ready, Progressing, Degraded and Stalled, found for `generation`, each keeping its
    /// transition time while its status does not change.
    pub fn conditions(
        &self,
        previous: &EnvironmentStatus,
        generation: i64,
        drifted: &[Finding],
    ) -> Vec<Condition> {
        let progressing = joined(&self.waiting);
        let degraded = joined(&self.blocked);
        let stalled = self.stalled.then_some(self.message.as_str());
        let at = Found {
            previous,
            generation,
        };
        vec![
            at.condition("Ready", self.ready, self.reason, &self.message),
            at.stalled(stalled),
            at.condition(
                "Progressing",
                progressing.is_some(),
                if progressing.is_some() {
                    "Waiting"
                } else {
                    "Settled"
                },
                progressing.as_deref().unwrap_or(""),
            ),
            at.condition(
                "Degraded",
                degraded.is_some(),
                if degraded.is_some() {
                    "ChangeFailed"
                } else {
                    "Healthy"
                },
                degraded.as_deref().unwrap_or(""),
            ),
            if drifted.is_empty() {
                at.condition("Drifted", false, "InSync", "")
            } else {
                at.condition(
                    "Drifted",
                    true,
                    "DriftFound",
                    &format!(
                        "{}: {}",
                        count(drifted.len(), "drifted field"),
                        drift_list(drifted)
                    ),
                )
            },
        ]
    }
}

/// The reason of a True `Ready` condition under `policy.drift: report` with drift open.
pub(crate) const DRIFTED: &str = "Drifted";

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `ecs-service/shop-api desiredCount 2 → 5; …`, the first few.
fn drift_list(drifted: &[Finding]) -> String {
    const SHOWN: usize = 5;
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
    };
    let mut parts: Vec<String> = drifted
        .iter()
        .take(SHOWN)
        .map(|f| {
            format!(
                "{} {} {} → {}",
                f.resource,
                f.field,
                show(&f.desired),
                show(&f.observed)
            )
        })
        .collect();
    if drifted.len() > SHOWN {
        parts.push(format!("and {} more", drifted.len() - SHOWN));
    }
    parts.join("; ")
}

fn joined(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| items.join("; "))
}

/// Conditions found for one generation, over the status they replace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    pub previous: &'a EnvironmentStatus,
    pub generation: i64,
}

impl Found<'_> {
    /// One condition, keeping its transition time while its status does not change.
    pub fn condition(&self, type_: &str, on: bool, reason: &str, message: &str) -> Condition {
        let status = if on { "True" } else { "False" };
        let since = self
            .previous
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time)
            .unwrap_or_else(Utc::now);
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition_time: since,
            observed_generation: Some(self.generation),
        }
    }

    /// A condition Plumb could not determine (`Unknown`), e.g. drift when AWS could not be
    /// read.
    pub fn unknown(&self, type_: &str, reason: &str, message: &str) -> Condition {
        let since = self
            .previous
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == "Unknown")
            .map(|c| c.last_transition_time)
            .unwrap_or_else(Utc::now);
        Condition {
            type_: type_.to_owned(),
            status: "Unknown".to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition_time: since,
            observed_generation: Some(self.generation),
        }
    }

    /// `Stalled`: True (with why) when Plumb stopped retrying soon because only a change to
    /// the spec, the account or Plumb's permissions can help; it still looks again, rarely.
    pub fn stalled(&self, why: Option<&str>) -> Condition {
        match why {
            Some(why) => self.condition("Stalled", true, STALLED, why),
            None => self.condition("Stalled", false, "Active", ""),
        }
    }
}

/// The reason of a `Ready=False` condition when everything is applied but AWS holds some of
/// it for a maintenance window: the generation counts as observed.
pub(crate) const SCHEDULED: &str = "Scheduled";

/// Changes AWS holds for the maintenance window, per resource, as status messages.
pub(super) fn scheduled(plan: &Plan) -> impl Iterator<Item = (String, String)> + '_ {
    plan.actions.iter().filter_map(|a| {
        let Change::Scheduled { fields } = &a.change else {
            return None;
        };
        let fields: Vec<String> = fields
            .iter()
            .map(|f| {
                let show = |v: &Option<serde_json::Value>| {
                    v.as_ref()
                        .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
                };
                format!("{} {} → {}", f.field, show(&f.from), show(&f.to))
            })
            .collect();
        let message = format!(
            "scheduled for the maintenance window: {}",
            fields.join(", ")
        );
        Some((a.resource.to_string(), message))
    })
}

/// The reason of a True `Stalled` condition.
pub(crate) const STALLED: &str = "NonRetryableError";
