//! Unit tests of dynamic task mapping's keys: `expand`, `expand_kwargs`,
//! `map_index_template`, `max_active_tis_per_dagrun`.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::tests::parse_ok;

/// Every error, rendered with its location (`t.toml:LINE:COL: error: ...`).
fn errors(text: &str) -> Vec<String> {
    let (dag, diags) = parse_dag(Path::new("t.toml"), text);
    assert!(dag.is_none(), "expected the DAG to be invalid");
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string().lines().next().unwrap_or_default().to_owned())
        .collect()
}

const MAKE: &str = r#"
[tasks.make]
type = "python"
python_callable = "m:make"
"#;

#[test]
fn expand_over_a_task_makes_it_an_upstream_and_a_mapped_task() {
    let dag = parse_ok(&format!(
        r#"{MAKE}
[tasks.process]
type = "python"
python_callable = "m:process"
op_kwargs = {{ mode = "fast" }}
expand = {{ item = "make", other = [1, 2] }}
map_index_template = "{{{{ task.op_kwargs.item }}}}"
max_active_tis_per_dagrun = 2
"#
    ));
    let t = dag.task("process").expect("process");
    assert!(t.is_mapped());
    assert_eq!(
        t.expand,
        Some(Expand::Args(vec![
            ("item".into(), ExpandSource::Task("make".into())),
            (
                "other".into(),
                ExpandSource::Literal(vec![json!(1), json!(2)])
            ),
        ]))
    );
    assert_eq!(t.dependencies(), vec!["make"]);
    assert_eq!(dag.graph.upstream("process"), vec!["make".to_owned()]);
    assert_eq!(
        t.map_index_template.as_deref(),
        Some("{{ task.op_kwargs.item }}")
    );
    assert_eq!(t.max_active_tis_per_dagrun, Some(2));
    assert!(!dag.task("make").expect("make").is_mapped());
}

#[test]
fn expand_kwargs_takes_a_task_or_a_literal_array_of_tables() {
    let dag = parse_ok(&format!(
        r#"{MAKE}
[tasks.a]
type = "call_async"
func = "m:f"
expand_kwargs = "make"

[tasks.b]
type = "bash"
expand_kwargs = [{{ bash_command = "echo 1" }}, {{ bash_command = "echo 2", env = {{ X = "1" }} }}]

[tasks.c]
type = "bash"
expand = {{ bash_command = ["echo a", "echo b"] }}

[tasks.d]
type = "python"
python_callable = "m:f"
expand = {{ op_args = [[1, 2], [3, 4]] }}
"#
    ));
    assert_eq!(
        dag.task("a").and_then(|t| t.expand.clone()),
        Some(Expand::Kwargs(ExpandSource::Task("make".into())))
    );
    assert!(matches!(
        dag.task("b").and_then(|t| t.expand.clone()),
        Some(Expand::Kwargs(ExpandSource::Literal(items))) if items.len() == 2
    ));
    assert!(dag.task("c").is_some_and(Task::is_mapped));
    assert!(dag.task("d").is_some_and(Task::is_mapped));
}

#[test]
fn an_empty_literal_is_accepted() {
    let dag = parse_ok(
        r#"
[tasks.p]
type = "python"
python_callable = "m:f"
expand = { x = [] }
"#,
    );
    assert_eq!(
        dag.task("p").and_then(|t| t.expand.clone()),
        Some(Expand::Args(vec![(
            "x".into(),
            ExpandSource::Literal(vec![])
        )]))
    );
}

#[test]
fn mapping_errors_name_their_place() {
    let errs = errors(&format!(
        r#"{MAKE}
[tasks.p]
type = "python"
python_callable = "m:f"
op_kwargs = {{ x = 1 }}
expand = {{ x = "make" }}

[tasks.q]
type = "python"
python_callable = "m:f"
expand = {{ y = "mkae" }}

[tasks.r]
type = "python"
python_callable = "m:f"
expand = {{ y = "make" }}
expand_kwargs = "make"

[tasks.s]
type = "branch"
python_callable = "m:f"
expand = {{ y = "make" }}

[tasks.t]
type = "bash"
bash_command = "echo"
expand = {{ bash_command = ["a"] }}

[tasks.u]
type = "call_async"
func = "m:f"
expand_kwargs = [1, 2]

[tasks.v]
type = "python"
python_callable = "m:f"
expand = {{ y = 3 }}

[tasks.w]
type = "python"
python_callable = "m:f"
expand = {{}}

[tasks.x]
type = "bash"
bash_command = "echo"
expand = {{ nope = ["a"] }}
"#
    ));
    let expect = [
        "t.toml:10:16: error: task `p` maps argument `x`, which is also a fixed argument",
        "t.toml:15:16: error: `expand` of task `q` names task `mkae`, which does not exist in this DAG; did you mean `make`?",
        "t.toml:21:1: error: task `r` sets both `expand` and `expand_kwargs`",
        "t.toml:26:1: error: `expand` is not a parameter of branch tasks",
        "t.toml:31:27: error: task `t` maps argument `bash_command`, which is also a fixed argument",
        "t.toml:36:18: error: `expand_kwargs` elements must be tables of arguments, found integer 1",
        "t.toml:41:16: error: `expand.y` must be an upstream task id, or a literal array to map over, found integer 3",
        "t.toml:46:10: error: `expand` is empty",
        "t.toml:51:19: error: task `x` maps argument `nope`, which bash tasks do not take",
    ];
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(expect) {
        assert!(got.starts_with(want), "got:  {got}\nwant: {want}");
    }
}

#[test]
fn a_mapped_task_cannot_expand_over_itself() {
    let errs = errors(
        r#"
[tasks.p]
type = "python"
python_callable = "m:f"
expand = { x = "p" }
"#,
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("depends on itself through `expand`")),
        "{errs:#?}"
    );
}

#[test]
fn max_active_tis_per_dagrun_is_a_default_arg_and_positive() {
    let dag = parse_ok(
        r#"
[default_args]
max_active_tis_per_dagrun = 3

[tasks.e]
type = "empty"
"#,
    );
    assert_eq!(
        dag.task("e").and_then(|t| t.max_active_tis_per_dagrun),
        Some(3)
    );
    let errs = errors(
        r#"
[tasks.e]
type = "empty"
max_active_tis_per_dagrun = 0
"#,
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
}
