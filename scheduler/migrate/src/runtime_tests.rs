//! Unit tests of what migrate makes of Airflow's runtime: variables and connections read
//! while parsing, what moved functions use of Airflow's runtime, callbacks, XCom settings.

use super::*;

/// `src` converted as a file `/nonexistent/dag.py` at a fixed time.
pub(crate) fn convert(src: &str, version: AirflowVersion) -> FileConversion {
    let opts = ConvertOptions {
        airflow_version: version,
        now: "2026-11-28T10:00:00Z".parse().expect("a valid time"),
    };
    convert_file(Path::new("/nonexistent/dag.py"), src, &opts)
}

/// The diagnostics' headlines, without the file name.
pub(crate) fn report(conv: &FileConversion) -> String {
    conv.diagnostics
        .iter()
        .map(|d| d.headline().replace("/nonexistent/dag.py:", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The TOML of the only DAG, checked with lithoflow's parser when it converted whole.
fn toml(conv: &FileConversion) -> String {
    let dag = conv.dags.first().expect("a DAG");
    if dag.errors == 0 {
        let (parsed, diags) = lithoflow_dag::parse_dag(Path::new("d.toml"), &dag.toml);
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        assert!(
            parsed.is_some() && errors.is_empty(),
            "{errors:?}\n{}",
            dag.toml
        );
    }
    dag.toml.clone()
}

const HEAD: &str = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\nfrom airflow.operators.python import PythonOperator\n";

fn bash(setup: &str, command: &str) -> FileConversion {
    let src = format!(
        "{HEAD}{setup}\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1)):\n    BashOperator(task_id='t', bash_command={command})\n"
    );
    convert(&src, AirflowVersion::V2)
}

fn bash_command(setup: &str, command: &str) -> String {
    let conv = bash(setup, command);
    let t = toml(&conv);
    t.lines()
        .find(|l| l.starts_with("bash_command = "))
        .map(|l| l.trim_start_matches("bash_command = ").to_owned())
        .unwrap_or_else(|| report(&conv))
}

#[test]
fn variables_read_while_parsing_become_templates_in_templated_fields() {
    let models = "from airflow.models import Variable";
    for (setup, command, expect) in [
        (models, "Variable.get('k')", r#""{{ var.value.k }}""#),
        (
            models,
            "Variable.get('k', default_var='x')",
            r#""{{ var.value.get('k', 'x') }}""#,
        ),
        (
            models,
            "Variable.get('k', deserialize_json=True)",
            r#""{{ var.json.k }}""#,
        ),
        (
            models,
            "Variable.get(key='k', default_var={'a': 1}, deserialize_json=True)",
            r#""{{ var.json.get('k', {'a': 1}) }}""#,
        ),
        (
            models,
            "Variable.get('my-key')",
            r#""{{ var.value['my-key'] }}""#,
        ),
        (
            "from airflow.sdk import Variable",
            "Variable.get('k', default='d')",
            r#""{{ var.value.get('k', 'd') }}""#,
        ),
        (
            "import airflow",
            "airflow.models.Variable.get('k')",
            r#""{{ var.value.k }}""#,
        ),
        (
            "from airflow.models.variable import Variable as V",
            "'echo ' + V.get('k') + ' done'",
            r#""echo {{ var.value.k }} done""#,
        ),
        (
            models,
            "f\"echo {Variable.get('a')} {Variable.get('b', default_var=None)}\"",
            r#""echo {{ var.value.a }} {{ var.value.get('b', none) }}""#,
        ),
        (
            "from airflow.hooks.base import BaseHook",
            "f\"psql -h {BaseHook.get_connection('db').host} -p {BaseHook.get_connection('db').port}\"",
            r#""psql -h {{ conn.db.host }} -p {{ conn.db.port }}""#,
        ),
        (
            "from airflow.hooks.base import BaseHook\nconn = BaseHook.get_connection('db')",
            "'curl ' + conn.get_uri()",
            r#""curl {{ conn.db.get_uri() }}""#,
        ),
    ] {
        assert_eq!(bash_command(setup, command), expect, "{setup} / {command}");
    }
    // op_kwargs, op_args and env are templated too.
    let src = format!(
        "{HEAD}from airflow.models import Variable\nfrom my_functions import f\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1)):\n    PythonOperator(task_id='p', python_callable=f, op_args=[Variable.get('a')], op_kwargs={{'b': Variable.get('b')}})\n    BashOperator(task_id='b', bash_command='env', env={{'X': Variable.get('x')}})\n"
    );
    let conv = convert(&src, AirflowVersion::V2);
    let t = toml(&conv);
    assert!(t.contains(r#"op_args = ["{{ var.value.a }}"]"#), "{t}");
    assert!(
        t.contains(r#"op_kwargs = { b = "{{ var.value.b }}" }"#),
        "{t}"
    );
    assert!(t.contains(r#"env = { X = "{{ var.value.x }}" }"#), "{t}");
    let r = report(&conv);
    assert!(
        r.contains("note:") && r.contains("read when the task runs"),
        "{r}"
    );
}

#[test]
fn a_value_read_while_parsing_in_a_setting_that_is_not_templated_is_an_error() {
    let src = format!(
        "{HEAD}from airflow.models import Variable\nwith DAG('d', schedule=Variable.get('cron'), start_date=datetime(2026, 1, 1)):\n    BashOperator(task_id='t', bash_command='true', retries=Variable.get('retries'), pool=Variable.get('pool'))\n"
    );
    let conv = convert(&src, AirflowVersion::V2);
    let r = report(&conv);
    for (setting, what) in [
        ("schedule", "Variable.get(\"cron\")"),
        ("argument `retries`", "Variable.get(\"retries\")"),
    ] {
        assert!(
            r.lines().any(|l| l.contains("error:")
                && l.contains(setting)
                && l.contains(what)
                && l.contains("is read when Airflow parses the DAG file")
                && l.contains("not a templated field")),
            "{setting}: {r}"
        );
    }
    // file:line:col of the argument.
    assert!(r.contains("6:4") || r.contains("6:"), "{r}");
    // A value computed from it while parsing cannot be a template either.
    let conv = bash(
        "from airflow.models import Variable",
        "Variable.get('k').upper()",
    );
    assert!(report(&conv).contains("error:"), "{}", report(&conv));
}

#[test]
fn moved_functions_use_lithoflows_variable_connection_and_context() {
    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.models import Variable\nfrom airflow.hooks.base import BaseHook\nfrom airflow.operators.python import PythonOperator, get_current_context\nfrom airflow.sdk import Connection as C\n\ndef f(ti, **context):\n    v = Variable.get('k', default_var='0')\n    h = BaseHook.get_connection('db').host\n    u = C.get('db').get_uri()\n    ctx = get_current_context()\n    ti.xcom_push(key='k', value=v)\n    return context['ti'].xcom_pull(task_ids='t', key='k')\n\ndef g():\n    from airflow.operators.python import get_current_context as gcc\n    from airflow.hooks.base import BaseHook\n    return BaseHook.get_connection('x').login, gcc()['ds']\n\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1)):\n    PythonOperator(task_id='t', python_callable=f)\n    PythonOperator(task_id='u', python_callable=g)\n";
    let conv = convert(src, AirflowVersion::V2);
    let r = report(&conv);
    assert!(!r.contains("error:"), "{r}");
    toml(&conv);
    let module = conv.module.expect("a generated module").text;
    assert!(
        module.contains(
            "from lithoflow import Connection as C, Variable, get_connection, get_current_context\n"
        ),
        "{module}"
    );
    assert!(
        module.contains("    h = get_connection('db').host\n"),
        "{module}"
    );
    assert!(
        module.contains(
            "    from lithoflow import get_current_context as gcc\n    from lithoflow import get_connection\n    return get_connection('x').login, gcc()['ds']\n"
        ),
        "{module}"
    );
    assert!(!module.contains("from airflow"), "{module}");

    // What lithoflow does not have stays an error.
    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.hooks.base import BaseHook\nfrom airflow.operators.python import PythonOperator\n\ndef f(ti):\n    BaseHook.get_hook('db')\n    return ti.get_template_context()\n\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1)):\n    PythonOperator(task_id='t', python_callable=f)\n";
    let r = report(&convert(src, AirflowVersion::V2));
    assert!(
        r.contains("uses `BaseHook` for more than `BaseHook.get_connection(...)`"),
        "{r}"
    );
    assert!(r.contains("`ti.get_template_context`"), "{r}");
}

#[test]
fn callbacks_defined_in_the_file_are_moved_and_referenced() {
    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\n\ndef alert(context):\n    print(context['ti'].task_id)\n\ndef done(context):\n    pass\n\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1), default_args={'on_retry_callback': alert}, on_failure_callback=[alert, done], on_success_callback=done):\n    BashOperator(task_id='t', bash_command='true', on_failure_callback=alert, on_execute_callback=[done], on_skipped_callback=None)\n";
    let conv = convert(src, AirflowVersion::V3);
    let r = report(&conv);
    assert!(!r.contains("error:"), "{r}");
    let t = toml(&conv);
    for line in [
        r#"on_failure_callback = ["dag_tasks:alert", "dag_tasks:done"]"#,
        r#"on_success_callback = "dag_tasks:done""#,
        r#"on_retry_callback = "dag_tasks:alert""#,
        r#"on_failure_callback = "dag_tasks:alert""#,
        r#"on_execute_callback = ["dag_tasks:done"]"#,
    ] {
        assert!(t.contains(line), "{line}\n{t}");
    }
    let module = conv.module.expect("a generated module");
    assert_eq!(module.functions, ["alert", "done"]);

    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\nfrom airflow.providers.slack.notifications.slack import send_slack_notification\n\ndef miss(*a):\n    pass\n\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1), sla_miss_callback=miss, on_failure_callback=send_slack_notification(text='x')):\n    BashOperator(task_id='t', bash_command='true', on_failure_callback=lambda c: None, on_success_callback=send_slack_notification)\n";
    let r = report(&convert(src, AirflowVersion::V3));
    assert!(
        r.contains("`sla_miss_callback`: callbacks are not supported"),
        "{r}"
    );
    assert!(
        r.contains("a lambda has no name lithoflow can import"),
        "{r}"
    );
    assert!(
        r.contains("is not a function of the DAG file or of a module next to it"),
        "{r}"
    );
    assert!(r.contains("calls `airflow.providers"), "{r}");
}

#[test]
fn xcom_settings_are_written_as_keys() {
    let src = format!(
        "{HEAD}from airflow.decorators import task\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1)):\n    BashOperator(task_id='t', bash_command='true', do_xcom_push=False)\n    @task(multiple_outputs=True)\n    def m():\n        return {{'a': 1}}\n    m()\n"
    );
    let conv = convert(&src, AirflowVersion::V2);
    let t = toml(&conv);
    assert!(t.contains("do_xcom_push = false"), "{t}");
    assert!(t.contains("multiple_outputs = true"), "{t}");
    assert!(!report(&conv).contains("always keeps"), "{}", report(&conv));
}

#[test]
fn a_json_variable_keeps_its_value_with_native_rendering() {
    let dag = |native: &str| {
        format!(
            "{HEAD}from airflow.models import Variable\nfrom my_functions import f\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1){native}):\n    PythonOperator(task_id='p', python_callable=f, op_kwargs={{'cfg': Variable.get('cfg', deserialize_json=True)}})\n"
        )
    };
    let conv = convert(&dag(""), AirflowVersion::V2);
    let r = report(&conv);
    assert!(r.contains("renders the JSON value as text"), "{r}");
    let conv = convert(
        &dag(", render_template_as_native_obj=True"),
        AirflowVersion::V2,
    );
    let t = toml(&conv);
    assert!(t.contains("render_template_as_native_obj = true"), "{t}");
    assert!(
        t.contains(r#"op_kwargs = { cfg = "{{ var.json.cfg }}" }"#),
        "{t}"
    );
    let r = report(&conv);
    assert!(!r.contains("as text"), "{r}");
}

#[test]
fn module_level_reads_that_moved_functions_use_come_along() {
    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.models import Variable\nfrom airflow.operators.python import PythonOperator\n\nLIMIT = Variable.get('limit', default_var='5')\n\ndef f():\n    return int(LIMIT) * 2\n\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1)):\n    PythonOperator(task_id='t', python_callable=f)\n";
    let conv = convert(src, AirflowVersion::V2);
    let r = report(&conv);
    assert!(!r.contains("error:"), "{r}");
    assert!(
        r.contains("6:1: note: `LIMIT` is computed with `Variable` when dag_tasks.py is imported"),
        "{r}"
    );
    let module = conv.module.expect("a generated module").text;
    assert!(
        module.contains(
            "from lithoflow import Variable\n\n\nLIMIT = Variable.get('limit', default_var='5')\n"
        ),
        "{module}"
    );
}
