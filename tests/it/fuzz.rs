//! Mutation fuzzers on the stable toolchain (no cargo-fuzz): proptest generates edits to
//! seed corpora (byte flips, inserts, deletes, splices between seeds, dictionary tokens,
//! line and TOML value swaps) and each target checks that its code never panics, never
//! hangs (each input runs on its own thread against a deadline) and reports positions
//! inside the input.
//!
//! By default each target runs a short, deterministic run (CI). `LITHOFLOW_FUZZ_SECS=N`
//! runs each target for N seconds with a random seed (`scripts/fuzz.sh`). Findings are
//! minimized and written to `target/fuzz-findings/<target>/`; regression inputs are kept
//! in `tests/fuzz/<target>/`, which every run replays first.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lithoflow_dag::diag::Diagnostic;
use lithoflow_dag::parse_dag;
use lithoflow_executor::partition::{self, AsyncObjectSource, Chunking};
use lithoflow_migrate::{AirflowVersion, ConvertOptions, convert_file};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::{BoxedStrategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases per target in the default (CI) run.
const SHORT_CASES: u64 = 128;
/// The largest input a mutation may grow to.
const MAX_INPUT: usize = 256 * 1024;
/// How many shrink steps a finding gets (a hang costs its deadline per step, so fewer).
const SHRINK_STEPS: u32 = 256;
const SHRINK_STEPS_HANG: u32 = 8;

/// What one target checks: `Err` is a finding.
type Check<T> = Arc<dyn Fn(&T) -> Result<(), String> + Send + Sync>;

/// How long a target runs.
#[derive(Clone, Copy)]
enum Budget {
    Cases(u64),
    Time(Duration),
}

fn budget() -> Budget {
    match std::env::var("LITHOFLOW_FUZZ_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        Some(secs) if secs > 0 => Budget::Time(Duration::from_secs(secs)),
        _ => Budget::Cases(SHORT_CASES),
    }
}

/// Runs `check` on its own thread; a panic or a run past `deadline` is a finding.
fn guarded<T: Clone + Send + 'static>(
    check: &Check<T>,
    input: &T,
    deadline: Duration,
) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let check = Arc::clone(check);
    let input = input.clone();
    let spawned = std::thread::Builder::new()
        .name("fuzz-case".into())
        .spawn(move || {
            let _ = tx.send(check(&input));
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a thread: {e}"));
    }
    match rx.recv_timeout(deadline) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("hang: no answer within {deadline:?}")),
        // The sender was dropped without sending: the check panicked.
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("panic".to_owned()),
    }
}

/// One fuzz target's run.
struct Run<T> {
    name: &'static str,
    /// Inputs replayed as they are before any mutation (corpus and regressions).
    seeds: Vec<T>,
    strategy: BoxedStrategy<T>,
    deadline: Duration,
    check: Check<T>,
    /// The bytes saved for a finding.
    save: fn(&T) -> Vec<u8>,
}

/// A target's totals.
struct Stats {
    cases: u64,
    elapsed: Duration,
    findings: Vec<String>,
}

impl<T: Clone + Send + std::fmt::Debug + 'static> Run<T> {
    fn go(self) -> Stats {
        let budget = budget();
        let rng = match budget {
            Budget::Cases(_) => TestRng::deterministic_rng(RngAlgorithm::ChaCha),
            Budget::Time(_) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let mut seed = [0u8; 32];
                for (i, b) in nanos.to_le_bytes().iter().enumerate() {
                    seed[i] = *b;
                }
                seed[31] = self.name.len() as u8;
                TestRng::from_seed(RngAlgorithm::ChaCha, &seed)
            }
        };
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        let started = Instant::now();
        let mut stats = Stats {
            cases: 0,
            elapsed: Duration::ZERO,
            findings: Vec::new(),
        };
        for seed in &self.seeds {
            stats.cases += 1;
            if let Err(why) = guarded(&self.check, seed, self.deadline) {
                self.record(&mut stats, seed, &why);
            }
        }
        loop {
            let more = match budget {
                Budget::Cases(n) => stats.cases < n + self.seeds.len() as u64,
                Budget::Time(d) => started.elapsed() < d,
            };
            if !more {
                break;
            }
            let Ok(mut tree) = self.strategy.new_tree(&mut runner) else {
                continue;
            };
            stats.cases += 1;
            let Err(mut why) = guarded(&self.check, &tree.current(), self.deadline) else {
                continue;
            };
            // Shrink: keep each simplification that still fails.
            let steps = if why.starts_with("hang") {
                SHRINK_STEPS_HANG
            } else {
                SHRINK_STEPS
            };
            let mut best = tree.current();
            for _ in 0..steps {
                if !tree.simplify() {
                    break;
                }
                match guarded(&self.check, &tree.current(), self.deadline) {
                    Err(w) => {
                        best = tree.current();
                        why = w;
                    }
                    Ok(()) => {
                        if !tree.complicate() {
                            break;
                        }
                    }
                }
            }
            self.record(&mut stats, &best, &why);
        }
        stats.elapsed = started.elapsed();
        self.report(&stats);
        stats
    }

    fn record(&self, stats: &mut Stats, input: &T, why: &str) {
        let bytes = (self.save)(input);
        let dir = crate::repo_root()
            .join("target")
            .join("fuzz-findings")
            .join(self.name);
        let file = dir.join(format!("{:016x}", fnv(&bytes)));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(&file, &bytes);
        let shown: String = format!("{input:?}").chars().take(600).collect();
        stats
            .findings
            .push(format!("{why} (saved to {}): {shown}", file.display()));
    }

    #[expect(
        clippy::print_stderr,
        reason = "the fuzzers' totals are their output (scripts/fuzz.sh shows them)"
    )]
    fn report(&self, stats: &Stats) {
        let secs = stats.elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "fuzz {}: {} cases in {:.1}s ({:.0}/s), {} findings",
            self.name,
            stats.cases,
            secs,
            stats.cases as f64 / secs,
            stats.findings.len()
        );
        for f in &stats.findings {
            eprintln!("fuzz {}: finding: {f}", self.name);
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn assert_clean(stats: &Stats) {
    assert!(
        stats.findings.is_empty(),
        "{} findings:\n{}",
        stats.findings.len(),
        stats.findings.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Seeds and mutations.

/// Every file in `dir` (relative to the repository) whose name ends with `ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let dir = crate::repo_root().join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.to_string_lossy().ends_with(ext))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// The seeds of a target: the given corpora plus its regression folder `tests/fuzz/<name>/`.
fn corpus(name: &str, sources: &[(&str, &str)]) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = sources
        .iter()
        .flat_map(|(dir, ext)| files(dir, ext))
        .collect();
    seeds.extend(files(&format!("tests/fuzz/{name}"), ""));
    assert!(!seeds.is_empty(), "fuzz target {name} has no seeds");
    seeds
}

/// One edit to an input.
#[derive(Debug, Clone)]
enum Edit {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, u16),
    Duplicate(Index, u16),
    /// Inserts a piece of another seed.
    Splice(Index, Index, Index, u16),
    /// Inserts a dictionary token.
    Token(Index, Index),
    /// Replaces the token-like run of bytes at a position with a dictionary token.
    ReplaceWord(Index, Index),
    SwapLines(Index, Index),
    /// Swaps the values of two `key = value` lines (or the keys, `swap_keys`).
    SwapAssignments(Index, Index, bool),
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<Index>;
    prop_oneof![
        (i(), 0u8..8).prop_map(|(a, b)| Edit::FlipBit(a, b)),
        (i(), any::<u8>()).prop_map(|(a, b)| Edit::SetByte(a, b)),
        (i(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(a, b)| Edit::Insert(a, b)),
        (i(), 1u16..64).prop_map(|(a, n)| Edit::Delete(a, n)),
        (i(), 1u16..256).prop_map(|(a, n)| Edit::Duplicate(a, n)),
        (i(), i(), i(), 1u16..512).prop_map(|(a, s, f, n)| Edit::Splice(a, s, f, n)),
        (i(), i()).prop_map(|(a, t)| Edit::Token(a, t)),
        (i(), i()).prop_map(|(a, t)| Edit::ReplaceWord(a, t)),
        (i(), i()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (i(), i(), any::<bool>()).prop_map(|(a, b, k)| Edit::SwapAssignments(a, b, k)),
    ]
}

/// Line `[start, end)` ranges (without the newline).
fn line_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    out.push((start, bytes.len()));
    out
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit, seeds: &[Vec<u8>], dict: &[&[u8]]) {
    let at = |ix: &Index, len: usize| ix.index(len + 1);
    match edit {
        Edit::FlipBit(ix, bit) if !bytes.is_empty() => {
            let i = ix.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Edit::SetByte(ix, b) if !bytes.is_empty() => {
            let i = ix.index(bytes.len());
            bytes[i] = *b;
        }
        Edit::Insert(ix, new) => {
            let i = at(ix, bytes.len());
            bytes.splice(i..i, new.iter().copied());
        }
        Edit::Delete(ix, n) => {
            let i = at(ix, bytes.len());
            let end = (i + usize::from(*n)).min(bytes.len());
            bytes.drain(i..end);
        }
        Edit::Duplicate(ix, n) => {
            let i = at(ix, bytes.len());
            let end = (i + usize::from(*n)).min(bytes.len());
            let piece = bytes[i..end].to_vec();
            bytes.splice(end..end, piece);
        }
        Edit::Splice(ix, which, from, n) => {
            let other = &seeds[which.index(seeds.len())];
            let f = at(from, other.len());
            let end = (f + usize::from(*n)).min(other.len());
            let i = at(ix, bytes.len());
            bytes.splice(i..i, other[f..end].iter().copied());
        }
        Edit::Token(ix, t) => {
            let token = dict[t.index(dict.len())];
            let i = at(ix, bytes.len());
            bytes.splice(i..i, token.iter().copied());
        }
        Edit::ReplaceWord(ix, t) => {
            let token = dict[t.index(dict.len())];
            let i = at(ix, bytes.len());
            let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
            let start = bytes[..i]
                .iter()
                .rposition(|b| !word(b))
                .map_or(0, |p| p + 1);
            let end = bytes[i..]
                .iter()
                .position(|b| !word(b))
                .map_or(bytes.len(), |p| i + p);
            bytes.splice(start..end, token.iter().copied());
        }
        Edit::SwapLines(a, b) => {
            let lines = line_ranges(bytes);
            let (x, y) = (lines[a.index(lines.len())], lines[b.index(lines.len())]);
            swap_ranges(bytes, x, y);
        }
        Edit::SwapAssignments(a, b, keys) => {
            // The parts of `key = value` lines: the key, or the value after `=`.
            let parts: Vec<(usize, usize)> = line_ranges(bytes)
                .into_iter()
                .filter_map(|(s, e)| {
                    let eq = bytes[s..e].iter().position(|&c| c == b'=')? + s;
                    Some(if *keys { (s, eq) } else { (eq + 1, e) })
                })
                .collect();
            if !parts.is_empty() {
                let (x, y) = (parts[a.index(parts.len())], parts[b.index(parts.len())]);
                swap_ranges(bytes, x, y);
            }
        }
        _ => {}
    }
    bytes.truncate(MAX_INPUT);
}

/// Swaps two non-overlapping ranges of `bytes` (overlapping ones are left alone).
fn swap_ranges(bytes: &mut Vec<u8>, x: (usize, usize), y: (usize, usize)) {
    let (first, second) = if x.0 <= y.0 { (x, y) } else { (y, x) };
    if first.1 > second.0 || first == second {
        return;
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first.0]);
    out.extend_from_slice(&bytes[second.0..second.1]);
    out.extend_from_slice(&bytes[first.1..second.0]);
    out.extend_from_slice(&bytes[first.0..first.1]);
    out.extend_from_slice(&bytes[second.1..]);
    *bytes = out;
}

/// Mutated seeds: a seed and 1 to 16 edits.
fn mutated(seeds: Arc<Vec<Vec<u8>>>, dict: &'static [&'static [u8]]) -> BoxedStrategy<Vec<u8>> {
    (any::<Index>(), proptest::collection::vec(edit(), 1..16))
        .prop_map(move |(which, edits)| {
            let mut bytes = seeds[which.index(seeds.len())].clone();
            for e in &edits {
                apply(&mut bytes, e, &seeds, dict);
            }
            bytes
        })
        .boxed()
}

/// Checks that each diagnostic's position is inside `text`, and that it renders.
fn positions_inside(text: &str, diags: &[Diagnostic]) -> Result<(), String> {
    let lines: Vec<&str> = text.split('\n').collect();
    for d in diags {
        let _ = d.to_string();
        let Some(loc) = &d.location else { continue };
        let Some(raw) = loc.line.checked_sub(1).and_then(|i| lines.get(i)) else {
            return Err(format!(
                "line {} is outside the input's {} lines: {}",
                loc.line,
                lines.len(),
                d.message
            ));
        };
        if loc.column == 0 || loc.column > raw.chars().count() + 1 {
            return Err(format!(
                "column {} is outside line {} ({} characters): {}",
                loc.column,
                loc.line,
                raw.chars().count(),
                d.message
            ));
        }
        if loc.line_text != raw.trim_end_matches('\r') {
            return Err(format!(
                "line {}'s text is {:?}, not the input's {:?}",
                loc.line, loc.line_text, raw
            ));
        }
    }
    Ok(())
}

/// A deadline that leaves room for a debug build on a busy machine.
fn deadline(release: Duration) -> Duration {
    if cfg!(debug_assertions) {
        release * 10
    } else {
        release
    }
}

// ---------------------------------------------------------------------------------------
// Target 1: the DAG file parser and validator.

const TOML_DICT: &[&[u8]] = &[
    b"[",
    b"]",
    b"[[",
    b"]]",
    b"{",
    b"}",
    b"=",
    b"\"",
    b"'",
    b"\"\"\"",
    b"'''",
    b"\n",
    b",",
    b".",
    b"#",
    b"\\",
    b"\\u",
    b"\r\n",
    b"\t",
    b" = ",
    b"true",
    b"false",
    b"-0",
    b"0x_1",
    b"1e999",
    b"-inf",
    b"nan",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"1979-05-27T07:32:00Z",
    b"2026-02-30",
    b"00:00:60",
    b"\"\\u0000\"",
    b"\xc3\xa9",
    b"\xf0\x9f\x92\xa9",
    b"\xff",
    b"[tasks.",
    b"[default_args]",
    b"[lithops_config]",
    b"type",
    b"upstream",
    b"data_from_task",
    b"iterdata_from_task",
    b"map_iterdata",
    b"func",
    b"map_function",
    b"reduce_function",
    b"schedule",
    b"start_date",
    b"end_date",
    b"retries",
    b"retry_delay",
    b"execution_timeout",
    b"trigger_rule",
    b"chunk_n",
    b"chunk_size",
    b"obj",
    b"\"call_async\"",
    b"\"map\"",
    b"\"map_reduce\"",
    b"\"python\"",
    b"\"bash\"",
    b"\"branch\"",
    b"\"empty\"",
    b"\"@daily\"",
    b"\"*/0 * * * *\"",
    b"\"0 0 31 2 *\"",
    b"\"1h30m\"",
    b"\"-5s\"",
    b"\"18446744073709551616s\"",
    b"[\"t0\", \"t0\"]",
    b"{ a = { b = { c = [] } } }",
    b"dag_id",
    b"timezone",
    b"\"Mars/Olympus\"",
    b"version",
    b"catchup",
    b"max_active_runs",
];

#[test]
fn fuzz_dag_parser() {
    let seeds = Arc::new(corpus(
        "dag",
        &[("dags", ".toml"), ("tests/fixtures/invalid", ".toml")],
    ));
    let check: Check<Vec<u8>> = Arc::new(|bytes: &Vec<u8>| {
        let text = String::from_utf8_lossy(bytes);
        let (_dag, diags) = parse_dag(Path::new("fuzz.toml"), &text);
        positions_inside(&text, &diags)
    });
    let stats = Run {
        name: "dag",
        seeds: seeds.to_vec(),
        strategy: mutated(Arc::clone(&seeds), TOML_DICT),
        deadline: deadline(Duration::from_secs(2)),
        check,
        save: Vec::clone,
    }
    .go();
    assert_clean(&stats);
}

// ---------------------------------------------------------------------------------------
// Target 2: the runtime protocol as the executor decodes it (frames from a local worker,
// a local worker's stderr, Lambda replies).

const JSON_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\"",
    b"\\",
    b"\\u",
    b"\"\\ud800\"",
    b"null",
    b"true",
    b"false",
    b"-0",
    b"1e400",
    b"-1",
    b"18446744073709551616",
    b"0.5",
    b"\"type\"",
    b"\"result\"",
    b"\"hello\"",
    b"\"inspected\"",
    b"\"invoked\"",
    b"\"ok\"",
    b"\"error\"",
    b"\"kind\"",
    b"\"message\"",
    b"\"traceback\"",
    b"\"timeout\"",
    b"\"cancelled\"",
    b"\"input\"",
    b"\"offloaded\"",
    b"{\"key\":\"k\"}",
    b"\"errorType\"",
    b"\"errorMessage\"",
    b"\"stackTrace\"",
    b"\"params\"",
    b"\"call_id\"",
    b"\"stdout\"",
    b"\"stderr\"",
    b"\"duration_s\"",
    b"\"restart\"",
    b"\"executable\"",
    b"\xff",
    b"\x1e\x1flithoflow-call-end:",
    b"\x1e\x1flithoflow-call-end:00001\n",
    b"\n",
    b"\x00\x00\x00\x02{}",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x20\x00\x00\x00",
];

/// Reads every frame of `stream` as a local worker's pipe would deliver it, decoding each.
fn read_all_frames(stream: &[u8]) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("cannot build a runtime: {e}"))?;
    runtime.block_on(async {
        let mut r = stream;
        let mut frames = 0usize;
        loop {
            let before = r.len();
            match lithoflow_executor::protocol::read_frame(&mut r).await {
                Ok(body) => {
                    frames += 1;
                    if r.len() + body.len() + 4 != before {
                        return Err(format!(
                            "frame {frames} consumed {} bytes for a {}-byte body",
                            before - r.len(),
                            body.len()
                        ));
                    }
                    let _ = lithoflow_executor::protocol::decode(&body);
                }
                Err(_) => return Ok(()),
            }
        }
    })
}

/// Splits `bytes` into chunks at the given cut points.
fn chunks(bytes: &[u8], cuts: &[Index]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in at {
        out.push(bytes[prev..c].to_vec());
        prev = c;
    }
    out.push(bytes[prev..].to_vec());
    out
}

fn protocol_case(input: &(Vec<u8>, Vec<Index>)) -> Result<(), String> {
    let (bytes, cuts) = input;
    // The body as a frame on its own, as a Lambda reply, and the raw bytes as a stream.
    let _ = lithoflow_executor::protocol::decode(bytes);
    let _ = lithoflow_executor::aws::lambda::fuzz_decode_reply(bytes);
    let mut framed = u32::try_from(bytes.len())
        .map_err(|_| "input over 4 GiB".to_owned())?
        .to_be_bytes()
        .to_vec();
    framed.extend_from_slice(bytes);
    read_all_frames(&framed)?;
    read_all_frames(bytes)?;
    // A worker's stderr: how the pipe cuts it must not change what each call gets.
    let whole = lithoflow_executor::fuzz_split_stderr(&[bytes]);
    let pieces = chunks(bytes, cuts);
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let cut = lithoflow_executor::fuzz_split_stderr(&refs);
    // (Below twice the worker's 64 KiB tail, where nothing is cut off yet.)
    if bytes.len() < 128 * 1024 && whole != cut {
        return Err(format!(
            "stderr split depends on the chunking: {whole:?} vs {cut:?}"
        ));
    }
    Ok(())
}

#[test]
fn fuzz_protocol_decoder() {
    let seeds = Arc::new(corpus("protocol", &[]));
    let no_cuts = |b: &Vec<u8>| (b.clone(), Vec::new());
    let check: Check<(Vec<u8>, Vec<Index>)> = Arc::new(protocol_case);
    let stats = Run {
        name: "protocol",
        seeds: seeds.iter().map(no_cuts).collect(),
        strategy: (
            mutated(Arc::clone(&seeds), JSON_DICT),
            proptest::collection::vec(any::<Index>(), 0..6),
        )
            .boxed(),
        deadline: deadline(Duration::from_secs(2)),
        check,
        save: |(bytes, _)| bytes.clone(),
    }
    .go();
    assert_clean(&stats);
}

// ---------------------------------------------------------------------------------------
// Target 3: the object partitioner.

/// An in-memory remote object for `split_async`.
struct Remote(Vec<u8>);

impl AsyncObjectSource for Remote {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    async fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let end = start.saturating_add(len).min(self.0.len());
        Ok(self.0[start..end].to_vec())
    }
}

/// Object contents; `scale` 1 in the short run, 10 in a long one (big objects are slow in
/// a debug build).
fn object(scale: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![4 => Just(b'\n'), 8 => Just(b'a'), 1 => Just(b'\r'), 2 => any::<u8>()];
    prop_oneof![
        6 => proptest::collection::vec(byte.clone(), 0..400),
        2 => proptest::collection::vec(byte, 0..2_000 * scale),
        // Long lines: few newlines in a big object.
        1 => (0usize..30_000 * scale, proptest::collection::vec(any::<Index>(), 0..4)).prop_map(|(n, nl)| {
            let mut v = vec![b'x'; n];
            for i in nl {
                if n > 0 {
                    v[i.index(n)] = b'\n';
                }
            }
            v
        }),
    ]
}

fn chunking() -> impl Strategy<Value = Chunking> {
    prop_oneof![
        1 => Just(Chunking::Whole),
        4 => (0u64..64).prop_map(Chunking::Size),
        2 => (0u64..100_000).prop_map(Chunking::Size),
        1 => Just(Chunking::Size(u64::MAX)),
        4 => (0u64..64).prop_map(Chunking::Count),
        1 => (0u64..4096).prop_map(Chunking::Count),
        // Over the limit: an error, never an allocation without bound.
        1 => (partition::MAX_PARTS - 2..u64::MAX).prop_map(Chunking::Count),
        1 => prop_oneof![Just(u64::MAX), Just(1_000_000_000_000)].prop_map(Chunking::Count),
    ]
}

fn partition_case(input: &(Vec<u8>, Chunking)) -> Result<(), String> {
    let (data, chunking) = input;
    let size = data.len() as u64;
    let parts = match chunking {
        Chunking::Whole => 1,
        Chunking::Size(cs) => size.div_ceil((*cs).max(1)),
        Chunking::Count(n) => (*n).max(1),
    };
    let ranges = match partition::split(&data[..], *chunking) {
        Err(e) if parts > partition::MAX_PARTS && e.kind() == std::io::ErrorKind::InvalidInput => {
            return Ok(());
        }
        Err(e) => return Err(format!("split: {e}")),
        Ok(_) if parts > partition::MAX_PARTS => {
            return Err(format!("{parts} parts are over the limit but were made"));
        }
        Ok(ranges) => ranges,
    };
    // Contiguous from 0 to the end, in bounds: the parts concatenate to the object.
    if ranges.first().map(|r| r.0) != Some(0) || ranges.last().map(|r| r.1) != Some(size) {
        return Err(format!("ranges do not span the object: {ranges:?}"));
    }
    for w in ranges.windows(2) {
        if w[0].1 != w[1].0 {
            return Err(format!("ranges are not contiguous: {ranges:?}"));
        }
    }
    for &(a, b) in &ranges {
        if a > b || b > size {
            return Err(format!("range {a}..{b} is out of bounds (size {size})"));
        }
    }
    // Every line is whole in the part it starts in, so no line is lost, cut or repeated.
    let mut line_start = 0usize;
    let mut part = 0usize;
    for (i, &c) in data.iter().enumerate() {
        if i == line_start {
            while ranges[part].1 as usize <= i {
                part += 1;
            }
        }
        if c == b'\n' || i + 1 == data.len() {
            if (ranges[part].1 as usize) < i + 1 {
                return Err(format!(
                    "line {line_start}..{} is cut by part {part} {:?}",
                    i + 1,
                    ranges[part]
                ));
            }
            line_start = i + 1;
        }
    }
    match chunking {
        Chunking::Whole if ranges.len() != 1 => Err(format!("whole gave {} parts", ranges.len())),
        Chunking::Count(n) if ranges.len() as u64 != (*n).max(1) => {
            Err(format!("chunk_n {n} gave {} parts", ranges.len()))
        }
        _ => {
            // The remote splitter reads only around boundaries and must agree.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| format!("cannot build a runtime: {e}"))?;
            let remote = runtime
                .block_on(partition::split_async(&Remote(data.clone()), *chunking))
                .map_err(|e| format!("split_async: {e}"))?;
            if remote != ranges {
                return Err(format!("split_async {remote:?} != split {ranges:?}"));
            }
            Ok(())
        }
    }
}

#[test]
fn fuzz_partitioner() {
    let check: Check<(Vec<u8>, Chunking)> = Arc::new(partition_case);
    let mut seeds: Vec<(Vec<u8>, Chunking)> = Vec::new();
    for data in corpus("partition", &[("dags", ".py")]) {
        for c in [
            Chunking::Whole,
            Chunking::Size(1),
            Chunking::Size(7),
            Chunking::Count(3),
            Chunking::Count(0),
            // Regressions: these aborted the process (an allocation of terabytes).
            Chunking::Count(1_000_000_000_000),
            Chunking::Count(u64::MAX),
        ] {
            seeds.push((data.clone(), c));
        }
    }
    let stats = Run {
        name: "partition",
        seeds,
        strategy: (
            object(match budget() {
                Budget::Cases(_) => 1,
                Budget::Time(_) => 10,
            }),
            chunking(),
        )
            .boxed(),
        deadline: deadline(Duration::from_secs(5)),
        check,
        save: |(bytes, _)| bytes.clone(),
    }
    .go();
    assert_clean(&stats);
}

// ---------------------------------------------------------------------------------------
// Target 4: the migrate parser (Airflow DAG files to TOML).

const PY_DICT: &[&[u8]] = &[
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b",",
    b".",
    b"=",
    b"*",
    b"**",
    b">>",
    b"<<",
    b"\n",
    b"\n    ",
    b"\t",
    b"\\\n",
    b"#",
    b"\"",
    b"'",
    b"\"\"\"",
    b"f\"{",
    b"}\"",
    b"\xff",
    b"\xc3\xa9",
    b"lambda: ",
    b"def f(*a, **k):\n    return f(*a, **k)\n",
    b"@task\n",
    b"@dag()\n",
    b"with DAG(\"d\") as dag:\n    ",
    b"for i in range(10**9):\n    x = i\n",
    b"while True:\n    pass\n",
    b"[x for x in range(10**6) for y in range(10**6)]",
    b"\"a\" * 10**12",
    b"[1] * 10**12",
    b"9**9**9",
    b"10**10**10",
    b"2 << 10**9",
    b"import ",
    b"from airflow import DAG\n",
    b"from airflow.decorators import dag, task\n",
    b"return ",
    b"yield ",
    b"await ",
    b"async ",
    b"if ",
    b"else",
    b"elif ",
    b"not ",
    b" and ",
    b" or ",
    b" in ",
    b" is ",
    b"None",
    b"True",
    b"-1",
    b"1e309",
    b"0x",
    b"default_args",
    b"schedule",
    b"start_date",
    b"task_id",
    b"python_callable",
    b"op_kwargs",
    b"BashOperator",
    b"PythonOperator",
    b"chain(",
    b"cross_downstream(",
    b".expand(",
    b".partial(",
    b"days_ago(",
    b"timedelta(",
    b"datetime(",
    b"globals()",
    b"x = x\n",
    b"def g():\n    return g()\n",
    b"g()",
    b"{**",
    b"*[",
];

#[test]
fn fuzz_migrate_parser() {
    let seeds = Arc::new(corpus("migrate", &[("tests/fixtures/airflow", ".py")]));
    let check: Check<Vec<u8>> = Arc::new(|bytes: &Vec<u8>| {
        let text = String::from_utf8_lossy(bytes);
        let opts = ConvertOptions {
            // Both versions' defaults, by input.
            airflow_version: if bytes.len().is_multiple_of(2) {
                AirflowVersion::V2
            } else {
                AirflowVersion::V3
            },
            now: chrono::DateTime::<chrono::Utc>::from_timestamp(1_780_000_000, 0)
                .ok_or_else(|| "a valid timestamp".to_owned())?,
        };
        // A path in the fixtures, so the function modules next to it are found.
        let path = crate::repo_root()
            .join("tests/fixtures/airflow")
            .join("fuzz_dag.py");
        let conv = convert_file(&path, &text, &opts);
        for d in &conv.diagnostics {
            if d.message.contains("an internal error") {
                return Err(format!("the converter panicked: {}", d.message));
            }
        }
        // Diagnostics about the function modules next to it are positions in those.
        let own: Vec<Diagnostic> = conv
            .diagnostics
            .iter()
            .filter(|d| d.path == path)
            .cloned()
            .collect();
        positions_inside(&text, &own)?;
        let mut rendered = String::new();
        for dag in &conv.dags {
            let _ = writeln!(rendered, "{}", dag.toml);
        }
        Ok(())
    });
    let stats = Run {
        name: "migrate",
        seeds: seeds.to_vec(),
        strategy: mutated(Arc::clone(&seeds), PY_DICT),
        deadline: deadline(Duration::from_secs(10)),
        check,
        save: Vec::clone,
    }
    .go();
    assert_clean(&stats);
}
