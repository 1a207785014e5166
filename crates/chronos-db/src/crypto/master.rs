//! The master key: parsing it from the configuration, and wrapping data keys with it
//! (AES-256-GCM, the data key's id as associated data, so a wrapped key cannot be
//! relabelled).

use super::envelope::Key;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};

/// A master key, and its id (the first 16 hex digits of its SHA-256).
#[derive(Clone)]
pub(crate) struct MasterKey {
    key: Key,
    pub(crate) id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// 32 bytes as 64 hex digits or as base64.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| "not hex".to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| {
                    "must be 32 bytes as 64 hex digits or as base64 (e.g. `openssl rand -base64 32`)"
                        .to_string()
                })?
        };
        let key: Key = bytes.try_into().map_err(|b: Vec<u8>| {
            format!("must be 32 bytes (256 bits); this one has {}", b.len())
        })?;
        let id = hex::encode(Sha256::digest(key))[..16].to_string();
        Ok(MasterKey { key, id })
    }

    /// A key for another purpose (HMAC-SHA-256 of `label` under the master key): every
    /// process with the master key derives the same one.
    pub(crate) fn derive(&self, label: &str) -> Key {
        use hmac::{Hmac, Mac};
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// `nonce || AES-256-GCM(data key)`, bound to `kid`.
    pub(crate) fn wrap(&self, kid: &str, data_key: &Key) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        let sealed = Aes256Gcm::new((&self.key).into())
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: data_key,
                    aad: kid.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// The data key `wrap` wrapped, or `None` when this master key did not wrap it (or the
    /// wrapped bytes were altered).
    pub(crate) fn unwrap(&self, kid: &str, wrapped: &[u8]) -> Option<Key> {
        let (nonce, sealed) = (wrapped.get(..12)?, wrapped.get(12..)?);
        let plain = Aes256Gcm::new((&self.key).into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: kid.as_bytes(),
                },
            )
            .ok()?;
        plain.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64_and_wraps() {
        let hex_key = "00".repeat(32);
        let m = MasterKey::parse(&hex_key).unwrap();
        let b =
            MasterKey::parse(&base64::engine::general_purpose::STANDARD.encode([0u8; 32])).unwrap();
        assert_eq!(m.id, b.id);
        assert!(MasterKey::parse("short").is_err());
        assert!(MasterKey::parse(&"00".repeat(31))
            .unwrap_err()
            .contains("32 bytes"));
        let data = [9u8; 32];
        let wrapped = m.wrap("k1", &data);
        assert_eq!(m.unwrap("k1", &wrapped), Some(data));
        assert_eq!(m.unwrap("k2", &wrapped), None);
        let other = MasterKey::parse(&"11".repeat(32)).unwrap();
        assert_eq!(other.unwrap("k1", &wrapped), None);
    }
}
