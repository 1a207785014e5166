//! The entry point: [`Chronos`] owns the configuration and the store handles, and hands out
//! [`Collection`]s for routes.

use crate::config::ChronosConfig;
use crate::document;
use crate::error::{Error, Result};
use crate::meta::mongo::{MongoStore, TransactionPolicy};
use crate::meta::sqlite::SqliteStore;
use crate::meta::MetadataStore;
use crate::ops::{Collection, CollectionSettings};
use crate::payload::{ObjectPayloadStore, PayloadStore};
use crate::routing::{self, ResolvedRoute, Route};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Wraps a metadata store (for instrumentation or fault injection in tests).
pub type MetadataLayer =
    Arc<dyn Fn(Arc<dyn MetadataStore>) -> Arc<dyn MetadataStore> + Send + Sync>;
/// Wraps a payload store (for instrumentation or fault injection in tests).
pub type PayloadLayer = Arc<dyn Fn(Arc<dyn PayloadStore>) -> Arc<dyn PayloadStore> + Send + Sync>;

/// (spaceConnRef, bucket, prefix): one payload store each.
type PayloadKey = (String, String, Option<String>);

/// Optional hooks for [`Chronos::open_with`].
#[derive(Clone, Default)]
pub struct ChronosOptions {
    /// Applied to every metadata store when it is opened.
    pub metadata_layer: Option<MetadataLayer>,
    /// Applied to every payload store when it is opened.
    pub payload_layer: Option<PayloadLayer>,
}

/// A Chronos-DB instance.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use chronos_db::{Chronos, Route, DatabaseType};
/// use serde_json::json;
/// let dir = tempfile::tempdir().unwrap();
/// let chronos = Chronos::embedded(dir.path()).await.unwrap();
/// let users = chronos.with(Route::tenant(DatabaseType::Runtime, "tenant-a", "users")).unwrap();
/// let created = users.create(json!({"email": "a@example.com"}), "app", "signup", Default::default()).await.unwrap();
/// let item = users.get_latest(&created.id, Default::default()).await.unwrap().unwrap();
/// assert_eq!(item.data["email"], "a@example.com");
/// assert_eq!(item.system.ov, 0);
/// # });
/// ```
#[derive(Clone)]
pub struct Chronos {
    inner: Arc<Inner>,
}

impl Chronos {
    /// The instance a collection belongs to (for operations that span routes).
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Chronos { inner }
    }
}

pub(crate) struct Inner {
    pub(crate) config: ChronosConfig,
    options: ChronosOptions,
    metadata: Mutex<HashMap<(String, String), Arc<dyn MetadataStore>>>,
    payloads: Mutex<HashMap<PayloadKey, Arc<dyn PayloadStore>>>,
    /// (dbConnRef, dbName, collection) whose tables and indexes exist in this process.
    pub(crate) ensured: Mutex<HashSet<(String, String, String)>>,
    settings: Mutex<HashMap<String, Arc<CollectionSettings>>>,
    /// One MongoDB client per connection reference (the driver pools connections), shared
    /// by every route that names it; never shared across references.
    mongo_clients: HashMap<String, mongodb::Client>,
    /// Per MongoDB connection: what `hello` said about multi-document transactions, asked
    /// once per process and shared by every store on the connection.
    topologies: HashMap<String, crate::meta::mongo::Topology>,
}

/// How long a MongoDB operation waits for a reachable server by default.
const DEFAULT_MONGO_TIMEOUT: Duration = Duration::from_secs(5);

impl Chronos {
    /// Opens an instance over a validated configuration.
    pub async fn open(config: ChronosConfig) -> Result<Self> {
        Self::open_with(config, ChronosOptions::default()).await
    }

    /// Opens an instance with store layers.
    pub async fn open_with(config: ChronosConfig, options: ChronosOptions) -> Result<Self> {
        // TLS for the cloud payload stores uses rustls with ring; an application that
        // installed another provider first keeps it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        config.validate()?;
        // Backend errors and dependencies' log lines may quote a key: from now on every
        // redacted text leaves the configured ones out.
        crate::redact::register_config(&config);
        let mut mongo_clients = HashMap::new();
        for (name, conn) in &config.db_connections {
            if let Some(uri) = &conn.mongo_uri {
                let timeout = conn
                    .timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(DEFAULT_MONGO_TIMEOUT);
                // The driver connects lazily: an unreachable server fails the first operation
                // (within `timeout`), not start-up.
                let client =
                    crate::meta::mongo::connect(uri, timeout)
                        .await
                        .map_err(|e| match e {
                            crate::meta::MetaError::Invalid(m) => {
                                Error::Validation(format!("dbConnections.{name}: {m}"))
                            }
                            other => Error::Metadata(other),
                        })?;
                mongo_clients.insert(name.clone(), client);
            }
        }
        let topologies: HashMap<String, crate::meta::mongo::Topology> = mongo_clients
            .keys()
            .map(|name| (name.clone(), Default::default()))
            .collect();
        if config.transactions.enabled && config.transactions.auto_detect {
            for (name, client) in &mongo_clients {
                let (name, client) = (name.clone(), client.clone());
                let topology = topologies.get(&name).cloned().unwrap_or_default();
                // In the background: start-up must not wait for (or fail on) a slow server.
                // A failed detection is retried by the first commit that needs the answer.
                tokio::spawn(async move {
                    match crate::meta::mongo::topology_of(&topology, &client).await {
                        Ok(kind) => {
                            tracing::info!(connection = %name, topology = ?kind, "MongoDB transaction support detected")
                        }
                        Err(e) => {
                            tracing::warn!(connection = %name, error = %e, "could not detect MongoDB transaction support")
                        }
                    }
                });
            }
        }
        Ok(Chronos {
            inner: Arc::new(Inner {
                config,
                options,
                metadata: Mutex::new(HashMap::new()),
                payloads: Mutex::new(HashMap::new()),
                ensured: Mutex::new(HashSet::new()),
                settings: Mutex::new(HashMap::new()),
                mongo_clients,
                topologies,
            }),
        })
    }

    /// The embedded default: everything under `data_dir`.
    pub async fn embedded(data_dir: impl AsRef<Path>) -> Result<Self> {
        Self::open(ChronosConfig::embedded(data_dir)).await
    }

    /// What a MongoDB connection supports: `Some("replicaSet")` or `Some("sharded")` when
    /// multi-document transactions are available, `None` for a standalone server. Asked once
    /// per connection (at start-up when `transactions.autoDetect`, else on first call).
    /// With `transactions.enabled` and `autoDetect`, commits run in a transaction exactly when
    /// this says they can; without transactions the compare-and-set protocol keeps them safe.
    pub async fn transaction_support(&self, db_conn_ref: &str) -> Result<Option<&'static str>> {
        let (Some(client), Some(topology)) = (
            self.inner.mongo_clients.get(db_conn_ref),
            self.inner.topologies.get(db_conn_ref),
        ) else {
            return Err(Error::Validation(format!(
                "'{db_conn_ref}' is not a MongoDB connection"
            )));
        };
        Ok(crate::meta::mongo::topology_of(topology, client).await?)
    }

    /// When commits on a MongoDB connection run in a transaction: config `transactions`,
    /// sharing the connection's topology (detected once) with every store on it.
    pub(crate) fn transaction_policy(&self, db_conn_ref: &str) -> TransactionPolicy {
        let t = &self.inner.config.transactions;
        match (t.enabled, t.auto_detect) {
            (false, _) => TransactionPolicy::Never,
            (true, false) => TransactionPolicy::Always,
            (true, true) => TransactionPolicy::WhenSupported(
                self.inner
                    .topologies
                    .get(db_conn_ref)
                    .cloned()
                    .unwrap_or_default(),
            ),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ChronosConfig {
        &self.inner.config
    }

    /// Collection operations for a route.
    pub fn with(&self, route: Route) -> Result<Collection> {
        let resolved = routing::resolve(&self.inner.config, &route)?;
        let meta = self.metadata_store(&resolved)?;
        let payload = self.payload_store(&resolved)?;
        let settings = self.settings(&route.collection);
        Ok(Collection::new(
            self.inner.clone(),
            route,
            resolved,
            meta,
            payload,
            settings,
        ))
    }

    fn settings(&self, collection: &str) -> Arc<CollectionSettings> {
        let mut cache = self
            .inner
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .entry(collection.to_string())
            .or_insert_with(|| {
                let cfg = &self.inner.config;
                let map = cfg
                    .collection_maps
                    .get(collection)
                    .cloned()
                    .unwrap_or_default();
                let base64: Vec<String> = map.base64_props.keys().cloned().collect();
                Arc::new(CollectionSettings {
                    index: document::index_spec(&map.indexed_props, &base64),
                    required: map
                        .validation
                        .map(|v| v.required_indexed)
                        .unwrap_or_default(),
                    base64: map.base64_props.into_iter().collect(),
                    logical_delete: cfg.logical_delete.enabled,
                    versioning: cfg.versioning.enabled,
                    shadow: cfg.dev_shadow.clone(),
                    locks: cfg.locks.clone(),
                    limits: cfg.limits.clone(),
                })
            })
            .clone()
    }

    pub(crate) fn metadata_store(&self, r: &ResolvedRoute) -> Result<Arc<dyn MetadataStore>> {
        let key = (r.db_conn_ref.clone(), r.db_name.clone());
        let mut cache = self
            .inner
            .metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.get(&key) {
            return Ok(s.clone());
        }
        let conn = self
            .inner
            .config
            .db_connections
            .get(&r.db_conn_ref)
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "connection '{}' vanished from the validated config",
                    r.db_conn_ref
                ))
            })?;
        let store: Arc<dyn MetadataStore> = match (&conn.sqlite_dir, &conn.mongo_uri) {
            (Some(dir), _) => {
                let path = PathBuf::from(dir).join(format!("{}.sqlite", r.db_name));
                Arc::new(SqliteStore::open_with(&path, self.inner.config.durability)?)
            }
            _ => {
                let client = self
                    .inner
                    .mongo_clients
                    .get(&r.db_conn_ref)
                    .ok_or_else(|| {
                        Error::Corrupt(format!("no client for connection '{}'", r.db_conn_ref))
                    })?;
                let policy = self.transaction_policy(&r.db_conn_ref);
                Arc::new(MongoStore::new(client.clone(), &r.db_name).with_transactions(policy))
            }
        };
        let store = match &self.inner.options.metadata_layer {
            Some(layer) => layer(store),
            None => store,
        };
        cache.insert(key, store.clone());
        Ok(store)
    }

    pub(crate) fn payload_store(&self, r: &ResolvedRoute) -> Result<Arc<dyn PayloadStore>> {
        let key = (r.space_conn_ref.clone(), r.bucket.clone(), r.prefix.clone());
        let mut cache = self
            .inner
            .payloads
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.get(&key) {
            return Ok(s.clone());
        }
        let cfg = &self.inner.config;
        let conn = cfg
            .spaces_connections
            .get(&r.space_conn_ref)
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "connection '{}' vanished from the validated config",
                    r.space_conn_ref
                ))
            })?;
        let local_base = match &cfg.local_storage {
            Some(ls) if ls.enabled => Some(ls.base_path.as_str()),
            _ => None,
        };
        let store = match crate::payload::backends::local_dir(conn, local_base, &r.bucket) {
            // Created by the first write, so that reads never create directories.
            Some(dir) => ObjectPayloadStore::local_dir(dir, r.prefix.clone()),
            None => {
                let (inner, signing) =
                    crate::payload::backends::open(&r.space_conn_ref, conn, local_base, &r.bucket)?;
                ObjectPayloadStore::with_signing(inner, r.prefix.clone(), signing)
            }
        };
        let store: Arc<dyn PayloadStore> = Arc::new(store.with_durability(cfg.durability));
        let store = match &self.inner.options.payload_layer {
            Some(layer) => layer(store),
            None => store,
        };
        cache.insert(key, store.clone());
        Ok(store)
    }
}
