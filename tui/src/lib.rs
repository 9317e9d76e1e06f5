//! lithoflow's terminal UI: live monitoring and control of DAGs, runs, task instances
//! and map progress.
//!
//! The UI is a client of the scheduler's local API (DESIGN.md §5): it never opens the
//! state database and depends on neither the scheduler nor the executor crate, only on
//! `lithoflow-api`, the API's contract and client, which reads the API's JSON leniently
//! (unknown fields skipped, unknown states read as `Unknown`). It is built the Elm way:
//!
//! - [`app::App`] is plain data (with `now`);
//! - [`update::update`] turns a [`msg::Msg`] into a new `App` and maybe a
//!   [`msg::Command`], purely;
//! - [`ui::render`] draws an `App`, purely;
//! - [`event::run_loop`] is the one loop that waits for keys, scheduler events and
//!   ticks, and runs commands in tasks of their own so the network never blocks it.

pub mod app;
pub mod demo;
pub mod event;
pub mod graph;
pub mod msg;
pub mod ui;
pub mod update;
pub mod widgets;

use std::path::PathBuf;

/// What [`run`] needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The lithoflow home whose `scheduler.json` and `api-token` lead to the scheduler.
    pub home: PathBuf,
    /// Where this process's logs go while the UI owns the terminal (shown in the help).
    pub log_file: Option<PathBuf>,
}

/// Why the UI stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Standard input or output is not a terminal.
    #[error(
        "the terminal UI needs a terminal: standard input and output must both be one (run it in a terminal, not through a pipe or redirect)"
    )]
    NotATerminal,
    /// The terminal could not be set up or read.
    #[error("terminal error: {0}")]
    Terminal(#[source] std::io::Error),
    /// A frame could not be drawn.
    #[error("failed to draw the screen: {0}")]
    Draw(String),
}

/// Restores the terminal when dropped: on return, on error, and when the future
/// running the UI is dropped (`lithoflow scheduler --tui` drops it when the scheduler
/// stops). Panics are covered by the hook `ratatui::try_init` installs.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the UI in the terminal until the user quits.
pub async fn run(opts: Options) -> Result<(), Error> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Error::NotATerminal);
    }
    let mut terminal = ratatui::try_init().map_err(Error::Terminal)?;
    let _restore = Restore;
    let size = terminal.size().map_err(Error::Terminal)?;
    let mut app = app::App::new(
        &opts.home.display().to_string(),
        opts.log_file.as_ref().map(|p| p.display().to_string()),
        chrono::Utc::now(),
    );
    app.size = (size.width, size.height);
    let keys = ratatui::crossterm::event::EventStream::new();
    event::run_loop(&mut terminal, app, opts.home, keys).await?;
    Ok(())
}
