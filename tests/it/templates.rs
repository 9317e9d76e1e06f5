//! Templates end to end: a DAG's bash and python tasks rendered by the real binary with
//! Airflow's context, macros and filters, native rendering and user-defined macros and
//! filters that run in real Python on the local workers (`dags test`), and the context
//! names that need the state store (the previous successful run) under a running
//! scheduler; a task's own `params` over the DAG's (TOML and `.py` DAG files).

use chrono::{Duration as Span, DurationRound, Utc};
use serde_json::{Value, json};

use crate::harness::Env;

const HELPERS: &str = r#"
import datetime

def show(**context):
    # What a callable gets: op_kwargs as rendered, with their Python types.
    return {k: [type(v).__name__, v] for k, v in context.items() if k.startswith("k_")}

def next_monday(ds, weeks=0):
    d = datetime.date.fromisoformat(ds)
    return (d + datetime.timedelta(days=7 - d.weekday() + 7 * weeks)).isoformat()

def shout(value, times=1):
    return str(value).upper() + "!" * times
"#;

const DAG: &str = r#"
dag_id = "templated"
params = { n = 10, items = [1, 2] }

[user_defined_macros]
project = "analytics"
next_monday = { callable = "helpers:next_monday" }

[user_defined_filters]
shout = "helpers:shout"

[tasks.bash]
type = "bash"
bash_command = "echo -n '{{ ds }}|{{ macros.ds_add(ds, -1) }}|{{ (logical_date - macros.timedelta(days=1)).strftime(\"%Y%m%d\") }}|{{ data_interval_end | ts_nodash }}|{{ logical_date.in_timezone(\"Asia/Seoul\") }}|{{ task_instance_key_str }}|{{ project }}|{{ next_monday(ds) }}|{{ params.n | shout(2) }}|{{ ti.try_number }}|{{ dag_run.run_type }}'"

[tasks.py]
type = "python"
python_callable = "helpers:show"
upstream = ["bash"]
op_kwargs = { k_items = "{{ params['items'] }}", k_month = "{{ (logical_date.replace(day=1) + macros.dateutil.relativedelta.relativedelta(months=1, days=-1)) | ds }}", k_pulled = "{{ ti.xcom_pull(task_ids='bash')[:10] }}", k_macro = "{{ next_monday(ds, weeks=1) }}" }
"#;

fn env_with(dag: &str) -> Env {
    let env = Env::new();
    std::fs::write(env.dags.path().join("helpers.py"), HELPERS).expect("write helpers");
    env.write("templated.toml", dag);
    env
}

fn task<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task_id"] == id))
        .unwrap_or_else(|| panic!("no task {id} in {run}"))
}

#[test]
fn a_dag_test_renders_the_context_macros_filters_and_python_macros() {
    let env = env_with(DAG);
    let run = env.json(&[
        "dags",
        "test",
        "templated",
        "2026-11-01T02:00:00+00:00",
        "-o",
        "json",
    ]);
    assert_eq!(run["state"], "success", "{run}");
    assert_eq!(
        task(&run, "bash")["return_value"],
        json!(
            "2026-11-01|2026-10-31|20261031|20261101T020000|2026-11-01 11:00:00+09:00|templated__bash__20261101|analytics|2026-11-02|10!!|1|manual"
        )
    );
    // Text, as Airflow renders without render_template_as_native_obj.
    assert_eq!(
        task(&run, "py")["return_value"],
        json!({
            "k_items": ["str", "[1, 2]"],
            "k_month": ["str", "2026-11-30"],
            "k_pulled": ["str", "2026-11-01"],
            "k_macro": ["str", "2026-11-09"],
        })
    );
}

#[test]
fn native_rendering_hands_python_values_to_the_callable() {
    let env = env_with(&DAG.replace(
        "params = { n = 10, items = [1, 2] }",
        "params = { n = 10, items = [1, 2] }\nrender_template_as_native_obj = true",
    ));
    let run = env.json(&["dags", "test", "templated", "2026-11-01", "-o", "json"]);
    assert_eq!(run["state"], "success", "{run}");
    assert_eq!(
        task(&run, "py")["return_value"],
        json!({
            "k_items": ["list", [1, 2]],
            "k_month": ["str", "2026-11-30"],
            "k_pulled": ["str", "2026-11-01"],
            "k_macro": ["str", "2026-11-09"],
        })
    );
}

#[test]
fn a_template_that_fails_fails_its_task_with_the_reason() {
    let env = env_with(&DAG.replace("{{ project }}", "{{ macros.ds_add(ds, 'x') }}"));
    let (code, out, _) = env.run(&["dags", "test", "templated", "2026-11-01", "-o", "json"]);
    assert_eq!(code, 1, "{out}");
    let run: Value = serde_json::from_str(&out).expect("json");
    let error = task(&run, "bash")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("does not render") && error.contains("days must be an integer"),
        "{error}"
    );
}

#[test]
fn a_scheduled_run_sees_the_previous_successful_run_and_airflow_2_dates() {
    let env = Env::new();
    let start = Utc::now().duration_trunc(Span::hours(1)).expect("hour") - Span::hours(3);
    let out = env.dags.path().join("rendered.txt");
    env.write(
        "prev.toml",
        &format!(
            r#"
dag_id = "prev"
schedule = "@hourly"
timetable = "cron_data_interval"
start_date = {start}
catchup = true
is_paused_upon_creation = false
max_active_runs = 1

[tasks.t]
type = "bash"
bash_command = "echo '{{{{ logical_date }}}} prev={{{{ prev_data_interval_start_success }}}} started={{{{ prev_start_date_success is not none }}}} prev_ds={{{{ prev_execution_date }}}} next={{{{ next_execution_date }}}}' >> {out}"
"#,
            start = start.format("%Y-%m-%dT%H:%M:%SZ"),
            out = out.display(),
        ),
    );
    env.schedule_until_idle();
    let text = std::fs::read_to_string(&out).expect("the runs wrote");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "{text}");
    let fmt = |d: chrono::DateTime<Utc>| d.format("%Y-%m-%d %H:%M:%S+00:00").to_string();
    // The first run has no previous successful run; each later one sees the one before.
    assert_eq!(
        lines[0],
        format!(
            "{} prev=None started=False prev_ds={} next={}",
            fmt(start),
            fmt(start - Span::hours(1)),
            fmt(start + Span::hours(1))
        ),
        "{text}"
    );
    let second = start + Span::hours(1);
    assert_eq!(
        lines[1],
        format!(
            "{} prev={} started=True prev_ds={} next={}",
            fmt(second),
            fmt(start),
            fmt(start),
            fmt(second + Span::hours(1))
        ),
        "{text}"
    );
}

const PARAMS_HELPERS: &str = r#"
import json

def params_of(**context):
    return context["params"]

def record(context):
    with open(context["params"]["out"], "w") as f:
        json.dump(context["params"], f)
"#;

/// A task's own `params` (Airflow's BaseOperator `params`, `[default_args]`' under them)
/// merged over the DAG's for that task only, a run's conf over both (Airflow's
/// `process_params`): in a bash template, in Python's `context["params"]`, in a callback.
#[test]
fn a_tasks_params_override_the_dags_in_its_templates_python_and_callbacks() {
    let env = Env::new();
    std::fs::write(env.dags.path().join("phelpers.py"), PARAMS_HELPERS).expect("write helpers");
    let out = env.dags.path().join("callback.json");
    env.write(
        "tparams.toml",
        &format!(
            r#"
dag_id = "tparams"
params = {{ marker = "dag", n = 1, keep = "k", out = "{}" }}

[default_args]
params = {{ level = "dflt" }}

[tasks.t]
type = "bash"
bash_command = "echo -n '{{{{ params.marker }}}}|{{{{ params.n }}}}|{{{{ params.level }}}}|{{{{ params.keep }}}}'"
params = {{ marker = "task" }}

[tasks.p]
type = "python"
python_callable = "phelpers:params_of"
params = {{ n = 2, level = "own" }}
on_success_callback = "phelpers:record"
upstream = ["t"]

[tasks.d]
type = "bash"
bash_command = "echo -n '{{{{ params.marker }}}}|{{{{ params.level }}}}'"
upstream = ["p"]
"#,
            out.display()
        ),
    );
    let run = env.json(&["dags", "test", "tparams", "-o", "json"]);
    assert_eq!(run["state"], "success", "{run}");
    assert_eq!(task(&run, "t")["return_value"], json!("task|1|dflt|k"));
    let p = &task(&run, "p")["return_value"];
    assert_eq!(
        (&p["marker"], &p["n"], &p["level"], &p["keep"]),
        (&json!("dag"), &json!(2), &json!("own"), &json!("k")),
        "{p}"
    );
    // The DAG's params for a task without its own (but [default_args]' params).
    assert_eq!(task(&run, "d")["return_value"], json!("dag|dflt"));
    // The callback of p saw p's params.
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the callback ran"))
            .expect("json");
    assert_eq!((&seen["n"], &seen["level"]), (&json!(2), &json!("own")));

    // A run's conf overrides a task's params too.
    let run = env.json(&[
        "dags",
        "test",
        "tparams",
        "--conf",
        r#"{"marker": "conf", "n": 7}"#,
        "-o",
        "json",
    ]);
    assert_eq!(run["state"], "success", "{run}");
    assert_eq!(task(&run, "t")["return_value"], json!("conf|7|dflt|k"));
    assert_eq!(task(&run, "p")["return_value"]["n"], json!(7));
    assert_eq!(task(&run, "d")["return_value"], json!("conf|dflt"));
}

/// A `.py` DAG file's BashOperator and PythonOperator `params=` (a `Param` is its
/// default) reach their templates and context under `dags test`, over the DAG's params.
#[test]
fn an_airflow_dag_files_task_params_render_under_dags_test() {
    let env = Env::new();
    env.write(
        "task_params.py",
        r#"
from datetime import datetime
from airflow import DAG
from airflow.models.param import Param
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator


def marker(**context):
    return context["params"]["marker"]


with DAG("task_params", start_date=datetime(2026, 1, 1), schedule=None,
         params={"marker": "dag", "n": 1}) as dag:
    t = BashOperator(task_id="t", bash_command="echo {{ params.marker }} {{ params.n }}",
                     params={"marker": "ready"})
    p = PythonOperator(task_id="p", python_callable=marker,
                       params={"marker": Param("from-param", type="string")})
    d = BashOperator(task_id="d", bash_command="echo {{ params.marker }}")
    t >> p >> d
"#,
    );
    let shown = env.json(&["dags", "show", "task_params", "-o", "json"]);
    let tasks = shown["tasks"].as_array().expect("tasks");
    let t = tasks.iter().find(|t| t["task_id"] == "t").expect("t");
    assert_eq!(t["params"], json!({"marker": "ready"}), "{shown}");
    assert_eq!(t["ignored"], json!([]), "params is not ignored: {shown}");
    let run = env.json(&["dags", "test", "task_params", "-o", "json"]);
    assert_eq!(run["state"], "success", "{run}");
    assert_eq!(task(&run, "t")["return_value"], json!("ready 1"));
    assert_eq!(task(&run, "p")["return_value"], json!("from-param"));
    assert_eq!(task(&run, "d")["return_value"], json!("dag"));
}
