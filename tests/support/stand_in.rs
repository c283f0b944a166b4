//! What every platform stand-in shares: an HTTP/1 server on a loopback port that hands each
//! request, read whole, to the stand-in's answer under its state's lock. An answer may be
//! `Drop`: the connection closes with no response, as when a platform accepts a post and
//! the connection breaks before its answer arrives.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// One request as a stand-in sees it.
pub struct Seen {
    pub method: String,
    pub uri: hyper::Uri,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn query(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect()
    }

    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization").and_then(|v| v.strip_prefix("Bearer "))
    }
}

pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub enum Reply {
    Json {
        status: u16,
        headers: Vec<(String, String)>,
        body: Value,
    },
    /// Close the connection without answering.
    Drop,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Json {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Json { status, mut headers, body } => {
                headers.push((name.to_string(), value.to_string()));
                Reply::Json { status, headers, body }
            }
            Reply::Drop => Reply::Drop,
        }
    }

    /// A redirect to `location` (a consent page granting at once).
    pub fn found(location: String) -> Reply {
        Reply::json(302, Value::Null).with_header("location", &location)
    }
}

/// Serves `answer` on a fresh loopback port: its address and the server's task.
pub async fn serve<S: Send + 'static>(state: Arc<Mutex<S>>, answer: fn(&mut S, &Seen) -> Reply) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            uri: parts.uri,
                            headers: parts.headers,
                            body: body.to_vec(),
                        };
                        let reply = answer(&mut state.lock().unwrap(), &seen);
                        match reply {
                            Reply::Drop => Err(std::io::Error::other("the stand-in drops the connection")),
                            Reply::Json { status, headers, body } => {
                                let mut response = hyper::Response::builder().status(status).header("content-type", "application/json");
                                for (name, value) in headers {
                                    response = response.header(name, value);
                                }
                                let text = if body.is_null() { String::new() } else { body.to_string() };
                                Ok(response.body(Full::new(Bytes::from(text))).unwrap())
                            }
                        }
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (base, server)
}
