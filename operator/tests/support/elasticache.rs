//! A stand-in, inside the fault proxy, for what moto 5.2.5 lacks or gets wrong in
//! ElastiCache, answering as AWS documents it:
//! - cache parameter groups: moto implements none of Create/Describe/Modify/Delete
//!   CacheParameterGroup or DescribeCacheParameters (nor their tags); the stand-in keeps them.
//! - a replication group's nodes: AWS reports the engine version, maintenance window,
//!   security groups, subnet and parameter group per cache cluster; moto creates no cache
//!   clusters for a replication group, so DescribeCacheClusters of its members is answered
//!   here from what Plumb asked for.
//! - moto ignores NumCacheClusters (one node whatever is asked), ModifyReplicationGroup's
//!   SnapshotWindow, and lacks Increase/DecreaseReplicaCount: the members and the snapshot
//!   window of DescribeReplicationGroups are the stand-in's.
//! - moto lacks DeleteCacheSubnetGroup: the stand-in deletes (hides) the subnet group.
//! - moto keeps a deleted group `deleting` for ever and takes no final snapshot: once
//!   deleted, the stand-in answers ReplicationGroupNotFoundFault, and keeps the snapshot's
//!   name.
//!
//! Like moto, it applies at once what AWS would hold for the maintenance window; tests check
//! the `ApplyImmediately` Plumb sent, and show pending values with [`ElastiCache::pending`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::proxy::Proxy;

const XMLNS: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// What the stand-in holds; tests read and change it.
#[derive(Clone, Default)]
pub struct ElastiCache {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    parameter_groups: BTreeMap<String, ParameterGroup>,
    groups: BTreeMap<String, Nodes>,
    snapshots: Vec<String>,
    deleted_subnet_groups: Vec<String>,
}

#[derive(Clone, Default)]
struct ParameterGroup {
    family: String,
    description: String,
    parameters: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

/// What AWS reports of a replication group's nodes.
#[derive(Clone, Default)]
pub struct Nodes {
    pub engine_version: String,
    pub maintenance_window: Option<String>,
    pub security_groups: Vec<String>,
    pub subnet_group: Option<String>,
    pub parameter_group: Option<String>,
    pub snapshot_window: Option<String>,
    pub clusters: usize,
    pub deleted: bool,
    /// The group's status word, when the test says AWS is busy with it.
    pub status: Option<String>,
    /// PendingModifiedValues of the primary: (CacheNodeType, EngineVersion).
    pub pending: (Option<String>, Option<String>),
}

impl ElastiCache {
    /// Puts the stand-in in front of moto for the operations it answers.
    pub fn install(proxy: &Proxy) -> ElastiCache {
        let me = ElastiCache::default();
        let on = |op: &str, f: fn(&mut State, &Value) -> Option<(u16, String)>| {
            let state = me.state.clone();
            proxy.answer(op, move |request| f(&mut lock(&state), request));
        };
        on("CreateCacheParameterGroup", create_parameter_group);
        on("DescribeCacheParameterGroups", describe_parameter_groups);
        on("DescribeCacheParameters", describe_parameters);
        on("ModifyCacheParameterGroup", modify_parameter_group);
        on("DeleteCacheParameterGroup", delete_parameter_group);
        on("ListTagsForResource", list_tags);
        on("AddTagsToResource", add_tags);
        on("RemoveTagsFromResource", remove_tags);
        on("CreateReplicationGroup", create_group);
        on("ModifyReplicationGroup", modify_group);
        on("IncreaseReplicaCount", replica_count);
        on("DecreaseReplicaCount", replica_count);
        on("DeleteReplicationGroup", delete_group);
        on("DescribeReplicationGroups", describe_group);
        on("DescribeCacheClusters", describe_cache_clusters);
        on("DeleteCacheSubnetGroup", delete_subnet_group);
        on("DescribeCacheSubnetGroups", describe_subnet_group);
        let state = me.state.clone();
        proxy.rewrite_text("DescribeReplicationGroups", move |xml| {
            patch_group(&lock(&state), xml)
        });
        me
    }

    /// The nodes of a replication group as the stand-in reports them.
    #[allow(dead_code)]
    pub fn nodes(&self, group: &str) -> Nodes {
        lock(&self.state)
            .groups
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes what AWS reports of a group's nodes (a console change, a busy state).
    #[allow(dead_code)]
    pub fn change(&self, group: &str, f: impl FnOnce(&mut Nodes)) {
        f(lock(&self.state)
            .groups
            .entry(group.to_owned())
            .or_default());
    }

    /// The parameters set in a parameter group.
    #[allow(dead_code)]
    pub fn parameters(&self, group: &str) -> Option<BTreeMap<String, String>> {
        let state = lock(&self.state);
        state
            .parameter_groups
            .get(group)
            .map(|g| g.parameters.clone())
    }

    /// The family and tags of a parameter group.
    #[allow(dead_code)]
    pub fn parameter_group(&self, group: &str) -> Option<(String, BTreeMap<String, String>)> {
        let state = lock(&self.state);
        state
            .parameter_groups
            .get(group)
            .map(|g| (g.family.clone(), g.tags.clone()))
    }

    /// Final snapshots taken by DeleteReplicationGroup.
    #[allow(dead_code)]
    pub fn snapshots(&self) -> Vec<String> {
        lock(&self.state).snapshots.clone()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn param<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    request.get(name).and_then(Value::as_str)
}

/// The values of a list parameter (`SecurityGroupIds.SecurityGroupId.1`, …) in order.
fn list(request: &Value, prefix: &str) -> Option<Vec<String>> {
    let object = request.as_object()?;
    let mut items: Vec<(usize, String)> = object
        .iter()
        .filter_map(|(k, v)| {
            let index = k.strip_prefix(prefix)?.rsplit('.').next()?.parse().ok()?;
            Some((index, v.as_str()?.to_owned()))
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    items.sort();
    Some(items.into_iter().map(|(_, v)| v).collect())
}

/// Pairs of a structured list (`Tags.Tag.1.Key` / `.Value`).
fn pairs(request: &Value, prefix: &str, key: &str, value: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in 1.. {
        let k = param(request, &format!("{prefix}.{n}.{key}"));
        let Some(k) = k else { break };
        let v = param(request, &format!("{prefix}.{n}.{value}")).unwrap_or_default();
        out.insert(k.to_owned(), v.to_owned());
    }
    out
}

fn ok(op: &str, result: &str) -> Option<(u16, String)> {
    Some((
        200,
        format!(
            "<{op}Response xmlns=\"{XMLNS}\"><{op}Result>{result}</{op}Result>\
             <ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></{op}Response>"
        ),
    ))
}

fn error(status: u16, code: &str, message: &str) -> Option<(u16, String)> {
    Some((
        status,
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error><RequestId>stand-in</RequestId></ErrorResponse>"
        ),
    ))
}

fn parameter_group_arn(name: &str) -> String {
    format!("arn:aws:elasticache:us-east-1:123456789012:parametergroup:{name}")
}

fn parameter_group_xml(name: &str, g: &ParameterGroup) -> String {
    format!(
        "<CacheParameterGroup><CacheParameterGroupName>{name}</CacheParameterGroupName>\
         <CacheParameterGroupFamily>{}</CacheParameterGroupFamily>\
         <Description>{}</Description><IsGlobal>false</IsGlobal><ARN>{}</ARN>\
         </CacheParameterGroup>",
        g.family,
        g.description,
        parameter_group_arn(name)
    )
}

fn create_parameter_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "CacheParameterGroupName")?.to_owned();
    if state.parameter_groups.contains_key(&name) {
        return error(400, "CacheParameterGroupAlreadyExists", "exists");
    }
    let group = ParameterGroup {
        family: param(r, "CacheParameterGroupFamily")?.to_owned(),
        description: param(r, "Description").unwrap_or_default().to_owned(),
        parameters: BTreeMap::new(),
        tags: pairs(r, "Tags.Tag", "Key", "Value"),
    };
    let xml = parameter_group_xml(&name, &group);
    state.parameter_groups.insert(name, group);
    ok("CreateCacheParameterGroup", &xml)
}

fn describe_parameter_groups(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "CacheParameterGroupName")?;
    match state.parameter_groups.get(name) {
        Some(g) => ok(
            "DescribeCacheParameterGroups",
            &format!(
                "<CacheParameterGroups>{}</CacheParameterGroups>",
                parameter_group_xml(name, g)
            ),
        ),
        None => error(404, "CacheParameterGroupNotFound", "not found"),
    }
}

fn describe_parameters(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "CacheParameterGroupName")?;
    let Some(g) = state.parameter_groups.get(name) else {
        return error(404, "CacheParameterGroupNotFound", "not found");
    };
    let items: String = g
        .parameters
        .iter()
        .map(|(k, v)| {
            format!(
                "<Parameter><ParameterName>{k}</ParameterName>\
                 <ParameterValue>{v}</ParameterValue><Source>user</Source>\
                 <ChangeType>immediate</ChangeType></Parameter>"
            )
        })
        .collect();
    ok(
        "DescribeCacheParameters",
        &format!("<Parameters>{items}</Parameters>"),
    )
}

fn modify_parameter_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "CacheParameterGroupName")?.to_owned();
    let set = pairs(
        r,
        "ParameterNameValues.ParameterNameValue",
        "ParameterName",
        "ParameterValue",
    );
    let Some(g) = state.parameter_groups.get_mut(&name) else {
        return error(404, "CacheParameterGroupNotFound", "not found");
    };
    g.parameters.extend(set);
    ok(
        "ModifyCacheParameterGroup",
        &format!("<CacheParameterGroupName>{name}</CacheParameterGroupName>"),
    )
}

fn delete_parameter_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "CacheParameterGroupName")?;
    match state.parameter_groups.remove(name) {
        Some(_) => ok("DeleteCacheParameterGroup", ""),
        None => error(404, "CacheParameterGroupNotFound", "not found"),
    }
}

/// The parameter group a tagging call names, if it names one (others go to moto).
fn tagged_group<'a>(state: &'a mut State, r: &Value) -> Option<&'a mut ParameterGroup> {
    let arn = param(r, "ResourceName")?;
    let name = arn.split(":parametergroup:").nth(1)?;
    state.parameter_groups.get_mut(name)
}

fn tag_list(tags: &BTreeMap<String, String>) -> String {
    let items: String = tags
        .iter()
        .map(|(k, v)| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"))
        .collect();
    format!("<TagList>{items}</TagList>")
}

fn list_tags(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let g = tagged_group(state, r)?;
    ok("ListTagsForResource", &tag_list(&g.tags))
}

fn add_tags(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let g = tagged_group(state, r)?;
    g.tags.extend(pairs(r, "Tags.Tag", "Key", "Value"));
    ok("AddTagsToResource", &tag_list(&g.tags))
}

fn remove_tags(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let g = tagged_group(state, r)?;
    for key in list(r, "TagKeys.").unwrap_or_default() {
        g.tags.remove(&key);
    }
    ok("RemoveTagsFromResource", &tag_list(&g.tags))
}

/// Records what moto drops, then lets moto create the group.
fn create_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "ReplicationGroupId")?.to_owned();
    let clusters = param(r, "NumCacheClusters").and_then(|n| n.parse().ok());
    let nodes = Nodes {
        engine_version: full_version(param(r, "EngineVersion").unwrap_or("7.1")),
        maintenance_window: param(r, "PreferredMaintenanceWindow").map(str::to_owned),
        security_groups: list(r, "SecurityGroupIds.").unwrap_or_default(),
        subnet_group: param(r, "CacheSubnetGroupName").map(str::to_owned),
        parameter_group: param(r, "CacheParameterGroupName").map(str::to_owned),
        snapshot_window: param(r, "SnapshotWindow").map(str::to_owned),
        clusters: clusters.unwrap_or(1),
        ..Nodes::default()
    };
    state.groups.insert(name, nodes);
    None
}

/// AWS installs the newest patch of the version asked for: `7.0` runs as `7.0.7`.
fn full_version(version: &str) -> String {
    if version.split('.').count() == 2 {
        format!("{version}.7")
    } else {
        version.to_owned()
    }
}

/// Records the fields moto ignores, then lets moto change the rest.
fn modify_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "ReplicationGroupId")?;
    let nodes = state.groups.entry(name.to_owned()).or_default();
    if let Some(v) = param(r, "EngineVersion") {
        nodes.engine_version = full_version(v);
    }
    if let Some(v) = param(r, "PreferredMaintenanceWindow") {
        nodes.maintenance_window = Some(v.to_owned());
    }
    if let Some(v) = list(r, "SecurityGroupIds.") {
        nodes.security_groups = v;
    }
    if let Some(v) = param(r, "CacheParameterGroupName") {
        nodes.parameter_group = Some(v.to_owned());
    }
    if let Some(v) = param(r, "SnapshotWindow") {
        nodes.snapshot_window = Some(v.to_owned());
    }
    None
}

fn replica_count(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "ReplicationGroupId")?;
    let replicas: usize = param(r, "NewReplicaCount")?.parse().ok()?;
    let op = match param(r, "Action") {
        Some("DecreaseReplicaCount") => "DecreaseReplicaCount",
        _ => "IncreaseReplicaCount",
    };
    let Some(nodes) = state.groups.get_mut(name) else {
        return error(404, "ReplicationGroupNotFoundFault", "not found");
    };
    nodes.clusters = replicas + 1;
    ok(
        op,
        &format!(
            "<ReplicationGroup><ReplicationGroupId>{name}</ReplicationGroupId>\
             <Status>modifying</Status></ReplicationGroup>"
        ),
    )
}

fn delete_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "ReplicationGroupId")?;
    let nodes = state.groups.entry(name.to_owned()).or_default();
    if nodes.deleted {
        return error(404, "ReplicationGroupNotFoundFault", "not found");
    }
    nodes.deleted = true;
    if let Some(snapshot) = param(r, "FinalSnapshotIdentifier") {
        state.snapshots.push(snapshot.to_owned());
    }
    None
}

fn describe_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "ReplicationGroupId")?;
    match state.groups.get(name) {
        Some(nodes) if nodes.deleted => error(404, "ReplicationGroupNotFoundFault", "not found"),
        _ => None,
    }
}

/// moto's DescribeReplicationGroups answer with the stand-in's members, snapshot window and
/// status.
fn patch_group(state: &State, xml: &str) -> String {
    let Some(name) = between(xml, "<ReplicationGroupId>", "</ReplicationGroupId>") else {
        return xml.to_owned();
    };
    let Some(nodes) = state.groups.get(name) else {
        return xml.to_owned();
    };
    let members: String = (1..=nodes.clusters)
        .map(|n| format!("<ClusterId>{name}-{n:03}</ClusterId>"))
        .collect();
    let mut xml = replace_element(xml, "MemberClusters", &members);
    if let Some(window) = &nodes.snapshot_window {
        xml = replace_element(&xml, "SnapshotWindow", window);
    }
    if let Some(status) = &nodes.status {
        xml = xml.replacen(
            "<Status>available</Status>",
            &format!("<Status>{status}</Status>"),
            1,
        );
    }
    xml
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = start + text[start..].find(close)?;
    Some(&text[start..end])
}

/// The first `<tag>…</tag>` with new content.
fn replace_element(xml: &str, tag: &str, content: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    match (xml.find(&open), xml.find(&close)) {
        (Some(start), Some(end)) if start < end => format!(
            "{}{open}{content}{close}{}",
            &xml[..start],
            &xml[end + close.len()..]
        ),
        _ => xml.to_owned(),
    }
}

/// A member's cache cluster (`{group}-001`), from what the stand-in recorded.
fn describe_cache_clusters(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let id = param(r, "CacheClusterId")?;
    let (group, _) = id.rsplit_once('-')?;
    let Some(nodes) = state.groups.get(group).filter(|n| !n.deleted) else {
        return error(404, "CacheClusterNotFound", "not found");
    };
    let mut x = format!(
        "<CacheCluster><CacheClusterId>{id}</CacheClusterId>\
         <CacheClusterStatus>available</CacheClusterStatus><Engine>redis</Engine>\
         <EngineVersion>{}</EngineVersion><ReplicationGroupId>{group}</ReplicationGroupId>",
        nodes.engine_version
    );
    if let Some(w) = &nodes.maintenance_window {
        x.push_str(&format!(
            "<PreferredMaintenanceWindow>{w}</PreferredMaintenanceWindow>"
        ));
    }
    let groups: String = nodes
        .security_groups
        .iter()
        .map(|g| {
            format!(
                "<member><SecurityGroupId>{g}</SecurityGroupId><Status>active</Status></member>"
            )
        })
        .collect();
    x.push_str(&format!("<SecurityGroups>{groups}</SecurityGroups>"));
    if let Some(g) = &nodes.subnet_group {
        x.push_str(&format!("<CacheSubnetGroupName>{g}</CacheSubnetGroupName>"));
    }
    let parameters = nodes
        .parameter_group
        .clone()
        .unwrap_or_else(|| "default.redis7".to_owned());
    x.push_str(&format!(
        "<CacheParameterGroup><CacheParameterGroupName>{parameters}</CacheParameterGroupName>\
         <ParameterApplyStatus>in-sync</ParameterApplyStatus></CacheParameterGroup>"
    ));
    let (node_type, version) = &nodes.pending;
    if node_type.is_some() || version.is_some() {
        x.push_str("<PendingModifiedValues>");
        if let Some(t) = node_type {
            x.push_str(&format!("<CacheNodeType>{t}</CacheNodeType>"));
        }
        if let Some(v) = version {
            x.push_str(&format!("<EngineVersion>{v}</EngineVersion>"));
        }
        x.push_str("</PendingModifiedValues>");
    }
    x.push_str("</CacheCluster>");
    ok(
        "DescribeCacheClusters",
        &format!("<CacheClusters>{x}</CacheClusters>"),
    )
}

fn delete_subnet_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "CacheSubnetGroupName")?.to_owned();
    if state.deleted_subnet_groups.contains(&name) {
        return error(404, "CacheSubnetGroupNotFoundFault", "not found");
    }
    state.deleted_subnet_groups.push(name);
    ok("DeleteCacheSubnetGroup", "")
}

fn describe_subnet_group(state: &mut State, r: &Value) -> Option<(u16, String)> {
    let name = param(r, "CacheSubnetGroupName")?;
    if state.deleted_subnet_groups.iter().any(|n| n == name) {
        return error(404, "CacheSubnetGroupNotFoundFault", "not found");
    }
    None
}
