//! `list_by_meta` queries: the filter language (a MongoDB-style subset), sort keys and the
//! opaque keyset cursor, parsed and validated once here and then compiled by each metadata
//! backend. Unknown operators and non-indexed fields are errors, never an empty result.

mod eval;

pub use eval::SystemValues;

use crate::model::Timestamp;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest page a query may ask for.
pub const MAX_LIMIT: usize = 1000;
/// Page size when none is given.
pub const DEFAULT_LIMIT: usize = 50;

/// Which document properties may be filtered and sorted on, for one collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexSpec {
    /// Declared `indexedProps`; empty = every top-level property except `excluded`.
    pub paths: Vec<IndexedPath>,
    /// Top-level properties never indexed (externalized blobs).
    pub excluded: Vec<String>,
}

/// One declared indexed property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexedPath {
    /// Dot-separated segments.
    pub segments: Vec<String>,
    /// Declared with a trailing `[]`: the value is an array whose elements are matched.
    pub array: bool,
}

impl IndexedPath {
    /// Reads a declared path: dot-separated segments, with a trailing `[]` for an array (not
    /// validated).
    pub fn parse(spec: &str) -> Self {
        let (body, array) = match spec.strip_suffix("[]") {
            Some(b) => (b, true),
            None => (spec, false),
        };
        IndexedPath {
            segments: body.split('.').map(str::to_string).collect(),
            array,
        }
    }

    /// The path as written, without the `[]` marker: `a.b.c`.
    pub fn dotted(&self) -> String {
        self.segments.join(".")
    }
}

impl IndexSpec {
    /// Whether filters and sorts may name this property (a declared indexed property, or any
    /// top-level property when none is declared).
    ///
    /// ```
    /// use chronos_db::query::{IndexSpec, IndexedPath};
    /// let spec = IndexSpec { paths: vec![IndexedPath::parse("email")], excluded: vec![] };
    /// assert!(spec.is_indexed("email") && !spec.is_indexed("name"));
    /// ```
    pub fn is_indexed(&self, name: &str) -> bool {
        self.field(name).is_ok()
    }

    /// Finds the indexed property a filter or sort names.
    fn field(&self, name: &str) -> Result<Field, String> {
        match name {
            "_id" => return Ok(Field::Id),
            "_system.ov" => return Ok(Field::Ov),
            "_system.cv" => return Ok(Field::Cv),
            "_system.updatedAt" => return Ok(Field::UpdatedAt),
            _ => {}
        }
        let bare = name.strip_suffix("[]").unwrap_or(name);
        if self.paths.is_empty() {
            // Field names reach the metadata backends' query text (JSON paths, document
            // paths): only plain names of [A-Za-z0-9_-] are accepted, as for declared paths.
            let top_level = !bare.contains('.')
                && !bare.starts_with('_')
                && crate::names::check_prop_path(bare).is_ok();
            if top_level && !self.excluded.iter().any(|e| e == bare) {
                return Ok(Field::Meta(IndexedPath {
                    segments: vec![bare.to_string()],
                    array: false,
                }));
            }
        } else if let Some(p) = self.paths.iter().find(|p| p.dotted() == bare) {
            return Ok(Field::Meta(p.clone()));
        }
        Err(format!(
            "'{}' is not an indexed property of this collection (filter and sort only on indexedProps, _id, _system.ov, _system.cv, _system.updatedAt)",
            crate::names::printable(name)
        ))
    }
}

/// A field a filter or sort refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// `_id`: the item id (string values).
    Id,
    /// `_system.ov` (integer values).
    Ov,
    /// `_system.cv` (integer values).
    Cv,
    /// `_system.updatedAt` (RFC 3339 strings, compared as microseconds).
    UpdatedAt,
    /// An indexed property of the content.
    Meta(IndexedPath),
}

/// A scalar filter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum Scalar {
    /// `null`.
    #[serde(rename = "n")]
    Null,
    /// `true` or `false`.
    #[serde(rename = "b")]
    Bool(bool),
    /// A number that is a 64-bit integer (also `_system.updatedAt`, in microseconds).
    #[serde(rename = "i")]
    Int(i64),
    /// Any other number, as the nearest 64-bit float.
    #[serde(rename = "f")]
    Float(f64),
    /// A string.
    #[serde(rename = "s")]
    Str(String),
}

impl Scalar {
    fn from_json(v: &Value, field: &Field) -> Result<Scalar, String> {
        let s = match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Scalar::Str(s.clone()),
            Value::Array(_) | Value::Object(_) => {
                return Err(
                    "filter values must be scalars (string, number, boolean or null)".into(),
                )
            }
        };
        // System fields have a fixed type; reject a mismatched value instead of matching nothing.
        match (field, &s) {
            (Field::Id, Scalar::Str(_))
            | (Field::Ov | Field::Cv, Scalar::Int(_))
            | (Field::Meta(_), _) => Ok(s),
            (Field::UpdatedAt, Scalar::Str(t)) => Ok(Scalar::Int(Timestamp::parse(t)?.micros())),
            (Field::Id, _) => Err("_id values must be strings".into()),
            (Field::Ov | Field::Cv, _) => {
                Err("_system.ov and _system.cv values must be integers".into())
            }
            (Field::UpdatedAt, _) => {
                Err("_system.updatedAt values must be RFC 3339 strings".into())
            }
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `$eq`, or a bare value: equal.
    Eq,
    /// `$ne`: not equal.
    Ne,
    /// `$gt`: greater than.
    Gt,
    /// `$gte`: greater than or equal.
    Gte,
    /// `$lt`: less than.
    Lt,
    /// `$lte`: less than or equal.
    Lte,
}

/// A validated filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Matches everything.
    All,
    /// Every filter matches (`$and`, or several conditions in one object).
    And(Vec<Filter>),
    /// At least one filter matches (`$or`).
    Or(Vec<Filter>),
    /// The filter does not match (`$not`; `$nin` is a negated `In`).
    Not(Box<Filter>),
    /// A field compared with a value (`$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, or a bare value).
    Cmp {
        /// The field compared.
        field: Field,
        /// The comparison.
        op: CmpOp,
        /// The value compared with.
        value: Scalar,
    },
    /// `$in`: the field equals one of the values.
    In {
        /// The field tested.
        field: Field,
        /// The accepted values (at most 256).
        values: Vec<Scalar>,
    },
    /// `$exists`: whether the field is present.
    Exists {
        /// The field tested.
        field: Field,
        /// `true`: the field must be present; `false`: it must be absent.
        exists: bool,
    },
    /// `$regex`: the field is a string that matches the pattern.
    Regex {
        /// The field matched.
        field: Field,
        /// The regular expression (Rust `regex` syntax), with the `$options` flags prepended as
        /// `(?flags)`.
        pattern: String,
    },
}

const MAX_DEPTH: usize = 16;
const MAX_NODES: usize = 256;

impl Filter {
    /// Parses a MongoDB-style filter object.
    ///
    /// ```
    /// use chronos_db::query::{Filter, IndexSpec, IndexedPath};
    /// let spec = IndexSpec { paths: vec![IndexedPath::parse("status"), IndexedPath::parse("age")], excluded: vec![] };
    /// let f = Filter::parse(&serde_json::json!({"status": "active", "age": {"$gte": 18}}), &spec).unwrap();
    /// assert!(matches!(f, Filter::And(ref v) if v.len() == 2));
    /// assert!(Filter::parse(&serde_json::json!({"age": {"$near": 1}}), &spec).is_err());
    /// assert!(Filter::parse(&serde_json::json!({"email": "x"}), &spec).is_err());
    /// ```
    pub fn parse(v: &Value, spec: &IndexSpec) -> Result<Filter, String> {
        let mut nodes = 0;
        parse_doc(v, spec, 0, &mut nodes)
    }
}

fn parse_doc(
    v: &Value,
    spec: &IndexSpec,
    depth: usize,
    nodes: &mut usize,
) -> Result<Filter, String> {
    if depth > MAX_DEPTH {
        return Err(format!("filter is nested deeper than {MAX_DEPTH} levels"));
    }
    let Value::Object(map) = v else {
        return Err("a filter must be a JSON object".into());
    };
    let mut parts = Vec::new();
    for (key, val) in map {
        *nodes += 1;
        if *nodes > MAX_NODES {
            return Err(format!("filter has more than {MAX_NODES} conditions"));
        }
        match key.as_str() {
            "$and" | "$or" => {
                let Value::Array(items) = val else {
                    return Err(format!("{key} takes an array of filters"));
                };
                if items.is_empty() {
                    return Err(format!("{key} needs at least one filter"));
                }
                let subs = items
                    .iter()
                    .map(|i| parse_doc(i, spec, depth + 1, nodes))
                    .collect::<Result<Vec<_>, _>>()?;
                parts.push(if key == "$and" {
                    Filter::And(subs)
                } else {
                    Filter::Or(subs)
                });
            }
            k if k.starts_with('$') => {
                return Err(format!(
                    "unknown top-level operator '{}' (use $and, $or, or $not inside a field)",
                    crate::names::printable(k)
                ))
            }
            name => {
                let field = spec.field(name)?;
                parts.push(parse_field(field, val, depth + 1)?);
            }
        }
    }
    Ok(match parts.len() {
        0 => Filter::All,
        1 => parts.pop().unwrap_or(Filter::All),
        _ => Filter::And(parts),
    })
}

fn parse_field(field: Field, v: &Value, depth: usize) -> Result<Filter, String> {
    if depth > MAX_DEPTH {
        return Err(format!("filter is nested deeper than {MAX_DEPTH} levels"));
    }
    let ops = match v {
        Value::Object(m) if m.keys().next().is_some_and(|k| k.starts_with('$')) => m,
        Value::Object(_) | Value::Array(_) => {
            return Err("filter values must be scalars or an object of $-operators".into())
        }
        scalar => {
            return Ok(Filter::Cmp {
                field: field.clone(),
                op: CmpOp::Eq,
                value: Scalar::from_json(scalar, &field)?,
            })
        }
    };
    let regex_options = ops.get("$options");
    let mut parts = Vec::new();
    for (op, arg) in ops {
        let cmp = |op| -> Result<Filter, String> {
            Ok(Filter::Cmp {
                field: field.clone(),
                op,
                value: Scalar::from_json(arg, &field)?,
            })
        };
        parts.push(match op.as_str() {
            "$eq" => cmp(CmpOp::Eq)?,
            "$ne" => cmp(CmpOp::Ne)?,
            "$gt" => cmp(CmpOp::Gt)?,
            "$gte" => cmp(CmpOp::Gte)?,
            "$lt" => cmp(CmpOp::Lt)?,
            "$lte" => cmp(CmpOp::Lte)?,
            "$in" | "$nin" => {
                let Value::Array(items) = arg else {
                    return Err(format!("{op} takes an array"));
                };
                if items.len() > MAX_NODES {
                    return Err(format!("{op} takes at most {MAX_NODES} values"));
                }
                let values = items.iter().map(|i| Scalar::from_json(i, &field)).collect::<Result<Vec<_>, _>>()?;
                let f = Filter::In { field: field.clone(), values };
                if op == "$in" { f } else { Filter::Not(Box::new(f)) }
            }
            "$exists" => {
                let Value::Bool(b) = arg else {
                    return Err("$exists takes true or false".into());
                };
                Filter::Exists { field: field.clone(), exists: *b }
            }
            "$regex" => {
                let Value::String(pattern) = arg else {
                    return Err("$regex takes a string".into());
                };
                let flags = match regex_options {
                    None => String::new(),
                    Some(Value::String(o)) if o.chars().all(|c| matches!(c, 'i' | 'm' | 's' | 'x')) => o.clone(),
                    Some(_) => return Err("$options takes a string of the flags i, m, s, x".into()),
                };
                let pattern = if flags.is_empty() { pattern.clone() } else { format!("(?{flags}){pattern}") };
                regex::RegexBuilder::new(&pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("invalid $regex: {e}"))?;
                Filter::Regex { field: field.clone(), pattern }
            }
            "$options" if ops.contains_key("$regex") => continue,
            "$not" => Filter::Not(Box::new(parse_field(field.clone(), arg, depth + 1)?)),
            other => {
                return Err(format!(
                    "unknown operator '{}' (supported: $eq $ne $gt $gte $lt $lte $in $nin $exists $regex $not)",
                    crate::names::printable(other)
                ))
            }
        });
    }
    Ok(if parts.len() == 1 {
        parts.pop().unwrap_or(Filter::All)
    } else {
        Filter::And(parts)
    })
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The field sorted on (not an array property).
    pub field: Field,
    /// `true` for `-1` (largest first), `false` for `1`.
    pub descending: bool,
}

/// Parses `{"field": 1 | -1, ...}` (at most 3 keys; the id is always the final tie-break).
pub fn parse_sort(v: &Value, spec: &IndexSpec) -> Result<Vec<SortKey>, String> {
    let Value::Object(map) = v else {
        return Err("sort must be an object like {\"field\": 1} or {\"field\": -1}".into());
    };
    if map.len() > 3 {
        return Err("sort takes at most 3 keys".into());
    }
    map.iter()
        .map(|(k, dir)| {
            let field = spec.field(k)?;
            if matches!(&field, Field::Meta(p) if p.array) {
                return Err(format!("cannot sort on the array property '{k}'"));
            }
            let descending = match dir.as_i64() {
                Some(1) => false,
                Some(-1) => true,
                _ => return Err(format!("sort direction of '{k}' must be 1 or -1")),
            };
            Ok(SortKey { field, descending })
        })
        .collect()
}

/// A keyset position: the sort values and the id of the last item of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Cursor {
    /// The last item's sort values, one per sort key.
    #[serde(rename = "k")]
    pub values: Vec<Scalar>,
    /// The last item's id (the final tie-break).
    #[serde(rename = "i")]
    pub id: String,
}

// Cursors come back from callers: only the object form `encode` writes is one.
crate::object_only!(Cursor, "a cursor object", serialize);

impl Cursor {
    /// The opaque text form handed to callers, bound to the query it continues: `context`
    /// names that query (route, collection, filter, sort, as-of), and a tag over the context
    /// and the position makes a cursor from any other query (or an edited one) invalid.
    /// The tag is an integrity check, not a secret: a forged cursor could at most start a
    /// page elsewhere in the same collection, which a filter can do too.
    pub fn encode(&self, context: &str) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let tag = cursor_tag(context, &body);
        format!("{body}.{tag}")
    }

    /// Parses a cursor made by [`Cursor::encode`] for the same `context`, checking it fits
    /// the query's sort.
    pub fn decode(text: &str, sort_len: usize, context: &str) -> Result<Cursor, String> {
        let bad = || {
            "invalid cursor: pass back the 'next' value of the previous page of the same query \
             unchanged"
                .to_string()
        };
        let (body, tag) = text.rsplit_once('.').ok_or_else(bad)?;
        if tag != cursor_tag(context, body) {
            return Err(bad());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| bad())?;
        let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if c.values.len() != sort_len {
            return Err(bad());
        }
        Ok(c)
    }
}

/// The first 16 hex digits of SHA-256(context, 0, body).
fn cursor_tag(context: &str, body: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(context.as_bytes());
    h.update([0u8]);
    h.update(body.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// What a query reads: the latest state, or the state as of a time or collection version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The state at this time: each item's latest version committed at or before it.
    Time(Timestamp),
    /// The state at this collection version: each item's latest version with a cv at or below it.
    Cv(u64),
}

/// A validated query, ready for a backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which items match.
    pub filter: Filter,
    /// Sort keys (at most 3); the id always breaks ties last.
    pub sort: Vec<SortKey>,
    /// Page size, 1 to [`MAX_LIMIT`] ([`DEFAULT_LIMIT`] when the caller gives none).
    pub limit: usize,
    /// Continue after this position (the previous page's `next`).
    pub after: Option<Cursor>,
    /// Read the state as of a time or collection version instead of the latest.
    pub as_of: Option<AsOf>,
    /// Also return items whose version read is a deletion.
    pub include_deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> IndexSpec {
        IndexSpec {
            paths: ["status", "age", "addr.city", "tags[]"]
                .iter()
                .map(|p| IndexedPath::parse(p))
                .collect(),
            excluded: vec![],
        }
    }

    #[test]
    fn operators_parse() {
        let f = Filter::parse(
            &json!({"$or": [{"status": {"$in": ["a", "b"]}}, {"age": {"$not": {"$lt": 3}}}],
                    "addr.city": {"$regex": "^par", "$options": "i"}, "tags": {"$exists": true}}),
            &spec(),
        )
        .unwrap();
        let Filter::And(parts) = f else {
            panic!("expected and")
        };
        assert_eq!(parts.len(), 3);
    }

    #[test]
    fn bad_filters_are_errors() {
        for bad in [
            json!({"nope": 1}),
            json!({"status": {"$where": "x"}}),
            json!({"$nor": []}),
            json!({"a\"')=1 OR 1=1 OR json_extract(h.meta,'$.\"a": 1}),
            json!({"it's": 1}),
            json!({"status": {"$in": "a"}}),
            json!({"status": {"$regex": "("}}),
            json!({"status": {"a": 1}}),
            json!({"_system.ov": "x"}),
            json!([1]),
        ] {
            assert!(Filter::parse(&bad, &spec()).is_err(), "{bad}");
        }
    }

    #[test]
    fn sort_and_cursor() {
        let s = parse_sort(&json!({"age": -1}), &spec()).unwrap();
        assert!(s[0].descending);
        assert!(parse_sort(&json!({"age": 2}), &spec()).is_err());
        assert!(parse_sort(&json!({"tags": 1}), &spec()).is_err());
        let c = Cursor {
            values: vec![Scalar::Int(3)],
            id: "x".into(),
        };
        assert_eq!(Cursor::decode(&c.encode("q1"), 1, "q1").unwrap(), c);
        assert!(Cursor::decode(&c.encode("q1"), 0, "q1").is_err());
        assert!(Cursor::decode("!!", 0, "q1").is_err());
        // Bound to its query: another context, or an edited position, is refused.
        assert!(Cursor::decode(&c.encode("q1"), 1, "q2").is_err());
        let forged = Cursor {
            values: c.values.clone(),
            id: "zzz".into(),
        }
        .encode("q1");
        let (body, _) = forged.rsplit_once('.').unwrap();
        let (_, tag) = c
            .encode("q1")
            .rsplit_once('.')
            .map(|(b, t)| (b.to_string(), t.to_string()))
            .unwrap();
        assert!(Cursor::decode(&format!("{body}.{tag}"), 1, "q1").is_err());
    }

    #[test]
    fn auto_index_allows_top_level_only() {
        let auto = IndexSpec {
            paths: vec![],
            excluded: vec!["file".into()],
        };
        assert!(Filter::parse(&json!({"anything": 1}), &auto).is_ok());
        assert!(Filter::parse(&json!({"a.b": 1}), &auto).is_err());
        assert!(Filter::parse(&json!({"file": "x"}), &auto).is_err());
    }
}
