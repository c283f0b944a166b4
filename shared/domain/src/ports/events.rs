//! Domain events out: what happened, published after the change is stored. Delivery is at
//! least once, so every event carries an id consumers can deduplicate on.

use crate::ids::OrgId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One fact, e.g. source `chief.billing`, type `billing.plan_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    /// Stable for the fact: a retry that publishes it again sends the same id.
    pub id: String,
    pub source: String,
    pub detail_type: String,
    pub org_id: OrgId,
    #[serde(with = "crate::clock::rfc3339")]
    pub at: chrono::DateTime<chrono::Utc>,
    pub detail: Value,
}

impl DomainEvent {
    /// The event as it travels: the detail with the id, org and time beside it.
    pub fn envelope(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "orgId": self.org_id,
            "at": self.at,
            "detail": self.detail,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventBusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("{failed} of {total} events were not accepted: {reason}")]
    Rejected { failed: usize, total: usize, reason: String },
}

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes all of `events` (in batches as the bus needs) or says what was refused.
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), EventBusError>;
}
