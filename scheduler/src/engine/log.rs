//! A try's log file: its header, each call's output (or the bash command's), and how it
//! ended. The file is created with its header as the try starts, on a blocking thread,
//! for all the tries a turn of the run loop dispatches ([`TryLog::pending`],
//! [`TryLog::open_in_background`]): a folder and a file are two inodes, 50-150 µs each
//! on ext4, which a chain of tasks waited for at every step when they were made before
//! the try started (what is written to the log before its file exists is kept, and goes
//! in first). Output is appended as it arrives (local workers and bash as it is printed, Lambda
//! calls as each ends), in sections named like the end-of-try format
//! (`--- map call 3 stdout ---`, a new header whenever another call or stream speaks);
//! the end is appended once the try has ended, before its state is recorded. When the
//! file could not be written while the try ran, it is written whole at the end, from
//! the calls' records.
//!
//! Secrets are masked before anything is written (Airflow's secrets masker on task logs,
//! `airflow/utils/log/secrets_masker.py`): the values of sensitive variables and the
//! passwords and sensitive extras of connections ([`crate::values::secret_masks`]),
//! given with [`TryLog::with_masks`]. Output is masked a line at a time, so a secret
//! split between two pieces of output is still found: with masks, a line's end is held
//! back until its newline arrives (or the section changes, or the try ends).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use lithoflow_executor::CallOutput;
use serde_json::Value;

use super::Engine;
use super::run::TryResult;
use crate::store::{DagRunRecord, TaskInstanceRecord};
use crate::taskrun::{self, TaskError};
use lithoflow_dag::Dag;

/// The log file of a running try; clones append to the same file.
#[derive(Clone)]
pub(crate) struct TryLog(Arc<Mutex<LiveFile>>);

struct LiveFile {
    path: PathBuf,
    /// `None` once a write failed (or the file could not be created): the end-of-try
    /// write then writes the file whole.
    file: Option<File>,
    /// Until the file is created ([`TryLog::pending`]): its header, and what was written
    /// meanwhile, in order.
    opening: Option<(String, Vec<u8>)>,
    /// The section header the last text went under.
    section: String,
    /// Whether the last text ended its line.
    at_line_start: bool,
    /// The try's end is written: output still arriving (calls being stopped) would land
    /// after it, so it is dropped.
    closed: bool,
    /// Secrets to mask, longest first.
    masks: Arc<Vec<String>>,
    /// With masks: the start of a line whose end has not arrived, and its section.
    pending: Option<(String, String)>,
}

/// Held back at most this long without a newline before it is written anyway.
const PENDING_LIMIT: usize = 64 * 1024;

impl TryLog {
    /// The log of a try, its file not created yet: what is written to it is kept until
    /// [`TryLog::open_in_background`] (or the try's end) creates (or truncates: a try
    /// re-run after a restart starts its log again) the file with its header line.
    pub(crate) fn pending(path: PathBuf, header: &str) -> TryLog {
        TryLog(Arc::new(Mutex::new(LiveFile {
            path,
            file: None,
            opening: Some((header.to_owned(), Vec::new())),
            section: String::new(),
            at_line_start: true,
            closed: false,
            masks: Arc::default(),
            pending: None,
        })))
    }

    /// Creates the files of `logs` ([`TryLog::pending`]) on a blocking thread, in order.
    pub(crate) fn open_in_background(logs: Vec<TryLog>) {
        if !logs.is_empty() {
            tokio::task::spawn_blocking(move || logs.iter().for_each(TryLog::open_now));
        }
    }

    /// Creates the file now if it is still to be created (under the lock, so nothing is
    /// written to it, or its end appended, meanwhile).
    fn open_now(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open_now();
    }

    /// The log with `masks` (secrets) masked in everything written from now on.
    pub(crate) fn with_masks(self, masks: Vec<String>) -> TryLog {
        {
            let mut live = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            live.masks = Arc::new(masks);
        }
        self
    }

    /// Whether this log masks secrets.
    fn has_masks(&self) -> bool {
        !self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .masks
            .is_empty()
    }

    /// `text` with this log's secrets masked.
    pub(crate) fn mask(&self, text: &str) -> String {
        let masks = Arc::clone(&self.0.lock().unwrap_or_else(PoisonError::into_inner).masks);
        mask_text(&masks, text)
    }

    /// A log that writes nothing (the try's task instance was not found, or a test).
    pub(crate) fn nowhere() -> TryLog {
        TryLog(Arc::new(Mutex::new(LiveFile {
            path: PathBuf::new(),
            file: None,
            opening: None,
            section: String::new(),
            at_line_start: true,
            closed: true,
            masks: Arc::default(),
            pending: None,
        })))
    }

    /// Appends a piece of a call's output under its section header.
    pub(crate) fn call_output(&self, out: CallOutput<'_>) {
        let header = format!(
            "--- {} call {} {} ---",
            out.phase,
            out.index,
            out.stream.name()
        );
        self.append(header, out.text);
    }

    /// Appends what a callback printed and how it ended (`on_execute_callback`, which
    /// runs while the try's log is open); `text` starts with its section header.
    pub(crate) fn callback_output(&self, text: &str) {
        let (header, body) = text.split_once('\n').unwrap_or((text, ""));
        self.append(header.to_owned(), body);
    }

    /// Appends a piece of a bash command's output (`stream`: `stdout` or `stderr`).
    pub(crate) fn bash_output(&self, stream: &str, text: &str) {
        self.append(format!("--- bash {stream} ---"), text);
    }

    /// Appends a line about a sensor's poke (or a trigger_dag_run's progress).
    pub(crate) fn sensor_line(&self, text: &str) {
        self.append("--- sensor ---".to_owned(), &format!("{text}\n"));
    }

    fn append(&self, header: String, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut live = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if live.closed || (live.file.is_none() && live.opening.is_none()) {
            return;
        }
        if live.masks.is_empty() {
            live.write_piece(header, text);
            return;
        }
        // Whole lines only, so a secret cut between two pieces is seen whole.
        let mut text = text.to_owned();
        match live.pending.take() {
            Some((section, start)) if section == header => text.insert_str(0, &start),
            Some((section, start)) => {
                let masked = mask_text(&live.masks, &start);
                live.write_piece(section, &masked);
            }
            None => {}
        }
        let cut = text.rfind('\n').map_or(0, |i| i + 1);
        let cut = if text.len() - cut > PENDING_LIMIT {
            text.len()
        } else {
            cut
        };
        let rest = text.split_off(cut);
        if !rest.is_empty() {
            live.pending = Some((header.clone(), rest));
        }
        if !text.is_empty() {
            let masked = mask_text(&live.masks, &text);
            live.write_piece(header, &masked);
        }
    }

    /// Appends the try's end and closes the log. `Ok(false)`: the file was not written
    /// while the try ran, and the caller writes it whole.
    fn finish(&self, end: &str) -> std::io::Result<bool> {
        let mut live = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Not created yet (its blocking thread has not come to it): created here.
        live.open_now();
        if let Some((section, start)) = live.pending.take()
            && live.file.is_some()
            && !live.closed
        {
            let masked = mask_text(&live.masks, &start);
            live.write_piece(section, &masked);
        }
        let end = mask_text(&live.masks, end);
        live.finish(&end)
    }
}

impl LiveFile {
    /// Creates the file with its header and what was written meanwhile, if it is still
    /// to be created. A file that cannot be created is reported once and written whole
    /// when the try ends.
    fn open_now(&mut self) {
        let Some((header, early)) = self.opening.take() else {
            return;
        };
        self.file = open_with_header(&self.path, &header)
            .inspect_err(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "failed to create the try's log; it is written when the try ends");
            })
            .ok();
        if !early.is_empty() {
            self.write(&early);
        }
    }

    fn write_piece(&mut self, header: String, text: &str) {
        let live = self;
        // One write per piece, so a reader never sees a header without its text.
        let mut buf = Vec::with_capacity(header.len() + text.len() + 2);
        if live.section != header {
            if !live.at_line_start {
                buf.push(b'\n');
            }
            buf.extend_from_slice(header.as_bytes());
            buf.push(b'\n');
            live.section = header;
        }
        buf.extend_from_slice(text.as_bytes());
        live.at_line_start = text.ends_with('\n');
        live.write(&buf);
    }

    /// Appends the (masked) end and closes the file.
    fn finish(&mut self, end: &str) -> std::io::Result<bool> {
        let live = self;
        live.closed = true;
        if live.file.is_none() {
            return Ok(false);
        }
        let mut buf = Vec::with_capacity(end.len() + 1);
        if !live.at_line_start {
            buf.push(b'\n');
        }
        buf.extend_from_slice(end.as_bytes());
        let path = live.path.clone();
        let Some(file) = live.file.as_mut() else {
            return Ok(false);
        };
        let written = file.write_all(&buf).and_then(|()| file.flush());
        if let Err(e) = written {
            live.file = None;
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ));
        }
        live.file = None;
        Ok(true)
    }

    fn write(&mut self, buf: &[u8]) {
        if let Some((_, early)) = self.opening.as_mut() {
            early.extend_from_slice(buf);
            return;
        }
        if let Some(file) = self.file.as_mut()
            && let Err(e) = file.write_all(buf)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "failed to append to the try's log; it is written whole when the try ends");
            self.file = None;
        }
    }
}

/// `text` with every secret in `masks` replaced by `***` (values under 4 characters are
/// left alone: masking them would hide unrelated text; `lithoflow_dag::redact`).
fn mask_text(masks: &[String], text: &str) -> String {
    if masks.is_empty() {
        return text.to_owned();
    }
    let values: Vec<&str> = masks.iter().map(String::as_str).collect();
    lithoflow_dag::redact::mask_values(text, &values)
}

fn open_with_header(path: &Path, header: &str) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = File::create(path)?;
    f.write_all(header.as_bytes())?;
    Ok(f)
}

/// The first line of a try's log.
pub(super) fn header(dag: &Dag, run: &DagRunRecord, ti: &TaskInstanceRecord) -> String {
    let start = ti.start_date.map(|d| d.to_rfc3339()).unwrap_or_default();
    let map = if ti.map_index >= 0 {
        format!(" map_index {}", ti.map_index)
    } else {
        String::new()
    };
    format!(
        "[{start}] {}.{} run {}{map} try {}/{}\n",
        dag.dag_id, ti.task_id, run.run_id, ti.try_number, ti.max_tries
    )
}

impl Engine {
    /// Finishes the log of an ended try: its end is appended to what was written while
    /// it ran, or (when that file could not be written) the whole log is written now;
    /// the error names the file.
    pub(super) fn write_log(
        &self,
        dag: &Dag,
        run: &DagRunRecord,
        ti: &TaskInstanceRecord,
        result: &TryResult,
        value: Result<&Value, &TaskError>,
    ) -> std::io::Result<()> {
        let end = end_lines(ti, result, value);
        if let Some(log) = &result.log
            && log.finish(&end)?
        {
            return Ok(());
        }
        let path = Self::log_path(
            &self.logs_dir,
            &dag.dag_id,
            &run.run_id,
            &ti.task_id,
            ti.map_index,
            result.try_number,
        );
        let written = match result.log.as_ref().filter(|l| l.has_masks()) {
            // With secrets to mask, the log is made in memory and masked whole.
            Some(log) => {
                let mut text = Vec::new();
                write_log_into(&mut text, &header(dag, run, ti), result, &end).and_then(|()| {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(&path, log.mask(&String::from_utf8_lossy(&text)))
                })
            }
            None => write_log_to(&path, &header(dag, run, ti), result, &end),
        };
        written.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }
}

/// How the try ended: its value or error, then its state and duration.
fn end_lines(
    ti: &TaskInstanceRecord,
    result: &TryResult,
    value: Result<&Value, &TaskError>,
) -> String {
    let end = ti.end_date.map(|d| d.to_rfc3339()).unwrap_or_default();
    let outcome = match value {
        Ok(v) => format!("[{end}] Done. Returned value was: {v}"),
        Err(TaskError::Skip(m)) => format!("[{end}] {m}"),
        Err(e) => format!("[{end}] Task failed: {e}"),
    };
    format!(
        "{outcome}\n[{end}] state: {} after {:.3}s\n",
        ti.state.name(),
        result.duration_s
    )
}

/// The whole log, from the try's records.
fn write_log_to(path: &Path, header: &str, result: &TryResult, end: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Buffered: a return value is formatted a number at a time, and a 100,000-call
    // map's log was 400,000 `write` calls on the scheduler's async threads.
    let mut f = std::io::BufWriter::with_capacity(64 * 1024, File::create(path)?);
    write_log_into(&mut f, header, result, end)?;
    f.flush()
}

/// The whole log, written to `f`.
fn write_log_into(
    f: &mut impl Write,
    header: &str,
    result: &TryResult,
    end: &str,
) -> std::io::Result<()> {
    f.write_all(header.as_bytes())?;
    if let Some(job) = &result.output.job {
        taskrun::write_call_output(f, job)?;
    }
    if let Some(output) = &result.output.output {
        f.write_all(output.as_bytes())?;
    }
    f.write_all(end.as_bytes())
}
