//! Conversions between stored documents and the model: JSON and BSON with escaped keys,
//! version rows, heads.

use super::*;

pub(super) fn clamp(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

pub(super) fn now_micros() -> i64 {
    Timestamp::now().micros()
}

/// A random fence value, new for every version row (its head carries it once it commits).
pub(super) fn new_fence() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(super) fn get_int(d: &Document, key: &str) -> Option<i64> {
    match d.get(key)? {
        Bson::Int64(x) => Some(*x),
        Bson::Int32(x) => Some(i64::from(*x)),
        Bson::Double(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
        _ => None,
    }
}

pub(super) fn get_opt_str(d: &Document, key: &str) -> Result<Option<String>, ()> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        _ => Err(()),
    }
}

/// The ov of a head document.
pub(super) fn head_ov(head: Option<&Document>) -> Option<i64> {
    head.and_then(|h| get_int(h, "ov"))
}

pub(super) fn is_stale(row: &Document) -> bool {
    written_longer_ago(row, STALE_MICROS)
}

/// Whether the row was written more than `micros` ago (by its writer's clock).
pub(super) fn written_longer_ago(row: &Document, micros: i64) -> bool {
    let written = get_int(row, "written")
        .or_else(|| get_int(row, "at"))
        .unwrap_or(i64::MAX);
    now_micros().saturating_sub(written) > micros
}

pub(super) fn is_claim(row: &Document) -> bool {
    matches!(row.get("purge"), Some(Bson::Boolean(true)))
}

pub(super) fn fence_of(head: &Document) -> Bson {
    head.get("fence").cloned().unwrap_or(Bson::Null)
}

pub(super) fn to_u64(n: Option<i64>) -> Option<u64> {
    n.map(|n| n.max(0) as u64)
}

/// Does an object key need escaping? MongoDB/FerretDB reject `$`-prefixed keys, `.` and NUL;
/// keys that already start with the escape prefix are escaped too, so decoding is exact.
pub(super) fn needs_escape(k: &str) -> bool {
    k.starts_with('$') || k.contains('.') || k.contains('\0') || k.starts_with(KEY_ESCAPE)
}

/// `_%` + the key with `%`, `.`, `$` and NUL percent-encoded. No filterable property name can
/// start with `_%` (declared paths are `[A-Za-z0-9_-]`, automatic ones never start with `_`),
/// so escaped keys never shadow a queryable one.
pub(super) fn escape_key(k: &str) -> String {
    if !needs_escape(k) {
        return k.to_string();
    }
    let mut out = String::from(KEY_ESCAPE);
    for ch in k.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '$' => out.push_str("%24"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn unescape_key(k: &str) -> String {
    let Some(rest) = k.strip_prefix(KEY_ESCAPE) else {
        return k.to_string();
    };
    let mut parts = rest.split('%');
    let mut out = parts.next().unwrap_or_default().to_string();
    for p in parts {
        match (p.get(..2), p.get(2..)) {
            (Some(code), Some(tail)) => {
                match code {
                    "25" => out.push('%'),
                    "2E" => out.push('.'),
                    "24" => out.push('$'),
                    "00" => out.push('\0'),
                    other => {
                        out.push('%');
                        out.push_str(other);
                    }
                }
                out.push_str(tail);
            }
            _ => {
                out.push('%');
                out.push_str(p);
            }
        }
    }
    out
}

/// JSON → BSON: integers become Int64, other numbers Double (so both round-trip; integers
/// above i64::MAX become Double), object keys are escaped where needed.
pub(super) fn json_to_bson(v: &Value) -> Bson {
    match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Bson::Int64(i),
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(a) => Bson::Array(a.iter().map(json_to_bson).collect()),
        Value::Object(m) => Bson::Document(json_object_to_doc(m)),
    }
}

pub(super) fn json_object_to_doc(m: &serde_json::Map<String, Value>) -> Document {
    m.iter()
        .map(|(k, v)| (escape_key(k), json_to_bson(v)))
        .collect()
}

/// BSON → JSON (relaxed extended JSON for the leaves), unescaping object keys.
pub(super) fn bson_to_json(b: Bson) -> Value {
    match b {
        Bson::Document(d) => Value::Object(
            d.into_iter()
                .map(|(k, v)| (unescape_key(&k), bson_to_json(v)))
                .collect(),
        ),
        Bson::Array(a) => Value::Array(a.into_iter().map(bson_to_json).collect()),
        other => other.into_relaxed_extjson(),
    }
}

/// The fields a version row and a head have in common.
pub(super) fn version_fields(
    v: &VersionRecord,
    cv: i64,
    shadow: Option<&str>,
) -> Result<Document, MetaError> {
    let lineage = bson::to_bson(&v.lineage)
        .map_err(|e| MetaError::Invalid(format!("cannot encode the lineage: {e}")))?;
    Ok(doc! {
        "ov": clamp(v.ov),
        "cv": cv,
        "op": v.op.as_str(),
        "at": v.at.micros(),
        "actor": v.actor.clone(),
        "reason": v.reason.clone(),
        "function_id": v.function_id.clone(),
        "payload_key": v.payload_key.clone(),
        "size": clamp(v.size),
        "sha256": v.sha256.clone(),
        "meta": json_object_to_doc(&v.indexed),
        "lineage": lineage,
        "deleted": v.deleted,
        "content_of": clamp(v.content_of),
        "shadow": shadow.map(str::to_string),
        "rid": v.request_id.clone(),
    })
}

/// Decodes a version row (`id_key` = "id") or a head (`id_key` = "_id").
pub(super) fn decode_version(d: &Document, id_key: &str) -> Result<VersionRecord, MetaError> {
    let id = d
        .get_str(id_key)
        .map_err(|_| corrupt("a metadata document has no string id"))?
        .to_string();
    let ov = get_int(d, "ov").unwrap_or(-1);
    let bad = |what: &str| MetaError::Corrupt(format!("version {ov} of '{id}': bad {what}"));
    let int = |k: &str| -> Result<u64, MetaError> {
        get_int(d, k)
            .filter(|n| *n >= 0)
            .map(|n| n as u64)
            .ok_or_else(|| bad(k))
    };
    let meta = match d.get("meta") {
        Some(Bson::Document(m)) => match bson_to_json(Bson::Document(m.clone())) {
            Value::Object(o) => o,
            _ => return Err(bad("meta")),
        },
        None | Some(Bson::Null) => Default::default(),
        _ => return Err(bad("meta")),
    };
    let lineage = match d.get("lineage") {
        Some(l @ Bson::Document(_)) => {
            bson::from_bson::<Lineage>(l.clone()).map_err(|_| bad("lineage"))?
        }
        None | Some(Bson::Null) => Lineage::default(),
        _ => return Err(bad("lineage")),
    };
    Ok(VersionRecord {
        ov: int("ov")?,
        cv: int("cv")?,
        op: d
            .get_str("op")
            .ok()
            .and_then(Op::parse)
            .ok_or_else(|| bad("op"))?,
        at: Timestamp(get_int(d, "at").ok_or_else(|| bad("at"))?),
        actor: get_opt_str(d, "actor").map_err(|_| bad("actor"))?,
        reason: get_opt_str(d, "reason").map_err(|_| bad("reason"))?,
        function_id: get_opt_str(d, "function_id").map_err(|_| bad("function_id"))?,
        payload_key: d
            .get_str("payload_key")
            .map_err(|_| bad("payload_key"))?
            .to_string(),
        size: int("size")?,
        sha256: d.get_str("sha256").map_err(|_| bad("sha256"))?.to_string(),
        indexed: meta,
        lineage,
        deleted: d.get_bool("deleted").map_err(|_| bad("deleted"))?,
        content_of: int("content_of")?,
        request_id: get_opt_str(d, "rid").map_err(|_| bad("rid"))?,
        id,
    })
}

pub(super) fn decode_head(d: &Document, id_key: &str) -> Result<StoredVersion, MetaError> {
    let version = decode_version(d, id_key)?;
    let shadow = get_opt_str(d, "shadow").map_err(|_| {
        MetaError::Corrupt(format!(
            "version {} of '{}': bad shadow",
            version.ov, version.id
        ))
    })?;
    // Heads carry their fence and the `_id` of their row; version rows carry a fence but
    // never `row`, so they have no mark.
    let mark = match (d.get("fence"), d.get("row")) {
        (Some(Bson::String(fence)), Some(Bson::ObjectId(row))) => {
            Some(HeadMark(format!("{fence}/{}", row.to_hex())))
        }
        _ => None,
    };
    Ok(StoredVersion {
        version,
        shadow,
        mark,
    })
}

/// The head state and row `_id` a [`HeadMark`] of this store stands for, if it is one.
pub(super) fn unmark(mark: &HeadMark, ov: i64) -> Option<(HeadState, Bson)> {
    let (fence, row) = mark.0.split_once('/')?;
    let row = ObjectId::parse_str(row).ok()?;
    Some((
        HeadState::At(ov, Bson::String(fence.to_string())),
        Bson::ObjectId(row),
    ))
}

pub(super) async fn collect(cursor: mongodb::Cursor<Document>) -> Result<Vec<Document>, MetaError> {
    cursor.try_collect().await.map_err(map_err)
}
