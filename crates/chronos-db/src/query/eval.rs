//! Filters evaluated in memory, on one document, with the semantics the metadata stores give
//! them when they run a query (so a rule that counts writes matches exactly the items a query
//! with the same filter would list):
//!
//! * values of different JSON types never compare (`{"n": {"$gt": 1}}` does not match
//!   `"n": "2"`); numbers compare by value whether integer or not; strings bytewise;
//!   `false < true`;
//! * `null` (with `$eq`, `$gte`, `$lte`, or bare) matches a missing property too;
//! * a property declared as an array (`tags[]`) matches when one of its elements does (a
//!   scalar there counts as a one-element array); `$ne` and `$nin` then mean no element does;
//! * an array or object at a scalar property matches no comparison;
//! * negations (`$not`, `$ne`, `$nin`) match documents without the property;
//! * `$exists: true` is true for a present property, `null` included.
//!
//! `tests/conformance/queries.rs` holds this to the stores' answers on every backend.

use super::{CmpOp, Field, Filter, IndexedPath, Scalar};
use crate::model::Timestamp;
use serde_json::Value;
use std::cmp::Ordering;

/// The system fields a filter may name, for the document being matched.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemValues<'a> {
    /// `_id`.
    pub id: &'a str,
    /// `_system.ov`.
    pub ov: u64,
    /// `_system.cv`.
    pub cv: u64,
    /// `_system.updatedAt`.
    pub updated_at: Option<Timestamp>,
}

impl Filter {
    /// Whether `doc` (an item's content, or its indexed properties) matches, with `system`
    /// for the `_id` and `_system.*` fields.
    ///
    /// ```
    /// use chronos_db::query::{Filter, IndexSpec, IndexedPath, SystemValues};
    /// use serde_json::json;
    /// let spec = IndexSpec { paths: vec![IndexedPath::parse("status"), IndexedPath::parse("tags[]")], excluded: vec![] };
    /// let f = Filter::parse(&json!({"status": "active", "tags": "vip"}), &spec).unwrap();
    /// let sys = SystemValues::default();
    /// assert!(f.matches(&json!({"status": "active", "tags": ["new", "vip"]}), &sys));
    /// assert!(!f.matches(&json!({"status": "active", "tags": ["new"]}), &sys));
    /// ```
    pub fn matches(&self, doc: &Value, system: &SystemValues<'_>) -> bool {
        match self {
            Filter::All => true,
            Filter::And(parts) => parts.iter().all(|p| p.matches(doc, system)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(doc, system)),
            Filter::Not(inner) => !inner.matches(doc, system),
            Filter::Cmp { field, op, value } => {
                if *op == CmpOp::Ne {
                    let eq = Filter::Cmp {
                        field: field.clone(),
                        op: CmpOp::Eq,
                        value: value.clone(),
                    };
                    return !eq.matches(doc, system);
                }
                let null_means_missing = matches!(value, Scalar::Null)
                    && matches!(op, CmpOp::Eq | CmpOp::Gte | CmpOp::Lte);
                field_test(doc, system, field, null_means_missing, &|v| {
                    compare(v, *op, value)
                })
            }
            Filter::In { field, values } => values.iter().any(|v| {
                Filter::Cmp {
                    field: field.clone(),
                    op: CmpOp::Eq,
                    value: v.clone(),
                }
                .matches(doc, system)
            }),
            Filter::Exists { field, exists } => {
                let present = match field {
                    Field::Meta(p) => lookup(doc, p).is_some(),
                    _ => true,
                };
                present == *exists
            }
            Filter::Regex { field, pattern } => {
                // The pattern compiled when the filter was parsed; a failure here matches
                // nothing rather than panicking.
                let Some(re) = compiled(pattern) else {
                    return false;
                };
                field_test(
                    doc,
                    system,
                    field,
                    false,
                    &|v| matches!(v, Value::String(s) if re.is_match(s)),
                )
            }
        }
    }
}

/// Patterns compiled once per process: a rule's filter is matched on every write it sees.
/// Bounded: when full it starts over (patterns come from configuration and queries).
fn compiled(pattern: &str) -> Option<regex::Regex> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<String, regex::Regex>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    const MAX_PATTERNS: usize = 256;
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(re) = cache.get(pattern) {
        return Some(re.clone());
    }
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .ok()?;
    if cache.len() >= MAX_PATTERNS {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re.clone());
    Some(re)
}

/// The value at an indexed path, if present (`null` is present).
fn lookup<'a>(doc: &'a Value, path: &IndexedPath) -> Option<&'a Value> {
    let mut at = doc;
    for seg in &path.segments {
        at = at.as_object()?.get(seg)?;
    }
    Some(at)
}

/// A test of one field's value; for array properties, of any element.
fn field_test(
    doc: &Value,
    system: &SystemValues<'_>,
    field: &Field,
    null_means_missing: bool,
    test: &dyn Fn(&Value) -> bool,
) -> bool {
    let owned;
    let value = match field {
        Field::Meta(p) => {
            let found = lookup(doc, p);
            if p.array {
                return match found {
                    None | Some(Value::Null) if null_means_missing => true,
                    None => false,
                    Some(Value::Array(items)) => items.iter().any(test),
                    Some(scalar) => test(scalar),
                };
            }
            match found {
                None if null_means_missing => return true,
                None => return false,
                Some(v) => v,
            }
        }
        Field::Id => {
            owned = Value::String(system.id.to_string());
            &owned
        }
        Field::Ov => {
            owned = Value::from(system.ov);
            &owned
        }
        Field::Cv => {
            owned = Value::from(system.cv);
            &owned
        }
        Field::UpdatedAt => {
            owned = Value::from(system.updated_at.map(|t| t.micros()).unwrap_or(0));
            &owned
        }
    };
    test(value)
}

/// One JSON value against a scalar, with MongoDB's rule that different types never compare.
fn compare(v: &Value, op: CmpOp, s: &Scalar) -> bool {
    let ord = match (v, s) {
        (Value::Null, Scalar::Null) => Some(Ordering::Equal),
        (Value::Bool(a), Scalar::Bool(b)) => Some(a.cmp(b)),
        (Value::Number(n), Scalar::Int(i)) => number_cmp(n, *i as f64, Some(*i)),
        (Value::Number(n), Scalar::Float(f)) => number_cmp(n, *f, None),
        (Value::String(a), Scalar::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    };
    let Some(ord) = ord else {
        return false;
    };
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Gte => ord != Ordering::Less,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Lte => ord != Ordering::Greater,
    }
}

/// Two numbers by value: exactly when both are 64-bit integers, else as 64-bit floats (the
/// stores compare the same way).
fn number_cmp(n: &serde_json::Number, other_f: f64, other_i: Option<i64>) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (n.as_i64(), other_i) {
        return Some(a.cmp(&b));
    }
    n.as_f64()?.partial_cmp(&other_f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::IndexSpec;
    use serde_json::json;

    fn spec() -> IndexSpec {
        IndexSpec {
            paths: ["status", "n", "a.b", "tags[]", "flag", "s"]
                .iter()
                .map(|p| IndexedPath::parse(p))
                .collect(),
            excluded: vec![],
        }
    }

    fn m(filter: serde_json::Value, doc: serde_json::Value) -> bool {
        Filter::parse(&filter, &spec()).unwrap().matches(
            &doc,
            &SystemValues {
                id: "x-1",
                ov: 3,
                cv: 9,
                updated_at: None,
            },
        )
    }

    #[test]
    fn types_never_compare_across() {
        assert!(m(json!({"n": {"$gt": 1}}), json!({"n": 2})));
        assert!(m(json!({"n": {"$gt": 1}}), json!({"n": 1.5})));
        assert!(!m(json!({"n": {"$gt": 1}}), json!({"n": "2"})));
        assert!(!m(json!({"n": 1}), json!({"n": "1"})));
        assert!(m(json!({"n": 1}), json!({"n": 1.0})));
        assert!(!m(json!({"s": {"$gt": "a"}}), json!({"s": 5})));
        assert!(m(json!({"flag": {"$gt": false}}), json!({"flag": true})));
        assert!(
            !m(json!({"n": {"$gt": 1}}), json!({"n": [5]})),
            "an array at a scalar path"
        );
    }

    #[test]
    fn null_missing_and_negations() {
        assert!(m(json!({"status": null}), json!({})));
        assert!(m(json!({"status": null}), json!({"status": null})));
        assert!(!m(json!({"status": null}), json!({"status": "x"})));
        assert!(m(json!({"status": {"$ne": "a"}}), json!({})));
        assert!(m(json!({"status": {"$nin": ["a"]}}), json!({})));
        assert!(m(json!({"status": {"$not": {"$eq": "a"}}}), json!({})));
        assert!(m(
            json!({"status": {"$exists": true}}),
            json!({"status": null})
        ));
        assert!(!m(json!({"status": {"$exists": true}}), json!({})));
        assert!(m(json!({"a.b": 2}), json!({"a": {"b": 2}})));
        assert!(!m(json!({"a.b": 2}), json!({"a": 2})));
    }

    #[test]
    fn arrays_match_by_element() {
        assert!(m(json!({"tags": "vip"}), json!({"tags": ["a", "vip"]})));
        assert!(
            m(json!({"tags": "vip"}), json!({"tags": "vip"})),
            "a scalar at an array path"
        );
        assert!(!m(
            json!({"tags": {"$ne": "vip"}}),
            json!({"tags": ["a", "vip"]})
        ));
        assert!(m(
            json!({"tags": {"$in": ["x", "a"]}}),
            json!({"tags": ["a"]})
        ));
        assert!(m(
            json!({"tags": {"$regex": "^v"}}),
            json!({"tags": ["a", "vip"]})
        ));
        assert!(m(json!({"tags": null}), json!({})));
        assert!(!m(json!({"tags": "vip"}), json!({})));
    }

    #[test]
    fn system_fields_and_logic() {
        assert!(m(json!({"_id": "x-1"}), json!({})));
        assert!(m(json!({"_system.ov": {"$gte": 3}}), json!({})));
        assert!(!m(json!({"_system.cv": {"$lt": 9}}), json!({})));
        assert!(m(
            json!({"$or": [{"status": "a"}, {"n": 1}]}),
            json!({"n": 1})
        ));
        assert!(!m(
            json!({"$and": [{"status": "a"}, {"n": 1}]}),
            json!({"n": 1})
        ));
        assert!(m(
            json!({"s": {"$regex": "^AB", "$options": "i"}}),
            json!({"s": "abc"})
        ));
    }
}
