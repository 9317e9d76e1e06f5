//! `lithoflow migrate`: converts Airflow DAG files (Python) into lithoflow DAG files (TOML).
//!
//! The DAG files are read with a real Python parser (rustpython-parser) and evaluated
//! statically (module `eval`): literals, f-strings, loops over literal lists, `default_args`,
//! the date helpers and the Airflow API that builds DAGs, tasks and dependencies. Nothing
//! is run. What cannot be known or has no lithoflow equivalent is reported as
//! `file:line:col: error: reason`; semantic changes the converter makes on purpose (a
//! `days_ago` written as a fixed date, a default stated explicitly) as notes.
//!
//! [`convert_file`] converts one file's text (reading only the function modules next to
//! it); [`run`] is the command: it finds the files, converts them, writes the TOML files
//! and the generated modules, and prints the report.

#![warn(missing_docs)]

mod assets;
mod convert;
mod emit;
mod eval;
mod known;
mod loaded;
mod model;
mod relocate;
mod runtime_values;
mod secrets;
mod value;

#[cfg(test)]
mod runtime2_tests;
#[cfg(test)]
mod runtime_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rustpython_parser::Parse;
use rustpython_parser::ast;

use lithoflow_dag::diag::{Diagnostic, Severity, Source};
pub use loaded::{Described, convert_described};
pub use relocate::{GENERATED_MARKER, GeneratedModule};

/// The first words of every converted TOML file: `lithoflow migrate` overwrites only files
/// that start with them.
pub const TOML_MARKER: &str = "# Converted by `lithoflow migrate`";

/// The largest DAG file read (the same limit as for TOML DAG files).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Which Airflow's defaults the DAG files were written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AirflowVersion {
    /// Airflow 2: schedule defaults to timedelta(days=1), catchup to True, cron schedules
    /// run per data interval (cron_data_interval).
    #[value(name = "2")]
    V2,
    /// Airflow 3: schedule defaults to None, catchup to False, cron schedules run at their
    /// ticks (cron_trigger).
    #[value(name = "3")]
    V3,
}

/// `lithoflow migrate PATH... [--out DIR] [--airflow-version 2|3] [--allow-partial]`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// Airflow DAG files (.py) or folders, searched recursively for files that mention
    /// both "airflow" and "dag" (Airflow's own safe-mode test).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Where to write the TOML files, keeping the folders below each PATH (default: next
    /// to each DAG file). Function modules the DAGs import are copied there too.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Whose defaults the DAG files rely on: Airflow 2 (schedule timedelta(days=1),
    /// catchup on, data-interval cron) or 3 (no schedule, catchup off, cron ticks).
    /// Default: 2 when read statically; when run by the loader, Airflow 3 for a file
    /// importing airflow.sdk or airflow.providers.standard, else `[airflow]
    /// default_version` of lithoflow.toml (2).
    #[arg(long, value_enum)]
    pub airflow_version: Option<AirflowVersion>,
    /// Also write DAGs that did not convert whole, with the gaps as TOML comments, and
    /// exit 0.
    #[arg(long)]
    pub allow_partial: bool,
    /// Read the files without running them (the static reader), as where no Python is
    /// installed; by default each file is run by lithoflow's loader, as Airflow imports
    /// it, and read statically only when it cannot be imported here.
    #[arg(long = "static")]
    pub static_only: bool,
    /// The time `days_ago(...)`, `datetime.now()` and the like are evaluated at
    /// (RFC 3339; default: now). For reproducible output.
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<String>,
}

/// How to read the DAG files.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Whose defaults apply.
    pub airflow_version: AirflowVersion,
    /// The time `days_ago(...)` and `now()` are evaluated at.
    pub now: DateTime<Utc>,
}

/// One DAG converted from a file.
#[derive(Debug, Clone)]
pub struct ConvertedDag {
    /// The DAG's id.
    pub dag_id: String,
    /// The TOML file's text.
    pub toml: String,
    /// How many problems keep it from converting whole (also counting the file's own).
    pub errors: usize,
    /// How many tasks it has.
    pub tasks: usize,
}

/// The result of converting one DAG file.
#[derive(Debug, Clone)]
pub struct FileConversion {
    /// The DAGs found, in the order the file builds them.
    pub dags: Vec<ConvertedDag>,
    /// The module for the functions the file defined itself, if any task uses one.
    pub module: Option<GeneratedModule>,
    /// Errors and notes, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// Function modules next to the file that the DAGs import (for copying with `--out`).
    pub local_modules: Vec<PathBuf>,
}

/// What a function of a module takes, for Airflow's context arguments.
#[derive(Debug, Clone)]
pub(crate) struct FnSig {
    /// Parameter names, and whether each has a default.
    pub(crate) params: Vec<(String, bool)>,
    /// How many of them can be passed by position.
    pub(crate) positional: usize,
    /// The `**kwargs` parameter's name.
    pub(crate) kwargs: Option<String>,
    /// The keys the body reads from `**kwargs` (`kwargs["ds"]`, `kwargs.get("ds")`).
    pub(crate) kwargs_keys: Vec<String>,
    /// `name.attr` uses in the body, for names that are not themselves attributes.
    pub(crate) dotted: Vec<(String, String)>,
}

impl FnSig {
    pub(crate) fn of(args: &ast::Arguments, source: &str) -> FnSig {
        use rustpython_parser::Tok;
        let positional = args.posonlyargs.len() + args.args.len();
        let params = args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .chain(&args.kwonlyargs)
            .map(|a| (a.def.arg.to_string(), a.default.is_some()))
            .collect();
        let kwargs = args.kwarg.as_ref().map(|k| k.arg.to_string());
        let toks: Vec<Tok> = rustpython_parser::lexer::lex(source, rustpython_parser::Mode::Module)
            .map_while(Result::ok)
            .map(|(t, _)| t)
            .collect();
        // The body starts after the signature's closing `):` (or `) -> T:`).
        let mut depth = 0usize;
        let mut body_start = toks.len();
        for (i, t) in toks.iter().enumerate() {
            match t {
                Tok::Lpar | Tok::Lsqb | Tok::Lbrace => depth += 1,
                Tok::Rpar | Tok::Rsqb | Tok::Rbrace => depth = depth.saturating_sub(1),
                Tok::Colon if depth == 0 => {
                    body_start = i + 1;
                    break;
                }
                _ => {}
            }
        }
        let body = toks.get(body_start..).unwrap_or_default();
        let mut kwargs_keys = Vec::new();
        let mut dotted: Vec<(String, String)> = Vec::new();
        for (i, t) in body.iter().enumerate() {
            let Tok::Name { name } = t else { continue };
            if i > 0 && matches!(body[i - 1], Tok::Dot) {
                continue;
            }
            if let (Some(Tok::Dot), Some(Tok::Name { name: attr })) =
                (body.get(i + 1), body.get(i + 2))
                && !dotted.iter().any(|(n, a)| n == name && a == attr)
            {
                dotted.push((name.clone(), attr.clone()));
            }
            if kwargs.as_deref() == Some(name.as_str()) {
                let key = match (
                    body.get(i + 1),
                    body.get(i + 2),
                    body.get(i + 3),
                    body.get(i + 4),
                ) {
                    (Some(Tok::Lsqb), Some(Tok::String { value, .. }), Some(Tok::Rsqb), _) => {
                        Some(value.clone())
                    }
                    (
                        Some(Tok::Dot),
                        Some(Tok::Name { name: g }),
                        Some(Tok::Lpar),
                        Some(Tok::String { value, .. }),
                    ) if g == "get" => Some(value.clone()),
                    _ => None,
                };
                if let Some(k) = key
                    && !kwargs_keys.contains(&k)
                {
                    kwargs_keys.push(k);
                }
            }
        }
        FnSig {
            params,
            positional,
            kwargs,
            kwargs_keys,
            dotted,
        }
    }
}

/// The names a function module next to the DAG file defines.
#[derive(Debug)]
pub(crate) struct ModuleSigs {
    pub(crate) file_name: String,
    /// Functions with their signature; other names (imports, assignments, classes) with none.
    pub(crate) defs: HashMap<String, Option<FnSig>>,
}

fn read_module_sigs(path: &Path) -> Option<ModuleSigs> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > MAX_FILE_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let suite = ast::Suite::parse(&text, &path.display().to_string()).ok()?;
    let mut defs = HashMap::new();
    for stmt in &suite {
        collect_defs(stmt, &text, &mut defs);
    }
    Some(ModuleSigs {
        file_name: path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        defs,
    })
}

fn collect_defs(stmt: &ast::Stmt, text: &str, defs: &mut HashMap<String, Option<FnSig>>) {
    use ast::Ranged;
    let src = |r: rustpython_parser::text_size::TextRange| {
        text.get(usize::from(r.start())..usize::from(r.end()))
            .unwrap_or("")
    };
    match stmt {
        ast::Stmt::FunctionDef(f) => {
            defs.insert(f.name.to_string(), Some(FnSig::of(&f.args, src(f.range()))));
        }
        ast::Stmt::AsyncFunctionDef(f) => {
            defs.insert(f.name.to_string(), Some(FnSig::of(&f.args, src(f.range()))));
        }
        ast::Stmt::ClassDef(c) => {
            defs.insert(c.name.to_string(), None);
        }
        ast::Stmt::Assign(a) => {
            for t in &a.targets {
                if let ast::Expr::Name(n) = t {
                    defs.insert(n.id.to_string(), None);
                }
            }
        }
        ast::Stmt::AnnAssign(a) => {
            if let ast::Expr::Name(n) = &*a.target {
                defs.insert(n.id.to_string(), None);
            }
        }
        ast::Stmt::Import(i) => {
            for a in &i.names {
                let n = a.asname.as_ref().unwrap_or(&a.name).to_string();
                defs.insert(n.split('.').next().unwrap_or(&n).to_owned(), None);
            }
        }
        ast::Stmt::ImportFrom(i) => {
            for a in &i.names {
                defs.insert(a.asname.as_ref().unwrap_or(&a.name).to_string(), None);
            }
        }
        ast::Stmt::If(i) => {
            for s in i.body.iter().chain(&i.orelse) {
                collect_defs(s, text, defs);
            }
        }
        ast::Stmt::Try(t) => {
            for s in t.body.iter().chain(&t.orelse).chain(&t.finalbody) {
                collect_defs(s, text, defs);
            }
        }
        _ => {}
    }
}

/// A file name for a DAG id: an invalid id (reported) must not name another folder.
fn file_stem_for(dag_id: &str) -> String {
    if lithoflow_dag::is_valid_id(dag_id) && dag_id != "." && dag_id != ".." {
        return dag_id.to_owned();
    }
    let s: String = dag_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// The importable module name for a DAG file's generated module: `<stem>_tasks`.
fn generated_module_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map_or_else(|| "dag".into(), |s| s.to_string_lossy().into_owned());
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    format!("{name}_tasks")
}

/// Converts one Airflow DAG file. `path` names it in diagnostics; the function modules it
/// imports are looked up next to it (only to check names and read signatures).
///
/// The parse and the evaluation run on a thread with a large stack, so deeply nested
/// hostile input is reported instead of overflowing the stack; a panic in the parser is
/// reported as an error of the file.
pub fn convert_file(path: &Path, text: &str, opts: &ConvertOptions) -> FileConversion {
    guarded(path, || convert_file_inner(path, text, opts))
}

/// Runs a conversion on a thread with a large stack; a panic is reported as an error of
/// the file.
fn guarded(path: &Path, convert: impl Fn() -> FileConversion + Sync) -> FileConversion {
    let result = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("migrate".into())
            .stack_size(256 * 1024 * 1024)
            .spawn_scoped(scope, &convert)
            .map(|h| h.join())
    });
    let result = match result {
        Ok(joined) => joined,
        // No thread with a large stack could be made: convert on this one (the limits
        // below keep the recursion shallow anyway).
        Err(_) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(&convert)),
    };
    match result {
        Ok(conv) => conv,
        Err(_) => FileConversion {
            dags: Vec::new(),
            module: None,
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                path: path.to_owned(),
                location: None,
                message:
                    "the converter failed on this file (an internal error); nothing was converted"
                        .into(),
            }],
            local_modules: Vec::new(),
        },
    }
}

/// How deep brackets may nest in a DAG file (CPython's own parser stops at 200).
const MAX_BRACKET_DEPTH: usize = 200;
/// How deep blocks may nest (CPython stops at 100 levels of indentation).
const MAX_INDENT_DEPTH: usize = 100;
/// How many tokens one logical line may have (a long `a + b + ...` chain nests the tree).
const MAX_LINE_TOKENS: usize = 1_000_000;

/// Checks, with the lexer alone, that the syntax tree will not nest so deeply that
/// building, walking or dropping it could exhaust the stack.
fn nesting_problem(text: &str) -> Option<(usize, String)> {
    use rustpython_parser::Tok;
    let (mut brackets, mut indent, mut line_tokens) = (0usize, 0usize, 0usize);
    for tok in rustpython_parser::lexer::lex(text, rustpython_parser::Mode::Module) {
        // A lexical error is reported by the parser, with its position.
        let Ok((tok, range)) = tok else { return None };
        let at = usize::from(range.start());
        line_tokens += 1;
        match tok {
            Tok::Lpar | Tok::Lsqb | Tok::Lbrace => brackets += 1,
            Tok::Rpar | Tok::Rsqb | Tok::Rbrace => brackets = brackets.saturating_sub(1),
            Tok::Indent => indent += 1,
            Tok::Dedent => indent = indent.saturating_sub(1),
            Tok::Newline => line_tokens = 0,
            _ => {}
        }
        if brackets > MAX_BRACKET_DEPTH {
            return Some((
                at,
                format!("brackets nest more than {MAX_BRACKET_DEPTH} deep"),
            ));
        }
        if indent > MAX_INDENT_DEPTH {
            return Some((at, format!("blocks nest more than {MAX_INDENT_DEPTH} deep")));
        }
        if line_tokens > MAX_LINE_TOKENS {
            return Some((
                at,
                format!("a statement is longer than {MAX_LINE_TOKENS} tokens"),
            ));
        }
    }
    None
}

fn convert_file_inner(path: &Path, text: &str, opts: &ConvertOptions) -> FileConversion {
    let source = Source::new(path, text);
    if let Some((at, why)) = nesting_problem(text) {
        return FileConversion {
            dags: Vec::new(),
            module: None,
            diagnostics: vec![source.diagnostic(
                Severity::Error,
                at..at + 1,
                format!("the file is too deeply nested to convert: {why}"),
            )],
            local_modules: Vec::new(),
        };
    }
    let suite = match ast::Suite::parse(text, &path.display().to_string()) {
        Ok(s) => s,
        Err(e) => {
            let at = usize::from(e.offset);
            return FileConversion {
                dags: Vec::new(),
                module: None,
                diagnostics: vec![source.diagnostic(
                    Severity::Error,
                    at..at + 1,
                    format!(
                        "not valid Python (as the converter's parser reads it): {}",
                        e.error
                    ),
                )],
                local_modules: Vec::new(),
            };
        }
    };
    let stem = path
        .file_stem()
        .map_or_else(|| "dag".into(), |s| s.to_string_lossy().into_owned());
    let model = eval::interpret(text, &suite, &stem, opts);

    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cache: HashMap<String, Option<Rc<ModuleSigs>>> = HashMap::new();
    let mut found_files: Vec<PathBuf> = Vec::new();
    let mut lookup = |module: &str| -> Option<Rc<ModuleSigs>> {
        if let Some(hit) = cache.get(module) {
            return hit.clone();
        }
        let rel: PathBuf = module.split('.').collect();
        let candidates = [
            dir.join(&rel).with_extension("py"),
            dir.join(&rel).join("__init__.py"),
        ];
        let found = candidates.iter().find(|p| p.is_file()).and_then(|p| {
            let sigs = read_module_sigs(p)?;
            found_files.push(p.clone());
            Some(Rc::new(sigs))
        });
        cache.insert(module.to_owned(), found.clone());
        found
    };

    // `from my_functions import mult` fails in Airflow when the module has no `mult`.
    let mut import_findings = Vec::new();
    for (module, name, span) in &model.imports {
        if let Some(m) = lookup(module)
            && !m.defs.contains_key(name)
        {
            let known: Vec<&str> = m.defs.keys().map(String::as_str).collect();
            let hint = lithoflow_dag::suggest_id(name, &known)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            import_findings.push(model::Finding {
                span: span.clone(),
                severity: Severity::Error,
                message: format!("cannot import `{name}` from {}: it defines no such name, so Airflow fails to load the DAG file{hint}", m.file_name),
                dag: None,
            });
        }
    }
    let gen_name = generated_module_name(path);
    let file_label = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut conv = convert::Converter::new(&model, text, opts, gen_name.clone(), &mut lookup);
    let mut outs = Vec::new();
    for d in 0..model.dags.len() {
        outs.push(conv.convert_dag(d, &file_label));
    }
    let moved = std::mem::take(&mut conv.moved);
    let in_tasks = std::mem::take(&mut conv.in_task_comments);
    let mut findings = std::mem::take(&mut conv.findings);
    drop(conv);
    let (module, more) = relocate::build(&model, text, &gen_name, &file_label, &moved);
    findings.extend(more);
    // Credentials are replaced by references in everything written, and reported.
    let mut vault = secrets::Vault::new(text);
    let module = module.map(|m| {
        let users: std::collections::BTreeSet<usize> = moved.values().flatten().copied().collect();
        let users: Vec<usize> = users.into_iter().collect();
        let (scrubbed, found) = vault.scrub_module(text, &m.text, &users);
        findings.extend(found);
        GeneratedModule {
            text: scrubbed,
            ..m
        }
    });
    for out in &mut outs {
        findings.extend(vault.scrub_doc(text, &mut out.doc, out.index));
    }
    for (fid, dags) in &moved {
        let f = &model.functions[*fid];
        for d in dags {
            findings.push(model::Finding {
                span: f.span.clone(),
                severity: Severity::Note,
                message: format!("`{}` is defined in the DAG file: copied to {gen_name}.py next to the TOML file (lithoflow imports functions from modules)", f.name),
                dag: Some(*d),
            });
        }
    }
    findings.extend(model.findings.iter().cloned());
    findings.extend(import_findings);

    // Tasks that ended up in no DAG.
    for t in &model.tasks {
        if t.dag.is_none() {
            findings.push(model::Finding {
                span: t.span.clone(),
                severity: Severity::Error,
                message: format!("task `{}` belongs to no DAG (no `dag=`, not inside `with DAG(...)`): it is left out", t.task_id),
                dag: None,
            });
        }
    }
    for f in &model.functions {
        if let model::FuncKind::Dag { span, .. } = &f.kind
            && !model.dags.iter().any(|d| d.span == *span)
        {
            findings.push(model::Finding {
                span: span.clone(),
                severity: Severity::Note,
                message: format!("the @dag function `{}` is never called, so Airflow would not load a DAG from it; nothing is converted", f.name),
                dag: None,
            });
        }
    }
    if model.dags.is_empty() && !findings.iter().any(|f| f.severity == Severity::Error) {
        findings.push(model::Finding {
            span: 0..0,
            severity: Severity::Error,
            message: "no DAG found in this file".into(),
            dag: None,
        });
    }

    // Messages and comments quote the DAG file: none may echo a credential.
    for f in &mut findings {
        f.message = vault.mask(&f.message);
    }
    for out in &mut outs {
        vault.mask_comments(&mut out.doc);
    }

    // Each DAG's errors, and the gaps written at the top of its file.
    let mut dags = Vec::new();
    for out in outs {
        let mine: Vec<(usize, &model::Finding)> = findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.dag.is_none_or(|d| d == out.index))
            .collect();
        let errors = mine
            .iter()
            .filter(|(_, f)| f.severity == Severity::Error)
            .count();
        let mut doc = out.doc;
        let notes = mine
            .iter()
            .filter(|(_, f)| f.severity == Severity::Note)
            .count();
        if errors > 0 {
            doc.header.push(format!("migrate: {errors} part(s) of the DAG file could not be translated; they are marked `migrate: not translated` below, and listed with their line in the report."));
        }
        if notes > 0 {
            doc.header.push(format!("migrate: {notes} note(s) on changed meaning in the report (lithoflow migrate prints them)."));
        }
        // Problems of the DAG itself (not of a task) go at the top, as comments.
        let mut top_gaps = Vec::new();
        for (i, f) in &mine {
            if f.severity == Severity::Error && !in_tasks.contains(i) {
                let loc = source.locate(f.span.clone());
                let gap = format!("migrate: not translated (line {}): {}", loc.line, f.message);
                if !top_gaps.contains(&gap) {
                    top_gaps.push(gap);
                }
            }
        }
        doc.header.extend(top_gaps);
        if let Some(m) = &module
            && moved.values().any(|ds| ds.contains(&out.index))
        {
            doc.header.push(format!(
                "Functions the DAG file defined itself were moved to {}.py, next to this file.",
                m.name
            ));
        }
        dags.push(ConvertedDag {
            dag_id: out.dag_id,
            toml: doc.render(),
            errors,
            tasks: out.tasks,
        });
    }

    let known = vault.values();
    let mut diagnostics: Vec<Diagnostic> = findings
        .iter()
        .map(|f| {
            let mut d = source.diagnostic(f.severity, f.span.clone(), f.message.clone());
            d.mask_values(&known);
            d
        })
        .collect();
    lithoflow_dag::diag::tidy(&mut diagnostics);
    found_files.sort();
    found_files.dedup();
    FileConversion {
        dags,
        module,
        diagnostics,
        local_modules: found_files,
    }
}

/// What `lithoflow migrate` did.
#[derive(Debug, Clone, Default)]
pub struct MigrateOutcome {
    /// DAG files read.
    pub files: usize,
    /// DAGs found in them.
    pub dags: usize,
    /// Files written (TOML files, generated modules, copied function modules).
    pub written: Vec<PathBuf>,
    /// Errors reported (untranslatable parts, files that could not be read or written).
    pub errors: usize,
    /// Notes reported.
    pub notes: usize,
    /// Whether `--allow-partial` was given.
    pub allow_partial: bool,
}

impl MigrateOutcome {
    /// Whether the command failed: anything was left untranslated, and `--allow-partial`
    /// was not given (the command exits 1).
    pub fn failed(&self) -> bool {
        self.errors > 0 && !self.allow_partial
    }
}

/// The Python files under `path` that look like Airflow DAG files, with the folder their
/// relative path starts from.
fn find_files(path: &Path, skipped: &mut usize) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("failed to read {}", path.display()))?;
    if meta.is_file() {
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok((root, vec![path.to_owned()]));
    }
    let mut out = Vec::new();
    walk(path, 0, &mut out, skipped)?;
    out.sort();
    Ok((path.to_owned(), out))
}

fn walk(
    dir: &Path,
    depth: usize,
    out: &mut Vec<PathBuf>,
    skipped: &mut usize,
) -> anyhow::Result<()> {
    if depth > 32 {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("failed to read the folder {}", dir.display()))?;
    for entry in entries {
        let entry =
            entry.with_context(|| format!("failed to read the folder {}", dir.display()))?;
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(&p, depth + 1, out, skipped)?;
        } else if name.ends_with(".py") {
            // Airflow's safe mode: only files mentioning both words are DAG files; the
            // rest are function modules. Generated modules are skipped too.
            let head = std::fs::read(&p).unwrap_or_default();
            let lower = String::from_utf8_lossy(&head).to_lowercase();
            if head.starts_with(GENERATED_MARKER.as_bytes())
                || !(lower.contains("airflow") && lower.contains("dag"))
            {
                *skipped += 1;
                continue;
            }
            out.push(p);
        }
    }
    Ok(())
}

/// Writes `text` to `path` unless a file not written by `lithoflow migrate` is there.
fn write_owned(path: &Path, text: &str, marker: &str) -> Result<(), String> {
    if let Ok(existing) = std::fs::read_to_string(path)
        && !existing.starts_with(marker)
    {
        return Err(format!(
            "{} exists and was not written by lithoflow migrate; not overwritten",
            path.display()
        ));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("failed to create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("failed to write {}: {e}", path.display()))
}

fn parse_now(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Ok(d.with_timezone(&Utc));
    }
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => Ok(d.and_time(chrono::NaiveTime::MIN).and_utc()),
        Err(_) => {
            bail!("--now {text:?}: expected RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)")
        }
    }
}

/// What the Python loader made of a DAG file, for [`run_with`].
#[derive(Debug, Clone)]
pub enum Loaded {
    /// It ran the file on lithoflow's Airflow compatibility layer: the DAGs it defines.
    Ran(Described),
    /// It could not import the file here: why (the exception with its `file:line`, the
    /// time limit, or that there is no Python). The file is then read statically.
    NotImported(String),
}

impl Loaded {
    /// The loader's answer for a file (its `{"op": "result", "ok": ..., "dags": [...],
    /// "modules": [...], "error": {...}}`, issue 19's spec), or why there is none (the
    /// loader process could not start: no Python).
    pub fn from_result(result: Result<serde_json::Value, String>) -> Loaded {
        let v = match result {
            Ok(v) => v,
            Err(why) => return Loaded::NotImported(why),
        };
        if v["ok"].as_bool() == Some(true) {
            let dags = v["dags"].as_array().cloned().unwrap_or_default();
            let modules = v["modules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["path"].as_str().or(m.as_str()).map(PathBuf::from))
                .collect();
            let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
            return Loaded::Ran(Described {
                dags,
                modules,
                warnings,
            });
        }
        let e = &v["error"];
        let what = match (e["type"].as_str(), e["message"].as_str()) {
            (Some(t), Some(m)) if !m.is_empty() => format!("{t}: {m}"),
            (Some(t), _) => t.to_owned(),
            (None, Some(m)) => m.to_owned(),
            (None, None) => format!(
                "the loader failed ({})",
                e["kind"].as_str().unwrap_or("no reason given")
            ),
        };
        let at = match (e["file"].as_str(), e["line"].as_u64()) {
            (Some(f), Some(l)) => format!(" at {f}:{l}"),
            (Some(f), None) => format!(" in {f}"),
            _ => String::new(),
        };
        Loaded::NotImported(format!("{what}{at}"))
    }
}

/// How [`run_with`] gets a DAG file's descriptions: `(file, the Airflow version of files
/// that do not import Airflow 3's modules, if `--airflow-version` gave one)`.
pub type LoaderFn<'a> = &'a mut dyn FnMut(&Path, Option<AirflowVersion>) -> Loaded;

/// How [`run_loading`] loads DAG files. It is given the files, the DAGs folder to put on
/// their `sys.path` (None: each file's own folder) and the Airflow version of the files
/// that do not import Airflow 3's modules (None: the `default_version` of lithoflow.toml's
/// `airflow` table), and gives the loader's answer per file, in order (see
/// [`Loaded::from_result`]).
pub type DescribeFn<'a> =
    &'a dyn Fn(&[PathBuf], Option<&Path>, Option<u8>) -> Vec<Result<serde_json::Value, String>>;

/// Runs `lithoflow migrate` with the Python loader `describe` (the scheduler's), which
/// loads every DAG file first; `None` reads every file statically.
pub fn run_loading(
    args: &MigrateArgs,
    describe: Option<DescribeFn<'_>>,
    summary: &mut dyn Write,
    report: &mut dyn Write,
) -> anyhow::Result<MigrateOutcome> {
    let Some(describe) = describe.filter(|_| !args.static_only) else {
        return run_with(args, None, summary, report);
    };
    let files = dag_files(args)?;
    // The folder given is the DAGs folder (on `sys.path`, as Airflow's); for files named
    // one by one, each file's own folder.
    let folder = match args.paths.as_slice() {
        [one] if one.is_dir() => Some(one.as_path()),
        _ => None,
    };
    let version = args.airflow_version.map(|v| match v {
        AirflowVersion::V2 => 2,
        AirflowVersion::V3 => 3,
    });
    let mut answers: HashMap<PathBuf, Result<serde_json::Value, String>> = files
        .iter()
        .cloned()
        .zip(describe(&files, folder, version))
        .collect();
    let mut loader = |file: &Path, _: Option<AirflowVersion>| {
        Loaded::from_result(
            answers
                .remove(file)
                .unwrap_or_else(|| Err("the loader gave no answer for it".into())),
        )
    };
    run_with(args, Some(&mut loader), summary, report)
}

/// Runs `lithoflow migrate` with the static reader alone: the report goes to `report`
/// (stderr), the list of files written to `summary` (stdout).
pub fn run(
    args: &MigrateArgs,
    summary: &mut dyn Write,
    report: &mut dyn Write,
) -> anyhow::Result<MigrateOutcome> {
    run_with(args, None, summary, report)
}

/// The DAG files `lithoflow migrate` would read for `args`, in its order (for a caller
/// that loads them all before [`run_with`]).
pub fn dag_files(args: &MigrateArgs) -> anyhow::Result<Vec<PathBuf>> {
    let mut skipped = 0;
    let mut files = Vec::new();
    for p in &args.paths {
        files.extend(find_files(p, &mut skipped)?.1);
    }
    Ok(files)
}

/// Runs `lithoflow migrate`: each DAG file is loaded with `loader` (the Python loader,
/// which runs it) and converted from the DAGs it defines; a file the loader cannot import
/// here, or every file when there is no loader, is read statically. The report (on
/// `report`) says which reader each file had.
pub fn run_with(
    args: &MigrateArgs,
    mut loader: Option<LoaderFn<'_>>,
    summary: &mut dyn Write,
    report: &mut dyn Write,
) -> anyhow::Result<MigrateOutcome> {
    let now = match &args.now {
        Some(t) => parse_now(t)?,
        None => Utc::now(),
    };
    let opts = ConvertOptions {
        airflow_version: args.airflow_version.unwrap_or(AirflowVersion::V2),
        now,
    };
    let mut outcome = MigrateOutcome {
        allow_partial: args.allow_partial,
        ..MigrateOutcome::default()
    };
    let mut skipped = 0;
    let mut files: Vec<(PathBuf, PathBuf)> = Vec::new();
    for p in &args.paths {
        let (root, found) = find_files(p, &mut skipped)?;
        files.extend(found.into_iter().map(|f| (root.clone(), f)));
    }
    // A file named twice (itself and inside a folder given too) is converted once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|(_, f)| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if files.is_empty() {
        bail!(
            "no Airflow DAG files found (a DAG file is a .py file that mentions both \"airflow\" and \"dag\")"
        );
    }
    let mut written_ids: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut lines: Vec<String> = Vec::new();
    for (root, file) in &files {
        outcome.files += 1;
        let mut diags: Vec<Diagnostic> = Vec::new();
        let text = match std::fs::metadata(file) {
            Ok(m) if m.len() > MAX_FILE_BYTES => Err(format!("larger than {MAX_FILE_BYTES} bytes")),
            Ok(_) => std::fs::read(file)
                .map_err(|e| e.to_string())
                .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_owned())),
            Err(e) => Err(e.to_string()),
        };
        let text = match text {
            Ok(t) => t,
            Err(m) => {
                let d = Diagnostic {
                    severity: Severity::Error,
                    path: file.clone(),
                    location: None,
                    message: format!("cannot be read: {m}"),
                };
                writeln!(report, "{}", d.headline())?;
                outcome.errors += 1;
                continue;
            }
        };
        let conv = match loader.as_mut().map(|l| l(file, args.airflow_version)) {
            None => convert_file(file, &text, &opts),
            Some(Loaded::Ran(described)) => {
                diags.push(Diagnostic {
                    severity: Severity::Note,
                    path: file.clone(),
                    location: None,
                    message: "loaded by running it on lithoflow's Airflow compatibility layer, as Airflow imports it".into(),
                });
                convert_described(file, &text, &described, &opts)
            }
            Some(Loaded::NotImported(why)) => {
                diags.push(Diagnostic {
                    severity: Severity::Note,
                    path: file.clone(),
                    location: None,
                    message: format!("read statically, without running it: the loader could not import it here ({why})"),
                });
                convert_file(file, &text, &opts)
            }
        };
        outcome.dags += conv.dags.len();
        let out_dir = match &args.out {
            Some(o) => {
                let rel = file
                    .parent()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                o.join(rel)
            }
            None => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let mut wrote_any = false;
        for dag in &conv.dags {
            if dag.errors > 0 && !args.allow_partial {
                lines.push(format!("not written: DAG `{}` from {} ({} untranslated part(s); --allow-partial writes it with the gaps as comments)", dag.dag_id, file.display(), dag.errors));
                continue;
            }
            let target = out_dir.join(format!("{}.toml", file_stem_for(&dag.dag_id)));
            if let Some(prev) = written_ids.get(&dag.dag_id) {
                diags.push(Diagnostic {
                    severity: Severity::Error,
                    path: file.clone(),
                    location: None,
                    message: format!(
                        "DAG `{}` is defined twice: already written to {}",
                        dag.dag_id,
                        prev.display()
                    ),
                });
                continue;
            }
            match write_owned(&target, &dag.toml, TOML_MARKER) {
                Ok(()) => {
                    lines.push(format!(
                        "wrote {} (DAG `{}`, {} task(s){})",
                        target.display(),
                        dag.dag_id,
                        dag.tasks,
                        if dag.errors > 0 {
                            format!(", {} gap(s) marked as comments", dag.errors)
                        } else {
                            String::new()
                        }
                    ));
                    outcome.written.push(target.clone());
                    written_ids.insert(dag.dag_id.clone(), target.clone());
                    wrote_any = true;
                    // The written file must load in lithoflow as it is.
                    let (_, vdiags) = lithoflow_dag::parse_dag(&target, &dag.toml);
                    for d in vdiags.into_iter().filter(Diagnostic::is_error) {
                        diags.push(Diagnostic {
                            message: format!("the converted file does not validate: {}", d.message),
                            ..d
                        });
                    }
                }
                Err(m) => diags.push(Diagnostic {
                    severity: Severity::Error,
                    path: file.clone(),
                    location: None,
                    message: m,
                }),
            }
        }
        if wrote_any {
            if let Some(m) = &conv.module {
                let target = out_dir.join(format!("{}.py", m.name));
                match write_owned(&target, &m.text, GENERATED_MARKER) {
                    Ok(()) => {
                        lines.push(format!(
                            "wrote {} (functions moved from {}: {})",
                            target.display(),
                            file.display(),
                            m.functions.join(", ")
                        ));
                        outcome.written.push(target);
                    }
                    Err(msg) => diags.push(Diagnostic {
                        severity: Severity::Error,
                        path: file.clone(),
                        location: None,
                        message: msg,
                    }),
                }
            }
            if args.out.is_some() {
                let src_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                for m in &conv.local_modules {
                    let Ok(rel) = m.strip_prefix(&src_dir) else {
                        continue;
                    };
                    let target = out_dir.join(rel);
                    if target.exists() || target == *m {
                        continue;
                    }
                    let copied = target
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| std::fs::copy(m, &target).map(|_| ()));
                    match copied {
                        Ok(()) => {
                            lines.push(format!(
                                "copied {} to {} (a function module the DAG imports, unchanged)",
                                m.display(),
                                target.display()
                            ));
                            outcome.written.push(target);
                        }
                        Err(e) => diags.push(Diagnostic {
                            severity: Severity::Error,
                            path: m.clone(),
                            location: None,
                            message: format!("failed to copy to {}: {e}", target.display()),
                        }),
                    }
                }
            }
        }
        diags.extend(conv.diagnostics);
        for d in &diags {
            match d.severity {
                Severity::Error => outcome.errors += 1,
                _ => outcome.notes += 1,
            }
            writeln!(report, "{}", d.headline())?;
        }
    }
    for l in &lines {
        writeln!(summary, "{l}")?;
    }
    writeln!(
        summary,
        "{} file(s) read{}, {} DAG(s) found, {} file(s) written; {} error(s), {} note(s)",
        outcome.files,
        if skipped > 0 {
            format!(" ({skipped} .py file(s) without \"airflow\" and \"dag\" skipped)")
        } else {
            String::new()
        },
        outcome.dags,
        outcome.written.len(),
        outcome.errors,
        outcome.notes
    )?;
    Ok(outcome)
}
