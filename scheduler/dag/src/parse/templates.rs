//! The DAG keys about templates: `user_defined_macros`, `user_defined_filters` and
//! `render_template_as_native_obj` (Airflow's `DAG` arguments of the same names).

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::{Sv, Walker};
use crate::template::{TemplateSettings, UserMacro};

/// Names a user-defined macro or filter may not take: the context's own names win over
/// macros in Airflow, so a macro by one of them could never be seen.
fn shadowed(name: &str) -> bool {
    crate::template::Context::new("", "", "", chrono::DateTime::UNIX_EPOCH)
        .json()
        .contains_key(name)
        || matches!(name, "macros" | "var" | "conn")
}

/// A macro or filter name: a Jinja identifier.
fn identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Walker<'_> {
    pub(super) fn template_settings(
        &mut self,
        top: &BTreeMap<&'static str, &Sv<'_>>,
    ) -> TemplateSettings {
        let mut s = TemplateSettings::default();
        if let Some(v) = top.get("render_template_as_native_obj") {
            s.render_template_as_native_obj = self
                .boolean("render_template_as_native_obj", v)
                .unwrap_or(false);
        }
        if let Some(v) = top.get("user_defined_macros") {
            match v.get_ref() {
                DeValue::Table(t) => {
                    for (k, item) in t.iter() {
                        let name = k.get_ref().to_string();
                        if !self.template_name("user_defined_macros", &name, k.span()) {
                            continue;
                        }
                        let callable = match item.get_ref() {
                            DeValue::Table(inner) if inner.len() == 1 => inner.get("callable"),
                            _ => None,
                        };
                        let m = match callable {
                            Some(c) => self.func_ref("user_defined_macros.callable", c).map(UserMacro::Callable),
                            None => self.json("user_defined_macros", item).map(UserMacro::Value),
                        };
                        if let Some(m) = m {
                            s.user_defined_macros.insert(name, m);
                        }
                    }
                }
                _ => self.wrong_type(
                    "user_defined_macros",
                    v,
                    "a table of names (user_defined_macros = { project = \"analytics\", next_monday = { callable = \"helpers:next_monday\" } })",
                ),
            }
        }
        if let Some(v) = top.get("user_defined_filters") {
            match v.get_ref() {
                DeValue::Table(t) => {
                    for (k, item) in t.iter() {
                        let name = k.get_ref().to_string();
                        if !self.template_name("user_defined_filters", &name, k.span()) {
                            continue;
                        }
                        if let Some(f) = self.func_ref("user_defined_filters", item) {
                            s.user_defined_filters.insert(name, f);
                        }
                    }
                }
                _ => self.wrong_type(
                    "user_defined_filters",
                    v,
                    "a table of filter names and Python functions (user_defined_filters = { shout = \"helpers:shout\" })",
                ),
            }
        }
        s
    }

    fn template_name(&mut self, key: &str, name: &str, span: super::Span) -> bool {
        if !identifier(name) {
            self.error(span, format!("`{key}`: {name:?} is not a name a template can use; expected letters, digits and `_`, not starting with a digit"));
            return false;
        }
        if key == "user_defined_macros" && shadowed(name) {
            self.error(span, format!("`{key}`: `{name}` is a name of Airflow's context, which a template sees instead of the macro; choose another name"));
            return false;
        }
        true
    }
}
