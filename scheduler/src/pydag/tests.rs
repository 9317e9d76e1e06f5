//! The loader pool against a stand-in loader that speaks the protocol (and misbehaves on
//! demand), and descriptions turned into DAGs with their diagnostics on the `.py` lines.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::dagbag::DagBag;

/// A loader that answers each file with the JSON on its `#RESULT ` line; `#DIE` exits
/// mid-request, `#DIE-ONCE` does so the first time only, `#HANG` never answers, and
/// `#LOOKUP what key` asks the scheduler first and returns the answers under `lookups`;
/// `#MODULE name` reports the file `name` beside it as an imported module.
const STAND_IN: &str = r##"
import json, os, sys, time
def send(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()
send({"op": "ready", "version": 1})
while True:
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    if req.get("op") == "shutdown":
        break
    rid, path = req["id"], req["path"]
    text = open(path).read()
    if "#DIE-ONCE" in text:
        flag = path + ".died"
        if not os.path.exists(flag):
            open(flag, "w").close()
            os._exit(3)
    elif "#DIE" in text:
        os._exit(3)
    if "#HANG" in text:
        time.sleep(3600)
    res = {"ok": True, "dags": []}
    lookups = {}
    for l in text.splitlines():
        if l.startswith("#LOOKUP "):
            what, key = l.split()[1:3]
            send({"id": rid, "op": "lookup", "what": what, "key": key})
            lookups[key] = json.loads(sys.stdin.readline())
        if l.startswith("#RESULT "):
            res = json.loads(l[len("#RESULT "):])
    for l in text.splitlines():
        if l.startswith("#MODULE "):
            m = os.path.join(os.path.dirname(path), l.split()[1])
            res.setdefault("modules", []).append({"path": m, "mtime_ns": os.stat(m).st_mtime_ns})
    res.update({"id": rid, "op": "result", "env": sorted(os.environ), "cwd": os.getcwd(), "request": req})
    res.setdefault("modules", [])
    res["lookups"] = lookups
    send(res)
"##;

struct Lookups;

impl Lookup for Lookups {
    fn variable(&self, key: &str) -> Result<Option<String>, String> {
        Ok((key == "bucket").then(|| "my-bucket".to_owned()))
    }
    fn connection(&self, conn_id: &str) -> Result<Option<Value>, String> {
        Ok((conn_id == "db").then(|| json!({"conn_id": "db", "host": "h"})))
    }
}

pub(crate) struct Setup {
    _dir: tempfile::TempDir,
    pub(crate) dags: PathBuf,
    pub(crate) pool: LoaderPool,
}

/// A pool of stand-in loaders over a fresh DAGs folder.
pub(crate) fn setup(processes: usize, timeout: Duration) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let compat = dir.path().join("compat");
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&compat).expect("mkdir");
    std::fs::create_dir_all(&dags).expect("mkdir");
    std::fs::write(compat.join("lithoflow_loader.py"), STAND_IN).expect("write");
    let pool = LoaderPool::new(
        LoaderConfig {
            python: "python3".to_owned(),
            compat: Compat::Folder(compat),
            dags_folder: dags.clone(),
            processes,
            default_version: 2,
            timeout,
            memory_mb: 512,
        },
        Arc::new(Lookups),
    );
    Setup {
        _dir: dir,
        dags,
        pool,
    }
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// A `.py` file whose loader answer is `result` (the line numbers below count from the
/// first line of this text).
pub(crate) fn py(result: &Value) -> String {
    format!(
        "# an airflow DAG file\nfrom airflow import DAG\n\nwith DAG('etl') as dag:\n    a = op()\n    b = op()\n#RESULT {result}\n"
    )
}

pub(crate) fn etl(tasks: Value) -> Value {
    json!({"ok": true, "modules": [], "dags": [{
        "dag_id": "etl", "line": 4, "airflow_version": 2,
        "version_reason": "the file does not import airflow.sdk: [airflow] default_version = 2",
        "toml": {
            "dag_id": "etl", "schedule": "1d", "catchup": true,
            "start_date": {"$datetime": "2024-01-01T00:00:00+00:00"},
            "timetable": "cron_data_interval",
            "tasks": tasks,
        },
        "tasks": {
            "a": {"line": 5, "operator": "PythonOperator", "operator_module": "airflow.operators.python", "unsupported": false, "custom": false, "ignored": [{"name": "queue", "line": 5}]},
            "b": {"line": 6, "operator": "BigQueryInsertJobOperator", "operator_module": "airflow.providers.google.cloud.operators.bigquery", "unsupported": true, "custom": false, "ignored": []},
        },
        "ignored": [{"name": "access_control", "line": 4}],
        "parse_time": [{"what": "Variable.get('bucket')", "line": 3}],
        "findings": [],
    }]})
}

pub(crate) fn two_tasks() -> Value {
    json!({
        "a": {"type": "python", "python_callable": "lithoflow_dagfile_78:t_a", "op_kwargs": {"s": "q\"uo\nte"}},
        "b": {"type": "python", "python_callable": "lithoflow_dagfile_78:t_b", "upstream": ["a"]},
    })
}

#[test]
fn the_safe_mode_rule_needs_both_words_in_any_case() {
    assert!(is_dag_file(b"from AIRFLOW import models\nmy_Dag = 1"));
    assert!(!is_dag_file(b"import airflow\n"));
    assert!(!is_dag_file(b"def dag(): pass\n"));
}

#[test]
fn a_description_becomes_a_dag_with_its_operators_and_a_warning_for_the_unsupported_one() {
    let s = setup(1, Duration::from_secs(30));
    let path = write(&s.dags, "etl.py", &py(&etl(two_tasks())));
    let r = load_file(
        &path,
        &lithoflow_dag::LoadOptions::default(),
        &s.pool,
        false,
    )
    .expect("a DAG file");
    assert!(!r.has_errors(), "{:?}", r.diagnostics);
    assert_eq!(r.dags[0].python.as_ref().map(|p| p.sys_path.len()), Some(2));
    let dag = r.dag().expect("one DAG");
    assert_eq!(dag.dag_id, "etl");
    assert_eq!(dag.fileloc, path);
    assert!(dag.catchup);
    assert_eq!(dag.graph.upstream("b"), vec!["a".to_owned()]);
    let info = dag.python.as_ref().expect("python info");
    assert_eq!((info.line, info.airflow_version), (4, 2));
    assert_eq!(info.ignored[0].name, "access_control");
    let a = dag.task("a").expect("a");
    let op = a.operator.as_ref().expect("operator");
    assert_eq!((op.operator.as_str(), op.line), ("PythonOperator", 5));
    let p = a.python().expect("python task");
    assert_eq!(p.op_kwargs["s"], json!("q\"uo\nte"));
    // The unsupported operator is a warning at its line, naming DAG and task.
    let w: Vec<String> = r.diagnostics.iter().map(|d| d.headline()).collect();
    assert_eq!(
        w,
        vec![format!(
            "{}:6:5: warning: DAG `etl`, task `b`: BigQueryInsertJobOperator (from airflow.providers.google.cloud.operators.bigquery) is a provider operator lithoflow does not implement; running this task fails: keep the DAG on Airflow or replace the task",
            path.display()
        )]
    );
}

#[test]
fn validation_errors_point_at_the_task_line_in_the_py_file() {
    let s = setup(1, Duration::from_secs(30));
    let tasks = json!({
        "a": {"type": "python", "python_callable": "m:f", "trigger_rule": "all_sucess"},
        "b": {"type": "python", "python_callable": "m:g", "upstream": ["nope"]},
    });
    let path = write(&s.dags, "etl.py", &py(&etl(tasks)));
    let r = load_file(
        &path,
        &lithoflow_dag::LoadOptions::default(),
        &s.pool,
        false,
    )
    .expect("a DAG file");
    assert!(r.dags.is_empty());
    let errors: Vec<String> = r
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.headline())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let at = |line: usize, task: &str| {
        format!(
            "{}:{line}:5: error: DAG `etl`, task `{task}`: ",
            path.display()
        )
    };
    assert!(errors[0].starts_with(&at(5, "a")), "{errors:?}");
    assert!(errors[0].contains("all_sucess"), "{errors:?}");
    assert!(errors[1].starts_with(&at(6, "b")), "{errors:?}");
    assert!(errors[1].contains("nope"), "{errors:?}");
}

#[test]
fn an_import_error_is_at_the_traceback_line_with_the_exception_and_traceback() {
    let s = setup(1, Duration::from_secs(30));
    let tb = "Traceback (most recent call last):\n  File \"x.py\", line 5, in <module>\n    a = 1/0\nZeroDivisionError: division by zero";
    let answer = json!({"ok": false, "modules": [], "error": {
        "kind": "exception", "type": "ZeroDivisionError", "message": "division by zero",
        "file": s.dags.join("etl.py"), "line": 5, "traceback": tb}});
    let path = write(&s.dags, "etl.py", &py(&answer));
    let bag = DagBag::load_folder_py(
        &s.dags,
        &lithoflow_dag::LoadOptions::default(),
        Some(&s.pool),
    )
    .expect("readable");
    let errors = bag.import_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].filepath, path);
    assert!(
        errors[0].error.starts_with(&format!(
            "{}:5:5: error: ZeroDivisionError: division by zero\nTraceback",
            path.display()
        )),
        "{}",
        errors[0].error
    );
    // Raised in lithoflow's own package after the file ran (a cycle): the DAG file is
    // named, without a line in the package.
    let pkg = s
        .dags
        .join("home/compat-0123/airflow/_lithoflow/describe.py");
    std::fs::create_dir_all(pkg.parent().expect("parent")).expect("mkdir");
    write(&s.dags.join("home/compat-0123"), "lithoflow_loader.py", "");
    let tb = format!(
        "Traceback (most recent call last):\n  File \"{}\", line 9, in check\nairflow.exceptions.AirflowDagCycleException: Cycle detected in DAG: etl. Faulty task: a",
        pkg.display()
    );
    let answer = json!({"ok": false, "error": {"kind": "exception", "type": "AirflowDagCycleException",
        "message": "Cycle detected in DAG: etl. Faulty task: a", "file": pkg, "line": 9, "traceback": tb}});
    write(&s.dags, "etl.py", &py(&answer));
    let r = load_file(
        &path,
        &lithoflow_dag::LoadOptions::default(),
        &s.pool,
        false,
    )
    .expect("a DAG file");
    assert_eq!(
        r.diagnostics[0].headline(),
        format!(
            "{}: error: AirflowDagCycleException: Cycle detected in DAG: etl. Faulty task: a\nTraceback (most recent call last):\n  File \"{}\", line 9, in check",
            path.display(),
            pkg.display()
        )
    );
    // A syntax error's column is kept.
    let answer = json!({"ok": false, "error": {"kind": "syntax", "type": "SyntaxError",
        "message": "invalid syntax", "file": path, "line": 4, "column": 9}});
    write(&s.dags, "etl.py", &py(&answer));
    let r = load_file(
        &path,
        &lithoflow_dag::LoadOptions::default(),
        &s.pool,
        false,
    )
    .expect("a DAG file");
    assert_eq!(
        r.diagnostics[0].headline(),
        format!("{}:4:9: error: SyntaxError: invalid syntax", path.display())
    );
}

#[test]
fn plain_modules_are_not_loaded_and_the_loader_gets_no_secrets() {
    let s = setup(1, Duration::from_secs(30));
    write(&s.dags, "helpers.py", "def f():\n    return 1\n");
    write(&s.dags, "etl.py", &py(&etl(two_tasks())));
    let bag = DagBag::load_folder_py(
        &s.dags,
        &lithoflow_dag::LoadOptions::default(),
        Some(&s.pool),
    )
    .expect("readable");
    assert_eq!(bag.files.len(), 1);
    assert_eq!(bag.dags().len(), 1);
    // Without a pool, .py files are not even listed.
    let bag = DagBag::load_folder(&s.dags).expect("readable");
    assert!(bag.files.is_empty());
    let answer = s.pool.load(&s.dags.join("etl.py")).expect("answer");
    let env: Vec<&str> = answer["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // cargo gives tests its CARGO_* variables: none reaches the loader, nor anything
    // credential-like (the interpreter's own launcher may add its PYENV_*, PWD, SHLVL).
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    for name in &env {
        assert!(
            !name.starts_with("CARGO")
                && !name.starts_with("LITHOFLOW")
                && !name.starts_with("AIRFLOW")
                && !name.starts_with("AWS")
                && (*name == "PWD" || !lithoflow_dag::redact::is_secret_name(name)),
            "{name} leaked into the loader: {env:?}"
        );
    }
    assert_eq!(answer["cwd"], json!(s.dags));
    assert_eq!(answer["request"]["default_version"], json!(2));
}

#[test]
fn parse_time_lookups_are_answered_from_the_scheduler() {
    let s = setup(1, Duration::from_secs(30));
    let path = write(
        &s.dags,
        "l.py",
        "# airflow dag\n#LOOKUP variable bucket\n#LOOKUP variable missing\n#LOOKUP connection db\n",
    );
    let answer = s.pool.load(&path).expect("answer");
    assert_eq!(
        answer["lookups"],
        json!({
            "bucket": {"id": answer["id"], "op": "answer", "found": true, "value": "my-bucket"},
            "missing": {"id": answer["id"], "op": "answer", "found": false},
            "db": {"id": answer["id"], "op": "answer", "found": true, "value": {"conn_id": "db", "host": "h"}},
        })
    );
}

#[test]
fn a_loader_that_dies_mid_request_is_replaced_and_the_file_tried_once_more() {
    let s = setup(2, Duration::from_secs(30));
    let good = write(&s.dags, "good.py", &py(&etl(two_tasks())));
    let once = write(
        &s.dags,
        "once.py",
        &format!("#DIE-ONCE\n{}", py(&etl(two_tasks()))),
    );
    let always = write(&s.dags, "always.py", "# airflow dag\n#DIE\n");
    let options = lithoflow_dag::LoadOptions::default();
    // Dies the first time: the retry on a fresh process answers.
    let r = load_file(&once, &options, &s.pool, false).expect("a DAG file");
    assert_eq!(r.dags.len(), 1, "{:?}", r.diagnostics);
    // Dies every time: the file's error, and the pool still serves other files.
    let r = load_file(&always, &options, &s.pool, false).expect("a DAG file");
    assert_eq!(
        r.diagnostics[0].headline(),
        format!(
            "{}: error: the DAG-file loader process died while loading the file",
            always.display()
        )
    );
    for _ in 0..3 {
        let r = load_file(&good, &options, &s.pool, false).expect("a DAG file");
        assert_eq!(r.dags.len(), 1);
    }
}

#[test]
fn a_loader_that_hangs_is_killed_at_the_backstop() {
    let s = setup(1, Duration::from_millis(400));
    let hang = write(&s.dags, "hang.py", "# airflow dag\n#HANG\n");
    let good = write(&s.dags, "good.py", &py(&etl(two_tasks())));
    let err = s.pool.load(&hang).expect_err("hangs");
    assert!(matches!(err, pool::LoaderError::Hung(_)), "{err}");
    assert_eq!(s.pool.load(&good).expect("answers")["ok"], json!(true));
}

#[test]
fn many_files_load_on_every_process() {
    let s = setup(2, Duration::from_secs(30));
    for i in 0..40 {
        let mut desc = etl(two_tasks());
        desc["dags"][0]["dag_id"] = json!(format!("etl_{i}"));
        desc["dags"][0]["toml"]["dag_id"] = json!(format!("etl_{i}"));
        write(&s.dags, &format!("f{i:02}.py"), &py(&desc));
    }
    write(
        &s.dags,
        "t.toml",
        "[tasks.t]\ntype = \"call_async\"\nfunc = \"m:f\"\n",
    );
    let bag = DagBag::load_folder_py(
        &s.dags,
        &lithoflow_dag::LoadOptions::default(),
        Some(&s.pool),
    )
    .expect("readable");
    assert_eq!(bag.dags().len(), 41);
    assert!(bag.import_errors().is_empty());
}

#[test]
fn a_duplicate_dag_id_in_another_py_file_fails_at_the_dag_line() {
    let s = setup(1, Duration::from_secs(30));
    write(&s.dags, "a.py", &py(&etl(two_tasks())));
    let b = write(&s.dags, "b.py", &py(&etl(two_tasks())));
    let bag = DagBag::load_folder_py(
        &s.dags,
        &lithoflow_dag::LoadOptions::default(),
        Some(&s.pool),
    )
    .expect("readable");
    let errors = bag.import_errors();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].error.starts_with(&format!(
            "{}:4:1: error: dag_id `etl` is already defined in",
            b.display()
        )),
        "{}",
        errors[0].error
    );
}

#[test]
fn values_toml_cannot_hold_are_errors_at_the_task_line() {
    let s = setup(1, Duration::from_secs(30));
    let tasks = json!({
        "a": {"type": "python", "python_callable": "m:f", "op_args": [1, null]},
        "b": {"type": "python", "python_callable": "m:g"},
    });
    let path = write(&s.dags, "etl.py", &py(&etl(tasks)));
    let r = load_file(
        &path,
        &lithoflow_dag::LoadOptions::default(),
        &s.pool,
        false,
    )
    .expect("a DAG file");
    assert!(r.dags.is_empty());
    assert_eq!(
        r.diagnostics[0].headline(),
        format!(
            "{}:5:5: error: DAG `etl`, task `a`: `op_args[1]` cannot be given to lithoflow: None has no TOML form (TOML has no null)",
            path.display()
        )
    );
}

#[test]
fn tasks_of_a_py_dag_import_the_compat_package_first_and_ship_it_to_lambda() {
    let s = setup(1, Duration::from_secs(30));
    let path = write(&s.dags, "etl.py", &py(&etl(two_tasks())));
    let r = load_file(
        &path,
        &lithoflow_dag::LoadOptions::default(),
        &s.pool,
        false,
    )
    .expect("a DAG file");
    let mut dag = r.dags[0].clone();
    // The real package, as a scheduler installs it.
    let home = tempfile::tempdir().expect("tempdir");
    let compat = lithoflow_executor::compat::install(home.path()).expect("installed");
    if let Some(py) = &mut dag.python {
        py.sys_path = vec![compat.clone(), s.dags.clone()];
    }
    let sys_path = crate::taskrun::dag_sys_path(&dag);
    assert_eq!(sys_path, vec![compat, s.dags.clone()]);
    // The Lambda module archive holds the package (first on sys.path, so its `airflow`
    // wins) and the DAG file.
    #[cfg(feature = "aws")]
    {
        let zip = lithoflow_executor::aws::deploy::modules_zip(&sys_path, &[], &[])
            .expect("zipped")
            .expect("not empty");
        for name in ["airflow/__init__.py", "lithoflow_dagfiles.py", "etl.py"] {
            assert!(
                zip.files.iter().any(|f| f == name),
                "{name}: {:?}",
                zip.files
            );
        }
    }
    // A TOML DAG keeps its own folder alone.
    let toml = write(
        &s.dags,
        "t.toml",
        "[tasks.t]\ntype = \"call_async\"\nfunc = \"m:f\"\n",
    );
    let t = crate::dagbag::load_file(&toml);
    assert_eq!(
        crate::taskrun::dag_sys_path(t.dag().expect("valid")),
        vec![s.dags.clone()]
    );
}

#[test]
fn an_unsupported_operator_fails_at_once_without_retries() {
    let s = setup(1, Duration::from_secs(30));
    let path = write(&s.dags, "etl.py", &py(&etl(two_tasks())));
    let r = load_file(
        &path,
        &lithoflow_dag::LoadOptions::default(),
        &s.pool,
        false,
    )
    .expect("a DAG file");
    let dag = &r.dags[0];
    assert!(crate::taskrun::unsupported(dag.task("a").expect("a")).is_none());
    let e = crate::taskrun::unsupported(dag.task("b").expect("b")).expect("unsupported");
    assert!(e.no_retry());
    assert_eq!(
        e.to_string(),
        "BigQueryInsertJobOperator (from airflow.providers.google.cloud.operators.bigquery) is a provider operator lithoflow does not implement; this DAG needs it: keep the DAG on Airflow or replace the task"
    );
}

#[test]
fn airflowignore_patterns_skip_files_and_folders_below_them() {
    let s = setup(1, Duration::from_secs(30));
    let toml = "[tasks.t]\ntype = \"call_async\"\nfunc = \"m:f\"\n";
    write(
        &s.dags,
        ".airflowignore",
        "# comment\nskip_.*   # trailing comment\n^old/\n",
    );
    write(&s.dags, "keep.toml", toml);
    write(&s.dags, "skip_me.toml", toml);
    write(&s.dags, "skip_me.py", &py(&etl(two_tasks())));
    for sub in ["old", "team"] {
        std::fs::create_dir_all(s.dags.join(sub)).expect("mkdir");
        write(&s.dags.join(sub), "x.toml", toml);
    }
    // A nested file adds rules for its own folder.
    write(&s.dags.join("team"), ".airflowignore", "team/y\n");
    write(&s.dags.join("team"), "y.toml", toml);
    let names = |python: bool| -> Vec<String> {
        crate::dagbag::dag_files(&s.dags, python)
            .expect("readable")
            .iter()
            .map(|p| {
                p.strip_prefix(&s.dags)
                    .expect("inside")
                    .display()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names(true), vec!["keep.toml", "team/x.toml"]);
    std::fs::remove_file(s.dags.join(".airflowignore")).expect("rm");
    assert_eq!(
        names(true),
        vec![
            "keep.toml",
            "old/x.toml",
            "skip_me.py",
            "skip_me.toml",
            "team/x.toml"
        ]
    );
}
