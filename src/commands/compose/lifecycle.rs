//! `compose start`, `stop`, `restart`, `kill`, `pause`, `unpause` and `rm` on a project's
//! existing containers: dependencies first when starting, dependents first when stopping.

use anyhow::Result;
use clap::Args;
use compose::Project;
use engine::container::lifecycle::parse_signal;
use engine::container::model::Status;

use super::converge::{self, pre_stop_hooks, remove};
use super::down::stop_order;
use super::project::{event, members, Member, Reported};
use super::ComposeArgs;
use crate::commands::container::start_detached;
use crate::commands::Context;

#[derive(Args, Debug)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

/// The project (when its files load) and its service containers, grouped so that the groups
/// go dependents first.
fn groups(ctx: &Context, global: &ComposeArgs, services: &[String]) -> Result<(Option<Project>, Vec<Vec<Member>>)> {
    let project = super::project::load_for_existing(global)?;
    let name = match &project {
        Some(p) => p.name.clone(),
        None => super::project::name_only(global)?,
    };
    if let Some(p) = &project {
        super::project::check_services(p, services)?;
    }
    let store = ctx.store()?;
    let chosen: Vec<Member> = members(&store, &name)?
        .into_iter()
        .filter(|m| !m.oneoff() && (services.is_empty() || services.iter().any(|s| s == m.service())))
        .collect();
    let groups = stop_order(project.as_ref(), chosen);
    Ok((project, groups))
}

/// Runs `f` on every container, a group at a time, the group's containers in parallel.
fn each(ctx: &Context, groups: &[Vec<Member>], f: impl Fn(&engine::Store, &Member) -> Result<()> + Sync) -> i32 {
    let mut failed = false;
    for group in groups {
        std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .map(|m| {
                    let f = &f;
                    scope.spawn(move || -> Result<()> { f(&ctx.store()?, m) })
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
    i32::from(failed)
}

fn start_one(ctx: &Context, store: &engine::Store, m: &Member) -> Result<()> {
    if store.observed_state(&m.record.id)?.status.is_running() {
        return Ok(());
    }
    event("Container", &m.record.name, "Starting");
    start_detached(ctx, store, &m.record.id)?;
    event("Container", &m.record.name, "Started");
    Ok(())
}

pub fn start(ctx: &Context, global: &ComposeArgs, args: &ServicesArgs) -> Result<i32> {
    let (_, mut groups) = groups(ctx, global, &args.services)?;
    if groups.is_empty() {
        eprintln!("service {:?} has no container to start", args.services.first().map_or("", String::as_str));
        return Err(Reported.into());
    }
    groups.reverse();
    Ok(each(ctx, &groups, |store, m| start_one(ctx, store, m)))
}

pub fn stop(ctx: &Context, global: &ComposeArgs, args: &StopArgs) -> Result<i32> {
    let (project, groups) = groups(ctx, global, &args.services)?;
    Ok(each(ctx, &groups, |store, m| converge::stop(ctx, store, m, args.timeout, pre_stop_hooks(project.as_ref(), m))))
}

pub fn restart(ctx: &Context, global: &ComposeArgs, args: &StopArgs) -> Result<i32> {
    let (project, mut groups) = groups(ctx, global, &args.services)?;
    let stopped =
        each(ctx, &groups, |store, m| converge::stop(ctx, store, m, args.timeout, pre_stop_hooks(project.as_ref(), m)));
    groups.reverse();
    Ok(stopped.max(each(ctx, &groups, |store, m| start_one(ctx, store, m))))
}

pub fn kill(ctx: &Context, global: &ComposeArgs, args: &KillArgs) -> Result<i32> {
    let signal = parse_signal(&args.signal)?;
    let (_, groups) = groups(ctx, global, &args.services)?;
    Ok(each(ctx, &groups, |store, m| {
        if !store.observed_state(&m.record.id)?.status.is_running() {
            return Ok(());
        }
        event("Container", &m.record.name, "Killing");
        store.kill_container(&m.record.id, signal)?;
        event("Container", &m.record.name, "Killed");
        Ok(())
    }))
}

pub fn pause(ctx: &Context, global: &ComposeArgs, args: &ServicesArgs, frozen: bool) -> Result<i32> {
    let (_, groups) = groups(ctx, global, &args.services)?;
    let (doing, done) = if frozen { ("Pausing", "Paused") } else { ("Unpausing", "Unpaused") };
    Ok(each(ctx, &groups, |store, m| {
        let state = store.observed_state(&m.record.id)?;
        let want = if frozen { Status::Running } else { Status::Paused };
        if state.status != want {
            return Ok(());
        }
        event("Container", &m.record.name, doing);
        engine::container::cgroup::set_frozen(state.pid, frozen)?;
        event("Container", &m.record.name, done);
        Ok(())
    }))
}

pub fn rm(ctx: &Context, global: &ComposeArgs, args: &RmArgs) -> Result<i32> {
    let (project, groups) = groups(ctx, global, &args.services)?;
    if args.stop {
        each(ctx, &groups, |store, m| converge::stop(ctx, store, m, None, pre_stop_hooks(project.as_ref(), m)));
    }
    let store = ctx.store()?;
    let stopped: Vec<Vec<Member>> = groups
        .into_iter()
        .map(|g| {
            g.into_iter().filter(|m| !store.observed_state(&m.record.id).is_ok_and(|s| s.status.is_running())).collect()
        })
        .collect();
    let names: Vec<&str> = stopped.iter().flatten().map(|m| m.record.name.as_str()).collect();
    if names.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    if !args.force {
        eprintln!("Going to remove {}", names.join(", "));
        if !crate::commands::image::confirm("Are you sure?")? {
            return Ok(0);
        }
    }
    Ok(each(ctx, &stopped, |_, m| remove(ctx, &mut ctx.store()?, m, None, args.volumes, &[])))
}
