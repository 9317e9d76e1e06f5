//! What a callable takes from Airflow's context, against what lithoflow's context holds;
//! and strings that must render with lithoflow's templates.

use super::{Converter, toml_to_json};
use crate::FnSig;
use crate::emit::{Line, TomlVal};
use crate::value::{Span, Value};

/// The task instance's attributes lithoflow's `ti` (`task_instance`) has in Python
/// (`TaskInstance` in executor/src/runtime/lithoflow.py).
const TI_ATTRS: &[&str] = &[
    "dag_id",
    "task_id",
    "run_id",
    "try_number",
    "map_index",
    "task",
    "logical_date",
    "xcom_push",
    "xcom_pull",
    "get_dagrun",
];

/// Context names the Python context adds to the template context's (objects built from
/// it: docs/airflow-runtime.md, "The context in Python").
const PYTHON_CONTEXT: &[&str] = &[
    "ti",
    "task_instance",
    "dag_run",
    "dag",
    "task",
    "params",
    "var",
    "conn",
    "macros",
    "map_index",
];

/// The names lithoflow's context holds (its template context, which the python task
/// types also pass to callables).
fn lithoflow_context_names() -> Vec<String> {
    let ctx = lithoflow_dag::template::Context::new("", "", "", chrono::DateTime::UNIX_EPOCH);
    ctx.json().keys().cloned().collect()
}

/// Context names Airflow passes that have no lithoflow equivalent.
const CONTEXT_OBJECTS: &[&str] = &[
    "conf",
    "inlets",
    "outlets",
    "prev_ds",
    "next_ds",
    "prev_ds_nodash",
    "next_ds_nodash",
    "yesterday_ds",
    "tomorrow_ds",
    "prev_execution_date",
    "next_execution_date",
    "prev_data_interval_start_success",
    "prev_data_interval_end_success",
    "prev_start_date_success",
    "test_mode",
    "triggering_dataset_events",
    "triggering_asset_events",
    "outlet_events",
    "inlet_events",
    "map_index_template",
    "expanded_ti_count",
];

/// Variables and connections for checking templates: every one exists.
struct AnyValues;

impl lithoflow_dag::template_values::Lookup for AnyValues {
    fn variable(&self, _key: &str) -> Result<Option<String>, String> {
        Ok(Some("0".into()))
    }

    fn connection(&self, conn_id: &str) -> Result<Option<serde_json::Value>, String> {
        Ok(Some(serde_json::json!({
            "conn_id": conn_id, "conn_type": "", "description": "", "host": "",
            "login": "", "password": "", "schema": "", "port": 0, "extra": "",
            "extra_dejson": {}, "uri": "",
        })))
    }
}

impl Converter<'_, '_> {
    pub(super) fn sig_for(&mut self, v: &Value) -> Option<FnSig> {
        match v {
            Value::Func { module, name } => {
                (self.modules)(module).and_then(|m| m.defs.get(name).cloned().flatten())
            }
            Value::Local(fid) | Value::TaskFactory(fid, _) => {
                let f = &self.model.functions[*fid];
                Some(FnSig::of(
                    f.args,
                    self.src.get(f.span.clone()).unwrap_or(""),
                ))
            }
            _ => None,
        }
    }

    /// Airflow passes its context to a callable by signature, and so does lithoflow, but
    /// lithoflow's context holds fewer values, and its task instance fewer attributes: say
    /// where a callable relies on more.
    pub(super) fn check_context(&mut self, sig: Option<&FnSig>, body: &[Line], span: &Span) {
        let Some(sig) = sig else { return };
        let mut positional_given = 0;
        let mut given: Vec<String> = Vec::new();
        for l in body {
            if let Line::Key { key, value, .. } = l {
                match (key.as_str(), value) {
                    ("op_args", TomlVal::Array(a)) => positional_given += a.len(),
                    ("op_args_from_task", TomlVal::Table(t)) => positional_given += t.len(),
                    ("op_kwargs" | "op_kwargs_from_task", TomlVal::Table(t)) => {
                        given.extend(t.iter().map(|(k, _)| k.clone()))
                    }
                    ("templates_dict", _) => given.push("templates_dict".into()),
                    // A mapped task's expanded names are its keyword arguments.
                    ("expand", TomlVal::Table(t)) => given.extend(t.iter().map(|(k, _)| k.clone())),
                    _ => {}
                }
            }
        }
        let context = lithoflow_context_names();
        let check = |this: &mut Self, name: &str, how: &str, has_default: bool| {
            if given.iter().any(|g| g == name) {
                return;
            }
            if name == "ti" || name == "task_instance" {
                let unknown: Vec<&str> = sig
                    .dotted
                    .iter()
                    .filter(|(n, a)| n == name && !TI_ATTRS.contains(&a.as_str()))
                    .map(|(_, a)| a.as_str())
                    .collect();
                if !unknown.is_empty() {
                    this.error(span, format!("the function takes `{name}` {how} and uses `{name}.{}`, which lithoflow's task instance does not have (it has {})", unknown.join("`, `."), TI_ATTRS.join(", ")));
                }
                return;
            }
            if context.iter().any(|c| c == name) || PYTHON_CONTEXT.contains(&name) {
                return;
            }
            if name == "templates_dict" && has_default {
                return;
            }
            if CONTEXT_OBJECTS.contains(&name) || name == "templates_dict" {
                this.error(span, format!("the function takes Airflow's context value `{name}` {how}, which lithoflow's context does not have"));
            }
        };
        for (i, (p, has_default)) in sig.params.iter().enumerate() {
            if i < positional_given.min(sig.positional) {
                continue;
            }
            check(self, p, "as a parameter", *has_default);
        }
        if let Some(kwargs) = &sig.kwargs {
            for key in &sig.kwargs_keys {
                check(self, key, &format!("through `**{kwargs}`"), false);
            }
        }
    }

    pub(super) fn check_templates(
        &mut self,
        lines: &[Line],
        span: &Span,
        params: &serde_json::Map<String, serde_json::Value>,
    ) {
        let mut ctx = lithoflow_dag::template::Context::new(
            "dag",
            "task",
            "manual__2026-01-01T00:00:00+00:00",
            self.opts.now,
        );
        ctx.params = params.clone();
        for l in lines {
            if let Line::Key { key, value, .. } = l {
                // A mapped instance's label renders with its own arguments after it ran
                // (`{{ task.op_kwargs.x }}`), which no context before the run has.
                if key == "map_index_template" {
                    continue;
                }
                let json = toml_to_json(value);
                // What variables and connections hold is only known when the task runs:
                // a path into a JSON variable is not checked.
                if json.to_string().contains("var.json") {
                    continue;
                }
                let lookup = std::sync::Arc::new(AnyValues);
                if let Err(m) = lithoflow_dag::template::render_with(&json, &ctx, lookup) {
                    self.error(span, format!("`{key}`: {m} (docs/airflow-runtime.md, \"The context\", lists what lithoflow's templates know)"));
                }
            }
        }
    }
}
