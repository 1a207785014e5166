//! Document helpers: input limits, dot-path access, indexed-meta extraction, projection.

use crate::error::{Error, Result};
use crate::model::Document;
use crate::query::{IndexSpec, IndexedPath};
use serde_json::Value;

/// Checks what every stored document must satisfy, without recursion (a hostile payload
/// cannot overflow the stack):
///
/// * **depth**: objects and arrays nest at most `max_depth` levels; the document itself is
///   level 1 and only containers count (`{"a":{}}` and `{"a":{"b":1}}` are both 2 levels);
/// * **numbers**: any JSON number is kept exactly as written (digits, exponent, beyond 64
///   bits), except numbers outside the range of a 64-bit float (`1e400`), which no index
///   can order and most JSON readers cannot represent: those are refused.
pub(crate) fn check_document(v: &Value, max_depth: usize) -> Result<()> {
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        let children = match v {
            Value::Object(m) => Box::new(m.values()) as Box<dyn Iterator<Item = &Value>>,
            Value::Array(a) => Box::new(a.iter()),
            Value::Number(n) => {
                if !n.as_f64().is_some_and(f64::is_finite) {
                    return Err(Error::validation(format!(
                        "the number {n} is outside the range of a 64-bit float"
                    )));
                }
                continue;
            }
            _ => continue,
        };
        if d > max_depth {
            return Err(Error::validation(format!(
                "payload is nested deeper than {max_depth} levels of objects and arrays"
            )));
        }
        stack.extend(children.map(|c| (c, d + 1)));
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

    /// `levels` nested objects whose innermost one is `inner`.
    fn nested(levels: usize, inner: Value) -> Value {
        let mut v = inner;
        for _ in 1..levels {
            v = json!({ "a": v });
        }
        v
    }

    #[test]
    fn depth_counts_containers_only() {
        // 64 objects deep is accepted whatever the innermost object holds...
        assert!(check_document(&nested(64, json!({})), 64).is_ok());
        assert!(check_document(&nested(64, json!({"x": 1})), 64).is_ok());
        assert!(check_document(&nested(64, json!({"x": [] })), 64).is_err());
        // ...and 65 is refused, empty or not.
        assert!(check_document(&nested(65, json!({})), 64).is_err());
        assert!(check_document(&nested(65, json!({"x": 1})), 64).is_err());
        let mut v = json!(1);
        for _ in 0..100 {
            v = json!([v]);
        }
        assert!(check_document(&v, 64).is_err());
        assert!(check_document(&json!({"a": [1]}), 2).is_ok());
        assert!(check_document(&json!({"a": [[1]]}), 2).is_err());
    }

    #[test]
    fn numbers_are_kept_exactly_unless_out_of_float_range() {
        // Digits are kept; only an exponent's spelling is normalized (`e+N`).
        for (text, stored) in [
            ("18446744073709551616", "18446744073709551616"),
            ("-9223372036854775809", "-9223372036854775809"),
            ("1e30", "1e+30"),
            ("1.5E-7", "1.5e-7"),
            (
                "0.10000000000000000000000001",
                "0.10000000000000000000000001",
            ),
            ("1.50", "1.50"),
        ] {
            let doc: Value = serde_json::from_str(&format!(r#"{{"n":{text}}}"#)).unwrap();
            assert!(check_document(&doc, 4).is_ok(), "{text}");
            assert_eq!(
                serde_json::to_string(&doc).unwrap(),
                format!(r#"{{"n":{stored}}}"#)
            );
        }
        for text in ["1e400", "-1e309"] {
            let doc: Value = serde_json::from_str(&format!(r#"{{"n":[{text}]}}"#)).unwrap();
            let e = check_document(&doc, 4).unwrap_err().to_string();
            assert!(e.contains("outside the range of a 64-bit float"), "{e}");
        }
    }
}
