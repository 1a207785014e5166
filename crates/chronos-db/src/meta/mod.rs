//! The metadata store: heads, the version index and collection versions.
//!
//! One trait, one module per backend. The operations layer drives the write protocol
//! (payload objects first, then [`MetadataStore::commit`]); each backend makes `commit`
//! atomic in its own way. The invariants every backend keeps:
//!
//! * **I1 — the commit point.** `commit` is all-or-nothing: either the version row, the new
//!   head and the new cv are all visible, or none is. A reader never sees a head whose version
//!   row is missing, nor a version row of a write whose head compare-and-set lost.
//! * **I2 — compare-and-set.** `commit` only succeeds when the head is in the state the writer
//!   read (`Expect::Absent` or `Expect::Ov(n)`); otherwise it returns `Conflict` /
//!   `AlreadyExists` and changes nothing. So ov is contiguous per item: 0, 1, 2, ...
//! * **I3 — cv.** Each commit allocates a cv strictly greater than every earlier cv of the
//!   collection; gaps are allowed.
//! * **I4 — time.** A version's `at` is never earlier than the previous version's `at` of the
//!   same item (the writer passes `max(now, head.at)`), so "latest version with at <= T" is a
//!   single index seek.

mod compaction;
#[cfg(test)]
pub(crate) mod contract;
mod counters;
mod erasure;
mod flat;
mod keys;
pub mod mongo;
mod open;
mod results;
mod retention;
pub mod sqlite;

pub use compaction::Compaction;
pub(crate) use counters::unique_row_key;
pub use counters::{
    CommittedPage, CountedVersion, CounterMark, CounterStore, CounterTotals, UniqueValue,
};
pub use erasure::ErasureStore;
pub(crate) use flat::FlatColumns;
pub use flat::{FlatPage, FlatRow, ItemPage, ItemRow};
pub use keys::{KeyStore, WrappedKey};
pub use open::MetadataLayer;
pub(crate) use open::MetadataStores;
pub use results::{AnalyticsResult, ResultFilter, ResultStore};
pub use retention::{RetentionHorizon, RetentionStore};

use crate::backend_error::BackendError;

/// Which of an actor's versions [`MetadataStore::versions_by_actor`] returns: commit times
/// within `[from, to]` (each bound optional) and, to page, strictly older than `before` in
/// the listing's order (commit time, then cv).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActorWindow {
    /// Committed at or after this time.
    pub from: Option<Timestamp>,
    /// Committed at or before this time.
    pub to: Option<Timestamp>,
    /// The `(at, cv)` of the last version of the previous page.
    pub before: Option<(Timestamp, u64)>,
}
use crate::model::{Op, StoredVersion, Timestamp, VersionRecord};
use crate::query::{AsOf, Cursor, IndexSpec, Query};
use async_trait::async_trait;

/// What a metadata backend can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// The head is not in the expected state; `current_ov` is `None` when the item is absent.
    #[error("the item changed concurrently (current ov {current_ov:?})")]
    Conflict {
        /// The item's current ov; `None` when the item is absent.
        current_ov: Option<u64>,
    },
    /// A create found the id taken.
    #[error("the id is already taken")]
    AlreadyExists,
    /// The request itself is invalid for this backend.
    #[error("{0}")]
    Invalid(String),
    /// The backend cannot be reached or timed out; a commit's outcome is unknown.
    #[error("backend unavailable: {0}")]
    Unavailable(#[source] BackendError),
    /// Any other backend failure.
    #[error("backend error: {0}")]
    Backend(#[source] BackendError),
    /// A stored row cannot be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// The head state a commit requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The item must not exist (create).
    Absent,
    /// The item's head must be at this ov.
    Ov(u64),
}

/// One version to commit. `version.cv` is ignored: the store allocates it.
#[derive(Debug, Clone)]
pub struct VersionWrite {
    /// The version to commit (its `cv` is ignored).
    pub version: VersionRecord,
    /// The head state the commit requires (compare-and-set).
    pub expect: Expect,
    /// The mark of the head the caller read and wrote against (`StoredVersion::mark`), if
    /// any: lets a backend skip reading the head again. It never replaces the
    /// compare-and-set on `expect`.
    pub seen: Option<crate::model::HeadMark>,
    /// The content as JSON text, kept inline with the version and head when given.
    pub shadow: Option<String>,
    /// `false` when versioning is disabled: earlier versions of the item are removed in the
    /// same commit and returned, so their payload objects can be deleted afterwards.
    pub keep_history: bool,
}

/// What [`MetadataStore::find_request`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestState {
    /// No version row carries the request id.
    Absent,
    /// A committed version carries it.
    Committed(Box<VersionRecord>),
    /// A version row carries it, but its commit has not completed (MongoDB without
    /// transactions: a row above the head). Its writer, or a writer that meets it, will
    /// commit it; until then the request's outcome is unknown.
    Committing,
}

/// The outcome of a successful commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The collection version allocated to the commit.
    pub cv: u64,
    /// Versions removed by this commit (only when `keep_history` was false).
    pub dropped: Vec<VersionRecord>,
}

/// A version of one item, named by its ov or by an as-of point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionAt {
    /// The version with this ov.
    Ov(u64),
    /// The latest version committed at or before this point.
    AsOf(AsOf),
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    /// Matching versions (the head's for latest queries, the as-of version otherwise).
    pub rows: Vec<StoredVersion>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// A collection as the store needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionSpec {
    /// The collection name.
    pub name: String,
    /// Which properties are indexed (and may be filtered and sorted on).
    pub index: IndexSpec,
}

/// Per-item leases that serialise writers across processes and servers (`locks.enabled`):
/// a capability of its own, which every metadata store provides.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes (or renews, when `owner` already holds it) the lease on an item for `lease`.
    /// Returns false when another owner holds an unexpired lease. An expired lease is taken
    /// over: that is how a crashed holder's lease ends.
    async fn acquire_lease(
        &self,
        coll: &str,
        id: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, MetaError>;

    /// Gives a lease back; a lease held by someone else (or already gone) is left alone.
    async fn release_lease(&self, coll: &str, id: &str, owner: &str) -> Result<(), MetaError>;
}

/// The metadata-store interface. Collection names are already validated by the caller.
#[async_trait]
pub trait MetadataStore:
    LeaseStore + CounterStore + ResultStore + RetentionStore + ErasureStore + KeyStore
{
    /// Checks that the backend answers (used by `chronos config check --connect`).
    async fn ping(&self) -> Result<(), MetaError> {
        Ok(())
    }

    /// [`MetadataStore::ping`], plus what an operator should know about this backend as
    /// configured (e.g. whether commits run in transactions). An error when the backend
    /// answers but cannot work as configured.
    async fn health(&self) -> Result<Option<String>, MetaError> {
        self.ping().await.map(|()| None)
    }

    /// Creates the collection's tables/collections and indexes if missing. Called once per
    /// process per collection, before its first write.
    async fn ensure_collection(&self, coll: &CollectionSpec) -> Result<(), MetaError>;

    /// The head of an item, or `None`.
    async fn get_head(&self, coll: &str, id: &str) -> Result<Option<StoredVersion>, MetaError>;

    /// Atomically allocates a cv, inserts the version row and moves the head (see I1-I4).
    async fn commit(&self, coll: &str, write: VersionWrite) -> Result<Committed, MetaError>;

    /// Removes an item's head and every version (hard delete), if the head is at
    /// `expected_ov`. Returns the new cv and the removed versions.
    async fn purge_item(
        &self,
        coll: &str,
        id: &str,
        expected_ov: u64,
    ) -> Result<(u64, Vec<VersionRecord>), MetaError>;

    /// One committed version of an item, with its inline content when it has one.
    async fn get_version(
        &self,
        coll: &str,
        id: &str,
        ov: u64,
    ) -> Result<Option<StoredVersion>, MetaError>;

    /// Whether a version of an item carries `request_id` (the first, should a request id have
    /// been reused), and whether it is committed.
    async fn find_request(
        &self,
        coll: &str,
        id: &str,
        request_id: &str,
    ) -> Result<RequestState, MetaError>;

    /// The version `at` names (an ov, or an as-of point: see [`MetadataStore::get_version`]
    /// and [`MetadataStore::version_as_of`]), and whether the item is erased (its head an
    /// erasure's tombstone) at a point within the call that is no earlier than the version's
    /// read, or, when an unscrubbed version is found, at the head read that decided it
    /// committed (only an erasure's scrub changes a version row, after its tombstone
    /// committed): a reader then never returns a version as if the item existed when it was
    /// already erased, nor takes a row removed meanwhile for one that never existed. One
    /// round trip where the backend can (SQLite); this default makes two (the head read after
    /// the version).
    async fn version_and_erased(
        &self,
        coll: &str,
        id: &str,
        at: VersionAt,
    ) -> Result<(Option<StoredVersion>, bool), MetaError> {
        let found = match at {
            VersionAt::Ov(ov) => self.get_version(coll, id, ov).await?,
            VersionAt::AsOf(as_of) => self.version_as_of(coll, id, as_of).await?,
        };
        let head = self.get_head(coll, id).await?;
        Ok((found, head.is_some_and(|h| h.version.op == Op::Erase)))
    }

    /// The latest committed version with `at <= T` (or `cv <= N`), with its inline content.
    async fn version_as_of(
        &self,
        coll: &str,
        id: &str,
        as_of: AsOf,
    ) -> Result<Option<StoredVersion>, MetaError>;

    /// Versions newest first, strictly below `before_ov` when given.
    async fn history(
        &self,
        coll: &str,
        id: &str,
        before_ov: Option<u64>,
        limit: usize,
    ) -> Result<Vec<VersionRecord>, MetaError>;

    /// Runs a validated query (filter, sort, keyset page, optional as-of).
    async fn query(&self, coll: &CollectionSpec, query: &Query) -> Result<QueryPage, MetaError>;

    /// [`MetadataStore::query`] for readers that pass JSON on: each row whose inline
    /// content was committed at or after `inline_since` (none when `None`) comes back as the
    /// item's flat JSON text ([`FlatRow::Flat`]), the others as stored versions. A backend
    /// that can build the text while reading its rows saves decoding each row into a
    /// [`StoredVersion`]; this default builds it from [`MetadataStore::query`]'s rows.
    async fn query_flat(
        &self,
        coll: &CollectionSpec,
        query: &Query,
        inline_since: Option<Timestamp>,
    ) -> Result<FlatPage, MetaError> {
        let page = self.query(coll, query).await?;
        Ok(FlatPage {
            rows: page
                .rows
                .into_iter()
                .map(|row| FlatRow::of(row, inline_since))
                .collect(),
            next: page.next,
        })
    }

    /// [`MetadataStore::query`] for typed readers: a backend that can decode a row's item
    /// while reading it (from the row's inline content committed at or after
    /// `inline_since`; none when `None`) hands it out as [`ItemRow::Item`], sparing the
    /// reader the stored version; the other rows come as [`ItemRow::Stored`]. This default
    /// hands out every row stored.
    async fn query_items(
        &self,
        coll: &CollectionSpec,
        query: &Query,
        inline_since: Option<Timestamp>,
    ) -> Result<ItemPage, MetaError> {
        let _ = inline_since;
        let page = self.query(coll, query).await?;
        Ok(ItemPage {
            rows: page
                .rows
                .into_iter()
                .map(|row| ItemRow::Stored(Box::new(row)))
                .collect(),
            next: page.next,
        })
    }

    /// Rewrites the database compactly, in the backend's current storage format: on SQLite
    /// the space of removed rows (pruned versions, erased or purged items) goes back to the
    /// file system and the file takes the page size new files get. It needs the database to
    /// itself: while another connection (another process) has it open, it fails and
    /// changes nothing. `None` when there is nothing to compact: the database does not
    /// exist yet, or the backend manages its storage itself (MongoDB). No default: a
    /// wrapper that did not forward it would turn compaction into a silent no-op.
    async fn compact(&self) -> Result<Option<Compaction>, MetaError>;

    /// Heads in id order after `after_id` (deleted ones included), for collection-wide jobs.
    async fn scan_heads(
        &self,
        coll: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredVersion>, MetaError>;

    /// Number of heads (deleted ones included), only those after `after_id` in the order of
    /// [`MetadataStore::scan_heads`] when given.
    async fn count_heads(&self, coll: &str, after_id: Option<&str>) -> Result<u64, MetaError>;

    /// Committed versions with `cv > after`, ascending, at most `limit` (with their inline
    /// content): what a counter catch-up reads. `settled` says how far a catch-up may trust
    /// that nothing below will still commit: the last cv returned where commits are
    /// serialised (SQLite, transactions), less where a slow writer's row can still commit
    /// below a newer one (MongoDB's protocol).
    async fn committed_after(
        &self,
        coll: &str,
        after: u64,
        limit: usize,
    ) -> Result<CommittedPage, MetaError>;

    /// Committed versions with `cv > after`, ascending, at most `limit` (with their inline
    /// content), for a change feed: `settled` is the visibility watermark, below which every
    /// version was returned by this page or an earlier one and none can still commit. Unlike
    /// [`MetadataStore::committed_after`] it does not wait out a time bound where the store
    /// can see what is in flight (MongoDB: the cv slots and rows, `meta/mongo/feed.rs`). The
    /// default is `committed_after`, exact where commits are serialised (SQLite).
    async fn visible_after(
        &self,
        coll: &str,
        after: u64,
        limit: usize,
    ) -> Result<CommittedPage, MetaError> {
        self.committed_after(coll, after, limit).await
    }

    /// The highest cv committed at or before `at` (0 when none).
    async fn cv_as_of(&self, coll: &str, at: Timestamp) -> Result<u64, MetaError>;

    /// Committed versions whose `actor` is `actor`, newest first (commit time, then cv),
    /// within `window`, at most `limit`. Served by an `(actor, at, cv)` index on every
    /// backend, so its cost does not grow with the versions of other actors. (A store that
    /// cannot answer it keeps this default, which says so.)
    async fn versions_by_actor(
        &self,
        coll: &str,
        actor: &str,
        window: &ActorWindow,
        limit: usize,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        let _ = (coll, actor, window, limit);
        Err(MetaError::Invalid(
            "this metadata store cannot list versions by actor".into(),
        ))
    }

    /// The payload keys of every version row of an item, committed or not yet: what the
    /// orphan sweeper must keep. Backends whose rows are all committed (SQLite writes row and
    /// head in one transaction) can rely on this default.
    async fn payload_keys(&self, coll: &str, id: &str) -> Result<Vec<String>, MetaError> {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = self.history(coll, id, before, 1000).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.ov);
            let full = page.len() == 1000;
            out.extend(page.into_iter().map(|v| v.payload_key));
            if !full {
                break;
            }
        }
        Ok(out)
    }
}
