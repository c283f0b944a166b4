//! Which mails a member of an org gets, kind by kind: each is on until they turn it off (here,
//! or with the one-click link each such mail carries). One item per member of the org,
//! `NOTIFY#<user>`, versioned.

use crate::app::App;
use crate::error::AppResult;
use crate::keys;
use crate::model::{self, from_item};
use crate::ports::table::Item;
use crate::tenancy::TenantCtx;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    /// The morning mail of the leads and deals to follow up today.
    pub follow_up_reminders: bool,
    /// The AI CEO's Monday summary (owners and admins).
    pub weekly_summary: bool,
    /// A quota passing 80% this month (owners).
    pub quota_warnings: bool,
    /// A trial about to end, a payment grace period about to lapse (owners).
    pub billing_notices: bool,
    /// 0 until first saved.
    pub version: u64,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            follow_up_reminders: true,
            weekly_summary: true,
            quota_warnings: true,
            billing_notices: true,
            version: 0,
        }
    }
}

impl Preferences {
    pub fn from_stored(item: Option<Item>) -> AppResult<Self> {
        item.map(from_item).transpose().map(Option::unwrap_or_default)
    }
}

/// A change: any of the kinds, and the version read.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Change {
    pub follow_up_reminders: Option<bool>,
    pub weekly_summary: Option<bool>,
    pub quota_warnings: Option<bool>,
    pub billing_notices: Option<bool>,
    pub version: u64,
}

/// The caller's own preferences in the org.
pub fn key_sk(tenant: &TenantCtx) -> String {
    keys::notify_sk(tenant.user_id())
}

pub async fn change(app: &App, tenant: &TenantCtx, mut preferences: Preferences, change: Change) -> AppResult<Preferences> {
    if change.version != preferences.version {
        return Err(model::stale_version("notification preferences", preferences.version));
    }
    let read = preferences.version;
    for (field, value) in [
        (&mut preferences.follow_up_reminders, change.follow_up_reminders),
        (&mut preferences.weekly_summary, change.weekly_summary),
        (&mut preferences.quota_warnings, change.quota_warnings),
        (&mut preferences.billing_notices, change.billing_notices),
    ] {
        if let Some(value) = value {
            *field = value;
        }
    }
    preferences.version += 1;
    model::put_versioned(
        &*app.table,
        &tenant.pk(),
        &key_sk(tenant),
        &preferences,
        read,
        "notification preferences",
    )
    .await?;
    Ok(preferences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_kind_is_on_until_turned_off_and_a_stale_version_changes_nothing() {
        let t = crate::testing::app();
        let tenant = crate::executor::tests::org(&t, crate::usage::Plan::Pro).await;
        let read = || async { Preferences::from_stored(t.app.table.get(&tenant.key(key_sk(&tenant))).await.unwrap()).unwrap() };
        assert_eq!(read().await, Preferences::default());
        let off = Change {
            follow_up_reminders: None,
            weekly_summary: Some(false),
            quota_warnings: None,
            billing_notices: None,
            version: 0,
        };
        let changed = change(&t.app, &tenant, read().await, off).await.unwrap();
        assert!(!changed.weekly_summary && changed.follow_up_reminders && changed.version == 1);
        assert_eq!(read().await, changed);
        let stale = Change {
            follow_up_reminders: Some(false),
            weekly_summary: None,
            quota_warnings: None,
            billing_notices: None,
            version: 0,
        };
        assert!(change(&t.app, &tenant, read().await, stale).await.is_err());
        assert!(read().await.follow_up_reminders);
    }
}
