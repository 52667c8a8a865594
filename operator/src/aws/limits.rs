//! Client-side rate limits: one token bucket per (account, region, service), shared by every
//! client acting there, sized below AWS's default API rate limits, so many environments in
//! one account never throttle it (and leave room for everything else calling that account).
//!
//! Every HTTP attempt takes a token before it is sent, retries included, as AWS counts them.
//! A call that finds its bucket empty waits for a token, and is counted as delayed. Throttling
//! that happens anyway (another tool in the account) is left to the SDK's adaptive retry,
//! whose state (retry quota, client-side rate) is kept per bucket too: a throttled account
//! slows its own calls, not every account's calls to that service.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_ecs::config::retry::{ClientRateLimiter, RetryPartition};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::counter::CallCounter;

/// The services Plumb calls, each with a bucket of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Ecs,
    AutoScaling,
    CloudWatch,
    Logs,
    Rds,
    ElastiCache,
    Mq,
    SecretsManager,
    Sns,
    Sqs,
}

impl Service {
    /// The name the call counter and `/metrics` use (the SDK's service id).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecs => "ECS",
            Self::AutoScaling => "Application Auto Scaling",
            Self::CloudWatch => "CloudWatch",
            Self::Logs => "CloudWatch Logs",
            Self::Rds => "RDS",
            Self::ElastiCache => "ElastiCache",
            Self::Mq => "mq",
            Self::SecretsManager => "Secrets Manager",
            Self::Sns => "SNS",
            Self::Sqs => "SQS",
        }
    }
}

/// A token bucket: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    pub const fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self { per_second, burst }
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("a rate is not zero"),
    }
}

/// Rates per service, for one (account, region).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub ecs: Rate,
    pub autoscaling: Rate,
    pub cloudwatch: Rate,
    pub logs: Rate,
    pub rds: Rate,
    pub elasticache: Rate,
    pub mq: Rate,
    pub secrets: Rate,
    pub sns: Rate,
    pub sqs: Rate,
}

impl Rates {
    pub fn of(&self, service: Service) -> Rate {
        match service {
            Service::Ecs => self.ecs,
            Service::AutoScaling => self.autoscaling,
            Service::CloudWatch => self.cloudwatch,
            Service::Logs => self.logs,
            Service::Rds => self.rds,
            Service::ElastiCache => self.elasticache,
            Service::Mq => self.mq,
            Service::SecretsManager => self.secrets,
            Service::Sns => self.sns,
            Service::Sqs => self.sqs,
        }
    }
}

impl Default for Rates {
    /// Below AWS's defaults for the calls Plumb makes most:
    /// - ECS: service and cluster reads refill at 20/s (bursts of 50–100), service writes
    ///   at 5/s; Plumb's calls are mostly reads.
    /// - Application Auto Scaling: Describe calls are throttled well before ECS's rates.
    /// - CloudWatch: DescribeAlarms 9/s, PutMetricAlarm and DeleteAlarms 3/s.
    /// - CloudWatch Logs: DescribeLogGroups and CreateLogGroup 5/s.
    /// - RDS and ElastiCache: their control planes throttle Describe calls from a few per
    ///   second per account; Plumb makes few and batches them.
    /// - Amazon MQ: ListBrokers and DescribeBroker at a few per second.
    /// - Secrets Manager: read only when a database, cache or broker is created.
    /// - SNS: one Publish per alert; AWS allows hundreds per second.
    /// - SQS: the CloudTrail event path's long polls and deletes.
    fn default() -> Self {
        Self {
            ecs: Rate::new(nz(15), nz(40)),
            autoscaling: Rate::new(nz(8), nz(16)),
            cloudwatch: Rate::new(nz(8), nz(8)),
            logs: Rate::new(nz(4), nz(4)),
            rds: Rate::new(nz(5), nz(10)),
            elasticache: Rate::new(nz(5), nz(10)),
            mq: Rate::new(nz(4), nz(8)),
            secrets: Rate::new(nz(5), nz(5)),
            sns: Rate::new(nz(20), nz(20)),
            sqs: Rate::new(nz(20), nz(20)),
        }
    }
}

/// Whose bucket: a role's account, or Plumb's own credentials (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    account: Option<String>,
    region: String,
    service: Service,
}

/// Every bucket of a server. Their number is bounded by the allowed accounts, the regions
/// and the services.
#[derive(Debug)]
pub struct Limits {
    rates: Rates,
    counter: CallCounter,
    buckets: Mutex<HashMap<Key, Arc<Bucket>>>,
}

impl Limits {
    pub fn new(rates: Rates, counter: CallCounter) -> Self {
        Self {
            rates,
            counter,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// What a client of `service` acting in (account, region) sends through: `inner`,
    /// taking a token of that bucket before every attempt, and the SDK retry state of the
    /// same bucket.
    pub fn budget(
        &self,
        inner: SharedHttpClient,
        account: Option<&str>,
        region: &str,
        service: Service,
    ) -> Budgeted {
        let key = Key {
            account: account.map(str::to_owned),
            region: region.to_owned(),
            service,
        };
        let bucket = self
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert_with_key(|key| {
                let name = format!(
                    "{}/{}/{}",
                    service.as_str(),
                    key.account.as_deref().unwrap_or("own"),
                    key.region
                );
                // The adaptive rate's clock starts now (its default starts at the epoch,
                // which makes its first throttled wait absurdly long).
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                let partition = RetryPartition::custom(name)
                    .client_rate_limiter(ClientRateLimiter::new(now))
                    .build();
                let rate = self.rates.of(service);
                Arc::new(Bucket::new(service, rate, partition, self.counter.clone()))
            })
            .clone();
        Budgeted {
            retry_partition: bucket.partition.clone(),
            http: SharedHttpClient::new(Limited { inner, bucket }),
        }
    }
}

/// A client's HTTP client and SDK retry partition, from one bucket.
#[derive(Debug, Clone)]
pub struct Budgeted {
    pub http: SharedHttpClient,
    pub retry_partition: RetryPartition,
}

/// One bucket.
#[derive(Debug)]
struct Bucket {
    service: Service,
    limiter: DefaultDirectRateLimiter,
    /// The SDK's retry quota and adaptive rate for the same (account, region, service).
    partition: RetryPartition,
    counter: CallCounter,
    /// Callers waiting for a token, first come first served (tokio's mutex is fair).
    queue: tokio::sync::Mutex<()>,
}

impl Bucket {
    fn new(service: Service, rate: Rate, partition: RetryPartition, counter: CallCounter) -> Self {
        Self {
            service,
            limiter: RateLimiter::direct(rate.quota()),
            partition,
            counter,
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// Takes a token, waiting for one if the bucket is empty. Callers are served in the
    /// order they came: without the queue, a waiter woken for the next token could find a
    /// newcomer had taken it, and at a busy bucket some calls would wait past their attempt
    /// timeout (seen with 200 environments on a 4/s bucket).
    async fn take(&self) {
        let _turn = self.queue.lock().await;
        let mut delayed = false;
        while let Err(not_until) = self.limiter.check() {
            if !delayed {
                delayed = true;
                self.counter.record_delayed(self.service.as_str());
            }
            let now = self.limiter.clock().now();
            tokio::time::sleep(not_until.wait_time_from(now)).await;
        }
    }
}

/// An HTTP client whose requests wait for a token first.
#[derive(Debug)]
struct Limited {
    inner: SharedHttpClient,
    bucket: Arc<Bucket>,
}

impl HttpClient for Limited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            bucket: self.bucket.clone(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    bucket: Arc<Bucket>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let bucket = self.bucket.clone();
        HttpConnectorFuture::new(async move {
            bucket.take().await;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    use futures::FutureExt;

    use super::*;

    /// Answers 200 at once.
    #[derive(Debug)]
    struct Ok200;

    impl HttpConnector for Ok200 {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let status = 200.try_into().expect("200 is a status code");
            HttpConnectorFuture::ready(Ok(HttpResponse::new(status, SdkBody::empty())))
        }
    }

    fn connector(bucket: &Arc<Bucket>) -> LimitedConnector {
        LimitedConnector {
            inner: SharedHttpConnector::new(Ok200),
            bucket: bucket.clone(),
        }
    }

    fn request() -> HttpRequest {
        HttpRequest::new(SdkBody::empty())
    }

    #[test]
    fn calls_past_the_burst_wait_for_a_token_and_are_counted_once() {
        let counter = CallCounter::new();
        // Two tokens, then one a second: the third call cannot go at once.
        let rate = Rate::new(nz(1), nz(2));
        let partition = RetryPartition::custom("test").build();
        let bucket = Arc::new(Bucket::new(Service::Ecs, rate, partition, counter.clone()));
        let limited = connector(&bucket);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            for _ in 0..2 {
                let answer = limited.call(request()).now_or_never();
                assert!(
                    matches!(answer, Some(Ok(_))),
                    "within the burst: {answer:?}"
                );
            }
            let mut third = limited.call(request());
            assert!(
                (&mut third).now_or_never().is_none(),
                "past the burst it waits"
            );
            assert_eq!(counter.delayed().get("ECS"), Some(&1));
            drop(third);
        });
    }

    #[tokio::test]
    async fn waiting_calls_are_served_in_the_order_they_came() {
        // One token, then one a second: three more calls wait, and go first come first served.
        let rate = Rate::new(nz(1), nz(1));
        let partition = RetryPartition::custom("test").build();
        let bucket = Arc::new(Bucket::new(
            Service::Logs,
            rate,
            partition,
            CallCounter::new(),
        ));
        bucket.take().await;
        let (served, mut order) = tokio::sync::mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        for caller in 0..3 {
            let bucket = bucket.clone();
            let served = served.clone();
            let mut call = Box::pin(async move {
                bucket.take().await;
                served.send(caller).ok();
            });
            // Polled once here, so it is queued before the next caller comes.
            assert!((&mut call).now_or_never().is_none(), "the bucket is empty");
            waiting.push(tokio::spawn(call));
        }
        for call in waiting {
            call.await.expect("served");
        }
        let mut seen = Vec::new();
        while let Ok(caller) = order.try_recv() {
            seen.push(caller);
        }
        assert_eq!(seen, [0, 1, 2]);
    }

    #[test]
    fn one_bucket_per_account_region_and_service() {
        let limits = Limits::new(Rates::default(), CallCounter::new());
        let inner = aws_smithy_runtime_api::client::http::http_client_fn(|_, _| {
            SharedHttpConnector::new(Ok200)
        });
        let keys = [
            (None, "us-east-1", Service::Ecs),
            (None, "us-east-1", Service::Ecs),
            (Some("111111111111"), "us-east-1", Service::Ecs),
            (None, "eu-west-1", Service::Ecs),
            (None, "us-east-1", Service::CloudWatch),
        ];
        for (account, region, service) in keys {
            limits.budget(inner.clone(), account, region, service);
        }
        let buckets = limits
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        assert_eq!(buckets.len(), 4);
    }

    #[test]
    fn default_rates_stay_below_aws_defaults() {
        let rates = Rates::default();
        // CloudWatch DescribeAlarms allows 9 per second, CloudWatch Logs 5, ECS reads 20.
        assert!(rates.cloudwatch.per_second.get() < 9);
        assert!(rates.logs.per_second.get() < 5);
        assert!(rates.ecs.per_second.get() < 20);
    }
}
