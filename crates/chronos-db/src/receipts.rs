//! Erasure receipts: what an erasure removed, signed so that an alteration shows. Pure
//! signing and checking (no I/O): `ops/erase.rs` writes receipts, `erasure` checks them.
//!
//! A receipt names no erased data: the item id and the subject value appear only as keyed
//! hashes (HMAC-SHA-256 under `erasure.receiptKey`, with a label per kind of value), so
//! someone holding the key can check that a given id was erased, and nobody else can learn
//! it. The signature is an HMAC over the receipt's fields in a fixed order (every field but
//! `signature`); a receipt with a changed, added or missing field fails verification.

use crate::error::{Error, Result};
use crate::model::Timestamp;
use crate::routing::Route;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

/// The collection receipts are written to, in the logs database.
pub const RECEIPTS_COLLECTION: &str = "erasures";

/// A signed record of one item's erasure, as stored in the logs database (`erasures`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The receipt's id (also its item id in `erasures`): derived from the erasure, so a
    /// re-run of an interrupted erasure finds the receipt it already wrote.
    pub receipt_id: String,
    /// `item` (an `erase` call) or `subject` (a subject erasure).
    pub kind: String,
    /// Where the item lived: database type, tier, tenant or domain, collection.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub route: Route,
    /// HMAC of the erased item's id (see [`item_hash`]).
    pub item_hash: String,
    /// HMAC of the subject value, for a subject erasure (see [`subject_hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_hash: Option<String>,
    /// The erasure tombstone's ov.
    pub tombstone_ov: u64,
    /// The erasure tombstone's cv.
    pub tombstone_cv: u64,
    /// Versions whose content was removed.
    pub versions_removed: u64,
    /// Objects (payloads and blobs of every version) removed from object storage.
    pub objects_removed: u64,
    /// When the tombstone was committed: from then on, every read of the item is refused.
    pub erased_at: Timestamp,
    /// Who erased it.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// The first 16 hex digits of SHA-256 of the signing key: which key to verify with.
    pub key_id: String,
    /// HMAC-SHA-256 over every other field, in lower-case hex.
    pub signature: String,
}

/// The outcome of [`crate::erasure::Erasure::verify`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptCheck {
    /// The receipt id checked.
    pub receipt_id: String,
    /// Whether the receipt is exactly as signed, and was never rewritten.
    pub valid: bool,
    /// Why it is not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The receipt as stored (when it could be read as one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

/// The key that signs receipts (from `erasure.receiptKey`).
#[derive(Clone)]
pub(crate) struct ReceiptKey(Vec<u8>);

impl std::fmt::Debug for ReceiptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptKey(..)")
    }
}

/// A number as the metadata stores compare it: integers exactly (any size), others as the
/// shortest text of their `f64`, so `7.0` is `7` and `7.50` is `7.5`.
fn canonical_number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return text.trim_start_matches('+').to_string();
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            format!("{}", f as i64)
        }
        Some(f) if f.is_finite() => format!("{f:?}"),
        _ => text,
    }
}

impl ReceiptKey {
    /// The configured key; erasure is refused without one.
    pub(crate) fn from_config(cfg: &crate::config::ChronosConfig) -> Result<Self> {
        match &cfg.erasure {
            Some(e) if e.receipt_key.chars().count() >= 32 => {
                Ok(ReceiptKey(e.receipt_key.as_bytes().to_vec()))
            }
            _ => Err(Error::validation(
                "erasure writes signed receipts: set erasure.receiptKey in the configuration \
                 (at least 32 characters, e.g. \"${env:CHRONOS_RECEIPT_KEY}\")",
            )),
        }
    }

    fn mac(&self, label: &str, parts: &[&[u8]]) -> String {
        // Keys of any length are accepted by HMAC.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(label.as_bytes());
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// The keyed hash of an item id in receipts.
    pub(crate) fn item_hash(&self, id: &str) -> String {
        self.mac("chronos-erasure-item", &[id.as_bytes()])
    }

    /// The keyed hash of a subject value in receipts and subject key scopes: of its JSON
    /// text, with numbers in the form the stores compare them by (`7` and `7.0` are the same
    /// subject; `"7"` is another).
    pub(crate) fn subject_hash(&self, value: &Value) -> String {
        let text = match value {
            Value::Number(n) => canonical_number(n),
            other => other.to_string(),
        };
        self.mac("chronos-erasure-subject", &[text.as_bytes()])
    }

    /// The receipt id of the erasure whose tombstone is `cv` of an item on a route.
    pub(crate) fn receipt_id(&self, route: &Route, id: &str, tombstone_cv: u64) -> String {
        let digest = self.mac(
            "chronos-erasure-receipt",
            &[
                route.to_string().as_bytes(),
                id.as_bytes(),
                &tombstone_cv.to_be_bytes(),
            ],
        );
        format!("er-{}", &digest[..32])
    }

    /// Which key signed (an HMAC of a label, so it tells nothing about the key itself).
    pub(crate) fn key_id(&self) -> String {
        self.mac("chronos-erasure-key-id", &[])[..16].to_string()
    }

    /// The signature of a receipt: over its JSON with `signature` empty (the field order is
    /// the struct's, so the text is the same wherever it is computed).
    pub(crate) fn sign(&self, receipt: &Receipt) -> Result<String> {
        let mut unsigned = receipt.clone();
        unsigned.signature = String::new();
        let text = serde_json::to_vec(&unsigned)
            .map_err(|e| Error::Corrupt(format!("cannot encode a receipt: {e}")))?;
        Ok(self.mac("chronos-erasure-receipt-signature", &[&text]))
    }

    /// Checks a stored receipt document: it must decode as a receipt (no field added or
    /// missing) and carry this key's signature over exactly its fields.
    pub(crate) fn check(&self, receipt_id: &str, stored: Value) -> ReceiptCheck {
        let fail = |problem: String, receipt: Option<Receipt>| ReceiptCheck {
            receipt_id: receipt_id.to_string(),
            valid: false,
            problem: Some(problem),
            receipt,
        };
        let receipt: Receipt = match serde_json::from_value(stored) {
            Ok(r) => r,
            Err(e) => return fail(format!("the stored receipt is not a receipt: {e}"), None),
        };
        if receipt.receipt_id != receipt_id {
            return fail(
                "the stored receipt names another receipt id".into(),
                Some(receipt),
            );
        }
        if receipt.key_id != self.key_id() {
            return fail(
                "the receipt was signed with another key (its keyId differs from erasure.receiptKey's)"
                    .into(),
                Some(receipt),
            );
        }
        let expected = match self.sign(&receipt) {
            Ok(s) => s,
            Err(e) => return fail(e.to_string(), Some(receipt)),
        };
        // Constant-time comparison of the hex texts' bytes.
        let same = expected.len() == receipt.signature.len()
            && expected
                .bytes()
                .zip(receipt.signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return fail(
                "the signature does not match the receipt's fields: it was altered".into(),
                Some(receipt),
            );
        }
        ReceiptCheck {
            receipt_id: receipt_id.to_string(),
            valid: true,
            problem: None,
            receipt: Some(receipt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiers::DatabaseType;

    fn key() -> ReceiptKey {
        ReceiptKey(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    fn receipt(k: &ReceiptKey) -> Receipt {
        let mut r = Receipt {
            receipt_id: "er-1".into(),
            kind: "item".into(),
            route: Route::tenant(DatabaseType::Runtime, "t1", "users").unwrap(),
            item_hash: k.item_hash("u1"),
            subject_hash: None,
            tombstone_ov: 3,
            tombstone_cv: 9,
            versions_removed: 3,
            objects_removed: 4,
            erased_at: Timestamp(1),
            actor: "dpo".into(),
            reason: "gdpr".into(),
            key_id: k.key_id(),
            signature: String::new(),
        };
        r.signature = k.sign(&r).unwrap();
        r
    }

    #[test]
    fn a_signed_receipt_verifies_and_any_change_fails() {
        let k = key();
        let r = receipt(&k);
        let stored = serde_json::to_value(&r).unwrap();
        assert!(k.check("er-1", stored.clone()).valid);
        for (field, value) in [
            ("objectsRemoved", Value::from(3)),
            ("actor", Value::from("someone")),
            ("itemHash", Value::from(k.item_hash("u2"))),
        ] {
            let mut t = stored.clone();
            t[field] = value;
            let check = k.check("er-1", t);
            assert!(!check.valid, "{field}");
            assert!(check.problem.unwrap().contains("altered"));
        }
        let mut added = stored.clone();
        added["note"] = Value::from("x");
        assert!(!k.check("er-1", added).valid);
        let other = ReceiptKey(b"another key, also 32 characters!!".to_vec());
        assert!(!other.check("er-1", stored).valid);
    }

    #[test]
    fn hashes_are_keyed_and_name_nothing() {
        let k = key();
        assert_ne!(k.item_hash("u1"), k.item_hash("u2"));
        assert_ne!(
            k.item_hash("u1"),
            ReceiptKey(b"x".repeat(32)).item_hash("u1")
        );
        assert!(!k.item_hash("u1").contains("u1"));
        assert_ne!(
            k.subject_hash(&Value::from("1")),
            k.subject_hash(&Value::from(1))
        );
        let num = |text: &str| k.subject_hash(&serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(num("7"), num("7.0"));
        assert_eq!(num("7"), num("7e0"));
        assert_ne!(num("7"), num("7.5"));
        assert_eq!(num("7.50"), num("7.5"));
        assert_ne!(num("18446744073709551616"), num("18446744073709551617"));
    }
}
