//! `cargo run --release -p chief-tests --bin bench`: prints the figures the README quotes.
//!
//! - for each function binary (release): file size, start-up time to its first poll of a
//!   stub Lambda Runtime API, and peak memory then; beside a hello-world `lambda_runtime`
//!   binary measured in the same run;
//! - for the leads routes: store calls per request, counted on the embedded store.

use async_trait::async_trait;
use chief::api::{Group, serve};
use chief::ports::table::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const RUNS: usize = 15;

fn release_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| chief_tests::workspace_root().join("target"));
    target.join("release")
}

/// Starts the binary against a stub Runtime API and answers (time to the first
/// `/runtime/invocation/next`, peak resident memory in KiB at that moment).
fn start_once(binary: &PathBuf) -> (Duration, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("CHIEF_TABLE_NAME", "chief-bench")
        .env("CHIEF_JWT_SECRET_ID", "chief-bench-jwt")
        .env("CHIEF_APP_URL", "https://app.chief.example")
        .env("CHIEF_EVENT_BUS_NAME", "chief-bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the function");
    let (mut stream, _) = listener.accept().unwrap();
    let mut buf = [0u8; 1024];
    let mut request = Vec::new();
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let elapsed = started.elapsed();
    assert!(
        String::from_utf8_lossy(&request).contains("/runtime/invocation/next"),
        "not a poll: {}",
        String::from_utf8_lossy(&request)
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let _ = stream.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
    let _ = child.kill();
    let _ = child.wait();
    (elapsed, peak)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn startup_table() {
    let dir = release_dir();
    println!("## Function binaries (release, {RUNS} starts each, median)\n");
    println!("| binary | size | start to first poll | vs hello-world | peak memory |");
    println!("|---|---|---|---|---|");
    let mut baseline = None;
    for name in [
        "hello_lambda",
        "api-health",
        "api-auth",
        "api-orgs",
        "api-leads",
        "api-billing",
        "stripe-webhook",
    ] {
        let path = dir.join(name);
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|_| panic!("{} missing: build with cargo build --release --workspace --bins", path.display()))
            .len();
        let mut times = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..RUNS {
            let (t, peak) = start_once(&path);
            times.push(t.as_secs_f64() * 1000.0);
            peaks.push(peak as f64);
        }
        let ms = median(times);
        let base = *baseline.get_or_insert(ms);
        println!(
            "| {name} | {:.1} MiB | {ms:.2} ms | {:.2}× | {:.1} MiB |",
            size as f64 / 1_048_576.0,
            ms / base,
            median(peaks) / 1024.0
        );
    }
}

/// Counts every call a request makes on the Table port.
struct CountingTable {
    inner: Arc<dyn Table>,
    calls: AtomicUsize,
}

impl CountingTable {
    fn take(&self) -> usize {
        self.calls.swap(0, Ordering::SeqCst)
    }
    fn hit(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        self.hit();
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> TableResult<Vec<Option<Item>>> {
        self.hit();
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> TableResult<()> {
        self.hit();
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> TableResult<()> {
        self.hit();
        self.inner.delete(key, condition).await
    }
    async fn add(&self, key: &Key, counter: Counter) -> TableResult<i64> {
        self.hit();
        self.inner.add(key, counter).await
    }
    async fn query(&self, query: Query) -> TableResult<Page> {
        self.hit();
        self.inner.query(query).await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> TableResult<()> {
        self.hit();
        self.inner.transact(ops).await
    }
}

async fn call(app: &chief::app::App, group: Group, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let mut req = lambda_http::http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = body
        .map(|b| lambda_http::Body::Text(b.to_string()))
        .unwrap_or(lambda_http::Body::Empty);
    let res = serve(app, group, req.body(body).unwrap()).await;
    match res.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    }
}

async fn store_calls_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = chief::local::LocalConfig {
        port: 0,
        data_dir: dir.path().to_path_buf(),
        cors_origins: vec![],
        app_url: None,
        schedules: false,
    };
    let mut app = chief::local::local_app(&config, "http://localhost".into()).unwrap();
    let counting = Arc::new(CountingTable {
        inner: app.table.clone(),
        calls: AtomicUsize::new(0),
    });
    app.table = counting.clone();
    let signup = call(
        &app,
        Group::Auth,
        "POST",
        "/v1/auth/signup",
        None,
        Some(json!({"email": "b@bench.io", "password": "a long password", "name": "B"})),
    )
    .await;
    let token = signup["data"]["token"].as_str().unwrap().to_string();
    let user = signup["data"]["user"]["id"].as_str().unwrap().to_string();
    let org = call(&app, Group::Orgs, "POST", "/v1/orgs", Some(&token), Some(json!({"name": "Bench"}))).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..30 {
        call(
            &app,
            Group::Leads,
            "POST",
            &format!("/v1/orgs/{org}/leads"),
            Some(&token),
            Some(json!({"name": format!("L{i}")})),
        )
        .await;
    }
    counting.take();
    let leads = format!("/v1/orgs/{org}/leads");
    println!("\n## Store calls per request (leads routes)\n");
    println!("| route | store calls |");
    println!("|---|---|");
    let row = |route: &str, calls: usize| println!("| {route} | {calls} |");
    let created = call(
        &app,
        Group::Leads,
        "POST",
        &leads,
        Some(&token),
        Some(json!({"name": "Counted", "ownerId": user})),
    )
    .await;
    row("POST /leads (with ownerId)", counting.take());
    let lead = created["data"]["id"].as_str().unwrap().to_string();
    let one = format!("{leads}/{lead}");
    call(&app, Group::Leads, "GET", &one, Some(&token), None).await;
    row("GET /leads/{id}", counting.take());
    call(&app, Group::Leads, "GET", &format!("{leads}?limit=20"), Some(&token), None).await;
    row("GET /leads?limit=20", counting.take());
    call(
        &app,
        Group::Leads,
        "GET",
        &format!("{leads}?status=new&limit=20"),
        Some(&token),
        None,
    )
    .await;
    row("GET /leads?status=new&limit=20", counting.take());
    call(
        &app,
        Group::Leads,
        "PATCH",
        &one,
        Some(&token),
        Some(json!({"status": "contacted", "version": 1})),
    )
    .await;
    row("PATCH /leads/{id}", counting.take());
    call(
        &app,
        Group::Leads,
        "POST",
        &format!("{one}/activities"),
        Some(&token),
        Some(json!({"type": "call", "summary": "hi"})),
    )
    .await;
    row("POST /leads/{id}/activities", counting.take());
    call(&app, Group::Leads, "GET", &format!("{one}/activities"), Some(&token), None).await;
    row("GET /leads/{id}/activities", counting.take());
    call(
        &app,
        Group::Leads,
        "POST",
        &format!("{one}/meetings"),
        Some(&token),
        Some(json!({"title": "m", "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T11:00:00Z"})),
    )
    .await;
    row("POST /leads/{id}/meetings", counting.take());
    call(&app, Group::Leads, "GET", &format!("{one}/meetings"), Some(&token), None).await;
    row("GET /leads/{id}/meetings", counting.take());
    call(&app, Group::Leads, "DELETE", &one, Some(&token), None).await;
    row("DELETE /leads/{id}", counting.take());

    // Billing: the org gets a Stripe customer, then Stripe's deliveries are counted.
    std::fs::write(dir.path().join("secrets/stripe-webhook-secret"), "whsec_bench").unwrap();
    app.settings.billing.price_pro = Some("price_bench_pro".into());
    let claim = chief::billing::customer_claim("cus_bench", &org);
    counting.inner.put(claim, None).await.unwrap();
    println!("\n## Store calls per request (billing)\n");
    println!("| request | store calls |");
    println!("|---|---|");
    call(&app, Group::Billing, "GET", &format!("/v1/orgs/{org}/billing"), Some(&token), None).await;
    row("GET /billing", counting.take());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let subscription = |id: &str, created: i64| {
        json!({"id": id, "type": "customer.subscription.updated", "created": created, "data": {"object": {
            "id": "sub_bench", "customer": "cus_bench", "status": "active", "cancel_at_period_end": false,
            "items": {"data": [{"price": {"id": "price_bench_pro"}, "current_period_end": now + 2_592_000}]}}}})
    };
    let deliveries = [
        ("webhook: first subscription event (plan changes)", subscription("evt_1", now - 100)),
        ("webhook: the same event again", subscription("evt_1", now - 100)),
        ("webhook: a newer event (no plan change)", subscription("evt_2", now - 50)),
        ("webhook: an older event (stale)", subscription("evt_3", now - 200)),
        (
            "webhook: an unhandled type",
            json!({"id": "evt_4", "type": "price.created", "created": now, "data": {"object": {}}}),
        ),
    ];
    for (what, event) in deliveries {
        let body = event.to_string();
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/stripe/webhook")
            .header(
                "stripe-signature",
                chief::billing::signature::sign(body.as_bytes(), "whsec_bench", now),
            )
            .body(lambda_http::Body::Text(body))
            .unwrap();
        let res = serve(&app, Group::StripeWebhook, req).await;
        assert_eq!(res.status(), 200, "{what}: {:?}", res.body());
        row(what, counting.take());
    }
}

#[tokio::main]
async fn main() {
    startup_table();
    store_calls_table().await;
}
