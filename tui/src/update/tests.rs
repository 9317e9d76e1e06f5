//! `update` fed messages as the loop feeds them; each test checks the `App` it leaves
//! and the commands it asks for.

use chrono::Duration;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::answers::xcom_lines;
use super::*;
use crate::app::{App, Conn, Fetch, MAX_XCOM_LINES, Prompt, StatusKind, TiRef, View};
use crate::demo::{self, key};
use crate::msg::{Command, Msg};
use lithoflow_api::{ApiEvent, ClientError, RunState, TaskState};

fn keys(app: &mut App, keys: &str) -> Vec<Command> {
    keys.chars().filter_map(|c| update(app, key(c))).collect()
}

fn code(app: &mut App, code: KeyCode) -> Option<Command> {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// Every command of a (possibly batched) command, flattened.
fn flat(cmd: Option<Command>) -> Vec<Command> {
    match cmd {
        None => Vec::new(),
        Some(Command::Batch(v)) => v.into_iter().flat_map(|c| flat(Some(c))).collect(),
        Some(c) => vec![c],
    }
}

fn transform_in(run: &str) -> TiRef {
    TiRef {
        dag_id: "etl_daily".to_owned(),
        run_id: run.to_owned(),
        task_id: "transform".to_owned(),
    }
}

const NEWEST: &str = "scheduled__2026-11-28T02:00:00+00:00";
const FAILED_RUN: &str = "scheduled__2026-11-26T02:00:00+00:00";

#[test]
fn opening_a_dag_fetches_its_tasks_then_runs_then_each_runs_instances() {
    let mut app = demo::dag_list();
    assert_eq!(
        update(&mut app, key('\n')),
        Some(Command::FetchTasks {
            dag_id: "etl_daily".to_owned()
        })
    );
    assert_eq!(app.view, View::Grid);
    let tasks = vec![
        demo::task("b", "map", &["a"]),
        demo::task("a", "call_async", &[]),
    ];
    let next = update(
        &mut app,
        Msg::Tasks {
            dag_id: "etl_daily".to_owned(),
            result: Ok(tasks),
        },
    );
    assert_eq!(
        next,
        Some(Command::FetchRuns {
            dag_id: "etl_daily".to_owned()
        })
    );
    let grid = app.grid.as_ref().expect("a grid");
    let order: Vec<&str> = grid.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(order, ["a", "b"], "DAG order: upstream first");
    let runs = vec![
        demo::run("etl_daily", "new", RunState::Running, 5, None),
        demo::run("etl_daily", "old", RunState::Success, 60, Some(30)),
    ];
    let cmds = flat(update(
        &mut app,
        Msg::Runs {
            dag_id: "etl_daily".to_owned(),
            result: Ok(runs),
        },
    ));
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    let grid = app.grid.as_ref().expect("a grid");
    let ids: Vec<&str> = grid
        .runs
        .iter()
        .map(|c| c.run.dag_run_id.as_str())
        .collect();
    assert_eq!(ids, ["old", "new"], "oldest left");
    assert_eq!(grid.run_index(), Some(1), "the newest is selected");
    // An answer for a DAG the grid no longer shows is dropped.
    assert_eq!(
        update(
            &mut app,
            Msg::Tasks {
                dag_id: "other".to_owned(),
                result: Ok(Vec::new()),
            },
        ),
        None
    );
}

#[test]
fn events_move_the_grid_the_list_and_the_progress_live() {
    let mut app = demo::grid();
    let ev = |app: &mut App, e: ApiEvent| flat(update(app, Msg::Event(e)));
    // A task instance changes state.
    ev(
        &mut app,
        ApiEvent::TaskInstance {
            map_index: -1,
            dag_id: "etl_daily".to_owned(),
            run_id: NEWEST.to_owned(),
            task_id: "load".to_owned(),
            state: TaskState::Queued,
            try_number: 0,
        },
    );
    let grid = app.grid.as_ref().expect("grid");
    assert_eq!(grid.state(5, 3), TaskState::Queued);
    // Progress of the map, then its end: the progress goes with the running state.
    let key = transform_in(NEWEST);
    assert_eq!(app.progress.get(&key).map(|p| p.done), Some(28));
    ev(
        &mut app,
        ApiEvent::Progress {
            map_index: -1,
            dag_id: "etl_daily".to_owned(),
            run_id: NEWEST.to_owned(),
            task_id: "transform".to_owned(),
            phase: "map".to_owned(),
            total: 50,
            done: 50,
            failed: 0,
            running: 0,
        },
    );
    assert_eq!(app.progress.get(&key).map(|p| p.done), Some(50));
    ev(
        &mut app,
        ApiEvent::TaskInstance {
            map_index: -1,
            dag_id: "etl_daily".to_owned(),
            run_id: NEWEST.to_owned(),
            task_id: "transform".to_owned(),
            state: TaskState::Success,
            try_number: 1,
        },
    );
    assert!(!app.progress.contains_key(&key));
    // A new run: the grid fetches its runs, the list shows it and refreshes later.
    let cmds = ev(
        &mut app,
        ApiEvent::DagRun {
            dag_id: "etl_daily".to_owned(),
            run_id: "manual__x".to_owned(),
            state: RunState::Queued,
        },
    );
    assert_eq!(
        cmds,
        [Command::FetchRuns {
            dag_id: "etl_daily".to_owned()
        }]
    );
    let dag = app.dag("etl_daily").expect("dag");
    assert_eq!(dag.recent_runs[0].dag_run_id, "manual__x");
    assert_eq!(dag.recent_runs.len(), 10, "capped");
    assert!(app.dags_stale);
    // The list is fetched again on a tick, at most every two seconds.
    let now = app.now;
    assert_eq!(flat(update(&mut app, Msg::Tick(now))), [] as [Command; 0]);
    let later = now + Duration::seconds(3);
    assert_eq!(
        flat(update(&mut app, Msg::Tick(later))),
        [Command::FetchDags]
    );
    assert!(app.dags_in_flight);
    // Pausing elsewhere shows here.
    ev(
        &mut app,
        ApiEvent::Dag {
            dag_id: "map_example".to_owned(),
            is_paused: true,
        },
    );
    assert!(app.dag("map_example").is_some_and(|d| d.is_paused));
}

#[test]
fn losing_the_scheduler_says_so_and_reconnecting_fetches_what_is_shown() {
    let mut app = demo::task_failed();
    assert!(matches!(app.conn, Conn::Connected { port: 8793 }));
    update(
        &mut app,
        Msg::Disconnected {
            reason: "connection refused".to_owned(),
            attempt: 1,
        },
    );
    assert_eq!(
        app.conn,
        Conn::Reconnecting {
            reason: "connection refused".to_owned(),
            attempt: 1,
            was_connected: true
        }
    );
    assert!(app.progress.is_empty());
    update(
        &mut app,
        Msg::Disconnected {
            reason: "connection refused".to_owned(),
            attempt: 2,
        },
    );
    let cmds = flat(update(&mut app, Msg::Connected { port: 9000 }));
    assert!(cmds.contains(&Command::FetchDags), "{cmds:?}");
    assert!(cmds.contains(&Command::FetchTasks {
        dag_id: "etl_daily".to_owned()
    }));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::FetchTaskInstance(t) if t.task_id == "validate"))
    );
    let status = app.status.as_ref().expect("a status");
    assert_eq!(status.kind, StatusKind::Ok);
    assert_eq!(status.text, "reconnected to the scheduler on port 9000");
}

#[test]
fn the_filter_takes_every_key_until_enter_and_esc_clears_it() {
    let mut app = demo::dag_list();
    keys(&mut app, "/map");
    assert!(app.dag_list.editing);
    let shown: Vec<&str> = app
        .visible_dags()
        .iter()
        .map(|&i| app.dags[i].dag_id.as_str())
        .collect();
    assert_eq!(shown, ["map_example", "map_reduce_example"]);
    // `q` is text while filtering, not quit.
    keys(&mut app, "q");
    assert!(!app.quit);
    assert!(app.visible_dags().is_empty());
    code(&mut app, KeyCode::Backspace);
    code(&mut app, KeyCode::Enter);
    assert!(!app.dag_list.editing);
    keys(&mut app, "j");
    assert_eq!(
        app.selected_dag().map(|d| d.dag_id.as_str()),
        Some("map_reduce_example")
    );
    // A tag matches too.
    code(&mut app, KeyCode::Esc);
    assert!(app.dag_list.filter.is_empty());
    keys(&mut app, "/daily\n");
    assert_eq!(app.visible_dags().len(), 1);
    keys(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn trigger_asks_for_a_conf_object_and_reports_the_result() {
    let mut app = demo::dag_list();
    keys(&mut app, "t[1]");
    assert_eq!(code(&mut app, KeyCode::Enter), None);
    match &app.prompt {
        Some(Prompt::Trigger { error: Some(e), .. }) => {
            assert_eq!(
                e,
                "conf must be a JSON object like {\"n\": 3}, not an array"
            );
        }
        other => panic!("the prompt stays with an error: {other:?}"),
    }
    for _ in 0..3 {
        code(&mut app, KeyCode::Backspace);
    }
    keys(&mut app, "{\"n\": 3}");
    let cmd = code(&mut app, KeyCode::Enter);
    assert_eq!(
        cmd,
        Some(Command::Trigger {
            dag_id: "etl_daily".to_owned(),
            conf: json!({"n": 3}).as_object().cloned().expect("an object"),
        })
    );
    assert!(app.prompt.is_none());
    update(
        &mut app,
        Msg::ActionDone(Ok("triggered run manual__1 of etl_daily".to_owned())),
    );
    let status = app.status.as_ref().expect("status");
    assert_eq!(
        (status.kind, status.text.as_str()),
        (StatusKind::Ok, "triggered run manual__1 of etl_daily")
    );
    // An empty conf is no conf; Esc cancels.
    keys(&mut app, "t");
    assert_eq!(
        code(&mut app, KeyCode::Enter),
        Some(Command::Trigger {
            dag_id: "etl_daily".to_owned(),
            conf: serde_json::Map::new(),
        })
    );
    keys(&mut app, "t");
    assert_eq!(code(&mut app, KeyCode::Esc), None);
    assert!(app.prompt.is_none());
    assert_eq!(app.view, View::Dags, "Esc closed only the prompt");
}

#[test]
fn pause_asks_first_and_unpause_for_a_paused_dag() {
    let mut app = demo::dag_list();
    keys(&mut app, "p");
    assert_eq!(
        app.prompt,
        Some(Prompt::Pause {
            dag_id: "etl_daily".to_owned(),
            pause: true
        })
    );
    assert_eq!(keys(&mut app, "n"), []);
    assert!(app.prompt.is_none());
    keys(&mut app, "jjp");
    assert_eq!(
        keys(&mut app, "y"),
        [Command::SetPaused {
            dag_id: "map_reduce_example".to_owned(),
            paused: false
        }]
    );
    update(
        &mut app,
        Msg::ActionDone(Err("failed to unpause map_reduce_example: boom".to_owned())),
    );
    assert_eq!(app.status.as_ref().map(|s| s.kind), Some(StatusKind::Error));
}

#[test]
fn clear_names_the_instance_and_can_take_its_downstream_tasks() {
    let mut app = demo::task_failed();
    keys(&mut app, "c");
    let ti = TiRef {
        dag_id: "etl_daily".to_owned(),
        run_id: FAILED_RUN.to_owned(),
        task_id: "validate".to_owned(),
    };
    assert_eq!(
        app.prompt,
        Some(Prompt::Clear {
            ti: ti.clone(),
            state: TaskState::Failed,
            downstream: 2,
        })
    );
    assert_eq!(
        keys(&mut app, "d"),
        [Command::Clear {
            ti,
            downstream: true
        }]
    );
    // From the grid, `y` clears the selected instance alone.
    let mut app = demo::grid();
    assert_eq!(
        keys(&mut app, "cy"),
        [Command::Clear {
            ti: TiRef {
                dag_id: "etl_daily".to_owned(),
                run_id: NEWEST.to_owned(),
                task_id: "extract".to_owned(),
            },
            downstream: false
        }]
    );
}

#[test]
fn a_finished_instance_fetches_its_calls_and_events_refresh_it() {
    let mut app = demo::grid_on_transform();
    keys(&mut app, "h");
    let cmds = keys(&mut app, "\n");
    let run = "scheduled__2026-11-27T02:00:00+00:00";
    assert_eq!(cmds, [Command::FetchTaskInstance(transform_in(run))]);
    assert_eq!(app.view, View::Task);
    let mut t = demo::ti("etl_daily", run, "transform", TaskState::Success);
    t.return_value = Some(json!({"a": [1, 2]}));
    let cmd = update(
        &mut app,
        Msg::TaskInstance {
            ti: transform_in(run),
            result: Ok(Box::new(t)),
        },
    );
    assert_eq!(
        cmd,
        Some(Command::FetchCalls {
            ti: transform_in(run),
            try_number: 1
        })
    );
    assert_eq!(app.task.calls, Fetch::Loading);
    assert_eq!(
        app.task.xcom_lines,
        ["{", "  \"a\": [", "    1,", "    2", "  ]", "}"]
    );
    // Scrolling stays within the value.
    for _ in 0..10 {
        keys(&mut app, "j");
    }
    assert_eq!(app.task.xcom_scroll, 5);
    // A new try of it: fetched again, its old calls forgotten.
    let cmd = update(
        &mut app,
        Msg::Event(ApiEvent::TaskInstance {
            map_index: -1,
            dag_id: "etl_daily".to_owned(),
            run_id: run.to_owned(),
            task_id: "transform".to_owned(),
            state: TaskState::Running,
            try_number: 2,
        }),
    );
    assert_eq!(cmd, Some(Command::FetchTaskInstance(transform_in(run))));
    assert_eq!(app.task.calls, Fetch::Idle);
    // The instance that is not there yet says so.
    update(
        &mut app,
        Msg::TaskInstance {
            ti: transform_in(run),
            result: Err(ClientError::Status {
                status: 404,
                detail: "no".to_owned(),
            }),
        },
    );
    assert!(matches!(&app.task.ti, Fetch::Failed(e) if e.starts_with("no task instance yet")));
}

#[test]
fn the_log_follows_new_lines_and_a_new_try() {
    let mut app = demo::grid_on_transform();
    let run = NEWEST;
    let ti = transform_in(run);
    let cmds = keys(&mut app, "L");
    assert_eq!(
        cmds,
        [Command::FetchLog {
            ti: ti.clone(),
            try_number: 1,
            offset: 0
        }]
    );
    assert_eq!(app.view, View::Logs);
    // Not written yet.
    update(
        &mut app,
        Msg::Log {
            ti: ti.clone(),
            try_number: 1,
            offset: 0,
            result: Err(ClientError::Status {
                status: 404,
                detail: "no log".to_owned(),
            }),
        },
    );
    assert!(
        app.logs
            .note
            .as_deref()
            .is_some_and(|n| n.contains("starts it when the try starts"))
    );
    // Followed: asked again once a second.
    let now = app.now;
    assert_eq!(flat(update(&mut app, Msg::Tick(now))), [] as [Command; 0]);
    let cmds = flat(update(&mut app, Msg::Tick(now + Duration::seconds(1))));
    assert_eq!(
        cmds,
        [Command::FetchLog {
            ti: ti.clone(),
            try_number: 1,
            offset: 0
        }]
    );
    // Text arrives in pieces; a line without its newline waits for the rest.
    let more = update(
        &mut app,
        Msg::Log {
            ti: ti.clone(),
            try_number: 1,
            offset: 0,
            result: Ok(("one\ntw".to_owned(), 6)),
        },
    );
    assert_eq!(
        more,
        Some(Command::FetchLog {
            ti: ti.clone(),
            try_number: 1,
            offset: 6
        })
    );
    update(
        &mut app,
        Msg::Log {
            ti: ti.clone(),
            try_number: 1,
            offset: 6,
            result: Ok(("o\nthree\n".to_owned(), 14)),
        },
    );
    assert_eq!(app.logs.lines, ["one", "two", "three"]);
    assert_eq!(app.logs.partial, "");
    // Search, then the next match wraps around.
    keys(&mut app, "/T");
    assert!(app.logs.search.editing);
    keys(&mut app, "\n");
    assert_eq!(app.logs.search.matches, [1, 2]);
    assert!(!app.logs.follow, "a search stops following");
    keys(&mut app, "nn");
    assert_eq!(app.logs.search.current, 0);
    keys(&mut app, "N");
    assert_eq!(app.logs.search.current, 1);
    // A retry starts: the followed log moves to the new try.
    keys(&mut app, "G");
    assert!(app.logs.follow);
    let started = update(
        &mut app,
        Msg::Event(ApiEvent::TaskInstance {
            map_index: -1,
            dag_id: "etl_daily".to_owned(),
            run_id: run.to_owned(),
            task_id: "transform".to_owned(),
            state: TaskState::Running,
            try_number: 2,
        }),
    );
    assert_eq!(app.logs.try_number, 2);
    assert!(app.logs.lines.is_empty());
    // Its log exists from its start: it is read at once, then as it grows.
    assert_eq!(
        flat(started),
        [Command::FetchLog {
            ti: ti.clone(),
            try_number: 2,
            offset: 0
        }]
    );
    let header = "[2026-11-28T02:00:00+00:00] etl_daily.transform try 2/3\nworking\n";
    let at = header.len() as u64;
    let answer = |app: &mut App, offset: u64, text: &str| {
        flat(update(
            app,
            Msg::Log {
                ti: ti.clone(),
                try_number: 2,
                offset,
                result: Ok((text.to_owned(), offset + text.len() as u64)),
            },
        ))
    };
    assert_eq!(answer(&mut app, 0, header).len(), 1, "it asks for more");
    assert_eq!(answer(&mut app, at, ""), [] as [Command; 0]);
    assert_eq!(app.logs.lines.len(), 2);
    let now = app.now + Duration::seconds(5);
    assert_eq!(
        flat(update(&mut app, Msg::Tick(now))),
        [Command::FetchLog {
            ti: ti.clone(),
            try_number: 2,
            offset: at
        }],
        "a running try's log is polled"
    );
    answer(&mut app, at, "still working\n");
    answer(&mut app, at + 14, "");
    assert_eq!(
        app.logs.lines.last().map(String::as_str),
        Some("still working")
    );
    // It ends: its log is fetched at once.
    let cmd = update(
        &mut app,
        Msg::Event(ApiEvent::TaskInstance {
            map_index: -1,
            dag_id: "etl_daily".to_owned(),
            run_id: run.to_owned(),
            task_id: "transform".to_owned(),
            state: TaskState::Failed,
            try_number: 2,
        }),
    );
    assert_eq!(
        flat(cmd),
        [Command::FetchLog {
            ti,
            try_number: 2,
            offset: at + 14
        }]
    );
}

#[test]
fn number_keys_and_esc_move_between_views() {
    let mut app = demo::grid();
    keys(&mut app, "3");
    assert_eq!(app.view, View::Graph);
    // In the graph, → goes to the next layer's nearest task: extract -> transform.
    keys(&mut app, "l");
    assert_eq!(app.grid.as_ref().map(|g| g.sel_task), Some(2));
    keys(&mut app, "\n");
    assert_eq!(app.view, View::Task);
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Graph, "back where Enter came from");
    keys(&mut app, "1");
    assert_eq!(app.view, View::Dags);
    keys(&mut app, "4");
    assert_eq!(app.view, View::Task, "the last task instance again");
    keys(&mut app, "5");
    assert_eq!(app.view, View::Logs);
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Task);
    keys(&mut app, "?");
    assert_eq!(app.help, Some(0));
    keys(&mut app, "jj");
    assert_eq!(app.help, Some(2));
    assert_eq!(app.view, View::Task, "keys go to the help while it is open");
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.help, None);
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(app.quit);
}

#[test]
fn grid_keys_select_runs_and_keep_following_the_newest() {
    let mut app = demo::grid();
    let grid = |app: &App| app.grid.clone().expect("grid");
    assert_eq!(grid(&app).sel_run, None);
    keys(&mut app, "hh");
    assert_eq!(grid(&app).run_index(), Some(3));
    keys(&mut app, "llll");
    assert_eq!(
        grid(&app).sel_run,
        None,
        "back on the newest, which follows new runs"
    );
    code(&mut app, KeyCode::Home);
    assert_eq!(grid(&app).run_index(), Some(0));
    keys(&mut app, "jjjjjjjjj");
    assert_eq!(grid(&app).sel_task, 5, "stops at the last task");
    assert_eq!(
        grid(&app).selected_ti().map(|t| t.task_id),
        Some("notify".to_owned())
    );
}

#[test]
fn a_huge_xcom_value_is_cut_with_a_note() {
    let v = json!((0..30_000).collect::<Vec<u32>>());
    let lines = xcom_lines(&v);
    assert_eq!(lines.len(), MAX_XCOM_LINES + 1);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("… 10002 more lines (the whole value: GET …/xcomEntries/return_value)")
    );
    assert_eq!(xcom_lines(&json!({"a": 1})), ["{", "  \"a\": 1", "}"]);
}

#[test]
fn conf_must_be_an_object() {
    assert_eq!(parse_conf("  "), Ok(serde_json::Map::new()));
    assert!(parse_conf("{\"a\": 1}").is_ok());
    assert_eq!(
        parse_conf("3"),
        Err("conf must be a JSON object like {\"n\": 3}, not a number".to_owned())
    );
    assert!(parse_conf("{").is_err_and(|e| e.starts_with("conf is not valid JSON")));
}

#[test]
fn a_scheduled_instance_asks_what_it_waits_for_and_shows_its_pool() {
    let app = demo::task_waiting_for_slot();
    let w = app.task.waiting.as_ref().expect("waiting");
    assert_eq!(w.summary(), "a slot in pool etl, 2 ahead");
    // Asking for a scheduled instance fetches its dependencies too.
    let mut app = demo::grid_on_transform();
    keys(&mut app, "h");
    keys(&mut app, "\n");
    let run = "scheduled__2026-11-27T02:00:00+00:00";
    let cmds = flat(update(
        &mut app,
        Msg::TaskInstance {
            ti: transform_in(run),
            result: Ok(Box::new(demo::ti(
                "etl_daily",
                run,
                "transform",
                TaskState::Scheduled,
            ))),
        },
    ));
    assert_eq!(cmds, [Command::FetchDependencies(transform_in(run))]);
    // Once it runs, it waits for nothing.
    app.task.waiting = Some(crate::app::Waiting {
        pool: None,
        ahead: None,
        reason: "x".to_owned(),
    });
    let mut running = demo::ti("etl_daily", run, "transform", TaskState::Running);
    running.try_number = 1;
    update(
        &mut app,
        Msg::TaskInstance {
            ti: transform_in(run),
            result: Ok(Box::new(running)),
        },
    );
    assert_eq!(app.task.waiting, None);
}
