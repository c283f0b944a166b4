//! Mail over SMTP (lettre). The transport is built on the first send from the SMTP URL secret,
//! so a function that never mails never reads the secret nor sets up TLS.

use async_trait::async_trait;
use chief::ports::mailer::{Email, MailError, Mailer};
use chief::ports::secrets::{SecretName, Secrets};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub struct SmtpMailer {
    from: Mailbox,
    secrets: Arc<dyn Secrets>,
    transport: OnceCell<AsyncSmtpTransport<Tokio1Executor>>,
}

impl SmtpMailer {
    pub fn new(from: &str, secrets: Arc<dyn Secrets>) -> Result<Self, MailError> {
        let from = from.parse().map_err(|_| MailError::InvalidAddress(from.to_string()))?;
        Ok(SmtpMailer {
            from,
            secrets,
            transport: OnceCell::new(),
        })
    }

    async fn transport(&self) -> Result<&AsyncSmtpTransport<Tokio1Executor>, MailError> {
        self.transport
            .get_or_try_init(|| async {
                let url = self
                    .secrets
                    .get(SecretName::SmtpUrl)
                    .await
                    .map_err(|e| MailError::Failed(e.to_string()))?;
                crate::tls::install_default_provider();
                Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .map_err(|e| MailError::Failed(format!("bad SMTP URL: {e}")))?
                    .build())
            })
            .await
    }
}

pub fn build_message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let to: Mailbox = email.to.parse().map_err(|_| MailError::InvalidAddress(email.to.clone()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(email.text.clone())
        .map_err(|e| MailError::Failed(e.to_string()))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let message = build_message(&self.from, &email)?;
        self.transport()
            .await?
            .send(message)
            .await
            .map_err(|e| MailError::Failed(e.to_string()))?;
        Ok(())
    }
}
