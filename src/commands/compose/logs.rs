//! `compose logs`, and the log view of `up` in the foreground: every container's log with a
//! `web-1  | ` prefix (coloured on a terminal), merged in time order.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use engine::container::logs::{self, Entry, Follower};
use engine::Store;

use super::project::{members, name_only, Member};
use super::ComposeArgs;
use crate::commands::container::parse_log_time;
use crate::commands::Context;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    pub until: Option<String>,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// index of the container if service has multiple replicas
    #[arg(long)]
    pub index: Option<u32>,
    pub services: Vec<String>,
}

const COLORS: [&str; 10] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// Prints log lines with Compose's prefixes.
pub struct LogPrinter {
    names: Vec<String>,
    width: usize,
    color: bool,
    prefix: bool,
    timestamps: bool,
}

impl LogPrinter {
    pub fn new(names: Vec<String>, no_color: bool, prefix: bool, timestamps: bool) -> LogPrinter {
        let width = names.iter().map(String::len).max().unwrap_or(0);
        let color = !no_color && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        LogPrinter { names, width, color, prefix, timestamps }
    }

    fn prefix_of(&self, name: &str) -> String {
        if !self.prefix {
            return String::new();
        }
        let text = format!("{name:<width$}  | ", width = self.width);
        match self.names.iter().position(|n| n == name) {
            Some(i) if self.color => format!("\x1b[{}m{text}\x1b[0m", COLORS[i % COLORS.len()]),
            _ => text,
        }
    }

    pub fn entry(&self, name: &str, entry: &Entry) {
        let mut line = self.prefix_of(name);
        if self.timestamps {
            line.push_str(&entry.time);
            line.push(' ');
        }
        line.push_str(&entry.log);
        if !line.ends_with('\n') {
            line.push('\n');
        }
        crate::printer::out(&line);
    }

    /// A line of berth's own under a container's prefix (`web-1 exited with code 0`).
    pub fn note(&self, name: &str, text: &str) {
        let line = if self.color {
            let i = self.names.iter().position(|n| n == name).unwrap_or(0);
            format!("\x1b[{}m{name} {text}\x1b[0m\n", COLORS[i % COLORS.len()])
        } else {
            format!("{name} {text}\n")
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

pub fn log_path(store: &Store, id: &str) -> std::path::PathBuf {
    store.container_dir(id).join(format!("{id}-json.log"))
}

/// Prints the containers' logs as they grow until `keep_going` says stop (called every poll
/// with the containers' current states).
pub fn follow(
    store: &Store,
    containers: &[Member],
    printer: &LogPrinter,
    from_end: bool,
    mut keep_going: impl FnMut(&Store) -> Result<bool>,
) -> Result<()> {
    let mut followers: Vec<(String, Follower)> =
        containers.iter().map(|m| (m.short_name(), Follower::new(&log_path(store, &m.record.id), from_end))).collect();
    loop {
        let go_on = keep_going(store)?;
        let mut batch: Vec<(String, Entry)> = Vec::new();
        for (name, f) in &mut followers {
            batch.extend(f.read_new()?.into_iter().map(|e| (name.clone(), e)));
        }
        batch.sort_by(|a, b| a.1.time.cmp(&b.1.time));
        for (name, e) in &batch {
            printer.entry(name, e);
        }
        if !go_on {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn run(ctx: &Context, global: &ComposeArgs, args: &LogsArgs) -> Result<i32> {
    let project = name_only(global)?;
    let store = ctx.store()?;
    let chosen: Vec<Member> = members(&store, &project)?
        .into_iter()
        .filter(|m| args.services.is_empty() || args.services.iter().any(|s| s == m.service()))
        .filter(|m| args.index.is_none_or(|i| m.number() == i))
        .collect();
    let since = args.since.as_deref().map(parse_log_time).transpose()?;
    let until = args.until.as_deref().map(parse_log_time).transpose()?;
    let tail: Option<usize> = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse().with_context(|| format!("invalid value for \"tail\": {n}"))?),
    };
    let names = chosen.iter().map(Member::short_name).collect();
    let printer = LogPrinter::new(names, args.no_color, !args.no_log_prefix, args.timestamps);
    let in_window = |e: &Entry| {
        let t = crate::format::parse_time(&e.time);
        !(since.is_some_and(|s| t.is_some_and(|t| t < s)) || until.is_some_and(|u| t.is_some_and(|t| t > u)))
    };
    let mut all: Vec<(String, Entry)> = Vec::new();
    for m in &chosen {
        let entries: Vec<Entry> =
            logs::read_entries(&log_path(&store, &m.record.id))?.into_iter().filter(in_window).collect();
        let skip = tail.map_or(0, |n| entries.len().saturating_sub(n));
        all.extend(entries.into_iter().skip(skip).map(|e| (m.short_name(), e)));
    }
    all.sort_by(|a, b| a.1.time.cmp(&b.1.time));
    for (name, e) in &all {
        printer.entry(name, e);
    }
    if args.follow {
        let ids: Vec<String> = chosen.iter().map(|m| m.record.id.clone()).collect();
        follow(&store, &chosen, &printer, true, |store| {
            // Until every container has stopped, as Compose's `logs -f`.
            Ok(ids.iter().any(|id| store.observed_state(id).is_ok_and(|s| s.status.is_running())))
        })?;
    }
    Ok(0)
}
