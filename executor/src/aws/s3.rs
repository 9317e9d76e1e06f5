//! The `aws_s3` storage: job data, large results and object parts in an S3 bucket.
//!
//! Every request is retried on throttling, 5xx answers, timeouts and connection failures,
//! with exponential backoff and jitter, a bounded number of times ([`RetryPolicy`]); the
//! SDK's own retries are switched off so the two do not multiply. Errors name the
//! operation, the `s3://bucket/key` and the server's error code.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration,
    Delete, ObjectIdentifier,
};
use tokio::sync::Semaphore;

use crate::aws::AwsSettings;
use crate::error::Error;
use crate::partition::{self, AsyncObjectSource, Chunking};
use crate::protocol::ObjectPart;

/// Bodies larger than this are uploaded in parts of this size (multipart upload).
pub const MULTIPART_PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one multipart upload in flight at once.
const UPLOAD_CONCURRENCY: usize = 4;
/// `DeleteObjects` takes at most this many keys.
const DELETE_BATCH: usize = 1000;
/// Objects split at once when an `obj` names a prefix.
const SPLIT_CONCURRENCY: usize = 16;

/// Error codes S3 (and S3-compatible servers) answer when a request may succeed later.
const RETRYABLE_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "TooManyRequests",
    "TooManyRequestsException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
];

/// How failed requests are retried: exponential backoff with jitter, bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// The delay before the second attempt (before jitter).
    pub initial_delay: Duration,
    /// No delay is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, 100 ms doubling up to 5 s: at most about 3 s of waiting in all.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): `initial * 2^(attempt-1)`,
    /// capped at `max_delay`, then a random point in its upper half ("equal jitter"), so
    /// clients that failed together do not retry together.
    pub fn delay(&self, attempt: u32) -> Duration {
        super::backoff(attempt, self.initial_delay, self.max_delay)
    }
}

/// A failed S3 request, before it becomes an [`Error`].
#[derive(Debug, Clone)]
struct Fault {
    /// The HTTP status, when the server answered.
    status: Option<u16>,
    /// The server's error code (`NoSuchKey`, `SlowDown`).
    code: Option<String>,
    /// What happened.
    message: String,
    /// Whether trying again may help.
    retryable: bool,
}

impl Fault {
    fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Fault
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_owned);
        let message = match err.message() {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => DisplayErrorContext(&err).to_string(),
        };
        let retryable = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(_) => retryable_answer(status, code.as_deref()),
            _ => false,
        };
        Fault {
            status,
            code,
            message,
            retryable,
        }
    }

    /// A body that broke off while it was being read.
    fn body(e: impl std::fmt::Display) -> Fault {
        Fault {
            status: None,
            code: None,
            message: format!("reading the response body failed: {e}"),
            retryable: true,
        }
    }

    fn not_found(&self) -> bool {
        self.status == Some(404)
            || matches!(
                self.code.as_deref(),
                Some("NoSuchKey" | "NotFound" | "NoSuchBucket")
            )
    }

    fn no_such_bucket(&self) -> bool {
        self.code.as_deref() == Some("NoSuchBucket")
    }
}

/// Whether a server's answer (status, error code) means "try again later".
fn retryable_answer(status: Option<u16>, code: Option<&str>) -> bool {
    matches!(status, Some(429 | 500 | 502 | 503 | 504))
        || code.is_some_and(|c| RETRYABLE_CODES.contains(&c))
}

/// One object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// An `s3://bucket/key` location (the key may be empty, or a prefix ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key, prefix, or nothing (the whole bucket).
    pub key: String,
}

impl S3Location {
    /// Parses `s3://bucket[/key]`; None when it is not one.
    pub fn parse(location: &str) -> Option<S3Location> {
        let rest = location.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(S3Location {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// An S3 bucket used as storage.
#[derive(Debug, Clone)]
pub struct S3Storage {
    /// The bucket.
    pub bucket: String,
    client: aws_sdk_s3::Client,
    retry: RetryPolicy,
}

impl S3Storage {
    /// Storage in the configured bucket (`[aws_s3] storage_bucket`). As Lithops does, the
    /// bucket is created when it does not exist (and that is logged).
    pub async fn new(settings: &AwsSettings) -> Result<S3Storage, Error> {
        let bucket = settings.bucket.clone().ok_or_else(|| {
            Error::Config(
                "storage = \"aws_s3\" needs `[aws_s3] storage_bucket` (in lithoflow.toml or the DAG's `[lithops_config.aws_s3]`)"
                    .to_owned(),
            )
        })?;
        let storage = S3Storage::from_client(bucket, crate::aws::s3_client(settings).await);
        storage.ensure_bucket().await?;
        Ok(storage)
    }

    /// A client for objects in any bucket (`obj = "s3://..."` with another storage),
    /// without checking or creating a bucket.
    pub async fn for_objects(settings: &AwsSettings) -> S3Storage {
        S3Storage::from_client(
            settings.bucket.clone().unwrap_or_default(),
            crate::aws::s3_client(settings).await,
        )
    }

    /// Storage in `bucket` through an existing client (no request is made). The client's
    /// own retries are switched off: this storage retries by its [`RetryPolicy`].
    pub fn from_client(bucket: impl Into<String>, client: aws_sdk_s3::Client) -> S3Storage {
        let conf = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        S3Storage {
            bucket: bucket.into(),
            client: aws_sdk_s3::Client::from_conf(conf),
            retry: RetryPolicy::default(),
        }
    }

    /// The same client on another bucket.
    pub fn for_bucket(&self, bucket: &str) -> S3Storage {
        S3Storage {
            bucket: bucket.to_owned(),
            client: self.client.clone(),
            retry: self.retry,
        }
    }

    /// This storage with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> S3Storage {
        self.retry = retry;
        self
    }

    /// The S3 client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// `s3://bucket/key`.
    pub fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Creates the bucket when it does not exist, as Lithops does with its storage bucket.
    pub async fn ensure_bucket(&self) -> Result<(), Error> {
        let head = self
            .attempt("head bucket", "", || async {
                self.client
                    .head_bucket()
                    .bucket(&self.bucket)
                    .send()
                    .await
                    .map(drop)
                    .map_err(Fault::from_sdk)
            })
            .await;
        match head {
            Ok(()) => return Ok(()),
            Err(f) if f.not_found() => {}
            Err(f) => {
                return Err(self.error(
                    "check storage bucket",
                    "",
                    &f,
                    "check `[aws_s3] storage_bucket`, the credentials (the standard AWS chain) and the endpoint",
                ));
            }
        }
        let region = self.client.config().region().map(|r| r.as_ref().to_owned());
        let created = self
            .attempt("create bucket", "", || async {
                let mut req = self.client.create_bucket().bucket(&self.bucket);
                if let Some(region) = region.as_deref().filter(|r| *r != "us-east-1") {
                    req = req.create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::from(region))
                            .build(),
                    );
                }
                req.send().await.map(drop).map_err(Fault::from_sdk)
            })
            .await;
        match created {
            Ok(()) => {
                tracing::info!(
                    bucket = %self.bucket,
                    region = region.as_deref().unwrap_or("default"),
                    "created the storage bucket, which did not exist"
                );
                Ok(())
            }
            Err(f) if f.code.as_deref() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(f) => Err(self.error(
                "create storage bucket",
                "",
                &f,
                &format!(
                    "the storage bucket `{}` does not exist and could not be created; create it, or set `[aws_s3] storage_bucket` to a bucket you own",
                    self.bucket
                ),
            )),
        }
    }

    /// Writes `body` at `key` (a multipart upload in [`MULTIPART_PART_SIZE`] parts when it
    /// is larger than one part).
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), Error> {
        if body.len() > MULTIPART_PART_SIZE {
            return self.put_multipart(key, body).await;
        }
        let body = SdkBody::from(body);
        self.retry("put", key, || async {
            let attempt_body = body
                .try_clone()
                .map_or_else(|| ByteStream::from(Vec::new()), ByteStream::new);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(attempt_body)
                .send()
                .await
                .map(drop)
                .map_err(Fault::from_sdk)
        })
        .await
    }

    async fn put_multipart(&self, key: &str, body: Vec<u8>) -> Result<(), Error> {
        let upload_id = self
            .retry("create multipart upload", key, || async {
                self.client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(Fault::from_sdk)
                    .and_then(|r| {
                        r.upload_id.ok_or_else(|| Fault {
                            status: None,
                            code: None,
                            message: "the server answered no upload id".to_owned(),
                            retryable: false,
                        })
                    })
            })
            .await?;
        match self.upload_parts(key, &upload_id, body).await {
            Ok(parts) => {
                let done = self
                    .retry("complete multipart upload", key, || async {
                        self.client
                            .complete_multipart_upload()
                            .bucket(&self.bucket)
                            .key(key)
                            .upload_id(&upload_id)
                            .multipart_upload(
                                CompletedMultipartUpload::builder()
                                    .set_parts(Some(parts.clone()))
                                    .build(),
                            )
                            .send()
                            .await
                            .map(drop)
                            .map_err(Fault::from_sdk)
                    })
                    .await;
                if done.is_err() {
                    self.abort_upload(key, &upload_id).await;
                }
                done
            }
            Err(e) => {
                self.abort_upload(key, &upload_id).await;
                Err(e)
            }
        }
    }

    /// Uploads the parts, a few at a time; returns them in order.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        body: Vec<u8>,
    ) -> Result<Vec<CompletedPart>, Error> {
        let permits = Arc::new(Semaphore::new(UPLOAD_CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, chunk) in body.chunks(MULTIPART_PART_SIZE).enumerate() {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break;
            };
            let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
            let part = SdkBody::from(chunk.to_vec());
            let (storage, key, upload_id) = (self.clone(), key.to_owned(), upload_id.to_owned());
            tasks.spawn(async move {
                let _permit = permit;
                let what = format!("upload part {number} of");
                let etag = storage
                    .retry(&what, &key, || async {
                        let attempt_body = part
                            .try_clone()
                            .map_or_else(|| ByteStream::from(Vec::new()), ByteStream::new);
                        storage
                            .client
                            .upload_part()
                            .bucket(&storage.bucket)
                            .key(&key)
                            .upload_id(&upload_id)
                            .part_number(number)
                            .body(attempt_body)
                            .send()
                            .await
                            .map(|r| r.e_tag)
                            .map_err(Fault::from_sdk)
                    })
                    .await?;
                Ok::<_, Error>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(etag)
                        .build(),
                )
            });
        }
        let mut parts = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(part)) => parts.push(part),
                Ok(Err(e)) => return Err(e),
                Err(e) => {
                    return Err(Error::Cloud {
                        service: "s3",
                        message: format!("uploading a part of {} failed: {e}", self.location(key)),
                    });
                }
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) {
        let aborted = self
            .retry("abort multipart upload", key, || async {
                self.client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await
                    .map(drop)
                    .map_err(Fault::from_sdk)
            })
            .await;
        if let Err(e) = aborted {
            tracing::warn!(bucket = %self.bucket, key, error = %e, "failed to abort a multipart upload");
        }
    }

    /// Reads the object at `key`.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, Error> {
        self.retry("get", key, || async {
            let resp = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(Fault::from_sdk)?;
            let body = resp.body.collect().await.map_err(Fault::body)?;
            Ok(body.into_bytes().to_vec())
        })
        .await
    }

    /// Reads bytes `[start, end)` of the object at `key` (a ranged GET, `bytes=start-(end-1)`;
    /// fewer bytes when the object ends first).
    pub async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Vec<u8>, Error> {
        if end <= start {
            return Ok(Vec::new());
        }
        let range = format!("bytes={start}-{}", end - 1);
        let what = format!("get {range} of");
        self.retry(&what, key, || async {
            let resp = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .range(&range)
                .send()
                .await
                .map_err(Fault::from_sdk)?;
            let body = resp.body.collect().await.map_err(Fault::body)?;
            let mut bytes = body.into_bytes().to_vec();
            // A server that ignores the range answers the whole object.
            if bytes.len() as u64 > end - start && resp.content_range.is_none() {
                let a = usize::try_from(start)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let b = usize::try_from(end).unwrap_or(usize::MAX).min(bytes.len());
                bytes = bytes[a..b].to_vec();
            }
            Ok(bytes)
        })
        .await
    }

    /// The size of the object at `key`, or None when there is none.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, Error> {
        let head = self
            .attempt("head", key, || async {
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map(|r| r.content_length.and_then(|n| u64::try_from(n).ok()))
                    .map_err(Fault::from_sdk)
            })
            .await;
        match head {
            Ok(size) => Ok(Some(size.unwrap_or(0))),
            Err(f) if f.not_found() && !f.no_such_bucket() => Ok(None),
            Err(f) => Err(self.error("head", key, &f, "")),
        }
    }

    /// Every object whose key starts with `prefix`, in key order (all pages).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, Error> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retry("list", prefix, || async {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(prefix)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(Fault::from_sdk)
                })
                .await?;
            objects.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectInfo {
                    key: o.key()?.to_owned(),
                    size: o.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                })
            }));
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) && !t.is_empty() => {
                    token = Some(t.to_owned());
                }
                _ => break,
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// Deletes these keys (`DeleteObjects`, up to 1000 per request); keys that do not
    /// exist are fine.
    pub async fn delete(&self, keys: &[String]) -> Result<(), Error> {
        for batch in keys.chunks(DELETE_BATCH) {
            let ids = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.cloud(format!("cannot build a delete request: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| self.cloud(format!("cannot build a delete request: {e}")))?;
            let first = batch.first().map_or("", String::as_str);
            let resp = self
                .retry("delete objects from", first, || async {
                    self.client
                        .delete_objects()
                        .bucket(&self.bucket)
                        .delete(delete.clone())
                        .send()
                        .await
                        .map_err(Fault::from_sdk)
                })
                .await?;
            if let Some(e) = resp.errors().first() {
                return Err(self.cloud(format!(
                    "delete {} failed: {} ({} of {} keys failed): {}",
                    self.location(e.key().unwrap_or_default()),
                    e.code().unwrap_or("unknown error"),
                    resp.errors().len(),
                    batch.len(),
                    e.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Deletes every object under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), Error> {
        let keys: Vec<String> = self
            .list(prefix)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        self.delete(&keys).await?;
        tracing::debug!(bucket = %self.bucket, prefix, objects = keys.len(), "deleted a prefix");
        Ok(())
    }

    /// The objects an `obj` location names, sorted by key: one key (`s3://b/dir/key`),
    /// every object under a prefix (`s3://b/prefix/`, the trailing `/` is what makes it
    /// a prefix), or the whole bucket (`s3://b`). Keys ending in `/` (folder markers)
    /// are skipped, as Lithops does.
    pub async fn objects(&self, location: &S3Location) -> Result<Vec<ObjectInfo>, Error> {
        let storage = self.for_bucket(&location.bucket);
        if location.key.is_empty() || location.key.ends_with('/') {
            let objects: Vec<ObjectInfo> = storage
                .list(&location.key)
                .await?
                .into_iter()
                .filter(|o| !o.key.ends_with('/'))
                .collect();
            if objects.is_empty() {
                return Err(self.cloud(format!("no objects found under {location}")));
            }
            return Ok(objects);
        }
        match storage.head(&location.key).await? {
            Some(size) => Ok(vec![ObjectInfo {
                key: location.key.clone(),
                size,
            }]),
            None => {
                let prefix = format!("{}/", location.key);
                let hint = if storage.list(&prefix).await.is_ok_and(|l| !l.is_empty()) {
                    format!(
                        " (objects exist under s3://{}/{prefix}: a prefix needs its trailing `/`)",
                        location.bucket
                    )
                } else {
                    String::new()
                };
                Err(self.cloud(format!("{location} does not exist{hint}")))
            }
        }
    }

    /// One object as a source for the partitioner (reads are ranged GETs).
    pub fn object(&self, key: &str, size: u64) -> S3Object {
        S3Object {
            storage: self.clone(),
            key: key.to_owned(),
            size,
        }
    }

    /// Runs a request with retries; a final failure becomes an [`Error`].
    async fn retry<T, F, Fut>(&self, op: &str, key: &str, f: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Fault>>,
    {
        self.attempt(op, key, f)
            .await
            .map_err(|fault| self.error(op, key, &fault, ""))
    }

    /// Runs a request, retrying retryable faults by the policy; returns the last fault.
    async fn attempt<T, F, Fut>(&self, op: &str, key: &str, mut f: F) -> Result<T, Fault>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Fault>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(fault) if fault.retryable && attempt < self.retry.max_attempts => {
                    let delay = self.retry.delay(attempt);
                    tracing::warn!(
                        bucket = %self.bucket,
                        key,
                        op,
                        attempt,
                        status = fault.status,
                        code = fault.code.as_deref().unwrap_or(""),
                        delay_ms = delay.as_millis() as u64,
                        "s3 request failed; retrying: {}",
                        fault.message
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(mut fault) => {
                    if fault.retryable && attempt > 1 {
                        fault.message = format!("{} (after {attempt} attempts)", fault.message);
                    }
                    return Err(fault);
                }
            }
        }
    }

    fn cloud(&self, message: String) -> Error {
        Error::Cloud {
            service: "s3",
            message,
        }
    }

    /// `op s3://bucket/key failed: Code (HTTP 404): message`, with a hint for the
    /// common causes.
    fn error(&self, op: &str, key: &str, fault: &Fault, hint: &str) -> Error {
        let mut message = format!("{op} {} failed: ", self.location(key));
        match (&fault.code, fault.status) {
            (Some(code), Some(status)) => message.push_str(&format!("{code} (HTTP {status}): ")),
            (Some(code), None) => message.push_str(&format!("{code}: ")),
            (None, Some(status)) => message.push_str(&format!("HTTP {status}: ")),
            (None, None) => {}
        }
        message.push_str(&fault.message);
        let hint = if !hint.is_empty() {
            hint.to_owned()
        } else if fault.no_such_bucket() {
            format!(
                "the bucket `{}` does not exist; create it, or name an existing one",
                self.bucket
            )
        } else if fault.status == Some(403) {
            "access denied: check the credentials (the standard AWS chain) and the bucket's policy"
                .to_owned()
        } else if fault.status.is_none() && fault.code.is_none() {
            "is the endpoint right? (`[aws_s3] endpoint_url`, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)".to_owned()
        } else {
            String::new()
        };
        if !hint.is_empty() {
            message.push_str("; ");
            message.push_str(&hint);
        }
        self.cloud(message)
    }
}

/// One S3 object as a partitioner source: its size is known from the listing, and each
/// read is a ranged GET of the bytes around a part boundary.
#[derive(Debug, Clone)]
pub struct S3Object {
    storage: S3Storage,
    key: String,
    size: u64,
}

impl AsyncObjectSource for S3Object {
    fn size(&self) -> u64 {
        self.size
    }

    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let end = offset.saturating_add(len as u64).min(self.size);
        self.storage
            .get_range(&self.key, offset, end)
            .await
            .map_err(io::Error::other)
    }
}

/// The parts of the objects an `s3://` location names, split exactly as local files are
/// (`partition::split`): objects in key order, each object's parts in order. `storage`
/// only lends its client; the location names the bucket.
pub async fn object_parts(
    storage: &S3Storage,
    location: &str,
    chunking: Chunking,
) -> Result<Vec<ObjectPart>, Error> {
    let loc = S3Location::parse(location).ok_or_else(|| Error::Cloud {
        service: "s3",
        message: format!("`{location}` is not an s3://bucket/key location"),
    })?;
    let bucket = storage.for_bucket(&loc.bucket);
    let objects = bucket.objects(&loc).await?;
    let permits = Arc::new(Semaphore::new(SPLIT_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, info) in objects.into_iter().enumerate() {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let object = bucket.object(&info.key, info.size);
        let name = loc.bucket.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let ranges = partition::split_async(&object, chunking).await;
            let parts = ranges.map(|ranges| {
                let total = ranges.len();
                ranges
                    .into_iter()
                    .enumerate()
                    .map(|(n, range)| ObjectPart {
                        bucket: Some(name.clone()),
                        key: object.key.clone(),
                        path: None,
                        part: n + 1,
                        total_parts: total,
                        range,
                        data_b64: None,
                    })
                    .collect::<Vec<_>>()
            });
            (i, parts)
        });
    }
    let mut split: Vec<(usize, Vec<ObjectPart>)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, parts) = joined.map_err(|e| Error::Cloud {
            service: "s3",
            message: format!("splitting {location} failed: {e}"),
        })?;
        // The read error already names the object.
        split.push((
            i,
            parts.map_err(|e| Error::Cloud {
                service: "s3",
                message: format!("splitting {location} failed: {e}"),
            })?,
        ));
    }
    split.sort_by_key(|(i, _)| *i);
    let parts = split.into_iter().flat_map(|(_, p)| p).collect();
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn client(endpoint: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    fn answer(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn s3_error(status: &str, code: &str) -> String {
        answer(
            status,
            &format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code} says the server</Message></Error>"
            ),
        )
    }

    /// A tiny HTTP server that answers request n with `answers[n]` (the last one
    /// repeats): a stand-in for an S3 endpoint that throttles or fails.
    async fn fake_s3(answers: Vec<String>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let count = Arc::new(AtomicUsize::new(0));
        let served = Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let answers = answers.clone();
                let served = Arc::clone(&served);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let Ok(n) = conn.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let body_len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + body_len {
                            continue;
                        }
                        buf.drain(..end + 4 + body_len);
                        let i = served.fetch_add(1, Ordering::SeqCst);
                        let reply = &answers[i.min(answers.len() - 1)];
                        if conn.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}"), count)
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried_until_the_request_succeeds() {
        let (endpoint, count) = fake_s3(vec![
            s3_error("503 Slow Down", "SlowDown"),
            s3_error("500 Internal Server Error", "InternalError"),
            answer("200 OK", "hello"),
        ])
        .await;
        let s = S3Storage::from_client("b", client(&endpoint)).with_retry(quick());
        assert_eq!(s.get("k").await.expect("third time lucky"), b"hello");
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded_and_the_error_names_the_object_and_the_code() {
        let (endpoint, count) = fake_s3(vec![s3_error("503 Slow Down", "SlowDown")]).await;
        let s = S3Storage::from_client("b", client(&endpoint)).with_retry(quick());
        let e = s
            .get("dir/k")
            .await
            .expect_err("always throttled")
            .to_string();
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert!(
            e.starts_with("s3: get s3://b/dir/k failed: SlowDown (HTTP 503)"),
            "{e}"
        );
        assert!(e.contains("after 3 attempts"), "{e}");
    }

    #[tokio::test]
    async fn client_errors_fail_at_once() {
        let (endpoint, count) = fake_s3(vec![s3_error("403 Forbidden", "AccessDenied")]).await;
        let s = S3Storage::from_client("b", client(&endpoint)).with_retry(quick());
        let e = s.get("k").await.expect_err("denied").to_string();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(e.contains("AccessDenied (HTTP 403)"), "{e}");
        assert!(e.contains("check the credentials"), "{e}");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_retried_then_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let s = S3Storage::from_client("b", client(&format!("http://127.0.0.1:{port}")))
            .with_retry(quick());
        let e = s
            .put("k", b"x".to_vec())
            .await
            .expect_err("nobody listens")
            .to_string();
        assert!(e.starts_with("s3: put s3://b/k failed"), "{e}");
        assert!(e.contains("is the endpoint right?"), "{e}");
    }

    #[test]
    fn locations_parse() {
        assert_eq!(
            S3Location::parse("s3://b/dir/key.txt"),
            Some(S3Location {
                bucket: "b".into(),
                key: "dir/key.txt".into()
            })
        );
        assert_eq!(
            S3Location::parse("s3://b").map(|l| l.key),
            Some(String::new())
        );
        assert_eq!(S3Location::parse("s3:///key"), None);
        assert_eq!(S3Location::parse("/local/file"), None);
    }

    #[test]
    fn throttling_and_server_errors_are_retried_client_errors_are_not() {
        assert!(retryable_answer(Some(503), Some("SlowDown")));
        assert!(retryable_answer(Some(500), None));
        assert!(retryable_answer(Some(429), None));
        assert!(retryable_answer(Some(400), Some("RequestTimeout")));
        assert!(!retryable_answer(Some(404), Some("NoSuchKey")));
        assert!(!retryable_answer(Some(403), Some("AccessDenied")));
        assert!(!retryable_answer(Some(400), Some("InvalidArgument")));
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_bounded() {
        let p = RetryPolicy::default();
        for attempt in 1..40 {
            let full = p
                .initial_delay
                .saturating_mul(1 << (attempt - 1).min(30))
                .min(p.max_delay);
            let d = p.delay(attempt);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} vs {full:?}"
            );
        }
        assert!(p.delay(1) <= Duration::from_millis(100));
        assert!(p.delay(30) <= p.max_delay);
        // Jitter: not every delay is the same.
        let delays: std::collections::HashSet<Duration> = (0..20).map(|_| p.delay(5)).collect();
        assert!(delays.len() > 1);
    }
}
