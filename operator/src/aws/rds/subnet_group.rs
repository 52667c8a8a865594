//! The DB subnet group `{env}-postgres`: the subnets the database may live in.

use aws_sdk_rds::types::DbSubnetGroup;

use super::{list_tags, rds_tags, tag, untag, SERVICE};
use crate::aws::adapter::{impl_adapter, Cx, Result, Write};
use crate::aws::error::{absent_on, OpResult};
use crate::aws::fields::{Out, View};
use crate::aws::tags;
use crate::engine::values::string_set;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

const NOT_FOUND: &[&str] = &["DBSubnetGroupNotFoundFault"];

impl_adapter!(
    SubnetGroup,
    after: [],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// `{env}-postgres` (and any other name the graph gives): one DescribeDBSubnetGroups each.
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let mut names = graph.names(ResourceKind::DbSubnetGroup);
    names.insert(names::postgres(cx.env));
    let mut found = Vec::new();
    for name in &names {
        let result = cx
            .clients
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await
            .op(SERVICE, "DescribeDBSubnetGroups");
        if let Some(out) = absent_on(result, NOT_FOUND)? {
            found.extend(out.db_subnet_groups().iter().map(observed));
        }
    }
    tags::owned(cx, found, &names, |arn| list_tags(cx, arn)).await
}

fn observed(g: &DbSubnetGroup) -> Observed {
    let mut f = Out::default();
    let subnets = g.subnets().iter().filter_map(|s| s.subnet_identifier());
    f.set("subnetIds", string_set(subnets));
    f.opt("description", g.db_subnet_group_description());
    let name = g.db_subnet_group_name().unwrap_or_default();
    let id = ResourceId::new(ResourceKind::DbSubnetGroup, name);
    let mut o = Observed::new(id, g.db_subnet_group_arn().map(str::to_owned), f.0);
    o.status = g.subnet_group_status().map(str::to_owned);
    o
}

async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let out = cx
        .clients
        .rds
        .create_db_subnet_group()
        .db_subnet_group_name(&w.desired.id.name)
        .db_subnet_group_description(view.str("description")?.unwrap_or("Plumb"))
        .set_subnet_ids(view.strings("subnetIds")?)
        .set_tags(Some(rds_tags(&w.desired.tags)))
        .send()
        .await
        .op(SERVICE, "CreateDBSubnetGroup")?;
    Ok(out
        .db_subnet_group()
        .map_or_else(|| view.observed(None), observed))
}

async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let out = cx
        .clients
        .rds
        .modify_db_subnet_group()
        .db_subnet_group_name(&w.desired.id.name)
        .set_subnet_ids(view.strings("subnetIds")?)
        .send()
        .await
        .op(SERVICE, "ModifyDBSubnetGroup")?;
    Ok(out.db_subnet_group().map_or_else(
        || view.observed(w.current.and_then(|c| c.arn.clone())),
        observed,
    ))
}

async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .rds
        .delete_db_subnet_group()
        .db_subnet_group_name(&current.id.name)
        .send()
        .await
        .op(SERVICE, "DeleteDBSubnetGroup");
    absent_on(result, NOT_FOUND).map(|_| None)
}
