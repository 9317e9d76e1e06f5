//! Unit tests of migrate on the loader: DAG descriptions written by hand as issue 19's spec
//! says the loader writes them, for DAG files in a temporary folder (the callables' files
//! are real, so that module names are found from the DAG's folder).

use serde_json::{Value, json};

use super::*;
use crate::{AirflowVersion, Loaded, MigrateArgs};

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The loader's reference to task `task`'s `attr` in DAG `dag` of `etl.py`.
fn r(dag: &str, task: &str, attr: &str) -> Value {
    json!(format!(
        "lithoflow_dagfile_{}:t_{}_{}_{attr}",
        hex("etl.py"),
        hex(dag),
        hex(task)
    ))
}

fn opts() -> ConvertOptions {
    ConvertOptions {
        airflow_version: AirflowVersion::V2,
        now: "2026-11-28T10:00:00Z".parse().expect("a valid time"),
    }
}

const DAG_FILE: &str = r#"from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.models import Variable
from airflow.operators.python import PythonOperator
from airflow.utils.task_group import TaskGroup

from helpers import extract
from common.util import publish

LIMIT = 10


def load(rows):
    return min(len(rows), LIMIT)


@task
def double(x):
    return 2 * x


with DAG("etl", start_date=datetime(2026, 1, 1), schedule="@daily") as dag:
    e = PythonOperator(task_id="extract", python_callable=extract, queue="q")
    l = PythonOperator(task_id="load", python_callable=load, op_args=[[1, 2]])
    with TaskGroup("grp"):
        d = double.expand(x=[1, 2])
    p = PythonOperator(task_id="publish", python_callable=publish)
    e >> l >> d >> p
"#;

/// A folder with `etl.py` (`src`), `helpers.py` and the package `common`.
fn folder(src: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("a folder");
        }
        std::fs::write(p, text).expect("a file");
    };
    write("etl.py", src);
    write("helpers.py", "def extract():\n    return [1, 2, 3]\n");
    write("common/__init__.py", "");
    write("common/util.py", "def publish():\n    return 'ok'\n");
    let path = dir.path().join("etl.py");
    (dir, path)
}

fn function(dir: &Path, file: &str, module: &str, qualname: &str, line: u64) -> Value {
    json!({"kind": "function", "module": module, "qualname": qualname,
           "file": dir.join(file).display().to_string(), "line": line})
}

fn clean_description(dir: &Path) -> Value {
    json!({
        "dag_id": "etl", "line": 24, "airflow_version": 2,
        "version_reason": "the file does not import airflow.sdk or airflow.providers.standard: [airflow] default_version = 2",
        "toml": {
            "dag_id": "etl",
            "schedule": "@daily",
            "timetable": "cron_data_interval",
            "start_date": {"$datetime": "2026-01-01T00:00:00+00:00"},
            "catchup": true,
            "max_active_runs": 16,
            "tasks": {
                "extract": {"type": "python", "python_callable": r("etl", "extract", "python_callable")},
                "load": {"type": "python", "python_callable": r("etl", "load", "python_callable"),
                         "op_args": [[1, 2]], "upstream": ["extract"]},
                "grp.double": {"type": "python", "python_callable": r("etl", "grp.double", "python_callable"),
                               "expand": {"x": [1, 2]}, "upstream": ["load"]},
                "publish": {"type": "python", "python_callable": r("etl", "publish", "python_callable"),
                            "upstream": ["grp.double"]}
            }
        },
        "tasks": {
            "extract": {"line": 25, "operator": "PythonOperator", "operator_module": "airflow.operators.python",
                        "unsupported": false, "custom": false, "ignored": [{"name": "queue", "line": 25}],
                        "callables": {"python_callable": function(dir, "helpers.py", "helpers", "extract", 1)}},
            "load": {"line": 26, "operator": "PythonOperator", "operator_module": "airflow.operators.python",
                     "callables": {"python_callable": function(dir, "etl.py", "unusual_prefix_0a1b_etl", "load", 15)}},
            "grp.double": {"line": 28, "operator": "_PythonDecoratedOperator", "operator_module": "airflow.decorators.python",
                           "callables": {"python_callable": function(dir, "etl.py", "unusual_prefix_0a1b_etl", "double", 20)}},
            "publish": {"line": 29, "operator": "PythonOperator", "operator_module": "airflow.operators.python",
                        "callables": {"python_callable": function(dir, "common/util.py", "common.util", "publish", 1)}}
        },
        "ignored": [{"name": "access_control", "line": 24}],
        "parse_time": [],
        "findings": []
    })
}

/// The report, one headline per line, with the folder's path left out.
fn report(conv: &FileConversion, dir: &Path) -> String {
    conv.diagnostics
        .iter()
        .map(|d| d.headline().replace(&format!("{}/", dir.display()), ""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn validate(toml: &str) -> Vec<String> {
    let (_, diags) = lithoflow_dag::parse_dag(Path::new("/x/etl.toml"), toml);
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(Diagnostic::headline)
        .collect()
}

#[test]
fn a_dag_that_toml_can_hold_converts_whole() {
    let (dir, path) = folder(DAG_FILE);
    let described = Described {
        dags: vec![clean_description(dir.path())],
        modules: vec![
            dir.path().join("helpers.py"),
            dir.path().join("common/util.py"),
        ],
        warnings: vec![
            json!({"line": 24, "message": "the DAG id 'etl' is defined twice in this file"}),
        ],
    };
    let conv = convert_described(&path, DAG_FILE, &described, &opts());
    let dag = &conv.dags[0];
    assert_eq!(dag.errors, 0, "{}", report(&conv, dir.path()));
    assert_eq!(dag.tasks, 4);
    assert!(
        validate(&dag.toml).is_empty(),
        "{:?}\n{}",
        validate(&dag.toml),
        dag.toml
    );
    let body = dag.toml.split_once("\n\n").map_or("", |(_, b)| b);
    assert_eq!(
        body,
        r#"dag_id = "etl"
schedule = "@daily"
timetable = "cron_data_interval"
start_date = 2026-01-01T00:00:00Z
catchup = true
max_active_runs = 16

[tasks.extract]
type = "python"
python_callable = "helpers:extract"

[tasks.load]
type = "python"
python_callable = "etl_tasks:load"
op_args = [[1, 2]]
upstream = ["extract"]

[tasks."grp.double"]
type = "python"
python_callable = "etl_tasks:double"
expand = { x = [1, 2] }
upstream = ["load"]

[tasks.publish]
type = "python"
python_callable = "common.util:publish"
upstream = ["grp.double"]
"#
    );
    assert!(dag.toml.starts_with(crate::TOML_MARKER));
    assert!(dag.toml.contains("loaded by running the file"));
    // The file's own functions move, with the module-level names they use.
    let module = conv.module.as_ref().expect("a generated module");
    assert_eq!(module.name, "etl_tasks");
    assert_eq!(module.functions, ["load", "double"]);
    assert!(module.text.contains("LIMIT = 10\n"), "{}", module.text);
    assert!(module.text.contains("def double(x):"), "{}", module.text);
    assert!(!module.text.contains("@task"), "{}", module.text);
    // Ignored arguments are reported as dropped; nothing is an error.
    let rep = report(&conv, dir.path());
    assert!(
        rep.contains(
            "etl.py:25:5: note: task `extract` `queue` is dropped: lithoflow has no executor queues"
        ),
        "{rep}"
    );
    assert!(
        rep.contains("etl.py:24:1: note: DAG `etl`: `access_control` is dropped"),
        "{rep}"
    );
    assert!(
        rep.contains("note: `load` is defined in the DAG file: copied to etl_tasks.py"),
        "{rep}"
    );
    assert!(
        rep.contains("etl.py:24:1: warning: the DAG id 'etl' is defined twice in this file"),
        "{rep}"
    );
    assert!(!rep.contains("error"), "{rep}");
    assert_eq!(dag.errors, 0);
    // The modules the TOML refers to are copied with --out, their package too.
    let names: Vec<String> = conv
        .local_modules
        .iter()
        .map(|m| {
            m.strip_prefix(dir.path())
                .unwrap_or(m)
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["common/__init__.py", "common/util.py", "helpers.py"]
    );
}

const HARD_FILE: &str = r#"from airflow import DAG
from airflow.models import BaseOperator, Variable
from airflow.operators.python import PythonOperator
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

BUCKET = Variable.get("bucket")


def make(n):
    def inner():
        return n
    return inner


class Shout(BaseOperator):
    def execute(self, context):
        return "hi"


with DAG("hard", schedule=None) as dag:
    lam = PythonOperator(task_id="lam", python_callable=lambda: BUCKET)
    for i in range(2):
        PythonOperator(task_id=f"f{i}", python_callable=make(i))
    s = Shout(task_id="shout")
    bq = BigQueryInsertJobOperator(task_id="bq", configuration={})
    lam >> s >> bq
"#;

fn hard_description(dir: &Path) -> Value {
    let f = |_i: u64| {
        json!({"python_callable": {"kind": "closure", "module": "unusual_prefix_0a1b_etl",
               "qualname": "make.<locals>.inner", "file": dir.join("etl.py").display().to_string(), "line": 10}})
    };
    json!({
        "dag_id": "hard", "line": 20, "airflow_version": 2,
        "toml": {
            "dag_id": "hard",
            "tasks": {
                "lam": {"type": "python", "python_callable": r("hard", "lam", "python_callable"), "retries": 2},
                "f0": {"type": "python", "python_callable": r("hard", "f0", "python_callable")},
                "f1": {"type": "python", "python_callable": r("hard", "f1", "python_callable")},
                "shout": {"type": "python", "python_callable": r("hard", "shout", "execute"),
                          "op_args": [{}], "upstream": ["lam"]},
                "bq": {"type": "python", "python_callable": r("hard", "bq", "unsupported"), "upstream": ["shout"]}
            }
        },
        "tasks": {
            "lam": {"line": 21, "operator": "PythonOperator", "operator_module": "airflow.operators.python",
                    "callables": {"python_callable": {"kind": "lambda", "module": "unusual_prefix_0a1b_etl",
                        "qualname": "<lambda>", "file": dir.join("etl.py").display().to_string(), "line": 21}}},
            "f0": {"line": 23, "operator": "PythonOperator", "callables": f(0)},
            "f1": {"line": 23, "operator": "PythonOperator", "callables": f(1)},
            "shout": {"line": 24, "operator": "Shout", "operator_module": "unusual_prefix_0a1b_etl", "custom": true,
                      "callables": {}},
            "bq": {"line": 25, "operator": "BigQueryInsertJobOperator",
                   "operator_module": "airflow.providers.google.cloud.operators.bigquery", "unsupported": true,
                   "callables": {}}
        },
        "ignored": [],
        "parse_time": [{"what": "Variable.get('bucket')", "line": 6}],
        "findings": []
    })
}

#[test]
fn what_toml_cannot_hold_is_reported_at_its_line() {
    let (dir, path) = folder(HARD_FILE);
    let described = Described {
        dags: vec![hard_description(dir.path())],
        modules: Vec::new(),
        ..Described::default()
    };
    let conv = convert_described(&path, HARD_FILE, &described, &opts());
    let rep = report(&conv, dir.path());
    let lines: Vec<&str> = rep.lines().collect();
    let expect = [
        "etl.py:6:1: error: `Variable.get('bucket')` is read while the file is loaded (at parse time)",
        "etl.py:10:5: error: task `f0`: its `python_callable` is `make.inner` (line 10), a function defined inside a function (a closure or nested function)",
        "etl.py:10:5: error: task `f1`: its `python_callable` is `make.inner`",
        "etl.py:21:5: error: task `lam`: its `python_callable` is a lambda (line 21), which has no name a TOML file could refer to; TOML cannot hold it: keep this DAG as .py (lithoflow loads and runs it unchanged), or make it a module-level function",
        "etl.py:24:5: error: task `shout` is a custom operator `Shout` (defined in the DAG file): its `execute(context)` is a method",
        "etl.py:25:5: error: task `bq`: `BigQueryInsertJobOperator` (from airflow.providers.google.cloud.operators.bigquery) is a provider operator lithoflow does not implement",
    ];
    assert_eq!(lines.len(), expect.len(), "{rep}");
    for (line, want) in lines.iter().zip(expect) {
        assert!(line.starts_with(want), "{line}\nshould start with\n{want}");
    }
    assert!(
        lines.iter().all(|l| l.contains("keep this DAG")),
        "every refusal says the DAG can stay .py: {rep}"
    );
    let dag = &conv.dags[0];
    assert_eq!(dag.errors, 6);
    assert!(conv.module.is_none());
    // Written with --allow-partial: each task without its callable is an `empty`
    // placeholder that keeps its dependencies and its retries, and the file validates.
    assert!(
        validate(&dag.toml).is_empty(),
        "{:?}\n{}",
        validate(&dag.toml),
        dag.toml
    );
    let tasks = &dag.toml[dag.toml.find("[tasks.lam]").unwrap_or(0)..];
    assert!(
        tasks.starts_with("[tasks.lam]\n# migrate: an `empty` placeholder for the task below (see the report)\ntype = \"empty\"\n# migrate: not translated (line 21): task `lam`: its `python_callable` is a lambda"),
        "{tasks}"
    );
    assert!(tasks.contains("retries = 2\n"), "{tasks}");
    assert!(
        tasks.contains("[tasks.bq]\n# migrate: an `empty` placeholder"),
        "{tasks}"
    );
    assert!(!tasks.contains("lithoflow_dagfile_"), "{tasks}");
    assert!(
        dag.toml
            .contains("# migrate: not translated (line 6): `Variable.get('bucket')`"),
        "{}",
        dag.toml
    );
}

#[test]
fn callbacks_partials_methods_and_outside_modules() {
    let (dir, path) = folder(DAG_FILE);
    let mut desc = clean_description(dir.path());
    let dag_cb = json!(format!(
        "lithoflow_dagfile_{}:d_{}_on_failure_callback_0",
        hex("etl.py"),
        hex("etl")
    ));
    desc["toml"]["on_failure_callback"] = dag_cb;
    desc["callables"] = json!({"on_failure_callback_0": function(dir.path(), "helpers.py", "helpers", "extract", 1)});
    desc["toml"]["tasks"]["extract"]["on_failure_callback"] = json!([
        r("etl", "extract", "on_failure_callback_0"),
        r("etl", "extract", "on_failure_callback_1")
    ]);
    desc["tasks"]["extract"]["callables"]["on_failure_callback_0"] =
        json!({"kind": "partial", "module": "helpers", "qualname": "extract", "line": 3});
    desc["tasks"]["extract"]["callables"]["on_failure_callback_1"] = json!({"kind": "function", "module": "json", "qualname": "dumps", "file": "/usr/lib/python3/json/__init__.py", "line": 183});
    desc["tasks"]["load"]["callables"]["python_callable"] = json!({"kind": "method", "module": "unusual_prefix_0a1b_etl", "qualname": "Loader.load",
               "file": dir.path().join("etl.py").display().to_string(), "line": 15});
    let described = Described {
        dags: vec![desc],
        modules: Vec::new(),
        ..Described::default()
    };
    let conv = convert_described(&path, DAG_FILE, &described, &opts());
    let rep = report(&conv, dir.path());
    let dag = &conv.dags[0];
    assert!(
        dag.toml
            .contains("on_failure_callback = \"helpers:extract\"\n"),
        "{}",
        dag.toml
    );
    // The partial is dropped from the list; the stdlib function is kept, with a note.
    assert!(
        dag.toml
            .contains("on_failure_callback = [\"json:dumps\"]\n"),
        "{}",
        dag.toml
    );
    assert!(
        rep.contains(
            "error: task `extract`: its `on_failure_callback` is a `functools.partial` of `extract`"
        ),
        "{rep}"
    );
    assert!(rep.contains("note: task `extract`: its `on_failure_callback` is `json.dumps` (/usr/lib/python3/json/__init__.py:183), outside the DAG's folder"), "{rep}");
    assert!(rep.contains("etl.py:15:1: error: task `load`: its `python_callable` is the bound method `Loader.load` (line 15)"), "{rep}");
    assert_eq!(dag.errors, 2, "{rep}");
    // The callback lost stays a callback: the task keeps its callable and type.
    let extract = &dag.toml[dag.toml.find("[tasks.extract]").unwrap_or(0)..];
    assert!(
        extract.starts_with("[tasks.extract]\ntype = \"python\""),
        "{extract}"
    );
    assert!(validate(&dag.toml).is_empty(), "{:?}", validate(&dag.toml));
}

#[test]
fn values_toml_cannot_hold_and_description_findings() {
    let (dir, path) = folder(DAG_FILE);
    let mut desc = clean_description(dir.path());
    desc["toml"]["tasks"]["load"]["op_kwargs"] = json!({"limit": null});
    desc["findings"] =
        json!([{"line": 29, "severity": "warning", "message": "something the loader saw"}]);
    let described = Described {
        dags: vec![desc],
        modules: Vec::new(),
        ..Described::default()
    };
    let conv = convert_described(&path, DAG_FILE, &described, &opts());
    let rep = report(&conv, dir.path());
    assert!(
        rep.contains(
            "etl.py:26:5: error: task `load`: `op_kwargs` is Python `None`, which TOML cannot hold"
        ),
        "{rep}"
    );
    assert!(
        rep.contains("etl.py:29:5: warning: something the loader saw"),
        "{rep}"
    );
    assert_eq!(conv.dags[0].errors, 1);
}

#[test]
fn a_file_without_dags_and_credentials() {
    let src = "from airflow import DAG\nAPI_KEY = \"sk-live-0123456789abcdefghijklmnop\"\n";
    let (dir, path) = folder(src);
    let conv = convert_described(&path, src, &Described::default(), &opts());
    assert!(conv.dags.is_empty());
    assert!(report(&conv, dir.path()).contains("defined no DAG"));
    // A credential the loader computed into the TOML is replaced by a reference.
    let desc = json!({"dag_id": "c", "line": 1, "toml": {"dag_id": "c", "tasks": {
        "t": {"type": "bash", "bash_command": "curl -H 'X-Api-Key: sk-live-0123456789abcdefghijklmnop' x"}}},
        "tasks": {"t": {"line": 1}}});
    let conv = convert_described(
        &path,
        src,
        &Described {
            dags: vec![desc],
            modules: Vec::new(),
            ..Described::default()
        },
        &opts(),
    );
    let toml = &conv.dags[0].toml;
    assert!(!toml.contains("0123456789abcdefghij"), "{toml}");
    assert!(!report(&conv, dir.path()).contains("0123456789abcdefghij"));
}

#[test]
fn the_command_uses_the_loader_and_falls_back_to_the_static_reader() {
    let (dir, path) = folder(DAG_FILE);
    // A second DAG file the loader cannot import here: read statically.
    let other = dir.path().join("other.py");
    std::fs::write(
        &other,
        "from airflow import DAG\nfrom airflow.operators.bash import BashOperator\nwith DAG('other', schedule=None, start_date=None) as dag:\n    BashOperator(task_id='b', bash_command='echo hi')\n",
    )
    .expect("a file");
    let out = tempfile::tempdir().expect("a temporary folder");
    let args = MigrateArgs {
        paths: vec![dir.path().to_owned()],
        out: Some(out.path().to_owned()),
        airflow_version: None,
        allow_partial: false,
        static_only: false,
        now: Some("2026-11-28T10:00:00Z".into()),
    };
    let desc = clean_description(dir.path());
    let mut asked = Vec::new();
    let mut loader = |file: &Path, _: Option<AirflowVersion>| {
        asked.push(file.to_owned());
        if file == path {
            Loaded::Ran(Described {
                dags: vec![desc.clone()],
                modules: Vec::new(),
                ..Described::default()
            })
        } else {
            Loaded::NotImported("ModuleNotFoundError: No module named 'pandas' (other.py:1)".into())
        }
    };
    let (mut summary, mut rep) = (Vec::new(), Vec::new());
    let outcome =
        crate::run_with(&args, Some(&mut loader), &mut summary, &mut rep).expect("migrate runs");
    let summary =
        String::from_utf8_lossy(&summary).replace(&format!("{}/", out.path().display()), "");
    let rep = String::from_utf8_lossy(&rep).replace(&format!("{}/", dir.path().display()), "");
    assert_eq!(asked.len(), 2);
    assert_eq!(outcome.errors, 0, "{rep}");
    assert!(
        rep.contains(
            "etl.py: note: loaded by running it on lithoflow's Airflow compatibility layer"
        ),
        "{rep}"
    );
    assert!(rep.contains("other.py: note: read statically, without running it: the loader could not import it here (ModuleNotFoundError"), "{rep}");
    for written in [
        "wrote etl.toml (DAG `etl`, 4 task(s))",
        "wrote etl_tasks.py",
        "wrote other.toml (DAG `other`, 1 task(s))",
        "to common/util.py",
        "to helpers.py",
        "to common/__init__.py",
    ] {
        assert!(summary.contains(written), "{written} in\n{summary}");
    }
    let toml = std::fs::read_to_string(out.path().join("etl.toml")).expect("written");
    assert!(toml.contains("python_callable = \"etl_tasks:load\""));
}

#[test]
fn data_dependencies_stay_in_upstream() {
    let (dir, path) = folder(DAG_FILE);
    let mut desc = clean_description(dir.path());
    // Airflow's upstream_task_ids hold the data dependencies too.
    desc["toml"]["tasks"]["grp.double"]["expand"] = json!({"x": "load"});
    desc["toml"]["tasks"]["publish"]["op_kwargs_from_task"] = json!({"v": "grp.double"});
    desc["toml"]["tasks"]["publish"]["op_args_from_task"] = json!({"0": "extract"});
    desc["toml"]["tasks"]["publish"]["upstream"] = json!(["extract", "grp.double"]);
    let described = Described {
        dags: vec![desc],
        modules: Vec::new(),
        ..Described::default()
    };
    let conv = convert_described(&path, DAG_FILE, &described, &opts());
    let toml = &conv.dags[0].toml;
    assert!(validate(toml).is_empty(), "{:?}\n{toml}", validate(toml));
}

const TASKFLOW_FILE: &str = r#"from airflow.decorators import dag, task
from datetime import datetime

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def flow():
    @task
    def extract():
        return [1, 2]

    @task
    def total(values):
        return sum(values)

    total(extract())

flow()
"#;

#[test]
fn taskflow_functions_inside_a_dag_function_move() {
    let (dir, path) = folder(TASKFLOW_FILE);
    let nested = |q: &str, line: u64| {
        json!({"kind": "nested", "module": "lithoflow_dagfile_x", "qualname": format!("flow.<locals>.{q}"),
               "file": dir.path().join("etl.py").display().to_string(), "line": line})
    };
    let desc = json!({
        "dag_id": "flow", "line": 16, "airflow_version": 2,
        "toml": {"dag_id": "flow", "catchup": true, "tasks": {
            "extract": {"type": "python", "python_callable": r("flow", "extract", "python_callable")},
            "total": {"type": "python", "python_callable": r("flow", "total", "python_callable"),
                      "op_args_from_task": {"0": "extract"}, "upstream": ["extract"]}}},
        "tasks": {
            "extract": {"line": 14, "operator": "_PythonDecoratedOperator", "callables": {"python_callable": nested("extract", 6)}},
            "total": {"line": 14, "operator": "_PythonDecoratedOperator", "callables": {"python_callable": nested("total", 10)}}
        }
    });
    let described = Described {
        dags: vec![desc],
        modules: Vec::new(),
        ..Described::default()
    };
    let conv = convert_described(&path, TASKFLOW_FILE, &described, &opts());
    let rep = report(&conv, dir.path());
    let dag = &conv.dags[0];
    assert_eq!(dag.errors, 0, "{rep}");
    assert!(
        dag.toml.contains("python_callable = \"etl_tasks:total\"\n"),
        "{}",
        dag.toml
    );
    let module = conv.module.as_ref().expect("a generated module");
    assert!(
        module.text.contains("def extract():\n    return [1, 2]\n"),
        "{}",
        module.text
    );
    assert!(
        module
            .text
            .contains("def total(values):\n    return sum(values)\n"),
        "{}",
        module.text
    );
    assert!(validate(&dag.toml).is_empty(), "{:?}", validate(&dag.toml));
}

#[test]
fn loader_answers() {
    let ok = json!({"id": 1, "op": "result", "ok": true, "dags": [{"dag_id": "a"}],
                    "modules": [{"path": "/d/common/util.py", "mtime_ns": 1}], "warnings": []});
    match Loaded::from_result(Ok(ok)) {
        Loaded::Ran(d) => {
            assert_eq!(d.dags.len(), 1);
            assert_eq!(d.modules, [PathBuf::from("/d/common/util.py")]);
        }
        other => panic!("{other:?}"),
    }
    let failed = json!({"id": 1, "op": "result", "ok": false, "modules": [], "error": {
        "kind": "exception", "type": "ModuleNotFoundError", "message": "No module named 'pandas'",
        "file": "/d/x.py", "line": 3, "traceback": "..."}});
    match Loaded::from_result(Ok(failed)) {
        Loaded::NotImported(why) => {
            assert_eq!(
                why,
                "ModuleNotFoundError: No module named 'pandas' at /d/x.py:3"
            )
        }
        other => panic!("{other:?}"),
    }
    match Loaded::from_result(Err(
        "cannot start a DAG-file loader process (python3)".into()
    )) {
        Loaded::NotImported(why) => assert!(why.starts_with("cannot start")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_parse_time_read_in_another_dags_block_does_not_concern_this_one() {
    let src = "from airflow import DAG\nfrom airflow.utils.dates import days_ago\nfrom airflow.operators.empty import EmptyOperator\nSTART = days_ago(1)\n\nwith DAG(\"a\", start_date=days_ago(2)) as a:\n    EmptyOperator(task_id=\"t\")\n\nwith DAG(\"b\", schedule=None) as b:\n    EmptyOperator(task_id=\"t\")\n";
    let (dir, path) = folder(src);
    let reads = json!([{"what": "days_ago()", "line": 4}, {"what": "days_ago()", "line": 6}]);
    let desc = |id: &str, line: u64| {
        json!({"dag_id": id, "line": line, "toml": {"dag_id": id, "tasks": {"t": {"type": "empty"}}},
               "tasks": {"t": {"line": line + 1}}, "parse_time": reads.clone()})
    };
    let described = Described {
        dags: vec![desc("a", 6), desc("b", 9)],
        ..Described::default()
    };
    let conv = convert_described(&path, src, &described, &opts());
    let rep = report(&conv, dir.path());
    assert_eq!(conv.dags[0].errors, 2, "{rep}");
    assert_eq!(conv.dags[1].errors, 1, "{rep}");
    assert!(conv.dags[1].toml.contains("(line 4)"));
    assert!(!conv.dags[1].toml.contains("(line 6)"));
}
