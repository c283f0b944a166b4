//! The due index: a runnable item is in partition `DUE#<minute>#<shard>` of the minute it is
//! due, sorted by `<due time>#<org>#<id>`. The executor reads only the partitions of the
//! minutes since its last tick; a minute's work is spread over `SHARDS` partitions so that
//! one busy minute is not one hot partition.

use crate::keys;
use chrono::{DateTime, Duration, DurationRound, Utc};

pub const SHARDS: u32 = 4;

pub fn minute(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

pub fn minute_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::minutes(1)).unwrap_or(at)
}

/// Stable across processes: FNV-1a of the id.
pub fn shard(id: &str) -> u32 {
    let hash = id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % u64::from(SHARDS)) as u32
}

/// The (duePK, dueSK) of an item of `org_id` due at `at` (RFC 3339).
pub fn entry(org_id: &str, id: &str, due: DateTime<Utc>) -> (String, String) {
    (
        keys::due_pk(&minute(due), shard(id)),
        format!("{}#{org_id}#{id}", crate::clock::timestamp(due)),
    )
}

/// The largest sort key due at or before `now` in a minute's partition.
pub fn due_by(now: DateTime<Utc>) -> String {
    format!("{}#~", crate::clock::timestamp(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn entries_fall_in_the_minute_and_shard_of_their_item() {
        let (pk, sk) = entry("O1", "T1", crate::clock::parse("2026-11-22T09:30:45.123Z").unwrap());
        assert_eq!(pk, format!("DUE#2026-11-22T09:30#{}", shard("T1")));
        assert_eq!(sk, "2026-11-22T09:30:45.123Z#O1#T1");
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 30, 45).unwrap();
        assert!(sk.as_str() > due_by(now).as_str(), "45.123 s is after 45.000 s");
        assert!(sk.as_str() <= due_by(now + Duration::milliseconds(123)).as_str());
    }

    #[test]
    fn shards_spread_ids() {
        let mut seen = [0usize; SHARDS as usize];
        for _ in 0..400 {
            seen[shard(&crate::model::new_id()) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
