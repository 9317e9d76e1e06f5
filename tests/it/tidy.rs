//! House rules that are cheaper to check than to review: every Rust file starts with a
//! `//!` comment, and no test is switched off with the ignore attribute.

use std::path::Path;

use crate::repo_root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("readable entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') || name == "target" || name == "fixtures" || name == "snapshots" {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_comment_and_nothing_is_ignored() {
    let mut files = Vec::new();
    for krate in ["scheduler", "executor", "tui", "tests", "bench"] {
        rust_files(&repo_root().join(krate), &mut files);
    }
    assert!(files.len() > 10);
    let ignore = ["#[", "ignore]"].concat();
    let dbg = ["dbg", "!("].concat();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable source");
        assert!(
            text.starts_with("//!"),
            "{} must start with a //! comment",
            f.display()
        );
        assert!(
            !text.contains(&ignore),
            "{} switches a test off",
            f.display()
        );
        assert!(
            !text.contains(&dbg),
            "{} has a leftover debug macro",
            f.display()
        );
    }
}
