//! Assets (Airflow 3's `Asset`, Airflow 2's `Dataset`): what tasks produce (`outlets`)
//! and read (`inlets`), and the conditions over them a DAG may be scheduled on
//! (`schedule = ["s3://b/k", ...]`, `{ all = [...] }`, `{ any = [...] }`).
//!
//! An asset is identified by its URI, normalised as Airflow's `_sanitize_uri` does
//! (`airflow/sdk/definitions/asset/__init__.py` in Airflow 3.1,
//! `airflow/datasets/__init__.py` in 2.10). Pure: no IO.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The longest asset URI or name Airflow 3 accepts.
pub const MAX_ASSET_LEN: usize = 1500;

/// An asset: its URI (the identity), name, group and extra.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Asset {
    /// The normalised URI.
    pub uri: String,
    /// Its name (Airflow 3); the URI as written when not given.
    pub name: String,
    /// Its group (Airflow 3), `"asset"` when not given.
    pub group: String,
    /// Free JSON given with it.
    pub extra: Map<String, Value>,
}

impl Asset {
    /// An asset written as its URI alone (`Dataset(uri)`, `Asset(uri)`): the name is the
    /// URI as written, the group `"asset"`.
    pub fn from_uri(written: &str) -> Result<Asset, String> {
        check_identifier("uri", written)?;
        Ok(Asset {
            uri: sanitize_uri(written)?,
            name: written.to_owned(),
            group: "asset".to_owned(),
            extra: Map::new(),
        })
    }
}

/// A condition over assets: Airflow's `AssetAll` (a list in `schedule`) and `AssetAny`,
/// nested at will.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetCondition {
    /// One asset: met when it was updated.
    Asset(Asset),
    /// Every member met (`AssetAll`, `&`).
    All(Vec<AssetCondition>),
    /// At least one member met (`AssetAny`, `|`).
    Any(Vec<AssetCondition>),
}

impl AssetCondition {
    /// Whether the condition holds, given which asset URIs were updated (Airflow's
    /// `AssetAll.evaluate` is `all(...)`, `AssetAny.evaluate` is `any(...)`).
    pub fn evaluate(&self, updated: &dyn Fn(&str) -> bool) -> bool {
        match self {
            AssetCondition::Asset(a) => updated(&a.uri),
            AssetCondition::All(items) => items.iter().all(|c| c.evaluate(updated)),
            AssetCondition::Any(items) => items.iter().any(|c| c.evaluate(updated)),
        }
    }

    /// Every asset the condition names, each once, in the order first named.
    pub fn assets(&self) -> Vec<&Asset> {
        let mut out: Vec<&Asset> = Vec::new();
        self.collect(&mut out);
        let mut seen = BTreeSet::new();
        out.retain(|a| seen.insert(a.uri.as_str()));
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Asset>) {
        match self {
            AssetCondition::Asset(a) => out.push(a),
            AssetCondition::All(items) | AssetCondition::Any(items) => {
                items.iter().for_each(|c| c.collect(out));
            }
        }
    }

    /// The condition as Airflow 2.10's `dataset_expression` (`{"all": ["uri", ...]}`,
    /// `{"any": [...]}`, a lone asset as its URI).
    pub fn expression(&self) -> Value {
        match self {
            AssetCondition::Asset(a) => Value::String(a.uri.clone()),
            AssetCondition::All(items) => {
                json!({ "all": items.iter().map(AssetCondition::expression).collect::<Vec<_>>() })
            }
            AssetCondition::Any(items) => {
                json!({ "any": items.iter().map(AssetCondition::expression).collect::<Vec<_>>() })
            }
        }
    }
}

/// Airflow's checks of a name or URI (`_validate_identifier`): not empty, not only
/// whitespace, at most 1,500 characters.
pub fn check_identifier(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("an asset {what} cannot be empty"));
    }
    if value.trim().is_empty() {
        return Err(format!("an asset {what} cannot be just whitespace"));
    }
    if value.chars().count() > MAX_ASSET_LEN {
        return Err(format!(
            "an asset {what} cannot exceed {MAX_ASSET_LEN} characters, found {}",
            value.chars().count()
        ));
    }
    Ok(())
}

/// Airflow 3.1's `_sanitize_uri`: a string that does not look like a URI (no scheme and
/// no host) is kept as it is, as are `x-` schemes; the scheme `airflow` is reserved; user
/// info is dropped (Airflow warns), the scheme lower-cased, trailing slashes of the path
/// removed (an empty path becomes `/`), the query sorted, the fragment dropped.
pub fn sanitize_uri(uri: &str) -> Result<String, String> {
    let parts = urlsplit(uri);
    if parts.scheme.is_empty() && parts.netloc.is_none() {
        return Ok(uri.to_owned());
    }
    if parts.scheme.is_empty() || parts.scheme.starts_with("x-") {
        return Ok(uri.to_owned());
    }
    if parts.scheme == "airflow" {
        return Err(format!(
            "asset URI {uri:?}: the scheme 'airflow' is reserved"
        ));
    }
    let netloc = parts
        .netloc
        .map(|n| n.rsplit_once('@').map_or(n, |(_, host)| host).to_owned());
    let path = match parts.path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let query = normalise_query(parts.query);
    // urllib.parse.urlunsplit
    let mut out = String::new();
    out.push_str(&parts.scheme);
    out.push(':');
    if netloc.as_deref().is_some_and(|n| !n.is_empty()) || uses_netloc(&parts.scheme) {
        out.push_str("//");
        out.push_str(netloc.as_deref().unwrap_or(""));
        if !path.starts_with('/') {
            out.push('/');
        }
    }
    out.push_str(path);
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    Ok(out)
}

/// Whether an asset URI carries user info (`user:password@`), which Airflow drops with
/// a warning.
pub fn has_user_info(uri: &str) -> bool {
    urlsplit(uri).netloc.is_some_and(|n| n.contains('@'))
}

/// The parts of `urllib.parse.urlsplit` the sanitiser uses. `netloc` is None when the
/// URI has no `//`.
struct Split<'a> {
    scheme: String,
    netloc: Option<&'a str>,
    path: &'a str,
    query: &'a str,
}

fn urlsplit(url: &str) -> Split<'_> {
    let url = url.trim_start_matches(|c: char| c <= ' ');
    let mut scheme = String::new();
    let mut rest = url;
    if let Some(i) = url.find(':')
        && i > 0
        && url.as_bytes()[0].is_ascii_alphabetic()
        && url[..i]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        scheme = url[..i].to_ascii_lowercase();
        rest = &url[i + 1..];
    }
    let mut netloc = None;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = Some(&after[..end]);
        rest = &after[end..];
    }
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Split {
        scheme,
        netloc,
        path,
        query,
    }
}

/// Schemes `urlunsplit` writes with `//` even when the host is empty (`file:///x`).
fn uses_netloc(scheme: &str) -> bool {
    matches!(
        scheme,
        "ftp"
            | "http"
            | "gopher"
            | "nntp"
            | "telnet"
            | "imap"
            | "wais"
            | "file"
            | "mms"
            | "https"
            | "shttp"
            | "snews"
            | "prospero"
            | "rtsp"
            | "rtsps"
            | "rtspu"
            | "rsync"
            | "svn"
            | "svn+ssh"
            | "sftp"
            | "nfs"
            | "git"
            | "git+ssh"
            | "ws"
            | "wss"
            | "itms-services"
    )
}

/// `urlencode(sorted(parse_qsl(query)))`: pairs without a value dropped, decoded, sorted,
/// encoded with `quote_plus`.
fn normalise_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            (!v.is_empty()).then(|| (unquote_plus(k), unquote_plus(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn unquote_plus(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn quote_plus(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~') => {
                out.push(char::from(b));
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(uris: &[&str]) -> Vec<AssetCondition> {
        uris.iter()
            .map(|u| AssetCondition::Asset(Asset::from_uri(u).expect("valid")))
            .collect()
    }

    #[test]
    fn uris_are_normalised_as_airflow() {
        let cases = [
            ("s3://bucket/raw.csv", "s3://bucket/raw.csv"),
            ("S3://bucket/dir/", "s3://bucket/dir"),
            ("s3://bucket", "s3://bucket/"),
            ("asset://orders", "asset://orders/"),
            ("file:///tmp/x.csv", "file:///tmp/x.csv"),
            (
                "postgres://u:pw@host:5432/db/t",
                "postgres://host:5432/db/t",
            ),
            ("http://h/p?b=2&a=1#frag", "http://h/p?a=1&b=2"),
            ("http://h/p?a=&b=x y", "http://h/p?b=x+y"),
            ("orders", "orders"),
            ("x-custom://Anything/", "x-custom://Anything/"),
            ("/data/raw.csv", "/data/raw.csv"),
            ("foo:bar/", "foo:bar"),
        ];
        for (written, want) in cases {
            assert_eq!(sanitize_uri(written).as_deref(), Ok(want), "{written}");
        }
    }

    #[test]
    fn bad_uris_are_refused() {
        assert!(sanitize_uri("airflow://dag/x").is_err());
        assert!(sanitize_uri("AIRFLOW://dag/x").is_err());
        assert!(Asset::from_uri("").is_err());
        assert!(Asset::from_uri("   ").is_err());
        assert!(Asset::from_uri(&"a".repeat(1501)).is_err());
        assert!(has_user_info("s3://key:secret@bucket/k"));
    }

    #[test]
    fn all_needs_every_asset_any_one() {
        let all = AssetCondition::All(cond(&["s3://b/a", "s3://b/b"]));
        let any = AssetCondition::Any(cond(&["s3://b/a", "s3://b/b"]));
        let one = |u: &str| u == "s3://b/a";
        let both = |u: &str| u == "s3://b/a" || u == "s3://b/b";
        let none = |_: &str| false;
        assert!(!all.evaluate(&one));
        assert!(all.evaluate(&both));
        assert!(!all.evaluate(&none));
        assert!(any.evaluate(&one));
        assert!(any.evaluate(&both));
        assert!(!any.evaluate(&none));
    }

    #[test]
    fn nested_conditions_evaluate_inside_out() {
        // any(a, all(b, c))
        let mut inner = cond(&["s3://b/b", "s3://b/c"]);
        let nested = AssetCondition::Any(vec![
            cond(&["s3://b/a"]).remove(0),
            AssetCondition::All(std::mem::take(&mut inner)),
        ]);
        assert!(nested.evaluate(&|u| u == "s3://b/a"));
        assert!(!nested.evaluate(&|u| u == "s3://b/b"));
        assert!(nested.evaluate(&|u| u == "s3://b/b" || u == "s3://b/c"));
        assert_eq!(
            nested.expression(),
            json!({"any": ["s3://b/a", {"all": ["s3://b/b", "s3://b/c"]}]})
        );
        let uris: Vec<&str> = nested.assets().iter().map(|a| a.uri.as_str()).collect();
        assert_eq!(uris, ["s3://b/a", "s3://b/b", "s3://b/c"]);
    }
}
