//! The CloudTrail event queue (SQS): long-poll receives and batch deletes, translated to
//! Plumb's [`QueueMessage`]. What a message means is the event path's business, not this
//! adapter's.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

use super::error::{AwsError, OpResult};

const SERVICE: &str = "SQS";

/// The most messages one receive returns, and one batch delete takes (SQS's limit).
pub const BATCH: usize = 10;
/// The longest long poll SQS allows.
pub const LONGEST_WAIT: Duration = Duration::from_secs(20);

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub message_id: String,
    /// What deletes it; valid until its visibility timeout ends.
    pub receipt_handle: String,
    /// Empty when SQS sent none.
    pub body: String,
    /// How often it was received, this time included (1 when SQS does not say).
    pub receives: u32,
}

/// A queue named by its URL, read with clients made for its region.
#[derive(Debug, Clone)]
pub struct EventQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl EventQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Up to [`BATCH`] messages, waiting up to `wait` (at most [`LONGEST_WAIT`]) for the
    /// first. A message without a receipt handle cannot be deleted and is left out.
    pub async fn receive(&self, wait: Duration) -> Result<Vec<QueueMessage>, AwsError> {
        let wait = wait.min(LONGEST_WAIT);
        // A long poll holds the request open for `wait`: the attempt's timeout must outlast
        // it (the shared client's is 20 s, as long as the longest poll).
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(wait + Duration::from_secs(10))
            .operation_timeout(wait + Duration::from_secs(40))
            .build();
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(BATCH as i32)
            .wait_time_seconds(wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .customize()
            .config_override(aws_sdk_sqs::config::Builder::default().timeout_config(timeouts))
            .send()
            .await
            .op(SERVICE, "ReceiveMessage")?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let receives = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Some(QueueMessage {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    receipt_handle: m.receipt_handle()?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receives,
                })
            })
            .collect())
    }

    /// Deletes the messages of these receipt handles, [`BATCH`] a call. Returns how many
    /// SQS refused (each comes back after its visibility timeout).
    pub async fn delete(&self, receipts: &[&str]) -> Result<usize, AwsError> {
        let mut refused = 0;
        for chunk in receipts.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .op(SERVICE, "DeleteMessageBatch")?;
            for failed in out.failed() {
                tracing::warn!(
                    code = failed.code(),
                    message = failed.message().unwrap_or_default(),
                    "SQS kept a handled event message; it will be received again"
                );
            }
            refused += out.failed().len();
        }
        Ok(refused)
    }
}
