//! Configuration, read once into typed structs that fail loudly and clearly at start-up,
//! and the wiring of a cloud function: clients built once, reused by every invocation.

use crate::adapters::dynamo_table::DynamoTable;
use crate::adapters::eventbridge_bus::EventBridgeBus;
use crate::adapters::offline_ai::OfflineAi;
use crate::adapters::openai_ai::{AiSettings, OpenAiCompatible};
use crate::adapters::sandbox_social::SandboxSocial;
use crate::adapters::secrets_manager::SecretsManagerSecrets;
use crate::adapters::smtp_mailer::SmtpMailer;
use crate::adapters::sqs_queue::SqsQueue;
use crate::adapters::stripe_payments::StripePayments;
use crate::adapters::unwired::Unwired;
use crate::api::serve;
use crate::app::{App, Settings};
use crate::billing::BillingSettings;
use crate::clock::SystemClock;
use crate::jobs::{Job, Trigger};
use crate::ports::Port;
use crate::ports::ai::Ai;
use crate::ports::queue::QueueName;
use crate::ports::secrets::{SecretName, Secrets};
use crate::routes::Group;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing configuration: set {0}")]
    Missing(String),
    #[error("bad configuration: {0}")]
    Invalid(String),
}

/// A cloud function's settings, from its environment (set by `template.yaml`).
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// `CHIEF_TABLE_NAME`
    pub table_name: String,
    /// `CHIEF_JWT_SECRET_ID`: the Secrets Manager id of the token signing key.
    pub jwt_secret_id: String,
    /// `CHIEF_SMTP_SECRET_ID` (optional): the id of the SMTP URL; without it mail is refused.
    pub smtp_secret_id: Option<String>,
    /// `CHIEF_MAIL_FROM`
    pub mail_from: String,
    /// `CHIEF_APP_URL`: the web frontend, for links in mail.
    pub app_url: String,
    /// `CHIEF_SECRETS_TTL_SECONDS`: how long a fetched secret is reused (default 300).
    pub secrets_ttl: Duration,
    /// `CHIEF_EVENT_BUS_NAME`: the app's own EventBridge bus for domain events (needed by
    /// the functions that wire events).
    pub event_bus_name: Option<String>,
    /// `CHIEF_STRIPE_SECRET_ID` / `CHIEF_STRIPE_WEBHOOK_SECRET_ID` (optional): the ids of the
    /// Stripe API key and webhook signing secret(s); without them billing answers 503.
    pub stripe_secret_id: Option<String>,
    pub stripe_webhook_secret_id: Option<String>,
    pub billing: BillingSettings,
    /// `STRIPE_API_BASE` (optional): another Stripe API address, for tests.
    pub stripe_api_base: Option<String>,
    /// `CHIEF_TASK_QUEUE_URL` / `CHIEF_ANALYSIS_QUEUE_URL`: the SQS queues of the two jobs.
    pub queue_urls: HashMap<QueueName, String>,
    /// `CHIEF_AI_SECRET_ID` (optional): the id of the AI provider's API key.
    pub ai_secret_id: Option<String>,
}

/// Which Ai adapter, from `CHIEF_AI_PROVIDER` (`openai` for any OpenAI-compatible endpoint,
/// or `offline`), with `default` when unset; the endpoint from `CHIEF_AI_BASE_URL`, the models
/// from `CHIEF_AI_MODEL_STRATEGY` and `CHIEF_AI_MODEL_ROUTINE`, the per-attempt timeout from
/// `CHIEF_AI_TIMEOUT_SECONDS`.
pub fn ai_from_env(secrets: Arc<dyn Secrets>, default: &str) -> Result<Arc<dyn Ai>, ConfigError> {
    let provider = optional("CHIEF_AI_PROVIDER").unwrap_or_else(|| default.to_string());
    match provider.as_str() {
        crate::adapters::offline_ai::PROVIDER => Ok(Arc::new(OfflineAi)),
        crate::adapters::openai_ai::PROVIDER => {
            let defaults = AiSettings::default();
            let timeout = match optional("CHIEF_AI_TIMEOUT_SECONDS") {
                None => defaults.timeout,
                Some(v) => Duration::from_secs(
                    v.parse()
                        .map_err(|_| ConfigError::Invalid(format!("CHIEF_AI_TIMEOUT_SECONDS={v} is not a number of seconds")))?,
                ),
            };
            let settings = AiSettings {
                base_url: optional("CHIEF_AI_BASE_URL"),
                strategy_model: optional("CHIEF_AI_MODEL_STRATEGY").unwrap_or(defaults.strategy_model),
                routine_model: optional("CHIEF_AI_MODEL_ROUTINE").unwrap_or(defaults.routine_model),
                timeout,
            };
            Ok(Arc::new(OpenAiCompatible::new(secrets, settings)))
        }
        other => Err(ConfigError::Invalid(format!("CHIEF_AI_PROVIDER={other}: use openai or offline"))),
    }
}

/// Billing settings both front doors read from the environment: `STRIPE_PRICE_PRO`,
/// `STRIPE_PRICE_ENTERPRISE`, and optionally `CHIEF_BILLING_SUCCESS_URL`,
/// `CHIEF_BILLING_CANCEL_URL`, `CHIEF_BILLING_PORTAL_RETURN_URL`.
pub fn billing_from_env() -> BillingSettings {
    BillingSettings {
        price_pro: optional("STRIPE_PRICE_PRO"),
        price_enterprise: optional("STRIPE_PRICE_ENTERPRISE"),
        success_url: optional("CHIEF_BILLING_SUCCESS_URL"),
        cancel_url: optional("CHIEF_BILLING_CANCEL_URL"),
        portal_return_url: optional("CHIEF_BILLING_PORTAL_RETURN_URL"),
    }
}

pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl CloudConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut missing = Vec::new();
        let mut required = |name: &str| {
            optional(name).unwrap_or_else(|| {
                missing.push(name.to_string());
                String::new()
            })
        };
        let table_name = required("CHIEF_TABLE_NAME");
        let jwt_secret_id = required("CHIEF_JWT_SECRET_ID");
        let app_url = required("CHIEF_APP_URL");
        // Lambda sets it; read here so a missing region fails at start-up, not on a request.
        required("AWS_REGION");
        if !missing.is_empty() {
            return Err(ConfigError::Missing(missing.join(", ")));
        }
        let secrets_ttl = match optional("CHIEF_SECRETS_TTL_SECONDS") {
            None => Duration::from_secs(300),
            Some(v) => Duration::from_secs(
                v.parse()
                    .map_err(|_| ConfigError::Invalid(format!("CHIEF_SECRETS_TTL_SECONDS={v} is not a number of seconds")))?,
            ),
        };
        Ok(CloudConfig {
            table_name,
            jwt_secret_id,
            smtp_secret_id: optional("CHIEF_SMTP_SECRET_ID"),
            mail_from: optional("CHIEF_MAIL_FROM").unwrap_or_else(|| "Chief <no-reply@chief.invalid>".into()),
            app_url,
            secrets_ttl,
            event_bus_name: optional("CHIEF_EVENT_BUS_NAME"),
            stripe_secret_id: optional("CHIEF_STRIPE_SECRET_ID"),
            stripe_webhook_secret_id: optional("CHIEF_STRIPE_WEBHOOK_SECRET_ID"),
            billing: billing_from_env(),
            stripe_api_base: optional("STRIPE_API_BASE"),
            queue_urls: [
                (QueueName::Tasks, optional("CHIEF_TASK_QUEUE_URL")),
                (QueueName::Analysis, optional("CHIEF_ANALYSIS_QUEUE_URL")),
            ]
            .into_iter()
            .filter_map(|(queue, url)| url.map(|url| (queue, url)))
            .collect(),
            ai_secret_id: optional("CHIEF_AI_SECRET_ID"),
        })
    }
}

/// A cloud function's App as its `main.rs` wires it: the table, secrets and clock every
/// function has, plus the adapters it asks for; the rest are [`Unwired`], and what is not
/// asked for is not linked into the binary. No network call happens here: the SDK resolves
/// credentials and opens connections on the first request that needs them.
pub struct Wiring {
    app: App,
    aws: aws_config::SdkConfig,
    config: CloudConfig,
    secrets: Arc<SecretsManagerSecrets>,
    /// The optional ports wired so far, checked against what the function's work needs.
    wired: Vec<Port>,
}

impl Wiring {
    async fn new(config: CloudConfig) -> Wiring {
        let aws = aws_config::load_from_env().await;
        let clock = Arc::new(SystemClock);
        let table = Arc::new(DynamoTable::new(
            aws_sdk_dynamodb::Client::new(&aws),
            config.table_name.clone(),
            clock.clone(),
        ));
        let mut ids = HashMap::from([(SecretName::JwtSigningKey, config.jwt_secret_id.clone())]);
        for (name, id) in [
            (SecretName::SmtpUrl, &config.smtp_secret_id),
            (SecretName::StripeSecretKey, &config.stripe_secret_id),
            (SecretName::StripeWebhookSecret, &config.stripe_webhook_secret_id),
            (SecretName::AiApiKey, &config.ai_secret_id),
        ] {
            if let Some(id) = id {
                ids.insert(name, id.clone());
            }
        }
        let secrets = Arc::new(SecretsManagerSecrets::new(
            aws_sdk_secretsmanager::Client::new(&aws),
            ids,
            config.secrets_ttl,
        ));
        let unwired = Arc::new(Unwired);
        let app = App {
            table,
            secrets: secrets.clone(),
            mailer: unwired.clone(),
            payments: unwired.clone(),
            events: unwired.clone(),
            queue: unwired.clone(),
            ai: unwired.clone(),
            social: unwired,
            clock,
            settings: Settings {
                app_url: config.app_url.clone(),
                billing: config.billing.clone(),
                dependencies: crate::app::Dependencies {
                    ai_provider: optional("CHIEF_AI_PROVIDER").unwrap_or_else(|| crate::adapters::openai_ai::PROVIDER.into()),
                    queues: config.queue_urls.keys().copied().collect(),
                    event_bus: config.event_bus_name.as_ref().map(|bus| format!("eventbridge:{bus}")),
                    mail: config.smtp_secret_id.as_ref().map(|_| "smtp".into()),
                },
                ..Settings::default()
            },
        };
        Wiring {
            app,
            aws,
            config,
            secrets,
            wired: Vec::new(),
        }
    }

    /// Refuses a function whose work needs a port its `main.rs` did not wire, naming it.
    fn check(self, function: &str, needs: &[Port]) -> Result<App, ConfigError> {
        match needs.iter().find(|port| !self.wired.contains(port)) {
            Some(port) => Err(ConfigError::Invalid(format!(
                "{function} needs the {port}: wire it in its main.rs and set its configuration"
            ))),
            None => Ok(self.app),
        }
    }

    /// Mail over SMTP, its URL from Secrets.
    pub fn mailer(mut self) -> Result<Self, ConfigError> {
        let mailer = SmtpMailer::new(&self.config.mail_from, self.secrets.clone())
            .map_err(|e| ConfigError::Invalid(format!("CHIEF_MAIL_FROM: {e}")))?;
        self.app.mailer = Arc::new(mailer);
        self.wired.push(Port::Mailer);
        Ok(self)
    }

    /// Stripe.
    pub fn payments(mut self) -> Self {
        self.app.payments = Arc::new(StripePayments::new(self.secrets.clone(), self.config.stripe_api_base.clone()));
        self.wired.push(Port::Payments);
        self
    }

    /// The app's EventBridge bus (`CHIEF_EVENT_BUS_NAME`).
    pub fn events(mut self) -> Result<Self, ConfigError> {
        let bus = self
            .config
            .event_bus_name
            .clone()
            .ok_or_else(|| ConfigError::Missing("CHIEF_EVENT_BUS_NAME".into()))?;
        self.app.events = Arc::new(EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&self.aws), bus));
        self.wired.push(Port::Events);
        Ok(self)
    }

    /// The SQS job queues whose URLs are set (`CHIEF_TASK_QUEUE_URL`,
    /// `CHIEF_ANALYSIS_QUEUE_URL`); each one set is a port wired.
    pub fn queue(mut self) -> Self {
        self.app.queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&self.aws), self.config.queue_urls.clone()));
        self.wired.extend(self.config.queue_urls.keys().map(|q| Port::Queue(*q)));
        self
    }

    /// The AI provider of `CHIEF_AI_PROVIDER` (OpenAI-compatible by default).
    pub fn ai(mut self) -> Result<Self, ConfigError> {
        self.app.ai = ai_from_env(self.secrets.clone(), crate::adapters::openai_ai::PROVIDER)?;
        self.wired.push(Port::Ai);
        Ok(self)
    }

    /// The sandbox social platform (the only one so far).
    pub fn social(mut self) -> Self {
        self.app.social = Arc::new(SandboxSocial::new(self.app.table.clone(), self.app.clock.clone()));
        self.wired.push(Port::Social);
        self
    }
}

/// Config from the environment, then the App with what `wire` adds, refused when `needs`
/// holds a port that was not wired.
async fn cloud_app(function: &str, needs: &[Port], wire: impl FnOnce(Wiring) -> Result<Wiring, ConfigError>) -> Result<App, ConfigError> {
    let config = CloudConfig::from_env()?;
    wire(Wiring::new(config).await)?.check(function, needs)
}

/// The whole of an API function: JSON logs, config, the clients `wire` asks for, then serve
/// the group.
pub async fn run_api(group: Group, wire: impl FnOnce(Wiring) -> Result<Wiring, ConfigError>) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let spec = group.spec();
    let app = cloud_app(spec.function, spec.ports, wire).await?;
    let app = &app;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(serve(app, spec, req).await)
    }))
    .await
}

/// The whole of a background function: JSON logs, config, clients, then handle events. A
/// schedule that fails returns the error, so EventBridge's invocation is retried; a queue
/// batch reports the ids of the messages that failed.
pub async fn run_job(job: Job, wire: impl FnOnce(Wiring) -> Result<Wiring, ConfigError>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = cloud_app(job.function(), job.ports(), wire).await?;
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let queue = match &job.spec().trigger {
                Trigger::Schedule(scheduled) => {
                    let report = (scheduled.run)(app).await?;
                    tracing::info!(%report, "scheduled run done");
                    return Ok::<_, lambda_runtime::Error>(report);
                }
                Trigger::Queue(consumer) => consumer.queue,
            };
            let batch: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event.payload)?;
            let deadline = event
                .context
                .deadline()
                .duration_since(std::time::SystemTime::now())
                .ok()
                .map(|left| std::time::Instant::now() + left);
            Ok(serde_json::to_value(crate::jobs::handle_batch(app, queue, batch, deadline).await)?)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CloudConfig {
        CloudConfig {
            table_name: "chief-test".into(),
            jwt_secret_id: "jwt".into(),
            smtp_secret_id: None,
            mail_from: "Chief <t@chief.invalid>".into(),
            app_url: "http://localhost".into(),
            secrets_ttl: Duration::from_secs(300),
            event_bus_name: Some("chief-test".into()),
            stripe_secret_id: None,
            stripe_webhook_secret_id: None,
            billing: BillingSettings::default(),
            stripe_api_base: None,
            queue_urls: HashMap::new(),
            ai_secret_id: None,
        }
    }

    #[tokio::test]
    async fn a_function_missing_a_port_its_routes_need_refuses_to_start_and_names_it() {
        let leads = Group::Leads.spec();
        let unwired = Wiring::new(config()).await.check(leads.function, leads.ports);
        let message = unwired.err().expect("refused").to_string();
        assert!(message.contains("api-leads needs the events"), "{message}");
        let wired = Wiring::new(config()).await.events().unwrap();
        assert!(wired.check(leads.function, leads.ports).is_ok());
        let run_task = crate::jobs::Job::RunTask;
        let partly = Wiring::new(config()).await.events().unwrap().social();
        let refused = partly.check(run_task.function(), run_task.ports());
        assert!(refused.err().expect("refused").to_string().contains("needs the ai"));
    }

    #[tokio::test]
    async fn configuration_is_asked_only_of_the_functions_that_use_it() {
        let executor = crate::jobs::Job::Executor;
        // No queue URL: the executor could not send what it claims, so it does not start.
        let without = Wiring::new(config()).await.queue().check(executor.function(), executor.ports());
        let message = without.err().expect("refused").to_string();
        assert!(message.contains("job-executor needs the tasks queue"), "{message}");
        let mut with_queue = config();
        with_queue.queue_urls.insert(QueueName::Tasks, "http://queue/tasks".into());
        let wired = Wiring::new(with_queue).await.queue();
        assert!(wired.check(executor.function(), executor.ports()).is_ok());
        // No bus: a function that emits events cannot wire them; one that does not starts.
        let mut no_bus = config();
        no_bus.event_bus_name = None;
        assert!(Wiring::new(no_bus.clone()).await.events().is_err());
        let health = Group::Health.spec();
        assert!(Wiring::new(no_bus).await.check(health.function, health.ports).is_ok());
    }
}
