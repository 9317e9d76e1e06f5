//! Hard-coded credentials in a DAG file are never copied: not into the TOML, the generated
//! module or the report. What looks like one is decided by `lithoflow_dag::redact` (by the
//! name a string is given to, and by shape); this module finds the string literals of the
//! Python source with the names they are given to, replaces each credential in what
//! migrate writes by a reference, and reports each with its `file:line:col`.
//!
//! The references are Airflow's: `{{ var.value.<name> }}` for a plain credential, and
//! `{{ conn.<id>.password }}` for the password of a connection URI. Until the variable or
//! connection is defined (`lithoflow variables set`, `lithoflow connections add`), such a
//! template fails to render when the task runs: the reference cannot pass for a value. In the generated module (Python code, where
//! templates do not render) a credential becomes `os.environ["<NAME>"]`.

use std::collections::BTreeMap;

use rustpython_parser::{Mode, Tok, lexer::lex};

use super::emit::{Line, TomlDoc, TomlVal};
use super::model::Finding;
use super::value::Span;
use lithoflow_dag::diag::Severity;
use lithoflow_dag::redact::{self, SecretKind, SecretSpan};

/// A string literal of the DAG file that holds a credential.
#[derive(Debug, Clone)]
pub(crate) struct Literal {
    /// The name it is given to: keyword argument, variable, dict key, environment variable.
    name: Option<String>,
    /// The whole token, quotes and prefix included.
    token: Span,
    /// Where its text starts in the file.
    content_start: usize,
    /// Its text as written (escapes not processed).
    raw: String,
    /// The credentials in `raw`.
    secrets: Vec<SecretSpan>,
}

impl Literal {
    fn secret_texts(&self) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .filter_map(|s| self.raw.get(s.range.clone()))
    }
}

/// The string literals of `src` that hold a credential, with the names they are given to
/// (`name = "…"`, `name="…"`, `"name": "…"`, `os.environ["NAME"] = "…"`).
pub(crate) fn scan(src: &str) -> Vec<Literal> {
    let toks: Vec<(Tok, Span)> = lex(src, Mode::Module)
        .map_while(Result::ok)
        .map(|(t, r)| (t, usize::from(r.start())..usize::from(r.end())))
        .collect();
    let mut out = Vec::new();
    for (i, (tok, range)) in toks.iter().enumerate() {
        let Tok::String {
            value,
            kind,
            triple_quoted,
        } = tok
        else {
            continue;
        };
        let back = |n: usize| i.checked_sub(n).and_then(|j| toks.get(j)).map(|t| &t.0);
        let name = match (back(3), back(2), back(1)) {
            (_, Some(Tok::Name { name }), Some(Tok::Equal)) => Some(name.clone()),
            (_, Some(Tok::String { value: k, .. }), Some(Tok::Colon)) => Some(k.clone()),
            (Some(Tok::String { value: k, .. }), Some(Tok::Rsqb), Some(Tok::Equal)) => {
                Some(k.clone())
            }
            _ => None,
        };
        let text = src.get(range.clone()).unwrap_or("");
        let prefix = text.find(['"', '\'']).unwrap_or(0);
        let content_start = range.start + prefix + if *triple_quoted { 3 } else { 1 };
        // An f-string's `{x}` is code: its name says nothing about the literal parts.
        let by_name = if kind.is_any_fstring() && value.contains('{') {
            None
        } else {
            name.as_deref()
        };
        let secrets = redact::find_secrets(by_name, value);
        if !secrets.is_empty() {
            out.push(Literal {
                name,
                token: range.clone(),
                content_start,
                raw: value.clone(),
                secrets,
            });
        }
    }
    out
}

/// The credentials met in one file and the references chosen for them.
#[derive(Debug, Default)]
pub(crate) struct Vault {
    literals: Vec<Literal>,
    /// Each credential's reference name, by its text.
    names: BTreeMap<String, String>,
    /// Each reference name's credential, so that two credentials never share one.
    taken: BTreeMap<String, String>,
    /// Credentials found in the values written (not only in literals).
    found: Vec<String>,
}

/// What one credential in a written value was replaced by.
struct Replaced {
    span: Span,
    what: String,
    reference: String,
    var: String,
    conn: bool,
}

impl Vault {
    pub(crate) fn new(src: &str) -> Vault {
        Vault {
            literals: scan(src),
            ..Vault::default()
        }
    }

    /// Every credential text known: to mask wherever it would be printed.
    pub(crate) fn values(&self) -> Vec<&str> {
        self.literals
            .iter()
            .flat_map(Literal::secret_texts)
            .chain(self.found.iter().map(String::as_str))
            .collect()
    }

    /// Replaces the credentials in every value of `doc` (a DAG of the file, `dag`) by
    /// references, marks the lines, and reports each credential.
    pub(crate) fn scrub_doc(&mut self, src: &str, doc: &mut TomlDoc, dag: usize) -> Vec<Finding> {
        let mut replaced = Vec::new();
        let tables = std::iter::once(&mut doc.top)
            .chain(std::iter::once(&mut doc.default_args))
            .chain(doc.tasks.iter_mut().map(|(_, lines)| lines));
        for lines in tables {
            for line in lines.iter_mut() {
                let Line::Key {
                    key,
                    value,
                    comment,
                } = line
                else {
                    continue;
                };
                let before = replaced.len();
                self.scrub_value(src, key, value, &mut replaced);
                if replaced.len() > before {
                    let note =
                        "migrate: hard-coded credential replaced by a reference (see the report)";
                    *comment = Some(match comment.take() {
                        Some(c) => format!("{c}; {note}"),
                        None => note.to_owned(),
                    });
                }
            }
        }
        let mut findings: Vec<Finding> = Vec::new();
        for r in replaced {
            let message = if r.conn {
                format!(
                    "hard-coded credential in `{}`: not copied; the TOML refers to the connection's password `{}` instead: define the connection `{}` with it (`lithoflow connections add {} --conn-uri ...`; until then the task fails when it renders this reference)",
                    r.what, r.reference, r.var, r.var
                )
            } else {
                format!(
                    "hard-coded credential in `{}`: not copied; the TOML refers to `{}` instead: set the variable `{}` to it (`lithoflow variables set {} ...`; until then the task fails when it renders this reference)",
                    r.what, r.reference, r.var, r.var
                )
            };
            if !findings
                .iter()
                .any(|f| f.span == r.span && f.message == message)
            {
                findings.push(Finding {
                    span: r.span,
                    severity: Severity::Error,
                    message,
                    dag: Some(dag),
                });
            }
        }
        findings.sort_by_key(|f| f.span.start);
        findings
    }

    /// `text` with every credential known masked (for messages and comments, which quote
    /// the DAG file).
    pub(crate) fn mask(&self, text: &str) -> String {
        redact::redact_text(&redact::mask_values(text, &self.values()))
    }

    /// Masks what the comments of `doc` would echo (gaps and notes quote the DAG file).
    pub(crate) fn mask_comments(&self, doc: &mut TomlDoc) {
        doc.header = doc.header.iter().map(|h| self.mask(h)).collect();
        let tables = std::iter::once(&mut doc.top)
            .chain(std::iter::once(&mut doc.default_args))
            .chain(doc.tasks.iter_mut().map(|(_, lines)| lines));
        for lines in tables {
            for line in lines.iter_mut() {
                match line {
                    Line::Comment(c) => *c = self.mask(c),
                    Line::Key {
                        comment: Some(c), ..
                    } => *c = self.mask(c),
                    Line::Key { .. } => {}
                }
            }
        }
    }

    fn scrub_value(&mut self, src: &str, name: &str, v: &mut TomlVal, out: &mut Vec<Replaced>) {
        match v {
            TomlVal::Str(s) => {
                if let Some(new) = self.scrub_str(src, name, s, out) {
                    *s = new;
                }
            }
            TomlVal::Array(items) => {
                for i in items {
                    self.scrub_value(src, name, i, out);
                }
            }
            TomlVal::Table(items) => {
                for (k, i) in items {
                    self.scrub_value(src, k, i, out);
                }
            }
            TomlVal::Int(_) | TomlVal::Float(_) | TomlVal::Bool(_) | TomlVal::Datetime(_) => {}
        }
    }

    /// `s` (the value of key `name`) with its credentials replaced, if it has any.
    fn scrub_str(
        &mut self,
        src: &str,
        name: &str,
        s: &str,
        out: &mut Vec<Replaced>,
    ) -> Option<String> {
        let mut spans = redact::find_secrets(Some(name), s);
        // Credentials found in the literals, wherever they ended up (a constant given to
        // a task, an f-string that built a command).
        for lit in &self.literals {
            for (sec, text) in lit.secrets.iter().zip(lit.secret_texts()) {
                if text.len() >= 4 {
                    spans.extend(s.match_indices(text).map(|(i, _)| SecretSpan {
                        range: i..i + text.len(),
                        kind: sec.kind,
                    }));
                }
            }
        }
        if spans.is_empty() {
            return None;
        }
        spans.sort_by_key(|x| (x.range.start, std::cmp::Reverse(x.range.end)));
        let mut result = String::with_capacity(s.len());
        let mut at = 0;
        for sp in spans {
            if sp.range.start < at {
                continue;
            }
            let secret = &s[sp.range.clone()];
            let lit = self.literal_of(secret);
            let lit_name = lit.and_then(|l| l.name.clone());
            let span = match lit {
                Some(l) => {
                    let off = l.raw.find(secret).unwrap_or(0);
                    l.content_start + off..l.content_start + off + secret.len()
                }
                // Not a literal as such (escapes: a PEM key's `\n`): where its first line is.
                None => {
                    let first = secret.lines().next().unwrap_or(secret);
                    match src.find(first).filter(|_| first.len() >= 8) {
                        Some(i) => i..i + first.len(),
                        None => 0..0,
                    }
                }
            };
            let what = lit_name
                .clone()
                .filter(|n| redact::is_credential_name(n))
                .unwrap_or_else(|| name.to_owned());
            let (reference, var, conn) = if sp.kind == SecretKind::UriPassword {
                let id = self.name_for(secret, &conn_id(lit_name.as_deref(), name, s, &sp));
                (format!("{{{{ conn.{id}.password }}}}"), id, true)
            } else {
                let base = [lit_name.as_deref(), Some(name)]
                    .into_iter()
                    .flatten()
                    .find(|n| redact::is_credential_name(n))
                    .map(identifier)
                    .unwrap_or_else(|| match sp.kind {
                        SecretKind::Token(n) => n.to_owned(),
                        SecretKind::AwsAccessKeyId => "aws_access_key_id".to_owned(),
                        SecretKind::PrivateKey => "private_key".to_owned(),
                        SecretKind::ByName | SecretKind::UriPassword => identifier(name),
                    });
                let var = self.name_for(secret, &base);
                (format!("{{{{ var.value.{var} }}}}"), var, false)
            };
            if !self.found.iter().any(|f| f == secret) {
                self.found.push(secret.to_owned());
            }
            result.push_str(&s[at..sp.range.start]);
            result.push_str(&reference);
            at = sp.range.end;
            out.push(Replaced {
                span,
                what,
                reference,
                var,
                conn,
            });
        }
        result.push_str(&s[at..]);
        Some(result)
    }

    /// The literal a credential text comes from, if it is written in one.
    fn literal_of(&self, secret: &str) -> Option<&Literal> {
        self.literals
            .iter()
            .find(|l| l.secret_texts().any(|t| t == secret))
            .or_else(|| self.literals.iter().find(|l| l.raw.contains(secret)))
    }

    /// The reference name for a credential: `base`, or `base_2`, ... when another
    /// credential already has it.
    fn name_for(&mut self, secret: &str, base: &str) -> String {
        if let Some(n) = self.names.get(secret) {
            return n.clone();
        }
        let mut name = base.to_owned();
        let mut k = 1;
        while self.taken.get(&name).is_some_and(|s| s != secret) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.names.insert(secret.to_owned(), name.clone());
        self.taken.insert(name.clone(), secret.to_owned());
        name
    }

    /// The generated module's text with every credential literal replaced by a lookup of
    /// an environment variable, and each reported (for `dags`, the DAGs using the module).
    pub(crate) fn scrub_module(
        &mut self,
        src: &str,
        module: &str,
        dags: &[usize],
    ) -> (String, Vec<Finding>) {
        let mut text = module.to_owned();
        let mut findings = Vec::new();
        let literals = self.literals.clone();
        for lit in &literals {
            let Some(token) = src.get(lit.token.clone()) else {
                continue;
            };
            if !text.contains(token) {
                continue;
            }
            let Some((quote_at, quote)) =
                token.char_indices().find(|(_, c)| *c == '"' || *c == '\'')
            else {
                continue;
            };
            let open = if lit.content_start - lit.token.start - quote_at == 3 {
                quote.to_string().repeat(3)
            } else {
                quote.to_string()
            };
            let prefix = &token[..quote_at];
            let mut parts = Vec::new();
            let mut at = 0;
            let mut vars = Vec::new();
            for (sec, secret) in lit.secrets.iter().zip(lit.secret_texts()) {
                if sec.range.start < at {
                    continue;
                }
                let base = lit
                    .name
                    .as_deref()
                    .filter(|n| redact::is_credential_name(n))
                    .map(identifier)
                    .unwrap_or_else(|| match sec.kind {
                        SecretKind::Token(n) => n.to_owned(),
                        SecretKind::AwsAccessKeyId => "aws_access_key_id".to_owned(),
                        SecretKind::PrivateKey => "private_key".to_owned(),
                        SecretKind::ByName | SecretKind::UriPassword => "secret".to_owned(),
                    });
                let var = self.name_for(secret, &base).to_ascii_uppercase();
                let before = &lit.raw[at..sec.range.start];
                if !before.is_empty() {
                    parts.push(format!("{prefix}{open}{before}{open}"));
                }
                parts.push(format!("os.environ[\"{var}\"]"));
                at = sec.range.end;
                vars.push(var);
            }
            let after = &lit.raw[at..];
            if !after.is_empty() {
                parts.push(format!("{prefix}{open}{after}{open}"));
            }
            let replacement = if parts.len() == 1 {
                parts.remove(0)
            } else {
                format!("({})", parts.join(" + "))
            };
            text = text.replace(token, &replacement);
            let what = lit.name.clone().unwrap_or_else(|| "a string".to_owned());
            for var in vars {
                for &d in dags {
                    findings.push(Finding {
                        span: lit.token.clone(),
                        severity: Severity::Error,
                        message: format!(
                            "hard-coded credential in `{what}`: not copied to the generated module, which reads the environment variable `{var}` instead: set it where the task runs"
                        ),
                        dag: Some(d),
                    });
                }
            }
        }
        if text != module && !text.lines().any(|l| l.trim() == "import os") {
            // After the marker line(s) at the top, before the copied code.
            let at = text
                .lines()
                .take_while(|l| l.starts_with('#'))
                .map(|l| l.len() + 1)
                .sum::<usize>()
                .min(text.len());
            text.insert_str(at, "import os\n");
        }
        (text, findings)
    }
}

/// A name as an identifier for a variable: lower case, `_` for anything else.
fn identifier(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() { "secret".into() } else { s }
}

/// A connection id for the URI whose password `sp` is: from the name it was given to
/// (`warehouse_uri` is `warehouse`), else from the URI (`postgresql_db_internal`).
fn conn_id(lit_name: Option<&str>, key: &str, s: &str, sp: &SecretSpan) -> String {
    let from_name = [lit_name, Some(key)]
        .into_iter()
        .flatten()
        .map(identifier)
        .find(|n| n != "secret" && !n.is_empty());
    if let Some(n) = from_name {
        let mut n = n.as_str();
        for suffix in [
            "_connection_string",
            "_conn_string",
            "_conn_str",
            "_connection",
            "_conn",
            "_uri",
            "_url",
            "_dsn",
            "_string",
        ] {
            n = n.strip_suffix(suffix).unwrap_or(n);
        }
        if !n.is_empty() && !matches!(n, "bash_command" | "op_args" | "op_kwargs" | "env") {
            return n.to_owned();
        }
    }
    let scheme = s[..sp.range.start]
        .rfind("://")
        .map(|i| {
            let head = &s[..i];
            let from = head
                .char_indices()
                .rev()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || "+.-".contains(*c)))
                .map_or(0, |(j, c)| j + c.len_utf8());
            &head[from..]
        })
        .unwrap_or("conn");
    let host: String = s[sp.range.end..]
        .trim_start_matches('@')
        .chars()
        .take_while(|c| !":/?#".contains(*c) && !c.is_whitespace())
        .collect();
    identifier(&format!("{scheme}_{host}"))
}
