//! Client success end to end on `local` (offline AI, SQLite store and queue, the analysis
//! queue drained in process): clients, interactions read for sentiment, health and its
//! history, surveys answered by public link, alerts and their mail, the daily recompute, the
//! active-client bound, and every route across tenants and with bad input.

use chief_tests::{Local, data, ok, refused, until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn start() -> Local {
    Local::start_with(&[("CHIEF_LOCAL_SCHEDULES", "off"), ("CHIEF_LOCAL_DEV_ROUTES", "on")])
}

async fn new_client(s: &Local, token: &str, org: &str, body: Value) -> Value {
    ok(s, Method::POST, &format!("/v1/orgs/{org}/clients"), token, Some(body)).await
}

async fn log(s: &Local, token: &str, org: &str, client: &str, text: &str) -> Value {
    let body = json!({"channel": "email", "direction": "inbound", "text": text});
    let logged = ok(
        s,
        Method::POST,
        &format!("/v1/orgs/{org}/clients/{client}/interactions"),
        token,
        Some(body),
    )
    .await;
    assert_eq!(logged["analysis"], "pending");
    logged
}

/// Waits until every interaction of the client is read (the local drain runs job-analyze),
/// answering the client.
async fn analysed(s: &Local, token: &str, org: &str, client: &str) -> Value {
    for _ in 0..200 {
        let list = ok(
            s,
            Method::GET,
            &format!("/v1/orgs/{org}/clients/{client}/interactions"),
            token,
            None,
        )
        .await;
        if list["items"].as_array().unwrap().iter().all(|i| i["analysis"] != "pending") {
            return ok(s, Method::GET, &format!("/v1/orgs/{org}/clients/{client}"), token, None).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the interactions of {client} were not analysed");
}

fn factor<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["factors"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()
}

fn score(client: &Value) -> i64 {
    client["health"]["score"].as_i64().unwrap_or_else(|| panic!("no score: {client}"))
}

#[tokio::test]
async fn a_clients_life_with_filters_pages_versions_and_the_active_bound_on_free() {
    let s = start();
    let (owner, _) = s.signup("owner@pulse.io").await;
    let org = s.create_org(&owner, "Pulse").await;
    let base = format!("/v1/orgs/{org}/clients");
    let made = new_client(
        &s,
        &owner,
        &org,
        json!({"name": "Acme", "company": "Acme Ltd", "email": "Ops@Acme.io", "contractValue": 12000, "currency": "eur",
               "renewalDate": "2027-06-30", "stage": "active", "tags": ["VIP", "vip", "retail"]}),
    )
    .await;
    assert_eq!(
        (&made["email"], &made["currency"], &made["tags"], &made["version"]),
        (&json!("ops@acme.io"), &json!("EUR"), &json!(["vip", "retail"]), &json!(1))
    );
    // A renewal date is evidence: a score from it (and the stage), far off and so no risk.
    assert_eq!(made["health"]["band"], "healthy", "{made}");
    let bare = new_client(&s, &owner, &org, json!({"name": "Bare"})).await;
    assert_eq!(
        (&bare["health"]["score"], &bare["health"]["band"], &bare["health"]["trend"]),
        (&Value::Null, &json!("unknown"), &Value::Null),
        "its stage alone is not evidence"
    );
    let id = made["id"].as_str().unwrap();

    let changed = ok(
        &s,
        Method::PATCH,
        &format!("{base}/{id}"),
        &owner,
        Some(json!({"stage": "renewal", "company": null, "version": 1})),
    )
    .await;
    assert_eq!(
        (&changed["stage"], &changed["company"], &changed["version"]),
        (&json!("renewal"), &Value::Null, &json!(2))
    );
    let code = refused(
        &s,
        Method::PATCH,
        &format!("{base}/{id}"),
        Some(&owner),
        Some(json!({"name": "Stale", "version": 1})),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "VERSION_CONFLICT");

    let vip = ok(&s, Method::GET, &format!("{base}?tag=VIP"), &owner, None).await;
    assert_eq!(vip["items"].as_array().unwrap().len(), 1);
    let unknown = ok(&s, Method::GET, &format!("{base}?band=unknown"), &owner, None).await;
    assert_eq!(unknown["items"][0]["name"], "Bare");
    let renewal = ok(&s, Method::GET, &format!("{base}?stage=renewal"), &owner, None).await;
    assert_eq!(renewal["items"][0]["id"], id);
    let first = ok(&s, Method::GET, &format!("{base}?limit=1"), &owner, None).await;
    assert_eq!(first["items"][0]["name"], "Bare", "newest first");
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = ok(&s, Method::GET, &format!("{base}?limit=1&cursor={cursor}"), &owner, None).await;
    assert_eq!(second["items"][0]["name"], "Acme");

    // Free allows 25 active clients: two are, 23 more fill it, the next is 402 and not stored.
    for i in 0..23 {
        new_client(&s, &owner, &org, json!({"name": format!("Client {i}")})).await;
    }
    let code = refused(
        &s,
        Method::POST,
        &base,
        Some(&owner),
        Some(json!({"name": "26th"})),
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert_eq!(code, "QUOTA_EXCEEDED");
    let churned = new_client(&s, &owner, &org, json!({"name": "Gone", "stage": "churned"})).await;
    let all = ok(&s, Method::GET, &format!("{base}?limit=100"), &owner, None).await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        26,
        "the 26th active was not stored; a churned one was"
    );
    // Churning one frees a place; un-churning past the bound is 402.
    let code = refused(
        &s,
        Method::PATCH,
        &format!("{base}/{}", churned["id"].as_str().unwrap()),
        Some(&owner),
        Some(json!({"stage": "active", "version": 1})),
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert_eq!(code, "QUOTA_EXCEEDED");
    ok(
        &s,
        Method::DELETE,
        &format!("{base}/{}", bare["id"].as_str().unwrap()),
        &owner,
        None,
    )
    .await;
    new_client(&s, &owner, &org, json!({"name": "Now there is room"})).await;
    let (status, _) = s.get(&format!("{base}/{}", bare["id"].as_str().unwrap()), &owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sentiment_moves_health_both_ways_a_band_crossing_alerts_once_and_the_daily_recompute_lowers_silence() {
    let s = start();
    let (owner, _) = s.signup("owner@care.io").await;
    let org = s.create_org(&owner, "Care").await;
    let happy = new_client(&s, &owner, &org, json!({"name": "Happy", "stage": "active"})).await;
    let id = happy["id"].as_str().unwrap().to_string();
    log(&s, &owner, &org, &id, "We love the reports, great work, thanks!").await;
    let praised = analysed(&s, &owner, &org, &id).await;
    assert_eq!(praised["health"]["band"], "healthy", "{praised}");
    let read = ok(&s, Method::GET, &format!("/v1/orgs/{org}/clients/{id}/interactions"), &owner, None).await;
    let first = &read["items"][0];
    assert_eq!(
        (first["analysis"].as_str(), first["provider"].as_str()),
        (Some("done"), Some("offline"))
    );
    assert_eq!(first["sentiment"]["label"], "positive");
    assert!(first["emotions"]["joy"].as_f64().unwrap() > 0.5, "{first}");

    // The factors explain the score: missing ones left out, the points adding up.
    let health = ok(&s, Method::GET, &format!("/v1/orgs/{org}/clients/{id}/health"), &owner, None).await;
    let factors = health["factors"].as_array().unwrap();
    let points: f64 = factors.iter().map(|f| f["points"].as_f64().unwrap()).sum();
    assert!((points - health["score"].as_f64().unwrap()).abs() <= 0.6, "{health}");
    for missing in ["nps", "tickets", "renewal"] {
        let f = factor(&health, missing);
        assert_eq!((&f["value"], &f["appliedWeight"]), (&Value::Null, &json!(0.0)), "{f}");
    }

    for text in [
        "This is unacceptable, I am furious.",
        "Terrible and broken, we are angry.",
        "Awful: we want to cancel.",
    ] {
        log(&s, &owner, &org, &id, text).await;
    }
    let angry = analysed(&s, &owner, &org, &id).await;
    assert!(score(&angry) < score(&praised), "{} → {}", score(&praised), score(&angry));
    assert_eq!(angry["health"]["band"], "at_risk", "{angry}");
    let alerts = ok(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/alerts?status=open&clientId={id}"),
        &owner,
        None,
    )
    .await;
    let worsened: Vec<&Value> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["reason"] == "band_worsened")
        .collect();
    assert_eq!(worsened.len(), 1, "{alerts}");
    assert_eq!(
        s.mails_with("Happy moved from healthy to at_risk").len(),
        1,
        "one mail, to the org's owner"
    );
    let events = ok(&s, Method::GET, &format!("/local/orgs/{org}/events"), &owner, None).await;
    let kinds: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["detailType"].as_str()).collect();
    assert!(
        kinds.contains(&"client.health_changed") && kinds.contains(&"client.alert_raised"),
        "{kinds:?}"
    );
    let history = ok(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/clients/{id}/health/history"),
        &owner,
        None,
    )
    .await;
    let points = history["items"].as_array().unwrap();
    assert!(
        points.len() >= 2 && points[0]["at"].as_str() >= points[1]["at"].as_str(),
        "{history}"
    );
    assert_eq!(points[0]["band"], "at_risk");

    // Acknowledged, it stays open; resolved, it is done.
    let alert = worsened[0]["id"].as_str().unwrap();
    let seen = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/alerts/{alert}/acknowledge"),
        &owner,
        None,
    )
    .await;
    assert_eq!(seen["status"], "acknowledged");
    let open = ok(&s, Method::GET, &format!("/v1/orgs/{org}/alerts?status=acknowledged"), &owner, None).await;
    assert_eq!(open["items"].as_array().unwrap().len(), 1);
    ok(&s, Method::POST, &format!("/v1/orgs/{org}/alerts/{alert}/resolve"), &owner, None).await;
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/alerts/{alert}/resolve"),
        Some(&owner),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "ALERT_RESOLVED");

    // 40 silent days later, the daily recompute lowers it and says it went quiet.
    let before = score(&angry);
    ok(&s, Method::POST, "/local/clock?advanceMinutes=57600", &owner, None).await;
    let owner = s.login("owner@care.io").await;
    let fan_out = ok(&s, Method::POST, "/local/jobs/job-client-health/run", &owner, None).await;
    assert_eq!(fan_out["messages"], 1, "{fan_out}");
    let mut later = Value::Null;
    for _ in 0..100 {
        later = ok(&s, Method::GET, &format!("/v1/orgs/{org}/clients/{id}"), &owner, None).await;
        if score(&later) < before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(score(&later) < before, "{before} → {later}");
    assert_eq!(later["health"]["trend"], "down", "against the score of 40 days ago: {later}");
    let silent = ok(&s, Method::GET, &format!("/v1/orgs/{org}/alerts?clientId={id}"), &owner, None).await;
    assert!(
        silent["items"].as_array().unwrap().iter().any(|a| a["reason"] == "silent"),
        "{silent}"
    );
}

#[tokio::test]
async fn surveys_by_public_link_answer_once_expire_and_never_show_another_org() {
    let s = start();
    let (owner, _) = s.signup("owner@nps.io").await;
    let (other, _) = s.signup("owner@elsewhere.io").await;
    let org = s.create_org(&owner, "Listening Co").await;
    let theirs = s.create_org(&other, "Secret Org").await;
    let client = new_client(&s, &owner, &org, json!({"name": "Answering", "stage": "active"})).await;
    let client_id = client["id"].as_str().unwrap();
    let survey = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys"),
        &owner,
        Some(json!({"title": "Q4 pulse"})),
    )
    .await;
    assert_eq!(survey["question"], "How likely are you to recommend us to a friend or colleague?");
    assert_eq!(survey["allowMultiple"], false);
    let survey_id = survey["id"].as_str().unwrap();
    let link = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys/{survey_id}/links"),
        &owner,
        Some(json!({"clientId": client_id})),
    )
    .await;
    let token = link["token"].as_str().unwrap();
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert!(link["url"].as_str().unwrap().ends_with(token));

    // No login: the survey's words and the org's name, nothing else.
    let (status, page) = s.call(Method::GET, &format!("/v1/surveys/{token}"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        data(&page),
        &json!({"title": "Q4 pulse", "question": survey["question"], "orgName": "Listening Co"})
    );
    let text = page.to_string();
    assert!(!text.contains(client_id) && !text.contains(&org) && !text.contains("Secret Org"));

    let (status, answered) = s
        .call(
            Method::POST,
            &format!("/v1/surveys/{token}/responses"),
            None,
            Some(r#"{"score": 3, "comment": "Slow support"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answered}");
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/surveys/{token}/responses"),
        None,
        Some(json!({"score": 10})),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "ALREADY_ANSWERED");
    for bad in [
        json!({"score": 11}),
        json!({"score": -1}),
        json!({"score": "ten"}),
        json!({"score": 5, "comment": "x".repeat(2_001)}),
        json!({}),
    ] {
        refused(
            &s,
            Method::POST,
            &format!("/v1/surveys/{token}/responses"),
            None,
            Some(bad),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    for unknown in ["nope", "a-token-that-no-link-was-made-with-at-all", &token[..token.len() - 1]] {
        let code = refused(
            &s,
            Method::GET,
            &format!("/v1/surveys/{unknown}"),
            None,
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(code, "NOT_FOUND");
    }

    // The answer fed the client's health (one detractor: its own NPS is −100), and raised an alert.
    let health_path = format!("/v1/orgs/{org}/clients/{client_id}/health");
    until(&s, &owner, &health_path, |h| factor(h, "nps")["value"] == 0.0).await;
    let alerts_path = format!("/v1/orgs/{org}/alerts?clientId={client_id}");
    until(&s, &owner, &alerts_path, |a| {
        a["items"].as_array().unwrap().iter().any(|a| a["reason"] == "detractor")
    })
    .await;

    // NPS arithmetic on a multi-answer survey: 2 promoters, 1 passive, 1 detractor → 25.0.
    let many = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys"),
        &owner,
        Some(json!({"title": "Open", "allowMultiple": true, "expiresInDays": 1})),
    )
    .await;
    let many_id = many["id"].as_str().unwrap();
    let open = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys/{many_id}/links"),
        &owner,
        Some(json!({"clientId": client_id})),
    )
    .await;
    let open_token = open["token"].as_str().unwrap();
    for score in [9, 10, 7, 2] {
        let (status, body) = s
            .call(
                Method::POST,
                &format!("/v1/surveys/{open_token}/responses"),
                None,
                Some(&json!({"score": score}).to_string()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let results = ok(&s, Method::GET, &format!("/v1/orgs/{org}/surveys/{many_id}/results"), &owner, None).await;
    assert_eq!(
        results,
        json!({"responses": 4, "promoters": 2, "passives": 1, "detractors": 1, "nps": 25.0, "lowSample": true})
    );
    let summary = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys/{survey_id}/summary"),
        &owner,
        None,
    )
    .await;
    assert_eq!(
        (summary["provider"].as_str(), summary["comments"].as_u64()),
        (Some("offline"), Some(1))
    );

    // Another org's member learns nothing of this survey through its routes.
    for path in [format!("surveys/{survey_id}"), format!("surveys/{survey_id}/results")] {
        refused(
            &s,
            Method::GET,
            &format!("/v1/orgs/{theirs}/{path}"),
            Some(&other),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    }

    // A day later the open survey has closed: 410 on both public routes; a new link too.
    ok(&s, Method::POST, "/local/clock?advanceMinutes=1500", &owner, None).await;
    let owner = s.login("owner@nps.io").await;
    let code = refused(&s, Method::GET, &format!("/v1/surveys/{open_token}"), None, None, StatusCode::GONE).await;
    assert_eq!(code, "SURVEY_EXPIRED");
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/surveys/{open_token}/responses"),
        None,
        Some(json!({"score": 9})),
        StatusCode::GONE,
    )
    .await;
    assert_eq!(code, "SURVEY_EXPIRED");
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys/{many_id}/links"),
        Some(&owner),
        Some(json!({"clientId": client_id})),
        StatusCode::GONE,
    )
    .await;
    assert_eq!(code, "SURVEY_EXPIRED");

    // 30 requests a minute per address on each public route, then 429.
    let answer = json!({"score": 9}).to_string();
    for (method, path, body) in [
        (Method::GET, format!("/v1/surveys/{token}"), None),
        (Method::POST, format!("/v1/surveys/{token}/responses"), Some(answer.as_str())),
    ] {
        let mut limited = None;
        for _ in 0..31 {
            let (status, reply) = s.call(method.clone(), &path, None, body).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                limited = Some(reply);
                break;
            }
        }
        assert_eq!(
            limited.expect("429 within 31 requests")["error"]["code"],
            "RATE_LIMITED",
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn every_clients_route_keeps_tenants_apart_members_off_admin_routes_and_bad_input_changes_nothing() {
    let s = start();
    let (owner, _) = s.signup("owner@mine.io").await;
    let (stranger, _) = s.signup("owner@theirs.io").await;
    let org = s.create_org(&owner, "Mine").await;
    let theirs = s.create_org(&stranger, "Theirs").await;
    let member = s.join(&owner, &org, "member@mine.io", "member").await;
    let client = new_client(&s, &owner, &org, json!({"name": "Ours", "stage": "active"})).await;
    let c = client["id"].as_str().unwrap().to_string();
    let ticket = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/clients/{c}/interactions"),
        &owner,
        Some(json!({"channel": "ticket", "direction": "inbound", "text": "Login broken"})),
    )
    .await;
    assert_eq!(ticket["ticketOpen"], true);
    let i = ticket["id"].as_str().unwrap().to_string();
    let survey = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys"),
        &owner,
        Some(json!({"title": "Ours"})),
    )
    .await;
    let sv = survey["id"].as_str().unwrap().to_string();
    // A detractor answer gives an alert to reach for.
    let link = ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys/{sv}/links"),
        &owner,
        Some(json!({"clientId": c})),
    )
    .await;
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/v1/surveys/{}/responses", link["token"].as_str().unwrap()),
            None,
            Some(r#"{"score": 1}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let alerts = until(&s, &owner, &format!("/v1/orgs/{org}/alerts"), |a| {
        !a["items"].as_array().unwrap().is_empty()
    })
    .await;
    let a = alerts["items"][0]["id"].as_str().unwrap().to_string();
    let their_client = new_client(&s, &stranger, &theirs, json!({"name": "Theirs"})).await;

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "clients".into(), None),
        (Method::POST, "clients".into(), Some(json!({"name": "Mine now"}))),
        (Method::GET, format!("clients/{c}"), None),
        (Method::PATCH, format!("clients/{c}"), Some(json!({"name": "Taken", "version": 1}))),
        (Method::DELETE, format!("clients/{c}"), None),
        (Method::GET, format!("clients/{c}/interactions"), None),
        (
            Method::POST,
            format!("clients/{c}/interactions"),
            Some(json!({"channel": "call", "direction": "outbound", "text": "hi"})),
        ),
        (
            Method::PATCH,
            format!("clients/{c}/interactions/{i}"),
            Some(json!({"ticketOpen": false})),
        ),
        (Method::GET, format!("clients/{c}/health"), None),
        (Method::GET, format!("clients/{c}/health/history"), None),
        (Method::GET, "health-settings".into(), None),
        (
            Method::PUT,
            "health-settings".into(),
            Some(json!({"alertAfterDaysSilent": 5, "version": 0})),
        ),
        (Method::POST, "surveys".into(), Some(json!({"title": "Theirs"}))),
        (Method::GET, "surveys".into(), None),
        (Method::GET, format!("surveys/{sv}"), None),
        (Method::POST, format!("surveys/{sv}/links"), Some(json!({"clientId": c}))),
        (Method::GET, format!("surveys/{sv}/results"), None),
        (Method::POST, format!("surveys/{sv}/summary"), None),
        (Method::GET, "alerts".into(), None),
        (Method::POST, format!("alerts/{a}/acknowledge"), None),
        (Method::POST, format!("alerts/{a}/resolve"), None),
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
        // Our ids under their own org are not found either.
        if path.contains('/') {
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
    // Their client cannot be linked to our survey.
    let code = refused(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/surveys/{sv}/links"),
        Some(&owner),
        Some(json!({"clientId": their_client["id"]})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "VALIDATION_ERROR");

    // Members: no surveys to write, no settings to change, no colleague's client to delete.
    for (method, path, body) in [
        (Method::POST, "surveys".to_string(), Some(json!({"title": "Mine"}))),
        (
            Method::PUT,
            "health-settings".to_string(),
            Some(json!({"alertAfterDaysSilent": 5, "version": 0})),
        ),
        (Method::DELETE, format!("clients/{c}"), None),
    ] {
        let code = refused(
            &s,
            method.clone(),
            &format!("/v1/orgs/{org}/{path}"),
            Some(&member),
            body,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(code, "FORBIDDEN", "{method} {path}");
    }

    // Bad input: 400, and nothing changes.
    let before = ok(&s, Method::GET, &format!("/v1/orgs/{org}/clients/{c}"), &owner, None).await;
    for (method, path, body) in [
        (Method::POST, "clients".to_string(), json!({"company": "no name"})),
        (Method::POST, "clients".to_string(), json!({"name": "x", "stage": "lost"})),
        (Method::POST, "clients".to_string(), json!({"name": "x", "currency": "euro"})),
        (
            Method::POST,
            "clients".to_string(),
            json!({"name": "x", "renewalDate": "next spring"}),
        ),
        (Method::POST, "clients".to_string(), json!({"name": "x", "ownerId": "not-a-member"})),
        (Method::PATCH, format!("clients/{c}"), json!({"name": "no version"})),
        (Method::PATCH, format!("clients/{c}"), json!({"contractValue": -5, "version": 1})),
        (
            Method::POST,
            format!("clients/{c}/interactions"),
            json!({"channel": "fax", "direction": "inbound", "text": "hi"}),
        ),
        (
            Method::POST,
            format!("clients/{c}/interactions"),
            json!({"channel": "email", "direction": "inbound", "text": "x".repeat(20_001)}),
        ),
        (
            Method::POST,
            format!("clients/{c}/interactions"),
            json!({"channel": "email", "direction": "inbound", "text": "hi", "ticketOpen": true}),
        ),
        (
            Method::POST,
            format!("clients/{c}/interactions"),
            json!({"channel": "email", "direction": "inbound", "text": "hi", "occurredAt": "2099-01-01T00:00:00Z"}),
        ),
        (
            Method::PATCH,
            format!("clients/{c}/interactions/{i}"),
            json!({"ticketOpen": "closed"}),
        ),
        (
            Method::PUT,
            "health-settings".to_string(),
            json!({"weights": {"sentiment": -1, "nps": 1, "engagement": 1, "tickets": 1, "renewal": 1, "stage": 1}, "version": 0}),
        ),
        (
            Method::PUT,
            "health-settings".to_string(),
            json!({"bands": {"healthyFrom": 40, "atRiskFrom": 70}, "version": 0}),
        ),
        (
            Method::PUT,
            "health-settings".to_string(),
            json!({"alertAfterDaysSilent": 0, "version": 0}),
        ),
        (Method::POST, "surveys".to_string(), json!({"title": "x", "expiresInDays": 91})),
        (Method::POST, format!("surveys/{sv}/links"), json!({"clientId": "nope"})),
    ] {
        let code = refused(
            &s,
            method.clone(),
            &format!("/v1/orgs/{org}/{path}"),
            Some(&owner),
            Some(body.clone()),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            ["VALIDATION_ERROR", "INVALID_ID"].contains(&code.as_str()),
            "{method} {path} {body}: {code}"
        );
    }
    for query in [
        "clients?band=great",
        "clients?stage=lost",
        "alerts?status=closed",
        "clients/{c}/health/history?from=yesterday",
    ] {
        let path = format!("/v1/orgs/{org}/{}", query.replace("{c}", &c));
        refused(&s, Method::GET, &path, Some(&owner), None, StatusCode::BAD_REQUEST).await;
    }
    let after = ok(&s, Method::GET, &format!("/v1/orgs/{org}/clients/{c}"), &owner, None).await;
    assert_eq!(before, after);
    let settings = ok(&s, Method::GET, &format!("/v1/orgs/{org}/health-settings"), &owner, None).await;
    assert_eq!(settings["version"], 0, "no bad change was stored");
    let interactions = ok(&s, Method::GET, &format!("/v1/orgs/{org}/clients/{c}/interactions"), &owner, None).await;
    assert_eq!(interactions["items"].as_array().unwrap().len(), 1);

    // Closing the ticket lifts the tickets factor.
    let closed = ok(
        &s,
        Method::PATCH,
        &format!("/v1/orgs/{org}/clients/{c}/interactions/{i}"),
        &owner,
        Some(json!({"ticketOpen": false})),
    )
    .await;
    assert_eq!(closed["ticketOpen"], false);
    until(&s, &owner, &format!("/v1/orgs/{org}/clients/{c}/health"), |h| {
        factor(h, "tickets")["value"] == 1.0
    })
    .await;
}
