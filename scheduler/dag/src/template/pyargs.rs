//! Python-style arguments for the objects templates call (`macros.timedelta(days=1)`,
//! `logical_date.replace(day=1)`): positional values, keyword values, and the errors
//! Python would raise, in words.

use minijinja::value::{Kwargs, from_args};
use minijinja::{Error, ErrorKind, Value as J};

/// The positional and keyword arguments of one call.
pub(crate) struct PyArgs<'a> {
    pub pos: &'a [J],
    pub kw: Kwargs,
    what: &'a str,
}

impl<'a> PyArgs<'a> {
    /// Splits `args` for the function named `what` (used in errors).
    pub(crate) fn new(what: &'a str, args: &'a [J]) -> Result<PyArgs<'a>, Error> {
        let (pos, kw): (&[J], Kwargs) = from_args(args)?;
        Ok(PyArgs { pos, kw, what })
    }

    /// The argument at `index` or named `name`, if given.
    pub(crate) fn get(&self, index: usize, name: &str) -> Option<J> {
        if let Some(v) = self.pos.get(index) {
            return Some(v.clone());
        }
        self.kw.get::<Option<J>>(name).ok().flatten()
    }

    /// A keyword argument only.
    pub(crate) fn kw(&self, name: &str) -> Option<J> {
        self.kw.get::<Option<J>>(name).ok().flatten()
    }

    /// An integer argument, if given.
    pub(crate) fn int(&self, index: usize, name: &str) -> Result<Option<i64>, Error> {
        match self.get(index, name) {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => to_int(&v).map(Some).ok_or_else(|| {
                type_error(format!("{}: {name} must be an integer, not {v}", self.what))
            }),
        }
    }

    /// A number argument (int or float), if given.
    pub(crate) fn float(&self, index: usize, name: &str) -> Result<Option<f64>, Error> {
        match self.get(index, name) {
            None => Ok(None),
            Some(v) => to_float(&v).map(Some).ok_or_else(|| {
                type_error(format!("{}: {name} must be a number, not {v}", self.what))
            }),
        }
    }

    /// A string argument, if given.
    pub(crate) fn str(&self, index: usize, name: &str) -> Result<Option<String>, Error> {
        match self.get(index, name) {
            None => Ok(None),
            Some(v) => v.as_str().map(|s| Some(s.to_owned())).ok_or_else(|| {
                type_error(format!("{}: {name} must be a string, not {v}", self.what))
            }),
        }
    }

    /// A string argument that must be given.
    pub(crate) fn req_str(&self, index: usize, name: &str) -> Result<String, Error> {
        self.str(index, name)?.ok_or_else(|| {
            type_error(format!(
                "{}() missing required argument: '{name}'",
                self.what
            ))
        })
    }

    /// Fails on keyword arguments that were not read and on more positional arguments
    /// than `max`.
    pub(crate) fn done(&self, max: usize) -> Result<(), Error> {
        if self.pos.len() > max {
            return Err(type_error(format!(
                "{}() takes at most {max} positional arguments ({} given)",
                self.what,
                self.pos.len()
            )));
        }
        self.kw.assert_all_used().map_err(|e| {
            type_error(format!(
                "{}() got an unexpected keyword argument: {}",
                self.what,
                e.detail().unwrap_or("?")
            ))
        })
    }
}

/// An integer value (a bool is not one here).
pub(crate) fn to_int(v: &J) -> Option<i64> {
    if v.kind() == minijinja::value::ValueKind::Number && v.is_integer() {
        i64::try_from(v.clone()).ok()
    } else {
        None
    }
}

/// A number value as a float.
pub(crate) fn to_float(v: &J) -> Option<f64> {
    if v.kind() == minijinja::value::ValueKind::Number {
        f64::try_from(v.clone()).ok()
    } else {
        None
    }
}

/// Python's `TypeError`, as a template error.
pub(crate) fn type_error(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("TypeError: {}", msg.into()),
    )
}

/// Python's `ValueError`, as a template error.
pub(crate) fn value_error(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("ValueError: {}", msg.into()),
    )
}
