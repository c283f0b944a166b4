//! The Table port: a small, DynamoDB-shaped key-value store that both the DynamoDB and the
//! embedded SQLite adapters honour exactly (see `contract` for the suite both run).
//!
//! Items are JSON objects. Every item has a string `PK` and `SK`; the optional string pairs
//! named by [`Index`] put it into a sparse secondary index; a numeric `ttl` (epoch seconds)
//! makes it expire: an expired item reads as absent everywhere, conditions included.

use async_trait::async_trait;
use serde_json::{Map, Value};

pub type Item = Map<String, Value>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const VERSION: &str = "version";
pub const TTL: &str = "ttl";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// The sparse secondary indexes. An item is in an index when it has both attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// Items with a time to run, partitioned by `DUE#<minute>#<shard>`.
    Due,
    /// Organisations by plan.
    Plan,
    /// Memberships by user.
    User,
}

impl Index {
    pub const ALL: [Index; 3] = [Index::Due, Index::Plan, Index::User];

    pub fn name(self) -> &'static str {
        match self {
            Index::Due => "due-index",
            Index::Plan => "plan-index",
            Index::User => "user-index",
        }
    }

    /// (partition attribute, sort attribute)
    pub fn attributes(self) -> (&'static str, &'static str) {
        match self {
            Index::Due => ("duePK", "dueSK"),
            Index::Plan => ("planPK", "planSK"),
            Index::User => ("userPK", "userSK"),
        }
    }
}

/// A condition on the item currently stored under a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No live item under the key.
    NotExists,
    /// A live item under the key.
    Exists,
    /// A live item whose `version` equals this.
    VersionEquals(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    All,
    Equals(String),
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
}

#[derive(Debug, Clone)]
pub struct Query {
    pub index: Option<Index>,
    pub pk: String,
    pub sk: SortKey,
    pub limit: usize,
    /// An opaque cursor from a previous page.
    pub cursor: Option<String>,
    pub ascending: bool,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Query {
            index: None,
            pk: pk.into(),
            sk: SortKey::All,
            limit: 100,
            cursor: None,
            ascending: true,
        }
    }
    pub fn on(mut self, index: Index) -> Self {
        self.index = Some(index);
        self
    }
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sk = SortKey::BeginsWith(prefix.into());
        self
    }
    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sk = SortKey::Between(from.into(), to.into());
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn descending(mut self) -> Self {
        self.ascending = false;
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub cursor: Option<String>,
}

/// An atomic change to a numeric attribute, refused when it would leave `[min, max]`.
/// `expires_at` sets the item's `ttl` when it has none (for counters of a time window).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Counter {
    pub attr: String,
    pub delta: i64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub expires_at: Option<i64>,
}

impl Counter {
    pub fn new(attr: impl Into<String>, delta: i64) -> Self {
        Counter {
            attr: attr.into(),
            delta,
            ..Counter::default()
        }
    }
    pub fn at_most(mut self, max: i64) -> Self {
        self.max = Some(max);
        self
    }
    pub fn at_least(mut self, min: i64) -> Self {
        self.min = Some(min);
        self
    }
    pub fn expiring(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }
}

#[derive(Debug, Clone)]
pub enum TxOp {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Creates the item (with just its key and the counter) when absent.
    Add {
        key: Key,
        counter: Counter,
    },
    /// Several counters of one item changed together, all or none (one step of a
    /// transaction names an item once).
    AddAll {
        key: Key,
        counters: Vec<Counter>,
    },
    Check {
        key: Key,
        condition: Condition,
    },
}

pub const MAX_TRANSACTION_OPS: usize = 100;
pub const MAX_BATCH_GET: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A condition failed; in a transaction, `op` is the index of the failing operation.
    #[error("condition failed")]
    ConditionFailed { op: Option<usize> },
    /// A page cursor this table did not give for this query (tampered, or another query's).
    #[error("the cursor is not one this query gave")]
    BadCursor,
    #[error("invalid request to the table: {0}")]
    Invalid(String),
    #[error("table unavailable: {0}")]
    Unavailable(String),
}

pub type TableResult<T> = Result<T, TableError>;

#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> TableResult<Option<Item>>;
    /// Reads several keys in one call; the answer is in the order of `keys`.
    async fn get_many(&self, keys: &[Key]) -> TableResult<Vec<Option<Item>>>;
    async fn put(&self, item: Item, condition: Option<Condition>) -> TableResult<()>;
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> TableResult<()>;
    /// Applies the counter and answers its new value.
    async fn add(&self, key: &Key, counter: Counter) -> TableResult<i64>;
    async fn query(&self, query: Query) -> TableResult<Page>;
    /// All or nothing; at most one operation per key.
    async fn transact(&self, ops: Vec<TxOp>) -> TableResult<()>;
}

pub fn item_key(item: &Item) -> TableResult<Key> {
    match (item.get(PK).and_then(Value::as_str), item.get(SK).and_then(Value::as_str)) {
        (Some(pk), Some(sk)) if !pk.is_empty() && !sk.is_empty() => Ok(Key::new(pk, sk)),
        _ => Err(TableError::Invalid("an item needs string PK and SK".into())),
    }
}

pub fn item_version(item: &Item) -> u64 {
    item.get(VERSION).and_then(Value::as_u64).unwrap_or(0)
}

pub fn is_expired(item: &Item, now_epoch: i64) -> bool {
    item.get(TTL).and_then(Value::as_i64).is_some_and(|ttl| ttl <= now_epoch)
}

/// Every item a query selects, reading page after page (`query.limit` items a page).
pub async fn query_all(table: &dyn Table, mut query: Query) -> TableResult<Vec<Item>> {
    let mut items = Vec::new();
    loop {
        let page = table.query(query.clone()).await?;
        items.extend(page.items);
        match page.cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(items),
        }
    }
}

/// Deletes the keys unconditionally, one transaction per `MAX_TRANSACTION_OPS` of them.
pub async fn delete_all(table: &dyn Table, keys: Vec<Key>) -> TableResult<()> {
    let ops: Vec<TxOp> = keys.into_iter().map(|key| TxOp::Delete { key, condition: None }).collect();
    for chunk in ops.chunks(MAX_TRANSACTION_OPS) {
        table.transact(chunk.to_vec()).await?;
    }
    Ok(())
}

/// Checks that a transaction names each key once and fits the limit, as DynamoDB requires.
pub fn validate_transaction(ops: &[TxOp]) -> TableResult<Vec<Key>> {
    if ops.is_empty() || ops.len() > MAX_TRANSACTION_OPS {
        return Err(TableError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_OPS} operations"
        )));
    }
    let mut keys = Vec::with_capacity(ops.len());
    for op in ops {
        let key = match op {
            TxOp::Put { item, .. } => item_key(item)?,
            TxOp::Delete { key, .. } | TxOp::Add { key, .. } | TxOp::AddAll { key, .. } | TxOp::Check { key, .. } => key.clone(),
        };
        if keys.contains(&key) {
            return Err(TableError::Invalid("a transaction names a key twice".into()));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The item under `key` after `counters` (created with just its key when absent; a counter
/// with `expires_at` sets a `ttl` it lacks), and the last counter's new value; `None` when
/// a counter would leave its bounds. The embedded adapters apply counters with this.
pub fn counted(current: Option<&Item>, key: &Key, counters: &[Counter]) -> TableResult<Option<(Item, i64)>> {
    let mut item = current.cloned().unwrap_or_else(|| {
        let mut fresh = Item::new();
        fresh.insert(PK.into(), key.pk.clone().into());
        fresh.insert(SK.into(), key.sk.clone().into());
        fresh
    });
    let mut last = 0;
    for counter in counters {
        let now_value = match item.get(&counter.attr) {
            None => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| TableError::Invalid(format!("{} is not a whole number", counter.attr)))?,
        };
        let Some(next) = apply_counter(now_value, counter) else {
            return Ok(None);
        };
        item.insert(counter.attr.clone(), next.into());
        if let Some(at) = counter.expires_at {
            item.entry(TTL).or_insert(at.into());
        }
        last = next;
    }
    Ok(Some((item, last)))
}

/// Checks a counter change against a current value, answering the new value.
pub fn apply_counter(current: i64, counter: &Counter) -> Option<i64> {
    let next = current.checked_add(counter.delta)?;
    if counter.max.is_some_and(|max| next > max) || counter.min.is_some_and(|min| next < min) {
        return None;
    }
    Some(next)
}
