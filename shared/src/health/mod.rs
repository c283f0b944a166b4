//! `GET /v1/health`: each dependency this function can check, with how long it took.

use crate::api::router::{self, RouteTable};
use crate::api::{Reply, Req};
use crate::app::App;
use crate::error::AppResult;
use crate::ports::secrets::SecretName;
use crate::ports::table::Key;
use lambda_http::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Instant;

#[derive(Clone, Copy)]
struct Health;

const ROUTES: &RouteTable<Health> = &[(Method::GET, "/v1/health", Health)];

fn check<E: std::fmt::Display>(started: Instant, outcome: Result<(), E>) -> Value {
    let latency_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    match outcome {
        Ok(()) => json!({"ok": true, "latencyMs": latency_ms}),
        Err(e) => {
            // The full error goes to the log; the public answer keeps its first words.
            tracing::warn!(error = %e, "health check failed");
            let summary: String = e.to_string().chars().take(120).collect();
            json!({"ok": false, "latencyMs": latency_ms, "error": summary})
        }
    }
}

pub async fn route(app: &App, req: Req) -> AppResult<Reply> {
    router::find(ROUTES, &req.method, &req.path)?;
    let started = Instant::now();
    let table = check(
        started,
        app.table
            .get(&Key::new(crate::keys::HEALTH_PK, crate::keys::HEALTH_PK))
            .await
            .map(|_| ()),
    );
    let started = Instant::now();
    let secrets = check(started, app.secrets.get(SecretName::JwtSigningKey).await.map(|_| ()));
    let healthy = table["ok"] == true && secrets["ok"] == true;
    Ok(Reply {
        status: if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE },
        data: json!({
            "status": if healthy { "ok" } else { "degraded" },
            "version": env!("CARGO_PKG_VERSION"),
            "checks": {"table": table, "secrets": secrets},
        }),
    })
}
