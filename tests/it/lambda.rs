//! The aws_lambda backend end to end, through the binary, against the ministack emulator,
//! whose Lambda really runs the lithoflow runtime's handler: `lithoflow runtime
//! deploy|list|delete`, DAGs with `backend = "aws_lambda"` and `storage = "aws_s3"`
//! returning what they return on localhost (call_async, map, map_reduce with the reducer
//! waiting locally or remotely, remote invocation, object parts read from S3), user
//! exceptions with their remote traceback, timeouts, `extra_env`, a result over Lambda's
//! 6 MB response limit coming back through S3, the request limits lithoflow enforces
//! (the emulator has none), `async_invoke`, throttling retried (the function's concurrency
//! limit, and 429/5xx injected by a proxy in front of the Lambda API with every call reaching
//! the function exactly once), a call that never starts,
//! the missing-runtime message, `dags validate`'s warnings about missing AWS keys, the
//! example DAGs of `dags/` switched to Lambda by their `[lithops_config]` alone,
//! `get_result = false` returning the job reference, and `runtime_memory`
//! (`map_runtime_memory`, `reduce_runtime_memory`) picking the function calls run on.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lithoflow_executor::aws::deploy::function_name;
use serde_json::Value;

use crate::emulator::Emulator;
use crate::fault_proxy::FaultProxy;
use crate::{lithoflow, repo_root};

/// The functions the test DAGs call.
const FUNCS: &str = r#"
import os, time

def add(x, y):
    return x + y

def mult_array(results):
    r = 1
    for n in results:
        r *= n
    return r

def total(results):
    print("reducing %d results" % len(results))
    return sum(results)

def ident(id, x):
    return [id, x]

def boom(x):
    raise ValueError("bad value %s" % x)

def sleepy(s):
    time.sleep(s)
    return s

def env(name):
    return os.environ.get(name)

def big(mb):
    return "x" * (mb * 1024 * 1024)

def length(s):
    return len(s)

def maybe(x):
    if x == 2:
        raise RuntimeError("two is bad")
    return x

def count_lines(obj):
    return len(obj.data_stream.read().splitlines())

def use_extra(x):
    import extra_pkg
    return extra_pkg.double(x)

def where(x=None):
    return {"x": x, "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME")}

def where_reduce(results):
    return {"maps": results, "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME")}
"#;

/// A package outside the DAG folder, importable locally through PYTHONPATH only: on
/// Lambda it exists only when `include_modules` ships it.
const EXTRA_PKG: &str = "def double(x):\n    return 2 * x\n";

const BUCKET: &str = "lithoflow-it";
const ROLE: &str = "arn:aws:iam::000000000000:role/lithoflow";

/// lithoflow.toml for Lambda, with or without an execution role.
fn lambda_config(role: bool) -> String {
    let mut c = format!(
        "[lithops]\nbackend = \"aws_lambda\"\nstorage = \"aws_s3\"\n\n[aws_s3]\nstorage_bucket = \"{BUCKET}\"\n"
    );
    if role {
        c.push_str(&format!("\n[aws_lambda]\nexecution_role = \"{ROLE}\"\n"));
    }
    c
}

/// An emulator, a lithoflow home and a DAG folder holding `lamfuncs.py`.
struct Setup {
    emu: Emulator,
    home: tempfile::TempDir,
    dags: tempfile::TempDir,
    /// On PYTHONPATH: `extra_pkg`.
    site: tempfile::TempDir,
}

impl Setup {
    fn new(config: &str) -> Setup {
        let emu = Emulator::start();
        let home = tempfile::tempdir().expect("tempdir");
        let dags = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join("lithoflow.toml"), config).expect("write config");
        std::fs::write(dags.path().join("lamfuncs.py"), FUNCS).expect("write functions");
        let site = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(site.path().join("extra_pkg")).expect("mkdir");
        std::fs::write(site.path().join("extra_pkg/__init__.py"), EXTRA_PKG).expect("write");
        Setup {
            emu,
            home,
            dags,
            site,
        }
    }

    fn set_config(&self, config: &str) {
        std::fs::write(self.home.path().join("lithoflow.toml"), config).expect("write config");
    }

    fn dag(&self, name: &str, text: &str) {
        std::fs::write(self.dags.path().join(format!("{name}.toml")), text).expect("write dag");
    }

    /// `lithoflow` with the emulator's environment, this home and DAG folder.
    fn cmd(&self, home: &Path) -> assert_cmd::Command {
        self.cmd_in(home, self.dags.path())
    }

    /// `lithoflow` with the emulator's environment, `home` and the DAG folder `dags`.
    fn cmd_in(&self, home: &Path, dags: &Path) -> assert_cmd::Command {
        let mut cmd = lithoflow();
        cmd.envs(self.emu.env())
            .env("LITHOFLOW_HOME", home)
            .env("PYTHONPATH", self.site.path())
            .arg("--dags-folder")
            .arg(dags)
            .timeout(Duration::from_secs(240));
        cmd
    }

    /// `dags test -o json` with `home`; returns the document, stderr and how long it took.
    fn dags_test_with(&self, home: &Path, dag_id: &str) -> (Value, String, Duration) {
        self.dags_test_in(home, self.dags.path(), dag_id)
    }

    /// `dags test -o json` with `home` and the DAG folder `dags`.
    fn dags_test_in(&self, home: &Path, dags: &Path, dag_id: &str) -> (Value, String, Duration) {
        let started = Instant::now();
        let out = self
            .cmd_in(home, dags)
            .args(["dags", "test", dag_id, "-o", "json"])
            .output()
            .expect("lithoflow runs");
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "dags test {dag_id} exited with {:?}\nstderr:\n{stderr}\nemulator:\n{}",
            out.status,
            tail(&self.emu.log())
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "dags test prints JSON ({e}): {}\nstderr:\n{stderr}\nemulator:\n{}",
                String::from_utf8_lossy(&out.stdout),
                tail(&self.emu.log())
            )
        });
        (doc, stderr, elapsed)
    }

    /// `lithoflow ARGS` with this home.
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(self.home.path())
            .args(args)
            .output()
            .expect("runs")
    }

    /// `lithoflow ARGS` with this home, which must succeed.
    fn run_ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            tail(&self.emu.log())
        );
        out
    }

    fn dags_test(&self, dag_id: &str) -> (Value, String, Duration) {
        self.dags_test_with(self.home.path(), dag_id)
    }

    /// Runs Python with boto3 (the emulator's own environment) against the emulator.
    fn boto(&self, script: &str) -> String {
        let python = repo_root().join(".emu/venv/bin/python");
        let out = Command::new(&python)
            .envs(self.emu.env())
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .arg("-c")
            .arg(format!(
                "import boto3, json, sys\nlam = boto3.client('lambda')\ns3 = boto3.client('s3')\n{script}"
            ))
            .output()
            .expect("the emulator's python runs");
        assert!(
            out.status.success(),
            "boto3 script failed:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A job file (`results.json`, `status.json`) of a task's first try, found by its
    /// key's ending.
    fn job_file(&self, dag_id: &str, task_id: &str, name: &str) -> Option<Value> {
        let found = self.boto(&format!(
            "keys = [o['Key'] for p in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}', Prefix='lithoflow.jobs/{dag_id}/') for o in p.get('Contents', [])]\n\
             keys = [k for k in keys if k.endswith('/{task_id}/1/{name}')]\n\
             print(s3.get_object(Bucket='{BUCKET}', Key=keys[-1])['Body'].read().decode() if keys else 'null')"
        ));
        serde_json::from_str(found.trim()).ok()
    }

    /// A task's `results.json` (first try) and the result of each call in it.
    fn call_results(&self, dag_id: &str, task_id: &str, stderr: &str) -> (Value, Vec<Value>) {
        let results = self
            .job_file(dag_id, task_id, "results.json")
            .unwrap_or_else(|| panic!("results of {task_id}\n{stderr}"));
        let values = results
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["result"].clone())
            .collect();
        (results, values)
    }

    /// The JSON object at `s3://BUCKET/KEY` in the emulator.
    fn s3_json(&self, location: &str) -> Value {
        let (bucket, key) = location
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .unwrap_or_else(|| panic!("not an S3 location: {location}"));
        let text = self.boto(&format!(
            "print(s3.get_object(Bucket={bucket:?}, Key={key:?})['Body'].read().decode())"
        ));
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{location} holds JSON ({e}): {text}"))
    }

    /// The last lines of the emulator's log, for failure messages.
    fn emu_tail(&self) -> String {
        tail(&self.emu.log())
    }

    /// `tasks test DAG TASK -o json`, which waits for async_invoke calls to finish.
    fn tasks_test(&self, dag_id: &str, task_id: &str) -> (Value, String) {
        let out = self
            .cmd(self.home.path())
            .args(["tasks", "test", dag_id, task_id, "-o", "json"])
            .output()
            .expect("lithoflow runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "tasks test prints JSON ({e}): {}\nstderr:\n{stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (doc, stderr)
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn task<'d>(doc: &'d Value, task_id: &str) -> &'d Value {
    doc["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["task_id"] == task_id)
        .unwrap_or_else(|| panic!("no task {task_id} in {doc}"))
}

fn state<'d>(doc: &'d Value, task_id: &str) -> &'d str {
    task(doc, task_id)["state"].as_str().unwrap_or_default()
}

fn error<'d>(doc: &'d Value, task_id: &str) -> &'d str {
    task(doc, task_id)["error"].as_str().unwrap_or_default()
}

#[test]
fn runtime_deploy_list_and_delete_manage_one_function_per_memory_size() {
    let s = Setup::new(&lambda_config(false));
    let name = function_name(512);
    assert!(name.starts_with("lithoflow-runtime-") && name.ends_with("-512mb"));

    // Without an execution role, deploying says which key to add where.
    let out = s.run(&["runtime", "deploy", "--memory", "512"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("execution_role = ") && err.contains("[aws_lambda]"),
        "{err}"
    );

    // A task needing a runtime that is not deployed names the command that deploys it.
    s.dag(
        "mem",
        "dag_id = \"mem\"\n[tasks.a]\ntype = \"call_async\"\nfunc = \"lamfuncs:add\"\ndata = { x = 1, y = 2 }\nruntime_memory = 512\n",
    );
    let (doc, stderr, _) = s.dags_test("mem");
    assert_eq!(state(&doc, "a"), "failed", "{doc}\n{stderr}");
    assert!(
        error(&doc, "a").contains(&format!("`{name}`"))
            && error(&doc, "a").contains("lithoflow runtime deploy --memory 512"),
        "{doc}"
    );

    // With a role: created, then unchanged, Active, with the timeout asked for.
    s.set_config(&lambda_config(true));
    let deploy = |args: &[&str]| {
        let out = s.run_ok(&[&["runtime", "deploy"], args, &["-o", "json"]].concat());
        let rows: Value = serde_json::from_slice(&out.stdout).expect("json");
        rows[0].clone()
    };
    let first = deploy(&["--memory", "512", "--timeout", "30"]);
    assert_eq!(first["name"], name.as_str());
    assert_eq!(first["action"], "created");
    assert_eq!(first["state"], "Active");
    assert_eq!(first["timeout_s"], 30);
    assert_eq!(first["memory_mb"], 512);
    assert_eq!(first["runtime"], "python3.11");
    assert_eq!(
        deploy(&["--memory", "512", "--timeout", "30"])["action"],
        "unchanged"
    );
    assert_eq!(
        deploy(&["--memory", "512", "--timeout", "45"])["action"],
        "updated"
    );

    let list = |s: &Setup| -> Vec<Value> {
        let out = s.run_ok(&["runtime", "list", "-o", "json"]);
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("json")
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let listed = list(&s);
    let row = listed
        .iter()
        .find(|r| r["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} listed: {listed:?}"));
    assert_eq!(row["current"], true);
    assert_eq!(row["timeout_s"], 45);
    assert_eq!(row["version"], env!("CARGO_PKG_VERSION"));

    // The deployed runtime runs the task, even for a home without a role.
    s.set_config(&lambda_config(false));
    let (doc, stderr, _) = s.dags_test("mem");
    assert_eq!(state(&doc, "a"), "success", "{doc}\n{stderr}");
    assert_eq!(task(&doc, "a")["return_value"], 3);

    // Memory out of Lambda's range is refused before anything is asked of AWS.
    s.set_config(&lambda_config(true));
    let out = s.run(&["runtime", "deploy", "--memory", "64"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("from 128 to 10240 MB"));

    // Delete removes it; deleting again says there is nothing to delete.
    let out = s.run_ok(&["runtime", "delete", "--memory", "512", "-o", "json"]);
    let deleted: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(deleted[0]["name"], name.as_str());
    assert!(!list(&s).iter().any(|r| r["name"] == name.as_str()));
    let out = s.run_ok(&["runtime", "delete", "--memory", "512"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    // `--all` deletes every lithoflow runtime.
    deploy(&["--memory", "128"]);
    deploy(&["--memory", "256"]);
    assert_eq!(list(&s).len(), 2);
    s.run_ok(&["runtime", "delete", "--all", "-o", "json"]);
    assert!(list(&s).is_empty());
}

/// The same tasks on localhost and on Lambda.
const PARITY: &str = r#"
dag_id = "parity"

[tasks.add_task_1]
type = "call_async"
func = "lamfuncs:add"
data = { x = 1, y = 3 }

[tasks.add_task_2]
type = "call_async"
func = "lamfuncs:add"
data = { x = 4 }
data_from_task = { y = "add_task_1" }

[tasks.map_task]
type = "map"
map_function = "lamfuncs:add"
map_iterdata = [1, 2, 3]
extra_params = { y = 1 }
upstream = ["add_task_2"]

[tasks.reduce_remote]
type = "map_reduce"
map_function = "lamfuncs:add"
reduce_function = "lamfuncs:mult_array"
iterdata_from_task = "map_task"
extra_params = { y = 1 }

[tasks.reduce_local]
type = "map_reduce"
map_function = "lamfuncs:add"
reduce_function = "lamfuncs:total"
map_iterdata = [1, 2, 3, 4]
extra_params = { y = 10 }
reducer_wait_local = true

[tasks.one_slot]
type = "map_reduce"
map_function = "lamfuncs:add"
reduce_function = "lamfuncs:total"
map_iterdata = [1, 2, 3]
extra_params = { y = 1 }
lithops_config = { invoke_pool_threads = 1 }

[tasks.ids]
type = "map"
map_function = "lamfuncs:ident"
map_iterdata = [10, 20, 30]

[tasks.remote]
type = "map"
map_function = "lamfuncs:add"
map_iterdata = [1, 2, 3, 4, 5, 6, 7, 8]
extra_params = { y = 100 }
remote_invocation = true

[tasks.remote_reduce]
type = "map_reduce"
map_function = "lamfuncs:add"
reduce_function = "lamfuncs:total"
map_iterdata = [1, 2, 3]
extra_params = { y = 1 }
remote_invocation = true

[tasks.env]
type = "call_async"
func = "lamfuncs:env"
data = { name = "LITHOFLOW_IT_GREETING" }
extra_env = { LITHOFLOW_IT_GREETING = "hello from the task" }

[tasks.included]
type = "call_async"
func = "lamfuncs:use_extra"
data = { x = 21 }
include_modules = ["extra_pkg"]

[tasks.objects]
type = "map_reduce"
map_function = "lamfuncs:count_lines"
reduce_function = "lamfuncs:total"
map_iterdata = [{ obj = "s3://lithoflow-it-data/lines/" }]
chunk_n = 3
reducer_one_per_object = true
"#;

#[test]
fn dags_on_lambda_return_what_they_return_on_localhost() {
    let s = Setup::new(&lambda_config(true));
    s.dag("parity", PARITY);
    // Two objects the object task splits into parts and counts the lines of.
    s.boto(
        "s3.create_bucket(Bucket='lithoflow-it-data')\n\
         s3.put_object(Bucket='lithoflow-it-data', Key='lines/a.txt', Body=''.join('line %d\\n' % i for i in range(100)).encode())\n\
         s3.put_object(Bucket='lithoflow-it-data', Key='lines/b.txt', Body=''.join('row %d\\n' % i for i in range(37)).encode() + b'last')",
    );
    let local_home = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        local_home.path().join("lithoflow.toml"),
        "[lithops]\nbackend = \"localhost\"\nstorage = \"localhost\"\n",
    )
    .expect("config");
    let (local, local_err, _) = s.dags_test_with(local_home.path(), "parity");
    let (lambda, lambda_err, _) = s.dags_test("parity");
    for t in lambda["tasks"].as_array().expect("tasks") {
        let id = t["task_id"].as_str().expect("id");
        assert_eq!(
            t["state"],
            "success",
            "{id} on Lambda: {t}\nstderr:\n{lambda_err}\nemulator:\n{}",
            tail(&s.emu.log())
        );
        assert_eq!(
            state(&local, id),
            "success",
            "{id} locally: {local}\n{local_err}"
        );
        assert_eq!(
            t["return_value"],
            task(&local, id)["return_value"],
            "{id} returns the same on Lambda and on localhost"
        );
    }
    let value = |id: &str| task(&lambda, id)["return_value"].clone();
    assert_eq!(value("add_task_2"), 8);
    assert_eq!(value("map_task"), serde_json::json!([2, 3, 4]));
    assert_eq!(value("reduce_remote"), 60);
    assert_eq!(value("reduce_local"), 50);
    assert_eq!(value("ids"), serde_json::json!([[0, 10], [1, 20], [2, 30]]));
    assert_eq!(
        value("remote"),
        serde_json::json!([101, 102, 103, 104, 105, 106, 107, 108])
    );
    assert_eq!(value("remote_reduce"), 9);
    // A reducer waiting remotely holds no invocation slot, even when there is only one.
    assert_eq!(value("one_slot"), 9);
    assert_eq!(value("env"), "hello from the task");
    assert_eq!(value("included"), 42);
    // One reducer per object: 100 lines, and 38 (the last without a newline).
    assert_eq!(value("objects"), serde_json::json!([100, 38]));

    // The modules went up once per distinct archive, by content hash: the DAG folder's,
    // and the DAG folder's with extra_pkg for `included`.
    let modules = s.boto(&format!(
        "print(len([o for o in s3.list_objects_v2(Bucket='{BUCKET}', Prefix='lithoflow.modules/').get('Contents', [])]))"
    ));
    assert_eq!(modules.trim(), "2");
    // The runtime was deployed on first use, for the default 256 MB.
    let functions = s.boto("print([f['FunctionName'] for f in lam.list_functions()['Functions']])");
    assert!(functions.contains(&function_name(256)), "{functions}");
}

const EDGES: &str = r#"
dag_id = "edges"

[tasks.exc]
type = "call_async"
func = "lamfuncs:boom"
data = { x = 7 }

[tasks.slow]
type = "call_async"
func = "lamfuncs:sleepy"
data = { s = 120 }
timeout = 1

[tasks.big]
type = "call_async"
func = "lamfuncs:big"
data = { mb = 7 }

[tasks.big_len_local]
type = "call_async"
func = "lamfuncs:length"
data_from_task = { s = "big" }
lithops_config = { backend = "localhost" }

[tasks.too_large]
type = "call_async"
func = "lamfuncs:length"
data_from_task = { s = "big" }

[tasks.failing_map]
type = "map_reduce"
map_function = "lamfuncs:maybe"
reduce_function = "lamfuncs:total"
map_iterdata = [1, 2, 3]
"#;

#[test]
fn failures_limits_and_large_results_on_lambda() {
    let s = Setup::new(&lambda_config(true));
    s.dag("edges", EDGES);
    let (doc, stderr, _) = s.dags_test("edges");
    let ctx = || {
        format!(
            "{doc}\nstderr:\n{stderr}\nemulator:\n{}",
            tail(&s.emu.log())
        )
    };

    // A user exception comes back with its type, message and remote traceback (the
    // emulator itself would only say Runtime.HandlerError).
    assert_eq!(state(&doc, "exc"), "failed", "{}", ctx());
    let e = error(&doc, "exc");
    assert!(e.contains("raised ValueError: bad value 7"), "{e}");
    assert!(e.contains("Traceback (most recent call last)"), "{e}");
    assert!(e.contains("lamfuncs.py") && e.contains("in boom"), "{e}");
    assert!(!e.contains("lithoflow_runtime.py"), "only user frames: {e}");

    // The call's timeout stops it on Lambda, long before the function would finish.
    assert_eq!(state(&doc, "slow"), "failed", "{}", ctx());
    let e = error(&doc, "slow");
    assert!(e.contains("timeout of 1s"), "{e}");
    assert!(e.contains("in sleepy"), "where it was stopped: {e}");
    let took = task(&doc, "slow")["duration_s"]
        .as_f64()
        .unwrap_or(f64::MAX);
    // Stopped, not run to its end: far under the 120 s it sleeps, however slowly a busy
    // machine starts the function (16.8 s once, when this limit was 15 s).
    assert!(
        took < 90.0,
        "the call was stopped at its timeout, took {took}s"
    );

    // A 7 MB result does not fit Lambda's 6 MB response: it comes back through S3, whole.
    assert_eq!(state(&doc, "big"), "success", "{}", ctx());
    assert_eq!(state(&doc, "big_len_local"), "success", "{}", ctx());
    assert_eq!(task(&doc, "big_len_local")["return_value"], 7 * 1024 * 1024);
    let outputs = s.boto(&format!(
        "print(len([o for p in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}', Prefix='lithoflow.jobs/edges/') for o in p.get('Contents', []) if o['Key'].endswith('/output.json')]))"
    ));
    assert_eq!(outputs.trim(), "1", "the big result went through S3");

    // ... but as the request of a Lambda call it is over the real 6 MB limit, which
    // lithoflow enforces itself (the emulator has no limit).
    assert_eq!(state(&doc, "too_large"), "failed", "{}", ctx());
    let e = error(&doc, "too_large");
    assert!(
        e.contains("7.0 MB") && e.contains("at most 6.0 MB") && e.contains("synchronous"),
        "{e}"
    );

    // A failed map call fails the map_reduce with its own error, and the reducer, which
    // was already waiting remotely, is told to stop.
    assert_eq!(state(&doc, "failing_map"), "failed", "{}", ctx());
    let e = error(&doc, "failing_map");
    assert!(e.contains("RuntimeError: two is bad"), "{e}");
    assert!(
        task(&doc, "failing_map")["duration_s"]
            .as_f64()
            .unwrap_or(f64::MAX)
            < 30.0,
        "the waiting reducer did not hold the task"
    );
}

const ASYNC: &str = r#"
dag_id = "detached"

[tasks.maps]
type = "map"
map_function = "lamfuncs:add"
map_iterdata = [1, 2, 3]
extra_params = { y = 10 }
async_invoke = true

[tasks.remote]
type = "map"
map_function = "lamfuncs:add"
map_iterdata = [1, 2, 3, 4]
extra_params = { y = 20 }
async_invoke = true
remote_invocation = true

[tasks.large_event]
type = "call_async"
func = "lamfuncs:length"
data = { s = "" }
async_invoke = true
"#;

#[test]
fn async_invoke_uses_event_invocations_followed_through_s3() {
    let s = Setup::new(&lambda_config(true));
    // A 300 KB argument, over the 256 KB limit of an Event invocation.
    let large = "y".repeat(300 * 1024);
    s.dag(
        "detached",
        &ASYNC.replace(
            "data = { s = \"\" }",
            &format!("data = {{ s = \"{large}\" }}"),
        ),
    );
    for task_id in ["maps", "remote"] {
        let (doc, stderr) = s.tasks_test("detached", task_id);
        assert_eq!(doc["state"], "success", "{doc}\n{stderr}");
        let reference = &doc["return_value"];
        assert!(
            reference["status_location"]
                .as_str()
                .is_some_and(|l| l.starts_with(&format!("s3://{BUCKET}/lithoflow.jobs/detached/"))),
            "{reference}"
        );
        let (results, values) = s.call_results("detached", task_id, &stderr);
        let expected: Vec<Value> = match task_id {
            "maps" => vec![11.into(), 12.into(), 13.into()],
            _ => vec![21.into(), 22.into(), 23.into(), 24.into()],
        };
        assert_eq!(values, expected, "{results}\n{stderr}");
    }
    // Each asynchronous call wrote its start mark and its status.
    let marks = s.boto(&format!(
        "keys = [o['Key'] for p in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}', Prefix='lithoflow.jobs/detached/') for o in p.get('Contents', []) if '/maps/1/' in o['Key']]\n\
         print(sum(k.endswith('/init') for k in keys), sum(k.endswith('/status.json') and '/map/' in k for k in keys))"
    ));
    assert_eq!(marks.trim(), "3 3", "{marks}");

    // An Event invocation's request is limited to 256 KB.
    let (doc, stderr) = s.tasks_test("detached", "large_event");
    assert_eq!(
        doc["state"], "success",
        "the task only hands the call over: {doc}"
    );
    let results = s
        .job_file("detached", "large_event", "results.json")
        .unwrap_or_else(|| panic!("results\n{stderr}"));
    let message = results[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at most 256.0 KB") && message.contains("async_invoke"),
        "{results}"
    );
}

#[test]
fn throttling_is_retried_and_a_call_that_never_starts_fails_after_its_timeout() {
    let s = Setup::new(&lambda_config(true));
    s.run_ok(&["runtime", "deploy"]);
    let name = function_name(256);

    // One invocation at a time: the others are throttled (HTTP 429) and retried.
    s.boto(&format!(
        "lam.put_function_concurrency(FunctionName='{name}', ReservedConcurrentExecutions=1)"
    ));
    s.dag(
        "throttled",
        "dag_id = \"throttled\"\n[tasks.m]\ntype = \"map\"\nmap_function = \"lamfuncs:sleepy\"\nmap_iterdata = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]\ninvoke_pool_threads = 6\n",
    );
    let (doc, stderr, _) = s.dags_test("throttled");
    assert_eq!(state(&doc, "m"), "success", "{doc}\n{stderr}");
    assert_eq!(
        task(&doc, "m")["return_value"],
        serde_json::json!([0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    );
    assert!(
        stderr.contains("TooManyRequestsException") && stderr.contains("retrying"),
        "the throttling was seen and retried:\n{stderr}"
    );

    // No concurrency at all: Lambda accepts Event invocations but never runs them; the
    // call fails once its timeout (plus a grace period) has passed.
    s.boto(&format!(
        "lam.put_function_concurrency(FunctionName='{name}', ReservedConcurrentExecutions=0)"
    ));
    s.dag(
        "never",
        "dag_id = \"never\"\n[tasks.a]\ntype = \"call_async\"\nfunc = \"lamfuncs:add\"\ndata = { x = 1, y = 2 }\nasync_invoke = true\ntimeout = 1\n",
    );
    let started = Instant::now();
    let (doc, stderr) = s.tasks_test("never", "a");
    assert_eq!(doc["state"], "success", "{doc}\n{stderr}");
    let results = s
        .job_file("never", "a", "results.json")
        .unwrap_or_else(|| panic!("results\n{stderr}"));
    let e = &results[0]["error"];
    assert_eq!(e["kind"], "timeout", "{results}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("never started")),
        "{results}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn throttling_and_server_errors_from_lambda_are_retried_and_no_call_is_lost_or_doubled() {
    let s = Setup::new(&lambda_config(true));
    let proxy = FaultProxy::start(&s.emu.endpoint());
    s.set_config(&format!(
        "{}endpoint_url = \"{}\"\n",
        lambda_config(true),
        proxy.endpoint()
    ));
    s.run_ok(&["runtime", "deploy"]);
    // The deploy's own check (one `ping` invocation).
    let pings = proxy.stats()["forwarded_by_type"]["RequestResponse"]
        .as_u64()
        .unwrap_or(0);

    // Synchronous invocations: 429s and 5xx answered by the proxy (the function never runs
    // for them), then the calls pass.
    let faults = [429, 429, 500, 429, 503, 502, 429, 429, 500, 429];
    proxy.inject(&faults);
    s.dag(
        "faulty",
        "dag_id = \"faulty\"\n[tasks.m]\ntype = \"map\"\nmap_function = \"lamfuncs:ident\"\nmap_iterdata = [10, 11, 12, 13, 14, 15, 16, 17]\ninvoke_pool_threads = 8\n\n[tasks.detached]\ntype = \"map\"\nmap_function = \"lamfuncs:ident\"\nmap_iterdata = [20, 21, 22, 23, 24]\nasync_invoke = true\ninvoke_pool_threads = 5\n",
    );
    let (doc, stderr) = s.tasks_test("faulty", "m");
    assert_eq!(doc["state"], "success", "{doc}\n{stderr}");
    assert_eq!(
        doc["return_value"],
        serde_json::json!([
            [0, 10],
            [1, 11],
            [2, 12],
            [3, 13],
            [4, 14],
            [5, 15],
            [6, 16],
            [7, 17]
        ]),
        "every call answered once, in order:\n{stderr}"
    );
    let stats = proxy.stats();
    assert_eq!(stats["faults_served"], faults.len(), "{stats}");
    assert_eq!(
        stats["forwarded_by_type"]["RequestResponse"],
        pings + 8,
        "each call reached the function exactly once: {stats}"
    );
    for (error_type, status) in [("TooManyRequestsException", 429), ("ServiceException", 500)] {
        assert!(
            stderr.contains(error_type) || stderr.contains(&status.to_string()),
            "the {status}s were reported as retried:\n{stderr}"
        );
    }
    assert!(stderr.contains("retrying"), "{stderr}");

    // Event invocations (async_invoke): the same, followed through S3 to their results.
    let faults = [429, 500, 429, 429, 503, 429];
    proxy.inject(&faults);
    let (doc, stderr) = s.tasks_test("faulty", "detached");
    assert_eq!(doc["state"], "success", "{doc}\n{stderr}");
    let (results, values) = s.call_results("faulty", "detached", &stderr);
    assert_eq!(
        values,
        serde_json::json!([[0, 20], [1, 21], [2, 22], [3, 23], [4, 24]])
            .as_array()
            .expect("array")
            .clone(),
        "{results}\n{stderr}"
    );
    let stats = proxy.stats();
    assert_eq!(stats["faults_served"], 10 + faults.len(), "{stats}");
    assert_eq!(stats["forwarded_by_type"]["Event"], 5, "{stats}");
}

#[test]
fn validate_warns_about_aws_settings_missing_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let dag = dir.path().join("aws.toml");
    std::fs::write(
        &dag,
        "dag_id = \"aws\"\n\n[lithops_config]\nbackend = \"aws_lambda\"\n\n[tasks.t]\ntype = \"call_async\"\nfunc = \"m:f\"\n\n[tasks.u]\ntype = \"call_async\"\nfunc = \"m:f\"\nlithops_config = { storage = \"aws_s3\", backend = \"localhost\" }\n",
    )
    .expect("write");
    let run = |home: &Path| {
        let out = lithoflow()
            .env("LITHOFLOW_HOME", home)
            .args(["dags", "validate"])
            .arg(&dag)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "warnings do not make the file invalid"
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(home.path());
    let at = |line: &str| {
        text.lines()
            .filter(|l| l.contains(line) && l.contains(": warning: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let backend = at("aws.toml:4:1");
    assert!(backend.contains("add `storage = \"aws_s3\"`"), "{text}");
    assert!(
        backend.contains("`storage_bucket = \"<bucket>\"` under [aws_s3]"),
        "{text}"
    );
    assert!(backend.contains("`execution_role = "), "{text}");
    assert!(
        at("aws.toml:13:20").contains("`storage = \"aws_s3\"` needs a bucket"),
        "{text}"
    );
    assert!(text.contains("(0 errors, 4 warnings)"), "{text}");

    // With the keys in the home config, nothing to warn about.
    std::fs::write(home.path().join("lithoflow.toml"), lambda_config(true)).expect("write");
    let text = run(home.path());
    assert!(text.contains("(0 errors, 0 warnings)"), "{text}");
}

/// The docs page exists and names what it must.
#[test]
fn the_lambda_docs_cover_setup_limits_and_the_emulator() {
    let doc = std::fs::read_to_string(repo_root().join("docs/aws-lambda.md"))
        .expect("docs/aws-lambda.md");
    for needle in [
        "execution_role",
        "storage_bucket",
        "lithoflow runtime deploy",
        "remote_invocation",
        "reducer_wait_local",
        "6 MB",
        "256 KB",
        "ministack",
    ] {
        assert!(doc.contains(needle), "docs/aws-lambda.md mentions {needle}");
    }
}

/// A home whose config runs everything on this machine.
fn localhost_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        home.path().join("lithoflow.toml"),
        "[lithops]\nbackend = \"localhost\"\nstorage = \"localhost\"\n",
    )
    .expect("config");
    home
}

/// A DAG file switched to Lambda by its `[lithops_config]` only: the table's `backend`
/// and `storage` become `aws_lambda` and `aws_s3` (the table is added when the file has
/// none), and `[lithops_config.aws_s3]` names the bucket. Nothing else changes.
fn switch_to_lambda(text: &str) -> String {
    const SWITCHED: &str = "backend = \"aws_lambda\"\nstorage = \"aws_s3\"\n";
    let mut out = String::new();
    let (mut in_config, mut had_config) = (false, false);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_config = trimmed == "[lithops_config]";
            if in_config {
                had_config = true;
                out.push_str(line);
                out.push('\n');
                out.push_str(SWITCHED);
                continue;
            }
        }
        let key = trimmed.split('=').next().unwrap_or_default().trim();
        if in_config && (key == "backend" || key == "storage") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !had_config {
        out.push_str("\n[lithops_config]\n");
        out.push_str(SWITCHED);
    }
    out.push_str(&format!(
        "\n[lithops_config.aws_s3]\nstorage_bucket = \"{BUCKET}\"\n"
    ));
    out
}

/// Copies every example DAG of `dags/` and `dags/my_functions.py` into `dir`, switched
/// to Lambda with `lambda`; returns the DAG ids, checked to load without errors and,
/// switched, to ask for aws_lambda and aws_s3 with the bucket.
fn copy_examples(dir: &Path, lambda: bool) -> Vec<String> {
    use lithoflow_executor::config::{Backend, StorageBackend};
    use lithoflow_scheduler::dagbag::DagBag;

    let examples = repo_root().join("dags");
    std::fs::copy(
        examples.join("my_functions.py"),
        dir.join("my_functions.py"),
    )
    .expect("copy my_functions.py");
    let mut copied = 0;
    for entry in std::fs::read_dir(&examples).expect("dags/ is readable") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read example");
        let text = if lambda {
            switch_to_lambda(&text)
        } else {
            text
        };
        std::fs::write(dir.join(path.file_name().expect("name")), text).expect("write");
        copied += 1;
    }
    assert!(
        copied >= 4,
        "expected the four example DAGs, found {copied}"
    );

    let bag = DagBag::load_folder(dir).expect("the copy is readable");
    let mut ids = Vec::new();
    for f in &bag.files {
        let text: String = f.diagnostics.iter().map(ToString::to_string).collect();
        assert!(!f.has_errors(), "{}:\n{text}", f.path.display());
        let dag = f
            .dag()
            .unwrap_or_else(|| panic!("{} loads:\n{text}", f.path.display()));
        if lambda {
            let c = &dag.lithops_config;
            assert_eq!(c.effective_backend(), Backend::AwsLambda, "{}", dag.dag_id);
            assert_eq!(
                c.effective_storage(),
                StorageBackend::AwsS3,
                "{}",
                dag.dag_id
            );
            assert_eq!(c.storage_bucket.as_deref(), Some(BUCKET), "{}", dag.dag_id);
        }
        ids.push(dag.dag_id.clone());
    }
    ids.sort();
    ids
}

/// What must be identical between two runs of a DAG: the run's state and, per task,
/// its state, try number, return value and error.
fn comparable(doc: &Value) -> Value {
    let tasks: Vec<Value> = doc["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("tasks in {doc}"))
        .iter()
        .map(|t| {
            serde_json::json!({
                "task_id": t["task_id"],
                "state": t["state"],
                "try_number": t["try_number"],
                "return_value": t["return_value"],
                "error": t["error"],
            })
        })
        .collect();
    serde_json::json!({"dag_id": doc["dag_id"], "state": doc["state"], "tasks": tasks})
}

#[test]
fn the_example_dags_switched_to_lambda_by_their_lithops_config_return_the_same() {
    // The home only grants the execution role: the DAG files themselves switch backend.
    let s = Setup::new(&format!("[aws_lambda]\nexecution_role = \"{ROLE}\"\n"));
    let original = tempfile::tempdir().expect("tempdir");
    let ids = copy_examples(original.path(), false);
    let switched = copy_examples(s.dags.path(), true);
    assert_eq!(ids, switched);
    let local_home = localhost_home();

    let mut lambda_docs = Vec::new();
    for id in &ids {
        let (local, local_err, _) = s.dags_test_in(local_home.path(), original.path(), id);
        let (lambda, lambda_err, _) = s.dags_test(id);
        let ctx = || {
            format!(
                "localhost:\n{local}\n{local_err}\nLambda:\n{lambda}\n{lambda_err}\nemulator:\n{}",
                s.emu_tail()
            )
        };
        assert_eq!(local["state"], "success", "{id}: {}", ctx());
        for t in local["tasks"].as_array().expect("tasks") {
            assert_eq!(t["state"], "success", "{id}: {}", ctx());
        }
        assert_eq!(
            comparable(&lambda),
            comparable(&local),
            "{id} returns the same on Lambda as on localhost: {}",
            ctx()
        );
        lambda_docs.push((id.clone(), lambda));
    }

    // What the examples' comments say they return.
    let value = |dag: &str, task_id: &str| {
        let (_, doc) = lambda_docs
            .iter()
            .find(|(id, _)| id == dag)
            .unwrap_or_else(|| panic!("no example {dag} among {ids:?}"));
        task(doc, task_id)["return_value"].clone()
    };
    assert_eq!(value("call_async_example", "add_task_1"), 4);
    assert_eq!(value("call_async_example", "add_task_2"), 8);
    assert_eq!(
        value("map_example", "map_task"),
        serde_json::json!([2, 3, 4])
    );
    assert_eq!(value("map_reduce_example", "mapreduce_task"), 24);
    assert_eq!(value("lithops_example", "add_task_2"), 8);
    assert_eq!(
        value("lithops_example", "map_task"),
        serde_json::json!([2, 3, 4])
    );
    assert_eq!(value("lithops_example", "mapreduce_task"), 60);

    // The switched copies really ran on Lambda: each left its job data in the bucket,
    // and the default runtime was deployed on first use.
    let prefixes = s.boto(&format!(
        "keys = [o['Key'] for p in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}', Prefix='lithoflow.jobs/') for o in p.get('Contents', [])]\n\
         print(json.dumps(sorted(set(k.split('/')[1] for k in keys))))"
    ));
    let prefixes: Value = serde_json::from_str(prefixes.trim()).expect("json");
    assert_eq!(
        prefixes,
        serde_json::json!(ids),
        "every example left job data in S3:\n{}",
        s.emu_tail()
    );
    let functions = s.boto("print([f['FunctionName'] for f in lam.list_functions()['Functions']])");
    assert!(functions.contains(&function_name(256)), "{functions}");
}

const NO_RESULT: &str = r#"
dag_id = "no_result"

[tasks.call]
type = "call_async"
func = "lamfuncs:add"
data = { x = 1, y = 2 }
get_result = false

[tasks.mapped]
type = "map"
map_function = "lamfuncs:add"
map_iterdata = [1, 2, 3]
extra_params = { y = 10 }
get_result = false

[tasks.reduced]
type = "map_reduce"
map_function = "lamfuncs:add"
reduce_function = "lamfuncs:total"
map_iterdata = [1, 2, 3]
extra_params = { y = 1 }
get_result = false

[tasks.reduced_local]
type = "map_reduce"
map_function = "lamfuncs:add"
reduce_function = "lamfuncs:total"
map_iterdata = [1, 2, 3]
extra_params = { y = 1 }
reducer_wait_local = true
get_result = false
"#;

#[test]
fn get_result_false_on_lambda_returns_the_job_reference_as_on_localhost() {
    let s = Setup::new(&lambda_config(true));
    s.dag("no_result", NO_RESULT);
    let local_home = localhost_home();
    let (local, local_err, _) = s.dags_test_with(local_home.path(), "no_result");
    let (lambda, lambda_err, _) = s.dags_test("no_result");
    let ctx = || {
        format!(
            "localhost:\n{local}\n{local_err}\nLambda:\n{lambda}\n{lambda_err}\nemulator:\n{}",
            s.emu_tail()
        )
    };
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    // What each job's calls returned, without their durations.
    let call_results = |results: &Value| -> Vec<Value> {
        results
            .as_array()
            .unwrap_or_else(|| panic!("results.json is a list: {results}"))
            .iter()
            .map(|r| serde_json::json!([r["phase"], r["index"], r["result"], r["error"]]))
            .collect()
    };
    for (task_id, expected) in [
        ("call", serde_json::json!([["call", 0, 3, null]])),
        (
            "mapped",
            serde_json::json!([
                ["map", 0, 11, null],
                ["map", 1, 12, null],
                ["map", 2, 13, null]
            ]),
        ),
        ("reduced", Value::Null),
        ("reduced_local", Value::Null),
    ] {
        assert_eq!(state(&local, task_id), "success", "{task_id}: {}", ctx());
        assert_eq!(state(&lambda, task_id), "success", "{task_id}: {}", ctx());
        let local_ref = &task(&local, task_id)["return_value"];
        let lambda_ref = &task(&lambda, task_id)["return_value"];
        // The XCom is the job reference, with the same fields as on localhost, not the
        // results.
        assert_eq!(
            keys(lambda_ref),
            ["calls", "job_id", "job_key", "status_location"],
            "{task_id}: {}",
            ctx()
        );
        assert_eq!(keys(lambda_ref), keys(local_ref), "{task_id}: {}", ctx());
        assert_eq!(
            lambda_ref["calls"],
            local_ref["calls"],
            "{task_id}: as many calls: {}",
            ctx()
        );
        let location = lambda_ref["status_location"].as_str().unwrap_or_default();
        assert!(
            location.starts_with(&format!("s3://{BUCKET}/lithoflow.jobs/no_result/"))
                && location.ends_with("/status.json"),
            "{task_id}: {}",
            ctx()
        );

        // The reference leads to the job's status and results, in S3 as they are in
        // the local folder on localhost.
        let status = s.s3_json(location);
        assert_eq!(status["state"], "success", "{task_id}: {status}");
        let local_location = local_ref["status_location"].as_str().unwrap_or_default();
        let local_status: Value = serde_json::from_str(
            &std::fs::read_to_string(local_location)
                .unwrap_or_else(|e| panic!("{task_id}: {local_location}: {e}")),
        )
        .expect("json");
        assert_eq!(
            status["total"], local_status["total"],
            "{task_id}: {status}"
        );
        assert_eq!(status["failed"], 0, "{task_id}: {status}");
        let results = s.s3_json(&location.replace("/status.json", "/results.json"));
        let local_results: Value = serde_json::from_str(
            &std::fs::read_to_string(local_location.replace("status.json", "results.json"))
                .expect("local results.json"),
        )
        .expect("json");
        assert_eq!(
            call_results(&results),
            call_results(&local_results),
            "{task_id}: the same call results in the job's data: {}",
            ctx()
        );
        if !expected.is_null() {
            assert_eq!(Value::Array(call_results(&results)), expected, "{task_id}");
        }
    }
    // Both map_reduce jobs reduced [2, 3, 4] to 9 in the job's data.
    for task_id in ["reduced", "reduced_local"] {
        let location = task(&lambda, task_id)["return_value"]["status_location"]
            .as_str()
            .unwrap_or_default()
            .replace("/status.json", "/results.json");
        let results = s.s3_json(&location);
        let reduce: Vec<&Value> = results
            .as_array()
            .expect("results")
            .iter()
            .filter(|r| r["phase"] == "reduce")
            .collect();
        assert_eq!(reduce.len(), 1, "{task_id}: {results}");
        assert_eq!(reduce[0]["result"], 9, "{task_id}: {results}");
    }
}

const MEMORY: &str = r#"
dag_id = "memory"

[tasks.default_size]
type = "call_async"
func = "lamfuncs:where"
data = { x = 0 }

[tasks.sized]
type = "call_async"
func = "lamfuncs:where"
data = { x = 1 }
runtime_memory = 512

[tasks.sized_by_config]
type = "call_async"
func = "lamfuncs:where"
data = { x = 2 }
lithops_config = { runtime_memory = 768 }

[tasks.sized_map]
type = "map"
map_function = "lamfuncs:where"
map_iterdata = [1, 2]
runtime_memory = 1024

[tasks.remote_sized]
type = "map"
map_function = "lamfuncs:where"
map_iterdata = [1, 2, 3]
runtime_memory = 896
remote_invocation = true

[tasks.split]
type = "map_reduce"
map_function = "lamfuncs:where"
reduce_function = "lamfuncs:where_reduce"
map_iterdata = [1, 2, 3]
map_runtime_memory = 384
reduce_runtime_memory = 640

[tasks.split_local]
type = "map_reduce"
map_function = "lamfuncs:where"
reduce_function = "lamfuncs:where_reduce"
map_iterdata = [1, 2, 3]
map_runtime_memory = 384
reduce_runtime_memory = 640
reducer_wait_local = true

[tasks.fallback]
type = "map_reduce"
map_function = "lamfuncs:where"
reduce_function = "lamfuncs:where_reduce"
map_iterdata = [1, 2]
runtime_memory = 1536
reduce_runtime_memory = 640
"#;

#[test]
fn runtime_memory_picks_the_function_each_call_runs_on() {
    let s = Setup::new(&lambda_config(true));
    s.dag("memory", MEMORY);
    let (doc, stderr, _) = s.dags_test("memory");
    let ctx = || format!("{doc}\nstderr:\n{stderr}\nemulator:\n{}", s.emu_tail());
    for t in doc["tasks"].as_array().expect("tasks") {
        assert_eq!(t["state"], "success", "{}", ctx());
    }
    // Each call says which function it ran in (AWS_LAMBDA_FUNCTION_NAME).
    let on = |mb: u64, x: u64| serde_json::json!({"x": x, "function": function_name(mb)});
    let value = |id: &str| task(&doc, id)["return_value"].clone();
    assert_eq!(value("default_size"), on(256, 0), "{}", ctx());
    assert_eq!(value("sized"), on(512, 1), "{}", ctx());
    assert_eq!(value("sized_by_config"), on(768, 2), "{}", ctx());
    assert_eq!(
        value("sized_map"),
        serde_json::json!([on(1024, 1), on(1024, 2)]),
        "{}",
        ctx()
    );
    assert_eq!(
        value("remote_sized"),
        serde_json::json!([on(896, 1), on(896, 2), on(896, 3)]),
        "remote invocation: {}",
        ctx()
    );
    // map_runtime_memory and reduce_runtime_memory pick each phase's function, whether
    // the reducer waits remotely or locally; a phase without its own size takes the
    // task's runtime_memory.
    let reduced = |map_mb: u64, reduce_mb: u64, xs: &[u64]| {
        serde_json::json!({
            "maps": xs.iter().map(|&x| on(map_mb, x)).collect::<Vec<_>>(),
            "function": function_name(reduce_mb),
        })
    };
    assert_eq!(value("split"), reduced(384, 640, &[1, 2, 3]), "{}", ctx());
    assert_eq!(
        value("split_local"),
        reduced(384, 640, &[1, 2, 3]),
        "reducer_wait_local: {}",
        ctx()
    );
    assert_eq!(value("fallback"), reduced(1536, 640, &[1, 2]), "{}", ctx());

    // Exactly the functions the sizes name were deployed, each with its memory.
    let out = s.run_ok(&["runtime", "list", "-o", "json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut names: Vec<String> = Vec::new();
    for row in listed.as_array().expect("rows") {
        let name = row["name"].as_str().unwrap_or_default().to_owned();
        let mb = row["memory_mb"].as_u64().unwrap_or_default();
        assert_eq!(name, function_name(mb), "{row}");
        assert_eq!(row["current"], true, "{row}");
        names.push(name);
    }
    names.sort();
    let mut expected: Vec<String> = [256, 384, 512, 640, 768, 896, 1024, 1536]
        .into_iter()
        .map(function_name)
        .collect();
    expected.sort();
    assert_eq!(names, expected, "{listed}\n{}", ctx());
}

#[test]
fn python_tasks_run_on_lambda_with_airflows_arguments_and_context() {
    let s = Setup::new(&lambda_config(true));
    s.run_ok(&["runtime", "deploy"]);
    s.dag(
        "airflowish",
        "dag_id = \"airflowish\"\n\
         [tasks.start]\ntype = \"empty\"\n\n\
         [tasks.first]\ntype = \"python\"\npython_callable = \"lamfuncs:add\"\nop_args = [1, 2]\nupstream = [\"start\"]\n\n\
         [tasks.second]\ntype = \"python\"\npython_callable = \"lamfuncs:where\"\nop_kwargs_from_task = { x = \"first\" }\n\n\
         [tasks.pick]\ntype = \"branch\"\npython_callable = \"lamfuncs:ident_branch\"\nop_args = [\"yes\"]\nupstream = [\"second\"]\n\n\
         [tasks.yes]\ntype = \"bash\"\nbash_command = \"echo {{ ds }}\"\nupstream = [\"pick\"]\n\n\
         [tasks.no]\ntype = \"empty\"\nupstream = [\"pick\"]\n",
    );
    std::fs::write(
        s.dags.path().join("lamfuncs.py"),
        format!("{FUNCS}\ndef ident_branch(choice, ds=None, **kwargs):\n    assert ds and 'run_id' in kwargs\n    return choice\n"),
    )
    .expect("write functions");
    let (doc, stderr, _) = s.dags_test("airflowish");
    assert_eq!(doc["state"], "success", "{doc}\n{stderr}");
    assert_eq!(task(&doc, "first")["return_value"], 3);
    let second = &task(&doc, "second")["return_value"];
    assert_eq!(second["x"], 3, "{second}");
    assert!(
        second["function"]
            .as_str()
            .is_some_and(|f| f.starts_with("lithoflow-runtime-")),
        "the python task ran on Lambda: {second}"
    );
    assert_eq!(state(&doc, "yes"), "success");
    assert_eq!(state(&doc, "no"), "skipped");
    assert_eq!(
        task(&doc, "yes")["return_value"].as_str().map(str::len),
        Some(10)
    );
}
