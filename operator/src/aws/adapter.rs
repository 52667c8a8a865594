//! One adapter per resource kind, dispatched from one registry: the I/O half of a kind (its
//! pure half is its [`Rules`](crate::engine::kinds::Rules) entry).
//!
//! [`adapter`] matches every kind, and [`Adapter`] has no provided methods, so a new kind
//! compiles only once its adapter observes, creates, updates, deletes, tags and untags.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;

use super::cache::ArnCache;
use super::clients::Clients;
use super::error::AwsError;
use super::{autoscaling, cloudwatch, ecs, elasticache, logs, mq, rds};
use crate::engine::{Desired, DesiredGraph, Observed, ObservedState, ResourceKind};

/// What every adapter call needs: the clients, the environment's name, what may be
/// remembered between sweeps.
#[derive(Debug, Clone, Copy)]
pub struct Cx<'a> {
    pub clients: &'a Clients,
    pub env: &'a str,
    pub cache: &'a ArnCache,
}

/// One write's subject.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// What the spec wants, with every reference resolved to ARNs.
    pub desired: &'a Desired,
    /// What AWS has (None for a create).
    pub current: Option<&'a Observed>,
    /// For an update, the fields that differ.
    pub changed: &'a BTreeSet<String>,
    /// Idempotency token for APIs that take one: the same for every retry of this write, so
    /// a create whose answer was lost is not made twice.
    pub token: &'a str,
    /// Make changes the kind defers to the maintenance window now
    /// (`policy.applyImmediately`).
    pub apply_immediately: bool,
}

impl Write<'_> {
    pub fn changed(&self, field: &str) -> bool {
        self.changed.contains(field)
    }

    pub fn any_changed(&self, fields: &[&str]) -> bool {
        fields.iter().any(|f| self.changed(f))
    }
}

pub type Result<T> = std::result::Result<T, AwsError>;

/// The I/O of one kind. Observation is batched (Describe*/List* over every resource of the
/// kind at once) and sees what kinds observed before it ([`Adapter::after`]) found.
pub trait Adapter: Sync {
    /// Kinds whose observations this one reads; they are observed first.
    fn after(&self) -> &'static [ResourceKind];

    /// The graph's resources of this kind that exist (whoever owns them), and those tagged as
    /// the environment's that the graph does not name.
    fn observe<'a>(
        &'a self,
        cx: Cx<'a>,
        graph: &'a DesiredGraph,
        seen: &'a ObservedState,
    ) -> BoxFuture<'a, Result<Vec<Observed>>>;

    fn create<'a>(&'a self, cx: Cx<'a>, write: Write<'a>) -> BoxFuture<'a, Result<Observed>>;

    fn update<'a>(&'a self, cx: Cx<'a>, write: Write<'a>) -> BoxFuture<'a, Result<Observed>>;

    /// Deletes it; gone already is success. A kind that holds data takes a final snapshot
    /// first and answers with its name.
    fn delete<'a>(
        &'a self,
        cx: Cx<'a>,
        current: &'a Observed,
    ) -> BoxFuture<'a, Result<Option<String>>>;

    /// Tags it as the environment's (adoption).
    fn tag<'a>(
        &'a self,
        cx: Cx<'a>,
        current: &'a Observed,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes these tag keys (releasing it: no longer Plumb's).
    fn untag<'a>(
        &'a self,
        cx: Cx<'a>,
        current: &'a Observed,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, Result<()>>;
}

/// The adapter of `kind`.
pub fn adapter(kind: ResourceKind) -> &'static dyn Adapter {
    match kind {
        ResourceKind::EcsCluster => &ecs::cluster::Cluster,
        ResourceKind::LogGroup => &logs::LogGroup,
        ResourceKind::TaskDefinition => &ecs::task_definition::TaskDefinition,
        ResourceKind::EcsService => &ecs::service::Service,
        ResourceKind::ScalableTarget => &autoscaling::target::Target,
        ResourceKind::ScalingPolicy => &autoscaling::policy::Policy,
        ResourceKind::MetricAlarm => &cloudwatch::Alarm,
        ResourceKind::DbSubnetGroup => &rds::subnet_group::SubnetGroup,
        ResourceKind::DbParameterGroup => &rds::parameter_group::InstanceParameters,
        ResourceKind::DbClusterParameterGroup => &rds::parameter_group::ClusterParameters,
        ResourceKind::DbCluster => &rds::cluster::Cluster,
        ResourceKind::DbInstance => &rds::instance::Instance,
        ResourceKind::CacheSubnetGroup => &elasticache::subnet_group::SubnetGroup,
        ResourceKind::CacheParameterGroup => &elasticache::parameter_group::ParameterGroup,
        ResourceKind::ReplicationGroup => &elasticache::replication_group::ReplicationGroup,
        ResourceKind::MqBroker => &mq::Broker,
    }
}

/// Implements [`Adapter`] for a unit struct from a module's async functions, each with the
/// trait method's arguments.
macro_rules! impl_adapter {
    ($ty:ident, after: [$($after:expr),*], observe: $observe:path, create: $create:path,
     update: $update:path, delete: $delete:path, tag: $tag:path, untag: $untag:path $(,)?) => {
        pub(crate) struct $ty;

        impl $crate::aws::adapter::Adapter for $ty {
            fn after(&self) -> &'static [$crate::engine::ResourceKind] {
                &[$($after),*]
            }

            fn observe<'a>(
                &'a self,
                cx: $crate::aws::adapter::Cx<'a>,
                graph: &'a $crate::engine::DesiredGraph,
                seen: &'a $crate::engine::ObservedState,
            ) -> futures::future::BoxFuture<
                'a,
                $crate::aws::adapter::Result<Vec<$crate::engine::Observed>>,
            > {
                Box::pin($observe(cx, graph, seen))
            }

            fn create<'a>(
                &'a self,
                cx: $crate::aws::adapter::Cx<'a>,
                write: $crate::aws::adapter::Write<'a>,
            ) -> futures::future::BoxFuture<'a, $crate::aws::adapter::Result<$crate::engine::Observed>>
            {
                Box::pin($create(cx, write))
            }

            fn update<'a>(
                &'a self,
                cx: $crate::aws::adapter::Cx<'a>,
                write: $crate::aws::adapter::Write<'a>,
            ) -> futures::future::BoxFuture<'a, $crate::aws::adapter::Result<$crate::engine::Observed>>
            {
                Box::pin($update(cx, write))
            }

            fn delete<'a>(
                &'a self,
                cx: $crate::aws::adapter::Cx<'a>,
                current: &'a $crate::engine::Observed,
            ) -> futures::future::BoxFuture<'a, $crate::aws::adapter::Result<Option<String>>> {
                Box::pin($delete(cx, current))
            }

            fn tag<'a>(
                &'a self,
                cx: $crate::aws::adapter::Cx<'a>,
                current: &'a $crate::engine::Observed,
                tags: &'a std::collections::BTreeMap<String, String>,
            ) -> futures::future::BoxFuture<'a, $crate::aws::adapter::Result<()>> {
                Box::pin($tag(cx, current, tags))
            }

            fn untag<'a>(
                &'a self,
                cx: $crate::aws::adapter::Cx<'a>,
                current: &'a $crate::engine::Observed,
                keys: &'a [&'a str],
            ) -> futures::future::BoxFuture<'a, $crate::aws::adapter::Result<()>> {
                Box::pin($untag(cx, current, keys))
            }
        }
    };
}
pub(crate) use impl_adapter;
