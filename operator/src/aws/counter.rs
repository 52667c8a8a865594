//! Counts every AWS call by service, operation and outcome, through an SDK interceptor that
//! [`clients_for`](super::clients_for) registers on every client.
//!
//! One call is one HTTP attempt: a throttled attempt that the SDK retries counts once as
//! `throttled` and once more for the retry. Labels come from the SDK's operation metadata
//! (static strings such as `ECS` / `DescribeServices`), so their number is bounded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::retry::is_throttling;

/// `(service, operation, outcome)`, e.g. `("ECS", "DescribeServices", "ok")`.
pub type CallKey = (String, String, String);

/// How one call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    Error,
    Throttled,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Throttled => "throttled",
        }
    }
}

/// Shared call counts; clones count into the same table.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<CallKey, u64>>>,
    /// Attempts that waited for Plumb's own rate limit, by service.
    delayed: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every count so far.
    pub fn snapshot(&self) -> BTreeMap<CallKey, u64> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Attempts that waited for a token of Plumb's rate limit, by service.
    pub fn delayed(&self) -> BTreeMap<String, u64> {
        self.delayed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// All calls, whatever their outcome.
    pub fn total(&self) -> u64 {
        self.sum(|_| true)
    }

    /// Calls that may change something: operations not starting with Describe, List or Get.
    pub fn writes(&self) -> u64 {
        self.sum(|(_, operation, _)| !is_read(operation))
    }

    /// Calls of one operation (any service, any outcome).
    pub fn calls(&self, operation: &str) -> u64 {
        self.sum(|(_, op, _)| op == operation)
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.delayed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn record(&self, service: &str, operation: &str, outcome: CallOutcome) {
        let key = (
            service.to_owned(),
            operation.to_owned(),
            outcome.as_str().to_owned(),
        );
        *self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default() += 1;
    }

    pub(crate) fn record_delayed(&self, service: &str) {
        *self
            .delayed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(service.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn interceptor(&self) -> CountingInterceptor {
        CountingInterceptor {
            counter: self.clone(),
        }
    }

    fn sum(&self, keep: impl Fn(&CallKey) -> bool) -> u64 {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(key, _)| keep(key))
            .map(|(_, n)| n)
            .sum()
    }
}

fn is_read(operation: &str) -> bool {
    ["Describe", "List", "Get"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

/// Records each attempt's outcome in a [`CallCounter`].
#[derive(Debug)]
pub(crate) struct CountingInterceptor {
    counter: CallCounter,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "plumb-call-counter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => CallOutcome::Ok,
            _ if context.response().is_some_and(is_throttling) => CallOutcome::Throttled,
            _ => CallOutcome::Error,
        };
        self.counter
            .record(metadata.service(), metadata.name(), outcome);
        Ok(())
    }
}
