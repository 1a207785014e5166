//! Embedded metadata store: one SQLite file per database, WAL mode.
//!
//! Layout per database file:
//! * `_chronos_collections(name, tbl)`: maps each collection to a table stem `c<N>`, so
//!   collection names never reach SQL text and names that differ only in case stay apart
//!   (SQLite compares identifiers without case, MongoDB does not);
//! * `_chronos_cv(tbl, cv)`: the collection version counter;
//! * `c<N>_ver`: one row per committed version, unique `(id, ov)` and `cv`, indexes
//!   `(id, at)` and `(id, cv)` so as-of reads are index seeks;
//! * `c<N>_head`: one row per item (the latest version plus its inline shadow), unique `id`,
//!   and two expression indexes per scalar indexed property `p`: `_m_` on the value and
//!   JSON type of `json_extract(meta, '$."p"')`, and `_sort_` on its sort key, which also
//!   carries the id, `deleted`, `op`, `at`, the writer's `actor` and `reason` (bounded) and
//!   the row's flat item as text (`page_item::page_columns`), so that a list page, JSON or
//!   typed, is read from the index alone;
//! * `_chronos_counts`, `_chronos_unique`, `_chronos_counter_marks`: counters (`counters.rs`).
//!
//! Both are rowid tables with their keys in unique indexes, not `WITHOUT ROWID` tables: their
//! rows are large (inline content), and a `WITHOUT ROWID` table stores whole rows in its
//! interior pages (`rebuild_with_rowid` says more, and moves tables written before).
//!
//! Commit point: the `COMMIT` of the `BEGIN IMMEDIATE` transaction in [`SqliteStore::commit`],
//! which checks the head (compare-and-set), bumps the cv, inserts the version row and writes
//! the head. A crash before it leaves nothing (SQLite rolls the journal back); after it, all.

mod compact;
mod connection;
mod counters;
mod erasure;
mod keys;
mod page_item;
mod query;
mod results;
mod retention;
mod rows;
#[cfg(test)]
mod tests;

use super::{
    ActorWindow, CollectionSpec, Committed, CommittedPage, Compaction, Expect, FlatPage, ItemPage,
    LeaseStore, MetaError, MetadataStore, QueryPage, RequestState, VersionAt, VersionWrite,
};
use crate::backend_error::BackendError;
use crate::config::Durability;
use crate::model::{Op, StoredVersion, Timestamp, VersionRecord};
use crate::query::{AsOf, Query};
use async_trait::async_trait;
use connection::{backend, open_connection};
use page_item::page_columns;
use query::{meta_expr, meta_type_expr, run_flat_query, run_item_query, run_query, sort_key_expr};
use rows::{collect, read_head, read_version, version_params, VER_COLS};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
            // An error (no permission) is an error, not "no database".
            let exists = path.try_exists().map_err(|e| {
                MetaError::Backend(BackendError::caused_by(
                    format!("cannot reach {}", path.display()),
                    &e,
                ))
            })?;
            if !create && !exists {
                return Ok(None);
            }
            open_connection(&path, durability).map(Some)
        })
        .await
        .map_err(|e| MetaError::Backend(BackendError::caused_by("sqlite worker failed", &e)))??;
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
        let conn = self.connection(true).await?.ok_or_else(|| {
            MetaError::Backend(BackendError::new("sqlite: the database was not opened"))
        })?;
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier call must not make the database unusable: SQLite itself
            // rolled back whatever that call had open.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| MetaError::Backend(BackendError::caused_by("sqlite worker failed", &e)))?
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

#[async_trait]
impl LeaseStore for SqliteStore {
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
}

/// The columns an upsert of the head sets: every column but the key, so the row keeps its
/// rowid and only the index entries whose values changed are rewritten.
static HEAD_UPDATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    VER_COLS
        .split(", ")
        .filter(|c| *c != "id")
        .chain(["shadow"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
});

/// Moves a table written by an earlier release as `WITHOUT ROWID` into a rowid table with
/// the column definitions `columns`, inside the caller's transaction (a crash leaves the old table whole).
///
/// Why the layout matters: a `WITHOUT ROWID` table keeps whole rows in its interior pages,
/// and with rows near 1 KB (inline content, lineage) an interior page holds about four of
/// them, so a lookup by id walks seven or eight levels at 100,000 items. A rowid table's
/// interior pages hold only integer keys (hundreds per page), and the id lives in a small
/// unique index, so a lookup is two short walks and a page of query results one short walk
/// per row. The old table's indexes go with it; the caller recreates them.
fn rebuild_with_rowid(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    columns: &str,
) -> Result<(), MetaError> {
    let sql: Option<String> = tx
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    let Some(sql) = sql else { return Ok(()) };
    if !sql.to_ascii_uppercase().contains("WITHOUT ROWID") {
        return Ok(());
    }
    tracing::info!(
        table,
        "moving a table to the rowid layout (one-time, in one transaction)"
    );
    let staging = format!("{table}_rowid_layout");
    tx.execute_batch(&format!(
        "DROP TABLE IF EXISTS {staging};
         CREATE TABLE {staging} ({columns});
         INSERT INTO {staging} ({VER_COLS}, shadow) SELECT {VER_COLS}, shadow FROM {table} ORDER BY id;
         DROP TABLE {table};
         ALTER TABLE {staging} RENAME TO {table};"
    ))
    .map_err(backend)
}

/// Version `ov` of item `id` in the collection whose tables are `t`.
fn version_by_ov(
    c: &Connection,
    t: &str,
    id: &str,
    ov: u64,
) -> Result<Option<StoredVersion>, MetaError> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {VER_COLS}, shadow FROM {t}_ver WHERE id = ?1 AND ov = ?2"
        ))
        .map_err(backend)?;
    st.query_row(params![id, ov as i64], read_head)
        .optional()
        .map_err(backend)?
        .transpose()
}

/// The latest version of item `id` at or before `as_of`.
fn version_at(
    c: &Connection,
    t: &str,
    id: &str,
    as_of: AsOf,
) -> Result<Option<StoredVersion>, MetaError> {
    let (sql, bound) = match as_of {
        AsOf::Time(ts) => (format!("SELECT {VER_COLS}, shadow FROM {t}_ver WHERE id = ?1 AND at <= ?2 ORDER BY at DESC, ov DESC LIMIT 1"), ts.micros()),
        AsOf::Cv(cv) => (format!("SELECT {VER_COLS}, shadow FROM {t}_ver WHERE id = ?1 AND cv <= ?2 ORDER BY cv DESC LIMIT 1"), cv.min(i64::MAX as u64) as i64),
    };
    let mut st = c.prepare_cached(&sql).map_err(backend)?;
    st.query_row(params![id, bound], read_head)
        .optional()
        .map_err(backend)?
        .transpose()
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
                    content_of INTEGER NOT NULL, request_id TEXT, shadow TEXT";
                rebuild_with_rowid(&tx, &format!("{stem}_ver"), cols)?;
                rebuild_with_rowid(&tx, &format!("{stem}_head"), cols)?;
                let mut ddl = format!(
                    "CREATE TABLE IF NOT EXISTS {stem}_ver ({cols});
                     CREATE UNIQUE INDEX IF NOT EXISTS {stem}_ver_id_ov ON {stem}_ver(id, ov);
                     CREATE UNIQUE INDEX IF NOT EXISTS {stem}_ver_cv ON {stem}_ver(cv);
                     CREATE INDEX IF NOT EXISTS {stem}_ver_id_at ON {stem}_ver(id, at);
                     CREATE INDEX IF NOT EXISTS {stem}_ver_id_cv ON {stem}_ver(id, cv);
                     CREATE INDEX IF NOT EXISTS {stem}_ver_at ON {stem}_ver(at);
                     CREATE INDEX IF NOT EXISTS {stem}_ver_rid ON {stem}_ver(request_id) WHERE request_id IS NOT NULL;
                     CREATE INDEX IF NOT EXISTS {stem}_ver_actor ON {stem}_ver(actor, at, cv) WHERE actor IS NOT NULL;
                     CREATE TABLE IF NOT EXISTS {stem}_head ({cols});
                     CREATE UNIQUE INDEX IF NOT EXISTS {stem}_head_id ON {stem}_head(id);
                     CREATE INDEX IF NOT EXISTS {stem}_head_at ON {stem}_head(at);
                     CREATE INDEX IF NOT EXISTS {stem}_head_cv ON {stem}_head(cv);"
                );
                let page = page_columns();
                let head_indexes: Vec<String> = tx
                    .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1")
                    .and_then(|mut st| {
                        st.query_map([format!("{stem}_head")], |r| r.get(0))?
                            .collect::<Result<_, _>>()
                    })
                    .map_err(backend)?;
                let mut replaced = Vec::new();
                for p in spec.index.paths.iter().filter(|p| !p.array) {
                    let name: String = p.dotted().chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' }).collect();
                    let hash = hex::encode(sha2_short(&p.dotted()));
                    // `_m_` (value, then JSON type) serves the comparisons a filter states on
                    // values; `_sort_` sorts, and serves the top-level comparisons of numbers
                    // and strings, stated on its key (`query::compile_on_sort_keys`). Only
                    // `_sort_` covers a flat page: one copy of the content per property.
                    // Its name ends with a hash of its columns: an index of the property's
                    // sort key under another name (the narrow `_s_` of databases written
                    // before it covered pages, or a `_sort_` of other columns) would leave
                    // pages uncovered, silently; it is dropped and its successor built in
                    // this transaction.
                    let sort_columns = format!("{}, id, deleted, {page}", sort_key_expr(p, "meta"));
                    let sort_index = format!("{stem}_head_sort_{name}_{hash}_{}", hex::encode(sha2_short(&sort_columns)));
                    let of_this_key = format!("{stem}_head_sort_{name}_{hash}");
                    let stale = |ix: &str| {
                        // Exactly this property's: another property's name may extend it.
                        let other_columns = ix.strip_prefix(&of_this_key).is_some_and(|rest| {
                            rest.is_empty()
                                || (rest.len() == 9
                                    && rest.starts_with('_')
                                    && rest[1..].bytes().all(|b| b.is_ascii_hexdigit()))
                        });
                        ix != sort_index && (other_columns || ix == format!("{stem}_head_s_{name}_{hash}"))
                    };
                    for old in head_indexes.iter().filter(|ix| stale(ix)) {
                        ddl.push_str(&format!("DROP INDEX {old};"));
                        replaced.push(old.clone());
                    }
                    ddl.push_str(&format!(
                        "CREATE INDEX IF NOT EXISTS {stem}_head_m_{name}_{hash} ON {stem}_head({}, {}, deleted, id);
                         CREATE INDEX IF NOT EXISTS {sort_index} ON {stem}_head({sort_columns});",
                        meta_expr(p),
                        meta_type_expr(p),
                    ));
                }
                if !replaced.is_empty() {
                    tracing::info!(
                        collection = %spec.name,
                        replaced = replaced.len(),
                        "rebuilding the collection's property sort indexes so that they cover list pages (once; takes a while on a large collection)"
                    );
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

    async fn health(&self) -> Result<Option<String>, MetaError> {
        // A check creates nothing: an existing file is opened and read; a missing one must
        // have a writable directory to be created in by the first write.
        if self.connection(false).await?.is_some() {
            return self
                .run(|c| {
                    c.query_row("SELECT COUNT(*) FROM _chronos_collections", [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .map_err(backend)
                })
                .await
                .map(|_| None);
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            crate::local_fs::writable_ancestor(&path).map_err(MetaError::Invalid)
        })
        .await
        .map_err(|e| MetaError::Backend(BackendError::caused_by("sqlite worker failed", &e)))?
        .map(|dir| {
            Some(format!(
                "ok (database file does not exist yet; the first write creates it under {})",
                dir.display()
            ))
        })
    }

    async fn get_head(&self, coll: &str, id: &str) -> Result<Option<StoredVersion>, MetaError> {
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
            tx.prepare_cached(&format!("INSERT INTO {t}_ver ({VER_COLS}, shadow) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"))
                .map_err(backend)?
                .execute(rusqlite::params_from_iter(p.iter()))
                .map_err(backend)?;
            tx.prepare_cached(&format!(
                "INSERT INTO {t}_head ({VER_COLS}, shadow) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)
                 ON CONFLICT(id) DO UPDATE SET {}",
                *HEAD_UPDATE
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

    async fn get_version(
        &self,
        coll: &str,
        id: &str,
        ov: u64,
    ) -> Result<Option<StoredVersion>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(None);
        };
        let id = id.to_string();
        self.run(move |c| version_by_ov(c, &t, &id, ov)).await
    }

    async fn find_request(
        &self,
        coll: &str,
        id: &str,
        request_id: &str,
    ) -> Result<RequestState, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(RequestState::Absent);
        };
        let (id, request_id) = (id.to_string(), request_id.to_string());
        self.run(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {VER_COLS} FROM {t}_ver WHERE request_id = ?1 AND id = ?2 ORDER BY ov LIMIT 1"
                ))
                .map_err(backend)?;
            // Rows are written by their commit's transaction: a row is a committed version.
            let found = st
                .query_row(params![request_id, id], read_version)
                .optional()
                .map_err(backend)?
                .transpose()?;
            Ok(found.map_or(RequestState::Absent, |v| {
                RequestState::Committed(Box::new(v))
            }))
        })
        .await
    }

    async fn version_and_erased(
        &self,
        coll: &str,
        id: &str,
        at: VersionAt,
    ) -> Result<(Option<StoredVersion>, bool), MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok((None, false));
        };
        let id = id.to_string();
        // One call: the head is read right after the version, as the trait asks (another
        // connection may still commit in between, which that order makes harmless).
        self.run(move |c| {
            let found = match at {
                VersionAt::Ov(ov) => version_by_ov(c, &t, &id, ov)?,
                VersionAt::AsOf(as_of) => version_at(c, &t, &id, as_of)?,
            };
            let head_op: Option<String> = c
                .prepare_cached(&format!("SELECT op FROM {t}_head WHERE id = ?1"))
                .map_err(backend)?
                .query_row([&id], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            Ok((found, head_op.as_deref() == Some(Op::Erase.as_str())))
        })
        .await
    }

    async fn version_as_of(
        &self,
        coll: &str,
        id: &str,
        as_of: AsOf,
    ) -> Result<Option<StoredVersion>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(None);
        };
        let id = id.to_string();
        self.run(move |c| version_at(c, &t, &id, as_of)).await
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

    async fn query_flat(
        &self,
        coll: &CollectionSpec,
        query: &Query,
        inline_since: Option<Timestamp>,
    ) -> Result<FlatPage, MetaError> {
        let Some(t) = self.table(&coll.name).await? else {
            return Ok(FlatPage::default());
        };
        let q = query.clone();
        self.run(move |c| run_flat_query(c, &t, &q, inline_since))
            .await
    }

    async fn compact(&self) -> Result<Option<Compaction>, MetaError> {
        // A database that does not exist yet is not created to be compacted.
        if self.connection(false).await?.is_none() {
            return Ok(None);
        }
        let path = self.path.clone();
        self.run(move |c| compact::compact(c, &path))
            .await
            .map(Some)
    }

    async fn query_items(
        &self,
        coll: &CollectionSpec,
        query: &Query,
        inline_since: Option<Timestamp>,
    ) -> Result<ItemPage, MetaError> {
        let Some(t) = self.table(&coll.name).await? else {
            return Ok(ItemPage::default());
        };
        let q = query.clone();
        self.run(move |c| run_item_query(c, &t, &q, inline_since))
            .await
    }

    async fn scan_heads(
        &self,
        coll: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredVersion>, MetaError> {
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

    async fn committed_after(
        &self,
        coll: &str,
        after: u64,
        limit: usize,
    ) -> Result<CommittedPage, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(CommittedPage::default());
        };
        let limit = limit.clamp(1, 100_000);
        self.run(move |c| {
            // Commits are serialised and each row lands with its cv in one transaction, so
            // every row below the newest one read is already there: the page is settled. The
            // page and the counter are read in one transaction (one snapshot): another
            // process's commit between the two reads would otherwise be settled unseen.
            let tx = c.transaction().map_err(backend)?;
            let mut versions = {
                let mut st = tx
                    .prepare_cached(&format!(
                        "SELECT {VER_COLS}, shadow FROM {t}_ver WHERE cv > ?1 ORDER BY cv LIMIT ?2"
                    ))
                    .map_err(backend)?;
                let rows = st
                    .query_map(
                        params![after.min(i64::MAX as u64) as i64, limit as i64 + 1],
                        read_head,
                    )
                    .map_err(backend)?;
                collect(rows)?
            };
            let more = versions.len() > limit;
            versions.truncate(limit);
            let settled = match (more, versions.last()) {
                (true, Some(last)) => last.version.cv,
                // Nothing above: settled up to the counter, past cvs a purge took.
                _ => tx
                    .query_row("SELECT cv FROM _chronos_cv WHERE tbl = ?1", [&t], |r| {
                        r.get::<_, i64>(0)
                    })
                    .optional()
                    .map_err(backend)?
                    .map(|cv| cv as u64)
                    .unwrap_or(after)
                    .max(after),
            };
            tx.commit().map_err(backend)?;
            Ok(CommittedPage {
                versions,
                settled,
                more,
            })
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

    async fn versions_by_actor(
        &self,
        coll: &str,
        actor: &str,
        window: &ActorWindow,
        limit: usize,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(vec![]);
        };
        let from = window.from.map_or(i64::MIN, Timestamp::micros);
        let to = window.to.map_or(i64::MAX, Timestamp::micros);
        let (before_at, before_cv) = window.before.map_or((i64::MAX, i64::MAX), |(at, cv)| {
            (at.micros(), cv.min(i64::MAX as u64) as i64)
        });
        let actor = actor.to_string();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.run(move |c| {
            // One range of the (actor, at, cv) index, read backwards.
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {VER_COLS} FROM {t}_ver WHERE actor = ?1 AND at >= ?2 AND at <= ?3 \
                     AND (at, cv) < (?4, ?5) ORDER BY at DESC, cv DESC LIMIT ?6"
                ))
                .map_err(backend)?;
            let rows = st
                .query_map(
                    params![actor, from, to, before_at, before_cv, limit],
                    read_version,
                )
                .map_err(backend)?;
            collect(rows)
        })
        .await
    }
}

fn sha2_short(s: &str) -> [u8; 4] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    [d[0], d[1], d[2], d[3]]
}
