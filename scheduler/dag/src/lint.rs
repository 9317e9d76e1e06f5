//! Lints: problems of a valid DAG that depend on more than its file, reported as
//! warnings (`lithoflow dags validate`). Pure: the parsed [`Dag`] and the settings it is
//! given, no IO.

use lithoflow_executor_config::{Backend, ExecutorConfig, StorageBackend};

use crate::diag::{Diagnostic, Severity};
use crate::model::{Dag, WrittenAt};

/// Where lithoflow's home config lives, as messages name it.
const HOME: &str = "$LITHOFLOW_HOME/lithoflow.toml";

/// Warnings for the tasks of `dag` that ask for an AWS backend or storage (`backend` or
/// `storage` in the DAG's `[lithops_config]`, `[default_args]` or the task's own
/// `lithops_config`) whose effective settings (`home` < DAG < task, as when the task
/// runs) lack the keys it needs. Each points at the nearest place in the file that asked
/// for it (the task's own table, then `[default_args]`, then the DAG's); a problem found
/// for several tasks at the same place is reported once. In task order.
pub fn aws_settings(dag: &Dag, home: &ExecutorConfig) -> Vec<Diagnostic> {
    let written = &dag.settings_written;
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut warn = |anchor: &crate::diag::Location, message: String| {
        let d = Diagnostic {
            severity: Severity::Warning,
            path: dag.fileloc.clone(),
            location: Some(anchor.clone()),
            message,
        };
        if !out.contains(&d) {
            out.push(d);
        }
    };
    for task in &dag.tasks {
        let cfg = dag.executor_config(home, task);
        // The nearest place in this file that sets `key` for this task.
        let own: Option<&WrittenAt> = written.tasks.get(&task.task_id);
        let anchor = |key: &'static str| {
            [own, Some(&written.default_args), Some(&written.dag)]
                .into_iter()
                .flatten()
                .find_map(|w| w.get(&("lithops", key)))
        };
        let lambda = cfg.effective_backend() == Backend::AwsLambda;
        let s3 = cfg.effective_storage() == StorageBackend::AwsS3;
        if lambda && let Some(at) = anchor("backend") {
            if !s3 {
                warn(
                    at,
                    format!(
                        "`backend = \"aws_lambda\"` needs S3 storage for the function modules and for results too large for a Lambda response: add `storage = \"aws_s3\"` to [lithops_config] in this file, or under [lithops] in {HOME}"
                    ),
                );
            }
            if cfg.storage_bucket.is_none() {
                warn(
                    at,
                    format!(
                        "`backend = \"aws_lambda\"` needs a bucket for its storage: add `storage_bucket = \"<bucket>\"` under [aws_s3] in {HOME} (or under [lithops_config.aws_s3] in this file)"
                    ),
                );
            }
            if cfg.execution_role.is_none() {
                warn(
                    at,
                    format!(
                        "`backend = \"aws_lambda\"` runs tasks on the lithoflow runtime function, which must be deployed first with `lithoflow runtime deploy`, and deploying needs an IAM role: add `execution_role = \"arn:aws:iam::<account>:role/<role>\"` under [aws_lambda] in {HOME} (lithoflow then also deploys missing runtimes on first use)"
                    ),
                );
            }
        }
        if s3
            && !lambda
            && cfg.storage_bucket.is_none()
            && let Some(at) = anchor("storage")
        {
            warn(
                at,
                format!(
                    "`storage = \"aws_s3\"` needs a bucket: add `storage_bucket = \"<bucket>\"` under [aws_s3] in {HOME} (or under [lithops_config.aws_s3] in this file)"
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn warnings(text: &str, home: &ExecutorConfig) -> String {
        let (dag, diags) = crate::parse_dag(Path::new("dags/aws.toml"), text);
        assert!(diags.is_empty(), "{diags:?}");
        aws_settings(&dag.expect("valid"), home)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn aws_settings_that_lack_keys_are_pointed_at_where_they_are_asked_for() {
        let text = "dag_id = \"aws\"\n\n[lithops_config]\nbackend = \"aws_lambda\"\n\n[tasks.t]\ntype = \"call_async\"\nfunc = \"m:f\"\n\n[tasks.u]\ntype = \"call_async\"\nfunc = \"m:f\"\nlithops_config = { storage = \"aws_s3\", backend = \"localhost\" }\n\n[tasks.v]\ntype = \"python\"\npython_callable = \"m:f\"\n";
        insta::assert_snapshot!(warnings(text, &ExecutorConfig::default()), @r#"
        dags/aws.toml:4:1: warning: `backend = "aws_lambda"` needs S3 storage for the function modules and for results too large for a Lambda response: add `storage = "aws_s3"` to [lithops_config] in this file, or under [lithops] in $LITHOFLOW_HOME/lithoflow.toml
          |
        4 | backend = "aws_lambda"
          | ^^^^^^^
        dags/aws.toml:4:1: warning: `backend = "aws_lambda"` needs a bucket for its storage: add `storage_bucket = "<bucket>"` under [aws_s3] in $LITHOFLOW_HOME/lithoflow.toml (or under [lithops_config.aws_s3] in this file)
          |
        4 | backend = "aws_lambda"
          | ^^^^^^^
        dags/aws.toml:4:1: warning: `backend = "aws_lambda"` runs tasks on the lithoflow runtime function, which must be deployed first with `lithoflow runtime deploy`, and deploying needs an IAM role: add `execution_role = "arn:aws:iam::<account>:role/<role>"` under [aws_lambda] in $LITHOFLOW_HOME/lithoflow.toml (lithoflow then also deploys missing runtimes on first use)
          |
        4 | backend = "aws_lambda"
          | ^^^^^^^
        dags/aws.toml:13:20: warning: `storage = "aws_s3"` needs a bucket: add `storage_bucket = "<bucket>"` under [aws_s3] in $LITHOFLOW_HOME/lithoflow.toml (or under [lithops_config.aws_s3] in this file)
           |
        13 | lithops_config = { storage = "aws_s3", backend = "localhost" }
           |                    ^^^^^^^
        "#);
        // With the keys in the home config, nothing to warn about.
        let home = ExecutorConfig {
            storage: Some(StorageBackend::AwsS3),
            storage_bucket: Some("bucket".into()),
            execution_role: Some("arn:aws:iam::1:role/r".into()),
            ..ExecutorConfig::default()
        };
        assert_eq!(warnings(text, &home), "");
    }

    #[test]
    fn default_args_and_sections_are_places_that_ask() {
        let text = "[default_args.lithops_config.lithops]\nstorage = \"aws_s3\"\n\n[tasks.t]\ntype = \"map\"\nmap_function = \"m:f\"\nmap_iterdata = [1]\n";
        insta::assert_snapshot!(warnings(text, &ExecutorConfig::default()), @r#"
        dags/aws.toml:2:1: warning: `storage = "aws_s3"` needs a bucket: add `storage_bucket = "<bucket>"` under [aws_s3] in $LITHOFLOW_HOME/lithoflow.toml (or under [lithops_config.aws_s3] in this file)
          |
        2 | storage = "aws_s3"
          | ^^^^^^^
        "#);
        // Nothing asks for AWS: nothing to say.
        assert_eq!(
            warnings("[tasks.t]\ntype = \"empty\"\n", &ExecutorConfig::default()),
            ""
        );
    }
}
