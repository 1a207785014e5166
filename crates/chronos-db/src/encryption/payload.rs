//! A payload store that encrypts what it writes and decrypts what it reads, for one route:
//! its data key scope and the database holding the keys.

use super::Keyring;
use crate::crypto::envelope;
use crate::meta::MetadataStore;
use crate::payload::{ObjectInfo, PayloadError, PayloadStore};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

/// [`PayloadStore`] with encryption at rest (see the module docs of `encryption`).
pub(crate) struct EncryptedPayload {
    pub(crate) inner: Arc<dyn PayloadStore>,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) keys: Arc<dyn MetadataStore>,
    /// The database the keys live in, for the caches.
    pub(crate) db: String,
    /// The route's data key scope: objects are read with its keys and its subjects' keys.
    pub(crate) scope: String,
    /// The scope of the key new objects are encrypted with: the route's, or one of its
    /// subjects' (see [`EncryptedPayload::writing_for`]).
    pub(crate) write_scope: String,
}

impl EncryptedPayload {
    /// The same store, writing under `write_scope` (a subject of the route's scope).
    pub(crate) fn writing_for(&self, write_scope: String) -> Self {
        EncryptedPayload {
            inner: self.inner.clone(),
            keyring: self.keyring.clone(),
            keys: self.keys.clone(),
            db: self.db.clone(),
            scope: self.scope.clone(),
            write_scope,
        }
    }

    async fn decrypt(&self, key: &str, bytes: Bytes) -> Result<Bytes, PayloadError> {
        // Objects written before encryption was enabled are read as they are.
        let Some(kid) = envelope::key_id(&bytes) else {
            return Ok(bytes);
        };
        // A key id of another scope (another tenant's key) never opens this route's objects.
        if !super::kid_in_scope(kid, &self.scope) {
            return Err(PayloadError::Encryption(format!(
                "object '{key}' names a data key of another scope"
            )));
        }
        let data_key = self
            .keyring
            .read_key(self.keys.as_ref(), &self.db, kid)
            .await?;
        envelope::open(&data_key, key, &bytes)
            .map(Bytes::from)
            .ok_or_else(|| {
                PayloadError::Encryption(format!(
                    "object '{key}' does not decrypt: it was altered or moved from another key"
                ))
            })
    }
}

#[async_trait]
impl PayloadStore for EncryptedPayload {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), PayloadError> {
        let (kid, data_key) = self
            .keyring
            .write_key(self.keys.as_ref(), &self.db, &self.write_scope)
            .await?;
        let sealed =
            envelope::seal(&data_key, &kid, key, &bytes).map_err(PayloadError::Encryption)?;
        self.inner.put(key, Bytes::from(sealed)).await
    }

    /// The ciphertext is stored without the encoding: only readers holding the key (the
    /// library, links served by `chronos serve`) see the encoded bytes, and they decode them.
    async fn put_encoded(
        &self,
        key: &str,
        bytes: Bytes,
        _content_encoding: &str,
    ) -> Result<(), PayloadError> {
        self.put(key, bytes).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, PayloadError> {
        let bytes = self.inner.get(key).await?;
        self.decrypt(key, bytes).await
    }

    /// The associated data names the object's key, so a copy is decrypted and sealed again
    /// for its new key.
    async fn copy(&self, from: &str, to: &str) -> Result<(), PayloadError> {
        let plain = self.get(from).await?;
        self.put(to, plain).await
    }

    async fn delete(&self, key: &str) -> Result<(), PayloadError> {
        self.inner.delete(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PayloadError> {
        self.inner.list(prefix).await
    }

    /// A signed URL would hand out ciphertext: refused until links served (and decrypted)
    /// by `chronos serve` cover encrypted stores.
    async fn presign(&self, _key: &str, _ttl: std::time::Duration) -> Result<String, PayloadError> {
        Err(PayloadError::Encryption(
            "presigned URLs are not available with encryption on: the objects are ciphertext"
                .into(),
        ))
    }

    async fn health(&self) -> Result<Option<String>, PayloadError> {
        self.inner.health().await
    }
}
