//! In-memory ports and an [`App`] on them with a settable clock: the domain's unit tests run
//! on these, and so do the tests of the crates above it (with the `test-support` feature).
//! The table and the queue honour the same contracts as the real adapters: `chief-adapters`
//! runs its Table and JobQueue suites against them too, so a domain test cannot pass on
//! behaviour the stores would not give.

use crate::app::{App, Settings};
use crate::clock::{Clock, ManualClock};
use crate::ports::ai::{Ai, AiError, Completion, OFFLINE_PROVIDER, Prompt, estimate_tokens};
use crate::ports::cursor;
use crate::ports::events::{DomainEvent, EventBus, EventBusError};
use crate::ports::mailer::{Email, MailError, Mailer};
use crate::ports::payments::{CheckoutRequest, HostedSession, NewCustomer, Payments, PaymentsError};
use crate::ports::queue::{JobQueue, MAX_BATCH, Message, QueueError, QueueName};
use crate::ports::secrets::{SecretName, Secrets, SecretsError};
use crate::ports::table::*;
use async_trait::async_trait;
use chrono::TimeZone;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// The Table port in a map: each call holds the lock for its whole read-check-write, so a
/// transaction is all or nothing and conditions see what they guard.
pub struct MemoryTable {
    items: Mutex<BTreeMap<Key, Item>>,
    clock: Arc<dyn Clock>,
}

impl MemoryTable {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryTable {
            items: Mutex::new(BTreeMap::new()),
            clock,
        }
    }

    fn locked<T>(&self, work: impl FnOnce(&mut BTreeMap<Key, Item>, i64) -> TableResult<T>) -> TableResult<T> {
        let now = self.clock.now().timestamp();
        let mut items = self.items.lock().map_err(|_| TableError::Unavailable("lock poisoned".into()))?;
        work(&mut items, now)
    }
}

fn live<'a>(items: &'a BTreeMap<Key, Item>, key: &Key, now: i64) -> Option<&'a Item> {
    items.get(key).filter(|item| !is_expired(item, now))
}

fn holds(current: Option<&Item>, condition: Option<&Condition>) -> bool {
    match condition {
        None => true,
        Some(Condition::NotExists) => current.is_none(),
        Some(Condition::Exists) => current.is_some(),
        Some(Condition::VersionEquals(v)) => current.is_some_and(|item| item_version(item) == *v),
    }
}

/// What one write would leave under its key (`Some(None)`: nothing), or `None` when its
/// condition fails.
fn outcome(items: &BTreeMap<Key, Item>, op: &TxOp, now: i64) -> TableResult<Option<(Key, Option<Item>)>> {
    Ok(match op {
        TxOp::Put { item, condition } => {
            let key = item_key(item)?;
            holds(live(items, &key, now), condition.as_ref()).then(|| (key, Some(item.clone())))
        }
        TxOp::Delete { key, condition } => holds(live(items, key, now), condition.as_ref()).then(|| (key.clone(), None)),
        TxOp::Add { key, counter } => {
            counted(live(items, key, now), key, std::slice::from_ref(counter))?.map(|(item, _)| (key.clone(), Some(item)))
        }
        TxOp::AddAll { key, counters } => counted(live(items, key, now), key, counters)?.map(|(item, _)| (key.clone(), Some(item))),
        TxOp::Check { key, condition } => {
            holds(live(items, key, now), Some(condition)).then(|| (key.clone(), live(items, key, now).cloned()))
        }
    })
}

fn settle(items: &mut BTreeMap<Key, Item>, key: Key, after: Option<Item>) {
    match after {
        Some(item) => items.insert(key, item),
        None => items.remove(&key),
    };
}

fn string_of(item: &Item, attr: &str) -> Option<String> {
    item.get(attr).and_then(Value::as_str).map(str::to_string)
}

#[async_trait]
impl Table for MemoryTable {
    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        self.locked(|items, now| Ok(live(items, key, now).cloned()))
    }

    async fn get_many(&self, keys: &[Key]) -> TableResult<Vec<Option<Item>>> {
        if keys.len() > MAX_BATCH_GET {
            return Err(TableError::Invalid(format!("at most {MAX_BATCH_GET} keys a batch")));
        }
        self.locked(|items, now| Ok(keys.iter().map(|key| live(items, key, now).cloned()).collect()))
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> TableResult<()> {
        self.transact_one(TxOp::Put { item, condition })
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> TableResult<()> {
        self.transact_one(TxOp::Delete {
            key: key.clone(),
            condition,
        })
    }

    async fn add(&self, key: &Key, counter: Counter) -> TableResult<i64> {
        self.locked(|items, now| {
            let (item, next) =
                counted(live(items, key, now), key, std::slice::from_ref(&counter))?.ok_or(TableError::ConditionFailed { op: None })?;
            items.insert(key.clone(), item);
            Ok(next)
        })
    }

    async fn query(&self, query: Query) -> TableResult<Page> {
        self.locked(|items, now| {
            let (partition, sort) = match query.index {
                Some(index) => index.attributes(),
                None => (PK, SK),
            };
            // Ordered by the sort key, then (in an index, where sort keys repeat) the item's key.
            let mut selected: Vec<(String, &Key, &Item)> = items
                .iter()
                .filter(|(_, item)| !is_expired(item, now) && string_of(item, partition).as_deref() == Some(query.pk.as_str()))
                .filter_map(|(key, item)| string_of(item, sort).map(|s| (s, key, item)))
                .filter(|(s, _, _)| match &query.sk {
                    SortKey::All => true,
                    SortKey::Equals(v) => s == v,
                    SortKey::BeginsWith(prefix) => s.starts_with(prefix.as_str()),
                    SortKey::Between(from, to) => from <= s && s <= to,
                })
                .collect();
            selected.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            if !query.ascending {
                selected.reverse();
            }
            if let Some(c) = &query.cursor {
                let last = cursor::decode_for(c, &query)?;
                let after = (
                    cursor::string_attr(&last, sort)?.to_string(),
                    Key::new(cursor::string_attr(&last, PK)?, cursor::string_attr(&last, SK)?),
                );
                selected.retain(|(s, key, _)| {
                    let here = (s.clone(), (*key).clone());
                    if query.ascending { here > after } else { here < after }
                });
            }
            let more = selected.len() > query.limit;
            let items: Vec<Item> = selected.into_iter().take(query.limit).map(|(_, _, item)| item.clone()).collect();
            let cursor = more.then(|| items.last().map(|last| cursor::encode(last, query.index))).flatten();
            Ok(Page { items, cursor })
        })
    }

    async fn transact(&self, ops: Vec<TxOp>) -> TableResult<()> {
        validate_transaction(&ops)?;
        self.locked(|items, now| {
            let mut writes = Vec::with_capacity(ops.len());
            for (i, op) in ops.iter().enumerate() {
                let write = outcome(items, op, now)?.ok_or(TableError::ConditionFailed { op: Some(i) })?;
                if !matches!(op, TxOp::Check { .. }) {
                    writes.push(write);
                }
            }
            for (key, after) in writes {
                settle(items, key, after);
            }
            Ok(())
        })
    }
}

impl MemoryTable {
    fn transact_one(&self, op: TxOp) -> TableResult<()> {
        self.locked(|items, now| {
            let (key, after) = outcome(items, &op, now)?.ok_or(TableError::ConditionFailed { op: None })?;
            settle(items, key, after);
            Ok(())
        })
    }
}

struct Queued {
    message: Message,
    visible_at: i64,
    dead: bool,
}

/// The JobQueue port in memory, with SQS's visibility timeout and redrive to dead letters.
pub struct MemoryQueue {
    queues: Mutex<HashMap<QueueName, Vec<Queued>>>,
    clock: Arc<dyn Clock>,
    visibility: chrono::Duration,
    max_receives: u32,
}

impl MemoryQueue {
    pub fn new(clock: Arc<dyn Clock>, visibility: std::time::Duration, max_receives: u32) -> Self {
        MemoryQueue {
            queues: Mutex::new(HashMap::new()),
            clock,
            visibility: chrono::Duration::from_std(visibility).unwrap_or(chrono::Duration::MAX),
            max_receives: max_receives.max(1),
        }
    }

    fn locked<T>(&self, queue: QueueName, work: impl FnOnce(&mut Vec<Queued>, i64) -> T) -> Result<T, QueueError> {
        let now = self.clock.now().timestamp_millis();
        let mut queues = self.queues.lock().map_err(|_| QueueError::Unavailable("lock poisoned".into()))?;
        Ok(work(queues.entry(queue).or_default(), now))
    }

    fn settle(&self, queue: QueueName, receipt: &str, acknowledge: bool) -> Result<(), QueueError> {
        self.locked(queue, |messages, now| {
            if acknowledge {
                messages.retain(|q| q.message.receipt != receipt);
            } else if let Some(q) = messages.iter_mut().find(|q| q.message.receipt == receipt && !q.dead) {
                q.visible_at = now;
            }
        })
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn send(&self, queue: QueueName, bodies: &[String]) -> Result<usize, QueueError> {
        self.locked(queue, |messages, now| {
            messages.extend(bodies.iter().map(|body| Queued {
                message: Message {
                    id: ulid::Ulid::new().to_string(),
                    receipt: String::new(),
                    body: body.clone(),
                    receive_count: 0,
                },
                visible_at: now,
                dead: false,
            }));
            bodies.len().div_ceil(MAX_BATCH)
        })
    }

    async fn receive(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        let (hide, max_receives) = (self.visibility.num_milliseconds(), self.max_receives);
        self.locked(queue, |messages, now| {
            let mut received = Vec::new();
            for q in messages.iter_mut().filter(|q| !q.dead && q.visible_at <= now) {
                if received.len() == max.clamp(1, MAX_BATCH) {
                    break;
                }
                if q.message.receive_count >= max_receives {
                    // Received as often as allowed and still not done: a dead letter.
                    q.dead = true;
                    continue;
                }
                q.message.receive_count += 1;
                q.message.receipt = ulid::Ulid::new().to_string();
                q.visible_at = now.saturating_add(hide);
                received.push(q.message.clone());
            }
            received
        })
    }

    async fn ack(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.settle(queue, receipt, true)
    }

    async fn release(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.settle(queue, receipt, false)
    }

    async fn dead_letters(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        self.locked(queue, |messages, _| {
            messages.iter().filter(|q| q.dead).take(max).map(|q| q.message.clone()).collect()
        })
    }
}

/// Keeps what it is handed, for tests to read: mail sent, events published, posts made.
#[derive(Default)]
pub struct Recorder {
    pub emails: Mutex<Vec<Email>>,
    pub events: Mutex<Vec<DomainEvent>>,
    completions: std::sync::atomic::AtomicUsize,
    /// Answers the AI gives next, in order, before it goes back to writing its own.
    scripted: Mutex<std::collections::VecDeque<String>>,
    /// While set, every mail fails (the mail server is down).
    pub mail_down: std::sync::atomic::AtomicBool,
    /// The key set Google's stand-in publishes (none: it cannot be reached), and how many
    /// times it was fetched.
    pub google_key_set: Mutex<Option<crate::ports::keys::Fetched>>,
    pub google_fetches: std::sync::atomic::AtomicUsize,
}

impl Recorder {
    /// How many completions the AI answered.
    pub fn ai_calls(&self) -> usize {
        self.completions.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The events published for an org, in the order published.
    pub fn events_of(&self, org_id: &str) -> Vec<DomainEvent> {
        self.events
            .lock()
            .map(|events| events.iter().filter(|e| e.org_id == org_id).cloned().collect())
            .unwrap_or_default()
    }

    /// Makes the AI answer these texts next, in order (a malformed answer, say).
    pub fn script_ai(&self, answers: &[&str]) {
        if let Ok(mut scripted) = self.scripted.lock() {
            scripted.extend(answers.iter().map(|a| a.to_string()));
        }
    }
}

/// The posts the sandbox platform holds for an org, oldest key first.
pub async fn sandbox_posts(app: &App, org_id: &str) -> Vec<crate::content::sandbox::SandboxPost> {
    let query = Query::partition(format!("ORG#{org_id}")).prefix(crate::keys::SANDBOX_POST_PREFIX);
    query_all(&*app.table, query)
        .await
        .expect("the table answers")
        .into_iter()
        .map(|item| crate::model::from_item(item).expect("a sandbox post"))
        .collect()
}

#[async_trait]
impl Mailer for Recorder {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        if self.mail_down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(MailError::Failed("the test's mail server is down".into()));
        }
        self.emails
            .lock()
            .map_err(|_| MailError::Failed("lock poisoned".into()))?
            .push(email);
        Ok(())
    }
}

#[async_trait]
impl EventBus for Recorder {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), EventBusError> {
        self.events
            .lock()
            .map_err(|_| EventBusError::Unavailable("lock poisoned".into()))?
            .extend_from_slice(events);
        Ok(())
    }
}

/// Answers every prompt with an excerpt of it, marked as the offline provider's.
#[async_trait]
impl Ai for Recorder {
    async fn complete(&self, prompt: Prompt) -> Result<Completion, AiError> {
        self.completions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let ask = prompt.messages.last().map(|(_, m)| m.as_str()).unwrap_or_default();
        let scripted = self.scripted.lock().ok().and_then(|mut s| s.pop_front());
        let text = match (scripted, &prompt.output) {
            (Some(text), _) => text,
            (None, Some(output)) => output.offline_answer(ask, "test AI").to_string(),
            (None, None) => format!("[test AI] {}", ask.chars().take(200).collect::<String>()),
        };
        Ok(Completion {
            prompt_tokens: estimate_tokens(&prompt.system) as u32 + estimate_tokens(ask) as u32,
            completion_tokens: estimate_tokens(&text) as u32,
            text,
            provider: OFFLINE_PROVIDER.into(),
            model: "test".into(),
        })
    }
}

fn no_payments() -> PaymentsError {
    PaymentsError::NotConfigured("no payments in tests".into())
}

/// Payments with no provider configured: billing answers 503, as it does without a key.
#[async_trait]
impl Payments for Recorder {
    async fn ready(&self) -> Result<(), PaymentsError> {
        Err(no_payments())
    }
    async fn create_customer(&self, _: NewCustomer<'_>) -> Result<String, PaymentsError> {
        Err(no_payments())
    }
    async fn checkout(&self, _: CheckoutRequest<'_>) -> Result<HostedSession, PaymentsError> {
        Err(no_payments())
    }
    async fn portal(&self, _: &str, _: &str) -> Result<HostedSession, PaymentsError> {
        Err(no_payments())
    }
    async fn expire_checkout(&self, _: &str) -> Result<(), PaymentsError> {
        Err(no_payments())
    }
    async fn cancel_subscription(&self, _: &str) -> Result<(), PaymentsError> {
        Err(no_payments())
    }
}

/// A signing key and nothing else.
#[async_trait]
impl crate::ports::keys::KeySource for Recorder {
    async fn fetch(&self) -> Result<crate::ports::keys::Fetched, crate::ports::keys::KeysError> {
        self.google_fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let published = self.google_key_set.lock().ok().and_then(|set| set.clone());
        published.ok_or_else(|| crate::ports::keys::KeysError::Unavailable("the test's key server is down".into()))
    }
}

#[async_trait]
impl Secrets for Recorder {
    async fn get(&self, name: SecretName) -> Result<String, SecretsError> {
        match name {
            SecretName::JwtSigningKey => Ok("a-test-signing-key-of-enough-length-for-hs256".into()),
            SecretName::SocialTokenKey => Ok("a-test-key-that-seals-social-tokens-long-enough".into()),
            other => Err(SecretsError::Missing(other.as_str())),
        }
    }
}

pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub recorder: Arc<Recorder>,
}

/// An App on the in-memory ports at 2026-11-22 12:00:30 UTC.
pub fn app() -> TestApp {
    let clock = Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 30).unwrap()));
    let recorder = Arc::new(Recorder::default());
    let table: Arc<dyn Table> = Arc::new(MemoryTable::new(clock.clone()));
    let app = App {
        table: table.clone(),
        queue: Arc::new(MemoryQueue::new(clock.clone(), std::time::Duration::from_secs(300), 5)),
        events: recorder.clone(),
        social: Arc::new(crate::content::sandbox::SandboxSocial::new(table.clone(), clock.clone())),
        ai: recorder.clone(),
        payments: recorder.clone(),
        mailer: recorder.clone(),
        secrets: recorder.clone(),
        google_keys: Arc::new(crate::auth::google::CachedKeys::new(recorder.clone())),
        clock: clock.clone(),
        settings: Settings::default(),
    };
    TestApp { app, clock, recorder }
}

/// Google's side of a sign-in, for tests: an RSA key of the test fixtures that signs ID
/// tokens under a `kid`, and publishes itself as a JSON Web Key.
pub struct GoogleSigner {
    key: jsonwebtoken::EncodingKey,
    kid: String,
}

impl GoogleSigner {
    /// `pem`: a PKCS#1 RSA private key (`tests/fixtures/google/*.pem`).
    pub fn new(pem: &str, kid: &str) -> GoogleSigner {
        use base64::Engine;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).expect("a PEM key");
        GoogleSigner {
            key: jsonwebtoken::EncodingKey::from_rsa_der(&der),
            kid: kid.to_string(),
        }
    }

    pub fn first() -> GoogleSigner {
        Self::new(include_str!("../../../tests/fixtures/google/first.pem"), "first-key")
    }

    pub fn second() -> GoogleSigner {
        Self::new(include_str!("../../../tests/fixtures/google/second.pem"), "second-key")
    }

    /// The public half as Google publishes it: `{kty, n, e, alg, use, kid}`.
    pub fn jwk(&self) -> serde_json::Value {
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&self.key, jsonwebtoken::Algorithm::RS256).expect("an RSA key");
        let mut value = serde_json::to_value(jwk).expect("a JWK");
        value["kid"] = self.kid.clone().into();
        value["use"] = "sig".into();
        value
    }

    /// A key set of these signers' keys.
    pub fn key_set(signers: &[&GoogleSigner]) -> String {
        serde_json::json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()}).to_string()
    }

    /// An ID token with these claims, signed RS256 under this key's `kid`.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("signed")
    }

    /// The claims of a good token for `email` of Google account `sub`, for `client_id`,
    /// issued at `now` for an hour.
    pub fn claims(client_id: &str, sub: &str, email: &str, now: i64) -> serde_json::Value {
        serde_json::json!({
            "iss": "https://accounts.google.com",
            "azp": client_id,
            "aud": client_id,
            "sub": sub,
            "email": email,
            "email_verified": true,
            "name": "Grace Hopper",
            "iat": now,
            "exp": now + 3600,
        })
    }
}
