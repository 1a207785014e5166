//! The test harness: a backend factory, a Chronos opened over it, and store taps.

use async_trait::async_trait;
use bytes::Bytes;
use chronos_db::config::ChronosConfig;
use chronos_db::meta::{
    CollectionSpec, Committed, FlatPage, ItemPage, LeaseStore, MetaError, MetadataStore, QueryPage,
    VersionAt, VersionWrite,
};
use chronos_db::model::{StoredVersion, Timestamp, VersionRecord};
use chronos_db::payload::{ObjectInfo, PayloadError, PayloadStore};
use chronos_db::query::{AsOf, Query};
use chronos_db::{Chronos, ChronosOptions, Collection, DatabaseType, Route};
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A backend under test: gives configurations over fresh, isolated namespaces.
pub trait Backend: Send + Sync {
    /// A config over this backend; the returned guard keeps its resources alive.
    fn config(&self) -> Option<(ChronosConfig, Box<dyn Any + Send + Sync>)>;
}

/// The embedded backend: SQLite + local files in a temporary directory.
pub struct Embedded;

impl Backend for Embedded {
    fn config(&self) -> Option<(ChronosConfig, Box<dyn Any + Send + Sync>)> {
        let dir = tempfile::tempdir().expect("tempdir");
        Some((ChronosConfig::embedded(dir.path()), Box::new(dir)))
    }
}

/// Which call of a store fails (1-based, counted from arming), and how.
#[derive(Default)]
pub struct Fault {
    pub calls: AtomicUsize,
    /// 0 = disarmed.
    pub fail_at: AtomicUsize,
    /// For commits: perform the call, then report failure (a lost reply).
    pub after_effect: std::sync::atomic::AtomicBool,
    /// Payload writes: wait this long first (a slow store), 0 = no wait.
    pub put_delay_ms: std::sync::atomic::AtomicU64,
    /// Payload reads (`get`) so far: counted, never failed.
    pub reads: AtomicUsize,
}

impl Fault {
    pub fn arm(&self, k: usize, after_effect: bool) {
        self.calls.store(0, Ordering::SeqCst);
        self.after_effect.store(after_effect, Ordering::SeqCst);
        self.fail_at.store(k, Ordering::SeqCst);
    }
    pub fn disarm(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
    }
    /// Counts a call; true if this one must fail.
    fn hit(&self) -> bool {
        let k = self.fail_at.load(Ordering::SeqCst);
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        k != 0 && n == k
    }
}

pub struct Harness {
    pub chronos: Chronos,
    /// The configuration, to open independent clients on the same data.
    pub config: ChronosConfig,
    /// Every metadata store opened so far (below the fault layer).
    pub metas: Arc<Mutex<Vec<Arc<dyn MetadataStore>>>>,
    pub payloads: Arc<Mutex<Vec<Arc<dyn PayloadStore>>>>,
    pub meta_fault: Arc<Fault>,
    pub payload_fault: Arc<Fault>,
    /// Fails recording a counted version (a crash between a commit and its count).
    pub count_fault: Arc<Fault>,
    /// Fails an object deletion (counted apart from the other payload calls).
    pub delete_fault: Arc<Fault>,
    /// The clock writes and analytics runs read: microseconds since the epoch, 0 = the
    /// system clock.
    pub clock: Arc<std::sync::atomic::AtomicI64>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl Harness {
    /// Opens the backend with a config tweak; `None` when the backend is unavailable here.
    pub async fn open(
        backend: &dyn Backend,
        tweak: impl FnOnce(&mut ChronosConfig),
    ) -> Option<Harness> {
        let (mut cfg, guard) = backend.config()?;
        tweak(&mut cfg);
        // A fallback queue without a directory gets one of its own (backends without a
        // sqliteDir have nowhere to put it otherwise).
        let queue_dir = tempfile::tempdir().expect("tempdir");
        if let Some(f) = cfg.fallback.as_mut().filter(|f| f.queue_dir.is_none()) {
            f.queue_dir = Some(queue_dir.path().display().to_string());
        }
        let guard: Box<dyn Any + Send + Sync> = Box::new((guard, queue_dir));
        let payloads: Arc<Mutex<Vec<Arc<dyn PayloadStore>>>> = Arc::default();
        let meta_fault = Arc::new(Fault::default());
        let payload_fault = Arc::new(Fault::default());
        let count_fault = Arc::new(Fault::default());
        let cf = count_fault.clone();
        let delete_fault = Arc::new(Fault::default());
        let df = delete_fault.clone();
        let clock = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let fixed = clock.clone();
        let metas: Arc<Mutex<Vec<Arc<dyn MetadataStore>>>> = Arc::default();
        let (p, mf, pf, m) = (
            payloads.clone(),
            meta_fault.clone(),
            payload_fault.clone(),
            metas.clone(),
        );
        let options = ChronosOptions {
            metadata_layer: Some(Arc::new(move |inner| {
                m.lock().unwrap().push(inner.clone());
                Arc::new(FaultyMeta {
                    inner,
                    fault: mf.clone(),
                    count_fault: cf.clone(),
                }) as Arc<dyn MetadataStore>
            })),
            payload_layer: Some(Arc::new(move |inner| {
                let tapped: Arc<dyn PayloadStore> = Arc::new(FaultyPayload {
                    inner,
                    fault: pf.clone(),
                    delete_fault: df.clone(),
                });
                p.lock().unwrap().push(tapped.clone());
                tapped
            })),
            clock: Some(Arc::new(move || match fixed.load(Ordering::SeqCst) {
                0 => Timestamp::now(),
                at => Timestamp(at),
            })),
        };
        let chronos = Chronos::open_with(cfg.clone(), options)
            .await
            .expect("open chronos");
        Some(Harness {
            chronos,
            config: cfg,
            metas,
            payloads,
            meta_fault,
            payload_fault,
            count_fault,
            delete_fault,
            clock,
            _guard: guard,
        })
    }

    /// Sets the clock to `at` (RFC 3339); `None` gives it back to the system clock.
    pub fn set_clock(&self, at: Option<&str>) {
        let micros = at
            .map(|t| Timestamp::parse(t).expect("a time").micros())
            .unwrap_or(0);
        self.clock.store(micros, Ordering::SeqCst);
    }

    pub fn tenant(&self, tenant: &str, collection: &str) -> Collection {
        self.chronos
            .with(Route::tenant(DatabaseType::Runtime, tenant, collection).unwrap())
            .expect("route")
    }

    pub fn coll(&self, collection: &str) -> Collection {
        self.tenant("tenant-a", collection)
    }

    /// Every object key under a prefix, across all payload stores opened so far.
    pub async fn objects(&self, prefix: &str) -> Vec<String> {
        let stores: Vec<_> = self.payloads.lock().unwrap().clone();
        let mut out = Vec::new();
        for s in stores {
            out.extend(
                s.list(prefix)
                    .await
                    .expect("list")
                    .into_iter()
                    .map(|o| o.key),
            );
        }
        out.sort();
        out
    }
}

struct FaultyMeta {
    inner: Arc<dyn MetadataStore>,
    fault: Arc<Fault>,
    count_fault: Arc<Fault>,
}

fn injected() -> MetaError {
    MetaError::Unavailable("injected fault".into())
}

#[async_trait]
impl LeaseStore for FaultyMeta {
    async fn acquire_lease(
        &self,
        coll: &str,
        id: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, MetaError> {
        self.inner.acquire_lease(coll, id, owner, lease).await
    }
    async fn release_lease(&self, coll: &str, id: &str, owner: &str) -> Result<(), MetaError> {
        self.inner.release_lease(coll, id, owner).await
    }
}

/// Counters pass through, except that recording a counted version can fail like a crash
/// between a commit and its count (`Harness::count_fault`).
#[async_trait]
impl chronos_db::meta::CounterStore for FaultyMeta {
    async fn ensure_counters(&self, key: &str) -> Result<(), MetaError> {
        self.inner.ensure_counters(key).await
    }
    async fn record_counted(
        &self,
        key: &str,
        e: &chronos_db::meta::CountedVersion,
        values: &[chronos_db::meta::UniqueValue],
    ) -> Result<bool, MetaError> {
        if self.count_fault.hit() {
            if self.count_fault.after_effect.load(Ordering::SeqCst) {
                self.inner.record_counted(key, e, values).await?;
            }
            return Err(injected());
        }
        self.inner.record_counted(key, e, values).await
    }
    async fn counted_cvs(
        &self,
        key: &str,
        after: u64,
        through: u64,
    ) -> Result<Vec<u64>, MetaError> {
        self.inner.counted_cvs(key, after, through).await
    }
    async fn counter_mark(&self, key: &str) -> Result<chronos_db::meta::CounterMark, MetaError> {
        self.inner.counter_mark(key).await
    }
    async fn advance_counter_mark(&self, key: &str, through: u64) -> Result<(), MetaError> {
        self.inner.advance_counter_mark(key, through).await
    }
    async fn reset_counters(&self, key: &str, floor: u64) -> Result<(), MetaError> {
        self.inner.reset_counters(key, floor).await
    }
    async fn counter_totals(
        &self,
        key: &str,
    ) -> Result<chronos_db::meta::CounterTotals, MetaError> {
        self.inner.counter_totals(key).await
    }
    async fn unique_values(
        &self,
        key: &str,
        rule: &str,
        property: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, MetaError> {
        self.inner
            .unique_values(key, rule, property, after, limit)
            .await
    }
}

#[async_trait]
impl chronos_db::meta::ResultStore for FaultyMeta {
    async fn ensure_results(&self, table: &str) -> Result<(), MetaError> {
        self.inner.ensure_results(table).await
    }
    async fn put_results(
        &self,
        table: &str,
        rows: &[chronos_db::meta::AnalyticsResult],
    ) -> Result<(), MetaError> {
        self.inner.put_results(table, rows).await
    }
    async fn prune_results(
        &self,
        table: &str,
        rule: &str,
        tenant: &str,
        before: Timestamp,
    ) -> Result<u64, MetaError> {
        self.inner.prune_results(table, rule, tenant, before).await
    }
    async fn results(
        &self,
        table: &str,
        filter: &chronos_db::meta::ResultFilter,
    ) -> Result<Vec<chronos_db::meta::AnalyticsResult>, MetaError> {
        self.inner.results(table, filter).await
    }
}

#[async_trait]
impl chronos_db::meta::RetentionStore for FaultyMeta {
    async fn prune_versions(
        &self,
        coll: &str,
        id: &str,
        below: u64,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        self.inner.prune_versions(coll, id, below).await
    }
    async fn oldest_version(
        &self,
        coll: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, MetaError> {
        self.inner.oldest_version(coll, id).await
    }
    async fn drop_inline_copies(
        &self,
        coll: &str,
        id: &str,
        below: u64,
        older_than: Timestamp,
    ) -> Result<u64, MetaError> {
        self.inner
            .drop_inline_copies(coll, id, below, older_than)
            .await
    }
    async fn record_retention_floor(
        &self,
        coll: &str,
        floor: &VersionRecord,
    ) -> Result<(), MetaError> {
        self.inner.record_retention_floor(coll, floor).await
    }
    async fn retention_horizon(
        &self,
        coll: &str,
    ) -> Result<Option<chronos_db::meta::RetentionHorizon>, MetaError> {
        self.inner.retention_horizon(coll).await
    }
    async fn compact_cv_counter(&self, coll: &str) -> Result<u64, MetaError> {
        self.inner.compact_cv_counter(coll).await
    }
}

#[async_trait]
impl chronos_db::meta::ErasureStore for FaultyMeta {
    async fn ids_in_any_version(
        &self,
        coll: &CollectionSpec,
        filter: &chronos_db::query::Filter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, MetaError> {
        if self.fault.hit() {
            return Err(injected());
        }
        self.inner
            .ids_in_any_version(coll, filter, after, limit)
            .await
    }
    async fn scrub_versions(&self, coll: &str, id: &str, below: u64) -> Result<u64, MetaError> {
        if self.fault.hit() {
            if self.fault.after_effect.load(Ordering::SeqCst) {
                self.inner.scrub_versions(coll, id, below).await?;
            }
            return Err(injected());
        }
        self.inner.scrub_versions(coll, id, below).await
    }
    async fn erased_among(
        &self,
        coll: &str,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, MetaError> {
        self.inner.erased_among(coll, ids).await
    }
}

#[async_trait]
impl chronos_db::meta::KeyStore for FaultyMeta {
    async fn insert_key(&self, key: &chronos_db::meta::WrappedKey) -> Result<(), MetaError> {
        self.inner.insert_key(key).await
    }
    async fn get_key(&self, kid: &str) -> Result<Option<chronos_db::meta::WrappedKey>, MetaError> {
        self.inner.get_key(kid).await
    }
    async fn current_key(
        &self,
        scope: &str,
    ) -> Result<Option<chronos_db::meta::WrappedKey>, MetaError> {
        self.inner.current_key(scope).await
    }
    async fn destroy_keys(&self, scope: &str) -> Result<u64, MetaError> {
        self.inner.destroy_keys(scope).await
    }
    async fn keys_not_wrapped_by(
        &self,
        master_id: &str,
    ) -> Result<Vec<chronos_db::meta::WrappedKey>, MetaError> {
        self.inner.keys_not_wrapped_by(master_id).await
    }
    async fn rewrap_key(
        &self,
        kid: &str,
        wrapped: &[u8],
        master_id: &str,
    ) -> Result<(), MetaError> {
        self.inner.rewrap_key(kid, wrapped, master_id).await
    }
}

#[async_trait]
impl MetadataStore for FaultyMeta {
    async fn payload_keys(&self, coll: &str, id: &str) -> Result<Vec<String>, MetaError> {
        self.inner.payload_keys(coll, id).await
    }
    async fn ensure_collection(&self, coll: &CollectionSpec) -> Result<(), MetaError> {
        self.inner.ensure_collection(coll).await
    }
    async fn get_head(&self, coll: &str, id: &str) -> Result<Option<StoredVersion>, MetaError> {
        if self.fault.hit() {
            return Err(injected());
        }
        self.inner.get_head(coll, id).await
    }
    async fn commit(&self, coll: &str, write: VersionWrite) -> Result<Committed, MetaError> {
        if self.fault.hit() {
            if self.fault.after_effect.load(Ordering::SeqCst) {
                self.inner.commit(coll, write).await?;
            }
            return Err(injected());
        }
        self.inner.commit(coll, write).await
    }
    async fn purge_item(
        &self,
        coll: &str,
        id: &str,
        expected_ov: u64,
    ) -> Result<(u64, Vec<VersionRecord>), MetaError> {
        if self.fault.hit() {
            return Err(injected());
        }
        self.inner.purge_item(coll, id, expected_ov).await
    }
    async fn get_version(
        &self,
        coll: &str,
        id: &str,
        ov: u64,
    ) -> Result<Option<StoredVersion>, MetaError> {
        self.inner.get_version(coll, id, ov).await
    }
    async fn version_as_of(
        &self,
        coll: &str,
        id: &str,
        as_of: AsOf,
    ) -> Result<Option<StoredVersion>, MetaError> {
        self.inner.version_as_of(coll, id, as_of).await
    }
    async fn version_and_erased(
        &self,
        coll: &str,
        id: &str,
        at: VersionAt,
    ) -> Result<(Option<StoredVersion>, bool), MetaError> {
        // Counted like the head read it includes.
        if self.fault.hit() {
            return Err(injected());
        }
        self.inner.version_and_erased(coll, id, at).await
    }
    async fn find_request(
        &self,
        coll: &str,
        id: &str,
        request_id: &str,
    ) -> Result<chronos_db::meta::RequestState, MetaError> {
        if self.fault.hit() {
            return Err(injected());
        }
        self.inner.find_request(coll, id, request_id).await
    }
    async fn history(
        &self,
        coll: &str,
        id: &str,
        before_ov: Option<u64>,
        limit: usize,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        self.inner.history(coll, id, before_ov, limit).await
    }
    async fn query(&self, coll: &CollectionSpec, query: &Query) -> Result<QueryPage, MetaError> {
        self.inner.query(coll, query).await
    }
    async fn query_flat(
        &self,
        coll: &CollectionSpec,
        query: &Query,
        inline_since: Option<Timestamp>,
    ) -> Result<FlatPage, MetaError> {
        self.inner.query_flat(coll, query, inline_since).await
    }
    async fn compact(&self) -> Result<Option<chronos_db::meta::Compaction>, MetaError> {
        self.inner.compact().await
    }
    async fn query_items(
        &self,
        coll: &CollectionSpec,
        query: &Query,
        inline_since: Option<Timestamp>,
    ) -> Result<ItemPage, MetaError> {
        self.inner.query_items(coll, query, inline_since).await
    }
    async fn scan_heads(
        &self,
        coll: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredVersion>, MetaError> {
        self.inner.scan_heads(coll, after_id, limit).await
    }
    async fn count_heads(&self, coll: &str, after_id: Option<&str>) -> Result<u64, MetaError> {
        self.inner.count_heads(coll, after_id).await
    }
    async fn cv_as_of(&self, coll: &str, at: Timestamp) -> Result<u64, MetaError> {
        self.inner.cv_as_of(coll, at).await
    }
    async fn committed_after(
        &self,
        coll: &str,
        after: u64,
        limit: usize,
    ) -> Result<chronos_db::meta::CommittedPage, MetaError> {
        self.inner.committed_after(coll, after, limit).await
    }
    async fn visible_after(
        &self,
        coll: &str,
        after: u64,
        limit: usize,
    ) -> Result<chronos_db::meta::CommittedPage, MetaError> {
        self.inner.visible_after(coll, after, limit).await
    }
    async fn versions_by_actor(
        &self,
        coll: &str,
        actor: &str,
        window: &chronos_db::meta::ActorWindow,
        limit: usize,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        self.inner
            .versions_by_actor(coll, actor, window, limit)
            .await
    }
}

struct FaultyPayload {
    inner: Arc<dyn PayloadStore>,
    fault: Arc<Fault>,
    delete_fault: Arc<Fault>,
}

fn payload_injected() -> PayloadError {
    PayloadError::Unavailable("injected fault".into())
}

#[async_trait]
impl PayloadStore for FaultyPayload {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), PayloadError> {
        let delay = self.fault.put_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        if self.fault.hit() {
            if self.fault.after_effect.load(Ordering::SeqCst) {
                self.inner.put(key, bytes).await?;
            }
            return Err(payload_injected());
        }
        self.inner.put(key, bytes).await
    }
    async fn put_encoded(
        &self,
        key: &str,
        bytes: Bytes,
        content_encoding: &str,
    ) -> Result<(), PayloadError> {
        if self.fault.hit() {
            return Err(payload_injected());
        }
        self.inner.put_encoded(key, bytes, content_encoding).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, PayloadError> {
        self.fault.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), PayloadError> {
        if self.fault.hit() {
            return Err(payload_injected());
        }
        self.inner.copy(from, to).await
    }
    async fn delete(&self, key: &str) -> Result<(), PayloadError> {
        if self.delete_fault.hit() {
            return Err(payload_injected());
        }
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PayloadError> {
        self.inner.list(prefix).await
    }
    async fn presign(&self, key: &str, ttl: std::time::Duration) -> Result<String, PayloadError> {
        self.inner.presign(key, ttl).await
    }
}
