//! Follow-ups on deals. A deal's `nextFollowUpAt` puts it in the due index; when it falls due
//! the minute executor (`fire`) makes one `sponsor_followup` task per (deal, due time) and
//! clears the field, in one transaction with a `follow_up_due` activity. That task, run by
//! `job-run-task`, mails the deal's owner a reminder (a notice to a member: not counted
//! against the emails quota) and, under the autonomy policy for emails, has the AI write a
//! follow-up to the sponsor's first contact: by default it waits for an admin, who reads the
//! exact text; once approved it goes out as written (counted against the emails quota).
//!
//! Idempotent: the task's id is derived from (deal, due time) and written only if absent, so
//! two executors or a duplicated tick make one; the reminder and the sponsor's mail each have
//! a marker written before they go (and taken back if the mail fails), so a redelivered job
//! sends neither twice.

use super::{ActivityKind, Deal, DealActivity, Sponsor, deal_from};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{DealId, OrgId, TaskId};
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::mailer::Email;
use crate::ports::table::{Condition, Item, TableError, TxOp};
use crate::tasks::{Approval, Draft, Task, TaskType};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A `sponsor_followup` task's input.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FollowupInput {
    pub deal_id: DealId,
    /// The follow-up time that made it (none when a member asked for a draft).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    /// Whether the deal's owner is reminded (a due follow-up), or only the sponsor's mail is
    /// written (a draft asked for).
    pub remind_owner: bool,
}

/// The task a deal's follow-up due at `due` makes: derived from both, so one per pair.
pub fn task_id(deal_id: &DealId, due: DateTime<Utc>) -> TaskId {
    crate::tasks::derived_id("sponsor_followup", &format!("{deal_id}|{}", crate::clock::timestamp(due)))
}

/// What the executor's tick did with a deal's due entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// The reminder's task was made and the field cleared.
    Made,
    /// Another tick (or a person's edit) got there first, or the entry was stale.
    Skipped,
}

/// The executor's side: a deal whose follow-up fell due. Its task and the cleared field are
/// one transaction over the deal's version, so a second executor finds nothing to do.
pub async fn fire(app: &App, org_id: &OrgId, entry: Item, now: DateTime<Utc>) -> AppResult<Fired> {
    let tenant = TenantCtx::background(org_id);
    let mut deal: Deal = from_item(entry)?;
    let Some(due) = deal.next_follow_up_at.filter(|at| *at <= now) else {
        return Ok(Fired::Skipped);
    };
    let read = deal.version;
    deal.next_follow_up_at = None;
    deal.last_activity_at = now;
    deal.version += 1;
    deal.updated_at = now;
    let activity = DealActivity::new(
        &deal,
        ActivityKind::FollowUpDue,
        format!("Follow-up due {}", crate::clock::timestamp(due)),
        crate::ids::BACKGROUND_USER,
        now,
    );
    let for_user = deal
        .owner_id
        .clone()
        .unwrap_or_else(|| crate::ids::UserId::read(&deal.created_by).unwrap_or_else(|_| crate::ids::UserId::background()));
    let input = FollowupInput {
        deal_id: deal.id.clone(),
        due_at: Some(crate::clock::timestamp(due)),
        remind_owner: true,
    };
    let mut task = crate::tasks::made_by_chief(TaskType::SponsorFollowup, now, &for_user, serde_json::to_value(input)?)?;
    task.id = task_id(&deal.id, due);
    let deal_op = deal.write(&tenant, read)?;
    let task_op = TxOp::Put {
        item: task.to_item(org_id)?,
        condition: Some(Condition::NotExists),
    };
    match app.table.transact(vec![deal_op.clone(), activity.write(&tenant)?, task_op]).await {
        Ok(()) => Ok(Fired::Made),
        Err(TableError::ConditionFailed { op: Some(0) }) => Ok(Fired::Skipped),
        // This (deal, due time) had its reminder already (the same time set again): one per
        // pair, so the field is only cleared.
        Err(TableError::ConditionFailed { op: Some(2) }) => match app.table.transact(vec![deal_op]).await {
            Ok(()) | Err(TableError::ConditionFailed { .. }) => Ok(Fired::Skipped),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// The agent sets a quiet deal's follow-up for the next tick, if it is still open, quiet and
/// without one; answers whether it did.
pub async fn set_by_agent(app: &App, tenant: &TenantCtx, deal_id: &DealId) -> AppResult<bool> {
    let Some(item) = app.table.get(&tenant.key(keys::deal_sk(deal_id))).await? else {
        return Ok(false);
    };
    let mut deal = deal_from(Some(item))?;
    if !deal.stage.is_open() || deal.next_follow_up_at.is_some() {
        return Ok(false);
    }
    let now = app.clock.now();
    let read = deal.version;
    deal.next_follow_up_at = Some(now);
    deal.version += 1;
    deal.updated_at = now;
    let put = TxOp::Put {
        item: deal.to_item(tenant)?,
        condition: Some(Condition::VersionEquals(read)),
    };
    let details = serde_json::json!({"title": deal.title, "nextFollowUpAt": crate::clock::timestamp(now)});
    let record = crate::audit::entry(tenant, now, "agent.deal_follow_up_set", format!("deal:{deal_id}"), details)?;
    match app.table.transact(vec![put, record]).await {
        Ok(()) => Ok(true),
        Err(TableError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn subject(deal: &Deal) -> String {
    format!("Following up: {}", deal.title)
}

/// What the AI is asked for a follow-up to the sponsor's contact.
pub fn ask(deal: &Deal, sponsor: &Sponsor, contact: &super::Contact) -> String {
    format!(
        "Write a short, warm follow-up email to {}{} at {} about our deal \"{}\" ({}, now at the {} stage). Move it one step forward with one clear question. Plain text body only: no subject line, no placeholders, sign off as the team.",
        contact.name,
        contact.role.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
        sponsor.name,
        deal.title,
        serde_json::to_value(deal.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        deal.stage.as_str(),
    )
}

/// The deal and its sponsor, for a follow-up.
pub async fn deal_and_sponsor(app: &App, tenant: &TenantCtx, deal_id: &DealId) -> AppResult<(Deal, Sponsor)> {
    let deal = deal_from(app.table.get(&tenant.key(keys::deal_sk(deal_id))).await?)?;
    let sponsor = super::sponsor_from(app.table.get(&tenant.key(keys::sponsor_sk(&deal.sponsor_id))).await?)?;
    Ok((deal, sponsor))
}

/// Mails the deal's owner (else the org's owners) once per task: a marker is written before
/// the mail and taken back if it fails, so the retry sends it.
pub async fn remind_owner(app: &App, tenant: &TenantCtx, task_id: &TaskId, deal: &Deal, sponsor: &Sponsor) -> AppResult<()> {
    let marker = to_item(
        &tenant.pk(),
        &keys::task_notice_sk(task_id),
        &json!({"at": crate::clock::timestamp(app.clock.now())}),
    )?;
    match app.table.put(marker, Some(Condition::NotExists)).await {
        Ok(()) => {}
        Err(TableError::ConditionFailed { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let link = format!(
        "{}/orgs/{}/deals/{}",
        app.settings.app_url.trim_end_matches('/'),
        tenant.org_id(),
        deal.id
    );
    for to in crate::orgs::members::notice_to(app, tenant, deal.owner_id.as_deref()).await? {
        let email = Email {
            to,
            subject: format!("Follow up with {}: {}", sponsor.name, deal.title),
            text: format!(
                "The follow-up you set on \"{}\" with {} is due (stage: {}).\nOpen the deal: {link}\n",
                deal.title,
                sponsor.name,
                deal.stage.as_str()
            ),
        };
        if let Err(e) = app.mailer.send(email).await {
            app.table.delete(&tenant.key(keys::task_notice_sk(task_id)), None).await?;
            return Err(AppError::unavailable("the follow-up reminder was not sent", e));
        }
    }
    Ok(())
}

/// Sends the written follow-up to the sponsor's contact once per task (marker first, taken
/// back if the mail fails), and records it on the deal. Answers whether this call sent it.
pub async fn send_to_sponsor(app: &App, tenant: &TenantCtx, task: &Task, deal: &Deal, to: &str, draft: &Draft) -> AppResult<bool> {
    let marker_sk = keys::campaign_send_sk(&task.id, "sponsor");
    let marker = to_item(
        &tenant.pk(),
        &marker_sk,
        &json!({"to": to, "at": crate::clock::timestamp(app.clock.now())}),
    )?;
    match app.table.put(marker, Some(Condition::NotExists)).await {
        Ok(()) => {}
        Err(TableError::ConditionFailed { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let email = Email {
        to: to.to_string(),
        subject: subject(deal),
        text: draft.text.clone(),
    };
    if let Err(e) = app.mailer.send(email).await {
        app.table.delete(&tenant.key(marker_sk), None).await?;
        return Err(AppError::unavailable("the follow-up to the sponsor was not sent", e));
    }
    // Keyed by the task: a retried run finds it written.
    let mut activity = DealActivity::new(
        deal,
        ActivityKind::FollowUpSent,
        format!("Follow-up mailed to {to}"),
        task.decided_by.as_deref().unwrap_or(crate::ids::BACKGROUND_USER),
        app.clock.now(),
    );
    activity.id = task.id.to_string();
    match app.table.transact(vec![activity.write(tenant)?]).await {
        Ok(()) | Err(TableError::ConditionFailed { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    touch(app, tenant, &deal.id).await?;
    Ok(true)
}

/// Moves a deal's `lastActivityAt` to now (a few tries when it changes meanwhile).
async fn touch(app: &App, tenant: &TenantCtx, deal_id: &DealId) -> AppResult<()> {
    for _ in 0..3 {
        let Some(item) = app.table.get(&tenant.key(keys::deal_sk(deal_id))).await? else {
            return Ok(());
        };
        let mut deal = deal_from(Some(item))?;
        let read = deal.version;
        deal.last_activity_at = app.clock.now();
        deal.version += 1;
        match app.table.put(deal.to_item(tenant)?, Some(Condition::VersionEquals(read))).await {
            Ok(()) => return Ok(()),
            Err(TableError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `POST …/deals/{dealId}/follow-up`: one AI call writes a follow-up to the sponsor's first
/// contact now; it waits as a task for an admin to approve, and goes out as written.
pub async fn draft_now(
    app: &App,
    tenant: &TenantCtx,
    org: &crate::tasks::context::OrgContext,
    deal: &Deal,
    sponsor: &Sponsor,
) -> AppResult<Task> {
    let Some((contact, to)) = sponsor.first_contact() else {
        return Err(AppError::validation(
            "the sponsor has no contact with an email address: add one to its contacts",
        ));
    };
    let completion = org
        .ask(
            app,
            tenant,
            crate::ports::ai::AiUse::Routine,
            ask(deal, sponsor, contact),
            "sponsor_followup",
        )
        .await?;
    let now = app.clock.now();
    let input = FollowupInput {
        deal_id: deal.id.clone(),
        due_at: None,
        remind_owner: false,
    };
    let mut task = crate::tasks::made_by_chief(TaskType::SponsorFollowup, now, tenant.user_id(), serde_json::to_value(input)?)?;
    task.approval = Approval::Awaiting;
    task.output = Some(json!({"to": to, "subject": subject(deal), "text": completion.text, "dealId": deal.id}));
    task.draft = Some(Draft {
        text: completion.text,
        provider: completion.provider,
        model: completion.model,
        written_at: now,
    });
    app.table.put(task.to_item(tenant.org_id())?, Some(Condition::NotExists)).await?;
    Ok(task)
}
