//! The process's logging: tracing's subscriber, installed once by the binary, to stderr
//! or (while the terminal UI owns the terminal) to a log file in the home.

use std::path::Path;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, LogFormat};

/// Sets up logging: to stderr, or, when the terminal UI will own the terminal, to its
/// log file without colours (`RUST_LOG`, else `LITHOFLOW_LOG`, else `info` for the file
/// and warnings only for stderr). A file that cannot be opened falls back to stderr.
pub fn init_logging(cli: &Cli) {
    let home = crate::config::Settings::home_from_env();
    let file = cli.tui_log_file(&home).and_then(|p| open_log(&p).ok());
    let Some(file) = file else {
        init_tracing(cli.log_format);
        return;
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter("info"))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file));
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Sets up logging to stderr: `RUST_LOG`, else `LITHOFLOW_LOG`, else warnings only.
pub fn init_tracing(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter("warn"))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// `RUST_LOG`, else `LITHOFLOW_LOG`, else `default` (also when the variable's filter does
/// not parse).
fn filter(default: &str) -> EnvFilter {
    std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("LITHOFLOW_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default))
}

/// Opens (appends to) a log file, creating its folder 0700.
pub fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::DirBuilderExt as _;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}
