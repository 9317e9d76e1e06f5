//! The conditions sensors poke, evaluated in the scheduler: each kind in its own
//! module (file, time, external_task, s3_key; python and bash through the executor and
//! `bash.rs`), and the rendering of their templated fields. The waiting itself (the
//! loop of pokes and timers, reschedule, timeout) is `engine/sensor.rs`.

use serde_json::Value;

use lithoflow_dag::{SensorKind, TriggerDagRunSpec};

use crate::taskrun::as_text;

/// Renders a sensor's templated fields (the `template_fields` of its Airflow class).
pub(crate) fn render(
    kind: &mut SensorKind,
    render: &impl Fn(&Value) -> Result<Value, String>,
) -> Result<(), String> {
    let text = |s: &mut String| -> Result<(), String> {
        *s = as_text(render(&Value::String(std::mem::take(s)))?);
        Ok(())
    };
    match kind {
        // PythonSensor: templates_dict, op_args, op_kwargs.
        SensorKind::Python(p) => {
            if let Value::Array(a) = render(&Value::Array(std::mem::take(&mut p.op_args)))? {
                p.op_args = a;
            }
            if let Value::Object(m) = render(&Value::Object(std::mem::take(&mut p.op_kwargs)))? {
                p.op_kwargs = m;
            }
            if let Some(td) = p.templates_dict.take()
                && let Value::Object(m) = render(&Value::Object(td))?
            {
                p.templates_dict = Some(m);
            }
        }
        // BashSensor: bash_command, env (and cwd, as BashOperator).
        SensorKind::Bash { bash, .. } => crate::taskrun::render_bash(bash, render)?,
        // FileSensor: filepath.
        SensorKind::File { filepath, .. } => text(filepath)?,
        // ExternalTaskSensor: external_dag_id, external_task_id(s), external_task_group_id.
        SensorKind::ExternalTask(e) => {
            text(&mut e.external_dag_id)?;
            for id in &mut e.external_task_ids {
                text(id)?;
            }
            if let Some(g) = &mut e.external_task_group_id {
                text(g)?;
            }
        }
        // DateTimeSensor: target_time.
        SensorKind::DateTime { target_time } => text(target_time)?,
        // S3KeySensor: bucket_key, bucket_name.
        SensorKind::S3Key(s) => {
            for k in &mut s.bucket_key {
                text(k)?;
            }
            if let Some(b) = &mut s.bucket_name {
                text(b)?;
            }
        }
        SensorKind::TimeDelta { .. } | SensorKind::Time { .. } => {}
    }
    Ok(())
}

/// Renders TriggerDagRunOperator's template_fields: trigger_dag_id, trigger_run_id,
/// logical_date, conf.
pub(crate) fn render_trigger(
    t: &mut TriggerDagRunSpec,
    render: &impl Fn(&Value) -> Result<Value, String>,
) -> Result<(), String> {
    t.trigger_dag_id = as_text(render(&Value::String(std::mem::take(
        &mut t.trigger_dag_id,
    )))?);
    if let Some(id) = t.trigger_run_id.take() {
        t.trigger_run_id = Some(as_text(render(&Value::String(id))?));
    }
    if let Some(d) = t.logical_date.take() {
        t.logical_date = Some(as_text(render(&Value::String(d))?));
    }
    if let Some(conf) = t.conf.take() {
        match render(&Value::Object(conf))? {
            Value::Object(m) => t.conf = Some(m),
            other => return Err(format!("conf must render to a table, got {other}")),
        }
    }
    Ok(())
}
