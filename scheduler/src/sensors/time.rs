//! The time sensors, evaluated in the scheduler (Airflow 2.10's airflow/sensors/):
//! `time_delta` (`TimeDeltaSensor`: now > data interval end + delta), `date_time`
//! (`DateTimeSensor`: now > target_time), `time` (`TimeSensor`: the time of day in the
//! DAG's time zone > target_time).

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};

use lithoflow_dag::DagTimezone;

use crate::store::DagRunRecord;

/// `TimeDeltaSensor.poke`: the moment it waits for, and whether it has passed.
pub(crate) fn time_delta(
    run: &DagRunRecord,
    delta: Duration,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, bool) {
    let end = run
        .data_interval_end
        .or(run.logical_date)
        .unwrap_or(run.run_after);
    let target = end + chrono::Duration::from_std(delta).unwrap_or(chrono::Duration::MAX);
    (target, now > target)
}

/// `DateTimeSensor.poke`.
pub(crate) fn date_time(target: &str, now: DateTime<Utc>) -> Result<(DateTime<Utc>, bool), String> {
    let target = lithoflow_dag::parse_datetime(target).map_err(|e| format!("target_time: {e}"))?;
    Ok((target, now > target))
}

/// `TimeSensor.poke`: the time of day now, in the DAG's zone, is past `target`.
pub(crate) fn time_of_day(target: NaiveTime, tz: DagTimezone, now: DateTime<Utc>) -> bool {
    let local = match tz {
        DagTimezone::Named(tz) => now.with_timezone(&tz).time(),
        DagTimezone::Fixed(off) => now.with_timezone(&off).time(),
    };
    local > target
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn each_time_sensor_compares_as_airflow() {
        let at = |h, m| {
            Utc.with_ymd_and_hms(2026, 5, 1, h, m, 0)
                .single()
                .expect("valid")
        };
        let mut run =
            DagRunRecord::manual("d", "r".into(), at(10, 0), at(10, 0), Default::default());
        run.data_interval_end = Some(at(10, 0));
        assert!(!time_delta(&run, Duration::from_secs(600), at(10, 10)).1);
        assert!(time_delta(&run, Duration::from_secs(600), at(10, 11)).1);
        assert_eq!(
            date_time("2026-05-01T10:30:00+00:00", at(10, 30)),
            Ok((at(10, 30), false))
        );
        assert!(
            date_time("2026-05-01 12:30:00+02:00", at(10, 31))
                .expect("parses")
                .1
        );
        let t = NaiveTime::from_hms_opt(12, 0, 0).expect("valid");
        let amsterdam = DagTimezone::Named(chrono_tz::Europe::Amsterdam);
        // 10:01 UTC is 12:01 in Amsterdam (CEST).
        assert!(time_of_day(t, amsterdam, at(10, 1)));
        assert!(!time_of_day(t, DagTimezone::default(), at(10, 1)));
    }
}
