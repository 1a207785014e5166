//! Embedded metadata store: one SQLite file per database, WAL mode.
//!
//! Layout per database file:
//! * `_chronos_collections(name, tbl)`: maps each collection to a table stem `c<N>`, so
//!   collection names never reach SQL text and names that differ only in case stay apart
//!   (SQLite compares identifiers without case, MongoDB does not);
//! * `_chronos_cv(tbl, cv)`: the collection version counter;
//! * `c<N>_ver`: one row per committed version, primary key `(id, ov)`, unique `cv`,
//!   indexes `(id, at)` and `(id, cv)` so as-of reads are index seeks;
//! * `c<N>_head`: one row per item (the latest version plus its inline shadow), with an
//!   expression index `json_extract(meta, '$."p"')` per scalar indexed property.
//!
//! Commit point: the `COMMIT` of the `BEGIN IMMEDIATE` transaction in [`SqliteStore::commit`],
//! which checks the head (compare-and-set), bumps the cv, inserts the version row and writes
//! the head. A crash before it leaves nothing (SQLite rolls the journal back); after it, all.

use super::{CollectionSpec, Committed, Expect, MetaError, MetadataStore, QueryPage, VersionWrite};
use crate::config::Durability;
use crate::model::{Head, Lineage, Op, Timestamp, VersionRecord};
use crate::query::{AsOf, CmpOp, Cursor, Field, Filter, IndexedPath, Query, Scalar};
use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const VER_COLS: &str = "id, ov, cv, op, at, actor, reason, function_id, payload_key, size, sha256, meta, lineage, deleted, content_of";

/// A metadata store backed by one SQLite database file.
///
/// ```
/// # tokio_test_block_on(async {
/// use chronos_db::meta::{sqlite::SqliteStore, MetadataStore};
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
/// assert!(store.get_head("users", "nobody").await.unwrap().is_none());
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
pub struct SqliteStore {
    /// Opened on first need: a read of a database that does not exist yet must not create
    /// its file (a read-only caller could otherwise create files without bound).
    conn: Mutex<Option<Arc<Mutex<Connection>>>>,
    durability: Durability,
    /// collection name → table stem, for collections known to exist.
    tables: Mutex<HashMap<String, String>>,
    path: PathBuf,
}

fn backend(e: rusqlite::Error) -> MetaError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            MetaError::Unavailable(format!("sqlite is busy: {e}"))
        }
        _ => MetaError::Backend(format!("sqlite: {e}")),
    }
}

impl SqliteStore {
    /// A store over the database file `path`; commits are flushed to disk before they
    /// return (survive power loss). Nothing is created until the first write.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        Self::open_with(path, Durability::PowerLoss)
    }

    /// [`SqliteStore::open`] with a chosen durability: `PowerLoss` syncs the write-ahead log
    /// on every commit (`synchronous=FULL`), `ProcessCrash` leaves that to checkpoints
    /// (`synchronous=NORMAL`). The file (and its directory) is created by the first write;
    /// reads of a database that does not exist answer "nothing there".
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, MetaError> {
        Ok(SqliteStore {
            conn: Mutex::new(None),
            durability,
            tables: Mutex::new(HashMap::new()),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, opening the file first if needed. With `create = false`, a file that
    /// does not exist is not created and the answer is `None`.
    async fn connection(&self, create: bool) -> Result<Option<Arc<Mutex<Connection>>>, MetaError> {
        if let Some(c) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(Some(c.clone()));
        }
        let (path, durability) = (self.path.clone(), self.durability);
        let opened = tokio::task::spawn_blocking(move || {
            if !create && !path.exists() {
                return Ok(None);
            }
            open_connection(&path, durability).map(Some)
        })
        .await
        .map_err(|e| MetaError::Backend(format!("sqlite worker failed: {e}")))??;
        let Some(opened) = opened else {
            return Ok(None);
        };
        // Another task may have opened it meanwhile: keep the first one.
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Some(
            slot.get_or_insert_with(|| Arc::new(Mutex::new(opened)))
                .clone(),
        ))
    }

    /// Runs blocking SQLite work off the async executor (creating the database if needed).
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, MetaError> + Send + 'static,
    ) -> Result<T, MetaError> {
        let conn = self
            .connection(true)
            .await?
            .ok_or_else(|| MetaError::Backend("sqlite: the database was not opened".into()))?;
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier call must not make the database unusable: SQLite itself
            // rolled back whatever that call had open.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| MetaError::Backend(format!("sqlite worker failed: {e}")))?
    }

    /// The table stem of a collection, or `None` if it was never created.
    async fn table(&self, coll: &str) -> Result<Option<String>, MetaError> {
        if let Some(t) = self.tables.lock().ok().and_then(|m| m.get(coll).cloned()) {
            return Ok(Some(t));
        }
        // Every read starts here: a database that does not exist has no collections, and
        // asking must not create it.
        if self.connection(false).await?.is_none() {
            return Ok(None);
        }
        let name = coll.to_string();
        let found = self
            .run(move |c| {
                c.query_row(
                    "SELECT tbl FROM _chronos_collections WHERE name = ?1",
                    [&name],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(backend)
            })
            .await?;
        if let (Some(t), Ok(mut m)) = (&found, self.tables.lock()) {
            m.insert(coll.to_string(), t.clone());
        }
        Ok(found)
    }
}

/// Creates (if needed) and opens the database file with its bookkeeping tables.
fn open_connection(path: &Path, durability: Durability) -> Result<Connection, MetaError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| MetaError::Backend(format!("cannot create {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path).map_err(backend)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA foreign_keys=OFF;
         CREATE TABLE IF NOT EXISTS _chronos_collections (name TEXT PRIMARY KEY, tbl TEXT NOT NULL UNIQUE) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_cv (tbl TEXT PRIMARY KEY, cv INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_locks (coll TEXT NOT NULL, id TEXT NOT NULL, owner TEXT NOT NULL,
             expires INTEGER NOT NULL, PRIMARY KEY (coll, id)) WITHOUT ROWID;",
    )
    .map_err(backend)?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::PowerLoss => "FULL",
            Durability::ProcessCrash => "NORMAL",
        },
    )
    .map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    register_regexp(&conn)?;
    Ok(conn)
}

fn register_regexp(conn: &Connection) -> Result<(), MetaError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "chronos_regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let re: Arc<regex::Regex> = ctx.get_or_create_aux(
                0,
                |v| -> Result<regex::Regex, Box<dyn std::error::Error + Send + Sync>> {
                    let pattern = v.as_str()?;
                    Ok(regex::RegexBuilder::new(pattern)
                        .size_limit(1 << 20)
                        .build()?)
                },
            )?;
            Ok(match ctx.get_raw(1) {
                rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t)
                    .map(|s| re.is_match(s))
                    .unwrap_or(false),
                _ => false,
            })
        },
    )
    .map_err(backend)
}

/// `'$."a"."b"'`: the JSON path literal of an indexed property (segments are validated names).
fn json_path(p: &IndexedPath) -> String {
    let mut s = String::from("'$");
    for seg in &p.segments {
        s.push_str(".\"");
        s.push_str(seg);
        s.push('"');
    }
    s.push('\'');
    s
}

fn meta_expr(p: &IndexedPath) -> String {
    format!("json_extract(meta, {})", json_path(p))
}

/// The second index column: filters check the JSON type next to the value (MongoDB never
/// compares values of different types), so the index answers both without reading the row.
fn meta_type_expr(p: &IndexedPath) -> String {
    format!("json_type(meta, {})", json_path(p))
}

fn read_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<VersionRecord, MetaError>> {
    let op: String = r.get(3)?;
    let meta: String = r.get(11)?;
    let lineage: String = r.get(12)?;
    let id: String = r.get(0)?;
    let ov: i64 = r.get(1)?;
    let decoded = (|| -> Result<VersionRecord, MetaError> {
        let corrupt =
            |what: &str| MetaError::Corrupt(format!("version {ov} of '{id}': bad {what}"));
        Ok(VersionRecord {
            id: id.clone(),
            ov: ov as u64,
            cv: r.get::<_, i64>(2).map_err(|_| corrupt("cv"))? as u64,
            op: Op::parse(&op).ok_or_else(|| corrupt("op"))?,
            at: Timestamp(r.get(4).map_err(|_| corrupt("at"))?),
            actor: r.get(5).map_err(|_| corrupt("actor"))?,
            reason: r.get(6).map_err(|_| corrupt("reason"))?,
            function_id: r.get(7).map_err(|_| corrupt("function_id"))?,
            payload_key: r.get(8).map_err(|_| corrupt("payload_key"))?,
            size: r.get::<_, i64>(9).map_err(|_| corrupt("size"))? as u64,
            sha256: r.get(10).map_err(|_| corrupt("sha256"))?,
            meta: serde_json::from_str(&meta).map_err(|_| corrupt("meta"))?,
            lineage: serde_json::from_str::<Lineage>(&lineage).map_err(|_| corrupt("lineage"))?,
            deleted: r.get::<_, i64>(13).map_err(|_| corrupt("deleted"))? != 0,
            content_of: r.get::<_, i64>(14).map_err(|_| corrupt("content_of"))? as u64,
        })
    })();
    Ok(decoded)
}

fn read_head(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Head, MetaError>> {
    let shadow: Option<String> = r.get(15)?;
    Ok(read_version(r)?.map(|version| Head { version, shadow }))
}

fn version_params(v: &VersionRecord, cv: u64) -> Result<Vec<SqlValue>, MetaError> {
    let json = |x: &dyn erased::Ser| x.to_json();
    Ok(vec![
        SqlValue::Text(v.id.clone()),
        SqlValue::Integer(v.ov as i64),
        SqlValue::Integer(cv as i64),
        SqlValue::Text(v.op.as_str().into()),
        SqlValue::Integer(v.at.micros()),
        v.actor
            .clone()
            .map(SqlValue::Text)
            .unwrap_or(SqlValue::Null),
        v.reason
            .clone()
            .map(SqlValue::Text)
            .unwrap_or(SqlValue::Null),
        v.function_id
            .clone()
            .map(SqlValue::Text)
            .unwrap_or(SqlValue::Null),
        SqlValue::Text(v.payload_key.clone()),
        SqlValue::Integer(v.size as i64),
        SqlValue::Text(v.sha256.clone()),
        SqlValue::Text(json(&v.meta)?),
        SqlValue::Text(json(&v.lineage)?),
        SqlValue::Integer(v.deleted as i64),
        SqlValue::Integer(v.content_of as i64),
    ])
}

mod erased {
    use super::MetaError;
    pub trait Ser {
        fn to_json(&self) -> Result<String, MetaError>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> Result<String, MetaError> {
            serde_json::to_string(self)
                .map_err(|e| MetaError::Invalid(format!("cannot encode: {e}")))
        }
    }
}

fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<Result<T, MetaError>>>,
) -> Result<Vec<T>, MetaError> {
    rows.map(|r| r.map_err(backend)?).collect()
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn ensure_collection(&self, coll: &CollectionSpec) -> Result<(), MetaError> {
        let spec = coll.clone();
        let stem = self
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
                let existing: Option<String> = tx
                    .query_row("SELECT tbl FROM _chronos_collections WHERE name = ?1", [&spec.name], |r| r.get(0))
                    .optional()
                    .map_err(backend)?;
                let stem = match existing {
                    Some(s) => s,
                    None => {
                        let n: i64 = tx
                            .query_row("SELECT COUNT(*) FROM _chronos_collections", [], |r| r.get(0))
                            .map_err(backend)?;
                        let stem = format!("c{}", n + 1);
                        tx.execute("INSERT INTO _chronos_collections(name, tbl) VALUES (?1, ?2)", params![spec.name, stem])
                            .map_err(backend)?;
                        stem
                    }
                };
                let cols = "id TEXT NOT NULL, ov INTEGER NOT NULL, cv INTEGER NOT NULL, op TEXT NOT NULL, at INTEGER NOT NULL,
                    actor TEXT, reason TEXT, function_id TEXT, payload_key TEXT NOT NULL, size INTEGER NOT NULL,
                    sha256 TEXT NOT NULL, meta TEXT NOT NULL, lineage TEXT NOT NULL, deleted INTEGER NOT NULL,
                    content_of INTEGER NOT NULL";
                let mut ddl = format!(
                    "CREATE TABLE IF NOT EXISTS {stem}_ver ({cols}, shadow TEXT, PRIMARY KEY (id, ov)) WITHOUT ROWID;
                     CREATE UNIQUE INDEX IF NOT EXISTS {stem}_ver_cv ON {stem}_ver(cv);
                     CREATE INDEX IF NOT EXISTS {stem}_ver_id_at ON {stem}_ver(id, at);
                     CREATE INDEX IF NOT EXISTS {stem}_ver_id_cv ON {stem}_ver(id, cv);
                     CREATE INDEX IF NOT EXISTS {stem}_ver_at ON {stem}_ver(at);
                     CREATE TABLE IF NOT EXISTS {stem}_head ({cols}, shadow TEXT, PRIMARY KEY (id)) WITHOUT ROWID;
                     CREATE INDEX IF NOT EXISTS {stem}_head_at ON {stem}_head(at);
                     CREATE INDEX IF NOT EXISTS {stem}_head_cv ON {stem}_head(cv);"
                );
                for p in spec.index.paths.iter().filter(|p| !p.array) {
                    let name: String = p.dotted().chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' }).collect();
                    let hash = hex::encode(sha2_short(&p.dotted()));
                    ddl.push_str(&format!(
                        "CREATE INDEX IF NOT EXISTS {stem}_head_m_{name}_{hash} ON {stem}_head({}, {}, deleted, id);
                         CREATE INDEX IF NOT EXISTS {stem}_head_s_{name}_{hash} ON {stem}_head({}, id);",
                        meta_expr(p),
                        meta_type_expr(p),
                        sort_key_expr(p, "meta"),
                    ));
                }
                tx.execute_batch(&ddl).map_err(backend)?;
                tx.commit().map_err(backend)?;
                Ok(stem)
            })
            .await?;
        if let Ok(mut m) = self.tables.lock() {
            m.insert(coll.name.clone(), stem);
        }
        Ok(())
    }

    async fn acquire_lease(
        &self,
        coll: &str,
        id: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, MetaError> {
        let (coll, id, owner) = (coll.to_string(), id.to_string(), owner.to_string());
        let now = Timestamp::now().micros();
        let expires = now.saturating_add(lease.as_micros().min(i64::MAX as u128) as i64);
        self.run(move |c| {
            // One statement: insert, or take over when the lease is ours or has expired.
            let n = c
                .prepare_cached(
                    "INSERT INTO _chronos_locks(coll, id, owner, expires) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(coll, id) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
                     WHERE _chronos_locks.owner = excluded.owner OR _chronos_locks.expires < ?5",
                )
                .map_err(backend)?
                .execute(params![coll, id, owner, expires, now])
                .map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_lease(&self, coll: &str, id: &str, owner: &str) -> Result<(), MetaError> {
        let (coll, id, owner) = (coll.to_string(), id.to_string(), owner.to_string());
        self.run(move |c| {
            c.prepare_cached(
                "DELETE FROM _chronos_locks WHERE coll = ?1 AND id = ?2 AND owner = ?3",
            )
            .map_err(backend)?
            .execute(params![coll, id, owner])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn get_head(&self, coll: &str, id: &str) -> Result<Option<Head>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(None);
        };
        let id = id.to_string();
        self.run(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {VER_COLS}, shadow FROM {t}_head WHERE id = ?1"
                ))
                .map_err(backend)?;
            st.query_row([&id], read_head)
                .optional()
                .map_err(backend)?
                .transpose()
        })
        .await
    }

    async fn commit(&self, coll: &str, write: VersionWrite) -> Result<Committed, MetaError> {
        let t = self
            .table(coll)
            .await?
            .ok_or_else(|| MetaError::Invalid(format!("collection '{coll}' is not initialised")))?;
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let v = &write.version;
            let current: Option<i64> = tx
                .prepare_cached(&format!("SELECT ov FROM {t}_head WHERE id = ?1"))
                .map_err(backend)?
                .query_row([&v.id], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            match (write.expect, current) {
                (Expect::Absent, None) => {}
                (Expect::Absent, Some(_)) => return Err(MetaError::AlreadyExists),
                (Expect::Ov(e), Some(cur)) if cur as u64 == e => {}
                (Expect::Ov(_), cur) => return Err(MetaError::Conflict { current_ov: cur.map(|c| c as u64) }),
            }
            let cv: i64 = tx
                .prepare_cached("INSERT INTO _chronos_cv(tbl, cv) VALUES (?1, 1) ON CONFLICT(tbl) DO UPDATE SET cv = cv + 1 RETURNING cv")
                .map_err(backend)?
                .query_row([&t], |r| r.get(0))
                .map_err(backend)?;
            let mut dropped = Vec::new();
            if !write.keep_history {
                let mut st = tx
                    .prepare_cached(&format!("DELETE FROM {t}_ver WHERE id = ?1 RETURNING {VER_COLS}"))
                    .map_err(backend)?;
                dropped = collect(st.query_map([&v.id], read_version).map_err(backend)?)?;
            }
            let mut p = version_params(v, cv as u64)?;
            p.push(write.shadow.map(SqlValue::Text).unwrap_or(SqlValue::Null));
            tx.prepare_cached(&format!("INSERT INTO {t}_ver ({VER_COLS}, shadow) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)"))
                .map_err(backend)?
                .execute(rusqlite::params_from_iter(p.iter()))
                .map_err(backend)?;
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {t}_head ({VER_COLS}, shadow) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)"
            ))
            .map_err(backend)?
            .execute(rusqlite::params_from_iter(p.iter()))
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(Committed { cv: cv as u64, dropped })
        })
        .await
    }

    async fn purge_item(
        &self,
        coll: &str,
        id: &str,
        expected_ov: u64,
    ) -> Result<(u64, Vec<VersionRecord>), MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Err(MetaError::Conflict { current_ov: None });
        };
        let id = id.to_string();
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let current: Option<i64> = tx
                .query_row(&format!("SELECT ov FROM {t}_head WHERE id = ?1"), [&id], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            if current.map(|c| c as u64) != Some(expected_ov) {
                return Err(MetaError::Conflict { current_ov: current.map(|c| c as u64) });
            }
            let cv: i64 = tx
                .query_row("INSERT INTO _chronos_cv(tbl, cv) VALUES (?1, 1) ON CONFLICT(tbl) DO UPDATE SET cv = cv + 1 RETURNING cv", [&t], |r| r.get(0))
                .map_err(backend)?;
            let removed = {
                let mut st = tx.prepare(&format!("DELETE FROM {t}_ver WHERE id = ?1 RETURNING {VER_COLS}")).map_err(backend)?;
                let rows = collect(st.query_map([&id], read_version).map_err(backend)?)?;
                rows
            };
            let head: Vec<VersionRecord> = {
                let mut st = tx.prepare(&format!("DELETE FROM {t}_head WHERE id = ?1 RETURNING {VER_COLS}")).map_err(backend)?;
                let rows = collect(st.query_map([&id], read_version).map_err(backend)?)?;
                rows
            };
            tx.commit().map_err(backend)?;
            let mut all = removed;
            // With versioning off the head's row is also the only version row; keep keys unique.
            for h in head {
                if !all.iter().any(|v| v.payload_key == h.payload_key) {
                    all.push(h);
                }
            }
            Ok((cv as u64, all))
        })
        .await
    }

    async fn get_version(&self, coll: &str, id: &str, ov: u64) -> Result<Option<Head>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(None);
        };
        let id = id.to_string();
        self.run(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {VER_COLS}, shadow FROM {t}_ver WHERE id = ?1 AND ov = ?2"
                ))
                .map_err(backend)?;
            st.query_row(params![id, ov as i64], read_head)
                .optional()
                .map_err(backend)?
                .transpose()
        })
        .await
    }

    async fn version_as_of(
        &self,
        coll: &str,
        id: &str,
        as_of: AsOf,
    ) -> Result<Option<Head>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(None);
        };
        let id = id.to_string();
        self.run(move |c| {
            let (sql, bound) = match as_of {
                AsOf::Time(ts) => (format!("SELECT {VER_COLS}, shadow FROM {t}_ver WHERE id = ?1 AND at <= ?2 ORDER BY at DESC, ov DESC LIMIT 1"), ts.micros()),
                AsOf::Cv(cv) => (format!("SELECT {VER_COLS}, shadow FROM {t}_ver WHERE id = ?1 AND cv <= ?2 ORDER BY cv DESC LIMIT 1"), cv.min(i64::MAX as u64) as i64),
            };
            let mut st = c.prepare_cached(&sql).map_err(backend)?;
            st.query_row(params![id, bound], read_head).optional().map_err(backend)?.transpose()
        })
        .await
    }

    async fn history(
        &self,
        coll: &str,
        id: &str,
        before_ov: Option<u64>,
        limit: usize,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(vec![]);
        };
        let id = id.to_string();
        self.run(move |c| {
            let before = before_ov.map(|b| b.min(i64::MAX as u64) as i64).unwrap_or(i64::MAX);
            let mut st = c
                .prepare_cached(&format!("SELECT {VER_COLS} FROM {t}_ver WHERE id = ?1 AND ov < ?2 ORDER BY ov DESC LIMIT ?3"))
                .map_err(backend)?;
            let rows = st.query_map(params![id, before, limit as i64], read_version).map_err(backend)?;
            collect(rows)
        })
        .await
    }

    async fn query(&self, coll: &CollectionSpec, query: &Query) -> Result<QueryPage, MetaError> {
        let Some(t) = self.table(&coll.name).await? else {
            return Ok(QueryPage {
                rows: vec![],
                next: None,
            });
        };
        let q = query.clone();
        self.run(move |c| run_query(c, &t, &q)).await
    }

    async fn scan_heads(
        &self,
        coll: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Head>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(vec![]);
        };
        let after = after_id.map(str::to_string);
        self.run(move |c| {
            let mut st = c
                .prepare_cached(&format!("SELECT {VER_COLS}, shadow FROM {t}_head WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2"))
                .map_err(backend)?;
            let rows = st.query_map(params![after, limit as i64], read_head).map_err(backend)?;
            collect(rows)
        })
        .await
    }

    async fn count_heads(&self, coll: &str, after_id: Option<&str>) -> Result<u64, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(0);
        };
        let after = after_id.map(str::to_string);
        self.run(move |c| {
            c.query_row(
                &format!("SELECT COUNT(*) FROM {t}_head WHERE (?1 IS NULL OR id > ?1)"),
                [after],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
    }

    async fn cv_as_of(&self, coll: &str, at: Timestamp) -> Result<u64, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(0);
        };
        self.run(move |c| {
            c.query_row(
                &format!("SELECT COALESCE(MAX(cv), 0) FROM {t}_ver WHERE at <= ?1"),
                [at.micros()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
    }
}

fn sha2_short(s: &str) -> [u8; 4] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    [d[0], d[1], d[2], d[3]]
}

/// Builds SQL text and its parameters.
struct Sql {
    text: String,
    params: Vec<SqlValue>,
}

impl Sql {
    fn bind(&mut self, v: SqlValue) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    fn bind_scalar(&mut self, s: &Scalar) -> String {
        let v = match s {
            Scalar::Null => SqlValue::Null,
            Scalar::Bool(b) => SqlValue::Integer(*b as i64),
            Scalar::Int(i) => SqlValue::Integer(*i),
            Scalar::Float(f) => SqlValue::Real(*f),
            Scalar::Str(s) => match s.strip_prefix(CURSOR_BLOB).map(hex::decode) {
                Some(Ok(bytes)) => SqlValue::Blob(bytes),
                _ => SqlValue::Text(s.clone()),
            },
        };
        self.bind(v)
    }
}

fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
    }
}

/// A comparison of one JSON value (`val`, with SQLite JSON type `ty`) against a scalar, with
/// MongoDB's rule that values of different types never compare.
fn json_cmp(sql: &mut Sql, val: &str, ty: &str, op: CmpOp, s: &Scalar) -> String {
    if op == CmpOp::Ne {
        return format!(
            "NOT COALESCE(({}), 0)",
            json_cmp(sql, val, ty, CmpOp::Eq, s)
        );
    }
    match s {
        Scalar::Null => match op {
            CmpOp::Eq | CmpOp::Gte | CmpOp::Lte => format!("({ty} IS NULL OR {ty} = 'null')"),
            _ => "0".into(),
        },
        Scalar::Bool(b) => match op {
            CmpOp::Eq => format!("({ty} = '{}')", if *b { "true" } else { "false" }),
            _ => {
                let p = sql.bind_scalar(s);
                format!("({ty} IN ('true','false') AND {val} {} {p})", op_sql(op))
            }
        },
        Scalar::Int(_) | Scalar::Float(_) => {
            let p = sql.bind_scalar(s);
            format!("({val} {} {p} AND {ty} IN ('integer','real'))", op_sql(op))
        }
        Scalar::Str(_) => {
            let p = sql.bind_scalar(s);
            format!("({val} {} {p} AND {ty} = 'text')", op_sql(op))
        }
    }
}

fn column(field: &Field) -> &'static str {
    match field {
        Field::Id => "h.id",
        Field::Ov => "h.ov",
        Field::Cv => "h.cv",
        Field::UpdatedAt => "h.at",
        Field::Meta(_) => "",
    }
}

/// A condition on a field, for scalar and array properties alike.
fn field_cond(
    sql: &mut Sql,
    field: &Field,
    cond: &dyn Fn(&mut Sql, &str, &str) -> String,
    null_means_missing: bool,
) -> String {
    match field {
        Field::Meta(p) => {
            let path = json_path(p);
            let val = format!("json_extract(h.meta, {path})");
            let ty = format!("json_type(h.meta, {path})");
            if p.array {
                let inner = cond(sql, "j.value", "j.type");
                let missing = if null_means_missing {
                    format!(" OR {ty} IS NULL OR {ty} = 'null'")
                } else {
                    String::new()
                };
                format!("(EXISTS (SELECT 1 FROM json_each(h.meta, {path}) AS j WHERE {inner}){missing})")
            } else {
                cond(sql, &val, &ty)
            }
        }
        _ => {
            let col = column(field);
            let ty = match field {
                Field::Id => "'text'",
                _ => "'integer'",
            };
            cond(sql, col, ty)
        }
    }
}

fn compile(sql: &mut Sql, f: &Filter) -> String {
    match f {
        Filter::All => "1".into(),
        Filter::And(parts) => format!(
            "({})",
            parts
                .iter()
                .map(|p| compile(sql, p))
                .collect::<Vec<_>>()
                .join(" AND ")
        ),
        Filter::Or(parts) => format!(
            "({})",
            parts
                .iter()
                .map(|p| compile(sql, p))
                .collect::<Vec<_>>()
                .join(" OR ")
        ),
        // COALESCE: a comparison on a missing field is NULL in SQL, and NOT NULL would drop
        // the row, while MongoDB's negations match documents without the field.
        Filter::Not(inner) => format!("(NOT COALESCE({}, 0))", compile(sql, inner)),
        Filter::Cmp { field, op, value } => {
            if *op == CmpOp::Ne {
                // $ne is the negation of $eq over the whole field (arrays: no element equals).
                let eq = Filter::Cmp {
                    field: field.clone(),
                    op: CmpOp::Eq,
                    value: value.clone(),
                };
                return format!("(NOT COALESCE({}, 0))", compile(sql, &eq));
            }
            let null_eq =
                matches!(value, Scalar::Null) && matches!(op, CmpOp::Eq | CmpOp::Gte | CmpOp::Lte);
            field_cond(
                sql,
                field,
                &|sql, val, ty| json_cmp(sql, val, ty, *op, value),
                null_eq,
            )
        }
        Filter::In { field, values } => {
            if values.is_empty() {
                return "0".into();
            }
            let parts: Vec<String> = values
                .iter()
                .map(|v| {
                    compile(
                        sql,
                        &Filter::Cmp {
                            field: field.clone(),
                            op: CmpOp::Eq,
                            value: v.clone(),
                        },
                    )
                })
                .collect();
            format!("({})", parts.join(" OR "))
        }
        Filter::Exists { field, exists } => {
            let cond = match field {
                Field::Meta(p) => format!("json_type(h.meta, {}) IS NOT NULL", json_path(p)),
                _ => "1".into(),
            };
            if *exists {
                cond
            } else {
                format!("(NOT {cond})")
            }
        }
        Filter::Regex { field, pattern } => {
            let pattern = pattern.clone();
            field_cond(
                sql,
                field,
                &|sql, val, ty| {
                    let p = sql.bind(SqlValue::Text(pattern.clone()));
                    format!("({ty} = 'text' AND chronos_regexp({p}, {val}))")
                },
                false,
            )
        }
    }
}

fn sort_expr(field: &Field) -> String {
    match field {
        Field::Meta(p) => sort_key_expr(p, "h.meta"),
        other => column(other).to_string(),
    }
}

/// The value an indexed property sorts by, so that SQLite's own order of values (NULL <
/// numbers < text < BLOB, BLOBs bytewise) is MongoDB's order of BSON types: null and missing
/// < numbers < strings < objects < arrays < booleans (false < true). Objects and arrays
/// become BLOBs of their JSON text behind a type byte; booleans a type byte and 0 or 1.
fn sort_key_expr(p: &IndexedPath, meta: &str) -> String {
    let path = json_path(p);
    format!(
        "(CASE json_type({meta}, {path}) \
         WHEN 'object' THEN CAST(X'01' || json_extract({meta}, {path}) AS BLOB) \
         WHEN 'array' THEN CAST(X'02' || json_extract({meta}, {path}) AS BLOB) \
         WHEN 'false' THEN X'0300' WHEN 'true' THEN X'0301' \
         ELSE json_extract({meta}, {path}) END)"
    )
}

/// Marks a cursor value that stands for a BLOB sort key (its bytes in hex).
const CURSOR_BLOB: &str = "\u{0}blob:";

/// The keyset condition "strictly after the cursor" for the given sort.
fn keyset(sql: &mut Sql, sort: &[(String, bool)], cursor: &Cursor) -> String {
    let id_desc = sort.last().map(|s| s.1).unwrap_or(false);
    let mut ors = Vec::new();
    for i in 0..=sort.len() {
        let mut ands = Vec::new();
        for (j, (expr, _)) in sort.iter().enumerate().take(i) {
            let p = sql.bind_scalar(&cursor.values[j]);
            ands.push(format!("{expr} IS {p}"));
        }
        if i < sort.len() {
            let (expr, desc) = &sort[i];
            let after = match (&cursor.values[i], desc) {
                (Scalar::Null, false) => format!("{expr} IS NOT NULL"),
                (Scalar::Null, true) => "0".into(),
                (v, false) => {
                    let p = sql.bind_scalar(v);
                    format!("{expr} > {p}")
                }
                (v, true) => {
                    let p = sql.bind_scalar(v);
                    format!("({expr} < {p} OR {expr} IS NULL)")
                }
            };
            ands.push(after);
        } else {
            let p = sql.bind(SqlValue::Text(cursor.id.clone()));
            ands.push(format!("h.id {} {p}", if id_desc { "<" } else { ">" }));
        }
        ors.push(format!("({})", ands.join(" AND ")));
    }
    format!("({})", ors.join(" OR "))
}

fn to_scalar(v: SqlValue) -> Scalar {
    match v {
        SqlValue::Null => Scalar::Null,
        SqlValue::Integer(i) => Scalar::Int(i),
        SqlValue::Real(f) => Scalar::Float(f),
        SqlValue::Text(s) => Scalar::Str(s),
        SqlValue::Blob(b) => Scalar::Str(format!("{CURSOR_BLOB}{}", hex::encode(b))),
    }
}

fn build_query(t: &str, q: &Query) -> Sql {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let sort: Vec<(String, bool)> = q
        .sort
        .iter()
        .map(|k| (sort_expr(&k.field), k.descending))
        .collect();
    let sort_cols: String = sort.iter().map(|(e, _)| format!(", {e}")).collect();
    let cols = prefixed_cols();
    // Latest queries read the head table directly, so SQLite can use its expression indexes.
    let mut conds = Vec::new();
    let source = match q.as_of {
        None => format!("SELECT {cols}, h.shadow{sort_cols} FROM {t}_head AS h"),
        Some(as_of) => {
            let (col, bound) = match as_of {
                AsOf::Time(ts) => ("at", ts.micros()),
                AsOf::Cv(cv) => ("cv", cv.min(i64::MAX as u64) as i64),
            };
            let p = sql.bind(SqlValue::Integer(bound));
            conds.push(format!("h.cv = (SELECT MAX(v2.cv) FROM {t}_ver AS v2 WHERE v2.id = h.id AND v2.{col} <= {p})"));
            format!("SELECT {cols}, h.shadow{sort_cols} FROM {t}_ver AS h")
        }
    };
    if !q.include_deleted {
        conds.push("h.deleted = 0".to_string());
    }
    conds.push(compile(&mut sql, &q.filter));
    if let Some(cursor) = &q.after {
        // `Query` is public: a hand-built cursor may not fit the sort (decoded ones always do).
        if cursor.values.len() == sort.len() {
            conds.push(keyset(&mut sql, &sort, cursor));
        } else {
            conds.push("0".into());
        }
    }
    let id_desc = sort.last().map(|s| s.1).unwrap_or(false);
    let mut order: Vec<String> = sort
        .iter()
        .map(|(e, d)| format!("{e} {}", if *d { "DESC" } else { "ASC" }))
        .collect();
    order.push(format!("h.id {}", if id_desc { "DESC" } else { "ASC" }));
    let limit = sql.bind(SqlValue::Integer(q.limit as i64 + 1));
    sql.text = format!(
        "{source} WHERE {} ORDER BY {} LIMIT {limit}",
        conds.join(" AND "),
        order.join(", ")
    );
    sql
}

fn run_query(c: &mut Connection, t: &str, q: &Query) -> Result<QueryPage, MetaError> {
    let sql = build_query(t, q);
    let n_sort = q.sort.len();
    let mut st = c.prepare_cached(&sql.text).map_err(backend)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(sql.params.iter()), |r| {
            let head = read_head(r)?;
            let mut vals = Vec::with_capacity(n_sort);
            for i in 0..n_sort {
                vals.push(to_scalar(r.get::<_, SqlValue>(16 + i)?));
            }
            Ok(head.map(|h| (h, vals)))
        })
        .map_err(backend)?;
    let mut out: Vec<(Head, Vec<Scalar>)> = collect(rows)?;
    let next = if out.len() > q.limit {
        out.truncate(q.limit);
        out.last().map(|(h, vals)| Cursor {
            values: vals.clone(),
            id: h.version.id.clone(),
        })
    } else {
        None
    };
    Ok(QueryPage {
        rows: out.into_iter().map(|(h, _)| h).collect(),
        next,
    })
}

fn prefixed_cols() -> String {
    // Query results never need the indexed meta decoded (filters read `h.meta` directly).
    VER_COLS
        .split(", ")
        .map(|c| {
            if c == "meta" {
                "'{}' AS meta".to_string()
            } else {
                format!("h.{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{IndexSpec, DEFAULT_LIMIT};

    mod contract {
        use super::*;
        crate::meta::contract::contract_tests!(async {
            let dir = tempfile::tempdir().ok()?;
            let store: Arc<dyn MetadataStore> =
                Arc::new(SqliteStore::open(&dir.path().join("contract.sqlite")).ok()?);
            Some((store, dir))
        });
    }

    /// `durability` decides whether every commit syncs the log (FULL = 2) or not (NORMAL = 1).
    #[tokio::test]
    async fn durability_sets_the_sync_level() {
        let dir = tempfile::tempdir().unwrap();
        for (d, level) in [(Durability::PowerLoss, 2), (Durability::ProcessCrash, 1)] {
            let store =
                SqliteStore::open_with(&dir.path().join(format!("{level}.sqlite")), d).unwrap();
            let got: i64 = store
                .run(|c| {
                    c.query_row("PRAGMA synchronous", [], |r| r.get(0))
                        .map_err(backend)
                })
                .await
                .unwrap();
            assert_eq!(got, level, "{d:?}");
        }
    }

    /// Reads of a database that does not exist answer "nothing" and create no file; the
    /// first write creates it.
    #[tokio::test]
    async fn reads_create_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("ghost.sqlite");
        let store = SqliteStore::open(&path).unwrap();
        let spec = CollectionSpec {
            name: "users".into(),
            index: IndexSpec::default(),
        };
        assert!(store.get_head("users", "x").await.unwrap().is_none());
        assert!(store.get_version("users", "x", 0).await.unwrap().is_none());
        assert!(store
            .version_as_of("users", "x", AsOf::Cv(1))
            .await
            .unwrap()
            .is_none());
        assert!(store
            .history("users", "x", None, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .scan_heads("users", None, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.count_heads("users", None).await.unwrap(), 0);
        assert_eq!(store.cv_as_of("users", Timestamp::now()).await.unwrap(), 0);
        let everything = Query {
            filter: Filter::parse(&serde_json::json!({}), &spec.index).unwrap(),
            sort: vec![],
            limit: DEFAULT_LIMIT,
            after: None,
            as_of: None,
            include_deleted: true,
        };
        let page = store.query(&spec, &everything).await.unwrap();
        assert!(page.rows.is_empty());
        assert!(!path.exists() && !path.parent().unwrap().exists());
        store.ensure_collection(&spec).await.unwrap();
        assert!(path.exists());
    }

    /// Latest queries on an indexed property are index seeks, not table scans.
    #[tokio::test]
    async fn indexed_equality_uses_the_expression_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("x.sqlite")).unwrap();
        let spec = CollectionSpec {
            name: "orders".into(),
            index: IndexSpec {
                paths: vec![IndexedPath::parse("status")],
                excluded: vec![],
            },
        };
        store.ensure_collection(&spec).await.unwrap();
        let filter = Filter::parse(&serde_json::json!({"status": "open"}), &spec.index).unwrap();
        let q = Query {
            filter,
            sort: vec![],
            limit: DEFAULT_LIMIT,
            after: None,
            as_of: None,
            include_deleted: false,
        };
        let t = store.table("orders").await.unwrap().unwrap();
        let sql = build_query(&t, &q);
        let plan: Vec<String> = store
            .run(move |c| {
                let mut st = c
                    .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
                    .map_err(backend)?;
                let rows = st
                    .query_map(rusqlite::params_from_iter(sql.params.iter()), |r| {
                        r.get::<_, String>(3)
                    })
                    .map_err(backend)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(backend)
            })
            .await
            .unwrap();
        let plan = plan.join(" | ");
        assert!(
            plan.contains("USING INDEX") && plan.contains("_head_m_status"),
            "{plan}"
        );
    }
}
