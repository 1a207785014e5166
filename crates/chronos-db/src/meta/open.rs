//! The one place that chooses a metadata backend: a connection's configuration in, an
//! `Arc<dyn MetadataStore>` out. It owns what backends share across databases — one MongoDB
//! client per connection reference (the driver pools connections) and the topology each
//! connection reports — and caches one store per `(connection, database)`.

use super::mongo::{self, MongoStore, Topology, TransactionPolicy};
use super::sqlite::SqliteStore;
use super::{MetaError, MetadataStore};
use crate::config::ChronosConfig;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Wraps a metadata store when it is opened (instrumentation, fault injection in tests).
///
/// A wrapper should forward every method of [`MetadataStore`], the provided ones included
/// (such as [`MetadataStore::query_flat`] and [`MetadataStore::query_items`]): one it does
/// not forward falls back to its generic form, which gives the same results without the
/// backend's shortcut.
pub type MetadataLayer =
    Arc<dyn Fn(Arc<dyn MetadataStore>) -> Arc<dyn MetadataStore> + Send + Sync>;

/// How long a MongoDB operation waits for a reachable server by default.
const DEFAULT_MONGO_TIMEOUT: Duration = Duration::from_secs(5);

/// The metadata stores of one configuration, opened on first use.
pub(crate) struct MetadataStores {
    config: Arc<ChronosConfig>,
    layer: Option<MetadataLayer>,
    /// One client per MongoDB connection reference, never shared across references.
    mongo_clients: HashMap<String, mongodb::Client>,
    /// Per MongoDB connection: what `hello` said about multi-document transactions, asked
    /// once per process and shared by every store on the connection.
    topologies: HashMap<String, Topology>,
    /// `(connection, database)` → its store.
    opened: Mutex<HashMap<(String, String), Arc<dyn MetadataStore>>>,
}

impl MetadataStores {
    /// Creates the clients of every MongoDB connection (they connect lazily: an unreachable
    /// server fails the first operation, within its timeout, not start-up) and, with
    /// `transactions.enabled` and `autoDetect`, starts detecting their topologies in the
    /// background.
    pub(crate) async fn new(
        config: Arc<ChronosConfig>,
        layer: Option<MetadataLayer>,
    ) -> Result<Self, MetaError> {
        let mut mongo_clients = HashMap::new();
        for (name, conn) in &config.db_connections {
            if let Some(uri) = &conn.mongo_uri {
                let timeout = conn
                    .timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(DEFAULT_MONGO_TIMEOUT);
                let client = mongo::connect(uri, timeout).await.map_err(|e| match e {
                    MetaError::Invalid(m) => {
                        MetaError::Invalid(format!("dbConnections.{name}: {m}"))
                    }
                    other => other,
                })?;
                mongo_clients.insert(name.clone(), client);
            }
        }
        let topologies: HashMap<String, Topology> = mongo_clients
            .keys()
            .map(|name| (name.clone(), Topology::default()))
            .collect();
        if config.transactions.enabled && config.transactions.auto_detect {
            for (name, client) in &mongo_clients {
                let (name, client) = (name.clone(), client.clone());
                let topology = topologies.get(&name).cloned().unwrap_or_default();
                // In the background: start-up must not wait for (or fail on) a slow server.
                // A failed detection is retried by the first commit that needs the answer.
                tokio::spawn(async move {
                    match mongo::topology_of(&topology, &client).await {
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
        Ok(MetadataStores {
            config,
            layer,
            mongo_clients,
            topologies,
            opened: Mutex::new(HashMap::new()),
        })
    }

    /// The store of database `db_name` on connection `db_conn_ref` (opened once).
    pub(crate) fn open(
        &self,
        db_conn_ref: &str,
        db_name: &str,
    ) -> Result<Arc<dyn MetadataStore>, MetaError> {
        let key = (db_conn_ref.to_string(), db_name.to_string());
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = opened.get(&key) {
            return Ok(s.clone());
        }
        let conn =
            self.config.db_connections.get(db_conn_ref).ok_or_else(|| {
                MetaError::Invalid(format!("no database connection '{db_conn_ref}'"))
            })?;
        let store: Arc<dyn MetadataStore> = match (&conn.sqlite_dir, &conn.mongo_uri) {
            (Some(dir), _) => {
                let path = PathBuf::from(dir).join(format!("{db_name}.sqlite"));
                Arc::new(SqliteStore::open_with(&path, self.config.durability)?)
            }
            _ => {
                let client = self.mongo_clients.get(db_conn_ref).ok_or_else(|| {
                    MetaError::Invalid(format!("no MongoDB client for '{db_conn_ref}'"))
                })?;
                let policy = self.transaction_policy(db_conn_ref);
                Arc::new(MongoStore::new(client.clone(), db_name).with_transactions(policy))
            }
        };
        let store = match &self.layer {
            Some(layer) => layer(store),
            None => store,
        };
        opened.insert(key, store.clone());
        Ok(store)
    }

    /// What a MongoDB connection supports: `Some("replicaSet" | "sharded")` when
    /// multi-document transactions are available, `None` for a standalone server.
    pub(crate) async fn transaction_support(
        &self,
        db_conn_ref: &str,
    ) -> Result<Option<&'static str>, MetaError> {
        let (Some(client), Some(topology)) = (
            self.mongo_clients.get(db_conn_ref),
            self.topologies.get(db_conn_ref),
        ) else {
            return Err(MetaError::Invalid(format!(
                "'{db_conn_ref}' is not a MongoDB connection"
            )));
        };
        mongo::topology_of(topology, client).await
    }

    /// When commits on a MongoDB connection run in a transaction: config `transactions`,
    /// sharing the connection's topology (detected once) with every store on it.
    fn transaction_policy(&self, db_conn_ref: &str) -> TransactionPolicy {
        let t = &self.config.transactions;
        match (t.enabled, t.auto_detect) {
            (false, _) => TransactionPolicy::Never,
            (true, false) => TransactionPolicy::Always,
            (true, true) => TransactionPolicy::WhenSupported(
                self.topologies
                    .get(db_conn_ref)
                    .cloned()
                    .unwrap_or_default(),
            ),
        }
    }
}
