//! Plumb's own AWS clients with their calls answered by aws-smithy-mocks rules instead of AWS.
//! Everything else is as in production: the retry config, the retry classifiers and the call
//! counter come from `clients_for`; only the HTTP client and one interceptor are swapped in.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
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
    pub rds: Vec<Rule>,
    pub elasticache: Vec<Rule>,
    pub mq: Vec<Rule>,
    pub secrets: Vec<Rule>,
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
        rds: answered!(aws_sdk_rds, real.rds, &answers.rds),
        elasticache: answered!(aws_sdk_elasticache, real.elasticache, &answers.elasticache),
        mq: answered!(aws_sdk_mq, real.mq, &answers.mq),
        secrets: answered!(aws_sdk_secretsmanager, real.secrets, &answers.secrets),
        // Not answered here: alerts and the event queue are tested against moto.
        sns: real.sns,
        sqs: real.sqs,
    }
}

fn interceptor(rules: &[Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |interceptor, rule| interceptor.with_rule(rule),
    )
}

/// An error answer as an AWS JSON 1.1 service (ECS, Application Auto Scaling) sends it:
/// HTTP 400, the code in `__type`, the message in `message`. The SDK parses it like any
/// answer from AWS, so the raw response carries the code as it would in production.
pub fn json_error(code: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({"__type": code, "message": message}).to_string();
    let mut response = HttpResponse::new(
        StatusCode::try_from(400).expect("a status code"),
        SdkBody::from(body),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}
