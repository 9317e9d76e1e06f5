//! The graph of one DAG: its tasks in layers, left to right, joined by their edges;
//! tasks and edges take the colour of their state in the selected run. The view
//! scrolls to keep the selected task in sight.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::app::{App, Grid};
use crate::ui::{DIM, empty, title, view_block};
use crate::widgets::{ellipsize, human_duration, run_style, state_glyph, state_span, state_style};
use lithoflow_api::TaskState;

const KEYS: &[(&str, &str)] = &[
    ("←→↑↓", "task"),
    ("[ ]", "run"),
    ("⏎", "task instance"),
    ("L", "log"),
    ("g", "grid"),
    ("c", "clear"),
];

/// The first of `len` columns (or rows) to show in `room` so that `at..at+size` shows.
fn offset(at: u16, size: u16, len: u16, room: u16) -> u16 {
    if len <= room {
        return 0;
    }
    let centre = (at + size / 2).saturating_sub(room / 2);
    centre.min(len - room)
}

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(grid) = &app.grid else {
        empty(frame, area, "open a DAG from the DAG list (1)");
        return;
    };
    let run = grid.selected_run();
    let mut detail = Vec::new();
    match run {
        Some(c) => {
            detail.push(Span::styled("run ", Style::new().fg(DIM)));
            detail.push(Span::raw(ellipsize(
                &c.run.dag_run_id,
                usize::from(area.width / 3),
            )));
            detail.push(Span::raw(" "));
            detail.push(Span::styled(
                format!(
                    "{} {}",
                    state_glyph(c.run.state.as_task_state()),
                    c.run.state.name()
                ),
                run_style(c.run.state),
            ));
        }
        None => detail.push(Span::styled("no runs yet", Style::new().fg(DIM))),
    }
    let block = view_block(title(&format!("Graph · {}", grid.dag_id), detail), KEYS);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !grid.tasks_loaded {
        empty(frame, inner, "loading…");
        return;
    }
    if grid.tasks.is_empty() {
        empty(frame, inner, "this DAG has no tasks");
        return;
    }
    let [canvas, info] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
    draw(grid, frame, canvas);
    render_selected(grid, frame, info);
}

fn draw(grid: &Grid, frame: &mut Frame, area: Rect) {
    let g = &grid.layout;
    let run = grid.run_index();
    let state = |t: usize| run.map_or(TaskState::None, |r| grid.state(r, t));
    let sel = g.nodes.get(grid.sel_task).copied().unwrap_or_default();
    let ox = offset(sel.x, sel.width, g.width, area.width);
    let oy = offset(sel.y, 1, g.height, area.height);
    // Centre a small graph.
    let pad_x = area.width.saturating_sub(g.width) / 2;
    let pad_y = area.height.saturating_sub(g.height) / 2;
    let buf = frame.buffer_mut();
    let place = |x: u16, y: u16| -> Option<(u16, u16)> {
        let x = x.checked_sub(ox)? + pad_x;
        let y = y.checked_sub(oy)? + pad_y;
        (x < area.width && y < area.height).then_some((area.x + x, area.y + y))
    };
    for e in &g.edges {
        if let Some((x, y)) = place(e.x, e.y) {
            let s = state(e.source);
            let style = if s == TaskState::None {
                Style::new().fg(DIM)
            } else {
                state_style(s).remove_modifier(Modifier::BOLD)
            };
            buf[(x, y)].set_char(e.symbol).set_style(style);
        }
    }
    for (t, (node, task)) in g.nodes.iter().zip(&grid.tasks).enumerate() {
        let s = state(t);
        let Some((x, y)) = place(node.x, node.y) else {
            continue;
        };
        let room = usize::from((area.x + area.width).saturating_sub(x));
        buf.set_string(x, y, state_glyph(s), state_style(s));
        let mut name_style = Style::new().add_modifier(Modifier::BOLD);
        if t == grid.sel_task {
            name_style = name_style.add_modifier(Modifier::REVERSED);
        }
        if room > 2 {
            buf.set_string(x + 2, y, ellipsize(&task.task_id, room - 2), name_style);
        }
    }
}

fn render_selected(grid: &Grid, frame: &mut Frame, area: Rect) {
    let Some(task) = grid.selected_task() else {
        return;
    };
    let mut spans = vec![
        Span::styled("▸ ", Style::new().fg(DIM)),
        Span::raw(format!("{} ", task.task_id)),
        Span::styled(
            format!("({}, {}) ", task.operator_name, task.trigger_rule),
            Style::new().fg(DIM),
        ),
    ];
    let ti = grid
        .selected_run()
        .and_then(|c| c.tis.get(grid.sel_task))
        .and_then(Option::as_ref);
    match ti {
        Some(t) => {
            spans.push(state_span(t.state()));
            spans.push(Span::styled(
                format!(
                    "  try {}/{}",
                    t.try_number,
                    (t.max_tries + 1).max(t.try_number)
                ),
                Style::new().fg(DIM),
            ));
            if let Some(d) = t.duration {
                spans.push(Span::styled(
                    format!("  {}", human_duration(d)),
                    Style::new().fg(DIM),
                ));
            }
        }
        None => spans.push(state_span(TaskState::None)),
    }
    frame.render_widget(Line::from(spans), area);
}
