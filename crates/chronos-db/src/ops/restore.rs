//! Append-only restore of one item or of a whole collection.

use super::submit::Asked;
use super::{item_id, Collection, ReadAt};
use crate::error::{Error, Result};
use crate::meta::MetadataStore;
use crate::model::{Op, StoredVersion, Timestamp, WriteResult};
use crate::names::ItemId;
use crate::query::{AsOf, CmpOp, Field, Filter, Query, Scalar, MAX_LIMIT};
use serde::Serialize;
use std::collections::HashMap;

/// Which state of an item to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreTarget {
    /// The version with this ov.
    Ov(u64),
    /// The latest version committed at or before this time.
    At(Timestamp),
}

/// Which state of a collection to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionTarget {
    /// The collection as of this collection version.
    Cv(u64),
    /// The collection as of this time (each item at its own latest version then).
    At(Timestamp),
}

/// Options of [`Collection::restore_collection`].
#[derive(Default)]
pub struct RestoreOptions<'a> {
    /// Count what would change, change nothing.
    pub dry_run: bool,
    /// Resume after this item id (the `last_id` of an interrupted run).
    pub resume_after: Option<String>,
    /// Recorded as the actor of every version the restore writes.
    pub actor: String,
    /// Recorded as the reason of every version the restore writes.
    pub reason: String,
    /// Called after each batch.
    pub progress: Option<&'a (dyn Fn(&RestoreProgress) + Send + Sync)>,
}

/// Progress of a collection restore.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    /// Items this run has gone through so far.
    pub processed: u64,
    /// Items this run goes through: those after `resume_after` when resuming (items created
    /// meanwhile can make `processed` end a little above it).
    pub total: u64,
    /// The last item id processed (pass as `resume_after` to continue).
    pub last_id: Option<String>,
}

/// What a collection restore did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// The collection version restored to.
    pub target_cv: u64,
    /// `true` when nothing was written (only counted).
    pub dry_run: bool,
    /// Items given their content at the target.
    pub restored: u64,
    /// Items deleted (they did not exist, or were deleted, at the target).
    pub deleted: u64,
    /// Items already in their target state.
    pub unchanged: u64,
    /// Items left alone because they were erased (an erasure is never undone).
    pub erased: u64,
    /// The last item processed: pass as `resume_after` to continue an interrupted run.
    pub last_id: Option<String>,
}

/// Heads read per batch: memory stays bounded whatever the collection's size.
const BATCH: usize = 200;
/// Attempts per item when a concurrent write moves its head during a collection restore.
const ITEM_ATTEMPTS: usize = 8;

enum Plan {
    Unchanged,
    Restore(Box<StoredVersion>),
    Delete,
}

fn plan(head: &StoredVersion, target: Option<StoredVersion>) -> Plan {
    let h = &head.version;
    match target {
        None if h.deleted => Plan::Unchanged,
        None => Plan::Delete,
        // Deleted then and deleted now: nothing to restore, whatever the content was.
        Some(t) if t.version.deleted && h.deleted => Plan::Unchanged,
        Some(t) if t.version.content_of == h.content_of && t.version.deleted == h.deleted => {
            Plan::Unchanged
        }
        Some(t) => Plan::Restore(Box::new(t)),
    }
}

impl Collection {
    /// Appends a RESTORE version whose content is the target's: if the target was live, the
    /// item is live again. A target state that is deleted is restored as deleted (with
    /// `logicalDelete.enabled = false`: the item is removed, as `delete` does there). When the item is already
    /// in the target state (same content and deletion state), nothing is appended and the
    /// result names the current version.
    pub async fn restore_object(
        &self,
        id: &str,
        target: RestoreTarget,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        self.submit(super::submit::WriteOp::restore(id, target, actor, reason))
            .await
    }

    /// [`Collection::restore_object`] without the queue or the request-id check.
    pub(super) async fn restore_direct(
        &self,
        id: &str,
        target: RestoreTarget,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        self.need_history("restore_object")?;
        let id = &item_id(id)?;
        self.with_lease(id, self.restore_object_unlocked(id, target, actor, reason))
            .await
    }

    async fn restore_object_unlocked(
        &self,
        id: &ItemId,
        target: RestoreTarget,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        // A restore has no expected ov: under the item's lease, a twin of this request that
        // committed while this one waited is the outcome, not a base to restore again on.
        if let Some(done) = self.earlier_outcome(Some(id), Asked::BeforeWrite).await? {
            return Ok(done);
        }
        let head = self.existing_head(id).await?;
        if head.version.op == Op::Erase {
            return Err(Error::Erased {
                what: format!("item '{id}'"),
            });
        }
        let version = match target {
            RestoreTarget::Ov(ov) => self.store.get_version(self.name(), id, ov).await?,
            RestoreTarget::At(at) => {
                self.store
                    .version_as_of(self.name(), id, AsOf::Time(at))
                    .await?
            }
        };
        if version.is_none() {
            let at = match target {
                RestoreTarget::Ov(ov) => ReadAt::Ov(ov),
                RestoreTarget::At(at) => ReadAt::Time(at),
            };
            self.missing_or_pruned(id, at).await?;
        }
        let version = version.ok_or_else(|| match target {
            RestoreTarget::Ov(ov) => Error::NotFound(format!("version {ov} of item '{id}'")),
            RestoreTarget::At(at) => {
                Error::NotFound(format!("a version of item '{id}' at or before {at}"))
            }
        })?;
        // Already in the target state: nothing to append (as in a collection restore).
        if let Plan::Unchanged = plan(&head, Some(version.clone())) {
            return Ok(WriteResult {
                id: head.version.id.clone(),
                ov: head.version.ov,
                cv: head.version.cv,
                at: head.version.at,
            });
        }
        self.write_restore(&head, &version, actor, reason).await
    }

    /// Brings every item back to its state at the target: a RESTORE for items that changed,
    /// a DELETE for items created after it. Streams through the heads in id order in
    /// batches, so memory is bounded; idempotent, so an interrupted run can simply be resumed.
    pub async fn restore_collection(
        &self,
        target: CollectionTarget,
        opts: RestoreOptions<'_>,
    ) -> Result<RestoreReport> {
        // A request id names one item write; the versions of a collection restore carry none.
        self.stamped(None)
            .restore_collection_unkeyed(target, opts)
            .await
    }

    async fn restore_collection_unkeyed(
        &self,
        target: CollectionTarget,
        opts: RestoreOptions<'_>,
    ) -> Result<RestoreReport> {
        self.need_history("restore_collection")?;
        // By time, each item is restored to its own latest version at or before that time
        // (commit times and cvs of different items need not be in the same order); the cv
        // reported is the highest one committed by then.
        let (target_cv, per_item) = match target {
            CollectionTarget::Cv(cv) => (cv, AsOf::Cv(cv)),
            CollectionTarget::At(at) => {
                (self.store.cv_as_of(self.name(), at).await?, AsOf::Time(at))
            }
        };
        match target {
            CollectionTarget::Cv(cv) => self.check_horizon(None, Some(cv)).await?,
            CollectionTarget::At(at) => self.check_horizon(Some(at), None).await?,
        }
        // What this run will go through: a resumed run starts after `resume_after`.
        let total = self
            .store
            .count_heads(self.name(), opts.resume_after.as_deref())
            .await?;
        let mut report = RestoreReport {
            target_cv,
            dry_run: opts.dry_run,
            restored: 0,
            deleted: 0,
            unchanged: 0,
            erased: 0,
            last_id: opts.resume_after.clone(),
        };
        let mut processed = 0u64;
        loop {
            let heads = self
                .store
                .scan_heads(self.name(), report.last_id.as_deref(), BATCH)
                .await?;
            let (Some(first), Some(last)) = (heads.first(), heads.last()) else {
                break;
            };
            let last_id = last.version.id.clone();
            let mut targets = self
                .targets_between(&first.version.id, &last_id, per_item)
                .await?;
            for head in heads {
                let target = targets.remove(&head.version.id);
                self.restore_one(head, per_item, target, &opts, &mut report)
                    .await?;
                processed += 1;
            }
            report.last_id = Some(last_id);
            if let Some(cb) = opts.progress {
                cb(&RestoreProgress {
                    processed,
                    total,
                    last_id: report.last_id.clone(),
                });
            }
        }
        Ok(report)
    }

    /// The state as of `target` of every item whose id is in `first..=last`, read with as-of
    /// queries (a page holds up to 1000 items) instead of one version read per item: the
    /// heads of a batch and their targets then cost two queries, not one per item.
    async fn targets_between(
        &self,
        first: &str,
        last: &str,
        target: AsOf,
    ) -> Result<HashMap<String, StoredVersion>> {
        let bound = |op, id: &str| Filter::Cmp {
            field: Field::Id,
            op,
            value: Scalar::Str(id.to_string()),
        };
        let mut query = Query {
            filter: Filter::And(vec![bound(CmpOp::Gte, first), bound(CmpOp::Lte, last)]),
            sort: Vec::new(),
            limit: MAX_LIMIT,
            after: None,
            as_of: Some(target),
            include_deleted: true,
        };
        let mut out = HashMap::new();
        loop {
            let page = self.store.query(&self.spec(), &query).await?;
            out.extend(page.rows.into_iter().map(|r| (r.version.id.clone(), r)));
            match page.next {
                Some(cursor) => query.after = Some(cursor),
                None => return Ok(out),
            }
        }
    }

    async fn restore_one(
        &self,
        head: StoredVersion,
        target: AsOf,
        known: Option<StoredVersion>,
        opts: &RestoreOptions<'_>,
        report: &mut RestoreReport,
    ) -> Result<()> {
        let id = item_id(&head.version.id)?;
        if opts.dry_run {
            return self
                .restore_one_unlocked(head, target, known, opts, report)
                .await;
        }
        self.with_lease(
            &id,
            self.restore_one_unlocked(head, target, known, opts, report),
        )
        .await
    }

    /// Restores one item. `known` is its target state as read with its batch; after a
    /// conflict (someone wrote the item meanwhile) the head and the target are read again.
    async fn restore_one_unlocked(
        &self,
        mut head: StoredVersion,
        target: AsOf,
        mut known: Option<StoredVersion>,
        opts: &RestoreOptions<'_>,
        report: &mut RestoreReport,
    ) -> Result<()> {
        let meta: &dyn MetadataStore = self.store.as_ref();
        for attempt in 0..ITEM_ATTEMPTS {
            if head.version.op == Op::Erase {
                report.erased += 1;
                return Ok(());
            }
            let target = match (attempt, known.take()) {
                (0, found) => found,
                _ => {
                    meta.version_as_of(self.name(), &head.version.id, target)
                        .await?
                }
            };
            let plan = plan(&head, target);
            let outcome = match (&plan, opts.dry_run) {
                (Plan::Unchanged, _) => {
                    report.unchanged += 1;
                    return Ok(());
                }
                (Plan::Restore(t), true) => {
                    if t.version.deleted {
                        report.deleted += 1
                    } else {
                        report.restored += 1
                    }
                    return Ok(());
                }
                (Plan::Delete, true) => {
                    report.deleted += 1;
                    return Ok(());
                }
                (Plan::Restore(t), false) => {
                    self.write_restore(&head, t, &opts.actor, &opts.reason)
                        .await
                }
                (Plan::Delete, false) => self.remove_item(&head, &opts.actor, &opts.reason).await,
            };
            match outcome {
                Ok(_) => {
                    match plan {
                        Plan::Restore(t) if !t.version.deleted => report.restored += 1,
                        _ => report.deleted += 1,
                    }
                    return Ok(());
                }
                Err(Error::Conflict { .. }) if attempt + 1 < ITEM_ATTEMPTS => {
                    // Someone wrote the item meanwhile: re-read and re-plan.
                    match self.store.get_head(self.name(), &head.version.id).await? {
                        Some(h) => head = h,
                        None => return Ok(()),
                    }
                }
                Err(Error::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let current = self
            .store
            .get_head(self.name(), &head.version.id)
            .await?
            .map(|h| h.version.ov)
            .unwrap_or(head.version.ov);
        Err(Error::Conflict {
            id: head.version.id.clone(),
            expected: head.version.ov,
            current,
        })
    }
}
