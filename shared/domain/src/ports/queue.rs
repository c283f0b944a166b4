//! The JobQueue port: work handed from one function to another, delivered at least once.
//! A message that is not acknowledged comes back after its visibility timeout; after the
//! queue's maximum receives it moves to the queue's dead-letter queue instead.

use async_trait::async_trait;

/// The app's queues; each has a dead-letter queue of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    /// Claimed tasks for `job-run-task`.
    Tasks,
    /// Org analyses for `job-analyze`.
    Analysis,
    /// Claimed posts for `job-publish`.
    Publish,
}

impl QueueName {
    pub const ALL: [QueueName; 3] = [QueueName::Tasks, QueueName::Analysis, QueueName::Publish];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Tasks => "tasks",
            QueueName::Analysis => "analysis",
            QueueName::Publish => "publish",
        }
    }
}

/// SQS takes at most this many messages in one send (and hands a consumer at most this many).
pub const MAX_BATCH: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    /// What acknowledges or releases this receipt of the message.
    pub receipt: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("{failed} of {total} messages were not accepted: {reason}")]
    Rejected { failed: usize, total: usize, reason: String },
    #[error("queue {0} is not configured")]
    NotConfigured(&'static str),
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends every body (in batches of `MAX_BATCH`), answering how many batches it took.
    async fn send(&self, queue: QueueName, bodies: &[String]) -> Result<usize, QueueError>;
    /// Up to `max` visible messages; each stays hidden for the queue's visibility timeout.
    async fn receive(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError>;
    /// Done with it: the message is gone for good.
    async fn ack(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError>;
    /// Not done: the message is visible again at once (and counts toward the DLQ).
    async fn release(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError>;
    /// Up to `max` messages waiting in the queue's dead-letter queue (for operators and tests).
    async fn dead_letters(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError>;
}
