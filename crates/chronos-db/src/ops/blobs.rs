//! `base64Props`: base64 strings become blobs (plus an optional UTF-8 text rendition) under
//! the version's own prefix, and the property is replaced by a ref object:
//! `{"ref": {"contentBucket", "blobKey", "textKey"?, "contentType", "size", "sha256"}}`.
//!
//! A ref object already in the document (kept from an earlier version by an update, enrich,
//! delete or restore) is copied into the new version's prefix, so every version owns its
//! blobs. A ref is trusted for nothing but the version it names: its `blobKey` must be the
//! blob of the same property in a committed version of the same item, found in this route's
//! own metadata store (so never another item's or another tenant's, even when tenants share
//! a bucket and prefix), and everything else in the new ref (`contentType`, `size`,
//! `sha256`, `textKey`) is taken from that version's stored ref, never from the caller.

use super::Collection;
use crate::config::Base64Prop;
use crate::document::{get_path, set_path};
use crate::error::{Error, Result};
use crate::model::Document;
use crate::payload::keys;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::HashMap;

/// One object write a version needs.
pub(super) enum BlobWrite {
    Put {
        key: String,
        bytes: Bytes,
    },
    /// A compressed blob (`Content-Encoding: gzip` where the store keeps it).
    PutCompressed {
        key: String,
        bytes: Bytes,
    },
    Copy {
        from: String,
        to: String,
    },
}

impl BlobWrite {
    pub(super) fn key(&self) -> &str {
        match self {
            BlobWrite::Put { key, .. } | BlobWrite::PutCompressed { key, .. } => key,
            BlobWrite::Copy { to, .. } => to,
        }
    }
}

fn is_texty(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() {
        return None;
    }
    let total = text.chars().count();
    let control = text
        .chars()
        .filter(|c| (*c as u32) < 32 && !matches!(c, '\n' | '\r' | '\t'))
        .count();
    (control * 20 <= total).then(|| text.to_string())
}

impl Collection {
    /// Rewrites the base64 properties of `doc` for a version whose objects live under
    /// `prefix`, and returns the object writes to perform. Only reads: invalid input is
    /// rejected before anything is written.
    pub(super) async fn plan_blobs(
        &self,
        id: &str,
        prefix: &str,
        doc: &mut Document,
    ) -> Result<Vec<BlobWrite>> {
        let mut writes = Vec::new();
        // The content of each earlier version a ref names, read once per version.
        let mut sources: HashMap<u64, Document> = HashMap::new();
        for (prop, spec) in &self.settings.base64 {
            let Some(value) = get_path(doc, prop).cloned() else {
                continue;
            };
            let segments: Vec<String> = prop.split('.').map(str::to_string).collect();
            let new_ref = match value {
                Value::Null => continue,
                Value::String(s) => self.plan_put(prop, spec, prefix, &s, &mut writes)?,
                Value::Object(ref o) if o.contains_key("ref") => {
                    self.plan_copy(id, prop, prefix, o, &mut sources, &mut writes)
                        .await?
                }
                _ => {
                    return Err(Error::validation(format!(
                        "property '{prop}' must be a base64 string (or the ref object it was stored as)"
                    )))
                }
            };
            set_path(doc, &segments, new_ref);
        }
        Ok(writes)
    }

    fn plan_put(
        &self,
        prop: &str,
        spec: &Base64Prop,
        prefix: &str,
        b64: &str,
        writes: &mut Vec<BlobWrite>,
    ) -> Result<Value> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| {
                Error::validation(format!("property '{prop}' is not valid base64: {e}"))
            })?;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        let size = bytes.len();
        // Text content above the threshold is stored compressed (see `crate::compression`).
        let compressed = self
            .settings
            .compress_from
            .filter(|min| bytes.len() as u64 >= u64::from(*min))
            .filter(|_| crate::compression::is_text_type(&spec.content_type))
            .filter(|_| std::str::from_utf8(&bytes).is_ok())
            .and_then(|_| crate::compression::compress(&bytes))
            .map(Bytes::from);
        let suffix = match compressed {
            Some(_) => crate::compression::BLOB_SUFFIX,
            None => "",
        };
        let blob_key = format!("{}{suffix}", keys::blob_key(prefix, prop));
        let mut r = json!({"contentBucket": self.resolved.bucket, "blobKey": blob_key, "contentType": spec.content_type, "size": size, "sha256": sha});
        if compressed.is_some() {
            r["contentEncoding"] = Value::String(crate::compression::CONTENT_ENCODING.into());
        }
        let put = |key: String, plain: Bytes| match &compressed {
            // The text rendition is the blob's own bytes: the same compressed stream.
            Some(z) => BlobWrite::PutCompressed {
                key,
                bytes: z.clone(),
            },
            None => BlobWrite::Put { key, bytes: plain },
        };
        if spec.preferred_text || spec.content_type.starts_with("text/") {
            if let Some(text) = is_texty(&bytes) {
                let text_key = format!("{}{suffix}", keys::text_key(prefix, prop));
                r["textKey"] = Value::String(text_key.clone());
                writes.push(put(text_key, Bytes::from(text)));
            }
        }
        writes.push(put(blob_key, Bytes::from(bytes)));
        Ok(json!({ "ref": r }))
    }

    /// Plans the copy of a blob an earlier version of this item owns (see the module docs
    /// for what a ref may name).
    async fn plan_copy(
        &self,
        id: &str,
        prop: &str,
        prefix: &str,
        obj: &Document,
        sources: &mut HashMap<u64, Document>,
        writes: &mut Vec<BlobWrite>,
    ) -> Result<Value> {
        let bad = || {
            Error::validation(format!(
                "property '{prop}' holds a ref object that names no blob of this item's versions"
            ))
        };
        let Some(Value::Object(given)) = obj.get("ref") else {
            return Err(bad());
        };
        if obj.len() != 1 {
            return Err(bad());
        }
        let blob = given
            .get("blobKey")
            .and_then(Value::as_str)
            .ok_or_else(bad)?;
        // `<coll>/<id>/v<ov>.<writeId>/<prop>/blob.bin`, `.gz` after it when compressed.
        let suffix = match blob.ends_with(crate::compression::BLOB_SUFFIX) {
            true => crate::compression::BLOB_SUFFIX,
            false => "",
        };
        let version_prefix = blob
            .strip_suffix(&format!("{prop}/blob.bin{suffix}"))
            .filter(|p| p.ends_with('/'))
            .ok_or_else(bad)?;
        let ov = version_prefix
            .strip_prefix(&keys::item_prefix(self.name(), id))
            .and_then(|rest| rest.strip_prefix('v'))
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(ov, _)| ov.parse::<u64>().ok())
            .ok_or_else(bad)?;
        let content = match sources.entry(ov) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                // The version must exist in this route's store and own exactly that prefix
                // (its write id): a key of the same shape from another tenant's item does not.
                let source = self
                    .store
                    .get_version(self.name(), id, ov)
                    .await?
                    .filter(|v| v.version.payload_key == keys::item_key(version_prefix))
                    .ok_or_else(bad)?;
                slot.insert(
                    self.load_content(&source.version, source.shadow.as_deref())
                        .await?,
                )
            }
        };
        let stored = get_path(content, prop)
            .and_then(|v| v.get("ref"))
            .and_then(Value::as_object)
            .filter(|r| r.get("blobKey").and_then(Value::as_str) == Some(blob))
            .ok_or_else(bad)?;
        let mut new_ref = stored.clone();
        // The copy keeps the stored form, and so the key's suffix.
        let blob_key = format!("{}{suffix}", keys::blob_key(prefix, prop));
        writes.push(BlobWrite::Copy {
            from: blob.to_string(),
            to: blob_key.clone(),
        });
        new_ref.insert("blobKey".into(), Value::String(blob_key));
        new_ref.insert(
            "contentBucket".into(),
            Value::String(self.resolved.bucket.clone()),
        );
        if let Some(text) = stored.get("textKey").and_then(Value::as_str) {
            let text_suffix = match text.ends_with(crate::compression::BLOB_SUFFIX) {
                true => crate::compression::BLOB_SUFFIX,
                false => "",
            };
            let text_key = format!("{}{text_suffix}", keys::text_key(prefix, prop));
            writes.push(BlobWrite::Copy {
                from: text.to_string(),
                to: text_key.clone(),
            });
            new_ref.insert("textKey".into(), Value::String(text_key));
        }
        Ok(json!({ "ref": new_ref }))
    }

    /// Performs planned writes, recording each key written (for clean-up on refusal).
    pub(super) async fn apply_blobs(
        &self,
        payload: &dyn crate::payload::PayloadStore,
        writes: Vec<BlobWrite>,
        written: &mut Vec<String>,
    ) -> Result<()> {
        for w in writes {
            let key = w.key().to_string();
            match w {
                BlobWrite::Put { key, bytes } => payload.put(&key, bytes).await?,
                BlobWrite::PutCompressed { key, bytes } => {
                    payload
                        .put_encoded(&key, bytes, crate::compression::CONTENT_ENCODING)
                        .await?
                }
                BlobWrite::Copy { from, to } => {
                    payload.copy(&from, &to).await.map_err(|e| match e {
                        crate::payload::PayloadError::NotFound(_) => Error::validation(format!(
                            "a ref object points at '{from}', which does not exist"
                        )),
                        other => other.into(),
                    })?
                }
            }
            written.push(key);
        }
        Ok(())
    }
}
