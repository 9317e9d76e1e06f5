//! A loader's answer turned into a [`DagFileResult`]: each DAG's description written as
//! TOML ([`super::toml_text`]) and checked by the same parser as TOML files, with its
//! diagnostics moved to the `.py` file's lines and prefixed with the DAG (and task) they
//! concern; a file that raised becomes one error at the traceback's `file:line`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::Value;

use lithoflow_dag::diag::{Diagnostic, Severity, Source};
use lithoflow_dag::{
    Dag, IgnoredArg, LoadOptions, OperatorInfo, ParseTimeRead, PyDagInfo, parse_dag_with,
};

use super::toml_text::{TomlText, to_toml};
use crate::dagbag::{DagFileResult, ModuleStamp};

/// How many lines of a traceback an import error keeps (its end, where the error is).
const TRACEBACK_LINES: usize = 12;

/// The result of loading `path` (whose text is `text`) from the loader's `result` message.
/// `sys_path` is what the DAGs' tasks need on `sys.path` besides the file's folder.
pub(crate) fn file_result(
    path: &Path,
    text: &str,
    answer: &Value,
    options: &LoadOptions,
    sys_path: &[PathBuf],
) -> DagFileResult {
    let modules = modules(answer);
    let mut result = DagFileResult {
        path: path.to_owned(),
        dags: Vec::new(),
        diagnostics: Vec::new(),
        modules,
        python: true,
    };
    let src = Source::new(path, text);
    for w in array(answer, "warnings") {
        let message = str_of(w, "message").unwrap_or("(no message)").to_owned();
        result.diagnostics.push(at_line(
            &src,
            usize_of(w, "line"),
            Severity::Warning,
            message,
        ));
    }
    if answer.get("ok").and_then(Value::as_bool) != Some(true) {
        let error = answer.get("error").cloned().unwrap_or(Value::Null);
        result.diagnostics.push(import_error(path, text, &error));
        return result;
    }
    for desc in array(answer, "dags") {
        let (dag, diagnostics) = dag_from_description(path, &src, desc, options);
        result.diagnostics.extend(diagnostics);
        if let Some(mut dag) = dag {
            if let Some(info) = &mut dag.python {
                info.modules = result.modules.iter().map(|m| m.path.clone()).collect();
                info.sys_path = sys_path.to_vec();
            }
            result.dags.push(dag);
        }
    }
    sort(&mut result.diagnostics);
    result
}

/// One DAG's description checked as a TOML DAG file.
pub(crate) fn dag_from_description(
    path: &Path,
    src: &Source<'_>,
    desc: &Value,
    options: &LoadOptions,
) -> (Option<Dag>, Vec<Diagnostic>) {
    let dag_id = str_of(desc, "dag_id").unwrap_or("?").to_owned();
    let dag_line = usize_of(desc, "line");
    let tasks = desc.get("tasks").and_then(Value::as_object);
    let task_line = |task: &str| {
        tasks
            .and_then(|t| t.get(task))
            .and_then(|t| usize_of(t, "line"))
            .or(dag_line)
    };
    let prefix = |task: Option<&str>| match task {
        Some(t) => format!("DAG `{dag_id}`, task `{t}`: "),
        None => format!("DAG `{dag_id}`: "),
    };
    let mut diags = Vec::new();
    let mut refused = false;
    for f in array(desc, "findings") {
        let severity = match str_of(f, "severity") {
            Some("error") => Severity::Error,
            Some("note") => Severity::Note,
            _ => Severity::Warning,
        };
        refused |= severity == Severity::Error;
        let message = format!(
            "{}{}",
            prefix(str_of(f, "task")),
            str_of(f, "message").unwrap_or("(no message)")
        );
        diags.push(at_line(
            src,
            usize_of(f, "line").or(dag_line),
            severity,
            message,
        ));
    }
    if let Some(tasks) = tasks {
        for (id, t) in tasks {
            if t.get("unsupported").and_then(Value::as_bool) == Some(true) {
                diags.push(at_line(
                    src,
                    usize_of(t, "line").or(dag_line),
                    Severity::Warning,
                    format!(
                        "{}{} (from {}) is a provider operator lithoflow does not implement; running this task fails: keep the DAG on Airflow or replace the task",
                        prefix(Some(id)),
                        str_of(t, "operator").unwrap_or("?"),
                        str_of(t, "operator_module").unwrap_or("?"),
                    ),
                ));
            }
        }
    }
    let Some(doc) = desc.get("toml").and_then(Value::as_object) else {
        diags.push(at_line(
            src,
            dag_line,
            Severity::Error,
            format!("{}the loader gave no settings for this DAG", prefix(None)),
        ));
        return (None, diags);
    };
    let mut doc = doc.clone();
    doc.entry("dag_id".to_owned())
        .or_insert_with(|| Value::String(dag_id.clone()));
    let toml = match to_toml(&doc) {
        Ok(t) => t,
        Err(problems) => {
            for p in problems {
                let line = p.task.as_deref().map_or(dag_line, task_line);
                diags.push(at_line(
                    src,
                    line,
                    Severity::Error,
                    format!(
                        "{}`{}` cannot be given to lithoflow: {}",
                        prefix(p.task.as_deref()),
                        p.key,
                        p.reason
                    ),
                ));
            }
            return (None, diags);
        }
    };
    let (dag, parsed) = parse_dag_with(path, &toml.text, options);
    for d in parsed {
        diags.push(remap(src, &toml, d, dag_line, &task_line, &prefix));
    }
    let Some(mut dag) = dag.filter(|_| !refused) else {
        return (None, diags);
    };
    dag.python = Some(py_info(desc, dag_line));
    if let Some(tasks) = tasks {
        for task in &mut dag.tasks {
            if let Some(t) = tasks.get(&task.task_id) {
                task.operator = Some(operator_info(t));
            }
        }
    }
    (Some(dag), diags)
}

/// A parser diagnostic about the generated TOML, moved to the `.py` line of the DAG or
/// task it is about.
fn remap(
    src: &Source<'_>,
    toml: &TomlText,
    d: Diagnostic,
    dag_line: Option<usize>,
    task_line: &dyn Fn(&str) -> Option<usize>,
    prefix: &dyn Fn(Option<&str>) -> String,
) -> Diagnostic {
    let task = d.location.as_ref().and_then(|l| toml.task_at(l.line));
    let line = task.map_or(dag_line, task_line);
    let message = format!("{}{}", prefix(task), d.message);
    at_line(src, line, d.severity, message)
}

fn py_info(desc: &Value, line: Option<usize>) -> PyDagInfo {
    PyDagInfo {
        line: line.unwrap_or(0),
        airflow_version: desc
            .get("airflow_version")
            .and_then(Value::as_u64)
            .and_then(|v| u8::try_from(v).ok())
            .unwrap_or(2),
        version_reason: str_of(desc, "version_reason")
            .unwrap_or_default()
            .to_owned(),
        ignored: ignored(desc),
        parse_time: array(desc, "parse_time")
            .iter()
            .map(|p| ParseTimeRead {
                what: str_of(p, "what").unwrap_or_default().to_owned(),
                line: usize_of(p, "line").unwrap_or(0),
            })
            .collect(),
        modules: Vec::new(),
        sys_path: Vec::new(),
    }
}

fn operator_info(t: &Value) -> OperatorInfo {
    OperatorInfo {
        operator: str_of(t, "operator").unwrap_or_default().to_owned(),
        operator_module: str_of(t, "operator_module").unwrap_or_default().to_owned(),
        line: usize_of(t, "line").unwrap_or(0),
        unsupported: t.get("unsupported").and_then(Value::as_bool) == Some(true),
        custom: t.get("custom").and_then(Value::as_bool) == Some(true),
        ignored: ignored(t),
        callable: callable_shown(t),
    }
}

/// The task's main callable as `qualname (file:line)`: `python_callable`, else the
/// first one the description names.
fn callable_shown(t: &Value) -> Option<String> {
    let callables = t.get("callables")?.as_object()?;
    let c = callables
        .get("python_callable")
        .or_else(|| callables.values().next())?;
    let name = str_of(c, "qualname")?;
    let file = str_of(c, "file")
        .and_then(|f| Path::new(f).file_name())
        .map(|f| f.to_string_lossy().into_owned());
    Some(match (file, usize_of(c, "line")) {
        (Some(f), Some(l)) => format!("{name} ({f}:{l})"),
        (Some(f), None) => format!("{name} ({f})"),
        _ => name.to_owned(),
    })
}

fn ignored(v: &Value) -> Vec<IgnoredArg> {
    array(v, "ignored")
        .iter()
        .map(|i| IgnoredArg {
            name: str_of(i, "name").unwrap_or_default().to_owned(),
            line: usize_of(i, "line").unwrap_or(0),
        })
        .collect()
}

/// The modules of the DAGs folder the file imported, with their modification times.
fn modules(answer: &Value) -> Vec<ModuleStamp> {
    array(answer, "modules")
        .iter()
        .filter_map(|m| {
            Some(ModuleStamp {
                path: PathBuf::from(str_of(m, "path")?),
                mtime_ns: m.get("mtime_ns").and_then(Value::as_u64),
            })
        })
        .collect()
}

/// The error of a file that could not be imported, at the traceback's `file:line`
/// (another module of the DAGs folder when the error is there), with the exception and
/// the end of the traceback.
pub(crate) fn import_error(path: &Path, text: &str, error: &Value) -> Diagnostic {
    let kind = str_of(error, "kind").unwrap_or("exception");
    let ty = str_of(error, "type").unwrap_or("Exception");
    let message = str_of(error, "message").unwrap_or_default();
    let mut shown = match kind {
        "timeout" | "memory" | "crash" if ty.is_empty() || ty == "Exception" => message.to_owned(),
        _ if message.is_empty() => ty.to_owned(),
        _ => format!("{ty}: {message}"),
    };
    if let Some(tb) = str_of(error, "traceback").filter(|t| !t.trim().is_empty()) {
        let mut lines: Vec<&str> = tb.trim_end().lines().collect();
        // Its last line repeats the exception, which the message starts with.
        if lines
            .last()
            .is_some_and(|l| l.trim().ends_with(shown.as_str()))
        {
            lines.pop();
        }
        let from = lines.len().saturating_sub(TRACEBACK_LINES);
        shown.push('\n');
        if from > 0 {
            shown.push_str("Traceback (most recent call last, its end):\n");
        }
        shown.push_str(&lines[from..].join("\n"));
    }
    let file = str_of(error, "file").map(PathBuf::from);
    let line = usize_of(error, "line");
    let column = usize_of(error, "column");
    let same = |f: &Path| f == path || std::path::absolute(path).is_ok_and(|abs| abs == f);
    // A frame in lithoflow's own package (an error raised while the DAGs are checked,
    // after the file ran: a cycle) is no place to send the user: the DAG file is.
    let file = file.filter(|f| !in_compat(f));
    let (line, column) = if file.is_some() {
        (line, column)
    } else {
        (None, None)
    };
    match file {
        Some(f) if !same(&f) => match read_small(&f) {
            Some(other) => at(
                &Source::new(&f, &other),
                line,
                column,
                Severity::Error,
                shown,
            ),
            None => Diagnostic {
                severity: Severity::Error,
                path: f,
                location: None,
                message: match line {
                    Some(l) => format!("(line {l}) {shown}"),
                    None => shown,
                },
            },
        },
        _ => at(
            &Source::new(path, text),
            line,
            column,
            Severity::Error,
            shown,
        ),
    }
}

/// Whether `file` is in an installed compatibility package (`.../compat-<hash>/...`).
fn in_compat(file: &Path) -> bool {
    file.ancestors().any(|a| {
        a.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("compat-"))
            && a.join(lithoflow_executor::compat::LOADER_SCRIPT).is_file()
    })
}

fn read_small(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > crate::dagbag::MAX_DAG_FILE_BYTES {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// A diagnostic on a whole line of the file (from its first non-blank character).
pub(crate) fn at_line(
    src: &Source<'_>,
    line: Option<usize>,
    severity: Severity,
    message: String,
) -> Diagnostic {
    at(src, line, None, severity, message)
}

fn at(
    src: &Source<'_>,
    line: Option<usize>,
    column: Option<usize>,
    severity: Severity,
    message: String,
) -> Diagnostic {
    match line.and_then(|l| line_span(src.text(), l, column)) {
        Some(span) => src.diagnostic(severity, span, message),
        None => Diagnostic {
            severity,
            path: src.path().to_owned(),
            location: None,
            message,
        },
    }
}

/// The byte span of line `line` (1-based) from `column` (1-based characters) or its
/// first non-blank character, to its end.
fn line_span(text: &str, line: usize, column: Option<usize>) -> Option<Range<usize>> {
    let start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)?
    };
    if start > text.len() || (start == text.len() && line > 1) {
        return None;
    }
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let content = text[start..end].trim_end();
    let from = match column {
        Some(c) if c >= 1 => content
            .char_indices()
            .nth(c - 1)
            .map_or(content.len(), |(i, _)| i),
        _ => content.len() - content.trim_start().len(),
    };
    let to = content.len().max(from + 1);
    Some(start + from..start + to)
}

fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        let pos = |d: &Diagnostic| d.location.as_ref().map(|l| (l.line, l.column));
        (&a.path, pos(a)).cmp(&(&b.path, pos(b)))
    });
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn usize_of(v: &Value, key: &str) -> Option<usize> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
}
