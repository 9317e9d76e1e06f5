//! How iterdata elements and `data` become arguments (Lithops' rules, without its bugs):
//! a table binds as keyword arguments, anything else as the one positional argument;
//! `extra_params` adds keyword arguments (a table) or positional ones after the element
//! (an array).

use serde_json::{Map, Value};

/// Arguments added to every call of a map.
#[derive(Debug, Clone, PartialEq)]
pub enum Extra {
    /// Keyword arguments.
    Keyword(Map<String, Value>),
    /// Positional arguments, after the element.
    Positional(Vec<Value>),
}

/// One call's arguments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallArgs {
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Map<String, Value>,
}

/// Binds one element (and the job's extra arguments).
pub fn bind(element: &Value, extra: Option<&Extra>) -> Result<CallArgs, String> {
    let mut call = match element {
        Value::Object(m) => CallArgs {
            args: Vec::new(),
            kwargs: m.clone(),
        },
        other => CallArgs {
            args: vec![other.clone()],
            kwargs: Map::new(),
        },
    };
    match extra {
        Some(Extra::Keyword(kw)) => {
            for (k, v) in kw {
                if call.kwargs.contains_key(k) {
                    return Err(format!(
                        "argument `{k}` is given both by the element and by extra_params"
                    ));
                }
                call.kwargs.insert(k.clone(), v.clone());
            }
        }
        Some(Extra::Positional(args)) => call.args.extend(args.iter().cloned()),
        None => {}
    }
    Ok(call)
}

/// Whether [`bind`] would bind `element`, without building its arguments: an element
/// binds unless it is a table naming an argument `extra_params` gives too.
pub fn check(element: &Value, extra: Option<&Extra>) -> Result<(), String> {
    if let (Value::Object(m), Some(Extra::Keyword(kw))) = (element, extra)
        && let Some(k) = kw.keys().find(|k| m.contains_key(*k))
    {
        return Err(format!(
            "argument `{k}` is given both by the element and by extra_params"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_and_extras_bind_as_documented() {
        let kw = |v: Value| v.as_object().cloned().expect("object");
        let b = bind(&json!(1), Some(&Extra::Keyword(kw(json!({"y": 1}))))).expect("binds");
        assert_eq!((b.args, json!(b.kwargs)), (vec![json!(1)], json!({"y": 1})));
        let b = bind(&json!({"x": 1}), None).expect("binds");
        assert_eq!((b.args.len(), json!(b.kwargs)), (0, json!({"x": 1})));
        let b = bind(&json!([1, 2]), Some(&Extra::Positional(vec![json!(3)]))).expect("binds");
        assert_eq!(
            b.args,
            vec![json!([1, 2]), json!(3)],
            "a list element is one argument, as in Lithops"
        );
        let err = bind(&json!({"y": 2}), Some(&Extra::Keyword(kw(json!({"y": 1})))))
            .expect_err("conflict");
        assert_eq!(
            err,
            "argument `y` is given both by the element and by extra_params"
        );
    }
}
