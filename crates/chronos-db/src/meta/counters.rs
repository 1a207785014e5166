//! Exact counters as a store capability: every number is a count of insert-only rows with
//! unique keys, so recording twice (a retry, a catch-up after a crash) never counts twice,
//! and no number depends on an update being atomic (FerretDB's conditional updates are not).
//!
//! * a **counted version** row per `(collection, item id, ov)`: its operation, time and the
//!   names of the counter rules it matched;
//! * a **distinct value** row per `(collection, rule, property, value)`, keyed by the SHA-256
//!   of the three (values may be long; their canonical JSON text is kept beside the key).
//!
//! Totals are counts over those rows. Which versions are counted, and when, is decided above
//! the stores (the analytics layer).

use super::MetaError;
use crate::model::{Op, Timestamp};
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
    /// The version's operation.
    pub op: Op,
    /// Its commit time.
    pub at: Timestamp,
    /// The counter rules it matched.
    pub rules: Vec<String>,
}

/// What the counted rows of one collection add up to.
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

/// Counted versions and distinct values (see the module docs).
#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Records a counted version; `false` when `(id, ov)` was recorded before (nothing
    /// changes then).
    async fn record_counted(&self, coll: &str, entry: &CountedVersion) -> Result<bool, MetaError>;

    /// Adds distinct values (canonical JSON texts) of a rule's property; values already there
    /// are left alone. Returns how many were new.
    async fn add_unique_values(
        &self,
        coll: &str,
        rule: &str,
        property: &str,
        values: &[String],
    ) -> Result<u64, MetaError>;

    /// What the collection's counted rows add up to (all zero for a collection never
    /// counted; reading creates nothing).
    async fn counter_totals(&self, coll: &str) -> Result<CounterTotals, MetaError>;

    /// A page of a rule property's distinct values, in the store's key order after `after`
    /// (the last key of the previous page): `(key, value)` pairs.
    async fn unique_values(
        &self,
        coll: &str,
        rule: &str,
        property: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, MetaError>;
}
