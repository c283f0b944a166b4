//! The AI CEO end to end on `local` (offline AI, sandbox social, file outbox, SQLite queue),
//! with the schedules left to `POST /local/executor/run` and `/local/agent/run`.

use chief::billing::signature::sign;
use chief_tests::stripe::{SECRET_KEY, StripeFixture, stripe_object};
use chief_tests::{Local, data, error_code, ok};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const WEBHOOK_SECRET: &str = "whsec_chief_ceo";
const PRICE_PRO: &str = "price_chief_pro";

fn start() -> Local {
    Local::start_with(&[("CHIEF_LOCAL_SCHEDULES", "off"), ("CHIEF_LOCAL_DEV_ROUTES", "on")])
}

/// A time `days` ago (ahead, when negative).
fn days_ago(days: i64) -> String {
    chief::clock::timestamp(chrono::Utc::now() - chrono::Duration::days(days))
}

async fn lead(s: &Local, token: &str, org: &str, body: Value) -> String {
    ok(s, Method::POST, &format!("/v1/orgs/{org}/leads"), token, Some(body)).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn task(s: &Local, token: &str, org: &str, body: Value) -> Value {
    let (status, answer) = s.post(&format!("/v1/orgs/{org}/tasks"), Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    data(&answer).clone()
}

async fn executor(s: &Local, token: &str) -> Value {
    ok(s, Method::POST, "/local/executor/run", token, None).await
}

/// Waits for the queue drain to write a task's text and hold it for approval.
async fn awaiting(s: &Local, token: &str, org: &str, id: &str) -> Value {
    for _ in 0..600 {
        let task = ok(s, Method::GET, &format!("/v1/orgs/{org}/tasks/{id}"), token, None).await;
        if task["approval"] == "awaiting" {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {id} was not held for approval");
}

/// Waits for the queue drain to finish a task, answering it. A post task finishes when its
/// post is published: the executor (run here every half second, as its timer would) hands
/// the post to the publishing pipeline once the task has written it.
async fn finished(s: &Local, token: &str, org: &str, id: &str) -> Value {
    for i in 0..600 {
        if i % 10 == 9 {
            executor(s, token).await;
        }
        let task = ok(s, Method::GET, &format!("/v1/orgs/{org}/tasks/{id}"), token, None).await;
        if ["COMPLETED", "FAILED", "CANCELLED"].contains(&task["status"].as_str().unwrap()) {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {id} did not finish");
}

async fn usage(s: &Local, token: &str, org: &str) -> Value {
    ok(s, Method::GET, &format!("/v1/orgs/{org}/usage"), token, None).await
}

async fn events(s: &Local, token: &str, org: &str, kind: &str) -> Vec<Value> {
    let all = ok(s, Method::GET, &format!("/local/orgs/{org}/events"), token, None).await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detailType"] == kind)
        .cloned()
        .collect()
}

fn outbox_to(s: &Local, to: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(s.data.path().join("outbox")) else {
        return 0;
    };
    entries
        .filter(|e| {
            std::fs::read_to_string(e.as_ref().unwrap().path())
                .unwrap()
                .contains(&format!("To: {to}"))
        })
        .count()
}

#[tokio::test]
async fn tasks_run_by_the_executor_post_mail_and_follow_up_with_usage_counted() {
    let s = start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let ada = lead(
        &s,
        &owner,
        &org,
        json!({"name": "Ada", "email": "ada@lead.io", "company": "Engines"}),
    )
    .await;
    let bob = lead(&s, &owner, &org, json!({"name": "Bob", "email": "bob@lead.io"})).await;
    let nomail = lead(&s, &owner, &org, json!({"name": "No Mail"})).await;

    let post = task(
        &s,
        &owner,
        &org,
        json!({"type": "social_media_post", "input": {"topic": "our spring launch"}}),
    )
    .await;
    assert_eq!(
        (post["status"].as_str(), post["approval"].as_str()),
        (Some("PENDING"), Some("not_required"))
    );
    let campaign = task(
        &s,
        &owner,
        &org,
        json!({"type": "email_campaign", "input": {"subject": "Spring news", "brief": "the launch", "leadIds": [ada, bob, nomail]}}),
    )
    .await;
    let followup = task(
        &s,
        &owner,
        &org,
        json!({"type": "lead_followup", "input": {"leadId": ada, "nextFollowUpDays": 5}}),
    )
    .await;
    let tomorrow = chief::clock::timestamp(chrono::Utc::now() + chrono::Duration::days(1));
    let later = task(
        &s,
        &owner,
        &org,
        json!({"type": "lead_followup", "input": {"leadId": bob}, "runAt": tomorrow}),
    )
    .await;

    let tick = executor(&s, &owner).await;
    assert_eq!((tick["claimed"].as_u64(), tick["enqueued"].as_u64()), (Some(3), Some(3)), "{tick}");
    // Posts and emails are on `approval` by default: their text is written, then waits to be
    // read; an admin approves it and it goes out as written.
    let mut drafts = Vec::new();
    for id in [post["id"].as_str().unwrap(), campaign["id"].as_str().unwrap()] {
        let held = awaiting(&s, &owner, &org, id).await;
        assert_eq!(held["status"], "PENDING", "{held}");
        assert!(held["draft"]["text"].as_str().unwrap().contains("offline AI"), "{held}");
        drafts.push(held["draft"]["text"].as_str().unwrap().to_string());
        ok(&s, Method::POST, &format!("/v1/orgs/{org}/tasks/{id}/approve"), &owner, None).await;
    }
    assert_eq!(outbox_to(&s, "ada@lead.io"), 0, "nothing went out before approval");
    let tick = executor(&s, &owner).await;
    assert_eq!(tick["claimed"].as_u64(), Some(2), "{tick}");
    let post = finished(&s, &owner, &org, post["id"].as_str().unwrap()).await;
    assert_eq!(post["status"], "COMPLETED", "{post}");
    assert_eq!(post["attempts"], 1);
    let output = &post["output"];
    assert_eq!(output["platform"], "sandbox");
    assert!(output["externalId"].as_str().unwrap().starts_with("sandbox_"), "{output}");
    assert!(output["url"].as_str().unwrap().starts_with("sandbox://"), "{output}");
    let published = ok(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/posts/{}", output["postId"].as_str().unwrap()),
        &owner,
        None,
    )
    .await;
    assert_eq!(published["status"], "published", "{published}");
    assert_eq!(published["text"].as_str().unwrap(), drafts[0], "published as approved");
    assert!(published["writtenBy"].as_str().unwrap().starts_with("offline:"), "{published}");

    let campaign = finished(&s, &owner, &org, campaign["id"].as_str().unwrap()).await;
    assert_eq!(campaign["status"], "COMPLETED", "{campaign}");
    assert_eq!(campaign["output"]["sent"], 2);
    assert_eq!(campaign["output"]["leadsWithoutEmail"], json!([nomail]));
    assert_eq!((outbox_to(&s, "ada@lead.io"), outbox_to(&s, "bob@lead.io")), (1, 1));

    let followup = finished(&s, &owner, &org, followup["id"].as_str().unwrap()).await;
    assert_eq!(followup["status"], "COMPLETED", "{followup}");
    let ada_now = ok(&s, Method::GET, &format!("/v1/orgs/{org}/leads/{ada}"), &owner, None).await;
    assert_eq!(ada_now["nextFollowUpAt"], followup["output"]["nextFollowUpAt"]);
    let activities = ok(&s, Method::GET, &format!("/v1/orgs/{org}/leads/{ada}/activities"), &owner, None).await;
    assert_eq!(activities["items"].as_array().unwrap().len(), 1);
    assert_eq!(activities["items"][0]["id"], followup["id"]);

    let used = usage(&s, &owner, &org).await;
    assert_eq!(
        (
            used["tasks"]["used"].as_i64(),
            used["posts"]["used"].as_i64(),
            used["emails"]["used"].as_i64(),
            used["aiCalls"]["used"].as_i64()
        ),
        (Some(4), Some(1), Some(2), Some(3)),
        "{used}"
    );
    assert!(used["aiTokens"].as_i64().unwrap() > 0);
    assert_eq!(events(&s, &owner, &org, "task.completed").await.len(), 3);

    // Nothing more is due; the scheduled one waits for its time.
    let again = executor(&s, &owner).await;
    assert_eq!(again["claimed"], 0, "{again}");
    let later = ok(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/tasks/{}", later["id"].as_str().unwrap()),
        &owner,
        None,
    )
    .await;
    assert_eq!(later["status"], "PENDING");
    let listed = ok(&s, Method::GET, &format!("/v1/orgs/{org}/tasks?status=COMPLETED"), &owner, None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
}

/// A new conversation of `token`'s member in `org`: the path of its messages.
async fn conversation(s: &Local, token: &str, org: &str) -> String {
    let started = ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/conversations"),
        token,
        Some(json!({"title": "Plans"})),
    )
    .await;
    format!("/v1/orgs/{org}/conversations/{}/messages", started["id"].as_str().unwrap())
}

fn insight<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["insights"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} insight in {report}"))
}

#[tokio::test]
async fn the_agent_acts_within_the_autonomy_policy_that_the_executor_enforces() {
    let s = start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let member = s.join(&owner, &org, "member@acme.io", "member").await;
    let quiet = lead(&s, &owner, &org, json!({"name": "Quiet", "email": "quiet@lead.io"})).await;
    ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/leads/{quiet}/activities"),
        &owner,
        Some(json!({"type": "call", "summary": "first call", "occurredAt": days_ago(20)})),
    )
    .await;
    let policy = ok(&s, Method::GET, &format!("/v1/orgs/{org}/autonomy"), &member, None).await;
    assert_eq!(
        (policy["post"].as_str(), policy["email"].as_str(), policy["followUp"].as_str()),
        (Some("approval"), Some("approval"), Some("auto"))
    );
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("/v1/orgs/{org}/autonomy"),
            Some(&member),
            Some(r#"{"post":"off","version":0}"#),
        )
        .await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    ok(
        &s,
        Method::PUT,
        &format!("/v1/orgs/{org}/autonomy"),
        &owner,
        Some(json!({"post": "off", "followUp": "approval", "version": 0})),
    )
    .await;

    // The policy governs what the AI writes whoever asks: with posts off, nobody gets one.
    let (status, body) = s
        .post(
            &format!("/v1/orgs/{org}/tasks"),
            Some(&member),
            json!({"type": "social_media_post", "input": {"topic": "anything"}}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "AUTONOMY_OFF");

    // A member asks for an analysis by hand (any plan): stale lead and low content found.
    let report = ok(&s, Method::POST, &format!("/v1/orgs/{org}/agent/analyze"), &member, None).await;
    let stale = insight(&report, "stale_leads");
    assert_eq!(
        (stale["confidence"].as_f64(), stale["acted"].as_bool()),
        (Some(0.9), Some(true)),
        "{stale}"
    );
    assert_eq!(stale["actions"][0]["outcome"], "created");
    assert_eq!(stale["actions"][0]["subject"], quiet.as_str());
    // Posts are off: the agent records what it saw and proposes nothing, asking no model.
    let low = insight(&report, "low_content");
    assert_eq!(low["actions"][0]["kind"], "create_post_task");
    assert_eq!(low["actions"][0]["outcome"], "policy_off");
    assert!(low["actions"][0]["taskId"].is_null(), "{low}");
    assert_eq!(report["summary"]["provider"], "offline");
    assert_eq!(usage(&s, &owner, &org).await["aiCalls"]["used"], 1, "the summary only");
    let followup_id = stale["actions"][0]["taskId"].as_str().unwrap().to_string();

    // Again within the hour: the same insights, nothing created twice.
    let again = ok(&s, Method::POST, &format!("/v1/orgs/{org}/agent/analyze"), &member, None).await;
    assert!(
        again["insights"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["actions"].as_array().unwrap())
            .all(|a| a["outcome"] != "created" || a["taskId"] == followup_id),
        "{again}"
    );
    let tasks = ok(&s, Method::GET, &format!("/v1/orgs/{org}/tasks"), &owner, None).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1, "{tasks}");
    assert_eq!(events(&s, &owner, &org, "agent.acted").await.len(), 1);
    assert_eq!(usage(&s, &owner, &org).await["tasks"]["used"], 0, "proposals count when they run");

    // The executor applies the policy when the task falls due: the follow-up waits.
    let tick = executor(&s, &owner).await;
    assert_eq!(
        (
            tick["cancelledByPolicy"].as_u64(),
            tick["awaitingApproval"].as_u64(),
            tick["claimed"].as_u64()
        ),
        (Some(0), Some(1), Some(0)),
        "{tick}"
    );
    let waiting = ok(&s, Method::GET, &format!("/v1/orgs/{org}/tasks/{followup_id}"), &owner, None).await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["approval"].as_str()),
        (Some("PENDING"), Some("awaiting"))
    );
    assert_eq!(executor(&s, &owner).await["claimed"], 0, "an awaiting task is not due");

    let approve = format!("/v1/orgs/{org}/tasks/{followup_id}/approve");
    let (status, body) = s.post(&approve, Some(&member), json!({})).await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    let approved = ok(&s, Method::POST, &approve, &owner, None).await;
    assert_eq!(approved["approval"], "approved");
    let (status, body) = s
        .post(&format!("/v1/orgs/{org}/tasks/{followup_id}/reject"), Some(&owner), json!({}))
        .await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "TASK_NOT_AWAITING_APPROVAL");
    assert_eq!(executor(&s, &owner).await["claimed"], 1);
    assert_eq!(finished(&s, &owner, &org, &followup_id).await["status"], "COMPLETED");
    let quiet_lead = ok(&s, Method::GET, &format!("/v1/orgs/{org}/leads/{quiet}"), &owner, None).await;
    assert!(quiet_lead["nextFollowUpAt"].is_string(), "{quiet_lead}");

    let insights = ok(&s, Method::GET, &format!("/v1/orgs/{org}/insights"), &member, None).await;
    let kinds: Vec<&str> = insights["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"stale_leads") && kinds.contains(&"low_content"), "{kinds:?}");
    let score = ok(&s, Method::GET, &format!("/v1/orgs/{org}/leads/{quiet}/score"), &member, None).await;
    assert_eq!(score["factors"].as_array().unwrap().len(), 7);
    assert_eq!(
        score["score"].as_f64().unwrap(),
        (score["fit"].as_f64().unwrap() + score["engagement"].as_f64().unwrap()).round()
    );
}

#[tokio::test]
async fn the_task_quota_counts_every_creation_and_answers_402() {
    let s = start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let l = lead(&s, &owner, &org, json!({"name": "L"})).await;
    let mut first = None;
    for _ in 0..10 {
        let t = task(
            &s,
            &owner,
            &org,
            json!({"type": "lead_followup", "input": {"leadId": l}, "runAt": days_ago(-2)}),
        )
        .await;
        first.get_or_insert(t["id"].as_str().unwrap().to_string());
    }
    let cancel = format!("/v1/orgs/{org}/tasks/{}/cancel", first.unwrap());
    assert_eq!(ok(&s, Method::POST, &cancel, &owner, None).await["status"], "CANCELLED");
    let (status, body) = s.post(&cancel, Some(&owner), json!({})).await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "TASK_NOT_PENDING");
    let (status, body) = s
        .post(
            &format!("/v1/orgs/{org}/tasks"),
            Some(&owner),
            json!({"type": "lead_followup", "input": {"leadId": l}}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::PAYMENT_REQUIRED), "QUOTA_EXCEEDED");
    // The agent's tasks count too: over quota it records that instead of creating one.
    let report = ok(&s, Method::POST, &format!("/v1/orgs/{org}/agent/analyze"), &owner, None).await;
    assert_eq!(insight(&report, "low_content")["actions"][0]["outcome"], "over_quota");
    let listed = ok(&s, Method::GET, &format!("/v1/orgs/{org}/tasks?limit=100"), &owner, None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 10);
    assert_eq!(usage(&s, &owner, &org).await["tasks"]["used"], 10);
}

#[tokio::test]
async fn a_task_needing_more_posts_or_emails_than_are_left_is_refused_when_created() {
    let s = start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let mut leads = Vec::new();
    for i in 0..4 {
        leads.push(lead(&s, &owner, &org, json!({"name": format!("L{i}"), "email": format!("l{i}@lead.io")})).await);
    }
    let no_mail = lead(&s, &owner, &org, json!({"name": "No mail"})).await;
    let tasks = format!("/v1/orgs/{org}/tasks");
    let campaign = |ids: &[String]| json!({"type": "email_campaign", "input": {"subject": "S", "brief": "B", "leadIds": ids}});
    let (status, body) = s.post(&tasks, Some(&owner), campaign(&leads)).await;
    assert_eq!(error_code(status, &body, StatusCode::PAYMENT_REQUIRED), "QUOTA_EXCEEDED");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("needs 4 emails and 3 are left"), "{message}");
    let (status, body) = s.post(&tasks, Some(&owner), campaign(std::slice::from_ref(&no_mail))).await;
    assert_eq!(error_code(status, &body, StatusCode::BAD_REQUEST), "VALIDATION_ERROR");
    assert_eq!(usage(&s, &owner, &org).await["tasks"]["used"], 0, "refused tasks spend nothing");

    let mut with_no_mail = leads[..3].to_vec();
    with_no_mail.push(no_mail);
    let fits = task(&s, &owner, &org, campaign(&with_no_mail)).await;
    assert_eq!(fits["need"]["emails"], 3, "{fits}");
    // Posts go out without review, so that their posts are scheduled (holding the quota).
    ok(
        &s,
        Method::PUT,
        &format!("/v1/orgs/{org}/autonomy"),
        &owner,
        Some(json!({"post": "auto", "email": "auto", "version": 0})),
    )
    .await;
    for i in 0..5 {
        task(
            &s,
            &owner,
            &org,
            json!({"type": "social_media_post", "input": {"topic": format!("t{i}")}}),
        )
        .await;
    }
    let done = executor(&s, &owner).await;
    assert_eq!((done["claimed"].as_u64(), done["overQuota"].as_u64()), (Some(6), Some(0)), "{done}");
    assert_eq!(
        usage(&s, &owner, &org).await["emails"]["used"],
        3,
        "emails are reserved at the claim"
    );
    // Each post task's run writes its post and schedules it, which holds one post.
    let mut spent = usage(&s, &owner, &org).await;
    for _ in 0..600 {
        if spent["posts"]["used"] == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        spent = usage(&s, &owner, &org).await;
    }
    assert_eq!(spent["posts"]["used"], 5, "the posts hold the quota once scheduled: {spent}");
    let (status, body) = s
        .post(
            &tasks,
            Some(&owner),
            json!({"type": "social_media_post", "input": {"topic": "one more"}}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::PAYMENT_REQUIRED), "QUOTA_EXCEEDED");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("needs 1 posts and 0 are left"),
        "{body}"
    );
}

#[tokio::test]
async fn chat_answers_from_config_history_and_numbers_within_the_ai_quota() {
    let s = start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let member = s.join(&owner, &org, "member@acme.io", "member").await;
    let config = ok(&s, Method::GET, &format!("/v1/orgs/{org}/ai-config"), &member, None).await;
    assert_eq!(
        (config["personaName"].as_str(), config["version"].as_u64()),
        (Some("Chief"), Some(0))
    );
    let change = json!({"personaName": "Ava", "goals": ["grow to 100 clients"], "industry": "bakeries", "version": 0});
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("/v1/orgs/{org}/ai-config"),
            Some(&member),
            Some(&change.to_string()),
        )
        .await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    assert_eq!(
        ok(&s, Method::PUT, &format!("/v1/orgs/{org}/ai-config"), &owner, Some(change.clone())).await["version"],
        1
    );
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("/v1/orgs/{org}/ai-config"),
            Some(&owner),
            Some(&change.to_string()),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "VERSION_CONFLICT");

    let messages = conversation(&s, &member, &org).await;
    let exchange = ok(
        &s,
        Method::POST,
        &messages,
        &member,
        Some(json!({"content": "What should we do this week?"})),
    )
    .await;
    assert_eq!(exchange["reply"]["role"], "assistant");
    assert_eq!(exchange["reply"]["provider"], "offline");
    assert!(exchange["reply"]["content"].as_str().unwrap().contains("offline AI"));
    let listed = ok(&s, Method::GET, &messages, &member, None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert_eq!(listed["items"][0]["role"], "assistant", "newest first");
    // A conversation is its member's own.
    let (status, body) = s.get(&messages, &owner).await;
    error_code(status, &body, StatusCode::NOT_FOUND);
    assert_eq!(
        ok(&s, Method::GET, &format!("/v1/orgs/{org}/conversations"), &owner, None).await["items"],
        json!([])
    );

    for _ in 1..50 {
        ok(&s, Method::POST, &messages, &member, Some(json!({"content": "and then?"}))).await;
    }
    let (status, body) = s.post(&messages, Some(&member), json!({"content": "one more?"})).await;
    assert_eq!(error_code(status, &body, StatusCode::PAYMENT_REQUIRED), "QUOTA_EXCEEDED");
    let listed = ok(&s, Method::GET, &format!("{messages}?limit=100"), &member, None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 100, "the refused message is not stored");
    assert_eq!(usage(&s, &owner, &org).await["aiCalls"]["used"], 50);
    let (status, body) = s.post(&format!("/v1/orgs/{org}/agent/analyze"), Some(&member), json!({})).await;
    assert_eq!(error_code(status, &body, StatusCode::PAYMENT_REQUIRED), "QUOTA_EXCEEDED");
}

/// An org on pro through a checkout and Stripe's `checkout.session.completed`.
async fn pro_org(s: &Local, stripe: &StripeFixture, owner: &str, name: &str) -> String {
    let org = s.create_org(owner, name).await;
    let (status, body) = s
        .post(&format!("/v1/orgs/{org}/billing/checkout"), Some(owner), json!({"plan": "pro"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let customer = stripe.checkout_customer(&org);
    let mut session = stripe_object("checkout.session");
    session["customer"] = customer.into();
    session["subscription"] = format!("sub_{name}").into();
    session["mode"] = "subscription".into();
    session["payment_status"] = "paid".into();
    session["metadata"] = json!({"org_id": org, "plan": "pro"});
    let mut event = stripe_object("event");
    event["id"] = format!("evt_{name}").into();
    event["type"] = "checkout.session.completed".into();
    event["created"] = chrono::Utc::now().timestamp().into();
    event["data"] = json!({"object": session});
    let body = event.to_string();
    let (status, answer) = s
        .webhook(&body, Some(&sign(body.as_bytes(), WEBHOOK_SECRET, chrono::Utc::now().timestamp())))
        .await;
    assert_eq!(
        (status, data(&answer)["outcome"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{answer}"
    );
    org
}

/// `local` with billing against the Stripe fixture (so that orgs can be made pro), and `extra`.
fn start_billed(stripe: &StripeFixture, extra: &[(&str, &str)]) -> Local {
    let mut env = vec![
        ("CHIEF_LOCAL_SCHEDULES", "off"),
        ("CHIEF_LOCAL_DEV_ROUTES", "on"),
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", stripe.base.as_str()),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("STRIPE_PRICE_PRO", PRICE_PRO),
    ];
    env.extend_from_slice(extra);
    Local::start_with(&env)
}

#[tokio::test]
async fn the_hourly_agent_analyses_paying_orgs_only_and_never_twice_an_hour() {
    let stripe = StripeFixture::start().await;
    let s = start_billed(&stripe, &[]);
    let (owner, _) = s.signup("owner@acme.io").await;
    let paying = [pro_org(&s, &stripe, &owner, "one").await, pro_org(&s, &stripe, &owner, "two").await];
    let free = s.create_org(&owner, "free").await;
    for org in paying.iter().chain([&free]) {
        let l = lead(&s, &owner, org, json!({"name": "Old"})).await;
        ok(
            &s,
            Method::POST,
            &format!("/v1/orgs/{org}/leads/{l}/activities"),
            &owner,
            Some(json!({"type": "email", "summary": "sent deck", "occurredAt": days_ago(30)})),
        )
        .await;
    }
    let run = ok(&s, Method::POST, "/local/agent/run", &owner, None).await;
    assert_eq!(
        (run["messages"].as_u64(), run["orgsSeen"].as_u64(), run["batches"].as_u64()),
        (Some(2), Some(2), Some(1)),
        "{run}"
    );
    // A second fan-out in the same hour (a schedule delivered twice) creates nothing new.
    ok(&s, Method::POST, "/local/agent/run", &owner, None).await;
    for org in &paying {
        let mut found = Value::Null;
        for _ in 0..600 {
            found = ok(&s, Method::GET, &format!("/v1/orgs/{org}/insights"), &owner, None).await;
            let kinds: Vec<&str> = found["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|i| i["kind"].as_str())
                .collect();
            // Each insight is stored after its action: both there, both tasks are.
            if kinds.contains(&"stale_leads") && kinds.contains(&"low_content") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stale = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "stale_leads")
            .expect("stale insight")
            .clone();
        assert_eq!(stale["trigger"], "schedule");
        let tasks = ok(&s, Method::GET, &format!("/v1/orgs/{org}/tasks"), &owner, None).await;
        let agent_tasks: Vec<_> = tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["origin"] == "agent")
            .collect();
        assert_eq!(agent_tasks.len(), 2, "one follow-up and one post draft: {tasks}");
    }
    let untouched = ok(&s, Method::GET, &format!("/v1/orgs/{free}/insights"), &owner, None).await;
    assert_eq!(untouched["items"], json!([]));
    assert_eq!(
        ok(&s, Method::GET, &format!("/v1/orgs/{free}/tasks"), &owner, None).await["items"],
        json!([])
    );
}

#[tokio::test]
async fn concurrent_executor_ticks_run_each_task_once() {
    let s = start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let mut all = Vec::new();
    for name in ["a", "b"] {
        let org = s.create_org(&owner, name).await;
        ok(
            &s,
            Method::PUT,
            &format!("/v1/orgs/{org}/autonomy"),
            &owner,
            Some(json!({"post": "auto", "version": 0})),
        )
        .await;
        let l = lead(&s, &owner, &org, json!({"name": "L"})).await;
        for i in 0..10 {
            let body = if i < 5 {
                json!({"type": "social_media_post", "input": {"topic": format!("topic {i}")}})
            } else {
                json!({"type": "lead_followup", "input": {"leadId": l}})
            };
            all.push((org.clone(), task(&s, &owner, &org, body).await["id"].as_str().unwrap().to_string()));
        }
    }
    let (a, b, c, d) = tokio::join!(
        executor(&s, &owner),
        executor(&s, &owner),
        executor(&s, &owner),
        executor(&s, &owner)
    );
    let ticks = [a, b, c, d];
    let claimed: u64 = ticks.iter().map(|t| t["claimed"].as_u64().unwrap()).sum();
    assert_eq!(claimed, 20, "{ticks:?}");
    for (org, id) in &all {
        let t = finished(&s, &owner, org, id).await;
        assert_eq!((t["status"].as_str(), t["attempts"].as_u64()), (Some("COMPLETED"), Some(1)), "{t}");
    }
    for org in all.iter().map(|(o, _)| o).collect::<std::collections::BTreeSet<_>>() {
        let used = usage(&s, &owner, org).await;
        assert_eq!(
            (used["posts"]["used"].as_i64(), used["aiCalls"]["used"].as_i64()),
            (Some(5), Some(10)),
            "{used}"
        );
        assert_eq!(events(&s, &owner, org, "task.completed").await.len(), 10);
    }
}

#[tokio::test]
async fn every_new_route_hides_other_tenants_and_refuses_bad_input() {
    let s = start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let (stranger, _) = s.signup("stranger@else.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let l = lead(&s, &owner, &org, json!({"name": "L"})).await;
    let t = task(
        &s,
        &owner,
        &org,
        json!({"type": "lead_followup", "input": {"leadId": l}, "runAt": days_ago(-1)}),
    )
    .await;
    let t = t["id"].as_str().unwrap();
    let c = ok(&s, Method::POST, &format!("/v1/orgs/{org}/conversations"), &owner, None).await;
    let c = c["id"].as_str().unwrap();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/orgs/{org}/ai-config"), None),
        (Method::PUT, format!("/v1/orgs/{org}/ai-config"), Some(json!({"version": 0}))),
        (Method::GET, format!("/v1/orgs/{org}/conversations"), None),
        (Method::POST, format!("/v1/orgs/{org}/conversations"), Some(json!({}))),
        (Method::GET, format!("/v1/orgs/{org}/conversations/{c}/messages"), None),
        (
            Method::POST,
            format!("/v1/orgs/{org}/conversations/{c}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (Method::GET, format!("/v1/orgs/{org}/tasks"), None),
        (
            Method::POST,
            format!("/v1/orgs/{org}/tasks"),
            Some(json!({"type": "lead_followup", "input": {"leadId": l}})),
        ),
        (Method::GET, format!("/v1/orgs/{org}/tasks/{t}"), None),
        (Method::POST, format!("/v1/orgs/{org}/tasks/{t}/cancel"), Some(json!({}))),
        (Method::POST, format!("/v1/orgs/{org}/tasks/{t}/approve"), Some(json!({}))),
        (Method::POST, format!("/v1/orgs/{org}/tasks/{t}/reject"), Some(json!({}))),
        (Method::GET, format!("/v1/orgs/{org}/autonomy"), None),
        (Method::PUT, format!("/v1/orgs/{org}/autonomy"), Some(json!({"version": 0}))),
        (Method::GET, format!("/v1/orgs/{org}/insights"), None),
        (Method::POST, format!("/v1/orgs/{org}/agent/analyze"), Some(json!({}))),
        (Method::GET, format!("/v1/orgs/{org}/leads/{l}/score"), None),
    ];
    for (method, path, body) in &routes {
        let body = body.as_ref().map(Value::to_string);
        let (status, answer) = s.call(method.clone(), path, Some(&stranger), body.as_deref()).await;
        error_code(status, &answer, StatusCode::NOT_FOUND);
        let (status, answer) = s.call(method.clone(), path, None, body.as_deref()).await;
        error_code(status, &answer, StatusCode::UNAUTHORIZED);
    }
    let used = usage(&s, &owner, &org).await;
    assert_eq!(
        (used["tasks"]["used"].as_i64(), used["aiCalls"]["used"].as_i64()),
        (Some(1), Some(0)),
        "{used}"
    );
    assert_eq!(
        ok(&s, Method::GET, &format!("/v1/orgs/{org}/tasks/{t}"), &owner, None).await["status"],
        "PENDING"
    );

    let tasks = format!("/v1/orgs/{org}/tasks");
    for (body, code) in [
        ("{", "INVALID_JSON"),
        ("[]", "VALIDATION_ERROR"),
        (r#"{"type": "fax", "input": {}}"#, "VALIDATION_ERROR"),
        (r#"{"type": "lead_followup"}"#, "VALIDATION_ERROR"),
        (r#"{"type": "lead_followup", "input": {"leadId": "nope"}}"#, "INVALID_ID"),
        (
            r#"{"type": "social_media_post", "input": {"topic": "x", "platform": "myspace"}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type": "email_campaign", "input": {"subject": "s", "brief": "b", "leadIds": []}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type": "social_media_post", "input": {"topic": "x"}, "runAt": "tomorrow"}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type": "social_media_post", "input": {"topic": "x"}, "extra": 1}"#,
            "VALIDATION_ERROR",
        ),
    ] {
        let (status, answer) = s.call(Method::POST, &tasks, Some(&owner), Some(body)).await;
        assert_eq!(error_code(status, &answer, StatusCode::BAD_REQUEST), code, "{body}");
    }
    let huge = json!({"type": "social_media_post", "input": {"topic": "x".repeat(100_000)}}).to_string();
    let (status, answer) = s.call(Method::POST, &tasks, Some(&owner), Some(&huge)).await;
    error_code(status, &answer, StatusCode::PAYLOAD_TOO_LARGE);
    for (path, body) in [
        (format!("/v1/orgs/{org}/conversations/{c}/messages"), r#"{"content": ""}"#),
        (format!("/v1/orgs/{org}/conversations/{c}/messages"), r#"{"content": 5}"#),
        (format!("/v1/orgs/{org}/autonomy"), r#"{"post": "sometimes", "version": 0}"#),
        (format!("/v1/orgs/{org}/ai-config"), r#"{"postsPerWeek": -1, "version": 0}"#),
    ] {
        let method = if path.ends_with("messages") { Method::POST } else { Method::PUT };
        let (status, answer) = s.call(method, &path, Some(&owner), Some(body)).await;
        error_code(status, &answer, StatusCode::BAD_REQUEST);
    }
    let (status, answer) = s.get(&format!("/v1/orgs/{org}/tasks?status=DONE"), &owner).await;
    error_code(status, &answer, StatusCode::BAD_REQUEST);
    assert_eq!(usage(&s, &owner, &org).await["tasks"]["used"], 1, "refused requests spend nothing");
}

#[tokio::test]
async fn any_scheduled_job_runs_at_once_by_its_function_name() {
    let s = start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let tick = ok(&s, Method::POST, "/local/jobs/job-executor/run", &owner, None).await;
    assert!(tick["claimed"].is_u64() && tick["partitionsRead"].is_u64(), "{tick}");
    let fan_out = ok(&s, Method::POST, "/local/jobs/job-agent/run", &owner, None).await;
    assert!(fan_out["orgsSeen"].is_u64(), "{fan_out}");
    // A queue's consumer is not a schedule; an unknown name is nothing.
    for path in ["/local/jobs/job-run-task/run", "/local/jobs/job-nothing/run"] {
        let (status, body) = s.post(path, Some(&owner), json!({})).await;
        error_code(status, &body, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_scheduled_agent_stops_at_its_daily_budget_and_ai_usage_adds_up_to_the_ledger() {
    let stripe = StripeFixture::start().await;
    // The offline writer priced as a real model, so that spend is not all zeros.
    let s = start_billed(&stripe, &[("CHIEF_AI_PRICES", r#"{"offline": {"input": 3, "output": 15}}"#)]);
    let (owner, owner_id) = s.signup("owner@budget.io").await;
    let org = pro_org(&s, &stripe, &owner, "budget").await;
    let member = s.join(&owner, &org, "member@budget.io", "member").await;
    let policy = format!("/v1/orgs/{org}/autonomy");
    let (status, body) = s
        .call(
            Method::PUT,
            &policy,
            Some(&owner),
            Some(&json!({"agentDailyActions": 500, "version": 0}).to_string()),
        )
        .await;
    assert_eq!(
        error_code(status, &body, StatusCode::BAD_REQUEST),
        "VALIDATION_ERROR",
        "above the pro plan's 20"
    );
    let set = json!({"agentDailyActions": 1, "agentDailyUsd": 0.5, "followUp": "auto", "version": 0});
    let changed = ok(&s, Method::PUT, &policy, &owner, Some(set)).await;
    assert_eq!(
        (changed["agentDailyActions"].as_u64(), changed["agentDailyUsd"].as_f64()),
        (Some(1), Some(0.5))
    );

    for name in ["One", "Two", "Three"] {
        let l = lead(&s, &owner, &org, json!({"name": name})).await;
        let old = json!({"type": "email", "summary": "sent deck", "occurredAt": days_ago(30)});
        ok(&s, Method::POST, &format!("/v1/orgs/{org}/leads/{l}/activities"), &owner, Some(old)).await;
    }
    ok(&s, Method::POST, "/local/agent/run", &owner, None).await;
    let stale = chief_tests::until(&s, &owner, &format!("/v1/orgs/{org}/insights"), |found| {
        found["items"].as_array().unwrap().iter().any(|i| i["kind"] == "stale_leads")
    })
    .await;
    let insight = stale["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "stale_leads")
        .unwrap();
    let outcomes: Vec<&str> = insight["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "created").count(), 1, "{outcomes:?}");
    assert!(outcomes.contains(&"over_budget"), "{outcomes:?}");
    let tasks = ok(&s, Method::GET, &format!("/v1/orgs/{org}/tasks"), &owner, None).await;
    let by_agent = tasks["items"].as_array().unwrap().iter().filter(|t| t["origin"] == "agent").count();
    assert_eq!(by_agent, 1, "{tasks}");

    // A member's own AI calls, then the spend report against the ledger in the store.
    let messages = conversation(&s, &member, &org).await;
    ok(
        &s,
        Method::POST,
        &messages,
        &member,
        Some(json!({"content": "What should we post this week?"})),
    )
    .await;
    let usage = ok(&s, Method::GET, &format!("/v1/orgs/{org}/ai-usage"), &owner, None).await;
    let db = rusqlite::Connection::open(s.data.path().join("chief.db")).unwrap();
    let mut query = db.prepare("SELECT body FROM items WHERE pk = ?1 AND sk LIKE 'AICALL#%'").unwrap();
    let ledger: Vec<Value> = query
        .query_map([format!("ORG#{org}")], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|body| serde_json::from_str(&body.unwrap()).unwrap())
        .collect();
    let cost: i64 = ledger.iter().map(|call| call["costMicroUsd"].as_i64().unwrap()).sum();
    let tokens: u64 = ledger
        .iter()
        .map(|call| call["promptTokens"].as_u64().unwrap() + call["completionTokens"].as_u64().unwrap())
        .sum();
    assert!(!ledger.is_empty() && cost > 0, "{ledger:?}");
    assert_eq!(usage["total"]["calls"].as_u64(), Some(ledger.len() as u64), "{usage}");
    assert_eq!(usage["total"]["microUsd"].as_i64(), Some(cost));
    assert_eq!(usage["total"]["tokens"].as_u64(), Some(tokens));
    for group in ["byDay", "byModel", "byUse", "byActor"] {
        let sum: i64 = usage[group]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["microUsd"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, cost, "{group}");
    }
    // The agent spent its one action on a follow-up, so it asked no model for a post topic.
    let member_id = ok(&s, Method::GET, "/v1/auth/me", &member, None).await["id"].clone();
    let actors: Vec<&Value> = usage["byActor"].as_array().unwrap().iter().map(|g| &g["key"]).collect();
    assert_eq!(actors, [&member_id], "the owner made no AI call ({owner_id}), nor did the agent");

    // Admins only, own org only, and a period that parses.
    let code = chief_tests::refused(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/ai-usage"),
        Some(&member),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(code, "FORBIDDEN");
    let (stranger, _) = s.signup("stranger@else.io").await;
    let code = chief_tests::refused(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/ai-usage"),
        Some(&stranger),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "NOT_FOUND");
    for bad in ["?from=yesterday", "?from=2026-01-01&to=2025-01-01", "?from=2020-01-01"] {
        let path = format!("/v1/orgs/{org}/ai-usage{bad}");
        chief_tests::refused(&s, Method::GET, &path, Some(&owner), None, StatusCode::BAD_REQUEST).await;
    }
}
