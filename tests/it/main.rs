//! lithoflow's end-to-end tests: one test binary (`it`) that drives the real `lithoflow`
//! binary and the library on the fixtures under `tests/fixtures/`.

mod airflow_clients;
mod api;
mod api_writes;
mod assets;
mod batching;
mod callbacks;
mod cli;
mod compat_unit;
mod daemon;
mod emulator;
mod examples;
mod executor;
mod fault_proxy;
mod faults;
mod fixtures;
mod fuzz;
mod harness;
mod lambda;
mod lambda_restart;
mod logs;
mod mapping;
mod migrate;
mod migrate_loader;
mod pools;
mod proptests;
mod pydags;
mod pydags_run;
mod recovery;
mod retention;
mod runcli;
mod runs;
mod runtime;
mod s3;
mod schema;
mod secrets;
mod security;
mod sensors;
mod templates;
mod tidy;
mod timetable;
mod trigger_dag_run;
mod tui;
mod values;

use std::path::{Path, PathBuf};

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `lithoflow` binary of this build: `target/<profile>/lithoflow` beside this test
/// binary. Cargo builds it with `cargo build --workspace`, which the README's test command
/// runs first (a test crate cannot make cargo build another package's binary).
pub(crate) fn lithoflow_path() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/it-<hash> -> target/<profile>/lithoflow
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("lithoflow");
    assert!(
        bin.is_file(),
        "{} is missing: build it first with `cargo build --workspace` (the README's test command does)",
        bin.display()
    );
    bin
}

/// A command running the `lithoflow` binary.
pub(crate) fn lithoflow() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(lithoflow_path());
    cmd.env_remove("LITHOFLOW_DAGS_FOLDER")
        .env_remove("RUST_LOG")
        .env_remove("LITHOFLOW_LOG");
    cmd
}

/// A temporary folder for `LITHOFLOW_HOME`, private as the scheduler insists (mode 0700;
/// tempfile creates folders with the umask's mode).
pub(crate) fn private_home() -> tempfile::TempDir {
    tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("temp dir")
}
