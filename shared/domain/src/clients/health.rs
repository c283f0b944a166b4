//! The health score: a pure function from what is known of a client to a 0–100 score, its
//! band and the factors that make it, each with its weight, value and points (the points add
//! up to the score). A factor with no data is left out and the others re-weighted; with no
//! evidence at all (no interaction, answer, ticket or renewal date: the stage alone is not
//! evidence) the score is `null` and the band `unknown`.

use crate::clock::rfc3339;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Sentiments older than this are not counted.
pub const SENTIMENT_WINDOW_DAYS: i64 = 90;
/// A sentiment counts half as much after this many days.
pub const SENTIMENT_HALF_LIFE_DAYS: f64 = 30.0;
/// A client's own survey answers count for a year.
pub const ANSWER_WINDOW_DAYS: i64 = 365;
/// Engagement halves with each this many days since the last interaction.
pub const ENGAGEMENT_HALF_LIFE_DAYS: f64 = 30.0;
/// A renewal nearer than this weighs on the score.
pub const RENEWAL_HORIZON_DAYS: i64 = 60;
/// The trend compares with the score as it stood at least this many days ago.
pub const TREND_DAYS: i64 = 7;
/// A move of more than this many points is a trend up or down.
pub const TREND_POINTS: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Onboarding,
    Active,
    Renewal,
    Churned,
}

impl Stage {
    /// How sound a relationship at this stage is, 0..1.
    fn value(self) -> f64 {
        match self {
            Stage::Onboarding => 0.75,
            Stage::Active => 1.0,
            Stage::Renewal => 0.6,
            Stage::Churned => 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Healthy,
    AtRisk,
    Critical,
    Unknown,
}

impl Band {
    fn rank(self) -> Option<u8> {
        match self {
            Band::Healthy => Some(0),
            Band::AtRisk => Some(1),
            Band::Critical => Some(2),
            Band::Unknown => None,
        }
    }

    /// Whether this band is worse than `before` (from a known band only).
    pub fn is_worse_than(self, before: Band) -> bool {
        matches!((self.rank(), before.rank()), (Some(now), Some(then)) if now > then)
    }

    pub fn is_at_risk(self) -> bool {
        matches!(self, Band::AtRisk | Band::Critical)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Healthy => "healthy",
            Band::AtRisk => "at_risk",
            Band::Critical => "critical",
            Band::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Up,
    Down,
    Flat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactorName {
    Sentiment,
    Nps,
    Engagement,
    Tickets,
    Renewal,
    Stage,
}

/// Relative weights of the factors (each 0–100; only their proportions matter).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Weights {
    pub sentiment: f64,
    pub nps: f64,
    pub engagement: f64,
    pub tickets: f64,
    pub renewal: f64,
    pub stage: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            sentiment: 30.0,
            nps: 20.0,
            engagement: 20.0,
            tickets: 10.0,
            renewal: 10.0,
            stage: 10.0,
        }
    }
}

impl Weights {
    fn of(&self, factor: FactorName) -> f64 {
        match factor {
            FactorName::Sentiment => self.sentiment,
            FactorName::Nps => self.nps,
            FactorName::Engagement => self.engagement,
            FactorName::Tickets => self.tickets,
            FactorName::Renewal => self.renewal,
            FactorName::Stage => self.stage,
        }
    }

    fn total(&self) -> f64 {
        ALL_FACTORS.iter().map(|f| self.of(*f)).sum()
    }

    pub fn check(&self) -> AppResult<()> {
        if ALL_FACTORS.iter().any(|f| !(0.0..=100.0).contains(&self.of(*f))) {
            return Err(AppError::validation("weights: each weight is a number from 0 to 100"));
        }
        if self.total() <= 0.0 {
            return Err(AppError::validation("weights: at least one weight must be above 0"));
        }
        Ok(())
    }
}

/// Where the bands start: `healthy` from `healthy_from`, `at_risk` from `at_risk_from`,
/// `critical` below.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Bands {
    pub healthy_from: u8,
    pub at_risk_from: u8,
}

impl Default for Bands {
    fn default() -> Self {
        Bands {
            healthy_from: 70,
            at_risk_from: 40,
        }
    }
}

impl Bands {
    pub fn of(&self, score: Option<u8>) -> Band {
        match score {
            None => Band::Unknown,
            Some(s) if s >= self.healthy_from => Band::Healthy,
            Some(s) if s >= self.at_risk_from => Band::AtRisk,
            Some(_) => Band::Critical,
        }
    }

    pub fn check(&self) -> AppResult<()> {
        if !(1 <= self.at_risk_from && self.at_risk_from < self.healthy_from && self.healthy_from <= 100) {
            return Err(AppError::validation("bands: 1 ≤ atRiskFrom < healthyFrom ≤ 100"));
        }
        Ok(())
    }
}

const ALL_FACTORS: [FactorName; 6] = [
    FactorName::Sentiment,
    FactorName::Nps,
    FactorName::Engagement,
    FactorName::Tickets,
    FactorName::Renewal,
    FactorName::Stage,
];

/// An analysed interaction's sentiment, when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentimentPoint {
    pub interaction_id: String,
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// −1..1
    pub score: f64,
}

/// A survey answer of the client's own (0–10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerPoint {
    pub response_id: String,
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub score: u8,
}

/// What the score is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub sentiments: &'a [SentimentPoint],
    pub answers: &'a [AnswerPoint],
    pub last_interaction_at: Option<DateTime<Utc>>,
    pub open_tickets: usize,
    pub tickets_ever: usize,
    pub renewal_date: Option<NaiveDate>,
    pub stage: Stage,
}

/// One factor of a score, as the API explains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Factor {
    pub name: FactorName,
    /// The configured weight, as a share of all weights (0..1).
    pub weight: f64,
    /// The share it had in this score (0..1): 0 when left out for want of data; a renewal
    /// near at hand weighs more when the other factors are weak.
    pub applied_weight: f64,
    /// 0..1, `null` without data.
    pub value: Option<f64>,
    /// What it adds to the score: applied weight × value × 100.
    pub points: f64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub score: Option<u8>,
    pub band: Band,
    pub factors: Vec<Factor>,
}

fn days_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    ((later - earlier).num_seconds().max(0) as f64) / 86_400.0
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// The client's own NPS over its answers (−100..100), with the count of answers.
pub fn own_nps(answers: &[AnswerPoint], now: DateTime<Utc>) -> Option<(f64, usize)> {
    let recent: Vec<&AnswerPoint> = answers.iter().filter(|a| (now - a.at).num_days() < ANSWER_WINDOW_DAYS).collect();
    if recent.is_empty() {
        return None;
    }
    let promoters = recent.iter().filter(|a| a.score >= 9).count() as f64;
    let detractors = recent.iter().filter(|a| a.score <= 6).count() as f64;
    Some(((promoters - detractors) / recent.len() as f64 * 100.0, recent.len()))
}

/// The evidence factors (all but renewal and stage): value and detail, `None` without data.
fn measured(factor: FactorName, e: &Evidence, now: DateTime<Utc>) -> Option<(f64, String)> {
    match factor {
        FactorName::Sentiment => {
            let (mut weighted, mut weights, mut count) = (0.0, 0.0, 0);
            for point in e.sentiments {
                if (now - point.at).num_days() >= SENTIMENT_WINDOW_DAYS || point.at > now {
                    continue;
                }
                let weight = 0.5f64.powf(days_between(point.at, now) / SENTIMENT_HALF_LIFE_DAYS);
                weighted += weight * point.score.clamp(-1.0, 1.0);
                weights += weight;
                count += 1;
            }
            (count > 0).then(|| {
                let mean = weighted / weights;
                (
                    (mean + 1.0) / 2.0,
                    format!("{count} analysed interactions in {SENTIMENT_WINDOW_DAYS} days, recency-weighted sentiment {mean:.2}"),
                )
            })
        }
        FactorName::Nps => own_nps(e.answers, now).map(|(nps, count)| {
            (
                (nps + 100.0) / 200.0,
                format!("{count} survey answers, the client's own NPS {nps:.1}"),
            )
        }),
        FactorName::Engagement => e.last_interaction_at.map(|last| {
            let days = days_between(last, now);
            (
                0.5f64.powf(days / ENGAGEMENT_HALF_LIFE_DAYS),
                format!("last interaction {} days ago", days.floor()),
            )
        }),
        FactorName::Tickets => {
            (e.tickets_ever > 0).then(|| (1.0 / (1.0 + e.open_tickets as f64), format!("{} open tickets", e.open_tickets)))
        }
        FactorName::Renewal | FactorName::Stage => None,
    }
}

/// The score of `e` under `weights` and `bands` at `now`.
pub fn assess(e: &Evidence, weights: &Weights, bands: &Bands, now: DateTime<Utc>) -> Assessment {
    let total = weights.total().max(f64::EPSILON);
    let share = |f: FactorName| weights.of(f) / total;
    // (factor, weight applied before normalising, value, detail)
    let mut parts: Vec<(FactorName, f64, Option<f64>, String)> = Vec::new();
    let mut others = (0.0, 0.0);
    for factor in [FactorName::Sentiment, FactorName::Nps, FactorName::Engagement, FactorName::Tickets] {
        match measured(factor, e, now) {
            Some((value, detail)) => {
                others.0 += share(factor) * value;
                others.1 += share(factor);
                parts.push((factor, share(factor), Some(value), detail));
            }
            None => parts.push((factor, 0.0, None, "no data".into())),
        }
    }
    // The other evidence's score, neutral without any.
    let others = if others.1 > 0.0 { others.0 / others.1 } else { 0.5 };
    match e.renewal_date {
        Some(date) => {
            let days = (date - now.date_naive()).num_days();
            let near = if days >= RENEWAL_HORIZON_DAYS {
                0.0
            } else {
                ((RENEWAL_HORIZON_DAYS - days.max(0)) as f64 / RENEWAL_HORIZON_DAYS as f64).clamp(0.0, 1.0)
            };
            // Near at hand, the renewal takes the other factors' weakness (squared) and
            // weighs up to twice as much when they are weak; far off it is no risk.
            let value = (1.0 - near) + near * others * others;
            let weight = share(FactorName::Renewal) * (1.0 + near * (1.0 - others));
            let detail = if days < 0 {
                format!("renewal was due {} days ago", -days)
            } else {
                format!("renewal in {days} days")
            };
            parts.push((FactorName::Renewal, weight, Some(value), detail));
        }
        None => parts.push((FactorName::Renewal, 0.0, None, "no renewal date".into())),
    }
    let evidence = parts.iter().any(|(_, _, value, _)| value.is_some());
    if evidence {
        parts.push((
            FactorName::Stage,
            share(FactorName::Stage),
            Some(e.stage.value()),
            format!("stage {:?}", e.stage).to_lowercase(),
        ));
    } else {
        parts.push((FactorName::Stage, 0.0, None, "the stage alone is not evidence".into()));
    }
    let applied_total: f64 = parts.iter().filter(|p| p.2.is_some()).map(|p| p.1).sum();
    let factors: Vec<Factor> = parts
        .into_iter()
        .map(|(name, weight, value, detail)| {
            let applied = if value.is_some() && applied_total > 0.0 {
                weight / applied_total
            } else {
                0.0
            };
            Factor {
                name,
                weight: round(share(name), 4),
                applied_weight: round(applied, 4),
                value: value.map(|v| round(v, 4)),
                points: round(applied * value.unwrap_or(0.0) * 100.0, 1),
                detail,
            }
        })
        .collect();
    let score = (evidence && applied_total > 0.0).then(|| {
        let sum: f64 = factors.iter().map(|f| f.applied_weight * f.value.unwrap_or(0.0)).sum::<f64>();
        (sum * 100.0).round().clamp(0.0, 100.0) as u8
    });
    Assessment {
        score,
        band: bands.of(score),
        factors,
    }
}

/// A score as it stood, for the trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorePoint {
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub score: u8,
}

/// `up`/`down` when the score moved by more than `TREND_POINTS` against the latest point at
/// least `TREND_DAYS` old, `flat` within that; `None` without such a point or a score.
pub fn trend(trail: &[ScorePoint], score: Option<u8>, now: DateTime<Utc>) -> Option<Trend> {
    let score = i32::from(score?);
    let then = trail
        .iter()
        .filter(|p| now - p.at >= chrono::Duration::days(TREND_DAYS))
        .max_by_key(|p| p.at)?;
    let moved = score - i32::from(then.score);
    Some(if moved > TREND_POINTS {
        Trend::Up
    } else if moved < -TREND_POINTS {
        Trend::Down
    } else {
        Trend::Flat
    })
}

/// The trail kept for the trend: the points of the last `TREND_DAYS` and the newest older one.
pub fn trim_trail(trail: &mut Vec<ScorePoint>, now: DateTime<Utc>) {
    trail.sort_by_key(|p| p.at);
    let recent = chrono::Duration::days(TREND_DAYS);
    if let Some(keep_from) = trail.iter().rposition(|p| now - p.at >= recent) {
        trail.drain(..keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    fn sentiment(days_ago: i64, score: f64) -> SentimentPoint {
        SentimentPoint {
            interaction_id: crate::model::new_id(),
            at: now() - Duration::days(days_ago),
            score,
        }
    }

    fn answer(days_ago: i64, score: u8) -> AnswerPoint {
        AnswerPoint {
            response_id: crate::model::new_id(),
            at: now() - Duration::days(days_ago),
            score,
        }
    }

    fn nothing(stage: Stage) -> Evidence<'static> {
        Evidence {
            sentiments: &[],
            answers: &[],
            last_interaction_at: None,
            open_tickets: 0,
            tickets_ever: 0,
            renewal_date: None,
            stage,
        }
    }

    fn score_of(e: &Evidence) -> Assessment {
        assess(e, &Weights::default(), &Bands::default(), now())
    }

    fn factor(a: &Assessment, name: FactorName) -> &Factor {
        a.factors.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn with_no_evidence_the_score_is_null_and_the_band_unknown_whatever_the_stage() {
        for stage in [Stage::Onboarding, Stage::Active, Stage::Renewal, Stage::Churned] {
            let a = score_of(&nothing(stage));
            assert_eq!((a.score, a.band), (None, Band::Unknown));
            assert!(a.factors.iter().all(|f| f.value.is_none() && f.points == 0.0));
        }
    }

    /// (what, evidence, expected score): the table of the health function.
    #[test]
    fn scores_on_a_table_of_factors() {
        let happy = [sentiment(1, 0.8), sentiment(10, 0.6)];
        let angry = [sentiment(1, -0.9), sentiment(3, -0.7)];
        let promoters = [answer(5, 10), answer(40, 9)];
        let detractor = [answer(2, 3)];
        let today = Some(now());
        let cases: Vec<(&str, Evidence, u8)> = vec![
            // Sentiment ≈ 0.74 → 0.87; engagement 1; stage 1: (30·.87 + 20·1 + 10·1) / 60.
            (
                "happy and in touch",
                Evidence {
                    sentiments: &happy,
                    last_interaction_at: today,
                    ..nothing(Stage::Active)
                },
                93,
            ),
            (
                "angry and in touch",
                Evidence {
                    sentiments: &angry,
                    last_interaction_at: today,
                    ..nothing(Stage::Active)
                },
                55,
            ),
            (
                "promoters only",
                Evidence {
                    answers: &promoters,
                    ..nothing(Stage::Active)
                },
                100,
            ),
            (
                "one detractor",
                Evidence {
                    answers: &detractor,
                    ..nothing(Stage::Active)
                },
                33,
            ),
            (
                "silent for 90 days",
                Evidence {
                    last_interaction_at: Some(now() - Duration::days(90)),
                    ..nothing(Stage::Active)
                },
                42,
            ),
            (
                "two open tickets of three",
                Evidence {
                    open_tickets: 2,
                    tickets_ever: 3,
                    ..nothing(Stage::Active)
                },
                67,
            ),
            (
                "a far renewal alone",
                Evidence {
                    renewal_date: Some(now().date_naive() + Duration::days(200)),
                    ..nothing(Stage::Active)
                },
                100,
            ),
        ];
        for (what, e, expected) in cases {
            let a = score_of(&e);
            assert_eq!(a.score, Some(expected), "{what}: {:#?}", a.factors);
            let points: f64 = a.factors.iter().map(|f| f.points).sum();
            assert!(
                (points - f64::from(expected)).abs() <= 0.6,
                "{what}: the points add up to the score ({points})"
            );
        }
    }

    #[test]
    fn a_factor_without_data_is_left_out_and_the_rest_reweighted_never_counted_as_zero() {
        let happy = [sentiment(0, 1.0)];
        let only_sentiment = Evidence {
            sentiments: &happy,
            ..nothing(Stage::Active)
        };
        let a = score_of(&only_sentiment);
        // Sentiment 1 (weight 30) and stage 1 (weight 10) alone: 100, not 40.
        assert_eq!(a.score, Some(100));
        for missing in [FactorName::Nps, FactorName::Engagement, FactorName::Tickets, FactorName::Renewal] {
            let f = factor(&a, missing);
            assert_eq!((f.value, f.applied_weight, f.points), (None, 0.0, 0.0), "{missing:?}");
            assert!(f.weight > 0.0, "its configured weight is still shown");
        }
        assert_eq!(factor(&a, FactorName::Sentiment).applied_weight, 0.75);
    }

    #[test]
    fn sentiment_halves_its_weight_every_30_days_and_ends_at_90() {
        let old_bad_new_good = [sentiment(60, -1.0), sentiment(0, 1.0)];
        let e = Evidence {
            sentiments: &old_bad_new_good,
            ..nothing(Stage::Active)
        };
        // Weights 1 and 0.25: mean (1 − 0.25) / 1.25 = 0.6 → value 0.8.
        assert_eq!(factor(&score_of(&e), FactorName::Sentiment).value, Some(0.8));
        let too_old = [sentiment(91, -1.0)];
        let e = Evidence {
            sentiments: &too_old,
            ..nothing(Stage::Active)
        };
        assert_eq!(score_of(&e).score, None);
    }

    #[test]
    fn a_near_renewal_weighs_more_when_the_other_factors_are_weak() {
        let weak = [sentiment(1, -0.6)];
        let strong = [sentiment(1, 0.9)];
        let with = |sentiments: &'static [SentimentPoint], days: i64| {
            let e = Evidence {
                sentiments,
                renewal_date: Some(now().date_naive() + Duration::days(days)),
                ..nothing(Stage::Active)
            };
            score_of(&e)
        };
        let weak: &'static [SentimentPoint] = Box::leak(Box::new(weak));
        let strong: &'static [SentimentPoint] = Box::leak(Box::new(strong));
        let (weak_far, weak_near) = (with(weak, 120), with(weak, 10));
        let (strong_far, strong_near) = (with(strong, 120), with(strong, 10));
        let drop_weak = i32::from(weak_far.score.unwrap()) - i32::from(weak_near.score.unwrap());
        let drop_strong = i32::from(strong_far.score.unwrap()) - i32::from(strong_near.score.unwrap());
        assert!(drop_weak > drop_strong, "weak drops {drop_weak}, strong {drop_strong}");
        assert!(factor(&weak_near, FactorName::Renewal).applied_weight > factor(&weak_far, FactorName::Renewal).applied_weight);
    }

    #[test]
    fn bands_follow_the_settings() {
        let bands = Bands::default();
        assert_eq!(
            [Some(70), Some(69), Some(40), Some(39), None].map(|s| bands.of(s)),
            [Band::Healthy, Band::AtRisk, Band::AtRisk, Band::Critical, Band::Unknown]
        );
        let strict = Bands {
            healthy_from: 90,
            at_risk_from: 60,
        };
        assert_eq!(strict.of(Some(80)), Band::AtRisk);
        assert!(
            Bands {
                healthy_from: 40,
                at_risk_from: 40
            }
            .check()
            .is_err()
        );
        assert!(Band::Critical.is_worse_than(Band::AtRisk) && !Band::AtRisk.is_worse_than(Band::Unknown));
    }

    #[test]
    fn the_trend_compares_with_the_latest_point_at_least_a_week_old() {
        let point = |days_ago: i64, score: u8| ScorePoint {
            at: now() - Duration::days(days_ago),
            score,
        };
        assert_eq!(trend(&[point(3, 50)], Some(80), now()), None, "nothing a week old");
        let trail = [point(20, 90), point(8, 60), point(2, 30)];
        assert_eq!(trend(&trail, Some(64), now()), Some(Trend::Up));
        assert_eq!(trend(&trail, Some(63), now()), Some(Trend::Flat));
        assert_eq!(trend(&trail, Some(56), now()), Some(Trend::Down));
        assert_eq!(trend(&trail, None, now()), None);
        let mut kept = trail.to_vec();
        trim_trail(&mut kept, now());
        assert_eq!(kept, [point(8, 60), point(2, 30)]);
    }
}
