//! `compose down`: the project's containers (dependents first), then its networks, and with
//! `-v` its volumes, with `--rmi` its images.

use anyhow::Result;
use clap::Args;
use compose::labels;

use super::converge::{pre_stop_hooks, remove};
use super::project::{event, members, Member};
use super::ComposeArgs;
use crate::commands::Context;

#[derive(Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    /// Services to stop and remove (default: all)
    pub services: Vec<String>,
}

/// The containers in groups to stop one after the other: a service's containers come after
/// every service that depends on it (its level is the longest chain of dependents above it);
/// each group's containers can go in parallel. Containers of services the file does not name
/// go first.
pub fn stop_order(project: Option<&compose::Project>, containers: Vec<Member>) -> Vec<Vec<Member>> {
    let graph = project.map(compose::graph::Graph::of);
    let mut levels: std::collections::BTreeMap<String, usize> = Default::default();
    if let Some(order) = graph.as_ref().and_then(|g| g.order().ok()) {
        // Reverse order: every dependent is placed before what it depends on.
        for service in order.iter().rev() {
            let level = graph.as_ref().map_or(1, |g| {
                g.deps
                    .iter()
                    .filter(|(_, deps)| deps.contains(service))
                    .map(|(dependent, _)| levels.get(dependent).copied().unwrap_or(1))
                    .max()
                    .map_or(1, |l| l + 1)
            });
            levels.insert(service.clone(), level);
        }
    }
    let mut groups: Vec<Vec<Member>> = Vec::new();
    for m in containers {
        let level = levels.get(m.service()).copied().unwrap_or(0);
        if groups.len() <= level {
            groups.resize_with(level + 1, Vec::new);
        }
        groups[level].push(m);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

pub fn run(ctx: &Context, global: &ComposeArgs, args: &DownArgs) -> Result<i32> {
    // Without compose files (`-p NAME` alone) everything labelled with the project goes.
    let project = super::project::load_for_existing(global)?;
    let name = match (&project, &global.project_name) {
        (Some(p), _) => p.name.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => unreachable!("load failed without a project name"),
    };
    let mut store = ctx.store()?;
    let containers: Vec<Member> = members(&store, &name)?
        .into_iter()
        .filter(|m| args.services.is_empty() || args.services.iter().any(|s| s == m.service()))
        .filter(|m| {
            // Orphans stay unless asked for (or when no file says what the services are).
            args.remove_orphans || m.oneoff() || project.as_ref().is_none_or(|p| p.services.contains_key(m.service()))
        })
        .collect();
    let images: Vec<String> = containers.iter().map(|m| m.record.config.image.clone()).collect();
    let mut failed = false;
    for group in stop_order(project.as_ref(), containers) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .map(|m| {
                    let hooks = pre_stop_hooks(project.as_ref(), m);
                    scope.spawn(move || -> Result<()> {
                        let mut store = ctx.store()?;
                        remove(ctx, &mut store, m, args.timeout, args.volumes, hooks)
                    })
                })
                .collect();
            for h in handles {
                if let Ok(Err(e)) = h.join() {
                    eprintln!("Error: {}", crate::commands::error_text(&e));
                    failed = true;
                }
            }
        });
    }
    if !args.services.is_empty() {
        return Ok(i32::from(failed));
    }
    // Networks made for the project (never external ones).
    let networks = netctl::Networks::open(&ctx.root)?;
    for network in networks.list()? {
        if network.labels.get(labels::PROJECT) != Some(&name) {
            continue;
        }
        event("Network", &network.name, "Removing");
        match networks.remove(&network.id) {
            Ok(_) => event("Network", &network.name, "Removed"),
            Err(e) => {
                eprintln!("Error: network {}: {e}", network.name);
                failed = true;
            }
        }
    }
    if args.volumes {
        for volume in store.volumes()? {
            if volume.labels.get(labels::PROJECT) != Some(&name) {
                continue;
            }
            event("Volume", &volume.name, "Removing");
            match store.remove_volume(&volume.name, false) {
                Ok(()) => event("Volume", &volume.name, "Removed"),
                Err(e) => {
                    eprintln!("Error: volume {}: {e}", volume.name);
                    failed = true;
                }
            }
        }
    }
    if let Some(which) = &args.rmi {
        let mut images = images;
        images.sort();
        images.dedup();
        for image in images {
            // "local": only images without a custom tag, i.e. those compose named after the project.
            let local = image.starts_with(&format!("{name}-"));
            if which == "local" && !local {
                continue;
            }
            event("Image", &image, "Removing");
            match store.remove_image(&image, false) {
                Ok(_) => event("Image", &image, "Removed"),
                Err(e) => eprintln!("Error: image {image}: {e}"),
            }
        }
    }
    Ok(i32::from(failed))
}
