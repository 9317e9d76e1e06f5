//! The loader's `toml` member (a lithoflow TOML DAG file as JSON, issue 19's spec) as the
//! values `emit.rs` writes: `{"$datetime": "..."}` is a TOML date-time, everything else
//! plain JSON. TOML has no null: a `None` the DAG file gave is reported, never written.

use chrono::DateTime;
use serde_json::Value;

use crate::emit::TomlVal;

/// `v` as a TOML value, or why it has none.
pub(crate) fn to_toml(v: &Value) -> Result<TomlVal, String> {
    match v {
        Value::Null => Err("Python `None`, which TOML cannot hold (it has no null)".into()),
        Value::Bool(b) => Ok(TomlVal::Bool(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(TomlVal::Int(i)),
            (None, Some(_)) if n.is_u64() => Err(format!(
                "the integer {n} is larger than TOML's integers (64-bit signed)"
            )),
            (None, Some(f)) => Ok(TomlVal::Float(f)),
            (None, None) => Err(format!("the number {n} has no TOML form")),
        },
        Value::String(s) => Ok(TomlVal::Str(s.clone())),
        Value::Array(items) => items
            .iter()
            .map(to_toml)
            .collect::<Result<Vec<_>, _>>()
            .map(TomlVal::Array),
        Value::Object(map) => {
            if let (1, Some(Value::String(d))) = (map.len(), map.get("$datetime")) {
                return datetime(d).map(TomlVal::Datetime);
            }
            map.iter()
                .map(|(k, v)| to_toml(v).map(|t| (k.clone(), t)))
                .collect::<Result<Vec<_>, _>>()
                .map(TomlVal::Table)
        }
    }
}

/// An RFC 3339 date-time as a TOML literal (UTC written `Z`, as the static reader does).
fn datetime(text: &str) -> Result<String, String> {
    let parsed = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("the date-time {text:?} is not RFC 3339 ({e})"))?;
    if parsed.offset().local_minus_utc() == 0 {
        Ok(parsed
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.fZ")
            .to_string())
    } else {
        Ok(parsed.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::value_text;
    use serde_json::json;

    fn text(v: Value) -> String {
        match to_toml(&v) {
            Ok(t) => value_text(&t),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn values() {
        assert_eq!(text(json!(1)), "1");
        assert_eq!(text(json!(0.5)), "0.5");
        assert_eq!(text(json!("a\"b")), r#""a\"b""#);
        assert_eq!(text(json!([1, "x", true])), r#"[1, "x", true]"#);
        assert_eq!(text(json!({"a": {"b": 1}})), "{ a = { b = 1 } }");
        assert_eq!(
            text(json!({"$datetime": "2026-01-01T00:00:00+00:00"})),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            text(json!({"$datetime": "2026-01-01T06:30:00+02:00"})),
            "2026-01-01T06:30:00+02:00"
        );
        assert!(text(json!({"$datetime": "yesterday"})).starts_with("error: the date-time"));
        assert!(text(json!({"x": [1, null]})).contains("TOML cannot hold"));
        assert!(text(json!(u64::MAX)).contains("larger than"));
    }
}
