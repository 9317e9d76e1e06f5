//! The terminal UI end to end: a real `lithoflow scheduler` runs a DAG with a map on
//! the local backend's Python workers while `lithoflow tui` runs in a pseudo-terminal
//! (portable-pty) whose screen is read back through a terminal emulator (vt100).
//! Keys are typed as a person would; the screen must show the map's progress reach
//! 100%, a task fail with its traceback and log, and, once cleared from the UI, run
//! again and the run succeed. The scheduler is then stopped and started again, and the
//! UI must say so and reconnect by itself. A second test runs `lithoflow scheduler
//! --tui`: both in one process, the scheduler's lines in the log file, and quitting the
//! UI stops the scheduler.
//!
//! The screens it sees are written to `target/tmp/tui-screens.md` (the source of
//! `docs/tui-screens.md`).

use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::harness::Env;
use crate::lithoflow_path;

const COLS: u16 = 120;
const ROWS: u16 = 36;

/// A DAG whose map takes a few seconds, so its progress is seen moving.
const DAG: &str = r#"
description = "numbers, their squares (a slow map), their total, a check that fails once"
is_paused_upon_creation = false
tags = ["tui", "map"]

[tasks.numbers]
type = "call_async"
func = "tui_functions:numbers"
data = { n = 48 }

[tasks.square]
type = "map"
map_function = "tui_functions:slow_square"
iterdata_from_task = "numbers"

[tasks.total]
type = "call_async"
func = "tui_functions:total"
data_from_task = { values = "square" }

[tasks.check]
type = "call_async"
func = "tui_functions:check_once"
data_from_task = { value = "total" }
"#;

const FUNCTIONS: &str = r#"
import os
import time


def numbers(n):
    return list(range(n))


def slow_square(x):
    time.sleep(0.1)
    return x * x


def total(values):
    print(f"adding {len(values)} squares")
    return sum(values)


def check_once(value):
    # Fails the first time, as a flaky check would; a clear runs it again.
    marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".check-ran")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ValueError(f"total {value} not confirmed yet")
    return value
"#;

/// `lithoflow tui` in a pseudo-terminal, with its screen kept by a reader thread.
struct Tui {
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn std::io::Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    shots: Vec<(String, String)>,
}

impl Tui {
    /// `lithoflow --dags-folder DAGS <args>` in the pseudo-terminal.
    fn start(env: &Env, args: &[&str]) -> Tui {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = CommandBuilder::new(lithoflow_path());
        cmd.arg("--dags-folder");
        cmd.arg(env.dags.path());
        cmd.args(args);
        cmd.env("LITHOFLOW_HOME", env.home());
        cmd.env("TERM", "xterm-256color");
        for var in ["LITHOFLOW_DAGS_FOLDER", "RUST_LOG", "LITHOFLOW_LOG"] {
            cmd.env_remove(var);
        }
        let child = pair.slave.spawn_command(cmd).expect("lithoflow tui starts");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("a reader");
        let writer = pair.master.take_writer().expect("a writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let feed = Arc::clone(&screen);
        std::thread::spawn(move || {
            // The master must outlive the child's writes; it lives in this thread.
            let _master = pair.master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().expect("screen").process(&buf[..n]);
            }
        });
        Tui {
            screen,
            writer,
            child,
            shots: Vec::new(),
        }
    }

    fn text(&self) -> String {
        self.screen.lock().expect("screen").screen().contents()
    }

    /// Waits for the process to exit after `q`; its exit status.
    fn quit(&mut self) -> portable_pty::ExitStatus {
        self.press("q");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "q did not quit:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen satisfies `ok`; fails with the screen after `limit`.
    fn wait(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.text();
            if ok(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        self.wait(needle, Duration::from_secs(60), |t| t.contains(needle))
    }

    /// Types keys (`\r` is Enter, `\x1b` Esc), a moment apart as a person types.
    fn press(&mut self, keys: &str) {
        for c in keys.chars() {
            let mut b = [0u8; 4];
            self.writer
                .write_all(c.encode_utf8(&mut b).as_bytes())
                .expect("type");
            self.writer.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn shoot(&mut self, title: &str) {
        let text = self.text();
        self.shots.push((title.to_owned(), text));
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

#[test]
fn the_tui_shows_a_map_live_reruns_a_cleared_task_and_reconnects() {
    let env = Env::new();
    env.write("tui_map.toml", DAG);
    env.write("tui_functions.py", FUNCTIONS);
    let mut sched = env.start();
    let mut tui = Tui::start(&env, &["tui"]);

    // The DAG list, live.
    tui.wait("the DAG list", Duration::from_secs(30), |t| {
        t.contains("tui_map") && t.contains("● live")
    });
    tui.shoot("The DAG list (`1`)");

    // Trigger a run (no conf).
    tui.press("t");
    tui.wait_for("Trigger a run of tui_map?");
    tui.press("{\"note\": \"from the tui test\"}");
    tui.shoot("Triggering a run (`t`), with a conf");
    tui.press("\r");
    tui.wait_for("triggered run manual__");

    // The grid, then the map's task instance while it runs.
    tui.press("\r");
    tui.wait_for("Grid · tui_map");
    tui.press("j\r");
    tui.wait_for("Executor job");
    let mut saw_moving = None;
    let mut shot_halfway = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let text = tui.text();
        if text.contains("48/48 calls · 100%") && text.contains("● success") {
            break text;
        }
        // The gauge's label, `N/48 calls · P%`: seen between the ends, and shot once
        // about halfway.
        let calls = text.lines().find_map(|l| {
            let (before, _) = l.split_once("/48 calls ·")?;
            before
                .rsplit(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u32>()
                .ok()
        });
        if let Some(n) = calls.filter(|n| (1..48).contains(n)) {
            if !shot_halfway && n >= 12 {
                tui.shoot("A map in flight: the task instance (`4`) with its live gauge");
                shot_halfway = true;
            }
            saw_moving.get_or_insert(n);
        }
        assert!(
            Instant::now() < deadline,
            "the map did not reach 100% with success; the screen:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(40));
    };
    assert!(
        saw_moving.is_some(),
        "the gauge was never seen between 0 and 100%"
    );
    tui.wait("the per-call durations", Duration::from_secs(30), |t| {
        t.contains("per call:")
    });
    tui.shoot("The map's task instance when done: gauge at 100%, per-call durations");
    assert!(done.contains("state     ● success"), "{done}");

    // Back to the grid: the check failed, so the run failed.
    tui.press("\x1b");
    tui.wait("the run to fail", Duration::from_secs(60), |t| {
        t.contains("run  ✗ failed")
    });
    tui.shoot("The grid (`2`): the check failed, so the run failed");

    // The failed task instance: its error with the remote traceback.
    tui.press("jj\r");
    let failed = tui.wait_for("ValueError: total 35720 not confirmed yet");
    assert!(
        failed.contains("Traceback (most recent call last)"),
        "{failed}"
    );
    assert!(failed.contains("state     ✗ failed"), "{failed}");
    tui.shoot("The failed task instance (`4`): its error with the remote traceback");

    // Its log, searched.
    tui.press("l");
    tui.wait_for("Task failed:");
    tui.press("/ValueError\r");
    tui.wait_for("match 1 of");
    tui.shoot("Its log (`5`), searched with `/`");

    // Clear it: it runs again, and this time the run succeeds.
    // Esc alone (a key right after it could read as Alt+key), then c.
    tui.press("\x1b");
    tui.wait_for("Tab pane");
    tui.press("c");
    tui.wait_for("Clear check in run manual__");
    tui.shoot("Clearing it (`c`)");
    tui.press("y");
    tui.wait_for("cleared 1 task instance in manual__");
    let rerun = tui.wait(
        "the cleared task to succeed",
        Duration::from_secs(60),
        |t| t.contains("state     ● success") && t.contains("try       2 of 2"),
    );
    assert!(rerun.contains("35720"), "its XCom value: {rerun}");
    tui.shoot("Cleared, it ran again: try 2 succeeded");
    tui.press("\x1b");
    tui.wait("the run to succeed", Duration::from_secs(60), |t| {
        t.contains("run  ● success")
    });
    tui.shoot("The grid (`2`) after the re-run");

    // The graph, coloured by the run.
    tui.press("g");
    tui.wait_for("Graph · tui_map");
    tui.wait_for("● check");
    tui.shoot("The graph (`3`)");
    tui.press("g");

    // The help.
    tui.press("?");
    tui.wait_for("Keys");
    tui.shoot("The keys (`?`)");
    tui.press("\x1b");
    tui.wait("the help to close", Duration::from_secs(30), |t| {
        !t.contains("j k scroll · Esc closes")
    });
    tui.press("1");
    tui.wait_for("DAGs 1 of 1");

    // The scheduler goes away: the UI says so; it comes back: the UI reconnects.
    assert_eq!(sched.terminate(), 0, "{}", sched.log());
    tui.wait_for("scheduler gone");
    tui.shoot("The scheduler stopped: the UI says so and keeps trying");
    let _sched = env.start();
    tui.wait_for("reconnected to the scheduler on port");
    tui.wait_for("● live");
    tui.shoot("The scheduler is back: the UI reconnected by itself");

    // q quits.
    let status = tui.quit();
    assert!(status.success(), "exit status {status:?}");

    let mut md =
        String::from("<!-- Written by tests/it/tui.rs: the screens `lithoflow tui` showed. -->\n");
    for (title, text) in &tui.shots {
        md.push_str(&format!("\n### {title}\n\n```text\n{text}\n```\n"));
    }
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tui-screens.md");
    std::fs::write(&out, md).expect("write the screens");
}

#[test]
fn scheduler_with_tui_runs_both_logs_to_a_file_and_stops_on_quit() {
    let env = Env::new();
    env.write("tui_map.toml", DAG);
    env.write("tui_functions.py", FUNCTIONS);
    let mut tui = Tui::start(&env, &["scheduler", "--tui", "--api-port", "0"]);
    tui.wait("the DAG list, live", Duration::from_secs(60), |t| {
        t.contains("tui_map") && t.contains("● live")
    });
    // The scheduler writes to stderr, which goes to the log file, not over the UI.
    let log = env.home().join("logs").join("scheduler-tui.log");
    let text = std::fs::read_to_string(&log).expect("the log file");
    assert!(text.contains("[scheduler] started: 1 DAGs"), "{text}");
    assert!(!tui.text().contains("[scheduler]"), "{}", tui.text());
    // Quitting the UI stops the scheduler (SIGTERM's way) and the process exits 0.
    let status = tui.quit();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        !env.home().join("scheduler.json").exists(),
        "the scheduler removed scheduler.json as it stopped"
    );
    // With the terminal given back, the scheduler's last lines go to it again.
    tui.wait_for("[scheduler] the terminal UI closed: stopping the scheduler");
    tui.wait_for("[scheduler] stopped");
}
