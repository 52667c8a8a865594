//! ElastiCache: the Redis replication group, its cache subnet group and parameter group.
//!
//! What AWS rewrites is normalised here, so that a settled cache compares equal sweep after
//! sweep: an engine version `7.0` is met by `7.0.7` (and by a newer patch AWS installed),
//! windows compare without case, security groups as a set, and the `enabled` / `enabling`
//! words ElastiCache reports for automatic failover and Multi-AZ as the booleans the spec
//! holds. A parameter group's parameters compare as "every parameter the spec names has its
//! value".

use serde_json::Value;

use super::{parameters_set, version_satisfied, Rules};
use crate::engine::resource::{Observed, Phase};
use crate::engine::values::value_set;

/// Fields ElastiCache reports as a status word (`enabled`, `disabling`) and the spec as a
/// boolean.
const SWITCHES: &[&str] = &["automaticFailoverEnabled", "multiAZEnabled"];

pub(super) const REPLICATION_GROUP: Rules = Rules {
    name: "replication-group",
    stateful: true,
    // ModifyReplicationGroup cannot change the engine or encryption at rest; in-transit
    // encryption changes only through a two-step migration (TransitEncryptionMode
    // `preferred`, then `required`) during which clients must cope with both, which Plumb
    // does not run on its own.
    replace_on: &[
        "engine",
        "atRestEncryptionEnabled",
        "transitEncryptionEnabled",
    ],
    revisioned: false,
    aws_default: |field| match field {
        "automaticFailoverEnabled" | "multiAZEnabled" => Some(Value::Bool(false)),
        "snapshotRetentionLimit" => Some(Value::from(0)),
        _ => None,
    },
    normalize: normalize_replication_group,
    equivalent: version_satisfied,
    deferred: &["cacheNodeType", "engineVersion"],
    disruptive: &[
        ("cacheNodeType", "online resize; brief failover"),
        (
            "engineVersion",
            "nodes restart one at a time; brief failover",
        ),
        (
            "cacheParameterGroupName",
            "static parameters take effect at the next restart",
        ),
    ],
    phase: cache_phase,
};

pub(super) const CACHE_SUBNET_GROUP: Rules = Rules {
    name: "cache-subnet-group",
    stateful: false,
    replace_on: &[],
    revisioned: false,
    aws_default: super::no_defaults,
    normalize: |field, value| match (field, value) {
        ("subnetIds", Value::Array(items)) => value_set(items),
        (_, value) => value,
    },
    equivalent: super::exact,
    deferred: &[],
    disruptive: &[],
    phase: super::always_ready,
};

pub(super) const CACHE_PARAMETER_GROUP: Rules = Rules {
    name: "cache-parameter-group",
    stateful: false,
    replace_on: &["family"],
    revisioned: false,
    aws_default: super::no_defaults,
    normalize: super::as_is,
    equivalent: parameters_set,
    deferred: &[],
    disruptive: &[],
    phase: super::always_ready,
};

fn normalize_replication_group(field: &str, value: Value) -> Value {
    match (field, value) {
        ("snapshotWindow" | "preferredMaintenanceWindow", Value::String(s)) => {
            Value::String(s.to_ascii_lowercase())
        }
        ("securityGroupIds", Value::Array(items)) => value_set(items),
        (field, Value::String(s)) if SWITCHES.contains(&field) => {
            // `enabling` is on its way to what the spec wants; `disabling` likewise.
            Value::Bool(matches!(s.as_str(), "enabled" | "enabling"))
        }
        (_, value) => value,
    }
}

/// ElastiCache status words: creating, modifying, snapshotting and deleting are AWS's own
/// work (a change sent now is refused with InvalidReplicationGroupState); create-failed
/// needs a person.
fn cache_phase(o: &Observed) -> Phase {
    match o.status.as_deref() {
        None | Some("available") => Phase::Ready,
        Some("create-failed") => Phase::Failed("ElastiCache reports it create-failed".to_owned()),
        Some(busy) => Phase::Busy(format!("ElastiCache reports it {busy}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::{ResourceId, ResourceKind};

    #[test]
    fn what_elasticache_rewrites_compares_equal() {
        let n = REPLICATION_GROUP.normalize;
        assert_eq!(
            n("preferredMaintenanceWindow", json!("Sun:05:00-Sun:06:00")),
            json!("sun:05:00-sun:06:00")
        );
        assert_eq!(
            n("snapshotWindow", json!("02:00-03:00")),
            json!("02:00-03:00")
        );
        assert_eq!(
            n("securityGroupIds", json!(["sg-2", "sg-1"])),
            json!(["sg-1", "sg-2"])
        );
        assert_eq!(n("automaticFailoverEnabled", json!("enabled")), json!(true));
        assert_eq!(n("multiAZEnabled", json!("enabling")), json!(true));
        assert_eq!(n("multiAZEnabled", json!("disabled")), json!(false));
        assert_eq!(n("multiAZEnabled", json!(true)), json!(true));
        assert_eq!(
            n("cacheNodeType", json!("cache.t3.micro")),
            json!("cache.t3.micro")
        );
        let v = REPLICATION_GROUP.equivalent;
        assert!(v("engineVersion", &json!("7.0"), &json!("7.0.7")));
        assert!(v("engineVersion", &json!("7.0"), &json!("7.1")));
        assert!(!v("engineVersion", &json!("7.1"), &json!("7.0.7")));
        assert!(!v("engineVersion", &json!("7.0"), &json!("6.2.6")));
        let p = CACHE_PARAMETER_GROUP.equivalent;
        let want = json!({"maxmemory-policy": "allkeys-lru"});
        let got = json!({"maxmemory-policy": "allkeys-lru", "timeout": "0"});
        assert!(p(super::super::PARAMETERS, &want, &got));
        assert!(!p(super::super::PARAMETERS, &got, &want));
    }

    #[test]
    fn elasticache_status_words_map_to_phases() {
        let with = |s: &str| {
            let id = ResourceId::new(ResourceKind::ReplicationGroup, "x");
            let mut o = Observed::new(id, None, Default::default());
            o.status = Some(s.to_owned());
            cache_phase(&o)
        };
        assert_eq!(with("available"), Phase::Ready);
        for busy in ["creating", "modifying", "snapshotting", "deleting"] {
            assert_eq!(
                with(busy),
                Phase::Busy(format!("ElastiCache reports it {busy}"))
            );
        }
        assert!(matches!(with("create-failed"), Phase::Failed(_)));
    }
}
