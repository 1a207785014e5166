//! The format of an encrypted object: `CHRENC1\0`, the key id (u16 length, UTF-8), a 96-bit
//! random nonce, then the AES-256-GCM ciphertext with its tag. The associated data binds
//! the ciphertext to its object key and key id, so an object copied or moved to another
//! version's key (or relabelled with another key id) fails to decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

const MAGIC: &[u8; 8] = b"CHRENC1\0";
const NONCE_LEN: usize = 12;

/// A 256-bit key.
pub(crate) type Key = [u8; 32];

/// Encrypts `plaintext` for the object at `object_key` under the data key `kid`.
/// Fails only for plaintexts beyond AES-GCM's limit (64 GiB).
pub(crate) fn seal(
    key: &Key,
    kid: &str,
    object_key: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);
    let cipher = Aes256Gcm::new(key.into());
    let aad = associated(kid, object_key);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| format!("object '{object_key}' is too large to encrypt"))?;
    let kid = kid.as_bytes();
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + kid.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(kid.len() as u16).to_be_bytes());
    out.extend_from_slice(kid);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The key id of an encrypted object, or `None` for a plaintext one (written before
/// encryption was enabled).
pub(crate) fn key_id(bytes: &[u8]) -> Option<&str> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    std::str::from_utf8(rest.get(2..2 + len)?).ok()
}

/// Decrypts an encrypted object read from `object_key`; `None` when it was not encrypted by
/// this key for this object (altered, moved, or the wrong key).
pub(crate) fn open(key: &Key, object_key: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let kid = key_id(bytes)?;
    let start = MAGIC.len() + 2 + kid.len();
    let nonce = bytes.get(start..start + NONCE_LEN)?;
    let sealed = bytes.get(start + NONCE_LEN..)?;
    let aad = associated(kid, object_key);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .ok()
}

fn associated(kid: &str, object_key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(kid.len() + object_key.len() + 1);
    aad.extend_from_slice(kid.as_bytes());
    aad.push(0);
    aad.extend_from_slice(object_key.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_key_and_object() {
        let key = [7u8; 32];
        let sealed = seal(&key, "tenant:a:1", "c/x/v0.w/item.json", b"{\"secret\":1}").unwrap();
        assert_eq!(key_id(&sealed), Some("tenant:a:1"));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            open(&key, "c/x/v0.w/item.json", &sealed).unwrap(),
            b"{\"secret\":1}"
        );
        // Another object's key, another data key, a flipped bit: refused.
        assert!(open(&key, "c/x/v1.w/item.json", &sealed).is_none());
        assert!(open(&[8u8; 32], "c/x/v0.w/item.json", &sealed).is_none());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open(&key, "c/x/v0.w/item.json", &flipped).is_none());
        // Plaintext is recognised as such.
        assert_eq!(key_id(b"{\"a\":1}"), None);
        // Two seals of the same text differ (random nonces).
        assert_ne!(
            sealed,
            seal(&key, "tenant:a:1", "c/x/v0.w/item.json", b"{\"secret\":1}").unwrap()
        );
    }
}
