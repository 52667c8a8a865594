//! The one place that builds AWS clients: region, credentials chain (optionally assuming the
//! environment's role), endpoint override, retries and timeouts, and the call counter.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

use super::counter::CallCounter;
use super::error::AwsError;
use super::retry::QuotaIsFinal;

/// Session name of the assumed role, as it shows in CloudTrail.
const SESSION_NAME: &str = "plumb";

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
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            default_region: "us-east-1".to_owned(),
            static_credentials: None,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
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
}

/// Clients for `region` (the config's default when empty), as `role_arn` when given.
pub async fn clients_for(
    config: &AwsConfig,
    region: &str,
    role_arn: Option<&str>,
    counter: CallCounter,
) -> Result<Clients, AwsError> {
    let base = base_config(config, region).await;
    let sdk = match role_arn {
        Some(role) => assume_role(&base, role).await,
        None => base,
    };
    Ok(Clients {
        ecs: aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&sdk)
                .interceptor(counter.interceptor())
                .build(),
        ),
        autoscaling: aws_sdk_applicationautoscaling::Client::from_conf(
            aws_sdk_applicationautoscaling::config::Builder::from(&sdk)
                .interceptor(counter.interceptor())
                .retry_classifier(QuotaIsFinal)
                .build(),
        ),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&sdk)
                .interceptor(counter.interceptor())
                .retry_classifier(QuotaIsFinal)
                .build(),
        ),
        logs: aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&sdk)
                .interceptor(counter.interceptor())
                .build(),
        ),
    })
}

async fn base_config(config: &AwsConfig, region: &str) -> SdkConfig {
    let region = if region.is_empty() {
        config.default_region.clone()
    } else {
        region.to_owned()
    };
    let retry = RetryConfig::standard()
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
async fn assume_role(base: &SdkConfig, role: &str) -> SdkConfig {
    let provider = AssumeRoleProvider::builder(role)
        .session_name(SESSION_NAME)
        .configure(base)
        .build()
        .await;
    base.clone()
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}
