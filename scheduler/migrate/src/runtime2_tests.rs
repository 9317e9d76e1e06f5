//! Unit tests of what migrate makes of issue 18's constructs: sensors, TriggerDagRun,
//! pools and priority, assets, and dynamic task mapping.

use super::*;
use crate::runtime_tests::{convert, report};

/// The TOML of the only DAG, which must convert whole and validate with lithoflow's parser.
fn whole(src: &str, version: AirflowVersion) -> (String, String) {
    let conv = convert(src, version);
    let dag = conv.dags.first().expect("a DAG");
    assert_eq!(dag.errors, 0, "{}\n{}", report(&conv), dag.toml);
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
    (dag.toml.clone(), report(&conv))
}

/// The report of a file that does not convert whole.
fn gaps(src: &str, version: AirflowVersion) -> String {
    let conv = convert(src, version);
    assert!(
        conv.dags.iter().any(|d| d.errors > 0) || conv.dags.is_empty(),
        "expected gaps:\n{}",
        conv.dags.first().map(|d| d.toml.as_str()).unwrap_or("")
    );
    report(&conv)
}

fn has(toml: &str, line: &str) {
    assert!(
        toml.lines()
            .any(|l| l.trim_start() == line || l.trim_start().starts_with(&format!("{line}  #"))),
        "missing `{line}` in\n{toml}"
    );
}

const V2: AirflowVersion = AirflowVersion::V2;
const V3: AirflowVersion = AirflowVersion::V3;

fn dag2(imports: &str, body: &str) -> String {
    format!(
        "from datetime import datetime, timedelta\nfrom airflow import DAG\n{imports}\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1)) as dag:\n{body}\n"
    )
}

// ----- sensors ----------------------------------------------------------------------------

#[test]
fn a_file_sensor_keeps_every_base_sensor_argument() {
    let src = dag2(
        "from airflow.sensors.filesystem import FileSensor",
        "    FileSensor(task_id='wait', filepath='/data/{{ ds }}/*.csv', recursive=True, fs_conn_id='fs_local',\n        poke_interval=timedelta(seconds=30), timeout=60 * 60 * 2, mode='reschedule', soft_fail=True,\n        exponential_backoff=True, max_wait=timedelta(minutes=10), silent_fail=True)",
    );
    let (t, _) = whole(&src, V2);
    for l in [
        r#"type = "sensor""#,
        r#"sensor = "file""#,
        r#"filepath = "/data/{{ ds }}/*.csv""#,
        "recursive = true",
        r#"fs_conn_id = "fs_local""#,
        r#"poke_interval = "30s""#,
        "timeout = 7200",
        r#"mode = "reschedule""#,
        "soft_fail = true",
        "exponential_backoff = true",
        r#"max_wait = "10m""#,
        "silent_fail = true",
    ] {
        has(&t, l);
    }
}

#[test]
fn sensors_of_every_airflow_version_and_module_convert() {
    for (import, call, kind, line) in [
        (
            "from airflow.contrib.sensors.file_sensor import FileSensor",
            "FileSensor(task_id='s', filepath='/tmp/x')",
            "file",
            r#"filepath = "/tmp/x""#,
        ),
        (
            "from airflow.providers.standard.sensors.filesystem import FileSensor",
            "FileSensor(task_id='s', filepath='/tmp/x', deferrable=True)",
            "file",
            r#"filepath = "/tmp/x""#,
        ),
        (
            "from airflow.sensors.external_task_sensor import ExternalTaskSensor",
            "ExternalTaskSensor(task_id='s', external_dag_id='up', external_task_id=None, execution_delta=timedelta(minutes=30), mode='reschedule', timeout=2500)",
            "external_task",
            r#"execution_delta = "30m""#,
        ),
        (
            "from airflow.sensors.time_delta import TimeDeltaSensorAsync",
            "TimeDeltaSensorAsync(task_id='s', delta=timedelta(hours=1))",
            "time_delta",
            r#"delta = "1h""#,
        ),
        (
            "from airflow.sensors.date_time import DateTimeSensor",
            "DateTimeSensor(task_id='s', target_time='{{ data_interval_end.add(hours=2) }}')",
            "date_time",
            r#"target_time = "{{ data_interval_end.add(hours=2) }}""#,
        ),
        (
            "from datetime import time\nfrom airflow.sensors.time_sensor import TimeSensor",
            "TimeSensor(task_id='s', target_time=time(9, 30))",
            "time",
            r#"target_time = "09:30:00""#,
        ),
        (
            "from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor",
            "S3KeySensor(task_id='s', bucket_key='s3://b/k/*.csv', wildcard_match=True, aws_conn_id='aws_prod')",
            "s3_key",
            r#"bucket_key = "s3://b/k/*.csv""#,
        ),
        (
            "from airflow.sensors.s3_key_sensor import S3KeySensor",
            "S3KeySensor(task_id='s', bucket_key=[k.strip() for k in 'a.csv, b.csv'.split(',')], bucket_name='b', check_fn=None, verify=True)",
            "s3_key",
            r#"bucket_key = ["a.csv", "b.csv"]"#,
        ),
        (
            "from airflow.sensors.bash import BashSensor",
            "BashSensor(task_id='s', bash_command='test -f /tmp/x', env={'A': '1'}, retry_exit_code=3)",
            "bash",
            "retry_exit_code = 3",
        ),
    ] {
        let src = dag2(import, &format!("    {call}"));
        let (t, _) = whole(&src, V2);
        has(&t, &format!("sensor = \"{kind}\""));
        has(&t, line);
    }
}

#[test]
fn a_python_sensor_moves_its_callable_and_passes_its_arguments() {
    let src = dag2(
        "from airflow.sensors.python import PythonSensor\ndef ready(path, mode=None):\n    return True",
        "    PythonSensor(task_id='s', python_callable=ready, op_args=['/x'], op_kwargs={'mode': 'fast'}, poke_interval=5)",
    );
    let (t, r) = whole(&src, V2);
    has(&t, r#"python_callable = "dag_tasks:ready""#);
    has(&t, r#"op_args = ["/x"]"#);
    has(&t, r#"op_kwargs = { mode = "fast" }"#);
    has(&t, "poke_interval = 5");
    assert!(r.contains("`ready` is defined in the DAG file"), "{r}");
}

#[test]
fn a_task_sensor_function_is_a_python_sensor() {
    let src = "import pendulum\nfrom airflow.decorators import dag, task\nfrom airflow.sensors.base import PokeReturnValue\n\n@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1))\ndef d():\n    @task.sensor(poke_interval=10, timeout=600, mode='reschedule', soft_fail=True)\n    def wait_for(n):\n        return PokeReturnValue(is_done=True, xcom_value=n)\n    wait_for(3)\n\nd()\n";
    let conv = convert(src, V3);
    let (t, _) = whole(src, V3);
    has(&t, r#"type = "sensor""#);
    has(&t, r#"sensor = "python""#);
    has(&t, r#"python_callable = "dag_tasks:wait_for""#);
    has(&t, "op_args = [3]");
    has(&t, "poke_interval = 10");
    has(&t, r#"mode = "reschedule""#);
    let module = conv.module.expect("the moved function");
    assert!(
        module
            .text
            .contains("from lithoflow import PokeReturnValue"),
        "{}",
        module.text
    );
}

#[test]
fn sensor_arguments_without_equivalent_are_reported_with_their_place() {
    let r = gaps(
        &dag2(
            "from airflow.sensors.filesystem import FileSensor\nfrom airflow.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor\nfrom airflow.providers.amazon.aws.sensors.s3 import S3KeySensor",
            "    FileSensor(task_id='a', filepath='/x', mode='smart')\n    FileSensor(task_id='b', filepath='/x', never_fail=True)\n    ExternalTaskMarker(task_id='m', external_dag_id='down', external_task_id='t')\n    S3KeySensor(task_id='s', bucket_key='k', check_fn=len)\n    ExternalTaskSensor(task_id='e')\n    FileSensor(task_id='f', filepath='/x', poke_intervall=3)",
        ),
        V2,
    );
    for want in [
        "7:44: error: mode \"smart\"",
        "8:44: error: never_fail=True",
        "9:5: error: ExternalTaskMarker is not supported by lithoflow (it clears the tasks of another DAG",
        "10:46: error: S3KeySensor's `check_fn` is not supported",
        "11:5: error: ExternalTaskSensor without `external_dag_id`",
        "12:44: error: unknown argument `poke_intervall` of FileSensor; did you mean `poke_interval`?",
    ] {
        assert!(r.contains(want), "missing {want:?} in\n{r}");
    }
}

// ----- TriggerDagRun ----------------------------------------------------------------------

#[test]
fn trigger_dag_run_keeps_its_arguments() {
    let src = dag2(
        "from airflow.operators.trigger_dagrun import TriggerDagRunOperator\nfrom airflow.utils.state import DagRunState",
        "    TriggerDagRunOperator(task_id='kick', trigger_dag_id='down', trigger_run_id='triggered__{{ ts }}',\n        conf={'source': '{{ dag.dag_id }}', 'n': 2}, execution_date='{{ ds }}', reset_dag_run=True,\n        wait_for_completion=True, poke_interval=30, allowed_states=[DagRunState.SUCCESS],\n        failed_states=['failed'], skip_when_already_exists=True, deferrable=True)",
    );
    let (t, r) = whole(&src, V2);
    for l in [
        r#"type = "trigger_dag_run""#,
        r#"trigger_dag_id = "down""#,
        r#"trigger_run_id = "triggered__{{ ts }}""#,
        r#"conf = { source = "{{ dag.dag_id }}", n = 2 }"#,
        r#"logical_date = "{{ ds }}""#,
        "reset_dag_run = true",
        "wait_for_completion = true",
        "poke_interval = 30",
        r#"allowed_states = ["success"]"#,
        r#"failed_states = ["failed"]"#,
        "skip_when_already_exists = true",
    ] {
        has(&t, l);
    }
    assert!(t.contains("execution_date"), "{t}");
    assert!(r.contains("deferrable=True is accepted"), "{r}");
}

#[test]
fn the_airflow1_trigger_callable_is_reported() {
    let r = gaps(
        &dag2(
            "from airflow.operators.dagrun_operator import TriggerDagRunOperator\ndef decide(context, dag_run_obj):\n    return dag_run_obj",
            "    TriggerDagRunOperator(task_id='kick', trigger_dag_id='down', python_callable=decide)",
        ),
        V2,
    );
    assert!(
        r.contains("7:66: error: TriggerDagRunOperator's python_callable (Airflow 1.10"),
        "{r}"
    );
}

// ----- pools and priority -----------------------------------------------------------------

#[test]
fn pools_and_priority_convert_on_tasks_and_in_default_args() {
    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\nfrom airflow.utils.weight_rule import WeightRule\nargs = {'pool': 'etl', 'priority_weight': 5, 'weight_rule': 'upstream'}\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1), default_args=args):\n    BashOperator(task_id='a', bash_command='true', pool='io', pool_slots=2, priority_weight=10,\n        weight_rule=WeightRule.ABSOLUTE, max_active_tis_per_dag=1, max_active_tis_per_dagrun=1)\n    BashOperator(task_id='b', bash_command='true', task_concurrency=3)\n    BashOperator(task_id='c', bash_command='true', task_concurrency=3, max_active_tis_per_dag=4)\n    BashOperator(task_id='e', bash_command='true', max_active_tis_per_dag=5, task_concurrency=3)\n";
    let (t, _) = whole(src, V2);
    for l in [
        r#"pool = "etl""#,
        "priority_weight = 5",
        r#"weight_rule = "upstream""#,
        r#"pool = "io""#,
        "pool_slots = 2",
        "priority_weight = 10",
        r#"weight_rule = "absolute""#,
        "max_active_tis_per_dag = 1",
        "max_active_tis_per_dagrun = 1",
        "max_active_tis_per_dag = 3",
        "max_active_tis_per_dag = 4",
        "max_active_tis_per_dag = 5",
    ] {
        has(&t, l);
    }
}

#[test]
fn a_bad_weight_rule_and_pool_slots_are_reported() {
    let r = gaps(
        &dag2(
            "from airflow.operators.bash import BashOperator",
            "    BashOperator(task_id='a', bash_command='true', weight_rule='sideways', pool_slots=0)",
        ),
        V2,
    );
    assert!(r.contains("weight_rule` \"sideways\""), "{r}");
    assert!(r.contains("pool_slots` is 0"), "{r}");
}

// ----- assets -----------------------------------------------------------------------------

#[test]
fn outlets_inlets_and_a_list_schedule_of_datasets_convert() {
    let src = "from datetime import datetime\nfrom airflow import DAG, Dataset\nfrom airflow.operators.bash import BashOperator\nraw = Dataset('s3://bucket/raw.csv')\nwith DAG('d', schedule=[raw, Dataset('s3://bucket/other.csv')], start_date=datetime(2026, 1, 1)):\n    BashOperator(task_id='a', bash_command='echo ' + raw.uri, outlets=[raw, Dataset('file:///x', extra={'k': 1})], inlets=raw)\n";
    let (t, _) = whole(src, V2);
    has(
        &t,
        r#"schedule = ["s3://bucket/raw.csv", "s3://bucket/other.csv"]"#,
    );
    has(
        &t,
        r#"outlets = ["s3://bucket/raw.csv", { uri = "file:///x", extra = { k = 1 } }]"#,
    );
    has(&t, r#"inlets = ["s3://bucket/raw.csv"]"#);
    has(&t, r#"bash_command = "echo s3://bucket/raw.csv""#);
}

#[test]
fn asset_conditions_become_any_and_all_tables() {
    let src = "import pendulum\nfrom airflow.sdk import DAG, Asset, AssetAll, AssetAny\nfrom airflow.providers.standard.operators.empty import EmptyOperator\na = Asset('a')\nb = Asset(name='b', uri='s3://b/x')\nc = Asset('c', group='g')\nwith DAG('d', schedule=(a | (b & c)) | AssetAll(Asset('d'), Asset('e')), start_date=pendulum.datetime(2026, 1, 1)):\n    EmptyOperator(task_id='t')\n";
    let (t, _) = whole(src, V3);
    has(
        &t,
        r#"schedule = { any = ["a", { all = [{ uri = "s3://b/x", name = "b" }, { uri = "c", group = "g" }] }, { all = ["d", "e"] }] }"#,
    );
    let src = "import pendulum\nfrom airflow.sdk import DAG, Asset\nfrom airflow.providers.standard.operators.empty import EmptyOperator\nwith DAG('d', schedule=Asset('s3://x'), start_date=pendulum.datetime(2026, 1, 1)):\n    EmptyOperator(task_id='t')\n";
    let (t, _) = whole(src, V3);
    has(&t, r#"schedule = ["s3://x"]"#);
    let src = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.datasets import Dataset, DatasetAny\nfrom airflow.operators.empty import EmptyOperator\nwith DAG('d', schedule=DatasetAny(Dataset('x'), Dataset('y')), start_date=datetime(2026, 1, 1)):\n    EmptyOperator(task_id='t')\n";
    let (t, _) = whole(src, V2);
    has(&t, r#"schedule = { any = ["x", "y"] }"#);
}

#[test]
fn schedule_interval_none_beside_datasets_leaves_the_dag_unscheduled_in_airflow_2() {
    let src = "from datetime import datetime\nfrom airflow import DAG, Dataset\nfrom airflow.operators.empty import EmptyOperator\nwith DAG('d', schedule=[Dataset('x')], schedule_interval=None, start_date=datetime(2026, 1, 1)):\n    EmptyOperator(task_id='t')\n";
    let (t, r) = whole(src, V2);
    assert!(!t.contains("schedule = ["), "{t}");
    assert!(t.contains("# schedule: none"), "{t}");
    assert!(
        r.contains("schedule_interval=None beside schedule=..."),
        "{r}"
    );
    // schedule_interval given the datasets, as Airflow 2.4 allowed.
    let src = "from datetime import datetime\nfrom airflow import DAG, Dataset\nfrom airflow.operators.empty import EmptyOperator\nwith DAG('d', schedule_interval=[Dataset('x')], start_date=datetime(2026, 1, 1)):\n    EmptyOperator(task_id='t')\n";
    let (t, _) = whole(src, V2);
    has(&t, r#"schedule = ["x"]"#);
}

#[test]
fn asset_aliases_and_conditions_in_outlets_are_reported() {
    let r = gaps(
        "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.sdk import Asset, AssetAlias\nfrom airflow.operators.empty import EmptyOperator\nwith DAG('d', schedule=[AssetAlias('al')], start_date=datetime(2026, 1, 1)):\n    EmptyOperator(task_id='t', outlets=[Asset('a') | Asset('b'), AssetAlias('x')])\n",
        V3,
    );
    assert!(r.contains("5:15: error: schedule: asset aliases"), "{r}");
    assert!(
        r.contains("6:32: error: argument `outlets` holds a condition"),
        "{r}"
    );
    assert!(
        r.contains("6:32: error: argument `outlets`: asset aliases"),
        "{r}"
    );
}

// ----- dynamic task mapping ---------------------------------------------------------------

#[test]
fn a_mapped_taskflow_function_is_a_python_task_with_expand() {
    let src = "import pendulum\nfrom airflow.decorators import dag, task\n\n@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1))\ndef d():\n    @task\n    def items():\n        return [1, 2]\n    @task(map_index_template='{{ task.op_kwargs.x }}')\n    def add(x, y, z=0):\n        return x + y + z\n    add.partial(y=items()).expand(x=[1, 2, 3], z=items())\n    add.override(task_id='add_kw').expand_kwargs([{'x': 1, 'y': 2}, {'x': 3, 'y': 4}])\n    add.expand_kwargs(items())\n\nd()\n";
    let (t, _) = whole(src, V3);
    has(&t, r#"type = "python""#);
    has(&t, r#"op_kwargs_from_task = { y = "items" }"#);
    has(&t, r#"expand = { x = [1, 2, 3], z = "items__1" }"#);
    has(&t, r#"map_index_template = "{{ task.op_kwargs.x }}""#);
    has(
        &t,
        r#"expand_kwargs = [{ x = 1, y = 2 }, { x = 3, y = 4 }]"#,
    );
    has(&t, r#"expand_kwargs = "items__2""#);
    assert!(t.contains("[tasks.add_kw]"), "{t}");
    assert!(!t.contains("type = \"map\""), "{t}");
}

#[test]
fn mapped_classic_operators_expand_their_arguments() {
    let src = dag2(
        "from airflow.operators.bash import BashOperator\nfrom airflow.operators.python import PythonOperator\ndef f(*args, **kwargs):\n    return args",
        "    BashOperator.partial(task_id='b', retries=1).expand(bash_command=['echo 1', 'echo 2'], env=[{'A': '1'}, {'A': '2'}])\n    BashOperator.partial(task_id='bk').expand_kwargs([{'bash_command': 'echo $A', 'env': {'A': 'x'}}])\n    PythonOperator.partial(task_id='pa', python_callable=f, op_kwargs={'y': 10}).expand(op_args=[['a'], ['b']])\n    PythonOperator.partial(task_id='pk', python_callable=f).expand(op_kwargs=[{'a': 1}, {'a': 2}])\n    PythonOperator.partial(task_id='pe', python_callable=f).expand_kwargs([{'op_kwargs': {'a': 1}}])",
    );
    let (t, _) = whole(&src, V2);
    has(
        &t,
        r#"expand = { bash_command = ["echo 1", "echo 2"], env = [{ A = "1" }, { A = "2" }] }"#,
    );
    has(&t, "retries = 1");
    has(
        &t,
        r#"expand_kwargs = [{ bash_command = "echo $A", env = { A = "x" } }]"#,
    );
    has(&t, r#"expand = { op_args = [["a"], ["b"]] }"#);
    has(&t, r#"op_kwargs = { y = 10 }"#);
    has(&t, r#"expand = { op_kwargs = [{ a = 1 }, { a = 2 }] }"#);
    has(&t, r#"expand_kwargs = [{ a = 1 }]"#);
}

#[test]
fn mapping_what_lithoflow_does_not_map_is_reported() {
    let r = gaps(
        &dag2(
            "from airflow.operators.bash import BashOperator\nfrom airflow.operators.python import PythonOperator\nfrom airflow.decorators import task\nfrom airflow.sensors.filesystem import FileSensor\n@task\ndef items():\n    return [1]",
            "    BashOperator.partial(task_id='b').expand(append_env=[True])\n    FileSensor.partial(task_id='f').expand(filepath=['/a'])\n    PythonOperator.partial(task_id='p', python_callable=len).expand_kwargs(items())\n    BashOperator.partial(task_id='m').expand(bash_command=items().map(str))\n    BashOperator.partial(task_id='s').expand(bash_command='echo')",
        ),
        V2,
    );
    for want in [
        "error: expand `append_env`: lithoflow maps bash_command, env, cwd of a BashOperator",
        "error: FileSensor.partial(...).expand(...): mapping a FileSensor is not converted",
        "error: PythonOperator.partial(...).expand_kwargs over the result of `items`",
        "error: expand `bash_command`: `.map(...)` of the result of task `items__1`",
        "error: expand `bash_command` must be a list, a dict or a task's result",
    ] {
        assert!(r.contains(want), "missing {want:?} in\n{r}");
    }
}

#[test]
fn override_before_partial_and_custom_sensors() {
    let src = "import pendulum\nfrom airflow.decorators import dag, task\n\n@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1))\ndef d():\n    @task\n    def add(x, y):\n        return x + y\n    add.override(task_id='plus', retries=2).partial(y=1).expand(x=[1, 2])\n\nd()\n";
    let (t, _) = whole(src, V3);
    assert!(t.contains("[tasks.plus]"), "{t}");
    has(&t, "retries = 2");
    has(&t, "op_kwargs = { y = 1 }");
    has(&t, "expand = { x = [1, 2] }");
    let r = gaps(
        "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.sensors.base import BaseSensorOperator\nfrom airflow.timetables.datasets import DatasetOrTimeSchedule\nfrom airflow.datasets import Dataset\nclass Ready(BaseSensorOperator):\n    def poke(self, context):\n        return True\nwith DAG('d', schedule=DatasetOrTimeSchedule(timetable=None, datasets=[Dataset('x')]), start_date=datetime(2026, 1, 1)):\n    Ready(task_id='r')\n",
        V2,
    );
    assert!(r.contains("9:24: error: schedule: `airflow.timetables.datasets.DatasetOrTimeSchedule` (runs on a timetable or when assets are updated) is not supported"), "{r}");
    assert!(r.contains("10:5: error:"), "{r}");
    let r = gaps(
        &dag2(
            "from airflow.providers.common.sql.sensors.sql import SqlSensor",
            "    SqlSensor(task_id='q', conn_id='db', sql='select 1')",
        ),
        V2,
    );
    assert!(r.contains("5:5: error: SqlSensor is not supported by lithoflow (lithoflow's sensors are python, file,"), "{r}");
}

#[test]
fn mapping_shapes_seen_in_public_dag_files_convert() {
    let src = dag2(
        "from airflow.decorators import task\nfrom airflow.operators.bash import BashOperator\nfrom airflow.operators.python import PythonOperator\ndef process(source, y):\n    return source\n@task\ndef commands():\n    return [{'bash_command': 'echo $W', 'env': {'W': 'hi'}}]",
        "    BashOperator.partial(task_id='many', do_xcom_push=False).expand(bash_command=['echo 0'] * 3)\n    BashOperator.partial(task_id='say').expand_kwargs(commands())\n    PythonOperator.partial(task_id='sources', python_callable=process, op_kwargs={'y': 10},\n        map_index_template='source={{ task.op_args[0] }}').expand(op_args=[['a'], ['b']])",
    );
    let (t, _) = whole(&src, V2);
    has(
        &t,
        r#"expand = { bash_command = ["echo 0", "echo 0", "echo 0"] }"#,
    );
    has(&t, "do_xcom_push = false");
    has(&t, r#"expand_kwargs = "commands""#);
    has(&t, r#"expand = { op_args = [["a"], ["b"]] }"#);
    has(&t, r#"map_index_template = "source={{ task.op_args[0] }}""#);
}

#[test]
fn an_asset_decorated_function_is_reported() {
    let r = report(&convert(
        "from airflow.sdk import asset\n\n@asset(schedule='@daily')\ndef orders():\n    return 1\n",
        V3,
    ));
    assert!(
        r.contains("3:2: error: `@asset` (Airflow 3's asset-defining function"),
        "{r}"
    );
}

#[test]
fn sensor_arguments_in_default_args_reach_every_sensor() {
    let src = "from datetime import datetime, timedelta\nfrom airflow import DAG\nfrom airflow.sensors.filesystem import FileSensor\nfrom airflow.operators.bash import BashOperator\nargs = {'poke_interval': timedelta(seconds=5), 'mode': 'reschedule', 'soft_fail': True, 'retries': 1}\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1), default_args=args):\n    FileSensor(task_id='f', filepath='/x') >> BashOperator(task_id='b', bash_command='true')\n";
    let (t, _) = whole(src, V2);
    let defaults = t
        .split("[default_args]")
        .nth(1)
        .and_then(|s| s.split("[tasks.").next())
        .unwrap_or_default()
        .to_owned();
    for l in [
        r#"poke_interval = "5s""#,
        r#"mode = "reschedule""#,
        "soft_fail = true",
        "retries = 1",
    ] {
        has(&defaults, l);
    }
    let r = gaps(
        "from datetime import datetime\nfrom airflow import DAG\nwith DAG('d', schedule=None, start_date=datetime(2026, 1, 1), default_args={'mode': 'later'}):\n    pass\n",
        V2,
    );
    assert!(r.contains("error: mode \"later\""), "{r}");
}
