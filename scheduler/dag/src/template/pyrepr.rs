//! Values printed as Jinja2 prints them in Airflow: `str()` of the value (`None`,
//! `True`, `[1, 'a']`, `{'k': 'v'}`, `2026-11-01 02:00:00+00:00`), and template values
//! back to JSON ([`to_json`]) for what leaves the renderer natively.

use std::fmt::Write as _;

use minijinja::value::{ObjectRepr, ValueKind};
use minijinja::{Error, Value as J};
use serde_json::Value;

use super::dates;

/// Python's `repr()` of a float: the shortest text that reads back, in exponent form
/// below 1e-4 and from 1e16 (`1e+16`, `1.5e-05`), always with a `.0` otherwise.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..16).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Python's `repr()` of a string: single quotes unless it holds one and no double quote.
fn str_repr(out: &mut String, s: &str) {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(q);
}

/// The Python type name of a value, for errors.
pub(crate) fn type_name(v: &J) -> &'static str {
    if dates::as_dt(v).is_some() {
        return "DateTime";
    }
    if dates::as_date(v).is_some() {
        return "date";
    }
    if dates::as_td(v).is_some() {
        return "timedelta";
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// Python's `str()` of a value.
pub(crate) fn write_str(out: &mut String, v: &J) -> Result<(), Error> {
    match v.kind() {
        ValueKind::String => out.push_str(v.as_str().unwrap_or("")),
        ValueKind::Plain => {
            let _ = write!(out, "{v}");
        }
        _ => write_repr(out, v)?,
    }
    Ok(())
}

/// Python's `repr()` of a value.
fn write_repr(out: &mut String, v: &J) -> Result<(), Error> {
    if let Some(r) = dates::py_repr(v) {
        out.push_str(&r);
        return Ok(());
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number if v.is_integer() => {
            let _ = write!(out, "{v}");
        }
        ValueKind::Number => {
            out.push_str(&float_repr(f64::try_from(v.clone()).unwrap_or(f64::NAN)))
        }
        ValueKind::String => str_repr(out, v.as_str().unwrap_or("")),
        ValueKind::Seq => {
            out.push('[');
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &item)?;
            }
            out.push(']');
        }
        ValueKind::Map if v.as_object().is_some_and(|o| o.repr() == ObjectRepr::Map) => {
            out.push('{');
            for (i, k) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &k)?;
                out.push_str(": ");
                write_repr(out, &v.get_item(&k)?)?;
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
    Ok(())
}

/// A template value as JSON: dates as ISO 8601 text (`2026-11-01T02:00:00+00:00`),
/// timedeltas as seconds, other objects as their text.
pub(crate) fn to_json(v: &J) -> Result<Value, Error> {
    if let Some(d) = dates::as_dt(v) {
        return Ok(Value::String(d.isoformat("T")));
    }
    if let Some(t) = dates::as_td(v) {
        return Ok(serde_json::json!(t.0 as f64 / 1e6));
    }
    Ok(match v.kind() {
        ValueKind::Undefined | ValueKind::None => Value::Null,
        ValueKind::Bool => Value::Bool(v.is_true()),
        ValueKind::Number if v.is_integer() => match i64::try_from(v.clone()) {
            Ok(i) => Value::from(i),
            Err(_) => Value::String(v.to_string()),
        },
        ValueKind::Number => {
            serde_json::Number::from_f64(f64::try_from(v.clone()).unwrap_or(f64::NAN))
                .map_or(Value::Null, Value::Number)
        }
        ValueKind::String => Value::String(v.as_str().unwrap_or("").to_owned()),
        ValueKind::Seq | ValueKind::Iterable => Value::Array(
            v.try_iter()?
                .map(|i| to_json(&i))
                .collect::<Result<_, _>>()?,
        ),
        ValueKind::Map if v.as_object().is_some_and(|o| o.repr() == ObjectRepr::Map) => {
            let mut m = serde_json::Map::new();
            for k in v.try_iter()? {
                let key = match k.as_str() {
                    Some(s) => s.to_owned(),
                    None => {
                        let mut s = String::new();
                        write_str(&mut s, &k)?;
                        s
                    }
                };
                m.insert(key, to_json(&v.get_item(&k)?)?);
            }
            Value::Object(m)
        }
        _ => {
            let mut s = String::new();
            write_str(&mut s, v)?;
            Value::String(s)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python() {
        for (f, s) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (123456.789, "123456.789"),
            (-2.5, "-2.5"),
            (1e-4, "0.0001"),
        ] {
            assert_eq!(float_repr(f), s, "{f}");
        }
    }

    #[test]
    fn values_print_as_python_str() {
        let v = J::from_serialize(serde_json::json!([1, "it's", null, true, {"k": 1.5}]));
        let mut s = String::new();
        write_str(&mut s, &v).expect("prints");
        assert_eq!(s, "[1, \"it's\", None, True, {'k': 1.5}]");
    }
}
