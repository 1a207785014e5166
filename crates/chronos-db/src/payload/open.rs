//! The one place that chooses a payload backend: a spaces connection, bucket and prefix in,
//! an `Arc<dyn PayloadStore>` out, cached per `(connection, bucket, prefix)`.

use super::{backends, ObjectPayloadStore, PayloadError, PayloadStore};
use crate::config::ChronosConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Wraps a payload store when it is opened (instrumentation, fault injection in tests).
pub type PayloadLayer = Arc<dyn Fn(Arc<dyn PayloadStore>) -> Arc<dyn PayloadStore> + Send + Sync>;

/// `(spaceConnRef, bucket, prefix)`: one payload store each.
type PayloadKey = (String, String, Option<String>);

/// The payload stores of one configuration, opened on first use.
pub(crate) struct PayloadStores {
    config: Arc<ChronosConfig>,
    layer: Option<PayloadLayer>,
    opened: Mutex<HashMap<PayloadKey, Arc<dyn PayloadStore>>>,
}

impl PayloadStores {
    pub(crate) fn new(config: Arc<ChronosConfig>, layer: Option<PayloadLayer>) -> Self {
        PayloadStores {
            config,
            layer,
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The store of `bucket` (under `prefix`) on connection `space_conn_ref`. A local
    /// directory is created by the first write, so that reads never create directories.
    pub(crate) fn open(
        &self,
        space_conn_ref: &str,
        bucket: &str,
        prefix: Option<&str>,
    ) -> Result<Arc<dyn PayloadStore>, PayloadError> {
        let key = (
            space_conn_ref.to_string(),
            bucket.to_string(),
            prefix.map(str::to_string),
        );
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = opened.get(&key) {
            return Ok(s.clone());
        }
        let cfg = &self.config;
        let conn = cfg.spaces_connections.get(space_conn_ref).ok_or_else(|| {
            PayloadError::Backend(format!("no spaces connection '{space_conn_ref}'").into())
        })?;
        let local_base = match &cfg.local_storage {
            Some(ls) if ls.enabled => Some(ls.base_path.as_str()),
            _ => None,
        };
        let prefix = prefix.map(str::to_string);
        let store = match backends::local_dir(conn, local_base, bucket) {
            Some(dir) => ObjectPayloadStore::local_dir(dir, prefix),
            None => {
                let (inner, signing) = backends::open(space_conn_ref, conn, local_base, bucket)?;
                ObjectPayloadStore::with_signing(inner, prefix, signing)
            }
        };
        let store: Arc<dyn PayloadStore> = Arc::new(store.with_durability(cfg.durability));
        let store = match &self.layer {
            Some(layer) => layer(store),
            None => store,
        };
        opened.insert(key, store.clone());
        Ok(store)
    }
}
