//! The payload store: full JSON of every version, and externalized blobs.
//!
//! A small trait over the `object_store` crate (local filesystem, memory; S3, Azure and GCS
//! with the production backends). Keys are relative to the route's bucket and prefix.
//!
//! Key layout (chronos-db v2.2's, with one change so that no two write attempts share a key):
//! `<collection>/<id>/v<ov>.<writeId>/item.json`, and `.../<prop>/blob.bin`, `.../<prop>/text.txt`
//! for base64 properties. Everything a version owns lives under its `v<ov>.<writeId>/` prefix.

pub(crate) mod backends;
pub mod keys;
mod links;
mod open;

pub use links::LinkError;
pub(crate) use links::LinkSigner;
pub use open::PayloadLayer;
pub(crate) use open::PayloadStores;

use crate::backend_error::BackendError;
use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

/// What a payload backend can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// No object has this key (the key).
    #[error("object '{0}' not found")]
    NotFound(String),
    /// The service did not answer (unreachable, connection refused or reset, timed out): worth
    /// retrying.
    #[error("backend unavailable: {0}")]
    Unavailable(#[source] BackendError),
    /// The object is encrypted under a data key that was destroyed (a shredded tenant): it
    /// can never be read again.
    #[error("{0}")]
    Shredded(String),
    /// The object is encrypted and cannot be decrypted with the configured keys (another
    /// master key, a missing data key, an altered object).
    #[error("{0}")]
    Encryption(String),
    /// Any other failure, including a request the service refused (credentials redacted).
    #[error("{0}")]
    Backend(#[source] BackendError),
}

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's key, relative to the store's bucket and prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When the object was last written.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// The payload-store interface.
#[async_trait]
pub trait PayloadStore: Send + Sync + 'static {
    /// Writes an object (keys are never reused, so this never replaces committed data).
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), PayloadError>;
    /// Writes an object whose bytes are in `content_encoding` (`gzip`): stores that keep
    /// object attributes record it, so an HTTP GET of the object (a presigned URL) says
    /// `Content-Encoding` and clients decode it. Others keep the bytes alone (the default).
    /// A store that wraps another (a payload layer) forwards this call, or presigned URLs
    /// of compressed documents lose their label.
    async fn put_encoded(
        &self,
        key: &str,
        bytes: Bytes,
        content_encoding: &str,
    ) -> Result<(), PayloadError> {
        let _ = content_encoding;
        self.put(key, bytes).await
    }
    /// Reads a whole object.
    async fn get(&self, key: &str) -> Result<Bytes, PayloadError>;
    /// Server-side copy.
    async fn copy(&self, from: &str, to: &str) -> Result<(), PayloadError>;
    /// Removes an object; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), PayloadError>;
    /// Every object under a prefix.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PayloadError>;
    /// A URL that lets its holder GET the object for `ttl` (for S3, Azure and GCS a signed
    /// URL; for the local filesystem a link signed for a server when one enabled them,
    /// else a `file://` URL).
    async fn presign(&self, key: &str, ttl: std::time::Duration) -> Result<String, PayloadError>;

    /// Checks that the store works (used by `chronos config check --connect`): writes, reads
    /// back and removes a small object at the top of the store's key space, and returns what
    /// an operator should know, if anything.
    async fn health(&self) -> Result<Option<String>, PayloadError> {
        probe(self).await.map(|()| None)
    }
}

/// Writes, reads back and removes a small object: a listing alone passes on endpoints that
/// answer anything with 200, so the probe checks the bytes come back. The key has no `/`, so
/// a filesystem store keeps no directory behind.
async fn probe<S: PayloadStore + ?Sized>(store: &S) -> Result<(), PayloadError> {
    let key = format!("chronos_check.{}.probe", crate::names::write_id());
    let body = Bytes::from(format!("chronos probe {key}"));
    store.put(&key, body.clone()).await?;
    let read = store.get(&key).await;
    let _ = store.delete(&key).await;
    match read {
        Ok(b) if b == body => Ok(()),
        Ok(_) => Err(PayloadError::Backend(
            "the endpoint accepted a write but returned different bytes: it is not an object store"
                .into(),
        )),
        Err(e) => Err(e),
    }
}

/// A [`PayloadStore`] over any `object_store` backend, under an optional key prefix.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use chronos_db::payload::{ObjectPayloadStore, PayloadStore};
/// let store = ObjectPayloadStore::new(std::sync::Arc::new(object_store::memory::InMemory::new()), None);
/// store.put("users/a/v0.x/item.json", "{}".into()).await.unwrap();
/// assert_eq!(&store.get("users/a/v0.x/item.json").await.unwrap()[..], b"{}");
/// # });
/// ```
pub struct ObjectPayloadStore {
    backend: Backend,
    prefix: Option<String>,
    /// Local files only: flush each written object and its directories before returning.
    sync_files: bool,
    /// Local files only: where signed links (when a server enabled them) point.
    link: Option<LocalLink>,
}

/// What a local store needs to sign links to its objects.
pub(crate) struct LocalLink {
    pub(crate) signer: Arc<std::sync::OnceLock<LinkSigner>>,
    pub(crate) connection: String,
    pub(crate) bucket: String,
    /// The data directory holding the link key (the connection's base path).
    pub(crate) data_dir: std::path::PathBuf,
}

/// An opened object store and the way to sign its keys.
type Opened = (Arc<dyn ObjectStore>, backends::Signing);

/// The object store behind a [`ObjectPayloadStore`].
enum Backend {
    Ready(Arc<dyn ObjectStore>, backends::Signing),
    /// A local directory, opened on first need and created by the first write: reading a
    /// bucket nobody wrote to must not create it.
    LocalDir {
        dir: std::path::PathBuf,
        opened: std::sync::Mutex<Option<Arc<object_store::local::LocalFileSystem>>>,
    },
}

impl ObjectPayloadStore {
    /// A store without URL signing.
    pub fn new(inner: Arc<dyn ObjectStore>, prefix: Option<String>) -> Self {
        Self::with_signing(inner, prefix, backends::Signing::None)
    }

    /// A store over the local directory `dir`, which the first write creates.
    pub(crate) fn local_dir(dir: std::path::PathBuf, prefix: Option<String>) -> Self {
        ObjectPayloadStore {
            backend: Backend::LocalDir {
                dir,
                opened: std::sync::Mutex::new(None),
            },
            prefix,
            sync_files: false,
            link: None,
        }
    }

    /// Signs links to this (local) store's objects once a server enables links.
    pub(crate) fn with_link(mut self, link: LocalLink) -> Self {
        self.link = Some(link);
        self
    }

    /// The object store and its signing, or `None` when it is a local directory that does
    /// not exist and `create` is false (then it holds no objects).
    fn store(&self, create: bool) -> Result<Option<Opened>, PayloadError> {
        let (dir, opened) = match &self.backend {
            Backend::Ready(store, signing) => return Ok(Some((store.clone(), signing.clone()))),
            Backend::LocalDir { dir, opened } => (dir, opened),
        };
        let mut slot = opened.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let exists = dir.try_exists().map_err(|e| {
                PayloadError::Backend(BackendError::caused_by(
                    format!("cannot reach {}", dir.display()),
                    &e,
                ))
            })?;
            if !create && !exists {
                return Ok(None);
            }
            *slot = Some(backends::open_local_dir(dir)?);
        }
        Ok(slot.as_ref().map(|fs| {
            let store: Arc<dyn ObjectStore> = fs.clone();
            (store, backends::Signing::File(fs.clone()))
        }))
    }

    /// The store for a write (created if needed).
    fn writable(&self) -> Result<Opened, PayloadError> {
        self.store(true)?.ok_or_else(|| {
            PayloadError::Backend(BackendError::new("the payload store could not be opened"))
        })
    }

    /// On local files, `PowerLoss` makes `put` and `copy` flush the object and every
    /// directory on its path (fsync) before they return, so that a version committed after
    /// them never points at an object a power loss took away. Other stores are unaffected.
    pub fn with_durability(mut self, durability: crate::config::Durability) -> Self {
        self.sync_files = durability == crate::config::Durability::PowerLoss;
        self
    }

    /// See [`ObjectPayloadStore::with_durability`].
    async fn flush_local(
        &self,
        key: &str,
        signing: &backends::Signing,
    ) -> Result<(), PayloadError> {
        let backends::Signing::File(fs) = signing else {
            return Ok(());
        };
        if !self.sync_files {
            return Ok(());
        }
        let path = self.path(key);
        let file = fs.path_to_filesystem(&path).map_err(|e| map_err(key, e))?;
        // The directories from the object's up to the bucket's: each may have been created
        // by this write, and a new entry is durable only once its directory is flushed.
        let levels = path.as_ref().matches('/').count() + 1;
        let key = key.to_string();
        tokio::task::spawn_blocking(move || flush_to_disk(&file, levels))
            .await
            .map_err(|e| {
                PayloadError::Backend(BackendError::caused_by(format!("flushing {key}"), &e))
            })?
            .map_err(|e| {
                PayloadError::Backend(BackendError::caused_by(
                    format!("flushing {key} to disk"),
                    &e,
                ))
            })
    }

    pub(crate) fn with_signing(
        inner: Arc<dyn ObjectStore>,
        prefix: Option<String>,
        signing: backends::Signing,
    ) -> Self {
        ObjectPayloadStore {
            backend: Backend::Ready(inner, signing),
            prefix,
            sync_files: false,
            link: None,
        }
    }

    fn path(&self, key: &str) -> ObjectPath {
        match &self.prefix {
            Some(p) => ObjectPath::from(format!("{p}/{key}")),
            None => ObjectPath::from(key),
        }
    }

    fn strip<'a>(&self, full: &'a str) -> &'a str {
        match &self.prefix {
            Some(p) => full
                .strip_prefix(p.as_str())
                .and_then(|s| s.strip_prefix('/'))
                .unwrap_or(full),
            None => full,
        }
    }
}

/// Flushes a file and `dir_levels` of the directories above it to disk (blocking). A new
/// directory entry is durable only once its directory is flushed; directories can be opened
/// and flushed on Unix only (elsewhere only the file is).
///
pub(crate) fn flush_to_disk(file: &std::path::Path, dir_levels: usize) -> std::io::Result<()> {
    let flush = |p: &std::path::Path| std::fs::File::open(p).and_then(|f| f.sync_all());
    flush(file)?;
    if cfg!(unix) {
        let mut dir = file.parent();
        for _ in 0..dir_levels {
            let Some(d) = dir else { break };
            flush(d)?;
            dir = d.parent();
        }
    }
    Ok(())
}

fn map_err(key: &str, e: object_store::Error) -> PayloadError {
    match e {
        object_store::Error::NotFound { .. } => PayloadError::NotFound(key.to_string()),
        other => {
            let transient = is_transient(&other);
            // object_store's messages quote the request URL: the chain is copied redacted.
            let error = BackendError::caused_by(other.to_string(), &other);
            if transient {
                PayloadError::Unavailable(error)
            } else {
                PayloadError::Backend(error)
            }
        }
    }
}

/// Whether the request never got an answer (the service is down, unreachable or slow), as
/// opposed to an answer that refused it: decided from the HTTP client's error kind found in
/// the error's source chain, never from the wording of a message.
fn is_transient(e: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            );
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::TimedOut
                    | K::Interrupted
                    | K::WouldBlock
            );
        }
        source = err.source();
    }
    false
}

#[async_trait]
impl PayloadStore for ObjectPayloadStore {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), PayloadError> {
        let (store, signing) = self.writable()?;
        store
            .put(&self.path(key), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| map_err(key, e))?;
        self.flush_local(key, &signing).await
    }

    async fn put_encoded(
        &self,
        key: &str,
        bytes: Bytes,
        content_encoding: &str,
    ) -> Result<(), PayloadError> {
        let (store, signing) = self.writable()?;
        // Local files keep no attributes (and object_store refuses them there): links
        // through the server serve such objects decoded instead.
        if matches!(signing, backends::Signing::File(_)) {
            return self.put(key, bytes).await;
        }
        // `no-transform`: GCS would otherwise decode the object for requests that do not
        // accept the encoding, answering without a Content-Length (which object_store
        // refuses); with it every store serves the stored bytes, labelled.
        let attributes = object_store::Attributes::from_iter([
            (
                object_store::Attribute::ContentEncoding,
                content_encoding.to_string(),
            ),
            (
                object_store::Attribute::CacheControl,
                "no-transform".to_string(),
            ),
        ]);
        store
            .put_opts(
                &self.path(key),
                PutPayload::from_bytes(bytes),
                object_store::PutOptions {
                    attributes,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| map_err(key, e))?;
        self.flush_local(key, &signing).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, PayloadError> {
        let Some((store, _)) = self.store(false)? else {
            return Err(PayloadError::NotFound(key.to_string()));
        };
        let r = store
            .get(&self.path(key))
            .await
            .map_err(|e| map_err(key, e))?;
        r.bytes().await.map_err(|e| map_err(key, e))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), PayloadError> {
        let (store, signing) = self.writable()?;
        store
            .copy(&self.path(from), &self.path(to))
            .await
            .map_err(|e| map_err(from, e))?;
        self.flush_local(to, &signing).await
    }

    async fn delete(&self, key: &str) -> Result<(), PayloadError> {
        let Some((store, _)) = self.store(false)? else {
            return Ok(());
        };
        match store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err(key, e)),
        }
    }

    async fn presign(&self, key: &str, ttl: std::time::Duration) -> Result<String, PayloadError> {
        let path = self.path(key);
        let Some((_, signing)) = self.store(false)? else {
            return Err(PayloadError::NotFound(key.to_string()));
        };
        match signing {
            backends::Signing::Url(signer) => signer
                .signed_url(object_store::signer::Method::GET, &path, ttl)
                .await
                .map(|u| u.to_string())
                .map_err(|e| map_err(key, e)),
            backends::Signing::File(fs) => {
                if let Some(link) = &self.link {
                    if let Some(signer) = link.signer.get() {
                        return signer.link(
                            &link.data_dir,
                            &link.connection,
                            &link.bucket,
                            path.as_ref(),
                            ttl,
                        );
                    }
                }
                let file = fs.path_to_filesystem(&path).map_err(|e| map_err(key, e))?;
                Ok(format!("file://{}", file.display()))
            }
            backends::Signing::None => Err(PayloadError::Backend(
                "this payload store cannot produce URLs".into(),
            )),
        }
    }

    async fn health(&self) -> Result<Option<String>, PayloadError> {
        // A check creates nothing: a local directory nobody wrote to yet stays absent.
        if let Backend::LocalDir { dir, .. } = &self.backend {
            let here = match &self.prefix {
                Some(p) => dir.join(p),
                None => dir.clone(),
            };
            let exists = here.try_exists().map_err(|e| {
                PayloadError::Backend(BackendError::caused_by(
                    format!("cannot reach {}", here.display()),
                    &e,
                ))
            })?;
            if !exists {
                let parent = crate::local_fs::writable_ancestor(&here)
                    .map_err(|e| PayloadError::Backend(e.into()))?;
                return Ok(Some(format!(
                    "ok (directory {} does not exist yet; the first write creates it under {})",
                    here.display(),
                    parent.display()
                )));
            }
        }
        probe(self).await.map(|()| None)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PayloadError> {
        let Some((store, _)) = self.store(false)? else {
            return Ok(vec![]);
        };
        let p = self.path(prefix.trim_end_matches('/'));
        let items: Vec<object_store::ObjectMeta> = store
            .list(Some(&p))
            .try_collect()
            .await
            .map_err(|e| map_err(prefix, e))?;
        Ok(items
            .into_iter()
            .map(|m| ObjectInfo {
                key: self.strip(m.location.as_ref()).to_string(),
                size: m.size,
                last_modified: m.last_modified,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused connection is "unavailable" (retry later), an answer that refuses the
    /// request is not — decided from error kinds, whatever the messages say.
    #[tokio::test]
    async fn unreachable_services_are_unavailable() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // A closed port on this machine: the connection is refused at once.
        let conn: crate::config::SpacesConnection = serde_json::from_value(serde_json::json!({
            "provider": "s3", "endpoint": "http://127.0.0.1:9", "region": "us-east-1",
            "accessKey": "k", "secretKey": "s", "timeoutMs": 2000, "maxRetries": 0
        }))
        .unwrap();
        let (inner, signing) = backends::open("s", &conn, None, "bucket").unwrap();
        let store = ObjectPayloadStore::with_signing(inner, None, signing);
        let e = store.get("a/b").await.unwrap_err();
        assert!(matches!(e, PayloadError::Unavailable(_)), "{e:?}");
        // The driver's chain is kept as the source, level by level, down to the refusal.
        let mut chain = Vec::new();
        let mut next = std::error::Error::source(&e);
        while let Some(level) = next {
            chain.push(level.to_string());
            next = level.source();
        }
        assert!(chain.len() >= 3, "{chain:?}");
        assert!(
            chain.iter().any(|l| l.to_lowercase().contains("refused")),
            "{chain:?}"
        );
        // A message that merely mentions a connection is not a kind.
        let refused = object_store::Error::Generic {
            store: "S3",
            source: "access denied: could not connect the dots".into(),
        };
        assert!(matches!(map_err("k", refused), PayloadError::Backend(_)));
    }

    #[test]
    fn backend_errors_lose_their_credentials() {
        let e = object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://user:SUPERSECRET@127.0.0.1:9/b/k?X-Amz-Signature=SIGSECRET: connection refused".into(),
        };
        let text = map_err("k", e).to_string();
        assert!(
            !text.contains("SUPERSECRET") && !text.contains("SIGSECRET"),
            "{text}"
        );
        assert!(text.contains("http://***@127.0.0.1:9/b/k"), "{text}");
    }
}
