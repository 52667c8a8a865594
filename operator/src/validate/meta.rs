//! The document header, metadata, and the environment-wide parts of the spec: region, role,
//! tags, policy and alerts. Also the names derived from the environment name.

use std::sync::LazyLock;

use regex::Regex;

use super::arn::{self, Kind};
use super::rules::{external_id_problem, in_range, name_problem, MAX_ENV_NAME};
use super::Ctx;
use crate::names::{self, limits};
use crate::spec::{API_VERSION, KIND};

/// Bounds of `spec.policy.resyncSeconds`: no busier than every 10 s, no lazier than daily.
const MIN_RESYNC_SECONDS: u32 = 10;
const MAX_RESYNC_SECONDS: u32 = 86_400;

/// AWS allows 50 tags a resource; Plumb adds `plumb:environment` and `plumb:managed-by`.
const MAX_USER_TAGS: usize = 48;

/// Characters AWS allows in tag keys and values (letters, digits, spaces and `_.:/=+-@`).
static TAG_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").expect("static pattern"));
/// A label name, or a label key's part after the prefix.
static LABEL_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$").expect("static pattern")
});
/// A label key's optional prefix: a DNS subdomain.
static LABEL_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")
        .expect("static pattern")
});
static IGNORE_SEGMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_*-]+$").expect("static pattern"));

/// First segments an ignore rule may start with: the spec's fields Plumb manages in AWS.
const IGNORABLE: [&str; 8] = [
    "tags", "alerts", "network", "ecs", "postgres", "redis", "rabbitmq", "alarms",
];

pub(super) fn check(cx: &mut Ctx<'_>) {
    let env = cx.env;
    if env.api_version != API_VERSION {
        cx.err("apiVersion", format!("must be {API_VERSION}"));
    }
    if env.kind != KIND {
        cx.err("kind", format!("must be {KIND}"));
    }
    let name = &env.metadata.name;
    if let Some(problem) = name_problem(name) {
        cx.err("metadata.name", problem);
    } else if name.len() > MAX_ENV_NAME {
        cx.err(
            "metadata.name",
            format!("is {} characters; the limit is {MAX_ENV_NAME}", name.len()),
        );
    }
    derived_names(cx);
    labels(cx);

    let spec = &env.spec;
    if cx.partition.is_none() {
        cx.err(
            "spec.region",
            "must be an AWS region such as us-east-1, eu-central-1 or us-gov-west-1",
        );
    }
    if let Some(role) = &spec.role_arn {
        arn::check(cx, "spec.roleArn", role, Kind::IamRole);
    }
    external_id(cx);
    tags(cx);
    ignore_rules(cx);
    in_range(
        cx,
        "spec.policy.resyncSeconds",
        "resync interval",
        spec.policy.resync_seconds,
        MIN_RESYNC_SECONDS,
        MAX_RESYNC_SECONDS,
    );
    if let Some(alerts) = &spec.alerts {
        let mut topics = vec![(
            "spec.alerts.snsTopicArn".to_owned(),
            alerts.sns_topic_arn.as_str(),
        )];
        topics.extend(
            alerts
                .topics
                .iter()
                .map(|(severity, arn)| (format!("spec.alerts.topics.{}", severity.as_str()), arn)),
        );
        for (field, arn) in topics {
            if let Some(topic) = arn::check(cx, &field, arn, Kind::SnsTopic) {
                if topic.resource.ends_with(".fifo") && has_alarms(cx) {
                    cx.err(
                        field,
                        "CloudWatch alarms cannot notify a FIFO topic; use a standard topic",
                    );
                }
            }
        }
    }
}

/// An external id goes with the role it is sent to, and follows STS's rule.
fn external_id(cx: &mut Ctx<'_>) {
    let spec = &cx.env.spec;
    let Some(external_id) = &spec.external_id else {
        return;
    };
    let field = "spec.externalId";
    if let Some(problem) = external_id_problem(external_id) {
        cx.err(field, problem);
    }
    if spec.role_arn.is_none() {
        cx.err(
            field,
            "is sent only when assuming spec.roleArn; set roleArn or remove externalId",
        );
    }
}

fn has_alarms(cx: &Ctx<'_>) -> bool {
    cx.env.spec.alarms.as_ref().is_some_and(|a| {
        !a.custom.is_empty()
            || a.presets.ecs.is_some()
            || a.presets.postgres.is_some()
            || a.presets.redis.is_some()
            || a.presets.rabbitmq.is_some()
    })
}

/// Names of environment-wide resources must fit their service's limits. Names that also
/// depend on a service or alarm name are checked where those are.
fn derived_names(cx: &mut Ctx<'_>) {
    if !cx.name_ok {
        return;
    }
    let env = cx.env.metadata.name.as_str();
    let spec = &cx.env.spec;
    let mut derived = Vec::new();
    if spec.ecs.is_some() {
        derived.push((names::ecs_cluster(env), limits::ECS_CLUSTER, "ECS cluster"));
    }
    if let Some(pg) = &spec.postgres {
        match &pg.aurora {
            // The last instance has the longest name.
            Some(aurora) => derived.push((
                names::aurora_instance(env, aurora.readers.saturating_add(1)),
                limits::RDS_IDENTIFIER,
                "Aurora instance",
            )),
            None => derived.push((names::postgres(env), limits::RDS_IDENTIFIER, "RDS instance")),
        }
    }
    if spec.redis.is_some() {
        derived.push((
            names::redis(env),
            limits::ELASTICACHE_REPLICATION_GROUP,
            "ElastiCache replication group",
        ));
    }
    if spec.rabbitmq.is_some() {
        derived.push((names::rabbitmq(env), limits::MQ_BROKER, "Amazon MQ broker"));
    }
    for (name, limit, what) in derived {
        if name.len() > limit {
            cx.err(
                "metadata.name",
                format!(
                    "too long: the {what} name {name:?} is {} characters and AWS allows {limit}",
                    name.len()
                ),
            );
        }
    }
}

fn labels(cx: &mut Ctx<'_>) {
    for (key, value) in &cx.env.metadata.labels {
        let field = format!("metadata.labels.{key}");
        if let Some(problem) = label_key_problem(key) {
            cx.err(field.clone(), problem);
        }
        if value.len() > 63 || !(value.is_empty() || LABEL_NAME.is_match(value)) {
            cx.err(
                field,
                "value must be at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
            );
        }
    }
}

fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.len() > 253 || !LABEL_PREFIX.is_match(prefix) {
            return Some(
                "key prefix must be a DNS subdomain (lower-case, at most 253 characters) followed by '/'"
                    .to_owned(),
            );
        }
    }
    (name.len() > 63 || !LABEL_NAME.is_match(name)).then(|| {
        "key name must be 1–63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
            .to_owned()
    })
}

fn tags(cx: &mut Ctx<'_>) {
    let tags = &cx.env.spec.tags;
    if tags.len() > MAX_USER_TAGS {
        cx.err(
            "spec.tags",
            format!(
                "{} tags; at most {MAX_USER_TAGS} (AWS allows 50 a resource and Plumb adds 2)",
                tags.len()
            ),
        );
    }
    for (key, value) in tags {
        let field = format!("spec.tags.{key}");
        let lower = key.to_ascii_lowercase();
        if key.is_empty() || key.chars().count() > 128 {
            cx.err(field.clone(), "key must be 1–128 characters");
        } else if lower.starts_with("aws:") || lower.starts_with("plumb:") {
            cx.err(
                field.clone(),
                "keys starting with aws: or plumb: are reserved",
            );
        } else if !TAG_TEXT.is_match(key) {
            cx.err(
                field.clone(),
                "key may contain only letters, digits, spaces and _ . : / = + - @",
            );
        }
        if value.chars().count() > 256 {
            cx.err(field.clone(), "value must be at most 256 characters");
        } else if !TAG_TEXT.is_match(value) {
            cx.err(
                field,
                "value may contain only letters, digits, spaces and _ . : / = + - @",
            );
        }
    }
}

fn ignore_rules(cx: &mut Ctx<'_>) {
    for (i, rule) in cx.env.spec.policy.ignore.iter().enumerate() {
        let field = format!("spec.policy.ignore[{i}].path");
        let path = rule.path.as_str();
        let segments: Vec<&str> = path.split('.').collect();
        if path.is_empty() {
            cx.err(field, "must not be empty; e.g. ecs.services.*.image");
        } else if path.starts_with("spec.") {
            cx.err(field, "paths are below spec; drop the leading \"spec.\"");
        } else if let Some(bad) = segments.iter().find(|s| !IGNORE_SEGMENT.is_match(s)) {
            cx.err(
                field,
                format!(
                    "segment {bad:?} is not allowed; segments are letters, digits, '_', '-' or '*', separated by single dots"
                ),
            );
        } else if segments.iter().any(|s| s.contains('*') && *s != "*") {
            cx.err(
                field,
                "'*' must be a whole segment; it matches exactly one segment",
            );
        } else if segments[0] != "*" && !IGNORABLE.contains(&segments[0]) {
            cx.err(
                field,
                format!(
                    "{:?} is not a managed part of the spec; start with one of {} or *",
                    segments[0],
                    IGNORABLE.join(", ")
                ),
            );
        }
    }
}
