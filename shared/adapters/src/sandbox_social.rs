//! The `sandbox` social platform: records in the store what it would post, under the org,
//! once per idempotency key. Every post it answers says `sandbox` as its platform.

use async_trait::async_trait;
use chief::clock::Clock;
use chief::ids::OrgId;
use chief::keys;
use chief::model::{from_item, to_item};
use chief::ports::social::{Published, SANDBOX_PLATFORM, Social, SocialError};
use chief::ports::table::{Condition, Key, Table, TableError};
use std::sync::Arc;

pub struct SandboxSocial {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl SandboxSocial {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        SandboxSocial { table, clock }
    }
}

fn unavailable(e: impl std::fmt::Display) -> SocialError {
    SocialError::Unavailable(e.to_string())
}

#[async_trait]
impl Social for SandboxSocial {
    async fn publish(&self, org_id: &OrgId, platform: &str, text: &str, idempotency_key: &str) -> Result<Published, SocialError> {
        if platform != SANDBOX_PLATFORM {
            return Err(SocialError::NotConnected(platform.to_string()));
        }
        let id = ulid::Ulid::new().to_string();
        let post = Published {
            external_id: format!("sandbox_{id}"),
            platform: SANDBOX_PLATFORM.into(),
            url: Some(format!("sandbox://posts/{id}")),
            text: text.to_string(),
            published_at: self.clock.now(),
        };
        let key = Key::new(keys::org_pk(org_id), keys::social_post_sk(idempotency_key));
        let item = to_item(&key.pk, &key.sk, &post).map_err(unavailable)?;
        match self.table.put(item, Some(Condition::NotExists)).await {
            Ok(()) => Ok(post),
            // Posted before under this key: the first post stands.
            Err(TableError::ConditionFailed { .. }) => {
                let existing = self
                    .table
                    .get(&key)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| unavailable("post vanished"))?;
                from_item(existing).map_err(unavailable)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
