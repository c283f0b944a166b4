//! Alerts about clients: raised by a recomputation when a client slips, one open per
//! (client, reason). The claim item `ALERTOPEN#<client>#<reason>` is written with the alert
//! in one transaction, on condition that it is absent, so two jobs racing raise one alert;
//! resolving deletes the claim, so the reason may raise again.

use super::health::Band;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{AlertId, ClientId, TaskId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::table::{Condition, Item, Query, TableError, TxOp, query_all};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertReason {
    /// The client crossed into a worse band.
    BandWorsened,
    /// No interaction for the settings' `alertAfterDaysSilent` days.
    Silent,
    /// Three analysed sentiments in a row, each lower than the one before.
    FallingSentiment,
    /// A survey answer of 0–6.
    Detractor,
    /// At risk or critical, with the renewal within 30 days.
    RenewalAtRisk,
}

impl AlertReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertReason::BandWorsened => "band_worsened",
            AlertReason::Silent => "silent",
            AlertReason::FallingSentiment => "falling_sentiment",
            AlertReason::Detractor => "detractor",
            AlertReason::RenewalAtRisk => "renewal_at_risk",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    /// Seen by someone; still open (a new alert for the reason waits) until resolved.
    Acknowledged,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub id: AlertId,
    pub client_id: ClientId,
    pub client_name: String,
    pub reason: AlertReason,
    pub status: AlertStatus,
    /// What happened, in words.
    pub message: String,
    /// The client's health when it was raised.
    pub score: Option<u8>,
    pub band: Band,
    /// The member told (the client's owner), or `null` when the org's owners were.
    pub owner_id: Option<String>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub raised_at: DateTime<Utc>,
    pub acknowledged_by: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// When its mail went to everyone it was for; `null` until then (the daily recompute
    /// sends what is still owed).
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub mailed_at: Option<DateTime<Utc>>,
    pub version: u64,
}

impl Alert {
    pub fn is_open(&self) -> bool {
        self.status != AlertStatus::Resolved
    }

    fn item(&self, tenant: &TenantCtx) -> AppResult<Item> {
        to_item(&tenant.pk(), &keys::alert_sk(&self.id), self)
    }

    /// The two writes that raise it: the alert and its reason's claim, both only if absent.
    pub fn raising(&self, tenant: &TenantCtx) -> AppResult<[TxOp; 2]> {
        let claim = serde_json::json!({"alertId": self.id});
        Ok([
            TxOp::Put {
                item: to_item(&tenant.pk(), &keys::open_alert_sk(&self.client_id, self.reason.as_str()), &claim)?,
                condition: Some(Condition::NotExists),
            },
            TxOp::Put {
                item: self.item(tenant)?,
                condition: Some(Condition::NotExists),
            },
        ])
    }
}

pub fn alert_from(item: Option<Item>) -> AppResult<Alert> {
    from_item(item.ok_or(AppError::NotFound("alert"))?)
}

#[derive(Debug, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub client_id: Option<String>,
}

/// Alerts, newest first, filtered.
pub async fn list(
    app: &App,
    tenant: &TenantCtx,
    filter: &AlertFilter,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<Alert>, Option<String>)> {
    let filtered = filter.status.is_some() || filter.client_id.is_some();
    model::newest_matching(
        &*app.table,
        tenant.pk(),
        keys::ALERT_PREFIX,
        limit,
        cursor,
        filtered,
        |alert: &Alert| {
            filter.status.is_none_or(|s| s == alert.status) && filter.client_id.as_ref().is_none_or(|c| alert.client_id == c.as_str())
        },
    )
    .await
}

/// Every alert about one client.
pub async fn of_client(app: &App, tenant: &TenantCtx, client_id: &ClientId) -> AppResult<Vec<Alert>> {
    let items = query_all(&*app.table, Query::partition(tenant.pk()).prefix(keys::ALERT_PREFIX)).await?;
    let mut alerts = Vec::new();
    for item in items {
        let alert: Alert = from_item(item)?;
        if alert.client_id == client_id {
            alerts.push(alert);
        }
    }
    Ok(alerts)
}

/// The org's open alerts (acknowledged ones included), newest first, at most `limit`.
pub async fn open(app: &App, tenant: &TenantCtx, limit: usize) -> AppResult<Vec<Alert>> {
    let filter = |alert: &Alert| alert.is_open();
    Ok(
        model::newest_matching(&*app.table, tenant.pk(), keys::ALERT_PREFIX, limit, None, true, filter)
            .await?
            .0,
    )
}

/// Mails an alert to whom it is for (the client's owner while a member, else the org's
/// owners) and, once every mail went, records it (`mailedAt`). A mail that fails leaves the
/// alert owed, for the daily recompute to send again: a recipient may then get it twice,
/// never not at all.
pub async fn mail(app: &App, tenant: &TenantCtx, mut alert: Alert) -> AppResult<bool> {
    let recipients = crate::orgs::members::notice_to(app, tenant, alert.owner_id.as_deref()).await?;
    let link = format!(
        "{}/orgs/{}/clients/{}",
        app.settings.app_url.trim_end_matches('/'),
        tenant.org_id(),
        alert.client_id
    );
    let mut all_sent = true;
    for to in recipients {
        let email = crate::ports::mailer::Email {
            to,
            subject: format!("{}: {}", alert.client_name, alert.reason.as_str().replace('_', " ")),
            text: format!(
                "{}.\nHealth: {} ({}).\nSee the client and its factors: {link}\n",
                alert.message,
                alert.score.map_or("no score".to_string(), |s| s.to_string()),
                alert.band.as_str()
            ),
        };
        if let Err(e) = app.mailer.send(email).await {
            tracing::warn!(error = %e, "an alert mail was not sent; the daily recompute sends it again");
            all_sent = false;
        }
    }
    if !all_sent {
        return Ok(false);
    }
    for _ in 0..2 {
        let read = alert.version;
        alert.mailed_at = Some(app.clock.now());
        alert.version += 1;
        match app.table.put(alert.item(tenant)?, Some(Condition::VersionEquals(read))).await {
            Ok(()) => return Ok(true),
            // Acknowledged meanwhile: record it on what is stored now.
            Err(TableError::ConditionFailed { .. }) => {
                alert = alert_from(app.table.get(&tenant.key(keys::alert_sk(&alert.id))).await?)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Who hears of a client's alerts: its owner while a member, else the org's owners.
/// How long an alert's first mail is given before the daily recompute sends it again.
const MAIL_GRACE: chrono::Duration = chrono::Duration::minutes(10);

/// Sends the mail still owed for the org's open alerts (those of the newest 100 whose mail
/// failed); answers how many went.
pub async fn mail_owed(app: &App, tenant: &TenantCtx) -> AppResult<usize> {
    let now = app.clock.now();
    let owed = |alert: &Alert| alert.is_open() && alert.mailed_at.is_none() && now - alert.raised_at >= MAIL_GRACE;
    let (alerts, _) = model::newest_matching(&*app.table, tenant.pk(), keys::ALERT_PREFIX, 100, None, true, owed).await?;
    let mut sent = 0;
    for alert in alerts {
        sent += usize::from(mail(app, tenant, alert).await?);
    }
    Ok(sent)
}

fn resolved_already() -> AppError {
    AppError::conflict("ALERT_RESOLVED", "the alert is resolved already")
}

/// Someone has seen it: it stays open until resolved. Acknowledging twice changes nothing.
pub async fn acknowledge(app: &App, tenant: &TenantCtx, mut alert: Alert) -> AppResult<Alert> {
    match alert.status {
        AlertStatus::Resolved => return Err(resolved_already()),
        AlertStatus::Acknowledged => return Ok(alert),
        AlertStatus::Open => {}
    }
    let read = alert.version;
    alert.status = AlertStatus::Acknowledged;
    alert.acknowledged_by = Some(tenant.user_id().to_string());
    alert.acknowledged_at = Some(app.clock.now());
    alert.version += 1;
    app.table
        .put(alert.item(tenant)?, Some(Condition::VersionEquals(read)))
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { .. } => model::stale_version("alert", read),
            other => other.into(),
        })?;
    Ok(alert)
}

/// Closes it and frees its reason (the claim goes in the same transaction); the agent's
/// follow-up task for it, if still pending, is completed.
pub async fn resolve(app: &App, tenant: &TenantCtx, mut alert: Alert) -> AppResult<Alert> {
    if alert.status == AlertStatus::Resolved {
        return Err(resolved_already());
    }
    let read = alert.version;
    let now = app.clock.now();
    alert.status = AlertStatus::Resolved;
    alert.resolved_by = Some(tenant.user_id().to_string());
    alert.resolved_at = Some(now);
    alert.version += 1;
    app.table
        .transact(vec![
            TxOp::Put {
                item: alert.item(tenant)?,
                condition: Some(Condition::VersionEquals(read)),
            },
            TxOp::Delete {
                key: tenant.key(keys::open_alert_sk(&alert.client_id, alert.reason.as_str())),
                condition: None,
            },
        ])
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { .. } => model::stale_version("alert", read),
            other => other.into(),
        })?;
    complete_followup(app, tenant, &alert).await?;
    Ok(alert)
}

/// The id of the agent's follow-up task for an alert: one alert, one task, ever.
pub fn followup_task_id(alert: &AlertId) -> TaskId {
    crate::tasks::derived_id("client_followup", alert)
}

async fn complete_followup(app: &App, tenant: &TenantCtx, alert: &Alert) -> AppResult<()> {
    let Some(item) = app.table.get(&tenant.key(keys::task_sk(&followup_task_id(&alert.id)))).await? else {
        return Ok(());
    };
    let mut task: crate::tasks::Task = from_item(item)?;
    if task.is_finished() {
        return Ok(());
    }
    task.status = crate::tasks::TaskStatus::Completed;
    task.finished_at = Some(app.clock.now());
    task.output = Some(serde_json::json!({"alertResolvedBy": tenant.user_id()}));
    match crate::tasks::save(app, tenant.org_id(), task).await {
        Ok(_) | Err(AppError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
