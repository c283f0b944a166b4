//! Opaque page cursors: the key attributes of the last item a page returned. Both adapters
//! use this format, so a caller that stops mid-page can make the cursor after any item.

use crate::ports::table::{Index, Item, PK, SK, TableError, TableResult};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

/// The message of the `TableError::Invalid` a cursor not made here gets.
pub const BAD_CURSOR: &str = "bad cursor";

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

pub fn decode(cursor: &str) -> TableResult<Item> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| TableError::Invalid(BAD_CURSOR.into()))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(key)) if key.values().all(Value::is_string) => Ok(key),
        _ => Err(TableError::Invalid(BAD_CURSOR.into())),
    }
}

pub fn string_attr<'a>(key: &'a Item, attr: &str) -> TableResult<&'a str> {
    key.get(attr)
        .and_then(Value::as_str)
        .ok_or_else(|| TableError::Invalid(BAD_CURSOR.into()))
}
