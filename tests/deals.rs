//! Creator ops end to end on `local` (offline AI, SQLite store and queues drained in process,
//! the executor run by `POST /local/executor/run`): content items repurposed per platform (a
//! long piece as an X thread that goes out as replies), sponsors and the deal pipeline,
//! deliverables delivered by a published post, exclusivity, follow-ups, and every route
//! across tenants and with bad input.

use chief_tests::{Local, ok, refused, until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn start() -> Local {
    Local::start_with(&[("CHIEF_LOCAL_SCHEDULES", "off"), ("CHIEF_LOCAL_DEV_ROUTES", "on")])
}

async fn executor(s: &Local, token: &str) -> Value {
    ok(s, Method::POST, "/local/executor/run", token, None).await
}

async fn sandbox_account(s: &Local, token: &str, org: &str) -> String {
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

/// Ticks the executor until the post is out (the local drain runs job-publish).
async fn published(s: &Local, token: &str, org: &str, post: &str) -> Value {
    for i in 0..400 {
        let now = ok(s, Method::GET, &format!("/v1/orgs/{org}/posts/{post}"), token, None).await;
        if !["scheduled", "publishing"].contains(&now["status"].as_str().unwrap()) {
            assert_eq!(now["status"], "published", "{now}");
            return now;
        }
        if i % 5 == 0 {
            executor(s, token).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("post {post} did not go out");
}

/// The sandbox's posts (text, the id it replies to), in the order they went out.
fn sandbox_posts(s: &Local) -> Vec<(String, Option<String>, String)> {
    let db = rusqlite::Connection::open(s.data.path().join("chief.db")).unwrap();
    let mut query = db.prepare("SELECT body FROM items WHERE sk LIKE 'SANDBOXPOST#%'").unwrap();
    let mut posts: Vec<(String, Option<String>, String, String)> = query
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|body| {
            let post: Value = serde_json::from_str(&body.unwrap()).unwrap();
            (
                post["text"].as_str().unwrap().to_string(),
                post["replyTo"].as_str().map(str::to_string),
                post["externalId"].as_str().unwrap().to_string(),
                post["publishedAt"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    posts.sort_by(|a, b| a.3.cmp(&b.3));
    posts.into_iter().map(|(t, r, id, _)| (t, r, id)).collect()
}

fn x_weight(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| {
            if w.starts_with("https://") {
                23
            } else {
                w.chars().map(|c| if (c as u32) < 4352 { 1 } else { 2 }).sum()
            }
        })
        .sum::<usize>()
        + text.chars().filter(|c| c.is_whitespace()).count()
}

#[tokio::test]
async fn an_item_is_repurposed_within_each_platforms_rules_and_its_x_thread_goes_out_as_replies() {
    let s = start();
    let (owner, _) = s.signup("owner@studio.io").await;
    let org = s.create_org(&owner, "Studio").await;
    // A transcript past the usual 64 KiB: content routes take 256 KiB.
    let sentence = "We rode the new trail three times and the third run was the best one of the day. ";
    let transcript = sentence.repeat(1_200);
    assert!(transcript.len() > 64 * 1024 && transcript.chars().count() <= 100_000);
    let item = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/content"),
        &owner,
        Some(json!({"title": "Trail day", "body": transcript, "kind": "video", "targetPlatforms": ["x", "linkedin", "instagram"], "dueDate": "2026-12-05", "tags": ["Bikes"]})),
    )
    .await;
    assert_eq!(
        (&item["status"], &item["tags"], &item["version"]),
        (&json!("idea"), &json!(["bikes"]), &json!(1))
    );
    let id = item["id"].as_str().unwrap().to_string();
    let too_big = "x".repeat(300 * 1024);
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/content"),
        Some(&owner),
        Some(json!({"title": "Huge", "body": too_big, "kind": "article"})),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");

    let repurposed = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/content/{id}/repurpose"),
        &owner,
        Some(json!({"platforms": ["x", "linkedin", "instagram"]})),
    )
    .await;
    let drafts = repurposed["posts"].as_array().unwrap();
    assert_eq!(drafts.len(), 3);
    let usage = ok(&s, Method::GET, &format!("/v1/orgs/{org}/usage"), &owner, None).await;
    assert_eq!(usage["aiCalls"]["used"], 1, "one AI call: {usage}");
    let x = drafts.iter().find(|p| p["platform"] == "x").unwrap();
    let thread: Vec<String> = x["thread"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(thread.len() > 1, "a long piece is a thread on X: {x}");
    for (i, part) in thread.iter().enumerate() {
        assert!(part.starts_with(&format!("{}/{} ", i + 1, thread.len())), "{part}");
        assert!(x_weight(part) <= 280, "{part}");
    }
    let linkedin = drafts.iter().find(|p| p["platform"] == "linkedin").unwrap();
    assert!(linkedin["text"].as_str().unwrap().chars().count() <= 3_000);
    assert_eq!(linkedin["thread"], json!([]));
    let instagram = drafts.iter().find(|p| p["platform"] == "instagram").unwrap();
    assert!(instagram["text"].as_str().unwrap().chars().count() <= 2_200);
    for draft in drafts {
        assert_eq!((&draft["status"], &draft["contentId"]), (&json!("draft"), &json!(id)));
    }
    // Instagram needs an image before it is approved: the one pipeline's rule holds.
    let ig = instagram["id"].as_str().unwrap();
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{ig}/approve"),
        Some(&owner),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "MEDIA_REQUIRED");

    // The thread is an ordinary post: approved, scheduled, published, each part a reply.
    let account = sandbox_account(&s, &owner, &org).await;
    let x_id = x["id"].as_str().unwrap();
    ok(&s, Method::POST, &format!("/v1/orgs/{org}/posts/{x_id}/approve"), &owner, None).await;
    ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{x_id}/schedule"),
        &owner,
        Some(json!({"accountId": account, "at": "2026-01-01T00:00:00Z"})),
    )
    .await;
    let scheduled = ok(&s, Method::GET, &format!("/v1/orgs/{org}/content/{id}"), &owner, None).await;
    assert_eq!(scheduled["status"], "scheduled", "the item follows its posts");
    let out = published(&s, &owner, &org, x_id).await;
    let sent = sandbox_posts(&s);
    assert_eq!(sent.len(), thread.len(), "each part once: {sent:?}");
    for (i, (text, reply_to, _)) in sent.iter().enumerate() {
        assert_eq!(text, &thread[i]);
        assert_eq!(
            reply_to.as_ref(),
            if i == 0 { None } else { Some(&sent[i - 1].2) },
            "part {i} answers the one before"
        );
    }
    assert_eq!(out["published"]["externalId"], sent[0].2, "the thread is its first part");
    let after = ok(&s, Method::GET, &format!("/v1/orgs/{org}/content/{id}"), &owner, None).await;
    assert_eq!(after["status"], "idea", "two of its posts are still drafts: back to what was set");
    let listed = ok(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/content?platform=instagram&from=2026-12-01&to=2026-12-31"),
        &owner,
        None,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let none = ok(&s, Method::GET, &format!("/v1/orgs/{org}/content?status=published"), &owner, None).await;
    assert_eq!(none["items"], json!([]));
}

async fn sponsor(s: &Local, token: &str, org: &str, name: &str, category: &str) -> String {
    let made = ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/sponsors"),
        token,
        Some(json!({"name": name, "category": category, "website": "https://brand.example",
                    "contacts": [{"name": "Dana", "email": format!("dana@{}.example", name.to_lowercase()), "role": "Partnerships"}]})),
    )
    .await;
    made["id"].as_str().unwrap().to_string()
}

async fn deal(s: &Local, token: &str, org: &str, body: Value) -> Value {
    ok(s, Method::POST, &format!("/v1/orgs/{org}/deals"), token, Some(body)).await
}

async fn stage(s: &Local, token: &str, org: &str, deal: &str, body: Value) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        &format!("/v1/orgs/{org}/deals/{deal}/stage"),
        Some(token),
        Some(&body.to_string()),
    )
    .await
}

#[tokio::test]
async fn a_deals_life_records_each_stage_change_emits_its_events_and_sums_into_the_pipeline() {
    let s = start();
    let (owner, _) = s.signup("owner@creator.io").await;
    let org = s.create_org(&owner, "Creator").await;
    let member = s.join(&owner, &org, "member@creator.io", "member").await;
    let fizz = sponsor(&s, &owner, &org, "Fizz", "energy drinks").await;
    let big = deal(
        &s,
        &owner,
        &org,
        json!({"sponsorId": fizz, "title": "Spring series", "value": 500_000, "currency": "eur", "type": "integration"}),
    )
    .await;
    assert_eq!((&big["stage"], &big["currency"]), (&json!("inquiry"), &json!("EUR")));
    let b = big["id"].as_str().unwrap().to_string();
    let small = deal(
        &s,
        &member,
        &org,
        json!({"sponsorId": fizz, "title": "One post", "value": 80_000, "currency": "USD", "type": "sponsored_post"}),
    )
    .await;
    let sm = small["id"].as_str().unwrap().to_string();
    deal(
        &s,
        &owner,
        &org,
        json!({"sponsorId": fizz, "title": "Affiliate", "value": 10_000, "currency": "EUR", "type": "affiliate", "stage": "negotiating"}),
    )
    .await;

    // Forward, skipping a stage; backward is 409; lost needs a reason.
    let (status, moved) = stage(&s, &owner, &org, &b, json!({"stage": "contracted"})).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let (status, answer) = stage(&s, &owner, &org, &b, json!({"stage": "negotiating"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("INVALID_STAGE_CHANGE"))
    );
    let (status, answer) = stage(&s, &member, &org, &sm, json!({"stage": "lost"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR"))
    );
    let (status, _) = stage(&s, &member, &org, &sm, json!({"stage": "lost", "reason": "went with a rival"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = stage(&s, &member, &org, &sm, json!({"stage": "negotiating"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("INVALID_STAGE_CHANGE")),
        "only an admin brings a deal back"
    );
    let (status, _) = stage(&s, &owner, &org, &sm, json!({"stage": "negotiating"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = stage(&s, &owner, &org, &sm, json!({"stage": "lost", "reason": "no budget after all"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = stage(&s, &owner, &org, &b, json!({"stage": "paid"})).await;
    assert_eq!(status, StatusCode::OK);

    let activities = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals/{sm}/activities"), &owner, None).await;
    let kinds: Vec<(&str, &str)> = activities["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["type"].as_str().unwrap(), a["toStage"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(kinds.len(), 4, "created and three moves: {kinds:?}");
    assert!(kinds.contains(&("stage_changed", "lost")) && kinds.contains(&("created", "inquiry")));
    let events = ok(&s, Method::GET, &format!("/local/orgs/{org}/events"), &owner, None).await;
    let count = |kind: &str| events.as_array().unwrap().iter().filter(|e| e["detailType"] == kind).count();
    assert_eq!(
        (count("deal.stage_changed"), count("deal.won"), count("deal.lost")),
        (6, 1, 2),
        "{events}"
    );

    let pipeline = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals/pipeline"), &owner, None).await;
    let of = |name: &str| {
        pipeline["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["stage"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(of("paid")["count"], 1);
    assert_eq!(of("paid")["values"], json!([{"currency": "EUR", "total": 500_000}]));
    assert_eq!(of("lost")["values"], json!([{"currency": "USD", "total": 80_000}]));
    assert_eq!(of("negotiating")["count"], 1);
    assert_eq!(of("inquiry")["count"], 0);
    assert_eq!(
        (&pipeline["won"], &pipeline["lost"], &pipeline["winRate"]),
        (&json!(1), &json!(1), &json!(0.5))
    );
    let code = refused(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/deals/pipeline?from=2026-13-01"),
        Some(&owner),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "VALIDATION_ERROR");
    let filtered = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals?stage=lost"), &owner, None).await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_published_post_delivers_its_deliverable_once_moves_the_deal_and_exclusivity_is_kept() {
    let s = start();
    let (owner, _) = s.signup("owner@maker.io").await;
    let org = s.create_org(&owner, "Maker").await;
    let member = s.join(&owner, &org, "member@maker.io", "member").await;
    let account = sandbox_account(&s, &owner, &org).await;
    let fizz = sponsor(&s, &owner, &org, "Fizz", "Energy drinks").await;
    let buzz = sponsor(&s, &owner, &org, "Buzz", "energy drinks").await;
    let exclusive = deal(
        &s,
        &owner,
        &org,
        json!({"sponsorId": fizz, "title": "Fizz exclusive", "value": 900_000, "currency": "EUR", "type": "ambassador", "stage": "contracted",
               "exclusivity": {"category": "energy drinks", "from": "2026-01-01", "to": "2026-12-31"}}),
    )
    .await;
    let e = exclusive["id"].as_str().unwrap().to_string();
    let rival = deal(&s, &owner, &org, json!({"sponsorId": buzz, "title": "Buzz post", "value": 50_000, "currency": "EUR", "type": "sponsored_post", "stage": "contracted"})).await;
    let r = rival["id"].as_str().unwrap().to_string();

    // Fizz's deliverable is delivered by a post written for its content item.
    let item = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/content"),
        &owner,
        Some(json!({"title": "Fizz launch", "body": "Launch day with Fizz.", "kind": "video"})),
    )
    .await;
    let c = item["id"].as_str().unwrap().to_string();
    let post = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts"),
        &owner,
        Some(json!({"platform": "linkedin", "text": "Launch day with Fizz!", "contentId": c})),
    )
    .await;
    let p = post["id"].as_str().unwrap().to_string();
    let deliverable = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/deals/{e}/deliverables"),
        &owner,
        Some(json!({"description": "Launch post", "platform": "linkedin", "dueDate": "2026-12-01", "contentId": c})),
    )
    .await;
    let d = deliverable["id"].as_str().unwrap().to_string();
    ok(&s, Method::POST, &format!("/v1/orgs/{org}/posts/{p}/approve"), &owner, None).await;
    ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{p}/schedule"),
        &owner,
        Some(json!({"accountId": account, "at": "2026-01-01T00:00:00Z"})),
    )
    .await;
    let out = published(&s, &owner, &org, &p).await;
    let url = out["published"]["url"].as_str().unwrap().to_string();
    let moved = until(&s, &owner, &format!("/v1/orgs/{org}/deals/{e}"), |d| d["stage"] == "delivered").await;
    assert_eq!(moved["stage"], "delivered");
    let list = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals/{e}/deliverables"), &owner, None).await;
    assert_eq!(
        (
            &list["items"][0]["id"],
            &list["items"][0]["status"],
            &list["items"][0]["deliveredUrl"]
        ),
        (&json!(d), &json!("delivered"), &json!(url))
    );
    // The executor runs again (a late tick, a duplicate): nothing happens twice.
    executor(&s, &owner).await;
    let tasks = ok(&s, Method::GET, &format!("/v1/orgs/{org}/tasks?type=invoice_sponsor"), &owner, None).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1, "{tasks}");
    assert_eq!(tasks["items"][0]["input"]["dealId"], json!(e));
    let activities = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals/{e}/activities"), &owner, None).await;
    let delivered = activities["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "deliverable_delivered")
        .count();
    assert_eq!(delivered, 1);

    // Buzz's post inside Fizz's window: refused, naming the deal; an admin may override.
    let rival_post = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts"),
        &owner,
        Some(json!({"platform": "linkedin", "text": "Buzz gets me going"})),
    )
    .await;
    let rp = rival_post["id"].as_str().unwrap().to_string();
    ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/deals/{r}/deliverables"),
        &owner,
        Some(json!({"description": "Buzz post", "platform": "linkedin", "dueDate": "2026-12-10", "postId": rp})),
    )
    .await;
    ok(&s, Method::POST, &format!("/v1/orgs/{org}/posts/{rp}/approve"), &owner, None).await;
    let schedule = |token: String, body: Value| {
        let s = &s;
        let path = format!("/v1/orgs/{org}/posts/{rp}/schedule");
        async move { s.call(Method::POST, &path, Some(&token), Some(&body.to_string())).await }
    };
    let (status, answer) = schedule(owner.clone(), json!({"accountId": account, "at": "2026-12-10T09:00:00Z"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("EXCLUSIVITY_CONFLICT"))
    );
    assert!(answer["error"]["message"].as_str().unwrap().contains(&e), "{answer}");
    let (status, answer) = schedule(
        member.clone(),
        json!({"accountId": account, "at": "2026-12-10T09:00:00Z", "override": true}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN")),
        "a member cannot override"
    );
    let unchanged = ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{rp}"), &owner, None).await;
    assert_eq!(unchanged["status"], "approved");
    let (status, answer) = schedule(
        owner.clone(),
        json!({"accountId": account, "at": "2026-12-10T09:00:00Z", "override": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["exclusivityOverride"]["dealId"], json!(e));
    assert!(answer["data"]["exclusivityOverride"]["by"].as_str().is_some());
}

#[tokio::test]
async fn a_follow_up_fires_once_per_due_time_and_its_mail_to_the_sponsor_waits_for_approval() {
    let s = start();
    let (owner, _) = s.signup("owner@vlog.io").await;
    let org = s.create_org(&owner, "Vlog").await;
    let fizz = sponsor(&s, &owner, &org, "Fizz", "energy drinks").await;
    let open = deal(
        &s,
        &owner,
        &org,
        json!({"sponsorId": fizz, "title": "Summer tour", "value": 300_000, "currency": "EUR", "type": "integration", "stage": "negotiating",
               "nextFollowUpAt": "2026-01-01T00:00:00Z"}),
    )
    .await;
    let d = open["id"].as_str().unwrap().to_string();
    assert!(open["nextFollowUpAt"].as_str().is_some(), "a past time means the next tick");
    // Two executors at once, then another: one reminder for this due time.
    let (a, b) = tokio::join!(executor(&s, &owner), executor(&s, &owner));
    assert_eq!(
        a["followUpsFired"].as_u64().unwrap() + b["followUpsFired"].as_u64().unwrap(),
        1,
        "{a} {b}"
    );
    executor(&s, &owner).await;
    let cleared = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals/{d}"), &owner, None).await;
    assert_eq!(cleared["nextFollowUpAt"], Value::Null);
    let tasks_path = format!("/v1/orgs/{org}/tasks?type=sponsor_followup");
    let waiting = until(&s, &owner, &tasks_path, |t| {
        t["items"].as_array().unwrap().first().is_some_and(|t| t["approval"] == "awaiting")
    })
    .await;
    assert_eq!(waiting["items"].as_array().unwrap().len(), 1);
    let task = &waiting["items"][0];
    assert_eq!(task["output"]["to"], "dana@fizz.example");
    let text = task["output"]["text"].as_str().unwrap().to_string();
    assert_eq!(task["draft"]["text"], json!(text), "the approver reads the exact text");
    assert_eq!(
        s.mails_with("Follow up with Fizz: Summer tour").len(),
        1,
        "the owner is reminded once"
    );
    assert!(
        s.mails_with("Following up: Summer tour").is_empty(),
        "nothing goes to the sponsor before approval"
    );

    let t = task["id"].as_str().unwrap();
    ok(&s, Method::POST, &format!("/v1/orgs/{org}/tasks/{t}/approve"), &owner, None).await;
    for _ in 0..3 {
        executor(&s, &owner).await;
    }
    until(&s, &owner, &format!("/v1/orgs/{org}/tasks/{t}"), |t| t["status"] == "COMPLETED").await;
    let to_sponsor = s.mails_with("Following up: Summer tour");
    assert_eq!(to_sponsor.len(), 1, "sent once");
    assert!(to_sponsor[0].contains("dana@fizz.example"));
    let first_words: String = text.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert!(to_sponsor[0].contains(&first_words), "as approved: {}", to_sponsor[0]);
    let usage = ok(&s, Method::GET, &format!("/v1/orgs/{org}/usage"), &owner, None).await;
    assert_eq!(usage["emails"]["used"], 1, "the owner's reminder is not counted: {usage}");

    // A draft on request: one AI call, waiting for approval.
    let drafted = ok(&s, Method::POST, &format!("/v1/orgs/{org}/deals/{d}/follow-up"), &owner, None).await;
    assert_eq!(
        (&drafted["type"], &drafted["approval"]),
        (&json!("sponsor_followup"), &json!("awaiting"))
    );
    assert_eq!(drafted["output"]["subject"], "Following up: Summer tour");
}

#[tokio::test]
async fn every_deals_route_keeps_tenants_apart_members_off_admin_routes_and_bad_input_changes_nothing() {
    let s = start();
    let (owner, _) = s.signup("owner@ours.io").await;
    let (stranger, _) = s.signup("owner@other.io").await;
    let org = s.create_org(&owner, "Ours").await;
    let theirs = s.create_org(&stranger, "Other").await;
    let member = s.join(&owner, &org, "member@ours.io", "member").await;
    let sp = sponsor(&s, &owner, &org, "Fizz", "energy drinks").await;
    let their_sponsor = sponsor(&s, &stranger, &theirs, "Theirs", "snacks").await;
    let made = deal(
        &s,
        &owner,
        &org,
        json!({"sponsorId": sp, "title": "Ours", "value": 1_000, "currency": "EUR", "type": "gifted"}),
    )
    .await;
    let d = made["id"].as_str().unwrap().to_string();
    let deliverable = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/deals/{d}/deliverables"),
        &owner,
        Some(json!({"description": "A reel", "platform": "instagram", "dueDate": "2026-12-20"})),
    )
    .await;
    let dv = deliverable["id"].as_str().unwrap().to_string();
    let item = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/content"),
        &owner,
        Some(json!({"title": "Ours", "body": "Our words.", "kind": "article"})),
    )
    .await;
    let c = item["id"].as_str().unwrap().to_string();

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "sponsors".into(), None),
        (Method::POST, "sponsors".into(), Some(json!({"name": "Mine", "category": "x"}))),
        (Method::GET, format!("sponsors/{sp}"), None),
        (
            Method::PATCH,
            format!("sponsors/{sp}"),
            Some(json!({"name": "Taken", "version": 1})),
        ),
        (Method::DELETE, format!("sponsors/{sp}"), None),
        (Method::GET, "deals".into(), None),
        (
            Method::POST,
            "deals".into(),
            Some(json!({"sponsorId": sp, "title": "t", "value": 1, "currency": "EUR", "type": "gifted"})),
        ),
        (Method::GET, "deals/pipeline".into(), None),
        (Method::GET, format!("deals/{d}"), None),
        (Method::PATCH, format!("deals/{d}"), Some(json!({"title": "Taken", "version": 1}))),
        (Method::DELETE, format!("deals/{d}"), None),
        (Method::POST, format!("deals/{d}/stage"), Some(json!({"stage": "negotiating"}))),
        (Method::GET, format!("deals/{d}/activities"), None),
        (Method::GET, format!("deals/{d}/deliverables"), None),
        (
            Method::POST,
            format!("deals/{d}/deliverables"),
            Some(json!({"description": "x", "platform": "x", "dueDate": "2026-12-01"})),
        ),
        (
            Method::PATCH,
            format!("deals/{d}/deliverables/{dv}"),
            Some(json!({"description": "Taken", "version": 1})),
        ),
        (Method::DELETE, format!("deals/{d}/deliverables/{dv}"), None),
        (Method::POST, format!("deals/{d}/follow-up"), None),
        (Method::GET, "content".into(), None),
        (Method::POST, "content".into(), Some(json!({"title": "t", "kind": "other"}))),
        (Method::GET, format!("content/{c}"), None),
        (Method::PATCH, format!("content/{c}"), Some(json!({"title": "Taken", "version": 1}))),
        (Method::DELETE, format!("content/{c}"), None),
        (Method::POST, format!("content/{c}/repurpose"), Some(json!({"platforms": ["x"]}))),
    ];
    for (method, path, body) in &routes {
        let code = refused(
            &s,
            method.clone(),
            &format!("/v1/orgs/{org}/{path}"),
            Some(&stranger),
            body.clone(),
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(code, "NOT_FOUND", "{method} {path}");
        if path.contains('/') && !path.ends_with("pipeline") {
            let code = refused(
                &s,
                method.clone(),
                &format!("/v1/orgs/{theirs}/{path}"),
                Some(&stranger),
                body.clone(),
                StatusCode::NOT_FOUND,
            )
            .await;
            assert_eq!(code, "NOT_FOUND", "theirs: {method} {path}");
        }
    }
    // Their sponsor cannot carry our deal; our deal's deliverable cannot name their things.
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/deals"),
        Some(&owner),
        Some(json!({"sponsorId": their_sponsor, "title": "t", "value": 1, "currency": "EUR", "type": "gifted"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "VALIDATION_ERROR");

    // Members: no sponsor deletion, no deal of a colleague's to delete.
    for (method, path) in [(Method::DELETE, format!("sponsors/{sp}")), (Method::DELETE, format!("deals/{d}"))] {
        let code = refused(
            &s,
            method.clone(),
            &format!("/v1/orgs/{org}/{path}"),
            Some(&member),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(code, "FORBIDDEN", "{method} {path}");
    }

    // Bad input: 400 (409 for a backward move), and nothing changes.
    let before = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals/{d}"), &owner, None).await;
    let unknown = "01JD3Z5Q1T6N8WQ4S0F9V7C2XB";
    for (method, path, body) in [
        (
            Method::POST,
            "deals".to_string(),
            json!({"sponsorId": unknown, "title": "t", "value": 1, "currency": "EUR", "type": "gifted"}),
        ),
        (
            Method::POST,
            "deals".to_string(),
            json!({"sponsorId": sp, "title": "t", "value": -1, "currency": "EUR", "type": "gifted"}),
        ),
        (
            Method::POST,
            "deals".to_string(),
            json!({"sponsorId": sp, "title": "t", "value": 1, "currency": "EURO", "type": "gifted"}),
        ),
        (
            Method::POST,
            "deals".to_string(),
            json!({"sponsorId": sp, "title": "t", "value": 1, "currency": "XYZ", "type": "gifted"}),
        ),
        (
            Method::POST,
            "deals".to_string(),
            json!({"sponsorId": sp, "title": "t", "value": 1, "currency": "EUR", "type": "barter"}),
        ),
        (
            Method::POST,
            "deals".to_string(),
            json!({"sponsorId": sp, "title": "t", "value": 1.5, "currency": "EUR", "type": "gifted"}),
        ),
        (
            Method::POST,
            "deals".to_string(),
            json!({"sponsorId": sp, "title": "t", "value": 1, "currency": "EUR", "type": "gifted", "stage": "lost"}),
        ),
        (
            Method::POST,
            "deals".to_string(),
            json!({"sponsorId": sp, "title": "t", "value": 1, "currency": "EUR", "type": "gifted", "exclusivity": {"category": "x", "from": "2026-12-31", "to": "2026-01-01"}}),
        ),
        (Method::PATCH, format!("deals/{d}"), json!({"title": "no version"})),
        (Method::PATCH, format!("deals/{d}"), json!({"stage": "paid", "version": 1})),
        (Method::PATCH, format!("deals/{d}"), json!({"ownerId": unknown, "version": 1})),
        (
            Method::PATCH,
            format!("deals/{d}"),
            json!({"nextFollowUpAt": "tomorrow", "version": 1}),
        ),
        (Method::POST, format!("deals/{d}/stage"), json!({"stage": "won"})),
        (Method::POST, format!("deals/{d}/stage"), json!({"stage": "lost"})),
        (
            Method::POST,
            format!("deals/{d}/deliverables"),
            json!({"description": "x", "platform": "tiktok", "dueDate": "2026-12-01"}),
        ),
        (
            Method::POST,
            format!("deals/{d}/deliverables"),
            json!({"description": "x", "platform": "x", "dueDate": "soon"}),
        ),
        (
            Method::POST,
            format!("deals/{d}/deliverables"),
            json!({"description": "x", "platform": "x", "dueDate": "2026-12-01", "postId": unknown}),
        ),
        (Method::POST, "sponsors".to_string(), json!({"name": "no category"})),
        (
            Method::POST,
            "sponsors".to_string(),
            json!({"name": "x", "category": "y", "contacts": [{"name": "z", "email": "not-an-address"}]}),
        ),
        (Method::POST, "content".to_string(), json!({"title": "t", "kind": "movie"})),
        (Method::POST, format!("content/{c}/repurpose"), json!({"platforms": ["myspace"]})),
        (Method::POST, format!("content/{c}/repurpose"), json!({"platforms": []})),
    ] {
        let (status, answer) = s
            .call(
                method.clone(),
                &format!("/v1/orgs/{org}/{path}"),
                Some(&owner),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {answer}");
    }
    let (status, answer) = stage(&s, &owner, &org, &d, json!({"stage": "contracted"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = stage(&s, &owner, &org, &d, json!({"stage": "inquiry"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("INVALID_STAGE_CHANGE"))
    );
    let after = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals/{d}"), &owner, None).await;
    assert_eq!(
        after["version"],
        before["version"].as_u64().unwrap() + 1,
        "only the good move changed it"
    );
    let deals = ok(&s, Method::GET, &format!("/v1/orgs/{org}/deals"), &owner, None).await;
    assert_eq!(deals["items"].as_array().unwrap().len(), 1, "no bad deal was stored");
    let sponsors = ok(&s, Method::GET, &format!("/v1/orgs/{org}/sponsors"), &owner, None).await;
    assert_eq!(sponsors["items"].as_array().unwrap().len(), 1);
    // A sponsor with deals stays.
    let code = refused(
        &s,
        Method::DELETE,
        &format!("/v1/orgs/{org}/sponsors/{sp}"),
        Some(&owner),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "CONFLICT");
}
