//! `render`: the whole screen from the [`App`], pure. A header (where you are, the
//! connection), the current view, a status line, and the prompt or help on top.
//! One module per view; each draws into the rectangle it is given, so every view
//! works from 80x24 up.

mod assets;
mod dags;
mod graph;
mod grid;
mod help;
mod logs;
mod prompt;
mod task;

#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use crate::app::{App, Conn, StatusKind, View};
use crate::widgets::ellipsize;

pub use help::KEYS;

/// The accent colour of titles and keys.
pub(crate) const ACCENT: Color = Color::Rgb(0, 173, 216);

/// Dim text.
pub(crate) const DIM: Color = Color::Rgb(128, 128, 128);

/// The background of the selected row and column.
pub(crate) const CROSSHAIR: Color = Color::Rgb(48, 48, 56);

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(app, frame, header);
    let body = match &app.conn {
        Conn::Reconnecting {
            reason,
            attempt,
            was_connected,
        } if body.height > 6 => {
            let [banner, rest] =
                Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
            let text = if *was_connected {
                format!(
                    " the scheduler went away ({reason}); reconnecting by itself, attempt {attempt}"
                )
            } else {
                format!(" {reason}; retrying by itself, attempt {attempt}")
            };
            frame.render_widget(
                Paragraph::new(ellipsize(&text, usize::from(banner.width)))
                    .style(Style::new().fg(Color::Black).bg(Color::Rgb(255, 215, 0))),
                banner,
            );
            rest
        }
        _ => body,
    };
    match app.view {
        View::Dags => dags::render(app, frame, body),
        View::Grid => grid::render(app, frame, body),
        View::Graph => graph::render(app, frame, body),
        View::Task => task::render(app, frame, body),
        View::Logs => logs::render(app, frame, body),
        View::Assets => assets::render(app, frame, body),
    }
    render_footer(app, frame, footer);
    if let Some(p) = &app.prompt {
        prompt::render(p, frame, area);
    }
    if let Some(scroll) = app.help {
        help::render(app, scroll, frame, area);
    }
}

fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let mut crumbs = vec![
        Span::styled(
            " lithoflow ",
            Style::new().fg(Color::Black).bg(ACCENT).bold(),
        ),
        Span::raw(" "),
    ];
    let mut parts: Vec<String> = vec![app.view.title().to_owned()];
    match app.view {
        View::Dags | View::Assets => {}
        View::Grid | View::Graph => {
            if let Some(g) = &app.grid {
                parts.push(g.dag_id.clone());
            }
        }
        View::Task | View::Logs => {
            let ti = if app.view == View::Task {
                app.task.ti_ref.as_ref()
            } else {
                app.logs.ti_ref.as_ref()
            };
            if let Some(ti) = ti {
                parts.push(ti.dag_id.clone());
                parts.push(ti.run_id.clone());
                parts.push(ti.task_id.clone());
            }
        }
    }
    let conn = match &app.conn {
        Conn::Connecting => Span::styled("○ connecting…", Style::new().fg(DIM)),
        Conn::Connected { port } => Span::styled(
            format!("● live 127.0.0.1:{port}"),
            Style::new().fg(Color::Rgb(0, 200, 0)),
        ),
        Conn::Reconnecting {
            was_connected: true,
            ..
        } => Span::styled(
            "✗ scheduler gone · reconnecting",
            Style::new().fg(Color::Rgb(255, 80, 80)).bold(),
        ),
        Conn::Reconnecting { .. } => Span::styled(
            "✗ no scheduler · retrying",
            Style::new().fg(Color::Rgb(255, 80, 80)).bold(),
        ),
    };
    let clock = format!("  {} UTC ", app.now.format("%H:%M:%S"));
    let right_w = conn.width() + clock.chars().count();
    let room = usize::from(area.width).saturating_sub(right_w + 13);
    let path = ellipsize(&parts.join(" › "), room);
    crumbs.push(Span::styled(path, Style::new().bold()));
    let left = Line::from(crumbs);
    let right = Line::from(vec![conn, Span::styled(clock, Style::new().fg(DIM))]).right_aligned();
    frame.render_widget(left, area);
    frame.render_widget(right, area);
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let hint = " ? help  q quit ";
    let room = usize::from(area.width).saturating_sub(hint.len() + 1);
    if let Some(s) = &app.status {
        let (mark, color) = match s.kind {
            StatusKind::Info => ("…", ACCENT),
            StatusKind::Ok => ("✓", Color::Rgb(0, 200, 0)),
            StatusKind::Error => ("✗", Color::Rgb(255, 80, 80)),
        };
        let text = ellipsize(&format!("{mark} {}", s.text.replace('\n', " ")), room);
        frame.render_widget(Line::styled(text, Style::new().fg(color)), area);
    }
    frame.render_widget(
        Line::styled(hint, Style::new().fg(DIM)).right_aligned(),
        area,
    );
}

/// A view's frame: a rounded border, a title, and key hints on the bottom border.
pub(crate) fn view_block<'a>(title: Line<'a>, keys: &'a [(&'a str, &'a str)]) -> Block<'a> {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(Color::Rgb(90, 90, 100)))
        .title(title);
    if keys.is_empty() {
        return block;
    }
    let mut hints = vec![Span::raw(" ")];
    for (i, (key, what)) in keys.iter().enumerate() {
        hints.push(Span::styled(*key, Style::new().fg(ACCENT).bold()));
        let gap = if i + 1 == keys.len() { " " } else { "  " };
        hints.push(Span::styled(format!(" {what}{gap}"), Style::new().fg(DIM)));
    }
    block.title_bottom(Line::from(hints))
}

/// A title: bold name, then dim details.
pub(crate) fn title<'a>(name: &str, detail: impl Into<Vec<Span<'a>>>) -> Line<'a> {
    let mut spans = vec![Span::styled(
        format!(" {name}"),
        Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
    )];
    let detail = detail.into();
    if !detail.is_empty() {
        spans.push(Span::raw(" "));
        spans.extend(detail);
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// A centred rectangle of at most `w` by `h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Clears a popup's rectangle and draws its frame.
pub(crate) fn popup<'a>(frame: &mut Frame, area: Rect, title: Line<'a>) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(ACCENT))
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// A centred, dim message in an empty view.
pub(crate) fn empty(frame: &mut Frame, area: Rect, text: &str) {
    if area.height == 0 {
        return;
    }
    let y = area.y + area.height / 2;
    frame.render_widget(
        Line::styled(text.to_owned(), Style::new().fg(DIM)).centered(),
        Rect::new(area.x, y, area.width, 1),
    );
}
