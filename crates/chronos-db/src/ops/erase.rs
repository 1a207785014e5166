//! Erasure of one item: its content removed from every version, a tombstone left in its
//! place, a signed receipt in the logs database.
//!
//! **Steps** (each safe to repeat; a run that finds the tombstone resumes after step 1):
//! 1. **Tombstone** — commit an `ERASE` version (new ov and cv, actor, reason, no content,
//!    marked deleted) against the head, under the item's lease. This is the commit point:
//!    from here every read of the item, of any of its versions and at any time answers
//!    `Erased`, because every read path checks the head (reads of older versions too), and
//!    writes and restores are refused.
//! 2. **Receipt** — list the item's objects and count its earlier versions, then insert the
//!    receipt (its id derives from the tombstone, so a re-run finds it and writes nothing).
//! 3. **Objects** — delete every object under the item's prefix `<collection>/<id>/`: the
//!    payload and blobs of every version, and orphans of failed attempts.
//! 4. **Scrub** — remove indexed values, inline copies and content hashes from the earlier
//!    version rows (`ErasureStore::scrub_versions`). Last, because a subject erasure finds
//!    the items it must resume through those values.
//!
//! A crash after step 1 leaves an item that reads as erased, and whose leftovers a re-run of
//! the erasure removes (a subject erasure re-run finds the item again, its rows not being
//! scrubbed yet). Nothing before step 1 changes anything.

use super::{item_id, Collection};
use crate::error::{Error, Result};
use crate::meta::{Expect, FlatRow, ItemRow, MetaError, VersionWrite};
use crate::model::{Document, Lineage, Op, StoredVersion, Timestamp, VersionRecord};
use crate::names::ItemId;
use crate::payload::keys;
use crate::receipts::{Receipt, ReceiptKey, RECEIPTS_COLLECTION};
use crate::routing::Route;
use serde::Serialize;

/// Attempts at committing the tombstone when other writers keep moving the head.
const TOMBSTONE_ATTEMPTS: usize = 16;

/// Options of [`Collection::erase`].
#[derive(Debug, Clone, Default)]
pub struct EraseOptions {
    /// Who erases (recorded with the tombstone and in the receipt).
    pub actor: String,
    /// Why (recorded with the tombstone and in the receipt).
    pub reason: String,
    /// Crash drills: stop right after this step, as a process that died there would. An
    /// erasure stopped this way is completed by running it again.
    #[doc(hidden)]
    pub halt_after: Option<EraseStep>,
}

/// The steps of an erasure (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EraseStep {
    /// 1: the tombstone is committed.
    Tombstone,
    /// 2: the receipt is written.
    Receipt,
    /// 3: the objects are deleted.
    Objects,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EraseReport {
    /// The erased item.
    pub id: String,
    /// The tombstone's ov.
    pub ov: u64,
    /// The tombstone's cv.
    pub cv: u64,
    /// When the tombstone was committed.
    pub at: Timestamp,
    /// Whether the item was already erased (this run completed or re-checked an erasure).
    pub resumed: bool,
    /// The receipt in the logs database (`erasures`).
    pub receipt_id: String,
    /// Objects this run deleted.
    pub objects_deleted: u64,
    /// Version rows whose content this run removed.
    pub versions_scrubbed: u64,
    /// Whether every step ran (false only when a crash drill stopped it).
    pub complete: bool,
}

impl Collection {
    /// Erases an item: removes its content from every version (payload objects and blobs,
    /// inline copies, indexed values) and commits a tombstone (op `ERASE`) so history shows
    /// that, when and by whom it was erased. Every later read of the item, or of any of its
    /// versions, fails with [`Error::Erased`]; restoring it is refused. A signed receipt goes
    /// to the logs database (`erasures`). Needs `erasure.receiptKey` and a logs database.
    /// Erasing an erased item completes what an interrupted erasure left.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::{config::{ChronosConfig, ErasureSettings}, ops::EraseOptions, Chronos, DatabaseType, Error, Route};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut cfg = ChronosConfig::embedded(dir.path());
    /// cfg.erasure = Some(ErasureSettings { receipt_key: "k".repeat(32) });
    /// let chronos = Chronos::open(cfg).await.unwrap();
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "customers").unwrap()).unwrap();
    /// let v = c.create(json!({"email": "ada@example.com"}), "app", "", Default::default()).await.unwrap();
    /// let opts = EraseOptions { actor: "dpo".into(), reason: "GDPR art. 17".into(), ..Default::default() };
    /// let report = c.erase(&v.id, opts).await.unwrap();
    /// assert_eq!(report.ov, 1);
    /// assert!(matches!(c.get_version(&v.id, 0, Default::default()).await, Err(Error::Erased { .. })));
    /// assert!(chronos.erasure().verify(&report.receipt_id).await.unwrap().valid);
    /// # });
    /// ```
    pub async fn erase(&self, id: &str, opts: EraseOptions) -> Result<EraseReport> {
        self.erase_item(&item_id(id)?, &opts, None).await
    }

    /// [`Collection::erase`], recording a subject erasure's subject hash in the receipt.
    pub(crate) async fn erase_item(
        &self,
        id: &ItemId,
        opts: &EraseOptions,
        subject_hash: Option<String>,
    ) -> Result<EraseReport> {
        // Everything that can refuse the erasure is checked before anything changes.
        let key = ReceiptKey::from_config(&self.inner.config)?;
        let receipts = Route::logs(RECEIPTS_COLLECTION)
            .map_err(Error::from)
            .and_then(|r| self.inner.collection(r))
            .map_err(|e| {
                Error::validation(format!(
                    "erasure writes its receipts to the logs database, which is not usable: {e}"
                ))
            })?;
        self.ensure().await?;

        // Step 1: the commit point.
        let (tombstone, resumed) = self.with_lease(id, self.commit_tombstone(id, opts)).await?;
        let receipt_id = key.receipt_id(&self.route, id, tombstone.cv);
        let mut report = EraseReport {
            id: id.to_string(),
            ov: tombstone.ov,
            cv: tombstone.cv,
            at: tombstone.at,
            resumed,
            receipt_id: receipt_id.clone(),
            objects_deleted: 0,
            versions_scrubbed: 0,
            complete: false,
        };
        if opts.halt_after == Some(EraseStep::Tombstone) {
            return Ok(report);
        }

        // Step 2: the receipt, with what steps 3 and 4 remove.
        let objects = self.erasable_objects(id).await?;
        let versions = self.versions_below(id, tombstone.ov).await?;
        let mut receipt = Receipt {
            receipt_id: receipt_id.clone(),
            kind: if subject_hash.is_some() {
                "subject"
            } else {
                "item"
            }
            .into(),
            route: self.route.clone(),
            item_hash: key.item_hash(id),
            subject_hash,
            tombstone_ov: tombstone.ov,
            tombstone_cv: tombstone.cv,
            versions_removed: versions,
            objects_removed: objects.len() as u64,
            erased_at: tombstone.at,
            actor: tombstone.actor.clone().unwrap_or_default(),
            reason: tombstone.reason.clone().unwrap_or_default(),
            key_id: key.key_id(),
            signature: String::new(),
        };
        receipt.signature = key.sign(&receipt)?;
        let doc = serde_json::to_value(&receipt)
            .map_err(|e| Error::Corrupt(format!("cannot encode a receipt: {e}")))?;
        let create = crate::ops::CreateOptions {
            id: Some(receipt_id),
            ..Default::default()
        };
        match receipts
            .create_direct(doc, &receipt.actor, "erasure receipt", create)
            .await
        {
            Ok(_) | Err(Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        if opts.halt_after == Some(EraseStep::Receipt) {
            return Ok(report);
        }

        // Step 3: every object of every version and attempt.
        for object in &objects {
            self.payload.delete(&object.key).await?;
            report.objects_deleted += 1;
        }
        if opts.halt_after == Some(EraseStep::Objects) {
            return Ok(report);
        }

        // Step 4: the rows' content.
        report.versions_scrubbed = self
            .store
            .scrub_versions(self.name(), id, tombstone.ov)
            .await?;
        // The item's writes still waiting in the fallback queue (or dead there) hold its
        // content too; any that replayed now would be refused by the tombstone anyway.
        if let Some(queue) = &self.inner.fallback {
            let removed = queue.remove(Vec::new(), Some(self.item_key(id))).await?;
            if removed > 0 {
                tracing::info!(removed, "removed an erased item's queued writes");
            }
        }
        report.complete = true;
        tracing::info!(
            collection = %self.route.collection,
            ov = tombstone.ov,
            objects = report.objects_deleted,
            versions = report.versions_scrubbed,
            "erased an item"
        );
        Ok(report)
    }

    /// Step 1: commits the tombstone, or finds it (`true`) when the item is already erased.
    async fn commit_tombstone(
        &self,
        id: &ItemId,
        opts: &EraseOptions,
    ) -> Result<(VersionRecord, bool)> {
        for _ in 0..TOMBSTONE_ATTEMPTS {
            let head = self.existing_head(id).await?;
            if head.version.op == Op::Erase {
                return Ok((head.version, true));
            }
            let mut record = tombstone_of(&head, self.inner.now(), opts);
            let counted = self.counter_rules().is_some();
            let write = VersionWrite {
                version: record.clone(),
                expect: Expect::Ov(head.version.ov),
                seen: head.mark.clone(),
                shadow: None,
                keep_history: self.settings.versioning,
            };
            match self.store.commit(self.name(), write).await {
                Ok(committed) => {
                    record.cv = committed.cv;
                    if counted {
                        self.count_committed(&record, None, true).await;
                    }
                    // Versioning off: the earlier rows went with the commit; their objects
                    // go in step 3 with the rest of the item's.
                    return Ok((record, false));
                }
                // Someone wrote the item meanwhile: erase what is there now.
                Err(MetaError::Conflict {
                    current_ov: Some(_),
                }) => continue,
                Err(MetaError::Conflict { current_ov: None }) => {
                    return Err(Error::NotFound(format!("item '{id}'")))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Locked { id: id.to_string() })
    }

    /// The item's objects: everything under `<collection>/<id>/` (every version, and the
    /// orphans of failed attempts) when this database alone keeps objects in its bucket and
    /// prefix; where other databases share them (`config::isolation`), only the prefixes of
    /// this item's own rows (attempts included), so another database's objects are never
    /// touched.
    async fn erasable_objects(&self, id: &str) -> Result<Vec<crate::payload::ObjectInfo>> {
        if !crate::config::key_space_is_shared(&self.inner.config, &self.resolved.key_space()) {
            return Ok(self
                .payload
                .list(&keys::item_prefix(self.name(), id))
                .await?);
        }
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for key in self.store.payload_keys(self.name(), id).await? {
            let prefix = key.strip_suffix("item.json").unwrap_or(&key).to_string();
            if prefix.is_empty() || !seen.insert(prefix.clone()) {
                continue;
            }
            out.extend(self.payload.list(&prefix).await?);
        }
        Ok(out)
    }

    /// How many version rows the item has below `ov`.
    async fn versions_below(&self, id: &str, ov: u64) -> Result<u64> {
        let mut n = 0;
        let mut before = Some(ov);
        loop {
            let page = self.store.history(self.name(), id, before, 1000).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.ov);
            let full = page.len() == 1000;
            n += page.len() as u64;
            if !full {
                break;
            }
        }
        Ok(n)
    }

    /// `Erased` when the item's head is an erasure tombstone: every read of a version other
    /// than the head checks this after reading the version, so no read that starts after
    /// the tombstone's commit returns content.
    pub(super) async fn refuse_if_erased(
        &self,
        id: &str,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        match self.store.get_head(self.name(), id).await? {
            Some(head) if head.version.op == Op::Erase => Err(Error::Erased { what: what() }),
            _ => Ok(()),
        }
    }

    /// Drops the rows of erased items from a query's page: tombstones (latest queries), and
    /// for as-of queries the older versions of items erased since.
    pub(super) async fn without_erased<R: PageRow>(
        &self,
        rows: Vec<R>,
        as_of: bool,
    ) -> Result<Vec<R>> {
        let mut rows: Vec<R> = rows.into_iter().filter(|r| !r.is_erasure()).collect();
        if as_of && !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|r| r.id().to_string()).collect();
            let erased = self.store.erased_among(self.name(), &ids).await?;
            if !erased.is_empty() {
                rows.retain(|r| !erased.contains(r.id()));
            }
        }
        Ok(rows)
    }
}

/// A row of a query page, as [`Collection::without_erased`] sees it.
pub(super) trait PageRow {
    /// The item's id.
    fn id(&self) -> &str;
    /// Whether the row is an erasure's tombstone.
    fn is_erasure(&self) -> bool;
}

impl PageRow for StoredVersion {
    fn id(&self) -> &str {
        &self.version.id
    }
    fn is_erasure(&self) -> bool {
        self.version.op == Op::Erase
    }
}

impl PageRow for ItemRow {
    fn id(&self) -> &str {
        ItemRow::id(self)
    }
    fn is_erasure(&self) -> bool {
        match self {
            ItemRow::Item(item) => item.op == Op::Erase,
            ItemRow::Stored(row) => row.version.op == Op::Erase,
        }
    }
}

impl PageRow for FlatRow {
    fn id(&self) -> &str {
        FlatRow::id(self)
    }
    fn is_erasure(&self) -> bool {
        // Flat rows are never tombstones (see `FlatRow::of`).
        matches!(self, FlatRow::Stored(row) if row.version.op == Op::Erase)
    }
}

/// The tombstone of an item: no content, deleted, the lineage's creation time only (the
/// rest of the lineage names other records, which outlive this one).
fn tombstone_of(head: &StoredVersion, now: Timestamp, opts: &EraseOptions) -> VersionRecord {
    let ov = head.version.ov + 1;
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    VersionRecord {
        id: head.version.id.clone(),
        ov,
        cv: 0,
        op: Op::Erase,
        at: now.max(head.version.at),
        actor: opt(&opts.actor),
        reason: opt(&opts.reason),
        function_id: None,
        payload_key: String::new(),
        size: 0,
        sha256: String::new(),
        indexed: Document::new(),
        lineage: Lineage {
            inserted_at: Some(head.version.lineage.inserted_at.unwrap_or(head.version.at)),
            ..Default::default()
        },
        deleted: true,
        content_of: ov,
        request_id: None,
    }
}

impl Collection {
    /// One page of a subject search: the items, in id order after `after`, any of whose
    /// committed versions held `value` in one of `props` (indexed properties), and where the
    /// next page starts (`None` after the last). The store's search is confirmed against
    /// each candidate's committed history, so a writer's abandoned attempt never counts.
    pub(crate) async fn subject_items(
        &self,
        props: &[String],
        value: &serde_json::Value,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>)> {
        let alternatives: Vec<serde_json::Value> = props
            .iter()
            .map(|p| {
                let field = p.strip_suffix("[]").unwrap_or(p);
                serde_json::json!({ field: value })
            })
            .collect();
        let filter = crate::query::Filter::parse(
            &serde_json::json!({ "$or": alternatives }),
            &self.settings.index,
        )
        .map_err(Error::Validation)?;
        let candidates = self
            .store
            .ids_in_any_version(&self.spec(), &filter, after, limit)
            .await?;
        let next = (candidates.len() == limit)
            .then(|| candidates.last().cloned())
            .flatten();
        let mut held = Vec::new();
        for id in candidates {
            if self.held_by_a_version(&id, &filter).await? {
                held.push(id);
            }
        }
        Ok((held, next))
    }

    /// Whether a committed version of the item matches `filter` on its indexed properties.
    async fn held_by_a_version(&self, id: &str, filter: &crate::query::Filter) -> Result<bool> {
        let mut before = None;
        loop {
            let page = self.store.history(self.name(), id, before, 1000).await?;
            let Some(last) = page.last() else {
                return Ok(false);
            };
            before = Some(last.ov);
            let full = page.len() == 1000;
            for v in &page {
                let system = crate::query::SystemValues {
                    id,
                    ov: v.ov,
                    cv: v.cv,
                    updated_at: Some(v.at),
                };
                if filter.matches(&serde_json::Value::Object(v.indexed.clone()), &system) {
                    return Ok(true);
                }
            }
            if !full {
                return Ok(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ChronosConfig, ErasureSettings};
    use crate::{Chronos, DatabaseType, ReadOptions, Route};
    use serde_json::json;

    /// Where another database keeps its objects inside this one's key space, an erasure
    /// deletes only the objects of the item's own rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_erasure_in_a_shared_key_space_touches_only_its_own_objects() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().display().to_string();
        let mut cfg = ChronosConfig::from_json_value(json!({
            "dbConnections": {"m": {"sqliteDir": format!("{base}/meta")}},
            "spacesConnections": {"s": {"provider": "local", "basePath": format!("{base}/objects")}},
            "databases": {
                "knowledge": {
                    "genericDatabase": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "shared", "dbName": "kg"},
                    "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "shared",
                        "dbName": "kt_{tenantId}", "prefix": "tenants/{tenantId}"}
                },
                "logs": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "logs", "dbName": "logs"}
            }
        }))
        .unwrap();
        cfg.erasure = Some(ErasureSettings {
            receipt_key: "k".repeat(32),
        });
        let chronos = Chronos::open(cfg).await.unwrap();
        let acme_docs = chronos
            .with(Route::tenant(DatabaseType::Knowledge, "acme", "docs").unwrap())
            .unwrap();
        let doc = acme_docs
            .create(json!({"n": 1}), "app", "", Default::default())
            .await
            .unwrap();
        // The generic item `tenants/acme` has the prefix `tenants/acme/`, where tenant
        // acme's objects live too.
        let generic = chronos
            .with(Route::generic(DatabaseType::Knowledge, "tenants").unwrap())
            .unwrap();
        let opts = crate::CreateOptions {
            id: Some("acme".into()),
            ..Default::default()
        };
        generic
            .create(json!({"plan": "pro"}), "app", "", opts)
            .await
            .unwrap();
        let report = generic.erase("acme", Default::default()).await.unwrap();
        assert_eq!(report.objects_deleted, 1);
        let read = acme_docs
            .get_latest(&doc.id, ReadOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.data["n"], 1);
    }
}

/// What [`Collection::resume_erasures`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeReport {
    /// Items examined.
    pub items_scanned: u64,
    /// Erased items found (each erasure run again to its end).
    pub erased_items: u64,
    /// Objects the resumed erasures deleted.
    pub objects_deleted: u64,
    /// Version rows whose content they removed.
    pub versions_scrubbed: u64,
}

impl Collection {
    /// Runs every erasure of the collection again to its end: what a crash after an
    /// erasure's tombstone left (a receipt, objects, row content) is completed. Erasures that
    /// were complete change nothing. (A subject erasure's receipt not written before the
    /// crash is written as an item erasure's: the subject value is not known here.) Memory stays bounded (a page of items at a time).
    pub async fn resume_erasures(&self) -> Result<ResumeReport> {
        let mut report = ResumeReport::default();
        let mut after: Option<String> = None;
        loop {
            let heads = self
                .store
                .scan_heads(self.name(), after.as_deref(), 200)
                .await?;
            let Some(last) = heads.last() else { break };
            after = Some(last.version.id.clone());
            let full = heads.len() == 200;
            for head in heads.iter() {
                report.items_scanned += 1;
                if head.version.op != Op::Erase {
                    continue;
                }
                let opts = EraseOptions {
                    actor: head.version.actor.clone().unwrap_or_default(),
                    reason: head.version.reason.clone().unwrap_or_default(),
                    halt_after: None,
                };
                let id = item_id(&head.version.id)?;
                let done = self.erase_item(&id, &opts, None).await?;
                report.erased_items += 1;
                report.objects_deleted += done.objects_deleted;
                report.versions_scrubbed += done.versions_scrubbed;
            }
            if !full {
                break;
            }
        }
        Ok(report)
    }
}
