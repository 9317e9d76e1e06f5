//! The static evaluator: walks a DAG file's syntax tree as Python would run it when
//! Airflow imports the file, but computes only what is knowable without running anything
//! (literals, names, f-strings, loops over literal lists, date helpers), and records the
//! DAGs, tasks and dependencies the file builds.
//!
//! Nothing here runs user code: a call of a function from another module, a read of an
//! Airflow Variable or of the environment is a value the evaluator cannot know, and using
//! it is reported where it is used.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use chrono::{Duration as ChronoDuration, NaiveDate, NaiveDateTime, NaiveTime};
use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt};

use super::ConvertOptions;
use super::known::{self, OpKind, decorator_kind, operator_kind};
use super::model::{
    DagDraft, FuncDef, FuncKind, GroupDraft, Kw, Model, TaskDraft, TaskSource, TopKind, TopLevel,
    kw, xcoms_in,
};
use super::value::{Eval, EvalError, PyDateTime, Span, TaskIdx, TzInfo, Value, format_spec};
use lithoflow_dag::diag::Severity;

/// A call's positional and keyword argument values.
type StrictArgs = (Vec<Value>, Vec<(String, Value)>);

/// One scope: module globals, a function call's locals, a comprehension's variables.
pub(crate) type Frame = Rc<RefCell<HashMap<String, Value>>>;

/// How many evaluation steps one file may take (a loop over `range(10**9)` stops here).
const STEP_BUDGET: u64 = 2_000_000;
/// The longest list or string the evaluator builds.
const MAX_LEN: usize = 100_000;
/// How deep calls of the file's own functions may nest.
const MAX_CALL_DEPTH: usize = 40;
/// How deep expressions may nest.
const MAX_EXPR_DEPTH: usize = 1000;

enum Flow {
    Normal,
    Return(Value),
}

/// Which end of a task, list or group a dependency attaches to.
#[derive(Clone, Copy, PartialEq)]
enum End {
    /// The upstream side: a group's last tasks.
    Leaves,
    /// The downstream side: a group's first tasks.
    Roots,
}

pub(crate) struct Interp<'a> {
    src: &'a str,
    module_name: String,
    doc: Option<String>,
    opts: &'a ConvertOptions,
    pub(crate) model: Model<'a>,
    frames: Vec<Frame>,
    dag_stack: Vec<usize>,
    group_stack: Vec<usize>,
    call_depth: usize,
    expr_depth: usize,
    steps: u64,
    exhausted: bool,
}

fn span_of(r: &impl Ranged) -> Span {
    let r = r.range();
    usize::from(r.start())..usize::from(r.end())
}

fn err(span: &Span, message: impl Into<String>) -> EvalError {
    EvalError::new(span.clone(), message)
}

/// Runs the module body of a parsed DAG file and returns what it built.
pub(crate) fn interpret<'a>(
    src: &'a str,
    suite: &'a [Stmt],
    module_name: &str,
    opts: &'a ConvertOptions,
) -> Model<'a> {
    let doc = match suite.first() {
        Some(Stmt::Expr(e)) => match &*e.value {
            Expr::Constant(c) => match &c.value {
                Constant::Str(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    let mut it = Interp {
        src,
        module_name: module_name.to_owned(),
        doc,
        opts,
        model: Model::default(),
        frames: vec![Rc::new(RefCell::new(HashMap::new()))],
        dag_stack: Vec::new(),
        group_stack: Vec::new(),
        call_depth: 0,
        expr_depth: 0,
        steps: 0,
        exhausted: false,
    };
    it.exec_block(suite);
    it.model
}

impl<'a> Interp<'a> {
    // ----- bookkeeping -------------------------------------------------------------------

    fn tick(&mut self, span: &Span) -> Result<(), EvalError> {
        self.steps += 1;
        if self.steps > STEP_BUDGET {
            if !self.exhausted {
                self.exhausted = true;
                self.model.finding(
                    span.clone(),
                    Severity::Error,
                    "the file takes too many steps to evaluate statically (a very large loop?); the rest of it is left out",
                    None,
                );
            }
            return Err(err(span, "evaluation stopped: too many steps"));
        }
        Ok(())
    }

    fn current_dag(&self) -> Option<usize> {
        self.dag_stack.last().copied()
    }

    fn report(&mut self, e: EvalError) {
        if self.exhausted && e.message.starts_with("evaluation stopped") {
            return;
        }
        let dag = self.current_dag();
        self.model.finding(e.span, Severity::Error, e.message, dag);
    }

    fn note(&mut self, span: &Span, message: impl Into<String>) {
        let dag = self.current_dag();
        self.model
            .finding(span.clone(), Severity::Note, message, dag);
    }

    /// Findings made since `mark` (while a task's arguments were evaluated) concern the
    /// DAG task `t` went to.
    fn claim_for_task(&mut self, mark: usize, t: TaskIdx) {
        let dag = self.model.tasks[t].dag;
        self.claim(mark..usize::MAX, dag);
    }

    /// Findings made since `mark` without a DAG concern DAG `d` (they came from its
    /// constructor's or its task's arguments).
    fn claim(&mut self, range: std::ops::Range<usize>, d: Option<usize>) {
        let Some(d) = d else { return };
        let end = range.end.min(self.model.findings.len());
        for f in self
            .model
            .findings
            .get_mut(range.start.min(end)..end)
            .into_iter()
            .flatten()
        {
            if f.dag.is_none() {
                f.dag = Some(d);
            }
        }
    }

    fn at_module_level(&self) -> bool {
        self.frames.len() == 1 && self.call_depth == 0
    }

    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.src.len());
        self.src
            .get(..end)
            .map_or(1, |s| s.bytes().filter(|&b| b == b'\n').count() + 1)
    }

    fn lookup(&self, name: &str, span: &Span) -> Eval {
        for frame in self.frames.iter().rev() {
            if let Some(v) = frame.borrow().get(name) {
                return match v {
                    Value::Opaque(e) => Err(err(
                        span,
                        format!(
                            "`{name}` cannot be known without running Python ({}, line {})",
                            e.message,
                            self.line_of(e.span.start)
                        ),
                    )),
                    v => Ok(v.clone()),
                };
            }
        }
        Ok(match name {
            "__name__" => Value::Str(format!("unusual_prefix_{}", self.module_name)),
            "__doc__" => self.doc.clone().map_or(Value::None, Value::Str),
            "range" | "len" | "str" | "int" | "float" | "bool" | "list" | "tuple" | "set"
            | "dict" | "enumerate" | "zip" | "sorted" | "reversed" | "min" | "max" | "sum"
            | "abs" | "print" | "repr" => Value::Sym(format!("builtin:{name}")),
            _ => return Err(err(span, format!("name `{name}` is not defined"))),
        })
    }

    fn set(&mut self, name: &str, v: Value) {
        if let Some(frame) = self.frames.last() {
            frame.borrow_mut().insert(name.to_owned(), v);
        }
    }

    /// Rebinds `name` where it is bound (for `list.append` and `d[k] = v`).
    fn rebind(&mut self, name: &str, v: Value) {
        for frame in self.frames.iter().rev() {
            if frame.borrow().contains_key(name) {
                frame.borrow_mut().insert(name.to_owned(), v);
                return;
            }
        }
        self.set(name, v);
    }

    fn record_top(&mut self, stmt: &Stmt, names: Vec<String>, kind: TopKind) {
        if self.at_module_level() {
            self.model.top_level.push(TopLevel {
                span: span_of(stmt),
                names,
                kind,
            });
        }
    }

    // ----- statements --------------------------------------------------------------------

    fn exec_block(&mut self, stmts: &'a [Stmt]) -> Flow {
        for s in stmts {
            if let Flow::Return(v) = self.exec_stmt(s) {
                return Flow::Return(v);
            }
            if self.exhausted {
                break;
            }
        }
        Flow::Normal
    }

    fn exec_stmt(&mut self, stmt: &'a Stmt) -> Flow {
        let span = span_of(stmt);
        if let Err(e) = self.tick(&span) {
            self.report(e);
            return Flow::Normal;
        }
        match stmt {
            Stmt::Expr(e) => {
                if !matches!(&*e.value, Expr::Constant(_))
                    && let Err(e) = self.eval(&e.value)
                {
                    self.report(e);
                }
            }
            Stmt::Assign(a) => {
                let names = a.targets.iter().flat_map(target_names).collect();
                self.record_top(stmt, names, TopKind::Assign);
                self.assign_from(&a.targets, &a.value);
            }
            Stmt::AnnAssign(a) => {
                if let Some(value) = &a.value {
                    self.record_top(stmt, target_names(&a.target), TopKind::Assign);
                    self.assign_from(std::slice::from_ref(&*a.target), value);
                }
            }
            Stmt::AugAssign(a) => {
                self.record_top(stmt, target_names(&a.target), TopKind::Assign);
                let r = (|| {
                    let Expr::Name(n) = &*a.target else {
                        return Err(err(&span, "augmented assignment to anything but a name"));
                    };
                    let cur = self.lookup(&n.id, &span)?;
                    let rhs = self.eval(&a.value)?;
                    let v = self.binop(cur, a.op, rhs, &span)?;
                    self.rebind(&n.id, v);
                    Ok(())
                })();
                if let Err(e) = r {
                    self.report(e);
                }
            }
            Stmt::FunctionDef(f) => {
                let fid = self.define_function(
                    &f.name,
                    &f.args,
                    &f.body,
                    &f.decorator_list,
                    span.clone(),
                );
                self.record_top(stmt, vec![f.name.to_string()], TopKind::Def(Some(fid)));
            }
            Stmt::AsyncFunctionDef(f) => {
                let fid = self.define_function(
                    &f.name,
                    &f.args,
                    &f.body,
                    &f.decorator_list,
                    span.clone(),
                );
                self.record_top(stmt, vec![f.name.to_string()], TopKind::Def(Some(fid)));
            }
            Stmt::ClassDef(c) => {
                self.record_top(stmt, vec![c.name.to_string()], TopKind::Def(None));
                self.set(
                    &c.name,
                    Value::Opaque(err(
                        &span,
                        format!("`{}` is a class defined in the DAG file", c.name),
                    )),
                );
            }
            Stmt::Import(i) => {
                let mut names = Vec::new();
                let mut airflow = false;
                for alias in &i.names {
                    let full = alias.name.as_str();
                    let top = full.split('.').next().unwrap_or(full);
                    airflow |= top == "airflow" || top == "lithops_airflow_plugin";
                    match &alias.asname {
                        Some(a) => {
                            let v = if matches!(top, "airflow" | "datetime" | "pendulum") {
                                known::resolve_module(top)
                            } else {
                                Value::Module(full.to_owned())
                            };
                            self.set(a, v);
                            names.push(a.to_string());
                        }
                        None => {
                            self.set(top, known::resolve_module(top));
                            names.push(top.to_owned());
                        }
                    }
                }
                self.record_top(stmt, names, TopKind::Import { airflow });
            }
            Stmt::ImportFrom(i) => {
                let module = i.module.as_ref().map(|m| m.to_string());
                let top = module
                    .as_deref()
                    .map(|m| m.split('.').next().unwrap_or(m).to_owned());
                let airflow = matches!(top.as_deref(), Some("airflow" | "lithops_airflow_plugin"));
                let mut names = Vec::new();
                for alias in &i.names {
                    if alias.name.as_str() == "*" {
                        self.note(
                            &span,
                            "`import *`: the names it brings in are unknown to the converter",
                        );
                        continue;
                    }
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).to_string();
                    let v = match &module {
                        Some(m) => known::resolve_import(m, &alias.name),
                        // `from . import my_functions`: a module next to the DAG file.
                        None => Value::Module(alias.name.to_string()),
                    };
                    if airflow
                        && self.call_depth == 0
                        && let Some(lf) = crate::relocate::runtime_name(&alias.name)
                    {
                        self.model.runtime_imports.push((bound.clone(), lf));
                    }
                    if let (Value::Func { module, name }, 0) = (&v, self.call_depth) {
                        self.model
                            .imports
                            .push((module.clone(), name.clone(), span.clone()));
                    }
                    self.set(&bound, v);
                    names.push(bound);
                }
                self.record_top(stmt, names, TopKind::Import { airflow });
            }
            Stmt::With(w) => return self.exec_with(&w.items, &w.body),
            Stmt::For(f) => return self.exec_for(&f.target, &f.iter, &f.body, &f.orelse),
            Stmt::If(i) => match self.eval(&i.test).and_then(|v| {
                v.truthy().ok_or_else(|| {
                    err(
                        &span_of(&*i.test),
                        format!("a condition on a {} is not static", v.type_name()),
                    )
                })
            }) {
                Ok(true) => return self.exec_block(&i.body),
                Ok(false) => return self.exec_block(&i.orelse),
                Err(e) => self.report(EvalError::new(
                    e.span,
                    format!("{}: what the `if` builds is left out", e.message),
                )),
            },
            Stmt::Try(t) => {
                // The `except` branches run only when the `try` fails, which a static read
                // assumes it does not (typically `except ImportError` for older Airflows).
                if let Flow::Return(v) = self.exec_block(&t.body) {
                    return Flow::Return(v);
                }
                if let Flow::Return(v) = self.exec_block(&t.orelse) {
                    return Flow::Return(v);
                }
                return self.exec_block(&t.finalbody);
            }
            Stmt::Return(r) => {
                let v = match &r.value {
                    None => Value::None,
                    Some(e) => match self.eval(e) {
                        Ok(v) => v,
                        Err(e) => Value::Opaque(e),
                    },
                };
                return Flow::Return(v);
            }
            Stmt::Pass(_)
            | Stmt::Global(_)
            | Stmt::Nonlocal(_)
            | Stmt::Assert(_)
            | Stmt::Delete(_)
            | Stmt::TypeAlias(_) => {}
            Stmt::Raise(_) => self.report(err(
                &span,
                "the file raises an exception while Airflow would parse it",
            )),
            Stmt::While(_) => self.report(err(
                &span,
                "`while` loops are not evaluated statically: tasks they build are left out",
            )),
            Stmt::AsyncFor(_) | Stmt::AsyncWith(_) | Stmt::Match(_) | Stmt::TryStar(_) => self
                .report(err(
                    &span,
                    "this statement is not evaluated statically: tasks it builds are left out",
                )),
            Stmt::Break(_) | Stmt::Continue(_) => self.report(err(
                &span,
                "`break`/`continue` are not evaluated statically: the loop is read to its end",
            )),
        }
        Flow::Normal
    }

    fn assign_from(&mut self, targets: &'a [Expr], value: &'a Expr) {
        match self.eval(value) {
            Ok(v) => {
                for t in targets {
                    if let Err(e) = self.assign(t, v.clone()) {
                        self.report(e);
                    }
                }
            }
            Err(e) => {
                if e.message.starts_with("calls ") && e.message.contains("it may build") {
                    self.report(e.clone());
                }
                for t in targets {
                    if let Expr::Attribute(a) = t {
                        if a.attr.starts_with("doc") {
                            self.note(
                                &span_of(t),
                                format!("`{}` is not kept (documentation)", a.attr),
                            );
                        } else {
                            self.report(EvalError::new(
                                e.span.clone(),
                                format!("setting `{}`: {}", a.attr, e.message),
                            ));
                        }
                    }
                }
                for t in targets {
                    for name in target_names(t) {
                        self.set(&name, Value::Opaque(e.clone()));
                    }
                }
            }
        }
    }

    fn assign(&mut self, target: &'a Expr, v: Value) -> Result<(), EvalError> {
        let span = span_of(target);
        match target {
            Expr::Name(n) => {
                self.set(&n.id, v);
                Ok(())
            }
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                let items = v.elements().ok_or_else(|| {
                    err(
                        &span,
                        format!("cannot unpack a {} statically", v.type_name()),
                    )
                })?;
                if items.len() != elts.len() {
                    return Err(err(
                        &span,
                        format!(
                            "cannot unpack {} values into {} names",
                            items.len(),
                            elts.len()
                        ),
                    ));
                }
                for (t, i) in elts.iter().zip(items) {
                    self.assign(t, i)?;
                }
                Ok(())
            }
            Expr::Attribute(a) => {
                let obj = self.eval(&a.value)?;
                let kw = Kw::new(&a.attr, span.clone(), Ok(v));
                match obj {
                    Value::Dag(d) => self.model.dags[d].attrs.push(kw),
                    Value::Task(t) | Value::XCom(t) => self.model.tasks[t].attrs.push(kw),
                    other => {
                        return Err(err(
                            &span,
                            format!(
                                "setting `{}` on a {} is not understood",
                                a.attr,
                                other.type_name()
                            ),
                        ));
                    }
                }
                Ok(())
            }
            Expr::Subscript(s) => {
                let Expr::Name(n) = &*s.value else {
                    return Err(err(&span, "assignment to a nested subscript"));
                };
                let cur = self.lookup(&n.id, &span)?;
                let key = self.eval(&s.slice)?;
                let new = match cur {
                    Value::Dict(mut items) => {
                        match items.iter_mut().find(|(k, _)| py_eq(k, &key)) {
                            Some(slot) => slot.1 = v,
                            None => items.push((key, v)),
                        }
                        Value::Dict(items)
                    }
                    Value::List(mut items) => {
                        let i = index(&key, items.len(), &span)?;
                        items[i] = v;
                        Value::List(items)
                    }
                    other => {
                        return Err(err(
                            &span,
                            format!("item assignment on a {}", other.type_name()),
                        ));
                    }
                };
                self.rebind(&n.id, new);
                Ok(())
            }
            _ => Err(err(&span, "unsupported assignment target")),
        }
    }

    fn exec_with(&mut self, items: &'a [ast::WithItem], body: &'a [Stmt]) -> Flow {
        let mut pushed_dags = 0;
        let mut pushed_groups = 0;
        for item in items {
            match self.eval(&item.context_expr) {
                Ok(Value::Dag(d)) => {
                    self.dag_stack.push(d);
                    pushed_dags += 1;
                    if let Some(var) = &item.optional_vars
                        && let Err(e) = self.assign(var, Value::Dag(d))
                    {
                        self.report(e);
                    }
                }
                Ok(Value::Group(g)) => {
                    self.group_stack.push(g);
                    pushed_groups += 1;
                    if let Some(var) = &item.optional_vars
                        && let Err(e) = self.assign(var, Value::Group(g))
                    {
                        self.report(e);
                    }
                }
                Ok(other) => self.report(err(
                    &span_of(&item.context_expr),
                    format!(
                        "`with` on a {}: only `with DAG(...)` and `with TaskGroup(...)` are understood",
                        other.type_name()
                    ),
                )),
                Err(e) => self.report(e),
            }
        }
        let flow = self.exec_block(body);
        for _ in 0..pushed_dags {
            self.dag_stack.pop();
        }
        for _ in 0..pushed_groups {
            self.group_stack.pop();
        }
        flow
    }

    fn exec_for(
        &mut self,
        target: &'a Expr,
        iter: &'a Expr,
        body: &'a [Stmt],
        orelse: &'a [Stmt],
    ) -> Flow {
        let items = match self.eval(iter) {
            Ok(v) => match v.elements() {
                Some(items) => items,
                None => {
                    self.report(err(
                        &span_of(iter),
                        format!(
                            "a loop over a {} is not static: the tasks it builds are left out",
                            v.type_name()
                        ),
                    ));
                    return Flow::Normal;
                }
            },
            Err(e) => {
                self.report(EvalError::new(
                    e.span,
                    format!(
                        "a loop over data the converter cannot know: {}; the tasks it builds are left out",
                        e.message
                    ),
                ));
                return Flow::Normal;
            }
        };
        for item in items {
            if let Err(e) = self.assign(target, item) {
                self.report(e);
                return Flow::Normal;
            }
            if let Flow::Return(v) = self.exec_block(body) {
                return Flow::Return(v);
            }
            if self.exhausted {
                return Flow::Normal;
            }
        }
        self.exec_block(orelse)
    }

    fn define_function(
        &mut self,
        name: &str,
        args: &'a ast::Arguments,
        body: &'a [Stmt],
        decorators: &'a [Expr],
        span: Span,
    ) -> usize {
        let mut kind = FuncKind::Plain;
        let mark = self.model.findings.len();
        for d in decorators {
            let dspan = span_of(d);
            let (callee, kwargs) = match d {
                Expr::Call(c) => {
                    let callee = self.eval(&c.func);
                    let (args, kwargs) = self.eval_args(&c.args, &c.keywords);
                    if let Some((_, s)) = args.first() {
                        self.report(err(
                            s,
                            "positional arguments to a decorator are not understood",
                        ));
                    }
                    (callee, kwargs)
                }
                other => (self.eval(other), Vec::new()),
            };
            let text = self.src.get(dspan.clone()).unwrap_or("?").to_owned();
            kind = match callee {
                Ok(Value::Sym(s)) if decorator_kind(&s).is_some() => FuncKind::Task {
                    kind: decorator_kind(&s).unwrap_or(OpKind::Python),
                    kwargs,
                },
                Ok(Value::Sym(s)) if s == "dag" => FuncKind::Dag {
                    kwargs,
                    span: dspan,
                },
                Ok(Value::Sym(s)) if s == "task_group" => FuncKind::Group { kwargs },
                Ok(Value::Foreign(f)) if f.ends_with(".asset") || f.ends_with(".multi_asset") => {
                    self.report(err(&dspan, format!("`@{}` (Airflow 3's asset-defining function, a DAG of one task) is not supported: write a DAG with a task whose `outlets` name the asset", f.rsplit('.').next().unwrap_or("asset"))));
                    FuncKind::Other(text)
                }
                _ => FuncKind::Other(text),
            };
        }
        let enclosing_names = self
            .frames
            .iter()
            .skip(1)
            .flat_map(|f| f.borrow().keys().cloned().collect::<Vec<_>>())
            .collect();
        let fid = self.model.functions.len();
        let value = match &kind {
            FuncKind::Plain | FuncKind::Other(_) => Value::Local(fid),
            FuncKind::Task { .. } => Value::TaskFactory(fid, Vec::new()),
            FuncKind::Dag { .. } => Value::DagFactory(fid),
            FuncKind::Group { .. } => Value::GroupFactory(fid),
        };
        self.model.functions.push(FuncDef {
            name: name.to_owned(),
            args,
            body,
            span,
            kind,
            closure: self.frames.clone(),
            enclosing_names,
            deco_findings: mark..self.model.findings.len(),
        });
        self.set(name, value);
        fid
    }

    // ----- expressions -------------------------------------------------------------------

    pub(crate) fn eval(&mut self, e: &'a Expr) -> Eval {
        let span = span_of(e);
        self.tick(&span)?;
        if self.expr_depth >= MAX_EXPR_DEPTH {
            return Err(err(&span, "the expression is nested too deeply"));
        }
        self.expr_depth += 1;
        let r = self.eval_inner(e, &span);
        self.expr_depth -= 1;
        r
    }

    fn eval_inner(&mut self, e: &'a Expr, span: &Span) -> Eval {
        match e {
            Expr::Constant(c) => constant(&c.value, span),
            Expr::Name(n) => self.lookup(&n.id, span),
            Expr::JoinedStr(j) => self.fstring(&j.values, span),
            Expr::FormattedValue(f) => {
                let v = self.eval(&f.value)?;
                self.format_value(v, f.conversion, f.format_spec.as_deref(), span)
                    .map(Value::Str)
            }
            Expr::List(l) => Ok(Value::List(self.eval_elts(&l.elts)?)),
            Expr::Tuple(t) => Ok(Value::Tuple(self.eval_elts(&t.elts)?)),
            Expr::Set(s) => Ok(Value::List(self.eval_elts(&s.elts)?)),
            Expr::Dict(d) => {
                let mut items: Vec<(Value, Value)> = Vec::new();
                for (k, v) in d.keys.iter().zip(&d.values) {
                    match k {
                        Some(k) => {
                            let k = self.eval(k)?;
                            let v = self.eval(v)?;
                            dict_insert(&mut items, k, v);
                        }
                        None => match self.eval(v)? {
                            Value::Dict(other) => {
                                for (k, v) in other {
                                    dict_insert(&mut items, k, v);
                                }
                            }
                            other => {
                                return Err(err(
                                    &span_of(v),
                                    format!("`**` on a {}", other.type_name()),
                                ));
                            }
                        },
                    }
                }
                Ok(Value::Dict(items))
            }
            Expr::BinOp(b) => {
                let l = self.eval(&b.left)?;
                let r = self.eval(&b.right)?;
                self.binop(l, b.op, r, span)
            }
            Expr::UnaryOp(u) => {
                let v = self.eval(&u.operand)?;
                match (u.op, v) {
                    (ast::UnaryOp::Not, v) => v
                        .truthy()
                        .map(|b| Value::Bool(!b))
                        .ok_or_else(|| err(span, "`not` of a value that is not static")),
                    (ast::UnaryOp::USub, Value::Int(i)) => i
                        .checked_neg()
                        .map(Value::Int)
                        .ok_or_else(|| err(span, "integer overflow")),
                    (ast::UnaryOp::USub, Value::Float(f)) => Ok(Value::Float(-f)),
                    (ast::UnaryOp::USub, Value::Delta(d)) => Ok(Value::Delta(-d)),
                    (ast::UnaryOp::UAdd, v @ (Value::Int(_) | Value::Float(_))) => Ok(v),
                    (ast::UnaryOp::Invert, Value::Int(i)) => Ok(Value::Int(!i)),
                    (_, v) => Err(err(span, format!("unary operator on a {}", v.type_name()))),
                }
            }
            Expr::BoolOp(b) => {
                let mut last = Value::None;
                for (i, e) in b.values.iter().enumerate() {
                    let v = self.eval(e)?;
                    let t = v.truthy().ok_or_else(|| {
                        err(&span_of(e), "`and`/`or` on a value that is not static")
                    })?;
                    let stop = match b.op {
                        ast::BoolOp::And => !t,
                        ast::BoolOp::Or => t,
                    };
                    last = v;
                    if stop || i + 1 == b.values.len() {
                        break;
                    }
                }
                Ok(last)
            }
            Expr::Compare(c) => {
                let mut left = self.eval(&c.left)?;
                for (op, right) in c.ops.iter().zip(&c.comparators) {
                    let right = self.eval(right)?;
                    if !compare(&left, *op, &right, span)? {
                        return Ok(Value::Bool(false));
                    }
                    left = right;
                }
                Ok(Value::Bool(true))
            }
            Expr::IfExp(i) => {
                let t = self.eval(&i.test)?;
                match t.truthy() {
                    Some(true) => self.eval(&i.body),
                    Some(false) => self.eval(&i.orelse),
                    None => Err(err(span, "a conditional expression that is not static")),
                }
            }
            Expr::Attribute(a) => {
                let v = self.eval(&a.value)?;
                self.attr(v, &a.attr, span)
            }
            Expr::Subscript(s) => {
                let v = self.eval(&s.value)?;
                if let Expr::Slice(sl) = &*s.slice {
                    return self.slice(v, sl, span);
                }
                let k = self.eval(&s.slice)?;
                subscript(v, &k, span)
            }
            Expr::Call(c) => self.call(c, span),
            Expr::ListComp(l) => Ok(Value::List(self.comprehension(&l.generators, &l.elt)?)),
            Expr::SetComp(l) => Ok(Value::List(self.comprehension(&l.generators, &l.elt)?)),
            Expr::GeneratorExp(l) => Ok(Value::List(self.comprehension(&l.generators, &l.elt)?)),
            Expr::DictComp(d) => {
                let pairs = self.dict_comprehension(&d.generators, &d.key, &d.value)?;
                Ok(Value::Dict(pairs))
            }
            Expr::Lambda(_) => Ok(Value::Lambda),
            Expr::NamedExpr(n) => {
                let v = self.eval(&n.value)?;
                self.assign(&n.target, v.clone())?;
                Ok(v)
            }
            Expr::Starred(_) => Err(err(span, "`*` outside a call or a list")),
            Expr::Slice(_) => Err(err(span, "a slice outside a subscript")),
            Expr::Await(_) | Expr::Yield(_) | Expr::YieldFrom(_) => {
                Err(err(span, "`await`/`yield` are not static"))
            }
        }
    }

    fn eval_elts(&mut self, elts: &'a [Expr]) -> Result<Vec<Value>, EvalError> {
        let mut out = Vec::new();
        for e in elts {
            if let Expr::Starred(s) = e {
                let v = self.eval(&s.value)?;
                let items = v
                    .elements()
                    .ok_or_else(|| err(&span_of(e), format!("`*` on a {}", v.type_name())))?;
                out.extend(items);
            } else {
                out.push(self.eval(e)?);
            }
            if out.len() > MAX_LEN {
                return Err(err(&span_of(e), "the list is too long"));
            }
        }
        Ok(out)
    }

    /// The positional and keyword arguments of a call; each keyword keeps its own error,
    /// so one bad argument does not hide the others.
    fn eval_args(
        &mut self,
        args: &'a [Expr],
        keywords: &'a [ast::Keyword],
    ) -> (Vec<(Eval, Span)>, Vec<Kw>) {
        let mut pos = Vec::new();
        for a in args {
            let s = span_of(a);
            if let Expr::Starred(st) = a {
                match self.eval(&st.value) {
                    Ok(v) => match v.elements() {
                        Some(items) => pos.extend(items.into_iter().map(|i| (Ok(i), s.clone()))),
                        None => pos.push((
                            Err(err(&s, format!("`*` on a {}", v.type_name()))),
                            s.clone(),
                        )),
                    },
                    Err(e) => pos.push((Err(e), s.clone())),
                }
            } else {
                pos.push((self.eval(a), s));
            }
        }
        let mut kws = Vec::new();
        for k in keywords {
            let s = span_of(k);
            match &k.arg {
                Some(name) => kws.push(Kw::new(name, s, self.eval(&k.value))),
                None => match self.eval(&k.value) {
                    Ok(Value::Dict(items)) => {
                        for (key, v) in items {
                            match key {
                                Value::Str(name) => kws.push(Kw::new(&name, s.clone(), Ok(v))),
                                other => kws.push(Kw::new(
                                    "**",
                                    s.clone(),
                                    Err(err(&s, format!("`**` with a {} key", other.type_name()))),
                                )),
                            }
                        }
                    }
                    Ok(other) => kws.push(Kw::new(
                        "**",
                        s.clone(),
                        Err(err(&s, format!("`**` on a {}", other.type_name()))),
                    )),
                    Err(e) => kws.push(Kw::new("**", s, Err(e))),
                },
            }
        }
        (pos, kws)
    }

    /// Like [`Self::eval_args`], for calls that need every argument's value.
    fn strict_args(&mut self, c: &'a ast::ExprCall) -> Result<StrictArgs, EvalError> {
        let (pos, kws) = self.eval_args(&c.args, &c.keywords);
        let pos = pos
            .into_iter()
            .map(|(v, _)| v)
            .collect::<Result<Vec<_>, _>>()?;
        let kws = kws
            .into_iter()
            .map(|k| k.value.map(|v| (k.name, v)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((pos, kws))
    }

    fn fstring(&mut self, parts: &'a [Expr], span: &Span) -> Eval {
        let mut out = String::new();
        // The Python of the values read while parsing, when there are any: the f-string
        // is then a template that reads them at run time.
        let mut runtime: Vec<String> = Vec::new();
        for p in parts {
            match p {
                Expr::Constant(c) => match &c.value {
                    Constant::Str(s) => out.push_str(s),
                    _ => return Err(err(span, "unexpected constant in an f-string")),
                },
                Expr::FormattedValue(f) => {
                    let v = self.eval(&f.value)?;
                    if let Value::Runtime { template, what } = &v
                        && f.conversion == ast::ConversionFlag::None
                        && f.format_spec.is_none()
                    {
                        out.push_str(template);
                        runtime.push(what.clone());
                        continue;
                    }
                    out.push_str(&self.format_value(
                        v,
                        f.conversion,
                        f.format_spec.as_deref(),
                        &span_of(p),
                    )?);
                }
                other => match self.eval(other)? {
                    Value::Str(s) => out.push_str(&s),
                    v => return Err(err(span, format!("f-string part is a {}", v.type_name()))),
                },
            }
            if out.len() > MAX_LEN {
                return Err(err(span, "the string is too long"));
            }
        }
        if !runtime.is_empty() {
            return Ok(Value::Runtime {
                template: out,
                what: runtime.join(", "),
            });
        }
        Ok(Value::Str(out))
    }

    fn format_value(
        &mut self,
        v: Value,
        conversion: ast::ConversionFlag,
        spec: Option<&'a Expr>,
        span: &Span,
    ) -> Result<String, EvalError> {
        let not_static = |v: &Value| match v {
            Value::DagParam(p) => err(
                span,
                format!(
                    "an f-string with the DAG param `{p}`: its value is only known when the DAG runs (write \"{{{{ params.{p} }}}}\")"
                ),
            ),
            Value::XCom(_) | Value::XComKey(..) => err(
                span,
                "an f-string with a task's result: it is only known when the DAG runs",
            ),
            v => err(span, format!("an f-string with a {}", v.type_name())),
        };
        let v = match conversion {
            ast::ConversionFlag::Repr | ast::ConversionFlag::Ascii => {
                Value::Str(v.py_repr().ok_or_else(|| not_static(&v))?)
            }
            ast::ConversionFlag::Str => Value::Str(v.py_str().ok_or_else(|| not_static(&v))?),
            ast::ConversionFlag::None => v,
        };
        let spec = match spec {
            None => String::new(),
            Some(e) => match self.eval(e)? {
                Value::Str(s) => s,
                other => return Err(err(span, format!("format spec is a {}", other.type_name()))),
            },
        };
        format_spec(&v, &spec).ok_or_else(|| {
            if spec.is_empty() {
                not_static(&v)
            } else {
                err(span, format!("format spec `{spec}` is not supported"))
            }
        })
    }

    fn comprehension(
        &mut self,
        gens: &'a [ast::Comprehension],
        elt: &'a Expr,
    ) -> Result<Vec<Value>, EvalError> {
        let mut out = Vec::new();
        self.frames.push(Rc::new(RefCell::new(HashMap::new())));
        let r = self.comp_level(gens, &mut |it: &mut Self| {
            let v = it.eval(elt)?;
            out.push(v);
            if out.len() > MAX_LEN {
                return Err(err(&span_of(elt), "the list is too long"));
            }
            Ok(())
        });
        self.frames.pop();
        r.map(|()| out)
    }

    fn dict_comprehension(
        &mut self,
        gens: &'a [ast::Comprehension],
        key: &'a Expr,
        value: &'a Expr,
    ) -> Result<Vec<(Value, Value)>, EvalError> {
        let mut out = Vec::new();
        self.frames.push(Rc::new(RefCell::new(HashMap::new())));
        let r = self.comp_level(gens, &mut |it: &mut Self| {
            let k = it.eval(key)?;
            let v = it.eval(value)?;
            dict_insert(&mut out, k, v);
            Ok(())
        });
        self.frames.pop();
        r.map(|()| out)
    }

    fn comp_level(
        &mut self,
        gens: &'a [ast::Comprehension],
        each: &mut dyn FnMut(&mut Self) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let Some((g, rest)) = gens.split_first() else {
            return each(self);
        };
        let iter = self.eval(&g.iter)?;
        let items = iter.elements().ok_or_else(|| {
            err(
                &span_of(&g.iter),
                format!("a comprehension over a {} is not static", iter.type_name()),
            )
        })?;
        'items: for item in items {
            self.assign(&g.target, item)?;
            for cond in &g.ifs {
                let c = self.eval(cond)?;
                match c.truthy() {
                    Some(true) => {}
                    Some(false) => continue 'items,
                    None => {
                        return Err(err(
                            &span_of(cond),
                            "a comprehension filter that is not static",
                        ));
                    }
                }
            }
            self.comp_level(rest, each)?;
        }
        Ok(())
    }

    fn slice(&mut self, v: Value, sl: &'a ast::ExprSlice, span: &Span) -> Eval {
        let mut bound = |e: &'a Option<Box<Expr>>| -> Result<Option<i64>, EvalError> {
            match e {
                None => Ok(None),
                Some(e) => match self.eval(e)? {
                    Value::Int(i) => Ok(Some(i)),
                    Value::None => Ok(None),
                    other => Err(err(span, format!("slice bound is a {}", other.type_name()))),
                },
            }
        };
        let lo = bound(&sl.lower)?;
        let hi = bound(&sl.upper)?;
        let step = bound(&sl.step)?;
        if step.is_some_and(|s| s != 1) {
            return Err(err(span, "slices with a step are not supported"));
        }
        let clamp = |i: Option<i64>, len: usize, default: usize| -> usize {
            match i {
                None => default,
                Some(i) if i < 0 => len.saturating_sub(i.unsigned_abs() as usize),
                Some(i) => (i as usize).min(len),
            }
        };
        match v {
            Value::List(items) | Value::Tuple(items) => {
                let len = items.len();
                let (a, b) = (clamp(lo, len, 0), clamp(hi, len, len));
                Ok(Value::List(
                    items.get(a..b.max(a)).unwrap_or_default().to_vec(),
                ))
            }
            Value::Str(s) => {
                let chars: Vec<char> = s.chars().collect();
                let len = chars.len();
                let (a, b) = (clamp(lo, len, 0), clamp(hi, len, len));
                Ok(Value::Str(
                    chars.get(a..b.max(a)).unwrap_or_default().iter().collect(),
                ))
            }
            other => Err(err(span, format!("slicing a {}", other.type_name()))),
        }
    }

    fn attr(&mut self, v: Value, name: &str, span: &Span) -> Eval {
        let unknown = |v: &Value| {
            err(
                span,
                format!("`.{name}` of a {} is not understood", v.type_name()),
            )
        };
        match &v {
            Value::Sym(s) => known::sym_attr(s, name).ok_or_else(|| unknown(&v)),
            Value::Module(m) => Ok(Value::Func {
                module: m.clone(),
                name: name.to_owned(),
            }),
            Value::Func { module, name: n } => Ok(Value::Func {
                module: format!("{module}.{n}"),
                name: name.to_owned(),
            }),
            Value::Foreign(f) => Ok(Value::Foreign(format!("{f}.{name}"))),
            Value::Conn(id) => crate::runtime_values::conn_attr(id, name, span),
            Value::Task(t) => match name {
                "output" => Ok(Value::XCom(*t)),
                "task_id" => Ok(Value::Str(self.model.tasks[*t].task_id.clone())),
                "dag" => self.model.tasks[*t]
                    .dag
                    .map(Value::Dag)
                    .ok_or_else(|| unknown(&v)),
                _ => Err(unknown(&v)),
            },
            Value::XCom(t) => match name {
                "operator" => Ok(Value::Task(*t)),
                _ => Err(unknown(&v)),
            },
            Value::Asset(a) => crate::assets::attr(a, name).ok_or_else(|| unknown(&v)),
            Value::Dag(d) => match name {
                "dag_id" => self.model.dags[*d]
                    .dag_id
                    .clone()
                    .map(Value::Str)
                    .map_err(|e| err(span, e.message)),
                _ => Err(unknown(&v)),
            },
            Value::DateTime(d) => {
                use chrono::{Datelike, Timelike};
                let l = &d.local;
                Ok(Value::Int(i64::from(match name {
                    "year" => l.year(),
                    "month" => l.month() as i32,
                    "day" => l.day() as i32,
                    "hour" => l.hour() as i32,
                    "minute" => l.minute() as i32,
                    "second" => l.second() as i32,
                    _ => return Err(unknown(&v)),
                })))
            }
            _ => Err(unknown(&v)),
        }
    }

    // ----- operators ---------------------------------------------------------------------

    fn binop(&mut self, l: Value, op: ast::Operator, r: Value, span: &Span) -> Eval {
        use ast::Operator as O;
        if matches!(op, O::RShift | O::LShift)
            && !(matches!(l, Value::Int(_)) && matches!(r, Value::Int(_)))
        {
            return self.shift(l, r, op == O::RShift, span);
        }
        if let Some(v) = crate::assets::combine(op, &l, &r) {
            return Ok(v);
        }
        let overflow = || err(span, "integer overflow");
        let too_long = || err(span, "the value is too long");
        Ok(match (op, l, r) {
            (
                O::Add,
                Value::Runtime {
                    template: a,
                    what: wa,
                },
                Value::Runtime {
                    template: b,
                    what: wb,
                },
            ) => Value::Runtime {
                template: a + &b,
                what: format!("{wa}, {wb}"),
            },
            (O::Add, Value::Runtime { template, what }, Value::Str(b)) => Value::Runtime {
                template: template + &b,
                what,
            },
            (O::Add, Value::Str(a), Value::Runtime { template, what }) => Value::Runtime {
                template: a + &template,
                what,
            },
            (O::Add, Value::Int(a), Value::Int(b)) => {
                Value::Int(a.checked_add(b).ok_or_else(overflow)?)
            }
            (O::Sub, Value::Int(a), Value::Int(b)) => {
                Value::Int(a.checked_sub(b).ok_or_else(overflow)?)
            }
            (O::Mult, Value::Int(a), Value::Int(b)) => {
                Value::Int(a.checked_mul(b).ok_or_else(overflow)?)
            }
            (O::FloorDiv, Value::Int(a), Value::Int(b)) if b != 0 => {
                Value::Int(a.checked_div_euclid(b).ok_or_else(overflow)?)
            }
            (O::Mod, Value::Int(a), Value::Int(b)) if b != 0 => {
                Value::Int(a.checked_rem_euclid(b).ok_or_else(overflow)?)
            }
            (O::Pow, Value::Int(a), Value::Int(b)) if (0..=64).contains(&b) => {
                Value::Int(a.checked_pow(b as u32).ok_or_else(overflow)?)
            }
            (O::BitAnd, Value::Int(a), Value::Int(b)) => Value::Int(a & b),
            (O::BitOr, Value::Int(a), Value::Int(b)) => Value::Int(a | b),
            (O::BitXor, Value::Int(a), Value::Int(b)) => Value::Int(a ^ b),
            (O::LShift, Value::Int(a), Value::Int(b)) if (0..63).contains(&b) => {
                Value::Int(a.checked_shl(b as u32).ok_or_else(overflow)?)
            }
            (O::RShift, Value::Int(a), Value::Int(b)) if (0..63).contains(&b) => Value::Int(a >> b),
            (op, a @ (Value::Int(_) | Value::Float(_)), b @ (Value::Int(_) | Value::Float(_))) => {
                let (x, y) = (as_f64(&a), as_f64(&b));
                Value::Float(match op {
                    O::Add => x + y,
                    O::Sub => x - y,
                    O::Mult => x * y,
                    O::Div if y != 0.0 => x / y,
                    O::FloorDiv if y != 0.0 => (x / y).floor(),
                    O::Mod if y != 0.0 => x.rem_euclid(y),
                    O::Pow => x.powf(y),
                    _ => return Err(err(span, "unsupported arithmetic (division by zero?)")),
                })
            }
            (O::Add, Value::Str(a), Value::Str(b)) => {
                if a.len() + b.len() > MAX_LEN {
                    return Err(too_long());
                }
                Value::Str(a + &b)
            }
            (O::Add, Value::List(a), Value::List(b)) => {
                if a.len() + b.len() > MAX_LEN {
                    return Err(too_long());
                }
                Value::List([a, b].concat())
            }
            (O::Add, Value::Tuple(a), Value::Tuple(b)) => Value::Tuple([a, b].concat()),
            (O::Mult, Value::Str(s), Value::Int(n)) | (O::Mult, Value::Int(n), Value::Str(s)) => {
                let n = usize::try_from(n.max(0)).map_err(|_| overflow())?;
                if s.len().saturating_mul(n) > MAX_LEN {
                    return Err(too_long());
                }
                Value::Str(s.repeat(n))
            }
            (O::Mult, Value::List(v), Value::Int(n)) | (O::Mult, Value::Int(n), Value::List(v)) => {
                let n = usize::try_from(n.max(0)).map_err(|_| overflow())?;
                if v.len().saturating_mul(n) > MAX_LEN {
                    return Err(too_long());
                }
                let mut out = Vec::with_capacity(v.len() * n);
                for _ in 0..n {
                    out.extend(v.iter().cloned());
                }
                Value::List(out)
            }
            (O::Mod, Value::Str(f), args) => Value::Str(percent_format(&f, &args, span)?),
            (O::BitOr, Value::Dict(mut a), Value::Dict(b)) => {
                for (k, v) in b {
                    dict_insert(&mut a, k, v);
                }
                Value::Dict(a)
            }
            (O::Add, Value::DateTime(d), Value::Delta(x))
            | (O::Add, Value::Delta(x), Value::DateTime(d)) => {
                Value::DateTime(d.shifted(x).ok_or_else(overflow)?)
            }
            (O::Sub, Value::DateTime(d), Value::Delta(x)) => {
                Value::DateTime(d.shifted(-x).ok_or_else(overflow)?)
            }
            (O::Sub, Value::DateTime(a), Value::DateTime(b)) => {
                let (a, b) = (a.instant(), b.instant());
                match (a, b) {
                    (Some(a), Some(b)) => {
                        Value::Delta(i128::from((a - b).num_microseconds().ok_or_else(overflow)?))
                    }
                    _ => return Err(err(span, "datetime difference in an unknown zone")),
                }
            }
            (O::Add, Value::Delta(a), Value::Delta(b)) => Value::Delta(a + b),
            (O::Sub, Value::Delta(a), Value::Delta(b)) => Value::Delta(a - b),
            (O::Mult, Value::Delta(a), Value::Int(n))
            | (O::Mult, Value::Int(n), Value::Delta(a)) => {
                Value::Delta(a.checked_mul(i128::from(n)).ok_or_else(overflow)?)
            }
            (op, l, r) => {
                return Err(err(
                    span,
                    format!(
                        "`{}` between a {} and a {} is not static",
                        op_symbol(op),
                        l.type_name(),
                        r.type_name()
                    ),
                ));
            }
        })
    }

    /// `a >> b` and `a << b` between tasks, lists of tasks, groups and edge labels.
    fn shift(&mut self, l: Value, r: Value, rshift: bool, span: &Span) -> Eval {
        let sym = if rshift { ">>" } else { "<<" };
        let is_list = |v: &Value| matches!(v, Value::List(_) | Value::Tuple(_));
        if is_list(&l) && is_list(&r) {
            return Err(err(
                span,
                format!(
                    "lists on both sides of `{sym}`: Python raises a TypeError here (use cross_downstream)"
                ),
            ));
        }
        let (up, down) = if rshift { (&l, &r) } else { (&r, &l) };
        // `a >> Label("x")` remembers `a`; `Label(...) >> b` makes the edges.
        if let Value::Label(pending) = down {
            if !pending.is_empty() || !rshift {
                return Err(err(
                    span,
                    "an edge label must sit between two tasks: `a >> Label(\"...\") >> b`",
                ));
            }
            let ups = self.endpoints(up, End::Leaves, span)?;
            return Ok(Value::Label(ups));
        }
        let ups = self.endpoints(up, End::Leaves, span)?;
        let downs = self.endpoints(down, End::Roots, span)?;
        for &u in &ups {
            for &d in &downs {
                self.add_edge(u, d, span);
            }
        }
        Ok(r)
    }

    fn endpoints(&self, v: &Value, end: End, span: &Span) -> Result<Vec<TaskIdx>, EvalError> {
        Ok(match v {
            Value::Task(t) | Value::XCom(t) | Value::XComKey(t, _) => vec![*t],
            Value::Group(g) => match end {
                End::Leaves => self.model.group_leaves(*g),
                End::Roots => self.model.group_roots(*g),
            },
            Value::Label(ups) => ups.clone(),
            Value::List(items) | Value::Tuple(items) => {
                let mut out = Vec::new();
                for i in items {
                    for t in self.endpoints(i, end, span)? {
                        if !out.contains(&t) {
                            out.push(t);
                        }
                    }
                }
                out
            }
            other => {
                return Err(err(
                    span,
                    format!("a dependency needs tasks, found a {}", other.type_name()),
                ));
            }
        })
    }

    fn add_edge(&mut self, up: TaskIdx, down: TaskIdx, span: &Span) {
        if up == down {
            let id = self.model.tasks[up].task_id.clone();
            self.report(err(
                span,
                format!("task `{id}` would depend on itself (Airflow raises a cycle error)"),
            ));
            return;
        }
        self.join_dags(up, down, span);
        if !self.model.tasks[down].upstream.contains(&up) {
            self.model.tasks[down].upstream.push(up);
        }
    }

    /// Airflow gives a task without a DAG the DAG of a task it is linked to.
    fn join_dags(&mut self, a: TaskIdx, b: TaskIdx, span: &Span) {
        match (self.model.tasks[a].dag, self.model.tasks[b].dag) {
            (Some(x), None) => self.put_in_dag(b, x),
            (None, Some(y)) => self.put_in_dag(a, y),
            (Some(x), Some(y)) if x != y => {
                let (ia, ib) = (
                    self.model.tasks[a].task_id.clone(),
                    self.model.tasks[b].task_id.clone(),
                );
                self.report(err(
                    span,
                    format!("tasks `{ia}` and `{ib}` are in different DAGs"),
                ));
            }
            _ => {}
        }
    }

    fn put_in_dag(&mut self, t: TaskIdx, d: usize) {
        self.model.tasks[t].dag = Some(d);
        if !self.model.dags[d].tasks.contains(&t) {
            self.model.dags[d].tasks.push(t);
        }
    }

    // ----- calls -------------------------------------------------------------------------

    fn call(&mut self, c: &'a ast::ExprCall, span: &Span) -> Eval {
        if let Expr::Attribute(a) = &*c.func {
            let recv = self.eval(&a.value)?;
            return match recv {
                Value::Sym(_) | Value::Module(_) | Value::Foreign(_) | Value::Func { .. } => {
                    let callee = self.attr(recv, &a.attr, span)?;
                    self.call_value(callee, c, span)
                }
                recv => self.call_method(recv, &a.attr, &a.value, c, span),
            };
        }
        let callee = self.eval(&c.func)?;
        self.call_value(callee, c, span)
    }

    fn has_task_id(c: &ast::ExprCall) -> bool {
        c.keywords
            .iter()
            .any(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "task_id"))
    }

    fn call_value(&mut self, callee: Value, c: &'a ast::ExprCall, span: &Span) -> Eval {
        match callee {
            Value::Sym(s) => self.call_sym(&s, c, span),
            Value::Foreign(name) => {
                if Self::has_task_id(c) {
                    return self.call_unknown_operator(&name, c, span);
                }
                if name.ends_with("OrTimeSchedule") {
                    return Err(err(
                        span,
                        format!(
                            "`{name}` (runs on a timetable or when assets are updated) is not supported: lithoflow's schedule is a timetable or assets, not both"
                        ),
                    ));
                }
                Err(err(
                    span,
                    format!("calls `{name}` while parsing, which only Airflow (or Python) can run"),
                ))
            }
            Value::Func { module, name } => {
                if Self::has_task_id(c) {
                    return self.call_unknown_operator(&format!("{module}.{name}"), c, span);
                }
                Err(err(
                    span,
                    format!(
                        "calls `{module}.{name}()` while parsing; it may build DAGs or tasks the converter cannot see"
                    ),
                ))
            }
            Value::Local(fid) => match &self.model.functions[fid].kind {
                FuncKind::Other(d) => {
                    let d = d.clone();
                    if Self::has_task_id(c) {
                        return self.call_unknown_operator(&d, c, span);
                    }
                    Err(err(
                        span,
                        format!("calls a function decorated with `{d}`, which is not understood"),
                    ))
                }
                _ => self.call_local(fid, c, span),
            },
            Value::TaskFactory(fid, overrides) => self.call_taskflow(fid, &overrides, c, span),
            Value::DagFactory(fid) => self.call_dag_factory(fid, c, span),
            Value::GroupFactory(fid) => self.call_group_factory(fid, c, span),
            Value::Opaque(e) => Err(e),
            other => {
                if Self::has_task_id(c) {
                    let text = self.src.get(span_of(&*c.func)).unwrap_or("?").to_owned();
                    return self.call_unknown_operator(&text, c, span);
                }
                Err(err(
                    span,
                    format!("calling a {} is not understood", other.type_name()),
                ))
            }
        }
    }

    fn call_sym(&mut self, s: &str, c: &'a ast::ExprCall, span: &Span) -> Eval {
        if let Some(kind) = operator_kind(s) {
            return self.call_operator(kind, c, span);
        }
        if let Some(b) = s.strip_prefix("builtin:") {
            let (pos, kws) = self.strict_args(c)?;
            return builtin(b, pos, kws, span);
        }
        match s {
            "Variable.get" => {
                let (pos, kws) = self.strict_args(c)?;
                crate::runtime_values::variable_get(pos, kws, span)
            }
            "BaseHook.get_connection" => {
                let (pos, kws) = self.strict_args(c)?;
                crate::runtime_values::get_connection(pos, kws, span)
            }
            "DAG" => self.call_dag(c, span),
            "TaskGroup" => self.call_task_group(c, span),
            "chain" | "chain_linear" => {
                let (pos, _) = self.strict_args(c)?;
                for pair in pos.windows(2) {
                    let linear = s == "chain_linear";
                    self.chain_pair(&pair[0], &pair[1], linear, span)?;
                }
                Ok(Value::None)
            }
            "cross_downstream" => {
                let (pos, kws) = self.strict_args(c)?;
                let get = |i: usize, name: &str| {
                    pos.get(i)
                        .cloned()
                        .or_else(|| kws.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                        .ok_or_else(|| err(span, format!("cross_downstream needs `{name}`")))
                };
                let from = get(0, "from_tasks")?;
                let to = get(1, "to_tasks")?;
                let ups = self.endpoints(&from, End::Leaves, span)?;
                let downs = self.endpoints(&to, End::Roots, span)?;
                for &u in &ups {
                    for &d in &downs {
                        self.add_edge(u, d, span);
                    }
                }
                Ok(Value::None)
            }
            "days_ago" => {
                let (pos, kws) = self.strict_args(c)?;
                let n = match pos
                    .first()
                    .or_else(|| kws.iter().find(|(k, _)| k == "n").map(|(_, v)| v))
                {
                    Some(Value::Int(n)) => *n,
                    _ => return Err(err(span, "days_ago needs a whole number of days")),
                };
                if pos.len() > 1 || kws.iter().any(|(k, _)| k != "n") {
                    return Err(err(
                        span,
                        "days_ago with hour/minute arguments is not supported",
                    ));
                }
                let today = self.opts.now.date_naive().and_time(NaiveTime::MIN);
                let local = today
                    .checked_sub_signed(ChronoDuration::days(n))
                    .ok_or_else(|| err(span, "days_ago out of range"))?;
                let days = if n == 1 {
                    "1 day".to_owned()
                } else {
                    format!("{n} days")
                };
                self.note(
                    span,
                    format!(
                        "days_ago({n}) moves with every parse in Airflow (midnight UTC, {days} before the parse); written as the fixed date {} ({days} before the migration)",
                        local.format("%Y-%m-%d")
                    ),
                );
                Ok(Value::DateTime(PyDateTime {
                    local,
                    tz: TzInfo::Utc,
                    moving: Some(format!("days_ago({n}), evaluated at the migration")),
                }))
            }
            "Param" => {
                let (pos, kws) = self.strict_args(c)?;
                let default = pos.first().cloned().or_else(|| {
                    kws.iter()
                        .find(|(k, _)| k == "default")
                        .map(|(_, v)| v.clone())
                });
                let schema: Vec<&str> = kws
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .filter(|k| *k != "default")
                    .collect();
                if !schema.is_empty() {
                    self.note(
                        span,
                        format!(
                            "Param's schema ({}) is not kept: lithoflow params are plain default values",
                            schema.join(", ")
                        ),
                    );
                }
                default.ok_or_else(|| err(span, "a Param without a default has no TOML value"))
            }
            "Label" => Ok(Value::Label(Vec::new())),
            "Asset" | "Dataset" => {
                let (pos, kws) = self.strict_args(c)?;
                crate::assets::make_asset(s, &pos, &kws, span)
            }
            "AssetAll" | "AssetAny" | "DatasetAll" | "DatasetAny" => {
                let (pos, _) = self.strict_args(c)?;
                crate::assets::make_condition(s, &pos, span)
            }
            "AssetAlias" | "DatasetAlias" => Ok(Value::Foreign(format!("{s}(...)"))),
            "datetime.time" => {
                let (pos, kws) = self.strict_args(c)?;
                crate::assets::make_time(&pos, &kws, span)
            }
            op if op.ends_with(".partial") => {
                let kind = operator_kind(op.trim_end_matches(".partial"))
                    .ok_or_else(|| err(span, format!("`{op}` is not understood")))?;
                let (pos, kwargs) = self.eval_args(&c.args, &c.keywords);
                if !pos.is_empty() {
                    return Err(err(span, "partial takes keyword arguments only"));
                }
                Ok(Value::OpPartial(kind, kwargs))
            }
            "textwrap.dedent" => {
                let (pos, _) = self.strict_args(c)?;
                match pos.as_slice() {
                    [Value::Str(s)] => Ok(Value::Str(py_dedent(s))),
                    _ => Err(err(span, "textwrap.dedent needs one string")),
                }
            }
            "CronTriggerTimetable" | "CronDataIntervalTimetable" => {
                let (pos, kws) = self.strict_args(c)?;
                let cron = match pos
                    .first()
                    .or_else(|| kws.iter().find(|(k, _)| k == "cron").map(|(_, v)| v))
                {
                    Some(Value::Str(s)) => s.clone(),
                    _ => return Err(err(span, format!("{s} needs a cron expression"))),
                };
                let tz = match kws.iter().find(|(k, _)| k == "timezone").map(|(_, v)| v) {
                    None => None,
                    Some(Value::Str(z)) => Some(z.clone()),
                    Some(Value::Tz(TzInfo::Named(z))) => Some(z.clone()),
                    Some(Value::Tz(TzInfo::Utc)) => Some("UTC".into()),
                    Some(other) => {
                        return Err(err(
                            span,
                            format!("timetable timezone is a {}", other.type_name()),
                        ));
                    }
                };
                for (k, v) in &kws {
                    let zero_interval = k == "interval" && *v == Value::Delta(0);
                    if !(matches!(k.as_str(), "cron" | "timezone") || zero_interval) {
                        return Err(err(span, format!("`{k}` of {s} is not supported")));
                    }
                }
                let kind = if s == "CronTriggerTimetable" {
                    "cron_trigger"
                } else {
                    "cron_data_interval"
                };
                Ok(Value::Timetable(kind, cron, tz))
            }
            "datetime.datetime" => {
                let (pos, kws) = self.strict_args(c)?;
                let tz = match kws.iter().find(|(k, _)| k == "tzinfo").map(|(_, v)| v) {
                    None | Some(Value::None) => TzInfo::Naive,
                    Some(Value::Tz(t)) => t.clone(),
                    Some(other) => {
                        return Err(err(span, format!("tzinfo is a {}", other.type_name())));
                    }
                };
                let kws: Vec<_> = kws.into_iter().filter(|(k, _)| k != "tzinfo").collect();
                Ok(Value::DateTime(make_datetime(&pos, &kws, tz, span)?))
            }
            "datetime.date" => {
                let (pos, kws) = self.strict_args(c)?;
                Ok(Value::DateTime(make_datetime(
                    &pos,
                    &kws,
                    TzInfo::Naive,
                    span,
                )?))
            }
            "pendulum.datetime" | "airflow.timezone.datetime" => {
                let (pos, kws) = self.strict_args(c)?;
                let tz = match kws
                    .iter()
                    .find(|(k, _)| k == "tz" || k == "tzinfo")
                    .map(|(_, v)| v)
                {
                    None => TzInfo::Utc,
                    Some(Value::Str(z)) => tz_named(z, span)?,
                    Some(Value::Tz(t)) => t.clone(),
                    Some(other) => return Err(err(span, format!("tz is a {}", other.type_name()))),
                };
                let kws: Vec<_> = kws
                    .into_iter()
                    .filter(|(k, _)| k != "tz" && k != "tzinfo")
                    .collect();
                Ok(Value::DateTime(make_datetime(&pos, &kws, tz, span)?))
            }
            "pendulum.parse" => {
                let (pos, kws) = self.strict_args(c)?;
                let Some(Value::Str(text)) = pos.first() else {
                    return Err(err(span, "pendulum.parse needs a string"));
                };
                let tz = match kws.iter().find(|(k, _)| k == "tz").map(|(_, v)| v) {
                    None => TzInfo::Utc,
                    Some(Value::Str(z)) => tz_named(z, span)?,
                    Some(Value::Tz(t)) => t.clone(),
                    Some(other) => return Err(err(span, format!("tz is a {}", other.type_name()))),
                };
                parse_datetime_text(text, tz)
                    .map(Value::DateTime)
                    .ok_or_else(|| {
                        err(
                            span,
                            format!("pendulum.parse({text:?}) is not a date the converter reads"),
                        )
                    })
            }
            "datetime.timedelta" | "pendulum.duration" => {
                let (pos, kws) = self.strict_args(c)?;
                make_delta(&pos, &kws, span).map(Value::Delta)
            }
            "datetime.timezone" => {
                let (pos, _) = self.strict_args(c)?;
                match pos.first() {
                    Some(Value::Delta(d)) => Ok(Value::Tz(TzInfo::Fixed((d / 1_000_000) as i32))),
                    _ => Err(err(span, "timezone(...) needs a timedelta offset")),
                }
            }
            "pendulum.timezone" => {
                let (pos, _) = self.strict_args(c)?;
                match pos.first() {
                    Some(Value::Str(z)) => Ok(Value::Tz(tz_named(z, span)?)),
                    _ => Err(err(span, "pendulum.timezone needs a zone name")),
                }
            }
            "datetime.datetime.now"
            | "datetime.datetime.utcnow"
            | "datetime.datetime.today"
            | "airflow.timezone.utcnow"
            | "pendulum.now"
            | "pendulum.today"
            | "pendulum.yesterday"
            | "pendulum.tomorrow" => {
                let (pos, kws) = self.strict_args(c)?;
                let tz = match pos
                    .first()
                    .or_else(|| kws.iter().find(|(k, _)| k == "tz").map(|(_, v)| v))
                {
                    Some(Value::Str(z)) => tz_named(z, span)?,
                    Some(Value::Tz(t)) => t.clone(),
                    _ if s.starts_with("pendulum")
                        || s.starts_with("airflow")
                        || s.ends_with("utcnow") =>
                    {
                        TzInfo::Utc
                    }
                    _ => TzInfo::Naive,
                };
                let now = PyDateTime {
                    local: self.opts.now.naive_utc(),
                    tz: TzInfo::Utc,
                    moving: None,
                };
                // Wall-clock time in the zone asked for.
                let mut local = match &tz {
                    TzInfo::Named(z) => z
                        .parse::<chrono_tz::Tz>()
                        .map(|z| self.opts.now.with_timezone(&z).naive_local())
                        .unwrap_or(now.local),
                    TzInfo::Fixed(o) => now.local + ChronoDuration::seconds(i64::from(*o)),
                    _ => now.local,
                };
                let day_based = matches!(
                    s,
                    "pendulum.today" | "pendulum.yesterday" | "pendulum.tomorrow"
                );
                if day_based {
                    local = local.date().and_time(NaiveTime::MIN);
                    if s == "pendulum.yesterday" {
                        local -= ChronoDuration::days(1);
                    } else if s == "pendulum.tomorrow" {
                        local += ChronoDuration::days(1);
                    }
                }
                let shown = s.rsplit('.').next().unwrap_or(s);
                self.note(
                    span,
                    format!(
                        "`{shown}()` is evaluated anew at every parse in Airflow; written as the fixed time of the migration, {}",
                        local.format("%Y-%m-%dT%H:%M:%S")
                    ),
                );
                Ok(Value::DateTime(PyDateTime {
                    local,
                    tz,
                    moving: Some(format!("{shown}(), evaluated at the migration")),
                }))
            }
            "dag" | "task" | "task_group" | "task.branch" | "task.short_circuit" | "task.bash"
            | "task.python" => Err(err(
                span,
                format!("`{s}(...)` used other than as a decorator is not understood"),
            )),
            other => Err(err(
                span,
                format!("calls `{other}` while parsing, which is not static"),
            )),
        }
    }

    fn chain_pair(
        &mut self,
        a: &Value,
        b: &Value,
        linear: bool,
        span: &Span,
    ) -> Result<(), EvalError> {
        let is_list = |v: &Value| matches!(v, Value::List(_) | Value::Tuple(_));
        if !linear && is_list(a) && is_list(b) {
            let (xa, xb) = (
                a.elements().unwrap_or_default(),
                b.elements().unwrap_or_default(),
            );
            if xa.len() != xb.len() {
                return Err(err(
                    span,
                    format!(
                        "chain: lists of different lengths ({} and {}); Airflow raises an error",
                        xa.len(),
                        xb.len()
                    ),
                ));
            }
            for (x, y) in xa.iter().zip(&xb) {
                let ups = self.endpoints(x, End::Leaves, span)?;
                let downs = self.endpoints(y, End::Roots, span)?;
                for &u in &ups {
                    for &d in &downs {
                        self.add_edge(u, d, span);
                    }
                }
            }
            return Ok(());
        }
        let ups = self.endpoints(a, End::Leaves, span)?;
        let downs = self.endpoints(b, End::Roots, span)?;
        for &u in &ups {
            for &d in &downs {
                self.add_edge(u, d, span);
            }
        }
        Ok(())
    }

    fn call_method(
        &mut self,
        recv: Value,
        name: &str,
        recv_expr: &'a Expr,
        c: &'a ast::ExprCall,
        span: &Span,
    ) -> Eval {
        match (&recv, name) {
            (Value::Conn(id), "get_uri") => {
                Ok(crate::runtime_values::conn_template(id, "get_uri()"))
            }
            (Value::Runtime { template, what }, m) => Err(err(
                span,
                format!(
                    "`.{m}(...)` of `{what}`: Airflow reads it while parsing, lithoflow when the task runs (the template {template:?}), so nothing can be computed from it while converting; compute it in the template (Jinja) or in the task's function"
                ),
            )),
            (
                Value::Task(_) | Value::XCom(_) | Value::Group(_),
                "set_upstream" | "set_downstream",
            ) => {
                let (pos, _) = self.strict_args(c)?;
                let Some(other) = pos.first() else {
                    return Err(err(span, format!("{name} needs a task")));
                };
                if name == "set_downstream" {
                    let ups = self.endpoints(&recv, End::Leaves, span)?;
                    let downs = self.endpoints(other, End::Roots, span)?;
                    for &u in &ups {
                        for &d in &downs {
                            self.add_edge(u, d, span);
                        }
                    }
                } else {
                    let ups = self.endpoints(other, End::Leaves, span)?;
                    let downs = self.endpoints(&recv, End::Roots, span)?;
                    for &u in &ups {
                        for &d in &downs {
                            self.add_edge(u, d, span);
                        }
                    }
                }
                Ok(Value::None)
            }
            (Value::TaskFactory(fid, ov), "override") => {
                let (pos, kws) = self.strict_args(c)?;
                if !pos.is_empty() {
                    return Err(err(span, "override takes keyword arguments only"));
                }
                let mut ov = ov.clone();
                ov.extend(kws);
                Ok(Value::TaskFactory(*fid, ov))
            }
            (Value::TaskFactory(fid, ov), "partial") => {
                let (pos, kws) = self.strict_args(c)?;
                if !pos.is_empty() {
                    return Err(err(
                        span,
                        "partial with positional arguments is not supported",
                    ));
                }
                Ok(Value::Partial(*fid, kws, ov.clone()))
            }
            (Value::TaskFactory(fid, ov), "expand" | "expand_kwargs") => {
                let ov = ov.clone();
                self.call_mapped(*fid, &ov, Vec::new(), name == "expand_kwargs", c, span)
            }
            (Value::Partial(fid, fixed, ov), "expand" | "expand_kwargs") => {
                let (fixed, ov) = (fixed.clone(), ov.clone());
                self.call_mapped(*fid, &ov, fixed, name == "expand_kwargs", c, span)
            }
            (Value::OpPartial(kind, kwargs), "expand" | "expand_kwargs") => {
                let (kind, kwargs) = (*kind, kwargs.clone());
                self.call_mapped_operator(kind, kwargs, name == "expand_kwargs", c, span)
            }
            (Value::XCom(t), "map" | "zip" | "concat") => {
                let id = self.model.tasks[*t].task_id.clone();
                Err(err(
                    span,
                    format!(
                        "`.{name}(...)` of the result of task `{id}` transforms it with Python while Airflow expands; lithoflow expands over a task's result as it is: do the transformation in `{id}` (or in a task between)"
                    ),
                ))
            }
            (Value::List(items), "append" | "extend" | "insert") => {
                let (pos, _) = self.strict_args(c)?;
                let mut items = items.clone();
                match (name, pos.as_slice()) {
                    ("append", [v]) => items.push(v.clone()),
                    ("extend", [v]) => {
                        items.extend(v.elements().ok_or_else(|| {
                            err(span, "extend with a value that is not a sequence")
                        })?)
                    }
                    ("insert", [Value::Int(i), v]) => {
                        let len = items.len() as i64;
                        let at = if *i < 0 {
                            (len + i).max(0)
                        } else {
                            (*i).min(len)
                        } as usize;
                        items.insert(at, v.clone());
                    }
                    _ => return Err(err(span, format!("list.{name} with these arguments"))),
                }
                if items.len() > MAX_LEN {
                    return Err(err(span, "the list is too long"));
                }
                self.rebind_receiver(recv_expr, Value::List(items), span)?;
                Ok(Value::None)
            }
            (Value::Dict(items), "update" | "setdefault" | "pop") => {
                let (pos, kws) = self.strict_args(c)?;
                let mut items = items.clone();
                let result = match (name, pos.as_slice()) {
                    ("update", []) | ("update", [_]) => {
                        if let Some(v) = pos.first() {
                            let Value::Dict(other) = v else {
                                return Err(err(
                                    span,
                                    "dict.update with a value that is not a dict",
                                ));
                            };
                            for (k, v) in other.clone() {
                                dict_insert(&mut items, k, v);
                            }
                        }
                        for (k, v) in kws {
                            dict_insert(&mut items, Value::Str(k), v);
                        }
                        Value::None
                    }
                    ("setdefault", [k, rest @ ..]) if rest.len() <= 1 => {
                        match items.iter().find(|(x, _)| py_eq(x, k)) {
                            Some((_, v)) => v.clone(),
                            None => {
                                let v = rest.first().cloned().unwrap_or(Value::None);
                                items.push((k.clone(), v.clone()));
                                v
                            }
                        }
                    }
                    ("pop", [k, rest @ ..]) if rest.len() <= 1 => {
                        match items.iter().position(|(x, _)| py_eq(x, k)) {
                            Some(i) => items.remove(i).1,
                            None => rest
                                .first()
                                .cloned()
                                .ok_or_else(|| err(span, "dict.pop of a missing key"))?,
                        }
                    }
                    _ => return Err(err(span, format!("dict.{name} with these arguments"))),
                };
                self.rebind_receiver(recv_expr, Value::Dict(items), span)?;
                Ok(result)
            }
            (Value::Dag(_), "test" | "cli" | "run") => Ok(Value::None),
            (Value::DateTime(d), "add" | "subtract") => {
                let (pos, kws) = self.strict_args(c)?;
                if !pos.is_empty() {
                    return Err(err(span, format!("{name} with positional arguments")));
                }
                let delta = make_delta(&[], &kws, span)?;
                let delta = if name == "subtract" { -delta } else { delta };
                d.shifted(delta)
                    .map(Value::DateTime)
                    .ok_or_else(|| err(span, "date out of range"))
            }
            (Value::DateTime(d), "replace") => {
                let (pos, kws) = self.strict_args(c)?;
                if !pos.is_empty() {
                    return Err(err(span, "replace with positional arguments"));
                }
                let mut d = d.clone();
                for (k, v) in kws {
                    use chrono::Timelike;
                    let n = match v {
                        Value::Int(n) => {
                            u32::try_from(n).map_err(|_| err(span, "replace: out of range"))?
                        }
                        Value::Tz(t) if k == "tzinfo" => {
                            d.tz = t;
                            continue;
                        }
                        _ => return Err(err(span, format!("replace({k}=...) is not supported"))),
                    };
                    let out = match k.as_str() {
                        "hour" => d.local.with_hour(n),
                        "minute" => d.local.with_minute(n),
                        "second" => d.local.with_second(n),
                        "microsecond" => d.local.with_nanosecond(n.saturating_mul(1000)),
                        _ => None,
                    };
                    d.local =
                        out.ok_or_else(|| err(span, format!("replace({k}=...) is not supported")))?;
                }
                Ok(Value::DateTime(d))
            }
            (Value::Str(s), _) => {
                let (pos, kws) = self.strict_args(c)?;
                str_method(s, name, &pos, &kws, span)
            }
            (Value::Dict(items), "get" | "items" | "keys" | "values" | "copy") => {
                let (pos, _) = self.strict_args(c)?;
                Ok(match name {
                    "get" => {
                        let key = pos
                            .first()
                            .ok_or_else(|| err(span, "dict.get needs a key"))?;
                        items
                            .iter()
                            .find(|(k, _)| py_eq(k, key))
                            .map(|(_, v)| v.clone())
                            .unwrap_or_else(|| pos.get(1).cloned().unwrap_or(Value::None))
                    }
                    "items" => Value::List(
                        items
                            .iter()
                            .map(|(k, v)| Value::Tuple(vec![k.clone(), v.clone()]))
                            .collect(),
                    ),
                    "keys" => Value::List(items.iter().map(|(k, _)| k.clone()).collect()),
                    "values" => Value::List(items.iter().map(|(_, v)| v.clone()).collect()),
                    _ => recv.clone(),
                })
            }
            (Value::List(items), "copy" | "index" | "count") => {
                let (pos, _) = self.strict_args(c)?;
                Ok(match (name, pos.first()) {
                    ("copy", None) => recv.clone(),
                    ("index", Some(x)) => Value::Int(
                        items
                            .iter()
                            .position(|i| py_eq(i, x))
                            .ok_or_else(|| err(span, "list.index: not found"))?
                            as i64,
                    ),
                    ("count", Some(x)) => {
                        Value::Int(items.iter().filter(|i| py_eq(i, x)).count() as i64)
                    }
                    _ => return Err(err(span, format!("list.{name} with these arguments"))),
                })
            }
            (Value::Opaque(e), _) => Err(e.clone()),
            _ => {
                if Self::has_task_id(c) {
                    let text = self.src.get(span_of(&*c.func)).unwrap_or("?").to_owned();
                    return self.call_unknown_operator(&text, c, span);
                }
                Err(err(
                    span,
                    format!("`.{name}(...)` of a {} is not understood", recv.type_name()),
                ))
            }
        }
    }

    fn rebind_receiver(
        &mut self,
        recv_expr: &Expr,
        v: Value,
        span: &Span,
    ) -> Result<(), EvalError> {
        match recv_expr {
            Expr::Name(n) => {
                self.rebind(&n.id, v);
                Ok(())
            }
            _ => Err(err(
                span,
                "changing a value that has no name is not followed",
            )),
        }
    }

    fn call_local(&mut self, fid: usize, c: &'a ast::ExprCall, span: &Span) -> Eval {
        let (pos, kws) = self.eval_args(&c.args, &c.keywords);
        let pos = pos
            .into_iter()
            .map(|(v, _)| v)
            .collect::<Result<Vec<_>, _>>()?;
        let kws = kws
            .into_iter()
            .map(|k| k.value.map(|v| (k.name, v)))
            .collect::<Result<Vec<_>, _>>()?;
        match self.run_function(fid, pos, kws, span)? {
            Value::Opaque(e) => Err(e),
            v => Ok(v),
        }
    }

    /// Runs a function of the DAG file with the given arguments, in its own scope.
    fn run_function(
        &mut self,
        fid: usize,
        pos: Vec<Value>,
        kws: Vec<(String, Value)>,
        span: &Span,
    ) -> Eval {
        if self.call_depth >= MAX_CALL_DEPTH {
            return Err(err(span, "calls nest too deeply (recursion?)"));
        }
        let f = self.model.functions[fid].clone();
        let saved = std::mem::replace(&mut self.frames, f.closure.clone());
        let locals = self.bind_params(f.args, pos, kws, span);
        let locals = match locals {
            Ok(l) => l,
            Err(e) => {
                self.frames = saved;
                return Err(e);
            }
        };
        self.frames.push(Rc::new(RefCell::new(locals)));
        self.call_depth += 1;
        let flow = self.exec_block(f.body);
        self.call_depth -= 1;
        self.frames = saved;
        Ok(match flow {
            Flow::Return(v) => v,
            Flow::Normal => Value::None,
        })
    }

    fn bind_params(
        &mut self,
        args: &'a ast::Arguments,
        pos: Vec<Value>,
        kws: Vec<(String, Value)>,
        span: &Span,
    ) -> Result<HashMap<String, Value>, EvalError> {
        let mut locals = HashMap::new();
        let positional: Vec<&ast::ArgWithDefault> =
            args.posonlyargs.iter().chain(&args.args).collect();
        let mut pos = pos.into_iter();
        let mut kws = kws;
        for p in &positional {
            let name = p.def.arg.as_str();
            let v = match pos.next() {
                Some(v) => v,
                None => match kws.iter().position(|(k, _)| k == name) {
                    Some(i) => kws.remove(i).1,
                    None => match &p.default {
                        Some(d) => self.eval(d)?,
                        None => return Err(err(span, format!("missing argument `{name}`"))),
                    },
                },
            };
            locals.insert(name.to_owned(), v);
        }
        let rest: Vec<Value> = pos.collect();
        match &args.vararg {
            Some(a) => {
                locals.insert(a.arg.to_string(), Value::Tuple(rest));
            }
            None if !rest.is_empty() => return Err(err(span, "too many positional arguments")),
            None => {}
        }
        for p in &args.kwonlyargs {
            let name = p.def.arg.as_str();
            let v = match kws.iter().position(|(k, _)| k == name) {
                Some(i) => kws.remove(i).1,
                None => match &p.default {
                    Some(d) => self.eval(d)?,
                    None => return Err(err(span, format!("missing argument `{name}`"))),
                },
            };
            locals.insert(name.to_owned(), v);
        }
        match &args.kwarg {
            Some(a) => {
                let d = kws.into_iter().map(|(k, v)| (Value::Str(k), v)).collect();
                locals.insert(a.arg.to_string(), Value::Dict(d));
            }
            None if !kws.is_empty() => {
                return Err(err(span, format!("unexpected argument `{}`", kws[0].0)));
            }
            None => {}
        }
        Ok(locals)
    }

    // ----- DAGs, groups, tasks -----------------------------------------------------------

    fn call_dag(&mut self, c: &'a ast::ExprCall, span: &Span) -> Eval {
        let mark = self.model.findings.len();
        let (pos, kwargs) = self.eval_args(&c.args, &c.keywords);
        let mut pos = pos.into_iter();
        let dag_id = match (pos.next(), kw(&kwargs, "dag_id")) {
            (Some((v, s)), _) => expect_str(v, &s, "dag_id"),
            (None, Some(k)) => expect_str(k.value.clone(), &k.span, "dag_id"),
            (None, None) => Err(err(span, "DAG(...) without a dag_id")),
        };
        for (_, s) in pos {
            self.report(err(
                &s,
                "positional DAG arguments after the dag_id are not understood; name them",
            ));
        }
        let d = self.model.dags.len();
        self.model.dags.push(DagDraft {
            dag_id,
            span: span.clone(),
            kwargs,
            fn_params: Vec::new(),
            tasks: Vec::new(),
            attrs: Vec::new(),
        });
        self.claim(mark..usize::MAX, Some(d));
        Ok(Value::Dag(d))
    }

    fn call_dag_factory(&mut self, fid: usize, c: &'a ast::ExprCall, span: &Span) -> Eval {
        let f = self.model.functions[fid].clone();
        let FuncKind::Dag {
            kwargs,
            span: dspan,
        } = &f.kind
        else {
            return Err(err(span, "not a @dag function"));
        };
        let dag_id = match kw(kwargs, "dag_id") {
            Some(k) => expect_str(k.value.clone(), &k.span, "dag_id"),
            None => Ok(f.name.clone()),
        };
        // Airflow turns the function's parameters into DAG params, with the call's
        // arguments as their defaults.
        let (pos, call_kws) = self.eval_args(&c.args, &c.keywords);
        let mut fn_params = Vec::new();
        let mut pos = pos.into_iter();
        let all: Vec<&ast::ArgWithDefault> = f
            .args
            .posonlyargs
            .iter()
            .chain(&f.args.args)
            .chain(&f.args.kwonlyargs)
            .collect();
        let saved = std::mem::replace(&mut self.frames, f.closure.clone());
        for p in &all {
            let name = p.def.arg.to_string();
            let from_call = if f.args.kwonlyargs.iter().any(|k| std::ptr::eq(k, *p)) {
                None
            } else {
                pos.next()
            };
            let v = match from_call {
                Some((v, _)) => v,
                None => match kw(&call_kws, &name) {
                    Some(k) => k.value.clone(),
                    None => match &p.default {
                        Some(d) => self.eval(d),
                        None => Err(err(span, format!("@dag parameter `{name}` has no value"))),
                    },
                },
            };
            fn_params.push((name, v, span_of(&p.def)));
        }
        self.frames = saved;
        let d = self.model.dags.len();
        self.claim(f.deco_findings.clone(), Some(d));
        self.model.dags.push(DagDraft {
            dag_id,
            span: dspan.clone(),
            kwargs: kwargs.clone(),
            fn_params: fn_params.clone(),
            tasks: Vec::new(),
            attrs: Vec::new(),
        });
        // Run the body with each parameter standing for `{{ params.<name> }}`.
        let saved = std::mem::replace(&mut self.frames, f.closure.clone());
        let locals: HashMap<String, Value> = fn_params
            .iter()
            .map(|(n, _, _)| (n.clone(), Value::DagParam(n.clone())))
            .collect();
        self.frames.push(Rc::new(RefCell::new(locals)));
        self.dag_stack.push(d);
        self.call_depth += 1;
        self.exec_block(f.body);
        self.call_depth -= 1;
        self.dag_stack.pop();
        self.frames = saved;
        Ok(Value::Dag(d))
    }

    fn call_task_group(&mut self, c: &'a ast::ExprCall, span: &Span) -> Eval {
        let (pos, kwargs) = self.eval_args(&c.args, &c.keywords);
        let id = match (pos.into_iter().next(), kw(&kwargs, "group_id")) {
            (Some((v, s)), _) => expect_str(v, &s, "group_id")?,
            (None, Some(k)) => expect_str(k.value.clone(), &k.span, "group_id")?,
            (None, None) => return Err(err(span, "TaskGroup(...) without a group_id")),
        };
        self.new_group(&id, &kwargs, span)
    }

    fn new_group(&mut self, id: &str, kwargs: &[Kw], span: &Span) -> Eval {
        let prefix_on = match kw(kwargs, "prefix_group_id").map(|k| k.value.clone()) {
            None => true,
            Some(Ok(Value::Bool(b))) => b,
            Some(_) => return Err(err(span, "prefix_group_id must be True or False")),
        };
        for k in kwargs {
            match k.name.as_str() {
                "group_id" | "prefix_group_id" | "tooltip" | "ui_color" | "ui_fgcolor" | "dag" | "parent_group" => {}
                "default_args" => self.report(err(&k.span, "a TaskGroup's default_args are not supported: set them on the tasks or the DAG")),
                other => self.report(err(&k.span, format!("TaskGroup argument `{other}` is not supported"))),
            }
        }
        let parent = self.group_stack.last().copied();
        let parent_prefix = parent.and_then(|p| self.model.groups[p].prefix.clone());
        let prefix = if prefix_on {
            Some(match parent_prefix {
                Some(p) => format!("{p}.{id}"),
                None => id.to_owned(),
            })
        } else {
            parent_prefix
        };
        let g = self.model.groups.len();
        self.model.groups.push(GroupDraft {
            prefix,
            parent,
            members: Vec::new(),
        });
        Ok(Value::Group(g))
    }

    fn call_group_factory(&mut self, fid: usize, c: &'a ast::ExprCall, span: &Span) -> Eval {
        let f = self.model.functions[fid].clone();
        let FuncKind::Group { kwargs } = &f.kind else {
            return Err(err(span, "not a @task_group function"));
        };
        let id = match kw(kwargs, "group_id") {
            Some(k) => expect_str(k.value.clone(), &k.span, "group_id")?,
            None => f.name.clone(),
        };
        let Value::Group(g) = self.new_group(&id, kwargs, span)? else {
            return Err(err(span, "task group"));
        };
        let (pos, kws) = self.eval_args(&c.args, &c.keywords);
        let pos = pos
            .into_iter()
            .map(|(v, _)| v)
            .collect::<Result<Vec<_>, _>>()?;
        let kws = kws
            .into_iter()
            .map(|k| k.value.map(|v| (k.name, v)))
            .collect::<Result<Vec<_>, _>>()?;
        self.group_stack.push(g);
        let r = self.run_function(fid, pos, kws, span);
        self.group_stack.pop();
        match r? {
            Value::None => Ok(Value::Group(g)),
            Value::Opaque(e) => Err(e),
            v => Ok(v),
        }
    }

    /// Registers a task in its DAG and task groups. `dedupe` renames a repeated TaskFlow
    /// task id as Airflow does (`add`, `add__1`, `add__2`); otherwise a repeat is an error.
    #[expect(
        clippy::too_many_arguments,
        reason = "one constructor for every kind of task"
    )]
    fn create_task(
        &mut self,
        base_id: &str,
        explicit_dag: Option<usize>,
        span: &Span,
        source: TaskSource,
        kwargs: Vec<Kw>,
        args: Vec<(Eval, Span)>,
        call_kwargs: Vec<Kw>,
        expand: (Vec<Kw>, Option<Kw>),
        dedupe: bool,
    ) -> TaskIdx {
        let (expand, expand_kwargs) = expand;
        let mapped = !expand.is_empty() || expand_kwargs.is_some();
        let dag = explicit_dag.or(self.current_dag());
        let group = self.group_stack.last().copied();
        let prefix = group.and_then(|g| self.model.groups[g].prefix.clone());
        let mut task_id = match prefix {
            Some(p) => format!("{p}.{base_id}"),
            None => base_id.to_owned(),
        };
        let taken = |m: &Model<'_>, id: &str| {
            m.tasks
                .iter()
                .any(|t| t.dag == dag && t.dag.is_some() && t.task_id == id)
        };
        if taken(&self.model, &task_id) {
            if dedupe {
                let mut n = 1;
                while taken(&self.model, &format!("{task_id}__{n}")) {
                    n += 1;
                }
                task_id = format!("{task_id}__{n}");
            } else {
                self.report(err(
                    span,
                    format!("task_id `{task_id}` is used twice in this DAG (Airflow raises DuplicateTaskIdFound); the second is renamed"),
                ));
                let mut n = 2;
                while taken(&self.model, &format!("{task_id}_{n}")) {
                    n += 1;
                }
                task_id = format!("{task_id}_{n}");
            }
        }
        let mut data_up = Vec::new();
        for k in kwargs
            .iter()
            .chain(&call_kwargs)
            .chain(&expand)
            .chain(&expand_kwargs)
        {
            if let Ok(v) = &k.value {
                xcoms_in(v, &mut data_up);
            }
        }
        for (v, _) in &args {
            if let Ok(v) = v {
                xcoms_in(v, &mut data_up);
            }
        }
        let t = self.model.tasks.len();
        self.model.tasks.push(TaskDraft {
            task_id,
            dag: None,
            span: span.clone(),
            source,
            kwargs,
            args,
            call_kwargs,
            expand,
            expand_kwargs,
            mapped,
            upstream: Vec::new(),
            data_upstream: Vec::new(),
            attrs: Vec::new(),
        });
        if let Some(d) = dag {
            self.put_in_dag(t, d);
        }
        let mut g = group;
        while let Some(gi) = g {
            self.model.groups[gi].members.push(t);
            g = self.model.groups[gi].parent;
        }
        for u in data_up {
            if u == t {
                continue;
            }
            self.join_dags(u, t, span);
            if !self.model.tasks[t].data_upstream.contains(&u) {
                self.model.tasks[t].data_upstream.push(u);
            }
        }
        t
    }

    fn task_dag_kw(&mut self, kwargs: &[Kw]) -> Option<usize> {
        match kw(kwargs, "dag").map(|k| (k.value.clone(), k.span.clone())) {
            None | Some((Ok(Value::None), _)) => None,
            Some((Ok(Value::Dag(d)), _)) => Some(d),
            Some((Ok(other), s)) => {
                self.report(err(
                    &s,
                    format!("`dag=` is a {}, not a DAG", other.type_name()),
                ));
                None
            }
            Some((Err(e), _)) => {
                self.report(e);
                None
            }
        }
    }

    fn task_id_of(&mut self, kwargs: &[Kw], span: &Span) -> String {
        match kw(kwargs, "task_id").map(|k| k.value.clone()) {
            Some(Ok(Value::Str(s))) => s,
            Some(Ok(other)) => {
                self.report(err(
                    span,
                    format!("task_id is a {}, not a string", other.type_name()),
                ));
                format!("task_at_line_{}", self.line_of(span.start))
            }
            Some(Err(e)) => {
                self.report(EvalError::new(e.span, format!("task_id: {}", e.message)));
                format!("task_at_line_{}", self.line_of(span.start))
            }
            None => {
                self.report(err(
                    span,
                    "an operator without task_id (Airflow requires one)",
                ));
                format!("task_at_line_{}", self.line_of(span.start))
            }
        }
    }

    fn call_operator(&mut self, kind: OpKind, c: &'a ast::ExprCall, span: &Span) -> Eval {
        let mark = self.model.findings.len();
        let (pos, kwargs) = self.eval_args(&c.args, &c.keywords);
        let dag = self.task_dag_kw(&kwargs);
        let id = self.task_id_of(&kwargs, span);
        if let Some((_, s)) = pos.first() {
            let s = s.clone();
            let d = dag.or(self.current_dag());
            self.model.finding(
                s,
                Severity::Error,
                "positional operator arguments are not understood; name them",
                d,
            );
        }
        let t = self.create_task(
            &id,
            dag,
            span,
            TaskSource::Operator(kind),
            kwargs,
            Vec::new(),
            Vec::new(),
            (Vec::new(), None),
            false,
        );
        self.claim_for_task(mark, t);
        Ok(Value::Task(t))
    }

    fn call_unknown_operator(&mut self, name: &str, c: &'a ast::ExprCall, span: &Span) -> Eval {
        let mark = self.model.findings.len();
        let (_, kwargs) = self.eval_args(&c.args, &c.keywords);
        let dag = self.task_dag_kw(&kwargs);
        let id = self.task_id_of(&kwargs, span);
        let short = name.rsplit('.').next().unwrap_or(name).to_owned();
        let t = self.create_task(
            &id,
            dag,
            span,
            TaskSource::Unknown(short),
            kwargs,
            Vec::new(),
            Vec::new(),
            (Vec::new(), None),
            false,
        );
        self.claim_for_task(mark, t);
        Ok(Value::Task(t))
    }

    fn call_taskflow(
        &mut self,
        fid: usize,
        overrides: &[(String, Value)],
        c: &'a ast::ExprCall,
        span: &Span,
    ) -> Eval {
        let mark = self.model.findings.len();
        let f = self.model.functions[fid].clone();
        let FuncKind::Task { kind, kwargs } = &f.kind else {
            return Err(err(span, "not a @task function"));
        };
        let mut kwargs = kwargs.clone();
        for (k, v) in overrides {
            kwargs.push(Kw::new(k, span.clone(), Ok(v.clone())));
        }
        let dag = self.task_dag_kw(&kwargs);
        let id = match kw(&kwargs, "task_id") {
            Some(_) => self.task_id_of(&kwargs, span),
            None => f.name.clone(),
        };
        let (args, call_kwargs) = self.eval_args(&c.args, &c.keywords);
        let t = self.create_task(
            &id,
            dag,
            span,
            TaskSource::TaskFlow {
                kind: *kind,
                func: fid,
            },
            kwargs,
            args,
            call_kwargs,
            (Vec::new(), None),
            true,
        );
        self.claim_for_task(mark, t);
        Ok(Value::XCom(t))
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the two forms of mapping a TaskFlow function share it"
    )]
    fn call_mapped(
        &mut self,
        fid: usize,
        overrides: &[(String, Value)],
        fixed: Vec<(String, Value)>,
        by_kwargs: bool,
        c: &'a ast::ExprCall,
        span: &Span,
    ) -> Eval {
        let mark = self.model.findings.len();
        let f = self.model.functions[fid].clone();
        let FuncKind::Task { kind, kwargs } = &f.kind else {
            return Err(err(span, "not a @task function"));
        };
        if *kind != OpKind::Python {
            return Err(err(
                span,
                "mapping a branch, short-circuit, bash or sensor task is not supported (lithoflow maps python, bash and call_async tasks)",
            ));
        }
        let mut kwargs = kwargs.clone();
        for (k, v) in overrides {
            kwargs.push(Kw::new(k, span.clone(), Ok(v.clone())));
        }
        let (pos, expand) = self.eval_args(&c.args, &c.keywords);
        let expand = self.expansion(pos, expand, by_kwargs, span)?;
        let dag = self.task_dag_kw(&kwargs);
        let id = match kw(&kwargs, "task_id") {
            Some(_) => self.task_id_of(&kwargs, span),
            None => f.name.clone(),
        };
        let fixed = fixed
            .into_iter()
            .map(|(k, v)| Kw::new(&k, span.clone(), Ok(v)))
            .collect();
        let t = self.create_task(
            &id,
            dag,
            span,
            TaskSource::Mapped { func: fid },
            kwargs,
            Vec::new(),
            fixed,
            expand,
            true,
        );
        self.claim_for_task(mark, t);
        Ok(Value::XCom(t))
    }

    /// `Operator.partial(...).expand(...)` and `.expand_kwargs(...)`: a mapped classic
    /// operator, whose fixed arguments are its operator arguments.
    fn call_mapped_operator(
        &mut self,
        kind: OpKind,
        kwargs: Vec<Kw>,
        by_kwargs: bool,
        c: &'a ast::ExprCall,
        span: &Span,
    ) -> Eval {
        let mark = self.model.findings.len();
        let (pos, expand) = self.eval_args(&c.args, &c.keywords);
        let expand = self.expansion(pos, expand, by_kwargs, span)?;
        let dag = self.task_dag_kw(&kwargs);
        let id = self.task_id_of(&kwargs, span);
        let t = self.create_task(
            &id,
            dag,
            span,
            TaskSource::Operator(kind),
            kwargs,
            Vec::new(),
            Vec::new(),
            expand,
            false,
        );
        self.claim_for_task(mark, t);
        Ok(Value::Task(t))
    }

    /// The arguments of `.expand(name=values, ...)` (keywords only, at least one) or of
    /// `.expand_kwargs(values)` (one).
    fn expansion(
        &self,
        pos: Vec<(Eval, Span)>,
        named: Vec<Kw>,
        by_kwargs: bool,
        span: &Span,
    ) -> Result<(Vec<Kw>, Option<Kw>), EvalError> {
        if by_kwargs {
            return match (pos.as_slice(), named.as_slice()) {
                ([(v, s)], []) => Ok((
                    Vec::new(),
                    Some(Kw::new("expand_kwargs", s.clone(), v.clone())),
                )),
                ([], [k]) if k.name == "kwargs" => Ok((Vec::new(), Some(k.clone()))),
                _ => Err(err(
                    span,
                    "expand_kwargs takes one argument: a list of dicts, or a task's result",
                )),
            };
        }
        if !pos.is_empty() {
            return Err(err(span, "expand takes keyword arguments only"));
        }
        if named.is_empty() {
            return Err(err(
                span,
                "expand() without arguments (Airflow raises an error: nothing to map over)",
            ));
        }
        Ok((named, None))
    }
}

// ----- helpers ----------------------------------------------------------------------------

/// Python's `textwrap.dedent`: removes the whitespace all non-blank lines start with, and
/// empties lines that hold only whitespace.
fn py_dedent(s: &str) -> String {
    let lines: Vec<&str> = s.split('\n').collect();
    let margin = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                ""
            } else {
                &l[margin.min(l.len())..]
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn target_names(e: &Expr) -> Vec<String> {
    match e {
        Expr::Name(n) => vec![n.id.to_string()],
        Expr::Tuple(t) => t.elts.iter().flat_map(target_names).collect(),
        Expr::List(l) => l.elts.iter().flat_map(target_names).collect(),
        Expr::Starred(s) => target_names(&s.value),
        _ => Vec::new(),
    }
}

fn expect_str(v: Eval, span: &Span, what: &str) -> Result<String, EvalError> {
    match v? {
        Value::Str(s) => Ok(s),
        other => Err(err(
            span,
            format!("{what} is a {}, not a string", other.type_name()),
        )),
    }
}

fn constant(c: &Constant, span: &Span) -> Eval {
    Ok(match c {
        Constant::None => Value::None,
        Constant::Bool(b) => Value::Bool(*b),
        Constant::Str(s) => Value::Str(s.clone()),
        Constant::Int(i) => {
            Value::Int(i64::try_from(i).map_err(|_| err(span, "an integer beyond 64 bits"))?)
        }
        Constant::Float(f) => Value::Float(*f),
        Constant::Tuple(items) => Value::Tuple(
            items
                .iter()
                .map(|i| constant(i, span))
                .collect::<Result<_, _>>()?,
        ),
        Constant::Bytes(_) => return Err(err(span, "bytes values have no TOML form")),
        Constant::Complex { .. } => return Err(err(span, "complex numbers have no TOML form")),
        Constant::Ellipsis => return Err(err(span, "`...` is not a value")),
    })
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => 0.0,
    }
}

fn op_symbol(op: ast::Operator) -> &'static str {
    use ast::Operator as O;
    match op {
        O::Add => "+",
        O::Sub => "-",
        O::Mult => "*",
        O::MatMult => "@",
        O::Div => "/",
        O::Mod => "%",
        O::Pow => "**",
        O::LShift => "<<",
        O::RShift => ">>",
        O::BitOr => "|",
        O::BitXor => "^",
        O::BitAnd => "&",
        O::FloorDiv => "//",
    }
}

fn dict_insert(items: &mut Vec<(Value, Value)>, k: Value, v: Value) {
    match items.iter_mut().find(|(x, _)| py_eq(x, &k)) {
        Some(slot) => slot.1 = v,
        None => items.push((k, v)),
    }
}

/// Python's `==` for static values.
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::Bool(x), Value::Int(y)) | (Value::Int(y), Value::Bool(x)) => i64::from(*x) == *y,
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| py_eq(a, b))
        }
        _ => a == b,
    }
}

fn compare(l: &Value, op: ast::CmpOp, r: &Value, span: &Span) -> Result<bool, EvalError> {
    use ast::CmpOp as C;
    use std::cmp::Ordering;
    let order = || -> Result<Ordering, EvalError> {
        match (l, r) {
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => as_f64(l)
                .partial_cmp(&as_f64(r))
                .ok_or_else(|| err(span, "comparison with nan")),
            (Value::Str(a), Value::Str(b)) => Ok(a.cmp(b)),
            (Value::DateTime(a), Value::DateTime(b)) => Ok(a.local.cmp(&b.local)),
            (Value::Delta(a), Value::Delta(b)) => Ok(a.cmp(b)),
            _ => Err(err(
                span,
                format!(
                    "ordering a {} and a {} is not static",
                    l.type_name(),
                    r.type_name()
                ),
            )),
        }
    };
    let static_value = |v: &Value| {
        !matches!(
            v,
            Value::Opaque(_) | Value::DagParam(_) | Value::XCom(_) | Value::XComKey(..)
        )
    };
    if !static_value(l) || !static_value(r) {
        return Err(err(
            span,
            "a comparison with a value only known when the DAG runs",
        ));
    }
    Ok(match op {
        C::Eq => py_eq(l, r),
        C::NotEq => !py_eq(l, r),
        C::Is => py_eq(l, r) && matches!(l, Value::None | Value::Bool(_)),
        C::IsNot => !(py_eq(l, r) && matches!(l, Value::None | Value::Bool(_))),
        C::Lt => order()? == Ordering::Less,
        C::LtE => order()? != Ordering::Greater,
        C::Gt => order()? == Ordering::Greater,
        C::GtE => order()? != Ordering::Less,
        C::In | C::NotIn => {
            let found = match r {
                Value::Str(h) => match l {
                    Value::Str(n) => h.contains(n.as_str()),
                    _ => return Err(err(span, "`in` a string needs a string")),
                },
                Value::Dict(items) => items.iter().any(|(k, _)| py_eq(k, l)),
                Value::List(items) | Value::Tuple(items) => items.iter().any(|i| py_eq(i, l)),
                other => return Err(err(span, format!("`in` a {}", other.type_name()))),
            };
            if op == C::In { found } else { !found }
        }
    })
}

fn index(key: &Value, len: usize, span: &Span) -> Result<usize, EvalError> {
    let Value::Int(i) = key else {
        return Err(err(span, format!("an index that is a {}", key.type_name())));
    };
    let i = if *i < 0 { len as i64 + i } else { *i };
    if i < 0 || i as usize >= len {
        return Err(err(span, "index out of range"));
    }
    Ok(i as usize)
}

fn subscript(v: Value, k: &Value, span: &Span) -> Eval {
    match v {
        Value::List(items) | Value::Tuple(items) => {
            let i = index(k, items.len(), span)?;
            Ok(items[i].clone())
        }
        Value::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            let i = index(k, chars.len(), span)?;
            Ok(Value::Str(chars[i].to_string()))
        }
        Value::Dict(items) => items
            .into_iter()
            .find(|(x, _)| py_eq(x, k))
            .map(|(_, v)| v)
            .ok_or_else(|| {
                err(
                    span,
                    format!("key {} is not in the dict", k.py_repr().unwrap_or_default()),
                )
            }),
        Value::XCom(t) => match k {
            Value::Str(key) => Ok(Value::XComKey(t, key.clone())),
            _ => Err(err(
                span,
                "indexing a task's result by position is only known when the DAG runs",
            )),
        },
        Value::Opaque(e) => Err(e),
        other => Err(err(
            span,
            format!("indexing a {} is not static", other.type_name()),
        )),
    }
}

fn tz_named(name: &str, span: &Span) -> Result<TzInfo, EvalError> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TzInfo::Utc);
    }
    name.parse::<chrono_tz::Tz>()
        .map(|_| TzInfo::Named(name.to_owned()))
        .map_err(|_| err(span, format!("unknown time zone {name:?}")))
}

fn make_datetime(
    pos: &[Value],
    kws: &[(String, Value)],
    tz: TzInfo,
    span: &Span,
) -> Result<PyDateTime, EvalError> {
    const NAMES: [&str; 7] = [
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "microsecond",
    ];
    let mut parts = [0i64, 0, 0, 0, 0, 0, 0];
    if pos.len() > 7 {
        return Err(err(span, "too many datetime arguments"));
    }
    for (i, v) in pos.iter().enumerate() {
        match v {
            Value::Int(n) => parts[i] = *n,
            other => {
                return Err(err(
                    span,
                    format!("datetime {} is a {}", NAMES[i], other.type_name()),
                ));
            }
        }
    }
    for (k, v) in kws {
        let Some(i) = NAMES.iter().position(|n| n == k) else {
            return Err(err(
                span,
                format!("datetime argument `{k}` is not supported"),
            ));
        };
        match v {
            Value::Int(n) => parts[i] = *n,
            other => {
                return Err(err(
                    span,
                    format!("datetime {k} is a {}", other.type_name()),
                ));
            }
        }
    }
    if pos.len() < 3
        && !["year", "month", "day"].iter().all(|n| {
            kws.iter().any(|(k, _)| k == n)
                || pos.len() > NAMES.iter().position(|x| x == n).unwrap_or(0)
        })
    {
        return Err(err(span, "datetime needs a year, a month and a day"));
    }
    let to32 = |n: i64| u32::try_from(n).ok();
    let date = i32::try_from(parts[0])
        .ok()
        .zip(to32(parts[1]))
        .zip(to32(parts[2]))
        .and_then(|((y, m), d)| NaiveDate::from_ymd_opt(y, m, d));
    let time = to32(parts[3])
        .zip(to32(parts[4]))
        .zip(to32(parts[5]))
        .zip(to32(parts[6]))
        .and_then(|(((h, mi), s), us)| NaiveTime::from_hms_micro_opt(h, mi, s, us));
    match (date, time) {
        (Some(d), Some(t)) => Ok(PyDateTime {
            local: NaiveDateTime::new(d, t),
            tz,
            moving: None,
        }),
        _ => Err(err(span, "not a valid date and time")),
    }
}

fn parse_datetime_text(text: &str, tz: TzInfo) -> Option<PyDateTime> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(text) {
        let off = d.offset().local_minus_utc();
        return Some(PyDateTime {
            local: d.naive_local(),
            tz: if off == 0 {
                TzInfo::Utc
            } else {
                TzInfo::Fixed(off)
            },
            moving: None,
        });
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, f) {
            return Some(PyDateTime {
                local,
                tz,
                moving: None,
            });
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| PyDateTime {
            local: d.and_time(NaiveTime::MIN),
            tz,
            moving: None,
        })
}

/// `timedelta(...)` / `pendulum.duration(...)`, in microseconds.
fn make_delta(pos: &[Value], kws: &[(String, Value)], span: &Span) -> Result<i128, EvalError> {
    const UNITS: [(&str, f64); 7] = [
        ("days", 86_400e6),
        ("seconds", 1e6),
        ("microseconds", 1.0),
        ("milliseconds", 1e3),
        ("minutes", 60e6),
        ("hours", 3_600e6),
        ("weeks", 604_800e6),
    ];
    if pos.len() > UNITS.len() {
        return Err(err(span, "too many timedelta arguments"));
    }
    let mut total = 0f64;
    let mut add = |unit: &str, v: &Value| -> Result<(), EvalError> {
        let scale = match UNITS.iter().find(|(u, _)| *u == unit) {
            Some((_, s)) => *s,
            None if matches!(unit, "months" | "years") => {
                return Err(err(
                    span,
                    format!(
                        "a duration in {unit} has no fixed length (lithoflow durations are fixed)"
                    ),
                ));
            }
            None => {
                return Err(err(
                    span,
                    format!("timedelta argument `{unit}` is not supported"),
                ));
            }
        };
        let n = match v {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            other => {
                return Err(err(
                    span,
                    format!("timedelta {unit} is a {}", other.type_name()),
                ));
            }
        };
        total += n * scale;
        Ok(())
    };
    for (i, v) in pos.iter().enumerate() {
        add(UNITS[i].0, v)?;
    }
    for (k, v) in kws {
        add(k, v)?;
    }
    if !total.is_finite() || total.abs() > 1e20 {
        return Err(err(span, "timedelta out of range"));
    }
    Ok(total.round() as i128)
}

fn builtin(name: &str, pos: Vec<Value>, kws: Vec<(String, Value)>, span: &Span) -> Eval {
    let seq = |v: &Value| {
        v.elements()
            .ok_or_else(|| err(span, format!("{name}() of a {}", v.type_name())))
    };
    let one = |pos: &[Value]| -> Result<Value, EvalError> {
        match pos {
            [v] => Ok(v.clone()),
            _ => Err(err(span, format!("{name}() with {} arguments", pos.len()))),
        }
    };
    Ok(match name {
        "print" => Value::None,
        "range" => {
            let ints: Vec<i64> = pos
                .iter()
                .map(|v| match v {
                    Value::Int(i) => Ok(*i),
                    other => Err(err(span, format!("range() of a {}", other.type_name()))),
                })
                .collect::<Result<_, _>>()?;
            let (start, stop, step) = match ints.as_slice() {
                [b] => (0, *b, 1),
                [a, b] => (*a, *b, 1),
                [a, b, s] if *s != 0 => (*a, *b, *s),
                _ => return Err(err(span, "range() arguments")),
            };
            let len = if step > 0 {
                (stop.saturating_sub(start).max(0) as u64).div_ceil(step as u64)
            } else {
                (start.saturating_sub(stop).max(0) as u64).div_ceil(step.unsigned_abs())
            };
            if len > MAX_LEN as u64 {
                return Err(err(span, "range() is too long to unroll"));
            }
            Value::List(
                (0..len as i64)
                    .map(|i| Value::Int(start + i * step))
                    .collect(),
            )
        }
        "len" => Value::Int(match one(&pos)? {
            Value::Str(s) => s.chars().count(),
            v => seq(&v)?.len(),
        } as i64),
        "str" => match pos.as_slice() {
            [] => Value::Str(String::new()),
            [v] => Value::Str(
                v.py_str()
                    .ok_or_else(|| err(span, format!("str() of a {}", v.type_name())))?,
            ),
            _ => return Err(err(span, "str() with several arguments")),
        },
        "repr" => {
            let v = one(&pos)?;
            Value::Str(
                v.py_repr()
                    .ok_or_else(|| err(span, format!("repr() of a {}", v.type_name())))?,
            )
        }
        "int" => match one(&pos)? {
            Value::Int(i) => Value::Int(i),
            Value::Bool(b) => Value::Int(i64::from(b)),
            Value::Float(f) if f.is_finite() && f.abs() < 9e18 => Value::Int(f.trunc() as i64),
            Value::Str(s) => Value::Int(
                s.trim()
                    .parse()
                    .map_err(|_| err(span, format!("int({s:?})")))?,
            ),
            v => return Err(err(span, format!("int() of a {}", v.type_name()))),
        },
        "float" => match one(&pos)? {
            Value::Int(i) => Value::Float(i as f64),
            Value::Float(f) => Value::Float(f),
            Value::Str(s) => Value::Float(
                s.trim()
                    .parse()
                    .map_err(|_| err(span, format!("float({s:?})")))?,
            ),
            v => return Err(err(span, format!("float() of a {}", v.type_name()))),
        },
        "bool" => {
            let v = one(&pos)?;
            Value::Bool(
                v.truthy()
                    .ok_or_else(|| err(span, "bool() of a value that is not static"))?,
            )
        }
        "list" | "set" | "sorted" | "reversed" => {
            let mut items = match pos.as_slice() {
                [] => Vec::new(),
                [v] => seq(v)?,
                _ => return Err(err(span, format!("{name}() arguments"))),
            };
            if name == "set" {
                let mut uniq: Vec<Value> = Vec::new();
                for i in items {
                    if !uniq.iter().any(|u| py_eq(u, &i)) {
                        uniq.push(i);
                    }
                }
                items = uniq;
            }
            if name == "sorted" {
                let mut failed = false;
                items.sort_by(|a, b| match (a, b) {
                    (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => as_f64(a)
                        .partial_cmp(&as_f64(b))
                        .unwrap_or(std::cmp::Ordering::Equal),
                    (Value::Str(x), Value::Str(y)) => x.cmp(y),
                    _ => {
                        failed = true;
                        std::cmp::Ordering::Equal
                    }
                });
                if failed {
                    return Err(err(
                        span,
                        "sorted() of values that do not compare statically",
                    ));
                }
                if kws
                    .iter()
                    .any(|(k, v)| k == "reverse" && v.truthy() == Some(true))
                {
                    items.reverse();
                }
            }
            if name == "reversed" {
                items.reverse();
            }
            Value::List(items)
        }
        "tuple" => Value::Tuple(match pos.as_slice() {
            [] => Vec::new(),
            [v] => seq(v)?,
            _ => return Err(err(span, "tuple() arguments")),
        }),
        "dict" => {
            let mut items = Vec::new();
            match pos.as_slice() {
                [] => {}
                [Value::Dict(d)] => items = d.clone(),
                [v] => {
                    for pair in seq(v)? {
                        match pair.elements().as_deref() {
                            Some([k, v]) => dict_insert(&mut items, k.clone(), v.clone()),
                            _ => return Err(err(span, "dict() of items that are not pairs")),
                        }
                    }
                }
                _ => return Err(err(span, "dict() arguments")),
            }
            for (k, v) in kws {
                dict_insert(&mut items, Value::Str(k), v);
            }
            Value::Dict(items)
        }
        "enumerate" => {
            let start = match kws
                .iter()
                .find(|(k, _)| k == "start")
                .map(|(_, v)| v)
                .or(pos.get(1))
            {
                None => 0,
                Some(Value::Int(i)) => *i,
                Some(_) => return Err(err(span, "enumerate start")),
            };
            let items = seq(pos.first().ok_or_else(|| err(span, "enumerate()"))?)?;
            Value::List(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Value::Tuple(vec![Value::Int(start + i as i64), v]))
                    .collect(),
            )
        }
        "zip" => {
            let lists: Vec<Vec<Value>> = pos.iter().map(seq).collect::<Result<_, _>>()?;
            let n = lists.iter().map(Vec::len).min().unwrap_or(0);
            Value::List(
                (0..n)
                    .map(|i| Value::Tuple(lists.iter().map(|l| l[i].clone()).collect()))
                    .collect(),
            )
        }
        "min" | "max" | "sum" => {
            let items = match pos.as_slice() {
                [v] => seq(v)?,
                many => many.to_vec(),
            };
            if items
                .iter()
                .any(|i| !matches!(i, Value::Int(_) | Value::Float(_)))
            {
                return Err(err(
                    span,
                    format!("{name}() of values that are not numbers"),
                ));
            }
            let all_int = items.iter().all(|i| matches!(i, Value::Int(_)));
            let fs: Vec<f64> = items.iter().map(as_f64).collect();
            let r = match name {
                "sum" => fs.iter().sum(),
                "min" => fs.iter().copied().fold(f64::INFINITY, f64::min),
                _ => fs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            };
            if items.is_empty() && name != "sum" {
                return Err(err(span, format!("{name}() of an empty sequence")));
            }
            if all_int {
                Value::Int(r as i64)
            } else {
                Value::Float(r)
            }
        }
        "abs" => match one(&pos)? {
            Value::Int(i) => Value::Int(
                i.checked_abs()
                    .ok_or_else(|| err(span, "integer overflow"))?,
            ),
            Value::Float(f) => Value::Float(f.abs()),
            v => return Err(err(span, format!("abs() of a {}", v.type_name()))),
        },
        other => return Err(err(span, format!("{other}() is not supported"))),
    })
}

fn str_method(s: &str, name: &str, pos: &[Value], kws: &[(String, Value)], span: &Span) -> Eval {
    let arg_str = |i: usize| match pos.get(i) {
        Some(Value::Str(x)) => Ok(x.clone()),
        _ => Err(err(span, format!("str.{name} needs string arguments"))),
    };
    Ok(match name {
        "upper" => Value::Str(s.to_uppercase()),
        "lower" => Value::Str(s.to_lowercase()),
        "strip" if pos.is_empty() => Value::Str(s.trim().to_owned()),
        "lstrip" if pos.is_empty() => Value::Str(s.trim_start().to_owned()),
        "rstrip" if pos.is_empty() => Value::Str(s.trim_end().to_owned()),
        "title" => Value::Str(
            s.split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    match c.next() {
                        Some(f) => f
                            .to_uppercase()
                            .chain(c.flat_map(char::to_lowercase))
                            .collect(),
                        None => String::new(),
                    }
                })
                .collect::<Vec<String>>()
                .join(" "),
        ),
        "capitalize" => {
            let mut c = s.chars();
            Value::Str(match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            })
        }
        "replace" => {
            let out = s.replace(&arg_str(0)?, &arg_str(1)?);
            if out.len() > MAX_LEN {
                return Err(err(span, "the string is too long"));
            }
            Value::Str(out)
        }
        "startswith" => Value::Bool(s.starts_with(&arg_str(0)?)),
        "endswith" => Value::Bool(s.ends_with(&arg_str(0)?)),
        "split" => {
            let parts: Vec<Value> = match pos.first() {
                None => s
                    .split_whitespace()
                    .map(|p| Value::Str(p.to_owned()))
                    .collect(),
                Some(_) => {
                    let sep = arg_str(0)?;
                    if sep.is_empty() {
                        return Err(err(span, "empty separator"));
                    }
                    s.split(sep.as_str())
                        .map(|p| Value::Str(p.to_owned()))
                        .collect()
                }
            };
            Value::List(parts)
        }
        "join" => {
            let items = pos
                .first()
                .and_then(Value::elements)
                .ok_or_else(|| err(span, "str.join needs a sequence"))?;
            let mut parts = Vec::new();
            for i in items {
                match i {
                    Value::Str(x) => parts.push(x),
                    other => return Err(err(span, format!("str.join of a {}", other.type_name()))),
                }
            }
            let out = parts.join(s);
            if out.len() > MAX_LEN {
                return Err(err(span, "the string is too long"));
            }
            Value::Str(out)
        }
        "format" => Value::Str(str_format(s, pos, kws, span)?),
        _ => return Err(err(span, format!("str.{name}() is not supported"))),
    })
}

/// `"...{}...{name}...".format(...)`.
fn str_format(
    f: &str,
    pos: &[Value],
    kws: &[(String, Value)],
    span: &Span,
) -> Result<String, EvalError> {
    let mut out = String::new();
    let mut chars = f.chars().peekable();
    let mut auto = 0;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    field.push(c);
                }
                if !closed {
                    return Err(err(span, "unclosed `{` in a format string"));
                }
                let (name, spec) = field.split_once(':').unwrap_or((&field, ""));
                let v = if name.is_empty() {
                    let v = pos.get(auto).cloned();
                    auto += 1;
                    v
                } else if let Ok(i) = name.parse::<usize>() {
                    pos.get(i).cloned()
                } else {
                    kws.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
                };
                let v =
                    v.ok_or_else(|| err(span, format!("format field `{{{field}}}` has no value")))?;
                out.push_str(&format_spec(&v, spec).ok_or_else(|| {
                    err(
                        span,
                        format!("format field `{{{field}}}` with a {}", v.type_name()),
                    )
                })?);
            }
            c => out.push(c),
        }
        if out.len() > MAX_LEN {
            return Err(err(span, "the string is too long"));
        }
    }
    Ok(out)
}

/// `"%s_%d" % (a, b)`.
fn percent_format(f: &str, args: &Value, span: &Span) -> Result<String, EvalError> {
    let items = match args {
        Value::Tuple(items) => items.clone(),
        other => vec![other.clone()],
    };
    let mut items = items.into_iter();
    let mut out = String::new();
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        let conv = loop {
            let c = chars
                .next()
                .ok_or_else(|| err(span, "`%` at the end of a format string"))?;
            if c.is_ascii_digit() || matches!(c, '-' | '+' | ' ' | '#' | '.') {
                spec.push(c);
            } else {
                break c;
            }
        };
        if conv == '%' {
            out.push('%');
            continue;
        }
        if !spec.is_empty() {
            let v = items
                .next()
                .ok_or_else(|| err(span, "not enough arguments for the format string"))?;
            let fspec = match spec.strip_prefix('-') {
                Some(rest) => format!("<{rest}{conv}"),
                None => format!("{spec}{}", if conv == 's' { 's' } else { conv }),
            };
            let fspec = fspec.replace('i', "d");
            out.push_str(
                &format_spec(&v, &fspec).ok_or_else(|| {
                    err(span, format!("`%{spec}{conv}` with a {}", v.type_name()))
                })?,
            );
            continue;
        }
        let v = items
            .next()
            .ok_or_else(|| err(span, "not enough arguments for the format string"))?;
        let text = match (conv, &v) {
            ('s', v) => v.py_str(),
            ('r', v) => v.py_repr(),
            ('d' | 'i', Value::Int(i)) => Some(i.to_string()),
            ('d' | 'i', Value::Float(x)) => Some((x.trunc() as i64).to_string()),
            ('f', Value::Float(x)) => Some(format!("{x:.6}")),
            ('f', Value::Int(i)) => Some(format!("{:.6}", *i as f64)),
            _ => None,
        }
        .ok_or_else(|| err(span, format!("`%{conv}` with a {}", v.type_name())))?;
        out.push_str(&text);
    }
    if items.next().is_some() {
        return Err(err(
            span,
            "not all arguments converted during string formatting",
        ));
    }
    Ok(out)
}
