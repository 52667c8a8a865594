//! RDS: the PostgreSQL instance, the Aurora cluster and its instances, their subnet group and
//! parameter groups.
//!
//! What AWS rewrites is normalised here, so that a settled database compares equal sweep
//! after sweep: an engine version `15` is met by `15.4` (and by a newer minor that AWS's
//! automatic minor upgrades installed: Plumb never downgrades), windows compare without case,
//! the storage type defaults to gp2, and a parameter group's parameters compare as "every
//! parameter the spec names has its value" (others set by hand are not Plumb's).

use serde_json::Value;

use super::{parameters_set, version_satisfied, Rules};
use crate::engine::resource::{Observed, Phase};
use crate::engine::values::value_set;

/// Instance class, storage and engine changes wait for the maintenance window unless applied
/// immediately (ModifyDBInstance `ApplyImmediately`).
const INSTANCE_DEFERRED: &[&str] = &[
    "dbInstanceClass",
    "engineVersion",
    "allocatedStorage",
    "storageType",
    "multiAZ",
];

pub(super) const DB_INSTANCE: Rules = Rules {
    name: "db-instance",
    stateful: true,
    replace_on: &["engine", "storageEncrypted", "dbClusterIdentifier"],
    revisioned: false,
    aws_default: |field| match field {
        "storageType" => Some(Value::from("gp2")),
        "multiAZ" | "performanceInsightsEnabled" | "deletionProtection" => Some(Value::Bool(false)),
        _ => None,
    },
    normalize: normalize_db,
    equivalent: version_satisfied,
    deferred: INSTANCE_DEFERRED,
    disruptive: &[
        (
            "dbInstanceClass",
            "restarts the instance (a Multi-AZ one fails over first)",
        ),
        ("engineVersion", "restarts the instance"),
        (
            "dbParameterGroupName",
            "static parameters take effect at the next restart",
        ),
    ],
    phase: db_phase,
};

pub(super) const DB_CLUSTER: Rules = Rules {
    name: "db-cluster",
    stateful: true,
    replace_on: &["engine", "storageEncrypted"],
    revisioned: false,
    aws_default: |field| match field {
        "deletionProtection" => Some(Value::Bool(false)),
        _ => None,
    },
    normalize: normalize_db,
    equivalent: version_satisfied,
    deferred: &["engineVersion"],
    disruptive: &[
        ("engineVersion", "restarts every instance of the cluster"),
        (
            "dbClusterParameterGroupName",
            "static parameters take effect at the next restart",
        ),
    ],
    phase: db_phase,
};

pub(super) const DB_SUBNET_GROUP: Rules = Rules {
    name: "db-subnet-group",
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

pub(super) const DB_PARAMETER_GROUP: Rules = Rules {
    name: "db-parameter-group",
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

pub(super) const DB_CLUSTER_PARAMETER_GROUP: Rules = Rules {
    name: "db-cluster-parameter-group",
    ..DB_PARAMETER_GROUP
};

/// Windows are case-insensitive (`Sun:05:00-Sun:06:00`), security groups a set.
fn normalize_db(field: &str, value: Value) -> Value {
    match (field, value) {
        ("preferredBackupWindow" | "preferredMaintenanceWindow", Value::String(s)) => {
            Value::String(s.to_ascii_lowercase())
        }
        ("vpcSecurityGroupIds", Value::Array(items)) => value_set(items),
        (_, value) => value,
    }
}

/// RDS status words: the ones during which a change is refused or would queue behind
/// AWS's own work are Busy; the ones only a person can fix are Failed.
fn db_phase(o: &Observed) -> Phase {
    let Some(status) = o.status.as_deref() else {
        return Phase::Ready;
    };
    match status {
        "available" | "storage-full" | "stopped" => Phase::Ready,
        "failed"
        | "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable"
        | "incompatible-network"
        | "incompatible-option-group"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "insufficient-capacity"
        | "restore-error" => Phase::Failed(format!("RDS reports it {status}")),
        busy => Phase::Busy(format!("RDS reports it {busy}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::PARAMETERS;
    use super::*;

    #[test]
    fn a_newer_minor_or_a_patch_level_meets_the_version_the_spec_names() {
        let v =
            |want: &str, got: &str| version_satisfied("engineVersion", &json!(want), &json!(got));
        assert!(v("15", "15.4"));
        assert!(v("15.4", "15.7"));
        assert!(v("15.4", "15.4.1"));
        assert!(!v("15.7", "15.4"), "an older minor is drift");
        assert!(!v("16", "15.4"), "another major is drift");
        assert!(!v("15.4", "16.1"));
        assert!(!v("15.x", "15.4"));
        assert!(!version_satisfied(
            "dbInstanceClass",
            &json!("15"),
            &json!("15.4")
        ));
    }

    #[test]
    fn parameters_compare_as_the_ones_the_spec_names() {
        let want = json!({"rds.force_ssl": "1"});
        let got = json!({"rds.force_ssl": "1", "work_mem": "4096"});
        assert!(parameters_set(PARAMETERS, &want, &got));
        assert!(!parameters_set(PARAMETERS, &got, &want));
        let other = json!({"rds.force_ssl": "0"});
        assert!(!parameters_set(PARAMETERS, &want, &other));
    }

    #[test]
    fn rds_status_words_map_to_phases() {
        let with = |s: &str| {
            let mut o = Observed::new(
                crate::engine::ResourceId::new(crate::engine::ResourceKind::DbInstance, "x"),
                None,
                Default::default(),
            );
            o.status = Some(s.to_owned());
            db_phase(&o)
        };
        assert_eq!(with("available"), Phase::Ready);
        assert!(matches!(with("modifying"), Phase::Busy(_)));
        assert!(matches!(with("backing-up"), Phase::Busy(_)));
        assert!(matches!(with("creating"), Phase::Busy(_)));
        assert!(matches!(with("incompatible-parameters"), Phase::Failed(_)));
    }
}
