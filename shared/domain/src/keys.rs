//! Every key of the single table, built in one place. Tenant items live under `ORG#<org>`.

use crate::ids::{LeadId, OrgId, TaskId, UserId};
use chrono::{DateTime, Utc};

pub fn org_pk(org_id: &OrgId) -> String {
    format!("ORG#{org_id}")
}
pub const ORG_SK: &str = "ORG";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub fn member_sk(user_id: &UserId) -> String {
    format!("{MEMBER_PREFIX}{user_id}")
}
pub const INVITE_PREFIX: &str = "INVITE#";
pub fn org_invite_sk(email: &str) -> String {
    format!("{INVITE_PREFIX}{email}")
}
pub fn usage_sk(month: &str) -> String {
    format!("USAGE#{month}")
}
pub const LEAD_PREFIX: &str = "LEAD#";
pub fn lead_sk(lead_id: &LeadId) -> String {
    format!("{LEAD_PREFIX}{lead_id}")
}
/// Activities sort by when they happened (which may be before they were logged).
pub fn activity_prefix(lead_id: &str) -> String {
    format!("LEADACT#{lead_id}#")
}
pub fn activity_sk(lead_id: &str, occurred_at: &DateTime<Utc>, id: &str) -> String {
    let occurred_at = crate::clock::timestamp(*occurred_at);
    format!("LEADACT#{lead_id}#{occurred_at}#{id}")
}
pub fn meeting_prefix(lead_id: &str) -> String {
    format!("LEADMTG#{lead_id}#")
}
pub fn meeting_sk(lead_id: &str, starts_at: &DateTime<Utc>, id: &str) -> String {
    let starts_at = crate::clock::timestamp(*starts_at);
    format!("LEADMTG#{lead_id}#{starts_at}#{id}")
}
/// Domain events recorded by the local event bus, in time order.
pub const EVENT_PREFIX: &str = "EVENT#";
pub fn event_sk(at: &DateTime<Utc>, id: &str) -> String {
    let at = crate::clock::timestamp(*at);
    format!("{EVENT_PREFIX}{at}#{id}")
}
/// The org's Stripe subscription state (one per org).
pub const SUBSCRIPTION_SK: &str = "SUBSCRIPTION";
/// Which org a Stripe customer belongs to.
pub fn stripe_customer_pk(customer_id: &str) -> String {
    format!("STRIPECUSTOMER#{customer_id}")
}
/// A Stripe event id seen once (expires after 30 days, past Stripe's retry window).
pub fn stripe_event_pk(event_id: &str) -> String {
    format!("STRIPEEVENT#{event_id}")
}

/// Tasks; a runnable one also carries a due-index entry (see `tasks::due`).
pub const TASK_PREFIX: &str = "TASK#";
pub fn task_sk(task_id: &TaskId) -> String {
    format!("{TASK_PREFIX}{task_id}")
}
/// That a campaign's email went to a lead: written before the send, so a redelivered job
/// never mails the same lead twice.
pub fn campaign_send_sk(task_id: &str, lead_id: &str) -> String {
    format!("TASKSEND#{task_id}#{lead_id}")
}
/// What the sandbox social platform posted, once per idempotency key.
pub fn sandbox_post_sk(idempotency_key: &str) -> String {
    format!("{SANDBOX_POST_PREFIX}{idempotency_key}")
}
pub const SANDBOX_POST_PREFIX: &str = "SANDBOXPOST#";
/// The business profile: who the org is and what it wants (one per org).
pub const BUSINESS_PROFILE_SK: &str = "BUSINESSPROFILE";
/// The strategies' versions and which one is active (one per org).
pub const STRATEGIES_SK: &str = "STRATEGIES";
pub const STRATEGY_PREFIX: &str = "STRATEGY#";
pub fn strategy_sk(strategy_id: &str) -> String {
    format!("{STRATEGY_PREFIX}{strategy_id}")
}
/// Social posts; a scheduled one also carries a due-index entry.
pub const POST_PREFIX: &str = "POST#";
pub fn post_sk(post_id: &str) -> String {
    format!("{POST_PREFIX}{post_id}")
}
pub const ACCOUNT_PREFIX: &str = "SOCIALACCOUNT#";
pub fn account_sk(account_id: &str) -> String {
    format!("{ACCOUNT_PREFIX}{account_id}")
}
/// An account's tokens, sealed (`content::credentials`): apart from the account, so that no
/// read of accounts for an answer ever holds them.
pub fn account_tokens_sk(account_id: &str) -> String {
    format!("SOCIALTOKENS#{account_id}")
}
/// A connection under way, found by the SHA-256 of its OAuth `state` (expires in 10 minutes).
pub fn oauth_state_pk(state_hash: &str) -> String {
    format!("OAUTHSTATE#{state_hash}")
}
/// The publish ledger: one item per (post, account), written before the platform is called.
pub fn ledger_sk(post_id: &str, account_id: &str) -> String {
    format!("PUBLISH#{post_id}#{account_id}")
}
/// A published post's figures, by when it was published (analytics reads a period of them).
pub const PUBLISHED_PREFIX: &str = "PUBLISHED#";
pub fn published_sk(published_at: &DateTime<Utc>, post_id: &str) -> String {
    let at = crate::clock::timestamp(*published_at);
    format!("{PUBLISHED_PREFIX}{at}#{post_id}")
}
/// The AI CEO's persona and the org's goals (one per org).
pub const AI_CONFIG_SK: &str = "AICONFIG";
/// The org's autonomy policy (one per org).
pub const AUTONOMY_SK: &str = "AUTONOMY";
/// A member's conversations with the AI CEO are theirs: keyed under their user id.
pub fn conversation_prefix(user_id: &str) -> String {
    format!("CONV#{user_id}#")
}
pub fn conversation_sk(user_id: &str, conversation_id: &str) -> String {
    format!("CONV#{user_id}#{conversation_id}")
}
pub fn message_prefix(conversation_id: &str) -> String {
    format!("CHAT#{conversation_id}#")
}
pub fn message_sk(conversation_id: &str, message_id: &str) -> String {
    format!("CHAT#{conversation_id}#{message_id}")
}
/// One AI call's tokens, kept for 90 days.
pub fn ai_call_sk(call_id: &str) -> String {
    format!("AICALL#{call_id}")
}
/// A member's notification preferences in an org.
pub fn notify_sk(user_id: &str) -> String {
    format!("NOTIFY#{user_id}")
}
/// An audit log entry, by the ULID of when it was written (kept a year).
pub fn audit_sk(id: &str) -> String {
    format!("AUDIT#{id}")
}
/// The scheduled agent's actions and AI spend on one local day (`YYYY-MM-DD`).
pub fn agent_day_sk(day: &str) -> String {
    format!("AGENTDAY#{day}")
}
/// The agent's findings, newest hour last; one per kind per hour.
pub const INSIGHT_PREFIX: &str = "INSIGHT#";
pub fn insight_sk(hour: &str, kind: &str) -> String {
    format!("{INSIGHT_PREFIX}{hour}#{kind}")
}
/// The due index: `DUE#<minute>#<shard>`, sorted by due time then org and task.
pub fn due_pk(minute: &str, shard: u32) -> String {
    format!("DUE#{minute}#{shard}")
}
/// The minute executor's progress through the due index (one item, not per tenant).
pub const EXECUTOR_PK: &str = "EXECUTOR";
pub const CURSOR_SK: &str = "CURSOR";

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}
pub const PROFILE_SK: &str = "PROFILE";
/// The claim that makes an email address unique, case-insensitively.
pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", email.to_lowercase())
}
pub const CLAIM_SK: &str = "CLAIM";
/// A user's sessions, in the user's partition so that signing out everywhere is one query.
pub const SESSION_PREFIX: &str = "SESSION#";
pub fn session_sk(session_id: &str) -> String {
    format!("{SESSION_PREFIX}{session_id}")
}
/// A refresh token, by the SHA-256 of the token (never the token), in its user's partition.
pub fn refresh_sk(token_hash: &str) -> String {
    format!("REFRESH#{token_hash}")
}
/// A password-reset or email-verification link, by the SHA-256 of its token.
pub const RESET_PREFIX: &str = "RESET#";
pub fn reset_sk(token_hash: &str) -> String {
    format!("{RESET_PREFIX}{token_hash}")
}
pub fn verify_sk(token_hash: &str) -> String {
    format!("VERIFY#{token_hash}")
}
/// The claim that ties a Google account (its `sub`) to one user.
pub fn google_pk(subject: &str) -> String {
    format!("GOOGLE#{subject}")
}
/// Invitations are found by the SHA-256 of their token; the token itself is never stored.
pub fn invitation_pk(token_hash: &str) -> String {
    format!("INVITATION#{token_hash}")
}
pub fn throttle_pk(kind: &str, subject: &str) -> String {
    format!("THROTTLE#{kind}#{subject}")
}
pub fn window_sk(window: i64) -> String {
    format!("WINDOW#{window}")
}

/// Sparse index values: orgs by plan, memberships by user.
pub fn plan_index_pk(plan: &str) -> String {
    format!("PLAN#{plan}")
}
pub fn user_index_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}
pub const HEALTH_PK: &str = "HEALTH";
/// The last configuration error a platform answered (LinkedIn's 426 for a version it no
/// longer serves), under `HEALTH_PK`, for the health route.
pub fn platform_error_sk(platform: &str) -> String {
    format!("PLATFORMERROR#{platform}")
}
/// Global: Stripe prices seen on subscriptions that map to no plan (`PRICE#<price>`, TTL),
/// which the health route reports until the configuration maps them.
pub const UNMAPPED_PRICES_PK: &str = "BILLING#UNMAPPEDPRICES";
pub fn unmapped_price_sk(price: &str) -> String {
    format!("PRICE#{price}")
}

/// Clients (client success): the client's own fields, apart from its health state
/// (`CLIENTHEALTH#`), which jobs rewrite without touching what a person edits.
pub const CLIENT_PREFIX: &str = "CLIENT#";
pub fn client_sk(client_id: &str) -> String {
    format!("{CLIENT_PREFIX}{client_id}")
}
pub fn client_health_sk(client_id: &str) -> String {
    format!("CLIENTHEALTH#{client_id}")
}
/// How many of the org's clients are active (not churned): the plan's bound.
pub const CLIENT_COUNT_SK: &str = "CLIENTCOUNT";
/// A client's interactions; an interaction's id is a ULID of when it happened, so they sort
/// by time.
pub fn interaction_prefix(client_id: &str) -> String {
    format!("CLIENTINT#{client_id}#")
}
pub fn interaction_sk(client_id: &str, interaction_id: &str) -> String {
    format!("CLIENTINT#{client_id}#{interaction_id}")
}
/// A client's health history: a point per change of score, by time.
pub fn health_history_prefix(client_id: &str) -> String {
    format!("CLIENTHIST#{client_id}#")
}
pub fn health_history_sk(client_id: &str, at: &DateTime<Utc>, id: &str) -> String {
    let at = crate::clock::timestamp(*at);
    format!("CLIENTHIST#{client_id}#{at}#{id}")
}
/// The org's health settings (one per org).
pub const HEALTH_SETTINGS_SK: &str = "HEALTHSETTINGS";
/// Alerts about clients, and the claim that keeps one open per (client, reason).
pub const ALERT_PREFIX: &str = "ALERT#";
pub fn alert_sk(alert_id: &str) -> String {
    format!("{ALERT_PREFIX}{alert_id}")
}
pub fn open_alert_sk(client_id: &str, reason: &str) -> String {
    format!("ALERTOPEN#{client_id}#{reason}")
}
/// That the daily recompute ran for an org on a day (expires after a week).
pub fn health_run_sk(day: &str) -> String {
    format!("CLIENTHEALTHRUN#{day}")
}
/// Surveys, their answers, and the public links, found by the SHA-256 of their token.
pub const SURVEY_PREFIX: &str = "SURVEY#";
pub fn survey_sk(survey_id: &str) -> String {
    format!("{SURVEY_PREFIX}{survey_id}")
}
pub fn survey_response_prefix(survey_id: &str) -> String {
    format!("SURVEYRESP#{survey_id}#")
}
pub fn survey_response_sk(survey_id: &str, response_id: &str) -> String {
    format!("SURVEYRESP#{survey_id}#{response_id}")
}
pub fn survey_link_pk(token_hash: &str) -> String {
    format!("SURVEYLINK#{token_hash}")
}
/// Content items (creator ops), and one link per post repurposed from an item, holding the
/// post's status so that the item's status follows its posts.
pub const CONTENT_PREFIX: &str = "CONTENT#";
pub fn content_sk(content_id: &str) -> String {
    format!("{CONTENT_PREFIX}{content_id}")
}
pub fn content_post_prefix(content_id: &str) -> String {
    format!("CONTENTPOST#{content_id}#")
}
pub fn content_post_sk(content_id: &str, post_id: &str) -> String {
    format!("CONTENTPOST#{content_id}#{post_id}")
}
/// Sponsors and their deals; a deal's activities by time, its deliverables, and a link per
/// post or content item a deliverable names, so that a published post finds its deliverables.
pub const SPONSOR_PREFIX: &str = "SPONSOR#";
pub fn sponsor_sk(sponsor_id: &str) -> String {
    format!("{SPONSOR_PREFIX}{sponsor_id}")
}
pub const DEAL_PREFIX: &str = "DEAL#";
pub fn deal_sk(deal_id: &str) -> String {
    format!("{DEAL_PREFIX}{deal_id}")
}
pub fn deal_activity_prefix(deal_id: &str) -> String {
    format!("DEALACT#{deal_id}#")
}
pub fn deal_activity_sk(deal_id: &str, at: &DateTime<Utc>, id: &str) -> String {
    let at = crate::clock::timestamp(*at);
    format!("DEALACT#{deal_id}#{at}#{id}")
}
pub fn deliverable_prefix(deal_id: &str) -> String {
    format!("DELIV#{deal_id}#")
}
pub fn deliverable_sk(deal_id: &str, deliverable_id: &str) -> String {
    format!("DELIV#{deal_id}#{deliverable_id}")
}
/// `linked_id` is a post's or a content item's id (both ULIDs, so they never collide).
pub fn deliverable_link_prefix(linked_id: &str) -> String {
    format!("DELIVLINK#{linked_id}#")
}
pub fn deliverable_link_sk(linked_id: &str, deal_id: &str, deliverable_id: &str) -> String {
    format!("DELIVLINK#{linked_id}#{deal_id}#{deliverable_id}")
}
/// That a task's notice to a member went (a follow-up's reminder to the deal's owner).
pub fn task_notice_sk(task_id: &str) -> String {
    format!("TASKNOTICE#{task_id}")
}
