//! Chief's adapters: the implementations of the domain's ports. Each that links a library is
//! behind the feature named for it, so a function's binary holds only what its `main.rs`
//! wires; the ones without a feature link nothing beyond the domain.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "dynamo")]
pub mod dynamo_table;
#[cfg(feature = "eventbridge")]
pub mod eventbridge_bus;
#[cfg(feature = "google")]
pub mod google_keys;
pub mod local_secrets;
pub mod offline_ai;
#[cfg(feature = "openai")]
pub mod openai_ai;
#[cfg(feature = "mail")]
pub mod outbox_mailer;
#[cfg(feature = "secrets-manager")]
pub mod secrets_manager;
#[cfg(feature = "mail")]
pub mod smtp_mailer;
#[cfg(feature = "social")]
pub mod social_http;
#[cfg(feature = "sqlite")]
pub mod sqlite_queue;
#[cfg(feature = "sqlite")]
pub mod sqlite_table;
#[cfg(feature = "sqs")]
pub mod sqs_queue;
pub mod store_events;
#[cfg(feature = "stripe")]
pub mod stripe_http;
#[cfg(feature = "stripe")]
pub mod stripe_payments;
pub mod unwired;

#[cfg(any(feature = "mail", feature = "openai", feature = "social", feature = "google"))]
pub mod tls;

#[cfg(feature = "test-support")]
pub mod test_support;

#[cfg(test)]
mod contract;
