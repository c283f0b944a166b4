//! Billing end to end: `local` with Stripe settings, calling a Stripe stand-in that checks
//! what it is sent, and receiving webhook deliveries signed here as Stripe signs them.

use chief::billing::signature::sign;
use chief_tests::stripe::{REJECTED_PRICE, SECRET_KEY, StripeFixture, event, subscription_event};
use chief_tests::{Local, data, error_code};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "whsec_chief_current";
const OLD_WEBHOOK_SECRET: &str = "whsec_chief_previous";
const PRICE_PRO: &str = "price_chief_pro";
const PRICE_ENTERPRISE: &str = "price_chief_enterprise";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn billing_local(stripe: &StripeFixture) -> Local {
    let secrets = format!("{WEBHOOK_SECRET},{OLD_WEBHOOK_SECRET}");
    Local::start_with(&[
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", &stripe.base),
        ("STRIPE_WEBHOOK_SECRET", &secrets),
        ("STRIPE_PRICE_PRO", PRICE_PRO),
        ("STRIPE_PRICE_ENTERPRISE", PRICE_ENTERPRISE),
    ])
}

/// An owner, their org, and the org's Stripe customer (made by a first checkout).
async fn subscribed_org(s: &Local, stripe: &StripeFixture, email: &str) -> (String, String, String) {
    let (owner, _) = s.signup(email).await;
    let org = s.create_org(&owner, "Acme").await;
    let (status, body) = s
        .post(&format!("/v1/orgs/{org}/billing/checkout"), Some(&owner), json!({"plan": "pro"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let customer = stripe.checkout_customer(&org);
    (owner, org, customer)
}

/// A Stripe event around Stripe's example object of `kind`, edited by `edit`.
async fn deliver(s: &Local, body: &str) -> Value {
    let (status, answer) = s.webhook(body, Some(&sign(body.as_bytes(), WEBHOOK_SECRET, now()))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    data(&answer)["outcome"].clone()
}

async fn billing(s: &Local, token: &str, org: &str) -> Value {
    let (status, body) = s.get(&format!("/v1/orgs/{org}/billing"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    data(&body).clone()
}

async fn plan_events(s: &Local, token: &str, org: &str) -> Vec<Value> {
    let (status, body) = s.get(&format!("/local/orgs/{org}/events"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    data(&body)
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detailType"] == "billing.plan_changed")
        .cloned()
        .collect()
}

#[tokio::test]
async fn checkout_and_portal_send_stripe_what_it_needs_and_reuse_the_customer() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;

    let (status, body) = s
        .post(&format!("/v1/orgs/{org}/billing/checkout"), Some(&owner), json!({"plan": "pro"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        data(&body)["url"].as_str().unwrap().starts_with("https://checkout.stripe.com/"),
        "{body}"
    );

    let sent = stripe.requests();
    let customer = sent.iter().find(|r| r.path == "/v1/customers").expect("a customer was created");
    assert_eq!(customer.field("metadata[org_id]"), Some(org.as_str()));
    assert_eq!(customer.field("email"), Some("owner@acme.io"));
    assert_eq!(customer.headers["idempotency-key"], format!("chief-customer-{org}"));
    let checkout = sent.iter().find(|r| r.path == "/v1/checkout/sessions").expect("a checkout session");
    let customer_id = checkout.field("customer").unwrap().to_string();
    assert!(customer_id.starts_with("cus_"));
    for (field, expected) in [
        ("mode", "subscription"),
        ("line_items[0][price]", PRICE_PRO),
        ("line_items[0][quantity]", "1"),
        ("metadata[org_id]", org.as_str()),
        ("metadata[plan]", "pro"),
        ("subscription_data[metadata][org_id]", org.as_str()),
        ("client_reference_id", org.as_str()),
    ] {
        assert_eq!(checkout.field(field), Some(expected), "{field}: {checkout:?}");
    }
    let success = checkout.field("success_url").unwrap();
    assert!(
        success.starts_with(&s.base) && success.contains("{CHECKOUT_SESSION_ID}"),
        "{success}"
    );
    assert!(checkout.field("cancel_url").unwrap().starts_with(&s.base));

    // A second checkout (the first was abandoned) reuses the customer.
    let (status, _) = s
        .post(
            &format!("/v1/orgs/{org}/billing/checkout"),
            Some(&owner),
            json!({"plan": "enterprise"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let sent = stripe.requests();
    assert_eq!(sent.iter().filter(|r| r.path == "/v1/customers").count(), 1);
    let second = sent.iter().rfind(|r| r.path == "/v1/checkout/sessions").unwrap();
    assert_eq!(
        (second.field("customer"), second.field("line_items[0][price]")),
        (Some(customer_id.as_str()), Some(PRICE_ENTERPRISE))
    );

    let (status, body) = s.post(&format!("/v1/orgs/{org}/billing/portal"), Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(data(&body)["url"].as_str().unwrap().starts_with("https://billing.stripe.com/"));
    let portal = stripe
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/billing_portal/sessions")
        .unwrap();
    assert_eq!(portal.field("customer"), Some(customer_id.as_str()));
    assert!(portal.field("return_url").unwrap().ends_with(&format!("/orgs/{org}/billing")));

    // Bad plans are 400; every request Stripe saw carried the key.
    for bad in [
        json!({"plan": "free"}),
        json!({"plan": 3}),
        json!({}),
        json!({"plan": "pro", "orgId": "x"}),
    ] {
        let (status, body) = s.post(&format!("/v1/orgs/{org}/billing/checkout"), Some(&owner), bad).await;
        error_code(status, &body, StatusCode::BAD_REQUEST);
    }
    assert!(
        stripe
            .requests()
            .iter()
            .all(|r| r.headers["authorization"] == format!("Bearer {SECRET_KEY}"))
    );

    // Once subscribed, checkout points to the portal instead of charging twice.
    let created = now() - 60;
    assert_eq!(
        deliver(
            &s,
            &subscription_event(
                "evt_live",
                "customer.subscription.created",
                created,
                &customer_id,
                "active",
                PRICE_PRO
            )
        )
        .await,
        "applied"
    );
    let (status, body) = s
        .post(
            &format!("/v1/orgs/{org}/billing/checkout"),
            Some(&owner),
            json!({"plan": "enterprise"}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "ALREADY_SUBSCRIBED");
}

#[tokio::test]
async fn stripe_refusing_a_setting_is_a_502_that_changes_nothing() {
    let stripe = StripeFixture::start().await;
    let s = Local::start_with(&[
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", &stripe.base),
        ("STRIPE_PRICE_PRO", REJECTED_PRICE),
    ]);
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let (status, body) = s
        .post(&format!("/v1/orgs/{org}/billing/checkout"), Some(&owner), json!({"plan": "pro"}))
        .await;
    assert_eq!(error_code(status, &body, StatusCode::BAD_GATEWAY), "PAYMENT_PROVIDER_ERROR");
    // What failed, in plain words, and the request to look up; Stripe's own answer is logged only.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Stripe refused the request (request id "), "{body}");
    assert!(!message.contains("No such price"), "{body}");
    // Enterprise has no price here: named in the answer, before Stripe is called.
    let calls = stripe.requests().len();
    let (status, body) = s
        .post(
            &format!("/v1/orgs/{org}/billing/checkout"),
            Some(&owner),
            json!({"plan": "enterprise"}),
        )
        .await;
    assert_eq!(error_code(status, &body, StatusCode::SERVICE_UNAVAILABLE), "BILLING_NOT_CONFIGURED");
    assert!(body["error"]["message"].as_str().unwrap().contains("STRIPE_PRICE_ENTERPRISE"));
    assert_eq!(stripe.requests().len(), calls);
    assert_eq!(billing(&s, &owner, &org).await["plan"], "free");
}

#[tokio::test]
async fn without_a_key_billing_is_503_after_authorisation_and_the_webhook_still_works() {
    let s = Local::start_with(&[("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)]);
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let (stranger, _) = s.signup("stranger@else.io").await;
    let (admin, _) = s.signup("admin@acme.io").await;
    let (member, _) = s.signup("member@acme.io").await;
    for (email, role) in [("admin@acme.io", "admin"), ("member@acme.io", "member")] {
        s.post(
            &format!("/v1/orgs/{org}/members"),
            Some(&owner),
            json!({"email": email, "role": role}),
        )
        .await;
    }
    for (email, token) in [("admin@acme.io", &admin), ("member@acme.io", &member)] {
        let invitation = s.invitation_token(email);
        let (status, _) = s
            .post(&format!("/v1/invitations/{invitation}/accept"), Some(token), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for action in ["checkout", "portal"] {
        let path = format!("/v1/orgs/{org}/billing/{action}");
        let body = json!({"plan": "pro"});
        let (status, answer) = s.post(&path, Some(&stranger), body.clone()).await;
        assert_eq!(error_code(status, &answer, StatusCode::NOT_FOUND), "NOT_FOUND", "{action}");
        for token in [&admin, &member] {
            let (status, answer) = s.post(&path, Some(token), body.clone()).await;
            assert_eq!(error_code(status, &answer, StatusCode::FORBIDDEN), "FORBIDDEN", "{action}");
        }
        let (status, answer) = s.post(&path, Some(&owner), body.clone()).await;
        assert_eq!(
            error_code(status, &answer, StatusCode::SERVICE_UNAVAILABLE),
            "BILLING_NOT_CONFIGURED",
            "{action}"
        );
        assert!(
            answer["error"]["message"].as_str().unwrap().contains("STRIPE_SECRET_KEY"),
            "{answer}"
        );
        let (status, answer) = s.call(reqwest::Method::POST, &path, None, Some("{}")).await;
        error_code(status, &answer, StatusCode::UNAUTHORIZED);
    }
    // The view answers from stored state: admins may read it, members and strangers not.
    let view = billing(&s, &admin, &org).await;
    assert_eq!(
        (view["plan"].as_str(), view["usage"]["tasks"]["limit"].as_i64()),
        (Some("free"), Some(10))
    );
    let (status, answer) = s.get(&format!("/v1/orgs/{org}/billing"), &member).await;
    error_code(status, &answer, StatusCode::FORBIDDEN);
    let (status, answer) = s.get(&format!("/v1/orgs/{org}/billing"), &stranger).await;
    error_code(status, &answer, StatusCode::NOT_FOUND);
    // The webhook has its own secret and answers.
    let body = event("evt_nokey", "customer.created", now(), "customer", |_| {});
    assert_eq!(deliver(&s, &body).await, "ignored");
}

#[tokio::test]
async fn deliveries_without_a_genuine_fresh_signature_are_400_and_change_nothing() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, org, customer) = subscribed_org(&s, &stripe, "owner@acme.io").await;
    let body = subscription_event(
        "evt_sig",
        "customer.subscription.created",
        now() - 30,
        &customer,
        "active",
        PRICE_PRO,
    );
    let tampered = body.replace(PRICE_PRO, PRICE_ENTERPRISE);
    let t = now();
    for (case, payload, header) in [
        ("missing", body.clone(), None),
        ("malformed", body.clone(), Some("t=abc,v1=xyz".to_string())),
        ("tampered", tampered.clone(), Some(sign(body.as_bytes(), WEBHOOK_SECRET, t))),
        ("expired", body.clone(), Some(sign(body.as_bytes(), WEBHOOK_SECRET, t - 301))),
        ("wrong secret", body.clone(), Some(sign(body.as_bytes(), "whsec_someone_else", t))),
    ] {
        let (status, answer) = s.webhook(&payload, header.as_deref()).await;
        assert_eq!(error_code(status, &answer, StatusCode::BAD_REQUEST), "INVALID_SIGNATURE", "{case}");
    }
    assert_eq!(billing(&s, &owner, &org).await["plan"], "free");
    assert!(plan_events(&s, &owner, &org).await.is_empty());
    // A signed body that is not an event is 400 too; an oversized one 413.
    let (status, answer) = s.webhook("[1,2", Some(&sign(b"[1,2", WEBHOOK_SECRET, t))).await;
    assert_eq!(error_code(status, &answer, StatusCode::BAD_REQUEST), "INVALID_EVENT");
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (status, answer) = s.webhook(&huge, Some(&sign(huge.as_bytes(), WEBHOOK_SECRET, t))).await;
    error_code(status, &answer, StatusCode::PAYLOAD_TOO_LARGE);
    // During a rotation the previous secret still signs.
    let (status, answer) = s.webhook(&body, Some(&sign(body.as_bytes(), OLD_WEBHOOK_SECRET, t))).await;
    assert_eq!(
        (status, data(&answer)["outcome"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{answer}"
    );
    assert_eq!(billing(&s, &owner, &org).await["plan"], "pro");
}

#[tokio::test]
async fn one_event_delivered_many_times_or_at_once_applies_once() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, org, customer) = subscribed_org(&s, &stripe, "owner@acme.io").await;
    let body = subscription_event(
        "evt_once",
        "customer.subscription.created",
        now() - 60,
        &customer,
        "active",
        PRICE_PRO,
    );
    assert_eq!(deliver(&s, &body).await, "applied");
    for _ in 0..99 {
        assert_eq!(deliver(&s, &body).await, "duplicate");
    }
    let view = billing(&s, &owner, &org).await;
    assert_eq!(
        (view["plan"].as_str(), view["status"].as_str()),
        (Some("pro"), Some("active")),
        "{view}"
    );
    assert_eq!(view["usage"]["tasks"]["limit"], 100);
    let (_, read) = s.get(&format!("/v1/orgs/{org}"), &owner).await;
    assert_eq!(data(&read)["plan"], "pro");
    let events = plan_events(&s, &owner, &org).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0]["detail"]["from"].as_str(), events[0]["detail"]["to"].as_str()),
        (Some("free"), Some("pro"))
    );
    assert_eq!(events[0]["source"], "chief.billing");

    // Twenty concurrent deliveries of a new event: one applies, the rest are duplicates.
    let upgrade = subscription_event(
        "evt_concurrent",
        "customer.subscription.updated",
        now() - 30,
        &customer,
        "active",
        PRICE_ENTERPRISE,
    );
    let outcomes = futures_join(&s, &upgrade, 20).await;
    assert_eq!(outcomes.iter().filter(|o| *o == "applied").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 19, "{outcomes:?}");
    assert_eq!(billing(&s, &owner, &org).await["plan"], "enterprise");
    assert_eq!(plan_events(&s, &owner, &org).await.len(), 2);
}

async fn futures_join(s: &Local, body: &str, n: usize) -> Vec<String> {
    // Polled together on one task: the requests are in flight at the same time.
    let outcomes = futures::future::join_all((0..n).map(|_| deliver(s, body))).await;
    outcomes.iter().map(|o| o.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn subscription_events_in_any_order_end_in_the_newest_state() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let t = now() - 3_600;
    // (type, status, price, seconds after t): the life of one subscription.
    let life = [
        ("customer.subscription.created", "incomplete", PRICE_PRO, 0),
        ("customer.subscription.updated", "active", PRICE_PRO, 10),
        ("customer.subscription.updated", "active", PRICE_ENTERPRISE, 20),
        ("customer.subscription.updated", "past_due", PRICE_ENTERPRISE, 30),
        ("customer.subscription.updated", "active", PRICE_ENTERPRISE, 40),
    ];
    // Fixed permutations, so a failure is repeatable: in order, reversed, and shuffled.
    let orders: [[usize; 5]; 4] = [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [3, 0, 4, 2, 1], [1, 4, 0, 3, 2]];
    for (n, order) in orders.iter().enumerate() {
        let (owner, org, customer) = subscribed_org(&s, &stripe, &format!("owner{n}@acme.io")).await;
        for &i in order {
            let (kind, status, price, at) = life[i];
            deliver(
                &s,
                &subscription_event(&format!("evt_{n}_{i}"), kind, t + at, &customer, status, price),
            )
            .await;
        }
        let view = billing(&s, &owner, &org).await;
        assert_eq!(
            (view["plan"].as_str(), view["status"].as_str(), view["planLapsesAt"].as_str()),
            (Some("enterprise"), Some("active"), None),
            "order {order:?}: {view}"
        );
        // Then deleted, and a late update from before the deletion changes nothing.
        deliver(
            &s,
            &subscription_event(
                &format!("evt_{n}_del"),
                "customer.subscription.deleted",
                t + 50,
                &customer,
                "canceled",
                PRICE_ENTERPRISE,
            ),
        )
        .await;
        assert_eq!(
            deliver(
                &s,
                &subscription_event(
                    &format!("evt_{n}_late"),
                    "customer.subscription.updated",
                    t + 45,
                    &customer,
                    "active",
                    PRICE_PRO
                )
            )
            .await,
            "stale"
        );
        let view = billing(&s, &owner, &org).await;
        assert_eq!(
            (view["plan"].as_str(), view["status"].as_str()),
            (Some("free"), Some("canceled")),
            "order {order:?}: {view}"
        );
        assert_eq!(view["usage"]["tasks"]["limit"], 10);
    }
}

#[tokio::test]
async fn past_due_keeps_the_plan_for_a_grace_period_and_invoices_show() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, org, customer) = subscribed_org(&s, &stripe, "owner@acme.io").await;
    let day = 86_400;
    deliver(
        &s,
        &subscription_event(
            "evt_a",
            "customer.subscription.created",
            now() - 20 * day,
            &customer,
            "active",
            PRICE_PRO,
        ),
    )
    .await;
    let failed = event("evt_inv_failed", "invoice.payment_failed", now() - 3 * day, "invoice", |i| {
        i["customer"] = customer.as_str().into();
        i["amount_due"] = 2900.into();
    });
    assert_eq!(deliver(&s, &failed).await, "applied");
    deliver(
        &s,
        &subscription_event(
            "evt_pd",
            "customer.subscription.updated",
            now() - 3 * day,
            &customer,
            "past_due",
            PRICE_PRO,
        ),
    )
    .await;
    let view = billing(&s, &owner, &org).await;
    assert_eq!(
        (view["plan"].as_str(), view["status"].as_str()),
        (Some("pro"), Some("past_due")),
        "{view}"
    );
    assert!(view["planLapsesAt"].as_str().is_some(), "{view}");
    assert_eq!(
        (view["lastInvoice"]["status"].as_str(), view["lastInvoice"]["amount"].as_i64()),
        (Some("payment_failed"), Some(2900))
    );

    // Another org fell past due nine days ago: its seven days of grace are over.
    let (owner2, org2, customer2) = subscribed_org(&s, &stripe, "owner2@acme.io").await;
    deliver(
        &s,
        &subscription_event(
            "evt_b",
            "customer.subscription.created",
            now() - 20 * day,
            &customer2,
            "active",
            PRICE_PRO,
        ),
    )
    .await;
    deliver(
        &s,
        &subscription_event(
            "evt_b_pd",
            "customer.subscription.updated",
            now() - 9 * day,
            &customer2,
            "past_due",
            PRICE_PRO,
        ),
    )
    .await;
    let view = billing(&s, &owner2, &org2).await;
    assert_eq!(
        (view["plan"].as_str(), view["usage"]["tasks"]["limit"].as_i64()),
        (Some("free"), Some(10)),
        "{view}"
    );

    // The first pays: the plan stays, and the grace is over.
    let paid = event("evt_inv_paid", "invoice.paid", now() - 60, "invoice", |i| {
        i["customer"] = customer.as_str().into();
        i["amount_paid"] = 2900.into();
    });
    deliver(&s, &paid).await;
    deliver(
        &s,
        &subscription_event(
            "evt_ok",
            "customer.subscription.updated",
            now() - 60,
            &customer,
            "active",
            PRICE_PRO,
        ),
    )
    .await;
    let view = billing(&s, &owner, &org).await;
    assert_eq!(
        (view["plan"].as_str(), view["planLapsesAt"].as_str()),
        (Some("pro"), None),
        "{view}"
    );
    assert_eq!(view["lastInvoice"]["status"], "paid");
    assert_eq!(plan_events(&s, &owner, &org).await.len(), 1, "past due is not a plan change");
}

#[tokio::test]
async fn events_for_unknown_customers_or_types_get_200_and_store_nothing() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, org, customer) = subscribed_org(&s, &stripe, "owner@acme.io").await;
    let stranger = subscription_event(
        "evt_stranger",
        "customer.subscription.created",
        now(),
        "cus_nobody",
        "active",
        PRICE_PRO,
    );
    assert_eq!(deliver(&s, &stranger).await, "unknown_customer");
    let unknown = event("evt_price", "price.created", now(), "price", |_| {});
    assert_eq!(deliver(&s, &unknown).await, "ignored");
    // Checkout completing grants the plan it was started for, ahead of the subscription event.
    let completed = event("evt_cs", "checkout.session.completed", now() - 10, "checkout.session", |cs| {
        cs["customer"] = customer.as_str().into();
        cs["subscription"] = "sub_chief1".into();
        cs["mode"] = "subscription".into();
        cs["payment_status"] = "paid".into();
        cs["metadata"] = json!({"org_id": org, "plan": "pro"});
    });
    assert_eq!(deliver(&s, &completed).await, "applied");
    assert_eq!(billing(&s, &owner, &org).await["plan"], "pro");
    // Not stored: the same unknown delivery is handled the same way again, not as a duplicate.
    assert_eq!(deliver(&s, &stranger).await, "unknown_customer");
    assert_eq!(deliver(&s, &unknown).await, "ignored");
}

fn sessions_made(stripe: &StripeFixture) -> usize {
    stripe
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/checkout/sessions")
        .count()
}

#[tokio::test]
async fn checkout_answers_the_open_session_rather_than_open_a_second_way_to_pay() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, _) = s.signup("owner@acme.io").await;
    let org = s.create_org(&owner, "Acme").await;
    let checkout = format!("/v1/orgs/{org}/billing/checkout");
    let (status, first) = s.post(&checkout, Some(&owner), json!({"plan": "pro"})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (_, again) = s.post(&checkout, Some(&owner), json!({"plan": "pro"})).await;
    assert_eq!(
        data(&again)["sessionId"],
        data(&first)["sessionId"],
        "the open session is answered again"
    );
    assert_eq!(sessions_made(&stripe), 1);

    // Another plan closes the open session before opening its own.
    let (_, enterprise) = s.post(&checkout, Some(&owner), json!({"plan": "enterprise"})).await;
    let pro_session = data(&first)["sessionId"].as_str().unwrap();
    assert_ne!(data(&enterprise)["sessionId"].as_str().unwrap(), pro_session);
    assert_eq!(stripe.session_status(pro_session).as_deref(), Some("expired"));

    // Many at once on a fresh org: one session stays open and every answer is that one.
    let other = s.create_org(&owner, "Beta").await;
    let path = format!("/v1/orgs/{other}/billing/checkout");
    let answers = futures::future::join_all((0..5).map(|_| s.post(&path, Some(&owner), json!({"plan": "pro"})))).await;
    let ids: Vec<&str> = answers.iter().map(|(_, body)| data(body)["sessionId"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let open = (1..=40)
        .map(|n| format!("cs_test_fixture{n}"))
        .filter(|id| stripe.session_status(id).as_deref() == Some("open"))
        .count();
    assert_eq!(open, 2, "the first org's enterprise session and one of the second org's");
}

#[tokio::test]
async fn deleting_an_org_cancels_its_subscription_first_and_later_events_say_org_deleted() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, org, customer) = subscribed_org(&s, &stripe, "owner@acme.io").await;
    let live = subscription_event(
        "evt_live",
        "customer.subscription.created",
        now() - 60,
        &customer,
        "active",
        PRICE_PRO,
    );
    assert_eq!(deliver(&s, &live).await, "applied");

    stripe.set_down(true);
    let (status, body) = s.delete(&format!("/v1/orgs/{org}"), &owner).await;
    assert_eq!(error_code(status, &body, StatusCode::SERVICE_UNAVAILABLE), "UNAVAILABLE");
    assert_eq!(billing(&s, &owner, &org).await["status"], "active", "nothing was deleted");
    stripe.set_down(false);

    let (status, body) = s.delete(&format!("/v1/orgs/{org}"), &owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cancel = stripe
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE" && r.path == "/v1/subscriptions/sub_chief1")
        .expect("the subscription was cancelled in Stripe");
    assert_eq!(
        (cancel.field("invoice_now"), cancel.field("prorate")),
        (Some("false"), Some("false"))
    );
    let (status, _) = s.get(&format!("/v1/orgs/{org}"), &owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let ended = subscription_event("evt_end", "customer.subscription.deleted", now(), &customer, "canceled", PRICE_PRO);
    assert_eq!(deliver(&s, &ended).await, "org_deleted");
    assert_eq!(deliver(&s, &ended).await, "org_deleted");
}

#[tokio::test]
async fn a_second_live_subscription_is_raised_to_the_owners_not_ignored() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, org, customer) = subscribed_org(&s, &stripe, "owner@acme.io").await;
    let live = subscription_event(
        "evt_live",
        "customer.subscription.created",
        now() - 60,
        &customer,
        "active",
        PRICE_PRO,
    );
    assert_eq!(deliver(&s, &live).await, "applied");
    let second = event("evt_second", "customer.subscription.created", now() - 30, "subscription", |sub| {
        sub["id"] = "sub_chief2".into();
        sub["customer"] = customer.as_str().into();
        sub["status"] = "active".into();
        sub["items"]["data"][0]["price"]["id"] = PRICE_ENTERPRISE.into();
    });
    assert_eq!(deliver(&s, &second).await, "conflicting_subscription");
    let view = billing(&s, &owner, &org).await;
    assert_eq!(view["conflictingSubscriptions"], json!(["sub_chief2"]), "{view}");
    assert_eq!(view["plan"], "pro", "the first subscription's state stands");
    let (_, events) = s.get(&format!("/local/orgs/{org}/events"), &owner).await;
    assert!(
        data(&events)
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detailType"] == "billing.conflicting_subscription"),
        "{events}"
    );
    let gone = event("evt_second_gone", "customer.subscription.deleted", now(), "subscription", |sub| {
        sub["id"] = "sub_chief2".into();
        sub["customer"] = customer.as_str().into();
        sub["status"] = "canceled".into();
    });
    assert_eq!(deliver(&s, &gone).await, "applied");
    assert_eq!(billing(&s, &owner, &org).await["conflictingSubscriptions"], json!([]));
}

#[tokio::test]
async fn a_price_that_maps_to_no_plan_never_keeps_a_higher_plan_and_health_says_so() {
    let stripe = StripeFixture::start().await;
    let s = billing_local(&stripe).await;
    let (owner, org, customer) = subscribed_org(&s, &stripe, "owner@acme.io").await;
    let live = subscription_event(
        "evt_live",
        "customer.subscription.created",
        now() - 60,
        &customer,
        "active",
        PRICE_ENTERPRISE,
    );
    assert_eq!(deliver(&s, &live).await, "applied");
    assert_eq!(billing(&s, &owner, &org).await["plan"], "enterprise");
    let (_, health) = s.call(reqwest::Method::GET, "/v1/health", None, None).await;
    assert_eq!(data(&health)["checks"]["stripe"]["ok"], true, "{health}");

    let moved = subscription_event(
        "evt_moved",
        "customer.subscription.updated",
        now() - 30,
        &customer,
        "active",
        "price_unmapped",
    );
    assert_eq!(deliver(&s, &moved).await, "applied");
    assert_eq!(billing(&s, &owner, &org).await["plan"], "free");
    let (status, health) = s.call(reqwest::Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let stripe_check = &data(&health)["checks"]["stripe"];
    assert_eq!(stripe_check["ok"], false, "{health}");
    assert_eq!(stripe_check["unmappedPrices"], json!(["price_unmapped"]));
    assert_eq!(data(&health)["status"], "degraded");
}
