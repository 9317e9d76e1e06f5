//! Values Airflow reads while it parses a DAG file, from its metadata database:
//! `Variable.get("k")` and `BaseHook.get_connection("id").host`. lithoflow never runs the
//! file, so each becomes the template that reads the same value when the task runs
//! (`{{ var.value.k }}`, `{{ conn.id.host }}`), as Airflow's own best practices tell users
//! to write it ("Airflow Variables" in Airflow's best-practices guide); where the value
//! lands in a setting that is not templated, the converter reports it.

use crate::value::{Eval, EvalError, Span, Value};

/// The fields of Airflow's `Connection` that lithoflow's `conn` template gives.
const CONN_FIELDS: &[&str] = &[
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
];

/// A name as a Jinja attribute (`.k`) when it is an identifier, else as `['k']`.
fn jinja_key(key: &str) -> String {
    let ident = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        format!(".{key}")
    } else {
        format!("[{}]", jinja_str(key))
    }
}

/// A string as a single-quoted Jinja literal.
fn jinja_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A default value as a Jinja literal, where it has one.
fn jinja_literal(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => jinja_str(s),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::None => "none".into(),
        Value::List(items) | Value::Tuple(items) => {
            let items: Option<Vec<String>> = items.iter().map(jinja_literal).collect();
            format!("[{}]", items?.join(", "))
        }
        Value::Dict(items) => {
            let items: Option<Vec<String>> = items
                .iter()
                .map(|(k, v)| Some(format!("{}: {}", jinja_literal(k)?, jinja_literal(v)?)))
                .collect();
            format!("{{{}}}", items?.join(", "))
        }
        _ => return None,
    })
}

/// `Variable.get(key, default_var=..., deserialize_json=...)` (Airflow 3's `default=`
/// too), as the template that reads the variable when the task runs.
pub(crate) fn variable_get(pos: Vec<Value>, kws: Vec<(String, Value)>, span: &Span) -> Eval {
    let fail = |m: String| Err(EvalError::new(span.clone(), m));
    let mut key = None;
    let mut default = None;
    let mut json = false;
    for (i, v) in pos.into_iter().enumerate() {
        match i {
            0 => key = Some(v),
            1 => default = Some(v),
            2 => json = matches!(v, Value::Bool(true)),
            _ => return fail("Variable.get takes at most three arguments".into()),
        }
    }
    for (name, v) in kws {
        match name.as_str() {
            "key" => key = Some(v),
            "default_var" | "default" => default = Some(v),
            "deserialize_json" => match v {
                Value::Bool(b) => json = b,
                other => {
                    return fail(format!(
                        "Variable.get's deserialize_json must be True or False, found a {}",
                        other.type_name()
                    ));
                }
            },
            other => return fail(format!("Variable.get has no argument `{other}`")),
        }
    }
    let Some(Value::Str(key)) = key else {
        return fail("Variable.get needs the variable's key as a string".into());
    };
    let accessor = if json { "json" } else { "value" };
    let template = match &default {
        None => format!("{{{{ var.{accessor}{} }}}}", jinja_key(&key)),
        Some(d) => {
            let Some(lit) = jinja_literal(d) else {
                return fail(format!(
                    "Variable.get({key:?}) has a default that is a {}, which a template cannot hold",
                    d.type_name()
                ));
            };
            format!("{{{{ var.{accessor}.get({}, {lit}) }}}}", jinja_str(&key))
        }
    };
    let what = format!(
        "Variable.get({key:?}{}{})",
        if default.is_some() {
            ", default_var=..."
        } else {
            ""
        },
        if json { ", deserialize_json=True" } else { "" }
    );
    Ok(Value::Runtime { template, what })
}

/// `BaseHook.get_connection(conn_id)`: a connection whose fields read it at run time.
pub(crate) fn get_connection(pos: Vec<Value>, kws: Vec<(String, Value)>, span: &Span) -> Eval {
    let id = pos.into_iter().next().or_else(|| {
        kws.into_iter()
            .find(|(k, _)| k == "conn_id")
            .map(|(_, v)| v)
    });
    match id {
        Some(Value::Str(id)) => Ok(Value::Conn(id)),
        _ => Err(EvalError::new(
            span.clone(),
            "BaseHook.get_connection needs the connection id as a string",
        )),
    }
}

/// `connection.host` and the other fields, as templates.
pub(crate) fn conn_attr(id: &str, name: &str, span: &Span) -> Eval {
    if !CONN_FIELDS.contains(&name) {
        return Err(EvalError::new(
            span.clone(),
            format!(
                "`.{name}` of a connection is not one of the fields a template reads ({})",
                CONN_FIELDS.join(", ")
            ),
        ));
    }
    Ok(conn_template(id, name))
}

/// `{{ conn.id.field }}` (`field` may be a call: `get_uri()`).
pub(crate) fn conn_template(id: &str, field: &str) -> Value {
    Value::Runtime {
        template: format!("{{{{ conn{}.{field} }}}}", jinja_key(id)),
        what: format!("BaseHook.get_connection({id:?}).{field}"),
    }
}

/// The error for a value read while parsing that lands where no template is rendered.
pub(crate) fn not_templated(what: &str, template: &str, setting: &str) -> String {
    format!(
        "{setting}: `{what}` is read when Airflow parses the DAG file, and {setting} is not a templated field, so lithoflow cannot read it when the task runs; write the value itself in the TOML (or pass the template {template:?} in a templated field: op_args, op_kwargs, templates_dict, bash_command, env)"
    )
}
