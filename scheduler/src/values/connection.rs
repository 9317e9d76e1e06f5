//! Airflow's `Connection`: its fields, its URI form read and written exactly as
//! `airflow/models/connection.py` (Airflow 2.10.5; Airflow 3.1's task SDK keeps the same
//! rules) does (`_parse_from_uri`, `get_uri`, `from_json`, `as_json`, `to_dict`), the
//! dictionaries of connection files (`airflow/secrets/local_filesystem.py`,
//! `_create_connection`), and the values Airflow's secrets masker hides for it.

use serde_json::{Map, Value, json};

use super::uri::{self, py_json_dumps, py_repr};

/// A connection, with Airflow's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Connection {
    /// Its id.
    pub conn_id: String,
    /// The type (`postgres`, `http`, `aws`, ...; `""` for a URI without a scheme).
    pub conn_type: String,
    /// A description.
    pub description: Option<String>,
    /// The host (with its protocol when the URI held two, `https://example.com`).
    pub host: Option<String>,
    /// The schema (the database of most types; the URI's path).
    pub schema: Option<String>,
    /// The login.
    pub login: Option<String>,
    /// The password (encrypted at rest, never shown).
    pub password: Option<String>,
    /// The port.
    pub port: Option<u16>,
    /// Extra settings: a JSON object as text (encrypted at rest).
    pub extra: Option<String>,
}

/// The keys a connection's dictionary may hold (`get_connection_parameter_names()` and
/// `extra_dejson`, in a connection file; `conn_id` must then match its key).
const PARAMETERS: &[&str] = &[
    "conn_id",
    "conn_type",
    "description",
    "host",
    "login",
    "password",
    "schema",
    "port",
    "extra",
    "extra_dejson",
    "uri",
];

impl Connection {
    /// `_normalize_conn_type`: `postgresql` is `postgres`, `-` becomes `_`.
    fn normalize_conn_type(t: &str) -> String {
        if t == "postgresql" {
            "postgres".to_owned()
        } else {
            t.replace('-', "_")
        }
    }

    /// `Connection(conn_id=..., uri=...)`: a URI read as Airflow's `_parse_from_uri`
    /// reads it. The error says what is wrong with the URI (without the URI, which may
    /// hold a password).
    pub(crate) fn from_uri(conn_id: &str, uri_text: &str) -> Result<Connection, String> {
        let schemes = uri_text.matches("://").count();
        if schemes > 2 {
            return Err("invalid connection URI: more than two `://`".to_owned());
        }
        let host_with_protocol = schemes == 2;
        let first = uri::urlsplit(uri_text)?;
        let conn_type = first.scheme.clone();
        let rest = uri_text.replace(
            &format!("{conn_type}://"),
            if host_with_protocol { "" } else { "//" },
        );
        if host_with_protocol
            && let Some((protocol_part, _)) = rest.split_once("://")
            && (protocol_part.contains('@') || protocol_part.contains(':'))
        {
            return Err(
                "invalid connection URI: a login or port before the host's protocol".to_owned(),
            );
        }
        let parts = uri::urlsplit(&rest)?;
        let protocol = host_with_protocol.then(|| parts.scheme.clone());
        // `_parse_netloc_to_hostname`: a host holding `/` once unquoted is taken from the
        // netloc as written (not lowercased).
        let mut host = uri::unquote(parts.hostname().as_deref().unwrap_or(""));
        if host.contains('/') {
            let mut h = parts.netloc.as_str();
            if let Some((_, after)) = h.rsplit_once('@') {
                h = after;
            }
            if let Some((before, _)) = h.split_once(':') {
                h = before;
            }
            host = uri::unquote(h);
        }
        let host = match protocol {
            Some(p) if !host.is_empty() => format!("{p}://{host}"),
            _ => host,
        };
        let quoted_schema = parts.path.get(1..).unwrap_or("");
        let extra = if parts.query.is_empty() {
            None
        } else {
            let mut query: Map<String, Value> = Map::new();
            for (k, v) in uri::parse_qsl(&parts.query) {
                query.insert(k, Value::String(v));
            }
            Some(match query.get("__extra__") {
                Some(Value::String(e)) => e.clone(),
                _ => py_json_dumps(&Value::Object(query)),
            })
        };
        Ok(Connection {
            conn_id: conn_id.to_owned(),
            conn_type: Connection::normalize_conn_type(&conn_type),
            description: None,
            host: Some(host),
            schema: Some(uri::unquote(quoted_schema)),
            login: parts.username().map(uri::unquote),
            password: parts.password().map(uri::unquote),
            port: parts.port()?,
            extra,
        })
    }

    /// `Connection.from_json(value, conn_id)`: a JSON object with Airflow's keyword
    /// arguments (`conn_type`, `host`, `login`, `password`, `schema`, `port`, `extra` as
    /// an object or text, `description`; or `uri`).
    pub(crate) fn from_json(conn_id: &str, text: &str) -> Result<Connection, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("the connection's JSON does not parse: {e}"))?;
        let Value::Object(map) = value else {
            return Err(format!(
                "the connection's JSON must be an object, found {}",
                kind(&value)
            ));
        };
        Connection::from_kwargs(conn_id, map, true)
    }

    /// A connection file's entry (`_create_connection`): a URI string or a dictionary
    /// (with `extra` or `extra_dejson`, and a `conn_id` that must match).
    pub(crate) fn from_file_entry(conn_id: &str, value: &Value) -> Result<Connection, String> {
        match value {
            Value::String(u) => Connection::from_uri(conn_id, u),
            Value::Object(map) => {
                let mut map = map.clone();
                if map.contains_key("extra") && map.contains_key("extra_dejson") {
                    return Err("`extra` and `extra_dejson` are mutually exclusive".to_owned());
                }
                if let Some(e) = map.remove("extra_dejson") {
                    map.insert("extra".to_owned(), Value::String(py_json_dumps(&e)));
                }
                match map.remove("conn_id") {
                    Some(Value::String(id)) if id != conn_id => {
                        return Err(format!("its `conn_id` is {id:?}, not its key {conn_id:?}"));
                    }
                    _ => {}
                }
                Connection::from_kwargs(conn_id, map, false)
            }
            other => Err(format!(
                "a connection is a URI string or an object, found {}",
                kind(other)
            )),
        }
    }

    /// `Connection(conn_id, **kwargs)`; `from_json` also normalizes the type and reads
    /// a port given as text.
    fn from_kwargs(
        conn_id: &str,
        mut map: Map<String, Value>,
        as_from_json: bool,
    ) -> Result<Connection, String> {
        if let Some(bad) = map.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
            return Err(format!(
                "unknown connection field {bad:?}; expected one of {}",
                PARAMETERS.join(", ")
            ));
        }
        let text = |map: &mut Map<String, Value>, k: &str| -> Result<Option<String>, String> {
            match map.remove(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!(
                    "connection field `{k}` must be a string, found {}",
                    kind(&other)
                )),
            }
        };
        let description = text(&mut map, "description")?;
        if let Some(u) = text(&mut map, "uri")? {
            if let Some(k) = map.iter().find(|(_, v)| !v.is_null()).map(|(k, _)| k) {
                return Err(format!(
                    "a connection is given by its `uri` or by its fields, not both (found `uri` and `{k}`)"
                ));
            }
            let mut c = Connection::from_uri(conn_id, &u)?;
            c.description = description;
            return Ok(c);
        }
        let extra = match map.remove("extra") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s),
            Some(v) if is_falsy(&v) => None,
            Some(v) => Some(py_json_dumps(&v)),
        };
        let port = match map.remove("port") {
            None | Some(Value::Null) => None,
            Some(v) if as_from_json && is_falsy(&v) => None,
            Some(Value::Number(n)) => Some(port_of(&n.to_string())?),
            Some(Value::String(s)) => Some(port_of(s.trim())?),
            Some(other) => {
                return Err(format!(
                    "connection field `port` must be an integer, found {}",
                    kind(&other)
                ));
            }
        };
        let conn_type = text(&mut map, "conn_type")?.unwrap_or_default();
        let conn_type = if as_from_json && !conn_type.is_empty() {
            Connection::normalize_conn_type(&conn_type)
        } else {
            conn_type
        };
        Ok(Connection {
            conn_id: conn_id.to_owned(),
            conn_type,
            description,
            host: text(&mut map, "host")?,
            schema: text(&mut map, "schema")?,
            login: text(&mut map, "login")?,
            password: text(&mut map, "password")?,
            port,
            extra,
        })
    }

    /// `get_uri()`, exactly as Airflow writes it: the type with `_` as `-`, the login and
    /// password quoted, a host's protocol kept before it, the schema as the path, and the
    /// extras as the query when they are an object of strings, else as `__extra__`.
    pub(crate) fn get_uri(&self) -> String {
        let mut out = if self.conn_type.is_empty() {
            "//".to_owned()
        } else {
            format!("{}://", self.conn_type.to_lowercase().replace('_', "-"))
        };
        let (protocol, host) = match self.host.as_deref() {
            Some(h) if h.contains("://") => match h.split_once("://") {
                Some((p, rest)) => (Some(p), Some(rest)),
                None => (None, Some(h)),
            },
            other => (None, other),
        };
        if let Some(p) = protocol {
            out.push_str(p);
            out.push_str("://");
        }
        let mut authority = String::new();
        if let Some(login) = &self.login {
            authority.push_str(&uri::quote(login));
        }
        if let Some(password) = &self.password {
            authority.push(':');
            authority.push_str(&uri::quote(password));
        }
        if !authority.is_empty() {
            authority.push('@');
            out.push_str(&authority);
        }
        let mut host_block = String::new();
        if let Some(h) = host.filter(|h| !h.is_empty()) {
            host_block.push_str(&uri::quote(h));
        }
        if let Some(port) = self.port.filter(|p| *p != 0) {
            if host_block.is_empty() && authority.is_empty() {
                host_block.push_str(&format!("@:{port}"));
            } else {
                host_block.push_str(&format!(":{port}"));
            }
        }
        let has_schema = self.schema.as_deref().is_some_and(|s| !s.is_empty());
        if let Some(schema) = self.schema.as_deref().filter(|s| !s.is_empty()) {
            host_block.push('/');
            host_block.push_str(&uri::quote(schema));
        }
        out.push_str(&host_block);
        if let Some(extra) = self.extra.as_deref().filter(|e| !e.is_empty()) {
            out.push_str(if has_schema { "?" } else { "/?" });
            let dejson = self.extra_dejson();
            // `urlencode(extra_dejson)` round-trips through `parse_qsl` only when every
            // value is a string; otherwise (and for `{}`) the text goes as `__extra__`.
            let strings: Option<Vec<(&str, &str)>> = dejson
                .iter()
                .map(|(k, v)| v.as_str().map(|s| (k.as_str(), s)))
                .collect();
            match strings {
                Some(pairs) if !pairs.is_empty() && is_object(extra) => {
                    out.push_str(&uri::urlencode(pairs));
                }
                _ => out.push_str(&uri::urlencode([("__extra__", extra)])),
            }
        }
        out
    }

    /// `extra_dejson`: the extras as an object (`{}` when there are none or they are not
    /// a JSON object, as Airflow logs and goes on).
    pub(crate) fn extra_dejson(&self) -> Map<String, Value> {
        match self.extra.as_deref().map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(m))) => m,
            _ => Map::new(),
        }
    }

    /// The connection as templates and the task runtime see it: every field,
    /// `extra_dejson` and `uri` (`get_uri()`).
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "conn_id": self.conn_id,
            "conn_type": self.conn_type,
            "description": self.description,
            "host": self.host,
            "schema": self.schema,
            "login": self.login,
            "password": self.password,
            "port": self.port,
            "extra": self.extra,
            "extra_dejson": self.extra_dejson(),
            "uri": self.get_uri(),
        })
    }

    /// The entry of a `connections export` JSON file (`_connection_to_dict`; the
    /// password included, as Airflow writes it: the file is the user's own).
    pub(crate) fn export_dict(&self) -> Value {
        json!({
            "conn_type": self.conn_type,
            "description": self.description,
            "login": self.login,
            "password": self.password,
            "host": self.host,
            "port": self.port,
            "schema": self.schema,
            "extra": self.extra,
        })
    }

    /// What Airflow's secrets masker hides once this connection is loaded: the password
    /// and its quoted form (as it appears in the URI), and the values under sensitive
    /// keys of the extras (`mask_secret(extra_dejson)`).
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = self.password.as_deref().filter(|p| !p.is_empty()) {
            out.push(p.to_owned());
            let q = uri::quote(p);
            if q != p {
                out.push(q);
            }
        }
        super::sensitive_leaves(None, &Value::Object(self.extra_dejson()), &mut out);
        out
    }
}

fn is_object(extra: &str) -> bool {
    matches!(serde_json::from_str::<Value>(extra), Ok(Value::Object(_)))
}

/// Python's falsiness of a JSON value (`if extra:`, `if port:`).
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn port_of(s: &str) -> Result<u16, String> {
    s.parse::<u16>().map_err(|_| {
        format!(
            "Expected integer value for `port` (0-65535), but got {} instead.",
            py_repr(s)
        )
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(u: &str) -> Connection {
        Connection::from_uri("c", u).expect("parses")
    }

    #[test]
    fn uris_parse_as_airflow_parses_them() {
        // Expected values: Airflow 2.10.5's Connection(uri=...) in CPython 3.12.
        let c = uri(
            "postgresql://User%40x:p%40ss%2Fw@DB.example.com:5432/my%2Fdb?sslmode=require&x=a+b",
        );
        assert_eq!(c.conn_type, "postgres");
        assert_eq!(c.login.as_deref(), Some("User@x"));
        assert_eq!(c.password.as_deref(), Some("p@ss/w"));
        assert_eq!(c.host.as_deref(), Some("db.example.com"));
        assert_eq!(c.port, Some(5432));
        assert_eq!(c.schema.as_deref(), Some("my/db"));
        assert_eq!(
            c.extra.as_deref(),
            Some(r#"{"sslmode": "require", "x": "a b"}"#)
        );
        let e = uri("my-conn-type://h?__extra__=%7B%22a%22%3A+1%7D");
        assert_eq!(e.conn_type, "my_conn_type");
        assert_eq!(e.extra.as_deref(), Some(r#"{"a": 1}"#));
        assert_eq!(e.schema.as_deref(), Some(""));
        assert_eq!(e.login, None);
        let p = uri("http://https://Example.com/path");
        assert_eq!(p.host.as_deref(), Some("https://example.com"));
        assert_eq!(p.schema.as_deref(), Some("path"));
        let slash = uri("fs://%2Ftmp%2FDir");
        assert_eq!(slash.host.as_deref(), Some("/tmp/Dir"));
        assert!(Connection::from_uri("c", "a://b://c://d").is_err());
        assert!(Connection::from_uri("c", "http://u:p@https://h").is_err());
        let empty_login = uri("x://@h");
        assert_eq!(empty_login.login.as_deref(), Some(""));
        assert_eq!(empty_login.password, None);
    }

    #[test]
    fn get_uri_writes_what_airflow_writes() {
        let c = uri("postgres://u:p%40ss@h:5432/db?sslmode=require");
        assert_eq!(c.get_uri(), "postgres://u:p%40ss@h:5432/db?sslmode=require");
        let c = Connection {
            conn_id: "c".into(),
            conn_type: "google_cloud_platform".into(),
            extra: Some(r#"{"n": 1, "s": "x"}"#.into()),
            ..Connection::default()
        };
        assert_eq!(
            c.get_uri(),
            "google-cloud-platform:///?__extra__=%7B%22n%22%3A+1%2C+%22s%22%3A+%22x%22%7D"
        );
        let c = Connection {
            conn_type: "http".into(),
            host: Some("https://api.example.com".into()),
            password: Some("a b".into()),
            port: Some(443),
            extra: Some("{}".into()),
            ..Connection::default()
        };
        assert_eq!(
            c.get_uri(),
            "http://https://:a%20b@api.example.com:443/?__extra__=%7B%7D"
        );
        let c = Connection {
            conn_type: "x".into(),
            port: Some(80),
            ..Connection::default()
        };
        assert_eq!(c.get_uri(), "x://@:80");
        // Round trip.
        let back = uri(&uri("mysql://a%3Ab:c%3Ad@h/s?k=v+w&e=").get_uri());
        assert_eq!(back.login.as_deref(), Some("a:b"));
        assert_eq!(back.password.as_deref(), Some("c:d"));
        assert_eq!(back.extra.as_deref(), Some(r#"{"k": "v w", "e": ""}"#));
    }

    #[test]
    fn json_and_file_entries_read_as_airflow_reads_them() {
        let c = Connection::from_json(
            "c",
            r#"{"conn_type": "postgresql", "host": "h", "port": "5432", "password": "pw", "extra": {"a": [1]}}"#,
        )
        .expect("reads");
        assert_eq!(c.conn_type, "postgres");
        assert_eq!(c.port, Some(5432));
        assert_eq!(c.extra.as_deref(), Some(r#"{"a": [1]}"#));
        let err = Connection::from_json("c", r#"{"conn_type": "x", "hots": "h"}"#)
            .expect_err("unknown key");
        assert!(err.contains("\"hots\""), "{err}");
        let err = Connection::from_json("c", r#"{"port": "x"}"#).expect_err("bad port");
        assert!(err.contains("'x'"), "{err}");
        let f = Connection::from_file_entry(
            "c",
            &json!({"conn_type": "http", "extra_dejson": {"token": "t"}}),
        )
        .expect("reads");
        assert_eq!(f.extra.as_deref(), Some(r#"{"token": "t"}"#));
        assert!(Connection::from_file_entry("c", &json!({"conn_id": "other"})).is_err());
        assert!(Connection::from_file_entry("c", &json!({"uri": "x://h", "host": "y"})).is_err());
    }

    #[test]
    fn secrets_are_the_password_its_quoted_form_and_sensitive_extras() {
        let c = Connection {
            password: Some("p@ss word".into()),
            extra: Some(
                r#"{"api_key": "k123", "region": "eu", "nested": {"token": "t456"}}"#.into(),
            ),
            ..Connection::default()
        };
        let s = c.secrets();
        assert!(s.contains(&"p@ss word".to_owned()));
        assert!(s.contains(&"p%40ss%20word".to_owned()));
        assert!(s.contains(&"k123".to_owned()));
        assert!(s.contains(&"t456".to_owned()));
        assert!(!s.contains(&"eu".to_owned()));
    }
}
