//! The parameter group `{env}-postgres`: a DB parameter group for an RDS instance, a DB
//! cluster parameter group for Aurora. Only the parameters the spec names are read back
//! (`Source=user`) and written; a dynamic one applies at once, a static one at the next
//! restart (RDS refuses `immediate` for it), which the plan says.

use aws_sdk_rds::types::{ApplyMethod, Parameter};
use serde_json::{Map, Value};

use super::{list_tags, rds_tags, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::aws::tags;
use crate::engine::kinds::PARAMETERS;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

/// ModifyDB(Cluster)ParameterGroup takes at most 20 parameters a call.
const PER_CALL: usize = 20;

impl_adapter!(
    InstanceParameters,
    after: [],
    observe: observe_instance,
    create: create_instance,
    update: update_instance,
    delete: delete_instance,
    tag: tag,
    untag: untag,
);

impl_adapter!(
    ClusterParameters,
    after: [],
    observe: observe_cluster,
    create: create_cluster,
    update: update_cluster,
    delete: delete_cluster,
    tag: tag,
    untag: untag,
);

/// Which of the two kinds of parameter group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Instance,
    Cluster,
}

impl Flavor {
    fn kind(self) -> ResourceKind {
        match self {
            Self::Instance => ResourceKind::DbParameterGroup,
            Self::Cluster => ResourceKind::DbClusterParameterGroup,
        }
    }

    fn not_found(self) -> &'static [&'static str] {
        match self {
            Self::Instance => &["DBParameterGroupNotFound", "DBParameterGroupNotFoundFault"],
            Self::Cluster => &[
                "DBParameterGroupNotFound",
                "DBParameterGroupNotFoundFault",
                "DBClusterParameterGroupNotFound",
                "DBClusterParameterGroupNotFoundFault",
            ],
        }
    }
}

/// A group as found: name, ARN, family, description.
struct Group {
    name: String,
    arn: Option<String>,
    family: Option<String>,
    description: Option<String>,
}

async fn observe_instance(
    cx: Cx<'_>,
    graph: &DesiredGraph,
    _: &ObservedState,
) -> Result<Vec<Observed>> {
    observe(cx, graph, Flavor::Instance).await
}

async fn observe_cluster(
    cx: Cx<'_>,
    graph: &DesiredGraph,
    _: &ObservedState,
) -> Result<Vec<Observed>> {
    observe(cx, graph, Flavor::Cluster).await
}

/// `{env}-postgres` (and any other name the graph gives): the group, then its user-set
/// parameters.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, flavor: Flavor) -> Result<Vec<Observed>> {
    let mut names = graph.names(flavor.kind());
    names.insert(names::postgres(cx.env));
    let mut found = Vec::new();
    for name in &names {
        let Some(group) = describe_group(cx, flavor, name).await? else {
            continue;
        };
        let parameters = parameters(cx, flavor, name, true).await?;
        let mut f = Out::default();
        let values: Map<String, Value> = parameters
            .iter()
            .filter_map(|p| Some((p.parameter_name()?.to_owned(), p.parameter_value()?.into())))
            .collect();
        f.set(PARAMETERS, values);
        f.opt("family", group.family);
        f.opt("description", group.description);
        let id = ResourceId::new(flavor.kind(), group.name);
        found.push(Observed::new(id, group.arn, f.0));
    }
    tags::owned(cx, found, &names, |arn| list_tags(cx, arn)).await
}

async fn describe_group(cx: Cx<'_>, flavor: Flavor, name: &str) -> Result<Option<Group>> {
    let rds = &cx.clients.rds;
    let group = match flavor {
        Flavor::Instance => {
            let result = rds
                .describe_db_parameter_groups()
                .db_parameter_group_name(name)
                .send()
                .await
                .op(SERVICE, "DescribeDBParameterGroups");
            absent_on(result, flavor.not_found())?.and_then(|out| {
                out.db_parameter_groups().first().map(|g| Group {
                    name: g.db_parameter_group_name().unwrap_or(name).to_owned(),
                    arn: g.db_parameter_group_arn().map(str::to_owned),
                    family: g.db_parameter_group_family().map(str::to_owned),
                    description: g.description().map(str::to_owned),
                })
            })
        }
        Flavor::Cluster => {
            let result = rds
                .describe_db_cluster_parameter_groups()
                .db_cluster_parameter_group_name(name)
                .send()
                .await
                .op(SERVICE, "DescribeDBClusterParameterGroups");
            absent_on(result, flavor.not_found())?.and_then(|out| {
                out.db_cluster_parameter_groups().first().map(|g| Group {
                    name: g
                        .db_cluster_parameter_group_name()
                        .unwrap_or(name)
                        .to_owned(),
                    arn: g.db_cluster_parameter_group_arn().map(str::to_owned),
                    family: g.db_parameter_group_family().map(str::to_owned),
                    description: g.description().map(str::to_owned),
                })
            })
        }
    };
    Ok(group)
}

/// The group's parameters: only those set by a user, or all of them (to learn which are
/// static), every page.
async fn parameters(
    cx: Cx<'_>,
    flavor: Flavor,
    name: &str,
    user_only: bool,
) -> Result<Vec<Parameter>> {
    let rds = &cx.clients.rds;
    let source = user_only.then(|| "user".to_owned());
    match flavor {
        Flavor::Instance => rds
            .describe_db_parameters()
            .db_parameter_group_name(name)
            .set_source(source)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op(SERVICE, "DescribeDBParameters"),
        Flavor::Cluster => {
            let pages: Vec<_> = rds
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(name)
                .set_source(source)
                .into_paginator()
                .send()
                .try_collect()
                .await
                .op(SERVICE, "DescribeDBClusterParameters")?;
            Ok(pages
                .iter()
                .flat_map(|p| p.parameters().iter().cloned())
                .collect())
        }
    }
}

async fn create_instance(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    create(cx, w, Flavor::Instance).await
}

async fn create_cluster(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    create(cx, w, Flavor::Cluster).await
}

/// Creates the group, then sets its parameters (to apply at the next restart: nothing uses
/// a new group yet).
async fn create(cx: Cx<'_>, w: Write<'_>, flavor: Flavor) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let name = &w.desired.id.name;
    let family = view.req_str("family")?;
    let description = view.str("description")?.unwrap_or("Plumb");
    let tags = Some(rds_tags(&w.desired.tags));
    let rds = &cx.clients.rds;
    let arn = match flavor {
        Flavor::Instance => rds
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description(description)
            .set_tags(tags)
            .send()
            .await
            .op(SERVICE, "CreateDBParameterGroup")?
            .db_parameter_group()
            .and_then(|g| g.db_parameter_group_arn().map(str::to_owned)),
        Flavor::Cluster => rds
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description(description)
            .set_tags(tags)
            .send()
            .await
            .op(SERVICE, "CreateDBClusterParameterGroup")?
            .db_cluster_parameter_group()
            .and_then(|g| g.db_cluster_parameter_group_arn().map(str::to_owned)),
    };
    let wanted = wanted(&view)?;
    let set: Vec<Parameter> = wanted
        .iter()
        .map(|(name, value)| parameter(name, value, ApplyMethod::PendingReboot))
        .collect();
    modify(cx, flavor, name, set).await?;
    Ok(view.observed(arn))
}

async fn update_instance(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    update(cx, w, Flavor::Instance).await
}

async fn update_cluster(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    update(cx, w, Flavor::Cluster).await
}

/// Sets the parameters whose value differs: a dynamic one at once, a static one at the next
/// restart (as RDS describes them).
async fn update(cx: Cx<'_>, w: Write<'_>, flavor: Flavor) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let name = &w.desired.id.name;
    let current = w
        .current
        .and_then(|c| c.fields.get(PARAMETERS))
        .and_then(Value::as_object);
    let differing: Vec<(String, String)> = wanted(&view)?
        .into_iter()
        .filter(|(k, v)| current.and_then(|c| c.get(k)).and_then(Value::as_str) != Some(v))
        .collect();
    let all = parameters(cx, flavor, name, false).await?;
    let set: Vec<Parameter> = differing
        .iter()
        .map(|(k, v)| {
            let dynamic = all
                .iter()
                .any(|p| p.parameter_name() == Some(k) && p.apply_type() == Some("dynamic"));
            let method = if dynamic {
                ApplyMethod::Immediate
            } else {
                ApplyMethod::PendingReboot
            };
            parameter(k, v, method)
        })
        .collect();
    modify(cx, flavor, name, set).await?;
    Ok(view.observed(w.current.and_then(|c| c.arn.clone())))
}

/// The parameters the spec names, as (name, value).
fn wanted(view: &View<'_>) -> Result<Vec<(String, String)>> {
    Ok(view
        .string_map(PARAMETERS)?
        .unwrap_or_default()
        .into_iter()
        .collect())
}

fn parameter(name: &str, value: &str, method: ApplyMethod) -> Parameter {
    Parameter::builder()
        .parameter_name(name)
        .parameter_value(value)
        .apply_method(method)
        .build()
}

async fn modify(cx: Cx<'_>, flavor: Flavor, name: &str, set: Vec<Parameter>) -> Result<()> {
    let rds = &cx.clients.rds;
    for chunk in set.chunks(PER_CALL) {
        match flavor {
            Flavor::Instance => {
                rds.modify_db_parameter_group()
                    .db_parameter_group_name(name)
                    .set_parameters(Some(chunk.to_vec()))
                    .send()
                    .await
                    .op(SERVICE, "ModifyDBParameterGroup")?;
            }
            Flavor::Cluster => {
                rds.modify_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(name)
                    .set_parameters(Some(chunk.to_vec()))
                    .send()
                    .await
                    .op(SERVICE, "ModifyDBClusterParameterGroup")?;
            }
        }
    }
    Ok(())
}

async fn delete_instance(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .rds
        .delete_db_parameter_group()
        .db_parameter_group_name(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeleteDBParameterGroup");
    absent_on(result, Flavor::Instance.not_found()).map(|_| None)
}

async fn delete_cluster(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .rds
        .delete_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeleteDBClusterParameterGroup");
    absent_on(result, Flavor::Cluster.not_found()).map(|_| None)
}
