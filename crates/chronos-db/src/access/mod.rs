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
