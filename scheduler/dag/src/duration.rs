//! Durations as DAG files write them: `"90s"`, `"5m"`, `"1h30m"`, `"2 days"`, or a
//! number of seconds (Airflow accepts float seconds for `retry_delay`).

use std::time::Duration;

/// Parses a duration string with humantime's units (`s`, `m`, `h`, `d`, `w`, ...).
pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if let Ok(secs) = trimmed.parse::<f64>() {
        return from_secs(secs);
    }
    humantime::parse_duration(trimmed).map_err(|e| e.to_string())
}

/// A duration from a number of seconds, rejecting negative and non-finite values.
pub fn from_secs(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{secs} is not a non-negative number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// Formats a duration compactly, as humantime does (`1h 30m`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_dag_files_use() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2days"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse("soon").is_err());
        assert!(parse("-5").is_err());
        assert_eq!(format(Duration::from_secs(5400)), "1h 30m");
    }
}
