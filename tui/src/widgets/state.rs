//! Airflow's state colours (success green, failed red, running lime, queued grey,
//! upstream_failed orange, skipped pink, up_for_retry gold, up_for_reschedule turquoise,
//! scheduled tan), each with
//! a glyph so a state reads without colour too.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use lithoflow_api::{RunState, TaskState};

/// The colour Airflow gives a state.
pub fn state_color(state: TaskState) -> Color {
    match state {
        TaskState::Success => Color::Rgb(0, 128, 0),
        TaskState::Failed => Color::Rgb(255, 0, 0),
        TaskState::Running => Color::Rgb(0, 255, 0),
        TaskState::Queued => Color::Rgb(128, 128, 128),
        TaskState::UpstreamFailed => Color::Rgb(255, 165, 0),
        TaskState::Skipped => Color::Rgb(255, 105, 180),
        TaskState::UpForRetry => Color::Rgb(255, 215, 0),
        TaskState::UpForReschedule => Color::Rgb(64, 224, 208),
        TaskState::Scheduled => Color::Rgb(210, 180, 140),
        TaskState::None | TaskState::Unknown => Color::Rgb(110, 110, 110),
    }
}

/// One glyph per state, readable without colour.
pub fn state_glyph(state: TaskState) -> &'static str {
    match state {
        TaskState::Success => "●",
        TaskState::Failed => "✗",
        TaskState::Running => "◐",
        TaskState::Queued => "○",
        TaskState::UpstreamFailed => "▲",
        TaskState::Skipped => "»",
        TaskState::UpForRetry => "↻",
        TaskState::UpForReschedule => "⧗",
        TaskState::Scheduled => "◌",
        TaskState::None | TaskState::Unknown => "·",
    }
}

/// A state's style: its colour, bold when it needs attention.
pub fn state_style(state: TaskState) -> Style {
    let style = Style::new().fg(state_color(state));
    match state {
        TaskState::Failed | TaskState::UpstreamFailed | TaskState::UpForRetry => {
            style.add_modifier(Modifier::BOLD)
        }
        _ => style,
    }
}

/// A run state's style.
pub fn run_style(state: RunState) -> Style {
    state_style(state.as_task_state())
}

/// The glyph and name of a state, coloured: `● success`.
pub fn state_span(state: TaskState) -> Span<'static> {
    Span::styled(
        format!("{} {}", state_glyph(state), state.name()),
        state_style(state),
    )
}

/// Every state's glyph and name, for the help.
pub struct StateLegend;

impl Widget for &StateLegend {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let states = [
            TaskState::Success,
            TaskState::Running,
            TaskState::Failed,
            TaskState::UpForRetry,
            TaskState::UpForReschedule,
            TaskState::UpstreamFailed,
            TaskState::Skipped,
            TaskState::Queued,
            TaskState::Scheduled,
            TaskState::None,
        ];
        let mut spans = Vec::new();
        for s in states {
            spans.push(state_span(s));
            spans.push(Span::raw("  "));
        }
        Paragraph::new(Line::from(spans))
            .wrap(Wrap { trim: true })
            .render(area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_shows_each_state_in_its_colour() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 40, 3));
        StateLegend.render(buf.area, &mut buf);
        assert_eq!(buf[(0, 0)].symbol(), "●");
        assert_eq!(buf[(0, 0)].fg, Color::Rgb(0, 128, 0));
        let text: String = (0..40).map(|x| buf[(x, 0)].symbol()).collect();
        assert!(text.starts_with("● success  ◐ running  ✗ failed"), "{text}");
        assert_eq!(buf[(11, 0)].fg, Color::Rgb(0, 255, 0), "running is lime");
        assert_eq!(buf[(22, 0)].fg, Color::Rgb(255, 0, 0), "failed is red");
    }
}
