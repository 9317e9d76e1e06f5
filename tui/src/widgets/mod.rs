//! Reusable pieces of the screens: Airflow's state colours and glyphs, human times and
//! durations, and the small widgets more than one view draws.

mod state;

pub use state::{StateLegend, run_style, state_color, state_glyph, state_span, state_style};

use chrono::{DateTime, Utc};

/// A duration in seconds for people: `850ms`, `3.2s`, `1m05s`, `2h03m`, `3d04h`.
pub fn human_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".to_owned();
    }
    if secs < 0.001 {
        return format!("{}µs", (secs * 1e6).round());
    }
    if secs < 0.01 {
        return format!("{:.1}ms", secs * 1000.0);
    }
    if secs < 1.0 {
        return format!("{}ms", (secs * 1000.0).round());
    }
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a finite, positive duration in whole seconds"
    )]
    let s = secs.round() as u64;
    match s {
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A time as `2026-11-28 05:00:01` (UTC), or `-`.
pub fn human_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// A time as `11-28 05:00` (UTC), or `-`: for narrow columns.
pub fn short_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.format("%m-%d %H:%M").to_string())
}

/// How long ago (or, negative, how far ahead) `t` is from `now`: `5s ago`, `in 3m`.
pub fn relative(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_milliseconds() as f64 / 1000.0;
    if secs >= 0.0 {
        format!("{} ago", human_duration(secs.floor()))
    } else {
        format!("in {}", human_duration((-secs).ceil()))
    }
}

/// Cuts `s` to `width` characters, ending with `…` when cut.
pub fn ellipsize(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        let cases = [
            (0.000_35, "350µs"),
            (0.0042, "4.2ms"),
            (0.042, "42ms"),
            (0.85, "850ms"),
            (3.21, "3.2s"),
            (65.0, "1m05s"),
            (7380.0, "2h03m"),
            (273_600.0, "3d04h"),
            (-1.0, "-"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
        assert_eq!(ellipsize("map_reduce_example", 8), "map_red…");
        assert_eq!(ellipsize("map", 8), "map");
    }
}
