//! Version retention as a store capability: pruning an item's oldest versions, and the
//! record of how far pruning has gone (per item, insert-only, so the collection's horizon —
//! the newest of them — only moves forward, even on servers whose conditional updates are
//! not atomic).

use super::MetaError;
use crate::model::{Timestamp, VersionRecord};
use async_trait::async_trait;

/// How far retention has pruned a collection: no as-of read of the collection before these
/// is answered (an item pruned past them would be missing or wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionHorizon {
    /// The newest commit time of an item's oldest kept version.
    pub at: Timestamp,
    /// The highest cv of an item's oldest kept version.
    pub cv: u64,
}

/// Pruning versions, and the horizon it leaves.
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Removes the item's version rows with `ov < below` (never the head's: `below` is
    /// lowered to the head's ov) and returns them, so their objects can be deleted. Versions
    /// a concurrent commit adds are above the head, so never touched.
    async fn prune_versions(
        &self,
        coll: &str,
        id: &str,
        below: u64,
    ) -> Result<Vec<VersionRecord>, MetaError>;

    /// The item's oldest committed version still kept.
    async fn oldest_version(
        &self,
        coll: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, MetaError>;

    /// Records that the item is about to be pruned down to `floor` (its oldest kept version).
    /// Written before the prune, so readers see the horizon before rows go.
    async fn record_retention_floor(
        &self,
        coll: &str,
        floor: &VersionRecord,
    ) -> Result<(), MetaError>;

    /// Drops the inline copies of the item's versions with `ov < below` (never the head's)
    /// committed before `older_than` (`devShadow.ttlHours`); their content is then read from
    /// object storage. Returns how many were dropped.
    async fn drop_inline_copies(
        &self,
        coll: &str,
        id: &str,
        below: u64,
        older_than: Timestamp,
    ) -> Result<u64, MetaError>;

    /// The collection's horizon (`None` when nothing was ever pruned; reading creates
    /// nothing).
    async fn retention_horizon(&self, coll: &str) -> Result<Option<RetentionHorizon>, MetaError>;

    /// Bounds what the store keeps per commit whatever the version retention (MongoDB: the
    /// cv slots of `<coll>_counter`), safe with writers running; returns the entries
    /// removed. A store that keeps nothing per commit (SQLite: one counter row) returns 0.
    /// Its waits are real time (the system clock), whatever clock writes are stamped with.
    async fn compact_cv_counter(&self, coll: &str) -> Result<u64, MetaError> {
        let _ = coll;
        Ok(0)
    }
}
