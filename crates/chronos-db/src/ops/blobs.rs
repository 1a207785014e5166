//! `base64Props`: base64 strings become blobs (plus an optional UTF-8 text rendition) under
//! the version's own prefix, and the property is replaced by a ref object:
//! `{"ref": {"contentBucket", "blobKey", "textKey"?, "contentType", "size", "sha256"}}`.
//!
//! A ref object already in the document (kept from an earlier version by an update, enrich,
//! delete or restore) is copied into the new version's prefix, so every version owns its
//! blobs. A ref may only point into the same item's own objects: anything else is rejected,
//! which stops a caller from reaching another item's (or tenant's) objects through a ref.

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

/// One object write a version needs.
pub(super) enum BlobWrite {
    Put { key: String, bytes: Bytes },
    Copy { from: String, to: String },
}

impl BlobWrite {
    pub(super) fn key(&self) -> &str {
        match self {
            BlobWrite::Put { key, .. } => key,
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
    /// `prefix`, and returns the object writes to perform. Pure: no I/O, so invalid input is
    /// rejected before anything is written.
    pub(super) fn plan_blobs(
        &self,
        id: &str,
        prefix: &str,
        doc: &mut Document,
    ) -> Result<Vec<BlobWrite>> {
        let mut writes = Vec::new();
        for (prop, spec) in &self.settings.base64 {
            let Some(value) = get_path(doc, prop).cloned() else {
                continue;
            };
            let segments: Vec<String> = prop.split('.').map(str::to_string).collect();
            let new_ref = match value {
                Value::Null => continue,
                Value::String(s) => self.plan_put(prop, spec, prefix, &s, &mut writes)?,
                Value::Object(ref o) if o.contains_key("ref") => self.plan_copy(id, prop, prefix, o, &mut writes)?,
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
        let blob_key = keys::blob_key(prefix, prop);
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        let size = bytes.len();
        let mut r = json!({"contentBucket": self.resolved.bucket, "blobKey": blob_key, "contentType": spec.content_type, "size": size, "sha256": sha});
        if spec.preferred_text || spec.content_type.starts_with("text/") {
            if let Some(text) = is_texty(&bytes) {
                let text_key = keys::text_key(prefix, prop);
                r["textKey"] = Value::String(text_key.clone());
                writes.push(BlobWrite::Put {
                    key: text_key,
                    bytes: Bytes::from(text),
                });
            }
        }
        writes.push(BlobWrite::Put {
            key: blob_key,
            bytes: Bytes::from(bytes),
        });
        Ok(json!({ "ref": r }))
    }

    fn plan_copy(
        &self,
        id: &str,
        prop: &str,
        prefix: &str,
        obj: &Document,
        writes: &mut Vec<BlobWrite>,
    ) -> Result<Value> {
        let bad = || {
            Error::validation(format!(
                "property '{prop}' holds a ref object that does not belong to this item"
            ))
        };
        let Some(Value::Object(r)) = obj.get("ref") else {
            return Err(bad());
        };
        let own = keys::item_prefix(self.name(), id);
        let belongs = |key: &str, file: &str| {
            key.starts_with(&own)
                && key.ends_with(&format!("/{prop}/{file}"))
                && !key.contains("..")
                && !key.contains("//")
        };
        if obj.len() != 1
            || r.get("contentBucket").and_then(Value::as_str) != Some(self.resolved.bucket.as_str())
        {
            return Err(bad());
        }
        let Some(blob) = r
            .get("blobKey")
            .and_then(Value::as_str)
            .filter(|k| belongs(k, "blob.bin"))
        else {
            return Err(bad());
        };
        let mut new_ref = r.clone();
        let blob_key = keys::blob_key(prefix, prop);
        writes.push(BlobWrite::Copy {
            from: blob.to_string(),
            to: blob_key.clone(),
        });
        new_ref.insert("blobKey".into(), Value::String(blob_key));
        match r.get("textKey") {
            None => {}
            Some(Value::String(t)) if belongs(t, "text.txt") => {
                let text_key = keys::text_key(prefix, prop);
                writes.push(BlobWrite::Copy {
                    from: t.clone(),
                    to: text_key.clone(),
                });
                new_ref.insert("textKey".into(), Value::String(text_key));
            }
            Some(_) => return Err(bad()),
        }
        Ok(json!({ "ref": new_ref }))
    }

    /// Performs planned writes, recording each key written (for clean-up on refusal).
    pub(super) async fn apply_blobs(
        &self,
        writes: Vec<BlobWrite>,
        written: &mut Vec<String>,
    ) -> Result<()> {
        for w in writes {
            let key = w.key().to_string();
            match w {
                BlobWrite::Put { key, bytes } => self.payload.put(&key, bytes).await?,
                BlobWrite::Copy { from, to } => {
                    self.payload.copy(&from, &to).await.map_err(|e| match e {
                        crate::payload::PayloadError::NotFound(_) => Error::validation(format!(
                            "a ref object points at '{from}', which does not exist"
                        )),
                        other => Error::Payload(other),
                    })?
                }
            }
            written.push(key);
        }
        Ok(())
    }
}
