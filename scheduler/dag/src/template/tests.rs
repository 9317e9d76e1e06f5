//! The renderer against what Airflow renders: each expected text below is Airflow's
//! (Jinja2's sandboxed environment with `StrictUndefined` and Airflow's filters, pendulum
//! 3.1 dates, the macros of `airflow/macros/__init__.py`), produced with real Python for
//! the same context.

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::*;

fn at(y: i32, mo: u32, d: u32, h: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0)
        .single()
        .expect("valid")
}

/// The context the expected texts were rendered with.
fn ctx() -> Context {
    let mut c = Context::new(
        "d",
        "t",
        "scheduled__2026-11-01T02:00:00+00:00",
        at(2026, 11, 1, 2),
    );
    c.run_type = "scheduled".to_owned();
    c.data_interval_start = at(2026, 10, 31, 2);
    c.params = json!({"n": 10, "name": "x", "items": [1, 2]})
        .as_object()
        .cloned()
        .expect("object");
    c.conf = json!({"k": "v"}).as_object().cloned().expect("object");
    c.try_number = 2;
    c
}

fn one(r: &Renderer, t: &str, c: &Context) -> Result<Value, String> {
    r.render(&Value::String(t.to_owned()), c)
}

#[test]
fn templates_render_as_airflow_renders_them() {
    let rows: &[(&str, &str)] = &[
        ("{{ logical_date }}", "2026-11-01 02:00:00+00:00"),
        (
            "{{ data_interval_start }}|{{ data_interval_end | ds }}|{{ logical_date | ts }}|{{ logical_date | ts_nodash_with_tz }}",
            "2026-10-31 02:00:00+00:00|2026-11-01|2026-11-01T02:00:00+00:00|20261101T020000+0000",
        ),
        (
            "{{ logical_date.year }}-{{ logical_date.month }} {{ logical_date.strftime('%Y') }} {{ logical_date.isoformat() }}",
            "2026-11 2026 2026-11-01T02:00:00+00:00",
        ),
        (
            "{{ (logical_date - macros.timedelta(days=1)).strftime('%Y%m%d') }}",
            "20261031",
        ),
        (
            "{{ macros.ds_add(ds, -1) }} {{ macros.ds_add(ds, 5) }} {{ macros.ds_add(ds, 0) }}",
            "2026-10-31 2026-11-06 2026-11-01",
        ),
        (
            "{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}",
            "01/11/2026",
        ),
        ("{{ macros.datetime(2020, 1, 1) }}", "2020-01-01 00:00:00"),
        (
            "{{ data_interval_end + macros.timedelta(days=7) }}",
            "2026-11-08 02:00:00+00:00",
        ),
        (
            "{{ data_interval_end + macros.timedelta(days=-3) }}",
            "2026-10-29 02:00:00+00:00",
        ),
        (
            "{{ (data_interval_start + macros.timedelta(hours=1)).date() }}",
            "2026-10-31",
        ),
        (
            "{{ '{:02d}'.format((data_interval_start + macros.timedelta(hours=1)).hour) }}",
            "03",
        ),
        (
            "{{ logical_date.replace(day=1).strftime(\"%Y-%m-%d\") }}",
            "2026-11-01",
        ),
        (
            "{{ (logical_date.replace(day=1) + macros.dateutil.relativedelta.relativedelta(months=1, days=-1)).strftime(\"%Y-%m-%d\") }}",
            "2026-11-30",
        ),
        (
            "{{ (logical_date - macros.dateutil.relativedelta.relativedelta(months=2)).year }} {{ (logical_date - macros.dateutil.relativedelta.relativedelta(months=2)).month }}",
            "2026 9",
        ),
        (
            "{{ (data_interval_end.in_timezone(\"Asia/Seoul\") + macros.dateutil.relativedelta.relativedelta(months=-1, day=1)) | ds }}",
            "2026-10-01",
        ),
        (
            "{{ data_interval_end.in_timezone(\"Asia/Seoul\") }}",
            "2026-11-01 11:00:00+09:00",
        ),
        (
            "{{ data_interval_end.in_timezone(\"Asia/Seoul\") | ds_nodash }}",
            "20261101",
        ),
        (
            "{{ data_interval_start.subtract(days=1) | ds }}",
            "2026-10-30",
        ),
        (
            "{{ data_interval_start.subtract(years=10).strftime('%Y-%m-%dT%H:%M:%SZ') }}",
            "2016-10-31T02:00:00Z",
        ),
        (
            "{{ data_interval_start.subtract(hours=1).isoformat() }}",
            "2026-10-31T01:00:00+00:00",
        ),
        (
            "{{ data_interval_start.add(months=3).strftime('%Y-%m') }} {{ ds[:7] }}",
            "2027-01 2026-11",
        ),
        (
            "{{ logical_date.start_of('month') }} {{ logical_date.end_of('month') }}",
            "2026-11-01 00:00:00+00:00 2026-11-30 23:59:59.999999+00:00",
        ),
        (
            "{{ logical_date.start_of('week') }}",
            "2026-10-26 00:00:00+00:00",
        ),
        (
            "{{ logical_date.format('YYYY-MM-DD HH:mm:ss Z') }} {{ logical_date.format('Do MMMM YYYY, dddd') }}",
            "2026-11-01 02:00:00 +00:00 1st November 2026, Sunday",
        ),
        (
            "{{ logical_date.to_date_string() }} {{ logical_date.to_datetime_string() }} {{ logical_date.int_timestamp }}",
            "2026-11-01 2026-11-01 02:00:00 1793498400",
        ),
        (
            "{{ logical_date.day_of_week }} {{ logical_date.day_of_year }} {{ logical_date.weekday() }} {{ logical_date.isoweekday() }}",
            "6 305 6 7",
        ),
        (
            "{{ data_interval_end - data_interval_start }}",
            "<Interval [2026-10-31 02:00:00+00:00 -> 2026-11-01 02:00:00+00:00]>",
        ),
        (
            "{{ (data_interval_end - data_interval_start).total_seconds() }}",
            "86400.0",
        ),
        (
            "{{ macros.timedelta(hours=36) }} {{ macros.timedelta(seconds=-1) }} {{ macros.timedelta(minutes=5, microseconds=7) }}",
            "1 day, 12:00:00 -1 day, 23:59:59 0:05:00.000007",
        ),
        (
            "{{ logical_date > data_interval_start }} {{ logical_date == data_interval_end }}",
            "True True",
        ),
        (
            "{{ macros.datetime.strptime('2024-03-05', '%Y-%m-%d') }}",
            "2024-03-05 00:00:00",
        ),
        (
            "{{ macros.datetime.strptime(ds, '%Y-%m-%d').strftime('%d.%m.%Y') }}",
            "01.11.2026",
        ),
        (
            "{{ macros.json.dumps({'a': [1, 2.5, None, True], 'b': 'é'}) }}",
            "{\"a\": [1, 2.5, null, true], \"b\": \"\\u00e9\"}",
        ),
        ("{{ macros.json.loads('{\"x\": [1, 2]}').x[1] }}", "2"),
        (
            "{{ dag_run.conf.get('k') }} {{ dag_run.conf.get('missing', 'dflt') }}",
            "v dflt",
        ),
        (
            "{{ dag_run.conf.get('partition_date') or data_interval_end.in_timezone('Asia/Seoul').strftime('%Y-%m-%d') }}",
            "2026-11-01",
        ),
        (
            "{{ run_id.startswith('scheduled') }} {{ ds.replace('-', '/') }} {{ ds.split('-')[0] }}",
            "True 2026/11/01 2026",
        ),
        (
            "{{ params.n * 2 }} {{ params.n + 1 }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 10 - 3 }} {{ 1.5 + 1 }}",
            "20 11 ab [1, 2] 7 2.5",
        ),
        (
            "{{ prev_start_date_success }} {{ prev_start_date_success | ds }}",
            "None None",
        ),
        (
            "{{ macros.datetime(2020, 1, 1, 12, 30) - macros.datetime(2020, 1, 1) }}",
            "12:30:00",
        ),
        (
            "{{ macros.datetime(2020, 1, 31) + macros.dateutil.relativedelta.relativedelta(months=1) }}",
            "2020-02-29 00:00:00",
        ),
        (
            "{{ (logical_date + macros.dateutil.relativedelta.relativedelta(weekday=macros.dateutil.relativedelta.MO(-1))) | ds }}",
            "2026-10-26",
        ),
        (
            "{{ logical_date.date() - macros.timedelta(days=1) }}",
            "2026-10-31",
        ),
        (
            "{{ logical_date.strftime('%A %B %j %U %a %b %p %I %y %-m/%-d') }}",
            "Sunday November 305 44 Sun Nov AM 02 26 11/1",
        ),
        (
            "{{ macros.datetime(2020, 1, 1).isoformat() }} {{ macros.datetime(2020, 1, 1, 0, 0, 0, 5) }}",
            "2020-01-01T00:00:00 2020-01-01 00:00:00.000005",
        ),
        (
            "{% for i in range(3) %}{{ macros.ds_add(ds, i) }},{% endfor %}",
            "2026-11-01,2026-11-02,2026-11-03,",
        ),
        (
            "{% set d = logical_date - macros.timedelta(days=1) %}{{ d | ds_nodash }}",
            "20261031",
        ),
        (
            "{{ ts_nodash }} {{ ts_nodash_with_tz }} {{ ds_nodash }}",
            "20261101T020000 20261101T020000+0000 20261101",
        ),
        (
            "{{ logical_date.in_timezone('America/New_York').isoformat() }}",
            "2026-10-31T22:00:00-04:00",
        ),
        (
            "{{ (logical_date.in_timezone('Europe/Amsterdam') - macros.timedelta(days=7)) }}",
            "2026-10-25 03:00:00+01:00",
        ),
        (
            "{{ logical_date.in_timezone('Europe/Amsterdam').add(days=-7) }}",
            "2026-10-25 03:00:00+01:00",
        ),
        (
            "{{ logical_date.tzinfo }} {{ macros.datetime(2020,1,1).tzinfo }}",
            "UTC None",
        ),
    ];
    let r = Renderer::plain();
    let c = ctx();
    let mut wrong = Vec::new();
    for (t, want) in rows {
        match one(&r, t, &c) {
            Ok(Value::String(got)) if got == *want => {}
            other => wrong.push(format!("{t}\n  want {want:?}\n  got  {other:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn native_rendering_gives_values_as_jinja2_native_concat_does() {
    let settings = TemplateSettings {
        render_template_as_native_obj: true,
        ..TemplateSettings::default()
    };
    let r = Renderer::new(&settings, None);
    let c = ctx();
    for (t, want) in [
        ("{{ params['items'] }}", json!([1, 2])),
        ("{{ params.n }}", json!(10)),
        ("[{{ params.n }}, 2]", json!([10, 2])),
        (
            "{{ params }}",
            json!({"n": 10, "name": "x", "items": [1, 2]}),
        ),
        ("42", json!(42)),
        ("hello", json!("hello")),
        (" 1", json!(" 1")),
        ("{{ params.name }}", json!("x")),
        ("{{ '[1, 2]' }}", json!([1, 2])),
        ("{{ params.n }}-{{ params.n }}", json!("10-10")),
        ("{{ ds }}", json!("2026-11-01")),
        ("{{ dag_run.conf }}", json!({"k": "v"})),
        ("{{ None }}", json!(null)),
        ("{{ True }}", json!(true)),
        ("{{ 1.5 }}", json!(1.5)),
        ("{\"a\": {{ params.n }}}", json!({"a": 10})),
        // A date leaves as ISO 8601 text (Airflow passes the DateTime object itself).
        ("{{ logical_date }}", json!("2026-11-01T02:00:00+00:00")),
    ] {
        assert_eq!(one(&r, t, &c), Ok(want), "{t}");
    }
    // Without the setting, the same values are text.
    assert_eq!(
        one(&Renderer::plain(), "{{ params['items'] }}", &c),
        Ok(json!("[1, 2]"))
    );
    assert_eq!(one(&Renderer::plain(), "42", &c), Ok(json!("42")));
}

#[test]
fn airflow_2_names_have_their_airflow_2_values() {
    let mut c = ctx();
    c.prev_execution_date = Some(at(2026, 10, 31, 2));
    c.next_execution_date = Some(at(2026, 11, 2, 2));
    c.prev_success = Some(PrevRun {
        logical_date: at(2026, 10, 30, 2),
        data_interval_start: at(2026, 10, 29, 2),
        data_interval_end: at(2026, 10, 30, 2),
        start_date: Some(at(2026, 10, 30, 3)),
        end_date: None,
    });
    let t = "{{ execution_date }}|{{ prev_ds }}|{{ prev_ds_nodash }}|{{ next_ds }}|{{ next_ds_nodash }}|{{ yesterday_ds }}|{{ yesterday_ds_nodash }}|{{ tomorrow_ds }}|{{ tomorrow_ds_nodash }}|{{ next_execution_date | ds }}|{{ prev_execution_date_success | ds }}";
    assert_eq!(
        one(&Renderer::plain(), t, &c),
        Ok(json!(
            "2026-11-01 02:00:00+00:00|2026-10-31|20261031|2026-11-02|20261102|2026-10-31|20261031|2026-11-02|20261102|2026-11-02|2026-10-30"
        ))
    );
    let t = "{{ prev_data_interval_start_success }}|{{ prev_data_interval_end_success | ds }}|{{ prev_start_date_success.hour }}|{{ prev_end_date_success }}";
    assert_eq!(
        one(&Renderer::plain(), t, &c),
        Ok(json!("2026-10-29 02:00:00+00:00|2026-10-30|3|None"))
    );
    // Without a schedule's neighbours (Airflow 2.10's cron_trigger), they are None.
    c.prev_execution_date = None;
    assert_eq!(
        one(&Renderer::plain(), "{{ prev_ds }}", &c),
        Ok(json!("None"))
    );
}

#[test]
fn the_context_objects_print_and_answer_as_airflows() {
    let c = ctx();
    let r = Renderer::plain();
    for (t, want) in [
        (
            "{{ ti.task_id }} {{ ti.try_number }} {{ ti.map_index }} {{ task_instance.dag_id }}",
            "t 2 -1 d",
        ),
        (
            "{{ ti }}",
            "<TaskInstance: d.t scheduled__2026-11-01T02:00:00+00:00 [running]>",
        ),
        (
            "{{ dag }} {{ dag.dag_id }} {{ task }} {{ task.task_id }}",
            "<DAG: d> d <Task(PythonOperator): t> t",
        ),
        (
            "{{ dag_run.run_id }} {{ dag_run.run_type }} {{ dag_run.conf.k }} {{ dag_run.logical_date | ds }}",
            "scheduled__2026-11-01T02:00:00+00:00 scheduled v 2026-11-01",
        ),
        (
            "{{ task_instance_key_str }} {{ run_id }}",
            "d__t__20261101 scheduled__2026-11-01T02:00:00+00:00",
        ),
        ("{{ inlets }} {{ outlets }} {{ test_mode }}", "[] [] False"),
        ("{{ ti.xcom_pull(task_ids='up') }}", "None"),
    ] {
        assert_eq!(one(&r, t, &c), Ok(json!(want)), "{t}");
    }
}

#[derive(Debug)]
struct Pushed;

impl XcomSource for Pushed {
    fn xcom(&self, task_id: &str, key: &str) -> Option<Value> {
        match (task_id, key) {
            ("up", "return_value") => Some(json!({"ids": [1, 2]})),
            ("other", "return_value") => Some(json!("b")),
            ("up", "count") => Some(json!(3)),
            _ => None,
        }
    }
}

#[test]
fn xcom_pull_reads_the_runs_values() {
    let mut c = ctx();
    c.xcom = Some(std::sync::Arc::new(Pushed));
    let r = Renderer::plain();
    for (t, want) in [
        ("{{ ti.xcom_pull(task_ids='up') }}", "{'ids': [1, 2]}"),
        ("{{ ti.xcom_pull(task_ids='up')['ids'][1] }}", "2"),
        ("{{ task_instance.xcom_pull('up', key='count') }}", "3"),
        (
            "{{ ti.xcom_pull(task_ids=['up', 'missing', 'other']) }}",
            "[{'ids': [1, 2]}, 'b']",
        ),
        ("{{ ti.xcom_pull(task_ids='missing') }}", "None"),
    ] {
        assert_eq!(one(&r, t, &c), Ok(json!(want)), "{t}");
    }
    let err = one(&r, "{{ ti.xcom_push('k', 1) }}", &c).expect_err("not in templates");
    assert!(
        err.contains("ti.xcom_push cannot be called from a template"),
        "{err}"
    );
}

#[test]
fn the_clock_and_randomness_come_from_the_context() {
    let mut c = ctx();
    c.now = Utc
        .with_ymd_and_hms(2030, 5, 6, 7, 8, 9)
        .single()
        .expect("valid");
    c.local_offset = chrono::FixedOffset::east_opt(2 * 3600).expect("valid");
    c.seed = 7;
    let r = Renderer::plain();
    for (t, want) in [
        ("{{ macros.datetime.now() }}", "2030-05-06 09:08:09"),
        ("{{ macros.datetime.utcnow() }}", "2030-05-06 07:08:09"),
        (
            "{{ macros.datetime.now('UTC') }}",
            "2030-05-06 07:08:09+00:00",
        ),
        ("{{ macros.datetime.now().strftime('%Y') }}", "2030"),
        ("{{ macros.time.time() | int }}", "1904281689"),
        (
            "{{ {'b': [1, '<a>'], 'a': None, 'é': 1} | tojson }}",
            "{\"a\": null, \"b\": [1, \"\\u003ca\\u003e\"], \"\\u00e9\": 1}",
        ),
        ("{{ macros.date.today() }}", "2030-05-06"),
    ] {
        assert_eq!(one(&r, t, &c), Ok(json!(want)), "{t}");
    }
    let Ok(Value::String(u)) = one(&r, "{{ macros.uuid.uuid4() }} {{ macros.random() }}", &c)
    else {
        panic!("renders")
    };
    let (uuid, random) = u.split_once(' ').expect("two values");
    let shape =
        regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .expect("regex");
    assert!(shape.is_match(uuid), "{uuid}");
    let f: f64 = random.parse().expect("a float");
    assert!((0.0..1.0).contains(&f), "{f}");
}

#[test]
fn user_defined_macros_are_names_the_context_hides() {
    let mut settings = TemplateSettings::default();
    settings
        .user_defined_macros
        .insert("project".into(), UserMacro::Value(json!("analytics")));
    settings
        .user_defined_macros
        .insert("limits".into(), UserMacro::Value(json!({"rows": 5})));
    let r = Renderer::new(&settings, None);
    assert_eq!(
        one(&r, "{{ project }}-{{ limits.rows * 2 }}-{{ ds }}", &ctx()),
        Ok(json!("analytics-10-2026-11-01"))
    );
    settings.user_defined_macros.insert(
        "shout".into(),
        UserMacro::Callable(FuncRef {
            module: "helpers".into(),
            function: "shout".into(),
        }),
    );
    let err =
        one(&Renderer::new(&settings, None), "{{ shout('a') }}", &ctx()).expect_err("no caller");
    assert!(
        err.contains("`shout` calls Python (helpers:shout)"),
        "{err}"
    );
}

#[derive(Debug)]
struct Echo;

impl PyCaller for Echo {
    fn call(
        &self,
        func: &FuncRef,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, String> {
        Ok(json!({"f": func.to_string(), "args": args, "kwargs": kwargs}))
    }
}

#[test]
fn python_macros_and_filters_get_json_arguments() {
    let mut settings = TemplateSettings::default();
    let f = |m: &str| FuncRef {
        module: "helpers".into(),
        function: m.into(),
    };
    settings
        .user_defined_macros
        .insert("m".into(), UserMacro::Callable(f("m")));
    settings.user_defined_filters.insert("flt".into(), f("flt"));
    let r = Renderer::new(&settings, Some(std::sync::Arc::new(Echo)));
    assert_eq!(
        one(&r, "{{ m(logical_date, 2, k=ds) | tojson }}", &ctx()),
        Ok(json!(
            r#"{"args": ["2026-11-01T02:00:00+00:00", 2], "f": "helpers:m", "kwargs": {"k": "2026-11-01"}}"#
        ))
    );
    assert_eq!(
        one(&r, "{{ (params.name | flt(3))['args'] }}", &ctx()),
        Ok(json!("['x', 3]"))
    );
}

#[test]
fn errors_name_the_template_and_what_python_would_say() {
    let r = Renderer::plain();
    let c = ctx();
    for (t, says) in [
        ("{{ params.missing }}", "undefined value"),
        (
            "{{ logical_date + 1 }}",
            "TypeError: unsupported operand type(s) for +: 'datetime' and 'number'",
        ),
        (
            "{{ macros.ds_add('2026/11/01', 1) }}",
            "ValueError: time data \"2026/11/01\"",
        ),
        (
            "{{ ds | ds }}",
            "the `ds` filter takes a date or a datetime, not str",
        ),
        (
            "{{ logical_date.start_of('fortnight') }}",
            "Invalid unit \"fortnight\"",
        ),
        (
            "{{ macros.datetime(2020, 13, 1) }}",
            "ValueError: month must be in 1..12",
        ),
        (
            "{{ macros.timedelta(fortnights=1) }}",
            "unexpected keyword argument",
        ),
    ] {
        let err = one(&r, t, &c).expect_err(t);
        assert!(
            err.starts_with(&format!("template {t:?} does not render")),
            "{err}"
        );
        assert!(err.contains(says), "{t}: {err}");
    }
}

#[test]
fn the_json_context_is_what_python_rebuilds_objects_from() {
    let mut c = ctx();
    c.prev_execution_date = None;
    let j = c.json();
    for (k, v) in [
        ("logical_date", json!("2026-11-01T02:00:00+00:00")),
        ("data_interval_start", json!("2026-10-31T02:00:00+00:00")),
        ("ds", json!("2026-11-01")),
        ("ts_nodash_with_tz", json!("20261101T020000+0000")),
        ("task_instance_key_str", json!("d__t__20261101")),
        ("prev_ds", json!(null)),
        ("prev_start_date_success", json!(null)),
        ("execution_date", json!("2026-11-01T02:00:00+00:00")),
        ("inlets", json!([])),
    ] {
        assert_eq!(j.get(k), Some(&v), "{k}");
    }
    assert_eq!(j["ti"]["map_index"], json!(-1));
    assert_eq!(j["ti"]["try_number"], json!(2));
    assert_eq!(j["task_instance"], j["ti"]);
    assert_eq!(j["dag_run"]["run_type"], json!("scheduled"));
    assert_eq!(j["dag_run"]["conf"], json!({"k": "v"}));
    assert_eq!(j["dag_run"]["external_trigger"], json!(false));
}
