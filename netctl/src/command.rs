//! Running the host tool netctl drives (`nft`): input on stdin, and a failure carried
//! as an error naming the command and what it printed.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// Runs `program args`, feeding `stdin`; returns its standard output.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let described = || format!("{program} {}", args.join(" "));
    let fail = |message: String| Error::Command { command: described(), message };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(text) = stdin {
        child.stdin.take().expect("piped").write_all(text.as_bytes()).map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let what = format!("{} (input: {})", String::from_utf8_lossy(&out.stderr).trim(), stdin.unwrap_or("").trim());
        return Err(fail(what.replace('\n', "; ")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
