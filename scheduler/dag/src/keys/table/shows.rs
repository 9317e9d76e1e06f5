//! The helpers of the table of keys (`table.rs`): the constructors of its repeated kinds
//! of entries and the functions `dags show` prints values with.

use serde_json::{Map, Value};

use crate::keys::Holds::Hand;
use crate::keys::Scope::{Common, Sensor};
use crate::keys::{DAG, Key, Place, ValueKind as K, task_only};
use crate::model::{
    BashSpec, FuncRef, MapReduceSpec, PythonSpec, SensorKind, SensorSpec, Task, TaskKind,
    TriggerDagRunSpec,
};
/// A key of the top of a DAG file, read by hand.
pub(super) const fn dag_key(
    name: &'static str,
    kind: K,
    default: &'static str,
    doc: &'static str,
) -> Key {
    Key {
        name,
        aliases: &[],
        doc,
        place: DAG,
        airflow: None,
        holds: Hand {
            kind,
            default: Some(default),
            show: None,
        },
    }
}

/// A task callback key: every task type, `[default_args]` too, listed by `dags show`;
/// `dag`: also a DAG's callback at the top of the file.
pub(super) const fn callback_key(
    name: &'static str,
    dag: bool,
    doc: &'static str,
    show: fn(&Task) -> Option<String>,
) -> Key {
    Key {
        name,
        aliases: &[],
        doc,
        place: Place {
            dag,
            task: Some(Common),
            default_args: true,
        },
        // `lithoflow migrate` does not convert callables to references yet.
        airflow: None,
        holds: Hand {
            kind: K::Functions,
            default: None,
            show: Some(show),
        },
    }
}

/// Callbacks as `dags show` lists them; none: not listed.
pub(super) fn show_funcs(list: &[FuncRef]) -> Option<String> {
    match list {
        [] => None,
        [one] => Some(one.to_string()),
        many => Some(format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The map half of a map or map_reduce task.
pub(super) fn map_spec(t: &Task) -> Option<&crate::model::MapSpec> {
    match &t.kind {
        TaskKind::Map(m) | TaskKind::MapReduce(MapReduceSpec { map: m, .. }) => Some(m),
        _ => None,
    }
}

/// The command of a bash task or a bash sensor.
pub(super) fn bash(t: &Task) -> Option<&BashSpec> {
    match &t.kind {
        TaskKind::Bash(b)
        | TaskKind::Sensor(SensorSpec {
            sensor: SensorKind::Bash { bash: b, .. },
            ..
        }) => Some(b),
        _ => None,
    }
}

/// The callable of a python-like task or a python sensor.
pub(super) fn python_of(t: &Task) -> Option<&PythonSpec> {
    t.python()
}

pub(super) fn sensor(t: &Task) -> Option<&SensorSpec> {
    match &t.kind {
        TaskKind::Sensor(s) => Some(s),
        _ => None,
    }
}

pub(super) fn trigger(t: &Task) -> Option<&TriggerDagRunSpec> {
    match &t.kind {
        TaskKind::TriggerDagRun(s) => Some(s),
        _ => None,
    }
}

/// A key of one or more sensor kinds, read by hand, set on the task itself (not in
/// `[default_args]`); `lithoflow migrate` maps the Airflow sensors' argument of the
/// same name to it.
pub(super) const fn sensor_key(
    name: &'static str,
    kind: K,
    default: Option<&'static str>,
    doc: &'static str,
    show: fn(&Task) -> Option<String>,
) -> Key {
    Key {
        name,
        aliases: &[],
        doc,
        place: task_only(Sensor),
        airflow: Some(Sensor),
        holds: Hand {
            kind,
            default,
            show: Some(show),
        },
    }
}

/// The value of a sensor kind's key, as `dags show` prints it.
pub(super) fn sensor_show(t: &Task, key: &str) -> Option<String> {
    let v = serde_json::to_value(&sensor(t)?.sensor).ok()?;
    match v.get(key)? {
        Value::Null => Some("-".to_owned()),
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Arguments taken from tasks, `{"argument": "task"}`.
pub(super) fn task_refs<'t>(refs: impl Iterator<Item = (String, &'t String)>) -> String {
    let m: Map<String, Value> = refs.map(|(k, t)| (k, Value::String(t.clone()))).collect();
    Value::Object(m).to_string()
}
