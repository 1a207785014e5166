//! Signed links to local-file objects, served by a server (see `payload/links.rs` for the
//! link format and its key).

use crate::chronos::Chronos;
use crate::error::Error;
use crate::payload::{LinkError, LinkSigner, PayloadError};
use bytes::Bytes;

impl Chronos {
    /// Makes presigned URLs of local-file objects signed links under `base_url` (the URL
    /// clients reach the server at) instead of `file://` paths. The server then answers
    /// them with [`Chronos::read_link`]. Returns `false` when links were already enabled (the
    /// first base URL stays).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::{Chronos, DatabaseType, ReadOptions, Route};
    /// let dir = tempfile::tempdir().unwrap();
    /// let chronos = Chronos::embedded(dir.path()).await.unwrap();
    /// assert!(chronos.enable_local_links("http://127.0.0.1:7070"));
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "notes").unwrap()).unwrap();
    /// let w = c.create(serde_json::json!({"n": 1}), "app", "", Default::default()).await.unwrap();
    /// let opts = ReadOptions { presign: true, ..Default::default() };
    /// let item = c.get_latest(&w.id, opts).await.unwrap().unwrap();
    /// let url = item.presigned.unwrap().item_url;
    /// assert!(url.starts_with("http://127.0.0.1:7070/v1/blobs/"));
    /// let (path, query) = url["http://127.0.0.1:7070/v1/blobs/".len()..].split_once('?').unwrap();
    /// let expires: u64 = query.split('&').find_map(|kv| kv.strip_prefix("expires=")).unwrap().parse().unwrap();
    /// let sig = query.split('&').find_map(|kv| kv.strip_prefix("sig=")).unwrap();
    /// let bytes = chronos.read_link(path, expires, sig).await.unwrap();
    /// assert_eq!(&bytes[..], b"{\"n\":1}");
    /// # });
    /// ```
    pub fn enable_local_links(&self, base_url: &str) -> bool {
        self.context
            .payloads
            .links
            .set(LinkSigner::new(base_url))
            .is_ok()
    }

    /// The object a signed link names (`path` is `<connection>/<bucket>/<key>`), once its
    /// signature and time check out. Nothing is read, created or looked up on disk for a
    /// link whose connection is not a local one of this configuration or whose bucket or
    /// key is malformed.
    pub async fn read_link(&self, path: &str, expires: u64, sig: &str) -> Result<Bytes, LinkError> {
        let signer = self
            .context
            .payloads
            .links
            .get()
            .ok_or(LinkError::Invalid)?;
        if let Some(rest) = path
            .strip_prefix(crate::ops::ENCRYPTED_LINK)
            .and_then(|r| r.strip_prefix('/'))
        {
            return crate::ops::read_encrypted_link(&self.context, rest, expires, sig).await;
        }
        // With encryption on, objects are only served decrypted (through `~e` links).
        if self.context.keyring.is_some() {
            return Err(LinkError::Invalid);
        }
        let mut parts = path.splitn(3, '/');
        let (Some(conn), Some(bucket), Some(key)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Invalid);
        };
        crate::names::check_bucket(bucket).map_err(|_| LinkError::Invalid)?;
        if object_store::path::Path::parse(key).is_err() || key.is_empty() {
            return Err(LinkError::Invalid);
        }
        let data_dir = self
            .context
            .payloads
            .local_base(conn)
            .ok_or(LinkError::Invalid)?;
        signer.check(&data_dir, path, expires, sig)?;
        let store = self
            .context
            .payloads
            .open(conn, bucket, None)
            .map_err(|e| LinkError::Read(e.into()))?;
        let bytes = store.get(key).await.map_err(|e| {
            LinkError::Read(match e {
                PayloadError::NotFound(_) => Error::NotFound("the linked object".into()),
                other => other.into(),
            })
        })?;
        crate::compression::for_link(key, bytes, self.context.config.limits.max_payload_bytes)
            .map_err(|e| LinkError::Read(Error::Corrupt(e)))
    }
}

#[cfg(test)]
mod tests {
    use crate::payload::LinkError;
    use crate::{Chronos, DatabaseType, ReadOptions, Route};
    use std::time::Duration;

    /// Links signed with the deployment's own key but naming a path out of a bucket are
    /// refused before anything is read.
    #[tokio::test]
    async fn signed_traversal_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("meta")).unwrap();
        std::fs::write(dir.path().join("meta/secret.json"), b"{\"secret\":1}").unwrap();
        let chronos = Chronos::embedded(dir.path()).await.unwrap();
        chronos.enable_local_links("http://h");
        let c = chronos
            .with(Route::tenant(DatabaseType::Runtime, "t1", "notes").unwrap())
            .unwrap();
        let w = c
            .create(serde_json::json!({"n": 1}), "a", "", Default::default())
            .await
            .unwrap();
        let opts = ReadOptions {
            presign: true,
            ..Default::default()
        };
        assert!(c
            .get_latest(&w.id, opts)
            .await
            .unwrap()
            .unwrap()
            .presigned
            .is_some());
        let signer = chronos.context.payloads.links.get().unwrap();
        let data_dir = dir.path().join("objects");
        for (bucket, key) in [
            ("..", "meta/secret.json"),
            ("chronos-runtime", "../../meta/secret.json"),
            ("chronos-runtime", "a/../../../meta/secret.json"),
            ("chronos-runtime", "./x"),
            ("chronos-runtime", ""),
            ("CHRONOS", "x"),
        ] {
            let link = signer
                .link(&data_dir, "files", bucket, key, Duration::from_secs(60))
                .unwrap();
            let rest = link.strip_prefix("http://h/v1/blobs/").unwrap();
            let (path, query) = rest.split_once('?').unwrap();
            let expires: u64 = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("expires="))
                .unwrap()
                .parse()
                .unwrap();
            let sig = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("sig="))
                .unwrap();
            let got = chronos.read_link(path, expires, sig).await;
            assert!(
                matches!(got, Err(LinkError::Invalid)),
                "{bucket} / {key}: {got:?}"
            );
        }
        // Another connection name, and a cloud connection, are refused too.
        assert!(matches!(
            chronos.read_link("nope/b/k", u64::MAX, "00").await,
            Err(LinkError::Invalid)
        ));
    }
}
