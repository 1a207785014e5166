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

use crate::model::{push_json_string, Document, SystemFields};
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

/// An item's flat JSON text taken apart: what [`item_json`] put together.
#[derive(Debug, PartialEq)]
pub(crate) struct FlatParts {
    /// `_id`.
    pub id: String,
    /// The content's members, in order.
    pub data: Document,
    /// `_system`.
    pub system: SystemFields,
}

/// Takes apart flat text [`item_json`] wrote: `_id` first, the content's members, `_system`
/// last, in one pass; `_id` and `_system` are decoded into their types directly (no
/// `serde_json::Value` is built for them).
///
/// Content with a member named `_system` is refused: the write path strips such members,
/// but stored content is not checked again, and telling such a member from the item's own
/// `_system` would cost every item a second pass over it. A caller that is refused builds
/// the item from the stored row instead.
pub(crate) fn parse_item(text: &str) -> Result<FlatParts, serde_json::Error> {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_str(text);
    let parts = (&mut de).deserialize_map(FlatVisitor)?;
    de.end()?;
    Ok(parts)
}

/// A member name of the flat form: the two the form adds, or one of the content's.
enum FlatKey {
    Id,
    System,
    Content(String),
}

impl<'de> serde::Deserialize<'de> for FlatKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = FlatKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            // Names are compared borrowed when the text lends them: the two names the form
            // adds cost no `String`.
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<FlatKey, E> {
                Ok(match s {
                    "_id" => FlatKey::Id,
                    "_system" => FlatKey::System,
                    other => FlatKey::Content(other.to_owned()),
                })
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<FlatKey, E> {
                Ok(match s.as_str() {
                    "_id" => FlatKey::Id,
                    "_system" => FlatKey::System,
                    _ => FlatKey::Content(s),
                })
            }
        }
        d.deserialize_str(Name)
    }
}

struct FlatVisitor;

impl<'de> serde::de::Visitor<'de> for FlatVisitor {
    type Value = FlatParts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an item in flat form: an object with _id first and _system last")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<FlatParts, A::Error> {
        use serde::de::Error as _;
        if !matches!(map.next_key::<FlatKey>()?, Some(FlatKey::Id)) {
            return Err(A::Error::custom("the flat form starts with _id"));
        }
        let id: String = map.next_value()?;
        // Room for a small document's members without regrowing.
        let mut data = Document::with_capacity(8);
        loop {
            match map.next_key::<FlatKey>()? {
                Some(FlatKey::Content(key)) => {
                    data.insert(key, map.next_value()?);
                }
                // Content may name a member `_id` (it is not the item's, which came first).
                Some(FlatKey::Id) => {
                    data.insert("_id".into(), map.next_value()?);
                }
                Some(FlatKey::System) => {
                    let system: SystemFields = map.next_value()?;
                    if map.next_key::<FlatKey>()?.is_some() {
                        return Err(A::Error::custom(
                            "a member follows _system: the content has a member named _system",
                        ));
                    }
                    return Ok(FlatParts { id, data, system });
                }
                None => return Err(A::Error::custom("the flat form ends with _system")),
            }
        }
    }
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

    /// Taken apart, the flat text gives back the id, the content and the fields it was
    /// written from: with lineage and a deletion time, with empty content, with a content
    /// member named `_id` (content, by its place). Content with a member named `_system` is
    /// refused, whatever that member holds.
    #[test]
    fn parsing_the_flat_text_gives_back_its_parts() {
        let mut deleted = system();
        deleted.deleted = true;
        deleted.deleted_at = Some(deleted.updated_at);
        deleted.inserted_at = Timestamp(1_600_000_000_000_001);
        let plain = SystemFields::from_lineage(0, 1, Timestamp(1), false, Lineage::default());
        for system in [system(), deleted, plain] {
            for content in [
                r#"{"a":1.50,"s":"é\"\n","o":{"x":[1,{"y":null}]}}"#,
                "{}",
                r#"{"_id":"inner","z":true}"#,
            ] {
                let json = item_json("id\"1", content, &system).unwrap();
                let parts = parse_item(json.get()).unwrap();
                assert_eq!(parts.id, "id\"1");
                assert_eq!(parts.system, system, "{content}");
                let data: Document = serde_json::from_str(content).unwrap();
                assert_eq!(parts.data, data, "{content}");
                assert!(parts.data.keys().eq(data.keys()), "member order: {content}");
            }
            let mut own = String::new();
            system.write_json(&mut own).unwrap();
            for content in [
                r#"{"_system":7}"#.to_string(),
                r#"{"_system":{"not":"ours"},"z":true}"#.to_string(),
                format!(r#"{{"_system":{own}}}"#),
                format!(r#"{{"a":1,"_system":{own},"b":2}}"#),
            ] {
                let json = item_json("i", &content, &system).unwrap();
                assert!(parse_item(json.get()).is_err(), "{content}");
            }
        }
    }

    #[test]
    fn text_not_in_flat_form_is_refused() {
        let sys = r#"{"ov":0,"cv":1,"insertedAt":"1970-01-01T00:00:00.000001Z","updatedAt":"1970-01-01T00:00:00.000001Z","deletedAt":null,"deleted":false,"functionIds":[],"parentId":null,"parentCollection":null,"originId":null,"originCollection":null}"#;
        assert!(parse_item(&format!(r#"{{"_id":"a","_system":{sys}}}"#)).is_ok());
        for bad in [
            format!(r#"{{"a":1,"_id":"a","_system":{sys}}}"#),
            r#"{"_id":"a","a":1}"#.to_string(),
            r#"{"_id":"a","_system":{"ov":0}}"#.to_string(),
            format!(r#"{{"_id":1,"_system":{sys}}}"#),
            format!(r#"{{"_id":"a","_system":{sys}}} x"#),
            "[1]".to_string(),
            "{}".to_string(),
        ] {
            assert!(parse_item(&bad).is_err(), "{bad}");
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
