//! Local workers started before the DAG folder is parsed, for the commands that run
//! tasks in the foreground (`dags test`, `tasks test`): a Python interpreter takes tens
//! of milliseconds to start, about what parsing a folder of DAG files takes, so the two
//! overlap instead of following each other.

use std::collections::HashMap;

use lithoflow_dag::{Dag, Task, TaskKind};
use lithoflow_executor::{ExecutorConfig, ExecutorSettings, FunctionExecutor};

use crate::config::Settings;

/// An executor started with the home's settings, before it is known which settings the
/// DAG's and the task's `lithops_config` make.
pub(crate) struct WarmExecutor {
    cfg: ExecutorConfig,
    executor: FunctionExecutor,
}

impl WarmExecutor {
    /// Starts the home's executor (its first worker starts in the background, and with
    /// `all` the others too: `tasks test`, whose one task is as likely a map as not);
    /// `None` when the home cannot be made ready, which the command then reports as it
    /// always has.
    pub(crate) fn start(settings: &Settings, all: bool) -> Option<WarmExecutor> {
        // The executor's files live in the home: its folders are made private first.
        settings.create_private_dirs().ok()?;
        let executor = FunctionExecutor::new(ExecutorSettings::from_config(
            &settings.executor,
            settings.storage_dir(),
        ));
        if all {
            executor.start_all_workers();
        }
        Some(WarmExecutor {
            cfg: settings.executor.clone(),
            executor,
        })
    }
}

/// The executor for `cfg`: the warm one when it was started with these very settings,
/// otherwise a new one (the warm one's workers stop as it is dropped).
pub(crate) fn executor_for(
    warm: Option<WarmExecutor>,
    cfg: &ExecutorConfig,
    settings: &Settings,
) -> FunctionExecutor {
    match warm {
        Some(warm) if warm.cfg == *cfg => warm.executor,
        _ => FunctionExecutor::new(ExecutorSettings::from_config(cfg, settings.storage_dir())),
    }
}

/// Whether `task` makes many calls at once (a map, a map_reduce, a mapped task), so the
/// executor's workers had better all start now rather than on demand.
fn calls_in_parallel(task: &Task) -> bool {
    matches!(task.kind, TaskKind::Map(_) | TaskKind::MapReduce(_)) || task.is_mapped()
}

/// Whether tasks of `dag` may run at the same time: one of them calls in parallel
/// ([`calls_in_parallel`]), or the graph has two roots or a task with two downstream
/// tasks. A chain has one task running at a time, which one worker serves.
pub(crate) fn runs_in_parallel(dag: &Dag) -> bool {
    let mut downstream: HashMap<&str, usize> = HashMap::new();
    let mut roots = 0;
    for task in &dag.tasks {
        if calls_in_parallel(task) {
            return true;
        }
        if task.upstream.is_empty() {
            roots += 1;
        }
        for up in &task.upstream {
            let n = downstream.entry(up.as_str()).or_default();
            *n += 1;
            if *n > 1 {
                return true;
            }
        }
    }
    roots > 1
}
