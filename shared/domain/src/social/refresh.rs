//! `job-token-refresh` (every 6 hours): every connected account whose token ends within 7
//! days is refreshed where its platform allows it (X, and LinkedIn with a refresh token); a
//! refresh refused for its authorisation marks the account `needs_reauth` (its posts pause,
//! its admins are told once); an account that cannot be refreshed (LinkedIn without a
//! refresh token, a Facebook user's grant) shows `expiring` for its last 7 days.
//!
//! Idempotent under repeated or overlapping runs: a refresh is written over the tokens'
//! version (a second run's loses and takes the first's, see `credentials::refresh`), and an
//! account refreshed is then more than 7 days from its end, so a rerun leaves it alone.

use crate::app::App;
use crate::content::accounts::{self, AccountHealth, SocialAccount};
use crate::content::credentials::{self, Vault};
use crate::error::AppResult;
use crate::ports::social::SocialError;
use crate::ports::table::Condition;
use crate::tenancy::TenantCtx;
use chrono::Duration;
use serde::Serialize;

/// How far ahead of its end an authorisation is renewed, or shown as `expiring`.
pub const AHEAD_DAYS: i64 = 7;

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshReport {
    pub orgs: usize,
    pub accounts: usize,
    pub refreshed: usize,
    pub expiring: usize,
    pub needs_reauth: usize,
    /// Refreshes the platform did not answer: tried again next run.
    pub failed: usize,
}

pub async fn run(app: &App) -> AppResult<RefreshReport> {
    let mut report = RefreshReport::default();
    for org in crate::orgs::all_orgs(app).await? {
        report.orgs += 1;
        let tenant = TenantCtx::background(&org.id);
        for account in accounts::list(app, &tenant).await? {
            if account.is_sandbox() || account.health == AccountHealth::NeedsReauth {
                continue;
            }
            report.accounts += 1;
            check(app, &tenant, account, &mut report).await?;
        }
    }
    Ok(report)
}

async fn check(app: &App, tenant: &TenantCtx, account: SocialAccount, report: &mut RefreshReport) -> AppResult<()> {
    let Some(item) = credentials::read(app, tenant, &account.id).await? else {
        return Ok(());
    };
    let horizon = app.clock.now() + Duration::days(AHEAD_DAYS);
    let credentials::Ends {
        access: expires_at,
        authorisation: refresh_expires_at,
        refreshable,
    } = credentials::ends_at(&item)?;
    let soon = |end: Option<chrono::DateTime<chrono::Utc>>| end.is_some_and(|end| end <= horizon);
    if refreshable && soon(expires_at) {
        let vault = Vault::open(app).await?;
        let held = credentials::held_from(&vault, tenant, &account.id, item)?;
        match credentials::refresh(app, &vault, tenant, &account, held).await? {
            Ok(_) => report.refreshed += 1,
            Err(SocialError::AuthRevoked(why)) => {
                report.needs_reauth += 1;
                accounts::needs_reauth(app, tenant, account, format!("the platform refused to refresh its token: {why}")).await?;
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(account = %account.id, platform = %account.platform, error = %e, "a token was not refreshed");
                report.failed += 1;
            }
        }
        return Ok(());
    }
    let ending = if refreshable {
        soon(refresh_expires_at)
    } else {
        soon(refresh_expires_at.or(expires_at))
    };
    if ending {
        report.expiring += 1;
        set_health(app, tenant, account, AccountHealth::Expiring).await?;
    }
    Ok(())
}

async fn set_health(app: &App, tenant: &TenantCtx, mut account: SocialAccount, health: AccountHealth) -> AppResult<()> {
    if account.health == health {
        return Ok(());
    }
    let read = account.version;
    account.health = health;
    account.version += 1;
    account.updated_at = app.clock.now();
    match app.table.put(account.to_item(tenant)?, Some(Condition::VersionEquals(read))).await {
        Ok(()) | Err(crate::ports::table::TableError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
