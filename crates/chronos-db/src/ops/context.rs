//! What every operation shares: the configuration, the metadata and payload stores (opened
//! once, through each layer's factory), the per-collection settings and which collections
//! exist in this process. The facade ([`crate::Chronos`]) holds one; operations reach other
//! routes (entities) through it, never through the facade.

use super::{Collection, CollectionSettings};
use crate::analytics::CounterRuleSet;
use crate::config::ChronosConfig;
use crate::error::Result;
use crate::meta::{MetadataLayer, MetadataStores};
use crate::model::Timestamp;
use crate::payload::{PayloadLayer, PayloadStores};
use crate::routing::{self, Route};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The time writes are stamped with and analytics rules run at (see [`ChronosOptions::clock`]).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Optional hooks for [`crate::Chronos::open_with`].
///
/// ```
/// use chronos_db::ChronosOptions;
/// let options = ChronosOptions::default();
/// assert!(options.metadata_layer.is_none() && options.payload_layer.is_none());
/// ```
#[derive(Clone, Default)]
pub struct ChronosOptions {
    /// Applied to every metadata store when it is opened.
    pub metadata_layer: Option<MetadataLayer>,
    /// Applied to every payload store when it is opened.
    pub payload_layer: Option<PayloadLayer>,
    /// Where "now" comes from for the time a write records (`_system.updatedAt`, and
    /// `insertedAt` of a create) and for the windows of analytics rules; default the system
    /// clock. For importers replaying history and for tests with fixed timestamps. A write
    /// still never records a time before its item's previous version.
    pub clock: Option<Clock>,
}

/// The state shared by a [`crate::Chronos`] and every [`Collection`] it hands out.
pub(crate) struct Context {
    pub(crate) config: Arc<ChronosConfig>,
    pub(crate) metadata: MetadataStores,
    pub(crate) payloads: PayloadStores,
    /// (dbConnRef, dbName, collection) whose tables and indexes exist in this process.
    pub(crate) ensured: Mutex<HashSet<(String, String, String)>>,
    /// The counter rules, compiled once; `None` when the configuration has neither
    /// `counterRules` nor `analytics` (counting is off).
    pub(crate) counter_rules: Option<Arc<CounterRuleSet>>,
    settings: Mutex<HashMap<String, Arc<CollectionSettings>>>,
    clock: Option<Clock>,
    /// The master keys and cached data keys, when `encryption.enabled`.
    pub(crate) keyring: Option<Arc<crate::encryption::Keyring>>,
    /// The fallback queue's journal, when `fallback.enabled`.
    pub(crate) fallback: Option<crate::fallback::Journal>,
    /// When each collection's counters last caught up (`writeOptimization.debounceMs`).
    pub(crate) caught_up: Mutex<HashMap<String, std::time::Instant>>,
}

impl Context {
    /// The context of a validated configuration.
    pub(crate) async fn open(config: ChronosConfig, options: ChronosOptions) -> Result<Self> {
        let config = Arc::new(config);
        let metadata = MetadataStores::new(config.clone(), options.metadata_layer).await?;
        let payloads = PayloadStores::new(config.clone(), options.payload_layer);
        let counter_rules = match config.counter_rules.is_some() || config.analytics.is_some() {
            true => {
                let rules = CounterRuleSet::from_config(&config)
                    .map_err(crate::config::ConfigError::Invalid)?;
                for warning in rules.blind_spots(&config) {
                    tracing::warn!("{warning}");
                }
                Some(Arc::new(rules))
            }
            false => None,
        };
        let keyring = crate::encryption::Keyring::from_config(&config)
            .map_err(|e| crate::config::ConfigError::Invalid(vec![e]))?
            .map(Arc::new);
        let fallback = match config.fallback.as_ref().filter(|f| f.enabled) {
            Some(f) => {
                let dir = config.fallback_queue_dir().ok_or_else(|| {
                    crate::config::ConfigError::Invalid(vec![
                        "$.fallback.queueDir: is required".into()
                    ])
                })?;
                let keys = keyring.as_ref().map(|k| k.queue_keys()).unwrap_or_default();
                Some(crate::fallback::Journal::open(
                    &dir,
                    f.dead_letter_table(),
                    keys,
                )?)
            }
            None => None,
        };
        Ok(Context {
            caught_up: Mutex::new(HashMap::new()),
            fallback,
            keyring,
            clock: options.clock,
            counter_rules,
            config,
            metadata,
            payloads,
            ensured: Mutex::new(HashSet::new()),
            settings: Mutex::new(HashMap::new()),
        })
    }

    /// Now, by the configured clock.
    pub(crate) fn now(&self) -> Timestamp {
        match &self.clock {
            Some(clock) => clock(),
            None => Timestamp::now(),
        }
    }

    /// Collection operations for a route.
    pub(crate) fn collection(self: &Arc<Self>, route: Route) -> Result<Collection> {
        let resolved = routing::resolve(&self.config, &route)?;
        let meta = self
            .metadata
            .open(&resolved.db_conn_ref, &resolved.db_name)?;
        let payload = self.payloads.open(
            &resolved.space_conn_ref,
            &resolved.bucket,
            resolved.prefix.as_deref(),
        )?;
        let encrypted = self.keyring.as_ref().map(|keyring| {
            Arc::new(crate::encryption::EncryptedPayload {
                inner: payload.clone(),
                keyring: keyring.clone(),
                keys: meta.clone(),
                db: format!("{}/{}", resolved.db_conn_ref, resolved.db_name),
                scope: crate::encryption::scope_of(&route),
                write_scope: crate::encryption::scope_of(&route),
            })
        });
        let subject_keys = encrypted.clone().filter(|e| e.keyring.per_subject());
        let payload = match encrypted {
            Some(e) => e as Arc<dyn crate::payload::PayloadStore>,
            None => payload,
        };
        let settings = self.settings(&route.collection);
        let collection = Collection::new(self.clone(), route, resolved, meta, payload, settings);
        Ok(match subject_keys {
            Some(keys) => collection.with_subject_keys(keys),
            None => collection,
        })
    }

    /// A collection's settings, derived from the configuration once.
    fn settings(&self, collection: &str) -> Arc<CollectionSettings> {
        let mut cache = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(collection.to_string())
            .or_insert_with(|| Arc::new(CollectionSettings::of(&self.config, collection)))
            .clone()
    }
}
