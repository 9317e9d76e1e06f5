//! The `aws_lambda` backend: calls as Lambda invocations of the lithoflow runtime.

use crate::aws::AwsSettings;
use crate::aws::s3::S3Storage;
use crate::error::Error;
use crate::local::WorkItem;

/// Invokes the runtime function for a set of AWS settings.
#[derive(Debug)]
pub struct LambdaBackend {
    settings: AwsSettings,
    storage: S3Storage,
    client: aws_sdk_lambda::Client,
}

impl LambdaBackend {
    /// A backend for these settings; job data and modules go to `storage`.
    pub async fn new(settings: &AwsSettings, storage: S3Storage) -> Result<LambdaBackend, Error> {
        Ok(LambdaBackend {
            settings: settings.clone(),
            storage,
            client: crate::aws::lambda_client(settings).await,
        })
    }

    /// Queues a call.
    pub(crate) async fn submit(&self, item: WorkItem) -> Result<(), Error> {
        let _ = (&self.settings, &self.storage, &self.client, item);
        Err(Error::Config(
            "the aws_lambda backend is not implemented yet".to_owned(),
        ))
    }
}
