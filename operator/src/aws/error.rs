//! The AWS boundary's error: what went wrong talking to AWS, or translating Plumb's fields
//! into a request. Each variant has a static [`AwsError::kind`] label for metrics.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::error::operation::BuildError;

use crate::engine::ResourceId;

/// AWS error codes that mean "slow down", plus 429 responses. `LimitExceededException` is
/// not among them: Application Auto Scaling and CloudWatch answer it for a quota (too many
/// policies, alarms or targets), which waiting does not fix.
pub(crate) const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes of AWS itself failing (its 5xx answers) or of credentials it no longer
/// accepts: the environment is degraded until they stop.
pub(crate) const OUTAGE_CODES: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
];

/// Error codes that mean an account quota is reached.
pub(crate) const QUOTA_CODES: &[&str] = &["LimitExceededException"];

/// Error codes (and prefixes ending in `*`) of requests AWS will refuse again until the spec,
/// the account or Plumb's permissions change: retrying soon only repeats the answer.
pub(crate) const PERMANENT_CODES: &[&str] = &[
    "InvalidParameter*",
    "AccessDenied*",
    "ClientException",
    "ValidationException",
    "ValidationError",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "InvalidClientTokenId",
];

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// AWS answered the call with an error; its code and message are kept.
    #[error("{service} {operation}: {code}: {message}")]
    Service {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
    },
    /// An account quota is reached (too many policies, alarms, targets): not retried.
    #[error("{service} {operation}: quota reached ({code}): {message}")]
    Quota {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
    },
    /// AWS throttled the call and the retries ran out.
    #[error("{service} {operation}: throttled ({code}): {message}")]
    Throttled {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
    },
    /// The call (or one attempt of it) took longer than its timeout.
    #[error("{service} {operation}: timed out")]
    Timeout {
        service: &'static str,
        operation: &'static str,
    },
    /// The request never got an answer: connection, TLS, credentials.
    #[error("{service} {operation}: could not reach AWS: {detail}")]
    Dispatch {
        service: &'static str,
        operation: &'static str,
        detail: String,
    },
    /// An answer came that could not be read.
    #[error("{service} {operation}: unreadable response: {detail}")]
    Response {
        service: &'static str,
        operation: &'static str,
        detail: String,
    },
    /// The SDK could not build the request.
    #[error("{service} {operation}: could not build the request: {detail}")]
    Request {
        service: &'static str,
        operation: &'static str,
        detail: String,
    },
    /// A value the SDK refused while building a request structure.
    #[error("building a request: {0}")]
    Build(#[from] BuildError),
    /// A desired field the adapter needs is missing or has the wrong shape.
    #[error("{resource}: field `{field}` is missing or malformed")]
    Field {
        resource: ResourceId,
        field: &'static str,
    },
    /// A reference names a resource whose ARN is not known.
    #[error("{resource}: the ARN of {target} is not known")]
    Unresolved {
        resource: ResourceId,
        target: ResourceId,
    },
    /// An update asks for a change the API cannot make in place.
    #[error("{resource}: `{field}` cannot be changed in place")]
    Immutable { resource: ResourceId, field: String },
    /// The adapters' `after` lists form a cycle: these kinds cannot be observed.
    #[error("adapters cannot be ordered for observation: {0:?}")]
    ObserveOrder(Vec<crate::engine::ResourceKind>),
    /// The role to assume is in an AWS account this server may not act in; refused before
    /// any call. Permanent: retrying changes nothing until the spec or the server's
    /// allow-list does.
    #[error(
        "role {role_arn} is in AWS account {account}, which this server may not act in; \
         to allow it, add {account} to the server's --allowed-accounts (PLUMB_ALLOWED_ACCOUNTS), \
         which while empty allows only the account of Plumb's own credentials"
    )]
    AccountNotAllowed { role_arn: String, account: String },
    /// The role to assume is not an IAM role ARN, so its account is unknown; refused before
    /// any call. Permanent, like [`AwsError::AccountNotAllowed`].
    #[error("{role_arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)")]
    RoleArn { role_arn: String },
}

impl AwsError {
    /// A static label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Service { .. } => "service",
            Self::Quota { .. } => "quota",
            Self::Throttled { .. } => "throttled",
            Self::Timeout { .. } => "timeout",
            Self::Dispatch { .. } => "dispatch",
            Self::Response { .. } => "response",
            Self::Request { .. } => "request",
            Self::Build(_) => "build",
            Self::Field { .. } => "field",
            Self::Unresolved { .. } => "unresolved",
            Self::Immutable { .. } => "immutable",
            Self::ObserveOrder(_) => "observe-order",
            Self::AccountNotAllowed { .. } => "account-not-allowed",
            Self::RoleArn { .. } => "role-arn",
        }
    }

    /// True when retrying soon cannot help: AWS refused the request itself (an invalid
    /// parameter, access denied, a quota), or Plumb refused it before asking (an account it
    /// may not act in). Such errors wait long between attempts and say why in the status.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Service { code, .. } => {
                PERMANENT_CODES.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => code.starts_with(prefix),
                    None => code == p,
                })
            }
            Self::Quota { .. }
            | Self::AccountNotAllowed { .. }
            | Self::RoleArn { .. }
            | Self::Immutable { .. }
            | Self::Field { .. }
            | Self::Build(_)
            | Self::Request { .. }
            | Self::ObserveOrder(_) => true,
            Self::Throttled { .. }
            | Self::Timeout { .. }
            | Self::Dispatch { .. }
            | Self::Response { .. }
            | Self::Unresolved { .. } => false,
        }
    }

    /// True when AWS itself failed rather than refused: throttled past the retries, timed
    /// out, unreachable, a 5xx answer, or credentials it no longer accepts. One `degraded`
    /// alert per environment says so, not one per resource.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Timeout { .. } | Self::Dispatch { .. } => true,
            Self::Service { code, .. } => self.has_code(OUTAGE_CODES) || code.starts_with("Http5"),
            _ => false,
        }
    }

    /// The AWS error code, when AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. }
            | Self::Quota { code, .. }
            | Self::Throttled { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether AWS answered with one of these error codes.
    pub(crate) fn has_code(&self, codes: &[&str]) -> bool {
        self.code().is_some_and(|c| codes.contains(&c))
    }

    fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let detail = || DisplayErrorContext(&err).to_string();
        match &err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                // A 5xx without a code (a load balancer's answer) is still AWS failing.
                let code = match ctx.err().code() {
                    Some(code) => code.to_owned(),
                    None if status >= 500 => format!("Http{status}"),
                    None => "Unknown".to_owned(),
                };
                let message = ctx.err().message().unwrap_or_default().to_owned();
                let throttled =
                    ctx.raw().status().as_u16() == 429 || THROTTLING_CODES.contains(&code.as_str());
                if QUOTA_CODES.contains(&code.as_str()) {
                    Self::Quota {
                        service,
                        operation,
                        code,
                        message,
                    }
                } else if throttled {
                    Self::Throttled {
                        service,
                        operation,
                        code,
                        message,
                    }
                } else {
                    Self::Service {
                        service,
                        operation,
                        code,
                        message,
                    }
                }
            }
            SdkError::TimeoutError(_) => Self::Timeout { service, operation },
            SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                Self::Timeout { service, operation }
            }
            SdkError::DispatchFailure(_) => Self::Dispatch {
                service,
                operation,
                detail: detail(),
            },
            // An unreadable 5xx (no body) is AWS failing, not a response Plumb misread.
            SdkError::ResponseError(r) if r.raw().status().as_u16() >= 500 => Self::Service {
                service,
                operation,
                code: format!("Http{}", r.raw().status().as_u16()),
                message: detail(),
            },
            SdkError::ResponseError(_) => Self::Response {
                service,
                operation,
                detail: detail(),
            },
            _ => Self::Request {
                service,
                operation,
                detail: detail(),
            },
        }
    }
}

/// Names an SDK call's failure: `.send().await.op(ECS, "DescribeServices")?`.
pub(crate) trait OpResult<T> {
    fn op(self, service: &'static str, operation: &'static str) -> Result<T, AwsError>;
}

impl<T, E> OpResult<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    fn op(self, service: &'static str, operation: &'static str) -> Result<T, AwsError> {
        self.map_err(|e| AwsError::from_sdk(service, operation, e))
    }
}

/// `Ok(None)` when AWS answered with one of `codes` (the thing is not there).
pub(crate) fn absent_on<T>(
    result: Result<T, AwsError>,
    codes: &[&str],
) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.has_code(codes) => Ok(None),
        Err(e) => Err(e),
    }
}
