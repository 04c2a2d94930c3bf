//! Docker's word processing for instruction arguments: `$VAR`, `${VAR}`, `${VAR:-x}`,
//! `${VAR:+x}`, `${VAR:?x}` (and the colon-less forms), quotes removed, the escape character
//! honoured. RUN, CMD and ENTRYPOINT never come here: their shell expands them at run time.

/// Expands and unquotes `s` as one word (ENV and LABEL values, WORKDIR, USER, ...).
pub fn process_word(s: &str, lookup: &dyn Fn(&str) -> Option<String>, escape: char) -> Result<String, String> {
    let words = lex(s, lookup, escape, false)?;
    Ok(words.into_iter().next().unwrap_or_default())
}

/// Expands and unquotes `s`, split into words on unquoted whitespace (COPY sources, EXPOSE,
/// VOLUME, FROM).
pub fn process_words(s: &str, lookup: &dyn Fn(&str) -> Option<String>, escape: char) -> Result<Vec<String>, String> {
    lex(s, lookup, escape, true)
}

/// Substitutes variables in text that is not a word (a COPY heredoc's content): quotes stay.
pub fn expand_only(s: &str, vars: &std::collections::BTreeMap<String, String>, escape: char) -> Result<String, String> {
    let chars: Vec<char> = s.chars().collect();
    let lookup = |n: &str| vars.get(n).cloned();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            c if c == escape && chars.get(i + 1) == Some(&'$') => {
                out.push('$');
                i += 2;
            }
            '$' => i = expand_at(&chars, i, &lookup, escape, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn lex(s: &str, lookup: &dyn Fn(&str) -> Option<String>, escape: char, split: bool) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if split && c.is_whitespace() {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
            i += 1;
            continue;
        }
        in_word = true;
        if c == escape {
            if let Some(&next) = chars.get(i + 1) {
                cur.push(next);
                i += 2;
            } else {
                cur.push(c);
                i += 1;
            }
        } else if c == '\'' {
            // Single quotes: everything literal up to the closing quote.
            let end = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .ok_or("unexpected end of statement while looking for matching single-quote")?;
            cur.extend(&chars[i + 1..i + 1 + end]);
            i += end + 2;
        } else if c == '"' {
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err("unexpected end of statement while looking for matching double-quote".into());
                };
                if d == '"' {
                    i += 1;
                    break;
                }
                if d == escape && matches!(chars.get(i + 1), Some('"' | '$') | Some('\\')) {
                    cur.push(chars[i + 1]);
                    i += 2;
                } else if d == '$' {
                    i = expand_at(&chars, i, lookup, escape, &mut cur)?;
                } else {
                    cur.push(d);
                    i += 1;
                }
            }
        } else if c == '$' {
            i = expand_at(&chars, i, lookup, escape, &mut cur)?;
        } else {
            cur.push(c);
            i += 1;
        }
    }
    if in_word || !split {
        words.push(cur);
    }
    Ok(words)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the `$` at `chars[i]` into `out`; returns the index after it.
fn expand_at(
    chars: &[char],
    i: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
    out: &mut String,
) -> Result<usize, String> {
    let mut j = i + 1;
    match chars.get(j) {
        Some('{') => {
            j += 1;
            let start = j;
            while chars.get(j).is_some_and(|&c| is_name_char(c)) {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            if name.is_empty() {
                return Err(format!("bad substitution: {}", chars[i..].iter().collect::<String>()));
            }
            // The modifier's word runs to the matching close brace.
            let mut depth = 1;
            let word_start = j;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(format!("missing '}}' in {}", chars[i..].iter().collect::<String>()));
            }
            let modifier: String = chars[word_start..j].iter().collect();
            let value = lookup(&name);
            let expanded = if modifier.is_empty() {
                value.unwrap_or_default()
            } else {
                let (colon, rest) = match modifier.strip_prefix(':') {
                    Some(r) => (true, r),
                    None => (false, modifier.as_str()),
                };
                let op = rest.chars().next().unwrap_or(' ');
                let word = &rest[op.len_utf8().min(rest.len())..];
                let set = if colon { value.as_deref().is_some_and(|v| !v.is_empty()) } else { value.is_some() };
                match op {
                    '-' => {
                        if set {
                            value.unwrap_or_default()
                        } else {
                            process_word(word, lookup, escape)?
                        }
                    }
                    '+' => {
                        if set {
                            process_word(word, lookup, escape)?
                        } else {
                            String::new()
                        }
                    }
                    '?' => {
                        if set {
                            value.unwrap_or_default()
                        } else {
                            let msg = process_word(word, lookup, escape)?;
                            return Err(format!(
                                "{name}: {}",
                                if msg.is_empty() { "is not allowed to be unset" } else { &msg }
                            ));
                        }
                    }
                    _ => return Err(format!("unsupported modifier ({modifier}) in substitution")),
                }
            };
            out.push_str(&expanded);
            Ok(j + 1)
        }
        Some(&c) if is_name_char(c) && !c.is_ascii_digit() => {
            while chars.get(j).is_some_and(|&c| is_name_char(c)) {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            out.push_str(&lookup(&name).unwrap_or_default());
            Ok(j)
        }
        _ => {
            out.push('$');
            Ok(j)
        }
    }
}

/// Splits `k=v k2="v 2"` into raw words (quotes kept) on unquoted whitespace, for ENV, LABEL
/// and ARG, whose values are then processed one by one.
pub fn split_raw(s: &str, escape: char) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            // `${VAR:-a b}` is one word.
            None if c == '$' && chars.peek() == Some(&'{') => {
                cur.push(c);
                let mut depth = 0;
                for n in chars.by_ref() {
                    cur.push(n);
                    match n {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None => {
                cur.push(c);
                if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if quote.is_some() {
        return Err("unexpected end of statement while looking for matching quote".into());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "E" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_like_docker() {
        let w = |s| process_word(s, &env, '\\').unwrap();
        assert_eq!(w("$A/${A}x"), "a/ax");
        assert_eq!(w("${B:-dflt}"), "dflt");
        assert_eq!(w("${E:-dflt}"), "dflt");
        assert_eq!(w("${E-dflt}"), "");
        assert_eq!(w("${A:+set}${B:+set}"), "set");
        assert_eq!(w("'$A'\"$A\"\\$A"), "$Aa$A");
        assert!(process_word("${B:?needed}", &env, '\\').unwrap_err().contains("needed"));
        assert_eq!(process_words("a \"b c\" $A", &env, '\\').unwrap(), vec!["a", "b c", "a"]);
        assert_eq!(split_raw("k=\"v w\" x=y", '\\').unwrap(), vec!["k=\"v w\"", "x=y"]);
    }
}
