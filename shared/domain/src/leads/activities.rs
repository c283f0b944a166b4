//! What happened with a lead (calls, emails, meetings held, notes) and meetings planned.
//! Logging an activity moves the lead's `lastActivityAt` forward, never back: an activity
//! logged late with a past time leaves a later one in place.

use super::Lead;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::LeadId;
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::table::{Condition, Query, TableError, TxOp};
use crate::tenancy::TenantCtx;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActivityKind {
    Call,
    Email,
    Meeting,
    Note,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: String,
    pub lead_id: LeadId,
    #[serde(rename = "type")]
    pub kind: ActivityKind,
    pub summary: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewActivity {
    #[serde(rename = "type")]
    pub kind: ActivityKind,
    pub summary: String,
    pub occurred_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meeting {
    pub id: String,
    pub lead_id: LeadId,
    pub title: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub starts_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub ends_at: chrono::DateTime<chrono::Utc>,
    pub attendees: Vec<String>,
    pub location: Option<String>,
    pub notes: Option<String>,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMeeting {
    pub title: String,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub attendees: Vec<String>,
    pub location: Option<String>,
    pub notes: Option<String>,
}

/// How far ahead of now an activity may claim to have happened (clock skew).
const FUTURE_TOLERANCE_MINUTES: i64 = 5;
/// Tries when the lead changes between the read and the write.
const WRITE_TRIES: usize = 3;

pub async fn log(app: &App, tenant: &TenantCtx, lead: Lead, input: NewActivity) -> AppResult<Activity> {
    let now = app.clock.now();
    let occurred = match input.occurred_at.as_deref() {
        Some(t) => model::timestamp_param("occurredAt", t)?,
        None => now,
    };
    if occurred > now + chrono::Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
        return Err(AppError::validation(
            "occurredAt is in the future: log activities once they happened",
        ));
    }
    let activity = Activity {
        id: model::new_id(),
        lead_id: lead.id.clone(),
        kind: input.kind,
        summary: model::text("summary", &input.summary, 5_000)?,
        occurred_at: occurred,
        created_by: tenant.user_id().to_string(),
        created_at: now,
    };
    Ok(record(app, tenant, lead, activity, |_| {}).await?.0)
}

/// Stores an activity and, in the same write, moves the lead's `lastActivityAt` forward and
/// applies `also` to the lead. Answers false (and changes nothing) when an activity with this
/// key was stored before, which makes a retried job's activity land once.
pub async fn record(
    app: &App,
    tenant: &TenantCtx,
    mut lead: Lead,
    activity: Activity,
    also: impl Fn(&mut Lead),
) -> AppResult<(Activity, bool)> {
    let activity_item = to_item(
        &tenant.pk(),
        &keys::activity_sk(&lead.id, &activity.occurred_at, &activity.id),
        &activity,
    )?;
    for _ in 0..WRITE_TRIES {
        let read_version = lead.version;
        let mut changed = lead.clone();
        also(&mut changed);
        if changed.last_activity_at.is_none_or(|last| activity.occurred_at > last) {
            changed.last_activity_at = Some(activity.occurred_at);
        }
        let lead_op = if changed != lead {
            changed.version += 1;
            changed.updated_at = app.clock.now();
            TxOp::Put {
                item: to_item(&tenant.pk(), &keys::lead_sk(&lead.id), &changed)?,
                condition: Some(Condition::VersionEquals(read_version)),
            }
        } else {
            TxOp::Check {
                key: tenant.key(keys::lead_sk(&lead.id)),
                condition: Condition::Exists,
            }
        };
        let ops = vec![
            TxOp::Put {
                item: activity_item.clone(),
                condition: Some(Condition::NotExists),
            },
            lead_op,
        ];
        match app.table.transact(ops).await {
            Ok(()) => return Ok((activity, true)),
            Err(TableError::ConditionFailed { op: Some(0) }) => return Ok((activity, false)),
            Err(TableError::ConditionFailed { op: Some(1) }) => {
                lead = super::lead_from(app.table.get(&tenant.key(keys::lead_sk(&activity.lead_id))).await?)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict("CONFLICT", "the lead is changing too fast: try again"))
}

pub async fn list_activities(
    app: &App,
    tenant: &TenantCtx,
    lead_id: &str,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<Activity>, Option<String>)> {
    model::newest_first(&*app.table, tenant.pk(), keys::activity_prefix(lead_id), limit, cursor).await
}

pub async fn plan_meeting(app: &App, tenant: &TenantCtx, lead_id: &LeadId, input: NewMeeting) -> AppResult<Meeting> {
    let starts = model::timestamp_param("startsAt", &input.starts_at)?;
    let ends = model::timestamp_param("endsAt", &input.ends_at)?;
    if ends <= starts {
        return Err(AppError::validation("endsAt must be after startsAt"));
    }
    if ends - starts > chrono::Duration::hours(24) {
        return Err(AppError::validation("a meeting lasts at most 24 hours"));
    }
    if input.attendees.len() > 50 {
        return Err(AppError::validation("a meeting has at most 50 attendees"));
    }
    let attendees = input
        .attendees
        .iter()
        .map(|a| model::text("attendees", a, 200))
        .collect::<AppResult<Vec<_>>>()?;
    let meeting = Meeting {
        id: model::new_id(),
        lead_id: lead_id.clone(),
        title: model::text("title", &input.title, 200)?,
        starts_at: starts,
        ends_at: ends,
        attendees,
        location: model::optional_text("location", input.location.as_deref(), 500)?,
        notes: model::optional_text("notes", input.notes.as_deref(), 5_000)?,
        created_by: tenant.user_id().to_string(),
        created_at: app.clock.now(),
    };
    let item = to_item(&tenant.pk(), &keys::meeting_sk(lead_id, &meeting.starts_at, &meeting.id), &meeting)?;
    // The lead must still exist when the meeting is written (it may be deleted meanwhile).
    app.table
        .transact(vec![
            TxOp::Put {
                item,
                condition: Some(Condition::NotExists),
            },
            TxOp::Check {
                key: tenant.key(keys::lead_sk(lead_id)),
                condition: Condition::Exists,
            },
        ])
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { .. } => AppError::NotFound("lead"),
            other => other.into(),
        })?;
    Ok(meeting)
}

/// In start order, earliest first.
pub async fn list_meetings(
    app: &App,
    tenant: &TenantCtx,
    lead_id: &str,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<Meeting>, Option<String>)> {
    let page = app
        .table
        .query(
            Query::partition(tenant.pk())
                .prefix(keys::meeting_prefix(lead_id))
                .limit(limit)
                .after(cursor),
        )
        .await?;
    Ok((page.items.into_iter().map(from_item).collect::<AppResult<_>>()?, page.cursor))
}
