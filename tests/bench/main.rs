//! `cargo run --release -p chief-tests --bin bench [section …]`: prints the figures the README
//! quotes (every section, or those named: startup, first-answer, store-calls, tick,
//! posts-tick, fan-out, hash, load, cost).
//!
//! - for each function binary (release): file size, start-up time to its first poll of a
//!   stub Lambda Runtime API, and peak memory then; beside a hello-world `lambda_runtime`
//!   binary measured in the same run;
//! - for the leads, billing, tasks and chat routes: store calls per request, counted on the
//!   embedded store;
//! - the minute executor's tick over 1,000,000 scheduled tasks of which 10 are due, the same
//!   over 1,000,000 scheduled posts (posts-tick), and the hourly agent's fan-out over 100,000
//!   paying orgs: store calls, messages, time.

mod cost;

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
        .envs(chief_tests::cloud_function_env(&api, "bench"))
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_SESSION_TOKEN", "bench")
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

/// The function binaries measured, after the two references.
const BINARIES: [&str; 22] = [
    "hello_lambda",
    "naive_lambda",
    "api-health",
    "api-auth",
    "api-orgs",
    "api-leads",
    "api-billing",
    "stripe-webhook",
    "api-chat",
    "api-tasks",
    "api-content",
    "api-social",
    "api-clients",
    "api-deals",
    "job-executor",
    "job-run-task",
    "job-agent",
    "job-analyze",
    "job-publish",
    "job-analytics",
    "job-token-refresh",
    "job-client-health",
];

/// Starts of each binary for its start-up figure: a start takes about 2 ms, and the medians
/// of fewer moved by 0.2 ms between runs on a 2-core machine.
const STARTS: usize = 101;

/// Start-up of every binary in this build, and (with `CHIEF_BENCH_BEFORE`, a folder of an
/// earlier build's binaries) of the earlier ones in the same run, against the same floor. The
/// starts are interleaved, one of each binary a round, so that whatever else the machine is
/// doing weighs on every binary alike.
fn startup_table() {
    println!("## Function binaries (release, {STARTS} starts each in interleaved rounds, median)\n");
    println!("| binary | size | start to first poll | vs hello-world | peak memory |");
    println!("|---|---|---|---|---|");
    let mut rows: Vec<(String, PathBuf)> = BINARIES.iter().map(|name| (name.to_string(), release_dir().join(name))).collect();
    if let Some(before) = std::env::var_os("CHIEF_BENCH_BEFORE") {
        let before = PathBuf::from(before);
        rows.extend(
            BINARIES[2..]
                .iter()
                .filter(|name| before.join(name).exists())
                .map(|name| (format!("{name} (before)"), before.join(name))),
        );
    }
    for (_, path) in &rows {
        assert!(
            path.exists(),
            "{} missing: build with cargo build --release --workspace --bins",
            path.display()
        );
    }
    let mut times = vec![Vec::new(); rows.len()];
    let mut peaks = vec![Vec::new(); rows.len()];
    for _ in 0..STARTS {
        for (i, (_, path)) in rows.iter().enumerate() {
            let (t, peak) = start_once(path);
            times[i].push(t.as_secs_f64() * 1000.0);
            peaks[i].push(peak as f64);
        }
    }
    let base = median(times[0].clone());
    for (i, (name, path)) in rows.iter().enumerate() {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let ms = median(times[i].clone());
        println!(
            "| {name} | {:.1} MiB | {ms:.2} ms | {:.2}× | {:.1} MiB |",
            size as f64 / 1_048_576.0,
            ms / base,
            median(peaks[i].clone()) / 1024.0
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
    let config = chief_local::LocalConfig::for_folder(dir.path().to_path_buf());
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
    let report = chief::executor::tick(&app).await.unwrap();
    row(
        &format!("executor tick claiming {} task (first tick: 60 minutes × 4 shards)", report.claimed),
        counting.take(),
    );
    // Posts need approval by default: the first run writes the text and holds it.
    let job = app.queue.receive(QueueName::Tasks, 10).await.unwrap().remove(0);
    chief::runner::run(&app, &job.body).await.unwrap();
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
    chief::executor::tick(&app).await.unwrap();
    counting.take();
    let job = app.queue.receive(QueueName::Tasks, 10).await.unwrap().remove(0);
    let outcome = chief::runner::run(&app, &job.body).await.unwrap();
    assert!(matches!(outcome, chief::runner::RunOutcome::HandedOn { .. }), "{outcome:?}");
    row("job-run-task: the approved post, scheduled for the pipeline", counting.take());
    chief::runner::run(&app, &job.body).await.unwrap();
    row("job-run-task: the same job again", counting.take());
    chief::executor::tick(&app).await.unwrap();
    row("executor tick claiming the post", counting.take());
    let job = app.queue.receive(QueueName::Publish, 10).await.unwrap().remove(0);
    let outcome = chief::content::publish::run(&app, &job.body).await.unwrap();
    assert!(
        matches!(outcome, chief::content::publish::PublishOutcome::Published { .. }),
        "{outcome:?}"
    );
    row("job-publish: published, ledger and task completed", counting.take());
    chief::content::publish::run(&app, &job.body).await.unwrap();
    row("job-publish: the same job again", counting.take());
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
    let config = chief_local::LocalConfig::for_folder(dir.to_path_buf());
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

/// The executor's tick over `SCHEDULED` items spread over the next 30 days, then with 10
/// due: `item_at` makes one item due at a time (a task, or a post), `claimed` reads a tick's
/// claims of them.
async fn tick_bench(
    what: &str,
    app: &chief::app::App,
    table: &CountingTable,
    queue: &CountingQueue,
    item_at: impl Fn(chrono::DateTime<chrono::Utc>) -> Item,
    claimed: fn(&chief::executor::TickReport) -> usize,
) {
    const SCHEDULED: usize = 1_000_000;
    const DUE: usize = 10;
    let now = chrono::Utc::now();
    let loading = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..SCHEDULED {
        // Spread over the next 30 days, from two minutes ahead.
        batch.push(item_at(now + chrono::Duration::minutes(2 + (i % 43_200) as i64)));
        if batch.len() == 10_000 {
            load(table, std::mem::take(&mut batch)).await;
        }
    }
    load(table, batch).await;
    println!(
        "
## Minute executor over {SCHEDULED} scheduled {what} (embedded store, release)

Loaded in {:.0} s.

| tick | partitions read | due | claimed | store calls | queue sends | time |
|---|---|---|---|---|---|---|",
        loading.elapsed().as_secs_f64()
    );
    let row = |label: &str, report: chief::executor::TickReport, took: Duration| {
        println!(
            "| {label} | {} | {} | {} | {} | {} | {:.1} ms |",
            report.partitions_read,
            report.due,
            claimed(&report),
            table.take(),
            queue.sends.swap(0, Ordering::SeqCst),
            took.as_secs_f64() * 1000.0
        );
    };
    table.take();
    let started = Instant::now();
    let first = chief::executor::tick(app).await.unwrap();
    row("first ever (no cursor: the last 60 minutes)", first, started.elapsed());
    // Due now (not at the time loading began: a minute or more ago, behind the tick's window).
    let due_at = chrono::Utc::now();
    load(table, (0..DUE).map(|_| item_at(due_at)).collect()).await;
    let started = Instant::now();
    let steady = chief::executor::tick(app).await.unwrap();
    assert_eq!(claimed(&steady), DUE, "{steady:?}");
    row(&format!("next tick, same minute ({DUE} due)"), steady, started.elapsed());
    let started = Instant::now();
    let idle = chief::executor::tick(app).await.unwrap();
    row("next tick (nothing due)", idle, started.elapsed());
}

async fn minute_tick_bench() {
    use chief::tasks::{NewTask, Origin, TaskType, new_task};
    let dir = tempfile::tempdir().unwrap();
    let (app, table, queue) = counted_app(dir.path());
    let now = chrono::Utc::now();
    let org = chief::ids::OrgId::generate();
    // The tasks' org, on a plan with room for what the claims reserve.
    let owner = chief::orgs::Org {
        id: org.clone(),
        name: "Bench".into(),
        plan: chief::usage::Plan::Enterprise,
        plan_until: None,
        time_zone: "UTC".into(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    load(&table, vec![owner.to_item().unwrap()]).await;
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
    tick_bench("tasks", &app, &table, &queue, task_at, |r| r.claimed).await;
}

/// The same over posts: each due post is claimed for job-publish.
async fn posts_tick_bench() {
    use chief::content::posts::{NewPost, PostStatus, approve_now, new_post};
    let dir = tempfile::tempdir().unwrap();
    let (app, table, queue) = counted_app(dir.path());
    let now = chrono::Utc::now();
    let org = chief::ids::OrgId::generate();
    let account = chief::ids::AccountId::generate();
    let post_at = |at: chrono::DateTime<chrono::Utc>| {
        let input = NewPost {
            platform: chief::platforms::Platform::Linkedin,
            text: "bench".into(),
            hashtags: Vec::new(),
            media_urls: Vec::new(),
            pillar: None,
            content_id: None,
            thread: Vec::new(),
        };
        let mut post = new_post(now, "bench", input).unwrap();
        approve_now(&mut post, "bench", now).unwrap();
        post.status = PostStatus::Scheduled;
        post.scheduled_at = Some(at);
        post.account_id = Some(account.clone());
        post.quota_month = Some(chief::usage::month(at));
        post.to_item(&org).unwrap()
    };
    tick_bench("posts", &app, &table, &queue, post_at, |r| r.posts_claimed).await;
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

/// The daily client-health recompute over 1,000 orgs of 200 active clients each: the
/// fan-out, then every org's job as `job-analyze` runs it, counting store calls per client.
async fn client_health_bench() {
    use chief::clients::health::{AnswerPoint, SentimentPoint, Stage};
    use chief::clients::recompute::HealthState;
    const ORGS: usize = 1_000;
    const CLIENTS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let (app, table, queue) = counted_app(dir.path());
    let now = chrono::Utc::now();
    let days_ago = |d: i64| now - chrono::Duration::days(d);
    let loading = Instant::now();
    for o in 0..ORGS {
        let org = chief::orgs::Org {
            id: chief::ids::OrgId::generate(),
            name: format!("Org {o}"),
            plan: chief::usage::Plan::Pro,
            plan_until: None,
            time_zone: "UTC".into(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let pk = chief::keys::org_pk(&org.id);
        let mut items = vec![
            org.to_item().unwrap(),
            chief::model::to_item(&pk, chief::keys::CLIENT_COUNT_SK, &serde_json::json!({"active": CLIENTS})).unwrap(),
        ];
        for c in 0..CLIENTS {
            let client = chief::clients::Client {
                id: chief::ids::ClientId::generate(),
                name: format!("Client {c}"),
                company: None,
                email: None,
                owner_id: None,
                contract_value: Some(12_000.0),
                currency: Some("EUR".into()),
                renewal_date: Some((now + chrono::Duration::days(20 + (c as i64 % 300))).date_naive()),
                stage: Stage::Active,
                tags: Vec::new(),
                created_by: "bench".into(),
                created_at: days_ago(100),
                updated_at: days_ago(100),
                version: 1,
            };
            // Evidence of a usual client: a few readings of the last weeks, an answer, a
            // last interaction some days ago (one in 40 silent for 35 days, one in 50 a
            // detractor), scored yesterday, with the alerts of yesterday's causes raised: the
            // recompute then does what a usual day asks of it.
            let mut state = HealthState::new(&client.id);
            for i in 0..5i64 {
                state.sentiments.push(SentimentPoint {
                    interaction_id: chief::model::new_id(),
                    at: days_ago(3 + 7 * i + c as i64 % 5),
                    // Spread over −0.2..0.8 without a pattern in time.
                    score: -0.2 + ((c as u64 * 7_919 + i as u64 * 104_729) % 1_000) as f64 / 1_000.0,
                });
            }
            let answer = AnswerPoint {
                response_id: chief::model::new_id(),
                at: days_ago(40),
                score: if c % 50 == 0 { 4 } else { 7 + (c % 4) as u8 },
            };
            let silent_for = if c % 40 == 0 { 35 } else { 1 + c as i64 % 20 };
            state.last_interaction_at = Some(days_ago(silent_for));
            if answer.score <= 6 {
                state.alerted.insert("detractor".into(), answer.response_id.clone());
            }
            if silent_for >= 30 {
                state.alerted.insert("silent".into(), chief::clock::timestamp(days_ago(silent_for)));
            }
            state.answers.push(answer);
            let yesterday = days_ago(1);
            let evidence = chief::clients::health::Evidence {
                sentiments: &state.sentiments,
                answers: &state.answers,
                last_interaction_at: state.last_interaction_at,
                open_tickets: 0,
                tickets_ever: 0,
                renewal_date: client.renewal_date,
                stage: client.stage,
            };
            let assessed = chief::clients::health::assess(&evidence, &Default::default(), &Default::default(), yesterday);
            state.score = assessed.score;
            state.band = assessed.band;
            state.factors = assessed.factors;
            state.computed_at = Some(yesterday);
            state.version = 1;
            items.push(chief::model::to_item(&pk, &chief::keys::client_sk(&client.id), &client).unwrap());
            items.push(state.to_item_for(&org.id).unwrap());
        }
        load(&table, items).await;
    }
    let loaded = loading.elapsed();
    table.take();
    let started = Instant::now();
    let fan_out = chief::clients::daily::fan_out(&app).await.unwrap();
    let fan_out_took = started.elapsed();
    let fan_out_calls = table.take();
    let started = Instant::now();
    let (mut runs, mut clients, mut changed, mut alerts) = (0, 0, 0, 0);
    loop {
        let messages = app.queue.receive(chief::ports::queue::QueueName::Analysis, 10).await.unwrap();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let run = chief::clients::daily::run_job(&app, &message.body).await.unwrap();
            runs += 1;
            clients += run["clients"].as_u64().unwrap_or(0);
            changed += run["changed"].as_u64().unwrap_or(0);
            alerts += run["alertsRaised"].as_u64().unwrap_or(0);
            app.queue
                .ack(chief::ports::queue::QueueName::Analysis, &message.receipt)
                .await
                .unwrap();
        }
    }
    let took = started.elapsed();
    let calls = table.take();
    println!(
        "
## Daily client-health recompute over {ORGS} orgs × {CLIENTS} clients (embedded store, release)

Loaded in {:.1} s. The fan-out read {} orgs and sent {} jobs in {} queue sends: {fan_out_calls} store calls, {:.2} s.
",
        loaded.as_secs_f64(),
        fan_out.orgs_seen,
        fan_out.messages,
        queue.sends.swap(0, Ordering::SeqCst),
        fan_out_took.as_secs_f64()
    );
    println!("| org jobs | clients recomputed | scores changed | alerts raised | store calls | per client | time | per org job |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {runs} | {clients} | {changed} | {alerts} | {calls} | {:.3} | {:.1} s | {:.1} ms |",
        calls as f64 / clients.max(1) as f64,
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / runs.max(1) as f64
    );
}

/// One HTTP request off a connection of the stub Runtime API: its request line and body.
fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some((head.lines().next().unwrap_or_default().to_string(), body))
}

/// What a function did for a stub Runtime API that handed it `invocations` events in turn.
#[derive(Default)]
struct Served {
    /// From `execve` to the first response.
    first: Duration,
    /// Each later invocation, from handing the event to its response.
    warm: Vec<Duration>,
    /// Resident memory (KiB) after the first response, the thousandth and the last.
    rss_after_first: u64,
    rss_after_thousand: u64,
    rss_after_last: u64,
    last_answer: String,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Starts the binary against a stub Runtime API that hands it `invocations` copies of one API
/// Gateway event, one after the other.
fn serve_invocations(binary: &std::path::Path, env: &[(&str, String)], event: &str, invocations: usize) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the function");
    // The runtime client may open a new connection for any request while an old one stays
    // open, so each connection is served on its own thread over one shared state.
    struct State {
        served: Served,
        handed: usize,
        answered: usize,
        handed_at: Instant,
    }
    let state = Arc::new(std::sync::Mutex::new(State {
        served: Served::default(),
        handed: 0,
        answered: 0,
        handed_at: Instant::now(),
    }));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let pid = child.id();
    let event = Arc::new(event.to_string());
    std::thread::spawn({
        let state = state.clone();
        move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (state, done_tx, event) = (state.clone(), done_tx.clone(), event.clone());
                std::thread::spawn(move || {
                    while let Some((line, body)) = read_request(&mut stream) {
                        let mut s = state.lock().unwrap();
                        if line.contains("/invocation/next") && s.handed < invocations {
                            s.handed += 1;
                            let deadline = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_millis()
                                + 30_000;
                            let reply = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: bench-{}\r\nlambda-runtime-deadline-ms: {deadline}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:eu-west-1:123456789012:function:bench\r\nlambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\ncontent-length: {}\r\n\r\n{event}",
                                s.handed,
                                event.len()
                            );
                            s.handed_at = Instant::now();
                            drop(s);
                            let _ = stream.write_all(reply.as_bytes());
                        } else if line.contains(&format!("/invocation/bench-{}/", s.handed)) {
                            s.answered += 1;
                            if s.answered == 1 {
                                s.served.first = started.elapsed();
                                s.served.rss_after_first = rss_kib(pid);
                            } else {
                                let took = s.handed_at.elapsed();
                                s.served.warm.push(took);
                            }
                            if s.answered == 1_000 {
                                s.served.rss_after_thousand = rss_kib(pid);
                            }
                            s.served.last_answer = String::from_utf8_lossy(&body).to_string();
                            if s.answered == invocations {
                                s.served.rss_after_last = rss_kib(pid);
                                let _ = done_tx.send(());
                            }
                            drop(s);
                            let _ = stream.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
                        } else if line.contains("/invocation/next") {
                            // All handed: let the poll wait until the function is stopped.
                            drop(s);
                            std::thread::sleep(Duration::from_secs(3600));
                        } else {
                            drop(s);
                            let _ = stream.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
                        }
                    }
                });
            }
        }
    });
    done_rx
        .recv_timeout(Duration::from_secs(600))
        .expect("the function answered every invocation");
    let _ = child.kill();
    let _ = child.wait();
    std::mem::take(&mut state.lock().unwrap().served)
}

/// From `execve` to the answer of `GET /v1/health` (which reads the table and the signing key)
/// against moto: a cold start and its first request, with the SDK made on that request.
/// Needs `AWS_ENDPOINT_URL` (moto); `CHIEF_BENCH_BEFORE` names a folder of earlier binaries to
/// measure beside these in the same run.
async fn first_answer_table() {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        println!("\n(first answer after a cold start: skipped, AWS_ENDPOINT_URL does not point at moto)");
        return;
    };
    let aws = chief_adapters::aws::load().await;
    let (table, secret) = chief_tests::table_and_signing_key(&aws, "chief-bench").await;
    let env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("CHIEF_TABLE_NAME", table),
        ("CHIEF_JWT_SECRET_ID", secret),
        ("CHIEF_APP_URL", "https://app.chief.example".to_string()),
    ];
    let event = std::fs::read_to_string(chief_tests::workspace_root().join("events/api-health.json")).unwrap();
    let mut dirs = vec![("now", release_dir())];
    if let Some(before) = std::env::var_os("CHIEF_BENCH_BEFORE") {
        dirs.insert(0, ("before", PathBuf::from(before)));
    }
    println!("\n## First answer after a cold start (api-health, GET /v1/health against moto, {RUNS} starts, median)\n");
    println!("| binaries | execve to first answer |");
    println!("|---|---|");
    for (which, dir) in &dirs {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let served = serve_invocations(&dir.join("api-health"), &env, &event, 1);
            assert!(served.last_answer.contains("\"statusCode\":200"), "{which}: {}", served.last_answer);
            times.push(served.first.as_secs_f64() * 1000.0);
        }
        println!("| {which} | {:.2} ms |", median(times));
    }

    println!("\n## {WARM} warm invocations (api-health against moto: a table read each; the signing key cached)\n");
    println!("| binaries | p50 | p99 | resident after the first | after 1,000 | after the last | growth from 1,000 to the last |");
    println!("|---|---|---|---|---|---|---|");
    for (which, dir) in &dirs {
        let served = serve_invocations(&dir.join("api-health"), &env, &event, WARM + 1);
        assert!(served.last_answer.contains("\"statusCode\":200"), "{which}: {}", served.last_answer);
        let mut warm: Vec<f64> = served.warm.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        warm.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "| {which} | {:.2} ms | {:.2} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.2} MiB |",
            warm[warm.len() / 2],
            warm[warm.len() * 99 / 100],
            served.rss_after_first as f64 / 1024.0,
            served.rss_after_thousand as f64 / 1024.0,
            served.rss_after_last as f64 / 1024.0,
            (served.rss_after_last as f64 - served.rss_after_thousand as f64) / 1024.0
        );
    }
}

const WARM: usize = 10_000;

/// The sections, by the name an argument picks them with.
const SECTIONS: [&str; 11] = [
    "startup",
    "first-answer",
    "store-calls",
    "tick",
    "posts-tick",
    "fan-out",
    "client-health",
    "deal-pipeline",
    "hash",
    "load",
    "cost",
];

/// `bench [section …]`: the named sections, or all of them.
#[tokio::main]
async fn main() {
    let picked: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = picked.iter().find(|p| !SECTIONS.contains(&p.as_str())) {
        eprintln!("bench: no section {unknown}; the sections are {}", SECTIONS.join(", "));
        std::process::exit(2);
    }
    let runs = |section: &str| picked.is_empty() || picked.iter().any(|p| p == section);
    if runs("startup") {
        startup_table();
    }
    if runs("first-answer") {
        first_answer_table().await;
    }
    if runs("store-calls") {
        store_calls_table().await;
    }
    if runs("tick") {
        minute_tick_bench().await;
    }
    if runs("posts-tick") {
        posts_tick_bench().await;
    }
    if runs("fan-out") {
        fan_out_bench().await;
    }
    if runs("client-health") {
        client_health_bench().await;
    }
    if runs("deal-pipeline") {
        deal_pipeline_bench().await;
    }
    if runs("hash") {
        hash_bench();
    }
    if runs("load") {
        load_table().await;
    }
    if runs("cost") {
        cost::cost_table().await;
    }
}

/// The pipeline view over an org's 10,000 deals (every stage, three currencies, a year of
/// wins and losses), through the route as API Gateway hands it over: store calls and time.
async fn deal_pipeline_bench() {
    const DEALS: usize = 10_000;
    const RUNS: usize = 21;
    let dir = tempfile::tempdir().unwrap();
    let (app, table, _) = counted_app(dir.path());
    let signup = call(
        &app,
        Group::Auth,
        "POST",
        "/v1/auth/signup",
        None,
        Some(json!({"email": "d@bench.io", "password": "a long password", "name": "D"})),
    )
    .await;
    let token = signup["data"]["token"].as_str().unwrap().to_string();
    let org = call(&app, Group::Orgs, "POST", "/v1/orgs", Some(&token), Some(json!({"name": "Deals"}))).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sponsor = call(
        &app,
        Group::Deals,
        "POST",
        &format!("/v1/orgs/{org}/sponsors"),
        Some(&token),
        Some(json!({"name": "Fizz", "category": "energy drinks"})),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = chrono::Utc::now();
    let stages = chief::deals::Stage::ALL;
    let currencies = ["EUR", "USD", "GBP"];
    let pk = chief::keys::org_pk(&chief::ids::OrgId::parse(&org, "org").unwrap());
    let items: Vec<Item> = (0..DEALS)
        .map(|i| {
            let stage = stages[i % stages.len()];
            let at = now - chrono::Duration::days((i % 365) as i64);
            let deal = chief::deals::Deal {
                id: chief::ids::DealId::generate(),
                sponsor_id: chief::ids::SponsorId::parse(&sponsor, "sponsor").unwrap(),
                title: format!("Deal {i}"),
                value: 10_000 + (i as i64 * 37) % 500_000,
                currency: currencies[i % currencies.len()].into(),
                kind: chief::deals::DealType::SponsoredPost,
                stage,
                lost_reason: (stage == chief::deals::Stage::Lost).then(|| "went elsewhere".into()),
                expected_close_date: None,
                exclusivity: None,
                owner_id: None,
                next_follow_up_at: None,
                last_activity_at: at,
                won_at: stage.is_won().then_some(at),
                lost_at: (stage == chief::deals::Stage::Lost).then_some(at),
                created_by: "bench".into(),
                created_at: at,
                updated_at: at,
                version: 1,
            };
            chief::model::to_item(&pk, &chief::keys::deal_sk(&deal.id), &deal).unwrap()
        })
        .collect();
    load(&table, items).await;
    let path = format!("/v1/orgs/{org}/deals/pipeline");
    table.take();
    let mut times = Vec::with_capacity(RUNS);
    let mut calls = 0;
    let mut view = Value::Null;
    for _ in 0..RUNS {
        let started = Instant::now();
        view = call(&app, Group::Deals, "GET", &path, Some(&token), None).await;
        times.push(started.elapsed());
        calls = table.take();
    }
    times.sort();
    let counted: u64 = view["data"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, DEALS as u64, "every deal is in a stage");
    println!("\n## Deal pipeline over {DEALS} deals (embedded store; `bench deal-pipeline`)\n");
    println!("| what | figure |");
    println!("|---|---|");
    println!(
        "| store calls per request | {calls} (the membership, then {} pages of {} deals) |",
        calls - 1,
        chief::deals::DEALS_PER_PAGE
    );
    println!(
        "| median time per request | {:.1} ms (of {RUNS}) |",
        times[RUNS / 2].as_secs_f64() * 1_000.0
    );
    println!("| win rate of the last 90 days | {} |", view["data"]["winRate"]);
}

/// A password hash and its check, as sign-up and login do them: CPU work a user waits for,
/// measured with this build's profile (the release profile keeps argon2 and blake2 at
/// `opt-level = 3`).
fn hash_bench() {
    const HASHES: usize = 9;
    let mut hashing = Vec::new();
    let mut checking = Vec::new();
    for _ in 0..HASHES {
        let started = Instant::now();
        let stored = chief::auth::password::hash("a password for the bench").unwrap();
        hashing.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        assert!(chief::auth::password::verify("a password for the bench", &stored));
        checking.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!("\n## Password hash (Argon2id, 19 MiB, 2 passes; {HASHES} runs, median)\n");
    println!("| hash | verify |");
    println!("|---|---|");
    println!("| {:.1} ms | {:.1} ms |", median(hashing), median(checking));
}

/// What one load run measured.
struct LoadFigures {
    done: usize,
    failed: usize,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

/// Up to `total` requests from `clients` concurrent clients, stopped after `LOAD_TIME`:
/// client `c`'s `n`th request is `make(c, n)`. A request that answers other than 2xx counts
/// as failed (and is timed too).
async fn load_run(clients: usize, total: usize, make: Arc<dyn Fn(usize, usize) -> reqwest::RequestBuilder + Send + Sync>) -> LoadFigures {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let runs = (0..clients).map(|client| {
        let (next, make) = (next.clone(), make.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while started.elapsed() < LOAD_TIME {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let sent = Instant::now();
                let ok = match make(client, n).send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                seen.push((sent.elapsed().as_secs_f64() * 1000.0, ok));
            }
            seen
        })
    });
    let seen: Vec<(f64, bool)> = futures::future::join_all(runs).await.into_iter().flat_map(Result::unwrap).collect();
    let elapsed = started.elapsed();
    let mut latencies_ms: Vec<f64> = seen.iter().map(|(ms, _)| *ms).collect();
    latencies_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    LoadFigures {
        done: seen.len(),
        failed: seen.iter().filter(|(_, ok)| !ok).count(),
        elapsed,
        latencies_ms,
    }
}

/// The most one load run may take.
const LOAD_TIME: Duration = Duration::from_secs(10);
const CLIENTS: [usize; 3] = [1, 8, 64];

/// Four routes of the release `local` on loopback (the SQLite file on disk, the offline AI),
/// at 1, 8 and 64 concurrent clients: requests per second and latency. The org is on the
/// enterprise plan (through a signed Stripe delivery, as in production), so the chat's AI
/// quota does not end the run; each client chats in a conversation of its own.
async fn load_table() {
    use chief_tests::stripe::{SECRET_KEY, StripeFixture, subscription_event};
    const WEBHOOK_SECRET: &str = "whsec_bench";
    const ENTERPRISE: &str = "price_bench_enterprise";
    let stripe = StripeFixture::start().await;
    let local = chief_tests::Local::start_binary(
        &release_dir().join("local"),
        &[
            ("STRIPE_SECRET_KEY", SECRET_KEY),
            ("STRIPE_API_BASE", &stripe.base),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_PRICE_PRO", "price_bench_pro"),
            ("STRIPE_PRICE_ENTERPRISE", ENTERPRISE),
            ("CHIEF_LOCAL_SCHEDULES", "off"),
        ],
    );
    let (token, _) = local.signup("load@bench.example").await;
    let org = local.create_org(&token, "Load").await;
    let (status, body) = local
        .post(
            &format!("/v1/orgs/{org}/billing/checkout"),
            Some(&token),
            json!({"plan": "enterprise"}),
        )
        .await;
    assert!(status.is_success(), "checkout: {body}");
    let now = chrono::Utc::now().timestamp();
    let customer = stripe.checkout_customer(&org);
    let event = subscription_event(
        "evt_bench_enterprise",
        "customer.subscription.created",
        now,
        &customer,
        "active",
        ENTERPRISE,
    );
    let signature = chief::billing::signature::sign(event.as_bytes(), WEBHOOK_SECRET, now);
    let (status, body) = local.webhook(&event, Some(&signature)).await;
    assert!(status.is_success(), "webhook: {body}");
    let (_, usage) = local.get(&format!("/v1/orgs/{org}/usage"), &token).await;
    assert_eq!(chief_tests::data(&usage)["plan"], "enterprise", "{usage}");

    for i in 0..60 {
        let (status, body) = local
            .post(
                &format!("/v1/orgs/{org}/leads"),
                Some(&token),
                json!({"name": format!("Lead {i}"), "email": format!("lead{i}@bench.example")}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let (status, body) = local
        .post(
            &format!("/v1/orgs/{org}/tasks"),
            Some(&token),
            json!({"type": "social_media_post", "input": {"topic": "the bench"}}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let task = chief_tests::data(&body)["id"].as_str().unwrap().to_string();
    let mut conversations = Vec::new();
    for _ in 0..CLIENTS[2] {
        let (status, body) = local
            .post(&format!("/v1/orgs/{org}/conversations"), Some(&token), json!({"title": "Load"}))
            .await;
        assert!(status.is_success(), "{body}");
        conversations.push(chief_tests::data(&body)["id"].as_str().unwrap().to_string());
    }

    let http = reqwest::Client::new();
    let base = format!("{}/v1/orgs/{org}", local.base);
    let auth = format!("Bearer {token}");
    type Make = Arc<dyn Fn(usize, usize) -> reqwest::RequestBuilder + Send + Sync>;
    let scenarios: Vec<(&str, usize, Make)> = vec![
        ("GET …/leads?limit=50", 2_000, {
            let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
            Arc::new(move |_, _| http.get(format!("{base}/leads?limit=50")).header("authorization", &auth))
        }),
        ("POST …/leads", 2_000, {
            let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
            Arc::new(move |_, n| {
                http.post(format!("{base}/leads"))
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(json!({"name": format!("Load {n}"), "email": format!("load{n}@bench.example")}).to_string())
            })
        }),
        ("GET …/tasks/{id}", 2_000, {
            let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
            Arc::new(move |_, _| http.get(format!("{base}/tasks/{task}")).header("authorization", &auth))
        }),
        ("POST …/conversations/{id}/messages (offline AI)", 400, {
            let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
            Arc::new(move |client, _| {
                http.post(format!("{base}/conversations/{}/messages", conversations[client]))
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(json!({"content": "What should we do this week?"}).to_string())
            })
        }),
    ];
    println!(
        "\n## Load on `local` (release, loopback, SQLite on disk; at most the given requests or {} s a run)\n",
        LOAD_TIME.as_secs()
    );
    println!("| route | clients | requests | failed | requests/s | p50 | p99 |");
    println!("|---|---|---|---|---|---|---|");
    for (route, total, make) in scenarios {
        for clients in CLIENTS {
            let figures = load_run(clients, total, make.clone()).await;
            let at = |q: f64| figures.latencies_ms[((figures.latencies_ms.len() as f64 - 1.0) * q) as usize];
            println!(
                "| {route} | {clients} | {} | {} | {:.0} | {:.2} ms | {:.2} ms |",
                figures.done,
                figures.failed,
                figures.done as f64 / figures.elapsed.as_secs_f64(),
                at(0.5),
                at(0.99)
            );
        }
    }
}
