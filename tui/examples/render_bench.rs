//! The TUI's rendering benchmark: an `App` holding 200 DAGs and a grid of 10,000 task
//! instances (250 tasks in 40 runs), a task instance with 10,000 per-call durations and
//! a 10,000-line log, each view drawn many times into ratatui's `TestBackend` at
//! 160x48. Prints the time per frame (median and p99) of each view and the process's
//! resident memory. `bench/tui/run.sh` runs it in release mode.
//!
//! Usage: `render_bench [FRAMES]` (default 500 frames per view).

use std::io::Write as _;
use std::time::Instant;

use lithoflow_tui::app::{App, TiRef, View};
use lithoflow_tui::msg::Msg;
use lithoflow_tui::update::update;
use lithoflow_tui::{demo, ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// A line of `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "an index within the list"
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Opens the first grid's task instance with 10,000 calls, and its 10,000-line log.
fn add_task_and_log(app: &mut App) {
    let ti = TiRef {
        dag_id: "dag_0000".to_owned(),
        run_id: "scheduled__0039".to_owned(),
        task_id: "task_0001".to_owned(),
    };
    let mut t = demo::ti(
        &ti.dag_id,
        &ti.run_id,
        &ti.task_id,
        lithoflow_api::TaskState::Success,
    );
    t.calls_done = 10_000;
    t.calls_total = 10_000;
    t.return_value = Some(serde_json::json!((0..10_000).collect::<Vec<u32>>()));
    app.task.ti_ref = Some(ti.clone());
    let _ = update(
        app,
        Msg::TaskInstance {
            ti: ti.clone(),
            result: Ok(Box::new(t)),
        },
    );
    let calls = (0..10_000)
        .map(|i| lithoflow_api::CallInfo {
            phase: "map".to_owned(),
            index: i,
            duration_s: 0.05 + f64::from(u32::try_from(i % 97).unwrap_or(0)) * 0.001,
            failed: false,
        })
        .collect();
    let _ = update(
        app,
        Msg::Calls {
            ti: ti.clone(),
            try_number: 1,
            result: Ok((calls, 10_000)),
        },
    );
    app.logs.ti_ref = Some(ti.clone());
    app.logs.try_number = 1;
    let text: String = (0..10_000)
        .map(|i| format!("[2026-11-28T12:00:00+00:00] call {i} printed a line of output\n"))
        .collect();
    let _ = update(
        app,
        Msg::Log {
            ti,
            try_number: 1,
            offset: 0,
            result: Ok((text, 1)),
        },
    );
    app.logs.search.query = "call 99".to_owned();
    app.logs.follow = true;
}

fn main() -> std::io::Result<()> {
    let frames: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let mut out = std::io::stdout().lock();
    let rss_start = status_kb("VmRSS:").unwrap_or(0);
    let built = Instant::now();
    let mut app = demo::large(200, 10_000);
    add_task_and_log(&mut app);
    let build_ms = built.elapsed().as_secs_f64() * 1e3;
    let tis: usize = app.grid.as_ref().map_or(0, |g| {
        g.runs.iter().map(|r| r.tis.iter().flatten().count()).sum()
    });
    writeln!(
        out,
        "app: {} DAGs, {tis} task instances in the grid, {} log lines; built in {build_ms:.1} ms",
        app.dags.len(),
        app.logs.lines.len()
    )?;
    writeln!(out, "{frames} frames per view at 160x48 into TestBackend")?;
    writeln!(
        out,
        "{:<15} {:>10} {:>10} {:>10}",
        "view", "median ms", "p99 ms", "max ms"
    )?;
    let Ok(mut terminal) = Terminal::new(TestBackend::new(160, 48));
    let mut worst_p99 = 0.0f64;
    for view in [View::Dags, View::Grid, View::Graph, View::Task, View::Logs] {
        app.view = view;
        let mut times = Vec::with_capacity(frames);
        for i in 0..frames {
            // Move the selection so frames differ, as they do when someone uses it.
            if let Some(g) = app.grid.as_mut() {
                g.sel_task = (i * 7) % g.tasks.len().max(1);
            }
            app.dag_list.selected = (i * 3) % 200;
            let t = Instant::now();
            let Ok(_) = terminal.draw(|f| ui::render(&app, f));
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let p99 = percentile(&times, 0.99);
        worst_p99 = worst_p99.max(p99);
        writeln!(
            out,
            "{:<15} {:>10.3} {:>10.3} {:>10.3}",
            view.title(),
            percentile(&times, 0.5),
            p99,
            times.last().copied().unwrap_or(0.0)
        )?;
    }
    let rss = status_kb("VmRSS:").unwrap_or(0);
    let peak = status_kb("VmHWM:").unwrap_or(0);
    writeln!(
        out,
        "rss: {:.1} MB now, {:.1} MB peak ({:.1} MB at start)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss_start as f64 / 1024.0
    )?;
    let ok = worst_p99 < 16.0 && peak < 50 * 1024;
    writeln!(
        out,
        "target: < 16 ms per frame and < 50 MB: {}",
        if ok { "met" } else { "MISSED" }
    )?;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
