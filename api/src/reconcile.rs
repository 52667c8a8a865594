//! `/api/v1/environments/{name}/plan` (dry run) and `/reconcile` (queue it now).

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use plumb_operator::engine::Plan;
use plumb_operator::spec::Environment;
use plumb_operator::store::Role;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::environments::{read_environment, EnvName};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// A plan, as data and as a terraform-like text diff.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanResponse {
    pub plan: Plan,
    /// `+` create, `~` update (old → new per field), `-` delete, `!` refused.
    pub text: String,
}

/// Dry run: what a reconcile would change now. With an Environment in the body (JSON or
/// YAML), plans that spec, stored or not: this needs the editor role, since it reaches AWS
/// with a region and role the caller chose. Without a body, plans the stored spec: viewers
/// may. Writes nothing, to AWS or to the store.
#[utoipa::path(post, path = "/api/v1/environments/{name}/plan", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    request_body(content((Environment = "application/json"), (Environment = "application/yaml")),
        description = "Optional: a spec to plan instead of the stored one"),
    responses(
        (status = 200, body = PlanResponse),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "A body was sent by a viewer"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Invalid environment, or its role is in an AWS account the server may not act in (`account_not_allowed`)"),
        (status = 502, body = ErrorBody, description = "AWS could not be observed"),
    ))]
pub async fn plan(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PlanResponse>, ApiError> {
    caller.require(Role::Viewer, "plan environments")?;
    let empty = headers.get(CONTENT_TYPE).is_none()
        && headers
            .get(CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    let env = if empty {
        state.store.get(&name).await?
    } else {
        // Anything but an empty request (a Content-Type, or a length other than 0) is a
        // body, and is refused to viewers before it is read.
        caller.require(Role::Editor, "plan a spec sent in the request body")?;
        let env = read_environment(&state, &headers, body).await?;
        if env.metadata.name != name {
            return Err(ApiError::invalid_field(
                "metadata.name",
                format!(
                    "{:?} does not match the name in the URL ({name:?})",
                    env.metadata.name
                ),
            ));
        }
        env
    };
    let plan = state.reconciler.plan(&env).await?;
    let text = plan.render_text();
    Ok(Json(PlanResponse { plan, text }))
}

/// The answer to a reconcile request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileRequested {
    pub name: String,
    /// The generation the controller will reconcile; watch `status` (Ready, with
    /// `observedGeneration` at least this) on `GET /api/v1/environments/{name}`.
    pub generation: i64,
    #[schema(example = "queued; a controller reconciles it now")]
    pub message: String,
}

/// Ask for a reconcile now. The environment is queued at once and a controller picks it up;
/// its status tells the result.
#[utoipa::path(post, path = "/api/v1/environments/{name}/reconcile", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses(
        (status = 202, body = ReconcileRequested, description = "Queued"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn reconcile(
    State(state): State<AppState>,
    caller: Caller,
    EnvName(name): EnvName,
) -> Result<(StatusCode, Json<ReconcileRequested>), ApiError> {
    caller.require(Role::Editor, "reconcile environments")?;
    let env = state.store.request_reconcile(&name, caller.actor()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReconcileRequested {
            name,
            generation: env.metadata.generation.unwrap_or_default(),
            message: "queued; a controller reconciles it now".to_owned(),
        }),
    ))
}
