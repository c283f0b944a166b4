//! The social accounts an org publishes to. A `sandbox` account needs no OAuth and publishes
//! a post of any platform under that platform's rules, so the whole pipeline runs without a
//! network; real platforms connect by OAuth (their own issue) and post only their own posts.

use super::posts::{Post, PostStatus};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, UserId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::platforms::Platform;
use crate::ports::social::SANDBOX_PLATFORM;
use crate::ports::table::{Condition, Item, Query, TableError, TxOp, query_all};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountHealth {
    Ok,
    /// Its authorisation ends soon: connect it again before it does.
    Expiring,
    /// It cannot post until it is connected again; its posts are paused.
    NeedsReauth,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocialAccount {
    pub id: AccountId,
    /// `sandbox`, or a real platform once connected by OAuth.
    pub platform: String,
    pub name: String,
    /// The platform's id of the account.
    pub external_id: String,
    /// What it is on its platform: `member`, `organization`, `user`, `page`,
    /// `instagram_business` (none for the sandbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub health: AccountHealth,
    /// When its authorisation ends unless renewed (none: it does not end, or the sandbox).
    #[serde(default, with = "crate::clock::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub authorization_ends_at: Option<DateTime<Utc>>,
    /// The member who connected it: told when it needs connecting again.
    #[schemars(with = "String")]
    pub connected_by: UserId,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl SocialAccount {
    /// The account as the Social port is called through it, with the token it posts with.
    pub fn channel<'a>(
        &'a self,
        org_id: &'a crate::ids::OrgId,
        token: Option<&'a crate::ports::social::Secret>,
    ) -> crate::ports::social::Channel<'a> {
        crate::ports::social::Channel {
            org_id,
            account_id: &self.id,
            platform: &self.platform,
            external_id: &self.external_id,
            token,
        }
    }

    pub fn is_sandbox(&self) -> bool {
        self.platform == SANDBOX_PLATFORM
    }

    /// Whether this account may carry a post written for `platform`.
    pub fn can_post(&self, platform: Platform) -> AppResult<()> {
        if self.health == AccountHealth::NeedsReauth {
            return Err(AppError::conflict(
                "ACCOUNT_NEEDS_REAUTH",
                format!("the account {} must be connected again before it can post", self.name),
            ));
        }
        if !self.is_sandbox() && self.platform != platform.as_str() {
            return Err(AppError::validation(format!(
                "accountId: a {} account cannot post a {} post",
                self.platform,
                platform.as_str()
            )));
        }
        Ok(())
    }

    pub fn to_item(&self, tenant: &TenantCtx) -> AppResult<Item> {
        to_item(&tenant.pk(), &keys::account_sk(&self.id), self)
    }
}

pub fn account_from(item: Option<Item>) -> AppResult<SocialAccount> {
    from_item(item.ok_or(AppError::NotFound("social account"))?)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewAccount {
    /// `sandbox` (real platforms connect by OAuth).
    pub platform: String,
    pub name: String,
}

/// Accounts an org may hold.
pub const MAX_ACCOUNTS: usize = 50;

pub async fn create(app: &App, tenant: &TenantCtx, input: NewAccount) -> AppResult<SocialAccount> {
    if input.platform != SANDBOX_PLATFORM {
        return Err(AppError::validation(format!(
            "platform: only {SANDBOX_PLATFORM} accounts are added here; {} is connected by OAuth",
            input.platform
        )));
    }
    if list(app, tenant).await?.len() >= MAX_ACCOUNTS {
        return Err(AppError::validation(format!("an org holds at most {MAX_ACCOUNTS} social accounts")));
    }
    let now = app.clock.now();
    let id = AccountId::generate();
    let account = SocialAccount {
        external_id: format!("sandbox_{id}"),
        id,
        platform: input.platform,
        name: model::name("name", &input.name, 100)?,
        kind: None,
        health: AccountHealth::Ok,
        authorization_ends_at: None,
        connected_by: tenant.user_id().clone(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let put = TxOp::Put {
        item: account.to_item(tenant)?,
        condition: Some(Condition::NotExists),
    };
    let details = serde_json::json!({"platform": account.platform, "name": account.name});
    let record = crate::audit::entry(
        tenant,
        now,
        "social_account.connected",
        format!("social_account:{}", account.id),
        details,
    )?;
    crate::audit::with_entry(app, put, record).await?;
    Ok(account)
}

/// The org's own sandbox account (`Sandbox`, its id the org's), made the first time a task
/// needs an account and the org has none. Made once however many runs ask at once.
pub async fn default_sandbox(app: &App, tenant: &TenantCtx) -> AppResult<SocialAccount> {
    let now = app.clock.now();
    let id = AccountId::from_ulid(
        tenant
            .org_id()
            .parse()
            .map_err(|_| AppError::internal("an org id that is no ULID"))?,
    );
    let account = SocialAccount {
        external_id: format!("sandbox_{id}"),
        id,
        platform: SANDBOX_PLATFORM.into(),
        name: "Sandbox".into(),
        kind: None,
        health: AccountHealth::Ok,
        authorization_ends_at: None,
        connected_by: UserId::background(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    match app.table.put(account.to_item(tenant)?, Some(Condition::NotExists)).await {
        Ok(()) => Ok(account),
        Err(TableError::ConditionFailed { .. }) => account_from(app.table.get(&tenant.key(keys::account_sk(&account.id))).await?),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(app: &App, tenant: &TenantCtx) -> AppResult<Vec<SocialAccount>> {
    query_all(&*app.table, Query::partition(tenant.pk()).prefix(keys::ACCOUNT_PREFIX))
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}

/// The org's posts through an account that are still to go out.
pub async fn pending_posts(app: &App, tenant: &TenantCtx, account_id: &AccountId) -> AppResult<Vec<Post>> {
    let posts: Vec<Post> = query_all(&*app.table, Query::partition(tenant.pk()).prefix(keys::POST_PREFIX))
        .await?
        .into_iter()
        .map(from_item)
        .collect::<AppResult<_>>()?;
    Ok(posts
        .into_iter()
        .filter(|p| p.account_id.as_ref() == Some(account_id) && p.status == PostStatus::Scheduled)
        .collect())
}

/// The steps that pause posts: off the calendar (no due entry), keeping their time, their
/// approval and the quota they hold, to resume when the account can post again.
pub fn pause_steps(tenant: &TenantCtx, posts: Vec<Post>, why: &str, now: DateTime<Utc>) -> AppResult<Vec<TxOp>> {
    posts
        .into_iter()
        .map(|mut post| {
            let read = post.version;
            post.status = PostStatus::Paused;
            post.next_attempt_at = None;
            post.error = Some(why.to_string());
            post.updated_at = now;
            post.version += 1;
            post.write(tenant, read)
        })
        .collect()
}

/// The account's authorisation is gone (the platform revoked it, or a refresh was refused):
/// it needs connecting again, its scheduled posts pause, and one `reconnect_account` task is
/// made for the member who connected it, with a mail to the org's admins. The account's
/// change and the task are one transaction over the account's version, so however often
/// this runs (a redelivered job, two posts failing at once) the task and mail happen once.
pub async fn needs_reauth(app: &App, tenant: &TenantCtx, mut account: SocialAccount, why: String) -> AppResult<()> {
    if account.health == AccountHealth::NeedsReauth {
        return Ok(());
    }
    let now = app.clock.now();
    let read = account.version;
    account.health = AccountHealth::NeedsReauth;
    account.version += 1;
    account.updated_at = now;
    let about = serde_json::json!({"accountId": account.id, "platform": account.platform, "name": account.name, "reason": why});
    let task = crate::tasks::made_by_chief(crate::tasks::TaskType::ReconnectAccount, now, &account.connected_by, about)?;
    let ops = vec![
        TxOp::Put {
            item: account.to_item(tenant)?,
            condition: Some(Condition::VersionEquals(read)),
        },
        TxOp::Put {
            item: task.to_item(tenant.org_id())?,
            condition: Some(Condition::NotExists),
        },
    ];
    match app.table.transact(ops).await {
        Ok(()) => mail_admins(app, tenant, &account, &why).await?,
        Err(TableError::ConditionFailed { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let posts = pending_posts(app, tenant, &account.id).await?;
    let steps = pause_steps(tenant, posts, "its account must be connected again", now)?;
    for chunk in steps.chunks(crate::ports::table::MAX_TRANSACTION_OPS) {
        if let Err(e) = app.table.transact(chunk.to_vec()).await {
            tracing::warn!(error = %e, "some posts were not paused; each pauses when it falls due");
        }
    }
    Ok(())
}

/// Tells the org's owners and admins that an account must be connected again. A mail that
/// does not go is logged, not retried: the task and the account's health say it too.
async fn mail_admins(app: &App, tenant: &TenantCtx, account: &SocialAccount, why: &str) -> AppResult<()> {
    let members = query_all(&*app.table, Query::partition(tenant.pk()).prefix(keys::MEMBER_PREFIX)).await?;
    let link = format!("{}/orgs/{}/social", app.settings.app_url.trim_end_matches('/'), tenant.org_id());
    for member in members {
        let Ok(member) = from_item::<crate::orgs::Membership>(member) else {
            continue;
        };
        if member.role < crate::tenancy::Role::Admin {
            continue;
        }
        let email = crate::ports::mailer::Email {
            to: member.email.clone(),
            subject: format!("Reconnect {} ({})", account.name, account.platform),
            text: format!(
                "Chief can no longer post to {} on {} ({why}).\nIts scheduled posts are paused until it is connected again: {link}\n",
                account.name, account.platform
            ),
        };
        if let Err(e) = app.mailer.send(email).await {
            tracing::warn!(error = %e, "the reconnect mail was not sent");
        }
    }
    Ok(())
}

/// Removes an account; its scheduled posts become `paused`.
pub async fn delete(app: &App, tenant: &TenantCtx, account: SocialAccount) -> AppResult<usize> {
    let posts = pending_posts(app, tenant, &account.id).await?;
    let paused = posts.len();
    let mut ops = vec![
        TxOp::Delete {
            key: tenant.key(keys::account_sk(&account.id)),
            condition: Some(Condition::VersionEquals(account.version)),
        },
        // Its tokens go with it: nothing can post through a removed account.
        TxOp::Delete {
            key: tenant.key(keys::account_tokens_sk(&account.id)),
            condition: None,
        },
        crate::audit::entry(
            tenant,
            app.clock.now(),
            "social_account.removed",
            format!("social_account:{}", account.id),
            serde_json::json!({"platform": account.platform, "name": account.name, "postsPaused": paused}),
        )?,
    ];
    ops.extend(pause_steps(
        tenant,
        posts,
        &format!("its account {} was removed", account.name),
        app.clock.now(),
    )?);
    for chunk in ops.chunks(crate::ports::table::MAX_TRANSACTION_OPS) {
        app.table.transact(chunk.to_vec()).await.map_err(|e| match e {
            TableError::ConditionFailed { .. } => AppError::conflict("CONFLICT", "the account or its posts changed meanwhile: try again"),
            other => other.into(),
        })?;
    }
    Ok(paused)
}
