//! The AWS clients jobs use, built once per set of settings: an S3 storage, and a
//! Lambda backend on top of it. Building them loads the SDK's configuration (credentials,
//! region), which is too slow to repeat for every job.

use std::collections::HashMap;
use std::sync::Arc;

use super::AwsSettings;
use super::lambda::LambdaBackend;
use super::s3::S3Storage;
use crate::error::Error;

/// Clients built once per set of settings and shared by jobs.
#[derive(Default)]
pub(crate) struct Cache {
    storages: tokio::sync::Mutex<HashMap<AwsSettings, S3Storage>>,
    backends: tokio::sync::Mutex<HashMap<AwsSettings, Arc<LambdaBackend>>>,
}

impl Cache {
    /// The S3 storage for these settings.
    pub(crate) async fn storage(&self, settings: &AwsSettings) -> Result<S3Storage, Error> {
        let mut map = self.storages.lock().await;
        if let Some(s) = map.get(settings) {
            return Ok(s.clone());
        }
        let s = S3Storage::new(settings).await?;
        map.insert(settings.clone(), s.clone());
        Ok(s)
    }

    /// The Lambda backend for these settings.
    pub(crate) async fn backend(
        &self,
        settings: &AwsSettings,
    ) -> Result<Arc<LambdaBackend>, Error> {
        if let Some(b) = self.backends.lock().await.get(settings) {
            return Ok(Arc::clone(b));
        }
        let storage = self.storage(settings).await?;
        let b = Arc::new(LambdaBackend::new(settings, storage).await?);
        self.backends
            .lock()
            .await
            .insert(settings.clone(), Arc::clone(&b));
        Ok(b)
    }
}
