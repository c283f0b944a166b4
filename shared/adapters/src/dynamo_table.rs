//! The Table port on DynamoDB. Reads are strongly consistent, so that a write is visible to
//! the next read exactly as on the embedded store; expired items (TTL deletion lags by up to
//! two days) are hidden by a filter or a check here and by conditions in every write.

use crate::aws::{AwsConfig, LazyClient};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use chief::clock::Clock;
use chief::ports::cursor;
use chief::ports::table::*;
use std::collections::HashMap;
use std::sync::Arc;

pub struct DynamoTable {
    client: LazyClient<Client>,
    table: String,
    clock: Arc<dyn Clock>,
}

type AttrMap = HashMap<String, AttributeValue>;

/// Placeholders for one expression: `#n0`, `:v0` …, so names never clash with reserved words.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: AttrMap,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| a.as_str() == attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }
    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
    fn values(&self) -> Option<AttrMap> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    fn live(&mut self, now: i64) -> String {
        let ttl = self.name(TTL);
        let now = self.value(number(now));
        format!("(attribute_not_exists({ttl}) OR {ttl} > {now})")
    }

    fn condition(&mut self, condition: &Condition, now: i64) -> String {
        match condition {
            Condition::NotExists => {
                let pk = self.name(PK);
                let ttl = self.name(TTL);
                let now = self.value(number(now));
                format!("(attribute_not_exists({pk}) OR {ttl} <= {now})")
            }
            Condition::Exists => {
                let pk = self.name(PK);
                format!("attribute_exists({pk}) AND {}", self.live(now))
            }
            Condition::VersionEquals(v) => {
                let version = self.name(VERSION);
                let v = self.value(number(*v as i64));
                format!("{version} = {v} AND {}", self.live(now))
            }
        }
    }

    /// `SET counter = counter + delta` (from zero when absent) with its bounds as a condition.
    fn counter(&mut self, counter: &Counter) -> (String, String) {
        let attr = self.name(&counter.attr);
        let zero = self.value(number(0));
        let delta = self.value(number(counter.delta));
        let mut update = format!("SET {attr} = if_not_exists({attr}, {zero}) + {delta}");
        if let Some(at) = counter.expires_at {
            let (ttl, at) = (self.name(TTL), self.value(number(at)));
            update.push_str(&format!(", {ttl} = if_not_exists({ttl}, {at})"));
        }
        let mut bounds = Vec::new();
        if let Some(max) = counter.max {
            bounds.push(format!("{attr} <= {}", self.value(number(max - counter.delta))));
        }
        if let Some(min) = counter.min {
            bounds.push(format!("{attr} >= {}", self.value(number(min - counter.delta))));
        }
        let present = if bounds.is_empty() {
            format!("attribute_exists({attr})")
        } else {
            bounds.join(" AND ")
        };
        let condition = if apply_counter(0, counter).is_some() {
            format!("attribute_not_exists({attr}) OR ({present})")
        } else {
            format!("attribute_exists({attr}) AND ({present})")
        };
        (update, condition)
    }
}

/// How often a transaction cancelled by a conflicting one is tried again.
const CONFLICT_RETRIES: u32 = 6;

/// 10 ms doubling with each attempt, plus up to as much again at random, so that the
/// transactions that conflicted do not meet again.
fn conflict_pause(attempt: u32) -> std::time::Duration {
    let base = 10u64 << attempt.min(6);
    std::time::Duration::from_millis(base + rand::random_range(0..=base))
}

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn key_map(key: &Key) -> AttrMap {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(key.pk.clone())),
        (SK.to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

fn to_attrs(item: &Item) -> TableResult<AttrMap> {
    serde_dynamo::to_item(item).map_err(|e| TableError::Invalid(e.to_string()))
}

fn from_attrs(attrs: AttrMap) -> TableResult<Item> {
    serde_dynamo::from_item(attrs).map_err(|e| TableError::Unavailable(format!("unreadable item: {e}")))
}

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R: std::fmt::Debug + Send + Sync + 'static>(
    err: SdkError<E, R>,
) -> TableError {
    match err.code() {
        Some("ConditionalCheckFailedException") => TableError::ConditionFailed { op: None },
        Some("ValidationException") => TableError::Invalid(err.message().unwrap_or("validation").to_string()),
        _ => TableError::Unavailable(format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&err))),
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> TableError {
    TableError::Invalid(e.to_string())
}

impl DynamoTable {
    pub fn new(aws: Arc<AwsConfig>, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        DynamoTable {
            client: LazyClient::new(aws, Client::new),
            table: table.into(),
            clock,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    fn alive(&self, item: Item) -> Option<Item> {
        (!is_expired(&item, self.now())).then_some(item)
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        let out = self
            .client
            .get()
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        match out.item {
            Some(attrs) => Ok(self.alive(from_attrs(attrs)?)),
            None => Ok(None),
        }
    }

    async fn get_many(&self, keys: &[Key]) -> TableResult<Vec<Option<Item>>> {
        if keys.len() > MAX_BATCH_GET {
            return Err(TableError::Invalid(format!("at most {MAX_BATCH_GET} keys a batch")));
        }
        let mut unique: Vec<Key> = keys.to_vec();
        unique.sort();
        unique.dedup();
        let mut found: HashMap<Key, Item> = HashMap::new();
        let mut pending: Vec<AttrMap> = unique.iter().map(key_map).collect();
        // Unprocessed keys come back under throttling: ask again, a bounded number of times.
        for attempt in 0..8 {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(build_error)?;
            let out = self
                .client
                .get()
                .await
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(sdk_error)?;
            for attrs in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                let item = from_attrs(attrs)?;
                found.insert(item_key(&item)?, item);
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if !pending.is_empty() {
            return Err(TableError::Unavailable("batch read throttled".into()));
        }
        Ok(keys
            .iter()
            .map(|key| found.get(key).cloned().and_then(|item| self.alive(item)))
            .collect())
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> TableResult<()> {
        let mut expr = Expr::default();
        let condition = condition.map(|c| expr.condition(&c, self.now()));
        self.client
            .get()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(&item)?))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> TableResult<()> {
        let mut expr = Expr::default();
        let condition = condition.map(|c| expr.condition(&c, self.now()));
        self.client
            .get()
            .await
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn add(&self, key: &Key, counter: Counter) -> TableResult<i64> {
        let mut expr = Expr::default();
        let (update, condition) = expr.counter(&counter);
        let out = self
            .client
            .get()
            .await
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_error)?;
        out.attributes
            .and_then(|a| a.get(&counter.attr).cloned())
            .and_then(|v| v.as_n().ok().and_then(|n| n.parse().ok()))
            .ok_or_else(|| TableError::Unavailable("counter not returned".into()))
    }

    async fn query(&self, query: Query) -> TableResult<Page> {
        let mut expr = Expr::default();
        let (pk_attr, sk_attr) = query.index.map(Index::attributes).unwrap_or((PK, SK));
        let pk = expr.name(pk_attr);
        let pk_value = expr.value(AttributeValue::S(query.pk.clone()));
        let mut key_condition = format!("{pk} = {pk_value}");
        match &query.sk {
            SortKey::All => {}
            SortKey::Equals(v) => {
                let (sk, v) = (expr.name(sk_attr), expr.value(AttributeValue::S(v.clone())));
                key_condition.push_str(&format!(" AND {sk} = {v}"));
            }
            SortKey::BeginsWith(p) => {
                let (sk, p) = (expr.name(sk_attr), expr.value(AttributeValue::S(p.clone())));
                key_condition.push_str(&format!(" AND begins_with({sk}, {p})"));
            }
            SortKey::Between(from, to) => {
                let sk = expr.name(sk_attr);
                let (f, t) = (
                    expr.value(AttributeValue::S(from.clone())),
                    expr.value(AttributeValue::S(to.clone())),
                );
                key_condition.push_str(&format!(" AND {sk} BETWEEN {f} AND {t}"));
            }
        }
        let filter = expr.live(self.now());
        let start = match &query.cursor {
            Some(c) => Some(
                cursor::decode_for(c, &query)?
                    .into_iter()
                    .map(|(k, v)| (k, AttributeValue::S(v.as_str().unwrap_or_default().to_string())))
                    .collect::<AttrMap>(),
            ),
            None => None,
        };
        // One more than asked, so that a full last page carries no cursor (as on SQLite).
        let limit = i32::try_from(query.limit + 1).map_err(|_| TableError::Invalid("limit too large".into()))?;
        let out = self
            .client
            .get()
            .await
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(|i| i.name().to_string()))
            .key_condition_expression(key_condition)
            .filter_expression(filter)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .set_exclusive_start_key(start)
            .scan_index_forward(query.ascending)
            .set_consistent_read(query.index.is_none().then_some(true))
            .limit(limit)
            .send()
            .await
            .map_err(sdk_error)?;
        let mut items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_attrs)
            .collect::<TableResult<Vec<_>>>()?;
        let cursor = if items.len() > query.limit {
            items.truncate(query.limit);
            items.last().map(|last| cursor::encode(last, query.index))
        } else {
            // Expired items filtered out of a full read leave a short page with more to come.
            out.last_evaluated_key.map(|lek| {
                let key: Item = lek
                    .into_iter()
                    .filter_map(|(k, v)| v.as_s().ok().map(|s| (k, s.clone().into())))
                    .collect();
                cursor::encode(&key, query.index)
            })
        };
        Ok(Page { items, cursor })
    }

    async fn transact(&self, ops: Vec<TxOp>) -> TableResult<()> {
        validate_transaction(&ops)?;
        let now = self.now();
        let mut items = Vec::with_capacity(ops.len());
        for op in &ops {
            let mut expr = Expr::default();
            let write = match op {
                TxOp::Put { item, condition } => {
                    let condition = condition.as_ref().map(|c| expr.condition(c, now));
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_attrs(item)?))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().put(put).build()
                }
                TxOp::Delete { key, condition } => {
                    let condition = condition.as_ref().map(|c| expr.condition(c, now));
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().delete(delete).build()
                }
                TxOp::Add { key, counter } => {
                    let (update, condition) = expr.counter(counter);
                    let update = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .update_expression(update)
                        .condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().update(update).build()
                }
                TxOp::AddAll { key, counters } => {
                    let (mut sets, mut conditions) = (Vec::new(), Vec::new());
                    for counter in counters {
                        let (update, condition) = expr.counter(counter);
                        sets.push(update.trim_start_matches("SET ").to_string());
                        conditions.push(format!("({condition})"));
                    }
                    let update = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .update_expression(format!("SET {}", sets.join(", ")))
                        .condition_expression(conditions.join(" AND "))
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().update(update).build()
                }
                TxOp::Check { key, condition } => {
                    let condition = expr.condition(condition, now);
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
            };
            items.push(write);
        }
        // Transactions that touch one item at once (an org's usage counter) cancel each other
        // with `TransactionConflict`; none of them was applied, so each is tried again after a
        // short, jittered, growing pause, a bounded number of times.
        let mut attempt = 0;
        loop {
            let sent = self
                .client
                .get()
                .await
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match sent {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            if let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                cancelled,
            )) = err.as_service_error()
            {
                let reasons = cancelled.cancellation_reasons();
                if let Some(op) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
                    return Err(TableError::ConditionFailed { op: Some(op) });
                }
                if attempt < CONFLICT_RETRIES && reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                    attempt += 1;
                    tokio::time::sleep(conflict_pause(attempt)).await;
                    continue;
                }
            }
            return Err(sdk_error(err));
        }
    }
}
