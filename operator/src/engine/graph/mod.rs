//! Spec → desired resource graph: what AWS should hold for one environment.
//!
//! The graph is built per component, each in its own file (`ecs`, `autoscaling`, `postgres`,
//! `redis`, `rabbitmq`, `alarms`), from one environment-level [`Cx`]; an environment without ECS still has a graph
//! (its data tier and alarms). Resources come out in dependency order: each after
//! what it depends on.
//!
//! Every field is canonical JSON (see [`crate::engine::values`]) and is present only when the
//! spec sets what it derives from, so a field left out of the spec is never compared. A field
//! holding another resource's ARN is a [`Reference`], resolved by the engine.
//!
//! `spec.policy.ignore` is applied here: each field knows the spec path it comes from (e.g.
//! the task definition's `image` comes from `ecs.services.api.image`), and a field whose path
//! an ignore rule matches moves from [`Desired::fields`] to [`Desired::create_only`] (a
//! reference stops being managed). It is still set when the resource is created, but never
//! compared, so it is neither reported nor corrected. See [`ignore_rule_matches`].

mod alarms;
mod autoscaling;
mod ecs;
mod postgres;
mod rabbitmq;
mod redis;

use std::collections::BTreeMap;

use serde_json::Value;

use super::resource::{Desired, DesiredGraph, RefField, Reference, ResourceId};
use crate::spec::{Alerts, Environment, IgnoreRule, Network};

/// Tag naming the environment a resource belongs to.
pub const TAG_ENVIRONMENT: &str = "plumb:environment";
/// Tag marking a resource as managed by Plumb (value [`MANAGED_BY`]).
pub const TAG_MANAGED_BY: &str = "plumb:managed-by";
pub const MANAGED_BY: &str = "plumb";

/// The desired resources of `env`, in dependency order.
pub fn desired_graph(env: &Environment) -> DesiredGraph {
    let cx = Cx::new(env);
    let mut resources = Vec::new();
    if let Some(spec) = &env.spec.ecs {
        resources.extend(ecs::resources(&cx, spec));
        resources.extend(autoscaling::resources(&cx, spec));
    }
    if let Some(spec) = &env.spec.postgres {
        resources.extend(postgres::resources(&cx, spec));
    }
    if let Some(spec) = &env.spec.redis {
        resources.extend(redis::resources(&cx, spec));
    }
    if let Some(spec) = &env.spec.rabbitmq {
        resources.extend(rabbitmq::resources(&cx, spec));
    }
    resources.extend(alarms::resources(&cx, env));
    DesiredGraph { resources }
}

/// Whether an ignore rule's path matches the spec path a field comes from.
///
/// Both are dotted paths below `spec` (`ecs.services.api.image`); `*` in the rule matches
/// exactly one segment. A rule matches a field when it names the field's path or a part of the
/// spec that contains it (`ecs.services.api` ignores every field of that service). For
/// compound fields (a map or object compared as one value: `env`, `secrets`, `healthCheck`,
/// step-scaling `steps`) a rule naming something inside the field
/// (`ecs.services.api.env.FEATURE_FLAG`) ignores the whole field: Plumb cannot leave one
/// entry alone while managing the others, and not touching it is the safe side.
pub fn ignore_rule_matches(rule: &str, field_path: &str, compound: bool) -> bool {
    let rule: Vec<&str> = rule.split('.').collect();
    let field: Vec<&str> = field_path.split('.').collect();
    let common = rule.len().min(field.len());
    let prefix_matches = rule
        .iter()
        .zip(&field)
        .take(common)
        .all(|(r, f)| *r == "*" || r == f);
    prefix_matches && (rule.len() <= field.len() || compound)
}

/// What every component's builder needs from the environment.
pub(super) struct Cx<'a> {
    pub env: &'a str,
    pub region: &'a str,
    pub network: Option<&'a Network>,
    /// Where alarms notify, by severity.
    pub alerts: Option<&'a Alerts>,
    tags: BTreeMap<String, String>,
    rules: &'a [IgnoreRule],
}

impl<'a> Cx<'a> {
    fn new(env: &'a Environment) -> Self {
        let mut tags = env.spec.tags.clone();
        tags.insert(TAG_ENVIRONMENT.to_owned(), env.metadata.name.clone());
        tags.insert(TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned());
        Self {
            env: &env.metadata.name,
            region: &env.spec.region,
            network: env.spec.network.as_ref(),
            alerts: env.spec.alerts.as_ref(),
            tags,
            rules: &env.spec.policy.ignore,
        }
    }

    /// Starts a resource carrying the environment's tags (Plumb's win on a clash).
    pub fn resource(&self, id: ResourceId, depends_on: Vec<ResourceId>) -> Builder<'_> {
        let mut desired = Desired::new(id, depends_on);
        desired.tags = self.tags.clone();
        Builder {
            rules: self.rules,
            desired,
        }
    }
}

/// Builds one resource, sending each field to `fields` or, when an ignore rule matches its
/// spec path, to `create_only`.
pub(super) struct Builder<'a> {
    rules: &'a [IgnoreRule],
    pub desired: Desired,
}

impl Builder<'_> {
    pub fn set(&mut self, field: &str, value: Value, spec_path: &str) {
        self.put(field, value, spec_path, false);
    }

    /// A map or object compared as one value; a rule naming a part of it ignores all of it.
    pub fn set_compound(&mut self, field: &str, value: Value, spec_path: &str) {
        self.put(field, value, spec_path, true);
    }

    pub fn create_only(&mut self, field: &str, value: Value) {
        self.desired.create_only.insert(field.to_owned(), value);
    }

    /// A field holding other resources' ARNs.
    pub fn reference(&mut self, field: &str, reference: Reference, spec_path: &str) {
        let managed = !self.ignored(spec_path, false);
        self.desired
            .paths
            .insert(field.to_owned(), spec_path.to_owned());
        self.desired
            .references
            .insert(field.to_owned(), RefField { reference, managed });
    }

    fn ignored(&self, spec_path: &str, compound: bool) -> bool {
        self.rules
            .iter()
            .any(|rule| ignore_rule_matches(&rule.path, spec_path, compound))
    }

    fn put(&mut self, field: &str, value: Value, spec_path: &str, compound: bool) {
        self.desired
            .paths
            .insert(field.to_owned(), spec_path.to_owned());
        let target = if self.ignored(spec_path, compound) {
            &mut self.desired.create_only
        } else {
            &mut self.desired.fields
        };
        target.insert(field.to_owned(), value);
    }

    pub fn build(self) -> Desired {
        self.desired
    }
}

#[cfg(test)]
#[path = "../tests/graph.rs"]
mod tests;

#[cfg(test)]
#[path = "../tests/graph_data.rs"]
mod data_tests;
