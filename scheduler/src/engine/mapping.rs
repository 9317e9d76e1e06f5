//! Dynamic task mapping at run time (Airflow's `expand` and `expand_kwargs`): a task
//! instance's identity ([`TiKey`]: task id and map index), the expansion of a mapped
//! task into its instances once its upstream tasks are done, each instance's arguments,
//! the check an upstream task's pushed value gets when a mapped task expands over it,
//! and the values a downstream task reads from a mapped one.
//!
//! Airflow 2.10's semantics: `DictOfListsExpandInput` (the cross product, the last name
//! varying fastest; a dict maps as its `(key, value)` pairs) and `ListOfDictsExpandInput`
//! (airflow/models/expandinput.py); `_record_task_map_for_downstreams` (the upstream's
//! check, airflow/models/taskinstance.py); `XComForMappingNotPushed` and
//! `UnmappableXComTypePushed` (airflow/exceptions.py).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::store::{RunState, Store, StoreError, TaskInstanceRecord, TaskState, UNMAPPED};
use lithoflow_dag::trigger::UpstreamCounts;
use lithoflow_dag::{Dag, Expand, ExpandSource, Task, TaskKind};

/// A task instance's identity in a run: its task and its map index (-1 unmapped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TiKey {
    /// The task.
    pub task_id: String,
    /// The map index: 0, 1, ... for a mapped task's instances, -1 otherwise.
    pub map_index: i32,
}

impl TiKey {
    /// The unmapped instance of a task.
    pub(crate) fn unmapped(task_id: &str) -> TiKey {
        TiKey::new(task_id, UNMAPPED)
    }

    /// An instance of a task.
    pub(crate) fn new(task_id: &str, map_index: i32) -> TiKey {
        TiKey {
            task_id: task_id.to_owned(),
            map_index,
        }
    }

    /// The first and last possible keys of a task's instances, for a range over a map.
    pub(crate) fn range_of(task_id: &str) -> std::ops::RangeInclusive<TiKey> {
        TiKey::new(task_id, i32::MIN)..=TiKey::new(task_id, i32::MAX)
    }
}

impl fmt::Display for TiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.map_index == UNMAPPED {
            f.write_str(&self.task_id)
        } else {
            write!(f, "{}[{}]", self.task_id, self.map_index)
        }
    }
}

/// One mapped instance's arguments: those from literal arrays (rendered as templates,
/// as Airflow renders literal mapped values) and those from upstream results (not
/// rendered: Airflow skips values resolved from XCom).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct InstanceArgs {
    /// From literal arrays in the DAG file.
    pub literal: Map<String, Value>,
    /// From upstream tasks' results.
    pub from_task: Map<String, Value>,
}

/// A value's Python type name, as Airflow's messages print it.
fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Whether some task of the DAG expands over `task_id`'s result.
pub(crate) fn has_mapped_dependants(dag: &Dag, task_id: &str) -> bool {
    // A task a mapping expands over is its upstream (`Task::dependencies`): only the
    // direct downstream tasks are looked at, not the whole DAG at every task's end.
    dag.graph.downstream(task_id).into_iter().any(|d| {
        dag.task(d)
            .and_then(|t| t.expand.as_ref())
            .is_some_and(|e| e.sources().contains(&task_id))
    })
}

/// The check a value pushed by an unmapped task gets when a mapped task expands over
/// it (Airflow's `_record_task_map_for_downstreams`): None fails with
/// `XComForMappingNotPushed`, anything but a list or a dict with
/// `UnmappableXComTypePushed`. The try fails (and may be retried), as in Airflow.
pub(crate) fn check_pushed_for_mapping(
    dag: &Dag,
    task: &Task,
    value: &Value,
) -> Result<(), String> {
    if task.is_mapped() || !has_mapped_dependants(dag, &task.task_id) {
        return Ok(());
    }
    match value {
        Value::Null => {
            Err("XComForMappingNotPushed: did not push XCom for task mapping".to_owned())
        }
        Value::Array(_) | Value::Object(_) => Ok(()),
        other => Err(format!(
            "UnmappableXComTypePushed: unmappable return type '{}'",
            python_type(other)
        )),
    }
}

/// The result a downstream task reads from `task_id`: its `return_value`, or for a
/// mapped task the list of its instances' results in map index order (Airflow's
/// `LazyXComSelectSequence`). None: nothing pushed.
pub(crate) fn upstream_value(
    store: &Store,
    dag: &Dag,
    run_id: &str,
    task_id: &str,
) -> Result<Option<Value>, StoreError> {
    if dag.task(task_id).is_some_and(Task::is_mapped) {
        return Ok(Some(Value::Array(store.mapped_results(
            &dag.dag_id,
            run_id,
            task_id,
        )?)));
    }
    store.xcom(&dag.dag_id, run_id, task_id, crate::store::RETURN_KEY)
}

/// Counts the states of the direct upstream tasks' instances: each instance of a
/// mapped upstream counts one, as Airflow's `_get_upstream_counts` counts task
/// instances (an unexpanded mapped upstream is one instance, not done).
pub(crate) fn upstream_counts(
    dag: &Dag,
    task: &Task,
    tis: &BTreeMap<TiKey, TaskInstanceRecord>,
) -> UpstreamCounts {
    let mut c = UpstreamCounts::default();
    for up in dag.graph.upstream(&task.task_id) {
        let mut any = false;
        for (_, ti) in tis.range(TiKey::range_of(up)) {
            any = true;
            c.upstream += 1;
            match ti.state {
                TaskState::Success => c.success += 1,
                TaskState::Skipped => c.skipped += 1,
                TaskState::Failed => c.failed += 1,
                TaskState::UpstreamFailed => c.upstream_failed += 1,
                _ => {}
            }
        }
        if !any {
            c.upstream += 1;
        }
    }
    c
}

/// The run's state from its leaf tasks' instances: any failed or upstream_failed ->
/// failed; otherwise (all success or skipped) -> success.
pub(crate) fn leaves_state(dag: &Dag, tis: &BTreeMap<TiKey, TaskInstanceRecord>) -> RunState {
    let failed = dag
        .tasks
        .iter()
        .filter(|t| dag.graph.downstream(&t.task_id).is_empty())
        .any(|t| {
            tis.range(TiKey::range_of(&t.task_id))
                .any(|(_, ti)| matches!(ti.state, TaskState::Failed | TaskState::UpstreamFailed))
        });
    if failed {
        RunState::Failed
    } else {
        RunState::Success
    }
}

/// Why a source cannot be expanded, as the mapped task's error.
fn unmappable(v: &Value) -> String {
    match v {
        Value::Null => "XComForMappingNotPushed: did not push XCom for task mapping".to_owned(),
        other => format!(
            "UnmappableXComTypePushed: unmappable return type '{}'",
            python_type(other)
        ),
    }
}

/// A source's elements: a literal's, or an upstream result's (a list; a dict as its
/// `(key, value)` pairs), and whether they came from a literal.
fn elements(
    store: &Store,
    dag: &Dag,
    run_id: &str,
    src: &ExpandSource,
) -> Result<(Vec<Value>, bool), String> {
    let value = match src {
        ExpandSource::Literal(items) => return Ok((items.clone(), true)),
        ExpandSource::Task(t) => upstream_value(store, dag, run_id, t)
            .map_err(|e| e.to_string())?
            .unwrap_or(Value::Null),
    };
    match value {
        Value::Array(items) => Ok((items, false)),
        Value::Object(m) => Ok((
            m.into_iter()
                .map(|(k, v)| Value::Array(vec![Value::String(k), v]))
                .collect(),
            false,
        )),
        other => Err(unmappable(&other)),
    }
}

/// The arguments of each instance of a mapped task, read from its sources: as many
/// instances as the product of the sources' lengths (`expand`), or as the list's
/// length (`expand_kwargs`). An error is the mapped task's failure.
pub(crate) fn expand(
    store: &Store,
    dag: &Dag,
    run_id: &str,
    task: &Task,
) -> Result<Vec<InstanceArgs>, String> {
    match &task.expand {
        None => Ok(Vec::new()),
        Some(Expand::Args(args)) => {
            let mut lists = Vec::with_capacity(args.len());
            for (name, src) in args {
                let (items, literal) = elements(store, dag, run_id, src)?;
                lists.push((name, items, literal));
            }
            let total = lists
                .iter()
                .try_fold(1usize, |n, (_, items, _)| n.checked_mul(items.len()))
                .ok_or("the cross product of the mapped arguments is too large")?;
            let mut out = Vec::with_capacity(total);
            for index in 0..total {
                let mut inst = InstanceArgs::default();
                // Airflow's `_find_index_for_this_field`: the last name varies fastest.
                let mut rest = index;
                for (name, items, literal) in lists.iter().rev() {
                    let i = rest % items.len();
                    rest /= items.len();
                    let place = if *literal {
                        &mut inst.literal
                    } else {
                        &mut inst.from_task
                    };
                    place.insert((*name).clone(), items[i].clone());
                }
                out.push(inst);
            }
            Ok(out)
        }
        Some(Expand::Kwargs(src)) => {
            let (items, literal) = match src {
                ExpandSource::Literal(items) => (items.clone(), true),
                ExpandSource::Task(t) => {
                    match upstream_value(store, dag, run_id, t).map_err(|e| e.to_string())? {
                        Some(Value::Array(items)) => (items, false),
                        Some(other) => {
                            return Err(format!(
                                "ValueError: expand_kwargs() expects a list[dict], not {}",
                                python_type(&other).replace("NoneType", "None")
                            ));
                        }
                        None => return Err(unmappable(&Value::Null)),
                    }
                }
            };
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(m) if literal => Ok(InstanceArgs {
                        literal: m,
                        from_task: Map::new(),
                    }),
                    Value::Object(m) => Ok(InstanceArgs {
                        literal: Map::new(),
                        from_task: m,
                    }),
                    other => Err(format!(
                        "ValueError: expand_kwargs() expects a list[dict], not list[{}]",
                        python_type(&other).replace("NoneType", "None")
                    )),
                })
                .collect()
        }
    }
}

/// Puts a mapped instance's arguments on its task, over the fixed ones: for `python`
/// a keyword argument of the callable (`op_args` replaces the positional arguments,
/// `op_kwargs` adds a table of them); for `bash` `bash_command`, `env` or `cwd`; for
/// `call_async` a keyword argument of `func`.
pub(crate) fn apply_args(task: &mut Task, args: &Map<String, Value>) -> Result<(), String> {
    for (name, value) in args {
        match &mut task.kind {
            TaskKind::Python(p) => match name.as_str() {
                "op_args" => match value {
                    Value::Array(a) => p.op_args = a.clone(),
                    other => {
                        return Err(format!(
                            "TypeError: op_args must be a list, not {}",
                            python_type(other)
                        ));
                    }
                },
                "op_kwargs" => match value {
                    Value::Object(m) => p.op_kwargs.extend(m.clone()),
                    other => {
                        return Err(format!(
                            "TypeError: op_kwargs must be a dict, not {}",
                            python_type(other)
                        ));
                    }
                },
                _ => {
                    p.op_kwargs.insert(name.clone(), value.clone());
                }
            },
            TaskKind::Bash(b) => {
                let text = |v: &Value| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match name.as_str() {
                    "bash_command" => b.bash_command = text(value),
                    "cwd" => b.cwd = Some(text(value)),
                    "env" => match value {
                        Value::Object(m) => {
                            b.env = Some(
                                m.iter()
                                    .map(|(k, v)| (k.clone(), Value::String(text(v))))
                                    .collect(),
                            );
                        }
                        other => {
                            return Err(format!(
                                "TypeError: env must be a dict, not {}",
                                python_type(other)
                            ));
                        }
                    },
                    other => {
                        return Err(format!(
                            "TypeError: BashOperator.__init__() got an unexpected keyword argument '{other}'"
                        ));
                    }
                }
            }
            TaskKind::CallAsync(c) => {
                if !c.data.is_object() {
                    c.data = Value::Object(Map::new());
                }
                if let Value::Object(m) = &mut c.data {
                    m.insert(name.clone(), value.clone());
                }
            }
            _ => {
                return Err(format!("{} tasks cannot be mapped", task.type_name()));
            }
        }
    }
    Ok(())
}

/// The arguments of a task that its template context's `task` object shows, for
/// `map_index_template` (Airflow's operator attributes: `{{ task.op_kwargs['item'] }}`).
pub(crate) fn task_fields(task: &Task) -> Vec<(&'static str, Value)> {
    match &task.kind {
        TaskKind::Python(p) => vec![
            ("op_args", Value::Array(p.op_args.clone())),
            ("op_kwargs", Value::Object(p.op_kwargs.clone())),
        ],
        TaskKind::Bash(b) => vec![
            ("bash_command", Value::String(b.bash_command.clone())),
            ("env", b.env.clone().map_or(Value::Null, Value::Object)),
            ("cwd", b.cwd.clone().map_or(Value::Null, Value::String)),
        ],
        TaskKind::CallAsync(c) => vec![("data", c.data.clone())],
        _ => Vec::new(),
    }
}

/// Checks a mapped instance once all its arguments are on it: a bash task needs its
/// command.
pub(crate) fn check_instance(task: &Task) -> Result<(), String> {
    match &task.kind {
        TaskKind::Bash(b) if b.bash_command.trim().is_empty() => {
            Err("this mapped instance got no `bash_command`".to_owned())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dag(text: &str) -> Dag {
        let (dag, diags) = lithoflow_dag::parse_dag(std::path::Path::new("m.toml"), text);
        dag.unwrap_or_else(|| panic!("{diags:?}"))
    }

    #[test]
    fn the_cross_product_varies_the_last_name_fastest() {
        let d = dag(r#"
[tasks.p]
type = "python"
python_callable = "m:f"
expand = { a = [1, 2], b = ["x", "y", "z"] }
"#);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s")).expect("store");
        let got = expand(&store, &d, "r", d.task("p").expect("p")).expect("expands");
        let pairs: Vec<(Value, Value)> = got
            .iter()
            .map(|i| (i.literal["a"].clone(), i.literal["b"].clone()))
            .collect();
        assert_eq!(
            pairs,
            [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]
                .map(|(a, b)| (json!(a), json!(b)))
                .to_vec()
        );
    }

    #[test]
    fn an_upstream_dict_maps_as_pairs_and_a_scalar_is_refused() {
        let d = dag(r#"
[tasks.up]
type = "python"
python_callable = "m:f"

[tasks.p]
type = "python"
python_callable = "m:f"
expand = { kv = "up" }
"#);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s")).expect("store");
        let p = d.task("p").expect("p");
        store
            .put_xcom("m", "r", "up", "return_value", &json!({"b": 1, "a": 2}))
            .expect("xcom");
        let got = expand(&store, &d, "r", p).expect("expands");
        assert_eq!(
            got.iter()
                .map(|i| i.from_task["kv"].clone())
                .collect::<Vec<_>>(),
            [json!(["b", 1]), json!(["a", 2])]
        );
        store
            .put_xcom("m", "r", "up", "return_value", &json!(7))
            .expect("xcom");
        assert_eq!(
            expand(&store, &d, "r", p),
            Err("UnmappableXComTypePushed: unmappable return type 'int'".to_owned())
        );
        let up = d.task("up").expect("up");
        assert!(check_pushed_for_mapping(&d, up, &json!("s")).is_err());
        assert!(check_pushed_for_mapping(&d, up, &json!([])).is_ok());
        assert_eq!(
            check_pushed_for_mapping(&d, up, &Value::Null),
            Err("XComForMappingNotPushed: did not push XCom for task mapping".to_owned())
        );
    }

    #[test]
    fn arguments_go_where_each_task_type_takes_them() {
        let d = dag(r#"
[tasks.p]
type = "python"
python_callable = "m:f"
op_kwargs = { fixed = 1 }
expand = { x = [1] }

[tasks.b]
type = "bash"
expand = { bash_command = ["echo hi"] }

[tasks.c]
type = "call_async"
func = "m:f"
data = { y = 2 }
expand = { x = [1] }
"#);
        let mut p = d.task("p").expect("p").clone();
        let args: Map<String, Value> = [("x".to_owned(), json!(5))].into_iter().collect();
        apply_args(&mut p, &args).expect("applies");
        assert_eq!(
            p.python().map(|p| Value::Object(p.op_kwargs.clone())),
            Some(json!({"fixed": 1, "x": 5}))
        );
        let mut c = d.task("c").expect("c").clone();
        apply_args(&mut c, &args).expect("applies");
        assert!(matches!(&c.kind, TaskKind::CallAsync(c) if c.data == json!({"y": 2, "x": 5})));
        let mut b = d.task("b").expect("b").clone();
        apply_args(&mut b, &Map::new()).expect("applies");
        assert!(check_instance(&b).is_err(), "no command");
        let cmd: Map<String, Value> = [("bash_command".to_owned(), json!("echo 1"))]
            .into_iter()
            .collect();
        apply_args(&mut b, &cmd).expect("applies");
        assert!(matches!(&b.kind, TaskKind::Bash(b) if b.bash_command == "echo 1"));
        assert_eq!(TiKey::new("t", 3).to_string(), "t[3]");
        assert_eq!(TiKey::unmapped("t").to_string(), "t");
    }
}
