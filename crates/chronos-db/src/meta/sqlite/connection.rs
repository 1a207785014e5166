//! Opening a database file: its bookkeeping tables, sync level and SQL functions; how
//! SQLite errors map to [`MetaError`].

use super::super::MetaError;
use super::page_item;
use crate::backend_error::BackendError;
use crate::config::Durability;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;

pub(super) fn backend(e: rusqlite::Error) -> MetaError {
    if is_busy(&e) {
        MetaError::Unavailable(BackendError::caused_by("sqlite is busy", &e))
    } else {
        MetaError::Backend(BackendError::caused_by("sqlite", &e))
    }
}

/// Whether `e` says another connection holds a lock the statement needed.
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// The page size of a metadata database file this crate creates (bytes). The bench's raw
/// floor (`chronos-bench`, `floors.rs`) creates its file with the same value.
pub(super) const PAGE_SIZE: u32 = 8192;

/// How long a statement waits for another connection's lock on the file (writers of
/// several processes take turns).
pub(super) const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Creates (if needed) and opens the database file with its bookkeeping tables.
pub(super) fn open_connection(
    path: &Path,
    durability: Durability,
) -> Result<Connection, MetaError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            MetaError::Backend(BackendError::caused_by(
                format!("cannot create {}", dir.display()),
                &e,
            ))
        })?;
    }
    let conn = Connection::open(path).map_err(backend)?;
    // Before any statement: the sort indexes call `chronos_page_item_v1`, so even a write
    // to a head table needs it.
    register_regexp(&conn)?;
    register_page_item(&conn)?;
    // Before anything that takes a lock: two tasks opening a new database at once must wait
    // for each other, not fail. The tables are created in an IMMEDIATE transaction, which
    // takes the write lock up front (waiting for it): a statement that first reads the
    // schema and then upgrades to write would get SQLITE_BUSY at once, without waiting,
    // from SQLite's deadlock rule.
    conn.busy_timeout(BUSY_WAIT).map_err(backend)?;
    // Before WAL and the first table: only a new, empty file takes a page size (an existing
    // one keeps its own, and works the same). Why 8 KiB, not SQLite's 4 KiB: a sort index
    // entry carries the row's flat item (see `page_item`), so a 4 KiB leaf holds about six
    // of them and a page of 50 walked about nine leaves, most of them read by system calls
    // once the indexes outgrow the cache; at 8 KiB a list page read about a fifth faster
    // (indexed equality 47-51 µs against 58, range with a sort 58-62 against 75, 100,000
    // items, same machine, alternating runs), while a write, which rewrites whole pages
    // into the log, cost about the same.
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(backend)?;
    use_wal(&conn)?;
    // Memory per open database, 32 MiB in all: the first 16 MiB of the file read through a
    // memory map, and a 16 MiB page cache (SQLite's default is 2 MiB) for the rest. Once a
    // database outgrows the map, a query's hot pages (the index it walks, the tables'
    // interior pages) come from the cache; with 2 MiB they were read again by system calls,
    // a quarter of a sorted range page's time at 100,000 items. Both are filled only as
    // pages are read, and both count as the process's resident memory.
    conn.execute_batch(
        "PRAGMA foreign_keys=OFF;
         PRAGMA mmap_size=16777216;
         PRAGMA cache_size=-16384;
         BEGIN IMMEDIATE;
         CREATE TABLE IF NOT EXISTS _chronos_collections (name TEXT PRIMARY KEY, tbl TEXT NOT NULL UNIQUE) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_cv (tbl TEXT PRIMARY KEY, cv INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_locks (coll TEXT NOT NULL, id TEXT NOT NULL, owner TEXT NOT NULL,
             expires INTEGER NOT NULL, PRIMARY KEY (coll, id)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_counts (coll TEXT NOT NULL, cv INTEGER NOT NULL, id TEXT NOT NULL,
             ov INTEGER NOT NULL, op TEXT NOT NULL, at INTEGER NOT NULL, rules TEXT NOT NULL,
             PRIMARY KEY (coll, cv)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_counter_marks (coll TEXT PRIMARY KEY, through INTEGER NOT NULL,
             floor INTEGER NOT NULL, last_at INTEGER) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_counter_totals (coll TEXT NOT NULL, rule TEXT NOT NULL, op TEXT NOT NULL,
             n INTEGER NOT NULL, PRIMARY KEY (coll, rule, op)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_keys (kid TEXT PRIMARY KEY, scope TEXT NOT NULL, wrapped BLOB NOT NULL,
             master_id TEXT NOT NULL, created_at INTEGER NOT NULL, destroyed INTEGER NOT NULL) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS _chronos_keys_scope ON _chronos_keys(scope, created_at);
         CREATE TABLE IF NOT EXISTS _chronos_retention (coll TEXT NOT NULL, id TEXT NOT NULL, ov INTEGER NOT NULL,
             at INTEGER NOT NULL, cv INTEGER NOT NULL, PRIMARY KEY (coll, id, ov)) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS _chronos_retention_at ON _chronos_retention(coll, at);
         CREATE INDEX IF NOT EXISTS _chronos_retention_cv ON _chronos_retention(coll, cv);
         CREATE TABLE IF NOT EXISTS _chronos_results (tbl TEXT NOT NULL, k TEXT NOT NULL, rule TEXT NOT NULL,
             collection TEXT NOT NULL, tenant TEXT NOT NULL, timeframe TEXT, bucket INTEGER, doc TEXT NOT NULL,
             PRIMARY KEY (tbl, k)) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS _chronos_results_bucket ON _chronos_results(tbl, bucket);
         CREATE TABLE IF NOT EXISTS _chronos_unique_totals (coll TEXT NOT NULL, rule TEXT NOT NULL, prop TEXT NOT NULL,
             n INTEGER NOT NULL, PRIMARY KEY (coll, rule, prop)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _chronos_unique (coll TEXT NOT NULL, rule TEXT NOT NULL, prop TEXT NOT NULL,
             k TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (coll, rule, prop, k));
         COMMIT;",
    )
    .map_err(backend)?;
    add_request_ids(&conn)?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::PowerLoss => "FULL",
            Durability::ProcessCrash => "NORMAL",
        },
    )
    .map_err(backend)?;
    // Plans that do not depend on bound values: otherwise (this SQLite is built with STAT4)
    // every cached query statement is re-prepared whenever its parameters change, which
    // was a tenth of a list page's time. The queries' indexes do not need value statistics.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(backend)?;
    Ok(conn)
}

/// Switches the database to WAL. The switch needs the database to itself and SQLite does
/// not wait for that (no busy handler), so while another connection is opening the same new
/// database it is retried for up to the busy timeout; a database already in WAL needs
/// nothing.
pub(super) fn use_wal(conn: &Connection) -> Result<(), MetaError> {
    let deadline = std::time::Instant::now() + BUSY_WAIT;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let mode = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .map(|m| m.eq_ignore_ascii_case("wal"));
        let busy = mode.as_ref().is_err_and(is_busy);
        match mode {
            Ok(true) => return Ok(()),
            Ok(false) | Err(_)
                if (busy || mode.is_ok()) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            Ok(false) => {
                return Err(MetaError::Unavailable(BackendError::new(
                    "sqlite: the database could not be switched to WAL",
                )))
            }
            Err(e) => return Err(backend(e)),
        }
    }
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

/// Registers [`page_item::PAGE_ITEM_FN`], which the head tables' sort indexes call (see
/// [`page_item::page_item_of`]). Deterministic, so SQLite may index it, and innocuous (it only
/// formats its arguments), so it may be used from the schema whatever `trusted_schema`
/// says.
fn register_page_item(conn: &Connection) -> Result<(), MetaError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        page_item::PAGE_ITEM_FN,
        8,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let args: [rusqlite::types::ValueRef<'_>; 8] = std::array::from_fn(|i| ctx.get_raw(i));
            Ok(page_item::page_item_of(&args))
        },
    )
    .map_err(backend)
}

/// Adds the `request_id` column to the collection tables an earlier release wrote without it,
/// in one transaction when opening the file, so that reads work before any write. Versions
/// written before have no request id (`NULL`).
fn add_request_ids(conn: &Connection) -> Result<(), MetaError> {
    // IMMEDIATE: two processes opening the file at once take turns (busy timeout), and
    // the second finds the column there.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let stems: Vec<String> = {
        let mut st = tx
            .prepare("SELECT tbl FROM _chronos_collections")
            .map_err(backend)?;
        let rows = st.query_map([], |r| r.get(0)).map_err(backend)?;
        rows.collect::<rusqlite::Result<_>>().map_err(backend)?
    };
    let mut added = false;
    for stem in stems {
        for table in [format!("{stem}_ver"), format!("{stem}_head")] {
            let columns: Vec<String> = {
                let mut st = tx
                    .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .map_err(backend)?;
                let rows = st.query_map([], |r| r.get(0)).map_err(backend)?;
                rows.collect::<rusqlite::Result<_>>().map_err(backend)?
            };
            if columns.is_empty() || columns.iter().any(|c| c == "request_id") {
                continue;
            }
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN request_id TEXT"))
                .map_err(backend)?;
            added = true;
        }
    }
    if added {
        tracing::info!("added the request_id column to tables of an earlier release");
    }
    tx.commit().map_err(backend)
}
