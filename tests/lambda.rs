//! Drives real function binaries through `cargo lambda watch` and `cargo lambda invoke`
//! with the API Gateway fixtures in `events/`, against DynamoDB and Secrets Manager in moto.

use chief::adapters::dynamo_table::create_table_from_template;
use chief_tests::workspace_root;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn invoke(port: u16, function: &str, event: &str) -> Result<Value, String> {
    let out = Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--data-file",
            event,
            "--output-format",
            "json",
            function,
        ])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cargo lambda invoke: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Invokes until the function answers: the first invoke waits for `watch` to build it.
fn invoke_when_ready(port: u16, function: &str, event: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match invoke(port, function, event) {
            Ok(answer) => return answer,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for {function}: {}", e.lines().last().unwrap_or_default());
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(e) => panic!("{function} never answered: {e}"),
        }
    }
}

#[tokio::test]
#[ignore = "needs moto on AWS_ENDPOINT_URL and cargo-lambda on PATH: scripts/test runs it"]
async fn functions_answer_api_gateway_events_through_cargo_lambda_against_moto() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto: run scripts/test");
    let aws = aws_config::load_from_env().await;
    let table = format!("chief-lambda-{}", std::process::id());
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    create_table_from_template(&dynamo, &table, include_str!("../template.yaml"))
        .await
        .unwrap();
    let secret_id = format!("chief-jwt-{}", std::process::id());
    aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name(&secret_id)
        .secret_string("a signing key for the lambda test")
        .send()
        .await
        .unwrap();

    let port = free_port();
    let watch = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .current_dir(workspace_root())
        .env("CHIEF_TABLE_NAME", &table)
        .env("CHIEF_JWT_SECRET_ID", &secret_id)
        .env("CHIEF_APP_URL", "http://localhost:5173")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cargo lambda watch (pip install cargo-lambda; scripts/test does)");
    let _watch = Watch(watch);

    let health = invoke_when_ready(port, "api-health", "events/api-health.json");
    assert_eq!(health["statusCode"], 200, "{health}");
    let body: Value = serde_json::from_str(health["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["checks"]["table"]["ok"], true, "{body}");

    let signup = invoke_when_ready(port, "api-auth", "events/api-auth.json");
    assert_eq!(signup["statusCode"], 201, "{signup}");
    let body: Value = serde_json::from_str(signup["body"].as_str().unwrap()).unwrap();
    assert!(body["data"]["token"].as_str().is_some_and(|t| t.split('.').count() == 3), "{body}");
    // The user landed in moto's DynamoDB, under its email claim.
    let claim = dynamo
        .get_item()
        .table_name(&table)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S("EMAIL#lambda@chief.dev".into()))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("CLAIM".into()))
        .send()
        .await
        .unwrap();
    assert!(claim.item.is_some());
    // The same event again is refused: the email is taken.
    let again = invoke_when_ready(port, "api-auth", "events/api-auth.json");
    assert_eq!(again["statusCode"], 409, "{again}");

    let leads = invoke_when_ready(port, "api-leads", "events/api-leads.json");
    assert_eq!(leads["statusCode"], 401, "the fixture carries no token: {leads}");
}
