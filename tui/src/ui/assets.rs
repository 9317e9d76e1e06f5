//! The latest asset events (`a` in the DAG list), newest first: when, which asset, what
//! updated it (a task instance, or an event from outside), and the runs it triggered.
//! Under the list, the selected event in full.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::app::{App, Fetch};
use crate::ui::{CROSSHAIR, DIM, empty, title, view_block};
use crate::widgets::{ellipsize, relative, short_time};
use lithoflow_api::DatasetEvent;

const KEYS: &[(&str, &str)] = &[("↑↓", "select"), ("r", "refresh"), ("Esc", "DAGs")];

/// What updated the asset: `dag.task (run)`, or `external` (the API).
fn source(e: &DatasetEvent) -> String {
    match (&e.source_dag_id, &e.source_task_id) {
        (Some(d), Some(t)) => format!("{d}.{t}"),
        (Some(d), None) => d.clone(),
        _ => "external".to_owned(),
    }
}

fn triggered(e: &DatasetEvent) -> String {
    if e.created_dagruns.is_empty() {
        return "-".to_owned();
    }
    e.created_dagruns
        .iter()
        .map(|r| r.dag_id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let events: &[DatasetEvent] = app.asset_events.ready().map_or(&[], Vec::as_slice);
    let detail = vec![Span::styled(
        format!("{} latest", events.len()),
        Style::new().fg(DIM),
    )];
    let [list_area, info_area] = if area.height >= 14 {
        Layout::vertical([Constraint::Fill(1), Constraint::Length(5)]).areas(area)
    } else {
        [area, Rect::new(area.x, area.bottom(), area.width, 0)]
    };
    let block = view_block(title("Asset events", detail), KEYS);
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    match &app.asset_events {
        Fetch::Idle | Fetch::Loading => return empty(frame, inner, "loading the asset events…"),
        Fetch::Failed(e) => return empty(frame, inner, &format!("no asset events: {e}")),
        Fetch::Ready(v) if v.is_empty() => {
            return empty(
                frame,
                inner,
                "no asset events yet: a task with `outlets` records one when it succeeds",
            );
        }
        Fetch::Ready(_) => {}
    }
    let wide = inner.width >= 120;
    let uri_w = usize::from(inner.width / 3).clamp(16, 60);
    let rows_room = usize::from(inner.height.saturating_sub(1)).max(1);
    let sel = app.asset_selected.min(events.len() - 1);
    let offset = sel.saturating_sub(rows_room - 1);
    let rows: Vec<Row> = events
        .iter()
        .skip(offset)
        .take(rows_room)
        .map(|e| {
            let when = if wide {
                format!(
                    "{} ({})",
                    short_time(Some(e.timestamp)),
                    relative(app.now, e.timestamp)
                )
            } else {
                short_time(Some(e.timestamp))
            };
            Row::new(vec![
                Cell::from(when),
                Cell::from(Span::styled(
                    ellipsize(&e.dataset_uri, uri_w),
                    Style::new().fg(Color::Rgb(180, 180, 220)),
                )),
                Cell::from(source(e)),
                Cell::from(Span::styled(triggered(e), Style::new().fg(DIM))),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(if wide { 26 } else { 11 }),
        Constraint::Length(u16::try_from(uri_w).unwrap_or(30)),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ];
    let header = Row::new(["When", "Asset", "Updated by", "Triggered"])
        .style(Style::new().fg(DIM).add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().bg(CROSSHAIR).add_modifier(Modifier::BOLD))
        .highlight_symbol("▌")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(sel - offset));
    frame.render_stateful_widget(table, inner, &mut state);
    if info_area.height > 0
        && let Some(e) = events.get(sel)
    {
        render_info(e, frame, info_area);
    }
}

fn render_info(e: &DatasetEvent, frame: &mut Frame, area: Rect) {
    let block = view_block(title(&format!("event {}", e.id), Vec::new()), &[]);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = usize::from(inner.width);
    let dim = |s: &str| Span::styled(s.to_owned(), Style::new().fg(DIM));
    let run = match (&e.source_run_id, e.source_map_index) {
        (Some(r), Some(i)) if i >= 0 => format!("{r} [{i}]"),
        (Some(r), _) => r.clone(),
        (None, _) => "-".to_owned(),
    };
    let runs = e
        .created_dagruns
        .iter()
        .map(|r| format!("{}/{} {}", r.dag_id, r.run_id, r.state.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let extra = e.extra.as_ref().filter(|x| !x.is_empty()).map_or_else(
        || "{}".to_owned(),
        |x| serde_json::Value::Object(x.clone()).to_string(),
    );
    let lines = vec![
        Line::from(vec![
            dim("asset "),
            Span::raw(ellipsize(&e.dataset_uri, w.saturating_sub(6))),
        ]),
        Line::from(vec![
            dim("from  "),
            Span::raw(ellipsize(
                &format!("{}  run {run}", source(e)),
                w.saturating_sub(6),
            )),
        ]),
        Line::from(vec![
            dim("runs  "),
            Span::raw(ellipsize(
                if runs.is_empty() { "-" } else { &runs },
                w.saturating_sub(6),
            )),
        ]),
        Line::from(vec![
            dim("extra "),
            Span::raw(ellipsize(&extra, w.saturating_sub(6))),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
}
