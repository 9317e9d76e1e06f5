//! What a task's running Python code asks the scheduler for, over the worker protocol
//! (the executor's `HostServices`): its context, XCom (`ti.xcom_push`, `ti.xcom_pull`),
//! variables (`Variable.get`/`set`) and connections (`get_connection`).
//! docs/airflow-runtime.md, "Python access from tasks", says what each answers and
//! where it follows Airflow's source; docs/executor.md the request frames.
//!
//! One [`TaskServices`] serves one try of one task. In a run (the scheduler, `dags
//! test`) XCom lives in the state store; `tasks test`, which records nothing, keeps what
//! the function pushes in memory for the rest of its call.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use lithoflow_executor::{CallPlace, HostServices, ServiceFuture, Services};
use serde_json::{Map, Value, json};

use crate::store::{RETURN_KEY, Store, UNMAPPED};

/// Where a try's XCom lives.
enum XComPlace {
    /// In the state store (a run).
    Store {
        store: Arc<Store>,
        /// The state database's folder, whose filesystem keeps its reserve free.
        state_dir: PathBuf,
    },
    /// In memory (`tasks test`): (task_id, map_index, key) -> value.
    Memory(Mutex<BTreeMap<(String, i32, String), Value>>),
}

/// The services of one try.
pub(crate) struct TaskServices {
    dag_id: String,
    run_id: String,
    task_id: String,
    /// The instance's map index (-1 unmapped): where its calls push.
    map_index: i32,
    /// The run's logical date, for `include_prior_dates`.
    logical_date: Option<chrono::DateTime<chrono::Utc>>,
    /// The template context's JSON (`Context::json`), given to a call that asks.
    context: ContextJson,
    xcom: XComPlace,
    /// Where variables and connections are read (after the environment's).
    values: Values,
}

/// A try's template context as JSON: given, or made from its [`Context`] when a call
/// first asks (most never do, and making it formats every date a dozen ways).
///
/// [`Context`]: lithoflow_dag::template::Context
pub(crate) struct ContextJson {
    source: Option<Box<lithoflow_dag::template::Context>>,
    json: std::sync::OnceLock<Map<String, Value>>,
}

impl ContextJson {
    /// Made from `ctx` when first asked.
    pub(crate) fn of(ctx: lithoflow_dag::template::Context) -> ContextJson {
        ContextJson {
            source: Some(Box::new(ctx)),
            json: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> &Map<String, Value> {
        self.json.get_or_init(|| {
            self.source
                .as_ref()
                .map(|ctx| ctx.json())
                .unwrap_or_default()
        })
    }
}

impl From<Map<String, Value>> for ContextJson {
    fn from(json: Map<String, Value>) -> ContextJson {
        ContextJson {
            source: None,
            json: std::sync::OnceLock::from(json),
        }
    }
}

/// The state store of variables and connections: the run's, or `tasks test`'s, opened
/// when first needed.
enum Values {
    Store(Arc<Store>),
    OnNeed(Arc<crate::values::OpenOnNeed>),
}

impl TaskServices {
    /// The services of a try in a run, with XCom and values in `store`.
    pub(crate) fn in_run(
        store: Arc<Store>,
        state_dir: PathBuf,
        run: &crate::store::DagRunRecord,
        task_id: &str,
        map_index: i32,
        context: impl Into<ContextJson>,
    ) -> Services {
        let context = context.into();
        Services(Arc::new(TaskServices {
            dag_id: run.dag_id.clone(),
            run_id: run.run_id.clone(),
            task_id: task_id.to_owned(),
            map_index,
            logical_date: run.logical_date,
            context,
            xcom: XComPlace::Store {
                store: Arc::clone(&store),
                state_dir,
            },
            values: Values::Store(store),
        }))
    }

    /// The services of `tasks test`: XCom in memory, values from the environment, then
    /// the store `values` opens when first asked.
    pub(crate) fn standalone(
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        context: Map<String, Value>,
        values: Arc<crate::values::OpenOnNeed>,
    ) -> Services {
        Services(Arc::new(TaskServices {
            dag_id: dag_id.to_owned(),
            run_id: run_id.to_owned(),
            task_id: task_id.to_owned(),
            map_index: UNMAPPED,
            logical_date: None,
            context: context.into(),
            xcom: XComPlace::Memory(Mutex::new(BTreeMap::new())),
            values: Values::OnNeed(values),
        }))
    }

    /// The map index of what a call pushes: a map call's index (a map_reduce's map
    /// calls too); a mapped instance's own map index for its call; -1 for an unmapped
    /// call_async or python call and for reducers.
    fn map_index(&self, call: CallPlace) -> i32 {
        if call.phase == "map" {
            i32::try_from(call.index).unwrap_or(i32::MAX)
        } else {
            self.map_index
        }
    }

    /// The context with this call's `ti.map_index`.
    fn context_of(&self, call: CallPlace) -> Value {
        let mut context = self.context.get().clone();
        let map_index = self.map_index(call);
        if let Some(Value::Object(ti)) = context.get_mut("ti") {
            ti.insert("map_index".to_owned(), json!(map_index));
        } else {
            context.insert(
                "ti".to_owned(),
                json!({"dag_id": self.dag_id, "run_id": self.run_id, "task_id": self.task_id, "map_index": map_index}),
            );
        }
        Value::Object(context)
    }

    fn push(&self, call: CallPlace, body: &Value) -> Result<Value, String> {
        let key = body
            .get("key")
            .and_then(Value::as_str)
            .ok_or("xcom_push needs a string `key`")?;
        crate::store::check_xcom_key(key)?;
        let value = body.get("value").cloned().unwrap_or(Value::Null);
        let map_index = self.map_index(call);
        match &self.xcom {
            XComPlace::Store { store, state_dir } => {
                let size = serde_json::to_vec(&value).map_or(0, |b| b.len() as u64);
                crate::engine::check_space(state_dir, size).map_err(|e| e.to_string())?;
                store
                    .put_xcom_at(
                        &self.dag_id,
                        &self.run_id,
                        &self.task_id,
                        map_index,
                        key,
                        &value,
                        chrono::Utc::now(),
                    )
                    .map_err(|e| e.to_string())?;
            }
            XComPlace::Memory(m) => {
                m.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert((self.task_id.clone(), map_index, key.to_owned()), value);
            }
        }
        Ok(Value::Null)
    }

    /// Answers `xcom_pull`'s queries, one result each: for `map_index: "all"` the list
    /// of the key's values by map index (Airflow's `XCom.get_all`), else the value at
    /// that map index or null (`XCom.get_one`).
    fn pull(&self, body: &Value) -> Result<Value, String> {
        let queries = body
            .get("queries")
            .and_then(Value::as_array)
            .ok_or("xcom_pull needs a list of `queries`")?;
        let mut out = Vec::with_capacity(queries.len());
        for q in queries {
            let text = |k: &str| {
                q.get(k)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("an xcom_pull query needs a string `{k}`"))
            };
            let (dag_id, run_id, task_id) = (text("dag_id")?, text("run_id")?, text("task_id")?);
            let key = q.get("key").and_then(Value::as_str).unwrap_or(RETURN_KEY);
            let map_index = match q.get("map_index") {
                Some(Value::String(s)) if s == "all" => None,
                Some(Value::Number(n)) => Some(
                    n.as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or_else(|| format!("map index {n} is out of range"))?,
                ),
                Some(Value::Null) | None => Some(UNMAPPED),
                Some(other) => return Err(format!("map index {other} is not an integer")),
            };
            let prior = q
                .get("include_prior_dates")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let found = self.lookup(dag_id, run_id, task_id, key, map_index, prior)?;
            out.push(match map_index {
                // A mapped task's values are a list even when there is one (Airflow's
                // `LazyXComSelectSequence`): the runtime is told so.
                None if self.is_mapped(dag_id, run_id, task_id) => {
                    serde_json::json!({ "mapped": found })
                }
                None => Value::Array(found),
                Some(_) => found.into_iter().next().unwrap_or(Value::Null),
            });
        }
        Ok(Value::Array(out))
    }

    /// Whether a task of a run has mapped instances (it was expanded).
    fn is_mapped(&self, dag_id: &str, run_id: &str, task_id: &str) -> bool {
        match &self.xcom {
            XComPlace::Store { store, .. } => store
                .ti_at(dag_id, run_id, task_id, 0)
                .is_ok_and(|t| t.is_some()),
            XComPlace::Memory(_) => false,
        }
    }

    /// The values of one key at one map index (or all of them), in run `run_id`, or
    /// with `prior` in the latest earlier run (by logical date) that has any.
    fn lookup(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
        map_index: Option<i32>,
        prior: bool,
    ) -> Result<Vec<Value>, String> {
        let store = match &self.xcom {
            XComPlace::Memory(m) => {
                let m = m.lock().unwrap_or_else(PoisonError::into_inner);
                if dag_id != self.dag_id || run_id != self.run_id {
                    return Ok(Vec::new());
                }
                return Ok(m
                    .iter()
                    .filter(|((t, i, k), _)| {
                        t == task_id && k == key && map_index.is_none_or(|want| *i == want)
                    })
                    .map(|(_, v)| v.clone())
                    .collect());
            }
            XComPlace::Store { store, .. } => store,
        };
        let read = |run_id: &str| -> Result<Vec<Value>, String> {
            let r = match map_index {
                None => store
                    .xcom_all(dag_id, run_id, task_id, key)
                    .map(|all| all.into_iter().map(|(_, v)| v).collect()),
                Some(i) => store
                    .xcom_at(dag_id, run_id, task_id, i, key)
                    .map(|v| v.into_iter().collect()),
            };
            r.map_err(|e| e.to_string())
        };
        let found = read(run_id)?;
        if !found.is_empty() || !prior {
            return Ok(found);
        }
        let Some(before) = self.logical_date else {
            return Ok(found);
        };
        for run in store.runs_newest_first(dag_id) {
            let run = run.map_err(|e| e.to_string())?;
            if run.run_id == run_id || run.logical_date.is_none_or(|d| d > before) {
                continue;
            }
            let found = read(&run.run_id)?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    fn values_store(&self) -> Result<Arc<Store>, String> {
        match &self.values {
            Values::Store(store) => Ok(Arc::clone(store)),
            Values::OnNeed(lazy) => lazy.store(),
        }
    }

    /// `Variable.get`: `{"value": text, "secrets": [...]}` (what the task log must mask,
    /// as Airflow's `mask_secret(value, key)`), or null when there is no such variable.
    fn variable_get(&self, body: &Value) -> Result<Value, String> {
        let key = body
            .get("key")
            .and_then(Value::as_str)
            .ok_or("Variable.get needs a string key")?;
        let value = match self.values_store() {
            Ok(store) => crate::values::get_variable(&store, key).map_err(|e| e.to_string())?,
            // Without the store (a scheduler holds it), the environment still answers.
            Err(e) => match crate::values::env_variable(&crate::values::ProcessEnv, key) {
                Some((_, v)) => Some(v),
                None => return Err(format!("variable `{key}`: {e}")),
            },
        };
        Ok(match value {
            Some(v) => {
                let mut secrets = Vec::new();
                crate::values::variable_secrets(key, &v, &mut secrets);
                json!({"value": v, "secrets": secrets})
            }
            None => Value::Null,
        })
    }

    /// `Variable.set(key, value, description)`.
    fn variable_set(&self, body: &Value) -> Result<Value, String> {
        let key = body
            .get("key")
            .and_then(Value::as_str)
            .ok_or("Variable.set needs a string key")?;
        let value = body
            .get("value")
            .and_then(Value::as_str)
            .ok_or("Variable.set needs a string value")?;
        let description = body.get("description").and_then(Value::as_str);
        let store = self
            .values_store()
            .map_err(|e| format!("variable `{key}`: {e}"))?;
        crate::values::set_variable(&store, key, value, description).map_err(|e| e.to_string())?;
        Ok(Value::Null)
    }

    /// `get_connection(conn_id)`: the connection's JSON form (its fields, `extra_dejson`,
    /// `uri`) with `secrets` (its password and sensitive extras), or null.
    fn connection_get(&self, body: &Value) -> Result<Value, String> {
        let conn_id = body
            .get("conn_id")
            .and_then(Value::as_str)
            .ok_or("get_connection needs a string conn_id")?;
        let conn = match self.values_store() {
            Ok(store) => {
                crate::values::get_connection(&store, conn_id).map_err(|e| e.to_string())?
            }
            Err(e) => match crate::values::env_connection(&crate::values::ProcessEnv, conn_id) {
                Ok(Some(c)) => Some(c),
                Ok(None) => return Err(format!("connection `{conn_id}`: {e}")),
                Err(env) => return Err(env.to_string()),
            },
        };
        Ok(match conn {
            Some(c) => {
                let mut doc = c.to_json();
                if let Value::Object(m) = &mut doc {
                    m.insert("secrets".to_owned(), json!(c.secrets()));
                }
                doc
            }
            None => Value::Null,
        })
    }

    /// `outlet_events[asset].extra` of a task that succeeds: kept for the event its
    /// outlet records when the try's success is (`crate::store::Store::put_outlet_extra`);
    /// nowhere to keep it under `tasks test`, which records no events.
    fn outlet_event_extra(&self, body: &Value) -> Result<Value, String> {
        let uri = body
            .get("uri")
            .and_then(Value::as_str)
            .ok_or("outlet_events needs an asset URI")?;
        let Some(Value::Object(extra)) = body.get("extra") else {
            return Err("an outlet event's extra must be a dict".to_owned());
        };
        if let XComPlace::Store { store, .. } = &self.xcom {
            let ti = (
                self.dag_id.as_str(),
                self.run_id.as_str(),
                self.task_id.as_str(),
                // The task instance's (every call of a `map` task shares it): a mapped
                // instance's own index.
                i64::from(self.map_index),
            );
            store
                .put_outlet_extra(ti, uri, extra.clone())
                .map_err(|e| e.to_string())?;
        }
        Ok(Value::Null)
    }

    /// Answers one request, on a blocking thread (the store is sync).
    fn answer(&self, call: CallPlace, op: &str, body: &Value) -> Result<Value, String> {
        match op {
            "context" => Ok(self.context_of(call)),
            "xcom_push" => self.push(call, body),
            "xcom_pull" => self.pull(body),
            "variable_get" => self.variable_get(body),
            "variable_set" => self.variable_set(body),
            "connection_get" => self.connection_get(body),
            "outlet_event_extra" => self.outlet_event_extra(body),
            other => Err(format!(
                "the scheduler does not know the request `{other}` (a newer lithoflow runtime?)"
            )),
        }
    }
}

impl HostServices for TaskServices {
    fn request(self: Arc<Self>, call: CallPlace, op: &str, body: Value) -> ServiceFuture {
        let op = op.to_owned();
        Box::pin(async move {
            // The store is sync: its reads and writes run where blocking is allowed.
            tokio::task::spawn_blocking(move || self.answer(call, &op, &body))
                .await
                .unwrap_or_else(|e| Err(format!("the scheduler failed to answer: {e}")))
        })
    }
}
