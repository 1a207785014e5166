//! Reading user JSON into typed structs, strictly.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON array whose elements are
//! taken as the fields in declaration order, so `[{…}]` or `[]` would pass for a whole
//! configuration or an options object. And `serde_json::Value` keeps the last of two equal
//! keys without a word. Both hide mistakes in hand-written JSON, so user JSON is read here:
//!
//! * [`parse_unique_keys`] parses text into a `Value`, refusing a key given twice (naming
//!   its JSON path);
//! * [`from_value`] deserializes a `Value` into a type with every struct (at any depth)
//!   required to be a JSON object, reporting the JSON path of a problem;
//! * [`object_only!`](crate::object_only) gives a public input type a `Deserialize` that
//!   refuses arrays whatever the deserializer, for callers that use serde directly.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;
use std::cell::RefCell;

/// Why a JSON text was refused by [`parse_unique_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Not JSON (serde_json's message, with line and column).
    Syntax(String),
    /// A key appears twice in one object; `path` is the repeated key's JSON path.
    DuplicateKey {
        /// JSON path of the repeated key, such as `$.a.b`.
        path: String,
        /// Line where the repetition was found, counting from 1.
        line: usize,
        /// Column where the repetition was found, counting from 1.
        column: usize,
    },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Syntax(m) => f.write_str(m),
            ParseError::DuplicateKey { path, line, column } => write!(
                f,
                "{path}: the key is given twice (line {line}, column {column}); each key may appear once"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses JSON text, refusing objects that give a key twice.
///
/// ```
/// use chronos_db::json::{parse_unique_keys, ParseError};
/// assert!(parse_unique_keys(r#"{"a": {"b": 1, "c": 2}}"#).is_ok());
/// let e = parse_unique_keys(r#"{"a": {"b": 1, "b": 2}}"#).unwrap_err();
/// assert!(matches!(e, ParseError::DuplicateKey { ref path, .. } if path == "$.a.b"));
/// ```
pub fn parse_unique_keys(text: &str) -> Result<Value, ParseError> {
    // Two passes: one that only looks at keys, then serde_json's own parser, so that values
    // (numbers above all, kept with their exact digits) are exactly what serde_json makes.
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let checked = KeysOf {
        path: "$",
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Err(e) = checked {
        return Err(match duplicate.into_inner() {
            Some(path) => ParseError::DuplicateKey {
                path,
                line: e.line(),
                column: e.column(),
            },
            None => ParseError::Syntax(e.to_string()),
        });
    }
    serde_json::from_str(text).map_err(|e| ParseError::Syntax(e.to_string()))
}

/// Walks a JSON document and fails at the first object that repeats a key, remembering its
/// path. Scalars are skipped (a number's internal representation may itself be a map with one
/// key, which can never repeat).
struct KeysOf<'a> {
    path: &'a str,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for KeysOf<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeysOf<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let path = format!("{}[{index}]", self.path);
            let node = KeysOf {
                path: &path,
                duplicate: self.duplicate,
            };
            if seq.next_element_seed(node)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = format!("{}.{key}", self.path);
            if !seen.insert(key) {
                *self.duplicate.borrow_mut() = Some(path);
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(KeysOf {
                path: &path,
                duplicate: self.duplicate,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod number_tests {
    #[test]
    fn numbers_keep_their_digits() {
        let v = super::parse_unique_keys(
            r#"{"n": 18446744073709551616, "f": [0.10000000000000000000001], "s": 5000}"#,
        )
        .unwrap();
        assert_eq!(
            v.to_string(),
            r#"{"n":18446744073709551616,"f":[0.10000000000000000000001],"s":5000}"#
        );
        assert_eq!(v["s"].as_u64(), Some(5000));
    }
}

/// Deserializes a `Value` into `T`, requiring a JSON object wherever `T` (or anything inside
/// it) expects a struct. The error carries the JSON path of the problem.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// struct P { x: u32 }
/// let ok: P = chronos_db::json::from_value(&serde_json::json!({"x": 1})).unwrap();
/// assert_eq!(ok.x, 1);
/// let e = chronos_db::json::from_value::<Vec<P>>(&serde_json::json!([[1]])).unwrap_err();
/// assert_eq!(e.path().to_string(), "[0]");
/// assert!(e.inner().to_string().contains("must be a JSON object"));
/// ```
pub fn from_value<T: de::DeserializeOwned>(
    value: &Value,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(Strict(value))
}

/// A `Value` deserializer whose structs must be objects (elsewhere it behaves as
/// serde_json's).
#[derive(Clone, Copy)]
struct Strict<'a>(&'a Value);

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for Strict<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    v.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    v.visit_i64(i)
                } else {
                    v.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => v.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.iter().map(Strict));
                let out = v.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(map) => {
                let mut entries =
                    MapDeserializer::new(map.iter().map(|(k, v)| (k.as_str(), Strict(v))));
                let out = v.visit_map(&mut entries)?;
                entries.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(v),
            other => Err(de::Error::custom(format!(
                "must be a JSON object, not {}",
                kind(other)
            ))),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier
    }
}

/// Gives a struct a `Deserialize` that accepts only a JSON object (a map), whatever the
/// deserializer: the struct derives its own with `#[serde(remote = "Self")]`, which this
/// calls on the map. With `serialize`, the derived `Serialize` is forwarded too (`remote`
/// turns both derives into inherent functions).
#[macro_export]
#[doc(hidden)]
macro_rules! object_only {
    ($ty:ident, $what:literal) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$ty, A::Error> {
                        $ty::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(ObjectVisitor)
            }
        }
    };
    ($ty:ident, $what:literal, serialize) => {
        $crate::object_only!($ty, $what);
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, s)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: u32,
        #[serde(default)]
        b: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        any: Option<Value>,
    }

    #[test]
    fn structs_must_be_objects_at_any_depth() {
        let ok: Outer = from_value(&json!({"inner": {"a": 1}, "list": [{"a": 2, "b": "x"}],
                                          "any": [1, {"k": null}]}))
        .unwrap();
        assert_eq!(ok.list[0].b.as_deref(), Some("x"));
        assert_eq!(ok.any, Some(json!([1, {"k": null}])));
        // serde_json alone takes these positionally.
        assert!(serde_json::from_value::<Outer>(json!([[1]])).is_ok());
        for (bad, path) in [
            (json!([[1]]), "."),
            (json!([]), "."),
            (json!({"inner": [1]}), "inner"),
            (json!({"inner": {"a": 1}, "list": [[2]]}), "list[0]"),
            (json!({"inner": "x"}), "inner"),
        ] {
            let e = from_value::<Outer>(&bad).unwrap_err();
            assert_eq!(e.path().to_string(), path, "{bad}");
            assert!(
                e.inner().to_string().contains("must be a JSON object"),
                "{e}"
            );
        }
        let e = from_value::<Outer>(&json!({"inner": {"a": 1, "c": 2}})).unwrap_err();
        assert!(e.to_string().contains("unknown field `c`"), "{e}");
        let e = from_value::<Outer>(&json!({"inner": {"a": -1}})).unwrap_err();
        assert_eq!(e.path().to_string(), "inner.a");
    }

    #[test]
    fn public_input_types_refuse_arrays_with_any_deserializer() {
        use crate::ops::{CreateOptions, EntityMapping};
        use crate::query::Cursor;
        use crate::Route;
        let m: EntityMapping = serde_json::from_str(
            r#"{"property": "customer", "collection": "customers", "keyProperty": "id"}"#,
        )
        .unwrap();
        assert_eq!(m.key_property, "id");
        let back: EntityMapping =
            serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        let o: CreateOptions =
            serde_json::from_str(r#"{"id": "x", "parent": {"id": "p", "collection": "c"}}"#)
                .unwrap();
        assert_eq!(o.parent.unwrap().collection, "c");
        let r = Route::tenant(crate::DatabaseType::Runtime, "t", "c").unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Route>(&text).unwrap(), r);

        let refused = |e: serde_json::Error| {
            let e = e.to_string();
            assert!(e.contains("invalid type: sequence"), "{e}");
        };
        refused(
            serde_json::from_str::<EntityMapping>(r#"["customer", "customers", "id"]"#)
                .unwrap_err(),
        );
        refused(
            serde_json::from_str::<Vec<EntityMapping>>(r#"[["customer", "customers", "id"]]"#)
                .unwrap_err(),
        );
        refused(
            serde_json::from_value::<EntityMapping>(json!(["customer", "customers", "id"]))
                .unwrap_err(),
        );
        refused(serde_json::from_str::<CreateOptions>(r#"["x"]"#).unwrap_err());
        refused(serde_json::from_str::<CreateOptions>(r#"{"parent": ["p", "c"]}"#).unwrap_err());
        refused(serde_json::from_str::<CreateOptions>(r#"{"origin": ["p", "c"]}"#).unwrap_err());
        refused(
            serde_json::from_str::<Route>(r#"["runtime", "tenant", "t", null, "c"]"#).unwrap_err(),
        );
        refused(serde_json::from_str::<Cursor>(r#"[[], "id"]"#).unwrap_err());
        let e = from_value::<Vec<EntityMapping>>(
            &json!([{"property": "a", "collection": "b", "keyProperty": "c"}, ["a", "b", "c"]]),
        )
        .unwrap_err();
        assert_eq!(e.path().to_string(), "[1]");
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let v = parse_unique_keys(r#"{"a": [{"x": 1}, {"x": 2}], "b": {"x": {"x": 1}}}"#).unwrap();
        assert_eq!(v["b"]["x"]["x"], 1);
        for (text, path) in [
            (r#"{"a": 1, "a": 2}"#, "$.a"),
            (r#"{"a": [{"x": 1}, {"y": 1, "y": 2}]}"#, "$.a[1].y"),
            (
                r#"{"s": {"k": {"secretKey": "1", "secretKey": "2"}}}"#,
                "$.s.k.secretKey",
            ),
        ] {
            match parse_unique_keys(text) {
                Err(ParseError::DuplicateKey { path: p, line, .. }) => {
                    assert_eq!(p, path);
                    assert_eq!(line, 1);
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let e = parse_unique_keys(r#"{"a": 1,}"#).unwrap_err();
        assert!(matches!(e, ParseError::Syntax(_)), "{e:?}");
        let e = parse_unique_keys(r#"{"a": 1} x"#).unwrap_err();
        assert!(matches!(e, ParseError::Syntax(_)), "{e:?}");
        // Numbers keep their kind.
        let v = parse_unique_keys(r#"[1, -1, 1.5, 18446744073709551615]"#).unwrap();
        assert_eq!(v, json!([1, -1, 1.5, u64::MAX]));
    }
}
