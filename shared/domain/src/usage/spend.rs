//! AI spend: each call's ledger entry (kept `AI_LEDGER_DAYS`), and its totals over a period
//! by day (in the org's time zone), by model, by use and by who it was for.

use crate::app::App;
use crate::error::AppResult;
use crate::keys;
use crate::model::from_item;
use crate::ports::ai_pricing::PRICES_READ_ON;
use crate::ports::table::{Query, query_all};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One AI call as the ledger keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiCall {
    pub id: String,
    /// What it was for: `chat`, `strategy`, `posts`, `repurpose`, `agent_summary`, a task's kind…
    #[serde(rename = "use", alias = "purpose")]
    pub use_: String,
    /// The member it was made for, or `agent` for background work.
    #[serde(default)]
    pub actor: String,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// `None`: the model has no price (see `CHIEF_AI_PRICES`).
    #[serde(default)]
    pub cost_micro_usd: Option<i64>,
    #[serde(with = "crate::clock::rfc3339")]
    pub at: DateTime<Utc>,
}

/// Millionths of a dollar as dollars.
pub fn usd(micro: i64) -> f64 {
    micro as f64 / 1_000_000.0
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub tokens: u64,
    /// Dollars, at the prices in effect when each call was made.
    pub usd: f64,
    /// The same in millionths of a dollar, exact.
    pub micro_usd: i64,
    /// Calls of a model without a price: their tokens count, their cost is unknown.
    pub unpriced_calls: u64,
}

impl Totals {
    fn add(&mut self, call: &AiCall) {
        self.calls += 1;
        self.prompt_tokens += u64::from(call.prompt_tokens);
        self.completion_tokens += u64::from(call.completion_tokens);
        self.tokens = self.prompt_tokens + self.completion_tokens;
        match call.cost_micro_usd {
            Some(cost) => self.micro_usd += cost,
            None => self.unpriced_calls += 1,
        }
        self.usd = usd(self.micro_usd);
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The day (`YYYY-MM-DD`), model, use or actor.
    pub key: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AiUsage {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub total: Totals,
    pub by_day: Vec<Group>,
    pub by_model: Vec<Group>,
    pub by_use: Vec<Group>,
    pub by_actor: Vec<Group>,
    /// When the default prices were read (configuration may override them).
    pub prices_read_on: &'static str,
}

/// The default period: the last 30 days, today included.
const DEFAULT_DAYS: i64 = 29;

/// `from` and `to` as days (`YYYY-MM-DD`, inclusive) in the org's time zone, within the
/// ledger's 90 days.
pub fn period(from: Option<&str>, to: Option<&str>, today: NaiveDate) -> AppResult<(NaiveDate, NaiveDate)> {
    let too_long = "the period is at most 90 days: the ledger keeps each call that long";
    crate::model::day_period(from, to, today, DEFAULT_DAYS, super::AI_LEDGER_DAYS - 1, too_long)
}

/// The first instant of a local day in `tz`, in UTC.
fn day_start(day: NaiveDate, tz: &jiff::tz::TimeZone) -> DateTime<Utc> {
    let civil = jiff::civil::date(day.year_ce().1 as i16, day.month() as i8, day.day() as i8);
    civil
        .to_zoned_datetime(tz.clone())
        .ok()
        .and_then(|z| DateTime::from_timestamp(z.timestamp().as_second(), 0))
        .unwrap_or_else(|| day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// The calls of the org from the first instant of `from` to the end of `to`, local days.
pub async fn calls(app: &App, tenant: &TenantCtx, from: NaiveDate, to: NaiveDate, tz: &jiff::tz::TimeZone) -> AppResult<Vec<AiCall>> {
    let start = day_start(from, tz);
    let end = day_start(to + chrono::Duration::days(1), tz);
    let bound = |at: DateTime<Utc>, random: u128| ulid::Ulid::from_parts(at.timestamp_millis().max(0) as u64, random).to_string();
    let query = Query::partition(tenant.pk())
        .between(
            keys::ai_call_sk(&bound(start, 0)),
            keys::ai_call_sk(&bound(end - chrono::Duration::milliseconds(1), u128::MAX)),
        )
        .limit(1_000);
    query_all(&*app.table, query).await?.into_iter().map(from_item).collect()
}

/// The totals of `calls` over local days `from`..=`to`.
pub fn summarise(calls: &[AiCall], from: NaiveDate, to: NaiveDate, time_zone: &str) -> AiUsage {
    let mut total = Totals::default();
    let mut groups: [BTreeMap<String, Totals>; 4] = Default::default();
    for call in calls {
        let day = crate::clock::local_date(time_zone, call.at).to_string();
        total.add(call);
        for (group, key) in groups
            .iter_mut()
            .zip([day, call.model.clone(), call.use_.clone(), call.actor.clone()])
        {
            group.entry(key).or_default().add(call);
        }
    }
    let [by_day, by_model, by_use, by_actor] = groups.map(|g| g.into_iter().map(|(key, totals)| Group { key, totals }).collect());
    AiUsage {
        from: from.to_string(),
        to: to.to_string(),
        time_zone: time_zone.to_string(),
        total,
        by_day,
        by_model,
        by_use,
        by_actor,
        prices_read_on: PRICES_READ_ON,
    }
}

/// The org's AI spend over local days `from`..=`to` (by default the last 30).
pub async fn report(app: &App, tenant: &TenantCtx, time_zone: &str, from: Option<&str>, to: Option<&str>) -> AppResult<AiUsage> {
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let today = crate::clock::local_date(time_zone, app.clock.now());
    let (from, to) = period(from, to, today)?;
    let calls = calls(app, tenant, from, to, &tz).await?;
    Ok(summarise(&calls, from, to, time_zone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ai::{AiUse, Prompt};
    use crate::ports::ai_pricing::Prices;
    use crate::testing;
    use crate::usage::Plan;

    #[tokio::test]
    async fn the_totals_by_day_model_use_and_actor_add_up_to_the_ledger() {
        let mut t = testing::app();
        t.app.settings.ai_prices = Prices::with_overrides(r#"{"test": {"input": 1.5, "output": 6}}"#).unwrap();
        let tenant = crate::executor::tests::org(&t, Plan::Pro).await;
        let mut expected = Totals::default();
        for (use_, days_later) in [("chat", 0), ("chat", 0), ("posts", 1)] {
            t.clock.advance(chrono::Duration::days(days_later));
            let prompt = Prompt::new(AiUse::Routine, "system", format!("ask for {use_}"));
            let done = crate::usage::ai_call(&t.app, &tenant, Plan::Pro, prompt, use_).await.unwrap();
            expected.add(&AiCall {
                id: String::new(),
                use_: use_.into(),
                actor: "agent".into(),
                provider: done.provider.clone(),
                model: done.model.clone(),
                prompt_tokens: done.prompt_tokens,
                completion_tokens: done.completion_tokens,
                cost_micro_usd: Some((1.5 * f64::from(done.prompt_tokens) + 6.0 * f64::from(done.completion_tokens)).round() as i64),
                at: t.app.clock.now(),
            });
        }
        let usage = report(&t.app, &tenant, "UTC", None, None).await.unwrap();
        assert_eq!(usage.total, expected);
        assert!(usage.total.micro_usd > 0 && usage.total.unpriced_calls == 0);
        let keys = |groups: &[Group]| groups.iter().map(|g| (g.key.clone(), g.totals.calls)).collect::<Vec<_>>();
        assert_eq!(keys(&usage.by_day), [("2026-11-22".into(), 2), ("2026-11-23".into(), 1)]);
        assert_eq!(keys(&usage.by_use), [("chat".into(), 2), ("posts".into(), 1)]);
        assert_eq!(keys(&usage.by_model), [("test".into(), 3)]);
        assert_eq!(keys(&usage.by_actor), [("agent".into(), 3)]);
        let sum: i64 = usage.by_day.iter().map(|g| g.totals.micro_usd).sum();
        assert_eq!(sum, usage.total.micro_usd);
        // The month's counter holds the same spend.
        let month = t.app.table.get(&crate::usage::usage_key(&tenant, t.app.clock.now())).await.unwrap();
        let report = crate::usage::report(Plan::Pro, month.as_ref(), t.app.clock.now());
        assert_eq!(report.ai_spend_usd, usage.total.usd);
        // A period of one day, and one outside the ledger's reach.
        let one = super::report(&t.app, &tenant, "UTC", Some("2026-11-23"), Some("2026-11-23"))
            .await
            .unwrap();
        assert_eq!(one.total.calls, 1);
        assert!(
            super::report(&t.app, &tenant, "UTC", Some("2026-01-01"), Some("2026-11-23"))
                .await
                .is_err()
        );
        assert!(super::report(&t.app, &tenant, "UTC", Some("yesterday"), None).await.is_err());
    }

    #[tokio::test]
    async fn a_model_without_a_price_counts_its_tokens_and_says_its_cost_is_unknown() {
        let t = testing::app();
        let tenant = crate::executor::tests::org(&t, Plan::Pro).await;
        let prompt = Prompt::new(AiUse::Routine, "system", "hello");
        crate::usage::ai_call(&t.app, &tenant, Plan::Pro, prompt, "chat").await.unwrap();
        let usage = report(&t.app, &tenant, "Europe/Paris", None, None).await.unwrap();
        assert_eq!((usage.total.calls, usage.total.unpriced_calls, usage.total.micro_usd), (1, 1, 0));
        assert!(usage.total.tokens > 0);
    }
}
