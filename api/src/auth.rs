//! Bearer-token authentication and role checks.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use plumb_operator::store::{Role, Token};

use crate::error::ApiError;
use crate::AppState;

/// The caller, authenticated by `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct Caller(pub Token);

impl Caller {
    /// Fails with 403 unless the caller's role is at least `need`.
    pub fn require(&self, need: Role, action: &'static str) -> Result<(), ApiError> {
        if self.0.role >= need {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                have: self.0.role.as_str(),
                need: need.as_str(),
                action,
            })
        }
    }

    /// Who to name in the audit history.
    pub fn actor(&self) -> &str {
        &self.0.name
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized)?;
        let value = header.to_str().map_err(|_| ApiError::Unauthorized)?;
        let (scheme, secret) = value.split_once(' ').ok_or(ApiError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() || secret.len() > 512
        {
            return Err(ApiError::Unauthorized);
        }
        match state.store.authenticate(secret.trim()).await? {
            Some(token) => Ok(Self(token)),
            None => Err(ApiError::Unauthorized),
        }
    }
}
