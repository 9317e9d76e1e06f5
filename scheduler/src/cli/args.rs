//! The command line, shaped like Airflow's: `lithoflow dags list`, `lithoflow tasks list`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Airflow-style DAGs in TOML, run with Lithops' serverless task types.
#[derive(Debug, Parser)]
#[command(name = "lithoflow", version, about, propagate_version = true)]
pub struct Cli {
    /// The folder holding the DAG files (*.toml) and their Python modules.
    #[arg(
        long,
        global = true,
        env = "LITHOFLOW_DAGS_FOLDER",
        default_value = "dags",
        value_name = "DIR"
    )]
    pub dags_folder: PathBuf,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output formats of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// A table with borders.
    #[default]
    Table,
    /// JSON (an array of objects for listings).
    Json,
    /// Columns separated by spaces, without borders.
    Plain,
}

/// `-o/--output`.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArg {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with DAGs.
    #[command(subcommand)]
    Dags(DagsCommand),
    /// Work with the tasks of a DAG.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Manage the AWS Lambda runtime functions (one per memory size) that run tasks
    /// with `backend = "aws_lambda"`.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
    /// Run queued DAG runs (and recover runs a stopped scheduler left running) until
    /// stopped with Ctrl-C or SIGTERM.
    Scheduler {
        /// Exit once no run is queued or running and none is due, instead of waiting for
        /// more (for scripts and tests).
        #[arg(long)]
        exit_when_idle: bool,
        /// The local API's port (default: `[api] port` in lithoflow.toml, else 8793; 0
        /// picks a free port, written to `$LITHOFLOW_HOME/scheduler.json`).
        #[arg(long, value_name = "PORT")]
        api_port: Option<u16>,
        /// The address the local API binds (default: `[api] host` in lithoflow.toml, else
        /// 127.0.0.1). Anything but a loopback address needs `--allow-non-loopback`.
        #[arg(long, value_name = "ADDR")]
        api_host: Option<std::net::IpAddr>,
        /// Let `--api-host` (or `[api] host`) be an address other machines can reach; the
        /// API's token then crosses the network in clear text, so a warning is printed.
        #[arg(long)]
        allow_non_loopback: bool,
        /// Seconds running calls get to finish after SIGTERM/SIGINT before they are
        /// stopped (their tasks then run again on the next start).
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        grace_period: u64,
        /// Run the terminal UI in this process too; logs go to
        /// `$LITHOFLOW_HOME/logs/scheduler-tui.log` while it owns the terminal, and
        /// quitting it stops the scheduler.
        #[arg(long, conflicts_with = "exit_when_idle")]
        tui: bool,
    },
    /// Watch and control a running scheduler in the terminal: DAGs, runs as a grid,
    /// task instances with their map progress, logs, the graph; trigger, pause and
    /// clear. Finds the scheduler through `$LITHOFLOW_HOME`; press `?` for the keys.
    Tui,
    /// Convert Airflow DAG files (.py) into lithoflow DAG files (TOML), reporting what
    /// could not be translated (exit 1 unless `--allow-partial`).
    Migrate(lithoflow_migrate::MigrateArgs),
    /// Maintain the state database, as `airflow db`.
    #[command(subcommand)]
    Db(DbCommand),
    /// Manage Airflow variables (`{{ var.value.KEY }}`, `Variable.get`): stored in the
    /// state database, encrypted; the environment's `AIRFLOW_VAR_<KEY>` comes first.
    #[command(subcommand)]
    Variables(super::args_values::VariablesCommand),
    /// Assets (Airflow 2's datasets): those DAGs name, and their events (task outlets
    /// and `POST /api/v1/datasets/events`), which trigger DAGs scheduled on them.
    #[command(subcommand)]
    Assets(super::assets::AssetsCommand),
    /// Manage Airflow connections (`{{ conn.ID.host }}`, `BaseHook.get_connection`):
    /// passwords and extras encrypted at rest; `AIRFLOW_CONN_<ID>` comes first.
    #[command(subcommand)]
    Connections(super::args_values::ConnectionsCommand),
    /// Manage pools (a task's `pool` and `pool_slots`): how many task instances of all
    /// runs and DAGs run at once in each; `default_pool` has 128 slots unless set.
    #[command(subcommand)]
    Pools(super::args_pools::PoolsCommand),
    /// Show the event log of user actions (triggers, clears, pauses, run and task state
    /// changes, variable, connection and pool changes; from the CLI and the API), newest
    /// first. The API serves it as `/api/v1/eventLogs`.
    AuditLog(super::audit::AuditLogArgs),
}

/// `lithoflow db ...`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Remove finished runs that started before a moment, with their task instances,
    /// XCom values, log files and local job storage (like `airflow db clean`). Each DAG's
    /// latest scheduled or backfill run is kept; queued and running runs are never
    /// removed. Goes through the API when a scheduler runs.
    Clean {
        /// The date or timestamp before which runs are removed (by their start). Without
        /// an offset it is read in UTC (Airflow's default `default_timezone`). Examples:
        /// `2026-01-01`, `2026-01-01T00:00:00Z`, '2026-01-01 00:00:00+01:00'.
        #[arg(long, value_name = "TIMESTAMP")]
        clean_before_timestamp: String,
        /// Only this DAG's runs (repeatable, or comma-separated; default: every DAG).
        #[arg(long = "dag-id", value_name = "DAG_ID", value_delimiter = ',')]
        dag_ids: Vec<String>,
        /// Print what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not prompt to confirm (needed when stdin is not a terminal).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
}

impl Cli {
    /// Whether the command runs on one thread (a current-thread async runtime) rather
    /// than on a worker per core: `dags test` and `tasks test`, which run one DAG run or
    /// one task in the foreground. Their work is handing each task from the engine to
    /// the executor and the answer back (and each call of a map to a worker and its
    /// answer back), and on a thread per core each of those hand-offs wakes another
    /// thread (a futex and, on a virtual machine, an interrupt between CPUs): a chain of
    /// 1,000 tasks on 2 cores took 0.53 s and 0.62 s of CPU on worker threads, 0.39 s and
    /// 0.31 s on one. The tasks' own work is not on this thread: Python calls run in
    /// the worker processes and blocking work on the blocking pool.
    pub fn one_thread(&self) -> bool {
        matches!(
            self.command,
            Command::Dags(DagsCommand::Test { .. }) | Command::Tasks(TasksCommand::Test { .. })
        )
    }

    /// The `MIMALLOC_PURGE_DELAY` (milliseconds) this command runs with, when it sets one
    /// (`main.rs` re-executes itself with it): the daemon gives freed pages back at once,
    /// the commands that run tasks in the foreground after 2 ms.
    pub fn purge_delay_ms(&self) -> Option<&'static str> {
        match self.command {
            Command::Scheduler { .. } => Some("0"),
            Command::Dags(DagsCommand::Test { .. }) | Command::Tasks(TasksCommand::Test { .. }) => {
                Some("2")
            }
            _ => None,
        }
    }

    /// The file this process logs to instead of stderr, when the terminal UI owns the
    /// terminal (`lithoflow tui`, `lithoflow scheduler --tui`).
    pub fn tui_log_file(&self, home: &std::path::Path) -> Option<PathBuf> {
        match self.command {
            Command::Tui => Some(home.join("logs").join("tui.log")),
            Command::Scheduler { tui: true, .. } => {
                Some(home.join("logs").join("scheduler-tui.log"))
            }
            _ => None,
        }
    }
}

/// `lithoflow dags ...`
#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// List the DAGs in the DAGs folder; files that fail to load are reported on stderr.
    List {
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Show a DAG: its settings, its tasks with their effective parameters, its edges.
    Show {
        /// The DAG's id.
        dag_id: String,
        /// Print the task graph as Graphviz DOT source.
        #[arg(long, conflicts_with = "output")]
        dot: bool,
        /// Output format (table is a readable summary).
        #[arg(short, long, value_enum)]
        output: Option<OutputFormat>,
    },
    /// Run one DAG run in the foreground (like `airflow dags test`), record it, and print
    /// each task's state, tries, duration and return value. Exit 1 if the run failed.
    Test {
        /// The DAG's id.
        dag_id: String,
        /// The run's logical date (RFC 3339 or YYYY-MM-DD; default: now).
        logical_date: Option<String>,
        /// The run's conf, a JSON object (overrides `params`).
        #[arg(short, long, value_name = "JSON")]
        conf: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Record a queued run of a DAG; `lithoflow scheduler` runs it.
    Trigger {
        /// The DAG's id.
        dag_id: String,
        /// The run's conf, a JSON object (overrides `params`).
        #[arg(short, long, value_name = "JSON")]
        conf: Option<String>,
        /// The run's id (default `manual__<now>`).
        #[arg(short = 'r', long)]
        run_id: Option<String>,
        /// The run's logical date (default: now).
        #[arg(short = 'l', long)]
        logical_date: Option<String>,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// List a DAG's runs, newest first.
    ListRuns {
        /// The DAG's id.
        dag_id: String,
        /// Only runs in this state (queued, running, success, failed).
        #[arg(long)]
        state: Option<String>,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Check DAG files and report every problem (all of the DAGs folder if no path is given).
    Validate {
        /// DAG files or folders to check.
        paths: Vec<PathBuf>,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Stop creating runs of a DAG (queued runs wait; running runs finish).
    Pause {
        /// The DAG's id.
        dag_id: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Let the scheduler create runs of a DAG again.
    Unpause {
        /// The DAG's id.
        dag_id: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// The next runs the scheduler would create for a DAG that had no runs yet.
    NextExecution {
        /// The DAG's id.
        dag_id: String,
        /// How many runs to show.
        #[arg(short = 'n', long, default_value_t = 1)]
        num_executions: usize,
        /// The clock to compute from (RFC 3339; default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// Output format (`plain` prints one logical date per line, like Airflow).
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Plain)]
        output: OutputFormat,
    },
    /// Create runs for every schedule tick between two dates (both inclusive), like
    /// Airflow 3's `backfill create`; without a running scheduler they run here.
    Backfill {
        /// The DAG's id.
        dag_id: String,
        /// The first logical date (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from_date: String,
        /// The last logical date (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        to_date: String,
        /// What to do with dates that already have a run.
        #[arg(long, value_enum, default_value_t = ReprocessBehavior::None)]
        reprocess_behavior: ReprocessBehavior,
        /// Backfill runs running at once.
        #[arg(long, value_name = "N", default_value_t = 10)]
        max_active_runs: u32,
        /// Create the runs newest first.
        #[arg(long)]
        run_backwards: bool,
        /// Print the logical dates that would be run, and do nothing.
        #[arg(long)]
        dry_run: bool,
        /// The runs' conf, a JSON object (overrides `params`).
        #[arg(short, long, value_name = "JSON")]
        conf: Option<String>,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// List the DAG files that failed to load, with their errors.
    ListImportErrors {
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
}

/// What a backfill does with logical dates that already have a run (Airflow 3). The
/// option's values; the request carries [`lithoflow_api::ReprocessBehavior`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReprocessBehavior {
    /// Keep every existing run.
    #[default]
    None,
    /// Clear and re-run failed runs.
    Failed,
    /// Clear and re-run failed and successful runs.
    Completed,
}

impl From<ReprocessBehavior> for lithoflow_api::ReprocessBehavior {
    fn from(r: ReprocessBehavior) -> lithoflow_api::ReprocessBehavior {
        match r {
            ReprocessBehavior::None => lithoflow_api::ReprocessBehavior::None,
            ReprocessBehavior::Failed => lithoflow_api::ReprocessBehavior::Failed,
            ReprocessBehavior::Completed => lithoflow_api::ReprocessBehavior::Completed,
        }
    }
}

/// `lithoflow tasks ...`
#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Run one task with the executor, without recording state or checking dependencies
    /// (like `airflow tasks test`), and print its return value.
    Test {
        /// The DAG's id.
        dag_id: String,
        /// The task's id.
        task_id: String,
        /// An upstream task's return value, for `data_from_task` and `iterdata_from_task`
        /// (repeatable): `--xcom add_task_1=4`.
        #[arg(long = "xcom", value_name = "TASK_ID=JSON")]
        xcom: Vec<String>,
        /// Output format: `json` prints one object {task_id, state, return_value, error}.
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Plain)]
        output: OutputFormat,
    },
    /// The states of every task instance of a run.
    StatesForDagRun {
        /// The DAG's id.
        dag_id: String,
        /// The run's id.
        run_id: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// A run's XCom entries (every key and map index a task pushed, with its value).
    Xcom {
        /// The DAG's id.
        dag_id: String,
        /// The run's id.
        run_id: String,
        /// Only this task (default: every task of the run).
        task_id: Option<String>,
        /// Only this key (`return_value`, or a key the task pushed).
        #[arg(short = 'k', long)]
        key: Option<String>,
        /// Only this map index (-1: not mapped; a map call's index).
        #[arg(long, allow_hyphen_values = true)]
        map_index: Option<i32>,
        /// Output format (`json` keeps each value whole).
        #[command(flatten)]
        output: OutputArg,
    },
    /// The state of one task instance, as one word.
    State {
        /// The DAG's id.
        dag_id: String,
        /// The task's id.
        task_id: String,
        /// The run's id.
        run_id: String,
        /// A mapped task's instance (default -1: an unmapped task).
        #[arg(long, allow_hyphen_values = true, default_value_t = -1)]
        map_index: i32,
    },
    /// Print a task instance's log (the latest try unless `--try`).
    Logs {
        /// The DAG's id.
        dag_id: String,
        /// The task's id.
        task_id: String,
        /// The run's id.
        run_id: String,
        /// The try to show.
        #[arg(long = "try", value_name = "N")]
        try_number: Option<u32>,
        /// A mapped task's instance (default -1: an unmapped task).
        #[arg(long, allow_hyphen_values = true, default_value_t = -1)]
        map_index: i32,
        /// Follow a running try's log as it grows (through the scheduler's API) until the
        /// try ends; the exit status is then the try's outcome.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Clear task instances so they run again (their runs go back to queued).
    Clear {
        /// The DAG's id.
        dag_id: String,
        /// Only tasks whose id matches this regular expression.
        #[arg(short = 't', long)]
        task_regex: Option<String>,
        /// Also clear the matched tasks' upstream tasks.
        #[arg(short = 'u', long)]
        upstream: bool,
        /// Also clear the matched tasks' downstream tasks.
        #[arg(short = 'd', long)]
        downstream: bool,
        /// Only failed (and upstream_failed) task instances.
        #[arg(short = 'f', long)]
        only_failed: bool,
        /// Only this run (default: every run of the DAG).
        #[arg(long)]
        run_id: Option<String>,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// List a DAG's tasks (ids one per line with `-o plain`).
    List {
        /// The DAG's id.
        dag_id: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
}

/// `lithoflow runtime ...`
#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Create or update the Lambda runtime function for a memory size from this build's
    /// embedded runtime, and wait until it is active. Settings come from `[aws]` and
    /// `[aws_lambda]` in $LITHOFLOW_HOME/lithoflow.toml (`execution_role` is required) and
    /// the standard AWS environment.
    Deploy {
        /// The function's memory, MB (default: `[aws_lambda] runtime_memory`, else 256).
        #[arg(long, value_name = "MB")]
        memory: Option<u64>,
        /// The function's timeout, seconds (default: `[aws_lambda] runtime_timeout`,
        /// else 180).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// List the deployed runtime functions, of every lithoflow version.
    List {
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Delete this version's runtime function for a memory size (default:
    /// `runtime_memory`), or every lithoflow runtime function with `--all`.
    Delete {
        /// The memory size whose function to delete, MB.
        #[arg(long, value_name = "MB", conflicts_with = "all")]
        memory: Option<u64>,
        /// Delete every lithoflow runtime function (all versions and memory sizes).
        #[arg(long)]
        all: bool,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
}
