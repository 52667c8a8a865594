//! The status of an environment whose reconcile failed with an error only a change can fix
//! (an invalid parameter, access denied, a quota, an account the server may not act in):
//! `Ready=False` with the error, and `Stalled=True`. Written once, fenced by the lease: the
//! next attempts (long apart) find the same words there and write nothing.

use super::Lease;
use crate::reconcile::{FoundConditions, ReconcileError, STALLED};
use crate::spec::EnvironmentStatus;
use crate::store::{Store, StoreError};

/// The Ready reason of a reconcile that failed before it could apply anything.
pub const RECONCILE_FAILED: &str = "ReconcileFailed";

/// Records `error` in the conditions of the leased environment unless they already say it.
pub(crate) async fn report(
    store: &Store,
    lease: &Lease,
    error: &ReconcileError,
) -> Result<(), StoreError> {
    let env = store.get(&lease.name).await?;
    let generation = env.metadata.generation.unwrap_or_default();
    let previous = env.status.clone().unwrap_or_default();
    let message = error.to_string();
    let says = |type_: &str, status: &str, reason: &str| {
        previous.conditions.iter().any(|c| {
            c.type_ == type_
                && c.status == status
                && c.reason == reason
                && c.message == message
                && c.observed_generation == Some(generation)
        })
    };
    if says("Ready", "False", RECONCILE_FAILED) && says("Stalled", "True", STALLED) {
        return Ok(());
    }
    let at = FoundConditions {
        previous: &previous,
        generation,
    };
    let mut conditions = vec![
        at.condition("Ready", false, RECONCILE_FAILED, &message),
        at.stalled(Some(&message)),
    ];
    conditions.extend(
        previous
            .conditions
            .iter()
            .filter(|c| c.type_ != "Ready" && c.type_ != "Stalled")
            .cloned(),
    );
    let status = EnvironmentStatus {
        conditions,
        ..previous.clone()
    };
    let uid = env.metadata.uid.unwrap_or_default();
    store.write_status_fenced(lease, uid, &status).await?;
    Ok(())
}
