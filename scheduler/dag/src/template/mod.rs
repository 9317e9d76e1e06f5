//! Airflow templates in string values (`{{ ds }}`, `{{ params.n }}`,
//! `{{ (logical_date - macros.timedelta(days=1)).strftime('%Y%m') }}`), rendered with
//! minijinja the way Airflow renders them with Jinja2 (`airflow/templates.py`):
//! strict undefined names, Airflow's context ([`Context`]), `macros`, the `ds`/`ts`
//! filters, values printed as Python's `str()` prints them, the DAG's
//! `user_defined_macros` and `user_defined_filters`, and
//! `render_template_as_native_obj` (`native.rs`'s `literal_eval`).
//!
//! minijinja has no operator overloading for objects, so a template's `+` and `-` are
//! compiled into calls of a function that does date arithmetic when an operand is a
//! date value and minijinja's own `+`/`-` otherwise (`patch`).

mod context;
mod dates;
mod macros;
mod native;
mod pyargs;
mod pyrepr;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use minijinja::machinery::{
    self, CodeGenerator, Instruction, Instructions, Vm, WhitespaceConfig, ast,
};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Rest;
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Expression, UndefinedBehavior, Value as J,
};
use serde_json::{Map, Value};

pub use context::{Context, PrevRun, XcomSource, operator_class};

use crate::FuncRef;

/// A name of `user_defined_macros`: a value, or a Python callable the template calls.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum UserMacro {
    /// A literal value (`project = "analytics"`).
    Value(Value),
    /// A Python function (`{ callable = "helpers:next_monday" }`).
    Callable(FuncRef),
}

/// Runs a DAG's Python callables (`user_defined_macros`, `user_defined_filters`) while a
/// template renders: the scheduler's executor does it on its workers.
pub trait PyCaller: Send + Sync + fmt::Debug {
    /// `func(*args, **kwargs)`'s JSON value, or why it failed.
    fn call(
        &self,
        func: &FuncRef,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, String>;
}

/// What a DAG sets about its templates.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TemplateSettings {
    /// `user_defined_macros`: names every template sees (the context wins over them).
    pub user_defined_macros: BTreeMap<String, UserMacro>,
    /// `user_defined_filters`: filters by name, each a Python function.
    pub user_defined_filters: BTreeMap<String, FuncRef>,
    /// `render_template_as_native_obj`: templates render to Python values, not text.
    pub render_template_as_native_obj: bool,
}

impl TemplateSettings {
    /// Whether rendering with these settings calls Python.
    pub fn calls_python(&self) -> bool {
        !self.user_defined_filters.is_empty()
            || self
                .user_defined_macros
                .values()
                .any(|m| matches!(m, UserMacro::Callable(_)))
    }
}

/// An environment for one DAG's templates; [`Renderer::render`] renders a task's values.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    native: bool,
}

/// The function a template's `+` becomes.
const ADD: &str = "__lithoflow_add";
/// The function a template's `-` becomes.
const SUB: &str = "__lithoflow_sub";

/// minijinja's own `+` and `-`, for operands that are not dates.
static PLAIN: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
});
static PLAIN_ADD: LazyLock<Option<Expression<'static, 'static>>> =
    LazyLock::new(|| PLAIN.compile_expression("a + b").ok());
static PLAIN_SUB: LazyLock<Option<Expression<'static, 'static>>> =
    LazyLock::new(|| PLAIN.compile_expression("a - b").ok());

fn plain(op: &LazyLock<Option<Expression<'static, 'static>>>, a: J, b: J) -> Result<J, Error> {
    match op.as_ref() {
        Some(e) => e.eval(minijinja::context! { a => a, b => b }),
        None => Err(Error::new(
            ErrorKind::InvalidOperation,
            "the arithmetic expression does not compile",
        )),
    }
}

impl Renderer {
    /// A renderer with Airflow's defaults: no user-defined macros or filters, text output.
    pub fn plain() -> Renderer {
        Renderer::new(&TemplateSettings::default(), None)
    }

    /// A renderer for a DAG's settings; `caller` runs its Python callables (None: a
    /// template that calls one fails, saying so).
    pub fn new(settings: &TemplateSettings, caller: Option<Arc<dyn PyCaller>>) -> Renderer {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(|out, _state, value| {
            let mut s = String::new();
            pyrepr::write_str(&mut s, value)?;
            out.write_str(&s).map_err(Error::from)
        });
        env.add_function(ADD, |a: J, b: J| {
            dates::add(&a, &b).unwrap_or_else(|| plain(&PLAIN_ADD, a, b))
        });
        env.add_function(SUB, |a: J, b: J| {
            dates::sub(&a, &b).unwrap_or_else(|| plain(&PLAIN_SUB, a, b))
        });
        env.add_filter("tojson", macros::tojson);
        for name in macros::DATE_FILTERS {
            env.add_filter(name, macros::date_filter(name));
        }
        for (name, m) in &settings.user_defined_macros {
            match m {
                UserMacro::Value(v) => env.add_global(name.clone(), J::from_serialize(v)),
                UserMacro::Callable(f) => {
                    let (f, caller, name2) = (f.clone(), caller.clone(), name.clone());
                    env.add_function(name.clone(), move |args: Rest<J>| {
                        call_python(caller.as_deref(), &name2, &f, &args)
                    });
                }
            }
        }
        for (name, f) in &settings.user_defined_filters {
            let (f, caller, name2) = (f.clone(), caller.clone(), name.clone());
            env.add_filter(name.clone(), move |args: Rest<J>| {
                call_python(caller.as_deref(), &name2, &f, &args)
            });
        }
        Renderer {
            env,
            native: settings.render_template_as_native_obj,
        }
    }

    /// Renders every string inside `v` that holds a template; other values are kept as
    /// they are. In native mode every string is rendered and read back as Python's
    /// `ast.literal_eval` reads it, as Airflow does.
    pub fn render(&self, v: &Value, ctx: &Context) -> Result<Value, String> {
        self.render_with(v, ctx, None)
    }

    /// [`Renderer::render`] with Airflow's `var` and `conn` ([`crate::template_values`])
    /// read through `lookup` (None: templates have no `var` and `conn`).
    pub fn render_with(
        &self,
        v: &Value,
        ctx: &Context,
        lookup: Option<Arc<dyn crate::template_values::Lookup>>,
    ) -> Result<Value, String> {
        // Most values hold no template: they render to themselves, and the context (dates
        // formatted a dozen ways, the whole Airflow namespace) is not built for them.
        if !self.needs_render(v) {
            return Ok(v.clone());
        }
        let clock = Arc::new(macros::Clock::new(ctx.now, ctx.local_offset, ctx.seed));
        let mut root = ctx.root(&clock);
        if let Some(lookup) = lookup {
            for (k, v) in crate::template_values::globals(lookup) {
                root.insert(k.to_owned(), v);
            }
        }
        self.render_in(&J::from_iter(root), v)
    }

    /// Whether rendering `v` could change it: it holds a template (or every string is
    /// rendered: native mode). A value that needs none renders to itself.
    pub fn needs_render(&self, v: &Value) -> bool {
        self.native || self.has_template(v)
    }

    /// Whether `v` holds a string `render_in` would render (outside native mode).
    fn has_template(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains("{{") || s.contains("{%") || s.contains("{#"),
            Value::Array(items) => items.iter().any(|i| self.has_template(i)),
            Value::Object(m) => m.values().any(|i| self.has_template(i)),
            _ => false,
        }
    }

    fn render_in(&self, root: &J, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s)
                if self.native || s.contains("{{") || s.contains("{%") || s.contains("{#") =>
            {
                self.render_one(s, root)
                    .map_err(|e| format!("template {s:?} does not render: {}", describe(&e)))?
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.render_in(root, i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, i)| Ok((k.clone(), self.render_in(root, i)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    fn render_one(&self, source: &str, root: &J) -> Result<Value, Error> {
        let parsed = machinery::parse(
            source,
            "<string>",
            SyntaxConfig,
            WhitespaceConfig::default(),
        )?;
        if self.native
            && let ast::Stmt::Template(t) = &parsed
            && let [ast::Stmt::EmitExpr(e)] = t.children.as_slice()
        {
            // Jinja2's native_concat: one expression gives its value; a string value is
            // still read as a literal.
            let mut g = CodeGenerator::new("<string>", source);
            g.compile_expr(&e.expr);
            let (mut instr, _) = g.finish();
            patch(&mut instr);
            let mut ignored = String::new();
            let mut out = machinery::make_string_output(&mut ignored);
            let (value, _) = Vm::new(&self.env).eval(
                &instr,
                root.clone(),
                &BTreeMap::new(),
                &mut out,
                AutoEscape::None,
            )?;
            let value = value.unwrap_or_default();
            if let Some(s) = value.as_str() {
                return Ok(native::literal_eval(s).unwrap_or_else(|| Value::String(s.to_owned())));
            }
            return pyrepr::to_json(&value);
        }
        let mut g = CodeGenerator::new("<string>", source);
        g.compile_stmt(&parsed);
        let (mut instr, mut blocks) = g.finish();
        patch(&mut instr);
        for b in blocks.values_mut() {
            patch(b);
        }
        let mut text = String::with_capacity(source.len() + 32);
        {
            let mut out = machinery::make_string_output(&mut text);
            Vm::new(&self.env).eval(&instr, root.clone(), &blocks, &mut out, AutoEscape::None)?;
        }
        if self.native {
            return Ok(native::literal_eval(&text).unwrap_or(Value::String(text)));
        }
        Ok(Value::String(text))
    }
}

/// A template's `+` and `-` become calls of [`ADD`] and [`SUB`].
fn patch(instr: &mut Instructions<'_>) {
    for i in 0..instr.len() {
        let Ok(i) = u32::try_from(i) else { break };
        if let Some(ins) = instr.get_mut(i) {
            match ins {
                Instruction::Add => *ins = Instruction::CallFunction(ADD, Some(2)),
                Instruction::Sub => *ins = Instruction::CallFunction(SUB, Some(2)),
                _ => {}
            }
        }
    }
}

/// A template error in one line: minijinja's message with where it is, and its cause.
fn describe(e: &Error) -> String {
    let mut msg = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    msg
}

/// Calls a user-defined macro or filter in Python: positional and keyword arguments as
/// JSON (dates as ISO 8601 text), its JSON value back.
fn call_python(
    caller: Option<&dyn PyCaller>,
    name: &str,
    f: &FuncRef,
    args: &[J],
) -> Result<J, Error> {
    let Some(caller) = caller else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "`{name}` calls Python ({}:{}), which this renderer cannot do",
                f.module, f.function
            ),
        ));
    };
    let mut pos = Vec::new();
    let mut kwargs = Map::new();
    for a in args {
        if a.is_kwargs() {
            for k in a.try_iter()? {
                let key = k.as_str().unwrap_or_default().to_owned();
                kwargs.insert(key, pyrepr::to_json(&a.get_item(&k)?)?);
            }
        } else {
            pos.push(pyrepr::to_json(a)?);
        }
    }
    caller
        .call(f, pos, kwargs)
        .map(J::from_serialize)
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`{name}` ({}:{}) failed: {e}", f.module, f.function),
            )
        })
}

/// Renders every string inside `v` that holds a template with Airflow's defaults
/// ([`Renderer::plain`]).
pub fn render(v: &Value, ctx: &Context) -> Result<Value, String> {
    Renderer::plain().render(v, ctx)
}

/// [`render`] with Airflow's `var` and `conn` read through `lookup`.
pub fn render_with(
    v: &Value,
    ctx: &Context,
    lookup: Arc<dyn crate::template_values::Lookup>,
) -> Result<Value, String> {
    Renderer::plain().render_with(v, ctx, Some(lookup))
}
