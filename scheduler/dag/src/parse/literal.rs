//! Large `map_iterdata` arrays of plain scalars, read straight to JSON.
//!
//! toml's spanned document costs ~250 bytes per array element (tokens, parser events,
//! a spanned value each), so a map of 1,000,000 literal elements took ~430 MB just to
//! load. Before toml sees the file, [`splice`] looks for `map_iterdata = [` at the start
//! of a line whose array holds only integers, floats, booleans and plain strings (no
//! escapes), reads those elements straight into JSON values, and blanks the array's
//! inside with spaces, newlines kept: toml then parses an empty array at exactly the
//! same span, and every other line and column is unchanged, so diagnostics are too.
//! The walker takes the values back when it reads that array (keyed by the offset of
//! its `[`); whatever is uncertain (escapes, dates, nested arrays or tables, anything
//! invalid, a `[` that turns out not to be that key's value) is left to toml, and
//! [`super::parse_dag_with`] parses the original text again if a spliced array was not
//! taken back.

use std::collections::HashMap;

use serde_json::Value;

/// Arrays whose inside is shorter than this go through toml as usual.
const MIN_LEN: usize = 4096;

/// Elements read from the arrays blanked out of the text, by the offset of each `[`.
pub(super) type Literals = HashMap<usize, Vec<Value>>;

/// The text with each large plain `map_iterdata` array blanked, and its elements; None
/// when there is no such array.
pub(super) fn splice(text: &str) -> Option<(String, Literals)> {
    const KEY: &str = "map_iterdata";
    let mut found: Vec<(usize, usize, Vec<Value>)> = Vec::new();
    let mut line_start = 0;
    while line_start < text.len() {
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i + 1);
        let line = &text[line_start..line_end];
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let rest = &line[indent..];
        if let Some(after_key) = rest.strip_prefix(KEY) {
            let after_eq = after_key.trim_start_matches([' ', '\t']);
            if let Some(after_eq) = after_eq.strip_prefix('=') {
                let value = after_eq.trim_start_matches([' ', '\t']);
                if value.starts_with('[') {
                    let open = line_end - value.len();
                    if let Some((close, items)) = scan(text, open + 1)
                        && close - open > MIN_LEN
                    {
                        found.push((open, close, items));
                        // Carry on after the array.
                        line_start = text[close..]
                            .find('\n')
                            .map_or(text.len(), |i| close + i + 1);
                        continue;
                    }
                }
            }
        }
        line_start = line_end;
    }
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut literals = Literals::new();
    let mut at = 0;
    for (open, close, items) in found {
        out.push_str(&text[at..=open]);
        out.extend(
            text[open + 1..close]
                .bytes()
                .map(|b| if b == b'\n' { '\n' } else { ' ' }),
        );
        at = close;
        literals.insert(open, items);
    }
    out.push_str(&text[at..]);
    Some((out, literals))
}

/// Reads an array's elements from `at` (just after its `[`) to its `]`: the offset of
/// the `]` and the elements, or None if anything in it is not a plain scalar, a comma,
/// white space or a comment.
fn scan(text: &str, mut at: usize) -> Option<(usize, Vec<Value>)> {
    let b = text.as_bytes();
    // Sized once: a growing vector of 100,000 values copied itself into fresh pages at
    // each doubling (8% of a 100,000-call map's whole CPU time went to zeroing them).
    // The commas up to the first `]` bound the count (a string may hold more, or a `]`).
    let commas = b.get(at..).map_or(0, |rest| {
        let end = rest.iter().position(|&c| c == b']').unwrap_or(rest.len());
        rest[..end].iter().filter(|&&c| c == b',').count()
    });
    let mut items = Vec::with_capacity(commas.min(1 << 22) + 1);
    loop {
        at = skip_blank(b, at)?;
        match b.get(at)? {
            b']' => return Some((at, items)),
            _ => {
                let (value, end) = scalar(text, at)?;
                items.push(value);
                at = skip_blank(b, end)?;
                match b.get(at)? {
                    b',' => at += 1,
                    b']' => return Some((at, items)),
                    _ => return None,
                }
            }
        }
    }
}

/// Skips spaces, tabs, newlines and comments; None on a character TOML refuses there.
fn skip_blank(b: &[u8], mut at: usize) -> Option<usize> {
    while let Some(&c) = b.get(at) {
        match c {
            b' ' | b'\t' | b'\n' => at += 1,
            b'\r' if b.get(at + 1) == Some(&b'\n') => at += 2,
            b'#' => {
                at += 1;
                while let Some(&c) = b.get(at) {
                    match c {
                        b'\n' => break,
                        b'\r' if b.get(at + 1) == Some(&b'\n') => break,
                        b'\t' => at += 1,
                        c if c < 0x20 || c == 0x7f => return None,
                        _ => at += 1,
                    }
                }
            }
            _ => return Some(at),
        }
    }
    Some(at)
}

/// One plain scalar starting at `at`, and the offset just after it.
fn scalar(text: &str, at: usize) -> Option<(Value, usize)> {
    let b = text.as_bytes();
    let end = match b[at] {
        q @ (b'"' | b'\'') => {
            let mut i = at + 1;
            loop {
                match *b.get(i)? {
                    c if c == q => break,
                    b'\\' if q == b'"' => return None,
                    b'\t' => i += 1,
                    c if c < 0x20 || c == 0x7f => return None,
                    _ => i += 1,
                }
            }
            let s = &text[at + 1..i];
            // An empty string followed by a quote is a multi-line string: toml's.
            if super::dag::looks_like_access_key_id(s) || (s.is_empty() && b.get(i + 1) == Some(&q))
            {
                return None;
            }
            return delimited(b, i + 1).then(|| (Value::String(s.to_owned()), i + 1));
        }
        _ => b[at..]
            .iter()
            .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'#'))
            .map_or(b.len(), |n| at + n),
    };
    let word = &text[at..end];
    let value = match word {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => number(word)?,
    };
    Some((value, end))
}

/// Whether the character at `at` may follow a value inside an array.
fn delimited(b: &[u8], at: usize) -> bool {
    matches!(
        b.get(at),
        None | Some(b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'#')
    )
}

/// A decimal integer that fits in 64 bits, or a float with digits on both sides of its
/// point and an optional exponent; no underscores, no leading zeros, no inf or nan.
fn number(word: &str) -> Option<Value> {
    let unsigned = word.strip_prefix(['+', '-']).unwrap_or(word);
    let (int_part, rest) = unsigned.split_at(
        unsigned
            .bytes()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(unsigned.len()),
    );
    if int_part.is_empty() || (int_part.len() > 1 && int_part.starts_with('0')) {
        return None;
    }
    if rest.is_empty() {
        return word.parse::<i64>().ok().map(Value::from);
    }
    let (frac, exp) = match rest.strip_prefix('.') {
        Some(after) => {
            let n = after
                .bytes()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(after.len());
            if n == 0 {
                return None;
            }
            (true, &after[n..])
        }
        None => (false, rest),
    };
    if !exp.is_empty() {
        let digits = exp
            .strip_prefix(['e', 'E'])?
            .strip_prefix(['+', '-'])
            .unwrap_or_else(|| &exp[1..]);
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
    } else if !frac {
        return None;
    }
    let f: f64 = word.parse().ok()?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_toml_reads_them() {
        assert_eq!(number("0"), Some(Value::from(0)));
        assert_eq!(number("-12"), Some(Value::from(-12)));
        assert_eq!(number("+7"), Some(Value::from(7)));
        assert_eq!(number("1.5"), Some(Value::from(1.5)));
        assert_eq!(number("-2e3"), Some(Value::from(-2000.0)));
        assert_eq!(number("2.5E-1"), Some(Value::from(0.25)));
        for refused in [
            "01",
            "1_000",
            "0x10",
            "1.",
            ".5",
            "1e",
            "inf",
            "nan",
            "1979-05-27",
            "9223372036854775808",
            "-",
            "",
        ] {
            assert_eq!(number(refused), None, "{refused}");
        }
    }

    #[test]
    fn plain_arrays_are_blanked_in_place() {
        let items: Vec<String> = (0..2000).map(|i| i.to_string()).collect();
        let text = format!(
            "[tasks.m]\ntype = \"map\"\nmap_function = \"f:g\"\nmap_iterdata = [ # ints\n{},\n'a', \"b\", true, 1.5,\n]\nretries = 1\n",
            items.join(", ")
        );
        let Some((spliced, literals)) = splice(&text) else {
            panic!("not spliced");
        };
        assert_eq!(spliced.len(), text.len());
        assert_eq!(spliced.lines().count(), text.lines().count());
        let open = text.find("= [").map(|i| i + 2);
        let close = text.rfind(']');
        if let (Some(o), Some(c)) = (open, close) {
            assert!(spliced[o + 1..c].bytes().all(|b| b == b' ' || b == b'\n'));
            assert_eq!(spliced[..=o], text[..=o]);
            assert_eq!(spliced[c..], text[c..]);
        }
        let Some(values) = open.and_then(|o| literals.get(&o)) else {
            panic!("no literal at the array's bracket");
        };
        assert_eq!(values.len(), 2004);
        assert_eq!(values[1999], Value::from(1999));
        assert_eq!(values[2000], Value::from("a"));
        assert_eq!(values[2003], Value::from(1.5));
    }

    #[test]
    fn brackets_and_commas_inside_strings_do_not_end_an_array() {
        // The count of commas up to the first `]` only sizes the vector.
        let items: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
        let text = format!(
            "map_iterdata = ['a]b', \"c,d,e\", {}, ']']\n",
            items.join(", ")
        );
        let Some((_, literals)) = splice(&text) else {
            panic!("not spliced");
        };
        let Some(values) = literals.values().next() else {
            panic!("no literal");
        };
        assert_eq!(values.len(), 3003);
        assert_eq!(values[0], Value::from("a]b"));
        assert_eq!(values[1], Value::from("c,d,e"));
        assert_eq!(values[3001], Value::from(2999));
        assert_eq!(values[3002], Value::from("]"));
    }

    #[test]
    fn anything_uncertain_is_left_to_toml() {
        let big: Vec<String> = (0..2000).map(|i| i.to_string()).collect();
        let big = big.join(", ");
        for odd in [
            "\"a\\tb\"",
            "[1]",
            "{ x = 1 }",
            "1979-05-27",
            "1,,2",
            "\"\"\"s\"\"\"",
            "nan",
            "\"AKIAABCDEFGHIJKLMNOP\"",
        ] {
            let text = format!("map_iterdata = [{big}, {odd}]\n");
            assert!(splice(&text).is_none(), "{odd}");
        }
        // Too small to be worth it.
        assert!(splice("map_iterdata = [1, 2, 3]\n").is_none());
    }
}
