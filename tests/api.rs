//! Black-box tests of the HTTP surface: the real `local` binary on a free port, its own
//! SQLite store and outbox, driven with plain HTTP as a frontend would.

use chief_tests::{Local, data, error_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn signup_org_invite_accept_roles_and_leads_journey() {
    let s = Local::start();
    let (owner, owner_id) = s.signup("owner@acme.io").await;
    let (status, me) = s.get("/v1/auth/me", &owner).await;
    assert_eq!((status, data(&me)["email"].as_str()), (StatusCode::OK, Some("owner@acme.io")));
    assert!(data(&me).get("passwordHash").is_none());

    let org = s.create_org(&owner, "Acme").await;
    let (_, orgs) = s.get("/v1/orgs", &owner).await;
    assert_eq!(data(&orgs)[0]["role"], "owner");

    // Invite an admin and a member; each accepts with their own account.
    for (email, role) in [("admin@acme.io", "admin"), ("member@acme.io", "member")] {
        let (status, body) = s
            .post(
                &format!("/v1/orgs/{org}/members"),
                Some(&owner),
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (admin, admin_id) = s.signup("Admin@Acme.io").await;
    let (member, member_id) = s.signup("member@acme.io").await;
    let admin_token = s.invitation_token("admin@acme.io");
    let member_token = s.invitation_token("member@acme.io");
    // An invitation is for its address only.
    let (status, body) = s
        .post(&format!("/v1/invitations/{admin_token}/accept"), Some(&member), json!({}))
        .await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = s
        .post(&format!("/v1/invitations/{admin_token}/accept"), Some(&admin), json!({}))
        .await;
    assert_eq!((status, data(&body)["role"].as_str()), (StatusCode::OK, Some("admin")), "{body}");
    // A token works once.
    let (status, body) = s
        .post(&format!("/v1/invitations/{admin_token}/accept"), Some(&admin), json!({}))
        .await;
    error_code(status, &body, StatusCode::NOT_FOUND);
    let (status, _) = s
        .post(&format!("/v1/invitations/{member_token}/accept"), Some(&member), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, members) = s.get(&format!("/v1/orgs/{org}/members"), &owner).await;
    assert_eq!(data(&members)["members"].as_array().unwrap().len(), 3);
    assert!(data(&members)["invitations"].as_array().unwrap().is_empty());

    // Roles: a member cannot invite; an admin cannot remove or make an owner.
    let (status, body) = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            Some(&member),
            json!({"email": "x@acme.io", "role": "member"}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::FORBIDDEN), "FORBIDDEN");
    let (status, body) = s.delete(&format!("/v1/orgs/{org}/members/{owner_id}"), &admin).await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = s
        .patch(&format!("/v1/orgs/{org}/members/{member_id}"), &admin, json!({"role": "owner"}))
        .await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = s
        .patch(&format!("/v1/orgs/{org}/members/{member_id}"), &admin, json!({"role": "admin"}))
        .await;
    assert_eq!((status, data(&body)["role"].as_str()), (StatusCode::OK, Some("admin")));
    // The last owner can neither leave nor step down; with a second owner they can.
    let (status, body) = s.delete(&format!("/v1/orgs/{org}/members/{owner_id}"), &owner).await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "LAST_OWNER");
    let (status, body) = s
        .patch(&format!("/v1/orgs/{org}/members/{owner_id}"), &owner, json!({"role": "admin"}))
        .await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "LAST_OWNER");
    let (status, _) = s
        .patch(&format!("/v1/orgs/{org}/members/{admin_id}"), &owner, json!({"role": "owner"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .patch(&format!("/v1/orgs/{org}/members/{owner_id}"), &owner, json!({"role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Only an admin renames the org; members read it.
    let (status, body) = s.patch(&format!("/v1/orgs/{org}"), &member, json!({"name": "Acme Ltd"})).await;
    assert_eq!(
        (status, data(&body)["name"].as_str()),
        (StatusCode::OK, Some("Acme Ltd")),
        "member was promoted to admin above"
    );
    let (status, body) = s
        .patch(&format!("/v1/orgs/{org}"), &member, json!({"timeZone": "Mars/Olympus"}))
        .await;
    error_code(status, &body, StatusCode::BAD_REQUEST);

    // Leads: create, read, update with optimistic concurrency, delete.
    let (status, body) = s
        .post(&format!("/v1/orgs/{org}/leads"), Some(&member), json!({"name": "Bob", "email": "Bob@Client.io", "company": "Client", "tags": ["VIP", "vip"], "value": 1200, "ownerId": member_id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let lead = data(&body).clone();
    let lead_id = lead["id"].as_str().unwrap();
    assert_eq!(
        (lead["status"].as_str(), lead["tags"].clone(), lead["version"].as_u64()),
        (Some("new"), json!(["vip"]), Some(1))
    );
    assert!(lead["lastActivityAt"].is_null());
    let (status, body) = s
        .post(
            &format!("/v1/orgs/{org}/leads"),
            Some(&member),
            json!({"name": "Eve", "ownerId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        )
        .await;
    error_code(status, &body, StatusCode::BAD_REQUEST);

    let path = format!("/v1/orgs/{org}/leads/{lead_id}");
    let (status, body) = s
        .patch(&path, &owner, json!({"status": "contacted", "version": 1, "company": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (data(&body)["version"].as_u64(), data(&body)["company"].clone()),
        (Some(2), Value::Null)
    );
    let (status, body) = s.patch(&path, &member, json!({"status": "won", "version": 1})).await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "VERSION_CONFLICT");
    let (_, body) = s.get(&path, &member).await;
    assert_eq!(data(&body)["status"], "contacted", "a stale write changed nothing");

    // Activities move lastActivityAt forward only.
    let (status, body) = s
        .post(
            &format!("{path}/activities"),
            Some(&member),
            json!({"type": "call", "summary": "Intro call", "occurredAt": "2026-01-10T10:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.post(
        &format!("{path}/activities"),
        Some(&member),
        json!({"type": "note", "summary": "Older note", "occurredAt": "2025-12-01T09:00:00Z"}),
    )
    .await;
    let (_, body) = s.get(&path, &member).await;
    assert_eq!(data(&body)["lastActivityAt"], "2026-01-10T10:00:00.000Z");
    let (_, body) = s.get(&format!("{path}/activities"), &member).await;
    let summaries: Vec<&str> = data(&body)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["summary"].as_str().unwrap())
        .collect();
    assert_eq!(summaries, ["Intro call", "Older note"]);
    let (status, body) = s
        .post(
            &format!("{path}/activities"),
            Some(&member),
            json!({"type": "call", "summary": "x", "occurredAt": "2999-01-01T00:00:00Z"}),
        )
        .await;
    error_code(status, &body, StatusCode::BAD_REQUEST);

    let meeting =
        json!({"title": "Demo", "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T11:00:00Z", "attendees": ["bob@client.io"]});
    let (status, body) = s.post(&format!("{path}/meetings"), Some(&member), meeting).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = s
        .post(
            &format!("{path}/meetings"),
            Some(&member),
            json!({"title": "Bad", "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T09:00:00Z"}),
        )
        .await;
    error_code(status, &body, StatusCode::BAD_REQUEST);
    let (_, body) = s.get(&format!("{path}/meetings"), &member).await;
    assert_eq!(data(&body)["items"][0]["title"], "Demo");

    let (status, _) = s.delete(&path, &member).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.get(&path, &member).await;
    error_code(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = s.get(&format!("{path}/activities"), &member).await;
    error_code(status, &body, StatusCode::NOT_FOUND);

    let (_, usage) = s.get(&format!("/v1/orgs/{org}/usage"), &member).await;
    assert_eq!(
        (data(&usage)["plan"].as_str(), data(&usage)["tasks"]["limit"].as_i64()),
        (Some("free"), Some(10))
    );
}

#[tokio::test]
async fn leads_page_with_cursors_and_filter() {
    let s = Local::start();
    let (token, user_id) = s.signup("pager@acme.io").await;
    let org = s.create_org(&token, "Pager").await;
    for i in 0..7 {
        let status = if i % 2 == 0 { "qualified" } else { "new" };
        let tags = if i == 3 { json!(["hot"]) } else { json!([]) };
        let (code, body) = s
            .post(
                &format!("/v1/orgs/{org}/leads"),
                Some(&token),
                json!({"name": format!("Lead {i}"), "status": status, "tags": tags, "ownerId": user_id}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (status, body) = s.get(&format!("/v1/orgs/{org}/leads?limit=3{after}"), &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        names.extend(
            data(&body)["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap().to_string()),
        );
        match data(&body)["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..7).rev().map(|i| format!("Lead {i}")).collect::<Vec<_>>(),
        "newest first, each once"
    );

    let (_, body) = s.get(&format!("/v1/orgs/{org}/leads?status=qualified&limit=2"), &token).await;
    assert_eq!(data(&body)["items"].as_array().unwrap().len(), 2);
    let cursor = data(&body)["nextCursor"].as_str().unwrap().to_string();
    let (_, body) = s
        .get(&format!("/v1/orgs/{org}/leads?status=qualified&limit=2&cursor={cursor}"), &token)
        .await;
    let rest: Vec<&str> = data(&body)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(rest, ["Lead 2", "Lead 0"]);
    let (_, body) = s.get(&format!("/v1/orgs/{org}/leads?tag=HOT"), &token).await;
    assert_eq!(data(&body)["items"][0]["name"], "Lead 3");
    let (_, body) = s.get(&format!("/v1/orgs/{org}/leads?owner={user_id}&limit=100"), &token).await;
    assert_eq!(data(&body)["items"].as_array().unwrap().len(), 7);
    for bad in ["limit=0", "limit=101", "limit=x", "status=maybe", "cursor=garbage"] {
        let (status, body) = s.get(&format!("/v1/orgs/{org}/leads?{bad}"), &token).await;
        error_code(status, &body, StatusCode::BAD_REQUEST);
    }
}

/// Every org-scoped route, as (method, path, body) with `{org}` and `{lead}` to fill in.
fn org_routes(victim_member: &str) -> Vec<(Method, String, Option<Value>)> {
    let lead = json!({"name": "Mallory's lead"});
    vec![
        (Method::GET, "/v1/orgs/{org}".into(), None),
        (Method::PATCH, "/v1/orgs/{org}".into(), Some(json!({"name": "Pwned"}))),
        (Method::DELETE, "/v1/orgs/{org}".into(), None),
        (Method::GET, "/v1/orgs/{org}/members".into(), None),
        (
            Method::POST,
            "/v1/orgs/{org}/members".into(),
            Some(json!({"email": "spy@evil.io", "role": "owner"})),
        ),
        (
            Method::PATCH,
            format!("/v1/orgs/{{org}}/members/{victim_member}"),
            Some(json!({"role": "member"})),
        ),
        (Method::DELETE, format!("/v1/orgs/{{org}}/members/{victim_member}"), None),
        (Method::DELETE, "/v1/orgs/{org}/invitations/pending%40a.io".into(), None),
        (Method::GET, "/v1/orgs/{org}/usage".into(), None),
        (Method::GET, "/v1/orgs/{org}/leads".into(), None),
        (Method::POST, "/v1/orgs/{org}/leads".into(), Some(lead)),
        (Method::GET, "/v1/orgs/{org}/leads/{lead}".into(), None),
        (
            Method::PATCH,
            "/v1/orgs/{org}/leads/{lead}".into(),
            Some(json!({"name": "Pwned", "version": 1})),
        ),
        (Method::DELETE, "/v1/orgs/{org}/leads/{lead}".into(), None),
        (Method::GET, "/v1/orgs/{org}/leads/{lead}/activities".into(), None),
        (
            Method::POST,
            "/v1/orgs/{org}/leads/{lead}/activities".into(),
            Some(json!({"type": "note", "summary": "x"})),
        ),
        (Method::GET, "/v1/orgs/{org}/leads/{lead}/meetings".into(), None),
        (
            Method::POST,
            "/v1/orgs/{org}/leads/{lead}/meetings".into(),
            Some(json!({"title": "x", "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T11:00:00Z"})),
        ),
    ]
}

/// What the owner of org A sees of it.
async fn snapshot(s: &Local, alice: &str, org_a: &str, lead_a: &str) -> Value {
    let (_, org) = s.get(&format!("/v1/orgs/{org_a}"), alice).await;
    let (_, members) = s.get(&format!("/v1/orgs/{org_a}/members"), alice).await;
    let (_, lead) = s.get(&format!("/v1/orgs/{org_a}/leads/{lead_a}"), alice).await;
    let (_, leads) = s.get(&format!("/v1/orgs/{org_a}/leads"), alice).await;
    let (_, acts) = s.get(&format!("/v1/orgs/{org_a}/leads/{lead_a}/activities"), alice).await;
    let (_, usage) = s.get(&format!("/v1/orgs/{org_a}/usage"), alice).await;
    json!([org, members, lead, leads, acts, usage])
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_org_route_and_changes_nothing() {
    let s = Local::start();
    let (alice, alice_id) = s.signup("alice@a.io").await;
    let (mallory, _) = s.signup("mallory@m.io").await;
    let org_a = s.create_org(&alice, "A").await;
    let org_m = s.create_org(&mallory, "M").await;
    let (_, body) = s
        .post(&format!("/v1/orgs/{org_a}/leads"), Some(&alice), json!({"name": "Secret lead"}))
        .await;
    let lead_a = data(&body)["id"].as_str().unwrap().to_string();
    let (status, _) = s
        .post(
            &format!("/v1/orgs/{org_a}/members"),
            Some(&alice),
            json!({"email": "pending@a.io", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = snapshot(&s, &alice, &org_a, &lead_a).await;
    assert_eq!(before[1]["data"]["invitations"][0]["email"], "pending@a.io", "{before}");

    for (method, path, body) in org_routes(&alice_id) {
        // Mallory aims at A's org directly...
        let direct = path.replace("{org}", &org_a).replace("{lead}", &lead_a);
        let (status, answer) = s
            .call(
                method.clone(),
                &direct,
                Some(&mallory),
                body.as_ref().map(|b| b.to_string()).as_deref(),
            )
            .await;
        assert_eq!(error_code(status, &answer, StatusCode::NOT_FOUND), "NOT_FOUND", "{method} {direct}");
        // ...and at A's lead through her own org.
        if path.contains("{lead}") {
            let smuggled = path.replace("{org}", &org_m).replace("{lead}", &lead_a);
            let (status, answer) = s
                .call(
                    method.clone(),
                    &smuggled,
                    Some(&mallory),
                    body.as_ref().map(|b| b.to_string()).as_deref(),
                )
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {smuggled}: {answer}");
        }
    }
    assert_eq!(snapshot(&s, &alice, &org_a, &lead_a).await, before, "nothing of A's changed");
    let (_, orgs) = s.get("/v1/orgs", &mallory).await;
    assert_eq!(data(&orgs).as_array().unwrap().len(), 1, "Mallory sees only her own org");
}

#[tokio::test]
async fn bad_bodies_get_400_or_413_in_the_error_shape_on_every_route() {
    let s = Local::start();
    let (token, user_id) = s.signup("bodies@acme.io").await;
    let org = s.create_org(&token, "Bodies").await;
    let (_, body) = s.post(&format!("/v1/orgs/{org}/leads"), Some(&token), json!({"name": "L"})).await;
    let lead = data(&body)["id"].as_str().unwrap().to_string();
    let mut routes: Vec<(Method, String, Option<Value>)> = org_routes(&user_id).into_iter().filter(|(_, _, b)| b.is_some()).collect();
    routes.push((Method::POST, "/v1/orgs".into(), Some(json!({"name": "x"}))));
    routes.push((
        Method::POST,
        "/v1/auth/signup".into(),
        Some(json!({"email": "a@b.io", "password": "0123456789", "name": "x"})),
    ));
    routes.push((
        Method::POST,
        "/v1/auth/login".into(),
        Some(json!({"email": "a@b.io", "password": "0123456789"})),
    ));
    routes.push((Method::POST, "/v1/invitations/sometoken/accept".into(), Some(json!({}))));
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(200_000));

    for (method, path, _) in &routes {
        let path = path.replace("{org}", &org).replace("{lead}", &lead);
        let (status, answer) = s.call(method.clone(), &path, Some(&token), Some(&huge)).await;
        assert_eq!(
            error_code(status, &answer, StatusCode::PAYLOAD_TOO_LARGE),
            "PAYLOAD_TOO_LARGE",
            "{method} {path}"
        );
        if path.contains("/invitations/") {
            continue; // accept takes no fields: its body is not read
        }
        for (bad, code) in [
            ("{\"name\": ", "INVALID_JSON"),
            ("[1, 2", "INVALID_JSON"),
            ("", "INVALID_JSON"),
            ("{\"name\": 42, \"role\": 7}", "VALIDATION_ERROR"),
            ("{\"surprise\": true}", "VALIDATION_ERROR"),
        ] {
            let (status, answer) = s.call(method.clone(), &path, Some(&token), Some(bad)).await;
            assert_eq!(
                error_code(status, &answer, StatusCode::BAD_REQUEST),
                code,
                "{method} {path} with {bad:?}"
            );
        }
    }
    let (status, answer) = s.call(Method::PUT, "/v1/orgs", Some(&token), None).await;
    error_code(status, &answer, StatusCode::METHOD_NOT_ALLOWED);
    let (status, answer) = s.call(Method::GET, "/v1/nowhere", Some(&token), None).await;
    error_code(status, &answer, StatusCode::NOT_FOUND);
    let (status, answer) = s.call(Method::GET, "/v1/orgs/not-an-id/leads", Some(&token), None).await;
    assert_eq!(error_code(status, &answer, StatusCode::BAD_REQUEST), "INVALID_ID");
    let (_, leads) = s.get(&format!("/v1/orgs/{org}/leads"), &token).await;
    assert_eq!(data(&leads)["items"].as_array().unwrap().len(), 1, "no bad body created anything");
}

#[tokio::test]
async fn tokens_are_checked_and_logins_are_throttled() {
    let s = Local::start();
    let (token, user_id) = s.signup("tok@acme.io").await;
    let (status, body) = s.call(Method::GET, "/v1/auth/me", None, None).await;
    assert_eq!(error_code(status, &body, StatusCode::UNAUTHORIZED), "UNAUTHORIZED");
    let tampered = format!("{}x", &token[..token.len() - 1]);
    let (status, body) = s.get("/v1/auth/me", &tampered).await;
    assert_eq!(error_code(status, &body, StatusCode::UNAUTHORIZED), "UNAUTHORIZED");
    // A token signed with the right key but expired, and one with alg "none".
    let key = std::fs::read_to_string(s.data.path().join("secrets/jwt-signing-key")).unwrap();
    let claims = json!({"sub": user_id, "email": "tok@acme.io", "sid": "01JD3Z5Q1T6N8WQ4S0F9V7C2XA", "iss": "chief", "iat": 1_600_000_000, "exp": 1_600_003_600});
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.trim().as_bytes()),
    )
    .unwrap();
    let (status, body) = s.get("/v1/auth/me", &expired).await;
    assert_eq!(error_code(status, &body, StatusCode::UNAUTHORIZED), "TOKEN_EXPIRED");
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", token.split('.').nth(1).unwrap());
    let (status, body) = s.get("/v1/auth/me", &unsigned).await;
    error_code(status, &body, StatusCode::UNAUTHORIZED);

    // Email uniqueness ignores case, also under concurrent signups.
    let (status, body) = s
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "TOK@acme.io", "password": "a long password", "name": "Twin"}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "EMAIL_TAKEN");
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let url = format!("{}/v1/auth/signup", s.base);
            let email = if i % 2 == 0 { "race@acme.io" } else { "RACE@acme.io" };
            tokio::spawn(async move {
                let body = json!({"email": email, "password": "a long password", "name": "R"});
                reqwest::Client::new()
                    .post(url)
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut created = 0;
    for racer in racers {
        if racer.await.unwrap() == StatusCode::CREATED {
            created += 1;
        }
    }
    assert_eq!(created, 1);

    // Five wrong passwords from one address, then even the right one waits there.
    for _ in 0..5 {
        let (status, body) = s
            .post(
                "/v1/auth/login",
                None,
                json!({"email": "tok@acme.io", "password": "wrong password"}),
            )
            .await;
        assert_eq!(error_code(status, &body, StatusCode::UNAUTHORIZED), "UNAUTHORIZED");
    }
    let (status, body) = s
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "tok@acme.io", "password": "a long password"}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::TOO_MANY_REQUESTS), "RATE_LIMITED");
    // The owner signs in from an address that has not failed (127.0.0.2 is this machine
    // too): failures from elsewhere cannot lock them out. The limited address is told when
    // to come back.
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
            .post(format!("{}/v1/auth/login", s.base))
            .body(json!({"email": "tok@acme.io", "password": "a long password"}).to_string())
            .send()
    };
    let elsewhere = from([127, 0, 0, 2]).await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK);
    let limited = from([127, 0, 0, 1]).await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    // Another account from another address is unaffected.
    let (status, _) = s
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "race@acme.io", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn invitations_can_be_revoked_and_need_their_inviters_authority_when_accepted() {
    let s = Local::start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let invite = |token: String, email: &'static str, role: &'static str| {
        let s = &s;
        let org = org.clone();
        async move {
            let (status, body) = s
                .post(
                    &format!("/v1/orgs/{org}/members"),
                    Some(&token),
                    json!({"email": email, "role": role}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            s.invitation_token(email)
        }
    };
    let accept = |token: String, link: String| {
        let s = &s;
        async move { s.post(&format!("/v1/invitations/{link}/accept"), Some(&token), json!({})).await }
    };
    let admin_link = invite(owner.clone(), "admin@acme.io", "admin").await;
    let (admin, _) = s.signup("admin@acme.io").await;
    let (status, body) = accept(admin.clone(), admin_link).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin_id = data(&body)["userId"].as_str().unwrap().to_string();

    // Revoked: the link stops working. A member may not revoke; another tenant sees nothing.
    let member_link = invite(admin.clone(), "member@acme.io", "member").await;
    let (member, _) = s.signup("member@acme.io").await;
    assert_eq!(accept(member.clone(), member_link).await.0, StatusCode::OK);
    let revoked_link = invite(admin.clone(), "gone@acme.io", "member").await;
    let (stranger, _) = s.signup("stranger@else.io").await;
    let path = format!("/v1/orgs/{org}/invitations/gone%40acme.io");
    let (status, body) = s.delete(&path, &stranger).await;
    error_code(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = s.delete(&path, &member).await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = s.delete(&path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(data(&body)["email"], "gone@acme.io");
    let (status, body) = s.delete(&path, &admin).await;
    error_code(status, &body, StatusCode::NOT_FOUND);
    let (gone, _) = s.signup("gone@acme.io").await;
    let (status, body) = accept(gone, revoked_link).await;
    error_code(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = s.delete(&format!("/v1/orgs/{org}/invitations/not-an-email"), &admin).await;
    error_code(status, &body, StatusCode::BAD_REQUEST);

    // An invitation dies with its inviter's authority: the admin who sent it is demoted.
    let late_link = invite(admin.clone(), "late@acme.io", "admin").await;
    let (status, body) = s
        .patch(&format!("/v1/orgs/{org}/members/{admin_id}"), &owner, json!({"role": "member"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (late, _) = s.signup("late@acme.io").await;
    let (status, body) = accept(late.clone(), late_link).await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    let (status, _) = s.get(&format!("/v1/orgs/{org}"), &late).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not a member");
}

#[tokio::test]
async fn names_refuse_control_characters_and_orgs_and_signups_are_bounded() {
    let s = Local::start();
    let (owner, _) = s.signup("owner@acme.io").await;
    for name in ["Acme\nBcc: everyone@example.com", "Acme\u{7}", "Tab\there"] {
        let (status, body) = s.post("/v1/orgs", Some(&owner), json!({"name": name})).await;
        error_code(status, &body, StatusCode::BAD_REQUEST);
    }
    let (status, body) = s
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "bell@acme.io", "password": "a long password", "name": "Bell\r\n"}),
        )
        .await;
    // Trailing white space is trimmed; a line break inside is refused.
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = s
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "bell2@acme.io", "password": "a long password", "name": "Be\nll"}),
        )
        .await;
    error_code(status, &body, StatusCode::BAD_REQUEST);

    // Three free orgs per owner; a fourth is 409 until one is upgraded or deleted.
    let mut orgs = Vec::new();
    for i in 0..3 {
        orgs.push(s.create_org(&owner, &format!("Org {i}")).await);
    }
    let (status, body) = s.post("/v1/orgs", Some(&owner), json!({"name": "Fourth"})).await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "FREE_ORG_LIMIT");
    // Ten creations a day per user, deletions notwithstanding.
    for i in 0..7 {
        let (status, _) = s.delete(&format!("/v1/orgs/{}", orgs.pop().unwrap()), &owner).await;
        assert_eq!(status, StatusCode::OK);
        orgs.push(s.create_org(&owner, &format!("Again {i}")).await);
    }
    let (status, _) = s.delete(&format!("/v1/orgs/{}", orgs.pop().unwrap()), &owner).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.post("/v1/orgs", Some(&owner), json!({"name": "Eleventh"})).await;
    assert_eq!(error_code(status, &body, StatusCode::TOO_MANY_REQUESTS), "RATE_LIMITED");

    // Twenty sign-ups an hour from one address (two were made above).
    for i in 0..18 {
        let (status, body) = s
            .post(
                "/v1/auth/signup",
                None,
                json!({"email": format!("u{i}@acme.io"), "password": "a long password", "name": "U"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{i}: {body}");
    }
    let (status, body) = s
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "one.more@acme.io", "password": "a long password", "name": "U"}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::TOO_MANY_REQUESTS), "RATE_LIMITED");
}

#[tokio::test]
async fn only_admins_and_a_leads_owner_delete_it() {
    let s = Local::start();
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let (status, _) = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            Some(&owner),
            json!({"email": "m@acme.io", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (member, member_id) = s.signup("m@acme.io").await;
    let link = s.invitation_token("m@acme.io");
    assert_eq!(
        s.post(&format!("/v1/invitations/{link}/accept"), Some(&member), json!({})).await.0,
        StatusCode::OK
    );
    let lead = |token: String, body: Value| {
        let (s, org) = (&s, org.clone());
        async move {
            let (status, body) = s.post(&format!("/v1/orgs/{org}/leads"), Some(&token), body).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            format!("/v1/orgs/{org}/leads/{}", data(&body)["id"].as_str().unwrap())
        }
    };
    let the_owners = lead(owner.clone(), json!({"name": "Big deal"})).await;
    let theirs = lead(member.clone(), json!({"name": "Mine", "ownerId": member_id})).await;
    let unowned = lead(member.clone(), json!({"name": "Typo"})).await;

    let (status, body) = s.delete(&the_owners, &member).await;
    error_code(status, &body, StatusCode::FORBIDDEN);
    assert_eq!(s.get(&the_owners, &member).await.0, StatusCode::OK, "still there");
    for path in [&theirs, &unowned] {
        let (status, body) = s.delete(path, &member).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, _) = s.delete(&the_owners, &owner).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_schedule_triggers_are_development_routes_off_by_default() {
    let s = Local::start();
    let (token, _) = s.signup("dev@acme.io").await;
    for path in ["/local/executor/run", "/local/agent/run"] {
        let (status, body) = s.post(path, Some(&token), json!({})).await;
        assert_eq!(error_code(status, &body, StatusCode::FORBIDDEN), "FORBIDDEN", "{path}");
        assert!(body["error"]["message"].as_str().unwrap().contains("CHIEF_LOCAL_DEV_ROUTES=on"));
    }
    let (status, body) = s.post("/local/executor/run", None, json!({})).await;
    error_code(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = s.get("/local/queues/tasks/dead-letters", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn health_says_which_dependencies_are_set_up_without_calling_them() {
    let s = Local::start();
    let (status, body) = s.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let checks = &data(&body)["checks"];
    assert_eq!(
        (checks["table"]["ok"].as_bool(), checks["secrets"]["ok"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(
        (checks["ai"]["provider"].as_str(), checks["ai"]["configured"].as_bool()),
        (Some("offline"), Some(true))
    );
    assert_eq!(checks["stripe"]["configured"], false, "no key locally: {checks}");
    assert_eq!(checks["stripe"]["unmappedPrices"], json!([]));
    assert_eq!(checks["stripeWebhook"]["configured"], false);
    assert_eq!(checks["queues"], json!({"tasks": true, "analysis": true, "publish": true}));
    assert_eq!(checks["eventBus"]["configured"], true);
    assert_eq!(
        (checks["mail"]["transport"].as_str(), checks["mail"]["configured"].as_bool()),
        (Some("outbox"), Some(true))
    );
    assert_eq!(data(&body)["status"], "ok", "what is not set up is not a fault: {body}");
}
