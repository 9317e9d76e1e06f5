//! Airflow templates in string values (`{{ ds }}`, `{{ params.n }}`, ...), rendered with
//! minijinja and Airflow's context names.

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior, Value as J};
use serde_json::{Map, Value};

/// What a template can refer to for one task instance.
#[derive(Debug, Clone)]
pub struct Context {
    /// The DAG's id.
    pub dag_id: String,
    /// The task's id.
    pub task_id: String,
    /// The run's id.
    pub run_id: String,
    /// The run's logical date (the run's `run_after` when it has none).
    pub logical_date: DateTime<Utc>,
    /// Start of the data interval.
    pub data_interval_start: DateTime<Utc>,
    /// End of the data interval.
    pub data_interval_end: DateTime<Utc>,
    /// The DAG's `params`, overridden by the run's conf.
    pub params: Map<String, Value>,
    /// The run's conf.
    pub conf: Map<String, Value>,
    /// The try being run (1-based).
    pub try_number: u32,
}

impl Context {
    /// The context of a try that belongs to no run (`tasks test`), at logical date `at`.
    pub fn standalone(dag: &crate::Dag, task_id: &str, run_id: &str, at: DateTime<Utc>) -> Context {
        Context {
            dag_id: dag.dag_id.clone(),
            task_id: task_id.to_owned(),
            run_id: run_id.to_owned(),
            logical_date: at,
            data_interval_start: at,
            data_interval_end: at,
            params: dag.params.clone(),
            conf: serde_json::Map::new(),
            try_number: 1,
        }
    }

    /// The context as JSON: what templates see, and what a `python_callable` may ask
    /// for by name (Airflow's context).
    pub fn json(&self) -> serde_json::Map<String, serde_json::Value> {
        match self.json_value() {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    fn value(&self) -> J {
        J::from_serialize(self.json_value())
    }

    fn json_value(&self) -> serde_json::Value {
        let iso = |d: &DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
        let ld = &self.logical_date;
        let ctx = serde_json::json!({
            "ds": ld.format("%Y-%m-%d").to_string(),
            "ds_nodash": ld.format("%Y%m%d").to_string(),
            "ts": iso(ld),
            "ts_nodash": ld.format("%Y%m%dT%H%M%S").to_string(),
            "ts_nodash_with_tz": ld.format("%Y%m%dT%H%M%S%z").to_string(),
            "logical_date": iso(ld),
            // Airflow 2's name for the logical date, which DAGs moved from it still use.
            "execution_date": iso(ld),
            "data_interval_start": iso(&self.data_interval_start),
            "data_interval_end": iso(&self.data_interval_end),
            "run_id": self.run_id,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "params": self.params,
            "dag_run": {"conf": self.conf, "run_id": self.run_id, "dag_id": self.dag_id, "logical_date": iso(ld)},
            "dag": {"dag_id": self.dag_id},
            "ti": {"try_number": self.try_number, "task_id": self.task_id, "dag_id": self.dag_id, "run_id": self.run_id},
            "task": {"task_id": self.task_id},
        });
        ctx
    }
}

/// Renders every string inside `v` that holds a template; other values are kept as they are.
pub fn render(v: &Value, ctx: &Context) -> Result<Value, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let jctx = ctx.value();
    render_in(&env, &jctx, v)
}

/// [`render`] with Airflow's `var` and `conn` ([`crate::template_values`]) read through
/// `lookup`.
pub fn render_with(
    v: &Value,
    ctx: &Context,
    lookup: std::sync::Arc<dyn crate::template_values::Lookup>,
) -> Result<Value, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let extra: std::collections::BTreeMap<&str, J> = crate::template_values::globals(lookup)
        .into_iter()
        .collect();
    let jctx = minijinja::value::merge_maps([J::from(extra), ctx.value()]);
    render_in(&env, &jctx, v)
}

fn render_in(env: &Environment<'_>, ctx: &J, v: &Value) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") => Value::String(
            env.render_str(s, ctx)
                .map_err(|e| format!("template {s:?} does not render: {e}"))?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_in(env, ctx, i))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, i)| Ok((k.clone(), render_in(env, ctx, i)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn ctx() -> Context {
        let d = Utc
            .with_ymd_and_hms(2026, 11, 1, 2, 0, 0)
            .single()
            .expect("valid");
        Context {
            dag_id: "d".into(),
            task_id: "t".into(),
            run_id: "scheduled__2026-11-01T02:00:00+00:00".into(),
            logical_date: d,
            data_interval_start: d,
            data_interval_end: d,
            params: json!({"n": 10}).as_object().cloned().expect("object"),
            conf: json!({"k": "v"}).as_object().cloned().expect("object"),
            try_number: 2,
        }
    }

    #[test]
    fn airflow_names_render() {
        let v = json!({"a": "{{ ds }} {{ ds_nodash }} {{ ts }}", "b": ["{{ params.n * 2 }}", 3], "c": "{{ dag_run.conf.k }}/{{ ti.try_number }}/{{ run_id }}", "d": "plain"});
        assert_eq!(
            render(&v, &ctx()).expect("renders"),
            json!({"a": "2026-11-01 20261101 2026-11-01T02:00:00+00:00", "b": ["20", 3], "c": "v/2/scheduled__2026-11-01T02:00:00+00:00", "d": "plain"})
        );
    }

    #[test]
    fn an_unknown_name_is_an_error_not_an_empty_string() {
        let err = render(&json!("{{ params.missing }}"), &ctx()).expect_err("strict");
        assert!(
            err.starts_with("template \"{{ params.missing }}\" does not render"),
            "{err}"
        );
    }
}
