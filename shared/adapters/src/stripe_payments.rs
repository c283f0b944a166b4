//! Payments through Stripe (async-stripe 1.x, only the customer, Checkout, portal and
//! subscription-cancel APIs). Requests are built with async-stripe's typed builders; answers
//! are read as plain JSON ([`Answer`]): the adapter needs an id, a URL and an expiry, and the
//! generated answer types (a Subscription reaches most of Stripe's object graph) would put
//! their deserializers, megabytes of them, into every function that links billing.
//! The key is read from Secrets on use, so a cloud function asks Secrets Manager only when
//! a billing request comes, and a rotated key is picked up when the secret cache renews.

use crate::stripe_http::{StripeFailure, StripeHttp};
use async_trait::async_trait;
use chief::ports::payments::{CheckoutRequest, HostedSession, NewCustomer, Payments, PaymentsError};
use chief::ports::secrets::{SecretName, Secrets, SecretsError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::CancelSubscription;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData, ExpireCheckoutSession,
};
use stripe_client_core::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_core::customer::CreateCustomer;
use tokio::sync::Mutex;

/// What to give so that billing works, for the error that says it does not.
pub const SETTINGS_HINT: &str = "billing is not configured: set STRIPE_SECRET_KEY (locally) or the Stripe secret key secret (in the cloud), and STRIPE_PRICE_PRO and STRIPE_PRICE_ENTERPRISE";

pub struct StripePayments {
    secrets: Arc<dyn Secrets>,
    /// `None` for api.stripe.com; tests point it at a local fixture.
    api_base: Option<String>,
    client: Mutex<Option<(String, StripeHttp)>>,
}

impl StripePayments {
    pub fn new(secrets: Arc<dyn Secrets>, api_base: Option<String>) -> Self {
        StripePayments {
            secrets,
            api_base,
            client: Mutex::new(None),
        }
    }

    /// The client for the current key, built once per key.
    async fn client(&self) -> Result<StripeHttp, PaymentsError> {
        let key = match self.secrets.get(SecretName::StripeSecretKey).await {
            Ok(key) => key,
            Err(SecretsError::Missing(_)) => return Err(PaymentsError::NotConfigured(SETTINGS_HINT.into())),
            Err(SecretsError::Unavailable(e)) => return Err(PaymentsError::Unavailable(e)),
        };
        let mut cached = self.client.lock().await;
        if let Some((cached_key, client)) = cached.as_ref()
            && *cached_key == key
        {
            return Ok(client.clone());
        }
        let client = StripeHttp::new(
            &key,
            self.api_base.as_deref().unwrap_or("https://api.stripe.com/"),
            // Retries reuse one idempotency key, so a retried create makes one object.
            RequestStrategy::ExponentialBackoff(3),
            Duration::from_secs(10),
        )
        .map_err(|e| PaymentsError::NotConfigured(format!("the Stripe settings are invalid: {e}")))?;
        *cached = Some((key, client.clone()));
        Ok(client)
    }
}

fn map_error(e: StripeFailure) -> PaymentsError {
    match e {
        StripeFailure::Api { status, message } if (400..500).contains(&status) && status != 429 => PaymentsError::Rejected(message),
        other => PaymentsError::Unavailable(other.to_string()),
    }
}

/// An answer of Stripe's, as JSON.
type Answer = miniserde::json::Value;

fn field<'a>(answer: &'a Answer, name: &str) -> Option<&'a Answer> {
    match answer {
        Answer::Object(object) => object.get(name),
        _ => None,
    }
}

fn missing(name: &str) -> PaymentsError {
    PaymentsError::Unavailable(format!("Stripe answered an object without its {name}"))
}

fn text(answer: &Answer, name: &str) -> Result<String, PaymentsError> {
    match field(answer, name) {
        Some(Answer::String(value)) => Ok(value.clone()),
        _ => Err(missing(name)),
    }
}

fn timestamp(answer: &Answer, name: &str) -> Result<i64, PaymentsError> {
    use miniserde::json::Number;
    match field(answer, name) {
        Some(Answer::Number(Number::I64(value))) => Ok(*value),
        Some(Answer::Number(Number::U64(value))) => i64::try_from(*value).map_err(|_| missing(name)),
        _ => Err(missing(name)),
    }
}

fn org_metadata(org_id: &str, plan: Option<&str>) -> HashMap<String, String> {
    let mut metadata = HashMap::from([("org_id".to_string(), org_id.to_string())]);
    if let Some(plan) = plan {
        metadata.insert("plan".into(), plan.into());
    }
    metadata
}

#[async_trait]
impl Payments for StripePayments {
    async fn ready(&self) -> Result<(), PaymentsError> {
        self.client().await.map(|_| ())
    }

    async fn create_customer(&self, customer: NewCustomer<'_>) -> Result<String, PaymentsError> {
        let client = self.client().await?;
        let key = IdempotencyKey::new(format!("chief-customer-{}", customer.org_id)).map_err(|e| PaymentsError::Rejected(e.to_string()))?;
        let created = CreateCustomer::new()
            .name(customer.org_name)
            .email(customer.email)
            .metadata(org_metadata(customer.org_id, None))
            .build()
            .customize::<Answer>()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&client)
            .await
            .map_err(map_error)?;
        text(&created, "id")
    }

    async fn checkout(&self, request: CheckoutRequest<'_>) -> Result<HostedSession, PaymentsError> {
        let client = self.client().await?;
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(request.price_id.into());
        line.quantity = Some(1);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(org_metadata(request.org_id, Some(request.plan)));
        let session = CreateCheckoutSession::new()
            .mode(stripe_checkout::CheckoutSessionMode::Subscription)
            .customer(request.customer_id)
            .client_reference_id(request.org_id)
            .line_items(vec![line])
            .metadata(org_metadata(request.org_id, Some(request.plan)))
            .subscription_data(subscription)
            .success_url(request.success_url)
            .cancel_url(request.cancel_url)
            .build()
            .customize::<Answer>()
            .send(&client)
            .await
            .map_err(map_error)?;
        Ok(HostedSession {
            id: text(&session, "id")?,
            url: text(&session, "url")?,
            expires_at: Some(timestamp(&session, "expires_at")?),
        })
    }

    async fn portal(&self, customer_id: &str, return_url: &str) -> Result<HostedSession, PaymentsError> {
        let client = self.client().await?;
        let session = CreateBillingPortalSession::new()
            .customer(customer_id)
            .return_url(return_url)
            .build()
            .customize::<Answer>()
            .send(&client)
            .await
            .map_err(map_error)?;
        Ok(HostedSession {
            id: text(&session, "id")?,
            url: text(&session, "url")?,
            expires_at: None,
        })
    }

    async fn expire_checkout(&self, session_id: &str) -> Result<(), PaymentsError> {
        let client = self.client().await?;
        match ExpireCheckoutSession::new(session_id)
            .build()
            .customize::<Answer>()
            .send(&client)
            .await
        {
            Ok(_) => Ok(()),
            // Stripe answers 400 for a session that is complete or expired already.
            Err(StripeFailure::Api { status: 400 | 404, .. }) => Ok(()),
            Err(e) => Err(map_error(e)),
        }
    }

    async fn cancel_subscription(&self, subscription_id: &str) -> Result<(), PaymentsError> {
        let client = self.client().await?;
        let key = IdempotencyKey::new(format!("chief-cancel-{subscription_id}")).map_err(|e| PaymentsError::Rejected(e.to_string()))?;
        let cancel = CancelSubscription::new(subscription_id).invoice_now(false).prorate(false);
        match cancel
            .build()
            .customize::<Answer>()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&client)
            .await
        {
            Ok(_) => Ok(()),
            // No such subscription: cancelled long ago, nothing left to charge.
            Err(StripeFailure::Api { status: 404, .. }) => Ok(()),
            Err(e) => Err(map_error(e)),
        }
    }
}
