//! The arguments of `lithoflow pools`, Airflow's verbs and arguments
//! (`airflow/cli/cli_config.py`, Airflow 2.10.5: `pools set NAME SLOTS DESCRIPTION
//! [--include-deferred]`, `get`, `list`, `delete`, `import`, `export`).

use std::path::PathBuf;

use clap::Subcommand;

use super::OutputArg;

/// `lithoflow pools ...`
#[derive(Debug, Subcommand)]
pub enum PoolsCommand {
    /// Create a pool, or set an existing one's slots, description and
    /// `include_deferred` (a running scheduler applies the new size at once).
    Set {
        /// The pool's name.
        name: String,
        /// How many slots it has (-1: unlimited).
        #[arg(allow_negative_numbers = true)]
        slots: i64,
        /// Its description.
        description: String,
        /// Deferred task instances take slots too.
        #[arg(long)]
        include_deferred: bool,
        /// Output format (accepted as Airflow's; `set` prints one line).
        #[command(flatten)]
        output: OutputArg,
    },
    /// Show one pool.
    Get {
        /// The pool's name.
        name: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// List the pools.
    List {
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Delete a pool (`default_pool` cannot be deleted).
    Delete {
        /// The pool's name.
        name: String,
        /// Output format (accepted as Airflow's; `delete` prints one line).
        #[command(flatten)]
        output: OutputArg,
    },
    /// Create or update pools from a JSON file, Airflow's format:
    /// `{"name": {"slots": 1, "description": "", "include_deferred": false}}`.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Export every pool to a JSON file, Airflow's format.
    Export {
        /// The file.
        file: PathBuf,
    },
}
