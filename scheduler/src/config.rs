//! lithoflow's own configuration: the home folder (`LITHOFLOW_HOME`, default
//! `~/.lithoflow`) and its `lithoflow.toml`, which holds executor settings under Lithops'
//! section names (`[lithops]`, `[localhost]`, `[aws]`, `[aws_lambda]`, `[aws_s3]`).
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
        let executor = match std::fs::read_to_string(&path) {
            Ok(text) => parse_config(&path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ExecutorConfig::default(),
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
        };
        Ok(Settings {
            home: home.to_owned(),
            executor,
        })
    }

    /// The localhost storage folder.
    pub fn storage_dir(&self) -> PathBuf {
        self.home.join("storage")
    }
}

/// Parses the executor sections of a config file.
pub fn parse_config(path: &Path, text: &str) -> anyhow::Result<ExecutorConfig> {
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
    let mut problems = Vec::new();
    for (section, value) in doc.get_ref().iter() {
        let name = section.get_ref().as_ref();
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
    Ok(cfg)
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
}
