//! Domain events to the app's own EventBridge bus, ten entries a PutEvents call (its limit).

use crate::aws::{AwsConfig, LazyClient};
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chief::ports::events::{DomainEvent, EventBus, EventBusError};
use std::sync::Arc;

const BATCH: usize = 10;

pub struct EventBridgeBus {
    client: LazyClient<Client>,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(aws: Arc<AwsConfig>, bus_name: String) -> Self {
        EventBridgeBus {
            client: LazyClient::new(aws, Client::new),
            bus_name,
        }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), EventBusError> {
        for batch in events.chunks(BATCH) {
            let entries = batch
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(&e.source)
                        .detail_type(&e.detail_type)
                        .detail(e.envelope().to_string())
                        .build()
                })
                .collect();
            let out = self
                .client
                .get()
                .await
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| EventBusError::Unavailable(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string()))?;
            let failed = out.failed_entry_count() as usize;
            if failed > 0 {
                let reason = out
                    .entries()
                    .iter()
                    .filter_map(|r| r.error_message())
                    .next()
                    .unwrap_or("unknown")
                    .to_string();
                return Err(EventBusError::Rejected {
                    failed,
                    total: batch.len(),
                    reason,
                });
            }
        }
        Ok(())
    }
}
