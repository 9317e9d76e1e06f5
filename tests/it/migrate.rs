//! `lithoflow migrate` on a corpus of Airflow DAG files (`tests/fixtures/airflow/`): each
//! file's conversion (the TOML files, the generated module and the report) is a snapshot;
//! every DAG that converts whole validates with lithoflow's own parser; and the DAGs whose
//! functions are in the fixtures run with `lithoflow dags test` to the task states and
//! return values Airflow gives them (worked out from Airflow's semantics and written in
//! each test).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lithoflow_migrate::{
    self as migrate, AirflowVersion, ConvertOptions, FileConversion, MigrateArgs,
};
use serde_json::{Value, json};

use crate::lithoflow;

/// The files written for Airflow 3 (airflow.sdk, the standard provider); the rest rely on
/// Airflow 2's defaults, the plugin's era.
const AIRFLOW3_FILES: &[&str] = &[
    "example_branch_decorator.py",
    "example_taskflow_data_passing.py",
    "example_schedules_airflow3.py",
    "example_asset_schedule.py",
    "example_runtime2_airflow3.py",
];

/// The time `days_ago` and `now()` are evaluated at, so the snapshots do not move.
const NOW: &str = "2026-11-28T10:00:00Z";

fn corpus() -> PathBuf {
    Path::new("fixtures").join("airflow")
}

fn version_of(file: &str) -> AirflowVersion {
    if AIRFLOW3_FILES.contains(&file) {
        AirflowVersion::V3
    } else {
        AirflowVersion::V2
    }
}

fn options(file: &str) -> ConvertOptions {
    ConvertOptions {
        airflow_version: version_of(file),
        now: NOW.parse().expect("a valid time"),
    }
}

/// Airflow's own test for a DAG file: it mentions both words.
fn is_dag_file(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("airflow") && lower.contains("dag")
}

/// The Airflow DAG files of the corpus, by path relative to `tests/`, with their text.
fn dag_files() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(corpus()).expect("the corpus folder") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "py") {
            let text = std::fs::read_to_string(&path).expect("readable");
            if is_dag_file(&text) {
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

fn convert(path: &Path, text: &str) -> FileConversion {
    migrate::convert_file(path, text, &options(&file_name(path)))
}

/// A conversion as text: each TOML file, the generated module, the report.
fn render(conv: &FileConversion) -> String {
    let mut s = String::new();
    for d in &conv.dags {
        let gaps = if d.errors > 0 {
            format!(" ({} untranslated)", d.errors)
        } else {
            String::new()
        };
        let _ = writeln!(s, "──── {}.toml{gaps} ────", d.dag_id);
        s.push_str(&d.toml);
    }
    if let Some(m) = &conv.module {
        let _ = writeln!(s, "──── {}.py ────", m.name);
        s.push_str(&m.text);
    }
    let _ = writeln!(s, "──── report ────");
    for d in &conv.diagnostics {
        let _ = writeln!(s, "{}", d.headline());
    }
    s
}

#[test]
fn every_airflow_dag_file_converts_as_snapshotted() {
    let mut count = 0;
    insta::glob!("../fixtures/airflow", "*.py", |path| {
        let text = std::fs::read_to_string(path).expect("readable");
        if !is_dag_file(&text) {
            return; // a function module
        }
        count += 1;
        let relative = corpus().join(file_name(path));
        let conv = convert(&relative, &text);
        assert!(!conv.dags.is_empty() || conv.diagnostics.iter().any(|d| d.is_error()));
        insta::assert_snapshot!(render(&conv));
    });
    assert!(
        count >= 25,
        "expected at least 25 Airflow DAG files, found {count}"
    );
}

#[test]
fn every_dag_that_converts_whole_validates_with_lithoflows_parser() {
    let mut whole = 0;
    for (path, text) in dag_files() {
        let conv = convert(&path, &text);
        for d in conv.dags.iter().filter(|d| d.errors == 0) {
            whole += 1;
            let toml_path = path.with_file_name(format!("{}.toml", d.dag_id));
            let (dag, diags) = lithoflow_dag::parse_dag(&toml_path, &d.toml);
            let errors: Vec<String> = diags
                .iter()
                .filter(|x| x.is_error())
                .map(ToString::to_string)
                .collect();
            assert!(
                dag.is_some() && errors.is_empty(),
                "{} converted from {} does not validate:\n{}\n{}",
                d.dag_id,
                path.display(),
                errors.join("\n"),
                d.toml
            );
            let dag = dag.expect("validated");
            assert_eq!(dag.dag_id, d.dag_id);
            assert_eq!(dag.tasks.len(), d.tasks, "{}", d.dag_id);
        }
    }
    assert!(
        whole >= 25,
        "expected at least 25 DAGs converted whole, found {whole}"
    );
}

#[test]
fn the_partial_dags_are_valid_toml_with_their_gaps_as_comments() {
    for (path, text) in dag_files() {
        let conv = convert(&path, &text);
        for d in conv.dags.iter().filter(|d| d.errors > 0) {
            let toml_path = path.with_file_name(format!("{}.toml", d.dag_id));
            let (_, diags) = lithoflow_dag::parse_dag(&toml_path, &d.toml);
            let syntax: Vec<String> = diags
                .iter()
                .filter(|x| x.message.starts_with("invalid TOML"))
                .map(ToString::to_string)
                .collect();
            assert!(
                syntax.is_empty(),
                "{} is not TOML:\n{}\n{}",
                d.dag_id,
                syntax.join("\n"),
                d.toml
            );
            assert!(
                d.toml.contains("# migrate: not translated"),
                "{} marks its gaps:\n{}",
                d.dag_id,
                d.toml
            );
        }
    }
}

/// Runs `lithoflow migrate` (the library entry point the CLI calls) and returns its
/// outcome, stdout and stderr.
fn migrate_run(args: &MigrateArgs) -> (Result<migrate::MigrateOutcome, String>, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let r = migrate::run(args, &mut out, &mut err).map_err(|e| format!("{e:#}"));
    (
        r,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn args(paths: Vec<PathBuf>, out: &Path, version: AirflowVersion, partial: bool) -> MigrateArgs {
    MigrateArgs {
        paths,
        out: Some(out.to_owned()),
        airflow_version: Some(version),
        allow_partial: partial,
        static_only: true,
        now: Some(NOW.into()),
    }
}

#[test]
fn migrating_the_folder_writes_whole_dags_and_fails_on_gaps_unless_partial() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("strict");
    let (r, stdout, stderr) = migrate_run(&args(vec![corpus()], &out, AirflowVersion::V2, false));
    let outcome = r.expect("runs");
    assert_eq!(
        lithoflow_scheduler::Outcome::from(&outcome),
        lithoflow_scheduler::Outcome::Failed
    );
    assert!(outcome.files >= 25, "{stdout}");
    // Whole DAGs, their generated modules and the function modules they import.
    for f in [
        "lithops_readme_corrected.toml",
        "example_branch_operator.toml",
        "taskflow_data_passing.toml",
        "example_taskflow_data_passing_tasks.py",
        "my_functions.py",
        "branch_functions.py",
    ] {
        assert!(out.join(f).is_file(), "{f} is written:\n{stdout}");
    }
    // DAGs with gaps are not.
    assert!(!out.join("untranslatable_parts.toml").exists());
    assert!(
        stdout.contains("not written: DAG `untranslatable_parts`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped"),
        "the function modules are skipped: {stdout}"
    );
    // The report: one `file:line:col: severity: reason` line each, on stderr.
    assert!(
        stderr.lines().any(
            |l| l.starts_with("fixtures/airflow/example_untranslatable.py:")
                && l.contains(": error: EmailOperator is not supported")
        ),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .all(|l| l.contains(": error: ") || l.contains(": note: ")),
        "{stderr}"
    );
    // Every written TOML file validates.
    assert!(!stderr.contains("does not validate"), "{stderr}");

    // With --allow-partial the rest is written too, with the gaps as comments, exit 0.
    let partial = tmp.path().join("partial");
    let (r, stdout, _) = migrate_run(&args(vec![corpus()], &partial, AirflowVersion::V2, true));
    assert_eq!(
        lithoflow_scheduler::Outcome::from(&r.expect("runs")),
        lithoflow_scheduler::Outcome::Ok
    );
    let text = std::fs::read_to_string(partial.join("untranslatable_parts.toml")).expect("written");
    assert!(text.contains("# migrate: not translated"), "{text}");
    assert!(stdout.contains("gap(s) marked as comments"), "{stdout}");

    // A second run replaces its own files, but never a file it did not write.
    std::fs::write(
        partial.join("lithops_readme_corrected.toml"),
        "dag_id = \"mine\"\n",
    )
    .expect("write");
    let (r, _, stderr) = migrate_run(&args(
        vec![corpus().join("lithops_readme_corrected.py")],
        &partial,
        AirflowVersion::V2,
        true,
    ));
    r.expect("runs");
    assert!(
        stderr.contains("was not written by lithoflow migrate; not overwritten"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(partial.join("lithops_readme_corrected.toml")).expect("read"),
        "dag_id = \"mine\"\n"
    );
}

#[test]
fn a_missing_path_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (r, _, _) = migrate_run(&args(
        vec![tmp.path().join("nope.py")],
        tmp.path(),
        AirflowVersion::V2,
        false,
    ));
    let err = r.expect_err("a missing path fails");
    assert!(err.contains("nope.py"), "{err}");
}

// ----- runs: the converted DAGs against Airflow's outcomes ------------------------------

/// Converts one corpus file into a fresh folder and runs one of its DAGs with
/// `lithoflow dags test <dag> [logical date] -o json`.
struct Converted {
    _dir: tempfile::TempDir,
    folder: PathBuf,
}

fn converted(file: &str) -> Converted {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("dags");
    let (r, stdout, stderr) = migrate_run(&args(
        vec![corpus().join(file)],
        &folder,
        version_of(file),
        false,
    ));
    let outcome = r.expect("migrate runs");
    assert_eq!(
        lithoflow_scheduler::Outcome::from(&outcome),
        lithoflow_scheduler::Outcome::Ok,
        "{file} converts whole:\n{stdout}\n{stderr}"
    );
    Converted { _dir: dir, folder }
}

/// The run's JSON document and the tasks by id.
struct Run {
    doc: Value,
}

impl Run {
    fn state(&self) -> &str {
        self.doc["state"].as_str().expect("state")
    }

    fn task(&self, id: &str) -> &Value {
        self.doc["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["task_id"] == id)
            .unwrap_or_else(|| panic!("no task {id} in {}", self.doc))
    }

    /// Asserts a task's state and, for a success, its return value.
    fn expect(&self, id: &str, state: &str, value: Value) {
        let t = self.task(id);
        assert_eq!(t["state"], state, "{id}: {t}");
        assert_eq!(t["return_value"], value, "{id}: {t}");
    }

    /// A mapped task's instances as (map index, state, return value), by map index.
    fn instances(&self, id: &str) -> Vec<(i64, String, Value)> {
        let mut out: Vec<(i64, String, Value)> = self.doc["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter(|t| t["task_id"] == id)
            .map(|t| {
                (
                    t["map_index"].as_i64().unwrap_or(-1),
                    t["state"].as_str().unwrap_or("").to_owned(),
                    t["return_value"].clone(),
                )
            })
            .collect();
        out.sort_by_key(|(i, _, _)| *i);
        out
    }

    /// Asserts that a mapped task ran one successful instance per value, in order.
    fn expect_mapped(&self, id: &str, values: &[Value]) {
        let want: Vec<(i64, String, Value)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, "success".to_owned(), v.clone()))
            .collect();
        assert_eq!(self.instances(id), want, "{id}: {}", self.doc);
    }

    fn expect_state(&self, id: &str, state: &str) {
        let t = self.task(id);
        assert_eq!(t["state"], state, "{id}: {t}");
    }
}

fn dags_test(c: &Converted, dag_id: &str, extra: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("temp home");
    dags_test_in(c, dag_id, extra, home.path(), &[])
}

/// [`dags_test`] in the home `home` (with its variables and connections), with `envs`.
fn dags_test_in(
    c: &Converted,
    dag_id: &str,
    extra: &[&str],
    home: &Path,
    envs: &[(&str, &Path)],
) -> Run {
    let out = lithoflow()
        .env("LITHOFLOW_HOME", home)
        .envs(envs.iter().copied())
        .arg("--dags-folder")
        .arg(&c.folder)
        .args(["dags", "test", dag_id])
        .args(extra)
        .args(["-o", "json"])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("lithoflow runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "dags test {dag_id} prints JSON ({e}): {}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let run = Run { doc };
    assert_eq!(
        out.status.code(),
        Some(if run.state() == "success" { 0 } else { 1 }),
        "the exit code follows the run state: {}\n{stderr}",
        run.doc
    );
    run
}

#[test]
fn the_readme_examples_corrected_return_what_the_readme_says() {
    let c = converted("lithops_readme_corrected.py");
    let run = dags_test(&c, "lithops_readme_corrected", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("add_task_1", "success", json!(4));
    run.expect("add_task_2", "success", json!(8));
    run.expect("map_task", "success", json!([2, 3, 4]));
    // The README says 18, which no reading gives; its reducer as meant multiplies: 2*3*4.
    run.expect("mapreduce_task", "success", json!(24));
    run.expect("mapreduce_from_map", "success", json!(60));
}

#[test]
fn the_plugin_example_maps_over_a_task_result() {
    let c = converted("lithops_plugin_example.py");
    let run = dags_test(&c, "lithops_plugin_example", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("gen_list", "success", json!([1, 2, 3, 4, 5]));
    run.expect("mult_num_map", "success", json!([10, 20, 30, 40, 50]));
    run.expect("sum_of_doubles", "success", json!(30));
}

#[test]
fn the_branch_operator_follows_one_branch_and_skips_the_others() {
    let c = converted("example_branch_operator.py");
    let run = dags_test(&c, "example_branch_operator", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect_state("run_this_first", "success");
    run.expect("branching", "success", json!("branch_b"));
    for t in ["branch_b", "follow_branch_b", "join"] {
        run.expect_state(t, "success");
    }
    for t in [
        "branch_a",
        "branch_c",
        "branch_d",
        "follow_branch_a",
        "follow_branch_c",
        "follow_branch_d",
    ] {
        run.expect_state(t, "skipped");
    }
}

#[test]
fn the_branch_decorator_follows_the_returned_task() {
    let c = converted("example_branch_decorator.py");
    let run = dags_test(&c, "example_branch_decorator", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("start", "success", json!(5));
    run.expect("choose", "success", json!("odd"));
    run.expect("odd", "success", json!("odd"));
    run.expect_state("even", "skipped");
    run.expect_state("also_even", "skipped");
    run.expect("join", "success", json!("joined"));
}

#[test]
fn the_short_circuit_operator_skips_as_airflow_does() {
    let c = converted("example_short_circuit_operator.py");
    let run = dags_test(&c, "example_short_circuit_operator", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("condition_is_True", "success", json!(true));
    run.expect("condition_is_False", "success", json!(false));
    run.expect_state("true_1", "success");
    run.expect_state("true_2", "success");
    // ignore_downstream_trigger_rules=True (the default): everything below is skipped.
    run.expect_state("false_1", "skipped");
    run.expect_state("false_2", "skipped");
    // ignore_downstream_trigger_rules=False: only the direct downstream task_4 is skipped;
    // task_6 follows its all_success rule (skipped), task_7 its all_done rule (runs).
    run.expect("short_circuit", "success", json!(false));
    for t in ["task_1", "task_2", "task_3", "task_5", "task_7"] {
        run.expect_state(t, "success");
    }
    run.expect_state("task_4", "skipped");
    run.expect_state("task_6", "skipped");
}

#[test]
fn the_short_circuit_decorator_skips_the_false_chain() {
    let c = converted("example_short_circuit_decorator.py");
    let run = dags_test(&c, "example_short_circuit_decorator", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("condition_is_true", "success", json!(true));
    run.expect("condition_is_false", "success", json!(false));
    run.expect_state("true_1", "success");
    run.expect_state("true_2", "success");
    run.expect_state("false_1", "skipped");
    run.expect_state("false_2", "skipped");
}

#[test]
fn trigger_rules_after_a_failure_end_as_in_airflow() {
    let c = converted("example_trigger_rules.py");
    let run = dags_test(&c, "example_trigger_rules", &[]);
    // A leaf (after_boom, only_if_all_ok) is upstream_failed: the run fails.
    assert_eq!(run.state(), "failed", "{}", run.doc);
    run.expect("ok", "success", json!("ok"));
    run.expect_state("boom", "failed");
    run.expect_state("after_boom", "upstream_failed");
    run.expect("cleanup", "success", json!("ok"));
    run.expect_state("alert", "success");
    run.expect_state("only_if_all_ok", "upstream_failed");
}

#[test]
fn bash_exit_codes_skip_fail_and_return_the_last_line() {
    let c = converted("example_bash_exit_codes.py");
    let run = dags_test(&c, "example_bash_exit_codes", &[]);
    // The only leaf, always_runs (all_done), succeeded: the run succeeds.
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("hello", "success", json!("hello world"));
    run.expect_state("skip_me", "skipped");
    run.expect_state("after_skip", "skipped");
    run.expect_state("custom_skip", "skipped");
    run.expect_state("fail", "failed");
    run.expect("env_task", "success", json!("hi from /tmp"));
    run.expect("always_runs", "success", json!("done"));
}

#[test]
fn classic_operators_pass_results_through_output() {
    let c = converted("example_xcom_args_classic.py");
    let run = dags_test(&c, "example_xcom_args_classic", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("produce", "success", json!(21));
    run.expect("double", "success", json!(42));
    run.expect("describe", "success", json!("answer=42"));
}

#[test]
fn taskflow_results_reach_their_positions_and_keywords() {
    let c = converted("example_taskflow_data_passing.py");
    let run = dags_test(&c, "taskflow_data_passing", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("one", "success", json!(1));
    run.expect("add", "success", json!(3));
    run.expect("add__1", "success", json!(4));
    run.expect("scale", "success", json!(40));
    run.expect("scale_by_3", "success", json!(12));
    run.expect("report", "success", json!("results: 40 and 12"));
}

#[test]
fn the_taskflow_tutorial_passing_whole_results_runs() {
    let c = converted("tutorial_taskflow_whole.py");
    let run = dags_test(&c, "tutorial_taskflow_whole", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect(
        "extract",
        "success",
        json!({"1001": 301.27, "1002": 433.21, "1003": 502.22}),
    );
    run.expect("transform", "success", json!({"total_order_value": 1236.7}));
    run.expect("load", "success", json!("Total order value is: 1236.70"));
}

#[test]
fn mapped_tasks_return_their_results_in_order() {
    let c = converted("example_mapped_tasks.py");
    let run = dags_test(&c, "example_mapped_tasks", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    // Each element is its own task instance, as in Airflow.
    run.expect_mapped("add", &[json!(2), json!(3), json!(4)]);
    run.expect("total", "success", json!(9));
    run.expect("numbers", "success", json!([10, 20, 30]));
    run.expect_mapped("add__1", &[json!(15), json!(25), json!(35)]);
    run.expect("total_from_task", "success", json!(75));
}

#[test]
fn task_groups_run_in_group_order() {
    let c = converted("example_task_group.py");
    let run = dags_test(&c, "example_task_group", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    for t in [
        "start",
        "section_1.task_1",
        "section_1.task_3",
        "section_2.task_1",
        "section_2.inner_section_2.task_3",
        "section_2.inner_section_2.task_4",
        "end",
    ] {
        run.expect_state(t, "success");
    }
    run.expect("section_1.task_2", "success", json!("1"));
    run.expect("section_2.inner_section_2.task_2", "success", json!("1"));
}

#[test]
fn the_module_level_default_args_etl_runs() {
    let c = converted("example_default_args_module_level.py");
    let run = dags_test(&c, "etl_default_args", &["2026-11-02"]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect(
        "extract",
        "success",
        json!([{"id": 1, "amount": 10}, {"id": 2, "amount": 25}, {"id": 3, "amount": 7}]),
    );
    run.expect(
        "transform",
        "success",
        json!([{"id": 1, "amount": 20}, {"id": 2, "amount": 50}]),
    );
    run.expect("load", "success", json!("2 rows into sales"));
    run.expect("report", "success", json!("loaded 2026-11-02"));
}

#[test]
fn the_airflow1_branch_reads_ds_from_the_context() {
    let c = converted("example_airflow1_style.py");
    // 2026-11-28 is a Saturday.
    let run = dags_test(&c, "airflow1_style", &["2026-11-28"]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("hello", "success", json!("hello"));
    run.expect("branch", "success", json!("weekend"));
    run.expect_state("weekend", "success");
    run.expect_state("weekday", "skipped");
    run.expect_state("join", "success");
}

#[test]
fn a_dag_param_and_a_task_group_factory_run() {
    let c = converted("example_nested_factories.py");
    let run = dags_test(&c, "nested_factories", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("announce", "success", json!("running in dev"));
    run.expect("ingest.fetch_api", "success", json!("fetched api"));
    run.expect("ingest.fetch_db", "success", json!("fetched db"));
    run.expect("check_rows", "success", json!("rows"));
    run.expect("check_schema", "success", json!("schema"));
}

/// Runs `lithoflow ARGS` in `home`, which must succeed.
fn lithoflow_ok(home: &Path, args: &[&str]) {
    let out = lithoflow()
        .env("LITHOFLOW_HOME", home)
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("lithoflow runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn variables_connections_xcom_keys_and_callbacks_carry_over() {
    let c = converted("example_runtime_access.py");
    let home = tempfile::tempdir().expect("temp home");
    let markers = tempfile::tempdir().expect("marker folder");
    lithoflow_ok(
        home.path(),
        &[
            "connections",
            "add",
            "warehouse",
            "--conn-type",
            "postgres",
            "--conn-host",
            "db.example",
            "--conn-port",
            "5432",
        ],
    );
    let envs = [("MARKER_DIR", markers.path())];

    // Without the variable `greeting`, the template `{{ var.value.greeting }}` fails the
    // task, as Airflow's Variable.get fails the DAG file: its failure callbacks run.
    let run = dags_test_in(
        &c,
        "example_runtime_access",
        &["2026-06-01"],
        home.path(),
        &envs,
    );
    assert_eq!(run.state(), "failed", "{}", run.doc);
    run.expect_state("report", "failed");
    run.expect_state("echo", "upstream_failed");
    let read = |name: &str| std::fs::read_to_string(markers.path().join(name));
    assert_eq!(
        read("report.done").expect("the failure callback ran"),
        "2026-06-01"
    );
    assert!(read("run.done").is_ok(), "the second failure callback ran");
    // push_rows succeeded: the default_args success callback.
    assert_eq!(
        read("push_rows.done").expect("the success callback ran"),
        "2026-06-01"
    );
    std::fs::remove_file(markers.path().join("run.done")).expect("remove marker");

    lithoflow_ok(home.path(), &["variables", "set", "greeting", "hello"]);
    let run = dags_test_in(
        &c,
        "example_runtime_access",
        &["2026-06-02"],
        home.path(),
        &envs,
    );
    assert_eq!(run.state(), "success", "{}", run.doc);
    // do_xcom_push=False: the return value is not kept; the pushed key is pulled.
    run.expect("push_rows", "success", Value::Null);
    run.expect(
        "report",
        "success",
        json!("hello: 20 rows to db.example in eu (report)"),
    );
    run.expect("late_import", "success", json!("hello"));
    run.expect("echo", "success", json!("hello from db.example"));
    for task in ["push_rows", "report", "late_import", "echo"] {
        assert_eq!(
            read(&format!("{task}.done")).expect("the success callback ran"),
            "2026-06-02",
            "{task}"
        );
    }
    let run_id = run.doc["run_id"].as_str().expect("run_id");
    assert_eq!(read("run.done").expect("the DAG's callback ran"), run_id);
}

// ----- issue 18: sensors, triggers, pools, assets and mapping -----------------------------

/// Runs the real binary's `lithoflow migrate` on one corpus file into `out`.
fn migrate_cli(file: &str, out: &Path) -> std::process::Output {
    let version = match version_of(file) {
        AirflowVersion::V2 => "2",
        AirflowVersion::V3 => "3",
    };
    lithoflow()
        .args(["migrate"])
        .arg(corpus().join(file))
        .arg("--out")
        .arg(out)
        .args(["--airflow-version", version, "--now", NOW, "--static"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("lithoflow runs")
}

#[test]
fn issue18_airflow2_and_airflow3_files_migrate_whole_and_validate() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("dags");
    for (file, dags) in [
        (
            "example_runtime2_airflow2.py",
            &["orders_producer", "orders_consumer"],
        ),
        (
            "example_runtime2_airflow3.py",
            &["mapped_sensing", "waits_and_triggers"],
        ),
    ] {
        let o = migrate_cli(file, &out);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{file}: {stderr}");
        assert!(!stderr.contains("error"), "{file}: {stderr}");
        for d in dags {
            assert!(out.join(format!("{d}.toml")).is_file(), "{d} written");
        }
    }
    let o = lithoflow()
        .arg("--dags-folder")
        .arg(&out)
        .args(["dags", "validate"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("lithoflow runs");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let text = |d: &str| std::fs::read_to_string(out.join(format!("{d}.toml"))).expect("read");
    // The keys each construct became (the snapshots hold the whole files).
    let producer = text("orders_producer");
    for key in [
        "sensor = \"file\"",
        "sensor = \"s3_key\"",
        "sensor = \"external_task\"",
        "sensor = \"time_delta\"",
        "sensor = \"python\"",
        "mode = \"reschedule\"",
        "outlets = [\"s3://lake/raw/orders.csv\"]",
        "pool = \"etl\"",
        "weight_rule = \"upstream\"",
        "expand = { bash_command = [\"echo part-0\", \"echo part-1\", \"echo part-2\"] }",
    ] {
        assert!(producer.contains(key), "{key} in\n{producer}");
    }
    let consumer = text("orders_consumer");
    assert!(
        consumer.contains("type = \"trigger_dag_run\""),
        "{consumer}"
    );
    assert!(
        consumer.contains("expand = { region = \"regions\" }"),
        "{consumer}"
    );
    let sensing = text("mapped_sensing");
    assert!(sensing.contains("schedule = { any = ["), "{sensing}");
    assert!(
        sensing.contains("expand_kwargs = \"make_kwargs\""),
        "{sensing}"
    );
}

#[test]
fn a_converted_airflow3_dag_senses_maps_and_weighs_as_airflow() {
    let c = converted("example_runtime2_airflow3.py");
    let run = dags_test(&c, "mapped_sensing", &[]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    run.expect("ready", "success", json!("go"));
    run.expect("numbers", "success", json!([1, 2, 3]));
    run.expect_mapped("double", &[json!(2), json!(4), json!(6)]);
    run.expect("total", "success", json!(12));
    run.expect_mapped("add", &[json!(3), json!(30)]);
    run.expect("total_added", "success", json!(33));
    run.expect("weighted", "success", json!("ok"));
}

#[test]
fn converted_airflow2_sensors_poke_and_a_soft_fail_skips() {
    let c = converted("example_sensors_airflow2.py");
    let run = dags_test(&c, "sensors_that_pass", &["2026-06-01"]);
    assert_eq!(run.state(), "success", "{}", run.doc);
    for id in [
        "passwd_exists",
        "tmp_is_a_folder",
        "passwd_not_empty",
        "settled",
        "past",
    ] {
        run.expect_state(id, "success");
    }
    // A one-second timeout on a DAG that never runs: skipped, as soft_fail makes it.
    run.expect_state("never_runs", "skipped");
    // The @task.sensor's PokeReturnValue gives its XCom, which report passes on.
    run.expect("ready", "success", json!("ready"));
    run.expect("report", "success", json!("ready"));
}
