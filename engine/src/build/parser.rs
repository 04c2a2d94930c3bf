//! The Dockerfile parser: parser directives (`# escape=`, `# syntax=`), comments, line
//! continuations, heredocs, and each instruction's flags and JSON or shell form. Variable
//! substitution happens later, per instruction, when the values are known (stage.rs).

use super::BuildError;

/// Instructions berth knows. Anything else is a parse error naming the line.
const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "ARG",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "VOLUME",
    "WORKDIR",
    "USER",
    "COPY",
    "ADD",
    "HEALTHCHECK",
    "ONBUILD",
    "STOPSIGNAL",
    "SHELL",
];

/// Instructions whose leading `--name=value` words are flags.
const TAKES_FLAGS: &[&str] = &["FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"];

/// A heredoc attached to an instruction (`RUN <<EOF`, `COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
    /// Unquoted delimiter: the body's variables are expanded (by the shell for RUN).
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Form {
    /// `["a", "b"]`
    Exec(Vec<String>),
    /// Everything else, as written (continuations joined).
    Shell(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The line the instruction starts on (1-based).
    pub line: usize,
    /// Upper case.
    pub keyword: String,
    /// `--name=value` flags; a flag without `=` has value "true".
    pub flags: Vec<(String, String)>,
    pub form: Form,
    /// The arguments after the flags, as written (what `Step n/m :` shows after the keyword).
    pub text: String,
    pub heredocs: Vec<Heredoc>,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The shell-form text, or the exec-form array joined (for keywords that take words).
    pub fn raw(&self) -> String {
        match &self.form {
            Form::Shell(s) => s.clone(),
            Form::Exec(v) => v.join(" "),
        }
    }

    /// `KEYWORD [flags] args` as Docker's classic builder echoes it.
    pub fn display(&self) -> String {
        let mut out = self.keyword.clone();
        for (name, value) in &self.flags {
            out.push_str(&format!(" --{name}={value}"));
        }
        if !self.text.is_empty() {
            out.push(' ');
            out.push_str(&self.text);
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

fn err(line: usize, message: impl Into<String>) -> BuildError {
    BuildError::Parse { line, message: message.into() }
}

/// Reads the parser directives at the top: returns the escape character and the index of the
/// first line that is not a directive.
fn directives(lines: &[&str]) -> Result<(char, usize), BuildError> {
    let mut escape = '\\';
    let mut seen = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix('#') else { return Ok((escape, i)) };
        let Some((name, value)) = rest.split_once('=') else { return Ok((escape, i)) };
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) || name.contains(' ') {
            return Ok((escape, i));
        }
        if seen.contains(&name) {
            return Err(err(i + 1, format!("only one {name} parser directive can be used")));
        }
        seen.push(name.clone());
        let value = value.trim();
        match name.as_str() {
            "escape" => {
                escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(err(i + 1, format!("invalid escape token '{value}' does not match ` or \\"))),
                }
            }
            // Frontend images are a BuildKit notion: berth has one builder, so the directive is
            // accepted and ignored, as the classic builder does.
            "syntax" | "check" => {}
            // Unknown directives are comments, as in Docker.
            _ => return Ok((escape, i)),
        }
    }
    Ok((escape, lines.len()))
}

/// Whether `line` ends with the escape character (after trailing whitespace).
fn continues(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end();
    let stripped = t.strip_suffix(escape)?;
    Some(stripped)
}

/// Heredoc markers in an instruction's arguments: words that start with `<<EOF`, `<<-EOF`,
/// `<<"EOF"` or `<<'EOF'` (not `$((1<<2))`, not a `<<<` here-string).
fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    for word in args.split_whitespace() {
        let Some(mut s) = word.strip_prefix("<<") else { continue };
        if s.starts_with('<') {
            continue;
        }
        let strip = s.starts_with('-');
        if strip {
            s = &s[1..];
        }
        let (quoted, s) = match s.chars().next() {
            Some('"' | '\'') => (true, &s[1..]),
            _ => (false, s),
        };
        let name: String = s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.push((name, strip, !quoted));
        }
    }
    out
}

pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
    // A UTF-8 byte order mark is not part of the first instruction (Docker drops it too).
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    let (escape, start) = directives(&lines)?;
    let mut instructions = Vec::new();
    let mut i = start;
    while i < lines.len() {
        let first = i;
        let line = lines[i];
        i += 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Join continuation lines; comment and empty lines inside are dropped, as in Docker.
        let mut logical = String::new();
        let mut current = line;
        loop {
            let Some(head) = continues(current, escape) else {
                logical.push_str(current);
                break;
            };
            logical.push_str(head);
            let mut next = None;
            while let Some(l) = lines.get(i) {
                i += 1;
                let t = l.trim();
                if !t.is_empty() && !t.starts_with('#') {
                    next = Some(*l);
                    break;
                }
            }
            match next {
                Some(l) => current = l,
                None => break,
            }
        }
        let logical = logical.trim().to_string();
        let (word, rest) = logical.split_once(char::is_whitespace).unwrap_or((logical.as_str(), ""));
        let keyword = word.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(err(first + 1, format!("unknown instruction: {word}")));
        }
        let mut rest = rest.trim().to_string();
        let mut flags = Vec::new();
        if TAKES_FLAGS.contains(&keyword.as_str()) {
            while let Some(after) = rest.strip_prefix("--") {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                let flag = &after[..end];
                let (name, value) = flag.split_once('=').unwrap_or((flag, "true"));
                if name.is_empty() {
                    return Err(err(first + 1, "flag name cannot be empty"));
                }
                flags.push((name.to_string(), value.to_string()));
                rest = after[end..].trim_start().to_string();
            }
        }
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip, expand) in heredoc_markers(&rest) {
                let mut body = String::new();
                loop {
                    let Some(l) = lines.get(i) else {
                        return Err(err(first + 1, format!("unterminated heredoc {name}")));
                    };
                    i += 1;
                    let l = if strip { l.trim_start_matches('\t') } else { l };
                    if l == name {
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                heredocs.push(Heredoc { name, body, expand });
            }
        }
        let form = if rest.starts_with('[') && heredocs.is_empty() {
            match serde_json::from_str::<Vec<String>>(&rest) {
                Ok(v) => Form::Exec(v),
                Err(_) => Form::Shell(rest.clone()),
            }
        } else {
            Form::Shell(rest.clone())
        };
        if rest.is_empty() && !matches!(keyword.as_str(), "RUN" | "CMD" | "ENTRYPOINT") {
            return Err(err(first + 1, format!("{keyword} requires at least one argument")));
        }
        instructions.push(Instruction { line: first + 1, keyword, flags, form, text: rest, heredocs });
    }
    if instructions.is_empty() {
        return Err(BuildError::Invalid("the Dockerfile (Dockerfile) cannot be empty".into()));
    }
    Ok(Dockerfile { escape, instructions })
}

/// Parses one instruction on its own (an ONBUILD trigger).
pub fn parse_one(text: &str, line: usize) -> Result<Instruction, BuildError> {
    let mut parsed = parse(text).map_err(|e| match e {
        BuildError::Parse { message, .. } => err(line, message),
        other => other,
    })?;
    let mut one = parsed.instructions.remove(0);
    one.line = line;
    Ok(one)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms_continuations_heredocs() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox AS base\n# comment\nRUN echo a `\n  # inside\n  b\nCMD [\"sh\", \"-c\"]\nCOPY --chown=1:2 --from=base a b\nRUN <<EOF\necho hi\nEOF\n",
        )
        .unwrap();
        assert_eq!(df.escape, '`');
        let i = &df.instructions;
        assert_eq!(i[0].keyword, "FROM");
        assert_eq!(i[0].line, 3);
        assert_eq!(i[1].form, Form::Shell("echo a   b".into()));
        assert_eq!(i[2].form, Form::Exec(vec!["sh".into(), "-c".into()]));
        assert_eq!(i[3].flag("chown"), Some("1:2"));
        assert_eq!(i[3].flag("from"), Some("base"));
        assert_eq!(i[4].heredocs[0].body, "echo hi\n");
        assert_eq!(i[4].line, 10);
        let shift = parse("FROM x\nRUN echo $((1<<2)) <<<here\n").unwrap();
        assert!(shift.instructions[1].heredocs.is_empty());
    }

    /// Arbitrary text made of the characters the parser and substitution care about: never a
    /// panic, only Ok or an error.
    #[test]
    fn arbitrary_input_never_panics() {
        let alphabet: Vec<char> = "FROM RUN COPY ENV ARG <<-EOF\n\\`$${}:-+?'\"[]=# escape=\tx/.é".chars().collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut parsed = 0;
        for _ in 0..3000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let len = (seed >> 33) as usize % 80;
            // Mostly instructions with arbitrary arguments, so the parser gets past the keyword.
            let mut text = KEYWORDS[(seed >> 40) as usize % KEYWORDS.len()].to_string();
            text.push(' ');
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            if let Ok(df) = parse(&text) {
                parsed += 1;
                for i in &df.instructions {
                    let _ = crate::build::words::process_words(&i.raw(), &|_| Some("v".into()), df.escape);
                    let _ = crate::build::words::split_raw(&i.raw(), df.escape);
                }
            }
            let _ = crate::build::words::process_word(&text, &|_| None, '\\');
            let _ = crate::build::dockerignore::Ignore::parse(&text).excluded(&["a", "[x", "é"]);
            let _ = crate::build::dockerignore::component_match(&text, "ab[c]é");
        }
        assert!(parsed > 0, "some inputs parse");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM x\n\nFOO bar\n").unwrap_err();
        assert_eq!(e.to_string(), "dockerfile parse error line 3: unknown instruction: FOO");
    }
}
