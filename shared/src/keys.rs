//! Every key of the single table, built in one place. Tenant items live under `ORG#<org>`.

pub fn org_pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}
pub const ORG_SK: &str = "ORG";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub fn member_sk(user_id: &str) -> String {
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
pub fn lead_sk(lead_id: &str) -> String {
    format!("{LEAD_PREFIX}{lead_id}")
}
/// Activities sort by when they happened (which may be before they were logged).
pub fn activity_prefix(lead_id: &str) -> String {
    format!("LEADACT#{lead_id}#")
}
pub fn activity_sk(lead_id: &str, occurred_at: &str, id: &str) -> String {
    format!("LEADACT#{lead_id}#{occurred_at}#{id}")
}
pub fn meeting_prefix(lead_id: &str) -> String {
    format!("LEADMTG#{lead_id}#")
}
pub fn meeting_sk(lead_id: &str, starts_at: &str, id: &str) -> String {
    format!("LEADMTG#{lead_id}#{starts_at}#{id}")
}
/// Domain events recorded by the local event bus, in time order.
pub const EVENT_PREFIX: &str = "EVENT#";
pub fn event_sk(at: &str, id: &str) -> String {
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

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}
pub const PROFILE_SK: &str = "PROFILE";
/// The claim that makes an email address unique, case-insensitively.
pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", email.to_lowercase())
}
pub const CLAIM_SK: &str = "CLAIM";
/// Invitations are found by the SHA-256 of their token; the token itself is never stored.
pub fn invitation_pk(token_hash: &str) -> String {
    format!("INVITATION#{token_hash}")
}
pub fn login_throttle_pk(kind: &str, subject: &str) -> String {
    format!("THROTTLE#LOGIN#{kind}#{subject}")
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
