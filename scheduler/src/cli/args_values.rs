//! The arguments of `lithoflow variables` and `lithoflow connections`, Airflow's verbs and
//! flags (`airflow/cli/cli_config.py`, Airflow 2.10.5).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::OutputArg;

/// `lithoflow variables ...`
#[derive(Debug, Subcommand)]
pub enum VariablesCommand {
    /// Set a variable (created, or replaced with its description).
    Set {
        /// The variable's key.
        key: String,
        /// Its value.
        value: String,
        /// Read the value as JSON and store it as Airflow does (`json.dumps(value, indent=2)`).
        #[arg(short, long)]
        json: bool,
        /// A description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Print a variable's value (the environment's `LITHOFLOW_VAR_<KEY>` or
    /// `AIRFLOW_VAR_<KEY>` first). A value whose key looks secret is printed as `***`
    /// unless `--reveal`.
    Get {
        /// The variable's key.
        key: String,
        /// Printed when the variable does not exist (instead of an error).
        #[arg(short, long)]
        default: Option<String>,
        /// Read the value as JSON and print it as JSON.
        #[arg(short, long)]
        json: bool,
        /// Print the value even when its key looks secret (needs the state database:
        /// the API never answers a secret value).
        #[arg(long)]
        reveal: bool,
    },
    /// List the stored variables' keys.
    List {
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Delete a variable.
    Delete {
        /// The variable's key.
        key: String,
    },
    /// Import variables from a JSON file (`{"key": value, ...}`; values that are not
    /// strings are stored as JSON).
    Import {
        /// The file.
        file: PathBuf,
        /// What to do with keys that exist already.
        #[arg(short = 'a', long, value_enum, default_value_t = OnExisting::Overwrite)]
        action_on_existing_key: OnExisting,
    },
    /// Export every stored variable to a JSON file (created 0600: it holds secrets);
    /// values that are JSON are written as JSON.
    Export {
        /// The file.
        file: PathBuf,
    },
}

/// `variables import --action-on-existing-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnExisting {
    /// Replace the stored value.
    Overwrite,
    /// Import nothing if any key exists.
    Fail,
    /// Keep the stored value.
    Skip,
}

/// `lithoflow connections ...`
#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Add a connection, from a URI, from JSON, or from its fields.
    Add(Box<AddConnection>),
    /// Show a connection (the environment's `AIRFLOW_CONN_<ID>` first); the password and
    /// secret-looking extras are shown as `***`.
    Get {
        /// The connection's id.
        conn_id: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// List the stored connections (passwords never shown).
    List {
        /// Only this connection.
        #[arg(long)]
        conn_id: Option<String>,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Delete a connection.
    Delete {
        /// The connection's id.
        conn_id: String,
    },
    /// Import connections from a file (.json: `{"id": URI or object}`; .env: `ID=URI`
    /// or `ID=JSON` lines).
    Import {
        /// The file.
        file: PathBuf,
        /// Replace connections that exist already (default: keep them).
        #[arg(long)]
        overwrite: bool,
    },
    /// Export every stored connection to a file, passwords included as Airflow writes
    /// them (the file is created 0600; nothing secret goes to the terminal).
    Export {
        /// The file (`.json` or `.env`).
        file: PathBuf,
        /// The file's format (default: from its extension).
        #[arg(long, value_enum)]
        file_format: Option<FileFormat>,
        /// For `.env` files: each connection as a URI (default) or as JSON.
        #[arg(long, value_enum)]
        serialization_format: Option<Serialization>,
    },
}

/// `connections export --file-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// `{"id": {...}}`.
    Json,
    /// `ID=URI` lines.
    Env,
}

/// `connections export --serialization-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Serialization {
    /// `get_uri()`.
    Uri,
    /// The connection's JSON.
    Json,
}

/// `connections add`.
#[derive(Debug, Args)]
pub struct AddConnection {
    /// The connection's id.
    pub conn_id: String,
    /// The connection as a URI (`postgres://user:pass@host:5432/db?sslmode=require`).
    #[arg(long, value_name = "URI")]
    pub conn_uri: Option<String>,
    /// The connection as JSON (`{"conn_type": "http", "host": ...}`).
    #[arg(long, value_name = "JSON")]
    pub conn_json: Option<String>,
    /// Its type.
    #[arg(long)]
    pub conn_type: Option<String>,
    /// Its host.
    #[arg(long)]
    pub conn_host: Option<String>,
    /// Its login.
    #[arg(long)]
    pub conn_login: Option<String>,
    /// Its password.
    #[arg(long)]
    pub conn_password: Option<String>,
    /// Its schema.
    #[arg(long)]
    pub conn_schema: Option<String>,
    /// Its port.
    #[arg(long)]
    pub conn_port: Option<String>,
    /// Its extras, a JSON object.
    #[arg(long)]
    pub conn_extra: Option<String>,
    /// A description.
    #[arg(long)]
    pub conn_description: Option<String>,
}
