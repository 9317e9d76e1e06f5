//! Apache Airflow's official Python clients against a real scheduler: every
//! `tests/airflow_clients/test_v1_*.py` runs with `apache-airflow-client` 2.10.0 (for
//! `/api/v1`), every `test_v2_*.py` with 3.1.8 (for `/api/v2`). The clients are installed
//! by `scripts/install-airflow-clients.sh` (one venv each, under the target directory);
//! the tests fail loudly when it cannot install them.
//!
//! Each file gets a home of its own, a copy of `tests/airflow_clients/dags/` as its DAGs
//! folder and its own `lithoflow scheduler`, then `<venv>/bin/python -m unittest -v
//! <file>` runs with the environment `tests/airflow_clients/common.py` documents. A new
//! `test_v*_*.py` file is picked up without touching this file. Files run a few at a
//! time; a failure prints the script's whole output and the end of the scheduler's log.
//!
//! `AIRFLOW_CLIENT_TEST_FILES=monitoring,dags` runs only the files whose name contains
//! one of those words; `AIRFLOW_CLIENT_TEST_JOBS` sets how many files run at once per
//! client (default 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::Env;
use crate::{lithoflow_path, repo_root};

/// The two venvs once installed: (v1 client venv, v2 client venv).
static CLIENTS: Mutex<Option<(PathBuf, PathBuf)>> = Mutex::new(None);

/// A script that has not ended after this long is killed and reported (a guard against
/// a hang; every wait inside the scripts is bounded far below it).
const HANG_GUARD: Duration = Duration::from_secs(900);

/// The target directory this test binary was built in (target/<profile>/deps/it-*).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Runs scripts/install-airflow-clients.sh once per test process; the venvs it printed.
fn clients() -> (PathBuf, PathBuf) {
    let mut done = CLIENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(c) = done.as_ref() {
        return c.clone();
    }
    let root = repo_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/install-airflow-clients.sh"))
        .env("AIRFLOW_CLIENTS_DIR", target_dir().join("airflow-clients"))
        .stdin(Stdio::null())
        .output()
        .expect("bash runs scripts/install-airflow-clients.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let venv = |api: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(api).and_then(|p| p.strip_prefix(' ')))
            .map(PathBuf::from)
            .filter(|p| p.join("bin/python").is_file())
    };
    let (Some(v1), Some(v2), true) = (venv("v1"), venv("v2"), out.status.success()) else {
        panic!(
            "installing Airflow's official clients failed (scripts/install-airflow-clients.sh, {}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    *done = Some((v1.clone(), v2.clone()));
    (v1, v2)
}

/// The scripts `tests/airflow_clients/test_<api>_*.py`, sorted, narrowed by
/// `AIRFLOW_CLIENT_TEST_FILES` when it is set.
fn scripts(api: &str) -> Vec<PathBuf> {
    let dir = repo_root().join("tests/airflow_clients");
    let prefix = format!("test_{api}_");
    let only: Vec<String> = std::env::var("AIRFLOW_CLIENT_TEST_FILES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/airflow_clients")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".py"))
        })
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            only.is_empty() || only.iter().any(|w| name.contains(w.as_str()))
        })
        .collect();
    found.sort();
    found
}

/// Copies a folder's files and subfolders (a DAG's helper package), without
/// `__pycache__`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("the fixture DAGs folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("a name");
        if path.is_dir() {
            if name != "__pycache__" {
                std::fs::create_dir_all(to.join(name)).expect("mkdir");
                copy_tree(&path, &to.join(name));
            }
        } else {
            std::fs::copy(&path, to.join(name)).expect("copy");
        }
    }
}

/// Runs one script against a scheduler of its own; its output when it fails.
fn run_script(venv: &Path, script: &Path) -> Result<(), String> {
    let name = script
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a file name")
        .to_owned();
    let env = Env::new();
    copy_tree(
        &repo_root().join("tests/airflow_clients/dags"),
        env.dags.path(),
    );
    let sched = env.start();
    let out_path = env.home().join("client-test.out");
    let out = std::fs::File::create(&out_path).expect("the script's output file");
    let dir = script.parent().expect("tests/airflow_clients");
    let mut child = Command::new(venv.join("bin/python"))
        .args(["-m", "unittest", "-v", &name])
        .current_dir(dir)
        .env("AIRFLOW_API", format!("http://127.0.0.1:{}", sched.port))
        .env("AIRFLOW_TOKEN", &sched.token)
        .env("LITHOFLOW_HOME", env.home())
        .env("LITHOFLOW_BIN", lithoflow_path())
        .env("DAGS_FOLDER", env.dags.path())
        .env("PYTHONPATH", dir)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("LITHOFLOW_DAGS_FOLDER")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("the script's output file"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} for {name}: {e}", venv.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if status.is_some_and(|s| s.success()) {
        return Ok(());
    }
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    let log = sched.log();
    let tail: Vec<&str> = log.lines().rev().take(80).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "==== {name} ({}) ====\n{output}\n---- the scheduler's log (last {} lines) ----\n{}\n",
        status.map_or_else(
            || format!("killed after {}s without ending", HANG_GUARD.as_secs()),
            |s| s.to_string()
        ),
        tail.len(),
        tail.join("\n")
    ))
}

/// Runs every `test_<api>_*.py` with the venv, a few at a time; fails with every
/// failing script's output.
fn run_all(api: &str, venv: &Path) {
    let files = scripts(api);
    if files.is_empty() && std::env::var_os("AIRFLOW_CLIENT_TEST_FILES").is_some() {
        return;
    }
    assert!(
        !files.is_empty(),
        "no tests/airflow_clients/test_{api}_*.py"
    );
    let jobs = std::env::var("AIRFLOW_CLIENT_TEST_JOBS")
        .ok()
        .and_then(|j| j.parse::<usize>().ok())
        .filter(|&j| j > 0)
        .unwrap_or(2);
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::default();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(files.len()) {
            s.spawn(|| {
                while let Some(file) = files.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if let Err(e) = run_script(venv, file) {
                        failures
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(e);
                    }
                }
            });
        }
    });
    let failures = failures
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(
        failures.is_empty(),
        "{} of {} official-client scripts failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn the_2_10_client_runs_every_test_v1_script_against_api_v1() {
    let (v1, _) = clients();
    run_all("v1", &v1);
}

#[test]
fn the_3_1_client_runs_every_test_v2_script_against_api_v2() {
    let (_, v2) = clients();
    run_all("v2", &v2);
}
