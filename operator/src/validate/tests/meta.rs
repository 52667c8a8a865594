use super::*;

#[test]
fn header_must_be_v1_environment() {
    assert_only(
        |e| e.api_version = "plumb.dev/v2".into(),
        "apiVersion",
        "must be plumb.dev/v1",
    );
    assert_only(
        |e| e.kind = "Environments".into(),
        "kind",
        "must be Environment",
    );
}

#[test]
fn environment_names() {
    for (name, fragment) in [
        ("", "must not be empty"),
        ("Shop", "'S' is not allowed"),
        ("shop_prod", "'_' is not allowed"),
        ("9shop", "must start with a lower-case letter"),
        ("shop--prod", "must not contain \"--\""),
        ("shop-", "must not end with a hyphen"),
    ] {
        assert_only(|e| e.metadata.name = name.into(), "metadata.name", fragment);
    }
    assert_only(
        |e| e.metadata.name = "a".repeat(64),
        "metadata.name",
        "64 characters; the limit is 63",
    );
}

#[test]
fn derived_names_must_fit_each_service_limit() {
    // {env}-redis: 35 + 6 = 41 > 40; every other derived name still fits.
    assert_only(
        |e| e.metadata.name = "a".repeat(35),
        "metadata.name",
        "ElastiCache replication group name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-redis\" is 41 characters and AWS allows 40",
    );
    let without_redis = |e: &mut Environment| {
        e.spec.redis = None;
        e.spec.alarms.as_mut().unwrap().presets.redis = None;
    };
    // {env}-rabbitmq: 42 + 9 = 51 > 50.
    assert_only(
        |e| {
            without_redis(e);
            e.metadata.name = "b".repeat(42);
        },
        "metadata.name",
        "Amazon MQ broker name",
    );
    // {env}-postgres: 55 + 9 = 64 > 63 (RabbitMQ removed too).
    assert_only(
        |e| {
            without_redis(e);
            e.spec.rabbitmq = None;
            e.spec.alarms.as_mut().unwrap().presets.rabbitmq = None;
            e.metadata.name = "c".repeat(55);
        },
        "metadata.name",
        "RDS instance name",
    );
    // Aurora's last instance {env}-postgres-16 with 15 readers: 52 + 12 = 64 > 63.
    let errors = errors_after(|e| {
        without_redis(e);
        e.spec.rabbitmq = None;
        e.spec.alarms.as_mut().unwrap().presets.rabbitmq = None;
        e.metadata.name = "d".repeat(52);
        let pg = pg(e);
        pg.instance = None;
        pg.engine_version = "15.4".into();
        pg.aurora = Some(crate::spec::AuroraServerless {
            min_capacity: 0.5,
            max_capacity: 4.0,
            readers: 15,
        });
    });
    assert_has(&errors, "metadata.name", "-postgres-16\" is 64 characters");
}

#[test]
fn labels_follow_kubernetes_rules() {
    assert_passes(|e| {
        e.metadata
            .labels
            .insert("example.com/tier".into(), "back_end.v2".into());
        e.metadata.labels.insert("empty".into(), String::new());
    });
    assert_only(
        |e| {
            e.metadata.labels.insert("team name".into(), "x".into());
        },
        "metadata.labels.team name",
        "key name must be 1–63 characters",
    );
    assert_only(
        |e| {
            e.metadata
                .labels
                .insert("Example.com/tier".into(), "x".into());
        },
        "metadata.labels.Example.com/tier",
        "key prefix must be a DNS subdomain",
    );
    assert_only(
        |e| {
            e.metadata.labels.insert("tier".into(), "-back".into());
        },
        "metadata.labels.tier",
        "value must be at most 63 characters",
    );
    assert_only(
        |e| {
            e.metadata.labels.insert("tier".into(), "v".repeat(64));
        },
        "metadata.labels.tier",
        "value must be at most 63 characters",
    );
}

#[test]
fn region_must_be_an_aws_region() {
    assert_only(
        |e| e.spec.region = "us-east".into(),
        "spec.region",
        "must be an AWS region",
    );
    assert_only(
        |e| e.spec.region = "US-EAST-1".into(),
        "spec.region",
        "must be an AWS region",
    );
}

#[test]
fn role_arn_must_be_an_iam_role_in_the_regions_partition() {
    assert_only(
        |e| e.spec.role_arn = Some("arn:aws:iam::1234:role/plumb".into()),
        "spec.roleArn",
        "12 digits",
    );
    assert_only(
        |e| e.spec.role_arn = Some("arn:aws:iam::123456789012:user/plumb".into()),
        "spec.roleArn",
        "must be an IAM role ARN",
    );
    // Moving the environment to GovCloud makes every aws-partition ARN wrong.
    let errors = errors_after(|e| e.spec.region = "us-gov-west-1".into());
    assert_has(
        &errors,
        "spec.roleArn",
        "spec.region is in partition aws-us-gov",
    );
    assert_has(
        &errors,
        "spec.alerts.snsTopicArn",
        "spec.region is in partition aws-us-gov",
    );
}

#[test]
fn external_id_follows_sts_rules_and_needs_a_role() {
    for ok in [
        "ab",
        "tenant-42",
        "Plumb_shop+prod=1,a.b@c:d/e-f",
        &"x".repeat(1224),
    ] {
        assert_passes(|e| e.spec.external_id = Some(ok.to_owned()));
    }
    let rule = "2–1224 characters: letters, digits and _ + = , . @ : / -";
    for bad in [
        "",
        "a",
        "has space",
        "semi;colon",
        "ünïcode",
        &"x".repeat(1225),
    ] {
        let errors = errors_after(|e| e.spec.external_id = Some(bad.to_owned()));
        assert_has(&errors, "spec.externalId", rule);
        assert_eq!(errors.len(), 1, "{bad:?}: {errors:#?}");
    }
    let errors = errors_after(|e| e.spec.external_id = Some("tenant 42;secret".into()));
    assert!(
        errors.iter().all(|e| !e.reason.contains("tenant 42")),
        "the value is never echoed: {errors:#?}"
    );
    assert_only(
        |e| {
            e.spec.role_arn = None;
            e.spec.external_id = Some("tenant-42".into());
        },
        "spec.externalId",
        "set roleArn or remove externalId",
    );
}

#[test]
fn external_id_is_camel_case_and_optional() {
    let yaml = VALID.replace(
        "  roleArn: arn:aws:iam::123456789012:role/plumb\n",
        "  roleArn: arn:aws:iam::123456789012:role/plumb\n  externalId: tenant-42\n",
    );
    let env = parse_document(&yaml, Format::Yaml).expect("parses");
    assert_eq!(env.spec.external_id.as_deref(), Some("tenant-42"));
    let json = serde_json::to_value(&env.spec).expect("serialises");
    assert_eq!(json["externalId"], "tenant-42");
    assert!(valid().spec.external_id.is_none());
    let json = serde_json::to_value(&valid().spec).expect("serialises");
    assert!(json.get("externalId").is_none(), "left out when unset");
}

#[test]
fn tags_follow_aws_rules() {
    assert_only(
        |e| {
            for i in 0..47 {
                e.spec.tags.insert(format!("k{i}"), "v".into());
            }
        },
        "spec.tags",
        "49 tags; at most 48",
    );
    for key in ["aws:cloudformation:stack", "AWS:x", "plumb:environment"] {
        assert_only(
            |e| {
                e.spec.tags.insert(key.into(), "v".into());
            },
            &format!("spec.tags.{key}"),
            "reserved",
        );
    }
    assert_only(
        |e| {
            e.spec.tags.insert("owner!".into(), "v".into());
        },
        "spec.tags.owner!",
        "key may contain only",
    );
    assert_only(
        |e| {
            e.spec.tags.insert(String::new(), "v".into());
        },
        "spec.tags.",
        "key must be 1–128 characters",
    );
    assert_only(
        |e| {
            e.spec.tags.insert("k".repeat(129), "v".into());
        },
        &format!("spec.tags.{}", "k".repeat(129)),
        "key must be 1–128 characters",
    );
    assert_only(
        |e| {
            e.spec.tags.insert("owner".into(), "v".repeat(257));
        },
        "spec.tags.owner",
        "value must be at most 256 characters",
    );
    assert_only(
        |e| {
            e.spec.tags.insert("owner".into(), "a;b".into());
        },
        "spec.tags.owner",
        "value may contain only",
    );
    assert_passes(|e| {
        e.spec
            .tags
            .insert("Équipe name".into(), "über team @ shop/prod = +1".into());
    });
}

#[test]
fn ignore_paths() {
    let with_path = |path: &str| {
        let path = path.to_owned();
        move |e: &mut Environment| {
            e.spec
                .policy
                .ignore
                .push(crate::spec::IgnoreRule { path, reason: None })
        }
    };
    let field = "spec.policy.ignore[1].path";
    assert_only(with_path(""), field, "must not be empty");
    assert_only(
        with_path("spec.ecs.services.api.image"),
        field,
        "drop the leading",
    );
    assert_only(
        with_path("ecs..image"),
        field,
        "segment \"\" is not allowed",
    );
    assert_only(
        with_path("ecs.services.api image"),
        field,
        "segment \"api image\"",
    );
    assert_only(
        with_path("ecs.services.api*.image"),
        field,
        "'*' must be a whole segment",
    );
    assert_only(
        with_path("servics.api.image"),
        field,
        "\"servics\" is not a managed part",
    );
    assert_passes(with_path("*.securityGroups"));
    assert_passes(with_path("postgres.instance.allocatedStorage"));
}

#[test]
fn resync_interval() {
    let field = "spec.policy.resyncSeconds";
    assert_only(
        |e| e.spec.policy.resync_seconds = 9,
        field,
        "resync interval 9 is out of range; allowed 10–86400",
    );
    assert_only(
        |e| e.spec.policy.resync_seconds = 86_401,
        field,
        "out of range",
    );
    assert_passes(|e| e.spec.policy.resync_seconds = 10);
    assert_passes(|e| e.spec.policy.resync_seconds = 86_400);
    // Left out, it is the visible default.
    assert_eq!(valid().spec.policy.resync_seconds, 300);
    let yaml = serde_yaml_ng::to_string(&valid().spec.policy).unwrap();
    assert!(yaml.contains("resyncSeconds: 300"), "{yaml}");
}

#[test]
fn alerts_topic() {
    assert_only(
        |e| e.spec.alerts.as_mut().unwrap().sns_topic_arn = "shop-alerts".into(),
        "spec.alerts.snsTopicArn",
        "is not an ARN; it must be an SNS topic ARN",
    );
    assert_only(
        |e| {
            e.spec.alerts.as_mut().unwrap().sns_topic_arn =
                "arn:aws:sns:us-east-1:123456789012:shop-alerts.fifo".into()
        },
        "spec.alerts.snsTopicArn",
        "cannot notify a FIFO topic",
    );
    // Without alarms a FIFO topic only carries Plumb's own drift alerts.
    assert_passes(|e| {
        e.spec.alarms = None;
        e.spec.alerts.as_mut().unwrap().sns_topic_arn =
            "arn:aws:sns:us-east-1:123456789012:shop-alerts.fifo".into();
    });
    // A topic in another region is legal.
    assert_passes(|e| {
        e.spec.alerts.as_mut().unwrap().sns_topic_arn =
            "arn:aws:sns:eu-west-1:123456789012:shop-alerts".into();
    });
}
