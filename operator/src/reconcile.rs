//! One reconcile of one environment: read the desired state from the store, expand it to the
//! desired graph, observe AWS, diff, plan, apply per policy, record status and events.
//!
//! Deletion works like a finalizer: an environment marked deleting is torn down in reverse
//! dependency order (stateful resources per the deletion policy), and its row goes only when
//! teardown succeeded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use crate::aws::{self, Access, AwsConfig, AwsError, CallCounter, ClientPool, Clients};
use crate::engine::diff::{diff, DiffState};
use crate::engine::graph::desired_graph;
use crate::engine::plan::plan;
use crate::engine::{
    Action, Change, Desired, DesiredGraph, Observed, ObservedState, Plan, ResourceId,
};
use crate::spec::{Condition, DriftPolicy, Environment, EnvironmentStatus, ResourceStatus};
use crate::store::{Store, StoreError};

/// How long a healthy environment waits before it is looked at again.
pub const RESYNC: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl ReconcileError {
    /// A static label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Store(e) => e.kind(),
            Self::Aws(e) => e.kind(),
        }
    }
}

/// What reconciles: the store, how to reach AWS, and the call counter every client shares.
#[derive(Debug, Clone)]
pub struct Reconciler {
    pub store: Store,
    pub aws: AwsConfig,
    pub counter: CallCounter,
    /// Clients by (region, role, external id), bounded, each role's account checked
    /// against the allow-list before it is assumed.
    clients: Arc<ClientPool>,
}

/// The result of one action.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub resource: ResourceId,
    /// `create`, `update`, `delete` or `refused`.
    pub action: &'static str,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a reconcile did and where the environment stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub generation: i64,
    pub plan: Plan,
    pub applied: Vec<Applied>,
    pub ready: bool,
    pub reason: String,
    pub message: String,
    /// True when the environment was torn down and removed.
    pub deleted: bool,
    /// When to look again.
    pub requeue_after_seconds: u64,
}

impl Reconciler {
    pub fn new(store: Store, aws: AwsConfig, counter: CallCounter) -> Self {
        let clients = ClientPool::new(aws.clone(), counter.clone());
        Self {
            store,
            aws,
            counter,
            clients: Arc::new(clients),
        }
    }

    async fn clients(&self, env: &Environment) -> Result<Clients, AwsError> {
        let spec = &env.spec;
        let access = Access {
            region: &spec.region,
            role_arn: spec.role_arn.as_deref(),
            external_id: spec.external_id.as_deref(),
        };
        self.clients.get(access).await
    }

    /// The plan for `env` against what AWS has now. Writes nothing, to AWS or the store.
    pub async fn plan(&self, env: &Environment) -> Result<Plan, ReconcileError> {
        let clients = self.clients(env).await?;
        let graph = desired_graph(env);
        let observed = aws::observe(&clients, &env.metadata.name, &graph).await?;
        Ok(plan(&graph, &diff(&graph, &observed), &env.spec.policy))
    }

    /// Reconciles the stored environment `name` once.
    pub async fn reconcile(&self, name: &str) -> Result<Outcome, ReconcileError> {
        let env = self.store.get(name).await?;
        let clients = self.clients(&env).await?;
        let graph = desired_graph(&env);
        let observed = aws::observe(&clients, name, &graph).await?;
        if env.metadata.deletion_timestamp.is_some() {
            return self.teardown(&env, &clients, &observed).await;
        }

        let generation = env.metadata.generation.unwrap_or_default();
        let previous = env.status.clone().unwrap_or_default();
        let plan = plan(&graph, &diff(&graph, &observed), &env.spec.policy);
        // Under `report`, a new generation is still applied (it is the user's intent); what
        // differs after that is drift, recorded and left alone.
        let new_generation = previous.observed_generation.unwrap_or(0) < generation;
        let correct = env.spec.policy.drift == DriftPolicy::Correct || new_generation;

        let mut applied = Vec::new();
        let mut resolved = BTreeMap::new();
        let mut after = observed.clone();
        let mut failure = None;
        let mut drifted = Vec::new();
        for action in &plan.actions {
            let verb = verb(&action.change);
            if let Change::ReplacementRequired { reason, .. } = &action.change {
                applied.push(refused(action, reason));
                continue;
            }
            if verb == "noop" {
                continue;
            }
            if !correct {
                drifted.push(action.resource.to_string());
                continue;
            }
            let desired = graph.resources.iter().find(|d| d.id == action.resource);
            let result = aws::apply(&clients, name, desired, action, &after, &mut resolved).await;
            let result = match (result, desired) {
                (Ok(Some(created)), Some(desired)) if verb == "create" => {
                    finish_create(&clients, name, desired, created, &after, &mut resolved).await
                }
                (other, _) => other,
            };
            match result {
                Ok(result) => {
                    match result {
                        Some(observed) => {
                            after.insert(action.resource.clone(), observed);
                        }
                        None if verb == "delete" => {
                            after.remove(&action.resource);
                        }
                        None => {}
                    }
                    applied.push(Applied {
                        resource: action.resource.clone(),
                        action: verb,
                        ok: true,
                        message: None,
                    });
                }
                Err(e) => {
                    applied.push(Applied {
                        resource: action.resource.clone(),
                        action: verb,
                        ok: false,
                        message: Some(e.to_string()),
                    });
                    failure = Some(format!("{verb} {}: {e}", action.resource));
                    break;
                }
            }
        }

        let refusals: Vec<_> = applied.iter().filter(|a| a.action == "refused").collect();
        let (ready, reason, message) = if let Some(failure) = failure {
            (false, "ApplyFailed", failure)
        } else if !refusals.is_empty() {
            let list: Vec<String> = refusals
                .iter()
                .map(|a| format!("{}: {}", a.resource, a.message.clone().unwrap_or_default()))
                .collect();
            (false, "ReplacementRefused", list.join("; "))
        } else if !drifted.is_empty() {
            (
                true,
                "DriftReported",
                format!("drift left alone (policy report): {}", drifted.join(", ")),
            )
        } else {
            (
                true,
                "Reconciled",
                format!("{} resources match the spec", graph.resources.len()),
            )
        };

        let status = EnvironmentStatus {
            observed_generation: if ready {
                Some(generation)
            } else {
                previous.observed_generation
            },
            conditions: vec![ready_condition(&previous, ready, reason, &message)],
            resources: resource_statuses(&graph, &after),
        };
        let uid = env.metadata.uid.unwrap_or_default();
        self.store.write_status(name, uid, &status).await?;
        for a in applied.iter().filter(|a| a.ok && a.action != "refused") {
            let message = format!("{} {}", a.action, a.resource);
            self.store
                .record_event(name, uid, "plumb", "Reconciled", Some(generation), &message)
                .await?;
        }
        Ok(Outcome {
            generation,
            plan,
            applied,
            ready,
            reason: reason.to_owned(),
            message,
            deleted: false,
            requeue_after_seconds: if ready { RESYNC.as_secs() } else { 30 },
        })
    }

    /// Deletes what the environment owns, in reverse dependency order, then the row.
    async fn teardown(
        &self,
        env: &Environment,
        clients: &Clients,
        observed: &ObservedState,
    ) -> Result<Outcome, ReconcileError> {
        let name = env.metadata.name.as_str();
        let nothing = DesiredGraph::default();
        let plan = plan(&nothing, &diff(&nothing, observed), &env.spec.policy);
        let mut applied = Vec::new();
        let mut resolved = BTreeMap::new();
        for action in &plan.actions {
            let result = aws::apply(clients, name, None, action, observed, &mut resolved).await;
            let ok = result.is_ok();
            applied.push(Applied {
                resource: action.resource.clone(),
                action: verb(&action.change),
                ok,
                message: result.err().map(|e| e.to_string()),
            });
            if !ok {
                break;
            }
        }
        let generation = env.metadata.generation.unwrap_or_default();
        let uid = env.metadata.uid.unwrap_or_default();
        if let Some(failed) = applied.iter().find(|a| !a.ok) {
            let message = format!(
                "teardown: delete {}: {}",
                failed.resource,
                failed.message.clone().unwrap_or_default()
            );
            let previous = env.status.clone().unwrap_or_default();
            let status = EnvironmentStatus {
                conditions: vec![ready_condition(
                    &previous,
                    false,
                    "TeardownFailed",
                    &message,
                )],
                ..previous
            };
            self.store.write_status(name, uid, &status).await?;
            return Ok(Outcome {
                generation,
                plan,
                applied,
                ready: false,
                reason: "TeardownFailed".to_owned(),
                message,
                deleted: false,
                requeue_after_seconds: 30,
            });
        }
        self.store.finalize_deletion(name, uid, "plumb").await?;
        Ok(Outcome {
            generation,
            message: format!("{} resources deleted", applied.len()),
            plan,
            applied,
            ready: false,
            reason: "Deleted".to_owned(),
            deleted: true,
            requeue_after_seconds: 0,
        })
    }
}

/// A create whose answer lacks some of what was asked (a field AWS dropped or applies only on
/// update) is finished at once with an update of just those fields. When AWS honoured the
/// whole request, as it should, this costs nothing.
async fn finish_create(
    clients: &Clients,
    env: &str,
    desired: &Desired,
    created: Observed,
    observed: &ObservedState,
    resolved: &mut BTreeMap<ResourceId, String>,
) -> Result<Option<Observed>, AwsError> {
    let graph = DesiredGraph {
        resources: vec![desired.clone()],
    };
    let state = ObservedState::from([(desired.id.clone(), created.clone())]);
    let Some(DiffState::Differs(fields)) = diff(&graph, &state).into_iter().next().map(|d| d.state)
    else {
        return Ok(Some(created));
    };
    tracing::info!(resource = %desired.id, ?fields, "create answered without some fields; updating them");
    let mut observed = observed.clone();
    observed.insert(desired.id.clone(), created.clone());
    let update = Action {
        resource: desired.id.clone(),
        change: Change::Update { fields },
    };
    let updated = aws::apply(clients, env, Some(desired), &update, &observed, resolved).await?;
    Ok(Some(updated.unwrap_or(created)))
}

fn verb(change: &Change) -> &'static str {
    match change {
        Change::Create { .. } => "create",
        Change::Update { .. } => "update",
        Change::NoOp => "noop",
        Change::Delete => "delete",
        Change::ReplacementRequired { .. } => "refused",
    }
}

fn refused(action: &Action, reason: &str) -> Applied {
    Applied {
        resource: action.resource.clone(),
        action: "refused",
        ok: false,
        message: Some(format!("replacement required and not allowed: {reason}")),
    }
}

/// The Ready condition, keeping its transition time while its status does not change.
fn ready_condition(
    previous: &EnvironmentStatus,
    ready: bool,
    reason: &str,
    message: &str,
) -> Condition {
    let status = if ready { "True" } else { "False" };
    let since = previous
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == status)
        .map(|c| c.last_transition_time)
        .unwrap_or_else(Utc::now);
    Condition {
        type_: "Ready".to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: since,
    }
}

/// Per desired resource: its ARN and AWS status, or `Missing`.
fn resource_statuses(
    graph: &DesiredGraph,
    observed: &ObservedState,
) -> BTreeMap<String, ResourceStatus> {
    graph
        .resources
        .iter()
        .map(|desired| {
            let found = observed.get(&desired.id);
            let status = ResourceStatus {
                kind: desired.id.kind.as_str().to_owned(),
                arn: found.and_then(|o| o.arn.clone()),
                state: Some(
                    found
                        .map(|o| o.status.clone().unwrap_or_else(|| "Present".to_owned()))
                        .unwrap_or_else(|| "Missing".to_owned()),
                ),
                message: None,
            };
            (desired.id.to_string(), status)
        })
        .collect()
}
