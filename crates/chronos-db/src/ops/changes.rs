//! The change feed: a collection's committed versions in cv order, from a position, never
//! skipping one that commits late.
//!
//! cvs are taken before commits finish, so a version with a smaller cv can become visible
//! after one with a larger cv (two concurrent writers; a writer paused inside its commit).
//! A page therefore stops at the store's visibility watermark
//! ([`MetadataStore::visible_after`](crate::meta::MetadataStore::visible_after)): every cv at
//! or below `next_since_cv` has been delivered, filtered out, or can never commit. A consumer
//! that always passes back `next_since_cv` sees every committed version exactly once, in cv
//! order.

use super::read::check_limit;
use super::Collection;
use crate::error::{Error, Result};
use crate::model::{Op, StoredVersion, Timestamp, VersionRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Contents read at once while building a page with `include`.
const CONTENT_CONCURRENCY: usize = 8;

/// Which content a change carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ChangeContent {
    /// No content: what changed, who and when.
    #[default]
    None,
    /// The content the version holds (`after`).
    After,
    /// The content before (the previous version's) and after.
    BeforeAfter,
}

/// Options of [`Collection::changes`].
#[derive(Debug, Clone, Default)]
pub struct ChangesOptions {
    /// Changes with a cv above this one (0: from the start; then the previous page's
    /// `next_since_cv`).
    pub since_cv: u64,
    /// Changes per page, 1-1000 (default 50).
    pub limit: Option<usize>,
    /// Only these operations (the position still moves past the others).
    pub ops: Option<Vec<Op>>,
    /// Which content each change carries.
    pub include: ChangeContent,
}

/// One committed version, as the feed reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The version's collection version: the feed's order and position.
    pub cv: u64,
    /// The item's id.
    pub id: String,
    /// The version's object version.
    pub ov: u64,
    /// The operation.
    pub op: Op,
    /// Commit time.
    pub at: Timestamp,
    /// Who wrote it (`None` when empty).
    pub actor: Option<String>,
    /// Why (`None` when empty).
    pub reason: Option<String>,
    /// The enrichment function it names, if any.
    pub function_id: Option<String>,
    /// The previous version's content (`include: beforeAfter`; absent for ov 0, a version
    /// removed by retention, or an erased item).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The version's content (`include: after` or `beforeAfter`; absent for an erased item).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// A page of the feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangesPage {
    /// The changes, in cv order.
    pub changes: Vec<Change>,
    /// Pass as `since_cv` for the next page: every cv at or below it is delivered, filtered
    /// out, or can never commit.
    pub next_since_cv: u64,
    /// Whether more changes are ready now (ask again at once); when false, later commits
    /// come with a later call.
    pub more: bool,
}

impl Collection {
    /// The collection's committed versions with a cv above `since_cv`, in cv order, up to
    /// the point below which nothing can still commit (see [the module](self)). Pass
    /// `next_since_cv` back to continue; a follower calls again, at once while `more`, else
    /// after a pause. A consumer starting below the retention horizon is refused
    /// (`BeyondRetention`): versions it would need are gone.
    ///
    /// A hard delete (`logicalDelete` off) removes the item's versions and leaves none, so
    /// it appears in the feed only through the versions written before it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::ops::{ChangeContent, ChangesOptions};
    /// use chronos_db::{DatabaseType, Route};
    /// use serde_json::json;
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "orders").unwrap()).unwrap();
    /// let r = c.create(json!({"n": 1}), "app", "", Default::default()).await.unwrap();
    /// c.update(&r.id, json!({"n": 2}), 0, "app", "").await.unwrap();
    /// let page = c.changes(ChangesOptions { include: ChangeContent::After, ..Default::default() }).await.unwrap();
    /// let seen: Vec<_> = page.changes.iter().map(|ch| (ch.ov, ch.after.clone())).collect();
    /// assert_eq!(seen, vec![(0, Some(json!({"n": 1}))), (1, Some(json!({"n": 2})))]);
    /// let next = c.changes(ChangesOptions { since_cv: page.next_since_cv, ..Default::default() }).await.unwrap();
    /// assert!(next.changes.is_empty());
    /// # });
    /// ```
    pub async fn changes(&self, opts: ChangesOptions) -> Result<ChangesPage> {
        let limit = check_limit(opts.limit)?;
        let page = self
            .store
            .visible_after(self.name(), opts.since_cv, limit)
            .await?;
        // Checked after the read, once: the horizon only moves up, so a prune that ran before
        // or during the read is seen here.
        self.refuse_below_retention(opts.since_cv).await?;
        let mut selected = Vec::new();
        let mut next = opts.since_cv;
        for row in &page.versions {
            let v = &row.version;
            if v.cv <= opts.since_cv || v.cv > page.settled {
                continue;
            }
            next = next.max(v.cv);
            if opts.ops.as_ref().is_some_and(|ops| !ops.contains(&v.op)) {
                continue;
            }
            selected.push(row);
        }
        let mut changes = Vec::with_capacity(selected.len());
        for group in selected.chunks(CONTENT_CONCURRENCY) {
            let built = group.iter().map(|row| self.change_of(row, opts.include));
            changes.extend(futures::future::try_join_all(built).await?);
        }
        Ok(ChangesPage {
            changes,
            next_since_cv: next.max(page.settled),
            more: page.more,
        })
    }

    /// `BeyondRetention` when versions after `since_cv` may have been pruned.
    async fn refuse_below_retention(&self, since_cv: u64) -> Result<()> {
        match self.store.retention_horizon(self.name()).await? {
            Some(h) if since_cv.saturating_add(1) < h.cv => Err(Error::BeyondRetention {
                what: format!("the changes after cv {since_cv}"),
                oldest: format!("{} (cv {})", h.at, h.cv),
            }),
            _ => Ok(()),
        }
    }

    async fn change_of(&self, row: &StoredVersion, include: ChangeContent) -> Result<Change> {
        let v = &row.version;
        let after = match include {
            ChangeContent::None => None,
            _ => self.content_if_kept(v, row.shadow.as_deref()).await?,
        };
        let before = match (include, v.ov) {
            (ChangeContent::BeforeAfter, ov) if ov > 0 => {
                match self.store.get_version(self.name(), &v.id, ov - 1).await? {
                    Some(prev) => {
                        self.content_if_kept(&prev.version, prev.shadow.as_deref())
                            .await?
                    }
                    None => None,
                }
            }
            _ => None,
        };
        Ok(Change {
            cv: v.cv,
            id: v.id.clone(),
            ov: v.ov,
            op: v.op,
            at: v.at,
            actor: v.actor.clone(),
            reason: v.reason.clone(),
            function_id: v.function_id.clone(),
            before,
            after,
        })
    }

    /// A version's content, or `None` when erasure removed it.
    async fn content_if_kept(
        &self,
        v: &VersionRecord,
        shadow: Option<&str>,
    ) -> Result<Option<Value>> {
        if v.op == Op::Erase {
            return Ok(None);
        }
        match self.load_content(v, shadow).await {
            Ok(doc) => Ok(Some(Value::Object(doc))),
            Err(Error::Erased { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
