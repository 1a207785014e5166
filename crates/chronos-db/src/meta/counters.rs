//! Exact counters as a store capability: every number is a count of insert-only rows with
//! unique keys, so recording twice (a retry, a catch-up after a crash) never counts twice,
//! and no number depends on an update being atomic (FerretDB's conditional updates are not).
//!
//! * a **counted version** row per `(counter key, cv)` (a cv names one commit of one
//!   collection, also across a hard delete and a new item with the same id): its item, ov,
//!   operation, time and the names of the counter rules it matched;
//! * a **distinct value** row per `(counter key, rule, property, value)`, keyed by the
//!   SHA-256 of the three (values may be long; their canonical JSON text is kept beside it);
//! * a **mark** per counter key: `through`, a cv up to which every committed version is known
//!   to be counted (a hint: a mark that goes back only makes a catch-up re-check more rows),
//!   and `floor`, the cv of the last reset (versions at or below it never count).
//!
//! Totals are counts over those rows with `cv > floor`. The counter key is the collection's
//! name when the counters live in its own database, and `<dbName>.<collection>` in a shared
//! analytics database. Which versions are counted, and when, is decided above the stores
//! (`ops/counting.rs`).

use super::MetaError;
use crate::model::{Op, StoredVersion, Timestamp};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A committed version, as counted.
#[derive(Debug, Clone, PartialEq)]
pub struct CountedVersion {
    /// The item.
    pub id: String,
    /// Its version.
    pub ov: u64,
    /// The collection version of its commit.
    pub cv: u64,
    /// The version's operation.
    pub op: Op,
    /// Its commit time.
    pub at: Timestamp,
    /// The counter rules it matched.
    pub rules: Vec<String>,
    /// Whether a catch-up could count it again from its version row. A hard delete leaves
    /// no row, so its record must reach the disk on its own (SQLite flushes it).
    pub replayable: bool,
}

/// One distinct value a counted version adds: the rule, the property (its full dotted
/// path) and the value's canonical JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueValue {
    /// The counter rule.
    pub rule: String,
    /// The property's dotted path.
    pub property: String,
    /// The canonical JSON text of the value.
    pub value: String,
}

/// What the counted rows of one counter key add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CounterTotals {
    /// Counted versions per operation (`CREATE`, `UPDATE`, ...).
    pub by_op: BTreeMap<String, u64>,
    /// Per rule, its counted versions per operation.
    pub by_rule: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per rule, per property, the number of distinct values.
    pub unique: BTreeMap<String, BTreeMap<String, u64>>,
    /// The latest commit time counted.
    pub last_at: Option<Timestamp>,
}

/// A counter key's progress (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterMark {
    /// Every committed version with `floor < cv <= through` is counted.
    pub through: u64,
    /// The cv of the last reset: versions at or below it are not counted.
    pub floor: u64,
}

/// Committed versions of a collection in cv order (see
/// [`super::MetadataStore::committed_after`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommittedPage {
    /// Committed versions with a cv above the one asked for, ascending, with inline content.
    pub versions: Vec<StoredVersion>,
    /// A cv at or below which no version can still commit that this page (or an earlier
    /// one) did not return: the highest a catch-up may move its mark to.
    pub settled: u64,
    /// Whether versions above the last one returned remain.
    pub more: bool,
}

/// The key of a distinct value row: the SHA-256 (hex) of rule, property and value, each
/// length-prefixed so that no two triples share a key.
pub(crate) fn unique_row_key(rule: &str, property: &str, value: &str) -> String {
    let mut h = Sha256::new();
    for part in [rule, property, value] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Counted versions, distinct values and marks (see the module docs).
#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Creates what the key's counters need (indexes) if missing. Called once per process
    /// per key, before its first record.
    async fn ensure_counters(&self, _key: &str) -> Result<(), MetaError> {
        Ok(())
    }

    /// Records a counted version and the distinct values it adds; `false` when its cv was
    /// recorded before, or is at or below the key's floor (a record racing a reset). The
    /// values are written first, so a counted row is never visible without them; values
    /// already there are left alone.
    async fn record_counted(
        &self,
        key: &str,
        entry: &CountedVersion,
        values: &[UniqueValue],
    ) -> Result<bool, MetaError>;

    /// The cvs of the counted rows with `after < cv <= through`, ascending.
    async fn counted_cvs(&self, key: &str, after: u64, through: u64)
        -> Result<Vec<u64>, MetaError>;

    /// The key's mark (zeros when it has none; reading creates nothing).
    async fn counter_mark(&self, key: &str) -> Result<CounterMark, MetaError>;

    /// Moves the key's `through` up to `through` (never down, never below `floor`).
    async fn advance_counter_mark(&self, key: &str, through: u64) -> Result<(), MetaError>;

    /// Starts the key's counts again from `floor`: the mark becomes `{floor, floor}` (first,
    /// so that no total counts an older version again), then every counted and distinct
    /// value row of the key is removed.
    async fn reset_counters(&self, key: &str, floor: u64) -> Result<(), MetaError>;

    /// What the key's counted rows above its floor add up to (all zero for a key never
    /// counted; reading creates nothing).
    async fn counter_totals(&self, key: &str) -> Result<CounterTotals, MetaError>;

    /// A page of a rule property's distinct values, in the store's key order after `after`
    /// (the last key of the previous page): `(key, value)` pairs.
    async fn unique_values(
        &self,
        key: &str,
        rule: &str,
        property: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, MetaError>;
}
