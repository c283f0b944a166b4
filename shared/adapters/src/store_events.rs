//! Domain events for local runs: recorded in the store under their org, in time order, where
//! `local` serves them (`GET /local/orgs/{orgId}/events`) and tests read them.

use async_trait::async_trait;
use chief::ids::OrgId;
use chief::keys;
use chief::model::{from_item, to_item};
use chief::ports::events::{DomainEvent, EventBus, EventBusError};
use chief::ports::table::{Query, Table, query_all};
use std::sync::Arc;

pub struct StoreEventBus {
    table: Arc<dyn Table>,
}

impl StoreEventBus {
    pub fn new(table: Arc<dyn Table>) -> Self {
        StoreEventBus { table }
    }
}

/// The events recorded for an org, oldest first.
pub async fn recorded(table: &dyn Table, org_id: &OrgId) -> Result<Vec<DomainEvent>, EventBusError> {
    let unavailable = |e: &dyn std::fmt::Display| EventBusError::Unavailable(e.to_string());
    let items = query_all(table, Query::partition(keys::org_pk(org_id)).prefix(keys::EVENT_PREFIX))
        .await
        .map_err(|e| unavailable(&e))?;
    items.into_iter().map(|item| from_item(item).map_err(|e| unavailable(&e))).collect()
}

#[async_trait]
impl EventBus for StoreEventBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), EventBusError> {
        for event in events {
            // Keyed by time and id: a retried publish of the same fact overwrites itself.
            let item = to_item(&keys::org_pk(&event.org_id), &keys::event_sk(&event.at, &event.id), event)
                .map_err(|e| EventBusError::Unavailable(e.to_string()))?;
            self.table
                .put(item, None)
                .await
                .map_err(|e| EventBusError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }
}
