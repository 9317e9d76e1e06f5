//! Single values: read, type-checked, and described in "found ..." messages.

use std::time::Duration;

use serde_json::{Map, Value};
use toml::de::DeValue;

use super::{Span, Sv, Walker};
use crate::model::{FuncRef, MAX_ID_LEN, is_valid_id};

/// What a value is, for "found ..." messages.
pub(super) fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => {
            let shown: String = s.chars().take(60).collect();
            if shown.len() < s.len() {
                format!("string {shown:?}…")
            } else {
                format!("string {shown:?}")
            }
        }
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

pub(super) fn int_of(v: &DeValue<'_>) -> Option<i128> {
    match v {
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

pub(super) fn float_of(v: &DeValue<'_>) -> Option<f64> {
    match v {
        DeValue::Float(f) => {
            let s = f.as_str();
            match s {
                "inf" | "+inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                "nan" | "+nan" | "-nan" => Some(f64::NAN),
                _ => s.replace('_', "").parse().ok(),
            }
        }
        _ => int_of(v).map(|i| i as f64),
    }
}

impl Walker<'_> {
    pub(super) fn string(&mut self, key: &str, v: &Sv<'_>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(key, v, "a string");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, key: &str, v: &Sv<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, v, "a boolean (true or false)");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub(super) fn int(&mut self, key: &str, v: &Sv<'_>, min: u64, max: u64) -> Option<u64> {
        let expected = if min == 0 {
            "a non-negative integer"
        } else {
            "a positive integer"
        };
        match int_of(v.get_ref()) {
            Some(i) if i >= i128::from(min) && i <= i128::from(max) => u64::try_from(i).ok(),
            Some(i) if i >= i128::from(min) => {
                self.error(
                    v.span(),
                    format!("`{key}` is too large: {i} is more than {max}"),
                );
                None
            }
            _ => {
                self.wrong_type(key, v, expected);
                None
            }
        }
    }

    /// A signed integer in `min..=max`.
    pub(super) fn signed(&mut self, key: &str, v: &Sv<'_>, min: i64, max: i64) -> Option<i64> {
        match int_of(v.get_ref()) {
            Some(i) if i >= i128::from(min) && i <= i128::from(max) => i64::try_from(i).ok(),
            Some(i) if i > i128::from(max) => {
                self.error(
                    v.span(),
                    format!("`{key}` is too large: {i} is more than {max}"),
                );
                None
            }
            Some(i) => {
                self.error(
                    v.span(),
                    format!("`{key}` is too small: {i} is less than {min}"),
                );
                None
            }
            None => {
                self.wrong_type(key, v, "an integer");
                None
            }
        }
    }

    pub(super) fn duration(&mut self, key: &str, v: &Sv<'_>) -> Option<Duration> {
        const EXPECTED: &str =
            "a duration such as \"90s\", \"5m\" or \"1h30m\", or a number of seconds";
        let parsed = match v.get_ref() {
            DeValue::String(s) => crate::duration::parse(s),
            DeValue::Integer(_) | DeValue::Float(_) => match float_of(v.get_ref()) {
                Some(f) => crate::duration::from_secs(f),
                None => Err("not a number".to_owned()),
            },
            _ => {
                self.wrong_type(key, v, EXPECTED);
                return None;
            }
        };
        match parsed {
            Ok(d) => Some(d),
            Err(why) => {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` must be {EXPECTED}, found {} ({why})",
                        describe(v.get_ref())
                    ),
                );
                None
            }
        }
    }

    pub(super) fn string_list(&mut self, key: &str, v: &Sv<'_>) -> Option<Vec<String>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type(key, v, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                other => {
                    self.error(
                        item.span(),
                        format!("`{key}` must hold only strings, found {}", describe(other)),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A TOML value as JSON, the form function arguments and XCom values take.
    pub(super) fn json(&mut self, key: &str, v: &Sv<'_>) -> Option<Value> {
        Some(match v.get_ref() {
            DeValue::String(s) => Value::String(s.to_string()),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Datetime(d) => Value::String(d.to_string()),
            DeValue::Integer(_) => match int_of(v.get_ref()).and_then(|i| i64::try_from(i).ok()) {
                Some(i) => Value::from(i),
                None => {
                    self.error(
                        v.span(),
                        format!("`{key}` holds an integer that does not fit in 64 bits"),
                    );
                    return None;
                }
            },
            DeValue::Float(_) => match float_of(v.get_ref()).and_then(serde_json::Number::from_f64)
            {
                Some(n) => Value::Number(n),
                None => {
                    self.error(
                        v.span(),
                        format!("`{key}` holds {}, which JSON (and so a function argument) cannot represent", describe(v.get_ref())),
                    );
                    return None;
                }
            },
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items.iter() {
                    out.push(self.json(key, item)?);
                }
                Value::Array(out)
            }
            DeValue::Table(t) => {
                let mut out = Map::new();
                for (k, item) in t.iter() {
                    out.insert(k.get_ref().to_string(), self.json(key, item)?);
                }
                Value::Object(out)
            }
        })
    }

    pub(super) fn id(&mut self, what: &str, id: &str, span: Span) -> bool {
        if is_valid_id(id) {
            return true;
        }
        let why = if id.is_empty() {
            "it is empty".to_owned()
        } else if id.len() > MAX_ID_LEN {
            format!("it is {} characters long", id.len())
        } else {
            let bad: String = id
                .chars()
                .filter(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                .take(5)
                .collect();
            format!("it contains {bad:?}")
        };
        let shown: String = id.chars().take(60).collect();
        self.error(
            span,
            format!(
                "invalid {what} {shown:?}: {why}; expected only letters, digits, `_`, `.` and `-`, at most {MAX_ID_LEN} characters"
            ),
        );
        false
    }

    /// A function reference or an array of them (Airflow's callbacks take either).
    pub(super) fn func_refs(&mut self, key: &str, v: &Sv<'_>) -> Option<Vec<FuncRef>> {
        let DeValue::Array(items) = v.get_ref() else {
            return self.func_ref(key, v).map(|f| vec![f]);
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match self.func_ref(key, item) {
                Some(f) => out.push(f),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(super) fn func_ref(&mut self, key: &str, v: &Sv<'_>) -> Option<FuncRef> {
        let s = self.string(key, v)?;
        let ident = |p: &str| {
            let mut chars = p.chars();
            matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        };
        match s.split_once(':') {
            Some((module, function)) if module.split('.').all(ident) && ident(function) => {
                Some(FuncRef {
                    module: module.to_owned(),
                    function: function.to_owned(),
                })
            }
            _ => {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` must be a Python function reference \"module:function\" (for example \"my_functions:add\"), found {s:?}"
                    ),
                );
                None
            }
        }
    }
}
