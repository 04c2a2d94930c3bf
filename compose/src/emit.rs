//! `config` output: the project as YAML in the layout Docker Compose prints (go-yaml v3 with a
//! two-space indent, sequences indented under their key, strings quoted only where YAML would
//! read them as something else) or as indented JSON. Literal `$` is written back as `$$`, so the
//! output loads again to the same project.

use serde_json::Value as Json;

use crate::model::Project;
use crate::yaml::{resolve_plain, Value};

/// The project as a JSON value in Compose's key order, with `$` escaped.
pub fn to_value(p: &Project, escape_dollars: bool) -> Json {
    let mut v = serde_json::to_value(p).unwrap_or(Json::Null);
    if escape_dollars {
        escape(&mut v);
    }
    v
}

fn escape(v: &mut Json) {
    match v {
        Json::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Json::Array(items) => items.iter_mut().for_each(escape),
        Json::Object(m) => m.values_mut().for_each(escape),
        _ => {}
    }
}

pub fn json(p: &Project, escape_dollars: bool) -> String {
    let v = to_value(p, escape_dollars);
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

pub fn yaml(p: &Project, escape_dollars: bool) -> String {
    to_yaml(&to_value(p, escape_dollars))
}

/// Any JSON value as block YAML.
pub fn to_yaml(v: &Json) -> String {
    let mut out = String::new();
    match v {
        Json::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Json::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&inline(other).unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

/// The longest key written in the `key: value` form (YAML's limit is 1024 characters).
const MAX_IMPLICIT_KEY: usize = 1000;

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Json>, indent: usize) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first entry of a map inside a sequence follows its `- ` on the same line.
        if i > 0 || !out.ends_with("- ") {
            pad(out, indent);
        }
        let key = scalar_str(k);
        if key.len() > MAX_IMPLICIT_KEY {
            // YAML allows an implicit key of at most 1024 characters: a longer one is explicit.
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            pad(out, indent);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        write_value(out, v, indent);
    }
}

/// Writes what follows `key:` or `-`.
fn write_value(out: &mut String, v: &Json, indent: usize) {
    match v {
        Json::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, indent + 2);
        }
        Json::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, indent + 2);
        }
        Json::String(s) if s.contains('\n') && !s.starts_with([' ', '\t', '\n']) => {
            let chomp = if !s.ends_with('\n') {
                "-"
            } else if s.ends_with("\n\n") {
                "+"
            } else {
                ""
            };
            out.push_str(&format!(" |{chomp}\n"));
            let body = s.strip_suffix('\n').unwrap_or(s);
            for line in body.split('\n') {
                if !line.is_empty() {
                    pad(out, indent + 2);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Json], indent: usize) {
    for v in a {
        pad(out, indent);
        out.push('-');
        match v {
            Json::Object(m) if !m.is_empty() => {
                out.push(' ');
                write_map(out, m, indent + 2);
            }
            _ => write_value(out, v, indent),
        }
    }
}

fn inline(v: &Json) -> Option<String> {
    Some(match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => scalar_str(s),
        Json::Object(_) => "{}".into(),
        Json::Array(_) => "[]".into(),
    })
}

/// A string as go-yaml v3 writes it: plain when safe, double-quoted when YAML would read it as
/// another type, single-quoted when it holds YAML syntax.
pub fn scalar_str(s: &str) -> String {
    if s.is_empty() || !matches!(resolve_plain(s), Value::Str(_)) || is_old_bool(s) {
        return double_quoted(s);
    }
    if s.chars().any(|c| c.is_control() && c != '\t') || s.contains('\n') {
        return double_quoted(s);
    }
    if plain_ok(s) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF"
    )
}

fn plain_ok(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    let second = s.chars().nth(1);
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    if matches!(first, ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`') {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && second.is_none_or(|c| c == ' ') {
        return false;
    }
    !(s.contains(": ") || s.contains(" #") || s.ends_with(':'))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layout() {
        let v = json!({
            "name": "p",
            "services": {"web": {
                "command": ["echo", "hi: there"],
                "environment": {"A": "1", "B": null, "C": "", "D": "yes", "E": "*x"},
                "ports": [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}],
                "volumes": [{"type": "volume", "source": "d", "target": "/d", "volume": {}}],
                "x-multi": "a\nb\n",
            }},
        });
        let expected = "\
name: p
services:
  web:
    command:
      - echo
      - 'hi: there'
    environment:
      A: \"1\"
      B: null
      C: \"\"
      D: \"yes\"
      E: '*x'
    ports:
      - mode: ingress
        target: 80
        published: \"8080\"
        protocol: tcp
    volumes:
      - type: volume
        source: d
        target: /d
        volume: {}
    x-multi: |
      a
      b
";
        assert_eq!(to_yaml(&v), expected);
    }
}
