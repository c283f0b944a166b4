//! Ids as types: an org's id cannot be passed where a lead's is wanted. Each is a ULID,
//! checked once where it enters (a path, a body, a job) by `parse`; ids made here (`new`) or
//! read back from the store are ids already. Stored and answered as the plain string.

use serde::{Deserialize, Serialize};

/// An id that is not one: from a caller, a 400 (`INVALID_ID`, naming what was wanted); read
/// back from the store or a queue, data gone wrong (500). See `error`'s `From`.
#[derive(Debug, thiserror::Error)]
#[error("{what} is not a valid id")]
pub struct InvalidId {
    pub what: String,
    pub stored: bool,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh id.
            pub fn generate() -> Self {
                $name(ulid::Ulid::new().to_string())
            }

            /// An id from outside, checked: anything but a ULID is a 400 (`INVALID_ID`, naming
            /// `what`) before any store call.
            pub fn parse(value: &str, what: &str) -> Result<Self, InvalidId> {
                check(value, what)?;
                Ok($name(value.to_string()))
            }

            /// An id read back from the store or the app's own queue: one that is not a ULID
            /// is data gone wrong, not a caller's mistake.
            pub fn read(value: &str) -> Result<Self, InvalidId> {
                Self::parse(value, concat!("a stored ", stringify!($name))).map_err(|e| InvalidId { stored: true, ..e })
            }

            /// An id made from a ULID computed here (a deterministic one, say).
            pub fn from_ulid(ulid: ulid::Ulid) -> Self {
                $name(ulid.to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "pattern": ULID_PATTERN})
            }
        }

        /// Read as text where text is wanted (keys, logs, JSON).
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<&$name> for String {
            fn eq(&self, other: &&$name) -> bool {
                *self == other.0
            }
        }

        /// Tests write ids as text; nothing else makes an id without checking it.
        #[cfg(any(test, feature = "test-support"))]
        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_string())
            }
        }
    };
}

id_type!(
    /// An organisation (a tenant).
    OrgId
);
id_type!(
    /// A person who signs in, or the background worker (see [`UserId::background`]).
    UserId
);

impl UserId {
    /// Who background work (the executor, the task runner, the agent) acts as, in
    /// `createdBy` fields and the like: no person, and no ULID, so never a member's id.
    pub fn background() -> Self {
        UserId(BACKGROUND_USER.into())
    }
}
/// Who background work acts as, in `createdBy` fields and the like.
pub const BACKGROUND_USER: &str = "agent";

id_type!(
    /// One sign-in of a user: its access tokens name it, its refresh tokens rotate within it.
    SessionId
);
id_type!(
    /// A lead of an org's CRM.
    LeadId
);
id_type!(
    /// A task the executor runs.
    TaskId
);

id_type!(
    /// A social post of an org, from draft to published.
    PostId
);

id_type!(
    /// A version of an org's AI marketing strategy.
    StrategyId
);

id_type!(
    /// A social account an org publishes to.
    AccountId
);

id_type!(
    /// A client of the org (client success).
    ClientId
);

id_type!(
    /// An NPS survey of an org.
    SurveyId
);

id_type!(
    /// An alert about a client's health.
    AlertId
);
id_type!(
    /// A content item: a script, article or transcript planned once and repurposed per platform.
    ContentId
);
id_type!(
    /// A sponsor (a brand a creator works with).
    SponsorId
);
id_type!(
    /// A deal with a sponsor.
    DealId
);
id_type!(
    /// A deal's deliverable.
    DeliverableId
);

/// Ids are ULIDs: 26 characters of Crockford's base 32.
/// What `check` accepts, as a pattern for the contract: 26 characters of Crockford's
/// base 32 (any case), the first at most 7 so that it fits 128 bits.
pub const ULID_PATTERN: &str = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$";

pub fn check(id: &str, what: &str) -> Result<(), InvalidId> {
    if id.len() == 26 && ulid::Ulid::from_string(id).is_ok() {
        Ok(())
    } else {
        Err(InvalidId {
            what: what.to_string(),
            stored: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_ulids() {
        assert!(check(&crate::model::new_id(), "id").is_ok());
        assert!(check("../../etc", "id").is_err());
        assert!(check("01HZZZZZZZZZZZZZZZZZZZZZZZ#", "id").is_err());
    }

    #[test]
    fn ids_from_outside_are_checked_once_and_read_as_their_text() {
        let org = OrgId::generate();
        let parsed = OrgId::parse(org.as_str(), "the organisation id").unwrap();
        assert_eq!(parsed, org);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), serde_json::json!(org.as_str()));
        for bad in ["../../etc", "01HZZZZZZZZZZZZZZZZZZZZZZZ#", ""] {
            let err = crate::error::AppError::from(LeadId::parse(bad, "the lead id").unwrap_err());
            assert_eq!(err.code(), "INVALID_ID");
            assert_eq!(err.public_message(), "the lead id is not a valid id");
        }
    }
}
