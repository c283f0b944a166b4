//! Exclusivity: a deal may promise its sponsor that, between two dates, the creator promotes no
//! rival in the sponsor's category. Scheduling a post that belongs to another sponsor of that
//! category (through a deliverable naming the post or its content item) inside the window of
//! a deal that is `contracted`, `in_progress` or `delivered` is refused with 409
//! `EXCLUSIVITY_CONFLICT` naming the deal; an admin may override, and the override is kept on
//! the post.

use super::{Exclusivity, Stage, category_key};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{DealId, SponsorId};
use crate::keys;
use crate::model::from_item;
use crate::ports::table::{Query, query_all};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The deal whose exclusivity a scheduled post breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub deal_id: DealId,
    pub deal_title: String,
    pub sponsor_name: String,
    pub category: String,
}

impl Conflict {
    pub fn error(&self) -> AppError {
        AppError::conflict(
            "EXCLUSIVITY_CONFLICT",
            format!(
                "deal {} (\"{}\" with {}) holds exclusivity for {} at that time: pick another time, or an admin schedules it with override: true",
                self.deal_id, self.deal_title, self.sponsor_name, self.category
            ),
        )
    }
}

/// What the check reads of a deal: its exclusivity terms and no more (a light read, which
/// keeps the whole deal's parsing out of `api-content`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Terms {
    id: DealId,
    sponsor_id: SponsorId,
    title: String,
    stage: Stage,
    exclusivity: Option<Exclusivity>,
}

/// What the check reads of a sponsor.
#[derive(Debug, Deserialize)]
struct Brand {
    id: SponsorId,
    name: String,
    category: String,
}

fn binding(deal: &Terms) -> bool {
    matches!(deal.stage, Stage::Contracted | Stage::InProgress | Stage::Delivered)
}

/// The first deal whose exclusivity a post going out at `at` would break, if any. Costs one
/// query for an ordinary post (its links); a sponsored one also reads the org's deals and
/// the sponsors involved.
pub async fn conflict(
    app: &App,
    tenant: &TenantCtx,
    post_id: &str,
    content_id: Option<&str>,
    at: DateTime<Utc>,
) -> AppResult<Option<Conflict>> {
    let own_deals = super::deliverables::deals_of_post(app, tenant, post_id, content_id).await?;
    if own_deals.is_empty() {
        return Ok(None);
    }
    let query = Query::partition(tenant.pk()).prefix(keys::DEAL_PREFIX).limit(super::DEALS_PER_PAGE);
    let deals: Vec<Terms> = query_all(&*app.table, query)
        .await?
        .into_iter()
        .map(from_item)
        .collect::<AppResult<_>>()?;
    let day = at.date_naive();
    let rivals: Vec<&Terms> = deals
        .iter()
        .filter(|d| binding(d) && d.exclusivity.as_ref().is_some_and(|e| e.from <= day && day <= e.to))
        .collect();
    if rivals.is_empty() {
        return Ok(None);
    }
    let own_sponsors: Vec<&SponsorId> = deals.iter().filter(|d| own_deals.contains(&d.id)).map(|d| &d.sponsor_id).collect();
    let mut wanted: Vec<SponsorId> = own_sponsors.iter().map(|s| (*s).clone()).collect();
    wanted.extend(rivals.iter().map(|d| d.sponsor_id.clone()));
    wanted.sort();
    wanted.dedup();
    let keys: Vec<_> = wanted.iter().map(|s| tenant.key(keys::sponsor_sk(s))).collect();
    let sponsors: Vec<Brand> = app
        .table
        .get_many(&keys)
        .await?
        .into_iter()
        .flatten()
        .map(from_item)
        .collect::<AppResult<_>>()?;
    let category_of = |id: &SponsorId| sponsors.iter().find(|s| s.id == *id).map(|s| category_key(&s.category));
    let own_categories: Vec<String> = own_sponsors.iter().filter_map(|s| category_of(s)).collect();
    for rival in rivals {
        if own_sponsors.contains(&&rival.sponsor_id) {
            continue;
        }
        let Some(exclusivity) = &rival.exclusivity else { continue };
        if own_categories.contains(&category_key(&exclusivity.category)) {
            let sponsor_name = sponsors
                .iter()
                .find(|s| s.id == rival.sponsor_id)
                .map_or_else(|| "a sponsor".to_string(), |s| s.name.clone());
            return Ok(Some(Conflict {
                deal_id: rival.id.clone(),
                deal_title: rival.title.clone(),
                sponsor_name,
                category: exclusivity.category.clone(),
            }));
        }
    }
    Ok(None)
}
