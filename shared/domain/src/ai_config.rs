//! The AI CEO's config: the persona, the business's goals and tone, and the posts a week it
//! aims for. Every AI call for an org starts from the system prompt it makes.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{self, from_item};
use crate::ports::table::Item;
use crate::tenancy::TenantCtx;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AiConfig {
    pub persona_name: String,
    pub personality: String,
    pub industry: Option<String>,
    pub goals: Vec<String>,
    pub tone: String,
    /// Posts a week the org aims for; the agent warns when output falls short.
    pub posts_per_week: u32,
    pub updated_by: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// 0 until first saved.
    pub version: u64,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig {
            persona_name: "Chief".into(),
            personality: "pragmatic, numbers-driven, encouraging".into(),
            industry: None,
            goals: Vec::new(),
            tone: "friendly and concise".into(),
            posts_per_week: 3,
            updated_by: None,
            updated_at: None,
            version: 0,
        }
    }
}

impl AiConfig {
    pub fn from_stored(item: Option<Item>) -> AppResult<Self> {
        item.map(from_item).transpose().map(Option::unwrap_or_default)
    }

    /// The system prompt every AI call for this org starts from.
    pub fn system_prompt(&self, org_name: &str) -> String {
        let mut prompt = format!(
            "You are {}, the AI CEO of {org_name}. Personality: {}. Tone: {}.",
            self.persona_name, self.personality, self.tone
        );
        if let Some(industry) = &self.industry {
            prompt.push_str(&format!(" Industry: {industry}."));
        }
        if !self.goals.is_empty() {
            prompt.push_str(&format!(" The business's goals: {}.", self.goals.join("; ")));
        }
        prompt
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigChange {
    pub persona_name: Option<String>,
    pub personality: Option<String>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub industry: Option<Option<String>>,
    pub goals: Option<Vec<String>>,
    pub tone: Option<String>,
    pub posts_per_week: Option<u32>,
    /// The version read (0 before the first change).
    pub version: u64,
}

pub const MAX_GOALS: usize = 10;

pub async fn update(app: &App, tenant: &TenantCtx, mut config: AiConfig, change: ConfigChange) -> AppResult<AiConfig> {
    if change.version != config.version {
        return Err(model::stale_version("config", config.version));
    }
    if let Some(name) = change.persona_name {
        config.persona_name = model::text("personaName", &name, 60)?;
    }
    if let Some(personality) = change.personality {
        config.personality = model::text("personality", &personality, 500)?;
    }
    if let Some(industry) = change.industry {
        config.industry = model::optional_text("industry", industry.as_deref(), 100)?;
    }
    if let Some(goals) = change.goals {
        if goals.len() > MAX_GOALS {
            return Err(AppError::validation(format!("at most {MAX_GOALS} goals")));
        }
        config.goals = goals.iter().map(|g| model::text("goals", g, 300)).collect::<AppResult<_>>()?;
    }
    if let Some(tone) = change.tone {
        config.tone = model::text("tone", &tone, 200)?;
    }
    if let Some(posts) = change.posts_per_week {
        if posts > 100 {
            return Err(AppError::validation("postsPerWeek must be from 0 to 100"));
        }
        config.posts_per_week = posts;
    }
    config.updated_by = Some(tenant.user_id().to_string());
    config.updated_at = Some(app.clock.now());
    config.version += 1;
    model::put_versioned(&*app.table, &tenant.pk(), keys::AI_CONFIG_SK, &config, change.version, "config").await?;
    Ok(config)
}
