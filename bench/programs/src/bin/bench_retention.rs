//! The state store with a long run history (bench/retention/run.sh): fills a home's state
//! database with one DAG's runs (one task instance, one XCom value, a log file and a job
//! storage folder each, as a finished run of a one-task DAG leaves them), and times
//! listing the DAG's latest runs the old way (`Store::runs`: decode and sort the whole
//! history, keep the first N) and through the index (`Store::recent_runs`).
//!
//! ```text
//! bench_retention fill --home H --dag D --runs N     # grow the DAG's history to N runs
//! bench_retention list --home H --dag D [--limit 100] [--repeats 31]
//! bench_retention rss                                # this process's RSS, KiB (a check)
//! ```
//!
//! `fill` adds runs from the DAG's current count on, one a minute going back from a day
//! ago (an every-minute DAG's history), and flushes. `list` prints one JSON object: medians and
//! the other percentiles of both ways, in milliseconds, and their ratio. No scheduler may
//! hold the home's state while this runs (sled's lock).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use lithoflow_scheduler::store::{DagRunRecord, RunState, Store, TaskInstanceRecord, TaskState};
use serde_json::json;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn number(args: &[String], name: &str, default: usize) -> usize {
    arg(args, name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| fail(&format!("{name}: expected a number, found {v:?}")))
    })
}

fn fail(msg: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "bench_retention: {msg}");
    std::process::exit(2)
}

fn open(home: &Path) -> Store {
    Store::open(&home.join("state"))
        .unwrap_or_else(|e| fail(&format!("cannot open the state: {e}")))
}

/// Writes a file whole, creating its folder (0700, as the home's).
fn write(path: &Path, body: &[u8]) {
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    }
    std::fs::write(path, body).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn fill(home: &Path, dag: &str, runs: usize) {
    let store = open(home);
    let from = store
        .run_count(dag)
        .unwrap_or_else(|e| fail(&format!("{e}")));
    // Run i is i + 1 minutes before a day ago: a later fill adds older runs, never the
    // same ones again.
    let end = Utc::now().date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc()
        - Duration::days(1);
    let started = Instant::now();
    for i in from..runs {
        let at = end - Duration::minutes(i64::try_from(i + 1).expect("fits"));
        let run_id = format!("scheduled__{}", iso(at));
        let mut run = DagRunRecord::manual(dag, run_id.clone(), at, at, serde_json::Map::new());
        run.run_type = "scheduled".to_owned();
        run.state = RunState::Success;
        run.data_interval_start = Some(at);
        run.data_interval_end = Some(at + Duration::minutes(1));
        run.start_date = Some(at + Duration::seconds(1));
        run.end_date = Some(at + Duration::seconds(2));
        let mut ti = TaskInstanceRecord::new("add", 1);
        ti.state = TaskState::Success;
        ti.try_number = 1;
        ti.start_date = run.start_date;
        ti.end_date = run.end_date;
        ti.duration_s = Some(0.4);
        ti.job_id = Some(format!("{dag}/{run_id}/add/1"));
        ti.calls_done = 1;
        ti.calls_total = 1;
        let put = store
            .put_run(&run)
            .and_then(|()| store.put_ti(dag, &run_id, &ti))
            .and_then(|()| store.put_xcom(dag, &run_id, "add", "return_value", &json!(3)));
        put.unwrap_or_else(|e| fail(&format!("{e}")));
        let log = home
            .join("logs")
            .join(format!("dag_id={dag}"))
            .join(format!("run_id={run_id}"))
            .join("task_id=add/attempt=1.log");
        let start = iso(at + Duration::seconds(1));
        let end = iso(at + Duration::seconds(2));
        write(
            &log,
            format!(
                "[{start}] {dag}.add run {run_id} try 1/1\n[{end}] Done. Returned value was: 3\n[{end}] state: success after 0.400s\n"
            )
            .as_bytes(),
        );
        let job = home
            .join("storage/lithoflow.jobs")
            .join(dag)
            .join(&run_id)
            .join("add/1");
        write(&job.join("status.json"), br#"{"state":"done","done":1,"failed":0,"total":1}"#);
        write(&job.join("results.json"), br#"[{"call":0,"ok":true,"value":3}]"#);
        if (i + 1) % 10_000 == 0 {
            let _ = writeln!(
                std::io::stderr(),
                "  {} runs ({:.1} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.flush().unwrap_or_else(|e| fail(&format!("{e}")));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn list(home: &Path, dag: &str, limit: usize, repeats: usize) {
    let store = open(home);
    let count = store.run_count(dag).unwrap_or_else(|e| fail(&format!("{e}")));
    let time = |f: &dyn Fn() -> usize| -> Vec<f64> {
        // One untimed pass warms sled's cache, as a running scheduler's is.
        f();
        let mut ms: Vec<f64> = (0..repeats)
            .map(|_| {
                let t = Instant::now();
                let n = f();
                assert_eq!(n, limit.min(count));
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    };
    let scan = time(&|| {
        store
            .runs(dag)
            .unwrap_or_else(|e| fail(&format!("{e}")))
            .into_iter()
            .take(limit)
            .count()
    });
    let index = time(&|| {
        store
            .recent_runs(dag, 0, limit)
            .unwrap_or_else(|e| fail(&format!("{e}")))
            .len()
    });
    let out = json!({
        "runs": count,
        "limit": limit,
        "repeats": repeats,
        "scan_ms": {"min": scan[0], "median": percentile(&scan, 0.5), "p90": percentile(&scan, 0.9)},
        "index_ms": {"min": index[0], "median": percentile(&index, 0.5), "p90": percentile(&index, 0.9)},
        "ratio_scan_over_index": percentile(&scan, 0.5) / percentile(&index, 0.5),
    });
    let _ = writeln!(std::io::stdout(), "{out}");
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let home = || PathBuf::from(arg(&args, "--home").unwrap_or_else(|| fail("--home DIR is required")));
    let dag = || arg(&args, "--dag").unwrap_or_else(|| "every_minute".to_owned());
    match args.get(1).map(String::as_str) {
        Some("fill") => fill(&home(), &dag(), number(&args, "--runs", 10_000)),
        Some("list") => list(
            &home(),
            &dag(),
            number(&args, "--limit", 100),
            number(&args, "--repeats", 31),
        ),
        Some("rss") => {
            let _ = writeln!(std::io::stdout(), "{}", rss_kib());
        }
        _ => fail("usage: bench_retention fill|list|rss --home DIR [--dag ID] [--runs N] [--limit N] [--repeats N]"),
    }
}
