//! A task built from its parsed keys: the keys with real semantics by hand (what each
//! type requires, what may not be set together), then every plain key from the table in
//! [`crate::keys`] (its value, else its default).

use std::collections::BTreeMap;

use lithoflow_executor_config::ExecutorConfig;
use serde_json::{Map, Value};

use super::{Fields, Parsed, Span, Walker};
use crate::keys::{self, Holds, PlainValue};
use crate::model::*;
use crate::schema::TaskType;

/// A task's parsed keys, read by name.
struct Keys<'f> {
    fields: &'f Fields,
}

impl Keys<'_> {
    fn plain(&self, k: &str) -> Option<&PlainValue> {
        match self.fields.get(k) {
            Some((Parsed::Plain(v), _)) => Some(v),
            _ => None,
        }
    }

    fn int(&self, k: &str) -> Option<u64> {
        match self.plain(k) {
            Some(PlainValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    fn bool(&self, k: &str) -> Option<bool> {
        match self.plain(k) {
            Some(PlainValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    fn func(&self, k: &str) -> Option<FuncRef> {
        match self.fields.get(k) {
            Some((Parsed::Func(r), _)) => Some(r.clone()),
            _ => None,
        }
    }

    fn funcs(&self, k: &str) -> Vec<FuncRef> {
        match self.fields.get(k) {
            Some((Parsed::Funcs(list), _)) => list.clone(),
            _ => Vec::new(),
        }
    }

    fn json(&self, k: &str) -> Option<&Value> {
        match self.fields.get(k) {
            Some((Parsed::Json(v), _)) => Some(v),
            _ => None,
        }
    }

    fn array(&self, k: &str) -> Option<&Vec<Value>> {
        match self.json(k) {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        }
    }

    fn table(&self, k: &str) -> Option<&Map<String, Value>> {
        match self.json(k) {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        }
    }
}

impl Walker<'_> {
    /// Builds a task from its parsed fields, checking what each type requires.
    pub(super) fn assemble(
        &mut self,
        task_id: &str,
        ty: TaskType,
        f: &mut Fields,
        key_spans: &BTreeMap<&'static str, Span>,
        header: Span,
        dag_config: &ExecutorConfig,
    ) -> Option<Task> {
        // A literal `map_iterdata` is moved into the task, not copied (a map of a
        // million elements holds them once).
        let mut literal = match f.get_mut("map_iterdata") {
            Some((Parsed::Json(Value::Array(items)), _)) => Some(std::mem::take(items)),
            _ => None,
        };
        let f = &*f;
        let keys = Keys { fields: f };
        // A key that was written but failed to parse has already been reported; only a
        // key that was never written is "missing".
        let written = |k: &str| key_spans.contains_key(k) || f.contains_key(k);
        let mut missing = |w: &mut Self, k: &str, what: &str| {
            if !written(k) {
                w.error(
                    header.clone(),
                    format!("task `{task_id}` ({}) is missing `{k}`: {what}", ty.name()),
                );
            }
        };

        let common = CommonParams {
            lithops_config: match f.get("lithops_config") {
                Some((Parsed::Config(c), _)) => c.0.clone(),
                _ => ExecutorConfig::default(),
            },
            extra_env: match f.get("extra_env") {
                Some((Parsed::Env(e), _)) => e.clone(),
                _ => Map::new(),
            },
            ..CommonParams::default()
        };

        let mut map_spec = |w: &mut Self,
                            missing: &mut dyn FnMut(&mut Self, &str, &str)|
         -> Option<MapSpec> {
            let map_function = keys.func("map_function");
            if map_function.is_none() {
                missing(
                    w,
                    "map_function",
                    "the Python callable applied to each element (\"module:function\")",
                );
            }
            let literal = literal.take();
            let from_task = match f.get("iterdata_from_task") {
                Some((Parsed::IterFrom(it), _)) => Some(it.clone()),
                _ => None,
            };
            let iterdata = match (literal, from_task) {
                (Some(_), Some(_)) => {
                    let span = key_spans
                        .get("iterdata_from_task")
                        .cloned()
                        .unwrap_or_else(|| header.clone());
                    w.error(span, format!("task `{task_id}` sets both `map_iterdata` and `iterdata_from_task`; set only one"));
                    None
                }
                (Some(items), None) => Some(Iterdata::Literal(items)),
                (None, Some(it)) => Some(it),
                (None, None) => {
                    if !written("map_iterdata") && !written("iterdata_from_task") {
                        w.error(
                            header.clone(),
                            format!(
                                "task `{task_id}` ({}) is missing its elements: set `map_iterdata` (an array) or `iterdata_from_task` (a task id)",
                                ty.name()
                            ),
                        );
                    }
                    None
                }
            };
            let extra_params = match keys.json("extra_params") {
                Some(Value::Object(m)) => Some(ExtraParams::Keyword(m.clone())),
                Some(Value::Array(a)) => Some(ExtraParams::Positional(a.clone())),
                _ => None,
            };
            if keys.int("chunk_size").is_some() && keys.int("chunk_n").is_some() {
                let span = match (key_spans.get("chunk_size"), key_spans.get("chunk_n")) {
                    (Some(a), Some(b)) => a.clone().max_by_start(b.clone()),
                    (Some(s), None) | (None, Some(s)) => s.clone(),
                    (None, None) => header.clone(),
                };
                w.error(
                    span,
                    format!("task `{task_id}` sets both `chunk_size` and `chunk_n`; set at most one (bytes per part, or parts per object)"),
                );
            }
            if keys.bool("remote_invocation") == Some(true) {
                let mut cfg = dag_config.clone();
                if let Some((Parsed::Config(c), _)) = f.get("lithops_config") {
                    cfg.merge(&c.0);
                }
                if cfg.effective_backend() == lithoflow_executor_config::Backend::Localhost {
                    let span = key_spans
                        .get("remote_invocation")
                        .cloned()
                        .or_else(|| f.get("remote_invocation").map(|(_, s)| s.clone()));
                    w.note(
                        span.unwrap_or_else(|| header.clone()),
                        format!(
                            "`remote_invocation` in task `{task_id}` has no effect on the localhost backend; it fans calls out from inside the cloud on aws_lambda"
                        ),
                    );
                }
            }
            Some(MapSpec {
                map_function: map_function?,
                iterdata: iterdata?,
                extra_params,
                ..MapSpec::default()
            })
        };

        let kind = match ty {
            TaskType::CallAsync => {
                let func = keys.func("func");
                if func.is_none() {
                    missing(
                        self,
                        "func",
                        "the Python callable to invoke (\"module:function\")",
                    );
                }
                let data = keys
                    .json("data")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new()));
                let data_from_task = match f.get("data_from_task") {
                    Some((Parsed::DataFrom(list), _)) => list
                        .iter()
                        .map(|(kw, t, _)| (kw.clone(), t.clone()))
                        .collect::<Vec<_>>(),
                    _ => Vec::new(),
                };
                if !data_from_task.is_empty() {
                    match &data {
                        Value::Object(m) => {
                            for (kw, _) in &data_from_task {
                                if m.contains_key(kw) {
                                    let span = key_spans
                                        .get("data_from_task")
                                        .cloned()
                                        .unwrap_or_else(|| header.clone());
                                    self.error(
                                        span,
                                        format!("task `{task_id}` sets argument `{kw}` both in `data` and in `data_from_task`; set it in one place"),
                                    );
                                }
                            }
                        }
                        _ => {
                            let span = key_spans
                                .get("data")
                                .cloned()
                                .unwrap_or_else(|| header.clone());
                            self.error(
                                span,
                                format!("task `{task_id}` uses `data_from_task`, which adds keyword arguments, so `data` must be a table of keyword arguments"),
                            );
                        }
                    }
                }
                TaskKind::CallAsync(CallAsync {
                    func: func?,
                    data,
                    data_from_task,
                })
            }
            TaskType::Map => TaskKind::Map(map_spec(self, &mut missing)?),
            TaskType::MapReduce => {
                let reduce_function = keys.func("reduce_function");
                if reduce_function.is_none() {
                    missing(
                        self,
                        "reduce_function",
                        "the Python callable that gets the list of map results (\"module:function\")",
                    );
                }
                let map = map_spec(self, &mut missing);
                TaskKind::MapReduce(MapReduceSpec {
                    map: map?,
                    reduce_function: reduce_function?,
                    ..MapReduceSpec::default()
                })
            }
            TaskType::Python | TaskType::Branch | TaskType::ShortCircuit => {
                let python = self.python_spec(task_id, &keys, key_spans, &header, &mut missing)?;
                match ty {
                    TaskType::Branch => TaskKind::Branch(python),
                    TaskType::ShortCircuit => TaskKind::ShortCircuit {
                        python,
                        // A plain key: set from the table below.
                        ignore_downstream_trigger_rules: true,
                    },
                    _ => TaskKind::Python(python),
                }
            }
            TaskType::Bash => {
                let bash_command = match f.get("bash_command") {
                    Some((Parsed::Str(s), _)) => Some(s.clone()),
                    _ => None,
                };
                // A mapped command comes from the mapping (checked in `mapping`).
                let mapped_command = match f.get("expand") {
                    Some((Parsed::Expand(list), _)) => {
                        list.iter().any(|(n, _, _)| n == "bash_command")
                    }
                    _ => f.contains_key("expand_kwargs"),
                };
                let bash_command = match bash_command {
                    None if mapped_command => Some(String::new()),
                    other => other,
                };
                if bash_command.is_none() {
                    missing(self, "bash_command", "the shell command to run");
                }
                TaskKind::Bash(BashSpec {
                    bash_command: bash_command?,
                    env: keys.table("env").cloned(),
                    skip_on_exit_code: match f.get("skip_on_exit_code") {
                        Some((Parsed::IntList(codes), _)) => codes.clone(),
                        _ => vec![99],
                    },
                    ..BashSpec::default()
                })
            }
            TaskType::Sensor => {
                let python = match f.get("sensor") {
                    Some((Parsed::Str(kind), _)) if kind == "python" => {
                        Some(self.python_spec(task_id, &keys, key_spans, &header, &mut missing)?)
                    }
                    _ => None,
                };
                TaskKind::Sensor(self.sensor_spec(
                    task_id,
                    f,
                    key_spans,
                    &header,
                    python,
                    &mut missing,
                )?)
            }
            TaskType::TriggerDagRun => {
                TaskKind::TriggerDagRun(self.trigger_spec(f, key_spans, &header, &mut missing)?)
            }
            TaskType::Empty => TaskKind::Empty,
        };
        let upstream = match f.get("upstream") {
            Some((Parsed::Refs(list), _)) => list.iter().map(|(t, _)| t.clone()).collect(),
            _ => Vec::new(),
        };
        let expand = self.mapping(task_id, ty, f, key_spans, &kind);
        let mut task = Task {
            task_id: task_id.to_owned(),
            kind,
            expand,
            upstream,
            trigger_rule: match f.get("trigger_rule") {
                Some((Parsed::Rule(r), _)) => *r,
                _ => TriggerRule::AllSuccess,
            },
            weight_rule: match f.get("weight_rule") {
                Some((Parsed::Weight(r), _)) => *r,
                _ => WeightRule::Downstream,
            },
            outlets: match f.get("outlets") {
                Some((Parsed::Assets(a), _)) => a.clone(),
                _ => Vec::new(),
            },
            inlets: match f.get("inlets") {
                Some((Parsed::Assets(a), _)) => a.clone(),
                _ => Vec::new(),
            },
            common,
            callbacks: TaskCallbacks {
                on_execute_callback: keys.funcs("on_execute_callback"),
                on_success_callback: keys.funcs("on_success_callback"),
                on_failure_callback: keys.funcs("on_failure_callback"),
                on_retry_callback: keys.funcs("on_retry_callback"),
                on_skipped_callback: keys.funcs("on_skipped_callback"),
            },
            ..Task::default()
        };
        // Every plain key of the task's type: its value, else its default.
        for key in keys::task_keys() {
            if let Holds::Plain(plain) = &key.holds {
                plain.apply(&mut task, keys.plain(key.name));
            }
        }
        // For a sensor, `timeout` is the sensor's timeout (BaseSensorOperator's), not a
        // time limit of its Python pokes.
        let timeout = task.common.timeout;
        if let TaskKind::Sensor(s) = &mut task.kind {
            if let Some(t) = timeout {
                s.timeout = t;
            }
            task.common.timeout = None;
        }
        Some(task)
    }

    /// The callable of a python, branch or short_circuit task.
    fn python_spec(
        &mut self,
        task_id: &str,
        keys: &Keys<'_>,
        key_spans: &BTreeMap<&'static str, Span>,
        header: &Span,
        missing: &mut dyn FnMut(&mut Self, &str, &str),
    ) -> Option<PythonSpec> {
        let span_of = |k: &str| key_spans.get(k).cloned().unwrap_or_else(|| header.clone());
        let python_callable = keys.func("python_callable");
        if python_callable.is_none() {
            missing(
                self,
                "python_callable",
                "the Python callable to run (\"module:function\")",
            );
        }
        let op_args = keys.array("op_args").cloned().unwrap_or_default();
        let op_kwargs = keys.table("op_kwargs").cloned().unwrap_or_default();
        let mut op_args_from_task: Vec<(usize, String)> = match keys.fields.get("op_args_from_task")
        {
            Some((Parsed::ArgsFrom(list), _)) => {
                list.iter().map(|(p, t, _)| (*p, t.clone())).collect()
            }
            _ => Vec::new(),
        };
        op_args_from_task.sort_by_key(|(p, _)| *p);
        let op_kwargs_from_task: Vec<(String, String)> =
            match keys.fields.get("op_kwargs_from_task") {
                Some((Parsed::DataFrom(list), _)) => list
                    .iter()
                    .map(|(k, t, _)| (k.clone(), t.clone()))
                    .collect(),
                _ => Vec::new(),
            };
        // The positions must leave no hole: together with op_args they are 0..n.
        let total = op_args.len() + op_args_from_task.len();
        for (pos, _) in &op_args_from_task {
            if *pos >= total {
                self.error(
                    span_of("op_args_from_task"),
                    format!("task `{task_id}` takes positional argument {pos} from a task, but it has only {total} positional arguments (op_args and op_args_from_task together); positions start at 0"),
                );
            }
        }
        for (kw, _) in &op_kwargs_from_task {
            if op_kwargs.contains_key(kw) {
                self.error(
                    span_of("op_kwargs_from_task"),
                    format!("task `{task_id}` sets argument `{kw}` both in `op_kwargs` and in `op_kwargs_from_task`; set it in one place"),
                );
            }
        }
        Some(PythonSpec {
            python_callable: python_callable?,
            op_args,
            op_kwargs,
            op_args_from_task,
            op_kwargs_from_task,
            ..PythonSpec::default()
        })
    }
}

trait MaxByStart {
    fn max_by_start(self, other: Self) -> Self;
}

impl MaxByStart for Span {
    fn max_by_start(self, other: Self) -> Self {
        if other.start > self.start {
            other
        } else {
            self
        }
    }
}
