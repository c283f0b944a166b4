//! The daily recompute (`job-client-health`, once a day): one job per org with active
//! clients, sent on the analysis queue like the hourly agent's; each recomputes every active
//! client of its org so that decay and silence move scores without new data.
//!
//! Idempotent per (org, day): a marker written when an org's run finishes makes a redelivered
//! job end at once, and a run cut short and run again recomputes what it already did to the
//! same scores (no history point without a change; an alert only for a new subject).

use super::interactions::{self, AnalyseInteraction};
use super::recompute::{self, Cause, HealthSettings};
use super::{Client, active_count};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{ClientId, OrgId};
use crate::keys;
use crate::model::from_item;
use crate::ports::queue::QueueName;
use crate::ports::table::{Condition, Query};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Clients read per page of an org's run.
pub const CLIENT_PAGE: usize = 100;
/// Orgs read per page of the fan-out.
pub const FAN_OUT_PAGE: usize = 1_000;
/// How long the per-day marker is kept.
const MARKER_DAYS: i64 = 7;

/// The client-success messages of the analysis queue, told apart by `job`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum ClientJob {
    /// Read one interaction's sentiment and feed it to its client's health.
    Interaction(AnalyseInteraction),
    /// Recompute every active client of one org for one day.
    OrgHealth(OrgHealthJob),
    /// Recompute one client after a change the API stored (its fields, a ticket, an answer).
    Client(RecomputeClient),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecomputeClient {
    pub org_id: OrgId,
    pub client_id: ClientId,
    pub cause: Cause,
}

/// Queues a client's recomputation after the API stored a change to what it is scored from.
/// The API does not recompute itself: alerts mail and emit from `job-analyze`, which keeps the
/// mail and event clients out of `api-clients`. A send that fails is logged: the change is
/// stored, and the daily recompute scores it at the latest.
pub async fn queue_recompute(app: &App, tenant: &TenantCtx, client_id: &ClientId, cause: Cause) {
    let job = ClientJob::Client(RecomputeClient {
        org_id: tenant.org_id().clone(),
        client_id: client_id.clone(),
        cause,
    });
    let sent = match serde_json::to_string(&job) {
        Ok(body) => app
            .queue
            .send(QueueName::Analysis, &[body])
            .await
            .map(|_| ())
            .map_err(AppError::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "the client's recompute was not queued; the daily one will score it");
    }
}

/// Recomputes one client from what is stored. Idempotent: the same evidence gives the same
/// score (no history point without a change) and raises nothing it raised before.
pub async fn recompute_client(app: &App, job: RecomputeClient) -> AppResult<recompute::Recomputed> {
    crate::ids::check(&job.org_id, "orgId")?;
    crate::ids::check(&job.client_id, "clientId")?;
    let tenant = TenantCtx::background(&job.org_id);
    let keys = [
        tenant.key(keys::client_sk(&job.client_id)),
        tenant.key(keys::client_health_sk(&job.client_id)),
        tenant.key(keys::HEALTH_SETTINGS_SK),
    ];
    let mut read = app.table.get_many(&keys).await?.into_iter();
    let [client, state, settings] = std::array::from_fn(|_| read.next().flatten());
    let Some(client) = client else {
        return Ok(recompute::Recomputed::default());
    };
    let client: Client = from_item(client)?;
    let state = recompute::state_from(state, &client.id)?;
    let settings = HealthSettings::from_stored(settings)?;
    recompute::recompute(app, &tenant, client, state, &settings, job.cause, |_| {}).await
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrgHealthJob {
    pub org_id: OrgId,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
}

impl ClientJob {
    /// Whether an analysis-queue message is one of these (the agent's have no `job`).
    pub fn is_one(body: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v.get("job").is_some())
    }
}

pub fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FanOutReport {
    pub day: String,
    pub orgs_seen: usize,
    pub orgs_with_clients: usize,
    pub messages: usize,
    pub store_calls: usize,
}

/// One job per org with active clients: the orgs from the plan index, their client counts
/// read 100 at a time.
pub async fn fan_out(app: &App) -> AppResult<FanOutReport> {
    let today = day(app.clock.now());
    let mut report = FanOutReport {
        day: today.clone(),
        ..FanOutReport::default()
    };
    for plan in [crate::usage::Plan::Free, crate::usage::Plan::Pro, crate::usage::Plan::Enterprise] {
        let mut cursor = None;
        loop {
            let (orgs, next) = crate::orgs::orgs_on_plan(app, plan, FAN_OUT_PAGE, cursor).await?;
            report.store_calls += 1;
            report.orgs_seen += orgs.len();
            for chunk in orgs.chunks(crate::ports::table::MAX_BATCH_GET) {
                let keys: Vec<_> = chunk
                    .iter()
                    .map(|org| crate::ports::table::Key::new(keys::org_pk(&org.id), keys::CLIENT_COUNT_SK))
                    .collect();
                let counts = app.table.get_many(&keys).await?;
                report.store_calls += 1;
                let jobs: Vec<String> = chunk
                    .iter()
                    .zip(counts)
                    .filter(|(_, count)| active_count(count.as_ref()) > 0)
                    .map(|(org, _)| {
                        serde_json::to_string(&ClientJob::OrgHealth(OrgHealthJob {
                            org_id: org.id.clone(),
                            day: today.clone(),
                        }))
                    })
                    .collect::<Result<_, _>>()?;
                if !jobs.is_empty() {
                    report.store_calls += app.queue.send(QueueName::Analysis, &jobs).await?;
                    report.orgs_with_clients += jobs.len();
                    report.messages += jobs.len();
                }
            }
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgRun {
    pub org_id: String,
    pub day: String,
    pub clients: usize,
    pub changed: usize,
    pub alerts_raised: usize,
    /// Mails of earlier alerts that had not gone, sent now.
    pub alert_mails_sent_late: usize,
    /// Store calls the run made (reads and writes), for the figures.
    pub store_calls: usize,
    pub skipped: Option<&'static str>,
}

/// Recomputes every active client of the org, page by page.
pub async fn run_org(app: &App, job: OrgHealthJob) -> AppResult<OrgRun> {
    crate::ids::check(&job.org_id, "orgId")?;
    let mut run = OrgRun {
        org_id: job.org_id.to_string(),
        day: job.day.clone(),
        ..OrgRun::default()
    };
    let tenant = TenantCtx::background(&job.org_id);
    let keys = [
        tenant.key(keys::ORG_SK),
        tenant.key(keys::HEALTH_SETTINGS_SK),
        tenant.key(keys::health_run_sk(&job.day)),
    ];
    let mut read = app.table.get_many(&keys).await?.into_iter();
    run.store_calls += 1;
    let [org, settings, marker] = std::array::from_fn(|_| read.next().flatten());
    if org.is_none() {
        run.skipped = Some("the organisation is gone");
        return Ok(run);
    }
    if marker.is_some() {
        run.skipped = Some("this day's recompute is done");
        return Ok(run);
    }
    let settings = HealthSettings::from_stored(settings)?;
    let mut cursor = None;
    loop {
        let page = app
            .table
            .query(
                Query::partition(tenant.pk())
                    .prefix(keys::CLIENT_PREFIX)
                    .limit(CLIENT_PAGE)
                    .after(cursor),
            )
            .await?;
        run.store_calls += 1;
        let clients: Vec<Client> = page.items.into_iter().map(from_item).collect::<AppResult<_>>()?;
        let active: Vec<Client> = clients.into_iter().filter(|c| c.stage != super::health::Stage::Churned).collect();
        let states = recompute::states_of(app, &tenant, active.iter().map(|c| &c.id)).await?;
        run.store_calls += active.len().div_ceil(crate::ports::table::MAX_BATCH_GET);
        for (client, state) in active.into_iter().zip(states) {
            let state = state.unwrap_or_else(|| recompute::HealthState::new(&client.id));
            let done = recompute::recompute(app, &tenant, client, state, &settings, Cause::Daily, |_| {}).await?;
            run.clients += 1;
            run.store_calls += 1;
            run.changed += usize::from(done.changed);
            run.alerts_raised += done.alerts_raised;
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    run.alert_mails_sent_late = super::alerts::mail_owed(app, &tenant).await?;
    run.store_calls += 1;
    let marker = json!({"clients": run.clients, "ttl": (app.clock.now() + Duration::days(MARKER_DAYS)).timestamp()});
    app.table
        .put(
            crate::model::to_item(&tenant.pk(), &keys::health_run_sk(&job.day), &marker)?,
            Some(Condition::NotExists),
        )
        .await
        .or_else(|e| match e {
            crate::ports::table::TableError::ConditionFailed { .. } => Ok(()),
            other => Err(other),
        })?;
    run.store_calls += 1;
    Ok(run)
}

/// One client-success message of the analysis queue.
pub async fn run_job(app: &App, body: &str) -> AppResult<serde_json::Value> {
    let job: ClientJob = serde_json::from_str(body).map_err(|e| AppError::validation(format!("not a client job: {e}")))?;
    Ok(match job {
        ClientJob::Interaction(job) => serde_json::to_value(interactions::analyse(app, job).await?)?,
        ClientJob::OrgHealth(job) => serde_json::to_value(run_org(app, job).await?)?,
        ClientJob::Client(job) => serde_json::to_value(recompute_client(app, job).await?)?,
    })
}
