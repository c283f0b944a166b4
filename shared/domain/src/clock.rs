use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// The time source. Tests set it; everything else reads the system clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock, moved ahead on demand: `local`'s, so that a developer sees what happens
/// at a scheduled time without waiting for it (`POST /local/clock`). It never moves back.
#[derive(Debug, Default)]
pub struct TravelClock {
    ahead_ms: std::sync::atomic::AtomicI64,
}

impl TravelClock {
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ahead_ms.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn ahead(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.ahead_ms.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Clock for TravelClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.ahead()
    }
}

/// A clock that stands still until moved.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(at))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = at;
    }
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// A stored RFC 3339 time, or `None` when it is not one.
pub fn parse(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Utc))
}

/// RFC 3339 with milliseconds and `Z`: sorts as text in time order.
/// The day `at` falls on in the time zone named `time_zone` (UTC for a name it does not know).
pub fn local_date(time_zone: &str, at: DateTime<Utc>) -> chrono::NaiveDate {
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(at.timestamp())
        .ok()
        .and_then(|t| {
            let date = tz.to_datetime(t).date();
            chrono::NaiveDate::from_ymd_opt(i32::from(date.year()), date.month() as u32, date.day() as u32)
        })
        .unwrap_or_else(|| at.date_naive())
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A time as the API writes it, for the contract: a field written by [`rfc3339`] says
/// `#[schemars(with = "crate::clock::Timestamp")]`.
pub struct Timestamp;

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time", "examples": ["2026-11-27T14:05:00.000Z"]})
    }
}

/// A calendar date (`YYYY-MM-DD`), for the contract.
pub struct Date;

impl schemars::JsonSchema for Date {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date", "examples": ["2027-03-01"]})
    }
}

/// Times in models are `DateTime<Utc>`, stored and answered as [`timestamp`] writes them
/// (`#[serde(with = "crate::clock::rfc3339")]`); any RFC 3339 time reads.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::timestamp(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse(&text).ok_or_else(|| D::Error::custom(format!("{text} is not an RFC 3339 time")))
    }

    /// The same for an optional time (with `#[serde(default)]`): `null` or absent is `None`.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            #[derive(Deserialize)]
            struct Time(#[serde(with = "super")] DateTime<Utc>);
            Ok(Option::<Time>::deserialize(deserializer)?.map(|Time(at)| at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Stamped {
        #[serde(with = "rfc3339")]
        at: DateTime<Utc>,
        #[serde(default, with = "rfc3339::option")]
        until: Option<DateTime<Utc>>,
    }

    /// Models hold times, and store and answer them as text did before: milliseconds and `Z`.
    #[test]
    fn times_serialise_with_milliseconds_and_z_and_read_any_rfc_3339() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 30).unwrap();
        let stamped = Stamped { at, until: None };
        let json = serde_json::to_value(&stamped).unwrap();
        assert_eq!(json, serde_json::json!({"at": "2026-11-22T12:00:30.000Z", "until": null}));
        let read: Stamped = serde_json::from_value(serde_json::json!({"at": "2026-11-22T13:00:30+01:00"})).unwrap();
        assert_eq!(read, stamped);
        let bad = serde_json::from_value::<Stamped>(serde_json::json!({"at": "yesterday"})).unwrap_err();
        assert!(bad.to_string().contains("yesterday is not an RFC 3339 time"), "{bad}");
    }
}
