//! Autonomous tasks: a social post, an email campaign or a lead follow-up, run by the minute
//! executor at `runAt`. PENDING → IN_PROGRESS → COMPLETED | FAILED | CANCELLED.
//!
//! A task that may run carries a due-index entry for the minute it is due (see [`due`]); an
//! IN_PROGRESS task carries one for when its lease runs out, so a claim whose job was lost
//! is taken again. Anything else (awaiting approval, finished) is not in the index.

pub mod autonomy;
pub mod context;
pub mod due;
pub mod http;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::OrgId;
use crate::ids::{LeadId, TaskId, UserId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::table::{Condition, Item, TableError, TxOp};
use crate::tenancy::TenantCtx;
use crate::usage::{self, Metric, Need, Plan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    SocialMediaPost,
    EmailCampaign,
    LeadFollowup,
    /// For a person: connect a social account again (made by the pipeline when a platform
    /// revokes one). Never run by the executor.
    ReconnectAccount,
    /// For a person: look after a client at risk (made by the agent from an open alert, for
    /// the client's owner). Never run by the executor; resolving its alert completes it.
    ClientFollowup,
    /// Made by Chief when a deal's follow-up falls due (or a member asks for a draft): a
    /// reminder to the deal's owner, and a follow-up written to the sponsor's first contact
    /// under the autonomy policy for emails.
    SponsorFollowup,
    /// For a person: invoice the sponsor of a deal whose deliverables are all delivered.
    /// Never run by the executor.
    InvoiceSponsor,
}

impl TaskType {
    /// Whether what the AI writes for it goes out to the public or to customers.
    pub fn sends(self) -> bool {
        matches!(self, TaskType::SocialMediaPost | TaskType::EmailCampaign)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::SocialMediaPost => "social_media_post",
            TaskType::EmailCampaign => "email_campaign",
            TaskType::LeadFollowup => "lead_followup",
            TaskType::ReconnectAccount => "reconnect_account",
            TaskType::ClientFollowup => "client_followup",
            TaskType::SponsorFollowup => "sponsor_followup",
            TaskType::InvoiceSponsor => "invoice_sponsor",
        }
    }

    /// A person's to-do that Chief makes: the executor never runs it.
    pub fn is_todo(self) -> bool {
        matches!(
            self,
            TaskType::ReconnectAccount | TaskType::ClientFollowup | TaskType::InvoiceSponsor
        )
    }

    /// Only Chief makes tasks of this type (a member's `POST …/tasks` is refused).
    pub fn made_by_chief(self) -> bool {
        self.is_todo() || self == TaskType::SponsorFollowup
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Pending,
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

/// Whether a task may run. Members' tasks need no approval; the agent's are checked against
/// the org's autonomy policy by the executor when they fall due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    NotRequired,
    /// Created by the agent; the executor applies the policy when it is due.
    Policy,
    /// The policy allows it without asking.
    Auto,
    Awaiting,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Member,
    Agent,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: TaskId,
    #[serde(rename = "type")]
    pub kind: TaskType,
    pub input: Value,
    pub status: TaskStatus,
    pub approval: Approval,
    pub origin: Origin,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub run_at: chrono::DateTime<chrono::Utc>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub attempts: u32,
    /// While IN_PROGRESS: when the claim may be taken again if the run never finished.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub lease_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The member who asked for it, or `agent` for the hourly agent's.
    #[schemars(with = "String")]
    pub created_by: UserId,
    pub decided_by: Option<String>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// What the task will spend of the month's quotas when it runs: checked against what is
    /// left when it is created, reserved when it is claimed.
    #[serde(default)]
    pub need: Need,
    /// What the task holds of the month's quotas: reserved by its first claim, kept while it
    /// is retried, trued up to what it sent when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<Need>,
    /// The month (`YYYY-MM`) whose usage the reservation is in, so that what is given back
    /// goes back there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_in: Option<String>,
    /// What the AI wrote for a post or a campaign, kept so that it is written once: under an
    /// `approval` policy it waits here for a person to read it, and goes out as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<Draft>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Draft {
    pub text: String,
    pub provider: String,
    pub model: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub written_at: chrono::DateTime<chrono::Utc>,
}

impl Task {
    /// When the executor should look at this task, if ever.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        if self.kind.is_todo() {
            return None;
        }
        match (self.status, self.approval) {
            (TaskStatus::Pending, Approval::Awaiting | Approval::Rejected) => None,
            (TaskStatus::Pending, _) => Some(self.run_at),
            (TaskStatus::InProgress, _) => self.lease_until,
            _ => None,
        }
    }

    pub fn to_item(&self, org_id: &OrgId) -> AppResult<Item> {
        let mut item = to_item(&keys::org_pk(org_id), &keys::task_sk(&self.id), self)?;
        if let Some(at) = self.due_at() {
            let (pk, sk) = due::entry(org_id, &self.id, at);
            item.insert("duePK".into(), pk.into());
            item.insert("dueSK".into(), sk.into());
        }
        Ok(item)
    }

    /// What a claim reserves (a campaign's emails are reserved from its recipients when it
    /// runs, see `run::hold_emails`). A post task's post holds its quota in the publishing
    /// pipeline, when it is scheduled, not here.
    pub fn claim_need(&self) -> Need {
        Need { posts: 0, ..self.need }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.status, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled)
    }
}

/// What each type of task takes; checked on creation, read again by the runner.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostInput {
    pub topic: String,
    /// The platform whose rules the post is written to (`sandbox` by default).
    #[serde(default = "sandbox")]
    pub platform: String,
    /// The account to post through; by default the org's first that can post it (a sandbox
    /// account named `Sandbox` is added when the org has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CampaignInput {
    pub subject: String,
    pub brief: String,
    pub lead_ids: Vec<LeadId>,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FollowupInput {
    pub lead_id: LeadId,
    pub note: Option<String>,
    #[serde(default = "three")]
    pub next_follow_up_days: u32,
}

fn sandbox() -> String {
    crate::ports::social::SANDBOX_PLATFORM.into()
}
fn three() -> u32 {
    3
}

pub const MAX_CAMPAIGN_LEADS: usize = 50;

/// The input checked against its type and cleaned, as it is stored.
pub fn check_input(kind: TaskType, input: Value) -> AppResult<Value> {
    fn parse<T: serde::de::DeserializeOwned>(kind: TaskType, input: Value) -> AppResult<T> {
        serde_json::from_value(input).map_err(|e| AppError::validation(format!("input for {}: {e}", kind.as_str())))
    }
    let cleaned = match kind {
        TaskType::SocialMediaPost => {
            let mut post: PostInput = parse(kind, input)?;
            post.topic = model::text("input.topic", &post.topic, 1_000)?;
            let platform = crate::platforms::Platform::parse(&post.platform)
                .map_err(|e| AppError::validation(format!("input.{}", e.public_message())))?;
            if platform.rules().image_required {
                return Err(AppError::validation(format!(
                    "input.platform: a {} post needs an image, which a task cannot supply: write the post by hand",
                    platform.as_str()
                )));
            }
            if let Some(account) = &post.account_id {
                crate::ids::check(account, "input.accountId")?;
            }
            serde_json::to_value(post)
        }
        TaskType::EmailCampaign => {
            let mut campaign: CampaignInput = parse(kind, input)?;
            campaign.subject = model::text("input.subject", &campaign.subject, 200)?;
            campaign.brief = model::text("input.brief", &campaign.brief, 2_000)?;
            if campaign.lead_ids.is_empty() || campaign.lead_ids.len() > MAX_CAMPAIGN_LEADS {
                return Err(AppError::validation(format!(
                    "input.leadIds holds 1 to {MAX_CAMPAIGN_LEADS} lead ids"
                )));
            }
            for id in &campaign.lead_ids {
                crate::ids::check(id, "each of input.leadIds")?;
            }
            campaign.lead_ids.sort();
            campaign.lead_ids.dedup();
            serde_json::to_value(campaign)
        }
        TaskType::LeadFollowup => {
            let mut followup: FollowupInput = parse(kind, input)?;
            crate::ids::check(&followup.lead_id, "input.leadId")?;
            followup.note = model::optional_text("input.note", followup.note.as_deref(), 1_000)?;
            if !(1..=90).contains(&followup.next_follow_up_days) {
                return Err(AppError::validation("input.nextFollowUpDays must be from 1 to 90"));
            }
            serde_json::to_value(followup)
        }
        TaskType::ReconnectAccount | TaskType::ClientFollowup | TaskType::SponsorFollowup | TaskType::InvoiceSponsor => {
            return Err(AppError::validation(format!(
                "type: {} tasks are made by Chief (when a platform revokes an account, for a client at risk, or from a deal)",
                kind.as_str()
            )));
        }
    };
    Ok(cleaned?)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewTask {
    #[serde(rename = "type")]
    pub kind: TaskType,
    pub input: Value,
    pub run_at: Option<String>,
}

/// How far ahead a task may be scheduled.
pub const MAX_SCHEDULE_DAYS: i64 = 366;

pub fn new_task(now: DateTime<Utc>, created_by: &UserId, origin: Origin, input: NewTask) -> AppResult<Task> {
    let run_at = match input.run_at.as_deref() {
        None => now,
        Some(t) => {
            let at = model::timestamp_param("runAt", t)?;
            if at > now + chrono::Duration::days(MAX_SCHEDULE_DAYS) {
                return Err(AppError::validation(format!("runAt is more than {MAX_SCHEDULE_DAYS} days ahead")));
            }
            // A time in the past means "as soon as possible".
            at.max(now)
        }
    };
    let stamp = now;
    let need = Need {
        // The agent's proposals count when they run, not when proposed.
        tasks: i64::from(origin == Origin::Agent),
        // Checked against what is left when the task is made; the post holds its quota when
        // the pipeline schedules it (see `content::posts`), so a claim reserves none.
        posts: i64::from(input.kind == TaskType::SocialMediaPost),
        // A campaign's emails are counted from its leads by `campaign_need`.
        emails: 0,
    };
    Ok(Task {
        id: TaskId::generate(),
        kind: input.kind,
        input: check_input(input.kind, input.input)?,
        status: TaskStatus::Pending,
        approval: match origin {
            Origin::Member => Approval::NotRequired,
            Origin::Agent => Approval::Policy,
        },
        origin,
        run_at,
        output: None,
        error: None,
        attempts: 0,
        lease_until: None,
        created_by: created_by.clone(),
        decided_by: None,
        created_at: stamp,
        updated_at: stamp,
        started_at: None,
        finished_at: None,
        need,
        reserved: None,
        reserved_in: None,
        draft: None,
        version: 1,
    })
}

/// A campaign needs one email per chosen lead with an address; one without any is refused.
pub async fn campaign_need(app: &App, tenant: &TenantCtx, task: &mut Task) -> AppResult<()> {
    if task.kind != TaskType::EmailCampaign {
        return Ok(());
    }
    let campaign: CampaignInput = serde_json::from_value(task.input.clone())?;
    let keys: Vec<_> = campaign.lead_ids.iter().map(|id| tenant.key(keys::lead_sk(id))).collect();
    let with_email = app
        .table
        .get_many(&keys)
        .await?
        .into_iter()
        .flatten()
        .filter(|lead| lead.get("email").is_some_and(|e| e.as_str().is_some_and(|e| !e.is_empty())))
        .count();
    if with_email == 0 {
        return Err(AppError::validation(
            "none of input.leadIds is a lead of this organisation with an email address",
        ));
    }
    task.need.emails = with_email as i64;
    Ok(())
}

/// Stores a new task. A member's spends one task of the month's quota in the same
/// transaction: over quota, nothing is stored (402); cancelled ones keep their count. The
/// agent's proposals are stored as they are: they spend a task when they run (`need`).
pub async fn insert(app: &App, tenant: &TenantCtx, plan: Plan, task: &Task) -> AppResult<()> {
    let put = TxOp::Put {
        item: task.to_item(tenant.org_id())?,
        condition: Some(Condition::NotExists),
    };
    let ops = match task.origin {
        Origin::Member => vec![put, usage::spend(tenant, plan, Metric::Tasks, 1, app.clock.now())],
        // What Chief makes by itself is in the audit log (the agent's proposals, to-dos).
        Origin::Agent => {
            let details = serde_json::json!({"kind": task.kind.as_str(), "runAt": crate::clock::timestamp(task.run_at)});
            let record = crate::audit::entry(tenant, app.clock.now(), "agent.task_created", format!("task:{}", task.id), details)?;
            vec![put, record]
        }
    };
    app.table
        .transact(ops)
        .await
        .map_err(|e| usage::quota_error(e, Some(1), Metric::Tasks, plan))
}

/// What a task has sent so far, from what each send leaves behind: the post it published,
/// a marker per campaign email (written before the mail goes).
pub async fn sent_so_far(app: &App, tenant: &TenantCtx, task: &Task) -> AppResult<Need> {
    // The agent's proposal counts once it ran, unless it was turned down (rejected or
    // cancelled) rather than sent.
    let mut sent = Need {
        tasks: if task.status == TaskStatus::Cancelled {
            0
        } else {
            task.reserved.map_or(0, |r| r.tasks)
        },
        ..Need::default()
    };
    match task.kind {
        // Its post's quota is the pipeline's.
        TaskType::SocialMediaPost | TaskType::ReconnectAccount | TaskType::ClientFollowup | TaskType::InvoiceSponsor => {}
        // A follow-up's mail to the sponsor leaves a marker as a campaign's mails do.
        TaskType::EmailCampaign | TaskType::SponsorFollowup => {
            let markers = crate::ports::table::query_all(
                &*app.table,
                crate::ports::table::Query::partition(tenant.pk()).prefix(keys::campaign_send_sk(&task.id, "")),
            )
            .await?;
            sent.emails = markers.len() as i64;
        }
        TaskType::LeadFollowup => {}
    }
    Ok(sent)
}

/// Saves a task that ends without completing (failed or cancelled) at the version read, and
/// gives back in the same transaction what its reservation holds beyond what it sent.
pub async fn end_releasing(app: &App, tenant: &TenantCtx, task: Task) -> AppResult<Task> {
    end_releasing_with(app, tenant, task, Vec::new()).await
}

/// [`end_releasing`], with `also` in its transaction (the decision's audit entry).
async fn end_releasing_with(app: &App, tenant: &TenantCtx, mut task: Task, mut also: Vec<TxOp>) -> AppResult<Task> {
    let Some(held) = task.reserved else {
        return save_with(app, tenant.org_id(), task, also).await;
    };
    let sent = sent_so_far(app, tenant, &task).await?;
    task.reserved = Some(sent);
    let month = task.reserved_in.clone().unwrap_or_else(|| usage::month(app.clock.now()));
    also.extend(usage::release(tenant, &held.beyond(&sent), &month));
    save_with(app, tenant.org_id(), task, also).await
}

pub fn task_from(item: Option<Item>) -> AppResult<Task> {
    from_item(item.ok_or(AppError::NotFound("task"))?)
}

/// Writes a changed task if it is still at the version read; answers the stored task.
pub async fn save(app: &App, org_id: &OrgId, task: Task) -> AppResult<Task> {
    save_with(app, org_id, task, Vec::new()).await
}

/// `save`, with `also` (usage steps) in the same transaction. The task having changed
/// meanwhile is 409 `VERSION_CONFLICT`, and nothing is written.
pub async fn save_with(app: &App, org_id: &OrgId, mut task: Task, also: Vec<TxOp>) -> AppResult<Task> {
    let read = task.version;
    task.version += 1;
    task.updated_at = app.clock.now();
    let item = task.to_item(org_id)?;
    let written = if also.is_empty() {
        app.table.put(item, Some(Condition::VersionEquals(read))).await
    } else {
        let mut ops = vec![TxOp::Put {
            item,
            condition: Some(Condition::VersionEquals(read)),
        }];
        ops.extend(also);
        app.table.transact(ops).await
    };
    written.map_err(|e| match e {
        TableError::ConditionFailed { op: None | Some(0) } => {
            AppError::conflict("VERSION_CONFLICT", "the task changed meanwhile: read it again")
        }
        other => other.into(),
    })?;
    Ok(task)
}

#[derive(Debug, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub kind: Option<TaskType>,
}

/// Newest first, filtered (see `model::newest_matching`).
pub async fn list(
    app: &App,
    tenant: &TenantCtx,
    filter: &TaskFilter,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<Task>, Option<String>)> {
    let filtered = filter.status.is_some() || filter.kind.is_some();
    model::newest_matching(
        &*app.table,
        tenant.pk(),
        keys::TASK_PREFIX,
        limit,
        cursor,
        filtered,
        |task: &Task| filter.status.is_none_or(|s| s == task.status) && filter.kind.is_none_or(|k| k == task.kind),
    )
    .await
}

/// A member cancels a task that has not started: its due entry goes, its quota stays spent.
pub async fn cancel(app: &App, tenant: &TenantCtx, mut task: Task) -> AppResult<Task> {
    if task.status != TaskStatus::Pending {
        return Err(AppError::conflict(
            "TASK_NOT_PENDING",
            format!("only a pending task can be cancelled; this one is {:?}", task.status),
        ));
    }
    task.status = TaskStatus::Cancelled;
    task.finished_at = Some(app.clock.now());
    task.decided_by = Some(tenant.user_id().to_string());
    // A task waiting for a retry still holds its reservation.
    end_releasing(app, tenant, task).await
}

/// An admin approves or rejects a task awaiting approval: an agent's follow-up before it is
/// written, or a post or campaign whose text (`draft`) is written and waits to be read.
/// Approved, it is due again at its `runAt` (or now, if that has passed) and goes out as
/// written.
pub async fn decide(app: &App, tenant: &TenantCtx, mut task: Task, approve: bool) -> AppResult<Task> {
    if task.status != TaskStatus::Pending || task.approval != Approval::Awaiting {
        return Err(AppError::conflict(
            "TASK_NOT_AWAITING_APPROVAL",
            "this task is not awaiting approval",
        ));
    }
    let now = app.clock.now();
    task.decided_by = Some(tenant.user_id().to_string());
    let (action, details) = (
        if approve { "task.approved" } else { "task.rejected" },
        serde_json::json!({"kind": task.kind.as_str(), "byAgent": task.origin == Origin::Agent}),
    );
    let record = crate::audit::entry(tenant, now, action, format!("task:{}", task.id), details)?;
    if approve {
        task.approval = Approval::Approved;
        // Sending is a run of its own, with its own attempts (writing the draft took one).
        task.attempts = 0;
        task.run_at = task.run_at.max(now);
    } else {
        task.approval = Approval::Rejected;
        task.status = TaskStatus::Cancelled;
        task.finished_at = Some(now);
        // A rejected draft gives back all it held: only the AI call that wrote it is spent.
        return end_releasing_with(app, tenant, task, vec![record]).await;
    }
    save_with(app, tenant.org_id(), task, vec![record]).await
}

/// A task that Chief makes (`kind` is one that `made_by_chief`): a person's to-do, where
/// `for_user` is whom it is for and `input` says what about; or a follow-up that the executor
/// runs. It spends nothing of the tasks quota; what it sends is reserved when it sends.
pub fn made_by_chief(kind: TaskType, now: DateTime<Utc>, for_user: &UserId, input: Value) -> AppResult<Task> {
    if !kind.made_by_chief() {
        return Err(AppError::internal("only Chief's own tasks are made this way"));
    }
    Ok(Task {
        id: TaskId::generate(),
        kind,
        input,
        status: TaskStatus::Pending,
        approval: Approval::NotRequired,
        origin: Origin::Agent,
        run_at: now,
        output: None,
        error: None,
        attempts: 0,
        lease_until: None,
        created_by: for_user.clone(),
        decided_by: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        need: Need::default(),
        reserved: None,
        reserved_in: None,
        draft: None,
        version: 1,
    })
}

/// A task id derived from what it is about (`kind` and `subject`), so that the same thing
/// never makes two tasks, however often it is asked for. Its time part comes from the subject
/// when that is a ULID (so it sorts with it), else zero.
pub fn derived_id(kind: &str, subject: &str) -> TaskId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{kind}|{subject}").as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let at = subject
        .get(..26)
        .and_then(|head| ulid::Ulid::from_string(head).ok())
        .map_or(0, |u| u.timestamp_ms());
    TaskId::from_ulid(ulid::Ulid::from_parts(at, u128::from_be_bytes(random)))
}

pub(crate) fn task_event(tenant: &TenantCtx, task: &Task, kind: &str) -> crate::ports::events::DomainEvent {
    crate::ports::events::DomainEvent {
        id: format!("{kind}:{}", task.id),
        source: "chief.tasks".into(),
        detail_type: kind.into(),
        org_id: tenant.org_id().clone(),
        at: task.updated_at,
        detail: serde_json::json!({"taskId": task.id, "type": task.kind, "status": task.status, "origin": task.origin, "attempts": task.attempts}),
    }
}

pub(crate) async fn publish_event(app: &App, event: crate::ports::events::DomainEvent) {
    if let Err(e) = app.events.publish(&[event]).await {
        tracing::warn!(error = %e, "task event not published");
    }
}

/// The publishing pipeline settled a task's post: the task completes with `Ok(output)` (the
/// post's platform, id and URL) or fails with `Err(error)`. Idempotent: a finished task is
/// left as it is.
pub async fn settle_from_post(app: &App, tenant: &TenantCtx, task_id: &TaskId, result: Result<Value, String>) -> AppResult<()> {
    let Some(item) = app.table.get(&tenant.key(keys::task_sk(task_id))).await? else {
        return Ok(());
    };
    let mut task: Task = from_item(item)?;
    if task.is_finished() {
        return Ok(());
    }
    task.lease_until = None;
    task.finished_at = Some(app.clock.now());
    let saved = match result {
        Ok(output) => {
            task.status = TaskStatus::Completed;
            task.error = None;
            task.output = Some(output);
            save(app, tenant.org_id(), task).await
        }
        Err(error) => {
            task.status = TaskStatus::Failed;
            task.error = Some(error);
            end_releasing(app, tenant, task).await
        }
    };
    match saved {
        Ok(task) => {
            let kind = if task.status == TaskStatus::Completed {
                "task.completed"
            } else {
                "task.failed"
            };
            publish_event(app, task_event(tenant, &task, kind)).await;
            Ok(())
        }
        Err(AppError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
