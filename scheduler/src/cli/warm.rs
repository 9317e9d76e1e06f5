//! Local workers started before the DAG folder is parsed, for the commands that run
//! tasks in the foreground (`dags test`, `tasks test`): a Python interpreter takes tens
//! of milliseconds to start, about what parsing a folder of DAG files takes, so the two
//! overlap instead of following each other.

use lithoflow_executor::{ExecutorConfig, ExecutorSettings, FunctionExecutor};

use crate::config::Settings;

/// An executor started with the home's settings, before it is known which settings the
/// DAG's and the task's `lithops_config` make.
pub(crate) struct WarmExecutor {
    cfg: ExecutorConfig,
    executor: FunctionExecutor,
}

impl WarmExecutor {
    /// Starts the home's executor (its workers start in the background); `None` when the
    /// home cannot be made ready, which the command then reports as it always has.
    pub(crate) fn start(settings: &Settings) -> Option<WarmExecutor> {
        // The executor's files live in the home: its folders are made private first.
        settings.create_private_dirs().ok()?;
        Some(WarmExecutor {
            cfg: settings.executor.clone(),
            executor: FunctionExecutor::new(ExecutorSettings::from_config(
                &settings.executor,
                settings.storage_dir(),
            )),
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
