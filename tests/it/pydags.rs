//! Airflow DAG files (`.py`) loaded by lithoflow compared with what a real Airflow loads
//! from the same files: the corpus under `tests/fixtures/airflow_py/` and its goldens
//! (written by `scripts/airflow_golden.py` under Airflow 2.10.5 and 3.1.8). For every
//! file, `dags list` and `dags show` give Airflow's DAG ids, task ids (TaskGroup-prefixed),
//! edges and operator classes; files Airflow refuses and hostile files are import errors
//! with their file:line; plain helper modules are not DAG files; which Airflow version's
//! defaults apply; provider operators lithoflow lacks load, warn and fail when run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::Env;
use crate::repo_root;

/// The corpus folder.
pub(crate) fn corpus() -> PathBuf {
    repo_root().join("tests/fixtures/airflow_py")
}

/// Copies `from` into `to` recursively, leaving out the entries named in `skip` (at the
/// top level only) and `__pycache__`.
pub(crate) fn copy_tree(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if skip.contains(&name.as_str()) || name == "__pycache__" {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(&name), &[]);
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

/// A DAGs folder holding the corpus: every DAG file and helper module, without the goldens,
/// the hostile files and the README.
pub(crate) fn corpus_env() -> Env {
    let env = Env::new();
    copy_tree(
        &corpus(),
        env.dags.path(),
        &["golden", "hostile", "README.md"],
    );
    env
}

/// A DAGs folder holding only the named corpus files (and every helper module and folder).
pub(crate) fn corpus_subset(files: &[&str]) -> Env {
    let env = Env::new();
    copy_tree(
        &corpus(),
        env.dags.path(),
        &["golden", "hostile", "README.md"],
    );
    for entry in std::fs::read_dir(env.dags.path()).expect("read") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let dag_file = path.extension().is_some_and(|e| e == "py")
            && std::fs::read_to_string(&path).is_ok_and(|t| {
                let t = t.to_lowercase();
                t.contains("airflow") && t.contains("dag")
            });
        if dag_file && !files.contains(&name.as_str()) {
            std::fs::remove_file(&path).expect("remove");
        }
    }
    env
}

/// Every golden: (the DAG file's name, its golden document).
pub(crate) fn goldens() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(corpus().join("golden")).expect("goldens") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read golden"))
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((doc["file"].as_str().expect("file").to_owned(), doc));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 30, "the corpus has its goldens");
    out
}

/// The DAGs of the goldens, by DAG id: (file, the golden's DAG).
fn golden_dags() -> BTreeMap<String, (String, Value)> {
    let mut dags = BTreeMap::new();
    for (file, doc) in goldens() {
        for dag in doc["dags"].as_array().expect("dags") {
            let id = dag["dag_id"].as_str().expect("dag_id").to_owned();
            assert!(
                dags.insert(id.clone(), (file.clone(), dag.clone()))
                    .is_none(),
                "DAG id {id} twice in the corpus"
            );
        }
    }
    dags
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn edges(v: &Value) -> BTreeSet<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e[0].as_str()?.to_owned(), e[1].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The operator class `dags show -o json` gives a task of a `.py` DAG.
pub(crate) fn operator_class(task: &Value) -> Option<String> {
    match &task["operator"] {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("operator")
            .or_else(|| o.get("class"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// `dags show ID -o json` on this folder.
pub(crate) fn show(env: &Env, dag_id: &str) -> Result<Value, String> {
    let (code, out, err) = env.run(&["dags", "show", dag_id, "-o", "json"]);
    if code != 0 {
        return Err(format!("dags show {dag_id} exited {code}: {err}"));
    }
    serde_json::from_str(&out).map_err(|e| format!("dags show {dag_id}: not JSON ({e}): {out}"))
}

/// `dags list-import-errors -o json`: (file name, error text).
pub(crate) fn import_errors(env: &Env) -> BTreeMap<String, String> {
    let (_, out, err) = env.run(&["dags", "list-import-errors", "-o", "json"]);
    if out.trim().is_empty() || out.trim() == "No data found" {
        return BTreeMap::new();
    }
    let list: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            let path = e["filepath"].as_str().unwrap_or_default();
            let name = Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, e["error"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// The DAG ids `dags list -o json` gives.
pub(crate) fn listed(env: &Env) -> BTreeSet<String> {
    let list = env.json(&["dags", "list", "-o", "json"]);
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|d| d["dag_id"].as_str().map(str::to_owned))
        .collect()
}

/// What `dags show` gives for one golden DAG that differs from Airflow: task ids, edges,
/// operator classes.
fn compare_dag(file: &str, id: &str, dag: &Value, golden: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut tasks: Vec<String> = dag["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["task_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    tasks.sort();
    let want_tasks = strings(&golden["tasks"]);
    if tasks != want_tasks {
        problems.push(format!(
            "{file}: DAG {id}: task ids {tasks:?}, Airflow has {want_tasks:?}"
        ));
    }
    let got = edges(&dag["edges"]);
    let want = edges(&golden["edges"]);
    if got != want {
        problems.push(format!(
            "{file}: DAG {id}: edges lithoflow has and Airflow has not: {:?}; Airflow has and lithoflow has not: {:?}",
            got.difference(&want).collect::<Vec<_>>(),
            want.difference(&got).collect::<Vec<_>>()
        ));
    }
    for task in dag["tasks"].as_array().into_iter().flatten() {
        let task_id = task["task_id"].as_str().unwrap_or_default();
        let want = golden["operators"][task_id].as_str().unwrap_or("?");
        let got = operator_class(task);
        if got.as_deref() != Some(want) {
            problems.push(format!(
                "{file}: {id}.{task_id}: operator class {got:?}, Airflow's task_type is {want}"
            ));
        }
    }
    problems
}

#[test]
fn every_corpus_dag_loads_with_airflows_ids_edges_and_operator_classes() {
    // The whole corpus in one folder: the DAG ids listed, and no import error where
    // Airflow has none.
    let env = corpus_env();
    let expected = golden_dags();
    let listed = listed(&env);
    let mut problems = Vec::new();
    for (id, (file, _)) in &expected {
        if !listed.contains(id) {
            problems.push(format!("{file}: DAG {id} is not listed"));
        }
    }
    for id in &listed {
        if !expected.contains_key(id) {
            problems.push(format!("DAG {id} is listed but Airflow has no such DAG"));
        }
    }
    let errors = import_errors(&env);
    for (file, doc) in goldens() {
        if doc["import_error"].is_null() && errors.contains_key(&file) {
            problems.push(format!(
                "{file}: an import error where Airflow has none: {}",
                errors[&file]
            ));
        }
    }
    // Each file alone (with the helper modules) for `dags show` of its DAGs: one file to
    // import per command.
    for (file, doc) in goldens() {
        if !doc["import_error"].is_null() || doc["dags"].as_array().is_none_or(Vec::is_empty) {
            continue;
        }
        let alone = corpus_subset(&[file.as_str()]);
        for golden in doc["dags"].as_array().into_iter().flatten() {
            let id = golden["dag_id"].as_str().expect("dag_id");
            match show(&alone, id) {
                Ok(dag) => problems.extend(compare_dag(&file, id, &dag, golden)),
                Err(e) => problems.push(format!("{file}: {e}")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences from Airflow:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn files_airflow_refuses_are_import_errors_naming_the_exception() {
    let env = corpus_env();
    let errors = import_errors(&env);
    let listed = listed(&env);
    for (file, doc) in goldens() {
        let Some(kind) = doc["import_error"]["type"].as_str() else {
            continue;
        };
        let text = errors.get(&file).unwrap_or_else(|| {
            panic!("{file}: Airflow refuses it ({kind}); lithoflow has no import error: {errors:?}")
        });
        assert!(
            text.contains(&file),
            "{file}: the error names the file: {text}"
        );
        let stem = file.trim_end_matches(".py");
        assert!(!listed.contains(stem), "{file}: no DAG of it is listed");
    }
    // The exception's name as Airflow's DagBag gives it.
    assert!(
        errors["error_duplicate_task.py"].contains("DuplicateTaskIdFound")
            || errors["error_duplicate_task.py"].contains("same"),
        "{}",
        errors["error_duplicate_task.py"]
    );
    assert!(
        errors["error_cycle.py"].to_lowercase().contains("cycle"),
        "{}",
        errors["error_cycle.py"]
    );
}

#[test]
fn plain_modules_are_not_dag_files_and_load_python_false_turns_py_files_off() {
    let env = corpus_env();
    let errors = import_errors(&env);
    for helper in ["corpus_funcs.py", "lithops_funcs.py", "not_a_dag_helper.py"] {
        assert!(
            !errors.contains_key(helper),
            "{helper} is a plain module: {errors:?}"
        );
    }
    let (_, out, _) = env.run(&["dags", "validate", "-o", "json"]);
    let checked: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    for f in checked.as_array().into_iter().flatten() {
        let path = f["path"].as_str().unwrap_or_default();
        for helper in ["corpus_funcs.py", "lithops_funcs.py", "not_a_dag_helper.py"] {
            assert!(!path.ends_with(helper), "{helper} is not a DAG file: {f}");
        }
    }

    env.write_config("[dags]\nload_python = false\n");
    env.write(
        "plain.toml",
        "is_paused_upon_creation = false\n\n[tasks.a]\ntype = \"bash\"\nbash_command = \"echo a\"\n",
    );
    let listed = listed(&env);
    assert_eq!(
        listed,
        BTreeSet::from(["plain".to_owned()]),
        "with load_python = false only TOML DAGs load"
    );
    assert!(import_errors(&env).is_empty());
}

#[test]
fn airflow3_files_get_airflow3_defaults_and_the_others_the_configured_version() {
    let env = corpus_subset(&["af3_sdk_dag.py", "schedules_timetables.py"]);
    // Airflow 3 file: no schedule given means manual, catchup false.
    let af3 = show(&env, "af3_sdk_dag").expect("af3_sdk_dag loads");
    assert!(af3["schedule"].is_null(), "Airflow 3: no schedule: {af3}");
    assert_eq!(af3["catchup"], false);
    assert_eq!(af3["python"]["airflow_version"], 3, "{}", af3["python"]);
    assert!(
        af3["python"]["version_reason"]
            .as_str()
            .is_some_and(|r| r.contains("airflow.sdk") || r.contains("providers.standard")),
        "{}",
        af3["python"]
    );
    // Airflow 2 file with Airflow 2 defaults: a daily schedule, catchup true (the golden's
    // `schedule` is "1 day, 0:00:00", `catchup` true).
    let golden = golden_dags();
    assert_eq!(golden["sched_default"].1["catchup"], true);
    let af2 = show(&env, "sched_default").expect("sched_default loads");
    assert!(!af2["schedule"].is_null(), "Airflow 2: one day: {af2}");
    assert_eq!(af2["catchup"], true);
    assert_eq!(af2["python"]["airflow_version"], 2);
    // An explicit catchup stays what the file says.
    assert_eq!(show(&env, "sched_cron").expect("loads")["catchup"], false);

    // `[airflow] default_version = 3` gives a file that does not say Airflow 3's defaults,
    // and Airflow 3's refusals: schedules_timetables.py passes `schedule_interval`, which
    // Airflow 3 removed, so the whole file is an import error there.
    env.write(
        "plain_default.py",
        "from datetime import datetime\n\nfrom airflow import DAG\nfrom airflow.operators.empty import EmptyOperator\n\nwith DAG(\"plain_default\", start_date=datetime(2026, 1, 1)):\n    EmptyOperator(task_id=\"noop\")\n",
    );
    let as2 = show(&env, "plain_default").expect("plain_default loads");
    assert!(!as2["schedule"].is_null(), "{as2}");
    assert_eq!(as2["catchup"], true);
    env.write_config("[airflow]\ndefault_version = 3\n");
    let as3 = show(&env, "plain_default").expect("plain_default loads");
    assert!(as3["schedule"].is_null(), "{as3}");
    assert_eq!(as3["catchup"], false);
    assert_eq!(as3["python"]["airflow_version"], 3);
    let errors = import_errors(&env);
    assert!(
        errors
            .get("schedules_timetables.py")
            .is_some_and(|e| e.contains("schedule_interval")),
        "Airflow 3 has no schedule_interval: {errors:?}"
    );
}

#[test]
fn provider_operators_lithoflow_lacks_load_warn_with_file_line_and_fail_when_run() {
    let env = corpus_subset(&["providers_unsupported.py"]);
    let dag = show(&env, "providers_unsupported").expect("loads");
    let bq = dag["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task_id"] == "bq_aggregate"))
        .expect("bq_aggregate")
        .clone();
    assert_eq!(
        operator_class(&bq).as_deref(),
        Some("BigQueryInsertJobOperator")
    );
    assert!(
        bq.to_string()
            .contains("airflow.providers.google.cloud.operators.bigquery"),
        "the module is kept: {bq}"
    );

    let (_, out, err) = env.run(&["dags", "validate"]);
    let text = format!("{out}{err}");
    let line = source_line(
        &env.dags.path().join("providers_unsupported.py"),
        "bq = BigQueryInsertJobOperator(",
    );
    assert!(
        text.contains(&format!("providers_unsupported.py:{line}"))
            && text.contains("BigQueryInsertJobOperator"),
        "validate warns at the task's line {line}:\n{text}"
    );

    let (code, out, err) = env.run(&["dags", "test", "providers_unsupported", "-o", "json"]);
    assert_eq!(code, 1, "the run fails: {out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let ti = |id: &str| {
        doc["tasks"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["task_id"] == id))
            .unwrap_or_else(|| panic!("no {id} in {doc}"))
            .clone()
    };
    assert_eq!(ti("prepare")["state"], "success", "{doc}");
    let failed = ti("bq_aggregate");
    assert_eq!(failed["state"], "failed", "{doc}");
    assert_eq!(failed["try_number"], 1, "no retry: {failed}");
    let message = failed["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("BigQueryInsertJobOperator")
            && message.contains("lithoflow does not implement"),
        "the error names the operator: {failed}"
    );
    assert_eq!(ti("sql_check")["state"], "upstream_failed", "{doc}");
}

/// The 1-based line of the first line of `file` containing `needle`.
pub(crate) fn source_line(file: &Path, needle: &str) -> usize {
    std::fs::read_to_string(file)
        .expect("read")
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} in {}", file.display()))
        + 1
}

/// Each hostile file's name and the line its import error must name (None: a crash with
/// no Python frame to name).
pub(crate) const HOSTILE: [(&str, Option<&str>); 5] = [
    ("syntax_error.py", Some("def broken(:")),
    ("missing_provider.py", Some("from airflow.providers.acme")),
    ("big_alloc.py", Some("BLOB = bytearray")),
    ("infinite_loop.py", Some("")),
    ("hard_exit.py", None),
];

/// A DAGs folder with the hostile files, one good `.py` DAG and one TOML DAG.
pub(crate) fn hostile_env() -> Env {
    let env = Env::new();
    // The infinite loop ends at the import time limit: 8 s rather than Airflow's 30 (ample
    // for the other files even on a busy machine; they import in milliseconds).
    env.write_config("[dags]\ndagbag_import_timeout = 8\n");
    copy_tree(&corpus().join("hostile"), env.dags.path(), &[]);
    for f in ["af2_classic_etl.py", "corpus_funcs.py"] {
        std::fs::copy(corpus().join(f), env.dags.path().join(f)).expect("copy");
    }
    env.write(
        "toml_beside.toml",
        "is_paused_upon_creation = false\n\n[tasks.hello]\ntype = \"bash\"\nbash_command = \"echo toml\"\n",
    );
    env
}

/// Checks `dags list-import-errors` of a hostile folder: each hostile file is an import
/// error naming its file (and line), the printing file and the good DAGs load.
pub(crate) fn check_hostile_errors(env: &Env, errors: &BTreeMap<String, String>) {
    for (file, line_of) in HOSTILE {
        let text = errors
            .get(file)
            .unwrap_or_else(|| panic!("{file} is an import error: {errors:?}"));
        match line_of {
            Some("") => assert!(
                text.contains(file) && text.to_lowercase().contains("timeout"),
                "{file}: a timeout naming the file: {text}"
            ),
            Some(needle) => {
                let line = source_line(&env.dags.path().join(file), needle);
                assert!(
                    text.contains(&format!("{file}:{line}")),
                    "{file}: the error names {file}:{line}: {text}"
                );
            }
            None => assert!(text.contains(file), "{file}: {text}"),
        }
    }
    assert!(
        errors["syntax_error.py"].contains("SyntaxError"),
        "{}",
        errors["syntax_error.py"]
    );
    assert!(
        errors["missing_provider.py"].contains("ModuleNotFoundError")
            || errors["missing_provider.py"].contains("No module named"),
        "{}",
        errors["missing_provider.py"]
    );
    assert!(
        !errors.contains_key("prints_stdout.py"),
        "printing is not an error: {errors:?}"
    );
    assert_eq!(errors.len(), HOSTILE.len(), "{errors:?}");
}

#[test]
fn hostile_files_are_import_errors_with_file_and_line_and_the_rest_loads() {
    let env = hostile_env();
    let errors = import_errors(&env);
    check_hostile_errors(&env, &errors);
    let listed = listed(&env);
    for id in ["af2_classic_etl", "toml_beside", "hostile_prints"] {
        assert!(listed.contains(id), "{id} loads: {listed:?}");
    }
    let prints = show(&env, "hostile_prints").expect("hostile_prints loads");
    assert_eq!(prints["tasks"][0]["task_id"], "talk");
}

#[test]
fn every_dag_file_of_the_corpus_has_a_golden_from_real_airflow() {
    let have: BTreeSet<String> = goldens().into_iter().map(|(f, _)| f).collect();
    for entry in std::fs::read_dir(corpus()).expect("corpus") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .to_lowercase();
        if name.ends_with(".py") && text.contains("airflow") && text.contains("dag") {
            assert!(
                have.contains(&name),
                "{name} has no golden: run scripts/airflow_golden.py under Airflow (tests/fixtures/airflow_py/README.md)"
            );
        }
    }
    for (file, doc) in goldens() {
        assert!(
            corpus().join(&file).is_file(),
            "a golden without its file: {file}"
        );
        let version = doc["airflow"].as_str().unwrap_or_default();
        assert!(
            version.starts_with("2.10.") || version.starts_with("3."),
            "{file}: written by Airflow {version}"
        );
    }
}
