//! How far the AI may act alone, per kind of action: `auto`, `approval` (the task waits for
//! an admin) or `off`. The executor applies it to the agent's tasks when they fall due, so a
//! policy changed after the agent planned something still decides whether it runs.

use super::TaskType;
use crate::app::App;
use crate::error::AppResult;
use crate::keys;
use crate::model::{self, from_item};
use crate::ports::table::Item;
use crate::tenancy::TenantCtx;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Autonomy {
    Auto,
    Approval,
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutonomyPolicy {
    pub post: Autonomy,
    pub email: Autonomy,
    pub follow_up: Autonomy,
    pub updated_by: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// 0 until first saved.
    pub version: u64,
}

impl Default for AutonomyPolicy {
    /// Follow-ups run by themselves; anything the public or a customer sees waits for a person.
    fn default() -> Self {
        AutonomyPolicy {
            post: Autonomy::Approval,
            email: Autonomy::Approval,
            follow_up: Autonomy::Auto,
            updated_by: None,
            updated_at: None,
            version: 0,
        }
    }
}

impl AutonomyPolicy {
    pub fn for_kind(&self, kind: TaskType) -> Autonomy {
        match kind {
            TaskType::SocialMediaPost => self.post,
            // A follow-up to a sponsor is an email to a customer.
            TaskType::EmailCampaign | TaskType::SponsorFollowup => self.email,
            // A client follow-up is a person's to-do, made under the follow-up policy.
            TaskType::LeadFollowup | TaskType::ClientFollowup => self.follow_up,
            // A person's to-do, never run: nothing for the AI to do alone.
            TaskType::ReconnectAccount | TaskType::InvoiceSponsor => Autonomy::Off,
        }
    }

    pub fn from_stored(item: Option<Item>) -> AppResult<Self> {
        item.map(from_item).transpose().map(Option::unwrap_or_default)
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyChange {
    pub post: Option<Autonomy>,
    pub email: Option<Autonomy>,
    pub follow_up: Option<Autonomy>,
    /// The version read (0 before the first change).
    pub version: u64,
}

pub async fn update(app: &App, tenant: &TenantCtx, mut policy: AutonomyPolicy, change: PolicyChange) -> AppResult<AutonomyPolicy> {
    if change.version != policy.version {
        return Err(model::stale_version("policy", policy.version));
    }
    policy.post = change.post.unwrap_or(policy.post);
    policy.email = change.email.unwrap_or(policy.email);
    policy.follow_up = change.follow_up.unwrap_or(policy.follow_up);
    policy.updated_by = Some(tenant.user_id().to_string());
    policy.updated_at = Some(app.clock.now());
    policy.version += 1;
    model::put_versioned(&*app.table, &tenant.pk(), keys::AUTONOMY_SK, &policy, change.version, "policy").await?;
    Ok(policy)
}
