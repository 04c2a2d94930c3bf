//! Compose's progress output: on a terminal, one live line per resource under a `[+] Running
//! k/n` header, redrawn as their states change; otherwise (or with `--progress plain`) one
//! line per change; `--progress quiet` prints nothing, `json` one object per change.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Tty,
    Plain,
    Quiet,
    Json,
}

struct State {
    mode: Mode,
    /// (`Container proj-web-1`, status), in the order first seen.
    lines: Vec<(String, String)>,
    /// Lines drawn last time (to move the cursor back over them).
    drawn: usize,
}

static STATE: Mutex<State> = Mutex::new(State { mode: Mode::Plain, lines: Vec::new(), drawn: 0 });

/// `--progress`: auto, tty, plain, quiet or json.
pub fn set_mode(mode: &str) -> anyhow::Result<()> {
    let mode = match mode {
        "auto" if std::io::stderr().is_terminal() => Mode::Tty,
        "auto" | "plain" => Mode::Plain,
        "tty" => Mode::Tty,
        "quiet" => Mode::Quiet,
        "json" => Mode::Json,
        other => anyhow::bail!("unsupported --progress value {other:?} (auto, tty, plain, quiet, json)"),
    };
    STATE.lock().unwrap_or_else(|e| e.into_inner()).mode = mode;
    Ok(())
}

/// After the resources are settled (before `up` shows logs): later changes are plain lines.
pub fn finish() {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if state.mode == Mode::Tty {
        state.mode = Mode::Plain;
        state.lines.clear();
    }
}

fn settled(status: &str) -> bool {
    !status.ends_with("ing") && status != "Recreate"
}

pub fn event(kind: &str, name: &str, status: &str) {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let mut err = std::io::stderr().lock();
    match state.mode {
        Mode::Quiet => {}
        Mode::Plain => {
            let _ = writeln!(err, " {kind} {name}  {status}");
        }
        Mode::Json => {
            let line = serde_json::json!({ "id": format!("{kind} {name}"), "status": status });
            let _ = writeln!(err, "{line}");
        }
        Mode::Tty => {
            let id = format!("{kind} {name}");
            match state.lines.iter_mut().find(|(i, _)| *i == id) {
                Some(line) => line.1 = status.to_string(),
                None => state.lines.push((id, status.to_string())),
            }
            let done = state.lines.iter().filter(|(_, s)| settled(s)).count();
            let mut text = String::new();
            if state.drawn > 0 {
                text.push_str(&format!("\x1b[{}A", state.drawn));
            }
            text.push_str(&format!("\x1b[2K[+] Running {done}/{}\n", state.lines.len()));
            let width = state.lines.iter().map(|(i, _)| i.len()).max().unwrap_or(0);
            for (id, status) in &state.lines {
                let mark = if settled(status) { "\x1b[32m✔\x1b[0m" } else { "⠿" };
                text.push_str(&format!("\x1b[2K {mark} {id:<width$}  {status}\n"));
            }
            state.drawn = state.lines.len() + 1;
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        }
    }
}
