//! Calls of an earlier run of the same job, adopted instead of invoked again.
//!
//! A scheduler killed while a task runs re-runs the task on the same try, so with the
//! same job key and the same calls prefix (`lithoflow.jobs/<job_key>/calls`). Lambda
//! keeps running the invocations of a client that died, and every call writes its `init`
//! object when its function starts and its `status.json` (its whole answer) when it
//! ends, synchronous calls included (as Lithops' runtime does). So when the job starts
//! the backend lists the prefix once, and for each call:
//!
//! - a `status.json` written for the same request: its answer is the call's, and the
//!   call is not invoked again;
//! - an `init` for the same request but no `status.json`: the call is in flight; it is
//!   followed as an asynchronous call until its function's timeout (plus a grace) from
//!   the `init`'s time, and not invoked again;
//! - nothing, or objects written for another request (the DAG changed meanwhile), or an
//!   answer of a call whose function never ran (a reducer whose wait was cut short):
//!   the call is invoked, after the stale objects are deleted.
//!
//! Each object names the SHA-256 of the request it answers (`request` in the answer,
//! the `init` object's body), so a new try (a new job key) or a changed request never
//! takes an old answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{Following, Function, Inner};
use crate::backend::{CloudCall, EarlierCall, WorkItem, WorkResult};
use crate::error::Error;

/// The least time an adopted call is followed, even when its function's timeout passed
/// already: one listing of its phase may still find its answer.
const ADOPT_MIN_WAIT: Duration = Duration::from_secs(3);

/// The digest that binds a call's status objects to its request (hex SHA-256 of the
/// encoded request, before its `aws` section).
pub(super) fn request_digest(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a `status.json` says about whether it can stand for the call's answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stored {
    /// Written for this request by a call whose function ran: the call's answer.
    Answer,
    /// Written for another request, or by a call that ended before its function ran.
    Stale,
}

/// Whether a status object answers `request`.
pub(super) fn stored_answer(body: &[u8], request: &str) -> Stored {
    #[derive(Deserialize)]
    struct Binding {
        #[serde(default)]
        request: Option<String>,
        #[serde(default)]
        unrun: bool,
    }
    match serde_json::from_slice::<Binding>(body) {
        Ok(b) if b.request.as_deref() == Some(request) && !b.unrun => Stored::Answer,
        _ => Stored::Stale,
    }
}

impl Inner {
    /// What an earlier run left under a job's calls prefix, by `<phase>/<call_id>`. A
    /// cancel mark it left (its map phase failed) is deleted: it was meant for that
    /// run's reducers, and would stop this run's.
    pub(super) async fn earlier_calls(
        &self,
        calls_prefix: &str,
    ) -> Result<HashMap<String, EarlierCall>, Error> {
        let prefix = format!("{calls_prefix}/");
        let mut found: HashMap<String, EarlierCall> = HashMap::new();
        for (key, written) in self.list_dated(&prefix).await? {
            let Some(rest) = key.strip_prefix(&prefix) else {
                continue;
            };
            if rest == "cancel" {
                self.delete(&key).await?;
                continue;
            }
            let Some((call, leaf)) = rest.rsplit_once('/') else {
                continue;
            };
            match leaf {
                "init" => found.entry(call.to_owned()).or_default().started = Some(written),
                "status.json" => found.entry(call.to_owned()).or_default().finished = true,
                _ => {}
            }
        }
        if !found.is_empty() {
            tracing::info!(prefix = %calls_prefix, calls = found.len(), "found the calls of an earlier run of this job");
        }
        Ok(found)
    }

    /// Adopts the call if an earlier run of its job finished it or still runs it; gives
    /// the item back when it must be invoked.
    pub(super) async fn adopt(
        self: &Arc<Self>,
        item: WorkItem,
        call: &CloudCall,
        request: &str,
        timeout: Duration,
        function: &Function,
    ) -> Option<WorkItem> {
        let id = format!("{}/{}", call.phase, call.call_id);
        let earlier = (call.phase != super::INSPECT)
            .then(|| call.job.earlier.get(&id))
            .flatten();
        let Some(earlier) = earlier else {
            return Some(item);
        };
        let base = format!("{}/{id}", call.job.calls_prefix);
        let index = item.call_index;
        if earlier.finished {
            match self.get(&format!("{base}/status.json")).await {
                Ok(Some(body)) if stored_answer(&body, request) == Stored::Answer => {
                    tracing::debug!(call = %id, "the call finished in an earlier run: its answer is taken");
                    if let Some(e) = &item.events {
                        e.accepted();
                        e.started();
                    }
                    let result = self.decode_body(index, &body, timeout, function).await;
                    item.reply(result);
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    item.reply(WorkResult::Infrastructure(format!(
                        "cannot read what the call answered before the scheduler restarted: {e}"
                    )));
                    return None;
                }
            }
        } else if let Some(written) = earlier.started {
            match self.get(&format!("{base}/init")).await {
                Ok(Some(body)) if body == request.as_bytes() => {
                    tracing::debug!(call = %id, "the call is in flight from an earlier run: it is followed");
                    let since = written
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .unwrap_or_default();
                    let left = (function.timeout + self.detached_grace)
                        .saturating_sub(since)
                        .max(ADOPT_MIN_WAIT);
                    let seen = self.watch(call);
                    let me = Arc::clone(self);
                    let (call, request, function) =
                        (call.clone(), request.to_owned(), function.clone());
                    tokio::spawn(async move {
                        let following = Following {
                            timeout,
                            function: &function,
                            bound: Some((&call, &request)),
                            adopted: Some(Instant::now() + left),
                        };
                        me.follow(item, seen, std::future::ready(Ok(())), following)
                            .await;
                    });
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    item.reply(WorkResult::Infrastructure(format!(
                        "cannot read whether the call started before the scheduler restarted: {e}"
                    )));
                    return None;
                }
            }
        }
        // Stale objects: gone before the call is invoked, so neither this job's
        // poller nor a reducer waiting remotely reads them as the new answer.
        for leaf in ["status.json", "init", "output.json"] {
            if let Err(e) = self.delete(&format!("{base}/{leaf}")).await {
                tracing::warn!(call = %id, error = %e, "cannot delete a stale status object of an earlier run");
            }
        }
        Some(item)
    }
}
