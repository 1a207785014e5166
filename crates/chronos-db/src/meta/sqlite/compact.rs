//! Compacting a database file: one `VACUUM`, in this crate's page size.
//!
//! SQLite never gives a file's free pages back (the space of pruned versions, erased or
//! purged items stays in the file for later rows), and changes the page size of a file in
//! WAL mode only through a `VACUUM` outside WAL mode. The steps, and what a process that
//! dies (or a machine that loses power) at each leaves:
//!
//! 1. `wal_checkpoint(TRUNCATE)`: the log's pages are copied into the file and the log is
//!    emptied. Dying here loses nothing: the next open checkpoints the log again.
//! 2. `synchronous=FULL`, then `journal_mode=DELETE`: leaving WAL mode needs the file to
//!    itself (no other connection, in any process). Refused: nothing has changed, and the
//!    error says the file is in use. FULL because outside WAL mode a lesser setting could
//!    corrupt the file on power loss; the connection's setting comes back at step 4.
//! 3. `page_size`, then `VACUUM`: one transaction under a rollback journal, the commit
//!    point. Dying in it: the next open rolls the journal back to the file as it was after
//!    step 2. `VACUUM` builds the new content in a temporary file (in SQLite's temporary
//!    directory: `SQLITE_TMPDIR`, else `/var/tmp`, `/usr/tmp` or `/tmp`) and then
//!    rewrites the file under the journal: up to twice the file's size of free space.
//! 4. `journal_mode=WAL` and the connection's `synchronous` again: the mode every open sets
//!    (`connection::use_wal`), which also brings back a file a death after step 2 left in
//!    rollback-journal mode.

use super::connection::{backend, is_busy, use_wal, BUSY_WAIT, PAGE_SIZE};
use crate::backend_error::BackendError;
use crate::meta::{Compaction, MetaError};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// How long a step waits for another connection to let go of the file before compaction
/// gives up (the connection's usual wait is longer: writers take turns, compaction does
/// not wait for a server that keeps the file open).
const WAIT: Duration = Duration::from_secs(2);

/// Compacts the open database at `path` (see the module docs).
pub(super) fn compact(c: &mut Connection, path: &Path) -> Result<Compaction, MetaError> {
    let bytes_before = files_size(path)?;
    let page_size_before = page_size(c)?;
    let synchronous: i64 = c
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(backend)?;
    c.busy_timeout(WAIT).map_err(backend)?;
    let compacted = rewrite(c, path);
    let restored = c
        .pragma_update(None, "synchronous", synchronous)
        .and_then(|()| c.busy_timeout(BUSY_WAIT))
        .map_err(backend);
    compacted?;
    restored?;
    Ok(Compaction {
        bytes_before,
        bytes_after: files_size(path)?,
        page_size_before,
        page_size_after: page_size(c)?,
    })
}

/// Steps 1 to 4 but the connection's `synchronous`.
fn rewrite(c: &mut Connection, path: &Path) -> Result<(), MetaError> {
    let in_use = |e: Option<&rusqlite::Error>| {
        let message = format!(
            "{} is in use by another connection: compacting needs it to itself (stop the \
             processes that have it open, such as `chronos serve`, then compact again)",
            path.display()
        );
        MetaError::Unavailable(match e {
            Some(e) => BackendError::caused_by(message, e),
            None => BackendError::new(message),
        })
    };
    let refused = |e: rusqlite::Error| {
        if is_busy(&e) {
            in_use(Some(&e))
        } else {
            backend(e)
        }
    };
    let blocked: i64 = c
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .map_err(refused)?;
    if blocked != 0 {
        return Err(in_use(None));
    }
    c.pragma_update(None, "synchronous", "FULL")
        .map_err(backend)?;
    let mode: String = c
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(refused)?;
    if !mode.eq_ignore_ascii_case("delete") {
        // SQLite answers the mode it kept when it could not change it.
        return Err(in_use(None));
    }
    let vacuumed = c
        .pragma_update(None, "page_size", PAGE_SIZE)
        .and_then(|()| c.execute_batch("VACUUM"))
        .map_err(backend);
    let back = use_wal(c);
    vacuumed?;
    back
}

fn page_size(c: &Connection) -> Result<u32, MetaError> {
    c.query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(backend)
}

/// The bytes of the database file and its write-ahead log (when there is one).
fn files_size(path: &Path) -> Result<u64, MetaError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut total = 0;
    for file in [path.to_path_buf(), wal.into()] {
        match std::fs::metadata(&file) {
            Ok(m) => total += m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(MetaError::Backend(BackendError::caused_by(
                    format!("cannot read the size of {}", file.display()),
                    &e,
                )))
            }
        }
    }
    Ok(total)
}
