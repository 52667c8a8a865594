//! One reconcile of one environment: read the desired state from the store, expand it to the
//! desired graph, observe AWS, diff, plan, apply per policy, record status and events.
//!
//! Deletion works like a finalizer: an environment marked deleting is torn down, dependents
//! first (stateful resources per the deletion policy), and its row goes only when teardown
//! succeeded.
//!
//! The controller runs it under a lease ([`Reconciler::reconcile_leased`]): its status writes
//! are fenced, so a reconcile whose lease was taken over writes nothing over a newer status.

mod apply;
mod converge;
mod status;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

pub use apply::Applied;

use crate::alerts::message::Context;
use crate::alerts::AlertConfig;
use crate::aws::{
    self, Access, ArnCache, AwsConfig, AwsError, CallCounter, ClientPool, Clients, Cx,
};
use crate::controller::{Action, Lease};
use crate::drift::classify::{classify, leave_alone, sweep, Classified};
use crate::drift::LastApplied;
use crate::engine::diff::diff;
use crate::engine::graph::desired_graph;
use crate::engine::plan::{plan, Holds};
use crate::engine::{DesiredGraph, ObservedState, Plan, ResourceId, Verb};
use crate::metrics::Metrics;
use crate::spec::{DriftPolicy, Environment, EnvironmentStatus};
use crate::store::{AppliedChanges, DriftWrite, Health, Store, StoreError, RELEASED};
use apply::{Run, Writer};
use status::{Found, Verdict};

pub(crate) use status::{Found as FoundConditions, STALLED};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The lease on the environment expired or was taken over mid-reconcile; what was found
    /// is not written.
    #[error("the lease on environment {0:?} was lost; its status was left to the new holder")]
    LeaseLost(String),
}

impl ReconcileError {
    /// A static label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Store(e) => e.kind(),
            Self::Aws(e) => e.kind(),
            Self::LeaseLost(_) => "lease-lost",
        }
    }

    /// True when retrying soon cannot help (see [`AwsError::is_permanent`]); stored data
    /// that cannot be read is also not fixed by waiting.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Aws(e) => e.is_permanent(),
            Self::Store(StoreError::Corrupt(..)) => true,
            Self::Store(_) | Self::LeaseLost(_) => false,
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
    /// Task definition revisions and tag owners, by ARN, across reconciles.
    cache: ArnCache,
    /// How drift is announced.
    alerts: AlertConfig,
    /// Where drift episodes and detection latency are counted.
    metrics: Option<Metrics>,
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
    /// When to look again: the resync interval when Ready or held on something only a
    /// change can fix, soon while AWS is busy or a write may succeed on retry, long after a
    /// write AWS will refuse again.
    pub requeue_after_seconds: u64,
}

impl Outcome {
    /// What the controller does next.
    pub fn action(&self) -> Action {
        Action::requeue(std::time::Duration::from_secs(self.requeue_after_seconds))
    }
}

impl Reconciler {
    pub fn new(store: Store, aws: AwsConfig, counter: CallCounter) -> Self {
        let clients = ClientPool::new(aws.clone(), counter.clone());
        Self {
            store,
            aws,
            counter,
            clients: Arc::new(clients),
            cache: ArnCache::new(),
            alerts: AlertConfig::default(),
            metrics: None,
        }
    }

    /// Announces drift as `alerts` says (default topic, quiet period, summary threshold).
    pub fn with_alerts(mut self, alerts: AlertConfig) -> Self {
        self.alerts = alerts;
        self
    }

    /// Counts drift episodes and detection latency in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How drift is announced.
    pub fn alerts(&self) -> &crate::alerts::AlertConfig {
        &self.alerts
    }

    /// Who `env`'s alerts go to, and how they are worded.
    fn alert_cx<'a>(&'a self, env: &'a Environment) -> Context<'a> {
        Context {
            environment: &env.metadata.name,
            environment_uid: env.metadata.uid.unwrap_or_default(),
            alerts: env.spec.alerts.as_ref(),
            role_arn: env.spec.role_arn.as_deref(),
            external_id: env.spec.external_id.as_deref(),
            policy: env.spec.policy.drift,
            config: &self.alerts,
            now: Utc::now(),
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
        let cx = self.cx(&clients, env);
        let graph = desired_graph(env);
        let observed = aws::observe(cx, &graph, &status::known(env)).await?;
        let generation = env.metadata.generation.unwrap_or_default();
        let previous = env.status.clone().unwrap_or_default();
        let holds = status::holds(&previous, generation);
        let diffs = diff(&graph, &observed);
        let planned = plan(&graph, &diffs, &env.spec.policy, &holds);
        if env.spec.policy.drift == DriftPolicy::Report {
            let applied = self.store.last_applied(&env.metadata.name).await?;
            let assume = previous.observed_generation == Some(generation);
            let drift = classify(&graph, &diffs, &applied, assume);
            return Ok(leave_alone(planned, &drift));
        }
        Ok(planned)
    }

    fn cx<'a>(&'a self, clients: &'a Clients, env: &'a Environment) -> Cx<'a> {
        Cx {
            clients,
            env: &env.metadata.name,
            cache: &self.cache,
        }
    }

    /// Reconciles the stored environment `name` once, outside the controller (no lease).
    pub async fn reconcile(&self, name: &str) -> Result<Outcome, ReconcileError> {
        self.reconcile_fenced(name, None).await
    }

    /// Reconciles the environment `lease` holds; status is written only while the lease
    /// is still held.
    pub async fn reconcile_leased(&self, lease: &Lease) -> Result<Outcome, ReconcileError> {
        self.reconcile_fenced(&lease.name, Some(lease)).await
    }

    async fn reconcile_fenced(
        &self,
        name: &str,
        fence: Option<&Lease>,
    ) -> Result<Outcome, ReconcileError> {
        let env = self.store.get(name).await?;
        match self.reconcile_env(&env, fence).await {
            Err(ReconcileError::Aws(e)) => {
                self.not_compared(&env, &e, fence).await?;
                Err(ReconcileError::Aws(e))
            }
            other => other,
        }
    }

    async fn reconcile_env(
        &self,
        env: &Environment,
        fence: Option<&Lease>,
    ) -> Result<Outcome, ReconcileError> {
        let clients = self.clients(env).await?;
        let cx = self.cx(&clients, env);
        if env.metadata.deletion_timestamp.is_some() {
            let nothing = DesiredGraph::default();
            let observed = aws::observe(cx, &nothing, &status::known(env)).await?;
            return self.teardown(env, cx, observed, fence).await;
        }
        let graph = desired_graph(env);
        let observed = aws::observe(cx, &graph, &status::known(env)).await?;
        let applied = self.store.last_applied(&env.metadata.name).await?;
        let generation = env.metadata.generation.unwrap_or_default();
        let previous = env.status.clone().unwrap_or_default();
        let holds = status::holds(&previous, generation);
        let diffs = diff(&graph, &observed);
        // Environments applied before Plumb kept what it applied: their current generation
        // was applied, so a difference now is drift.
        let assume_applied = previous.observed_generation == Some(generation);
        let drift = classify(&graph, &diffs, &applied, assume_applied);
        let plan = plan(&graph, &diffs, &env.spec.policy, &holds);
        let plan = converge::guard(plan, &previous, generation);
        // Under `report`, what the spec changed is still applied (it is the user's intent);
        // drift is recorded and left alone.
        let plan = match env.spec.policy.drift {
            DriftPolicy::Correct => plan,
            DriftPolicy::Report => leave_alone(plan, &drift),
        };
        let writer = Writer {
            cx,
            uid: env.metadata.uid.unwrap_or_default(),
            generation,
            apply_immediately: env.spec.policy.apply_immediately,
        };
        let run = apply::run(writer, &graph, &plan, observed).await;
        let looked = Looked {
            graph: &graph,
            holds: &holds,
            drift: &drift,
            applied: &applied,
        };
        self.record(env, looked, plan, run, fence).await
    }

    /// After a reconcile that could not look at AWS: drift is Unknown (never "in sync"), and
    /// when AWS itself failed, the environment is degraded (one alert).
    async fn not_compared(
        &self,
        env: &Environment,
        error: &AwsError,
        fence: Option<&Lease>,
    ) -> Result<(), ReconcileError> {
        let generation = env.metadata.generation.unwrap_or_default();
        let previous = env.status.clone().unwrap_or_default();
        let message = format!("not compared: {error}");
        let unchanged = previous
            .conditions
            .iter()
            .any(|c| c.type_ == "Drifted" && c.status == "Unknown" && c.message == message);
        let outage = error.to_string();
        let health = if error.is_outage() {
            Health::Down(&outage)
        } else {
            Health::Unknown
        };
        if unchanged && health == Health::Unknown {
            return Ok(());
        }
        let at = status::Found {
            previous: &previous,
            generation,
        };
        let mut conditions: Vec<_> = previous
            .conditions
            .iter()
            .filter(|c| c.type_ != "Drifted")
            .cloned()
            .collect();
        conditions.push(at.unknown("Drifted", "NotCompared", &message));
        let status = EnvironmentStatus {
            conditions,
            ..previous.clone()
        };
        let write = DriftWrite {
            cx: self.alert_cx(env),
            sweep: None,
            health,
        };
        let name = env.metadata.name.as_str();
        let uid = env.metadata.uid.unwrap_or_default();
        self.store
            .write_reconcile(name, uid, &status, fence, Some(&write))
            .await?;
        Ok(())
    }

    /// Writes the status with the sweep's drift, fenced by the lease when there is one.
    async fn write_status(
        &self,
        env: &Environment,
        status: &EnvironmentStatus,
        fence: Option<&Lease>,
        drift: Option<&DriftWrite<'_>>,
    ) -> Result<crate::store::SweepCounts, ReconcileError> {
        let name = env.metadata.name.as_str();
        let uid = env.metadata.uid.unwrap_or_default();
        let written = self
            .store
            .write_reconcile(name, uid, status, fence, drift)
            .await?;
        match (written, fence) {
            (Some(counts), _) => Ok(counts),
            (None, Some(_)) => Err(ReconcileError::LeaseLost(name.to_owned())),
            // Not leased: the environment went meanwhile; nothing to write to.
            (None, None) => Ok(crate::store::SweepCounts::default()),
        }
    }

    /// Writes the status, the drift and the events of a run, and says where the environment
    /// stands.
    async fn record(
        &self,
        env: &Environment,
        looked: Looked<'_>,
        plan: Plan,
        run: Run,
        fence: Option<&Lease>,
    ) -> Result<Outcome, ReconcileError> {
        let Looked {
            graph,
            holds,
            drift,
            applied,
        } = looked;
        let generation = env.metadata.generation.unwrap_or_default();
        let previous = env.status.clone().unwrap_or_default();
        let total = graph.resources.len();
        let written = status::updated_fields(&plan, &run.applied);
        let wrote: BTreeSet<ResourceId> = run
            .applied
            .iter()
            .filter(|a| a.ok && a.action.writes())
            .map(|a| a.resource.clone())
            .collect();
        let (found, now_applied) = sweep(graph, drift, &run.after, applied, generation, &wrote);
        let verdict = Verdict::of(&run.applied, run.failure.as_ref(), &found.drifted, total);
        let reapplied = converge::after_run(&plan, &written, &previous, generation);
        let mut resources = status::resources(graph, &run.after, holds, generation, &reapplied);
        for (id, message) in status::scheduled(&plan) {
            if let Some(r) = resources.get_mut(&id) {
                r.message = Some(message);
            }
        }
        let status = EnvironmentStatus {
            observed_generation: if verdict.ready || verdict.reason == status::SCHEDULED {
                Some(generation)
            } else {
                previous.observed_generation
            },
            conditions: verdict.conditions(&previous, generation, &found.drifted),
            resources,
        };
        let health = match &run.failure {
            Some(failure) if failure.outage => Health::Down(&failure.message),
            _ => Health::Up,
        };
        let changes = AppliedChanges::between(applied, &now_applied);
        let write = DriftWrite {
            cx: self.alert_cx(env),
            sweep: Some((&found, &changes)),
            health,
        };
        let counts = self.write_status(env, &status, fence, Some(&write)).await?;
        if let Some(metrics) = &self.metrics {
            metrics.drift_swept(&counts);
        }
        self.record_events(env, &run.applied).await?;
        let action = if verdict.stalled {
            Action::stalled()
        } else if verdict.ready || verdict.waiting.is_empty() && run.failure.is_none() {
            // Ready, or held on something only a change can fix (a refused replacement, a
            // conflict, a failed rollout): a change wakes it at once; until then, resync.
            Action::resync(&env.spec.policy)
        } else {
            Action::soon()
        };
        Ok(Outcome {
            generation,
            plan,
            applied: run.applied,
            ready: verdict.ready,
            reason: verdict.reason.to_owned(),
            message: verdict.message,
            deleted: false,
            requeue_after_seconds: action.requeue_after().as_secs(),
        })
    }

    /// One event per write that went through; a resource left in place gets a
    /// [`RELEASED`] event, which the final event of a teardown lists.
    async fn record_events(
        &self,
        env: &Environment,
        applied: &[Applied],
    ) -> Result<(), ReconcileError> {
        let name = env.metadata.name.as_str();
        let uid = env.metadata.uid.unwrap_or_default();
        let generation = env.metadata.generation;
        for a in applied.iter().filter(|a| a.ok && a.action.writes()) {
            let (action, message) = match (a.action, &a.message) {
                (Verb::Release, _) => (RELEASED, a.resource.to_string()),
                (verb, Some(note)) => (
                    "Reconciled",
                    format!("{} {}: {note}", verb.as_str(), a.resource),
                ),
                (verb, None) => ("Reconciled", format!("{} {}", verb.as_str(), a.resource)),
            };
            self.store
                .record_event(name, uid, "plumb", action, generation, &message)
                .await?;
        }
        Ok(())
    }

    /// Deletes what the environment owns, dependents first, then the row. Waits while AWS is
    /// still removing something (a draining service holds its cluster).
    async fn teardown(
        &self,
        env: &Environment,
        cx: Cx<'_>,
        observed: ObservedState,
        fence: Option<&Lease>,
    ) -> Result<Outcome, ReconcileError> {
        let name = env.metadata.name.as_str();
        let nothing = DesiredGraph::default();
        let plan = plan(
            &nothing,
            &diff(&nothing, &observed),
            &env.spec.policy,
            &Holds::new(),
        );
        let generation = env.metadata.generation.unwrap_or_default();
        let uid = env.metadata.uid.unwrap_or_default();
        let writer = Writer {
            cx,
            uid,
            generation,
            apply_immediately: env.spec.policy.apply_immediately,
        };
        let run = apply::run(writer, &nothing, &plan, observed).await;
        self.record_events(env, &run.applied).await?;
        let waiting = run.applied.iter().any(|a| a.action == Verb::Wait);
        if run.failure.is_some() || waiting {
            let (reason, message) = match &run.failure {
                Some(failure) => ("TeardownFailed", format!("teardown: {failure}")),
                None => (
                    "TeardownWaiting",
                    "teardown: waiting for AWS to finish deleting".to_owned(),
                ),
            };
            let stalled = run.failure.as_ref().is_some_and(|f| f.permanent);
            let previous = env.status.clone().unwrap_or_default();
            let at = Found {
                previous: &previous,
                generation,
            };
            let status = EnvironmentStatus {
                conditions: vec![
                    at.condition("Ready", false, reason, &message),
                    at.stalled(stalled.then_some(message.as_str())),
                ],
                ..previous.clone()
            };
            self.write_status(env, &status, fence, None).await?;
            let action = if stalled {
                Action::stalled()
            } else {
                Action::soon()
            };
            return Ok(Outcome {
                generation,
                plan,
                applied: run.applied,
                ready: false,
                reason: reason.to_owned(),
                message,
                deleted: false,
                requeue_after_seconds: action.requeue_after().as_secs(),
            });
        }
        // What was drifted is gone with the environment.
        let empty = (crate::drift::Sweep::default(), AppliedChanges::default());
        let write = DriftWrite {
            cx: self.alert_cx(env),
            sweep: Some((&empty.0, &empty.1)),
            health: Health::Up,
        };
        let previous = env.status.clone().unwrap_or_default();
        self.write_status(env, &previous, fence, Some(&write))
            .await?;
        self.store.finalize_deletion(name, uid, "plumb").await?;
        Ok(Outcome {
            generation,
            message: format!("{} resources deleted", run.applied.len()),
            plan,
            applied: run.applied,
            ready: false,
            reason: "Deleted".to_owned(),
            deleted: true,
            requeue_after_seconds: 0,
        })
    }
}

/// What a reconcile looked at before it wrote: the desired graph, the resources held back,
/// the drift among the differences, and what was applied before.
#[derive(Debug, Clone, Copy)]
struct Looked<'a> {
    graph: &'a DesiredGraph,
    holds: &'a Holds,
    drift: &'a Classified,
    applied: &'a LastApplied,
}
