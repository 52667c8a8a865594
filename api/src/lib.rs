//! Plumb's HTTP surface: the REST API under `/api/v1`, its OpenAPI document, the health
//! endpoints and `/metrics`.

mod auth;
mod body;
pub mod drift;
pub mod environments;
pub mod error;
mod health;
mod metrics;
mod reconcile;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use plumb_operator::alerts::AlertConfig;
use plumb_operator::aws::{AwsConfig, CallCounter};
use plumb_operator::metrics::Metrics;
use plumb_operator::reconcile::Reconciler;
use plumb_operator::store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;

/// Settings of the HTTP surface.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take before it is answered 408.
    pub request_timeout: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub reconciler: Arc<Reconciler>,
    /// This replica's metrics, which count the reconciler's AWS calls too.
    pub metrics: Metrics,
}

impl AppState {
    /// State whose reconciler reaches AWS as `aws` says. Fails only if a metric's static
    /// definition were invalid.
    pub fn new(store: Store, config: ApiConfig, aws: AwsConfig) -> Result<Self, prometheus::Error> {
        let calls = CallCounter::new();
        let metrics = Metrics::new(calls.clone())?;
        let reconciler = Reconciler::new(store.clone(), aws, calls).with_metrics(metrics.clone());
        Ok(Self {
            store,
            config: Arc::new(config),
            reconciler: Arc::new(reconciler),
            metrics,
        })
    }

    /// Drift is announced as `alerts` says (quiet period, summary threshold, default topic).
    pub fn with_alerts(mut self, alerts: AlertConfig) -> Self {
        let reconciler = Reconciler::clone(&self.reconciler).with_alerts(alerts);
        self.reconciler = Arc::new(reconciler);
        self
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Plumb",
        description = "Declare AWS application environments; Plumb keeps them true to their spec.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "environments", description = "Declared environments"),
        (name = "drift", description = "Differences from the spec since Plumb applied it"),
        (name = "health", description = "Liveness and readiness")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route, each carrying its own OpenAPI operation, so the document covers every route
/// by construction.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(environments::list, environments::create))
        .routes(routes!(
            environments::get,
            environments::replace,
            environments::patch,
            environments::delete
        ))
        .routes(routes!(environments::events))
        .routes(routes!(drift::list))
        .routes(routes!(drift::environment))
        .routes(routes!(drift::accept))
        .routes(routes!(reconcile::plan))
        .routes(routes!(reconcile::reconcile))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
}

/// The OpenAPI 3 document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
async fn openapi_json() -> Response {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    let doc = DOC.get_or_init(|| serde_json::to_value(openapi()).unwrap_or_default());
    Json(doc).into_response()
}

/// The application router, ready to serve.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let (router, _) = routes().split_for_parts();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".to_owned()).into_response()
        }))
        .layer(TraceLayer::new_for_http())
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A bound server: build it, read its address, then run it until cancelled.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(addr: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            router: router(state),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then finishes in-flight requests.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}
