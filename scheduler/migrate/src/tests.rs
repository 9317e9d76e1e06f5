//! Unit tests of the static evaluator and the converter, on small DAG files; and hostile
//! input (random bytes, deep nesting, endless loops), which must be reported, never panic.

use proptest::prelude::*;

use super::*;

fn opts(version: AirflowVersion) -> ConvertOptions {
    ConvertOptions {
        airflow_version: version,
        now: "2026-11-28T10:00:00Z".parse().expect("a valid time"),
    }
}

/// Converts `src` as `dag.py` in a folder that does not exist (no function modules).
fn convert(src: &str) -> FileConversion {
    convert_file(
        Path::new("/nonexistent/dag.py"),
        src,
        &opts(AirflowVersion::V2),
    )
}

/// The report, one headline per line, without the path.
fn report(conv: &FileConversion) -> String {
    conv.diagnostics
        .iter()
        .map(|d| d.headline().replace("/nonexistent/dag.py:", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The TOML text of `value` after running `setup`: the evaluator's result as the
/// converter writes it (a DAG param), or the report when it cannot.
fn value(setup: &str, value: &str) -> String {
    let src = format!(
        "from airflow import DAG\n{setup}\nDAG('d', schedule=None, start_date=None, params={{'v': {value}}})\n"
    );
    let conv = convert(&src);
    let toml = conv
        .dags
        .first()
        .map(|d| d.toml.clone())
        .unwrap_or_default();
    match toml.lines().find(|l| l.starts_with("params = ")) {
        Some(line) => line
            .strip_prefix("params = { v = ")
            .and_then(|l| l.strip_suffix(" }"))
            .unwrap_or(line)
            .to_owned(),
        None => report(&conv),
    }
}

/// The `[tasks.*]` tables of the only DAG in `src`, without the DAG-level keys.
fn tasks(src: &str) -> String {
    let conv = convert(src);
    let toml = conv
        .dags
        .first()
        .map(|d| d.toml.clone())
        .unwrap_or_default();
    let from = toml.find("[tasks.").unwrap_or(toml.len());
    toml[from..].trim().to_owned()
}

#[test]
fn literals_and_operators() {
    for (expr, expect) in [
        ("1 + 2 * 3", "7"),
        ("7 // 2", "3"),
        ("-7 % 3", "2"),
        ("2 ** 10", "1024"),
        ("1 / 4", "0.25"),
        ("'a' + 'b' * 2", r#""abb""#),
        ("[1, 2] + [3]", "[1, 2, 3]"),
        ("(1, 'x')", r#"[1, "x"]"#),
        ("{'a': 1, **{'b': 2}}", "{ a = 1, b = 2 }"),
        ("{'a': 1} | {'a': 3}", "{ a = 3 }"),
        ("True and 'yes'", r#""yes""#),
        ("0 or 5", "5"),
        ("not []", "true"),
        ("3 if 1 < 2 < 3 else 4", "3"),
        ("'ab' in 'cabd'", "true"),
        ("2 in [1, 2]", "true"),
        ("[i * i for i in range(4) if i]", "[1, 4, 9]"),
        (
            "{k: v for k, v in [('a', 1), ('b', 2)]}",
            "{ a = 1, b = 2 }",
        ),
        ("sorted(['b', 'a'])", r#"["a", "b"]"#),
        ("list(zip([1, 2], 'ab'))", r#"[[1, "a"], [2, "b"]]"#),
        ("len({'a': 1, 'b': 2})", "2"),
        ("max([3, 9, 1])", "9"),
        ("[1, 2, 3][-1]", "3"),
        ("'hello'[1:3]", r#""el""#),
    ] {
        assert_eq!(value("", expr), expect, "{expr}");
    }
}

#[test]
fn strings_are_formatted_as_python_formats_them() {
    for (expr, expect) in [
        ("f'task_{3:02d}'", r#""task_03""#),
        ("f'{1.5:.2f}|{\"x\":>3}|{7}'", r#""1.50|  x|7""#),
        ("f'{[1, \"a\"]!r}'", r#""[1, 'a']""#),
        ("f'{2.0}'", r#""2.0""#),
        ("'{}_{name}'.format(1, name='n')", r#""1_n""#),
        ("'{0}-{0}'.format('a')", r#""a-a""#),
        ("'check_%02d_%s' % (3, 'x')", r#""check_03_x""#),
        ("'%s%%' % 5", r#""5%""#),
        ("'-'.join(['a', 'b'])", r#""a-b""#),
        ("'A b'.lower().replace(' ', '_')", r#""a_b""#),
        ("str(None)", r#""None""#),
        (
            "textwrap.dedent('''\n    a\n      b\n''')",
            r#""\na\n  b\n""#,
        ),
    ] {
        assert_eq!(value("import textwrap", expr), expect, "{expr}");
    }
}

#[test]
fn statements_bind_names_as_python_does() {
    let setup = "
xs = []
for i, name in enumerate(['a', 'b']):
    xs.append(f'{i}{name}')
d = {'k': 1}
d['j'] = 2
d.update(z=3)
n = 1
n += 4
a, (b, c) = 1, (2, 3)
def double(x, factor=2):
    return x * factor
if __name__ == '__main__':
    n = 100
";
    assert_eq!(value(setup, "xs"), r#"["0a", "1b"]"#);
    assert_eq!(value(setup, "d"), "{ k = 1, j = 2, z = 3 }");
    assert_eq!(value(setup, "n"), "5");
    assert_eq!(value(setup, "[a, b, c]"), "[1, 2, 3]");
    assert_eq!(value(setup, "double(4) + double(1, factor=10)"), "18");
}

#[test]
fn dates_and_durations() {
    let setup = "
from datetime import datetime, timedelta
import pendulum
from airflow.utils.dates import days_ago
";
    assert_eq!(
        value(setup, "datetime(2024, 5, 1, 6, 30)"),
        r#""2024-05-01T06:30:00Z""#
    );
    assert_eq!(
        value(
            setup,
            "pendulum.datetime(2024, 7, 1, tz='Europe/Amsterdam')"
        ),
        r#""2024-06-30T22:00:00Z""#
    );
    assert_eq!(
        value(setup, "str(timedelta(days=1, hours=2))"),
        r#""1 day, 2:00:00""#
    );
    assert_eq!(value(setup, "timedelta(minutes=90)"), r#""1h30m""#);
    assert_eq!(
        value(setup, "datetime(2024, 1, 31) + timedelta(days=1)"),
        r#""2024-02-01T00:00:00Z""#
    );
    assert_eq!(value(setup, "days_ago(2)"), r#""2026-11-26T00:00:00Z""#);
    assert_eq!(
        value(setup, "pendulum.today('UTC').add(days=-1)"),
        r#""2026-11-27T00:00:00Z""#
    );
    assert!(value(setup, "timedelta(months=1)").contains("no fixed length"));
}

#[test]
fn what_cannot_be_known_is_reported_where_it_is_used() {
    let v = value("import os\nHOME = os.environ['HOME']", "HOME");
    assert!(
        v.contains("error: params[\"v\"]") || v.contains("error:"),
        "{v}"
    );
    assert!(
        v.contains("`HOME` cannot be known without running Python"),
        "{v}"
    );
    let v = value("", "undefined_name");
    assert!(v.contains("name `undefined_name` is not defined"), "{v}");
    let v = value("", "None");
    assert!(v.contains("None has no TOML form"), "{v}");
}

#[test]
fn timedelta_schedules_become_duration_schedules_with_the_versions_timetable() {
    let schedule = |delta: &str, version: AirflowVersion| {
        let src = format!(
            "from datetime import datetime, timedelta\nfrom airflow import DAG\nDAG('d', schedule={delta}, start_date=datetime(2024, 1, 1, 6, 15))\n"
        );
        let conv = convert_file(Path::new("dag.py"), &src, &opts(version));
        let toml = &conv.dags[0].toml;
        let keys: Vec<&str> = toml
            .lines()
            .filter(|l| l.starts_with("schedule = ") || l.starts_with("timetable = "))
            .collect();
        if keys.len() == 2 {
            keys.join("\n")
        } else {
            report(&conv)
        }
    };
    let v2 = AirflowVersion::V2;
    assert_eq!(
        schedule("timedelta(days=1)", v2),
        "schedule = \"1d\"  # from timedelta(days=1)\ntimetable = \"cron_data_interval\"  # Airflow 2's DeltaDataIntervalTimetable"
    );
    assert_eq!(
        schedule("timedelta(hours=6)", AirflowVersion::V3),
        "schedule = \"6h\"  # from timedelta(hours=6)\ntimetable = \"cron_trigger\"  # Airflow 3's DeltaTriggerTimetable"
    );
    // What no cron expression could say, a duration can.
    assert!(schedule("timedelta(minutes=45)", v2).starts_with("schedule = \"45m\""));
    assert!(schedule("timedelta(hours=1, minutes=30)", v2).starts_with("schedule = \"1h30m\""));
    assert!(schedule("timedelta(weeks=1)", v2).starts_with("schedule = \"7d\""));
    assert!(schedule("timedelta(seconds=90)", v2).starts_with("schedule = \"1m30s\""));
    let zero = schedule("timedelta(0)", v2);
    assert!(zero.contains("must be longer than zero"), "{zero}");
    let negative = schedule("timedelta(days=-1)", v2);
    assert!(negative.contains("must be longer than zero"), "{negative}");
    // Months are not a fixed duration: the evaluator refuses them already.
    let months = schedule("relativedelta(months=1)", v2);
    assert!(months.contains("error"), "{months}");
    // Each converted DAG validates.
    for delta in [
        "timedelta(days=1)",
        "timedelta(minutes=45)",
        "timedelta(seconds=90)",
    ] {
        let src = format!(
            "from datetime import datetime, timedelta\nfrom airflow import DAG\nDAG('d', schedule={delta}, start_date=datetime(2024, 1, 1))\n"
        );
        for version in [AirflowVersion::V2, AirflowVersion::V3] {
            let toml = &convert_file(Path::new("dag.py"), &src, &opts(version)).dags[0].toml;
            let (dag, diags) = lithoflow_dag::parse_dag(Path::new("d.toml"), toml);
            assert!(
                dag.is_some() && !diags.iter().any(|d| d.is_error()),
                "{delta}: {diags:?}\n{toml}"
            );
        }
    }
}

#[test]
fn airflow_versions_differ_in_their_defaults() {
    let src = "from airflow import DAG\nfrom datetime import datetime\nDAG('d', start_date=datetime(2024, 1, 1))\n";
    let v2 = &convert_file(Path::new("dag.py"), src, &opts(AirflowVersion::V2)).dags[0].toml;
    let v3 = &convert_file(Path::new("dag.py"), src, &opts(AirflowVersion::V3)).dags[0].toml;
    assert!(
        v2.contains("schedule = \"1d\"  # Airflow 2's default schedule, timedelta(days=1)"),
        "{v2}"
    );
    assert!(v2.contains("timetable = \"cron_data_interval\""), "{v2}");
    assert!(v2.contains("catchup = true  # Airflow 2's default"), "{v2}");
    assert!(v3.contains("# schedule: none (Airflow 3's default"), "{v3}");
    assert!(v3.contains("timetable = \"cron_trigger\""), "{v3}");
    assert!(
        v3.contains("catchup = false  # Airflow 3's default"),
        "{v3}"
    );
}

#[test]
fn dependencies_every_way() {
    let src = "
from airflow import DAG
from airflow.operators.empty import EmptyOperator as E
from airflow.models.baseoperator import chain, chain_linear
with DAG('d', schedule=None):
    a, b, c, d, e, f = [E(task_id=x) for x in 'abcdef']
    a >> [b, c] >> d
    e << d
    chain_linear([a, b], [e, f])
";
    assert_eq!(
        tasks(src),
        r#"[tasks.a]
type = "empty"

[tasks.b]
type = "empty"
upstream = ["a"]

[tasks.c]
type = "empty"
upstream = ["a"]

[tasks.d]
type = "empty"
upstream = ["b", "c"]

[tasks.e]
type = "empty"
upstream = ["a", "b", "d"]

[tasks.f]
type = "empty"
upstream = ["a", "b"]"#
    );
    let conv = convert(
        "from airflow import DAG\nfrom airflow.operators.empty import EmptyOperator as E\nwith DAG('d', schedule=None):\n    [E(task_id='a')] >> [E(task_id='b')]\n",
    );
    assert!(
        report(&conv).contains("lists on both sides of `>>`"),
        "{}",
        report(&conv)
    );
}

#[test]
fn taskflow_calls_pass_results_by_position_and_name() {
    let src = "
from airflow.decorators import dag, task
@dag(schedule=None)
def d():
    @task
    def a():
        return 1
    @task
    def b(x, y, z=0):
        return x + y + z
    b(1, a(), z=a())
d()
";
    let out = tasks(src);
    assert!(out.contains("op_args = [1]\nop_args_from_task = { 1 = \"a\" }\nop_kwargs_from_task = { z = \"a__1\" }"), "{out}");
    let conv = convert(src);
    let module = conv.module.expect("a generated module");
    assert_eq!(module.name, "dag_tasks");
    assert!(
        module
            .text
            .contains("def b(x, y, z=0):\n    return x + y + z\n"),
        "{}",
        module.text
    );
    assert!(!module.text.contains("@task"), "{}", module.text);
}

#[test]
fn the_lithops_operators_keep_every_parameter() {
    let src = "
from airflow import DAG
from airflow.operators.lithops_airflow_plugin import LithopsMapReduceOperator
with DAG('d', schedule=None):
    LithopsMapReduceOperator(task_id='m', map_function=f, reduce_function=f, map_iterdata=[1],
        extra_args={'y': 1}, chunk_n=2, map_runtime_memory=128, reduce_runtime_memory=256,
        reducer_one_per_object=True, reducer_wait_local=False, invoke_pool_threads=8,
        remote_invocation=True, config={'backend': 'localhost'}, clean_data=True, timeout=30)
def f(x, y=0):
    return x
";
    // `f` is defined after the DAG: Python raises a NameError, and so does the converter.
    let conv = convert(src);
    assert!(
        report(&conv).contains("name `f` is not defined"),
        "{}",
        report(&conv)
    );
    let src = src.replace("def f(x, y=0):\n    return x\n", "").replace(
        "from airflow import DAG\n",
        "from airflow import DAG\nfrom fns import f\n",
    );
    let out = tasks(&src);
    for key in [
        "map_function = \"fns:f\"",
        "extra_params = { y = 1 }  # written `extra_args`",
        "chunk_n = 2",
        "map_runtime_memory = 128",
        "reduce_runtime_memory = 256",
        "reducer_one_per_object = true",
        "reducer_wait_local = false",
        "invoke_pool_threads = 8",
        "remote_invocation = true",
        "lithops_config = { backend = \"localhost\" }",
        "clean_data = true",
        "timeout = 30",
    ] {
        assert!(out.contains(key), "{key} in\n{out}");
    }
}

#[test]
fn a_file_with_no_dag_or_bad_python_is_reported() {
    assert_eq!(
        report(&convert("x = 1\n")),
        "1:1: error: no DAG found in this file"
    );
    let r = report(&convert("def (:\n"));
    assert!(
        r.starts_with("1:") && r.contains("error: not valid Python"),
        "{r}"
    );
}

#[test]
fn hostile_input_is_reported_not_a_panic() {
    let deep_parens = format!("x = {}1{}\n", "(".repeat(100_000), ")".repeat(100_000));
    let long_sum = format!(
        "from airflow import DAG\nDAG('d', params={{'v': {}1}})\n",
        "1 + ".repeat(150_000)
    );
    let longer_sum = format!("x = {}1\n", "1 + ".repeat(600_000));
    let deep_ifs: String = (0..300)
        .map(|i| format!("{}if True:\n", " ".repeat(i)))
        .collect::<String>()
        + &" ".repeat(300)
        + "pass\n";
    let deep_lists = format!(
        "from airflow import DAG\nDAG('d', params={{'v': {}1{}}})\n",
        "[".repeat(400),
        "]".repeat(400)
    );
    for (src, expect) in [
        (&deep_parens, "brackets nest more than 200 deep"),
        (&longer_sum, "a statement is longer than 1000000 tokens"),
        (&deep_ifs, "blocks nest more than 100 deep"),
        (&long_sum, "the expression is nested too deeply"),
    ] {
        let r = report(&convert(src));
        assert!(r.contains(expect), "{expect}: {r}");
    }
    for src in [
        deep_parens.as_str(),
        long_sum.as_str(),
        longer_sum.as_str(),
        deep_ifs.as_str(),
        deep_lists.as_str(),
        "from airflow import DAG\nfor i in range(10**9):\n    pass\n",
        "from airflow import DAG\nx = 'a' * 10**12\nDAG('d', params={'v': x})\n",
        "from airflow import DAG\ndef f(n):\n    return f(n)\nDAG('d', params={'v': f(1)})\n",
        "from airflow import DAG\nxs = [1]\nfor x in xs:\n    xs.append(x)\n",
        "from airflow import DAG\nDAG(**{1: 2})\n",
        "from airflow import DAG\nDAG('d', start_date=datetime(2024, 13, 40))\nfrom datetime import datetime\n",
        "\u{0}\u{1}airflow dag \u{7f}",
    ] {
        let conv = convert(src);
        let _ = report(&conv);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = convert(&text);
    }

    #[test]
    fn random_dag_like_python_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("from airflow import DAG\n"), Just("from airflow.decorators import dag, task\n"),
        Just("with DAG('d') as dag:\n"), Just("    "), Just("t = "), Just("EmptyOperator(task_id='t')"),
        Just(" >> "), Just(" << "), Just("["), Just("]"), Just("("), Just(")"), Just(", "),
        Just("for i in range(3):\n"), Just("f'{i}'"), Just("@task\n"), Just("def f(x):\n"),
        Just("return x\n"), Just("f(f(1))"), Just("\n"), Just("None"), Just("{'a': 1}"),
        Just("chain(t, [t, t])"), Just("**"), Just("*"), Just(":"), Just("dag"),
    ], 0..60)) {
        let text: String = parts.concat();
        let _ = convert(&text);
    }
}

#[test]
fn catchup_without_a_start_date_is_reported() {
    let conv = convert("from airflow import DAG\nDAG('d', schedule='@daily')\n");
    assert!(
        report(&conv).contains("catchup is on with a schedule but the DAG has no start_date"),
        "{}",
        report(&conv)
    );
    let conv = convert("from airflow import DAG\nDAG('d', schedule='@daily', catchup=False)\n");
    assert_eq!(conv.dags[0].errors, 0, "{}", report(&conv));
}

#[test]
fn strings_written_to_toml_read_back_unchanged() {
    use emit::{Line, TomlVal, write_lines};
    for s in [
        "plain",
        "line 1\nline 2",
        "\nstarts with a newline",
        "quotes \" inside\nand \"\"\" three",
        "ends with a quote\n\"",
        "ends with two\n\"\"",
        "back\\slash\n\ttab",
        "\"\"\"\"\n",
        "control \u{1} char\nline",
        "carriage\r\nreturn",
        "ünïcödé ✓\n",
    ] {
        let mut out = String::new();
        write_lines(&mut out, &[Line::key("k", TomlVal::Str(s.to_owned()))]);
        let table: toml::Table = out
            .parse()
            .unwrap_or_else(|e| panic!("{s:?} as {out}: {e}"));
        assert_eq!(table["k"].as_str(), Some(s), "{out}");
    }
}

#[test]
fn every_plain_key_converts_from_the_operator_argument_of_its_name() {
    use lithoflow_dag::keys::{KEYS, ValueKind};
    // One operator of each task type, with what it requires.
    let operators = [
        ("call_async", "LithopsCallAsyncOperator", "func=f"),
        (
            "map",
            "LithopsMapOperator",
            "map_function=f, map_iterdata=[1]",
        ),
        (
            "map_reduce",
            "LithopsMapReduceOperator",
            "map_function=f, map_iterdata=[1], reduce_function=f",
        ),
        ("python", "PythonOperator", "python_callable=f"),
        ("short_circuit", "ShortCircuitOperator", "python_callable=f"),
        ("bash", "BashOperator", "bash_command='true'"),
    ];
    let mut checked = 0;
    for key in KEYS {
        let Some((kind, _)) = key.plain() else {
            continue;
        };
        let (python, toml) = match kind {
            // A key whose values migrate checks against Airflow's: one of them.
            ValueKind::String if key.name == "weight_rule" => ("'upstream'", "\"upstream\""),
            ValueKind::Boolean => ("True", "true"),
            ValueKind::Integer | ValueKind::Duration => ("3", "3"),
            ValueKind::Number => ("2", "2.0"),
            ValueKind::String => ("'x'", "\"x\""),
            ValueKind::Strings => ("['a']", "[\"a\"]"),
            ValueKind::Table => ("{'a': 1}", "{ a = 1 }"),
            other => panic!("a plain key of kind {other:?}: give it a sample value"),
        };
        for (ty, op, required) in operators {
            if !key.airflow_argument_of(ty) {
                continue;
            }
            let src = format!(
                "from airflow import DAG\nfrom airflow.operators.python import {op}\nfrom fns import f\nwith DAG('d', schedule=None):\n    {op}(task_id='t', {required}, {}={python})\n",
                key.name
            );
            let conv = convert(&src);
            let out = tasks(&src) + "\n";
            let line = format!("\n{} = {toml}\n", key.name);
            assert!(
                out.contains(&line),
                "{op}({}={python}) in\n{out}\n{}",
                key.name,
                report(&conv)
            );
            checked += 1;
        }
        // In default_args too, for the operators that take it.
        let src = format!(
            "from airflow import DAG\nwith DAG('d', schedule=None, default_args={{'{}': {python}}}):\n    pass\n",
            key.name
        );
        let toml_text = convert(&src).dags.first().map(|d| d.toml.clone());
        let line = format!("\n{} = {toml}\n", key.name);
        assert!(
            toml_text.as_ref().is_some_and(|t| t.contains(&line)),
            "default_args {}={python}: {toml_text:?}",
            key.name
        );
    }
    assert!(checked >= 25, "{checked}");
}

#[test]
fn a_none_argument_leaves_a_key_unset_only_where_lithoflow_has_no_default() {
    let src = "
from airflow import DAG
from airflow.operators.bash import BashOperator
with DAG('d', schedule=None):
    BashOperator(task_id='t', bash_command='true', cwd=None, execution_timeout=None, retries=None)
";
    let conv = convert(src);
    let out = tasks(src);
    assert!(
        !out.contains("cwd") && !out.contains("execution_timeout ="),
        "{out}"
    );
    assert!(
        report(&conv).contains("argument `retries` must be an integer"),
        "{}",
        report(&conv)
    );
}

/// Made-up credentials of every kind the converter must not copy (they only look real).
const FAKE_SECRETS: &[&str] = &[
    "Wq7Zt2Lp9XvB4nR8kM3sYc6Hd1Gf5JaQ0eUiTo8P",
    "AKIAZ7QW3ERT5YUI9OPL",
    "r8Xv2Lq9Zt4Wb7Np1Kc6Hs3Mf5Jd0Gy8Ta2Ue4Q",
    "xoxb-2231-5560-Zq8xWv2LmN4pRt6YbC0d",
    "sk-proj-4fJk29XmQpL0vBn7RtYwZs1",
    "Tr0ub4dor-Xk29",
    "hunter2-but-longer",
];

/// A DAG file that hard-codes each of [`FAKE_SECRETS`], in the ways DAG files do.
const DAG_WITH_SECRETS: &str = r#"from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator
from my_functions import call

WEATHER_API_KEY = "Wq7Zt2Lp9XvB4nR8kM3sYc6Hd1Gf5JaQ0eUiTo8P"
AWS_KEY_ID = "AKIAZ7QW3ERT5YUI9OPL"
SLACK_TOKEN = "xoxb-2231-5560-Zq8xWv2LmN4pRt6YbC0d"

def notify(text):
    return {"Authorization": "Bearer " + SLACK_TOKEN, "text": text}

with DAG('d', schedule=None):
    a = PythonOperator(task_id='a', python_callable=call, op_kwargs={"api_key": WEATHER_API_KEY, "warehouse_uri": "postgresql://etl:Tr0ub4dor-Xk29@db.internal:5432/sales"})
    b = BashOperator(task_id='b', bash_command='curl -H "Authorization: Bearer sk-proj-4fJk29XmQpL0vBn7RtYwZs1" https://api.example.com', env={"AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": "r8Xv2Lq9Zt4Wb7Np1Kc6Hs3Mf5Jd0Gy8Ta2Ue4Q"})
    c = PythonOperator(task_id='c', python_callable=call, op_kwargs={"db_password": "hunter2-but-longer"})
    n = PythonOperator(task_id='n', python_callable=notify, op_args=["done"])
    a >> b >> c >> n
"#;

/// Everything a conversion would write or print: the TOML, the module, every diagnostic
/// with its snippet.
fn everything(conv: &FileConversion) -> String {
    let mut s = String::new();
    for d in &conv.dags {
        s.push_str(&d.toml);
    }
    if let Some(m) = &conv.module {
        s.push_str(&m.text);
    }
    for d in &conv.diagnostics {
        s.push_str(&d.to_string());
    }
    s
}

#[test]
fn hard_coded_credentials_are_neither_written_nor_printed() {
    let conv = convert(DAG_WITH_SECRETS);
    let all = everything(&conv);
    for secret in FAKE_SECRETS {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
    }
    let toml = &conv.dags[0].toml;
    for reference in [
        r#"api_key = "{{ var.value.weather_api_key }}""#,
        r#"warehouse_uri = "postgresql://etl:{{ conn.warehouse.password }}@db.internal:5432/sales""#,
        r#"Authorization: Bearer {{ var.value.openai_api_key }}"#,
        r#"AWS_ACCESS_KEY_ID = "{{ var.value.aws_key_id }}""#,
        r#"AWS_SECRET_ACCESS_KEY = "{{ var.value.aws_secret_access_key }}""#,
        r#"db_password = "{{ var.value.db_password }}""#,
    ] {
        assert!(toml.contains(reference), "{reference} missing:\n{toml}");
    }
    let module = conv.module.as_ref().expect("notify moved");
    assert!(
        module
            .text
            .contains(r#"SLACK_TOKEN = os.environ["SLACK_TOKEN"]"#)
            && module.text.contains("import os\n"),
        "{}",
        module.text
    );
    // Each is an error at the literal itself, with its name and never its value.
    let report = report(&conv);
    for expected in [
        "6:20: error: hard-coded credential in `WEATHER_API_KEY`: not copied; the TOML refers to `{{ var.value.weather_api_key }}` instead: set the variable `weather_api_key`",
        "7:15: error: hard-coded credential in `AWS_KEY_ID`",
        "8:15: error: hard-coded credential in `SLACK_TOKEN`: not copied to the generated module, which reads the environment variable `SLACK_TOKEN` instead",
        "14:133: error: hard-coded credential in `warehouse_uri`: not copied; the TOML refers to the connection's password `{{ conn.warehouse.password }}` instead: define the connection `warehouse`",
        "15:80: error: hard-coded credential in `bash_command`: not copied; the TOML refers to `{{ var.value.openai_api_key }}`",
        "16:86: error: hard-coded credential in `db_password`",
    ] {
        assert!(report.contains(expected), "{expected} missing:\n{report}");
    }
    assert!(conv.dags[0].errors >= 7, "{report}");
}

#[test]
fn snippets_of_the_dag_file_mask_credentials() {
    // An error unrelated to the credential, on its line: the snippet masks the value.
    let src = "from airflow import DAG\nfrom airflow.operators.bash import BashOperator\nwith DAG('d', schedule=None):\n    BashOperator(task_id='t', bash_command='true', env={'API_KEY': 'Wq7Zt2Lp9XvB4nR8kM3sYc6Hd1Gf5JaQ0eUiTo8P'}, retries='x')\n";
    let conv = convert(src);
    let all = everything(&conv);
    assert!(!all.contains(FAKE_SECRETS[0]), "{all}");
    let retries = conv
        .diagnostics
        .iter()
        .find(|d| d.message.contains("retries"))
        .expect("retries reported");
    assert!(
        retries
            .to_string()
            .contains("env={'API_KEY': '***'}, retries='x')"),
        "{retries}"
    );
}

#[test]
fn values_that_only_resemble_credentials_are_copied() {
    let src = r#"from airflow import DAG
from airflow.operators.python import PythonOperator
from my_functions import call
with DAG('d', schedule=None, params={"db_password": ""}):
    PythonOperator(task_id='t', python_callable=call, op_kwargs={
        "max_tokens": 100,
        "token_url": "https://auth.example.com/oauth/token",
        "password": "{{ params.db_password }}",
        "api_key": "",
        "secret_name": "prod/warehouse",
        "key": "data/2024/01/file_name.csv",
        "client_secret": "changeme",
        "tokenizer": "bert-base-uncased",
    })
"#;
    let conv = convert(src);
    let report = report(&conv);
    assert!(!report.contains("credential"), "{report}");
    let toml = &conv.dags[0].toml;
    assert!(
        toml.contains(r#"op_kwargs = { max_tokens = 100, token_url = "https://auth.example.com/oauth/token", password = "{{ params.db_password }}", api_key = "", secret_name = "prod/warehouse", key = "data/2024/01/file_name.csv", client_secret = "changeme", tokenizer = "bert-base-uncased" }"#),
        "{toml}"
    );
}

#[test]
fn the_command_writes_references_and_prints_no_credential() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let dag = dir.path().join("dag.py");
    std::fs::write(&dag, DAG_WITH_SECRETS).expect("written");
    std::fs::write(
        dir.path().join("my_functions.py"),
        "def call(**kw):\n    return kw\n",
    )
    .expect("written");
    let run_with = |allow_partial: bool| {
        let args = MigrateArgs {
            paths: vec![dag.clone()],
            out: Some(dir.path().join("out")),
            airflow_version: Some(AirflowVersion::V2),
            allow_partial,
            static_only: true,
            now: Some("2026-11-28T10:00:00Z".into()),
        };
        let (mut summary, mut report) = (Vec::new(), Vec::new());
        let outcome = run(&args, &mut summary, &mut report).expect("runs");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&summary),
            String::from_utf8_lossy(&report)
        );
        (outcome, printed)
    };
    // Without --allow-partial a credential is an error like any other: nothing written.
    let (outcome, printed) = run_with(false);
    assert!(outcome.failed() && outcome.written.is_empty(), "{printed}");
    for secret in FAKE_SECRETS {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    let (outcome, printed) = run_with(true);
    assert!(!outcome.failed() && outcome.written.len() == 3, "{printed}");
    assert!(
        printed.contains("dag.py:6:20: error: hard-coded credential in `WEATHER_API_KEY`"),
        "{printed}"
    );
    for path in &outcome.written {
        let text = std::fs::read_to_string(path).expect("readable");
        for secret in FAKE_SECRETS {
            assert!(
                !text.contains(secret),
                "{secret} in {}:\n{text}",
                path.display()
            );
        }
    }
    for secret in FAKE_SECRETS {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
}

#[test]
fn a_pem_private_key_with_escaped_newlines_is_found_where_it_starts() {
    let src = "from airflow import DAG\nfrom airflow.operators.python import PythonOperator\nfrom my_functions import call\nwith DAG('d', schedule=None):\n    PythonOperator(task_id='t', python_callable=call, op_kwargs={'cert': '-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAq8xWv2LmN4pRt6Yb\\n-----END RSA PRIVATE KEY-----'})\n";
    let conv = convert(src);
    let all = everything(&conv);
    assert!(!all.contains("MIIEowIBAAKCAQEAq8xWv2LmN4pRt6Yb"), "{all}");
    assert!(
        conv.dags[0]
            .toml
            .contains(r#"op_kwargs = { cert = "{{ var.value.private_key }}" }"#),
        "{}",
        conv.dags[0].toml
    );
    assert!(
        report(&conv).contains("5:75: error: hard-coded credential in `cert`"),
        "{}",
        report(&conv)
    );
}
