//! Diagnostics in the compiler convention: `PATH:LINE:COLUMN: error: MESSAGE`, then a
//! snippet of the offending line with a caret under the span.
//!
//! A diagnostic carries its resolved location (line, column and the line's text), so it
//! can be printed long after the source text is gone.
//!
//! Nothing printed echoes a credential: the snippet masks credential-looking values on the
//! line (`api_key = "***"`, [`crate::redact::mask_line`]) whatever the diagnostic is about,
//! with the caret moved to match, and the message masks credential shapes.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::redact;

/// How bad a diagnostic is. Only errors make a DAG file invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file cannot be used.
    Error,
    /// The file works, but probably not as its author meant.
    Warning,
    /// Information, for example a setting that has no effect on this backend.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        })
    }
}

/// A resolved position in a file: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// The text of the line, without its newline.
    #[serde(skip)]
    pub line_text: String,
    /// How many characters of the line the span covers (at least 1).
    #[serde(skip)]
    pub width: usize,
    /// Credentials known to be on the line besides those it shows by name or shape,
    /// masked when the line is shown ([`Diagnostic::mask_values`]).
    #[serde(skip)]
    known_secrets: Vec<String>,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// The file the problem is in.
    pub path: PathBuf,
    /// Where in the file; `None` when the problem is about the whole file (it cannot be read).
    #[serde(flatten)]
    pub location: Option<Location>,
    /// What was found and what was expected.
    pub message: String,
}

impl Diagnostic {
    /// The first line, `PATH:LINE:COLUMN: error: MESSAGE` (credential shapes in the
    /// message masked).
    pub fn headline(&self) -> String {
        let message = redact::redact_text(&self.message);
        match &self.location {
            Some(loc) => format!(
                "{}:{}:{}: {}: {}",
                self.path.display(),
                loc.line,
                loc.column,
                self.severity,
                message
            ),
            None => format!("{}: {}: {}", self.path.display(), self.severity, message),
        }
    }

    /// Whether this is an error (as opposed to a warning or a note).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Masks every occurrence of `values` (credentials found elsewhere in the file) in the
    /// message now, and in the snippet when it is shown (the location keeps the line's
    /// real text and column).
    pub fn mask_values(&mut self, values: &[&str]) {
        self.message = redact::mask_values(&self.message, values);
        if let Some(loc) = &mut self.location {
            loc.known_secrets
                .extend(values.iter().map(|v| (*v).to_owned()));
        }
    }
}

impl Location {
    /// The line and the span as they may be shown: credentials masked, the column and
    /// width moved with the text.
    fn shown(&self) -> (String, usize, usize) {
        let known: Vec<&str> = self.known_secrets.iter().map(String::as_str).collect();
        let masked = redact::mask_line(&self.line_text, &known);
        let start = masked.position(self.column - 1);
        let end = masked.position(self.column - 1 + self.width);
        (masked.text, start + 1, end.saturating_sub(start).max(1))
    }
}

impl fmt::Display for Diagnostic {
    /// The headline, then the line with a caret under the span.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline())?;
        if let Some(loc) = &self.location {
            let (line_text, column, width) = loc.shown();
            let gutter = loc.line.to_string().len();
            let text: String = line_text
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            writeln!(f, "{:gutter$} |", "")?;
            writeln!(f, "{} | {}", loc.line, text.trim_end())?;
            writeln!(
                f,
                "{:gutter$} | {}{}",
                "",
                " ".repeat(column - 1),
                "^".repeat(width)
            )?;
        }
        Ok(())
    }
}

/// A source file and its line starts, for turning byte offsets into locations.
#[derive(Debug)]
pub struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    /// Indexes `text`, which was read from `path`.
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            path,
            text,
            line_starts,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// The file's text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The location of a byte span. Out-of-range spans are clamped to the text.
    pub fn locate(&self, span: Range<usize>) -> Location {
        let start = floor_char_boundary(self.text, span.start.min(self.text.len()));
        let line_idx = self
            .line_starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        let line_start = self.line_starts[line_idx];
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line_text = self.text[line_start..line_end].trim_end_matches('\r');
        let column = self.text[line_start..start].chars().count() + 1;
        let end = floor_char_boundary(self.text, span.end.clamp(start, line_end.max(start)));
        let width = self.text[start..end].chars().count().max(1);
        let room = line_text.chars().count().saturating_sub(column - 1).max(1);
        Location {
            line: line_idx + 1,
            column,
            line_text: line_text.to_owned(),
            width: width.min(room),
            known_secrets: Vec::new(),
        }
    }

    /// A diagnostic at `span`.
    pub fn diagnostic(
        &self,
        severity: Severity,
        span: Range<usize>,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            path: self.path.to_owned(),
            location: Some(self.locate(span)),
            message,
        }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Sorts diagnostics by position and removes exact repeats (a bad `default_args` value is
/// found once per task it applies to, but reported once).
pub fn tidy(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        let pos = |d: &Diagnostic| d.location.as_ref().map(|l| (l.line, l.column));
        (&a.path, pos(a)).cmp(&(&b.path, pos(b)))
    });
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| {
        seen.insert((
            d.path.clone(),
            d.location.as_ref().map(|l| (l.line, l.column)),
            d.message.clone(),
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_headline_and_caret() {
        let text = "a = 1\nretrys = 3\n";
        let src = Source::new(Path::new("dags/x.toml"), text);
        let d = src.diagnostic(Severity::Error, 6..12, "unknown key `retrys`".into());
        insta::assert_snapshot!(d.to_string(), @r"
        dags/x.toml:2:1: error: unknown key `retrys`
          |
        2 | retrys = 3
          | ^^^^^^
        ");
    }

    #[test]
    fn snippets_mask_credentials_on_the_line_and_keep_the_caret() {
        let text = "[tasks.t]\nop_kwargs = { api_key = \"k3y-for-the-weather-service\", n = 3 }\nretrys = 1\n";
        let src = Source::new(Path::new("dags/x.toml"), text);
        let at = text.find("n = 3").expect("in the text");
        let d = src.diagnostic(Severity::Error, at..at + 1, "`n` must be a string".into());
        let shown = d.to_string();
        assert!(!shown.contains("k3y-for-the-weather-service"), "{shown}");
        insta::assert_snapshot!(shown, @r#"
        dags/x.toml:2:56: error: `n` must be a string
          |
        2 | op_kwargs = { api_key = "***", n = 3 }
          |                                ^
        "#);
    }

    #[test]
    fn messages_mask_credential_shapes() {
        let src = Source::new(Path::new("f"), "x = 1\n");
        let d = src.diagnostic(
            Severity::Error,
            0..1,
            "unknown value \"AKIAQ3EGRJ7XBN4KCW5T\"".into(),
        );
        assert_eq!(d.headline(), "f:1:1: error: unknown value \"***\"");
    }

    #[test]
    fn known_values_are_masked_in_message_and_line() {
        let text = "KEY1 = \"Zq8xWv2LmN4pRt6YbC0d\"; other = oops\n";
        let src = Source::new(Path::new("f.py"), text);
        let at = text.find("oops").expect("in");
        let mut d = src.diagnostic(
            Severity::Error,
            at..at + 4,
            "`oops` near Zq8xWv2LmN4pRt6YbC0d".into(),
        );
        d.mask_values(&["Zq8xWv2LmN4pRt6YbC0d"]);
        insta::assert_snapshot!(d.to_string(), @r#"
        f.py:1:40: error: `oops` near ***
          |
        1 | KEY1 = "***"; other = oops
          |                       ^^^^
        "#);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "s = \"é\" x";
        let src = Source::new(Path::new("f"), text);
        let loc = src.locate(9..10);
        assert_eq!((loc.line, loc.column), (1, 9));
    }

    #[test]
    fn spans_past_the_end_are_clamped() {
        let src = Source::new(Path::new("f"), "abc");
        let loc = src.locate(10..20);
        assert_eq!((loc.line, loc.column, loc.width), (1, 4, 1));
    }
}
