//! Helpers for the black-box tests: build and start the real binaries, talk HTTP to them.

pub mod faults;
pub mod google_keys;
pub mod linkedin_platform;
pub mod meta_platform;
pub mod stand_in;
pub mod stripe;
pub mod x_platform;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Builds (a no-op after `scripts/test`'s build) and answers the path of a workspace binary;
/// once per test process for each binary. The whole workspace is built, as `scripts/test`
/// does: one package alone resolves fewer features of the shared crates and would build them
/// again.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !built.iter().any(|b| b == name) {
        build(name);
        built.push(name.to_string());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug").join(name)
}

fn build(name: &str) {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--workspace", "--bins"])
        .current_dir(workspace_root())
        .status()
        .expect("cargo build");
    assert!(status.success(), "cargo build --workspace --bins failed (for {name})");
}

/// What a cloud function needs in its environment to start against a stub Runtime API at
/// `runtime_api`: Lambda's variables and the settings of every port a function may wire.
/// Nothing is called before a request, so the names need not exist anywhere.
pub fn cloud_function_env(runtime_api: &str, function: &str) -> Vec<(&'static str, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("CHIEF_TABLE_NAME", "chief-test"),
        ("CHIEF_JWT_SECRET_ID", "chief-test-jwt"),
        ("CHIEF_APP_URL", "https://app.chief.example"),
        ("CHIEF_EVENT_BUS_NAME", "chief-test"),
        (
            "CHIEF_TASK_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/chief-test-tasks",
        ),
        (
            "CHIEF_ANALYSIS_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/chief-test-analysis",
        ),
        (
            "CHIEF_PUBLISH_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/chief-test-publish",
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_string()))
    .collect()
}

/// A table made from `template.yaml` and a signing-key secret, on the AWS (moto) that `aws`
/// points at, named after `prefix` and this process: (table name, secret id).
pub async fn table_and_signing_key(aws: &aws_config::SdkConfig, prefix: &str) -> (String, String) {
    let table = format!("{prefix}-{}", std::process::id());
    chief_adapters::test_support::create_table_from_template(
        &aws_sdk_dynamodb::Client::new(aws),
        &table,
        include_str!("../../template.yaml"),
    )
    .await
    .expect("the table");
    let secret = format!("{prefix}-jwt-{}", std::process::id());
    aws_sdk_secretsmanager::Client::new(aws)
        .create_secret()
        .name(&secret)
        .secret_string(format!("a signing key for {prefix}"))
        .send()
        .await
        .expect("the signing key");
    (table, secret)
}

/// `local` on a free port with its own data folder; stopped when dropped.
pub struct Local {
    pub base: String,
    pub data: tempfile::TempDir,
    child: Child,
    http: reqwest::Client,
}

impl Local {
    pub fn start() -> Local {
        Self::start_with(&[])
    }

    /// `local` with extra environment (Stripe settings, say).
    pub fn start_with(env: &[(&str, &str)]) -> Local {
        Self::start_binary(&binary("local"), env)
    }

    /// A given build of `local` (the bench's release one) with extra environment.
    pub fn start_binary(path: &Path, env: &[(&str, &str)]) -> Local {
        Self::start_in(path, tempfile::tempdir().expect("temp dir"), env)
    }

    /// `local` on the data folder of an earlier one (after `kill_9`).
    pub fn start_in(path: &Path, data: tempfile::TempDir, env: &[(&str, &str)]) -> Local {
        Self::spawn(path, data, env, Stdio::inherit())
    }

    /// `local` writing every log line, down to debug, to `local.log` in its data folder
    /// (`log`), for tests that look through what it logs.
    pub fn start_logged(env: &[(&str, &str)]) -> Local {
        let data = tempfile::tempdir().expect("temp dir");
        let file = std::fs::File::create(data.path().join("local.log")).expect("log file");
        let mut env = env.to_vec();
        env.push(("RUST_LOG", "debug"));
        Self::spawn(&binary("local"), data, &env, Stdio::from(file))
    }

    /// What `start_logged` wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("local.log")).unwrap_or_default()
    }

    fn spawn(path: &Path, data: tempfile::TempDir, env: &[(&str, &str)], stderr: Stdio) -> Local {
        let mut child = Command::new(path)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .env("PORT", "0")
            .env("CHIEF_DATA_DIR", data.path())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start local");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the address");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        Local {
            base,
            data,
            child,
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method_path} answered non-JSON: {text}", method_path = path));
        (status, value)
    }

    /// A Stripe delivery: the raw body and its `Stripe-Signature` header, if any.
    pub async fn webhook(&self, body: &str, signature: Option<&str>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}/v1/stripe/webhook", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(s) = signature {
            req = req.header("stripe-signature", s);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("webhook answered non-JSON: {text}")),
        )
    }

    /// A GET whose answer is not JSON (an export): its status, content type and text.
    pub async fn get_text(&self, path: &str, token: &str) -> (StatusCode, String, String) {
        let res = self
            .http
            .get(format!("{}{}", self.base, path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = res.status();
        let kind = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, kind, res.text().await.expect("body"))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(&body.to_string())).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(&body.to_string())).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Signs up a user and verifies their address with the mailed link, as a person would:
    /// (token, user id).
    pub async fn signup(&self, email: &str) -> (String, String) {
        let (token, id) = self.signup_unverified(email).await;
        let verification = self.mailed_token(email, "Or verify it through the API with this token:");
        let (status, body) = self.post("/v1/auth/verify-email", None, json!({"token": verification})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (token, id)
    }

    /// Signs up a user and leaves the address unverified: (token, user id).
    pub async fn signup_unverified(&self, email: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": "a long password", "name": email}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["data"]["token"].as_str().unwrap().to_string(),
            body["data"]["user"]["id"].as_str().unwrap().to_string(),
        )
    }

    /// A fresh token for a user signed up by `signup` (a moved clock expires the first).
    pub async fn login(&self, email: &str) -> String {
        let (status, body) = self
            .post("/v1/auth/login", None, json!({"email": email, "password": "a long password"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["token"].as_str().unwrap().to_string()
    }

    pub async fn create_org(&self, token: &str, name: &str) -> String {
        let (status, body) = self.post("/v1/orgs", Some(token), json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["id"].as_str().unwrap().to_string()
    }

    /// The invitation token from the newest mail in the outbox sent to `to`.
    /// Invites `email` to `org` with `role` (as `owner`), signs them up and accepts: their token.
    pub async fn join(&self, owner: &str, org: &str, email: &str, role: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/v1/orgs/{org}/members"),
                Some(owner),
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (token, _) = self.signup(email).await;
        let invitation = self.invitation_token(email);
        let (status, body) = self
            .post(&format!("/v1/invitations/{invitation}/accept"), Some(&token), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token
    }

    pub fn invitation_token(&self, to: &str) -> String {
        self.mailed_token(to, "Or accept it through the API with this token:")
    }

    /// The token on the line after `marker` in the newest mail to `to` that has one.
    pub fn mailed_token(&self, to: &str, marker: &str) -> String {
        let outbox = self.data.path().join("outbox");
        let mut mails: Vec<_> = std::fs::read_dir(&outbox).expect("outbox").map(|e| e.unwrap().path()).collect();
        mails.sort();
        for mail in mails.iter().rev() {
            let text = std::fs::read_to_string(mail).unwrap();
            // Addresses are kept in lower case.
            if text.contains(&format!("To: {}", to.to_lowercase())) && text.contains(marker) {
                // The token has a line of its own, which mail encodings leave whole.
                let mut lines = text.lines().skip_while(|l| !l.starts_with(marker));
                return lines.nth(1).expect("token line").trim().to_string();
            }
        }
        panic!("no mail to {to} in {}", outbox.display());
    }
}

impl Local {
    /// Ends the process as `kill -9` does, with no chance to finish anything, and hands back
    /// its data folder for a restart.
    pub fn kill_9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.data, tempfile::tempdir().expect("temp dir"))
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A call that must succeed, answering its `data`.
pub async fn ok(s: &Local, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, answer) = s.call(method, path, Some(token), body.map(|b| b.to_string()).as_deref()).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    data(&answer).clone()
}

/// The `data` of a successful envelope (asserting `success`).
pub fn data(body: &Value) -> &Value {
    assert_eq!(body["success"], true, "{body}");
    &body["data"]
}

/// Asserts the error envelope and answers its code.
pub fn error_code(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body["error"]["code"].as_str().expect("error code").to_string()
}

/// A call that must fail with `expected`, answering its error code.
pub async fn refused(s: &Local, method: Method, path: &str, token: Option<&str>, body: Option<Value>, expected: StatusCode) -> String {
    let (status, answer) = s.call(method, path, token, body.map(|b| b.to_string()).as_deref()).await;
    error_code(status, &answer, expected)
}

/// GETs `path` until `done` holds of its data (work that local's queues drain in process),
/// answering the data.
pub async fn until(s: &Local, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = ok(s, Method::GET, path, token, None).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} never came to pass: {last}");
}

impl Local {
    /// The mails in local's outbox whose text holds `needle`.
    pub fn mails_with(&self, needle: &str) -> Vec<String> {
        let outbox = self.data.path().join("outbox");
        let Ok(entries) = std::fs::read_dir(&outbox) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .filter(|text| text.contains(needle))
            .collect()
    }
}
