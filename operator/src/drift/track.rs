//! One sweep's drift, against the records still open: which records open, are seen again,
//! come back (a flap) or resolve, and how. Pure: the store reads what it needs, calls
//! [`track`], and writes the answer in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Actor, Resolution};

/// One drifted field as a sweep found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `kind/name`.
    pub resource: String,
    pub kind: String,
    pub field: String,
    pub spec_path: Option<String>,
    pub desired: Option<Value>,
    pub observed: Option<Value>,
    /// Whether the resource holds data (a database, cache or broker).
    pub stateful: bool,
}

/// What one sweep of one environment found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sweep {
    /// Drifted fields that still differ after the sweep (left alone under `report`, or not
    /// put back: a write that failed, a resource AWS holds busy).
    pub drifted: Vec<Finding>,
    /// Drifted fields this sweep put back: they open and resolve as `corrected` at once
    /// (an open record of the field resolves).
    pub corrected: Vec<Finding>,
    /// Resources compared this sweep, with the desired value of each managed field now. An
    /// open record of such a resource whose field is not drifted any more resolves:
    /// `spec-changed` when the spec wants something else than it did, else `corrected`.
    pub compared: BTreeMap<String, BTreeMap<String, Option<Value>>>,
    /// Every resource the spec names. An open record of any other resolves as `gone`; one of
    /// a resource named but neither compared nor drifted (AWS holds it busy, it belongs to
    /// someone else) stays as it is: Plumb could not look.
    pub desired: BTreeSet<String>,
}

/// A record open before the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRecord {
    pub id: i64,
    pub resource: String,
    pub field: String,
    pub desired: Option<Value>,
    pub observed: Option<Value>,
    pub has_actor: bool,
}

/// A `resolved` alert not sent yet (it waits out the quiet period), with the records it
/// resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingResolve {
    pub alert_id: i64,
    /// `kind/name`.
    pub resource: String,
    pub fingerprint: String,
    /// The records it resolved, with their fields.
    pub records: Vec<(i64, String)>,
}

/// A record the sweep touches: one that exists, or the n-th it inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordRef {
    Existing(i64),
    New(usize),
}

/// What to write, in this order: inserts, reopens, updates, resolves, cancels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracked {
    /// New open records, with the actor known for the resource.
    pub insert: Vec<(Finding, Option<Actor>)>,
    /// Resolved records the same drift reopened within the quiet period (their resolve
    /// alert is cancelled), with what is observed now.
    pub reopen: Vec<(i64, Finding)>,
    /// Open records seen again: last seen now, the values now, and an actor when they had
    /// none and one is known.
    pub update: Vec<(i64, Finding, Option<Actor>)>,
    pub resolve: Vec<(RecordRef, Resolution)>,
    /// Resolve alerts withdrawn (flaps).
    pub cancel: Vec<i64>,
    /// Per resource, the fields that opened this sweep (a new episode, announced).
    pub opened: BTreeMap<String, Vec<(RecordRef, Finding)>>,
    /// Per resource, the records resolved this sweep, with the values they had.
    pub resolved: BTreeMap<String, Vec<(RecordRef, Finding, Resolution)>>,
    /// Per resource whose drift flapped, the records that came back.
    pub flapped: BTreeMap<String, Vec<i64>>,
}

/// Decides the sweep's record changes. `actors` is the newest actor CloudTrail named per
/// resource; `fingerprint` gives the fingerprint of a group of findings of one resource (the
/// alert's, see [`crate::alerts::message::fingerprint`]).
pub fn track(
    open: &[OpenRecord],
    pending: &[PendingResolve],
    sweep: &Sweep,
    actors: &BTreeMap<String, Actor>,
    fingerprint: &dyn Fn(&str, &[&Finding]) -> String,
) -> Tracked {
    let mut out = Tracked::default();
    let open_by: BTreeMap<(&str, &str), &OpenRecord> = open
        .iter()
        .map(|r| ((r.resource.as_str(), r.field.as_str()), r))
        .collect();

    // Findings without an open record, per resource: an opening (or a flap).
    let mut openings: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let corrected: BTreeSet<(&str, &str)> = sweep
        .corrected
        .iter()
        .map(|f| (f.resource.as_str(), f.field.as_str()))
        .collect();
    for finding in sweep.drifted.iter().chain(&sweep.corrected) {
        let key = (finding.resource.as_str(), finding.field.as_str());
        if !seen.insert(key) {
            continue;
        }
        match open_by.get(&key) {
            Some(record) => {
                let actor = (!record.has_actor)
                    .then(|| actors.get(&finding.resource).cloned())
                    .flatten();
                out.update.push((record.id, finding.clone(), actor));
                if corrected.contains(&key) {
                    resolved(
                        &mut out,
                        RecordRef::Existing(record.id),
                        finding,
                        Resolution::Corrected,
                    );
                }
            }
            None => openings
                .entry(finding.resource.as_str())
                .or_default()
                .push(finding),
        }
    }

    for (resource, findings) in openings {
        let print = fingerprint(resource, &findings);
        let flap = pending
            .iter()
            .find(|p| p.resource == resource && p.fingerprint == print);
        match flap {
            Some(p) => {
                // The same drift came back before its resolve was sent: the episode goes on.
                out.cancel.push(p.alert_id);
                out.flapped
                    .entry(resource.to_owned())
                    .or_default()
                    .extend(p.records.iter().map(|(id, _)| *id));
                // Reopen the records of the cancelled resolve; a finding without one (the
                // fingerprints match, so only if the records changed since) opens anew.
                for finding in findings {
                    match reopened_record(p, finding) {
                        Some(id) => {
                            out.reopen.push((id, finding.clone()));
                            if corrected.contains(&(resource, finding.field.as_str())) {
                                resolved(
                                    &mut out,
                                    RecordRef::Existing(id),
                                    finding,
                                    Resolution::Corrected,
                                );
                            }
                        }
                        None => insert(&mut out, finding, actors, &corrected, false),
                    }
                }
            }
            None => {
                for finding in findings {
                    insert(&mut out, finding, actors, &corrected, true);
                }
            }
        }
    }

    // Open records not seen drifted in this sweep.
    for record in open {
        let key = (record.resource.as_str(), record.field.as_str());
        if seen.contains(&key) {
            continue;
        }
        let how = if !sweep.desired.contains(&record.resource) {
            Some(Resolution::Gone)
        } else if let Some(fields) = sweep.compared.get(&record.resource) {
            match fields.get(&record.field) {
                Some(now) if *now == record.desired => Some(Resolution::Corrected),
                _ => Some(Resolution::SpecChanged),
            }
        } else {
            None
        };
        if let Some(how) = how {
            let finding = Finding {
                resource: record.resource.clone(),
                kind: record
                    .resource
                    .split_once('/')
                    .map_or("", |(k, _)| k)
                    .to_owned(),
                field: record.field.clone(),
                spec_path: None,
                desired: record.desired.clone(),
                observed: record.observed.clone(),
                stateful: false,
            };
            resolved(&mut out, RecordRef::Existing(record.id), &finding, how);
        }
    }
    out
}

/// The record of a pending resolve that `finding` reopens: the one of the same field.
fn reopened_record(p: &PendingResolve, finding: &Finding) -> Option<i64> {
    p.records
        .iter()
        .find(|(_, field)| *field == finding.field)
        .map(|(id, _)| *id)
}

fn insert(
    out: &mut Tracked,
    finding: &Finding,
    actors: &BTreeMap<String, Actor>,
    corrected: &BTreeSet<(&str, &str)>,
    announce: bool,
) {
    let handle = RecordRef::New(out.insert.len());
    out.insert
        .push((finding.clone(), actors.get(&finding.resource).cloned()));
    if announce {
        out.opened
            .entry(finding.resource.clone())
            .or_default()
            .push((handle, finding.clone()));
    }
    if corrected.contains(&(finding.resource.as_str(), finding.field.as_str())) {
        resolved(out, handle, finding, Resolution::Corrected);
    }
}

fn resolved(out: &mut Tracked, handle: RecordRef, finding: &Finding, how: Resolution) {
    out.resolve.push((handle, how));
    out.resolved
        .entry(finding.resource.clone())
        .or_default()
        .push((handle, finding.clone(), how));
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
