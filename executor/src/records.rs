//! A job's call records, kept by field: every call's result and duration in two
//! vectors per phase, and what only some calls leave (a failure, printed output) beside
//! them by index. A record as one struct per call was 160 bytes; a 100,000-call map
//! held 16 MB of them, most of it empty strings and `None`s, and its results twice (in
//! the records and in the job's result). Now its results move into the job's result
//! once `results.json` has them ([`CallRecords::take_results`]).

use serde::Serialize;
use serde::ser::SerializeSeq;
use serde_json::Value;

use crate::error::{CallError, CallErrorKind};
use crate::job::CallRecord;

/// A `null` to lend for results moved out.
static NULL: Value = Value::Null;

/// What a call left besides its result and duration.
#[derive(Debug, Clone, Default)]
struct Rare {
    error: Option<Box<CallError>>,
    stdout: String,
    stderr: String,
}

/// One phase's records, in call order.
#[derive(Debug, Clone)]
struct PhaseRecords {
    phase: &'static str,
    /// Each call's result; empty once moved into the job's result.
    results: Vec<Value>,
    /// Each call's duration in seconds; NaN while the call has no record yet.
    durations: Vec<f64>,
    /// The calls with a failure or output, by ascending index.
    rare: Vec<(usize, Rare)>,
}

/// Every call of a job, map calls first, in order.
#[derive(Debug, Clone, Default)]
pub struct CallRecords {
    phases: Vec<PhaseRecords>,
}

/// One call's record, borrowed from [`CallRecords`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CallView<'a> {
    /// Its index in its phase.
    pub index: usize,
    /// `call`, `map` or `reduce`.
    pub phase: &'static str,
    /// Its return value (null when it failed, or once moved into the job's result).
    pub result: &'a Value,
    /// Why it failed.
    pub error: Option<&'a CallError>,
    /// What it printed to stdout.
    pub stdout: &'a str,
    /// What it (or its worker) printed to stderr.
    pub stderr: &'a str,
    /// How long it ran, seconds.
    pub duration_s: f64,
}

impl CallView<'_> {
    /// An owned copy.
    pub fn to_record(&self) -> CallRecord {
        CallRecord {
            index: self.index,
            phase: self.phase,
            result: self.result.clone(),
            error: self.error.map(|e| Box::new(e.clone())),
            stdout: self.stdout.to_owned(),
            stderr: self.stderr.to_owned(),
            duration_s: self.duration_s,
        }
    }
}

impl PhaseRecords {
    fn len(&self) -> usize {
        self.durations.len()
    }

    fn view(&self, index: usize) -> Option<CallView<'_>> {
        let duration_s = *self.durations.get(index)?;
        let rare = self
            .rare
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .and_then(|at| self.rare.get(at))
            .map(|(_, r)| r);
        Some(CallView {
            index,
            phase: self.phase,
            result: self.results.get(index).unwrap_or(&NULL),
            error: rare.and_then(|r| r.error.as_deref()),
            stdout: rare.map_or("", |r| r.stdout.as_str()),
            stderr: rare.map_or("", |r| r.stderr.as_str()),
            duration_s,
        })
    }
}

impl CallRecords {
    /// How many calls.
    pub fn len(&self) -> usize {
        self.phases.iter().map(PhaseRecords::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many calls failed.
    pub fn failed(&self) -> usize {
        self.phases
            .iter()
            .flat_map(|p| &p.rare)
            .filter(|(_, r)| r.error.is_some())
            .count()
    }

    /// The records in order.
    pub fn iter(&self) -> impl Iterator<Item = CallView<'_>> + '_ {
        self.phases
            .iter()
            .flat_map(|p| (0..p.len()).filter_map(move |i| p.view(i)))
    }

    /// The `n`th record of the job.
    pub fn get(&self, mut n: usize) -> Option<CallView<'_>> {
        for p in &self.phases {
            if n < p.len() {
                return p.view(n);
            }
            n -= p.len();
        }
        None
    }

    /// The calls with output, in order (a map of quiet calls has none to go through).
    pub fn with_output(&self) -> impl Iterator<Item = CallView<'_>> + '_ {
        self.phases.iter().flat_map(|p| {
            p.rare
                .iter()
                .filter(|(_, r)| !r.stdout.is_empty() || !r.stderr.is_empty())
                .filter_map(move |(i, _)| p.view(*i))
        })
    }

    /// The first real failure (a cancellation only when nothing else failed), if any.
    pub(crate) fn failure(&self) -> Option<CallError> {
        let mut cancelled = None;
        for (_, r) in self.phases.iter().flat_map(|p| &p.rare) {
            if let Some(e) = &r.error {
                if e.kind == CallErrorKind::Cancelled {
                    cancelled.get_or_insert_with(|| CallError::clone(e));
                } else {
                    return Some(CallError::clone(e));
                }
            }
        }
        cancelled
    }

    /// The results in order (copies), or the first real failure ([`Self::failure`]).
    pub(crate) fn results(&self) -> Result<Vec<Value>, CallError> {
        match self.failure() {
            Some(e) => Err(e),
            None => Ok(self.iter().map(|c| c.result.clone()).collect()),
        }
    }

    /// Every result, moved out (each record's becomes `null`).
    pub(crate) fn take_results(&mut self) -> Vec<Value> {
        match self.phases.as_mut_slice() {
            [one] => std::mem::take(&mut one.results),
            many => many
                .iter_mut()
                .flat_map(|p| std::mem::take(&mut p.results))
                .collect(),
        }
    }

    /// Adds another's records after these (moved, not copied, when these are none).
    pub(crate) fn append(&mut self, mut other: CallRecords) {
        if self.phases.is_empty() {
            *self = other;
        } else {
            self.phases.append(&mut other.phases);
        }
    }

    /// Records of a phase being run: one per call, set as the calls end, in any order.
    pub(crate) fn phase(phase: &'static str, calls: usize) -> PhaseBuilder {
        PhaseBuilder(PhaseRecords {
            phase,
            results: (0..calls).map(|_| Value::Null).collect(),
            durations: vec![f64::NAN; calls],
            rare: Vec::new(),
        })
    }

    /// Records made one at a time, in order (every call of one phase).
    pub fn from_records(records: impl IntoIterator<Item = CallRecord>) -> CallRecords {
        let mut out = CallRecords::default();
        for r in records {
            let next = match out.phases.last() {
                Some(p) if p.phase == r.phase && p.len() == r.index => None,
                _ => Some(PhaseRecords {
                    phase: r.phase,
                    results: Vec::new(),
                    durations: Vec::new(),
                    rare: Vec::new(),
                }),
            };
            out.phases.extend(next);
            if let Some(p) = out.phases.last_mut() {
                let index = p.len();
                push(p, index, r);
            }
        }
        out
    }
}

/// Sets call `index`'s record in `p` (its slot already exists, or is the next one).
fn push(p: &mut PhaseRecords, index: usize, r: CallRecord) {
    if index == p.durations.len() {
        p.durations.push(r.duration_s);
        p.results.push(r.result);
    } else if let (Some(d), Some(v)) = (p.durations.get_mut(index), p.results.get_mut(index)) {
        *d = r.duration_s;
        *v = r.result;
    } else {
        return;
    }
    if r.error.is_some() || !r.stdout.is_empty() || !r.stderr.is_empty() {
        p.rare.push((
            index,
            Rare {
                error: r.error,
                stdout: r.stdout,
                stderr: r.stderr,
            },
        ));
    }
}

/// A phase's records while its calls run.
pub(crate) struct PhaseBuilder(PhaseRecords);

impl PhaseBuilder {
    /// Call `index`'s record.
    pub(crate) fn set(&mut self, index: usize, record: CallRecord) {
        push(&mut self.0, index, record);
    }

    /// The records, every call without one marked as `missing(index)` makes it.
    pub(crate) fn finish(mut self, missing: impl Fn(usize) -> CallRecord) -> CallRecords {
        let p = &mut self.0;
        let unset: Vec<usize> = (0..p.len()).filter(|&i| p.durations[i].is_nan()).collect();
        for i in unset {
            push(p, i, missing(i));
        }
        p.rare.sort_by_key(|(i, _)| *i);
        CallRecords {
            phases: vec![self.0],
        }
    }
}

impl<'a> IntoIterator for &'a CallRecords {
    type Item = CallView<'a>;
    type IntoIter = Box<dyn Iterator<Item = CallView<'a>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl Serialize for CallRecords {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for c in self.iter() {
            seq.serialize_element(&c)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(phase: &'static str, index: usize, result: Value, stdout: &str) -> CallRecord {
        CallRecord {
            index,
            phase,
            result,
            error: None,
            stdout: stdout.to_owned(),
            stderr: String::new(),
            duration_s: index as f64,
        }
    }

    #[test]
    fn records_set_in_any_order_read_back_in_order_with_their_rare_parts() {
        let mut b = CallRecords::phase("map", 4);
        b.set(2, record("map", 2, Value::from(20), "two\n"));
        b.set(0, record("map", 0, Value::from(0), ""));
        let mut failed = record("map", 3, Value::Null, "");
        failed.error = Some(Box::new(CallError::new(
            3,
            CallErrorKind::Exception,
            "boom".to_owned(),
        )));
        b.set(3, failed);
        let records = b.finish(|i| {
            let mut r = record("map", i, Value::Null, "");
            r.error = Some(Box::new(CallError::new(
                i,
                CallErrorKind::Cancelled,
                "not started".to_owned(),
            )));
            r
        });
        assert_eq!(records.len(), 4);
        assert_eq!(records.failed(), 2);
        let seen: Vec<(usize, Value, &str, Option<CallErrorKind>)> = records
            .iter()
            .map(|c| (c.index, c.result.clone(), c.stdout, c.error.map(|e| e.kind)))
            .collect();
        assert_eq!(
            seen,
            vec![
                (0, Value::from(0), "", None),
                (1, Value::Null, "", Some(CallErrorKind::Cancelled)),
                (2, Value::from(20), "two\n", None),
                (3, Value::Null, "", Some(CallErrorKind::Exception)),
            ]
        );
        // The real failure wins over the cancellation before it.
        assert_eq!(
            records.failure().map(|e| e.kind),
            Some(CallErrorKind::Exception)
        );
        let out: Vec<usize> = records.with_output().map(|c| c.index).collect();
        assert_eq!(out, vec![2]);
    }

    #[test]
    fn phases_follow_each_other_and_results_move_out_in_order() {
        let mut map =
            CallRecords::from_records((0..3).map(|i| record("map", i, Value::from(i), "")));
        let reduce = CallRecords::from_records([record("reduce", 0, Value::from(9), "r")]);
        map.append(reduce);
        assert_eq!(map.len(), 4);
        let phases: Vec<(&str, usize)> = map.iter().map(|c| (c.phase, c.index)).collect();
        assert_eq!(
            phases,
            vec![("map", 0), ("map", 1), ("map", 2), ("reduce", 0)]
        );
        assert_eq!(map.get(3).map(|c| c.stdout), Some("r"));
        assert!(map.get(4).is_none());
        assert_eq!(
            map.results().expect("no failure"),
            vec![
                Value::from(0),
                Value::from(1),
                Value::from(2),
                Value::from(9)
            ]
        );
        let taken = map.take_results();
        assert_eq!(taken.len(), 4);
        assert!(map.iter().all(|c| c.result.is_null()));
        assert_eq!(map.len(), 4);
    }
}
