//! The parts of Python's `urllib.parse` that Airflow's `Connection` uses to read and write
//! connection URIs (`urlsplit`, `quote`, `quote_plus`, `unquote`, `parse_qsl`,
//! `urlencode`), reproduced exactly (CPython 3.12's `Lib/urllib/parse.py`), so a URI means
//! here what it means to Airflow, including its quirks: a host is lowercased, a `#` starts
//! a fragment that is dropped, `+` in a query is a space.
//!
//! Pure: no IO.

use serde_json::Value;

/// A URI split as `urllib.parse.urlsplit` splits it (the fragment is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Split {
    /// The scheme, lowercased (`""` when there is none).
    pub scheme: String,
    /// What follows `//` up to the first `/`, `?` or `#`.
    pub netloc: String,
    /// The path (with its leading `/`).
    pub path: String,
    /// The query, without its `?`.
    pub query: String,
}

/// Characters Python's `urlsplit` allows in a scheme.
fn scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// `urllib.parse.urlsplit(url)`: leading C0 controls and spaces are stripped and tabs and
/// line breaks removed, as CPython does; an unbalanced `[` or `]` in the netloc is an
/// error ("Invalid IPv6 URL").
pub(crate) fn urlsplit(url: &str) -> Result<Split, String> {
    let url: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = url.as_str();
    let mut scheme = String::new();
    if let Some(i) = rest.find(':')
        && i > 0
        && rest.starts_with(|c: char| c.is_ascii_alphabetic())
        && rest[..i].chars().all(scheme_char)
    {
        scheme = rest[..i].to_ascii_lowercase();
        rest = &rest[i + 1..];
    }
    let mut netloc = String::new();
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = after[..end].to_owned();
        rest = &after[end..];
        if netloc.contains('[') != netloc.contains(']') {
            return Err("Invalid IPv6 URL".to_owned());
        }
    }
    if let Some(i) = rest.find('#') {
        rest = &rest[..i];
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    Ok(Split {
        scheme,
        netloc,
        path: path.to_owned(),
        query: query.to_owned(),
    })
}

impl Split {
    /// `username`: the user info's part before `:` (`None` without an `@`).
    pub(crate) fn username(&self) -> Option<&str> {
        let (info, _) = self.netloc.rsplit_once('@')?;
        Some(info.split_once(':').map_or(info, |(u, _)| u))
    }

    /// `password`: the user info's part after `:` (`None` without an `@` or a `:`).
    pub(crate) fn password(&self) -> Option<&str> {
        let (info, _) = self.netloc.rsplit_once('@')?;
        info.split_once(':').map(|(_, p)| p)
    }

    /// `_hostinfo`: the host (brackets removed) and the port text, if any.
    fn hostinfo(&self) -> (&str, Option<&str>) {
        let hostinfo = self
            .netloc
            .rsplit_once('@')
            .map_or(self.netloc.as_str(), |(_, h)| h);
        let (host, port) = match hostinfo.split_once('[') {
            Some((_, bracketed)) => {
                let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
                (host, after.split_once(':').map_or("", |(_, p)| p))
            }
            None => hostinfo.split_once(':').unwrap_or((hostinfo, "")),
        };
        (host, (!port.is_empty()).then_some(port))
    }

    /// `hostname`: lowercased (but an IPv6 zone after `%`), `None` when empty.
    pub(crate) fn hostname(&self) -> Option<String> {
        let (host, _) = self.hostinfo();
        if host.is_empty() {
            return None;
        }
        Some(match host.split_once('%') {
            Some((h, zone)) => format!("{}%{zone}", h.to_lowercase()),
            None => host.to_lowercase(),
        })
    }

    /// `port`: ASCII digits in 0-65535, with Python's messages otherwise.
    pub(crate) fn port(&self) -> Result<Option<u16>, String> {
        let Some(port) = self.hostinfo().1 else {
            return Ok(None);
        };
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "Port could not be cast to integer value as {}",
                py_repr(port)
            ));
        }
        port.parse::<u16>()
            .map(Some)
            .map_err(|_| "Port out of range 0-65535".to_owned())
    }
}

/// A string as Python's `repr` shows it (for error messages copied from Python).
pub(crate) fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "\\'"))
    }
}

/// Bytes `quote` never escapes.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~')
}

/// `quote(s, safe="")`: every byte of the UTF-8 text but `A-Za-z0-9_.-~` as `%XX`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `quote_plus(s, safe="")`: [`quote`] with spaces as `+`.
pub(crate) fn quote_plus(s: &str) -> String {
    s.split(' ').map(quote).collect::<Vec<_>>().join("+")
}

/// `unquote(s)`: `%XX` sequences decoded, the bytes read as UTF-8 with bad sequences
/// replaced; a `%` not followed by two hex digits is kept.
pub(crate) fn unquote(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(b) = u8::from_str_radix(hex, 16)
            && hex.bytes().all(|h| h.is_ascii_hexdigit())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `parse_qsl(qs, keep_blank_values=True)`: `&`-separated pairs, `+` as a space, a name
/// without `=` given an empty value.
pub(crate) fn parse_qsl(qs: &str) -> Vec<(String, String)> {
    qs.split('&')
        .filter(|nv| !nv.is_empty())
        .map(|nv| {
            let (n, v) = nv.split_once('=').unwrap_or((nv, ""));
            (unquote(&n.replace('+', " ")), unquote(&v.replace('+', " ")))
        })
        .collect()
}

/// `urlencode(pairs)` of string pairs: `quote_plus(k)=quote_plus(v)` joined by `&`.
pub(crate) fn urlencode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `json.dumps(value)` as Python writes it: `", "` and `": "` separators, non-ASCII
/// characters escaped (`ensure_ascii`), so a stored `extra` reads as Airflow's would.
pub(crate) fn py_json_dumps(v: &Value) -> String {
    let mut out = String::new();
    write_py_json(&mut out, v);
    out
}

fn write_py_json(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => write_py_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_str(out, k);
                out.push_str(": ");
                write_py_json(out, item);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn write_py_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urlsplit_splits_as_python_does() {
        // Values checked against CPython 3.12's urllib.parse.
        let s = urlsplit("postgres://User:p%40ss@DB.Example.com:5432/my%2Fdb?a=1&b=x+y#frag")
            .expect("splits");
        assert_eq!(s.scheme, "postgres");
        assert_eq!(s.netloc, "User:p%40ss@DB.Example.com:5432");
        assert_eq!(s.path, "/my%2Fdb");
        assert_eq!(s.query, "a=1&b=x+y");
        assert_eq!(s.username(), Some("User"));
        assert_eq!(s.password(), Some("p%40ss"));
        assert_eq!(s.hostname().as_deref(), Some("db.example.com"));
        assert_eq!(s.port(), Ok(Some(5432)));
        let bare = urlsplit("//host").expect("splits");
        assert_eq!((bare.scheme.as_str(), bare.netloc.as_str()), ("", "host"));
        assert_eq!(bare.username(), None);
        assert_eq!(bare.password(), None);
        let odd = urlsplit("x://a:b:c@[::1]:80").expect("splits");
        assert_eq!(odd.password(), Some("b:c"));
        assert_eq!(odd.hostname().as_deref(), Some("::1"));
        assert_eq!(odd.port(), Ok(Some(80)));
        assert_eq!(
            urlsplit("x://h:99999").expect("splits").port(),
            Err("Port out of range 0-65535".to_owned())
        );
        assert_eq!(
            urlsplit("x://h:8o").expect("splits").port(),
            Err("Port could not be cast to integer value as '8o'".to_owned())
        );
        assert!(urlsplit("x://[::1").is_err());
    }

    #[test]
    fn quoting_matches_python() {
        assert_eq!(quote("a b/c@d:é~"), "a%20b%2Fc%40d%3A%C3%A9~");
        assert_eq!(quote_plus("a b&c"), "a+b%26c");
        assert_eq!(unquote("p%40ss%2"), "p@ss%2");
        assert_eq!(unquote("%C3%A9%zz"), "é%zz");
        assert_eq!(
            parse_qsl("a=1&b=x+y&&c&d=%26"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "".into()),
                ("d".into(), "&".into())
            ]
        );
        assert_eq!(urlencode([("a b", "c/d"), ("e", "")]), "a+b=c%2Fd&e=");
        assert_eq!(
            py_json_dumps(&json!({"a": "é\"", "b": [1, true, null]})),
            r#"{"a": "\u00e9\"", "b": [1, true, null]}"#
        );
    }
}
