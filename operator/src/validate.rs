//! Validation of an Environment before anything is stored: every rule reports the field path
//! and the reason, and all errors are reported at once.

use serde::Serialize;
use utoipa::ToSchema;

use crate::spec::Environment;

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
    let mut errors = ValidationErrors::default();
    if env.metadata.name.is_empty() {
        errors.push("metadata.name", "must not be empty");
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
