//! The agent's detectors: pure functions from what an analysis saw to what it found. Each
//! answers a [`Finding`] with its confidence, reasons, inputs and the actions it would take;
//! whether to act is decided by the confidence alone ([`acts`]).

use crate::ceo::{self, is_open, is_stale};
use crate::clients::alerts::AlertReason;
use crate::clients::health::{Band, Trend};
use crate::ids::{AlertId, ClientId, DealId, LeadId, UserId};
use crate::leads::Lead;
use crate::leads::score::HOT;
use crate::tasks::{Task, TaskStatus, TaskType};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Insights at or below this confidence are recorded, not acted on.
pub const ACT_ABOVE: f64 = 0.75;
/// More pending tasks than this is a backlog.
pub const BACKLOG_THRESHOLD: usize = 10;
/// A hot lead counts as not contacted after this many days without activity.
pub const HOT_UNTOUCHED_DAYS: i64 = 3;
/// Follow-ups the agent creates per insight and run at most.
pub const MAX_FOLLOWUPS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InsightKind {
    StaleLeads,
    HotLeads,
    LowContent,
    TaskBacklog,
    NoNewLeads,
    ClientsAtRisk,
    DealsGoneQuiet,
}

impl InsightKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InsightKind::StaleLeads => "stale_leads",
            InsightKind::HotLeads => "hot_leads",
            InsightKind::LowContent => "low_content",
            InsightKind::TaskBacklog => "task_backlog",
            InsightKind::NoNewLeads => "no_new_leads",
            InsightKind::ClientsAtRisk => "clients_at_risk",
            InsightKind::DealsGoneQuiet => "deals_gone_quiet",
        }
    }
}

/// What one analysis saw of the org, read once (see `agent::gather`).
pub struct Seen {
    /// The newest leads, with fresh scores for those rescored this run.
    pub leads: Vec<Lead>,
    pub tasks: Vec<Task>,
    /// More leads or tasks exist than were read.
    pub partial: bool,
    pub posts_this_week: usize,
    /// Monday 00:00 in the org's time zone.
    pub week_start: DateTime<Utc>,
    /// The config's `postsPerWeek`.
    pub posts_goal: usize,
    /// Clients with an open alert, each with its newest open alert and its health now.
    pub clients_at_risk: Vec<ClientAtRisk>,
    /// Open deals with no activity for `QUIET_DAYS` and no follow-up set.
    pub quiet_deals: Vec<QuietDeal>,
}

/// A deal gone quiet lasts this many days without activity.
pub const QUIET_DAYS: i64 = 14;
/// How sure the agent is that a quiet deal needs a follow-up.
pub const QUIET_CONFIDENCE: f64 = 0.8;

/// An open deal nobody has touched for a while, as the agent sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuietDeal {
    pub deal_id: DealId,
    pub title: String,
    pub stage: crate::deals::Stage,
    pub last_activity_at: DateTime<Utc>,
}

/// A client with an open alert, as the agent sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientAtRisk {
    pub client_id: ClientId,
    pub name: String,
    pub owner_id: Option<UserId>,
    pub band: Band,
    pub trend: Option<Trend>,
    pub alert_id: AlertId,
    pub reason: AlertReason,
}

impl ClientAtRisk {
    /// How sure the agent is that the client needs a person now: from its band (critical
    /// 0.85, at risk 0.65, otherwise 0.5), a tenth more when it is going down, a tenth less
    /// when it is going up.
    pub fn confidence(&self) -> f64 {
        let base: f64 = match self.band {
            Band::Critical => 0.85,
            Band::AtRisk => 0.65,
            Band::Healthy | Band::Unknown => 0.5,
        };
        let trend = match self.trend {
            Some(Trend::Down) => 0.1,
            Some(Trend::Up) => -0.1,
            Some(Trend::Flat) | None => 0.0,
        };
        (base + trend).clamp(0.0, 1.0)
    }
}

/// A finding before it is stored: what to act on, if anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: InsightKind,
    pub confidence: f64,
    pub reasons: Vec<String>,
    pub inputs: Value,
    pub plan: Vec<Planned>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Followup {
        lead_id: LeadId,
        why: String,
    },
    /// A to-do for the client's owner (or, without one, the org's people), once per alert.
    ClientFollowup {
        client_id: ClientId,
        alert_id: AlertId,
        owner_id: Option<UserId>,
        why: String,
    },
    /// Sets a quiet deal's follow-up for the next tick (its owner is reminded; a mail to the
    /// sponsor is written under the policy for emails).
    DealFollowUp {
        deal_id: DealId,
        why: String,
    },
    Post,
    Warning,
}

/// Whether a finding this sure is acted on; the rest are recorded only.
pub fn acts(confidence: f64) -> bool {
    confidence > ACT_ABOVE
}

/// Everything the detectors found, in a fixed order.
pub fn all(seen: &Seen, now: DateTime<Utc>) -> Vec<Finding> {
    [
        stale_leads(seen, now),
        hot_leads(seen, now),
        low_content(seen),
        task_backlog(seen),
        no_new_leads(seen, now),
        clients_at_risk(seen),
        deals_gone_quiet(seen, now),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Leads somebody already means to follow up (an open follow-up task).
fn followed_up(seen: &Seen) -> Vec<&str> {
    seen.tasks
        .iter()
        .filter(|t| t.kind == TaskType::LeadFollowup && !t.is_finished())
        .filter_map(|t| t.input.get("leadId").and_then(Value::as_str))
        .collect()
}

fn last_touched(lead: &Lead) -> DateTime<Utc> {
    lead.last_activity_at.unwrap_or(lead.created_at)
}

/// Open leads without activity for `STALE_DAYS` and no follow-up planned, stalest first.
fn stale(seen: &Seen, now: DateTime<Utc>) -> Vec<&Lead> {
    let planned = followed_up(seen);
    let mut stale: Vec<&Lead> = seen
        .leads
        .iter()
        .filter(|l| is_stale(l, now) && !planned.contains(&l.id.as_str()))
        .collect();
    stale.sort_by_key(|l| last_touched(l));
    stale
}

/// Stale leads (0.9): follow-ups for the stalest `MAX_FOLLOWUPS`.
pub fn stale_leads(seen: &Seen, now: DateTime<Utc>) -> Option<Finding> {
    let stale = stale(seen, now);
    if stale.is_empty() {
        return None;
    }
    Some(Finding {
        kind: InsightKind::StaleLeads,
        confidence: 0.9,
        reasons: vec![format!(
            "{} open leads have had no activity for {} days and no follow-up planned",
            stale.len(),
            ceo::STALE_DAYS
        )],
        inputs: json!({"staleLeadIds": stale.iter().map(|l| &l.id).collect::<Vec<_>>(), "staleDays": ceo::STALE_DAYS, "leadsRead": seen.leads.len(), "moreLeadsOrTasks": seen.partial}),
        plan: stale
            .iter()
            .take(MAX_FOLLOWUPS)
            .map(|l| Planned::Followup {
                lead_id: l.id.clone(),
                why: format!("no activity since {}", last_touched(l)),
            })
            .collect(),
    })
}

/// Open leads scoring `HOT` or more that nobody contacted for `HOT_UNTOUCHED_DAYS` (0.8),
/// the stale ones left to `stale_leads`: follow-ups for the hottest `MAX_FOLLOWUPS`.
pub fn hot_leads(seen: &Seen, now: DateTime<Utc>) -> Option<Finding> {
    let planned = followed_up(seen);
    let stale: Vec<&str> = stale(seen, now).iter().map(|l| l.id.as_str()).collect();
    let mut hot: Vec<&Lead> = seen
        .leads
        .iter()
        .filter(|l| is_open(l) && l.score.as_ref().is_some_and(|s| s.value >= HOT))
        .filter(|l| l.last_activity_at.is_none_or(|at| now - at > Duration::days(HOT_UNTOUCHED_DAYS)))
        .filter(|l| !planned.contains(&l.id.as_str()) && !stale.contains(&l.id.as_str()))
        .collect();
    if hot.is_empty() {
        return None;
    }
    hot.sort_by_key(|l| std::cmp::Reverse(l.score.as_ref().map(|s| s.value)));
    Some(Finding {
        kind: InsightKind::HotLeads,
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
    })
}

/// Fewer posts this week than the goal and none planned (0.8): a post.
pub fn low_content(seen: &Seen) -> Option<Finding> {
    let planned = seen.tasks.iter().any(|t| t.kind == TaskType::SocialMediaPost && !t.is_finished());
    if seen.posts_this_week >= seen.posts_goal || planned {
        return None;
    }
    Some(Finding {
        kind: InsightKind::LowContent,
        confidence: 0.8,
        reasons: vec![format!(
            "{} posts this week against a goal of {}, and none planned",
            seen.posts_this_week, seen.posts_goal
        )],
        inputs: json!({"postsThisWeek": seen.posts_this_week, "goal": seen.posts_goal, "weekStart": crate::clock::timestamp(seen.week_start)}),
        plan: vec![Planned::Post],
    })
}

/// More than `BACKLOG_THRESHOLD` pending tasks (0.85): a recorded warning.
pub fn task_backlog(seen: &Seen) -> Option<Finding> {
    let pending = seen.tasks.iter().filter(|t| t.status == TaskStatus::Pending).count();
    (pending > BACKLOG_THRESHOLD).then(|| Finding {
        kind: InsightKind::TaskBacklog,
        confidence: 0.85,
        reasons: vec![format!("{pending} tasks are pending, more than {BACKLOG_THRESHOLD}")],
        inputs: json!({"pendingTasks": pending, "threshold": BACKLOG_THRESHOLD}),
        plan: vec![Planned::Warning],
    })
}

/// No new lead for `STALE_DAYS` (0.6): recorded only, too unsure to act on.
pub fn no_new_leads(seen: &Seen, now: DateTime<Utc>) -> Option<Finding> {
    let newest = seen.leads.iter().map(|l| l.created_at).max()?;
    (now - newest > Duration::days(ceo::STALE_DAYS)).then(|| Finding {
        kind: InsightKind::NoNewLeads,
        confidence: 0.6,
        reasons: vec![format!("no new lead for {} days", ceo::STALE_DAYS)],
        inputs: json!({"newestLeadAt": crate::clock::timestamp(newest)}),
        plan: Vec::new(),
    })
}

/// Open deals with no activity for `QUIET_DAYS` and no follow-up set: each gets one (the
/// longest quiet first, `MAX_FOLLOWUPS` a run).
pub fn deals_gone_quiet(seen: &Seen, now: DateTime<Utc>) -> Option<Finding> {
    if seen.quiet_deals.is_empty() {
        return None;
    }
    let mut deals: Vec<&QuietDeal> = seen.quiet_deals.iter().collect();
    deals.sort_by_key(|d| d.last_activity_at);
    let confidence = QUIET_CONFIDENCE;
    Some(Finding {
        kind: InsightKind::DealsGoneQuiet,
        confidence,
        reasons: vec![format!(
            "{} open deals have had no activity for {QUIET_DAYS} days or more and no follow-up set",
            deals.len()
        )],
        inputs: json!({"deals": deals.iter().map(|d| json!({
            "dealId": d.deal_id, "title": d.title, "stage": d.stage,
            "lastActivityAt": crate::clock::timestamp(d.last_activity_at),
        })).collect::<Vec<_>>()}),
        plan: if acts(confidence) {
            deals
                .iter()
                .take(MAX_FOLLOWUPS)
                .map(|d| Planned::DealFollowUp {
                    deal_id: d.deal_id.clone(),
                    why: format!("\"{}\" has been quiet for {} days", d.title, (now - d.last_activity_at).num_days()),
                })
                .collect()
        } else {
            Vec::new()
        },
    })
}

/// Clients with an open alert: the finding is as sure as the surest of them, and each one
/// surer than `ACT_ABOVE` gets a follow-up for its owner (the riskiest `MAX_FOLLOWUPS`).
pub fn clients_at_risk(seen: &Seen) -> Option<Finding> {
    if seen.clients_at_risk.is_empty() {
        return None;
    }
    let mut clients: Vec<&ClientAtRisk> = seen.clients_at_risk.iter().collect();
    clients.sort_by(|a, b| b.confidence().total_cmp(&a.confidence()));
    let confidence = clients[0].confidence();
    Some(Finding {
        kind: InsightKind::ClientsAtRisk,
        confidence,
        reasons: vec![format!(
            "{} clients have an open health alert; {} of them are critical",
            clients.len(),
            clients.iter().filter(|c| c.band == Band::Critical).count()
        )],
        inputs: json!({"clients": clients.iter().map(|c| json!({
            "clientId": c.client_id, "band": c.band, "trend": c.trend, "alertId": c.alert_id,
            "reason": c.reason, "confidence": c.confidence()
        })).collect::<Vec<_>>()}),
        plan: clients
            .iter()
            .filter(|c| acts(c.confidence()))
            .take(MAX_FOLLOWUPS)
            .map(|c| Planned::ClientFollowup {
                client_id: c.client_id.clone(),
                alert_id: c.alert_id.clone(),
                owner_id: c.owner_id.clone(),
                why: format!("{} is {} ({})", c.name, c.band.as_str(), c.reason.as_str()),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leads::score::StoredScore;
    use crate::leads::{LeadStatus, Priority};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    fn days_ago(days: i64) -> DateTime<Utc> {
        now() - Duration::days(days)
    }

    /// A lead created `created` days ago, last touched `touched` days ago, scoring `score`.
    fn lead(id: &str, created: i64, touched: Option<i64>, score: Option<u8>, status: LeadStatus) -> Lead {
        Lead {
            id: id.into(),
            name: id.into(),
            email: None,
            company: None,
            title: None,
            source: None,
            status,
            priority: Priority::Medium,
            tags: Vec::new(),
            notes: None,
            owner_id: None,
            value: None,
            last_activity_at: touched.map(days_ago),
            next_follow_up_at: None,
            score: score.map(|value| StoredScore {
                value,
                scored_at: days_ago(0),
            }),
            created_by: "u".into(),
            created_at: days_ago(created),
            updated_at: days_ago(created),
            version: 1,
        }
    }

    /// A task of `kind` whose stored input is `input` as it is (the detectors read ids from it).
    fn task(kind: TaskType, status: TaskStatus, input: Value) -> Task {
        let valid = match kind {
            TaskType::LeadFollowup => json!({"leadId": crate::model::new_id()}),
            TaskType::SocialMediaPost => json!({"topic": "t"}),
            TaskType::EmailCampaign => json!({"subject": "s", "brief": "b", "leadIds": [crate::model::new_id()]}),
            TaskType::ReconnectAccount | TaskType::ClientFollowup | TaskType::SponsorFollowup | TaskType::InvoiceSponsor => {
                unreachable!("the detectors never see Chief's own tasks made here")
            }
        };
        let new = crate::tasks::NewTask {
            kind,
            input: valid,
            run_at: None,
        };
        let mut task = crate::tasks::new_task(now(), &"u".into(), crate::tasks::Origin::Member, new).unwrap();
        task.input = input;
        task.status = status;
        task
    }

    fn seen(leads: Vec<Lead>, tasks: Vec<Task>) -> Seen {
        Seen {
            leads,
            tasks,
            partial: false,
            posts_this_week: 3,
            week_start: now() - Duration::days(4),
            posts_goal: 3,
            clients_at_risk: Vec::new(),
            quiet_deals: Vec::new(),
        }
    }

    fn followup_of(lead: &str) -> Task {
        task(TaskType::LeadFollowup, TaskStatus::Pending, json!({"leadId": lead}))
    }

    /// (what the case is, the leads, the tasks, the leads followed up if anything is found)
    type Case = (&'static str, Vec<Lead>, Vec<Task>, Option<Vec<&'static str>>);

    fn planned_leads(finding: &Finding) -> Vec<&str> {
        finding
            .plan
            .iter()
            .filter_map(|p| match p {
                Planned::Followup { lead_id, .. } => Some(lead_id.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn stale_leads_are_open_untouched_for_two_weeks_and_not_followed_up_stalest_first() {
        let cases: Vec<Case> = vec![
            ("nothing stale", vec![lead("a", 30, Some(2), None, LeadStatus::New)], vec![], None),
            (
                "touched 15 and 20 days ago, the older first",
                vec![
                    lead("a", 30, Some(15), None, LeadStatus::New),
                    lead("b", 30, Some(20), None, LeadStatus::Contacted),
                ],
                vec![],
                Some(vec!["b", "a"]),
            ),
            (
                "never touched, created 15 days ago",
                vec![lead("a", 15, None, None, LeadStatus::New)],
                vec![],
                Some(vec!["a"]),
            ),
            (
                "won leads are not stale",
                vec![lead("a", 30, Some(20), None, LeadStatus::Won)],
                vec![],
                None,
            ),
            (
                "a follow-up is planned",
                vec![lead("a", 30, Some(20), None, LeadStatus::New)],
                vec![followup_of("a")],
                None,
            ),
            (
                "at most five followed up",
                (0..7)
                    .map(|i| lead(&format!("l{i}"), 40, Some(20 + i), None, LeadStatus::New))
                    .collect(),
                vec![],
                Some(vec!["l6", "l5", "l4", "l3", "l2"]),
            ),
        ];
        for (case, leads, tasks, expected) in cases {
            let found = stale_leads(&seen(leads, tasks), now());
            assert_eq!(found.as_ref().map(planned_leads), expected, "{case}");
            if let Some(f) = found {
                assert_eq!(
                    (f.kind, f.confidence, acts(f.confidence)),
                    (InsightKind::StaleLeads, 0.9, true),
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn hot_leads_score_seventy_or_more_and_wait_three_days_hottest_first() {
        let cases: Vec<Case> = vec![
            (
                "warm, not hot",
                vec![lead("a", 10, Some(5), Some(HOT - 1), LeadStatus::New)],
                vec![],
                None,
            ),
            (
                "hot but contacted yesterday",
                vec![lead("a", 10, Some(1), Some(90), LeadStatus::New)],
                vec![],
                None,
            ),
            (
                "hot and untouched, hottest first",
                vec![
                    lead("a", 10, Some(5), Some(HOT), LeadStatus::New),
                    lead("b", 10, None, Some(95), LeadStatus::Qualified),
                ],
                vec![],
                Some(vec!["b", "a"]),
            ),
            (
                "lost leads are not hot",
                vec![lead("a", 10, Some(5), Some(90), LeadStatus::Lost)],
                vec![],
                None,
            ),
            (
                "a follow-up is planned",
                vec![lead("a", 10, Some(5), Some(90), LeadStatus::New)],
                vec![followup_of("a")],
                None,
            ),
            (
                "stale ones are the stale finding's",
                vec![lead("a", 40, Some(20), Some(90), LeadStatus::New)],
                vec![],
                None,
            ),
        ];
        for (case, leads, tasks, expected) in cases {
            let found = hot_leads(&seen(leads, tasks), now());
            assert_eq!(found.as_ref().map(planned_leads), expected, "{case}");
            if let Some(f) = found {
                assert_eq!(
                    (f.kind, f.confidence, acts(f.confidence)),
                    (InsightKind::HotLeads, 0.8, true),
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn low_content_is_fewer_posts_than_the_goal_with_none_planned() {
        let post = |status| task(TaskType::SocialMediaPost, status, json!({"topic": "t"}));
        for (case, posts, goal, tasks, found) in [
            ("on goal", 3, 3, vec![], false),
            ("short of it", 1, 3, vec![], true),
            ("short, one planned", 1, 3, vec![post(TaskStatus::Pending)], false),
            ("short, the planned one is done", 1, 3, vec![post(TaskStatus::Completed)], true),
            ("no goal", 0, 0, vec![], false),
        ] {
            let mut s = seen(Vec::new(), tasks);
            s.posts_this_week = posts;
            s.posts_goal = goal;
            let finding = low_content(&s);
            assert_eq!(finding.is_some(), found, "{case}");
            if let Some(f) = finding {
                assert_eq!((f.plan, f.confidence), (vec![Planned::Post], 0.8), "{case}");
            }
        }
    }

    #[test]
    fn a_backlog_is_more_than_ten_pending_tasks_and_is_a_warning() {
        for (pending, done, found) in [(10, 5, false), (11, 0, true), (0, 30, false)] {
            let mut tasks: Vec<Task> = (0..pending).map(|_| followup_of("x")).collect();
            tasks.extend((0..done).map(|_| task(TaskType::LeadFollowup, TaskStatus::Completed, json!({"leadId": "x"}))));
            let finding = task_backlog(&seen(Vec::new(), tasks));
            assert_eq!(finding.is_some(), found, "{pending} pending, {done} done");
            if let Some(f) = finding {
                assert_eq!((f.plan, f.confidence, acts(f.confidence)), (vec![Planned::Warning], 0.85, true));
                assert_eq!(f.inputs["pendingTasks"], pending);
            }
        }
    }

    #[test]
    fn no_new_leads_is_recorded_and_never_acted_on() {
        assert!(
            no_new_leads(&seen(Vec::new(), Vec::new()), now()).is_none(),
            "no leads at all: nothing to say"
        );
        assert!(no_new_leads(&seen(vec![lead("a", 3, None, None, LeadStatus::New)], Vec::new()), now()).is_none());
        let found = no_new_leads(&seen(vec![lead("a", 20, None, None, LeadStatus::New)], Vec::new()), now()).unwrap();
        assert_eq!((found.confidence, acts(found.confidence)), (0.6, false));
        assert!(found.plan.is_empty());
    }

    #[test]
    fn only_findings_above_the_threshold_are_acted_on() {
        assert!(!acts(ACT_ABOVE), "at the threshold: recorded only");
        assert!(!acts(ACT_ABOVE - 0.01));
        assert!(acts(ACT_ABOVE + 0.01));
    }

    #[test]
    fn all_runs_every_detector_in_order() {
        let mut s = seen(
            vec![
                lead("stale", 40, Some(20), None, LeadStatus::New),
                lead("hot", 20, Some(5), Some(90), LeadStatus::New),
            ],
            (0..11).map(|_| followup_of("other")).collect(),
        );
        s.posts_this_week = 0;
        let kinds: Vec<InsightKind> = all(&s, now()).iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                InsightKind::StaleLeads,
                InsightKind::HotLeads,
                InsightKind::LowContent,
                InsightKind::TaskBacklog,
                InsightKind::NoNewLeads
            ]
        );
    }
}
