//! create, update, delete, enrich. The protocol and its crash windows are described in the
//! parent module.

use super::item_id;
use super::submit::{Asked, WriteOp};
use super::Collection;
use crate::document::{check_document, extract_meta, get_path};
use crate::error::{Error, Result};
use crate::merge::merge_objects;
use crate::meta::{Expect, MetaError, VersionWrite};
use crate::model::{Document, Lineage, Op, StoredVersion, VersionRecord, WriteResult};
use crate::names::{self, ItemId};
use crate::payload::keys;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest;

/// A parent record, for lineage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
pub struct LineageRef {
    /// The parent record's id.
    pub id: String,
    /// The parent record's collection.
    pub collection: String,
}

crate::object_only!(LineageRef, "a lineage object");

/// An explicit origin, optionally in an external system (`originCollection` becomes
/// `<system>:<collection>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
pub struct OriginRef {
    /// The origin record's id.
    pub id: String,
    /// The origin record's collection.
    pub collection: String,
    #[serde(default)]
    /// The external system it lives in (e.g. `stripe`).
    pub system: Option<String>,
}

crate::object_only!(OriginRef, "an origin object");

/// Options of [`Collection::create`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOptions {
    /// Use this id instead of a generated one (1-128 chars of `[A-Za-z0-9._:-]`).
    #[serde(default)]
    pub id: Option<String>,
    /// The parent record: sets parentId/parentCollection and, without an explicit origin,
    /// originId/originCollection.
    #[serde(default, alias = "parentRecord")]
    pub parent: Option<LineageRef>,
    #[serde(default)]
    /// Where the record originally comes from (without it: the parent, if any).
    pub origin: Option<OriginRef>,
}

crate::object_only!(CreateOptions, "a create options object");

/// Options of [`Collection::enrich`].
#[derive(Debug, Clone, Default)]
pub struct EnrichOptions {
    /// Recorded in `_system.functionIds` (provenance).
    pub function_id: Option<String>,
    /// Recorded as the version's actor.
    pub actor: String,
    /// Recorded as the version's reason.
    pub reason: String,
    /// When given, the enrichment fails with `Conflict` unless the item is at this ov.
    /// Without it a concurrent write makes the enrichment re-read and merge again.
    pub expected_ov: Option<u64>,
}

/// Attempts of an enrichment without `expected_ov` before giving up with `Conflict`.
const ENRICH_ATTEMPTS: usize = 16;

/// Everything needed to write one version.
struct NewVersion<'a> {
    id: &'a str,
    head: Option<&'a StoredVersion>,
    doc: Document,
    op: Op,
    lineage: Lineage,
    actor: &'a str,
    reason: &'a str,
    function_id: Option<String>,
    deleted: bool,
    /// `None` = this version has new content (content_of = its own ov).
    content_of: Option<u64>,
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl Collection {
    /// Validates a caller's document: a JSON object within the limits (depth, numbers,
    /// size); `_system` is dropped (never taken from the caller).
    ///
    /// `_id` is never content and never chooses an item's id (that is the `id` option of
    /// [`Collection::create`]): a payload may carry it only when it names the item the write
    /// acts on (`id`), so that a document read back can be written back unchanged. Anywhere
    /// else (a create without an `id` option, another item's id) it is refused. (An object
    /// saved as an entity is the one exception, handled before this: its identity is its key
    /// property, so an `_id` it carries — the entity as read back — is ignored.)
    pub(super) fn accept(&self, data: Value, id: Option<&str>) -> Result<Document> {
        let limits = &self.settings.limits;
        // Shape first: the depth bound protects everything that walks the document later.
        check_document(&data, limits.max_depth)?;
        let Value::Object(mut doc) = data else {
            return Err(Error::validation("the payload must be a JSON object"));
        };
        let size = serde_json::to_vec(&doc)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > limits.max_payload_bytes {
            return Err(Error::PayloadTooLarge {
                size,
                limit: limits.max_payload_bytes,
            });
        }
        doc.remove("_system");
        match (doc.remove("_id"), id) {
            (None, _) => {}
            (Some(Value::String(given)), Some(id)) if given == id => {}
            (Some(Value::String(given)), Some(id)) => {
                return Err(Error::validation(format!(
                    "the payload's _id '{}' does not match the item id '{}'",
                    names::printable(&given),
                    names::printable(id)
                )))
            }
            (Some(_), Some(_)) => return Err(Error::validation("_id must be a string")),
            (Some(_), None) => {
                return Err(Error::validation(
                    "the payload must not carry an _id: choose the item id with the `id` option \
                     (CLI: --id) instead",
                ))
            }
        }
        Ok(doc)
    }

    pub(super) fn check_required(&self, doc: &Document) -> Result<()> {
        for req in &self.settings.required {
            let path = req.strip_suffix("[]").unwrap_or(req);
            let missing = match get_path(doc, path) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if missing {
                return Err(Error::validation(format!(
                    "required indexed field '{req}' is missing or empty"
                )));
            }
        }
        Ok(())
    }

    /// Steps 3-5 of the write protocol for one version.
    async fn write_version(&self, v: NewVersion<'_>) -> Result<WriteResult> {
        self.ensure().await?;
        let ov = v.head.map(|h| h.version.ov + 1).unwrap_or(0);
        let write_id = names::write_id();
        let prefix = keys::version_prefix(self.name(), v.id, ov, &write_id);
        let mut doc = v.doc;
        let blob_writes = self.plan_blobs(v.id, &prefix, &mut doc).await?;
        let meta = extract_meta(&doc, &self.settings.index);
        let bytes = serde_json::to_vec(&doc)
            .map_err(|e| Error::validation(format!("cannot encode the payload: {e}")))?;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let size = bytes.len() as u64;
        let shadow = (self.settings.shadow.enabled
            && bytes.len() <= self.settings.shadow.max_bytes_per_doc as usize)
            .then(|| String::from_utf8_lossy(&bytes).into_owned());

        // Payload objects first; they are not visible to anyone until the commit.
        let mut written = Vec::new();
        let item_key = keys::item_key(&prefix);
        let payload = self.payload_for(&doc);
        let wrote = async {
            self.apply_blobs(payload.as_ref(), blob_writes, &mut written)
                .await?;
            match crate::compression::stored_form(&bytes, self.settings.compress_from) {
                Some(compressed) => {
                    payload
                        .put_encoded(
                            &item_key,
                            Bytes::from(compressed),
                            crate::compression::CONTENT_ENCODING,
                        )
                        .await?
                }
                None => payload.put(&item_key, Bytes::from(bytes)).await?,
            }
            written.push(item_key.clone());
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = wrote {
            // Nothing references these keys: this attempt made them under its own prefix.
            self.discard(&written).await;
            return Err(e);
        }

        let now = self.inner.now();
        let at = match v.head {
            Some(h) if h.version.at > now => h.version.at,
            _ => now,
        };
        let record = VersionRecord {
            id: v.id.to_string(),
            ov,
            cv: 0,
            op: v.op,
            at,
            actor: opt(v.actor),
            reason: opt(v.reason),
            function_id: v.function_id,
            payload_key: item_key,
            size,
            sha256,
            indexed: meta,
            lineage: v.lineage,
            deleted: v.deleted,
            content_of: v.content_of.unwrap_or(ov),
            request_id: self.request_id.as_deref().map(str::to_string),
        };
        let expect = match v.head {
            Some(h) => Expect::Ov(h.version.ov),
            None => Expect::Absent,
        };
        // Kept for counting after the commit (the write below takes the record), unless the
        // catch-up counts it (`debounceMs`).
        let counted =
            (self.counter_rules().is_some() && !self.defers_counting()).then(|| record.clone());
        let write = VersionWrite {
            version: record,
            expect,
            seen: v.head.and_then(|h| h.mark.clone()),
            shadow,
            keep_history: self.settings.versioning,
        };
        match self.store.commit(self.name(), write).await {
            Ok(committed) => {
                if let Some(mut version) = counted {
                    version.cv = committed.cv;
                    self.count_committed(&version, Some(&doc), true).await;
                }
                if !committed.dropped.is_empty() {
                    self.discard_versions(&committed.dropped).await;
                }
                Ok(WriteResult {
                    id: v.id.to_string(),
                    ov,
                    cv: committed.cv,
                    at,
                })
            }
            Err(MetaError::AlreadyExists) => {
                self.discard(&written).await;
                Err(Error::AlreadyExists {
                    id: v.id.to_string(),
                })
            }
            Err(MetaError::Conflict { current_ov }) => {
                self.discard(&written).await;
                Err(match current_ov {
                    Some(current) => Error::Conflict {
                        id: v.id.to_string(),
                        expected: ov.saturating_sub(1),
                        current,
                    },
                    None => Error::NotFound(format!("item '{}'", v.id)),
                })
            }
            // Outcome unknown: the commit may have happened, so the objects stay (sweeper).
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an item (ov 0).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{CreateOptions, OriginRef, Route, DatabaseType};
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "customers").unwrap()).unwrap();
    /// let opts = CreateOptions { id: Some("cus-1".into()), origin: Some(OriginRef { id: "cus_123".into(), collection: "customers".into(), system: Some("stripe".into()) }), ..Default::default() };
    /// let r = c.create(serde_json::json!({"name": "Ada"}), "importer", "sync", opts).await.unwrap();
    /// assert_eq!((r.id.as_str(), r.ov), ("cus-1", 0));
    /// let item = c.get_latest("cus-1", Default::default()).await.unwrap().unwrap();
    /// assert_eq!(item.system.origin_collection.as_deref(), Some("stripe:customers"));
    /// # });
    /// ```
    pub async fn create(
        &self,
        data: Value,
        actor: &str,
        reason: &str,
        opts: CreateOptions,
    ) -> Result<WriteResult> {
        self.submit(WriteOp::create(data, actor, reason, opts))
            .await
    }

    /// [`Collection::create`] without the queue or the request-id check: also how the
    /// library writes its own records (receipts, resets), which are never queued.
    pub(crate) async fn create_direct(
        &self,
        data: Value,
        actor: &str,
        reason: &str,
        opts: CreateOptions,
    ) -> Result<WriteResult> {
        match opts.id.as_deref().map(item_id).transpose()? {
            // A caller-chosen id can collide with another writer's: take its lease.
            Some(id) => {
                self.with_lease(
                    &id,
                    self.create_unlocked(data, actor, reason, Some(&id), opts),
                )
                .await
            }
            None => self.create_unlocked(data, actor, reason, None, opts).await,
        }
    }

    /// A create under an id generated for it before its first attempt (so that a queued or
    /// repeated create names its item): written as a generated id is, without the lease
    /// and the check a caller's id needs; the commit's compare-and-set still refuses an id
    /// that exists (a repeat whose first attempt committed).
    pub(super) async fn create_fresh(
        &self,
        data: Value,
        actor: &str,
        reason: &str,
        id: ItemId,
        opts: CreateOptions,
    ) -> Result<WriteResult> {
        self.create_unlocked_as(data, actor, reason, None, Some(id), opts)
            .await
    }

    async fn create_unlocked(
        &self,
        data: Value,
        actor: &str,
        reason: &str,
        chosen_id: Option<&ItemId>,
        opts: CreateOptions,
    ) -> Result<WriteResult> {
        self.create_unlocked_as(data, actor, reason, chosen_id, None, opts)
            .await
    }

    async fn create_unlocked_as(
        &self,
        data: Value,
        actor: &str,
        reason: &str,
        chosen_id: Option<&ItemId>,
        fresh_id: Option<ItemId>,
        opts: CreateOptions,
    ) -> Result<WriteResult> {
        let doc = self.accept(data, chosen_id.map(ItemId::as_str))?;
        let (id, chosen) = match (chosen_id, fresh_id) {
            (Some(id), _) => (id.clone(), true),
            (None, Some(id)) => (id, false),
            (None, None) => (ItemId::generate(), false),
        };
        self.check_required(&doc)?;
        let mut lineage = Lineage::default();
        if let Some(p) = &opts.parent {
            names::check_item_id(&p.id).map_err(|e| Error::validation(format!("parent: {e}")))?;
            names::check_name("parent collection", &p.collection).map_err(Error::Validation)?;
            lineage.parent_id = Some(p.id.clone());
            lineage.parent_collection = Some(p.collection.clone());
            lineage.origin_id = Some(p.id.clone());
            lineage.origin_collection = Some(p.collection.clone());
        }
        if let Some(o) = &opts.origin {
            if o.id.is_empty()
                || o.id.len() > 256
                || o.collection.is_empty()
                || o.collection.len() > 256
            {
                return Err(Error::validation(
                    "origin id and collection must be 1-256 characters",
                ));
            }
            lineage.origin_id = Some(o.id.clone());
            lineage.origin_collection = Some(match &o.system {
                Some(sys) if !sys.is_empty() => format!("{sys}:{}", o.collection),
                _ => o.collection.clone(),
            });
        }
        // A caller's id may be taken: fail before writing any object. (The commit's
        // compare-and-set is what guarantees it; this only avoids wasted writes.)
        if chosen && self.head(&id).await?.is_some() {
            return Err(Error::AlreadyExists { id: id.to_string() });
        }
        self.write_version(NewVersion {
            id: &id,
            head: None,
            doc,
            op: Op::Create,
            lineage,
            actor,
            reason,
            function_id: None,
            deleted: false,
            content_of: None,
        })
        .await
    }

    /// Replaces an item's content. Fails with `Conflict` when `expected_ov` is stale and with
    /// `Deleted` when the item is logically deleted.
    pub async fn update(
        &self,
        id: &str,
        data: Value,
        expected_ov: u64,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        self.submit(WriteOp::Update {
            id: id.into(),
            data,
            expected_ov,
            actor: actor.into(),
            reason: reason.into(),
        })
        .await
    }

    /// [`Collection::update`] without the queue or the request-id check.
    pub(super) async fn update_direct(
        &self,
        id: &str,
        data: Value,
        expected_ov: u64,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        let id = &item_id(id)?;
        self.with_lease(
            id,
            self.update_unlocked(id, data, expected_ov, actor, reason),
        )
        .await
    }

    async fn update_unlocked(
        &self,
        id: &ItemId,
        data: Value,
        expected_ov: u64,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        let head = self.existing_head(id).await?;
        let doc = self.accept(data, Some(id))?;
        self.check_required(&doc)?;
        self.check_writable(&head, expected_ov)?;
        self.write_version(NewVersion {
            id,
            head: Some(&head),
            doc,
            op: Op::Update,
            lineage: carried(&head),
            actor,
            reason,
            function_id: None,
            deleted: false,
            content_of: None,
        })
        .await
    }

    fn check_writable(&self, head: &StoredVersion, expected_ov: u64) -> Result<()> {
        if head.version.op == Op::Erase {
            return Err(Error::Erased {
                what: format!("item '{}'", head.version.id),
            });
        }
        if head.version.deleted {
            return Err(Error::Deleted {
                id: head.version.id.clone(),
                ov: head.version.ov,
            });
        }
        if head.version.ov != expected_ov {
            return Err(Error::Conflict {
                id: head.version.id.clone(),
                expected: expected_ov,
                current: head.version.ov,
            });
        }
        Ok(())
    }

    /// Deletes an item: a DELETE version (logical delete, the default), or, with
    /// `logicalDelete.enabled = false`, the item, all its versions and all their objects
    /// (an item deleted logically before hard deletes were configured is removed that way
    /// too, which frees its id).
    pub async fn delete(
        &self,
        id: &str,
        expected_ov: u64,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        self.submit(WriteOp::Delete {
            id: id.into(),
            expected_ov,
            actor: actor.into(),
            reason: reason.into(),
        })
        .await
    }

    pub(super) async fn delete_direct(
        &self,
        id: &str,
        expected_ov: u64,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        let id = &item_id(id)?;
        self.with_lease(id, self.delete_unlocked(id, expected_ov, actor, reason))
            .await
    }

    async fn delete_unlocked(
        &self,
        id: &ItemId,
        expected_ov: u64,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        let head = self.existing_head(id).await?;
        if head.version.op == Op::Erase {
            // Its tombstone is the record of the erasure: a delete neither adds to it nor
            // removes it.
            return Err(Error::Erased {
                what: format!("item '{id}'"),
            });
        }
        if head.version.deleted && !self.settings.logical_delete {
            // Logically deleted before hard deletes were configured: removing it is the only
            // way to free its id, and exactly what a delete means here.
            if head.version.ov != expected_ov {
                return Err(Error::Conflict {
                    id: id.to_string(),
                    expected: expected_ov,
                    current: head.version.ov,
                });
            }
            return self.hard_delete(&head).await;
        }
        self.check_writable(&head, expected_ov)?;
        self.remove_item(&head, actor, reason).await
    }

    /// Commit point: the metadata purge. Objects are removed afterwards; a crash in between
    /// leaves unreferenced objects for the sweeper.
    async fn hard_delete(&self, head: &StoredVersion) -> Result<WriteResult> {
        let id = head.version.id.clone();
        // A purge leaves no version to count again, so it is counted from the head it
        // removes; a rule on the payload needs the content, read before anything is removed
        // (a failure here fails the delete, which has changed nothing yet).
        let counted_content = match self.counting_needs_payload() {
            true => Some(
                self.load_content(&head.version, head.shadow.as_deref())
                    .await?,
            ),
            false => None,
        };
        let (cv, removed) = self
            .store
            .purge_item(self.name(), &id, head.version.ov)
            .await
            .map_err(|e| match e {
                MetaError::Conflict {
                    current_ov: Some(current),
                } => Error::Conflict {
                    id: id.clone(),
                    expected: head.version.ov,
                    current,
                },
                MetaError::Conflict { current_ov: None } => Error::NotFound(format!("item '{id}'")),
                other => other.into(),
            })?;
        let at = self.inner.now();
        if self.counter_rules().is_some() {
            let version = VersionRecord {
                ov: head.version.ov + 1,
                cv,
                op: Op::Delete,
                at,
                deleted: true,
                ..head.version.clone()
            };
            self.count_committed(&version, counted_content.as_ref(), false)
                .await;
        }
        self.discard_versions(&removed).await;
        Ok(WriteResult {
            id,
            ov: head.version.ov + 1,
            cv,
            at,
        })
    }

    /// Deep-merges one or more patches into the item (arrays unioned), recording
    /// `function_id` in `_system.functionIds`.
    pub async fn enrich(
        &self,
        id: &str,
        patches: Value,
        opts: EnrichOptions,
    ) -> Result<WriteResult> {
        self.submit(WriteOp::enrich(id, patches, opts)).await
    }

    pub(super) async fn enrich_direct(
        &self,
        id: &str,
        patches: Value,
        opts: EnrichOptions,
    ) -> Result<WriteResult> {
        let id = &item_id(id)?;
        self.with_lease(id, self.enrich_unlocked(id, patches, opts))
            .await
    }

    async fn enrich_unlocked(
        &self,
        id: &ItemId,
        patches: Value,
        opts: EnrichOptions,
    ) -> Result<WriteResult> {
        let patches: Vec<Document> = match patches {
            Value::Array(items) if !items.is_empty() => items
                .into_iter()
                .map(|p| self.accept(p, Some(id)))
                .collect::<Result<_>>()
                .map_err(|e| match e {
                    Error::Validation(m) => Error::validation(format!("enrichment: {m}")),
                    other => other,
                })?,
            Value::Object(_) => vec![self.accept(patches, Some(id))?],
            _ => {
                return Err(Error::validation(
                    "enrichment must be a JSON object or a non-empty array of objects",
                ))
            }
        };
        if let Some(f) = &opts.function_id {
            if f.is_empty() || f.len() > 256 {
                return Err(Error::validation("functionId must be 1-256 characters"));
            }
        }
        for attempt in 0.. {
            // A merge is not idempotent: under the item's lease, a twin of this request that
            // committed while this one waited for the lease is the outcome, not a base.
            if let Some(done) = self.earlier_outcome(Some(id), Asked::BeforeWrite).await? {
                return Ok(done);
            }
            let head = self.existing_head(id).await?;
            match opts.expected_ov {
                Some(e) => self.check_writable(&head, e)?,
                None => self.check_writable(&head, head.version.ov)?,
            }
            let mut doc = self
                .load_content(&head.version, head.shadow.as_deref())
                .await?;
            for p in &patches {
                merge_objects(&mut doc, p);
            }
            let merged = Value::Object(doc);
            let size = serde_json::to_vec(&merged)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > self.settings.limits.max_payload_bytes {
                return Err(Error::PayloadTooLarge {
                    size,
                    limit: self.settings.limits.max_payload_bytes,
                });
            }
            check_document(&merged, self.settings.limits.max_depth)?;
            let Value::Object(doc) = merged else {
                return Err(Error::validation("enrichment result is not an object"));
            };
            self.check_required(&doc)?;
            let mut lineage = carried(&head);
            if let Some(f) = &opts.function_id {
                if !lineage.function_ids.contains(f) {
                    lineage.function_ids.push(f.clone());
                }
            }
            let result = self
                .write_version(NewVersion {
                    id,
                    head: Some(&head),
                    doc,
                    op: Op::Enrich,
                    lineage,
                    actor: &opts.actor,
                    reason: &opts.reason,
                    function_id: opts.function_id.clone(),
                    deleted: false,
                    content_of: None,
                })
                .await;
            match result {
                Err(Error::Conflict { .. })
                    if opts.expected_ov.is_none() && attempt + 1 < ENRICH_ATTEMPTS =>
                {
                    // Merging again is right for a concurrent writer's version, not for
                    // one this very request committed (a replay racing a retry).
                    // Under the item's lease when locks are on.
                    let asked = Asked::AfterRefusal {
                        wait: !self.settings.locks.enabled,
                    };
                    if let Some(done) = self.earlier_outcome(Some(id), asked).await? {
                        return Ok(done);
                    }
                    continue;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    /// Removes an item the way `delete` does in this deployment: a DELETE version with
    /// logical delete, else the item itself (versions and objects), so the id is free again.
    pub(super) async fn remove_item(
        &self,
        head: &StoredVersion,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        if self.settings.logical_delete {
            self.write_delete(head, actor, reason).await
        } else {
            self.hard_delete(head).await
        }
    }

    /// Writes a version reproducing `target`'s content and deletion state (restore). With
    /// `logicalDelete.enabled = false` a deleted target state removes the item instead, as
    /// `delete` does there.
    pub(super) async fn write_restore(
        &self,
        head: &StoredVersion,
        target: &StoredVersion,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        if target.version.deleted && !self.settings.logical_delete {
            return self.hard_delete(head).await;
        }
        let doc = self
            .load_content(&target.version, target.shadow.as_deref())
            .await?;
        let mut lineage = carried(head);
        for f in &target.version.lineage.function_ids {
            if !lineage.function_ids.contains(f) {
                lineage.function_ids.push(f.clone());
            }
        }
        self.write_version(NewVersion {
            id: &head.version.id,
            head: Some(head),
            doc,
            op: Op::Restore,
            lineage,
            actor,
            reason,
            function_id: None,
            deleted: target.version.deleted,
            content_of: Some(target.version.content_of),
        })
        .await
    }

    /// Writes a DELETE version: a copy of the head's content (so the version owns it),
    /// marked deleted. Used by `delete` and by restores to a state where the item was absent.
    pub(super) async fn write_delete(
        &self,
        head: &StoredVersion,
        actor: &str,
        reason: &str,
    ) -> Result<WriteResult> {
        let doc = self
            .load_content(&head.version, head.shadow.as_deref())
            .await?;
        self.write_version(NewVersion {
            id: &head.version.id,
            head: Some(head),
            doc,
            op: Op::Delete,
            lineage: carried(head),
            actor,
            reason,
            function_id: None,
            deleted: true,
            content_of: Some(head.version.content_of),
        })
        .await
    }
}

/// The `_system` fields a new version inherits from the head.
fn carried(head: &StoredVersion) -> Lineage {
    let mut l = head.version.lineage.clone();
    l.inserted_at = Some(l.inserted_at.unwrap_or(head.version.at));
    l
}
