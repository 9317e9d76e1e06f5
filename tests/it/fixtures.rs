//! One fixture per kind of DAG error, each with a snapshot of the exact diagnostic text
//! that `lithoflow dags validate` prints for it.

use std::path::Path;

use lithoflow_scheduler::dagbag::{DagBag, load_file};

/// Renders every diagnostic of a fixture, with its path relative to `tests/`.
fn diagnostics_of(path: &Path) -> String {
    let relative = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .expect("fixture under tests/");
    // Integration tests run with the package folder as the working directory.
    let result = load_file(relative);
    result
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<String>()
}

#[test]
fn every_invalid_fixture_has_its_exact_diagnostics() {
    let mut count = 0;
    insta::glob!("../fixtures/invalid", "*.toml", |path| {
        count += 1;
        let text = diagnostics_of(path);
        assert!(
            text.contains(": error: "),
            "{} must be reported as an error:\n{text}",
            path.display()
        );
        insta::assert_snapshot!(text);
    });
    assert!(
        count >= 30,
        "expected at least 30 invalid fixtures, found {count}"
    );
}

#[test]
fn warnings_and_notes_do_not_make_a_file_invalid() {
    insta::glob!("../fixtures/warnings", "*.toml", |path| {
        let relative = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .expect("fixture under tests/");
        let result = load_file(relative);
        assert!(
            result.dag().is_some(),
            "{} should still load",
            path.display()
        );
        assert!(!result.has_errors());
        insta::assert_snapshot!(diagnostics_of(path));
    });
}

#[test]
fn a_dag_id_defined_twice_fails_the_second_file() {
    let bag = DagBag::load_folder(Path::new("fixtures/duplicate")).expect("readable");
    assert_eq!(bag.dags().len(), 1);
    assert_eq!(
        bag.dags()[0].fileloc,
        Path::new("fixtures/duplicate/first.toml")
    );
    let text: String = bag
        .files
        .iter()
        .flat_map(|f| &f.diagnostics)
        .map(ToString::to_string)
        .collect();
    insta::assert_snapshot!(text, @r#"
    fixtures/duplicate/second.toml:2:10: error: dag_id `etl` is already defined in fixtures/duplicate/first.toml; each DAG needs its own id
      |
    2 | dag_id = "etl"
      |          ^^^^^
    "#);
}
