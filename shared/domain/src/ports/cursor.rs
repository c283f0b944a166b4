//! Opaque page cursors: the key attributes of the last item a page returned. Both adapters
//! use this format, so a caller that stops mid-page can make the cursor after any item.

use crate::ports::table::{Index, Item, PK, Query, SK, SortKey, TableError, TableResult};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

pub fn encode(item: &Item, index: Option<Index>) -> String {
    let mut key = Map::new();
    let mut attrs = vec![PK, SK];
    if let Some(index) = index {
        let (ipk, isk) = index.attributes();
        attrs.extend([ipk, isk]);
    }
    for attr in attrs {
        if let Some(value) = item.get(attr) {
            key.insert(attr.to_string(), value.clone());
        }
    }
    URL_SAFE_NO_PAD.encode(Value::Object(key).to_string())
}

/// The key a cursor carries, checked against the query it is to continue: exactly the key
/// attributes of the table (and index), in the query's partition and within its sort-key
/// condition. DynamoDB refuses any other start key with a validation error, so a tampered or
/// foreign cursor is caught here, the same way on both adapters.
pub fn decode_for(cursor: &str, query: &Query) -> TableResult<Item> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| TableError::BadCursor)?;
    let key = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(key)) if key.values().all(Value::is_string) => key,
        _ => return Err(TableError::BadCursor),
    };
    let mut attrs = vec![PK, SK];
    let (partition, sort) = match query.index {
        Some(index) => {
            let (ipk, isk) = index.attributes();
            attrs.extend([ipk, isk]);
            (ipk, isk)
        }
        None => (PK, SK),
    };
    let sort_value = string_attr(&key, sort)?;
    let within = match &query.sk {
        SortKey::All => true,
        SortKey::Equals(v) => sort_value == v,
        SortKey::BeginsWith(prefix) => sort_value.starts_with(prefix.as_str()),
        SortKey::Between(from, to) => (from.as_str()..=to.as_str()).contains(&sort_value),
    };
    if key.len() != attrs.len() || attrs.iter().any(|a| !key.contains_key(*a)) || string_attr(&key, partition)? != query.pk || !within {
        return Err(TableError::BadCursor);
    }
    Ok(key)
}

pub fn string_attr<'a>(key: &'a Item, attr: &str) -> TableResult<&'a str> {
    key.get(attr).and_then(Value::as_str).ok_or(TableError::BadCursor)
}
