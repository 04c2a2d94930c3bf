//! `compose up` and `compose create`: converge, then (in the foreground) show the logs until
//! the containers exit or Ctrl-C stops them; `--wait` waits for running/healthy instead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use engine::container::model::Status;

use super::converge::{self, converge};
use super::logs::{follow, LogPrinter};
use super::project::{event, load, members, Member, Reported};
use super::ComposeArgs;
use crate::commands::container::stop_timeout;
use crate::commands::Context;
use engine::container::lifecycle::parse_signal;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long)]
    pub pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long, conflicts_with = "detach")]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long, value_name = "SERVICE", conflicts_with = "detach")]
    pub exit_code_from: Option<String>,
    /// Restrict attaching to the specified services
    #[arg(long)]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long)]
    pub no_attach: Vec<String>,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Watch source code and rebuild/refresh containers when files are updated
    #[arg(short = 'w', long, conflicts_with_all = ["detach", "wait"])]
    pub watch: bool,
    /// Services to start (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    pub services: Vec<String>,
}

pub fn parse_scale(items: &[String]) -> Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for item in items {
        let Some((name, n)) = item.split_once('=') else { bail!("invalid scale: {item:?} (expected SERVICE=NUM)") };
        let n: u32 = n.parse().map_err(|_| anyhow::anyhow!("invalid scale: {item:?} (expected SERVICE=NUM)"))?;
        out.insert(name.to_string(), n);
    }
    Ok(out)
}

/// Converge errors are Compose's: one line, exit 1.
fn report(result: Result<std::collections::BTreeSet<String>>) -> Result<std::collections::BTreeSet<String>> {
    result.map_err(|e| {
        if e.downcast_ref::<Reported>().is_none() {
            eprintln!("Error: {}", crate::commands::error_text(&e));
        }
        Reported.into()
    })
}

pub fn create(ctx: &Context, global: &ComposeArgs, args: &CreateArgs) -> Result<i32> {
    let project = load(global)?;
    let opts = converge::Options {
        services: args.services.clone(),
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        no_start: true,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&args.scale)?,
        ..Default::default()
    };
    report(converge(ctx, &project, &opts))?;
    Ok(0)
}

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

pub fn run(ctx: &Context, global: &ComposeArgs, args: &UpArgs) -> Result<i32> {
    let project = load(global)?;
    if let Some(service) = &args.exit_code_from {
        super::project::check_services(&project, std::slice::from_ref(service))?;
    }
    let opts = converge::Options {
        services: args.services.clone(),
        no_deps: args.no_deps,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        no_start: args.no_start,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&args.scale)?,
        timeout: args.timeout,
        images: super::image::Policy { build: args.build, no_build: args.no_build, pull: args.pull.clone() },
    };
    // Ctrl-C during `up` stops the project, so it is caught from the start.
    if !args.detach && !args.wait {
        // SAFETY: the handler only increments an atomic, which is async-signal-safe.
        unsafe { libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t) };
    }
    let selected = report(converge(ctx, &project, &opts));
    super::progress::finish();
    let selected = selected?;
    if args.no_start {
        return Ok(0);
    }
    let store = ctx.store()?;
    let containers: Vec<Member> =
        members(&store, &project.name)?.into_iter().filter(|m| !m.oneoff() && selected.contains(m.service())).collect();
    if args.wait {
        return wait_ready(&store, &project, &containers, args.wait_timeout);
    }
    if args.detach {
        return Ok(0);
    }
    if args.watch {
        return foreground_watching(ctx, &project, &store, args);
    }
    foreground(ctx, &project, &store, &containers, args, false)
}

/// `up --watch`: the watcher runs on a thread beside the log follower (it acts through the
/// same child processes as `up`, never libcontainer in-process). A rebuild replaces
/// containers, so the follower attaches again to what runs then; Ctrl-C stops both.
fn foreground_watching(ctx: &Context, project: &compose::Project, store: &engine::Store, args: &UpArgs) -> Result<i32> {
    use std::sync::atomic::AtomicBool;
    let done = AtomicBool::new(false);
    let opts = super::watch::Options { services: args.services.clone(), ..Default::default() };
    let stop = || done.load(Ordering::SeqCst) || INTERRUPTS.load(Ordering::SeqCst) > 0;
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| super::watch::watch(ctx, project, &opts, &stop));
        let mut again = false;
        let code = loop {
            let selected = converge::selection(project, &args.services, args.no_deps);
            let containers: Vec<Member> = members(store, &project.name)?
                .into_iter()
                .filter(|m| !m.oneoff() && selected.contains(m.service()))
                .collect();
            let result = foreground(ctx, project, store, &containers, args, again);
            again = true;
            if INTERRUPTS.load(Ordering::SeqCst) > 0 || watcher.is_finished() {
                break result;
            }
            // Everything exited and no rebuild is under way: `up` is over, as without --watch.
            std::thread::sleep(Duration::from_millis(200));
            let running = members(store, &project.name)?.iter().any(|m| m.running() && selected.contains(m.service()));
            if !running && !super::watch::BUSY.load(Ordering::SeqCst) {
                break result;
            }
        };
        done.store(true, Ordering::SeqCst);
        match watcher.join() {
            Ok(Err(e)) => eprintln!("Error: {}", crate::commands::error_text(&e)),
            Ok(Ok(())) => {}
            Err(_) => eprintln!("Error: the watcher failed"),
        }
        code
    })
}

/// `--wait`: until every container runs (and is healthy, where it has a healthcheck). A
/// one-shot container that exited 0 and that a dependent requires to complete successfully
/// counts as done.
fn wait_ready(
    store: &engine::Store,
    project: &compose::Project,
    containers: &[Member],
    timeout: Option<u64>,
) -> Result<i32> {
    let completes: Vec<&str> = project
        .services
        .values()
        .flat_map(|s| &s.depends_on)
        .filter(|(_, d)| d.condition == "service_completed_successfully")
        .map(|(name, _)| name.as_str())
        .collect();
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs(t));
    let mut pending: Vec<&Member> = containers.iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for m in pending {
            let Some(state) = store.settled_state(&m.record.id)? else {
                still.push(m);
                continue;
            };
            // A container with a healthcheck counts once healthy (its state has no health
            // until the monitor has set it up).
            let health = state.health.as_ref().map(|h| h.status.as_str()).or(m.has_healthcheck().then_some("starting"));
            match state.status {
                Status::Exited | Status::Dead if state.exit_code == 0 && completes.contains(&m.service()) => {
                    event("Container", &m.record.name, "Exited")
                }
                Status::Exited | Status::Dead => {
                    eprintln!("container {} exited ({})", m.record.name, state.exit_code);
                    return Ok(1);
                }
                Status::Running if health == Some("unhealthy") => {
                    eprintln!("container {} is unhealthy", m.record.name);
                    return Ok(1);
                }
                Status::Running if health.is_none() || health == Some("healthy") => {
                    event("Container", &m.record.name, if health.is_some() { "Healthy" } else { "Running" })
                }
                _ => still.push(m),
            }
        }
        pending = still;
        if deadline.is_some_and(|d| Instant::now() > d) && !pending.is_empty() {
            eprintln!(
                "timeout waiting for {}",
                pending.iter().map(|m| m.record.name.as_str()).collect::<Vec<_>>().join(", ")
            );
            return Ok(1);
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(0)
}

/// Stopping in the foreground: the stop signal goes to every container at once, the logs go
/// on meanwhile, and whatever still runs at the deadline (or at a second Ctrl-C) is killed.
struct Stopping {
    deadline: Instant,
    killed: bool,
}

fn begin_stop(
    ctx: &Context,
    project: &compose::Project,
    store: &engine::Store,
    containers: &[Member],
    timeout: Option<i64>,
) -> Stopping {
    let mut longest = 0;
    for m in containers {
        let id = &m.record.id;
        if !store.observed_state(id).is_ok_and(|s| s.status.is_running()) {
            continue;
        }
        event("Container", &m.record.name, "Stopping");
        for hook in converge::pre_stop_hooks(Some(project), m) {
            if let Err(e) = converge::run_hook(ctx, id, &m.record.name, "pre_stop", hook) {
                eprintln!("WARN[0000] {e}");
            }
        }
        let signal = if m.record.config.stop_signal.is_empty() { "SIGTERM" } else { &m.record.config.stop_signal };
        let _ = parse_signal(signal).map(|sig| store.kill_container(id, sig));
        longest = longest.max(stop_timeout(store, id, timeout));
    }
    Stopping { deadline: Instant::now() + Duration::from_secs(longest.max(0) as u64), killed: false }
}

/// The foreground: logs with prefixes until every container has exited; Ctrl-C stops them
/// gracefully, a second Ctrl-C kills them.
fn foreground(
    ctx: &Context,
    project: &compose::Project,
    store: &engine::Store,
    containers: &[Member],
    args: &UpArgs,
    from_end: bool,
) -> Result<i32> {
    let shown: Vec<Member> = containers
        .iter()
        .filter(|m| args.attach.is_empty() || args.attach.iter().any(|s| s == m.service()))
        .filter(|m| !args.no_attach.iter().any(|s| s == m.service()))
        .map(|m| Member { record: m.record.clone(), state: m.state.clone() })
        .collect();
    let names: Vec<String> = containers.iter().map(Member::short_name).collect();
    let printer = LogPrinter::new(names, args.no_color, !args.no_log_prefix, args.timestamps);
    crate::printer::line(&format!(
        "Attaching to {}",
        shown.iter().map(Member::short_name).collect::<Vec<_>>().join(", ")
    ));
    let abort = args.abort_on_container_exit || args.exit_code_from.is_some();
    let mut exited: BTreeMap<String, i32> = BTreeMap::new();
    let mut code = 0;
    let mut stopping: Option<Stopping> = None;
    follow(store, &shown, &printer, from_end, |store| {
        if INTERRUPTS.load(Ordering::SeqCst) > 0 && stopping.is_none() {
            crate::printer::err_line("Gracefully stopping... (press Ctrl+C again to force)");
            stopping = Some(begin_stop(ctx, project, store, containers, args.timeout));
            code = 130;
        }
        if let Some(s) = &mut stopping {
            let forced = INTERRUPTS.load(Ordering::SeqCst) > 1 || Instant::now() >= s.deadline;
            if forced && !s.killed {
                s.killed = true;
                for m in containers {
                    if store.observed_state(&m.record.id).is_ok_and(|st| st.status.is_running()) {
                        event("Container", &m.record.name, "Killing");
                        let _ = store.kill_container(&m.record.id, 9);
                    }
                }
            }
        }
        let mut all_done = true;
        for m in containers {
            let state = match store.settled_state(&m.record.id) {
                Ok(Some(state)) => state,
                Ok(None) => {
                    all_done = false;
                    continue;
                }
                // Recreated by `--watch` (or removed by another command): nothing to wait for.
                Err(_) if !store.container_dir(&m.record.id).exists() => continue,
                Err(e) => return Err(e.into()),
            };
            if state.status.is_running() {
                exited.remove(&m.record.id);
                all_done = false;
                continue;
            }
            if exited.contains_key(&m.record.id) || state.status == Status::Created {
                continue;
            }
            exited.insert(m.record.id.clone(), state.exit_code);
            printer.note(&m.short_name(), &format!("exited with code {}", state.exit_code));
            if stopping.is_some() {
                event("Container", &m.record.name, "Stopped");
            }
            // The exit status is the chosen service's, or (abort without a choice) the first
            // container's to exit.
            let chosen = match args.exit_code_from.as_deref() {
                Some(service) => service == m.service(),
                None => abort && stopping.is_none(),
            };
            if chosen {
                code = state.exit_code;
            }
            if abort && stopping.is_none() {
                crate::printer::err_line("Aborting on container exit...");
                stopping = Some(begin_stop(ctx, project, store, containers, args.timeout));
            }
        }
        Ok(!all_done)
    })?;
    Ok(code)
}
