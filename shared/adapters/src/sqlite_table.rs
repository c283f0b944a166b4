//! The Table port on an embedded SQLite file (WAL, synchronous=FULL: a committed write
//! survives kill -9). One connection behind a mutex: SQLite serialises writers anyway, and
//! every condition is checked inside the same `BEGIN IMMEDIATE` transaction as its write.

use async_trait::async_trait;
use chief::clock::Clock;
use chief::ports::cursor;
use chief::ports::table::*;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct SqliteTable {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
  pk TEXT NOT NULL, sk TEXT NOT NULL, body TEXT NOT NULL, ttl INTEGER,
  due_pk TEXT, due_sk TEXT, plan_pk TEXT, plan_sk TEXT, user_pk TEXT, user_sk TEXT,
  PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS due_index ON items (due_pk, due_sk, pk, sk) WHERE due_pk IS NOT NULL AND due_sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS plan_index ON items (plan_pk, plan_sk, pk, sk) WHERE plan_pk IS NOT NULL AND plan_sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS user_index ON items (user_pk, user_sk, pk, sk) WHERE user_pk IS NOT NULL AND user_sk IS NOT NULL;
";

fn columns(index: Index) -> (&'static str, &'static str) {
    match index {
        Index::Due => ("due_pk", "due_sk"),
        Index::Plan => ("plan_pk", "plan_sk"),
        Index::User => ("user_pk", "user_sk"),
    }
}

fn db_err(e: rusqlite::Error) -> TableError {
    TableError::Unavailable(e.to_string())
}

impl SqliteTable {
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> TableResult<Self> {
        let conn = Connection::open(path).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(SqliteTable {
            conn: Arc::new(Mutex::new(conn)),
            clock,
        })
    }

    /// A single write: a transaction of one, whose failed condition names no operation.
    async fn write_one(&self, op: TxOp) -> TableResult<()> {
        self.run(move |conn, now| {
            let tx = begin(conn)?;
            if !apply(&tx, &op, now)? {
                return Err(TableError::ConditionFailed { op: None });
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Connection, i64) -> TableResult<T> + Send + 'static) -> TableResult<T> {
        let conn = self.conn.clone();
        let now = self.clock.now().timestamp();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| TableError::Unavailable("store lock poisoned".into()))?;
            work(&mut conn, now)
        })
        .await
        .map_err(|e| TableError::Unavailable(e.to_string()))?
    }
}

fn read(conn: &Connection, key: &Key, now: i64) -> TableResult<Option<Item>> {
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM items WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)",
            params![key.pk, key.sk, now],
            |row| row.get(0),
        )
        .optional()
        .map_err(db_err)?;
    body.map(|b| parse(&b)).transpose()
}

fn parse(body: &str) -> TableResult<Item> {
    serde_json::from_str(body).map_err(|e| TableError::Unavailable(format!("corrupt item: {e}")))
}

fn check(current: Option<&Item>, condition: &Condition) -> bool {
    match condition {
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::VersionEquals(v) => current.is_some_and(|item| item_version(item) == *v),
    }
}

fn index_value(item: &Item, attr: &str) -> Option<String> {
    item.get(attr).and_then(Value::as_str).map(str::to_string)
}

fn write(tx: &Transaction, item: &Item) -> TableResult<()> {
    let key = item_key(item)?;
    let ttl = item.get(TTL).and_then(Value::as_i64);
    let [due, plan, user] = Index::ALL.map(|index| {
        let (p, s) = index.attributes();
        (index_value(item, p), index_value(item, s))
    });
    tx.execute(
        "INSERT OR REPLACE INTO items (pk, sk, body, ttl, due_pk, due_sk, plan_pk, plan_sk, user_pk, user_sk)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            key.pk,
            key.sk,
            Value::Object(item.clone()).to_string(),
            ttl,
            due.0,
            due.1,
            plan.0,
            plan.1,
            user.0,
            user.1
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

fn remove(tx: &Transaction, key: &Key) -> TableResult<()> {
    tx.execute("DELETE FROM items WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk])
        .map_err(db_err)?;
    Ok(())
}

fn add_in(tx: &Transaction, key: &Key, counters: &[Counter], now: i64) -> TableResult<Option<i64>> {
    let Some((item, next)) = counted(read(tx, key, now)?.as_ref(), key, counters)? else {
        return Ok(None);
    };
    write(tx, &item)?;
    Ok(Some(next))
}

fn begin(conn: &mut Connection) -> TableResult<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        let key = key.clone();
        self.run(move |conn, now| read(conn, &key, now)).await
    }

    async fn get_many(&self, keys: &[Key]) -> TableResult<Vec<Option<Item>>> {
        if keys.len() > MAX_BATCH_GET {
            return Err(TableError::Invalid(format!("at most {MAX_BATCH_GET} keys a batch")));
        }
        let keys = keys.to_vec();
        self.run(move |conn, now| keys.iter().map(|key| read(conn, key, now)).collect())
            .await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> TableResult<()> {
        self.write_one(TxOp::Put { item, condition }).await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> TableResult<()> {
        self.write_one(TxOp::Delete {
            key: key.clone(),
            condition,
        })
        .await
    }

    async fn add(&self, key: &Key, counter: Counter) -> TableResult<i64> {
        let key = key.clone();
        self.run(move |conn, now| {
            let tx = begin(conn)?;
            let next = add_in(&tx, &key, std::slice::from_ref(&counter), now)?.ok_or(TableError::ConditionFailed { op: None })?;
            tx.commit().map_err(db_err)?;
            Ok(next)
        })
        .await
    }

    async fn query(&self, query: Query) -> TableResult<Page> {
        self.run(move |conn, now| run_query(conn, &query, now)).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> TableResult<()> {
        validate_transaction(&ops)?;
        self.run(move |conn, now| {
            let tx = begin(conn)?;
            for (i, op) in ops.iter().enumerate() {
                if !apply(&tx, op, now)? {
                    return Err(TableError::ConditionFailed { op: Some(i) });
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }
}

/// Applies one write inside a transaction; `false` when its condition does not hold.
fn apply(tx: &Transaction, op: &TxOp, now: i64) -> TableResult<bool> {
    let holds = |key: &Key, condition: Option<&Condition>| -> TableResult<bool> {
        match condition {
            Some(c) => Ok(check(read(tx, key, now)?.as_ref(), c)),
            None => Ok(true),
        }
    };
    match op {
        TxOp::Put { item, condition } => {
            let ok = holds(&item_key(item)?, condition.as_ref())?;
            if ok {
                write(tx, item)?;
            }
            Ok(ok)
        }
        TxOp::Delete { key, condition } => {
            let ok = holds(key, condition.as_ref())?;
            if ok {
                remove(tx, key)?;
            }
            Ok(ok)
        }
        TxOp::Add { key, counter } => Ok(add_in(tx, key, std::slice::from_ref(counter), now)?.is_some()),
        TxOp::AddAll { key, counters } => Ok(add_in(tx, key, counters, now)?.is_some()),
        TxOp::Check { key, condition } => holds(key, Some(condition)),
    }
}

fn run_query(conn: &Connection, query: &Query, now: i64) -> TableResult<Page> {
    let (pk_col, sk_col) = match query.index {
        Some(index) => columns(index),
        None => ("pk", "sk"),
    };
    let mut sql = format!("SELECT body FROM items WHERE {pk_col} = ?1 AND (ttl IS NULL OR ttl > ?2)");
    let mut args: Vec<String> = vec![query.pk.clone()];
    // Binds a value and answers its numbered placeholder (?1 is the partition, ?2 the time).
    let mut bind = |value: String| {
        args.push(value);
        format!("?{}", args.len() + 1)
    };
    match &query.sk {
        SortKey::All => sql.push_str(&format!(" AND {sk_col} IS NOT NULL")),
        SortKey::Equals(v) => sql.push_str(&format!(" AND {sk_col} = {}", bind(v.clone()))),
        SortKey::BeginsWith(prefix) => {
            let p = bind(prefix.clone());
            sql.push_str(&format!(" AND {sk_col} >= {p} AND substr({sk_col}, 1, length({p})) = {p}"));
        }
        SortKey::Between(from, to) => {
            let (f, t) = (bind(from.clone()), bind(to.clone()));
            sql.push_str(&format!(" AND {sk_col} >= {f} AND {sk_col} <= {t}"));
        }
    }
    let order = if query.ascending { "ASC" } else { "DESC" };
    let cmp = if query.ascending { ">" } else { "<" };
    if let Some(c) = &query.cursor {
        let last = cursor::decode_for(c, query)?;
        let after_sk = bind(cursor::string_attr(&last, SK)?.to_string());
        match query.index {
            None => sql.push_str(&format!(" AND sk {cmp} {after_sk}")),
            Some(index) => {
                let after_isk = bind(cursor::string_attr(&last, index.attributes().1)?.to_string());
                let after_pk = bind(cursor::string_attr(&last, PK)?.to_string());
                sql.push_str(&format!(" AND ({sk_col}, pk, sk) {cmp} ({after_isk}, {after_pk}, {after_sk})"));
            }
        }
    }
    match query.index {
        None => sql.push_str(&format!(" ORDER BY sk {order}")),
        Some(_) => sql.push_str(&format!(" ORDER BY {sk_col} {order}, pk {order}, sk {order}")),
    }
    sql.push_str(&format!(" LIMIT {}", query.limit + 1));

    let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
    let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&args[0], &now];
    bound.extend(args[1..].iter().map(|a| a as &dyn rusqlite::ToSql));
    let bodies = stmt
        .query_map(bound.as_slice(), |row| row.get::<_, String>(0))
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    let mut items = bodies.iter().map(|b| parse(b)).collect::<TableResult<Vec<_>>>()?;
    let cursor = if items.len() > query.limit {
        items.truncate(query.limit);
        items.last().map(|last| cursor::encode(last, query.index))
    } else {
        None
    };
    Ok(Page { items, cursor })
}
