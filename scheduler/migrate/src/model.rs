//! What the evaluator found in a DAG file: the DAGs, their tasks and task groups, the
//! functions the file defines, and the problems it met on the way.

use rustpython_parser::ast;

use super::known::OpKind;
use super::value::{Eval, EvalError, Span, TaskIdx, Value};
use lithoflow_dag::diag::Severity;

/// A keyword argument as written: its name, where, and its value (or why it has none).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Kw {
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) value: Eval,
}

impl Kw {
    pub(crate) fn new(name: &str, span: Span, value: Eval) -> Self {
        Kw {
            name: name.to_owned(),
            span,
            value,
        }
    }
}

/// The keyword arguments of one call, looked up by name.
pub(crate) fn kw<'k>(kwargs: &'k [Kw], name: &str) -> Option<&'k Kw> {
    kwargs.iter().rev().find(|k| k.name == name)
}

/// A problem (or a note) found while converting, at a place in the DAG file.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) span: Span,
    pub(crate) severity: Severity,
    pub(crate) message: String,
    /// The DAG it concerns; `None` concerns every DAG of the file.
    pub(crate) dag: Option<usize>,
}

/// A DAG: `DAG(...)`, `with DAG(...)` or a call of a `@dag` function.
#[derive(Debug, Clone)]
pub(crate) struct DagDraft {
    pub(crate) dag_id: Result<String, EvalError>,
    /// The constructor call, or the decorator.
    pub(crate) span: Span,
    pub(crate) kwargs: Vec<Kw>,
    /// A `@dag` function's parameters: Airflow makes them DAG params.
    pub(crate) fn_params: Vec<(String, Eval, Span)>,
    pub(crate) tasks: Vec<TaskIdx>,
    /// Attributes set after construction (`dag.doc_md = ...`).
    pub(crate) attrs: Vec<Kw>,
}

/// Where a task comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TaskSource {
    /// A classic operator: `BashOperator(...)`.
    Operator(OpKind),
    /// A call of a TaskFlow function (`@task`, `@task.branch`, ...), by function index.
    TaskFlow { kind: OpKind, func: usize },
    /// `fn.expand(...)` of a `@task` function: dynamic task mapping.
    Mapped { func: usize },
    /// Anything else that was given a `task_id`: kept as a placeholder.
    Unknown(String),
}

/// One task.
#[derive(Debug, Clone)]
pub(crate) struct TaskDraft {
    pub(crate) task_id: String,
    pub(crate) dag: Option<usize>,
    pub(crate) span: Span,
    pub(crate) source: TaskSource,
    /// Operator keyword arguments; for TaskFlow, the decorator's and `.override(...)`'s.
    pub(crate) kwargs: Vec<Kw>,
    /// TaskFlow call: positional arguments.
    pub(crate) args: Vec<(Eval, Span)>,
    /// TaskFlow call: keyword arguments (and `.partial(...)`'s for a mapped task).
    pub(crate) call_kwargs: Vec<Kw>,
    /// A mapped task's `.expand(...)` arguments.
    pub(crate) expand: Vec<Kw>,
    /// A mapped task's `.expand_kwargs(...)` argument.
    pub(crate) expand_kwargs: Option<Kw>,
    /// Whether `.expand(...)` or `.expand_kwargs(...)` made it (dynamic task mapping).
    pub(crate) mapped: bool,
    /// Plain dependencies (`>>`, `set_upstream`, `chain`, ...), in the order declared.
    pub(crate) upstream: Vec<TaskIdx>,
    /// Dependencies through data (an `XComArg` passed in).
    pub(crate) data_upstream: Vec<TaskIdx>,
    /// Attributes set after construction (`task.doc_md = ...`).
    pub(crate) attrs: Vec<Kw>,
}

/// A task group: its tasks get the group id as prefix, and `>>` on it reaches its
/// first or last tasks.
#[derive(Debug, Clone)]
pub(crate) struct GroupDraft {
    /// The id the group's tasks are prefixed with (with its parents'), if any.
    pub(crate) prefix: Option<String>,
    pub(crate) parent: Option<usize>,
    pub(crate) members: Vec<TaskIdx>,
}

/// How a function of the DAG file is decorated.
#[derive(Debug, Clone)]
pub(crate) enum FuncKind {
    Plain,
    Task {
        kind: OpKind,
        kwargs: Vec<Kw>,
    },
    Dag {
        kwargs: Vec<Kw>,
        span: Span,
    },
    Group {
        kwargs: Vec<Kw>,
    },
    /// A decorator the converter does not know: the function cannot be called statically.
    Other(String),
}

/// A function defined in the DAG file.
#[derive(Debug, Clone)]
pub(crate) struct FuncDef<'a> {
    pub(crate) name: String,
    pub(crate) args: &'a ast::Arguments,
    pub(crate) body: &'a [ast::Stmt],
    /// From `def` (or `async def`) to the end of the body, without decorators.
    pub(crate) span: Span,
    pub(crate) kind: FuncKind,
    /// The scopes it sees (Python closures).
    pub(crate) closure: Vec<super::eval::Frame>,
    /// Names bound in enclosing functions when it was defined: a moved function loses them.
    pub(crate) enclosing_names: Vec<String>,
    /// The findings its decorator's arguments produced (they concern the DAG it builds).
    pub(crate) deco_findings: std::ops::Range<usize>,
}

/// Everything the evaluator found in one file.
#[derive(Debug, Default)]
pub(crate) struct Model<'a> {
    pub(crate) dags: Vec<DagDraft>,
    pub(crate) tasks: Vec<TaskDraft>,
    pub(crate) groups: Vec<GroupDraft>,
    pub(crate) functions: Vec<FuncDef<'a>>,
    pub(crate) findings: Vec<Finding>,
    /// Top-level statements, for copying what moved functions use.
    pub(crate) top_level: Vec<TopLevel>,
    /// `from <module> import <name>` of modules that are not Airflow's or the stdlib's.
    pub(crate) imports: Vec<(String, String, Span)>,
    /// Names the file imports from Airflow at module level that lithoflow's runtime has
    /// (`Variable` as bound, to `Variable`), for the module functions are moved to.
    pub(crate) runtime_imports: Vec<(String, &'static str)>,
}

/// A module-level statement that defines names: copied into the generated module when a
/// moved function uses one of them.
#[derive(Debug, Clone)]
pub(crate) struct TopLevel {
    pub(crate) span: Span,
    pub(crate) names: Vec<String>,
    pub(crate) kind: TopKind,
}

/// What a module-level statement is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TopKind {
    /// An import; `airflow` says it imports from Airflow (or the plugin).
    Import { airflow: bool },
    /// A function definition (by function index) or a class.
    Def(Option<usize>),
    /// An assignment.
    Assign,
}

impl Model<'_> {
    fn has_upstream_in(&self, t: TaskIdx, set: &[TaskIdx]) -> bool {
        let d = &self.tasks[t];
        d.upstream
            .iter()
            .chain(&d.data_upstream)
            .any(|u| set.contains(u))
    }

    /// A group's first tasks: members with no upstream inside the group.
    pub(crate) fn group_roots(&self, g: usize) -> Vec<TaskIdx> {
        let m = &self.groups[g].members;
        m.iter()
            .copied()
            .filter(|&t| !self.has_upstream_in(t, m))
            .collect()
    }

    /// A group's last tasks: members with no downstream inside the group.
    pub(crate) fn group_leaves(&self, g: usize) -> Vec<TaskIdx> {
        let m = &self.groups[g].members;
        m.iter()
            .copied()
            .filter(|&t| !m.iter().any(|&d| self.has_upstream_in(d, &[t])))
            .collect()
    }

    pub(crate) fn finding(
        &mut self,
        span: Span,
        severity: Severity,
        message: impl Into<String>,
        dag: Option<usize>,
    ) {
        self.findings.push(Finding {
            span,
            severity,
            message: message.into(),
            dag,
        });
    }
}

/// A value passed to a task (`op_args`, `op_kwargs`, ...), walked for the results of other
/// tasks it holds.
pub(crate) fn xcoms_in(v: &Value, out: &mut Vec<TaskIdx>) {
    match v {
        Value::XCom(t) | Value::XComKey(t, _) if !out.contains(t) => out.push(*t),
        Value::List(items) | Value::Tuple(items) => items.iter().for_each(|i| xcoms_in(i, out)),
        Value::Dict(items) => items.iter().for_each(|(k, i)| {
            xcoms_in(k, out);
            xcoms_in(i, out);
        }),
        _ => {}
    }
}
