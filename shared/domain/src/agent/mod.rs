//! The hourly agent. `fan_out` (job-agent, every hour) lists the orgs on paying plans through
//! the plan index and enqueues one analysis per org; `analyze` (job-analyze, or a member by
//! hand) looks over one org, stores what it finds as insights with a confidence, reasons and
//! inputs, and acts on those above `detect::ACT_ABOVE` by creating tasks or recording a
//! warning. What it looks for is in [`detect`], as pure functions.
//!
//! Idempotent within the hour: insights are keyed by hour and kind, and every task the agent
//! creates has an id derived from (org, hour, kind, subject) and is written only if absent,
//! so a re-run, a duplicate job or a second fan-out in the same hour creates nothing twice.

pub mod budget;
pub mod detect;

use crate::app::App;
use crate::ceo::{self, is_open};
use crate::clients;
use crate::content::publish::PublishedRecord;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, TaskId, UserId};
use crate::keys;
use crate::leads::score;
use crate::model::{self, from_item, to_item};
use crate::orgs::Org;
use crate::ports::ai::AiUse;
use crate::ports::events::DomainEvent;
use crate::ports::queue::QueueName;
use crate::ports::table::Query;
use crate::tasks::autonomy::Autonomy;
use crate::tasks::context::OrgContext;
use crate::tasks::{self, NewTask, Origin, TaskStatus, TaskType};
use crate::tenancy::TenantCtx;
use crate::usage::{self, Plan};
use chrono::{DateTime, Duration, Utc};
use detect::{Finding, InsightKind, Planned, Seen};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Leads (re)scored per run: the unscored first, then those scored longest ago.
pub const RESCORE_PER_RUN: usize = 20;
/// Plan-index entries read per page during the fan-out.
pub const FAN_OUT_PAGE: usize = 1_000;

pub fn hour(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalysisJob {
    pub org_id: OrgId,
    pub hour: String,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FanOutReport {
    pub hour: String,
    pub index_pages: usize,
    pub orgs_seen: usize,
    /// On a paying plan in the index, but past its grace period.
    pub orgs_lapsed: usize,
    pub messages: usize,
    pub batches: usize,
}

/// One analysis job per org on a plan with the hourly agent, sent page by page.
pub async fn fan_out(app: &App) -> AppResult<FanOutReport> {
    let now = app.clock.now();
    let mut report = FanOutReport {
        hour: hour(now),
        ..FanOutReport::default()
    };
    for plan in [Plan::Pro, Plan::Enterprise] {
        let mut cursor = None;
        loop {
            let (orgs, next) = crate::orgs::orgs_on_plan(app, plan, FAN_OUT_PAGE, cursor).await?;
            report.index_pages += 1;
            let mut jobs = Vec::with_capacity(orgs.len());
            for org in orgs {
                report.orgs_seen += 1;
                if !org.plan_at(now).hourly_agent() {
                    report.orgs_lapsed += 1;
                    continue;
                }
                let job = AnalysisJob {
                    org_id: org.id,
                    hour: report.hour.clone(),
                };
                jobs.push(serde_json::to_string(&job)?);
            }
            if !jobs.is_empty() {
                report.batches += app.queue.send(QueueName::Analysis, &jobs).await?;
                report.messages += jobs.len();
            }
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Member,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CreateFollowupTask,
    CreatePostTask,
    CreateClientFollowup,
    SetDealFollowUp,
    RecordWarning,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::CreateFollowupTask => "create_followup_task",
            ActionKind::CreatePostTask => "create_post_task",
            ActionKind::CreateClientFollowup => "create_client_followup",
            ActionKind::SetDealFollowUp => "set_deal_follow_up",
            ActionKind::RecordWarning => "record_warning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    AlreadyCreated,
    Recorded,
    /// The autonomy policy has this kind off: nothing created, no model asked.
    PolicyOff,
    /// A person turned down the same proposal within `DECLINED_DAYS`.
    RecentlyDeclined,
    /// No task left this month.
    OverQuota,
    /// The scheduled agent has taken its day's actions or spent its day's AI budget.
    OverBudget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub kind: ActionKind,
    pub subject: Option<String>,
    pub task_id: Option<TaskId>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Insight {
    pub kind: InsightKind,
    pub hour: String,
    pub confidence: f64,
    pub reasons: Vec<String>,
    pub inputs: Value,
    pub acted: bool,
    pub actions: Vec<Action>,
    pub trigger: Trigger,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisReport {
    pub org_id: String,
    pub hour: String,
    pub leads_scored: usize,
    pub insights: Vec<Insight>,
    /// The AI CEO's note on the findings, for an analysis a member asked for.
    pub summary: Option<Value>,
}

/// The week so far in the org's time zone (from the start of Monday; where a clock change
/// skips midnight, the first instant of that day).
fn week_start(org: &Org, now: DateTime<Utc>) -> DateTime<Utc> {
    let tz = jiff::tz::TimeZone::get(&org.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let start = jiff::Timestamp::from_second(now.timestamp())
        .map(|instant| instant.to_zoned_datetime(tz.clone()))
        .and_then(|local| {
            let monday = local
                .date()
                .checked_sub(jiff::Span::new().days(local.weekday().to_monday_zero_offset()))?;
            monday.to_zoned_datetime(tz)
        });
    match start {
        Ok(start) => DateTime::from_timestamp(start.timestamp().as_second(), 0).unwrap_or(now - Duration::days(7)),
        Err(_) => now - Duration::days(7),
    }
}

/// A task id fixed by what it is for: the same (org, hour, kind, subject) gives the same id.
fn action_task_id(org_id: &str, hour_start: DateTime<Utc>, kind: &str, subject: &str) -> TaskId {
    let digest = Sha256::digest(format!("{org_id}|{}|{kind}|{subject}", hour(hour_start)).as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    TaskId::from_ulid(ulid::Ulid::from_parts(
        hour_start.timestamp_millis() as u64,
        u128::from_be_bytes(random),
    ))
}

fn hour_start(hour: &str) -> Option<DateTime<Utc>> {
    crate::clock::parse(&format!("{hour}:00:00Z"))
}

/// Looks over one org now and acts within its quotas. Asked by a member, it needs an AI call
/// left for its summary, and says so (402) before it changes anything.
pub async fn analyze(app: &App, tenant: &TenantCtx, org: &OrgContext, trigger: Trigger) -> AppResult<AnalysisReport> {
    let calls = usage::Metric::AiCalls;
    if trigger == Trigger::Member && org.used(calls) >= org.plan.limit(calls) {
        return Err(usage::over_quota(calls, org.plan));
    }
    let now = app.clock.now();
    analyze_hour(app, tenant, org, trigger, &hour(now)).await
}

/// `hour` keys what the analysis stores and creates, so that every run for the same hour
/// lands on the same insights and tasks. A pipeline: gather what to look at, detect
/// (`detect::all`, pure), act on what is sure enough, record the insights.
async fn analyze_hour(app: &App, tenant: &TenantCtx, org: &OrgContext, trigger: Trigger, this_hour: &str) -> AppResult<AnalysisReport> {
    let now = app.clock.now();
    let hour_start = hour_start(this_hour).unwrap_or(now);
    let (seen, numbers, leads_scored) = gather(app, tenant, org, now).await?;
    let declined = recently_declined(&seen.tasks, now);
    // What the agent does by itself is within its daily budget; what a member asks for is
    // theirs, within the quotas.
    let run = Run {
        app,
        tenant,
        org,
        hour_start,
        declined: &declined,
        budget: (trigger == Trigger::Schedule).then(|| budget::Budget::of(tenant, org, now)),
    };
    let mut recorded = Vec::new();
    for finding in detect::all(&seen, now) {
        let mut actions = Vec::new();
        if detect::acts(finding.confidence) {
            for planned in &finding.plan {
                actions.push(run.budgeted(finding.kind, planned).await?);
            }
        }
        recorded.push((finding, actions));
    }
    let insights = record(app, tenant, this_hour, trigger, recorded).await?;

    // What was found and done is stored already: a summary that cannot be had says why
    // rather than failing the analysis.
    let summary = match trigger {
        Trigger::Member => Some(
            summarise(app, tenant, org, &numbers, &insights)
                .await
                .unwrap_or_else(|e| json!({"error": {"code": e.code(), "message": e.public_message()}})),
        ),
        Trigger::Schedule => None,
    };
    Ok(AnalysisReport {
        org_id: tenant.org_id().to_string(),
        hour: this_hour.to_string(),
        leads_scored,
        insights,
        summary,
    })
}

/// What the detectors look at: the org's newest leads (the least recently scored of them
/// rescored first) and tasks, and its posts this week; with the numbers the AI sees.
async fn gather(app: &App, tenant: &TenantCtx, org: &OrgContext, now: DateTime<Utc>) -> AppResult<(Seen, ceo::Snapshot, usize)> {
    let recent = ceo::recent(app, tenant).await?;
    let numbers = ceo::Snapshot::of(&recent, org.usage.as_ref(), now);
    let ceo::Recent { mut leads, tasks, partial } = recent;
    let posts: Vec<PublishedRecord> = app
        .table
        .query(
            Query::partition(tenant.pk())
                .prefix(keys::PUBLISHED_PREFIX)
                .descending()
                .limit(ceo::SNAPSHOT_READ),
        )
        .await?
        .items
        .into_iter()
        .map(from_item)
        .collect::<AppResult<_>>()?;

    // Fresh scores for the leads that need one most; the rest keep their stored score.
    let mut to_score: Vec<usize> = (0..leads.len()).filter(|&i| is_open(&leads[i])).collect();
    to_score.sort_by_key(|&i| leads[i].score.as_ref().map(|s| s.scored_at));
    to_score.retain(|&i| leads[i].score.as_ref().is_none_or(|s| now - s.scored_at > Duration::hours(24)));
    to_score.truncate(RESCORE_PER_RUN);
    for &i in &to_score {
        let result = score::score_lead(app, tenant, leads[i].clone()).await?;
        leads[i].score = Some(score::StoredScore {
            value: result.score,
            scored_at: result.scored_at,
        });
    }
    let week = week_start(&org.org, now);
    let seen = Seen {
        posts_this_week: posts.iter().filter(|p| p.published_at >= week).count(),
        week_start: week,
        posts_goal: org.config.posts_per_week as usize,
        clients_at_risk: clients_at_risk(app, tenant, now).await?,
        quiet_deals: quiet_deals(app, tenant, now).await?,
        leads,
        tasks,
        partial,
    };
    Ok((seen, numbers, to_score.len()))
}

/// Open deals with no activity for `detect::QUIET_DAYS` and no follow-up set.
async fn quiet_deals(app: &App, tenant: &TenantCtx, now: DateTime<Utc>) -> AppResult<Vec<detect::QuietDeal>> {
    Ok(crate::deals::all_deals(app, tenant)
        .await?
        .into_iter()
        .filter(|d| d.stage.is_open() && d.next_follow_up_at.is_none())
        .filter(|d| now - d.last_activity_at >= Duration::days(detect::QUIET_DAYS))
        .map(|d| detect::QuietDeal {
            deal_id: d.id,
            title: d.title,
            stage: d.stage,
            last_activity_at: d.last_activity_at,
        })
        .collect())
}

/// Open alerts the agent reads at most per run (the newest).
pub const ALERTS_READ: usize = 100;

/// The clients with an open alert (each with its newest), and their health now: one read of
/// the alerts, one batch of the clients and their states.
async fn clients_at_risk(app: &App, tenant: &TenantCtx, now: DateTime<Utc>) -> AppResult<Vec<detect::ClientAtRisk>> {
    let mut newest: Vec<clients::alerts::Alert> = Vec::new();
    for alert in clients::alerts::open(app, tenant, ALERTS_READ).await? {
        if !newest.iter().any(|a| a.client_id == alert.client_id) {
            newest.push(alert);
        }
    }
    let mut keys = Vec::with_capacity(newest.len() * 2);
    for alert in &newest {
        keys.push(tenant.key(keys::client_sk(&alert.client_id)));
        keys.push(tenant.key(keys::client_health_sk(&alert.client_id)));
    }
    let mut read = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(crate::ports::table::MAX_BATCH_GET) {
        read.extend(app.table.get_many(chunk).await?);
    }
    let mut at_risk = Vec::new();
    for (alert, pair) in newest.into_iter().zip(read.chunks(2)) {
        let [Some(client), state] = [pair[0].clone(), pair[1].clone()] else {
            continue;
        };
        let client: clients::Client = from_item(client)?;
        let state = clients::recompute::state_from(state, &client.id)?;
        let health = state.summary(now);
        at_risk.push(detect::ClientAtRisk {
            client_id: client.id,
            name: client.name,
            owner_id: client.owner_id,
            band: health.band,
            trend: health.trend,
            alert_id: alert.id,
            reason: alert.reason,
        });
    }
    Ok(at_risk)
}

/// Stores each finding as the hour's insight of its kind, keeping the actions earlier runs
/// in the hour took, and emits `agent.acted` for what this run created.
async fn record(
    app: &App,
    tenant: &TenantCtx,
    this_hour: &str,
    trigger: Trigger,
    findings: Vec<(Finding, Vec<Action>)>,
) -> AppResult<Vec<Insight>> {
    let stamp = app.clock.now();
    let existing: Vec<Insight> = app
        .table
        .query(Query::partition(tenant.pk()).prefix(format!("{}{this_hour}#", keys::INSIGHT_PREFIX)))
        .await?
        .items
        .into_iter()
        .map(from_item)
        .collect::<AppResult<_>>()?;
    let mut insights = Vec::new();
    let mut events = Vec::new();
    for (finding, actions) in findings {
        let before = existing.iter().find(|i| i.kind == finding.kind);
        let mut all_actions = before.map(|b| b.actions.clone()).unwrap_or_default();
        for action in actions {
            if action.outcome == Outcome::Created {
                events.push(DomainEvent {
                    id: format!(
                        "agent.acted:{}:{this_hour}:{}:{}",
                        tenant.org_id(),
                        finding.kind.as_str(),
                        action.subject.as_deref().unwrap_or("-")
                    ),
                    source: "chief.agent".into(),
                    detail_type: "agent.acted".into(),
                    org_id: tenant.org_id().clone(),
                    at: stamp,
                    detail: json!({"insight": finding.kind, "confidence": finding.confidence, "action": action}),
                });
            }
            if !all_actions.contains(&action) {
                all_actions.push(action);
            }
        }
        let insight = Insight {
            kind: finding.kind,
            hour: this_hour.to_string(),
            confidence: finding.confidence,
            acted: detect::acts(finding.confidence),
            reasons: finding.reasons,
            inputs: finding.inputs,
            actions: all_actions,
            trigger,
            created_at: before.map_or(stamp, |b| b.created_at),
            updated_at: stamp,
        };
        app.table
            .put(
                to_item(&tenant.pk(), &keys::insight_sk(this_hour, finding.kind.as_str()), &insight)?,
                None,
            )
            .await?;
        insights.push(insight);
    }
    if !events.is_empty()
        && let Err(e) = app.events.publish(&events).await
    {
        tracing::warn!(error = %e, "agent.acted not published");
    }
    Ok(insights)
}

/// The strategy model's short note on the findings (one AI call of the quota).
async fn summarise(app: &App, tenant: &TenantCtx, org: &OrgContext, numbers: &ceo::Snapshot, insights: &[Insight]) -> AppResult<Value> {
    let findings = if insights.is_empty() {
        "Nothing needs attention.".to_string()
    } else {
        insights
            .iter()
            .map(|i| format!("{} ({:.2}): {}", i.kind.as_str(), i.confidence, i.reasons.join("; ")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ask = format!(
        "{}\nFindings of this hour's review:\n{findings}\nIn three sentences, tell the team what matters most now and why.",
        numbers.describe()
    );
    let completion = org.ask(app, tenant, AiUse::Strategy, ask, "agent_summary").await?;
    Ok(json!({"text": completion.text, "provider": completion.provider, "model": completion.model}))
}

/// The agent's proposals that a person turned down (rejected or cancelled) in the last
/// `DECLINED_DAYS`, as (type, subject): the agent does not propose them again meanwhile.
/// Read from the org's newest tasks (see `ceo::recent`).
fn recently_declined(tasks: &[tasks::Task], now: DateTime<Utc>) -> Vec<(TaskType, String)> {
    tasks
        .iter()
        .filter(|t| t.origin == Origin::Agent && t.status == TaskStatus::Cancelled)
        .filter(|t| t.finished_at.is_some_and(|at| now - at < Duration::days(DECLINED_DAYS)))
        .map(|t| (t.kind, proposal_subject(t.kind, &t.input)))
        .collect()
}

/// What a proposal is about: the lead of a follow-up, the alert of a client's; a post is
/// about the week.
fn proposal_subject(kind: TaskType, input: &Value) -> String {
    match kind {
        TaskType::LeadFollowup => input.get("leadId").and_then(Value::as_str).unwrap_or_default().to_string(),
        TaskType::ClientFollowup => input.get("alertId").and_then(Value::as_str).unwrap_or_default().to_string(),
        TaskType::SponsorFollowup => input.get("dealId").and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => POST_SUBJECT.to_string(),
    }
}

/// What every action of one analysis shares: the org, the hour its tasks are keyed by, what
/// people turned down lately, and (for a scheduled run) the day's budget.
struct Run<'a> {
    app: &'a App,
    tenant: &'a TenantCtx,
    org: &'a OrgContext,
    hour_start: DateTime<Utc>,
    declined: &'a [(TaskType, String)],
    budget: Option<budget::Budget>,
}

impl Run<'_> {
    /// An action within the day's budget: reserved first, given back when nothing was created.
    async fn budgeted(&self, kind: InsightKind, planned: &Planned) -> AppResult<Action> {
        let Some(budget) = self.budget.as_ref().filter(|_| !matches!(planned, Planned::Warning)) else {
            return act(self, kind, planned).await;
        };
        if !budget.reserve(self.app).await? {
            let mut action = act_kind(planned);
            action.outcome = Outcome::OverBudget;
            return Ok(action);
        }
        let action = act(self, kind, planned).await;
        if !matches!(
            action,
            Ok(Action {
                outcome: Outcome::Created,
                ..
            })
        ) {
            budget.give_back(self.app).await;
        }
        action
    }
}

/// How long a declined proposal is not made again for the same subject.
pub const DECLINED_DAYS: i64 = 7;
const POST_SUBJECT: &str = "week";

/// What a planned action is: its kind, the task type it makes, its subject.
fn planned_as(planned: &Planned) -> Option<(ActionKind, TaskType, String)> {
    Some(match planned {
        Planned::Warning => return None,
        Planned::Followup { lead_id, .. } => (ActionKind::CreateFollowupTask, TaskType::LeadFollowup, lead_id.to_string()),
        Planned::Post => (ActionKind::CreatePostTask, TaskType::SocialMediaPost, POST_SUBJECT.to_string()),
        Planned::ClientFollowup { alert_id, .. } => (ActionKind::CreateClientFollowup, TaskType::ClientFollowup, alert_id.to_string()),
        Planned::DealFollowUp { deal_id, .. } => (ActionKind::SetDealFollowUp, TaskType::SponsorFollowup, deal_id.to_string()),
    })
}

/// The action a plan is, before anything is done about it (a warning is recorded as it is).
fn act_kind(planned: &Planned) -> Action {
    match planned_as(planned) {
        None => Action {
            kind: ActionKind::RecordWarning,
            subject: None,
            task_id: None,
            outcome: Outcome::Recorded,
        },
        Some((kind, _, subject)) => Action {
            kind,
            subject: Some(subject),
            task_id: None,
            outcome: Outcome::Recorded,
        },
    }
}

async fn act(run: &Run<'_>, kind: InsightKind, planned: &Planned) -> AppResult<Action> {
    let (app, tenant, org, hour_start, declined) = (run.app, run.tenant, run.org, run.hour_start, run.declined);
    let Some((action_kind, task_type, subject)) = planned_as(planned) else {
        return Ok(act_kind(planned));
    };
    let not_taken = |outcome| Action {
        kind: action_kind,
        subject: Some(subject.clone()),
        task_id: None,
        outcome,
    };
    // Checked before anything is written or asked of a model: under `off` the agent only
    // records what it saw, and what a person turned down is not proposed again for a while.
    // Setting a deal's follow-up is a follow-up (its mail to the sponsor is then under the
    // policy for emails).
    let policy = match planned {
        Planned::DealFollowUp { .. } => org.policy.follow_up,
        _ => org.policy.for_kind(task_type),
    };
    if policy == Autonomy::Off {
        return Ok(not_taken(Outcome::PolicyOff));
    }
    if declined.iter().any(|(t, s)| *t == task_type && *s == subject) {
        return Ok(not_taken(Outcome::RecentlyDeclined));
    }
    if let Planned::ClientFollowup {
        client_id,
        alert_id,
        owner_id,
        why,
    } = planned
    {
        // A person's to-do (it spends no quota), one per alert ever: its id is the alert's.
        let for_user = owner_id.clone().unwrap_or_else(UserId::background);
        let input = json!({"clientId": client_id, "alertId": alert_id, "note": format!("The agent found this client at risk: {why}.")});
        let mut task = tasks::made_by_chief(TaskType::ClientFollowup, app.clock.now(), &for_user, input)?;
        task.id = clients::alerts::followup_task_id(alert_id);
        let outcome = match tasks::insert(app, tenant, org.plan, &task).await {
            Ok(()) => Outcome::Created,
            Err(AppError::Conflict { .. }) => Outcome::AlreadyCreated,
            Err(e) => return Err(e),
        };
        return Ok(Action {
            kind: action_kind,
            subject: Some(subject),
            task_id: Some(task.id),
            outcome,
        });
    }
    if let Planned::DealFollowUp { deal_id, .. } = planned {
        // Idempotent: a deal with a follow-up set (or touched since) is not quiet, so a re-run
        // finds it taken.
        let set = crate::deals::followups::set_by_agent(app, tenant, deal_id).await?;
        return Ok(Action {
            kind: action_kind,
            subject: Some(subject),
            task_id: None,
            outcome: if set { Outcome::Created } else { Outcome::AlreadyCreated },
        });
    }
    if org.used(usage::Metric::Tasks) >= org.plan.limit(usage::Metric::Tasks) {
        return Ok(not_taken(Outcome::OverQuota));
    }
    let new_task = match planned {
        Planned::Followup { lead_id, why } => NewTask {
            kind: TaskType::LeadFollowup,
            input: json!({"leadId": lead_id, "note": format!("The agent found this lead {}: {why}.", kind.as_str())}),
            run_at: None,
        },
        _ => NewTask {
            kind: TaskType::SocialMediaPost,
            input: json!({"topic": post_topic(app, tenant, org, run.budget.as_ref()).await}),
            run_at: None,
        },
    };
    let mut task = tasks::new_task(app.clock.now(), &UserId::background(), Origin::Agent, new_task)?;
    task.id = action_task_id(tenant.org_id(), hour_start, kind.as_str(), &subject);
    let outcome = match tasks::insert(app, tenant, org.plan, &task).await {
        Ok(()) => Outcome::Created,
        Err(AppError::Conflict { .. }) => Outcome::AlreadyCreated,
        Err(e) => return Err(e),
    };
    Ok(Action {
        kind: action_kind,
        subject: Some(subject),
        task_id: Some(task.id),
        outcome,
    })
}

/// What to post about: the strategy model's pick from the org's goals, or, without AI calls
/// left or a provider, the first goal (or the industry).
async fn post_topic(app: &App, tenant: &TenantCtx, org: &OrgContext, budget: Option<&budget::Budget>) -> String {
    let fallback = org
        .config
        .goals
        .first()
        .cloned()
        .or_else(|| org.config.industry.clone())
        .unwrap_or_else(|| format!("what {} is working on this week", org.org.name));
    let ask = "Propose one topic for this week's social post, in one sentence, that serves the goals.".to_string();
    match org.ask(app, tenant, AiUse::Strategy, ask, "agent_post_topic").await {
        Ok(completion) => {
            if let Some(budget) = budget {
                let prices = &app.settings.ai_prices;
                let cost = prices.cost_micro_usd(&completion.model, completion.prompt_tokens, completion.completion_tokens);
                budget.spent(app, cost.unwrap_or(0)).await;
            }
            model::text("topic", &completion.text, 1_000).unwrap_or(fallback)
        }
        Err(e) => {
            tracing::info!(error = %e, "post topic without the AI");
            fallback
        }
    }
}

/// The org's insights, newest hour first.
pub async fn insights(app: &App, tenant: &TenantCtx, limit: usize, cursor: Option<String>) -> AppResult<(Vec<Insight>, Option<String>)> {
    model::newest_first(&*app.table, tenant.pk(), keys::INSIGHT_PREFIX.into(), limit, cursor).await
}

/// A job older than this is superseded by a newer hour's.
const LATE_AFTER_HOURS: i64 = 2;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum JobOutcome {
    Analysed {
        org_id: OrgId,
        insights: usize,
        actions_created: usize,
    },
    Skipped {
        reason: &'static str,
    },
}

/// `job-analyze`: one org's hourly analysis. An error brings the message back; a job for a
/// gone org, an org no longer on a paying plan, or a long-past hour is done with nothing.
pub async fn run_job(app: &App, body: &str) -> AppResult<JobOutcome> {
    let job: AnalysisJob = serde_json::from_str(body).map_err(|e| AppError::validation(format!("not an analysis job: {e}")))?;
    crate::ids::check(&job.org_id, "orgId")?;
    let now = app.clock.now();
    let job_hour = hour_start(&job.hour).ok_or_else(|| AppError::validation("hour is not YYYY-MM-DDTHH"))?;
    if now - job_hour > Duration::hours(LATE_AFTER_HOURS) {
        return Ok(JobOutcome::Skipped {
            reason: "a newer hour's analysis supersedes this one",
        });
    }
    let tenant = TenantCtx::background(&job.org_id);
    let keys: Vec<_> = OrgContext::sort_keys(now).into_iter().map(|sk| tenant.key(sk)).collect();
    let items = app.table.get_many(&keys).await?;
    if items.first().is_none_or(Option::is_none) {
        return Ok(JobOutcome::Skipped {
            reason: "the organisation is gone",
        });
    }
    let org = OrgContext::from_items(items, now)?;
    if !org.plan.hourly_agent() {
        return Ok(JobOutcome::Skipped {
            reason: "the plan no longer has the hourly agent",
        });
    }
    let report = analyze_hour(app, &tenant, &org, Trigger::Schedule, &job.hour).await?;
    Ok(JobOutcome::Analysed {
        org_id: job.org_id,
        insights: report.insights.len(),
        actions_created: report
            .insights
            .iter()
            .flat_map(|i| &i.actions)
            .filter(|a| a.outcome == Outcome::Created)
            .count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leads::LeadFields;

    fn org_in(time_zone: &str) -> Org {
        let at = "2026-01-01T00:00:00Z".parse().unwrap();
        Org {
            id: crate::ids::OrgId::generate(),
            name: "Zoned".into(),
            plan: crate::usage::Plan::Pro,
            plan_until: None,
            time_zone: time_zone.into(),
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn the_week_starts_at_monday_midnight_in_the_orgs_time_zone() {
        let wednesday: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let expect = |at: &str| at.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(week_start(&org_in("Europe/Paris"), wednesday), expect("2026-11-22T23:00:00Z"));
        assert_eq!(week_start(&org_in("America/New_York"), wednesday), expect("2026-11-23T05:00:00Z"));
        assert_eq!(week_start(&org_in("UTC"), wednesday), expect("2026-11-23T00:00:00Z"));
        // Early on Monday in UTC is still Sunday in New York: that week began six days before.
        let monday_early: DateTime<Utc> = "2026-11-23T03:00:00Z".parse().unwrap();
        assert_eq!(
            week_start(&org_in("America/New_York"), monday_early),
            expect("2026-11-16T05:00:00Z")
        );
        // A zone the store should not hold falls back to UTC.
        assert_eq!(week_start(&org_in("Nowhere/Atlantis"), wednesday), expect("2026-11-23T00:00:00Z"));
    }
    use crate::executor::tests::{ORG, org, used};
    use crate::executor::tick;
    use crate::tasks::autonomy::AutonomyPolicy;
    use crate::testing::{self, TestApp};

    async fn stale_lead(t: &TestApp, tenant: &TenantCtx) -> crate::ids::LeadId {
        let fields = LeadFields {
            name: Some("Quiet".into()),
            email: Some(Some("quiet@lead.io".into())),
            ..LeadFields::default()
        };
        let lead = crate::leads::new_lead(&t.app, tenant, fields, None).unwrap();
        crate::leads::insert(&t.app, tenant, &lead).await.unwrap();
        t.clock.advance(Duration::days(ceo::STALE_DAYS + 1));
        lead.id
    }

    async fn set_policy(t: &TestApp, post: Autonomy, follow_up: Autonomy) {
        let policy = AutonomyPolicy {
            post,
            follow_up,
            version: 1,
            ..AutonomyPolicy::default()
        };
        let item = to_item(&keys::org_pk(&ORG.into()), keys::AUTONOMY_SK, &policy).unwrap();
        t.app.table.put(item, None).await.unwrap();
    }

    async fn analyse(t: &TestApp, tenant: &TenantCtx) -> AnalysisReport {
        let now = t.app.clock.now();
        let keys: Vec<_> = OrgContext::sort_keys(now).into_iter().map(|sk| tenant.key(sk)).collect();
        let org = OrgContext::from_items(t.app.table.get_many(&keys).await.unwrap(), now).unwrap();
        analyze_hour(&t.app, tenant, &org, Trigger::Schedule, &hour(now)).await.unwrap()
    }

    fn outcomes(report: &AnalysisReport, kind: InsightKind) -> Vec<Outcome> {
        let insight = report
            .insights
            .iter()
            .find(|i| i.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} insight"));
        insight.actions.iter().map(|a| a.outcome).collect()
    }

    async fn task_count(t: &TestApp) -> usize {
        let q = Query::partition(keys::org_pk(&ORG.into())).prefix(keys::TASK_PREFIX);
        t.app.table.query(q).await.unwrap().items.len()
    }

    async fn set_budget(t: &TestApp, actions: Option<u32>, usd: Option<f64>) {
        let policy = AutonomyPolicy {
            follow_up: Autonomy::Auto,
            agent_daily_actions: actions,
            agent_daily_usd: usd,
            version: 1,
            ..AutonomyPolicy::default()
        };
        let item = to_item(&keys::org_pk(&ORG.into()), keys::AUTONOMY_SK, &policy).unwrap();
        t.app.table.put(item, None).await.unwrap();
    }

    fn count(outcomes: &[Outcome], outcome: Outcome) -> usize {
        outcomes.iter().filter(|o| **o == outcome).count()
    }

    #[tokio::test]
    async fn past_its_daily_budget_the_scheduled_agent_records_what_it_sees_and_acts_again_the_next_day() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        for _ in 0..3 {
            stale_lead(&t, &tenant).await;
        }
        set_budget(&t, Some(1), None).await;
        let report = analyse(&t, &tenant).await;
        let seen = outcomes(&report, InsightKind::StaleLeads);
        assert_eq!(
            (count(&seen, Outcome::Created), count(&seen, Outcome::OverBudget)),
            (1, 2),
            "{seen:?}"
        );
        assert_eq!(task_count(&t).await, 1);
        // A duplicated job in the same hour takes nothing more.
        analyse(&t, &tenant).await;
        assert_eq!(task_count(&t).await, 1);
        t.clock.advance(Duration::days(1));
        let tomorrow = analyse(&t, &tenant).await;
        assert_eq!(count(&outcomes(&tomorrow, InsightKind::StaleLeads), Outcome::Created), 1);
        assert_eq!(task_count(&t).await, 2);
    }

    #[tokio::test]
    async fn a_spent_ai_budget_or_the_free_plan_stops_the_scheduled_agent_but_not_a_members_analysis() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        stale_lead(&t, &tenant).await;
        set_budget(&t, None, Some(0.0)).await;
        let report = analyse(&t, &tenant).await;
        assert_eq!(outcomes(&report, InsightKind::StaleLeads), [Outcome::OverBudget]);
        assert_eq!(task_count(&t).await, 0);
        let now = t.app.clock.now();
        let keys: Vec<_> = OrgContext::sort_keys(now).into_iter().map(|sk| tenant.key(sk)).collect();
        let mut ctx = OrgContext::from_items(t.app.table.get_many(&keys).await.unwrap(), now).unwrap();
        ctx.plan = Plan::Free;
        let scheduled = analyze_hour(&t.app, &tenant, &ctx, Trigger::Schedule, &hour(now)).await.unwrap();
        assert_eq!(
            outcomes(&scheduled, InsightKind::StaleLeads),
            [Outcome::OverBudget],
            "free: the agent is off"
        );
        let asked = analyze_hour(&t.app, &tenant, &ctx, Trigger::Member, &hour(now)).await.unwrap();
        // The hour's insight holds every run's actions: the member's is the last.
        assert_eq!(outcomes(&asked, InsightKind::StaleLeads).last(), Some(&Outcome::Created));
    }

    #[test]
    fn an_org_may_set_a_lower_budget_than_its_plans_never_a_higher_one() {
        let policy = AutonomyPolicy {
            agent_daily_actions: Some(500),
            agent_daily_usd: Some(0.25),
            ..AutonomyPolicy::default()
        };
        assert_eq!(policy.agent_budget(Plan::Pro), (20, 250_000));
        assert_eq!(policy.agent_budget(Plan::Enterprise), (200, 250_000));
        assert_eq!(AutonomyPolicy::default().agent_budget(Plan::Enterprise), (200, 10_000_000));
        assert_eq!(AutonomyPolicy::default().agent_budget(Plan::Free), (0, 0));
    }

    #[tokio::test]
    async fn under_an_off_policy_the_agent_records_what_it_saw_and_creates_and_asks_nothing() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        stale_lead(&t, &tenant).await;
        set_policy(&t, Autonomy::Off, Autonomy::Off).await;
        for _ in 0..3 {
            let report = analyse(&t, &tenant).await;
            assert_eq!(outcomes(&report, InsightKind::StaleLeads), [Outcome::PolicyOff]);
            assert_eq!(outcomes(&report, InsightKind::LowContent), [Outcome::PolicyOff]);
            t.clock.advance(Duration::hours(1));
        }
        assert_eq!(task_count(&t).await, 0, "nothing proposed");
        assert_eq!(used(&t, usage::Metric::AiCalls).await, 0, "no model asked for a post topic");
        assert_eq!(used(&t, usage::Metric::Tasks).await, 0);
    }

    #[tokio::test]
    async fn a_proposal_turned_down_is_not_made_again_for_the_same_subject_for_seven_days() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        let lead = stale_lead(&t, &tenant).await;
        set_policy(&t, Autonomy::Approval, Autonomy::Approval).await;
        let first = analyse(&t, &tenant).await;
        assert_eq!(outcomes(&first, InsightKind::StaleLeads), [Outcome::Created]);
        assert_eq!(outcomes(&first, InsightKind::LowContent), [Outcome::Created]);
        // The follow-up waits before it is written; the post is written, then waits.
        let run = tick(&t.app).await.unwrap();
        assert_eq!((run.awaiting_approval, run.claimed), (1, 1), "{run:?}");
        let written = drain_tasks(&t).await;
        assert!(
            matches!(written[..], [crate::runner::RunOutcome::AwaitingApproval { .. }]),
            "{written:?}"
        );
        let admin = TenantCtx::background(&ORG.into());
        for item in t
            .app
            .table
            .query(Query::partition(keys::org_pk(&ORG.into())).prefix(keys::TASK_PREFIX))
            .await
            .unwrap()
            .items
        {
            let task: tasks::Task = from_item(item).unwrap();
            tasks::decide(&t.app, &admin, task, false).await.unwrap();
        }
        assert_eq!(used(&t, usage::Metric::Tasks).await, 0, "turned-down proposals cost nothing");
        assert_eq!(used(&t, usage::Metric::Posts).await, 0);

        t.clock.advance(Duration::hours(1));
        let later = analyse(&t, &tenant).await;
        assert_eq!(outcomes(&later, InsightKind::StaleLeads), [Outcome::RecentlyDeclined]);
        assert_eq!(outcomes(&later, InsightKind::LowContent), [Outcome::RecentlyDeclined]);
        assert_eq!(task_count(&t).await, 2);

        t.clock.advance(Duration::days(DECLINED_DAYS));
        let week_on = analyse(&t, &tenant).await;
        let stale = week_on.insights.iter().find(|i| i.kind == InsightKind::StaleLeads).unwrap();
        assert_eq!(stale.actions[0].outcome, Outcome::Created);
        assert_eq!(stale.actions[0].subject.as_deref(), Some(lead.as_str()));
    }

    #[tokio::test]
    async fn the_agents_proposals_spend_a_task_when_they_run_not_when_proposed() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        stale_lead(&t, &tenant).await;
        set_policy(&t, Autonomy::Approval, Autonomy::Auto).await;
        let report = analyse(&t, &tenant).await;
        assert_eq!(outcomes(&report, InsightKind::StaleLeads), [Outcome::Created]);
        assert_eq!(used(&t, usage::Metric::Tasks).await, 0, "nothing spent when proposed");
        let run = tick(&t.app).await.unwrap();
        assert_eq!(run.claimed, 2, "the follow-up runs; the post is written for review: {run:?}");
        assert_eq!(used(&t, usage::Metric::Tasks).await, 2);
        let outcomes = drain_tasks(&t).await;
        let held = outcomes
            .iter()
            .find_map(|o| match o {
                crate::runner::RunOutcome::AwaitingApproval { task_id } => Some(task_id.clone()),
                _ => None,
            })
            .expect("the post's text waits for a person");
        let item = t
            .app
            .table
            .get(&TenantCtx::background(&ORG.into()).key(keys::task_sk(&held)))
            .await
            .unwrap();
        let draft = tasks::task_from(item).unwrap();
        assert!(draft.draft.is_some());
        tasks::decide(&t.app, &TenantCtx::background(&ORG.into()), draft, false)
            .await
            .unwrap();
        assert_eq!(used(&t, usage::Metric::Tasks).await, 1, "the rejected post gave its task back");
        assert_eq!(used(&t, usage::Metric::Posts).await, 0);
    }

    async fn drain_tasks(t: &TestApp) -> Vec<crate::runner::RunOutcome> {
        let messages = t.app.queue.receive(crate::ports::queue::QueueName::Tasks, 10).await.unwrap();
        let mut outcomes = Vec::new();
        for message in messages {
            outcomes.push(crate::runner::run(&t.app, &message.body).await.unwrap());
        }
        outcomes
    }
}
