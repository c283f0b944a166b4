//! The HTTP client that async-stripe's request builders run on, through the library's own
//! extension point (`StripeClient`). async-stripe's bundled client parses every error answer
//! into its full `ApiErrors` type, which embeds a PaymentIntent, SetupIntent, PaymentMethod
//! and Source: their deserializers were 2.5 MiB of api-billing's code, with their drop glue
//! besides (api-billing went from 16.0 to 6.4 MiB with this client and the size-built release
//! profile, api-health from 8.5 to 5.9 MiB with the profile alone). This client sends what
//! that one sends (key, API version, user agent, idempotency key, form body), keeps
//! async-stripe's retry rules (`RequestStrategy::test`, honouring `Stripe-Should-Retry`) and
//! reads an error's message as plain JSON. It runs on the hyper and rustls (ring) stack the
//! AWS clients already link, with the Mozilla roots of webpki-roots compiled in.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use stripe_client_core::{CustomizedStripeRequest, IdempotencyKey, Outcome, RequestStrategy, StripeClient, StripeClientErr, StripeMethod};

/// Why a call to Stripe failed.
#[derive(Debug, Clone, PartialEq)]
pub enum StripeFailure {
    /// Stripe answered with an error status (after any retries its rules allow).
    Api { status: u16, message: String },
    /// No answer: the connection, TLS or the per-attempt timeout.
    Transport(String),
    /// An answer Stripe does not send (not JSON, or without a field that is always there).
    Answer(String),
}

impl std::fmt::Display for StripeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StripeFailure::Api { status, message } => write!(f, "Stripe answered {status}: {message}"),
            StripeFailure::Transport(e) => write!(f, "Stripe could not be reached: {e}"),
            StripeFailure::Answer(e) => write!(f, "Stripe's answer could not be read: {e}"),
        }
    }
}

impl StripeClientErr for StripeFailure {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        StripeFailure::Answer(msg.to_string())
    }
}

/// One secret key's client: the connection pool is shared by its clones.
#[derive(Clone)]
pub struct StripeHttp {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `https://api.stripe.com/` or a stand-in's address, ending in `/`.
    base: String,
    authorization: HeaderValue,
    user_agent: HeaderValue,
    strategy: RequestStrategy,
    /// Per attempt.
    timeout: Duration,
}

const USER_AGENT_VALUE: &str = concat!("Stripe/v1 RustBindings/1.0.0-rc.10 chief/", env!("CARGO_PKG_VERSION"));

impl StripeHttp {
    /// A client for `secret_key`; `base` is Stripe's address (`https://api.stripe.com/`) or a
    /// stand-in's. Plain `http://` is allowed for a stand-in on loopback.
    pub fn new(secret_key: &str, base: &str, strategy: RequestStrategy, timeout: Duration) -> Result<StripeHttp, StripeFailure> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {secret_key}"))
            .map_err(|_| StripeFailure::Transport("the secret key is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| StripeFailure::Transport(format!("TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(StripeHttp {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base: format!("{}/", base.trim_end_matches('/')),
            authorization,
            user_agent: HeaderValue::from_static(USER_AGENT_VALUE),
            strategy,
            timeout,
        })
    }

    fn request(
        &self,
        req: stripe_client_core::RequestBuilder,
        key: Option<&IdempotencyKey>,
    ) -> Result<Request<Full<Bytes>>, StripeFailure> {
        let mut uri = format!("{}v1{}", self.base, req.path);
        if let Some(query) = &req.query {
            uri.push('?');
            uri.push_str(query);
        }
        let method = match req.method {
            StripeMethod::Get => Method::GET,
            StripeMethod::Post => Method::POST,
            StripeMethod::Delete => Method::DELETE,
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(USER_AGENT, self.user_agent.clone())
            .header("stripe-version", stripe_client_core::VERSION.as_str());
        if let Some(key) = key {
            builder = builder.header("idempotency-key", key.as_str());
        }
        if req.body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        builder
            .body(Full::new(req.body.map(Bytes::from).unwrap_or_default()))
            .map_err(|e| StripeFailure::Transport(format!("the request could not be built: {e}")))
    }

    /// One attempt: status, `Stripe-Should-Retry`, body.
    async fn attempt(&self, request: Request<Full<Bytes>>) -> Result<(u16, Option<bool>, Bytes), StripeFailure> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| StripeFailure::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let should_retry = response
            .headers()
            .get("stripe-should-retry")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| StripeFailure::Transport(e.to_string()))?
            .to_bytes();
        Ok((status, should_retry, body))
    }
}

/// The message of Stripe's error answer `{"error": {"message": …}}`, or what can be said
/// without one.
fn error_message(body: &[u8], status: u16) -> String {
    use miniserde::json::Value;
    let parsed: Option<Value> = std::str::from_utf8(body).ok().and_then(|text| miniserde::json::from_str(text).ok());
    let error = match &parsed {
        Some(Value::Object(answer)) => answer.get("error"),
        _ => None,
    };
    match error {
        Some(Value::Object(error)) => match error.get("message") {
            Some(Value::String(message)) => message.clone(),
            _ => format!("status {status}"),
        },
        _ => format!("status {status}"),
    }
}

impl StripeClient for StripeHttp {
    type Err = StripeFailure;

    /// Idempotent across retries: a request that may be retried carries one idempotency key
    /// for all its attempts (the caller's, or one made here), so Stripe applies it once.
    async fn execute(&self, req: CustomizedStripeRequest) -> Result<Bytes, StripeFailure> {
        let (req, config) = req.into_pieces();
        let strategy = config.request_strategy.unwrap_or_else(|| self.strategy.clone());
        let timeout = config.timeout.unwrap_or(self.timeout);
        let key = match (&strategy, strategy.get_key()) {
            (_, Some(key)) => Some(key),
            (RequestStrategy::Retry(_) | RequestStrategy::ExponentialBackoff(_), None) => {
                IdempotencyKey::new(format!("chief-{}", ulid::Ulid::new())).ok()
            }
            _ => None,
        };
        let request = self.request(req, key.as_ref())?;
        let (mut tries, mut last_status, mut last_should_retry) = (0, None, None);
        let mut last_error = StripeFailure::Transport("not sent".into());
        loop {
            match strategy.test(last_status, last_should_retry, tries) {
                Outcome::Stop => return Err(last_error),
                Outcome::Continue(Some(wait)) => tokio::time::sleep(wait).await,
                Outcome::Continue(None) => {}
            }
            tries += 1;
            match tokio::time::timeout(timeout, self.attempt(request.clone())).await {
                Err(_) => last_error = StripeFailure::Transport(format!("no answer within {} ms", timeout.as_millis())),
                Ok(Err(e)) => last_error = e,
                Ok(Ok((status, _, body))) if (200..300).contains(&status) => return Ok(body),
                Ok(Ok((status, should_retry, body))) => {
                    tracing::warn!(status, attempt = tries, "Stripe answered an error");
                    last_error = StripeFailure::Api {
                        status,
                        message: error_message(&body, status),
                    };
                    last_status = Some(status);
                    last_should_retry = should_retry;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An answer of the stand-in's: status, headers, body.
    type Canned = (u16, Vec<(&'static str, &'static str)>, &'static str);
    /// A request the stand-in received: method, path, headers, body.
    type Seen = Arc<Mutex<Vec<(String, String, hyper::HeaderMap, String)>>>;

    /// A stand-in answering each request with the next of `answers`, recording what it was
    /// sent.
    async fn stand_in(answers: Vec<Canned>) -> (String, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (record, answers) = (record.clone(), answers.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (record, answers) = (record.clone(), answers.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
                            record
                                .lock()
                                .unwrap()
                                .push((parts.method.to_string(), parts.uri.to_string(), parts.headers, body));
                            let (status, headers, text) = answers.lock().unwrap().next().expect("an answer left");
                            let mut response = hyper::Response::builder().status(status);
                            for (name, value) in headers {
                                response = response.header(name, value);
                            }
                            Ok::<_, std::convert::Infallible>(response.body(Full::new(Bytes::from(text))).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (base, seen)
    }

    type Answer = miniserde::json::Value;

    fn create_customer() -> stripe_client_core::CustomizableStripeRequest<Answer> {
        use stripe_client_core::StripeRequest;
        stripe_core::customer::CreateCustomer::new()
            .email("owner@example.com")
            .build()
            .customize::<Answer>()
    }

    #[tokio::test]
    async fn sends_the_key_version_agent_idempotency_key_and_form_and_answers_the_body() {
        let (base, seen) = stand_in(vec![(200, vec![], r#"{"id": "cus_1"}"#)]).await;
        let client = StripeHttp::new("sk_test_x", &base, RequestStrategy::Once, Duration::from_secs(5)).unwrap();
        let key = IdempotencyKey::new("chief-customer-1").unwrap();
        let answer = create_customer()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&client)
            .await
            .unwrap();
        assert!(matches!(answer, Answer::Object(o) if matches!(o.get("id"), Some(Answer::String(id)) if id == "cus_1")));
        let seen = seen.lock().unwrap();
        let (method, path, headers, form) = &seen[0];
        assert_eq!((method.as_str(), path.as_str()), ("POST", "/v1/customers"));
        assert_eq!(headers["authorization"], "Bearer sk_test_x");
        assert_eq!(headers["stripe-version"], stripe_client_core::VERSION.as_str());
        assert_eq!(headers["idempotency-key"], "chief-customer-1");
        assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
        assert!(headers["user-agent"].to_str().unwrap().starts_with("Stripe/v1 RustBindings/"));
        assert_eq!(form, "email=owner@example.com", "the form as async-stripe encodes it");
    }

    #[tokio::test]
    async fn server_errors_are_retried_with_one_idempotency_key_and_refusals_are_not() {
        let (base, seen) = stand_in(vec![
            (500, vec![], r#"{"error": {"message": "down"}}"#),
            (200, vec![], r#"{"id": "cus_1"}"#),
        ])
        .await;
        let client = StripeHttp::new("sk_test_x", &base, RequestStrategy::ExponentialBackoff(3), Duration::from_secs(5)).unwrap();
        create_customer().send(&client).await.unwrap();
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 2);
            assert_eq!(seen[0].2["idempotency-key"], seen[1].2["idempotency-key"]);
        }

        let (base, seen) = stand_in(vec![(
            400,
            vec![],
            r#"{"error": {"type": "invalid_request_error", "message": "No such price"}}"#,
        )])
        .await;
        let client = StripeHttp::new("sk_test_x", &base, RequestStrategy::ExponentialBackoff(3), Duration::from_secs(5)).unwrap();
        let failure = create_customer().send(&client).await.unwrap_err();
        assert_eq!(
            failure,
            StripeFailure::Api {
                status: 400,
                message: "No such price".into()
            }
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn stripe_should_retry_false_stops_retries_and_an_unreadable_error_keeps_its_status() {
        let (base, seen) = stand_in(vec![(503, vec![("stripe-should-retry", "false")], "<html>busy</html>")]).await;
        let client = StripeHttp::new("sk_test_x", &base, RequestStrategy::ExponentialBackoff(3), Duration::from_secs(5)).unwrap();
        let failure = create_customer().send(&client).await.unwrap_err();
        assert_eq!(
            failure,
            StripeFailure::Api {
                status: 503,
                message: "status 503".into()
            }
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn no_answer_is_a_transport_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let client = StripeHttp::new("sk_test_x", &base, RequestStrategy::Once, Duration::from_secs(5)).unwrap();
        assert!(matches!(create_customer().send(&client).await, Err(StripeFailure::Transport(_))));
    }
}
