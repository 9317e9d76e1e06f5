//! Keeping secrets out of what lithoflow shows and writes: CLI output (`dags show`,
//! `tasks list`), API answers and, through them, the terminal UI; the snippets of source
//! lines diagnostics print (`dags validate`, `migrate`); and the values `lithoflow migrate`
//! copies out of Airflow DAG files. This module is the one place that decides what looks
//! like a credential.
//!
//! Two questions, two strictnesses:
//! - **What to mask when showing** (broad: masking too much costs nothing): every value of
//!   `extra_env` and of a bash task's `env` (they are environment variables, the usual
//!   home of credentials), the value of any key whose name says it holds one
//!   ([`is_secret_name`]: `*SECRET*`, `*TOKEN*`, `*PASSWORD*`, `*PASSWD*`, `*CREDENTIAL*`,
//!   or `KEY`, `PWD`, `PASSPHRASE`, `AUTHORIZATION` as a word of the name), and every
//!   credential-shaped string anywhere ([`find_secrets`]). Each is shown as [`MASK`].
//! - **What a value copied into a DAG file must not be** (strict: a false positive breaks a
//!   DAG): [`find_secrets`] with the name the value was given to. By name, a string literal
//!   under a name whose words say credential (`api_key`, `apiKey`, `X-Api-Key`, `password`,
//!   `db_passwd`, `client_secret`, `auth_token`, `Authorization`, `credentials`, ...) unless
//!   the last word only describes one (`token_url`, `secret_name`, `password_file`,
//!   `key_path`); under a weaker name (`key`, `auth`, `signature`) only a random-looking
//!   string (20 characters or more, mixing letters and digits). Never a template
//!   (`{{ var.value.x }}`), an environment reference (`$X`, `${X}`), a file path, a URL
//!   without a password, an empty string or an obvious placeholder (`changeme`,
//!   `<your-key>`, `your_api_key_here`, `xxxx`). By shape, anywhere: AWS access key ids,
//!   PEM private keys, the password of a `scheme://user:password@host` URI, the tokens of
//!   GitHub, GitLab, Slack, OpenAI, Anthropic, Stripe, Google, SendGrid and npm, JWTs,
//!   Slack webhook paths, and the credential after `Authorization: Bearer`/`Basic` or an
//!   API-key header.
//!
//! Pure: no IO.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

/// What a secret is shown as.
pub const MASK: &str = "***";

/// Object keys whose every value is an environment variable, masked whatever its name.
const ENV_KEYS: &[&str] = &["extra_env", "env"];

/// Words that make a name a credential's whatever its value looks like.
const STRONG_WORDS: &[&str] = &[
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "CREDENTIALS",
    "CREDS",
    "APIKEY",
    "ACCESSKEY",
    "PRIVATEKEY",
    "SECRETKEY",
    "AUTHTOKEN",
    "ACCESSTOKEN",
    "CLIENTSECRET",
    "AUTHORIZATION",
];

/// Words before `KEY` that make it a credential's name (`api_key`, `x-api-key`).
const KEY_QUALIFIERS: &[&str] = &[
    "API",
    "ACCESS",
    "PRIVATE",
    "SECRET",
    "SIGNING",
    "ENCRYPTION",
    "MASTER",
    "SUBSCRIPTION",
    "LICENSE",
    "CLIENT",
];

/// Words that make a name a credential's only when its value looks random.
const WEAK_WORDS: &[&str] = &["KEY", "AUTH", "PASS", "SIGNATURE", "SALT", "HMAC"];

/// Last words that say the name describes a credential rather than holds one
/// (`token_url`, `secret_name`, `password_file`, `max_token_length`).
const DESCRIPTORS: &[&str] = &[
    "URL",
    "URI",
    "ENDPOINT",
    "HOST",
    "NAME",
    "NAMES",
    "PATH",
    "FILE",
    "FILENAME",
    "DIR",
    "FOLDER",
    "ARN",
    "TYPE",
    "FIELD",
    "HEADER",
    "PARAM",
    "VAR",
    "VARIABLE",
    "ENV",
    "LENGTH",
    "LEN",
    "COUNT",
    "LIMIT",
    "TTL",
    "EXPIRY",
    "EXPIRES",
    "EXPIRATION",
    "TIMEOUT",
    "SECONDS",
    "MIN",
    "MAX",
    "REF",
    "CONN",
    "LOCATION",
    "PREFIX",
    "SCOPE",
    "SCOPES",
    "VERSION",
    "REGION",
    "PROVIDER",
    "BACKEND",
    "METHOD",
    "FORMAT",
    "ENABLED",
    "REQUIRED",
    "KIND",
    "MODE",
];

/// Values that stand for a credential someone still has to fill in.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "dummy",
    "none",
    "null",
    "secret",
    "password",
    "token",
    "todo",
    "tbd",
    "redacted",
    "example",
];

/// What a credential found in a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A string given to a name that says it holds a credential.
    ByName,
    /// An AWS access key id (`AKIA…`, `ASIA…`).
    AwsAccessKeyId,
    /// A PEM private key block.
    PrivateKey,
    /// The password of a `scheme://user:password@host` URI.
    UriPassword,
    /// A token of a known shape; the name a variable holding it would have
    /// (`github_token`, `openai_api_key`).
    Token(&'static str),
}

/// A credential found in a text: where (a byte range of the text), and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpan {
    /// The bytes of the credential itself (not the name or `Bearer ` before it).
    pub range: Range<usize>,
    /// What it is.
    pub kind: SecretKind,
}

/// Credential shapes: the pattern, which group is the secret, and what it is.
static SHAPES: LazyLock<Vec<(Regex, usize, SecretKind)>> = LazyLock::new(|| {
    let token = SecretKind::Token;
    [
        (
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
            0,
            SecretKind::AwsAccessKeyId,
        ),
        (
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\z)",
            0,
            SecretKind::PrivateKey,
        ),
        (
            r#"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@"'{}]+:([^\s@/?#"'{}$]+)@"#,
            1,
            SecretKind::UriPassword,
        ),
        (r"\bgh[pousr]_[A-Za-z0-9]{30,}", 0, token("github_token")),
        (r"\bgithub_pat_[A-Za-z0-9_]{30,}", 0, token("github_token")),
        (r"\bglpat-[A-Za-z0-9_\-]{20,}", 0, token("gitlab_token")),
        (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", 0, token("slack_token")),
        (
            r"\bsk-ant-[A-Za-z0-9_\-]{20,}",
            0,
            token("anthropic_api_key"),
        ),
        (
            r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}",
            0,
            token("openai_api_key"),
        ),
        (r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}", 0, token("stripe_api_key")),
        (r"\bAIza[0-9A-Za-z_\-]{35}", 0, token("google_api_key")),
        (
            r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",
            0,
            token("sendgrid_api_key"),
        ),
        (r"\bnpm_[A-Za-z0-9]{36}\b", 0, token("npm_token")),
        (
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
            0,
            token("jwt"),
        ),
        (
            r"hooks\.slack\.com/services/([A-Za-z0-9/]+)",
            1,
            token("slack_webhook"),
        ),
        (
            r#"(?i)\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?\s*(?:bearer|basic|token|digest|apikey)\s+([A-Za-z0-9._~+/\-]{8,}=*)"#,
            1,
            token("api_token"),
        ),
        (
            r"(?i)\bbearer\s+([A-Za-z0-9._~+/\-]{16,}=*)",
            1,
            token("api_token"),
        ),
        (
            r#"(?i)\b(?:x-api-key|api-key|x-auth-token)["']?\s*[:=]\s*["']?([A-Za-z0-9._~+/\-]{12,}=*)"#,
            1,
            token("api_key"),
        ),
    ]
    .into_iter()
    .map(|(re, group, kind)| (Regex::new(re).expect("a valid pattern"), group, kind))
    .collect()
});

/// `name=value`, `name: value` or `"name":"value"` inside a free text (a shell command,
/// JSON in a string): the value is a credential when the name says so. A colon needs a
/// space or a quote after it: `module:function` is not a name and its value.
static NAME_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"([A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*(?:=|:\s|:["'])\s*["']?([^\s"'&,;{}$()\[\]<>]{6,})"#,
    )
    .expect("a valid pattern")
});

/// A Bearer/Basic scheme before a credential given by name (`"Authorization": "Bearer x"`).
static AUTH_SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:bearer|basic|token|digest|apikey)\s+").expect("a valid pattern")
});

/// Whether a key's name says its value is a credential (broad: for masking what is shown).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w))
    {
        return true;
    }
    words(name).iter().any(|w| {
        matches!(
            w.as_str(),
            "KEY"
                | "APIKEY"
                | "ACCESSKEY"
                | "PRIVATEKEY"
                | "SECRETKEY"
                | "PWD"
                | "PASSPHRASE"
                | "AUTHORIZATION"
        )
    })
}

/// Whether a name says the string given to it is a credential (strictly: `api_key`,
/// `db_password`, `Authorization`; also `key` or `auth`, whose values must look random).
pub fn is_credential_name(name: &str) -> bool {
    name_strength(name) != Strength::None
}

/// How strongly a name says its value is a credential (strict: for values to copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strength {
    None,
    /// Only a random-looking value is one.
    Weak,
    /// Any literal value is one.
    Strong,
}

fn name_strength(name: &str) -> Strength {
    // `PWD` (and `OLDPWD`) as an environment variable is the shell's working folder.
    if name == "PWD" || name == "OLDPWD" {
        return Strength::None;
    }
    let w = words(name);
    let Some(last) = w.last() else {
        return Strength::None;
    };
    if w.len() > 1 && DESCRIPTORS.contains(&last.as_str()) {
        return Strength::None;
    }
    let qualified_key = w
        .windows(2)
        .any(|p| p[1] == "KEY" && KEY_QUALIFIERS.contains(&p[0].as_str()));
    if qualified_key || w.iter().any(|x| STRONG_WORDS.contains(&x.as_str())) {
        Strength::Strong
    } else if w.iter().any(|x| WEAK_WORDS.contains(&x.as_str())) {
        Strength::Weak
    } else {
        Strength::None
    }
}

/// The words of a name, upper-cased: split at `_`, `-`, `.`, spaces and lower-to-upper
/// case changes (`apiKey` is `API`, `KEY`).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_uppercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether `value` is a literal that could be a credential: not empty, not a template,
/// an environment reference, a path, a plain URL or a placeholder.
fn is_candidate(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() || v.contains("{{") || v.contains("{%") || v.starts_with('$') {
        return false;
    }
    if (v.starts_with('<') && v.ends_with('>')) || (v.starts_with('%') && v.ends_with('%')) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str())
        || lower.starts_with("your")
        || lower.contains("your_")
        || lower.contains("your-")
        || lower.contains("_here")
        || lower.contains("-here")
    {
        return false;
    }
    let mut chars = v.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return false; // `xxxx`, `****`
    }
    // A file that holds the credential, or a URL: names one, is not one (a URL's password
    // is found by its shape).
    let path = ["/", "./", "../", "~/"].iter().any(|p| v.starts_with(p))
        && !v.contains(char::is_whitespace);
    !path && !v.contains("://")
}

/// Whether a string looks randomly generated: 20 characters or more of a key's alphabet,
/// letters and digits mixed (upper and lower case, or hex of 32 or more), and varied.
fn looks_random(value: &str) -> bool {
    let v = value.trim();
    if v.len() < 20
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-.~".contains(c))
    {
        return false;
    }
    let (upper, lower, digit) = (
        v.chars().any(|c| c.is_ascii_uppercase()),
        v.chars().any(|c| c.is_ascii_lowercase()),
        v.chars().any(|c| c.is_ascii_digit()),
    );
    let hex = v.len() >= 32 && v.chars().all(|c| c.is_ascii_hexdigit()) && digit;
    (hex || (upper && lower && digit)) && entropy(v) >= 3.0
}

/// Shannon entropy of a string's characters, in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// The credentials in `value`, a string given to `name` (a keyword argument, a dict key,
/// a variable, an environment variable, a TOML key; `None` when it has none): by name
/// (the whole value, without a `Bearer `-like scheme), then by shape anywhere in it.
/// Sorted by position, without overlaps.
pub fn find_secrets(name: Option<&str>, value: &str) -> Vec<SecretSpan> {
    let mut out = Vec::new();
    if let Some(name) = name {
        let strength = name_strength(name);
        let candidate = is_candidate(value);
        if candidate
            && (strength == Strength::Strong || (strength == Strength::Weak && looks_random(value)))
        {
            let start = AUTH_SCHEME.find(value).map_or(0, |m| m.end());
            let trimmed_end = value.trim_end().len();
            if start < trimmed_end {
                let lead = value[start..].len() - value[start..].trim_start().len();
                out.push(SecretSpan {
                    range: start + lead..trimmed_end,
                    kind: SecretKind::ByName,
                });
            }
        }
    }
    for (re, group, kind) in SHAPES.iter() {
        for caps in re.captures_iter(value) {
            if let Some(m) = caps.get(*group) {
                // After `Bearer` or an API-key header, prose is not a credential: real ones
                // hold digits.
                let header = matches!(kind, SecretKind::Token("api_token" | "api_key"));
                if header && !m.as_str().contains(|c: char| c.is_ascii_digit()) {
                    continue;
                }
                out.push(SecretSpan {
                    range: m.range(),
                    kind: *kind,
                });
            }
        }
    }
    for caps in NAME_VALUE.captures_iter(value) {
        let (Some(n), Some(v)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        // Code, not a value: `password=Variable.get(...)`, `key=cfg[...]`.
        // An `Authorization: Bearer x` header's scheme is found above, with its credential.
        if value[v.end()..].starts_with(['(', '['])
            || AUTH_SCHEME.is_match(&format!("{} ", v.as_str()))
        {
            continue;
        }
        // In a free text a word after `token:` is prose ("refresh token: rotated"): a
        // value counts when it holds a digit or a symbol, as passwords and keys do.
        let symbolic = v
            .as_str()
            .contains(|c: char| c.is_ascii_digit() || "+/=_-.~!@#%^*".contains(c));
        let strength = name_strength(n.as_str());
        if symbolic
            && is_candidate(v.as_str())
            && (strength == Strength::Strong
                || (strength == Strength::Weak && looks_random(v.as_str())))
        {
            out.push(SecretSpan {
                range: v.range(),
                kind: SecretKind::ByName,
            });
        }
    }
    merge(out)
}

/// Sorts spans and drops those inside or overlapping an earlier, longer one.
fn merge(mut spans: Vec<SecretSpan>) -> Vec<SecretSpan> {
    spans.sort_by_key(|s| (s.range.start, std::cmp::Reverse(s.range.end)));
    let mut out: Vec<SecretSpan> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if s.range.start < last.range.end => {
                last.range.end = last.range.end.max(s.range.end);
            }
            _ => out.push(s),
        }
    }
    out
}

/// `text` with every credential-shaped part masked (not by name: `text` has none).
pub fn redact_text(text: &str) -> String {
    let spans = find_secrets(None, text);
    if spans.is_empty() {
        return text.to_owned();
    }
    let ranges: Vec<Range<usize>> = spans.into_iter().map(|s| s.range).collect();
    mask_ranges(text, &ranges).text
}

/// A line of source text with its credentials masked, and where the masks moved
/// what follows them (for carets under the line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedLine {
    /// The line as it may be shown.
    pub text: String,
    /// Each masked part: its characters in the original line, as a range of character
    /// positions, in order.
    masked: Vec<Range<usize>>,
}

impl MaskedLine {
    /// Where the character at 0-based position `col` of the original line is in the
    /// masked one (a position inside a masked part maps to the mask's start).
    pub fn position(&self, col: usize) -> usize {
        let mut shift: isize = 0;
        for r in &self.masked {
            if col >= r.end {
                shift += MASK.len() as isize - (r.end - r.start) as isize;
            } else if col >= r.start {
                return (r.start as isize + shift).max(0) as usize;
            }
        }
        (col as isize + shift).max(0) as usize
    }
}

/// `text` with the byte ranges in `ranges` (sorted, not overlapping) replaced by [`MASK`].
fn mask_ranges(text: &str, ranges: &[Range<usize>]) -> MaskedLine {
    let mut out = String::with_capacity(text.len());
    let mut masked = Vec::new();
    let mut at = 0;
    for r in ranges {
        if r.start < at || r.end > text.len() || r.start >= r.end {
            continue;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(MASK);
        let start = text[..r.start].chars().count();
        masked.push(start..start + text[r.start..r.end].chars().count());
        at = r.end;
    }
    out.push_str(&text[at..]);
    MaskedLine { text: out, masked }
}

/// Where `values` (credentials known from elsewhere, such as a constant later given to
/// `api_key`) occur in `text`. Values shorter than 4 characters are left alone: masking
/// them would hide unrelated text.
fn occurrences(text: &str, values: &[&str]) -> Vec<SecretSpan> {
    let mut spans = Vec::new();
    for v in values.iter().filter(|v| v.len() >= 4) {
        spans.extend(text.match_indices(v).map(|(i, _)| SecretSpan {
            range: i..i + v.len(),
            kind: SecretKind::ByName,
        }));
    }
    spans
}

/// `text` with every occurrence of `values` (credentials known from elsewhere) masked;
/// values shorter than 4 characters are left alone.
pub fn mask_values(text: &str, values: &[&str]) -> String {
    let ranges: Vec<Range<usize>> = merge(occurrences(text, values))
        .into_iter()
        .map(|s| s.range)
        .collect();
    mask_ranges(text, &ranges).text
}

/// A line of TOML or Python source with its credentials masked: string literals given to a
/// credential's name (`api_key = "…"`, `api_key="…"`, `"api_key": "…"`), credential-shaped
/// parts anywhere, and the `known` credentials wherever they occur. For the snippets
/// diagnostics show.
pub fn mask_line(line: &str, known: &[&str]) -> MaskedLine {
    let mut spans = find_secrets(None, line);
    spans.extend(occurrences(line, known));
    for lit in string_literals(line) {
        let Some(name) = name_before(line, lit.quote_start) else {
            continue;
        };
        let content = &line[lit.content.clone()];
        // An f-string's `{x}` is code, not a literal.
        if lit.fstring && content.contains('{') {
            continue;
        }
        spans.extend(
            find_secrets(Some(&name), content)
                .into_iter()
                .map(|s| SecretSpan {
                    range: s.range.start + lit.content.start..s.range.end + lit.content.start,
                    kind: s.kind,
                }),
        );
    }
    let ranges: Vec<Range<usize>> = merge(spans).into_iter().map(|s| s.range).collect();
    mask_ranges(line, &ranges)
}

/// A quoted string on one line.
struct Literal {
    /// Where its prefix (`f`, `r`, `b`) or opening quote is.
    quote_start: usize,
    content: Range<usize>,
    fstring: bool,
}

/// The string literals of one line of Python or TOML (`"…"`, `'…'`, `"""…`, with Python's
/// prefixes); one still open at the end of the line runs to the end.
fn string_literals(line: &str) -> Vec<Literal> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let q = b[i];
        if q == b'#' {
            break; // a comment (in both languages)
        }
        if q != b'"' && q != b'\'' {
            i += 1;
            continue;
        }
        let mut prefix_start = i;
        while prefix_start > 0 && b"rRbBfFuU".contains(&b[prefix_start - 1]) {
            prefix_start -= 1;
        }
        let ident_before = prefix_start > 0
            && (b[prefix_start - 1].is_ascii_alphanumeric() || b[prefix_start - 1] == b'_');
        let (prefix_start, fstring) = if ident_before || prefix_start == i {
            (i, false)
        } else {
            (prefix_start, line[prefix_start..i].contains(['f', 'F']))
        };
        let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
        let open = if triple { 3 } else { 1 };
        let start = i + open;
        let mut j = start;
        let mut end = b.len();
        let mut close = b.len();
        while j < b.len() {
            if b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j] == q && (!triple || (b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q))) {
                end = j;
                close = j + open;
                break;
            }
            j += 1;
        }
        out.push(Literal {
            quote_start: prefix_start,
            content: start..end.min(b.len()),
            fstring,
        });
        i = close;
    }
    out
}

/// The name a literal starting at `at` is given to: `name = `, `name=`, `name: `,
/// `"name": `, `"name" = ` before it.
fn name_before(line: &str, at: usize) -> Option<String> {
    let before = line[..at].trim_end();
    let sep = before.chars().last()?;
    if sep != '=' && sep != ':' {
        return None;
    }
    let rest = &before[..before.len() - 1];
    if sep == '=' && rest.ends_with(['=', '!', '<', '>']) {
        return None; // a comparison
    }
    let rest = rest.trim_end();
    if let Some(q) = rest.chars().last().filter(|c| *c == '"' || *c == '\'') {
        let inner = &rest[..rest.len() - 1];
        let open = inner.rfind(q)?;
        return Some(inner[open + 1..].to_owned());
    }
    let start = rest
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let name = &rest[start..];
    (!name.is_empty()).then(|| name.to_owned())
}

/// A JSON value with its secrets masked: values under secret-named keys, every value of
/// an `extra_env` or `env` object, and credential-shaped parts of any string.
pub fn redact_value(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(redact_text(s)),
        Value::Array(items) => Value::Array(items.iter().map(redact_value).collect()),
        Value::Object(map) => Value::Object(redact_map(map)),
        other => other.clone(),
    }
}

/// [`redact_value`] of an object.
pub fn redact_map(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| {
            let shown = if ENV_KEYS.contains(&k.as_str()) {
                match v {
                    Value::Object(env) => Value::Object(mask_all(env)),
                    Value::Null => Value::Null,
                    _ => Value::String(MASK.to_owned()),
                }
            } else if is_secret_name(k) && !v.is_null() {
                Value::String(MASK.to_owned())
            } else {
                redact_value(v)
            };
            (k.clone(), shown)
        })
        .collect()
}

/// An environment with every value masked (the names stay: they say what is set).
pub fn mask_all(env: &Map<String, Value>) -> Map<String, Value> {
    env.keys()
        .map(|k| (k.clone(), Value::String(MASK.to_owned())))
        .collect()
}

/// Airflow's `DEFAULT_SENSITIVE_FIELDS` (Airflow 3.1's
/// `airflow/_shared/secrets_masker/secrets_masker.py`, which adds `access_key`,
/// `connection_string`, `proxy` and `proxies` to Airflow 2.10's list): a variable key or a
/// connection extra's key containing one of these (case-insensitively) is sensitive.
pub const AIRFLOW_SENSITIVE_FIELDS: &[&str] = &[
    "access_key",
    "access_token",
    "api_key",
    "apikey",
    "authorization",
    "connection_string",
    "passphrase",
    "passwd",
    "password",
    "private_key",
    "proxy",
    "proxies",
    "secret",
    "token",
    "keyfile_dict",
    "service_account",
];

/// Whether the value of a variable, or of a connection extra, named `name` is masked:
/// Airflow's rule (`should_hide_value_for_key`: the trimmed, lowercased name contains one
/// of [`AIRFLOW_SENSITIVE_FIELDS`]) or this module's broader [`is_secret_name`].
pub fn is_sensitive_var_conn_name(name: &str) -> bool {
    let lower = name.trim().to_lowercase();
    AIRFLOW_SENSITIVE_FIELDS.iter().any(|f| lower.contains(f)) || is_secret_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_that_hold_credentials() {
        for name in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "aws_session_token",
            "GITHUB_TOKEN",
            "db_password",
            "apiKey",
            "api_key",
            "PRIVATE_KEY",
            "client-secret",
            "key",
            "credentials",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "keyword",
            "monkey",
            "region",
            "bucket",
            "keys_count",
            "DEBUG",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn masks_env_values_secret_keys_and_aws_key_ids() {
        let v = json!({
            "extra_env": {"MODE": "fast", "DEBUG": 1},
            "op_kwargs": {"region": "eu-west-1", "db_password": "hunter2", "nested": [{"apiKey": "k"}]},
            "bash_command": "aws s3 ls --id AKIAIOSFODNN7EXAMPLE",
            "keyword": "x",
            "token": null
        });
        assert_eq!(
            redact_value(&v),
            json!({
                "extra_env": {"MODE": "***", "DEBUG": "***"},
                "op_kwargs": {"region": "eu-west-1", "db_password": "***", "nested": [{"apiKey": "***"}]},
                "bash_command": "aws s3 ls --id ***",
                "keyword": "x",
                "token": null
            })
        );
    }

    /// The parts of `value` (given to `name`) that are credentials.
    fn found(name: Option<&str>, value: &str) -> Vec<String> {
        find_secrets(name, value)
            .into_iter()
            .map(|s| value[s.range].to_owned())
            .collect()
    }

    #[test]
    fn literals_given_to_credential_names_are_credentials() {
        for (name, value, secret) in [
            (
                "api_key",
                "k3y-for-the-weather-service",
                "k3y-for-the-weather-service",
            ),
            ("apiKey", "abc12345", "abc12345"),
            (
                "X-Api-Key",
                "qFRHN4uyV8Xoqyq2cukNA",
                "qFRHN4uyV8Xoqyq2cukNA",
            ),
            ("db_password", "hunter2", "hunter2"),
            ("PASSWD", "hunter2", "hunter2"),
            ("client_secret", "s3cr3t-value", "s3cr3t-value"),
            ("auth_token", "t0k3n", "t0k3n"),
            (
                "Authorization",
                "Bearer abcdefgh12345678",
                "abcdefgh12345678",
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
            ),
            ("credentials", "user:pw", "user:pw"),
            // A weak name: only a random-looking value.
            (
                "key",
                "Zx81kQm2Lp07RtYv55NbWq3e",
                "Zx81kQm2Lp07RtYv55NbWq3e",
            ),
        ] {
            assert_eq!(found(Some(name), value), vec![secret], "{name} = {value:?}");
        }
    }

    #[test]
    fn names_templates_and_placeholders_that_are_not_credentials() {
        for (name, value) in [
            ("max_tokens", "100"),
            ("token_url", "https://auth.example.com/oauth/token"),
            ("secret_name", "prod/db"),
            ("password_file", "/run/secrets/db"),
            ("password", "{{ var.value.db_password }}"),
            ("api_key", "{{ conn.weather.password }}"),
            ("token", "$GITHUB_TOKEN"),
            ("api_key", ""),
            ("api_key", "changeme"),
            ("api_key", "<your-api-key>"),
            ("api_key", "YOUR_API_KEY_HERE"),
            ("password", "xxxxxxxx"),
            ("key", "data/2024/01/file_name.csv"),
            ("PWD", "/home/airflow"),
            ("tokenizer", "bert-base-uncased"),
            ("credentials", "/secrets/gcp.json"),
            ("region", "eu-west-1"),
        ] {
            assert!(found(Some(name), value).is_empty(), "{name} = {value:?}");
        }
    }

    #[test]
    fn credential_shapes_are_found_anywhere() {
        for (text, secret) in [
            (
                "aws s3 ls --id AKIAQ3EGRJ7XBN4KCW5T",
                "AKIAQ3EGRJ7XBN4KCW5T",
            ),
            (
                "postgresql://etl:Tr0ub4dor@db.internal:5432/sales",
                "Tr0ub4dor",
            ),
            (
                "curl -H 'Authorization: Bearer sk-proj-4fJk29XmQpL0vBn7RtYw' x",
                "sk-proj-4fJk29XmQpL0vBn7RtYw",
            ),
            (
                "ghp_0123456789abcdefghijABCDEFGHIJklmnop",
                "ghp_0123456789abcdefghijABCDEFGHIJklmnop",
            ),
            ("xoxb-1234-5678-abcdefghij", "xoxb-1234-5678-abcdefghij"),
            (
                "https://hooks.slack.com/services/T000/B000/XXXXabcd",
                "T000/B000/XXXXabcd",
            ),
            ("export DB_PASSWORD=Tr0ub4dor3 && run", "Tr0ub4dor3"),
            (r#"{"password": "Tr0ub4dor3"}"#, "Tr0ub4dor3"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            ),
        ] {
            assert_eq!(found(None, text), vec![secret], "{text}");
        }
        for text in [
            "postgresql://etl@db.internal/sales",
            "https://{{ conn.db.login }}:{{ conn.db.password }}@db/x",
            "Authorization: Bearer {{ var.value.token }}",
            "echo max_tokens=100",
            "password=Variable.get('db_password')",
            "my_credentials_tasks:fetch_forecast",
            "Refresh token: rotated monthly; the bearer authentication-mechanism",
        ] {
            assert!(found(None, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn lines_are_masked_and_positions_follow() {
        for (line, shown) in [
            (
                r#"op_kwargs = { api_key = "k3y-for-the-weather-service", n = 3 }"#,
                r#"op_kwargs = { api_key = "***", n = 3 }"#,
            ),
            (
                r#"    api_key="k3y-for-the-weather-service", retries=2,"#,
                r#"    api_key="***", retries=2,"#,
            ),
            (
                r#"headers={"Authorization": "Bearer abcdefgh12345678"},"#,
                r#"headers={"Authorization": "Bearer ***"},"#,
            ),
            (
                r#"OPENAI_API_KEY = 'sk-4fJk29XmQpL0vBn7RtYwZ'"#,
                r#"OPENAI_API_KEY = '***'"#,
            ),
            (
                r#"max_tokens=100, token_url="https://x/token", password="{{ var.value.pw }}""#,
                r#"max_tokens=100, token_url="https://x/token", password="{{ var.value.pw }}""#,
            ),
            (r#"api_key=f"{prefix}abc""#, r#"api_key=f"{prefix}abc""#),
            (
                r#"if password == "hunter2":"#,
                r#"if password == "hunter2":"#,
            ),
            (
                r#"“token”→password = "hunter22""#,
                r#"“token”→password = "***""#,
            ),
            (r#"€ = "é", §: "€""#, r#"€ = "é", §: "€""#),
        ] {
            assert_eq!(mask_line(line, &[]).text, shown);
        }
        let line = r#"a = { password = "hunter22", retrys = 3 }"#;
        let m = mask_line(line, &[]);
        let col = line.find("retrys").expect("in the line");
        assert_eq!(&m.text[m.position(col)..m.position(col) + 6], "retrys");
        assert_eq!(
            m.position(line.find("hunter22").expect("in")),
            line.find("hunter22").expect("in")
        );
    }
}
