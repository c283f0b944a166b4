//! The minute executor: reads the due index for the minutes since its last tick, claims each
//! due task or post with a conditional write, and enqueues one job per claim (tasks for
//! `job-run-task`, posts for `job-publish`). Nothing is scanned.
//!
//! Idempotent under at-least-once schedules: two ticks at once (or one delivered twice) read
//! the same entries, but a claim is a write conditional on the version read, so only one of
//! them takes a task and only that one enqueues it.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, TaskId};
use crate::keys;
use crate::model::from_item;
use crate::orgs::Org;
use crate::ports::queue::QueueName;
use crate::ports::table::{Condition, Index, Item, Key, Query, TableError, TxOp};
use crate::tasks::autonomy::{Autonomy, AutonomyPolicy};
use crate::tasks::{Approval, Task, TaskStatus, due, save};
use crate::tenancy::TenantCtx;
use crate::usage::Plan;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Runs of a task before it fails for good (a claim whose job never finished counts as one).
pub const MAX_ATTEMPTS: u32 = 3;
/// How long a claimed task may stay IN_PROGRESS before it is taken again.
pub const LEASE_MINUTES: i64 = 15;
/// Minutes re-read behind the last tick: index entries can appear late (eventual consistency
/// of the index, clock skew between writers).
const OVERLAP_MINUTES: i64 = 1;
/// How many minutes, this one included, the first tick ever reads.
const FIRST_LOOKBACK_MINUTES: i64 = 60;
/// Minutes one tick reads at most; after an outage the backlog is caught up tick by tick.
const MAX_MINUTES_PER_TICK: i64 = 60;
/// Due entries one tick takes at most, so that a burst fits the function's timeout (a claim
/// is one write); the rest are taken by the next ticks.
pub const MAX_DUE_PER_TICK: usize = 500;

/// What a tick did, as the executor function answers and `local` shows.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    pub from_minute: String,
    pub to_minute: String,
    pub partitions_read: usize,
    pub due: usize,
    pub claimed: usize,
    /// Claims whose lease ran out (the job was lost or crashed), taken again.
    pub reclaimed: usize,
    /// Another executor changed the task first.
    pub lost_races: usize,
    pub awaiting_approval: usize,
    pub cancelled_by_policy: usize,
    pub failed: usize,
    /// What the task needs of the month's quotas was more than is left: it failed unrun.
    pub over_quota: usize,
    pub enqueued: usize,
    /// Due posts claimed for `job-publish`, and the jobs sent for them.
    pub posts_claimed: usize,
    pub publish_enqueued: usize,
    /// Deals whose follow-up fell due: a `sponsor_followup` task made for each.
    pub follow_ups_fired: usize,
    pub batches: usize,
    /// More was due than one tick takes: the next tick goes on from `toMinute`.
    pub more_due: bool,
}

/// The message `job-run-task` gets: which task, and the version its claim wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunTaskJob {
    pub org_id: OrgId,
    pub task_id: TaskId,
    pub claim: u64,
}

fn cursor_key() -> Key {
    Key::new(keys::EXECUTOR_PK, keys::CURSOR_SK)
}

fn parse_minute(value: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(&format!("{value}:00"), "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

pub async fn tick(app: &App) -> AppResult<TickReport> {
    let now = app.clock.now();
    let this_minute = due::minute_start(now);
    let last = app
        .table
        .get(&cursor_key())
        .await?
        .and_then(|item| item.get("minute").and_then(|m| m.as_str()).and_then(parse_minute));
    let from = match last {
        Some(last) => (last - Duration::minutes(OVERLAP_MINUTES)).min(this_minute),
        None => this_minute - Duration::minutes(FIRST_LOOKBACK_MINUTES - 1),
    };
    let to = this_minute.min(from + Duration::minutes(MAX_MINUTES_PER_TICK - 1));
    let mut report = TickReport {
        from_minute: due::minute(from),
        to_minute: due::minute(to),
        ..TickReport::default()
    };

    let mut entries = Vec::new();
    let mut read_to = to;
    let mut minute = from;
    'read: while minute <= to {
        for shard in 0..due::SHARDS {
            let mut query = Query::partition(keys::due_pk(&due::minute(minute), shard))
                .on(Index::Due)
                .between(crate::clock::timestamp(minute), due::due_by(now))
                .limit(100);
            report.partitions_read += 1;
            loop {
                let page = app.table.query(query.clone()).await?;
                entries.extend(page.items);
                if entries.len() >= MAX_DUE_PER_TICK {
                    // The rest waits for the next tick, which reads again from this minute.
                    entries.truncate(MAX_DUE_PER_TICK);
                    read_to = minute;
                    report.more_due = true;
                    break 'read;
                }
                match page.cursor {
                    Some(cursor) => query.cursor = Some(cursor),
                    None => break,
                }
            }
        }
        minute += Duration::minutes(1);
    }
    report.to_minute = due::minute(read_to);
    report.due = entries.len();

    let mut orgs: HashMap<OrgId, OrgRules> = HashMap::new();
    let (mut jobs, mut publish_jobs) = (Vec::new(), Vec::new());
    for entry in entries {
        let sk = entry.get("SK").and_then(|sk| sk.as_str()).unwrap_or_default();
        // Deals share the index too: a due follow-up becomes a task, run from the next tick.
        if sk.starts_with(keys::DEAL_PREFIX) {
            let org_id = entry_org(&entry)?;
            match crate::deals::followups::fire(app, &org_id, entry, now).await? {
                crate::deals::followups::Fired::Made => report.follow_ups_fired += 1,
                crate::deals::followups::Fired::Skipped => report.lost_races += 1,
            }
            continue;
        }
        // Posts share the due index with tasks; their claims feed the publishing pipeline.
        if sk.starts_with(keys::POST_PREFIX) {
            let org_id = entry_org(&entry)?;
            match crate::content::publish::claim(app, &org_id, entry, now).await? {
                Some(job) => {
                    report.posts_claimed += 1;
                    publish_jobs.push(serde_json::to_string(&job)?);
                }
                None => report.lost_races += 1,
            }
            continue;
        }
        if let Some(job) = take(app, entry, now, &mut orgs, &mut report).await? {
            jobs.push(serde_json::to_string(&job)?);
        }
    }
    if !jobs.is_empty() {
        report.batches = app.queue.send(QueueName::Tasks, &jobs).await?;
        report.enqueued = jobs.len();
    }
    if !publish_jobs.is_empty() {
        report.batches += app.queue.send(QueueName::Publish, &publish_jobs).await?;
        report.publish_enqueued = publish_jobs.len();
    }
    // Moves forward only as far as it read; a later tick starts again just behind it.
    if last.is_none_or(|last| read_to > last) {
        let mut item = Item::new();
        item.insert("PK".into(), keys::EXECUTOR_PK.into());
        item.insert("SK".into(), keys::CURSOR_SK.into());
        item.insert("minute".into(), due::minute(read_to).into());
        app.table.put(item, None).await?;
    }
    Ok(report)
}

/// What the executor needs of an org to decide its tasks, read once a tick per org.
struct OrgRules {
    plan: Plan,
    policy: AutonomyPolicy,
}

async fn org_rules<'a>(app: &App, org_id: &OrgId, now: DateTime<Utc>, orgs: &'a mut HashMap<OrgId, OrgRules>) -> AppResult<&'a OrgRules> {
    if !orgs.contains_key(org_id) {
        let keys = [
            Key::new(keys::org_pk(org_id), keys::ORG_SK),
            Key::new(keys::org_pk(org_id), keys::AUTONOMY_SK),
        ];
        let mut read = app.table.get_many(&keys).await?.into_iter();
        let [org, policy] = std::array::from_fn(|_| read.next().flatten());
        let plan = match org {
            Some(org) => from_item::<Org>(org)?.plan_at(now),
            None => Plan::Free,
        };
        let policy = AutonomyPolicy::from_stored(policy)?;
        orgs.insert(org_id.clone(), OrgRules { plan, policy });
    }
    Ok(&orgs[org_id])
}

/// The org a due entry belongs to, from its partition key.
fn entry_org(entry: &Item) -> AppResult<OrgId> {
    entry
        .get("PK")
        .and_then(|pk| pk.as_str())
        .and_then(|pk| pk.strip_prefix("ORG#"))
        .and_then(|id| OrgId::parse(id, "a due entry's org").ok())
        .ok_or_else(|| AppError::internal("a due entry outside an org"))
}

/// Decides one due entry: claim it (answering the job to send), hold it for approval, or
/// cancel it as the policy says. A task changed by someone else first is left to them.
async fn take(
    app: &App,
    entry: Item,
    now: DateTime<Utc>,
    orgs: &mut HashMap<OrgId, OrgRules>,
    report: &mut TickReport,
) -> AppResult<Option<RunTaskJob>> {
    let org_id = entry_org(&entry)?;
    let mut task: Task = from_item(entry)?;
    let stamp = now;
    let tenant = TenantCtx::background(&org_id);
    // The policy decides when a task falls due: `off` cancels the agent's tasks and anything
    // that would send; an agent's follow-up waits for approval before it is written; a post
    // or campaign is written first and its text waits (see `run`).
    let policed = task.approval == Approval::Policy || (task.approval == Approval::NotRequired && task.kind.sends());
    match task.status {
        TaskStatus::Pending if policed => match org_rules(app, &org_id, now, orgs).await?.policy.for_kind(task.kind) {
            Autonomy::Off => {
                task.status = TaskStatus::Cancelled;
                task.error = Some(format!("the autonomy policy has {} off", task.kind.as_str()));
                task.finished_at = Some(stamp);
                return settle(app, &org_id, task, report, |r| r.cancelled_by_policy += 1).await;
            }
            Autonomy::Approval if !task.kind.sends() => {
                task.approval = Approval::Awaiting;
                return settle(app, &org_id, task, report, |r| r.awaiting_approval += 1).await;
            }
            Autonomy::Auto if task.approval == Approval::Policy => task.approval = Approval::Auto,
            _ => {}
        },
        TaskStatus::Pending => {}
        TaskStatus::InProgress if task.attempts >= MAX_ATTEMPTS => {
            task.status = TaskStatus::Failed;
            task.error = Some(format!("did not finish in {MAX_ATTEMPTS} attempts"));
            task.lease_until = None;
            task.finished_at = Some(stamp);
            // What the lost runs sent stays counted; the rest of the reservation goes back.
            return settle(app, &org_id, task, report, |r| r.failed += 1).await;
        }
        TaskStatus::InProgress => report.reclaimed += 1,
        _ => return Ok(None),
    }
    let unclaimed = task.clone();
    task.status = TaskStatus::InProgress;
    task.attempts += 1;
    task.started_at = Some(stamp);
    task.lease_until = Some(now + Duration::minutes(LEASE_MINUTES));
    // The first claim reserves what the task needs; a retried or retaken task holds it already.
    let reservation = match task.reserved {
        Some(_) => None,
        None => {
            let plan = org_rules(app, &org_id, now, orgs).await?.plan;
            let need = task.claim_need();
            let op = crate::usage::reserve(&tenant, plan, &need, now);
            task.reserved = Some(need);
            task.reserved_in = Some(crate::usage::month(now));
            op.map(|op| (op, plan))
        }
    };
    let read = task.version;
    task.version += 1;
    task.updated_at = stamp;
    let mut ops = vec![TxOp::Put {
        item: task.to_item(&org_id)?,
        condition: Some(Condition::VersionEquals(read)),
    }];
    let plan = reservation.as_ref().map(|(_, plan)| *plan);
    ops.extend(reservation.map(|(op, _)| op));
    match app.table.transact(ops).await {
        Ok(()) => {
            report.claimed += 1;
            Ok(Some(RunTaskJob {
                org_id,
                task_id: task.id,
                claim: task.version,
            }))
        }
        Err(TableError::ConditionFailed { op: Some(0) }) => {
            report.lost_races += 1;
            Ok(None)
        }
        Err(TableError::ConditionFailed { op: Some(1) }) => {
            let plan = plan.unwrap_or_default();
            let used = app.table.get(&crate::usage::usage_key(&tenant, now)).await?;
            let reason = match unclaimed.claim_need().shortfall(plan, used.as_ref()) {
                Some((metric, need, left)) => crate::usage::need_exceeds(metric, need, left, plan),
                None => crate::usage::over_quota(crate::usage::Metric::Tasks, plan),
            };
            let mut failed = unclaimed;
            failed.status = TaskStatus::Failed;
            failed.error = Some(reason.to_string());
            failed.finished_at = Some(stamp);
            settle(app, &org_id, failed, report, |r| r.over_quota += 1).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes a decision about a task at the version read. A task that ends (cancelled, failed)
/// gives back what its reservation holds beyond what it sent.
async fn settle(
    app: &App,
    org_id: &OrgId,
    task: Task,
    report: &mut TickReport,
    count: fn(&mut TickReport),
) -> AppResult<Option<RunTaskJob>> {
    let saved = if task.is_finished() {
        crate::tasks::end_releasing(app, &TenantCtx::background(org_id), task).await
    } else {
        save(app, org_id, task).await
    };
    match saved {
        Ok(_) => count(report),
        Err(AppError::Conflict { .. }) => report.lost_races += 1,
        Err(e) => return Err(e),
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::orgs::Org;
    use crate::tasks::{NewTask, Origin, insert, new_task};
    use crate::tenancy::TenantCtx;
    use crate::testing::{self, TestApp};
    use crate::usage::Plan;
    use serde_json::json;

    pub const ORG: &str = "01JD3Z5Q1T6N8WQ4S0F9V7C2XA";

    pub async fn org(t: &TestApp, plan: Plan) -> TenantCtx {
        let now = t.app.clock.now();
        let org = Org {
            id: ORG.into(),
            name: "Acme".into(),
            plan,
            plan_until: None,
            time_zone: "UTC".into(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        t.app.table.put(org.to_item().unwrap(), None).await.unwrap();
        let member = crate::orgs::Membership {
            org_id: ORG.into(),
            user_id: "user".into(),
            email: "user@example.com".into(),
            name: "User".into(),
            role: crate::tenancy::Role::Member,
            joined_at: t.app.clock.now(),
            version: 1,
        };
        t.app.table.put(member.to_item().unwrap(), None).await.unwrap();
        // The AI may send without review here; tests of the review set their own policy.
        let policy = crate::tasks::autonomy::AutonomyPolicy {
            post: Autonomy::Auto,
            email: Autonomy::Auto,
            version: 1,
            ..crate::tasks::autonomy::AutonomyPolicy::default()
        };
        let item = crate::model::to_item(&crate::keys::org_pk(&ORG.into()), crate::keys::AUTONOMY_SK, &policy).unwrap();
        t.app.table.put(item, None).await.unwrap();
        TenantCtx::background(&ORG.into())
    }

    /// How much of a metric the test org has used this month.
    pub async fn used(t: &TestApp, metric: crate::usage::Metric) -> i64 {
        let key = crate::usage::usage_key(&TenantCtx::background(&ORG.into()), t.app.clock.now());
        crate::usage::used(t.app.table.get(&key).await.unwrap().as_ref(), metric)
    }

    /// A follow-up of a lead that does not exist: it needs nothing of the sending quotas.
    pub async fn followup_task(t: &TestApp, tenant: &TenantCtx) -> Task {
        let input = NewTask {
            kind: crate::tasks::TaskType::LeadFollowup,
            input: json!({"leadId": crate::model::new_id()}),
            run_at: None,
        };
        let task = new_task(t.app.clock.now(), &"user".into(), Origin::Member, input).unwrap();
        insert(&t.app, tenant, Plan::Enterprise, &task).await.unwrap();
        task
    }

    pub async fn post_task(t: &TestApp, tenant: &TenantCtx, run_at: Option<DateTime<Utc>>) -> Task {
        let input = NewTask {
            kind: crate::tasks::TaskType::SocialMediaPost,
            input: json!({"topic": "spring"}),
            run_at: run_at.map(crate::clock::timestamp),
        };
        let task = new_task(t.app.clock.now(), &"user".into(), Origin::Member, input).unwrap();
        insert(&t.app, tenant, Plan::Enterprise, &task).await.unwrap();
        task
    }

    async fn stored(t: &TestApp, id: &str) -> Task {
        let item = t
            .app
            .table
            .get(&Key::new(keys::org_pk(&ORG.into()), keys::task_sk(&id.into())))
            .await
            .unwrap();
        crate::tasks::task_from(item).unwrap()
    }

    #[tokio::test]
    async fn due_tasks_are_claimed_once_and_enqueued_and_later_ones_wait_for_their_minute() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        for _ in 0..3 {
            post_task(&t, &tenant, None).await;
        }
        let later = post_task(&t, &tenant, Some(t.app.clock.now() + Duration::minutes(10))).await;
        let report = tick(&t.app).await.unwrap();
        assert_eq!(
            (report.due, report.claimed, report.enqueued, report.batches),
            (3, 3, 3, 1),
            "{report:?}"
        );
        assert_eq!(t.app.queue.receive(QueueName::Tasks, 10).await.unwrap().len(), 3);
        assert_eq!(tick(&t.app).await.unwrap().claimed, 0, "claimed tasks are not due again");
        t.clock.advance(Duration::minutes(10));
        let report = tick(&t.app).await.unwrap();
        assert_eq!(report.claimed, 1);
        assert_eq!(stored(&t, &later.id).await.status, TaskStatus::InProgress);
    }

    #[tokio::test]
    async fn minutes_missed_while_the_executor_was_down_are_read_on_its_next_tick() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        tick(&t.app).await.unwrap();
        let task = post_task(&t, &tenant, Some(t.app.clock.now() + Duration::minutes(5))).await;
        t.clock.advance(Duration::minutes(45));
        let report = tick(&t.app).await.unwrap();
        assert_eq!(report.claimed, 1, "{report:?}");
        assert_eq!(
            report.partitions_read,
            47 * due::SHARDS as usize,
            "from a minute behind the last tick to now"
        );
        assert_eq!(stored(&t, &task.id).await.attempts, 1);
        // Steady state: the last tick's minute, the one before it, and this one.
        t.clock.advance(Duration::minutes(1));
        assert_eq!(tick(&t.app).await.unwrap().partitions_read, 3 * due::SHARDS as usize);
    }

    #[tokio::test]
    async fn a_claim_whose_job_was_lost_is_taken_again_after_its_lease_and_then_fails() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        let task = post_task(&t, &tenant, None).await;
        tick(&t.app).await.unwrap();
        for attempt in 2..=MAX_ATTEMPTS {
            t.clock.advance(Duration::minutes(LEASE_MINUTES + 1));
            let report = tick(&t.app).await.unwrap();
            assert_eq!((report.reclaimed, report.enqueued), (1, 1), "{report:?}");
            assert_eq!(stored(&t, &task.id).await.attempts, attempt);
        }
        t.clock.advance(Duration::minutes(LEASE_MINUTES + 1));
        assert_eq!(tick(&t.app).await.unwrap().failed, 1);
        let failed = stored(&t, &task.id).await;
        assert_eq!(failed.status, TaskStatus::Failed);
        assert!(failed.due_at().is_none());
    }

    #[tokio::test]
    async fn a_burst_larger_than_a_tick_is_taken_over_the_next_ticks() {
        let t = testing::app();
        let tenant = org(&t, Plan::Enterprise).await;
        for _ in 0..MAX_DUE_PER_TICK + 5 {
            followup_task(&t, &tenant).await;
        }
        let first = tick(&t.app).await.unwrap();
        assert_eq!((first.claimed, first.more_due), (MAX_DUE_PER_TICK, true), "{first:?}");
        let second = tick(&t.app).await.unwrap();
        assert_eq!((second.claimed, second.more_due), (5, false), "{second:?}");
        assert_eq!(first.enqueued + second.enqueued, MAX_DUE_PER_TICK + 5);
    }

    #[tokio::test]
    async fn two_ticks_at_once_claim_each_task_once() {
        let t = testing::app();
        let tenant = org(&t, Plan::Enterprise).await;
        for _ in 0..25 {
            post_task(&t, &tenant, None).await;
        }
        let (a, b) = tokio::join!(tick(&t.app), tick(&t.app));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.claimed + b.claimed, 25, "{a:?} {b:?}");
        assert_eq!(a.enqueued + b.enqueued, 25);
    }
}
