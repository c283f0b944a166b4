//! `bench cost`: what one tenant costs to serve for a month, from call counts measured by
//! running a reference tenant-month on the embedded store with metering adapters, priced at
//! public on-demand prices (`PRICES`). The store meter counts DynamoDB request units as
//! DynamoDB would from each item's size; time per invocation is this build's compute plus
//! an assumed round trip per store call and per AI call (see `ASSUMED`).

use async_trait::async_trait;
use chief::app::App;
use chief::clock::ManualClock;
use chief::jobs::Job;
use chief::ports::ai::{Ai, AiError, AiUse, Completion, Prompt};
use chief::ports::queue::{JobQueue, MAX_BATCH, Message, QueueError, QueueName};
use chief::ports::table::*;
use chief::routes::Group;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Public on-demand prices, us-east-1, in US dollars, as read on 2026-11-27 from AWS's and
/// OpenAI's pricing pages (DynamoDB's after its November 2024 on-demand cut). Check them
/// before quoting a figure built on them.
const PRICES: Prices = Prices {
    read_request_unit: 0.125 / 1e6,
    write_request_unit: 0.625 / 1e6,
    storage_gb_month: 0.25,
    sqs_request: 0.40 / 1e6,
    eventbridge_event: 1.00 / 1e6,
    lambda_request: 0.20 / 1e6,
    lambda_arm64_gb_second: 0.000_013_333_4,
    http_api_request: 1.00 / 1e6,
    log_ingestion_gb: 0.50,
    routine_input_token: 0.40 / 1e6,
    routine_output_token: 1.60 / 1e6,
    strategy_input_token: 2.00 / 1e6,
    strategy_output_token: 8.00 / 1e6,
};

struct Prices {
    read_request_unit: f64,
    write_request_unit: f64,
    storage_gb_month: f64,
    sqs_request: f64,
    eventbridge_event: f64,
    lambda_request: f64,
    lambda_arm64_gb_second: f64,
    http_api_request: f64,
    log_ingestion_gb: f64,
    routine_input_token: f64,
    routine_output_token: f64,
    strategy_input_token: f64,
    strategy_output_token: f64,
}

/// What is assumed rather than measured.
struct Assumed {
    /// A DynamoDB call from Lambda in the same region.
    store_round_trip: Duration,
    /// A completion of the routine and the strategy models, answered in full.
    ai_round_trip: Duration,
    /// What a real model writes back (the offline AI's answers are short).
    output_tokens_per_call: u64,
    /// Tenants sharing the minute executor and the hourly fan-out, which are global jobs.
    tenants_sharing_schedules: u64,
    /// Log bytes a function writes per invocation (two JSON lines: start and outcome).
    log_bytes_per_invocation: u64,
    memory_gb: f64,
}

const ASSUMED: Assumed = Assumed {
    store_round_trip: Duration::from_millis(6),
    ai_round_trip: Duration::from_millis(1_500),
    output_tokens_per_call: 300,
    tenants_sharing_schedules: 1_000,
    log_bytes_per_invocation: 600,
    memory_gb: 0.125,
};

/// What one function did in the month.
#[derive(Default, Clone)]
struct FunctionUse {
    invocations: u64,
    compute: Duration,
    store_calls: u64,
    ai_calls: u64,
    read_units: f64,
    write_units: f64,
}

#[derive(Default)]
struct Meter {
    function: String,
    sqs_requests: u64,
    events: u64,
    functions: BTreeMap<String, FunctionUse>,
    /// Each stored item's billed bytes (its size, 100 bytes of overhead, and a copy per
    /// global index it is in), by key.
    stored: BTreeMap<(String, String), u64>,
    tokens: BTreeMap<&'static str, (u64, u64)>,
}

type Shared = Arc<Mutex<Meter>>;

/// DynamoDB's size of an item: each attribute's name and value, numbers at about one byte
/// per two digits.
fn value_size(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.len() as u64,
        Value::Number(n) => n.to_string().len().div_ceil(2) as u64 + 1,
        Value::Bool(_) | Value::Null => 1,
        Value::Array(items) => 3 + items.iter().map(|v| value_size(v) + 1).sum::<u64>(),
        Value::Object(map) => 3 + map.iter().map(|(k, v)| k.len() as u64 + value_size(v) + 1).sum::<u64>(),
    }
}

fn item_size(item: &Item) -> u64 {
    item.iter().map(|(k, v)| k.len() as u64 + value_size(v)).sum::<u64>().max(1)
}

fn read_units(bytes: u64) -> f64 {
    bytes.div_ceil(4096).max(1) as f64
}

fn write_units(bytes: u64) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Each global index an item is in is written again, at the standard rate.
fn index_writes(item: Option<&Item>) -> f64 {
    let Some(item) = item else { return 0.0 };
    let indexed = ["duePK", "planPK", "userPK"].iter().filter(|k| item.contains_key(**k)).count();
    indexed as f64 * write_units(item_size(item))
}

struct MeteredTable {
    inner: Arc<dyn Table>,
    meter: Shared,
}

impl MeteredTable {
    fn charge(&self, read: f64, write: f64) {
        let mut m = self.meter.lock().unwrap();
        let function = m.function.clone();
        let used = m.functions.entry(function).or_default();
        used.store_calls += 1;
        used.read_units += read;
        used.write_units += write;
    }

    async fn existing(&self, key: &Key) -> Option<Item> {
        self.inner.get(key).await.ok().flatten()
    }

    /// Keeps the stored bytes of the item at `key` as it is now.
    async fn restate(&self, key: &Key) {
        let now = self.existing(key).await;
        let mut m = self.meter.lock().unwrap();
        let id = (key.pk.clone(), key.sk.clone());
        match now {
            Some(item) => {
                let copies = 1 + ["duePK", "planPK", "userPK"].iter().filter(|k| item.contains_key(**k)).count() as u64;
                m.stored.insert(id, copies * (item_size(&item) + 100));
            }
            None => {
                m.stored.remove(&id);
            }
        }
    }

    fn key_of(item: &Item) -> Key {
        Key::new(item["PK"].as_str().unwrap_or_default(), item["SK"].as_str().unwrap_or_default())
    }

    /// The units of one write, before and after, at `rate` (2 in a transaction).
    fn write_cost(before: Option<&Item>, after: Option<&Item>, rate: f64) -> f64 {
        let size = after.or(before).map(item_size).unwrap_or(1).max(before.map(item_size).unwrap_or(0));
        rate * write_units(size) + index_writes(after.or(before))
    }
}

#[async_trait]
impl Table for MeteredTable {
    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        let found = self.inner.get(key).await?;
        self.charge(read_units(found.as_ref().map(item_size).unwrap_or(1)), 0.0);
        Ok(found)
    }
    async fn get_many(&self, keys: &[Key]) -> TableResult<Vec<Option<Item>>> {
        let found = self.inner.get_many(keys).await?;
        let units = found.iter().map(|i| read_units(i.as_ref().map(item_size).unwrap_or(1))).sum();
        self.charge(units, 0.0);
        Ok(found)
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> TableResult<()> {
        let before = self.existing(&Self::key_of(&item)).await;
        let cost = Self::write_cost(before.as_ref(), Some(&item), 1.0);
        self.charge(0.0, cost);
        let key = Self::key_of(&item);
        let out = self.inner.put(item, condition).await;
        self.restate(&key).await;
        out
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> TableResult<()> {
        let before = self.existing(key).await;
        self.charge(0.0, Self::write_cost(before.as_ref(), None, 1.0));
        let out = self.inner.delete(key, condition).await;
        self.restate(key).await;
        out
    }
    async fn add(&self, key: &Key, counter: Counter) -> TableResult<i64> {
        let out = self.inner.add(key, counter).await;
        let after = self.existing(key).await;
        self.charge(0.0, Self::write_cost(None, after.as_ref(), 1.0));
        self.restate(key).await;
        out
    }
    async fn query(&self, query: Query) -> TableResult<Page> {
        // A global index is read eventually consistent: half the units.
        let rate = if query.index.is_some() { 0.5 } else { 1.0 };
        let page = self.inner.query(query).await?;
        let bytes: u64 = page.items.iter().map(item_size).sum();
        self.charge(rate * read_units(bytes), 0.0);
        Ok(page)
    }
    async fn transact(&self, ops: Vec<TxOp>) -> TableResult<()> {
        let mut units = 0.0;
        for op in &ops {
            units += match op {
                TxOp::Put { item, .. } => {
                    let before = self.existing(&Self::key_of(item)).await;
                    Self::write_cost(before.as_ref(), Some(item), 2.0)
                }
                TxOp::Delete { key, .. } => {
                    let before = self.existing(key).await;
                    Self::write_cost(before.as_ref(), None, 2.0)
                }
                TxOp::Check { key, .. } => {
                    let before = self.existing(key).await;
                    2.0 * write_units(before.as_ref().map(item_size).unwrap_or(1))
                }
                TxOp::Add { key, .. } | TxOp::AddAll { key, .. } => {
                    let before = self.existing(key).await;
                    Self::write_cost(before.as_ref(), before.as_ref(), 2.0)
                }
            };
        }
        self.charge(0.0, units);
        let keys: Vec<Key> = ops
            .iter()
            .map(|op| match op {
                TxOp::Put { item, .. } => Self::key_of(item),
                TxOp::Delete { key, .. } | TxOp::Add { key, .. } | TxOp::AddAll { key, .. } | TxOp::Check { key, .. } => key.clone(),
            })
            .collect();
        let out = self.inner.transact(ops).await;
        for key in &keys {
            self.restate(key).await;
        }
        out
    }
}

struct MeteredQueue {
    inner: Arc<dyn JobQueue>,
    meter: Shared,
}

#[async_trait]
impl JobQueue for MeteredQueue {
    async fn send(&self, queue: QueueName, bodies: &[String]) -> Result<usize, QueueError> {
        self.meter.lock().unwrap().sqs_requests += bodies.len().div_ceil(MAX_BATCH) as u64;
        self.inner.send(queue, bodies).await
    }
    // Receiving and deleting are Lambda's event source mapping: its polls are SQS requests
    // too, counted per message below (receive, delete).
    async fn receive(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        let got = self.inner.receive(queue, max).await?;
        self.meter.lock().unwrap().sqs_requests += 2 * got.len() as u64;
        Ok(got)
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

struct MeteredAi {
    inner: Arc<dyn Ai>,
    meter: Shared,
}

#[async_trait]
impl Ai for MeteredAi {
    async fn complete(&self, prompt: Prompt) -> Result<Completion, AiError> {
        let model = match prompt.purpose {
            AiUse::Strategy => "strategy",
            AiUse::Routine => "routine",
        };
        let completion = self.inner.complete(prompt).await?;
        let mut m = self.meter.lock().unwrap();
        let output = u64::from(completion.completion_tokens).max(ASSUMED.output_tokens_per_call);
        let tokens = m.tokens.entry(model).or_default();
        tokens.0 += u64::from(completion.prompt_tokens);
        tokens.1 += output;
        let function = m.function.clone();
        m.functions.entry(function).or_default().ai_calls += 1;
        Ok(completion)
    }
}

struct EventCounter {
    inner: Arc<dyn chief::ports::events::EventBus>,
    meter: Shared,
}

#[async_trait]
impl chief::ports::events::EventBus for EventCounter {
    async fn publish(&self, events: &[chief::ports::events::DomainEvent]) -> Result<(), chief::ports::events::EventBusError> {
        self.meter.lock().unwrap().events += events.len() as u64;
        self.inner.publish(events).await
    }
}

/// Runs `work` as one invocation of `function`, timing its compute.
async fn invoke<T>(meter: &Shared, function: &str, work: impl std::future::Future<Output = T>) -> T {
    meter.lock().unwrap().function = function.to_string();
    let started = Instant::now();
    let out = work.await;
    let elapsed = started.elapsed();
    let mut m = meter.lock().unwrap();
    let f = m.functions.entry(function.to_string()).or_default();
    f.invocations += 1;
    f.compute += elapsed;
    out
}

/// A queue's consumer, as Lambda's event source runs it: one invocation per batch received.
async fn drain(app: &App, meter: &Shared, job: Job, queue: QueueName) {
    loop {
        meter.lock().unwrap().function = job.function().to_string();
        let started = Instant::now();
        let drained = chief::jobs::drain_once(app, queue).await.unwrap();
        if drained.received == 0 {
            return;
        }
        let mut m = meter.lock().unwrap();
        let used = m.functions.entry(job.function().to_string()).or_default();
        used.invocations += 1;
        used.compute += started.elapsed();
    }
}

async fn request(app: &App, meter: &Shared, group: Group, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let function = group.spec().function;
    invoke(meter, function, super::call(app, group, method, path, token, body)).await
}

pub async fn cost_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = chief_local::LocalConfig::for_folder(dir.path().to_path_buf());
    let mut app = chief_local::local_app(&config, "http://localhost".into()).unwrap();
    let start = chrono::Utc::now();
    let clock = Arc::new(ManualClock::new(start));
    let meter: Shared = Arc::default();
    app.clock = clock.clone();
    let raw_table = app.table.clone();
    app.table = Arc::new(MeteredTable {
        inner: raw_table.clone(),
        meter: meter.clone(),
    });
    app.queue = Arc::new(MeteredQueue {
        inner: app.queue.clone(),
        meter: meter.clone(),
    });
    app.ai = Arc::new(MeteredAi {
        inner: app.ai.clone(),
        meter: meter.clone(),
    });
    app.events = Arc::new(EventCounter {
        inner: app.events.clone(),
        meter: meter.clone(),
    });
    let wall = Instant::now();

    // Five members: the owner and four who signed up; the reference org is on Enterprise (300 tasks a month are past Pro's 100).
    let signup =
        |i: usize| json!({"email": format!("member{i}@cost.test"), "password": "correct horse battery", "name": format!("Member {i}")});
    let owner = request(&app, &meter, Group::Auth, "POST", "/v1/auth/signup", None, Some(signup(0))).await;
    let mut token = owner["data"]["token"].as_str().unwrap().to_string();
    for i in 1..5 {
        request(&app, &meter, Group::Auth, "POST", "/v1/auth/signup", None, Some(signup(i))).await;
    }
    let org = request(
        &app,
        &meter,
        Group::Orgs,
        "POST",
        "/v1/orgs",
        Some(&token),
        Some(json!({"name": "Reference"})),
    )
    .await;
    let org_id = org["data"]["id"].as_str().unwrap().to_string();
    let stored = raw_table
        .get(&Key::new(
            chief::keys::org_pk(&chief::ids::OrgId::read(&org_id).unwrap()),
            chief::keys::ORG_SK,
        ))
        .await
        .unwrap();
    let mut paying = chief::orgs::org_from(stored).unwrap();
    paying.plan = chief::usage::Plan::Enterprise;
    raw_table.put(paying.to_item().unwrap(), None).await.unwrap();
    let mut requests = 7u64;

    // The month, hour by hour: the writes the reference names spread over it, the agent's
    // hourly run and the analysis it enqueues, and the executor's ticks with the tasks they
    // send; each message is one invocation of its consumer. Only two ticks an hour run here
    // (each reads the hour behind it); the month's other minute ticks are idle ones, measured
    // once below and counted as many times.
    let hours = 30 * 24;
    let executor = Job::scheduled(Job::Executor.function()).unwrap();
    let agent = Job::scheduled(Job::Agent.function()).unwrap();
    let mut leads: Vec<String> = Vec::new();
    let (mut tasks, mut messages, mut ticks) = (0usize, 0usize, 0u64);
    let conversation = request(
        &app,
        &meter,
        Group::Chat,
        "POST",
        &format!("/v1/orgs/{org_id}/conversations"),
        Some(&token),
        None,
    )
    .await;
    let conversation = conversation["data"]["id"].as_str().unwrap().to_string();
    requests += 1;
    for hour in 0..hours {
        // Tokens last 12 hours: the members sign in again twice a day.
        if hour % 12 == 11 {
            let login = json!({"email": "member0@cost.test", "password": "correct horse battery"});
            let signed_in = request(&app, &meter, Group::Auth, "POST", "/v1/auth/login", None, Some(login)).await;
            token = signed_in["data"]["token"].as_str().unwrap().to_string();
            requests += 1;
        }
        while leads.len() < (hour + 1) * 2_000 / hours {
            let i = leads.len();
            let lead = request(&app, &meter, Group::Leads, "POST", &format!("/v1/orgs/{org_id}/leads"), Some(&token), Some(json!({"name": format!("Lead {i}"), "email": format!("lead{i}@example.com"), "company": "Example", "tags": ["inbound"]}))).await;
            let id = lead["data"]["id"].as_str().unwrap().to_string();
            for a in 0..3 {
                request(
                    &app,
                    &meter,
                    Group::Leads,
                    "POST",
                    &format!("/v1/orgs/{org_id}/leads/{id}/activities"),
                    Some(&token),
                    Some(json!({"type": "call", "summary": format!("call {a} about the proposal")})),
                )
                .await;
            }
            leads.push(id);
            requests += 4;
        }
        while tasks < (hour + 1) * 300 / hours {
            let task = if tasks % 5 == 0 {
                json!({"type": "social_media_post", "input": {"topic": format!("our week {tasks}")}})
            } else {
                json!({"type": "lead_followup", "input": {"leadId": leads[tasks % leads.len()], "note": "check in"}})
            };
            request(
                &app,
                &meter,
                Group::Tasks,
                "POST",
                &format!("/v1/orgs/{org_id}/tasks"),
                Some(&token),
                Some(task),
            )
            .await;
            tasks += 1;
            requests += 1;
        }
        while messages < (hour + 1) * 100 / hours {
            request(
                &app,
                &meter,
                Group::Chat,
                "POST",
                &format!("/v1/orgs/{org_id}/conversations/{conversation}/messages"),
                Some(&token),
                Some(json!({"content": format!("What should we focus on this week? ({messages})")})),
            )
            .await;
            messages += 1;
            requests += 1;
        }
        invoke(&meter, Job::Agent.function(), (agent.run)(&app)).await.unwrap();
        drain(&app, &meter, Job::Analyze, QueueName::Analysis).await;
        for _ in 0..2 {
            clock.advance(chrono::Duration::minutes(30));
            invoke(&meter, Job::Executor.function(), (executor.run)(&app)).await.unwrap();
            ticks += 1;
            drain(&app, &meter, Job::RunTask, QueueName::Tasks).await;
        }
    }
    // The rest of the 2,000 requests a member: the reads a CRM's screens make.
    let lead = leads[7].clone();
    let reads: [(Group, String, u64); 7] = [
        (Group::Leads, format!("/v1/orgs/{org_id}/leads?limit=50"), 600),
        (Group::Leads, format!("/v1/orgs/{org_id}/leads/{lead}"), 400),
        (Group::Tasks, format!("/v1/orgs/{org_id}/tasks?limit=50"), 200),
        (Group::Orgs, format!("/v1/orgs/{org_id}/usage"), 100),
        (Group::Orgs, "/v1/orgs".to_string(), 100),
        (Group::Auth, "/v1/auth/me".to_string(), 10_000u64.saturating_sub(requests + 1_500)),
        (Group::Tasks, format!("/v1/orgs/{org_id}/insights"), 100),
    ];
    for (group, path, times) in &reads {
        for _ in 0..*times {
            request(&app, &meter, *group, "GET", path, Some(&token), None).await;
        }
        requests += times;
    }

    // An idle tick, measured once, stands for the month's other ticks.
    let before = meter
        .lock()
        .unwrap()
        .functions
        .get(Job::Executor.function())
        .cloned()
        .unwrap_or_default();
    invoke(&meter, Job::Executor.function(), (executor.run)(&app)).await.unwrap();
    let idle = {
        let after = meter.lock().unwrap().functions[Job::Executor.function()].clone();
        FunctionUse {
            invocations: 1,
            compute: after.compute - before.compute,
            store_calls: after.store_calls - before.store_calls,
            ai_calls: 0,
            read_units: after.read_units - before.read_units,
            write_units: after.write_units - before.write_units,
        }
    };
    let measured_for = wall.elapsed();

    print_figures(&meter.lock().unwrap(), requests, ticks + 1, &idle, measured_for);
}

fn print_figures(m: &Meter, requests: u64, ticks_run: u64, idle_tick: &FunctionUse, measured_for: Duration) {
    let share = ASSUMED.tenants_sharing_schedules as f64;
    let minutes = 30.0 * 24.0 * 60.0;
    let idle_ticks = minutes - ticks_run as f64;
    // Global jobs (the minute executor's ticks, the hourly fan-out): this tenant's share.
    let shared = |function: &str| function == Job::Executor.function() || function == Job::Agent.function();
    let (mut lambda_gb_seconds, mut invocations, mut read_units, mut write_units) = (0.0, 0.0, 0.0, 0.0);
    println!("\n### Cost per tenant-month (`bench cost`)\n");
    println!("| function | invocations | store calls | AI calls | read / write units | billed ms each (compute + assumed I/O) |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut rows: Vec<(String, FunctionUse)> = m
        .functions
        .iter()
        .filter(|(f, _)| !f.is_empty())
        .map(|(f, u)| (f.clone(), u.clone()))
        .collect();
    for (function, used) in rows.iter_mut() {
        let mut use_ = used.clone();
        if function == Job::Executor.function() {
            use_.invocations += idle_ticks as u64;
            use_.compute += idle_tick.compute.mul_f64(idle_ticks);
            use_.store_calls += (idle_tick.store_calls as f64 * idle_ticks) as u64;
            use_.read_units += idle_tick.read_units * idle_ticks;
            use_.write_units += idle_tick.write_units * idle_ticks;
        }
        let weight = if shared(function) { 1.0 / share } else { 1.0 };
        read_units += weight * use_.read_units;
        write_units += weight * use_.write_units;
        let io = ASSUMED.store_round_trip.mul_f64(use_.store_calls as f64) + ASSUMED.ai_round_trip.mul_f64(use_.ai_calls as f64);
        let billed_ms = ((use_.compute + io).as_secs_f64() * 1000.0).max(use_.invocations as f64);
        lambda_gb_seconds += weight * billed_ms / 1000.0 * ASSUMED.memory_gb;
        invocations += weight * use_.invocations as f64;
        let each = billed_ms / use_.invocations.max(1) as f64;
        let note = if shared(function) {
            format!(" (1/{} shared)", ASSUMED.tenants_sharing_schedules)
        } else {
            String::new()
        };
        println!(
            "| {function}{note} | {} | {} | {} | {:.0} / {:.0} | {each:.1} |",
            use_.invocations, use_.store_calls, use_.ai_calls, use_.read_units, use_.write_units
        );
        *used = use_;
    }
    let tokens: Vec<(f64, f64)> = ["routine", "strategy"]
        .iter()
        .map(|model| m.tokens.get(model).map(|(i, o)| (*i as f64, *o as f64)).unwrap_or_default())
        .collect();
    let storage_gb = m.stored.values().sum::<u64>() as f64 / 1e9;
    let lines: Vec<(&str, String, f64)> = vec![
        (
            "DynamoDB reads",
            format!("{:.0} read request units", read_units),
            read_units * PRICES.read_request_unit,
        ),
        (
            "DynamoDB writes",
            format!("{write_units:.0} write request units (indexes included)"),
            write_units * PRICES.write_request_unit,
        ),
        (
            "DynamoDB storage",
            format!("{storage_gb:.4} GB (items and their index copies)"),
            storage_gb * PRICES.storage_gb_month,
        ),
        (
            "SQS",
            format!("{} requests", m.sqs_requests),
            m.sqs_requests as f64 * PRICES.sqs_request,
        ),
        (
            "EventBridge",
            format!("{} events", m.events),
            m.events as f64 * PRICES.eventbridge_event,
        ),
        (
            "Lambda requests",
            format!("{invocations:.0} invocations"),
            invocations * PRICES.lambda_request,
        ),
        (
            "Lambda compute",
            format!("{lambda_gb_seconds:.1} GB-s at 128 MB arm64"),
            lambda_gb_seconds * PRICES.lambda_arm64_gb_second,
        ),
        (
            "API Gateway",
            format!("{requests} requests"),
            requests as f64 * PRICES.http_api_request,
        ),
        (
            "CloudWatch Logs",
            format!("{:.1} MB", invocations * ASSUMED.log_bytes_per_invocation as f64 / 1e6),
            invocations * ASSUMED.log_bytes_per_invocation as f64 / 1e9 * PRICES.log_ingestion_gb,
        ),
        (
            "AI, routine model",
            format!("{:.0} in / {:.0} out tokens", tokens[0].0, tokens[0].1),
            tokens[0].0 * PRICES.routine_input_token + tokens[0].1 * PRICES.routine_output_token,
        ),
        (
            "AI, strategy model",
            format!("{:.0} in / {:.0} out tokens", tokens[1].0, tokens[1].1),
            tokens[1].0 * PRICES.strategy_input_token + tokens[1].1 * PRICES.strategy_output_token,
        ),
    ];
    println!("\n| line | quantity | US$ |");
    println!("|---|---:|---:|");
    let total: f64 = lines.iter().map(|l| l.2).sum();
    for (name, quantity, dollars) in &lines {
        println!("| {name} | {quantity} | {dollars:.4} |");
    }
    println!("| **total** | | **{total:.2}** |");
    let mut biggest: Vec<&(&str, String, f64)> = lines.iter().collect();
    biggest.sort_by(|a, b| b.2.total_cmp(&a.2));
    println!(
        "\nbiggest lines: {}; the month simulated in {:.1} s",
        biggest
            .iter()
            .take(3)
            .map(|l| format!("{} ({:.0} %)", l.0, 100.0 * l.2 / total))
            .collect::<Vec<_>>()
            .join(", "),
        measured_for.as_secs_f64()
    );
}
