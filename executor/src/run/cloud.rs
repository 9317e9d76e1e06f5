//! What only a cloud backend uses: a job's context there (its modules shipped, where its
//! calls keep their data), how a phase is dispatched (`remote_invocation`,
//! `async_invoke`), and a map_reduce whose reducers wait for the map results inside
//! their functions (`reducer_wait_local = false`). On localhost the job has no cloud
//! context, so none of these paths is taken.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::calls::record;
use super::{Calls, JobRun, Prepared, input_error, paths};
use crate::backend::{CloudCall, WorkItem, WorkResult};
use crate::error::{CallError, Error};
use crate::job::{CallOptions, FunctionRef, JobKind, JobSpec, MapJob, Progress};
use crate::protocol::{CallRequest, Request};
use crate::records::CallRecords;

/// A map_reduce whose reducer waits for the map results inside its Lambda function.
pub(super) struct RemoteReduce<'a> {
    pub(super) map: &'a MapJob,
    pub(super) reduce: &'a FunctionRef,
    /// Per map call, its object's key (object processing only).
    pub(super) objects: &'a [String],
    pub(super) one_per_object: bool,
    pub(super) map_memory: Option<u64>,
    pub(super) reduce_memory: Option<u64>,
}

/// The cloud side of a job: its context on Lambda, and how its calls are dispatched.
impl JobRun {
    /// On a cloud backend: zips and uploads the job's modules, and fixes where its calls
    /// keep their data. Nothing on localhost.
    pub(super) async fn prepare_cloud(&self, job_id: &str, spec: &JobSpec) -> Result<(), Error> {
        let opts = &spec.options;
        // A job key is run again when a scheduler killed during a try re-runs it on the
        // same try: its calls keep the same prefix, so the backend finds the calls the
        // killed run finished or still runs and adopts them instead of invoking them
        // again (a retry or a clear is a new try, so a new job key and prefix).
        tracing::debug!(job = %job_id, key = %spec.job_key, "preparing the job on the cloud backend");
        let prepared = self
            .dispatcher
            .prepare_job(
                &spec.job_key,
                &opts.sys_path,
                &opts.include_modules,
                &opts.exclude_modules,
                &self.settings.python,
            )
            .await?;
        let Some(mut job) = prepared else {
            return Ok(());
        };
        job.detached = opts.async_invoke;
        job.remote = opts.remote_invocation;
        job.remote_reduce =
            matches!(spec.kind, JobKind::MapReduce { .. }) && !opts.reducer_wait_local;
        let _ = self.cloud.set(Arc::new(job));
        Ok(())
    }

    /// A call's place on the cloud backend (None on localhost).
    pub(super) fn cloud_call(
        &self,
        phase: &'static str,
        index: usize,
        memory: Option<u64>,
    ) -> Option<Box<CloudCall>> {
        let job = self.cloud.get()?;
        Some(Box::new(CloudCall {
            job: Arc::clone(job),
            phase,
            call_id: format!("{index:05}"),
            memory,
            detached: job.detached && phase != "inspect",
            wait_for: None,
        }))
    }

    /// Whether a phase goes out as one batch (`remote_invocation`), and whether its
    /// calls are asynchronous (`async_invoke`).
    pub(super) fn dispatch_mode(&self, phase: &'static str) -> (bool, bool) {
        match self.cloud.get() {
            Some(job) => (job.remote && phase == "map", job.detached),
            None => (false, false),
        }
    }

    /// Whether the reducers wait for the map results remotely (`reducer_wait_local =
    /// false` on Lambda).
    pub(super) fn remote_reduce(&self) -> bool {
        self.cloud.get().is_some_and(|j| j.remote_reduce)
    }

    /// A map_reduce on Lambda with `reducer_wait_local = false`: the reducers are
    /// invoked first and wait, inside their functions, for the status objects of their
    /// map calls; then the map phase runs. A failed map phase tells them to stop.
    pub(super) async fn map_reduce_remote(
        &self,
        phases: RemoteReduce<'_>,
        prepared: Vec<Prepared>,
        opts: &CallOptions,
        calls: &mut CallRecords,
    ) -> Result<Value, CallError> {
        // Only a job started on Lambda has a cloud context.
        let Some(job) = self.cloud.get() else {
            return Err(input_error(
                0,
                "a reducer can only wait remotely on AWS Lambda".to_owned(),
            ));
        };
        let by_object = phases.one_per_object && !phases.objects.is_empty();
        // The map calls each reducer waits for, in iterdata order.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        if by_object {
            let mut last: Option<&String> = None;
            for (i, key) in phases.objects.iter().enumerate() {
                match groups.last_mut() {
                    Some(g) if last == Some(key) => g.push(i),
                    _ => groups.push(vec![i]),
                }
                last = Some(key);
            }
        } else {
            groups.push((0..prepared.len()).collect());
        }
        let timeout = opts.timeout.unwrap_or(self.settings.default_timeout);
        let stop = self.cancel.child_token();
        let mut waiting = Vec::with_capacity(groups.len());
        for (index, group) in groups.into_iter().enumerate() {
            let request = Request::Call(Box::new(CallRequest {
                call_id: format!("{index:05}"),
                call_index: index,
                module: phases.reduce.module.clone(),
                function: phases.reduce.function.clone(),
                // The runtime puts the list of map results first.
                args: Vec::new(),
                kwargs: Map::new(),
                extra_env: opts.extra_env.clone(),
                sys_path: paths(opts),
                exclude_modules: opts.exclude_modules.clone(),
                memory_mb: phases.reduce_memory,
                obj: None,
                airflow_context: None,
                context_positional: false,
            }));
            let body =
                serde_json::to_vec(&request).map_err(|e| input_error(index, e.to_string()))?;
            let (reply, rx) = oneshot::channel();
            let item = WorkItem {
                body,
                call_index: index,
                timeout,
                cancel: Arc::new(stop.clone()),
                events: None,
                reply: reply.into(),
                job: None,
                services: None,
                cloud: Some(Box::new(CloudCall {
                    job: Arc::clone(job),
                    phase: "reduce",
                    call_id: format!("{index:05}"),
                    memory: phases.reduce_memory,
                    detached: job.detached,
                    wait_for: Some(group.iter().map(|i| format!("{i:05}")).collect()),
                })),
            };
            self.dispatcher
                .submit(item)
                .await
                .map_err(|e| input_error(index, e.to_string()))?;
            waiting.push(rx);
        }
        let records = self
            .run_calls(
                "map",
                &phases.map.func,
                Calls::Prepared(prepared),
                opts,
                phases.map_memory,
            )
            .await;
        let results = records.results();
        calls.append(records);
        if let Err(e) = results {
            stop.cancel();
            if let Err(err) = self.dispatcher.cancel_waiters(job).await {
                tracing::warn!(error = %err, "cannot tell the waiting reducers to stop; they stop at their timeout");
            }
            return Err(e);
        }
        let total = waiting.len();
        self.progress.send_modify(|p| {
            let job_calls = p.job_calls + total;
            *p = Progress {
                phase: "reduce",
                total,
                invoked: total,
                running: total,
                job_calls,
                ..Progress::default()
            };
        });
        let mut reduced = Vec::with_capacity(total);
        for (index, rx) in waiting.into_iter().enumerate() {
            let result = rx.await.unwrap_or_else(|_| {
                WorkResult::Infrastructure("the reducer's invocation was dropped".to_owned())
            });
            let rec = record("reduce", index, result);
            if let Some(sink) = &opts.output {
                // These reducers ran remotely: their output arrives with their end.
                rec.send_output(sink);
            }
            let ok = rec.error.is_none();
            self.progress.send_modify(|p| {
                p.running = p.running.saturating_sub(1);
                if ok {
                    p.done += 1;
                } else {
                    p.failed += 1;
                }
            });
            if !ok {
                stop.cancel();
            }
            reduced.push(rec);
        }
        let reduced = CallRecords::from_records(reduced);
        let result = reduced.results();
        calls.append(reduced);
        let values = result?;
        if by_object {
            Ok(Value::Array(values))
        } else {
            Ok(values.into_iter().next().unwrap_or(Value::Null))
        }
    }
}
