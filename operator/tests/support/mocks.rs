//! Plumb's own AWS clients with their calls answered by aws-smithy-mocks rules instead of AWS.
//! Everything else is as in production: the retry config, the retry classifiers and the call
//! counter come from `clients_for`; only the HTTP client and one interceptor are swapped in.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};
use plumb_operator::aws::{clients_for, AwsConfig, CallCounter, Clients};

/// Attempts per call, the first included (Plumb's default, spelt out for the tests).
pub const MAX_ATTEMPTS: u32 = 5;

/// The rules answering each client's calls. A call no rule matches panics.
#[derive(Default)]
pub struct Answers {
    pub ecs: Vec<Rule>,
    pub autoscaling: Vec<Rule>,
    pub cloudwatch: Vec<Rule>,
    pub logs: Vec<Rule>,
}

/// `client` rebuilt from its own config (interceptors and retry classifiers kept), with the
/// mock HTTP client and an interceptor answering from `rules`, first match wins.
macro_rules! answered {
    ($sdk:ident, $client:expr, $rules:expr) => {
        $sdk::Client::from_conf(
            $client
                .config()
                .to_builder()
                .http_client(create_mock_http_client())
                .interceptor(interceptor($rules))
                .build(),
        )
    };
}

/// Clients built as `clients_for` builds them (standard retries, [`MAX_ATTEMPTS`], fast
/// backoff), counting into `counter`, whose requests never leave the process.
pub async fn clients(answers: &Answers, counter: CallCounter) -> Clients {
    let config = AwsConfig {
        static_credentials: Some(Credentials::new("test", "test", None, None, "test")),
        max_attempts: MAX_ATTEMPTS,
        initial_backoff: Duration::from_millis(1),
        ..AwsConfig::default()
    };
    let real = clients_for(&config, "us-east-1", None, counter)
        .await
        .expect("clients");
    Clients {
        ecs: answered!(aws_sdk_ecs, real.ecs, &answers.ecs),
        autoscaling: answered!(
            aws_sdk_applicationautoscaling,
            real.autoscaling,
            &answers.autoscaling
        ),
        cloudwatch: answered!(aws_sdk_cloudwatch, real.cloudwatch, &answers.cloudwatch),
        logs: answered!(aws_sdk_cloudwatchlogs, real.logs, &answers.logs),
    }
}

fn interceptor(rules: &[Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |interceptor, rule| interceptor.with_rule(rule),
    )
}
