//! AWS adapters: observe an environment's resources (batched Describe/List calls) and carry
//! out one planned action. Thin translations between SDK types and Plumb's [`Fields`]; what to
//! change is the plan's business, not theirs. One adapter per kind, dispatched from one
//! registry ([`adapter::adapter`]); one module per AWS service.
//!
//! [`Fields`]: crate::engine::Fields

mod accounts;
pub mod adapter;
mod autoscaling;
mod cache;
mod clients;
mod cloudwatch;
mod counter;
mod ecs;
mod elasticache;
mod error;
mod fields;
mod limits;
mod logs;
mod mq;
mod pool;
mod rds;
mod retry;
mod secrets;
mod snapshots;
pub mod sns;
mod sqs;
mod tags;

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;
use strum::VariantArray;

pub use accounts::{is_account_id, parse_account_id, role_account};
pub use adapter::{Cx, Write};
pub use cache::ArnCache;
pub use clients::{caller_identity, AwsConfig, CallerIdentity, Clients, SESSION_NAME};
pub use counter::{CallCounter, CallKey, CallOutcome};
pub use error::AwsError;
pub use limits::{Budgeted, Limits, Rate, Rates, Service};
pub use pool::{clients_for, Access, ClientPool, CAPACITY};
pub use sqs::{EventQueue, QueueMessage};

use crate::engine::graph::{TAG_ENVIRONMENT, TAG_MANAGED_BY};
use crate::engine::{DesiredGraph, Observed, ObservedState, Owner, ResourceId, ResourceKind};
use adapter::adapter;

/// What AWS holds for the environment: every resource with a name the graph derives (whoever
/// owns it), plus those tagged as the environment's that the graph no longer names. Kinds are
/// observed at the same time where one does not read another's result, and each resource's
/// phase is set from its kind's rules. A kind found by name only ([`looked_up_by_name`]) is
/// looked for only when the graph has one or `known` (what the last reconcile recorded)
/// lists one: an environment without a database makes no RDS call.
pub async fn observe(
    cx: Cx<'_>,
    graph: &DesiredGraph,
    known: &BTreeSet<ResourceId>,
) -> Result<ObservedState, AwsError> {
    let mut state = ObservedState::new();
    let mut pending: Vec<ResourceKind> = ResourceKind::VARIANTS
        .iter()
        .copied()
        .filter(|kind| {
            !looked_up_by_name(*kind)
                || graph.resources.iter().any(|r| r.id.kind == *kind)
                || known.iter().any(|id| id.kind == *kind)
        })
        .collect();
    while !pending.is_empty() {
        let (ready, later): (Vec<ResourceKind>, Vec<ResourceKind>) = pending
            .iter()
            .partition(|kind| adapter(**kind).after().iter().all(|a| !pending.contains(a)));
        if ready.is_empty() {
            return Err(AwsError::ObserveOrder(later));
        }
        let found = try_join_all(
            ready
                .iter()
                .map(|kind| adapter(*kind).observe(cx, graph, &state)),
        )
        .await?;
        for mut o in found.into_iter().flatten() {
            if o.owner != Owner::Ours && graph.get(&o.id).is_none() {
                // Someone else's, with a name we do not use: none of our business.
                continue;
            }
            o.phase = (o.id.kind.rules().phase)(&o);
            state.insert(o.id.clone(), o);
        }
        pending = later;
    }
    Ok(state)
}

/// Kinds whose orphans are found by the names Plumb derives, not by listing everything of
/// the environment's: looking costs a call per kind whether or not one exists.
fn looked_up_by_name(kind: ResourceKind) -> bool {
    match kind {
        ResourceKind::DbSubnetGroup
        | ResourceKind::DbParameterGroup
        | ResourceKind::DbClusterParameterGroup
        | ResourceKind::DbCluster
        | ResourceKind::DbInstance
        | ResourceKind::CacheSubnetGroup
        | ResourceKind::CacheParameterGroup
        | ResourceKind::ReplicationGroup
        | ResourceKind::MqBroker => true,
        ResourceKind::EcsCluster
        | ResourceKind::LogGroup
        | ResourceKind::TaskDefinition
        | ResourceKind::EcsService
        | ResourceKind::ScalableTarget
        | ResourceKind::ScalingPolicy
        | ResourceKind::MetricAlarm => false,
    }
}

/// Creates the resource.
pub async fn create(cx: Cx<'_>, write: Write<'_>) -> Result<Observed, AwsError> {
    adapter(write.desired.id.kind).create(cx, write).await
}

/// Changes the fields `write.changed` names.
pub async fn update(cx: Cx<'_>, write: Write<'_>) -> Result<Observed, AwsError> {
    adapter(write.desired.id.kind).update(cx, write).await
}

/// Deletes the resource; gone already is success. Answers with the name of the final
/// snapshot a kind that holds data took first.
pub async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>, AwsError> {
    adapter(current.id.kind).delete(cx, current).await
}

/// Removes Plumb's tags from the resource: it stays, and is no longer this environment's.
pub async fn release(cx: Cx<'_>, current: &Observed) -> Result<(), AwsError> {
    let keys = [TAG_ENVIRONMENT, TAG_MANAGED_BY];
    adapter(current.id.kind).untag(cx, current, &keys).await?;
    if let Some(arn) = &current.arn {
        cx.cache.forget_owner(arn);
    }
    Ok(())
}

/// Tags the resource as the environment's, and forgets the owner remembered for it.
pub async fn adopt(
    cx: Cx<'_>,
    current: &Observed,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    adapter(current.id.kind).tag(cx, current, tags).await?;
    if let Some(arn) = &current.arn {
        cx.cache.forget_owner(arn);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_can_be_observed_in_some_order() {
        let mut done: Vec<ResourceKind> = Vec::new();
        while done.len() < ResourceKind::VARIANTS.len() {
            let next = ResourceKind::VARIANTS.iter().find(|k| {
                !done.contains(k) && adapter(**k).after().iter().all(|a| done.contains(a))
            });
            done.push(*next.expect("no cycle among the adapters' `after`"));
        }
    }
}
