//! `compose ps` and `compose ls`: the project's containers, and every project.

use anyhow::{bail, Result};
use clap::Args;
use compose::labels;
use serde_json::{json, Value};

use super::project::{all_projects, members, name_only, Member};
use super::ComposeArgs;
use crate::commands::container::{command_text, host_ip_of, published_ports, status_text};
use crate::commands::Context;
use crate::format::{self, human_since, parse_time, Format};

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long)]
    pub status: Vec<String>,
    /// Format output using a custom template: 'table', 'json' or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    pub service_names: Vec<String>,
}

fn row(store: &engine::Store, m: &Member, no_trunc: bool) -> Value {
    let r = &m.record;
    let created = parse_time(&r.created).unwrap_or_default();
    let ports: Vec<String> = published_ports(store, r)
        .iter()
        .map(|p| format!("{}:{}->{}/{}", host_ip_of(p), p.host_port, p.container_port, p.protocol))
        .collect();
    json!({
        "ID": if no_trunc { r.id.clone() } else { r.short_id().to_string() },
        "Name": r.name,
        "Names": r.name,
        "Image": r.config.image,
        "Command": command_text(r, no_trunc),
        "Project": r.config.labels.get(labels::PROJECT).cloned().unwrap_or_default(),
        "Service": m.service(),
        "CreatedAt": created.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
        "RunningFor": human_since(created),
        "State": m.state.status.as_str(),
        "Status": status_text(&m.state),
        "Health": m.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default(),
        "ExitCode": m.state.exit_code,
        "Ports": ports.join(", "),
        "Labels": r.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    })
}

pub fn run(ctx: &Context, global: &ComposeArgs, args: &PsArgs) -> Result<i32> {
    let project = name_only(global)?;
    let store = ctx.store()?;
    for s in &args.status {
        if !matches!(s.as_str(), "paused" | "restarting" | "removing" | "running" | "dead" | "created" | "exited") {
            bail!("invalid status {s:?}");
        }
    }
    let chosen: Vec<Member> = members(&store, &project)?
        .into_iter()
        .filter(|m| args.service_names.is_empty() || args.service_names.iter().any(|s| s == m.service()))
        .filter(|m| args.all || !args.status.is_empty() || m.running())
        .filter(|m| !m.oneoff() || args.all)
        .filter(|m| args.status.is_empty() || args.status.iter().any(|s| s == m.state.status.as_str()))
        .collect();
    if args.services {
        let mut names: Vec<&str> = chosen.iter().map(Member::service).collect();
        names.dedup();
        for n in names {
            crate::printer::line(n);
        }
        return Ok(0);
    }
    if args.quiet {
        for m in &chosen {
            crate::printer::line(if args.no_trunc { &m.record.id } else { m.record.short_id() });
        }
        return Ok(0);
    }
    let rows: Vec<Value> = chosen.iter().map(|m| row(&store, m, args.no_trunc)).collect();
    if args.format.as_deref() == Some("json") {
        // Compose prints one JSON object per line.
        for r in &rows {
            crate::printer::line(&r.to_string());
        }
        return Ok(0);
    }
    let default = "{{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}";
    let format = match args.format.as_deref() {
        None | Some("table") => Format::parse(None),
        other => Format::parse(other),
    };
    let header = |f: &str| match f {
        "RunningFor" => "CREATED".to_string(),
        "CreatedAt" => "CREATED AT".to_string(),
        "ExitCode" => "EXIT CODE".to_string(),
        other => other.to_uppercase(),
    };
    crate::printer::out(&format::render(&format, &rows, default, &header).map_err(anyhow::Error::msg)?);
    Ok(0)
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    pub all: bool,
    /// Only display project names
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Filter output based on conditions provided (name=NAME)
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

/// `running(2)`, `exited(1), running(1)`: Compose's project status.
fn project_status(containers: &[Member]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for m in containers {
        *counts.entry(m.state.status.as_str()).or_default() += 1;
    }
    counts.iter().map(|(s, n)| format!("{s}({n})")).collect::<Vec<_>>().join(", ")
}

pub fn ls(ctx: &Context, args: &LsArgs) -> Result<i32> {
    let store = ctx.store()?;
    let mut rows = Vec::new();
    for (name, containers) in all_projects(&store)? {
        if !args.all && !containers.iter().any(Member::running) {
            continue;
        }
        if args.filters.iter().any(|f| f.strip_prefix("name=").is_some_and(|n| !name.contains(n))) {
            continue;
        }
        let files = containers
            .iter()
            .find_map(|m| m.record.config.labels.get(labels::CONFIG_FILES).cloned())
            .unwrap_or_default();
        rows.push(json!({ "Name": name, "Status": project_status(&containers), "ConfigFiles": files }));
    }
    if args.quiet {
        for r in &rows {
            crate::printer::line(r["Name"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    if args.format == "json" {
        crate::printer::line(&Value::Array(rows).to_string());
        return Ok(0);
    }
    let default = "{{.Name}}\t{{.Status}}\t{{.ConfigFiles}}";
    let header = |f: &str| match f {
        "ConfigFiles" => "CONFIG FILES".to_string(),
        other => other.to_uppercase(),
    };
    crate::printer::out(&format::render(&Format::parse(None), &rows, default, &header).map_err(anyhow::Error::msg)?);
    Ok(0)
}
