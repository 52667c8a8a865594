//! AWS adapters: observe an environment's resources (batched Describe/List calls) and apply
//! one planned action. Thin translations between SDK types and Plumb's [`Fields`]; what to
//! change is the plan's business, not theirs.
//!
//! [`Fields`]: crate::engine::Fields

mod accounts;
mod autoscaling;
mod clients;
mod cloudwatch;
mod counter;
mod ecs;
mod error;
mod fields;
mod join;
mod logs;
mod pool;

use std::collections::{BTreeMap, BTreeSet};

pub use accounts::{is_account_id, parse_account_id, role_account};
pub use clients::{AwsConfig, Clients};
pub use counter::{CallCounter, CallKey, Outcome};
pub use error::AwsError;
pub use pool::{clients_for, Access, ClientPool, CAPACITY};

use crate::engine::{
    Action, Change, Desired, DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind,
};
use join::{join_all, BoxFuture};

/// What AWS holds for the environment: the desired resources that exist, plus the orphans
/// found cheaply (services tagged as the env's, policies on its scalable targets). The four
/// services are observed at the same time.
pub async fn observe(
    clients: &Clients,
    env_name: &str,
    graph: &DesiredGraph,
) -> Result<ObservedState, AwsError> {
    let calls: Vec<BoxFuture<'_, Result<Vec<Observed>, AwsError>>> = vec![
        Box::pin(ecs::observe(&clients.ecs, env_name, graph)),
        Box::pin(logs::observe(&clients.logs, env_name, graph)),
        Box::pin(autoscaling::observe(&clients.autoscaling, graph)),
        Box::pin(cloudwatch::observe(&clients.cloudwatch, graph)),
    ];
    let mut state = ObservedState::new();
    for result in join_all(calls).await {
        state.extend(result?.into_iter().map(|o| (o.id.clone(), o)));
    }
    Ok(state)
}

/// Carries out one action. Create, Update and Delete call AWS; NoOp and ReplacementRequired
/// do nothing. Returns the resource as it now is (as far as the write's answer tells; its
/// ARN at least, where AWS returns one), and records that ARN in `resolved` so later actions
/// of the same plan can refer to it.
pub async fn apply(
    clients: &Clients,
    env_name: &str,
    desired: Option<&Desired>,
    action: &Action,
    observed: &ObservedState,
    resolved: &mut BTreeMap<ResourceId, String>,
) -> Result<Option<Observed>, AwsError> {
    let id = &action.resource;
    let current = observed.get(id);
    let need = || {
        desired.ok_or_else(|| AwsError::MissingDesired {
            resource: id.clone(),
        })
    };
    let result = match &action.change {
        Change::NoOp | Change::ReplacementRequired { .. } => return Ok(None),
        Change::Create { .. } => create(clients, env_name, need()?, observed, resolved).await?,
        Change::Update { fields } => {
            let changed: BTreeSet<&str> = fields.iter().map(|c| c.field.as_str()).collect();
            let target = Target {
                desired: need()?,
                current,
                changed: &changed,
            };
            update(clients, env_name, target, observed, resolved).await?
        }
        Change::Delete => {
            delete(clients, env_name, id, current, desired).await?;
            return Ok(None);
        }
    };
    if let Some(arn) = &result.arn {
        resolved.insert(result.id.clone(), arn.clone());
    }
    Ok(Some(result))
}

async fn create(
    clients: &Clients,
    env: &str,
    desired: &Desired,
    observed: &ObservedState,
    resolved: &BTreeMap<ResourceId, String>,
) -> Result<Observed, AwsError> {
    match desired.id.kind {
        ResourceKind::EcsCluster => ecs::cluster::create(&clients.ecs, desired).await,
        ResourceKind::LogGroup => logs::create(&clients.logs, desired).await,
        ResourceKind::TaskDefinition => ecs::task_definition::create(&clients.ecs, desired).await,
        ResourceKind::EcsService => ecs::service::create(&clients.ecs, env, desired).await,
        ResourceKind::ScalableTarget => {
            autoscaling::create_target(&clients.autoscaling, desired).await
        }
        ResourceKind::ScalingPolicy => {
            autoscaling::put_policy(&clients.autoscaling, desired, None).await
        }
        ResourceKind::MetricAlarm => {
            cloudwatch::put(&clients.cloudwatch, desired, None, observed, resolved).await
        }
    }
}

/// An update's subject: what the spec wants, what AWS has, and which fields differ.
struct Target<'a> {
    desired: &'a Desired,
    current: Option<&'a Observed>,
    changed: &'a BTreeSet<&'a str>,
}

async fn update(
    clients: &Clients,
    env: &str,
    target: Target<'_>,
    observed: &ObservedState,
    resolved: &BTreeMap<ResourceId, String>,
) -> Result<Observed, AwsError> {
    let Target {
        desired,
        current,
        changed,
    } = target;
    match desired.id.kind {
        ResourceKind::EcsCluster => {
            ecs::cluster::update(&clients.ecs, desired, current, changed).await
        }
        ResourceKind::LogGroup => logs::update(&clients.logs, desired, current).await,
        ResourceKind::TaskDefinition => {
            ecs::task_definition::update(&clients.ecs, desired, current).await
        }
        ResourceKind::EcsService => {
            ecs::service::update(&clients.ecs, env, desired, current, changed).await
        }
        ResourceKind::ScalableTarget => {
            autoscaling::update_target(&clients.autoscaling, desired, current).await
        }
        ResourceKind::ScalingPolicy => {
            autoscaling::put_policy(&clients.autoscaling, desired, current).await
        }
        ResourceKind::MetricAlarm => {
            cloudwatch::put(&clients.cloudwatch, desired, current, observed, resolved).await
        }
    }
}

async fn delete(
    clients: &Clients,
    env: &str,
    id: &ResourceId,
    current: Option<&Observed>,
    desired: Option<&Desired>,
) -> Result<(), AwsError> {
    match id.kind {
        ResourceKind::EcsCluster => ecs::cluster::delete(&clients.ecs, id).await,
        ResourceKind::LogGroup => logs::delete(&clients.logs, id).await,
        ResourceKind::TaskDefinition => ecs::task_definition::delete(&clients.ecs, id).await,
        ResourceKind::EcsService => ecs::service::delete(&clients.ecs, env, id, current).await,
        ResourceKind::ScalableTarget => autoscaling::delete_target(&clients.autoscaling, id).await,
        ResourceKind::ScalingPolicy => {
            autoscaling::delete_policy(&clients.autoscaling, id, current, desired).await
        }
        ResourceKind::MetricAlarm => cloudwatch::delete(&clients.cloudwatch, id).await,
    }
}

/// Names of the graph's resources of one kind.
fn desired_names(graph: &DesiredGraph, kind: ResourceKind) -> BTreeSet<String> {
    graph
        .resources
        .iter()
        .filter(|r| r.id.kind == kind)
        .map(|r| r.id.name.clone())
        .collect()
}
