//! Airflow's trigger rules, decided exactly as `trigger_rule_dep.py` (Airflow 3.3) does
//! with `flag_upstream_failed` set, as the scheduler always runs it. Pure.
//!
//! A task is decided from the states of its **direct** upstream tasks: it may run now, it
//! must wait, or it is finished without running (skipped or upstream_failed). Several
//! rules decide before every upstream task is done (`all_success` turns upstream_failed
//! at the first failure, `one_success` runs at the first success).

use crate::TriggerRule;

/// How many direct upstream tasks are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamCounts {
    /// Direct upstream tasks in all.
    pub upstream: usize,
    /// In state success.
    pub success: usize,
    /// In state skipped.
    pub skipped: usize,
    /// In state failed.
    pub failed: usize,
    /// In state upstream_failed.
    pub upstream_failed: usize,
    /// In state removed (kept for Airflow's arithmetic; lithoflow never removes a task
    /// from a running DAG run).
    pub removed: usize,
}

impl UpstreamCounts {
    /// Upstream tasks in a finished state.
    pub fn done(&self) -> usize {
        self.success + self.skipped + self.failed + self.upstream_failed + self.removed
    }
}

/// What the trigger rule says about a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The task may run now.
    Run,
    /// Not decided yet; wait for more upstream tasks to finish.
    Wait,
    /// Finished without running: skipped.
    Skip,
    /// Finished without running: upstream_failed.
    UpstreamFailed,
}

/// Decides a task with rule `rule` whose direct upstream tasks are counted in `c`.
pub fn evaluate(rule: TriggerRule, c: UpstreamCounts) -> Decision {
    use Decision::{Run, Skip, UpstreamFailed, Wait};
    use TriggerRule as R;
    if c.upstream == 0 || rule == R::Always {
        return Run;
    }
    let done = c.done() >= c.upstream;
    let failures = c.failed + c.upstream_failed;
    // The states the scheduler writes (flag_upstream_failed), in Airflow's order.
    let forced = match rule {
        R::AllSuccess if failures > 0 => Some(UpstreamFailed),
        R::AllSuccess if c.skipped > 0 => Some(Skip),
        R::AllFailed if c.success + c.skipped > 0 => Some(Skip),
        R::OneSuccess if done && c.done() == c.skipped => Some(Skip),
        R::OneSuccess if done && c.success == 0 => Some(UpstreamFailed),
        R::OneFailed if done && failures == 0 => Some(Skip),
        R::OneDone if done && c.success + c.failed == 0 => Some(Skip),
        R::NoneFailed if failures > 0 => Some(UpstreamFailed),
        R::NoneFailedMinOneSuccess if failures > 0 => Some(UpstreamFailed),
        R::NoneFailedMinOneSuccess if c.skipped == c.upstream => Some(Skip),
        R::NoneFailedMinOneSuccess if done && c.success == 0 => Some(UpstreamFailed),
        R::NoneSkipped if c.skipped > 0 => Some(Skip),
        R::AllSkipped if c.success + failures > 0 => Some(Skip),
        R::AllDoneMinOneSuccess if c.skipped > 0 => Some(Skip),
        R::AllDoneMinOneSuccess
            if c.upstream - c.skipped <= c.success + failures + c.removed && c.success == 0 =>
        {
            Some(UpstreamFailed)
        }
        _ => None,
    };
    if let Some(d) = forced {
        return d;
    }
    let passes = match rule {
        R::AllSuccess => c.upstream.saturating_sub(c.success + c.removed) == 0,
        R::AllFailed => c.upstream.saturating_sub(failures + c.removed) == 0,
        R::AllDone => done,
        R::AllDoneMinOneSuccess => c.skipped == 0 && done && c.success > 0,
        R::OneSuccess => c.success > 0,
        R::OneFailed => failures > 0,
        R::OneDone => c.success + c.failed > 0,
        R::NoneFailed => c.upstream.saturating_sub(c.success + c.skipped + c.removed) == 0,
        R::NoneFailedMinOneSuccess => {
            c.upstream.saturating_sub(c.success + c.skipped + c.removed) == 0 && c.success > 0
        }
        R::NoneSkipped => done && c.skipped == 0,
        R::AllSkipped => c.upstream.saturating_sub(c.skipped) == 0,
        R::Always => true,
    };
    if passes { Run } else { Wait }
}

#[cfg(test)]
mod tests;
