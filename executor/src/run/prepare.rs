//! Before a phase: elements bound to arguments, the objects an `obj` names split into
//! parts (a local file or folder, or S3), a part read here when a local worker must get
//! it inline, and a function's signature asked of the backend.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::{Calls, JobRun, Prepared, input_error, paths};
use crate::backend::{WorkItem, WorkResult};
use crate::binding;
use crate::error::CallError;
use crate::job::{CallOptions, FunctionRef, MapJob};
use crate::partition::{self, Chunking};
use crate::protocol::{ObjectPart, Request, Signature};

/// The largest S3 part handed to a local worker inline (base64 inside a protocol frame,
/// whose limit is `protocol::MAX_FRAME`).
const MAX_INLINE_PART: u64 = 256 * 1024 * 1024;

impl JobRun {
    /// Binds every element; for a function with an `obj` parameter, splits the objects
    /// the elements name. Returns the calls and, per call, its object's key.
    pub(super) async fn prepare_map<'m>(
        &self,
        map: &'m MapJob,
        opts: &CallOptions,
    ) -> Result<(Calls<'m>, Vec<String>), CallError> {
        let uses_obj = map.iterdata.iter().any(|e| e.get("obj").is_some());
        let sig = if uses_obj {
            Some(self.inspect(&map.func, opts).await?)
        } else {
            None
        };
        if !sig.as_ref().is_some_and(|s| s.has("obj")) {
            // No objects to split: each element is bound when its call is handed over
            // (a map of a million elements never holds a million bound calls); every
            // element is checked first, so one that cannot bind fails the job before
            // any call runs.
            for (i, element) in map.iterdata.iter().enumerate() {
                binding::check(element, map.extra.as_ref()).map_err(|m| input_error(i, m))?;
            }
            let calls = Calls::Elements {
                items: &map.iterdata,
                extra: map.extra.as_ref(),
            };
            return Ok((calls, Vec::new()));
        }
        let mut prepared = Vec::with_capacity(map.iterdata.len());
        let mut objects = Vec::new();
        for (i, element) in map.iterdata.iter().enumerate() {
            let args = binding::bind(element, map.extra.as_ref()).map_err(|m| input_error(i, m))?;
            match (&sig, args.kwargs.get("obj")) {
                (Some(sig), Some(Value::String(location))) if sig.has("obj") => {
                    let parts = self
                        .partition(location, map.chunking, opts)
                        .await
                        .map_err(|m| input_error(i, m))?;
                    for part in parts {
                        let mut a = args.clone();
                        a.kwargs.remove("obj");
                        // Grouping key for `reducer_one_per_object`: the element and
                        // the object (two buckets may hold the same key).
                        objects.push(format!(
                            "{i}\0{}\0{}",
                            part.bucket.as_deref().unwrap_or_default(),
                            part.key
                        ));
                        prepared.push(Prepared {
                            context: None,
                            args: a,
                            obj: Some(part),
                        });
                    }
                }
                (Some(sig), Some(other)) if sig.has("obj") => {
                    return Err(input_error(
                        i,
                        format!(
                            "`obj` must name a file, a folder or an s3:// location, found {other}"
                        ),
                    ));
                }
                _ => prepared.push(Prepared {
                    args,
                    obj: None,
                    context: None,
                }),
            }
        }
        Ok((Calls::Prepared(prepared), objects))
    }

    /// The parts of the objects `location` names: a local file or folder, or an
    /// `s3://bucket/key`, `s3://bucket/prefix/` or `s3://bucket` (split the same way,
    /// reading only the bytes around part boundaries).
    async fn partition(
        &self,
        location: &str,
        chunking: Chunking,
        opts: &CallOptions,
    ) -> Result<Vec<ObjectPart>, String> {
        if location.starts_with("s3://") {
            return self.objects.parts(&opts.config, location, chunking).await;
        }
        let base_dir = opts.base_dir.clone();
        let location = location.to_owned();
        tokio::task::spawn_blocking(move || partition::local_parts(&base_dir, &location, chunking))
            .await
            .map_err(|e| format!("partitioning stopped: {e}"))?
    }

    /// How a part reaches the runtime. Local files and parts on Lambda travel as
    /// references (the runtime reads its range itself, with boto3 on Lambda); an S3 part
    /// for a local worker is read here and handed over inline, since local workers may
    /// lack boto3.
    pub(super) async fn deliver_part(
        &self,
        obj: Option<ObjectPart>,
        opts: &CallOptions,
    ) -> Result<Option<ObjectPart>, String> {
        if self.dispatcher.is_local()
            && let Some(mut part) = obj.clone()
            && part.path.is_none()
            && part.data_b64.is_none()
            && let Some(bucket) = part.bucket.clone()
        {
            let (start, end) = part.range;
            if end - start > MAX_INLINE_PART {
                return Err(format!(
                    "part {} of s3://{bucket}/{} is {} bytes, more than the {} MiB a local worker takes inline; set a smaller chunk_size or chunk_n",
                    part.part,
                    part.key,
                    end - start,
                    MAX_INLINE_PART >> 20
                ));
            }
            let bytes = self
                .objects
                .range(&opts.config, &bucket, &part.key, (start, end))
                .await?;
            part.data_b64 = Some(crate::protocol::base64(&bytes));
            return Ok(Some(part));
        }
        Ok(obj)
    }

    /// The function's signature, asked of the backend (whose Python imports it).
    async fn inspect(
        &self,
        func: &FunctionRef,
        opts: &CallOptions,
    ) -> Result<Signature, CallError> {
        let req = Request::Inspect {
            module: func.module.clone(),
            function: func.function.clone(),
            sys_path: paths(opts),
        };
        let body = serde_json::to_vec(&req).map_err(|e| input_error(0, e.to_string()))?;
        let (reply, rx) = oneshot::channel();
        let item = WorkItem {
            body,
            call_index: 0,
            timeout: Duration::from_secs(120),
            cancel: std::sync::Arc::new(self.cancel.clone()),
            events: None,
            reply: reply.into(),
            job: None,
            services: None,
            cloud: self.cloud_call("inspect", 0, opts.runtime_memory),
        };
        self.dispatcher
            .submit(item)
            .await
            .map_err(|e| input_error(0, e.to_string()))?;
        match rx.await {
            Ok(WorkResult::Inspected(Ok(sig))) => Ok(sig),
            Ok(WorkResult::Inspected(Err(e))) => Err(e.into_call_error(0)),
            Ok(WorkResult::Failed { error, .. }) => Err(error),
            Ok(WorkResult::Infrastructure(m)) => Err(input_error(0, m)),
            Ok(WorkResult::Call { .. } | WorkResult::Returned { .. }) | Err(_) => Err(input_error(
                0,
                "the worker did not describe the function".to_owned(),
            )),
        }
    }
}
