//! The scheduled agent's daily budget: how many actions it takes by itself (tasks created,
//! follow-ups set) and how much its own AI calls cost, per local day of the org (pro: 20 and
//! $1; enterprise: 200 and $10; an org may set less). Past either, it still records what it
//! finds, with the outcome `over_budget`, and acts again the next day.
//!
//! One counter item a day (`AGENTDAY#<date>`): an action is reserved against both limits in
//! one conditional write before it is taken, and given back when nothing was created, so
//! concurrent analyses (a duplicated job) cannot pass the limit together and a re-run costs
//! nothing. An AI call's cost is known after it: the last call may pass the dollar limit by
//! its own cost, and nothing is asked of the model after that.

use super::OrgContext;
use crate::app::App;
use crate::keys;
use crate::ports::table::{Counter, Key, TableError, TxOp};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};

const ACTIONS: &str = "actions";
const MICRO_USD: &str = "aiMicroUsd";

pub struct Budget {
    key: Key,
    actions: i64,
    micro_usd: i64,
    /// When the day's item expires (two days after the day, for anyone reading it late).
    expires_at: i64,
}

impl Budget {
    pub fn of(tenant: &TenantCtx, org: &OrgContext, now: DateTime<Utc>) -> Budget {
        let (actions, micro_usd) = org.policy.agent_budget(org.plan);
        let day = crate::clock::local_date(&org.org.time_zone, now);
        Budget {
            key: tenant.key(keys::agent_day_sk(&day.to_string())),
            actions,
            micro_usd,
            expires_at: (now + chrono::Duration::days(3)).timestamp(),
        }
    }

    /// Takes one action of the day's budget, if both limits allow one more.
    pub async fn reserve(&self, app: &App) -> crate::error::AppResult<bool> {
        let counters = vec![
            Counter::new(ACTIONS, 1).at_most(self.actions).expiring(self.expires_at),
            // Adds nothing; holds only while the day's spend is under the limit.
            Counter::new(MICRO_USD, 0).at_most(self.micro_usd - 1),
        ];
        match app
            .table
            .transact(vec![TxOp::AddAll {
                key: self.key.clone(),
                counters,
            }])
            .await
        {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives back a reserved action that created nothing.
    pub async fn give_back(&self, app: &App) {
        if let Err(e) = app.table.add(&self.key, Counter::new(ACTIONS, -1).at_least(0)).await {
            tracing::warn!(error = %e, "an unused agent action could not be given back");
        }
    }

    /// Adds what one of the agent's AI calls cost.
    pub async fn spent(&self, app: &App, micro_usd: i64) {
        let counter = Counter::new(MICRO_USD, micro_usd).expiring(self.expires_at);
        if let Err(e) = app.table.add(&self.key, counter).await {
            tracing::warn!(error = %e, micro_usd, "the agent's AI spend could not be counted");
        }
    }
}
