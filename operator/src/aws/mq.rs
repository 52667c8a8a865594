//! Amazon MQ: the RabbitMQ broker `{env}-rabbitmq`. Brokers are addressed by id; Plumb finds
//! its own by name (ListBrokers) and reads each with DescribeBroker, whose answer carries its
//! tags.
//!
//! UpdateBroker never restarts the broker: the instance type and engine version it accepts
//! are pending (PendingHostInstanceType, PendingEngineVersion) until the maintenance window,
//! whatever `policy.applyImmediately` says. Plumb does not reboot brokers.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_mq::operation::describe_broker::DescribeBrokerOutput;
use aws_sdk_mq::types::{
    BrokerSummary, DayOfWeek, DeploymentMode, EngineType, Logs, User, WeeklyStartTime,
};
use serde_json::json;

use super::adapter::{impl_adapter, Cx, Result, Write};
use super::error::{absent_on, OpResult};
use super::fields::{Out, View};
use super::{secrets, tags};
use crate::engine::kinds::MQ_MAINTENANCE_WINDOW;
use crate::engine::values::string_set;
use crate::engine::{DesiredGraph, Observed, ObservedState, ResourceId, ResourceKind};
use crate::names;

const SERVICE: &str = "Amazon MQ";
const NOT_FOUND: &[&str] = &["NotFoundException"];
/// The member of the secret holding the broker user's password (else the whole string).
const PASSWORD_KEY: &str = "password";

impl_adapter!(
    Broker,
    after: [],
    observe: observe,
    create: create,
    update: update,
    delete: delete,
    tag: tag,
    untag: untag,
);

/// ListBrokers, then DescribeBroker for each named `{env}-rabbitmq` (or as the graph names).
async fn observe(cx: Cx<'_>, graph: &DesiredGraph, _: &ObservedState) -> Result<Vec<Observed>> {
    let mut names = graph.names(ResourceKind::MqBroker);
    names.insert(names::rabbitmq(cx.env));
    let brokers: Vec<BrokerSummary> = cx
        .clients
        .mq
        .list_brokers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .op(SERVICE, "ListBrokers")?;
    let mut found = Vec::new();
    for broker in brokers
        .iter()
        .filter(|b| b.broker_name().is_some_and(|n| names.contains(n)))
    {
        let Some(id) = broker.broker_id() else {
            continue;
        };
        let result = cx
            .clients
            .mq
            .describe_broker()
            .broker_id(id)
            .send()
            .await
            .op(SERVICE, "DescribeBroker");
        if let Some(out) = absent_on(result, NOT_FOUND)? {
            found.push(observed(cx.env, &out));
        }
    }
    Ok(found)
}

fn observed(env: &str, b: &DescribeBrokerOutput) -> Observed {
    let mut f = Out::default();
    f.opt("engineType", b.engine_type().map(|t| t.as_str()));
    f.opt("engineVersion", b.engine_version());
    f.opt("hostInstanceType", b.host_instance_type());
    f.opt("deploymentMode", b.deployment_mode().map(|m| m.as_str()));
    f.opt("publiclyAccessible", b.publicly_accessible());
    f.opt("autoMinorVersionUpgrade", b.auto_minor_version_upgrade());
    if let Some(w) = b.maintenance_window_start_time() {
        let start = json!({
            "dayOfWeek": w.day_of_week().map(|d| d.as_str()),
            "timeOfDay": w.time_of_day(),
            "timeZone": w.time_zone(),
        });
        f.set(MQ_MAINTENANCE_WINDOW, start);
    }
    if let Some(logs) = b.logs() {
        f.set("logs", json!({"general": logs.general().unwrap_or(false)}));
    }
    f.set(
        "securityGroups",
        string_set(b.security_groups().iter().map(String::as_str)),
    );
    f.set(
        "subnetIds",
        string_set(b.subnet_ids().iter().map(String::as_str)),
    );
    f.opt("username", b.users().first().and_then(|u| u.username()));
    f.opt("brokerId", b.broker_id());
    let name = b.broker_name().unwrap_or_default();
    let id = ResourceId::new(ResourceKind::MqBroker, name);
    let mut o = Observed::new(id, b.broker_arn().map(str::to_owned), f.0);
    o.status = b.broker_state().map(|s| s.as_str().to_owned());
    o.owner = tags::owner(
        env,
        b.tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let mut pending = Out::default();
    pending.opt("engineVersion", b.pending_engine_version());
    pending.opt("hostInstanceType", b.pending_host_instance_type());
    if !b.pending_security_groups().is_empty() {
        let groups = b.pending_security_groups().iter().map(String::as_str);
        pending.set("securityGroups", string_set(groups));
    }
    o.pending = pending.0;
    o
}

fn window(view: &View<'_>) -> Option<WeeklyStartTime> {
    let member = |m: &str| view.member(MQ_MAINTENANCE_WINDOW, m)?.as_str();
    Some(
        WeeklyStartTime::builder()
            .day_of_week(DayOfWeek::from(member("dayOfWeek")?))
            .time_of_day(member("timeOfDay")?)
            .set_time_zone(member("timeZone").map(str::to_owned))
            .build(),
    )
}

fn logs(view: &View<'_>) -> Option<Logs> {
    let general = view.member("logs", "general")?.as_bool()?;
    Some(Logs::builder().general(general).build())
}

/// CreateBroker with every field and the user, its password read from Secrets Manager now;
/// `CreatorRequestId` is the write's token, so a retried create makes one broker.
async fn create(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_create(w.desired);
    let password = secrets::read(cx, view.req_str("passwordSecretArn")?, PASSWORD_KEY).await?;
    let user = User::builder()
        .username(view.req_str("username")?)
        .password(password)
        .build();
    let tags: HashMap<String, String> = w.desired.tags.clone().into_iter().collect();
    let out = cx
        .clients
        .mq
        .create_broker()
        .broker_name(&w.desired.id.name)
        .creator_request_id(w.token)
        .engine_type(EngineType::from(view.req_str("engineType")?))
        .engine_version(view.req_str("engineVersion")?)
        .host_instance_type(view.req_str("hostInstanceType")?)
        .deployment_mode(DeploymentMode::from(view.req_str("deploymentMode")?))
        .set_publicly_accessible(view.bool("publiclyAccessible")?)
        .set_auto_minor_version_upgrade(view.bool("autoMinorVersionUpgrade")?)
        .set_maintenance_window_start_time(window(&view))
        .set_logs(logs(&view))
        .set_security_groups(view.strings("securityGroups")?)
        .set_subnet_ids(view.strings("subnetIds")?)
        .users(user)
        .set_tags(Some(tags))
        .send()
        .await
        .op(SERVICE, "CreateBroker")?;
    let mut o = view.observed(out.broker_arn().map(str::to_owned));
    if let Some(id) = out.broker_id() {
        o.fields.insert("brokerId".to_owned(), json!(id));
    }
    Ok(o)
}

/// The broker's id, as observed.
fn broker_id(current: &Observed) -> Result<&str> {
    current
        .fields
        .get("brokerId")
        .and_then(|v| v.as_str())
        .ok_or_else(|| super::AwsError::Field {
            resource: current.id.clone(),
            field: "brokerId",
        })
}

/// UpdateBroker with the fields that differ.
async fn update(cx: Cx<'_>, w: Write<'_>) -> Result<Observed> {
    let view = View::for_update(w.desired, w.current);
    let current = w.current.ok_or_else(|| view.error("brokerId"))?;
    let mut request = cx.clients.mq.update_broker().broker_id(broker_id(current)?);
    if w.changed("engineVersion") {
        request = request.set_engine_version(view.str("engineVersion")?.map(str::to_owned));
    }
    if w.changed("hostInstanceType") {
        let instance = view.str("hostInstanceType")?.map(str::to_owned);
        request = request.set_host_instance_type(instance);
    }
    if w.changed("autoMinorVersionUpgrade") {
        request = request.set_auto_minor_version_upgrade(view.bool("autoMinorVersionUpgrade")?);
    }
    if w.changed(MQ_MAINTENANCE_WINDOW) {
        request = request.set_maintenance_window_start_time(window(&view));
    }
    if w.changed("logs") {
        request = request.set_logs(logs(&view));
    }
    if w.changed("securityGroups") {
        request = request.set_security_groups(view.strings("securityGroups")?);
    }
    request.send().await.op(SERVICE, "UpdateBroker")?;
    Ok(view.observed(current.arn.clone()))
}

/// DeleteBroker. Amazon MQ keeps no snapshots: the queues go with it.
async fn delete(cx: Cx<'_>, current: &Observed) -> Result<Option<String>> {
    let result = cx
        .clients
        .mq
        .delete_broker()
        .broker_id(broker_id(current)?)
        .send()
        .await
        .op(SERVICE, "DeleteBroker");
    absent_on(result, NOT_FOUND).map(|_| None)
}

async fn tag(cx: Cx<'_>, current: &Observed, tags: &BTreeMap<String, String>) -> Result<()> {
    let arn = tags::arn_of(current)?;
    cx.clients
        .mq
        .create_tags()
        .resource_arn(arn)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .op(SERVICE, "CreateTags")
        .map(drop)
}

async fn untag(cx: Cx<'_>, current: &Observed, keys: &[&str]) -> Result<()> {
    let arn = tags::arn_of(current)?;
    cx.clients
        .mq
        .delete_tags()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .op(SERVICE, "DeleteTags")
        .map(drop)
}
