//! What a cloud function has for a port its `main.rs` did not wire: every call says so. A
//! function links only the adapters it wires, which keeps its binary and its start small.
//! A function whose routes or job need a port it did not wire refuses to start, naming it
//! (`config::Wiring`), so these answer only work that needs no such port.

use async_trait::async_trait;
use chief::ports::ai::{Ai, AiError, Completion, Prompt};
use chief::ports::events::{DomainEvent, EventBus, EventBusError};
use chief::ports::keys::{Jwk, KeySet, KeysError};
use chief::ports::mailer::{Email, MailError, Mailer};
use chief::ports::payments::{CheckoutRequest, HostedSession, NewCustomer, Payments, PaymentsError};
use chief::ports::queue::{JobQueue, Message, QueueError, QueueName};
use chief::ports::social::{Channel, Metrics, Outgoing, Published, Social, SocialError};

pub struct Unwired;

const WHY: &str = "not wired into this function";

#[async_trait]
impl Payments for Unwired {
    async fn ready(&self) -> Result<(), PaymentsError> {
        Err(PaymentsError::NotConfigured(WHY.into()))
    }
    async fn create_customer(&self, _: NewCustomer<'_>) -> Result<String, PaymentsError> {
        Err(PaymentsError::NotConfigured(WHY.into()))
    }
    async fn checkout(&self, _: CheckoutRequest<'_>) -> Result<HostedSession, PaymentsError> {
        Err(PaymentsError::NotConfigured(WHY.into()))
    }
    async fn portal(&self, _: &str, _: &str) -> Result<HostedSession, PaymentsError> {
        Err(PaymentsError::NotConfigured(WHY.into()))
    }
    async fn expire_checkout(&self, _: &str) -> Result<(), PaymentsError> {
        Err(PaymentsError::NotConfigured(WHY.into()))
    }
    async fn cancel_subscription(&self, _: &str) -> Result<(), PaymentsError> {
        Err(PaymentsError::NotConfigured(WHY.into()))
    }
}

#[async_trait]
impl KeySet for Unwired {
    async fn key(&self, _: &str, _: chrono::DateTime<chrono::Utc>) -> Result<Option<Jwk>, KeysError> {
        Err(KeysError::NotConfigured(WHY.into()))
    }
}

#[async_trait]
impl Ai for Unwired {
    async fn complete(&self, _: Prompt) -> Result<Completion, AiError> {
        Err(AiError::NotConfigured(WHY.into()))
    }
}

#[async_trait]
impl EventBus for Unwired {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), EventBusError> {
        if events.is_empty() {
            return Ok(());
        }
        Err(EventBusError::Unavailable(WHY.into()))
    }
}

#[async_trait]
impl Mailer for Unwired {
    async fn send(&self, _: Email) -> Result<(), MailError> {
        Err(MailError::Failed(WHY.into()))
    }
}

#[async_trait]
impl Social for Unwired {
    async fn publish(&self, channel: &Channel<'_>, _: &Outgoing<'_>) -> Result<Published, SocialError> {
        Err(SocialError::NotConnected(format!("{}: {WHY}", channel.platform)))
    }
    async fn find_recent(&self, channel: &Channel<'_>, _: &str, _: &str) -> Result<Option<Published>, SocialError> {
        Err(SocialError::NotConnected(format!("{}: {WHY}", channel.platform)))
    }
    async fn metrics(&self, channel: &Channel<'_>, _: &Published) -> Result<Option<Metrics>, SocialError> {
        Err(SocialError::NotConnected(format!("{}: {WHY}", channel.platform)))
    }
}

#[async_trait]
impl JobQueue for Unwired {
    async fn send(&self, queue: QueueName, _: &[String]) -> Result<usize, QueueError> {
        Err(QueueError::NotConfigured(queue.as_str()))
    }
    async fn receive(&self, queue: QueueName, _: usize) -> Result<Vec<Message>, QueueError> {
        Err(QueueError::NotConfigured(queue.as_str()))
    }
    async fn ack(&self, queue: QueueName, _: &str) -> Result<(), QueueError> {
        Err(QueueError::NotConfigured(queue.as_str()))
    }
    async fn release(&self, queue: QueueName, _: &str) -> Result<(), QueueError> {
        Err(QueueError::NotConfigured(queue.as_str()))
    }
    async fn dead_letters(&self, queue: QueueName, _: usize) -> Result<Vec<Message>, QueueError> {
        Err(QueueError::NotConfigured(queue.as_str()))
    }
}
