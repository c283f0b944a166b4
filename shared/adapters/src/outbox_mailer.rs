//! Mail for local runs: each message is written as an `.eml` file to an outbox folder,
//! where a developer (or a test) reads it.

use crate::smtp_mailer::build_message;
use async_trait::async_trait;
use chief::ports::mailer::{Email, MailError, Mailer};
use lettre::message::Mailbox;
use std::path::PathBuf;

pub struct OutboxMailer {
    from: Mailbox,
    dir: PathBuf,
}

impl OutboxMailer {
    pub fn new(from: &str, dir: PathBuf) -> Result<Self, MailError> {
        let from = from.parse().map_err(|_| MailError::InvalidAddress(from.to_string()))?;
        std::fs::create_dir_all(&dir).map_err(|e| MailError::Failed(e.to_string()))?;
        Ok(OutboxMailer { from, dir })
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let message = build_message(&self.from, &email)?;
        let path = self.dir.join(format!("{}.eml", ulid::Ulid::new()));
        tokio::fs::write(&path, message.formatted())
            .await
            .map_err(|e| MailError::Failed(e.to_string()))?;
        tracing::info!(path = %path.display(), "mail written to the outbox");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_mail_becomes_an_eml_file_and_bad_addresses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = OutboxMailer::new("Chief <no-reply@chief.local>", dir.path().join("outbox")).unwrap();
        let mail = Email {
            to: "ada@example.com".into(),
            subject: "Hello".into(),
            text: "Line one\nLine two\n".into(),
        };
        outbox.send(mail.clone()).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            text.contains("To: ada@example.com") && text.contains("Subject: Hello") && text.contains("Line two"),
            "{text}"
        );
        let bad = outbox
            .send(Email {
                to: "not an address".into(),
                ..mail
            })
            .await;
        assert!(matches!(bad, Err(MailError::InvalidAddress(_))));
    }
}
