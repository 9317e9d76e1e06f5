//! Sample states of the UI, built through `update` as the loop would build them: the
//! snapshot tests draw them, and the benchmark (`examples/render_bench.rs`) draws a
//! large one. Deterministic: fixed times, fixed ids.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde_json::json;

use crate::app::{App, TiRef};
use crate::msg::Msg;
use crate::update::update;
use lithoflow_api::{
    ApiEvent, CallInfo, DagInfo, DagRun, RecentRun, RunState, Tag, TaskInfo, TaskInstance,
    TaskState,
};

/// The demo's clock: 2026-11-28 12:00:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn at(mins_ago: i64) -> DateTime<Utc> {
    now() - Duration::minutes(mins_ago)
}

/// A DAG of the list.
pub fn dag(id: &str, schedule: Option<&str>, tags: &[&str], runs: &[RunState]) -> DagInfo {
    DagInfo {
        dag_id: id.to_owned(),
        description: Some(format!("the {id} pipeline")),
        is_paused: false,
        schedule: schedule.map(str::to_owned),
        tags: tags
            .iter()
            .map(|t| Tag {
                name: (*t).to_owned(),
            })
            .collect(),
        next_dagrun: schedule.map(|_| now() + Duration::hours(14)),
        next_dagrun_create_after: schedule.map(|_| now() + Duration::hours(14)),
        has_import_errors: false,
        recent_runs: runs
            .iter()
            .enumerate()
            .map(|(i, s)| RecentRun {
                dag_run_id: format!("scheduled__2026-11-{:02}T02:00:00+00:00", 28 - i),
                state: *s,
                ..RecentRun::default()
            })
            .collect(),
        ..DagInfo::default()
    }
}

/// A task with its upstream tasks.
pub fn task(id: &str, operator: &str, upstream: &[&str]) -> TaskInfo {
    TaskInfo {
        task_id: id.to_owned(),
        operator_name: operator.to_owned(),
        upstream_task_ids: upstream.iter().map(|s| (*s).to_owned()).collect(),
        downstream_task_ids: Vec::new(),
        trigger_rule: "all_success".to_owned(),
        ..TaskInfo::default()
    }
}

/// A run that started `mins_ago` and took `took_s` seconds (None: still running).
pub fn run(dag_id: &str, id: &str, state: RunState, mins_ago: i64, took_s: Option<i64>) -> DagRun {
    let start = at(mins_ago);
    DagRun {
        dag_run_id: id.to_owned(),
        dag_id: dag_id.to_owned(),
        run_type: if id.starts_with("manual") {
            "manual".to_owned()
        } else {
            "scheduled".to_owned()
        },
        state,
        logical_date: Some(start),
        run_after: start,
        start_date: Some(start),
        end_date: took_s.map(|s| start + Duration::seconds(s)),
        conf: serde_json::Map::new(),
        note: None,
        ..DagRun::default()
    }
}

/// The assets view: three asset events, the newest triggered a run.
pub fn asset_events() -> App {
    let mut app = dag_list();
    let _ = update(&mut app, key('a'));
    let event = |id: u64, uri: &str, source: Option<(&str, &str, &str)>, mins_ago: i64| {
        lithoflow_api::DatasetEvent {
            id,
            dataset_id: 1,
            dataset_uri: uri.to_owned(),
            extra: Some(serde_json::Map::new()),
            source_dag_id: source.map(|s| s.0.to_owned()),
            source_task_id: source.map(|s| s.1.to_owned()),
            source_run_id: source.map(|s| s.2.to_owned()),
            source_map_index: Some(-1),
            created_dagruns: Vec::new(),
            timestamp: at(mins_ago),
        }
    };
    let mut newest = event(
        3,
        "asset://orders/",
        Some((DAG, "load", "scheduled__2026-11-28T02:00:00+00:00")),
        2,
    );
    newest.created_dagruns.push(lithoflow_api::BasicDagRun {
        run_id: "asset_triggered__2026-11-28T02:58:00+00:00".to_owned(),
        dag_id: "reports_weekly".to_owned(),
        state: RunState::Running,
        logical_date: Some(at(2)),
        start_date: Some(at(1)),
        end_date: None,
        data_interval_start: Some(at(60)),
        data_interval_end: Some(at(2)),
    });
    let events = vec![
        newest,
        event(2, "s3://bucket/raw/orders.csv", None, 30),
        event(
            1,
            "s3://bucket/raw/orders.csv",
            Some((DAG, "extract", "manual__2026-11-28T01:00:00+00:00")),
            90,
        ),
    ];
    let _ = update(&mut app, Msg::AssetEvents(Ok(events)));
    app
}

/// A task instance in a state.
pub fn ti(dag_id: &str, run_id: &str, task_id: &str, state: TaskState) -> TaskInstance {
    let started = matches!(
        state,
        TaskState::Running | TaskState::Success | TaskState::Failed | TaskState::UpForRetry
    );
    TaskInstance {
        task_id: task_id.to_owned(),
        dag_id: dag_id.to_owned(),
        dag_run_id: run_id.to_owned(),
        state: (state != TaskState::None).then_some(state),
        try_number: u32::from(started),
        max_tries: 1,
        start_date: started.then(|| at(30)),
        end_date: (started && state != TaskState::Running).then(|| at(30) + Duration::seconds(42)),
        duration: (started && state != TaskState::Running).then_some(42.3),
        operator: Some(
            if task_id == "transform" {
                "map"
            } else {
                "call_async"
            }
            .to_owned(),
        ),
        calls_done: usize::from(state == TaskState::Success),
        calls_total: usize::from(started && state != TaskState::Running),
        job_id: started.then(|| "4242-0007".to_owned()),
        ..TaskInstance::default()
    }
}

const DAG: &str = "etl_daily";
const TASKS: [&str; 6] = [
    "extract",
    "validate",
    "transform",
    "load",
    "report",
    "notify",
];

fn run_ids() -> Vec<String> {
    (0..6)
        .map(|i| format!("scheduled__2026-11-{:02}T02:00:00+00:00", 23 + i))
        .collect()
}

/// The UI connected to a scheduler with four DAGs; the list shown.
pub fn dag_list() -> App {
    let mut app = App::new(
        "/home/me/.lithoflow",
        Some("/home/me/.lithoflow/logs/tui.log".to_owned()),
        now(),
    );
    let _ = update(&mut app, Msg::Resize(160, 48));
    let _ = update(&mut app, Msg::Connected { port: 8793 });
    use RunState::{Failed, Queued, Running, Success};
    let mut dags = vec![
        dag(
            DAG,
            Some("0 2 * * *"),
            &["etl", "daily"],
            &[
                Running, Success, Failed, Success, Success, Success, Success, Failed, Success,
                Success,
            ],
        ),
        dag("map_example", None, &["example", "map"], &[Success]),
        dag(
            "map_reduce_example",
            None,
            &["example", "map_reduce"],
            &[Failed, Queued],
        ),
        dag("reports_weekly", Some("@weekly"), &["reports"], &[]),
    ];
    dags[2].is_paused = true;
    dags[3].has_import_errors = true;
    dags[3].description = None;
    let _ = update(&mut app, Msg::Dags(Ok(dags)));
    app
}

/// The grid of `etl_daily`: six runs, the newest running with a map in flight.
pub fn grid() -> App {
    let mut app = dag_list();
    let _ = update(&mut app, key('\n'));
    let tasks = vec![
        task("notify", "call_async", &["load", "report"]),
        task("extract", "call_async", &[]),
        task("validate", "call_async", &["extract"]),
        task("transform", "map", &["extract"]),
        task("load", "map_reduce", &["transform", "validate"]),
        task("report", "call_async", &["extract"]),
    ];
    let _ = update(
        &mut app,
        Msg::Tasks {
            dag_id: DAG.to_owned(),
            result: Ok(tasks),
        },
    );
    let ids = run_ids();
    let runs: Vec<DagRun> = ids
        .iter()
        .enumerate()
        .rev()
        .map(|(i, id)| {
            let (state, took) = match i {
                5 => (RunState::Running, None),
                3 => (RunState::Failed, Some(95)),
                _ => (
                    RunState::Success,
                    Some(60 + 12 * i64::try_from(i).unwrap_or(0)),
                ),
            };
            run(
                DAG,
                id,
                state,
                60 * 24 * (5 - i64::try_from(i).unwrap_or(0)) + 40,
                took,
            )
        })
        .collect();
    let _ = update(
        &mut app,
        Msg::Runs {
            dag_id: DAG.to_owned(),
            result: Ok(runs),
        },
    );
    for (i, id) in ids.iter().enumerate() {
        let states: [TaskState; 6] = match i {
            5 => [
                TaskState::Success,
                TaskState::Success,
                TaskState::Running,
                TaskState::None,
                TaskState::UpForRetry,
                TaskState::None,
            ],
            3 => [
                TaskState::Success,
                TaskState::Failed,
                TaskState::Success,
                TaskState::UpstreamFailed,
                TaskState::Success,
                TaskState::UpstreamFailed,
            ],
            1 => [
                TaskState::Success,
                TaskState::Success,
                TaskState::Success,
                TaskState::Success,
                TaskState::Skipped,
                TaskState::Success,
            ],
            _ => [TaskState::Success; 6],
        };
        let tis = TASKS
            .iter()
            .zip(states)
            .map(|(t, s)| ti(DAG, id, t, s))
            .collect();
        let _ = update(
            &mut app,
            Msg::TaskInstances {
                dag_id: DAG.to_owned(),
                run_id: id.clone(),
                result: Ok(tis),
            },
        );
    }
    // The map of the running run is 30 calls into 50.
    let _ = update(
        &mut app,
        Msg::Event(ApiEvent::Progress {
            map_index: -1,
            dag_id: DAG.to_owned(),
            run_id: ids[5].clone(),
            task_id: "transform".to_owned(),
            phase: "map".to_owned(),
            total: 50,
            done: 28,
            failed: 2,
            running: 4,
        }),
    );
    app
}

/// A key press, as `Msg::Key` (`'\n'` is Enter, `'\x1b'` Esc).
pub fn key(c: char) -> Msg {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let code = match c {
        '\n' => KeyCode::Enter,
        '\x1b' => KeyCode::Esc,
        '\t' => KeyCode::Tab,
        c => KeyCode::Char(c),
    };
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// The grid with the `transform` task selected (third row).
pub fn grid_on_transform() -> App {
    let mut app = grid();
    for _ in 0..2 {
        let _ = update(&mut app, key('j'));
    }
    app
}

/// The task view of the running map, with live progress.
pub fn task_running() -> App {
    let mut app = grid_on_transform();
    let _ = update(&mut app, key('\n'));
    let id = run_ids()[5].clone();
    let mut t = ti(DAG, &id, "transform", TaskState::Running);
    t.operator = Some("map".to_owned());
    t.return_value = None;
    let r = TiRef {
        dag_id: DAG.to_owned(),
        run_id: id.clone(),
        task_id: "transform".to_owned(),
    };
    let _ = update(
        &mut app,
        Msg::TaskInstance {
            ti: r.clone(),
            result: Ok(Box::new(t)),
        },
    );
    // A minute of progress, a few calls a second.
    for s in 0..40 {
        let _ = update(&mut app, Msg::Tick(now() - Duration::seconds(40 - s)));
        let done = usize::try_from(s).unwrap_or(0) * 3 / 4;
        let _ = update(
            &mut app,
            Msg::Event(ApiEvent::Progress {
                map_index: -1,
                dag_id: DAG.to_owned(),
                run_id: id.clone(),
                task_id: "transform".to_owned(),
                phase: "map".to_owned(),
                total: 50,
                done: done.min(28),
                failed: usize::from(s > 30) * 2,
                running: 4,
            }),
        );
    }
    let _ = update(&mut app, Msg::Tick(now()));
    app
}

/// The task view of a failed try: error with the remote traceback, its calls.
pub fn task_failed() -> App {
    let mut app = grid();
    // The failed run, `validate`.
    for _ in 0..2 {
        let _ = update(&mut app, key('h'));
    }
    let _ = update(&mut app, key('j'));
    let _ = update(&mut app, key('\n'));
    let id = run_ids()[3].clone();
    let mut t = ti(DAG, &id, "validate", TaskState::Failed);
    t.try_number = 2;
    t.error = Some(
        "call 0 raised ValueError: row 17 has no `amount`\nTraceback (most recent call last):\n  File \"/dags/etl.py\", line 41, in validate\n    check(row)\n  File \"/dags/etl.py\", line 12, in check\n    raise ValueError(f\"row {row['n']} has no `amount`\")\nValueError: row 17 has no `amount`"
            .to_owned(),
    );
    t.calls_done = 0;
    t.calls_failed = 1;
    t.calls_total = 1;
    t.return_value = Some(json!({
        "checked": 16,
        "rows": [{"n": 1, "amount": 12.5, "ok": true}, {"n": 2, "amount": 7, "ok": true}],
        "source": "s3://bucket/raw/2026-11-26.csv",
        "note": null
    }));
    let r = TiRef {
        dag_id: DAG.to_owned(),
        run_id: id.clone(),
        task_id: "validate".to_owned(),
    };
    let _ = update(
        &mut app,
        Msg::TaskInstance {
            ti: r.clone(),
            result: Ok(Box::new(t)),
        },
    );
    let _ = update(
        &mut app,
        Msg::Calls {
            ti: r,
            try_number: 2,
            result: Ok((
                vec![CallInfo {
                    phase: "call".to_owned(),
                    index: 0,
                    duration_s: 0.0123,
                    failed: true,
                }],
                1,
            )),
        },
    );
    app
}

/// The task view of an instance waiting for a slot of its pool (its dependencies say
/// which pool and how many come first).
pub fn task_waiting_for_slot() -> App {
    let mut app = grid();
    for _ in 0..2 {
        let _ = update(&mut app, key('h'));
    }
    let _ = update(&mut app, key('j'));
    let _ = update(&mut app, key('\n'));
    let id = run_ids()[3].clone();
    let t = ti(DAG, &id, "validate", TaskState::Scheduled);
    let r = TiRef {
        dag_id: DAG.to_owned(),
        run_id: id,
        task_id: "validate".to_owned(),
    };
    let _ = update(
        &mut app,
        Msg::TaskInstance {
            ti: r.clone(),
            result: Ok(Box::new(t)),
        },
    );
    let _ = update(
        &mut app,
        Msg::Dependencies {
            ti: r,
            result: Ok(lithoflow_api::TaskInstanceDependencyCollection {
                dependencies: vec![lithoflow_api::TaskFailedDependency {
                    name: "Pool Slots Available".to_owned(),
                    reason: "Not scheduling since there are 0 open slots in pool etl and require 1 pool slots".to_owned(),
                    pool: Some("etl".to_owned()),
                    ahead: Some(2),
                }],
            }),
        },
    );
    app
}

/// The task view of a finished map with its per-call durations.
pub fn task_map_done() -> App {
    let mut app = grid_on_transform();
    let _ = update(&mut app, key('h'));
    let _ = update(&mut app, key('\n'));
    let id = run_ids()[4].clone();
    let mut t = ti(DAG, &id, "transform", TaskState::Success);
    t.calls_done = 50;
    t.calls_total = 50;
    t.return_value = Some(json!((1..=50).map(|i| i * 2).collect::<Vec<_>>()));
    let r = TiRef {
        dag_id: DAG.to_owned(),
        run_id: id,
        task_id: "transform".to_owned(),
    };
    let _ = update(
        &mut app,
        Msg::TaskInstance {
            ti: r.clone(),
            result: Ok(Box::new(t)),
        },
    );
    let calls = (0..50)
        .map(|i| CallInfo {
            phase: "map".to_owned(),
            index: i,
            duration_s: 0.2 + f64::from(u32::try_from((i * 37) % 23).unwrap_or(0)) * 0.05,
            failed: false,
        })
        .collect();
    let _ = update(
        &mut app,
        Msg::Calls {
            ti: r,
            try_number: 1,
            result: Ok((calls, 50)),
        },
    );
    app
}

/// The log of the failed try, searched for `amount`.
pub fn logs() -> App {
    let mut app = task_failed();
    let _ = update(&mut app, key('l'));
    let id = run_ids()[3].clone();
    let r = TiRef {
        dag_id: DAG.to_owned(),
        run_id: id.clone(),
        task_id: "validate".to_owned(),
    };
    let text = format!(
        "[2026-11-26T02:01:10+00:00] etl_daily.validate run {id} try 2/2\n--- call call 0 stdout ---\nchecking 17 rows from s3://bucket/raw/2026-11-26.csv\nrow 1 ok\nrow 2 ok\n--- call call 0 stderr ---\nTraceback (most recent call last):\n  File \"/dags/etl.py\", line 41, in validate\n    check(row)\nValueError: row 17 has no `amount`\n[2026-11-26T02:01:52+00:00] Task failed: call 0 raised ValueError: row 17 has no `amount`\n[2026-11-26T02:01:52+00:00] state: failed after 42.300s\n"
    );
    let _ = update(
        &mut app,
        Msg::Log {
            ti: r,
            try_number: 2,
            offset: 0,
            result: Ok((text, 512)),
        },
    );
    for c in "/amount\n".chars() {
        let _ = update(&mut app, key(c));
    }
    app
}

/// The graph of `etl_daily`, coloured by the failed run.
pub fn graph() -> App {
    let mut app = grid();
    let _ = update(&mut app, key('g'));
    for _ in 0..2 {
        let _ = update(&mut app, key('['));
    }
    app
}

/// The scheduler went away: the UI says so and keeps trying.
pub fn disconnected() -> App {
    let mut app = grid();
    let _ = update(
        &mut app,
        Msg::Disconnected {
            reason: "the scheduler closed the event stream".to_owned(),
            attempt: 3,
        },
    );
    app
}

/// A large state for the benchmark: `dags` DAGs, and the first one's grid holding
/// `tis` task instances (`tis / GRID_RUNS` tasks in each of `GRID_RUNS` runs).
pub fn large(dags: usize, tis: usize) -> App {
    use crate::app::GRID_RUNS;
    let mut app = App::new("/home/me/.lithoflow", None, now());
    let _ = update(&mut app, Msg::Resize(160, 48));
    let _ = update(&mut app, Msg::Connected { port: 8793 });
    let states = [
        RunState::Success,
        RunState::Failed,
        RunState::Running,
        RunState::Queued,
    ];
    let list = (0..dags)
        .map(|i| {
            let runs: Vec<RunState> = (0..10).map(|j| states[(i + j) % 4]).collect();
            dag(
                &format!("dag_{i:04}"),
                (i % 3 != 0).then_some("@hourly"),
                &["bench", if i % 2 == 0 { "even" } else { "odd" }],
                &runs,
            )
        })
        .collect();
    let _ = update(&mut app, Msg::Dags(Ok(list)));
    let _ = update(&mut app, key('\n'));
    let n_tasks = tis.div_ceil(GRID_RUNS).max(1);
    let tasks: Vec<TaskInfo> = (0..n_tasks)
        .map(|i| {
            let up = if i == 0 {
                Vec::new()
            } else {
                vec![format!("task_{:04}", i / 2)]
            };
            TaskInfo {
                upstream_task_ids: up,
                ..task(&format!("task_{i:04}"), "map", &[])
            }
        })
        .collect();
    let dag_id = "dag_0000";
    let _ = update(
        &mut app,
        Msg::Tasks {
            dag_id: dag_id.to_owned(),
            result: Ok(tasks),
        },
    );
    let runs: Vec<DagRun> = (0..GRID_RUNS)
        .rev()
        .map(|i| {
            let mins = 60 * i64::try_from(GRID_RUNS - i).unwrap_or(0);
            run(
                dag_id,
                &format!("scheduled__{i:04}"),
                RunState::Success,
                mins,
                Some(300),
            )
        })
        .collect();
    let _ = update(
        &mut app,
        Msg::Runs {
            dag_id: dag_id.to_owned(),
            result: Ok(runs),
        },
    );
    let tstates = [
        TaskState::Success,
        TaskState::Failed,
        TaskState::Running,
        TaskState::Skipped,
    ];
    for r in 0..GRID_RUNS {
        let run_id = format!("scheduled__{r:04}");
        let tis = (0..n_tasks)
            .map(|t| {
                ti(
                    dag_id,
                    &run_id,
                    &format!("task_{t:04}"),
                    tstates[(r + t) % 4],
                )
            })
            .collect();
        let _ = update(
            &mut app,
            Msg::TaskInstances {
                dag_id: dag_id.to_owned(),
                run_id,
                result: Ok(tis),
            },
        );
    }
    app
}
