//! The Python unit tests of the Airflow compatibility package and the worker and loader
//! sides (`executor/python/tests/`), run by the README's test command through this test:
//! `python3 -m unittest discover -s tests -t .` in `executor/python`, failing with its
//! output when any Python test fails.

use std::process::Command;

use crate::repo_root;

#[test]
fn the_python_unit_tests_of_the_compatibility_package_pass() {
    let dir = repo_root().join("executor/python");
    assert!(
        dir.join("tests").is_dir(),
        "{} holds the Python unit tests",
        dir.display()
    );
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python3 -m unittest failed in {}:\n{}\n{stderr}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    // unittest prints "Ran N tests"; none found would pass silently.
    assert!(
        !stderr.contains("Ran 0 tests"),
        "no Python test was found:\n{stderr}"
    );
}
