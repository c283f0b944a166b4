//! A fault-injecting proxy in front of moto (or any HTTP stand-in): each request is forwarded
//! unless a rule says to fail it, in which case it never reaches the upstream and gets the
//! error the real service answers. Rules match AWS's JSON protocol target
//! (`X-Amz-Target: DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessageBatch`,
//! `secretsmanager.GetSecretValue`) and fail every `every`-th matching call, so a run is
//! repeatable. Every call is recorded with the SDK's invocation id and its time, to count retries.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What a failed call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// DynamoDB's `ProvisionedThroughputExceededException` (400).
    ThroughputExceeded,
    /// `ThrottlingException` (400), as DynamoDB and SQS send it.
    Throttling,
    /// `InternalServerError` (500).
    ServerError,
    /// 503 with no body, as a service that is down behind its load balancer answers.
    Down,
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// Targets that start with this (`DynamoDB_20120810.`, `AmazonSQS.Send`).
    pub target_prefix: &'static str,
    /// Only these operations after the prefix's service (`PutItem`); empty for all.
    pub operations: Vec<&'static str>,
    /// Fail the n-th, 2n-th… matching call; 1 fails them all.
    pub every: usize,
    pub fault: Fault,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub target: String,
    /// The SDK's `amz-sdk-invocation-id`: one per operation, the same on each of its retries.
    pub invocation: String,
    pub at: Instant,
    pub failed: Option<Fault>,
}

#[derive(Default)]
struct State {
    rules: Vec<(Rule, usize)>,
    calls: Vec<Call>,
}

/// moto is not safe under concurrent writes to one partition: with no fault at all it lost
/// acknowledged writes in a burst. Calls reach it one at a time, as DynamoDB's per-item
/// atomicity would have them; the callers stay concurrent.
static UPSTREAM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct FaultProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// A proxy on a free loopback port forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let client = reqwest::Client::new();
        let upstream = upstream.trim_end_matches('/').to_string();
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (state, client, upstream) = (shared.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (state, client, upstream) = (state.clone(), client.clone(), upstream.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(&state, &client, &upstream, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            url: format!("http://{address}"),
            state,
        }
    }

    /// From now on, fail the calls the rules match (replacing any earlier rules).
    pub fn fail(&self, rules: Vec<Rule>) {
        self.state.lock().unwrap().rules = rules.into_iter().map(|r| (r, 0)).collect();
    }

    /// Forward everything again.
    pub fn heal(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn forget_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }
}

fn fault_response(fault: Fault) -> hyper::Response<Full<Bytes>> {
    let (status, body) = match fault {
        Fault::ThroughputExceeded => (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#,
        ),
        Fault::Throttling => (400, r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
        Fault::ServerError => (
            500,
            r#"{"__type":"com.amazon.coral.service#InternalServerError","message":"Internal server error"}"#,
        ),
        Fault::Down => (503, ""),
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(
    state: &Mutex<State>,
    client: &reqwest::Client,
    upstream: &str,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let invocation = parts
        .headers
        .get("amz-sdk-invocation-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let failed = {
        let mut state = state.lock().unwrap();
        let mut failed = None;
        for (rule, seen) in state.rules.iter_mut() {
            let Some(operation) = target.strip_prefix(rule.target_prefix) else {
                continue;
            };
            if !rule.operations.is_empty() && !rule.operations.contains(&operation) {
                continue;
            }
            *seen += 1;
            if *seen % rule.every == 0 {
                failed = Some(rule.fault);
                break;
            }
        }
        state.calls.push(Call {
            target: target.clone(),
            invocation,
            at: Instant::now(),
            failed,
        });
        failed
    };
    if let Some(fault) = failed {
        return fault_response(fault);
    }
    let url = format!("{upstream}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut forward = client.request(parts.method.clone(), url).body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let one_at_a_time = UPSTREAM.lock().await;
    let forwarded = forward.send().await;
    let answer = match forwarded {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            answer.bytes().await.map(|bytes| (status, headers, bytes))
        }
        Err(e) => Err(e),
    };
    drop(one_at_a_time);
    match answer {
        Ok((status, headers, bytes)) => {
            let mut response = hyper::Response::builder().status(status.as_u16());
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    response = response.header(name, value);
                }
            }
            response.body(Full::new(bytes)).unwrap()
        }
        // The call may have reached the upstream: a lost answer, which the SDK retries.
        Err(_) => fault_response(Fault::Down),
    }
}
