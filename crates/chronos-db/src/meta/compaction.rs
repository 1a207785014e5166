//! What compacting a metadata database did ([`super::MetadataStore::compact`]).

use serde::Serialize;

/// What [`super::MetadataStore::compact`] did to one database.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use chronos_db::meta::{sqlite::SqliteStore, MetadataStore};
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
/// // A database not created yet has nothing to compact (and is not created).
/// assert_eq!(store.compact().await.unwrap(), None);
/// assert!(!dir.path().join("db.sqlite").exists());
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compaction {
    /// The bytes of the database's files before (on SQLite the file and its write-ahead log).
    pub bytes_before: u64,
    /// The bytes of its files after.
    pub bytes_after: u64,
    /// The page size before, in bytes.
    pub page_size_before: u32,
    /// The page size after, in bytes: the one the backend creates databases with.
    pub page_size_after: u32,
}
