//! `/metrics`: Prometheus's text format, for the replica that answers.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Prometheus's text exposition format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Reconciles by result and error kind, reconcile durations, leases held, the queue's depth
/// and oldest due age, environments by Ready reason, and AWS calls by service, operation and
/// outcome. Unauthenticated, like the health endpoints: it names no environment. Answers
/// even when the database cannot be read, with `plumb_database_up 0`.
#[utoipa::path(get, path = "/metrics", tag = "health", security(()),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.store).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}
