//! Deep merge with array union: the enrichment rule (reference §4.6).
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
