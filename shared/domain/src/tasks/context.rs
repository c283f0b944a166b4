//! What every AI action for an org starts from (the chat's replies, the runs of tasks, the
//! agent's analyses), read in one store call.

use super::autonomy::AutonomyPolicy;
use crate::ai_config::AiConfig;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::from_item;
use crate::ports::ai::{AiUse, Completion, Prompt};
use crate::ports::table::Item;
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};

/// What every AI action for an org starts from: the org, its plan now, its AI config, its
/// autonomy policy and this month's usage, read together in one store call.
pub struct OrgContext {
    pub org: crate::orgs::Org,
    pub plan: crate::usage::Plan,
    pub config: AiConfig,
    pub profile: crate::profile::BusinessProfile,
    pub policy: AutonomyPolicy,
    pub usage: Option<Item>,
}

impl OrgContext {
    /// The org-partition sort keys to read, in the order `from_items` takes them.
    pub fn sort_keys(now: DateTime<Utc>) -> [String; 5] {
        [
            keys::ORG_SK.into(),
            keys::AI_CONFIG_SK.into(),
            keys::AUTONOMY_SK.into(),
            keys::usage_sk(&crate::usage::month(now)),
            keys::BUSINESS_PROFILE_SK.into(),
        ]
    }

    pub fn from_items(items: impl IntoIterator<Item = Option<Item>>, now: DateTime<Utc>) -> AppResult<Self> {
        let mut items = items.into_iter();
        let [org, config, policy, usage, profile] = std::array::from_fn(|_| items.next().flatten());
        let org: crate::orgs::Org = from_item(org.ok_or(AppError::NotFound("organisation"))?)?;
        let profile = crate::profile::BusinessProfile::from_stored(profile, &org, config.as_ref())?;
        Ok(OrgContext {
            plan: org.plan_at(now),
            config: AiConfig::from_stored(config.as_ref(), &profile)?,
            profile,
            org,
            policy: AutonomyPolicy::from_stored(policy)?,
            usage,
        })
    }

    pub fn used(&self, metric: crate::usage::Metric) -> i64 {
        crate::usage::used(self.usage.as_ref(), metric)
    }

    pub fn system_prompt(&self) -> String {
        self.config.system_prompt(&self.org.name)
    }

    /// The member's tenant and the org's context, with the item `also` names, read with the
    /// membership in one store call.
    pub async fn authorized(
        app: &App,
        principal: &crate::auth::Principal,
        org_id: &str,
        role: crate::tenancy::Role,
        also: String,
    ) -> AppResult<(TenantCtx, OrgContext, Option<Item>)> {
        let now = app.clock.now();
        let (tenant, items, extra) =
            crate::tenancy::authorize_reading(app, principal, org_id, role, OrgContext::sort_keys(now), Some(also)).await?;
        Ok((tenant, OrgContext::from_items(items, now)?, extra))
    }

    /// One AI call for this org, from its system prompt (see `usage::ai_call`).
    pub async fn ask(&self, app: &App, tenant: &TenantCtx, purpose: AiUse, ask: String, label: &str) -> AppResult<Completion> {
        crate::usage::ai_call(app, tenant, self.plan, Prompt::new(purpose, self.system_prompt(), ask), label).await
    }
}
