//! Who may do what: API keys and the scopes they grant, for servers built on the library.
//!
//! A key is a random secret handed to a client once; the configuration keeps only its
//! SHA-256 digest (`server.apiKeys[].sha256`). A presented key is hashed and compared with
//! every configured digest in constant time. What a key may do is a list of [`Scope`]s, each
//! naming part of the route space and a [`Permission`].
//!
//! ```
//! use chronos_db::access::{ApiKeys, Permission};
//! use chronos_db::config::ApiKeyEntry;
//! use chronos_db::{DatabaseType, Route};
//! let (key, digest) = chronos_db::access::new_key();
//! let keys = ApiKeys::from_entries(&[ApiKeyEntry {
//!     id: "orders-service".into(),
//!     sha256: digest,
//!     scopes: vec!["runtime:tenant:tenant-a:write".into()],
//! }]).unwrap();
//! let grant = keys.authenticate(&key).unwrap();
//! let route = Route::tenant(DatabaseType::Runtime, "tenant-a", "orders").unwrap();
//! assert!(grant.allows(&route, Permission::Write));
//! assert!(keys.authenticate("chr_not-a-key").is_none());
//! ```

mod keys;
mod scope;

pub use keys::{new_key, ApiKeys, Grant};
pub use scope::{Permission, Scope, ScopeError};

use crate::config::{ChronosConfig, ConfigError};

/// Checks the configuration's `server.apiKeys` (digests, ids, scopes), each problem as
/// `path: message`. [`crate::Chronos::open`] runs it after the configuration's own checks.
///
/// ```
/// let mut cfg = chronos_db::config::ChronosConfig::embedded("./data");
/// cfg.server = Some(chronos_db::config::ServerSettings {
///     api_keys: vec![chronos_db::config::ApiKeyEntry { id: "k".into(), sha256: "nope".into(), scopes: vec![] }],
///     ..Default::default()
/// });
/// let e = chronos_db::access::check_config(&cfg).unwrap_err().to_string();
/// assert!(e.contains("$.server.apiKeys[0].sha256"));
/// ```
pub fn check_config(cfg: &ChronosConfig) -> Result<(), ConfigError> {
    match &cfg.server {
        Some(server) => ApiKeys::from_entries(&server.api_keys)
            .map(|_| ())
            .map_err(ConfigError::Invalid),
        None => Ok(()),
    }
}
