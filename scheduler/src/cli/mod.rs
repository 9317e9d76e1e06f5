//! The command line: its clap definitions (module `args`, re-exported here) and what each
//! command does, one file per command group. Output goes to stdout through a writer;
//! problems with DAG files go to stderr in the compiler convention.

mod args;
mod args_pools;
mod args_values;
mod assets;
pub(crate) mod audit;
mod connections;
mod dags;
pub(crate) mod dagtest;
mod db;
pub(crate) mod output;
pub(crate) mod pools;
pub(crate) mod runs;
mod runtime;
mod tasktest;
mod variables;
mod warm;
mod xcom;

pub use args::*;
pub use args_pools::*;
pub use args_values::*;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::output::render;
use crate::dagbag::DagBag;
use dags::{add_aws_warnings, dags_list, dags_show, dags_validate, tasks_list, write_diagnostics};
use lithoflow_dag::Dag;

pub(crate) async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let tui_log = cli.tui_log_file(&crate::config::Settings::home_from_env());
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let stderr = io::stderr();
    let mut err = stderr.lock();
    match cli.command {
        Command::Dags(cmd) => match cmd {
            DagsCommand::List { output } => {
                let bag = load(&cli.dags_folder)?;
                let home = crate::config::Settings::home_from_env();
                let paused = crate::cli::runs::paused_states(&home, &bag.dags(), &mut err).await?;
                dags_list(&bag, &paused, output.output, &mut out, &mut err)
            }
            DagsCommand::Show {
                dag_id,
                dot,
                output,
            } => dags_show(
                &load(&cli.dags_folder)?,
                &dag_id,
                dot,
                output,
                &mut out,
                &mut err,
            ),
            DagsCommand::Validate { paths, output } => {
                // A broken config lists no include paths here (the strict default); the
                // commands that run tasks report it.
                let settings = home_settings().ok();
                let options = settings.as_ref().map_or_else(
                    || lithoflow_dag::LoadOptions {
                        dags_folder: Some(cli.dags_folder.clone()),
                        include_paths: Vec::new(),
                    },
                    |s| s.load_options(&cli.dags_folder),
                );
                let pool = settings
                    .as_ref()
                    .and_then(|s| python_pool(s, &cli.dags_folder));
                let bag = if paths.is_empty() {
                    load_with(&cli.dags_folder, &options, pool.as_ref())?
                } else {
                    for p in &paths {
                        if !p.exists() {
                            bail!("{} does not exist", p.display());
                        }
                    }
                    DagBag::load_paths_py(&paths, &options, pool.as_ref())
                        .context("failed to read the DAG files")?
                };
                let mut bag = bag;
                // The home config is the layer under every DAG's settings; a broken one
                // is reported by the commands that run tasks, not here.
                let home = crate::config::Settings::load(&crate::config::Settings::home_from_env())
                    .map(|s| s.executor)
                    .unwrap_or_default();
                add_aws_warnings(&mut bag, &home);
                dags_validate(&bag, output.output, &mut out)
            }
            DagsCommand::Test {
                dag_id,
                logical_date,
                conf,
                output,
            } => {
                let settings =
                    crate::config::Settings::load(&crate::config::Settings::home_from_env());
                let warm = settings
                    .as_ref()
                    .ok()
                    .and_then(|s| warm::WarmExecutor::start(s, false));
                let Some(dag) = load_dag(&cli.dags_folder, &dag_id, &mut err)? else {
                    return Ok(Outcome::Invalid);
                };
                let settings = settings?;
                drop(out);
                drop(err);
                crate::cli::dagtest::run(
                    dag,
                    logical_date.as_deref(),
                    conf.as_deref(),
                    output,
                    &settings,
                    warm,
                )
                .await
            }
            DagsCommand::Trigger {
                dag_id,
                conf,
                run_id,
                logical_date,
                output,
            } => {
                let Some(target) = target(&cli.dags_folder, &dag_id, &mut err).await? else {
                    return Ok(Outcome::Invalid);
                };
                crate::cli::runs::trigger(
                    target,
                    conf.as_deref(),
                    run_id,
                    logical_date.as_deref(),
                    output.output,
                )
                .await
            }
            DagsCommand::ListRuns {
                dag_id,
                state,
                output,
            } => {
                crate::cli::runs::list_runs(
                    &dag_id,
                    &home_settings()?,
                    state.as_deref(),
                    output.output,
                )
                .await
            }
            DagsCommand::Pause { dag_id, output } => {
                pause_cmd(&cli.dags_folder, &dag_id, true, output.output, &mut err).await
            }
            DagsCommand::Unpause { dag_id, output } => {
                pause_cmd(&cli.dags_folder, &dag_id, false, output.output, &mut err).await
            }
            DagsCommand::NextExecution {
                dag_id,
                num_executions,
                now,
                output,
            } => {
                let Some(dag) = load_dag(&cli.dags_folder, &dag_id, &mut err)? else {
                    return Ok(Outcome::Invalid);
                };
                let now = match now {
                    Some(t) => crate::cli::dagtest::parse_date(&t)?,
                    None => chrono::Utc::now(),
                };
                crate::cli::runs::next_execution(
                    &dag,
                    &home_settings()?,
                    num_executions,
                    now,
                    output,
                )
                .await
            }
            DagsCommand::Backfill {
                dag_id,
                from_date,
                to_date,
                reprocess_behavior,
                max_active_runs,
                run_backwards,
                dry_run,
                conf,
                output,
            } => {
                let Some(dag) = load_dag(&cli.dags_folder, &dag_id, &mut err)? else {
                    return Ok(Outcome::Invalid);
                };
                let spec = lithoflow_api::BackfillBody {
                    dag_id: dag.dag_id.clone(),
                    from_date: crate::cli::dagtest::parse_date(&from_date)?,
                    to_date: crate::cli::dagtest::parse_date(&to_date)?,
                    reprocess_behavior: reprocess_behavior.into(),
                    max_active_runs,
                    run_backwards,
                    dry_run,
                    dag_run_conf: crate::cli::dagtest::parse_conf(conf.as_deref())?,
                };
                let dag = dag.clone();
                let settings = home_settings()?;
                drop(out);
                drop(err);
                crate::cli::runs::backfill(dag, &settings, spec, output.output).await
            }
            DagsCommand::ListImportErrors { output } => {
                let bag = load(&cli.dags_folder)?;
                let rows: Vec<Map<String, Value>> = bag
                    .import_errors()
                    .into_iter()
                    .map(|e| object(json!({"filepath": e.filepath, "error": e.error})))
                    .collect();
                out.write_all(render(&rows, &["filepath", "error"], output.output).as_bytes())?;
                Ok(Outcome::Ok)
            }
        },
        Command::Tasks(TasksCommand::Test {
            dag_id,
            task_id,
            xcom,
            output,
        }) => {
            let settings = crate::config::Settings::load(&crate::config::Settings::home_from_env());
            let warm = settings
                .as_ref()
                .ok()
                .and_then(|s| warm::WarmExecutor::start(s, true));
            let Some(dag) = load_dag(&cli.dags_folder, &dag_id, &mut err)? else {
                return Ok(Outcome::Invalid);
            };
            let settings = settings?;
            drop(out);
            drop(err);
            crate::cli::tasktest::run(dag, &task_id, &xcom, output, &settings, warm).await
        }
        Command::Tasks(TasksCommand::StatesForDagRun {
            dag_id,
            run_id,
            output,
        }) => {
            crate::cli::runs::states_for_dag_run(&dag_id, &run_id, &home_settings()?, output.output)
                .await
        }
        Command::Tasks(TasksCommand::Xcom {
            dag_id,
            run_id,
            task_id,
            key,
            map_index,
            output,
        }) => {
            let q = crate::cli::xcom::XComQuery {
                dag_id: &dag_id,
                run_id: &run_id,
                task_id: task_id.as_deref(),
                key: key.as_deref(),
                map_index,
            };
            crate::cli::xcom::list(&q, &home_settings()?, output.output).await
        }
        Command::Tasks(TasksCommand::State {
            dag_id,
            task_id,
            run_id,
            map_index,
        }) => {
            crate::cli::runs::state(&dag_id, (&task_id, map_index), &run_id, &home_settings()?)
                .await
        }
        Command::Tasks(TasksCommand::Logs {
            dag_id,
            task_id,
            run_id,
            try_number,
            map_index,
            follow,
        }) => {
            let settings = home_settings()?;
            crate::cli::runs::logs(
                &dag_id,
                (&task_id, map_index),
                &run_id,
                try_number,
                follow,
                &settings,
            )
            .await
        }
        Command::Tasks(TasksCommand::Clear {
            dag_id,
            task_regex,
            upstream,
            downstream,
            only_failed,
            run_id,
            yes,
        }) => {
            let Some(target) = target(&cli.dags_folder, &dag_id, &mut err).await? else {
                return Ok(Outcome::Invalid);
            };
            drop(out);
            let spec = crate::ops::ClearSpec {
                task_regex,
                task_ids: None,
                upstream,
                downstream,
                only_failed,
                run_id,
                dry_run: false,
                ..crate::ops::ClearSpec::default()
            };
            crate::cli::runs::clear(target, spec, yes).await
        }
        Command::Scheduler {
            exit_when_idle,
            api_port,
            api_host,
            allow_non_loopback,
            grace_period,
            tui,
        } => {
            let settings = home_settings()?;
            drop(out);
            drop(err);
            let opts = crate::daemon::Options {
                dags_folder: cli.dags_folder.clone(),
                exit_when_idle,
                api_port,
                api_host,
                allow_non_loopback,
                grace_period: std::time::Duration::from_secs(grace_period),
            };
            match tui_log.filter(|_| tui) {
                Some(log) => scheduler_with_tui(settings, opts, log).await,
                None => crate::daemon::run(settings, opts).await,
            }
        }
        Command::Tui => {
            drop(out);
            drop(err);
            lithoflow_tui::run(lithoflow_tui::Options {
                home: crate::config::Settings::home_from_env(),
                log_file: tui_log,
            })
            .await
            .context("the terminal UI failed")?;
            Ok(Outcome::Ok)
        }
        Command::Db(cmd) => db::run(cmd, &home_settings()?).await,
        Command::Variables(cmd) => variables::run(cmd, &home_settings()?).await,
        Command::Assets(cmd) => assets::run(cmd, &home_settings()?).await,
        Command::Connections(cmd) => connections::run(cmd, &home_settings()?).await,
        Command::Pools(cmd) => pools::run(cmd, &home_settings()?).await,
        Command::AuditLog(args) => audit::run(args, &home_settings()?).await,
        Command::Migrate(args) => {
            // Each DAG file runs on the Python loader, as Airflow imports it; a file it
            // cannot import (and every file with `--static` or `load_python = false`)
            // is read statically.
            let home = crate::config::Settings::home_from_env();
            let load_python = home_settings().map_or(true, |s| s.load_python);
            let describe = |files: &[PathBuf], folder: Option<&Path>, version: Option<u8>| {
                let answers = match (version, home_settings()) {
                    // `--airflow-version` in place of `[airflow] default_version`.
                    (Some(v), Ok(settings)) => {
                        let settings = crate::config::Settings {
                            airflow_default_version: v,
                            ..settings
                        };
                        let dir = folder.or_else(|| files.first().and_then(|f| f.parent()));
                        let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                        let lookup = crate::pydag::cli_lookup(&settings);
                        let pool = crate::pydag::pool_for(&settings, &dir, lookup);
                        let load = |f: &PathBuf| {
                            pool.load(&std::path::absolute(f).unwrap_or_else(|_| f.clone()))
                                .map_err(anyhow::Error::from)
                        };
                        Ok(files.iter().map(load).collect())
                    }
                    _ => crate::pydag::describe_files(&home, files, folder),
                };
                match answers {
                    Ok(answers) => answers
                        .into_iter()
                        .map(|a: anyhow::Result<serde_json::Value>| a.map_err(|e| format!("{e:#}")))
                        .collect(),
                    Err(e) => files.iter().map(|_| Err(format!("{e:#}"))).collect(),
                }
            };
            let describe: Option<lithoflow_migrate::DescribeFn<'_>> =
                load_python.then_some(&describe);
            lithoflow_migrate::run_loading(&args, describe, &mut out, &mut err)
                .map(|o| Outcome::from(&o))
        }
        Command::Runtime(cmd) => {
            let settings = home_settings()?;
            drop(out);
            crate::cli::runtime::run(cmd, &settings, &mut err).await
        }
        Command::Tasks(TasksCommand::List { dag_id, output }) => {
            let Some(dag) = load_dag(&cli.dags_folder, &dag_id, &mut err)? else {
                return Ok(Outcome::Invalid);
            };
            tasks_list(&dag, output.output, &mut out)
        }
    }
}

/// `lithoflow scheduler --tui`: the scheduler and the terminal UI in one process. The
/// UI owns the terminal, so stderr (where the scheduler writes its lines) goes to the
/// log file meanwhile. Quitting the UI stops the scheduler as SIGTERM always does
/// (running calls get the grace period); a scheduler that stops first closes the UI.
async fn scheduler_with_tui(
    settings: crate::config::Settings,
    opts: crate::daemon::Options,
    log: PathBuf,
) -> anyhow::Result<Outcome> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    // From here on SIGTERM is tokio's to handle, never the default (instant death),
    // even before the scheduler loop listens for it.
    let _sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("failed to listen for SIGTERM")?;
    let home = settings.home.clone();
    let grace = opts.grace_period;
    let redirect = StderrRedirect::to(&log)?;
    let mut daemon = tokio::spawn(crate::daemon::run(settings, opts));
    let first = {
        let ui = lithoflow_tui::run(lithoflow_tui::Options {
            home,
            log_file: Some(log.clone()),
        });
        tokio::pin!(ui);
        tokio::select! {
            r = &mut ui => Ok(r),
            d = &mut daemon => Err(d),
        }
        // The UI is dropped here, which gives the terminal back.
    };
    drop(redirect);
    let mut err = io::stderr();
    let (ui, ended) = match first {
        Err(daemon_ended) => (Ok(()), daemon_ended),
        Ok(ui) => {
            writeln!(
                err,
                "[scheduler] the terminal UI closed: stopping the scheduler (running calls get up to {}s; its log: {})",
                grace.as_secs(),
                log.display()
            )?;
            // Again every half second until it stops: the scheduler listens for SIGTERM
            // only once its loop runs.
            let ended = loop {
                let _ = kill(Pid::this(), Signal::SIGTERM);
                tokio::select! {
                    d = &mut daemon => break d,
                    () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                }
            };
            (ui, ended)
        }
    };
    let outcome = ended.context("the scheduler task failed")??;
    ui.context("the terminal UI failed")?;
    Ok(outcome)
}

/// Points stderr (fd 2) at a file until dropped, then back where it was.
struct StderrRedirect {
    saved: Option<std::os::fd::OwnedFd>,
}

impl StderrRedirect {
    fn to(path: &Path) -> anyhow::Result<StderrRedirect> {
        let file = crate::logging::open_log(path)
            .with_context(|| format!("failed to open the log file {}", path.display()))?;
        let saved = nix::unistd::dup(io::stderr()).context("failed to duplicate stderr")?;
        nix::unistd::dup2_stderr(&file).context("failed to redirect stderr")?;
        Ok(StderrRedirect { saved: Some(saved) })
    }
}

impl Drop for StderrRedirect {
    fn drop(&mut self) {
        if let Some(fd) = self.saved.take() {
            let _ = nix::unistd::dup2_stderr(&fd);
        }
    }
}

async fn pause_cmd(
    folder: &Path,
    dag_id: &str,
    paused: bool,
    format: OutputFormat,
    err: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let Some(target) = target(folder, dag_id, err).await? else {
        return Ok(Outcome::Invalid);
    };
    crate::cli::runs::set_paused(target, paused, format).await
}

/// The state (store or a running scheduler's API) and, for direct store access, the
/// DAG (None: not found, reported on `err`).
async fn target(
    folder: &Path,
    dag_id: &str,
    err: &mut impl Write,
) -> anyhow::Result<Option<crate::cli::runs::Target>> {
    let access = crate::cli::runs::StateAccess::connect(&home_settings()?).await?;
    let dag = match access {
        crate::cli::runs::StateAccess::Api(_) => None,
        crate::cli::runs::StateAccess::Store(_) => match load_dag(folder, dag_id, err)? {
            Some(d) => Some(d),
            None => return Ok(None),
        },
    };
    Ok(Some(crate::cli::runs::Target {
        access,
        dag_id: dag_id.to_owned(),
        dag,
    }))
}

fn home_settings() -> anyhow::Result<crate::config::Settings> {
    crate::config::Settings::load(&crate::config::Settings::home_from_env())
}

fn load(folder: &Path) -> anyhow::Result<DagBag> {
    // `[dags] include_paths` of the home's config widens what DAG files may include; a
    // broken config is an error here rather than a silently narrower DAGs folder.
    let settings = home_settings()?;
    let pool = python_pool(&settings, folder);
    load_with(folder, &settings.load_options(folder), pool.as_ref())
}

/// The loader pool for `.py` DAG files, unless `[dags] load_python = false`. Its
/// processes start only when a `.py` DAG file is found.
fn python_pool(
    settings: &crate::config::Settings,
    folder: &Path,
) -> Option<crate::pydag::LoaderPool> {
    settings
        .load_python
        .then(|| crate::pydag::pool_for(settings, folder, crate::pydag::cli_lookup(settings)))
}

fn load_with(
    folder: &Path,
    options: &lithoflow_dag::LoadOptions,
    pool: Option<&crate::pydag::LoaderPool>,
) -> anyhow::Result<DagBag> {
    if !folder.is_dir() {
        bail!(
            "the DAGs folder {} does not exist or is not a folder; pass --dags-folder DIR or set LITHOFLOW_DAGS_FOLDER",
            folder.display()
        );
    }
    DagBag::load_folder_py(folder, options, pool)
        .with_context(|| format!("failed to read the DAGs folder {}", folder.display()))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Loads the DAGs folder and takes one DAG out of it; when it is missing, says why
/// ([`find_dag`]) and gives `None`.
fn load_dag(folder: &Path, dag_id: &str, err: &mut dyn Write) -> anyhow::Result<Option<Dag>> {
    let mut bag = load(folder)?;
    if find_dag(&bag, dag_id, folder, err)?.is_none() {
        return Ok(None);
    }
    Ok(bag.take_dag(dag_id))
}

/// Looks a DAG up; when it is missing, says why (a broken file, or no such id).
fn find_dag<'b>(
    bag: &'b DagBag,
    dag_id: &str,
    folder: &Path,
    err: &mut dyn Write,
) -> io::Result<Option<&'b Dag>> {
    if let Some(dag) = bag.dag(dag_id) {
        return Ok(Some(dag));
    }
    if let Some(broken) = bag.broken_file_for(dag_id) {
        writeln!(
            err,
            "error: DAG `{dag_id}` cannot be loaded: {} has errors",
            broken.path.display()
        )?;
        write_diagnostics(broken, err)?;
    } else {
        let ids: Vec<&str> = bag.dags().iter().map(|d| d.dag_id.as_str()).collect();
        let hint = lithoflow_dag::suggest_id(dag_id, &ids)
            .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
        writeln!(
            err,
            "error: DAG `{dag_id}` not found in {}{hint}",
            folder.display()
        )?;
    }
    Ok(None)
}
