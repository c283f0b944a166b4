//! How far the AI may act alone, per kind of action: `auto`, `approval` (the task waits for
//! an admin) or `off`. The executor applies it to the agent's tasks when they fall due, so a
//! policy changed after the agent planned something still decides whether it runs.

use super::TaskType;
use crate::app::App;
use crate::error::{AppError, AppResult};
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
    /// The most the scheduled agent may do by itself in a day (tasks created, follow-ups
    /// set) and spend on its own AI calls, in dollars; below the plan's (`Plan::agent_budget`).
    /// Unset: the plan's.
    #[serde(default)]
    pub agent_daily_actions: Option<u32>,
    #[serde(default)]
    pub agent_daily_usd: Option<f64>,
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
            agent_daily_actions: None,
            agent_daily_usd: None,
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
    /// At most the plan's (pro 20, enterprise 200); `null`: the plan's.
    #[serde(default, deserialize_with = "model::nullable")]
    #[schemars(with = "Option<u32>")]
    pub agent_daily_actions: Option<Option<u32>>,
    /// At most the plan's (pro 1, enterprise 10); `null`: the plan's.
    #[serde(default, deserialize_with = "model::nullable")]
    #[schemars(with = "Option<f64>")]
    pub agent_daily_usd: Option<Option<f64>>,
    /// The version read (0 before the first change).
    pub version: u64,
}

impl AutonomyPolicy {
    /// The scheduled agent's budget for a day: the org's, within its plan's.
    pub fn agent_budget(&self, plan: crate::usage::Plan) -> (i64, i64) {
        let (actions, micro_usd) = plan.agent_budget();
        let set_actions = self.agent_daily_actions.map_or(actions, i64::from);
        let set_micro = self.agent_daily_usd.map_or(micro_usd, |usd| (usd * 1_000_000.0).round() as i64);
        (set_actions.min(actions), set_micro.min(micro_usd))
    }
}

pub async fn update(
    app: &App,
    tenant: &TenantCtx,
    plan: crate::usage::Plan,
    mut policy: AutonomyPolicy,
    change: PolicyChange,
) -> AppResult<AutonomyPolicy> {
    if change.version != policy.version {
        return Err(model::stale_version("policy", policy.version));
    }
    let (most_actions, most_micro) = plan.agent_budget();
    if let Some(Some(actions)) = change.agent_daily_actions
        && i64::from(actions) > most_actions
    {
        return Err(AppError::validation(format!(
            "agentDailyActions is at most {most_actions} on the {} plan",
            plan.as_str()
        )));
    }
    if let Some(Some(usd)) = change.agent_daily_usd
        && !(usd.is_finite() && usd >= 0.0 && (usd * 1_000_000.0).round() as i64 <= most_micro)
    {
        // Whole dollars (the plans' limits are): no float formatting linked for one message.
        return Err(AppError::validation(format!(
            "agentDailyUsd is from 0 to {} on the {} plan",
            most_micro / 1_000_000,
            plan.as_str()
        )));
    }
    policy.post = change.post.unwrap_or(policy.post);
    policy.email = change.email.unwrap_or(policy.email);
    policy.follow_up = change.follow_up.unwrap_or(policy.follow_up);
    policy.agent_daily_actions = change.agent_daily_actions.unwrap_or(policy.agent_daily_actions);
    policy.agent_daily_usd = change.agent_daily_usd.unwrap_or(policy.agent_daily_usd);
    let now = app.clock.now();
    policy.updated_by = Some(tenant.user_id().to_string());
    policy.updated_at = Some(now);
    policy.version += 1;
    // The policy as stored (the kinds' autonomy, the budgets, who and when).
    let details = serde_json::to_value(&policy)?;
    let record = crate::audit::entry(tenant, now, "autonomy.changed", format!("org:{}", tenant.org_id()), details)?;
    model::put_versioned_with(
        &*app.table,
        &tenant.pk(),
        keys::AUTONOMY_SK,
        &policy,
        change.version,
        "policy",
        Some(record),
    )
    .await?;
    Ok(policy)
}
