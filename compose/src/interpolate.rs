//! `${VAR}` interpolation in values (never keys), with Compose's operators.

use crate::error::LoadError;
use crate::yaml::{Node, Value};

/// What went wrong in one template.
#[derive(Debug, PartialEq)]
pub enum TemplateError {
    /// A `$` that starts nothing valid.
    Invalid,
    /// `${VAR:?msg}` / `${VAR?msg}` with VAR missing.
    Required { name: String, msg: String },
}

/// Substitutes `template`; `lookup` answers variables, `unset` hears of each variable that was
/// used bare and is not set (Compose warns about those).
pub fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = closing_brace(inner).ok_or(TemplateError::Invalid)?;
            out.push_str(&braced(&inner[..end], lookup, unset)?);
            rest = &inner[end + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                return Err(TemplateError::Invalid);
            }
            let name = &after[..len];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => unset(name),
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The length of a variable name at the start of `s`.
fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first().is_none_or(|c| !(c.is_ascii_alphabetic() || *c == b'_')) {
        return 0;
    }
    b.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count()
}

/// The index of the `}` closing a `${`, counting nested `${ ... }`.
fn closing_brace(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
) -> Result<String, TemplateError> {
    let len = name_len(inner);
    if len == 0 {
        return Err(TemplateError::Invalid);
    }
    let name = &inner[..len];
    let op = &inner[len..];
    let value = lookup(name);
    let (colon, op) = match op.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, op),
    };
    // With a colon, an empty value counts as missing.
    let present = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    if op.is_empty() && !colon {
        return Ok(value.unwrap_or_else(|| {
            unset(name);
            String::new()
        }));
    }
    let (kind, arg) = op.split_at(op.chars().next().map_or(0, char::len_utf8));
    match kind {
        "-" if present => Ok(value.unwrap_or_default()),
        "-" => substitute(arg, lookup, unset),
        "+" if present => substitute(arg, lookup, unset),
        "+" => Ok(String::new()),
        "?" if present => Ok(value.unwrap_or_default()),
        "?" => Err(TemplateError::Required { name: name.to_string(), msg: substitute(arg, lookup, unset)? }),
        _ => Err(TemplateError::Invalid),
    }
}

/// Interpolates every string value under `node`; `path` names it for errors. Warnings about
/// unset variables go to `warnings`, once per variable.
pub fn interpolate_tree(
    node: &mut Node,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Str(s) => {
            if !s.contains('$') {
                return Ok(());
            }
            let mut unset_names = Vec::new();
            let result = substitute(s, lookup, &mut |n: &str| unset_names.push(n.to_string()));
            match result {
                Ok(v) => *s = v,
                Err(TemplateError::Invalid) => {
                    return Err(LoadError::invalid(
                        &node.pos,
                        path,
                        format!("invalid interpolation format: {s:?}; you may need to escape any $ with another $"),
                    ))
                }
                Err(TemplateError::Required { name, msg }) => {
                    return Err(LoadError::invalid(
                        &node.pos,
                        path,
                        format!("required variable {name} is missing a value: {msg}"),
                    ))
                }
            }
            for name in unset_names {
                let w = format!("The {name:?} variable is not set. Defaulting to a blank string.");
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            Ok(())
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &format!("{path}[{i}]"), lookup, warnings)?;
            }
            Ok(())
        }
        Value::Map(m) => {
            for (k, v) in m.0.iter_mut() {
                let p = if path.is_empty() { k.name.clone() } else { format!("{path}.{}", k.name) };
                interpolate_tree(v, &p, lookup, warnings)?;
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(t: &str) -> Result<String, TemplateError> {
        let lookup = |n: &str| match n {
            "SET" => Some("value".to_string()),
            "EMPTY" => Some(String::new()),
            "NESTED" => Some("${SET}".to_string()),
            _ => None,
        };
        substitute(t, &lookup, &mut |_| {})
    }

    #[test]
    fn operators() {
        assert_eq!(sub("$SET ${SET} x$SET.y").unwrap(), "value value xvalue.y");
        assert_eq!(sub("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}").unwrap(), "d d  d");
        assert_eq!(sub("${SET:+r} ${EMPTY:+r} ${EMPTY+r} ${UNSET+r}").unwrap(), "r  r ");
        assert_eq!(sub("${UNSET:-${SET}} ${UNSET:-${UNSET2:-deep}}").unwrap(), "value deep");
        assert_eq!(sub("$$SET $${SET} a$$").unwrap(), "$SET ${SET} a$");
        assert_eq!(sub("${UNSET}").unwrap(), "");
        // A substituted value is never substituted again.
        assert_eq!(sub("${NESTED}").unwrap(), "${SET}");
        assert_eq!(sub("${EMPTY?e}").unwrap(), "");
    }

    #[test]
    fn errors() {
        assert_eq!(sub("$1"), Err(TemplateError::Invalid));
        assert_eq!(sub("a $"), Err(TemplateError::Invalid));
        assert_eq!(sub("${SET"), Err(TemplateError::Invalid));
        assert_eq!(sub("${}"), Err(TemplateError::Invalid));
        assert_eq!(
            sub("${EMPTY:?must be set}"),
            Err(TemplateError::Required { name: "EMPTY".into(), msg: "must be set".into() })
        );
        assert_eq!(sub("${UNSET?oops}"), Err(TemplateError::Required { name: "UNSET".into(), msg: "oops".into() }));
    }

    #[test]
    fn warns_on_unset() {
        let mut seen = vec![];
        substitute("$A ${B} ${C:-x}", &|_| None, &mut |n| seen.push(n.to_string())).unwrap();
        assert_eq!(seen, ["A", "B"]);
    }
}
