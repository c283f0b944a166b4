//! The hourly agent. `fan_out` (job-agent, every hour) lists the orgs on paying plans through
//! the plan index and enqueues one analysis per org; `analyze` (job-analyze, or a member by
//! hand) looks over one org, stores what it finds as insights with a confidence, reasons and
//! inputs, and acts on those above `ACT_ABOVE` by creating tasks or recording a warning.
//!
//! Idempotent within the hour: insights are keyed by hour and kind, and every task the agent
//! creates has an id derived from (org, hour, kind, subject) and is written only if absent,
//! so a re-run, a duplicate job or a second fan-out in the same hour creates nothing twice.

use crate::app::App;
use crate::ceo::{self, OrgContext, is_open, is_stale};
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::leads::Lead;
use crate::leads::score::{self, HOT};
use crate::model::{self, from_item, to_item};
use crate::orgs::Org;
use crate::orgs::access::{BACKGROUND_USER, TenantCtx};
use crate::ports::ai::AiUse;
use crate::ports::events::DomainEvent;
use crate::ports::queue::QueueName;
use crate::ports::social::Published;
use crate::ports::table::{Index, Query};
use crate::tasks::autonomy::Autonomy;
use crate::tasks::{self, NewTask, Origin, TaskStatus, TaskType};
use crate::usage::{self, Plan};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Insights at or below this confidence are recorded, not acted on.
pub const ACT_ABOVE: f64 = 0.75;
/// More pending tasks than this is a backlog.
pub const BACKLOG_THRESHOLD: usize = 10;
/// A hot lead counts as not contacted after this many days without activity.
pub const HOT_UNTOUCHED_DAYS: i64 = 3;
/// Follow-ups the agent creates per insight and run at most.
pub const MAX_FOLLOWUPS: usize = 5;
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
    pub org_id: String,
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
            let page = app
                .table
                .query(
                    Query::partition(keys::plan_index_pk(plan.as_str()))
                        .on(Index::Plan)
                        .limit(FAN_OUT_PAGE)
                        .after(cursor),
                )
                .await?;
            report.index_pages += 1;
            let mut jobs = Vec::with_capacity(page.items.len());
            for item in page.items {
                let org: Org = from_item(item)?;
                report.orgs_seen += 1;
                if !org.plan_at(now).hourly_agent() {
                    report.orgs_lapsed += 1;
                    continue;
                }
                let job = AnalysisJob {
                    org_id: org.id,
                    hour: report.hour.clone(),
                };
                jobs.push(serde_json::to_string(&job).map_err(|e| AppError::Internal(e.to_string()))?);
            }
            if !jobs.is_empty() {
                report.batches += app
                    .queue
                    .send(QueueName::Analysis, &jobs)
                    .await
                    .map_err(|e| AppError::Unavailable(e.to_string()))?;
                report.messages += jobs.len();
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Member,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// `create_followup_task`, `create_post_task` or `record_warning`.
    pub kind: String,
    pub subject: Option<String>,
    pub task_id: Option<String>,
    /// `created`, `already_created`, `recorded`, or why it was not taken: `policy_off` (the
    /// autonomy policy has this kind off), `recently_declined` (a person turned down the same
    /// proposal within `DECLINED_DAYS`), `over_quota` (no task left this month).
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Insight {
    /// `stale_leads`, `low_content`, `task_backlog`, `hot_leads`, `no_new_leads`.
    pub kind: String,
    pub hour: String,
    pub confidence: f64,
    pub reasons: Vec<String>,
    pub inputs: Value,
    pub acted: bool,
    pub actions: Vec<Action>,
    pub trigger: Trigger,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisReport {
    pub org_id: String,
    pub hour: String,
    pub leads_scored: usize,
    pub insights: Vec<Insight>,
    /// The AI CEO's note on the findings, for an analysis a member asked for.
    pub summary: Option<Value>,
}

/// A finding before it is stored: what to act on, if anything.
struct Finding {
    kind: &'static str,
    confidence: f64,
    reasons: Vec<String>,
    inputs: Value,
    plan: Vec<Planned>,
}

enum Planned {
    Followup { lead_id: String, why: String },
    Post,
    Warning,
}

/// The week so far in the org's time zone (from Monday 00:00).
fn week_start(org: &Org, now: DateTime<Utc>) -> DateTime<Utc> {
    let tz: chrono_tz::Tz = org.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let local = now.with_timezone(&tz);
    let monday = local.date_naive() - Duration::days(i64::from(local.weekday().num_days_from_monday()));
    monday
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| tz.from_local_datetime(&midnight).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now - Duration::days(7))
}

/// A task id fixed by what it is for: the same (org, hour, kind, subject) gives the same id.
fn action_task_id(org_id: &str, hour_start: DateTime<Utc>, kind: &str, subject: &str) -> String {
    let digest = Sha256::digest(format!("{org_id}|{}|{kind}|{subject}", hour(hour_start)).as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    ulid::Ulid::from_parts(hour_start.timestamp_millis() as u64, u128::from_be_bytes(random)).to_string()
}

fn parse_time(at: &str) -> Option<DateTime<Utc>> {
    chrono::DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Utc))
}

fn hour_start(hour: &str) -> Option<DateTime<Utc>> {
    parse_time(&format!("{hour}:00:00Z"))
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
/// lands on the same insights and tasks.
async fn analyze_hour(app: &App, tenant: &TenantCtx, org: &OrgContext, trigger: Trigger, this_hour: &str) -> AppResult<AnalysisReport> {
    let now = app.clock.now();
    let this_hour = this_hour.to_string();
    let hour_start = hour_start(&this_hour).unwrap_or(now);
    let recent = ceo::recent(app, tenant).await?;
    let numbers = ceo::Snapshot::of(&recent, org.usage.as_ref(), now);
    let ceo::Recent { mut leads, tasks, partial } = recent;
    let posts: Vec<Published> = app
        .table
        .query(
            Query::partition(tenant.pk())
                .prefix(keys::SOCIAL_POST_PREFIX)
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
    to_score.sort_by_key(|&i| leads[i].score.as_ref().map(|s| s.scored_at.clone()));
    to_score.retain(|&i| {
        leads[i]
            .score
            .as_ref()
            .is_none_or(|s| parse_time(&s.scored_at).is_none_or(|at| now - at > Duration::hours(24)))
    });
    to_score.truncate(RESCORE_PER_RUN);
    for &i in &to_score {
        let result = score::score_lead(app, tenant, leads[i].clone()).await?;
        leads[i].score = Some(score::StoredScore {
            value: result.score,
            scored_at: result.scored_at,
        });
    }

    let declined = recently_declined(&tasks, now);
    let open_followup_for: Vec<String> = tasks
        .iter()
        .filter(|t| t.kind == TaskType::LeadFollowup && !t.is_finished())
        .filter_map(|t| t.input.get("leadId").and_then(Value::as_str).map(str::to_string))
        .collect();
    let free = |lead: &&Lead| !open_followup_for.contains(&lead.id);
    let mut findings = Vec::new();

    let mut stale: Vec<&Lead> = leads.iter().filter(|l| is_stale(l, now)).filter(free).collect();
    stale.sort_by(|a, b| {
        a.last_activity_at
            .as_deref()
            .unwrap_or(&a.created_at)
            .cmp(b.last_activity_at.as_deref().unwrap_or(&b.created_at))
    });
    if !stale.is_empty() {
        findings.push(Finding {
            kind: "stale_leads",
            confidence: 0.9,
            reasons: vec![format!(
                "{} open leads have had no activity for {} days and no follow-up planned",
                stale.len(),
                ceo::STALE_DAYS
            )],
            inputs: json!({"staleLeadIds": stale.iter().map(|l| &l.id).collect::<Vec<_>>(), "staleDays": ceo::STALE_DAYS, "leadsRead": leads.len(), "moreLeadsOrTasks": partial}),
            plan: stale
                .iter()
                .take(MAX_FOLLOWUPS)
                .map(|l| Planned::Followup {
                    lead_id: l.id.clone(),
                    why: format!("no activity since {}", l.last_activity_at.as_deref().unwrap_or(&l.created_at)),
                })
                .collect(),
        });
    }

    let stale_ids: Vec<&str> = stale.iter().map(|l| l.id.as_str()).collect();
    let mut hot: Vec<&Lead> = leads
        .iter()
        .filter(|l| is_open(l) && l.score.as_ref().is_some_and(|s| s.value >= HOT))
        .filter(|l| {
            l.last_activity_at
                .as_deref()
                .and_then(parse_time)
                .is_none_or(|at| now - at > Duration::days(HOT_UNTOUCHED_DAYS))
        })
        .filter(free)
        .filter(|l| !stale_ids.contains(&l.id.as_str()))
        .collect();
    hot.sort_by_key(|l| std::cmp::Reverse(l.score.as_ref().map(|s| s.value)));
    if !hot.is_empty() {
        findings.push(Finding {
            kind: "hot_leads",
            confidence: 0.8,
            reasons: vec![format!(
                "{} leads score {HOT} or more and nobody has contacted them for {HOT_UNTOUCHED_DAYS} days",
                hot.len()
            )],
            inputs: json!({"hotLeads": hot.iter().map(|l| json!({"id": l.id, "score": l.score.as_ref().map(|s| s.value)})).collect::<Vec<_>>(), "threshold": HOT}),
            plan: hot
                .iter()
                .take(MAX_FOLLOWUPS)
                .map(|l| Planned::Followup {
                    lead_id: l.id.clone(),
                    why: format!("scores {}", l.score.as_ref().map_or(0, |s| s.value)),
                })
                .collect(),
        });
    }

    let week = week_start(&org.org, now);
    let posts_this_week = posts
        .iter()
        .filter(|p| parse_time(&p.published_at).is_some_and(|at| at >= week))
        .count();
    let goal = org.config.posts_per_week as usize;
    let post_planned = tasks.iter().any(|t| t.kind == TaskType::SocialMediaPost && !t.is_finished());
    if posts_this_week < goal && !post_planned {
        findings.push(Finding {
            kind: "low_content",
            confidence: 0.8,
            reasons: vec![format!(
                "{posts_this_week} posts this week against a goal of {goal}, and none planned"
            )],
            inputs: json!({"postsThisWeek": posts_this_week, "goal": goal, "weekStart": crate::clock::timestamp(week)}),
            plan: vec![Planned::Post],
        });
    }

    let pending = tasks.iter().filter(|t| t.status == TaskStatus::Pending).count();
    if pending > BACKLOG_THRESHOLD {
        findings.push(Finding {
            kind: "task_backlog",
            confidence: 0.85,
            reasons: vec![format!("{pending} tasks are pending, more than {BACKLOG_THRESHOLD}")],
            inputs: json!({"pendingTasks": pending, "threshold": BACKLOG_THRESHOLD}),
            plan: vec![Planned::Warning],
        });
    }

    let newest_lead_at = leads.iter().filter_map(|l| parse_time(&l.created_at)).max();
    if !leads.is_empty() && newest_lead_at.is_some_and(|at| now - at > Duration::days(ceo::STALE_DAYS)) {
        findings.push(Finding {
            kind: "no_new_leads",
            confidence: 0.6,
            reasons: vec![format!("no new lead for {} days", ceo::STALE_DAYS)],
            inputs: json!({"newestLeadAt": newest_lead_at.map(crate::clock::timestamp)}),
            plan: Vec::new(),
        });
    }

    let existing = app
        .table
        .query(Query::partition(tenant.pk()).prefix(format!("{}{this_hour}#", keys::INSIGHT_PREFIX)))
        .await?
        .items;
    let existing: Vec<Insight> = existing.into_iter().map(from_item).collect::<AppResult<_>>()?;
    let mut insights = Vec::new();
    let mut events = Vec::new();
    for finding in findings {
        let acted = finding.confidence > ACT_ABOVE;
        let mut actions = Vec::new();
        if acted {
            for planned in &finding.plan {
                actions.push(act(app, tenant, org, hour_start, finding.kind, planned, &declined).await?);
            }
        }
        let stamp = crate::clock::timestamp(now);
        let before = existing.iter().find(|i| i.kind == finding.kind);
        // Actions taken earlier in the hour stay on record beside this run's.
        let mut all_actions = before.map(|b| b.actions.clone()).unwrap_or_default();
        for action in actions {
            if action.outcome == "created" {
                events.push(DomainEvent {
                    id: format!(
                        "agent.acted:{}:{this_hour}:{}:{}",
                        tenant.org_id(),
                        finding.kind,
                        action.subject.as_deref().unwrap_or("-")
                    ),
                    source: "chief.agent".into(),
                    detail_type: "agent.acted".into(),
                    org_id: tenant.org_id().to_string(),
                    at: stamp.clone(),
                    detail: json!({"insight": finding.kind, "confidence": finding.confidence, "action": action}),
                });
            }
            if !all_actions
                .iter()
                .any(|a: &Action| a.kind == action.kind && a.subject == action.subject && a.outcome == action.outcome)
            {
                all_actions.push(action);
            }
        }
        let insight = Insight {
            kind: finding.kind.into(),
            hour: this_hour.clone(),
            confidence: finding.confidence,
            reasons: finding.reasons,
            inputs: finding.inputs,
            acted,
            actions: all_actions,
            trigger,
            created_at: before.map_or(stamp.clone(), |b| b.created_at.clone()),
            updated_at: stamp,
        };
        app.table
            .put(to_item(&tenant.pk(), &keys::insight_sk(&this_hour, finding.kind), &insight)?, None)
            .await?;
        insights.push(insight);
    }
    if !events.is_empty()
        && let Err(e) = app.events.publish(&events).await
    {
        tracing::warn!(error = %e, "agent.acted not published");
    }

    // What was found and done is stored already: a summary that cannot be had says why
    // rather than failing the analysis.
    let summary = match trigger {
        Trigger::Member => Some(
            summarise(app, tenant, org, &numbers, &insights)
                .await
                .unwrap_or_else(|e| json!({"error": {"code": e.code(), "message": e.to_string()}})),
        ),
        Trigger::Schedule => None,
    };
    Ok(AnalysisReport {
        org_id: tenant.org_id().to_string(),
        hour: this_hour,
        leads_scored: to_score.len(),
        insights,
        summary,
    })
}

/// The strategy model's short note on the findings (one AI call of the quota).
async fn summarise(app: &App, tenant: &TenantCtx, org: &OrgContext, numbers: &ceo::Snapshot, insights: &[Insight]) -> AppResult<Value> {
    let findings = if insights.is_empty() {
        "Nothing needs attention.".to_string()
    } else {
        insights
            .iter()
            .map(|i| format!("{} ({:.2}): {}", i.kind, i.confidence, i.reasons.join("; ")))
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
        .filter(|t| {
            t.finished_at
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|at| now - at < Duration::days(DECLINED_DAYS))
        })
        .map(|t| (t.kind, proposal_subject(t.kind, &t.input)))
        .collect()
}

/// What a proposal is about: the lead of a follow-up; a post is about the week.
fn proposal_subject(kind: TaskType, input: &Value) -> String {
    match kind {
        TaskType::LeadFollowup => input.get("leadId").and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => POST_SUBJECT.to_string(),
    }
}

/// How long a declined proposal is not made again for the same subject.
pub const DECLINED_DAYS: i64 = 7;
const POST_SUBJECT: &str = "week";

async fn act(
    app: &App,
    tenant: &TenantCtx,
    org: &OrgContext,
    hour_start: DateTime<Utc>,
    kind: &str,
    planned: &Planned,
    declined: &[(TaskType, String)],
) -> AppResult<Action> {
    let (action_kind, task_type, subject) = match planned {
        Planned::Warning => {
            return Ok(Action {
                kind: "record_warning".into(),
                subject: None,
                task_id: None,
                outcome: "recorded".into(),
            });
        }
        Planned::Followup { lead_id, .. } => ("create_followup_task", TaskType::LeadFollowup, lead_id.clone()),
        Planned::Post => ("create_post_task", TaskType::SocialMediaPost, POST_SUBJECT.to_string()),
    };
    let not_taken = |outcome: &str| Action {
        kind: action_kind.into(),
        subject: Some(subject.clone()),
        task_id: None,
        outcome: outcome.into(),
    };
    // Checked before anything is written or asked of a model: under `off` the agent only
    // records what it saw, and what a person turned down is not proposed again for a while.
    if org.policy.for_kind(task_type) == Autonomy::Off {
        return Ok(not_taken("policy_off"));
    }
    if declined.iter().any(|(t, s)| *t == task_type && *s == subject) {
        return Ok(not_taken("recently_declined"));
    }
    if org.used(usage::Metric::Tasks) >= org.plan.limit(usage::Metric::Tasks) {
        return Ok(not_taken("over_quota"));
    }
    let new_task = match planned {
        Planned::Followup { lead_id, why } => NewTask {
            kind: TaskType::LeadFollowup,
            input: json!({"leadId": lead_id, "note": format!("The agent found this lead {kind}: {why}.")}),
            run_at: None,
        },
        _ => NewTask {
            kind: TaskType::SocialMediaPost,
            input: json!({"topic": post_topic(app, tenant, org).await}),
            run_at: None,
        },
    };
    let mut task = tasks::new_task(app.clock.now(), BACKGROUND_USER, Origin::Agent, new_task)?;
    task.id = action_task_id(tenant.org_id(), hour_start, kind, &subject);
    let outcome = match tasks::insert(app, tenant, org.plan, &task).await {
        Ok(()) => "created",
        Err(AppError::Conflict { .. }) => "already_created",
        Err(e) => return Err(e),
    };
    Ok(Action {
        kind: action_kind.into(),
        subject: Some(subject),
        task_id: Some(task.id),
        outcome: outcome.into(),
    })
}

/// What to post about: the strategy model's pick from the org's goals, or, without AI calls
/// left or a provider, the first goal (or the industry).
async fn post_topic(app: &App, tenant: &TenantCtx, org: &OrgContext) -> String {
    let fallback = org
        .config
        .goals
        .first()
        .cloned()
        .or_else(|| org.config.industry.clone())
        .unwrap_or_else(|| format!("what {} is working on this week", org.org.name));
    let ask = "Propose one topic for this week's social post, in one sentence, that serves the goals.".to_string();
    match org.ask(app, tenant, AiUse::Strategy, ask, "agent_post_topic").await {
        Ok(completion) => model::text("topic", &completion.text, 1_000).unwrap_or(fallback),
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
        org_id: String,
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
    model::check_id(&job.org_id, "orgId")?;
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
    if items[0].is_none() {
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
            .filter(|a| a.outcome == "created")
            .count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leads::LeadFields;
    use crate::tasks::autonomy::AutonomyPolicy;
    use crate::tasks::executor::tests::{ORG, org, used};
    use crate::tasks::executor::tick;
    use crate::testing::{self, TestApp};

    async fn stale_lead(t: &TestApp, tenant: &TenantCtx) -> String {
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
        let item = to_item(&keys::org_pk(ORG), keys::AUTONOMY_SK, &policy).unwrap();
        t.app.table.put(item, None).await.unwrap();
    }

    async fn analyse(t: &TestApp, tenant: &TenantCtx) -> AnalysisReport {
        let now = t.app.clock.now();
        let keys: Vec<_> = OrgContext::sort_keys(now).into_iter().map(|sk| tenant.key(sk)).collect();
        let org = OrgContext::from_items(t.app.table.get_many(&keys).await.unwrap(), now).unwrap();
        analyze_hour(&t.app, tenant, &org, Trigger::Schedule, &hour(now)).await.unwrap()
    }

    fn outcomes(report: &AnalysisReport, kind: &str) -> Vec<String> {
        let insight = report.insights.iter().find(|i| i.kind == kind).expect(kind);
        insight.actions.iter().map(|a| a.outcome.clone()).collect()
    }

    async fn task_count(t: &TestApp) -> usize {
        let q = Query::partition(keys::org_pk(ORG)).prefix(keys::TASK_PREFIX);
        t.app.table.query(q).await.unwrap().items.len()
    }

    #[tokio::test]
    async fn under_an_off_policy_the_agent_records_what_it_saw_and_creates_and_asks_nothing() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        stale_lead(&t, &tenant).await;
        set_policy(&t, Autonomy::Off, Autonomy::Off).await;
        for _ in 0..3 {
            let report = analyse(&t, &tenant).await;
            assert_eq!(outcomes(&report, "stale_leads"), ["policy_off"]);
            assert_eq!(outcomes(&report, "low_content"), ["policy_off"]);
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
        assert_eq!(outcomes(&first, "stale_leads"), ["created"]);
        assert_eq!(outcomes(&first, "low_content"), ["created"]);
        // The follow-up waits before it is written; the post is written, then waits.
        let run = tick(&t.app).await.unwrap();
        assert_eq!((run.awaiting_approval, run.claimed), (1, 1), "{run:?}");
        let written = drain_tasks(&t).await;
        assert!(
            matches!(written[..], [tasks::run::RunOutcome::AwaitingApproval { .. }]),
            "{written:?}"
        );
        let admin = TenantCtx::background(ORG);
        for item in t
            .app
            .table
            .query(Query::partition(keys::org_pk(ORG)).prefix(keys::TASK_PREFIX))
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
        assert_eq!(outcomes(&later, "stale_leads"), ["recently_declined"]);
        assert_eq!(outcomes(&later, "low_content"), ["recently_declined"]);
        assert_eq!(task_count(&t).await, 2);

        t.clock.advance(Duration::days(DECLINED_DAYS));
        let week_on = analyse(&t, &tenant).await;
        let stale = week_on.insights.iter().find(|i| i.kind == "stale_leads").unwrap();
        assert_eq!(stale.actions[0].outcome, "created");
        assert_eq!(stale.actions[0].subject.as_deref(), Some(lead.as_str()));
    }

    #[tokio::test]
    async fn the_agents_proposals_spend_a_task_when_they_run_not_when_proposed() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        stale_lead(&t, &tenant).await;
        set_policy(&t, Autonomy::Approval, Autonomy::Auto).await;
        let report = analyse(&t, &tenant).await;
        assert_eq!(outcomes(&report, "stale_leads"), ["created"]);
        assert_eq!(used(&t, usage::Metric::Tasks).await, 0, "nothing spent when proposed");
        let run = tick(&t.app).await.unwrap();
        assert_eq!(run.claimed, 2, "the follow-up runs; the post is written for review: {run:?}");
        assert_eq!(used(&t, usage::Metric::Tasks).await, 2);
        let outcomes = drain_tasks(&t).await;
        let held = outcomes
            .iter()
            .find_map(|o| match o {
                tasks::run::RunOutcome::AwaitingApproval { task_id } => Some(task_id.clone()),
                _ => None,
            })
            .expect("the post's text waits for a person");
        let item = t
            .app
            .table
            .get(&TenantCtx::background(ORG).key(keys::task_sk(&held)))
            .await
            .unwrap();
        let draft = tasks::task_from(item).unwrap();
        assert!(draft.draft.is_some());
        tasks::decide(&t.app, &TenantCtx::background(ORG), draft, false).await.unwrap();
        assert_eq!(used(&t, usage::Metric::Tasks).await, 1, "the rejected post gave its task back");
        assert_eq!(used(&t, usage::Metric::Posts).await, 0);
    }

    async fn drain_tasks(t: &TestApp) -> Vec<tasks::run::RunOutcome> {
        let messages = t.app.queue.receive(crate::ports::queue::QueueName::Tasks, 10).await.unwrap();
        let mut outcomes = Vec::new();
        for message in messages {
            outcomes.push(tasks::run::run(&t.app, &message.body).await.unwrap());
        }
        outcomes
    }
}
