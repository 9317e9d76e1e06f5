//! Airflow's variables and connections: looked up with Airflow's precedence (the
//! environment backend first, `LITHOFLOW_VAR_<KEY>`/`AIRFLOW_VAR_<KEY>` and
//! `LITHOFLOW_CONN_<ID>`/`AIRFLOW_CONN_<ID>` as a URI or JSON, then the state store), as
//! `airflow/secrets/environment_variables.py` and `airflow/models/variable.py` do; the
//! secrets they hold, as Airflow's secrets masker decides them
//! (`airflow/utils/log/secrets_masker.py`); and [`StoreLookup`], the templates' view of
//! them.
//!
//! The functions here are what the CLI, the API, templates and the task runtime use; the
//! store keeps the records ([`crate::store::Store::put_variable`] and its siblings).

mod connection;
mod uri;

use std::sync::Arc;

use serde_json::Value;

use crate::store::{Store, StoreError};
pub(crate) use connection::Connection;

/// A variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variable {
    /// Its key.
    pub key: String,
    /// Its value (text; JSON values are kept as their text, as Airflow does).
    pub value: String,
    /// Its description.
    pub description: Option<String>,
}

/// Why a lookup or a change failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ValuesError {
    /// The store failed (or a secret did not decrypt).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value from the environment does not read (`AIRFLOW_CONN_X` not a URI or JSON).
    #[error("environment variable {name}: {message}")]
    Env {
        /// The variable's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A key or id that Airflow would refuse.
    #[error("{0}")]
    Invalid(String),
}

/// `quote(s, safe="")` (Python's), as a password appears in a URI.
pub(crate) fn quote(s: &str) -> String {
    uri::quote(s)
}

/// The scheme of a URI as Python's `urlsplit` reads it (`""` when none).
pub(crate) fn uri_scheme(u: &str) -> String {
    uri::urlsplit(u).map(|s| s.scheme).unwrap_or_default()
}

/// Prefixes of the environment backend, in the order they are read.
const VAR_PREFIXES: [&str; 2] = ["LITHOFLOW_VAR_", "AIRFLOW_VAR_"];
const CONN_PREFIXES: [&str; 2] = ["LITHOFLOW_CONN_", "AIRFLOW_CONN_"];

/// The longest variable key (Airflow's `ID_LEN`-sized column, 250).
pub(crate) const MAX_KEY_LEN: usize = 250;
/// The longest conn_id the CLI and the API create (Airflow's `validate_key(.., 200)`).
pub(crate) const MAX_CONN_ID_LEN: usize = 200;

/// The environment, as the backend reads it.
pub(crate) trait Env {
    /// One variable.
    fn get(&self, name: &str) -> Option<String>;
    /// Every variable.
    fn all(&self) -> Vec<(String, String)>;
}

/// This process's environment.
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn all(&self) -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

/// The environment variable that defines variable `key`, with its value
/// (`LITHOFLOW_VAR_<KEY>` first, then Airflow's `AIRFLOW_VAR_<KEY>`; the key uppercased).
pub(crate) fn env_variable(env: &dyn Env, key: &str) -> Option<(String, String)> {
    VAR_PREFIXES.iter().find_map(|p| {
        let name = format!("{p}{}", key.to_uppercase());
        env.get(&name).map(|v| (name, v))
    })
}

/// The connection `conn_id` defined by the environment (`LITHOFLOW_CONN_<ID>`, then
/// `AIRFLOW_CONN_<ID>`): JSON when it starts with `{`, else a URI, as Airflow's
/// `BaseSecretsBackend.deserialize_connection`. The error never holds the value.
pub(crate) fn env_connection(
    env: &dyn Env,
    conn_id: &str,
) -> Result<Option<Connection>, ValuesError> {
    for p in CONN_PREFIXES {
        let name = format!("{p}{}", conn_id.to_uppercase());
        if let Some(v) = env.get(&name) {
            let v = v.trim();
            let read = if v.starts_with('{') {
                Connection::from_json(conn_id, v)
            } else {
                Connection::from_uri(conn_id, v)
            };
            return read
                .map(Some)
                .map_err(|message| ValuesError::Env { name, message });
        }
    }
    Ok(None)
}

/// `Variable.get(key)`: the environment, then the store; `None` when neither has it.
pub(crate) fn get_variable(store: &Store, key: &str) -> Result<Option<String>, ValuesError> {
    get_variable_in(&ProcessEnv, store, key)
}

/// [`get_variable`] in a given environment.
pub(crate) fn get_variable_in(
    env: &dyn Env,
    store: &Store,
    key: &str,
) -> Result<Option<String>, ValuesError> {
    if let Some((_, v)) = env_variable(env, key) {
        return Ok(Some(v));
    }
    Ok(store.variable(key)?.map(|v| v.value))
}

/// Refuses a variable key Airflow could not store: empty, or longer than 250 characters.
pub(crate) fn check_variable_key(key: &str) -> Result<(), ValuesError> {
    if key.is_empty() {
        return Err(ValuesError::Invalid("a variable's key is empty".to_owned()));
    }
    if key.chars().count() > MAX_KEY_LEN {
        return Err(ValuesError::Invalid(format!(
            "a variable's key has at most {MAX_KEY_LEN} characters, found {}",
            key.chars().count()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(ValuesError::Invalid(format!(
            "the variable key {key:?} holds a control character"
        )));
    }
    Ok(())
}

/// Airflow's `validate_key(conn_id, max_length=200)`: letters, digits, `_`, `.` and `-`.
pub(crate) fn check_conn_id(conn_id: &str) -> Result<(), ValuesError> {
    if conn_id.chars().count() > MAX_CONN_ID_LEN {
        return Err(ValuesError::Invalid(format!(
            "a conn_id has at most {MAX_CONN_ID_LEN} characters, found {}",
            conn_id.chars().count()
        )));
    }
    if conn_id.is_empty()
        || !conn_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(ValuesError::Invalid(format!(
            "the conn_id {conn_id:?} has to be made of alphanumeric characters, dashes, dots and underscores exclusively"
        )));
    }
    Ok(())
}

/// `Variable.set(key, value, description)`: stored (replacing the old value and
/// description). As Airflow's `check_for_write_conflict`, a warning is logged when the
/// environment defines the key, since it is the environment's value that is read.
pub(crate) fn set_variable(
    store: &Store,
    key: &str,
    value: &str,
    description: Option<&str>,
) -> Result<(), ValuesError> {
    check_variable_key(key)?;
    if let Some((name, _)) = env_variable(&ProcessEnv, key) {
        tracing::warn!(
            "variable {key:?} is defined by the environment variable {name}, which takes precedence over the \
             state store: the stored value is updated, but {name}'s is the one read"
        );
    }
    store.put_variable(&Variable {
        key: key.to_owned(),
        value: value.to_owned(),
        description: description.map(str::to_owned),
    })?;
    Ok(())
}

/// `Connection.get_connection_from_secrets(conn_id)`: the environment, then the store.
pub(crate) fn get_connection(
    store: &Store,
    conn_id: &str,
) -> Result<Option<Connection>, ValuesError> {
    get_connection_in(&ProcessEnv, store, conn_id)
}

/// [`get_connection`] in a given environment.
pub(crate) fn get_connection_in(
    env: &dyn Env,
    store: &Store,
    conn_id: &str,
) -> Result<Option<Connection>, ValuesError> {
    if let Some(c) = env_connection(env, conn_id)? {
        return Ok(Some(c));
    }
    Ok(store.connection(conn_id)?)
}

/// Whether the value under `name` is masked (Airflow's sensitive names and lithoflow's
/// own, `lithoflow_dag::redact`).
pub(crate) fn is_sensitive(name: &str) -> bool {
    lithoflow_dag::redact::is_sensitive_var_conn_name(name)
}

/// Airflow's `mask_secret(value, name)` walk: a string is a secret when it has no name or
/// a sensitive one; an object's values are named by their keys; a list's items by the
/// list's name.
pub(crate) fn sensitive_leaves(name: Option<&str>, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() && name.is_none_or(is_sensitive) => {
            out.push(s.clone());
        }
        Value::Object(m) => {
            for (k, item) in m {
                sensitive_leaves(Some(k), item, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                sensitive_leaves(name, item, out);
            }
        }
        _ => {}
    }
}

/// A JSON value as shown: strings under sensitive keys as `***`, credential-shaped parts
/// of other strings masked (`lithoflow_dag::redact`).
pub(crate) fn mask_json(v: &Value) -> Value {
    mask_json_named(None, v)
}

fn mask_json_named(name: Option<&str>, v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, item)| (k.clone(), mask_json_named(Some(k), item)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| mask_json_named(name, i)).collect())
        }
        Value::String(s) if name.is_some_and(is_sensitive) && !s.is_empty() => {
            Value::String(lithoflow_dag::redact::MASK.to_owned())
        }
        Value::String(s) => Value::String(lithoflow_dag::redact::redact_text(s)),
        other => other.clone(),
    }
}

/// A connection's extras as shown: [`mask_json`] of the object, or (text that is not a
/// JSON object) its credential-shaped parts masked.
pub(crate) fn shown_extra(extra: Option<&str>) -> Option<String> {
    let extra = extra?;
    Some(match serde_json::from_str::<Value>(extra) {
        Ok(v @ Value::Object(_)) => mask_json(&v).to_string(),
        _ => lithoflow_dag::redact::redact_text(extra),
    })
}

/// The secrets of variable `key` holding `value`: the whole value when the key is
/// sensitive, and (for a JSON value) what `mask_secret(json.loads(value), key)` masks.
pub(crate) fn variable_secrets(key: &str, value: &str, out: &mut Vec<String>) {
    if value.is_empty() {
        return;
    }
    if is_sensitive(key) {
        out.push(value.to_owned());
    }
    if let Ok(parsed @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(value) {
        sensitive_leaves(Some(key), &parsed, out);
    }
    // A secret of many lines is also masked line by line, as logs are written by line.
    let lines: Vec<String> = out
        .iter()
        .filter(|s| s.contains('\n'))
        .flat_map(|s| s.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    out.extend(lines.into_iter().filter(|l| !l.trim().is_empty()));
}

/// Every secret a task could be given: the values of sensitive variables and the
/// passwords and sensitive extras of connections, from the environment and the store.
/// What a try's log masks (Airflow masks what the task read; lithoflow masks all it could
/// have read, so a value read through any path stays hidden).
pub(crate) fn secret_masks(store: &Store) -> Result<Vec<String>, ValuesError> {
    // Read once per change to the variables and connections (every try's dispatch asks:
    // reading and decrypting them each time was 2% of a chain's CPU); the process's
    // environment does not change while it runs.
    let changes = store.values_changes();
    if let Some(masks) = store.kept_masks(changes) {
        return Ok(masks);
    }
    let masks = secret_masks_in(&ProcessEnv, store)?;
    store.keep_masks(changes, masks.clone());
    Ok(masks)
}

/// [`secret_masks`] in a given environment.
pub(crate) fn secret_masks_in(env: &dyn Env, store: &Store) -> Result<Vec<String>, ValuesError> {
    let mut out = Vec::new();
    for v in store.variables()? {
        variable_secrets(&v.key, &v.value, &mut out);
    }
    for c in store.connections()? {
        out.extend(c.secrets());
    }
    for (name, value) in env.all() {
        if let Some(key) = VAR_PREFIXES.iter().find_map(|p| name.strip_prefix(p)) {
            variable_secrets(key, &value, &mut out);
        } else if let Some(id) = CONN_PREFIXES.iter().find_map(|p| name.strip_prefix(p)) {
            // A value that does not read hides nothing it could give a task.
            if let Ok(Some(c)) = env_connection(env, &id.to_lowercase()) {
                out.extend(c.secrets());
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    Ok(out)
}

/// A value (an XCom value shown by `dags test` or the API) with the secrets a task could
/// have been given ([`secret_masks`]) masked in its strings. Kept as it is when the
/// secrets cannot be read.
pub(crate) fn mask_value(store: &Store, v: &Value) -> Value {
    let masks = secret_masks(store).unwrap_or_default();
    if masks.is_empty() {
        return v.clone();
    }
    let values: Vec<&str> = masks.iter().map(String::as_str).collect();
    mask_strings(v, &values)
}

fn mask_strings(v: &Value, masks: &[&str]) -> Value {
    match v {
        Value::String(s) => Value::String(lithoflow_dag::redact::mask_values(s, masks)),
        Value::Array(items) => Value::Array(items.iter().map(|i| mask_strings(i, masks)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, i)| (k.clone(), mask_strings(i, masks)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Templates' `var` and `conn`, read from the environment and the store.
pub(crate) struct StoreLookup(pub Arc<Store>);

impl lithoflow_dag::template_values::Lookup for StoreLookup {
    fn variable(&self, key: &str) -> Result<Option<String>, String> {
        get_variable(&self.0, key).map_err(|e| e.to_string())
    }

    fn connection(&self, conn_id: &str) -> Result<Option<Value>, String> {
        get_connection(&self.0, conn_id)
            .map(|c| c.map(|c| c.to_json()))
            .map_err(|e| e.to_string())
    }
}

/// Templates' `var` and `conn` for a command that holds no store (`tasks test`): the
/// environment, then the state store, opened only when a template names a value the
/// environment does not define.
pub(crate) struct OpenOnNeed {
    open: Box<dyn Fn() -> anyhow::Result<Arc<Store>> + Send + Sync>,
    store: std::sync::Mutex<Option<Arc<Store>>>,
}

impl OpenOnNeed {
    /// A lookup that calls `open` for the store the first time it is needed.
    pub(crate) fn new(
        open: impl Fn() -> anyhow::Result<Arc<Store>> + Send + Sync + 'static,
    ) -> OpenOnNeed {
        OpenOnNeed {
            open: Box::new(open),
            store: std::sync::Mutex::new(None),
        }
    }

    /// The store, opened now if it was not yet.
    pub(crate) fn store(&self) -> Result<Arc<Store>, String> {
        let mut cell = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = cell.as_ref() {
            return Ok(Arc::clone(s));
        }
        let store = (self.open)().map_err(|e| format!("{e:#}"))?;
        *cell = Some(Arc::clone(&store));
        Ok(store)
    }

    /// The secrets to mask: the environment's, and the store's when it was opened.
    pub(crate) fn secret_masks(&self) -> Vec<String> {
        let opened = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match opened {
            Some(store) => secret_masks(&store).unwrap_or_default(),
            None => {
                let mut out = Vec::new();
                for (name, value) in ProcessEnv.all() {
                    if let Some(key) = VAR_PREFIXES.iter().find_map(|p| name.strip_prefix(p)) {
                        variable_secrets(key, &value, &mut out);
                    } else if let Some(id) = CONN_PREFIXES.iter().find_map(|p| name.strip_prefix(p))
                        && let Ok(Some(c)) = env_connection(&ProcessEnv, &id.to_lowercase())
                    {
                        out.extend(c.secrets());
                    }
                }
                out
            }
        }
    }
}

impl lithoflow_dag::template_values::Lookup for OpenOnNeed {
    fn variable(&self, key: &str) -> Result<Option<String>, String> {
        if let Some((_, v)) = env_variable(&ProcessEnv, key) {
            return Ok(Some(v));
        }
        let store = self.store()?;
        get_variable(&store, key).map_err(|e| e.to_string())
    }

    fn connection(&self, conn_id: &str) -> Result<Option<Value>, String> {
        if let Some(c) = env_connection(&ProcessEnv, conn_id).map_err(|e| e.to_string())? {
            return Ok(Some(c.to_json()));
        }
        let store = self.store()?;
        StoreLookup(store).connection(conn_id)
    }
}

#[cfg(test)]
mod tests;
