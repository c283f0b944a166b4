//! `cargo run --release -p chief-tests --bin bench`: prints the figures the README quotes.
//!
//! - for each function binary (release): file size, start-up time to its first poll of a
//!   stub Lambda Runtime API, and peak memory then; beside a hello-world `lambda_runtime`
//!   binary measured in the same run;
//! - for the leads, billing, tasks and chat routes: store calls per request, counted on the
//!   embedded store;
//! - the minute executor's tick over 1,000,000 scheduled tasks of which 10 are due, and the
//!   hourly agent's fan-out over 100,000 paying orgs: store calls, messages, time.

use async_trait::async_trait;
use chief::api::serve;
use chief::ports::queue::{JobQueue, MAX_BATCH, Message, QueueError, QueueName};
use chief::ports::table::*;
use chief::routes::Group;
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
        .env(
            "CHIEF_TASK_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/chief-bench-tasks",
        )
        .env(
            "CHIEF_ANALYSIS_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/chief-bench-analysis",
        )
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
        "api-chat",
        "api-tasks",
        "job-executor",
        "job-run-task",
        "job-agent",
        "job-analyze",
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
    let mut headers = lambda_http::http::HeaderMap::new();
    if let Some(t) = token {
        headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    // As a front door hands it over: the path, and the query string's pairs apart.
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let query = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let req = chief::api::Req::new(method.parse().unwrap(), path.to_string(), headers, query, body);
    let res = serve(app, group.spec(), req).await;
    // A figure for a request that failed would be a figure of nothing.
    assert!(res.status().is_success(), "{method} {path}: {} {}", res.status(), res.body());
    serde_json::from_str(res.body()).unwrap_or(Value::Null)
}

async fn store_calls_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = chief_local::LocalConfig {
        port: 0,
        data_dir: dir.path().to_path_buf(),
        cors_origins: vec![],
        app_url: None,
        schedules: false,
        dev_routes: false,
    };
    let mut app = chief_local::local_app(&config, "http://localhost".into()).unwrap();
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
        let mut headers = lambda_http::http::HeaderMap::new();
        let signature = chief::billing::signature::sign(body.as_bytes(), "whsec_bench", now);
        headers.insert("stripe-signature", signature.parse().unwrap());
        let req = chief::api::Req::new(
            lambda_http::http::Method::POST,
            "/v1/stripe/webhook".into(),
            headers,
            Default::default(),
            body.into_bytes(),
        );
        let res = serve(&app, Group::StripeWebhook.spec(), req).await;
        assert_eq!(res.status(), 200, "{what}: {:?}", res.body());
        row(what, counting.take());
    }

    println!("\n## Store calls per request (tasks, chat, agent, score)\n");
    println!("| request | store calls |");
    println!("|---|---|");
    let tasks = format!("/v1/orgs/{org}/tasks");
    let lead = call(
        &app,
        Group::Leads,
        "POST",
        &leads,
        Some(&token),
        Some(json!({"name": "Scored", "company": "Co"})),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    counting.take();
    let task = call(
        &app,
        Group::Tasks,
        "POST",
        &tasks,
        Some(&token),
        Some(json!({"type": "social_media_post", "input": {"topic": "bench"}})),
    )
    .await;
    row("POST /tasks", counting.take());
    let task_id = task["data"]["id"].as_str().unwrap().to_string();
    call(&app, Group::Tasks, "GET", &format!("{tasks}/{task_id}"), Some(&token), None).await;
    row("GET /tasks/{id}", counting.take());
    call(&app, Group::Tasks, "GET", &format!("{tasks}?limit=20"), Some(&token), None).await;
    row("GET /tasks?limit=20", counting.take());
    let report = chief::tasks::executor::tick(&app).await.unwrap();
    row(
        &format!("executor tick claiming {} task (first tick: 60 minutes × 4 shards)", report.claimed),
        counting.take(),
    );
    // Posts need approval by default: the first run writes the text and holds it.
    let job = app.queue.receive(QueueName::Tasks, 10).await.unwrap().remove(0);
    chief::tasks::run::run(&app, &job.body).await.unwrap();
    row("job-run-task: a social post, written and held for approval", counting.take());
    call(
        &app,
        Group::Tasks,
        "POST",
        &format!("{tasks}/{task_id}/approve"),
        Some(&token),
        None,
    )
    .await;
    row("POST /tasks/{id}/approve", counting.take());
    chief::tasks::executor::tick(&app).await.unwrap();
    counting.take();
    let job = app.queue.receive(QueueName::Tasks, 10).await.unwrap().remove(0);
    let outcome = chief::tasks::run::run(&app, &job.body).await.unwrap();
    assert!(matches!(outcome, chief::tasks::run::RunOutcome::Completed { .. }), "{outcome:?}");
    row("job-run-task: the approved post, published and completed", counting.take());
    chief::tasks::run::run(&app, &job.body).await.unwrap();
    row("job-run-task: the same job again", counting.take());
    let conversation = call(
        &app,
        Group::Chat,
        "POST",
        &format!("/v1/orgs/{org}/conversations"),
        Some(&token),
        None,
    )
    .await;
    row("POST /conversations", counting.take());
    let messages = format!(
        "/v1/orgs/{org}/conversations/{}/messages",
        conversation["data"]["id"].as_str().unwrap()
    );
    call(
        &app,
        Group::Chat,
        "POST",
        &messages,
        Some(&token),
        Some(json!({"content": "What now?"})),
    )
    .await;
    row("POST /conversations/{id}/messages (a reply)", counting.take());
    call(&app, Group::Leads, "GET", &format!("{leads}/{lead}/score"), Some(&token), None).await;
    row("GET /leads/{id}/score (score changed, stored)", counting.take());
    call(&app, Group::Leads, "GET", &format!("{leads}/{lead}/score"), Some(&token), None).await;
    row("GET /leads/{id}/score (unchanged)", counting.take());
    call(
        &app,
        Group::Tasks,
        "POST",
        &format!("/v1/orgs/{org}/agent/analyze"),
        Some(&token),
        None,
    )
    .await;
    row("POST /agent/analyze (30 leads; rescoring 20, acting, summary)", counting.take());
    call(
        &app,
        Group::Tasks,
        "POST",
        &format!("/v1/orgs/{org}/agent/analyze"),
        Some(&token),
        None,
    )
    .await;
    row("POST /agent/analyze again in the hour", counting.take());
}

/// Counts sends and messages on the way to the real queue.
struct CountingQueue {
    inner: Arc<dyn JobQueue>,
    sends: AtomicUsize,
    messages: AtomicUsize,
}

#[async_trait]
impl JobQueue for CountingQueue {
    async fn send(&self, queue: QueueName, bodies: &[String]) -> Result<usize, QueueError> {
        self.sends.fetch_add(bodies.len().div_ceil(MAX_BATCH), Ordering::SeqCst);
        self.messages.fetch_add(bodies.len(), Ordering::SeqCst);
        self.inner.send(queue, bodies).await
    }
    async fn receive(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        self.inner.receive(queue, max).await
    }
    async fn ack(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(queue, receipt).await
    }
    async fn release(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.inner.release(queue, receipt).await
    }
    async fn dead_letters(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        self.inner.dead_letters(queue, max).await
    }
}

/// An app on the embedded adapters in a temp folder, its table and queue counted.
fn counted_app(dir: &std::path::Path) -> (chief::app::App, Arc<CountingTable>, Arc<CountingQueue>) {
    let config = chief_local::LocalConfig {
        port: 0,
        data_dir: dir.to_path_buf(),
        cors_origins: vec![],
        app_url: None,
        schedules: false,
        dev_routes: false,
    };
    let mut app = chief_local::local_app(&config, "http://localhost".into()).unwrap();
    let table = Arc::new(CountingTable {
        inner: app.table.clone(),
        calls: AtomicUsize::new(0),
    });
    let queue = Arc::new(CountingQueue {
        inner: app.queue.clone(),
        sends: AtomicUsize::new(0),
        messages: AtomicUsize::new(0),
    });
    app.table = table.clone();
    app.queue = queue.clone();
    (app, table, queue)
}

/// Writes items 100 to a transaction, straight to the store (not counted).
async fn load(table: &CountingTable, items: Vec<Item>) {
    for chunk in items.chunks(MAX_TRANSACTION_OPS) {
        let ops = chunk
            .iter()
            .map(|item| TxOp::Put {
                item: item.clone(),
                condition: None,
            })
            .collect();
        table.inner.transact(ops).await.unwrap();
    }
}

async fn minute_tick_bench() {
    use chief::tasks::{NewTask, Origin, TaskType, new_task};
    const SCHEDULED: usize = 1_000_000;
    const DUE: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let (app, table, queue) = counted_app(dir.path());
    let now = chrono::Utc::now();
    let org = chief::ids::OrgId::generate();
    let task_at = |at: chrono::DateTime<chrono::Utc>| {
        let input = NewTask {
            kind: TaskType::SocialMediaPost,
            input: json!({"topic": "bench"}),
            run_at: Some(chief::clock::timestamp(at)),
        };
        new_task(now, &chief::ids::UserId::generate(), Origin::Member, input)
            .unwrap()
            .to_item(&org)
            .unwrap()
    };
    let loading = Instant::now();
    // The tasks' org, on a plan with room for the due posts the claims reserve.
    let stamp = now;
    let owner = chief::orgs::Org {
        id: org.clone(),
        name: "Bench".into(),
        plan: chief::usage::Plan::Enterprise,
        plan_until: None,
        time_zone: "UTC".into(),
        created_at: stamp,
        updated_at: stamp,
        version: 1,
    };
    let mut batch = Vec::with_capacity(10_000);
    batch.push(owner.to_item().unwrap());
    for i in 0..SCHEDULED {
        // Spread over the next 30 days, from two minutes ahead.
        batch.push(task_at(now + chrono::Duration::minutes(2 + (i % 43_200) as i64)));
        if batch.len() == 10_000 {
            load(&table, std::mem::take(&mut batch)).await;
        }
    }
    load(&table, batch).await;
    let loaded = loading.elapsed();
    println!(
        "
## Minute executor over {SCHEDULED} scheduled tasks (embedded store, release)
"
    );
    println!(
        "Loaded in {:.0} s.
",
        loaded.as_secs_f64()
    );
    println!("| tick | partitions read | due | claimed | store calls | queue sends | time |");
    println!("|---|---|---|---|---|---|---|");
    let row = |what: &str, report: chief::tasks::executor::TickReport, took: Duration| {
        println!(
            "| {what} | {} | {} | {} | {} | {} | {:.1} ms |",
            report.partitions_read,
            report.due,
            report.claimed,
            table.take(),
            queue.sends.swap(0, Ordering::SeqCst),
            took.as_secs_f64() * 1000.0
        );
    };
    table.take();
    let started = Instant::now();
    let first = chief::tasks::executor::tick(&app).await.unwrap();
    row("first ever (no cursor: the last 60 minutes)", first, started.elapsed());
    load(&table, (0..DUE).map(|_| task_at(now)).collect()).await;
    let started = Instant::now();
    let steady = chief::tasks::executor::tick(&app).await.unwrap();
    assert_eq!(steady.claimed, DUE);
    row(&format!("next tick, same minute ({DUE} due)"), steady, started.elapsed());
    let started = Instant::now();
    let idle = chief::tasks::executor::tick(&app).await.unwrap();
    row("next tick (nothing due)", idle, started.elapsed());
}

async fn fan_out_bench() {
    const ORGS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let (app, table, queue) = counted_app(dir.path());
    let stamp = chrono::Utc::now();
    let org = |i: usize| {
        let plan = match i % 4 {
            0 => chief::usage::Plan::Free,
            1 => chief::usage::Plan::Enterprise,
            _ => chief::usage::Plan::Pro,
        };
        chief::orgs::Org {
            id: chief::ids::OrgId::generate(),
            name: format!("Org {i}"),
            plan,
            plan_until: None,
            time_zone: "UTC".into(),
            created_at: stamp,
            updated_at: stamp,
            version: 1,
        }
        .to_item()
        .unwrap()
    };
    // One in four on free: in the plan index too, under PLAN#free, never read.
    let total = ORGS * 4 / 3 + 1;
    load(&table, (0..total).map(org).collect()).await;
    table.take();
    let started = Instant::now();
    let report = chief::agent::fan_out(&app).await.unwrap();
    let took = started.elapsed();
    println!(
        "
## Hourly agent fan-out over {} paying orgs (embedded store, release)
",
        report.orgs_seen
    );
    println!(
        "| orgs in the index (all plans) | paying orgs read | index pages | store calls | messages sent | queue sends (10 a batch) | time |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {total} | {} | {} | {} | {} | {} | {:.2} s |",
        report.orgs_seen,
        report.index_pages,
        table.take(),
        queue.messages.swap(0, Ordering::SeqCst),
        queue.sends.swap(0, Ordering::SeqCst),
        took.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    startup_table();
    store_calls_table().await;
    minute_tick_bench().await;
    fan_out_bench().await;
}
