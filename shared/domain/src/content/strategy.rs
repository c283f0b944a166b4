//! The AI marketing strategy, versioned: each generation is version n+1; exactly one is
//! active (the first by itself, later ones when an admin activates them). The strategy
//! model is asked for a structured answer with a JSON schema, and the answer is validated
//! before anything is stored.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::StrategyId;
use crate::keys;
use crate::model::{from_item, to_item};
use crate::platforms::Platform;
use crate::ports::ai::{AiUse, Prompt};
use crate::ports::table::{Condition, Item, TableError, TxOp};
use crate::tasks::context::OrgContext;
use crate::tenancy::TenantCtx;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlatformPlan {
    pub platform: Platform,
    /// Why this platform, for this business.
    pub reason: String,
    pub posts_per_week: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pillar {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kpi {
    pub metric: String,
    pub target: String,
}

/// What the model is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StrategyPlan {
    pub platforms: Vec<PlatformPlan>,
    pub pillars: Vec<Pillar>,
    pub tone: String,
    pub voice: String,
    pub kpis: Vec<Kpi>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    pub id: StrategyId,
    pub version: u64,
    #[serde(flatten)]
    pub plan: StrategyPlan,
    /// Whether this is the org's active strategy (one is).
    #[serde(default)]
    pub active: bool,
    /// Which AI wrote it (`offline` for the offline provider).
    pub provider: String,
    pub model: String,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: DateTime<Utc>,
}

/// The org's strategies: how many versions there are, and which one is active.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    pub latest: u64,
    pub active_id: Option<StrategyId>,
    pub version: u64,
}

impl Versions {
    pub fn from_stored(item: Option<Item>) -> AppResult<Self> {
        item.map(from_item).transpose().map(Option::unwrap_or_default)
    }

    fn write(&self, tenant: &TenantCtx, read: u64) -> AppResult<TxOp> {
        Ok(TxOp::Put {
            item: to_item(&tenant.pk(), keys::STRATEGIES_SK, self)?,
            condition: Some(if read == 0 {
                Condition::NotExists
            } else {
                Condition::VersionEquals(read)
            }),
        })
    }
}

const PLATFORM_NAMES: [&str; 4] = ["linkedin", "x", "facebook", "instagram"];

/// The JSON schema the model's answer must follow.
pub fn schema() -> Value {
    let text = |max: u32| json!({"type": "string", "minLength": 1, "maxLength": max});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["platforms", "pillars", "tone", "voice", "kpis"],
        "properties": {
            "platforms": {"type": "array", "minItems": 1, "maxItems": 4, "items": {
                "type": "object", "additionalProperties": false, "required": ["platform", "reason", "postsPerWeek"],
                "properties": {"platform": {"enum": PLATFORM_NAMES}, "reason": text(300), "postsPerWeek": {"type": "integer", "minimum": 1, "maximum": 14}}
            }},
            "pillars": {"type": "array", "minItems": 3, "maxItems": 5, "items": {
                "type": "object", "additionalProperties": false, "required": ["name", "description"],
                "properties": {"name": text(60), "description": text(300)}
            }},
            "tone": text(200),
            "voice": text(300),
            "kpis": {"type": "array", "minItems": 1, "maxItems": 6, "items": {
                "type": "object", "additionalProperties": false, "required": ["metric", "target"],
                "properties": {"metric": text(100), "target": text(100)}
            }}
        }
    })
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), String> {
    let n = value.trim().chars().count();
    if n == 0 || n > max {
        return Err(format!("{field} must be 1 to {max} characters"));
    }
    Ok(())
}

/// The model's answer, read and held to the schema's bounds.
pub fn parse(answer: &str) -> Result<StrategyPlan, String> {
    let plan: StrategyPlan = serde_json::from_str(answer.trim()).map_err(|e| format!("not a strategy: {e}"))?;
    if !(1..=4).contains(&plan.platforms.len()) {
        return Err("platforms must hold 1 to 4 platforms".into());
    }
    let mut seen = Vec::new();
    for p in &plan.platforms {
        if p.platform == Platform::Sandbox || seen.contains(&p.platform) {
            return Err("platforms must be distinct real platforms".into());
        }
        seen.push(p.platform);
        bounded("platforms[].reason", &p.reason, 300)?;
        if !(1..=14).contains(&p.posts_per_week) {
            return Err("platforms[].postsPerWeek must be from 1 to 14".into());
        }
    }
    if !(3..=5).contains(&plan.pillars.len()) {
        return Err(format!("pillars must hold 3 to 5 pillars, not {}", plan.pillars.len()));
    }
    for pillar in &plan.pillars {
        bounded("pillars[].name", &pillar.name, 60)?;
        bounded("pillars[].description", &pillar.description, 300)?;
    }
    bounded("tone", &plan.tone, 200)?;
    bounded("voice", &plan.voice, 300)?;
    if !(1..=6).contains(&plan.kpis.len()) {
        return Err("kpis must hold 1 to 6 KPIs".into());
    }
    for kpi in &plan.kpis {
        bounded("kpis[].metric", &kpi.metric, 100)?;
        bounded("kpis[].target", &kpi.target, 100)?;
    }
    Ok(plan)
}

/// Asks the strategy model for a strategy (one AI call) and stores it as version n+1; the
/// first version becomes active by itself. Two generations at once: the second to store
/// finds the version taken and answers 409, storing nothing.
pub async fn generate(app: &App, tenant: &TenantCtx, org: &OrgContext, versions: Versions) -> AppResult<Strategy> {
    let ask = format!(
        "{} Write this business's social media marketing strategy: the platforms to be on and why, 3 to 5 content pillars, posts per week per platform, tone and voice, and KPIs with targets. Answer with one JSON value of the given schema.",
        org.profile.describe()
    );
    let prompt = Prompt::new(AiUse::Strategy, org.system_prompt(), ask).structured("strategy", schema(), 1_500);
    let (plan, completion) = crate::usage::structured_call(app, tenant, org.plan, prompt, "strategy", parse).await?;
    let strategy = Strategy {
        id: StrategyId::generate(),
        version: versions.latest + 1,
        plan,
        active: versions.active_id.is_none(),
        provider: completion.provider,
        model: completion.model,
        created_by: tenant.user_id().to_string(),
        created_at: app.clock.now(),
    };
    let next = Versions {
        latest: strategy.version,
        active_id: versions.active_id.clone().or_else(|| Some(strategy.id.clone())),
        version: versions.version + 1,
    };
    let ops = vec![
        TxOp::Put {
            item: to_item(&tenant.pk(), &keys::strategy_sk(&strategy.id), &strategy)?,
            condition: Some(Condition::NotExists),
        },
        next.write(tenant, versions.version)?,
    ];
    app.table.transact(ops).await.map_err(|e| match e {
        TableError::ConditionFailed { .. } => AppError::conflict("CONFLICT", "another strategy was generated meanwhile: read them again"),
        other => other.into(),
    })?;
    Ok(strategy)
}

/// A stored strategy, with whether it is the active one.
pub fn strategy_from(item: Option<Item>, versions: &Versions) -> AppResult<Strategy> {
    let mut strategy: Strategy = from_item(item.ok_or(AppError::NotFound("strategy"))?)?;
    strategy.active = versions.active_id.as_ref() == Some(&strategy.id);
    Ok(strategy)
}

pub async fn activate(app: &App, tenant: &TenantCtx, mut strategy: Strategy, versions: Versions) -> AppResult<Strategy> {
    let next = Versions {
        active_id: Some(strategy.id.clone()),
        version: versions.version + 1,
        ..versions.clone()
    };
    app.table
        .transact(vec![next.write(tenant, versions.version)?])
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { .. } => AppError::conflict("CONFLICT", "the strategies changed meanwhile: try again"),
            other => other.into(),
        })?;
    strategy.active = true;
    Ok(strategy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offline_example_of_the_schema_is_a_valid_strategy() {
        let example = crate::ports::ai::example_of(&schema(), "offline AI");
        let plan = parse(&example.to_string()).unwrap();
        assert_eq!(plan.pillars.len(), 3);
        assert!(plan.tone.starts_with("[offline AI]"));
    }

    #[test]
    fn answers_outside_the_bounds_are_refused() {
        let mut example = crate::ports::ai::example_of(&schema(), "x");
        example["pillars"] = json!([{"name": "a", "description": "b"}]);
        assert!(parse(&example.to_string()).unwrap_err().contains("3 to 5 pillars"));
        assert!(parse("Here is your strategy!").is_err());
    }
}
