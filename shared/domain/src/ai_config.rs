//! The AI CEO's config: its persona, stored here, and the business's industry, goals, tone
//! and posts a week, which live in the business profile (`content::profile`) and are read
//! and written through this config as the same data. Every AI call for an org starts from
//! the system prompt it makes.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::table::{Condition, Item, TableError, TxOp};
use crate::profile::{self, BusinessProfile, Goal};
use crate::tenancy::TenantCtx;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AiConfig {
    pub persona_name: String,
    pub personality: String,
    /// The business profile's industry.
    pub industry: Option<String>,
    /// The business profile's goals, as text (`metric: target by YYYY-MM-DD`).
    pub goals: Vec<String>,
    /// The business profile's tone.
    pub tone: String,
    /// The business profile's posts a week; the agent warns when output falls short.
    pub posts_per_week: u32,
    pub updated_by: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Changes whenever the persona or the profile changes (0 until either is first saved):
    /// the higher of the two items' versions, each write moving both past it.
    pub version: u64,
}

/// What the config item itself stores: the persona.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Persona {
    persona_name: String,
    personality: String,
    updated_by: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
    version: u64,
}

impl Default for Persona {
    fn default() -> Self {
        Persona {
            persona_name: "Chief".into(),
            personality: "pragmatic, numbers-driven, encouraging".into(),
            updated_by: None,
            updated_at: None,
            version: 0,
        }
    }
}

impl AiConfig {
    /// The config as an org's stored items make it: its config item (the persona) and its
    /// business profile.
    pub fn from_stored(config: Option<&Item>, profile: &BusinessProfile) -> AppResult<Self> {
        let persona: Persona = config.map(|c| from_item(c.clone())).transpose()?.unwrap_or_default();
        let updated_at = persona.updated_at.max(profile.updated_at);
        let updated_by = if persona.updated_at >= profile.updated_at {
            persona.updated_by.clone()
        } else {
            profile.updated_by.clone()
        };
        Ok(AiConfig {
            persona_name: persona.persona_name,
            personality: persona.personality,
            industry: profile.industry.clone(),
            goals: profile.goals.iter().map(Goal::as_text).collect(),
            tone: profile.tone.clone(),
            posts_per_week: profile.posts_per_week,
            updated_by,
            updated_at,
            version: persona.version.max(profile.version),
        })
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

pub const MAX_GOALS: usize = profile::MAX_GOALS;

/// Saves the persona and the profile's fields together, each over the version read.
pub async fn update(
    app: &App,
    tenant: &TenantCtx,
    config: Option<Item>,
    business: BusinessProfile,
    change: ConfigChange,
) -> AppResult<AiConfig> {
    let mut persona: Persona = config.map(from_item).transpose()?.unwrap_or_default();
    let current = persona.version.max(business.version);
    if change.version != current {
        return Err(model::stale_version("config", current));
    }
    let now = app.clock.now();
    let by = Some(tenant.user_id().to_string());
    let (persona_read, profile_read) = (persona.version, business.version);
    if let Some(name) = change.persona_name {
        persona.persona_name = model::text("personaName", &name, 60)?;
    }
    if let Some(personality) = change.personality {
        persona.personality = model::text("personality", &personality, 500)?;
    }
    let mut business = business;
    if let Some(industry) = change.industry {
        business.industry = model::optional_text("industry", industry.as_deref(), 100)?;
    }
    if let Some(goals) = change.goals {
        if goals.len() > MAX_GOALS {
            return Err(AppError::validation(format!("at most {MAX_GOALS} goals")));
        }
        let texts = goals.iter().map(|g| model::text("goals", g, 300)).collect::<AppResult<Vec<_>>>()?;
        business.goals = profile::check_goals(texts.iter().map(|g| Goal::from_text(g)).collect())?;
    }
    if let Some(tone) = change.tone {
        business.tone = model::text("tone", &tone, 200)?;
    }
    if let Some(posts) = change.posts_per_week {
        business.posts_per_week = profile::check_posts_per_week(posts)?;
    }
    persona.updated_by = by.clone();
    persona.updated_at = Some(now);
    persona.version = current + 1;
    business.updated_by = by;
    business.updated_at = Some(now);
    business.version = current + 1;
    let ops = vec![
        TxOp::Put {
            item: to_item(&tenant.pk(), keys::AI_CONFIG_SK, &persona)?,
            condition: Some(if persona_read == 0 {
                Condition::NotExists
            } else {
                Condition::VersionEquals(persona_read)
            }),
        },
        business.write(tenant, profile_read)?,
        crate::audit::entry(
            tenant,
            now,
            "settings.ai_config_changed",
            format!("org:{}", tenant.org_id()),
            serde_json::json!({"version": current + 1}),
        )?,
    ];
    app.table.transact(ops).await.map_err(|e| match e {
        TableError::ConditionFailed { .. } => AppError::conflict("VERSION_CONFLICT", "the config changed meanwhile: read it again"),
        other => other.into(),
    })?;
    let item = to_item(&tenant.pk(), keys::AI_CONFIG_SK, &persona)?;
    AiConfig::from_stored(Some(&item), &business)
}
