//! The localhost backend: a pool of warm Python worker processes.
//!
//! Each worker runs the embedded runtime (`python3 -c <runtime> --worker`), imports a
//! function's module once and serves many calls over the framed protocol on its pipes.
//! One tokio task owns each worker process; calls wait in one shared queue. A call that
//! times out, is cancelled or crashes its worker costs only that worker, which is killed
//! (with its process group) and started again for the next call.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::error::{CallError, CallErrorKind, Error};
use crate::protocol::{self, CallResponse, FrameError, Message, RuntimeError, Signature};

/// How long a new worker may take to start and say hello.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The most calls a worker takes from the queue at once.
const MAX_BATCH: usize = 16;
/// The most of a worker's own stderr kept per call.
const STDERR_TAIL: usize = 64 * 1024;

/// One unit of work for a worker.
pub(crate) struct WorkItem {
    /// The encoded request.
    pub body: Vec<u8>,
    /// The call's index, for errors.
    pub call_index: usize,
    /// How long the call may run.
    pub timeout: Duration,
    /// Stops the call (its worker is killed).
    pub cancel: CancellationToken,
    /// Told when a worker picks the call up.
    pub started: Option<oneshot::Sender<()>>,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<WorkResult>,
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
    /// The runtime described a function.
    Inspected(Result<Signature, RuntimeError>),
    /// The call ended outside Python's control: timeout, crash, cancellation.
    Failed {
        error: CallError,
        worker_stderr: String,
    },
    /// No worker could be started.
    Infrastructure(String),
}

/// A pool of warm Python workers.
pub(crate) struct LocalPool {
    tx: async_channel::Sender<WorkItem>,
    size: usize,
    python: Python,
}

/// The interpreter to start. `python3` is often a wrapper script (pyenv's shims cost
/// ~300 ms a start), so after the first worker reports `sys.executable`, replacement
/// workers start that directly.
#[derive(Clone)]
struct Python(Arc<Mutex<String>>);

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
    /// Starts `size` workers running `python`. Workers start in the background; the first
    /// call waits for one to be ready.
    pub(crate) fn new(python: &str, size: usize) -> Arc<LocalPool> {
        let size = size.max(1);
        let (tx, rx) = async_channel::unbounded::<WorkItem>();
        let python = Python(Arc::new(Mutex::new(python.to_owned())));
        for slot in 0..size {
            // Workers hold a sender to put back calls of a batch their process never ran;
            // the pool closes the channel explicitly, so that does not keep it open.
            let worker = Worker {
                slot,
                pool_size: size,
                python: python.clone(),
                proc: None,
                rx: rx.clone(),
                requeue: tx.clone(),
            };
            tokio::spawn(worker.run());
        }
        Arc::new(LocalPool { tx, size, python })
    }

    /// How many workers the pool has.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Queues a work item.
    pub(crate) async fn submit(&self, item: WorkItem) -> Result<(), Error> {
        self.tx.send(item).await.map_err(|_| Error::Closed)
    }

    /// Checks that a worker can start, for a clear error before any job runs.
    pub(crate) async fn check(&self) -> Result<(), Error> {
        Proc::spawn(&self.python).await.map(drop)
    }

    /// Stops taking work; idle workers exit and kill their processes.
    pub(crate) fn close(&self) {
        self.tx.close();
    }
}

impl Drop for LocalPool {
    fn drop(&mut self) {
        self.tx.close();
    }
}

struct Worker {
    slot: usize,
    pool_size: usize,
    python: Python,
    proc: Option<Proc>,
    rx: async_channel::Receiver<WorkItem>,
    requeue: async_channel::Sender<WorkItem>,
}

impl Worker {
    async fn run(mut self) {
        // Warm up before the first call arrives.
        match Proc::spawn(&self.python).await {
            Ok(p) => self.proc = Some(p),
            Err(e) => {
                tracing::warn!(slot = self.slot, error = %e, "worker failed to start; will retry on first call")
            }
        }
        while let Ok(first) = self.rx.recv().await {
            // Take a share of the waiting calls as one batch: the frames go out in one
            // write and the worker runs them back to back, which saves two context
            // switches per call. The share keeps every worker busy when calls are few.
            let share = (self.rx.len() / self.pool_size).min(MAX_BATCH - 1);
            let mut batch = vec![first];
            while batch.len() <= share {
                match self.rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            self.serve(batch).await;
        }
        if let Some(p) = self.proc.take() {
            p.kill().await;
        }
    }

    /// Runs a batch of calls on this worker, one after the other. Each call has its own
    /// timeout and cancellation; when one ends the worker (timeout, crash, cancellation,
    /// a memory error), the calls after it, which never started, go back to the queue.
    async fn serve(&mut self, batch: Vec<WorkItem>) {
        let mut items = Vec::with_capacity(batch.len());
        for item in batch {
            if item.cancel.is_cancelled() {
                let error = cancelled(item.call_index);
                let _ = item.reply.send(WorkResult::Failed {
                    error,
                    worker_stderr: String::new(),
                });
            } else {
                items.push(item);
            }
        }
        if items.is_empty() {
            return;
        }
        if self.proc.is_none() {
            match Proc::spawn(&self.python).await {
                Ok(p) => self.proc = Some(p),
                Err(e) => {
                    for item in items {
                        let _ = item.reply.send(WorkResult::Infrastructure(e.to_string()));
                    }
                    return;
                }
            }
        }
        let mut frames = Vec::new();
        for item in &items {
            frames.extend_from_slice(
                &u32::try_from(item.body.len())
                    .unwrap_or(u32::MAX)
                    .to_be_bytes(),
            );
            frames.extend_from_slice(&item.body);
        }
        let sent = match self.proc.as_mut() {
            Some(proc) => proc.send(&frames).await,
            None => return,
        };
        let mut queue = items.into_iter();
        while let Some(mut item) = queue.next() {
            if let Some(started) = item.started.take() {
                let _ = started.send(());
            }
            let ended = match &sent {
                Ok(()) => self.answer(&mut item).await,
                Err(_) => {
                    let (status, worker_stderr) = self.reap().await;
                    self.died(&item, status, worker_stderr)
                }
            };
            let (result, worker_gone) = ended;
            let _ = item.reply.send(result);
            if worker_gone {
                for rest in queue {
                    if self.requeue.send(rest).await.is_err() {
                        break;
                    }
                }
                return;
            }
        }
    }

    /// Waits for the answer to the call the worker is running. Returns the result and
    /// whether the worker process is gone.
    async fn answer(&mut self, item: &mut WorkItem) -> (WorkResult, bool) {
        let Some(proc) = self.proc.as_mut() else {
            return (
                WorkResult::Infrastructure("the worker process is gone".to_owned()),
                true,
            );
        };
        let outcome = tokio::select! {
            r = proc.receive() => Outcome::Answer(r),
            () = tokio::time::sleep(item.timeout) => Outcome::TimedOut,
            () = item.cancel.cancelled() => Outcome::Cancelled,
        };
        match outcome {
            Outcome::Answer(Ok(Message::Result(response))) => {
                let worker_stderr = proc.take_stderr();
                let restart = response.restart;
                if restart {
                    self.retire().await;
                }
                (
                    WorkResult::Call {
                        response,
                        worker_stderr,
                    },
                    restart,
                )
            }
            Outcome::Answer(Ok(Message::Inspected(sig))) => (WorkResult::Inspected(sig), false),
            Outcome::Answer(Ok(other)) => {
                let worker_stderr = self.retire().await;
                let message = format!("the worker answered an unexpected message: {other:?}");
                let error = failure(item.call_index, CallErrorKind::Protocol, message);
                (
                    WorkResult::Failed {
                        error,
                        worker_stderr,
                    },
                    true,
                )
            }
            Outcome::Answer(Err(FrameError::Eof | FrameError::Io(_))) => {
                let (status, worker_stderr) = self.reap().await;
                (self.died(item, status, worker_stderr).0, true)
            }
            Outcome::Answer(Err(e)) => {
                let worker_stderr = self.retire().await;
                let message = format!("the worker broke the protocol: {e}");
                let error = failure(item.call_index, CallErrorKind::Protocol, message);
                (
                    WorkResult::Failed {
                        error,
                        worker_stderr,
                    },
                    true,
                )
            }
            Outcome::TimedOut => {
                let worker_stderr = self.retire().await;
                let message = format!(
                    "the call exceeded its timeout of {}; its worker was killed and replaced",
                    humanize(item.timeout)
                );
                let error = failure(item.call_index, CallErrorKind::Timeout, message);
                (
                    WorkResult::Failed {
                        error,
                        worker_stderr,
                    },
                    true,
                )
            }
            Outcome::Cancelled => {
                let worker_stderr = self.retire().await;
                (
                    WorkResult::Failed {
                        error: cancelled(item.call_index),
                        worker_stderr,
                    },
                    true,
                )
            }
        }
    }

    fn died(
        &self,
        item: &WorkItem,
        status: Option<ExitStatus>,
        worker_stderr: String,
    ) -> (WorkResult, bool) {
        let message = format!(
            "the worker process died during the call: {}",
            describe_exit(status)
        );
        let mut error = failure(item.call_index, CallErrorKind::WorkerDied, message);
        error.traceback = worker_stderr.clone();
        (
            WorkResult::Failed {
                error,
                worker_stderr,
            },
            true,
        )
    }

    /// Kills the worker process; the next call starts a new one.
    async fn retire(&mut self) -> String {
        match self.proc.take() {
            Some(p) => p.kill().await,
            None => String::new(),
        }
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

enum Outcome {
    Answer(Result<Message, FrameError>),
    TimedOut,
    Cancelled,
}

fn failure(call_index: usize, kind: CallErrorKind, message: String) -> CallError {
    CallError {
        call_index,
        kind,
        exc_type: kind.name().to_owned(),
        message,
        traceback: String::new(),
    }
}

fn cancelled(call_index: usize) -> CallError {
    failure(
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

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// A running worker process.
struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<String>>,
    stderr_task: tokio::task::JoinHandle<()>,
}

impl Proc {
    async fn spawn(python: &Python) -> Result<Proc, Error> {
        let interpreter = python.get();
        let start_error = |reason: String| Error::WorkerStart {
            python: interpreter.clone(),
            reason,
        };
        let mut child = Command::new(&interpreter)
            .arg("-u")
            .arg("-c")
            .arg(protocol::RUNTIME_SOURCE)
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
        // Drain stderr concurrently, keeping a bounded tail, so a chatty worker never
        // blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = stderr_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if s.len() > STDERR_TAIL {
                        let mut cut = s.len() - STDERR_TAIL;
                        while !s.is_char_boundary(cut) {
                            cut += 1;
                        }
                        s.drain(..cut);
                    }
                }
            }
        });
        let mut proc = Proc {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            stderr,
            stderr_task,
        };
        match tokio::time::timeout(START_TIMEOUT, protocol::read_frame(&mut proc.stdout)).await {
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

    /// Writes already-framed requests.
    async fn send(&mut self, frames: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(frames).await?;
        self.stdin.flush().await
    }

    /// Reads the next message.
    async fn receive(&mut self) -> Result<Message, FrameError> {
        let reply = protocol::read_frame(&mut self.stdout).await?;
        protocol::decode(&reply)
    }

    fn take_stderr(&self) -> String {
        self.stderr
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    /// Kills the worker's whole process group and returns what it wrote to stderr.
    async fn kill(mut self) -> String {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            // The worker leads its own process group, so this also stops anything the
            // function started.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.stderr_task).await;
        self.take_stderr()
    }
}
