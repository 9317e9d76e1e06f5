//! `lithoflow runtime deploy|list|delete`: the AWS Lambda runtime functions, one per
//! memory size, named after the lithoflow version (`lithoflow-runtime-0-1-0-256mb`).
//! Settings come from `[aws]`/`[aws_lambda]` in lithoflow.toml and the standard AWS
//! environment (credentials, region, `AWS_ENDPOINT_URL*`).

use std::io::Write;

use crate::Outcome;
use crate::cli::RuntimeCommand;
use crate::config::Settings;

#[cfg(feature = "aws")]
pub(crate) async fn run(
    cmd: RuntimeCommand,
    settings: &Settings,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    use anyhow::Context;
    use lithoflow_executor::aws::AwsSettings;
    use lithoflow_executor::aws::deploy::{self, RuntimeInfo, Runtimes};
    use serde_json::{Map, Value, json};

    fn row(info: &RuntimeInfo) -> Map<String, Value> {
        match serde_json::to_value(info) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    let aws = AwsSettings::from_config(&settings.executor);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        RuntimeCommand::Deploy {
            memory,
            timeout,
            output,
        } => {
            let memory = memory.unwrap_or(aws.runtime_memory);
            let timeout = timeout.unwrap_or(aws.runtime_timeout);
            writeln!(
                err,
                "deploying {} ({memory} MB, timeout {timeout}s)",
                deploy::function_name(memory)
            )?;
            let runtimes = Runtimes::new(&aws).await;
            let (info, action) = runtimes
                .deploy(memory, timeout)
                .await
                .context("failed to deploy the Lambda runtime")?;
            let mut r = row(&info);
            r.insert("action".to_owned(), json!(action.name()));
            out.write_all(
                crate::cli::output::render(
                    &[r],
                    &[
                        "name",
                        "memory_mb",
                        "timeout_s",
                        "runtime",
                        "state",
                        "action",
                    ],
                    output.output,
                )
                .as_bytes(),
            )?;
            Ok(Outcome::Ok)
        }
        RuntimeCommand::List { output } => {
            let runtimes = Runtimes::new(&aws).await;
            let list = runtimes
                .list()
                .await
                .context("failed to list the Lambda runtimes")?;
            let rows: Vec<Map<String, Value>> = list.iter().map(row).collect();
            out.write_all(
                crate::cli::output::render(
                    &rows,
                    &[
                        "name",
                        "version",
                        "memory_mb",
                        "timeout_s",
                        "runtime",
                        "current",
                        "state",
                        "last_modified",
                    ],
                    output.output,
                )
                .as_bytes(),
            )?;
            Ok(Outcome::Ok)
        }
        RuntimeCommand::Delete {
            memory,
            all,
            output,
        } => {
            let runtimes = Runtimes::new(&aws).await;
            let names: Vec<String> = if all {
                runtimes
                    .list()
                    .await
                    .context("failed to list the Lambda runtimes")?
                    .into_iter()
                    .map(|r| r.name)
                    .collect()
            } else {
                vec![deploy::function_name(memory.unwrap_or(aws.runtime_memory))]
            };
            let mut rows = Vec::new();
            for name in names {
                let deleted = runtimes
                    .delete(&name)
                    .await
                    .with_context(|| format!("failed to delete the Lambda runtime {name}"))?;
                if !deleted {
                    writeln!(err, "{name} does not exist; nothing to delete")?;
                    continue;
                }
                let mut r = Map::new();
                r.insert("name".to_owned(), json!(name));
                r.insert("deleted".to_owned(), json!(true));
                rows.push(r);
            }
            if rows.is_empty() && output.output != crate::cli::OutputFormat::Json {
                return Ok(Outcome::Ok);
            }
            out.write_all(
                crate::cli::output::render(&rows, &["name", "deleted"], output.output).as_bytes(),
            )?;
            Ok(Outcome::Ok)
        }
    }
}

#[cfg(not(feature = "aws"))]
pub(crate) async fn run(
    _cmd: RuntimeCommand,
    _settings: &Settings,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    writeln!(
        err,
        "error: `lithoflow runtime` manages AWS Lambda functions, and this lithoflow was built without the `aws` feature"
    )?;
    Ok(Outcome::Invalid)
}
