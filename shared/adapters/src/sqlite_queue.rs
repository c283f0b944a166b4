//! The JobQueue port in the embedded SQLite file, for `local`: messages survive a restart,
//! come back after a visibility timeout unless acknowledged, and move to the dead letters
//! after the queue's maximum receives, as SQS does with a redrive policy.

use async_trait::async_trait;
use chief::clock::Clock;
use chief::ports::queue::{JobQueue, MAX_BATCH, Message, QueueError, QueueName};
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
  id TEXT PRIMARY KEY, queue TEXT NOT NULL, body TEXT NOT NULL, sent_at INTEGER NOT NULL,
  visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT,
  dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue_messages (queue, dead, visible_at, sent_at);
";

pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    visibility: Duration,
    max_receives: u32,
}

fn db_err(e: rusqlite::Error) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

impl SqliteQueue {
    /// `max_receives` matches the `maxReceiveCount` of the cloud queues in `template.yaml`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>, visibility: Duration, max_receives: u32) -> Result<Self, QueueError> {
        let conn = Connection::open(path).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(SqliteQueue {
            conn: Arc::new(Mutex::new(conn)),
            clock,
            visibility,
            max_receives: max_receives.max(1),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, i64) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let conn = self.conn.clone();
        let now = self.clock.now().timestamp_millis();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| QueueError::Unavailable("queue lock poisoned".into()))?;
            work(&mut conn, now)
        })
        .await
        .map_err(|e| QueueError::Unavailable(e.to_string()))?
    }

    /// Acknowledges (deletes) or releases (shows again now) the message of a receipt; a
    /// receipt superseded by a later receive does nothing, as in SQS.
    async fn settle(&self, queue: QueueName, receipt: &str, acknowledge: bool) -> Result<(), QueueError> {
        let receipt = receipt.to_string();
        self.run(move |conn, now| {
            let changed = if acknowledge {
                conn.execute(
                    "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2",
                    params![queue.as_str(), receipt],
                )
            } else {
                conn.execute(
                    "UPDATE queue_messages SET visible_at = ?3, receipt = NULL WHERE queue = ?1 AND receipt = ?2 AND dead = 0",
                    params![queue.as_str(), receipt, now],
                )
            };
            changed.map(|_| ()).map_err(db_err)
        })
        .await
    }
}

#[async_trait]
impl JobQueue for SqliteQueue {
    async fn send(&self, queue: QueueName, bodies: &[String]) -> Result<usize, QueueError> {
        let bodies = bodies.to_vec();
        self.run(move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
            for body in &bodies {
                tx.execute(
                    "INSERT INTO queue_messages (id, queue, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![ulid::Ulid::new().to_string(), queue.as_str(), body, now],
                )
                .map_err(db_err)?;
            }
            tx.commit().map_err(db_err)?;
            Ok(bodies.len().div_ceil(MAX_BATCH))
        })
        .await
    }

    async fn receive(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        let (hide_ms, max_receives) = (self.visibility.as_millis() as i64, self.max_receives);
        self.run(move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
            let mut received = Vec::new();
            {
                let mut select = tx
                    .prepare(
                        "SELECT id, body, receive_count FROM queue_messages
                         WHERE queue = ?1 AND dead = 0 AND visible_at <= ?2 ORDER BY sent_at LIMIT ?3",
                    )
                    .map_err(db_err)?;
                let rows = select
                    .query_map(params![queue.as_str(), now, max.clamp(1, MAX_BATCH) as i64], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, u32>(2)?))
                    })
                    .map_err(db_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db_err)?;
                for (id, body, count) in rows {
                    if count >= max_receives {
                        // Received as often as allowed and still not done: a dead letter.
                        tx.execute("UPDATE queue_messages SET dead = 1, receipt = NULL WHERE id = ?1", params![id])
                            .map_err(db_err)?;
                        continue;
                    }
                    let receipt = ulid::Ulid::new().to_string();
                    tx.execute(
                        "UPDATE queue_messages SET receive_count = receive_count + 1, visible_at = ?2, receipt = ?3 WHERE id = ?1",
                        params![id, now + hide_ms, receipt],
                    )
                    .map_err(db_err)?;
                    received.push(Message {
                        id,
                        receipt,
                        body,
                        receive_count: count + 1,
                    });
                }
            }
            tx.commit().map_err(db_err)?;
            Ok(received)
        })
        .await
    }

    async fn ack(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.settle(queue, receipt, true).await
    }

    async fn release(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.settle(queue, receipt, false).await
    }

    async fn dead_letters(&self, queue: QueueName, max: usize) -> Result<Vec<Message>, QueueError> {
        self.run(move |conn, _| {
            let mut select = conn
                .prepare("SELECT id, body, receive_count FROM queue_messages WHERE queue = ?1 AND dead = 1 ORDER BY sent_at LIMIT ?2")
                .map_err(db_err)?;
            select
                .query_map(params![queue.as_str(), max as i64], |row| {
                    Ok(Message {
                        id: row.get(0)?,
                        receipt: String::new(),
                        body: row.get(1)?,
                        receive_count: row.get(2)?,
                    })
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)
        })
        .await
    }
}
