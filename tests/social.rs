//! Real platforms end to end on `local`, pointed at a stand-in of X (`tests/support/
//! x_platform.rs`): connect by OAuth with PKCE through the callback, publish once, a revoked
//! account pauses its posts and asks to be reconnected, reconnecting resumes them; tokens
//! never show in an answer or an event; a state is spent once and is the org's own.

use chief_tests::linkedin_platform::{self, LinkedinPlatform};
use chief_tests::meta_platform::{self, MetaPlatform};
use chief_tests::x_platform::{CLIENT_ID, CLIENT_SECRET, Next, XPlatform};
use chief_tests::{Local, data, ok};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const APP: &str = "https://app.chief.test";

fn start(x: &XPlatform) -> Local {
    Local::start_logged(&[
        ("CHIEF_LOCAL_SCHEDULES", "off"),
        ("CHIEF_LOCAL_DEV_ROUTES", "on"),
        ("CHIEF_APP_URL", APP),
        ("CHIEF_X_BASE_URL", &x.base),
        ("CHIEF_X_CLIENT_ID", CLIENT_ID),
        ("CHIEF_X_CLIENT_SECRET", CLIENT_SECRET),
    ])
}

/// A client that shows redirects instead of following them, as a test of them needs.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::FOUND, "a redirect");
    response.headers()["location"].to_str().unwrap().to_string()
}

/// Connect → the stand-in's consent page → local's callback: where the browser lands.
async fn connect(s: &Local, token: &str, org: &str) -> String {
    let started = ok(s, Method::POST, &format!("/v1/orgs/{org}/social/connect/x"), token, None).await;
    let consent = started["authorizationUrl"].as_str().unwrap();
    assert!(consent.contains("code_challenge_method=S256"), "{consent}");
    assert!(started["state"].as_str().unwrap().len() >= 22, "at least 128 bits: {started}");
    let back = location(&browser().get(consent).send().await.unwrap());
    assert!(back.starts_with(&format!("{}/v1/social/callback/x?", s.base)), "{back}");
    let landed = location(&browser().get(&back).send().await.unwrap());
    // A replay of the same callback is refused and names no org.
    let replay = location(&browser().get(&back).send().await.unwrap());
    assert_eq!(replay, format!("{APP}/social?error=invalid_state"));
    landed
}

async fn settled(s: &Local, token: &str, org: &str, post: &str) -> Value {
    until(s, token, org, post, |p| {
        !["scheduled", "publishing"].contains(&p["status"].as_str().unwrap())
    })
    .await
}

async fn scheduled_now(s: &Local, token: &str, org: &str, account: &str, text: &str) -> String {
    let post = ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts"),
        token,
        Some(json!({"platform": "x", "text": text})),
    )
    .await;
    let id = post["id"].as_str().unwrap().to_string();
    ok(s, Method::POST, &format!("/v1/orgs/{org}/posts/{id}/approve"), token, None).await;
    let at = chrono::Utc::now().to_rfc3339();
    ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{id}/schedule"),
        token,
        Some(json!({"accountId": account, "at": at})),
    )
    .await;
    id
}

#[tokio::test]
async fn an_x_account_connects_by_oauth_publishes_once_pauses_when_revoked_and_resumes_when_reconnected() {
    let x = XPlatform::start().await;
    let s = start(&x);
    let (owner, _) = s.signup("owner@social.test").await;
    let org = s.create_org(&owner, "Social").await;
    let mut answers = Vec::new();

    let landed = connect(&s, &owner, &org).await;
    assert_eq!(landed, format!("{APP}/orgs/{org}/social?connected=x"));
    let accounts = ok(&s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), &owner, None).await;
    answers.push(accounts.to_string());
    let items = accounts["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{accounts}");
    assert_eq!(items[0]["platform"], "x");
    assert_eq!(items[0]["name"], "@chieftest");
    assert_eq!(items[0]["health"], "ok");
    let account = items[0]["id"].as_str().unwrap().to_string();

    // Published once, through the stand-in.
    let first = scheduled_now(&s, &owner, &org, &account, "Hello from Chief, for real this time").await;
    let done = settled(&s, &owner, &org, &first).await;
    answers.push(done.to_string());
    assert_eq!(done["status"], "published", "{done}");
    assert!(done["published"]["url"].as_str().unwrap().starts_with("https://x.com/"), "{done}");
    assert_eq!(x.tweets_with("Hello from Chief, for real this time"), 1);

    // A thread goes out part by part, each part a reply to the one before.
    let parts = [
        "1/3 A thread from Chief.",
        "2/3 Each part answers the one before.",
        "3/3 And that is all. #chief",
    ];
    let thread = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts"),
        &owner,
        Some(json!({"platform": "x", "text": parts[0], "thread": parts})),
    )
    .await;
    let thread_id = thread["id"].as_str().unwrap().to_string();
    ok(&s, Method::POST, &format!("/v1/orgs/{org}/posts/{thread_id}/approve"), &owner, None).await;
    let at = chrono::Utc::now().to_rfc3339();
    ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{thread_id}/schedule"),
        &owner,
        Some(json!({"accountId": account, "at": at})),
    )
    .await;
    let out = settled(&s, &owner, &org, &thread_id).await;
    assert_eq!(out["status"], "published", "{out}");
    let chain = x.thread_of(parts[0]);
    assert_eq!(chain.len(), 3, "{chain:?}");
    for (i, (text, _)) in chain.iter().enumerate() {
        assert_eq!(text, parts[i]);
    }
    assert_eq!(chain[0].1, None);
    assert!(chain[1].1.is_some() && chain[2].1.is_some(), "each later part replies: {chain:?}");

    // Revoked at X: the next post pauses, the account needs reauth, a reconnect task waits.
    x.revoke();
    let second = scheduled_now(&s, &owner, &org, &account, "A second post, after the revocation").await;
    let paused = settled(&s, &owner, &org, &second).await;
    answers.push(paused.to_string());
    assert_eq!(paused["status"], "paused", "{paused}");
    asks_to_reconnect_once(&s, &owner, &org).await;

    // Reconnected: the same account, healthy, and its paused post goes out.
    let landed = connect(&s, &owner, &org).await;
    assert_eq!(landed, format!("{APP}/orgs/{org}/social?connected=x"));
    let accounts = ok(&s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), &owner, None).await;
    answers.push(accounts.to_string());
    assert_eq!(
        accounts["items"].as_array().unwrap().len(),
        1,
        "the same account, renewed: {accounts}"
    );
    assert_eq!(accounts["items"][0]["health"], "ok");
    let resumed = settled(&s, &owner, &org, &second).await;
    answers.push(resumed.to_string());
    assert_eq!(resumed["status"], "published", "{resumed}");
    assert_eq!(x.tweets_with("A second post, after the revocation"), 1);

    // No token X handed out shows in any answer, event or log line (logged down to debug).
    let events = ok(&s, Method::GET, &format!("/local/orgs/{org}/events"), &owner, None).await;
    assert!(events.to_string().contains("post.published"), "{events}");
    answers.push(events.to_string());
    let log = s.log();
    assert!(log.contains("accounts connected"), "the log was written: {log}");
    answers.push(log);
    let handed_out = x.tokens_handed_out();
    assert!(handed_out.len() >= 4, "{handed_out:?}");
    for token in handed_out {
        for answer in &answers {
            assert!(!answer.contains(&token), "a token in an answer: {answer}");
        }
    }
    assert!(x.requests().iter().any(|r| r == "POST /2/oauth2/token"), "{:?}", x.requests());
}

#[tokio::test]
async fn a_state_from_one_org_used_by_another_changes_nothing_and_unconfigured_platforms_say_what_to_set() {
    let x = XPlatform::start().await;
    let s = start(&x);
    let (owner, _) = s.signup("a@social.test").await;
    let org_a = s.create_org(&owner, "A").await;
    let (other, _) = s.signup("b@social.test").await;
    let org_b = s.create_org(&other, "B").await;

    // A starts a connection; B starts one and consents. B's code brought back with A's state
    // is refused by X (the code was issued for B's PKCE challenge): A's page is told, and
    // neither org gets an account.
    let started_a = ok(&s, Method::POST, &format!("/v1/orgs/{org_a}/social/connect/x"), &owner, None).await;
    let started_b = ok(&s, Method::POST, &format!("/v1/orgs/{org_b}/social/connect/x"), &other, None).await;
    let back = location(&browser().get(started_b["authorizationUrl"].as_str().unwrap()).send().await.unwrap());
    let crossed = back.replace(started_b["state"].as_str().unwrap(), started_a["state"].as_str().unwrap());
    let landed = location(&browser().get(&crossed).send().await.unwrap());
    assert_eq!(landed, format!("{APP}/orgs/{org_a}/social?error=exchange_failed"));
    // A made-up state, and B's state at another platform's callback, are refused too.
    let forged = back.replace(started_b["state"].as_str().unwrap(), "A-made-up-state-of-a-decent-length");
    assert_eq!(
        location(&browser().get(&forged).send().await.unwrap()),
        format!("{APP}/social?error=invalid_state")
    );
    let elsewhere = back.replace("/callback/x?", "/callback/linkedin?");
    assert_eq!(
        location(&browser().get(&elsewhere).send().await.unwrap()),
        format!("{APP}/social?error=invalid_state")
    );
    // The user says no at the consent page: the org's page is told, with its state spent.
    let started = ok(&s, Method::POST, &format!("/v1/orgs/{org_a}/social/connect/x"), &owner, None).await;
    let state = started["state"].as_str().unwrap();
    let declined = format!("{}/v1/social/callback/x?error=access_denied&state={state}", s.base);
    assert_eq!(
        location(&browser().get(&declined).send().await.unwrap()),
        format!("{APP}/orgs/{org_a}/social?error=denied")
    );
    assert_eq!(
        location(&browser().get(&declined).send().await.unwrap()),
        format!("{APP}/social?error=invalid_state")
    );
    // A state older than 10 minutes is refused.
    let started = ok(&s, Method::POST, &format!("/v1/orgs/{org_a}/social/connect/x"), &owner, None).await;
    let back = location(&browser().get(started["authorizationUrl"].as_str().unwrap()).send().await.unwrap());
    ok(&s, Method::POST, "/local/clock?advanceMinutes=11", &owner, None).await;
    assert_eq!(
        location(&browser().get(&back).send().await.unwrap()),
        format!("{APP}/social?error=invalid_state")
    );
    for (org, token) in [(&org_a, &owner), (&org_b, &other)] {
        let accounts = ok(&s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), token, None).await;
        assert_eq!(accounts["items"].as_array().unwrap().len(), 0, "{accounts}");
    }
    // A stranger cannot start a connection for B.
    let (status, _) = s
        .call(Method::POST, &format!("/v1/orgs/{org_b}/social/connect/x"), Some(&owner), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A member of B is not an admin (403); a platform that does not connect is 400.
    let member = s.join(&other, &org_b, "member@social.test", "member").await;
    let (status, _) = s
        .call(Method::POST, &format!("/v1/orgs/{org_b}/social/connect/x"), Some(&member), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/v1/orgs/{org_b}/social/connect/myspace"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")),
        "{body}"
    );
    // LinkedIn has no app here: 503 naming what to set.
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/v1/orgs/{org_a}/social/connect/linkedin"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "PLATFORM_NOT_CONFIGURED");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("CHIEF_LINKEDIN_CLIENT_ID"),
        "{body}"
    );
}

/// Polls the post until `done` says so, ticking the executor now and then.
async fn until(s: &Local, token: &str, org: &str, post: &str, done: impl Fn(&Value) -> bool) -> Value {
    for i in 0..400 {
        let now = ok(s, Method::GET, &format!("/v1/orgs/{org}/posts/{post}"), token, None).await;
        if done(&now) {
            return now;
        }
        if i % 5 == 0 {
            ok(s, Method::POST, "/local/executor/run", token, None).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = ok(s, Method::GET, &format!("/v1/orgs/{org}/posts/{post}"), token, None).await;
    panic!("post {post} never got there: {last}");
}

/// A post through `account` after the platform revoked it: paused, and the account needs
/// reconnecting; answers the post's id and the accounts as listed then.
async fn paused_by_revocation(s: &Local, token: &str, org: &str, account: &str, body: Value) -> (String, Value) {
    let post = scheduled_on(s, token, org, account, body).await;
    assert_eq!(settled(s, token, org, &post).await["status"], "paused");
    let accounts = ok(s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), token, None).await;
    let revoked = account_by_id(&accounts, account);
    assert_eq!(revoked["health"], "needs_reauth", "{revoked}");
    (post, accounts)
}

/// The org's one account needs reconnecting, and one `reconnect_account` task says so.
async fn asks_to_reconnect_once(s: &Local, token: &str, org: &str) {
    let accounts = ok(s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), token, None).await;
    assert_eq!(accounts["items"][0]["health"], "needs_reauth", "{accounts}");
    let tasks = ok(s, Method::GET, &format!("/v1/orgs/{org}/tasks?type=reconnect_account"), token, None).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1, "{tasks}");
}

/// One account of a listing, by its id.
fn account_by_id(accounts: &Value, id: &str) -> Value {
    accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap()
        .clone()
}

/// Moves local's clock on by `minutes` and signs in again (the old token's clock moved too).
async fn later(s: &Local, token: &str, email: &str, minutes: i64) -> String {
    ok(s, Method::POST, &format!("/local/clock?advanceMinutes={minutes}"), token, None).await;
    s.login(email).await
}

#[tokio::test]
async fn x_rate_limits_server_errors_dropped_answers_and_duplicates_each_end_in_one_tweet_and_tokens_are_renewed() {
    let x = XPlatform::start().await;
    let s = start(&x);
    let email = "ops@social.test";
    let (mut owner, _) = s.signup(email).await;
    let org = s.create_org(&owner, "Ops").await;
    connect(&s, &owner, &org).await;
    let accounts = ok(&s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), &owner, None).await;
    let account = accounts["items"][0]["id"].as_str().unwrap().to_string();

    // 429: back on the calendar at X's reset, then out once.
    let reset = chrono::Utc::now().timestamp() + 90;
    x.next(Next::RateLimited(reset));
    let text = "Paced by X's rate limit";
    let post = scheduled_now(&s, &owner, &org, &account, text).await;
    let waiting = until(&s, &owner, &org, &post, |p| {
        p["error"].as_str().is_some_and(|e| e.contains("rate limiting"))
    })
    .await;
    assert_eq!(waiting["status"], "scheduled", "{waiting}");
    let retry_at = chrono::DateTime::parse_from_rfc3339(waiting["nextAttemptAt"].as_str().unwrap()).unwrap();
    assert_eq!(retry_at.timestamp(), reset, "retried at x-rate-limit-reset: {waiting}");
    owner = later(&s, &owner, email, 3).await;
    assert_eq!(settled(&s, &owner, &org, &post).await["status"], "published");
    assert_eq!(x.tweets_with(text), 1);

    // 503, and a tweet made whose answer never came: both checked before any retry.
    for (next, text) in [
        (Next::ServerError, "Sent through a 503"),
        (Next::AcceptThenDrop, "Made, then the line dropped"),
    ] {
        x.next(next);
        let post = scheduled_now(&s, &owner, &org, &account, text).await;
        let checking = until(&s, &owner, &org, &post, |p| p["error"].as_str().is_some()).await;
        assert_eq!(checking["status"], "scheduled", "{checking}");
        owner = later(&s, &owner, email, 2).await;
        let done = settled(&s, &owner, &org, &post).await;
        assert_eq!(done["status"], "published", "{done}");
        assert_eq!(x.tweets_with(text), 1, "{next:?}: one tweet, never two");
    }

    // The same words again: X refuses a duplicate, the lookup finds the tweet, no second one.
    let again = scheduled_now(&s, &owner, &org, &account, "Paced by X's rate limit").await;
    let done = settled(&s, &owner, &org, &again).await;
    assert_eq!(done["status"], "published", "{done}");
    assert_eq!(x.tweets_with("Paced by X's rate limit"), 1);

    // Figures: X's public_metrics under their own names.
    let measured = ok(&s, Method::POST, "/local/jobs/job-analytics/run", &owner, None).await;
    assert!(measured["postsMeasured"].as_u64().unwrap() >= 4, "{measured}");
    let figures = ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{post}/analytics"), &owner, None).await;
    assert_eq!(figures["metrics"]["source"], "x", "{figures}");
    assert_eq!(figures["metrics"]["impressions"], 480);
    assert_eq!(figures["metrics"]["platformMetrics"]["like_count"], 11);

    // Three hours on, the two-hour token has ended: it is refreshed before the post goes out.
    let before = x.tokens_handed_out().len();
    owner = later(&s, &owner, email, 180).await;
    let fresh = scheduled_now(&s, &owner, &org, &account, "After the token ended").await;
    assert_eq!(settled(&s, &owner, &org, &fresh).await["status"], "published");
    assert_eq!(x.tokens_handed_out().len(), before + 2, "refreshed on use");

    // The six-hourly job renews X's two-hour token (its refresh token rotates) …
    let before = x.tokens_handed_out().len();
    let renewed = ok(&s, Method::POST, "/local/jobs/job-token-refresh/run", &owner, None).await;
    assert_eq!(renewed["refreshed"], 1, "{renewed}");
    assert_eq!(x.tokens_handed_out().len(), before + 2);
    // … and a refused refresh asks the admins to reconnect, once.
    x.revoke();
    for _ in 0..2 {
        ok(&s, Method::POST, "/local/jobs/job-token-refresh/run", &owner, None).await;
    }
    asks_to_reconnect_once(&s, &owner, &org).await;
    let mails: Vec<String> = std::fs::read_dir(s.data.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| m.contains("Reconnect @chieftest"))
        .collect();
    assert_eq!(mails.len(), 1, "one mail to the one admin");
}

fn start_linkedin(li: &LinkedinPlatform, version: &str) -> Local {
    Local::start_with(&[
        ("CHIEF_LOCAL_SCHEDULES", "off"),
        ("CHIEF_LOCAL_DEV_ROUTES", "on"),
        ("CHIEF_APP_URL", APP),
        ("CHIEF_LINKEDIN_BASE_URL", &li.base),
        ("CHIEF_LINKEDIN_CLIENT_ID", linkedin_platform::CLIENT_ID),
        ("CHIEF_LINKEDIN_CLIENT_SECRET", linkedin_platform::CLIENT_SECRET),
        ("CHIEF_LINKEDIN_VERSION", version),
    ])
}

/// Connect LinkedIn through the stand-in's consent page: the accounts, by kind.
async fn connect_linkedin(s: &Local, token: &str, org: &str) -> Vec<Value> {
    let started = ok(s, Method::POST, &format!("/v1/orgs/{org}/social/connect/linkedin"), token, None).await;
    let consent = started["authorizationUrl"].as_str().unwrap();
    assert!(!consent.contains("code_challenge"), "{consent}");
    let back = location(&browser().get(consent).send().await.unwrap());
    let landed = location(&browser().get(&back).send().await.unwrap());
    assert_eq!(landed, format!("{APP}/orgs/{org}/social?connected=linkedin"));
    let accounts = ok(s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), token, None).await;
    accounts["items"].as_array().unwrap().clone()
}

/// A post made from `body` (`platform`, `text`, and any of `hashtags`, `mediaUrls`),
/// approved and scheduled for now through `account`, answering its id.
async fn scheduled_on(s: &Local, token: &str, org: &str, account: &str, body: Value) -> String {
    let post = ok(s, Method::POST, &format!("/v1/orgs/{org}/posts"), token, Some(body)).await;
    let id = post["id"].as_str().unwrap().to_string();
    ok(s, Method::POST, &format!("/v1/orgs/{org}/posts/{id}/approve"), token, None).await;
    ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts/{id}/schedule"),
        token,
        Some(json!({"accountId": account, "at": chrono::Utc::now().to_rfc3339()})),
    )
    .await;
    id
}

#[tokio::test]
async fn linkedin_connects_the_member_and_their_page_posts_escaped_text_once_measures_it_and_warns_before_the_grant_ends() {
    let li = LinkedinPlatform::start().await;
    let s = start_linkedin(&li, linkedin_platform::VERSION);
    let email = "li@social.test";
    let (mut owner, _) = s.signup(email).await;
    let org = s.create_org(&owner, "LinkedIn").await;
    let accounts = connect_linkedin(&s, &owner, &org).await;
    let kinds: Vec<(&str, &str)> = accounts
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("member", "Ada Chief")) && kinds.contains(&("organization", "Chief Test Co")),
        "{kinds:?}"
    );
    let page = accounts.iter().find(|a| a["kind"] == "organization").unwrap();
    assert_eq!(page["externalId"], linkedin_platform::PAGE);
    let page_id = page["id"].as_str().unwrap().to_string();

    // Markup characters are escaped on the way out, so LinkedIn keeps the whole text.
    let text = "Launch (beta) @ 50% off: *today* only_ [ask] <us> ~ {now} | yes";
    let post = scheduled_on(
        &s,
        &owner,
        &org,
        &page_id,
        json!({"platform": "linkedin", "text": text, "hashtags": ["spring_sale"]}),
    )
    .await;
    let done = settled(&s, &owner, &org, &post).await;
    assert_eq!(done["status"], "published", "{done}");
    let urn = done["published"]["externalId"].as_str().unwrap().to_string();
    assert!(urn.starts_with("urn:li:share:"), "{done}");
    assert_eq!(done["published"]["url"], format!("https://www.linkedin.com/feed/update/{urn}"));
    let stored = li.posts_by(linkedin_platform::PAGE);
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].starts_with("Launch \\(beta\\) \\@ 50% off: \\*today\\* only\\_"),
        "{}",
        stored[0]
    );

    // The same words again: LinkedIn names the post it duplicates, and that is this one.
    let again = scheduled_on(
        &s,
        &owner,
        &org,
        &page_id,
        json!({"platform": "linkedin", "text": text, "hashtags": ["spring_sale"]}),
    )
    .await;
    let found = settled(&s, &owner, &org, &again).await;
    assert_eq!(found["status"], "published", "{found}");
    assert_eq!(found["published"]["externalId"], urn.as_str());
    assert_eq!(li.posts_by(linkedin_platform::PAGE).len(), 1, "not posted twice");

    // The Page's share statistics, under LinkedIn's names.
    ok(&s, Method::POST, "/local/jobs/job-analytics/run", &owner, None).await;
    let figures = ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{post}/analytics"), &owner, None).await;
    assert_eq!(figures["metrics"]["impressions"], 900, "{figures}");
    assert_eq!(figures["metrics"]["clicks"], 25);
    assert_eq!(figures["metrics"]["platformMetrics"]["likeCount"], 40);

    // Revoked: with no refresh token to try, the post pauses and the Page needs reconnecting;
    // reconnecting renews it and the post goes out.
    li.revoke();
    let text = "After the revocation";
    let (paused, accounts) = paused_by_revocation(&s, &owner, &org, &page_id, json!({"platform": "linkedin", "text": text})).await;
    connect_linkedin(&s, &owner, &org).await;
    assert_eq!(settled(&s, &owner, &org, &paused).await["status"], "published");
    assert_eq!(
        li.posts_by(linkedin_platform::PAGE).iter().filter(|c| c.as_str() == text).count(),
        1
    );
    let answers = accounts.to_string() + &found.to_string();
    for token in li.tokens_handed_out() {
        assert!(!answers.contains(&token));
    }

    // No refresh token: a week before the 60 days end, both accounts show `expiring`.
    let job = ok(&s, Method::POST, "/local/jobs/job-token-refresh/run", &owner, None).await;
    assert_eq!((job["refreshed"].as_u64(), job["expiring"].as_u64()), (Some(0), Some(0)), "{job}");
    owner = later(&s, &owner, email, 54 * 24 * 60).await;
    let job = ok(&s, Method::POST, "/local/jobs/job-token-refresh/run", &owner, None).await;
    assert_eq!(job["expiring"], 2, "{job}");
    let accounts = ok(&s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), &owner, None).await;
    assert!(
        accounts["items"].as_array().unwrap().iter().all(|a| a["health"] == "expiring"),
        "{accounts}"
    );
}

#[tokio::test]
async fn a_linkedin_version_the_platform_no_longer_serves_fails_the_post_naming_the_setting_and_shows_on_health() {
    let li = LinkedinPlatform::start().await;
    let s = start_linkedin(&li, "202401");
    let (owner, _) = s.signup("old@social.test").await;
    let org = s.create_org(&owner, "Old").await;
    // The member connects (userinfo is not versioned); the Pages lookup is refused with 426.
    let accounts = connect_linkedin(&s, &owner, &org).await;
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let member = accounts[0]["id"].as_str().unwrap().to_string();
    let post = scheduled_on(
        &s,
        &owner,
        &org,
        &member,
        json!({"platform": "linkedin", "text": "Sent with an old version"}),
    )
    .await;
    let failed = settled(&s, &owner, &org, &post).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("CHIEF_LINKEDIN_VERSION"), "{failed}");
    let (status, health) = s.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    let linkedin = &data(&health)["checks"]["platforms"]["linkedin"];
    assert_eq!(linkedin["version"], "202401");
    assert_eq!(linkedin["ok"], false, "{linkedin}");
    assert!(linkedin["error"].as_str().unwrap().contains("426"), "{linkedin}");
    assert!(linkedin["ageDays"].as_i64().unwrap() > 365);
    assert_eq!(data(&health)["status"], "degraded");
}

/// Connect a Meta platform (`facebook` or `instagram`) through the stand-in's dialog.
async fn connect_meta(s: &Local, token: &str, org: &str, platform: &str) -> Value {
    let started = ok(s, Method::POST, &format!("/v1/orgs/{org}/social/connect/{platform}"), token, None).await;
    let consent = started["authorizationUrl"].as_str().unwrap();
    assert!(consent.contains("/v24.0/dialog/oauth?"), "{consent}");
    let back = location(&browser().get(consent).send().await.unwrap());
    let landed = location(&browser().get(&back).send().await.unwrap());
    assert_eq!(landed, format!("{APP}/orgs/{org}/social?connected={platform}"));
    let accounts = ok(s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), token, None).await;
    accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform"] == platform)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn facebook_pages_and_instagram_business_accounts_connect_publish_once_and_report_figures_only_when_there_are_some() {
    let meta = MetaPlatform::start().await;
    let s = Local::start_with(&[
        ("CHIEF_LOCAL_SCHEDULES", "off"),
        ("CHIEF_LOCAL_DEV_ROUTES", "on"),
        ("CHIEF_APP_URL", APP),
        ("CHIEF_META_BASE_URL", &meta.base),
        ("CHIEF_META_APP_ID", meta_platform::APP_ID),
        ("CHIEF_META_APP_SECRET", meta_platform::APP_SECRET),
    ]);
    let email = "meta@social.test";
    let (mut owner, _) = s.signup(email).await;
    let org = s.create_org(&owner, "Bakery").await;

    let page = connect_meta(&s, &owner, &org, "facebook").await;
    assert_eq!(
        (page["name"].as_str(), page["kind"].as_str()),
        (Some("Chief Bakery"), Some("page")),
        "{page}"
    );
    assert!(page["authorizationEndsAt"].is_string(), "the user's grant ends: {page}");
    let accounts = ok(&s, Method::GET, &format!("/v1/orgs/{org}/social/accounts"), &owner, None).await;
    assert_eq!(
        accounts["items"].as_array().unwrap().len(),
        1,
        "connecting Facebook adds the Page only: {accounts}"
    );
    let gram = connect_meta(&s, &owner, &org, "instagram").await;
    assert_eq!(
        (gram["name"].as_str(), gram["kind"].as_str()),
        (Some("@chiefbakery"), Some("instagram_business"))
    );
    let (page_id, gram_id) = (page["id"].as_str().unwrap().to_string(), gram["id"].as_str().unwrap().to_string());

    // A Page post, then the same words again: Meta's 506, found, not posted twice.
    let text = "Fresh sourdough at seven";
    let post = scheduled_on(&s, &owner, &org, &page_id, json!({"platform": "facebook", "text": text})).await;
    let done = settled(&s, &owner, &org, &post).await;
    assert_eq!(done["status"], "published", "{done}");
    let id = done["published"]["externalId"].as_str().unwrap().to_string();
    assert_eq!(done["published"]["url"], format!("https://www.facebook.com/{id}"));
    let again = scheduled_on(&s, &owner, &org, &page_id, json!({"platform": "facebook", "text": text})).await;
    assert_eq!(settled(&s, &owner, &org, &again).await["published"]["externalId"], id.as_str());
    assert_eq!(meta.page_posts_with(text), 1);

    // Throttled (code 32): back on the calendar for the time Meta names, then out.
    meta.throttle_once();
    let paced = scheduled_on(
        &s,
        &owner,
        &org,
        &page_id,
        json!({"platform": "facebook", "text": "Rye on Thursdays"}),
    )
    .await;
    let waiting = until(&s, &owner, &org, &paced, |p| {
        p["error"].as_str().is_some_and(|e| e.contains("rate limiting"))
    })
    .await;
    assert_eq!(waiting["status"], "scheduled", "{waiting}");
    owner = later(&s, &owner, email, 4).await;
    assert_eq!(settled(&s, &owner, &org, &paced).await["status"], "published");
    assert_eq!(meta.page_posts_with("Rye on Thursdays"), 1);

    // Instagram: no image, no post (400 MEDIA_REQUIRED at approval and at scheduling).
    let bare = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/posts"),
        &owner,
        Some(json!({"platform": "instagram", "text": "No picture"})),
    )
    .await;
    let bare = bare["id"].as_str().unwrap();
    for step in ["approve", "schedule"] {
        let body = (step == "schedule").then(|| json!({"accountId": gram_id, "at": chrono::Utc::now().to_rfc3339()}).to_string());
        let (status, answer) = s
            .call(
                Method::POST,
                &format!("/v1/orgs/{org}/posts/{bare}/{step}"),
                Some(&owner),
                body.as_deref(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{step}: {answer}");
        assert_eq!(answer["error"]["code"], "MEDIA_REQUIRED", "{step}: {answer}");
    }
    // With an image: a container, checked until FINISHED, then media_publish.
    let caption = "Croissants, laminated by hand";
    let photo = scheduled_on(
        &s,
        &owner,
        &org,
        &gram_id,
        json!({"platform": "instagram", "text": caption, "mediaUrls": ["https://images.example/croissant.jpg"]}),
    )
    .await;
    let out = settled(&s, &owner, &org, &photo).await;
    assert_eq!(out["status"], "published", "{out}");
    assert!(
        out["published"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://www.instagram.com/p/"),
        "{out}"
    );
    assert_eq!(meta.instagram_media_with(caption), 1);
    assert!(meta.container_checks()[0] >= 2, "checked while IN_PROGRESS, then FINISHED");
    // An image Instagram cannot fetch: the container ends in ERROR and the post fails.
    let broken = scheduled_on(
        &s,
        &owner,
        &org,
        &gram_id,
        json!({"platform": "instagram", "text": "A broken picture", "mediaUrls": [meta_platform::BROKEN_IMAGE]}),
    )
    .await;
    let failed = settled(&s, &owner, &org, &broken).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    // Figures: the Page's now; Instagram's are "not available" (empty) until they are.
    let first = ok(&s, Method::POST, "/local/jobs/job-analytics/run", &owner, None).await;
    assert!(first["postsSkipped"].as_u64().unwrap() >= 1, "{first}");
    let figures = ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{post}/analytics"), &owner, None).await;
    assert_eq!(
        (figures["metrics"]["impressions"].as_u64(), figures["metrics"]["reactions"].as_u64()),
        (Some(321), Some(15)),
        "{figures}"
    );
    let none_yet = ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{photo}/analytics"), &owner, None).await;
    assert!(none_yet["metrics"].is_null(), "an empty answer is not zeros: {none_yet}");
    meta.instagram_figures_ready();
    ok(&s, Method::POST, "/local/jobs/job-analytics/run", &owner, None).await;
    let now_there = ok(&s, Method::GET, &format!("/v1/orgs/{org}/posts/{photo}/analytics"), &owner, None).await;
    assert_eq!(now_there["metrics"]["impressions"], 640, "{now_there}");
    assert_eq!(now_there["metrics"]["platformMetrics"]["saved"], 7);

    // Revoked (code 190): no refresh for Meta, so the Page needs reconnecting at once.
    meta.revoke();
    let (_, accounts) = paused_by_revocation(
        &s,
        &owner,
        &org,
        &page_id,
        json!({"platform": "facebook", "text": "After the password change"}),
    )
    .await;
    let answers = format!("{accounts}{done}{out}{now_there}");
    for token in meta.tokens_handed_out() {
        assert!(!answers.contains(&token), "{token}");
    }
}
