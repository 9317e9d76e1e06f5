//! Airflow's `var` and `conn` in templates: `{{ var.value.KEY }}`,
//! `{{ var.value.get('KEY', 'default') }}`, `{{ var.json.KEY.path }}`,
//! `{{ var.json.get('KEY', {}) }}`, `{{ conn.ID.host }}` (and `login`, `password`,
//! `schema`, `port`, `extra`, `extra_dejson`, `conn_type`, `description`, `conn_id`,
//! `get_uri()`), `{{ conn.get('ID') }}`, as Airflow's `VariableAccessor` and
//! `ConnectionAccessor` (`airflow/utils/context.py`, Airflow 2.10.5; the same in Airflow
//! 3.1's task SDK) give them.
//!
//! Values are read lazily through a [`Lookup`], which the scheduler implements over its
//! store and the environment: only what a template names is read. A missing variable or
//! connection is an error naming it (Airflow raises `KeyError` and
//! `AirflowNotFoundException`), never an empty string.
//!
//! Pure: the lookup is given.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Error, ErrorKind, State, Value as J};
use serde_json::Value;

/// Where templates read variables and connections.
pub trait Lookup: Send + Sync {
    /// A variable's value, `None` when it is not defined.
    fn variable(&self, key: &str) -> Result<Option<String>, String>;
    /// A connection as JSON (Airflow's fields, `extra_dejson`, and `uri` for `get_uri()`),
    /// `None` when it is not defined.
    fn connection(&self, conn_id: &str) -> Result<Option<Value>, String>;
}

/// The `var` and `conn` objects over `lookup`, to add to a template's context.
pub fn globals(lookup: Arc<dyn Lookup>) -> [(&'static str, J); 2] {
    [
        ("var", J::from_object(VarRoot(Arc::clone(&lookup)))),
        ("conn", J::from_object(ConnAccessor(lookup))),
    ]
}

fn failed(message: String) -> J {
    J::from(Error::new(ErrorKind::InvalidOperation, message))
}

impl std::fmt::Debug for dyn Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lookup")
    }
}

/// An accessor of things by name (`var.value`, `var.json`, `conn`): `acc.NAME` fails
/// when NAME is not defined; `acc.get(NAME, default)` gives the default.
trait Named {
    /// How `get` is called, for a call with the wrong arguments.
    const GET_USAGE: &'static str;
    /// What a name must be.
    const NAME_KIND: &'static str;
    /// Whether `get(NAME)` without a default fails when NAME is not defined (else none).
    const MISSING_IS_AN_ERROR: bool;
    /// The value named `name`, `None` when it is not defined.
    fn read(&self, name: &str) -> Result<Option<J>, Error>;
    /// The error for a name that is not defined.
    fn missing(&self, name: &str) -> String;
}

/// `acc.NAME`: its value, or the error naming it.
fn by_name<T: Named>(acc: &T, key: &J) -> Option<J> {
    let name = key.as_str()?;
    Some(match acc.read(name) {
        Ok(Some(v)) => v,
        Ok(None) => failed(acc.missing(name)),
        Err(e) => J::from(e),
    })
}

/// `acc.get(NAME)` and `acc.get(NAME, default)`.
fn call_get<T: Named>(acc: &T, method: &str, args: &[J]) -> Result<J, Error> {
    if method != "get" {
        return Err(Error::from(ErrorKind::UnknownMethod));
    }
    let (name, default) = match args {
        [name] => (name, None),
        [name, default] => (name, Some(default)),
        _ => return Err(Error::new(ErrorKind::InvalidOperation, T::GET_USAGE)),
    };
    let name = name
        .as_str()
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, T::NAME_KIND))?;
    match (acc.read(name)?, default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.clone()),
        (None, None) if T::MISSING_IS_AN_ERROR => {
            Err(Error::new(ErrorKind::InvalidOperation, acc.missing(name)))
        }
        (None, None) => Ok(J::from(())),
    }
}

/// `var`: `var.value` and `var.json`.
#[derive(Debug)]
struct VarRoot(Arc<dyn Lookup>);

impl Object for VarRoot {
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        let json = match key.as_str()? {
            "value" => false,
            "json" => true,
            _ => return None,
        };
        Some(J::from_object(VarAccessor {
            lookup: Arc::clone(&self.0),
            json,
        }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["value", "json"])
    }
}

/// `var.value` (strings) or `var.json` (values read as JSON).
#[derive(Debug)]
struct VarAccessor {
    lookup: Arc<dyn Lookup>,
    json: bool,
}

impl Named for VarAccessor {
    const GET_USAGE: &'static str =
        "var.value.get and var.json.get take a key and an optional default";
    const NAME_KIND: &'static str = "a variable's key is a string";
    const MISSING_IS_AN_ERROR: bool = true;

    fn read(&self, key: &str) -> Result<Option<J>, Error> {
        let value = self
            .lookup
            .variable(key)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
        let Some(value) = value else {
            return Ok(None);
        };
        if !self.json {
            return Ok(Some(J::from(value)));
        }
        let parsed: Value = serde_json::from_str(&value).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("variable {key:?} is not JSON ({e}), read by var.json"),
            )
        })?;
        Ok(Some(J::from_serialize(parsed)))
    }

    fn missing(&self, key: &str) -> String {
        format!("variable {key:?} does not exist (Airflow raises KeyError)")
    }
}

impl Object for VarAccessor {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        by_name(self.as_ref(), key)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[J],
    ) -> Result<J, Error> {
        call_get(self.as_ref(), method, args)
    }
}

/// `conn`: `conn.ID` and `conn.get('ID', default_conn)`.
#[derive(Debug)]
struct ConnAccessor(Arc<dyn Lookup>);

impl Named for ConnAccessor {
    const GET_USAGE: &'static str = "conn.get takes a conn_id and an optional default_conn";
    const NAME_KIND: &'static str = "a conn_id is a string";
    // Airflow's `ConnectionAccessor.get(key, default_conn=None)`.
    const MISSING_IS_AN_ERROR: bool = false;

    fn read(&self, conn_id: &str) -> Result<Option<J>, Error> {
        let found = self
            .0
            .connection(conn_id)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
        Ok(found.map(|v| J::from_object(ConnObject(v))))
    }

    fn missing(&self, conn_id: &str) -> String {
        format!("the conn_id {conn_id:?} isn't defined (Airflow raises AirflowNotFoundException)")
    }
}

impl Object for ConnAccessor {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        by_name(self.as_ref(), key)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[J],
    ) -> Result<J, Error> {
        call_get(self.as_ref(), method, args)
    }
}

/// One connection: its fields, and `get_uri()`.
#[derive(Debug)]
struct ConnObject(Value);

/// The fields a template may read.
const CONN_FIELDS: &[&str] = &[
    "conn_id",
    "conn_type",
    "description",
    "host",
    "schema",
    "login",
    "password",
    "port",
    "extra",
    "extra_dejson",
];

impl Object for ConnObject {
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        let key = key.as_str()?;
        if !CONN_FIELDS.contains(&key) {
            return None;
        }
        Some(J::from_serialize(self.0.get(key).unwrap_or(&Value::Null)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(CONN_FIELDS)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[J],
    ) -> Result<J, Error> {
        if !args.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{method}() takes no arguments"),
            ));
        }
        let field = match method {
            "get_uri" => "uri",
            "get_password" => "password",
            "get_extra" => "extra",
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        };
        Ok(J::from_serialize(self.0.get(field).unwrap_or(&Value::Null)))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Airflow's `str(conn)` is its conn_id.
        f.write_str(self.0.get("conn_id").and_then(Value::as_str).unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Context, render_with};
    use chrono::TimeZone;
    use serde_json::json;
    use std::sync::Mutex;

    /// Variables and connections in memory, recording what was read.
    struct Fixed {
        read: Mutex<Vec<String>>,
    }

    impl Lookup for Fixed {
        fn variable(&self, key: &str) -> Result<Option<String>, String> {
            self.read
                .lock()
                .map_err(|e| e.to_string())?
                .push(key.to_owned());
            Ok(match key {
                "bucket" => Some("my-bucket".into()),
                "cfg" => Some(r#"{"a": {"b": [1, 2]}, "s": "x"}"#.into()),
                "broken" => Some("{".into()),
                _ => None,
            })
        }

        fn connection(&self, conn_id: &str) -> Result<Option<Value>, String> {
            Ok((conn_id == "db").then(|| {
                json!({"conn_id": "db", "conn_type": "postgres", "host": "h", "login": "u",
                       "password": "pw", "schema": "s", "port": 5432, "extra": "{\"k\": \"v\"}",
                       "extra_dejson": {"k": "v"}, "uri": "postgres://u:pw@h:5432/s?k=v",
                       "description": null})
            }))
        }
    }

    fn ctx() -> Context {
        let d = chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        Context::new("d", "t", "r", d)
    }

    fn render(t: &str) -> Result<Value, String> {
        let lookup: Arc<dyn Lookup> = Arc::new(Fixed {
            read: Mutex::new(Vec::new()),
        });
        render_with(&json!(t), &ctx(), lookup)
    }

    #[test]
    fn variables_render_as_in_airflow() {
        assert_eq!(render("{{ var.value.bucket }}"), Ok(json!("my-bucket")));
        assert_eq!(
            render("{{ var.value['bucket'] }}/{{ ds }}"),
            Ok(json!("my-bucket/2026-01-01"))
        );
        assert_eq!(
            render("{{ var.json.cfg.a.b[1] }} {{ var.json.cfg.s }}"),
            Ok(json!("2 x"))
        );
        assert_eq!(
            render("{{ var.value.get('nope', 'dflt') }}"),
            Ok(json!("dflt"))
        );
        assert_eq!(
            render("{{ var.value.get('bucket', 'dflt') }}"),
            Ok(json!("my-bucket"))
        );
        assert_eq!(
            render("{{ var.json.get('nope', {'x': 3}).x }}"),
            Ok(json!("3"))
        );
        let err = render("{{ var.value.nope }}").expect_err("missing");
        assert!(err.contains("variable \"nope\" does not exist"), "{err}");
        let err = render("{{ var.value.get('nope') }}").expect_err("missing");
        assert!(err.contains("variable \"nope\" does not exist"), "{err}");
        let err = render("{{ var.json.broken }}").expect_err("not json");
        assert!(err.contains("variable \"broken\" is not JSON"), "{err}");
    }

    #[test]
    fn connections_render_as_in_airflow() {
        assert_eq!(
            render(
                "{{ conn.db.host }}:{{ conn.db.port }} {{ conn.db.login }} {{ conn.db.schema }} {{ conn.db.conn_type }}"
            ),
            Ok(json!("h:5432 u s postgres"))
        );
        assert_eq!(render("{{ conn.db.password }}"), Ok(json!("pw")));
        assert_eq!(render("{{ conn.db.extra_dejson.k }}"), Ok(json!("v")));
        assert_eq!(
            render("{{ conn.db.get_uri() }}"),
            Ok(json!("postgres://u:pw@h:5432/s?k=v"))
        );
        assert_eq!(render("{{ conn.get('nope') is none }}"), Ok(json!("True")));
        assert_eq!(render("{{ conn.get('db').host }}"), Ok(json!("h")));
        let err = render("{{ conn.nope.host }}").expect_err("missing");
        assert!(err.contains("the conn_id \"nope\" isn't defined"), "{err}");
    }

    #[test]
    fn only_the_named_variables_are_read() {
        let fixed = Arc::new(Fixed {
            read: Mutex::new(Vec::new()),
        });
        let lookup: Arc<dyn Lookup> = Arc::clone(&fixed) as Arc<dyn Lookup>;
        render_with(
            &json!(["{{ var.value.bucket }}", "{{ ds }}"]),
            &ctx(),
            lookup,
        )
        .expect("renders");
        assert_eq!(*fixed.read.lock().expect("lock"), vec!["bucket".to_owned()]);
    }
}
