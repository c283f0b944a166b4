//! Drives real function binaries through `cargo lambda watch` and `cargo lambda invoke`
//! with the fixtures in `events/`, against DynamoDB, Secrets Manager, EventBridge and SQS in
//! moto: the API functions, the webhook, and the four jobs in the order the cloud runs them.

use chief::billing::signature::sign;
use chief::ports::table::Table;
use chief_adapters::dynamo_table::DynamoTable;
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

const FIXTURE_WEBHOOK_SECRET: &str = "whsec_chief_fixture";
const FIXTURE_ORG: &str = "01JD3Z5Q1T6N8WQ4S0F9V7C2XA";

/// `events/stripe-webhook.json` with its body signed at `t` by the fixture's secret.
fn webhook_fixture_signed_at(t: i64) -> Value {
    let mut fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("events/stripe-webhook.json")).unwrap()).unwrap();
    let body = fixture["body"].as_str().unwrap().to_string();
    fixture["headers"]["stripe-signature"] = sign(body.as_bytes(), FIXTURE_WEBHOOK_SECRET, t).into();
    fixture
}

#[test]
fn the_webhook_fixture_carries_a_signature_of_its_body() {
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("events/stripe-webhook.json")).unwrap()).unwrap();
    let header = fixture["headers"]["stripe-signature"].as_str().unwrap();
    let t: i64 = header.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
    assert_eq!(
        fixture,
        webhook_fixture_signed_at(t),
        "regenerate the signature of events/stripe-webhook.json"
    );
}

#[tokio::test]
#[ignore = "needs moto on AWS_ENDPOINT_URL and cargo-lambda on PATH: scripts/test runs it"]
async fn functions_answer_api_gateway_events_through_cargo_lambda_against_moto() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto: run scripts/test");
    let aws = chief_adapters::aws::load().await;
    let (table, secret_id) = chief_tests::table_and_signing_key(&aws, "chief-lambda").await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);

    let bus = format!("chief-lambda-{}", std::process::id());
    aws_sdk_eventbridge::Client::new(&aws)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    let webhook_secret_id = format!("chief-webhook-{}", std::process::id());
    aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name(&webhook_secret_id)
        .secret_string(FIXTURE_WEBHOOK_SECRET)
        .send()
        .await
        .unwrap();
    // The org and the Stripe customer the webhook fixture is about.
    let store = DynamoTable::new(
        chief_adapters::aws::AwsConfig::ready(aws.clone()),
        table.clone(),
        std::sync::Arc::new(chief::clock::SystemClock),
    );
    let org = chief::orgs::Org {
        id: chief::ids::OrgId::parse(FIXTURE_ORG, "the fixture org").unwrap(),
        name: "Fixture".into(),
        plan: chief::usage::Plan::Free,
        plan_until: None,
        time_zone: "UTC".into(),
        created_at: chief::clock::parse("2026-11-22T09:00:00.000Z").unwrap(),
        updated_at: chief::clock::parse("2026-11-22T09:00:00.000Z").unwrap(),
        version: 1,
    };
    store.put(org.to_item().unwrap(), None).await.unwrap();
    store
        .put(chief::billing::customer_claim("cus_chief_fixture", FIXTURE_ORG), None)
        .await
        .unwrap();

    // The three job queues; jobs are read back from them and handed on as Lambda would.
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let mut queues = Vec::new();
    for name in ["tasks", "analysis", "publish"] {
        let url = sqs
            .create_queue()
            .queue_name(format!("chief-lambda-{name}-{}", std::process::id()))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        queues.push(url);
    }
    let (task_queue, analysis_queue, publish_queue) = (queues[0].clone(), queues[1].clone(), queues[2].clone());

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
        .env("CHIEF_EVENT_BUS_NAME", &bus)
        .env("CHIEF_STRIPE_WEBHOOK_SECRET_ID", &webhook_secret_id)
        .env("STRIPE_PRICE_PRO", "price_chief_fixture_pro")
        .env("CHIEF_TASK_QUEUE_URL", &task_queue)
        .env("CHIEF_ANALYSIS_QUEUE_URL", &analysis_queue)
        .env("CHIEF_PUBLISH_QUEUE_URL", &publish_queue)
        .env("CHIEF_AI_PROVIDER", "offline")
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

    // The contract, as api-health's build wrote it: the same document the declarations make now.
    let mut contract_event: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("events/api-health.json")).unwrap()).unwrap();
    for (pointer, value) in [
        ("/routeKey", "GET /v1/openapi.json"),
        ("/rawPath", "/v1/openapi.json"),
        ("/requestContext/http/path", "/v1/openapi.json"),
        ("/requestContext/routeKey", "GET /v1/openapi.json"),
    ] {
        *contract_event.pointer_mut(pointer).unwrap() = value.into();
    }
    let contract_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(contract_file.path(), contract_event.to_string()).unwrap();
    let contract = invoke_when_ready(port, "api-health", contract_file.path().to_str().unwrap());
    assert_eq!(contract["statusCode"], 200, "{contract}");
    let served: Value = serde_json::from_str(contract["body"].as_str().unwrap()).unwrap();
    assert_eq!(served, chief::routes::contract(), "api-health serves the contract of this build");

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

    let billing = invoke_when_ready(port, "api-billing", "events/api-billing.json");
    assert_eq!(billing["statusCode"], 401, "the fixture carries no token: {billing}");

    // The OAuth callback with a state Chief never made: the browser goes back to the web app
    // told so, and nothing is stored.
    let callback = invoke_when_ready(port, "api-social", "events/api-social.json");
    assert_eq!(callback["statusCode"], 302, "{callback}");
    assert_eq!(
        callback["headers"]["location"], "http://localhost:5173/social?error=invalid_state",
        "{callback}"
    );

    // A survey link Chief never made: 404 from the public route, no login asked for.
    let survey = invoke_when_ready(port, "api-clients", "events/api-clients.json");
    assert_eq!(survey["statusCode"], 404, "{survey}");

    let deals = invoke_when_ready(port, "api-deals", "events/api-deals.json");
    assert_eq!(deals["statusCode"], 401, "the fixture carries no token: {deals}");

    // The webhook fixture, signed now: applied once, then a duplicate.
    let fresh = tempfile::NamedTempFile::new().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    std::fs::write(fresh.path(), webhook_fixture_signed_at(now).to_string()).unwrap();
    let event = fresh.path().to_str().unwrap();
    for expected in ["applied", "duplicate"] {
        let answer = invoke_when_ready(port, "stripe-webhook", event);
        assert_eq!(answer["statusCode"], 200, "{answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["data"]["outcome"], expected, "{body}");
    }
    let stored = store
        .get(&chief::ports::table::Key::new(format!("ORG#{FIXTURE_ORG}"), "ORG"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["plan"], "pro", "{stored:?}");
    assert_eq!(stored["planPK"], "PLAN#pro", "the plan index follows the plan");

    // The hourly agent finds the org, now on pro, and enqueues its analysis.
    let fan_out = invoke_when_ready(port, "job-agent", "events/job-agent.json");
    assert_eq!(
        (fan_out["orgsSeen"].as_u64(), fan_out["messages"].as_u64()),
        (Some(1), Some(1)),
        "{fan_out}"
    );
    let analyses = take_messages(&sqs, &analysis_queue).await;
    assert_eq!(analyses.len(), 1);
    assert!(analyses[0].contains(FIXTURE_ORG));
    // The daily client-health fan-out sees the org, which has no clients: no job for it.
    let daily = invoke_when_ready(port, "job-client-health", "events/job-client-health.json");
    assert_eq!(
        (daily["orgsSeen"].as_u64(), daily["messages"].as_u64()),
        (Some(1), Some(0)),
        "{daily}"
    );
    deliver(port, "job-analyze", &analyses[0]);
    // With no posts this week, the analysis drafted a post task for the executor.
    let tasks = store
        .query(chief::ports::table::Query::partition(format!("ORG#{FIXTURE_ORG}")).prefix("TASK#"))
        .await
        .unwrap();
    assert_eq!(tasks.items.len(), 1, "{tasks:?}");
    let task_id = tasks.items[0]["id"].as_str().unwrap().to_string();

    // The minute executor claims the agent's post; under the default policy (posts need
    // approval) job-run-task writes its text and holds it for an admin: nothing goes out.
    let tick = invoke_when_ready(port, "job-executor", "events/job-executor.json");
    assert_eq!((tick["due"].as_u64(), tick["claimed"].as_u64()), (Some(1), Some(1)), "{tick}");
    let jobs = take_messages(&sqs, &task_queue).await;
    assert_eq!(jobs.len(), 1);
    deliver(port, "job-run-task", &jobs[0]);
    let key = chief::ports::table::Key::new(format!("ORG#{FIXTURE_ORG}"), format!("TASK#{task_id}"));
    let held = store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (held["status"].as_str(), held["approval"].as_str()),
        (Some("PENDING"), Some("awaiting")),
        "{held:?}"
    );
    let draft = held["draft"]["text"].as_str().unwrap().to_string();
    // Approved (as an admin would through api-tasks), it goes out on the next tick.
    let mut task: chief::tasks::Task = chief::model::from_item(store.get(&key).await.unwrap().unwrap()).unwrap();
    let read = task.version;
    task.approval = chief::tasks::Approval::Approved;
    task.version += 1;
    store
        .put(
            task.to_item(&chief::ids::OrgId::parse(FIXTURE_ORG, "the fixture org").unwrap())
                .unwrap(),
            Some(chief::ports::table::Condition::VersionEquals(read)),
        )
        .await
        .unwrap();
    let tick = invoke_when_ready(port, "job-executor", "events/job-executor.json");
    assert_eq!((tick["claimed"].as_u64(), tick["enqueued"].as_u64()), (Some(1), Some(1)), "{tick}");
    let jobs = take_messages(&sqs, &task_queue).await;
    assert_eq!(jobs.len(), 1);
    deliver(port, "job-run-task", &jobs[0]);
    // The run scheduled the task's draft post; the next tick hands it to job-publish.
    let handed = store.get(&key).await.unwrap().unwrap();
    assert_eq!(handed["status"], "IN_PROGRESS", "waits for its post: {handed:?}");
    let post_id = handed["output"]["postId"].as_str().unwrap().to_string();
    let tick = invoke_when_ready(port, "job-executor", "events/job-executor.json");
    assert_eq!(
        (tick["postsClaimed"].as_u64(), tick["publishEnqueued"].as_u64()),
        (Some(1), Some(1)),
        "{tick}"
    );
    let jobs = take_messages(&sqs, &publish_queue).await;
    assert_eq!(jobs.len(), 1);
    let event = deliver(port, "job-publish", &jobs[0]);
    let done = store.get(&key).await.unwrap().unwrap();
    assert_eq!(done["status"], "COMPLETED", "{done:?}");
    assert_eq!(done["output"]["platform"], "sandbox");
    assert_eq!(done["output"]["postId"], post_id.as_str());
    let post_key = chief::ports::table::Key::new(format!("ORG#{FIXTURE_ORG}"), format!("POST#{post_id}"));
    let post = store.get(&post_key).await.unwrap().unwrap();
    assert_eq!(post["status"], "published", "{post:?}");
    assert_eq!(post["text"], draft.as_str(), "published as approved");
    // Delivered again: nothing happens twice.
    redeliver(port, "job-publish", &event);
    assert_eq!(store.get(&post_key).await.unwrap().unwrap()["version"], post["version"]);
    let sandbox = store
        .query(chief::ports::table::Query::partition(format!("ORG#{FIXTURE_ORG}")).prefix("SANDBOXPOST#"))
        .await
        .unwrap();
    assert_eq!(sandbox.items.len(), 1, "posted once");
}

/// The messages waiting in a queue, taken off it.
async fn take_messages(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            bodies.push(m.body.unwrap_or_default());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
        if !bodies.is_empty() {
            break;
        }
    }
    bodies
}

/// Hands a job to a queue function in its fixture's batch (`events/<function>.json`, with a
/// poison record beside it) and checks that only the poison failed: the event, to send again.
fn deliver(port: u16, function: &str, body: &str) -> tempfile::NamedTempFile {
    let event = sqs_event(&format!("{function}.json"), body);
    redeliver(port, function, &event);
    event
}

/// Hands the same batch to the function again: only the poison fails.
fn redeliver(port: u16, function: &str, event: &tempfile::NamedTempFile) {
    let answer = invoke_when_ready(port, function, event.path().to_str().unwrap());
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": "poison-1"}]),
        "{function}: {answer}"
    );
}

/// An SQS event fixture of `events/` with its one record's body replaced, plus a poison
/// record, written to a temporary file for `cargo lambda invoke`.
fn sqs_event(fixture: &str, body: &str) -> tempfile::NamedTempFile {
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(workspace_root().join("events").join(fixture)).unwrap()).unwrap();
    event["Records"][0]["body"] = body.into();
    let mut poison = event["Records"][0].clone();
    poison["messageId"] = "poison-1".into();
    poison["body"] = "{not a job".into();
    event["Records"].as_array_mut().unwrap().push(poison);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), event.to_string()).unwrap();
    file
}
