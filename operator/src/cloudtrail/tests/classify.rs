//! Which events are dropped (and as what), and where the rest are looked up.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::cloudtrail::targets::Source;
use crate::engine::{ResourceId, ResourceKind};

const ACCOUNT: &str = "111122223333";

/// Plumb running as an ECS task role in its own account.
fn own() -> Own {
    Own::new(CallerIdentity {
        account: ACCOUNT.to_owned(),
        arn: "arn:aws:sts::111122223333:assumed-role/plumb-task/0a1b2c3d4e5f".to_owned(),
    })
}

/// alice, with the CLI, changing an ECS service's desired count.
fn update_service() -> Event {
    Event {
        source: Source::Ecs,
        name: "UpdateService".to_owned(),
        time: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
        region: "eu-west-1".to_owned(),
        account: Some(ACCOUNT.to_owned()),
        identity: Identity {
            type_: Some("IAMUser".to_owned()),
            arn: Some("arn:aws:iam::111122223333:user/alice".to_owned()),
            invoked_by: None,
            issuer_arn: None,
        },
        source_ip: Some("203.0.113.7".to_owned()),
        user_agent: Some("aws-cli/2.15.0 Python/3.11.6".to_owned()),
        read_only: Some(false),
        error_code: None,
        request: json!({"cluster": "shop-cluster", "service": "shop-api", "desiredCount": 5}),
    }
}

fn assumed(arn: &str) -> Identity {
    Identity {
        type_: Some("AssumedRole".to_owned()),
        arn: Some(arn.to_owned()),
        invoked_by: None,
        issuer_arn: None,
    }
}

fn outcome(event: &Event) -> Option<EventOutcome> {
    match classify(event, &own()) {
        Verdict::Drop(outcome) => Some(outcome),
        Verdict::Lookup { .. } => None,
    }
}

#[test]
fn a_persons_change_is_looked_up_in_its_region_and_account() {
    let verdict = classify(&update_service(), &own());
    assert_eq!(
        verdict,
        Verdict::Lookup {
            scope: Scope {
                region: "eu-west-1".to_owned(),
                claim_accounts: vec![String::new(), ACCOUNT.to_owned()],
                account: Some(ACCOUNT.to_owned()),
            },
            targets: vec![Target::Resource {
                id: ResourceId::new(ResourceKind::EcsService, "shop-api"),
                within: Some(ResourceId::new(ResourceKind::EcsCluster, "shop-cluster")),
            }],
        }
    );
}

#[test]
fn an_event_in_another_account_is_looked_up_under_that_account_only() {
    let mut event = update_service();
    event.account = Some("444455556666".to_owned());
    let Verdict::Lookup { scope, .. } = classify(&event, &own()) else {
        panic!("a lookup");
    };
    assert_eq!(scope.claim_accounts, ["444455556666"]);
    assert_eq!(scope.account.as_deref(), Some("444455556666"));

    event.account = None;
    let Verdict::Lookup { scope, .. } = classify(&event, &own()) else {
        panic!("a lookup");
    };
    assert_eq!(
        scope.claim_accounts,
        ["", ACCOUNT],
        "no account: Plumb's own"
    );

    event.account = Some("not-an-account".to_owned());
    let Verdict::Lookup { scope, .. } = classify(&event, &own()) else {
        panic!("a lookup");
    };
    assert!(scope.claim_accounts.is_empty(), "{scope:?}");
}

#[test]
fn plumbs_own_calls_are_dropped() {
    for arn in [
        // Plumb itself.
        "arn:aws:sts::111122223333:assumed-role/plumb-task/0a1b2c3d4e5f",
        // Another replica: another session of the same role.
        "arn:aws:sts::111122223333:assumed-role/plumb-task/9f8e7d6c5b4a",
        // Plumb in an environment's role, in any account.
        "arn:aws:sts::444455556666:assumed-role/shop-deployer/plumb",
        "arn:aws-cn:sts::444455556666:assumed-role/shop-deployer/plumb",
    ] {
        let mut event = update_service();
        event.identity = assumed(arn);
        assert_eq!(outcome(&event), Some(EventOutcome::Own), "{arn}");
    }
}

#[test]
fn a_person_in_a_role_near_plumbs_is_not_plumb() {
    for arn in [
        "arn:aws:sts::111122223333:assumed-role/admin/alice",
        "arn:aws:sts::444455556666:assumed-role/plumb-task/0a1b2c3d4e5f",
        "arn:aws:sts::444455556666:assumed-role/shop-deployer/plumb-admin",
        "arn:aws:iam::111122223333:user/plumb",
        "arn:aws:sts::111122223333:federated-user/plumb",
    ] {
        let mut event = update_service();
        event.identity = assumed(arn);
        assert_eq!(outcome(&event), None, "{arn}");
    }
}

#[test]
fn plumb_with_a_users_credentials_knows_only_that_user() {
    let own = Own::new(CallerIdentity {
        account: ACCOUNT.to_owned(),
        arn: "arn:aws:iam::111122223333:user/plumb".to_owned(),
    });
    let mut event = update_service();
    event.identity.arn = Some("arn:aws:iam::111122223333:user/plumb".to_owned());
    assert_eq!(classify(&event, &own), Verdict::Drop(EventOutcome::Own));
    event.identity.arn = Some("arn:aws:iam::111122223333:user/plumber".to_owned());
    assert!(matches!(classify(&event, &own), Verdict::Lookup { .. }));
}

/// Makes an event look like AWS made it, one way.
type Sign = fn(&mut Event);

#[test]
fn calls_aws_made_itself_are_dropped_by_any_one_sign() {
    let service_host = "ecs.application-autoscaling.amazonaws.com";
    let signs: [(&str, Sign); 6] = [
        ("type", |e| e.identity.type_ = Some("AWSService".to_owned())),
        ("invokedBy", |e| {
            e.identity.invoked_by = Some("ecs.application-autoscaling.amazonaws.com".to_owned())
        }),
        ("sourceIPAddress", |e| {
            e.source_ip = Some("ecs.application-autoscaling.amazonaws.com".to_owned())
        }),
        ("userAgent", |e| {
            e.user_agent = Some("application-autoscaling.amazonaws.com".to_owned())
        }),
        ("service-linked role", |e| {
            e.identity = assumed(
                "arn:aws:sts::111122223333:assumed-role/\
                 AWSServiceRoleForApplicationAutoScaling_ECSService/AutoScaling",
            )
        }),
        ("session issuer", |e| {
            e.identity.issuer_arn = Some(
                "arn:aws:iam::111122223333:role/aws-service-role/\
                 ecs.application-autoscaling.amazonaws.com/Whatever"
                    .to_owned(),
            )
        }),
    ];
    for (sign, set) in signs {
        let mut event = update_service();
        set(&mut event);
        assert_eq!(
            outcome(&event),
            Some(EventOutcome::AwsService),
            "{sign} ({service_host})"
        );
    }
}

#[test]
fn the_console_is_a_person_not_a_service() {
    for host in [
        "console.amazonaws.com",
        "console.ecs.amazonaws.com",
        "signin.amazonaws.com",
    ] {
        let mut event = update_service();
        event.user_agent = Some(host.to_owned());
        event.identity.invoked_by = Some(host.to_owned());
        assert_eq!(outcome(&event), None, "{host}");
    }
    let mut event = update_service();
    event.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64) via ecs.amazonaws.com".to_owned());
    assert_eq!(outcome(&event), None);
}

#[test]
fn reads_are_dropped_whether_or_not_the_event_says_so() {
    let mut event = update_service();
    event.read_only = Some(true);
    assert_eq!(outcome(&event), Some(EventOutcome::ReadOnly));
    for name in ["DescribeServices", "ListServices", "GetMetricData"] {
        let mut event = update_service();
        event.read_only = None;
        event.name = name.to_owned();
        assert_eq!(outcome(&event), Some(EventOutcome::ReadOnly), "{name}");
    }
    // Read-only wins over everything else: Plumb's own Describe calls are reads.
    let mut event = update_service();
    event.name = "DescribeServices".to_owned();
    event.read_only = Some(true);
    event.identity = assumed("arn:aws:sts::111122223333:assumed-role/plumb-task/0a1b2c3d4e5f");
    assert_eq!(outcome(&event), Some(EventOutcome::ReadOnly));
}

#[test]
fn failed_calls_and_calls_that_change_nothing_managed_are_ignored() {
    let mut event = update_service();
    event.error_code = Some("AccessDenied".to_owned());
    assert_eq!(outcome(&event), Some(EventOutcome::Ignored));
    let mut event = update_service();
    event.source = Source::CloudWatch;
    event.name = "SetAlarmState".to_owned();
    event.request = json!({"alarmName": "shop-api-cpu-high", "stateValue": "ALARM"});
    assert_eq!(outcome(&event), Some(EventOutcome::Ignored));
}

#[test]
fn a_call_naming_nothing_plumb_could_hold_is_foreign_and_one_missing_its_names_unparseable() {
    let mut event = update_service();
    event.source = Source::AutoScaling;
    event.name = "RegisterScalableTarget".to_owned();
    event.request = json!({
        "serviceNamespace": "dynamodb", "resourceId": "table/orders",
        "scalableDimension": "dynamodb:table:ReadCapacityUnits"
    });
    assert_eq!(outcome(&event), Some(EventOutcome::Foreign));
    let mut event = update_service();
    event.request = Value::Null;
    assert_eq!(outcome(&event), Some(EventOutcome::Unparseable));
}
