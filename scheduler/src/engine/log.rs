//! A try's log file: its header, each call's output (or the bash command's), and how it
//! ended. Written once the try has ended, before its state is recorded.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::Engine;
use super::run::TryResult;
use crate::store::{DagRunRecord, TaskInstanceRecord};
use crate::taskrun::{self, TaskError};
use lithoflow_dag::Dag;

impl Engine {
    /// Writes the log of a finished try; the error names the file.
    pub(super) fn write_log(
        &self,
        dag: &Dag,
        run: &DagRunRecord,
        ti: &TaskInstanceRecord,
        result: &TryResult,
        value: Result<&Value, &TaskError>,
    ) -> std::io::Result<()> {
        let path = Self::log_path(
            &self.logs_dir,
            &dag.dag_id,
            &run.run_id,
            &ti.task_id,
            result.try_number,
        );
        write_log_to(&path, dag, run, ti, result, value)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }
}

fn write_log_to(
    path: &Path,
    dag: &Dag,
    run: &DagRunRecord,
    ti: &TaskInstanceRecord,
    result: &TryResult,
    value: Result<&Value, &TaskError>,
) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Buffered: a return value is formatted a number at a time, and a 100,000-call
    // map's log was 400,000 `write` calls on the scheduler's async threads.
    let mut f = std::io::BufWriter::with_capacity(64 * 1024, std::fs::File::create(path)?);
    let start = ti.start_date.map(|d| d.to_rfc3339()).unwrap_or_default();
    writeln!(
        f,
        "[{start}] {}.{} run {} try {}/{}",
        dag.dag_id, ti.task_id, run.run_id, result.try_number, ti.max_tries
    )?;
    if let Some(job) = &result.output.job {
        taskrun::write_call_output(&mut f, job)?;
    }
    if let Some(output) = &result.output.output {
        f.write_all(output.as_bytes())?;
    }
    let end = ti.end_date.map(|d| d.to_rfc3339()).unwrap_or_default();
    match value {
        Ok(v) => writeln!(f, "[{end}] Done. Returned value was: {v}")?,
        Err(TaskError::Skip(m)) => writeln!(f, "[{end}] {m}")?,
        Err(e) => writeln!(f, "[{end}] Task failed: {e}")?,
    }
    writeln!(
        f,
        "[{end}] state: {} after {:.3}s",
        ti.state.name(),
        result.duration_s
    )?;
    f.flush()
}
