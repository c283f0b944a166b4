//! The JobQueue port on SQS. Sends go out in batches of ten; a dead-letter queue is found
//! through the queue's redrive policy when first asked for (operators and tests only).

use crate::aws::{AwsConfig, LazyClient};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use chief::ports::queue::{JobQueue, MAX_BATCH, Message, QueueError, QueueName};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

pub struct SqsQueue {
    client: LazyClient<Client>,
    urls: HashMap<QueueName, String>,
    dead_letter_urls: Mutex<HashMap<QueueName, String>>,
}

/// SendMessageBatch calls one `send` has in flight at once.
const SEND_CONCURRENCY: usize = 8;

/// Counts a finished batch into the outcome, keeping the first error.
fn settle(outcome: &mut Result<usize, QueueError>, done: Option<Result<Result<(), QueueError>, tokio::task::JoinError>>) {
    let result = match done {
        None => return,
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(unavailable(e)),
    };
    match (outcome.as_mut(), result) {
        (Ok(batches), Ok(())) => *batches += 1,
        (Ok(_), Err(e)) => *outcome = Err(e),
        (Err(_), _) => {}
    }
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

impl SqsQueue {
    pub fn new(aws: Arc<AwsConfig>, urls: HashMap<QueueName, String>) -> Self {
        SqsQueue {
            client: LazyClient::new(aws, Client::new),
            urls,
            dead_letter_urls: Mutex::new(HashMap::new()),
        }
    }

    fn url(&self, queue: QueueName) -> Result<&str, QueueError> {
        self.urls
            .get(&queue)
            .map(String::as_str)
            .ok_or(QueueError::NotConfigured(queue.as_str()))
    }

    async fn dead_letter_url(&self, queue: QueueName) -> Result<String, QueueError> {
        let mut known = self.dead_letter_urls.lock().await;
        if let Some(url) = known.get(&queue) {
            return Ok(url.clone());
        }
        let attributes = self
            .client
            .get()
            .await
            .get_queue_attributes()
            .queue_url(self.url(queue)?)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let policy = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
            .ok_or_else(|| unavailable(format!("queue {} has no dead-letter queue", queue.as_str())))?;
        let arn = serde_json::from_str::<serde_json::Value>(policy)
            .ok()
            .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_string))
            .ok_or_else(|| unavailable("unreadable redrive policy"))?;
        let name = arn.rsplit(':').next().unwrap_or_default();
        let url = self
            .client
            .get()
            .await
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .ok_or_else(|| unavailable("no dead-letter queue url"))?;
        known.insert(queue, url.clone());
        Ok(url)
    }

    async fn receive_from(&self, url: &str, max: usize, hide: bool) -> Result<Vec<Message>, QueueError> {
        let mut request = self
            .client
            .get()
            .await
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
        if !hide {
            request = request.visibility_timeout(0);
        }
        let output = request
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Message {
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                id: m.message_id.unwrap_or_default(),
                receipt: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    /// Batches go out `SEND_CONCURRENCY` at a time: the hourly fan-out sends one per ten orgs.
    async fn send(&self, queue: QueueName, bodies: &[String]) -> Result<usize, QueueError> {
        let url = self.url(queue)?.to_string();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut outcome = Ok(0);
        for chunk in bodies.chunks(MAX_BATCH) {
            if in_flight.len() >= SEND_CONCURRENCY {
                settle(&mut outcome, in_flight.join_next().await);
            }
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(unavailable)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let request = self
                .client
                .get()
                .await
                .send_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries));
            let total = chunk.len();
            in_flight.spawn(async move {
                let output = request
                    .send()
                    .await
                    .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
                match output.failed.first() {
                    None => Ok(()),
                    Some(first) => Err(QueueError::Rejected {
                        failed: output.failed.len(),
                        total,
                        reason: first.message.clone().unwrap_or_else(|| first.code.clone()),
                    }),
                }
            });
        }
        while let Some(done) = in_flight.join_next().await {
            settle(&mut outcome, Some(done));
        }
        outcome
    }

    async fn receive(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        self.receive_from(self.url(queue)?, max, true).await
    }

    async fn ack(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.client
            .get()
            .await
            .delete_message()
            .queue_url(self.url(queue)?)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn release(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.client
            .get()
            .await
            .change_message_visibility()
            .queue_url(self.url(queue)?)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn dead_letters(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        let url = self.dead_letter_url(queue).await?;
        // Looked at, not taken: they stay in the dead-letter queue for an operator.
        self.receive_from(&url, max, false).await
    }
}
