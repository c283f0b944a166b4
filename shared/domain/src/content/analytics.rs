//! Analytics: `job-analytics` (daily) fetches the figures of every post published in the last
//! 30 days through the Social port and keeps them on the post's published record; the
//! routes sum them per platform over a period, beside the period before (the trend), and
//! export them as CSV.
//!
//! Idempotent under repeated schedules: a run overwrites each record's figures with the
//! platform's latest, so a second run the same day changes only what the platform changed.

use super::accounts::account_from;
use super::publish::PublishedRecord;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{from_item, to_item};
use crate::platforms::Platform;
use crate::ports::social::{Metrics, Published};
use crate::ports::table::{Query, query_all};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How far back the daily job measures.
pub const MEASURE_DAYS: i64 = 30;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasureReport {
    pub orgs: usize,
    pub posts_measured: usize,
    /// Posts whose account is gone or whose platform did not answer; tried again tomorrow.
    pub posts_skipped: usize,
}

/// `job-analytics`: every org (through the plan index), its posts of the last 30 days.
pub async fn measure(app: &App) -> AppResult<MeasureReport> {
    let mut report = MeasureReport::default();
    for org in crate::orgs::all_orgs(app).await? {
        report.orgs += 1;
        measure_org(app, &TenantCtx::background(&org.id), &mut report).await?;
    }
    Ok(report)
}

async fn measure_org(app: &App, tenant: &TenantCtx, report: &mut MeasureReport) -> AppResult<()> {
    let now = app.clock.now();
    let records = published_between(app, tenant, now - Duration::days(MEASURE_DAYS), now).await?;
    for mut record in records {
        let account = app.table.get(&tenant.key(keys::account_sk(&record.account_id))).await?;
        let Ok(account) = account_from(account) else {
            report.posts_skipped += 1;
            continue;
        };
        let token = match super::credentials::for_account(app, tenant, &account).await? {
            Ok(token) => token,
            Err(e) => {
                tracing::info!(error = %e, post = %record.post_id, "figures not fetched: no usable token");
                report.posts_skipped += 1;
                continue;
            }
        };
        let channel = account.channel(tenant.org_id(), token.as_ref());
        let published = Published {
            external_id: record.external_id.clone(),
            url: record.url.clone(),
            published_at: record.published_at,
        };
        match app.social.metrics(&channel, &published).await {
            // Not available yet (a platform's figures can lag two days): asked again tomorrow.
            Ok(None) => report.posts_skipped += 1,
            Ok(Some(metrics)) => {
                record.metrics = Some(metrics);
                record.measured_at = Some(now);
                let sk = keys::published_sk(&record.published_at, &record.post_id);
                app.table.put(to_item(&tenant.pk(), &sk, &record)?, None).await?;
                report.posts_measured += 1;
            }
            Err(e) => {
                tracing::info!(error = %e, post = %record.post_id, "figures not fetched");
                report.posts_skipped += 1;
            }
        }
    }
    Ok(())
}

/// The org's published records with `from <= publishedAt < to`, oldest first.
pub async fn published_between(app: &App, tenant: &TenantCtx, from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<Vec<PublishedRecord>> {
    let query = Query::partition(tenant.pk()).between(
        format!("{}{}", keys::PUBLISHED_PREFIX, crate::clock::timestamp(from)),
        format!("{}{}", keys::PUBLISHED_PREFIX, crate::clock::timestamp(to)),
    );
    query_all(&*app.table, query)
        .await?
        .into_iter()
        .map(from_item::<PublishedRecord>)
        .filter(|r| r.as_ref().map_or(true, |r| r.published_at < to))
        .collect()
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub posts: u64,
    pub impressions: u64,
    pub reactions: u64,
    pub comments: u64,
    pub shares: u64,
    pub clicks: u64,
}

impl Totals {
    fn add(&mut self, metrics: Option<&Metrics>) {
        self.posts += 1;
        if let Some(m) = metrics {
            self.impressions += m.impressions;
            self.reactions += m.reactions;
            self.comments += m.comments;
            self.shares += m.shares;
            self.clicks += m.clicks;
        }
    }

    fn of(records: &[PublishedRecord]) -> (Totals, BTreeMap<Platform, Totals>) {
        let mut total = Totals::default();
        let mut per_platform: BTreeMap<Platform, Totals> = BTreeMap::new();
        for r in records {
            total.add(r.metrics.as_ref());
            per_platform.entry(r.platform).or_default().add(r.metrics.as_ref());
        }
        (total, per_platform)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformFigures {
    pub platform: Platform,
    pub current: Totals,
    pub previous: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// `7d`, `30d` or `90d`.
    pub period: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub to: DateTime<Utc>,
    pub current: Totals,
    /// The period of the same length just before, for the trend.
    pub previous: Totals,
    /// Impressions now against the period before, in percent (`null` when that had none).
    pub impressions_trend: Option<f64>,
    pub platforms: Vec<PlatformFigures>,
}

pub fn period_days(period: Option<&str>) -> AppResult<(String, i64)> {
    match period.unwrap_or("30d") {
        "7d" => Ok(("7d".into(), 7)),
        "30d" => Ok(("30d".into(), 30)),
        "90d" => Ok(("90d".into(), 90)),
        _ => Err(AppError::validation("period must be one of 7d, 30d, 90d")),
    }
}

pub async fn overview(app: &App, tenant: &TenantCtx, period: Option<&str>) -> AppResult<Overview> {
    let (period, days) = period_days(period)?;
    let to = app.clock.now();
    let from = to - Duration::days(days);
    let records = published_between(app, tenant, from - Duration::days(days), to).await?;
    let (before, now): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.published_at < from);
    let (current, current_by) = Totals::of(&now);
    let (previous, previous_by) = Totals::of(&before);
    let mut platforms: Vec<Platform> = current_by.keys().chain(previous_by.keys()).copied().collect();
    platforms.sort();
    platforms.dedup();
    let impressions_trend = (previous.impressions > 0)
        .then(|| ((current.impressions as f64 - previous.impressions as f64) / previous.impressions as f64 * 1000.0).round() / 10.0);
    Ok(Overview {
        period,
        from,
        to,
        impressions_trend,
        platforms: platforms
            .into_iter()
            .map(|p| PlatformFigures {
                platform: p,
                current: current_by.get(&p).cloned().unwrap_or_default(),
                previous: previous_by.get(&p).cloned().unwrap_or_default(),
            })
            .collect(),
        current,
        previous,
    })
}

/// One field of RFC 4180 CSV: quoted when it holds a comma, a quote or a line break, with
/// its quotes doubled. A leading `=`, `+`, `-` or `@` is prefixed with `'` so that a
/// spreadsheet does not run a post's text as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

pub const CSV_HEADER: &str =
    "post_id,platform,account_id,published_at,url,impressions,reactions,comments,shares,clicks,measured_at,platform_metrics,text";

/// One row per post published in `[from, to)`, lines ending in CRLF as RFC 4180 says.
pub fn csv(records: &[PublishedRecord]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for r in records {
        let m = r.metrics.clone().unwrap_or_default();
        let figures = if r.metrics.is_some() {
            [m.impressions, m.reactions, m.comments, m.shares, m.clicks].map(|n| n.to_string())
        } else {
            Default::default()
        };
        let platform_metrics = if m.platform_metrics.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&m.platform_metrics).unwrap_or_default()
        };
        let row = [
            r.post_id.to_string(),
            r.platform.as_str().to_string(),
            r.account_id.clone(),
            crate::clock::timestamp(r.published_at),
            r.url.clone().unwrap_or_default(),
        ]
        .into_iter()
        .chain(figures)
        .chain([
            r.measured_at.map(crate::clock::timestamp).unwrap_or_default(),
            platform_metrics,
            r.text.clone(),
        ])
        .map(|f| csv_field(&f))
        .collect::<Vec<_>>()
        .join(",");
        out.push_str(&row);
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says_and_formulas_are_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
