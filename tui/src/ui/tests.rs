//! Every view drawn into ratatui's `TestBackend` at 80x24 and 160x48, as insta
//! snapshots (`src/ui/snapshots/`). The states come from [`crate::demo`], built
//! through `update` as the loop builds them.

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::app::App;
use crate::demo;
use crate::msg::Msg;
use crate::update::update;

/// Draws `app` at each size and checks both snapshots.
fn check(name: &str, app: &App) {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut app = app.clone();
        let _ = update(&mut app, Msg::Resize(w, h));
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
        terminal.draw(|f| super::render(&app, f)).expect("draws");
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

fn keys(mut app: App, keys: &str) -> App {
    for c in keys.chars() {
        let _ = update(&mut app, demo::key(c));
    }
    app
}

#[test]
fn dag_list() {
    check("dags", &demo::dag_list());
}

#[test]
fn dag_list_filtered() {
    check("dags_filter", &keys(demo::dag_list(), "/map"));
}

#[test]
fn dag_list_before_the_first_answer() {
    let mut app = App::new("/home/me/.lithoflow", None, demo::now());
    let _ = update(&mut app, Msg::Connected { port: 8793 });
    check("dags_loading", &app);
}

#[test]
fn no_scheduler_yet() {
    let mut app = App::new("/home/me/.lithoflow", None, demo::now());
    let _ = update(
        &mut app,
        Msg::Disconnected {
            reason: "no scheduler is running for /home/me/.lithoflow (no scheduler.json); start one with `lithoflow scheduler`".to_owned(),
            attempt: 4,
        },
    );
    check("no_scheduler", &app);
}

#[test]
fn grid() {
    check("grid", &demo::grid_on_transform());
}

#[test]
fn graph() {
    check("graph", &demo::graph());
}

#[test]
fn task_instance_running_map() {
    check("task_running", &demo::task_running());
}

#[test]
fn task_instance_failed() {
    check("task_failed", &demo::task_failed());
}

#[test]
fn task_instance_waiting_for_a_pool_slot() {
    check("task_waiting", &demo::task_waiting_for_slot());
}

#[test]
fn task_instance_finished_map() {
    check("task_map_done", &demo::task_map_done());
}

#[test]
fn logs_with_search() {
    check("logs", &demo::logs());
}

#[test]
fn asset_events() {
    check("assets", &demo::asset_events());
}

#[test]
fn help() {
    check("help", &keys(demo::grid(), "?"));
}

#[test]
fn trigger_prompt() {
    check("prompt_trigger", &keys(demo::dag_list(), "t{\"n\": 3}"));
}

#[test]
fn clear_prompt() {
    check("prompt_clear", &keys(demo::task_failed(), "c"));
}

#[test]
fn pause_prompt() {
    check("prompt_pause", &keys(demo::dag_list(), "p"));
}

#[test]
fn scheduler_gone() {
    check("disconnected", &demo::disconnected());
}
