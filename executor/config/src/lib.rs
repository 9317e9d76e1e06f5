//! Executor settings under Lithops' own names, and the layering between them.
//!
//! A leaf crate (serde and thiserror only): the executor reads these settings and the DAG-format crate
//! validates them in DAG files, without the DAG format depending on the executor's tokio.
//!
//! The same keys appear in the lithoflow home config, in a DAG's `[lithops_config]`
//! and in a task's `lithops_config`; later layers win key by key ([`ExecutorConfig::merge`]).
//! Keys are either written flat (`backend = "localhost"`, as the Lithops Airflow plugin
//! passed them to `FunctionExecutor`) or inside a Lithops config section
//! (`[lithops_config.aws_lambda] runtime_memory = 512`).

#![warn(missing_docs)]

use std::fmt;

use serde::Serialize;

/// The most parts one object is split into. Each part is a call, and `chunk_n` or a small
/// `chunk_size` comes from a DAG file: without a bound, `chunk_n = 1000000000000` made the
/// host allocate terabytes for the boundaries and abort.
pub const MAX_PARTS: u64 = 1_000_000;

/// Where functions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Warm Python worker processes on this machine.
    Localhost,
    /// AWS Lambda functions.
    AwsLambda,
}

/// Where job data and large results live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    /// A folder under the lithoflow home.
    Localhost,
    /// An S3 (or S3-compatible) bucket.
    AwsS3,
}

impl Backend {
    /// Every accepted spelling, for error messages.
    pub const NAMES: &'static [&'static str] = &["localhost", "aws_lambda"];

    /// Parses Lithops' name for a compute backend.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "localhost" => Some(Self::Localhost),
            "aws_lambda" => Some(Self::AwsLambda),
            _ => None,
        }
    }

    /// Lithops' name for this backend.
    pub fn name(self) -> &'static str {
        match self {
            Self::Localhost => "localhost",
            Self::AwsLambda => "aws_lambda",
        }
    }
}

impl StorageBackend {
    /// Every accepted spelling, for error messages.
    pub const NAMES: &'static [&'static str] = &["localhost", "aws_s3"];

    /// Parses Lithops' name for a storage backend.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "localhost" => Some(Self::Localhost),
            "aws_s3" => Some(Self::AwsS3),
            _ => None,
        }
    }

    /// Lithops' name for this storage.
    pub fn name(self) -> &'static str {
        match self {
            Self::Localhost => "localhost",
            Self::AwsS3 => "aws_s3",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for StorageBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type a config key's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigValueKind {
    /// Any string.
    String,
    /// One of [`Backend::NAMES`].
    Backend,
    /// One of [`StorageBackend::NAMES`].
    Storage,
    /// A positive integer.
    PositiveInt,
    /// `true` or `false`.
    Bool,
}

impl ConfigValueKind {
    /// What a value of this kind looks like, for "expected ..." messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Backend => "a backend name (\"localhost\" or \"aws_lambda\")",
            Self::Storage => "a storage name (\"localhost\" or \"aws_s3\")",
            Self::PositiveInt => "a positive integer",
            Self::Bool => "a boolean (true or false)",
        }
    }
}

/// One recognised key of an executor config.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// The Lithops config section (`lithops`, `localhost`, `aws`, `aws_lambda`, `aws_s3`).
    pub section: &'static str,
    /// The key inside the section.
    pub key: &'static str,
    /// Whether the key may also be written flat, outside any section.
    pub flat: bool,
    /// The value's type.
    pub kind: ConfigValueKind,
    field: Field,
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Backend,
    Storage,
    ExecutionTimeout,
    LogLevel,
    WorkerProcesses,
    Python,
    Region,
    ExecutionRole,
    Runtime,
    RuntimeMemory,
    RuntimeTimeout,
    InvokePoolThreads,
    RemoteInvoker,
    LambdaEndpoint,
    StorageBucket,
    S3Endpoint,
}

const fn key(
    section: &'static str,
    key: &'static str,
    flat: bool,
    kind: ConfigValueKind,
    field: Field,
) -> ConfigKey {
    ConfigKey {
        section,
        key,
        flat,
        kind,
        field,
    }
}

/// Every key lithoflow understands, with the section Lithops puts it in.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    key(
        "lithops",
        "backend",
        true,
        ConfigValueKind::Backend,
        Field::Backend,
    ),
    key(
        "lithops",
        "storage",
        true,
        ConfigValueKind::Storage,
        Field::Storage,
    ),
    key(
        "lithops",
        "execution_timeout",
        true,
        ConfigValueKind::PositiveInt,
        Field::ExecutionTimeout,
    ),
    key(
        "lithops",
        "log_level",
        true,
        ConfigValueKind::String,
        Field::LogLevel,
    ),
    key(
        "localhost",
        "worker_processes",
        true,
        ConfigValueKind::PositiveInt,
        Field::WorkerProcesses,
    ),
    key(
        "localhost",
        "runtime",
        false,
        ConfigValueKind::String,
        Field::Python,
    ),
    key(
        "aws",
        "region",
        false,
        ConfigValueKind::String,
        Field::Region,
    ),
    key(
        "aws_lambda",
        "execution_role",
        false,
        ConfigValueKind::String,
        Field::ExecutionRole,
    ),
    key(
        "aws_lambda",
        "runtime",
        true,
        ConfigValueKind::String,
        Field::Runtime,
    ),
    key(
        "aws_lambda",
        "runtime_memory",
        true,
        ConfigValueKind::PositiveInt,
        Field::RuntimeMemory,
    ),
    key(
        "aws_lambda",
        "runtime_timeout",
        true,
        ConfigValueKind::PositiveInt,
        Field::RuntimeTimeout,
    ),
    key(
        "aws_lambda",
        "invoke_pool_threads",
        true,
        ConfigValueKind::PositiveInt,
        Field::InvokePoolThreads,
    ),
    key(
        "aws_lambda",
        "remote_invoker",
        true,
        ConfigValueKind::Bool,
        Field::RemoteInvoker,
    ),
    key(
        "aws_lambda",
        "endpoint_url",
        false,
        ConfigValueKind::String,
        Field::LambdaEndpoint,
    ),
    key(
        "aws_s3",
        "storage_bucket",
        false,
        ConfigValueKind::String,
        Field::StorageBucket,
    ),
    key(
        "aws_s3",
        "endpoint_url",
        false,
        ConfigValueKind::String,
        Field::S3Endpoint,
    ),
];

/// The Lithops config sections lithoflow knows.
pub const CONFIG_SECTIONS: &[&str] = &["lithops", "localhost", "aws", "aws_lambda", "aws_s3"];

/// Key names that hold AWS credentials. They never belong in a DAG or config file:
/// credentials come from the standard AWS chain (environment, profile, role).
const CREDENTIAL_KEYS: &[&str] = &[
    "access_key_id",
    "secret_access_key",
    "session_token",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

/// Whether `name` (a config key or an environment variable name) holds an AWS credential.
pub fn is_credential_key(name: &str) -> bool {
    // Every key of a DAG file passes here; most are shorter or longer than any credential.
    (13..=21).contains(&name.len()) && CREDENTIAL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// Looks up a key, in a section or (with `section = None`) written flat.
pub fn lookup_key(section: Option<&str>, name: &str) -> Option<&'static ConfigKey> {
    CONFIG_KEYS.iter().find(|k| {
        k.key == name
            && match section {
                Some(s) => k.section == s,
                None => k.flat,
            }
    })
}

/// A typed config value, already checked against its [`ConfigValueKind`].
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// A string value.
    Str(String),
    /// An integer value.
    Int(i64),
    /// A boolean value.
    Bool(bool),
}

/// Why a value does not fit its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
pub struct ConfigValueError {
    /// What the key accepts.
    pub expected: &'static str,
    /// What was given.
    pub found: String,
}

/// Executor settings. Every field is optional so that layers can be merged;
/// the executor fills in Lithops' defaults for what no layer set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExecutorConfig {
    /// `lithops.backend`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// `lithops.storage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageBackend>,
    /// `lithops.execution_timeout`, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_timeout: Option<u64>,
    /// `lithops.log_level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// `localhost.worker_processes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_processes: Option<u64>,
    /// `localhost.runtime`: the Python interpreter local workers run (default `python3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// `aws.region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `aws_lambda.execution_role`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role: Option<String>,
    /// `aws_lambda.runtime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// `aws_lambda.runtime_memory`, MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_memory: Option<u64>,
    /// `aws_lambda.runtime_timeout`, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_timeout: Option<u64>,
    /// `aws_lambda.invoke_pool_threads`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoke_pool_threads: Option<u64>,
    /// `aws_lambda.remote_invoker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_invoker: Option<bool>,
    /// `aws_lambda.endpoint_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda_endpoint_url: Option<String>,
    /// `aws_s3.storage_bucket`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_bucket: Option<String>,
    /// `aws_s3.endpoint_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_endpoint_url: Option<String>,
}

impl ExecutorConfig {
    /// Sets `key` to `value`, checking the value's type.
    pub fn set(&mut self, key: &ConfigKey, value: ConfigValue) -> Result<(), ConfigValueError> {
        let wrong = |value: &ConfigValue| ConfigValueError {
            expected: key.kind.describe(),
            found: match value {
                ConfigValue::Str(s) => format!("{s:?}"),
                ConfigValue::Int(i) => i.to_string(),
                ConfigValue::Bool(b) => b.to_string(),
            },
        };
        let string = |value: ConfigValue| match value {
            ConfigValue::Str(s) => Ok(s),
            other => Err(wrong(&other)),
        };
        let positive = |value: ConfigValue| match value {
            ConfigValue::Int(i) if i > 0 => Ok(i.unsigned_abs()),
            other => Err(wrong(&other)),
        };
        match key.field {
            Field::Backend => {
                let name = string(value.clone())?;
                self.backend = Some(Backend::from_name(&name).ok_or_else(|| wrong(&value))?);
            }
            Field::Storage => {
                let name = string(value.clone())?;
                self.storage = Some(StorageBackend::from_name(&name).ok_or_else(|| wrong(&value))?);
            }
            Field::ExecutionTimeout => self.execution_timeout = Some(positive(value)?),
            Field::LogLevel => self.log_level = Some(string(value)?),
            Field::WorkerProcesses => self.worker_processes = Some(positive(value)?),
            Field::Python => self.python = Some(string(value)?),
            Field::Region => self.region = Some(string(value)?),
            Field::ExecutionRole => self.execution_role = Some(string(value)?),
            Field::Runtime => self.runtime = Some(string(value)?),
            Field::RuntimeMemory => self.runtime_memory = Some(positive(value)?),
            Field::RuntimeTimeout => self.runtime_timeout = Some(positive(value)?),
            Field::InvokePoolThreads => self.invoke_pool_threads = Some(positive(value)?),
            Field::RemoteInvoker => match value {
                ConfigValue::Bool(b) => self.remote_invoker = Some(b),
                other => return Err(wrong(&other)),
            },
            Field::LambdaEndpoint => self.lambda_endpoint_url = Some(string(value)?),
            Field::StorageBucket => self.storage_bucket = Some(string(value)?),
            Field::S3Endpoint => self.s3_endpoint_url = Some(string(value)?),
        }
        Ok(())
    }

    /// Overlays `later` on `self`: every key `later` sets wins.
    pub fn merge(&mut self, later: &ExecutorConfig) {
        fn pick<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        pick(&mut self.backend, &later.backend);
        pick(&mut self.storage, &later.storage);
        pick(&mut self.execution_timeout, &later.execution_timeout);
        pick(&mut self.log_level, &later.log_level);
        pick(&mut self.worker_processes, &later.worker_processes);
        pick(&mut self.python, &later.python);
        pick(&mut self.region, &later.region);
        pick(&mut self.execution_role, &later.execution_role);
        pick(&mut self.runtime, &later.runtime);
        pick(&mut self.runtime_memory, &later.runtime_memory);
        pick(&mut self.runtime_timeout, &later.runtime_timeout);
        pick(&mut self.invoke_pool_threads, &later.invoke_pool_threads);
        pick(&mut self.remote_invoker, &later.remote_invoker);
        pick(&mut self.lambda_endpoint_url, &later.lambda_endpoint_url);
        pick(&mut self.storage_bucket, &later.storage_bucket);
        pick(&mut self.s3_endpoint_url, &later.s3_endpoint_url);
    }

    /// The compute backend after defaults (Lithops' default is localhost here).
    pub fn effective_backend(&self) -> Backend {
        self.backend.unwrap_or(Backend::Localhost)
    }

    /// The storage after defaults.
    pub fn effective_storage(&self) -> StorageBackend {
        self.storage.unwrap_or(StorageBackend::Localhost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_key_by_key() {
        let mut dag = ExecutorConfig::default();
        let backend = lookup_key(None, "backend").expect("flat backend key");
        dag.set(backend, ConfigValue::Str("aws_lambda".into()))
            .expect("valid");
        let memory = lookup_key(Some("aws_lambda"), "runtime_memory").expect("known key");
        dag.set(memory, ConfigValue::Int(512)).expect("valid");

        let mut task = ExecutorConfig::default();
        task.set(memory, ConfigValue::Int(1024)).expect("valid");
        dag.merge(&task);

        assert_eq!(dag.backend, Some(Backend::AwsLambda));
        assert_eq!(dag.runtime_memory, Some(1024));
    }

    #[test]
    fn values_are_type_checked() {
        let mut cfg = ExecutorConfig::default();
        let storage = lookup_key(Some("lithops"), "storage").expect("known key");
        let err = cfg
            .set(storage, ConfigValue::Str("gcs".into()))
            .expect_err("bad storage");
        assert_eq!(
            err.to_string(),
            "expected a storage name (\"localhost\" or \"aws_s3\"), found \"gcs\""
        );
        let memory = lookup_key(None, "runtime_memory").expect("flat key");
        assert!(cfg.set(memory, ConfigValue::Int(0)).is_err());
    }

    #[test]
    fn region_is_only_known_inside_its_section() {
        assert!(lookup_key(None, "region").is_none());
        assert!(lookup_key(Some("aws"), "region").is_some());
        assert!(is_credential_key("AWS_SECRET_ACCESS_KEY"));
        assert!(!is_credential_key("region"));
    }
}
