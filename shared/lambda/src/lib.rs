//! The Lambda glue: a cloud function's configuration, read once into typed structs that fail
//! loudly and clearly at start-up; its wiring (clients built once, reused by every
//! invocation); and the conversions between Lambda's events (API Gateway, SQS, EventBridge)
//! and the domain's requests and jobs. Each optional port is behind the feature of its
//! adapter, so a function links only what its `main.rs` wires.

pub mod logs;

use chief::api::{Req, Response, RouteGroup, serve};
use chief::app::{App, BillingSettings, Settings};
use chief::clock::SystemClock;
use chief::config::{ConfigError, billing_from_env, optional};
use chief::jobs::{Consumer, Delivered, JobSpec, Trigger};
use chief::ports::Port;
use chief::ports::queue::QueueName;
use chief::ports::secrets::SecretName;
use chief_adapters::aws::AwsConfig;
use chief_adapters::dynamo_table::DynamoTable;
use chief_adapters::secrets_manager::SecretsManagerSecrets;
use chief_adapters::unwired::Unwired;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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
    /// `CHIEF_TASK_QUEUE_URL` / `CHIEF_ANALYSIS_QUEUE_URL` / `CHIEF_PUBLISH_QUEUE_URL`: the SQS
    /// queues of the three queue jobs.
    pub queue_urls: HashMap<QueueName, String>,
    /// `CHIEF_AI_SECRET_ID` (optional): the id of the AI provider's API key.
    pub ai_secret_id: Option<String>,
    /// `CHIEF_API_URL`: the API's public address (the OAuth callback's).
    pub api_url: String,
    /// `CHIEF_TOKEN_KEY_SECRET_ID` (optional): the key that seals social tokens; and each
    /// platform's app, `CHIEF_LINKEDIN_APP_SECRET_ID`, `CHIEF_X_APP_SECRET_ID`,
    /// `CHIEF_META_APP_SECRET_ID` (`{"clientId", "clientSecret"}`). A platform without one
    /// answers 503 `PLATFORM_NOT_CONFIGURED`.
    pub social_secret_ids: Vec<(SecretName, String)>,
    pub platform_versions: chief::app::PlatformVersions,
    /// `CHIEF_ACCESS_TOKEN_MINUTES` (15).
    pub access_token_ttl: chrono::Duration,
    /// `CHIEF_GOOGLE_CLIENT_ID` (optional): the web app's Google client; unset, Google
    /// sign-in answers 503 `GOOGLE_NOT_CONFIGURED`. `CHIEF_GOOGLE_JWKS_URL` (optional): where
    /// its keys are fetched (Google's by default).
    pub google_client_id: Option<String>,
    pub google_jwks_url: String,
    /// `CHIEF_AI_PRICES` (optional): model prices over the defaults, for AI spend.
    pub ai_prices: chief::ports::ai_pricing::Prices,
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
        let api_url = optional("CHIEF_API_URL").unwrap_or_else(|| app_url.clone());
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
                (QueueName::Publish, optional("CHIEF_PUBLISH_QUEUE_URL")),
            ]
            .into_iter()
            .filter_map(|(queue, url)| url.map(|url| (queue, url)))
            .collect(),
            ai_secret_id: optional("CHIEF_AI_SECRET_ID"),
            api_url,
            social_secret_ids: [
                (SecretName::SocialTokenKey, "CHIEF_TOKEN_KEY_SECRET_ID"),
                (SecretName::LinkedinApp, "CHIEF_LINKEDIN_APP_SECRET_ID"),
                (SecretName::XApp, "CHIEF_X_APP_SECRET_ID"),
                (SecretName::MetaApp, "CHIEF_META_APP_SECRET_ID"),
            ]
            .into_iter()
            .filter_map(|(name, var)| optional(var).map(|id| (name, id)))
            .collect(),
            platform_versions: chief::config::platform_versions_from_env()?,
            access_token_ttl: chief::config::access_token_ttl_from_env()?,
            google_client_id: optional("CHIEF_GOOGLE_CLIENT_ID"),
            google_jwks_url: chief::config::google_jwks_url(),
            ai_prices: chief::config::ai_prices_from_env()?,
        })
    }
}

/// A cloud function's App as its `main.rs` wires it: the table, secrets and clock every
/// function has, plus the adapters it asks for; the rest are [`Unwired`], and what is not
/// asked for is not linked into the binary. Nothing is read or connected here: the SDK's
/// configuration, credentials, clients and their root certificates are made by the first
/// request that calls AWS ([`AwsConfig`]), so a cold start reaches its first poll at once.
pub struct Wiring {
    app: App,
    // Read only by the wiring of the optional ports, each behind its feature.
    #[cfg_attr(not(any(feature = "events", feature = "queue")), expect(dead_code))]
    aws: Arc<AwsConfig>,
    #[cfg_attr(
        not(any(
            feature = "mailer",
            feature = "payments",
            feature = "events",
            feature = "queue",
            feature = "social",
            feature = "google"
        )),
        expect(dead_code)
    )]
    config: CloudConfig,
    #[cfg_attr(
        not(any(feature = "mailer", feature = "payments", feature = "ai", feature = "social")),
        expect(dead_code)
    )]
    secrets: Arc<SecretsManagerSecrets>,
    /// The optional ports wired so far, checked against what the function's work needs.
    wired: Vec<Port>,
}

impl Wiring {
    fn new(config: CloudConfig) -> Wiring {
        let aws = AwsConfig::from_env();
        let clock = Arc::new(SystemClock);
        let table = Arc::new(DynamoTable::new(aws.clone(), config.table_name.clone(), clock.clone()));
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
        ids.extend(config.social_secret_ids.iter().cloned());
        let secrets = Arc::new(SecretsManagerSecrets::new(aws.clone(), ids, config.secrets_ttl));
        let unwired = Arc::new(Unwired);
        let app = App {
            table,
            secrets: secrets.clone(),
            mailer: unwired.clone(),
            payments: unwired.clone(),
            events: unwired.clone(),
            queue: unwired.clone(),
            ai: unwired.clone(),
            social: unwired.clone(),
            google_keys: unwired,
            clock,
            settings: Settings {
                app_url: config.app_url.clone(),
                api_url: config.api_url.clone(),
                platforms: config.platform_versions.clone(),
                billing: config.billing.clone(),
                access_token_ttl: config.access_token_ttl,
                google_client_id: config.google_client_id.clone(),
                ai_prices: config.ai_prices.clone(),
                dependencies: chief::app::Dependencies {
                    ai_provider: optional("CHIEF_AI_PROVIDER").unwrap_or_else(|| "openai".into()),
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
    #[cfg(feature = "mailer")]
    pub fn mailer(mut self) -> Result<Self, ConfigError> {
        let mailer = chief_adapters::smtp_mailer::SmtpMailer::new(&self.config.mail_from, self.secrets.clone())
            .map_err(|e| ConfigError::Invalid(format!("CHIEF_MAIL_FROM: {e}")))?;
        self.app.mailer = Arc::new(mailer);
        self.wired.push(Port::Mailer);
        Ok(self)
    }

    /// Stripe.
    #[cfg(feature = "payments")]
    pub fn payments(mut self) -> Self {
        self.app.payments = Arc::new(chief_adapters::stripe_payments::StripePayments::new(
            self.secrets.clone(),
            self.config.stripe_api_base.clone(),
        ));
        self.wired.push(Port::Payments);
        self
    }

    /// The app's EventBridge bus (`CHIEF_EVENT_BUS_NAME`).
    #[cfg(feature = "events")]
    pub fn events(mut self) -> Result<Self, ConfigError> {
        let bus = self
            .config
            .event_bus_name
            .clone()
            .ok_or_else(|| ConfigError::Missing("CHIEF_EVENT_BUS_NAME".into()))?;
        self.app.events = Arc::new(chief_adapters::eventbridge_bus::EventBridgeBus::new(self.aws.clone(), bus));
        self.wired.push(Port::Events);
        Ok(self)
    }

    /// The SQS job queues whose URLs are set (`CHIEF_TASK_QUEUE_URL`,
    /// `CHIEF_ANALYSIS_QUEUE_URL`, `CHIEF_PUBLISH_QUEUE_URL`); each one set is a port wired.
    #[cfg(feature = "queue")]
    pub fn queue(mut self) -> Self {
        self.app.queue = Arc::new(chief_adapters::sqs_queue::SqsQueue::new(
            self.aws.clone(),
            self.config.queue_urls.clone(),
        ));
        self.wired.extend(self.config.queue_urls.keys().map(|q| Port::Queue(*q)));
        self
    }

    /// The AI provider of `CHIEF_AI_PROVIDER` (OpenAI-compatible by default).
    #[cfg(feature = "ai")]
    pub fn ai(mut self) -> Result<Self, ConfigError> {
        use chief_adapters::openai_ai;
        self.app.ai = openai_ai::from_env(self.secrets.clone(), openai_ai::PROVIDER)?;
        self.wired.push(Port::Ai);
        Ok(self)
    }

    /// The social platforms: the sandbox, and the real ones over HTTPS (their apps' keys
    /// from Secrets; `CHIEF_*_BASE_URL` for stand-ins).
    #[cfg(feature = "social")]
    pub fn social(mut self) -> Self {
        use chief_adapters::social_http::{Bases, HttpPlatforms};
        let sandbox = Arc::new(chief::content::sandbox::SandboxSocial::new(
            self.app.table.clone(),
            self.app.clock.clone(),
        ));
        self.app.social = Arc::new(HttpPlatforms::new(
            sandbox,
            self.secrets.clone(),
            self.app.clock.clone(),
            Bases::from_env(),
            self.config.platform_versions.clone(),
        ));
        self.wired.push(Port::Social);
        self
    }
}

impl Wiring {
    /// Google's signing keys, for sign-in with Google (fetched on the first one, then cached).
    #[cfg(feature = "google")]
    pub fn google(mut self) -> Self {
        let source = Arc::new(chief_adapters::google_keys::HttpKeys::new(self.config.google_jwks_url.clone()));
        self.app.google_keys = Arc::new(chief::auth::google::CachedKeys::new(source));
        self.wired.push(Port::GoogleKeys);
        self
    }
}

/// Config from the environment, then the App with what `wire` adds, refused when `needs`
/// holds a port that was not wired.
async fn cloud_app(function: &str, needs: &[Port], wire: impl FnOnce(Wiring) -> Result<Wiring, ConfigError>) -> Result<App, ConfigError> {
    let config = CloudConfig::from_env()?;
    wire(Wiring::new(config))?.check(function, needs)
}

/// API Gateway's request (HTTP API, payload 2.0) as the domain's.
pub fn request(req: lambda_http::Request) -> Req {
    let query = req
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (source_ip, request_id) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (ctx.http.source_ip.clone(), ctx.request_id.clone()),
        _ => (None, None),
    };
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Req::new(parts.method, parts.uri.path().to_string(), parts.headers, query, body).from_source(source_ip, request_id)
}

/// The domain's answer as API Gateway's.
pub fn response(response: Response) -> lambda_http::Response<Body> {
    response.map(Body::Text)
}

/// The whole of an API function: JSON logs, config, the clients `wire` asks for, then serve
/// the group. It takes the group's own routes (not a [`chief::routes::Group`], whose lookup
/// reaches every group) so that the binary links only this group's handlers.
pub async fn run_api(
    spec: &'static RouteGroup,
    wire: impl FnOnce(Wiring) -> Result<Wiring, ConfigError>,
) -> Result<(), lambda_http::Error> {
    logs::init();
    let app = cloud_app(spec.function, spec.ports, wire).await?;
    let app = &app;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(response(serve(app, spec, request(req)).await))
    }))
    .await
}

/// An SQS batch handled as the domain handles a delivered batch, answering the ids of the
/// messages to deliver again.
pub async fn sqs_batch(
    app: &App,
    consumer: &Consumer,
    event: aws_lambda_events::sqs::SqsEvent,
    deadline: Option<std::time::Instant>,
) -> aws_lambda_events::sqs::SqsBatchResponse {
    let batch = event
        .records
        .into_iter()
        .map(|record| Delivered {
            id: record.message_id.unwrap_or_default(),
            body: record.body.unwrap_or_default(),
        })
        .collect();
    let mut response = aws_lambda_events::sqs::SqsBatchResponse::default();
    for id in chief::jobs::handle_batch(app, consumer, batch, deadline).await {
        response.add_failure(id);
    }
    response
}

/// The whole of a background function: JSON logs, config, clients, then handle events. A
/// schedule that fails returns the error, so EventBridge's invocation is retried; a queue
/// batch reports the ids of the messages that failed.
pub async fn run_job(job: &'static JobSpec, wire: impl FnOnce(Wiring) -> Result<Wiring, ConfigError>) -> Result<(), lambda_runtime::Error> {
    logs::init();
    let app = cloud_app(job.function, job.ports, wire).await?;
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let consumer = match &job.trigger {
                Trigger::Schedule(scheduled) => {
                    let report = (scheduled.run)(app).await?;
                    tracing::info!(%report, "scheduled run done");
                    return Ok::<_, lambda_runtime::Error>(report);
                }
                Trigger::Queue(consumer) => consumer,
            };
            let batch: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event.payload)?;
            let deadline = event
                .context
                .deadline()
                .duration_since(std::time::SystemTime::now())
                .ok()
                .map(|left| std::time::Instant::now() + left);
            Ok(serde_json::to_value(sqs_batch(app, consumer, batch, deadline).await)?)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chief::jobs::Job;
    use chief::routes::Group;

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
            api_url: "http://localhost".into(),
            social_secret_ids: Vec::new(),
            platform_versions: chief::app::PlatformVersions::default(),
            access_token_ttl: chrono::Duration::minutes(15),
            google_client_id: None,
            google_jwks_url: chief::auth::google::JWKS_URL.into(),
            ai_prices: chief::ports::ai_pricing::Prices::default(),
        }
    }

    #[tokio::test]
    async fn a_function_missing_a_port_its_routes_need_refuses_to_start_and_names_it() {
        let leads = Group::Leads.spec();
        let unwired = Wiring::new(config()).check(leads.function, leads.ports);
        let message = unwired.err().expect("refused").to_string();
        assert!(message.contains("api-leads needs the events"), "{message}");
        let wired = Wiring::new(config()).events().unwrap();
        assert!(wired.check(leads.function, leads.ports).is_ok());
        let run_task = Job::RunTask;
        let partly = Wiring::new(config()).events().unwrap().social();
        let refused = partly.check(run_task.function(), run_task.ports());
        assert!(refused.err().expect("refused").to_string().contains("needs the ai"));
    }

    #[tokio::test]
    async fn configuration_is_asked_only_of_the_functions_that_use_it() {
        let executor = Job::Executor;
        // No queue URL: the executor could not send what it claims, so it does not start.
        let without = Wiring::new(config()).queue().check(executor.function(), executor.ports());
        let message = without.err().expect("refused").to_string();
        assert!(message.contains("job-executor needs the tasks queue"), "{message}");
        let mut with_queue = config();
        with_queue.queue_urls.insert(QueueName::Tasks, "http://queue/tasks".into());
        let half = Wiring::new(with_queue.clone()).queue().check(executor.function(), executor.ports());
        let message = half.err().expect("refused").to_string();
        assert!(message.contains("job-executor needs the publish queue"), "{message}");
        with_queue.queue_urls.insert(QueueName::Publish, "http://queue/publish".into());
        let wired = Wiring::new(with_queue).queue();
        assert!(wired.check(executor.function(), executor.ports()).is_ok());
        // No bus: a function that emits events cannot wire them; one that does not starts.
        let mut no_bus = config();
        no_bus.event_bus_name = None;
        assert!(Wiring::new(no_bus.clone()).events().is_err());
        let health = Group::Health.spec();
        assert!(Wiring::new(no_bus).check(health.function, health.ports).is_ok());
    }
}

/// The fixtures `cargo lambda invoke --data-file` sends (`events/`) are events the functions
/// take, converted as in the cloud and handled on the domain's in-memory App.
#[cfg(test)]
mod fixtures {
    use super::*;
    use chief::jobs::Job;
    use chief::routes::Group;
    use lambda_http::http::StatusCode;
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(root().join("events").join(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
    }

    /// Every function has its sample event in `events/`, named after it.
    #[test]
    fn every_function_has_its_event() {
        for entry in std::fs::read_dir(root().join("functions")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name == "local" {
                continue;
            }
            assert!(
                root().join("events").join(format!("{name}.json")).exists(),
                "events/{name}.json is missing"
            );
        }
    }

    #[tokio::test]
    async fn api_events_reach_their_groups_handlers() {
        let t = chief::testing::app();
        for (file, group, status) in [
            ("api-health.json", Group::Health, StatusCode::OK),
            ("api-auth.json", Group::Auth, StatusCode::CREATED),
            ("api-orgs.json", Group::Orgs, StatusCode::UNAUTHORIZED),
            ("api-leads.json", Group::Leads, StatusCode::UNAUTHORIZED),
            ("api-billing.json", Group::Billing, StatusCode::UNAUTHORIZED),
            ("api-chat.json", Group::Chat, StatusCode::UNAUTHORIZED),
            ("api-tasks.json", Group::Tasks, StatusCode::UNAUTHORIZED),
            // No webhook secret in this app: the delivery reaches the webhook, which says so.
            ("stripe-webhook.json", Group::StripeWebhook, StatusCode::SERVICE_UNAVAILABLE),
        ] {
            let event = lambda_http::request::from_str(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let req = request(event);
            assert!(
                req.request_id.is_some() && req.source_ip.is_some(),
                "{file}: the request context is read"
            );
            assert_eq!(Group::for_path(&req.path), Some(group), "{file}");
            let answer = response(serve(&t.app, group.spec(), req).await);
            assert_eq!(answer.status(), status, "{file}: {:?}", answer.body());
        }
    }

    #[tokio::test]
    async fn job_events_are_events_the_jobs_take() {
        let t = chief::testing::app();
        for job in [Job::Executor, Job::Agent, Job::Analytics] {
            let file = format!("{}.json", job.function());
            let event: aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value> = serde_json::from_str(&fixture(&file)).unwrap();
            assert_eq!(event.detail_type, "Scheduled Event", "{file}");
            let scheduled = Job::scheduled(job.function()).expect("a schedule");
            (scheduled.run)(&t.app).await.unwrap();
        }
        for (file, queue) in [
            ("job-run-task.json", QueueName::Tasks),
            ("job-analyze.json", QueueName::Analysis),
            ("job-publish.json", QueueName::Publish),
        ] {
            let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_str(&fixture(file)).unwrap();
            assert_eq!(event.records.len(), 1, "{file}");
            // Nothing to do on an empty store (no such task, no such org), and no failure.
            let response = sqs_batch(&t.app, Job::consuming(queue), event, None).await;
            assert!(response.batch_item_failures.is_empty(), "{file}");
        }
    }

    #[tokio::test]
    async fn an_sqs_batch_reports_the_ids_of_its_failed_messages() {
        let t = chief::testing::app();
        let fine = serde_json::json!({"orgId": chief::model::new_id(), "taskId": chief::model::new_id(), "claim": 2}).to_string();
        let mut event = aws_lambda_events::sqs::SqsEvent::default();
        for (id, body) in [("m1", fine.as_str()), ("m2", "{poison"), ("m3", fine.as_str())] {
            let mut message = aws_lambda_events::sqs::SqsMessage::default();
            message.message_id = Some(id.into());
            message.body = Some(body.into());
            event.records.push(message);
        }
        let response = sqs_batch(&t.app, Job::consuming(QueueName::Tasks), event, None).await;
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m2"]);
    }
}
