//! The smaller compose commands, each a project-aware front for a container command:
//! `images`, `top`, `port`, `cp`, `attach`, `stats`, `wait`, `scale`, `events`, `version`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use compose::labels;
use serde_json::json;

use super::converge::{self, converge};
use super::project::{load, members, name_only, Member, Reported};
use super::ComposeArgs;
use crate::cli;
use crate::commands::{container, Context};

/// The container of `service` with number `index`, or a printed error.
fn container_of(ctx: &Context, global: &ComposeArgs, service: &str, index: u32) -> Result<Member> {
    let project = name_only(global)?;
    let store = ctx.store()?;
    match members(&store, &project)?.into_iter().find(|m| !m.oneoff() && m.service() == service && m.number() == index)
    {
        Some(m) => Ok(m),
        None => {
            eprintln!("service {service:?} has no container {index}");
            Err(Reported.into())
        }
    }
}

fn service_members(ctx: &Context, global: &ComposeArgs, services: &[String]) -> Result<Vec<Member>> {
    let project = name_only(global)?;
    let store = ctx.store()?;
    Ok(members(&store, &project)?
        .into_iter()
        .filter(|m| !m.oneoff() && (services.is_empty() || services.iter().any(|s| s == m.service())))
        .collect())
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    pub services: Vec<String>,
}

pub fn images(ctx: &Context, global: &ComposeArgs, args: &ImagesArgs) -> Result<i32> {
    let store = ctx.store()?;
    let mut rows = Vec::new();
    for m in service_members(ctx, global, &args.services)? {
        let summary = store.image_summary(&m.record.image)?;
        let name = engine::images::familiar(&m.record.config.image);
        let (repo, tag) = match name.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((r, t)) => (r.to_string(), t.to_string()),
            None => (name.clone(), "latest".to_string()),
        };
        let id = m.record.image.to_string();
        rows.push(json!({
            "ContainerName": m.record.name,
            "Repository": repo,
            "Tag": tag,
            "ID": id,
            "Size": summary.row.size,
        }));
    }
    if args.quiet {
        let mut ids: Vec<String> = rows.iter().map(|r| r["ID"].as_str().unwrap_or_default().to_string()).collect();
        ids.dedup();
        for id in ids {
            crate::printer::line(&id);
        }
        return Ok(0);
    }
    if args.format == "json" {
        crate::printer::line(&serde_json::Value::Array(rows).to_string());
        return Ok(0);
    }
    let mut table =
        vec![vec!["CONTAINER".to_string(), "REPOSITORY".into(), "TAG".into(), "IMAGE ID".into(), "SIZE".into()]];
    for r in &rows {
        let id = r["ID"].as_str().unwrap_or_default();
        let short = id.strip_prefix("sha256:").unwrap_or(id);
        table.push(vec![
            r["ContainerName"].as_str().unwrap_or_default().to_string(),
            r["Repository"].as_str().unwrap_or_default().to_string(),
            r["Tag"].as_str().unwrap_or_default().to_string(),
            short[..12.min(short.len())].to_string(),
            crate::format::human_size(r["Size"].as_u64().unwrap_or(0)),
        ]);
    }
    crate::printer::out(&crate::printer::table(&table));
    Ok(0)
}

pub fn top(ctx: &Context, global: &ComposeArgs, args: &super::lifecycle::ServicesArgs) -> Result<i32> {
    for m in service_members(ctx, global, &args.services)?.into_iter().filter(Member::running) {
        crate::printer::line(&m.record.name);
        container::top(ctx, cli::TopArgs { container: m.record.id.clone(), ps_options: Vec::new() })?;
        crate::printer::line("");
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: String,
}

pub fn port(ctx: &Context, global: &ComposeArgs, args: &PortArgs) -> Result<i32> {
    let m = container_of(ctx, global, &args.service, args.index)?;
    let store = ctx.store()?;
    let wanted = format!("{}/{}", args.private_port, args.protocol);
    let found = container::published_ports(&store, &m.record)
        .into_iter()
        .find(|p| format!("{}/{}", p.container_port, p.protocol) == wanted);
    match found {
        Some(p) => {
            crate::printer::line(&format!("{}:{}", container::host_ip_of(&p), p.host_port));
            Ok(0)
        }
        None => {
            eprintln!("no port {wanted} for container {}", m.record.name);
            Ok(1)
        }
    }
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// SERVICE:SRC_PATH or a host path
    pub source: String,
    /// SERVICE:DEST_PATH or a host path
    pub destination: String,
}

pub fn cp(ctx: &Context, global: &ComposeArgs, args: &CpArgs) -> Result<i32> {
    // `SERVICE:path` becomes `<container id>:path`; host paths stay as they are.
    let resolve = |arg: &str| -> Result<String> {
        match arg.split_once(':') {
            Some((service, path)) if !service.contains('/') && !service.is_empty() => {
                Ok(format!("{}:{path}", container_of(ctx, global, service, args.index)?.record.id))
            }
            _ => Ok(arg.to_string()),
        }
    };
    container::cp(
        ctx,
        cli::CpArgs {
            archive: args.archive,
            follow_link: args.follow_link,
            quiet: true,
            source: resolve(&args.source)?,
            destination: resolve(&args.destination)?,
        },
    )
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Override the key sequence for detaching from a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    pub service: String,
}

pub fn attach(ctx: &Context, global: &ComposeArgs, args: &AttachArgs) -> Result<i32> {
    let m = container_of(ctx, global, &args.service, args.index)?;
    container::attach(
        ctx,
        cli::AttachArgs {
            detach_keys: args.detach_keys.clone(),
            no_stdin: args.no_stdin,
            sig_proxy: true,
            container: m.record.id.clone(),
        },
    )
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub services: Vec<String>,
}

pub fn stats(ctx: &Context, global: &ComposeArgs, args: &StatsArgs) -> Result<i32> {
    let containers: Vec<String> = service_members(ctx, global, &args.services)?
        .into_iter()
        .filter(Member::running)
        .map(|m| m.record.name.clone())
        .collect();
    if containers.is_empty() {
        return Ok(0);
    }
    container::stats(
        ctx,
        cli::StatsArgs {
            all: false,
            no_stream: args.no_stream,
            no_trunc: args.no_trunc,
            format: args.format.clone(),
            containers,
        },
    )
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long)]
    pub down_project: bool,
    #[arg(required = true)]
    pub services: Vec<String>,
}

/// Blocks until the services' containers have stopped; prints and returns the first exit code.
pub fn wait(ctx: &Context, global: &ComposeArgs, args: &WaitArgs) -> Result<i32> {
    let containers = service_members(ctx, global, &args.services)?;
    let store = ctx.store()?;
    let mut first = None;
    for m in &containers {
        let state = store.wait_stopped(&m.record.id, Duration::from_secs(u64::MAX / 4))?;
        crate::printer::line(&state.exit_code.to_string());
        first.get_or_insert(state.exit_code);
        if args.down_project {
            break;
        }
    }
    if args.down_project {
        let down = super::down::DownArgs {
            volumes: false,
            rmi: None,
            remove_orphans: false,
            timeout: None,
            services: Vec::new(),
        };
        super::down::run(ctx, global, &down)?;
    }
    Ok(first.unwrap_or(0))
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// SERVICE=REPLICAS
    #[arg(required = true)]
    pub scale: Vec<String>,
}

pub fn scale(ctx: &Context, global: &ComposeArgs, args: &ScaleArgs) -> Result<i32> {
    let project = load(global)?;
    let scale = super::up::parse_scale(&args.scale)?;
    let opts = converge::Options {
        services: scale.keys().cloned().collect(),
        no_deps: args.no_deps,
        scale,
        ..Default::default()
    };
    if let Err(e) = converge(ctx, &project, &opts) {
        if e.downcast_ref::<Reported>().is_none() {
            eprintln!("Error: {}", crate::commands::error_text(&e));
        }
        return Ok(1);
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    pub json: bool,
    pub services: Vec<String>,
}

/// Container events, observed: berth has no daemon to publish them, so this watches the
/// project's containers and reports each change of state as Compose names it.
pub fn events(ctx: &Context, global: &ComposeArgs, args: &EventsArgs) -> Result<i32> {
    let project = name_only(global)?;
    let store = ctx.store()?;
    let snapshot = |store: &engine::Store| -> Result<BTreeMap<String, (String, String, String, String)>> {
        Ok(members(store, &project)?
            .into_iter()
            .filter(|m| args.services.is_empty() || args.services.iter().any(|s| s == m.service()))
            .map(|m| {
                let status = m.state.status.as_str().to_string();
                let service = m.service().to_string();
                (m.record.id.clone(), (status, m.record.name.clone(), service, m.record.config.image.clone()))
            })
            .collect())
    };
    let mut before = snapshot(&store)?;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = snapshot(&store)?;
        let mut changes = Vec::new();
        for (id, (status, name, service, image)) in &now {
            let action = match before.get(id).map(|b| b.0.as_str()) {
                None => Some("create"),
                Some(old) if old != status => Some(match status.as_str() {
                    "running" if old == "paused" => "unpause",
                    "running" => "start",
                    "paused" => "pause",
                    "exited" | "dead" => "die",
                    other => other,
                }),
                _ => None,
            };
            if let Some(action) = action {
                changes.push((id.clone(), action, name.clone(), service.clone(), image.clone()));
            }
        }
        for (id, (_, name, service, image)) in &before {
            if !now.contains_key(id) {
                changes.push((id.clone(), "destroy", name.clone(), service.clone(), image.clone()));
            }
        }
        for (id, action, name, service, image) in changes {
            let time = chrono::Utc::now();
            if args.json {
                let event = json!({
                    "time": time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    "type": "container",
                    "action": action,
                    "id": id,
                    "service": service,
                    "attributes": {"name": name, "image": image, labels::PROJECT: project},
                });
                crate::printer::line(&event.to_string());
            } else {
                crate::printer::line(&format!(
                    "{} container {action} {id} (image={image}, name={name})",
                    time.format("%Y-%m-%d %H:%M:%S%.6f")
                ));
            }
        }
        before = now;
    }
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Shows only Compose's version number
    #[arg(long)]
    pub short: bool,
    /// Format the output. Values: [pretty | json]
    #[arg(short, long, default_value = "pretty")]
    pub format: String,
}

pub fn version(args: &VersionArgs) -> Result<i32> {
    let v = labels::COMPOSE_VERSION;
    if args.short {
        crate::printer::line(v);
    } else if args.format == "json" {
        crate::printer::line(&json!({ "version": format!("v{v}") }).to_string());
    } else {
        crate::printer::line(&format!("berth compose version v{v} (berth {})", env!("CARGO_PKG_VERSION")));
    }
    Ok(0)
}
