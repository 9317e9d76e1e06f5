//! The `toml` object of a DAG's description written as a lithoflow TOML DAG file, so the
//! same parser and validator as for TOML files checks it. Every value is written inline
//! on one line (the DAG's keys first, then one `[tasks."id"]` table per task), and the
//! line each part starts on is kept, so the parser's diagnostics can be moved back to the
//! `.py` file's lines.
//!
//! The description's conventions (docs/airflow-runtime.md): `{"$datetime": "<RFC 3339>"}`
//! is a TOML date-time; `null` is an absent key (TOML has no null).

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// A generated TOML DAG file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TomlText {
    /// The file's text.
    pub text: String,
    /// Where each task's table starts (1-based line), in order; lines before the first
    /// are the DAG's keys.
    pub tasks: Vec<(usize, String)>,
}

impl TomlText {
    /// The task whose table holds `line` (None: a DAG-level key).
    pub(crate) fn task_at(&self, line: usize) -> Option<&str> {
        self.tasks
            .iter()
            .rev()
            .find(|(start, _)| *start <= line)
            .map(|(_, id)| id.as_str())
    }
}

/// A value that TOML cannot hold, with the key path it is under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unwritable {
    /// The task (None: a DAG-level key).
    pub task: Option<String>,
    /// The key path (`op_kwargs.x`).
    pub key: String,
    /// Why.
    pub reason: String,
}

/// Writes `doc` as TOML, or says which values cannot be written.
pub(crate) fn to_toml(doc: &Map<String, Value>) -> Result<TomlText, Vec<Unwritable>> {
    let mut out = TomlText::default();
    let mut problems = Vec::new();
    let mut line = 1;
    for (k, v) in doc {
        if k == "tasks" || v.is_null() {
            continue;
        }
        match inline(v) {
            Ok(s) => {
                let _ = writeln!(out.text, "{} = {s}", key(k));
                line += 1;
            }
            Err(reason) => problems.push(Unwritable {
                task: None,
                key: path(k, &reason.0),
                reason: reason.1,
            }),
        }
    }
    if let Some(tasks) = doc.get("tasks") {
        let Value::Object(tasks) = tasks else {
            problems.push(Unwritable {
                task: None,
                key: "tasks".to_owned(),
                reason: "the tasks are not a table".to_owned(),
            });
            return Err(problems);
        };
        for (id, table) in tasks {
            let _ = writeln!(out.text, "\n[tasks.{}]", key(id));
            line += 1;
            out.tasks.push((line, id.clone()));
            line += 1;
            let Value::Object(table) = table else {
                problems.push(Unwritable {
                    task: Some(id.clone()),
                    key: String::new(),
                    reason: "the task is not a table".to_owned(),
                });
                continue;
            };
            for (k, v) in table {
                if v.is_null() {
                    continue;
                }
                match inline(v) {
                    Ok(s) => {
                        let _ = writeln!(out.text, "{} = {s}", key(k));
                        line += 1;
                    }
                    Err(reason) => problems.push(Unwritable {
                        task: Some(id.clone()),
                        key: path(k, &reason.0),
                        reason: reason.1,
                    }),
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn path(first: &str, rest: &str) -> String {
    if rest.is_empty() {
        first.to_owned()
    } else {
        format!("{first}{rest}")
    }
}

/// A key, bare when TOML allows it, else quoted.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        quote(k)
    }
}

/// A TOML basic string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One value on one line; an error names the key path under it and why.
fn inline(v: &Value) -> Result<String, (String, String)> {
    match v {
        Value::Null => Err((
            String::new(),
            "None has no TOML form (TOML has no null)".to_owned(),
        )),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => {
            let s = n.to_string();
            if n.is_f64() && !s.contains(['.', 'e', 'E']) {
                Ok(format!("{s}.0"))
            } else {
                Ok(s)
            }
        }
        Value::String(s) => Ok(quote(s)),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                parts.push(inline(item).map_err(|(p, r)| (format!("[{i}]{p}"), r))?);
            }
            Ok(format!("[{}]", parts.join(", ")))
        }
        Value::Object(m) => {
            if let (1, Some(Value::String(d))) = (m.len(), m.get("$datetime")) {
                return datetime(d)
                    .ok_or_else(|| (String::new(), format!("`{d}` is not an RFC 3339 date-time")));
            }
            let mut parts = Vec::with_capacity(m.len());
            for (k, item) in m {
                parts.push(format!(
                    "{} = {}",
                    key(k),
                    inline(item).map_err(|(p, r)| (format!(".{k}{p}"), r))?
                ));
            }
            if parts.is_empty() {
                Ok("{}".to_owned())
            } else {
                Ok(format!("{{ {} }}", parts.join(", ")))
            }
        }
    }
}

/// An RFC 3339 date-time as a TOML offset date-time.
fn datetime(s: &str) -> Option<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(parsed.to_rfc3339())
}
