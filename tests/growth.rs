//! The AI Growth Manager end to end on `local` (offline AI, sandbox platform, SQLite store
//! and queue): profile → strategy → posts → approval → calendar → the publishing pipeline
//! → analytics, with the schedules left to `POST /local/executor/run` and the clock moved
//! by `POST /local/clock`.

use chief_tests::{Local, error_code, ok};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn start() -> Local {
    Local::start_with(&[("CHIEF_LOCAL_SCHEDULES", "off"), ("CHIEF_LOCAL_DEV_ROUTES", "on")])
}

async fn refused(s: &Local, method: Method, path: &str, token: &str, body: Option<Value>, expected: StatusCode) -> String {
    let (status, answer) = s.call(method, path, Some(token), body.map(|b| b.to_string()).as_deref()).await;
    error_code(status, &answer, expected)
}

async fn org_in(s: &Local, token: &str, name: &str, time_zone: &str) -> String {
    ok(
        s,
        Method::POST,
        "/v1/orgs",
        token,
        Some(json!({"name": name, "timeZone": time_zone})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn account(s: &Local, token: &str, org: &str) -> String {
    let made = ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/social/accounts"),
        token,
        Some(json!({"platform": "sandbox", "name": "Main"})),
    )
    .await;
    made["id"].as_str().unwrap().to_string()
}

/// A draft, approved, answering its id.
async fn approved(s: &Local, token: &str, org: &str, platform: &str, text: &str) -> String {
    let post = ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts"),
        token,
        Some(json!({"platform": platform, "text": text})),
    )
    .await;
    let id = post["id"].as_str().unwrap().to_string();
    ok(s, Method::POST, &format!("/v1/orgs/{org}/posts/{id}/approve"), token, None).await;
    id
}

async fn schedule(s: &Local, token: &str, org: &str, post: &str, account: &str, at: &str) -> Value {
    ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{post}/schedule"),
        token,
        Some(json!({"accountId": account, "at": at})),
    )
    .await
}

async fn executor(s: &Local, token: &str) -> Value {
    ok(s, Method::POST, "/local/executor/run", token, None).await
}

async fn advance(s: &Local, token: &str, minutes: i64) -> Value {
    ok(s, Method::POST, &format!("/local/clock?advanceMinutes={minutes}"), token, None).await
}

/// Ticks the executor until the post leaves `scheduled` and `publishing` (the local drain
/// runs job-publish), answering it.
async fn settled(s: &Local, token: &str, org: &str, post: &str) -> Value {
    for i in 0..400 {
        let now = ok(s, Method::GET, &format!("/v1/orgs/{org}/posts/{post}"), token, None).await;
        if !["scheduled", "publishing"].contains(&now["status"].as_str().unwrap()) {
            return now;
        }
        if i % 5 == 0 {
            executor(s, token).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("post {post} did not settle");
}

fn sandbox_posts(s: &Local, text: &str) -> usize {
    let db = rusqlite::Connection::open(s.data.path().join("chief.db")).unwrap();
    let count: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM items WHERE sk LIKE 'SANDBOXPOST#%' AND body LIKE ?1",
            [format!("%{text}%")],
            |row| row.get(0),
        )
        .unwrap();
    count as usize
}

#[tokio::test]
async fn profile_strategy_posts_approval_and_a_calendar_across_the_dst_change_publish_each_post_once() {
    let s = start();
    let (owner, _) = s.signup("owner@growth.io").await;
    let org = org_in(&s, &owner, "Bakery", "America/New_York").await;
    let base = format!("/v1/orgs/{org}");

    // One source of truth: the profile and the AI CEO's config show the same fields.
    let profile = ok(&s, Method::GET, &format!("{base}/profile"), &owner, None).await;
    assert_eq!(
        (profile["businessName"].as_str(), profile["version"].as_u64()),
        (Some("Bakery"), Some(0))
    );
    let change = json!({
        "businessName": "Rise Bakery", "description": "Sourdough in Brooklyn", "industry": "bakeries",
        "audience": "neighbours", "goals": [{"metric": "weekly orders", "target": 200, "by": "2027-06-01"}],
        "postsPerWeek": 4, "tone": "warm", "version": 0
    });
    let profile = ok(&s, Method::PUT, &format!("{base}/profile"), &owner, Some(change)).await;
    assert_eq!(profile["timeZone"], "America/New_York");
    let config = ok(&s, Method::GET, &format!("{base}/ai-config"), &owner, None).await;
    assert_eq!(
        (
            config["tone"].as_str(),
            config["industry"].as_str(),
            config["postsPerWeek"].as_u64()
        ),
        (Some("warm"), Some("bakeries"), Some(4))
    );
    assert_eq!(config["goals"], json!(["weekly orders: 200 by 2027-06-01"]));
    let version = config["version"].as_u64().unwrap();
    ok(
        &s,
        Method::PUT,
        &format!("{base}/ai-config"),
        &owner,
        Some(json!({"tone": "warm and witty", "version": version})),
    )
    .await;
    let profile = ok(&s, Method::GET, &format!("{base}/profile"), &owner, None).await;
    assert_eq!(profile["tone"], "warm and witty");
    assert_eq!(profile["goals"][0]["target"], 200.0);

    // Strategies: v1 active by itself, v2 not until activated, then v1 again.
    let (status, body) = s.get(&format!("{base}/strategies/active"), &owner).await;
    error_code(status, &body, StatusCode::NOT_FOUND);
    let v1 = ok(&s, Method::POST, &format!("{base}/strategies/generate"), &owner, None).await;
    let v2 = ok(&s, Method::POST, &format!("{base}/strategies/generate"), &owner, None).await;
    assert_eq!((v1["version"].as_u64(), v1["active"].as_bool()), (Some(1), Some(true)));
    assert_eq!((v2["version"].as_u64(), v2["active"].as_bool()), (Some(2), Some(false)));
    assert_eq!(v1["provider"], "offline");
    assert!(v1["pillars"].as_array().unwrap().len() >= 3);
    ok(
        &s,
        Method::POST,
        &format!("{base}/strategies/{}/activate", v2["id"].as_str().unwrap()),
        &owner,
        None,
    )
    .await;
    ok(
        &s,
        Method::POST,
        &format!("{base}/strategies/{}/activate", v1["id"].as_str().unwrap()),
        &owner,
        None,
    )
    .await;
    let active = ok(&s, Method::GET, &format!("{base}/strategies/active"), &owner, None).await;
    assert_eq!(active["id"], v1["id"]);
    let listed = ok(&s, Method::GET, &format!("{base}/strategies"), &owner, None).await;
    assert_eq!(listed["items"][0]["version"], 2, "newest first");

    // Five drafts for two platforms, each within its platform's rules, one AI call a batch.
    let calls = ok(&s, Method::GET, &format!("{base}/usage"), &owner, None).await["aiCalls"]["used"]
        .as_i64()
        .unwrap();
    let x = ok(
        &s,
        Method::POST,
        &format!("{base}/posts/generate"),
        &owner,
        Some(json!({"platform": "x", "count": 3, "topic": "new rye"})),
    )
    .await;
    let li = ok(
        &s,
        Method::POST,
        &format!("{base}/posts/generate"),
        &owner,
        Some(json!({"platform": "linkedin", "count": 2})),
    )
    .await;
    let after = ok(&s, Method::GET, &format!("{base}/usage"), &owner, None).await["aiCalls"]["used"]
        .as_i64()
        .unwrap();
    assert_eq!(after - calls, 2);
    let drafts: Vec<Value> = x["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(li["items"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(drafts.len(), 5);
    for d in &drafts {
        assert_eq!(d["status"], "draft");
        let limit = if d["platform"] == "x" { 280 } else { 3000 };
        assert!(d["text"].as_str().unwrap().chars().count() <= limit, "{d}");
    }

    // An edit voids the approval.
    let first = drafts[0]["id"].as_str().unwrap();
    let approved_once = ok(&s, Method::POST, &format!("{base}/posts/{first}/approve"), &owner, None).await;
    assert_eq!(approved_once["status"], "approved");
    let edited = ok(
        &s,
        Method::PATCH,
        &format!("{base}/posts/{first}"),
        &owner,
        Some(json!({"text": "Fresh rye at 7", "version": approved_once["version"]})),
    )
    .await;
    assert_eq!((edited["status"].as_str(), edited["approval"].is_null()), (Some("draft"), true));
    let acc = account(&s, &owner, &org).await;
    let code = refused(
        &s,
        Method::POST,
        &format!("{base}/posts/{first}/schedule"),
        &owner,
        Some(json!({"accountId": acc, "at": "2027-11-07T01:30:00"})),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "POST_NOT_APPROVED");

    // Across New York's November change: 01:30 happens twice (the earlier, EDT), 03:00 is EST.
    ok(&s, Method::POST, &format!("{base}/posts/{first}/approve"), &owner, None).await;
    let second = drafts[3]["id"].as_str().unwrap();
    ok(&s, Method::POST, &format!("{base}/posts/{second}/approve"), &owner, None).await;
    let early = schedule(&s, &owner, &org, first, &acc, "2027-11-07T01:30:00").await;
    let late = schedule(&s, &owner, &org, second, &acc, "2027-11-07T03:00:00").await;
    assert_eq!(early["scheduledAt"], "2027-11-07T05:30:00.000Z");
    assert_eq!(late["scheduledAt"], "2027-11-07T08:00:00.000Z");
    let code = refused(
        &s,
        Method::GET,
        &format!("{base}/posts/{first}/analytics"),
        &owner,
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "POST_NOT_PUBLISHED", "a post not yet out has no figures, but it exists");
    let code = refused(
        &s,
        Method::POST,
        &format!("{base}/posts/{}/schedule", drafts[1]["id"].as_str().unwrap()),
        &owner,
        Some(json!({"accountId": acc, "at": "2027-03-14T02:30:00"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "VALIDATION_ERROR", "a local time the clocks skip");
    let calendar = ok(
        &s,
        Method::GET,
        &format!("{base}/calendar?from=2027-11-06T00:00:00Z&to=2027-11-08T00:00:00Z"),
        &owner,
        None,
    )
    .await;
    let local: Vec<&str> = calendar["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["localTime"].as_str().unwrap())
        .collect();
    assert_eq!(local, ["2027-11-07T01:30:00", "2027-11-07T03:00:00"]);

    // The clock moves to just after the first; the executor publishes it, then the second.
    let now = chrono::Utc::now();
    let target = chrono::DateTime::parse_from_rfc3339("2027-11-07T05:31:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    advance(&s, &owner, (target - now).num_minutes() + 1).await;
    let owner = s.login("owner@growth.io").await;
    let one = settled(&s, &owner, &org, first).await;
    assert_eq!(one["status"], "published", "{one}");
    assert_eq!(
        ok(&s, Method::GET, &format!("{base}/posts/{second}"), &owner, None).await["status"],
        "scheduled"
    );
    advance(&s, &owner, 150).await;
    // Each move past the access token's 15 minutes takes a fresh sign-in.
    let owner = s.login("owner@growth.io").await;
    let two = settled(&s, &owner, &org, second).await;
    assert_eq!(two["status"], "published", "{two}");
    for p in [&one, &two] {
        assert_eq!(sandbox_posts(&s, p["text"].as_str().unwrap()), 1, "published once: {p}");
    }
    executor(&s, &owner).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for p in [&one, &two] {
        assert_eq!(sandbox_posts(&s, p["text"].as_str().unwrap()), 1, "and never again");
    }

    // Analytics: the daily job measures, the overview sums per platform, the export is CSV.
    advance(&s, &owner, 120).await;
    let owner = s.login("owner@growth.io").await;
    let measured = ok(&s, Method::POST, "/local/jobs/job-analytics/run", &owner, None).await;
    assert!(measured["postsMeasured"].as_u64().unwrap() >= 2, "{measured}");
    let overview = ok(&s, Method::GET, &format!("{base}/analytics/overview?period=7d"), &owner, None).await;
    assert_eq!(overview["current"]["posts"], 2, "{overview}");
    assert!(overview["current"]["impressions"].as_u64().unwrap() > 0);
    let per_post = ok(&s, Method::GET, &format!("{base}/posts/{first}/analytics"), &owner, None).await;
    assert!(
        per_post["metrics"]["platformMetrics"]["sandbox_views"].as_u64().unwrap() > 0,
        "{per_post}"
    );
    let (status, kind, csv) = s
        .get_text(
            &format!("{base}/analytics/export?from=2027-11-01T00:00:00Z&to=2027-11-30T00:00:00Z"),
            &owner,
        )
        .await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "text/csv; charset=utf-8"));
    assert!(csv.starts_with("post_id,platform,"), "{csv}");
    assert_eq!(csv.matches("\r\n").count(), 3, "a header and a row per post: {csv}");
}

#[tokio::test]
async fn every_way_the_sandbox_fails_is_handled_and_nothing_is_posted_twice() {
    let s = start();
    let (owner, _) = s.signup("owner@faults.io").await;
    let org = org_in(&s, &owner, "Faults", "UTC").await;
    let acc = account(&s, &owner, &org).await;
    let other = account(&s, &owner, &org).await;
    let now = "2020-01-01T00:00:00Z";
    let mut posts = Vec::new();
    for marker in ["rate_limited", "timeout_after_accept", "duplicate", "invalid"] {
        let id = approved(&s, &owner, &org, "linkedin", &format!("About {marker} [sandbox:{marker}]")).await;
        schedule(&s, &owner, &org, &id, &acc, now).await;
        posts.push((marker, id));
    }
    let revoked = approved(&s, &owner, &org, "x", "Bye [sandbox:auth_revoked]").await;
    schedule(&s, &owner, &org, &revoked, &other, now).await;
    let waiting = approved(&s, &owner, &org, "x", "Tomorrow's news").await;
    let later = chief::clock::timestamp(chrono::Utc::now() + chrono::Duration::days(30));
    schedule(&s, &owner, &org, &waiting, &other, &later).await;

    // Two executors at once claim each post once.
    let (a, b) = tokio::join!(executor(&s, &owner), executor(&s, &owner));
    let claimed = a["postsClaimed"].as_u64().unwrap() + b["postsClaimed"].as_u64().unwrap();
    assert_eq!(claimed, 5, "{a} {b}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    advance(&s, &owner, 2).await;
    let base = format!("/v1/orgs/{org}");
    let mut outcome = std::collections::HashMap::new();
    for (marker, id) in &posts {
        outcome.insert(*marker, settled(&s, &owner, &org, id).await);
    }
    assert_eq!(outcome["rate_limited"]["status"], "published", "retried at the reset");
    assert_eq!(outcome["timeout_after_accept"]["status"], "published", "found, not reposted");
    assert_eq!(sandbox_posts(&s, "About timeout_after_accept"), 1);
    assert_eq!(sandbox_posts(&s, "About rate_limited"), 1);
    for marker in ["duplicate", "invalid"] {
        assert_eq!(outcome[marker]["status"], "failed", "{}", outcome[marker]);
        assert!(outcome[marker]["error"].as_str().unwrap().contains(marker));
    }
    let gone = settled(&s, &owner, &org, &revoked).await;
    assert_eq!(gone["status"], "paused");
    let accounts = ok(&s, Method::GET, &format!("{base}/social/accounts"), &owner, None).await;
    let health: Vec<&str> = accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["id"] == other.as_str())
        .map(|a| a["health"].as_str().unwrap())
        .collect();
    assert_eq!(health, ["needs_reauth"]);
    assert_eq!(
        ok(&s, Method::GET, &format!("{base}/posts/{waiting}"), &owner, None).await["status"],
        "paused",
        "the account's other posts pause"
    );
    let tasks = ok(&s, Method::GET, &format!("{base}/tasks?type=reconnect_account"), &owner, None).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1, "{tasks}");

    // A failed post is retried by an admin; an invalid one fails again.
    let invalid = &posts[3].1;
    let again = ok(&s, Method::POST, &format!("{base}/posts/{invalid}/retry"), &owner, None).await;
    assert_eq!(again["status"], "scheduled");
    assert_eq!(settled(&s, &owner, &org, invalid).await["status"], "failed");
    let events = ok(&s, Method::GET, &format!("/local/orgs/{org}/events"), &owner, None).await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detailType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "post.published").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "post.failed").count(), 3);
}

#[tokio::test]
async fn scheduling_past_the_posts_quota_is_402_and_changes_nothing() {
    let s = start();
    let (owner, _) = s.signup("owner@quota.io").await;
    let org = org_in(&s, &owner, "Quota", "UTC").await;
    let acc = account(&s, &owner, &org).await;
    let at = chrono::Utc::now() + chrono::Duration::days(1);
    let at = chief::clock::timestamp(at);
    for i in 0..5 {
        let id = approved(&s, &owner, &org, "facebook", &format!("Post {i}")).await;
        schedule(&s, &owner, &org, &id, &acc, &at).await;
    }
    let sixth = approved(&s, &owner, &org, "facebook", "One too many").await;
    let before = ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{sixth}"), &owner, None).await;
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{sixth}/schedule"),
        &owner,
        Some(json!({"accountId": acc, "at": at})),
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert_eq!(code, "QUOTA_EXCEEDED");
    assert_eq!(
        ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{sixth}"), &owner, None).await,
        before
    );
    assert_eq!(
        ok(&s, Method::GET, &format!("/v1/orgs/{org}/usage"), &owner, None).await["posts"]["used"],
        5
    );
}

#[tokio::test]
async fn the_agents_low_content_action_drafts_a_post_that_waits_for_approval_and_then_goes_out() {
    let s = start();
    let (owner, _) = s.signup("owner@agent.io").await;
    let org = org_in(&s, &owner, "Quiet", "UTC").await;
    let base = format!("/v1/orgs/{org}");
    let report = ok(&s, Method::POST, &format!("{base}/agent/analyze"), &owner, None).await;
    let created: Vec<&Value> = report["insights"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "low_content")
        .collect();
    assert_eq!(created.len(), 1, "{report}");
    let task_id = created[0]["actions"][0]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a post task: {report}"))
        .to_string();
    executor(&s, &owner).await;
    let mut task = Value::Null;
    for _ in 0..200 {
        task = ok(&s, Method::GET, &format!("{base}/tasks/{task_id}"), &owner, None).await;
        if task["approval"] == "awaiting" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(task["approval"], "awaiting", "{task}");
    let post_id = task["output"]["postId"].as_str().expect("the draft's id").to_string();
    let post = ok(&s, Method::GET, &format!("{base}/posts/{post_id}"), &owner, None).await;
    assert_eq!(
        (post["status"].as_str(), post["taskId"].as_str()),
        (Some("draft"), Some(task_id.as_str()))
    );
    assert_eq!(post["text"], task["output"]["text"], "the words to approve are the post's");
    // Approving the post approves the task; the task hands the post on; it goes out.
    ok(&s, Method::POST, &format!("{base}/posts/{post_id}/approve"), &owner, None).await;
    assert_eq!(
        ok(&s, Method::GET, &format!("{base}/tasks/{task_id}"), &owner, None).await["approval"],
        "approved"
    );
    // The executor claims the approved task, its run schedules the post, the executor claims
    // the post, job-publish publishes it.
    let mut published = Value::Null;
    for i in 0..400 {
        published = ok(&s, Method::GET, &format!("{base}/posts/{post_id}"), &owner, None).await;
        if published["status"] == "published" {
            break;
        }
        if i % 5 == 0 {
            executor(&s, &owner).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(published["status"], "published", "{published}");
    let mut done = Value::Null;
    for _ in 0..200 {
        done = ok(&s, Method::GET, &format!("{base}/tasks/{task_id}"), &owner, None).await;
        if done["status"] == "COMPLETED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["output"]["platform"], "sandbox");
    assert_eq!(done["output"]["postId"], post_id.as_str());
}

#[tokio::test]
async fn every_content_route_keeps_tenants_apart_and_bad_input_changes_nothing() {
    let s = start();
    let (owner, _) = s.signup("owner@one.io").await;
    let (stranger, _) = s.signup("owner@two.io").await;
    let org = org_in(&s, &owner, "One", "UTC").await;
    let theirs = org_in(&s, &stranger, "Two", "UTC").await;
    let acc = account(&s, &owner, &org).await;
    let post = approved(&s, &owner, &org, "linkedin", "Ours").await;
    let strategy = ok(&s, Method::POST, &format!("/v1/orgs/{org}/strategies/generate"), &owner, None).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let foreign_acc = account(&s, &stranger, &theirs).await;

    // The stranger reaching into our org: 404 on every route, as for any org not theirs.
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "profile".into(), None),
        (
            Method::PUT,
            "profile".into(),
            Some(json!({"businessName": "X", "postsPerWeek": 1, "tone": "t", "version": 0})),
        ),
        (Method::POST, "strategies/generate".into(), None),
        (Method::GET, "strategies".into(), None),
        (Method::GET, "strategies/active".into(), None),
        (Method::GET, format!("strategies/{strategy}"), None),
        (Method::POST, format!("strategies/{strategy}/activate"), None),
        (Method::GET, "posts".into(), None),
        (Method::POST, "posts".into(), Some(json!({"platform": "x", "text": "hi"}))),
        (Method::POST, "posts/generate".into(), Some(json!({"platform": "x", "count": 1}))),
        (Method::GET, format!("posts/{post}"), None),
        (
            Method::PATCH,
            format!("posts/{post}"),
            Some(json!({"text": "theirs", "version": 1})),
        ),
        (Method::DELETE, format!("posts/{post}"), None),
        (Method::POST, format!("posts/{post}/optimize"), Some(json!({"feedback": "shorter"}))),
        (Method::POST, format!("posts/{post}/approve"), None),
        (
            Method::POST,
            format!("posts/{post}/schedule"),
            Some(json!({"accountId": acc, "at": "2030-01-01T00:00:00Z"})),
        ),
        (Method::POST, format!("posts/{post}/unschedule"), None),
        (Method::POST, format!("posts/{post}/retry"), None),
        (Method::GET, format!("posts/{post}/analytics"), None),
        (Method::GET, "calendar".into(), None),
        (Method::GET, "social/accounts".into(), None),
        (
            Method::POST,
            "social/accounts".into(),
            Some(json!({"platform": "sandbox", "name": "Mine now"})),
        ),
        (Method::DELETE, format!("social/accounts/{acc}"), None),
        (Method::GET, "analytics/overview".into(), None),
        (Method::GET, "analytics/export".into(), None),
    ];
    for (method, path, body) in &routes {
        let code = refused(
            &s,
            method.clone(),
            &format!("/v1/orgs/{org}/{path}"),
            &stranger,
            body.clone(),
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(code, "NOT_FOUND", "{method} {path}");
    }
    // Our ids under their own org are not found either.
    for path in [
        format!("posts/{post}"),
        format!("strategies/{strategy}"),
        format!("posts/{post}/analytics"),
    ] {
        let code = refused(
            &s,
            Method::GET,
            &format!("/v1/orgs/{theirs}/{path}"),
            &stranger,
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(code, "NOT_FOUND", "{path}");
    }
    // Their account cannot carry our post.
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{post}/schedule"),
        &owner,
        Some(json!({"accountId": foreign_acc, "at": "2030-01-01T00:00:00Z"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "VALIDATION_ERROR");

    // Bad input: 400 and nothing changes.
    let before = ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts"), &owner, None).await;
    for (body, says) in [
        (json!({"platform": "myspace", "text": "hi"}), "unknown variant"),
        (
            json!({"platform": "x", "text": "x".repeat(281)}),
            "x allows 280 weighted characters",
        ),
        (
            json!({"platform": "instagram", "text": "hi", "hashtags": (0..31).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "at most 30 hashtags",
        ),
        (json!({"platform": "x", "text": "hi", "mediaUrls": ["ftp://x"]}), "https"),
        (json!({"platform": "x"}), "missing field"),
    ] {
        let (status, answer) = s.post(&format!("/v1/orgs/{org}/posts"), Some(&owner), body).await;
        assert_eq!(error_code(status, &answer, StatusCode::BAD_REQUEST), "VALIDATION_ERROR");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{answer}");
    }
    for at in ["tomorrow", "2030-13-01T09:00:00", "2027-03-14T25:30:00", "2030-01-01"] {
        let code = refused(
            &s,
            Method::POST,
            &format!("/v1/orgs/{org}/posts/{post}/schedule"),
            &owner,
            Some(json!({"accountId": acc, "at": at})),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(code, "VALIDATION_ERROR", "{at}");
    }
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/generate"),
        &owner,
        Some(json!({"platform": "x", "count": 31})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "VALIDATION_ERROR");
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/social/accounts"),
        &owner,
        Some(json!({"platform": "linkedin", "name": "LI"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "VALIDATION_ERROR");
    let code = refused(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/analytics/overview?period=1y"),
        &owner,
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "VALIDATION_ERROR");
    assert_eq!(ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts"), &owner, None).await, before);
    assert_eq!(
        ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{post}"), &owner, None).await["status"],
        "approved"
    );

    // A member reads and writes posts; what needs an admin says 403.
    let member = s.join(&owner, &org, "member@one.io", "member").await;
    ok(&s, Method::GET, &format!("/v1/orgs/{org}/profile"), &member, None).await;
    let mine = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts"),
        &member,
        Some(json!({"platform": "x", "text": "From a member"})),
    )
    .await;
    let mine = mine["id"].as_str().unwrap().to_string();
    for (method, path, body) in [
        (
            Method::PUT,
            "profile".to_string(),
            Some(json!({"businessName": "X", "postsPerWeek": 1, "tone": "t", "version": 0})),
        ),
        (Method::POST, "strategies/generate".into(), None),
        (Method::POST, format!("strategies/{strategy}/activate"), None),
        (Method::POST, format!("posts/{mine}/approve"), None),
        (Method::POST, format!("posts/{mine}/retry"), None),
        (
            Method::POST,
            "social/accounts".into(),
            Some(json!({"platform": "sandbox", "name": "Mine"})),
        ),
        (Method::DELETE, format!("social/accounts/{acc}"), None),
    ] {
        let code = refused(
            &s,
            method.clone(),
            &format!("/v1/orgs/{org}/{path}"),
            &member,
            body,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(code, "FORBIDDEN", "{method} {path}");
    }
    assert_eq!(
        ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{mine}"), &owner, None).await["status"],
        "draft"
    );

    // Generating posts without an active strategy: 409 in an org that has none.
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{theirs}/posts/generate"),
        &stranger,
        Some(json!({"platform": "x", "count": 2})),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "NO_ACTIVE_STRATEGY");
}
