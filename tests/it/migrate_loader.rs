//! `lithoflow migrate` on the Python loader (issue 19, item 5): the real binary runs each
//! DAG file on lithoflow's Airflow compatibility layer and writes the DAGs it defines,
//! with what only running Python knows (a factory through `globals()`, tasks from a loop,
//! an imported helper's value); what TOML cannot hold (a lambda, a closure, a custom
//! operator, a Variable read at parse time) is reported at the DAG file's line and that
//! DAG is not written; a file the loader cannot import is read statically. The converted
//! DAGs validate and run with Airflow's results.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{lithoflow, private_home};

/// A DAGs folder of `.py` files, a home, and an output folder.
struct Folder {
    _dir: tempfile::TempDir,
    home: tempfile::TempDir,
    dags: PathBuf,
    out: PathBuf,
}

fn folder(files: &[(&str, &str)]) -> Folder {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let dags = dir.path().join("airflow_dags");
    for (name, text) in files {
        let p = dags.join(name);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("a folder");
        std::fs::write(p, text).expect("written");
    }
    let out = dir.path().join("dags");
    Folder {
        _dir: dir,
        home: private_home(),
        dags,
        out,
    }
}

impl Folder {
    /// `lithoflow migrate <dags> --out <out> ARGS`: exit code, stdout, stderr.
    fn migrate(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let o = lithoflow()
            .env("LITHOFLOW_HOME", self.home.path())
            .arg("migrate")
            .arg(&self.dags)
            .arg("--out")
            .arg(&self.out)
            .args(args)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("lithoflow runs");
        let strip = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .replace(&format!("{}/", self.dags.display()), "")
                .replace(&format!("{}/", self.out.display()), "out/")
        };
        (o.status.code(), strip(&o.stdout), strip(&o.stderr))
    }

    fn written(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name))
            .unwrap_or_else(|e| panic!("{name} was written ({e})"))
    }

    /// `lithoflow --dags-folder <out> ARGS -o json`: the run's document.
    fn dags_test(&self, dag_id: &str) -> Value {
        let o = lithoflow()
            .env("LITHOFLOW_HOME", self.home.path())
            .arg("--dags-folder")
            .arg(&self.out)
            .args(["dags", "test", dag_id, "-o", "json"])
            .timeout(Duration::from_secs(120))
            .output()
            .expect("lithoflow runs");
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "dags test prints JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
    }

    /// What `dags show DAG -o json` in `folder` says of the DAG's settings and tasks that
    /// a migrated DAG must keep: each task with its sorted upstream ids, and the schedule.
    fn shape(&self, folder: &std::path::Path, dag_id: &str) -> Value {
        let o = lithoflow()
            .env("LITHOFLOW_HOME", self.home.path())
            .arg("--dags-folder")
            .arg(folder)
            .args(["dags", "show", dag_id, "-o", "json"])
            .timeout(Duration::from_secs(120))
            .output()
            .expect("lithoflow runs");
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "dags show prints JSON ({e}): {}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
        let mut tasks: Vec<(String, Vec<String>)> = doc["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| {
                let mut up: Vec<String> = t["upstream"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect();
                up.sort();
                (t["task_id"].as_str().unwrap_or("").to_owned(), up)
            })
            .collect();
        tasks.sort();
        json!({
            "tasks": tasks,
            "schedule": doc["schedule"],
            "timetable": doc["timetable"],
            "start_date": doc["start_date"],
            "catchup": doc["catchup"],
            "max_active_runs": doc["max_active_runs"],
        })
    }

    fn validate(&self) -> (Option<i32>, String) {
        let o = lithoflow()
            .env("LITHOFLOW_HOME", self.home.path())
            .arg("--dags-folder")
            .arg(&self.out)
            .args(["dags", "validate"])
            .timeout(Duration::from_secs(120))
            .output()
            .expect("lithoflow runs");
        (
            o.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }
}

/// (task id, state, return value) of every task of a `dags test` run, by task id.
fn outcomes(run: &Value) -> Vec<(String, String, Value)> {
    let mut out: Vec<(String, String, Value)> = run["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            let id = match t["map_index"].as_i64() {
                Some(i) if i >= 0 => format!("{}[{i}]", t["task_id"].as_str().unwrap_or("")),
                _ => t["task_id"].as_str().unwrap_or("").to_owned(),
            };
            (
                id,
                t["state"].as_str().unwrap_or("").to_owned(),
                t["return_value"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A helper module in the DAG's folder, and a package below it.
const HELPERS: &str = "def regions():\n    return ['eu', 'us']\n\n\ndef extract(region):\n    return {'eu': 3, 'us': 4}[region]\n";
const UTIL: &str = "def total(values):\n    return sum(values)\n";

/// Factories, `globals()`, loops over a helper's value, a TaskGroup, mapping, default_args:
/// what the static reader cannot know.
const FACTORY: &str = r#"from datetime import datetime, timedelta

from airflow import DAG
from airflow.decorators import task
from airflow.operators.python import PythonOperator
from airflow.utils.task_group import TaskGroup

from helpers import extract, regions
from common.util import total

DEFAULTS = {"owner": "data", "retries": 1, "retry_delay": timedelta(minutes=1), "queue": "fast"}


def double(x):
    return 2 * x


@task
def combine(values):
    return sorted(values)


def build(name, factor):
    with DAG(
        f"sales_{name}",
        default_args=DEFAULTS,
        schedule="@daily",
        start_date=datetime(2026, 1, 1),
        catchup=False,
    ) as dag:
        with TaskGroup("extract"):
            pulls = [
                PythonOperator(task_id=r, python_callable=extract, op_args=[r])
                for r in regions()
            ]
        doubled = PythonOperator.partial(task_id="double", python_callable=double).expand(
            op_args=[[factor], [factor + 1]]
        )
        summed = PythonOperator(
            task_id="sum", python_callable=total, op_args=[[factor, factor]]
        )
        pulls >> summed
        combine(doubled.output) >> summed
    return dag


for name, factor in [("small", 1), ("large", 10)]:
    globals()[f"dag_{name}"] = build(name, factor)
"#;

#[test]
fn factories_loops_and_helpers_convert_through_the_loader_and_run() {
    let f = folder(&[
        ("sales.py", FACTORY),
        ("helpers.py", HELPERS),
        ("common/__init__.py", ""),
        ("common/util.py", UTIL),
    ]);
    let (code, stdout, stderr) = f.migrate(&[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "sales.py: note: loaded by running it on lithoflow's Airflow compatibility layer"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
    for line in [
        "wrote out/sales_small.toml (DAG `sales_small`, 5 task(s))",
        "wrote out/sales_large.toml (DAG `sales_large`, 5 task(s))",
        "wrote out/sales_tasks.py (functions moved from",
        "to out/helpers.py",
        "to out/common/util.py",
    ] {
        assert!(stdout.contains(line), "{line}\nin\n{stdout}");
    }
    // What the loader computed: the loop over a helper's value, the factory's ids and
    // arguments, the functions named where the workers find them.
    let small = f.written("sales_small.toml");
    for text in [
        "[tasks.\"extract.eu\"]",
        "[tasks.\"extract.us\"]",
        "python_callable = \"helpers:extract\"",
        "python_callable = \"common.util:total\"",
        "python_callable = \"sales_tasks:double\"",
        "python_callable = \"sales_tasks:combine\"",
        "expand = { op_args = [[1], [2]] }",
    ] {
        assert!(small.contains(text), "{text}\nin\n{small}");
    }
    assert!(
        f.written("sales_large.toml")
            .contains("op_args = [[10, 10]]")
    );
    assert!(
        stderr.contains("`queue` is dropped: lithoflow has no executor queues"),
        "{stderr}"
    );
    let (code, printed) = f.validate();
    assert_eq!(code, Some(0), "{printed}");
    // The TOML DAGs are the .py DAGs as lithoflow loads them: tasks, edges, schedule.
    for dag in ["sales_small", "sales_large"] {
        assert_eq!(f.shape(&f.out, dag), f.shape(&f.dags, dag), "{dag}");
    }

    // The converted DAG runs with Airflow's results.
    let run = f.dags_test("sales_small");
    assert_eq!(run["state"], "success", "{run}");
    assert_eq!(
        outcomes(&run),
        [
            ("combine".to_owned(), "success".to_owned(), json!([2, 4])),
            ("double[0]".to_owned(), "success".to_owned(), json!(2)),
            ("double[1]".to_owned(), "success".to_owned(), json!(4)),
            ("extract.eu".to_owned(), "success".to_owned(), json!(3)),
            ("extract.us".to_owned(), "success".to_owned(), json!(4)),
            ("sum".to_owned(), "success".to_owned(), json!(2)),
        ]
    );
}

/// What TOML cannot hold, one of each.
const HARD: &str = r#"from datetime import datetime

from airflow import DAG
from airflow.models import BaseOperator, Variable
from airflow.operators.python import PythonOperator

LIMIT = Variable.get("limit", default_var="5")


def make(n):
    def inner():
        return n
    return inner


class Shout(BaseOperator):
    def execute(self, context):
        return "hi"


with DAG("hard", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    lam = PythonOperator(task_id="lam", python_callable=lambda: 1)
    for i in range(2):
        PythonOperator(task_id=f"f{i}", python_callable=make(i))
    shout = Shout(task_id="shout")
    lam >> shout
"#;

/// A DAG beside it that converts whole: written even though the other is not.
const EASY: &str = r#"from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("easy", schedule=None) as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
"#;

#[test]
fn what_toml_cannot_hold_is_reported_and_that_dag_can_stay_py() {
    let f = folder(&[("hard.py", HARD), ("easy.py", EASY)]);
    let (code, stdout, stderr) = f.migrate(&[]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    for line in [
        "hard.py:7:1: error: `Variable.get",
        "hard.py:11:5: error: task `f0`: its `python_callable` is `make.inner` (line 11), a function defined inside a function",
        "hard.py:11:5: error: task `f1`: its `python_callable` is `make.inner` (line 11)",
        "hard.py:22:5: error: task `lam`: its `python_callable` is a lambda (line 22)",
        "hard.py:25:5: error: task `shout` is a custom operator `Shout`",
    ] {
        assert!(stderr.contains(line), "{line}\nin\n{stderr}");
    }
    assert!(
        stderr
            .lines()
            .filter(|l| l.contains(": error: "))
            .all(|l| l.contains("keep this DAG as .py")),
        "{stderr}"
    );
    assert!(stdout.contains("not written: DAG `hard` from"), "{stdout}");
    assert!(
        stdout.contains("wrote out/easy.toml (DAG `easy`, 1 task(s))"),
        "{stdout}"
    );
    assert!(!f.out.join("hard.toml").exists());

    // With --allow-partial it is written, each task without its callable an `empty`
    // placeholder keeping its dependencies; it validates.
    let (code, stdout, stderr) = f.migrate(&["--allow-partial"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let hard = f.written("hard.toml");
    assert!(!hard.contains("lithoflow_dagfile_"), "{hard}");
    assert!(
        hard.contains("[tasks.shout]\n# migrate: an `empty` placeholder"),
        "{hard}"
    );
    let (code, printed) = f.validate();
    assert_eq!(code, Some(0), "{printed}");

    // --airflow-version is the version of the files that do not import Airflow 3's
    // modules, in place of `[airflow] default_version` (2).
    assert!(f.written("easy.toml").contains("catchup = true"));
    let (_, stdout, stderr) = f.migrate(&["--airflow-version", "3"]);
    assert!(stdout.contains("wrote out/easy.toml"), "{stdout}\n{stderr}");
    let easy = f.written("easy.toml");
    assert!(easy.contains("with Airflow 3's defaults"), "{easy}");
    assert!(easy.contains("catchup = false"), "{easy}");
}

#[test]
fn a_file_the_loader_cannot_import_is_read_statically() {
    let text = "from airflow import DAG\nfrom airflow.operators.bash import BashOperator\nimport lithoflow_test_no_such_package\n\nwith DAG('offline', schedule=None) as dag:\n    BashOperator(task_id='b', bash_command='echo b')\n";
    let f = folder(&[("offline.py", text)]);
    let (code, stdout, stderr) = f.migrate(&[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("offline.py: note: read statically, without running it: the loader could not import it here (ModuleNotFoundError: No module named 'lithoflow_test_no_such_package'"),
        "{stderr}"
    );
    assert!(
        stdout.contains("wrote out/offline.toml (DAG `offline`, 1 task(s))"),
        "{stdout}"
    );

    // --static never runs the file: a file that would fail when run still converts.
    let boom = "from airflow import DAG\nfrom airflow.operators.bash import BashOperator\nraise SystemExit('ran')\n";
    let g = folder(&[("boom.py", boom), ("offline.py", text)]);
    let (_, _, stderr) = g.migrate(&["--static"]);
    assert!(!stderr.contains("note: loaded by running"), "{stderr}");
    assert!(
        !stderr.contains("read statically, without running it"),
        "{stderr}"
    );
}

/// TaskFlow functions defined inside a `@dag` function (Airflow 2's tutorial style).
const TASKFLOW: &str = r#"from datetime import datetime

from airflow.decorators import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def flow():
    @task
    def extract():
        return [1, 2, 3]

    @task
    def total(values):
        return sum(values)

    total(extract())


flow()
"#;

#[test]
fn taskflow_functions_inside_a_dag_function_move_and_run() {
    let f = folder(&[("flow.py", TASKFLOW)]);
    let (code, stdout, stderr) = f.migrate(&[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("wrote out/flow_tasks.py (functions moved from"),
        "{stdout}"
    );
    let toml = f.written("flow.toml");
    assert!(
        toml.contains("python_callable = \"flow_tasks:total\""),
        "{toml}"
    );
    let module = f.written("flow_tasks.py");
    assert!(
        module.contains("def extract():\n    return [1, 2, 3]"),
        "{module}"
    );
    let run = f.dags_test("flow");
    assert_eq!(run["state"], "success", "{run}");
    assert_eq!(
        outcomes(&run),
        [
            ("extract".to_owned(), "success".to_owned(), json!([1, 2, 3])),
            ("total".to_owned(), "success".to_owned(), json!(6)),
        ]
    );
}
