//! The sender: publishes the alert outbox to SNS, from any number of replicas at once.
//!
//! One [`Sender::step`] claims the longest-due row that may go now (`FOR UPDATE SKIP LOCKED`,
//! so two senders never hold one row at once), publishes it, and marks it sent with SNS's
//! message id, in the transaction of the claim.
//!
//! **A crash repeats a message at worst, never loses one.** A row is marked sent only in the
//! transaction that holds its lock, and only after SNS accepted the message. A crash, a lost
//! database connection or a timeout between the publish and the commit rolls that transaction
//! back: the row is unsent and unlocked, and the next pass publishes it again (the same
//! subject and body, written once when the row was). Nothing marks a row sent before SNS has
//! it, so no row is lost; at most the rows being published at the moment of a crash (one per
//! concurrent publish, [`AT_ONCE`]) are sent twice. The lock is held while SNS answers (at
//! most [`PUBLISH_TIMEOUT`]): a reconcile withdrawing that row's resolve waits for it, then
//! finds it sent, and a flap is too late to withdraw it.
//!
//! **Order.** Rows of one environment and topic go in id order: one waits while an earlier
//! one is still unsent and due or failing, so an `opened` is sent before its `resolved`. An
//! earlier row merely waiting out its quiet period holds nothing back. Rows for different
//! topics do not wait for each other (SNS orders nothing across topics, and one topic that
//! refuses messages must not silence another).
//!
//! **Failures.** A failed publish counts an attempt, keeps the error in `last_error`, and is
//! due again after a backoff: 5 s doubling up to 10 minutes while retrying may help
//! (throttling, timeouts, AWS failing), an hour when it cannot (a topic that does not exist,
//! no permission to publish, a malformed ARN, a role outside the allowed accounts). Such a row
//! is retried slowly, never dropped: the fix (the topic created, the permission granted)
//! lets it through. A row with no topic at all (no `spec.alerts` and no `--alerts-topic-arn`)
//! is marked unsendable with that reason and not retried.
//!
//! **Wakes.** `NOTIFY plumb_alerts` (sent with every row written) starts a pass at once;
//! otherwise the sender looks every [`POLL`], or sooner when a waiting row comes due.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{AlertConfig, AlertState};
use crate::aws::sns::{self, Message};
use crate::aws::{Access, AwsError, ClientPool};
use crate::metrics::Metrics;
use crate::store::{listen, OutboxAlert, Store, StoreError, ALERTS_CHANNEL};

/// How often the outbox is read when no notification came.
pub const POLL: Duration = Duration::from_secs(2);
/// The wait after the first failed publish; it doubles with each further failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// The longest wait between publishes that may succeed on retry.
pub const BACKOFF_CAP: Duration = Duration::from_secs(10 * 60);
/// The wait between publishes that retrying soon cannot help.
pub const STALLED: Duration = Duration::from_secs(60 * 60);
/// Rows one sender publishes at once (each holds a database connection meanwhile).
pub const AT_ONCE: usize = 4;
/// The longest one publish may take, retries included, before it counts as failed (and may
/// repeat).
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// What became of one claimed row; the `result` label of `plumb_alerts_sent_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// SNS accepted it; marked sent.
    Sent,
    /// Publishing failed; due again after a backoff.
    Failed,
    /// No topic to send it to; marked unsendable.
    NoTopic,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::NoTopic => "no-topic",
        }
    }
}

/// Why an alert could not be published.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Neither the environment nor the server names a topic.
    #[error("no topic: set spec.alerts or --alerts-topic-arn")]
    NoTopic,
    /// The topic is not an SNS topic ARN, so its region is unknown.
    #[error("{0:?} is not an SNS topic ARN (arn:aws:sns:us-east-1:123456789012:topic)")]
    TopicArn(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// No answer within [`PUBLISH_TIMEOUT`]; SNS may have the message all the same.
    #[error("SNS Publish: no answer within {} s", PUBLISH_TIMEOUT.as_secs())]
    Timeout,
}

impl SendError {
    /// A static label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoTopic => "no-topic",
            Self::TopicArn(_) => "topic-arn",
            Self::Aws(e) => e.kind(),
            Self::Timeout => "timeout",
        }
    }

    /// True when publishing again soon meets the same answer: a topic that is missing or
    /// malformed, a publish Plumb may not make, a role it may not assume.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::NoTopic | Self::TopicArn(_) => true,
            Self::Aws(e) => e.is_permanent() || e.has_code(sns::PERMANENT_CODES),
            Self::Timeout => false,
        }
    }
}

/// The wait after a failed publish, the `attempts`-th (1 after the first): 5 s, 10 s, 20 s,
/// … up to 10 minutes, or [`STALLED`] when retrying soon cannot help.
pub fn retry_after(error: &SendError, attempts: u32) -> Duration {
    if error.is_permanent() {
        return STALLED;
    }
    let doublings = attempts.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_CAP)
}

/// One claimed row and what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stepped {
    pub alert: i64,
    pub delivery: Delivery,
}

/// Publishes the alert outbox.
pub struct Sender {
    store: Store,
    clients: Arc<ClientPool>,
    config: AlertConfig,
    metrics: Option<Metrics>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Runs a sender until `shutdown` is cancelled (see [`Sender::run`]).
pub async fn run(
    store: Store,
    clients: Arc<ClientPool>,
    config: AlertConfig,
    metrics: Option<Metrics>,
    shutdown: CancellationToken,
) {
    let mut sender = Sender::new(store, clients, config);
    sender.metrics = metrics;
    sender.run(shutdown).await;
}

impl Sender {
    /// A sender reaching topics through `clients`; the default topic is `config`'s.
    pub fn new(store: Store, clients: Arc<ClientPool>, config: AlertConfig) -> Self {
        Self {
            store,
            clients,
            config,
            metrics: None,
        }
    }

    /// Counts every publish into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Publishes `alert` to its topic (the server's default when it names none), through the
    /// environment's role for a topic of its own; returns SNS's message id. Marks nothing.
    pub async fn publish(&self, alert: &OutboxAlert) -> Result<String, SendError> {
        let (topic, role_arn, external_id) = match alert.topic_arn.as_deref() {
            Some(topic) => (
                topic,
                alert.role_arn.as_deref(),
                alert.external_id.as_deref(),
            ),
            // The server's own topic, reached with the server's own credentials.
            None => match self.config.default_topic.as_deref() {
                Some(topic) => (topic, None, None),
                None => return Err(SendError::NoTopic),
            },
        };
        let region =
            sns::topic_region(topic).ok_or_else(|| SendError::TopicArn(topic.to_owned()))?;
        let clients = self
            .clients
            .get(Access {
                region,
                role_arn,
                external_id,
            })
            .await?;
        let body = alert.body.to_string();
        let attributes = [
            ("environment", alert.environment.as_str()),
            ("severity", alert.severity.as_str()),
            ("kind", alert.kind.as_str()),
            ("state", alert.state.as_str()),
        ];
        let message = Message {
            topic_arn: topic,
            subject: &alert.subject,
            body: &body,
            attributes: &attributes,
        };
        match tokio::time::timeout(PUBLISH_TIMEOUT, sns::publish(&clients.sns, message)).await {
            Ok(published) => Ok(published?),
            Err(_) => Err(SendError::Timeout),
        }
    }

    /// Claims one row that may go now, publishes it and records the result; `None` when no
    /// row may go. Only the store failing is an error: a failed publish is recorded on the
    /// row.
    pub async fn step(&self) -> Result<Option<Stepped>, StoreError> {
        let Some(claim) = self.store.claim_alert().await? else {
            return Ok(None);
        };
        let alert = claim.alert();
        let id = alert.id;
        let state = alert.state.parse::<AlertState>().ok();
        let attempts = u32::try_from(alert.attempts)
            .unwrap_or_default()
            .saturating_add(1);
        let delivery = match self.publish(alert).await {
            Ok(message_id) => {
                tracing::info!(
                    alert = id,
                    environment = %alert.environment,
                    state = %alert.state,
                    %message_id,
                    "alert sent"
                );
                claim.sent(&message_id).await?;
                Delivery::Sent
            }
            Err(e @ SendError::NoTopic) => {
                tracing::warn!(
                    alert = id,
                    environment = %alert.environment,
                    state = %alert.state,
                    "alert not sent: {e}"
                );
                claim.unsendable(&e.to_string()).await?;
                Delivery::NoTopic
            }
            Err(e) => {
                let wait = retry_after(&e, attempts);
                tracing::warn!(
                    alert = id,
                    environment = %alert.environment,
                    state = %alert.state,
                    attempts,
                    kind = e.kind(),
                    error = %e,
                    retry_in_seconds = wait.as_secs(),
                    "alert not sent; will retry"
                );
                claim.failed(&e.to_string(), wait).await?;
                Delivery::Failed
            }
        };
        if let Some(metrics) = &self.metrics {
            metrics.alert(state, delivery);
        }
        Ok(Some(Stepped {
            alert: id,
            delivery,
        }))
    }

    /// Steps, [`AT_ONCE`] at a time, until no row may go or `shutdown` is cancelled (a
    /// publish under way finishes and is recorded); returns the rows handled.
    pub async fn pass(&self, shutdown: &CancellationToken) -> Result<usize, StoreError> {
        let lane = || async {
            let mut handled = 0;
            while !shutdown.is_cancelled() {
                match self.step().await? {
                    Some(_) => handled += 1,
                    None => break,
                }
            }
            Ok::<_, StoreError>(handled)
        };
        let lanes = futures::future::join_all((0..AT_ONCE).map(|_| lane())).await;
        let mut handled = 0;
        for lane in lanes {
            handled += lane?;
        }
        Ok(handled)
    }

    /// Sends until `shutdown` is cancelled: a pass on every notification, every [`POLL`],
    /// and when a waiting row comes due. A store that cannot be read is tried again at the
    /// next poll.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(
            default_topic = self.config.default_topic.as_deref().unwrap_or("none"),
            "alert sender started"
        );
        let (notified, mut notifications) = mpsc::channel(16);
        // Ends with the sender: a sender dropped mid-run leaves no listener behind.
        let mut listener = JoinSet::new();
        listener.spawn(listen(
            self.store.pool().clone(),
            ALERTS_CHANNEL,
            notified,
            shutdown.clone(),
            POLL,
        ));
        while !shutdown.is_cancelled() {
            if let Err(e) = self.pass(&shutdown).await {
                tracing::warn!(error = %e, "cannot read the alert outbox");
            }
            let wait = match self.store.next_alert_due().await {
                // A little late rather than a little early, which would find nothing due.
                Ok(Some(due)) => POLL.min(due + Duration::from_millis(10)),
                Ok(None) | Err(_) => POLL,
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(_) = notifications.recv() => {
                    // One pass serves every notification so far.
                    while notifications.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        while listener.join_next().await.is_some() {}
        tracing::info!("alert sender stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(code: &str) -> SendError {
        SendError::Aws(AwsError::Service {
            service: "SNS",
            operation: "Publish",
            code: code.to_owned(),
            message: "no".to_owned(),
        })
    }

    #[test]
    fn a_failure_that_may_pass_backs_off_from_five_seconds_to_ten_minutes() {
        let e = aws("InternalError");
        let waits: Vec<u64> = (1..=10).map(|n| retry_after(&e, n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(retry_after(&e, 0), BACKOFF_BASE);
        assert_eq!(retry_after(&e, u32::MAX), BACKOFF_CAP);
        assert_eq!(retry_after(&SendError::Timeout, 1), BACKOFF_BASE);
        let throttled = SendError::Aws(AwsError::Throttled {
            service: "SNS",
            operation: "Publish",
            code: "Throttling".to_owned(),
            message: "Rate exceeded".to_owned(),
        });
        assert_eq!(retry_after(&throttled, 2), Duration::from_secs(10));
    }

    #[test]
    fn a_failure_retrying_cannot_fix_waits_an_hour_from_the_first_attempt() {
        for e in [
            aws("NotFound"),
            aws("AuthorizationError"),
            aws("InvalidParameter"),
            aws("KMSDisabled"),
            SendError::TopicArn("alerts".to_owned()),
            SendError::Aws(AwsError::AccountNotAllowed {
                role_arn: "arn:aws:iam::210987654321:role/plumb".to_owned(),
                account: "210987654321".to_owned(),
            }),
        ] {
            assert!(e.is_permanent(), "{e}");
            assert_eq!(retry_after(&e, 1), STALLED, "{e}");
        }
    }

    #[test]
    fn the_no_topic_reason_names_both_ways_to_give_one() {
        assert_eq!(
            SendError::NoTopic.to_string(),
            "no topic: set spec.alerts or --alerts-topic-arn"
        );
        assert_eq!(Delivery::NoTopic.as_str(), "no-topic");
    }
}
