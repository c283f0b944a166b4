//! Accounts and sessions on `local`, over HTTP: refresh rotation and theft detection, signing
//! out, password change and reset, email verification before an invitation, and sign-in
//! with Google against a stand-in of its key set, with tokens this test signs.

use chief::testing::GoogleSigner;
use chief_tests::google_keys::GoogleKeys;
use chief_tests::{Local, data, error_code, ok, refused};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CLIENT_ID: &str = "1234-chief-web.apps.googleusercontent.com";
const RESET_MARKER: &str = "Or reset it through the API with this token:";
const VERIFY_MARKER: &str = "Or verify it through the API with this token:";

fn local_with(env: &[(&str, &str)]) -> Local {
    let mut all = vec![("CHIEF_LOCAL_SCHEDULES", "off"), ("CHIEF_LOCAL_DEV_ROUTES", "on")];
    all.extend_from_slice(env);
    Local::start_with(&all)
}

async fn sign_in(s: &Local, email: &str, password: &str) -> Value {
    let (status, body) = s.post("/v1/auth/login", None, json!({"email": email, "password": password})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    data(&body).clone()
}

fn field(answer: &Value, name: &str) -> String {
    answer[name].as_str().unwrap_or_else(|| panic!("no {name} in {answer}")).to_string()
}

async fn refresh(s: &Local, refresh_token: &str) -> (StatusCode, Value) {
    s.post("/v1/auth/refresh", None, json!({"refreshToken": refresh_token})).await
}

/// The code `GET /v1/auth/me` answers with this access token (`OK` when it works).
async fn me(s: &Local, token: &str) -> String {
    let (status, body) = s.get("/v1/auth/me", token).await;
    if status == StatusCode::OK {
        return "OK".into();
    }
    error_code(status, &body, StatusCode::UNAUTHORIZED)
}

/// Moves local's clock; answers its time, in seconds since the epoch.
async fn advance(s: &Local, token: &str, minutes: i64) -> i64 {
    let answer = ok(s, Method::POST, &format!("/local/clock?advanceMinutes={minutes}"), token, None).await;
    chrono::DateTime::parse_from_rfc3339(answer["now"].as_str().unwrap())
        .unwrap()
        .timestamp()
}

#[tokio::test]
async fn refresh_tokens_rotate_a_reused_one_ends_its_session_and_signing_out_ends_one_or_all() {
    let s = local_with(&[]);
    s.signup("ada@acme.io").await;
    let first = sign_in(&s, "ada@acme.io", "a long password").await;
    assert!(field(&first, "refreshToken").len() >= 43, "256 random bits at least");

    // Rotation: the new pair works; the old refresh token, presented again, is theft.
    let (status, body) = refresh(&s, &field(&first, "refreshToken")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = data(&body).clone();
    assert_ne!(field(&second, "refreshToken"), field(&first, "refreshToken"));
    assert_eq!(me(&s, &field(&second, "token")).await, "OK");
    let (status, body) = refresh(&s, &field(&first, "refreshToken")).await;
    assert_eq!(error_code(status, &body, StatusCode::UNAUTHORIZED), "SESSION_REVOKED");
    assert_eq!(me(&s, &field(&second, "token")).await, "SESSION_REVOKED", "the whole family ends");
    let (status, body) = refresh(&s, &field(&second, "refreshToken")).await;
    assert_eq!(error_code(status, &body, StatusCode::UNAUTHORIZED), "SESSION_REVOKED");

    // Sign out one session: its tokens stop, on org routes too; another session goes on.
    let here = sign_in(&s, "ada@acme.io", "a long password").await;
    let there = sign_in(&s, "ada@acme.io", "a long password").await;
    let org = s.create_org(&field(&there, "token"), "Acme").await;
    ok(&s, Method::POST, "/v1/auth/logout", &field(&here, "token"), Some(json!({}))).await;
    assert_eq!(me(&s, &field(&here, "token")).await, "SESSION_REVOKED");
    let code = refused(
        &s,
        Method::GET,
        &format!("/v1/orgs/{org}/leads"),
        Some(&field(&here, "token")),
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "SESSION_REVOKED");
    let (status, _) = refresh(&s, &field(&here, "refreshToken")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    ok(&s, Method::GET, &format!("/v1/orgs/{org}/leads"), &field(&there, "token"), None).await;

    // Sign out everywhere.
    let elsewhere = sign_in(&s, "ada@acme.io", "a long password").await;
    ok(&s, Method::POST, "/v1/auth/logout-all", &field(&there, "token"), None).await;
    for session in [&there, &elsewhere] {
        assert_eq!(me(&s, &field(session, "token")).await, "SESSION_REVOKED");
    }

    // An access token lasts 15 minutes; the refresh token renews it.
    let fresh = sign_in(&s, "ada@acme.io", "a long password").await;
    let issued = chrono::DateTime::parse_from_rfc3339(&field(&fresh, "expiresAt")).unwrap();
    let now = advance(&s, &field(&fresh, "token"), 0).await;
    let minutes = (issued.timestamp() - now) as f64 / 60.0;
    assert!((14.9..=15.0).contains(&minutes), "{minutes} minutes");
    advance(&s, &field(&fresh, "token"), 16).await;
    assert_eq!(me(&s, &field(&fresh, "token")).await, "TOKEN_EXPIRED");
    let (status, body) = refresh(&s, &field(&fresh, "refreshToken")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(me(&s, &field(data(&body), "token")).await, "OK");
}

#[tokio::test]
async fn a_new_password_ends_other_sessions_and_a_reset_link_works_once_for_an_hour_without_telling_who_has_an_account() {
    let s = local_with(&[]);
    s.signup("ada@acme.io").await;
    let here = sign_in(&s, "ada@acme.io", "a long password").await;
    let there = sign_in(&s, "ada@acme.io", "a long password").await;
    let wrong = json!({"currentPassword": "not my password", "newPassword": "a brand new password"});
    refused(
        &s,
        Method::POST,
        "/v1/auth/password",
        Some(&field(&here, "token")),
        Some(wrong),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let right = json!({"currentPassword": "a long password", "newPassword": "a brand new password"});
    ok(&s, Method::POST, "/v1/auth/password", &field(&here, "token"), Some(right)).await;
    assert_eq!(me(&s, &field(&here, "token")).await, "OK");
    assert_eq!(me(&s, &field(&there, "token")).await, "SESSION_REVOKED");
    let (status, _) = s
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ada@acme.io", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    sign_in(&s, "ada@acme.io", "a brand new password").await;

    // The answer is the same for an address with an account and one without; only the
    // first gets mail.
    let (known_status, known) = s.post("/v1/auth/password-reset", None, json!({"email": "ada@acme.io"})).await;
    let (unknown_status, unknown) = s.post("/v1/auth/password-reset", None, json!({"email": "nobody@acme.io"})).await;
    assert_eq!((known_status, unknown_status), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(known, unknown);
    assert!(s.mails_with("To: nobody@acme.io").is_empty());
    let link = s.mailed_token("ada@acme.io", RESET_MARKER);
    assert_eq!(s.mails_with(RESET_MARKER).len(), 1);

    let confirm = |token: &str| json!({"token": token, "newPassword": "the password after reset"});
    let (status, body) = s.post("/v1/auth/password-reset/confirm", None, confirm(&link)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        me(&s, &field(&here, "token")).await,
        "SESSION_REVOKED",
        "a reset ends every session"
    );
    let after = sign_in(&s, "ada@acme.io", "the password after reset").await;
    let (status, body) = s.post("/v1/auth/password-reset/confirm", None, confirm(&link)).await;
    assert_eq!(
        error_code(status, &body, StatusCode::BAD_REQUEST),
        "VALIDATION_ERROR",
        "a link works once"
    );

    // A link is good for an hour.
    s.post("/v1/auth/password-reset", None, json!({"email": "ada@acme.io"})).await;
    let late = s.mailed_token("ada@acme.io", RESET_MARKER);
    assert_ne!(late, link);
    advance(&s, &field(&after, "token"), 61).await;
    let (status, body) = s.post("/v1/auth/password-reset/confirm", None, confirm(&late)).await;
    assert_eq!(error_code(status, &body, StatusCode::BAD_REQUEST), "VALIDATION_ERROR");
    sign_in(&s, "ada@acme.io", "the password after reset").await;

    // Requests are limited as sign-ins are: five per address and email in the window.
    let mut limited = false;
    for _ in 0..6 {
        let (status, _) = s.post("/v1/auth/password-reset", None, json!({"email": "ada@acme.io"})).await;
        limited |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited);
}

#[tokio::test]
async fn an_invitation_is_accepted_only_by_an_account_whose_address_is_verified() {
    let s = local_with(&[]);
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    ok(
        &s,
        Method::POST,
        &format!("/v1/orgs/{org}/members"),
        &owner,
        Some(json!({"email": "new@acme.io", "role": "member"})),
    )
    .await;
    let (newcomer, _) = s.signup_unverified("new@acme.io").await;
    let me_before = ok(&s, Method::GET, "/v1/auth/me", &newcomer, None).await;
    assert_eq!(me_before["emailVerified"], false);
    let invitation = s.invitation_token("new@acme.io");
    let accept = format!("/v1/invitations/{invitation}/accept");
    let code = refused(&s, Method::POST, &accept, Some(&newcomer), Some(json!({})), StatusCode::FORBIDDEN).await;
    assert_eq!(code, "EMAIL_NOT_VERIFIED");

    let (status, _) = s.call(Method::POST, "/v1/auth/verify-email/resend", Some(&newcomer), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        s.mails_with(VERIFY_MARKER).iter().filter(|m| m.contains("To: new@acme.io")).count(),
        2
    );
    let link = s.mailed_token("new@acme.io", VERIFY_MARKER);
    let (status, body) = s.post("/v1/auth/verify-email", None, json!({"token": link})).await;
    assert_eq!((status, &data(&body)["emailVerified"]), (StatusCode::OK, &json!(true)), "{body}");
    assert_eq!(ok(&s, Method::GET, "/v1/auth/me", &newcomer, None).await["emailVerified"], true);
    let membership = ok(&s, Method::POST, &accept, &newcomer, Some(json!({}))).await;
    assert_eq!(membership["role"], "member");
    let (status, body) = s
        .post("/v1/auth/verify-email", None, json!({"token": "01JD3Z5Q1T6N8WQ4S0F9V7C2XA.forged"}))
        .await;
    error_code(status, &body, StatusCode::BAD_REQUEST);
}

/// A change to the claims of a good ID token.
type ClaimChange = Box<dyn FnOnce(&mut Value)>;

fn google_token(signer: &GoogleSigner, now: i64, change: impl FnOnce(&mut Value)) -> String {
    let mut claims = GoogleSigner::claims(CLIENT_ID, "110169484474386276334", "grace@acme.io", now);
    change(&mut claims);
    signer.sign(&claims)
}

async fn google(s: &Local, id_token: &str) -> (StatusCode, Value) {
    s.post("/v1/auth/google", None, json!({"idToken": id_token})).await
}

#[tokio::test]
async fn google_sign_in_verifies_its_tokens_against_the_published_keys() {
    let (first, second) = (GoogleSigner::first(), GoogleSigner::second());
    let keys = GoogleKeys::start(&[&first]).await;
    let s = local_with(&[("CHIEF_GOOGLE_CLIENT_ID", CLIENT_ID), ("CHIEF_GOOGLE_JWKS_URL", &keys.url)]);
    let (clock_token, _) = s.signup("clock@acme.io").await;
    let now = advance(&s, &clock_token, 0).await;

    let (status, body) = google(&s, &google_token(&first, now, |_| {})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let signed_in = data(&body).clone();
    assert_eq!(signed_in["user"]["emailVerified"], true);
    assert_eq!(signed_in["user"]["hasPassword"], false);
    assert_eq!(me(&s, &field(&signed_in, "token")).await, "OK");
    let (_, again) = google(&s, &google_token(&first, now, |_| {})).await;
    assert_eq!(
        data(&again)["user"]["id"],
        signed_in["user"]["id"],
        "the same Google account, the same user"
    );
    assert_eq!(keys.fetches(), 1, "the key set is cached per its Cache-Control");

    let bad: [(&str, ClaimChange); 4] = [
        (
            "wrong audience",
            Box::new(|c| c["aud"] = "another-app.apps.googleusercontent.com".into()),
        ),
        ("wrong issuer", Box::new(|c| c["iss"] = "https://accounts.example.com".into())),
        ("expired", Box::new(move |c| c["exp"] = (now - 300).into())),
        ("unverified address", Box::new(|c| c["email_verified"] = false.into())),
    ];
    for (what, change) in bad {
        let (status, body) = google(&s, &google_token(&first, now, change)).await;
        assert_eq!(error_code(status, &body, StatusCode::UNAUTHORIZED), "UNAUTHORIZED", "{what}");
    }

    // Google rotates its keys: a token under a `kid` not in the cache makes one more fetch
    // (not within 30 s of the last one, so made-up ids cannot flood Google).
    keys.publish(&[&first, &second]);
    let rotated = advance(&s, &clock_token, 1).await;
    let (status, body) = google(&s, &google_token(&second, rotated, |_| {})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys.fetches(), 2);

    // The first sign-in of another Google account with an address that has a verified
    // account ties to it.
    let existing = ok(&s, Method::GET, "/v1/auth/me", &clock_token, None).await;
    let (status, body) = google(
        &s,
        &google_token(&second, rotated, |c| {
            c["sub"] = "another-google-account".into();
            c["email"] = "clock@acme.io".into();
        }),
    )
    .await;
    assert_eq!((status, &data(&body)["user"]["id"]), (StatusCode::OK, &existing["id"]), "{body}");
}

#[tokio::test]
async fn google_sign_in_is_503_when_unconfigured_or_its_keys_cannot_be_reached() {
    let signer = GoogleSigner::first();
    let now = chrono::Utc::now().timestamp();
    let off = local_with(&[]);
    let (status, body) = google(&off, &google_token(&signer, now, |_| {})).await;
    assert_eq!(error_code(status, &body, StatusCode::SERVICE_UNAVAILABLE), "GOOGLE_NOT_CONFIGURED");
    drop(off);
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/oauth2/v3/certs");
    let down = local_with(&[("CHIEF_GOOGLE_CLIENT_ID", CLIENT_ID), ("CHIEF_GOOGLE_JWKS_URL", &url)]);
    let (status, body) = google(&down, &google_token(&signer, now, |_| {})).await;
    assert_eq!(error_code(status, &body, StatusCode::SERVICE_UNAVAILABLE), "UNAVAILABLE");
}

#[tokio::test]
async fn bad_input_on_every_new_route_is_400_and_changes_nothing() {
    let keys = GoogleKeys::start(&[&GoogleSigner::first()]).await;
    let s = local_with(&[("CHIEF_GOOGLE_CLIENT_ID", CLIENT_ID), ("CHIEF_GOOGLE_JWKS_URL", &keys.url)]);
    let (token, _) = s.signup("ada@acme.io").await;
    let routes: [(&str, Value); 6] = [
        ("/v1/auth/google", json!({"idToken": "x"})),
        ("/v1/auth/refresh", json!({"refreshToken": "x"})),
        (
            "/v1/auth/password",
            json!({"currentPassword": "a long password", "newPassword": "another long one"}),
        ),
        ("/v1/auth/password-reset", json!({"email": "ada@acme.io"})),
        (
            "/v1/auth/password-reset/confirm",
            json!({"token": "x", "newPassword": "another long one"}),
        ),
        ("/v1/auth/verify-email", json!({"token": "x"})),
    ];
    for (path, good) in routes {
        let field = good.as_object().unwrap().keys().next().unwrap().clone();
        let mut wrong_type = good.clone();
        wrong_type[&field] = json!(7);
        let mut unknown = good.clone();
        unknown["extra"] = json!(true);
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(&field);
        for bad in [
            "not json".to_string(),
            "[]".into(),
            wrong_type.to_string(),
            unknown.to_string(),
            missing.to_string(),
        ] {
            let (status, body) = s.call(Method::POST, path, Some(&token), Some(&bad)).await;
            error_code(status, &body, StatusCode::BAD_REQUEST);
        }
        let (status, body) = s
            .call(
                Method::POST,
                path,
                Some(&token),
                Some(&format!("{{\"x\": \"{}\"}}", "y".repeat(100_000))),
            )
            .await;
        assert_eq!(
            error_code(status, &body, StatusCode::PAYLOAD_TOO_LARGE),
            "PAYLOAD_TOO_LARGE",
            "{path}"
        );
    }
    let short = json!({"currentPassword": "a long password", "newPassword": "short"});
    refused(
        &s,
        Method::POST,
        "/v1/auth/password",
        Some(&token),
        Some(short),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let reset = json!({"email": "not an address"});
    refused(
        &s,
        Method::POST,
        "/v1/auth/password-reset",
        None,
        Some(reset),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Nothing changed: the password is the same and the session lives.
    assert_eq!(me(&s, &token).await, "OK");
    sign_in(&s, "ada@acme.io", "a long password").await;
    assert_eq!(keys.fetches(), 0, "no malformed token reached Google");
}

#[tokio::test]
async fn the_audit_log_records_each_change_with_who_and_from_where_for_admins_of_that_org_only() {
    let s = local_with(&[]);
    let (owner, owner_id) = s.signup("owner@audit.io").await;
    let org = s.create_org(&owner, "Audited").await;
    let member = s.join(&owner, &org, "member@audit.io", "member").await;
    let member_id = ok(&s, Method::GET, "/v1/auth/me", &member, None).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/v1/orgs/{org}");
    ok(
        &s,
        Method::PATCH,
        &format!("{base}/members/{member_id}"),
        &owner,
        Some(json!({"role": "admin"})),
    )
    .await;
    ok(
        &s,
        Method::PATCH,
        &format!("{base}/members/{member_id}"),
        &owner,
        Some(json!({"role": "member"})),
    )
    .await;
    ok(&s, Method::PATCH, &base, &owner, Some(json!({"name": "Audited Ltd"}))).await;
    ok(
        &s,
        Method::PUT,
        &format!("{base}/autonomy"),
        &owner,
        Some(json!({"post": "off", "version": 0})),
    )
    .await;
    let lead = ok(
        &s,
        Method::POST,
        &format!("{base}/leads"),
        &owner,
        Some(json!({"name": "Gone soon"})),
    )
    .await;
    ok(
        &s,
        Method::DELETE,
        &format!("{base}/leads/{}", lead["id"].as_str().unwrap()),
        &owner,
        None,
    )
    .await;
    let account = ok(
        &s,
        Method::POST,
        &format!("{base}/social/accounts"),
        &owner,
        Some(json!({"platform": "sandbox", "name": "Main"})),
    )
    .await;
    ok(
        &s,
        Method::DELETE,
        &format!("{base}/social/accounts/{}", account["id"].as_str().unwrap()),
        &owner,
        None,
    )
    .await;
    ok(
        &s,
        Method::POST,
        &format!("{base}/members"),
        &owner,
        Some(json!({"email": "later@audit.io", "role": "admin"})),
    )
    .await;
    ok(&s, Method::DELETE, &format!("{base}/invitations/later@audit.io"), &owner, None).await;
    ok(&s, Method::DELETE, &format!("{base}/members/{member_id}"), &owner, None).await;

    let log = ok(&s, Method::GET, &format!("{base}/audit?limit=100"), &owner, None).await;
    let entries = log["items"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "invitation.sent",
        "invitation.accepted",
        "member.role_changed",
        "org.updated",
        "autonomy.changed",
        "lead.deleted",
        "social_account.connected",
        "social_account.removed",
        "invitation.revoked",
        "member.removed",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| **a == "member.role_changed").count(), 2);
    assert_eq!(actions[0], "member.removed", "newest first");
    let removal = &entries[0];
    assert_eq!(removal["actor"], owner_id.as_str());
    assert_eq!(removal["target"], format!("member:{member_id}"));
    assert!(removal["ip"].as_str().is_some_and(|ip| ip.starts_with("127.")), "{removal}");
    assert!(removal["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{removal}");
    let accepted = entries.iter().find(|e| e["action"] == "invitation.accepted").unwrap();
    assert_eq!(accepted["actor"], member_id.as_str(), "the one who accepted");
    let role = entries.iter().find(|e| e["action"] == "member.role_changed").unwrap();
    assert_eq!(
        (role["details"]["from"].as_str(), role["details"]["to"].as_str()),
        (Some("admin"), Some("member"))
    );
    // Never a secret: no invitation token, password or session token in the log.
    let text = log.to_string();
    let invitation = s.invitation_token("later@audit.io");
    for secret in [invitation.as_str(), "a long password", owner.as_str()] {
        assert!(!text.contains(secret), "the log holds a secret");
    }

    // Filters: a family of actions, an actor, a period.
    let family = ok(&s, Method::GET, &format!("{base}/audit?action=member"), &owner, None).await;
    assert!(
        family["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("member."))
    );
    let by_member = ok(&s, Method::GET, &format!("{base}/audit?actorId={member_id}"), &owner, None).await;
    let theirs: Vec<&str> = by_member["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(theirs, ["invitation.accepted"]);
    let future = ok(&s, Method::GET, &format!("{base}/audit?from=2999-01-01T00:00:00Z"), &owner, None).await;
    assert_eq!(future["items"], json!([]));
    refused(
        &s,
        Method::GET,
        &format!("{base}/audit?from=yesterday"),
        Some(&owner),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Admins of this org only.
    let rejoined = s.join(&owner, &org, "plain@audit.io", "member").await;
    let code = refused(
        &s,
        Method::GET,
        &format!("{base}/audit"),
        Some(&rejoined),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(code, "FORBIDDEN");
    let (stranger, _) = s.signup("stranger@else.io").await;
    let their_org = s.create_org(&stranger, "Elsewhere").await;
    let code = refused(
        &s,
        Method::GET,
        &format!("{base}/audit"),
        Some(&stranger),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "NOT_FOUND");
    let theirs = ok(&s, Method::GET, &format!("/v1/orgs/{their_org}/audit"), &stranger, None).await;
    assert_eq!(theirs["items"], json!([]), "nothing of another org");
}

#[tokio::test]
async fn each_member_turns_each_kind_of_mail_on_or_off_for_themselves_only() {
    let s = local_with(&[]);
    let (owner, _) = s.signup("owner@prefs.io").await;
    let org = s.create_org(&owner, "Prefs").await;
    let member = s.join(&owner, &org, "member@prefs.io", "member").await;
    let path = format!("/v1/orgs/{org}/notifications");
    let mine = ok(&s, Method::GET, &path, &member, None).await;
    assert_eq!(
        mine,
        json!({"followUpReminders": true, "weeklySummary": true, "quotaWarnings": true, "billingNotices": true, "version": 0})
    );
    let changed = ok(&s, Method::PUT, &path, &member, Some(json!({"weeklySummary": false, "version": 0}))).await;
    assert_eq!(
        (changed["weeklySummary"].as_bool(), changed["version"].as_u64()),
        (Some(false), Some(1))
    );
    assert_eq!(
        ok(&s, Method::GET, &path, &owner, None).await["weeklySummary"],
        true,
        "the owner's own are untouched"
    );
    let code = refused(
        &s,
        Method::PUT,
        &path,
        Some(&member),
        Some(json!({"quotaWarnings": false, "version": 0})),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "VERSION_CONFLICT");
    for bad in [
        json!({"weeklySummary": "no", "version": 1}),
        json!({"weeklySummary": false}),
        json!({"weeklySummary": false, "digest": true, "version": 1}),
    ] {
        refused(&s, Method::PUT, &path, Some(&member), Some(bad), StatusCode::BAD_REQUEST).await;
    }
    let (stranger, _) = s.signup("stranger@else.io").await;
    for method in [Method::GET, Method::PUT] {
        let body = (method == Method::PUT).then(|| json!({"weeklySummary": true, "version": 1}));
        refused(&s, method, &path, Some(&stranger), body, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(
        ok(&s, Method::GET, &path, &member, None).await,
        changed,
        "nothing else changed them"
    );
}
