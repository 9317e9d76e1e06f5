//! What every compute backend takes and answers, whichever it is (the warm local workers
//! in `local.rs`, AWS Lambda in `aws/lambda/`): a [`WorkItem`] (an encoded request, a
//! timeout, a cancellation token, progress hooks, a reply channel) answered with a
//! [`WorkResult`]. The backends depend on this module and never on each other; the
//! dispatcher that picks one for a job (`dispatch.rs`) sits above them both.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{CallError, CallErrorKind};
use crate::job::{CallPlace, OutputStream, Services};
use crate::protocol::{CallResponse, Returned, RuntimeError, Signature};

/// One unit of work for a backend: a call or an inspection.
pub(crate) struct WorkItem {
    /// The encoded request: the whole request document, or with `job`, only the call's
    /// own part (`call_id`, `call_index`, `args`, `kwargs`, ...), which a local worker
    /// sends in a chunk after the job's header.
    pub body: Vec<u8>,
    /// The job-wide settings of a call whose `body` holds only its own part (local
    /// workers only: a Lambda payload is always whole).
    pub job: Option<Arc<JobHeader>>,
    /// The call's index, for errors.
    pub call_index: usize,
    /// How long the call may run.
    pub timeout: Duration,
    /// Stops the call (a local worker running it is killed). Shared by the calls of a
    /// phase: cloning a token per call took a lock per clone and per drop.
    pub cancel: Arc<CancellationToken>,
    /// Told, in order and from the backend itself, when the call starts and ends.
    pub events: Option<Arc<dyn CallEvents>>,
    /// Where the outcome goes.
    pub reply: Reply,
    /// Who answers the requests the call sends while it runs, and for which call
    /// (local workers only: a Lambda function has no channel back to the host).
    pub services: Option<(Services, CallPlace)>,
    /// The call's place on a cloud backend (its job, its storage keys); the local pool
    /// ignores it. Boxed: a work item is moved several times per call, and a local
    /// call has none.
    #[cfg_attr(
        not(feature = "aws"),
        expect(dead_code, reason = "read by the aws_lambda backend only")
    )]
    pub cloud: Option<Box<CloudCall>>,
}

/// Hooks a backend calls synchronously, so counts of running calls are exact: a call's
/// end is always seen before the next call on the same worker starts.
pub(crate) trait CallEvents: Send + Sync {
    /// A worker started the call.
    fn started(&self);
    /// The call ended (`ok`: the function returned), whether or not it started.
    fn finished(&self, ok: bool);
    /// As [`CallEvents::finished`], for a call answered together with later calls (a
    /// local worker's batched answers): counted, but watchers are woken only by the
    /// frame's last call.
    fn finished_quietly(&self, ok: bool) {
        self.finished(ok);
    }
    /// The call started and ended in one step: a local worker answered it in the frame
    /// that answered an earlier call. Watchers are woken if `wake` (the frame's last).
    fn answered(&self, ok: bool, wake: bool) {
        self.started();
        if wake {
            self.finished(ok);
        } else {
            self.finished_quietly(ok);
        }
    }
    /// The call started but will run again from the start (its worker died or hung
    /// before answering it, with other calls of its chunk unanswered): it is no longer
    /// running, and what it printed so far is forgotten.
    fn requeued(&self) {}
    /// The running call printed this (local workers stream it while the call runs;
    /// other backends hand the call's whole output over in its response instead).
    fn output(&self, _stream: OutputStream, _text: &str) {}
    /// A cloud backend accepted the call for asynchronous execution (an Event
    /// invocation answered 202): it runs even if this process stops.
    #[cfg_attr(
        not(feature = "aws"),
        expect(dead_code, reason = "called by the aws_lambda backend only")
    )]
    fn accepted(&self) {}
}

impl WorkItem {
    /// Sends the result, telling the hooks first.
    pub(crate) fn reply(self, result: WorkResult) {
        if let Some(events) = &self.events {
            events.finished(result.ok());
        }
        self.reply.send(result);
    }

    /// As [`WorkItem::reply`], for a call answered together with others: its result
    /// joins `gathered`, which sends the results of one phase's calls at once.
    pub(crate) fn reply_gathered(self, result: WorkResult, gathered: &mut Gathered) {
        if let Some(events) = &self.events {
            events.finished(result.ok());
        }
        self.reply.gather(result, gathered);
    }

    /// Sends the result of a call answered in the frame of an earlier call (see
    /// [`CallEvents::answered`]), through `gathered`.
    pub(crate) fn reply_answered(self, result: WorkResult, wake: bool, gathered: &mut Gathered) {
        if let Some(events) = &self.events {
            events.answered(result.ok(), wake);
        }
        self.reply.gather(result, gathered);
    }

    /// Sends the result of a call answered together with later calls, telling the
    /// hooks quietly (see [`CallEvents::finished_quietly`]), through `gathered`.
    pub(crate) fn reply_quietly(self, result: WorkResult, gathered: &mut Gathered) {
        if let Some(events) = &self.events {
            events.finished_quietly(result.ok());
        }
        self.reply.gather(result, gathered);
    }
}

/// What a phase's shared reply channel carries: one call's outcome (`None`: the backend
/// dropped the call unserved), or the outcomes of calls a worker answered together.
#[derive(Debug)]
pub(crate) enum Answers {
    One(usize, Option<WorkResult>),
    Many(Vec<(usize, WorkResult)>),
}

/// Results of calls answered together, gathered per phase channel to go in one message
/// (a message per call, and the phase's task woken per call, cost as much host CPU as
/// the rest of a trivial call's answer). Sent by [`Gathered::send`], or when dropped.
#[derive(Default)]
pub(crate) struct Gathered(Option<Gathering>);

/// A phase's channel and the results gathered for it.
type Gathering = (mpsc::UnboundedSender<Answers>, Vec<(usize, WorkResult)>);

impl Gathered {
    /// Sends what was gathered.
    pub(crate) fn send(&mut self) {
        if let Some((tx, results)) = self.0.take() {
            let _ = tx.send(Answers::Many(results));
        }
    }
}

impl Drop for Gathered {
    fn drop(&mut self) {
        self.send();
    }
}

/// A job's settings, sent to a local worker once before its first call of the job
/// (`{"type": "job", "job": id, "module": .., "function": .., "sys_path": ..,
/// "extra_env": .., "exclude_modules": .., "memory_mb": ..}`), so calls carry only their
/// own arguments.
#[derive(Debug)]
pub(crate) struct JobHeader {
    /// Unique in this process; the calls' chunks name it.
    pub id: u64,
    /// The encoded header frame body.
    pub body: Vec<u8>,
}

/// Where a work item's outcome goes: its own channel, or a channel shared by a phase's
/// calls, tagged with the call's index (no task or channel per call). A shared reply
/// dropped unsent (the backend stopped) says so with `None`.
pub(crate) struct Reply(Option<ReplyTo>);

enum ReplyTo {
    One(oneshot::Sender<WorkResult>),
    Shared {
        index: usize,
        tx: mpsc::UnboundedSender<Answers>,
    },
}

impl Reply {
    /// A reply on a phase's shared channel, for the call at `index`.
    pub(crate) fn shared(index: usize, tx: mpsc::UnboundedSender<Answers>) -> Reply {
        Reply(Some(ReplyTo::Shared { index, tx }))
    }

    fn send(mut self, result: WorkResult) {
        match self.0.take() {
            Some(ReplyTo::One(tx)) => {
                let _ = tx.send(result);
            }
            Some(ReplyTo::Shared { index, tx }) => {
                let _ = tx.send(Answers::One(index, Some(result)));
            }
            None => {}
        }
    }

    /// Adds the result to `gathered` when it goes on a phase's shared channel (sending
    /// what was gathered for another channel first); sends it now otherwise.
    fn gather(mut self, result: WorkResult, gathered: &mut Gathered) {
        match self.0.take() {
            Some(ReplyTo::Shared { index, tx }) => match &mut gathered.0 {
                Some((to, results)) if to.same_channel(&tx) => results.push((index, result)),
                _ => {
                    gathered.send();
                    gathered.0 = Some((tx, vec![(index, result)]));
                }
            },
            to => {
                self.0 = to;
                self.send(result);
            }
        }
    }
}

impl From<oneshot::Sender<WorkResult>> for Reply {
    fn from(tx: oneshot::Sender<WorkResult>) -> Reply {
        Reply(Some(ReplyTo::One(tx)))
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(ReplyTo::Shared { index, tx }) = self.0.take() {
            let _ = tx.send(Answers::One(index, None));
        }
    }
}

/// What came of a work item.
#[derive(Debug)]
pub(crate) enum WorkResult {
    /// The runtime answered a call (successfully or not); `worker_stderr` is what the
    /// worker process wrote to its own stderr meanwhile (C-level output, crash dumps).
    Call {
        response: Box<CallResponse>,
        worker_stderr: String,
    },
    /// A local worker answered a call in a `results` frame: it returned, printing
    /// nothing; `worker_stderr` as for `Call`.
    Returned {
        returned: Returned,
        worker_stderr: String,
    },
    /// The runtime described a function.
    Inspected(Result<Signature, RuntimeError>),
    /// The call ended outside Python's control: timeout, crash, cancellation.
    Failed {
        error: CallError,
        worker_stderr: String,
    },
    /// No worker could be started, or the cloud service failed.
    Infrastructure(String),
}

impl WorkResult {
    /// Whether the function returned.
    pub(crate) fn ok(&self) -> bool {
        match self {
            WorkResult::Call { response, .. } => response.ok,
            WorkResult::Returned { .. } => true,
            _ => false,
        }
    }

    /// How long the function ran, seconds, when it ran to an answer.
    pub(crate) fn duration_s(&self) -> Option<f64> {
        match self {
            WorkResult::Call { response, .. } => Some(response.duration_s),
            WorkResult::Returned { returned, .. } => Some(returned.duration_s),
            _ => None,
        }
    }

    /// A call that ended outside Python's control, with nothing on stderr.
    pub(crate) fn failed(call_index: usize, kind: CallErrorKind, message: String) -> WorkResult {
        WorkResult::Failed {
            error: CallError::new(call_index, kind, message),
            worker_stderr: String::new(),
        }
    }
}

/// What a cloud backend needs to know about a call besides its request: the job it
/// belongs to and how it is followed. The localhost backend ignores it.
#[cfg_attr(
    not(feature = "aws"),
    expect(dead_code, reason = "read by the aws_lambda backend only")
)]
#[derive(Debug, Clone)]
pub(crate) struct CloudCall {
    /// The job's context.
    pub job: Arc<CloudJob>,
    /// `call`, `map`, `reduce` or `inspect`.
    pub phase: &'static str,
    /// The call's id in its phase (`00003`).
    pub call_id: String,
    /// The memory of the function that runs it, MB (None: `runtime_memory`).
    pub memory: Option<u64>,
    /// Invoke asynchronously (an Event invocation) and follow the call through the
    /// status object the runtime writes (`async_invoke`).
    pub detached: bool,
    /// Start right away and wait, inside the function, for these map calls' results,
    /// which become the first argument (`reducer_wait_local = false`).
    pub wait_for: Option<Vec<String>>,
}

/// A job's context on a cloud backend.
#[cfg_attr(
    not(feature = "aws"),
    expect(dead_code, reason = "read by the aws_lambda backend only")
)]
#[derive(Debug, Clone, Default)]
pub(crate) struct CloudJob {
    /// Where the job keeps its calls' data: `lithoflow.jobs/<job_key>/calls`, the same
    /// for every run of one job key (a try run again after a restart finds what the
    /// killed run's calls wrote; a new try has a new job key).
    pub calls_prefix: String,
    /// What an earlier run of the same job key left under `calls_prefix`, listed once
    /// when the job started, by `<phase>/<call_id>`: the calls that finished or were
    /// in flight when that run's process died.
    pub earlier: Arc<HashMap<String, EarlierCall>>,
    /// The function modules' archive in the bucket, if there are modules to ship.
    pub modules: Option<ModulesRef>,
    /// `async_invoke`: calls are Event invocations followed through S3.
    pub detached: bool,
    /// `remote_invocation`: the map phase is fanned out from inside the cloud.
    pub remote: bool,
    /// `reducer_wait_local = false` on a map_reduce: the reducer starts with the maps.
    pub remote_reduce: bool,
}

/// A call of an earlier run of a job, as its objects in storage show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EarlierCall {
    /// Its `init` object (the function started) exists; with when it was written, if
    /// storage said.
    pub started: Option<Option<SystemTime>>,
    /// Its `status.json` (the runtime's answer) exists.
    pub finished: bool,
}

/// A modules archive in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModulesRef {
    /// Its key.
    pub key: String,
    /// Its SHA-256, hex (the folder warm containers extract it to).
    pub sha256: String,
}
