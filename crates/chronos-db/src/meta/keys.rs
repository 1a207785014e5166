//! Data keys as a store capability: each database keeps the wrapped data keys of what it
//! holds (encryption at rest), so destroying them there makes that data unreadable
//! wherever copies of its objects live.

use super::MetaError;
use crate::model::Timestamp;
use async_trait::async_trait;

/// A data key as stored: wrapped by a master key, never in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The key's id, recorded in every object it encrypts (`tenant:<t>:<random>`, ...).
    pub kid: String,
    /// Whose data it encrypts (`tenant:<t>`, `domain:<d>`, `generic`): what a shred names.
    pub scope: String,
    /// The data key wrapped by the master key (empty once destroyed).
    pub wrapped: Vec<u8>,
    /// The id of the master key that wrapped it.
    pub master_id: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// Whether it was destroyed (shredded): what it encrypted is unreadable for good.
    pub destroyed: bool,
}

/// Keeping data keys.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key; a key with the same id is left as it is.
    async fn insert_key(&self, key: &WrappedKey) -> Result<(), MetaError>;

    /// One key by id (destroyed ones too). Reading creates nothing.
    async fn get_key(&self, kid: &str) -> Result<Option<WrappedKey>, MetaError>;

    /// The newest key of a scope that is not destroyed.
    async fn current_key(&self, scope: &str) -> Result<Option<WrappedKey>, MetaError>;

    /// Destroys every key of a scope and of its data subjects (scopes `<scope>/subject:...`):
    /// their wrapped bytes are removed; the rows stay, so reads of what they encrypted can
    /// say it was shredded. Returns how many were live.
    async fn destroy_keys(&self, scope: &str) -> Result<u64, MetaError>;

    /// Keys (not destroyed) wrapped by another master key than `master_id`.
    async fn keys_not_wrapped_by(&self, master_id: &str) -> Result<Vec<WrappedKey>, MetaError>;

    /// Replaces a live key's wrapping (master key rotation); the key itself is unchanged.
    async fn rewrap_key(&self, kid: &str, wrapped: &[u8], master_id: &str)
        -> Result<(), MetaError>;
}
