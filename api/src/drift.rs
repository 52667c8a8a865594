//! Drift records: `/api/v1/drift` across environments, `/api/v1/environments/{name}/drift`
//! for one, and `…/drift/accept` to take a console change into the spec.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use plumb_operator::drift::accept::{accept as accept_drift, AcceptFailure};
use plumb_operator::drift::{DriftRecord, DriftState};
use plumb_operator::spec::Environment;
use plumb_operator::store::{DriftFilter, Role};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::body::{self, MediaType};
use crate::environments::{EnvName, Params};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DriftParams {
    /// `open` or `resolved`; both when left out.
    #[param(inline, value_type = Option<String>, example = "open")]
    state: Option<String>,
    /// Only this environment's records.
    environment: Option<String>,
    /// Newest records to return, 1–500 (default 100).
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EnvironmentDriftParams {
    /// `open` or `resolved`; both when left out.
    #[param(inline, value_type = Option<String>, example = "open")]
    state: Option<String>,
    /// Newest records to return, 1–500 (default 100).
    limit: Option<u32>,
}

/// Which drifted field to accept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// `kind/name`, as in the drift record: `ecs-service/shop-worker`.
    #[schema(example = "ecs-service/shop-worker")]
    pub resource: String,
    /// The drifted field, as in the drift record: `desiredCount`.
    #[schema(example = "desiredCount")]
    pub field: String,
}

fn filter(
    environment: Option<String>,
    state: Option<&str>,
    limit: Option<u32>,
) -> Result<DriftFilter, ApiError> {
    let state = state
        .map(|s| {
            s.parse::<DriftState>()
                .map_err(|_| ApiError::bad_field("state", "must be open or resolved"))
        })
        .transpose()?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(DriftFilter {
        environment,
        state,
        limit,
    })
}

/// Drift records of every environment, newest first: what differs from the spec since Plumb
/// applied it, who changed it when CloudTrail said, and how it ended.
#[utoipa::path(get, path = "/api/v1/drift", tag = "drift", params(DriftParams),
    responses(
        (status = 200, body = Vec<DriftRecord>),
        (status = 400, body = ErrorBody, description = "Bad state or limit"),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<DriftParams>,
) -> Result<Json<Vec<DriftRecord>>, ApiError> {
    caller.require(Role::Viewer, "read drift")?;
    let filter = filter(params.environment, params.state.as_deref(), params.limit)?;
    Ok(Json(state.store.drift(&filter).await?))
}

/// Drift records of one environment, newest first.
#[utoipa::path(get, path = "/api/v1/environments/{name}/drift", tag = "drift",
    params(("name" = String, Path, description = "Environment name"), EnvironmentDriftParams),
    responses(
        (status = 200, body = Vec<DriftRecord>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn environment(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
    Params(params): Params<EnvironmentDriftParams>,
) -> Result<Json<Vec<DriftRecord>>, ApiError> {
    caller.require(Role::Viewer, "read drift")?;
    let filter = filter(Some(name.clone()), params.state.as_deref(), params.limit)?;
    let records = state.store.drift(&filter).await?;
    if records.is_empty() {
        // An environment that never drifted, or none of that name.
        state.store.get(&name).await?;
    }
    Ok(Json(records))
}

/// Keep the console change: the observed value of an open drift record becomes the spec's
/// (a new generation), and the record resolves as `accepted`. Refused (422, naming the spec
/// path) when the spec cannot express the observed value as it is.
#[utoipa::path(post, path = "/api/v1/environments/{name}/drift/accept", tag = "drift",
    params(("name" = String, Path, description = "Environment name")),
    request_body = AcceptRequest,
    responses(
        (status = 200, body = Environment, description = "The environment as stored"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such environment or open drift"),
        (status = 409, body = ErrorBody, description = "The spec or the record changed meanwhile"),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Environment>, ApiError> {
    caller.require(Role::Editor, "accept drift")?;
    let limit = state.config.max_body_bytes;
    let (_, text) = body::read(&headers, body, limit, &[MediaType::Json]).await?;
    let request: AcceptRequest = serde_json::from_str(&text)
        .map_err(|e| ApiError::bad_field("body", format!("malformed request: {e}")))?;
    let config = state.reconciler.alerts();
    let stored = accept_drift(
        &state.store,
        config,
        &name,
        &request.resource,
        &request.field,
        caller.actor(),
    )
    .await
    .map_err(|e| match e {
        AcceptFailure::NoDrift { .. } => ApiError::NotFound(e.to_string()),
        AcceptFailure::Refused(refused) => {
            ApiError::invalid_field(refused.field(), refused.to_string())
        }
        AcceptFailure::Store(store) => store.into(),
    })?;
    Ok(Json(stored))
}
