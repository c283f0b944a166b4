//! What a request handler reaches: the ports, the clock and the settings, built once per
//! process (outside the Lambda handler) and borrowed by every invocation.

use crate::clock::Clock;
use crate::ports::ai::Ai;
use crate::ports::events::EventBus;
use crate::ports::keys::KeySet;
use crate::ports::mailer::Mailer;
use crate::ports::payments::Payments;
use crate::ports::queue::JobQueue;
use crate::ports::secrets::Secrets;
use crate::ports::social::Social;
use crate::ports::table::Table;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where invitation links point (the web frontend).
    pub app_url: String,
    /// The API's own public address (`CHIEF_API_URL`): the OAuth callback's, which each
    /// platform's app must list as its redirect URI.
    pub api_url: String,
    /// The platforms' API versions in use.
    pub platforms: PlatformVersions,
    /// Request bodies above this many bytes get 413.
    pub body_limit: usize,
    /// How long an access token is good for (`CHIEF_ACCESS_TOKEN_MINUTES`, 15): the longest a
    /// stolen one works; the refresh token renews it.
    pub access_token_ttl: chrono::Duration,
    /// The OAuth client id of the web app's Google sign-in (`CHIEF_GOOGLE_CLIENT_ID`), the
    /// audience its ID tokens must name; unset, Google sign-in is off.
    pub google_client_id: Option<String>,
    /// What each AI model costs (`CHIEF_AI_PRICES` over the defaults).
    pub ai_prices: crate::ports::ai_pricing::Prices,
    /// Failed sign-ins allowed per (email, client address) and per client address in one
    /// window, and those on one email (from anywhere) after which each attempt waits longer.
    pub login_failures_per_pair: i64,
    pub login_failures_per_address: i64,
    pub login_slowdown_after: i64,
    pub login_window_seconds: i64,
    pub invitation_ttl: chrono::Duration,
    /// Sign-ups per client address an hour, org creations per user a day, invitations per
    /// org a day: each can make Chief send mail or grant free quota, so each is bounded.
    pub signups_per_address_hour: i64,
    pub orgs_per_user_day: i64,
    pub invitations_per_org_day: i64,
    /// Orgs on the free plan one user may own.
    pub free_orgs_per_owner: usize,
    pub billing: BillingSettings,
    pub dependencies: Dependencies,
}

/// What this deployment set up beside the table and the signing key, as the health route
/// reports it; each front door fills it from its own configuration.
#[derive(Debug, Clone, Default)]
pub struct Dependencies {
    /// `openai` or `offline`.
    pub ai_provider: String,
    /// The job queues this function can reach.
    pub queues: Vec<crate::ports::queue::QueueName>,
    /// Where domain events go (`eventbridge:<bus>`, or `local store`), if anywhere.
    pub event_bus: Option<String>,
    /// How mail leaves (`smtp`, `outbox`), if it can.
    pub mail: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            app_url: "http://localhost:3000".into(),
            api_url: "http://localhost:9000".into(),
            platforms: PlatformVersions::default(),
            body_limit: 64 * 1024,
            access_token_ttl: chrono::Duration::minutes(15),
            google_client_id: None,
            ai_prices: crate::ports::ai_pricing::Prices::default(),
            login_failures_per_pair: 5,
            login_failures_per_address: 20,
            login_slowdown_after: 10,
            login_window_seconds: 15 * 60,
            invitation_ttl: chrono::Duration::days(7),
            signups_per_address_hour: 20,
            orgs_per_user_day: 10,
            invitations_per_org_day: 100,
            free_orgs_per_owner: 3,
            billing: BillingSettings::default(),
            dependencies: Dependencies::default(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BillingSettings {
    /// Stripe price ids of the paying plans (`STRIPE_PRICE_PRO`, `STRIPE_PRICE_ENTERPRISE`).
    pub price_pro: Option<String>,
    pub price_enterprise: Option<String>,
    /// Where Checkout and the portal send the customer back; by default pages of the app.
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub portal_return_url: Option<String>,
}

#[derive(Clone)]
pub struct App {
    pub table: Arc<dyn Table>,
    pub secrets: Arc<dyn Secrets>,
    pub mailer: Arc<dyn Mailer>,
    pub payments: Arc<dyn Payments>,
    pub events: Arc<dyn EventBus>,
    pub queue: Arc<dyn JobQueue>,
    pub ai: Arc<dyn Ai>,
    pub social: Arc<dyn Social>,
    pub google_keys: Arc<dyn KeySet>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits the product promises (issue 9): sign-in 5 per email and address and 20 per
    /// address in 15 minutes, slower past 10 on one email; 20 sign-ups an hour per address,
    /// 10 org creations a day per user, 100 invitations a day per org, 3 free orgs an owner.
    #[test]
    fn the_limits_are_the_promised_ones() {
        let s = Settings::default();
        assert_eq!(
            (
                s.login_failures_per_pair,
                s.login_failures_per_address,
                s.login_slowdown_after,
                s.login_window_seconds
            ),
            (5, 20, 10, 15 * 60)
        );
        assert_eq!(
            (
                s.signups_per_address_hour,
                s.orgs_per_user_day,
                s.invitations_per_org_day,
                s.free_orgs_per_owner
            ),
            (20, 10, 100, 3)
        );
    }
}

/// The platforms' API versions: LinkedIn's `LinkedIn-Version` (`YYYYMM`; each is served for
/// at least a year, then answers 426) and Meta's Graph API (`vNN.0`; about two years each).
/// `CHIEF_LINKEDIN_VERSION` and `CHIEF_META_GRAPH_VERSION` override the defaults (see
/// `config::platform_versions_from_env`); the health
/// route reports each one's age so that a version is moved on before the platform drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformVersions {
    pub linkedin: String,
    pub graph: String,
}

impl Default for PlatformVersions {
    fn default() -> Self {
        PlatformVersions {
            linkedin: "202610".into(),
            graph: "v24.0".into(),
        }
    }
}

/// Graph API versions and the day Meta released each: a version's age is counted from it.
const GRAPH_RELEASES: [(&str, &str); 5] = [
    ("v20.0", "2024-05-21"),
    ("v21.0", "2024-10-02"),
    ("v22.0", "2025-01-21"),
    ("v23.0", "2025-05-29"),
    ("v24.0", "2025-10-08"),
];

impl PlatformVersions {
    /// Whether each version has its platform's shape; the error names the setting.
    pub fn check(&self) -> Result<(), String> {
        if linkedin_released(&self.linkedin).is_none() {
            return Err(format!("CHIEF_LINKEDIN_VERSION={} is not a month as YYYYMM", self.linkedin));
        }
        let graph_ok = self
            .graph
            .strip_prefix('v')
            .and_then(|v| v.strip_suffix(".0"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !graph_ok {
            return Err(format!(
                "CHIEF_META_GRAPH_VERSION={} is not a Graph API version like v24.0",
                self.graph
            ));
        }
        Ok(())
    }

    /// Days since the LinkedIn version's month began, and since the Graph version's release
    /// (`None` for a Graph version this build does not know).
    pub fn ages(&self, today: chrono::NaiveDate) -> (Option<i64>, Option<i64>) {
        let linkedin = linkedin_released(&self.linkedin).map(|d| (today - d).num_days());
        let graph = GRAPH_RELEASES
            .iter()
            .find(|(v, _)| *v == self.graph)
            .and_then(|(_, day)| chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
            .map(|d| (today - d).num_days());
        (linkedin, graph)
    }
}

fn linkedin_released(version: &str) -> Option<chrono::NaiveDate> {
    if version.len() != 6 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    chrono::NaiveDate::parse_from_str(&format!("{version}01"), "%Y%m%d").ok()
}

#[cfg(test)]
mod platform_version_tests {
    use super::*;

    #[test]
    fn each_version_reports_its_age_in_days() {
        let versions = PlatformVersions::default();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(versions.ages(today), (Some(57), Some(415)));
        let unknown = PlatformVersions {
            graph: "v99.0".into(),
            ..versions
        };
        assert_eq!(unknown.ages(today).1, None);
        assert!(linkedin_released("2026-10").is_none());
        let wrong = PlatformVersions {
            graph: "24".into(),
            ..PlatformVersions::default()
        };
        assert!(wrong.check().unwrap_err().contains("CHIEF_META_GRAPH_VERSION"));
    }
}
