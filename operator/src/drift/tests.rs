use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::alerts::message::{fingerprint, Context};
use crate::alerts::{AlertConfig, AlertState};
use crate::spec::DriftPolicy;

fn finding(resource: &str, field: &str, desired: i64, observed: i64) -> Finding {
    Finding {
        resource: resource.into(),
        kind: resource.split_once('/').unwrap().0.into(),
        field: field.into(),
        spec_path: None,
        desired: Some(json!(desired)),
        observed: Some(json!(observed)),
        stateful: false,
    }
}

fn open(id: i64, resource: &str, field: &str, desired: i64, observed: i64) -> OpenRecord {
    OpenRecord {
        id,
        resource: resource.into(),
        field: field.into(),
        desired: Some(json!(desired)),
        observed: Some(json!(observed)),
        has_actor: false,
    }
}

fn print(resource: &str, findings: &[&Finding]) -> String {
    fingerprint("shop", resource, findings)
}

const WORKER: &str = "ecs-service/shop-worker";

fn sweep_of(drifted: Vec<Finding>, compared: &[(&str, &str, i64)]) -> Sweep {
    let mut sweep = Sweep {
        drifted,
        ..Sweep::default()
    };
    for (resource, field, desired) in compared {
        sweep
            .compared
            .entry((*resource).to_owned())
            .or_default()
            .insert((*field).to_owned(), Some(json!(desired)));
        sweep.desired.insert((*resource).to_owned());
    }
    for f in &sweep.drifted {
        sweep.desired.insert(f.resource.clone());
    }
    sweep
}

#[test]
fn a_drift_opens_once_and_is_then_seen_again() {
    let sweep = sweep_of(vec![finding(WORKER, "desiredCount", 1, 5)], &[]);
    let first = track(&[], &[], &sweep, &BTreeMap::new(), &print);
    assert_eq!(first.insert.len(), 1);
    assert_eq!(first.opened[WORKER].len(), 1);

    let again = sweep_of(vec![finding(WORKER, "desiredCount", 1, 6)], &[]);
    let second = track(
        &[open(7, WORKER, "desiredCount", 1, 5)],
        &[],
        &again,
        &BTreeMap::new(),
        &print,
    );
    assert!(second.insert.is_empty());
    assert!(second.opened.is_empty(), "seen again: nothing announced");
    assert_eq!(second.update.len(), 1);
    assert_eq!(second.update[0].1.observed, Some(json!(6)));
}

#[test]
fn an_open_record_resolves_by_what_the_sweep_saw() {
    let records = [open(7, WORKER, "desiredCount", 1, 5)];
    let how = |sweep: &Sweep| {
        track(&records, &[], sweep, &BTreeMap::new(), &print)
            .resolve
            .first()
            .map(|(_, how)| *how)
    };
    // Matching again with the same desired value: corrected.
    assert_eq!(
        how(&sweep_of(vec![], &[(WORKER, "desiredCount", 1)])),
        Some(Resolution::Corrected)
    );
    // The spec wants something else now: spec-changed.
    assert_eq!(
        how(&sweep_of(vec![], &[(WORKER, "desiredCount", 5)])),
        Some(Resolution::SpecChanged)
    );
    // The field is not managed any more (an ignore rule): spec-changed.
    assert_eq!(
        how(&sweep_of(vec![], &[(WORKER, "cpu", 256)])),
        Some(Resolution::SpecChanged)
    );
    // The resource left the spec: gone.
    assert_eq!(
        how(&sweep_of(vec![], &[("ecs-service/shop-api", "cpu", 256)])),
        Some(Resolution::Gone)
    );
    // Named but not compared (AWS holds it busy): left open, Plumb could not look.
    let mut busy = Sweep::default();
    busy.desired.insert(WORKER.to_owned());
    assert_eq!(how(&busy), None);
}

#[test]
fn a_drift_put_back_in_the_same_sweep_opens_and_resolves() {
    let sweep = Sweep {
        corrected: vec![finding(WORKER, "desiredCount", 1, 5)],
        desired: [WORKER.to_owned()].into(),
        ..Sweep::default()
    };
    let t = track(&[], &[], &sweep, &BTreeMap::new(), &print);
    assert_eq!(t.insert.len(), 1);
    assert_eq!(t.opened[WORKER].len(), 1);
    assert_eq!(t.resolve, [(RecordRef::New(0), Resolution::Corrected)]);
}

#[test]
fn the_same_drift_back_before_its_resolve_was_sent_is_a_flap() {
    let f = finding(WORKER, "desiredCount", 1, 5);
    let pending = PendingResolve {
        alert_id: 40,
        resource: WORKER.into(),
        fingerprint: print(WORKER, &[&f]),
        records: vec![(7, "desiredCount".into())],
    };
    let t = track(
        &[],
        std::slice::from_ref(&pending),
        &sweep_of(vec![f.clone()], &[]),
        &BTreeMap::new(),
        &print,
    );
    assert_eq!(t.cancel, [40]);
    assert_eq!(t.reopen.len(), 1);
    assert_eq!(t.reopen[0].0, 7);
    assert!(t.insert.is_empty());
    assert!(t.opened.is_empty(), "a flap announces nothing new");

    // Another value is another episode.
    let other = finding(WORKER, "desiredCount", 1, 9);
    let t = track(
        &[],
        &[pending],
        &sweep_of(vec![other], &[]),
        &BTreeMap::new(),
        &print,
    );
    assert!(t.cancel.is_empty());
    assert_eq!(t.opened[WORKER].len(), 1);
}

#[test]
fn thirty_drifts_in_one_sweep_are_one_summary() {
    let findings: Vec<Finding> = (0..30)
        .map(|n| finding(&format!("metric-alarm/shop-a{n}"), "threshold", 80, 90))
        .collect();
    let t = track(&[], &[], &sweep_of(findings, &[]), &BTreeMap::new(), &print);
    let config = AlertConfig {
        quiet_period: Duration::from_secs(60),
        ..AlertConfig::default()
    };
    let cx = Context {
        environment: "shop",
        environment_uid: Uuid::nil(),
        alerts: None,
        role_arn: None,
        external_id: None,
        policy: DriftPolicy::Report,
        config: &config,
        now: Utc::now(),
    };
    let alerts = cx.drift_alerts(&t);
    assert_eq!(alerts.len(), 1);
    let summary = &alerts[0];
    assert_eq!(summary.alert.kind, "summary");
    assert_eq!(summary.alert.state, AlertState::Opened);
    assert_eq!(summary.alert.body["count"], json!(30));
    assert_eq!(summary.records.len(), 30);

    // Ten or fewer: one message per resource.
    let few: Vec<Finding> = (0..3)
        .map(|n| finding(&format!("metric-alarm/shop-a{n}"), "threshold", 80, 90))
        .collect();
    let t = track(&[], &[], &sweep_of(few, &[]), &BTreeMap::new(), &print);
    let alerts = cx.drift_alerts(&t);
    assert_eq!(alerts.len(), 3);
    assert!(alerts.iter().all(|a| a.alert.kind == "metric-alarm"));
    assert_eq!(alerts[0].alert.body["drift"][0]["observed"], json!(90));
}

mod accepting {
    use chrono::Utc;
    use serde_json::json;

    use crate::drift::accept::{accepted_spec, AcceptError};
    use crate::drift::{DriftRecord, DriftState};
    use crate::spec::{parse_document, Environment, Format};

    fn shop() -> Environment {
        parse_document(
            r#"
apiVersion: plumb.dev/v1
kind: Environment
metadata: {name: shop}
spec:
  region: us-east-1
  network: {subnets: [subnet-0123456789abcdef0, subnet-0123456789abcdef1], securityGroups: [sg-0123456789abcdef0]}
  ecs:
    executionRoleArn: arn:aws:iam::123456789012:role/shop-execution
    services:
      worker: {image: "registry.example.com/worker:1", cpu: 256, memory: 512, desiredCount: 1}
"#,
            Format::Yaml,
        )
        .unwrap()
    }

    fn record(resource: &str, field: &str, path: &str, observed: serde_json::Value) -> DriftRecord {
        DriftRecord {
            id: 1,
            environment: "shop".into(),
            resource: resource.into(),
            kind: resource.split_once('/').unwrap().0.into(),
            field: field.into(),
            spec_path: Some(path.into()),
            desired: None,
            observed: Some(observed),
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            state: DriftState::Open,
            resolution: None,
            resolved_at: None,
            flaps: 0,
            actor: None,
        }
    }

    #[test]
    fn a_value_the_spec_holds_as_it_is_is_taken() {
        let r = record(
            "ecs-service/shop-worker",
            "desiredCount",
            "ecs.services.worker.desiredCount",
            json!(4),
        );
        let changed = accepted_spec(&shop(), &r).unwrap();
        assert_eq!(
            changed.spec.ecs.unwrap().services["worker"].desired_count,
            4
        );
        // AWS reports task memory as a string; the spec holds a number.
        let r = record(
            "task-definition/shop-worker",
            "memory",
            "ecs.services.worker.memory",
            json!("1024"),
        );
        let changed = accepted_spec(&shop(), &r).unwrap();
        assert_eq!(changed.spec.ecs.unwrap().services["worker"].memory, 1024);
    }

    #[test]
    fn a_value_the_spec_shares_or_says_otherwise_is_refused() {
        // The region reaches every resource: accepting a log region would move them all.
        let r = record(
            "task-definition/shop-worker",
            "region",
            "region",
            json!("eu-west-1"),
        );
        let refused = accepted_spec(&shop(), &r).unwrap_err();
        assert!(
            matches!(refused, AcceptError::NotExpressible { .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("spec.region"), "{refused}");
        // A value validation refuses.
        let r = record(
            "ecs-service/shop-worker",
            "desiredCount",
            "ecs.services.worker.desiredCount",
            json!(-3),
        );
        assert!(accepted_spec(&shop(), &r).is_err());
        // A resource gone, and a record already resolved.
        let mut gone = record("ecs-service/shop-worker", "exists", "ecs", json!(false));
        gone.spec_path = None;
        assert!(matches!(
            accepted_spec(&shop(), &gone),
            Err(AcceptError::Gone(_))
        ));
        let mut done = record(
            "ecs-service/shop-worker",
            "desiredCount",
            "ecs.services.worker.desiredCount",
            json!(4),
        );
        done.state = DriftState::Resolved;
        assert!(matches!(
            accepted_spec(&shop(), &done),
            Err(AcceptError::NotOpen(_))
        ));
    }
}
