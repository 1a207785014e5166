//! Document helpers: input limits, dot-path access, indexed-meta extraction, projection.

use crate::error::{Error, Result};
use crate::model::Document;
use crate::query::{IndexSpec, IndexedPath};
use serde_json::Value;

/// Checks the nesting depth without recursion (a hostile payload cannot overflow the stack).
pub(crate) fn check_depth(v: &Value, max: usize) -> Result<()> {
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        if d > max {
            return Err(Error::validation(format!(
                "payload is nested deeper than {max} levels"
            )));
        }
        match v {
            Value::Object(m) => stack.extend(m.values().map(|c| (c, d + 1))),
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// The value at a dot path, if any.
pub(crate) fn get_path<'a>(doc: &'a Document, path: &str) -> Option<&'a Value> {
    let mut segs = path.split('.');
    let mut cur = doc.get(segs.next()?)?;
    for seg in segs {
        cur = cur.as_object()?.get(seg)?;
    }
    Some(cur)
}

/// Sets the value at a dot path, creating intermediate objects (replacing non-objects).
pub(crate) fn set_path(doc: &mut Document, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = doc;
    for seg in parents {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Document::new()));
        if !entry.is_object() {
            *entry = Value::Object(Document::new());
        }
        let Value::Object(next) = entry else { return };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

/// The indexed subset of a document (`metaIndexed`).
///
/// With declared paths, each present value is copied to the same path (an `a[]` path copies
/// the array). With none, every top-level property except blobs is copied.
pub(crate) fn extract_meta(doc: &Document, spec: &IndexSpec) -> Document {
    let mut meta = Document::new();
    if spec.paths.is_empty() {
        for (k, v) in doc {
            if !spec.excluded.iter().any(|e| e == k) {
                meta.insert(k.clone(), v.clone());
            }
        }
        return meta;
    }
    for p in &spec.paths {
        if let Some(v) = get_path(doc, &p.dotted()) {
            if p.array && !v.is_array() {
                // A scalar where an array is declared is indexed as a one-element array.
                set_path(&mut meta, &p.segments, Value::Array(vec![v.clone()]));
            } else {
                set_path(&mut meta, &p.segments, v.clone());
            }
        }
    }
    meta
}

/// Builds the index spec of a collection map.
pub(crate) fn index_spec(indexed: &[String], base64: &[String]) -> IndexSpec {
    IndexSpec {
        paths: indexed.iter().map(|p| IndexedPath::parse(p)).collect(),
        excluded: base64
            .iter()
            .map(|p| p.split('.').next().unwrap_or(p).to_string())
            .collect(),
    }
}

/// Keeps only the given dot paths of a document.
pub(crate) fn project(doc: &Document, paths: &[String]) -> Document {
    let mut out = Document::new();
    for p in paths {
        if let Some(v) = get_path(doc, p) {
            let segs: Vec<String> = p.split('.').map(str::to_string).collect();
            set_path(&mut out, &segs, v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn meta_extraction_with_nested_and_array_paths() {
        let spec = index_spec(&["a.b".into(), "tags[]".into(), "missing".into()], &[]);
        let m = extract_meta(
            &doc(json!({"a": {"b": 1, "c": 2}, "tags": ["x"], "other": 1})),
            &spec,
        );
        assert_eq!(Value::Object(m), json!({"a": {"b": 1}, "tags": ["x"]}));
    }

    #[test]
    fn auto_meta_skips_blobs() {
        let spec = index_spec(&[], &["file".into()]);
        let m = extract_meta(&doc(json!({"a": 1, "file": "QUJD"})), &spec);
        assert_eq!(Value::Object(m), json!({"a": 1}));
    }

    #[test]
    fn projection_keeps_nested_paths() {
        let d = doc(json!({"a": {"b": 1, "c": 2}, "d": 3}));
        assert_eq!(
            Value::Object(project(&d, &["a.b".into(), "zz".into()])),
            json!({"a": {"b": 1}})
        );
    }

    #[test]
    fn depth_limit() {
        let mut v = json!(1);
        for _ in 0..100 {
            v = json!([v]);
        }
        assert!(check_depth(&v, 64).is_err());
        assert!(check_depth(&json!({"a": [1]}), 64).is_ok());
    }
}
