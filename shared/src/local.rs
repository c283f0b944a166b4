//! The whole product in one process on a laptop: every route group on one HTTP server, on
//! the embedded SQLite store, with mail written to an outbox folder. It routes a request to
//! the same group handler the cloud function runs; only this front door differs.

use crate::adapters::local_secrets::LocalSecrets;
use crate::adapters::outbox_mailer::OutboxMailer;
use crate::adapters::sandbox_social::SandboxSocial;
use crate::adapters::sqlite_queue::SqliteQueue;
use crate::adapters::sqlite_table::SqliteTable;
use crate::adapters::store_events::{StoreEventBus, recorded};
use crate::adapters::stripe_payments::StripePayments;
use crate::api::Reply;
use crate::api::router::{self, RouteTable};
use crate::api::{error_response, serve};
use crate::app::{App, Settings};
use crate::clock::SystemClock;
use crate::config::{ConfigError, ai_from_env, billing_from_env, optional};
use crate::error::AppError;
use crate::jobs::{Job, Scheduled, Trigger};
use crate::orgs::Role;
use crate::ports::queue::{Message, QueueName};
use crate::ports::secrets::SecretName;
use crate::routes::Group;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use rand::RngCore;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// `PORT` (default 3000; 0 picks a free one).
    pub port: u16,
    /// `CHIEF_DATA_DIR` (default `.chief`): the store, the secrets and the outbox.
    pub data_dir: PathBuf,
    /// `CHIEF_CORS_ORIGINS`: comma-separated origins the browser may call from (default `*`).
    pub cors_origins: Vec<String>,
    /// `CHIEF_APP_URL`: where links in mail point (default this server).
    pub app_url: Option<String>,
    /// `CHIEF_LOCAL_SCHEDULES` (default `on`): run the executor every minute and the agent
    /// every hour; `off` leaves them to `POST /local/executor/run` and `/local/agent/run`.
    pub schedules: bool,
    /// `CHIEF_LOCAL_DEV_ROUTES` (default `off`): `on` serves the routes that run a schedule
    /// at once and lists every dead letter, for development and tests. `local` is the product
    /// on one machine: off, nobody can trigger the org-wide runs or read other orgs' jobs.
    pub dev_routes: bool,
}

fn on_off(name: &str, value: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    match value.map(str::trim) {
        None => Ok(default),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(ConfigError::Invalid(format!("{name}={other}: use on or off"))),
    }
}

impl LocalConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let port = match var("PORT") {
            None => 3000,
            Some(p) => p
                .trim()
                .parse()
                .map_err(|_| ConfigError::Invalid(format!("PORT={p} is not a port number")))?,
        };
        Ok(LocalConfig {
            port,
            data_dir: var("CHIEF_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".chief")),
            cors_origins: var("CHIEF_CORS_ORIGINS")
                .unwrap_or_else(|| "*".into())
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect(),
            app_url: var("CHIEF_APP_URL"),
            schedules: on_off("CHIEF_LOCAL_SCHEDULES", var("CHIEF_LOCAL_SCHEDULES").as_deref(), true)?,
            dev_routes: on_off("CHIEF_LOCAL_DEV_ROUTES", var("CHIEF_LOCAL_DEV_ROUTES").as_deref(), false)?,
        })
    }
}

/// Keeps a development signing key in the data folder, made on the first run.
fn ensure_dev_key(secrets_dir: &Path) -> std::io::Result<()> {
    let path = secrets_dir.join(SecretName::JwtSigningKey.as_str());
    if path.exists() {
        return Ok(());
    }
    let mut key = [0u8; 48];
    rand::rng().fill_bytes(&mut key);
    std::fs::write(&path, base64::engine::general_purpose::STANDARD.encode(key))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// How long a received local message stays hidden before it comes back.
const LOCAL_VISIBILITY_SECONDS: u64 = 300;
pub fn local_app(config: &LocalConfig, app_url: String) -> Result<App, ConfigError> {
    let io = |what: &str, e: &dyn std::fmt::Display| ConfigError::Invalid(format!("{what}: {e}"));
    let secrets_dir = config.data_dir.join("secrets");
    std::fs::create_dir_all(&secrets_dir).map_err(|e| io("cannot create the data folder", &e))?;
    ensure_dev_key(&secrets_dir).map_err(|e| io("cannot write the development key", &e))?;
    let clock = Arc::new(SystemClock);
    let table = SqliteTable::open(&config.data_dir.join("chief.db"), clock.clone()).map_err(|e| io("cannot open the store", &e))?;
    let table: Arc<dyn crate::ports::table::Table> = Arc::new(table);
    let queue = SqliteQueue::open(
        &config.data_dir.join("chief.db"),
        clock.clone(),
        std::time::Duration::from_secs(LOCAL_VISIBILITY_SECONDS),
        crate::jobs::MAX_RECEIVES,
    )
    .map_err(|e| io("cannot open the queue", &e))?;
    let secrets = Arc::new(LocalSecrets::new(Some(secrets_dir)));
    let mailer = OutboxMailer::new("Chief <no-reply@chief.local>", config.data_dir.join("outbox"))
        .map_err(|e| io("cannot create the outbox", &e))?;
    Ok(App {
        events: Arc::new(StoreEventBus::new(table.clone())),
        social: Arc::new(SandboxSocial::new(table.clone(), clock.clone())),
        queue: Arc::new(queue),
        ai: ai_from_env(secrets.clone(), crate::adapters::offline_ai::PROVIDER)?,
        payments: Arc::new(StripePayments::new(secrets.clone(), optional("STRIPE_API_BASE"))),
        table,
        secrets,
        mailer: Arc::new(mailer),
        clock,
        settings: Settings {
            app_url,
            billing: billing_from_env(),
            dependencies: crate::app::Dependencies {
                ai_provider: optional("CHIEF_AI_PROVIDER").unwrap_or_else(|| crate::adapters::offline_ai::PROVIDER.into()),
                queues: QueueName::ALL.to_vec(),
                event_bus: Some("local store".into()),
                mail: Some("outbox".into()),
            },
            ..Settings::default()
        },
    })
}

type Response = hyper::Response<Full<Bytes>>;

fn cors(config: &LocalConfig, origin: Option<&str>, response: &mut Response) {
    let allowed = match origin {
        Some(o) if config.cors_origins.iter().any(|a| a == "*" || a == o) => o.to_string(),
        _ => return,
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    };
    set("access-control-allow-origin", &allowed);
    set("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    set("access-control-allow-headers", "authorization, content-type");
    set("access-control-max-age", "600");
    set("vary", "origin");
}

fn to_hyper(response: lambda_http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// Converts at the edge: the request becomes the `lambda_http` request API Gateway would
/// hand the function, with the peer address as its source IP.
async fn handle(app: &App, config: &LocalConfig, peer: SocketAddr, req: hyper::Request<Incoming>) -> Response {
    let origin = req.headers().get("origin").and_then(|o| o.to_str().ok()).map(str::to_string);
    let mut response = if req.method() == hyper::Method::OPTIONS {
        hyper::Response::builder()
            .status(204)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    } else {
        to_hyper(forward(app, config, peer, req).await)
    };
    cors(config, origin.as_deref(), &mut response);
    response
}

/// Routes that only `local` serves, for developers and tests; never deployed.
#[derive(Clone, Copy)]
enum LocalRoute {
    Events,
    /// Runs a scheduled job at once, by its function's name.
    RunJob,
    /// The aliases of the first two scheduled jobs' runs.
    Executor,
    Agent,
    DeadLetters,
}

const LOCAL_ROUTES: &RouteTable<LocalRoute> = &[
    (Method::GET, "/local/orgs/{orgId}/events", LocalRoute::Events),
    (Method::POST, "/local/jobs/{function}/run", LocalRoute::RunJob),
    (Method::POST, "/local/executor/run", LocalRoute::Executor),
    (Method::POST, "/local/agent/run", LocalRoute::Agent),
    (Method::GET, "/local/queues/{queue}/dead-letters", LocalRoute::DeadLetters),
];

async fn local_route(app: &App, config: &LocalConfig, req: &hyper::Request<Incoming>) -> Result<Reply, AppError> {
    let (route, params) = router::find(LOCAL_ROUTES, req.method(), req.uri().path())?;
    let principal = crate::auth::token::verify(app, crate::api::bearer_token(req.headers())).await?;
    let dev_only = || {
        if config.dev_routes {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "the schedule triggers are development routes: start local with CHIEF_LOCAL_DEV_ROUTES=on".into(),
            ))
        }
    };
    match route {
        LocalRoute::Events => {
            let tenant = crate::orgs::access::authorize(app, &principal, params.get("orgId"), Role::Member).await?;
            let events = recorded(&*app.table, tenant.org_id()).await?;
            Reply::ok(events)
        }
        LocalRoute::RunJob | LocalRoute::Executor | LocalRoute::Agent => {
            dev_only()?;
            let function = match route {
                LocalRoute::Executor => Job::Executor.function(),
                LocalRoute::Agent => Job::Agent.function(),
                _ => params.get("function"),
            };
            let scheduled = Job::scheduled(function).ok_or(AppError::NotFound("scheduled job"))?;
            Reply::ok((scheduled.run)(app).await?)
        }
        LocalRoute::DeadLetters => {
            let queue = QueueName::ALL
                .into_iter()
                .find(|q| q.as_str() == params.get("queue"))
                .ok_or(AppError::NotFound("queue"))?;
            let letters = app.queue.dead_letters(queue, 100).await?;
            let mine: Vec<String> = crate::orgs::list_mine(app, &principal)
                .await?
                .into_iter()
                .map(|v| v.org.id)
                .collect();
            Reply::ok(
                visible_letters(letters, &mine, config.dev_routes)
                    .map(|m| serde_json::json!({"id": m.id, "body": m.body, "receiveCount": m.receive_count}))
                    .collect::<Vec<_>>(),
            )
        }
    }
}

/// The dead letters a member may read: those of their orgs; one naming no org (an
/// unreadable job) only with the development routes on.
fn visible_letters(letters: Vec<Message>, mine: &[String], dev_routes: bool) -> impl Iterator<Item = Message> + '_ {
    letters.into_iter().filter(move |m| {
        let org = serde_json::from_str::<serde_json::Value>(&m.body)
            .ok()
            .and_then(|b| b.get("orgId").and_then(|o| o.as_str()).map(str::to_string));
        match org {
            Some(org) => mine.contains(&org),
            None => dev_routes,
        }
    })
}

/// Drains both queues for as long as `local` runs, pausing briefly when they are empty.
async fn drain_forever(app: Arc<App>) {
    loop {
        let mut busy = false;
        for queue in QueueName::ALL {
            match crate::jobs::drain_once(&app, queue).await {
                Ok(report) => busy |= report.received > 0,
                Err(e) => tracing::warn!(error = %e, queue = queue.as_str(), "queue drain failed"),
            }
        }
        if !busy {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

/// Runs a scheduled job at its rate, as EventBridge would.
async fn every(app: Arc<App>, job: Job, scheduled: &'static Scheduled) {
    let mut ticks = tokio::time::interval(scheduled.every.period());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match (scheduled.run)(&app).await {
            Ok(report) => tracing::info!(?job, %report, "scheduled run"),
            Err(e) => tracing::warn!(?job, error = %e, "scheduled run failed"),
        }
    }
}

async fn forward(app: &App, config: &LocalConfig, peer: SocketAddr, req: hyper::Request<Incoming>) -> lambda_http::Response<Body> {
    if req.uri().path().starts_with("/local/") {
        return match local_route(app, config, &req).await {
            Ok(reply) => crate::api::reply_response(reply),
            Err(e) => error_response(&e, None),
        };
    }
    let Some(group) = Group::for_path(req.uri().path()).map(Group::spec) else {
        return error_response(&AppError::NotFound("route"), None);
    };
    let limit = group.body_limit(&app.settings);
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => return error_response(&e, None),
    };
    let query: lambda_http::aws_lambda_events::query_map::QueryMap = parts.uri.query().unwrap_or_default().parse().unwrap_or_default();
    let mut context = lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(peer.ip().to_string());
    context.request_id = Some(ulid::Ulid::new().to_string());
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    let request = lambda_http::Request::from_parts(parts, body)
        .with_query_string_parameters(query)
        .with_request_context(RequestContext::ApiGatewayV2(context));
    serve(app, group, request).await
}

/// How much of an oversized body is read (and dropped) before answering 413, so that a
/// client still sending gets the answer instead of a reset connection.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, AppError> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| AppError::BadRequest {
            code: "BAD_REQUEST",
            message: "the request body could not be read".into(),
        })?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > DRAIN_LIMIT {
                break;
            }
            if seen <= limit {
                kept.extend_from_slice(&data);
            }
        }
    }
    if seen > limit {
        return Err(AppError::PayloadTooLarge { limit });
    }
    Ok(Bytes::from(kept))
}

/// Serves until Ctrl-C. Prints the address it listens on (useful with `PORT=0`).
pub async fn run(config: LocalConfig) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let address = listener.local_addr()?;
    let app_url = config.app_url.clone().unwrap_or_else(|| format!("http://{address}"));
    let app = Arc::new(local_app(&config, app_url)?);
    tokio::spawn(drain_forever(app.clone()));
    if config.schedules {
        for job in Job::ALL {
            if let Trigger::Schedule(scheduled) = &job.spec().trigger {
                tokio::spawn(every(app.clone(), job, scheduled));
            }
        }
    }
    let config = Arc::new(config);
    let data = std::fs::canonicalize(&config.data_dir).unwrap_or(config.data_dir.clone());
    tracing::info!(store = %data.join("chief.db").display(), outbox = %data.join("outbox").display(), secrets = %data.join("secrets").display(), schedules = config.schedules, "local Chief ready (offline adapters: SQLite store and queue, file outbox, sandbox social; AI per CHIEF_AI_PROVIDER, offline by default)");
    println!("listening on http://{address}");
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("stopping");
                return Ok(());
            }
        };
        let (app, config) = (app.clone(), config.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (app, config) = (app.clone(), config.clone());
                async move { Ok::<_, std::convert::Infallible>(handle(&app, &config, peer, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::StatusCode;

    /// Every function has its sample event in `events/`, named after it.
    #[test]
    fn every_function_has_its_event() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for entry in std::fs::read_dir(root.join("functions")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name == "local" {
                continue;
            }
            assert!(
                root.join("events").join(format!("{name}.json")).exists(),
                "events/{name}.json is missing"
            );
        }
    }

    /// The fixtures `cargo lambda invoke --data-file` sends are requests the handlers serve.
    #[test]
    fn a_member_reads_the_dead_letters_of_their_orgs_only() {
        let letter = |id: &str, body: &str| Message {
            id: id.into(),
            body: body.into(),
            receipt: id.into(),
            receive_count: 5,
        };
        let letters = || {
            vec![
                letter("mine", r#"{"orgId":"A","taskId":"t"}"#),
                letter("theirs", r#"{"orgId":"B","taskId":"t"}"#),
                letter("poison", "{not json"),
            ]
        };
        let ids = |dev| {
            visible_letters(letters(), &["A".to_string()], dev)
                .map(|m| m.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(false), ["mine"]);
        assert_eq!(ids(true), ["mine", "poison"]);
    }

    #[tokio::test]
    async fn event_fixtures_route_to_their_groups() {
        let dir = tempfile::tempdir().unwrap();
        let config = LocalConfig {
            port: 0,
            data_dir: dir.path().to_path_buf(),
            cors_origins: vec![],
            app_url: None,
            schedules: false,
            dev_routes: false,
        };
        let app = local_app(&config, "http://localhost".into()).unwrap();
        let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
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
            let text = std::fs::read_to_string(events.join(file)).unwrap();
            let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(Group::for_path(request.uri().path()), Some(group), "{file}");
            let response = serve(&app, group.spec(), request).await;
            assert_eq!(response.status(), status, "{file}: {:?}", response.body());
        }
    }
}
