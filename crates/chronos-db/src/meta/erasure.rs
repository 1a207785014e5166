//! Erasure as a store capability: finding the items whose any version held a value, and
//! removing content from version rows while the rows themselves (what happened, and when)
//! stay.

use super::{CollectionSpec, MetaError};
use crate::query::Filter;
use async_trait::async_trait;
use std::collections::HashSet;

/// What erasure needs from a metadata store.
#[async_trait]
pub trait ErasureStore: Send + Sync + 'static {
    /// Ids of the items, ascending and after `after`, with a version row whose indexed
    /// properties match `filter` — any version, not only the latest. At most `limit` ids.
    /// On stores whose rows include writers' uncommitted attempts (MongoDB), those match
    /// too: callers confirm each id against its committed history. Reading creates nothing.
    async fn ids_in_any_version(
        &self,
        coll: &CollectionSpec,
        filter: &Filter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, MetaError>;

    /// Removes the content of the item's version rows with `ov < below` (`below` is its
    /// erasure tombstone's ov): indexed values, inline copies, content hashes and sizes. The rows
    /// stay, so history still shows each version's op, time, actor and reason. Returns how
    /// many rows still had content; running it again returns 0.
    async fn scrub_versions(&self, coll: &str, id: &str, below: u64) -> Result<u64, MetaError>;

    /// Those of `ids` whose head is an erasure tombstone (op `ERASE`).
    async fn erased_among(&self, coll: &str, ids: &[String]) -> Result<HashSet<String>, MetaError>;
}
