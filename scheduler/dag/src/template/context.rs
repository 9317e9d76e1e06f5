//! The context of one task instance, as Airflow builds it: every name templates and
//! Python callables see, with the values Airflow gives (Airflow 3's
//! `airflow/sdk/execution_time/task_runner.py` `get_template_context`, and the Airflow 2
//! names of 2.10's `airflow/models/taskinstance.py` `_get_template_context`).
//!
//! Two views of it: [`Context::json`], what Python receives (dates as ISO 8601 text with
//! their offset), and the template root, where dates are pendulum `DateTime` objects and
//! `ti`, `dag_run`, `dag`, `task` are objects with attributes and methods.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use minijinja::value::{Object, ObjectRepr};
use minijinja::{Error, State, Value as J};
use serde_json::{Map, Value, json};

use super::macros::{self, Clock};
use super::pyargs::PyArgs;

/// The XCom values a template may pull (`ti.xcom_pull(task_ids='t')`): this run's, read
/// by the scheduler when a template asks.
pub trait XcomSource: Send + Sync + fmt::Debug {
    /// The value task `task_id` pushed under `key` in this run, if any.
    fn xcom(&self, task_id: &str, key: &str) -> Option<Value>;
}

/// The previous successful run of the same DAG (the one with the latest logical date
/// before this run's), for the `prev_*_success` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrevRun {
    /// Its logical date.
    pub logical_date: DateTime<Utc>,
    /// Its data interval's start.
    pub data_interval_start: DateTime<Utc>,
    /// Its data interval's end.
    pub data_interval_end: DateTime<Utc>,
    /// When it started.
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended.
    pub end_date: Option<DateTime<Utc>>,
}

/// What a template can refer to for one task instance.
#[derive(Debug, Clone)]
pub struct Context {
    /// The DAG's id.
    pub dag_id: String,
    /// The task's id.
    pub task_id: String,
    /// The task's operator class (`PythonOperator`, `BashOperator`, ...), for `task`.
    pub task_type: String,
    /// The run's id.
    pub run_id: String,
    /// `manual`, `scheduled`, `backfill` or `asset_triggered`.
    pub run_type: String,
    /// The run's logical date (the run's `run_after` when it has none).
    pub logical_date: DateTime<Utc>,
    /// Start of the data interval.
    pub data_interval_start: DateTime<Utc>,
    /// End of the data interval.
    pub data_interval_end: DateTime<Utc>,
    /// When the run may start.
    pub run_after: DateTime<Utc>,
    /// When the run started.
    pub run_start_date: Option<DateTime<Utc>>,
    /// The DAG's `params`, overridden by the run's conf.
    pub params: Map<String, Value>,
    /// The run's conf.
    pub conf: Map<String, Value>,
    /// The try being run (1-based).
    pub try_number: u32,
    /// The tries the task may have (`retries` + 1), Airflow's `ti.max_tries`.
    pub max_tries: u32,
    /// The mapped index (-1 for a task that is not mapped).
    pub map_index: i64,
    /// The previous successful run (`prev_*_success`).
    pub prev_success: Option<PrevRun>,
    /// Airflow 2's `prev_execution_date`: the schedule's tick before the logical date
    /// (the logical date itself for a manual run; None without a cron schedule).
    pub prev_execution_date: Option<DateTime<Utc>>,
    /// Airflow 2's `next_execution_date`: the next run's logical date.
    pub next_execution_date: Option<DateTime<Utc>>,
    /// `tasks test` rather than a run.
    pub test_mode: bool,
    /// The time of rendering, for `macros.datetime.now()`, `macros.time.time()`.
    pub now: DateTime<Utc>,
    /// The scheduler's local offset at `now` (`datetime.now()` is local wall time).
    pub local_offset: FixedOffset,
    /// A random seed for `macros.uuid.uuid4()` and `macros.random()`.
    pub seed: u64,
    /// Where `ti.xcom_pull` reads; None: nothing to pull.
    pub xcom: Option<Arc<dyn XcomSource>>,
    /// The task's arguments the `task` object shows beside its ids (`op_kwargs`,
    /// `op_args`, `bash_command`, ...): a mapped instance's, for `map_index_template`
    /// (`{{ task.op_kwargs['item'] }}`). Empty unless set.
    pub task_fields: Vec<(&'static str, Value)>,
    /// The asset events that triggered the run, by asset URI (each a list of events,
    /// oldest first; empty unless the run was triggered by assets).
    pub triggering_asset_events: Map<String, Value>,
    /// The task's `inlets`, each `{"uri", "name", "group", "extra"}`.
    pub inlets: Vec<Value>,
    /// The task's `outlets`, the same way.
    pub outlets: Vec<Value>,
}

impl Context {
    /// A context with Airflow's defaults around the ids and the logical date: a manual run
    /// whose data interval is the logical date, first try, no previous run, rendered at
    /// the logical date.
    pub fn new(dag_id: &str, task_id: &str, run_id: &str, logical_date: DateTime<Utc>) -> Context {
        Context {
            dag_id: dag_id.to_owned(),
            task_id: task_id.to_owned(),
            task_type: "PythonOperator".to_owned(),
            run_id: run_id.to_owned(),
            run_type: "manual".to_owned(),
            logical_date,
            data_interval_start: logical_date,
            data_interval_end: logical_date,
            run_after: logical_date,
            run_start_date: None,
            params: Map::new(),
            conf: Map::new(),
            try_number: 1,
            max_tries: 1,
            map_index: -1,
            prev_success: None,
            prev_execution_date: Some(logical_date),
            next_execution_date: Some(logical_date),
            test_mode: false,
            now: logical_date,
            local_offset: FixedOffset::east_opt(0).unwrap_or_else(|| Utc.fix()),
            seed: 0,
            xcom: None,
            task_fields: Vec::new(),
            triggering_asset_events: Map::new(),
            inlets: Vec::new(),
            outlets: Vec::new(),
        }
    }

    /// The context of a try that belongs to no run (`tasks test`), at logical date `at`.
    pub fn standalone(dag: &crate::Dag, task_id: &str, run_id: &str, at: DateTime<Utc>) -> Context {
        let mut c = Context::new(&dag.dag_id, task_id, run_id, at);
        c.params = dag.params.clone();
        c.test_mode = true;
        if let Some(t) = dag.task(task_id) {
            c.task_type = operator_class(t).to_owned();
            c.max_tries = t.retries.saturating_add(1);
            c.set_assets(t);
        }
        c
    }

    /// Sets `inlets` and `outlets` from the task's.
    pub fn set_assets(&mut self, task: &crate::Task) {
        let doc = |a: &crate::asset::Asset| json!({"uri": a.uri, "name": a.name, "group": a.group, "extra": a.extra});
        self.inlets = task.inlets.iter().map(doc).collect();
        self.outlets = task.outlets.iter().map(doc).collect();
    }

    fn ds(&self) -> String {
        self.logical_date.format("%Y-%m-%d").to_string()
    }

    /// The context as JSON: what a `python_callable` may ask for by name (Airflow's
    /// context). Dates are ISO 8601 text with their offset (`2026-11-01T02:00:00+00:00`)
    /// or null; docs/airflow-runtime.md, "The context", lists every name.
    pub fn json(&self) -> Map<String, Value> {
        let iso = |d: &DateTime<Utc>| Value::String(iso(d));
        let opt = |d: Option<DateTime<Utc>>| d.as_ref().map_or(Value::Null, iso);
        let ld = &self.logical_date;
        let ds = self.ds();
        let ts = iso_str(ld);
        let ds_of = |d: Option<DateTime<Utc>>| d.map(|d| d.format("%Y-%m-%d").to_string());
        let nodash = |s: Option<String>| s.map(|s| s.replace('-', ""));
        let yesterday = (*ld - Duration::days(1)).format("%Y-%m-%d").to_string();
        let tomorrow = (*ld + Duration::days(1)).format("%Y-%m-%d").to_string();
        let prev = self.prev_success;
        let ti = json!({
            "dag_id": self.dag_id, "task_id": self.task_id, "run_id": self.run_id,
            "try_number": self.try_number, "map_index": self.map_index,
            "max_tries": self.max_tries, "state": "running",
            "logical_date": iso(ld), "operator": self.task_type,
        });
        let ctx = json!({
            "dag": {"dag_id": self.dag_id},
            "task": {"task_id": self.task_id, "dag_id": self.dag_id, "task_type": self.task_type},
            "ti": ti,
            "task_instance": ti,
            "dag_run": {
                "dag_id": self.dag_id, "run_id": self.run_id, "run_type": self.run_type,
                "logical_date": iso(ld),
                "data_interval_start": iso(&self.data_interval_start),
                "data_interval_end": iso(&self.data_interval_end),
                "run_after": iso(&self.run_after),
                "start_date": opt(self.run_start_date),
                "conf": self.conf,
                "external_trigger": self.run_type == "manual",
                "state": "running",
            },
            "run_id": self.run_id,
            "params": self.params,
            "logical_date": iso(ld),
            "data_interval_start": iso(&self.data_interval_start),
            "data_interval_end": iso(&self.data_interval_end),
            "ds": ds,
            "ds_nodash": ds.replace('-', ""),
            "ts": ts,
            "ts_nodash": ld.format("%Y%m%dT%H%M%S").to_string(),
            "ts_nodash_with_tz": ts.replace(['-', ':'], ""),
            "task_instance_key_str": format!("{}__{}__{}", self.dag_id, self.task_id, ds.replace('-', "")),
            "prev_data_interval_start_success": opt(prev.map(|p| p.data_interval_start)),
            "prev_data_interval_end_success": opt(prev.map(|p| p.data_interval_end)),
            "prev_start_date_success": opt(prev.and_then(|p| p.start_date)),
            "prev_end_date_success": opt(prev.and_then(|p| p.end_date)),
            "inlets": self.inlets,
            "outlets": self.outlets,
            "map_index_template": null,
            "expanded_ti_count": null,
            "task_reschedule_count": 0,
            "test_mode": self.test_mode,
            // Airflow 2's names (removed in Airflow 3), with their 2.10 values.
            "execution_date": iso(ld),
            "next_execution_date": opt(self.next_execution_date),
            "next_ds": ds_of(self.next_execution_date),
            "next_ds_nodash": nodash(ds_of(self.next_execution_date)),
            "prev_execution_date": opt(self.prev_execution_date),
            "prev_ds": ds_of(self.prev_execution_date),
            "prev_ds_nodash": nodash(ds_of(self.prev_execution_date)),
            "prev_execution_date_success": opt(prev.map(|p| p.logical_date)),
            "yesterday_ds": yesterday,
            "yesterday_ds_nodash": yesterday.replace('-', ""),
            "tomorrow_ds": tomorrow,
            "tomorrow_ds_nodash": tomorrow.replace('-', ""),
            // lithoflow's own, kept for the DAGs that use them.
            "dag_id": self.dag_id,
            "task_id": self.task_id,
        });
        let mut ctx = match ctx {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let events = Value::Object(self.triggering_asset_events.clone());
        ctx.insert("triggering_asset_events".to_owned(), events.clone());
        // Airflow 2's name of the same.
        ctx.insert("triggering_dataset_events".to_owned(), events);
        ctx
    }

    /// The template root: [`Context::json`]'s names with dates as datetime objects,
    /// `ti`/`dag_run`/`dag`/`task` as objects, and `macros`.
    pub(crate) fn root(&self, clock: &Arc<Clock>) -> BTreeMap<String, J> {
        let mut root: BTreeMap<String, J> = self
            .json()
            .into_iter()
            .map(|(k, v)| (k, J::from_serialize(v)))
            .collect();
        let dt = macros::datetime_value;
        let opt = |d: Option<DateTime<Utc>>| d.map_or(J::from(()), dt);
        let prev = self.prev_success;
        for (k, v) in [
            ("logical_date", dt(self.logical_date)),
            ("execution_date", dt(self.logical_date)),
            ("data_interval_start", dt(self.data_interval_start)),
            ("data_interval_end", dt(self.data_interval_end)),
            (
                "prev_data_interval_start_success",
                opt(prev.map(|p| p.data_interval_start)),
            ),
            (
                "prev_data_interval_end_success",
                opt(prev.map(|p| p.data_interval_end)),
            ),
            (
                "prev_start_date_success",
                opt(prev.and_then(|p| p.start_date)),
            ),
            ("prev_end_date_success", opt(prev.and_then(|p| p.end_date))),
            (
                "prev_execution_date_success",
                opt(prev.map(|p| p.logical_date)),
            ),
            ("next_execution_date", opt(self.next_execution_date)),
            ("prev_execution_date", opt(self.prev_execution_date)),
        ] {
            root.insert(k.to_owned(), v);
        }
        let conf = J::from_serialize(&self.conf);
        let dag_run = Record::value(
            format!(
                "<DagRun {} @ {}: {}, state:running, queued_at: None. run_type: {}>",
                self.dag_id,
                iso(&self.logical_date),
                self.run_id,
                self.run_type
            ),
            [
                ("dag_id", J::from(&self.dag_id)),
                ("run_id", J::from(&self.run_id)),
                ("run_type", J::from(&self.run_type)),
                ("conf", conf),
                ("logical_date", dt(self.logical_date)),
                ("execution_date", dt(self.logical_date)),
                ("data_interval_start", dt(self.data_interval_start)),
                ("data_interval_end", dt(self.data_interval_end)),
                ("run_after", dt(self.run_after)),
                ("start_date", opt(self.run_start_date)),
                ("external_trigger", J::from(self.run_type == "manual")),
                ("state", J::from("running")),
            ],
            None,
        );
        let ti = Record::value(
            format!(
                "<TaskInstance: {}.{} {} [running]>",
                self.dag_id, self.task_id, self.run_id
            ),
            [
                ("dag_id", J::from(&self.dag_id)),
                ("task_id", J::from(&self.task_id)),
                ("run_id", J::from(&self.run_id)),
                ("try_number", J::from(self.try_number)),
                ("map_index", J::from(self.map_index)),
                ("max_tries", J::from(self.max_tries)),
                ("state", J::from("running")),
                ("operator", J::from(&self.task_type)),
                ("logical_date", dt(self.logical_date)),
                ("execution_date", dt(self.logical_date)),
            ],
            Some(Xcom {
                task_id: self.task_id.clone(),
                source: self.xcom.clone(),
            }),
        );
        let mut task_fields: BTreeMap<&'static str, J> = [
            ("task_id", J::from(&self.task_id)),
            ("dag_id", J::from(&self.dag_id)),
            ("task_type", J::from(&self.task_type)),
            ("operator_name", J::from(&self.task_type)),
            ("owner", J::from("airflow")),
            ("max_tries", J::from(self.max_tries)),
        ]
        .into_iter()
        .collect();
        task_fields.extend(
            self.task_fields
                .iter()
                .map(|(k, v)| (*k, J::from_serialize(v))),
        );
        let task = J::from_object(Record {
            text: format!("<Task({}): {}>", self.task_type, self.task_id),
            fields: task_fields,
            xcom: None,
        });
        let dag = Record::value(
            format!("<DAG: {}>", self.dag_id),
            [
                ("dag_id", J::from(&self.dag_id)),
                ("params", J::from_serialize(&self.params)),
            ],
            None,
        );
        root.insert("dag_run".to_owned(), dag_run);
        root.insert("ti".to_owned(), ti.clone());
        root.insert("task_instance".to_owned(), ti);
        root.insert("task".to_owned(), task);
        root.insert("dag".to_owned(), dag);
        root.insert("macros".to_owned(), macros::macros(clock));
        let events = self.asset_events_value();
        root.insert("triggering_asset_events".to_owned(), events.clone());
        root.insert("triggering_dataset_events".to_owned(), events);
        root
    }

    /// `triggering_asset_events` for templates: each event's `timestamp` a datetime.
    fn asset_events_value(&self) -> J {
        let by_uri: BTreeMap<String, J> = self
            .triggering_asset_events
            .iter()
            .map(|(uri, events)| {
                let list: Vec<J> = events
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|ev| {
                        let fields: BTreeMap<String, J> = ev
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| {
                                let parsed = (k == "timestamp")
                                    .then(|| v.as_str())
                                    .flatten()
                                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                                let v = match parsed {
                                    Some(t) => macros::datetime_value(t.with_timezone(&Utc)),
                                    None => J::from_serialize(v),
                                };
                                (k.clone(), v)
                            })
                            .collect();
                        J::from_object(fields)
                    })
                    .collect();
                (uri.clone(), J::from(list))
            })
            .collect();
        J::from_object(by_uri)
    }
}

use chrono::Offset as _;

/// ISO 8601 as Python's `isoformat()` writes an aware UTC datetime.
fn iso(d: &DateTime<Utc>) -> String {
    iso_str(d)
}

fn iso_str(d: &DateTime<Utc>) -> String {
    if d.timestamp_subsec_micros() == 0 {
        d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        d.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// The Airflow operator class a task stands for.
pub fn operator_class(t: &crate::Task) -> &'static str {
    use crate::TaskKind;
    match &t.kind {
        TaskKind::CallAsync(_) => "LithopsCallAsyncOperator",
        TaskKind::Map(_) => "LithopsMapOperator",
        TaskKind::MapReduce(_) => "LithopsMapReduceOperator",
        TaskKind::Python(_) => "PythonOperator",
        TaskKind::Branch(_) => "BranchPythonOperator",
        TaskKind::ShortCircuit { .. } => "ShortCircuitOperator",
        TaskKind::Bash(_) => "BashOperator",
        TaskKind::Sensor(s) => s.sensor.airflow_class(),
        TaskKind::TriggerDagRun(_) => "TriggerDagRunOperator",
        TaskKind::Empty => "EmptyOperator",
    }
}

#[derive(Debug)]
struct Xcom {
    task_id: String,
    source: Option<Arc<dyn XcomSource>>,
}

/// An object of the context (`ti`, `dag_run`, `dag`, `task`): attributes, Airflow's text
/// when printed, and `xcom_pull` for `ti`.
#[derive(Debug)]
struct Record {
    text: String,
    fields: BTreeMap<&'static str, J>,
    xcom: Option<Xcom>,
}

impl Record {
    fn value<const N: usize>(
        text: String,
        fields: [(&'static str, J); N],
        xcom: Option<Xcom>,
    ) -> J {
        J::from_object(Record {
            text,
            fields: fields.into_iter().collect(),
            xcom,
        })
    }
}

impl Object for Record {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        self.fields.get(key.as_str()?).cloned()
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[J],
    ) -> Result<J, Error> {
        match (method, &self.xcom) {
            ("xcom_pull", Some(x)) => {
                let a = PyArgs::new("xcom_pull", args)?;
                let key = a
                    .str(1, "key")?
                    .unwrap_or_else(|| "return_value".to_owned());
                let task_ids = a.get(0, "task_ids");
                for k in [
                    "dag_id",
                    "include_prior_dates",
                    "map_indexes",
                    "default",
                    "run_id",
                ] {
                    let _ = a.kw(k);
                }
                a.done(2)?;
                let pull = |t: &str| -> J {
                    x.source
                        .as_ref()
                        .and_then(|s| s.xcom(t, &key))
                        .map_or(J::from(()), J::from_serialize)
                };
                Ok(match task_ids {
                    None => pull(&x.task_id),
                    Some(t) if t.is_none() => pull(&x.task_id),
                    Some(t) => match t.as_str() {
                        Some(one) => pull(one),
                        None => J::from(
                            t.try_iter()?
                                .filter_map(|id| id.as_str().map(pull))
                                .filter(|v| !v.is_none())
                                .collect::<Vec<_>>(),
                        ),
                    },
                })
            }
            ("xcom_push", Some(_)) => Err(Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "ti.xcom_push cannot be called from a template (it runs before the task); push from the task's callable",
            )),
            _ => Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
