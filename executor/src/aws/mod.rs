//! AWS: the settings and SDK clients shared by the `aws_lambda` backend and the `aws_s3`
//! storage. Credentials come only from the standard AWS chain (environment, profiles,
//! roles); endpoints from the config (`[aws_lambda] endpoint_url`, `[aws_s3]
//! endpoint_url`) or the SDK's own `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`,
//! `AWS_ENDPOINT_URL_LAMBDA`, so any S3/Lambda-compatible server works.

pub(crate) mod cache;
pub mod deploy;
pub mod lambda;
pub mod s3;

use std::hash::BuildHasher;
use std::time::Duration;

use crate::config::ExecutorConfig;

/// Lithops' default memory of a Lambda runtime, MB.
pub const DEFAULT_RUNTIME_MEMORY: u64 = 256;
/// Lithops' default Lambda timeout, seconds.
pub const DEFAULT_RUNTIME_TIMEOUT: u64 = 180;
/// Lithops' default concurrent invocations for aws_lambda.
pub const DEFAULT_INVOKE_POOL_THREADS: usize = 64;

/// AWS settings after layering, with Lithops' defaults.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsSettings {
    /// `[aws] region` (None: the SDK's chain, e.g. `AWS_REGION`).
    pub region: Option<String>,
    /// `[aws_lambda] endpoint_url`.
    pub lambda_endpoint: Option<String>,
    /// `[aws_s3] endpoint_url`.
    pub s3_endpoint: Option<String>,
    /// `[aws_s3] storage_bucket`.
    pub bucket: Option<String>,
    /// `[aws_lambda] execution_role` (an IAM role ARN).
    pub execution_role: Option<String>,
    /// `[aws_lambda] runtime_memory`, MB.
    pub runtime_memory: u64,
    /// `[aws_lambda] runtime_timeout`, seconds.
    pub runtime_timeout: u64,
    /// `[aws_lambda] invoke_pool_threads`.
    pub invoke_pool_threads: usize,
    /// `[aws_lambda] runtime`: the Lambda runtime of the runtime function (None:
    /// [`deploy::DEFAULT_PYTHON_RUNTIME`]).
    pub runtime: Option<String>,
}

impl AwsSettings {
    /// The AWS settings of a layered executor config.
    pub fn from_config(cfg: &ExecutorConfig) -> AwsSettings {
        AwsSettings {
            region: cfg.region.clone(),
            lambda_endpoint: cfg.lambda_endpoint_url.clone(),
            s3_endpoint: cfg.s3_endpoint_url.clone(),
            bucket: cfg.storage_bucket.clone(),
            execution_role: cfg.execution_role.clone(),
            runtime_memory: cfg.runtime_memory.unwrap_or(DEFAULT_RUNTIME_MEMORY),
            runtime_timeout: cfg.runtime_timeout.unwrap_or(DEFAULT_RUNTIME_TIMEOUT),
            invoke_pool_threads: cfg
                .invoke_pool_threads
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(DEFAULT_INVOKE_POOL_THREADS),
            runtime: cfg.runtime.clone(),
        }
    }
}

/// The SDK configuration: the standard chain for credentials and region, with the
/// configured region on top.
pub async fn sdk_config(settings: &AwsSettings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader.load().await
}

/// An S3 client: path-style addressing (what S3-compatible servers need), the
/// configured endpoint over the SDK's environment ones.
pub async fn s3_client(settings: &AwsSettings) -> aws_sdk_s3::Client {
    let sdk = sdk_config(settings).await;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true);
    if let Some(url) = &settings.s3_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// A Lambda client, the configured endpoint over the SDK's environment ones.
pub async fn lambda_client(settings: &AwsSettings) -> aws_sdk_lambda::Client {
    let sdk = sdk_config(settings).await;
    lambda_client_from(&sdk, settings, true)
}

/// A Lambda client on an SDK configuration; `sdk_retries = false` turns the SDK's own
/// retries off (the backend retries invocations itself, with backoff and requeueing).
pub(crate) fn lambda_client_from(
    sdk: &aws_config::SdkConfig,
    settings: &AwsSettings,
    sdk_retries: bool,
) -> aws_sdk_lambda::Client {
    let mut b = aws_sdk_lambda::config::Builder::from(sdk);
    if let Some(url) = &settings.lambda_endpoint {
        b = b.endpoint_url(url);
    }
    if !sdk_retries {
        b = b.retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled());
    }
    aws_sdk_lambda::Client::from_conf(b.build())
}

/// The pause before retry `attempt` (1-based) of a throttled or failed AWS request:
/// `initial * 2^(attempt-1)`, capped at `max`, then a random point in its upper half
/// ("equal jitter"), so clients that failed together do not retry together. The S3
/// storage ([`s3::RetryPolicy`]) and the Lambda invocations both wait this way, each with
/// its own bounds.
pub(crate) fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let full = initial.saturating_mul(1u32 << exp).min(max);
    let half = full / 2;
    let random = std::collections::hash_map::RandomState::new()
        .hash_one((attempt, std::time::Instant::now()));
    let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if jitter_ns == 0 {
        0
    } else {
        random % (jitter_ns + 1)
    };
    half + Duration::from_nanos(jitter)
}
