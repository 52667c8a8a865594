//! A terraform-like text rendering of a plan.

use std::fmt;

use serde_json::Value;

use super::resource::{Change, FieldChange, Plan, Verb};

impl Plan {
    /// `+` create, `~` update, `-` delete, `!` refused replacement, conflict or blocked, `…`
    /// waiting on AWS, `*` adopt, `@` scheduled for the maintenance window, `=` released
    /// (left in place, untagged); each field on an indented line, values as compact JSON,
    /// with when AWS makes the change and what it interrupts; no-ops left out; a summary
    /// line at the end.
    pub fn render_text(&self) -> String {
        Text(self).to_string()
    }
}

/// The text form of a plan.
struct Text<'a>(&'a Plan);

#[derive(Default)]
struct Counts {
    create: usize,
    update: usize,
    delete: usize,
    refused: usize,
    wait: usize,
    conflict: usize,
    blocked: usize,
    adopt: usize,
    scheduled: usize,
    release: usize,
}

impl Counts {
    fn add(&mut self, verb: Verb) {
        let n = match verb {
            Verb::Create => &mut self.create,
            Verb::Update => &mut self.update,
            Verb::Delete => &mut self.delete,
            Verb::Refused => &mut self.refused,
            Verb::Wait => &mut self.wait,
            Verb::Conflict => &mut self.conflict,
            Verb::Blocked => &mut self.blocked,
            Verb::Adopt => &mut self.adopt,
            Verb::Scheduled => &mut self.scheduled,
            Verb::Release => &mut self.release,
        };
        *n += 1;
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counts = Counts::default();
        for action in &self.0.actions {
            let id = &action.resource;
            if let Some(verb) = action.change.verb() {
                counts.add(verb);
            }
            match &action.change {
                Change::NoOp => {}
                Change::Create { fields } => {
                    writeln!(f, "+ {id}")?;
                    for c in fields {
                        writeln!(f, "    + {} = {}", c.field, value(&c.to))?;
                    }
                }
                Change::Update { fields } => {
                    writeln!(f, "~ {id}")?;
                    write_changes(f, fields)?;
                }
                Change::Delete => writeln!(f, "- {id}")?,
                Change::ReplacementRequired { reason, fields } => {
                    writeln!(f, "! {id} (replacement required: {reason})")?;
                    write_changes(f, fields)?;
                }
                Change::Wait { reason } => writeln!(f, "… {id} (waiting: {reason})")?,
                Change::Conflict { reason } => writeln!(f, "! {id} (conflict: {reason})")?,
                Change::Blocked { reason } => writeln!(f, "! {id} (blocked: {reason})")?,
                Change::Adopt => writeln!(f, "* {id} (adopt: tag as this environment's)")?,
                Change::Scheduled { fields } => {
                    writeln!(f, "@ {id} (scheduled by AWS for the maintenance window)")?;
                    write_changes(f, fields)?;
                }
                Change::Release => writeln!(
                    f,
                    "= {id} (release: left in place and untagged, per deletion: retain)"
                )?,
            }
        }
        summary(f, &counts)
    }
}

fn summary(f: &mut fmt::Formatter<'_>, c: &Counts) -> fmt::Result {
    let acting = c.create + c.update + c.delete + c.refused;
    let other = c.wait + c.conflict + c.blocked + c.adopt + c.scheduled + c.release;
    if acting + other == 0 {
        return writeln!(f, "No changes.");
    }
    write!(
        f,
        "Plan: {} to create, {} to update, {} to delete, {} refused.",
        c.create, c.update, c.delete, c.refused
    )?;
    let extra = [
        (c.adopt, "to adopt"),
        (c.release, "to release"),
        (c.scheduled, "scheduled for a maintenance window"),
        (c.wait, "waiting on AWS"),
        (c.conflict, "in conflict"),
        (c.blocked, "blocked"),
    ];
    for (n, what) in extra.into_iter().filter(|(n, _)| *n > 0) {
        write!(f, " {n} {what}.")?;
    }
    writeln!(f)
}

fn write_changes(f: &mut fmt::Formatter<'_>, fields: &[FieldChange]) -> fmt::Result {
    for c in fields {
        write!(
            f,
            "    ~ {}: {} → {}",
            c.field,
            value(&c.from),
            value(&c.to)
        )?;
        match &c.effect {
            Some(effect) => writeln!(f, "  ({effect})")?,
            None => writeln!(f)?,
        }
    }
    Ok(())
}

fn value(v: &Option<Value>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "(absent)".to_owned(),
    }
}
