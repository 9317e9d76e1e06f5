//! The key help (`?`): every key of every view, and the state colours.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::App;
use crate::ui::{ACCENT, DIM, centered, popup, title};
use crate::widgets::StateLegend;

/// Every key, by where it works: (section, [(key, what it does)]).
pub const KEYS: &[(&str, &[(&str, &str)])] = &[
    (
        "Everywhere",
        &[
            ("1 2 3 4 5", "DAGs grid graph task log"),
            ("Esc", "back; clears the filter"),
            ("?", "this help (j k scroll)"),
            ("q Ctrl-C", "quit"),
        ],
    ),
    (
        "DAGs",
        &[
            ("↑ ↓ j k", "select; PgUp PgDn Home End"),
            ("⏎ → l", "open the DAG's grid"),
            ("g", "open the DAG's graph"),
            ("/", "filter by id or tag"),
            ("t", "trigger a run (conf JSON)"),
            ("p", "pause or unpause"),
            ("r", "refresh everything"),
            ("a", "the latest asset events"),
        ],
    ),
    (
        "Assets",
        &[("↑ ↓ j k", "select an event"), ("r", "refresh")],
    ),
    (
        "Grid",
        &[
            ("← → h l", "run; Home oldest, End last"),
            ("↑ ↓ j k", "task"),
            ("⏎", "open the task instance"),
            ("L", "open its log"),
            ("g", "switch to the graph"),
            ("c", "clear it (d: + downstream)"),
            ("t p", "trigger, pause"),
        ],
    ),
    (
        "Graph",
        &[
            ("← → ↑ ↓", "move between tasks (hjkl)"),
            ("[ ]", "colour by run before/after"),
            ("⏎ L", "task instance, its log"),
            ("g", "switch to the grid"),
            ("c t p", "clear, trigger, pause"),
        ],
    ),
    (
        "Task instance",
        &[
            ("Tab", "scroll error or XCom"),
            ("↑↓ PgUp/Dn", "scroll"),
            ("l L", "log of the latest try"),
            ("[ ]", "task in run before/after"),
            ("c", "clear it so it runs again"),
            ("r", "reload"),
        ],
    ),
    (
        "Logs",
        &[
            ("↑↓ PgUp/Dn", "scroll (stops following)"),
            ("g G", "top, bottom (G follows)"),
            ("f", "follow new lines on/off"),
            ("/", "search (⏎ find, Esc clear)"),
            ("n N", "next, previous match"),
            ("[ ]", "try before/after"),
            ("← → h l", "pan long lines"),
        ],
    ),
    (
        "Prompts",
        &[
            ("y ⏎", "confirm"),
            ("d", "clear with downstream"),
            ("n Esc", "cancel"),
        ],
    ),
];

fn section_lines(name: &str, keys: &[(&str, &str)]) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        name.to_owned(),
        Style::new().fg(ACCENT).bold(),
    )];
    for (k, what) in keys {
        lines.push(Line::from(vec![
            Span::styled(format!(" {k:<10} "), Style::new().bold()),
            Span::styled((*what).to_owned(), Style::new().fg(DIM)),
        ]));
    }
    lines.push(Line::raw(""));
    lines
}

pub(super) fn render(app: &App, scroll: usize, frame: &mut Frame, area: Rect) {
    let box_area = centered(
        area,
        area.width.saturating_sub(4).min(118),
        area.height.saturating_sub(2),
    );
    let inner = popup(
        frame,
        box_area,
        title(
            "Keys",
            vec![Span::styled(
                "j k scroll · Esc closes",
                Style::new().fg(DIM),
            )],
        ),
    );
    let [text, legend] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(2)]).areas(inner);
    let two = text.width >= 76;
    let mut left = Vec::new();
    let mut right = Vec::new();
    for (i, (name, keys)) in KEYS.iter().enumerate() {
        let lines = section_lines(name, keys);
        if two && i >= 3 {
            right.extend(lines);
        } else {
            left.extend(lines);
        }
    }
    if let Some(log) = &app.log_file {
        left.push(Line::styled(
            format!("logs of this process: {log}"),
            Style::new().fg(DIM),
        ));
    }
    let n = left.len().max(right.len());
    let first = scroll.min(n.saturating_sub(usize::from(text.height)));
    let first = u16::try_from(first).unwrap_or(0);
    if two {
        let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .spacing(1)
            .areas(text);
        frame.render_widget(Paragraph::new(left).scroll((first, 0)), l);
        frame.render_widget(Paragraph::new(right).scroll((first, 0)), r);
    } else {
        frame.render_widget(Paragraph::new(left).scroll((first, 0)), text);
    }
    frame.render_widget(&StateLegend, legend);
}
