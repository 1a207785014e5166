//! The entry point: [`Chronos`] opens a configuration and hands out [`Collection`]s for
//! routes. It names no backend: each store layer's factory chooses one
//! (`meta::MetadataStores`, `payload::PayloadStores`), and the shared state lives in the
//! operations layer (`ops::Context`).

use crate::config::ChronosConfig;
use crate::error::Result;
use crate::ops::{ChronosOptions, Collection, Context};
use crate::routing::Route;
use std::path::Path;
use std::sync::Arc;

/// A Chronos-DB instance.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use chronos_db::{Chronos, Route, DatabaseType};
/// use serde_json::json;
/// let dir = tempfile::tempdir().unwrap();
/// let chronos = Chronos::embedded(dir.path()).await.unwrap();
/// let users = chronos.with(Route::tenant(DatabaseType::Runtime, "tenant-a", "users").unwrap()).unwrap();
/// let created = users.create(json!({"email": "a@example.com"}), "app", "signup", Default::default()).await.unwrap();
/// let item = users.get_latest(&created.id, Default::default()).await.unwrap().unwrap();
/// assert_eq!(item.data["email"], "a@example.com");
/// assert_eq!(item.system.ov, 0);
/// # });
/// ```
#[derive(Clone)]
pub struct Chronos {
    pub(crate) context: Arc<Context>,
}

impl Chronos {
    /// Opens an instance over a configuration (validated first).
    pub async fn open(config: ChronosConfig) -> Result<Self> {
        Self::open_with(config, ChronosOptions::default()).await
    }

    /// Opens an instance with store layers.
    pub async fn open_with(config: ChronosConfig, options: ChronosOptions) -> Result<Self> {
        // TLS for the cloud payload stores uses rustls with ring; an application that
        // installed another provider first keeps it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        config.validate()?;
        crate::access::check_config(&config)?;
        crate::analytics::check_config(&config)?;
        // Backend errors and dependencies' log lines may quote a key: from now on every
        // redacted text leaves the configured ones out.
        config.register_secrets();
        for key in config.inactive_keys() {
            tracing::warn!(key, "configuration key has no effect here (it acts on counters, and no counter rules are configured)");
        }
        Ok(Chronos {
            context: Arc::new(Context::open(config, options).await?),
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
        Ok(self
            .context
            .metadata
            .transaction_support(db_conn_ref)
            .await?)
    }

    /// The configuration in force.
    pub fn config(&self) -> &ChronosConfig {
        &self.context.config
    }

    /// The real-time counters (see [`crate::counters`]).
    pub fn counters(&self) -> crate::counters::Counters {
        crate::counters::Counters {
            context: self.context.clone(),
        }
    }

    /// Time-based and cross-tenant rules: run them, read their results (see
    /// [`crate::analytics_jobs`]).
    pub fn analytics(&self) -> crate::analytics_jobs::AnalyticsJobs {
        crate::analytics_jobs::AnalyticsJobs {
            context: self.context.clone(),
        }
    }

    /// Subject erasure and erasure receipts (see [`crate::erasure`]); one item is erased
    /// with [`crate::ops::Collection::erase`].
    pub fn erasure(&self) -> crate::erasure::Erasure {
        crate::erasure::Erasure {
            context: self.context.clone(),
        }
    }

    /// The fallback queue (see [`crate::queue`]); an error when `fallback.enabled` is off.
    pub fn queue(&self) -> Result<crate::queue::FallbackQueue> {
        match &self.context.fallback {
            Some(journal) => Ok(crate::queue::FallbackQueue {
                context: self.context.clone(),
                journal: journal.clone(),
            }),
            None => Err(crate::Error::validation(
                "the fallback queue is off: set fallback.enabled in the configuration",
            )),
        }
    }

    /// Collection operations for a route.
    pub fn with(&self, route: Route) -> Result<Collection> {
        self.context.collection(route)
    }
}
