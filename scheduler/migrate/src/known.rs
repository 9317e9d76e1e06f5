//! The names the converter knows: Airflow's DAG API (2.x and 3.x import paths), the Lithops
//! plugin's operators, and the stdlib and pendulum date helpers DAG files use.

use super::value::Value;

/// The operators (and TaskFlow decorators) that have a lithoflow task type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Python,
    Branch,
    ShortCircuit,
    Bash,
    Empty,
    CallAsync,
    Map,
    MapReduce,
    /// A sensor (`type = "sensor"`) of one kind.
    Sensor(SensorKind),
    /// `TriggerDagRunOperator` (`type = "trigger_dag_run"`).
    TriggerDagRun,
}

/// The kinds of sensor lithoflow has (`sensor = "..."`), each Airflow's sensor class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SensorKind {
    Python,
    File,
    ExternalTask,
    TimeDelta,
    DateTime,
    Time,
    S3Key,
    Bash,
}

impl SensorKind {
    /// The value of the `sensor` key.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SensorKind::Python => "python",
            SensorKind::File => "file",
            SensorKind::ExternalTask => "external_task",
            SensorKind::TimeDelta => "time_delta",
            SensorKind::DateTime => "date_time",
            SensorKind::Time => "time",
            SensorKind::S3Key => "s3_key",
            SensorKind::Bash => "bash",
        }
    }
}

impl OpKind {
    /// The lithoflow task type.
    pub(crate) fn toml_type(self) -> &'static str {
        match self {
            OpKind::Python => "python",
            OpKind::Branch => "branch",
            OpKind::ShortCircuit => "short_circuit",
            OpKind::Bash => "bash",
            OpKind::Empty => "empty",
            OpKind::CallAsync => "call_async",
            OpKind::Map => "map",
            OpKind::MapReduce => "map_reduce",
            OpKind::Sensor(_) => "sensor",
            OpKind::TriggerDagRun => "trigger_dag_run",
        }
    }

    /// Whether the task runs a Python callable with `op_args`/`op_kwargs`.
    pub(crate) fn is_python_like(self) -> bool {
        matches!(self, OpKind::Python | OpKind::Branch | OpKind::ShortCircuit)
    }
}

/// The operator class behind a symbol, if it is one lithoflow has a type for.
pub(crate) fn operator_kind(sym: &str) -> Option<OpKind> {
    Some(match sym {
        "PythonOperator" => OpKind::Python,
        "BranchPythonOperator" => OpKind::Branch,
        "ShortCircuitOperator" => OpKind::ShortCircuit,
        "BashOperator" => OpKind::Bash,
        "EmptyOperator" | "DummyOperator" => OpKind::Empty,
        "LithopsCallAsyncOperator" => OpKind::CallAsync,
        "LithopsMapOperator" => OpKind::Map,
        "LithopsMapReduceOperator" => OpKind::MapReduce,
        "TriggerDagRunOperator" => OpKind::TriggerDagRun,
        s => return sensor_kind(s).map(OpKind::Sensor),
    })
}

/// The sensor class behind a symbol (Airflow 1.10's, 2's and 3's names; the `Async`
/// variants are the deferrable ones, which lithoflow's sensors already are).
pub(crate) fn sensor_kind(sym: &str) -> Option<SensorKind> {
    Some(match sym {
        "PythonSensor" => SensorKind::Python,
        "FileSensor" => SensorKind::File,
        "ExternalTaskSensor" | "ExternalTaskSensorAsync" => SensorKind::ExternalTask,
        "TimeDeltaSensor" | "TimeDeltaSensorAsync" => SensorKind::TimeDelta,
        "DateTimeSensor" | "DateTimeSensorAsync" => SensorKind::DateTime,
        "TimeSensor" | "TimeSensorAsync" => SensorKind::Time,
        "S3KeySensor" => SensorKind::S3Key,
        "BashSensor" => SensorKind::Bash,
        _ => return None,
    })
}

/// The TaskFlow decorator behind a symbol: `@task`, `@task.branch`, ...
pub(crate) fn decorator_kind(sym: &str) -> Option<OpKind> {
    Some(match sym {
        "task" | "task.python" => OpKind::Python,
        "task.branch" => OpKind::Branch,
        "task.short_circuit" => OpKind::ShortCircuit,
        "task.bash" => OpKind::Bash,
        "task.sensor" => OpKind::Sensor(SensorKind::Python),
        _ => return None,
    })
}

/// Names importable from `airflow.*` (and the plugin's modules) that the converter
/// understands, whatever submodule they come from: Airflow moved most of them between
/// 2.x (`airflow.operators.python`) and 3.x (`airflow.sdk`,
/// `airflow.providers.standard.operators.python`).
const AIRFLOW_NAMES: &[&str] = &[
    "DAG",
    "dag",
    "task",
    "task_group",
    "TaskGroup",
    "chain",
    "chain_linear",
    "cross_downstream",
    "days_ago",
    "Param",
    "Label",
    "TriggerRule",
    "PythonOperator",
    "BranchPythonOperator",
    "ShortCircuitOperator",
    "BashOperator",
    "EmptyOperator",
    "DummyOperator",
    "LithopsCallAsyncOperator",
    "LithopsMapOperator",
    "LithopsMapReduceOperator",
    "CronTriggerTimetable",
    "CronDataIntervalTimetable",
    "Asset",
    "Dataset",
    "AssetAlias",
    "DatasetAlias",
    "Variable",
    "BaseHook",
    "AssetAll",
    "AssetAny",
    "DatasetAll",
    "DatasetAny",
    "WeightRule",
    "DagRunState",
    "TaskInstanceState",
    "State",
    "TriggerDagRunOperator",
    "PythonSensor",
    "FileSensor",
    "ExternalTaskSensor",
    "ExternalTaskSensorAsync",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "TimeSensor",
    "TimeSensorAsync",
    "S3KeySensor",
    "BashSensor",
];

/// Airflow's submodules, reached as attributes (`airflow.operators.bash.BashOperator`).
const AIRFLOW_SUBMODULES: &[&str] = &[
    "models",
    "operators",
    "decorators",
    "utils",
    "sdk",
    "providers",
    "standard",
    "python",
    "python_operator",
    "bash",
    "bash_operator",
    "empty",
    "dummy",
    "dummy_operator",
    "dates",
    "helpers",
    "baseoperator",
    "edgemodifier",
    "task_group",
    "trigger_rule",
    "param",
    "dag",
    "timetables",
    "trigger",
    "interval",
    "lithops_airflow_plugin",
    "lithops_operator",
    "variable",
    "hooks",
    "base",
    "base_hook",
    "sensors",
    "contrib",
    "filesystem",
    "file_sensor",
    "external_task",
    "external_task_sensor",
    "time_delta",
    "time_delta_sensor",
    "date_time",
    "date_time_sensor",
    "time_sensor",
    "python_sensor",
    "bash_sensor",
    "s3",
    "s3_key_sensor",
    "amazon",
    "aws",
    "trigger_dagrun",
    "dagrun_operator",
    "weight_rule",
    "state",
    "datasets",
    "assets",
];

/// What `from <module> import <name>` binds `name` to.
pub(crate) fn resolve_import(module: &str, name: &str) -> Value {
    let top = module.split('.').next().unwrap_or(module);
    match top {
        "airflow" | "lithops_airflow_plugin" => airflow_name(module, name),
        "datetime" => match name {
            "datetime" => Value::Sym("datetime.datetime".into()),
            "timedelta" => Value::Sym("datetime.timedelta".into()),
            "timezone" => Value::Sym("datetime.timezone".into()),
            "date" => Value::Sym("datetime.date".into()),
            "time" => Value::Sym("datetime.time".into()),
            _ => Value::Foreign(format!("{module}.{name}")),
        },
        "pendulum" => {
            pendulum_attr(name).unwrap_or_else(|| Value::Foreign(format!("{module}.{name}")))
        }
        "textwrap" if name == "dedent" => Value::Sym("textwrap.dedent".into()),
        "dateutil" | "pytz" | "croniter" => Value::Foreign(format!("{module}.{name}")),
        t if LIBRARY_MODULES.contains(&t) => Value::Foreign(format!("{module}.{name}")),
        _ => Value::Func {
            module: module.to_owned(),
            name: name.to_owned(),
        },
    }
}

/// Standard-library (and common third-party) modules: calling them while parsing is not
/// static, but cannot build DAGs or tasks either, so a value computed with them is only
/// reported where it is used.
const LIBRARY_MODULES: &[&str] = &[
    "os",
    "sys",
    "json",
    "logging",
    "time",
    "random",
    "pprint",
    "pathlib",
    "re",
    "math",
    "functools",
    "itertools",
    "collections",
    "typing",
    "uuid",
    "subprocess",
    "shutil",
    "tempfile",
    "csv",
    "io",
    "string",
    "copy",
    "hashlib",
    "base64",
    "socket",
    "urllib",
    "requests",
    "glob",
    "platform",
    "getpass",
    "yaml",
    "dataclasses",
    "enum",
    "operator",
    "statistics",
    "decimal",
    "fractions",
    "calendar",
    "zoneinfo",
    "inspect",
    "textwrap",
    "traceback",
    "warnings",
    "contextlib",
    "abc",
    "numpy",
    "pandas",
    "boto3",
    "lithops",
];

/// What `import <module>` binds its first component to.
pub(crate) fn resolve_module(module: &str) -> Value {
    match module {
        "airflow" | "lithops_airflow_plugin" => Value::Sym("ns:airflow".into()),
        "datetime" => Value::Sym("ns:datetime".into()),
        "pendulum" => Value::Sym("ns:pendulum".into()),
        "textwrap" => Value::Sym("ns:textwrap".into()),
        m if LIBRARY_MODULES.contains(&m) => Value::Foreign(m.to_owned()),
        m => Value::Module(m.to_owned()),
    }
}

fn airflow_name(module: &str, name: &str) -> Value {
    if AIRFLOW_NAMES.contains(&name) {
        return Value::Sym(name.to_owned());
    }
    if name == "timezone" {
        return Value::Sym("airflow.timezone".into());
    }
    if AIRFLOW_SUBMODULES.contains(&name) {
        // `from airflow import models` and other submodules: attributes are looked up by name.
        return Value::Sym("ns:airflow".into());
    }
    Value::Foreign(format!("{module}.{name}"))
}

fn pendulum_attr(name: &str) -> Option<Value> {
    Some(match name {
        "datetime" | "duration" | "timezone" | "today" | "now" | "yesterday" | "tomorrow"
        | "parse" | "DateTime" => Value::Sym(format!("pendulum.{name}")),
        "UTC" => Value::Tz(super::value::TzInfo::Utc),
        _ => return None,
    })
}

/// `value.attr` for the symbols above.
pub(crate) fn sym_attr(sym: &str, attr: &str) -> Option<Value> {
    Some(match (sym, attr) {
        ("ns:airflow", a) => {
            if AIRFLOW_NAMES.contains(&a) {
                Value::Sym(a.to_owned())
            } else if a == "timezone" {
                Value::Sym("airflow.timezone".into())
            } else if AIRFLOW_SUBMODULES.contains(&a) {
                Value::Sym("ns:airflow".into())
            } else {
                Value::Foreign(format!("airflow.{a}"))
            }
        }
        ("ns:datetime", "datetime" | "timedelta" | "timezone" | "date" | "time") => {
            Value::Sym(format!("datetime.{attr}"))
        }
        ("ns:pendulum", a) => pendulum_attr(a)?,
        ("ns:textwrap", "dedent") => Value::Sym("textwrap.dedent".into()),
        ("datetime.timezone", "utc") => Value::Tz(super::value::TzInfo::Utc),
        ("datetime.datetime", "now" | "utcnow" | "today") => {
            Value::Sym(format!("datetime.datetime.{attr}"))
        }
        ("airflow.timezone", "datetime" | "utcnow" | "utc") => {
            if attr == "utc" {
                Value::Tz(super::value::TzInfo::Utc)
            } else {
                Value::Sym(format!("airflow.timezone.{attr}"))
            }
        }
        // Also modules of those names: `airflow.models.dag.DAG`.
        ("dag", "DAG") => Value::Sym("DAG".into()),
        ("task_group", "TaskGroup") => Value::Sym("TaskGroup".into()),
        ("task", "branch" | "short_circuit" | "bash" | "python" | "sensor") => {
            Value::Sym(format!("task.{attr}"))
        }
        ("task", a) => Value::Foreign(format!("airflow.decorators.task.{a}")),
        ("Variable", "get") => Value::Sym("Variable.get".into()),
        ("BaseHook", "get_connection") => Value::Sym("BaseHook.get_connection".into()),
        // Airflow's string enums: `TriggerRule.ALL_DONE` is "all_done".
        ("TriggerRule" | "WeightRule" | "DagRunState" | "TaskInstanceState" | "State", a)
            if a.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
        {
            Value::Str(a.to_ascii_lowercase())
        }
        // `BashOperator.partial(...)`: dynamic task mapping of a classic operator.
        (op, "partial") if operator_kind(op).is_some() => Value::Sym(format!("{op}.partial")),
        _ => return None,
    })
}
