//! Payments: the few things Chief asks of Stripe. Webhooks come the other way and are
//! handled in `billing::webhook`.

use async_trait::async_trait;

pub struct NewCustomer<'a> {
    pub org_id: &'a str,
    pub org_name: &'a str,
    pub email: &'a str,
}

pub struct CheckoutRequest<'a> {
    pub customer_id: &'a str,
    pub price_id: &'a str,
    pub org_id: &'a str,
    pub plan: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostedSession {
    pub id: String,
    pub url: String,
    /// When Stripe stops accepting the session (Unix seconds), if it says.
    pub expires_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// No key is set: billing is off until one is given.
    #[error("{0}")]
    NotConfigured(String),
    /// Stripe refused the request (a 4xx): a setting or an id is wrong.
    #[error("Stripe refused the request: {0}")]
    Rejected(String),
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Payments: Send + Sync {
    /// Whether a key is set, without calling Stripe: billing answers 503 early without one.
    async fn ready(&self) -> Result<(), PaymentsError>;
    /// Creates the org's customer. The same `org_id` gives the same customer when asked
    /// twice in a row (an idempotency key), so concurrent first checkouts make one.
    async fn create_customer(&self, customer: NewCustomer<'_>) -> Result<String, PaymentsError>;
    /// A Checkout Session in subscription mode for one price.
    async fn checkout(&self, request: CheckoutRequest<'_>) -> Result<HostedSession, PaymentsError>;
    /// A customer-portal session that returns to `return_url`.
    async fn portal(&self, customer_id: &str, return_url: &str) -> Result<HostedSession, PaymentsError>;
    /// Ends an open Checkout Session so that nobody can pay through it any more. A session
    /// that is already complete or expired is fine.
    async fn expire_checkout(&self, session_id: &str) -> Result<(), PaymentsError>;
    /// Cancels a subscription at once: no further invoice, no proration. One that Stripe no
    /// longer has (already cancelled and gone) is fine.
    async fn cancel_subscription(&self, subscription_id: &str) -> Result<(), PaymentsError>;
}
