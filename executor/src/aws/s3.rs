//! The `aws_s3` storage: job data, large results and object parts in an S3 bucket.

use crate::aws::AwsSettings;
use crate::error::Error;

/// An S3 bucket used as storage.
#[derive(Debug, Clone)]
pub struct S3Storage {
    /// The bucket.
    pub bucket: String,
    client: aws_sdk_s3::Client,
}

impl S3Storage {
    /// Storage in the configured bucket (`[aws_s3] storage_bucket`).
    pub async fn new(settings: &AwsSettings) -> Result<S3Storage, Error> {
        let bucket = settings.bucket.clone().ok_or_else(|| {
            Error::Config("storage = \"aws_s3\" needs `[aws_s3] storage_bucket`".to_owned())
        })?;
        Ok(S3Storage {
            bucket,
            client: crate::aws::s3_client(settings).await,
        })
    }

    /// The S3 client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Writes `body` at `key`.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), Error> {
        let _ = (key, body);
        Err(Error::Config(
            "aws_s3 storage is not implemented yet".to_owned(),
        ))
    }

    /// Deletes every object under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), Error> {
        let _ = prefix;
        Err(Error::Config(
            "aws_s3 storage is not implemented yet".to_owned(),
        ))
    }
}
