//! lithoflow's end-to-end tests: one test binary (`it`) that drives the real `lithoflow`
//! binary and the library on the fixtures under `tests/fixtures/`.

mod cli;
mod examples;
mod executor;
mod fixtures;
mod proptests;
mod recovery;
mod runcli;
mod runs;
mod tidy;

use std::path::{Path, PathBuf};

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `lithoflow` binary built for this test run.
pub(crate) fn lithoflow() -> assert_cmd::Command {
    let mut cmd =
        assert_cmd::Command::cargo_bin("lithoflow").expect("the lithoflow binary is built");
    cmd.env_remove("LITHOFLOW_DAGS_FOLDER")
        .env_remove("RUST_LOG")
        .env_remove("LITHOFLOW_LOG");
    cmd
}
