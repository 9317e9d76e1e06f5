//! `sensor = "s3_key"` (Airflow's `S3KeySensor`, providers/amazon/aws/sensors/s3.py):
//! every key must exist; with `wildcard_match` a key is an `fnmatch` pattern, matched
//! against the keys listed under its literal prefix. S3 is read through the executor's
//! S3 client with the task's `aws_s3` settings (endpoint, region, credentials chain), so
//! a sensor pokes S3 from the scheduler, holding no worker.

use lithoflow_dag::S3KeySpec;
use lithoflow_executor::ExecutorConfig;

use super::{Poke, fnmatch};

/// A key to wait for: its bucket and key (or pattern).
fn bucket_key<'a>(spec: &'a S3KeySpec, key: &'a str) -> Result<(&'a str, &'a str), String> {
    match (key.strip_prefix("s3://"), &spec.bucket_name) {
        (Some(rest), None) => match rest.split_once('/') {
            Some((bucket, k)) if !bucket.is_empty() => Ok((bucket, k)),
            _ => Err(format!(
                "bucket_key {key:?} names no key; expected s3://bucket/key"
            )),
        },
        (None, Some(bucket)) => Ok((bucket.as_str(), key)),
        (Some(_), Some(_)) => Err(format!(
            "If `bucket_name` is provided, bucket_key should be relative path from root level, rather than a full s3:// url (found {key:?})"
        )),
        (None, None) => Err(format!(
            "bucket_key {key:?} is not a full s3:// url, and no bucket_name is set"
        )),
    }
}

/// One poke: done when every key exists.
pub(crate) async fn poke(spec: &S3KeySpec, cfg: &ExecutorConfig) -> Poke {
    let mut missing = Vec::new();
    for key in &spec.bucket_key {
        let (bucket, k) = match bucket_key(spec, key) {
            Ok(bk) => bk,
            Err(e) => return Poke::Error(e),
        };
        match exists(cfg, bucket, k, spec.wildcard_match).await {
            Ok(true) => {}
            Ok(false) => missing.push(format!("s3://{bucket}/{k}")),
            Err(e) => return Poke::Error(e),
        }
    }
    if missing.is_empty() {
        Poke::Done(serde_json::Value::Null)
    } else {
        Poke::NotYet(format!(
            "Poking for key(s): {} (not there yet)",
            missing.join(", ")
        ))
    }
}

#[cfg(feature = "aws")]
async fn exists(
    cfg: &ExecutorConfig,
    bucket: &str,
    key: &str,
    wildcard: bool,
) -> Result<bool, String> {
    use lithoflow_executor::aws::{AwsSettings, s3::S3Storage};
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};

    // One client per setting, kept: the SDK's credential chain is slow to build.
    static CLIENTS: OnceLock<Mutex<HashMap<AwsSettings, S3Storage>>> = OnceLock::new();
    let settings = AwsSettings::from_config(cfg);
    let cached = CLIENTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&settings)
        .cloned();
    let storage = match cached {
        Some(s) => s,
        None => {
            let s = S3Storage::for_objects(&settings).await;
            CLIENTS
                .get_or_init(Mutex::default)
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(settings, s.clone());
            s
        }
    };
    let storage = storage.for_bucket(bucket);
    if wildcard {
        let prefix = key.split(['[', '*', '?']).next().unwrap_or_default();
        let listed = storage.list(prefix).await.map_err(|e| e.to_string())?;
        Ok(listed.iter().any(|o| fnmatch(key, &o.key)))
    } else {
        Ok(storage
            .head(key)
            .await
            .map_err(|e| e.to_string())?
            .is_some())
    }
}

#[cfg(not(feature = "aws"))]
async fn exists(_: &ExecutorConfig, _: &str, _: &str, _: bool) -> Result<bool, String> {
    let _ = fnmatch;
    Err(
        "this lithoflow was built without AWS support (the `aws` feature); s3_key sensors need it"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_bucket_as_s3_key_sensor() {
        let spec = S3KeySpec::default();
        assert_eq!(
            bucket_key(&spec, "s3://b/raw/x.csv"),
            Ok(("b", "raw/x.csv"))
        );
        assert!(bucket_key(&spec, "raw/x.csv").is_err());
        let named = S3KeySpec {
            bucket_name: Some("b".into()),
            ..S3KeySpec::default()
        };
        assert_eq!(bucket_key(&named, "raw/x.csv"), Ok(("b", "raw/x.csv")));
        assert!(bucket_key(&named, "s3://b/raw/x.csv").is_err());
    }
}
