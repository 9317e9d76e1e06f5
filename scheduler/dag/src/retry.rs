//! When a failed try is retried: Airflow's `next_retry_datetime`, with its deterministic
//! sha1 jitter. Pure.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha1::{Digest, Sha1};

use crate::Task;

/// Airflow's global cap on a retry delay (`[core] max_task_retry_delay`, 24 h).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(86_400);

/// The wait before the retry that follows try `try_number` (1 for the first try) of
/// `task` in the run with `logical_date`.
///
/// Without backoff it is `retry_delay`. With a backoff multiplier `m` (active when `m > 0`
/// and `m != 1`): `min = ceil(retry_delay_s * m^(try_number-1))` (at least 1), plus a
/// jitter `sha1("dag#task#logical_date#try") mod min`, capped at 24 h and then at
/// `max_retry_delay`.
pub fn retry_delay(
    task: &Task,
    dag_id: &str,
    logical_date: Option<DateTime<Utc>>,
    try_number: u32,
) -> Duration {
    let base = task.retry_delay;
    let mult = task.retry_exponential_backoff;
    if !(mult > 0.0 && mult != 1.0) {
        return base;
    }
    let exponent = i32::try_from(try_number.saturating_sub(1)).unwrap_or(i32::MAX);
    let scaled = (base.as_secs_f64() * mult.powi(exponent)).ceil();
    // Past 2^63 seconds every value is capped anyway.
    let min_backoff = if scaled.is_finite() && scaled < 9.2e18 {
        (scaled as u64).max(1)
    } else {
        u64::MAX
    };
    let key = format!(
        "{dag_id}#{}#{}#{try_number}",
        task.task_id,
        python_str(logical_date)
    );
    let jitter = digest_mod(&Sha1::digest(key.as_bytes()), min_backoff);
    let secs = min_backoff
        .saturating_add(jitter)
        .min(MAX_RETRY_DELAY.as_secs());
    let delay = Duration::from_secs(secs);
    match task.max_retry_delay {
        Some(cap) => delay.min(cap),
        None => delay,
    }
}

/// `str(datetime)` as Python prints an aware UTC datetime (`2024-01-01 00:00:00+00:00`),
/// or `None`.
pub(crate) fn python_str(d: Option<DateTime<Utc>>) -> String {
    match d {
        None => "None".to_owned(),
        Some(d) if d.timestamp_subsec_micros() == 0 => {
            d.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
        }
        Some(d) => d.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string(),
    }
}

/// A big-endian digest, read as an integer, modulo `m`.
pub(crate) fn digest_mod(digest: &[u8], m: u64) -> u64 {
    let m = u128::from(m.max(1));
    let r = digest
        .iter()
        .fold(0u128, |acc, &b| (acc * 256 + u128::from(b)) % m);
    u64::try_from(r).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::path::Path;

    fn task(extra: &str) -> Task {
        let text = format!("[tasks.t]\ntype = \"call_async\"\nfunc = \"m:f\"\n{extra}");
        let (dag, diags) = crate::parse_dag(Path::new("d.toml"), &text);
        assert!(diags.is_empty(), "{diags:?}");
        dag.expect("valid").tasks.remove(0)
    }

    #[test]
    fn without_backoff_the_delay_is_retry_delay() {
        let t = task("retry_delay = \"90s\"\n");
        assert_eq!(retry_delay(&t, "d", None, 3), Duration::from_secs(90));
        let t = task("retry_delay = \"90s\"\nretry_exponential_backoff = 1.0\n");
        assert_eq!(
            retry_delay(&t, "d", None, 3),
            Duration::from_secs(90),
            "a multiplier of 1 is off"
        );
    }

    #[test]
    fn backoff_grows_with_deterministic_jitter_in_min_to_twice_min() {
        let t = task("retry_delay = \"4m\"\nretry_exponential_backoff = 5.0\n");
        let when = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single();
        for (try_number, min) in [(1u32, 240u64), (2, 1200), (3, 6000)] {
            let d = retry_delay(&t, "d", when, try_number).as_secs();
            assert!(
                d >= min && d < 2 * min,
                "try {try_number}: {d} not in [{min}, {})",
                2 * min
            );
            assert_eq!(
                retry_delay(&t, "d", when, try_number).as_secs(),
                d,
                "deterministic"
            );
        }
        // The jitter is sha1("d#t#2024-01-01 00:00:00+00:00#1") mod 240, as Python computes it:
        // int(hashlib.sha1(b"d#t#2024-01-01 00:00:00+00:00#1").hexdigest(), 16) % 240
        // (= 161, computed with CPython 3.11).
        assert_eq!(retry_delay(&t, "d", when, 1).as_secs(), 240 + 161);
    }

    #[test]
    fn caps_apply() {
        let t = task(
            "retry_delay = \"1h\"\nretry_exponential_backoff = 10.0\nmax_retry_delay = \"2h\"\n",
        );
        assert_eq!(retry_delay(&t, "d", None, 5), Duration::from_secs(7200));
        let t = task("retry_delay = \"1h\"\nretry_exponential_backoff = 10.0\n");
        assert_eq!(retry_delay(&t, "d", None, 9), MAX_RETRY_DELAY);
    }

    #[test]
    fn digest_mod_matches_python_big_integers() {
        // int("ff" * 20, 16) % 1000 == 975 in Python.
        assert_eq!(digest_mod(&[0xff; 20], 1000), 975);
        assert_eq!(digest_mod(&[0, 0, 1, 0], 7), 256 % 7);
    }
}
