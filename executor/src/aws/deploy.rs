//! The Lambda runtime functions and the function modules they import.
//!
//! There is one runtime function per memory size, named after the lithoflow version
//! (`lithoflow-runtime-0-1-0-256mb`), whose code is the embedded Python runtime
//! ([`crate::protocol::RUNTIME_SOURCE`]) zipped in memory with fixed timestamps, so the
//! same build always produces the same archive and the function's `CodeSha256` tells
//! whether it runs this build's runtime. The user's modules (the DAG folder's Python
//! files) travel separately, as a content-addressed archive in S3 that warm containers
//! download once.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LastUpdateStatus, Runtime, State};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::aws::AwsSettings;
use crate::error::Error;

/// Every runtime function's name starts with this.
pub const FUNCTION_PREFIX: &str = "lithoflow-runtime-";
/// The Lambda runtime used when `[aws_lambda] runtime` is not set.
pub const DEFAULT_PYTHON_RUNTIME: &str = "python3.11";
/// The runtime's entry point inside the archive.
pub const HANDLER: &str = "lithoflow_runtime.handler";
/// The archive's runtime file.
const RUNTIME_FILE: &str = "lithoflow_runtime.py";
/// The `lithoflow` module functions import, beside the runtime.
const MODULE_FILE: &str = "lithoflow.py";
/// Where modules archives live in the bucket: `lithoflow.modules/<sha256>.zip`.
pub const MODULES_PREFIX: &str = "lithoflow.modules";
/// Lambda's memory bounds, MB.
pub const MEMORY_RANGE: (u64, u64) = (128, 10240);
/// Lambda's timeout bounds, seconds.
pub const TIMEOUT_RANGE: (u64, u64) = (1, 900);
/// The version tag written on every runtime function.
const VERSION_TAG: &str = "lithoflow_version";

/// The lithoflow version the runtime functions of this build carry.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The runtime function for a memory size: `lithoflow-runtime-<version>-<memory>mb`,
/// with every character Lambda does not accept in a name made a `-`.
pub fn function_name(memory_mb: u64) -> String {
    let version: String = version()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{FUNCTION_PREFIX}{version}-{memory_mb}mb")
}

/// The command that deploys the runtime for a memory size, for error messages.
pub fn deploy_command(memory_mb: u64) -> String {
    format!("lithoflow runtime deploy --memory {memory_mb}")
}

/// The runtime function's code: a zip holding `lithoflow_runtime.py` and `lithoflow.py`,
/// built in memory, byte for byte the same for the same sources.
pub fn runtime_zip() -> Result<Vec<u8>, Error> {
    let mut files = BTreeMap::new();
    files.insert(
        RUNTIME_FILE.to_owned(),
        FileSource::Bytes(crate::protocol::RUNTIME_SOURCE.as_bytes().to_vec()),
    );
    files.insert(
        MODULE_FILE.to_owned(),
        FileSource::Bytes(crate::protocol::LITHOFLOW_MODULE_SOURCE.as_bytes().to_vec()),
    );
    write_zip(&files)
}

/// Lambda's `CodeSha256` of an archive: base64 of its SHA-256.
pub fn code_sha256(bytes: &[u8]) -> String {
    crate::protocol::base64(&Sha256::digest(bytes))
}

/// The SHA-256 of some bytes, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where an archive entry's bytes come from.
#[derive(Debug, Clone)]
enum FileSource {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

/// Writes a zip of `files` (archive name → content) in name order, every entry with the
/// same timestamp (1980-01-01) and permissions, so equal inputs give equal bytes.
fn write_zip(files: &BTreeMap<String, FileSource>) -> Result<Vec<u8>, Error> {
    let zip_error = |e: &dyn std::fmt::Display| Error::Config(format!("cannot build a zip: {e}"));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (name, source) in files {
        let bytes = match source {
            FileSource::Bytes(b) => b.clone(),
            FileSource::Path(p) => std::fs::read(p).map_err(|source| Error::Storage {
                path: p.clone(),
                source,
            })?,
        };
        w.start_file(name.as_str(), options)
            .map_err(|e| zip_error(&e))?;
        w.write_all(&bytes).map_err(|e| zip_error(&e))?;
    }
    let cursor = w.finish().map_err(|e| zip_error(&e))?;
    Ok(cursor.into_inner())
}

/// A job's function modules, zipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulesArchive {
    /// The zip.
    pub bytes: Vec<u8>,
    /// Its SHA-256, hex: the archive's name in the bucket.
    pub sha256: String,
    /// The archive names it holds, sorted.
    pub files: Vec<String>,
}

impl ModulesArchive {
    /// Its key in the bucket: `lithoflow.modules/<sha256>.zip`.
    pub fn key(&self) -> String {
        format!("{MODULES_PREFIX}/{}.zip", self.sha256)
    }
}

/// File extensions shipped as modules.
const MODULE_EXTENSIONS: &[&str] = &["py", "so"];

/// Zips the Python modules a job's functions import: every `.py` (and `.so`) file under
/// each `sys_path` folder (the DAG folder, then `include_modules` folders), at the
/// archive's root as Python would import them; `extra` adds named modules found
/// elsewhere (archive name → file or package folder); `exclude` leaves modules out
/// (`pkg` or `pkg.sub`). Hidden folders, `__pycache__` and virtual environments are
/// skipped; when two folders hold the same name, the first one wins, as on `sys.path`.
/// Returns None when there is nothing to ship.
pub fn modules_zip(
    sys_path: &[PathBuf],
    extra: &[(String, PathBuf)],
    exclude: &[String],
) -> Result<Option<ModulesArchive>, Error> {
    let mut files: BTreeMap<String, FileSource> = BTreeMap::new();
    for root in sys_path {
        let mut found = Vec::new();
        collect(root, "", &mut found)?;
        for (name, path) in found {
            files.entry(name).or_insert(FileSource::Path(path));
        }
    }
    for (name, path) in extra {
        if path.is_dir() {
            let mut found = Vec::new();
            collect(path, &format!("{name}/"), &mut found)?;
            for (n, p) in found {
                files.entry(n).or_insert(FileSource::Path(p));
            }
        } else {
            files
                .entry(name.clone())
                .or_insert(FileSource::Path(path.clone()));
        }
    }
    let excluded: Vec<String> = exclude.iter().map(|m| m.replace('.', "/")).collect();
    files.retain(|name, _| {
        !excluded.iter().any(|ex| {
            name.starts_with(&format!("{ex}/"))
                || MODULE_EXTENSIONS
                    .iter()
                    .any(|ext| *name == format!("{ex}.{ext}"))
                || (ext_of(name) == Some("so") && name.starts_with(&format!("{ex}.")))
        })
    });
    if files.is_empty() {
        return Ok(None);
    }
    let bytes = write_zip(&files)?;
    Ok(Some(ModulesArchive {
        sha256: sha256_hex(&bytes),
        files: files.into_keys().collect(),
        bytes,
    }))
}

/// Resolves `include_modules` entries that name modules (not paths) to files or package
/// folders, with this machine's Python (as Lithops does); names already in one of the
/// `sys_path` folders are shipped with it. A name the interpreter cannot find, or finds
/// only in its standard library, is left to the Lambda runtime's own packages.
pub(crate) async fn named_modules(
    python: &str,
    include: &[String],
    sys_path: &[PathBuf],
) -> Result<Vec<(String, PathBuf)>, Error> {
    let names: Vec<&String> = include
        .iter()
        .filter(|m| !m.contains('/') && !m.ends_with(".py") && !m.is_empty())
        .filter(|m| {
            let top = m.split('.').next().unwrap_or(m);
            !sys_path
                .iter()
                .any(|p| p.join(top).is_dir() || p.join(format!("{top}.py")).is_file())
        })
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    const FIND: &str = r#"
import importlib.util, json, sys, sysconfig
std = sysconfig.get_paths().get("stdlib", "")
out = {}
for name in sys.argv[1:]:
    top = name.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except Exception:
        spec = None
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        if spec is not None and spec.submodule_search_locations:
            out[top] = list(spec.submodule_search_locations)[0]
        continue
    if std and spec.origin.startswith(std) and "site-packages" not in spec.origin:
        continue
    if spec.submodule_search_locations:
        out[top] = list(spec.submodule_search_locations)[0]
    else:
        out[top] = spec.origin
print(json.dumps(out))
"#;
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(FIND)
        .args(names.iter().map(|s| s.as_str()))
        .output()
        .await
        .map_err(|e| {
            Error::Config(format!(
                "include_modules names modules ({}), and finding them needs `{python}`: {e}",
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let found: HashMap<String, String> = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let mut out = Vec::new();
    for (top, origin) in found {
        let path = PathBuf::from(&origin);
        if path.is_dir() {
            out.push((top, path));
        } else {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_else(|| "py".to_owned());
            let name = if ext == "py" {
                format!("{top}.py")
            } else {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(top)
            };
            out.push((name, path));
        }
    }
    out.sort();
    Ok(out)
}

fn ext_of(name: &str) -> Option<&str> {
    Path::new(name).extension().and_then(|e| e.to_str())
}

/// Collects module files under `dir`, named `prefix` + their relative path.
fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Storage {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
            continue;
        }
        // Symbolic links to folders are not followed (no cycles); linked files are.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            if path.join("pyvenv.cfg").exists() || name == "site-packages" {
                continue;
            }
            collect(&path, &format!("{prefix}{name}/"), out)?;
        } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
            && ext_of(&name).is_some_and(|e| MODULE_EXTENSIONS.contains(&e))
        {
            out.push((format!("{prefix}{name}"), path));
        }
    }
    Ok(())
}

/// A deployed runtime function, as `lithoflow runtime list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuntimeInfo {
    /// The function's name.
    pub name: String,
    /// Its memory, MB.
    pub memory_mb: u64,
    /// Its timeout, seconds.
    pub timeout_s: u64,
    /// Its Lambda runtime (`python3.11`).
    pub runtime: String,
    /// The lithoflow version it was deployed by.
    pub version: String,
    /// Whether its code is this build's runtime.
    pub current: bool,
    /// `Active`, `Pending`, `Failed`, ...
    pub state: String,
    /// When it last changed, as Lambda reports it.
    pub last_modified: String,
}

/// What `deploy` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployAction {
    /// The function did not exist and was created.
    Created,
    /// Its code or settings were updated.
    Updated,
    /// It was already this build's runtime with these settings.
    Unchanged,
}

impl DeployAction {
    /// The action's name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// Manages the runtime functions of one AWS account and region.
#[derive(Debug, Clone)]
pub struct Runtimes {
    settings: AwsSettings,
    client: aws_sdk_lambda::Client,
}

/// How long to wait for a function to become Active.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

impl Runtimes {
    /// A manager for these settings (region, endpoint, execution role).
    pub async fn new(settings: &AwsSettings) -> Runtimes {
        Runtimes {
            settings: settings.clone(),
            client: crate::aws::lambda_client(settings).await,
        }
    }

    pub(crate) fn with_client(settings: &AwsSettings, client: aws_sdk_lambda::Client) -> Runtimes {
        Runtimes {
            settings: settings.clone(),
            client,
        }
    }

    fn python_runtime(&self) -> &str {
        self.settings
            .runtime
            .as_deref()
            .unwrap_or(DEFAULT_PYTHON_RUNTIME)
    }

    /// Creates the runtime function for `memory_mb`, or updates its code and settings
    /// to this build's, then waits until it is Active.
    pub async fn deploy(
        &self,
        memory_mb: u64,
        timeout_s: u64,
    ) -> Result<(RuntimeInfo, DeployAction), Error> {
        check_range("memory", "MB", memory_mb, MEMORY_RANGE)?;
        check_range("timeout", "seconds", timeout_s, TIMEOUT_RANGE)?;
        let role = self.settings.execution_role.clone().ok_or_else(|| {
            Error::Config(format!(
                "no execution role is configured: add `execution_role = \"arn:aws:iam::<account>:role/<role>\"` under [aws_lambda] in $LITHOFLOW_HOME/lithoflow.toml (an IAM role Lambda can assume, with access to the storage bucket), then run `{}` again",
                deploy_command(memory_mb)
            ))
        })?;
        let name = function_name(memory_mb);
        let zip = runtime_zip()?;
        let sha = code_sha256(&zip);
        let memory = i32::try_from(memory_mb).unwrap_or(i32::MAX);
        let timeout = i32::try_from(timeout_s).unwrap_or(i32::MAX);
        let existing = self.get(&name).await?;
        let action = match existing {
            None => {
                tracing::info!(function = %name, "creating the Lambda runtime function");
                let created = self
                    .client
                    .create_function()
                    .function_name(&name)
                    .runtime(Runtime::from(self.python_runtime()))
                    .role(&role)
                    .handler(HANDLER)
                    .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
                    .timeout(timeout)
                    .memory_size(memory)
                    .description(format!("lithoflow {} runtime ({memory_mb} MB)", version()))
                    .tags(VERSION_TAG, version())
                    .send()
                    .await;
                match created {
                    Ok(_) => DeployAction::Created,
                    // Someone else created it meanwhile: it is there, so wait for it.
                    Err(e) if e.code() == Some("ResourceConflictException") => {
                        DeployAction::Unchanged
                    }
                    Err(e) => return Err(lambda_error(&format!("creating {name}"), &e)),
                }
            }
            Some(cfg) => {
                let mut action = DeployAction::Unchanged;
                if cfg.code_sha256() != Some(sha.as_str()) {
                    tracing::info!(function = %name, "updating the Lambda runtime function's code");
                    self.update_code(&name, zip).await?;
                    action = DeployAction::Updated;
                }
                let differs = cfg.memory_size() != Some(memory)
                    || cfg.timeout() != Some(timeout)
                    || cfg.role() != Some(role.as_str())
                    || cfg.handler() != Some(HANDLER)
                    || cfg.runtime().map(Runtime::as_str) != Some(self.python_runtime());
                if differs {
                    self.wait_ready(&name).await?;
                    self.client
                        .update_function_configuration()
                        .function_name(&name)
                        .runtime(Runtime::from(self.python_runtime()))
                        .role(&role)
                        .handler(HANDLER)
                        .timeout(timeout)
                        .memory_size(memory)
                        .send()
                        .await
                        .map_err(|e| {
                            lambda_error(&format!("updating the settings of {name}"), &e)
                        })?;
                    action = DeployAction::Updated;
                }
                action
            }
        };
        let cfg = self.wait_ready(&name).await?;
        if action == DeployAction::Created {
            // lithoflow follows every call itself; Lambda's own retries of a failed
            // asynchronous invocation would run it twice.
            if let Err(e) = self
                .client
                .put_function_event_invoke_config()
                .function_name(&name)
                .maximum_retry_attempts(0)
                .send()
                .await
            {
                tracing::warn!(function = %name, error = %e.code().unwrap_or("unknown"), "could not turn off Lambda's retries of asynchronous invocations");
            }
        }
        self.ping(&name).await?;
        Ok((info(&cfg, &sha), action))
    }

    /// Checks that the function runs this runtime: one synchronous `ping` invocation.
    async fn ping(&self, name: &str) -> Result<(), Error> {
        let out = self
            .client
            .invoke()
            .function_name(name)
            .payload(Blob::new(br#"{"type":"ping"}"#.to_vec()))
            .send()
            .await
            .map_err(|e| lambda_error(&format!("invoking {name}"), &e))?;
        let body = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        let pong: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if out.function_error().is_some()
            || pong.get("type").and_then(|t| t.as_str()) != Some("pong")
        {
            return Err(Error::Cloud {
                service: "lambda",
                message: format!(
                    "the runtime function {name} was deployed but does not answer a ping: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(500)
                        .collect::<String>()
                ),
            });
        }
        Ok(())
    }

    /// The runtime functions in the account and region, every lithoflow version, by name.
    pub async fn list(&self) -> Result<Vec<RuntimeInfo>, Error> {
        let sha = code_sha256(&runtime_zip()?);
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_functions()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| lambda_error("listing functions", &e))?;
            for f in page.functions() {
                if f.function_name()
                    .is_some_and(|n| n.starts_with(FUNCTION_PREFIX))
                {
                    out.push(info(f, &sha));
                }
            }
            marker = page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes a runtime function; false when it did not exist.
    pub async fn delete(&self, name: &str) -> Result<bool, Error> {
        match self
            .client
            .delete_function()
            .function_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(false),
            Err(e) => Err(lambda_error(&format!("deleting {name}"), &e)),
        }
    }

    /// Makes sure the runtime function for `memory_mb` exists and runs this build's
    /// runtime; returns its timeout in seconds. A missing function is deployed when an
    /// execution role is configured, and is otherwise an error naming the command that
    /// deploys it.
    pub async fn ensure(&self, memory_mb: u64) -> Result<u64, Error> {
        let name = function_name(memory_mb);
        let Some(cfg) = self.get(&name).await? else {
            if self.settings.execution_role.is_none() {
                return Err(Error::Config(format!(
                    "the Lambda runtime function `{name}` ({memory_mb} MB) does not exist: deploy it with `{}`, or add `execution_role = \"<IAM role ARN>\"` under [aws_lambda] in lithoflow.toml so lithoflow deploys it on first use",
                    deploy_command(memory_mb)
                )));
            }
            let (info, _) = self
                .deploy(memory_mb, self.settings.runtime_timeout)
                .await?;
            return Ok(info.timeout_s);
        };
        let zip = runtime_zip()?;
        if cfg.code_sha256() != Some(code_sha256(&zip).as_str()) {
            // Same lithoflow version, another build of the runtime (a development
            // build): bring the function's code in line so local and Lambda agree.
            tracing::warn!(function = %name, "the runtime function runs another build of the lithoflow runtime; updating its code");
            self.update_code(&name, zip).await?;
        }
        let cfg = self.wait_ready(&name).await?;
        Ok(cfg
            .timeout()
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(self.settings.runtime_timeout))
    }

    /// Waits until the function is ready, then replaces its code with `zip`.
    async fn update_code(&self, name: &str, zip: Vec<u8>) -> Result<(), Error> {
        self.wait_ready(name).await?;
        self.client
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(zip))
            .send()
            .await
            .map_err(|e| lambda_error(&format!("updating the code of {name}"), &e))?;
        Ok(())
    }

    async fn get(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_lambda::types::FunctionConfiguration>, Error> {
        match self.client.get_function().function_name(name).send().await {
            Ok(out) => Ok(out.configuration().cloned()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(lambda_error(&format!("looking up {name}"), &e)),
        }
    }

    /// Polls until the function is Active and not being updated.
    async fn wait_ready(
        &self,
        name: &str,
    ) -> Result<aws_sdk_lambda::types::FunctionConfiguration, Error> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut pause = Duration::from_millis(100);
        loop {
            let cfg = self.get(name).await?.ok_or_else(|| Error::Cloud {
                service: "lambda",
                message: format!("the function {name} disappeared while lithoflow waited for it"),
            })?;
            match (cfg.state(), cfg.last_update_status()) {
                (Some(State::Failed), _) => {
                    return Err(Error::Cloud {
                        service: "lambda",
                        message: format!(
                            "the function {name} failed to become active: {}",
                            cfg.state_reason().unwrap_or("no reason given")
                        ),
                    });
                }
                (_, Some(LastUpdateStatus::Failed)) => {
                    return Err(Error::Cloud {
                        service: "lambda",
                        message: format!(
                            "updating the function {name} failed: {}",
                            cfg.last_update_status_reason().unwrap_or("no reason given")
                        ),
                    });
                }
                (Some(State::Active) | None, s) if s != Some(&LastUpdateStatus::InProgress) => {
                    return Ok(cfg);
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Cloud {
                    service: "lambda",
                    message: format!(
                        "the function {name} was not active after {}s",
                        READY_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
}

fn check_range(what: &str, unit: &str, value: u64, (lo, hi): (u64, u64)) -> Result<(), Error> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "a Lambda function's {what} must be from {lo} to {hi} {unit}, found {value}"
        )))
    }
}

fn info(cfg: &aws_sdk_lambda::types::FunctionConfiguration, current_sha: &str) -> RuntimeInfo {
    let name = cfg.function_name().unwrap_or_default().to_owned();
    RuntimeInfo {
        memory_mb: cfg
            .memory_size()
            .and_then(|m| u64::try_from(m).ok())
            .unwrap_or_default(),
        timeout_s: cfg
            .timeout()
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or_default(),
        runtime: cfg
            .runtime()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
        version: version_of(&name),
        current: cfg.code_sha256() == Some(current_sha),
        state: cfg
            .state()
            .map_or_else(|| "Active".to_owned(), |s| s.as_str().to_owned()),
        last_modified: cfg.last_modified().unwrap_or_default().to_owned(),
        name,
    }
}

/// The lithoflow version in a runtime function's name (`0-1-0` → `0.1.0`).
fn version_of(name: &str) -> String {
    let rest = name.strip_prefix(FUNCTION_PREFIX).unwrap_or(name);
    match rest.rsplit_once('-') {
        Some((v, mem)) if mem.ends_with("mb") => v.replace('-', "."),
        _ => String::new(),
    }
}

/// A Lambda API error as lithoflow reports it: what was being done, the service's error
/// code and message.
pub(crate) fn lambda_error<E, R>(doing: &str, e: &aws_sdk_lambda::error::SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    Error::Cloud {
        service: "lambda",
        message: format!("{doing} failed: {}", describe_sdk_error(e)),
    }
}

/// `Code: message` of an SDK error, or the transport problem.
pub(crate) fn describe_sdk_error<E, R>(e: &aws_sdk_lambda::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_lambda::error::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => err.to_string(),
            }
        }
        SdkError::DispatchFailure(d) => {
            let mut msg = "cannot reach the Lambda endpoint".to_owned();
            if let Some(c) = d.as_connector_error() {
                msg.push_str(&format!(": {c}"));
            }
            msg
        }
        SdkError::TimeoutError(_) => "the request to Lambda timed out".to_owned(),
        other => {
            let mut msg = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_version_and_the_memory() {
        let name = function_name(256);
        assert_eq!(
            name,
            format!("lithoflow-runtime-{}-256mb", version().replace('.', "-"))
        );
        assert_eq!(version_of(&name), version());
        assert!(name.len() <= 64);
    }

    #[test]
    fn the_runtime_zip_is_deterministic() {
        let a = runtime_zip().expect("zip");
        let b = runtime_zip().expect("zip");
        assert_eq!(a, b);
        assert_eq!(code_sha256(&a), code_sha256(&b));
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(crate::protocol::base64(b""), "");
        assert_eq!(crate::protocol::base64(b"f"), "Zg==");
        assert_eq!(crate::protocol::base64(b"fo"), "Zm8=");
        assert_eq!(crate::protocol::base64(b"foo"), "Zm9v");
        assert_eq!(crate::protocol::base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn modules_zip_ships_python_files_deterministically_and_honours_excludes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("a.py"), "A = 1\n").expect("write");
        std::fs::write(root.join("dag.toml"), "dag_id = 'x'\n").expect("write");
        std::fs::create_dir_all(root.join("pkg/sub")).expect("mkdir");
        std::fs::write(root.join("pkg/__init__.py"), "").expect("write");
        std::fs::write(root.join("pkg/sub/m.py"), "").expect("write");
        std::fs::create_dir_all(root.join("__pycache__")).expect("mkdir");
        std::fs::write(root.join("__pycache__/a.cpython-311.pyc"), "x").expect("write");
        std::fs::create_dir_all(root.join(".venv")).expect("mkdir");
        std::fs::write(root.join(".venv/x.py"), "").expect("write");
        std::fs::create_dir_all(root.join("env")).expect("mkdir");
        std::fs::write(root.join("env/pyvenv.cfg"), "").expect("write");
        std::fs::write(root.join("env/y.py"), "").expect("write");

        let z = modules_zip(&[root.to_owned()], &[], &[])
            .expect("zip")
            .expect("something to ship");
        assert_eq!(z.files, vec!["a.py", "pkg/__init__.py", "pkg/sub/m.py"]);
        let again = modules_zip(&[root.to_owned()], &[], &[])
            .expect("zip")
            .expect("something");
        assert_eq!(z, again);
        assert_eq!(z.key(), format!("lithoflow.modules/{}.zip", z.sha256));

        let without = modules_zip(&[root.to_owned()], &[], &["pkg.sub".to_owned()])
            .expect("zip")
            .expect("something");
        assert_eq!(without.files, vec!["a.py", "pkg/__init__.py"]);
        assert_ne!(without.sha256, z.sha256);
        let none =
            modules_zip(&[root.to_owned()], &[], &["a".to_owned(), "pkg".to_owned()]).expect("zip");
        assert!(none.is_none());
    }
}
