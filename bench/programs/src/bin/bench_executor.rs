//! In-process benchmark of the executor with a warm worker pool (bench/executor/run.sh).
//!
//! Starts one `FunctionExecutor`, warms its workers up (every worker has started and
//! imported the function module), then times, inside this process and excluding process
//! and worker start-up:
//!
//! - maps of N trivial calls `add(x, y=1)` (submit to results, `Job::wait`);
//! - sequential `call_async` + result round trips (`add(x=i, y=1)`);
//! - a `map_reduce` over N calls with the reducer `total(results)`.
//!
//! Then, in one extra untimed run of the largest map, it samples the resident memory of
//! the worker processes (this process's children) and of this process from `/proc`.
//! Sampling is kept out of the timed runs so that it cannot slow them down.
//!
//! ```text
//! cargo run --release --manifest-path bench/programs/Cargo.toml --bin bench_executor -- \
//!     --functions bench/executor [--python python3] [--workers N] [--sizes 100,1000,10000]
//!     [--repeats 7] [--roundtrips 20] [--roundtrip-sets 5] [--mapreduce 1000]
//!     [--mapreduce-repeats 5] [--no-rss]
//! ```
//!
//! The module `bench_functions` (functions `add` and `total`) must be in `--functions`.
//! Progress goes to stderr; one JSON document with every figure (seconds, KiB) goes to
//! stdout.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lithoflow_executor::{
    CallOptions, Chunking, ExecutorSettings, Extra, FunctionExecutor, FunctionRef, JobKind,
    JobSpec, MapJob,
};
use serde_json::{Map, Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    python: String,
    workers: usize,
    functions: PathBuf,
    sizes: Vec<usize>,
    repeats: usize,
    roundtrips: usize,
    roundtrip_sets: usize,
    mapreduce: usize,
    mapreduce_repeats: usize,
    rss: bool,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        python: "python3".to_owned(),
        workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        functions: PathBuf::from("bench/executor"),
        sizes: vec![100, 1000, 10_000],
        repeats: 7,
        roundtrips: 20,
        roundtrip_sets: 5,
        mapreduce: 1000,
        mapreduce_repeats: 5,
        rss: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-rss" {
            args.rss = false;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--python" => args.python = value,
            "--workers" => args.workers = value.parse()?,
            "--functions" => args.functions = PathBuf::from(value),
            "--sizes" => {
                args.sizes = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--repeats" => args.repeats = value.parse()?,
            "--roundtrips" => args.roundtrips = value.parse()?,
            "--roundtrip-sets" => args.roundtrip_sets = value.parse()?,
            "--mapreduce" => args.mapreduce = value.parse()?,
            "--mapreduce-repeats" => args.mapreduce_repeats = value.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    args.functions = std::path::absolute(&args.functions)?;
    Ok(args)
}

fn add() -> FunctionRef {
    FunctionRef {
        module: "bench_functions".to_owned(),
        function: "add".to_owned(),
    }
}

fn y_is_one() -> Extra {
    let mut kw = Map::new();
    kw.insert("y".to_owned(), json!(1));
    Extra::Keyword(kw)
}

fn map_job(n: usize) -> MapJob {
    MapJob {
        func: add(),
        iterdata: (0..n).map(|i| json!(i)).collect(),
        extra: Some(y_is_one()),
        chunking: Chunking::Whole,
    }
}

/// Wall time summary of a list of seconds.
fn summary(xs: &[f64]) -> Value {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return json!(null);
    }
    let median = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        f64::midpoint(s[s.len() / 2 - 1], s[s.len() / 2])
    };
    let p90 = s[(s.len() * 9).div_ceil(10).saturating_sub(1)];
    json!({
        "runs": s.len(),
        "min": s[0],
        "median": median,
        "p90": p90,
        "max": s[s.len() - 1],
        "times": xs,
    })
}

fn log(msg: &str) {
    let _ = writeln!(std::io::stderr(), "[bench_executor] {msg}");
}

/// Runs one job to the end; returns its wall time (submit to outcome) and its value.
async fn timed(
    executor: &FunctionExecutor,
    key: String,
    kind: JobKind,
    options: &CallOptions,
) -> Result<(f64, Value), BoxError> {
    let started = Instant::now();
    let job = executor.submit(JobSpec {
        job_key: key,
        kind,
        options: options.clone(),
    });
    let outcome = job.wait().await;
    let secs = started.elapsed().as_secs_f64();
    match &outcome.result {
        Ok(v) => Ok((secs, v.clone())),
        Err(e) => Err(format!("job {} failed: {e:?}", outcome.job_id).into()),
    }
}

fn expect_map(value: &Value, n: usize) -> Result<(), BoxError> {
    let items = value.as_array().ok_or("a map returned no list")?;
    let ok = items.len() == n
        && items
            .iter()
            .enumerate()
            .all(|(i, v)| v.as_u64() == u64::try_from(i + 1).ok());
    if ok {
        Ok(())
    } else {
        Err(format!("a map of {n} returned wrong results").into())
    }
}

/// Resident memory of processes, read from `/proc`.
mod rss {
    use std::fs;

    /// A `kB` field of `/proc/<pid>/status`.
    pub(super) fn status_kb(pid: &str, field: &str) -> Option<u64> {
        let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The parent pid from `/proc/<pid>/stat` (the field after the `(comm)`).
    fn ppid(pid: &str) -> Option<u32> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = &stat[stat.rfind(')')? + 1..];
        after.split_whitespace().nth(1)?.parse().ok()
    }

    /// The direct children of `parent` and their resident memory, KiB.
    pub(super) fn children(parent: u32) -> Vec<(u32, u64)> {
        let Ok(dir) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| ppid(n) == Some(parent))
            .filter_map(|n| Some((n.parse().ok()?, status_kb(&n, "VmRSS:")?)))
            .collect()
    }
}

#[derive(Default)]
struct Peaks {
    samples: u64,
    workers_kb: u64,
    workers_seen: usize,
    self_kb: u64,
}

/// Samples the worker pool's and this process's RSS every `every` until stopped.
fn sampler(stop: Arc<AtomicBool>, peaks: Arc<Mutex<Peaks>>, every: Duration) {
    let me = std::process::id();
    let me_s = me.to_string();
    while !stop.load(Ordering::Relaxed) {
        let kids = rss::children(me);
        let sum: u64 = kids.iter().map(|(_, kb)| kb).sum();
        let own = rss::status_kb(&me_s, "VmRSS:").unwrap_or(0);
        if let Ok(mut p) = peaks.lock() {
            p.samples += 1;
            p.workers_kb = p.workers_kb.max(sum);
            p.workers_seen = p.workers_seen.max(kids.len());
            p.self_kb = p.self_kb.max(own);
        }
        std::thread::sleep(every);
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let storage = tempfile::tempdir()?;
    let settings = ExecutorSettings {
        python: args.python.clone(),
        worker_processes: args.workers,
        storage_root: storage.path().to_owned(),
        default_timeout: lithoflow_executor::DEFAULT_TIMEOUT,
        default_memory: None,
        invoke_pool_threads: lithoflow_executor::DEFAULT_INVOKE_POOL_THREADS,
    };
    let options = CallOptions {
        sys_path: vec![args.functions.clone()],
        base_dir: args.functions.clone(),
        ..CallOptions::default()
    };

    let start = Instant::now();
    let executor = FunctionExecutor::new(settings);
    // Warm-up: enough calls that every worker has started and imported the module.
    let warm = 50 * executor.workers();
    let (first, v) = timed(
        &executor,
        "bench/warmup/0".to_owned(),
        JobKind::Map(map_job(warm)),
        &options,
    )
    .await?;
    expect_map(&v, warm)?;
    let (second, _) = timed(
        &executor,
        "bench/warmup/1".to_owned(),
        JobKind::Map(map_job(warm)),
        &options,
    )
    .await?;
    let pool_ready_s = start.elapsed().as_secs_f64();
    log(&format!(
        "{} workers warm in {pool_ready_s:.3}s (first {warm}-call map {first:.3}s, second {second:.3}s)",
        executor.workers()
    ));
    let idle: Vec<(u32, u64)> = rss::children(std::process::id());

    let mut maps = Map::new();
    for &n in &args.sizes {
        let mut times = Vec::new();
        for r in 0..args.repeats {
            let (secs, v) = timed(
                &executor,
                format!("bench/map{n}/{r}"),
                JobKind::Map(map_job(n)),
                &options,
            )
            .await?;
            expect_map(&v, n)?;
            times.push(secs);
        }
        let s = summary(&times);
        log(&format!(
            "map {n}: median {:.4}s",
            s["median"].as_f64().unwrap_or(f64::NAN)
        ));
        maps.insert(n.to_string(), s);
    }

    let mut set_medians = Vec::new();
    let mut all_trips = Vec::new();
    for set in 0..args.roundtrip_sets {
        let mut trips = Vec::new();
        for i in 0..args.roundtrips {
            let kind = JobKind::CallAsync {
                func: add(),
                data: json!({"x": i, "y": 1}),
            };
            let (secs, v) = timed(
                &executor,
                format!("bench/call_async/{set}/{i}"),
                kind,
                &options,
            )
            .await?;
            if v.as_u64() != u64::try_from(i + 1).ok() {
                return Err(format!("call_async add({i}, y=1) returned {v}").into());
            }
            trips.push(secs);
        }
        let s = summary(&trips);
        set_medians.push(s["median"].as_f64().unwrap_or(f64::NAN));
        all_trips.extend(trips);
    }
    let trips = summary(&all_trips);
    log(&format!(
        "call_async round trip: median {:.3} ms",
        trips["median"].as_f64().unwrap_or(f64::NAN) * 1e3
    ));

    let mut mr_times = Vec::new();
    let n = args.mapreduce;
    let expected = u64::try_from(n * (n + 1) / 2)?;
    for r in 0..args.mapreduce_repeats {
        let kind = JobKind::MapReduce {
            map: map_job(n),
            reduce: FunctionRef {
                module: "bench_functions".to_owned(),
                function: "total".to_owned(),
            },
            map_memory: None,
            reduce_memory: None,
            one_per_object: false,
        };
        let (secs, v) = timed(&executor, format!("bench/mapreduce/{r}"), kind, &options).await?;
        if v.as_u64() != Some(expected) {
            return Err(format!("map_reduce returned {v}, expected {expected}").into());
        }
        mr_times.push(secs);
    }
    let mr = summary(&mr_times);
    log(&format!(
        "map_reduce {n}: median {:.4}s",
        mr["median"].as_f64().unwrap_or(f64::NAN)
    ));

    let mut memory = json!(null);
    if args.rss {
        let n = args.sizes.iter().copied().max().unwrap_or(10_000);
        let stop = Arc::new(AtomicBool::new(false));
        let peaks = Arc::new(Mutex::new(Peaks::default()));
        let thread = {
            let (stop, peaks) = (Arc::clone(&stop), Arc::clone(&peaks));
            std::thread::spawn(move || sampler(stop, peaks, Duration::from_millis(5)))
        };
        let (secs, v) = timed(
            &executor,
            "bench/rss".to_owned(),
            JobKind::Map(map_job(n)),
            &options,
        )
        .await?;
        expect_map(&v, n)?;
        stop.store(true, Ordering::Relaxed);
        thread.join().map_err(|_| "the RSS sampler panicked")?;
        let me = std::process::id().to_string();
        let p = peaks
            .lock()
            .map_err(|_| "the RSS sampler's lock is poisoned")?;
        memory = json!({
            "map_calls": n,
            "map_s_while_sampled": secs,
            "samples": p.samples,
            "workers_peak_kb": p.workers_kb,
            "workers_seen": p.workers_seen,
            "workers_idle_kb": idle.iter().map(|(_, kb)| kb).sum::<u64>(),
            "workers_idle_each_kb": idle.iter().map(|(_, kb)| *kb).collect::<Vec<_>>(),
            "self_peak_sampled_kb": p.self_kb,
            "self_hwm_kb": rss::status_kb(&me, "VmHWM:"),
        });
        log(&format!(
            "RSS during a {n}-call map: workers {} KiB (sum of {}), this process {} KiB (VmHWM)",
            p.workers_kb,
            p.workers_seen,
            rss::status_kb(&me, "VmHWM:").unwrap_or(0)
        ));
    }

    executor.shutdown();
    let doc = json!({
        "workers": executor.workers(),
        "python": args.python,
        "pool_ready_s": pool_ready_s,
        "warmup_first_map_s": first,
        "map": maps,
        "call_async": {
            "per_set": args.roundtrips,
            "set_medians": set_medians,
            "all": trips,
        },
        "map_reduce": {"calls": n, "times": mr},
        "memory": memory,
    });
    writeln!(std::io::stdout(), "{doc}")?;
    Ok(())
}
