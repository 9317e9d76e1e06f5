//! `[lithops_config]` and a task's `lithops_config`: Lithops' settings, flat or in their
//! sections, each set once.

use lithoflow_executor_config::{self as exec_config, ConfigValue, ExecutorConfig};
use toml::de::DeValue;

use super::values::int_of;
use super::{Span, Sv, Walker, Written};
use crate::schema;

impl Walker<'_> {
    /// `[lithops_config]`, with flat keys and Lithops' sections; and where each setting
    /// is written.
    pub(super) fn lithops_config(
        &mut self,
        key: &str,
        v: &Sv<'_>,
    ) -> Option<(ExecutorConfig, Written)> {
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type(
                key,
                v,
                "a table of Lithops settings (backend, storage, [aws_lambda], ...)",
            );
            return None;
        };
        let mut cfg = ExecutorConfig::default();
        // Each setting once, whether written flat or in its section.
        let mut seen = Written::new();
        let mut once = |w: &mut Self, ck: &'static exec_config::ConfigKey, span: Span| {
            if let Some(first) = seen.get(&(ck.section, ck.key)) {
                let line = w.src.locate(first.clone()).line;
                w.error(
                    span,
                    format!(
                        "`{}.{}` is already set on line {line}; set it once",
                        ck.section, ck.key
                    ),
                );
                return false;
            }
            seen.insert((ck.section, ck.key), span);
            true
        };
        for (k, item) in t.iter() {
            let name = k.get_ref().as_ref();
            if exec_config::CONFIG_SECTIONS.contains(&name) {
                let DeValue::Table(section) = item.get_ref() else {
                    self.wrong_type(&format!("{key}.{name}"), item, "a table");
                    continue;
                };
                for (sk, sv) in section.iter() {
                    let sname = sk.get_ref().as_ref();
                    match exec_config::lookup_key(Some(name), sname) {
                        Some(ck) => {
                            if once(self, ck, sk.span()) {
                                self.config_value(
                                    &mut cfg,
                                    ck,
                                    &format!("{key}.{name}.{sname}"),
                                    sv,
                                );
                            }
                        }
                        None if exec_config::is_credential_key(sname) => {}
                        None => {
                            let known = exec_config::CONFIG_KEYS
                                .iter()
                                .filter(|c| c.section == name)
                                .map(|c| c.key);
                            let hint = match schema::suggest(sname, known.clone()) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!(
                                    "expected one of {}",
                                    known.collect::<Vec<_>>().join(", ")
                                ),
                            };
                            self.error(
                                sk.span(),
                                format!("unknown key `{sname}` in `{key}.{name}`; {hint}"),
                            );
                        }
                    }
                }
                continue;
            }
            match exec_config::lookup_key(None, name) {
                Some(ck) => {
                    if once(self, ck, k.span()) {
                        self.config_value(&mut cfg, ck, &format!("{key}.{name}"), item);
                    }
                }
                None if exec_config::is_credential_key(name) => {}
                None => {
                    let mut msg = format!("unknown key `{name}` in `{key}`");
                    if let Some(ck) = exec_config::CONFIG_KEYS.iter().find(|c| c.key == name) {
                        msg.push_str(&format!(
                            "; write it in its section: `{key}.{}.{name}`",
                            ck.section
                        ));
                    } else {
                        let known = exec_config::CONFIG_KEYS
                            .iter()
                            .filter(|c| c.flat)
                            .map(|c| c.key)
                            .chain(exec_config::CONFIG_SECTIONS.iter().copied());
                        match schema::suggest(name, known.clone()) {
                            Some(s) => msg.push_str(&format!("; did you mean `{s}`?")),
                            None => msg.push_str(&format!(
                                "; expected one of {}",
                                known.collect::<Vec<_>>().join(", ")
                            )),
                        }
                    }
                    self.error(k.span(), msg);
                }
            }
        }
        Some((cfg, seen))
    }

    fn config_value(
        &mut self,
        cfg: &mut ExecutorConfig,
        ck: &exec_config::ConfigKey,
        path: &str,
        v: &Sv<'_>,
    ) {
        let value = match v.get_ref() {
            DeValue::String(s) => ConfigValue::Str(s.to_string()),
            DeValue::Boolean(b) => ConfigValue::Bool(*b),
            DeValue::Integer(_) => match int_of(v.get_ref()).and_then(|i| i64::try_from(i).ok()) {
                Some(i) => ConfigValue::Int(i),
                None => {
                    self.wrong_type(path, v, ck.kind.describe());
                    return;
                }
            },
            _ => {
                self.wrong_type(path, v, ck.kind.describe());
                return;
            }
        };
        if let Err(e) = cfg.set(ck, value) {
            self.error(v.span(), format!("`{path}`: {e}"));
        }
    }
}
