//! Hydration: turning stored versions into what readers get, either typed [`Item`]s or the
//! same items as JSON text.
//!
//! The JSON path exists for callers that only pass JSON on (the CLI, an HTTP server): a
//! version's content is stored as the JSON text of its document (inline in the version row
//! when small, see `devShadow`, else as the version's `item.json`), so the flat item
//! `{"_id": ..., <content>, "_system": {...}}` can be assembled around that text without
//! decoding it into a `serde_json::Value` and encoding it again. The result is checked to be
//! one well-formed JSON object before it is returned, and it is byte for byte what
//! `serde_json::to_string(&item.to_document())` gives (`hydrate` tests hold both paths to
//! that). With a projection or signed URLs the item is built typed and then encoded, so every
//! read option behaves the same on both paths.

use super::Collection;
use crate::error::{Error, Result};
use crate::meta::{FlatRow, ItemRow};
use crate::model::{Document, Item, StoredVersion, SystemFields, Timestamp, VersionRecord};
use crate::ItemJson;
use futures::{StreamExt, TryStreamExt};

/// Concurrent object reads while hydrating a page whose content is not inline.
const FETCH_CONCURRENCY: usize = 16;

impl Collection {
    /// The inline copy of a version's content, when there is one and it is still fresh
    /// (`devShadow.ttlHours`).
    fn fresh_shadow<'a>(&self, v: &VersionRecord, shadow: Option<&'a str>) -> Option<&'a str> {
        let since = self.inline_since()?;
        shadow.filter(|_| v.at >= since)
    }

    /// The commit time from which inline copies are fresh (`devShadow.ttlHours` before now),
    /// or `None` when content must always come from objects: with encryption on, an inline
    /// copy written before would outlive a shred of its tenant; with `devShadow` off, rows
    /// have no inline copy to look for (those written before it was turned off are not
    /// used either: every version's object holds the same content).
    pub(super) fn inline_since(&self) -> Option<Timestamp> {
        if self.inner.keyring.is_some() || !self.settings.shadow.enabled {
            return None;
        }
        // Any ttlHours a u32 can hold: a very long one means "always fresh", not overflow.
        let ttl_micros = i64::from(self.settings.shadow.ttl_hours).saturating_mul(3_600_000_000);
        Some(Timestamp(
            Timestamp::now().micros().saturating_sub(ttl_micros),
        ))
    }

    /// The version's `item.json`, read from object storage (and decoded when it was stored
    /// compressed: at most its recorded size).
    async fn object_bytes(&self, v: &VersionRecord) -> Result<bytes::Bytes> {
        match self.payload.get(&v.payload_key).await {
            Ok(bytes) if crate::compression::is_compressed(&bytes) => {
                let plain = crate::compression::decompress(&bytes, v.size)
                    .map_err(|e| Error::Corrupt(format!("version {} of '{}': {e}", v.ov, v.id)))?;
                if plain.len() as u64 != v.size {
                    return Err(Error::Corrupt(format!(
                        "version {} of '{}' decodes to {} bytes, not the {} recorded",
                        v.ov,
                        v.id,
                        plain.len(),
                        v.size
                    )));
                }
                Ok(bytes::Bytes::from(plain))
            }
            Ok(bytes) => Ok(bytes),
            Err(crate::payload::PayloadError::NotFound(k)) => {
                // A read racing an erasure finds its objects gone: the item is erased.
                self.refuse_if_erased(&v.id, || format!("item '{}'", v.id))
                    .await?;
                Err(Error::Corrupt(format!(
                    "version {} of '{}' points at missing object '{k}'",
                    v.ov, v.id
                )))
            }
            Err(other) => Err(other.into()),
        }
    }

    fn not_an_object(v: &VersionRecord, e: impl std::fmt::Display) -> Error {
        Error::Corrupt(format!(
            "version {} of '{}' is not a JSON object: {e}",
            v.ov, v.id
        ))
    }

    /// The stored content of a version: the inline shadow when fresh, else the object.
    pub(super) async fn load_content(
        &self,
        v: &VersionRecord,
        shadow: Option<&str>,
    ) -> Result<Document> {
        if let Some(text) = self.fresh_shadow(v, shadow) {
            if let Ok(doc) = serde_json::from_str::<Document>(text) {
                return Ok(doc);
            }
        }
        let bytes = self.object_bytes(v).await?;
        serde_json::from_slice(&bytes).map_err(|e| Self::not_an_object(v, e))
    }

    /// The item a version reads as, with `data` projected when asked.
    fn item_from(v: &VersionRecord, data: Document, projection: Option<&[String]>) -> Item {
        let data = match projection {
            Some(paths) => crate::document::project(&data, paths),
            None => data,
        };
        Item {
            id: v.id.clone(),
            data,
            system: SystemFields::of(v),
            op: v.op,
            actor: v.actor.clone(),
            reason: v.reason.clone(),
            presigned: None,
        }
    }

    /// One value per row, in order, built by `build` from the row's version and its stored
    /// JSON text: rows whose content is inline and fresh are built in one pass; the others
    /// (and inline copies `build` refuses) from their object, read concurrently.
    async fn per_row<T>(
        &self,
        rows: &[StoredVersion],
        build: impl Fn(&VersionRecord, &str) -> std::result::Result<T, String> + Sync,
    ) -> Result<Vec<T>> {
        let mut out: Vec<Option<T>> = rows
            .iter()
            .map(|r| {
                let text = self.fresh_shadow(&r.version, r.shadow.as_deref())?;
                build(&r.version, text).ok()
            })
            .collect();
        let missing: Vec<usize> = (0..rows.len()).filter(|&i| out[i].is_none()).collect();
        let build = &build;
        let fetched: Vec<(usize, T)> = futures::stream::iter(missing)
            .map(|i| async move {
                let v = &rows[i].version;
                let bytes = self.object_bytes(v).await?;
                let text = std::str::from_utf8(&bytes).map_err(|e| Self::not_an_object(v, e))?;
                Ok::<_, Error>((i, build(v, text).map_err(|e| Self::not_an_object(v, e))?))
            })
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        for (i, value) in fetched {
            out[i] = Some(value);
        }
        rows.iter()
            .zip(out)
            .map(|(r, v)| v.ok_or_else(|| Self::not_an_object(&r.version, "not read")))
            .collect()
    }

    /// The items of a page of rows, in order (see [`Collection::per_row`]).
    pub(super) async fn items_of(
        &self,
        rows: &[StoredVersion],
        projection: Option<&[String]>,
        presign_ttl: Option<u64>,
    ) -> Result<Vec<Item>> {
        if presign_ttl.is_some()
            && self.inner.keyring.is_some()
            && self.inner.payloads.links.get().is_none()
        {
            // A signed URL to the object store would hand out ciphertext; links to encrypted
            // objects are served (decrypted) by a server.
            return Err(Error::validation(
                "with encryption on, presigned links are served and decrypted by `chronos \
                 serve`: ask the server, or read the item",
            ));
        }
        let mut items = self
            .per_row(rows, |v, text| {
                let data = serde_json::from_str::<Document>(text).map_err(|e| e.to_string())?;
                Ok(Self::item_from(v, data, projection))
            })
            .await?;
        if let Some(ttl) = presign_ttl {
            for (item, row) in items.iter_mut().zip(rows) {
                self.presign_item(item, &row.version, ttl).await?;
            }
        }
        Ok(items)
    }

    /// The items of a page of [`ItemRow`]s, in order, with `data` projected when asked: rows
    /// the store already decoded as they are, the others built from their stored versions
    /// (see [`Collection::items_of`]).
    pub(super) async fn typed_items_of(
        &self,
        rows: Vec<ItemRow>,
        projection: Option<&[String]>,
    ) -> Result<Vec<Item>> {
        let mut out: Vec<Option<Item>> = Vec::with_capacity(rows.len());
        let (mut slots, mut stored) = (Vec::new(), Vec::new());
        for row in rows {
            match row {
                ItemRow::Item(mut item) => {
                    if let Some(paths) = projection {
                        item.data = crate::document::project(&item.data, paths);
                    }
                    out.push(Some(*item));
                }
                ItemRow::Stored(row) => {
                    slots.push(out.len());
                    out.push(None);
                    stored.push(*row);
                }
            }
        }
        if !stored.is_empty() {
            let built = self.items_of(&stored, projection, None).await?;
            for (slot, item) in slots.into_iter().zip(built) {
                out[slot] = Some(item);
            }
        }
        out.into_iter()
            .map(|item| item.ok_or_else(|| Error::Corrupt("a page row was not read".into())))
            .collect()
    }

    /// The items of a page of rows as flat JSON objects (see the module docs), in order.
    pub(super) async fn json_items_of(
        &self,
        rows: &[StoredVersion],
        projection: Option<&[String]>,
        presign_ttl: Option<u64>,
    ) -> Result<Vec<ItemJson>> {
        if projection.is_some() || presign_ttl.is_some() {
            return self
                .items_of(rows, projection, presign_ttl)
                .await?
                .iter()
                .map(encode_item)
                .collect();
        }
        self.per_row(rows, flat_json).await
    }

    /// The items of a page of [`FlatRow`]s as flat JSON text, in order: rows the store
    /// already flattened as they are, the others built from their objects (see
    /// [`Collection::per_row`]).
    pub(super) async fn flat_items_of(&self, rows: Vec<FlatRow>) -> Result<Vec<ItemJson>> {
        let mut out: Vec<Option<ItemJson>> = Vec::with_capacity(rows.len());
        let (mut slots, mut stored) = (Vec::new(), Vec::new());
        for row in rows {
            match row {
                FlatRow::Flat { json, .. } => out.push(Some(json)),
                FlatRow::Stored(row) => {
                    slots.push(out.len());
                    out.push(None);
                    stored.push(*row);
                }
            }
        }
        if !stored.is_empty() {
            let built = self.per_row(&stored, flat_json).await?;
            for (slot, json) in slots.into_iter().zip(built) {
                out[slot] = Some(json);
            }
        }
        out.into_iter()
            .map(|json| json.ok_or_else(|| Error::Corrupt("a page row was not read".into())))
            .collect()
    }

    /// Adds signed URLs for the version's `item.json` and every blob its (projected)
    /// content still references.
    pub(super) async fn presign_item(
        &self,
        item: &mut Item,
        v: &VersionRecord,
        ttl_seconds: u64,
    ) -> Result<()> {
        let ttl = std::time::Duration::from_secs(ttl_seconds);
        let item_url = self.object_url(&v.payload_key, ttl).await?;
        let mut blobs = std::collections::BTreeMap::new();
        for (prop, _) in &self.settings.base64 {
            let Some(r) = crate::document::get_path(&item.data, prop).and_then(|x| x.get("ref"))
            else {
                continue;
            };
            let Some(blob_key) = r.get("blobKey").and_then(|k| k.as_str()) else {
                continue;
            };
            let blob_url = self.object_url(blob_key, ttl).await?;
            let text_url = match r.get("textKey").and_then(|k| k.as_str()) {
                Some(t) => Some(self.object_url(t, ttl).await?),
                None => None,
            };
            blobs.insert(prop.clone(), crate::model::BlobUrls { blob_url, text_url });
        }
        item.presigned = Some(crate::model::Presigned {
            item_url,
            blobs,
            expires_in: ttl_seconds,
        });
        Ok(())
    }
}

/// A typed item as flat JSON text.
pub(super) fn encode_item(item: &Item) -> Result<ItemJson> {
    serde_json::to_string(&item.to_document())
        .map(ItemJson::written)
        .map_err(|e| Error::Corrupt(format!("item '{}' cannot be encoded: {e}", item.id)))
}

/// `{"_id": <id>, <content's members>, "_system": {...}}` around a version's stored JSON text.
/// Fails when `content` is not one JSON object (the caller then decodes it the slow way, or
/// reports corruption).
fn flat_json(v: &VersionRecord, content: &str) -> std::result::Result<ItemJson, String> {
    crate::flat::item_json(&v.id, content, &SystemFields::of(v))
}
