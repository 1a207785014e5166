//! The flat form of an item as JSON text, `{"_id": <id>, <content members>, "_system": {...}}`,
//! assembled around the stored JSON text of its content without decoding it.
//!
//! A version's content is stored as the JSON text of its document (inline in the metadata
//! row when small, else as the version's `item.json`), so a reader that only passes JSON on
//! (the CLI, an HTTP server) can have the item as the content's members between `_id` and
//! `_system`, with no `serde_json::Value` built and encoded again. Both the operations layer
//! and the metadata backends (which can build it while reading a row, from the row's own
//! text) use this one function, so every path gives the same bytes: what
//! `serde_json::to_string(&item.to_document())` gives (the `json_out` conformance tests hold
//! both paths to that).

use crate::model::SystemFields;
use serde_json::value::RawValue;

/// The item `id` whose content is the JSON text `content` (an object) and whose `_system`
/// fields are `system`, as flat JSON text.
///
/// The result is checked to be one well-formed JSON object before it is returned: stored
/// text such as `{"a":1}{"b":2}` stripped of its outer braces would otherwise splice into
/// something else. An error says what is wrong with `content`.
pub(crate) fn item_json(
    id: &str,
    content: &str,
    system: &SystemFields,
) -> Result<Box<RawValue>, String> {
    let body = content.trim();
    let members = body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or("the content is not a JSON object")?
        .trim();
    // Room for `_id` and a `_system` without lineage strings (its keys and three times), so
    // that most items are written without regrowing the text.
    let mut out = Vec::with_capacity(body.len() + id.len() + 320);
    out.extend_from_slice(b"{\"_id\":");
    serde_json::to_writer(&mut out, id).map_err(|e| e.to_string())?;
    out.push(b',');
    if !members.is_empty() {
        out.extend_from_slice(members.as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(b"\"_system\":");
    system.write_json(&mut out).map_err(|e| e.to_string())?;
    out.push(b'}');
    let text = String::from_utf8(out).map_err(|e| e.to_string())?;
    RawValue::from_string(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, Lineage, Op, Timestamp};

    fn system() -> SystemFields {
        SystemFields::from_lineage(
            3,
            42,
            Timestamp(1_700_000_000_000_000),
            false,
            Lineage {
                function_ids: vec!["f@1".into()],
                parent_id: Some("p\"1".into()),
                ..Default::default()
            },
        )
    }

    #[test]
    fn the_flat_text_is_the_typed_item_encoded() {
        for content in [
            r#"{"a":1.50,"s":"é\"\n"}"#,
            "{}",
            " { } ",
            r#"{"o":{"x":[]}}"#,
        ] {
            let json = item_json("id\"1", content, &system()).unwrap();
            let item = Item {
                id: "id\"1".into(),
                data: serde_json::from_str(content).unwrap(),
                system: system(),
                op: Op::Update,
                actor: None,
                reason: None,
                presigned: None,
            };
            let typed = serde_json::to_string(&item.to_document()).unwrap();
            assert_eq!(json.get(), typed);
        }
    }

    #[test]
    fn content_that_is_not_one_object_is_refused() {
        for bad in ["[1]", "\"x\"", r#"{"a":1}{"b":2}"#, r#"{"a":}"#, "", "{"] {
            assert!(item_json("i", bad, &system()).is_err(), "{bad}");
        }
    }
}
