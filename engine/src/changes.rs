//! `-c/--change` instructions for `import` and `commit`: the Dockerfile instructions that only
//! change an image's config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER,
//! VOLUME, WORKDIR), applied the way Docker applies them.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::oci::ContainerConfig;

fn bad(change: &str, why: &str) -> Error {
    Error::Invalid(format!("invalid change {change:?}: {why}"))
}

/// JSON form (`["a","b"]`) or shell form (wrapped in `/bin/sh -c`).
fn command_form(args: &str) -> Vec<String> {
    if args.trim_start().starts_with('[') {
        if let Ok(list) = serde_json::from_str::<Vec<String>>(args) {
            return list;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), args.into()]
}

/// `K=V K2="v 2"` pairs, or the legacy `K V` form.
fn key_values(change: &str, args: &str) -> Result<Vec<(String, String)>> {
    let words = shell_words(args).map_err(|why| bad(change, why))?;
    if words.first().is_some_and(|w| !w.contains('=')) {
        // Legacy form: the first word is the key, the rest (verbatim) the value.
        let (key, value) = args.trim().split_once(char::is_whitespace).ok_or_else(|| bad(change, "needs a value"))?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| bad(change, "expected KEY=VALUE"))
        })
        .collect()
}

/// Splits on whitespace, honouring double and single quotes and backslash escapes.
fn shell_words(s: &str) -> std::result::Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                word.push(chars.next().ok_or("trailing backslash")?);
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote");
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Applies one change to a config.
pub fn apply_change(config: &mut ContainerConfig, change: &str) -> Result<()> {
    let trimmed = change.trim();
    let (instruction, args) = trimmed.split_once(char::is_whitespace).unwrap_or((trimmed, ""));
    let args = args.trim();
    if args.is_empty() {
        return Err(bad(change, "missing arguments"));
    }
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => config.cmd = Some(command_form(args)),
        "ENTRYPOINT" => config.entrypoint = Some(command_form(args)),
        "ENV" => {
            for (key, value) in key_values(change, args)? {
                config.env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
                config.env.push(format!("{key}={value}"));
            }
        }
        "LABEL" => {
            for (key, value) in key_values(change, args)? {
                config.labels.insert(key, value);
            }
        }
        "EXPOSE" => {
            for port in args.split_whitespace() {
                let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
                if number.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad(change, "invalid port"));
                }
                config.exposed_ports.insert(format!("{number}/{proto}"), Value::Object(Default::default()));
            }
        }
        "VOLUME" => {
            let paths = if args.starts_with('[') {
                serde_json::from_str::<Vec<String>>(args).map_err(|_| bad(change, "invalid JSON"))?
            } else {
                args.split_whitespace().map(str::to_string).collect()
            };
            for path in paths {
                config.volumes.insert(path, Value::Object(Default::default()));
            }
        }
        "WORKDIR" => config.working_dir = args.to_string(),
        "USER" => config.user = args.to_string(),
        "STOPSIGNAL" => config.stop_signal = args.to_string(),
        "ONBUILD" => config.on_build.push(args.to_string()),
        other => return Err(bad(change, &format!("{other} is not a valid change command"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_docker_changes() {
        let mut c = ContainerConfig::default();
        for change in [
            "CMD [\"/bin/sh\",\"-c\",\"echo hi\"]",
            "ENTRYPOINT echo",
            "ENV A=1 B=\"two words\"",
            "ENV C 3 4",
            "WORKDIR /srv",
            "EXPOSE 80 53/udp",
            "LABEL a=b",
            "USER nobody",
        ] {
            apply_change(&mut c, change).unwrap();
        }
        assert_eq!(c.cmd.as_deref().unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.as_deref().unwrap(), ["/bin/sh", "-c", "echo"]);
        assert_eq!(c.env, ["A=1", "B=two words", "C=3 4"]);
        assert_eq!(c.working_dir, "/srv");
        assert!(c.exposed_ports.contains_key("80/tcp") && c.exposed_ports.contains_key("53/udp"));
        assert_eq!(c.labels["a"], "b");
        assert_eq!(c.user, "nobody");
        assert!(apply_change(&mut c, "RUN x").is_err());
        assert!(apply_change(&mut c, "EXPOSE http").is_err());
    }
}
