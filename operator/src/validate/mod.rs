//! Validation of an Environment before anything is stored: every rule reports the field path
//! and the reason, and all errors are reported at once.
//!
//! The rules are those AWS itself would apply when Plumb creates the resources (so a spec that
//! validates does not fail later, half applied), plus a few that catch costly mistakes early
//! (plaintext secrets, a deployment that can never make progress). Pure code: no I/O.
//!
//! One file per part of the spec: `meta` (header, names, tags, policy, alerts), `network`,
//! `ecs` and `autoscaling`, `data` (Postgres, Redis, RabbitMQ), `alarms`; shared patterns and
//! checks live in `rules` and `arn`.

mod alarms;
mod arn;
mod autoscaling;
mod data;
mod ecs;
mod meta;
mod network;
mod rules;
#[cfg(test)]
mod tests;

use serde::Serialize;
use utoipa::ToSchema;

use crate::spec::Environment;

pub use rules::external_id_problem;

/// One rule an Environment broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// e.g. `spec.ecs.services.api.memory`.
    pub field: String,
    pub reason: String,
}

/// Every rule an Environment broke.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{} validation error(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }
}

/// Checks an Environment against every rule; `Ok` only when none is broken.
pub fn validate(env: &Environment) -> Result<(), ValidationErrors> {
    let mut cx = Ctx::new(env);
    meta::check(&mut cx);
    network::check(&mut cx);
    ecs::check(&mut cx);
    data::check(&mut cx);
    alarms::check(&mut cx);
    if cx.errors.0.is_empty() {
        Ok(())
    } else {
        Err(cx.errors)
    }
}

/// What every rule needs: the environment, a few facts derived once, and the errors so far.
struct Ctx<'a> {
    env: &'a Environment,
    /// The partition of `spec.region` when the region is valid; every ARN must be in it.
    partition: Option<&'static str>,
    /// True when `metadata.name` is valid, so names derived from it can be checked.
    name_ok: bool,
    errors: ValidationErrors,
}

impl<'a> Ctx<'a> {
    fn new(env: &'a Environment) -> Self {
        Self {
            env,
            partition: rules::region_partition(&env.spec.region),
            name_ok: rules::name_problem(&env.metadata.name).is_none()
                && env.metadata.name.len() <= rules::MAX_ENV_NAME,
            errors: ValidationErrors::default(),
        }
    }

    fn err(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(field, reason);
    }
}
