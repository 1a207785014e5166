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

use crate::model::{push_json_string, SystemFields};
use serde_json::value::RawValue;
use std::fmt;

/// An item in its flat form as JSON text: `{"_id": <id>, <content members>, "_system": {...}}`,
/// the bytes `serde_json::to_string(&item.to_document())` gives for the same item.
///
/// What [`crate::Collection::list_by_meta_json`] and [`crate::Collection::read_json`] answer,
/// for readers that pass JSON on (an HTTP server, the CLI): [`ItemJson::get`] is the text
/// to send. It is one well-formed JSON object by construction: the stored content is parsed
/// as one JSON object before its members are spliced in, and `_id` and `_system` are written
/// by serde_json and by a writer a test holds byte-equal to it. The assembled text is not
/// parsed again: that second pass over every byte was the largest cost left in a list page.
///
/// It serializes as the object it holds (through serde_json's `RawValue`, which checks the
/// text once more; [`ItemJson::get`] does not).
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
/// use chronos_db::ops::ReadAt;
/// use chronos_db::{ReadOptions, Route, DatabaseType};
/// use serde_json::json;
/// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "notes").unwrap()).unwrap();
/// let id = c.create(json!({"text": "hi"}), "me", "example", Default::default()).await.unwrap().id;
/// let item = c.read_json(&id, ReadAt::Latest, ReadOptions::default()).await.unwrap();
/// assert!(item.get().starts_with(&format!("{{\"_id\":\"{id}\",\"text\":\"hi\",\"_system\":{{")));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemJson(Box<str>);

impl ItemJson {
    /// Text this crate wrote as one JSON object (see the type's invariant).
    pub(crate) fn written(text: String) -> ItemJson {
        ItemJson(text.into_boxed_str())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }

    /// The JSON text, owned.
    pub fn into_string(self) -> String {
        self.0.into()
    }

    /// The item as serde_json's `RawValue` (the text is checked as it is converted).
    pub fn to_raw_value(&self) -> Result<Box<RawValue>, serde_json::Error> {
        RawValue::from_string(self.0.to_string())
    }
}

impl fmt::Display for ItemJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for ItemJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // serde has no generic way to hand a serializer text to copy: serde_json's RawValue
        // is that way, and it is built by parsing the text (borrowed, not copied).
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// The item `id` whose content is the JSON text `content` (an object) and whose `_system`
/// fields are `system`, as flat JSON text.
///
/// `content` is parsed as one JSON value, and must be an object, before its members are
/// spliced in: stored text such as `{"a":1}{"b":2}` stripped of its outer braces would
/// otherwise splice into something else. An error says what is wrong with `content`.
pub(crate) fn item_json(
    id: &str,
    content: &str,
    system: &SystemFields,
) -> Result<ItemJson, String> {
    let body = content.trim();
    let _: &RawValue = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let members = body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or("the content is not a JSON object")?
        .trim();
    // Room for `_id` and a `_system` without lineage strings (its keys and three times), so
    // that most items are written without regrowing the text.
    let mut out = String::with_capacity(body.len() + id.len() + 320);
    out.push_str("{\"_id\":");
    push_json_string(&mut out, id).map_err(|e| e.to_string())?;
    out.push(',');
    if !members.is_empty() {
        out.push_str(members);
        out.push(',');
    }
    out.push_str("\"_system\":");
    system.write_json(&mut out).map_err(|e| e.to_string())?;
    out.push('}');
    Ok(ItemJson::written(out))
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
        for bad in [
            "[1]",
            "\"x\"",
            r#"{"a":1}{"b":2}"#,
            r#"{"a":}"#,
            "",
            "{",
            r#"{"a":1,}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":1} x"#,
        ] {
            assert!(item_json("i", bad, &system()).is_err(), "{bad}");
        }
    }
}
