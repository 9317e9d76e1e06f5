//! Writing TOML by hand: the converter controls the order of keys and puts a comment
//! beside every value whose meaning it changed or took from Airflow's defaults.

use std::fmt::Write as _;

/// A TOML value, as the converter writes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TomlVal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<TomlVal>),
    /// An inline table, in insertion order.
    Table(Vec<(String, TomlVal)>),
    /// A TOML datetime literal, written as is (`2026-11-01T00:00:00Z`).
    Datetime(String),
}

/// One line of a table: a key, or a comment.
#[derive(Debug, Clone)]
pub(crate) enum Line {
    Key {
        key: String,
        value: TomlVal,
        comment: Option<String>,
    },
    Comment(String),
}

impl Line {
    pub(crate) fn key(key: &str, value: TomlVal) -> Line {
        Line::Key {
            key: key.to_owned(),
            value,
            comment: None,
        }
    }

    pub(crate) fn with_comment(key: &str, value: TomlVal, comment: impl Into<String>) -> Line {
        Line::Key {
            key: key.to_owned(),
            value,
            comment: Some(comment.into()),
        }
    }
}

/// A key, bare when TOML allows it.
pub(crate) fn key_text(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        string_text(k)
    }
}

/// A basic TOML string with the escapes TOML defines.
pub(crate) fn string_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A multi-line basic string: `"""` and a newline (which TOML drops), then the text.
fn multiline_text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::from("\"\"\"\n");
    for (i, &c) in chars.iter().enumerate() {
        match c {
            // A quote needs escaping only where it would close the string: as the
            // start of `"""`, or next to the closing delimiter.
            '"' => {
                let triple = chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"');
                if triple || i + 3 > chars.len() {
                    out.push_str("\\\"");
                } else {
                    out.push('"');
                }
            }
            '\\' => out.push_str("\\\\"),
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push_str("\"\"\"");
    out
}

pub(crate) fn value_text(v: &TomlVal) -> String {
    match v {
        TomlVal::Str(s) => string_text(s),
        TomlVal::Int(i) => i.to_string(),
        TomlVal::Float(f) => {
            let s = format!("{f:?}");
            if s.contains('.') || s.contains('e') || s.contains('E') {
                s
            } else {
                format!("{s}.0")
            }
        }
        TomlVal::Bool(b) => b.to_string(),
        TomlVal::Datetime(d) => d.clone(),
        TomlVal::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_text).collect();
            format!("[{}]", parts.join(", "))
        }
        TomlVal::Table(items) if items.is_empty() => "{}".into(),
        TomlVal::Table(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|(k, v)| format!("{} = {}", key_text(k), value_text(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// Comment text on one line: newlines in a message would end the comment early.
pub(crate) fn comment_text(c: &str) -> String {
    c.replace(['\n', '\r'], " ")
}

pub(crate) fn write_lines(out: &mut String, lines: &[Line]) {
    for line in lines {
        match line {
            Line::Key {
                key,
                value,
                comment,
            } => {
                let text = match value {
                    // Multi-line commands read better as TOML multi-line strings.
                    TomlVal::Str(s) if s.contains('\n') => multiline_text(s),
                    v => value_text(v),
                };
                let _ = write!(out, "{} = {}", key_text(key), text);
                if let Some(c) = comment {
                    let _ = write!(out, "  # {}", comment_text(c));
                }
                out.push('\n');
            }
            Line::Comment(c) => {
                for part in c.split('\n') {
                    let _ = writeln!(out, "# {}", part.trim_end());
                }
            }
        }
    }
}

/// A whole DAG file: header comments, top-level keys, `[default_args]`, the tasks.
#[derive(Debug, Default)]
pub(crate) struct TomlDoc {
    pub(crate) header: Vec<String>,
    pub(crate) top: Vec<Line>,
    pub(crate) default_args: Vec<Line>,
    pub(crate) tasks: Vec<(String, Vec<Line>)>,
}

impl TomlDoc {
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for h in &self.header {
            let _ = writeln!(out, "# {}", comment_text(h));
        }
        if !self.header.is_empty() {
            out.push('\n');
        }
        write_lines(&mut out, &self.top);
        if !self.default_args.is_empty() {
            out.push_str("\n[default_args]\n");
            write_lines(&mut out, &self.default_args);
        }
        for (id, lines) in &self.tasks {
            let _ = writeln!(out, "\n[tasks.{}]", key_text(id));
            write_lines(&mut out, lines);
        }
        out
    }
}

/// Removes `indent` columns of leading whitespace from every line but the first (which
/// starts at the code itself), for code copied out of an indented block.
pub(crate) fn dedent(text: &str, indent: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            let ws = line
                .chars()
                .take(indent)
                .take_while(|c| *c == ' ' || *c == '\t')
                .count();
            out.push_str(&line[ws..]);
        } else {
            out.push_str(line);
        }
    }
    out
}
