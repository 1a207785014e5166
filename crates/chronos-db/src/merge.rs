//! Deep merge with array union: the enrichment rule (see [`deep_merge`]).
//!
//! For each key of the patch:
//! 1. `null` overrides;
//! 2. a key the target lacks takes the patch value;
//! 3. two objects merge recursively;
//! 4. an array target unions with the patch (a non-array patch value is added as one element);
//! 5. anything else: the patch value replaces the target's.
//!
//! Array union: scalars and nested arrays are appended unless an equal element is already
//! there (deep equality; the original compared nested arrays by reference, so they were
//! never de-duplicated; we de-duplicate them deliberately). Objects with an identity (`id`,
//! else `_id`, when it is a string) merge into the element with the same identity; objects
//! without one are appended unless an equal object is already there.

use serde_json::{Map, Value};

/// Merges `patch` into `target`.
///
/// ```
/// use serde_json::json;
/// let mut t = json!({"a": 1, "o": {"x": 1}, "tags": ["a"], "objs": [{"id": "k", "v": 1}]});
/// chronos_db::merge::deep_merge(&mut t, &json!({"o": {"y": 2}, "tags": ["a", "b"], "objs": [{"id": "k", "w": 2}]}));
/// assert_eq!(t, json!({"a": 1, "o": {"x": 1, "y": 2}, "tags": ["a", "b"], "objs": [{"id": "k", "v": 1, "w": 2}]}));
/// ```
pub fn deep_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => merge_objects(t, p),
        (t, p) => *t = p.clone(),
    }
}

/// Merges the keys of `patch` into `target`.
pub fn merge_objects(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, pv) in patch {
        match target.get_mut(key) {
            None => {
                target.insert(key.clone(), pv.clone());
            }
            Some(tv) => merge_value(tv, pv),
        }
    }
}

fn merge_value(tv: &mut Value, pv: &Value) {
    match (tv, pv) {
        (tv, Value::Null) => *tv = Value::Null,
        (Value::Object(t), Value::Object(p)) => merge_objects(t, p),
        (Value::Array(t), Value::Array(p)) => union_into(t, p),
        (Value::Array(t), p) => union_into(t, std::slice::from_ref(p)),
        (tv, pv) => *tv = pv.clone(),
    }
}

/// How [`merge_records`] combines tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeOptions {
    /// Arrays are unioned without duplicates (deep equality, first seen first); `false`
    /// concatenates them.
    pub dedupe_arrays: bool,
    /// Keys the target already has are kept as they are (not merged into).
    pub preserve_existing: bool,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            dedupe_arrays: true,
            preserve_existing: false,
        }
    }
}

/// The tier merge of tiered fetches, different from the enrichment rule:
/// objects merge recursively, arrays union (or concatenate), anything else — `null`, an array
/// against a scalar — is replaced by the source's value.
///
/// ```
/// use chronos_db::merge::{merge_records, MergeOptions};
/// use serde_json::json;
/// let mut t = json!({"t": [1, {"a": 1}], "o": {"p": 1}, "k": 1});
/// let s = json!({"t": [1, {"a": 1}, "1"], "o": {"q": 2}, "k": null});
/// merge_records(t.as_object_mut().unwrap(), s.as_object().unwrap(), MergeOptions::default());
/// assert_eq!(t, json!({"t": [1, {"a": 1}, "1"], "o": {"p": 1, "q": 2}, "k": null}));
/// ```
pub fn merge_records(
    target: &mut Map<String, Value>,
    source: &Map<String, Value>,
    opts: MergeOptions,
) {
    for (key, sv) in source {
        match target.get_mut(key) {
            None => {
                target.insert(key.clone(), sv.clone());
            }
            Some(_) if opts.preserve_existing => {}
            Some(tv) => match (tv, sv) {
                (Value::Object(t), Value::Object(s)) => merge_records(t, s, opts),
                (Value::Array(t), Value::Array(s)) => {
                    if opts.dedupe_arrays {
                        let mut out: Vec<Value> = Vec::with_capacity(t.len() + s.len());
                        for v in t.iter().chain(s) {
                            if !out.contains(v) {
                                out.push(v.clone());
                            }
                        }
                        *t = out;
                    } else {
                        t.extend(s.iter().cloned());
                    }
                }
                (tv, sv) => *tv = sv.clone(),
            },
        }
    }
}

fn identity(v: &Map<String, Value>) -> Option<&str> {
    match (v.get("id"), v.get("_id")) {
        (Some(Value::String(s)), _) => Some(s),
        (_, Some(Value::String(s))) => Some(s),
        _ => None,
    }
}

/// Adds each element of `patch` to `target` unless it is already there (see module docs).
pub fn union_into(target: &mut Vec<Value>, patch: &[Value]) {
    for el in patch {
        match el {
            Value::Object(po) => {
                let found = match identity(po) {
                    Some(id) => target
                        .iter_mut()
                        .find(|t| matches!(t, Value::Object(to) if identity(to) == Some(id))),
                    None => target.iter_mut().find(|t| *t == el),
                };
                match found {
                    Some(Value::Object(to)) => merge_objects(to, po),
                    _ => target.push(el.clone()),
                }
            }
            other => {
                if !target.contains(other) {
                    target.push(other.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `preserveExisting` keeps what the target has (nested objects are not
    /// merged into); without `dedupeArrays` arrays concatenate.
    #[test]
    fn tier_merge_options() {
        let merged = |t: Value, s: Value, o: MergeOptions| {
            let mut t = t;
            merge_records(t.as_object_mut().unwrap(), s.as_object().unwrap(), o);
            t
        };
        let keep = MergeOptions {
            preserve_existing: true,
            ..Default::default()
        };
        assert_eq!(
            merged(
                json!({"a": 1, "o": {"x": 1}}),
                json!({"a": 2, "b": 3, "o": {"y": 1}}),
                keep
            ),
            json!({"a": 1, "o": {"x": 1}, "b": 3})
        );
        let concat = MergeOptions {
            dedupe_arrays: false,
            ..Default::default()
        };
        assert_eq!(
            merged(json!({"t": [1, 2]}), json!({"t": [2, 3]}), concat),
            json!({"t": [1, 2, 2, 3]})
        );
        // Deduplication compares values, not key order; arrays against scalars are replaced.
        assert_eq!(
            merged(
                json!({"t": [{"a": 1, "b": 2}], "s": [1]}),
                json!({"t": [{"b": 2, "a": 1}], "s": 5}),
                MergeOptions::default()
            ),
            json!({"t": [{"a": 1, "b": 2}], "s": 5})
        );
    }

    #[test]
    fn reference_example() {
        let mut t =
            json!({"a":1, "o":{"x":1}, "arr":[1,2], "objs":[{"id":"k","v":1},{"n":1}], "s":"str"});
        deep_merge(
            &mut t,
            &json!({"a":null, "o":{"y":2}, "arr":3, "objs":[{"id":"k","w":2},{"n":1},{"_id":"k","z":3}], "s":["now","array"]}),
        );
        assert_eq!(
            t,
            json!({"a":null, "o":{"x":1,"y":2}, "arr":[1,2,3], "objs":[{"id":"k","v":1,"w":2,"_id":"k","z":3},{"n":1}], "s":["now","array"]})
        );
    }

    #[test]
    fn nested_arrays_and_duplicates_in_patch() {
        let mut t = json!({"m": [[1]], "tags": []});
        deep_merge(&mut t, &json!({"m": [[1], [2]], "tags": ["x", "x"]}));
        assert_eq!(t, json!({"m": [[1], [2]], "tags": ["x"]}));
    }

    #[test]
    fn scalar_replaces_object_and_object_replaces_scalar() {
        let mut t = json!({"a": {"x": 1}, "b": 2});
        deep_merge(&mut t, &json!({"a": 5, "b": {"y": 1}}));
        assert_eq!(t, json!({"a": 5, "b": {"y": 1}}));
    }
}
