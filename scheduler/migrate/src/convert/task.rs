//! One task: its type, its arguments, its dependencies, and the gaps as comments in its
//! table.

use lithoflow_dag::keys;

use super::Converter;
use super::args::{ArgsOf, KeyLine, README_ONLY, known_args, operator_name};
use crate::FnSig;
use crate::emit::{Line, TomlVal};
use crate::known::{OpKind, SensorKind};
use crate::model::{Kw, TaskSource, kw};
use crate::value::{Span, Value};
use lithoflow_dag::diag::Severity;

/// The pieces of one task table, in the order they are written: the type, the type's own
/// keys, the keys of every task type; and the tasks its data keys already make upstream.
#[derive(Debug, Default)]
struct TaskTable {
    head: Vec<Line>,
    body: Vec<Line>,
    common: Vec<Line>,
    implied: Vec<usize>,
}

impl TaskTable {
    /// Writes an argument that set a plain key where its key belongs.
    fn put(&mut self, key: KeyLine) {
        let lines = if key.every_task {
            &mut self.common
        } else {
            &mut self.body
        };
        lines.extend(key.line);
    }
}

impl Converter<'_, '_> {
    pub(super) fn convert_task(
        &mut self,
        t: usize,
        dag_tasks: &[usize],
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Vec<Line> {
        self.task = t;
        let task = self.model.tasks[t].clone();
        let first_finding = self.findings.len();
        let kwargs: Vec<Kw> = task.kwargs.iter().chain(&task.attrs).cloned().collect();
        let type_line = |ty: &str| Line::key("type", TomlVal::Str(ty.into()));
        let mut table = TaskTable::default();
        match &task.source {
            TaskSource::Unknown(name) => {
                table.head.push(Line::with_comment(
                    "type",
                    TomlVal::Str("empty".into()),
                    format!("migrate: placeholder for {name}, which lithoflow cannot run"),
                ));
                let why = unsupported_operator(name)
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default();
                self.error(&task.span, format!("{name} is not supported by lithoflow{why}: task `{}` is written as an empty placeholder", task.task_id));
                // Only the arguments every operator has; the rest belong to the operator
                // that is not converted.
                for k in &kwargs {
                    if let Some(key) = self.key_arg(ArgsOf::EveryOperator, k, "argument") {
                        table.put(key);
                    } else if k.name == "trigger_rule" {
                        self.common_arg(k, &mut table.common, "argument", false);
                    }
                }
            }
            TaskSource::Operator(kind) => {
                table.head.push(type_line(kind.toml_type()));
                Self::sensor_head(*kind, &mut table.head);
                let op = operator_name(*kind);
                for k in &kwargs {
                    if matches!(k.name.as_str(), "task_id" | "dag") {
                        continue;
                    }
                    if matches!(kind, OpKind::CallAsync | OpKind::Map | OpKind::MapReduce)
                        && let Some((_, code)) = README_ONLY.iter().find(|(n, _)| *n == k.name)
                    {
                        self.note(&k.span, format!("`{}` is the README's name; the plugin's code {code}, so Airflow 2 rejected it (1.10 ignored it). lithoflow applies it as the README describes", k.name));
                    }
                    if let Some(key) = self.key_arg(ArgsOf::Type(*kind), k, "argument") {
                        table.put(key);
                        continue;
                    }
                    if self.operator_arg(*kind, k, &mut table.body, &mut table.implied, dag_tasks) {
                        continue;
                    }
                    if !self.common_arg(k, &mut table.common, "argument", false) {
                        let known = known_args(*kind);
                        let hint = lithoflow_dag::suggest_id(&k.name, &known)
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        self.error(
                            &k.span,
                            format!("unknown argument `{}` of {op}{hint}", k.name),
                        );
                        if let Err(e) = &k.value {
                            self.eval_failed(e, self.dag, &format!("`{}`", k.name));
                        }
                    }
                }
                // A mapped operator takes the arguments it expands as given.
                let mut given = kwargs.clone();
                given.extend(task.expand.iter().cloned());
                if task.expand_kwargs.is_none() {
                    self.required(*kind, &given, &task.span, op);
                }
                if task.mapped {
                    self.operator_expansion(*kind, &task, op, &mut table.body, &mut table.implied);
                }
                if (kind.is_python_like() || *kind == OpKind::Sensor(SensorKind::Python))
                    && let Some(k) = kw(&kwargs, "python_callable")
                    && let Ok(v) = &k.value
                {
                    let sig = self.sig_for(v);
                    self.check_context(sig.as_ref(), &table.body, &task.span);
                }
            }
            TaskSource::TaskFlow { kind, func } => {
                self.taskflow(*kind, *func, &task, &kwargs, &mut table);
            }
            TaskSource::Mapped { func } => self.mapped(*func, &task, &kwargs, &mut table),
        }
        let TaskTable {
            head: mut lines,
            body,
            common,
            implied,
        } = table;
        lines.extend(body);
        lines.extend(common);
        // Strings must render with lithoflow's template context.
        self.check_templates(&lines, &task.span, params);
        // Plain dependencies: every upstream task not already implied by a data key.
        let mut ups: Vec<usize> = task
            .upstream
            .iter()
            .chain(&task.data_upstream)
            .copied()
            .filter(|u| !implied.contains(u))
            .collect();
        ups.sort_unstable();
        ups.dedup();
        if !ups.is_empty() {
            let ids = ups
                .iter()
                .map(|u| TomlVal::Str(self.model.tasks[*u].task_id.clone()))
                .collect();
            lines.push(Line::key("upstream", TomlVal::Array(ids)));
        }
        // In the file, the gaps of this task as comments.
        let mut gaps = Vec::new();
        for i in first_finding..self.findings.len() {
            let f = &self.findings[i];
            if f.severity == Severity::Error {
                gaps.push(format!(
                    "migrate: not translated (line {}): {}",
                    self.line(f.span.start),
                    f.message
                ));
                self.in_task_comments.insert(i);
            }
        }
        for g in gaps {
            lines.push(Line::Comment(g));
        }
        lines
    }

    pub(super) fn required(&mut self, kind: OpKind, kwargs: &[Kw], span: &Span, op: &str) {
        if matches!(kind, OpKind::Sensor(_) | OpKind::TriggerDagRun) {
            self.sensor_required(kind, kwargs, span, op);
            return;
        }
        // The keys a task of this type must set that the operator takes as arguments.
        let need = keys::KEYS
            .iter()
            .filter(|k| k.required() && k.airflow_argument_of(kind.toml_type()))
            .map(|k| k.name);
        for n in need {
            if kw(kwargs, n).is_none() {
                let hint = kwargs
                    .iter()
                    .find(|k| strsim::levenshtein(&k.name, n) <= 2)
                    .map(|k| format!(" (`{}` is written instead?)", k.name))
                    .unwrap_or_default();
                self.error(span, format!("{op} without `{n}`{hint}"));
            }
        }
        if matches!(kind, OpKind::Map | OpKind::MapReduce)
            && ["map_iterdata", "iterdata_from_task", "iterdata_form_task"]
                .iter()
                .all(|n| kw(kwargs, n).is_none())
        {
            self.error(
                span,
                format!("{op} needs map_iterdata or iterdata_from_task"),
            );
        }
    }

    /// A TaskFlow task (`@task`, `@task.branch`, ...): the decorated function, its call's
    /// arguments, the decorator's arguments.
    fn taskflow(
        &mut self,
        kind: OpKind,
        func: usize,
        task: &crate::model::TaskDraft,
        kwargs: &[Kw],
        table: &mut TaskTable,
    ) {
        let TaskTable {
            head: lines,
            body,
            common,
            implied,
        } = table;
        let f = self.model.functions[func].clone();
        if kind == OpKind::Bash {
            lines.push(Line::key("type", TomlVal::Str("bash".into())));
            match static_bash_command(&f) {
                Some(cmd) => body.push(Line::with_comment("bash_command", TomlVal::Str(cmd), format!("the string `{}` returns", f.name))),
                None => self.error(&task.span, format!("@task.bash `{}` builds its command when the task runs; only a function that returns a literal string converts", f.name)),
            }
        } else {
            lines.push(Line::key("type", TomlVal::Str(kind.toml_type().into())));
            Self::sensor_head(kind, lines);
            let fref = Kw::new("python_callable", task.span.clone(), Ok(Value::Local(func)));
            if let Some((r, _)) = self.function_ref(&fref, "the @task function") {
                body.push(Line::key("python_callable", TomlVal::Str(r)));
            }
            let mut items = Vec::new();
            for (v, _) in &task.args {
                match v {
                    Ok(v) => items.push(v.clone()),
                    Err(e) => {
                        self.eval_failed(e, self.dag, "argument");
                    }
                }
            }
            self.positional(&items, &task.span, body, implied);
            self.keywords(&task.call_kwargs, body, implied);
        }
        for k in kwargs {
            if matches!(k.name.as_str(), "task_id" | "dag") {
                continue;
            }
            // The decorator takes its operator's arguments.
            if let Some(key) = self.key_arg(ArgsOf::Type(kind), k, "decorator argument") {
                let lines = if key.every_task {
                    &mut *common
                } else {
                    &mut *body
                };
                lines.extend(key.line);
                continue;
            }
            if kind == OpKind::Bash && matches!(k.name.as_str(), "env" | "skip_on_exit_code") {
                self.operator_arg(OpKind::Bash, k, body, implied, &[]);
            } else if matches!(kind, OpKind::Sensor(_)) && self.sensor_arg(kind, k, body) {
            } else if !self.common_arg(k, common, "decorator argument", false) {
                self.error(&k.span, format!("unknown @task argument `{}`", k.name));
            }
        }
        if kind != OpKind::Bash {
            let sig = FnSig::of(f.args, self.src.get(f.span.clone()).unwrap_or(""));
            self.check_context(Some(&sig), body, &task.span);
        }
    }

    /// A mapped TaskFlow task (`f.partial(...).expand(x=...)`, `f.expand_kwargs(...)`):
    /// a python task whose instances Airflow's way, each its own task instance.
    fn mapped(
        &mut self,
        func: usize,
        task: &crate::model::TaskDraft,
        kwargs: &[Kw],
        table: &mut TaskTable,
    ) {
        table
            .head
            .push(Line::key("type", TomlVal::Str("python".into())));
        let f = self.model.functions[func].clone();
        let fref = Kw::new("python_callable", task.span.clone(), Ok(Value::Local(func)));
        if let Some((r, _)) = self.function_ref(&fref, "the @task function") {
            table
                .body
                .push(Line::key("python_callable", TomlVal::Str(r)));
        }
        // partial(...)'s fixed arguments are keyword arguments, as a call's.
        self.keywords(&task.call_kwargs, &mut table.body, &mut table.implied);
        self.taskflow_expansion(task, &mut table.body, &mut table.implied);
        for k in kwargs {
            if matches!(k.name.as_str(), "task_id" | "dag") {
                continue;
            }
            if let Some(key) = self.key_arg(ArgsOf::Type(OpKind::Python), k, "decorator argument") {
                table.put(key);
            } else if !self.common_arg(k, &mut table.common, "decorator argument", false) {
                self.error(&k.span, format!("unknown @task argument `{}`", k.name));
            }
        }
        let sig = FnSig::of(f.args, self.src.get(f.span.clone()).unwrap_or(""));
        self.check_context(Some(&sig), &table.body, &task.span);
    }
}

/// Why an Airflow operator lithoflow has no type for is not converted, for the ones users
/// ask about.
fn unsupported_operator(name: &str) -> Option<&'static str> {
    Some(match name {
        "ExternalTaskMarker" => {
            "it clears the tasks of another DAG when this task is cleared; lithoflow has no equivalent: clear the other DAG's run yourself"
        }
        "DayOfWeekSensor" | "WeekDaySensor" => {
            "write the check as a PythonSensor's callable, or branch on the logical date"
        }
        "SubDagOperator" => "Airflow 2 deprecated SubDAGs; use a task group",
        s if s.ends_with("Sensor") || s.ends_with("SensorAsync") => {
            "lithoflow's sensors are python, file, external_task, time_delta, date_time, time, s3_key and bash: write its check as a PythonSensor's callable"
        }
        _ => return None,
    })
}

/// The command of a `@task.bash` function that only returns a literal string.
fn static_bash_command(f: &crate::model::FuncDef<'_>) -> Option<String> {
    use rustpython_parser::ast::{Constant, Expr, Stmt};
    let body: Vec<&Stmt> = f
        .body
        .iter()
        .filter(|s| !matches!(s, Stmt::Expr(e) if matches!(&*e.value, Expr::Constant(_))))
        .collect();
    match body.as_slice() {
        [Stmt::Return(r)] => match r.value.as_deref() {
            Some(Expr::Constant(c)) => match &c.value {
                Constant::Str(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}
