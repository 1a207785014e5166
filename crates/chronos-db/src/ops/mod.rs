//! Collection operations: write (create / update / delete / enrich), read, restore.
//!
//! # The write protocol (every mutating operation)
//!
//! 1. **Validate** everything that can be checked without I/O: ids, payload shape, size and
//!    depth, required indexed fields, base64 values. A rejected write touches nothing.
//! 2. **Read the head** and decide `ov = head.ov + 1` (0 for a create).
//! 3. **Write the payload objects** under a fresh prefix `<coll>/<id>/v<ov>.<writeId>/`:
//!    blobs first, then `item.json`. The write id is random per attempt, so no other attempt,
//!    committed or not, can ever own these keys.
//! 4. **Commit** ([`crate::meta::MetadataStore::commit`]): allocate a cv, insert the version
//!    row, compare-and-set the head from the ov read in step 2. This is the commit point.
//! 5. After a definite refusal (conflict, id taken) the attempt deletes its own objects; they
//!    are referenced by nothing. After an error whose outcome is unknown it deletes nothing.
//!
//! What a crash leaves behind at each step:
//! * during 1-2: nothing;
//! * during 3 (some objects written): orphan objects under a prefix no version references;
//!   readers never see them; the sweeper removes them;
//! * during 4, before the store's commit: as above (the store rolls back the partial commit);
//! * after 4: the write is committed and acknowledged state is complete; a lost reply is
//!   reported as an error but the version is there (reads show it).
//!
//! Hence: an acknowledged write is always readable, and no version points at an object it
//! does not own (a DELETE or RESTORE copies the content it reproduces into its own prefix).
//!
//! Machine crashes: with `durability: powerLoss` (the default) the embedded backend flushes
//! each object and its directories in step 3 and the SQLite log in step 4 before going on,
//! so the same holds across a power loss. MongoDB and cloud object stores acknowledge
//! writes according to their own durability (write concern, the provider's guarantees).

mod analytics;
mod blame;
mod blobs;
mod by_actor;
mod changes;
mod context;
mod counting;
mod diff;
mod entities;
mod erase;
mod gc;
mod hydrate;
mod links;
mod read;
mod restore;
mod retention;
mod submit;
mod write;

pub use blame::{
    Blame, BlameLine, FieldChange, FieldHistoryOptions, FieldHistoryPage, MAX_VERSIONS_WALKED,
};
pub use by_actor::{ActorVersionsOptions, ActorVersionsPage};
pub use changes::{Change, ChangeContent, ChangesOptions, ChangesPage};
pub use entities::{
    entity_id, EntityInsert, EntityMapping, EntityOperation, EntityRecords, EntityResult,
};
pub use erase::{EraseOptions, EraseReport, EraseStep, ResumeReport};
pub use gc::GcReport;
pub use read::{HistoryOptions, HistoryPage, JsonPage, ListOptions, Page, ReadAt, ReadOptions};
pub use restore::{
    CollectionTarget, RestoreOptions, RestoreProgress, RestoreReport, RestoreTarget,
};
pub use retention::{RetentionOptions, RetentionProgress, RetentionReport};
pub(crate) use submit::WriteOp;
pub use submit::MAX_REQUEST_ID_LEN;
pub use write::{CreateOptions, EnrichOptions, LineageRef, OriginRef};

pub(crate) use context::Context;
pub use context::{ChronosOptions, Clock};
pub(crate) use links::{read_encrypted_link, ENCRYPTED_LINK};

use crate::config::{Base64Prop, DevShadow, Limits};
use crate::error::{Error, Result};
use crate::meta::{CollectionSpec, MetadataStore};
use crate::model::{StoredVersion, VersionRecord};
use crate::names::ItemId;
use crate::payload::PayloadStore;
use crate::query::IndexSpec;
use crate::routing::{ResolvedRoute, Route};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Per-collection settings derived from the configuration.
#[derive(Debug, Clone)]
pub struct CollectionSettings {
    /// Which properties filters and sorts may name.
    pub index: IndexSpec,
    /// `validation.requiredIndexed`: properties every write must give.
    pub required: Vec<String>,
    /// `base64Props`: properties stored as blobs, with their content types.
    pub base64: Vec<(String, Base64Prop)>,
    /// `logicalDelete.enabled`: delete writes a DELETE version (else it removes the item).
    pub logical_delete: bool,
    /// `versioning.enabled`: keep every version (else only the latest).
    pub versioning: bool,
    /// `devShadow`: keep small documents inline with their version.
    pub shadow: DevShadow,
    /// Input limits.
    pub limits: Limits,
    /// Per-item leases around writes.
    pub locks: crate::config::Locks,
    /// Version retention: `collectionMaps.<c>.retention`, else `retention.ver`.
    pub retention: Option<crate::config::VersionRetention>,
    /// `subjectProps`: the properties naming an item's data subject.
    pub subject_props: Vec<String>,
    /// `writeOptimization.compressionEnabled`: the smallest `item.json` stored compressed.
    pub compress_from: Option<u32>,
    /// `writeOptimization.batchSize`: versions a counters catch-up reads per page.
    pub count_batch: usize,
    /// `writeOptimization.debounceMs`: writers leave counting to the catch-up, which runs at
    /// most this often per collection.
    pub count_debounce: Option<Duration>,
}

impl CollectionSettings {
    /// The settings of `collection` under a configuration.
    pub(crate) fn of(cfg: &crate::config::ChronosConfig, collection: &str) -> Self {
        let map = cfg
            .collection_maps
            .get(collection)
            .cloned()
            .unwrap_or_default();
        let base64: Vec<String> = map.base64_props.keys().cloned().collect();
        CollectionSettings {
            index: crate::document::index_spec(&map.indexed_props, &base64),
            required: map
                .validation
                .map(|v| v.required_indexed)
                .unwrap_or_default(),
            base64: map.base64_props.into_iter().collect(),
            logical_delete: cfg.logical_delete.enabled,
            versioning: cfg.versioning.enabled,
            // Inline copies would keep plaintext in the metadata store: none are written
            // with encryption on (those written before are still read).
            shadow: DevShadow {
                enabled: cfg.dev_shadow.enabled
                    && !cfg.encryption.as_ref().is_some_and(|e| e.enabled),
                ..cfg.dev_shadow.clone()
            },
            locks: cfg.locks.clone(),
            limits: cfg.limits.clone(),
            retention: map.retention.or_else(|| cfg.retention.ver.clone()),
            subject_props: map.subject_props,
            compress_from: cfg
                .write_optimization
                .as_ref()
                .filter(|w| w.compression_enabled == Some(true))
                .map(|w| {
                    w.compression_min_bytes
                        .unwrap_or(crate::compression::DEFAULT_MIN_BYTES)
                }),
            count_batch: cfg
                .write_optimization
                .as_ref()
                .and_then(|w| w.batch_size)
                .map_or(1000, |n| n.clamp(1, 10_000) as usize),
            count_debounce: cfg
                .write_optimization
                .as_ref()
                .and_then(|w| w.debounce_ms)
                .map(Duration::from_millis),
        }
    }
}

/// The operations of one collection on one route. Cheap to clone.
#[derive(Clone)]
pub struct Collection {
    inner: Arc<Context>,
    route: Route,
    resolved: ResolvedRoute,
    store: Arc<dyn MetadataStore>,
    payload: Arc<dyn PayloadStore>,
    settings: Arc<CollectionSettings>,
    /// With data keys per subject: `payload`, to derive each version's writing store from.
    subject_keys: Option<Arc<crate::encryption::EncryptedPayload>>,
    /// The request id item writes record (see [`Collection::with_request_id`]).
    request_id: Option<Arc<str>>,
}

impl Collection {
    pub(crate) fn new(
        inner: Arc<Context>,
        route: Route,
        resolved: ResolvedRoute,
        store: Arc<dyn MetadataStore>,
        payload: Arc<dyn PayloadStore>,
        settings: Arc<CollectionSettings>,
    ) -> Self {
        Collection {
            inner,
            route,
            resolved,
            store,
            payload,
            settings,
            subject_keys: None,
            request_id: None,
        }
    }

    /// Encrypts each version under its data subject's key (`encryption.scope: "subject"`).
    pub(crate) fn with_subject_keys(
        mut self,
        encrypted: Arc<crate::encryption::EncryptedPayload>,
    ) -> Self {
        self.subject_keys = Some(encrypted);
        self
    }

    /// Where the objects of a version holding `doc` are written: under its subject's key
    /// when keys are per subject, else the collection's store.
    fn payload_for(&self, doc: &crate::model::Document) -> Arc<dyn PayloadStore> {
        match &self.subject_keys {
            Some(enc) => {
                let scope = enc
                    .keyring
                    .scope_for(&enc.scope, doc, &self.settings.subject_props);
                Arc::new(enc.writing_for(scope))
            }
            None => self.payload.clone(),
        }
    }

    /// The input limits that apply to this collection's writes.
    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    /// The route these operations act on.
    pub fn route(&self) -> &Route {
        &self.route
    }

    fn name(&self) -> &str {
        &self.route.collection
    }

    /// Creates the collection's tables and indexes once per process.
    async fn ensure(&self) -> Result<()> {
        let key = (
            self.resolved.db_conn_ref.clone(),
            self.resolved.db_name.clone(),
            self.route.collection.to_string(),
        );
        if self
            .inner
            .ensured
            .lock()
            .map(|s| s.contains(&key))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let spec = CollectionSpec {
            name: self.route.collection.to_string(),
            index: self.settings.index.clone(),
        };
        self.store.ensure_collection(&spec).await?;
        if let Ok(mut s) = self.inner.ensured.lock() {
            s.insert(key);
        }
        Ok(())
    }

    fn spec(&self) -> CollectionSpec {
        CollectionSpec {
            name: self.route.collection.to_string(),
            index: self.settings.index.clone(),
        }
    }

    async fn head(&self, id: &ItemId) -> Result<Option<StoredVersion>> {
        Ok(self.store.get_head(self.name(), id).await?)
    }

    async fn existing_head(&self, id: &ItemId) -> Result<StoredVersion> {
        self.head(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("item '{id}'")))
    }

    /// Time travel and restores need the version history, which `versioning.enabled = false`
    /// does not keep: refuse them rather than answer from the latest version alone.
    fn need_history(&self, what: &str) -> Result<()> {
        if self.settings.versioning {
            Ok(())
        } else {
            Err(Error::validation(format!(
                "{what} needs version history; this deployment has versioning.enabled = false"
            )))
        }
    }

    /// Runs a mutating operation under the item's lease when `locks.enabled`: acquire (with
    /// bounded, jittered retries), renew every third of the lease while `op` runs, release.
    async fn with_lease<T>(&self, id: &ItemId, op: impl Future<Output = Result<T>>) -> Result<T> {
        let cfg = &self.settings.locks;
        if !cfg.enabled {
            return op.await;
        }
        let lease = Duration::from_millis(cfg.lease_ms);
        let owner = format!("{}:{}", lease_owner_prefix(), crate::names::write_id());
        let now = tokio::time::Instant::now();
        // A wait too long to add to the clock waits (in effect) forever instead of panicking.
        let deadline = now
            .checked_add(Duration::from_millis(cfg.wait_ms))
            .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        let mut pause_ms = 2u64;
        while !self
            .store
            .acquire_lease(self.name(), id, &owner, lease)
            .await?
        {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Locked { id: id.to_string() });
            }
            let jitter = rand::random::<u64>() % pause_ms.max(1);
            tokio::time::sleep(Duration::from_millis(pause_ms / 2 + jitter)).await;
            pause_ms = (pause_ms * 2).min(100);
        }
        // Aborted when dropped, so that a caller who drops this future (a request timeout, a
        // cancelled task) stops the renewals too, and the lease then simply expires.
        let renew = AbortOnDrop({
            let (meta, coll, id, owner) = (
                self.store.clone(),
                self.name().to_string(),
                id.to_string(),
                owner.clone(),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if let Err(e) = meta.acquire_lease(&coll, &id, &owner, lease).await {
                        tracing::warn!(item = %id, error = %e, "could not renew a lease");
                    }
                }
            })
        });
        let result = op.await;
        drop(renew);
        if let Err(e) = self.store.release_lease(self.name(), id, &owner).await {
            // The lease then simply expires.
            tracing::warn!(item = %id, error = %e, "could not release a lease");
        }
        result
    }

    /// Deletes objects this process wrote and knows are unreferenced. Failures only leave
    /// orphans for the sweeper.
    async fn discard(&self, keys: &[String]) {
        for k in keys {
            if let Err(e) = self.payload.delete(k).await {
                tracing::warn!(key = %k, error = %e, "could not delete an unreferenced object; the sweeper will");
            }
        }
    }

    /// Deletes every object under the prefixes of versions that no longer exist.
    async fn discard_versions(&self, versions: &[VersionRecord]) {
        for v in versions {
            match self.payload.list(v.object_prefix()).await {
                Ok(objs) => {
                    let keys: Vec<String> = objs.into_iter().map(|o| o.key).collect();
                    self.discard(&keys).await;
                }
                Err(e) => {
                    tracing::warn!(prefix = %v.object_prefix(), error = %e, "could not list objects of a removed version")
                }
            }
        }
    }
}

/// A spawned task that is aborted when this is dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A caller's item id, validated: every public operation parses its id once, here.
fn item_id(id: &str) -> Result<ItemId> {
    ItemId::parse(id).map_err(Error::Validation)
}

/// `<host>-<pid>`: who holds a lease, for operators reading `<coll>_locks`.
fn lease_owner_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        format!("{host}-{}", std::process::id())
    })
}
