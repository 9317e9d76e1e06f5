//! Keeping secrets out of what lithoflow shows: CLI output (`dags show`, `tasks list`),
//! API answers and, through them, the terminal UI.
//!
//! What counts as a secret: every value of `extra_env` and of a bash task's `env` (they
//! are environment variables, the usual home of credentials), the value of any key whose
//! name says it holds one (`*SECRET*`, `*TOKEN*`, `*PASSWORD*`, `*PASSWD*`,
//! `*CREDENTIAL*`, or `KEY` as a word of the name, such as `AWS_ACCESS_KEY_ID` or
//! `apiKey`), and anything that looks like an AWS access key id wherever it appears.
//! Each is shown as [`MASK`]. Pure: no IO.

use std::sync::LazyLock;

use serde_json::{Map, Value};

/// What a secret is shown as.
pub const MASK: &str = "***";

/// Object keys whose every value is an environment variable, masked whatever its name.
const ENV_KEYS: &[&str] = &["extra_env", "env"];

/// AWS access key ids (long-term `AKIA`, temporary `ASIA`, and the other IAM prefixes).
static AWS_KEY_ID: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b").ok()
});

/// Whether a key's name says its value is a credential.
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
            "KEY" | "APIKEY" | "ACCESSKEY" | "PRIVATEKEY" | "SECRETKEY"
        )
    })
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

/// `text` with every AWS access key id in it masked.
pub fn redact_text(text: &str) -> String {
    match AWS_KEY_ID.as_ref() {
        Some(re) if re.is_match(text) => re.replace_all(text, MASK).into_owned(),
        _ => text.to_owned(),
    }
}

/// A JSON value with its secrets masked: values under secret-named keys, every value of
/// an `extra_env` or `env` object, and AWS access key ids inside any string.
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
}
