//! What AWS's error answers say, read from the raw response: the call counter uses it to
//! count throttling, and [`QuotaIsFinal`] to stop the SDK from retrying a quota error.

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};

use super::error::{QUOTA_CODES, THROTTLING_CODES};

/// The error code of an error answer: from the `x-amzn-ErrorType` header (JSON protocols),
/// the body's `__type`/`code` (JSON) or its `<Code>` element (query/XML protocols).
pub(crate) fn error_code(response: &HttpResponse) -> Option<String> {
    if !response.status().is_client_error() && !response.status().is_server_error() {
        return None;
    }
    let from_header = response
        .headers()
        .get("x-amzn-errortype")
        .map(|value| value.split(':').next().unwrap_or(value).to_owned());
    from_header.or_else(|| response.body().bytes().and_then(body_error_code))
}

/// Whether a response is AWS saying "slow down": HTTP 429, or a throttling error code.
pub(crate) fn is_throttling(response: &HttpResponse) -> bool {
    response.status().as_u16() == 429
        || error_code(response).is_some_and(|code| THROTTLING_CODES.contains(&code.as_str()))
}

fn body_error_code(body: &[u8]) -> Option<String> {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let code = ["__type", "code", "Code"]
            .iter()
            .find_map(|key| json.get(key).and_then(|v| v.as_str()))?;
        // `com.amazonaws.ecs#ThrottlingException` → `ThrottlingException`.
        return Some(code.rsplit('#').next().unwrap_or(code).to_owned());
    }
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(text[start..end].trim().to_owned())
}

/// The SDK retries `LimitExceededException` as throttling; Application Auto Scaling and
/// CloudWatch answer it for a quota, which no retry fixes. This classifier forbids the retry.
#[derive(Debug, Default)]
pub(crate) struct QuotaIsFinal;

impl ClassifyRetry for QuotaIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let quota = ctx
            .response()
            .and_then(error_code)
            .is_some_and(|code| QUOTA_CODES.contains(&code.as_str()));
        if quota {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "plumb-quota-is-final"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(
            RetryClassifierPriority::modeled_as_retryable_classifier(),
        )
    }
}
