//! Unit tests of DAG parsing: defaults, aliases, dates and binding forms.

use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

/// The DAG of a valid file (no diagnostic at all).
pub(crate) fn parse_ok(text: &str) -> Dag {
    let (dag, diags) = parse_dag(Path::new("t.toml"), text);
    let rendered: String = diags.iter().map(ToString::to_string).collect();
    assert!(diags.is_empty(), "unexpected diagnostics:\n{rendered}");
    dag.expect("valid DAG")
}

/// The headlines of an invalid file's errors.
pub(crate) fn errors(text: &str) -> Vec<String> {
    let (dag, diags) = parse_dag(Path::new("t.toml"), text);
    assert!(dag.is_none(), "expected the DAG to be invalid");
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.headline())
        .collect()
}

#[test]
fn an_empty_file_is_a_manual_dag_named_after_the_file() {
    let dag = parse_ok("");
    assert_eq!(dag.dag_id, "t");
    assert!(dag.schedule.is_none());
    assert!(
        dag.is_paused_upon_creation,
        "Airflow's default: new DAGs start paused"
    );
    assert!(!dag.catchup);
    assert_eq!((dag.max_active_runs, dag.max_active_tasks), (16, 16));
    assert!(dag.tasks.is_empty());
}

#[test]
fn default_args_fill_in_and_a_tasks_own_value_wins() {
    let dag = parse_ok(
        r#"
[default_args]
retries = 3
retry_delay = "1m"
retry_exponential_backoff = true
chunk_n = 4
owner = "data-team"
lithops_config = { backend = "aws_lambda", runtime_memory = 512 }

[tasks.a]
type = "call_async"
func = "m:f"
retries = 0
lithops_config = { runtime_memory = 2048 }

[tasks.b]
type = "map"
map_function = "m:f"
map_iterdata = [{ obj = "data/" }]
chunk_size = 1024
"#,
    );
    let a = dag.task("a").expect("a");
    assert_eq!(a.retries, 0);
    assert_eq!(a.retry_delay, Duration::from_secs(60));
    assert_eq!(a.retry_exponential_backoff, 2.0);
    assert_eq!(a.owner, "data-team");
    assert_eq!(
        a.common.lithops_config.backend,
        Some(lithoflow_executor_config::Backend::AwsLambda)
    );
    assert_eq!(a.common.lithops_config.runtime_memory, Some(2048));
    let TaskKind::Map(b) = &dag.task("b").expect("b").kind else {
        panic!("b is a map")
    };
    assert_eq!(
        (b.chunk_size, b.chunk_n),
        (Some(1024), None),
        "a task's chunk_size beats a default chunk_n"
    );
    assert_eq!(b.invoke_pool_threads, None);
}

#[test]
fn a_tasks_params_merge_over_default_args_params_key_by_key() {
    let dag = parse_ok(
        r#"
params = { marker = "dag", n = 1 }

[default_args]
params = { marker = "default", region = "eu" }

[tasks.own]
type = "bash"
bash_command = "echo {{ params.marker }}"
params = { marker = "task", extra = [1, 2] }

[tasks.plain]
type = "empty"
"#,
    );
    assert_eq!(dag.params.get("marker"), Some(&json!("dag")));
    let own = dag.task("own").expect("own");
    assert_eq!(
        own.params
            .as_ref()
            .map(|p| serde_json::Value::Object(p.clone())),
        Some(json!({"marker": "task", "region": "eu", "extra": [1, 2]}))
    );
    let plain = dag.task("plain").expect("plain");
    assert_eq!(
        plain
            .params
            .as_ref()
            .map(|p| serde_json::Value::Object(p.clone())),
        Some(json!({"marker": "default", "region": "eu"}))
    );
    let bad = errors("[tasks.t]\ntype = \"empty\"\nparams = 3\n");
    assert!(bad.iter().any(|e| e.contains("params")), "{bad:?}");
}

#[test]
fn the_plugins_spellings_are_accepted() {
    let dag = parse_ok(
        r#"
[config]
storage = "localhost"

[tasks.gen]
type = "LithopsCallAsyncOperator"
func = "m:gen"

[tasks.m]
type = "LithopsMapOperator"
map_function = "m:f"
iterdata_form_task = { a = "gen" }
extra_args = [10]

[tasks.mr]
type = "LithopsMapReduceOperator"
map_function = "m:f"
reduce_function = "m:r"
map_iterdata = [1]
"#,
    );
    assert_eq!(
        dag.lithops_config.storage,
        Some(lithoflow_executor_config::StorageBackend::Localhost)
    );
    let TaskKind::Map(m) = &dag.task("m").expect("m").kind else {
        panic!("m is a map")
    };
    assert!(
        matches!(&m.iterdata, Iterdata::FromTaskKeyword { keyword, task } if keyword == "a" && task == "gen")
    );
    assert!(matches!(&m.extra_params, Some(ExtraParams::Positional(p)) if p == &vec![json!(10)]));
    assert_eq!(dag.task("mr").map(Task::type_name), Some("map_reduce"));
    assert_eq!(dag.graph.edges(), vec![("gen", "m")]);
}

#[test]
fn dates_are_read_in_the_dags_zone() {
    let dag = parse_ok(
        "timezone = \"Europe/Amsterdam\"\nstart_date = 2026-07-01T02:00:00\nend_date = 2026-12-01\n",
    );
    assert_eq!(
        dag.start_date,
        Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).single()
    );
    assert_eq!(
        dag.end_date,
        Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).single()
    );

    // Without `timezone`, a start_date offset sets the zone, and end_date follows it.
    let dag = parse_ok("start_date = 2026-11-01T00:00:00-05:00\nend_date = 2026-12-01T00:00:00\n");
    assert_eq!(dag.timezone.to_string(), "-05:00");
    assert_eq!(
        dag.end_date,
        Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).single()
    );

    let dag = parse_ok("start_date = \"2026-11-01T00:00:00Z\"\n");
    assert_eq!(dag.timezone.to_string(), "UTC");
}

#[test]
fn local_times_in_dst_gaps_and_folds_are_read_as_airflow_reads_pendulum_datetimes() {
    // pendulum's fold=1: a time in the spring-forward gap moves forward by the gap
    // (02:30 -> 03:30 CEST = 01:30 UTC) ...
    let dag = parse_ok("timezone = \"Europe/Amsterdam\"\nstart_date = 2026-03-29T02:30:00\n");
    assert_eq!(
        dag.start_date,
        Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).single()
    );
    // ... and a time that exists twice is its second occurrence (02:30 CET = 01:30 UTC).
    let dag = parse_ok("timezone = \"Europe/Amsterdam\"\nstart_date = 2026-10-25T02:30:00\n");
    assert_eq!(
        dag.start_date,
        Utc.with_ymd_and_hms(2026, 10, 25, 1, 30, 0).single()
    );
}

#[test]
fn schedules_presets_and_aliases() {
    let s = |text: &str| {
        parse_ok(&format!("schedule = {text:?}\nstart_date = 2026-01-01\n"))
            .schedule
            .map(|s| s.as_str().to_owned())
    };
    assert_eq!(s("@daily").as_deref(), Some("@daily"));
    assert_eq!(s("@annually").as_deref(), Some("@annually"));
    assert_eq!(
        s("*/5 9-17 * * mon-fri").as_deref(),
        Some("*/5 9-17 * * mon-fri")
    );
    assert_eq!(s("@once").as_deref(), Some("@once"));
    let dag = parse_ok("schedule = \"@continuous\"\n");
    assert_eq!(dag.max_active_runs, 1, "@continuous implies one active run");
}

#[test]
fn argument_forms_keep_their_json_shape() {
    let dag = parse_ok(
        r#"
params = { n = 10, when = 2026-01-01 }

[tasks.c]
type = "call_async"
func = "pkg.sub.mod:fn_2"
data = [1, [2, 3]]
extra_env = { DEBUG = 1, MODE = "fast", ON = true }

[tasks.m]
type = "map"
map_function = "m:f"
map_iterdata = [1, "s", [1, 2], { x = 1 }, 1.5]
extra_params = { y = 1 }
"#,
    );
    assert_eq!(json!(dag.params), json!({"n": 10, "when": "2026-01-01"}));
    let c = dag.task("c").expect("c");
    let TaskKind::CallAsync(call) = &c.kind else {
        panic!("c is call_async")
    };
    assert_eq!(call.func.to_string(), "pkg.sub.mod:fn_2");
    assert_eq!(call.data, json!([1, [2, 3]]));
    assert_eq!(
        json!(c.common.extra_env),
        json!({"DEBUG": "1", "MODE": "fast", "ON": "true"})
    );
    let TaskKind::Map(m) = &dag.task("m").expect("m").kind else {
        panic!("m is a map")
    };
    assert!(matches!(&m.iterdata, Iterdata::Literal(items) if items.len() == 5));
}

#[test]
fn every_trigger_rule_name_parses() {
    for (name, rule) in TRIGGER_RULES {
        let dag = parse_ok(&format!(
            "[tasks.a]\ntype = \"call_async\"\nfunc = \"m:f\"\ntrigger_rule = \"{name}\"\n"
        ));
        assert_eq!(dag.tasks[0].trigger_rule, *rule);
        assert_eq!(rule.name(), *name);
    }
    assert_eq!(TRIGGER_RULES.len(), 12);
}

#[test]
fn a_broken_task_still_counts_as_a_target() {
    // `b` has an error of its own, but `a` naming it is not "does not exist".
    let errs = errors(
        "[tasks.a]\ntype = \"call_async\"\nfunc = \"m:f\"\nupstream = [\"b\"]\n\n[tasks.b]\ntype = \"call_async\"\n",
    );
    assert_eq!(
        errs,
        [
            "t.toml:6:8: error: task `b` (call_async) is missing `func`: the Python callable to invoke (\"module:function\")"
        ]
    );
}

#[test]
fn hostile_input_is_reported_not_panicked_on() {
    for text in [
        "\u{feff}dag_id = \"x\"\n",
        "[tasks]\n[tasks.a]\ntype = 5\n",
        "tasks = []\n",
        "[[tasks]]\ntype = \"map\"\n",
        "dag_id = \"\"\n",
        "[tasks.a]\ntype = \"call_async\"\nfunc = \":\"\n",
        "[tasks.a]\ntype = \"call_async\"\nfunc = \"m:f\"\ndata = { x = 99999999999999999999 }\n",
        "start_date = 0001-01-01T00:00:00+23:59\n",
        "retry_delay = 1e308\n[default_args]\nretry_delay = 1e308\n",
        "[default_args]\nretry_delay = 1e300\n[tasks.a]\ntype = \"call_async\"\nfunc = \"m:f\"\n",
    ] {
        let _ = parse_dag(Path::new("t.toml"), text);
    }
}

#[test]
fn callbacks_are_one_function_or_a_list_and_default_args_give_them() {
    let dag = parse_ok(
        r#"
on_success_callback = "alerts:run_ok"
on_failure_callback = ["alerts:page", "alerts:log"]

[default_args]
on_failure_callback = "alerts:task_failed"
on_retry_callback = ["alerts:a", "alerts:b"]

[tasks.a]
type = "empty"
on_execute_callback = "alerts:starting"

[tasks.b]
type = "bash"
bash_command = "true"
on_failure_callback = []
on_skipped_callback = "alerts:skipped"
"#,
    );
    let names = |l: &[FuncRef]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(names(&dag.on_success_callback), ["alerts:run_ok"]);
    assert_eq!(
        names(&dag.on_failure_callback),
        ["alerts:page", "alerts:log"]
    );
    let a = &dag.tasks[0].callbacks;
    assert_eq!(names(&a.on_execute_callback), ["alerts:starting"]);
    assert_eq!(names(&a.on_failure_callback), ["alerts:task_failed"]);
    assert_eq!(names(&a.on_retry_callback), ["alerts:a", "alerts:b"]);
    assert!(a.on_success_callback.is_empty());
    let b = &dag.tasks[1].callbacks;
    // A task's own list (even an empty one) replaces the default.
    assert!(b.on_failure_callback.is_empty());
    assert_eq!(names(&b.on_skipped_callback), ["alerts:skipped"]);
    assert_eq!(names(&b.on_retry_callback), ["alerts:a", "alerts:b"]);

    let errs = errors(
        "on_retry_callback = \"m:f\"\n[tasks.a]\ntype = \"empty\"\non_success_callback = [\"m:f\", \"no colon\"]\n",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].contains("`on_retry_callback` is a task parameter"),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].contains("`on_success_callback` must be a Python function reference"),
        "{}",
        errs[1]
    );
}

#[test]
fn pool_and_priority_keys_default_validate_and_weigh_as_airflow() {
    let dag = parse_ok(
        r#"
[default_args]
pool = "etl"
priority_weight = 2

[tasks.a]
type = "empty"

[tasks.b]
type = "empty"
upstream = ["a"]
pool_slots = 3
priority_weight = 10
max_active_tis_per_dag = 2

[tasks.c]
type = "empty"
upstream = ["b"]
weight_rule = "upstream"
pool = "default_pool"

[tasks.d]
type = "empty"
upstream = ["a"]
weight_rule = "absolute"
priority_weight = -5
"#,
    );
    let b = dag.task("b").expect("b");
    assert_eq!((b.pool.as_str(), b.pool_slots), ("etl", 3));
    assert_eq!(b.max_active_tis_per_dag, Some(2));
    let a = dag.task("a").expect("a");
    assert_eq!((a.pool_slots, a.weight_rule), (1, WeightRule::Downstream));
    assert_eq!(a.max_active_tis_per_dag, None);
    assert_eq!(dag.task("c").expect("c").pool, "default_pool");
    let w = priority::effective_weights(&dag);
    // a: 2 + b 10 + c 2 + d -5; b: 10 + c 2; c (upstream): 2 + b 10 + a 2; d: -5.
    assert_eq!((w["a"], w["b"], w["c"], w["d"]), (9, 12, 14, -5), "{w:?}");
    // No default_args: Airflow's defaults.
    let plain = parse_ok("[tasks.x]\ntype = \"empty\"\n");
    let x = plain.task("x").expect("x");
    assert_eq!(
        (x.pool.as_str(), x.pool_slots, x.priority_weight),
        ("default_pool", 1, 1)
    );
}

#[test]
fn effective_weights_are_clamped_to_32_bits() {
    let dag = parse_ok(
        r#"
[default_args]
priority_weight = 2147483647
[tasks.a]
type = "empty"
[tasks.b]
type = "empty"
upstream = ["a"]
"#,
    );
    assert_eq!(priority::effective_weights(&dag)["a"], 2_147_483_647);
}

/// Each task's relatives found by a search from it, the definition the fast sums follow.
fn weights_by_search(dag: &Dag) -> std::collections::BTreeMap<String, i64> {
    let own: std::collections::HashMap<&str, i64> = dag
        .tasks
        .iter()
        .map(|t| (t.task_id.as_str(), t.priority_weight))
        .collect();
    dag.tasks
        .iter()
        .map(|t| {
            let mut seen = std::collections::BTreeSet::new();
            let mut stack = vec![t.task_id.as_str()];
            while let Some(cur) = stack.pop() {
                let next = match t.weight_rule {
                    WeightRule::Absolute => Vec::new(),
                    WeightRule::Downstream => dag.graph.downstream(cur),
                    WeightRule::Upstream => dag.graph.upstream(cur),
                };
                for n in next {
                    if n != t.task_id && seen.insert(n) {
                        stack.push(n);
                    }
                }
            }
            let sum: i64 = seen.iter().map(|id| own[id]).sum::<i64>() + t.priority_weight;
            (
                t.task_id.clone(),
                sum.clamp(priority::MIN_WEIGHT, priority::MAX_WEIGHT),
            )
        })
        .collect()
}

#[test]
fn effective_weights_match_a_search_from_every_task_on_random_dags() {
    // Diamonds, shared descendants, several roots, single-child chains between them:
    // the cases where adding a child's sum would count a task twice.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    for _ in 0..60 {
        let n = 2 + next(25);
        let mut toml = String::new();
        for i in 0..n {
            toml.push_str(&format!("[tasks.t{i}]\ntype = \"empty\"\n"));
            toml.push_str(&format!("priority_weight = {}\n", next(21) as i64 - 5));
            let rule = ["downstream", "upstream", "absolute"][next(3) as usize];
            toml.push_str(&format!("weight_rule = \"{rule}\"\n"));
            let ups: std::collections::BTreeSet<u64> =
                (0..next(4)).filter(|_| i > 0).map(|_| next(i)).collect();
            if !ups.is_empty() {
                let list: Vec<String> = ups.iter().map(|u| format!("\"t{u}\"")).collect();
                toml.push_str(&format!("upstream = [{}]\n", list.join(", ")));
            }
        }
        let dag = parse_ok(&toml);
        assert_eq!(
            priority::effective_weights(&dag),
            weights_by_search(&dag),
            "{toml}"
        );
    }
}

#[test]
fn effective_weights_of_a_long_chain_and_a_wide_fan_out() {
    let mut chain = String::new();
    for i in 0..20_000 {
        chain.push_str(&format!("[tasks.t{i}]\ntype = \"empty\"\n"));
        if i > 0 {
            chain.push_str(&format!("upstream = [\"t{}\"]\n", i - 1));
        }
    }
    let w = priority::effective_weights(&parse_ok(&chain));
    assert_eq!((w["t0"], w["t19999"]), (20_000, 1));
    let mut fan = String::from(
        "[tasks.root]\ntype = \"empty\"\n[tasks.join]\ntype = \"empty\"\nupstream = [",
    );
    let kids: Vec<String> = (0..5_000).map(|i| format!("\"c{i}\"")).collect();
    fan.push_str(&kids.join(", "));
    fan.push_str("]\n");
    for i in 0..5_000 {
        fan.push_str(&format!(
            "[tasks.c{i}]\ntype = \"empty\"\nupstream = [\"root\"]\n"
        ));
    }
    let w = priority::effective_weights(&parse_ok(&fan));
    assert_eq!((w["root"], w["c7"], w["join"]), (5_002, 2, 1));
}

#[test]
fn bad_pool_and_priority_values_are_errors() {
    let errs = errors(
        r#"
[tasks.a]
type = "empty"
pool_slots = 0
priority_weight = 2147483648
weight_rule = "downstrem"
max_active_tis_per_dag = 0

[tasks.b]
type = "empty"
priority_weight = -2147483649
pool = 3
"#,
    );
    let all = errs.join("\n");
    assert!(all.contains("`pool_slots`"), "{all}");
    assert!(
        all.contains("`priority_weight` is too large: 2147483648 is more than 2147483647"),
        "{all}"
    );
    assert!(
        all.contains("unknown weight_rule \"downstrem\"; did you mean \"downstream\"?"),
        "{all}"
    );
    assert!(all.contains("`max_active_tis_per_dag`"), "{all}");
    assert!(
        all.contains("`priority_weight` is too small: -2147483649 is less than -2147483648"),
        "{all}"
    );
    assert!(all.contains("`pool`"), "{all}");
    assert_eq!(errs.len(), 6, "{all}");
}

/// A map whose `map_iterdata` is large enough for the parser's fast path.
fn big_map(before: &str, items: &str, after: &str) -> String {
    format!(
        "{before}[tasks.m]\ntype = \"map\"\nmap_function = \"m:f\"\nmap_iterdata = [ # elements\n{items},\n]\n{after}"
    )
}

fn literal_of(dag: &Dag) -> &Vec<serde_json::Value> {
    match &dag.task("m").expect("m").kind {
        TaskKind::Map(MapSpec {
            iterdata: Iterdata::Literal(items),
            ..
        }) => items,
        other => panic!("m is not a map of literal elements: {other:?}"),
    }
}

#[test]
fn a_large_plain_map_iterdata_reads_as_toml_reads_it() {
    let mut items: Vec<String> = (0..3000).map(|i| (i - 1500).to_string()).collect();
    items.extend(["\"a b\"", "'c'", "true", "2.5", "-1e3", "\"é\""].map(str::to_owned));
    let items = items.join(", ");
    let dag = parse_ok(&big_map("", &items, "retries = 2\n"));
    let mut expected: Vec<serde_json::Value> = (0..3000).map(|i| json!(i - 1500)).collect();
    expected.extend([
        json!("a b"),
        json!("c"),
        json!(true),
        json!(2.5),
        json!(-1000.0),
        json!("é"),
    ]);
    assert_eq!(literal_of(&dag), &expected);
    assert_eq!(dag.task("m").map(|t| t.retries), Some(2));
    // The same `map_iterdata = [` line inside a multi-line string is left alone.
    let before = format!("description = \"\"\"\nmap_iterdata = [{items}]\n\"\"\"\n\n");
    let dag = parse_ok(&big_map(&before, &items, ""));
    assert_eq!(literal_of(&dag), &expected);
    let description = dag.description.as_deref().unwrap_or_default();
    assert!(description.contains("-1500, -1499,") && description.ends_with("\"é\"]\n"));
    // An element the fast path does not read (a table) sends the whole file through toml.
    let with_table = format!("{items}, {{ x = 1 }}");
    let dag = parse_ok(&big_map("", &with_table, ""));
    assert_eq!(literal_of(&dag).len(), expected.len() + 1);
}

#[test]
fn errors_after_a_large_map_iterdata_keep_their_lines() {
    let items: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
    let text = big_map("", &items.join(",\n"), "retries = \"x\"\n");
    let (dag, diags) = parse_dag(Path::new("t.toml"), &text);
    assert!(dag.is_none());
    let line = text.lines().count();
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0].to_string().contains(&format!("t.toml:{line}:")),
        "{}",
        diags[0]
    );
}
