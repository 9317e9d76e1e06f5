//! A phase's calls: handed to the dispatcher with bounded concurrency (or as one batch
//! with `remote_invocation`), the first failure cancelling the rest, progress counted
//! from the backend's hooks, and each answer turned into a [`CallRecord`], in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, watch};

use super::{Call, Calls, JobRun, Prepared, input_error, paths};
use crate::backend::{Answers, CallEvents, JobHeader, Reply, WorkItem, WorkResult};
use crate::error::{CallError, CallErrorKind};
use crate::job::{
    CallOptions, CallOutput, CallPlace, CallRecord, FunctionRef, OutputSink, OutputStream, Progress,
};
use crate::protocol::{
    CallPart, CallRequest, JobHeaderFrame, Request, compact_call, compact_positional,
};
use crate::records::{CallRecords, PhaseBuilder};

impl JobRun {
    /// A job of one call: its record joins `calls`, its result is the job's.
    pub(super) async fn one_call(
        &self,
        func: &FunctionRef,
        call: Prepared,
        opts: &CallOptions,
        calls: &mut CallRecords,
    ) -> Result<Value, CallError> {
        let records = self
            .run_calls(
                "call",
                func,
                Calls::Prepared(vec![call]),
                opts,
                opts.runtime_memory,
            )
            .await;
        let first = records.get(0).map(|r| (r.result.clone(), r.error.cloned()));
        calls.append(records);
        match first {
            Some((_, Some(e))) => Err(e),
            Some((v, None)) => Ok(v),
            None => Err(input_error(0, "the call produced no record".to_owned())),
        }
    }

    /// Runs calls with bounded concurrency; returns their records in order. The first
    /// failure cancels the rest. Answers come back on one channel for the phase, tagged
    /// with the call's index, and are turned into records here as they arrive.
    pub(super) async fn run_calls(
        &self,
        phase: &'static str,
        func: &FunctionRef,
        calls: Calls<'_>,
        opts: &CallOptions,
        memory: Option<u64>,
    ) -> CallRecords {
        let total = calls.len();
        self.progress.send_modify(|p| {
            let job_calls = p.job_calls + total;
            *p = Progress {
                phase,
                total,
                job_calls,
                ..Progress::default()
            };
        });
        let timeout = opts.timeout.unwrap_or(self.settings.default_timeout);
        let memory = memory.or(self.settings.default_memory);
        let limit = opts
            .invoke_pool_threads
            .unwrap_or(self.settings.invoke_pool_threads)
            .max(1);
        // On Lambda, `remote_invocation` hands the phase over in one batch, and
        // `async_invoke` calls hold no slot while they run: Lambda bounds them.
        let (batch, detached) = self.dispatch_mode(phase);
        let limit = if batch || detached {
            total.max(1)
        } else {
            limit
        };
        let mut batch_items: Vec<WorkItem> = Vec::new();
        let gate = detached.then(|| Arc::new(Semaphore::new(0)));
        let mut handed = 0u32;
        let failed = self.cancel.child_token();
        let cancel = Arc::new(failed.clone());
        let sys_path = paths(opts);
        // A local worker gets the job's settings once, in a header its chunks name; a
        // Lambda payload is a whole request.
        let header = self.dispatcher.is_local().then(|| {
            header_for(JobHeaderFrame {
                kind: "job",
                job: 0,
                module: &func.module,
                function: &func.function,
                sys_path: &sys_path,
                extra_env: &opts.extra_env,
                exclude_modules: &opts.exclude_modules,
                memory_mb: memory,
            })
        });
        let (tx, mut rx) = mpsc::unbounded_channel::<Answers>();
        let events = Arc::new(PhaseEvents::new(
            self.progress.clone(),
            total,
            gate.clone(),
            phase,
            opts.output.clone(),
        ));
        // Per call: handed over and not settled yet.
        let mut waiting = vec![false; total];
        let mut records = CallRecords::phase(phase, total);
        let mut in_flight = 0usize;
        let settle_one = |index: usize,
                          result: Option<WorkResult>,
                          waiting: &mut Vec<bool>,
                          records: &mut PhaseBuilder| {
            if !waiting.get_mut(index).is_some_and(std::mem::take) {
                return;
            }
            let result = result.unwrap_or_else(|| {
                // The pool dropped the call without serving it.
                events.count_end(index, false, true);
                WorkResult::Infrastructure("the worker pool stopped".to_owned())
            });
            let ok = result.ok();
            if !ok {
                failed.cancel();
            }
            records.set(index, events.record(index, result));
        };
        // Settles a message's answers; returns how many calls it answered.
        let settle =
            |answers: Answers, waiting: &mut Vec<bool>, records: &mut PhaseBuilder| match answers {
                Answers::One(index, result) => {
                    settle_one(index, result, waiting, records);
                    1
                }
                Answers::Many(results) => {
                    let n = results.len();
                    for (index, result) in results {
                        settle_one(index, Some(result), waiting, records);
                    }
                    n
                }
            };
        // An input error here cancelled the phase.
        let mut stopped = false;
        for (index, call) in calls.into_calls().enumerate() {
            let mut settled = false;
            while in_flight >= limit {
                match rx.recv().await {
                    Some(answers) => {
                        let n = settle(answers, &mut waiting, &mut records);
                        in_flight = in_flight.saturating_sub(n);
                        settled = true;
                    }
                    None => break,
                }
            }
            // The token is asked after answers came (a failure among them cancels the
            // rest) and every 32 calls (the job's cancellation): asking it takes a
            // lock, 1% of a map's host CPU once per call.
            if stopped || ((settled || index % 32 == 0) && failed.is_cancelled()) {
                break;
            }
            let encoded = match (call, &header) {
                // A local worker's call of positional arguments is written straight from
                // them.
                (Call::Positional(first, rest), Some(_)) => compact_positional(index, first, rest),
                (call, _) => {
                    // An element that does not bind, or an object part that cannot be delivered,
                    // is the call's input error.
                    let delivered = match call.prepared() {
                        Ok(mut call) => {
                            // Boxed, and only for a call with an object part: a part read from S3
                            // is a large future, and inline it made every one-call job's future
                            // (a fan-out holds thousands while they wait) as large.
                            match call.obj.take() {
                                None => Ok((call, None)),
                                part => Box::pin(self.deliver_part(part, opts))
                                    .await
                                    .map(|obj| (call, obj)),
                            }
                        }
                        Err(message) => Err(message),
                    };
                    let (call, obj) = match delivered {
                        Ok(delivered) => delivered,
                        Err(message) => {
                            failed.cancel();
                            stopped = true;
                            let failed = WorkResult::failed(index, CallErrorKind::Input, message);
                            records.set(index, record(phase, index, failed));
                            continue;
                        }
                    };
                    let call_id = || crate::protocol::call_id(index);
                    let plain = obj.is_none() && call.context.is_none();
                    match &header {
                        Some(_) if plain => compact_call(index, &call.args.args, &call.args.kwargs),
                        Some(_) => serde_json::to_vec(&CallPart {
                            call_id: &call_id(),
                            call_index: index,
                            args: &call.args.args,
                            kwargs: &call.args.kwargs,
                            obj: obj.as_ref(),
                            airflow_context: call.context.as_ref().map(|c| &c.values),
                            context_positional: call.context.as_ref().is_some_and(|c| c.positional),
                        }),
                        None => serde_json::to_vec(&Request::Call(Box::new(CallRequest {
                            call_id: call_id(),
                            call_index: index,
                            module: func.module.clone(),
                            function: func.function.clone(),
                            args: call.args.args,
                            kwargs: call.args.kwargs,
                            extra_env: opts.extra_env.clone(),
                            sys_path: sys_path.clone(),
                            exclude_modules: opts.exclude_modules.clone(),
                            memory_mb: memory,
                            obj,
                            context_positional: call.context.as_ref().is_some_and(|c| c.positional),
                            airflow_context: call.context.map(|c| c.values),
                        }))),
                    }
                }
            };
            let body = match encoded {
                Ok(b) => b,
                Err(e) => {
                    let failed = WorkResult::failed(index, CallErrorKind::Input, e.to_string());
                    records.set(index, record(phase, index, failed));
                    continue;
                }
            };
            let item = WorkItem {
                body,
                job: header.clone(),
                call_index: index,
                timeout,
                cancel: Arc::clone(&cancel),
                events: Some(Arc::new(CallHooks {
                    phase: Arc::clone(&events),
                    index,
                }) as Arc<dyn CallEvents>),
                reply: Reply::shared(index, tx.clone()),
                services: opts
                    .services
                    .clone()
                    .map(|s| (s, CallPlace { phase, index })),
                cloud: self.cloud_call(phase, index, memory),
            };
            waiting[index] = true;
            in_flight += 1;
            if batch {
                batch_items.push(item);
            } else if self.dispatcher.submit(item).await.is_err() {
                break;
            }
            handed += 1;
            // Watchers see it with the next call's start or end (or below).
            self.progress.send_if_modified(|p| {
                p.invoked += 1;
                false
            });
        }
        drop(tx);
        self.progress.send_modify(|_| {});
        if !batch_items.is_empty() {
            // If the backend is gone, the calls' replies were dropped with it and each
            // call fails on its own.
            let _ = self.dispatcher.submit_batch(batch_items).await;
        }
        if let Some(gate) = &gate {
            // Asynchronous calls count as handed over once Lambda accepted their
            // invocations (or they ended before that).
            let _ = gate.acquire_many(handed).await;
        }
        // Every call of this phase is handed over: an `async_invoke` task may return.
        // (A map_reduce's reducer is invoked later by the job itself.)
        let _ = self.accepted.send(true);
        while let Some(answers) = rx.recv().await {
            settle(answers, &mut waiting, &mut records);
        }
        records.finish(|index| CallRecord {
            index,
            phase,
            result: Value::Null,
            error: Some(Box::new(CallError {
                call_index: index,
                kind: CallErrorKind::Cancelled,
                exc_type: "cancelled".to_owned(),
                message:
                    "the call was not started because another call failed or the job was cancelled"
                        .to_owned(),
                traceback: String::new(),
            })),
            stdout: String::new(),
            stderr: String::new(),
            duration_s: 0.0,
        })
    }
}

/// The header of a phase's settings (`frame`, its `job` id unset): the same one, under
/// the same process-wide id, for every phase with the same settings, so a worker that
/// has it is not sent it again (the tasks of a DAG mostly share their settings: a chain
/// of them sent a header, and its worker decoded and kept one, per task).
fn header_for(mut frame: JobHeaderFrame<'_>) -> Arc<JobHeader> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    /// Settings seen, by their header without an id; forgotten all at once past this
    /// many (a forgotten header only gets a new id).
    const KEPT: usize = 1024;
    static SEEN: std::sync::OnceLock<Mutex<HashMap<Vec<u8>, Arc<JobHeader>>>> =
        std::sync::OnceLock::new();
    let key = serde_json::to_vec(&frame).unwrap_or_default();
    let mut seen = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(header) = seen.get(&key) {
        return Arc::clone(header);
    }
    if seen.len() >= KEPT {
        seen.clear();
    }
    frame.job = NEXT.fetch_add(1, Ordering::Relaxed);
    let header = Arc::new(JobHeader {
        id: frame.job,
        body: serde_json::to_vec(&frame).unwrap_or_default(),
    });
    seen.insert(key, Arc::clone(&header));
    header
}

/// A phase's progress counts, updated by the backend in call order, and what its calls
/// print: one for the phase, with a flag byte per call, rather than an object per call
/// (making and dropping those, with their clones of the channels inside, was a tenth
/// of the host's CPU in a 100,000-call map).
struct PhaseEvents {
    progress: watch::Sender<Progress>,
    /// Per call: [`RUNNING`], [`ACCEPTED`].
    flags: Box<[AtomicU8]>,
    /// Released once per call when a cloud backend accepted it, or when it ended.
    gate: Option<Arc<Semaphore>>,
    phase: &'static str,
    /// Where output goes as it is printed.
    sink: Option<OutputSink>,
    /// What calls printed while they ran (streamed by a local worker), by index.
    printed: Mutex<HashMap<usize, Printed>>,
}

/// The call is counted as running.
const RUNNING: u8 = 1;
/// The call released its permit of the gate.
const ACCEPTED: u8 = 2;

/// The hooks of one call of a phase.
struct CallHooks {
    phase: Arc<PhaseEvents>,
    index: usize,
}

/// A call's output streamed so far, for its record.
#[derive(Default)]
struct Printed {
    stdout: String,
    stderr: String,
}

impl PhaseEvents {
    fn new(
        progress: watch::Sender<Progress>,
        calls: usize,
        gate: Option<Arc<Semaphore>>,
        phase: &'static str,
        sink: Option<OutputSink>,
    ) -> PhaseEvents {
        PhaseEvents {
            progress,
            flags: (0..calls).map(|_| AtomicU8::new(0)).collect(),
            gate,
            phase,
            sink,
            printed: Mutex::default(),
        }
    }

    /// Clears `flag` of call `index`; whether it was set.
    fn clear(&self, index: usize, flag: u8) -> bool {
        self.flags
            .get(index)
            .is_some_and(|f| f.fetch_and(!flag, Ordering::SeqCst) & flag != 0)
    }

    /// Sets `flag` of call `index`; whether it was set already.
    fn set(&self, index: usize, flag: u8) -> bool {
        self.flags
            .get(index)
            .is_none_or(|f| f.fetch_or(flag, Ordering::SeqCst) & flag != 0)
    }

    /// Call `index`'s record: its streamed output first, then what its answer holds
    /// besides (a Lambda call's whole output, a worker's own stderr), which goes to the
    /// sink now, so the sink sees every call's output exactly once.
    fn record(&self, index: usize, result: WorkResult) -> CallRecord {
        let mut record = record(self.phase, index, result);
        if record.stdout.is_empty() && record.stderr.is_empty() && self.sink.is_none() {
            // Nothing to add or send, unless the call printed while it ran.
            let mut printed = self.printed.lock().unwrap_or_else(PoisonError::into_inner);
            if printed.is_empty() {
                return record;
            }
            if let Some(p) = printed.remove(&index) {
                record.stdout = p.stdout;
                record.stderr = p.stderr;
            }
            return record;
        }
        let printed = self
            .printed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&index)
            .unwrap_or_default();
        for (stream, text, before) in [
            (OutputStream::Stdout, &mut record.stdout, printed.stdout),
            (OutputStream::Stderr, &mut record.stderr, printed.stderr),
        ] {
            if let Some(sink) = &self.sink
                && !text.is_empty()
            {
                sink.send(CallOutput {
                    phase: self.phase,
                    index,
                    stream,
                    text,
                });
            }
            if !before.is_empty() {
                text.insert_str(0, &before);
            }
        }
        record
    }

    /// Counts call `index`'s end; wakes the progress's watchers if `wake`.
    fn count_end(&self, index: usize, ok: bool, wake: bool) {
        let was_running = self.clear(index, RUNNING);
        self.progress.send_if_modified(|p| {
            if was_running {
                p.running = p.running.saturating_sub(1);
            }
            if ok {
                p.done += 1;
            } else {
                p.failed += 1;
            }
            wake
        });
        self.accept(index);
    }

    fn accept(&self, index: usize) {
        if let Some(gate) = &self.gate
            && !self.set(index, ACCEPTED)
        {
            gate.add_permits(1);
        }
    }
}

impl CallEvents for CallHooks {
    fn accepted(&self) {
        self.phase.accept(self.index);
    }

    fn started(&self) {
        self.phase.set(self.index, RUNNING);
        self.phase.progress.send_modify(|p| p.running += 1);
    }

    fn finished_quietly(&self, ok: bool) {
        self.phase.count_end(self.index, ok, false);
    }

    fn answered(&self, ok: bool, wake: bool) {
        // Never counted as running (`RUNNING` is unset): one update instead of a start
        // and an end.
        self.phase.count_end(self.index, ok, wake);
    }

    fn output(&self, stream: OutputStream, text: &str) {
        let phase = &self.phase;
        if let Some(sink) = &phase.sink {
            sink.send(CallOutput {
                phase: phase.phase,
                index: self.index,
                stream,
                text,
            });
        }
        let mut printed = phase.printed.lock().unwrap_or_else(PoisonError::into_inner);
        let printed = printed.entry(self.index).or_default();
        match stream {
            OutputStream::Stdout => printed.stdout.push_str(text),
            OutputStream::Stderr => printed.stderr.push_str(text),
        }
    }

    fn requeued(&self) {
        let phase = &self.phase;
        if phase.clear(self.index, RUNNING) {
            phase
                .progress
                .send_modify(|p| p.running = p.running.saturating_sub(1));
        }
        phase
            .printed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.index);
    }

    fn finished(&self, ok: bool) {
        self.phase.count_end(self.index, ok, true);
    }
}

pub(super) fn record(phase: &'static str, index: usize, result: WorkResult) -> CallRecord {
    let failed = |error: CallError, stderr: String| CallRecord {
        index,
        phase,
        result: Value::Null,
        error: Some(Box::new(error)),
        stdout: String::new(),
        stderr,
        duration_s: 0.0,
    };
    match result {
        WorkResult::Call {
            response,
            worker_stderr,
        } => {
            let mut stderr = response.stderr;
            stderr.push_str(&worker_stderr);
            let (result, error) = if response.ok {
                (response.result, None)
            } else {
                (
                    Value::Null,
                    response.error.map(|e| Box::new(e.into_call_error(index))),
                )
            };
            CallRecord {
                index,
                phase,
                result,
                error,
                stdout: response.stdout,
                stderr,
                duration_s: response.duration_s,
            }
        }
        WorkResult::Returned {
            returned,
            worker_stderr,
        } => CallRecord {
            index,
            phase,
            result: returned.result,
            error: None,
            stdout: String::new(),
            stderr: worker_stderr,
            duration_s: returned.duration_s,
        },
        WorkResult::Failed {
            error,
            worker_stderr,
        } => failed(error, worker_stderr),
        WorkResult::Infrastructure(message)
        | WorkResult::Inspected(Err(crate::protocol::RuntimeError { message, .. })) => {
            failed(input_error(index, message), String::new())
        }
        WorkResult::Inspected(Ok(_)) => failed(
            input_error(
                index,
                "the worker answered a call with a signature".to_owned(),
            ),
            String::new(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame<'a>(
        function: &'a str,
        sys_path: &'a [String],
        env: &'a serde_json::Map<String, Value>,
    ) -> JobHeaderFrame<'a> {
        JobHeaderFrame {
            kind: "job",
            job: 0,
            module: "header_tests_mod",
            function,
            sys_path,
            extra_env: env,
            exclude_modules: &[],
            memory_mb: None,
        }
    }

    #[test]
    fn phases_with_the_same_settings_share_one_header_and_others_get_their_own() {
        let (paths, env) = (vec!["/a".to_owned()], serde_json::Map::new());
        let a = header_for(frame("f", &paths, &env));
        let b = header_for(frame("f", &paths, &env));
        assert_eq!(a.id, b.id);
        assert!(Arc::ptr_eq(&a, &b));
        let body: serde_json::Value = serde_json::from_slice(&a.body).expect("JSON");
        assert_eq!(body["job"], serde_json::json!(a.id));
        assert_eq!(body["function"], "f");
        let other_function = header_for(frame("g", &paths, &env));
        assert_ne!(other_function.id, a.id);
        let other_paths = vec!["/b".to_owned()];
        assert_ne!(header_for(frame("f", &other_paths, &env)).id, a.id);
        let mut other_env = env.clone();
        other_env.insert("K".to_owned(), Value::from("v"));
        assert_ne!(header_for(frame("f", &paths, &other_env)).id, a.id);
    }
}
