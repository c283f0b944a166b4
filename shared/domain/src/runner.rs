//! `job-run-task`: carries out a claimed task and records the outcome.
//!
//! Idempotent under at-least-once delivery: a job names the version its claim wrote, and a
//! task no longer IN_PROGRESS at that version is left alone (a redelivery, or a claim taken
//! again after its lease). Each effect is keyed by the task: the sandbox post by the task id,
//! each campaign email by a marker written before the send, the follow-up's activity by the
//! task id. Completion is a write conditional on the claim's version, with the usage it
//! spends in the same transaction, so two concurrent deliveries complete it once.

use crate::app::App;
use crate::content::accounts::SocialAccount;
use crate::content::posts::{NewPost, Post, PostStatus, new_post};
use crate::error::{AppError, AppResult};
use crate::executor::{MAX_ATTEMPTS, RunTaskJob};
use crate::ids::TaskId;
use crate::keys;
use crate::leads::Lead;
use crate::leads::activities::{self, Activity, ActivityKind};
use crate::model::from_item;
use crate::platforms::{self, Platform};
use crate::ports::ai::AiUse;
use crate::ports::mailer::Email;
use crate::ports::table::{Condition, Counter, Item, TableError};
use crate::tasks::autonomy::Autonomy;
use crate::tasks::context::OrgContext;
use crate::tasks::{Approval, CampaignInput, Draft, FollowupInput, Origin, PostInput, Task, TaskStatus, TaskType, save};
use crate::tenancy::TenantCtx;
use crate::usage::{self, Metric, Need};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum RunOutcome {
    Completed {
        task_id: TaskId,
    },
    Failed {
        task_id: TaskId,
        error: String,
    },
    /// A transient failure: the task is due again at `run_at`.
    Retrying {
        task_id: TaskId,
        #[serde(with = "crate::clock::rfc3339")]
        run_at: DateTime<Utc>,
        error: String,
    },
    /// The text is written and waits for an admin to approve or reject it.
    AwaitingApproval {
        task_id: TaskId,
    },
    /// Its post is in the publishing pipeline; the task completes when the post is out.
    HandedOn {
        task_id: TaskId,
    },
    /// Nothing to do: a redelivered or superseded job, or a task or org that is gone.
    Skipped {
        reason: &'static str,
    },
}

/// A redelivered job, or one whose claim was taken again after its lease.
const HANDLED_ELSEWHERE: RunOutcome = RunOutcome::Skipped {
    reason: "the task was handled by another delivery",
};

/// What a finished piece of work sent, beside the AI calls it already spent.
struct Done {
    output: Value,
    sent: Need,
}

/// Runs one job. An error means the message should come back (store down, unreadable body);
/// every outcome of the task itself, failure included, is recorded and answered as `Ok`.
pub async fn run(app: &App, body: &str) -> AppResult<RunOutcome> {
    let job: RunTaskJob = serde_json::from_str(body).map_err(|e| AppError::validation(format!("not a task job: {e}")))?;
    crate::ids::check(&job.org_id, "orgId")?;
    crate::ids::check(&job.task_id, "taskId")?;
    let tenant = TenantCtx::background(&job.org_id);
    let now = app.clock.now();
    let mut wanted = vec![keys::task_sk(&job.task_id)];
    wanted.extend(OrgContext::sort_keys(now));
    let keys: Vec<_> = wanted.into_iter().map(|sk| tenant.key(sk)).collect();
    let mut items = app.table.get_many(&keys).await?.into_iter();
    let Some(task_item) = items.next().flatten() else {
        return Ok(RunOutcome::Skipped {
            reason: "the task is gone",
        });
    };
    let mut task: Task = from_item(task_item)?;
    if task.status != TaskStatus::InProgress || task.version != job.claim {
        return Ok(HANDLED_ELSEWHERE);
    }
    let org_items: Vec<_> = items.collect();
    if org_items.first().is_none_or(Option::is_none) {
        return Ok(RunOutcome::Skipped {
            reason: "the organisation is gone",
        });
    }
    let org = OrgContext::from_items(org_items, now)?;
    let work = match still_member(app, &tenant, &task).await {
        Err(e) => Err(e),
        Ok(()) => match task.kind {
            TaskType::SocialMediaPost => post(app, &tenant, &org, &task).await,
            TaskType::EmailCampaign => campaign(app, &tenant, &org, &mut task).await,
            TaskType::LeadFollowup => followup(app, &tenant, &org, &task).await.map(Step::Done),
            TaskType::SponsorFollowup => sponsor_followup(app, &tenant, &org, &mut task).await,
            TaskType::ReconnectAccount | TaskType::ClientFollowup | TaskType::InvoiceSponsor => {
                Err(AppError::validation("this task is a person's to do"))
            }
        },
    };
    match work {
        Ok(Step::Done(done)) => complete(app, &tenant, task, done).await,
        Ok(Step::Drafted(draft, output)) => hold_for_review(app, &tenant, task, draft, output).await,
        Ok(Step::HandedOn(post)) => hand_on(app, &tenant, task, *post).await,
        Err(e) => fail(app, &tenant, task, e).await,
    }
}

/// Where a run ended: the work is done; or the text is written and waits to be read (with
/// what to show beside it); or a post is on its way through the publishing pipeline.
enum Step {
    Done(Done),
    Drafted(Draft, Option<Value>),
    HandedOn(Box<Post>),
}

/// The text a post or campaign sends: the draft written by an earlier run, or a new one.
/// Under an `off` policy nothing is written.
async fn text_for(app: &App, tenant: &TenantCtx, org: &OrgContext, task: &Task, ask: String) -> AppResult<Draft> {
    if org.policy.for_kind(task.kind) == Autonomy::Off {
        return Err(AppError::conflict(
            "AUTONOMY_OFF",
            format!("the autonomy policy has {} off", task.kind.as_str()),
        ));
    }
    if let Some(draft) = &task.draft {
        return Ok(draft.clone());
    }
    let completion = org.ask(app, tenant, AiUse::Routine, ask, task.kind.as_str()).await?;
    Ok(Draft {
        text: completion.text,
        provider: completion.provider,
        model: completion.model,
        written_at: app.clock.now(),
    })
}

/// Under an `approval` policy, what the AI wrote goes out only once a person approved it.
fn awaits_review(org: &OrgContext, task: &Task) -> bool {
    task.approval != Approval::Approved && org.policy.for_kind(task.kind) == Autonomy::Approval
}

/// Keeps the written text on the task and hands it to an admin (approve or reject); the
/// task keeps its reservation meanwhile. Conditional on the claim, like a completion.
async fn hold_for_review(app: &App, tenant: &TenantCtx, mut task: Task, draft: Draft, output: Option<Value>) -> AppResult<RunOutcome> {
    task.status = TaskStatus::Pending;
    task.approval = Approval::Awaiting;
    task.draft = Some(draft);
    task.output = output;
    task.lease_until = None;
    task.error = None;
    match save(app, tenant.org_id(), task).await {
        Ok(task) => Ok(RunOutcome::AwaitingApproval { task_id: task.id }),
        Err(AppError::Conflict { .. }) => Ok(HANDLED_ELSEWHERE),
        Err(e) => Err(e),
    }
}

/// A member's task runs only while its creator is still a member of the org.
async fn still_member(app: &App, tenant: &TenantCtx, task: &Task) -> AppResult<()> {
    if task.origin != Origin::Member {
        return Ok(());
    }
    match app.table.get(&tenant.key(keys::member_sk(&task.created_by))).await? {
        Some(_) => Ok(()),
        None => Err(AppError::Forbidden(
            "the member who created this task has left the organisation".into(),
        )),
    }
}

fn input<T: serde::de::DeserializeOwned>(task: &Task) -> AppResult<T> {
    serde_json::from_value(task.input.clone()).map_err(|e| AppError::validation(format!("stored input unreadable: {e}")))
}

/// A post task writes its text once, as a draft post (the words exist before anyone approves
/// them), then hands the post to the publishing pipeline once it may go: the task completes
/// when its post is published (`post_settled`). Under the `approval` policy the task waits
/// with the draft's id and text in its output, and approving either approves both.
async fn post(app: &App, tenant: &TenantCtx, org: &OrgContext, task: &Task) -> AppResult<Step> {
    let input: PostInput = input(task)?;
    let platform = Platform::parse(&input.platform)?;
    let ask = format!(
        "Write one {} social media post (at most {} characters, at most two hashtags) about: {}",
        platform.as_str(),
        platform.rules().max_length.min(1_000),
        input.topic
    );
    let draft = text_for(app, tenant, org, task, ask).await?;
    let post = draft_post(app, tenant, task, platform, &draft).await?;
    if awaits_review(org, task) {
        let output = json!({"postId": post.id, "text": post.outgoing_text(), "platform": post.platform});
        return Ok(Step::Drafted(draft, Some(output)));
    }
    if post.status != PostStatus::Draft && post.status != PostStatus::Approved {
        // Handed on by an earlier run whose completion was lost.
        return Ok(Step::HandedOn(Box::new(post)));
    }
    let account = account_for(app, tenant, &input, platform).await?;
    let approver = task.decided_by.clone().unwrap_or_else(|| crate::ids::BACKGROUND_USER.to_string());
    let mut post = post;
    if !post.is_approved() {
        crate::content::posts::approve_now(&mut post, &approver, app.clock.now())?;
    }
    let post = crate::content::posts::schedule(app, tenant, org.plan, post, &account, app.clock.now(), true, None).await?;
    Ok(Step::HandedOn(Box::new(post)))
}

/// The task's draft post, written once: its id is the task's, so a second run finds it.
async fn draft_post(app: &App, tenant: &TenantCtx, task: &Task, platform: Platform, draft: &Draft) -> AppResult<Post> {
    let id = crate::content::publish::task_post_id(&task.id);
    if let Some(item) = app.table.get(&tenant.key(keys::post_sk(&id))).await? {
        return from_item(item);
    }
    let (text, hashtags) = platforms::fit(platform, draft.text.trim(), Vec::new());
    let mut post = new_post(
        app.clock.now(),
        &task.created_by,
        NewPost {
            platform,
            text,
            hashtags,
            media_urls: Vec::new(),
            pillar: None,
            content_id: None,
            thread: Vec::new(),
        },
    )?;
    post.id = id;
    post.task_id = Some(task.id.clone());
    post.written_by = Some(format!("{}:{}", draft.provider, draft.model));
    match crate::content::posts::insert(app, tenant, &post).await {
        Ok(()) => Ok(post),
        Err(AppError::Conflict { .. }) => crate::content::posts::post_from(app.table.get(&tenant.key(keys::post_sk(&post.id))).await?),
        Err(e) => Err(e),
    }
}

/// The account a task's post goes through: the one its input names, else the org's first
/// that can post it; an org with none gets a sandbox account named `Sandbox`.
async fn account_for(app: &App, tenant: &TenantCtx, input: &PostInput, platform: Platform) -> AppResult<SocialAccount> {
    let accounts = crate::content::accounts::list(app, tenant).await?;
    if let Some(id) = &input.account_id {
        return accounts
            .into_iter()
            .find(|a| a.id == id.as_str())
            .ok_or_else(|| AppError::validation("input.accountId: no such account in this organisation"));
    }
    if let Some(account) = accounts.iter().find(|a| a.can_post(platform).is_ok()) {
        return Ok(account.clone());
    }
    if accounts.iter().any(|a| a.is_sandbox()) {
        return Err(AppError::conflict("ACCOUNT_NEEDS_REAUTH", "no account of the org can post now"));
    }
    crate::content::accounts::default_sandbox(app, tenant).await
}

/// The post is on its way: the task waits (in progress, with no lease, so the executor
/// leaves it) until the pipeline settles the post.
async fn hand_on(app: &App, tenant: &TenantCtx, mut task: Task, post: Post) -> AppResult<RunOutcome> {
    task.lease_until = None;
    task.error = None;
    task.output = Some(
        json!({"postId": post.id, "platform": post.platform, "status": post.status, "scheduledAt": post.scheduled_at.map(crate::clock::timestamp)}),
    );
    match save(app, tenant.org_id(), task).await {
        Ok(task) => Ok(RunOutcome::HandedOn { task_id: task.id }),
        Err(AppError::Conflict { .. }) => Ok(HANDLED_ELSEWHERE),
        Err(e) => Err(e),
    }
}

async fn campaign(app: &App, tenant: &TenantCtx, org: &OrgContext, task: &mut Task) -> AppResult<Step> {
    let input: CampaignInput = input(task)?;
    let keys: Vec<_> = input.lead_ids.iter().map(|id| tenant.key(keys::lead_sk(id))).collect();
    let leads: Vec<Option<Item>> = app.table.get_many(&keys).await?;
    let mut recipients = Vec::new();
    let (mut missing, mut without_email) = (Vec::new(), Vec::new());
    for (id, item) in input.lead_ids.iter().zip(leads) {
        match item.map(from_item::<Lead>).transpose()? {
            None => missing.push(id.clone()),
            Some(lead) => match lead.email.clone() {
                Some(email) => recipients.push((lead, email)),
                None => without_email.push(id.clone()),
            },
        }
    }
    if recipients.is_empty() {
        return Err(AppError::validation("none of the campaign's leads has an email address"));
    }
    hold_emails(app, tenant, org, task, recipients.len() as i64).await?;
    let ask = format!(
        "Write the body of a short marketing email. Subject: {}. Brief: {}. Plain text, no greeting line, sign off as the team.",
        input.subject, input.brief
    );
    let completion = text_for(app, tenant, org, task, ask).await?;
    if awaits_review(org, task) {
        return Ok(Step::Drafted(completion, None));
    }
    let (mut sent, mut sent_before) = (0i64, 0usize);
    for (lead, email) in &recipients {
        let marker = crate::model::to_item(
            &tenant.pk(),
            &keys::campaign_send_sk(&task.id, &lead.id),
            &json!({"to": email, "at": crate::clock::timestamp(app.clock.now())}),
        )?;
        match app.table.put(marker, Some(Condition::NotExists)).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                sent_before += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let mail = Email {
            to: email.clone(),
            subject: input.subject.clone(),
            text: format!("Hello {},\n\n{}", lead.name, completion.text),
        };
        if let Err(e) = app.mailer.send(mail).await {
            // Not sent: take the marker back so that the retry sends it.
            app.table
                .delete(&tenant.key(keys::campaign_send_sk(&task.id, &lead.id)), None)
                .await?;
            return Err(AppError::unavailable("mail to a lead was not sent", e));
        }
        sent += 1;
    }
    Ok(Step::Done(Done {
        output: json!({
            "subject": input.subject,
            "sent": sent + sent_before as i64,
            "missingLeads": missing,
            "leadsWithoutEmail": without_email,
            "provider": completion.provider,
            "model": completion.model,
        }),
        sent: Need {
            emails: sent + sent_before as i64,
            ..Need::default()
        },
    }))
}

/// Leads may have gained an address since the campaign was created: the emails beyond its
/// reservation are reserved before anything is sent (402 when the month has no room), and
/// the task records the larger reservation before it mails.
async fn hold_emails(app: &App, tenant: &TenantCtx, org: &OrgContext, task: &mut Task, recipients: i64) -> AppResult<()> {
    let mut held = task.reserved.unwrap_or_default();
    let extra = recipients - held.emails;
    if extra <= 0 {
        return Ok(());
    }
    let month = task.reserved_in.clone().unwrap_or_else(|| usage::month(app.clock.now()));
    let key = crate::ports::table::Key::new(tenant.pk(), keys::usage_sk(&month));
    let limit = org.plan.limit(Metric::Emails);
    if let Err(e) = app.table.add(&key, Counter::new(Metric::Emails.attr(), extra).at_most(limit)).await {
        return Err(usage::quota_error(e, None, Metric::Emails, org.plan));
    }
    held.emails = recipients;
    task.reserved = Some(held);
    task.reserved_in = Some(month);
    let saved = save(app, tenant.org_id(), task.clone()).await?;
    *task = saved;
    Ok(())
}

async fn followup(app: &App, tenant: &TenantCtx, org: &OrgContext, task: &Task) -> AppResult<Done> {
    let input: FollowupInput = input(task)?;
    let lead: Lead = crate::leads::lead_from(app.table.get(&tenant.key(keys::lead_sk(&input.lead_id))).await?)?;
    let mut ask = format!(
        "Write a short, personal follow-up message to {}{}{}.",
        lead.name,
        lead.title.as_deref().map(|t| format!(", {t}")).unwrap_or_default(),
        lead.company.as_deref().map(|c| format!(" at {c}")).unwrap_or_default()
    );
    if let Some(note) = &input.note {
        ask.push_str(&format!(" Context: {note}"));
    }
    let completion = org.ask(app, tenant, AiUse::Routine, ask, "lead_followup").await?;
    let now = app.clock.now();
    let next = now + Duration::days(i64::from(input.next_follow_up_days));
    // Keyed by the task and its due time, neither of which a later claim of the same run
    // changes, so a redelivered job or a retaken claim finds its activity stored.
    let activity = Activity {
        id: task.id.to_string(),
        lead_id: lead.id.clone(),
        kind: ActivityKind::Note,
        summary: format!("Follow-up written by the AI CEO: {}", completion.text),
        occurred_at: task.run_at,
        created_by: crate::ids::BACKGROUND_USER.into(),
        created_at: now,
    };
    let (activity, _) = activities::record(app, tenant, lead, activity, move |lead| lead.next_follow_up_at = Some(next)).await?;
    Ok(Done {
        output: json!({
            "leadId": input.lead_id,
            "message": completion.text,
            "activityId": activity.id,
            "nextFollowUpAt": crate::clock::timestamp(next),
            "provider": completion.provider,
            "model": completion.model,
        }),
        sent: Need::default(),
    })
}

/// A deal's follow-up: the owner's reminder (when it fell due), then the sponsor's mail under
/// the policy for emails: written once, held for review under `approval`, sent as written.
async fn sponsor_followup(app: &App, tenant: &TenantCtx, org: &OrgContext, task: &mut Task) -> AppResult<Step> {
    use crate::deals::followups;
    let input: followups::FollowupInput = input(task)?;
    let (deal, sponsor) = followups::deal_and_sponsor(app, tenant, &input.deal_id).await?;
    if input.remind_owner {
        followups::remind_owner(app, tenant, &task.id, &deal, &sponsor).await?;
    }
    let done = |sponsor_mail: &str| {
        Step::Done(Done {
            output: json!({"dealId": deal.id, "reminded": input.remind_owner, "sponsorMail": sponsor_mail}),
            sent: Need::default(),
        })
    };
    let Some((contact, to)) = sponsor.first_contact() else {
        return Ok(done("no_contact_email"));
    };
    if org.policy.for_kind(task.kind) == Autonomy::Off {
        return Ok(done("policy_off"));
    }
    hold_emails(app, tenant, org, task, 1).await?;
    let draft = text_for(app, tenant, org, task, followups::ask(&deal, &sponsor, contact)).await?;
    let shown = json!({"dealId": deal.id, "to": to, "subject": followups::subject(&deal), "text": draft.text});
    if awaits_review(org, task) {
        return Ok(Step::Drafted(draft, Some(shown)));
    }
    followups::send_to_sponsor(app, tenant, task, &deal, to, &draft).await?;
    Ok(Step::Done(Done {
        output: json!({"dealId": deal.id, "reminded": input.remind_owner, "sponsorMail": "sent", "to": to, "subject": followups::subject(&deal), "provider": draft.provider, "model": draft.model}),
        sent: Need {
            emails: 1,
            ..Need::default()
        },
    }))
}

async fn complete(app: &App, tenant: &TenantCtx, mut task: Task, done: Done) -> AppResult<RunOutcome> {
    let now = app.clock.now();
    let reserved = task.reserved;
    let held = reserved.unwrap_or_default();
    // The run counts whatever it sent; a proposal that ran counts as the task it reserved.
    let sent = Need {
        tasks: held.tasks,
        ..done.sent
    };
    task.status = TaskStatus::Completed;
    task.output = Some(done.output);
    task.error = None;
    task.lease_until = None;
    task.finished_at = Some(now);
    task.reserved = Some(sent);
    let month = task.reserved_in.clone().unwrap_or_else(|| usage::month(app.clock.now()));
    // Sent beyond the reservation cannot happen (each send was reserved first); what was
    // reserved and not sent goes back in the same write. A task claimed before reservations
    // existed counts what it sent here.
    let usage = match reserved {
        Some(held) => usage::release(tenant, &held.beyond(&sent), &month),
        None => usage::count_unreserved(tenant, &sent, &month),
    };
    let task = match crate::tasks::save_with(app, tenant.org_id(), task, usage.into_iter().collect()).await {
        Ok(task) => task,
        Err(AppError::Conflict { .. }) => return Ok(HANDLED_ELSEWHERE),
        Err(e) => return Err(e),
    };
    crate::tasks::publish_event(app, crate::tasks::task_event(tenant, &task, "task.completed")).await;
    Ok(RunOutcome::Completed { task_id: task.id })
}

/// Transient failures (a provider or the store briefly down) run again later, up to
/// `MAX_ATTEMPTS` runs; anything else fails the task at once with the reason.
async fn fail(app: &App, tenant: &TenantCtx, mut task: Task, error: AppError) -> AppResult<RunOutcome> {
    let transient = error.is_transient();
    let now = app.clock.now();
    let message = error.public_message();
    task.error = Some(message.clone());
    task.lease_until = None;
    let retry = transient && task.attempts < MAX_ATTEMPTS;
    if retry {
        task.status = TaskStatus::Pending;
        task.run_at = now + Duration::minutes(2_i64.pow(task.attempts));
    } else {
        task.status = TaskStatus::Failed;
        task.finished_at = Some(now);
    }
    // A retry keeps its reservation for the next run; a task that ends gives back what it
    // did not send.
    let saved = if retry {
        save(app, tenant.org_id(), task).await
    } else {
        crate::tasks::end_releasing(app, tenant, task).await
    };
    let task = match saved {
        Ok(task) => task,
        Err(AppError::Conflict { .. }) => {
            return Ok(HANDLED_ELSEWHERE);
        }
        Err(e) => return Err(e),
    };
    if retry {
        return Ok(RunOutcome::Retrying {
            task_id: task.id,
            run_at: task.run_at,
            error: message,
        });
    }
    crate::tasks::publish_event(app, crate::tasks::task_event(tenant, &task, "task.failed")).await;
    Ok(RunOutcome::Failed {
        task_id: task.id,
        error: message,
    })
}

/// An admin approves or rejects a task awaiting approval (`tasks::decide`); a post task's
/// draft post goes with it.
pub async fn decide(app: &App, tenant: &TenantCtx, task: Task, approve: bool) -> AppResult<Task> {
    if task.status == TaskStatus::Pending && task.approval == Approval::Awaiting {
        decide_post(app, tenant, &task, approve).await?;
    }
    crate::tasks::decide(app, tenant, task, approve).await
}

/// A post task's draft post follows its task's decision: approved with it, or deleted when
/// the task is rejected.
async fn decide_post(app: &App, tenant: &TenantCtx, task: &Task, approve: bool) -> AppResult<()> {
    if task.kind != TaskType::SocialMediaPost {
        return Ok(());
    }
    let post_id = crate::content::publish::task_post_id(&task.id);
    let Some(item) = app.table.get(&tenant.key(keys::post_sk(&post_id))).await? else {
        return Ok(());
    };
    let mut post = crate::content::posts::post_from(Some(item))?;
    if approve {
        if !post.is_approved() {
            crate::content::posts::approve_now(&mut post, tenant.user_id(), app.clock.now())?;
            crate::content::posts::save(app, tenant, post, Vec::new()).await?;
        }
        Ok(())
    } else {
        crate::content::posts::delete(app, tenant, post).await
    }
}

/// Approving a task's post approves the task, if it is still waiting.
pub async fn approve_with_post(app: &App, tenant: &TenantCtx, task_id: &TaskId) -> AppResult<()> {
    let task = crate::tasks::task_from(app.table.get(&tenant.key(keys::task_sk(task_id))).await?)?;
    if task.status == TaskStatus::Pending && task.approval == Approval::Awaiting {
        decide(app, tenant, task, true).await?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::executor::tests::{ORG, org, post_task, used};
    use crate::executor::tick;
    use crate::ports::queue::QueueName;
    use crate::testing;
    use crate::usage::Plan;

    async fn job_body(t: &testing::TestApp) -> String {
        tick(&t.app).await.unwrap();
        let messages = t.app.queue.receive(QueueName::Tasks, 10).await.unwrap();
        assert_eq!(messages.len(), 1);
        messages[0].body.clone()
    }

    /// One executor tick, then every publish job it enqueued, as job-publish runs them.
    pub async fn publish_due(t: &testing::TestApp) -> Vec<crate::content::publish::PublishOutcome> {
        tick(&t.app).await.unwrap();
        let mut outcomes = Vec::new();
        for message in t.app.queue.receive(QueueName::Publish, 10).await.unwrap() {
            outcomes.push(crate::content::publish::run(&t.app, &message.body).await.unwrap());
            t.app.queue.ack(QueueName::Publish, &message.receipt).await.unwrap();
        }
        outcomes
    }

    #[tokio::test]
    async fn a_job_delivered_again_later_has_no_second_effect() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        let task = post_task(&t, &tenant, None).await;
        let body = job_body(&t).await;
        assert_eq!(run(&t.app, &body).await.unwrap(), RunOutcome::HandedOn { task_id: task.id.clone() });
        assert!(matches!(run(&t.app, &body).await.unwrap(), RunOutcome::Skipped { .. }));
        assert_eq!(publish_due(&t).await.len(), 1);
        assert_eq!(stored(&t, &task.id).await.status, TaskStatus::Completed);
        assert_eq!(used(&t, Metric::Posts).await, 1);
        let events = t.recorder.events_of(ORG);
        assert_eq!(events.iter().filter(|e| e.detail_type == "task.completed").count(), 1);
    }

    #[tokio::test]
    async fn a_job_delivered_twice_at_once_completes_and_posts_once() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        post_task(&t, &tenant, None).await;
        let body = job_body(&t).await;
        let (a, b) = tokio::join!(run(&t.app, &body), run(&t.app, &body));
        let outcomes = [a.unwrap(), b.unwrap()];
        assert_eq!(
            outcomes.iter().filter(|o| matches!(o, RunOutcome::HandedOn { .. })).count(),
            1,
            "{outcomes:?}"
        );
        publish_due(&t).await;
        assert_eq!(used(&t, Metric::Posts).await, 1);
        assert_eq!(testing::sandbox_posts(&t.app, tenant.org_id()).await.len(), 1);
    }

    #[tokio::test]
    async fn unreadable_jobs_are_errors_so_the_queue_retries_them_toward_the_dlq() {
        let t = testing::app();
        for body in ["not json", r#"{"orgId": "x", "taskId": "y", "claim": 1}"#, r#"{"orgId": 1}"#] {
            assert!(run(&t.app, body).await.is_err(), "{body}");
        }
        let unknown = serde_json::json!({"orgId": ORG, "taskId": crate::model::new_id(), "claim": 2}).to_string();
        assert!(matches!(run(&t.app, &unknown).await.unwrap(), RunOutcome::Skipped { .. }));
    }

    async fn leads_with_email(t: &testing::TestApp, tenant: &TenantCtx, n: usize) -> Vec<crate::ids::LeadId> {
        let mut ids = Vec::new();
        for i in 0..n {
            let fields = crate::leads::LeadFields {
                name: Some(format!("Lead {i}")),
                email: Some(Some(format!("lead{i}@example.com"))),
                ..crate::leads::LeadFields::default()
            };
            let lead = crate::leads::new_lead(&t.app, tenant, fields, None).unwrap();
            crate::leads::insert(&t.app, tenant, &lead).await.unwrap();
            ids.push(lead.id);
        }
        ids
    }

    /// A member's campaign as the API makes it: its need counted from its leads.
    async fn campaign_task(t: &testing::TestApp, tenant: &TenantCtx, plan: Plan, leads: &[crate::ids::LeadId]) -> Task {
        let input = crate::tasks::NewTask {
            kind: TaskType::EmailCampaign,
            input: json!({"subject": "News", "brief": "the launch", "leadIds": leads}),
            run_at: None,
        };
        let mut task = crate::tasks::new_task(t.app.clock.now(), &"user".into(), crate::tasks::Origin::Member, input).unwrap();
        crate::tasks::campaign_need(&t.app, tenant, &mut task).await.unwrap();
        crate::tasks::insert(&t.app, tenant, plan, &task).await.unwrap();
        task
    }

    async fn stored(t: &testing::TestApp, id: &str) -> Task {
        crate::tasks::task_from(
            t.app
                .table
                .get(&TenantCtx::background(&ORG.into()).key(keys::task_sk(&id.into())))
                .await
                .unwrap(),
        )
        .unwrap()
    }

    async fn sends(t: &testing::TestApp, task: &Task) -> usize {
        let q = crate::ports::table::Query::partition(keys::org_pk(&ORG.into())).prefix(keys::campaign_send_sk(&task.id, ""));
        t.app.table.query(q).await.unwrap().items.len()
    }

    #[tokio::test]
    async fn two_campaigns_at_once_never_send_past_the_email_quota() {
        let t = testing::app();
        let tenant = org(&t, Plan::Free).await;
        let leads = leads_with_email(&t, &tenant, 3).await;
        let first = campaign_task(&t, &tenant, Plan::Free, &leads).await;
        let second = campaign_task(&t, &tenant, Plan::Free, &leads).await;
        assert_eq!(first.need.emails, 3);
        let report = tick(&t.app).await.unwrap();
        assert_eq!((report.claimed, report.over_quota), (1, 1), "{report:?}");
        let bodies: Vec<String> = t
            .app
            .queue
            .receive(QueueName::Tasks, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect();
        let (a, b) = tokio::join!(run(&t.app, &bodies[0]), run(&t.app, &bodies[0]));
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(used(&t, Metric::Emails).await, 3);
        assert_eq!(sends(&t, &first).await + sends(&t, &second).await, 3);
        let failed = [stored(&t, &first.id).await, stored(&t, &second.id).await]
            .into_iter()
            .find(|task| task.status == TaskStatus::Failed)
            .expect("one campaign found no room");
        assert!(
            failed.error.as_deref().unwrap().contains("needs 3 emails and 0 are left"),
            "{failed:?}"
        );
    }

    #[tokio::test]
    async fn a_campaign_that_sends_nothing_gives_its_reservation_back() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        let leads = leads_with_email(&t, &tenant, 2).await;
        let task = campaign_task(&t, &tenant, Plan::Pro, &leads).await;
        let body = job_body(&t).await;
        assert_eq!(used(&t, Metric::Emails).await, 2, "reserved when claimed");
        for id in &leads {
            let lead = crate::leads::lead_from(t.app.table.get(&tenant.key(keys::lead_sk(id))).await.unwrap()).unwrap();
            crate::leads::delete(&t.app, &tenant, lead).await.unwrap();
        }
        assert!(matches!(run(&t.app, &body).await.unwrap(), RunOutcome::Failed { .. }));
        assert_eq!(used(&t, Metric::Emails).await, 0);
        assert_eq!(stored(&t, &task.id).await.reserved.unwrap().emails, 0);
    }

    #[tokio::test]
    async fn a_campaign_whose_runs_were_lost_counts_exactly_what_they_sent() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        let leads = leads_with_email(&t, &tenant, 3).await;
        let task = campaign_task(&t, &tenant, Plan::Pro, &leads).await;
        tick(&t.app).await.unwrap();
        // A run mailed two leads and was killed before it finished.
        for lead in &leads[..2] {
            let marker = crate::model::to_item(&tenant.pk(), &keys::campaign_send_sk(&task.id, lead), &json!({})).unwrap();
            t.app.table.put(marker, None).await.unwrap();
        }
        for _ in 0..MAX_ATTEMPTS {
            t.clock.advance(Duration::minutes(crate::executor::LEASE_MINUTES + 1));
            tick(&t.app).await.unwrap();
        }
        let failed = stored(&t, &task.id).await;
        assert_eq!(failed.status, TaskStatus::Failed);
        assert_eq!(used(&t, Metric::Emails).await, 2);
        assert_eq!(failed.reserved.unwrap().emails, 2);
    }

    #[tokio::test]
    async fn a_task_whose_creator_left_the_org_does_not_run() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        let task = post_task(&t, &tenant, None).await;
        let body = job_body(&t).await;
        t.app
            .table
            .delete(&tenant.key(keys::member_sk(&"user".into())), None)
            .await
            .unwrap();
        let outcome = run(&t.app, &body).await.unwrap();
        assert!(
            matches!(&outcome, RunOutcome::Failed { error, .. } if error.contains("left the organisation")),
            "{outcome:?}"
        );
        assert_eq!(used(&t, Metric::Posts).await, 0, "its reservation went back");
        assert_eq!(stored(&t, &task.id).await.status, TaskStatus::Failed);
    }

    #[tokio::test]
    async fn under_approval_a_members_post_waits_with_its_text_and_goes_out_as_written() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        let policy = crate::tasks::autonomy::AutonomyPolicy {
            version: 2,
            ..crate::tasks::autonomy::AutonomyPolicy::default()
        };
        let item = crate::model::to_item(&tenant.pk(), keys::AUTONOMY_SK, &policy).unwrap();
        t.app.table.put(item, None).await.unwrap();
        let task = post_task(&t, &tenant, None).await;
        let body = job_body(&t).await;
        assert_eq!(
            run(&t.app, &body).await.unwrap(),
            RunOutcome::AwaitingApproval { task_id: task.id.clone() }
        );
        let held = stored(&t, &task.id).await;
        let text = held.draft.clone().expect("the written text is kept").text;
        assert!(testing::sandbox_posts(&t.app, tenant.org_id()).await.is_empty(), "nothing went out");
        let output = held.output.clone().expect("the draft is shown");
        let post = crate::content::posts::post_from(
            t.app
                .table
                .get(&tenant.key(keys::post_sk(output["postId"].as_str().unwrap())))
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (post.status, output["text"].as_str()),
            (PostStatus::Draft, Some(text.as_str())),
            "the words to approve exist as a draft post"
        );
        assert_eq!(run(&t.app, &body).await.unwrap(), HANDLED_ELSEWHERE, "a redelivery does nothing");

        crate::runner::decide(&t.app, &tenant, held, true).await.unwrap();
        let body = job_body(&t).await;
        assert_eq!(run(&t.app, &body).await.unwrap(), RunOutcome::HandedOn { task_id: task.id.clone() });
        assert!(
            crate::content::posts::post_from(t.app.table.get(&tenant.key(keys::post_sk(&post.id))).await.unwrap())
                .unwrap()
                .is_approved(),
            "approving the task approved its post"
        );
        publish_due(&t).await;
        let done = stored(&t, &task.id).await;
        assert_eq!(done.status, TaskStatus::Completed);
        assert_eq!(done.output.as_ref().unwrap()["platform"], "sandbox");
        assert!(done.output.as_ref().unwrap()["url"].as_str().unwrap().starts_with("sandbox://"));
        let published = testing::sandbox_posts(&t.app, tenant.org_id()).await;
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].text, text, "{published:?}");
        let usage = t.app.table.get(&usage::usage_key(&tenant, t.app.clock.now())).await.unwrap();
        assert_eq!(usage::used(usage.as_ref(), Metric::AiCalls), 1, "written once");
        assert_eq!(used(&t, Metric::Posts).await, 1);
    }

    #[tokio::test]
    async fn a_follow_up_whose_claim_was_lost_after_it_wrote_logs_one_activity() {
        let t = testing::app();
        let tenant = org(&t, Plan::Pro).await;
        let lead = leads_with_email(&t, &tenant, 1).await.remove(0);
        let input = crate::tasks::NewTask {
            kind: TaskType::LeadFollowup,
            input: json!({"leadId": lead}),
            run_at: None,
        };
        let task = crate::tasks::new_task(t.app.clock.now(), &"user".into(), crate::tasks::Origin::Member, input).unwrap();
        crate::tasks::insert(&t.app, &tenant, Plan::Pro, &task).await.unwrap();
        let body = job_body(&t).await;
        let claimed = t.app.table.get(&tenant.key(keys::task_sk(&task.id))).await.unwrap().unwrap();
        assert!(matches!(run(&t.app, &body).await.unwrap(), RunOutcome::Completed { .. }));
        // The run's completion is lost (the function died after logging the activity): the
        // claim stands, its lease runs out and another claim runs the follow-up again.
        t.app.table.put(claimed, None).await.unwrap();
        t.clock.advance(Duration::minutes(crate::executor::LEASE_MINUTES + 1));
        tick(&t.app).await.unwrap();
        // The first delivery comes back too (never acknowledged): it is superseded.
        let mut completed = 0;
        for message in t.app.queue.receive(QueueName::Tasks, 10).await.unwrap() {
            completed += usize::from(matches!(run(&t.app, &message.body).await.unwrap(), RunOutcome::Completed { .. }));
        }
        assert_eq!(completed, 1);
        let activities = crate::ports::table::Query::partition(tenant.pk()).prefix(keys::activity_prefix(&lead));
        assert_eq!(t.app.table.query(activities).await.unwrap().items.len(), 1);
    }
}
