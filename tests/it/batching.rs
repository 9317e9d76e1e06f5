//! Batched answers on the local workers: a worker answers the calls of a chunk that
//! simply return together, so a call that crashes or hangs its worker while earlier
//! answers wait in the worker's buffer must still fail alone, with the right kind, and
//! the calls before it must get their results; and output must still go to the call
//! that printed it.
//!
//! Real `python3` workers run `tests/fixtures/python/batchfns.py`; one worker, so the
//! order in which calls run is the map's.

use std::sync::Arc;
use std::time::Duration;

use lithoflow_executor::{
    CallErrorKind, CallOptions, Chunking, ExecutorSettings, Extra, FunctionExecutor, FunctionRef,
    JobOutcome, MapJob,
};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::repo_root;

struct Setup {
    exec: FunctionExecutor,
    _tmp: TempDir,
}

impl Setup {
    /// One worker: the calls run in the map's order.
    fn new() -> Setup {
        let tmp = tempfile::tempdir().expect("temp dir");
        let exec = FunctionExecutor::new(ExecutorSettings {
            python: "python3".into(),
            worker_processes: 1,
            storage_root: tmp.path().join("storage"),
            default_timeout: Duration::from_secs(60),
            default_memory: None,
            invoke_pool_threads: 100_000,
        });
        Setup { exec, _tmp: tmp }
    }

    async fn map(
        &self,
        function: &str,
        iterdata: Vec<Value>,
        opts: CallOptions,
    ) -> Arc<JobOutcome> {
        self.map_with(function, iterdata, None, opts).await
    }

    async fn map_with(
        &self,
        function: &str,
        iterdata: Vec<Value>,
        extra: Option<Extra>,
        opts: CallOptions,
    ) -> Arc<JobOutcome> {
        let map = MapJob {
            func: FunctionRef {
                module: "batchfns".to_owned(),
                function: function.to_owned(),
            },
            iterdata,
            extra,
            chunking: Chunking::Whole,
        };
        self.exec.map("tests/batching", map, opts).wait().await
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.exec.shutdown();
    }
}

fn options() -> CallOptions {
    let dir = repo_root().join("tests/fixtures/python");
    CallOptions {
        sys_path: vec![dir.clone()],
        base_dir: dir,
        ..CallOptions::default()
    }
}

/// `n` calls of `short` where call `at` misbehaves as `how` says.
fn iterdata(n: usize, at: usize, how: &str) -> Vec<Value> {
    (0..n)
        .map(|x| json!({"x": x, "at": at, "how": how}))
        .collect()
}

/// The same calls of `short_one`, each with one positional argument: they go to the
/// worker as ranges of single arguments, where `iterdata`'s keyword arguments go call
/// by call.
fn packed(n: usize, at: usize, how: &str) -> Vec<Value> {
    (0..n).map(|x| json!([x, at, how])).collect()
}

/// The map failed on call `at` with `kind`, every call before it has its result, and
/// every call after it has its result or was cancelled (a map stops at its first
/// failure). Returns the failure's message.
fn expect_only(out: &JobOutcome, at: usize, kind: CallErrorKind) -> String {
    let e = match &out.result {
        Ok(v) => panic!("the map should fail at call {at}, it returned {v}"),
        Err(e) => e,
    };
    assert_eq!((e.call_index, e.kind), (at, kind), "{e:?}");
    for c in out.calls.iter() {
        match (c.error, c.index) {
            (None, i) => assert_eq!(c.result, &json!(2 * i), "call {i}"),
            (Some(err), i) if i == at => assert_eq!(err.kind, kind),
            (Some(err), i) => {
                assert!(
                    i > at && err.kind == CallErrorKind::Cancelled,
                    "call {i} failed too: {err:?}"
                );
            }
        }
    }
    e.message.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_kills_its_worker_in_a_batch_fails_alone_and_the_calls_before_it_keep_their_results()
 {
    let s = Setup::new();
    type Calls = fn(usize, usize, &str) -> Vec<Value>;
    let forms: [(&str, Calls); 2] = [("short", iterdata), ("short_one", packed)];
    for (function, calls) in forms {
        let out = s.map(function, calls(3000, 1777, "exit"), options()).await;
        let message = expect_only(&out, 1777, CallErrorKind::WorkerDied);
        assert_eq!(
            message, "the worker process died during the call: it exited with code 7",
            "{function}"
        );
        let out = s
            .map(function, calls(3000, 2222, "sigkill"), options())
            .await;
        let message = expect_only(&out, 2222, CallErrorKind::WorkerDied);
        assert!(
            message.starts_with("the worker process died during the call: killed by SIGKILL"),
            "{function}: {message}"
        );
        // The pool recovered: the same map without a fault returns every result.
        let out = s
            .map(function, calls(3000, 99_999, "exit"), options())
            .await;
        let expected: Vec<Value> = (0..3000).map(|x| json!(2 * x)).collect();
        assert_eq!(out.result, Ok(Value::Array(expected)), "{function}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_hangs_in_a_batch_times_out_alone_and_the_calls_before_it_keep_their_results() {
    let s = Setup::new();
    let opts = CallOptions {
        timeout: Some(Duration::from_secs(2)),
        ..options()
    };
    for (function, calls) in [
        ("short", iterdata(3000, 1500, "hang")),
        ("short_one", packed(3000, 1500, "hang")),
    ] {
        let out = s.map(function, calls, opts.clone()).await;
        let message = expect_only(&out, 1500, CallErrorKind::Timeout);
        assert_eq!(
            message, "the call exceeded its timeout of 2s; its worker was killed and replaced",
            "{function}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_of_calls_in_a_batch_goes_to_the_call_that_printed_it() {
    let s = Setup::new();
    let iterdata: Vec<Value> = (0..3000).map(|x| json!({"x": x, "every": 97})).collect();
    let keywords = s.map("chatty", iterdata, options()).await;
    // The same calls with positional arguments (the element, then `extra_params`): they
    // go to the worker as ranges of their arguments.
    let positional = s
        .map_with(
            "chatty",
            (0..3000).map(|x| json!(x)).collect(),
            Some(Extra::Positional(vec![json!(97)])),
            options(),
        )
        .await;
    for out in [keywords, positional] {
        let expected: Vec<Value> = (0..3000).map(|x| json!(2 * x)).collect();
        assert_eq!(out.result, Ok(Value::Array(expected)));
        check_chatty_output(&out);
    }
}

/// Calls 0, 97, 194, ... of `chatty` printed their numbers; no other call printed.
fn check_chatty_output(out: &JobOutcome) {
    for c in out.calls.iter() {
        let (stdout, stderr) = if c.index % 97 == 0 {
            (format!("out {}\n", c.index), format!("err {}\n", c.index))
        } else {
            (String::new(), String::new())
        };
        assert_eq!(
            (c.stdout, c.stderr),
            (stdout.as_str(), stderr.as_str()),
            "call {}",
            c.index
        );
    }
}
