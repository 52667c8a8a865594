use super::*;

fn net(e: &mut Environment) -> &mut crate::spec::Network {
    e.spec.network.as_mut().unwrap()
}

#[test]
fn subnet_and_security_group_ids() {
    for bad in [
        "subnet-123",
        "subnet-0A1B2C3D",
        "subnet-0a1b2c3d4e5f6071",
        "0a1b2c3d",
    ] {
        assert_only(
            |e| net(e).subnets[0] = bad.into(),
            "spec.network.subnets[0]",
            "subnet- followed by 8 or 17 lower-case hex digits",
        );
    }
    assert_passes(|e| net(e).subnets[0] = "subnet-0a1b2c3d".into());
    assert_only(
        |e| net(e).security_groups[0] = "sg-xyz".into(),
        "spec.network.securityGroups[0]",
        "sg- followed by 8 or 17",
    );
    assert_only(
        |e| redis(e).security_groups = Some(vec!["default".into()]),
        "spec.redis.securityGroups[0]",
        "sg- followed by",
    );
}

#[test]
fn ids_are_not_repeated() {
    assert_only(
        |e| {
            let first = net(e).subnets[0].clone();
            net(e).subnets.push(first);
        },
        "spec.network.subnets[2]",
        "is listed twice",
    );
    assert_only(
        |e| svc(e, "api").security_groups = Some(vec!["sg-0a1b2c3d".into(), "sg-0a1b2c3d".into()]),
        "spec.ecs.services.api.securityGroups[1]",
        "is listed twice",
    );
}

#[test]
fn components_need_a_network() {
    assert_only(
        |e| e.spec.network = None,
        "spec.network",
        "required: ECS services, postgres, redis, rabbitmq need subnets and security groups",
    );
    assert_only(
        |e| net(e).subnets.clear(),
        "spec.network.subnets",
        "must not be empty",
    );
    let minimal = Environment::new("demo", EnvironmentSpec::in_region("us-east-1"));
    assert_eq!(validate(&minimal), Ok(()), "nothing needs a network");
}

#[test]
fn postgres_needs_two_subnets() {
    assert_only(
        |e| {
            net(e).subnets.pop();
        },
        "spec.network.subnets",
        "postgres needs at least 2 subnets",
    );
    assert_passes(|e| {
        net(e).subnets.pop();
        e.spec.postgres = None;
        e.spec.alarms.as_mut().unwrap().presets.postgres = None;
    });
}

#[test]
fn every_component_needs_a_security_group() {
    let errors = errors_after(|e| net(e).security_groups.clear());
    for field in [
        "spec.ecs.services.api.securityGroups",
        "spec.ecs.services.worker.securityGroups",
        "spec.postgres.securityGroups",
        "spec.redis.securityGroups",
        "spec.rabbitmq.securityGroups",
    ] {
        assert_has(&errors, field, "has no security group");
    }
    assert_eq!(errors.len(), 5, "{errors:#?}");
    // Each component's own list is enough, and a public broker needs none.
    assert_passes(|e| {
        net(e).security_groups.clear();
        let own = Some(vec!["sg-0123abcd".to_owned()]);
        svc(e, "api").security_groups = own.clone();
        svc(e, "worker").security_groups = own.clone();
        pg(e).security_groups = own.clone();
        redis(e).security_groups = own;
        mq(e).publicly_accessible = true;
    });
}

#[test]
fn an_empty_own_list_is_an_error() {
    assert_only(
        |e| pg(e).security_groups = Some(Vec::new()),
        "spec.postgres.securityGroups",
        "must not be empty; leave it out",
    );
}

#[test]
fn ecs_limits_subnets_and_security_groups() {
    assert_only(
        |e| {
            let groups = (0..6).map(|i| format!("sg-0000000{i}")).collect();
            svc(e, "worker").security_groups = Some(groups);
        },
        "spec.ecs.services.worker.securityGroups",
        "6 security groups; ECS allows at most 5",
    );
    assert_only(
        |e| net(e).subnets = (0..17).map(|i| format!("subnet-{i:08x}")).collect(),
        "spec.network.subnets",
        "17 subnets; ECS services accept at most 16",
    );
}
