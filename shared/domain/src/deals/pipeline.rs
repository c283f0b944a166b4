//! The pipeline view: for every stage, how many deals are in it now and what they are worth
//! per currency; and the win rate of the deals decided in a period (reached `contracted` or
//! `lost` in it): contracted-or-later over contracted-or-later plus lost.
//!
//! It reads the org's deals a page at a time (`bench deal-pipeline` measures the store calls),
//! and sums them here: one pass, no index to keep in step with every deal's write.

use super::{Deal, Stage, all_deals};
use crate::app::App;
use crate::error::AppResult;
use crate::tenancy::TenantCtx;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// The default period, in days back from today.
pub const DEFAULT_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyTotal {
    pub currency: String,
    /// In minor units.
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageSummary {
    pub stage: Stage,
    pub count: u64,
    /// Per currency, in minor units; currencies are never added together.
    pub values: Vec<CurrencyTotal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    #[schemars(with = "crate::clock::Date")]
    pub from: NaiveDate,
    #[schemars(with = "crate::clock::Date")]
    pub to: NaiveDate,
    /// Every stage in order, `lost` last, with the deals in it now.
    pub stages: Vec<StageSummary>,
    /// Deals that reached `contracted` in the period and are not lost.
    pub won: u64,
    /// Deals lost in the period.
    pub lost: u64,
    /// `won / (won + lost)`, 0..1; `null` when no deal was decided in the period.
    pub win_rate: Option<f64>,
}

/// The period a query asks for: dates `YYYY-MM-DD`, both inclusive; by default the last 90
/// days up to `today`.
pub fn period(from: Option<&str>, to: Option<&str>, today: NaiveDate) -> AppResult<(NaiveDate, NaiveDate)> {
    crate::model::day_period(from, to, today, DEFAULT_DAYS, 5 * 366, "the period is at most five years")
}

/// The view over `deals`: a pure sum.
pub fn summarise(deals: &[Deal], from: NaiveDate, to: NaiveDate) -> Pipeline {
    let mut by_stage: BTreeMap<Stage, (u64, BTreeMap<String, i64>)> = Stage::ALL.iter().map(|s| (*s, (0, BTreeMap::new()))).collect();
    let (mut won, mut lost) = (0u64, 0u64);
    let within = |at: Option<chrono::DateTime<chrono::Utc>>| at.is_some_and(|at| (from..=to).contains(&at.date_naive()));
    for deal in deals {
        let (count, values) = by_stage.entry(deal.stage).or_default();
        *count += 1;
        *values.entry(deal.currency.clone()).or_default() += deal.value;
        if deal.stage == Stage::Lost {
            lost += u64::from(within(deal.lost_at));
        } else if deal.stage.is_won() {
            won += u64::from(within(deal.won_at));
        }
    }
    let stages = by_stage
        .into_iter()
        .map(|(stage, (count, values))| StageSummary {
            stage,
            count,
            values: values
                .into_iter()
                .map(|(currency, total)| CurrencyTotal { currency, total })
                .collect(),
        })
        .collect();
    let decided = won + lost;
    Pipeline {
        from,
        to,
        stages,
        won,
        lost,
        win_rate: (decided > 0).then(|| won as f64 / decided as f64),
    }
}

/// The view of the org's deals now, over the period `from..=to`.
pub async fn view(app: &App, tenant: &TenantCtx, from: NaiveDate, to: NaiveDate) -> AppResult<Pipeline> {
    Ok(summarise(&all_deals(app, tenant).await?, from, to))
}
