//! Compose's dotenv syntax: `KEY=VALUE` or `KEY: VALUE`, `export`, `#` comments, single quotes
//! (literal, may span lines), double quotes (`\n`, `\r`, `\"` escapes, may span lines, variables
//! expanded), unquoted values (cut at `#`, trimmed, variables expanded), and a bare `KEY` that
//! takes its value from the environment.

use std::path::Path;

use crate::error::LoadError;
use crate::interpolate::{substitute, TemplateError};

/// Parses `text` into ordered `(key, value)` pairs. `lookup` is the environment, which wins over
/// the file (as in Compose) and also feeds `${VAR}` expansion; earlier keys of the file feed it too.
pub fn parse(
    text: &str,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, LoadError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    let err = |rest: &str, msg: String| LoadError::Dotenv { path: path.to_path_buf(), line: line_of(text, rest), msg };
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('#') {
            rest = rest.find('\n').map_or("", |i| &rest[i..]);
            continue;
        }
        let stmt = rest.strip_prefix("export").filter(|r| r.starts_with([' ', '\t'])).unwrap_or(rest);
        let stmt = stmt.trim_start_matches(is_space);
        let (key, after, inherited) = match stmt.find(['=', ':', '\n']) {
            Some(i) => (stmt[..i].trim_end(), &stmt[i + 1..], stmt.as_bytes()[i] == b'\n'),
            None => (stmt.trim_end(), "", true),
        };
        if key.is_empty() {
            return Err(err(rest, "missing variable name".into()));
        }
        if let Some(c) = key.chars().find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '.'))) {
            let msg = if c == ' ' || c == '\t' {
                "key cannot contain a space".to_string()
            } else {
                format!("unexpected character {c:?} in variable name {key:?}")
            };
            return Err(err(rest, msg));
        }
        let key = key.to_string();
        if inherited {
            if let Some(v) = lookup(&key) {
                set(&mut out, key, v);
            }
            rest = after;
            continue;
        }
        let after = after.trim_start_matches(is_space);
        let known =
            |name: &str| lookup(name).or_else(|| out.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
        let (value, next) = match after.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let body = &after[1..];
                let end = closing_quote(body, q).ok_or_else(|| {
                    err(rest, format!("unterminated quoted value {}", after.lines().next().unwrap_or("")))
                })?;
                let raw = &body[..end];
                let value =
                    if q == '"' { expand(&unescape(raw), &known).map_err(|m| err(rest, m))? } else { raw.to_string() };
                (value, &body[end + 1..])
            }
            _ => {
                let end = after.find('\n').unwrap_or(after.len());
                let line = &after[..end];
                let line = line.split('#').next().unwrap_or("").trim_end();
                (expand(line, &known).map_err(|m| err(rest, m))?, &after[end..])
            }
        };
        let value = lookup(&key).unwrap_or(value);
        set(&mut out, key, value);
        rest = next;
    }
    Ok(out)
}

fn set(out: &mut Vec<(String, String)>, key: String, value: String) {
    match out.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => out.push((key, value)),
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

fn line_of(text: &str, rest: &str) -> usize {
    let consumed = text.len() - rest.len();
    text[..consumed].matches('\n').count() + 1
}

/// The closing quote, skipping ones escaped by a backslash.
fn closing_quote(body: &str, q: char) -> Option<usize> {
    let mut prev = '\0';
    for (i, c) in body.char_indices() {
        if c == q && prev != '\\' {
            return Some(i);
        }
        prev = c;
    }
    None
}

/// Double-quote escapes, written so that a later `substitute` keeps `\$` literal.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('$') => out.push_str("$$"),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn expand(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    substitute(value, lookup, &mut |_| {}).map_err(|e| match e {
        TemplateError::Invalid => format!("invalid interpolation format: {value:?}"),
        TemplateError::Required { name, msg } => format!("required variable {name} is missing a value: {msg}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<(String, String)> {
        let env = |n: &str| (n == "FROM_SHELL").then(|| "shell".to_string());
        parse(text, Path::new(".env"), &env).unwrap()
    }

    fn get(pairs: &[(String, String)], k: &str) -> String {
        pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {k}"))
    }

    #[test]
    fn syntax() {
        let env = p(concat!(
            "# comment\n",
            "PLAIN=hello world   # trailing\n",
            "export EXPORTED=1\n",
            "COLON: yes\n",
            "SINGLE='a $PLAIN \\n b'\n",
            "DOUBLE=\"line1\\nline2 ${PLAIN} \\$NOT \\\"q\\\"\"\n",
            "MULTI=\"first\nsecond\"\n",
            "EMPTY=\n",
            "FROM_SHELL=file\n",
            "FROM_SHELL\n",
            "DEFAULTED=${MISSING:-dflt}\n",
            "  SPACED = v  \n",
        ));
        assert_eq!(get(&env, "PLAIN"), "hello world");
        assert_eq!(get(&env, "EXPORTED"), "1");
        assert_eq!(get(&env, "COLON"), "yes");
        assert_eq!(get(&env, "SINGLE"), "a $PLAIN \\n b");
        assert_eq!(get(&env, "DOUBLE"), "line1\nline2 hello world $NOT \"q\"");
        assert_eq!(get(&env, "MULTI"), "first\nsecond");
        assert_eq!(get(&env, "EMPTY"), "");
        assert_eq!(get(&env, "FROM_SHELL"), "shell");
        assert_eq!(get(&env, "DEFAULTED"), "dflt");
        assert_eq!(get(&env, "SPACED"), "v");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("A=1\nB=\"open\n", Path::new(".env"), &|_| None).unwrap_err();
        assert_eq!(e.to_string(), ".env:2: unterminated quoted value \"open");
        let e = parse("A B=1\n", Path::new(".env"), &|_| None).unwrap_err();
        assert_eq!(e.to_string(), ".env:1: key cannot contain a space");
    }
}
