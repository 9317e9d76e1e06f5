//! One task instance: its state, tries and times; its executor job, with a gauge of
//! the calls that moves live during a map, and the per-call durations as a sparkline;
//! the error with its remote traceback; the XCom value as pretty JSON. Tab moves the
//! scroll keys between the error and the XCom value.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, BorderType, Gauge, Paragraph, Sparkline, Wrap,
};

use crate::app::{App, Fetch, Pane, TiRef};
use crate::ui::grid::percent;
use crate::ui::{ACCENT, DIM, empty, title, view_block};
use crate::widgets::{human_duration, human_time, relative, state_span, state_style};
use lithoflow_api::{TaskInstance, TaskState};

const KEYS: &[(&str, &str)] = &[
    ("Tab", "pane"),
    ("↑↓", "scroll"),
    ("l", "log"),
    ("c", "clear"),
    ("[ ]", "run"),
    ("r", "reload"),
];

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(ti_ref) = &app.task.ti_ref else {
        empty(
            frame,
            area,
            "select a task instance in the grid (2) or graph (3)",
        );
        return;
    };
    let t = match &app.task.ti {
        Fetch::Ready(t) => t,
        Fetch::Failed(e) => {
            let block = view_block(title("Task instance", Vec::new()), KEYS);
            let inner = block.inner(area);
            frame.render_widget(block, area);
            empty(frame, inner, e);
            return;
        }
        Fetch::Idle | Fetch::Loading => {
            empty(frame, area, "loading…");
            return;
        }
    };
    let top_h = if area.height >= 40 {
        14
    } else {
        9.min(area.height / 2).max(3)
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Length(top_h), Constraint::Fill(1)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(top);
    render_summary(app, t, frame, left);
    render_job(app, ti_ref, t, frame, right);
    match t.error.as_deref() {
        Some(error) => {
            let [e, x] = if bottom.width >= 140 {
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(bottom)
            } else {
                Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)])
                    .areas(bottom)
            };
            render_error(app, t, error, frame, e);
            render_xcom(app, frame, x);
        }
        None => render_xcom(app, frame, bottom),
    }
}

fn field<'a>(name: &'a str, value: impl Into<Vec<Span<'a>>>) -> Line<'a> {
    let mut spans = vec![Span::styled(format!("{name:<9} "), Style::new().fg(DIM))];
    spans.extend(value.into());
    Line::from(spans)
}

fn render_summary(app: &App, t: &TaskInstance, frame: &mut Frame, area: Rect) {
    let block = view_block(title("Task instance", Vec::new()), &[]);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let state = t.state();
    let mut tries = vec![Span::raw(format!(
        "{} of {}",
        t.try_number,
        // Airflow's `max_tries` counts retries: one try more in all.
        (t.max_tries + 1).max(t.try_number)
    ))];
    if let Some(at) = t.next_retry_at.filter(|_| state == TaskState::UpForRetry) {
        tries.push(Span::styled(
            format!("  next {}", relative(app.now, at)),
            state_style(TaskState::UpForRetry),
        ));
    }
    let duration = match (t.duration, t.start_date) {
        (Some(d), _) if state != TaskState::Running => human_duration(d),
        (_, Some(s)) if state == TaskState::Running => format!(
            "running for {}",
            human_duration((app.now - s).num_milliseconds().max(0) as f64 / 1000.0)
        ),
        _ => "-".to_owned(),
    };
    let mut lines = vec![
        field("state", vec![state_span(state)]),
        field("try", tries),
        field(
            "operator",
            vec![Span::raw(
                t.operator.clone().unwrap_or_else(|| "-".to_owned()),
            )],
        ),
        field("started", vec![Span::raw(human_time(t.start_date))]),
        field("ended", vec![Span::raw(human_time(t.end_date))]),
        field("duration", vec![Span::raw(duration)]),
        field(
            "job",
            vec![Span::raw(
                t.job_id.clone().unwrap_or_else(|| "-".to_owned()),
            )],
        ),
    ];
    if let Some(w) = app
        .task
        .waiting
        .as_ref()
        .filter(|_| state == TaskState::Scheduled)
    {
        lines.insert(
            1,
            field(
                "waiting",
                vec![Span::styled(w.summary(), state_style(TaskState::Scheduled))],
            ),
        );
    }
    // A mapped task: its instances by state; a mapped instance: its label.
    if let Some(label) = &t.rendered_map_index {
        lines.insert(1, field("mapped", vec![Span::raw(label.clone())]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn render_job(app: &App, ti_ref: &TiRef, t: &TaskInstance, frame: &mut Frame, area: Rect) {
    let block = view_block(title("Executor job", Vec::new()), &[]);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let state = t.state();
    let live = app
        .progress_of(ti_ref)
        .filter(|_| state == TaskState::Running);
    let (done, failed, running, total, phase) = match &live {
        Some(p) => (p.done, p.failed, p.running, p.total, p.phase.as_str()),
        None => (t.calls_done, t.calls_failed, 0, t.calls_total, ""),
    };
    if total == 0 && live.is_none() {
        let text = match (state, &app.task.waiting) {
            (TaskState::Running, _) => "waiting for the job's first calls…".to_owned(),
            (TaskState::Scheduled, Some(w)) => format!("waiting for {}: {}", w.summary(), w.reason),
            (TaskState::None | TaskState::Scheduled | TaskState::Queued, _) => {
                "no executor job yet: the task has not started".to_owned()
            }
            _ => "no executor calls were recorded for this try".to_owned(),
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, Style::new().fg(DIM))).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let finished = done + failed;
    let ratio = if total == 0 {
        0.0
    } else {
        (finished as f64 / total as f64).clamp(0.0, 1.0)
    };
    let color = if failed > 0 {
        Color::Rgb(255, 0, 0)
    } else if state == TaskState::Running {
        Color::Rgb(0, 255, 0)
    } else {
        Color::Rgb(0, 128, 0)
    };
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .split(inner);
    let label = format!("{finished}/{total} calls · {}%", percent(finished, total));
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(Span::styled(label, Style::new().fg(Color::White).bold()))
            .gauge_style(Style::new().fg(color).bg(Color::Rgb(40, 40, 40)))
            .use_unicode(true),
        rows[0],
    );
    let mut counts = vec![
        Span::styled("done ", Style::new().fg(DIM)),
        Span::styled(done.to_string(), state_style(TaskState::Success)),
        Span::styled("  running ", Style::new().fg(DIM)),
        Span::styled(running.to_string(), state_style(TaskState::Running)),
        Span::styled("  failed ", Style::new().fg(DIM)),
        Span::styled(
            failed.to_string(),
            if failed > 0 {
                state_style(TaskState::Failed)
            } else {
                Style::new()
            },
        ),
        Span::styled(format!("  of {total}"), Style::new().fg(DIM)),
    ];
    if !phase.is_empty() {
        counts.push(Span::styled(format!("  ({phase})"), Style::new().fg(DIM)));
    }
    frame.render_widget(Line::from(counts), rows[1]);
    if live.is_some() {
        render_throughput(app, frame, rows[2], rows[3]);
    } else {
        render_durations(app, frame, rows[2], rows[3]);
    }
}

/// Calls finished per second over the last seconds, while the job runs.
fn render_throughput(app: &App, frame: &mut Frame, caption: Rect, area: Rect) {
    let width = usize::from(area.width).max(1);
    let mut per_second = vec![0u64; width];
    let samples = &app.task.samples;
    for pair in samples.iter().collect::<Vec<_>>().windows(2) {
        let (_, n0) = *pair[0];
        let (t1, n1) = *pair[1];
        let age = (app.now - t1).num_seconds();
        if let Ok(age) = usize::try_from(age)
            && age < width
        {
            per_second[width - 1 - age] += (n1.saturating_sub(n0)) as u64;
        }
    }
    frame.render_widget(
        Line::styled(
            format!("calls finished per second, last {width} s"),
            Style::new().fg(DIM),
        ),
        caption,
    );
    frame.render_widget(
        Sparkline::default()
            .data(per_second)
            .style(state_style(TaskState::Running)),
        area,
    );
}

/// Per-call durations in call order (each column the longest of its calls).
fn render_durations(app: &App, frame: &mut Frame, caption: Rect, area: Rect) {
    let calls = match &app.task.calls {
        Fetch::Ready(c) => c,
        Fetch::Failed(e) => {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    format!("per-call durations: {e}"),
                    Style::new().fg(DIM),
                ))
                .wrap(Wrap { trim: true }),
                Rect::new(
                    caption.x,
                    caption.y,
                    caption.width,
                    caption.height + area.height,
                ),
            );
            return;
        }
        Fetch::Idle | Fetch::Loading => {
            frame.render_widget(
                Line::styled("loading the per-call durations…", Style::new().fg(DIM)),
                caption,
            );
            return;
        }
    };
    let mut sorted = calls.durations.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "an index within the list"
        )]
        let i = ((sorted.len() - 1) as f64 * p).round() as usize;
        sorted[i.min(sorted.len() - 1)]
    };
    let stats = match sorted.len() {
        0 => "no calls".to_owned(),
        1 => format!("1 call took {}", human_duration(q(0.0))),
        _ if caption.width >= 56 => format!(
            "per call: min {} · p50 {} · p95 {} · max {}",
            human_duration(q(0.0)),
            human_duration(q(0.5)),
            human_duration(q(0.95)),
            human_duration(q(1.0))
        ),
        _ => format!(
            "per call: p50 {} · p95 {} · max {}",
            human_duration(q(0.5)),
            human_duration(q(0.95)),
            human_duration(q(1.0))
        ),
    };
    frame.render_widget(Line::styled(stats, Style::new().fg(DIM)), caption);
    // One call is a number, not a chart.
    if calls.durations.len() < 2 || area.height == 0 {
        return;
    }
    let width = usize::from(area.width).max(1);
    let per = calls.durations.len().div_ceil(width).max(1);
    // Few calls: each one several columns wide, so a handful still reads as a chart.
    let repeat = (width / calls.durations.len()).clamp(1, 4);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "microseconds of a call fit in u64"
    )]
    let bars: Vec<u64> = calls
        .durations
        .chunks(per)
        .map(|c| {
            (c.iter().copied().fold(0.0f64, f64::max) * 1e6)
                .round()
                .max(1.0) as u64
        })
        .flat_map(|v| std::iter::repeat_n(v, repeat))
        .collect();
    let style = if calls.failed > 0 {
        state_style(TaskState::Failed)
    } else {
        Style::new().fg(ACCENT)
    };
    // With room, the spread of durations as a histogram beside the calls in order.
    let (spark, hist) = if area.width >= 70 && area.height >= 5 && sorted.len() >= 4 {
        let [s, h] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .spacing(2)
            .areas(area);
        (s, Some(h))
    } else {
        (area, None)
    };
    frame.render_widget(Sparkline::default().data(bars).style(style), spark);
    if let Some(h) = hist {
        render_histogram(&sorted, frame, h);
    }
}

/// How many calls took how long: eight buckets from the fastest to the slowest call,
/// each labelled with its lower bound.
fn render_histogram(sorted: &[f64], frame: &mut Frame, area: Rect) {
    // Bars at least six columns wide, so a label like `200ms` fits.
    let buckets = usize::from(area.width / 7).clamp(3, 8);
    let (Some(&lo), Some(&hi)) = (sorted.first(), sorted.last()) else {
        return;
    };
    let step = ((hi - lo) / buckets as f64).max(f64::EPSILON);
    let mut counts = vec![0u64; buckets];
    for d in sorted {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a bucket index in 0..buckets"
        )]
        let b = (((d - lo) / step) as usize).min(buckets - 1);
        counts[b] += 1;
    }
    let labels: Vec<String> = (0..buckets)
        .map(|b| human_duration(lo + step * b as f64))
        .collect();
    let bars: Vec<Bar> = counts
        .iter()
        .zip(&labels)
        .map(|(&c, l)| {
            Bar::default()
                .value(c)
                .label(Line::from(l.clone()))
                .text_value(if c == 0 { String::new() } else { c.to_string() })
        })
        .collect();
    let width = u16::try_from(usize::from(area.width) / buckets)
        .unwrap_or(1)
        .saturating_sub(1)
        .max(1);
    frame.render_widget(
        BarChart::default()
            .data(BarGroup::default().bars(&bars))
            .bar_width(width)
            .bar_gap(1)
            .bar_style(Style::new().fg(ACCENT))
            .value_style(Style::new().fg(Color::Black).bg(ACCENT))
            .label_style(Style::new().fg(DIM)),
        area,
    );
}

fn pane_block(app: &App, pane: Pane, name: String, detail: Vec<Span<'static>>) -> Block<'static> {
    let focused = app.task.focus == pane;
    let mut spans = vec![Span::styled(
        format!(" {name}"),
        Style::new()
            .fg(if pane == Pane::Error {
                Color::Rgb(255, 80, 80)
            } else {
                ACCENT
            })
            .bold(),
    )];
    if !detail.is_empty() {
        spans.push(Span::styled(" · ", Style::new().fg(DIM)));
        spans.extend(detail);
    }
    spans.push(Span::raw(" "));
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(if focused {
            ACCENT
        } else {
            Color::Rgb(90, 90, 100)
        }))
        .title(Line::from(spans))
}

/// The block that carries the view's key hints: the one at the bottom.
fn with_keys(block: Block<'static>) -> Block<'static> {
    let mut hints = vec![Span::raw(" ")];
    for (i, (key, what)) in KEYS.iter().enumerate() {
        hints.push(Span::styled(*key, Style::new().fg(ACCENT).bold()));
        let gap = if i + 1 == KEYS.len() { " " } else { "  " };
        hints.push(Span::styled(format!(" {what}{gap}"), Style::new().fg(DIM)));
    }
    block.title_bottom(Line::from(hints))
}

fn scroll_note(first: usize, shown: usize, len: usize) -> Vec<Span<'static>> {
    if len <= shown {
        return Vec::new();
    }
    let last = (first + shown).min(len);
    vec![Span::styled(
        format!(
            "lines {}–{last} of {len}{}",
            first + 1,
            if last < len { " ↓" } else { "" }
        ),
        Style::new().fg(DIM),
    )]
}

fn render_error(app: &App, t: &TaskInstance, error: &str, frame: &mut Frame, area: Rect) {
    let lines: Vec<Line> = error
        .lines()
        .map(|l| Line::raw(l.replace('\t', "    ")))
        .collect();
    let len = lines.len();
    let shown = usize::from(area.height.saturating_sub(2));
    let first = app.task.error_scroll.min(len.saturating_sub(1));
    let block = pane_block(
        app,
        Pane::Error,
        format!("Error · try {}", t.try_number),
        scroll_note(first, shown, len),
    );
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(Style::new().fg(Color::Rgb(255, 140, 140)))
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(first).unwrap_or(u16::MAX), 0)),
        area,
    );
}

fn render_xcom(app: &App, frame: &mut Frame, area: Rect) {
    let lines = &app.task.xcom_lines;
    let len = lines.len();
    let shown = usize::from(area.height.saturating_sub(2));
    let first = app.task.xcom_scroll.min(len.saturating_sub(shown.max(1)));
    let block = with_keys(pane_block(
        app,
        Pane::Xcom,
        "XCom return_value".to_owned(),
        scroll_note(first, shown, len),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if lines.is_empty() {
        empty(frame, inner, "no value (yet)");
        return;
    }
    let text: Vec<Line> = lines
        .iter()
        .skip(first)
        .take(shown)
        .map(|l| json_line(l))
        .collect();
    frame.render_widget(Paragraph::new(text), inner);
}

/// A pretty-printed JSON line with its keys and values coloured.
fn json_line(line: &str) -> Line<'static> {
    let indent_len = line.len() - line.trim_start().len();
    let (indent, rest) = line.split_at(indent_len);
    let mut spans = vec![Span::raw(indent.to_owned())];
    let value = if rest.starts_with('"')
        && let Some(end) = rest.find("\": ")
    {
        spans.push(Span::styled(
            rest[..=end].to_owned(),
            Style::new().fg(Color::Rgb(130, 170, 255)),
        ));
        spans.push(Span::raw(": "));
        &rest[end + 3..]
    } else {
        rest
    };
    let color = match value.trim_end_matches(',').chars().next() {
        Some('"') => Color::Rgb(152, 195, 121),
        Some('0'..='9' | '-') => Color::Rgb(209, 154, 102),
        Some('t' | 'f' | 'n') => Color::Rgb(198, 120, 221),
        _ => Color::Reset,
    };
    spans.push(Span::styled(value.to_owned(), Style::new().fg(color)));
    Line::from(spans)
}
