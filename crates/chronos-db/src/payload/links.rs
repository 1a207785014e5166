//! Signed links to objects kept in local files, for a server to hand out where a cloud store
//! would hand out presigned URLs.
//!
//! A link is `<base>/v1/blobs/<connection>/<bucket>/<key>?expires=<unix seconds>&sig=<hex>`,
//! where `sig` is HMAC-SHA-256 over `GET\n<connection>/<bucket>/<key>\n<expires>`. It names
//! one object (object keys carry their version and write id, so a link is pinned to one
//! version) until `expires`. The key of the HMAC is 32 random bytes generated once per local
//! data directory (the connection's `basePath`, or `localStorage.basePath`) and kept there in
//! `.chronos-link-key` (mode 0600), so links survive restarts and every server on that
//! directory accepts them. Without links enabled ([`crate::Chronos::enable_local_links`]),
//! local objects are presigned as `file://` paths, which only the same machine can open.

use super::PayloadError;
use crate::backend_error::BackendError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file holding a data directory's link key.
const KEY_FILE: &str = ".chronos-link-key";

/// Why a link is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The link was not made by this deployment, names no local object, or was altered.
    #[error("the link is not valid")]
    Invalid,
    /// The link's time is over.
    #[error("the link has expired")]
    Expired,
    /// The object could not be read (including: it no longer exists).
    #[error(transparent)]
    Read(#[from] crate::Error),
}

/// Makes and checks links for one server.
pub(crate) struct LinkSigner {
    base_url: String,
    keys: Mutex<HashMap<PathBuf, Arc<[u8]>>>,
}

impl LinkSigner {
    pub(crate) fn new(base_url: &str) -> Self {
        LinkSigner {
            base_url: base_url.trim_end_matches('/').to_string(),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The link key of a data directory, read from it or (the first time a link is made,
    /// `create`) made and stored. Checking a link never creates one.
    fn key_of(&self, data_dir: &Path, create: bool) -> Result<Arc<[u8]>, PayloadError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = keys.get(data_dir) {
            return Ok(k.clone());
        }
        let key: Arc<[u8]> = if create {
            load_or_create_key(data_dir)?
        } else {
            read_key(&data_dir.join(KEY_FILE))?
        }
        .into();
        keys.insert(data_dir.to_path_buf(), key.clone());
        Ok(key)
    }

    fn signature(key: &[u8], path: &str, expires: u64) -> Result<Hmac<Sha256>, PayloadError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|e| PayloadError::Backend(BackendError::new(format!("link key: {e}"))))?;
        mac.update(format!("GET\n{path}\n{expires}").as_bytes());
        Ok(mac)
    }

    /// A link to `key` in `bucket` of connection `conn`, whose files live in `data_dir`.
    pub(crate) fn link(
        &self,
        data_dir: &Path,
        conn: &str,
        bucket: &str,
        key: &str,
        ttl: std::time::Duration,
    ) -> Result<String, PayloadError> {
        let path = format!("{conn}/{bucket}/{key}");
        let expires = now_seconds().saturating_add(ttl.as_secs());
        let mac = Self::signature(&self.key_of(data_dir, true)?, &path, expires)?;
        let sig = hex::encode(mac.finalize().into_bytes());
        Ok(format!(
            "{}/v1/blobs/{path}?expires={expires}&sig={sig}",
            self.base_url
        ))
    }

    /// A link to `path` (what follows `/v1/blobs/`) signed with `key` instead of a data
    /// directory's: links to encrypted objects, whose key derives from the master key.
    pub(crate) fn link_with_key(
        &self,
        key: &[u8],
        path: &str,
        ttl: std::time::Duration,
    ) -> Result<String, PayloadError> {
        let expires = now_seconds().saturating_add(ttl.as_secs());
        let sig = hex::encode(Self::signature(key, path, expires)?.finalize().into_bytes());
        Ok(format!(
            "{}/v1/blobs/{path}?expires={expires}&sig={sig}",
            self.base_url
        ))
    }

    /// Checks a link made by [`LinkSigner::link_with_key`] (in constant time) and its time.
    pub(crate) fn check_with_key(
        key: &[u8],
        path: &str,
        expires: u64,
        sig: &str,
    ) -> Result<(), LinkError> {
        let sig = hex::decode(sig).map_err(|_| LinkError::Invalid)?;
        Self::signature(key, path, expires)
            .map_err(|_| LinkError::Invalid)?
            .verify_slice(&sig)
            .map_err(|_| LinkError::Invalid)?;
        if now_seconds() > expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    /// Checks a link's signature (in constant time) and time.
    pub(crate) fn check(
        &self,
        data_dir: &Path,
        path: &str,
        expires: u64,
        sig: &str,
    ) -> Result<(), LinkError> {
        let sig = hex::decode(sig).map_err(|_| LinkError::Invalid)?;
        let key = self
            .key_of(data_dir, false)
            .map_err(|_| LinkError::Invalid)?;
        Self::signature(&key, path, expires)
            .map_err(|_| LinkError::Invalid)?
            .verify_slice(&sig)
            .map_err(|_| LinkError::Invalid)?;
        if now_seconds() > expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn read_key(file: &Path) -> Result<Vec<u8>, PayloadError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        PayloadError::Backend(BackendError::caused_by(
            format!("cannot read {}", file.display()),
            &e,
        ))
    })?;
    match hex::decode(text.trim()) {
        Ok(k) if k.len() >= 32 => Ok(k),
        _ => Err(PayloadError::Backend(BackendError::new(format!(
            "{} is not a link key (64 hex digits); remove it to make a new one",
            file.display()
        )))),
    }
}

/// Reads the directory's key, or makes one: written whole to a temporary file, then linked
/// to its name, so another process never reads a partly written key; the first link wins.
fn load_or_create_key(data_dir: &Path) -> Result<Vec<u8>, PayloadError> {
    let file = data_dir.join(KEY_FILE);
    if file.exists() {
        return read_key(&file);
    }
    let fail = |what: &str, e: &std::io::Error| {
        PayloadError::Backend(BackendError::caused_by(
            format!("{what} {}", file.display()),
            e,
        ))
    };
    std::fs::create_dir_all(data_dir).map_err(|e| fail("cannot create the directory of", &e))?;
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    let temp = data_dir.join(format!("{KEY_FILE}.{}", crate::names::write_id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut f| {
        use std::io::Write;
        f.write_all(hex::encode(key).as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temp, &file));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(key.to_vec()),
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(&file),
        Err(e) => Err(fail("cannot create", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parts(link: &str) -> (String, u64, String) {
        let rest = link.split("/v1/blobs/").nth(1).unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        let mut expires = 0;
        let mut sig = String::new();
        for kv in query.split('&') {
            match kv.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("sig", v) => sig = v.into(),
                _ => {}
            }
        }
        (path.to_string(), expires, sig)
    }

    /// `sig` with its first hex digit changed.
    fn tampered(sig: &str) -> String {
        let first = if sig.starts_with('0') { "1" } else { "0" };
        format!("{first}{}", &sig[1..])
    }

    #[test]
    fn checking_a_link_creates_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let signer = LinkSigner::new("http://x");
        assert!(matches!(
            signer.check(dir.path(), "files/b/k", u64::MAX, "00"),
            Err(LinkError::Invalid)
        ));
        assert!(!dir.path().join(KEY_FILE).exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written"
        );
    }

    #[test]
    fn links_verify_until_they_expire_and_not_once_altered() {
        let dir = tempfile::tempdir().unwrap();
        let signer = LinkSigner::new("http://127.0.0.1:7070/");
        let link = signer
            .link(
                dir.path(),
                "files",
                "chronos-runtime",
                "t/a/v0.x/item.json",
                Duration::from_secs(60),
            )
            .unwrap();
        assert!(link.starts_with(
            "http://127.0.0.1:7070/v1/blobs/files/chronos-runtime/t/a/v0.x/item.json?expires="
        ));
        let (path, expires, sig) = parts(&link);
        signer.check(dir.path(), &path, expires, &sig).unwrap();
        for (p, e, s) in [
            (path.replace("v0.x", "v1.x"), expires, sig.clone()),
            (path.clone(), expires + 1, sig.clone()),
            (path.clone(), expires, tampered(&sig)),
            (path.clone(), expires, "zz".into()),
        ] {
            assert!(
                matches!(signer.check(dir.path(), &p, e, &s), Err(LinkError::Invalid)),
                "{p} {e} {s}"
            );
        }
        // Another server on the same directory shares the key; another directory does not.
        let other = LinkSigner::new("http://elsewhere");
        other.check(dir.path(), &path, expires, &sig).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(matches!(
            other.check(elsewhere.path(), &path, expires, &sig),
            Err(LinkError::Invalid)
        ));
        // An expired link with a good signature.
        let old = signer
            .link(dir.path(), "files", "b", "k", Duration::from_secs(0))
            .unwrap();
        let (p, e, s) = parts(&old);
        let past = e - 10;
        let mac =
            LinkSigner::signature(&load_or_create_key(dir.path()).unwrap(), &p, past).unwrap();
        let s_past = hex::encode(mac.finalize().into_bytes());
        assert!(matches!(
            signer.check(dir.path(), &p, past, &s_past),
            Err(LinkError::Expired)
        ));
        let _ = s;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
