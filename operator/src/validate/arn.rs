//! ARNs a spec refers to: their shape, and that they live in the environment's partition.
//!
//! Reasons never echo the value: a field meant for a secret's ARN may hold the secret itself.

use std::sync::LazyLock;

use regex::Regex;

use super::rules::REGION;
use super::Ctx;

/// What kind of resource an ARN field must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    IamRole,
    SnsTopic,
    TargetGroup,
    /// Secrets Manager secret (optionally with ECS's `:jsonKey:versionStage:versionId`) or
    /// SSM parameter: what an ECS container's `secrets` accept.
    ContainerSecret,
    /// A Secrets Manager secret, nothing else.
    Secret,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Self::IamRole => "an IAM role ARN (arn:aws:iam::123456789012:role/name)",
            Self::SnsTopic => "an SNS topic ARN (arn:aws:sns:us-east-1:123456789012:topic)",
            Self::TargetGroup => {
                "a target group ARN (arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/name/0123456789abcdef)"
            }
            Self::ContainerSecret => {
                "a Secrets Manager secret ARN (arn:aws:secretsmanager:us-east-1:123456789012:secret:name, optionally followed by :jsonKey:versionStage:versionId) or an SSM parameter ARN (arn:aws:ssm:us-east-1:123456789012:parameter/name)"
            }
            Self::Secret => {
                "a Secrets Manager secret ARN (arn:aws:secretsmanager:us-east-1:123456789012:secret:name)"
            }
        }
    }

    fn is_secret(self) -> bool {
        matches!(self, Self::ContainerSecret | Self::Secret)
    }
}

/// The parts of a well-formed ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

static ACCOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{12}$").expect("static pattern"));
static ROLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^role/(?:[A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}$").expect("static pattern")
});
static TOPIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]+(?:\.fifo)?$").expect("static pattern"));
static TARGET_GROUP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^targetgroup/[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?/[0-9a-f]{16}$")
        .expect("static pattern")
});
/// `secret:name` and ECS's optional `:jsonKey:versionStage:versionId` (each part may be empty).
static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^secret:[A-Za-z0-9/_+=.@-]{1,512}(:[^:]*:[^:]*:[^:]*)?$").expect("static pattern")
});
static PARAMETER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^parameter/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$").expect("static pattern")
});

pub(super) const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// Splits `arn:partition:service:region:account:resource`.
pub(super) fn parse(text: &str) -> Option<Arn<'_>> {
    let mut parts = text.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let arn = Arn {
        partition: parts.next()?,
        service: parts.next()?,
        region: parts.next()?,
        account: parts.next()?,
        resource: parts.next()?,
    };
    (!arn.partition.is_empty() && !arn.service.is_empty() && !arn.resource.is_empty())
        .then_some(arn)
}

/// Checks that `value` is an ARN of `kind` in the environment's partition; returns it when so.
pub(super) fn check<'v>(
    cx: &mut Ctx<'_>,
    field: &str,
    value: &'v str,
    kind: Kind,
) -> Option<Arn<'v>> {
    match problem(value, kind, cx.partition) {
        Some(reason) => {
            cx.err(field, reason);
            None
        }
        None => parse(value),
    }
}

/// `value` as an ARN of `kind`, when it is a valid one.
pub(super) fn valid<'v>(
    value: &'v str,
    kind: Kind,
    env_partition: Option<&str>,
) -> Option<Arn<'v>> {
    problem(value, kind, env_partition)
        .is_none()
        .then(|| parse(value))
        .flatten()
}

fn problem(value: &str, kind: Kind, env_partition: Option<&str>) -> Option<String> {
    let Some(arn) = parse(value) else {
        return Some(if kind.is_secret() {
            format!(
                "is not an ARN; it must be {} — never put the secret itself in a spec",
                kind.describe()
            )
        } else {
            format!("is not an ARN; it must be {}", kind.describe())
        });
    };
    if !PARTITIONS.contains(&arn.partition) {
        return Some(format!(
            "partition {:?} is not one of aws, aws-cn, aws-us-gov",
            arn.partition
        ));
    }
    let (service_ok, regional) = match kind {
        Kind::IamRole => (arn.service == "iam", false),
        Kind::SnsTopic => (arn.service == "sns", true),
        Kind::TargetGroup => (arn.service == "elasticloadbalancing", true),
        Kind::ContainerSecret => (matches!(arn.service, "secretsmanager" | "ssm"), true),
        Kind::Secret => (arn.service == "secretsmanager", true),
    };
    if !service_ok {
        return Some(format!(
            "is an ARN of service {:?}; it must be {}",
            arn.service,
            kind.describe()
        ));
    }
    if regional {
        if !REGION.is_match(arn.region) {
            return Some(format!(
                "region {:?} in the ARN is not an AWS region",
                arn.region
            ));
        }
        if super::rules::region_partition(arn.region) != Some(arn.partition) {
            return Some(format!(
                "region {} is not in partition {}",
                arn.region, arn.partition
            ));
        }
    } else if !arn.region.is_empty() {
        return Some(format!(
            "IAM ARNs have no region; it must be {}",
            kind.describe()
        ));
    }
    if !ACCOUNT.is_match(arn.account) {
        return Some("the account id in the ARN must be 12 digits".to_owned());
    }
    let resource_ok = match (kind, arn.service) {
        (Kind::IamRole, _) => ROLE.is_match(arn.resource),
        (Kind::SnsTopic, _) => TOPIC.is_match(arn.resource) && arn.resource.len() <= 256,
        (Kind::TargetGroup, _) => TARGET_GROUP.is_match(arn.resource),
        (Kind::ContainerSecret, "ssm") => PARAMETER.is_match(arn.resource),
        (Kind::ContainerSecret, _) => SECRET.is_match(arn.resource),
        (Kind::Secret, _) => {
            SECRET.is_match(arn.resource)
                && !arn.resource.trim_start_matches("secret:").contains(':')
        }
    };
    if !resource_ok {
        return Some(format!(
            "the resource part is malformed; it must be {}",
            kind.describe()
        ));
    }
    match env_partition {
        Some(p) if p != arn.partition => Some(format!(
            "is in partition {}, but spec.region is in partition {p}",
            arn.partition
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(value: &str, kind: Kind) {
        assert_eq!(problem(value, kind, Some("aws")), None, "{value}");
    }

    fn bad(value: &str, kind: Kind, fragment: &str) {
        let reason = problem(value, kind, Some("aws")).unwrap_or_else(|| panic!("{value} passed"));
        assert!(reason.contains(fragment), "{value}: {reason}");
    }

    #[test]
    fn iam_roles() {
        ok(
            "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            Kind::IamRole,
        );
        ok(
            "arn:aws:iam::123456789012:role/service-role/plumb+deploy@x",
            Kind::IamRole,
        );
        bad(
            "arn:aws:iam::123456789012:user/alice",
            Kind::IamRole,
            "malformed",
        );
        bad(
            "arn:aws:iam:us-east-1:123456789012:role/x",
            Kind::IamRole,
            "no region",
        );
        bad("arn:aws:iam::12345:role/x", Kind::IamRole, "12 digits");
        bad("arn:aws:s3:::bucket", Kind::IamRole, "service \"s3\"");
        bad(
            "arn:azure:iam::123456789012:role/x",
            Kind::IamRole,
            "partition",
        );
        bad("ecsTaskExecutionRole", Kind::IamRole, "not an ARN");
    }

    #[test]
    fn topics_and_target_groups() {
        ok("arn:aws:sns:us-east-1:123456789012:alerts", Kind::SnsTopic);
        ok(
            "arn:aws:sns:eu-west-1:123456789012:alerts.fifo",
            Kind::SnsTopic,
        );
        bad(
            "arn:aws:sns:us-east-1:123456789012:bad topic",
            Kind::SnsTopic,
            "malformed",
        );
        bad(
            "arn:aws:sns:moon-1:123456789012:alerts",
            Kind::SnsTopic,
            "not an AWS region",
        );
        bad(
            "arn:aws:sns:cn-north-1:123456789012:alerts",
            Kind::SnsTopic,
            "not in partition aws",
        );
        ok(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0123456789abcdef",
            Kind::TargetGroup,
        );
        bad(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/api/0123456789abcdef",
            Kind::TargetGroup,
            "malformed",
        );
        bad(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api-/0123456789abcdef",
            Kind::TargetGroup,
            "malformed",
        );
    }

    #[test]
    fn secrets() {
        let sm = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";
        ok(sm, Kind::Secret);
        ok(sm, Kind::ContainerSecret);
        ok(&format!("{sm}:password::"), Kind::ContainerSecret);
        ok(&format!("{sm}:password:AWSCURRENT:"), Kind::ContainerSecret);
        bad(&format!("{sm}:password::"), Kind::Secret, "malformed");
        bad(
            &format!("{sm}:password"),
            Kind::ContainerSecret,
            "malformed",
        );
        ok(
            "arn:aws:ssm:us-east-1:123456789012:parameter/prod/db/url",
            Kind::ContainerSecret,
        );
        bad(
            "arn:aws:ssm:us-east-1:123456789012:parameter/prod/db/url",
            Kind::Secret,
            "\"ssm\"",
        );
        bad(
            "arn:aws:ssm:us-east-1:123456789012:parameter//x",
            Kind::ContainerSecret,
            "malformed",
        );
        let reason = problem("hunter2-pa55word", Kind::Secret, Some("aws")).unwrap();
        assert!(reason.contains("never put the secret itself"), "{reason}");
        assert!(!reason.contains("hunter2"), "{reason}");
    }

    #[test]
    fn partition_must_match_the_environment() {
        let role = "arn:aws-us-gov:iam::123456789012:role/x";
        assert_eq!(problem(role, Kind::IamRole, Some("aws-us-gov")), None);
        assert!(problem(role, Kind::IamRole, Some("aws"))
            .unwrap()
            .contains("spec.region is in partition aws"));
        // An invalid region is reported on its own field, not again on every ARN.
        assert_eq!(problem(role, Kind::IamRole, None), None);
    }
}
