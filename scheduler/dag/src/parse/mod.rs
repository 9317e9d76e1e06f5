//! From TOML text to a [`Dag`], collecting every problem on the way.
//!
//! The walk is by hand over toml's spanned document rather than through serde, because
//! serde stops at the first error and a DAG author wants all of them at once, each with
//! its line and column. The top of the file is read in `dag` (executor settings in
//! `config`), each task's keys in `task` (plain keys through the table in
//! [`crate::keys`]), the task itself built in `assemble`; `values` reads and type-checks
//! single values; `literal` reads large plain `map_iterdata` arrays without toml.

mod assemble;
mod assets;
mod config;
mod dag;
mod expand;
mod literal;
mod sensor;
mod task;
mod templates;
mod values;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use lithoflow_executor_config::ExecutorConfig;
use serde_json::Value;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::LoadOptions;
use crate::diag::{Diagnostic, Severity, Source};
use crate::keys::PlainValue;
use crate::model::*;

use values::describe;

type Sv<'i> = Spanned<DeValue<'i>>;
type Span = Range<usize>;

/// Parses and validates one DAG file. Returns the DAG when the file has no errors, and
/// every diagnostic (errors, warnings, notes) in file order either way. `include_modules`
/// may name only paths inside the DAG file's own folder; see [`parse_dag_with`].
pub fn parse_dag(path: &Path, text: &str) -> (Option<Dag>, Vec<Diagnostic>) {
    parse_dag_with(path, text, &LoadOptions::default())
}

/// [`parse_dag`] with the loader's options: the DAGs folder and the folders listed in
/// `[dags] include_paths` of `lithoflow.toml`, which `include_modules` paths may name.
pub fn parse_dag_with(
    path: &Path,
    text: &str,
    options: &LoadOptions,
) -> (Option<Dag>, Vec<Diagnostic>) {
    if let Some((spliced, literals)) = literal::splice(text) {
        let (doc, syntax_errors) = DeTable::parse_recoverable(&spliced);
        if syntax_errors.is_empty() {
            let (dag, diags, left) =
                walk(Source::new(path, text), doc.get_ref(), options, literals);
            // Every blanked array was a `map_iterdata` value and was taken back: the
            // result is the one the original text gives.
            if left == 0 {
                return (dag, diags);
            }
        }
    }
    let src = Source::new(path, text);
    let (doc, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        let mut diags: Vec<Diagnostic> = syntax_errors
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                let mut message = format!("invalid TOML: {}", lowercase_first(e.message()));
                // toml says only "duplicate key"; name it, since the caret may sit on a table header.
                if message.ends_with("duplicate key")
                    && let Some(key) = text
                        .get(span.clone())
                        .filter(|k| !k.is_empty() && k.len() < 200)
                {
                    message = format!(
                        "invalid TOML: duplicate key `{}`; a key may be set only once per table",
                        key.trim()
                    );
                }
                src.diagnostic(Severity::Error, span, message)
            })
            .collect();
        crate::diag::tidy(&mut diags);
        return (None, diags);
    }
    let (dag, diags, _) = walk(src, doc.get_ref(), options, literal::Literals::new());
    (dag, diags)
}

/// Walks a parsed document: the DAG if it has no errors, the diagnostics, and how many of
/// `literals` the walk did not take back.
fn walk(
    src: Source<'_>,
    doc: &DeTable<'_>,
    options: &LoadOptions,
    literals: literal::Literals,
) -> (Option<Dag>, Vec<Diagnostic>, usize) {
    let mut w = Walker {
        src,
        diags: Vec::new(),
        options,
        literals,
    };
    let dag = w.dag(doc);
    let mut diags = w.diags;
    crate::diag::tidy(&mut diags);
    let dag = if diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        dag
    };
    (dag, diags, w.literals.len())
}

fn lowercase_first(s: &str) -> String {
    let s = s.trim_end_matches('.');
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A task's settings as parsed from its table and `[default_args]`, before the task
/// is assembled. Each value keeps the span it came from.
#[derive(Debug, Clone)]
enum Parsed {
    /// A plain key's value.
    Plain(PlainValue),
    Str(String),
    Json(Value),
    Func(FuncRef),
    Funcs(Vec<FuncRef>),
    /// Executor settings, and where each is written.
    Config(Box<(ExecutorConfig, Written)>),
    Env(serde_json::Map<String, Value>),
    Refs(Vec<(String, Span)>),
    DataFrom(Vec<(String, String, Span)>),
    ArgsFrom(Vec<(usize, String, Span)>),
    IntList(Vec<i64>),
    IterFrom(Iterdata),
    Rule(TriggerRule),
    Weight(WeightRule),
    Assets(Vec<crate::asset::Asset>),
    /// `expand`: each name, its source, and where the source is written.
    Expand(Vec<(String, ExpandSource, Span)>),
    /// `expand_kwargs`.
    ExpandKwargs(ExpandSource),
}

type Fields = BTreeMap<&'static str, (Parsed, Span)>;

/// Where the settings of one `lithops_config` table are written, by section and name.
type Written = BTreeMap<(&'static str, &'static str), Span>;

/// Where a task's keys were written: its dependencies, for reference and cycle errors,
/// and its own executor settings, for diagnostics about them.
#[derive(Debug)]
struct TaskRefs {
    task_id: String,
    header: Span,
    refs: Vec<(String, Span, &'static str)>,
    settings: Written,
}

struct Walker<'s> {
    src: Source<'s>,
    diags: Vec<Diagnostic>,
    options: &'s LoadOptions,
    /// Elements of the `map_iterdata` arrays blanked out of the text, by offset.
    literals: literal::Literals,
}

impl Walker<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags
            .push(self.src.diagnostic(Severity::Error, span, message.into()));
    }

    fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.diags
            .push(self.src.diagnostic(Severity::Warning, span, message.into()));
    }

    fn note(&mut self, span: Span, message: impl Into<String>) {
        self.diags
            .push(self.src.diagnostic(Severity::Note, span, message.into()));
    }

    fn wrong_type(&mut self, key: &str, v: &Sv<'_>, expected: &str) {
        self.error(
            v.span(),
            format!(
                "`{key}` must be {expected}, found {}",
                describe(v.get_ref())
            ),
        );
    }
}

/// `path` made absolute against the current folder and with `.` and `..` folded away,
/// on its text alone (symbolic links are not followed).
pub fn lexical_absolute(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
