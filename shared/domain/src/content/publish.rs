//! The one publishing pipeline. The minute executor claims due posts from the due index as
//! it claims tasks (`claim`) and enqueues a [`PublishJob`]; `job-publish` (`run`) publishes
//! through the Social port and records each attempt in the publish ledger, one item per
//! (post, account), written *before* the platform is called.
//!
//! A post is never published twice, under at-least-once delivery and lost answers alike:
//! - a job names the version its claim wrote; a post no longer `publishing` at that version
//!   is left alone (a redelivery, or a claim taken again);
//! - an attempt is recorded in the ledger by a write conditional on the ledger's version, so
//!   two deliveries of one claim cannot both call the platform;
//! - an attempt whose outcome is unknown (no answer, or a function that died mid-call) is
//!   `uncertain`; before any retry the platform is asked whether the post exists
//!   (`find_recent`), and a found post is recorded as published, not posted again.

use super::accounts::{self, AccountHealth, SocialAccount, account_from};
use super::credentials;
use super::posts::{Post, PostStatus, PublishedAt, post_from, release_quota};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, PostId, TaskId};
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::events::DomainEvent;
use crate::ports::social::{Channel, Outgoing, Published, SocialError};
use crate::ports::table::{Condition, Item, TableError, TxOp};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How long a claimed post may stay `publishing` before the executor takes it again.
pub const LEASE_MINUTES: i64 = 2;
/// When an attempt with no answer is checked.
pub const CHECK_AFTER_SECONDS: i64 = 60;
/// Attempts (claims) before a post fails for good; rate limits do not count.
pub const MAX_ATTEMPTS: u32 = 5;

/// The message `job-publish` gets: which post, and the version its claim wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PublishJob {
    pub org_id: OrgId,
    pub post_id: PostId,
    pub claim: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LedgerOutcome {
    Succeeded,
    Failed,
    /// The call may have reached the platform and no answer came.
    Uncertain,
}

/// One (post, account): what was tried and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub post_id: PostId,
    pub account_id: String,
    /// Which part of a thread (0: the post itself, or a thread's first part).
    #[serde(default)]
    pub part: u32,
    pub idempotency_key: String,
    pub attempts: u32,
    /// `None` while an attempt is in flight (and if its function died, until it is checked).
    pub outcome: Option<LedgerOutcome>,
    pub external_id: Option<String>,
    pub url: Option<String>,
    pub error: Option<String>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub last_attempt_at: DateTime<Utc>,
    pub version: u64,
}

impl LedgerEntry {
    fn write(&self, tenant: &TenantCtx, read: u64) -> AppResult<TxOp> {
        Ok(TxOp::Put {
            item: to_item(&tenant.pk(), &ledger_key(&self.post_id, &self.account_id, self.part as usize), self)?,
            condition: Some(if read == 0 {
                Condition::NotExists
            } else {
                Condition::VersionEquals(read)
            }),
        })
    }
}

/// A published post's record for analytics, by when it went out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedRecord {
    pub post_id: PostId,
    pub account_id: String,
    pub platform: crate::platforms::Platform,
    pub external_id: String,
    pub url: Option<String>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub published_at: DateTime<Utc>,
    /// The latest figures, once fetched.
    #[serde(default)]
    pub metrics: Option<crate::ports::social::Metrics>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub measured_at: Option<DateTime<Utc>>,
    /// The post's text as it went out (for the export).
    pub text: String,
}

/// The executor's side: claims a due post (scheduled, or publishing whose lease or check is
/// due) by a write conditional on the version read, answering the job to enqueue. A post
/// changed by someone else first is left to them (`None`).
pub async fn claim(app: &App, org_id: &OrgId, entry: Item, now: DateTime<Utc>) -> AppResult<Option<PublishJob>> {
    let tenant = TenantCtx::background(org_id);
    let mut post: Post = from_item(entry)?;
    match post.status {
        PostStatus::Scheduled | PostStatus::Publishing => {}
        _ => return Ok(None),
    }
    if post.attempts >= MAX_ATTEMPTS {
        let why = format!("did not go out in {MAX_ATTEMPTS} attempts");
        return settle_failed(app, &tenant, post, why).await.map(|_| None);
    }
    post.status = PostStatus::Publishing;
    post.attempts += 1;
    post.next_attempt_at = Some(now + Duration::minutes(LEASE_MINUTES));
    match super::posts::save(app, &tenant, post, Vec::new()).await {
        Ok(post) => Ok(Some(PublishJob {
            org_id: org_id.clone(),
            post_id: post.id,
            claim: post.version,
        })),
        Err(AppError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum PublishOutcome {
    Published {
        post_id: PostId,
        external_id: String,
    },
    /// Found on the platform after an attempt with no answer: recorded, not posted again.
    Found {
        post_id: PostId,
        external_id: String,
    },
    Retrying {
        post_id: PostId,
        #[serde(with = "crate::clock::rfc3339")]
        at: DateTime<Utc>,
        reason: String,
    },
    Failed {
        post_id: PostId,
        error: String,
    },
    Paused {
        post_id: PostId,
        reason: String,
    },
    Skipped {
        reason: &'static str,
    },
}

const HANDLED_ELSEWHERE: PublishOutcome = PublishOutcome::Skipped {
    reason: "the post was handled by another delivery",
};

/// `job-publish`: one claimed post. An error brings the message back (the store is down);
/// every outcome of the post itself is recorded and answered as `Ok`.
pub async fn run(app: &App, body: &str) -> AppResult<PublishOutcome> {
    let job: PublishJob = serde_json::from_str(body).map_err(|e| AppError::validation(format!("not a publish job: {e}")))?;
    crate::ids::check(&job.org_id, "orgId")?;
    crate::ids::check(&job.post_id, "postId")?;
    let tenant = TenantCtx::background(&job.org_id);
    let Some(item) = app.table.get(&tenant.key(keys::post_sk(&job.post_id))).await? else {
        return Ok(PublishOutcome::Skipped {
            reason: "the post is gone",
        });
    };
    let post = post_from(Some(item))?;
    // This claim published it, and what follows a publish may not have finished (the function
    // died, or the store failed): it is done again, each step once.
    if post.status == PostStatus::Published && post.version == job.claim + 1 {
        after_published(app, &tenant, &post).await?;
        return Ok(HANDLED_ELSEWHERE);
    }
    if post.status != PostStatus::Publishing || post.version != job.claim {
        return Ok(HANDLED_ELSEWHERE);
    }
    let Some(account_id) = post.account_id.clone() else {
        return settle_failed(app, &tenant, post, "the post has no account".into()).await;
    };
    let parts = post.outgoing_parts();
    let mut wanted = vec![
        tenant.key(keys::account_sk(&account_id)),
        tenant.key(keys::account_tokens_sk(&account_id)),
    ];
    wanted.extend((0..parts.len()).map(|part| tenant.key(ledger_key(&post.id, &account_id, part))));
    let mut read = app.table.get_many(&wanted).await?.into_iter();
    let (account, tokens) = (read.next().flatten(), read.next().flatten());
    let ledgers: Vec<Option<Item>> = read.collect();
    let Some(account) = account else {
        return pause(app, &tenant, post, "its account was removed").await;
    };
    let account = account_from(Some(account))?;
    if account.health == AccountHealth::NeedsReauth {
        return pause(app, &tenant, post, "its account must be connected again").await;
    }
    let token = match credentials::access(app, &tenant, &account, tokens).await? {
        Ok(token) => token,
        Err(SocialError::AuthRevoked(why)) => return revoke(app, &tenant, post, account, why).await,
        Err(e) => {
            let at = app.clock.now() + Duration::minutes(1 << post.attempts.min(5));
            return retry_later(app, &tenant, post, at, format!("could not refresh the account's token: {e}")).await;
        }
    };
    // A thread goes out part by part, each a reply to the one before, each with its own
    // ledger entry: a redelivery skips the parts that are out and asks about an uncertain one.
    let mut first: Option<Published> = None;
    let mut previous: Option<String> = None;
    for (part, (text, ledger)) in parts.iter().zip(ledgers).enumerate() {
        let ledger: Option<LedgerEntry> = ledger.map(from_item).transpose()?;
        let sending = Sending {
            post: &post,
            account: &account,
            token: token.as_ref(),
            part,
            text,
            reply_to: previous.as_deref(),
        };
        let (attempt, published, found) = match send_part(app, &tenant, sending, ledger).await? {
            Ok(sent) => sent,
            Err(outcome) => return Ok(outcome),
        };
        if part + 1 == parts.len() {
            let thread_head = first.unwrap_or_else(|| published.clone());
            return settle_published(app, &tenant, post, &account, attempt, thread_head, found).await;
        }
        if attempt.outcome != Some(LedgerOutcome::Succeeded) {
            record_out(app, &tenant, &attempt, &published).await?;
        }
        previous = Some(published.external_id.clone());
        first.get_or_insert(published);
    }
    settle_failed(app, &tenant, post, "the post has nothing to publish".into()).await
}

/// The ledger key of a part: the first part's is the post's own (so a single post's entry is
/// where it always was), a thread's later parts have one each.
fn ledger_key(post_id: &PostId, account_id: &str, part: usize) -> String {
    if part == 0 {
        keys::ledger_sk(post_id, account_id)
    } else {
        keys::ledger_sk(post_id, &format!("{account_id}#{part}"))
    }
}

/// One part of a post on its way out.
struct Sending<'a> {
    post: &'a Post,
    account: &'a SocialAccount,
    token: Option<&'a crate::ports::social::Secret>,
    part: usize,
    text: &'a str,
    /// The platform's id of the part this one answers.
    reply_to: Option<&'a str>,
}

/// Sends one part once: `Ok` with its ledger entry (as it is before the success is written),
/// what the platform answered and whether it was found rather than posted; `Err` with the
/// post's outcome when the part did not go out (recorded, and the post settled or put back).
async fn send_part(
    app: &App,
    tenant: &TenantCtx,
    sending: Sending<'_>,
    ledger: Option<LedgerEntry>,
) -> AppResult<Result<(LedgerEntry, Published, bool), PublishOutcome>> {
    let Sending {
        post,
        account,
        token,
        part,
        text,
        reply_to,
    } = sending;
    let key = if part == 0 {
        format!("{}:{}", post.id, account.id)
    } else {
        format!("{}:{}:{part}", post.id, account.id)
    };
    let channel = account.channel(tenant.org_id(), token);
    let now = app.clock.now();
    if let Some(entry) = &ledger {
        match entry.outcome {
            Some(LedgerOutcome::Succeeded) => {
                let published = Published {
                    external_id: entry.external_id.clone().unwrap_or_default(),
                    url: entry.url.clone(),
                    published_at: entry.last_attempt_at,
                };
                return Ok(Ok((entry.clone(), published, true)));
            }
            // No answer last time, or a run that never recorded one: ask before posting.
            Some(LedgerOutcome::Uncertain) | None => match app.social.find_recent(&channel, &key, text).await {
                Ok(Some(found)) => return Ok(Ok((entry.clone(), found, true))),
                Ok(None) => {}
                Err(e) => {
                    let at = now + Duration::seconds(CHECK_AFTER_SECONDS);
                    return retry_later(app, tenant, post.clone(), at, format!("could not check the platform: {e}"))
                        .await
                        .map(Err);
                }
            },
            Some(LedgerOutcome::Failed) => {}
        }
    }
    // The attempt is on record before the platform is called.
    let read_version = ledger.as_ref().map_or(0, |l| l.version);
    let attempt = LedgerEntry {
        post_id: post.id.clone(),
        account_id: account.id.to_string(),
        part: part as u32,
        idempotency_key: key.clone(),
        attempts: ledger.as_ref().map_or(0, |l| l.attempts) + 1,
        outcome: None,
        external_id: None,
        url: None,
        error: None,
        last_attempt_at: now,
        version: read_version + 1,
    };
    match app.table.transact(vec![attempt.write(tenant, read_version)?]).await {
        Ok(()) => {}
        Err(TableError::ConditionFailed { .. }) => return Ok(Err(HANDLED_ELSEWHERE)),
        Err(e) => return Err(e.into()),
    }
    let outgoing = Outgoing {
        platform: post.platform.as_str(),
        text,
        media_urls: if part == 0 { &post.media_urls } else { &[] },
        idempotency_key: &key,
        reply_to,
    };
    let mut answer = app.social.publish(&channel, &outgoing).await;
    // A refused token is refreshed once (X's last two hours, and a revocation that a
    // refresh survives) and the post sent again: a 401 means the first call posted nothing.
    if let Err(SocialError::AuthRevoked(_)) = &answer
        && let Some(item) = credentials::read(app, tenant, &account.id).await?
    {
        let vault = credentials::Vault::open(app).await?;
        let held = credentials::held_from(&vault, tenant, &account.id, item)?;
        if held.grant.refresh_token.is_some()
            && let Ok(fresh) = credentials::refresh(app, &vault, tenant, account, held).await?
        {
            let channel = Channel {
                token: Some(&fresh.access_token),
                ..channel.clone()
            };
            answer = app.social.publish(&channel, &outgoing).await;
        }
    }
    let post = post.clone();
    let outcome = match answer {
        Ok(published) => return Ok(Ok((attempt, published, false))),
        Err(SocialError::Uncertain(why)) => {
            record(app, tenant, &attempt, LedgerOutcome::Uncertain, Some(why.clone())).await?;
            let at = now + Duration::seconds(CHECK_AFTER_SECONDS);
            retry_later(app, tenant, post, at, format!("no answer from the platform, checking: {why}")).await
        }
        Err(SocialError::RateLimited { retry_at }) => {
            let why = format!("rate limited until {retry_at}");
            record(app, tenant, &attempt, LedgerOutcome::Failed, Some(why)).await?;
            // A rate limit is the platform's pacing, not a failed attempt.
            let mut post = post;
            post.attempts = post.attempts.saturating_sub(1);
            retry_later(app, tenant, post, retry_at.max(now), "the platform is rate limiting".into()).await
        }
        Err(SocialError::AuthRevoked(why)) => {
            record(app, tenant, &attempt, LedgerOutcome::Failed, Some(why.clone())).await?;
            revoke(app, tenant, post, account.clone(), why).await
        }
        Err(SocialError::Duplicate(why)) => match app.social.find_recent(&channel, &key, text).await {
            Ok(Some(found)) => return Ok(Ok((attempt, found, true))),
            _ => {
                record(app, tenant, &attempt, LedgerOutcome::Failed, Some(why.clone())).await?;
                settle_failed(app, tenant, post, why).await
            }
        },
        Err(SocialError::NotConfigured(why)) => {
            // Ours to fix, not the post's: the health route shows it until the setting changes.
            let seen = PlatformError {
                platform: account.platform.clone(),
                error: why.clone(),
                at: now,
                version: app.settings.platforms.linkedin.clone(),
            };
            let item = to_item(keys::HEALTH_PK, &keys::platform_error_sk(&account.platform), &seen)?;
            if let Err(e) = app.table.put(item, None).await {
                tracing::warn!(error = %e, "the platform's configuration error was not recorded for the health route");
            }
            record(app, tenant, &attempt, LedgerOutcome::Failed, Some(why.clone())).await?;
            settle_failed(app, tenant, post, why).await
        }
        Err(SocialError::Invalid(why)) | Err(SocialError::NotConnected(why)) => {
            record(app, tenant, &attempt, LedgerOutcome::Failed, Some(why.clone())).await?;
            settle_failed(app, tenant, post, why).await
        }
        Err(SocialError::Unavailable(why)) => {
            record(app, tenant, &attempt, LedgerOutcome::Failed, Some(why.clone())).await?;
            let backoff = Duration::minutes(1 << post.attempts.min(5));
            retry_later(app, tenant, post, now + backoff, format!("the platform is unavailable: {why}")).await
        }
    };
    outcome.map(Err)
}

/// A thread's part is out: its ledger entry says so, with where it is, before the next part
/// goes (the post itself settles with the last part).
async fn record_out(app: &App, tenant: &TenantCtx, attempt: &LedgerEntry, published: &Published) -> AppResult<()> {
    let entry = LedgerEntry {
        outcome: Some(LedgerOutcome::Succeeded),
        external_id: Some(published.external_id.clone()),
        url: published.url.clone(),
        error: None,
        last_attempt_at: published.published_at,
        version: attempt.version + 1,
        ..attempt.clone()
    };
    app.table.transact(vec![entry.write(tenant, attempt.version)?]).await?;
    Ok(())
}

/// A platform's answer that our configuration is wrong, kept for the health route.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformError {
    pub platform: String,
    pub error: String,
    #[serde(with = "crate::clock::rfc3339")]
    pub at: DateTime<Utc>,
    /// The version in use when it was seen: a changed setting clears it.
    pub version: String,
}

/// Records an attempt's outcome over the attempt's own ledger write.
async fn record(app: &App, tenant: &TenantCtx, attempt: &LedgerEntry, outcome: LedgerOutcome, error: Option<String>) -> AppResult<()> {
    let entry = LedgerEntry {
        outcome: Some(outcome),
        error,
        version: attempt.version + 1,
        ..attempt.clone()
    };
    app.table.transact(vec![entry.write(tenant, attempt.version)?]).await?;
    Ok(())
}

fn post_event(tenant: &TenantCtx, post: &Post, kind: &str) -> DomainEvent {
    DomainEvent {
        id: format!("{kind}:{}:{}", post.id, post.version),
        source: "chief.content".into(),
        detail_type: kind.into(),
        org_id: tenant.org_id().clone(),
        at: post.updated_at,
        detail: json!({
            "postId": post.id, "platform": post.platform, "accountId": post.account_id,
            "status": post.status, "url": post.published.as_ref().and_then(|p| p.url.clone()), "error": post.error,
        }),
    }
}

async fn emit(app: &App, event: DomainEvent) {
    if let Err(e) = app.events.publish(&[event]).await {
        tracing::warn!(error = %e, "post event not published");
    }
}

/// Published: the post, its ledger entry and its analytics record in one transaction over
/// the claim; the quota it held at scheduling is now spent.
async fn settle_published(
    app: &App,
    tenant: &TenantCtx,
    mut post: Post,
    account: &SocialAccount,
    attempt: LedgerEntry,
    published: Published,
    found: bool,
) -> AppResult<PublishOutcome> {
    let entry = LedgerEntry {
        outcome: Some(LedgerOutcome::Succeeded),
        external_id: Some(published.external_id.clone()),
        url: published.url.clone(),
        error: None,
        version: attempt.version + 1,
        ..attempt.clone()
    };
    let record = PublishedRecord {
        post_id: post.id.clone(),
        account_id: account.id.to_string(),
        platform: post.platform,
        external_id: published.external_id.clone(),
        url: published.url.clone(),
        published_at: published.published_at,
        metrics: None,
        measured_at: None,
        text: post.outgoing_text(),
    };
    post.status = PostStatus::Published;
    post.published = Some(PublishedAt {
        external_id: published.external_id.clone(),
        url: published.url.clone(),
        at: published.published_at,
    });
    post.next_attempt_at = None;
    post.error = None;
    let also = vec![
        entry.write(tenant, attempt.version)?,
        TxOp::Put {
            item: to_item(&tenant.pk(), &keys::published_sk(&published.published_at, &post.id), &record)?,
            condition: None,
        },
    ];
    let post = match super::posts::save(app, tenant, post, also).await {
        Ok(post) => post,
        Err(AppError::Conflict { .. }) => return Ok(HANDLED_ELSEWHERE),
        Err(e) => return Err(e),
    };
    emit(app, post_event(tenant, &post, "post.published")).await;
    after_published(app, tenant, &post).await?;
    let (post_id, external_id) = (post.id, published.external_id);
    Ok(if found {
        PublishOutcome::Found { post_id, external_id }
    } else {
        PublishOutcome::Published { post_id, external_id }
    })
}

/// What a published post delivers: the deliverables naming it (or its content item) become
/// delivered, once each, and their deals move on when all are.
/// The task that wrote it completes with it.
async fn after_published(app: &App, tenant: &TenantCtx, post: &Post) -> AppResult<()> {
    let Some(published) = &post.published else {
        return Ok(());
    };
    if let Some(task_id) = &post.task_id {
        let output = json!({
            "platform": post.platform, "postId": post.id, "accountId": post.account_id,
            "externalId": published.external_id, "url": published.url,
            "publishedAt": crate::clock::timestamp(published.at),
        });
        crate::tasks::settle_from_post(app, tenant, task_id, Ok(output)).await?;
    }
    crate::deals::deliverables::post_published(app, tenant, &post.id, post.content_id.as_deref(), published.url.as_deref()).await?;
    Ok(())
}

/// Failed for good: the quota it held goes back; its task (if any) fails with it.
async fn settle_failed(app: &App, tenant: &TenantCtx, mut post: Post, error: String) -> AppResult<PublishOutcome> {
    let release: Vec<TxOp> = release_quota(tenant, &mut post).into_iter().collect();
    post.status = PostStatus::Failed;
    post.next_attempt_at = None;
    post.error = Some(error.clone());
    let post = match super::posts::save(app, tenant, post, release).await {
        Ok(post) => post,
        Err(AppError::Conflict { .. }) => return Ok(HANDLED_ELSEWHERE),
        Err(e) => return Err(e),
    };
    emit(app, post_event(tenant, &post, "post.failed")).await;
    if let Some(task_id) = &post.task_id {
        crate::tasks::settle_from_post(app, tenant, task_id, Err(format!("its post did not go out: {error}"))).await?;
    }
    Ok(PublishOutcome::Failed { post_id: post.id, error })
}

/// Due again at `at` (a rate limit's reset, the check of an uncertain attempt, a backoff).
async fn retry_later(app: &App, tenant: &TenantCtx, mut post: Post, at: DateTime<Utc>, reason: String) -> AppResult<PublishOutcome> {
    post.status = PostStatus::Scheduled;
    post.next_attempt_at = Some(at);
    post.error = Some(reason.clone());
    match super::posts::save(app, tenant, post, Vec::new()).await {
        Ok(post) => Ok(PublishOutcome::Retrying {
            post_id: post.id,
            at,
            reason,
        }),
        Err(AppError::Conflict { .. }) => Ok(HANDLED_ELSEWHERE),
        Err(e) => Err(e),
    }
}

async fn pause(app: &App, tenant: &TenantCtx, mut post: Post, reason: &str) -> AppResult<PublishOutcome> {
    post.status = PostStatus::Paused;
    post.next_attempt_at = None;
    post.error = Some(reason.to_string());
    match super::posts::save(app, tenant, post, Vec::new()).await {
        Ok(post) => Ok(PublishOutcome::Paused {
            post_id: post.id,
            reason: reason.into(),
        }),
        Err(AppError::Conflict { .. }) => Ok(HANDLED_ELSEWHERE),
        Err(e) => Err(e),
    }
}

/// The platform revoked the account: it needs connecting again (`accounts::needs_reauth`),
/// and this post pauses with the others.
async fn revoke(app: &App, tenant: &TenantCtx, post: Post, account: SocialAccount, why: String) -> AppResult<PublishOutcome> {
    accounts::needs_reauth(app, tenant, account, why).await?;
    pause(app, tenant, post, "its account must be connected again").await
}

/// The id of the post a task writes: the task's own (a task id is a ULID, checked where it
/// entered), so that a second run of the task finds the post the first wrote.
pub fn task_post_id(task_id: &TaskId) -> PostId {
    PostId::from_ulid(task_id.parse().unwrap_or_default())
}
