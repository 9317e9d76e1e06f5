//! Sensors (`type = "sensor"`) and `TriggerDagRunOperator` (`type = "trigger_dag_run"`):
//! BaseSensorOperator's arguments, each sensor class's own, and TriggerDagRun's, with
//! Airflow's names (docs/migrate sections in docs/migrating-from-airflow.md).

use super::{Converter, Kind};
use crate::emit::{Line, TomlVal};
use crate::known::{OpKind, SensorKind};
use crate::model::{Kw, kw};
use crate::value::{Span, Value};

/// BaseSensorOperator's arguments that are sensor keys, with what they hold.
const SENSOR_COMMON: &[(&str, Kind)] = &[
    ("poke_interval", Kind::Duration),
    ("timeout", Kind::Duration),
    ("soft_fail", Kind::Bool),
    ("mode", Kind::Str),
    ("exponential_backoff", Kind::Bool),
    ("max_wait", Kind::Duration),
    ("silent_fail", Kind::Bool),
];

/// Each sensor's own arguments that are keys of the same name.
fn own_keys(s: SensorKind) -> &'static [(&'static str, Kind)] {
    match s {
        SensorKind::Python => &[("templates_dict", Kind::Table)],
        SensorKind::Bash => &[
            ("bash_command", Kind::Str),
            ("env", Kind::Table),
            ("cwd", Kind::Str),
            ("retry_exit_code", Kind::Int),
        ],
        SensorKind::File => &[
            ("filepath", Kind::Str),
            ("recursive", Kind::Bool),
            ("fs_conn_id", Kind::Str),
        ],
        SensorKind::ExternalTask => &[
            ("external_dag_id", Kind::Str),
            ("external_task_id", Kind::Str),
            ("external_task_ids", Kind::StrList),
            ("external_task_group_id", Kind::Str),
            ("allowed_states", Kind::StrList),
            ("skipped_states", Kind::StrList),
            ("failed_states", Kind::StrList),
            ("execution_delta", Kind::Duration),
            ("check_existence", Kind::Bool),
        ],
        SensorKind::TimeDelta => &[("delta", Kind::Duration)],
        SensorKind::DateTime | SensorKind::Time => &[("target_time", Kind::Str)],
        SensorKind::S3Key => &[
            ("bucket_name", Kind::Str),
            ("wildcard_match", Kind::Bool),
            ("aws_conn_id", Kind::Str),
        ],
    }
}

/// The argument each sensor cannot do without (Airflow raises a TypeError without it).
fn required_arg(s: SensorKind) -> &'static str {
    match s {
        SensorKind::Python => "python_callable",
        SensorKind::Bash => "bash_command",
        SensorKind::File => "filepath",
        SensorKind::ExternalTask => "external_dag_id",
        SensorKind::TimeDelta => "delta",
        SensorKind::DateTime | SensorKind::Time => "target_time",
        SensorKind::S3Key => "bucket_key",
    }
}

/// TriggerDagRunOperator's arguments that are keys of the same name.
const TRIGGER_KEYS: &[(&str, Kind)] = &[
    ("trigger_dag_id", Kind::Str),
    ("trigger_run_id", Kind::Str),
    ("conf", Kind::Table),
    ("reset_dag_run", Kind::Bool),
    ("wait_for_completion", Kind::Bool),
    ("poke_interval", Kind::Duration),
    ("allowed_states", Kind::StrList),
    ("failed_states", Kind::StrList),
    ("skip_when_already_exists", Kind::Bool),
];

/// Sensor and TriggerDagRun arguments Airflow renders as templates (their
/// `template_fields`), for values read while parsing.
pub(super) const TEMPLATED: &[&str] = &[
    "filepath",
    "bucket_key",
    "bucket_name",
    "external_dag_id",
    "external_task_id",
    "external_task_ids",
    "external_task_group_id",
    "target_time",
    "trigger_dag_id",
    "trigger_run_id",
    "conf",
    "logical_date",
    "execution_date",
];

/// The argument names a sensor or TriggerDagRun takes, for "did you mean" hints.
pub(super) fn known(kind: OpKind) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    match kind {
        OpKind::Sensor(s) => {
            v.extend(SENSOR_COMMON.iter().map(|(n, _)| *n));
            v.extend(own_keys(s).iter().map(|(n, _)| *n));
            v.extend(["deferrable", "never_fail"]);
            match s {
                SensorKind::Python => v.extend(["python_callable", "op_args", "op_kwargs"]),
                SensorKind::ExternalTask => v.push("execution_date_fn"),
                SensorKind::S3Key => v.extend(["bucket_key", "verify"]),
                _ => {}
            }
        }
        OpKind::TriggerDagRun => {
            v.extend(TRIGGER_KEYS.iter().map(|(n, _)| *n));
            v.extend(["logical_date", "execution_date", "deferrable"]);
        }
        _ => {}
    }
    v
}

impl Converter<'_, '_> {
    /// The head of a sensor's table: its kind.
    pub(super) fn sensor_head(kind: OpKind, head: &mut Vec<Line>) {
        if let OpKind::Sensor(s) = kind {
            head.push(Line::key("sensor", TomlVal::Str(s.name().into())));
        }
    }

    /// The arguments a sensor or TriggerDagRunOperator cannot do without.
    pub(super) fn sensor_required(&mut self, kind: OpKind, kwargs: &[Kw], span: &Span, op: &str) {
        let need = match kind {
            OpKind::Sensor(s) => required_arg(s),
            OpKind::TriggerDagRun => "trigger_dag_id",
            _ => return,
        };
        if kw(kwargs, need).is_none() {
            self.error(span, format!("{op} without `{need}`"));
        }
        if let OpKind::Sensor(_) = kind
            && matches!(
                kw(kwargs, "soft_fail").map(|k| &k.value),
                Some(Ok(Value::Bool(true)))
            )
            && matches!(
                kw(kwargs, "never_fail").map(|k| &k.value),
                Some(Ok(Value::Bool(true)))
            )
        {
            self.error(span, "soft_fail and never_fail together (Airflow raises a ValueError: they are mutually exclusive)");
        }
    }

    /// A `default_args` entry that every sensor takes (`poke_interval`, `mode`, ...), as
    /// Airflow passes it to each sensor: a `[default_args]` key of the same name, when
    /// lithoflow allows it there. False when `k` is none of them.
    pub(super) fn sensor_default(&mut self, k: &Kw, lines: &mut Vec<Line>) -> bool {
        let name = k.name.as_str();
        let Some((_, kind)) = SENSOR_COMMON
            .iter()
            .find(|(n, _)| *n == name && *n != "timeout")
        else {
            return false;
        };
        if !lithoflow_dag::keys::lookup(name).is_some_and(|key| key.may_be_default()) {
            return false;
        }
        if matches!(k.value, Ok(Value::None)) {
            return true;
        }
        let what = format!("default_args `{name}`");
        let v = if name == "mode" {
            let mut body = Vec::new();
            self.sensor_arg(OpKind::Sensor(SensorKind::File), k, &mut body);
            body.into_iter().next()
        } else {
            self.kind_value(k, *kind, &what).map(|v| Line::key(name, v))
        };
        lines.extend(v);
        true
    }

    /// A sensor's or TriggerDagRunOperator's argument onto `body`; false when `k` is not
    /// one of theirs (BaseOperator's are the caller's).
    pub(super) fn sensor_arg(&mut self, kind: OpKind, k: &Kw, body: &mut Vec<Line>) -> bool {
        let name = k.name.as_str();
        let what = format!("`{name}`");
        let keys: Vec<(&str, Kind)> = match kind {
            OpKind::Sensor(s) => SENSOR_COMMON.iter().chain(own_keys(s)).copied().collect(),
            OpKind::TriggerDagRun => TRIGGER_KEYS.to_vec(),
            _ => return false,
        };
        if let Some((_, kind_of)) = keys.iter().find(|(n, _)| *n == name) {
            if matches!(k.value, Ok(Value::None)) {
                return true;
            }
            let v = match (name, &k.value) {
                // A datetime target is written as its instant.
                ("target_time", Ok(Value::DateTime(_))) => self.kind_value(k, Kind::Any, &what),
                ("mode", _) => match self.kind_value(k, Kind::Str, &what) {
                    Some(TomlVal::Str(m)) if m == "poke" || m == "reschedule" => {
                        Some(TomlVal::Str(m))
                    }
                    Some(TomlVal::Str(m)) => {
                        self.error(&k.span, format!("mode {m:?}: Airflow's sensors take \"poke\" or \"reschedule\" (Airflow raises an AirflowException)"));
                        None
                    }
                    _ => None,
                },
                ("execution_delta", Ok(Value::Delta(d))) if *d < 0 => {
                    self.error(&k.span, "execution_delta is negative (a run after this one's logical date): lithoflow's execution_delta is a duration back in time; compute the date with execution_date_fn");
                    None
                }
                _ => self.kind_value(k, *kind_of, &what),
            };
            if let Some(v) = v {
                body.push(Line::key(name, v));
            }
            return true;
        }
        match (kind, name) {
            (OpKind::Sensor(SensorKind::Python), "python_callable" | "op_args" | "op_kwargs") => {
                let mut implied = Vec::new();
                self.operator_arg(OpKind::Python, k, body, &mut implied, &[])
            }
            (OpKind::Sensor(SensorKind::ExternalTask), "execution_date_fn") => {
                if !matches!(k.value, Ok(Value::None))
                    && let Some((r, _)) = self.function_ref(k, "execution_date_fn")
                {
                    body.push(Line::key(name, TomlVal::Str(r)));
                }
                true
            }
            (OpKind::Sensor(SensorKind::S3Key), "bucket_key") => {
                let v = match &k.value {
                    Ok(Value::List(_) | Value::Tuple(_)) => {
                        self.kind_value(k, Kind::StrList, &what)
                    }
                    _ => self.kind_value(k, Kind::Str, &what),
                };
                if let Some(v) = v {
                    body.push(Line::key(name, v));
                }
                true
            }
            (OpKind::Sensor(SensorKind::S3Key), "check_fn" | "use_regex" | "metadata_keys") => {
                if !matches!(k.value, Ok(Value::None) | Ok(Value::Bool(false))) {
                    self.error(&k.span, format!("S3KeySensor's `{name}` is not supported (lithoflow's s3_key sensor checks that the keys exist, with wildcard_match for globs)"));
                }
                true
            }
            (OpKind::Sensor(SensorKind::S3Key), "verify") => {
                if !matches!(k.value, Ok(Value::None) | Ok(Value::Bool(true))) {
                    self.note(&k.span, "S3KeySensor's `verify` is dropped: the s3_key sensor connects as the aws_s3 storage does, with its TLS settings");
                }
                true
            }
            (OpKind::Sensor(_), "never_fail") => {
                if matches!(k.value, Ok(Value::Bool(true))) {
                    self.error(&k.span, "never_fail=True (a poke that raises skips the sensor) is not supported; silent_fail keeps poking after an error");
                }
                true
            }
            (OpKind::Sensor(SensorKind::ExternalTask), "poll_interval") => {
                self.note(&k.span, "`poll_interval` (the deferred ExternalTaskSensor's interval) is dropped: poke_interval sets how often lithoflow checks");
                true
            }
            (OpKind::Sensor(_) | OpKind::TriggerDagRun, "deferrable") => {
                if matches!(k.value, Ok(Value::Bool(true))) {
                    self.note(&k.span, "deferrable=True is accepted and needs no key: lithoflow's sensors and waiting triggers hold no worker between checks, as a deferred task in Airflow");
                }
                true
            }
            (OpKind::Sensor(_), "start_from_trigger" | "trigger_kwargs" | "output_encoding")
            | (OpKind::TriggerDagRun, "openlineage_inject_parent_info") => {
                if !matches!(k.value, Ok(Value::None) | Ok(Value::Bool(false))) {
                    self.note(&k.span, format!("`{name}` is dropped: it tunes Airflow's triggerer or lineage, which lithoflow does not have"));
                }
                true
            }
            (OpKind::TriggerDagRun, "logical_date" | "execution_date") => {
                if matches!(k.value, Ok(Value::None)) {
                    return true;
                }
                let v = match &k.value {
                    Ok(Value::DateTime(_)) => self.kind_value(k, Kind::Any, &what),
                    _ => self.kind_value(k, Kind::Str, &what),
                };
                if let Some(v) = v {
                    body.push(if name == "execution_date" {
                        Line::with_comment(
                            "logical_date",
                            v,
                            "Airflow 2's `execution_date` (deprecated name)",
                        )
                    } else {
                        Line::key("logical_date", v)
                    });
                }
                true
            }
            (OpKind::TriggerDagRun, "python_callable") => {
                self.error(&k.span, "TriggerDagRunOperator's python_callable (Airflow 1.10: it decided whether to trigger and set dag_run_obj.payload) has no equivalent (Airflow 2 removed it too): pass the payload as `conf`, and put a short_circuit task before the trigger for the condition");
                true
            }
            (OpKind::TriggerDagRun, "fail_when_dag_is_paused") => {
                if matches!(k.value, Ok(Value::Bool(true))) {
                    self.error(
                        &k.span,
                        "fail_when_dag_is_paused=True is not supported by lithoflow's trigger_dag_run",
                    );
                }
                true
            }
            _ => false,
        }
    }
}
