//! MongoDB metadata store (the official `mongodb` driver), safe without transactions.
//!
//! **Two commit paths.** Where the deployment has multi-document transactions (a replica set
//! or a sharded cluster, detected once per connection with `hello`), and config
//! `transactions` allows them, a commit runs its head read, version row, previous-row update
//! and head write in one transaction (`MongoStore::commit_in_transaction`): all or nothing.
//! Everywhere else, and for purges, it runs the protocol below, which needs no transaction.
//! Rows of both paths look alike, so processes of either kind can share a database; a
//! transactional commit that meets a row the protocol left at its slot hands over to it.
//!
//! It must work on servers without multi-document transactions (a standalone `mongod`,
//! FerretDB). FerretDB 1.24 (SQLite handler) does not even make single-document conditional
//! writes atomic: `update_one` / `replace_one` / `delete_one` with a filter and
//! `findAndModify` `$inc` read the document and then write it by `_id`, so two concurrent
//! compare-and-sets can both "succeed" (measured: most races of 8-12 clients had several
//! winners; 240 concurrent `$inc` returned 34 distinct values). Its one atomic primitive is an
//! insert under a unique index, so the protocol's safety rests on unique inserts alone:
//!
//! * **Slots.** A version row is inserted at its `(id, ov)` slot (unique index). Whoever
//!   inserts the row at `head.ov + 1` owns the item's only possible next state: nobody else
//!   can move the head, so the head write that follows is uncontended (I2).
//! * **Commit point.** The head write (an insert for a create, a replace filtered on `ov` and
//!   `fence` for an update) makes the row visible (I1). Until then readers ignore the row: a
//!   row is committed iff its ov is at most its head's ov (a closed row, `next_cv` set, has a
//!   committed successor, so it is committed too).
//! * **Roll forward, never take over.** A row at `head.ov + 1` written against the current
//!   head (its `base` = the head's fence) whose writer stalled or died (written more than 60 s
//!   ago) is committed *on its writer's behalf* by whoever meets it (a writer whose insert
//!   collides with it, or a reader); its writer, if alive, finds its row in the head (or the
//!   row above it written on it, `chain.rs`) and reports success. Rows are only deleted when
//!   nobody can ever commit them (their `base` fence is gone, fences being random per row),
//!   so no head points at a missing row.
//! * **cv.** Allocated by inserting `{_id: key(k)}`, k = top + 1, into `C_counter` (unique
//!   `_id`): unique and increasing in real time (I3). Each slot is taken right above one
//!   seen taken, so above the collection's *floor* (the highest of a document written once
//!   with the highest cv the data already held, and the floors compaction moves up) the taken
//!   ones form the prefix `floor+1..=top`: each process remembers the last slot it took and
//!   finds the top again with point lookups (galloping, then bisection) when it meets a taken
//!   slot, never with a scan or a sort.
//! * **Counter compaction** (every retention run): slots at or below a floor moved at least
//!   15 minutes earlier are deleted, and the floor moves up to the current top. A process
//!   whose top predates a compaction can find a deleted slot free and take it again: after
//!   every insert it checks its slots against the floor (re-read once its last read is 5
//!   minutes old, well inside the 15) and drops those at or below it (`cv.rs`).
//! * **Purge claim.** A purge first inserts a claim row at `head.ov + 1` (so no writer can
//!   move the head meanwhile), then deletes the head, the rows and the claim. Whoever meets
//!   a stale claim completes the purge.
//! * **As-of windows.** Each row records when it was superseded (`next_cv`, `next_at`), so the
//!   state as of X is the plain `find` `cv|at <= X && (next == null || next > X)`: FerretDB has
//!   neither `$group` `$first`/`$max`/`$push` nor `$replaceRoot`. `next_*` is written after the
//!   commit and can be lost (a crash, or FerretDB's last-writer-wins updates), so every as-of
//!   page is checked against the heads before it is returned: rows above their head are
//!   dropped, rows below it that are still open are closed and the page is read again.
//!
//! Layout per collection `C` (the names chronos-db v2.2 used):
//! * `C_head`: one document per item, `_id` = item id, the fields of its latest version
//!   (`ov, cv, op, at, actor, reason, function_id, payload_key, size, sha256, meta, lineage,
//!   deleted, content_of, shadow`) plus `fence` (random per version row, the row's own) and
//!   `row` (the `_id` of its version row). Indexes: `at`, `cv`, and one per indexed property on `meta.<path>` (scalar
//!   paths with `_id` as second key; array paths a plain multikey index).
//! * `C_ver`: one document per version: the same fields plus `id`, `base` (the fence of the
//!   head it was written against, `null` for a create), `base_row` (that head's `row`: the
//!   link that lets the chain of committed rows be checked from the rows alone, `chain.rs`),
//!   `fence` (the fence its head gets when it commits, so its writer and a roll-forward write
//!   the same head), `written` (the inserting process's
//!   clock), `committed` (set only when someone else rolled the row forward; readers decide
//!   by the head), `next_cv` and `next_at`. Purge claims are rows with `purge: true`. Unique index
//!   `(id, ov)`, indexes `(id, at, ov)`, `(id, cv)`, `(cv)`, `(at)`.
//! * `C_counter`: one `{_id: key(cv)}` per allocated cv, the cv as a 20-digit zero-padded
//!   string (string `_id`s are what FerretDB can look up without a scan). About 40 bytes per
//!   commit, next to a version row of several hundred, until a retention run compacts it (see
//!   the rule above). Plus `{_id: "floor", v}` and the moved floors `{_id: "floor@" +
//!   key(v), v, at}`.
//!
//! `at` is stored as i64 microseconds (BSON dates only have milliseconds). Indexed properties
//! (`meta`) are stored as BSON with ints as Int64 and floats as Double, so they round-trip;
//! object keys MongoDB/FerretDB cannot store (`$` prefix, `.`, NUL) are escaped with a `_%`
//! prefix that no queryable property name can have.

mod asof;
mod chain;
mod client;
mod codec;
mod counters;
mod cv;
mod erasure;
mod errors;
mod feed;
mod filter;
mod keys;
#[cfg(test)]
mod plans;
mod protocol;
mod results;
mod retention;
mod store;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_chain;
#[cfg(test)]
mod tests_requests;
mod txn;

pub(crate) use client::connect;
pub use txn::{detect_transactions, topology_of, Topology, TransactionPolicy};

use super::{
    ActorWindow, CollectionSpec, Committed, CommittedPage, Expect, LeaseStore, MetaError,
    MetadataStore, QueryPage, VersionAt, VersionWrite,
};
use crate::backend_error::BackendError;
use crate::model::{HeadMark, Lineage, Op, StoredVersion, Timestamp, VersionRecord};
use crate::query::{AsOf, CmpOp, Cursor, Field, Filter, IndexedPath, Query, Scalar};
use crate::redact::redact;
use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{self, doc, oid::ObjectId, Bson, Document};
use mongodb::error::{
    Error as DbError, ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use asof::*;
use chain::Chain;
use codec::*;
use cv::*;
use errors::*;
use filter::*;
use protocol::*;

/// An uncommitted version row written longer ago than this (by its writer's clock) is rolled
/// forward by whoever meets it: its writer is presumed stalled or dead. Safety never depends
/// on it; only liveness.
pub(super) const STALE_MICROS: i64 = 60_000_000;
/// A writer that took longer than this between starting to allocate its cv and inserting
/// its version row gives the cv up and allocates another: so no row can appear below a cv
/// that has been taken for longer than this (plus the insert's own transit), which is what
/// lets a counter catch-up settle past gaps (see `SETTLE_MICROS`).
pub(super) const CV_SLOT_TTL: Duration = Duration::from_secs(30);
/// A counter catch-up trusts that no version can still commit below a row written longer
/// ago than this (by the writer's clock): far above `CV_SLOT_TTL` and `STALE_MICROS`, so
/// only a stall or a clock skew of several minutes could break it.
pub(super) const SETTLE_MICROS: i64 = 600_000_000;
/// Times an as-of query is re-read after repairing what it met.
pub(super) const QUERY_ATTEMPTS: usize = 5;
/// How long a cv allocator trusts the counter floor it last read (see `cv.rs`).
pub(super) const CV_FLOOR_TRUST: Duration = Duration::from_secs(300);
/// Counter slots below a moved floor are deleted once the floor is this old: three times
/// `CV_FLOOR_TRUST`, so ten minutes of clock skew between processes stay harmless.
pub(super) const CV_COMPACTION_GRACE_MICROS: i64 = 900_000_000;
/// Longest a group of cv requests waits for its slots.
pub(super) const CV_ALLOCATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts of a transactional commit that meets write conflicts.
pub(super) const TXN_ATTEMPTS: u32 = 8;
/// Consecutive taken counter slots met one by one before looking the top up again.
pub(super) const CV_STEPS_BEFORE_SEARCH: usize = 2;
/// Prefix of a cursor value that is not a scalar (an object or array sort value), followed by
/// the hex of the BSON document `{v: value}`.
pub(super) const CURSOR_BSON: &str = "\u{0}bson:";
/// Prefix of an escaped object key (see [`escape_key`]).
pub(super) const KEY_ESCAPE: &str = "_%";
/// BSON type names in ascending sort order of the types JSON values can have
/// (null/missing < numbers < strings < objects < arrays < booleans).
pub(super) const TYPE_ORDER: [&str; 6] = ["null", "number", "string", "object", "array", "bool"];
/// The fields a head copies from its version row.
pub(super) const VERSION_KEYS: [&str; 15] = [
    "ov",
    "cv",
    "op",
    "at",
    "actor",
    "reason",
    "function_id",
    "payload_key",
    "size",
    "sha256",
    "meta",
    "lineage",
    "deleted",
    "content_of",
    "shadow",
];

/// A metadata store over one MongoDB database.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use chronos_db::meta::mongo::MongoStore;
/// let client = mongodb::Client::with_uri_str("mongodb://127.0.0.1:27017").await?;
/// let store = MongoStore::new(client, "app_db");
/// # let _ = store; Ok(()) }
/// ```
pub struct MongoStore {
    db: Database,
    transactions: TransactionPolicy,
    /// Per collection: this process's cv allocator.
    cv_allocators: std::sync::Mutex<HashMap<String, std::sync::Arc<CvAllocator>>>,
    cv_timing: CvTiming,
}

/// The three MongoDB collections of one chronos collection.
pub(super) struct Colls {
    head: Collection<Document>,
    ver: Collection<Document>,
    counter: Collection<Document>,
}

impl MongoStore {
    /// One client per connection ref is created by the caller and shared; this wraps one
    /// database. Commits use transactions when the deployment supports them (detected on the
    /// first commit); see [`MongoStore::with_transactions`].
    pub fn new(client: Client, db_name: &str) -> Self {
        MongoStore {
            db: client.database(db_name),
            transactions: TransactionPolicy::WhenSupported(Topology::default()),
            cv_allocators: std::sync::Mutex::default(),
            cv_timing: CvTiming::default(),
        }
    }

    /// Short floor trust and compaction grace, for tests that compact while writing.
    #[cfg(test)]
    fn with_cv_timing(mut self, timing: CvTiming) -> Self {
        self.cv_timing = timing;
        self
    }

    /// Sets when commits run in a transaction (pass one [`Topology`] per connection, so
    /// detection runs once per connection).
    pub fn with_transactions(mut self, policy: TransactionPolicy) -> Self {
        self.transactions = policy;
        self
    }

    /// Whether this store's commits run in a transaction (detecting the topology once).
    pub(super) async fn in_transactions(&self) -> Result<bool, MetaError> {
        match &self.transactions {
            TransactionPolicy::Never => Ok(false),
            TransactionPolicy::Always => Ok(true),
            TransactionPolicy::WhenSupported(topology) => {
                Ok(topology_of(topology, self.db.client()).await?.is_some())
            }
        }
    }

    pub(super) fn colls(&self, coll: &str) -> Colls {
        Colls {
            head: self.db.collection(&format!("{coll}_head")),
            ver: self.db.collection(&format!("{coll}_ver")),
            counter: self.db.collection(&format!("{coll}_counter")),
        }
    }
}
