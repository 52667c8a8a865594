//! What to do after a reconcile failed: a plain synchronous function of the error and the
//! failures in a row. Exponential backoff for errors that may pass (throttling, timeouts,
//! the database); a long wait for errors only a change can fix.

use std::time::Duration;

use super::scheduler::jitter;
use super::{Action, STALLED};
use crate::reconcile::ReconcileError;

/// The first retry's wait.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// The longest wait between retries of an error that may pass.
pub const BACKOFF_CAP: Duration = Duration::from_secs(5 * 60);

/// The wait before retry number `attempts` (1 after the first failure), without jitter:
/// 5 s, 10 s, 20 s, … doubling up to 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_CAP)
}

/// When to try again after `error`, the `attempts`-th failure in a row: backoff with
/// jitter (never past the cap), or [`STALLED`] (± jitter) when retrying soon cannot help.
pub fn error_policy(error: &ReconcileError, attempts: u32) -> Action {
    if error.is_permanent() {
        Action::requeue(jitter(STALLED))
    } else {
        Action::requeue(jitter(backoff(attempts)).min(BACKOFF_CAP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsError;
    use crate::store::StoreError;

    fn aws(code: &str) -> ReconcileError {
        ReconcileError::Aws(AwsError::Service {
            service: "ecs",
            operation: "CreateService",
            code: code.to_owned(),
            message: "no".to_owned(),
        })
    }

    fn throttled() -> ReconcileError {
        ReconcileError::Aws(AwsError::Throttled {
            service: "ecs",
            operation: "DescribeServices",
            code: "ThrottlingException".to_owned(),
            message: "Rate exceeded".to_owned(),
        })
    }

    #[test]
    fn backoff_doubles_from_five_seconds_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300, 300]);
        assert_eq!(backoff(0), BACKOFF_BASE);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn retryable_errors_back_off_with_jitter_never_past_the_cap() {
        for attempts in 1..=12 {
            let base = backoff(attempts);
            for _ in 0..200 {
                let wait = error_policy(&throttled(), attempts).requeue_after();
                assert!(wait >= base.mul_f64(0.9), "{attempts}: {wait:?}");
                assert!(
                    wait <= base.mul_f64(1.1).min(BACKOFF_CAP),
                    "{attempts}: {wait:?}"
                );
            }
        }
        let db = ReconcileError::Store(StoreError::Database(sqlx::Error::PoolTimedOut));
        assert!(error_policy(&db, 1).requeue_after() <= Duration::from_secs(6));
    }

    #[test]
    fn errors_only_a_change_can_fix_wait_long_whatever_the_attempt() {
        let permanent = [
            aws("InvalidParameterException"),
            aws("InvalidParameterValue"),
            aws("ClientException"),
            aws("AccessDeniedException"),
            aws("AccessDenied"),
            aws("ValidationException"),
            ReconcileError::Aws(AwsError::Quota {
                service: "application-autoscaling",
                operation: "PutScalingPolicy",
                code: "LimitExceededException".to_owned(),
                message: "too many".to_owned(),
            }),
            ReconcileError::Aws(AwsError::AccountNotAllowed {
                role_arn: "arn:aws:iam::222222222222:role/plumb".to_owned(),
                account: "222222222222".to_owned(),
            }),
        ];
        for error in &permanent {
            assert!(error.is_permanent(), "{error}");
            for attempts in [1, 2, 50] {
                let wait = error_policy(error, attempts).requeue_after();
                assert!(
                    wait >= Duration::from_secs(810) && wait <= Duration::from_secs(990),
                    "{error}: {wait:?}"
                );
            }
        }
        for error in [
            throttled(),
            aws("ServerException"),
            aws("ServiceUnavailable"),
            ReconcileError::LeaseLost("shop".to_owned()),
        ] {
            assert!(!error.is_permanent(), "{error}");
        }
    }
}
