//! `/api/v1/environments`: list, get, create, create-or-replace, merge-patch, delete, events.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{ETAG, IF_MATCH, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plumb_operator::spec::{self, Environment, Format};
use plumb_operator::store::{Event, LabelSelector, Role, WriteOutcome};
use plumb_operator::validate::validate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::body::{self, MediaType};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// Response header telling what a create-or-replace did: created, configured or unchanged.
pub const OUTCOME_HEADER: HeaderName = HeaderName::from_static("plumb-outcome");

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 500;

/// A page of environments.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentList {
    pub api_version: String,
    pub kind: String,
    pub metadata: ListMeta,
    pub items: Vec<Environment>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// Pass as `continue` to read the next page; absent on the last page.
    #[serde(rename = "continue", default, skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// e.g. `team=payments,tier!=dev,critical,!legacy`.
    label_selector: Option<String>,
    /// Page size, 1–500 (default 100).
    limit: Option<u32>,
    /// The `metadata.continue` of the previous page.
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    continue_: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Newest events to return, 1–500 (default 100).
    limit: Option<u32>,
}

/// The `{name}` of the URL, with a JSON error on a malformed path.
pub struct EnvName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for EnvName {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(name) = Path::<String>::from_request_parts(parts, state).await?;
        Ok(Self(name))
    }
}

/// Query parameters, with a JSON error naming the bad parameter.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(params) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(params))
    }
}

/// List environments, filtered by labels, a page at a time.
#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", params(ListParams),
    responses(
        (status = 200, body = EnvironmentList),
        (status = 400, body = ErrorBody, description = "Bad selector or limit"),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<ListParams>,
) -> Result<Json<EnvironmentList>, ApiError> {
    caller.require(Role::Viewer, "list environments")?;
    let selector: LabelSelector = params
        .label_selector
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e: plumb_operator::store::SelectorError| {
            ApiError::bad_field("labelSelector", e.to_string())
        })?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let page = state
        .store
        .list(&selector, limit, params.continue_.as_deref())
        .await?;
    Ok(Json(EnvironmentList {
        api_version: spec::API_VERSION.to_owned(),
        kind: "EnvironmentList".to_owned(),
        metadata: ListMeta {
            continue_: page.next,
        },
        items: page.items,
    }))
}

/// Read one environment with its status.
#[utoipa::path(get, path = "/api/v1/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses(
        (status = 200, body = Environment),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer, "read environments")?;
    let env = state.store.get(&name).await?;
    Ok(object(StatusCode::OK, &env, None))
}

/// Create an environment (YAML or JSON); 409 if the name is taken or another environment
/// already uses an AWS name it derives.
#[utoipa::path(post, path = "/api/v1/environments", tag = "environments",
    request_body(content((Environment = "application/json"), (Environment = "application/yaml"))),
    responses(
        (status = 201, body = Environment),
        (status = 400, body = ErrorBody, description = "Malformed body"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Name taken, or an AWS name it derives is used by another environment"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Invalid environment, with every field error"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(Role::Editor, "create environments")?;
    let env = read_environment(&state, &headers, body).await?;
    let created = state.store.create(&env, caller.actor()).await?;
    let mut response = object(StatusCode::CREATED, &created, Some(WriteOutcome::Created));
    if let Ok(location) =
        HeaderValue::from_str(&format!("/api/v1/environments/{}", created.metadata.name))
    {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// Create or replace an environment. Send `metadata.resourceVersion` or `If-Match` to replace
/// only the version you read; a stale one is a 409.
#[utoipa::path(put, path = "/api/v1/environments/{name}", tag = "environments",
    params(
        ("name" = String, Path, description = "Environment name"),
        ("If-Match" = Option<String>, Header, description = "resourceVersion the write is based on"),
    ),
    request_body(content((Environment = "application/json"), (Environment = "application/yaml"))),
    responses(
        (status = 200, body = Environment, description = "Replaced or unchanged (see the Plumb-Outcome header)"),
        (status = 201, body = Environment, description = "Created"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "A version was given but the environment does not exist"),
        (status = 409, body = ErrorBody, description = "Stale resourceVersion, the environment is being deleted, or an AWS name it derives is used by another environment"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(Role::Editor, "write environments")?;
    let mut env = read_environment(&state, &headers, body).await?;
    if env.metadata.name != name {
        return Err(ApiError::invalid_field(
            "metadata.name",
            format!(
                "{:?} does not match the name in the URL ({name:?})",
                env.metadata.name
            ),
        ));
    }
    if let Some(version) = if_match(&headers)? {
        env.metadata.resource_version = Some(version.to_string());
    }
    let (stored, outcome) = state.store.apply(&env, caller.actor()).await?;
    let status = match outcome {
        WriteOutcome::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok(object(status, &stored, Some(outcome)))
}

/// Change part of an environment with a JSON merge patch (RFC 7396).
#[utoipa::path(patch, path = "/api/v1/environments/{name}", tag = "environments",
    params(
        ("name" = String, Path, description = "Environment name"),
        ("If-Match" = Option<String>, Header, description = "resourceVersion the patch is based on"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "Fields to set; null removes a field"),
    responses(
        (status = 200, body = Environment),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(Role::Editor, "write environments")?;
    let limit = state.config.max_body_bytes;
    let (_, text) = body::read(
        &headers,
        body,
        limit,
        &[MediaType::MergePatch, MediaType::Json],
    )
    .await?;
    let patch: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ApiError::bad_field("body", format!("malformed JSON: {e}")))?;
    if !patch.is_object() {
        return Err(ApiError::invalid_field(
            "body",
            "a merge patch must be a JSON object",
        ));
    }
    let current = state.store.get(&name).await?;
    let mut document = serde_json::to_value(Environment {
        status: None,
        ..current.clone()
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    json_patch::merge(&mut document, &patch);
    let mut env = spec::from_json_value(document)?;
    if env.metadata.name != name {
        return Err(ApiError::invalid_field(
            "metadata.name",
            "cannot be changed",
        ));
    }
    // Base the write on the version the patch was computed against, unless the caller names one.
    let named = patch.pointer("/metadata/resourceVersion").is_some();
    if let Some(version) = if_match(&headers)? {
        env.metadata.resource_version = Some(version.to_string());
    } else if !named {
        env.metadata.resource_version = current.metadata.resource_version.clone();
    }
    prepare(&mut env)?;
    let (stored, outcome) = state.store.update(&env, caller.actor()).await?;
    Ok(object(StatusCode::OK, &stored, Some(outcome)))
}

/// Request deletion. The environment is marked deleting and removed once teardown finished;
/// stateful resources follow the environment's deletion policy.
#[utoipa::path(delete, path = "/api/v1/environments/{name}", tag = "environments",
    params(
        ("name" = String, Path, description = "Environment name"),
        ("If-Match" = Option<String>, Header, description = "resourceVersion the deletion is based on"),
    ),
    responses(
        (status = 202, body = Environment, description = "Marked for deletion"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Role::Editor, "delete environments")?;
    let expected = if_match(&headers)?;
    let env = state
        .store
        .mark_deleting(&name, expected, caller.actor())
        .await?;
    Ok(object(StatusCode::ACCEPTED, &env, None))
}

/// The audit history of an environment, newest first.
#[utoipa::path(get, path = "/api/v1/environments/{name}/events", tag = "environments",
    params(("name" = String, Path, description = "Environment name"), EventParams),
    responses(
        (status = 200, body = Vec<Event>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
    Params(params): Params<EventParams>,
) -> Result<Json<Vec<Event>>, ApiError> {
    caller.require(Role::Viewer, "read events")?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let events = state.store.events(&name, limit).await?;
    if events.is_empty() {
        state.store.get(&name).await?;
    }
    Ok(Json(events))
}

/// Reads, parses and validates an Environment from a JSON or YAML body.
pub(crate) async fn read_environment(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Environment, ApiError> {
    let limit = state.config.max_body_bytes;
    let (media, text) =
        body::read(headers, body, limit, &[MediaType::Json, MediaType::Yaml]).await?;
    let format = match media {
        MediaType::Yaml => Format::Yaml,
        _ => Format::Json,
    };
    let mut env = spec::parse_document(&text, format)?;
    prepare(&mut env)?;
    Ok(env)
}

/// Drops what only the server sets and validates the rest.
fn prepare(env: &mut Environment) -> Result<(), ApiError> {
    env.status = None;
    env.metadata.generation = None;
    env.metadata.uid = None;
    env.metadata.creation_timestamp = None;
    env.metadata.deletion_timestamp = None;
    let mut errors = validate(env).err().unwrap_or_default();
    if let Some(version) = &env.metadata.resource_version {
        if version.parse::<u64>().is_err() {
            errors.push(
                "metadata.resourceVersion",
                "must be a resourceVersion returned by the server",
            );
        }
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(errors.into())
    }
}

/// `If-Match: "12"` (or `W/"12"`, or `12`) → 12.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_field("If-Match", "must be ASCII"))?;
    let bare = text.trim().trim_start_matches("W/").trim_matches('"');
    bare.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::bad_field("If-Match", "must be a resourceVersion, e.g. \"42\""))
}

/// The object as a JSON response with its ETag and, for writes, the outcome header.
fn object(status: StatusCode, env: &Environment, outcome: Option<WriteOutcome>) -> Response {
    let mut response = (status, Json(env)).into_response();
    let headers = response.headers_mut();
    if let Some(version) = &env.metadata.resource_version {
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
            headers.insert(ETAG, etag);
        }
    }
    if let Some(outcome) = outcome {
        headers.insert(OUTCOME_HEADER, HeaderValue::from_static(outcome.as_str()));
    }
    response
}
