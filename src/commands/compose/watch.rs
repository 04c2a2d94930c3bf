//! `compose watch` and `up --watch`: the dev loop. notify reports changes under the rules'
//! paths; a short quiet period turns a burst (a `git checkout` of 500 files) into one batch;
//! compose::watch decides what each service gets; this carries it out: files synced straight
//! into the running containers' root filesystems, images rebuilt (a shared one once) and
//! containers recreated, restarts, and `sync+exec` commands as `berth exec` children.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use compose::watch::{plan, rebuild_groups, Rule, ServicePlan};
use compose::Project;
use engine::container::copy::SyncFile;
use notify::{EventKind, RecursiveMode, Watcher};

use super::converge::{self, converge};
use super::project::{load, members, Member, Reported};
use super::ComposeArgs;
use crate::commands::container::start_detached;
use crate::commands::Context;

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Do not build & start services before watching
    #[arg(long)]
    pub no_up: bool,
    /// Prune dangling images on rebuild
    #[arg(long)]
    pub prune: bool,
    /// Hide build output
    #[arg(long)]
    pub quiet: bool,
    /// Services to watch (default: all that have a develop.watch section)
    pub services: Vec<String>,
}

/// How watching behaves, whichever command started it.
#[derive(Clone, Default)]
pub struct Options {
    pub services: Vec<String>,
    pub prune: bool,
    pub quiet: bool,
}

/// A batch ends once nothing has changed for this long: short enough for a sync to land well
/// under 300 ms, long enough to take a `git checkout` as one batch.
const QUIET: Duration = Duration::from_millis(60);
/// A batch never waits longer than this for quiet (a process that writes without pause).
const MAX_BATCH: Duration = Duration::from_secs(2);

/// Set while a batch is being carried out (`up --watch` must not end while a rebuild has
/// removed a container and not yet started its replacement).
pub static BUSY: AtomicBool = AtomicBool::new(false);

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

pub fn run(ctx: &Context, global: &ComposeArgs, args: &WatchArgs) -> Result<i32> {
    let project = load(global)?;
    super::project::check_services(&project, &args.services)?;
    // SAFETY: the handler only increments an atomic, which is async-signal-safe.
    unsafe { libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t) };
    let opts = Options { services: args.services.clone(), prune: args.prune, quiet: args.quiet };
    // The rules are checked before anything is started.
    rules(&project, &opts.services).map_err(|e| fail(&e))?;
    if !args.no_up {
        let up = converge::Options { services: args.services.clone(), ..Default::default() };
        let result = converge(ctx, &project, &up);
        super::progress::finish();
        result.map_err(|e| fail(&e))?;
    }
    watch(ctx, &project, &opts, &|| INTERRUPTS.load(Ordering::SeqCst) > 0).map_err(|e| fail(&e))?;
    Ok(0)
}

/// Prints an error as Compose does (one line) and marks it reported.
fn fail(e: &anyhow::Error) -> anyhow::Error {
    if e.downcast_ref::<Reported>().is_none() {
        eprintln!("Error: {}", crate::commands::error_text(e));
    }
    Reported.into()
}

fn rules(project: &Project, services: &[String]) -> Result<Vec<Rule>> {
    let rules = Rule::all(project, services, &|ctx| std::fs::read_to_string(ctx.join(".dockerignore")).ok())
        .map_err(|e| anyhow!(e))?;
    if rules.is_empty() {
        bail!("none of the selected services is configured for watch, consider setting a 'develop' section");
    }
    Ok(rules)
}

/// What notify watches: each rule's path (a directory recursively; a file, or a path not made
/// yet, through its nearest existing parent, since editors replace files by renaming).
fn watch_roots(rules: &[Rule]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut out: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    let mut wanted: Vec<(PathBuf, RecursiveMode)> = rules
        .iter()
        .map(|r| {
            if r.path.is_dir() {
                return (r.path.clone(), RecursiveMode::Recursive);
            }
            let mut p = r.path.parent().unwrap_or(Path::new("/")).to_path_buf();
            while !p.is_dir() {
                p = p.parent().unwrap_or(Path::new("/")).to_path_buf();
            }
            (p, RecursiveMode::NonRecursive)
        })
        .collect();
    // Recursive roots first, so that whatever they cover is not watched twice.
    wanted.sort_by_key(|(p, m)| (*m != RecursiveMode::Recursive, p.components().count()));
    for (path, mode) in wanted {
        let covered = out.iter().any(|(p, m)| *p == path || (*m == RecursiveMode::Recursive && path.starts_with(p)));
        if !covered {
            out.push((path, mode));
        }
    }
    out
}

/// Watches until `stop` says so; each batch's actions are carried out in turn. An action
/// that fails is reported and the watch goes on.
pub fn watch(ctx: &Context, project: &Project, opts: &Options, stop: &dyn Fn() -> bool) -> Result<()> {
    let rules = rules(project, &opts.services)?;
    let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(tx)?;
    for (path, mode) in watch_roots(&rules) {
        watcher.watch(&path, mode).map_err(|e| anyhow!("watching {}: {e}", path.display()))?;
    }
    for (i, rule) in rules.iter().enumerate().filter(|(_, r)| r.initial_sync && r.action.syncs()) {
        let ops = vec![compose::watch::SyncOp {
            host: rule.path.clone(),
            container: rule.container_path(&rule.path).unwrap_or_default(),
            exists: rule.path.exists(),
            rule: i,
        }];
        if let Err(e) = sync_service(ctx, project, &rules, &rule.service, &ops) {
            report(&e);
        }
    }
    crate::printer::line("Watch enabled");
    while !stop() {
        let first = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the file watcher stopped"),
        };
        let mut changed: BTreeSet<PathBuf> = BTreeSet::new();
        take(first, &mut changed);
        let started = Instant::now();
        while started.elapsed() < MAX_BATCH {
            match rx.recv_timeout(QUIET) {
                Ok(event) => take(event, &mut changed),
                Err(_) => break,
            }
        }
        if changed.is_empty() {
            continue;
        }
        let changes: Vec<(PathBuf, bool)> = changed
            .into_iter()
            .map(|p| {
                let exists = std::fs::symlink_metadata(&p).is_ok();
                (p, exists)
            })
            .collect();
        let plans = plan(&rules, &changes);
        BUSY.store(true, Ordering::SeqCst);
        if let Err(e) = carry_out(ctx, project, &rules, &plans, opts) {
            report(&e);
        }
        BUSY.store(false, Ordering::SeqCst);
    }
    drop(watcher);
    Ok(())
}

/// The paths of one notify event that can change a file (reads and opens cannot).
fn take(event: notify::Result<notify::Event>, into: &mut BTreeSet<PathBuf>) {
    match event {
        Ok(e) if !matches!(e.kind, EventKind::Access(_)) => into.extend(e.paths),
        Ok(_) => {}
        // An overflowed queue loses events; what is known still goes through.
        Err(e) => report(&anyhow!("file watcher: {e}")),
    }
}

fn report(e: &anyhow::Error) {
    crate::printer::err_line(&format!("Error: {}", crate::commands::error_text(e)));
}

/// One batch: rebuilds first (a shared image built once), then each service's syncs,
/// restarts and execs. Failures of one service are reported; the others go on.
fn carry_out(
    ctx: &Context,
    project: &Project,
    rules: &[Rule],
    plans: &BTreeMap<String, ServicePlan>,
    opts: &Options,
) -> Result<()> {
    for (image, services) in rebuild_groups(project, plans) {
        for s in &services {
            crate::printer::line(&format!("Rebuilding {s:?} after changes were detected"));
        }
        if let Err(e) = rebuild(ctx, project, &image, &services, opts) {
            report(&e);
        }
    }
    for (name, p) in plans.iter().filter(|(_, p)| !p.rebuild && p.changed > 0) {
        let result = (|| -> Result<()> {
            if !p.syncs.is_empty() {
                let n = p.syncs.len();
                crate::printer::line(&format!(
                    "Syncing {name:?} after {n} changed file{}",
                    if n == 1 { "" } else { "s" }
                ));
                sync_service(ctx, project, rules, name, &p.syncs)?;
            }
            if p.restart {
                crate::printer::line(&format!("Restarting {name:?} after changes were detected"));
                restart(ctx, project, name)?;
            }
            for hook in &p.execs {
                crate::printer::line(&format!("Executing {:?} in {name:?}", hook.command.join(" ")));
                for m in running(ctx, project, name)? {
                    converge::run_hook(ctx, &m.record.id, &m.record.name, "exec", hook)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            report(&anyhow!("service {name:?}: {}", crate::commands::error_text(&e)));
        }
    }
    Ok(())
}

/// The service's running containers (syncing into a stopped one would be lost on its next
/// recreate and needs its rootfs mounted; Compose skips them too).
fn running(ctx: &Context, project: &Project, service: &str) -> Result<Vec<Member>> {
    let store = ctx.store()?;
    Ok(members(&store, &project.name)?
        .into_iter()
        .filter(|m| !m.oneoff() && m.service() == service && m.running())
        .collect())
}

/// Puts a service's changed files into each of its running containers: one tar per
/// container applied from its root (engine's `sync_into_container`); deletions too.
fn sync_service(
    ctx: &Context,
    project: &Project,
    rules: &[Rule],
    service: &str,
    ops: &[compose::watch::SyncOp],
) -> Result<()> {
    let mut files = Vec::new();
    let mut remove = Vec::new();
    for op in ops {
        let rule = &rules[op.rule];
        if !op.exists {
            remove.push(op.container.clone());
            continue;
        }
        collect(rule, &op.host, &op.container, &mut files)?;
    }
    let store = ctx.store()?;
    for m in running(ctx, project, service)? {
        store.sync_into_container(&m.record.id, &files, &remove)?;
    }
    Ok(())
}

/// A host path to sync and, for a directory, everything under it that the rule accepts.
/// Symlinks are copied as links, never followed, and only when they point inside the
/// rule's path.
fn collect(rule: &Rule, host: &Path, container: &str, out: &mut Vec<SyncFile>) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(host) else { return Ok(()) };
    if meta.file_type().is_symlink() {
        let inside = std::fs::canonicalize(host)
            .ok()
            .zip(std::fs::canonicalize(&rule.path).ok())
            .is_some_and(|(t, root)| t.starts_with(root));
        if inside {
            out.push(SyncFile { host: host.to_path_buf(), target: container.to_string() });
        }
        return Ok(());
    }
    out.push(SyncFile { host: host.to_path_buf(), target: container.to_string() });
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(host) else { return Ok(()) };
        for entry in entries.flatten() {
            let path = entry.path();
            if !rule.accepts(&path) {
                continue;
            }
            let name = entry.file_name();
            let child = format!("{}/{}", container.trim_end_matches('/'), name.to_string_lossy());
            collect(rule, &path, &child, out)?;
        }
    }
    Ok(())
}

/// Stops and starts the service's running containers (its `pre_stop` hooks run).
fn restart(ctx: &Context, project: &Project, service: &str) -> Result<()> {
    let store = ctx.store()?;
    let svc = &project.services[service];
    for m in running(ctx, project, service)? {
        converge::stop(ctx, &store, &m, None, &svc.pre_stop)?;
        start_detached(ctx, &store, &m.record.id)?;
    }
    Ok(())
}

/// Builds a service image once, then recreates the containers of every service of the group
/// (and only those: dependents restart only when their own rules say so).
fn rebuild(ctx: &Context, project: &Project, image: &str, services: &[String], opts: &Options) -> Result<()> {
    let Some(first) = services.first() else { return Ok(()) };
    let old = ctx.store()?.resolve_image(image).ok().map(|id| id.to_string());
    super::image::build_service(ctx, project, first, &project.services[first], false, false, opts.quiet)?;
    let up = converge::Options {
        services: services.to_vec(),
        no_deps: true,
        images: super::image::Policy { no_build: true, ..Default::default() },
        ..Default::default()
    };
    converge(ctx, project, &up)?;
    if opts.prune {
        let new = ctx.store()?.resolve_image(image).ok().map(|id| id.to_string());
        if let Some(old) = old.filter(|o| Some(o) != new.as_ref()) {
            // Still used by a container (or tagged elsewhere): kept, silently.
            let _ = ctx.store()?.remove_image(&old, false);
        }
    }
    Ok(())
}
