//! The keys of `sensor` and `trigger_dag_run` tasks: each value read by hand, then the
//! spec built with Airflow's checks (which sensor kind takes which keys, the state
//! names, the arguments that exclude each other).

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::{Fields, Parsed, Span, Sv, Walker};
use crate::keys::PlainValue;
use crate::model::*;
use crate::schema;

impl Walker<'_> {
    /// Reads a sensor or trigger_dag_run key read by hand; None for other keys.
    pub(super) fn waiting_value(&mut self, key: &'static str, v: &Sv<'_>) -> Option<Parsed> {
        Some(match key {
            "sensor" => {
                let name = self.string(key, v)?;
                if !SENSOR_KINDS.contains(&name.as_str()) {
                    let hint = schema::suggest(&name, SENSOR_KINDS.iter().copied())
                        .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                    self.error(
                        v.span(),
                        format!(
                            "unknown sensor {name:?}; {hint}expected one of {}",
                            SENSOR_KINDS.join(", ")
                        ),
                    );
                    return None;
                }
                Parsed::Str(name)
            }
            "mode" => {
                let name = self.string(key, v)?;
                if name != "poke" && name != "reschedule" {
                    let hint = schema::suggest(&name, ["poke", "reschedule"])
                        .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                    self.error(
                        v.span(),
                        format!("unknown sensor mode {name:?}; {hint}expected \"poke\" or \"reschedule\""),
                    );
                    return None;
                }
                Parsed::Str(name)
            }
            "allowed_states" | "failed_states" | "skipped_states" | "external_task_ids" => {
                Parsed::Plain(PlainValue::Strings(self.string_list(key, v)?))
            }
            "bucket_key" => match v.get_ref() {
                DeValue::String(s) => Parsed::Plain(PlainValue::Strings(vec![s.to_string()])),
                DeValue::Array(_) => {
                    let keys = self.string_list(key, v)?;
                    if keys.is_empty() {
                        self.error(v.span(), "`bucket_key` is empty; name at least one key");
                        return None;
                    }
                    Parsed::Plain(PlainValue::Strings(keys))
                }
                _ => {
                    self.wrong_type(key, v, "a key (string) or an array of keys");
                    return None;
                }
            },
            "retry_exit_code" => match super::values::int_of(v.get_ref()) {
                Some(c) if (0..=255).contains(&c) => Parsed::IntList(vec![c as i64]),
                _ => {
                    self.wrong_type(key, v, "an exit code (0-255)");
                    return None;
                }
            },
            "recursive" | "check_existence" | "wildcard_match" => {
                Parsed::Plain(PlainValue::Bool(self.boolean(key, v)?))
            }
            "execution_delta" | "delta" => {
                Parsed::Plain(PlainValue::Duration(self.duration(key, v)?))
            }
            "execution_date_fn" => Parsed::Func(self.func_ref(key, v)?),
            "target_time" => match v.get_ref() {
                // A TOML date-time or time of day, written unquoted.
                DeValue::Datetime(d) => Parsed::Str(d.to_string()),
                _ => Parsed::Str(self.string(key, v)?),
            },
            "trigger_dag_id" | "external_dag_id" => {
                let id = self.string(key, v)?;
                if !is_templated(&id) && !is_valid_id(&id) {
                    self.error(
                        v.span(),
                        format!("`{key}` {id:?} is not a valid DAG id (letters, digits, `_`, `.` and `-`, at most {MAX_ID_LEN} characters)"),
                    );
                    return None;
                }
                Parsed::Str(id)
            }
            "filepath" => {
                let path = self.string(key, v)?;
                if path.trim().is_empty() {
                    self.error(v.span(), "`filepath` is empty; expected a path or a glob");
                    return None;
                }
                Parsed::Str(path)
            }
            "external_task_id"
            | "external_task_group_id"
            | "bucket_name"
            | "fs_conn_id"
            | "aws_conn_id" => Parsed::Str(self.string(key, v)?),
            _ => return None,
        })
    }

    /// The sensor of a `sensor` task; `python` is the callable when `sensor = "python"`.
    pub(super) fn sensor_spec(
        &mut self,
        task_id: &str,
        f: &Fields,
        key_spans: &BTreeMap<&'static str, Span>,
        header: &Span,
        python: Option<PythonSpec>,
        missing: &mut dyn FnMut(&mut Self, &str, &str),
    ) -> Option<SensorSpec> {
        let name = str_of(f, "sensor");
        let Some(name) = name else {
            missing(
                self,
                "sensor",
                &format!("what it waits for, one of {}", SENSOR_KINDS.join(", ")),
            );
            return None;
        };
        // Keys of other sensor kinds.
        let mut wrong_kind = false;
        for (key, span) in key_spans {
            let owners: Vec<&str> = SENSOR_KIND_KEYS
                .iter()
                .filter(|(_, keys)| keys.contains(key))
                .map(|(kind, _)| *kind)
                .collect();
            if !owners.is_empty() && !owners.contains(&name.as_str()) {
                self.error(
                    span.clone(),
                    format!(
                        "`{key}` is not a parameter of {name} sensors (it belongs to {} sensors)",
                        owners.join(" and ")
                    ),
                );
                wrong_kind = true;
            }
        }
        let span_of = |k: &str| {
            f.get(k)
                .map(|(_, s)| s.clone())
                .or_else(|| key_spans.get(k).cloned())
                .unwrap_or_else(|| header.clone())
        };
        let sensor = match name.as_str() {
            "python" => SensorKind::Python(python?),
            "bash" => {
                let bash_command = str_of(f, "bash_command");
                if bash_command.is_none() {
                    missing(self, "bash_command", "the shell command to poke with");
                }
                SensorKind::Bash {
                    bash: BashSpec {
                        bash_command: bash_command?,
                        env: match f.get("env") {
                            Some((Parsed::Json(serde_json::Value::Object(m)), _)) => {
                                Some(m.clone())
                            }
                            _ => None,
                        },
                        skip_on_exit_code: Vec::new(),
                        ..BashSpec::default()
                    },
                    retry_exit_code: match f.get("retry_exit_code") {
                        Some((Parsed::IntList(c), _)) => c.first().copied(),
                        _ => None,
                    },
                }
            }
            "file" => {
                let filepath = str_of(f, "filepath");
                if filepath.is_none() {
                    missing(self, "filepath", "the path or glob to wait for");
                }
                SensorKind::File {
                    filepath: filepath?,
                    recursive: bool_of(f, "recursive").unwrap_or(false),
                    fs_conn_id: str_of(f, "fs_conn_id"),
                }
            }
            "external_task" => {
                SensorKind::ExternalTask(self.external_task(task_id, f, &span_of, missing)?)
            }
            "time_delta" => {
                let delta = duration_of(f, "delta");
                if delta.is_none() {
                    missing(
                        self,
                        "delta",
                        "how long after the data interval end to wait (\"1h\")",
                    );
                }
                SensorKind::TimeDelta { delta: delta? }
            }
            "date_time" => {
                let target = str_of(f, "target_time");
                if target.is_none() {
                    missing(self, "target_time", "the date-time to wait for");
                }
                let target_time = target?;
                if !is_templated(&target_time)
                    && let Err(e) = parse_datetime(&target_time)
                {
                    self.error(span_of("target_time"), format!("`target_time`: {e}"));
                    return None;
                }
                SensorKind::DateTime { target_time }
            }
            "time" => {
                let target = str_of(f, "target_time");
                if target.is_none() {
                    missing(
                        self,
                        "target_time",
                        "the time of day to wait for (\"HH:MM[:SS]\")",
                    );
                }
                match parse_time_of_day(&target?) {
                    Ok(t) => SensorKind::Time { target_time: t },
                    Err(e) => {
                        self.error(span_of("target_time"), format!("`target_time`: {e}"));
                        return None;
                    }
                }
            }
            "s3_key" => SensorKind::S3Key(self.s3_key(f, &span_of, missing)?),
            _ => return None,
        };
        if wrong_kind {
            return None;
        }
        let mode = match str_of(f, "mode").as_deref() {
            Some("reschedule") => SensorMode::Reschedule,
            _ => SensorMode::Poke,
        };
        Some(SensorSpec {
            sensor,
            mode,
            ..SensorSpec::default()
        })
    }

    fn external_task(
        &mut self,
        task_id: &str,
        f: &Fields,
        span_of: &dyn Fn(&str) -> Span,
        missing: &mut dyn FnMut(&mut Self, &str, &str),
    ) -> Option<ExternalTaskSpec> {
        let external_dag_id = str_of(f, "external_dag_id");
        if external_dag_id.is_none() {
            missing(self, "external_dag_id", "the DAG to wait for");
        }
        let one = str_of(f, "external_task_id");
        let many = strings_of(f, "external_task_ids");
        let group = str_of(f, "external_task_group_id");
        let mut ok = true;
        // Airflow's ExternalTaskSensor.__init__ checks, in its words.
        if one.is_some() && many.is_some() {
            self.error(
                span_of("external_task_ids"),
                format!("task `{task_id}` sets both `external_task_id` and `external_task_ids`; only one of them may be provided"),
            );
            ok = false;
        }
        if group.is_some() && (one.is_some() || many.is_some()) {
            self.error(
                span_of("external_task_group_id"),
                format!("task `{task_id}` sets `external_task_group_id` with `external_task_id(s)`; only one of them may be provided"),
            );
            ok = false;
        }
        let ids: Vec<String> = one.into_iter().chain(many.unwrap_or_default()).collect();
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = ids.iter().find(|i| !seen.insert(i.as_str())) {
            self.error(
                span_of("external_task_ids"),
                format!("`external_task_ids` names {dup:?} twice; duplicate task ids"),
            );
            ok = false;
        }
        let execution_delta = duration_of(f, "execution_delta");
        let execution_date_fn = match f.get("execution_date_fn") {
            Some((Parsed::Func(r), _)) => Some(r.clone()),
            _ => None,
        };
        if execution_delta.is_some() && execution_date_fn.is_some() {
            self.error(
                span_of("execution_date_fn"),
                format!("task `{task_id}` sets both `execution_delta` and `execution_date_fn`; only one of them may be provided"),
            );
            ok = false;
        }
        let on_tasks = !ids.is_empty() || group.is_some();
        let (valid, what) = if on_tasks {
            (TASK_INSTANCE_STATES, "task instance states")
        } else {
            (DAG_RUN_STATES, "DAG run states (no task is named)")
        };
        let allowed = strings_of(f, "allowed_states").unwrap_or_else(|| vec!["success".into()]);
        let skipped = strings_of(f, "skipped_states").unwrap_or_default();
        let failed = strings_of(f, "failed_states").unwrap_or_default();
        for (key, list) in [
            ("allowed_states", &allowed),
            ("skipped_states", &skipped),
            ("failed_states", &failed),
        ] {
            ok &= self.check_states(key, list, valid, what, span_of);
        }
        if let Some(both) = allowed.iter().find(|s| failed.contains(s)) {
            self.error(
                span_of("failed_states"),
                format!("{both:?} is in both `allowed_states` and `failed_states`; a state may mean only one of them"),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(ExternalTaskSpec {
            external_dag_id: external_dag_id?,
            external_task_ids: ids,
            external_task_group_id: group,
            allowed_states: allowed,
            skipped_states: skipped,
            failed_states: failed,
            execution_delta,
            execution_date_fn,
            check_existence: bool_of(f, "check_existence").unwrap_or(false),
        })
    }

    fn s3_key(
        &mut self,
        f: &Fields,
        span_of: &dyn Fn(&str) -> Span,
        missing: &mut dyn FnMut(&mut Self, &str, &str),
    ) -> Option<S3KeySpec> {
        let keys = strings_of(f, "bucket_key");
        if keys.is_none() {
            missing(
                self,
                "bucket_key",
                "the key(s) to wait for (\"s3://bucket/key\")",
            );
        }
        let keys = keys?;
        let bucket_name = str_of(f, "bucket_name");
        for k in keys.iter().filter(|k| !is_templated(k)) {
            let url = k.starts_with("s3://");
            // S3KeySensor's (S3Hook.get_s3_bucket_key's) rule, in its words.
            if bucket_name.is_none() && !url {
                self.error(
                    span_of("bucket_key"),
                    format!("bucket_key {k:?} is not a full s3:// url, and no `bucket_name` is set; write \"s3://bucket/{k}\" or set bucket_name"),
                );
                return None;
            }
            if bucket_name.is_some() && url {
                self.error(
                    span_of("bucket_key"),
                    format!("bucket_key {k:?} is a full s3:// url, but `bucket_name` is set; with bucket_name, bucket_key should be the relative path from the bucket's root"),
                );
                return None;
            }
            if url
                && k["s3://".len()..]
                    .split('/')
                    .next()
                    .is_none_or(str::is_empty)
            {
                self.error(
                    span_of("bucket_key"),
                    format!("bucket_key {k:?} names no bucket; expected \"s3://bucket/key\""),
                );
                return None;
            }
        }
        Some(S3KeySpec {
            bucket_key: keys,
            bucket_name,
            wildcard_match: bool_of(f, "wildcard_match").unwrap_or(false),
            aws_conn_id: str_of(f, "aws_conn_id"),
        })
    }

    /// Whether every state in `list` is one of `valid`; reports the others.
    fn check_states(
        &mut self,
        key: &str,
        list: &[String],
        valid: &[&str],
        what: &str,
        span_of: &dyn Fn(&str) -> Span,
    ) -> bool {
        let mut ok = true;
        for s in list {
            if !valid.contains(&s.as_str()) {
                let hint = schema::suggest(s, valid.iter().copied())
                    .map_or(String::new(), |h| format!("did you mean {h:?}? "));
                self.error(
                    span_of(key),
                    format!(
                        "`{key}` names {s:?}, which is not one of the {what}; {hint}expected {}",
                        valid.join(", ")
                    ),
                );
                ok = false;
            }
        }
        ok
    }

    /// The spec of a `trigger_dag_run` task, before its plain keys are applied.
    pub(super) fn trigger_spec(
        &mut self,
        f: &Fields,
        key_spans: &BTreeMap<&'static str, Span>,
        header: &Span,
        missing: &mut dyn FnMut(&mut Self, &str, &str),
    ) -> Option<TriggerDagRunSpec> {
        let span_of = |k: &str| {
            f.get(k)
                .map(|(_, s)| s.clone())
                .or_else(|| key_spans.get(k).cloned())
                .unwrap_or_else(|| header.clone())
        };
        let trigger_dag_id = str_of(f, "trigger_dag_id");
        if trigger_dag_id.is_none() {
            missing(self, "trigger_dag_id", "the DAG to trigger");
        }
        let defaults = TriggerDagRunSpec::default();
        let allowed = strings_of(f, "allowed_states").unwrap_or(defaults.allowed_states);
        let failed = strings_of(f, "failed_states").unwrap_or(defaults.failed_states);
        let mut ok = true;
        for (key, list) in [("allowed_states", &allowed), ("failed_states", &failed)] {
            ok &= self.check_states(key, list, DAG_RUN_STATES, "DAG run states", &span_of);
        }
        if let Some((Parsed::Plain(PlainValue::Str(d)), span)) = f.get("logical_date")
            && !is_templated(d)
            && let Err(e) = parse_datetime(d)
        {
            self.error(span.clone(), format!("`logical_date`: {e}"));
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(TriggerDagRunSpec {
            trigger_dag_id: trigger_dag_id?,
            allowed_states: allowed,
            failed_states: failed,
            ..defaults
        })
    }
}

fn str_of(f: &Fields, k: &str) -> Option<String> {
    match f.get(k) {
        Some((Parsed::Str(s), _)) => Some(s.clone()),
        _ => None,
    }
}

fn strings_of(f: &Fields, k: &str) -> Option<Vec<String>> {
    match f.get(k) {
        Some((Parsed::Plain(PlainValue::Strings(l)), _)) => Some(l.clone()),
        _ => None,
    }
}

fn bool_of(f: &Fields, k: &str) -> Option<bool> {
    match f.get(k) {
        Some((Parsed::Plain(PlainValue::Bool(b)), _)) => Some(*b),
        _ => None,
    }
}

fn duration_of(f: &Fields, k: &str) -> Option<std::time::Duration> {
    match f.get(k) {
        Some((Parsed::Plain(PlainValue::Duration(d)), _)) => Some(*d),
        _ => None,
    }
}
