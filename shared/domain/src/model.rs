//! Helpers every capability uses: items to and from models, ids, input checks.

use crate::error::{AppError, AppResult};
use crate::ports::table::{Condition, Item, PK, Query, SK, Table, TableError, TxOp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A model as an item under a key; `extra` adds index attributes and the like.
pub fn to_item<T: Serialize>(pk: &str, sk: &str, model: &T) -> AppResult<Item> {
    let Value::Object(mut item) = serde_json::to_value(model)? else {
        return Err(AppError::internal("a model must serialise to an object"));
    };
    item.insert(PK.into(), pk.into());
    item.insert(SK.into(), sk.into());
    Ok(item)
}

/// An item as a model; key and index attributes are ignored.
pub fn from_item<T: DeserializeOwned>(item: Item) -> AppResult<T> {
    serde_json::from_value(Value::Object(item)).map_err(|e| AppError::Internal {
        what: "a stored item could not be read".into(),
        cause: Some(e.into()),
    })
}

/// SHA-256 of some bytes, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The days a query asks for (`from`, `to`: `YYYY-MM-DD`, both inclusive): by default the
/// `default_days` before `to` (today by default); at most `longest_days` apart, else 400 with
/// `too_long`.
pub fn day_period(
    from: Option<&str>,
    to: Option<&str>,
    today: chrono::NaiveDate,
    default_days: i64,
    longest_days: i64,
    too_long: &str,
) -> AppResult<(chrono::NaiveDate, chrono::NaiveDate)> {
    let date = |name: &str, value: &str| {
        chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map_err(|_| AppError::validation(format!("{name} must be a date like 2026-11-27")))
    };
    let to = to.map(|v| date("to", v)).transpose()?.unwrap_or(today);
    let from = from
        .map(|v| date("from", v))
        .transpose()?
        .unwrap_or(to - chrono::Duration::days(default_days));
    if from > to {
        return Err(AppError::validation("from must be on or before to"));
    }
    if (to - from).num_days() > longest_days {
        return Err(AppError::validation(too_long));
    }
    Ok((from, to))
}

/// 256 random bits in base64url: a secret a link or a client holds, stored only as a hash.
pub fn secret_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`) in a patch.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub fn text(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(AppError::validation(format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > max_chars {
        return Err(AppError::validation(format!("{field} is longer than {max_chars} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(AppError::validation(format!("{field} holds control characters")));
    }
    Ok(trimmed.to_string())
}

/// A name that others see and that goes into mail (a person's, an org's): one line, so no
/// control character at all (a line break in a name would end up in a mail's subject).
pub fn name(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    let text = text(field, value, max_chars)?;
    if text.chars().any(char::is_control) {
        return Err(AppError::validation(format!("{field} holds control characters")));
    }
    Ok(text)
}

pub fn optional_text(field: &str, value: Option<&str>, max_chars: usize) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max_chars).map(Some),
    }
}

/// A plausible address: one `@`, a dotted domain, no spaces; lower-cased for comparison.
/// Tags a record may carry at most.
pub const MAX_TAGS: usize = 20;

/// Tags as stored: each at most 40 characters, lower case, each once; at most `MAX_TAGS`
/// (`what` names the record in the message).
pub fn tags(what: &str, tags: Vec<String>) -> AppResult<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(AppError::validation(format!("a {what} has at most {MAX_TAGS} tags")));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = text("tags", &tag, 40)?.to_lowercase();
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

pub fn email(field: &str, value: &str) -> AppResult<String> {
    let value = value.trim();
    let valid = value.len() <= 254
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@')
        })
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(value.to_lowercase())
    } else {
        Err(AppError::validation(format!("{field} is not a valid email address")))
    }
}

/// A query parameter naming one of an enum's values (`allowed` lists them for the error).
pub fn enum_param<T: DeserializeOwned>(name: &str, raw: Option<&str>, allowed: &str) -> AppResult<Option<T>> {
    raw.map(|v| serde_json::from_value(Value::from(v)).map_err(|_| AppError::validation(format!("{name} must be one of {allowed}"))))
        .transpose()
}

/// A page size from `?limit=`: default 50, at most 100.
pub fn page_limit(raw: Option<&str>) -> AppResult<usize> {
    match raw {
        None => Ok(50),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(AppError::validation("limit must be a whole number from 1 to 100")),
        },
    }
}

pub fn timestamp_param(field: &str, value: &str) -> AppResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| AppError::validation(format!("{field} must be an RFC 3339 time, like 2026-11-22T09:30:00Z")))
}

/// One page of the models stored under a sort-key prefix of a partition, newest first.
pub async fn newest_first<T: DeserializeOwned>(
    table: &dyn Table,
    pk: String,
    prefix: String,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<T>, Option<String>)> {
    let page = table
        .query(Query::partition(pk).prefix(prefix).descending().limit(limit).after(cursor))
        .await?;
    Ok((page.items.into_iter().map(from_item).collect::<AppResult<_>>()?, page.cursor))
}

/// Store reads one filtered page may make before it answers with what it found and a cursor.
const MAX_FILTER_READS: usize = 5;

/// A page of the models under a prefix, newest first, that `keep` accepts. Unfiltered, one
/// store read of `limit`; filtered, reads of 100 until the page is full or `MAX_FILTER_READS`
/// is reached (the cursor then continues the scan).
pub async fn newest_matching<T: DeserializeOwned>(
    table: &dyn Table,
    pk: String,
    prefix: &str,
    limit: usize,
    cursor_in: Option<String>,
    filtered: bool,
    keep: impl Fn(&T) -> bool,
) -> AppResult<(Vec<T>, Option<String>)> {
    let read_size = if filtered { 100 } else { limit };
    let mut kept = Vec::new();
    let mut cursor_at = cursor_in;
    for _ in 0..MAX_FILTER_READS {
        let page = table
            .query(
                Query::partition(pk.clone())
                    .prefix(prefix)
                    .descending()
                    .limit(read_size)
                    .after(cursor_at.clone()),
            )
            .await?;
        let more = page.cursor.is_some();
        let mut items = page.items.into_iter();
        for item in items.by_ref() {
            let last_key = crate::ports::cursor::encode(&item, None);
            let model: T = from_item(item)?;
            if keep(&model) {
                kept.push(model);
            }
            cursor_at = Some(last_key);
            if kept.len() == limit {
                break;
            }
        }
        if items.next().is_none() && !more {
            return Ok((kept, None));
        }
        if kept.len() == limit {
            return Ok((kept, cursor_at));
        }
    }
    Ok((kept, cursor_at))
}

/// Saves a versioned model (an org's settings) over the version read: absent when that was
/// 0, at that version otherwise; a change in between is 409 `VERSION_CONFLICT` naming `what`.
pub async fn put_versioned<T: Serialize>(table: &dyn Table, pk: &str, sk: &str, model: &T, read: u64, what: &str) -> AppResult<()> {
    put_versioned_with(table, pk, sk, model, read, what, None).await
}

/// As [`put_versioned`], in one transaction with `also` (its audit entry, say).
pub async fn put_versioned_with<T: Serialize>(
    table: &dyn Table,
    pk: &str,
    sk: &str,
    model: &T,
    read: u64,
    what: &str,
    also: Option<TxOp>,
) -> AppResult<()> {
    let condition = if read == 0 {
        Condition::NotExists
    } else {
        Condition::VersionEquals(read)
    };
    let item = to_item(pk, sk, model)?;
    let written = match also {
        None => table.put(item, Some(condition)).await,
        Some(also) => {
            let put = TxOp::Put {
                item,
                condition: Some(condition),
            };
            table.transact(vec![put, also]).await
        }
    };
    written.map_err(|e| match e {
        TableError::ConditionFailed { .. } => {
            AppError::conflict("VERSION_CONFLICT", format!("the {what} changed meanwhile: read it again"))
        }
        other => other.into(),
    })
}

/// The 409 for a change sent with a version other than the stored one.
/// A create's fields: no `version` (the server sets it), and every required field there
/// (`required`: each field's name and whether the body has it; the first missing is named).
pub fn creating(version: Option<u64>, required: &[(&str, bool)]) -> AppResult<()> {
    if version.is_some() {
        return Err(AppError::validation("version is set by the server on create"));
    }
    match required.iter().find(|(_, present)| !present) {
        Some((name, _)) => Err(AppError::validation(format!("{name} is required"))),
        None => Ok(()),
    }
}

/// An update's `version`: required, and the one stored now (409 `VERSION_CONFLICT` naming
/// it when not); answers it.
pub fn updating(version: Option<u64>, what: &str, current: u64) -> AppResult<u64> {
    let read = version.ok_or_else(|| AppError::validation("version is required: send the version you read"))?;
    if read != current {
        return Err(stale_version(what, current));
    }
    Ok(read)
}

pub fn stale_version(what: &str, current: u64) -> AppError {
    AppError::conflict(
        "VERSION_CONFLICT",
        format!("the {what} changed meanwhile (now at version {current}): read it again"),
    )
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct PageOf<T: Serialize> {
    pub items: Vec<T>,
    /// Where the next page starts (`?cursor=`); `null` on the last page.
    #[serde(rename = "nextCursor")]
    pub next_cursor: Option<String>,
}

/// The answer of a deletion.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Deleted {
    pub deleted: bool,
}

impl Deleted {
    pub fn yes() -> Deleted {
        Deleted { deleted: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(email("email", " Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "ada@", "@x.io", "ada@x", "a b@x.io", "ada@x.io.", "a@b@c.io"] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("name", "  Ada ", 10).unwrap(), "Ada");
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", &"x".repeat(11), 10).is_err());
    }
}
