//! One try's log, following new lines as they come (the newest line stays in view until
//! you scroll up), with a search that highlights matching lines.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::App;
use crate::ui::{ACCENT, DIM, empty, title, view_block};

const KEYS: &[(&str, &str)] = &[
    ("↑↓", "scroll"),
    ("f", "follow"),
    ("/", "search"),
    ("n N", "match"),
    ("[ ]", "try"),
    ("←→", "pan"),
];

/// The highlight of a line that matches the search.
const MATCH: Color = Color::Rgb(80, 70, 0);

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let logs = &app.logs;
    let Some(ti) = &logs.ti_ref else {
        empty(
            frame,
            area,
            "select a task instance in the grid (2) or graph (3)",
        );
        return;
    };
    let mut detail = vec![Span::styled(
        format!("{} · try {}", ti.task_id, logs.try_number),
        Style::new().fg(DIM),
    )];
    if logs.follow {
        detail.push(Span::styled(
            " · following",
            Style::new().fg(Color::Rgb(0, 200, 0)),
        ));
    } else {
        detail.push(Span::styled(" · paused (f follows)", Style::new().fg(DIM)));
    }
    let block = view_block(title("Log", detail), KEYS);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let search_h = u16::from(logs.search.editing || !logs.search.query.is_empty());
    let [text_area, search_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(search_h)]).areas(inner);
    let mut all: Vec<&str> = logs.lines.iter().map(String::as_str).collect();
    if !logs.partial.is_empty() {
        all.push(&logs.partial);
    }
    if all.is_empty() {
        let note = logs.note.clone().unwrap_or_else(|| "loading…".to_owned());
        empty(frame, text_area, &note);
    } else {
        let page = usize::from(text_area.height);
        let max_top = all.len().saturating_sub(page);
        let top = if logs.follow {
            max_top
        } else {
            logs.scroll.min(max_top)
        };
        let current = logs.search.matches.get(logs.search.current).copied();
        let number_w = all.len().to_string().len();
        let lines: Vec<Line> = all
            .iter()
            .enumerate()
            .skip(top)
            .take(page)
            .map(|(i, l)| {
                let text: String = l.chars().skip(logs.hscroll).collect();
                let mut style = line_style(l);
                if logs.search.matches.binary_search(&i).is_ok() {
                    style = style.bg(MATCH);
                    if Some(i) == current {
                        style = style.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
                    }
                }
                Line::from(vec![
                    Span::styled(format!("{:>number_w$} ", i + 1), Style::new().fg(DIM)),
                    Span::styled(text, style),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), text_area);
    }
    if search_h > 0 {
        let s = &logs.search;
        let mut spans = vec![
            Span::styled("/", Style::new().fg(ACCENT).bold()),
            Span::raw(s.query.clone()),
        ];
        if s.editing {
            spans.push(Span::styled("█", Style::new().fg(ACCENT)));
        } else if s.matches.is_empty() {
            spans.push(Span::styled("  no match", Style::new().fg(DIM)));
        } else {
            spans.push(Span::styled(
                format!("  match {} of {}", s.current + 1, s.matches.len()),
                Style::new().fg(DIM),
            ));
        }
        frame.render_widget(Line::from(spans), search_area);
    }
}

/// Colours the lines lithoflow writes: call output headers, the outcome.
fn line_style(line: &str) -> Style {
    if line.starts_with("--- ") {
        Style::new().fg(ACCENT)
    } else if line.contains("Task failed:") || line.starts_with("Traceback") {
        Style::new().fg(Color::Rgb(255, 80, 80))
    } else if line.contains("Done. Returned value was:") || line.contains("state: success") {
        Style::new().fg(Color::Rgb(0, 200, 0))
    } else {
        Style::new()
    }
}
