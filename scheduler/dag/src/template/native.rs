//! Python's `ast.literal_eval` over a rendered string, as Jinja2's `native_concat`
//! (`jinja2/nativetypes.py`) applies it when a DAG sets `render_template_as_native_obj`:
//! strings, numbers, `True`/`False`/`None`, lists, tuples, sets and dicts, with unary
//! `+`/`-` on numbers. Anything else (a leading space included: Jinja2 parses without
//! stripping it) is not a literal and the text stays a string.

use serde_json::{Map, Number, Value};

/// The literal `s` is, as JSON (tuples and sets become lists, dict keys text); None when
/// `s` is not a Python literal or holds one JSON cannot (complex numbers, bytes, integers
/// beyond 64 bits, non-finite floats).
pub(crate) fn literal_eval(s: &str) -> Option<Value> {
    let mut p = Parser {
        s: s.as_bytes(),
        at: 0,
    };
    if s.starts_with([' ', '\t']) {
        return None;
    }
    let v = p.top()?;
    p.ws(true);
    (p.at == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    /// Skips spaces (and newlines inside brackets, or at the end).
    fn ws(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' || (newlines && (c == b'\n' || c == b'\r')) {
                self.at += 1;
            } else if c == b'\\' && self.s.get(self.at + 1) == Some(&b'\n') {
                self.at += 2;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: u8, newlines: bool) -> bool {
        self.ws(newlines);
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// The whole input: one value, or a tuple without parentheses (`1, 2`).
    fn top(&mut self) -> Option<Value> {
        let first = self.value(false)?;
        if !self.eat(b',', false) {
            return Some(first);
        }
        let mut items = vec![first];
        loop {
            self.ws(false);
            if self.at == self.s.len() || self.peek() == Some(b'\n') {
                break;
            }
            items.push(self.value(false)?);
            if !self.eat(b',', false) {
                break;
            }
        }
        Some(Value::Array(items))
    }

    fn seq(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close, true) {
                return Some(items);
            }
            items.push(self.value(true)?);
            if !self.eat(b',', true) {
                return self.eat(close, true).then_some(items);
            }
        }
    }

    fn value(&mut self, nl: bool) -> Option<Value> {
        self.ws(nl);
        match self.peek()? {
            b'[' => {
                self.at += 1;
                self.seq(b']').map(Value::Array)
            }
            b'(' => {
                self.at += 1;
                let start = self.at;
                // `(x)` is x; `(x,)` and `()` are tuples.
                if self.eat(b')', true) {
                    return Some(Value::Array(Vec::new()));
                }
                self.at = start;
                let first = self.value(true)?;
                if self.eat(b')', true) {
                    return Some(first);
                }
                if !self.eat(b',', true) {
                    return None;
                }
                let mut rest = self.seq(b')')?;
                rest.insert(0, first);
                Some(Value::Array(rest))
            }
            b'{' => {
                self.at += 1;
                if self.eat(b'}', true) {
                    return Some(Value::Object(Map::new()));
                }
                let first = self.value(true)?;
                if self.eat(b':', true) {
                    let mut m = Map::new();
                    let v = self.value(true)?;
                    m.insert(key(first)?, v);
                    loop {
                        if !self.eat(b',', true) {
                            return self.eat(b'}', true).then_some(Value::Object(m));
                        }
                        if self.eat(b'}', true) {
                            return Some(Value::Object(m));
                        }
                        let k = self.value(true)?;
                        if !self.eat(b':', true) {
                            return None;
                        }
                        let v = self.value(true)?;
                        m.insert(key(k)?, v);
                    }
                }
                // A set.
                let mut items = vec![first];
                if self.eat(b',', true) {
                    items.extend(self.seq(b'}')?);
                } else if !self.eat(b'}', true) {
                    return None;
                }
                let mut unique: Vec<Value> = Vec::new();
                for i in items {
                    if !unique.contains(&i) {
                        unique.push(i);
                    }
                }
                Some(Value::Array(unique))
            }
            b'\'' | b'"' => {
                let mut out = self.string()?;
                // Adjacent strings concatenate.
                loop {
                    let save = self.at;
                    self.ws(nl);
                    if matches!(self.peek(), Some(b'\'' | b'"')) {
                        out.push_str(&self.string()?);
                    } else {
                        self.at = save;
                        return Some(Value::String(out));
                    }
                }
            }
            b'r' | b'R' | b'u' | b'U' if matches!(self.s.get(self.at + 1), Some(b'\'' | b'"')) => {
                let raw = matches!(self.peek(), Some(b'r' | b'R'));
                self.at += 1;
                if raw {
                    self.raw_string().map(Value::String)
                } else {
                    self.string().map(Value::String)
                }
            }
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.at += 1;
                self.ws(nl);
                match self.number()? {
                    Value::Number(n) if neg => negate(&n),
                    v @ Value::Number(_) => Some(v),
                    _ => None,
                }
            }
            b'0'..=b'9' | b'.' => self.number(),
            _ => {
                let word: Vec<u8> = self.s[self.at..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .copied()
                    .collect();
                let v = match word.as_slice() {
                    b"True" => Value::Bool(true),
                    b"False" => Value::Bool(false),
                    b"None" => Value::Null,
                    _ => return None,
                };
                self.at += word.len();
                Some(v)
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.at;
        while let Some(c) = self.peek() {
            let sign_of_exponent = (c == b'+' || c == b'-')
                && matches!(self.s.get(self.at - 1), Some(b'e' | b'E'))
                && !self.s[start..self.at].starts_with(b"0x");
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || sign_of_exponent {
                self.at += 1;
            } else {
                break;
            }
        }
        let text: String = std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .to_owned();
        if text.contains("__") || text.ends_with('_') || text.starts_with('_') {
            return None;
        }
        let t = text.replace('_', "");
        let lower = t.to_ascii_lowercase();
        let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
            .iter()
            .find(|(p, _)| lower.starts_with(p));
        if let Some((p, r)) = radix {
            return i64::from_str_radix(&lower[p.len()..], *r)
                .ok()
                .map(Value::from);
        }
        if lower.ends_with('j') {
            return None;
        }
        if lower.chars().all(|c| c.is_ascii_digit()) {
            // Python 3 refuses leading zeros in a non-zero decimal integer.
            if lower.len() > 1 && lower.starts_with('0') && lower.chars().any(|c| c != '0') {
                return None;
            }
            return lower.parse::<i64>().ok().map(Value::from);
        }
        let f: f64 = lower.parse().ok()?;
        Number::from_f64(f).map(Value::Number)
    }

    fn string(&mut self) -> Option<String> {
        let q = self.peek()?;
        let triple = self.s.get(self.at..self.at + 3) == Some(&[q, q, q][..]);
        self.at += if triple { 3 } else { 1 };
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            if triple && self.s.get(self.at..self.at + 3) == Some(&[q, q, q][..]) {
                self.at += 3;
                break;
            }
            if !triple && c == q {
                self.at += 1;
                break;
            }
            if !triple && c == b'\n' {
                return None;
            }
            self.at += 1;
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let e = self.peek()?;
            self.at += 1;
            match e {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'0' => out.push(0),
                b'\\' | b'\'' | b'"' => out.push(e),
                b'\n' => {}
                b'x' | b'u' | b'U' => {
                    let n = match e {
                        b'x' => 2,
                        b'u' => 4,
                        _ => 8,
                    };
                    let hex = std::str::from_utf8(self.s.get(self.at..self.at + n)?).ok()?;
                    let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                    self.at += n;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        }
        String::from_utf8(out).ok()
    }

    fn raw_string(&mut self) -> Option<String> {
        let q = self.peek()?;
        self.at += 1;
        let start = self.at;
        while self.peek()? != q {
            if self.peek() == Some(b'\\') {
                self.at += 1;
            }
            self.at += 1;
        }
        let s = std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .to_owned();
        self.at += 1;
        Some(s)
    }
}

fn negate(n: &Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return i.checked_neg().map(Value::from);
    }
    Number::from_f64(-n.as_f64()?).map(Value::Number)
}

/// A dict key as JSON object key (Python's `json.dumps` turns numbers and booleans into
/// text the same way).
fn key(v: Value) -> Option<String> {
    Some(match v {
        Value::String(s) => s,
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_literals_read_as_literal_eval_reads_them() {
        for (s, v) in [
            ("123", json!(123)),
            ("-1.5", json!(-1.5)),
            ("[1, 'a', None, True]", json!([1, "a", null, true])),
            (
                "{'a': [1, 2], \"b\": {'c': False}}",
                json!({"a": [1, 2], "b": {"c": false}}),
            ),
            ("(1, 2)", json!([1, 2])),
            ("1, 2", json!([1, 2])),
            ("(1,)", json!([1])),
            ("'it''s'", json!("its")),
            ("'a\\nb'", json!("a\nb")),
            ("1_000", json!(1000)),
            ("0x10", json!(16)),
            ("[1, 2] ", json!([1, 2])),
            ("{1, 1, 2}", json!([1, 2])),
            ("{1: 'x'}", json!({"1": "x"})),
        ] {
            assert_eq!(literal_eval(s), Some(v), "{s}");
        }
    }

    #[test]
    fn other_text_is_not_a_literal() {
        for s in [
            "hello",
            " 1",
            "007",
            "1 + 2",
            "[1, 2",
            "x()",
            "2026-11-01",
            "1j",
            "",
            "True False",
        ] {
            assert_eq!(literal_eval(s), None, "{s}");
        }
    }
}
