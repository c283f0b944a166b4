//! Plans and monthly quotas (per organisation, per calendar month in UTC). Each metered
//! creation adds to an atomic counter bounded by the plan's limit, in the same transaction
//! as what it creates, so a request over quota changes nothing.

pub mod spend;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::ports::ai::{Completion, Prompt};
use crate::ports::table::{Counter, Key, TableError, TxOp};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
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

    /// How many clients (not churned) the org may have at once: a bound on a count, not a
    /// monthly quota.
    pub fn active_clients(self) -> i64 {
        match self {
            Plan::Free => 25,
            Plan::Pro => 500,
            Plan::Enterprise => 5_000,
        }
    }

    /// What the scheduled agent may do by itself in a day: actions, and millionths of a
    /// dollar of its own AI calls (free: the agent is off).
    pub fn agent_budget(self) -> (i64, i64) {
        match self {
            Plan::Free => (0, 0),
            Plan::Pro => (20, 1_000_000),
            Plan::Enterprise => (200, 10_000_000),
        }
    }

    /// Whether the hourly agent looks at the org by itself (free orgs analyse by hand).
    pub fn hourly_agent(self) -> bool {
        self != Plan::Free
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
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

/// How much of a metric this month's usage item records.
pub fn used(usage: Option<&crate::ports::table::Item>, metric: Metric) -> i64 {
    usage.and_then(|u| u.get(metric.attr())).and_then(|v| v.as_i64()).unwrap_or(0)
}

/// What a task spends of the sending quotas when it runs: checked against what is left when
/// the task is created, reserved when it is claimed, trued up to what was sent when it ends.
/// `tasks` is the agent's proposal, metered when it runs rather than when proposed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Need {
    pub tasks: i64,
    pub posts: i64,
    pub emails: i64,
}

impl Need {
    pub const METRICS: [Metric; 3] = [Metric::Tasks, Metric::Posts, Metric::Emails];

    pub fn of(&self, metric: Metric) -> i64 {
        match metric {
            Metric::Tasks => self.tasks,
            Metric::Posts => self.posts,
            Metric::Emails => self.emails,
            Metric::AiCalls => 0,
        }
    }

    pub fn set(&mut self, metric: Metric, amount: i64) {
        match metric {
            Metric::Tasks => self.tasks = amount,
            Metric::Posts => self.posts = amount,
            Metric::Emails => self.emails = amount,
            Metric::AiCalls => {}
        }
    }

    pub fn is_zero(&self) -> bool {
        Need::METRICS.iter().all(|m| self.of(*m) == 0)
    }

    /// The metrics with something in them, and how much.
    pub fn parts(&self) -> impl Iterator<Item = (Metric, i64)> + '_ {
        Need::METRICS.into_iter().map(|m| (m, self.of(m))).filter(|(_, n)| *n != 0)
    }

    /// What this holds beyond `other`, metric by metric (never below zero).
    pub fn beyond(&self, other: &Need) -> Need {
        let mut rest = Need::default();
        for m in Need::METRICS {
            rest.set(m, (self.of(m) - other.of(m)).max(0));
        }
        rest
    }

    /// The first metric whose need is more than is left, with the need and what is left.
    pub fn shortfall(&self, plan: Plan, usage: Option<&crate::ports::table::Item>) -> Option<(Metric, i64, i64)> {
        self.parts().find_map(|(metric, need)| {
            let left = (plan.limit(metric) - used(usage, metric)).max(0);
            (need > left).then_some((metric, need, left))
        })
    }
}

/// The 402 for a task whose need is more than is left this month.
pub fn need_exceeds(metric: Metric, need: i64, left: i64, plan: Plan) -> AppError {
    AppError::QuotaExceeded(format!(
        "this task needs {need} {} and {left} are left this month on the {} plan (limit {}): upgrade or wait for the next month",
        metric.attr(),
        plan.as_str(),
        plan.limit(metric)
    ))
}

/// The transaction step that reserves `need` at once, refused when any part of it would
/// pass the plan's limit; `None` when nothing is needed.
pub fn reserve(tenant: &TenantCtx, plan: Plan, need: &Need, at: DateTime<Utc>) -> Option<TxOp> {
    let counters: Vec<Counter> = need
        .parts()
        .map(|(metric, amount)| Counter::new(metric.attr(), amount).at_most(plan.limit(metric)))
        .collect();
    (!counters.is_empty()).then(|| TxOp::AddAll {
        key: usage_key(tenant, at),
        counters,
    })
}

/// The transaction step that gives back `unused` of a reservation to the month it was
/// reserved in (`month`, as `YYYY-MM`). Unbounded: what is given back was added before, and
/// a bound failing here would fail the task's last write.
pub fn release(tenant: &TenantCtx, unused: &Need, month: &str) -> Option<TxOp> {
    adjust(tenant, unused, -1, month)
}

/// The transaction step that counts what a task sent without a reservation (one claimed
/// before reservations existed): the effect is out, so it is counted even past the limit.
pub fn count_unreserved(tenant: &TenantCtx, sent: &Need, month: &str) -> Option<TxOp> {
    adjust(tenant, sent, 1, month)
}

fn adjust(tenant: &TenantCtx, by: &Need, sign: i64, month: &str) -> Option<TxOp> {
    let counters: Vec<Counter> = by
        .parts()
        .map(|(metric, amount)| Counter::new(metric.attr(), sign * amount))
        .collect();
    (!counters.is_empty()).then(|| TxOp::AddAll {
        key: Key::new(keys::org_pk(tenant.org_id()), keys::usage_sk(month)),
        counters,
    })
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
    let key = spend_ai_call(app, tenant, plan).await?;
    match complete_recorded(app, tenant, prompt, purpose).await {
        Ok(completion) => Ok(completion),
        Err(e) => {
            refund_ai_call(app, &key).await;
            Err(e)
        }
    }
}

/// One AI call of the quota, for an answer that must parse as `T` (a structured prompt): a
/// malformed answer is asked again once, told what was wrong, within the same call of the
/// quota; a second malformed answer is 502 `AI_BAD_OUTPUT`. Both answers' tokens are recorded.
pub async fn structured_call<T>(
    app: &App,
    tenant: &TenantCtx,
    plan: Plan,
    mut prompt: Prompt,
    purpose: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> AppResult<(T, Completion)> {
    let key = spend_ai_call(app, tenant, plan).await?;
    let mut why = String::new();
    for attempt in 0..2 {
        let completion = match complete_recorded(app, tenant, prompt.clone(), purpose).await {
            Ok(completion) => completion,
            Err(e) => {
                if attempt == 0 {
                    refund_ai_call(app, &key).await;
                }
                return Err(e);
            }
        };
        match parse(&completion.text) {
            Ok(value) => return Ok((value, completion)),
            Err(problem) => {
                tracing::info!(problem = %problem, attempt, "the AI answered outside the schema");
                why = problem;
                prompt.messages.push((crate::ports::ai::Speaker::Assistant, completion.text));
                prompt.messages.push((
                    crate::ports::ai::Speaker::User,
                    format!(
                        "That answer does not follow the schema ({why}). Answer again with one JSON value of the schema and nothing else."
                    ),
                ));
            }
        }
    }
    Err(AppError::Upstream {
        code: "AI_BAD_OUTPUT",
        what: "the AI answered twice in a shape other than the one asked for; nothing was stored: try again",
        cause: why.into(),
    })
}

async fn spend_ai_call(app: &App, tenant: &TenantCtx, plan: Plan) -> AppResult<Key> {
    let key = usage_key(tenant, app.clock.now());
    app.table
        .add(&key, Counter::new(Metric::AiCalls.attr(), 1).at_most(plan.limit(Metric::AiCalls)))
        .await
        .map_err(|e| quota_error(e, None, Metric::AiCalls, plan))?;
    Ok(key)
}

async fn refund_ai_call(app: &App, key: &Key) {
    if let Err(refund) = app.table.add(key, Counter::new(Metric::AiCalls.attr(), -1).at_least(0)).await {
        tracing::warn!(error = %refund, "could not give back a failed AI call");
    }
}

/// Calls the model and records the call: a ledger item (its use, who it was for, its tokens
/// and what they cost) and the month's totals. The ledger's ids sort by the app's clock, so a
/// period of it is one range of keys.
async fn complete_recorded(app: &App, tenant: &TenantCtx, prompt: Prompt, purpose: &str) -> AppResult<Completion> {
    let now = app.clock.now();
    let completion = app.ai.complete(prompt).await?;
    let id = ulid::Ulid::from_parts(now.timestamp_millis().max(0) as u64, rand::random()).to_string();
    let cost = app
        .settings
        .ai_prices
        .cost_micro_usd(&completion.model, completion.prompt_tokens, completion.completion_tokens);
    let call = spend::AiCall {
        id,
        use_: purpose.to_string(),
        actor: tenant.user_id().to_string(),
        provider: completion.provider.clone(),
        model: completion.model.clone(),
        prompt_tokens: completion.prompt_tokens,
        completion_tokens: completion.completion_tokens,
        cost_micro_usd: cost,
        at: now,
    };
    let mut ledger = crate::model::to_item(&tenant.pk(), &keys::ai_call_sk(&call.id), &call)?;
    ledger.insert("ttl".into(), (now + chrono::Duration::days(AI_LEDGER_DAYS)).timestamp().into());
    let tokens = i64::from(completion.prompt_tokens) + i64::from(completion.completion_tokens);
    let recorded = app
        .table
        .transact(vec![
            TxOp::Put {
                item: ledger,
                condition: None,
            },
            TxOp::AddAll {
                key: usage_key(tenant, now),
                counters: vec![Counter::new(AI_TOKENS, tokens), Counter::new(AI_MICRO_USD, cost.unwrap_or(0))],
            },
        ])
        .await;
    // The call is made and counted: its answer is worth more than its token record.
    if let Err(e) = recorded {
        tracing::warn!(error = %e, tokens, "an AI call's tokens were not recorded");
    }
    Ok(completion)
}

/// How long the per-call token ledger is kept.
pub const AI_LEDGER_DAYS: i64 = 90;
/// The month's total of AI tokens (prompt and completion), beside the quota counters.
pub const AI_TOKENS: &str = "aiTokens";
/// The month's AI spend in millionths of a dollar (calls of a model without a price add 0).
pub const AI_MICRO_USD: &str = "aiMicroUsd";

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricUsage {
    pub used: i64,
    pub limit: i64,
    pub remaining: i64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub plan: Plan,
    pub month: String,
    #[serde(serialize_with = "crate::clock::rfc3339::serialize")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub resets_at: chrono::DateTime<chrono::Utc>,
    pub tasks: MetricUsage,
    pub posts: MetricUsage,
    pub emails: MetricUsage,
    pub ai_calls: MetricUsage,
    pub ai_tokens: i64,
    /// This month's AI spend in dollars, at `ports::ai_pricing`'s prices.
    pub ai_spend_usd: f64,
}

pub fn report(plan: Plan, usage: Option<&crate::ports::table::Item>, at: DateTime<Utc>) -> UsageReport {
    let of = |metric: Metric| {
        let used = used(usage, metric);
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
        resets_at: resets_at(at),
        tasks: of(Metric::Tasks),
        posts: of(Metric::Posts),
        emails: of(Metric::Emails),
        ai_calls: of(Metric::AiCalls),
        ai_tokens: usage.and_then(|u| u.get(AI_TOKENS)).and_then(|v| v.as_i64()).unwrap_or(0),
        ai_spend_usd: spend::usd(usage.and_then(|u| u.get(AI_MICRO_USD)).and_then(|v| v.as_i64()).unwrap_or(0)),
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
