//! Drift as first-class data.
//!
//! A field differs from the spec in one of two ways. *Pending*: the spec changed it and Plumb
//! has not applied that yet (shown in the plan). *Drift*: Plumb applied the current desired
//! value and something else changed it since. Plumb tells them apart by what it last applied
//! per resource ([`LastApplied`]): a differing field whose applied value is still the desired
//! one is drift. An autoscaled `desiredCount` and ignored fields are never compared, and a
//! value AWS holds for the maintenance window is scheduled, not drift.
//!
//! Each drifted field is a record ([`DriftRecord`]) that opens when it is first seen, is
//! updated while it lasts, and resolves as `corrected` (the value is back), `spec-changed`
//! (the spec now wants something else), `gone` (the resource went) or `accepted` (the
//! observed value was taken into the spec). [`track`] decides these per sweep; the store
//! writes them, with their alerts, in one transaction.

pub mod accept;
pub mod classify;
pub mod track;

pub use track::{track, Finding, OpenRecord, PendingResolve, RecordRef, Sweep, Tracked};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The field name of a drift record that says the resource itself is gone.
pub const EXISTS: &str = "exists";

/// Who made an out-of-band change, from the CloudTrail event that reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// `userIdentity.arn`: the user or assumed role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `userIdentity.type`: `IAMUser`, `AssumedRole`, `Root`, …
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The API call: `UpdateService`, `ModifyDBInstance`, …
    pub event_name: String,
    pub event_time: DateTime<Utc>,
}

impl Actor {
    /// Who, in a few words: the user or role name, else the ARN, else the type.
    pub fn who(&self) -> String {
        match (&self.arn, &self.type_) {
            (Some(arn), _) => short_identity(arn),
            (None, Some(type_)) => type_.clone(),
            (None, None) => "unknown".to_owned(),
        }
    }
}

/// `arn:aws:iam::1:user/alice` → `user/alice`; `arn:aws:sts::1:assumed-role/Admin/alice` →
/// `assumed-role/Admin/alice`.
fn short_identity(arn: &str) -> String {
    arn.splitn(6, ':').nth(5).unwrap_or(arn).to_owned()
}

/// How a drift record was closed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Resolution {
    /// The field holds the desired value again (Plumb put it back, or someone did).
    Corrected,
    /// The spec changed: it no longer wants the value that was drifted from.
    SpecChanged,
    /// The resource is gone from the spec or the environment was deleted.
    Gone,
    /// The observed value was taken into the spec (`plumb drift accept`).
    Accepted,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Open while the field differs; resolved once it no longer does.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum DriftState {
    Open,
    Resolved,
}

impl DriftState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One drifted field of one resource, over one episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftRecord {
    pub id: i64,
    pub environment: String,
    /// `kind/name`, e.g. `ecs-service/shop-api`.
    pub resource: String,
    pub kind: String,
    /// The managed field, as in the plan (`desiredCount`), or `exists` for a resource
    /// deleted out of band.
    pub field: String,
    /// Where the spec sets the field (`ecs.services.api.desiredCount`), when one place does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_path: Option<String>,
    #[schema(value_type = Object)]
    pub desired: Option<Value>,
    #[schema(value_type = Object)]
    pub observed: Option<Value>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub state: DriftState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Times the same drift came back within the alert quiet period after resolving.
    pub flaps: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
}

/// What Plumb last applied to one resource: the desired value of each managed field the last
/// time the resource held it, and the generation it belonged to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliedFields {
    pub generation: i64,
    pub fields: BTreeMap<String, Value>,
}

/// [`AppliedFields`] by `kind/name`.
pub type LastApplied = BTreeMap<String, AppliedFields>;
