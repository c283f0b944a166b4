//! The whole product in one process on a laptop: every route group on one HTTP server, on
//! the embedded SQLite store, with mail written to an outbox folder. Hyper's request goes
//! straight to the same group handler the cloud function runs; only this front door differs.

mod docs;

use base64::Engine;
use chief::api::router::{self, RouteTable};
use chief::api::{Answer, Req, error_response, serve};
use chief::app::{App, Settings};
use chief::clock::TravelClock;
use chief::config::{ConfigError, billing_from_env, on_off, optional};
use chief::content::sandbox::SandboxSocial;
use chief::error::AppError;
use chief::jobs::{Job, Scheduled, Trigger};
use chief::ports::ai::OFFLINE_PROVIDER;
use chief::ports::queue::{Message, QueueName};
use chief::ports::secrets::SecretName;
use chief::routes::Group;
use chief::tenancy::Role;
use chief_adapters::local_secrets::LocalSecrets;
use chief_adapters::outbox_mailer::OutboxMailer;
use chief_adapters::social_http::{Bases, HttpPlatforms};
use chief_adapters::sqlite_queue::SqliteQueue;
use chief_adapters::sqlite_table::SqliteTable;
use chief_adapters::store_events::{StoreEventBus, recorded};
use chief_adapters::stripe_payments::StripePayments;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::body::{Bytes, Incoming};
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
    /// `CHIEF_DOCS_DIR` (default the `swagger-ui-dist` that `npm ci --prefix infra/docs`
    /// installs in this tree): the files of the `/docs` page's renderer.
    pub docs_dir: PathBuf,
    /// The app's clock: the system's, moved ahead only by `POST /local/clock` (a development
    /// route), so that scheduled work can be seen without waiting for it.
    pub clock: Arc<TravelClock>,
}

impl LocalConfig {
    /// An app on a free port over this data folder, with no schedules, for tests and benches.
    pub fn for_folder(data_dir: PathBuf) -> Self {
        LocalConfig {
            port: 0,
            data_dir,
            cors_origins: vec![],
            app_url: None,
            schedules: false,
            dev_routes: false,
            docs_dir: docs::default_dir(),
            clock: Arc::default(),
        }
    }

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
            schedules: on_off("CHIEF_LOCAL_SCHEDULES", true)?,
            dev_routes: on_off("CHIEF_LOCAL_DEV_ROUTES", false)?,
            docs_dir: var("CHIEF_DOCS_DIR").map(PathBuf::from).unwrap_or_else(docs::default_dir),
            clock: Arc::default(),
        })
    }
}

/// Keeps the development keys in the data folder, made on the first run: the token signing
/// key, and the key that seals social accounts' tokens (32 bytes, AES-256).
fn ensure_dev_keys(secrets_dir: &Path) -> std::io::Result<()> {
    ensure_dev_key(secrets_dir, SecretName::JwtSigningKey, 48)?;
    ensure_dev_key(secrets_dir, SecretName::SocialTokenKey, 32)
}

fn ensure_dev_key(secrets_dir: &Path, name: SecretName, bytes: usize) -> std::io::Result<()> {
    let path = secrets_dir.join(name.as_str());
    if path.exists() {
        return Ok(());
    }
    let mut key = vec![0u8; bytes];
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
    ensure_dev_keys(&secrets_dir).map_err(|e| io("cannot write the development keys", &e))?;
    let clock = config.clock.clone();
    let table = SqliteTable::open(&config.data_dir.join("chief.db"), clock.clone()).map_err(|e| io("cannot open the store", &e))?;
    let table: Arc<dyn chief::ports::table::Table> = Arc::new(table);
    let queue = SqliteQueue::open(
        &config.data_dir.join("chief.db"),
        clock.clone(),
        std::time::Duration::from_secs(LOCAL_VISIBILITY_SECONDS),
        chief::jobs::MAX_RECEIVES,
    )
    .map_err(|e| io("cannot open the queue", &e))?;
    let secrets = Arc::new(LocalSecrets::new(Some(secrets_dir)));
    let platforms = chief::config::platform_versions_from_env()?;
    let mailer = OutboxMailer::new("Chief <no-reply@chief.local>", config.data_dir.join("outbox"))
        .map_err(|e| io("cannot create the outbox", &e))?;
    Ok(App {
        events: Arc::new(StoreEventBus::new(table.clone())),
        social: Arc::new(HttpPlatforms::new(
            Arc::new(SandboxSocial::new(table.clone(), clock.clone())),
            secrets.clone(),
            clock.clone(),
            Bases::from_env(),
            platforms.clone(),
        )),
        queue: Arc::new(queue),
        ai: chief_adapters::openai_ai::from_env(secrets.clone(), OFFLINE_PROVIDER)?,
        payments: Arc::new(StripePayments::new(secrets.clone(), optional("STRIPE_API_BASE"))),
        table,
        secrets,
        mailer: Arc::new(mailer),
        google_keys: Arc::new(chief::auth::google::CachedKeys::new(Arc::new(
            chief_adapters::google_keys::HttpKeys::new(chief::config::google_jwks_url()),
        ))),
        clock,
        settings: Settings {
            app_url,
            platforms,
            access_token_ttl: chief::config::access_token_ttl_from_env()?,
            google_client_id: optional("CHIEF_GOOGLE_CLIENT_ID"),
            ai_prices: chief::config::ai_prices_from_env()?,
            billing: billing_from_env(),
            dependencies: chief::app::Dependencies {
                ai_provider: optional("CHIEF_AI_PROVIDER").unwrap_or_else(|| OFFLINE_PROVIDER.into()),
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

/// Serves one connection's request: CORS preflights here, everything else by its route.
async fn handle(app: &App, config: &LocalConfig, peer: SocketAddr, req: hyper::Request<Incoming>) -> Response {
    let origin = req.headers().get("origin").and_then(|o| o.to_str().ok()).map(str::to_string);
    let docs = (req.method() == hyper::Method::GET)
        .then(|| docs::serve(&config.docs_dir, req.uri().path()))
        .flatten();
    let mut response = if req.method() == hyper::Method::OPTIONS {
        hyper::Response::builder()
            .status(204)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    } else if let Some((status, content_type, body)) = docs {
        hyper::Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    } else {
        forward(app, config, peer, req).await.map(|body| Full::new(Bytes::from(body)))
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
    /// Moves the app's clock ahead (`?advanceMinutes=`), to see scheduled work happen.
    Clock,
}

const LOCAL_ROUTES: &RouteTable<LocalRoute> = &[
    (Method::GET, "/local/orgs/{orgId}/events", LocalRoute::Events),
    (Method::POST, "/local/jobs/{function}/run", LocalRoute::RunJob),
    (Method::POST, "/local/executor/run", LocalRoute::Executor),
    (Method::POST, "/local/agent/run", LocalRoute::Agent),
    (Method::GET, "/local/queues/{queue}/dead-letters", LocalRoute::DeadLetters),
    (Method::POST, "/local/clock", LocalRoute::Clock),
];

async fn local_route(app: &App, config: &LocalConfig, req: &hyper::Request<Incoming>) -> Result<Answer, AppError> {
    let (route, params) = router::find(LOCAL_ROUTES, req.method(), req.uri().path())?;
    let principal = chief::auth::token::verify(app, chief::api::bearer_token(req.headers())).await?;
    chief::auth::sessions::check(app, &principal).await?;
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
            let tenant = chief::tenancy::authorize(app, &principal, params.get("orgId"), Role::Member).await?;
            let events = recorded(&*app.table, tenant.org_id()).await?;
            Answer::ok(events)
        }
        LocalRoute::RunJob | LocalRoute::Executor | LocalRoute::Agent => {
            dev_only()?;
            let function = match route {
                LocalRoute::Executor => Job::Executor.function(),
                LocalRoute::Agent => Job::Agent.function(),
                _ => params.get("function"),
            };
            let scheduled = Job::scheduled(function).ok_or(AppError::NotFound("scheduled job"))?;
            Answer::ok((scheduled.run)(app).await?)
        }
        LocalRoute::Clock => {
            dev_only()?;
            let query = query_parameters(req.uri().query().unwrap_or_default());
            let minutes = query
                .get("advanceMinutes")
                .and_then(|m| m.parse::<i64>().ok())
                .filter(|m| (0..=525_600).contains(m))
                .ok_or_else(|| AppError::validation("advanceMinutes must be a whole number from 0 to 525600 (a year)"))?;
            config.clock.advance(std::time::Duration::from_secs(minutes as u64 * 60));
            Answer::ok(serde_json::json!({
                "now": chief::clock::timestamp(app.clock.now()),
                "aheadSeconds": config.clock.ahead().num_seconds(),
            }))
        }
        LocalRoute::DeadLetters => {
            let queue = QueueName::ALL
                .into_iter()
                .find(|q| q.as_str() == params.get("queue"))
                .ok_or(AppError::NotFound("queue"))?;
            let letters = app.queue.dead_letters(queue, 100).await?;
            let mine: Vec<String> = chief::orgs::list_mine(app, &principal)
                .await?
                .into_iter()
                .map(|v| v.org.id.to_string())
                .collect();
            Answer::ok(
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
            match chief::jobs::drain_once(&app, queue).await {
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

/// Hands the request to its group's handler as the domain's request, with the peer address
/// as its source and a fresh request id, as API Gateway would.
async fn forward(app: &App, config: &LocalConfig, peer: SocketAddr, req: hyper::Request<Incoming>) -> chief::api::Response {
    if req.uri().path().starts_with("/local/") {
        return match local_route(app, config, &req).await {
            Ok(reply) => chief::api::reply_response(reply),
            Err(e) => error_response(&e, None),
        };
    }
    let Some(group) = Group::for_path(req.uri().path()).map(Group::spec) else {
        return error_response(&AppError::NotFound("route"), None);
    };
    let (parts, body) = req.into_parts();
    let body = match read_body(body, group.body_limit(&app.settings)).await {
        Ok(bytes) => bytes,
        Err(e) => return error_response(&e, None),
    };
    let query = query_parameters(parts.uri.query().unwrap_or_default());
    let request = Req::new(parts.method, parts.uri.path().to_string(), parts.headers, query, body.to_vec())
        .from_source(Some(peer.ip().to_string()), Some(ulid::Ulid::new().to_string()));
    serve(app, group, request).await
}

/// The query string as API Gateway hands it to a function: a parameter given twice has its
/// values joined with commas (`?limit=5&limit=` reads `5,`), so both front doors see one value.
fn query_parameters(query: &str) -> std::collections::HashMap<String, String> {
    let mut parameters = std::collections::HashMap::<String, String>::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()).into_owned() {
        parameters
            .entry(name)
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    parameters
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
    let mut app = local_app(&config, app_url)?;
    // The OAuth callback is local's own address unless a tunnel in front says otherwise.
    app.settings.api_url = optional("CHIEF_API_URL").unwrap_or_else(|| format!("http://{address}"));
    let app = Arc::new(app);
    chief::routes::api_health::serve_contract(|| chief::routes::contract().to_string());
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
    tracing::info!(store = %data.join("chief.db").display(), outbox = %data.join("outbox").display(), secrets = %data.join("secrets").display(), schedules = config.schedules, "local Chief ready (offline adapters: SQLite store and queue, file outbox, sandbox social (real platforms once their apps are set); AI per CHIEF_AI_PROVIDER, offline by default)");
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

    #[test]
    fn a_repeated_query_parameter_reads_as_api_gateway_joins_it() {
        let query = query_parameters("limit=5&limit=&tag=a%2Cb&cursor=x");
        assert_eq!(query["limit"], "5,");
        assert_eq!(query["tag"], "a,b");
        assert_eq!(query["cursor"], "x");
    }

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
}
