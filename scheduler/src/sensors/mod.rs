//! The conditions sensors poke, evaluated in the scheduler: each kind in its own
//! module (file, time, external_task, s3_key; python and bash through the executor and
//! `bash.rs`), and the rendering of their templated fields. The waiting itself (the
//! loop of pokes and timers, reschedule, timeout) is `engine/sensor.rs`.

pub(crate) mod external;
pub(crate) mod file;
pub(crate) mod s3;
pub(crate) mod time;

use serde_json::Value;

use lithoflow_dag::{SensorKind, TriggerDagRunSpec};

use crate::taskrun::as_text;

/// What one poke found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Poke {
    /// The condition holds; the value becomes the XCom `return_value` (null: none).
    Done(Value),
    /// Not yet, with what was seen (for the log).
    NotYet(String),
    /// The sensor skips itself (AirflowSkipException).
    Skip(String),
    /// The sensor fails without retry (AirflowFailException).
    Fail(String),
    /// The poke raised: the try fails (retried as any failure), unless `silent_fail`.
    Error(String),
}

/// Python's `fnmatch.fnmatchcase`: `*` any run of characters (`/` too), `?` one
/// character, `[seq]` and `[!seq]` one character in (not in) the set, ranges `a-z`.
pub(crate) fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class(&p[pi..], n[ni]) {
                Some((true, len)) => Some(pi + len),
                Some((false, _)) => None,
                // An unclosed `[` is a literal, as in Python.
                None => (n[ni] == '[').then_some(pi + 1),
            },
            Some(c) => (*c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A `[...]` class at the start of `p`: whether `c` is in it, and its length.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut matched = false;
    while i < p.len() {
        if p[i] == ']' && i > start {
            return Some((matched != negate, i + 1));
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

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

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn fnmatch_is_pythons() {
        for (p, n, want) in [
            ("*.csv", "a.csv", true),
            ("*.csv", "dir/a.csv", true),
            ("raw/*", "raw/x/y", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[ab]x", "bx", true),
            ("[!ab]x", "bx", false),
            ("[a-c]1", "b1", true),
            ("x[", "x[", true),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(fnmatch(p, n), want, "{p} {n}");
        }
    }
}
