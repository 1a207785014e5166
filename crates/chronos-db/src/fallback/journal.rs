//! The SQLite journal: queueing, claiming with a lease, completing, dead letters, and the
//! admin reads and edits. Every call runs on the blocking pool.

use crate::config::FALLBACK_OPS_TABLE as OPS;
use crate::error::{Error, Result};
use crate::model::{QueuedWrite, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A write to journal.
pub(crate) struct NewEntry {
    pub(crate) request_id: String,
    pub(crate) item_key: String,
    pub(crate) route: String,
    pub(crate) item_id: String,
    pub(crate) kind: String,
    pub(crate) op: String,
    /// Why it is queued: the backend's error (code, message), `None` when it is queued
    /// behind earlier writes of its item.
    pub(crate) cause: Option<(String, String)>,
}

/// A write a worker claimed: it holds its lease until it completes, reschedules or buries it.
pub(crate) struct Claimed {
    pub(crate) seq: i64,
    pub(crate) request_id: String,
    pub(crate) item_key: String,
    pub(crate) route: String,
    pub(crate) op: String,
    pub(crate) attempts: u32,
}

/// A queued write, as `chronos queue list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntry {
    /// Its place in the queue (ascending in queueing order).
    pub seq: i64,
    /// The request id it commits with.
    pub request_id: String,
    /// The route it writes to.
    pub route: serde_json::Value,
    /// The item.
    pub id: String,
    /// `create`, `update`, `delete`, `enrich` or `restore`.
    pub op: String,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// Replays tried so far.
    pub attempts: u32,
    /// The earliest time of its next replay.
    pub next_at: Timestamp,
    /// The worker replaying it now, if any.
    pub leased_by: Option<String>,
    /// The last error code (the backend's when it was queued).
    pub last_code: Option<String>,
    /// The last error message.
    pub last_message: Option<String>,
}

/// A write given up: `maxRetries` replays failed, or one failed permanently.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The request id it would have committed with (`chronos queue retry <it>`).
    pub request_id: String,
    /// The route it writes to.
    pub route: serde_json::Value,
    /// The item.
    pub id: String,
    /// `create`, `update`, `delete`, `enrich` or `restore`.
    pub op: String,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// Replays tried.
    pub attempts: u32,
    /// When it was given up.
    pub failed_at: Timestamp,
    /// The final error's code (`CONFLICT`, `BACKEND_UNAVAILABLE`, ...).
    pub code: String,
    /// The final error's message.
    pub message: String,
}

/// How full the queue is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    /// Writes waiting for a replay (leased ones included).
    pub pending: u64,
    /// Writes being replayed now (holding a lease).
    pub leased: u64,
    /// Dead letters.
    pub dead: u64,
    /// When the oldest waiting write was queued.
    pub oldest_queued_at: Option<Timestamp>,
    /// Waiting writes per operation.
    pub by_op: BTreeMap<String, u64>,
}

/// The journal of one queue directory. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    conn: Arc<Mutex<Connection>>,
    dead: Arc<str>,
    path: PathBuf,
    /// With encryption at rest: the keys queued writes are sealed with (the first seals).
    keys: Arc<Vec<(String, crate::crypto::Key)>>,
}

/// The prefix of a sealed write in the `op` column (base64 of the encrypted object format).
const SEALED: &str = "sealed:";

fn failed(e: impl std::fmt::Display) -> Error {
    Error::Queue(crate::redact::redact(&e.to_string()))
}

/// A request id several items' writes carry (callers' keys are per item).
fn ambiguous(n: i64) -> Error {
    Error::validation(format!(
        "{n} journaled writes of different items carry this request id (a caller used one key \
         for several items); `chronos queue list` and `queue dead` show them"
    ))
}

/// Milliseconds as microseconds, saturating.
fn micros(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1000)
}

fn route_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.into()))
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, with `dead` as the dead letters'
    /// table (already validated as a plain identifier). With `keys` (encryption at rest on),
    /// the writes' content is sealed with the first: the payloads of queued writes are not
    /// kept in plaintext either.
    pub(crate) fn open(
        dir: &Path,
        dead: &str,
        keys: Vec<(String, crate::crypto::Key)>,
    ) -> Result<Journal> {
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("queue.sqlite");
        let conn = Connection::open(&path).map_err(failed)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(failed)?;
        // Acknowledged means on disk: the WAL is synced at every commit.
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .map_err(failed)?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous=FULL;
             BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS {OPS} (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 request_id TEXT NOT NULL,
                 item_key TEXT NOT NULL, route TEXT NOT NULL, item_id TEXT NOT NULL,
                 kind TEXT NOT NULL, op TEXT NOT NULL, queued_at INTEGER NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
                 lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0,
                 last_code TEXT, last_message TEXT,
                 UNIQUE (item_key, request_id));
             CREATE INDEX IF NOT EXISTS {OPS}_item ON {OPS}(item_key, seq);
             CREATE INDEX IF NOT EXISTS {OPS}_request ON {OPS}(request_id);
             CREATE TABLE IF NOT EXISTS {dead} (
                 request_id TEXT NOT NULL,
                 item_key TEXT NOT NULL, route TEXT NOT NULL, item_id TEXT NOT NULL,
                 kind TEXT NOT NULL, op TEXT NOT NULL, queued_at INTEGER NOT NULL,
                 attempts INTEGER NOT NULL, failed_at INTEGER NOT NULL,
                 code TEXT NOT NULL, message TEXT NOT NULL,
                 PRIMARY KEY (item_key, request_id));
             CREATE INDEX IF NOT EXISTS {dead}_request ON {dead}(request_id);
             CREATE INDEX IF NOT EXISTS {dead}_failed ON {dead}(failed_at);
             COMMIT;"
        ))
        .map_err(failed)?;
        Ok(Journal {
            conn: Arc::new(Mutex::new(conn)),
            dead: dead.into(),
            path,
            keys: Arc::new(keys),
        })
    }

    /// A write's content as the journal stores it: sealed when there are keys, bound to its
    /// item and request id (a sealed write copied to another row does not open).
    fn seal(&self, item_key: &str, request_id: &str, op: &str) -> Result<String> {
        use base64::Engine;
        let Some((kid, key)) = self.keys.first() else {
            return Ok(op.to_string());
        };
        let sealed = crate::crypto::envelope::seal(
            key,
            kid,
            &format!("{item_key}\n{request_id}"),
            op.as_bytes(),
        )
        .map_err(Error::Encryption)?;
        Ok(format!(
            "{SEALED}{}",
            base64::engine::general_purpose::STANDARD.encode(sealed)
        ))
    }

    /// A write's content as stored, opened.
    pub(crate) fn open_op(&self, item_key: &str, request_id: &str, stored: &str) -> Result<String> {
        use base64::Engine;
        let Some(b64) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_string());
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| Error::Corrupt("a sealed queued write is not base64".into()))?;
        let kid = crate::crypto::envelope::key_id(&bytes).unwrap_or_default();
        let key = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key)
            .ok_or_else(|| {
                Error::Encryption(format!(
                    "a queued write is sealed with key '{}', which no configured master key derives",
                    crate::names::printable(kid)
                ))
            })?;
        let opened =
            crate::crypto::envelope::open(key, &format!("{item_key}\n{request_id}"), &bytes)
                .ok_or_else(|| Error::Encryption("a sealed queued write does not open".into()))?;
        String::from_utf8(opened).map_err(|_| Error::Corrupt("a queued write is not UTF-8".into()))
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        let dead = self.dead.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard, &dead)
        })
        .await
        .map_err(|e| failed(format!("journal task failed: {e}")))?
        .map_err(failed)
    }

    /// Whether `request_id` is queued (then what the caller was told), and whether any
    /// write of `item_key` is queued.
    pub(crate) async fn lookup(
        &self,
        request_id: &str,
        item_key: &str,
    ) -> Result<(Option<QueuedWrite>, bool)> {
        let (request_id, item_key) = (request_id.to_string(), item_key.to_string());
        self.run(move |c, _| {
            // A request id names a write of one item: the same key on another item (another
            // tenant's, say) is another request.
            let queued = c
                .prepare_cached(&format!(
                    "SELECT item_id, kind FROM {OPS} WHERE request_id = ?1 AND item_key = ?2"
                ))?
                .query_row([&request_id, &item_key], |r| {
                    Ok(QueuedWrite {
                        queued: true,
                        request_id: request_id.clone(),
                        id: r.get(0)?,
                        op: r.get(1)?,
                    })
                })
                .optional()?;
            let pending: bool = c
                .prepare_cached(&format!(
                    "SELECT EXISTS (SELECT 1 FROM {OPS} WHERE item_key = ?1)"
                ))?
                .query_row([&item_key], |r| r.get(0))?;
            Ok((queued, pending))
        })
        .await
    }

    /// Journals a write (the commit point of a queued write: synced before this returns).
    /// A request id already queued keeps its first entry.
    pub(crate) async fn enqueue(&self, mut e: NewEntry) -> Result<QueuedWrite> {
        let now = Timestamp::now().micros();
        e.op = self.seal(&e.item_key, &e.request_id, &e.op)?;
        self.run(move |c, _| {
            let (code, message) = e.cause.clone().unzip();
            // One transaction: what the caller is told is what the journal holds.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(&format!(
                "INSERT INTO {OPS} (request_id, item_key, route, item_id, kind, op, queued_at, next_at, last_code, last_message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9) ON CONFLICT(item_key, request_id) DO NOTHING"
            ))?
            .execute(params![e.request_id, e.item_key, e.route, e.item_id, e.kind, e.op, now, code, message])?;
            let queued = tx
                .prepare_cached(&format!(
                    "SELECT item_id, kind FROM {OPS} WHERE request_id = ?1 AND item_key = ?2"
                ))?
                .query_row([&e.request_id, &e.item_key], |r| {
                    Ok(QueuedWrite {
                        queued: true,
                        request_id: e.request_id.clone(),
                        id: r.get(0)?,
                        op: r.get(1)?,
                    })
                })?;
            tx.commit()?;
            Ok(queued)
        })
        .await
    }

    /// Takes the oldest write that is due, not leased, and first of its item (J2), leasing
    /// it to `owner` for `lease_ms`.
    pub(crate) async fn claim(&self, owner: &str, lease_ms: u64) -> Result<Option<Claimed>> {
        let owner = owner.to_string();
        self.run(move |c, _| {
            let now = Timestamp::now().micros();
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found = tx
                .prepare_cached(&format!(
                    "SELECT seq, request_id, route, op, attempts, item_key FROM {OPS} o
                     WHERE next_at <= ?1 AND lease_until <= ?1
                       AND NOT EXISTS (SELECT 1 FROM {OPS} p WHERE p.item_key = o.item_key AND p.seq < o.seq)
                     ORDER BY seq LIMIT 1"
                ))?
                .query_row([now], |r| {
                    Ok(Claimed {
                        seq: r.get(0)?,
                        request_id: r.get(1)?,
                        route: r.get(2)?,
                        op: r.get(3)?,
                        attempts: r.get(4)?,
                        item_key: r.get(5)?,
                    })
                })
                .optional()?;
            if let Some(claimed) = &found {
                let until = now.saturating_add(micros(lease_ms));
                tx.execute(
                    &format!("UPDATE {OPS} SET lease_owner = ?1, lease_until = ?2 WHERE seq = ?3"),
                    params![owner, until, claimed.seq],
                )?;
            }
            tx.commit()?;
            Ok(found)
        })
        .await
    }

    /// Extends `owner`'s lease on a claimed write; false when it is no longer `owner`'s.
    pub(crate) async fn renew(&self, seq: i64, owner: &str, lease_ms: u64) -> Result<bool> {
        let owner = owner.to_string();
        self.run(move |c, _| {
            let until = Timestamp::now().micros().saturating_add(micros(lease_ms));
            Ok(c.execute(
                &format!("UPDATE {OPS} SET lease_until = ?1 WHERE seq = ?2 AND lease_owner = ?3"),
                params![until, seq, owner],
            )? == 1)
        })
        .await
    }

    /// Removes a write whose replay committed (J3), if `owner` still holds its lease;
    /// false when another worker took it over (its replay then recognises the commit).
    pub(crate) async fn complete(&self, seq: i64, owner: &str) -> Result<bool> {
        let owner = owner.to_string();
        self.run(move |c, _| {
            Ok(c.execute(
                &format!("DELETE FROM {OPS} WHERE seq = ?1 AND lease_owner = ?2"),
                params![seq, owner],
            )? == 1)
        })
        .await
    }

    /// Schedules another replay after `delay_ms`, releasing the lease.
    pub(crate) async fn retry_later(
        &self,
        seq: i64,
        owner: &str,
        attempts: u32,
        delay_ms: u64,
        code: &str,
        message: &str,
    ) -> Result<()> {
        let (code, message, owner) = (code.to_string(), message.to_string(), owner.to_string());
        self.run(move |c, _| {
            let next = Timestamp::now().micros().saturating_add(micros(delay_ms));
            c.execute(
                &format!(
                    "UPDATE {OPS} SET attempts = ?1, next_at = ?2, lease_owner = NULL, lease_until = 0,
                     last_code = ?3, last_message = ?4 WHERE seq = ?5 AND lease_owner = ?6"
                ),
                params![attempts, next, code, message, seq, owner],
            )?;
            Ok(())
        })
        .await
    }

    /// Moves a write to the dead letters (J1).
    pub(crate) async fn bury(
        &self,
        seq: i64,
        owner: &str,
        attempts: u32,
        code: &str,
        message: &str,
    ) -> Result<()> {
        let (code, message, owner) = (code.to_string(), message.to_string(), owner.to_string());
        self.run(move |c, dead| {
            let now = Timestamp::now().micros();
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Only while `owner` holds the lease: a worker that lost it must not bury a write
            // another worker may be committing.
            let moved = tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO {dead} (request_id, item_key, route, item_id, kind, op, queued_at, attempts, failed_at, code, message)
                     SELECT request_id, item_key, route, item_id, kind, op, queued_at, ?1, ?2, ?3, ?4 FROM {OPS}
                     WHERE seq = ?5 AND lease_owner = ?6"
                ),
                params![attempts, now, code, message, seq, owner],
            )?;
            if moved == 1 {
                tx.execute(&format!("DELETE FROM {OPS} WHERE seq = ?1"), [seq])?;
            }
            tx.commit()
        })
        .await
    }

    /// The queue's counts and its oldest write.
    pub async fn stats(&self) -> Result<QueueStats> {
        self.run(move |c, dead| {
            let now = Timestamp::now().micros();
            let mut stats = QueueStats::default();
            let (pending, leased, oldest): (i64, i64, Option<i64>) = c.query_row(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(lease_until > ?1), 0), MIN(queued_at) FROM {OPS}"
                ),
                [now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            stats.pending = pending as u64;
            stats.leased = leased as u64;
            stats.oldest_queued_at = oldest.map(Timestamp);
            stats.dead = c.query_row(&format!("SELECT COUNT(*) FROM {dead}"), [], |r| {
                r.get::<_, i64>(0)
            })? as u64;
            let mut st = c.prepare(&format!("SELECT kind, COUNT(*) FROM {OPS} GROUP BY kind"))?;
            for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (kind, n) = row?;
                stats.by_op.insert(kind, n as u64);
            }
            Ok(stats)
        })
        .await
    }

    /// Queued writes in queueing order, after `after_seq`, at most `limit`.
    pub async fn list(&self, after_seq: i64, limit: usize) -> Result<Vec<QueueEntry>> {
        self.run(move |c, _| {
            let now = Timestamp::now().micros();
            let mut st = c.prepare(&format!(
                "SELECT seq, request_id, route, item_id, kind, queued_at, attempts, next_at,
                        CASE WHEN lease_until > ?1 THEN lease_owner END, last_code, last_message
                 FROM {OPS} WHERE seq > ?2 ORDER BY seq LIMIT ?3"
            ))?;
            let rows = st.query_map(params![now, after_seq, limit as i64], |r| {
                Ok(QueueEntry {
                    seq: r.get(0)?,
                    request_id: r.get(1)?,
                    route: route_json(&r.get::<_, String>(2)?),
                    id: r.get(3)?,
                    op: r.get(4)?,
                    queued_at: Timestamp(r.get(5)?),
                    attempts: r.get(6)?,
                    next_at: Timestamp(r.get(7)?),
                    leased_by: r.get(8)?,
                    last_code: r.get(9)?,
                    last_message: r.get(10)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Dead letters, most recently failed first, at most `limit`.
    pub async fn dead(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.run(move |c, dead| {
            let mut st = c.prepare(&format!(
                "SELECT request_id, route, item_id, kind, queued_at, attempts, failed_at, code, message
                 FROM {dead} ORDER BY failed_at DESC, request_id LIMIT ?1"
            ))?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(DeadLetter {
                    request_id: r.get(0)?,
                    route: route_json(&r.get::<_, String>(1)?),
                    id: r.get(2)?,
                    op: r.get(3)?,
                    queued_at: Timestamp(r.get(4)?),
                    attempts: r.get(5)?,
                    failed_at: Timestamp(r.get(6)?),
                    code: r.get(7)?,
                    message: r.get(8)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Queues a dead letter again, at the back of the queue with its attempts reset (J1);
    /// false when there is no dead letter with that request id.
    pub async fn retry(&self, request_id: &str) -> Result<bool> {
        let request_id = request_id.to_string();
        self.run(move |c, dead| {
            let now = Timestamp::now().micros();
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let named: i64 = tx.query_row(
                &format!("SELECT COUNT(*) FROM {dead} WHERE request_id = ?1"),
                [&request_id],
                |r| r.get(0),
            )?;
            if named != 1 {
                return Ok(named);
            }
            tx.execute(
                &format!(
                    "INSERT INTO {OPS} (request_id, item_key, route, item_id, kind, op, queued_at, next_at, last_code, last_message)
                     SELECT request_id, item_key, route, item_id, kind, op, queued_at, ?1, code, message FROM {dead}
                     WHERE request_id = ?2"
                ),
                params![now, request_id],
            )?;
            tx.execute(&format!("DELETE FROM {dead} WHERE request_id = ?1"), [&request_id])?;
            tx.commit()?;
            Ok(1)
        })
        .await
        .and_then(|named| match named {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(ambiguous(n)),
        })
    }

    /// Removes a queued write or a dead letter: `Ok(true)` when one was removed, `Ok(false)`
    /// when there is none, an error when a worker is replaying it right now.
    pub async fn cancel(&self, request_id: &str) -> Result<bool> {
        let request_id = request_id.to_string();
        let outcome = self
            .run(move |c, dead| {
                let now = Timestamp::now().micros();
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let leased: bool = tx.query_row(
                    &format!("SELECT EXISTS (SELECT 1 FROM {OPS} WHERE request_id = ?1 AND lease_until > ?2)"),
                    params![request_id, now],
                    |r| r.get(0),
                )?;
                if leased {
                    return Ok(None);
                }
                let named: i64 = tx.query_row(
                    &format!(
                        "SELECT (SELECT COUNT(*) FROM {OPS} WHERE request_id = ?1)
                              + (SELECT COUNT(*) FROM {dead} WHERE request_id = ?1)"
                    ),
                    [&request_id],
                    |r| r.get(0),
                )?;
                if named > 1 {
                    return Ok(Some(Err(named)));
                }
                let n = tx.execute(&format!("DELETE FROM {OPS} WHERE request_id = ?1"), [&request_id])?
                    + tx.execute(&format!("DELETE FROM {dead} WHERE request_id = ?1"), [&request_id])?;
                tx.commit()?;
                Ok(Some(Ok(n > 0)))
            })
            .await?;
        match outcome {
            None => Err(Error::validation(
                "the write is being replayed right now; try again when it is done",
            )),
            Some(Ok(removed)) => Ok(removed),
            Some(Err(n)) => Err(ambiguous(n)),
        }
    }

    /// Every journaled write, waiting or dead: `(request id, route JSON, op JSON)`.
    pub(crate) async fn all_writes(&self) -> Result<Vec<(String, String, String)>> {
        let rows: Vec<(String, String, String, String)> = self
            .run(move |c, dead| {
                let mut out = Vec::new();
                for table in [OPS, dead] {
                    let mut st = c.prepare(&format!(
                        "SELECT request_id, route, op, item_key FROM {table}"
                    ))?;
                    let rows =
                        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                    for row in rows {
                        out.push(row?);
                    }
                }
                Ok(out)
            })
            .await?;
        rows.into_iter()
            .map(|(request_id, route, op, item_key)| {
                let op = self.open_op(&item_key, &request_id, &op)?;
                Ok((request_id, route, op))
            })
            .collect()
    }

    /// Removes writes (waiting or dead) by request id, or every write of `item_key`; returns
    /// how many. A write a worker is replaying at this moment may still commit.
    pub(crate) async fn remove(
        &self,
        request_ids: Vec<String>,
        item_key: Option<String>,
    ) -> Result<u64> {
        self.run(move |c, dead| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut n = 0;
            for table in [OPS, dead] {
                for id in &request_ids {
                    n += tx.execute(&format!("DELETE FROM {table} WHERE request_id = ?1"), [id])?;
                }
                if let Some(key) = &item_key {
                    n += tx.execute(&format!("DELETE FROM {table} WHERE item_key = ?1"), [key])?;
                }
            }
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }

    /// Removes the dead letters that failed before `before`; returns how many.
    pub async fn prune(&self, before: Timestamp) -> Result<u64> {
        self.run(move |c, dead| {
            Ok(c.execute(
                &format!("DELETE FROM {dead} WHERE failed_at < ?1"),
                [before.micros()],
            )? as u64)
        })
        .await
    }
}
