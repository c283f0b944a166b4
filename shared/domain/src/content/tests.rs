//! The growth flows on the in-memory App: strategies, written posts, approval, the calendar,
//! and the publishing pipeline through every way the sandbox platform can fail.

use super::accounts::{self, AccountHealth, NewAccount, SocialAccount};
use super::posts::{self, NewPost, Post, PostChange, PostStatus};
use super::publish::{LedgerEntry, LedgerOutcome, PublishOutcome};
use super::strategy::{self, Versions};
use super::writer::{self, GenerateRequest};
use crate::error::AppError;
use crate::executor::tests::{ORG, org, used};
use crate::keys;
use crate::platforms::{self, Platform};
use crate::ports::queue::QueueName;
use crate::tasks::context::OrgContext;
use crate::tenancy::TenantCtx;
use crate::testing::{self, TestApp};
use crate::usage::{Metric, Plan};
use chrono::Duration;

async fn context(t: &TestApp, tenant: &TenantCtx) -> OrgContext {
    let keys: Vec<_> = OrgContext::sort_keys(t.app.clock.now())
        .into_iter()
        .map(|sk| tenant.key(sk))
        .collect();
    OrgContext::from_items(t.app.table.get_many(&keys).await.unwrap(), t.app.clock.now()).unwrap()
}

async fn sandbox(t: &TestApp, tenant: &TenantCtx) -> SocialAccount {
    let input = NewAccount {
        platform: "sandbox".into(),
        name: "Main".into(),
    };
    accounts::create(&t.app, tenant, input).await.unwrap()
}

async fn stored(t: &TestApp, tenant: &TenantCtx, id: &str) -> Post {
    posts::post_from(t.app.table.get(&tenant.key(keys::post_sk(id))).await.unwrap()).unwrap()
}

/// An approved post on `platform` with `text`, scheduled now through `account`.
async fn scheduled(t: &TestApp, tenant: &TenantCtx, account: &SocialAccount, text: &str) -> Post {
    let input = NewPost {
        platform: Platform::Linkedin,
        text: text.into(),
        hashtags: vec!["growth".into()],
        media_urls: Vec::new(),
        pillar: None,
        content_id: None,
        thread: Vec::new(),
    };
    let mut post = posts::new_post(t.app.clock.now(), "user", input).unwrap();
    posts::insert(&t.app, tenant, &post).await.unwrap();
    posts::approve_now(&mut post, "user", t.app.clock.now()).unwrap();
    let post = posts::save(&t.app, tenant, post, Vec::new()).await.unwrap();
    posts::schedule(&t.app, tenant, Plan::Pro, post, account, t.app.clock.now(), false, None)
        .await
        .unwrap()
}

/// One executor tick and every publish job it sent, run as job-publish runs them.
async fn publish_due(t: &TestApp) -> Vec<PublishOutcome> {
    crate::runner::tests::publish_due(t).await
}

async fn ledger(t: &TestApp, tenant: &TenantCtx, post: &Post) -> LedgerEntry {
    let key = tenant.key(keys::ledger_sk(&post.id, post.account_id.as_ref().unwrap()));
    crate::model::from_item(t.app.table.get(&key).await.unwrap().unwrap()).unwrap()
}

#[tokio::test]
async fn a_scheduled_post_is_published_once_with_its_ledger_and_its_figures_recorded() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let post = scheduled(&t, &tenant, &account, "Spring is here").await;
    assert_eq!(used(&t, Metric::Posts).await, 1, "held when scheduled");
    let outcomes = publish_due(&t).await;
    assert!(matches!(outcomes[..], [PublishOutcome::Published { .. }]), "{outcomes:?}");
    let out = stored(&t, &tenant, &post.id).await;
    assert_eq!(out.status, PostStatus::Published);
    let entry = ledger(&t, &tenant, &out).await;
    assert_eq!((entry.outcome, entry.attempts), (Some(LedgerOutcome::Succeeded), 1));
    assert_eq!(entry.external_id, out.published.as_ref().map(|p| p.external_id.clone()));
    let sent = testing::sandbox_posts(&t.app, ORG).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "Spring is here\n\n#growth");
    assert_eq!(used(&t, Metric::Posts).await, 1, "spent once");
    assert!(publish_due(&t).await.is_empty(), "nothing is due any more");
    assert_eq!(
        t.recorder
            .events_of(ORG)
            .iter()
            .filter(|e| e.detail_type == "post.published")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_rate_limited_post_is_retried_at_the_reset_time_the_platform_gave() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let post = scheduled(&t, &tenant, &account, "Busy day [sandbox:rate_limited]").await;
    let outcomes = publish_due(&t).await;
    let PublishOutcome::Retrying { at, .. } = &outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(*at, t.app.clock.now() + Duration::seconds(super::sandbox::RATE_LIMIT_SECONDS));
    assert_eq!(stored(&t, &tenant, &post.id).await.status, PostStatus::Scheduled);
    assert!(publish_due(&t).await.is_empty(), "not before the reset");
    t.clock.advance(Duration::seconds(31));
    let outcomes = publish_due(&t).await;
    assert!(matches!(outcomes[..], [PublishOutcome::Published { .. }]), "{outcomes:?}");
    assert_eq!(testing::sandbox_posts(&t.app, ORG).await.len(), 1);
    assert_eq!(ledger(&t, &tenant, &post).await.attempts, 2);
}

#[tokio::test]
async fn a_post_that_went_out_without_an_answer_is_found_not_posted_again() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let post = scheduled(&t, &tenant, &account, "Launch [sandbox:timeout_after_accept]").await;
    let outcomes = publish_due(&t).await;
    assert!(matches!(outcomes[..], [PublishOutcome::Retrying { .. }]), "{outcomes:?}");
    assert_eq!(ledger(&t, &tenant, &post).await.outcome, Some(LedgerOutcome::Uncertain));
    t.clock.advance(Duration::seconds(61));
    let outcomes = publish_due(&t).await;
    assert!(
        matches!(outcomes[..], [PublishOutcome::Found { .. }]),
        "checked within a minute: {outcomes:?}"
    );
    assert_eq!(testing::sandbox_posts(&t.app, ORG).await.len(), 1, "posted once");
    let out = stored(&t, &tenant, &post.id).await;
    assert_eq!(out.status, PostStatus::Published);
    assert_eq!(ledger(&t, &tenant, &post).await.attempts, 1, "no second call to the platform");
}

#[tokio::test]
async fn a_revoked_account_needs_reauth_its_posts_pause_and_its_owner_gets_a_reconnect_task() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let first = scheduled(&t, &tenant, &account, "Hello [sandbox:auth_revoked]").await;
    let later = scheduled(&t, &tenant, &account, "Later").await;
    let later = {
        let at = t.app.clock.now() + Duration::hours(2);
        posts::schedule(&t.app, &tenant, Plan::Pro, later, &account, at, false, None)
            .await
            .unwrap()
    };
    let outcomes = publish_due(&t).await;
    assert!(matches!(outcomes[..], [PublishOutcome::Paused { .. }]), "{outcomes:?}");
    let item = t.app.table.get(&tenant.key(keys::account_sk(&account.id))).await.unwrap();
    assert_eq!(accounts::account_from(item).unwrap().health, AccountHealth::NeedsReauth);
    for id in [&first.id, &later.id] {
        assert_eq!(stored(&t, &tenant, id).await.status, PostStatus::Paused);
    }
    let (tasks, _) = crate::tasks::list(&t.app, &tenant, &Default::default(), 10, None).await.unwrap();
    let reconnect: Vec<_> = tasks
        .iter()
        .filter(|t| t.kind == crate::tasks::TaskType::ReconnectAccount)
        .collect();
    assert_eq!(reconnect.len(), 1);
    assert_eq!(reconnect[0].created_by, account.connected_by);
    assert_eq!(reconnect[0].input["accountId"], account.id.as_str());
    assert!(reconnect[0].due_at().is_none(), "a person's to-do, never run");
    t.clock.advance(Duration::hours(3));
    assert!(publish_due(&t).await.is_empty(), "paused posts are off the calendar");
    assert!(testing::sandbox_posts(&t.app, ORG).await.is_empty());
    let err = posts::schedule(
        &t.app,
        &tenant,
        Plan::Pro,
        stored(&t, &tenant, &later.id).await,
        &accounts::account_from(t.app.table.get(&tenant.key(keys::account_sk(&account.id))).await.unwrap()).unwrap(),
        t.app.clock.now(),
        false,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "ACCOUNT_NEEDS_REAUTH");
}

#[tokio::test]
async fn duplicates_not_found_and_invalid_posts_fail_with_the_platforms_words_and_give_their_quota_back() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let dup = scheduled(&t, &tenant, &account, "Again [sandbox:duplicate]").await;
    let bad = scheduled(&t, &tenant, &account, "Nope [sandbox:invalid]").await;
    assert_eq!(used(&t, Metric::Posts).await, 2);
    let outcomes = publish_due(&t).await;
    assert_eq!(
        outcomes.iter().filter(|o| matches!(o, PublishOutcome::Failed { .. })).count(),
        2,
        "{outcomes:?}"
    );
    for (post, words) in [(&dup, "duplicate"), (&bad, "invalid")] {
        let failed = stored(&t, &tenant, &post.id).await;
        assert_eq!(failed.status, PostStatus::Failed);
        assert!(failed.error.as_deref().unwrap().contains(words), "{failed:?}");
        assert_eq!(ledger(&t, &tenant, post).await.outcome, Some(LedgerOutcome::Failed));
    }
    assert_eq!(used(&t, Metric::Posts).await, 0, "failed posts hold no quota");
    assert_eq!(
        t.recorder.events_of(ORG).iter().filter(|e| e.detail_type == "post.failed").count(),
        2
    );
}

#[tokio::test]
async fn two_executors_and_a_duplicated_job_publish_a_post_once() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    for i in 0..5 {
        scheduled(&t, &tenant, &account, &format!("Post {i}")).await;
    }
    let (a, b) = tokio::join!(crate::executor::tick(&t.app), crate::executor::tick(&t.app));
    assert_eq!(a.unwrap().posts_claimed + b.unwrap().posts_claimed, 5);
    let messages = t.app.queue.receive(QueueName::Publish, 10).await.unwrap();
    assert_eq!(messages.len(), 5);
    // Every job delivered twice, at once.
    let runs = messages
        .iter()
        .flat_map(|m| [super::publish::run(&t.app, &m.body), super::publish::run(&t.app, &m.body)]);
    let outcomes: Vec<_> = futures::future::join_all(runs).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        outcomes.iter().filter(|o| matches!(o, PublishOutcome::Published { .. })).count(),
        5,
        "{outcomes:?}"
    );
    assert_eq!(testing::sandbox_posts(&t.app, ORG).await.len(), 5);
    assert_eq!(used(&t, Metric::Posts).await, 5);
}

#[tokio::test]
async fn scheduling_past_the_months_posts_is_refused_and_changes_nothing() {
    let t = testing::app();
    let tenant = org(&t, Plan::Free).await;
    let account = sandbox(&t, &tenant).await;
    for i in 0..5 {
        scheduled(&t, &tenant, &account, &format!("Post {i}")).await;
    }
    let input = NewPost {
        platform: Platform::X,
        text: "one more".into(),
        hashtags: Vec::new(),
        media_urls: Vec::new(),
        pillar: None,
        content_id: None,
        thread: Vec::new(),
    };
    let mut post = posts::new_post(t.app.clock.now(), "user", input).unwrap();
    posts::insert(&t.app, &tenant, &post).await.unwrap();
    posts::approve_now(&mut post, "user", t.app.clock.now()).unwrap();
    let post = posts::save(&t.app, &tenant, post, Vec::new()).await.unwrap();
    let err = posts::schedule(&t.app, &tenant, Plan::Free, post.clone(), &account, t.app.clock.now(), false, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::QuotaExceeded(_)), "{err:?}");
    assert_eq!(stored(&t, &tenant, &post.id).await, post, "nothing changed");
    assert_eq!(used(&t, Metric::Posts).await, 5);
    // Unscheduling one gives its post back, and then it fits.
    let (page, _) = crate::model::newest_first::<Post>(&*t.app.table, tenant.pk(), keys::POST_PREFIX.into(), 10, None)
        .await
        .unwrap();
    let on_calendar = page.into_iter().find(|p| p.status == PostStatus::Scheduled).unwrap();
    posts::unschedule(&t.app, &tenant, on_calendar).await.unwrap();
    posts::schedule(&t.app, &tenant, Plan::Free, post, &account, t.app.clock.now(), false, None)
        .await
        .unwrap();
    assert_eq!(used(&t, Metric::Posts).await, 5);
}

#[tokio::test]
async fn an_edit_voids_the_approval_and_returns_the_post_to_draft() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let post = scheduled(&t, &tenant, &account, "First words").await;
    assert!(post.is_approved());
    let change = PostChange {
        platform: None,
        text: Some("Other words".into()),
        hashtags: None,
        media_urls: None,
        pillar: None,
        thread: None,
        version: post.version,
    };
    let edited = posts::update(&t.app, &tenant, post, change).await.unwrap();
    assert_eq!(
        (edited.status, edited.approval.is_none(), edited.scheduled_at),
        (PostStatus::Draft, true, None)
    );
    assert_eq!(used(&t, Metric::Posts).await, 0, "off the calendar, its quota back");
    let err = posts::schedule(&t.app, &tenant, Plan::Pro, edited, &account, t.app.clock.now(), false, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "POST_NOT_APPROVED");
}

#[tokio::test]
async fn strategies_are_versioned_with_exactly_one_active() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let versions = |t: &TestApp| {
        let table = t.app.table.clone();
        let key = tenant.key(keys::STRATEGIES_SK);
        async move { Versions::from_stored(table.get(&key).await.unwrap()).unwrap() }
    };
    let org_ctx = context(&t, &tenant).await;
    let v1 = strategy::generate(&t.app, &tenant, &org_ctx, versions(&t).await).await.unwrap();
    let v2 = strategy::generate(&t.app, &tenant, &org_ctx, versions(&t).await).await.unwrap();
    assert_eq!((v1.version, v1.active, v2.version, v2.active), (1, true, 2, false));
    assert!(v1.plan.tone.starts_with("[test AI]"), "labelled: {:?}", v1.plan);
    let current = versions(&t).await;
    assert_eq!(current.active_id.as_ref(), Some(&v1.id));
    let v2 = strategy::activate(&t.app, &tenant, v2, current).await.unwrap();
    assert!(v2.active);
    assert_eq!(versions(&t).await.active_id, Some(v2.id));
}

#[tokio::test]
async fn a_malformed_strategy_is_asked_again_once_then_refused_storing_nothing() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let org_ctx = context(&t, &tenant).await;
    t.recorder.script_ai(&["Here is a great strategy!", "{\"pillars\": []}"]);
    let err = strategy::generate(&t.app, &tenant, &org_ctx, Versions::default())
        .await
        .unwrap_err();
    assert_eq!((err.code(), crate::api::status(&err).as_u16()), ("AI_BAD_OUTPUT", 502));
    assert_eq!(t.recorder.ai_calls(), 2, "asked twice");
    assert_eq!(used(&t, Metric::AiCalls).await, 1, "one call of the quota per request");
    let stored = crate::ports::table::query_all(
        &*t.app.table,
        crate::ports::table::Query::partition(tenant.pk()).prefix(keys::STRATEGY_PREFIX),
    )
    .await
    .unwrap();
    assert!(stored.is_empty());
    // A malformed first answer and a good second one: stored.
    t.recorder.script_ai(&["not json"]);
    let s = strategy::generate(&t.app, &tenant, &org_ctx, Versions::default()).await.unwrap();
    assert_eq!(s.version, 1);
}

#[tokio::test]
async fn generated_posts_fit_their_platform_in_one_ai_call() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let org_ctx = context(&t, &tenant).await;
    let s = strategy::generate(&t.app, &tenant, &org_ctx, Versions::default()).await.unwrap();
    let long = "word ".repeat(200);
    let answer = serde_json::json!({"posts": (0..5).map(|_| serde_json::json!({"text": long, "hashtags": ["growth", "not a tag"]})).collect::<Vec<_>>()});
    t.recorder.script_ai(&[&answer.to_string()]);
    let calls = t.recorder.ai_calls();
    let input = GenerateRequest {
        platform: Platform::X,
        count: 5,
        pillar: None,
        topic: Some("spring".into()),
    };
    let made = writer::generate(&t.app, &tenant, &org_ctx, &s, input).await.unwrap();
    assert_eq!(t.recorder.ai_calls() - calls, 1);
    assert_eq!(made.len(), 5);
    for post in &made {
        assert_eq!(post.status, PostStatus::Draft);
        assert!(
            platforms::check(Platform::X, &post.text, &post.hashtags, &post.media_urls, true).is_ok(),
            "{post:?}"
        );
        assert_eq!(post.hashtags, vec!["growth".to_string()]);
    }
}

#[tokio::test]
async fn analytics_measure_published_posts_and_sum_them_per_platform() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    scheduled(&t, &tenant, &account, "One").await;
    scheduled(&t, &tenant, &account, "Two, with \"quotes\"").await;
    publish_due(&t).await;
    t.clock.advance(Duration::hours(5));
    let report = super::analytics::measure(&t.app).await.unwrap();
    assert_eq!(report.posts_measured, 2, "{report:?}");
    let first = super::analytics::overview(&t.app, &tenant, Some("7d")).await.unwrap();
    assert_eq!(first.current.posts, 2);
    assert!(first.current.impressions > 0 && first.current.clicks > 0, "{first:?}");
    assert_eq!(first.platforms.len(), 1);
    t.clock.advance(Duration::hours(24));
    super::analytics::measure(&t.app).await.unwrap();
    let later = super::analytics::overview(&t.app, &tenant, Some("7d")).await.unwrap();
    assert!(later.current.impressions > first.current.impressions, "figures grow with age");
    let records = super::analytics::published_between(&t.app, &tenant, t.app.clock.now() - Duration::days(2), t.app.clock.now())
        .await
        .unwrap();
    let csv = super::analytics::csv(&records);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(csv.contains("\"Two, with \"\"quotes\"\"\n\n#growth\""), "{csv}");
}

#[tokio::test]
async fn a_reconnected_accounts_paused_posts_keep_a_time_ahead_go_now_within_the_hour_and_wait_when_older() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let start = t.app.clock.now();
    let mut ids = Vec::new();
    for (text, after) in [
        ("ahead", Duration::hours(5)),
        ("just passed", Duration::minutes(150)),
        ("long passed", Duration::zero()),
    ] {
        let post = scheduled(&t, &tenant, &account, text).await;
        let post = posts::schedule(&t.app, &tenant, Plan::Pro, post, &account, start + after, false, None)
            .await
            .unwrap();
        ids.push(post.id.to_string());
    }
    let pending = accounts::pending_posts(&t.app, &tenant, &account.id).await.unwrap();
    assert_eq!(pending.len(), 3);
    let steps = accounts::pause_steps(&tenant, pending, "its account must be connected again", start).unwrap();
    t.app.table.transact(steps).await.unwrap();

    t.clock.advance(Duration::hours(3));
    let now = t.app.clock.now();
    assert_eq!(crate::social::resume_posts(&t.app, &tenant, &account.id).await.unwrap(), 2);
    let (ahead, just, long) = (
        stored(&t, &tenant, &ids[0]).await,
        stored(&t, &tenant, &ids[1]).await,
        stored(&t, &tenant, &ids[2]).await,
    );
    assert_eq!(
        (ahead.status, ahead.due_at()),
        (PostStatus::Scheduled, Some(start + Duration::hours(5)))
    );
    assert_eq!(
        (just.status, just.due_at()),
        (PostStatus::Scheduled, Some(now)),
        "30 minutes late: at once"
    );
    assert_eq!(long.status, PostStatus::Paused, "3 hours late: it waits for a new time");
    assert_eq!(long.error.as_deref(), Some(crate::social::MISSED));
    assert_eq!(long.scheduled_at, Some(start), "its time is kept, to be changed");
}

fn long_piece() -> String {
    "We tested every spring jacket on three mountains. The light ones failed in the wind. \
     The heavy ones were too warm by noon! Which one should you buy? The mid-weight shell won, \
     and here is why it beat the rest over ten days of rain. "
        .repeat(6)
}

async fn item_with(t: &TestApp, tenant: &TenantCtx, body: &str) -> super::items::ContentItem {
    let fields = super::items::ContentFields {
        title: Some("Spring jackets".into()),
        body: Some(body.into()),
        kind: Some(super::items::ContentKind::Video),
        ..super::items::ContentFields::default()
    };
    super::items::create(&t.app, tenant, fields).await.unwrap()
}

#[tokio::test]
async fn repurposing_writes_one_draft_per_platform_within_its_rules_and_a_long_piece_as_an_x_thread() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let org_context = context(&t, &tenant).await;
    let piece = item_with(&t, &tenant, &long_piece()).await;
    let request = super::items::RepurposeRequest {
        platforms: vec![Platform::X, Platform::Linkedin, Platform::Instagram],
    };
    let drafts = super::items::repurpose(&t.app, &tenant, &org_context, &piece, request)
        .await
        .unwrap();
    assert_eq!(t.recorder.ai_calls(), 1, "one AI call for every platform");
    assert_eq!(used(&t, Metric::AiCalls).await, 1);
    let platforms: Vec<Platform> = drafts.iter().map(|p| p.platform).collect();
    assert_eq!(platforms, [Platform::X, Platform::Linkedin, Platform::Instagram]);
    for post in &drafts {
        assert_eq!(
            (post.status, post.content_id.as_deref()),
            (PostStatus::Draft, Some(piece.id.as_str()))
        );
        if post.thread.is_empty() {
            platforms::check(post.platform, &post.text, &post.hashtags, &post.media_urls, false).unwrap();
        }
    }
    let x = &drafts[0];
    assert!(x.thread.len() > 1, "a long piece is a thread on X: {x:?}");
    platforms::check_thread(Platform::X, &x.thread).unwrap();
    assert!(x.thread[0].starts_with(&format!("1/{} ", x.thread.len())));
    assert_eq!(x.text, x.thread[0]);
    let stored_x = stored(&t, &tenant, &x.id).await;
    assert_eq!(stored_x.thread, x.thread, "stored as one post");

    let short = item_with(&t, &tenant, "Short and sweet.").await;
    let one = super::items::repurpose(
        &t.app,
        &tenant,
        &org_context,
        &short,
        super::items::RepurposeRequest {
            platforms: vec![Platform::X],
        },
    )
    .await
    .unwrap();
    assert!(one[0].thread.is_empty(), "a piece that fits is one post: {:?}", one[0]);
    let empty = item_with(&t, &tenant, "").await;
    let err = super::items::repurpose(
        &t.app,
        &tenant,
        &org_context,
        &empty,
        super::items::RepurposeRequest {
            platforms: vec![Platform::X],
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
}

#[tokio::test]
async fn an_x_thread_goes_out_part_by_part_each_replying_to_the_one_before_once_under_redelivery() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let org_context = context(&t, &tenant).await;
    let piece = item_with(&t, &tenant, &long_piece()).await;
    let request = super::items::RepurposeRequest {
        platforms: vec![Platform::X],
    };
    let thread = super::items::repurpose(&t.app, &tenant, &org_context, &piece, request)
        .await
        .unwrap()
        .remove(0);
    let mut post = thread.clone();
    posts::approve_now(&mut post, "user", t.app.clock.now()).unwrap();
    let post = posts::save(&t.app, &tenant, post, Vec::new()).await.unwrap();
    posts::schedule(&t.app, &tenant, Plan::Pro, post, &account, t.app.clock.now(), false, None)
        .await
        .unwrap();
    let item_now = super::items::item_from(t.app.table.get(&tenant.key(keys::content_sk(&piece.id))).await.unwrap()).unwrap();
    assert_eq!(item_now.status, super::items::ContentStatus::Scheduled, "the item follows its post");
    crate::executor::tick(&t.app).await.unwrap();
    let job = t.app.queue.receive(QueueName::Publish, 10).await.unwrap().remove(0);
    let (a, b) = tokio::join!(super::publish::run(&t.app, &job.body), super::publish::run(&t.app, &job.body));
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| matches!(o, PublishOutcome::Published { .. })).count(),
        1,
        "{outcomes:?}"
    );
    let out = testing::sandbox_posts(&t.app, ORG).await;
    assert_eq!(out.len(), thread.thread.len(), "each part once");
    let first = out.iter().find(|p| p.text == thread.thread[0]).unwrap();
    assert_eq!(first.reply_to, None);
    let mut previous = first.published.external_id.clone();
    for part in &thread.thread[1..] {
        let sent = out.iter().find(|p| p.text == *part).expect("every part went out");
        assert_eq!(
            sent.reply_to.as_deref(),
            Some(previous.as_str()),
            "each part answers the one before"
        );
        previous = sent.published.external_id.clone();
    }
    let published = stored(&t, &tenant, &thread.id).await;
    assert_eq!(
        published.published.unwrap().external_id,
        first.published.external_id,
        "the thread is its first part"
    );
    assert_eq!(used(&t, Metric::Posts).await, 1, "a thread is one post of the quota");
    let item_now = super::items::item_from(t.app.table.get(&tenant.key(keys::content_sk(&piece.id))).await.unwrap()).unwrap();
    assert_eq!(item_now.status, super::items::ContentStatus::Published);
}

#[tokio::test]
async fn a_thread_whose_part_had_no_answer_is_checked_and_goes_on_from_there() {
    let t = testing::app();
    let tenant = org(&t, Plan::Pro).await;
    let account = sandbox(&t, &tenant).await;
    let parts = vec![
        "1/3 It starts here.".to_string(),
        "2/3 The middle [sandbox:timeout_after_accept]".to_string(),
        "3/3 The end.".to_string(),
    ];
    let input = NewPost {
        platform: Platform::X,
        text: parts[0].clone(),
        hashtags: Vec::new(),
        media_urls: Vec::new(),
        pillar: None,
        content_id: None,
        thread: parts.clone(),
    };
    let mut post = posts::new_post(t.app.clock.now(), "user", input).unwrap();
    posts::insert(&t.app, &tenant, &post).await.unwrap();
    posts::approve_now(&mut post, "user", t.app.clock.now()).unwrap();
    let post = posts::save(&t.app, &tenant, post, Vec::new()).await.unwrap();
    posts::schedule(&t.app, &tenant, Plan::Pro, post.clone(), &account, t.app.clock.now(), false, None)
        .await
        .unwrap();
    let first = publish_due(&t).await;
    assert!(matches!(first[..], [PublishOutcome::Retrying { .. }]), "{first:?}");
    t.clock.advance(Duration::seconds(super::publish::CHECK_AFTER_SECONDS + 1));
    let second = publish_due(&t).await;
    assert!(matches!(second[..], [PublishOutcome::Published { .. }]), "{second:?}");
    let out = testing::sandbox_posts(&t.app, ORG).await;
    assert_eq!(out.len(), 3, "the uncertain part was found, not posted again: {out:?}");
}
