//! Social posts: `draft → approved → scheduled → publishing → published | failed`, and
//! `paused` while their account cannot post. Approval binds to the exact words: it records a
//! hash of the platform, text and media, and any edit voids it. A scheduled post carries a
//! due-index entry, so the minute executor picks it up as it picks tasks.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, PostId, TaskId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::platforms::{self, Platform};
use crate::ports::table::{Condition, Item, TableError, TxOp};
use crate::tasks::due;
use crate::tenancy::TenantCtx;
use crate::usage::{self, Metric, Plan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    Draft,
    Approved,
    Scheduled,
    Publishing,
    Published,
    Failed,
    /// Its account cannot post (removed, or needs to be connected again).
    Paused,
}

impl PostStatus {
    pub const NAMES: &'static str = "draft, approved, scheduled, publishing, published, failed, paused";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// The admin who approved, or `agent` where the autonomy policy lets posts go alone.
    pub by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub at: DateTime<Utc>,
    /// SHA-256 of the platform, text, hashtags and media approved.
    pub hash: String,
}

/// Where a published post is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedAt {
    pub external_id: String,
    pub url: Option<String>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    pub id: PostId,
    pub platform: Platform,
    pub text: String,
    pub hashtags: Vec<String>,
    pub media_urls: Vec<String>,
    pub pillar: Option<String>,
    pub content_id: Option<String>,
    /// An X thread's parts in order (numbered, hashtags in the last): published as replies
    /// to one another. Empty for a single post; `text` is then the first part.
    #[serde(default)]
    pub thread: Vec<String>,
    pub status: PostStatus,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub scheduled_at: Option<DateTime<Utc>>,
    pub account_id: Option<AccountId>,
    pub approval: Option<Approval>,
    /// The task that wrote it (a `social_media_post` task, or the agent's).
    #[serde(default)]
    pub task_id: Option<TaskId>,
    #[serde(default)]
    pub published: Option<PublishedAt>,
    /// Why the last attempt failed, in the platform's words where it gave them.
    #[serde(default)]
    pub error: Option<String>,
    /// Publishing attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// When the pipeline looks at it next: a retry at the platform's reset time, or the check
    /// of an attempt whose outcome is unknown.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The month (`YYYY-MM`) whose posts quota holds this post while it is scheduled or
    /// published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub quota_month: Option<String>,
    /// Which AI wrote it, if one did.
    #[serde(default)]
    pub written_by: Option<String>,
    /// Scheduled inside another sponsor's exclusivity window by an admin's `override: true`.
    #[serde(default)]
    pub exclusivity_override: Option<ExclusivityOverride>,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// Who scheduled a post past another sponsor's exclusivity, and which deal's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExclusivityOverride {
    pub deal_id: String,
    pub by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub at: DateTime<Utc>,
}

impl Post {
    /// The text as it goes out, hashtags included (a thread's first part).
    pub fn outgoing_text(&self) -> String {
        match self.thread.first() {
            Some(first) => first.clone(),
            None => platforms::outgoing_text(&self.text, &self.hashtags),
        }
    }

    /// What goes out, in order: the one post, or each part of a thread.
    pub fn outgoing_parts(&self) -> Vec<String> {
        if self.thread.is_empty() {
            vec![self.outgoing_text()]
        } else {
            self.thread.clone()
        }
    }

    /// What an approval binds to.
    pub fn content_hash(&self) -> String {
        let parts = [
            self.platform.as_str(),
            &self.text,
            &self.hashtags.join("\u{1f}"),
            &self.media_urls.join("\u{1f}"),
            &self.thread.join("\u{1f}"),
        ];
        model::sha256_hex(parts.join("\u{0}").as_bytes())
    }

    pub fn is_approved(&self) -> bool {
        self.approval.as_ref().is_some_and(|a| a.hash == self.content_hash())
    }

    /// When the executor should look at it, if ever.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        match self.status {
            PostStatus::Scheduled => self.next_attempt_at.or(self.scheduled_at),
            PostStatus::Publishing => self.next_attempt_at,
            _ => None,
        }
    }

    pub fn to_item(&self, org_id: &crate::ids::OrgId) -> AppResult<Item> {
        let mut item = to_item(&keys::org_pk(org_id), &keys::post_sk(&self.id), self)?;
        if let Some(at) = self.due_at() {
            let (pk, sk) = due::entry(org_id, &self.id, at);
            item.insert("duePK".into(), pk.into());
            item.insert("dueSK".into(), sk.into());
        }
        Ok(item)
    }

    /// The step that writes it over the version read (`read`: 0 for a new post).
    pub fn write(&self, tenant: &TenantCtx, read: u64) -> AppResult<TxOp> {
        Ok(TxOp::Put {
            item: self.to_item(tenant.org_id())?,
            condition: Some(written_over(read)),
        })
    }
}

/// The condition of a write over the version read (0: a new post).
fn written_over(read: u64) -> Condition {
    if read == 0 {
        Condition::NotExists
    } else {
        Condition::VersionEquals(read)
    }
}

pub fn post_from(item: Option<Item>) -> AppResult<Post> {
    from_item(item.ok_or(AppError::NotFound("post"))?)
}

pub fn changed_meanwhile() -> AppError {
    AppError::conflict("VERSION_CONFLICT", "the post changed meanwhile: read it again")
}

/// Writes a changed post (and `also`, in the same transaction) over the version it was read
/// at; answers it as stored.
///
/// A post of a content item keeps its status on the item's link in the same write, then the
/// item's status follows (see `items`).
pub async fn save(app: &App, tenant: &TenantCtx, mut post: Post, mut also: Vec<TxOp>) -> AppResult<Post> {
    let read = post.version;
    post.version += 1;
    post.updated_at = app.clock.now();
    also.extend(super::items::link_step(tenant, &post));
    let written = if also.is_empty() {
        app.table.put(post.to_item(tenant.org_id())?, Some(written_over(read))).await
    } else {
        let mut ops = vec![post.write(tenant, read)?];
        ops.extend(also);
        app.table.transact(ops).await
    };
    written.map_err(|e| match e {
        TableError::ConditionFailed { op: None | Some(0) } => changed_meanwhile(),
        // The only bounded step beside the post is the posts quota of its month.
        TableError::ConditionFailed { .. } => AppError::QuotaExceeded(
            "the plan's posts for that month are spent (published and still-scheduled posts count): upgrade, or unschedule a post".into(),
        ),
        other => other.into(),
    })?;
    if let Some(content_id) = &post.content_id
        && let Err(e) = super::items::follow_posts(app, tenant, content_id).await
    {
        tracing::warn!(error = %e, "the content item's status did not follow its post; a read derives it");
    }
    Ok(post)
}

pub const MAX_MEDIA_URL: usize = 2_000;

fn clean_media(urls: Vec<String>) -> AppResult<Vec<String>> {
    urls.into_iter()
        .map(|url| {
            let url = url.trim().to_string();
            let ok = url.len() <= MAX_MEDIA_URL && url.starts_with("https://") && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if ok {
                Ok(url)
            } else {
                Err(AppError::validation(format!(
                    "mediaUrls: {url:?} is not an https URL of at most {MAX_MEDIA_URL} characters"
                )))
            }
        })
        .collect()
}

/// A post's text: not empty, no control characters but line breaks and tabs.
fn clean_text(text: &str) -> AppResult<String> {
    model::text("text", text, 70_000)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPost {
    pub platform: Platform,
    pub text: String,
    #[serde(default)]
    pub hashtags: Vec<String>,
    #[serde(default)]
    pub media_urls: Vec<String>,
    pub pillar: Option<String>,
    pub content_id: Option<String>,
    /// An X thread's parts (see `Post::thread`); `text` must then be the first.
    #[serde(default)]
    pub thread: Vec<String>,
}

/// A thread's parts, cleaned and checked against X's rules.
fn clean_thread(platform: Platform, parts: Vec<String>) -> AppResult<Vec<String>> {
    let parts: Vec<String> = parts.iter().map(|p| clean_text(p)).collect::<AppResult<_>>()?;
    platforms::check_thread(platform, &parts)?;
    Ok(parts)
}

/// A draft, checked against its platform's rules.
pub fn new_post(now: DateTime<Utc>, created_by: &str, input: NewPost) -> AppResult<Post> {
    let text = clean_text(&input.text)?;
    let hashtags = platforms::clean_hashtags(input.hashtags)?;
    let media_urls = clean_media(input.media_urls)?;
    let thread = clean_thread(input.platform, input.thread)?;
    if thread.is_empty() {
        platforms::check(input.platform, &text, &hashtags, &media_urls, false)?;
    } else if thread[0] != text || !hashtags.is_empty() || !media_urls.is_empty() {
        return Err(AppError::validation(
            "thread: text must be the thread's first part, and a thread carries its hashtags in its last part and no images",
        ));
    }
    if let Some(content) = &input.content_id {
        crate::ids::check(content, "contentId")?;
    }
    Ok(Post {
        id: PostId::generate(),
        platform: input.platform,
        text,
        hashtags,
        media_urls,
        pillar: model::optional_text("pillar", input.pillar.as_deref(), 100)?,
        content_id: input.content_id,
        thread,
        status: PostStatus::Draft,
        scheduled_at: None,
        account_id: None,
        approval: None,
        task_id: None,
        published: None,
        error: None,
        attempts: 0,
        next_attempt_at: None,
        quota_month: None,
        written_by: None,
        exclusivity_override: None,
        created_by: created_by.to_string(),
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

pub async fn insert(app: &App, tenant: &TenantCtx, post: &Post) -> AppResult<()> {
    let mut ops = vec![post.write(tenant, 0)?];
    ops.extend(super::items::link_step(tenant, post));
    match app.table.transact(ops).await {
        Ok(()) => Ok(()),
        Err(TableError::ConditionFailed { .. }) => Err(AppError::conflict("CONFLICT", "the post exists already")),
        Err(e) => Err(e.into()),
    }
}

/// `PATCH …/posts/{postId}`: every field optional but `version`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostChange {
    pub platform: Option<Platform>,
    pub text: Option<String>,
    pub hashtags: Option<Vec<String>>,
    pub media_urls: Option<Vec<String>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub pillar: Option<Option<String>>,
    /// An X thread's parts; `[]` makes it one post again (its first part).
    pub thread: Option<Vec<String>>,
    /// The version read.
    pub version: u64,
}

/// Whether a post can still be changed: not while it is going out or once it is out.
fn editable(post: &Post) -> AppResult<()> {
    match post.status {
        PostStatus::Publishing | PostStatus::Published => Err(AppError::conflict(
            "POST_NOT_EDITABLE",
            format!("a {} post cannot be changed", status_name(post.status)),
        )),
        _ => Ok(()),
    }
}

pub fn status_name(status: PostStatus) -> &'static str {
    match status {
        PostStatus::Draft => "draft",
        PostStatus::Approved => "approved",
        PostStatus::Scheduled => "scheduled",
        PostStatus::Publishing => "publishing",
        PostStatus::Published => "published",
        PostStatus::Failed => "failed",
        PostStatus::Paused => "paused",
    }
}

/// An edit of what goes out returns the post to `draft` and voids its approval (and takes
/// it off the calendar, giving back the quota it held).
pub async fn update(app: &App, tenant: &TenantCtx, mut post: Post, change: PostChange) -> AppResult<Post> {
    if change.version != post.version {
        return Err(model::stale_version("post", post.version));
    }
    editable(&post)?;
    let before = post.content_hash();
    if let Some(platform) = change.platform {
        post.platform = platform;
    }
    if let Some(text) = change.text {
        post.text = clean_text(&text)?;
    }
    if let Some(hashtags) = change.hashtags {
        post.hashtags = platforms::clean_hashtags(hashtags)?;
    }
    if let Some(media) = change.media_urls {
        post.media_urls = clean_media(media)?;
    }
    if let Some(pillar) = change.pillar {
        post.pillar = model::optional_text("pillar", pillar.as_deref(), 100)?;
    }
    if let Some(thread) = change.thread {
        post.thread = clean_thread(post.platform, thread)?;
        if let Some(first) = post.thread.first() {
            post.text = first.clone();
        }
    } else if !post.thread.is_empty() && post.thread[0] != post.text {
        // A new text of a thread is its first part.
        post.thread[0] = post.text.clone();
    }
    if post.thread.is_empty() {
        platforms::check(post.platform, &post.text, &post.hashtags, &post.media_urls, false)?;
    } else {
        platforms::check_thread(post.platform, &post.thread)?;
    }
    let mut also = Vec::new();
    if post.content_hash() != before {
        also.extend(release_quota(tenant, &mut post));
        post.approval = None;
        post.status = PostStatus::Draft;
        post.scheduled_at = None;
        post.next_attempt_at = None;
        post.error = None;
    }
    save(app, tenant, post, also).await
}

/// The step that gives back the quota a post holds (none when it holds none).
pub fn release_quota(tenant: &TenantCtx, post: &mut Post) -> Option<TxOp> {
    let month = post.quota_month.take()?;
    usage::release(
        tenant,
        &usage::Need {
            posts: 1,
            ..usage::Need::default()
        },
        &month,
    )
}

/// The step that holds one post of `month`'s quota, refused (402) when the month's published
/// and still-scheduled posts reach the plan's limit.
fn hold_quota(tenant: &TenantCtx, plan: Plan, post: &mut Post, at: DateTime<Utc>) -> Option<TxOp> {
    if post.quota_month.is_some() {
        return None;
    }
    post.quota_month = Some(usage::month(at));
    Some(usage::spend(tenant, plan, Metric::Posts, 1, at))
}

pub async fn delete(app: &App, tenant: &TenantCtx, mut post: Post) -> AppResult<()> {
    if post.status == PostStatus::Publishing {
        return Err(AppError::conflict(
            "POST_NOT_EDITABLE",
            "a post cannot be deleted while it is going out",
        ));
    }
    // A published post's quota stays spent; a scheduled one's goes back.
    let release = if post.status == PostStatus::Published {
        None
    } else {
        release_quota(tenant, &mut post)
    };
    let mut ops = vec![TxOp::Delete {
        key: tenant.key(keys::post_sk(&post.id)),
        condition: Some(Condition::VersionEquals(post.version)),
    }];
    ops.extend(release);
    ops.extend(super::items::unlink_step(tenant, &post));
    let details = serde_json::json!({"platform": post.platform.as_str(), "status": status_name(post.status)});
    ops.push(crate::audit::entry(
        tenant,
        app.clock.now(),
        "post.deleted",
        format!("post:{}", post.id),
        details,
    )?);
    app.table.transact(ops).await.map_err(|e| match e {
        TableError::ConditionFailed { op: Some(0) } => changed_meanwhile(),
        other => other.into(),
    })
}

/// Records who approved these exact words. An approved post that is edited later is a draft
/// again (see `update`).
pub fn approve_now(post: &mut Post, by: &str, at: DateTime<Utc>) -> AppResult<()> {
    match post.status {
        PostStatus::Draft | PostStatus::Approved | PostStatus::Failed => {}
        other => {
            return Err(AppError::conflict(
                "POST_NOT_EDITABLE",
                format!("a {} post is past approval", status_name(other)),
            ));
        }
    }
    platforms::check(post.platform, &post.text, &post.hashtags, &post.media_urls, true)?;
    post.approval = Some(Approval {
        by: by.to_string(),
        at,
        hash: post.content_hash(),
    });
    if post.status == PostStatus::Draft {
        post.status = PostStatus::Approved;
    }
    Ok(())
}

/// Puts an approved post (or any post, where the policy for posts is `auto`) on the calendar
/// for `at` through `account`, holding one post of the quota of the month it goes out in
/// (402 `QUOTA_EXCEEDED` and nothing changes when that month's published and still-scheduled
/// posts have reached the plan's limit). A sponsored post inside another sponsor's
/// exclusivity is refused (409 `EXCLUSIVITY_CONFLICT`) unless `override_by` names the admin
/// who overrides it, which the post records.
#[allow(clippy::too_many_arguments)]
pub async fn schedule(
    app: &App,
    tenant: &TenantCtx,
    plan: Plan,
    mut post: Post,
    account: &super::accounts::SocialAccount,
    at: DateTime<Utc>,
    auto: bool,
    override_by: Option<&str>,
) -> AppResult<Post> {
    let now = app.clock.now();
    match post.status {
        PostStatus::Draft | PostStatus::Approved | PostStatus::Scheduled | PostStatus::Paused => {}
        other => {
            return Err(AppError::conflict(
                "POST_NOT_EDITABLE",
                format!("a {} post cannot be scheduled", status_name(other)),
            ));
        }
    }
    crate::platforms::require_media(post.platform, &post.media_urls)?;
    if !post.is_approved() {
        if !auto {
            return Err(AppError::conflict(
                "POST_NOT_APPROVED",
                "only an approved post can be scheduled: an admin approves it first (or sets the autonomy policy for posts to auto)",
            ));
        }
        approve_now(&mut post, crate::ids::BACKGROUND_USER, now)?;
    }
    account.can_post(post.platform)?;
    if at > now + chrono::Duration::days(crate::tasks::MAX_SCHEDULE_DAYS) {
        return Err(AppError::validation(format!(
            "at is more than {} days ahead",
            crate::tasks::MAX_SCHEDULE_DAYS
        )));
    }
    // A time in the past means now.
    let at = at.max(now);
    if let Some(conflict) = crate::deals::exclusivity::conflict(app, tenant, &post.id, post.content_id.as_deref(), at).await? {
        let overridden = post
            .exclusivity_override
            .as_ref()
            .is_some_and(|o| o.deal_id == conflict.deal_id.as_str());
        match override_by {
            Some(by) => {
                post.exclusivity_override = Some(ExclusivityOverride {
                    deal_id: conflict.deal_id.to_string(),
                    by: by.to_string(),
                    at: now,
                });
            }
            None if overridden => {}
            None => return Err(conflict.error()),
        }
    }
    let mut quota = Vec::new();
    if post.quota_month.as_deref() != Some(usage::month(at).as_str()) {
        quota.extend(release_quota(tenant, &mut post));
        quota.extend(hold_quota(tenant, plan, &mut post, at));
    }
    post.scheduled_at = Some(at);
    post.account_id = Some(account.id.clone());
    post.status = PostStatus::Scheduled;
    post.next_attempt_at = None;
    post.error = None;
    save(app, tenant, post, quota).await
}

/// Takes a scheduled (or paused) post off the calendar: it is approved again, and the
/// quota it held goes back.
pub async fn unschedule(app: &App, tenant: &TenantCtx, mut post: Post) -> AppResult<Post> {
    if !matches!(post.status, PostStatus::Scheduled | PostStatus::Paused) {
        return Err(AppError::conflict(
            "POST_NOT_SCHEDULED",
            format!(
                "only a scheduled or paused post can be unscheduled; this one is {}",
                status_name(post.status)
            ),
        ));
    }
    let release: Vec<TxOp> = release_quota(tenant, &mut post).into_iter().collect();
    post.status = if post.is_approved() {
        PostStatus::Approved
    } else {
        PostStatus::Draft
    };
    post.scheduled_at = None;
    post.next_attempt_at = None;
    save(app, tenant, post, release).await
}

/// A time to post at: UTC or with an offset (`2026-12-01T09:00:00Z`), or a local time without
/// one (`2026-12-01T09:00:00`) read in `time_zone`. A local time that does not exist (the hour
/// skipped when clocks go forward) is refused; one that happens twice (when they go back)
/// is the earlier instant.
pub fn parse_at(field: &str, value: &str, time_zone: &str) -> AppResult<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    let local: jiff::civil::DateTime = value.parse().map_err(|_| {
        AppError::validation(format!(
            "{field} must be a UTC time like 2026-12-01T09:00:00Z or a local time like 2026-12-01T09:00:00"
        ))
    })?;
    let tz = jiff::tz::TimeZone::get(time_zone).map_err(|_| AppError::internal("the org's time zone is unknown"))?;
    let ambiguous = tz.to_ambiguous_timestamp(local);
    if let jiff::tz::AmbiguousOffset::Gap { .. } = ambiguous.offset() {
        return Err(AppError::validation(format!(
            "{field}: {value} does not exist in {time_zone} (the clocks skip it): pick another time"
        )));
    }
    let instant = ambiguous
        .earlier()
        .map_err(|_| AppError::validation(format!("{field}: {value} is out of range")))?;
    DateTime::from_timestamp(instant.as_second(), instant.subsec_nanosecond().max(0) as u32)
        .ok_or_else(|| AppError::validation(format!("{field}: {value} is out of range")))
}

/// An instant as a wall-clock time in `time_zone` (`2026-12-01T09:00:00`).
pub fn local_time(at: DateTime<Utc>, time_zone: &str) -> String {
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_second(at.timestamp()) {
        Ok(ts) => tz.to_datetime(ts).strftime("%Y-%m-%dT%H:%M:%S").to_string(),
        Err(_) => crate::clock::timestamp(at),
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn local_times_are_read_in_the_org_zone_across_daylight_saving() {
        let ny = "America/New_York";
        // Before the November change New York is UTC−4, after it UTC−5.
        assert_eq!(
            crate::clock::timestamp(parse_at("at", "2026-10-30T09:00:00", ny).unwrap()),
            "2026-10-30T13:00:00.000Z"
        );
        assert_eq!(
            crate::clock::timestamp(parse_at("at", "2026-11-02T09:00:00", ny).unwrap()),
            "2026-11-02T14:00:00.000Z"
        );
        // 01:30 happens twice on 2026-11-01: the earlier instant (still UTC−4).
        assert_eq!(
            crate::clock::timestamp(parse_at("at", "2026-11-01T01:30:00", ny).unwrap()),
            "2026-11-01T05:30:00.000Z"
        );
        // 02:30 does not exist on 2026-03-08.
        let err = parse_at("at", "2026-03-08T02:30:00", ny).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert_eq!(
            crate::clock::timestamp(parse_at("at", "2026-12-01T09:00:00Z", ny).unwrap()),
            "2026-12-01T09:00:00.000Z"
        );
        assert!(parse_at("at", "tomorrow", ny).is_err());
        assert_eq!(
            local_time(parse_at("at", "2026-11-02T09:00:00", ny).unwrap(), ny),
            "2026-11-02T09:00:00"
        );
    }
}
