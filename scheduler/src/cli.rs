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
    /// Check DAG files and report every problem (all of the DAGs folder if no path is given).
    Validate {
        /// DAG files or folders to check.
        paths: Vec<PathBuf>,
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
    /// List a DAG's tasks (ids one per line with `-o plain`).
    List {
        /// The DAG's id.
        dag_id: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
}
