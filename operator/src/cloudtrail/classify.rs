//! Which events are someone else's change: not a read, not Plumb's own call, not a call AWS
//! made itself, not a failed call, and a call that changes something Plumb manages. Pure.

use super::parse::{Event, Identity};
use super::targets::{targets, Target};
use super::{EventOutcome, Scope};
use crate::aws::{is_account_id, CallerIdentity, SESSION_NAME};

/// Prefix of the roles only an AWS service can assume (service-linked roles).
const SERVICE_LINKED_ROLE: &str = "AWSServiceRoleFor";
/// The path of every service-linked role's ARN.
const SERVICE_LINKED_PATH: &str = ":role/aws-service-role/";

/// Plumb's own identity, and how to recognise its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Own {
    caller: CallerIdentity,
}

impl Own {
    pub fn new(caller: CallerIdentity) -> Self {
        Self { caller }
    }

    /// The account of Plumb's own credentials.
    pub fn account(&self) -> &str {
        &self.caller.account
    }

    /// Plumb's own call: made with Plumb's own identity, or another session of the role Plumb
    /// runs as (another replica), or a session Plumb assumed in an environment's role (its
    /// session name is [`SESSION_NAME`]).
    pub fn made(&self, identity: &Identity) -> bool {
        let Some(arn) = identity.arn.as_deref() else {
            return false;
        };
        if arn == self.caller.arn {
            return true;
        }
        let Some(session) = AssumedRole::parse(arn) else {
            return false;
        };
        session.session == SESSION_NAME
            || AssumedRole::parse(&self.caller.arn).is_some_and(|own| {
                own.partition == session.partition
                    && own.account == session.account
                    && own.role == session.role
            })
    }
}

/// `arn:{partition}:sts::{account}:assumed-role/{role}/{session}`.
struct AssumedRole<'a> {
    partition: &'a str,
    account: &'a str,
    role: &'a str,
    session: &'a str,
}

impl<'a> AssumedRole<'a> {
    fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if prefix != "arn" || service != "sts" || !region.is_empty() {
            return None;
        }
        let (role, session) = resource.strip_prefix("assumed-role/")?.split_once('/')?;
        Some(Self {
            partition,
            account,
            role,
            session,
        })
    }
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Dropped and counted with this outcome.
    Drop(EventOutcome),
    /// Look these up: the environments holding them get the actor and a reconcile; none
    /// holding any makes the event foreign.
    Lookup { scope: Scope, targets: Vec<Target> },
}

/// Decides what to do with `event`, given Plumb's own identity.
pub fn classify(event: &Event, own: &Own) -> Verdict {
    if is_read_only(event) {
        return Verdict::Drop(EventOutcome::ReadOnly);
    }
    if own.made(&event.identity) {
        return Verdict::Drop(EventOutcome::Own);
    }
    if by_aws_service(event) {
        return Verdict::Drop(EventOutcome::AwsService);
    }
    if event.error_code.is_some() {
        return Verdict::Drop(EventOutcome::Ignored);
    }
    match targets(event) {
        Err(_) => Verdict::Drop(EventOutcome::Unparseable),
        Ok(None) => Verdict::Drop(EventOutcome::Ignored),
        Ok(Some(targets)) if targets.is_empty() => Verdict::Drop(EventOutcome::Foreign),
        Ok(Some(targets)) => Verdict::Lookup {
            scope: scope(event, own),
            targets,
        },
    }
}

/// `readOnly: true`, or, when the event does not say, a call named like a read.
fn is_read_only(event: &Event) -> bool {
    event.read_only.unwrap_or_else(|| {
        ["Describe", "List", "Get"]
            .iter()
            .any(|prefix| event.name.starts_with(prefix))
    })
}

/// Made by AWS itself: an `AWSService` identity, a service-linked role, a call a service
/// made on the identity's behalf (`invokedBy`), or a service host as the caller's address
/// or user agent (`application-autoscaling.amazonaws.com`).
fn by_aws_service(event: &Event) -> bool {
    let identity = &event.identity;
    identity.type_.as_deref() == Some("AWSService")
        || identity
            .arn
            .as_deref()
            .and_then(AssumedRole::parse)
            .is_some_and(|session| session.role.starts_with(SERVICE_LINKED_ROLE))
        || identity
            .issuer_arn
            .as_deref()
            .is_some_and(|role| role.contains(SERVICE_LINKED_PATH))
        || identity
            .invoked_by
            .as_deref()
            .is_some_and(|by| !by.is_empty() && !fronts_people(by))
        || event.source_ip.as_deref().is_some_and(is_service_host)
        || event.user_agent.as_deref().is_some_and(is_service_host)
}

/// A bare AWS service host name (`ecs.application-autoscaling.amazonaws.com`), not one
/// that fronts people.
fn is_service_host(text: &str) -> bool {
    text.ends_with(".amazonaws.com")
        && !fronts_people(text)
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// The console (`console.amazonaws.com`, `console.ec2.amazonaws.com`) and sign-in: a call
/// made through them is a person's.
fn fronts_people(host: &str) -> bool {
    host.starts_with("console.") || host == "signin.amazonaws.com"
}

/// The claims to look in: the event's region and account, and `""` as well when that
/// account is Plumb's own or the event names none. An account that is not an account id
/// matches nothing.
fn scope(event: &Event, own: &Own) -> Scope {
    let ours = || vec![String::new(), own.account().to_owned()];
    let (claim_accounts, account) = match event.account.as_deref() {
        None => (ours(), None),
        Some(a) if a == own.account() => (ours(), Some(a.to_owned())),
        Some(a) if is_account_id(a) => (vec![a.to_owned()], Some(a.to_owned())),
        Some(_) => (Vec::new(), None),
    };
    Scope {
        region: event.region.clone(),
        claim_accounts,
        account,
    }
}

#[cfg(test)]
#[path = "tests/classify.rs"]
mod tests;
