//! Tests of the table of keys: it agrees with the model, with the parser's messages and
//! with docs/dag-format.md.

use std::path::Path;

use super::*;
use crate::model::{
    BashSpec, CallAsync, MapReduceSpec, MapSpec, PythonSpec, SensorSpec, TriggerDagRunSpec,
};
use crate::schema::TASK_TYPES;

/// A task of each type, with placeholder values.
fn sample_tasks() -> Vec<(TaskType, Task)> {
    let kinds = [
        (
            TaskType::CallAsync,
            TaskKind::CallAsync(CallAsync::default()),
        ),
        (TaskType::Map, TaskKind::Map(MapSpec::default())),
        (
            TaskType::MapReduce,
            TaskKind::MapReduce(MapReduceSpec::default()),
        ),
        (TaskType::Python, TaskKind::Python(PythonSpec::default())),
        (TaskType::Branch, TaskKind::Branch(PythonSpec::default())),
        (
            TaskType::ShortCircuit,
            TaskKind::ShortCircuit {
                python: PythonSpec::default(),
                ignore_downstream_trigger_rules: true,
            },
        ),
        (TaskType::Bash, TaskKind::Bash(BashSpec::default())),
        (TaskType::Sensor, TaskKind::Sensor(SensorSpec::default())),
        (
            TaskType::TriggerDagRun,
            TaskKind::TriggerDagRun(TriggerDagRunSpec::default()),
        ),
        (TaskType::Empty, TaskKind::Empty),
    ];
    kinds
        .into_iter()
        .map(|(ty, kind)| {
            (
                ty,
                Task {
                    kind,
                    ..Task::default()
                },
            )
        })
        .collect()
}

#[test]
fn a_plain_key_lives_on_exactly_the_task_types_of_its_scope() {
    for (ty, task) in sample_tasks() {
        assert_eq!(TaskType::of(&task.kind), ty);
        for key in task_keys() {
            let Holds::Plain(plain) = &key.holds else {
                continue;
            };
            let scope = key.scope().expect("a task key");
            let present = plain.present_on(&task);
            // The python and bash keys of a sensor live on the sensor of that kind only
            // (the sample is a time_delta sensor).
            let of_one_kind =
                ty == TaskType::Sensor && matches!(scope, Scope::PythonCall | Scope::BashCommand);
            if scope.allows(ty) && !of_one_kind {
                assert!(
                    present,
                    "`{}` has no field on a {} task",
                    key.name,
                    ty.name()
                );
            }
            // Executor settings live in `Task::common` on every task (a task of another
            // type keeps their defaults); every other type's keys live in its own spec.
            if present && !matches!(scope, Scope::Common | Scope::Executor | Scope::Lithops) {
                assert!(
                    scope.allows(ty),
                    "`{}` has a field on a {} task",
                    key.name,
                    ty.name()
                );
            }
        }
    }
}

#[test]
fn names_and_aliases_are_unique_and_keys_are_somewhere() {
    let mut seen = std::collections::HashSet::new();
    for key in KEYS {
        assert!(key.place.dag || key.place.task.is_some(), "{}", key.name);
        for name in std::iter::once(&key.name).chain(key.aliases) {
            assert!(seen.insert(*name), "`{name}` is in the table twice");
        }
        assert!(
            !key.doc.is_empty() && !key.doc.contains('\n'),
            "{}",
            key.name
        );
    }
}

#[test]
fn every_key_and_alias_is_documented() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dag-format.md"),
    )
    .expect("docs/dag-format.md");
    for key in KEYS {
        // A row of one of the key tables: "| `name` |" or "| `name` (alias `x`) |".
        assert!(
            docs.contains(&format!("| `{}` ", key.name)),
            "docs/dag-format.md has no row for `{}`",
            key.name
        );
        for alias in key.aliases {
            assert!(
                docs.contains(&format!("| `{alias}` "))
                    || docs.contains(&format!("alias `{alias}`")),
                "docs/dag-format.md does not name the alias `{alias}`"
            );
        }
    }
}

#[test]
fn the_keys_allowed_at_the_top_keep_their_order() {
    // The order of "expected one of ..." in the message about an unknown key.
    let names: Vec<&str> = dag_key_names().collect();
    assert_eq!(
        names.join(", "),
        "dag_id, description, schedule, timetable, start_date, end_date, timezone, \
         is_paused_upon_creation, catchup, max_active_runs, max_active_tasks, dagrun_timeout, \
         tags, params, user_defined_macros, user_defined_filters, render_template_as_native_obj, \
         default_args, on_success_callback, on_failure_callback, lithops_config, tasks"
    );
}

#[test]
fn every_task_type_name_has_keys() {
    for (name, ty) in TASK_TYPES {
        let count = KEYS.iter().filter(|k| k.applies_to(name)).count();
        assert!(count >= 8, "{name} ({}) has {count} keys", ty.name());
    }
}

#[test]
fn a_plain_key_is_read_defaulted_and_listed_from_the_table() {
    let text = r#"
[default_args]
retries = 2
include_modules = ["lib/"]

[tasks.m]
type = "map_reduce"
map_function = "f:m"
reduce_function = "f:r"
map_iterdata = [1, 2]
chunk_n = 4
reducer_wait_local = true

[tasks.p]
type = "short_circuit"
python_callable = "f:p"
templates_dict = { day = "{{ ds }}" }
ignore_downstream_trigger_rules = false

[tasks.b]
type = "bash"
bash_command = "true"
cwd = "/tmp"
"#;
    let (dag, diags) = crate::parse_dag(Path::new("t.toml"), text);
    assert!(diags.is_empty(), "{diags:?}");
    let dag = dag.expect("valid");
    let index = |name: &str| KEYS.iter().position(|k| k.name == name);
    // Some keys of each kind and place: a new key leaves this listing as it is.
    const SOME: &[&str] = &[
        "map_iterdata",
        "chunk_n",
        "invoke_pool_threads",
        "reduce_function",
        "reducer_wait_local",
        "python_callable",
        "op_args_from_task",
        "templates_dict",
        "ignore_downstream_trigger_rules",
        "env",
        "cwd",
        "skip_on_exit_code",
        "lithops_config",
        "async_invoke",
        "get_result",
        "runtime_memory",
        "include_modules",
        "trigger_rule",
        "retries",
        "retry_delay",
        "retry_exponential_backoff",
        "execution_timeout",
        "owner",
    ];
    let listing = |id: &str| {
        let task = dag.task(id).expect("task");
        let params = task.parameters();
        // A type's own keys first, then the executor settings, then the keys of every
        // type, each group in table order.
        let order: Vec<(u8, Option<usize>)> = params
            .iter()
            .map(|(k, _)| {
                let scope = task_key(k).and_then(Key::scope).expect("a task key");
                (scope.listing_rank(), index(k))
            })
            .collect();
        assert!(order.is_sorted(), "{id}: {params:?}");
        params
            .into_iter()
            .filter(|(k, _)| SOME.contains(k))
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect::<String>()
    };
    insta::assert_snapshot!(listing("m"), @r#"
    map_iterdata = [1,2]
    chunk_n = 4
    invoke_pool_threads = - (from config, else 500)
    reduce_function = f:r
    reducer_wait_local = true
    lithops_config = {}
    async_invoke = false
    get_result = true
    runtime_memory = - (from config)
    include_modules = ["lib/"]
    trigger_rule = all_success
    retries = 2
    retry_delay = 5m
    retry_exponential_backoff = 0
    execution_timeout = -
    owner = airflow
    "#);
    // No Lithops keys on a python type, and its own before the executor settings.
    insta::assert_snapshot!(listing("p"), @r#"
    python_callable = f:p
    op_args_from_task = {}
    templates_dict = {"day":"{{ ds }}"}
    ignore_downstream_trigger_rules = false
    lithops_config = {}
    runtime_memory = - (from config)
    include_modules = ["lib/"]
    trigger_rule = all_success
    retries = 2
    retry_delay = 5m
    retry_exponential_backoff = 0
    execution_timeout = -
    owner = airflow
    "#);
    insta::assert_snapshot!(listing("b"), @r#"
    env = - (inherited)
    cwd = /tmp
    skip_on_exit_code = [99]
    trigger_rule = all_success
    retries = 2
    retry_delay = 5m
    retry_exponential_backoff = 0
    execution_timeout = -
    owner = airflow
    "#);
}

#[test]
fn every_task_key_is_read() {
    // The smallest valid task of each type, less the key under test.
    fn base(ty: TaskType, without: &str) -> String {
        let keys: &[(&str, &str)] = match ty {
            TaskType::CallAsync => &[("func", "\"f:g\"")],
            TaskType::Map => &[("map_function", "\"f:g\""), ("map_iterdata", "[1]")],
            TaskType::MapReduce => &[
                ("map_function", "\"f:g\""),
                ("map_iterdata", "[1]"),
                ("reduce_function", "\"f:r\""),
            ],
            TaskType::Python | TaskType::Branch | TaskType::ShortCircuit => {
                &[("python_callable", "\"f:g\"")]
            }
            TaskType::Bash => &[("bash_command", "\"true\"")],
            TaskType::Sensor => &[("sensor", "\"time_delta\""), ("delta", "\"1h\"")],
            TaskType::TriggerDagRun => &[("trigger_dag_id", "\"other\"")],
            TaskType::Empty => &[],
        };
        keys.iter()
            .filter(|(k, _)| {
                *k != without && !(without == "iterdata_from_task" && *k == "map_iterdata")
            })
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect()
    }
    for key in task_keys().filter(|k| k.name != "type") {
        let scope = key.scope().expect("a task key");
        let (name, ty) = TASK_TYPES
            .iter()
            .find(|(_, t)| scope.allows(*t))
            .expect("a type for every scope");
        // A datetime is of the wrong kind for every key but `data`, which takes any value:
        // each key must be read (and so complain), none silently dropped.
        let text = format!(
            "[tasks.t]\ntype = \"{name}\"\n{}{} = 1979-05-27T07:32:00Z\n",
            base(*ty, key.name),
            key.name
        );
        let (dag, diags) = crate::parse_dag(Path::new("t.toml"), &text);
        if key.name == "data" {
            let task = dag.as_ref().and_then(|d| d.task("t")).expect("valid");
            assert!(
                task.parameters()
                    .contains(&("data", "\"1979-05-27T07:32:00Z\"".to_owned())),
                "{:?}",
                task.parameters()
            );
            continue;
        }
        assert!(
            diags
                .iter()
                .any(|d| d.message.contains(&format!("`{}`", key.name))),
            "`{}` = a datetime was not read:\n{text}\n{diags:?}",
            key.name
        );
    }
}
