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
