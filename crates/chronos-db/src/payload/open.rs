//! The one place that chooses a payload backend: a spaces connection, bucket and prefix in,
//! an `Arc<dyn PayloadStore>` out, cached per `(connection, bucket, prefix)`.

use super::{backends, LinkSigner, LocalLink, ObjectPayloadStore, PayloadError, PayloadStore};
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
    /// Signed links to local objects, once a server enables them (shared with every local
    /// store, including those opened before).
    pub(crate) links: Arc<std::sync::OnceLock<LinkSigner>>,
}

impl PayloadStores {
    pub(crate) fn new(config: Arc<ChronosConfig>, layer: Option<PayloadLayer>) -> Self {
        PayloadStores {
            config,
            layer,
            opened: Mutex::new(HashMap::new()),
            links: Arc::new(std::sync::OnceLock::new()),
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
            Some(dir) => {
                let data_dir = backends::local_base(conn, local_base).unwrap_or_default();
                ObjectPayloadStore::local_dir(dir, prefix).with_link(LocalLink {
                    signer: self.links.clone(),
                    connection: space_conn_ref.to_string(),
                    bucket: bucket.to_string(),
                    data_dir,
                })
            }
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

impl PayloadStores {
    /// The data directory of a local connection's objects (`None` for other providers).
    pub(crate) fn local_base(&self, space_conn_ref: &str) -> Option<std::path::PathBuf> {
        let cfg = &self.config;
        let conn = cfg.spaces_connections.get(space_conn_ref)?;
        let local_base = match &cfg.local_storage {
            Some(ls) if ls.enabled => Some(ls.base_path.as_str()),
            _ => None,
        };
        backends::local_base(conn, local_base)
    }
}
