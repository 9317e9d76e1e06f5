//! One job, from its start to its outcome, on the dispatcher and storage its config
//! names ([`Runner`] resolves them, [`JobRun`] runs the phases). The parts:
//! `prepare.rs` binds elements and splits objects before a phase, `calls.rs` runs a
//! phase's calls with bounded concurrency and turns their results into records, and
//! `cloud.rs` holds what only a cloud backend uses (a job's context there, remote
//! invocation, reducers that wait remotely); on localhost those paths are never taken.

mod calls;
mod cloud;
mod prepare;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::backend::CloudJob;
use crate::binding;
use crate::dispatch::{Dispatcher, Resolver};
use crate::error::{CallError, CallErrorKind, Error};
use crate::job::{CallOptions, ExecutorSettings, JobKind, JobOutcome, JobSpec, Progress};
use crate::protocol::ObjectPart;
use crate::records::CallRecords;
use crate::storage::{S3Objects, Storage};
use cloud::RemoteReduce;

/// Starts a job: resolves its dispatcher and storage, then runs it.
pub(crate) struct Runner {
    pub(crate) resolver: Arc<Resolver>,
    pub(crate) settings: ExecutorSettings,
    pub(crate) progress: watch::Sender<Progress>,
    pub(crate) accepted: watch::Sender<bool>,
    pub(crate) cancel: CancellationToken,
}

impl Runner {
    /// Runs the job; a config that cannot be resolved fails it (as a failed input).
    pub(crate) async fn run(self, job_id: String, spec: JobSpec) -> JobOutcome {
        let started = Instant::now();
        // Boxed: the resolution of an AWS backend is a large future, and a job's future
        // (thousands wait at once in a fan-out) is as large as its largest part.
        match Box::pin(self.resolve(&spec.options)).await {
            Ok((dispatcher, storage)) => {
                let run = JobRun {
                    dispatcher,
                    cloud: OnceLock::new(),
                    objects: S3Objects::new(&storage),
                    storage,
                    settings: self.settings,
                    progress: self.progress,
                    accepted: self.accepted,
                    cancel: self.cancel,
                };
                Box::pin(run.run(job_id, spec)).await
            }
            Err(e) => {
                let _ = self.accepted.send(true);
                JobOutcome {
                    job_id,
                    result: Err(input_error(0, e.to_string())),
                    calls: CallRecords::default(),
                    duration_s: started.elapsed().as_secs_f64(),
                    record_kept_by_caller: false,
                }
            }
        }
    }

    async fn resolve(&self, options: &CallOptions) -> Result<(Dispatcher, Storage), Error> {
        let storage = self.resolver.storage(&options.config).await?;
        let dispatcher = self.resolver.dispatcher(&options.config).await?;
        Ok((dispatcher, storage))
    }
}

/// One job on its dispatcher and storage.
struct JobRun {
    dispatcher: Dispatcher,
    /// The job's context on a cloud backend (modules archive, storage keys), set when it
    /// starts there; never set on localhost.
    cloud: OnceLock<Arc<CloudJob>>,
    storage: Storage,
    /// The objects `obj = "s3://..."` names.
    objects: S3Objects,
    settings: ExecutorSettings,
    progress: watch::Sender<Progress>,
    accepted: watch::Sender<bool>,
    cancel: CancellationToken,
}

impl JobRun {
    /// Runs the job to its end, keeping its status and every call's record in storage.
    async fn run(self, job_id: String, spec: JobSpec) -> JobOutcome {
        let started = Instant::now();
        // A job's status is read while it runs only through the reference an
        // `async_invoke` task returns before the job ends; any other job's status is
        // written once, when it ends.
        if spec.options.async_invoke
            && let Err(e) = Box::pin(self.storage.put_json(
                &spec.job_key,
                "status.json",
                &json!({"job_id": job_id, "state": "running"}),
            ))
            .await
        {
            tracing::warn!(job = %job_id, error = %e, "failed to write the job's status");
        }
        let mut calls = CallRecords::default();
        let produced = match Box::pin(self.prepare_cloud(&job_id, &spec)).await {
            Ok(()) => self.run_kind(&spec, &mut calls).await,
            Err(e) => Err(input_error(0, e.to_string())),
        };
        // A one-call job's record stays with a caller that keeps it (no job files).
        let kept = spec.options.one_call_record_kept
            && !spec.options.async_invoke
            && matches!(self.storage, Storage::Local(_))
            && matches!(spec.kind, JobKind::CallAsync { .. } | JobKind::Call { .. })
            && calls.len() == 1;
        let mut outcome = JobOutcome {
            job_id: job_id.clone(),
            result: Ok(Value::Null),
            calls,
            duration_s: started.elapsed().as_secs_f64(),
            record_kept_by_caller: kept,
        };
        let _ = self.accepted.send(true);
        if kept {
            // Its record is the caller's: the job writes no files.
            outcome.result = produced.map(|p| p.into_value(&mut outcome.calls));
            return outcome;
        }
        let state = if produced.is_ok() {
            "success"
        } else {
            "failed"
        };
        let failed = outcome.calls.iter().filter(|c| c.error.is_some()).count();
        let status = json!({"job_id": job_id, "state": state, "total": outcome.calls.len(), "done": outcome.calls.len() - failed, "failed": failed});
        match &self.storage {
            // A small job's files are written off its path (`LocalStorage::put_later`):
            // a chain of one-call tasks then waits for no folder or file per task. A big
            // map's results are encoded straight into their file, now.
            Storage::Local(local)
                if spec.options.job_data_later && outcome.calls.len() <= LATER_CALLS =>
            {
                let rows = Rows(&outcome.calls).to_json_vec();
                let encoded = serde_json::to_vec(&status).map(|status| (rows, status));
                match encoded {
                    Ok((rows, status)) => local.put_later(
                        &spec.job_key,
                        vec![("results.json", rows), ("status.json", status)],
                    ),
                    Err(e) => {
                        tracing::warn!(job = %job_id, error = %e, "failed to encode the job's results");
                    }
                }
            }
            _ => {
                if let Err(e) =
                    Box::pin(self.storage.put_with(&spec.job_key, "results.json", |w| {
                        Rows(&outcome.calls).write_json(w)
                    }))
                    .await
                {
                    tracing::warn!(job = %job_id, error = %e, "failed to write the job's results");
                }
                if let Err(e) =
                    Box::pin(self.storage.put_json(&spec.job_key, "status.json", &status)).await
                {
                    tracing::warn!(job = %job_id, error = %e, "failed to write the job's status");
                }
            }
        }
        // A map's results move from its records into the job's result once
        // `results.json` has them: held twice, a 100,000-call map's were 7 MB more.
        outcome.result = produced.map(|p| p.into_value(&mut outcome.calls));
        outcome
    }

    /// The job's phases, by what it runs: one call, a map, or a map then its reducers.
    /// Each phase's future is boxed: inline, every job's future (a fan-out holds
    /// thousands while they wait for a worker) would be as large as a map_reduce's.
    async fn run_kind(
        &self,
        spec: &JobSpec,
        calls: &mut CallRecords,
    ) -> Result<Produced, CallError> {
        let opts = &spec.options;
        match &spec.kind {
            JobKind::CallAsync { func, data } => {
                let args = binding::bind(data, None).map_err(|m| input_error(0, m))?;
                let call = Prepared {
                    args,
                    obj: None,
                    context: None,
                };
                Box::pin(self.one_call(func, call, opts, calls))
                    .await
                    .map(Produced::Value)
            }
            JobKind::Call {
                func,
                args,
                kwargs,
                context,
                context_positional,
            } => {
                let call = Prepared {
                    args: binding::CallArgs {
                        args: args.clone(),
                        kwargs: kwargs.clone(),
                    },
                    obj: None,
                    context: context.clone().map(|values| CallContext {
                        values,
                        positional: *context_positional,
                    }),
                };
                Box::pin(self.one_call(func, call, opts, calls))
                    .await
                    .map(Produced::Value)
            }
            JobKind::Map(map) => {
                let (prepared, _) = Box::pin(self.prepare_map(map, opts)).await?;
                let records =
                    Box::pin(self.run_calls("map", &map.func, prepared, opts, opts.runtime_memory))
                        .await;
                let failed = records.failure();
                calls.append(records);
                match failed {
                    Some(e) => Err(e),
                    None => Ok(Produced::MapResults),
                }
            }
            JobKind::MapReduce {
                map,
                reduce,
                map_memory,
                reduce_memory,
                one_per_object,
            } => {
                let (prepared, objects) = Box::pin(self.prepare_map(map, opts)).await?;
                let memory = map_memory.or(opts.runtime_memory);
                if self.remote_reduce() {
                    let prepared = prepared.into_vec().map_err(|m| input_error(0, m))?;
                    let phases = RemoteReduce {
                        map,
                        reduce,
                        objects: &objects,
                        one_per_object: *one_per_object,
                        map_memory: memory,
                        reduce_memory: reduce_memory.or(opts.runtime_memory),
                    };
                    return Box::pin(self.map_reduce_remote(phases, prepared, opts, calls))
                        .await
                        .map(Produced::Value);
                }
                let records =
                    Box::pin(self.run_calls("map", &map.func, prepared, opts, memory)).await;
                let results = records.results();
                calls.append(records);
                let results = results?;
                // The reducer gets the list of map results, in iterdata order; with one
                // reducer per object, each gets its object's parts.
                let groups: Vec<Vec<Value>> = if *one_per_object && !objects.is_empty() {
                    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
                    for (key, value) in objects.iter().zip(results) {
                        match groups.last_mut() {
                            Some((k, g)) if k == key => g.push(value),
                            _ => groups.push((key.clone(), vec![value])),
                        }
                    }
                    groups.into_iter().map(|(_, g)| g).collect()
                } else {
                    vec![results]
                };
                let reducers: Vec<Prepared> = groups
                    .into_iter()
                    .map(|g| Prepared {
                        context: None,
                        args: binding::CallArgs {
                            args: vec![Value::Array(g)],
                            kwargs: Map::new(),
                        },
                        obj: None,
                    })
                    .collect();

                let memory = reduce_memory.or(opts.runtime_memory);
                let records = Box::pin(self.run_calls(
                    "reduce",
                    reduce,
                    Calls::Prepared(reducers),
                    opts,
                    memory,
                ))
                .await;
                let result = records.results();
                calls.append(records);
                let values = result?;
                Ok(Produced::Value(if *one_per_object && !objects.is_empty() {
                    Value::Array(values)
                } else {
                    values.into_iter().next().unwrap_or(Value::Null)
                }))
            }
        }
    }
}

/// What a job's phases produced: its result, or (a map's) the results its records hold.
enum Produced {
    Value(Value),
    MapResults,
}

impl Produced {
    /// The job's result; a map's results are moved out of its records (every record of
    /// the job is a map call), which keep `null`.
    fn into_value(self, calls: &mut CallRecords) -> Value {
        match self {
            Produced::Value(v) => v,
            Produced::MapResults => Value::Array(calls.take_results()),
        }
    }
}

/// Jobs of at most this many calls have their files written later, off their path
/// (`LocalStorage::put_later`); bigger ones stream theirs into the file at once.
const LATER_CALLS: usize = 64;

/// A job's `results.json`: each call's phase, index, result, error and duration,
/// serialized straight from the records.
pub(crate) struct Rows<'a>(pub(crate) &'a CallRecords);

impl Rows<'_> {
    /// Writes the rows as JSON, the same bytes as serde_json writes for a list of
    /// `{phase, index, result, error, duration_s}` objects (the tests' `Row`), with the
    /// keys written as they are: through the generic map serializer, escaping
    /// five keys per row was 15% of the host's instructions in a 100,000-call map.
    pub(crate) fn write_json<W: std::io::Write + ?Sized>(&self, w: &mut W) -> std::io::Result<()> {
        // Rows go to `w` 32 KiB at a time: a write per piece of a row, through `dyn
        // Write`, cost as much as the rest.
        let mut buf = Vec::with_capacity(40 * 1024);
        buf.push(b'[');
        for (n, c) in self.0.iter().enumerate() {
            if n > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(br#"{"phase":"#);
            if c.phase
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                buf.push(b'"');
                buf.extend_from_slice(c.phase.as_bytes());
                buf.push(b'"');
            } else {
                json(&mut buf, &c.phase)?;
            }
            buf.extend_from_slice(br#","index":"#);
            buf.extend_from_slice(itoa::Buffer::new().format(c.index).as_bytes());
            buf.extend_from_slice(br#","result":"#);
            // An integer (a map of trivial calls) through `itoa`, the same bytes as
            // serde_json's; anything else through serde_json.
            match c
                .result
                .as_u64()
                .map(Ok)
                .or_else(|| c.result.as_i64().map(Err))
            {
                Some(Ok(n)) => buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
                Some(Err(n)) => buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
                None => json(&mut buf, c.result)?,
            }
            buf.extend_from_slice(br#","error":"#);
            match c.error {
                None => buf.extend_from_slice(b"null"),
                Some(e) => json(&mut buf, e)?,
            }
            buf.extend_from_slice(br#","duration_s":"#);
            json(&mut buf, &c.duration_s)?;
            buf.push(b'}');
            if buf.len() >= 32 * 1024 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
        buf.push(b']');
        w.write_all(&buf)
    }

    /// The rows as JSON (see [`Rows::write_json`]).
    pub(crate) fn to_json_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(72 * self.0.len() + 2);
        // Writing into a vector fails only if a value cannot be written as JSON, which
        // a `Value` always can.
        let _ = self.write_json(&mut out);
        out
    }
}

/// One value, written by `serde_json`.
fn json<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(buf, value).map_err(std::io::Error::from)
}

/// A phase's calls: prepared ones, or a map's elements, bound one at a time as their
/// calls are handed over.
enum Calls<'a> {
    /// Calls already prepared (one call, reducers, the parts of objects).
    Prepared(Vec<Prepared>),
    /// A map's elements (already checked to bind) and its extra arguments.
    Elements {
        items: &'a [Value],
        extra: Option<&'a binding::Extra>,
    },
}

impl<'a> Calls<'a> {
    fn len(&self) -> usize {
        match self {
            Calls::Prepared(v) => v.len(),
            Calls::Elements { items, .. } => items.len(),
        }
    }

    /// The calls in order; an element that does not bind is its call's input error. An
    /// element that is not a table, with positional `extra_params` or none, comes as
    /// itself: its arguments are the element and those (`binding::bind`), and a local
    /// worker's request is written straight from them.
    fn into_calls(self) -> Box<dyn Iterator<Item = Call<'a>> + Send + 'a> {
        match self {
            Calls::Prepared(v) => Box::new(v.into_iter().map(|p| Call::Ready(Box::new(Ok(p))))),
            Calls::Elements { items, extra } => {
                Box::new(items.iter().map(move |e| match (e, extra) {
                    (Value::Object(_), _) | (_, Some(binding::Extra::Keyword(_))) => {
                        Call::Ready(Box::new(binding::bind(e, extra).map(|args| Prepared {
                            args,
                            obj: None,
                            context: None,
                        })))
                    }
                    (element, Some(binding::Extra::Positional(rest))) => {
                        Call::Positional(element, rest)
                    }
                    (element, None) => Call::Positional(element, &[]),
                }))
            }
        }
    }

    /// Every call prepared (a phase that needs them all at once).
    fn into_vec(self) -> Result<Vec<Prepared>, String> {
        self.into_calls().map(Call::prepared).collect()
    }
}

/// One call of a phase, as [`Calls::into_calls`] gives it.
enum Call<'a> {
    /// Prepared, or why it cannot be (boxed: a prepared call is large).
    Ready(Box<Result<Prepared, String>>),
    /// Positional arguments only: an element and the `extra_params` after it.
    Positional(&'a Value, &'a [Value]),
}

impl Call<'_> {
    /// The call prepared.
    fn prepared(self) -> Result<Prepared, String> {
        match self {
            Call::Ready(p) => *p,
            Call::Positional(first, rest) => Ok(Prepared {
                args: binding::CallArgs {
                    args: std::iter::once(first).chain(rest).cloned().collect(),
                    kwargs: Map::new(),
                },
                obj: None,
                context: None,
            }),
        }
    }
}

/// A prepared call.
struct Prepared {
    args: binding::CallArgs,
    obj: Option<ObjectPart>,
    /// The Airflow context, for `JobKind::Call`.
    context: Option<CallContext>,
}

/// The Airflow context of a `JobKind::Call` and how the function takes it.
struct CallContext {
    values: Map<String, Value>,
    /// As the one positional argument (a callback).
    positional: bool,
}

/// The `sys_path` folders as the runtime takes them.
fn paths(opts: &CallOptions) -> Vec<String> {
    opts.sys_path
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// A call whose input could not be prepared (or a job that could not start).
fn input_error(call_index: usize, message: String) -> CallError {
    CallError::new(call_index, CallErrorKind::Input, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::CallRecord;

    /// A row as serde writes it: what [`Rows::write_json`] must write byte for byte.
    #[derive(serde::Serialize)]
    struct Row<'a> {
        phase: &'a str,
        index: usize,
        result: &'a Value,
        error: Option<&'a CallError>,
        duration_s: f64,
    }

    fn by_serde(rows: &CallRecords) -> Vec<u8> {
        let rows: Vec<Row<'_>> = rows
            .iter()
            .map(|c| Row {
                phase: c.phase,
                index: c.index,
                result: c.result,
                error: c.error,
                duration_s: c.duration_s,
            })
            .collect();
        serde_json::to_vec(&rows).expect("encodes")
    }

    #[test]
    fn results_json_is_what_serde_json_writes() {
        let record =
            |phase: &'static str, index: usize, result: Value, duration_s: f64| CallRecord {
                index,
                phase,
                result,
                error: None,
                stdout: "printed".to_owned(),
                stderr: String::new(),
                duration_s,
            };
        let mut failed = record("map", 2, Value::Null, 0.0);
        let mut error = CallError::new(2, CallErrorKind::Timeout, "took \"long\"\n".to_owned());
        error.traceback = "Traceback: é".to_owned();
        failed.error = Some(Box::new(error));
        let calls = [
            record("map", 0, json!(1), 1.25e-6),
            record("map", 1, json!({"a": [1, "x\u{1}"], "b": null}), 12.5),
            failed,
            record("reduce", 0, json!(-3.5), 0.1),
            record("odd \"phase\"", 7, json!("s"), 1e21),
            record("map", 3, json!(-9_223_372_036_854_775_808_i64), 0.0),
            record("map", 4, json!(u64::MAX), 0.5),
            record("map", 5, json!(-0.0), 0.5),
        ];
        for rows in [&calls[..], &calls[..1], &[]] {
            let rows = &CallRecords::from_records(rows.iter().cloned());
            let expected = by_serde(rows);
            assert_eq!(
                String::from_utf8_lossy(&Rows(rows).to_json_vec()),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}
