//! The loader's callable references (`lithoflow_dagfile_<hex>:t_<hex>_<hex>_<attr>`, which
//! a worker resolves by importing the DAG file again) turned into what a TOML file can
//! hold: `module:function` for a module-level function of a module in the DAG's folder,
//! the generated module's name for one the DAG file defines itself, or the reason it
//! cannot be (a lambda, a closure, a bound method, a custom operator's `execute`, ...).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A reference of the loader's, taken apart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reference {
    /// The task id; `None` for a DAG's own callable (its callbacks).
    pub(crate) task: Option<String>,
    /// What it stands for: `python_callable`, `execute`, `on_failure_callback_0`, ...
    pub(crate) attr: String,
}

/// The module prefix of every reference to a DAG file's callables.
const DAGFILE_PREFIX: &str = "lithoflow_dagfile_";

fn unhex(s: &str) -> Option<String> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

/// `text` as a loader reference, if it is one.
pub(crate) fn parse_reference(text: &str) -> Option<Reference> {
    let (module, function) = text.split_once(':')?;
    unhex(module.strip_prefix(DAGFILE_PREFIX)?)?;
    if let Some(rest) = function.strip_prefix("t_") {
        let mut parts = rest.splitn(3, '_');
        let (_dag, task, attr) = (parts.next()?, parts.next()?, parts.next()?);
        unhex(_dag)?;
        return Some(Reference {
            task: Some(unhex(task)?),
            attr: attr.to_owned(),
        });
    }
    let rest = function.strip_prefix("d_")?;
    let (dag, attr) = rest.split_once('_')?;
    unhex(dag)?;
    Some(Reference {
        task: None,
        attr: attr.to_owned(),
    })
}

/// What a reference becomes in the TOML file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    /// A function of a module the workers import: `module:function`.
    Module {
        module: String,
        function: String,
        /// The module's file, when it is in the DAG's folder (copied with `--out`).
        file: Option<PathBuf>,
        /// A note to report (the module is outside the DAG's folder).
        note: Option<String>,
    },
    /// A function of the DAG file itself (module-level, or nested without captures):
    /// moved to the generated module. `line` is its first line (its first decorator's).
    Moved { function: String, line: usize },
    /// TOML cannot hold it: why, and the DAG file's line to report it at (if known).
    Cannot {
        message: String,
        line: Option<usize>,
    },
}

/// Where the DAG file is, for telling its own functions from other modules'.
pub(crate) struct Place {
    /// The DAG file, canonical.
    pub(crate) file: PathBuf,
    /// Its folder, canonical.
    pub(crate) folder: PathBuf,
}

impl Place {
    pub(crate) fn new(path: &Path) -> Place {
        let file = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Place { file, folder }
    }

    fn is_dag_file(&self, file: &Path) -> bool {
        std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned()) == self.file
            || file == self.file
    }

    /// `file`'s dotted module name relative to the DAG's folder (`common/util.py` is
    /// `common.util`, `pkg/__init__.py` is `pkg`), if it is inside it.
    fn relative_module(&self, file: &Path) -> Option<String> {
        let canon = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
        let rel = canon.strip_prefix(&self.folder).ok()?;
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let last = parts.pop()?;
        let stem = last.strip_suffix(".py")?;
        if stem != "__init__" {
            parts.push(stem.to_owned());
        }
        (!parts.is_empty() && parts.iter().all(|p| is_identifier(p))).then(|| parts.join("."))
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// The advice every refusal ends with.
pub(crate) const STAY_PY: &str =
    "TOML cannot hold it: keep this DAG as .py (lithoflow loads and runs it unchanged)";

/// What a task's operator is, for messages: `Class (from module)`.
pub(crate) fn operator_text(task: &Value) -> String {
    let class = task["operator"].as_str().unwrap_or("the operator");
    match task["operator_module"].as_str() {
        // Airflow's (and the loader's) module name for the DAG file itself.
        Some(m) if m.starts_with("unusual_prefix_") || m.starts_with(DAGFILE_PREFIX) => {
            format!("`{class}` (defined in the DAG file)")
        }
        Some(m) => format!("`{class}` (from {m})"),
        None => format!("`{class}`"),
    }
}

/// Why a task whose callable is one of the compatibility layer's shims cannot be written as
/// TOML, or `None` when `attr` names a plain callable argument.
pub(crate) fn shim_reason(attr: &str, task_id: &str, task: &Value) -> Option<String> {
    let op = operator_text(task);
    Some(match attr {
        "unsupported" => format!(
            "task `{task_id}`: {op} is a provider operator lithoflow does not implement, so no TOML task type runs it; keep this DAG on Airflow or as .py (where running that task fails naming the operator), or replace the task"
        ),
        "execute" => format!(
            "task `{task_id}` is a custom operator {op}: its `execute(context)` is a method of a class defined in Python; {STAY_PY}, or rewrite the task as a `python` task calling a module-level function"
        ),
        "poke" => format!(
            "task `{task_id}` is a custom sensor {op}: its `poke(context)` is a method of a class defined in Python; {STAY_PY}, or rewrite it as a `python` sensor calling a module-level function"
        ),
        "virtualenv" => format!(
            "task `{task_id}` ({op}) runs its function in a separate virtual environment or interpreter, which TOML tasks have no key for; {STAY_PY}"
        ),
        "taskflow_bash" => format!(
            "task `{task_id}` is a `@task.bash` function: the command is what the function returns when the task runs, while a TOML `bash` task holds the command's text; {STAY_PY}"
        ),
        "latest_only" => format!(
            "task `{task_id}` is a LatestOnlyOperator, which lithoflow's TOML has no task type for; {STAY_PY}, or use a `short_circuit` task"
        ),
        "call" => format!(
            "task `{task_id}`: its function's arguments hold values that are not plain data (JSON): a Python object, a `@dag` function's parameter, or a part of another task's result (`result[\"key\"]`); {STAY_PY}, or pass plain values, whole results, or templates (`{{{{ params.name }}}}`)"
        ),
        _ => return None,
    })
}

/// The attributes that name a plain callable argument (the rest are shims).
fn is_callable_attr(attr: &str) -> bool {
    matches!(
        attr,
        "python_callable" | "func" | "map_function" | "reduce_function" | "execution_date_fn"
    ) || callback_name(attr).is_some()
}

/// `on_failure_callback_0` is the first `on_failure_callback`.
pub(crate) fn callback_name(attr: &str) -> Option<&str> {
    let (name, index) = attr.rsplit_once('_')?;
    (name.starts_with("on_") && name.ends_with("_callback") && index.parse::<usize>().is_ok())
        .then_some(name)
}

/// What the argument is called in messages.
fn argument_name(attr: &str) -> &str {
    callback_name(attr).unwrap_or(attr)
}

/// Resolves one callable described by the loader (`info`: kind, module, qualname, file,
/// line) of task `owner` (or of the DAG), for argument `attr`.
pub(crate) fn resolve(place: &Place, owner: &str, attr: &str, info: Option<&Value>) -> Resolved {
    let arg = argument_name(attr);
    let Some(info) = info.filter(|i| i.is_object()) else {
        return Resolved::Cannot {
            message: format!(
                "{owner}: the loader did not describe its `{arg}`, so migrate cannot name it; {STAY_PY}"
            ),
            line: None,
        };
    };
    let kind = info["kind"].as_str().unwrap_or("object");
    let qualname = info["qualname"].as_str().unwrap_or("");
    let module = info["module"].as_str().unwrap_or("");
    let file = info["file"].as_str().map(PathBuf::from);
    let line = info["line"].as_u64().map(|l| l as usize);
    let in_dag_file = file.as_deref().is_some_and(|f| place.is_dag_file(f));
    let at = |line: Option<usize>| {
        if in_dag_file {
            line.map(|l| format!(" (line {l})")).unwrap_or_default()
        } else {
            match (&file, line) {
                (Some(f), Some(l)) => format!(" ({}:{l})", f.display()),
                (Some(f), None) => format!(" ({})", f.display()),
                _ => String::new(),
            }
        }
    };
    let report_line = if in_dag_file { line } else { None };
    let cannot = |what: String, hint: &str| Resolved::Cannot {
        message: format!("{owner}: its `{arg}` is {what}; {STAY_PY}{hint}"),
        line: report_line,
    };
    if !is_callable_attr(attr) {
        return cannot(
            format!("the compatibility layer's `{attr}`, which migrate does not know"),
            "",
        );
    }
    let plain_name = is_identifier(qualname);
    match kind {
        _ if qualname.contains("<lambda>") || kind == "lambda" => cannot(
            format!(
                "a lambda{}, which has no name a TOML file could refer to",
                at(line)
            ),
            ", or make it a module-level function",
        ),
        // A function defined inside another that captures nothing from it (a `@task` in a
        // `@dag` function's body) moves like a module-level one.
        "nested" if in_dag_file => Resolved::Moved {
            function: qualname.rsplit('.').next().unwrap_or(qualname).to_owned(),
            line: line.unwrap_or(0),
        },
        _ if qualname.contains("<locals>") || matches!(kind, "closure" | "nested") => cannot(
            format!(
                "`{}`{}, a function defined inside a function (a closure or nested function): it has no module-level name, and what it captured (a factory's arguments, a loop's values) exists only while the file runs",
                qualname.replace(".<locals>", ""),
                at(line)
            ),
            ", or make it a module-level function that takes those values as arguments (`op_kwargs`)",
        ),
        "partial" => cannot(
            format!(
                "a `functools.partial` of `{qualname}`{}: the arguments it binds are Python values",
                at(line)
            ),
            ", or pass them as `op_args`/`op_kwargs` of a module-level function",
        ),
        "method" | "bound_method" => cannot(
            format!(
                "the bound method `{qualname}`{}: it needs its object, which exists only while the file runs",
                at(line)
            ),
            "",
        ),
        "function" | "builtin" if !plain_name => cannot(
            format!(
                "`{qualname}`{}, which is not a module-level function",
                at(line)
            ),
            "",
        ),
        "function" | "builtin" => {
            if in_dag_file {
                return Resolved::Moved {
                    function: qualname.to_owned(),
                    line: line.unwrap_or(0),
                };
            }
            if let Some(m) = file.as_deref().and_then(|f| place.relative_module(f)) {
                return Resolved::Module {
                    module: m,
                    function: qualname.to_owned(),
                    file,
                    note: None,
                };
            }
            let importable = !module.is_empty()
                && module.split('.').all(is_identifier)
                && !module.starts_with("unusual_prefix_")
                && !module.starts_with(DAGFILE_PREFIX)
                && module != "__main__";
            if importable {
                Resolved::Module {
                    module: module.to_owned(),
                    function: qualname.to_owned(),
                    file: None,
                    note: Some(format!(
                        "{owner}: its `{arg}` is `{module}.{qualname}`{}, outside the DAG's folder: written as \"{module}:{qualname}\", which lithoflow's workers must be able to import",
                        at(line)
                    )),
                }
            } else {
                cannot(
                    format!(
                        "`{qualname}` of a module that cannot be imported by name (`{module}`{})",
                        at(line)
                    ),
                    "",
                )
            }
        }
        other => cannot(
            format!(
                "a {} `{qualname}`{}, not a module-level function",
                other.replace('_', " "),
                at(line)
            ),
            "",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn references() {
        let module = format!("lithoflow_dagfile_{}", hex("etl.py"));
        let task = format!("{module}:t_{}_{}_python_callable", hex("etl"), hex("g.x"));
        assert_eq!(
            parse_reference(&task),
            Some(Reference {
                task: Some("g.x".into()),
                attr: "python_callable".into()
            })
        );
        let cb = format!("{module}:d_{}_on_failure_callback_1", hex("etl"));
        assert_eq!(
            parse_reference(&cb),
            Some(Reference {
                task: None,
                attr: "on_failure_callback_1".into()
            })
        );
        assert_eq!(parse_reference("my_functions:add"), None);
        assert_eq!(parse_reference("lithoflow_dagfile_zz:t_1_2_x"), None);
        assert_eq!(
            callback_name("on_failure_callback_1"),
            Some("on_failure_callback")
        );
        assert_eq!(callback_name("python_callable"), None);
    }
}
