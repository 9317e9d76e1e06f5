//! `lithoflow db clean`: Airflow's verb and flags (`--clean-before-timestamp`, `--dry-run`,
//! `-y/--yes`) plus `--dag-id`. What is removed is decided in [`crate::retention`]; this
//! file reads the moment, shows the plan, asks, and prints what was removed. The state is
//! opened directly, or, when a running scheduler holds it, changed through its API
//! (`POST /dbClean`), as the other state commands do ([`StateAccess`]).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use lithoflow_api::{DbCleanBody, DbCleanResponse};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::output::render;
use crate::cli::runs::StateAccess;
use crate::cli::{DbCommand, OutputFormat};
use crate::config::Settings;
use crate::retention::{CleanSpec, RunFiles};

/// What the user types to confirm, as Airflow asks it.
const CONFIRMATION: &str = "delete rows";

pub(crate) async fn run(cmd: DbCommand, settings: &Settings) -> anyhow::Result<Outcome> {
    match cmd {
        DbCommand::Clean {
            clean_before_timestamp,
            dag_ids,
            dry_run,
            yes,
            output,
        } => {
            let before = parse_timestamp(&clean_before_timestamp)?;
            // Refused before anything is read: a script without -y must not hang on a
            // prompt nobody sees, nor half-succeed.
            if !dry_run && !yes && !std::io::stdin().is_terminal() {
                bail!(
                    "refusing to remove runs without confirmation: stdin is not a terminal; pass -y (--yes) to remove them, or --dry-run to see what would be removed"
                );
            }
            let spec = CleanSpec {
                before,
                dag_ids,
                dry_run: true,
                max_runs: None,
            };
            clean(settings, spec, dry_run, yes, output.output).await
        }
    }
}

/// `db clean`: a dry run first (the plan), then, unless only that was asked, the
/// confirmation and the removal.
async fn clean(
    settings: &Settings,
    plan: CleanSpec,
    dry_run: bool,
    yes: bool,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let access = StateAccess::connect(settings).await?;
    if yes && !dry_run {
        let removed = remove(&access, settings, plan).await?;
        print_report(&removed, format)?;
        return Ok(Outcome::Ok);
    }
    let planned = apply(&access, settings, &plan).await?;
    if dry_run {
        print_report(&planned, format)?;
        return Ok(Outcome::Ok);
    }
    if planned.dag_runs > 0 {
        let mut out = std::io::stdout();
        writeln!(
            out,
            "You have requested that we remove every finished run that started before {}{}: {} run(s), {} task instance(s), {} XCom value(s), {} log file(s) and {} job storage file(s) ({}).",
            crate::ops::iso(plan.before),
            if plan.dag_ids.is_empty() {
                String::new()
            } else {
                format!(" of {}", plan.dag_ids.join(", "))
            },
            planned.dag_runs,
            planned.task_instances,
            planned.xcom,
            planned.log_files,
            planned.job_storage_files,
            size(planned.log_bytes + planned.job_storage_bytes),
        )?;
        write!(
            out,
            "This is irreversible. Consider doing a dry run with --dry-run first.\nEnter '{CONFIRMATION}' (without quotes) to proceed: "
        )?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != CONFIRMATION {
            writeln!(out, "Not confirmed; nothing was removed.")?;
            return Ok(Outcome::Ok);
        }
    }
    let removed = remove(&access, settings, plan).await?;
    print_report(&removed, format)?;
    Ok(Outcome::Ok)
}

/// How many runs one request through the API removes at most.
const API_BATCH: usize = 2_000;

/// The clean itself: in one go on the store; through the API in batches of
/// [`API_BATCH`] runs, so the scheduler's loop is never held for long and no answer waits
/// past the API's timeout. The counts add up; what was kept and skipped is the last
/// batch's (each batch sees every run).
async fn remove(
    access: &StateAccess,
    settings: &Settings,
    plan: CleanSpec,
) -> anyhow::Result<DbCleanResponse> {
    let max_runs = matches!(access, StateAccess::Api(_)).then_some(API_BATCH);
    let spec = CleanSpec {
        dry_run: false,
        max_runs,
        ..plan
    };
    let mut total = DbCleanResponse::default();
    loop {
        let r = apply(access, settings, &spec).await?;
        total.clean_before_timestamp = r.clean_before_timestamp;
        total.dag_runs += r.dag_runs;
        total.task_instances += r.task_instances;
        total.xcom += r.xcom;
        total.log_files += r.log_files;
        total.log_bytes += r.log_bytes;
        total.job_storage_files += r.job_storage_files;
        total.job_storage_bytes += r.job_storage_bytes;
        total.kept_latest = r.kept_latest;
        total.skipped_unfinished = r.skipped_unfinished;
        if !r.more {
            return Ok(total);
        }
    }
}

/// Runs a clean on the store, or through the scheduler's API.
async fn apply(
    access: &StateAccess,
    settings: &Settings,
    spec: &CleanSpec,
) -> anyhow::Result<DbCleanResponse> {
    Ok(match access {
        StateAccess::Store(store) => {
            // No scheduler runs: no run is held but by its state.
            crate::retention::clean(store, &RunFiles::of(settings), spec, &|_, _| false)?
        }
        StateAccess::Api(client) => {
            client
                .db_clean(&DbCleanBody {
                    clean_before_timestamp: spec.before,
                    dag_ids: spec.dag_ids.clone(),
                    dry_run: Some(spec.dry_run),
                    max_runs: spec.max_runs,
                })
                .await?
        }
    })
}

/// Reads `--clean-before-timestamp` as Airflow's `parsedate` does (pendulum, not
/// strict): a date, or a date and time with `T` or a space, with or without an offset; a
/// moment without an offset is in UTC, Airflow's default `default_timezone` (lithoflow
/// has no such setting).
pub(crate) fn parse_timestamp(text: &str) -> anyhow::Result<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M%:z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(t, format) {
            return Ok(d.with_timezone(&Utc));
        }
    }
    if let Some(naive) = t.strip_suffix('Z').or(t.strip_suffix('z'))
        && let Ok(d) = parse_naive(naive)
    {
        return Ok(d);
    }
    parse_naive(t).map_err(|_| {
        anyhow::anyhow!(
            "--clean-before-timestamp {text:?}: expected a date or a timestamp, such as 2026-01-01, 2026-01-01T00:00:00Z or '2026-01-01 00:00:00+01:00' (without an offset it is read in UTC)"
        )
    })
}

fn parse_naive(t: &str) -> Result<DateTime<Utc>, ()> {
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, format) {
            return Ok(d.and_utc());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| ())
}

/// A size in bytes for people.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Prints what was (or would be) removed: one row per kind, or the whole report as JSON.
fn print_report(r: &DbCleanResponse, format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    if format == OutputFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    let verb = if r.dry_run { "would_remove" } else { "removed" };
    let row = |kind: &str, n: u64, bytes: Option<u64>| -> Map<String, Value> {
        let v = json!({"kind": kind, verb: n, "size": bytes.map(size)});
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    };
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let rows = [
        row("dag_runs", count(r.dag_runs), None),
        row("task_instances", count(r.task_instances), None),
        row("xcom", count(r.xcom), None),
        row("log_files", r.log_files, Some(r.log_bytes)),
        row(
            "job_storage_files",
            r.job_storage_files,
            Some(r.job_storage_bytes),
        ),
    ];
    out.write_all(render(&rows, &["kind", verb, "size"], format).as_bytes())?;
    let before = r
        .clean_before_timestamp
        .map_or_else(String::new, crate::ops::iso);
    if r.kept_latest > 0 {
        writeln!(
            out,
            "kept {} run(s) that started before {before}: each is its DAG's latest scheduled or backfill run, which the scheduler continues from",
            r.kept_latest
        )?;
    }
    if r.skipped_unfinished > 0 {
        writeln!(
            out,
            "left {} unfinished run(s) that started before {before} alone",
            r.skipped_unfinished
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_read_as_airflow_reads_them_and_naive_ones_in_utc() {
        let utc = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("valid")
                .with_timezone(&Utc)
        };
        for (text, expected) in [
            ("2026-01-01", "2026-01-01T00:00:00Z"),
            ("2026-01-01T10:30:00Z", "2026-01-01T10:30:00Z"),
            ("2026-01-01T10:30:00+01:00", "2026-01-01T09:30:00Z"),
            ("2026-01-01 00:00:00+01:00", "2025-12-31T23:00:00Z"),
            ("2026-01-01 00:00:00.5+0100", "2025-12-31T23:00:00.5Z"),
            ("2026-01-01 10:30:00", "2026-01-01T10:30:00Z"),
            ("2026-01-01T10:30", "2026-01-01T10:30:00Z"),
            ("2026-01-01T10:30:00", "2026-01-01T10:30:00Z"),
        ] {
            assert_eq!(parse_timestamp(text).expect(text), utc(expected), "{text}");
        }
        let err = parse_timestamp("last tuesday").expect_err("refused");
        assert!(
            err.to_string()
                .contains("--clean-before-timestamp \"last tuesday\": expected a date"),
            "{err}"
        );
    }

    #[test]
    fn sizes_are_readable() {
        assert_eq!(size(10), "10 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 << 20), "5.0 MiB");
    }
}
