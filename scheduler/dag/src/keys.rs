//! The keys of a DAG file, in one table ([`KEYS`]): each key's name, where it may appear
//! (the top of the file, a task of which types, `[default_args]`), what it holds, its
//! default, its aliases, a one-line doc, and the Airflow operator argument it comes from.
//!
//! The table drives the parser (reading, type-checking and defaulting every plain key,
//! the "unknown key" and "did you mean" checks), `dags show`'s parameter listing
//! ([`Task::parameters`]), `lithoflow migrate`'s mapping of Airflow operator arguments,
//! and a test that docs/dag-format.md documents every key.
//!
//! A *plain* key is a typed value carried on the [`Task`] with a default and no other
//! semantics: its table entry (`Plain`, with a `Slot` naming the field) is all the
//! code it needs besides the model field. Keys with real semantics (function references,
//! values taken from other tasks, trigger rules, executor settings, ...) are read by hand
//! in `parse`; their entries say where they may appear and how `dags show` prints them.

mod table;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::model::{Task, TaskKind};
use crate::schema::TaskType;

pub use table::KEYS;

/// One key of a DAG file.
#[derive(Debug)]
pub struct Key {
    /// The key as written in files.
    pub name: &'static str,
    /// Other spellings accepted for it: the Lithops plugin's code and its README's typo.
    pub aliases: &'static [&'static str],
    /// What it means, in one line.
    pub doc: &'static str,
    /// Where it may appear.
    pub(crate) place: Place,
    /// The task types of the Airflow operators that take an argument of the same name
    /// (or an alias), which `lithoflow migrate` maps to this key; None: no operator
    /// argument corresponds (a lithoflow key, or a DAG argument).
    pub(crate) airflow: Option<Scope>,
    /// What it holds.
    pub(crate) holds: Holds,
}

/// Where a key may appear.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    /// At the top of a DAG file.
    pub(crate) dag: bool,
    /// In a task of these types; None: not a task key.
    pub(crate) task: Option<Scope>,
    /// In `[default_args]` as well as in a task (false for keys that only make sense on
    /// one task).
    pub(crate) default_args: bool,
}

/// A key of the top of a DAG file only.
pub(crate) const DAG: Place = Place {
    dag: true,
    task: None,
    default_args: false,
};

/// A task key, also allowed in `[default_args]`.
pub(crate) const fn task(scope: Scope) -> Place {
    Place {
        dag: false,
        task: Some(scope),
        default_args: true,
    }
}

/// A task key that only makes sense on one task, so not in `[default_args]`.
pub(crate) const fn task_only(scope: Scope) -> Place {
    Place {
        dag: false,
        task: Some(scope),
        default_args: false,
    }
}

/// Which task types a task key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every task type.
    Common,
    /// Task types whose code runs on the executor: the Lithops three and the Python ones.
    Executor,
    /// The three Lithops operators.
    Lithops,
    /// `call_async` only.
    CallAsync,
    /// `map` and `map_reduce`.
    MapLike,
    /// `map_reduce` only.
    MapReduce,
    /// `python`, `branch` and `short_circuit`.
    Python,
    /// `short_circuit` only.
    ShortCircuit,
    /// `bash` only.
    Bash,
    /// The task types that may be mapped (`expand`): `python`, `bash`, `call_async`.
    Mappable,
    /// `sensor` only.
    Sensor,
    /// `trigger_dag_run` only.
    TriggerDagRun,
    /// `sensor` and `trigger_dag_run` (the waiting keys).
    Waits,
    /// `python`, `branch`, `short_circuit`, and `sensor = "python"`.
    PythonCall,
    /// `bash`, and `sensor = "bash"`.
    BashCommand,
}

impl Scope {
    pub(crate) fn allows(self, t: TaskType) -> bool {
        match self {
            Scope::Common => true,
            Scope::Executor => t.is_lithops() || t.is_python() || t == TaskType::Sensor,
            Scope::Lithops => t.is_lithops(),
            Scope::CallAsync => t == TaskType::CallAsync,
            Scope::MapLike => matches!(t, TaskType::Map | TaskType::MapReduce),
            Scope::MapReduce => t == TaskType::MapReduce,
            Scope::Python => t.is_python(),
            Scope::ShortCircuit => t == TaskType::ShortCircuit,
            Scope::Bash => t == TaskType::Bash,
            Scope::Mappable => matches!(t, TaskType::Python | TaskType::Bash | TaskType::CallAsync),
            Scope::Sensor => t == TaskType::Sensor,
            Scope::TriggerDagRun => t == TaskType::TriggerDagRun,
            Scope::Waits => matches!(t, TaskType::Sensor | TaskType::TriggerDagRun),
            Scope::PythonCall => t.is_python() || t == TaskType::Sensor,
            Scope::BashCommand => matches!(t, TaskType::Bash | TaskType::Sensor),
        }
    }

    pub(crate) fn owners(self) -> &'static str {
        match self {
            Scope::Common => "every task type",
            Scope::Executor => "the Lithops and Python task types and sensors",
            Scope::Lithops => "call_async, map and map_reduce tasks",
            Scope::CallAsync => "call_async tasks",
            Scope::MapLike => "map and map_reduce tasks",
            Scope::MapReduce => "map_reduce tasks",
            Scope::Python => "python, branch and short_circuit tasks",
            Scope::ShortCircuit => "short_circuit tasks",
            Scope::Bash => "bash tasks",
            Scope::Mappable => "python, bash and call_async tasks",
            Scope::Sensor => "sensor tasks",
            Scope::TriggerDagRun => "trigger_dag_run tasks",
            Scope::Waits => "sensor and trigger_dag_run tasks",
            Scope::PythonCall => "python, branch and short_circuit tasks and python sensors",
            Scope::BashCommand => "bash tasks and bash sensors",
        }
    }

    /// Where `dags show` lists a key: a task type's own keys first, then the executor
    /// settings, then the keys of every task type.
    fn listing_rank(self) -> u8 {
        match self {
            Scope::Common => 2,
            Scope::Executor | Scope::Lithops => 1,
            _ => 0,
        }
    }
}

/// What kind of value a key holds, as docs/dag-format.md names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `true` or `false`.
    Boolean,
    /// An integer (its bounds are checked when the file is read).
    Integer,
    /// An integer or a float (or, for Airflow 2's backoff, a boolean).
    Number,
    /// `"90s"`, `"1h30m"` or a number of seconds.
    Duration,
    /// A string.
    String,
    /// An array of strings.
    Strings,
    /// An exit code, or an array of them.
    Integers,
    /// A table.
    Table,
    /// A TOML date or datetime.
    Date,
    /// A Python function reference, `"module:function"`.
    Function,
    /// A Python function reference, or an array of them (callbacks).
    Functions,
    /// A task id, or several.
    TaskIds,
    /// Any TOML value (it reaches Python as JSON).
    Value,
}

/// What a key holds.
#[derive(Debug)]
pub(crate) enum Holds {
    /// A plain value carried on the task.
    Plain(Plain),
    /// A value read and checked by hand code in `parse` (the key has real semantics).
    Hand {
        /// What it holds.
        kind: ValueKind,
        /// Its default as docs/dag-format.md says it; None: required.
        default: Option<&'static str>,
        /// How `dags show` prints it on a task (None from the function: not listed for
        /// this task); None: a DAG key, or one `dags show` prints elsewhere.
        show: Option<fn(&Task) -> Option<String>>,
    },
}

/// Where a plain key's value lives on a [`Task`]: a field of every task, or of the
/// task types of the key's scope (`None` on a task of another type).
pub(crate) struct Slot<T: 'static> {
    pub(crate) get: fn(&Task) -> Option<&T>,
    pub(crate) get_mut: fn(&mut Task) -> Option<&mut T>,
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

/// A [`Slot`]: `slot!(retries)` or `slot!(common.timeout)` for a field of every task;
/// `slot!(TaskKind::Bash(b) => b.cwd)` for a field of some task types.
macro_rules! slot {
    ($($field:ident).+) => {
        $crate::keys::Slot {
            get: |t| Some(&t.$($field).+),
            get_mut: |t| Some(&mut t.$($field).+),
        }
    };
    ($($pattern:pat_param)|+ => $place:expr) => {
        $crate::keys::Slot {
            get: |t| match &t.kind {
                $($pattern)|+ => Some(&$place),
                _ => None,
            },
            get_mut: |t| match &mut t.kind {
                $($pattern)|+ => Some(&mut $place),
                _ => None,
            },
        }
    };
}
pub(crate) use slot;

/// A plain key's value: how it is read, its default, where it lives, how it is shown.
#[derive(Debug)]
pub(crate) enum Plain {
    /// A boolean.
    Bool { at: Slot<bool>, default: bool },
    /// A non-negative integer that fits in 32 bits.
    Count { at: Slot<u32>, default: u32 },
    /// An integer in `min..=max`, unset unless written (`unset`: how `dags show` says so).
    OptInt {
        at: Slot<Option<u64>>,
        min: u64,
        max: u64,
        unset: &'static str,
    },
    /// A signed integer in `min..=max` with a default.
    Int {
        at: Slot<i64>,
        default: i64,
        min: i64,
        max: i64,
    },
    /// A duration.
    Duration {
        at: Slot<Duration>,
        default: Duration,
    },
    /// A duration, unset unless written; `positive`: 0 is refused.
    OptDuration {
        at: Slot<Option<Duration>>,
        positive: bool,
        unset: &'static str,
    },
    /// A non-negative multiplier; `true` means 2 and `false` 0 (Airflow 2's backoff).
    Multiplier { at: Slot<f64>, default: f64 },
    /// A string.
    Str {
        at: Slot<String>,
        default: &'static str,
    },
    /// A string, unset unless written.
    OptStr {
        at: Slot<Option<String>>,
        unset: &'static str,
    },
    /// An array of strings, empty unless written; `module_paths`: paths among them must
    /// stay inside the DAGs folder (or `[dags] include_paths`).
    Strings {
        at: Slot<Vec<String>>,
        module_paths: bool,
    },
    /// A table of keyword arguments, unset unless written.
    Kwargs {
        at: Slot<Option<Map<String, Value>>>,
        unset: &'static str,
    },
}

/// A plain key's value as read from a file, before it is put on the task.
#[derive(Debug, Clone)]
pub(crate) enum PlainValue {
    Bool(bool),
    Int(u64),
    Signed(i64),
    Float(f64),
    Duration(Duration),
    Str(String),
    Strings(Vec<String>),
    Kwargs(Map<String, Value>),
}

impl Plain {
    fn kind(&self) -> ValueKind {
        match self {
            Plain::Bool { .. } => ValueKind::Boolean,
            Plain::Count { .. } | Plain::OptInt { .. } | Plain::Int { .. } => ValueKind::Integer,
            Plain::Duration { .. } | Plain::OptDuration { .. } => ValueKind::Duration,
            Plain::Multiplier { .. } => ValueKind::Number,
            Plain::Str { .. } | Plain::OptStr { .. } => ValueKind::String,
            Plain::Strings { .. } => ValueKind::Strings,
            Plain::Kwargs { .. } => ValueKind::Table,
        }
    }

    /// Whether the key has no value unless it is written.
    fn optional(&self) -> bool {
        matches!(
            self,
            Plain::OptInt { .. }
                | Plain::OptDuration { .. }
                | Plain::OptStr { .. }
                | Plain::Strings { .. }
                | Plain::Kwargs { .. }
        )
    }

    /// Puts `value` (None: the default) on `task`, if the task has this key.
    pub(crate) fn apply(&self, task: &mut Task, value: Option<&PlainValue>) {
        use PlainValue as V;
        fn put<T>(at: &Slot<T>, task: &mut Task, v: T) {
            if let Some(slot) = (at.get_mut)(task) {
                *slot = v;
            }
        }
        match (self, value) {
            (Plain::Bool { at, default }, v) => {
                let b = match v {
                    Some(V::Bool(b)) => *b,
                    _ => *default,
                };
                put(at, task, b);
            }
            (Plain::Count { at, default }, v) => {
                let n = match v {
                    Some(V::Int(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
                    _ => *default,
                };
                put(at, task, n);
            }
            (Plain::OptInt { at, .. }, v) => {
                let n = match v {
                    Some(V::Int(n)) => Some(*n),
                    _ => None,
                };
                put(at, task, n);
            }
            (Plain::Int { at, default, .. }, v) => {
                let n = match v {
                    Some(V::Signed(n)) => *n,
                    _ => *default,
                };
                put(at, task, n);
            }
            (Plain::Duration { at, default }, v) => {
                let d = match v {
                    Some(V::Duration(d)) => *d,
                    _ => *default,
                };
                put(at, task, d);
            }
            (Plain::OptDuration { at, .. }, v) => {
                let d = match v {
                    Some(V::Duration(d)) => Some(*d),
                    _ => None,
                };
                put(at, task, d);
            }
            (Plain::Multiplier { at, default }, v) => {
                let x = match v {
                    Some(V::Float(x)) => *x,
                    _ => *default,
                };
                put(at, task, x);
            }
            (Plain::Str { at, default }, v) => {
                let s = match v {
                    Some(V::Str(s)) => s.clone(),
                    _ => (*default).to_owned(),
                };
                put(at, task, s);
            }
            (Plain::OptStr { at, .. }, v) => {
                let s = match v {
                    Some(V::Str(s)) => Some(s.clone()),
                    _ => None,
                };
                put(at, task, s);
            }
            (Plain::Strings { at, .. }, v) => {
                let list = match v {
                    Some(V::Strings(l)) => l.clone(),
                    _ => Vec::new(),
                };
                put(at, task, list);
            }
            (Plain::Kwargs { at, .. }, v) => {
                let m = match v {
                    Some(V::Kwargs(m)) => Some(m.clone()),
                    _ => None,
                };
                put(at, task, m);
            }
        }
    }

    /// The value on `task` as `dags show` prints it; None if the task has no such key.
    fn show(&self, task: &Task) -> Option<String> {
        fn opt<T>(v: &Option<T>, unset: &str, f: impl Fn(&T) -> String) -> String {
            v.as_ref().map_or_else(|| unset.to_owned(), f)
        }
        Some(match self {
            Plain::Bool { at, .. } => (at.get)(task)?.to_string(),
            Plain::Count { at, .. } => (at.get)(task)?.to_string(),
            Plain::Int { at, .. } => (at.get)(task)?.to_string(),
            Plain::OptInt { at, unset, .. } => opt((at.get)(task)?, unset, u64::to_string),
            Plain::Duration { at, .. } => crate::duration::format(*(at.get)(task)?),
            Plain::OptDuration { at, unset, .. } => {
                opt((at.get)(task)?, unset, |d| crate::duration::format(*d))
            }
            Plain::Multiplier { at, .. } => (at.get)(task)?.to_string(),
            Plain::Str { at, .. } => (at.get)(task)?.clone(),
            Plain::OptStr { at, unset } => opt((at.get)(task)?, unset, String::clone),
            Plain::Strings { at, .. } => format!("{:?}", (at.get)(task)?),
            Plain::Kwargs { at, unset } => opt((at.get)(task)?, unset, |m| {
                Value::Object(m.clone()).to_string()
            }),
        })
    }

    /// Whether `task` has this key (its type has the field).
    #[cfg(test)]
    pub(crate) fn present_on(&self, task: &Task) -> bool {
        match self {
            Plain::Bool { at, .. } => (at.get)(task).is_some(),
            Plain::Count { at, .. } => (at.get)(task).is_some(),
            Plain::Int { at, .. } => (at.get)(task).is_some(),
            Plain::OptInt { at, .. } => (at.get)(task).is_some(),
            Plain::Duration { at, .. } => (at.get)(task).is_some(),
            Plain::OptDuration { at, .. } => (at.get)(task).is_some(),
            Plain::Multiplier { at, .. } => (at.get)(task).is_some(),
            Plain::Str { at, .. } => (at.get)(task).is_some(),
            Plain::OptStr { at, .. } => (at.get)(task).is_some(),
            Plain::Strings { at, .. } => (at.get)(task).is_some(),
            Plain::Kwargs { at, .. } => (at.get)(task).is_some(),
        }
    }
}

impl Key {
    /// What the key holds.
    pub fn kind(&self) -> ValueKind {
        match &self.holds {
            Holds::Plain(p) => p.kind(),
            Holds::Hand { kind, .. } => *kind,
        }
    }

    /// Whether a task must set it.
    pub fn required(&self) -> bool {
        matches!(self.holds, Holds::Hand { default: None, .. })
    }

    /// What a plain key holds (a typed value with a default and no other semantics),
    /// and whether it stays unset unless written; None for a key read by hand code.
    pub fn plain(&self) -> Option<(ValueKind, bool)> {
        match &self.holds {
            Holds::Plain(p) => Some((p.kind(), p.optional())),
            Holds::Hand { .. } => None,
        }
    }

    /// Whether the key may be written at the top of a DAG file.
    pub fn at_dag_level(&self) -> bool {
        self.place.dag
    }

    /// Whether the key belongs to tasks of type `task_type` (a task type name or one of
    /// its other names, such as `"PythonOperator"`).
    pub fn applies_to(&self, task_type: &str) -> bool {
        match (self.place.task, TaskType::from_name(task_type)) {
            (Some(scope), Some(t)) => scope.allows(t),
            _ => false,
        }
    }

    /// Whether the key belongs to every task type.
    pub fn of_every_task(&self) -> bool {
        self.place.task == Some(Scope::Common)
    }

    /// Whether the key may be set in `[default_args]`.
    pub fn may_be_default(&self) -> bool {
        self.place.task.is_some() && self.place.default_args
    }

    /// Whether the Airflow operator of `task_type` (a lithoflow task type name) takes an
    /// argument of the key's name (or an alias) that `lithoflow migrate` maps to it.
    pub fn airflow_argument_of(&self, task_type: &str) -> bool {
        match (self.airflow, TaskType::from_name(task_type)) {
            (Some(scope), Some(t)) => scope.allows(t),
            _ => false,
        }
    }

    /// Whether some Airflow operator takes an argument of the key's name.
    pub fn is_airflow_argument(&self) -> bool {
        self.airflow.is_some()
    }

    /// Whether the key is written `name` (its name or an alias).
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }

    /// The task scope, for task keys.
    pub(crate) fn scope(&self) -> Option<Scope> {
        self.place.task
    }
}

/// The key written `name` (by its name or an alias).
pub fn lookup(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.is_named(name))
}

/// The canonical name of a key: itself unless it is an alias.
pub(crate) fn canonical(name: &str) -> &str {
    KEYS.iter()
        .find(|k| k.aliases.contains(&name))
        .map_or(name, |k| k.name)
}

/// The task key of this canonical name.
pub(crate) fn task_key(name: &str) -> Option<&'static Key> {
    KEYS.iter()
        .find(|k| k.name == name && k.place.task.is_some())
}

/// The DAG-level key of this canonical name.
pub(crate) fn dag_key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name && k.place.dag)
}

/// The keys allowed at the top of a DAG file, in table order.
pub(crate) fn dag_key_names() -> impl Iterator<Item = &'static str> + Clone {
    KEYS.iter().filter(|k| k.place.dag).map(|k| k.name)
}

/// The task keys, in table order.
pub(crate) fn task_keys() -> impl Iterator<Item = &'static Key> + Clone {
    KEYS.iter().filter(|k| k.place.task.is_some())
}

/// Every alias of a task key.
pub(crate) fn task_aliases() -> impl Iterator<Item = &'static str> + Clone {
    task_keys().flat_map(|k| k.aliases.iter().copied())
}

/// Keys of which a task may set only one: a task's own key also overrides a default for
/// the other.
pub(crate) const EXCLUSIVE_PAIRS: &[(&str, &str)] = &[
    ("map_iterdata", "iterdata_from_task"),
    ("chunk_size", "chunk_n"),
];

impl Task {
    /// The task's effective parameters as `dags show` lists them: every key of its type
    /// in [`KEYS`] order, its own keys first, then the executor settings, then the keys
    /// of every task type. Secrets are not masked here.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let ty = TaskType::of(&self.kind);
        let mut keys: Vec<&Key> = task_keys()
            .filter(|k| k.scope().is_some_and(|s| s.allows(ty)))
            .collect();
        keys.sort_by_key(|k| k.scope().map_or(0, Scope::listing_rank));
        keys.into_iter()
            .filter_map(|k| {
                let shown = match &k.holds {
                    Holds::Plain(p) => p.show(self),
                    Holds::Hand { show, .. } => show.and_then(|f| f(self)),
                };
                shown.map(|s| (k.name, s))
            })
            .collect()
    }
}

impl TaskType {
    pub(crate) fn of(kind: &TaskKind) -> TaskType {
        match kind {
            TaskKind::CallAsync(_) => TaskType::CallAsync,
            TaskKind::Map(_) => TaskType::Map,
            TaskKind::MapReduce(_) => TaskType::MapReduce,
            TaskKind::Python(_) => TaskType::Python,
            TaskKind::Branch(_) => TaskType::Branch,
            TaskKind::ShortCircuit { .. } => TaskType::ShortCircuit,
            TaskKind::Bash(_) => TaskType::Bash,
            TaskKind::Sensor(_) => TaskType::Sensor,
            TaskKind::TriggerDagRun(_) => TaskType::TriggerDagRun,
            TaskKind::Empty => TaskType::Empty,
        }
    }
}
