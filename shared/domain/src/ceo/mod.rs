//! The AI CEO: a persona that knows the org's goals (its config), talks with members
//! (conversations), and sees a compact snapshot of the org's numbers in every prompt.

pub mod chat;
pub mod http;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::leads::{Lead, LeadStatus};
use crate::model::{self, from_item};
use crate::ports::ai::{AiUse, Completion, Prompt};
use crate::ports::table::{Item, Query};
use crate::tasks::{Task, TaskStatus};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiConfig {
    pub persona_name: String,
    pub personality: String,
    pub industry: Option<String>,
    pub goals: Vec<String>,
    pub tone: String,
    /// Posts a week the org aims for; the agent warns when output falls short.
    pub posts_per_week: u32,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
    /// 0 until first saved.
    pub version: u64,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig {
            persona_name: "Chief".into(),
            personality: "pragmatic, numbers-driven, encouraging".into(),
            industry: None,
            goals: Vec::new(),
            tone: "friendly and concise".into(),
            posts_per_week: 3,
            updated_by: None,
            updated_at: None,
            version: 0,
        }
    }
}

impl AiConfig {
    pub fn from_stored(item: Option<Item>) -> AppResult<Self> {
        item.map(from_item).transpose().map(Option::unwrap_or_default)
    }

    /// The system prompt every AI call for this org starts from.
    pub fn system_prompt(&self, org_name: &str) -> String {
        let mut prompt = format!(
            "You are {}, the AI CEO of {org_name}. Personality: {}. Tone: {}.",
            self.persona_name, self.personality, self.tone
        );
        if let Some(industry) = &self.industry {
            prompt.push_str(&format!(" Industry: {industry}."));
        }
        if !self.goals.is_empty() {
            prompt.push_str(&format!(" The business's goals: {}.", self.goals.join("; ")));
        }
        prompt
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigChange {
    pub persona_name: Option<String>,
    pub personality: Option<String>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub industry: Option<Option<String>>,
    pub goals: Option<Vec<String>>,
    pub tone: Option<String>,
    pub posts_per_week: Option<u32>,
    /// The version read (0 before the first change).
    pub version: u64,
}

pub const MAX_GOALS: usize = 10;

pub async fn update_config(app: &App, tenant: &TenantCtx, mut config: AiConfig, change: ConfigChange) -> AppResult<AiConfig> {
    if change.version != config.version {
        return Err(model::stale_version("config", config.version));
    }
    if let Some(name) = change.persona_name {
        config.persona_name = model::text("personaName", &name, 60)?;
    }
    if let Some(personality) = change.personality {
        config.personality = model::text("personality", &personality, 500)?;
    }
    if let Some(industry) = change.industry {
        config.industry = model::optional_text("industry", industry.as_deref(), 100)?;
    }
    if let Some(goals) = change.goals {
        if goals.len() > MAX_GOALS {
            return Err(AppError::validation(format!("at most {MAX_GOALS} goals")));
        }
        config.goals = goals.iter().map(|g| model::text("goals", g, 300)).collect::<AppResult<_>>()?;
    }
    if let Some(tone) = change.tone {
        config.tone = model::text("tone", &tone, 200)?;
    }
    if let Some(posts) = change.posts_per_week {
        if posts > 100 {
            return Err(AppError::validation("postsPerWeek must be from 0 to 100"));
        }
        config.posts_per_week = posts;
    }
    config.updated_by = Some(tenant.user_id().to_string());
    config.updated_at = Some(crate::clock::timestamp(app.clock.now()));
    config.version += 1;
    model::put_versioned(&*app.table, &tenant.pk(), keys::AI_CONFIG_SK, &config, change.version, "config").await?;
    Ok(config)
}

/// What every AI action for an org starts from: the org, its plan now, its AI config, its
/// autonomy policy and this month's usage, read together in one store call.
pub struct OrgContext {
    pub org: crate::orgs::Org,
    pub plan: crate::usage::Plan,
    pub config: AiConfig,
    pub policy: crate::tasks::autonomy::AutonomyPolicy,
    pub usage: Option<Item>,
}

impl OrgContext {
    /// The org-partition sort keys to read, in the order `from_items` takes them.
    pub fn sort_keys(now: DateTime<Utc>) -> [String; 4] {
        [
            keys::ORG_SK.into(),
            keys::AI_CONFIG_SK.into(),
            keys::AUTONOMY_SK.into(),
            keys::usage_sk(&crate::usage::month(now)),
        ]
    }

    pub fn from_items(items: impl IntoIterator<Item = Option<Item>>, now: DateTime<Utc>) -> AppResult<Self> {
        let mut items = items.into_iter();
        let [org, config, policy, usage] = std::array::from_fn(|_| items.next().flatten());
        let org: crate::orgs::Org = from_item(org.ok_or(AppError::NotFound("organisation"))?)?;
        Ok(OrgContext {
            plan: org.plan_at(now),
            org,
            config: AiConfig::from_stored(config)?,
            policy: crate::tasks::autonomy::AutonomyPolicy::from_stored(policy)?,
            usage,
        })
    }

    pub fn used(&self, metric: crate::usage::Metric) -> i64 {
        crate::usage::used(self.usage.as_ref(), metric)
    }

    pub fn system_prompt(&self) -> String {
        self.config.system_prompt(&self.org.name)
    }

    /// One AI call for this org, from its system prompt (see `usage::ai_call`).
    pub async fn ask(&self, app: &App, tenant: &TenantCtx, purpose: AiUse, ask: String, label: &str) -> AppResult<Completion> {
        crate::usage::ai_call(app, tenant, self.plan, Prompt::new(purpose, self.system_prompt(), ask), label).await
    }
}

/// Leads go stale after this many days without activity.
pub const STALE_DAYS: i64 = 14;
/// How many of an org's newest leads and tasks one snapshot reads.
pub const SNAPSHOT_READ: usize = 500;

pub fn is_open(lead: &Lead) -> bool {
    !matches!(lead.status, LeadStatus::Won | LeadStatus::Lost)
}

/// Open and without activity (or, never touched, created) for `STALE_DAYS`.
pub fn is_stale(lead: &Lead, now: DateTime<Utc>) -> bool {
    let since = lead.last_activity_at.as_deref().unwrap_or(&lead.created_at);
    is_open(lead)
        && chrono::DateTime::parse_from_rfc3339(since).is_ok_and(|at| now - at.with_timezone(&Utc) > chrono::Duration::days(STALE_DAYS))
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
