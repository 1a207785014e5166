//! The data model shared by the operations and the stores: versions, heads, `_system`.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object: the shape of every document.
pub type Document = Map<String, Value>;

/// What a version records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Op {
    /// `CREATE`: the item's first version (ov 0).
    Create,
    /// `UPDATE`: the content replaced.
    Update,
    /// `ENRICH`: patches deep-merged into the content.
    Enrich,
    /// `DELETE`: a logical deletion (the version keeps the last content).
    Delete,
    /// `RESTORE`: an earlier version's content and deletion state written again.
    Restore,
    /// `ERASE`: the item's content was erased from every version; this tombstone has none.
    Erase,
}

impl Op {
    /// The upper-case name stored and returned (`CREATE`, `UPDATE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "CREATE",
            Op::Update => "UPDATE",
            Op::Enrich => "ENRICH",
            Op::Delete => "DELETE",
            Op::Restore => "RESTORE",
            Op::Erase => "ERASE",
        }
    }

    /// The operation with this upper-case name; `None` for any other text.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "CREATE" => Op::Create,
            "UPDATE" => Op::Update,
            "ENRICH" => Op::Enrich,
            "DELETE" => Op::Delete,
            "RESTORE" => Op::Restore,
            "ERASE" => Op::Erase,
            _ => return None,
        })
    }
}

/// A point in time with microsecond precision (what every backend can store exactly).
///
/// ```
/// use chronos_db::Timestamp;
/// let t = Timestamp::parse("2024-01-01T00:00:00.000001Z").unwrap();
/// assert_eq!(t.to_string(), "2024-01-01T00:00:00.000001Z");
/// assert!(Timestamp::parse("yesterday").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// Microseconds since the Unix epoch (UTC).
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (any sub-second precision; finer than microseconds is truncated).
    pub fn parse(s: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| Timestamp(d.with_timezone(&Utc).timestamp_micros()))
            .map_err(|e| {
                format!(
                    "'{}' is not an RFC 3339 time ({e})",
                    crate::names::printable(s)
                )
            })
    }

    /// As a `chrono` UTC date-time (the epoch when out of `chrono`'s range).
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0).single().unwrap_or_default()
    }
}

impl Timestamp {
    /// The RFC 3339 text of a time in the years 0 to 9999 (`None` outside them), computed
    /// from the microsecond count with integer arithmetic only: every item a read returns
    /// carries two or three of these (a list page a hundred or more), and going through
    /// `chrono`'s calendar types was a visible part of a page's time.
    fn rfc3339_text(self) -> Option<[u8; 27]> {
        const MICROS_PER_DAY: i64 = 86_400_000_000;
        let days = self.0.div_euclid(MICROS_PER_DAY);
        let of_day = self.0.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let secs = of_day / 1_000_000;
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |end: usize, width: usize, mut n: i64| {
            for slot in text[end - width..end].iter_mut().rev() {
                *slot = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(4, 4, year);
        put(7, 2, month);
        put(10, 2, day);
        put(13, 2, secs / 3600);
        put(16, 2, secs / 60 % 60);
        put(19, 2, secs % 60);
        put(26, 6, of_day % 1_000_000);
        Some(text)
    }
}

/// Appends `s` as a JSON string literal: the bytes `serde_json::to_writer` writes for it.
/// Text without a quote, a backslash or a control character is written as it is (serde_json
/// escapes nothing else); other text goes through serde_json.
pub(crate) fn push_json_string(out: &mut String, s: &str) -> Result<(), serde_json::Error> {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(&serde_json::to_string(s)?);
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
    Ok(())
}

/// The proleptic Gregorian (year, month, day) of the day `days` after 1970-01-01: the
/// well-known era-based conversion (400-year eras of 146,097 days, years counted from March
/// so that the leap day ends the year). Exact for every `i64` day count in
/// [`Timestamp`]'s range.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl std::fmt::Display for Timestamp {
    /// RFC 3339 in UTC with microseconds (`2024-01-01T00:00:00.000001Z`); years outside 0 to
    /// 9999 as `chrono` writes them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rfc3339_text() {
            // Only ASCII digits and separators were written.
            Some(text) => f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?),
            None => f.write_str(
                &self
                    .to_datetime()
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// In OpenAPI documents a timestamp is an RFC 3339 `date-time` string.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 time in UTC, microsecond precision"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Timestamp {}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsed from the borrowed text when the format lends it (every stored lineage
        // carries one): no `String` per timestamp.
        struct Rfc3339;
        impl serde::de::Visitor<'_> for Rfc3339 {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 time")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Timestamp, E> {
                Timestamp::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(Rfc3339)
    }
}

/// The `_system` fields that are carried from version to version (stored with each version).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    /// When the item was created; `None` on its first version (whose `at` is that time).
    pub inserted_at: Option<Timestamp>,
    /// The functions that enriched the item (`EnrichOptions::function_id`), each once, first use
    /// first.
    #[serde(default)]
    pub function_ids: Vec<String>,
    /// The parent record's id, from `CreateOptions::parent`.
    pub parent_id: Option<String>,
    /// The parent record's collection.
    pub parent_collection: Option<String>,
    /// The origin record's id: from `CreateOptions::origin`, else the parent's.
    pub origin_id: Option<String>,
    /// The origin record's collection, `<system>:<collection>` when the origin names a system.
    pub origin_collection: Option<String>,
}

impl Lineage {
    /// The stored text of [`Lineage::default`] (an item's first version without parent or
    /// origin: most rows), which a reader can recognise without parsing it.
    pub(crate) const DEFAULT_JSON: &'static str = r#"{"insertedAt":null,"functionIds":[],"parentId":null,"parentCollection":null,"originId":null,"originCollection":null}"#;

    /// Decodes stored lineage text.
    pub(crate) fn from_json(text: &str) -> serde_json::Result<Lineage> {
        if text == Self::DEFAULT_JSON {
            return Ok(Lineage::default());
        }
        serde_json::from_str(text)
    }
}

/// One committed write of one item, as the metadata store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    /// The item's id.
    pub id: String,
    /// Object version: 0 for the item's first version, one more for each later write.
    pub ov: u64,
    /// Collection version, allocated by the commit: greater than every earlier one of the
    /// collection (gaps allowed).
    pub cv: u64,
    /// The operation that wrote the version.
    pub op: Op,
    /// Commit time, never earlier than the previous version's.
    pub at: Timestamp,
    /// Who wrote the version, as passed to the operation (`None` when empty).
    pub actor: Option<String>,
    /// Why, as passed to the operation (`None` when empty).
    pub reason: Option<String>,
    /// The enrichment function an `ENRICH` version names, if any.
    pub function_id: Option<String>,
    /// The key of this version's `item.json`; every object of the version lives under the
    /// same per-attempt prefix, which this version alone owns.
    pub payload_key: String,
    /// Size of the version's document (`item.json` as written, before any compression or
    /// encryption), in bytes.
    pub size: u64,
    /// SHA-256 of `item.json`, in lower-case hex.
    pub sha256: String,
    /// The indexed properties of this version's content.
    pub indexed: Document,
    /// The `_system` fields carried from version to version.
    pub lineage: Lineage,
    /// True for a DELETE version (and a RESTORE to a deleted state).
    pub deleted: bool,
    /// The ov whose content this version reproduces (its own ov for CREATE/UPDATE/ENRICH).
    pub content_of: u64,
    /// The request that committed this version: the caller's idempotency key, or the id a
    /// write got for the fallback queue. A replay or a repeated request finds its version by
    /// it instead of writing a second one.
    pub request_id: Option<String>,
}

impl VersionRecord {
    /// The per-attempt prefix every object of this version lives under.
    pub fn object_prefix(&self) -> &str {
        self.payload_key
            .strip_suffix("item.json")
            .unwrap_or(&self.payload_key)
    }
}

/// A committed version as the metadata store returns it, with the optional inline copy of
/// its content: an item's head (its latest version) as well as any earlier version.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion {
    /// The committed version.
    pub version: VersionRecord,
    /// The version's content as JSON text, when small enough to be kept inline.
    pub shadow: Option<String>,
    /// For an item's head, how the backend recognises that exact head (see [`HeadMark`]).
    pub mark: Option<HeadMark>,
}

/// How a metadata backend recognises one state of an item's head, returned with the head by
/// [`crate::meta::MetadataStore::get_head`] and handed back with a commit against it
/// ([`crate::meta::VersionWrite::seen`]) so that the commit need not read the head again.
/// Opaque outside its backend. A stale or foreign mark can never make a commit land on a
/// head it was not written against: the backend's compare-and-set still decides, the mark
/// only saves the read before it (MongoDB: the head's fence and the `_id` of its row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadMark(pub(crate) String);

/// `_system`, as returned with every read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SystemFields {
    /// The version's object version.
    pub ov: u64,
    /// The version's collection version.
    pub cv: u64,
    /// `insertedAt`: when the item was created.
    pub inserted_at: Timestamp,
    /// `updatedAt`: when this version was committed.
    pub updated_at: Timestamp,
    /// `deletedAt`: this version's time when it is a deletion, else `None`.
    pub deleted_at: Option<Timestamp>,
    /// Whether this version is a deletion.
    pub deleted: bool,
    /// `functionIds`: the functions that enriched the item, each once, first use first.
    pub function_ids: Vec<String>,
    /// `parentId`: the parent record's id, if the item was created with one.
    pub parent_id: Option<String>,
    /// `parentCollection`: the parent record's collection.
    pub parent_collection: Option<String>,
    /// `originId`: the origin record's id (the explicit origin, else the parent).
    pub origin_id: Option<String>,
    /// `originCollection`: the origin's collection, `<system>:<collection>` for an external system.
    pub origin_collection: Option<String>,
}

impl SystemFields {
    pub(crate) fn of(v: &VersionRecord) -> Self {
        Self::from_lineage(v.ov, v.cv, v.at, v.deleted, v.lineage.clone())
    }

    /// The fields of the version `ov` / `cv` committed at `at`, taking its lineage (what a
    /// reader that has only the row's columns, and no [`VersionRecord`], can build).
    pub(crate) fn from_lineage(
        ov: u64,
        cv: u64,
        at: Timestamp,
        deleted: bool,
        lineage: Lineage,
    ) -> Self {
        SystemFields {
            ov,
            cv,
            inserted_at: lineage.inserted_at.unwrap_or(at),
            updated_at: at,
            deleted_at: deleted.then_some(at),
            deleted,
            function_ids: lineage.function_ids,
            parent_id: lineage.parent_id,
            parent_collection: lineage.parent_collection,
            origin_id: lineage.origin_id,
            origin_collection: lineage.origin_collection,
        }
    }

    /// Appends the fields as JSON text to `out`: the bytes `serde_json::to_writer` writes
    /// for them (a test holds the two equal), without going through `serde`. The flat form
    /// of every listed item carries one of these, and the generic path (each key escaped,
    /// each time formatted through `collect_str`) was a tenth of a list page's time.
    pub(crate) fn write_json(&self, out: &mut String) -> Result<(), serde_json::Error> {
        /// `t` as a JSON string, from its `rfc3339_text` when it has one (`chrono`'s text
        /// beyond the years 0-9999).
        fn time(out: &mut String, t: Timestamp, text: Option<[u8; 27]>) {
            out.push('"');
            match text.as_ref().and_then(|b| std::str::from_utf8(b).ok()) {
                Some(s) => out.push_str(s),
                None => out.push_str(&t.to_string()),
            }
            out.push('"');
        }
        fn text(out: &mut String, s: Option<&str>) -> Result<(), serde_json::Error> {
            match s {
                Some(s) => push_json_string(out, s),
                None => {
                    out.push_str("null");
                    Ok(())
                }
            }
        }
        let mut n = itoa::Buffer::new();
        out.push_str("{\"ov\":");
        out.push_str(n.format(self.ov));
        out.push_str(",\"cv\":");
        out.push_str(n.format(self.cv));
        // A first version's two times are one: formatted once.
        let updated = self.updated_at.rfc3339_text();
        let inserted = if self.inserted_at == self.updated_at {
            updated
        } else {
            self.inserted_at.rfc3339_text()
        };
        out.push_str(",\"insertedAt\":");
        time(out, self.inserted_at, inserted);
        out.push_str(",\"updatedAt\":");
        time(out, self.updated_at, updated);
        out.push_str(",\"deletedAt\":");
        match self.deleted_at {
            Some(t) => time(out, t, t.rfc3339_text()),
            None => out.push_str("null"),
        }
        out.push_str(if self.deleted {
            ",\"deleted\":true"
        } else {
            ",\"deleted\":false"
        });
        out.push_str(",\"functionIds\":[");
        for (i, f) in self.function_ids.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            text(out, Some(f))?;
        }
        out.push_str("],\"parentId\":");
        text(out, self.parent_id.as_deref())?;
        out.push_str(",\"parentCollection\":");
        text(out, self.parent_collection.as_deref())?;
        out.push_str(",\"originId\":");
        text(out, self.origin_id.as_deref())?;
        out.push_str(",\"originCollection\":");
        text(out, self.origin_collection.as_deref())?;
        out.push('}');
        Ok(())
    }
}

/// An item as read: its id, its content and `_system`.
///
/// [`Item::to_document`] gives the flat shape clients of chronos-db v2.2 (TypeScript) read: `{"_id": ..., ...data, "_system": {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item's id (`_id` in the flat form).
    pub id: String,
    /// The version's content, without `_id` and `_system`.
    pub data: Document,
    /// `_system`: versions, times, deletion and lineage.
    pub system: SystemFields,
    /// Which operation wrote this version, and who and why.
    pub op: Op,
    /// Who wrote this version, as passed to the write (`None` when empty).
    pub actor: Option<String>,
    /// Why, as passed to the write (`None` when empty).
    pub reason: Option<String>,
    /// Signed URLs, when the read asked for them.
    pub presigned: Option<Presigned>,
}

/// URLs that let a client fetch a version's objects directly from object storage, pinned to
/// that exact version (each version owns its objects, so the URLs never show later content).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Presigned {
    /// The version's `item.json`.
    pub item_url: String,
    /// Per base64 property (dot path): its blob, and its text rendition if any.
    pub blobs: std::collections::BTreeMap<String, BlobUrls>,
    /// `expiresIn`: how long the URLs stay valid, in seconds.
    pub expires_in: u64,
}

/// The URLs of one externalized property.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobUrls {
    /// `blobUrl`: the blob's bytes.
    pub blob_url: String,
    /// `textUrl`: the blob's UTF-8 text rendition, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_url: Option<String>,
}

impl Item {
    /// The flat JSON form: `_id`, the content's properties, then `_system`.
    pub fn to_document(&self) -> Document {
        let mut doc = Document::new();
        doc.insert("_id".into(), Value::String(self.id.clone()));
        for (k, v) in &self.data {
            doc.insert(k.clone(), v.clone());
        }
        if let Some(p) = &self.presigned {
            doc.insert(
                "_presigned".into(),
                serde_json::to_value(p).unwrap_or(Value::Null),
            );
        }
        doc.insert(
            "_system".into(),
            serde_json::to_value(&self.system).unwrap_or(Value::Null),
        );
        doc
    }
}

/// A version as listed by `history`: the record without its content.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The item's id.
    pub id: String,
    /// Object version: 0 for the item's first version, one more for each later write.
    pub ov: u64,
    /// Collection version of the commit.
    pub cv: u64,
    /// The operation that wrote the version.
    pub op: Op,
    /// Commit time.
    pub at: Timestamp,
    /// Who wrote the version, as passed to the operation (`None` when empty).
    pub actor: Option<String>,
    /// Why, as passed to the operation (`None` when empty).
    pub reason: Option<String>,
    /// `functionId`: the enrichment function an `ENRICH` version names, if any.
    pub function_id: Option<String>,
    /// Whether this version is a deletion.
    pub deleted: bool,
    /// Size of the version's document (`item.json` as written, before any compression or
    /// encryption), in bytes.
    pub size: u64,
    /// SHA-256 of the version's document, in lower-case hex.
    pub sha256: String,
    /// The size of the version's `item.json` as stored (compressed, encrypted), when asked
    /// for (`HistoryOptions::stored_sizes`) and the object exists (erased versions have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_size: Option<u64>,
}

impl From<&VersionRecord> for VersionInfo {
    fn from(v: &VersionRecord) -> Self {
        VersionInfo {
            id: v.id.clone(),
            ov: v.ov,
            cv: v.cv,
            op: v.op,
            at: v.at,
            actor: v.actor.clone(),
            reason: v.reason.clone(),
            function_id: v.function_id.clone(),
            deleted: v.deleted,
            size: v.size,
            sha256: v.sha256.clone(),
            stored_size: None,
        }
    }
}

/// A write the fallback queue took because its backend did not answer
/// ([`crate::Error::Queued`]): journaled durably, replayed until it commits (exactly once)
/// or goes to the dead letters. Reads show the item without it until then.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QueuedWrite {
    /// Always `true`: the write is journaled, not committed.
    pub queued: bool,
    /// The request id the write will commit with (the caller's idempotency key, or one
    /// given to it): send it again to learn the outcome, or find it with `chronos queue list`.
    pub request_id: String,
    /// The item the write is for (a create gets its id when it is queued).
    pub id: String,
    /// `create`, `update`, `delete`, `enrich` or `restore`.
    pub op: String,
}

/// What a write returns once committed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WriteResult {
    /// The item's id (generated, or the one chosen at create).
    pub id: String,
    /// The object version written (0 for a create).
    pub ov: u64,
    /// The collection version of the commit.
    pub cv: u64,
    /// Commit time of the version.
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_chrono_rfc3339_micros() {
        let samples = [
            0,
            1,
            -1,
            999_999,
            1_704_067_200_000_001,
            -62_135_596_800_000_000, // 0001-01-01
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
            253_402_300_800_000_000, // year 10000: chrono's own form
            i64::MAX,
            i64::MIN,
            -62_167_219_200_000_000, // 0000-01-01, the first four-digit year
        ];
        // And 20,000 spread over years 0000 to 9999 (a fixed linear congruential walk).
        let (low, span) = (-62_167_219_200_000_000_i64, 315_569_519_999_999_999_u64);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let walk = (0..20_000).map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            low + ((x >> 1) % span) as i64
        });
        for micros in samples.into_iter().chain(walk) {
            let t = Timestamp(micros);
            let chrono_text = t.to_datetime().to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(t.to_string(), chrono_text, "{micros}");
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{chrono_text}\"")
            );
        }
    }

    #[test]
    fn the_default_lineage_text_is_what_serde_writes() {
        let text = serde_json::to_string(&Lineage::default()).unwrap();
        assert_eq!(text, Lineage::DEFAULT_JSON);
        assert_eq!(Lineage::from_json(&text).unwrap(), Lineage::default());
        let parented = r#"{"insertedAt":null,"functionIds":[],"parentId":"p","parentCollection":null,"originId":null,"originCollection":null}"#;
        assert_eq!(
            Lineage::from_json(parented).unwrap().parent_id.as_deref(),
            Some("p")
        );
        assert!(Lineage::from_json("{").is_err());
    }

    /// String literals are written as serde_json writes them, on its fast path (nothing to
    /// escape) and off it.
    #[test]
    fn json_strings_are_the_bytes_serde_writes() {
        for s in [
            "",
            "plain",
            "é ü 中 🎉",
            "a/b",
            "del\u{7f}",
            "quote\"",
            "back\\slash",
            "nl\n",
            "\u{1}\u{1f}",
            "tab\t and \u{8}",
        ] {
            let mut out = String::from("x");
            push_json_string(&mut out, s).unwrap();
            assert_eq!(
                out,
                format!("x{}", serde_json::to_string(s).unwrap()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn system_fields_write_the_bytes_serde_writes() {
        let plain = SystemFields::from_lineage(
            0,
            1,
            Timestamp(1_704_067_200_000_001),
            false,
            Lineage::default(),
        );
        let full = SystemFields::from_lineage(
            u64::MAX,
            42,
            Timestamp(-1),
            true,
            Lineage {
                inserted_at: Some(Timestamp(i64::MAX)),
                function_ids: vec!["f@1".into(), "quote\"\\ \u{1}é".into()],
                parent_id: Some("p\n1".into()),
                parent_collection: Some("parents".into()),
                origin_id: Some("o".into()),
                origin_collection: Some("sys:orders".into()),
            },
        );
        let one_function = SystemFields {
            function_ids: vec!["only".into()],
            ..plain.clone()
        };
        for system in [plain, full, one_function] {
            let mut out = String::new();
            system.write_json(&mut out).unwrap();
            assert_eq!(out, serde_json::to_string(&system).unwrap());
        }
    }

    #[test]
    fn timestamps_read_back_from_json_text_and_values() {
        let t = Timestamp(1_704_067_200_000_001);
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&text).unwrap(), t);
        let value = serde_json::to_value(t).unwrap();
        assert_eq!(serde_json::from_value::<Timestamp>(value).unwrap(), t);
        let err = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(err.to_string().contains("not an RFC 3339 time"), "{err}");
        assert!(serde_json::from_str::<Timestamp>("12").is_err());
    }
}
