//! The one place that builds AWS clients: region, credentials chain (optionally assuming the
//! environment's role), endpoint override, retries (adaptive: the SDK slows its own sending
//! when AWS throttles) and timeouts, the rate limit per (account, region, service), and the
//! call counter.
//! [`ClientPool`](super::ClientPool) decides when to build them, and whether a role may be
//! assumed at all.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder as HttpBuilder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::RetrySpec;

use super::accounts::is_account_id;
use super::counter::CallCounter;
use super::error::{AwsError, OpResult};
use super::limits::{Limits, Rates, Service};
use super::retry::QuotaIsFinal;

/// Session name of the assumed role, as it shows in CloudTrail.
pub const SESSION_NAME: &str = "plumb";

/// How Plumb reaches AWS, the same for every environment.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// Sends every call to this endpoint instead of AWS's (moto in tests and local runs).
    pub endpoint_url: Option<String>,
    /// Region used when an environment names none.
    pub default_region: String,
    /// Fixed credentials instead of the standard chain (moto). Their `Debug` hides the secret.
    pub static_credentials: Option<Credentials>,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First retry delay; it doubles (with jitter) on each further retry.
    pub initial_backoff: Duration,
    /// AWS accounts whose roles may be assumed. Empty: only the account of Plumb's own
    /// credentials. Environments without a role act with Plumb's own credentials and are
    /// not checked.
    pub allowed_accounts: BTreeSet<String>,
    /// External id sent when assuming a role whose environment names none.
    pub external_id: Option<String>,
    /// Plumb's own rate limit per (account, region, service), below AWS's defaults.
    pub rates: Rates,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            default_region: "us-east-1".to_owned(),
            static_credentials: None,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            allowed_accounts: BTreeSet::new(),
            external_id: None,
            rates: Rates::default(),
        }
    }
}

impl AwsConfig {
    /// `PLUMB_AWS_ENDPOINT_URL` (optional) and `AWS_REGION` (default `us-east-1`).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let defaults = Self::default();
        Self {
            endpoint_url: var("PLUMB_AWS_ENDPOINT_URL"),
            default_region: var("AWS_REGION").unwrap_or(defaults.default_region),
            ..defaults
        }
    }
}

/// One environment's clients, all counting into the same [`CallCounter`].
#[derive(Debug, Clone)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub mq: aws_sdk_mq::Client,
    /// Read only to fetch a password or token when a database, cache or broker is created.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Publishes alerts.
    pub sns: aws_sdk_sns::Client,
    /// Reads the CloudTrail event queue.
    pub sqs: aws_sdk_sqs::Client,
}

/// A role to assume, with the external id its trust policy may ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleToAssume {
    pub arn: String,
    pub external_id: Option<String>,
}

/// Where a set of clients acts, for its rate limits: the role's account (`None`: Plumb's own
/// credentials) and the region.
pub(super) struct Budget<'a> {
    pub limits: &'a Limits,
    pub http: &'a SharedHttpClient,
    pub account: Option<&'a str>,
}

/// Clients for `region` (the config's default when empty), as `role` when given, sending
/// through `budget`'s buckets. Checks no account: callers go through
/// [`ClientPool`](super::ClientPool), which does.
pub(super) async fn build(
    config: &AwsConfig,
    region: &str,
    role: Option<&RoleToAssume>,
    counter: CallCounter,
    budget: Budget<'_>,
) -> Clients {
    let base = base_config(config, region).await;
    let sdk = match role {
        Some(role) => assume_role(&base, role).await,
        None => base,
    };
    let region = sdk.region().map_or(region, |r| r.as_ref());
    let budget = |service| {
        budget
            .limits
            .budget(budget.http.clone(), budget.account, region, service)
    };
    // Every client: its service's bucket, retry partition and the call counter.
    macro_rules! client {
        ($sdk:ident, $service:expr $(, $extra:ident($arg:expr))*) => {{
            let b = budget($service);
            $sdk::Client::from_conf(
                $sdk::config::Builder::from(&sdk)
                    .http_client(b.http)
                    .retry_partition(b.retry_partition)
                    .interceptor(counter.interceptor())
                    $(.$extra($arg))*
                    .build(),
            )
        }};
    }
    Clients {
        ecs: client!(aws_sdk_ecs, Service::Ecs),
        autoscaling: client!(
            aws_sdk_applicationautoscaling,
            Service::AutoScaling,
            retry_classifier(QuotaIsFinal)
        ),
        cloudwatch: client!(
            aws_sdk_cloudwatch,
            Service::CloudWatch,
            retry_classifier(QuotaIsFinal)
        ),
        logs: client!(aws_sdk_cloudwatchlogs, Service::Logs),
        rds: client!(aws_sdk_rds, Service::Rds),
        elasticache: client!(aws_sdk_elasticache, Service::ElastiCache),
        mq: client!(aws_sdk_mq, Service::Mq),
        secrets: client!(aws_sdk_secretsmanager, Service::SecretsManager),
        sns: client!(aws_sdk_sns, Service::Sns),
        sqs: client!(aws_sdk_sqs, Service::Sqs),
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxies from the
/// environment), built once per pool so every rate-limited client shares its connections.
pub(super) fn https_client() -> SharedHttpClient {
    HttpBuilder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Who Plumb's own credentials are, as STS GetCallerIdentity answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The 12-digit account id.
    pub account: String,
    /// The user or assumed-role session: `arn:aws:sts::123456789012:assumed-role/plumb/task`.
    pub arn: String,
}

/// Plumb's own identity, from STS GetCallerIdentity (counted).
pub async fn caller_identity(
    config: &AwsConfig,
    counter: CallCounter,
) -> Result<CallerIdentity, AwsError> {
    const STS: &str = "STS";
    const OPERATION: &str = "GetCallerIdentity";
    let base = base_config(config, "").await;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&base)
            .interceptor(counter.interceptor())
            .build(),
    );
    let identity = sts.get_caller_identity().send().await.op(STS, OPERATION)?;
    let unreadable = |detail: &str| AwsError::Response {
        service: STS,
        operation: OPERATION,
        detail: detail.to_owned(),
    };
    let account = identity
        .account
        .filter(|account| is_account_id(account))
        .ok_or_else(|| unreadable("the answer names no 12-digit account"))?;
    let arn = identity
        .arn
        .filter(|arn| !arn.is_empty())
        .ok_or_else(|| unreadable("the answer names no ARN"))?;
    Ok(CallerIdentity { account, arn })
}

async fn base_config(config: &AwsConfig, region: &str) -> SdkConfig {
    let region = if region.is_empty() {
        config.default_region.clone()
    } else {
        region.to_owned()
    };
    // Adaptive: on top of the standard retries, the SDK rate-limits its own sending once
    // AWS throttles, and recovers as calls succeed again. Retry behaviour 2.1: a retry costs
    // the adaptive bucket one token, like a first attempt; under 2.0 it costs five, more than
    // the bucket holds after a throttle at Plumb's modest call rates, so a throttled call
    // waited out its whole operation timeout instead of being retried.
    let retry = RetryConfig::adaptive()
        .with_retry_spec(RetrySpec::v2_1())
        .with_max_attempts(config.max_attempts)
        .with_initial_backoff(config.initial_backoff);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(credentials) = &config.static_credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    loader.load().await
}

/// `base` with credentials from assuming `role` through STS (refreshed before they expire).
/// STS is first called when a client first needs credentials, not here.
async fn assume_role(base: &SdkConfig, role: &RoleToAssume) -> SdkConfig {
    let mut builder = AssumeRoleProvider::builder(&role.arn)
        .session_name(SESSION_NAME)
        .configure(base);
    if let Some(external_id) = &role.external_id {
        builder = builder.external_id(external_id);
    }
    let provider = builder.build().await;
    base.clone()
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}
