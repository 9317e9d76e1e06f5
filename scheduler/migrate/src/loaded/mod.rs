//! migrate on the Python loader: the DAGs a DAG file defines when it runs (the loader's
//! descriptions, issue 19's spec, whose `toml` member is already a lithoflow TOML DAG as
//! JSON) written as TOML files. What the loader computed (loops, factories, `globals()`,
//! imported helpers, `datetime` arithmetic) is taken as it is; what this module adds is
//! what a TOML file cannot say the way a `.py` DAG can:
//!
//! - callable references: the loader's `lithoflow_dagfile_<hex>:t_<hex>_<hex>_<attr>`
//!   (resolved by a worker importing the DAG file again) become `module:function` for a
//!   module-level function of a module in the DAG's folder, or move to the generated
//!   `<stem>_tasks.py` (through `relocate.rs`, as the static reader moves them) when the
//!   DAG file defines the function itself;
//! - lambdas, closures, nested functions, bound methods, partials, custom operators, the
//!   compatibility layer's shims TOML has no equivalent for, provider operators lithoflow
//!   does not implement, and values read at parse time (a Variable, the clock) are errors
//!   at the DAG file's line: that DAG is not written (it can stay `.py`);
//! - the arguments the loader ignored are reported as dropped, as the static reader does.

mod callables;
mod json;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rustpython_parser::Parse;
use rustpython_parser::ast;
use serde_json::Value;

use crate::emit::{Line, TomlDoc, TomlVal};
use crate::model::{Finding, TopKind};
use crate::value::Span;
use crate::{ConvertOptions, ConvertedDag, FileConversion, GeneratedModule};
use callables::{Place, Resolved, STAY_PY, parse_reference, resolve, shim_reason};
use lithoflow_dag::diag::{Diagnostic, Severity, Source};

/// What the Python loader made of one DAG file.
#[derive(Debug, Clone, Default)]
pub struct Described {
    /// One description per DAG the file defines (the loader result's `dags`).
    pub dags: Vec<Value>,
    /// The modules the file imported from the DAGs folder (the result's `modules` paths):
    /// copied with `--out` when they are in the DAG's folder.
    pub modules: Vec<PathBuf>,
    /// The file's warnings (the result's `warnings`: `{"line", "message"}`), reported as
    /// they are.
    pub warnings: Vec<Value>,
}

/// The byte span of line `line` (1-based) of `text`, from its first non-blank character.
fn line_span(text: &str, line: usize) -> Span {
    let mut start = 0;
    for _ in 1..line.max(1) {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len()..text.len(),
        }
    }
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let blank = text[start..end].len() - text[start..end].trim_start().len();
    (start + blank)..end
}

/// The line a description member gives (`{"line": 12}`).
fn line_of(v: &Value) -> Option<usize> {
    v["line"].as_u64().map(|l| l as usize)
}

struct Converter<'a> {
    text: &'a str,
    place: Place,
    gen_module: String,
    findings: Vec<Finding>,
    /// Functions of the DAG file to move: (name, first line) -> the DAGs using it.
    moved: BTreeMap<(String, usize), BTreeSet<usize>>,
    /// Modules in the DAG's folder that the TOML refers to.
    modules: Vec<PathBuf>,
    /// The DAG being converted, and its line.
    dag: usize,
    dag_line: usize,
    /// Findings written as comments into a task's table (not repeated at the top).
    in_tasks: BTreeSet<usize>,
    /// The lines (first, last) of the file's top-level statements, if it parses.
    statements: Vec<(usize, usize)>,
    /// The line of every DAG the file defines.
    dag_lines: Vec<usize>,
}

/// A task table: its keys (with the key each line is for) and whether it became an
/// `empty` placeholder.
struct TaskLines {
    lines: Vec<(Option<String>, Line)>,
    placeholder: Option<String>,
}

impl<'a> Converter<'a> {
    fn finding(&mut self, line: Option<usize>, severity: Severity, message: String) -> usize {
        let line = line.unwrap_or(self.dag_line);
        let span = line_span(self.text, line);
        if let Some(i) = self
            .findings
            .iter()
            .position(|f| f.span == span && f.message == message && f.dag == Some(self.dag))
        {
            return i;
        }
        self.findings.push(Finding {
            span,
            severity,
            message,
            dag: Some(self.dag),
        });
        self.findings.len() - 1
    }

    /// A reference's TOML text, or the message of why it has none (already reported).
    fn reference(
        &mut self,
        desc: &Value,
        text: &str,
        owner_line: usize,
    ) -> Option<Result<String, String>> {
        let r = parse_reference(text)?;
        let (owner, info, task) = match &r.task {
            Some(t) => (
                format!("task `{t}`"),
                desc["tasks"][t.as_str()]["callables"].get(&r.attr).cloned(),
                desc["tasks"][t.as_str()].clone(),
            ),
            None => (
                format!("DAG `{}`", desc["dag_id"].as_str().unwrap_or("")),
                desc["callables"].get(&r.attr).cloned(),
                Value::Null,
            ),
        };
        let task_id = r.task.as_deref().unwrap_or("");
        let resolved = match shim_reason(&r.attr, task_id, &task) {
            Some(message) => Resolved::Cannot {
                message,
                line: None,
            },
            None => resolve(&self.place, &owner, &r.attr, info.as_ref()),
        };
        Some(match resolved {
            Resolved::Module {
                module,
                function,
                file,
                note,
            } => {
                if let Some(n) = note {
                    self.finding(Some(owner_line), Severity::Note, n);
                }
                if let Some(f) = file {
                    self.modules.push(f);
                }
                Ok(format!("{module}:{function}"))
            }
            Resolved::Moved { function, line } => {
                self.moved
                    .entry((function.clone(), line))
                    .or_default()
                    .insert(self.dag);
                Ok(format!("{}:{function}", self.gen_module))
            }
            Resolved::Cannot { message, line } => {
                let i = self.finding(line.or(Some(owner_line)), Severity::Error, message);
                let at = self.findings[i].span.start;
                let line = self.text[..at].matches('\n').count() + 1;
                Err(format!(
                    "migrate: not translated (line {line}): {}",
                    self.findings[i].message
                ))
            }
        })
    }

    /// One key's value: references resolved, the rest converted from JSON. `Err` is the
    /// comment that stands for a value that cannot be written; `main` tells whether the
    /// failure of a reference (not a callback's) leaves the task without its callable.
    fn value(
        &mut self,
        desc: &Value,
        owner: &str,
        key: &str,
        v: &Value,
        owner_line: usize,
    ) -> (Option<TomlVal>, Vec<String>, bool) {
        if let Value::String(s) = v
            && let Some(r) = self.reference(desc, s, owner_line)
        {
            return match r {
                Ok(t) => (Some(TomlVal::Str(t)), Vec::new(), false),
                Err(c) => (None, vec![c], !key.starts_with("on_")),
            };
        }
        if let Value::Array(items) = v
            && items
                .iter()
                .any(|i| i.as_str().and_then(parse_reference).is_some())
        {
            let mut out = Vec::new();
            let mut gaps = Vec::new();
            for item in items {
                let (t, g, _) = self.value(desc, owner, key, item, owner_line);
                out.extend(t);
                gaps.extend(g);
            }
            let main = !key.starts_with("on_") && !gaps.is_empty();
            return ((!out.is_empty()).then_some(TomlVal::Array(out)), gaps, main);
        }
        match json::to_toml(v) {
            Ok(t) => (Some(t), Vec::new(), false),
            Err(why) => {
                let i = self.finding(
                    Some(owner_line),
                    Severity::Error,
                    format!("{owner}: `{key}` is {why}"),
                );
                let message = self.findings[i].message.clone();
                (
                    None,
                    vec![format!("migrate: not translated: {message}")],
                    false,
                )
            }
        }
    }

    fn task(&mut self, desc: &Value, task_id: &str, table: &Value) -> TaskLines {
        let info = &desc["tasks"][task_id];
        let line = line_of(info).unwrap_or(self.dag_line);
        let owner = format!("task `{task_id}`");
        let mut out = TaskLines {
            lines: Vec::new(),
            placeholder: None,
        };
        let before = self.findings.len();
        for flag in ["unsupported", "custom"] {
            if info[flag].as_bool() == Some(true) {
                let attr = if flag == "custom" {
                    if table["type"].as_str() == Some("sensor") {
                        "poke"
                    } else {
                        "execute"
                    }
                } else {
                    flag
                };
                if let Some(m) = shim_reason(attr, task_id, info) {
                    let i = self.finding(Some(line), Severity::Error, m.clone());
                    out.placeholder = Some(self.findings[i].message.clone());
                }
            }
        }
        let Some(map) = table.as_object() else {
            self.finding(
                Some(line),
                Severity::Error,
                format!("{owner}: the loader's description has no table for it"),
            );
            return out;
        };
        for (key, v) in map {
            let (val, gaps, main) = self.value(desc, &owner, key, v, line);
            for g in gaps {
                if main && out.placeholder.is_none() {
                    out.placeholder = Some(g.clone());
                }
                out.lines.push((None, Line::Comment(g)));
            }
            if let Some(val) = val {
                out.lines.push((Some(key.clone()), Line::key(key, val)));
            }
        }
        for ig in info["ignored"].as_array().into_iter().flatten() {
            self.ignored(ig, &owner, line);
        }
        self.in_tasks.extend(before..self.findings.len());
        out
    }

    /// Whether a value read at parse time on `line` may reach the DAG being converted:
    /// not when the top-level statement reading it builds other DAGs and not this one (a
    /// `with DAG(...)` block of its own); a read elsewhere (a module-level value, a helper)
    /// may reach any DAG of the file.
    fn concerns(&self, line: Option<usize>) -> bool {
        let Some(line) = line else { return true };
        let Some(&(first, last)) = self
            .statements
            .iter()
            .find(|(a, b)| *a <= line && line <= *b)
        else {
            return true;
        };
        let inside = |l: &usize| first <= *l && *l <= last;
        !self.dag_lines.iter().any(inside) || inside(&self.dag_line)
    }

    fn ignored(&mut self, ig: &Value, owner: &str, line: usize) {
        let Some(name) = ig["name"].as_str().or(ig.as_str()) else {
            return;
        };
        let why = crate::convert::dropped_reason(name).unwrap_or("lithoflow has no meaning for it");
        self.finding(
            line_of(ig).or(Some(line)),
            Severity::Note,
            format!("{owner} `{name}` is dropped: {why}"),
        );
    }

    /// One DAG: its TOML document, id and task count.
    fn dag(&mut self, index: usize, desc: &Value, file_label: &str) -> (String, TomlDoc, usize) {
        self.dag = index;
        self.dag_line = line_of(desc).unwrap_or(1);
        let dag_id = desc["dag_id"]
            .as_str()
            .or(desc["toml"]["dag_id"].as_str())
            .unwrap_or("")
            .to_owned();
        let owner = format!("DAG `{dag_id}`");
        let mut doc = TomlDoc::default();
        let version = desc["airflow_version"].as_u64().unwrap_or(2);
        let why = desc["version_reason"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        doc.header.push(format!(
            "Converted by `lithoflow migrate` from {file_label} (line {}), loaded by running the file on lithoflow's Airflow compatibility layer, with Airflow {version}'s defaults{why}.",
            self.dag_line
        ));
        let empty = serde_json::Map::new();
        let toml = desc["toml"].as_object().unwrap_or(&empty);
        if toml.is_empty() {
            self.finding(
                None,
                Severity::Error,
                format!("{owner}: the loader's description has no `toml` member"),
            );
        }
        let dag_line = self.dag_line;
        for (key, v) in toml {
            if key == "tasks" {
                continue;
            }
            let (val, gaps, _) = self.value(desc, &owner, key, v, dag_line);
            doc.top.extend(gaps.into_iter().map(Line::Comment));
            if let Some(val) = val {
                doc.top.push(Line::key(key, val));
            }
        }
        let mut tasks = 0;
        if let Some(map) = toml.get("tasks").and_then(Value::as_object) {
            for (task_id, table) in map {
                tasks += 1;
                let t = self.task(desc, task_id, table);
                doc.tasks.push((task_id.clone(), placeholder_lines(t)));
            }
        }
        for ig in desc["ignored"].as_array().into_iter().flatten() {
            self.ignored(ig, &format!("DAG `{dag_id}`:"), dag_line);
        }
        for read in desc["parse_time"].as_array().into_iter().flatten() {
            if !self.concerns(line_of(read)) {
                continue;
            }
            let what = read["what"].as_str().unwrap_or("a value");
            self.finding(
                line_of(read),
                Severity::Error,
                format!(
                    "`{what}` is read while the file is loaded (at parse time), so the DAG is built from its value at that moment, and again at every parse; {STAY_PY}, or read it when the task runs (a template such as `{{{{ var.value.key }}}}` in a templated field, or in the function)"
                ),
            );
        }
        for f in desc["findings"].as_array().into_iter().flatten() {
            let severity = match f["severity"].as_str() {
                Some("error") => Severity::Error,
                Some("warning") => Severity::Warning,
                _ => Severity::Note,
            };
            let message = f["message"].as_str().unwrap_or("").to_owned();
            self.finding(line_of(f), severity, message);
        }
        (dag_id, doc, tasks)
    }
}

/// A task's lines; a task without its callable is an `empty` placeholder that keeps the
/// keys every task has (its dependencies, trigger rule, retries ...).
fn placeholder_lines(t: TaskLines) -> Vec<Line> {
    if t.placeholder.is_none() {
        return t.lines.into_iter().map(|(_, l)| l).collect();
    }
    let mut out = vec![Line::Comment(
        "migrate: an `empty` placeholder for the task below (see the report)".into(),
    )];
    for (key, line) in t.lines {
        match key.as_deref() {
            Some("type") => out.push(Line::key("type", TomlVal::Str("empty".into()))),
            Some(k)
                if !lithoflow_dag::keys::lookup(k).is_some_and(|key| key.applies_to("empty")) => {}
            _ => out.push(line),
        }
    }
    out
}

/// The first and last lines of each top-level statement of `text` (none when it does not
/// parse, or nests too deeply to).
fn statement_lines(text: &str) -> Vec<(usize, usize)> {
    use ast::Ranged;
    if crate::nesting_problem(text).is_some() {
        return Vec::new();
    }
    let Ok(suite) = ast::Suite::parse(text, "<dag file>") else {
        return Vec::new();
    };
    let line_at = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    suite
        .iter()
        .map(|s| {
            let r = s.range();
            (
                line_at(usize::from(r.start())),
                line_at(usize::from(r.end()).saturating_sub(1)),
            )
        })
        .collect()
}

/// Converts the DAGs the loader described for the DAG file at `path` (`text` its source).
pub fn convert_described(
    path: &Path,
    text: &str,
    described: &Described,
    opts: &ConvertOptions,
) -> FileConversion {
    crate::guarded(path, || convert_inner(path, text, described, opts))
}

fn convert_inner(
    path: &Path,
    text: &str,
    described: &Described,
    opts: &ConvertOptions,
) -> FileConversion {
    let gen_module = crate::generated_module_name(path);
    let file_label = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut c = Converter {
        text,
        place: Place::new(path),
        gen_module: gen_module.clone(),
        findings: Vec::new(),
        moved: BTreeMap::new(),
        modules: Vec::new(),
        dag: 0,
        dag_line: 1,
        in_tasks: BTreeSet::new(),
        statements: statement_lines(text),
        dag_lines: described.dags.iter().filter_map(line_of).collect(),
    };
    let mut outs = Vec::new();
    for (i, desc) in described.dags.iter().enumerate() {
        outs.push(c.dag(i, desc, &file_label));
    }
    let module = move_functions(&mut c, text, &gen_module, &file_label, opts);
    for w in &described.warnings {
        if let Some(message) = w["message"].as_str() {
            let span = line_span(text, line_of(w).unwrap_or(1));
            c.findings.push(Finding {
                span,
                severity: Severity::Warning,
                message: message.to_owned(),
                dag: None,
            });
        }
    }

    // Credentials are replaced by references in everything written, and reported.
    let mut vault = crate::secrets::Vault::new(text);
    let module = module.map(|m| {
        let users: BTreeSet<usize> = c.moved.values().flatten().copied().collect();
        let users: Vec<usize> = users.into_iter().collect();
        let (scrubbed, found) = vault.scrub_module(text, &m.text, &users);
        c.findings.extend(found);
        GeneratedModule {
            text: scrubbed,
            ..m
        }
    });
    for (i, (_, doc, _)) in outs.iter_mut().enumerate() {
        let found = vault.scrub_doc(text, doc, i);
        c.findings.extend(found);
    }
    for f in &mut c.findings {
        f.message = vault.mask(&f.message);
    }
    let source = Source::new(path, text);
    let mut dags = Vec::new();
    for (i, (dag_id, mut doc, tasks)) in outs.into_iter().enumerate() {
        vault.mask_comments(&mut doc);
        let mine: Vec<(usize, &Finding)> = c
            .findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.dag.is_none_or(|d| d == i))
            .collect();
        let errors = mine
            .iter()
            .filter(|(_, f)| f.severity == Severity::Error)
            .count();
        let notes = mine.len() - errors;
        if errors > 0 {
            doc.header.push(format!("migrate: {errors} part(s) of the DAG file could not be translated; they are marked `migrate: not translated` below, and listed with their line in the report. The DAG can stay .py: lithoflow loads and runs it unchanged."));
        }
        if notes > 0 {
            doc.header.push(format!(
                "migrate: {notes} note(s) in the report (lithoflow migrate prints them)."
            ));
        }
        for (j, f) in &mine {
            if f.severity == Severity::Error && !c.in_tasks.contains(j) {
                let loc = source.locate(f.span.clone());
                let gap = format!("migrate: not translated (line {}): {}", loc.line, f.message);
                if !doc.header.contains(&gap) {
                    doc.header.push(gap);
                }
            }
        }
        if module.is_some() && c.moved.values().any(|d| d.contains(&i)) {
            doc.header.push(format!(
                "Functions the DAG file defined itself were moved to {gen_module}.py, next to this file."
            ));
        }
        dags.push(ConvertedDag {
            dag_id,
            toml: doc.render(),
            errors,
            tasks,
        });
    }
    let known = vault.values();
    let mut diagnostics: Vec<Diagnostic> = c
        .findings
        .iter()
        .map(|f| {
            let mut d = source.diagnostic(f.severity, f.span.clone(), f.message.clone());
            d.mask_values(&known);
            d
        })
        .collect();
    if described.dags.is_empty() {
        diagnostics.push(Diagnostic {
            severity: Severity::Error,
            path: path.to_owned(),
            location: None,
            message:
                "the file ran, but defined no DAG at module level (Airflow would load none from it)"
                    .into(),
        });
    }
    lithoflow_dag::diag::tidy(&mut diagnostics);
    let mut local_modules = c.modules.clone();
    for m in &described.modules {
        let canon = std::fs::canonicalize(m).unwrap_or_else(|_| m.clone());
        if canon.starts_with(&c.place.folder) && canon != c.place.file {
            local_modules.push(m.clone());
        }
    }
    // A module's package must come along for `pkg.mod` to import.
    let mut packages = Vec::new();
    for m in &local_modules {
        let mut dir = m.parent();
        while let Some(d) = dir {
            if !d.starts_with(&c.place.folder) || d == c.place.folder {
                break;
            }
            let init = d.join("__init__.py");
            if init.is_file() {
                packages.push(init);
            }
            dir = d.parent();
        }
    }
    local_modules.extend(packages);
    let local_modules: Vec<PathBuf> = local_modules
        .into_iter()
        .map(|m| std::fs::canonicalize(&m).unwrap_or(m))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|m| match m.strip_prefix(&c.place.folder) {
            // Named from the DAG file's folder as the caller wrote it.
            Ok(rel) => path
                .parent()
                .map_or_else(|| rel.to_owned(), |p| p.join(rel)),
            Err(_) => m,
        })
        .collect();
    FileConversion {
        dags,
        module,
        diagnostics,
        local_modules,
    }
}

/// Moves the DAG file's own functions that the TOML refers to into the generated module,
/// with the static reader's `relocate.rs` (which copies each with the imports and
/// module-level names it uses).
fn move_functions(
    c: &mut Converter<'_>,
    text: &str,
    gen_module: &str,
    file_label: &str,
    opts: &ConvertOptions,
) -> Option<GeneratedModule> {
    if c.moved.is_empty() {
        return None;
    }
    let parsed = match crate::nesting_problem(text) {
        Some((_, why)) => Err(format!("the file is too deeply nested ({why})")),
        None => ast::Suite::parse(text, file_label).map_err(|e| e.error.to_string()),
    };
    let moved = c.moved.clone();
    let suite = match parsed {
        Ok(s) => s,
        Err(why) => {
            for ((name, line), dags) in &moved {
                for d in dags {
                    c.dag = *d;
                    c.finding(Some(*line), Severity::Error, format!("`{name}` is defined in the DAG file, and migrate cannot copy it to {gen_module}.py: its parser cannot read the file ({why})"));
                }
            }
            return None;
        }
    };
    let stem = Path::new(file_label)
        .file_stem()
        .map_or_else(|| "dag".into(), |s| s.to_string_lossy().into_owned());
    let model = crate::eval::interpret(text, &suite, &stem, opts);
    let mut fids: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let line_at = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    for ((name, line), dags) in &moved {
        // The `def` the loader saw: the one of that name at its line (Python's first line
        // of a decorated function is its first decorator's), else the module-level one.
        let near = model
            .functions
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name == *name)
            .map(|(i, f)| (i, line_at(f.span.start)))
            .filter(|(_, l)| *line > 0 && *l >= *line && *l <= *line + 40)
            .min_by_key(|(_, l)| *l)
            .map(|(i, _)| i);
        let fid = near.or_else(|| {
            model.top_level.iter().rev().find_map(|t| match t.kind {
                TopKind::Def(Some(f)) if t.names.contains(name) => Some(f),
                _ => None,
            })
        });
        match fid {
            Some(f) => {
                fids.entry(f).or_default().extend(dags.iter().copied());
                for d in dags {
                    c.findings.push(Finding {
                        span: model.functions[f].span.clone(),
                        severity: Severity::Note,
                        message: format!("`{name}` is defined in the DAG file: copied to {gen_module}.py next to the TOML file (lithoflow imports functions from modules)"),
                        dag: Some(*d),
                    });
                }
            }
            None => {
                for d in dags {
                    c.dag = *d;
                    c.finding(Some(*line), Severity::Error, format!("`{name}` is a function of the DAG file, but not a top-level `def {name}` migrate can copy to {gen_module}.py; {STAY_PY}"));
                }
            }
        }
    }
    let (module, more) = crate::relocate::build(&model, text, gen_module, file_label, &fids);
    c.findings.extend(more);
    module
}
