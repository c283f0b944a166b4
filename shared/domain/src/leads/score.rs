//! An explainable lead score, 0–100: fit (who the lead is: company, title, source, priority,
//! value; up to 50) plus engagement (what happened with them: activities weighted by kind and
//! halved every two weeks, and how recent the last one is; up to 50). Every factor is
//! returned with its points and the reason, and the score is stored on the lead when it moves.

use super::activities::{Activity, ActivityKind};
use super::{Lead, LeadStatus, Priority};
use crate::app::App;
use crate::error::AppResult;
use crate::ids::LeadId;
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::events::DomainEvent;
use crate::ports::table::{Condition, Query, TableError};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What is kept on the lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredScore {
    pub value: u8,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub scored_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Factor {
    pub name: &'static str,
    pub group: &'static str,
    pub points: f64,
    pub max: f64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeadScore {
    pub lead_id: LeadId,
    pub score: u8,
    pub fit: f64,
    pub engagement: f64,
    pub factors: Vec<Factor>,
    #[serde(serialize_with = "crate::clock::rfc3339::serialize")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub scored_at: chrono::DateTime<chrono::Utc>,
    /// The stored score before this one, if any.
    pub previous: Option<u8>,
}

/// Engagement halves every this many days.
pub const HALF_LIFE_DAYS: f64 = 14.0;
/// Activities read to score a lead (newest first); older ones have decayed to little.
pub const ACTIVITIES_READ: usize = 100;
/// The agent's "hot" threshold.
pub const HOT: u8 = 70;

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn days_between(earlier: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    ((now - earlier).num_seconds().max(0) as f64) / 86_400.0
}

fn title_points(title: &str) -> (f64, &'static str) {
    let t = title.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.split(|c: char| !c.is_alphanumeric()).any(|part| part == *w));
    if has(&[
        "ceo",
        "founder",
        "cofounder",
        "owner",
        "president",
        "chief",
        "cto",
        "cfo",
        "coo",
        "cmo",
        "partner",
    ]) {
        (12.0, "a decision maker")
    } else if has(&["vp", "vice", "head", "director"]) {
        (9.0, "a senior leader")
    } else if has(&["manager", "lead", "principal"]) {
        (6.0, "a manager")
    } else {
        (3.0, "an individual contributor")
    }
}

fn source_points(source: &str) -> f64 {
    match source.to_lowercase().as_str() {
        s if s.contains("referral") || s.contains("partner") => 10.0,
        s if s.contains("inbound") || s.contains("website") || s.contains("organic") || s.contains("demo") => 8.0,
        s if s.contains("event") || s.contains("conference") || s.contains("webinar") => 6.0,
        _ => 3.0,
    }
}

fn activity_weight(kind: ActivityKind) -> f64 {
    match kind {
        ActivityKind::Meeting => 12.0,
        ActivityKind::Call => 8.0,
        ActivityKind::Email => 5.0,
        ActivityKind::Note => 2.0,
    }
}

pub fn compute(lead: &Lead, activities: &[Activity], now: DateTime<Utc>) -> LeadScore {
    let mut factors = Vec::new();
    let mut add = |name, group, points: f64, max: f64, reason: String| {
        factors.push(Factor {
            name,
            group,
            points: round1(points),
            max,
            reason,
        })
    };
    match &lead.company {
        Some(company) => add("company", "fit", 8.0, 8.0, format!("works at {company}")),
        None => add("company", "fit", 0.0, 8.0, "no company given".into()),
    }
    match &lead.title {
        Some(title) => {
            let (points, what) = title_points(title);
            add("title", "fit", points, 12.0, format!("\"{title}\" reads as {what}"));
        }
        None => add("title", "fit", 0.0, 12.0, "no title given".into()),
    }
    match &lead.source {
        Some(source) => add("source", "fit", source_points(source), 10.0, format!("came from {source}")),
        None => add("source", "fit", 0.0, 10.0, "source unknown".into()),
    }
    let priority = match lead.priority {
        Priority::High => 10.0,
        Priority::Medium => 5.0,
        Priority::Low => 0.0,
    };
    add(
        "priority",
        "fit",
        priority,
        10.0,
        format!("{:?} priority", lead.priority).to_lowercase(),
    );
    let value = lead.value.unwrap_or(0.0);
    let value_points = match value {
        v if v >= 50_000.0 => 10.0,
        v if v >= 10_000.0 => 8.0,
        v if v >= 1_000.0 => 5.0,
        v if v > 0.0 => 2.0,
        _ => 0.0,
    };
    add(
        "value",
        "fit",
        value_points,
        10.0,
        if value > 0.0 {
            format!("worth {value}")
        } else {
            "no value given".into()
        },
    );

    let decayed: f64 = activities
        .iter()
        .map(|a| activity_weight(a.kind) * 0.5_f64.powf(days_between(a.occurred_at, now) / HALF_LIFE_DAYS))
        .sum();
    add(
        "activities",
        "engagement",
        decayed.min(35.0),
        35.0,
        format!(
            "{} activities, weighted by kind and halved every {HALF_LIFE_DAYS} days",
            activities.len()
        ),
    );
    match lead.last_activity_at.map(|at| days_between(at, now)) {
        Some(days) => {
            let points = match days {
                d if d <= 3.0 => 15.0,
                d if d <= 7.0 => 12.0,
                d if d <= 14.0 => 8.0,
                d if d <= 30.0 => 4.0,
                _ => 0.0,
            };
            add(
                "recency",
                "engagement",
                points,
                15.0,
                format!("last activity {} days ago", days.floor()),
            );
        }
        None => add("recency", "engagement", 0.0, 15.0, "no activity yet".into()),
    }
    let sum = |group: &str| round1(factors.iter().filter(|f| f.group == group).map(|f| f.points).sum());
    let (fit, engagement) = (sum("fit"), sum("engagement"));
    // A closed lead has nothing left to win.
    let score = if matches!(lead.status, LeadStatus::Won | LeadStatus::Lost) {
        0
    } else {
        (fit + engagement).round().clamp(0.0, 100.0) as u8
    };
    LeadScore {
        lead_id: lead.id.clone(),
        score,
        fit,
        engagement,
        factors,
        scored_at: now,
        previous: lead.score.as_ref().map(|s| s.value),
    }
}

/// Scores a lead from its newest activities; when the score moved, stores it on the lead
/// (without a new version: it is derived, and a client's edit must not conflict with it)
/// and emits `lead.scored` after the write.
pub async fn score_lead(app: &App, tenant: &TenantCtx, mut lead: Lead) -> AppResult<LeadScore> {
    let now = app.clock.now();
    let items = app
        .table
        .query(
            Query::partition(tenant.pk())
                .prefix(keys::activity_prefix(&lead.id))
                .descending()
                .limit(ACTIVITIES_READ),
        )
        .await?
        .items;
    let activities: Vec<Activity> = items.into_iter().map(from_item).collect::<AppResult<_>>()?;
    let result = compute(&lead, &activities, now);
    if result.previous == Some(result.score) {
        return Ok(result);
    }
    lead.score = Some(StoredScore {
        value: result.score,
        scored_at: result.scored_at,
    });
    match app
        .table
        .put(
            to_item(&tenant.pk(), &keys::lead_sk(&lead.id), &lead)?,
            Some(Condition::VersionEquals(lead.version)),
        )
        .await
    {
        Ok(()) => {
            let event = DomainEvent {
                id: format!("lead.scored:{}:{}", lead.id, result.scored_at),
                source: "chief.leads".into(),
                detail_type: "lead.scored".into(),
                org_id: tenant.org_id().clone(),
                at: result.scored_at,
                detail: json!({"leadId": lead.id, "score": result.score, "previous": result.previous}),
            };
            if let Err(e) = app.events.publish(&[event]).await {
                tracing::warn!(error = %e, "lead.scored not published");
            }
        }
        // Edited meanwhile: the score is still right to answer, and is stored next time.
        Err(TableError::ConditionFailed { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn lead() -> Lead {
        serde_json::from_value(json!({
            "id": "01JD3Z5Q1T6N8WQ4S0F9V7C2XA", "name": "Ada", "email": null, "company": "Analytical Engines",
            "title": "Founder & CEO", "source": "referral", "status": "qualified", "priority": "high", "tags": [],
            "notes": null, "ownerId": null, "value": 60000.0, "lastActivityAt": "2026-11-21T12:00:00.000Z",
            "createdBy": "u", "createdAt": "2026-11-01T00:00:00.000Z", "updatedAt": "2026-11-01T00:00:00.000Z", "version": 1
        }))
        .unwrap()
    }

    fn activity(kind: ActivityKind, at: &str) -> Activity {
        Activity {
            id: "a".into(),
            lead_id: "l".into(),
            kind,
            summary: "s".into(),
            occurred_at: crate::clock::parse(at).unwrap(),
            created_by: "u".into(),
            created_at: crate::clock::parse(at).unwrap(),
        }
    }

    #[test]
    fn a_strong_fit_with_recent_meetings_scores_high_and_explains_itself() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let acts = [
            activity(ActivityKind::Meeting, "2026-11-21T12:00:00.000Z"),
            activity(ActivityKind::Call, "2026-11-20T12:00:00.000Z"),
        ];
        let s = compute(&lead(), &acts, now);
        assert_eq!(s.fit, 50.0);
        assert_eq!(s.factors.len(), 7);
        assert!(s.score >= 80, "{s:?}");
        assert_eq!(s.score as f64, (s.fit + s.engagement).round());
        assert!(s.factors.iter().all(|f| f.points <= f.max && !f.reason.is_empty()));
    }

    #[test]
    fn engagement_decays_with_time() {
        let mut l = lead();
        let fresh = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let acts = [activity(ActivityKind::Meeting, "2026-11-21T12:00:00.000Z")];
        let later = compute(&l, &acts, fresh + chrono::Duration::days(28));
        let now = compute(&l, &acts, fresh);
        assert!(
            later.engagement < now.engagement / 2.0,
            "{} vs {}",
            later.engagement,
            now.engagement
        );
        l.status = LeadStatus::Lost;
        assert_eq!(compute(&l, &acts, fresh).score, 0);
    }

    #[test]
    fn a_bare_lead_scores_low() {
        let mut l = lead();
        (l.company, l.title, l.source, l.value, l.last_activity_at) = (None, None, None, None, None);
        l.priority = Priority::Low;
        assert_eq!(compute(&l, &[], Utc::now()).score, 0);
    }
}
