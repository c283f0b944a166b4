//! A stand-in for the part of Stripe's API that Chief calls (customers, Checkout Sessions and
//! their expiry, portal sessions, cancelling a subscription): it records what it is sent,
//! checks the key, keeps Stripe's idempotency (one key, one object) and answers with Stripe's
//! published example objects, edited. It can be made to answer as Stripe does when it is down.

use crate::stand_in::{Reply, Seen, serve};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const SECRET_KEY: &str = "sk_test_chief_fixture";
/// A price this fixture answers as Stripe does a price that does not exist.
pub const REJECTED_PRICE: &str = "price_rejected";

/// One request as the fixture received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Stripe's published example objects (see tests/fixtures/stripe/README.md).
pub fn stripe_object(kind: &str) -> Value {
    let text = std::fs::read_to_string(crate::workspace_root().join("tests/fixtures/stripe/objects.json")).expect("Stripe fixtures");
    let all: Value = serde_json::from_str(&text).expect("Stripe fixtures are JSON");
    all[kind].clone()
}

/// A Stripe event of `event_type` around Stripe's example object of `kind`, edited.
pub fn event(id: &str, event_type: &str, created: i64, kind: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut object = stripe_object(kind);
    edit(&mut object);
    let mut event = stripe_object("event");
    event["id"] = id.into();
    event["type"] = event_type.into();
    event["created"] = created.into();
    event["data"] = json!({"object": object});
    event.to_string()
}

/// A subscription event: the example subscription with its customer, status and price.
pub fn subscription_event(id: &str, event_type: &str, created: i64, customer: &str, status: &str, price: &str) -> String {
    event(id, event_type, created, "subscription", |s| {
        s["id"] = "sub_chief1".into();
        s["customer"] = customer.into();
        s["status"] = status.into();
        s["cancel_at_period_end"] = false.into();
        s["items"]["data"][0]["price"]["id"] = price.into();
        s["items"]["data"][0]["current_period_end"] = 1_800_000_000.into();
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    customers_by_key: HashMap<String, String>,
    /// Checkout Sessions by id, with their status (`open`, `expired`).
    sessions: HashMap<String, String>,
    counter: u64,
    down: bool,
}

pub struct StripeFixture {
    pub base: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StripeFixture {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(status: u16, kind: &str, message: &str, param: Option<&str>) -> (u16, Value) {
    (status, json!({"error": {"type": kind, "message": message, "param": param}}))
}

fn answer(state: &mut State, request: &Recorded) -> (u16, Value) {
    if request.headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {SECRET_KEY}")) {
        return error(401, "invalid_request_error", "Invalid API Key provided", None);
    }
    if state.down {
        return error(500, "api_error", "Stripe is down (fixture)", None);
    }
    state.counter += 1;
    let n = state.counter;
    let metadata: serde_json::Map<String, Value> = request
        .form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_string(), Value::from(v.as_str()))))
        .collect();
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/v1/customers") => {
            let key = request
                .headers
                .get("idempotency-key")
                .cloned()
                .unwrap_or_else(|| format!("none-{n}"));
            let id = state
                .customers_by_key
                .entry(key)
                .or_insert_with(|| format!("cus_fixture{n}"))
                .clone();
            let mut customer = stripe_object("customer");
            customer["id"] = id.into();
            customer["email"] = request.field("email").into();
            customer["name"] = request.field("name").into();
            customer["metadata"] = Value::Object(metadata);
            (200, customer)
        }
        ("POST", "/v1/checkout/sessions") => {
            if request.field("line_items[0][price]") == Some(REJECTED_PRICE) {
                return error(
                    400,
                    "invalid_request_error",
                    "No such price: 'price_rejected'",
                    Some("line_items[0][price]"),
                );
            }
            let mut session = stripe_object("checkout.session");
            session["id"] = format!("cs_test_fixture{n}").into();
            session["url"] = format!("https://checkout.stripe.com/c/pay/cs_test_fixture{n}").into();
            session["customer"] = request.field("customer").into();
            session["mode"] = "subscription".into();
            session["status"] = "open".into();
            session["metadata"] = Value::Object(metadata);
            session["success_url"] = request.field("success_url").into();
            session["cancel_url"] = request.field("cancel_url").into();
            session["expires_at"] = (chrono::Utc::now().timestamp() + 24 * 3600).into();
            state.sessions.insert(format!("cs_test_fixture{n}"), "open".into());
            (200, session)
        }
        ("POST", path) if path.starts_with("/v1/checkout/sessions/") && path.ends_with("/expire") => {
            let id = path
                .trim_start_matches("/v1/checkout/sessions/")
                .trim_end_matches("/expire")
                .to_string();
            match state.sessions.get(&id).map(String::as_str) {
                None => error(
                    404,
                    "invalid_request_error",
                    &format!("No such checkout.session: '{id}'"),
                    Some("session"),
                ),
                Some("open") => {
                    state.sessions.insert(id.clone(), "expired".into());
                    let mut session = stripe_object("checkout.session");
                    session["id"] = id.into();
                    session["status"] = "expired".into();
                    session["url"] = Value::Null;
                    (200, session)
                }
                Some(_) => error(
                    400,
                    "invalid_request_error",
                    "Only Checkout Sessions with a status of open can be expired.",
                    None,
                ),
            }
        }
        ("DELETE", path) if path.starts_with("/v1/subscriptions/") => {
            let id = path.trim_start_matches("/v1/subscriptions/");
            let mut subscription = stripe_object("subscription");
            subscription["id"] = id.into();
            subscription["status"] = "canceled".into();
            subscription["canceled_at"] = chrono::Utc::now().timestamp().into();
            (200, subscription)
        }
        ("POST", "/v1/billing_portal/sessions") => {
            let mut session = stripe_object("billing_portal.session");
            session["id"] = format!("bps_fixture{n}").into();
            session["url"] = format!("https://billing.stripe.com/p/session/test_fixture{n}").into();
            session["customer"] = request.field("customer").into();
            session["return_url"] = request.field("return_url").into();
            session["flow"] = Value::Null;
            (200, session)
        }
        _ => error(404, "invalid_request_error", "Unrecognized request URL", None),
    }
}

/// Records the request, then answers it.
fn record_and_answer(state: &mut State, seen: &Seen) -> Reply {
    let recorded = Recorded {
        method: seen.method.clone(),
        path: seen.uri.path().to_string(),
        headers: seen
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        form: parse_form(std::str::from_utf8(&seen.body).unwrap_or_default()),
    };
    state.requests.push(recorded.clone());
    let (status, value) = answer(state, &recorded);
    Reply::json(status, value)
}

impl StripeFixture {
    pub async fn start() -> StripeFixture {
        let state = Arc::new(Mutex::new(State::default()));
        let (base, server) = serve(state.clone(), record_and_answer).await;
        StripeFixture { base, state, server }
    }

    /// The Stripe customer the newest checkout for `org` was made for.
    pub fn checkout_customer(&self, org: &str) -> String {
        self.requests()
            .iter()
            .rev()
            .find(|r| r.path == "/v1/checkout/sessions" && r.field("metadata[org_id]") == Some(org))
            .and_then(|r| r.field("customer").map(str::to_string))
            .expect("a checkout for the org")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Answers every request with a 500 while `down`, as Stripe does in an outage.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// The status of a Checkout Session this fixture made.
    pub fn session_status(&self, id: &str) -> Option<String> {
        self.state.lock().unwrap().sessions.get(id).cloned()
    }
}
