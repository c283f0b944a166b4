//! Plans and monthly quotas (per organisation, per calendar month in UTC). Each metered
//! creation adds to an atomic counter bounded by the plan's limit, in the same transaction
//! as what it creates, so a request over quota changes nothing.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::orgs::access::TenantCtx;
use crate::ports::ai::{Completion, Prompt};
use crate::ports::table::{Counter, Key, TableError, TxOp};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn limit(self, metric: Metric) -> i64 {
        let [tasks, posts, emails, ai_calls] = match self {
            Plan::Free => [10, 5, 3, 50],
            Plan::Pro => [100, 50, 25, 1_000],
            Plan::Enterprise => [1_000, 500, 250, 10_000],
        };
        match metric {
            Metric::Tasks => tasks,
            Metric::Posts => posts,
            Metric::Emails => emails,
            Metric::AiCalls => ai_calls,
        }
    }

    /// Whether the hourly agent looks at the org by itself (free orgs analyse by hand).
    pub fn hourly_agent(self) -> bool {
        self != Plan::Free
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Tasks,
    Posts,
    Emails,
    AiCalls,
}

impl Metric {
    pub const ALL: [Metric; 4] = [Metric::Tasks, Metric::Posts, Metric::Emails, Metric::AiCalls];

    pub fn attr(self) -> &'static str {
        match self {
            Metric::Tasks => "tasks",
            Metric::Posts => "posts",
            Metric::Emails => "emails",
            Metric::AiCalls => "aiCalls",
        }
    }
}

pub fn month(at: DateTime<Utc>) -> String {
    at.format("%Y-%m").to_string()
}

/// The first instant of the next calendar month, when counters start again from zero.
pub fn resets_at(at: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(at)
}

pub fn usage_key(tenant: &TenantCtx, at: DateTime<Utc>) -> Key {
    Key::new(keys::org_pk(tenant.org_id()), keys::usage_sk(&month(at)))
}

/// The transaction step that spends `amount` of a metric, refused past the plan's limit.
pub fn spend(tenant: &TenantCtx, plan: Plan, metric: Metric, amount: i64, at: DateTime<Utc>) -> TxOp {
    TxOp::Add {
        key: usage_key(tenant, at),
        counter: Counter::new(metric.attr(), amount).at_most(plan.limit(metric)),
    }
}

/// The 402 for a metric at its plan's limit.
pub fn over_quota(metric: Metric, plan: Plan) -> AppError {
    AppError::QuotaExceeded(format!(
        "the {} plan allows {} {} a month: upgrade or wait for the next month",
        plan.as_str(),
        plan.limit(metric),
        metric.attr()
    ))
}

/// The error of a write whose step `spend_op` spent quota: that step failing is 402.
/// `spend_op` is the step's index in a transaction, `None` for a lone counter change.
pub fn quota_error(err: TableError, spend_op: Option<usize>, metric: Metric, plan: Plan) -> AppError {
    match err {
        TableError::ConditionFailed { op } if op == spend_op => over_quota(metric, plan),
        other => other.into(),
    }
}

/// Spends one AI call of the plan's quota (402 past it), calls the model, and records the
/// call's tokens: a ledger item per call and a monthly total. A failed call is given back.
pub async fn ai_call(app: &App, tenant: &TenantCtx, plan: Plan, prompt: Prompt, purpose: &str) -> AppResult<Completion> {
    let now = app.clock.now();
    let key = usage_key(tenant, now);
    let calls = Metric::AiCalls.attr();
    app.table
        .add(&key, Counter::new(calls, 1).at_most(plan.limit(Metric::AiCalls)))
        .await
        .map_err(|e| quota_error(e, None, Metric::AiCalls, plan))?;
    let completion = match app.ai.complete(prompt).await {
        Ok(completion) => completion,
        Err(e) => {
            if let Err(refund) = app.table.add(&key, Counter::new(calls, -1).at_least(0)).await {
                tracing::warn!(error = %refund, "could not give back a failed AI call");
            }
            return Err(e.into());
        }
    };
    let id = crate::model::new_id();
    let ledger = serde_json::json!({
        "id": id,
        "purpose": purpose,
        "provider": completion.provider,
        "model": completion.model,
        "promptTokens": completion.prompt_tokens,
        "completionTokens": completion.completion_tokens,
        "at": crate::clock::timestamp(now),
        "ttl": (now + chrono::Duration::days(AI_LEDGER_DAYS)).timestamp(),
    });
    let tokens = i64::from(completion.prompt_tokens) + i64::from(completion.completion_tokens);
    app.table
        .transact(vec![
            TxOp::Put {
                item: crate::model::to_item(&tenant.pk(), &keys::ai_call_sk(&id), &ledger)?,
                condition: None,
            },
            TxOp::Add {
                key,
                counter: Counter::new(AI_TOKENS, tokens),
            },
        ])
        .await?;
    Ok(completion)
}

/// How long the per-call token ledger is kept.
pub const AI_LEDGER_DAYS: i64 = 90;
/// The month's total of AI tokens (prompt and completion), beside the quota counters.
pub const AI_TOKENS: &str = "aiTokens";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricUsage {
    pub used: i64,
    pub limit: i64,
    pub remaining: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub plan: Plan,
    pub month: String,
    pub resets_at: String,
    pub tasks: MetricUsage,
    pub posts: MetricUsage,
    pub emails: MetricUsage,
    pub ai_calls: MetricUsage,
    pub ai_tokens: i64,
}

pub fn report(plan: Plan, usage: Option<&crate::ports::table::Item>, at: DateTime<Utc>) -> UsageReport {
    let of = |metric: Metric| {
        let used = usage.and_then(|u| u.get(metric.attr())).and_then(|v| v.as_i64()).unwrap_or(0);
        let limit = plan.limit(metric);
        MetricUsage {
            used,
            limit,
            remaining: (limit - used).max(0),
        }
    };
    UsageReport {
        plan,
        month: month(at),
        resets_at: crate::clock::timestamp(resets_at(at)),
        tasks: of(Metric::Tasks),
        posts: of(Metric::Posts),
        emails: of(Metric::Emails),
        ai_calls: of(Metric::AiCalls),
        ai_tokens: usage.and_then(|u| u.get(AI_TOKENS)).and_then(|v| v.as_i64()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_carry_the_design_limits() {
        assert_eq!(
            [
                Plan::Free.limit(Metric::Tasks),
                Plan::Free.limit(Metric::Posts),
                Plan::Free.limit(Metric::Emails)
            ],
            [10, 5, 3]
        );
        assert_eq!(Plan::Pro.limit(Metric::AiCalls), 1_000);
        assert_eq!(Plan::Enterprise.limit(Metric::Emails), 250);
        assert!(!Plan::Free.hourly_agent() && Plan::Pro.hourly_agent());
    }

    #[test]
    fn months_are_utc_calendar_months() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(month(at), "2026-12");
        assert_eq!(resets_at(at), Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    }
}
