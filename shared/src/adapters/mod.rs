pub mod dynamo_table;
pub mod local_secrets;
pub mod outbox_mailer;
pub mod secrets_manager;
pub mod smtp_mailer;
pub mod sqlite_table;
