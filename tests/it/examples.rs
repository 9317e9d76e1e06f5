//! Every file in `dags/` is a valid DAG, with the shape its comments describe.

use lithoflow_dag::{ExtraParams, Iterdata, TaskKind};
use lithoflow_scheduler::dagbag::DagBag;
use serde_json::json;

use crate::repo_root;

#[test]
fn every_example_dag_validates_without_warnings() {
    let bag = DagBag::load_folder(&repo_root().join("dags")).expect("dags/ is readable");
    assert!(
        bag.files.len() >= 4,
        "expected the four example DAGs, found {}",
        bag.files.len()
    );
    for f in &bag.files {
        let text: String = f.diagnostics.iter().map(ToString::to_string).collect();
        assert!(
            f.diagnostics.is_empty(),
            "{} has diagnostics:\n{text}",
            f.path.display()
        );
        assert!(f.dag().is_some());
    }
}

#[test]
fn the_chained_example_wires_all_three_operators() {
    let bag = DagBag::load_folder(&repo_root().join("dags")).expect("dags/ is readable");
    let dag = bag.dag("lithops_example").expect("lithops_example loads");
    assert_eq!(
        dag.graph.topological_order(),
        Some(vec![
            "add_task_1",
            "add_task_2",
            "map_task",
            "mapreduce_task"
        ])
    );
    assert_eq!(
        dag.graph.edges(),
        vec![
            ("add_task_1", "add_task_2"),
            ("add_task_2", "map_task"),
            ("map_task", "mapreduce_task")
        ]
    );
    let Some(TaskKind::MapReduce(mr)) = dag.task("mapreduce_task").map(|t| &t.kind) else {
        panic!("mapreduce_task is a map_reduce task");
    };
    assert!(matches!(&mr.map.iterdata, Iterdata::FromTask(t) if t == "map_task"));
    assert!(
        matches!(&mr.map.extra_params, Some(ExtraParams::Keyword(k)) if k.get("y") == Some(&json!(1)))
    );
    assert_eq!(mr.reduce_function.to_string(), "my_functions:mult_array");
    // default_args reached every task.
    for t in &dag.tasks {
        assert_eq!(t.retries, 1, "{}", t.task_id);
        assert_eq!(t.retry_delay.as_secs(), 30);
        assert_eq!(t.execution_timeout.map(|d| d.as_secs()), Some(600));
    }
}
