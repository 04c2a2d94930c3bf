//! `.dockerignore`: Docker's pattern rules. Patterns are cleaned paths relative to the context
//! (a leading `/` is dropped); `*`, `?` and `[...]` match within one path component, `**`
//! matches any number of components; a pattern that matches a directory excludes what is
//! under it; `!` makes an exception; the last matching pattern wins.

/// Go's `filepath.Match` for one path component.
pub fn component_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let Some((&first, rest)) = p.split_first() else { return n.is_empty() };
    match first {
        '*' => (0..=n.len()).any(|k| match_from(rest, &n[k..])),
        '?' => !n.is_empty() && match_from(rest, &n[1..]),
        '[' => {
            let Some(&c) = n.first() else { return false };
            let Some(close) = rest.iter().skip(1).position(|&x| x == ']').map(|x| x + 1) else {
                // An unclosed class is literal.
                return c == '[' && match_from(rest, &n[1..]);
            };
            let class = &rest[..close];
            let (negate, class) = match class.first() {
                Some('^' | '!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut k = 0;
            while k < class.len() {
                if k + 2 < class.len() && class[k + 1] == '-' {
                    hit |= class[k] <= c && c <= class[k + 2];
                    k += 3;
                } else {
                    hit |= class[k] == c;
                    k += 1;
                }
            }
            hit != negate && match_from(&rest[close + 1..], &n[1..])
        }
        '\\' if !rest.is_empty() => n.first() == Some(&rest[0]) && match_from(&rest[1..], &n[1..]),
        c => n.first() == Some(&c) && match_from(rest, &n[1..]),
    }
}

/// Matches path components against pattern components, `**` spanning any number.
pub fn path_match(pattern: &[String], path: &[&str]) -> bool {
    let Some((first, rest)) = pattern.split_first() else { return path.is_empty() };
    if first == "**" {
        return (0..=path.len()).any(|k| path_match(rest, &path[k..]));
    }
    match path.split_first() {
        Some((name, tail)) => component_match(first, name) && path_match(rest, tail),
        None => false,
    }
}

/// Lexically cleans a relative path: `.` and empty components dropped, `..` resolved;
/// `None` when it climbs above the start.
pub fn clean(path: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p.to_string()),
        }
    }
    Some(out)
}

struct Pattern {
    parts: Vec<String>,
    exception: bool,
}

#[derive(Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            // Docker cleans the pattern; one that climbs out of the context matches nothing there.
            let Some(parts) = clean(pat.trim_start_matches('/')) else { continue };
            if parts.is_empty() {
                continue;
            }
            patterns.push(Pattern { parts, exception });
        }
        Ignore { patterns }
    }

    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `rel` (components relative to the context) is excluded.
    pub fn excluded(&self, rel: &[&str]) -> bool {
        let mut matched = false;
        for p in &self.patterns {
            // An exception only matters once excluded, an exclusion only while included.
            if p.exception != matched {
                continue;
            }
            let hit = (1..=rel.len()).any(|k| path_match(&p.parts, &rel[..k]));
            if hit {
                matched = !p.exception;
            }
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(ig: &Ignore, p: &str) -> bool {
        ig.excluded(&p.split('/').collect::<Vec<_>>())
    }

    #[test]
    fn docker_rules() {
        let ig = Ignore::parse("# c\n*.log\n/build\n**/tmp\n!keep.log\nsecret*\n!secret-ok\ndocs/*.md\n");
        assert!(ex(&ig, "a.log"));
        assert!(!ex(&ig, "keep.log"));
        assert!(!ex(&ig, "sub/a.log"));
        assert!(ex(&ig, "build/x/y"));
        assert!(ex(&ig, "a/b/tmp/c"));
        assert!(ex(&ig, "secret.txt"));
        assert!(!ex(&ig, "secret-ok"));
        assert!(ex(&ig, "docs/a.md"));
        assert!(!ex(&ig, "docs/sub/a.md"));
        assert!(component_match("[a-c]?.txt", "b1.txt"));
        assert!(!component_match("[^a-c]?.txt", "b1.txt"));
    }
}
