//! A task's keys: each read and type-checked (plain keys as the table in [`crate::keys`]
//! says, the others by hand), checked against its type, and merged with
//! `[default_args]`.

use std::collections::BTreeMap;
use std::path::Path;

use lithoflow_executor_config::ExecutorConfig;
use serde_json::{Map, Value};
use toml::Spanned;
use toml::de::DeValue;

use super::values::{describe, float_of, int_of};
use super::{Fields, Parsed, Span, Sv, TaskRefs, Walker, Written, lexical_absolute};
use crate::keys::{self, Holds, Key, Plain, PlainValue, Scope};
use crate::model::*;
use crate::schema::{self, TaskType};

impl Walker<'_> {
    pub(super) fn default_args(&mut self, v: &Sv<'_>) -> Fields {
        let mut fields = Fields::new();
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type("default_args", v, "a table of task parameters");
            return fields;
        };
        for (k, item) in t.iter() {
            let name = k.get_ref().as_ref();
            match keys::task_key(keys::canonical(name)) {
                Some(key) if !key.may_be_default() => {
                    self.error(k.span(), format!("`{name}` cannot be a default: it only makes sense on one task, under [tasks.<task_id>]"));
                }
                Some(key) => {
                    if fields.contains_key(key.name) {
                        self.error(
                            k.span(),
                            format!(
                                "`{name}` repeats `{}` in [default_args]; keep one of them",
                                key.name
                            ),
                        );
                        continue;
                    }
                    if let Some(p) = self.task_value(key, item) {
                        fields.insert(key.name, (p, item.span()));
                    }
                }
                None => self.unknown_task_key(name, k.span(), "[default_args]", None),
            }
        }
        fields
    }

    fn unknown_task_key(&mut self, name: &str, span: Span, place: &str, ty: Option<TaskType>) {
        let mut msg = format!("unknown key `{name}` in {place}");
        if keys::dag_key(name).is_some() && name != "tasks" {
            msg.push_str(&format!(
                "; `{name}` is a DAG-level key: put it at the top of the file"
            ));
        } else {
            let candidates = keys::task_keys()
                .filter(|k| ty.is_none_or(|t| k.scope().is_some_and(|s| s.allows(t))))
                .map(|k| k.name)
                .chain(keys::task_aliases());
            if let Some(s) = schema::suggest(name, candidates) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            } else if let Some(t) = ty {
                msg.push_str(&format!(
                    "; see the parameters of {} tasks in docs/dag-format.md",
                    t.name()
                ));
            }
        }
        self.error(span, msg);
    }

    /// Reads one task parameter's value (from a task table or `[default_args]`).
    fn task_value(&mut self, key: &'static Key, v: &Sv<'_>) -> Option<Parsed> {
        match &key.holds {
            Holds::Plain(plain) => self.plain_value(key.name, plain, v).map(Parsed::Plain),
            Holds::Hand { .. } => self.hand_value(key.name, v),
        }
    }

    /// Reads a plain key's value as its table entry says.
    fn plain_value(&mut self, key: &str, plain: &Plain, v: &Sv<'_>) -> Option<PlainValue> {
        Some(match plain {
            Plain::Bool { .. } => PlainValue::Bool(self.boolean(key, v)?),
            Plain::Count { .. } => PlainValue::Int(self.int(key, v, 0, u64::from(u32::MAX))?),
            Plain::OptInt { min, max, .. } => PlainValue::Int(self.int(key, v, *min, *max)?),
            Plain::Int { min, max, .. } => PlainValue::Signed(self.signed(key, v, *min, *max)?),
            Plain::Duration { .. } => PlainValue::Duration(self.duration(key, v)?),
            Plain::OptDuration { positive, .. } => {
                let d = self.duration(key, v)?;
                if *positive && d.is_zero() {
                    self.error(v.span(), format!("`{key}` must be longer than 0 seconds"));
                    return None;
                }
                PlainValue::Duration(d)
            }
            Plain::Multiplier { .. } => match v.get_ref() {
                DeValue::Boolean(b) => PlainValue::Float(if *b { 2.0 } else { 0.0 }),
                other => match float_of(other) {
                    Some(f) if f.is_finite() && f >= 0.0 => PlainValue::Float(f),
                    _ => {
                        self.wrong_type(
                            key,
                            v,
                            "a non-negative multiplier such as 2.0 (0 = off), or a boolean",
                        );
                        return None;
                    }
                },
            },
            Plain::Str { .. } | Plain::OptStr { .. } => PlainValue::Str(self.string(key, v)?),
            Plain::Strings { module_paths, .. } => {
                let list = self.string_list(key, v)?;
                if *module_paths {
                    self.check_include_paths(v);
                }
                PlainValue::Strings(list)
            }
            Plain::Kwargs { .. } => {
                if !matches!(v.get_ref(), DeValue::Table(_)) {
                    self.wrong_type(key, v, "a table of keyword arguments");
                    return None;
                }
                match self.json(key, v)? {
                    Value::Object(m) => PlainValue::Kwargs(m),
                    _ => return None,
                }
            }
        })
    }

    /// Reads the value of a key read by hand: one with real semantics.
    fn hand_value(&mut self, key: &'static str, v: &Sv<'_>) -> Option<Parsed> {
        Some(match key {
            "upstream" => Parsed::Refs(self.task_refs(key, v)?),
            "outlets" | "inlets" => Parsed::Assets(self.asset_list(key, v)?),
            "trigger_rule" => {
                let name = self.string(key, v)?;
                match schema::TRIGGER_RULES.iter().find(|(n, _)| *n == name) {
                    Some((_, rule)) => Parsed::Rule(*rule),
                    None => {
                        let names = schema::TRIGGER_RULES.iter().map(|(n, _)| *n);
                        let hint = schema::suggest(&name, names.clone())
                            .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                        self.error(
                            v.span(),
                            format!(
                                "unknown trigger_rule {name:?}; {hint}expected one of {}",
                                names.collect::<Vec<_>>().join(", ")
                            ),
                        );
                        return None;
                    }
                }
            }
            "weight_rule" => {
                let name = self.string(key, v)?;
                match WeightRule::NAMES.iter().find(|(n, _)| *n == name) {
                    Some((_, rule)) => Parsed::Weight(*rule),
                    None => {
                        let names = WeightRule::NAMES.iter().map(|(n, _)| *n);
                        let hint = schema::suggest(&name, names.clone())
                            .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                        self.error(
                            v.span(),
                            format!(
                                "unknown weight_rule {name:?}; {hint}expected one of {}",
                                names.collect::<Vec<_>>().join(", ")
                            ),
                        );
                        return None;
                    }
                }
            }
            "python_callable" => Parsed::Func(self.func_ref(key, v)?),
            "on_execute_callback"
            | "on_success_callback"
            | "on_failure_callback"
            | "on_retry_callback"
            | "on_skipped_callback" => Parsed::Funcs(self.func_refs(key, v)?),
            "bash_command" => {
                let cmd = self.string(key, v)?;
                if cmd.trim().is_empty() {
                    self.error(
                        v.span(),
                        "`bash_command` is empty; expected a shell command",
                    );
                    return None;
                }
                Parsed::Str(cmd)
            }
            "op_args" => {
                if !matches!(v.get_ref(), DeValue::Array(_)) {
                    self.wrong_type(key, v, "an array of positional arguments");
                    return None;
                }
                Parsed::Json(self.json(key, v)?)
            }
            "op_kwargs" => {
                if !matches!(v.get_ref(), DeValue::Table(_)) {
                    self.wrong_type(key, v, "a table of keyword arguments");
                    return None;
                }
                Parsed::Json(self.json(key, v)?)
            }
            "env" => {
                let DeValue::Table(t) = v.get_ref() else {
                    self.wrong_type(key, v, "a table of environment variables (strings)");
                    return None;
                };
                for (k, item) in t.iter() {
                    if !matches!(item.get_ref(), DeValue::String(_)) {
                        self.error(
                            item.span(),
                            format!(
                                "`env.{}` must be a string, found {}",
                                k.get_ref(),
                                describe(item.get_ref())
                            ),
                        );
                    }
                }
                Parsed::Json(self.json(key, v)?)
            }
            "skip_on_exit_code" => {
                let items: Vec<&Sv<'_>> = match v.get_ref() {
                    DeValue::Array(items) => items.iter().collect(),
                    _ => vec![v],
                };
                let mut codes = Vec::new();
                for item in items {
                    match int_of(item.get_ref()) {
                        Some(c) if (0..=255).contains(&c) => codes.push(c as i64),
                        _ => {
                            self.wrong_type(key, item, "an exit code (0-255) or an array of them");
                            return None;
                        }
                    }
                }
                Parsed::IntList(codes)
            }
            "op_args_from_task" => {
                let DeValue::Table(t) = v.get_ref() else {
                    self.wrong_type(key, v, "a table mapping argument positions to task ids (op_args_from_task = { 0 = \"task\" })");
                    return None;
                };
                let mut out = Vec::new();
                for (k, item) in t.iter() {
                    let Ok(pos) = k.get_ref().parse::<usize>() else {
                        self.error(
                            k.span(),
                            format!(
                                "`{key}` keys are argument positions (0, 1, ...), found {:?}",
                                k.get_ref()
                            ),
                        );
                        continue;
                    };
                    if let Some(task) = self.string(&format!("{key}.{pos}"), item) {
                        out.push((pos, task, item.span()));
                    }
                }
                Parsed::ArgsFrom(out)
            }
            "lithops_config" => Parsed::Config(Box::new(self.lithops_config(key, v)?)),
            "extra_env" => Parsed::Env(self.extra_env(v)?),
            "func" | "map_function" | "reduce_function" => Parsed::Func(self.func_ref(key, v)?),
            "data" => {
                let value = self.json(key, v)?;
                self.check_reserved_id(key, &value, v.span());
                Parsed::Json(value)
            }
            "map_iterdata" => {
                let DeValue::Array(items) = v.get_ref() else {
                    self.wrong_type(key, v, "an array (one call per element)");
                    return None;
                };
                if items.is_empty()
                    && let Some(values) = self.literals.remove(&v.span().start)
                {
                    return Some(Parsed::Json(Value::Array(values)));
                }
                for item in items.iter() {
                    if let DeValue::Table(_) = item.get_ref()
                        && let Some(Value::Object(m)) = self.json(key, item)
                        && m.contains_key("id")
                    {
                        self.error(
                            item.span(),
                            "`id` is reserved: it receives the call's index; rename this argument",
                        );
                    }
                }
                let value = self.json(key, v)?;
                if items.is_empty() {
                    self.warn(
                        v.span(),
                        "`map_iterdata` is empty: the map makes no calls and returns []",
                    );
                }
                Parsed::Json(value)
            }
            "extra_params" => match v.get_ref() {
                DeValue::Table(_) | DeValue::Array(_) => {
                    let value = self.json(key, v)?;
                    self.check_reserved_id(key, &value, v.span());
                    Parsed::Json(value)
                }
                _ => {
                    self.wrong_type(
                        key,
                        v,
                        "a table (keyword arguments) or an array (positional arguments)",
                    );
                    return None;
                }
            },
            "data_from_task" | "op_kwargs_from_task" => {
                let DeValue::Table(t) = v.get_ref() else {
                    self.wrong_type(key, v, &format!("a table mapping argument names to task ids ({key} = {{ y = \"add_task_1\" }})"));
                    return None;
                };
                let mut out = Vec::new();
                for (k, item) in t.iter() {
                    let kw = k.get_ref().to_string();
                    if kw == "id" {
                        self.error(
                            k.span(),
                            "`id` is reserved: it receives the call's index; rename this argument",
                        );
                    }
                    if let Some(task) = self.string(&format!("{key}.{kw}"), item) {
                        out.push((kw, task, item.span()));
                    }
                }
                Parsed::DataFrom(out)
            }
            "iterdata_from_task" => match v.get_ref() {
                DeValue::String(s) => Parsed::IterFrom(Iterdata::FromTask(s.to_string())),
                DeValue::Table(t) if t.len() == 1 => {
                    let (k, item) = t.iter().next()?;
                    if k.get_ref() == "id" {
                        self.error(
                            k.span(),
                            "`id` is reserved: it receives the call's index; rename this argument",
                        );
                    }
                    let task = self.string(&format!("{key}.{}", k.get_ref()), item)?;
                    Parsed::IterFrom(Iterdata::FromTaskKeyword {
                        keyword: k.get_ref().to_string(),
                        task,
                    })
                }
                DeValue::Table(t) => {
                    self.error(
                        v.span(),
                        format!("`{key}` as a table must name exactly one argument and task ({{ x = \"task\" }}), found {} entries", t.len()),
                    );
                    return None;
                }
                _ => {
                    self.wrong_type(key, v, "a task id, or a table { argument = \"task_id\" }");
                    return None;
                }
            },
            "expand" => Parsed::Expand(self.expand_table(v)?),
            "expand_kwargs" => Parsed::ExpandKwargs(self.expand_kwargs(v)?),
            // The keys of sensor and trigger_dag_run tasks; None for a key the table
            // says is read by hand but no arm reads: a bug the table's tests catch.
            _ => return self.waiting_value(key, v),
        })
    }

    /// `include_modules` paths make folders importable: one that is absolute or climbs
    /// with `..` may load code from outside the DAGs folder, so it must land inside the
    /// DAGs folder (the DAG file's own folder when none is known) or inside one of the
    /// folders `[dags] include_paths` of `lithoflow.toml` lists. Decided on the path's
    /// text, without touching the file system.
    fn check_include_paths(&mut self, v: &Sv<'_>) {
        let DeValue::Array(items) = v.get_ref() else {
            return;
        };
        for item in items.iter() {
            let DeValue::String(m) = item.get_ref() else {
                continue;
            };
            let m: &str = m.as_ref();
            if m.starts_with('~') {
                self.error(
                    item.span(),
                    format!("`include_modules` path {m:?} starts with `~`, which is not expanded; write the full path"),
                );
                continue;
            }
            let path = Path::new(m);
            let climbs = path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
            if !path.is_absolute() && !climbs {
                continue;
            }
            let dag_dir = self.src.path().parent().unwrap_or(Path::new("."));
            let resolved = lexical_absolute(&dag_dir.join(path));
            let dags_folder =
                lexical_absolute(self.options.dags_folder.as_deref().unwrap_or(dag_dir));
            let allowed = std::iter::once(&dags_folder)
                .chain(&self.options.include_paths)
                .any(|root| resolved.starts_with(root));
            if allowed {
                continue;
            }
            let listed = if self.options.include_paths.is_empty() {
                "none are listed".to_owned()
            } else {
                let names: Vec<String> = self
                    .options
                    .include_paths
                    .iter()
                    .map(|p| format!("{:?}", p.display().to_string()))
                    .collect();
                format!("listed: {}", names.join(", "))
            };
            self.error(
                item.span(),
                format!(
                    "`include_modules` path {m:?} leaves the DAGs folder; only paths inside it (such as \"lib/\" or \"helpers.py\"), module names, or folders under `[dags] include_paths` in $LITHOFLOW_HOME/lithoflow.toml may be included ({listed})"
                ),
            );
        }
    }

    fn check_reserved_id(&mut self, key: &str, value: &Value, span: Span) {
        if let Value::Object(m) = value
            && m.contains_key("id")
        {
            self.error(span, format!("`{key}` sets `id`, which is reserved: it receives the call's index; rename this argument"));
        }
    }

    fn extra_env(&mut self, v: &Sv<'_>) -> Option<Map<String, Value>> {
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type(
                "extra_env",
                v,
                "a table of environment variables (extra_env = { NAME = \"value\" })",
            );
            return None;
        };
        let mut out = Map::new();
        for (k, item) in t.iter() {
            let name = k.get_ref().to_string();
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.error(
                    k.span(),
                    format!("{name:?} is not a valid environment variable name"),
                );
                continue;
            }
            match item.get_ref() {
                DeValue::String(s) => {
                    out.insert(name, Value::String(s.to_string()));
                }
                DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) => {
                    // Environment values are strings; numbers and booleans are written as text.
                    let text = match item.get_ref() {
                        DeValue::Boolean(b) => b.to_string(),
                        other => describe(other)
                            .split_once(' ')
                            .map_or(String::new(), |(_, n)| n.to_owned()),
                    };
                    out.insert(name, Value::String(text));
                }
                other => self.error(
                    item.span(),
                    format!(
                        "`extra_env.{name}` must be a string, found {}",
                        describe(other)
                    ),
                ),
            }
        }
        Some(out)
    }

    fn task_refs(&mut self, key: &str, v: &Sv<'_>) -> Option<Vec<(String, Span)>> {
        match v.get_ref() {
            DeValue::String(s) => Some(vec![(s.to_string(), v.span())]),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push((s.to_string(), item.span())),
                        other => self.error(
                            item.span(),
                            format!(
                                "`{key}` must hold task ids (strings), found {}",
                                describe(other)
                            ),
                        ),
                    }
                }
                Some(out)
            }
            _ => {
                self.wrong_type(key, v, "an array of task ids");
                None
            }
        }
    }

    pub(super) fn task(
        &mut self,
        k: &Spanned<std::borrow::Cow<'_, str>>,
        v: &Sv<'_>,
        defaults: &Fields,
        dag_config: &ExecutorConfig,
    ) -> (Option<Task>, TaskRefs) {
        let task_id = k.get_ref().to_string();
        let header = k.span();
        let no_refs = TaskRefs {
            task_id: task_id.clone(),
            header: header.clone(),
            refs: Vec::new(),
            settings: Written::new(),
        };
        let id_ok = self.id("task id", &task_id, header.clone());
        let DeValue::Table(t) = v.get_ref() else {
            self.error(
                v.span(),
                format!(
                    "task `{task_id}` must be a table ([tasks.{task_id}] with a `type`), found {}",
                    describe(v.get_ref())
                ),
            );
            return (None, no_refs);
        };
        let place = format!("task `{task_id}`");
        let ty = match t.iter().find(|(key, _)| key.get_ref() == "type") {
            Some((_, tv)) => match self.string("type", tv) {
                None => None,
                Some(name) => match TaskType::from_name(&name) {
                    Some(ty) => Some(ty),
                    None => {
                        let names = schema::TASK_TYPES.iter().map(|(n, _)| *n);
                        let hint = schema::suggest(&name, names)
                            .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                        self.error(
                            tv.span(),
                            format!(
                                "unknown task type {name:?} in {place}; {hint}expected {}",
                                schema::TYPES_EXPECTED
                            ),
                        );
                        None
                    }
                },
            },
            None => {
                self.error(
                    header.clone(),
                    format!(
                        "{place} has no `type`; expected type = {}",
                        schema::TYPES_EXPECTED
                    ),
                );
                None
            }
        };

        let mut fields = Fields::new();
        let mut key_spans: BTreeMap<&'static str, Span> = BTreeMap::new();
        for (key, item) in t.iter() {
            let name = key.get_ref().as_ref();
            if name == "type" {
                continue;
            }
            match keys::task_key(keys::canonical(name)) {
                Some(k) => {
                    let (canon, scope) = (k.name, k.scope().unwrap_or(Scope::Common));
                    if let Some(first) = key_spans.get(canon) {
                        let line = self.src.locate(first.clone()).line;
                        self.error(
                            key.span(),
                            format!(
                                "`{name}` repeats `{canon}` (set on line {line}); keep one of them"
                            ),
                        );
                        continue;
                    }
                    key_spans.insert(canon, key.span());
                    if let Some(ty) = ty
                        && !scope.allows(ty)
                    {
                        self.error(
                            key.span(),
                            format!(
                                "`{name}` is not a parameter of {} tasks (it belongs to {})",
                                ty.name(),
                                scope.owners()
                            ),
                        );
                        continue;
                    }
                    if let Some(p) = self.task_value(k, item) {
                        fields.insert(canon, (p, item.span()));
                    }
                }
                None => self.unknown_task_key(name, key.span(), &place, ty),
            }
        }
        let mut refs = TaskRefs {
            task_id: task_id.clone(),
            header: header.clone(),
            refs: Vec::new(),
            // The task's own settings, before [default_args] fills in.
            settings: match fields.get("lithops_config") {
                Some((Parsed::Config(c), _)) => c.1.clone(),
                _ => Written::new(),
            },
        };
        if let Some((Parsed::Refs(list), _)) = fields.get("upstream") {
            refs.refs
                .extend(list.iter().map(|(t, s)| (t.clone(), s.clone(), "upstream")));
        }
        if let Some((Parsed::DataFrom(list), _)) = fields.get("data_from_task") {
            refs.refs.extend(
                list.iter()
                    .map(|(_, t, s)| (t.clone(), s.clone(), "data_from_task")),
            );
        }
        if let Some((Parsed::DataFrom(list), _)) = fields.get("op_kwargs_from_task") {
            refs.refs.extend(
                list.iter()
                    .map(|(_, t, s)| (t.clone(), s.clone(), "op_kwargs_from_task")),
            );
        }
        if let Some((Parsed::ArgsFrom(list), _)) = fields.get("op_args_from_task") {
            refs.refs.extend(
                list.iter()
                    .map(|(_, t, s)| (t.clone(), s.clone(), "op_args_from_task")),
            );
        }
        if let Some((Parsed::IterFrom(it), span)) = fields.get("iterdata_from_task")
            && let Some(t) = it.from_task()
        {
            refs.refs
                .push((t.to_owned(), span.clone(), "iterdata_from_task"));
        }
        if let Some((Parsed::Expand(list), _)) = fields.get("expand") {
            refs.refs
                .extend(list.iter().filter_map(|(_, src, s)| match src {
                    ExpandSource::Task(t) => Some((t.clone(), s.clone(), "expand")),
                    ExpandSource::Literal(_) => None,
                }));
        }
        if let Some((Parsed::ExpandKwargs(ExpandSource::Task(t)), span)) =
            fields.get("expand_kwargs")
        {
            refs.refs.push((t.clone(), span.clone(), "expand_kwargs"));
        }
        let Some(ty) = ty else { return (None, refs) };
        for (key, value) in defaults {
            let applies = keys::task_key(key)
                .and_then(Key::scope)
                .is_some_and(|scope| scope.allows(ty));
            // A task's own value wins, also over a default for the other key of an
            // either-or pair (its own iterdata_from_task beats a default map_iterdata).
            let overridden = key_spans.contains_key(key)
                || keys::EXCLUSIVE_PAIRS.iter().any(|(a, b)| {
                    (a == key && key_spans.contains_key(b))
                        || (b == key && key_spans.contains_key(a))
                });
            if !applies {
                continue;
            }
            match (fields.get_mut(key), value) {
                // Executor settings merge key by key: the task's win, the defaults fill in.
                (Some((Parsed::Config(own), _)), (Parsed::Config(default), _)) => {
                    let mut merged = default.0.clone();
                    merged.merge(&own.0);
                    own.0 = merged;
                }
                // `params` merge key by key too: the task's win over [default_args]'
                // (Airflow 2.10 folds the DAG's default_args params into the DAG's
                // params, under every task's own: models/dag.py, baseoperator.py).
                (
                    Some((Parsed::Plain(PlainValue::Kwargs(own)), _)),
                    (Parsed::Plain(PlainValue::Kwargs(default)), _),
                ) if *key == "params" => {
                    let mut merged = default.clone();
                    merged.extend(std::mem::take(own));
                    *own = merged;
                }
                _ if overridden => {}
                _ => {
                    fields.insert(key, value.clone());
                }
            }
        }
        let task = self.assemble(&task_id, ty, &mut fields, &key_spans, header, dag_config);
        (task.filter(|_| id_ok), refs)
    }
}
