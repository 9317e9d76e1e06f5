//! The confirmation prompts of actions that change state: trigger (with an optional
//! conf), pause or unpause, clear.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize as _};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::Prompt;
use crate::ui::{ACCENT, DIM, centered, popup, title};
use crate::widgets::state_span;

fn key(k: &str) -> Span<'static> {
    Span::styled(k.to_owned(), Style::new().fg(ACCENT).bold())
}

fn dim(s: &str) -> Span<'static> {
    Span::styled(s.to_owned(), Style::new().fg(DIM))
}

pub(super) fn render(prompt: &Prompt, frame: &mut Frame, area: Rect) {
    let (name, lines) = match prompt {
        Prompt::Trigger {
            dag_id,
            input,
            error,
        } => {
            let mut lines = vec![
                Line::from(vec![
                    Span::raw("Trigger a run of "),
                    Span::raw(dag_id.clone()).bold(),
                    Span::raw("?"),
                ]),
                Line::raw(""),
                Line::from(dim("conf (a JSON object, empty for none):")),
                Line::from(vec![
                    Span::styled("> ", Style::new().fg(ACCENT)),
                    Span::raw(input.clone()),
                    Span::styled("█", Style::new().fg(ACCENT)),
                ]),
            ];
            if let Some(e) = error {
                lines.push(Line::styled(
                    e.clone(),
                    Style::new().fg(Color::Rgb(255, 80, 80)),
                ));
            }
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                key("⏎"),
                dim(" trigger   "),
                key("Esc"),
                dim(" cancel"),
            ]));
            ("Trigger", lines)
        }
        Prompt::Pause { dag_id, pause } => {
            let verb = if *pause { "Pause" } else { "Unpause" };
            let effect = if *pause {
                "The scheduler stops creating its runs; queued runs wait."
            } else {
                "The scheduler creates its runs again."
            };
            (
                verb,
                vec![
                    Line::from(vec![
                        Span::raw(format!("{verb} ")),
                        Span::raw(dag_id.clone()).bold(),
                        Span::raw("?"),
                    ]),
                    Line::from(dim(effect)),
                    Line::raw(""),
                    Line::from(vec![key("y"), dim(" yes   "), key("n"), dim(" no")]),
                ],
            )
        }
        Prompt::Clear {
            ti,
            state,
            downstream,
        } => (
            "Clear",
            vec![
                Line::from(vec![
                    Span::raw("Clear "),
                    Span::raw(ti.task_id.clone()).bold(),
                    Span::raw(" in run "),
                    Span::raw(ti.run_id.clone()).bold(),
                    Span::raw("?"),
                ]),
                Line::from(vec![
                    dim("now "),
                    state_span(*state),
                    dim("; it goes back to no status and runs again"),
                ]),
                Line::raw(""),
                Line::from(vec![
                    key("y"),
                    dim(" this task   "),
                    key("d"),
                    dim(format!(
                        " with its {downstream} downstream task{}   ",
                        if *downstream == 1 { "" } else { "s" }
                    )
                    .as_str()),
                    key("n"),
                    dim(" cancel"),
                ]),
            ],
        ),
    };
    let h = u16::try_from(lines.len()).unwrap_or(6) + 2;
    let inner = popup(frame, centered(area, 72, h), title(name, Vec::new()));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
