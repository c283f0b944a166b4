//! Plans and monthly quotas (per organisation, per calendar month in UTC). Each metered
//! creation adds to an atomic counter bounded by the plan's limit, in the same transaction
//! as what it creates, so a request over quota changes nothing.

use crate::error::AppError;
use crate::keys;
use crate::orgs::access::TenantCtx;
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

/// Runs a transaction whose step `spend_op` spends quota: a failure of that step is 402.
pub fn quota_error(err: TableError, spend_op: usize, metric: Metric, plan: Plan) -> AppError {
    match err {
        TableError::ConditionFailed { op: Some(op) } if op == spend_op => AppError::QuotaExceeded(format!(
            "the {} plan allows {} {} a month: upgrade or wait for the next month",
            plan.as_str(),
            plan.limit(metric),
            metric.attr()
        )),
        other => other.into(),
    }
}

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
