//! The contract of lithoflow's local API (`docs/api.md`), written once: the JSON bodies
//! the scheduler's server sends and reads ([`DagRun`], [`TaskInstance`], ... and their
//! states, [`TaskState`] and [`RunState`]), the event stream's events ([`ApiEvent`]),
//! how a client finds a running scheduler from its home ([`SchedulerInfo`], the token
//! file), and the one HTTP/SSE [`Client`] the CLI and the terminal UI both use.
//!
//! The server lives in `lithoflow-scheduler` and converts its records into these types
//! at the boundary, so the state database's format is not the wire format: a record may
//! change without changing what clients read, and the other way round. This crate
//! depends on neither the scheduler, the DAG format nor the executor, so a client (the
//! TUI) can depend on it alone.
//!
//! Reading is lenient, so a client keeps working against a newer scheduler: unknown
//! fields are skipped, most fields may be missing, and unknown states read as
//! `Unknown` (a variant the server never sends). Requests the server reads refuse
//! unknown fields where a silently ignored field could do harm (`DagPatch`,
//! `ClearBody`, `BackfillBody`).

mod assets;
mod client;
mod discovery;
mod event;
mod pools;
mod runs;
mod sse;
mod state;
mod task_instances;
mod time;
mod types;
mod values;

use std::time::Duration;

pub use assets::{
    BasicDagRun, CreateDatasetEvent, DagScheduleDatasetReference, Dataset, DatasetCollection,
    DatasetEvent, DatasetEventCollection, EventFilter, QueuedEvent, QueuedEventCollection,
    TaskOutletDatasetReference,
};
pub use client::{Client, ClientError, found, segment};
pub use discovery::{DiscoveryError, SchedulerInfo, read_token, token_path};
pub use event::ApiEvent;
pub use pools::{
    Pool, PoolBody, PoolCollection, TaskFailedDependency, TaskInstanceDependencyCollection,
};
pub use runs::{DagDetail, DagRunsBatchBody, NoteBody, RunClearBody, RunStateBody};
pub use sse::{EventStream, SseMessage, reconnect_delay};
pub use state::{ReprocessBehavior, RunState, TaskState};
pub use time::iso_string;
pub use types::*;
pub use values::{
    Connection, ConnectionCollection, ConnectionCollectionItem, EventLog, EventLogCollection,
    Variable, VariableCollection, VariableCollectionItem,
};

/// `limit` above this is lowered to it, as Airflow's `maximum_page_limit`; the client
/// pages with it.
pub const MAX_LIMIT: usize = 1000;

/// The header carrying the offset to ask a log from next.
pub const LOG_OFFSET_HEADER: &str = "x-log-offset";

/// A log answer carries at most this many bytes; ask again from [`LOG_OFFSET_HEADER`].
pub const LOG_CHUNK: u64 = 4 << 20;

/// How many runs a DAG's `recent_runs` shows unless `recent_runs=N` asks for more.
pub const RECENT_RUNS: usize = 5;

/// The most runs `recent_runs=N` may ask for.
pub const MAX_RECENT_RUNS: usize = 50;

/// The server sends an SSE comment this often, so clients (and proxies) see the event
/// stream alive while nothing happens.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// An event stream silent for this long (three missed keep-alives) is taken as lost:
/// the scheduler hung or the connection died without a word.
pub const STREAM_SILENCE: Duration = Duration::from_secs(45);

/// How long the server waits for the scheduler loop to apply a change (trigger, pause,
/// clear, backfill) before it answers 503.
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the client waits for one whole answer (the event stream has no limit, only
/// [`STREAM_SILENCE`]). Twice [`CHANGE_TIMEOUT`], so a scheduler loop that is slow to
/// apply a change is reported by the server's own 503, which says why, rather than by
/// a client that gave up first. Reads go straight to the store and answer in
/// milliseconds; a client waiting in the TUI never blocks the UI (every request runs
/// in a task of its own), so the CLI and the TUI share this one limit.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long connecting to `127.0.0.1` may take: on loopback a connection is made or
/// refused at once, so this only bounds a listener whose backlog is full.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
