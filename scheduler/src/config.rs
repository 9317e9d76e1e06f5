//! lithoflow's own configuration: the home folder (`LITHOFLOW_HOME`, default
//! `~/.lithoflow`) and its `lithoflow.toml`, which holds executor settings under Lithops'
//! section names (`[lithops]`, `[localhost]`, `[aws]`, `[aws_lambda]`, `[aws_s3]`), and
//! the scheduler's local API settings (`[api] port`).
//!
//! Resolved once in the binary and passed down; nothing below reads the environment.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lithoflow_executor::ExecutorConfig;
use lithoflow_executor::config::{self as exec_config, ConfigValue};
use toml::de::{DeTable, DeValue};

use crate::diag::{Severity, Source};

/// Top-level sections of `lithoflow.toml` that are not executor settings.
const OTHER_SECTIONS: &[&str] = &["api"];

/// Where lithoflow keeps its state, logs and storage, and the settings read from there.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The lithoflow home.
    pub home: PathBuf,
    /// Executor settings from `lithoflow.toml` (the layer under a DAG's `[lithops_config]`).
    pub executor: ExecutorConfig,
    /// `[api] port`: the scheduler's API port on 127.0.0.1 (None: the default, 8793).
    pub api_port: Option<u16>,
}

impl Settings {
    /// The home folder from `LITHOFLOW_HOME`, else `~/.lithoflow`.
    pub fn home_from_env() -> PathBuf {
        if let Some(h) = std::env::var_os("LITHOFLOW_HOME").filter(|h| !h.is_empty()) {
            return PathBuf::from(h);
        }
        let base = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        base.join(".lithoflow")
    }

    /// Reads `<home>/lithoflow.toml` if it exists. Unknown keys are warnings (logged);
    /// values of the wrong type are errors naming file, line and column.
    pub fn load(home: &Path) -> anyhow::Result<Settings> {
        let path = home.join("lithoflow.toml");
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => parse_file(&path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
        };
        Ok(Settings {
            home: home.to_owned(),
            executor: file.executor,
            api_port: file.api_port,
        })
    }

    /// The localhost storage folder.
    pub fn storage_dir(&self) -> PathBuf {
        self.home.join("storage")
    }
}

/// What `lithoflow.toml` sets.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// The executor sections.
    pub executor: ExecutorConfig,
    /// `[api] port`.
    pub api_port: Option<u16>,
}

/// Parses the executor sections of a config file.
pub fn parse_config(path: &Path, text: &str) -> anyhow::Result<ExecutorConfig> {
    parse_file(path, text).map(|f| f.executor)
}

/// Parses a config file: the executor sections and `[api]`. Every value of the wrong
/// type is reported, each with file, line and column.
pub fn parse_file(path: &Path, text: &str) -> anyhow::Result<ConfigFile> {
    let src = Source::new(path, text);
    let (doc, errors) = DeTable::parse_recoverable(text);
    if let Some(e) = errors.first() {
        let d = src.diagnostic(
            Severity::Error,
            e.span().unwrap_or(0..0),
            format!("invalid TOML: {}", e.message()),
        );
        bail!("{}", d.headline());
    }
    let mut cfg = ExecutorConfig::default();
    let mut api_port = None;
    let mut problems = Vec::new();
    for (section, value) in doc.get_ref().iter() {
        let name = section.get_ref().as_ref();
        if name == "api" {
            api_port = parse_api(&src, text, value, &mut problems);
            continue;
        }
        if OTHER_SECTIONS.contains(&name) {
            continue;
        }
        let DeValue::Table(table) = value.get_ref() else {
            tracing::warn!(file = %path.display(), "unknown key `{name}` in the config; ignored");
            continue;
        };
        if !exec_config::CONFIG_SECTIONS.contains(&name) {
            tracing::warn!(file = %path.display(), "unknown section [{name}] in the config; ignored");
            continue;
        }
        for (k, v) in table.iter() {
            let key = k.get_ref().as_ref();
            let Some(ck) = exec_config::lookup_key(Some(name), key) else {
                if !exec_config::is_credential_key(key) {
                    tracing::warn!(file = %path.display(), "unknown key `{key}` in [{name}] of the config; ignored");
                }
                continue;
            };
            let value = match v.get_ref() {
                DeValue::String(s) => ConfigValue::Str(s.to_string()),
                DeValue::Boolean(b) => ConfigValue::Bool(*b),
                DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) => ConfigValue::Int(n),
                    Err(_) => ConfigValue::Str(i.to_string()),
                },
                other => ConfigValue::Str(format!("{other:?}")),
            };
            if let Err(e) = cfg.set(ck, value) {
                problems.push(
                    src.diagnostic(Severity::Error, v.span(), format!("`{name}.{key}`: {e}"))
                        .headline(),
                );
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(ConfigFile {
        executor: cfg,
        api_port,
    })
}

/// `[api]`: `port`, an integer from 0 to 65535 (0 picks a free port).
fn parse_api(
    src: &Source<'_>,
    text: &str,
    value: &toml::Spanned<DeValue<'_>>,
    problems: &mut Vec<String>,
) -> Option<u16> {
    let DeValue::Table(table) = value.get_ref() else {
        problems.push(
            src.diagnostic(
                Severity::Error,
                value.span(),
                "`api` must be a table (`[api]`)".to_owned(),
            )
            .headline(),
        );
        return None;
    };
    let mut port = None;
    for (k, v) in table.iter() {
        let key = k.get_ref().as_ref();
        if key != "port" {
            tracing::warn!(file = %src.path().display(), "unknown key `{key}` in [api] of the config; ignored");
            continue;
        }
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .and_then(|n| u16::try_from(n).ok()),
            _ => None,
        };
        match parsed {
            Some(p) => port = Some(p),
            None => problems.push(
                src.diagnostic(
                    Severity::Error,
                    v.span(),
                    format!(
                        "`api.port`: expected a port number from 0 to 65535, found {}",
                        text.get(v.span()).unwrap_or("?").trim()
                    ),
                )
                .headline(),
            ),
        }
    }
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lithops_sections_and_reports_bad_values_with_positions() {
        let cfg = parse_config(Path::new("c.toml"), "[localhost]\nworker_processes = 3\n[lithops]\nexecution_timeout = 60\n[api]\nport = 1\n")
            .expect("valid");
        assert_eq!(
            (cfg.worker_processes, cfg.execution_timeout),
            (Some(3), Some(60))
        );
        let err = parse_config(
            Path::new("c.toml"),
            "[localhost]\nworker_processes = \"many\"\n",
        )
        .expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "c.toml:2:20: error: `localhost.worker_processes`: expected a positive integer, found \"many\""
        );
    }

    #[test]
    fn reads_the_api_port_and_reports_a_bad_one_with_its_position() {
        let f = parse_file(Path::new("c.toml"), "[api]\nport = 0\n").expect("valid");
        assert_eq!(f.api_port, Some(0));
        let f =
            parse_file(Path::new("c.toml"), "[localhost]\nworker_processes = 2\n").expect("valid");
        assert_eq!(f.api_port, None);
        let err = parse_file(Path::new("c.toml"), "[api]\nport = 70000\n").expect_err("too big");
        assert_eq!(
            err.to_string(),
            "c.toml:2:8: error: `api.port`: expected a port number from 0 to 65535, found 70000"
        );
        let err = parse_file(Path::new("c.toml"), "[api]\nport = \"x\"\n").expect_err("text");
        assert_eq!(
            err.to_string(),
            "c.toml:2:8: error: `api.port`: expected a port number from 0 to 65535, found \"x\""
        );
        let err = parse_file(Path::new("c.toml"), "api = 3\n").expect_err("not a table");
        assert_eq!(
            err.to_string(),
            "c.toml:1:7: error: `api` must be a table (`[api]`)"
        );
    }
}
