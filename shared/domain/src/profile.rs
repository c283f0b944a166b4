//! The business profile: who the org is, whom it serves, what it wants and how it sounds.
//! One source of truth: the AI CEO's config keeps only its persona (name, personality) and
//! reads and writes `industry`, `goals`, `tone` and `postsPerWeek` here, so both routes show
//! the same data; the time zone is the org's own. Chat, the agent and the strategy read it.

use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::orgs::Org;
use crate::ports::table::{Condition, Item, TxOp};
use crate::tenancy::TenantCtx;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A goal: a metric, the figure aimed for (none for a goal written as plain text through the
/// AI CEO's config), and by when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Goal {
    pub metric: String,
    pub target: Option<f64>,
    /// A date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::clock::Date>")]
    pub by: Option<NaiveDate>,
}

impl Goal {
    /// As the AI CEO's config shows it: `metric`, `metric: target`, then ` by YYYY-MM-DD`.
    pub fn as_text(&self) -> String {
        let mut text = self.metric.clone();
        if let Some(target) = self.target {
            text.push_str(&format!(": {target}"));
        }
        if let Some(by) = self.by {
            text.push_str(&format!(" by {by}"));
        }
        text
    }

    /// The inverse of `as_text`; any other text is a goal with no figure.
    pub fn from_text(text: &str) -> Goal {
        let (rest, by) = match text.rsplit_once(" by ") {
            Some((rest, date)) => match date.parse::<NaiveDate>() {
                Ok(by) => (rest, Some(by)),
                Err(_) => (text, None),
            },
            None => (text, None),
        };
        match rest
            .rsplit_once(": ")
            .and_then(|(metric, target)| Some((metric, target.parse::<f64>().ok()?)))
        {
            Some((metric, target)) if target.is_finite() => Goal {
                metric: metric.to_string(),
                target: Some(target),
                by,
            },
            _ if by.is_some() => Goal {
                metric: rest.to_string(),
                target: None,
                by,
            },
            _ => Goal {
                metric: text.to_string(),
                target: None,
                by: None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BusinessProfile {
    pub business_name: String,
    pub description: String,
    pub industry: Option<String>,
    pub audience: String,
    pub goals: Vec<Goal>,
    pub posts_per_week: u32,
    pub tone: String,
    /// The org's time zone (IANA): local times of the calendar are read in it.
    #[serde(default)]
    pub time_zone: Option<String>,
    pub updated_by: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub updated_at: Option<DateTime<Utc>>,
    /// 0 until first saved.
    pub version: u64,
}

/// What the AI CEO's config held before the profile existed, read once to seed the profile.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Legacy {
    industry: Option<String>,
    #[serde(default)]
    goals: Vec<String>,
    tone: Option<String>,
    posts_per_week: Option<u32>,
}

impl BusinessProfile {
    /// The stored profile, or the one an org starts with: its name, three posts a week, a
    /// friendly tone, and whatever the AI CEO's config held before profiles existed.
    pub fn from_stored(profile: Option<Item>, org: &Org, legacy_config: Option<&Item>) -> AppResult<Self> {
        let mut profile = match profile {
            Some(item) => from_item::<BusinessProfile>(item)?,
            None => {
                let legacy: Legacy = legacy_config.map(|item| from_item(item.clone())).transpose()?.unwrap_or_default();
                BusinessProfile {
                    business_name: org.name.clone(),
                    description: String::new(),
                    industry: legacy.industry,
                    audience: String::new(),
                    goals: legacy.goals.iter().map(|g| Goal::from_text(g)).collect(),
                    posts_per_week: legacy.posts_per_week.unwrap_or(3),
                    tone: legacy.tone.unwrap_or_else(|| "friendly and concise".into()),
                    time_zone: None,
                    updated_by: None,
                    updated_at: None,
                    version: 0,
                }
            }
        };
        profile.time_zone = Some(org.time_zone.clone());
        Ok(profile)
    }

    /// What every prompt about the business says of it.
    pub fn describe(&self) -> String {
        let mut text = format!("Business: {}.", self.business_name);
        if !self.description.is_empty() {
            text.push_str(&format!(" What it does: {}.", self.description));
        }
        if let Some(industry) = &self.industry {
            text.push_str(&format!(" Industry: {industry}."));
        }
        if !self.audience.is_empty() {
            text.push_str(&format!(" Audience: {}.", self.audience));
        }
        if !self.goals.is_empty() {
            let goals: Vec<String> = self.goals.iter().map(Goal::as_text).collect();
            text.push_str(&format!(" Goals: {}.", goals.join("; ")));
        }
        text.push_str(&format!(" Tone: {}. Aims for {} posts a week.", self.tone, self.posts_per_week));
        text
    }

    /// The transaction step that writes this profile over the version read.
    pub fn write(&self, tenant: &TenantCtx, read: u64) -> AppResult<TxOp> {
        let mut stored = self.clone();
        // The time zone is the org's, stored there.
        stored.time_zone = None;
        Ok(TxOp::Put {
            item: to_item(&tenant.pk(), keys::BUSINESS_PROFILE_SK, &stored)?,
            condition: Some(if read == 0 {
                Condition::NotExists
            } else {
                Condition::VersionEquals(read)
            }),
        })
    }
}

/// The org-partition items the profile is read from, in the order `read` takes them: the
/// org (its name and time zone), the AI CEO's config (what it held before profiles existed,
/// and its version) and the profile.
pub const KEYS: [&str; 3] = [keys::ORG_SK, keys::AI_CONFIG_SK, keys::BUSINESS_PROFILE_SK];

/// The org, the config item and the profile from the items of [`KEYS`].
pub fn read([org, config, profile]: [Option<Item>; 3]) -> AppResult<(Org, Option<Item>, BusinessProfile)> {
    let org = crate::orgs::org_from(org)?;
    let profile = BusinessProfile::from_stored(profile, &org, config.as_ref())?;
    Ok((org, config, profile))
}

pub const MAX_GOALS: usize = 10;

pub fn check_goals(goals: Vec<Goal>) -> AppResult<Vec<Goal>> {
    if goals.len() > MAX_GOALS {
        return Err(AppError::validation(format!("at most {MAX_GOALS} goals")));
    }
    goals
        .into_iter()
        .map(|goal| {
            if goal.target.is_some_and(|t| !t.is_finite()) {
                return Err(AppError::validation("goals[].target must be a number"));
            }
            Ok(Goal {
                metric: model::text("goals[].metric", &goal.metric, 300)?,
                ..goal
            })
        })
        .collect()
}

pub fn check_posts_per_week(posts: u32) -> AppResult<u32> {
    if posts > 100 {
        return Err(AppError::validation("postsPerWeek must be from 0 to 100"));
    }
    Ok(posts)
}

/// `PUT …/profile`: the whole profile.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfileChange {
    pub business_name: String,
    #[serde(default)]
    pub description: String,
    pub industry: Option<String>,
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub goals: Vec<Goal>,
    pub posts_per_week: u32,
    pub tone: String,
    /// An IANA time zone name; absent keeps the org's.
    pub time_zone: Option<String>,
    /// The version read (0 before the first save).
    pub version: u64,
}

/// Saves the profile, and the org's time zone with it when it changes, in one transaction.
/// `config` is the AI CEO's config item: the profile's new version passes its version too, so
/// that the config (whose version is the higher of the two) sees the change.
pub async fn update(
    app: &crate::app::App,
    tenant: &TenantCtx,
    org: Org,
    config: Option<&Item>,
    profile: BusinessProfile,
    change: ProfileChange,
) -> AppResult<BusinessProfile> {
    if change.version != profile.version {
        return Err(model::stale_version("profile", profile.version));
    }
    let now = app.clock.now();
    let time_zone = match change.time_zone.as_deref() {
        Some(tz) => crate::orgs::time_zone(Some(tz))?,
        None => org.time_zone.clone(),
    };
    let updated = BusinessProfile {
        business_name: model::name("businessName", &change.business_name, 200)?,
        description: model::optional_text("description", Some(&change.description), 2_000)?.unwrap_or_default(),
        industry: model::optional_text("industry", change.industry.as_deref(), 100)?,
        audience: model::optional_text("audience", Some(&change.audience), 1_000)?.unwrap_or_default(),
        goals: check_goals(change.goals)?,
        posts_per_week: check_posts_per_week(change.posts_per_week)?,
        tone: model::text("tone", &change.tone, 200)?,
        time_zone: Some(time_zone.clone()),
        updated_by: Some(tenant.user_id().to_string()),
        updated_at: Some(now),
        version: profile.version.max(config.map_or(0, crate::ports::table::item_version)) + 1,
    };
    let mut ops = vec![
        updated.write(tenant, profile.version)?,
        crate::audit::entry(
            tenant,
            now,
            "settings.profile_changed",
            format!("org:{}", tenant.org_id()),
            serde_json::json!({"version": updated.version, "timeZone": time_zone}),
        )?,
    ];
    if time_zone != org.time_zone {
        let read = org.version;
        let org = Org {
            time_zone,
            updated_at: now,
            version: read + 1,
            ..org
        };
        ops.push(TxOp::Put {
            item: org.to_item()?,
            condition: Some(Condition::VersionEquals(read)),
        });
    }
    app.table.transact(ops).await.map_err(|e| match e {
        crate::ports::table::TableError::ConditionFailed { .. } => {
            AppError::conflict("VERSION_CONFLICT", "the profile changed meanwhile: read it again")
        }
        other => other.into(),
    })?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_read_back_from_their_text() {
        for goal in [
            Goal {
                metric: "newsletter subscribers".into(),
                target: Some(5000.0),
                by: "2027-03-01".parse().ok(),
            },
            Goal {
                metric: "grow to 100 clients".into(),
                target: None,
                by: None,
            },
            Goal {
                metric: "revenue".into(),
                target: Some(1.5),
                by: None,
            },
        ] {
            assert_eq!(Goal::from_text(&goal.as_text()), goal);
        }
        assert_eq!(Goal::from_text("ratio: high").target, None);
    }
}
