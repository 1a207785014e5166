//! The identity of a counted value: `countUnique` counts distinct JSON values, so `"1"` and
//! `1` differ, `1` and `1.0` do not, and objects are the same whatever their key order.

use serde_json::Value;

/// The canonical text of a JSON value: numbers by value (an integral number as an integer,
/// any other as the shortest float text), object keys sorted, no whitespace.
///
/// ```
/// use chronos_db::analytics::unique_key;
/// use serde_json::json;
/// assert_eq!(unique_key(&json!(1)), unique_key(&serde_json::from_str("1.0").unwrap()));
/// assert_ne!(unique_key(&json!(1)), unique_key(&json!("1")));
/// assert_eq!(unique_key(&json!({"b": 1, "a": [true, null]})), r#"{"a":[true,null],"b":1}"#);
/// ```
pub fn unique_key(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                out.push_str(&(f as i64).to_string())
            }
            (None, None, Some(f)) => out.push_str(&format!("{f:?}")),
            (None, None, None) => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(item) = map.get(k) {
                    write(item, out);
                }
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_share_a_key_and_different_ones_do_not() {
        let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap();
        assert_eq!(unique_key(&parse("2.50")), unique_key(&parse("2.5")));
        assert_eq!(unique_key(&parse("1e2")), unique_key(&json!(100)));
        assert_ne!(unique_key(&json!(true)), unique_key(&json!("true")));
        assert_ne!(unique_key(&json!(null)), unique_key(&json!("null")));
        assert_eq!(
            unique_key(&parse(r#"{"a":1,"b":2}"#)),
            unique_key(&parse(r#"{"b":2,"a":1}"#))
        );
        assert_ne!(unique_key(&json!([1, 2])), unique_key(&json!([2, 1])));
        assert_eq!(unique_key(&json!("a\"b")), r#""a\"b""#);
    }
}
