//! Template rendering: 1,000 tasks, each with templated values using Airflow's context
//! names, date arithmetic and macros, rendered as the scheduler renders a task before
//! dispatching it (one `Renderer` per DAG, a fresh context per task). Prints the time per
//! task render: median and 95th percentile over every render of several rounds.
//!
//!   bench_templates [--tasks 1000] [--rounds 7]

use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use lithoflow_dag::template::{Context, Renderer, TemplateSettings, UserMacro};
use lithoflow_dag::template_values::Lookup;
use serde_json::{Value, json};

/// The templated values of one task: what real DAG files write (bench/README.md).
fn task_values(i: usize) -> Value {
    json!({
        "day": "{{ ds }}",
        "path": format!("s3://bucket/{{{{ ds_nodash }}}}/part-{i}/{{{{ ts_nodash }}}}"),
        "yesterday": "{{ macros.ds_add(ds, -1) }}",
        "month": "{{ (logical_date - macros.timedelta(days=1)).strftime('%Y%m') }}",
        "last_day": "{{ (logical_date.replace(day=1) + macros.dateutil.relativedelta.relativedelta(months=1, days=-1)) | ds }}",
        "window": "{{ data_interval_start | ts }}/{{ data_interval_end | ts }}",
        "local": "{{ data_interval_end.in_timezone('Europe/Amsterdam').strftime('%H:%M') }}",
        "key": "{{ task_instance_key_str }}-{{ ti.try_number }}-{{ dag_run.run_type }}",
        "conf": "{{ dag_run.conf.get('table', params.table) }}",
        "project": "{{ project }}",
        "bucket": "{{ var.value.bucket }}/{{ var.json.limits.rows }}",
        "host": "{{ conn.warehouse.host }}:{{ conn.warehouse.port }}",
        "plain": "not templated",
        "n": i,
    })
}

/// Variables and connections from memory: the benchmark measures the templates, not the
/// state store.
struct Memory;

impl Lookup for Memory {
    fn variable(&self, key: &str) -> Result<Option<String>, String> {
        Ok(match key {
            "bucket" => Some("s3://data".to_owned()),
            "limits" => Some(r#"{"rows": 500}"#.to_owned()),
            _ => None,
        })
    }

    fn connection(&self, conn_id: &str) -> Result<Option<Value>, String> {
        Ok((conn_id == "warehouse").then(|| {
            json!({"conn_id": "warehouse", "conn_type": "postgres", "host": "db.internal", "port": 5432, "login": "etl", "schema": "sales", "extra_dejson": {}, "uri": "postgres://etl@db.internal:5432/sales"})
        }))
    }
}

fn main() {
    let mut tasks = 1000usize;
    let mut rounds = 7usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let n = it.next().and_then(|v| v.parse().ok());
        match (a.as_str(), n) {
            ("--tasks", Some(n)) => tasks = n,
            ("--rounds", Some(n)) => rounds = n,
            _ => {
                eprintln!("usage: bench_templates [--tasks N] [--rounds N]");
                std::process::exit(2);
            }
        }
    }
    let mut settings = TemplateSettings::default();
    settings
        .user_defined_macros
        .insert("project".into(), UserMacro::Value(json!("analytics")));
    let renderer = Renderer::new(&settings, None);
    let lookup: Arc<dyn Lookup> = Arc::new(Memory);
    let values: Vec<Value> = (0..tasks).map(task_values).collect();
    let ld = Utc
        .with_ymd_and_hms(2026, 11, 1, 2, 0, 0)
        .single()
        .expect("valid");
    let mut per_render = Vec::with_capacity(tasks * rounds);
    let mut rendered_bytes = 0usize;
    for _ in 0..rounds {
        for (i, v) in values.iter().enumerate() {
            let started = Instant::now();
            let mut c = Context::new(
                "bench",
                &format!("t{i}"),
                "scheduled__2026-11-01T02:00:00+00:00",
                ld,
            );
            c.run_type = "scheduled".into();
            c.params = json!({"table": "events"})
                .as_object()
                .cloned()
                .unwrap_or_default();
            let out = renderer
                .render_with(v, &c, Some(Arc::clone(&lookup)))
                .expect("renders");
            per_render.push(started.elapsed().as_secs_f64() * 1e6);
            rendered_bytes += out.to_string().len();
        }
    }
    per_render.sort_by(f64::total_cmp);
    let q = |p: f64| per_render[((per_render.len() - 1) as f64 * p).round() as usize];
    let templates = task_values(0)
        .as_object()
        .map_or(0, |m| m.values().filter(|v| v.is_string()).count() - 1);
    println!(
        "bench_templates: {tasks} tasks x {rounds} rounds, {templates} templated strings per task"
    );
    println!(
        "  per task render: median {:.1} us, p95 {:.1} us, min {:.1} us",
        q(0.5),
        q(0.95),
        q(0.0)
    );
    println!(
        "  per template:    median {:.2} us",
        q(0.5) / templates as f64
    );
    println!(
        "  {tasks} tasks:      {:.1} ms (the median x {tasks})",
        q(0.5) * tasks as f64 / 1000.0
    );
    println!("  ({rendered_bytes} bytes rendered)");
}
