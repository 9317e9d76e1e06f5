//! The localhost backend: a pool of warm Python worker processes.
//!
//! Each worker runs the embedded runtime from the files `workerfiles.rs` writes once
//! (`python3 -u <folder>/lithoflow_start.py --worker`), imports a function's module once
//! and serves many calls over the framed protocol on its pipes. One tokio task owns each
//! worker process; calls wait in one shared queue. Short calls go to a worker in chunks
//! whose size adapts to the measured call time (a job's settings go once per worker, in
//! a header frame the chunks name). The worker answers the calls of a chunk that simply
//! return together, in one frame every few milliseconds (`protocol.rs`). A call that
//! times out, is cancelled or crashes its worker costs only that worker, which is killed
//! (with its process group) and started again for the next call; the chunk's calls that
//! had not started go back to the queue. When the worker dies or hangs while several
//! calls of its chunk have no answer (answers wait in the worker's buffer, so which call
//! did it is unknown), those calls run again, each alone, on the new worker: the failure
//! lands on the call that causes it and the others get their results.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

use crate::backend::{Gathered, JobHeader, WorkItem, WorkResult};
use crate::error::{CallError, CallErrorKind, Error, humanize};
use crate::job::{OutputStream, ServiceFuture};
use crate::protocol::{self, FrameError, FrameReader, Message, Returned};

/// How long a new worker may take to start and say hello.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The most calls a worker takes from the queue at once (one chunk).
const MAX_CHUNK: usize = 1024;
/// A chunk takes no more calls once its requests reach this many bytes: well under a
/// pipe's 64 KiB, so the host's write of a chunk never waits for the worker to read
/// (see `Worker::run`). A single call of any size is always sent.
const CHUNK_BYTES: usize = 32 * 1024;
/// Calls shorter than this (on average) are chunked.
const BATCH_BELOW_S: f64 = 0.002;
/// How long a chunk of short calls should take, by the worker's recent call times: big
/// chunks for calls of microseconds, one call at a time from `BATCH_BELOW_S` up.
const CHUNK_TARGET_S: f64 = 0.004;
/// How many job headers a worker keeps (`JOBS_KEPT` in `lithoflow_worker.py`): the
/// host sends a header again once the worker has dropped it.
const JOBS_KEPT: usize = 32;
/// The most of a worker's own stderr kept per call.
const STDERR_TAIL: usize = 64 * 1024;
/// How long a killed worker's last frames are read for (they are already in its pipe).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// A pool of warm Python workers. The first starts with the pool; the others once
/// calls wait with no worker free to take them ([`LocalPool::start_all`] starts them at
/// once): a chain of tasks needs one, and two interpreters starting together on a small
/// machine each take the other's CPU (about 40 ms of it each).
pub(crate) struct LocalPool {
    tx: async_channel::Sender<Queued>,
    size: usize,
    python: Python,
    /// Workers starting or waiting for work.
    free: Arc<AtomicUsize>,
    demand: watch::Sender<Demand>,
}

/// Whether the workers after the first are wanted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Demand {
    NotYet,
    Wanted,
    /// The pool closed before they were.
    Closed,
}

/// Wants the workers not started yet when more calls wait than workers are free.
fn want_if_short(queued: usize, free: &AtomicUsize, demand: &watch::Sender<Demand>) {
    if queued > free.load(Ordering::SeqCst) {
        want(demand, Demand::Wanted);
    }
}

/// Settles the demand for the workers not started yet, once.
fn want(demand: &watch::Sender<Demand>, to: Demand) {
    demand.send_if_modified(|d| {
        let first = *d == Demand::NotYet;
        if first {
            *d = to;
        }
        first
    });
}

/// The interpreter to start. `python3` is often a wrapper script (pyenv's shims cost
/// ~300 ms a start), so after the first worker reports `sys.executable`, replacement
/// workers start that directly. With it, the worker script it runs (or why there is
/// none).
#[derive(Clone)]
struct Python(Arc<Mutex<String>>, Arc<Result<PathBuf, String>>);

impl Python {
    fn get(&self) -> String {
        self.0
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn resolved(&self, executable: Option<String>) {
        if let (Some(exe), Ok(mut p)) = (executable.filter(|e| !e.is_empty()), self.0.lock())
            && std::path::Path::new(&exe).is_file()
        {
            *p = exe;
        }
    }
}

impl LocalPool {
    /// A pool of `size` workers running `python` on the worker script
    /// (`workerfiles.rs`). The first starts now, in the background (the first call waits
    /// for it to be ready); the others when they are wanted (see [`LocalPool`]).
    pub(crate) fn new(
        python: &str,
        size: usize,
        script: Result<PathBuf, String>,
    ) -> Arc<LocalPool> {
        let size = size.max(1);
        let (tx, rx) = async_channel::unbounded::<Queued>();
        let python = Python(Arc::new(Mutex::new(python.to_owned())), Arc::new(script));
        let free = Arc::new(AtomicUsize::new(1));
        let (demand, _) = watch::channel(Demand::NotYet);
        for slot in 0..size {
            // Workers hold a sender to put back calls of a batch their process never ran;
            // the pool closes the channel explicitly, so that does not keep it open.
            let worker = Worker {
                slot,
                recent_call_s: None,
                pool_size: size,
                python: python.clone(),
                proc: None,
                alone: VecDeque::new(),
                rx: rx.clone(),
                requeue: tx.clone(),
                free: Arc::clone(&free),
                demand: demand.clone(),
            };
            if slot == 0 {
                // Its process starts now; its task waits for the hello.
                let starting = Proc::start(&python);
                tokio::spawn(worker.run(starting));
            } else {
                tokio::spawn(worker.run_when_wanted(demand.subscribe()));
            }
        }
        Arc::new(LocalPool {
            tx,
            size,
            python,
            free,
            demand,
        })
    }

    /// Starts every worker not started yet (a map's calls are about to come).
    pub(crate) fn start_all(&self) {
        want(&self.demand, Demand::Wanted);
    }

    /// How many workers the pool has.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Queues a work item.
    pub(crate) async fn submit(&self, item: WorkItem) -> Result<(), Error> {
        // The queue is unbounded: `try_send` never finds it full, and skips the send
        // future's event listener (8% of the host's instructions in a 100,000-call map).
        match self.tx.try_send(Box::new(item)) {
            Ok(()) => {}
            Err(async_channel::TrySendError::Closed(_)) => return Err(Error::Closed),
            Err(async_channel::TrySendError::Full(item)) => {
                self.tx.send(item).await.map_err(|_| Error::Closed)?;
            }
        }
        want_if_short(self.tx.len(), &self.free, &self.demand);
        Ok(())
    }

    /// Checks that a worker can start, for a clear error before any job runs.
    pub(crate) async fn check(&self) -> Result<(), Error> {
        Proc::spawn(&self.python).await.map(drop)
    }

    /// Stops taking work; idle workers exit and kill their processes.
    pub(crate) fn close(&self) {
        self.tx.close();
        want(&self.demand, Demand::Closed);
    }
}

impl Drop for LocalPool {
    fn drop(&mut self) {
        self.close();
    }
}

/// A work item waiting in the pool's queue or a worker's chunk: boxed, as it is moved
/// several times on its way (queue, chunk, the calls being answered), and moving the
/// whole item each time was a fifth of the host's CPU in a 100,000-call map.
type Queued = Box<WorkItem>;

struct Worker {
    slot: usize,
    /// A moving average of this worker's recent call durations, seconds.
    recent_call_s: Option<f64>,
    pool_size: usize,
    python: Python,
    proc: Option<Proc>,
    /// Calls of a chunk whose worker died or hung before answering them, run next, one
    /// at a time (see `serve`).
    alone: VecDeque<Queued>,
    rx: async_channel::Receiver<Queued>,
    requeue: async_channel::Sender<Queued>,
    /// The pool's count of workers starting or waiting for work.
    free: Arc<AtomicUsize>,
    demand: watch::Sender<Demand>,
}

impl Worker {
    /// Waits until the workers after the first are wanted, then starts and runs; never,
    /// if the pool closes first.
    async fn run_when_wanted(self, mut demand: watch::Receiver<Demand>) {
        let wanted = demand
            .wait_for(|d| *d != Demand::NotYet)
            .await
            .is_ok_and(|d| *d == Demand::Wanted);
        if wanted {
            self.free.fetch_add(1, Ordering::SeqCst);
            let starting = Proc::start(&self.python);
            self.run(starting).await;
        }
    }

    async fn run(mut self, starting: Result<Proc, Error>) {
        // Warm up before the first call arrives.
        let ready = match starting {
            Ok(proc) => proc.ready(&self.python).await,
            Err(e) => Err(e),
        };
        match ready {
            Ok(p) => self.proc = Some(p),
            Err(e) => {
                tracing::warn!(slot = self.slot, error = %e, "worker failed to start; will retry on first call")
            }
        }
        loop {
            if let Some(item) = self.alone.pop_front() {
                self.free.fetch_sub(1, Ordering::SeqCst);
                self.serve(vec![item], false).await;
                self.free.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            let Ok(first) = self.rx.recv().await else {
                break;
            };
            self.free.fetch_sub(1, Ordering::SeqCst);
            let batch = self.take_chunk(first);
            self.serve(batch, true).await;
            self.free.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(p) = self.proc.take() {
            p.kill().await;
        }
    }

    /// `first` and a share of the calls waiting behind it, as one chunk: it goes out in
    /// one frame and the worker runs its calls back to back, which saves a round trip
    /// and two context switches per call. Its size aims at `CHUNK_TARGET_S` of work by
    /// the recent call times, and the share keeps every worker busy when calls are few.
    /// Only calls known to be short are chunked: a chunk of long calls would keep the
    /// other workers idle while it runs.
    fn take_chunk(&mut self, first: Queued) -> Vec<Queued> {
        let share = match self.recent_call_s {
            Some(s) if s < BATCH_BELOW_S => {
                let by_time = (CHUNK_TARGET_S / s.max(1e-7)) as usize;
                (self.rx.len() / self.pool_size)
                    .min(by_time)
                    .min(MAX_CHUNK - 1)
            }
            _ => 0,
        };
        // The chunk's requests must also fit in the worker's stdin pipe: the host
        // writes them all before it reads an answer, and a worker whose answers fill
        // its stdout pipe stops reading its stdin. A chunk of many one-call jobs
        // (a header frame each) over the pipe's 64 KiB deadlocked both sides.
        let mut bytes = request_bytes(&first);
        let mut batch = vec![first];
        while batch.len() <= share && bytes < CHUNK_BYTES {
            match self.rx.try_recv() {
                Ok(item) => {
                    bytes += request_bytes(&item);
                    batch.push(item);
                }
                Err(_) => break,
            }
        }
        // Calls still wait, and nobody may be free to take them.
        want_if_short(self.rx.len(), &self.free, &self.demand);
        batch
    }

    /// The next chunk for a worker still answering short calls, taken from the calls
    /// already waiting (none if none wait), without those already cancelled.
    fn take_next_chunk(&mut self) -> Vec<Queued> {
        if !self.recent_call_s.is_some_and(|s| s < BATCH_BELOW_S) {
            return Vec::new();
        }
        match self.rx.try_recv() {
            Ok(first) => {
                let chunk = self.take_chunk(first);
                not_cancelled(chunk)
            }
            Err(_) => Vec::new(),
        }
    }

    /// Runs a batch of calls on this worker, one after the other. Each call has its own
    /// timeout and cancellation; when one ends the worker (timeout, crash, cancellation,
    /// a memory error), the calls after it, which never started, go back to the queue.
    ///
    /// With `pipeline`, while the worker runs short calls, the next chunk is sent as
    /// soon as the worker has read the one before (its first call is answered), so the
    /// worker finds it waiting when it ends a chunk instead of waiting for the host to
    /// hand out the chunk's answers and take more calls (it idled a third of a map's
    /// time so). At most one chunk waits in the pipe: the host's write of it (at most
    /// `CHUNK_BYTES`) always fits, as above. Its calls join the batch: answered, timed
    /// out, run again alone or put back exactly as the batch's own.
    async fn serve(&mut self, batch: Vec<Queued>, pipeline: bool) {
        let items = not_cancelled(batch);
        if items.is_empty() {
            return;
        }
        if self.proc.is_none() {
            match Proc::spawn(&self.python).await {
                Ok(p) => self.proc = Some(p),
                Err(e) => {
                    for item in items {
                        item.reply(WorkResult::Infrastructure(e.to_string()));
                    }
                    return;
                }
            }
        }
        let Some(proc) = self.proc.as_mut() else {
            return;
        };
        let frames = proc.frames(&items);
        let sent = proc.send(&frames).await;
        drop(frames);
        // Answers that came in a frame with an earlier call's, for the calls after it.
        let mut ahead = Ahead::default();
        // The calls of the last chunk sent: once fewer than these are unanswered, the
        // worker has read it.
        let mut last_sent = items.len();
        let mut queue = VecDeque::from(items);
        // The results of a frame's calls, sent to their phase together.
        let mut gathered = Gathered::default();
        while let Some(mut item) = queue.pop_front() {
            let answered = ahead.answers.pop_front();
            // A call answered in the frame that answered the one before it starts and
            // ends in one step (`reply_answered`); watchers are woken once per frame.
            let from_ahead = answered.is_some();
            if let Some(events) = item.events.as_ref().filter(|_| !from_ahead) {
                events.started();
            }
            let (result, after) = match (answered, &sent) {
                (Some(returned), _) => {
                    // What the worker wrote to its stderr goes to the frame's last call.
                    let worker_stderr = if ahead.answers.is_empty() {
                        std::mem::take(&mut ahead.stderr)
                    } else {
                        String::new()
                    };
                    (
                        WorkResult::Returned {
                            returned,
                            worker_stderr,
                        },
                        After::Alive,
                    )
                }
                (None, Ok(())) => {
                    let others = !queue.is_empty();
                    let (result, after) = self.answer(&mut item, others, &mut ahead).await;
                    // The worker died or hung with an empty buffer of answers: the call
                    // it was running is this one, which fails alone as any call does.
                    match after {
                        After::Lost if !ahead.buffering => (result, After::Gone),
                        after => (result, after),
                    }
                }
                (None, Err(_)) => {
                    let (status, worker_stderr) = self.reap().await;
                    (self.died(&item, status, worker_stderr), After::Lost)
                }
            };
            let took = result
                .duration_s()
                .unwrap_or_else(|| item.timeout.as_secs_f64().min(60.0));
            self.recent_call_s = Some(
                self.recent_call_s
                    .map_or(took, |avg| 0.8 * avg + 0.2 * took),
            );
            if pipeline && sent.is_ok() && matches!(after, After::Alive) && queue.len() < last_sent
            {
                let next = self.take_next_chunk();
                if !next.is_empty() {
                    last_sent = next.len();
                    if self.send_more(&next).await {
                        queue.extend(next);
                    } else {
                        // Not delivered (the worker is gone): they never started.
                        for rest in next {
                            if self.requeue.send(rest).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            match after {
                After::Alive if from_ahead => {
                    let last = ahead.answers.is_empty();
                    item.reply_answered(result, last, &mut gathered);
                    if last {
                        gathered.send();
                    }
                }
                After::Alive if ahead.answers.is_empty() => {
                    item.reply_gathered(result, &mut gathered);
                    gathered.send();
                }
                After::Alive => item.reply_quietly(result, &mut gathered),
                After::Lost if !queue.is_empty() => {
                    // The worker died or hung with this call and others unanswered; the
                    // answers of calls that had finished may have been in its buffer.
                    // Each runs again, alone, so the failure lands on the call that
                    // causes it.
                    drop(result);
                    if let Some(events) = &item.events {
                        events.requeued();
                    }
                    self.alone.push_back(item);
                    self.alone.extend(queue);
                    return;
                }
                After::Gone | After::Lost => {
                    item.reply(result);
                    for rest in queue {
                        if self.requeue.send(rest).await.is_err() {
                            break;
                        }
                    }
                    return;
                }
            }
        }
        if !ahead.answers.is_empty() {
            // More answers than calls: the worker is not speaking our protocol.
            tracing::warn!(
                slot = self.slot,
                extra = ahead.answers.len(),
                "a worker answered calls it was not given; it is replaced"
            );
            self.retire().await;
        }
    }

    /// Sends another chunk to the running worker; false if it could not be written.
    async fn send_more(&mut self, items: &[Queued]) -> bool {
        let Some(proc) = self.proc.as_mut() else {
            return false;
        };
        let frames = proc.frames(items);
        proc.send(&frames).await.is_ok()
    }

    /// Waits for the answer to the first unanswered call of the chunk the worker is
    /// running, handing what it prints meanwhile to the call's hooks (a call's output
    /// always comes after the answers of the calls before it). Answers for the calls
    /// after it that come in the same frame go to `ahead`. Returns the result and what
    /// became of the worker.
    async fn answer(
        &mut self,
        item: &mut WorkItem,
        others_unanswered: bool,
        ahead: &mut Ahead,
    ) -> (WorkResult, After) {
        let Some(proc) = self.proc.as_mut() else {
            return (
                WorkResult::Infrastructure("the worker process is gone".to_owned()),
                After::Lost,
            );
        };
        let limit = tokio::time::sleep(item.timeout);
        tokio::pin!(limit);
        let outcome = loop {
            // `receive` is cancel-safe: a frame half read when the time is up stays
            // buffered for `retire_draining`.
            // Biased: an answer already sent wins over a time limit or a cancellation
            // that came at the same moment.
            let outcome = tokio::select! {
                biased;
                r = proc.receive() => Outcome::Answer(r),
                () = &mut limit => Outcome::TimedOut,
                () = item.cancel.cancelled() => Outcome::Cancelled,
            };
            match outcome {
                Outcome::Answer(Ok(Message::Output(parts))) => print(item, parts),
                Outcome::Answer(Ok(Message::Buffered)) => ahead.buffering = true,
                Outcome::Answer(Ok(Message::Request { id, op, body })) => {
                    // The call waits for the answer; its time limit and cancellation
                    // still apply while the host works on it.
                    let answer = tokio::select! {
                        biased;
                        a = serve_request(item, &op, body) => a,
                        () = &mut limit => break Outcome::TimedOut,
                        () = item.cancel.cancelled() => break Outcome::Cancelled,
                    };
                    let body = protocol::answer(id, answer);
                    let mut frame = Vec::with_capacity(body.len() + 4);
                    frame.extend_from_slice(
                        &u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes(),
                    );
                    frame.extend_from_slice(&body);
                    if let Err(e) = proc.send(&frame).await {
                        break Outcome::Answer(Err(FrameError::Io(e)));
                    }
                }
                other => break other,
            }
        };
        match outcome {
            Outcome::Answer(Ok(Message::Result(response))) => {
                let restart = response.restart;
                let worker_stderr = proc.stderr.take_call(&response.call_id).await;
                if restart {
                    self.retire().await;
                }
                (
                    WorkResult::Call {
                        response,
                        worker_stderr,
                    },
                    if restart { After::Gone } else { After::Alive },
                )
            }
            Outcome::Answer(Ok(Message::Results { answers, last })) if !answers.is_empty() => {
                // One mark on the worker's stderr ends the frame: what the worker wrote
                // there since the previous mark goes to the frame's last call.
                let mut worker_stderr = proc.stderr.take_call(&last).await;
                let mut answers = answers.into_iter();
                let first = answers.next();
                ahead.buffering = false;
                ahead.answers.extend(answers);
                if !ahead.answers.is_empty() {
                    ahead.stderr = std::mem::take(&mut worker_stderr);
                }
                let result = match first {
                    Some(returned) => WorkResult::Returned {
                        returned,
                        worker_stderr,
                    },
                    None => WorkResult::Infrastructure("the worker answered nothing".to_owned()),
                };
                (result, After::Alive)
            }
            Outcome::Answer(Ok(Message::Inspected(sig))) => {
                (WorkResult::Inspected(sig), After::Alive)
            }
            Outcome::Answer(Ok(other)) => {
                let worker_stderr = self.retire().await;
                let message = format!("the worker answered an unexpected message: {other:?}");
                let error = CallError::new(item.call_index, CallErrorKind::Protocol, message);
                (
                    WorkResult::Failed {
                        error,
                        worker_stderr,
                    },
                    After::Gone,
                )
            }
            Outcome::Answer(Err(FrameError::Eof | FrameError::Io(_))) => {
                let (status, worker_stderr) = self.reap().await;
                (self.died(item, status, worker_stderr), After::Lost)
            }
            Outcome::Answer(Err(e)) => {
                let worker_stderr = self.retire().await;
                let message = format!("the worker broke the protocol: {e}");
                let error = CallError::new(item.call_index, CallErrorKind::Protocol, message);
                (
                    WorkResult::Failed {
                        error,
                        worker_stderr,
                    },
                    After::Gone,
                )
            }
            Outcome::TimedOut if others_unanswered && ahead.buffering => {
                // Which call hangs is unknown (see `serve`): they all run again alone.
                self.retire().await;
                let message = "the worker hung with several calls unanswered".to_owned();
                let error = CallError::new(item.call_index, CallErrorKind::Timeout, message);
                (
                    WorkResult::Failed {
                        error,
                        worker_stderr: String::new(),
                    },
                    After::Lost,
                )
            }
            Outcome::TimedOut => {
                // An answer that comes after the limit is not taken: the call overstayed.
                let (worker_stderr, _) = self.retire_draining(item).await;
                let message = format!(
                    "the call exceeded its timeout of {}; its worker was killed and replaced",
                    humanize(item.timeout)
                );
                let error = CallError::new(item.call_index, CallErrorKind::Timeout, message);
                (
                    WorkResult::Failed {
                        error,
                        worker_stderr,
                    },
                    After::Gone,
                )
            }
            Outcome::Cancelled => {
                let (worker_stderr, answered) = self.retire_draining(item).await;
                // The function had returned and its answer was on its way when the job
                // was cancelled (another call failed): the call finished, and its result
                // is kept like any finished call's.
                if let Some(response) = answered {
                    return (
                        WorkResult::Call {
                            response,
                            worker_stderr,
                        },
                        After::Gone,
                    );
                }
                (
                    WorkResult::Failed {
                        error: cancelled(item.call_index),
                        worker_stderr,
                    },
                    After::Gone,
                )
            }
        }
    }

    fn died(
        &self,
        item: &WorkItem,
        status: Option<ExitStatus>,
        worker_stderr: String,
    ) -> WorkResult {
        let message = format!(
            "the worker process died during the call: {}",
            describe_exit(status)
        );
        let mut error = CallError::new(item.call_index, CallErrorKind::WorkerDied, message);
        error.traceback = worker_stderr.clone();
        WorkResult::Failed {
            error,
            worker_stderr,
        }
    }

    /// Kills the worker process; the next call starts a new one.
    async fn retire(&mut self) -> String {
        match self.proc.take() {
            Some(p) => p.kill().await,
            None => String::new(),
        }
    }

    /// Kills the worker process, then reads what it had already sent before it died
    /// (output of the call it was running, printed just before its timeout), so that
    /// output is not lost with it; and the call's answer, if it had sent one.
    async fn retire_draining(
        &mut self,
        item: &WorkItem,
    ) -> (String, Option<Box<protocol::CallResponse>>) {
        let Some(mut p) = self.proc.take() else {
            return (String::new(), None);
        };
        p.kill_group();
        let mut answered = None;
        let drain = async {
            loop {
                match p.receive().await {
                    Ok(Message::Output(parts)) => print(item, parts),
                    Ok(Message::Result(response)) => answered = Some(response),
                    Ok(Message::Results { answers, .. }) => {
                        if answered.is_none() {
                            let id = protocol::call_id(item.call_index);
                            answered = answers
                                .into_iter()
                                .next()
                                .map(|r| Box::new(r.into_response(id)));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
        (p.kill().await, answered)
    }

    /// Waits for a worker that ended by itself; returns how it ended and its stderr.
    async fn reap(&mut self) -> (Option<ExitStatus>, String) {
        match self.proc.take() {
            Some(mut p) => {
                let status = tokio::time::timeout(Duration::from_secs(5), p.child.wait())
                    .await
                    .ok()
                    .and_then(Result::ok);
                let stderr = p.kill().await;
                (status, stderr)
            }
            None => (None, String::new()),
        }
    }
}

/// The items not cancelled yet; the others are answered as cancelled. The calls of a
/// phase share one token: asked once per token, not per call.
fn not_cancelled(batch: Vec<Queued>) -> Vec<Queued> {
    let mut items = Vec::with_capacity(batch.len());
    let mut last: Option<(Arc<tokio_util::sync::CancellationToken>, bool)> = None;
    for item in batch {
        let is_cancelled = match &last {
            Some((token, cancelled)) if Arc::ptr_eq(token, &item.cancel) => *cancelled,
            _ => {
                let cancelled = item.cancel.is_cancelled();
                last = Some((Arc::clone(&item.cancel), cancelled));
                cancelled
            }
        };
        if is_cancelled {
            let error = cancelled(item.call_index);
            item.reply(WorkResult::Failed {
                error,
                worker_stderr: String::new(),
            });
        } else {
            items.push(item);
        }
    }
    items
}

/// The host's answer to a request of the running call: its services' answer, or an
/// error when the job has none.
fn serve_request(item: &WorkItem, op: &str, body: serde_json::Value) -> ServiceFuture {
    match &item.services {
        Some((services, place)) => Arc::clone(&services.0).request(*place, op, body),
        None => {
            let message = format!(
                "the host running this call answers no requests (the call asked for `{op}`); \
                 pass the value in the task's arguments instead"
            );
            Box::pin(std::future::ready(Err(message)))
        }
    }
}

/// Hands what the running call printed to its hooks.
fn print(item: &WorkItem, parts: Vec<(OutputStream, String)>) {
    if let Some(events) = &item.events {
        for (stream, text) in parts {
            events.output(stream, &text);
        }
    }
}

/// What the worker has told about the calls of the chunk after the one the host waits
/// for.
#[derive(Default)]
struct Ahead {
    /// Answers that came in the frame of an earlier call's, in call order.
    answers: VecDeque<Returned>,
    /// What the worker wrote to its stderr for the frame whose answers these are: the
    /// last's.
    stderr: String,
    /// The worker holds answers it has not written yet (it said so with a `buffered`
    /// frame, and wrote no answers since): if it dies now, calls that finished may have
    /// no answer.
    buffering: bool,
}

/// What became of a worker after a call's outcome.
enum After {
    /// It runs the next call.
    Alive,
    /// It is gone; the outcome is the call's.
    Gone,
    /// It died or hung: the outcome is the call's if no other call of the chunk is
    /// unanswered, else unknown (`serve`).
    Lost,
}

enum Outcome {
    Answer(Result<Message, FrameError>),
    TimedOut,
    Cancelled,
}

/// The bytes a work item's requests take on the pipe at most: its call, and its job's
/// header (counted even when the worker has it already).
fn request_bytes(item: &WorkItem) -> usize {
    item.body.len() + item.job.as_ref().map_or(0, |j| j.body.len()) + 8
}

fn cancelled(call_index: usize) -> CallError {
    CallError::new(
        call_index,
        CallErrorKind::Cancelled,
        "the call was cancelled before it finished".to_owned(),
    )
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) => match (s.signal(), s.code()) {
            (Some(sig), _) => {
                let name = nix::sys::signal::Signal::try_from(sig)
                    .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_owned());
                let hint = if sig == libc_sigkill() {
                    " (something killed it; the kernel's out-of-memory killer does this when memory runs out)"
                } else {
                    ""
                };
                format!("killed by {name}{hint}")
            }
            (None, Some(code)) => format!("it exited with code {code}"),
            (None, None) => "it ended for an unknown reason".to_owned(),
        },
        None => "it stopped answering".to_owned(),
    }
}

fn libc_sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}

/// A running worker process.
struct Proc {
    /// The job headers this process has, oldest first (at most `JOBS_KEPT`).
    jobs: VecDeque<u64>,
    child: Child,
    stdin: ChildStdin,
    stdout: FrameReader<ChildStdout>,
    stderr: Arc<StderrLog>,
    stderr_task: tokio::task::JoinHandle<()>,
}

impl Proc {
    /// Starts a worker and waits until it is ready.
    async fn spawn(python: &Python) -> Result<Proc, Error> {
        Proc::start(python)?.ready(python).await
    }

    /// Starts a worker process, without waiting for it: the pool starts all of its
    /// workers at once this way (a task spawned per worker ran only when the task that
    /// created the pool yielded: the second worker started 20-30 ms after the first).
    fn start(python: &Python) -> Result<Proc, Error> {
        let interpreter = python.get();
        let start_error = |reason: String| Error::WorkerStart {
            python: interpreter.clone(),
            reason,
        };
        let script = match python.1.as_ref() {
            Ok(script) => script,
            Err(e) => return Err(start_error(e.clone())),
        };
        let mut child = Command::new(&interpreter)
            .arg("-u")
            .arg(script)
            .arg("--worker")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| start_error(e.to_string()))?;
        let (Some(stdin), Some(stdout), Some(mut stderr_pipe)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(start_error("its pipes were not set up".to_owned()));
        };
        // Drain stderr concurrently, so a chatty worker never blocks on a full pipe.
        let stderr = Arc::new(StderrLog::default());
        let sink = Arc::clone(&stderr);
        let stderr_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = stderr_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.push(&buf[..n]);
            }
            sink.push_end();
        });
        Ok(Proc {
            jobs: VecDeque::new(),
            child,
            stdin,
            stdout: FrameReader::new(stdout),
            stderr,
            stderr_task,
        })
    }

    /// Waits for a started worker's hello.
    async fn ready(self, python: &Python) -> Result<Proc, Error> {
        let start_error = |reason: String| Error::WorkerStart {
            python: python.get(),
            reason,
        };
        let mut proc = self;
        match tokio::time::timeout(START_TIMEOUT, proc.stdout.next()).await {
            Ok(Ok(body)) => match protocol::decode(&body) {
                Ok(Message::Hello { executable }) => {
                    python.resolved(executable);
                    Ok(proc)
                }
                _ => {
                    proc.kill().await;
                    Err(start_error(
                        "it did not greet with the runtime's hello".to_owned(),
                    ))
                }
            },
            Ok(Err(FrameError::TooLarge(_) | FrameError::Json(_))) => {
                proc.kill().await;
                Err(start_error(
                    "it did not greet with the runtime's hello".to_owned(),
                ))
            }
            Ok(Err(e)) => {
                let status = proc.child.wait().await.ok();
                let stderr = proc.kill().await;
                Err(start_error(format!(
                    "it ended before it was ready ({e}; {}): {}",
                    describe_exit(status),
                    stderr.trim()
                )))
            }
            Err(_) => {
                proc.kill().await;
                Err(start_error(format!(
                    "it was not ready within {}s",
                    START_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// The frames that send `items`: consecutive calls of one job as one chunk (after the
    /// job's header, if this process lacks it), anything else as its own frame.
    fn frames(&mut self, items: &[Queued]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < items.len() {
            let Some(job) = items[at].job.as_ref() else {
                push_frame(&mut out, &items[at].body);
                at += 1;
                continue;
            };
            let mut end = at + 1;
            while end < items.len() && items[end].job.as_ref().is_some_and(|j| Arc::ptr_eq(j, job))
            {
                end += 1;
            }
            self.ensure_header(&mut out, job);
            let chunk = &items[at..end];
            let mut body =
                Vec::with_capacity(48 + chunk.iter().map(|i| i.body.len() + 1).sum::<usize>());
            body.extend_from_slice(br#"{"type":"calls","job":"#);
            body.extend_from_slice(job.id.to_string().as_bytes());
            // Plain calls with consecutive indices go as a range: only their arguments
            // (the worker decodes a list and a number less per call).
            let first = chunk[0].call_index;
            let ranged: Option<Vec<&[u8]>> = chunk
                .iter()
                .enumerate()
                .map(|(n, item)| {
                    (item.call_index == first + n)
                        .then(|| range_args(&item.body, item.call_index))
                        .flatten()
                })
                .collect();
            // Calls of one argument each go as those arguments alone.
            let single: Option<Vec<&[u8]>> = ranged
                .as_ref()
                .and_then(|r| r.iter().map(|args| single_argument(args)).collect());
            match (&single, &ranged) {
                (Some(_), _) | (None, Some(_)) => {
                    body.extend_from_slice(br#","from":"#);
                    body.extend_from_slice(first.to_string().as_bytes());
                    body.extend_from_slice(if single.is_some() {
                        br#","arg":["#
                    } else {
                        br#","args":["#
                    });
                }
                (None, None) => body.extend_from_slice(br#","calls":["#),
            }
            let parts = single
                .or(ranged)
                .unwrap_or_else(|| chunk.iter().map(|i| &i.body[..]).collect());
            for (n, part) in parts.iter().enumerate() {
                if n > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(part);
            }
            body.extend_from_slice(b"]}");
            push_frame(&mut out, &body);
            at = end;
        }
        out
    }

    /// Adds the job's header frame unless this process has it.
    fn ensure_header(&mut self, out: &mut Vec<u8>, job: &JobHeader) {
        if self.jobs.contains(&job.id) {
            return;
        }
        push_frame(out, &job.body);
        self.jobs.push_back(job.id);
        if self.jobs.len() > JOBS_KEPT {
            self.jobs.pop_front();
        }
    }

    /// Writes already-framed requests.
    async fn send(&mut self, frames: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(frames).await?;
        self.stdin.flush().await
    }

    /// Reads the next message.
    async fn receive(&mut self) -> Result<Message, FrameError> {
        let reply = self.stdout.next().await?;
        protocol::decode(&reply)
    }

    fn take_stderr(&self) -> String {
        self.stderr.take_all()
    }

    /// SIGKILL to the worker's whole process group: the worker leads its own group, so
    /// this also stops anything the function started.
    fn kill_group(&self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Kills the worker's whole process group and returns what it wrote to stderr.
    async fn kill(mut self) -> String {
        self.kill_group();
        let _ = self.child.kill().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.stderr_task).await;
        self.take_stderr()
    }
}

/// The positional arguments of call `index` sent as a compact call without keyword
/// arguments (`["00003",3,[1,"a"]]` gives `[1,"a"]`; `protocol::compact_call`), for a
/// range chunk; None for any other body.
fn range_args(body: &[u8], index: usize) -> Option<&[u8]> {
    let digits = |b: &[u8]| b.iter().position(|c| !c.is_ascii_digit());
    let rest = body.strip_prefix(b"[\"")?;
    let rest = rest.get(digits(rest)?..)?.strip_prefix(b"\",")?;
    let len = digits(rest)?;
    let said: usize = std::str::from_utf8(&rest[..len]).ok()?.parse().ok()?;
    // Keyword arguments (an object) would end the body with `}]`.
    let args = rest[len..].strip_prefix(b",")?.strip_suffix(b"]")?;
    (said == index && args.starts_with(b"[") && args.ends_with(b"]")).then_some(args)
}

/// The one value of a JSON array of exactly one (`[{"a":[1,2]}]` gives `{"a":[1,2]}`);
/// None for an array of none or several.
fn single_argument(args: &[u8]) -> Option<&[u8]> {
    let inner = args.strip_prefix(b"[")?.strip_suffix(b"]")?;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in inner {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (true, _) => {}
            (false, b'[' | b'{') => depth += 1,
            (false, b']' | b'}') => depth = depth.checked_sub(1)?,
            (false, b',') if depth == 0 => return None,
            (false, _) => {}
        }
    }
    (!inner.is_empty() && depth == 0 && !in_string).then_some(inner)
}

/// Appends one frame: the body's length, big-endian, then the body.
fn push_frame(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(body);
}

/// What a worker writes to its own stderr (file descriptors 1 and 2), split per call.
/// After each call the runtime writes an end mark with the call's id, so output is given
/// to the call that produced it even though the pipe is read asynchronously.
#[derive(Default)]
struct StderrLog {
    state: Mutex<StderrState>,
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct StderrState {
    /// Bytes not yet split at an end mark.
    pending: Vec<u8>,
    /// Output of finished calls, by call id, oldest first.
    done: std::collections::VecDeque<(String, String)>,
}

/// The runtime's end-of-call mark: `END_MARK` in `lithoflow_runtime.py`.
const END_MARK: &[u8] = b"\x1e\x1flithoflow-call-end:";

impl StderrLog {
    fn push(&self, bytes: &[u8]) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.pending.extend_from_slice(bytes);
        while let Some(at) = find(&st.pending, END_MARK) {
            let rest = &st.pending[at + END_MARK.len()..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                break;
            };
            let call_id = String::from_utf8_lossy(&rest[..nl]).into_owned();
            let text = tail(&st.pending[..at]);
            let consumed = at + END_MARK.len() + nl + 1;
            st.pending.drain(..consumed);
            st.done.push_back((call_id, text));
            if st.done.len() > 1024 {
                st.done.pop_front();
            }
        }
        // Bound what waits for a mark (a call that prints without end).
        if st.pending.len() > 2 * STDERR_TAIL {
            let cut = st.pending.len() - STDERR_TAIL;
            st.pending.drain(..cut);
        }
        drop(st);
        self.changed.notify_waiters();
    }

    /// The stream ended: nothing more will come.
    fn push_end(&self) {
        self.changed.notify_waiters();
    }

    /// The output of call `call_id`; waits briefly for its end mark to be read.
    async fn take_call(&self, call_id: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        loop {
            let notified = self.changed.notified();
            if let Ok(mut st) = self.state.lock()
                && let Some(pos) = st.done.iter().position(|(id, _)| id == call_id)
            {
                // Anything before it belongs to calls that were never claimed.
                let found = st.done.drain(..=pos).next_back().map(|(_, text)| text);
                return found.unwrap_or_default();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return String::new();
            }
        }
    }

    /// Everything not yet claimed (after a crash or a kill).
    fn take_all(&self) -> String {
        let Ok(mut st) = self.state.lock() else {
            return String::new();
        };
        let mut out: String = st.done.drain(..).map(|(_, text)| text).collect();
        out.push_str(&tail(&st.pending));
        st.pending.clear();
        out
    }
}

/// Splits a worker's stderr, arriving in these chunks, into per-call output as a worker
/// does; returns the finished calls' `(call id, output)` and what is left unclaimed. The
/// entry point of the protocol fuzzer in `tests/it/fuzz.rs`.
#[doc(hidden)]
pub fn fuzz_split_stderr(chunks: &[&[u8]]) -> (Vec<(String, String)>, String) {
    let log = StderrLog::default();
    for chunk in chunks {
        log.push(chunk);
    }
    log.push_end();
    let done = match log.state.lock() {
        Ok(st) => st.done.iter().cloned().collect(),
        Err(_) => Vec::new(),
    };
    (done, log.take_all())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The last `STDERR_TAIL` bytes as text.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_compact_call_of_positional_arguments_of_its_own_index_goes_in_a_range() {
        let none = serde_json::Map::new();
        let args = [serde_json::json!([1, "]"]), serde_json::json!({"k": "}]"})];
        let body = protocol::compact_call(7, &args, &none).expect("encodes");
        assert_eq!(range_args(&body, 7), Some(&br#"[[1,"]"],{"k":"}]"}]"#[..]));
        assert_eq!(range_args(&body, 8), None, "another call's index");
        let empty = protocol::compact_call(123_456, &[], &none).expect("encodes");
        assert_eq!(range_args(&empty, 123_456), Some(&b"[]"[..]));
        let mut kwargs = serde_json::Map::new();
        kwargs.insert("y".to_owned(), serde_json::json!([2]));
        let with_keywords = protocol::compact_call(7, &args, &kwargs).expect("encodes");
        assert_eq!(range_args(&with_keywords, 7), None, "keyword arguments");
        for other in [
            &br#"{"call_id":"00007","call_index":7,"args":[1]}"#[..],
            br#"["00007",7]"#,
            br#"["x7",7,[1]]"#,
            b"",
        ] {
            assert_eq!(
                range_args(other, 7),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn only_an_array_of_one_value_gives_its_value() {
        for (args, one) in [
            (&b"[1]"[..], Some(&b"1"[..])),
            (
                br#"[{"a":[1,2],"b":"x,]"}]"#,
                Some(&br#"{"a":[1,2],"b":"x,]"}"#[..]),
            ),
            (br#"["a\"b,c"]"#, Some(&br#""a\"b,c""#[..])),
            (br#"[[1,2]]"#, Some(&b"[1,2]"[..])),
            (b"[]", None),
            (b"[1,2]", None),
            (br#"[{"a":1},{"b":2}]"#, None),
            (br#"["x\\",2]"#, None),
            (b"1", None),
        ] {
            assert_eq!(
                single_argument(args),
                one,
                "{}",
                String::from_utf8_lossy(args)
            );
        }
    }
}
