//! Embeds lithoflow's Airflow compatibility package (`python/compat/`, every file but
//! `__pycache__`, compiled files and tests, plus the runtime's `lithoflow.py`) into the
//! executor, with a hash of its content that names the folder `compat::install` writes
//! it to.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join("compat");
    // A folder here makes cargo scan everything under it for changes.
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    if root.is_dir() {
        collect(&root, "", &mut files);
    }
    // The `lithoflow` module tasks import (`from lithoflow import Variable`): the loader
    // imports helper modules of the DAGs folder that use it, so it is part of the package.
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime/lithoflow.py");
    println!("cargo:rerun-if-changed={}", module.display());
    files.push(("lithoflow.py".to_owned(), module));
    files.sort();
    // FNV-1a (64 bits) over names and contents: stable across toolchains, enough to tell
    // two versions of the package apart.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let mut table = String::from("&[\n");
    for (name, path) in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        feed(name.as_bytes());
        feed(&[0]);
        feed(&(bytes.len() as u64).to_le_bytes());
        feed(&bytes);
        let _ = writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let code = format!(
        "/// Every file of the package: its path under the folder, and its bytes.\n\
         pub(crate) static FILES: &[(&str, &[u8])] = {table};\n\
         /// A hash of the package's names and contents.\n\
         pub(crate) const HASH: &str = \"{hash:016x}\";\n"
    );
    std::fs::write(out.join("compat_files.rs"), code).expect("write compat_files.rs");
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" || name == "tests" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), out);
        } else if !name.ends_with(".pyc") && !name.ends_with(".pyo") {
            out.push((format!("{prefix}{name}"), path));
        }
    }
}
