//! The DAG list: paused or active, id, schedule, next run, the latest runs as coloured
//! glyphs (oldest left, newest right), tags; `/` filters by id or tag. Under it, the
//! selected DAG in a few lines.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::app::App;
use crate::ui::{ACCENT, CROSSHAIR, DIM, empty, title, view_block};
use crate::widgets::{ellipsize, relative, run_style, short_time, state_glyph};
use lithoflow_api::DagInfo;

const KEYS: &[(&str, &str)] = &[
    ("⏎", "grid"),
    ("g", "graph"),
    ("/", "filter"),
    ("t", "trigger"),
    ("p", "pause"),
    ("r", "refresh"),
];

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let visible = app.visible_dags();
    let mut detail: Vec<Span> = vec![Span::styled(
        format!("{} of {}", visible.len(), app.dags.len()),
        Style::new().fg(DIM),
    )];
    if app.dag_list.editing || !app.dag_list.filter.is_empty() {
        detail.push(Span::styled("  / ", Style::new().fg(ACCENT).bold()));
        detail.push(Span::raw(app.dag_list.filter.clone()));
        if app.dag_list.editing {
            detail.push(Span::styled("█", Style::new().fg(ACCENT)));
        }
    }
    let [list_area, info_area] = if area.height >= 14 {
        Layout::vertical([Constraint::Fill(1), Constraint::Length(4)]).areas(area)
    } else {
        [area, Rect::new(area.x, area.bottom(), area.width, 0)]
    };
    let block = view_block(title("DAGs", detail), KEYS);
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    if !app.dags_loaded {
        let text = match app.conn {
            crate::app::Conn::Connected { .. } => "loading the DAGs…",
            _ => "waiting for a scheduler (`lithoflow scheduler` starts one)",
        };
        empty(frame, inner, text);
    } else if app.dags.is_empty() {
        empty(
            frame,
            inner,
            "no DAGs: put *.toml files in the scheduler's DAGs folder",
        );
    } else if visible.is_empty() {
        empty(frame, inner, "no DAG matches the filter (Esc clears it)");
    } else {
        render_table(app, &visible, frame, inner);
    }
    if info_area.height > 0
        && let Some(dag) = app.selected_dag()
    {
        render_info(app, dag, frame, info_area);
    }
}

fn render_table(app: &App, visible: &[usize], frame: &mut Frame, area: Rect) {
    let wide = area.width >= 120;
    let runs_shown = if wide { 10 } else { 5 };
    let rows_room = usize::from(area.height.saturating_sub(1)).max(1);
    let sel = app.dag_list.selected.min(visible.len() - 1);
    let offset = sel.saturating_sub(rows_room - 1);
    let id_w = usize::from(area.width / 3).clamp(12, 40);
    let rows: Vec<Row> = visible
        .iter()
        .skip(offset)
        .take(rows_room)
        .filter_map(|&i| app.dags.get(i))
        .map(|d| dag_row(app, d, runs_shown, id_w, wide))
        .collect();
    let runs_w = u16::try_from(runs_shown * 2 - 1).unwrap_or(9);
    let next_w = if wide { 26 } else { 11 };
    let widths = [
        Constraint::Length(1),
        Constraint::Length(u16::try_from(id_w).unwrap_or(20)),
        Constraint::Length(if wide { 16 } else { 11 }),
        Constraint::Length(next_w),
        Constraint::Length(runs_w.max(4)),
        Constraint::Fill(1),
    ];
    let header = Row::new(["", "DAG", "Schedule", "Next run", "Runs", "Tags"])
        .style(Style::new().fg(DIM).add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().bg(CROSSHAIR).add_modifier(Modifier::BOLD))
        .highlight_symbol("▌")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(sel - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

fn dag_row<'a>(app: &App, d: &'a DagInfo, runs_shown: usize, id_w: usize, wide: bool) -> Row<'a> {
    let paused = if d.is_paused {
        Span::styled("‖", Style::new().fg(DIM))
    } else {
        Span::styled("▸", Style::new().fg(Color::Rgb(0, 200, 0)))
    };
    let mut id = vec![Span::styled(
        ellipsize(
            &d.dag_id,
            id_w.saturating_sub(usize::from(d.has_import_errors) * 2),
        ),
        if d.is_paused {
            Style::new().fg(DIM)
        } else {
            Style::new()
        },
    )];
    if d.has_import_errors {
        id.push(Span::styled(
            " !",
            Style::new().fg(Color::Rgb(255, 0, 0)).bold(),
        ));
    }
    let schedule = d.schedule.clone().unwrap_or_else(|| "manual".to_owned());
    let next = match d.next_dagrun {
        Some(t) if wide => format!(
            "{} ({})",
            short_time(Some(t)),
            relative(app.now, d.next_dagrun_create_after.unwrap_or(t))
        ),
        Some(t) => short_time(Some(t)),
        None => "-".to_owned(),
    };
    // Oldest left, newest right, right-aligned so the newest run keeps its column.
    let mut runs: Vec<Span> = Vec::new();
    let shown: Vec<_> = d.recent_runs.iter().take(runs_shown).collect();
    for _ in shown.len()..runs_shown {
        runs.push(Span::raw("  "));
    }
    for r in shown.iter().rev() {
        runs.push(Span::styled(
            state_glyph(r.state.as_task_state()),
            run_style(r.state),
        ));
        runs.push(Span::raw(" "));
    }
    let tags = d
        .tags
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Row::new(vec![
        Cell::from(paused),
        Cell::from(Line::from(id)),
        Cell::from(Span::styled(
            schedule,
            Style::new().fg(Color::Rgb(180, 180, 220)),
        )),
        Cell::from(next),
        Cell::from(Line::from(runs)),
        Cell::from(Span::styled(tags, Style::new().fg(DIM))),
    ])
}

fn render_info(app: &App, d: &DagInfo, frame: &mut Frame, area: Rect) {
    let block = view_block(
        title(
            &d.dag_id,
            vec![Span::styled(
                if d.is_paused { "paused" } else { "active" },
                Style::new().fg(if d.is_paused {
                    DIM
                } else {
                    Color::Rgb(0, 200, 0)
                }),
            )],
        ),
        &[],
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let description = d
        .description
        .clone()
        .unwrap_or_else(|| "(no description)".to_owned());
    let latest = match d.recent_runs.first() {
        Some(r) => Line::from(vec![
            Span::styled("latest run ", Style::new().fg(DIM)),
            Span::raw(r.dag_run_id.clone()),
            Span::raw(" "),
            Span::styled(
                format!(
                    "{} {}",
                    state_glyph(r.state.as_task_state()),
                    r.state.name()
                ),
                run_style(r.state),
            ),
        ]),
        None => Line::styled("no runs yet (t triggers one)", Style::new().fg(DIM)),
    };
    let mut lines = vec![
        Line::from(ellipsize(&description, usize::from(inner.width))),
        latest,
    ];
    if let Some(t) = d.next_dagrun {
        lines[1].spans.push(Span::styled(
            format!(
                "   next run {} ({})",
                short_time(Some(t)),
                relative(app.now, d.next_dagrun_create_after.unwrap_or(t))
            ),
            Style::new().fg(DIM),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
