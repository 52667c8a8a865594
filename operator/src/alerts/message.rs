//! What an alert says: a subject line for people and a JSON body for programs (the README's
//! "Alerts" shows one), with the `environment`, `severity`, `kind` and `state` message
//! attributes subscription filter policies select on.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AlertConfig, AlertState, NewAlert};
use crate::drift::{Actor, Finding, RecordRef, Resolution, Tracked};
use crate::spec::{Alerts, DriftPolicy, Severity};

/// Version of the JSON body; a change that breaks readers bumps it.
pub const BODY_VERSION: u32 = 1;
/// SNS refuses subjects of 100 characters or more.
const SUBJECT_MAX: usize = 99;
/// Drift entries listed in one message; a summary of more says how many it left out.
const LISTED_MAX: usize = 100;

/// environment + resource + field set + values: the same drift found again has the same
/// fingerprint (hex SHA-256).
pub fn fingerprint(environment: &str, resource: &str, findings: &[&Finding]) -> String {
    let mut entries: Vec<(&str, String, String)> = findings
        .iter()
        .map(|f| {
            (
                f.field.as_str(),
                value_text(&f.desired),
                value_text(&f.observed),
            )
        })
        .collect();
    entries.sort();
    let mut hash = Sha256::new();
    for part in [environment, resource] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    for (field, desired, observed) in entries {
        for part in [field, &desired, &observed] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
    }
    hex::encode(hash.finalize())
}

fn value_text(value: &Option<Value>) -> String {
    value
        .as_ref()
        .map_or_else(|| "null".to_owned(), Value::to_string)
}

/// Who an environment's alerts go to and how they are worded.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub environment: &'a str,
    pub environment_uid: Uuid,
    pub alerts: Option<&'a Alerts>,
    pub role_arn: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub policy: DriftPolicy,
    pub config: &'a AlertConfig,
    pub now: DateTime<Utc>,
}

/// An alert with the drift records it announces (by reference: some are inserted with it).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftAlert {
    pub alert: NewAlert,
    pub records: Vec<RecordRef>,
}

/// What an alert is about, before its body.
struct Head<'a> {
    state: AlertState,
    kind: &'a str,
    resource: Option<&'a str>,
    severity: Severity,
    fingerprint: String,
    subject: String,
}

impl Context<'_> {
    fn alert(&self, head: Head<'_>, body: Value, delay: Duration) -> NewAlert {
        NewAlert {
            environment: self.environment.to_owned(),
            environment_uid: self.environment_uid,
            state: head.state,
            kind: head.kind.to_owned(),
            resource: head.resource.map(str::to_owned),
            severity: head.severity,
            topic_arn: self.alerts.map(|a| a.topic(head.severity).to_owned()),
            role_arn: self.role_arn.map(str::to_owned),
            external_id: self.external_id.map(str::to_owned),
            fingerprint: head.fingerprint,
            subject: subject_line(&head.subject),
            body,
            delay,
        }
    }

    /// The alerts of one sweep's drift: per resource an `opened` for the fields that began
    /// an episode and a `resolved` (after the quiet period) for those that ended one; more
    /// than the summary threshold of either is one summary.
    pub fn drift_alerts(&self, tracked: &Tracked) -> Vec<DriftAlert> {
        let mut out = Vec::new();
        let actors: BTreeMap<&str, &Actor> = tracked
            .insert
            .iter()
            .filter_map(|(f, a)| Some((f.resource.as_str(), a.as_ref()?)))
            .collect();
        let opened: usize = tracked.opened.values().map(Vec::len).sum();
        if opened > self.config.summary_threshold {
            out.push(self.summary(AlertState::Opened, &tracked.opened, opened));
        } else {
            for (resource, group) in &tracked.opened {
                out.push(self.opened(resource, group, actors.get(resource.as_str()).copied()));
            }
        }
        let resolved: usize = tracked.resolved.values().map(Vec::len).sum();
        if resolved > self.config.summary_threshold {
            let groups: BTreeMap<String, Vec<(RecordRef, Finding)>> = tracked
                .resolved
                .iter()
                .map(|(r, g)| {
                    (
                        r.clone(),
                        g.iter().map(|(h, f, _)| (*h, f.clone())).collect(),
                    )
                })
                .collect();
            out.push(self.summary(AlertState::Resolved, &groups, resolved));
        } else {
            for (resource, group) in &tracked.resolved {
                let flaps = tracked.flapped.get(resource).map_or(0, Vec::len);
                out.push(self.resolved(resource, group, flaps));
            }
        }
        out
    }

    fn opened(
        &self,
        resource: &str,
        group: &[(RecordRef, Finding)],
        actor: Option<&Actor>,
    ) -> DriftAlert {
        let findings: Vec<&Finding> = group.iter().map(|(_, f)| f).collect();
        let kind = findings.first().map_or("", |f| f.kind.as_str());
        let severity = severity(&findings);
        let by = actor
            .map(|a| format!(" by {}", a.who()))
            .unwrap_or_default();
        let subject = format!(
            "plumb: {} drifted: {resource} {}{by}",
            self.environment,
            field_list(&findings)
        );
        let drift: Vec<Value> = findings
            .iter()
            .map(|f| {
                let mut entry = entry(f);
                if let Some(actor) = actor {
                    entry["actor"] = json!(actor);
                }
                entry
            })
            .collect();
        let body = json!({
            "version": BODY_VERSION,
            "state": "opened",
            "environment": self.environment,
            "severity": severity.as_str(),
            "kind": kind,
            "resource": resource,
            "policy": policy_word(self.policy),
            "text": format!("{resource}: {}{by}", changes(&findings)),
            "drift": drift,
            "at": self.now,
        });
        DriftAlert {
            alert: self.alert(
                Head {
                    state: AlertState::Opened,
                    kind,
                    resource: Some(resource),
                    severity,
                    fingerprint: fingerprint(self.environment, resource, &findings),
                    subject,
                },
                body,
                Duration::ZERO,
            ),
            records: group.iter().map(|(h, _)| *h).collect(),
        }
    }

    fn resolved(
        &self,
        resource: &str,
        group: &[(RecordRef, Finding, Resolution)],
        flaps: usize,
    ) -> DriftAlert {
        let findings: Vec<&Finding> = group.iter().map(|(_, f, _)| f).collect();
        let kind = findings.first().map_or("", |f| f.kind.as_str());
        let severity = severity(&findings);
        let mut how: Vec<&str> = group.iter().map(|(_, _, r)| r.as_str()).collect();
        how.dedup();
        let subject = format!(
            "plumb: {} drift resolved ({}): {resource} {}",
            self.environment,
            how.join(", "),
            field_list(&findings)
        );
        let drift: Vec<Value> = group
            .iter()
            .map(|(_, f, r)| {
                let mut entry = entry(f);
                entry["resolution"] = json!(r.as_str());
                entry
            })
            .collect();
        let body = json!({
            "version": BODY_VERSION,
            "state": "resolved",
            "environment": self.environment,
            "severity": severity.as_str(),
            "kind": kind,
            "resource": resource,
            "policy": policy_word(self.policy),
            "resolution": how.join(", "),
            "flaps": flaps,
            "text": format!("{resource}: {} ({})", field_list(&findings), how.join(", ")),
            "drift": drift,
            "at": self.now,
        });
        DriftAlert {
            alert: self.alert(
                Head {
                    state: AlertState::Resolved,
                    kind,
                    resource: Some(resource),
                    severity,
                    fingerprint: fingerprint(self.environment, resource, &findings),
                    subject,
                },
                body,
                self.config.quiet_period,
            ),
            records: group.iter().map(|(h, _, _)| *h).collect(),
        }
    }

    fn summary(
        &self,
        state: AlertState,
        groups: &BTreeMap<String, Vec<(RecordRef, Finding)>>,
        count: usize,
    ) -> DriftAlert {
        let findings: Vec<&Finding> = groups.values().flatten().map(|(_, f)| f).collect();
        let severity = severity(&findings);
        let verb = match state {
            AlertState::Opened => "drifted",
            _ => "resolved",
        };
        let subject = format!(
            "plumb: {} {count} fields {verb} on {} resources",
            self.environment,
            groups.len()
        );
        let listed: Vec<Value> = findings.iter().take(LISTED_MAX).map(|f| entry(f)).collect();
        let body = json!({
            "version": BODY_VERSION,
            "state": state.as_str(),
            "environment": self.environment,
            "severity": severity.as_str(),
            "kind": "summary",
            "policy": policy_word(self.policy),
            "count": count,
            "resources": groups.keys().collect::<Vec<_>>(),
            "text": format!("{count} fields {verb} on {} resources in one sweep", groups.len()),
            "drift": listed,
            "unlisted": count.saturating_sub(LISTED_MAX),
            "at": self.now,
        });
        let print = {
            let mut hash = Sha256::new();
            for f in &findings {
                hash.update(fingerprint(self.environment, &f.resource, &[f]).as_bytes());
            }
            hex::encode(hash.finalize())
        };
        let delay = match state {
            AlertState::Resolved => self.config.quiet_period,
            _ => Duration::ZERO,
        };
        DriftAlert {
            alert: self.alert(
                Head {
                    state,
                    kind: "summary",
                    resource: None,
                    severity,
                    fingerprint: print,
                    subject,
                },
                body,
                delay,
            ),
            records: groups.values().flatten().map(|(h, _)| *h).collect(),
        }
    }

    /// The environment's AWS calls started failing (throttling, 5xx, credentials).
    pub fn degraded(&self, reason: &str) -> NewAlert {
        let body = json!({
            "version": BODY_VERSION,
            "state": "degraded",
            "environment": self.environment,
            "severity": Severity::Warning.as_str(),
            "kind": "aws",
            "reason": reason,
            "text": format!("AWS calls fail; drift is not being checked: {reason}"),
            "at": self.now,
        });
        self.alert(
            Head {
                state: AlertState::Degraded,
                kind: "aws",
                resource: None,
                severity: Severity::Warning,
                fingerprint: format!("{}:aws", self.environment),
                subject: format!("plumb: {} degraded: AWS calls fail", self.environment),
            },
            body,
            Duration::ZERO,
        )
    }

    /// They succeed again; waits out the quiet period, withdrawn if they fail again in it.
    pub fn recovered(&self, since: DateTime<Utc>) -> NewAlert {
        let body = json!({
            "version": BODY_VERSION,
            "state": "recovered",
            "environment": self.environment,
            "severity": Severity::Warning.as_str(),
            "kind": "aws",
            "degradedSince": since,
            "text": "AWS calls succeed again",
            "at": self.now,
        });
        self.alert(
            Head {
                state: AlertState::Recovered,
                kind: "aws",
                resource: None,
                severity: Severity::Warning,
                fingerprint: format!("{}:aws", self.environment),
                subject: format!("plumb: {} recovered: AWS calls succeed", self.environment),
            },
            body,
            self.config.quiet_period,
        )
    }
}

/// Drift of a database, cache or broker is critical; any other, a warning.
fn severity(findings: &[&Finding]) -> Severity {
    if findings.iter().any(|f| f.stateful) {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

fn policy_word(policy: DriftPolicy) -> &'static str {
    match policy {
        DriftPolicy::Correct => "correct",
        DriftPolicy::Report => "report",
    }
}

fn entry(f: &Finding) -> Value {
    let mut entry = json!({
        "resource": f.resource,
        "field": f.field,
        "desired": f.desired,
        "observed": f.observed,
    });
    if let Some(path) = &f.spec_path {
        entry["specPath"] = json!(path);
    }
    entry
}

fn field_list(findings: &[&Finding]) -> String {
    let fields: Vec<&str> = findings.iter().map(|f| f.field.as_str()).collect();
    fields.join(", ")
}

fn changes(findings: &[&Finding]) -> String {
    let parts: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{} {} -> {}",
                f.field,
                value_text(&f.desired),
                value_text(&f.observed)
            )
        })
        .collect();
    parts.join("; ")
}

/// One line of printable ASCII under 100 characters, as SNS requires of a subject.
pub fn subject_line(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if out.len() > SUBJECT_MAX {
        out.truncate(SUBJECT_MAX - 3);
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(field: &str, desired: i64, observed: i64) -> Finding {
        Finding {
            resource: "ecs-service/shop-api".into(),
            kind: "ecs-service".into(),
            field: field.into(),
            spec_path: Some(format!("ecs.services.api.{field}")),
            desired: Some(json!(desired)),
            observed: Some(json!(observed)),
            stateful: false,
        }
    }

    #[test]
    fn a_fingerprint_ignores_order_and_follows_values() {
        let a = finding("desiredCount", 2, 5);
        let b = finding("cpu", 256, 512);
        let one = fingerprint("shop", "ecs-service/shop-api", &[&a, &b]);
        assert_eq!(one, fingerprint("shop", "ecs-service/shop-api", &[&b, &a]));
        let c = finding("desiredCount", 2, 6);
        assert_ne!(one, fingerprint("shop", "ecs-service/shop-api", &[&c, &b]));
        assert_ne!(one, fingerprint("shop2", "ecs-service/shop-api", &[&a, &b]));
    }

    #[test]
    fn a_subject_is_short_printable_ascii() {
        let s = subject_line(&format!("plumb: x drifted → {}\n", "y".repeat(200)));
        assert!(s.len() < 100, "{s}");
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{s}");
        assert!(s.ends_with("..."));
    }
}
