//! Assets in a DAG file, as the static evaluator builds them: `Asset(...)` (Airflow 3),
//! `Dataset(...)` (Airflow 2), the conditions `AssetAll`/`AssetAny` (`DatasetAll`/
//! `DatasetAny`) and the `&`/`|` operators on them; also `datetime.time(...)`, which a
//! `TimeSensor` takes. Plain functions of values, called from `eval`.

use rustpython_parser::ast;

use crate::value::{AssetExpr, Eval, EvalError, Span, Value};

fn err(span: &Span, message: impl Into<String>) -> EvalError {
    EvalError::new(span.clone(), message)
}

/// `Asset(name, uri, group=, extra=)` (Airflow 3: the first positional argument is the
/// name, and a name alone is also the URI) or `Dataset(uri, extra=)` (Airflow 2).
pub(crate) fn make_asset(class: &str, pos: &[Value], kws: &[(String, Value)], span: &Span) -> Eval {
    let dataset = class == "Dataset";
    let order: &[&str] = if dataset {
        &["uri", "extra"]
    } else {
        &["name", "uri"]
    };
    if pos.len() > order.len() {
        return Err(err(
            span,
            format!("{class} takes at most {} positional arguments", order.len()),
        ));
    }
    let mut args: Vec<(String, Value)> = order
        .iter()
        .zip(pos)
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    args.extend(kws.iter().cloned());
    let get = |n: &str| args.iter().rev().find(|(k, _)| k == n).map(|(_, v)| v);
    let text = |n: &str| -> Result<Option<String>, EvalError> {
        match get(n) {
            None | Some(Value::None) => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(other) => Err(err(
                span,
                format!(
                    "{class}'s `{n}` must be a string, found a {}",
                    other.type_name()
                ),
            )),
        }
    };
    for (k, _) in &args {
        if !matches!(k.as_str(), "name" | "uri" | "group" | "extra") {
            let why = if k == "watchers" {
                "asset watchers (event-driven scheduling) are not supported".to_owned()
            } else {
                format!("`{k}` is not an argument lithoflow's assets have")
            };
            return Err(err(span, format!("{class}({k}=...): {why}")));
        }
    }
    let name = text("name")?;
    let uri = text("uri")?;
    let group = text("group")?.filter(|g| g != "asset");
    let extra = match get("extra") {
        None | Some(Value::None) => None,
        Some(Value::Dict(d)) if d.is_empty() => None,
        Some(v @ Value::Dict(_)) => Some(Box::new(v.clone())),
        Some(other) => {
            return Err(err(
                span,
                format!(
                    "{class}'s `extra` must be a dict, found a {}",
                    other.type_name()
                ),
            ));
        }
    };
    let (uri, name) = match (uri, name) {
        (Some(u), Some(n)) if u == n => (u, None),
        (Some(u), n) => (u, n),
        (None, Some(n)) => (n, None),
        (None, None) => return Err(err(span, format!("{class} needs a name or a URI"))),
    };
    if uri.is_empty() {
        return Err(err(
            span,
            format!("{class}'s URI is empty (Airflow refuses it)"),
        ));
    }
    Ok(Value::Asset(AssetExpr::One {
        uri,
        name,
        group,
        extra,
    }))
}

/// `AssetAll(a, b, ...)` and `AssetAny(...)` (and Airflow 2's `DatasetAll`/`DatasetAny`).
pub(crate) fn make_condition(class: &str, pos: &[Value], span: &Span) -> Eval {
    let mut items = Vec::new();
    for v in pos {
        match v {
            Value::Asset(a) => items.push(a.clone()),
            other => {
                return Err(err(
                    span,
                    format!(
                        "{class} takes assets or conditions, found a {}",
                        other.type_name()
                    ),
                ));
            }
        }
    }
    if items.is_empty() {
        return Err(err(span, format!("{class} without assets")));
    }
    Ok(Value::Asset(if class.ends_with("All") {
        AssetExpr::All(items)
    } else {
        AssetExpr::Any(items)
    }))
}

/// `a & b` and `a | b` between assets: a condition (nested conditions of the same kind
/// are flattened, which keeps their meaning).
pub(crate) fn combine(op: ast::Operator, l: &Value, r: &Value) -> Option<Value> {
    let (Value::Asset(a), Value::Asset(b)) = (l, r) else {
        return None;
    };
    let all = match op {
        ast::Operator::BitAnd => true,
        ast::Operator::BitOr => false,
        _ => return None,
    };
    let mut items = Vec::new();
    for x in [a, b] {
        match (x, all) {
            (AssetExpr::All(v), true) | (AssetExpr::Any(v), false) => items.extend(v.clone()),
            (x, _) => items.push(x.clone()),
        }
    }
    Some(Value::Asset(if all {
        AssetExpr::All(items)
    } else {
        AssetExpr::Any(items)
    }))
}

/// `asset.uri`, `asset.name`, `asset.group`, `asset.extra`.
pub(crate) fn attr(a: &AssetExpr, name: &str) -> Option<Value> {
    let AssetExpr::One {
        uri,
        name: n,
        group,
        extra,
    } = a
    else {
        return None;
    };
    Some(match name {
        "uri" => Value::Str(uri.clone()),
        "name" => Value::Str(n.clone().unwrap_or_else(|| uri.clone())),
        "group" => Value::Str(group.clone().unwrap_or_else(|| "asset".into())),
        "extra" => extra.as_deref().cloned().unwrap_or(Value::Dict(Vec::new())),
        _ => return None,
    })
}

/// `datetime.time(h, m, s)` as the `"HH:MM:SS"` text a `time` sensor's `target_time` takes.
pub(crate) fn make_time(pos: &[Value], kws: &[(String, Value)], span: &Span) -> Eval {
    let names = ["hour", "minute", "second", "microsecond"];
    let mut parts = [0i64; 4];
    for (i, v) in pos.iter().enumerate() {
        match (i < 4, v) {
            (true, Value::Int(n)) => parts[i] = *n,
            _ => {
                return Err(err(
                    span,
                    "time(...) takes whole numbers: hour, minute, second",
                ));
            }
        }
    }
    for (k, v) in kws {
        match (names.iter().position(|n| n == k), v) {
            (Some(i), Value::Int(n)) => parts[i] = *n,
            (None, Value::Tz(_)) if k == "tzinfo" => {
                return Err(err(
                    span,
                    "time(..., tzinfo=...): a time sensor's target_time is read in the DAG's timezone; give the time without a zone",
                ));
            }
            _ => return Err(err(span, format!("time({k}=...) is not understood"))),
        }
    }
    let [h, m, s, us] = parts;
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&s) {
        return Err(err(span, "time(...) out of range"));
    }
    if us != 0 {
        return Err(err(
            span,
            "time(...) with microseconds: lithoflow's target_time has whole seconds",
        ));
    }
    Ok(Value::Str(format!("{h:02}:{m:02}:{s:02}")))
}
