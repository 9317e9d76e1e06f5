//! The executor with real Python: argument binding, ordering, failures of every kind,
//! fail-fast maps, concurrency bounds, environment and output capture, object
//! processing, progress, and `lithoflow tasks test` on the example DAGs.
//!
//! Each test starts its own `FunctionExecutor` with warm `python3` workers; the functions
//! live in `tests/fixtures/python/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lithoflow_executor::{
    CallError, CallErrorKind, CallOptions, Chunking, ExecutorSettings, Extra, FunctionExecutor,
    FunctionRef, JobOutcome, MapJob, Progress,
};
use serde_json::{Map, Value, json};
use tempfile::TempDir;

use crate::{lithoflow, repo_root};

/// The folder of the Python modules the tests call.
fn python_dir() -> PathBuf {
    repo_root().join("tests/fixtures/python")
}

/// The fixture module `fns.py`.
fn fns_py() -> PathBuf {
    python_dir().join("fns.py")
}

/// The 1-based line of `file` that contains `needle` (exactly one must).
fn line_of(file: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).expect("readable fixture");
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{needle:?} must occur once in {}",
        file.display()
    );
    lines[0]
}

/// An executor over a fresh temporary storage, plus scratch space for the test.
struct Setup {
    exec: FunctionExecutor,
    tmp: TempDir,
}

impl Setup {
    fn with(workers: usize, invoke_pool_threads: usize) -> Setup {
        let tmp = tempfile::tempdir().expect("temp dir");
        let exec = FunctionExecutor::new(ExecutorSettings {
            python: "python3".into(),
            worker_processes: workers,
            storage_root: tmp.path().join("storage"),
            // Long enough for any call here, short enough that a hang fails the test.
            default_timeout: Duration::from_secs(60),
            default_memory: None,
            invoke_pool_threads,
        });
        Setup { exec, tmp }
    }

    fn new() -> Setup {
        Setup::with(2, 500)
    }

    /// A fresh folder under the test's temp dir.
    fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    }

    async fn call(&self, func: &str, data: Value, options: CallOptions) -> Arc<JobOutcome> {
        self.call_in(fns(func), data, options).await
    }

    /// One `call_async` of any function, waited for.
    async fn call_in(&self, f: FunctionRef, data: Value, options: CallOptions) -> Arc<JobOutcome> {
        self.exec
            .call_async("tests/call", f, data, options)
            .wait()
            .await
    }

    async fn map(
        &self,
        func: &str,
        iterdata: Vec<Value>,
        extra: Option<Extra>,
        options: CallOptions,
    ) -> Arc<JobOutcome> {
        self.map_chunked(func, iterdata, extra, Chunking::Whole, options)
            .await
    }

    async fn map_chunked(
        &self,
        func: &str,
        iterdata: Vec<Value>,
        extra: Option<Extra>,
        chunking: Chunking,
        options: CallOptions,
    ) -> Arc<JobOutcome> {
        let map = MapJob {
            func: fns(func),
            iterdata,
            extra,
            chunking,
        };
        self.exec.map("tests/map", map, options).wait().await
    }

    async fn map_reduce(
        &self,
        map: MapJob,
        reduce: &str,
        one_per_object: bool,
        options: CallOptions,
    ) -> Arc<JobOutcome> {
        let job = self.exec.map_reduce(
            "tests/map_reduce",
            map,
            fns(reduce),
            one_per_object,
            options,
        );
        self.exec.wait(&job).await
    }

    /// A failure never takes the executor down: a plain call still works afterwards.
    async fn assert_still_works(&self) {
        let out = self.call("add", json!({"x": 2, "y": 3}), options()).await;
        assert_eq!(out.result, Ok(json!(5)), "the executor still runs calls");
    }

    /// Waits until both workers are up and idle: two calls that wait for each other can
    /// only finish on two different workers.
    async fn warm_up(&self) {
        let dir = self.scratch("warm_up");
        let folder = dir.to_string_lossy();
        let iterdata = (0..2)
            .map(|i| json!({"i": i, "folder": folder, "n": 2}))
            .collect();
        let out = self.map("barrier", iterdata, None, options()).await;
        let pids = results(&out);
        assert_eq!(pids.len(), 2, "{:?}", out.result);
        assert_ne!(pids[0], pids[1], "both workers took a call");
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.exec.shutdown();
    }
}

fn fns(function: &str) -> FunctionRef {
    func("fns", function)
}

fn func(module: &str, function: &str) -> FunctionRef {
    FunctionRef {
        module: module.to_owned(),
        function: function.to_owned(),
    }
}

fn options() -> CallOptions {
    CallOptions {
        sys_path: vec![python_dir()],
        base_dir: python_dir(),
        ..CallOptions::default()
    }
}

fn env_map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("a JSON object")
}

fn error(outcome: &JobOutcome) -> &CallError {
    match &outcome.result {
        Ok(v) => panic!("expected the job to fail, it returned {v}"),
        Err(e) => e,
    }
}

/// Each call's value: a map's are moved from its records into the job's result once
/// its `results.json` is written; any other job's stay in its records.
fn results(outcome: &JobOutcome) -> Vec<Value> {
    match &outcome.result {
        Ok(Value::Array(values)) if outcome.calls.iter().all(|c| c.phase == "map") => {
            assert!(
                outcome.calls.iter().all(|c| c.result.is_null()),
                "a map's records keep no copy of its results"
            );
            assert_eq!(values.len(), outcome.calls.len());
            values.clone()
        }
        _ => outcome.calls.iter().map(|c| c.result.clone()).collect(),
    }
}

/// Whether a process is still alive (a reaped process has no /proc entry).
fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid.trim()).exists()
}

// ---------------------------------------------------------------------------------------
// 1. Binding and ordering
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_async_binds_a_table_as_keywords_and_anything_else_as_one_positional_argument() {
    let s = Setup::new();
    let out = s.call("add", json!({"x": 1, "y": 3}), options()).await;
    assert_eq!(out.result, Ok(json!(4)));
    assert_eq!(out.calls.len(), 1);
    let first = out.calls.get(0).expect("one record");
    assert_eq!(first.index, 0);
    assert_eq!(first.result, &json!(4));
    assert!(first.error.is_none());

    for (data, args) in [
        (json!(5), json!([5])),
        (json!("text"), json!(["text"])),
        (json!([1, 2]), json!([[1, 2]])),
        (json!(null), json!([null])),
    ] {
        let out = s.call("echo", data.clone(), options()).await;
        assert_eq!(
            out.result,
            Ok(json!({"args": args, "kwargs": {}})),
            "data {data} binds as one positional argument"
        );
    }
    let out = s
        .call("echo", json!({"a": [1], "b": {"c": 2}}), options())
        .await;
    assert_eq!(
        out.result,
        Ok(json!({"args": [], "kwargs": {"a": [1], "b": {"c": 2}}}))
    );
}

/// Four calls that sleep less the later they come: 0.75 s, 0.5 s, 0.25 s, 0 s.
fn inverse_sleeps() -> Vec<Value> {
    (0..4)
        .map(|x| json!({"x": x, "seconds": f64::from(3 - x) * 0.25}))
        .collect()
}

/// The values and end times of `sleepy` calls; asserts they finished out of order.
fn values_finishing_out_of_order(items: &[Value]) -> Vec<Value> {
    let ends: Vec<f64> = items
        .iter()
        .map(|v| v[1].as_f64().expect("end time"))
        .collect();
    assert!(
        ends.windows(2).any(|w| w[0] > w[1]),
        "some call finished before an earlier one: {ends:?}"
    );
    items.iter().map(|v| v[0].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_results_come_back_in_iterdata_order_when_calls_finish_out_of_order() {
    let s = Setup::new();
    s.warm_up().await;
    let out = s.map("sleepy", inverse_sleeps(), None, options()).await;
    let Ok(Value::Array(items)) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert_eq!(
        values_finishing_out_of_order(items),
        [json!(0), json!(10), json!(20), json!(30)]
    );
    let indexes: Vec<(&str, usize)> = out.calls.iter().map(|c| (c.phase, c.index)).collect();
    assert_eq!(indexes, [("map", 0), ("map", 1), ("map", 2), ("map", 3)]);
    assert_eq!(
        &results(&out),
        items,
        "each record holds its own call's value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_reduce_gives_the_reducer_the_map_results_in_iterdata_order() {
    let s = Setup::new();
    s.warm_up().await;
    let map = MapJob {
        func: fns("sleepy"),
        iterdata: inverse_sleeps(),
        extra: None,
        chunking: Chunking::Whole,
    };
    let out = s.map_reduce(map, "identity", false, options()).await;
    let Ok(Value::Array(items)) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert_eq!(
        values_finishing_out_of_order(items),
        [json!(0), json!(10), json!(20), json!(30)]
    );
    let phases: Vec<(&str, usize)> = out.calls.iter().map(|c| (c.phase, c.index)).collect();
    assert_eq!(
        phases,
        [
            ("map", 0),
            ("map", 1),
            ("map", 2),
            ("map", 3),
            ("reduce", 0)
        ]
    );
    let maps: Vec<Value> = out.calls.iter().take(4).map(|c| c.result.clone()).collect();
    assert_eq!(
        &maps, items,
        "the reducer got exactly the map results, in order"
    );

    // The seed's map_reduce example: add(x, y=1) over [1, 2, 3], then multiply.
    let map = MapJob {
        func: fns("add"),
        iterdata: vec![json!(1), json!(2), json!(3)],
        extra: Some(Extra::Keyword(env_map(json!({"y": 1})))),
        chunking: Chunking::Whole,
    };
    let out = s.map_reduce(map, "mult_array", false, options()).await;
    assert_eq!(out.result, Ok(json!(24)));
    assert_eq!(results(&out), [json!(2), json!(3), json!(4), json!(24)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_params_add_keyword_or_positional_arguments_to_every_call() {
    let s = Setup::new();
    let keyword = || Some(Extra::Keyword(env_map(json!({"y": 10}))));
    let positional = || Some(Extra::Positional(vec![json!(10)]));

    let out = s
        .map(
            "add",
            vec![json!(1), json!(2), json!(3)],
            keyword(),
            options(),
        )
        .await;
    assert_eq!(out.result, Ok(json!([11, 12, 13])));
    let out = s
        .map(
            "add",
            vec![json!(1), json!(2), json!(3)],
            positional(),
            options(),
        )
        .await;
    assert_eq!(out.result, Ok(json!([11, 12, 13])));

    let out = s
        .map(
            "echo",
            vec![json!(1), json!([1, 2]), json!({"a": 2})],
            keyword(),
            options(),
        )
        .await;
    assert_eq!(
        out.result,
        Ok(json!([
            {"args": [1], "kwargs": {"y": 10}},
            {"args": [[1, 2]], "kwargs": {"y": 10}},
            {"args": [], "kwargs": {"a": 2, "y": 10}},
        ]))
    );
    let out = s
        .map(
            "echo",
            vec![json!(1), json!([1, 2]), json!({"a": 2})],
            Some(Extra::Positional(vec![json!(7), json!("eight")])),
            options(),
        )
        .await;
    assert_eq!(
        out.result,
        Ok(json!([
            {"args": [1, 7, "eight"], "kwargs": {}},
            {"args": [[1, 2], 7, "eight"], "kwargs": {}},
            {"args": [7, "eight"], "kwargs": {"a": 2}},
        ]))
    );

    // An element and extra_params that both give `y` are refused before anything runs.
    let out = s
        .map(
            "add",
            vec![json!({"x": 1}), json!({"x": 1, "y": 2})],
            keyword(),
            options(),
        )
        .await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Input);
    assert_eq!(e.call_index, 1);
    assert_eq!(
        e.message,
        "argument `y` is given both by the element and by extra_params"
    );
    assert!(out.calls.is_empty(), "no call ran: {:?}", out.calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reserved_id_parameter_gets_the_call_index() {
    let s = Setup::new();
    // `with_id(id, x, y=0)`: a positional element binds to `x`, not to `id`.
    let out = s
        .map(
            "with_id",
            vec![json!(5), json!(6), json!(7)],
            None,
            options(),
        )
        .await;
    assert_eq!(
        out.result,
        Ok(json!([
            {"id": 0, "x": 5, "y": 0},
            {"id": 1, "x": 6, "y": 0},
            {"id": 2, "x": 7, "y": 0},
        ]))
    );
    let out = s
        .map(
            "with_id",
            vec![json!(5), json!(6)],
            Some(Extra::Positional(vec![json!(9)])),
            options(),
        )
        .await;
    assert_eq!(
        out.result,
        Ok(json!([{"id": 0, "x": 5, "y": 9}, {"id": 1, "x": 6, "y": 9}]))
    );
    let out = s
        .map(
            "with_id",
            vec![json!({"x": 1}), json!({"x": 2, "y": 3})],
            None,
            options(),
        )
        .await;
    assert_eq!(
        out.result,
        Ok(json!([{"id": 0, "x": 1, "y": 0}, {"id": 1, "x": 2, "y": 3}]))
    );
    let out = s.call("with_id", json!(4), options()).await;
    assert_eq!(out.result, Ok(json!({"id": 0, "x": 4, "y": 0})));
}

/// With an `id` parameter, a positional element and an extra keyword argument for the
/// same parameter conflict exactly as without one: a binding error, never a silently
/// dropped value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_parameter_does_not_hide_an_argument_given_twice() {
    let s = Setup::new();
    let twice = || Some(Extra::Keyword(env_map(json!({"x": 1}))));
    let out = s.map("add", vec![json!(5)], twice(), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Binding);
    assert_eq!(
        e.message,
        "cannot call add(x, y) with arguments [5] and keyword arguments [\"x\"]: multiple values for argument 'x'"
    );

    let out = s.map("with_id", vec![json!(5)], twice(), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Binding, "{:?}", out.result);
    assert!(
        e.message
            .starts_with("cannot call with_id(id, x, y=0) with arguments ")
            && e.message.ends_with(": multiple values for argument 'x'"),
        "{}",
        e.message
    );
}

// ---------------------------------------------------------------------------------------
// 2. Failures: the right kind, an actionable message, and the executor keeps working
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_comes_back_with_its_type_message_and_a_traceback_into_user_code() {
    let s = Setup::new();
    let out = s.call("raises", json!(7), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Exception);
    assert_eq!(e.call_index, 0);
    assert_eq!(e.exc_type, "ValueError");
    assert_eq!(e.message, "bad value: 7");
    let line = line_of(&fns_py(), "raise ValueError(\"bad value");
    let frame = format!("File \"{}\", line {line}, in raises", fns_py().display());
    assert!(
        e.traceback
            .starts_with("Traceback (most recent call last):\n"),
        "{}",
        e.traceback
    );
    assert!(e.traceback.contains(&frame), "{frame} in {}", e.traceback);
    assert!(
        e.traceback.ends_with("ValueError: bad value: 7\n"),
        "{}",
        e.traceback
    );
    for runtime in [
        "<string>",
        "lithoflow_start.py",
        "lithoflow_worker.py",
        "lithoflow_runtime.py",
    ] {
        assert!(
            !e.traceback.contains(runtime),
            "the runtime's own frames are left out: {}",
            e.traceback
        );
    }
    assert!(
        e.to_string()
            .starts_with("call 0 raised ValueError: bad value: 7\nTraceback"),
        "{e}"
    );
    assert_eq!(out.calls.len(), 1);
    assert_eq!(out.calls.get(0).expect("a record").error, Some(e));
    assert_eq!(out.calls.get(0).expect("a record").result, &Value::Null);
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_its_timeout_fails_and_its_worker_is_replaced() {
    let s = Setup::new();
    let dir = s.scratch("timeout");
    let opts = CallOptions {
        timeout: Some(Duration::from_secs(1)),
        ..options()
    };
    let started = Instant::now();
    let out = s
        .call(
            "sleep_and_record_pid",
            json!({"seconds": 30, "folder": dir}),
            opts.clone(),
        )
        .await;
    let took = started.elapsed();
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Timeout);
    assert_eq!(e.exc_type, "timeout");
    assert_eq!(
        e.message,
        "the call exceeded its timeout of 1s; its worker was killed and replaced"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "the call was stopped at its limit, after {took:?}"
    );
    let pid = std::fs::read_to_string(dir.join("pid")).expect("the call wrote its pid");
    assert!(!alive(&pid), "the timed-out worker {pid} was killed");
    // The replacement serves calls, with the same limit.
    let out = s
        .call(
            "sleep_and_record_pid",
            json!({"seconds": 0, "folder": dir}),
            opts,
        )
        .await;
    assert_eq!(out.result, Ok(json!(0)));
    let new_pid = std::fs::read_to_string(dir.join("pid")).expect("pid");
    assert_ne!(new_pid, pid);
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_its_memory_limit_fails_with_the_limit_named() {
    let s = Setup::new();
    let limited = CallOptions {
        runtime_memory: Some(100),
        ..options()
    };
    let out = s.call("allocate", json!({"mb": 20}), limited.clone()).await;
    assert_eq!(
        out.result,
        Ok(json!(20 * 1024 * 1024)),
        "20 MB fit in 100 MB"
    );

    let out = s.call("allocate", json!({"mb": 600}), limited).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Memory);
    assert_eq!(e.exc_type, "MemoryError");
    assert_eq!(
        e.message,
        "function exceeded its memory limit of 100 MB (runtime_memory)"
    );
    let line = line_of(&fns_py(), "block = bytearray(");
    assert!(
        e.traceback.contains(&format!("line {line}, in allocate")),
        "{}",
        e.traceback
    );

    // The limit belongs to the call: without one, 600 MB would fit; 200 MB surely does.
    let out = s.call("allocate", json!({"mb": 200}), options()).await;
    assert_eq!(out.result, Ok(json!(200 * 1024 * 1024)));
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_by_sigsegv_fails_only_its_call_with_the_signal_named() {
    let s = Setup::new();
    let out = s.call("die", json!("SIGSEGV"), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::WorkerDied);
    assert_eq!(e.exc_type, "worker_died");
    assert_eq!(
        e.message,
        "the worker process died during the call: killed by SIGSEGV"
    );
    // Python's fault handler dump, pointing at the user's line, is the traceback.
    let line = line_of(&fns_py(), "os.kill(os.getpid()");
    assert!(
        e.traceback
            .contains("Fatal Python error: Segmentation fault"),
        "{}",
        e.traceback
    );
    assert!(
        e.traceback
            .contains(&format!("{}\", line {line} in die", fns_py().display())),
        "{}",
        e.traceback
    );
    assert!(
        out.calls
            .get(0)
            .expect("a record")
            .stderr
            .contains("Segmentation fault")
    );
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_by_sigkill_fails_only_its_call_with_the_signal_named() {
    let s = Setup::new();
    let out = s.call("die", json!("SIGKILL"), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::WorkerDied);
    assert_eq!(
        e.message,
        "the worker process died during the call: killed by SIGKILL (something killed it; the kernel's out-of-memory killer does this when memory runs out)"
    );
    s.assert_still_works().await;
    // Both workers die in one map; the first failure ends it, and the pool recovers.
    let out = s
        .map(
            "die",
            vec![json!("SIGKILL"), json!("SIGKILL")],
            None,
            options(),
        )
        .await;
    assert_eq!(error(&out).kind, CallErrorKind::WorkerDied);
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_module_is_named_with_the_searched_sys_path() {
    let s = Setup::new();
    let out = s
        .call_in(func("lithoflow_no_such_module", "f"), json!({}), options())
        .await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::ModuleNotFound);
    assert_eq!(e.exc_type, "module_not_found");
    let prefix = format!(
        "module `lithoflow_no_such_module` not found; searched sys.path: [\"{}\", ",
        python_dir().display()
    );
    assert!(e.message.starts_with(&prefix), "{}", e.message);
    assert!(e.message.ends_with(']'), "{}", e.message);
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_function_is_named_with_its_module_file() {
    let s = Setup::new();
    let out = s.call("no_such_function", json!({}), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::FunctionNotFound);
    assert_eq!(e.exc_type, "function_not_found");
    assert_eq!(
        e.message,
        format!(
            "module `fns` ({}) has no function `no_such_function`",
            fns_py().display()
        )
    );
    // `fns.os` exists but is a module, not a function.
    let out = s.call("os", json!({}), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::FunctionNotFound);
    assert_eq!(
        e.message,
        format!(
            "module `fns` ({}) has a non-callable attribute `os`",
            fns_py().display()
        )
    );
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_json_cannot_hold_fails_with_its_type_named() {
    let s = Setup::new();
    let out = s.call("returns_set", json!({}), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::NotJson);
    assert_eq!(e.exc_type, "not_json");
    assert_eq!(
        e.message,
        "the function returned a value of type `set` that JSON cannot hold: Object of type set is not JSON serializable"
    );
    let out = s.call("nan", json!({}), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::NotJson);
    assert_eq!(
        e.message,
        "the function returned a value of type `float` that JSON cannot hold: Out of range float values are not JSON compliant"
    );
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_fails_to_import_is_an_import_error_with_its_traceback() {
    let s = Setup::new();
    let out = s
        .call_in(func("broken_import", "f"), json!({}), options())
        .await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::ImportError);
    assert_eq!(e.exc_type, "RuntimeError");
    assert_eq!(
        e.message,
        "importing module `broken_import` failed: RuntimeError: this module refuses to import"
    );
    let file = python_dir().join("broken_import.py");
    let line = line_of(&file, "raise RuntimeError");
    assert!(
        e.traceback.contains(&format!(
            "File \"{}\", line {line}, in <module>",
            file.display()
        )),
        "{}",
        e.traceback
    );

    // A module that is found but whose own dependency is missing is an import error too,
    // not "module not found".
    let out = s
        .call_in(func("needs_missing", "f"), json!({}), options())
        .await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::ImportError);
    assert_eq!(e.exc_type, "ModuleNotFoundError");
    assert_eq!(
        e.message,
        "importing module `needs_missing` failed: ModuleNotFoundError: No module named 'lithoflow_no_such_dependency'"
    );
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_that_do_not_fit_the_signature_are_a_binding_error() {
    let s = Setup::new();
    let out = s.call("add", json!({"x": 1}), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Binding);
    assert_eq!(e.exc_type, "binding");
    assert_eq!(
        e.message,
        "cannot call add(x, y) with arguments [] and keyword arguments [\"x\"]: missing a required argument: 'y'"
    );
    let out = s
        .call("add", json!({"x": 1, "y": 2, "z": 3}), options())
        .await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Binding);
    assert_eq!(
        e.message,
        "cannot call add(x, y) with arguments [] and keyword arguments [\"x\", \"y\", \"z\"]: got an unexpected keyword argument 'z'"
    );
    // An array is one argument, so add([1, 2]) misses `y`.
    let out = s.call("add", json!([1, 2]), options()).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Binding);
    assert_eq!(
        e.message,
        "cannot call add(x, y) with arguments [[1, 2]] and keyword arguments []: missing a required argument: 'y'"
    );
    s.assert_still_works().await;
}

// ---------------------------------------------------------------------------------------
// 3. A failed call fails the map and stops the rest
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_fails_the_map_and_stops_the_calls_still_running() {
    let s = Setup::new();
    s.warm_up().await;
    let dir = s.scratch("fail_fast");
    let folder = dir.to_string_lossy();
    let iterdata: Vec<Value> = (0..6).map(|i| json!({"i": i, "folder": folder})).collect();
    let started = Instant::now();
    let job = s.exec.map(
        "tests/fail_fast",
        MapJob {
            func: fns("fail_fast"),
            iterdata,
            extra: None,
            chunking: Chunking::Whole,
        },
        options(),
    );
    let out = job.wait().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the job ended soon after the failure, not after the 30 s sleeps: {took:?}"
    );
    let e = error(&out);
    assert_eq!(
        (
            e.call_index,
            e.kind,
            e.exc_type.as_str(),
            e.message.as_str()
        ),
        (2, CallErrorKind::Exception, "ValueError", "call 2 fails")
    );
    // Calls 0 and 1 had finished and keep their results; 2 failed; the others were
    // stopped while running or before they started.
    assert_eq!(out.calls.len(), 6);
    assert_eq!(results(&out)[..2], [json!(0), json!(10)]);
    assert!(
        out.calls.get(0).expect("a record").error.is_none()
            && out.calls.get(1).expect("a record").error.is_none()
    );
    assert_eq!(out.calls.get(2).expect("a record").error, Some(e));
    for c in out.calls.iter().skip(3) {
        let err = c.error.expect("a stopped call has an error");
        assert_eq!(err.kind, CallErrorKind::Cancelled, "call {}", c.index);
        assert_eq!(err.call_index, c.index);
        assert!(
            [
                "the call was cancelled before it finished",
                "the call was not started because another call failed or the job was cancelled"
            ]
            .contains(&err.message.as_str()),
            "{}",
            err.message
        );
        assert_eq!(c.result, &Value::Null);
    }
    assert_eq!(
        *job.progress().borrow(),
        Progress {
            phase: "map",
            total: 6,
            invoked: 6,
            running: 0,
            done: 2,
            failed: 4,
            job_calls: 6,
        }
    );
    // While call 2 slept, the other worker started a later call; every call that started
    // had its worker killed, so none can ever write its marker.
    let mut started_pids = Vec::new();
    for i in 3..6 {
        if let Ok(pid) = std::fs::read_to_string(dir.join(format!("started-{i}"))) {
            assert!(
                !alive(&pid),
                "the worker running call {i} ({pid}) was killed"
            );
            started_pids.push(pid);
        }
    }
    assert!(
        !started_pids.is_empty(),
        "a later call was running when call 2 failed"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let finished: Vec<String> = std::fs::read_dir(&dir)
        .expect("scratch")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("finished-"))
        .collect();
    assert!(finished.is_empty(), "stopped calls finished: {finished:?}");
    s.assert_still_works().await;
}

// ---------------------------------------------------------------------------------------
// 4. invoke_pool_threads bounds the calls in flight
// ---------------------------------------------------------------------------------------

/// The most calls running at one moment, from their [start, end] spans.
fn max_overlap(spans: &[(f64, f64)]) -> usize {
    let mut events: Vec<(f64, i32)> = spans.iter().flat_map(|&(a, b)| [(a, 1), (b, -1)]).collect();
    // At equal times, an end comes before a start.
    events.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

fn spans(out: &JobOutcome) -> Vec<(f64, f64)> {
    match &out.result {
        Ok(Value::Array(items)) => items
            .iter()
            .map(|v| {
                let start = v[0].as_f64().expect("start time");
                let end = v[1].as_f64().expect("end time");
                (start, end)
            })
            .collect(),
        other => panic!("expected a list of spans, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_pool_threads_bounds_the_calls_in_flight() {
    // Four workers could run four calls at once; the setting allows one.
    let s = Setup::with(4, 1);
    let iterdata: Vec<Value> = (0..5).map(|i| json!({"i": i, "seconds": 0.2})).collect();
    let out = s.map("span", iterdata.clone(), None, options()).await;
    let one = spans(&out);
    assert_eq!(one.len(), 5);
    for w in one.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "with invoke_pool_threads = 1 calls run one after another: {one:?}"
        );
    }
    assert_eq!(max_overlap(&one), 1);

    // A job's own setting wins over the executor's.
    let opts = CallOptions {
        invoke_pool_threads: Some(2),
        ..options()
    };
    let iterdata: Vec<Value> = (0..6).map(|i| json!({"i": i, "seconds": 0.3})).collect();
    let out = s.map("span", iterdata, None, opts).await;
    let two = spans(&out);
    assert_eq!(two.len(), 6);
    assert_eq!(
        max_overlap(&two),
        2,
        "with invoke_pool_threads = 2 exactly two calls overlap: {two:?}"
    );
}

/// Long calls of one map are spread over the workers, never batched onto one: a worker
/// batches only once it has seen calls shorter than 2 ms on average.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_calls_of_one_map_run_on_different_workers() {
    let s = Setup::new();
    // Both workers take a call that lasts 0.3 s more once both have arrived; the map is
    // submitted meanwhile, so all its calls wait in the queue when the workers free up.
    let dir = s.scratch("busy");
    let folder = dir.to_string_lossy();
    let busy = s.exec.map(
        "tests/busy",
        MapJob {
            func: fns("barrier"),
            iterdata: (0..2)
                .map(|i| json!({"i": i, "folder": folder, "n": 2, "linger": 0.3}))
                .collect(),
            extra: None,
            chunking: Chunking::Whole,
        },
        options(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(dir.join("arrived-0").exists() && dir.join("arrived-1").exists()) {
        assert!(Instant::now() < deadline, "both workers took a call");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let map = MapJob {
        func: fns("sleep_pid"),
        iterdata: [2, 2, 0, 0]
            .iter()
            .map(|seconds| json!({"seconds": seconds}))
            .collect(),
        extra: None,
        chunking: Chunking::Whole,
    };
    let job = s.exec.map("tests/long", map, options());
    let busy_pids = results(&*busy.wait().await);
    assert_eq!(busy_pids.len(), 2);
    assert_ne!(busy_pids[0], busy_pids[1], "both workers were busy");
    let out = job.wait().await;
    let pids = results(&out);
    assert_eq!(pids.len(), 4, "{:?}", out.result);
    assert!(pids.iter().all(|p| busy_pids.contains(p)), "{pids:?}");
    assert_ne!(
        pids[0], pids[1],
        "the two 2-second calls ran on different workers: {pids:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Environment and output
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_env_is_applied_during_the_call_and_restored_afterwards() {
    // One worker, so the later calls run in the very process the earlier ones changed.
    let s = Setup::with(1, 500);
    let with_env = |env: Value| CallOptions {
        extra_env: env_map(env),
        ..options()
    };
    let out = s
        .call(
            "env",
            json!("LITHOFLOW_TEST_VAR"),
            with_env(json!({"LITHOFLOW_TEST_VAR": "set by extra_env", "LITHOFLOW_N": 5})),
        )
        .await;
    assert_eq!(out.result, Ok(json!("set by extra_env")));
    let out = s
        .call(
            "env",
            json!("LITHOFLOW_N"),
            with_env(json!({"LITHOFLOW_N": 5})),
        )
        .await;
    assert_eq!(out.result, Ok(json!("5")), "numbers become their text");
    let out = s.call("env", json!("LITHOFLOW_TEST_VAR"), options()).await;
    assert_eq!(
        out.result,
        Ok(Value::Null),
        "a variable that was unset is removed"
    );

    // A variable the worker already had is overridden, then restored.
    let out = s
        .call(
            "env",
            json!("PYTHONUNBUFFERED"),
            with_env(json!({"PYTHONUNBUFFERED": "overridden"})),
        )
        .await;
    assert_eq!(out.result, Ok(json!("overridden")));
    let out = s.call("env", json!("PYTHONUNBUFFERED"), options()).await;
    assert_eq!(out.result, Ok(json!("1")));

    // In a map, every call sees it.
    let out = s
        .map(
            "env",
            vec![json!("LITHOFLOW_TEST_VAR"); 3],
            None,
            with_env(json!({"LITHOFLOW_TEST_VAR": "mapped"})),
        )
        .await;
    assert_eq!(out.result, Ok(json!(["mapped", "mapped", "mapped"])));
    let out = s.call("env", json!("LITHOFLOW_TEST_VAR"), options()).await;
    assert_eq!(out.result, Ok(Value::Null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_are_captured_per_call() {
    let s = Setup::new();
    let out = s
        .map("talk", (0..6).map(|i| json!(i)).collect(), None, options())
        .await;
    assert_eq!(out.result, Ok(json!([0, 1, 2, 3, 4, 5])));
    for c in &out.calls {
        assert_eq!(c.stdout, format!("stdout of call {}\n", c.index));
        assert_eq!(c.stderr, format!("stderr of call {}\n", c.index));
    }
    let out = s.call("talk", json!(9), options()).await;
    assert_eq!(
        out.calls.get(0).expect("a record").stdout,
        "stdout of call 9\n"
    );
    assert_eq!(
        out.calls.get(0).expect("a record").stderr,
        "stderr of call 9\n"
    );
    // A call that prints nothing records nothing.
    let out = s.call("add", json!({"x": 1, "y": 1}), options()).await;
    assert_eq!(
        (
            out.calls.get(0).expect("a record").stdout,
            out.calls.get(0).expect("a record").stderr
        ),
        ("", "")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_written_to_file_descriptors_goes_to_the_call_that_wrote_it() {
    let s = Setup::new();
    // Later rounds run on warm workers that batch these short calls: the calls answered
    // together in one frame share one mark on the worker's stderr, so what they wrote
    // there goes to the frame's last call (docs/executor.md). Every call's output is
    // captured exactly once, whole, in order, by that call or a later one of its chunk.
    for round in 0..3 {
        let out = s
            .map(
                "fd_talk",
                (0..8).map(|i| json!(i)).collect(),
                None,
                options(),
            )
            .await;
        assert_eq!(out.result, Ok(json!([0, 1, 2, 3, 4, 5, 6, 7])));
        let mut captured = [0usize; 8];
        for c in &out.calls {
            assert_eq!(c.stdout, "", "round {round}, call {}", c.index);
            // File descriptor 1 points at the worker's stderr, so both lines are there.
            let mut rest = c.stderr;
            let mut last = None;
            while !rest.is_empty() {
                let n: usize = rest
                    .strip_prefix("fd2 of call ")
                    .and_then(|r| r.split('\n').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("round {round}, call {}: {:?}", c.index, c.stderr));
                let pair = format!("fd2 of call {n}\nfd1 of call {n}\n");
                assert!(
                    rest.starts_with(&pair) && n <= c.index && last.is_none_or(|l| l < n),
                    "round {round}, call {}: {:?}",
                    c.index,
                    c.stderr
                );
                captured[n] += 1;
                last = Some(n);
                rest = &rest[pair.len()..];
            }
        }
        assert_eq!(captured, [1; 8], "round {round}: {:?}", out.calls);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_reading_stdin_gets_end_of_file_and_the_calls_behind_it_run() {
    // One worker, warmed with short calls so that it batches: the calls behind the one
    // reading stdin are already written to the worker when it reads.
    let s = Setup::with(1, 500);
    let out = s
        .map(
            "add",
            (0..20).map(|i| json!(i)).collect(),
            Some(Extra::Keyword(env_map(json!({"y": 1})))),
            options(),
        )
        .await;
    assert_eq!(results(&out).len(), 20, "{:?}", out.result);
    let opts = CallOptions {
        // A read that blocked would hold the worker until this limit.
        timeout: Some(Duration::from_secs(5)),
        ..options()
    };
    let iterdata = vec![
        json!({"x": 0, "read": true}),
        json!({"x": 1}),
        json!({"x": 2}),
        json!({"x": 3, "read": true}),
        json!({"x": 4}),
    ];
    let out = s.map("read_stdin", iterdata, None, opts.clone()).await;
    assert_eq!(
        out.result,
        Ok(json!([[0, "", []], [1], [2], [3, "", []], [4]]))
    );
    let out = s
        .call("read_stdin", json!({"x": 5, "read": true}), opts)
        .await;
    assert_eq!(out.result, Ok(json!([5, "", []])));
    s.assert_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_env_values_that_are_not_strings_reach_the_function_as_json() {
    let s = Setup::with(1, 500);
    let names = json!([
        "LITHOFLOW_A",
        "LITHOFLOW_B",
        "LITHOFLOW_C",
        "LITHOFLOW_D",
        "LITHOFLOW_E"
    ]);
    let opts = CallOptions {
        extra_env: env_map(json!({
            "LITHOFLOW_A": true,
            "LITHOFLOW_B": null,
            "LITHOFLOW_C": {"a": 1},
            "LITHOFLOW_D": 5,
            "LITHOFLOW_E": "text",
        })),
        ..options()
    };
    let out = s.call("envs", json!({"names": names}), opts).await;
    assert_eq!(
        out.result,
        Ok(json!(["true", "null", "{\"a\": 1}", "5", "text"]))
    );
    let out = s.call("envs", json!({"names": names}), options()).await;
    assert_eq!(
        out.result,
        Ok(json!([null, null, null, null, null])),
        "the variables are removed after the call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_modules_hides_a_module_an_earlier_call_imported() {
    // One worker: the excluding call runs in the process that already imported `csv`.
    let s = Setup::with(1, 500);
    let out = s.call("csv_name", json!({}), options()).await;
    assert_eq!(out.result, Ok(json!("csv")), "no exclusion: csv imports");

    let excluding = CallOptions {
        exclude_modules: vec!["csv".to_owned()],
        ..options()
    };
    let out = s.call("csv_name", json!({}), excluding).await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Exception);
    assert_eq!(e.exc_type, "ModuleNotFoundError");
    assert_eq!(e.message, "module `csv` is excluded by exclude_modules");
    let line = line_of(&fns_py(), "import csv");
    let frame = format!("File \"{}\", line {line}, in csv_name", fns_py().display());
    assert!(e.traceback.contains(&frame), "{frame} in {}", e.traceback);
    assert!(
        !e.traceback.lines().any(|l| l.contains("File \"<string>\"")),
        "the runtime's own frames are left out: {}",
        e.traceback
    );
    assert!(
        e.traceback
            .ends_with("ModuleNotFoundError: module `csv` is excluded by exclude_modules\n"),
        "{}",
        e.traceback
    );

    let out = s.call("csv_name", json!({}), options()).await;
    assert_eq!(
        out.result,
        Ok(json!("csv")),
        "the exclusion belonged to that call only"
    );
}

// ---------------------------------------------------------------------------------------
// 6. Object processing
// ---------------------------------------------------------------------------------------

const TEXT: &str =
    "alpha\nbravo charlie\n\ndelta\necho foxtrot golf hotel\nindia\nlast line without a newline";

fn obj_options(base: &Path) -> CallOptions {
    CallOptions {
        base_dir: base.to_owned(),
        ..options()
    }
}

/// Checks the parts of one object, as `part_info` returns them.
fn check_parts(parts: &[Value], key: &str, expected: &str) {
    let n = parts.len();
    let mut texts = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["key"], json!(key), "{p}");
        assert_eq!(p["part"], json!(i + 1), "parts are numbered from 1: {p}");
        assert_eq!(p["total_parts"], json!(n), "{p}");
        texts.push(p["text"].as_str().expect("text").to_owned());
    }
    assert_eq!(
        texts.concat(),
        expected,
        "the parts concatenate to the object"
    );
    for w in texts.windows(2) {
        assert!(
            w[0].is_empty() || w[0].ends_with('\n') || w[1].is_empty(),
            "no line is split between parts: {texts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_parts_concatenate_to_the_exact_file() {
    let s = Setup::new();
    let base = s.scratch("objects");
    std::fs::write(base.join("data.txt"), TEXT).expect("write");
    std::fs::write(base.join("empty.txt"), "").expect("write");
    std::fs::write(base.join("one.txt"), "x").expect("write");
    let size = TEXT.len() as u64;

    for (chunking, parts) in [
        (Chunking::Whole, 1),
        (Chunking::Size(8), size.div_ceil(8)),
        (Chunking::Size(20), size.div_ceil(20)),
        (Chunking::Size(1000), 1),
        (Chunking::Count(3), 3),
        (Chunking::Count(7), 7),
    ] {
        let out = s
            .map_chunked(
                "part_info",
                vec![json!({"obj": "data.txt"})],
                None,
                chunking,
                obj_options(&base),
            )
            .await;
        let Ok(Value::Array(got)) = &out.result else {
            panic!("{chunking:?}: {:?}", out.result)
        };
        assert_eq!(got.len() as u64, parts, "{chunking:?}: {got:?}");
        check_parts(got, "data.txt", TEXT);

        // The plain `count(obj)` reader gives the same texts.
        let out = s
            .map_chunked(
                "count",
                vec![json!({"obj": "data.txt"})],
                None,
                chunking,
                obj_options(&base),
            )
            .await;
        let texts: Vec<String> = results(&out)
            .iter()
            .map(|v| v.as_str().expect("text").to_owned())
            .collect();
        assert_eq!(texts.concat(), TEXT, "{chunking:?}");
    }

    // An empty object: one empty part by size, n empty parts by count.
    for (chunking, expected) in [
        (Chunking::Size(8), json!([""])),
        (Chunking::Count(3), json!(["", "", ""])),
        (Chunking::Whole, json!([""])),
    ] {
        let out = s
            .map_chunked(
                "count",
                vec![json!({"obj": "empty.txt"})],
                None,
                chunking,
                obj_options(&base),
            )
            .await;
        assert_eq!(out.result, Ok(expected), "empty file, {chunking:?}");
    }

    // A 1-byte object.
    for (chunking, expected) in [
        (Chunking::Size(1), json!(["x"])),
        (Chunking::Size(8), json!(["x"])),
        (Chunking::Count(2), json!(["", "x"])),
    ] {
        let out = s
            .map_chunked(
                "count",
                vec![json!({"obj": "one.txt"})],
                None,
                chunking,
                obj_options(&base),
            )
            .await;
        assert_eq!(out.result, Ok(expected), "1-byte file, {chunking:?}");
    }

    // Several elements, an absolute path among them: parts follow the elements' order.
    let absolute = base.join("one.txt").to_string_lossy().into_owned();
    let out = s
        .map_chunked(
            "part_info",
            vec![json!({"obj": "data.txt"}), json!({"obj": absolute})],
            None,
            Chunking::Count(2),
            obj_options(&base),
        )
        .await;
    let Ok(Value::Array(got)) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert_eq!(got.len(), 4);
    check_parts(&got[..2], "data.txt", TEXT);
    check_parts(&got[2..], &absolute, "x");

    // A missing object is an input error naming it.
    let out = s
        .map_chunked(
            "count",
            vec![json!({"obj": "missing.txt"})],
            None,
            Chunking::Whole,
            obj_options(&base),
        )
        .await;
    let e = error(&out);
    assert_eq!(e.kind, CallErrorKind::Input);
    assert_eq!(
        e.message,
        format!(
            "`obj` \"missing.txt\" ({}): No such file or directory (os error 2)",
            base.join("missing.txt").display()
        )
    );
}

fn write_folder(base: &Path) -> Vec<(&'static str, &'static str)> {
    let files = vec![
        ("a.txt", "first file\nline two\n"),
        ("b.txt", "second file\nno newline at the end"),
        ("c.txt", "c\n"),
    ];
    let folder = base.join("docs");
    std::fs::create_dir_all(folder.join("nested")).expect("folder");
    for (name, text) in &files {
        std::fs::write(folder.join(name), text).expect("write");
    }
    std::fs::write(folder.join(".hidden"), "hidden files are skipped").expect("write");
    std::fs::write(folder.join("nested/deep.txt"), "not listed").expect("write");
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_gives_one_object_per_file() {
    let s = Setup::new();
    let base = s.scratch("objects");
    let files = write_folder(&base);
    for location in ["docs", "docs/"] {
        let out = s
            .map_chunked(
                "part_info",
                vec![json!({"obj": location})],
                None,
                Chunking::Whole,
                obj_options(&base),
            )
            .await;
        let expected: Vec<Value> = files
            .iter()
            .map(|(name, text)| {
                json!({"key": format!("docs/{name}"), "part": 1, "total_parts": 1, "text": text})
            })
            .collect();
        assert_eq!(out.result, Ok(Value::Array(expected)), "obj = {location:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_reduce_with_one_reducer_per_object_reduces_each_file_separately() {
    let s = Setup::new();
    let base = s.scratch("objects");
    let files = write_folder(&base);
    let map = MapJob {
        func: fns("part_info"),
        iterdata: vec![json!({"obj": "docs"})],
        extra: None,
        chunking: Chunking::Size(6),
    };
    let out = s
        .map_reduce(map, "join_texts", true, obj_options(&base))
        .await;
    let texts: Vec<&str> = files.iter().map(|(_, t)| *t).collect();
    assert_eq!(out.result, Ok(json!(texts)));
    let map_calls: Vec<&Value> = out
        .calls
        .iter()
        .filter(|c| c.phase == "map")
        .map(|c| c.result)
        .collect();
    let expected_parts: u64 = files
        .iter()
        .map(|(_, t)| (t.len() as u64).div_ceil(6))
        .sum();
    assert_eq!(map_calls.len() as u64, expected_parts);
    let reducers: Vec<usize> = out
        .calls
        .iter()
        .filter(|c| c.phase == "reduce")
        .map(|c| c.index)
        .collect();
    assert_eq!(reducers, [0, 1, 2], "one reducer per file");

    // Without one_per_object, one reducer gets every part of every file.
    let map = MapJob {
        func: fns("part_info"),
        iterdata: vec![json!({"obj": "docs"})],
        extra: None,
        chunking: Chunking::Size(6),
    };
    let out = s
        .map_reduce(map, "join_texts", false, obj_options(&base))
        .await;
    assert_eq!(out.result, Ok(json!(texts.concat())));
}

// ---------------------------------------------------------------------------------------
// 7. Progress and job references
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_counts_every_call_and_the_reference_names_the_job() {
    let s = Setup::new();
    let job = s.exec.map(
        "dag/run/progress/1",
        MapJob {
            func: fns("add"),
            iterdata: (0..50).map(|i| json!(i)).collect(),
            extra: Some(Extra::Keyword(env_map(json!({"y": 1})))),
            chunking: Chunking::Whole,
        },
        options(),
    );
    let mut rx = job.progress();
    let watcher = tokio::spawn(async move {
        let mut seen = vec![rx.borrow_and_update().clone()];
        while rx.changed().await.is_ok() {
            seen.push(rx.borrow_and_update().clone());
        }
        seen
    });
    let out = job.wait().await;
    let expected: Vec<Value> = (1..=50).map(|i| json!(i)).collect();
    assert_eq!(out.result, Ok(Value::Array(expected)));
    let last = Progress {
        phase: "map",
        total: 50,
        invoked: 50,
        running: 0,
        done: 50,
        failed: 0,
        job_calls: 50,
    };
    assert_eq!(*job.progress().borrow(), last);
    drop(job.progress());
    let reference = job.reference();
    assert_eq!(
        reference,
        json!({
            "job_id": job.job_id,
            "job_key": "dag/run/progress/1",
            "calls": 50,
            "status_location": s.tmp.path().join("storage/lithoflow.jobs/dag/run/progress/1/status.json"),
        })
    );
    let status: Value = serde_json::from_slice(
        &std::fs::read(
            s.tmp
                .path()
                .join("storage/lithoflow.jobs/dag/run/progress/1/status.json"),
        )
        .expect("status.json"),
    )
    .expect("JSON");
    assert_eq!(
        status,
        json!({"job_id": job.job_id, "state": "success", "total": 50, "done": 50, "failed": 0})
    );
    // The progress only moves forward.
    drop(job);
    let seen = watcher.await.expect("watcher");
    assert_eq!(seen.last(), Some(&last));
    for w in seen.windows(2) {
        assert!(
            w[0].done <= w[1].done && w[0].invoked <= w[1].invoked,
            "{seen:?}"
        );
        assert!(w[1].done + w[1].failed <= w[1].total);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_reduce_reference_and_status_count_the_map_calls_and_the_reducer() {
    let s = Setup::new();
    let job = s.exec.map_reduce(
        "dag/run/map_reduce/1",
        MapJob {
            func: fns("add"),
            iterdata: vec![json!(1), json!(2), json!(3)],
            extra: Some(Extra::Keyword(env_map(json!({"y": 1})))),
            chunking: Chunking::Whole,
        },
        fns("mult_array"),
        false,
        options(),
    );
    let out = job.wait().await;
    assert_eq!(out.result, Ok(json!(24)));
    assert_eq!(out.calls.len(), 4);
    let status_location = s
        .tmp
        .path()
        .join("storage/lithoflow.jobs/dag/run/map_reduce/1/status.json");
    assert_eq!(
        job.reference(),
        json!({
            "job_id": job.job_id,
            "job_key": "dag/run/map_reduce/1",
            "calls": 4,
            "status_location": status_location,
        })
    );
    let location = job.reference()["status_location"]
        .as_str()
        .map(PathBuf::from)
        .expect("a path");
    let status: Value =
        serde_json::from_slice(&std::fs::read(location).expect("status.json")).expect("JSON");
    assert_eq!(
        status,
        json!({"job_id": job.job_id, "state": "success", "total": 4, "done": 4, "failed": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_reduce_is_accepted_once_its_map_calls_are_handed_over() {
    let s = Setup::new();
    let submitted = Instant::now();
    let job = s.exec.map_reduce(
        "tests/accepted",
        MapJob {
            func: fns("sleepy"),
            iterdata: vec![json!({"x": 1, "seconds": 1.5})],
            extra: None,
            chunking: Chunking::Whole,
        },
        fns("identity"),
        false,
        options(),
    );
    tokio::time::timeout(Duration::from_millis(500), job.accepted())
        .await
        .expect("accepted() returns while the 1.5 s map call still sleeps");
    let accepted_after = submitted.elapsed();
    assert!(
        tokio::time::timeout(Duration::ZERO, job.wait())
            .await
            .is_err(),
        "the job had not finished when it was accepted (after {accepted_after:?})"
    );
    let progress = job.progress().borrow().clone();
    assert_eq!(
        (progress.phase, progress.total, progress.done),
        ("map", 1, 0),
        "the reducer was not invoked yet"
    );
    let out = job.wait().await;
    let finished_after = submitted.elapsed();
    assert!(
        finished_after >= Duration::from_millis(1500),
        "accepted after {accepted_after:?}, finished after {finished_after:?}"
    );
    let Ok(Value::Array(items)) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0][0], json!(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_running_counts_the_running_call_and_never_more() {
    // One worker and three calls in flight: one runs while the others wait their turn.
    let s = Setup::with(1, 3);
    let job = s.exec.map(
        "tests/running",
        MapJob {
            func: fns("sleepy"),
            iterdata: (0..3).map(|x| json!({"x": x, "seconds": 0.3})).collect(),
            extra: None,
            chunking: Chunking::Whole,
        },
        options(),
    );
    let mut rx = job.progress();
    let watcher = tokio::spawn(async move {
        let mut seen = vec![rx.borrow_and_update().clone()];
        while rx.changed().await.is_ok() {
            seen.push(rx.borrow_and_update().clone());
        }
        seen
    });
    let out = job.wait().await;
    let values: Vec<Value> = results(&out).iter().map(|v| v[0].clone()).collect();
    assert_eq!(values, [json!(0), json!(10), json!(20)], "{:?}", out.result);
    let last = Progress {
        phase: "map",
        total: 3,
        invoked: 3,
        running: 0,
        done: 3,
        failed: 0,
        job_calls: 3,
    };
    assert_eq!(*job.progress().borrow(), last);
    drop(job);
    let seen = watcher.await.expect("watcher");
    assert_eq!(seen.last(), Some(&last));
    // The worker counts a call's end before the next call's start, so one worker never
    // shows two calls running.
    for p in &seen {
        assert!(
            p.running <= 1,
            "one worker runs one call at a time: {seen:?}"
        );
        assert!(
            p.running + p.done + p.failed <= p.invoked,
            "no call is counted twice: {seen:?}"
        );
    }
    // While each call ran, it was counted.
    for done in 0..3 {
        assert!(
            seen.iter().any(|p| p.done == done && p.running == 1),
            "call {done} was counted as running: {seen:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 8. `lithoflow tasks test`
// ---------------------------------------------------------------------------------------

/// Runs `lithoflow tasks test` with `-o json`; returns the exit code and the document.
fn tasks_test(dags: &Path, args: &[&str]) -> (i32, Value) {
    let home = tempfile::tempdir().expect("temp home");
    let out = lithoflow()
        .env("LITHOFLOW_HOME", home.path())
        .arg("--dags-folder")
        .arg(dags)
        .args(["tasks", "test"])
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("runs");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "tasks test {args:?} prints one JSON document ({e}); stdout: {}; stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), doc)
}

#[test]
fn tasks_test_runs_the_example_dags_to_the_values_in_their_comments() {
    let dags = repo_root().join("dags");
    for (args, task_id, value) in [
        (
            &["call_async_example", "add_task_1"][..],
            "add_task_1",
            json!(4),
        ),
        (
            &["call_async_example", "add_task_2", "--xcom", "add_task_1=4"][..],
            "add_task_2",
            json!(8),
        ),
        (
            &["map_example", "map_task"][..],
            "map_task",
            json!([2, 3, 4]),
        ),
        (
            &["map_reduce_example", "mapreduce_task"][..],
            "mapreduce_task",
            json!(24),
        ),
        (
            &[
                "lithops_example",
                "mapreduce_task",
                "--xcom",
                "map_task=[2,3,4]",
            ][..],
            "mapreduce_task",
            json!(60),
        ),
    ] {
        let (code, doc) = tasks_test(&dags, args);
        assert_eq!(
            doc,
            json!({"task_id": task_id, "state": "success", "return_value": value, "error": null}),
            "{args:?}"
        );
        assert_eq!(code, 0, "{args:?}");
    }
}

#[test]
fn tasks_test_of_a_failing_task_exits_1_with_the_error() {
    let dags = tempfile::tempdir().expect("temp dags");
    std::fs::write(
        dags.path().join("failing.toml"),
        "[tasks.explode]\ntype = \"call_async\"\nfunc = \"failing_fns:explode\"\ndata = { x = 3 }\n",
    )
    .expect("write dag");
    let module = dags.path().join("failing_fns.py");
    std::fs::write(
        &module,
        "def explode(x):\n    raise ValueError(\"cannot handle %d\" % x)\n",
    )
    .expect("write module");
    let (code, doc) = tasks_test(dags.path(), &["failing", "explode"]);
    assert_eq!(code, 1);
    assert_eq!(doc["task_id"], "explode");
    assert_eq!(doc["state"], "failed");
    assert_eq!(doc["return_value"], Value::Null);
    let error = doc["error"].as_str().expect("error text");
    assert!(
        error.starts_with(
            "call 0 raised ValueError: cannot handle 3\nTraceback (most recent call last):\n"
        ),
        "{error}"
    );
    assert!(
        error.contains(&format!(
            "File \"{}\", line 2, in explode",
            module.display()
        )),
        "{error}"
    );
    assert!(error.ends_with("ValueError: cannot handle 3"), "{error}");
}

#[test]
fn tasks_test_refuses_iterdata_from_a_task_whose_value_is_not_a_list() {
    let dags = repo_root().join("dags");
    for (xcom, shown) in [
        ("map_task=5", "a number: 5"),
        ("map_task={\"a\":1}", "an object: {\"a\":1}"),
        ("map_task=null", "null: null"),
    ] {
        let (code, doc) = tasks_test(
            &dags,
            &["lithops_example", "mapreduce_task", "--xcom", xcom],
        );
        assert_eq!(
            doc,
            json!({
                "task_id": "mapreduce_task",
                "state": "failed",
                "return_value": null,
                "error": format!("task `mapreduce_task` iterates over the return value of `map_task` (iterdata_from_task), which must be a list, but it is {shown}"),
            }),
            "{xcom}"
        );
        assert_eq!(code, 1, "{xcom}");
    }
    // No value at all is named too.
    let (code, doc) = tasks_test(&dags, &["call_async_example", "add_task_2"]);
    assert_eq!(
        doc["error"],
        "task `add_task_2` needs the return value of `add_task_1` (through `data_from_task`), and there is none"
    );
    assert_eq!(code, 1);
}

/// Many one-call jobs queued at once go to a worker in chunks, each job's header frame
/// before its call. Their requests are far bigger than a pipe holds: a chunk written
/// whole before its answers were read once deadlocked the host (waiting to write) and
/// the worker (waiting for the host to read its answers, which filled its own pipe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_one_call_jobs_with_big_headers_do_not_fill_both_pipes() {
    let s = Setup::with(1, 500);
    // Long entries make each job's header about 3 KiB; they do not exist, which Python's
    // import system ignores.
    let mut opts = options();
    opts.sys_path
        .extend((0..24).map(|i| python_dir().join(format!("{}{i}", "not-there-".repeat(10)))));
    s.assert_still_works().await;
    let jobs: Vec<_> = (0..1500)
        .map(|i| {
            s.exec.call_async(
                &format!("tests/many/{i}"),
                fns("add"),
                json!({"x": i, "y": 1}),
                opts.clone(),
            )
        })
        .collect();
    let all = async {
        let mut sum = 0;
        for job in &jobs {
            let out = job.wait().await;
            sum += out.result.as_ref().map_or(0, |v| v.as_i64().unwrap_or(0));
        }
        sum
    };
    // A deadlock shows as this wait ending, not as a hung test run.
    let sum = tokio::time::timeout(Duration::from_secs(600), all)
        .await
        .expect("every job answered (a deadlock leaves them waiting)");
    assert_eq!(sum, (0..1500).map(|i| i + 1).sum::<i64>());
}

// ---------------------------------------------------------------------------------------
// 5. Workers start as calls need them
// ---------------------------------------------------------------------------------------

/// The pool's first worker starts with it and the others only once calls wait with no
/// worker free: calls one after another all run on the first worker, and two calls at
/// once start the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_after_the_first_start_once_calls_wait_for_them() {
    let s = Setup::new();
    let pid_of = |out: &JobOutcome| match &out.result {
        Ok(Value::Number(n)) => n.as_i64().expect("a pid"),
        other => panic!("expected a pid, got {other:?}"),
    };
    // Over a second of calls one after another: time enough for a second worker to
    // start if it started with the pool (it would then take some of them).
    let mut pids = Vec::new();
    for _ in 0..12 {
        let out = s
            .call("sleep_pid", json!({"seconds": 0.1}), options())
            .await;
        pids.push(pid_of(&out));
    }
    assert!(
        pids.windows(2).all(|w| w[0] == w[1]),
        "calls one after another ran on one worker: {pids:?}"
    );
    // Two calls at once: the second waits with no worker free, which starts the next.
    let first = s.exec.call_async(
        "tests/a",
        fns("sleep_pid"),
        json!({"seconds": 1.5}),
        options(),
    );
    let second = s.exec.call_async(
        "tests/b",
        fns("sleep_pid"),
        json!({"seconds": 1.5}),
        options(),
    );
    let (a, b) = tokio::join!(first.wait(), second.wait());
    let (a, b) = (pid_of(&a), pid_of(&b));
    assert_ne!(a, b, "two calls at once ran on two workers");
    assert!(
        pids[0] == a || pids[0] == b,
        "the first worker took one of them"
    );
}
