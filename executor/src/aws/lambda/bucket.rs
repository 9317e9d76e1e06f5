//! The backend's own requests on its bucket (modules archives, the remote invoker's
//! requests, offloaded results, status objects): single attempts, whose callers decide
//! what a failure means (the status poller retries a listing on its own schedule; a
//! missing object is `None`, not an error).

use std::time::SystemTime;

use super::Inner;
use crate::error::Error;

impl Inner {
    pub(super) async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), Error> {
        self.storage
            .client()
            .put_object()
            .bucket(&self.storage.bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .map_err(|e| s3_error(&format!("writing s3://{}/{key}", self.storage.bucket), &e))?;
        Ok(())
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let out = match self
            .storage
            .client()
            .get_object()
            .bucket(&self.storage.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(s3_error(
                    &format!("reading s3://{}/{key}", self.storage.bucket),
                    &e,
                ));
            }
        };
        let bytes = out.body.collect().await.map_err(|e| Error::Cloud {
            service: "s3",
            message: format!("reading s3://{}/{key} failed: {e}", self.storage.bucket),
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    pub(super) async fn exists(&self, key: &str) -> Result<bool, Error> {
        match self
            .storage
            .client()
            .head_object()
            .bucket(&self.storage.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
            Err(e) => Err(s3_error(
                &format!("looking up s3://{}/{key}", self.storage.bucket),
                &e,
            )),
        }
    }

    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .list_dated(prefix)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), Error> {
        self.storage
            .client()
            .delete_object()
            .bucket(&self.storage.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error(&format!("deleting s3://{}/{key}", self.storage.bucket), &e))?;
        Ok(())
    }

    /// The keys under `prefix`, each with when it was last written (if S3 said).
    pub(super) async fn list_dated(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, Option<SystemTime>)>, Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .storage
                .client()
                .list_objects_v2()
                .bucket(&self.storage.bucket)
                .prefix(prefix)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        &format!("listing s3://{}/{prefix}", self.storage.bucket),
                        &e,
                    )
                })?;
            keys.extend(page.contents().iter().filter_map(|o| {
                let written = o
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok());
                o.key().map(|k| (k.to_owned(), written))
            }));
            token = page
                .next_continuation_token()
                .filter(|_| page.is_truncated() == Some(true))
                .map(str::to_owned);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }
}

fn s3_error<E, R>(doing: &str, e: &aws_sdk_s3::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = match e.as_service_error() {
        Some(s) => match (s.code(), s.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_owned(),
            _ => s.to_string(),
        },
        None => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        }
    };
    Error::Cloud {
        service: "s3",
        message: format!("{doing} failed: {detail}"),
    }
}
