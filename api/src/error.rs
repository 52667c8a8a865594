//! The API's one error type: every failure is a status code and a JSON body naming what went
//! wrong, and nothing internal leaks.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plumb_operator::aws::AwsError;
use plumb_operator::reconcile::ReconcileError;
use plumb_operator::spec::ParseError;
use plumb_operator::store::StoreError;
use plumb_operator::validate::{FieldError, ValidationErrors};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable, machine-readable: `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `invalid`, `account_not_allowed`, `bad_request`, `payload_too_large`,
    /// `unsupported_media_type`, `aws_error`, `internal`, …
    pub code: &'static str,
    pub message: String,
    /// Per-field problems, for `invalid` and `bad_request`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// With `conflict`: the version to send back after re-reading the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_resource_version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String, Vec<FieldError>),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("role {have} may not {action}; it needs {need}")]
    Forbidden {
        have: &'static str,
        need: &'static str,
        action: &'static str,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict {
        message: String,
        current: Option<String>,
    },
    #[error("the environment is invalid")]
    Invalid(Vec<FieldError>),
    /// The spec's role is in an AWS account the server may not act in. 422, not 403: the
    /// caller's token is good enough; what must change is the spec (or the server's
    /// allow-list), and 403 keeps meaning "your role is too low".
    #[error("{0}")]
    AccountNotAllowed(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the database is unavailable")]
    Unavailable,
    #[error("AWS: {0}")]
    Upstream(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(..) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::AccountNotAllowed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Static label, for the body's `code` and for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(..) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::Invalid(_) => "invalid",
            Self::AccountNotAllowed(_) => "account_not_allowed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unavailable => "unavailable",
            Self::Upstream(_) => "aws_error",
            Self::Internal(_) => "internal",
        }
    }

    pub fn bad_field(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::BadRequest(
            format!("{field}: {reason}"),
            vec![FieldError {
                field: field.to_owned(),
                reason,
            }],
        )
    }

    pub fn invalid_field(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.to_owned(),
            reason: reason.into(),
        }])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let status = self.status();
        let (fields, current) = match &self {
            Self::BadRequest(_, fields) | Self::Invalid(fields) => (fields.clone(), None),
            Self::AccountNotAllowed(reason) => (vec![role_arn_error(reason)], None),
            Self::Conflict { current, .. } => (Vec::new(), current.clone()),
            _ => (Vec::new(), None),
        };
        let body = ErrorBody {
            code: self.code(),
            message: self.to_string(),
            fields,
            current_resource_version: current,
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(name) => Self::NotFound(format!("environment {name:?} not found")),
            StoreError::AlreadyExists(_) => Self::Conflict {
                message: e.to_string(),
                current: None,
            },
            StoreError::Conflict { current, .. } => Self::Conflict {
                message: e.to_string(),
                current: Some(current.to_string()),
            },
            StoreError::NameClaimed { .. } => Self::Conflict {
                message: e.to_string(),
                current: None,
            },
            StoreError::Deleting(_) => Self::Conflict {
                message: format!("{e}; it cannot be changed until deletion finishes"),
                current: None,
            },
            StoreError::DriftResolved { .. } => Self::Conflict {
                message: e.to_string(),
                current: None,
            },
            StoreError::Database(sqlx::Error::PoolTimedOut) => Self::Unavailable,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ReconcileError> for ApiError {
    fn from(e: ReconcileError) -> Self {
        match e {
            ReconcileError::Store(e) => e.into(),
            ReconcileError::Aws(e) => e.into(),
            // Only the controller reconciles under a lease; a handler never sees this.
            e @ ReconcileError::LeaseLost(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<AwsError> for ApiError {
    fn from(e: AwsError) -> Self {
        match e {
            AwsError::AccountNotAllowed { .. } => Self::AccountNotAllowed(e.to_string()),
            AwsError::RoleArn { .. } => Self::Invalid(vec![role_arn_error(&e.to_string())]),
            e => {
                tracing::warn!(error = %e, kind = e.kind(), "AWS call failed");
                Self::Upstream(e.to_string())
            }
        }
    }
}

/// The refusal as a field error, so clients show it where they show validation errors.
fn role_arn_error(reason: &str) -> FieldError {
    FieldError {
        field: "spec.roleArn".to_owned(),
        reason: reason.to_owned(),
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        Self::Invalid(e.0)
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        let field = if e.path == "." {
            "body".to_owned()
        } else {
            e.path.clone()
        };
        let error = FieldError {
            field,
            reason: e.message.clone(),
        };
        if e.syntax {
            Self::BadRequest(format!("malformed body: {}", e.message), vec![error])
        } else {
            Self::Invalid(vec![error])
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::bad_field("path", e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_field("query", e.body_text())
    }
}
