//! Deals on the in-memory App: stage rules, the pipeline's sums, deliverables delivered by a
//! published post (once, under redelivery), exclusivity, follow-ups through the executor, and
//! the agent's quiet deals.

use super::deliverables::{self, DeliverableStatus, NewDeliverable};
use super::*;
use crate::content::accounts::{self, NewAccount};
use crate::content::items::{self, ContentFields, ContentKind};
use crate::content::posts::{self, NewPost, Post};
use crate::executor::tests::{ORG, org, used};
use crate::executor::tick;
use crate::platforms::Platform;
use crate::ports::queue::QueueName;
use crate::tasks::{Approval, TaskStatus, TaskType};
use crate::testing::{self, TestApp};
use crate::usage::{Metric, Plan};
use chrono::Duration;

fn date(value: &str) -> NaiveDate {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").unwrap()
}

async fn sponsor(t: &TestApp, tenant: &TenantCtx, name: &str, category: &str) -> Sponsor {
    let fields = SponsorFields {
        name: Some(name.into()),
        category: Some(category.into()),
        contacts: Some(vec![
            Contact {
                name: "No Mail".into(),
                email: None,
                role: None,
            },
            Contact {
                name: "Dana".into(),
                email: Some(format!("dana@{}.example", name.to_lowercase())),
                role: Some("Partnerships".into()),
            },
        ]),
        ..SponsorFields::default()
    };
    create_sponsor(&t.app, tenant, fields).await.unwrap()
}

async fn deal(t: &TestApp, tenant: &TenantCtx, sponsor: &Sponsor, stage: Stage, exclusivity: Option<Exclusivity>) -> Deal {
    let fields = DealFields {
        sponsor_id: Some(sponsor.id.to_string()),
        title: Some(format!("{} spring campaign", sponsor.name)),
        value: Some(250_000),
        currency: Some("eur".into()),
        kind: Some(DealType::SponsoredPost),
        stage: Some(stage),
        exclusivity: Some(exclusivity),
        ..DealFields::default()
    };
    let named = Named {
        sponsor: Some(crate::ports::table::Item::new()),
        owner: None,
    };
    create_deal(&t.app, tenant, fields, named).await.unwrap()
}

async fn stored_deal(t: &TestApp, tenant: &TenantCtx, id: &DealId) -> Deal {
    deal_from(t.app.table.get(&tenant.key(keys::deal_sk(id))).await.unwrap()).unwrap()
}

async fn activities(t: &TestApp, tenant: &TenantCtx, id: &DealId) -> Vec<DealActivity> {
    query_all(&*t.app.table, Query::partition(tenant.pk()).prefix(keys::deal_activity_prefix(id)))
        .await
        .unwrap()
        .into_iter()
        .map(|i| from_item(i).unwrap())
        .collect()
}

#[test]
fn a_deal_moves_forward_only_is_lost_from_an_open_stage_and_comes_back_only_by_an_admin() {
    assert!(check_change(Stage::Inquiry, Stage::Contracted, false).is_ok(), "skipping forward");
    assert!(check_change(Stage::Invoiced, Stage::Lost, false).is_ok());
    for (from, to, admin) in [
        (Stage::Contracted, Stage::Negotiating, true),
        (Stage::Paid, Stage::Lost, true),
        (Stage::Lost, Stage::Negotiating, false),
        (Stage::Delivered, Stage::Delivered, true),
    ] {
        let err = check_change(from, to, admin).unwrap_err();
        assert_eq!(err.code(), "INVALID_STAGE_CHANGE", "{from:?} → {to:?}");
    }
    assert!(check_change(Stage::Lost, Stage::Negotiating, true).is_ok());
}

#[tokio::test]
async fn each_stage_change_is_an_activity_and_its_events() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let brand = sponsor(&t, &tenant, "Fizz", "energy drinks").await;
    let open = deal(&t, &tenant, &brand, Stage::Inquiry, None).await;
    let change = |stage, reason: Option<&str>| StageChange {
        stage,
        reason: reason.map(str::to_string),
    };
    let moved = change_stage(&t.app, &tenant, open, change(Stage::InProgress, None)).await.unwrap();
    assert_eq!((moved.stage, moved.won_at.is_some()), (Stage::InProgress, true));
    let err = change_stage(&t.app, &tenant, moved.clone(), change(Stage::Lost, None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR", "lost needs a reason");
    let lost = change_stage(&t.app, &tenant, moved, change(Stage::Lost, Some("budget cut")))
        .await
        .unwrap();
    assert_eq!(lost.lost_reason.as_deref(), Some("budget cut"));
    let kinds: Vec<String> = t.recorder.events_of(ORG).iter().map(|e| e.detail_type.clone()).collect();
    assert_eq!(kinds, ["deal.stage_changed", "deal.won", "deal.stage_changed", "deal.lost"]);
    let logged = activities(&t, &tenant, &lost.id).await;
    assert_eq!(logged.len(), 3, "created, and two moves: {logged:?}");
    let lost_at = logged.iter().find(|a| a.to_stage == Some(Stage::Lost)).unwrap();
    assert_eq!(lost_at.reason.as_deref(), Some("budget cut"));
}

#[test]
fn the_pipeline_sums_each_stage_per_currency_and_the_win_rate_of_the_period() {
    let now = crate::clock::parse("2026-11-20T10:00:00Z").unwrap();
    let old = now - Duration::days(200);
    let make = |stage: Stage, value: i64, currency: &str, won: Option<DateTime<Utc>>, lost: Option<DateTime<Utc>>| Deal {
        id: DealId::generate(),
        sponsor_id: SponsorId::generate(),
        title: "d".into(),
        value,
        currency: currency.into(),
        kind: DealType::Integration,
        stage,
        lost_reason: None,
        expected_close_date: None,
        exclusivity: None,
        owner_id: None,
        next_follow_up_at: None,
        last_activity_at: now,
        won_at: won,
        lost_at: lost,
        created_by: "u".into(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let deals = vec![
        make(Stage::Inquiry, 100, "EUR", None, None),
        make(Stage::Inquiry, 50, "USD", None, None),
        make(Stage::Contracted, 1_000, "EUR", Some(now), None),
        make(Stage::Paid, 2_000, "EUR", Some(now), None),
        make(Stage::Paid, 9_000, "EUR", Some(old), None),
        make(Stage::Lost, 300, "EUR", Some(now), Some(now)),
        make(Stage::Lost, 300, "EUR", None, Some(old)),
    ];
    let view = pipeline::summarise(&deals, date("2026-08-22"), date("2026-11-20"));
    let inquiry = &view.stages[0];
    assert_eq!((inquiry.stage, inquiry.count), (Stage::Inquiry, 2));
    assert_eq!(
        inquiry.values.iter().map(|v| (v.currency.as_str(), v.total)).collect::<Vec<_>>(),
        [("EUR", 100), ("USD", 50)]
    );
    assert_eq!(view.stages.iter().find(|s| s.stage == Stage::Paid).unwrap().values[0].total, 11_000);
    assert_eq!(view.stages.len(), 8, "every stage, empty ones too");
    // Won in the period: the contracted and the newer paid; lost in it: the one won then lost.
    assert_eq!((view.won, view.lost), (2, 1));
    assert!((view.win_rate.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        pipeline::summarise(&deals[..2], date("2026-08-22"), date("2026-11-20")).win_rate,
        None
    );
    assert!(pipeline::period(Some("2026-12-01"), Some("2026-11-01"), date("2026-11-20")).is_err());
    assert_eq!(
        pipeline::period(None, None, date("2026-11-20")).unwrap(),
        (date("2026-08-22"), date("2026-11-20"))
    );
}

#[test]
fn currencies_are_iso_4217_codes() {
    assert_eq!(currency(" usd ").unwrap(), "USD");
    for bad in ["XYZ", "EURO", "", "€"] {
        assert!(currency(bad).is_err(), "{bad}");
    }
}

async fn sandbox_account(t: &TestApp, tenant: &TenantCtx) -> accounts::SocialAccount {
    let input = NewAccount {
        platform: "sandbox".into(),
        name: "Main".into(),
    };
    accounts::create(&t.app, tenant, input).await.unwrap()
}

async fn content_item(t: &TestApp, tenant: &TenantCtx, body: &str) -> items::ContentItem {
    let fields = ContentFields {
        title: Some("Spring review".into()),
        body: Some(body.into()),
        kind: Some(ContentKind::Video),
        target_platforms: Some(vec![Platform::X, Platform::Linkedin]),
        ..ContentFields::default()
    };
    items::create(&t.app, tenant, fields).await.unwrap()
}

async fn draft_of(t: &TestApp, tenant: &TenantCtx, content: Option<&str>, text: &str) -> Post {
    let input = NewPost {
        platform: Platform::Linkedin,
        text: text.into(),
        hashtags: Vec::new(),
        media_urls: Vec::new(),
        pillar: None,
        content_id: content.map(str::to_string),
        thread: Vec::new(),
    };
    let mut post = posts::new_post(t.app.clock.now(), "user", input).unwrap();
    posts::insert(&t.app, tenant, &post).await.unwrap();
    posts::approve_now(&mut post, "user", t.app.clock.now()).unwrap();
    posts::save(&t.app, tenant, post, Vec::new()).await.unwrap()
}

fn linked(platform: Platform, post: Option<&Post>, content: Option<&items::ContentItem>) -> NewDeliverable {
    NewDeliverable {
        description: "a sponsored post".into(),
        platform,
        due_date: date("2026-12-01"),
        post_id: post.map(|p| p.id.to_string()),
        content_id: content.map(|c| c.id.to_string()),
        status: None,
        delivered_url: None,
    }
}

/// What a deliverable's create reads beside it: the post and item it names exist.
fn found(post: bool, content: bool) -> Vec<Option<crate::ports::table::Item>> {
    [post, content]
        .into_iter()
        .filter(|named| *named)
        .map(|_| Some(crate::ports::table::Item::new()))
        .collect()
}

#[tokio::test]
async fn a_published_post_delivers_its_deliverables_once_and_moves_the_deal_with_one_invoice_task() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox_account(&t, &tenant).await;
    let brand = sponsor(&t, &tenant, "Fizz", "energy drinks").await;
    let contracted = deal(&t, &tenant, &brand, Stage::Contracted, None).await;
    let piece = content_item(&t, &tenant, "A long review of the spring line.").await;
    let by_item = draft_of(&t, &tenant, Some(&piece.id), "Our spring review is out").await;
    let direct = draft_of(&t, &tenant, None, "Thanks to Fizz for the spring").await;
    let first = deliverables::create(
        &t.app,
        &tenant,
        contracted.clone(),
        linked(Platform::Linkedin, None, Some(&piece)),
        &found(false, true),
    )
    .await
    .unwrap();
    let second = deliverables::create(
        &t.app,
        &tenant,
        contracted.clone(),
        linked(Platform::Linkedin, Some(&direct), None),
        &found(true, false),
    )
    .await
    .unwrap();

    let now = t.app.clock.now();
    posts::schedule(&t.app, &tenant, Plan::Pro, by_item, &account, now, false, None)
        .await
        .unwrap();
    crate::runner::tests::publish_due(&t).await;
    let delivered = deliverables::deliverable_from(
        t.app
            .table
            .get(&tenant.key(keys::deliverable_sk(&contracted.id, &first.id)))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(delivered.status, DeliverableStatus::Delivered);
    assert!(
        delivered.delivered_url.as_deref().unwrap().starts_with("sandbox://"),
        "{delivered:?}"
    );
    assert_eq!(
        stored_deal(&t, &tenant, &contracted.id).await.stage,
        Stage::Contracted,
        "one of two delivered"
    );
    let piece_now = items::fresh(&t.app, &tenant, piece.clone()).await.unwrap();
    assert_eq!(piece_now.status, items::ContentStatus::Published, "its one post is out");

    posts::schedule(&t.app, &tenant, Plan::Pro, direct, &account, now, false, None)
        .await
        .unwrap();
    tick(&t.app).await.unwrap();
    let job = t.app.queue.receive(QueueName::Publish, 10).await.unwrap().remove(0);
    // Delivered twice, the second after the first finished: nothing happens twice.
    crate::content::publish::run(&t.app, &job.body).await.unwrap();
    crate::content::publish::run(&t.app, &job.body).await.unwrap();
    let moved = stored_deal(&t, &tenant, &contracted.id).await;
    assert_eq!(moved.stage, Stage::Delivered);
    let invoice = crate::tasks::task_from(
        t.app
            .table
            .get(&tenant.key(keys::task_sk(&deliverables::invoice_task_id(&contracted.id))))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!((invoice.kind, invoice.status), (TaskType::InvoiceSponsor, TaskStatus::Pending));
    let logged = activities(&t, &tenant, &contracted.id).await;
    assert_eq!(
        logged.iter().filter(|a| a.kind == ActivityKind::DeliverableDelivered).count(),
        2,
        "{logged:?}"
    );
    assert_eq!(logged.iter().filter(|a| a.to_stage == Some(Stage::Delivered)).count(), 1);
    let tasks = query_all(&*t.app.table, Query::partition(tenant.pk()).prefix(keys::TASK_PREFIX))
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1, "one invoice task");
    let _ = second;
}

#[tokio::test]
async fn a_rival_sponsors_post_inside_an_exclusivity_window_is_refused_unless_an_admin_overrides() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox_account(&t, &tenant).await;
    let fizz = sponsor(&t, &tenant, "Fizz", "Energy drinks").await;
    let buzz = sponsor(&t, &tenant, "Buzz", "energy drinks ").await;
    let window = Exclusivity {
        category: "energy drinks".into(),
        from: date("2026-11-01"),
        to: date("2026-12-31"),
    };
    let exclusive = deal(&t, &tenant, &fizz, Stage::InProgress, Some(window)).await;
    let rival = deal(&t, &tenant, &buzz, Stage::Contracted, None).await;
    let post = draft_of(&t, &tenant, None, "Buzz keeps me going").await;
    deliverables::create(
        &t.app,
        &tenant,
        rival,
        linked(Platform::Linkedin, Some(&post), None),
        &found(true, false),
    )
    .await
    .unwrap();
    let now = t.app.clock.now();
    let err = posts::schedule(&t.app, &tenant, Plan::Pro, post.clone(), &account, now, false, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "EXCLUSIVITY_CONFLICT");
    assert!(err.public_message().contains(exclusive.id.as_str()), "{}", err.public_message());
    let later = now + Duration::days(45);
    assert!(
        posts::schedule(&t.app, &tenant, Plan::Pro, post.clone(), &account, later, false, None)
            .await
            .is_ok(),
        "after the window"
    );
    let post = posts::post_from(t.app.table.get(&tenant.key(keys::post_sk(&post.id))).await.unwrap()).unwrap();
    let overridden = posts::schedule(&t.app, &tenant, Plan::Pro, post, &account, now, false, Some("admin-1"))
        .await
        .unwrap();
    let recorded = overridden.exclusivity_override.unwrap();
    assert_eq!(
        (recorded.deal_id.as_str(), recorded.by.as_str()),
        (exclusive.id.as_str(), "admin-1")
    );
    let ordinary = draft_of(&t, &tenant, None, "Nothing sponsored here").await;
    assert!(
        posts::schedule(&t.app, &tenant, Plan::Pro, ordinary, &account, now, false, None)
            .await
            .is_ok()
    );
}

/// Sets a deal's follow-up as a member's PATCH does.
async fn follow_up_at(t: &TestApp, tenant: &TenantCtx, deal: Deal, at: DateTime<Utc>) -> Deal {
    let fields = DealFields {
        next_follow_up_at: Some(Some(crate::clock::timestamp(at))),
        version: Some(deal.version),
        ..DealFields::default()
    };
    update_deal(
        &t.app,
        tenant,
        deal,
        fields,
        Named {
            sponsor: None,
            owner: None,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_follow_up_fires_once_per_due_time_with_two_executors_and_a_duplicated_job() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    // The default policy: mail to a customer waits for a person.
    let policy = crate::tasks::autonomy::AutonomyPolicy {
        version: 2,
        ..crate::tasks::autonomy::AutonomyPolicy::default()
    };
    t.app
        .table
        .put(to_item(&tenant.pk(), keys::AUTONOMY_SK, &policy).unwrap(), None)
        .await
        .unwrap();
    // An unowned deal's reminder goes to the org's owners.
    let owner = crate::orgs::Membership {
        org_id: ORG.into(),
        user_id: UserId::generate(),
        email: "owner@example.com".into(),
        name: "Owner".into(),
        role: Role::Owner,
        joined_at: t.app.clock.now(),
        version: 1,
    };
    t.app.table.put(owner.to_item().unwrap(), None).await.unwrap();
    let brand = sponsor(&t, &tenant, "Fizz", "energy drinks").await;
    let open = deal(&t, &tenant, &brand, Stage::Negotiating, None).await;
    let due = t.app.clock.now() + Duration::minutes(5);
    let open = follow_up_at(&t, &tenant, open, due).await;
    assert_eq!(tick(&t.app).await.unwrap().follow_ups_fired, 0, "not yet due");
    t.clock.advance(Duration::minutes(6));
    let (a, b) = tokio::join!(tick(&t.app), tick(&t.app));
    assert_eq!(
        a.unwrap().follow_ups_fired + b.unwrap().follow_ups_fired,
        1,
        "two executors, one reminder"
    );
    let cleared = stored_deal(&t, &tenant, &open.id).await;
    assert!(cleared.next_follow_up_at.is_none());
    let task_key = tenant.key(keys::task_sk(&followups::task_id(&open.id, due)));
    assert_eq!(
        crate::tasks::task_from(t.app.table.get(&task_key).await.unwrap()).unwrap().kind,
        TaskType::SponsorFollowup
    );

    tick(&t.app).await.unwrap();
    let job = t.app.queue.receive(QueueName::Tasks, 10).await.unwrap().remove(0);
    let (first, second) = tokio::join!(crate::runner::run(&t.app, &job.body), crate::runner::run(&t.app, &job.body));
    assert!(first.is_ok() && second.is_ok());
    let owner_mail: Vec<_> = t
        .recorder
        .emails
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.to == "owner@example.com")
        .cloned()
        .collect();
    assert_eq!(owner_mail.len(), 1, "the owner is reminded once: {owner_mail:?}");
    let waiting = crate::tasks::task_from(t.app.table.get(&task_key).await.unwrap()).unwrap();
    assert_eq!((waiting.status, waiting.approval), (TaskStatus::Pending, Approval::Awaiting));
    let shown = waiting.output.clone().unwrap();
    assert_eq!(shown["to"], "dana@fizz.example", "the first contact with an address");
    let text = shown["text"].as_str().unwrap().to_string();
    assert_eq!(waiting.draft.as_ref().unwrap().text, text, "the approver reads the exact text");
    assert_eq!(used(&t, Metric::Emails).await, 1, "held for the mail to the sponsor");

    crate::runner::decide(&t.app, &tenant, waiting, true).await.unwrap();
    tick(&t.app).await.unwrap();
    let job = t.app.queue.receive(QueueName::Tasks, 10).await.unwrap().remove(0);
    crate::runner::run(&t.app, &job.body).await.unwrap();
    crate::runner::run(&t.app, &job.body).await.unwrap();
    let to_sponsor: Vec<_> = t
        .recorder
        .emails
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.to == "dana@fizz.example")
        .cloned()
        .collect();
    assert_eq!(to_sponsor.len(), 1);
    assert_eq!(to_sponsor[0].text, text, "sent as approved");
    assert_eq!(used(&t, Metric::Emails).await, 1, "the owner's reminder is not counted");
    let done = crate::tasks::task_from(t.app.table.get(&task_key).await.unwrap()).unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    let logged = activities(&t, &tenant, &open.id).await;
    assert_eq!(logged.iter().filter(|a| a.kind == ActivityKind::FollowUpDue).count(), 1);
    assert_eq!(logged.iter().filter(|a| a.kind == ActivityKind::FollowUpSent).count(), 1);

    // A past time set again means the next tick: a new due time, so a new reminder.
    let again = stored_deal(&t, &tenant, &open.id).await;
    let again = follow_up_at(&t, &tenant, again, due).await;
    assert_eq!(again.next_follow_up_at, Some(t.app.clock.now()));
    assert_eq!(tick(&t.app).await.unwrap().follow_ups_fired, 1);
    let tasks = query_all(&*t.app.table, Query::partition(tenant.pk()).prefix(keys::TASK_PREFIX))
        .await
        .unwrap();
    assert_eq!(tasks.len(), 2, "one task per (deal, due time)");
}

#[tokio::test]
async fn the_agent_sets_a_follow_up_on_a_deal_gone_quiet_once() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let brand = sponsor(&t, &tenant, "Fizz", "energy drinks").await;
    let quiet = deal(&t, &tenant, &brand, Stage::Negotiating, None).await;
    let lost = deal(&t, &tenant, &brand, Stage::Inquiry, None).await;
    change_stage(
        &t.app,
        &tenant,
        lost,
        StageChange {
            stage: Stage::Lost,
            reason: Some("no budget".into()),
        },
    )
    .await
    .unwrap();
    t.clock.advance(Duration::days(15));
    let keys: Vec<_> = crate::tasks::context::OrgContext::sort_keys(t.app.clock.now())
        .into_iter()
        .map(|sk| tenant.key(sk))
        .collect();
    let context = crate::tasks::context::OrgContext::from_items(t.app.table.get_many(&keys).await.unwrap(), t.app.clock.now()).unwrap();
    let report = crate::agent::analyze(&t.app, &tenant, &context, crate::agent::Trigger::Schedule)
        .await
        .unwrap();
    let found = report
        .insights
        .iter()
        .find(|i| i.kind == crate::agent::detect::InsightKind::DealsGoneQuiet)
        .expect("a quiet deal is seen");
    assert_eq!(found.actions.len(), 1, "the lost deal is not open: {found:?}");
    assert!(stored_deal(&t, &tenant, &quiet.id).await.next_follow_up_at.is_some());
    let again = crate::agent::analyze(&t.app, &tenant, &context, crate::agent::Trigger::Schedule)
        .await
        .unwrap();
    assert!(
        again
            .insights
            .iter()
            .all(|i| i.kind != crate::agent::detect::InsightKind::DealsGoneQuiet),
        "a deal with a follow-up set is not quiet"
    );
}
