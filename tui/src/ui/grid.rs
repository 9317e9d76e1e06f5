//! The grid of one DAG, as Airflow's: runs are columns (oldest left, newest right, each
//! with a bar as tall as it took), tasks are rows in DAG order, each cell a task
//! instance's state. The selected run and task are drawn as a crosshair; under the
//! grid, the selected run and task instance in detail.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Grid};
use crate::ui::{CROSSHAIR, DIM, empty, title, view_block};
use crate::widgets::{
    ellipsize, human_duration, run_style, short_time, state_glyph, state_span, state_style,
};
use lithoflow_api::{DagRun, RunState, TaskState};

const KEYS: &[(&str, &str)] = &[
    ("←→", "run"),
    ("↑↓", "task"),
    ("⏎", "task instance"),
    ("L", "log"),
    ("g", "graph"),
    ("c", "clear"),
    ("t", "trigger"),
];

/// Eighths of a cell, for the run duration bars.
const BARS: [&str; 9] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(grid) = &app.grid else {
        empty(frame, area, "open a DAG from the DAG list (1)");
        return;
    };
    let paused = app.dag(&grid.dag_id).is_some_and(|d| d.is_paused);
    let mut detail = vec![Span::styled(
        format!(
            "{} · {}",
            plural(grid.runs.len(), "run"),
            plural(grid.tasks.len(), "task")
        ),
        Style::new().fg(DIM),
    )];
    if paused {
        detail.push(Span::styled(" · paused", Style::new().fg(DIM)));
    }
    let block = view_block(title(&format!("Grid · {}", grid.dag_id), detail), KEYS);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(e) = &grid.error {
        empty(frame, inner, &format!("failed to load: {e}"));
        return;
    }
    if !grid.tasks_loaded {
        empty(frame, inner, "loading…");
        return;
    }
    let detail_h = if inner.height >= 12 { 4 } else { 0 };
    let [cells, info] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(detail_h)]).areas(inner);
    draw_grid(app, grid, frame.buffer_mut(), cells);
    if detail_h > 0 {
        render_detail(app, grid, frame, info);
    }
}

/// The first of `n` items to show in `room` places so that `sel` is visible.
fn window(sel: usize, n: usize, room: usize) -> usize {
    if n <= room {
        0
    } else if sel + room >= n {
        n - room
    } else {
        sel.saturating_sub(room / 2)
    }
}

fn run_seconds(app: &App, r: &DagRun) -> f64 {
    match (r.start_date, r.end_date) {
        (Some(s), Some(e)) => (e - s).num_milliseconds() as f64 / 1000.0,
        (Some(s), None) => (app.now - s).num_milliseconds().max(0) as f64 / 1000.0,
        _ => 0.0,
    }
}

fn draw_grid(app: &App, grid: &Grid, buf: &mut Buffer, area: Rect) {
    if area.height < 4 || area.width < 20 {
        return;
    }
    let longest = grid
        .tasks
        .iter()
        .map(|t| t.task_id.chars().count())
        .max()
        .unwrap_or(4);
    let name_w = (longest + 2).clamp(10, usize::from(area.width) / 3);
    let cols_room = (usize::from(area.width) - name_w) / 2;
    let n_runs = grid.runs.len();
    let sel_run = grid.run_index();
    let first_run = window(sel_run.unwrap_or(0), n_runs, cols_room);
    let shown_runs = n_runs.min(cols_room);
    // Rows: two of bars, the run states, then the tasks.
    let head = 3u16;
    let rows_room = usize::from(area.height - head);
    let first_task = window(grid.sel_task, grid.tasks.len(), rows_room);
    let x0 = area.x + u16::try_from(name_w).unwrap_or(10);
    let col_x = |i: usize| x0 + u16::try_from((i - first_run) * 2).unwrap_or(0);

    // The selected column and row as a crosshair.
    let cross = Style::new().bg(CROSSHAIR);
    if let Some(s) = sel_run.filter(|&s| s >= first_run && s < first_run + shown_runs) {
        buf.set_style(Rect::new(col_x(s), area.y, 1, area.height), cross);
    }
    let sel_row = grid
        .sel_task
        .checked_sub(first_task)
        .filter(|&r| r < rows_room);
    if let Some(r) = sel_row {
        let y = area.y + head + u16::try_from(r).unwrap_or(0);
        buf.set_style(Rect::new(area.x, y, area.width, 1), cross);
    }

    // Run bars, as tall as each run took (relative to the longest shown).
    let runs = &grid.runs[first_run..first_run + shown_runs];
    let longest_run = runs
        .iter()
        .map(|c| run_seconds(app, &c.run))
        .fold(0.0f64, f64::max);
    buf.set_string(area.x, area.y + 1, "duration", Style::new().fg(DIM));
    buf.set_string(area.x, area.y + 2, "run", Style::new().fg(DIM));
    for (i, col) in runs.iter().enumerate() {
        let x = col_x(first_run + i);
        let style = run_style(col.run.state);
        let secs = run_seconds(app, &col.run);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a ratio in [0, 1] times 16"
        )]
        let eighths = if longest_run > 0.0 {
            ((secs / longest_run) * 16.0).round().clamp(1.0, 16.0) as usize
        } else {
            1
        };
        buf.set_string(x, area.y + 1, BARS[eighths.min(8)], style);
        buf.set_string(x, area.y, BARS[eighths.saturating_sub(8)], style);
        let mut s = style;
        if Some(first_run + i) == sel_run {
            s = s.add_modifier(Modifier::REVERSED);
        }
        buf.set_string(x, area.y + 2, state_glyph(col.run.state.as_task_state()), s);
    }
    if n_runs == 0 {
        buf.set_string(
            x0,
            area.y + 2,
            "no runs yet: t triggers one",
            Style::new().fg(DIM),
        );
    }

    // Task rows.
    for (r, (ti, task)) in grid
        .tasks
        .iter()
        .enumerate()
        .skip(first_task)
        .take(rows_room)
        .enumerate()
    {
        let y = area.y + head + u16::try_from(r).unwrap_or(0);
        let selected = ti == grid.sel_task;
        let name_style = if selected {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        buf.set_string(area.x, y, ellipsize(&task.task_id, name_w - 1), name_style);
        for i in 0..shown_runs {
            let run = first_run + i;
            let state = grid.state(run, ti);
            let mut style = state_style(state);
            if selected && Some(run) == sel_run {
                style = style.add_modifier(Modifier::REVERSED);
            }
            buf.set_string(col_x(run), y, state_glyph(state), style);
        }
    }
}

fn render_detail(app: &App, grid: &Grid, frame: &mut Frame, area: Rect) {
    let w = usize::from(area.width);
    let mut lines = vec![Line::styled("─".repeat(w), Style::new().fg(DIM))];
    let Some(col) = grid.selected_run() else {
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    let r = &col.run;
    let took = match r.start_date {
        Some(_) => human_duration(run_seconds(app, r)),
        None => "-".to_owned(),
    };
    let state = format!(
        "{} {}",
        state_glyph(r.state.as_task_state()),
        r.state.name()
    );
    let when = format!(
        "  {took}  started {}  {}  ",
        short_time(r.start_date),
        r.run_type
    );
    let room = w.saturating_sub(5 + state.chars().count() + when.chars().count());
    lines.push(Line::from(vec![
        Span::styled("run  ", Style::new().fg(DIM)),
        Span::styled(state, run_style(r.state)),
        Span::styled(when, Style::new().fg(DIM)),
        Span::raw(ellipsize(&r.dag_run_id, room)),
    ]));
    let mut task_line = vec![Span::styled("task ", Style::new().fg(DIM))];
    let mut third: Option<Line> = None;
    if let Some(task) = grid.selected_task() {
        task_line.push(Span::raw(format!("{} ", task.task_id)));
        task_line.push(Span::styled(
            format!("({}) ", task.operator_name),
            Style::new().fg(DIM),
        ));
        let ti = grid
            .index
            .get(&task.task_id)
            .and_then(|&i| col.tis.get(i))
            .and_then(Option::as_ref);
        match ti {
            Some(t) => {
                task_line.push(state_span(t.state()));
                task_line.push(Span::styled(
                    format!(
                        "  try {}/{}",
                        t.try_number,
                        (t.max_tries + 1).max(t.try_number)
                    ),
                    Style::new().fg(DIM),
                ));
                if let Some(d) = t.duration {
                    task_line.push(Span::styled(
                        format!("  {}", human_duration(d)),
                        Style::new().fg(DIM),
                    ));
                }
                let key = grid.selected_ti();
                let live = key.as_ref().and_then(|k| app.progress_of(k));
                if let Some(p) = live.filter(|_| t.state() == TaskState::Running) {
                    task_line.push(Span::styled(
                        format!(
                            "  calls {}/{} ({}%)",
                            p.done + p.failed,
                            p.total,
                            percent(p.done + p.failed, p.total)
                        ),
                        state_style(TaskState::Running),
                    ));
                } else if t.calls_total > 0 {
                    task_line.push(Span::styled(
                        format!("  calls {}/{}", t.calls_done, t.calls_total),
                        Style::new().fg(DIM),
                    ));
                }
                if let Some(e) = &t.error {
                    let first = e.lines().next().unwrap_or_default();
                    third = Some(Line::styled(
                        ellipsize(&format!("     {first}"), w),
                        state_style(TaskState::Failed),
                    ));
                }
            }
            None => task_line.push(state_span(TaskState::None)),
        }
    }
    lines.push(Line::from(task_line));
    if third.is_none()
        && r.state == RunState::Failed
        && let Some(note) = &r.failure_reason
    {
        third = Some(Line::styled(
            ellipsize(&format!("     {note}"), w),
            run_style(RunState::Failed),
        ));
    }
    if let Some(l) = third {
        lines.push(l);
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// `1 run`, `2 runs`.
fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `part` of `total` in whole percent.
pub(crate) fn percent(part: usize, total: usize) -> usize {
    (part * 100).checked_div(total).unwrap_or(0)
}
