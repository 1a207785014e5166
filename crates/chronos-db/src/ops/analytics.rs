//! What analytics jobs need of a collection: its live items, one page at a time, and the
//! store its analytics results go to (the same as its counters': the database's
//! `analyticsDbName`, else its own database).

use super::Collection;
use crate::error::Result;
use crate::meta::MetadataStore;
use crate::model::{Document, Timestamp};
use std::sync::Arc;

/// A live item (its latest version, not deleted) as analytics jobs read it.
#[derive(Debug, Clone)]
pub(crate) struct LiveItem {
    /// The item's id.
    pub(crate) id: String,
    /// When it was created.
    pub(crate) inserted_at: Timestamp,
    /// Its latest content.
    pub(crate) content: Document,
}

impl Collection {
    /// Up to `limit` live items after `after` in id order, and where the next page starts
    /// (`None` after the last). Deleted items are skipped but move the cursor.
    pub(crate) async fn live_items(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LiveItem>, Option<String>)> {
        let heads = self.store.scan_heads(self.name(), after, limit).await?;
        let next = (heads.len() == limit)
            .then(|| heads.last().map(|h| h.version.id.clone()))
            .flatten();
        let mut items = Vec::with_capacity(heads.len());
        for head in heads.iter().filter(|h| !h.version.deleted) {
            let content = self
                .load_content(&head.version, head.shadow.as_deref())
                .await?;
            items.push(LiveItem {
                id: head.version.id.clone(),
                inserted_at: head.version.lineage.inserted_at.unwrap_or(head.version.at),
                content,
            });
        }
        Ok((items, next))
    }

    /// The store this collection's analytics results (and counters) live in.
    pub(crate) fn analytics_store(&self) -> Result<Arc<dyn MetadataStore>> {
        Ok(match &self.resolved.analytics_db_name {
            Some(db) => self.inner.metadata.open(&self.resolved.db_conn_ref, db)?,
            None => self.store.clone(),
        })
    }
}
