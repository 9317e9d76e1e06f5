//! Following asynchronous calls: one poller per job phase lists the phase's prefix and
//! tells each call it follows when its `init` object (the function started) and its
//! `status.json` (the runtime's answer) appear. One LIST per round serves every call of
//! the phase.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Inner;
use crate::backend::CloudCall;

/// Status polling interval: right after a change, and at most.
const POLL_MIN: Duration = Duration::from_millis(150);
pub(super) const POLL_MAX: Duration = Duration::from_secs(1);
/// A poller with nothing to follow for this long stops.
const POLL_IDLE: Duration = Duration::from_secs(30);
/// Status objects fetched at once by a poller.
const POLL_FETCHES: usize = 32;

impl Inner {
    /// Starts following a call's status objects.
    pub(super) fn watch(self: &Arc<Self>, call: &CloudCall) -> mpsc::UnboundedReceiver<Seen> {
        let prefix = format!("{}/{}/", call.job.calls_prefix, call.phase);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watch = Watch {
            call_id: call.call_id.clone(),
            tx,
        };
        let mut pollers = self
            .pollers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(poller) = pollers.get(&prefix) {
            match poller.send(watch) {
                Ok(()) => return rx,
                Err(mpsc::error::SendError(w)) => watch = w,
            }
        }
        let (ptx, prx) = mpsc::unbounded_channel();
        let _ = ptx.send(watch);
        pollers.insert(prefix.clone(), ptx);
        tokio::spawn(poll(Arc::clone(self), prefix, prx));
        rx
    }
}

/// What a poller saw of a call.
#[derive(Debug)]
pub(super) enum Seen {
    /// Its `init` object: the function started.
    Started,
    /// Its `status.json`: the runtime's answer.
    Finished(Vec<u8>),
    /// The status object exists but cannot be read.
    Lost(String),
    /// The poller gave up (storage unreachable for too long).
    Closed(String),
}

/// A call a poller follows.
#[derive(Debug)]
pub(super) struct Watch {
    call_id: String,
    tx: mpsc::UnboundedSender<Seen>,
}

/// Follows the calls of one job phase: lists the phase's prefix, tells each call when
/// its `init` and `status.json` appear, and stops when it has followed nothing for a
/// while. One LIST per round serves every call of the phase.
async fn poll(inner: Arc<Inner>, prefix: String, mut rx: mpsc::UnboundedReceiver<Watch>) {
    struct Followed {
        tx: mpsc::UnboundedSender<Seen>,
        started: bool,
    }
    let mut followed: HashMap<String, Followed> = HashMap::new();
    let mut pause = POLL_MIN;
    let mut failures = 0u32;
    loop {
        while let Ok(w) = rx.try_recv() {
            followed.insert(
                w.call_id,
                Followed {
                    tx: w.tx,
                    started: false,
                },
            );
        }
        followed.retain(|_, f| !f.tx.is_closed());
        if followed.is_empty() {
            match tokio::time::timeout(POLL_IDLE, rx.recv()).await {
                Ok(Some(w)) => {
                    followed.insert(
                        w.call_id,
                        Followed {
                            tx: w.tx,
                            started: false,
                        },
                    );
                }
                _ => {
                    // Stop, unless a call registered meanwhile (registration happens
                    // under the same lock, so none is lost).
                    let mut pollers = inner
                        .pollers
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if let Ok(w) = rx.try_recv() {
                        followed.insert(
                            w.call_id,
                            Followed {
                                tx: w.tx,
                                started: false,
                            },
                        );
                        continue;
                    }
                    pollers.remove(&prefix);
                    return;
                }
            }
        }
        let keys = match inner.list(&prefix).await {
            Ok(k) => {
                failures = 0;
                k
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(prefix = %prefix, error = %e, "cannot list call statuses; retrying");
                if failures >= 30 {
                    for (_, f) in followed.drain() {
                        let _ = f.tx.send(Seen::Closed(format!(
                            "the call's status could not be read from S3: {e}"
                        )));
                    }
                }
                tokio::time::sleep(POLL_MAX).await;
                continue;
            }
        };
        let mut changed = false;
        let mut finished = Vec::new();
        for key in keys {
            let Some(rest) = key.strip_prefix(&prefix) else {
                continue;
            };
            let Some((call_id, leaf)) = rest.split_once('/') else {
                continue;
            };
            let Some(f) = followed.get_mut(call_id) else {
                continue;
            };
            match leaf {
                "init" if !f.started => {
                    f.started = true;
                    changed = true;
                    let _ = f.tx.send(Seen::Started);
                }
                "status.json" => finished.push((call_id.to_owned(), key.clone())),
                _ => {}
            }
        }
        let mut fetches = tokio::task::JoinSet::new();
        for (call_id, key) in finished {
            if let Some(f) = followed.remove(&call_id) {
                changed = true;
                let inner = Arc::clone(&inner);
                fetches.spawn(async move {
                    let seen = match inner.get(&key).await {
                        Ok(Some(body)) => Seen::Finished(body),
                        Ok(None) => Seen::Lost(format!("the call's status {key} vanished")),
                        Err(e) => Seen::Lost(format!("the call's status cannot be read: {e}")),
                    };
                    let _ = f.tx.send(seen);
                });
                while fetches.len() >= POLL_FETCHES {
                    let _ = fetches.join_next().await;
                }
            }
        }
        while fetches.join_next().await.is_some() {}
        pause = if changed {
            POLL_MIN
        } else {
            pause.mul_f64(1.5).min(POLL_MAX)
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            w = rx.recv() => if let Some(w) = w {
                followed.insert(w.call_id, Followed { tx: w.tx, started: false });
            },
        }
    }
}
