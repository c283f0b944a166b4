//! The AI CEO as members meet it: conversations, and the compact snapshot of the org's
//! numbers it sees in every prompt (the agent reads the same). Its persona and goals are
//! `ai_config`; what every AI action starts from is `tasks::context`.

pub mod chat;
pub mod http;

use crate::app::App;
use crate::error::AppResult;
use crate::keys;
use crate::leads::{Lead, LeadStatus};
use crate::model::from_item;
use crate::ports::table::{Item, Query};
use crate::tasks::{Task, TaskStatus};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Leads go stale after this many days without activity.
pub const STALE_DAYS: i64 = 14;
/// How many of an org's newest leads and tasks one snapshot reads.
pub const SNAPSHOT_READ: usize = 500;

pub fn is_open(lead: &Lead) -> bool {
    !matches!(lead.status, LeadStatus::Won | LeadStatus::Lost)
}

/// Open and without activity (or, never touched, created) for `STALE_DAYS`.
pub fn is_stale(lead: &Lead, now: DateTime<Utc>) -> bool {
    let since = lead.last_activity_at.unwrap_or(lead.created_at);
    is_open(lead) && now - since > chrono::Duration::days(STALE_DAYS)
}

/// The org's numbers as the AI sees them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub open_leads: usize,
    pub stale_leads: usize,
    pub tasks_pending: usize,
    pub posts_this_month: i64,
    /// More leads or tasks exist than were read.
    pub partial: bool,
}

impl Snapshot {
    pub fn describe(&self) -> String {
        format!(
            "Current numbers{}: {} open leads, {} stale (no activity for {STALE_DAYS} days), {} tasks pending, {} posts published this month.",
            if self.partial { " (of the newest records)" } else { "" },
            self.open_leads,
            self.stale_leads,
            self.tasks_pending,
            self.posts_this_month
        )
    }
}

/// An org's newest leads and tasks (up to `SNAPSHOT_READ` of each, one query each): what the
/// snapshot counts and the agent looks over.
pub struct Recent {
    pub leads: Vec<Lead>,
    pub tasks: Vec<Task>,
    /// More leads or tasks exist than were read.
    pub partial: bool,
}

pub async fn recent(app: &App, tenant: &TenantCtx) -> AppResult<Recent> {
    let newest = |prefix: &str| Query::partition(tenant.pk()).prefix(prefix).descending().limit(SNAPSHOT_READ);
    let leads = app.table.query(newest(keys::LEAD_PREFIX)).await?;
    let tasks = app.table.query(newest(keys::TASK_PREFIX)).await?;
    Ok(Recent {
        partial: leads.cursor.is_some() || tasks.cursor.is_some(),
        leads: leads.items.into_iter().map(from_item).collect::<AppResult<_>>()?,
        tasks: tasks.items.into_iter().map(from_item).collect::<AppResult<_>>()?,
    })
}

impl Snapshot {
    pub fn of(recent: &Recent, usage: Option<&Item>, now: DateTime<Utc>) -> Snapshot {
        Snapshot {
            open_leads: recent.leads.iter().filter(|l| is_open(l)).count(),
            stale_leads: recent.leads.iter().filter(|l| is_stale(l, now)).count(),
            tasks_pending: recent.tasks.iter().filter(|t| t.status == TaskStatus::Pending).count(),
            posts_this_month: usage.and_then(|u| u.get("posts")).and_then(|v| v.as_i64()).unwrap_or(0),
            partial: recent.partial,
        }
    }
}
