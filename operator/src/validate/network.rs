//! Network placement: subnet and security-group ids, and that every component that runs in
//! the VPC has subnets and at least one security group.

use std::sync::LazyLock;

use regex::Regex;

use super::rules::repeated;
use super::Ctx;

static SUBNET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$").expect("static pattern"));
static SECURITY_GROUP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$").expect("static pattern"));

/// ECS's awsvpc configuration takes at most 16 subnets and 5 security groups.
const ECS_MAX_SUBNETS: usize = 16;
const ECS_MAX_SECURITY_GROUPS: usize = 5;

/// A component placed in the VPC: where its own security groups are, and the list itself.
struct Placed<'a> {
    what: String,
    field: String,
    own_groups: Option<&'a Vec<String>>,
    is_ecs: bool,
}

pub(super) fn check(cx: &mut Ctx<'_>) {
    let spec = &cx.env.spec;
    if let Some(net) = &spec.network {
        ids(cx, "spec.network.subnets", &net.subnets, &SUBNET, "subnet-");
        ids(
            cx,
            "spec.network.securityGroups",
            &net.security_groups,
            &SECURITY_GROUP,
            "sg-",
        );
    }

    let placed = placed(cx);
    for p in &placed {
        if let Some(groups) = p.own_groups {
            if groups.is_empty() {
                cx.err(
                    p.field.clone(),
                    "must not be empty; leave it out to use network.securityGroups",
                );
            }
            ids(cx, &p.field, groups, &SECURITY_GROUP, "sg-");
        }
    }
    if placed.is_empty() {
        return;
    }
    let mut users: Vec<&str> = Vec::new();
    for p in &placed {
        let name = if p.is_ecs {
            "ECS services"
        } else {
            p.what.as_str()
        };
        if !users.contains(&name) {
            users.push(name);
        }
    }
    let users = users.join(", ");
    let Some(net) = &spec.network else {
        cx.err(
            "spec.network",
            format!("required: {users} need subnets and security groups"),
        );
        return;
    };
    if net.subnets.is_empty() {
        cx.err(
            "spec.network.subnets",
            format!("must not be empty: {users} run in these subnets"),
        );
    } else if spec.postgres.is_some() && net.subnets.len() < 2 {
        cx.err(
            "spec.network.subnets",
            "postgres needs at least 2 subnets in different availability zones (an RDS DB subnet group spans 2 AZs)",
        );
    }
    if placed.iter().any(|p| p.is_ecs) && net.subnets.len() > ECS_MAX_SUBNETS {
        cx.err(
            "spec.network.subnets",
            format!(
                "{} subnets; ECS services accept at most {ECS_MAX_SUBNETS}",
                net.subnets.len()
            ),
        );
    }
    for p in &placed {
        let groups = p.own_groups.unwrap_or(&net.security_groups);
        if p.own_groups.is_none() && groups.is_empty() {
            cx.err(
                p.field.clone(),
                format!(
                    "{} has no security group; set network.securityGroups or this list",
                    p.what
                ),
            );
        } else if p.is_ecs && groups.len() > ECS_MAX_SECURITY_GROUPS {
            cx.err(
                p.field.clone(),
                format!(
                    "{} has {} security groups; ECS allows at most {ECS_MAX_SECURITY_GROUPS}",
                    p.what,
                    groups.len()
                ),
            );
        }
    }
}

/// Every component that needs subnets and security groups.
fn placed<'a>(cx: &Ctx<'a>) -> Vec<Placed<'a>> {
    let spec = &cx.env.spec;
    let mut out = Vec::new();
    if let Some(ecs) = &spec.ecs {
        for (name, svc) in &ecs.services {
            out.push(Placed {
                what: format!("service {name}"),
                field: format!("spec.ecs.services.{name}.securityGroups"),
                own_groups: svc.security_groups.as_ref(),
                is_ecs: true,
            });
        }
    }
    if let Some(pg) = &spec.postgres {
        out.push(Placed {
            what: "postgres".to_owned(),
            field: "spec.postgres.securityGroups".to_owned(),
            own_groups: pg.security_groups.as_ref(),
            is_ecs: false,
        });
    }
    if let Some(redis) = &spec.redis {
        out.push(Placed {
            what: "redis".to_owned(),
            field: "spec.redis.securityGroups".to_owned(),
            own_groups: redis.security_groups.as_ref(),
            is_ecs: false,
        });
    }
    // A publicly accessible RabbitMQ broker is not placed in the VPC.
    if let Some(mq) = spec.rabbitmq.as_ref().filter(|mq| !mq.publicly_accessible) {
        out.push(Placed {
            what: "rabbitmq".to_owned(),
            field: "spec.rabbitmq.securityGroups".to_owned(),
            own_groups: mq.security_groups.as_ref(),
            is_ecs: false,
        });
    }
    out
}

fn ids(cx: &mut Ctx<'_>, field: &str, ids: &[String], pattern: &Regex, prefix: &str) {
    for (i, id) in ids.iter().enumerate() {
        if !pattern.is_match(id) {
            cx.err(
                format!("{field}[{i}]"),
                format!("{id:?} is not an id of the form {prefix} followed by 8 or 17 lower-case hex digits"),
            );
        }
    }
    for i in repeated(ids) {
        cx.err(
            format!("{field}[{i}]"),
            format!("{:?} is listed twice", ids[i]),
        );
    }
}
