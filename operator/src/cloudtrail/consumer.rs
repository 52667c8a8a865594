//! Reads the CloudTrail event queue: long polls of up to ten messages, each handled (or
//! counted as dropped) and then deleted, so no message is read twice once it was handled and
//! none loops: a message the database refuses comes back until its [`MAX_RECEIVES`]th
//! delivery, then it is deleted as `failed`.
//!
//! [`Consumer::poll`] is one step (tests call it directly); [`run`] loops over it, backs off
//! when the queue or AWS fails, and stops when cancelled. It never ends the process: polling
//! still finds every drift while the queue cannot be read.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::classify::{classify, Own, Verdict};
use super::parse::{parse, Parsed};
use super::EventOutcome;
use crate::aws::{
    caller_identity, clients_for, AwsConfig, AwsError, CallCounter, EventQueue, QueueMessage,
};

use crate::controller::scheduler::jitter;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Deliveries of a message the database refused before it is deleted unrecorded.
pub const MAX_RECEIVES: u32 = 5;

/// How the consumer reads its queue.
#[derive(Debug, Clone)]
pub struct Config {
    pub queue_url: String,
    /// The queue's region; empty: the AWS config's default region.
    pub region: String,
    /// How long one receive waits for a first message (at most 20 s).
    pub wait: Duration,
    /// The first wait after a failure; it doubles with each failure in a row, up to
    /// `backoff_cap`.
    pub backoff: Duration,
    pub backoff_cap: Duration,
    /// Where outcomes are counted, when given.
    pub metrics: Option<Metrics>,
}

impl Config {
    /// Twenty-second long polls; after a failure, 1 s doubling up to a minute.
    pub fn new(queue_url: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            region: region.into(),
            wait: Duration::from_secs(20),
            backoff: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            metrics: None,
        }
    }

    /// The wait after `failures` failures in a row (1 after the first), without jitter.
    fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.backoff_cap)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConsumerError {
    /// A static label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Aws(e) => e.kind(),
            Self::Store(e) => e.kind(),
        }
    }
}

/// Reads one queue and records what its events say.
#[derive(Debug)]
pub struct Consumer {
    store: Store,
    queue: EventQueue,
    own: Own,
    wait: Duration,
    metrics: Option<Metrics>,
}

impl Consumer {
    /// A consumer of `config`'s queue, once STS said who Plumb is (to know its own calls).
    pub async fn connect(
        store: Store,
        aws: &AwsConfig,
        counter: CallCounter,
        config: &Config,
    ) -> Result<Self, AwsError> {
        let caller = caller_identity(aws, counter.clone()).await?;
        let clients = clients_for(aws, &config.region, None, counter).await?;
        tracing::info!(
            queue = %config.queue_url,
            identity = %caller.arn,
            "reading CloudTrail events; calls by this identity are Plumb's own"
        );
        Ok(Self {
            store,
            queue: EventQueue::new(clients.sqs, &config.queue_url),
            own: Own::new(caller),
            wait: config.wait,
            metrics: config.metrics.clone(),
        })
    }

    /// One step: receive a batch, handle it. Returns each message's outcome, in order.
    pub async fn poll(&self) -> Result<Vec<EventOutcome>, ConsumerError> {
        let messages = self.receive().await?;
        self.handle_batch(&messages).await
    }

    async fn receive(&self) -> Result<Vec<QueueMessage>, AwsError> {
        self.queue.receive(self.wait).await
    }

    /// Handles each message and deletes those handled. After the database refused one, the
    /// rest are left for their next delivery and the error is returned (after the deletes),
    /// so the loop backs off.
    async fn handle_batch(
        &self,
        messages: &[QueueMessage],
    ) -> Result<Vec<EventOutcome>, ConsumerError> {
        let mut outcomes = Vec::new();
        let mut done = Vec::new();
        let mut refused = None;
        for message in messages {
            match self.handle(&message.body).await {
                Ok(outcome) => {
                    outcomes.push(outcome);
                    done.push(message.receipt_handle.as_str());
                }
                Err(e) if message.receives >= MAX_RECEIVES => {
                    tracing::warn!(
                        message_id = %message.message_id,
                        receives = message.receives,
                        error = %e,
                        "dropping a CloudTrail event the database refused on every delivery"
                    );
                    outcomes.push(EventOutcome::Failed);
                    done.push(message.receipt_handle.as_str());
                }
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        for outcome in &outcomes {
            if let Some(metrics) = &self.metrics {
                metrics.event(*outcome);
            }
        }
        if !done.is_empty() {
            self.queue.delete(&done).await?;
        }
        match refused {
            Some(e) => Err(e.into()),
            None => Ok(outcomes),
        }
    }

    /// What one message says, recorded when it names an environment's resources.
    pub async fn handle(&self, body: &str) -> Result<EventOutcome, StoreError> {
        let event = match parse(body) {
            Ok(Parsed::Call(event)) => event,
            Ok(Parsed::Other) => return Ok(EventOutcome::Ignored),
            Err(e) => {
                tracing::warn!(reason = %e, "unreadable CloudTrail event message");
                return Ok(EventOutcome::Unparseable);
            }
        };
        let (scope, targets) = match classify(&event, &self.own) {
            Verdict::Drop(outcome) => {
                tracing::debug!(
                    call = %event.name,
                    outcome = outcome.as_str(),
                    "CloudTrail event dropped"
                );
                return Ok(outcome);
            }
            Verdict::Lookup { scope, targets } => (scope, targets),
        };
        let actor = event.actor();
        let touched = self.store.record_actor(&scope, &targets, &actor).await?;
        if touched.is_empty() {
            return Ok(EventOutcome::Foreign);
        }
        for t in &touched {
            tracing::info!(
                environment = %t.environment,
                resource = %t.resource,
                call = %actor.event_name,
                actor = %actor.who(),
                "CloudTrail reports a change; reconciling now"
            );
        }
        Ok(EventOutcome::Matched)
    }
}

/// Reads the queue until `cancel`: first learns Plumb's own identity, then polls. Every
/// failure (STS, the queue missing, AWS or the database down) is logged and retried after a
/// backoff; nothing here ends the process.
pub async fn run(
    store: Store,
    aws: AwsConfig,
    counter: CallCounter,
    config: Config,
    cancel: CancellationToken,
) {
    let mut failures = 0;
    let consumer = loop {
        let connect = Consumer::connect(store.clone(), &aws, counter.clone(), &config);
        let connected = tokio::select! {
            _ = cancel.cancelled() => return,
            connected = connect => connected,
        };
        match connected {
            Ok(consumer) => break consumer,
            Err(e) => {
                failures += 1;
                let wait = jitter(config.backoff(failures));
                tracing::warn!(
                    error = %e,
                    kind = e.kind(),
                    retry_in_seconds = wait.as_secs_f64(),
                    "cannot learn Plumb's own AWS identity for the CloudTrail event path; \
                     the resync still finds every drift"
                );
                if !pause(wait, &cancel).await {
                    return;
                }
            }
        }
    };
    failures = 0;
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            received = consumer.receive() => received,
        };
        // Handling is not interrupted: a message is deleted once it was recorded.
        let polled = match received {
            Ok(messages) => consumer.handle_batch(&messages).await,
            Err(e) => Err(e.into()),
        };
        match polled {
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                let wait = jitter(config.backoff(failures));
                tracing::warn!(
                    error = %e,
                    kind = e.kind(),
                    queue = %config.queue_url,
                    retry_in_seconds = wait.as_secs_f64(),
                    "reading the CloudTrail event queue failed; the resync still finds every \
                     drift"
                );
                if !pause(wait, &cancel).await {
                    return;
                }
            }
        }
    }
}

/// Sleeps for `wait`; false when cancelled first.
async fn pause(wait: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap() {
        let config = Config::new("https://sqs.eu-west-1.amazonaws.com/1/q", "");
        let waits: Vec<u64> = (1..=9).map(|n| config.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
