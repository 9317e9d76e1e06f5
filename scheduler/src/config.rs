//! lithoflow's own configuration: the home folder (`LITHOFLOW_HOME`, default
//! `~/.lithoflow`) and its `lithoflow.toml`, which holds executor settings under Lithops'
//! section names (`[lithops]`, `[localhost]`, `[aws]`, `[aws_lambda]`, `[aws_s3]`), and
//! the scheduler's local API settings (`[api] port`, `host`, `allow_non_loopback`), the
//! DAGs folder's (`[dags] include_paths`, `load_python`, `loader_processes`) and the
//! Airflow version of `.py` DAG files (`[airflow] default_version`).
//!
//! Resolved once in the binary and passed down; nothing below reads the environment.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lithoflow_executor::ExecutorConfig;
use lithoflow_executor::config::{self as exec_config, ConfigValue};
use toml::de::{DeTable, DeValue};

use lithoflow_dag::diag::{Severity, Source};

/// Top-level sections of `lithoflow.toml` that are not executor settings.
const OTHER_SECTIONS: &[&str] = &["api", "dags", "airflow"];

/// How long opening the state database waits for a lock that no live scheduler holds.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Where lithoflow keeps its state, logs and storage, and the settings read from there.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The lithoflow home.
    pub home: PathBuf,
    /// Executor settings from `lithoflow.toml` (the layer under a DAG's `[lithops_config]`).
    pub executor: ExecutorConfig,
    /// `[api] port`: the scheduler's API port on 127.0.0.1 (None: the default, 8793).
    pub api_port: Option<u16>,
    /// `[api] host`: the address the API binds (None: 127.0.0.1).
    pub api_host: Option<std::net::IpAddr>,
    /// `[api] allow_non_loopback`: whether `host` may be an address other hosts reach.
    pub allow_non_loopback: bool,
    /// `[dags] include_paths`: absolute folders outside the DAGs folder that DAG files may
    /// name in `include_modules` (by default none).
    pub include_paths: Vec<PathBuf>,
    /// `[dags] load_python`: whether Airflow DAG files (`.py`) in the DAGs folder are
    /// loaded (default true).
    pub load_python: bool,
    /// `[dags] loader_processes`: how many loader processes import `.py` DAG files at
    /// once (None: two, or one on a one-core machine).
    pub loader_processes: Option<usize>,
    /// `[dags] dagbag_import_timeout`: how long one `.py` DAG file may take to import
    /// (Airflow's `[core] dagbag_import_timeout`; None: 30 s).
    pub dagbag_import_timeout: Option<std::time::Duration>,
    /// `[airflow] default_version`: the Airflow version (2 or 3) whose defaults apply to
    /// a `.py` DAG file that imports neither `airflow.sdk` nor
    /// `airflow.providers.standard` (default 2).
    pub airflow_default_version: u8,
}

impl Settings {
    /// Opens the state store in the lithoflow home.
    pub(crate) fn open_store(&self) -> anyhow::Result<std::sync::Arc<crate::store::Store>> {
        let path = self.home.join("state");
        self.create_private_dirs()?;
        let started = std::time::Instant::now();
        let opened = loop {
            match crate::store::Store::open(&path) {
                // sled's lock outlives the process or handle that held it for a moment:
                // a command that just exited, a database this process just closed (its
                // background threads let go of the file last). With no live scheduler
                // described in the home, the holder is one of those: wait it out.
                Err(e)
                    if e.to_string().contains("could not acquire lock")
                        && started.elapsed() < LOCK_WAIT
                        && !self.scheduler_alive() =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other,
            }
        };
        opened.map(std::sync::Arc::new).map_err(|e| {
            // The lock is sled's: another process (a scheduler) has the database open.
            let hint = if e.to_string().contains("could not acquire lock") {
                " (is a `lithoflow scheduler` running with this LITHOFLOW_HOME?)"
            } else {
                ""
            };
            anyhow::Error::new(e).context(format!(
                "failed to open the state database at {}{hint}",
                path.display()
            ))
        })
    }

    /// Whether the home's `scheduler.json` describes a process that is still alive (a
    /// killed scheduler leaves its file behind).
    fn scheduler_alive(&self) -> bool {
        lithoflow_api::SchedulerInfo::read(&self.home)
            .ok()
            .flatten()
            .and_then(|info| i32::try_from(info.pid).ok())
            .is_some_and(|pid| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            })
    }

    /// How DAG files under `dags_folder` are loaded with these settings.
    pub(crate) fn load_options(&self, dags_folder: &Path) -> lithoflow_dag::LoadOptions {
        lithoflow_dag::LoadOptions {
            dags_folder: Some(dags_folder.to_path_buf()),
            include_paths: self.include_paths.clone(),
        }
    }

    /// The home folder from `LITHOFLOW_HOME`, else `~/.lithoflow`.
    pub(crate) fn home_from_env() -> PathBuf {
        if let Some(h) = std::env::var_os("LITHOFLOW_HOME").filter(|h| !h.is_empty()) {
            return PathBuf::from(h);
        }
        let base = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        base.join(".lithoflow")
    }

    /// Reads `<home>/lithoflow.toml` if it exists. Unknown keys are warnings (logged);
    /// values of the wrong type are errors naming file, line and column.
    pub(crate) fn load(home: &Path) -> anyhow::Result<Settings> {
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
            api_host: file.api.host,
            allow_non_loopback: file.api.allow_non_loopback,
            include_paths: file.dags.include_paths,
            load_python: file.dags.load_python,
            loader_processes: file.dags.loader_processes,
            dagbag_import_timeout: file.dags.dagbag_import_timeout,
            airflow_default_version: file.airflow_default_version,
        })
    }

    /// Creates the home and its state, logs and storage folders with mode 0700 where
    /// missing (existing folders keep their mode).
    pub(crate) fn create_private_dirs(&self) -> anyhow::Result<()> {
        for dir in self.private_dirs() {
            create_private_dir(&dir)?;
        }
        Ok(())
    }

    /// The folders that hold state, logs or data and must stay private to the user.
    pub(crate) fn private_dirs(&self) -> [PathBuf; 4] {
        [
            self.home.clone(),
            self.home.join("state"),
            self.home.join("logs"),
            self.storage_dir(),
        ]
    }

    /// Refuses a home whose folders (see [`Settings::private_dirs`]) the group or others
    /// can read, write or enter, naming the path and the `chmod` that fixes it.
    pub(crate) fn check_private_dirs(&self) -> anyhow::Result<()> {
        for dir in self.private_dirs() {
            check_private(&dir, 0o700)?;
        }
        Ok(())
    }

    /// The localhost storage folder.
    pub(crate) fn storage_dir(&self) -> PathBuf {
        self.home.join("storage")
    }
}

/// What `lithoflow.toml` sets.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFile {
    /// The executor sections.
    pub executor: ExecutorConfig,
    /// `[api] port`.
    pub api_port: Option<u16>,
    /// The rest of `[api]`.
    pub api: ApiSection,
    /// `[dags]`.
    pub dags: DagsSection,
    /// `[airflow] default_version`.
    pub airflow_default_version: u8,
}

/// `[dags]`.
#[derive(Debug, Clone)]
pub(crate) struct DagsSection {
    /// `include_paths`, made absolute with `..` folded.
    pub include_paths: Vec<PathBuf>,
    /// `load_python` (default true).
    pub load_python: bool,
    /// `loader_processes` (None: the default).
    pub loader_processes: Option<usize>,
    /// `dagbag_import_timeout` (None: the default).
    pub dagbag_import_timeout: Option<std::time::Duration>,
}

impl Default for DagsSection {
    fn default() -> Self {
        DagsSection {
            include_paths: Vec::new(),
            load_python: true,
            loader_processes: None,
            dagbag_import_timeout: None,
        }
    }
}

/// The Airflow version `.py` DAG files get when they do not say (Airflow 2's defaults).
pub(crate) const DEFAULT_AIRFLOW_VERSION: u8 = 2;

impl Default for ConfigFile {
    fn default() -> Self {
        ConfigFile {
            executor: ExecutorConfig::default(),
            api_port: None,
            api: ApiSection::default(),
            dags: DagsSection::default(),
            airflow_default_version: DEFAULT_AIRFLOW_VERSION,
        }
    }
}

/// `[api]` besides `port`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ApiSection {
    /// `host`: the address to bind.
    pub host: Option<std::net::IpAddr>,
    /// `allow_non_loopback`: whether `host` may be other than a loopback address.
    pub allow_non_loopback: bool,
}

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create {}", dir.display()))
}

/// Refuses `path` (a file or folder) when the group or others have any access to it;
/// a missing path is fine. `mode` is what the error tells the user to `chmod` it to.
pub(crate) fn check_private(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
    };
    let found = meta.permissions().mode() & 0o777;
    if found & 0o077 != 0 {
        bail!(
            "{} is accessible to other users (mode {found:03o}); run `chmod {mode:o} {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// Parses the executor sections of a config file.
#[cfg(test)]
fn parse_config(path: &Path, text: &str) -> anyhow::Result<ExecutorConfig> {
    parse_file(path, text).map(|f| f.executor)
}

/// Parses a config file: the executor sections and `[api]`. Every value of the wrong
/// type is reported, each with file, line and column.
pub(crate) fn parse_file(path: &Path, text: &str) -> anyhow::Result<ConfigFile> {
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
    let mut api = ApiSection::default();
    let mut dags = DagsSection::default();
    let mut airflow_default_version = DEFAULT_AIRFLOW_VERSION;
    let mut problems = Vec::new();
    for (section, value) in doc.get_ref().iter() {
        let name = section.get_ref().as_ref();
        if name == "api" {
            (api_port, api) = parse_api(&src, text, value, &mut problems);
            continue;
        }
        if name == "dags" {
            dags = parse_dags(&src, text, value, &mut problems);
            continue;
        }
        if name == "airflow" {
            airflow_default_version = parse_airflow(&src, text, value, &mut problems);
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
        api,
        dags,
        airflow_default_version,
    })
}

/// `[dags]`: `include_paths`, a list of absolute folder paths; `load_python`, a
/// boolean; `loader_processes`, a positive integer; `dagbag_import_timeout`, seconds.
fn parse_dags(
    src: &Source<'_>,
    text: &str,
    value: &toml::Spanned<DeValue<'_>>,
    problems: &mut Vec<String>,
) -> DagsSection {
    let mut section = DagsSection::default();
    let out = &mut section.include_paths;
    let mut problem = |span: std::ops::Range<usize>, message: String| {
        problems.push(src.diagnostic(Severity::Error, span, message).headline());
    };
    let DeValue::Table(table) = value.get_ref() else {
        problem(value.span(), "`dags` must be a table (`[dags]`)".to_owned());
        return section;
    };
    for (k, v) in table.iter() {
        let key = k.get_ref().as_ref();
        let found = |span: std::ops::Range<usize>| text.get(span).unwrap_or("?").trim().to_owned();
        if key == "load_python" {
            match v.get_ref() {
                DeValue::Boolean(b) => section.load_python = *b,
                _ => problem(
                    v.span(),
                    format!(
                        "`dags.load_python`: expected true or false, found {}",
                        found(v.span())
                    ),
                ),
            }
            continue;
        }
        if key == "loader_processes" {
            let n = match v.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=256).contains(n)),
                _ => None,
            };
            match n {
                Some(n) => section.loader_processes = Some(n),
                None => problem(
                    v.span(),
                    format!(
                        "`dags.loader_processes`: expected a number of processes from 1 to 256, found {}",
                        found(v.span())
                    ),
                ),
            }
            continue;
        }
        if key == "dagbag_import_timeout" {
            let seconds = match v.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .map(|n| n as f64),
                DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
                _ => None,
            };
            match seconds.filter(|s| s.is_finite() && (0.1..=3600.0).contains(s)) {
                Some(s) => {
                    section.dagbag_import_timeout = Some(std::time::Duration::from_secs_f64(s))
                }
                None => problem(
                    v.span(),
                    format!(
                        "`dags.dagbag_import_timeout`: expected seconds from 0.1 to 3600 (Airflow's default is 30), found {}",
                        found(v.span())
                    ),
                ),
            }
            continue;
        }
        if key != "include_paths" {
            tracing::warn!(file = %src.path().display(), "unknown key `{key}` in [dags] of the config; ignored");
            continue;
        }
        let DeValue::Array(items) = v.get_ref() else {
            problem(
                v.span(),
                format!(
                    "`dags.include_paths`: expected a list of absolute folder paths such as [\"/opt/shared/lib\"], found {}",
                    found(v.span())
                ),
            );
            continue;
        };
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(p) if Path::new(p.as_ref()).is_absolute() => {
                    out.push(lithoflow_dag::lexical_absolute(Path::new(p.as_ref())));
                }
                _ => problem(
                    item.span(),
                    format!(
                        "`dags.include_paths`: expected an absolute folder path such as \"/opt/shared/lib\", found {}",
                        found(item.span())
                    ),
                ),
            }
        }
    }
    section
}

/// `[airflow]`: `default_version`, 2 or 3.
fn parse_airflow(
    src: &Source<'_>,
    text: &str,
    value: &toml::Spanned<DeValue<'_>>,
    problems: &mut Vec<String>,
) -> u8 {
    let mut version = DEFAULT_AIRFLOW_VERSION;
    let DeValue::Table(table) = value.get_ref() else {
        problems.push(
            src.diagnostic(
                Severity::Error,
                value.span(),
                "`airflow` must be a table (`[airflow]`)".to_owned(),
            )
            .headline(),
        );
        return version;
    };
    for (k, v) in table.iter() {
        let key = k.get_ref().as_ref();
        if key != "default_version" {
            tracing::warn!(file = %src.path().display(), "unknown key `{key}` in [airflow] of the config; ignored");
            continue;
        }
        match v.get_ref() {
            DeValue::Integer(i) if matches!(i.as_str(), "2" | "3") && i.radix() == 10 => {
                version = if i.as_str() == "2" { 2 } else { 3 };
            }
            _ => problems.push(
                src.diagnostic(
                    Severity::Error,
                    v.span(),
                    format!(
                        "`airflow.default_version`: expected 2 or 3 (the Airflow version whose defaults apply to .py DAG files that do not import airflow.sdk), found {}",
                        text.get(v.span()).unwrap_or("?").trim()
                    ),
                )
                .headline(),
            ),
        }
    }
    version
}

/// `[api]`: `port`, an integer from 0 to 65535 (0 picks a free port); `host`, an IP
/// address; `allow_non_loopback`, a boolean.
fn parse_api(
    src: &Source<'_>,
    text: &str,
    value: &toml::Spanned<DeValue<'_>>,
    problems: &mut Vec<String>,
) -> (Option<u16>, ApiSection) {
    let mut api = ApiSection::default();
    let DeValue::Table(table) = value.get_ref() else {
        problems.push(
            src.diagnostic(
                Severity::Error,
                value.span(),
                "`api` must be a table (`[api]`)".to_owned(),
            )
            .headline(),
        );
        return (None, api);
    };
    let mut port = None;
    for (k, v) in table.iter() {
        let key = k.get_ref().as_ref();
        if key == "host" {
            match v.get_ref() {
                DeValue::String(h) if h.parse::<std::net::IpAddr>().is_ok() => {
                    api.host = h.parse().ok();
                }
                _ => problems.push(
                    src.diagnostic(
                        Severity::Error,
                        v.span(),
                        format!(
                            "`api.host`: expected an IP address such as \"127.0.0.1\", found {}",
                            text.get(v.span()).unwrap_or("?").trim()
                        ),
                    )
                    .headline(),
                ),
            }
            continue;
        }
        if key == "allow_non_loopback" {
            match v.get_ref() {
                DeValue::Boolean(b) => api.allow_non_loopback = *b,
                _ => problems.push(
                    src.diagnostic(
                        Severity::Error,
                        v.span(),
                        format!(
                            "`api.allow_non_loopback`: expected true or false, found {}",
                            text.get(v.span()).unwrap_or("?").trim()
                        ),
                    )
                    .headline(),
                ),
            }
            continue;
        }
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
    (port, api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dirs_are_created_0700_and_open_ones_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            home: tmp.path().join("home"),
            executor: ExecutorConfig::default(),
            api_port: None,
            api_host: None,
            allow_non_loopback: false,
            include_paths: Vec::new(),
            load_python: true,
            loader_processes: None,
            dagbag_import_timeout: None,
            airflow_default_version: DEFAULT_AIRFLOW_VERSION,
        };
        settings.create_private_dirs().expect("created");
        for dir in settings.private_dirs() {
            let mode = std::fs::metadata(&dir)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
        }
        settings.check_private_dirs().expect("private");
        let logs = settings.home.join("logs");
        std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        let err = settings.check_private_dirs().expect_err("group can read");
        assert_eq!(
            err.to_string(),
            format!(
                "{} is accessible to other users (mode 750); run `chmod 700 {}`",
                logs.display(),
                logs.display()
            )
        );
    }

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
        let f = parse_file(
            Path::new("c.toml"),
            "[api]\nhost = \"0.0.0.0\"\nallow_non_loopback = true\n",
        )
        .expect("valid");
        assert_eq!(
            (f.api.host, f.api.allow_non_loopback),
            (Some(std::net::Ipv4Addr::UNSPECIFIED.into()), true)
        );
        let err = parse_file(Path::new("c.toml"), "[api]\nhost = \"lan\"\n").expect_err("host");
        assert_eq!(
            err.to_string(),
            "c.toml:2:8: error: `api.host`: expected an IP address such as \"127.0.0.1\", found \"lan\""
        );
        let err = parse_file(Path::new("c.toml"), "api = 3\n").expect_err("not a table");
        assert_eq!(
            err.to_string(),
            "c.toml:1:7: error: `api` must be a table (`[api]`)"
        );
    }

    #[test]
    fn reads_the_python_dag_settings_and_reports_bad_ones_with_positions() {
        let f = parse_file(Path::new("c.toml"), "").expect("empty");
        assert_eq!(
            (
                f.dags.load_python,
                f.dags.loader_processes,
                f.airflow_default_version
            ),
            (true, None, 2)
        );
        let f = parse_file(
            Path::new("c.toml"),
            "[dags]\nload_python = false\nloader_processes = 4\n[airflow]\ndefault_version = 3\n",
        )
        .expect("valid");
        assert_eq!(
            (
                f.dags.load_python,
                f.dags.loader_processes,
                f.airflow_default_version
            ),
            (false, Some(4), 3)
        );
        let f = parse_file(Path::new("c.toml"), "[dags]\ndagbag_import_timeout = 2.5\n")
            .expect("valid");
        assert_eq!(
            f.dags.dagbag_import_timeout,
            Some(std::time::Duration::from_millis(2500))
        );
        let err = parse_file(Path::new("c.toml"), "[dags]\ndagbag_import_timeout = 0\n")
            .expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "c.toml:2:25: error: `dags.dagbag_import_timeout`: expected seconds from 0.1 to 3600 (Airflow's default is 30), found 0"
        );
        let err = parse_file(
            Path::new("c.toml"),
            "[dags]\nload_python = \"yes\"\nloader_processes = 0\n[airflow]\ndefault_version = 1\n",
        )
        .expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "c.toml:2:15: error: `dags.load_python`: expected true or false, found \"yes\"\n\
             c.toml:3:20: error: `dags.loader_processes`: expected a number of processes from 1 to 256, found 0\n\
             c.toml:5:19: error: `airflow.default_version`: expected 2 or 3 (the Airflow version whose defaults apply to .py DAG files that do not import airflow.sdk), found 1"
        );
    }
}
