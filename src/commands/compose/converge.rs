//! Bringing a project to what its files say (`up`, `create`, `run`'s dependencies): networks
//! and volumes first, then each service's plan (compose::plan), services in parallel, each
//! waiting only for its own dependencies' conditions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use compose::convert;
use compose::labels;
use compose::plan::{self, Action, Desired, Observed};
use compose::{Project, Service};
use engine::container::model::Status;
use engine::Store;

use super::project::{event, members, Member};
use crate::commands::container::{launcher, start_detached, stop_timeout};
use crate::commands::Context;

#[derive(Default, Clone)]
pub struct Options {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    pub no_deps: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub no_start: bool,
    pub remove_orphans: bool,
    /// `--scale SERVICE=N`.
    pub scale: BTreeMap<String, u32>,
    /// `-t`: seconds to wait when stopping containers that are replaced.
    pub timeout: Option<i64>,
    /// How missing images are built or pulled.
    pub images: super::image::Policy,
}

/// How a service's turn ended.
#[derive(Clone)]
enum Outcome {
    /// Its containers exist (and run, unless `--no-start`); `recreated` when any was replaced.
    Done {
        recreated: bool,
    },
    Failed(String),
}

/// The services `up` acts on: those named and, unless `--no-deps`, everything they need.
pub fn selection(project: &Project, named: &[String], no_deps: bool) -> BTreeSet<String> {
    let graph = compose::graph::Graph::of(project);
    let mut out: BTreeSet<String> =
        if named.is_empty() { project.services.keys().cloned().collect() } else { named.iter().cloned().collect() };
    if !no_deps {
        let mut todo: Vec<String> = out.iter().cloned().collect();
        while let Some(s) = todo.pop() {
            for d in graph.deps.get(&s).into_iter().flatten() {
                if out.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
    }
    out
}

fn replicas(svc: &Service, name: &str, opts: &Options) -> u32 {
    if let Some(n) = opts.scale.get(name) {
        return *n;
    }
    svc.deploy.as_ref().and_then(|d| d.replicas).or(svc.scale).unwrap_or(1)
}

/// Makes the project's networks (those not yet there) and checks the external ones.
pub fn ensure_networks(ctx: &Context, project: &Project) -> Result<()> {
    let networks = netctl::Networks::open(&ctx.root)?;
    for key in convert::used_networks(project) {
        let name = labels::network_name(project, &key);
        let declared = project.networks.get(&key);
        if matches!(key.as_str(), "host" | "none") {
            continue;
        }
        if networks.find(&name).is_ok() {
            continue;
        }
        if declared.is_some_and(|n| n.external) {
            bail!("network {name} declared as external, but could not be found");
        }
        if declared.and_then(|n| n.driver.as_deref()).is_some_and(|d| d != "bridge") {
            bail!("network {key}: only the bridge driver is supported");
        }
        event("Network", &name, "Creating");
        networks.create(&convert::network_options(project, &key))?;
        event("Network", &name, "Created");
    }
    Ok(())
}

/// Makes the project's named volumes and checks the external ones.
pub fn ensure_volumes(store: &mut Store, project: &Project) -> Result<()> {
    for key in convert::used_volumes(project) {
        let name = labels::volume_name(project, &key);
        let declared = project.volumes.get(&key);
        if store.volume(&name)?.is_some() {
            continue;
        }
        if declared.is_some_and(|v| v.external) {
            bail!("external volume \"{name}\" not found");
        }
        let own = declared.map(|v| v.labels.clone()).unwrap_or_default();
        event("Volume", &name, "Creating");
        store.create_volume(Some(&name), &labels::resource_labels(project, labels::VOLUME, &key, &own))?;
        event("Volume", &name, "Created");
    }
    Ok(())
}

/// The image ID a service runs, which must be in the store (built or pulled by now).
pub fn service_image(store: &Store, project: &Project, name: &str, svc: &Service) -> Result<String> {
    let image = labels::image_name(&project.name, name, svc);
    match store.resolve_image(&image) {
        Ok(id) => Ok(id.to_string()),
        Err(_) => bail!("service {name:?}: no such image: {image}"),
    }
}

/// Where a project keeps the files it writes (secrets and configs given inline).
fn files_dir(ctx: &Context, project: &Project) -> std::path::PathBuf {
    ctx.root.join("compose").join(&project.name)
}

/// Creates container `number` of the service.
fn create(
    ctx: &Context,
    store: &mut Store,
    project: &Project,
    name: &str,
    number: u32,
    image_id: &str,
) -> Result<String> {
    let svc = &project.services[name];
    let container = labels::container_name(&project.name, name, svc, number);
    let files = files_dir(ctx, project);
    let options = convert::create_options(&convert::Container {
        project,
        service: name,
        svc,
        number,
        name: container.clone(),
        oneoff: false,
        image_id: image_id.to_string(),
        files_dir: &files,
    })
    .map_err(|e| anyhow!(e))?;
    let mut options = options;
    share_with_parents(store, project, name, svc, &mut options)?;
    crate::commands::container::apply_dns_defaults(ctx, &mut options);
    Ok(store.create_container(&options)?.id)
}

/// A container of `service` (the first by number) for `network_mode: service:x` and
/// `volumes_from`, or a container by name for `container:x`.
fn parent_container(store: &Store, project: &Project, reference: &str) -> Result<engine::container::model::Record> {
    if let Some(name) = reference.strip_prefix("container:") {
        return Ok(store.container(&store.resolve_container(name)?)?);
    }
    let service = reference.strip_prefix("service:").unwrap_or(reference);
    members(store, &project.name)?
        .into_iter()
        .find(|m| !m.oneoff() && m.service() == service)
        .map(|m| m.record)
        .ok_or_else(|| anyhow!("service {service:?} has no container"))
}

/// `network_mode: service:x` becomes `container:<id>`; `volumes_from` copies the other
/// container's mounts (read-only with `:ro`).
pub fn share_with_parents(
    store: &Store,
    project: &Project,
    name: &str,
    svc: &Service,
    options: &mut engine::container::CreateOptions,
) -> Result<()> {
    let mode = options.host.network_mode.clone();
    if mode.starts_with("service:") || mode.starts_with("container:") {
        let parent = parent_container(store, project, &mode)
            .map_err(|e| anyhow!("service {name:?}: network_mode {mode}: {e}"))?;
        options.host.network_mode = format!("container:{}", parent.id);
        options.host.port_bindings.clear();
        options.endpoint = Default::default();
    }
    // `links` name services: the link goes to the service's first container, under the alias
    // and the service name.
    for link in &mut options.host.links {
        let (service, alias) = link.split_once(':').unwrap_or((link.as_str(), link.as_str()));
        if project.services.contains_key(service) {
            let parent = parent_container(store, project, service)
                .map_err(|e| anyhow!("service {name:?}: links {service}: {e}"))?;
            *link = format!("{}:{alias}", parent.name);
        }
    }
    for from in &svc.volumes_from {
        let (reference, access) = match from.rsplit_once(':') {
            Some((r, a @ ("ro" | "rw"))) => (r, a),
            _ => (from.as_str(), "rw"),
        };
        let parent = parent_container(store, project, reference)
            .map_err(|e| anyhow!("service {name:?}: volumes_from {from}: {e}"))?;
        for m in parent.host_config.mounts.iter().filter(|m| m.kind != "tmpfs") {
            if options.host.mounts.iter().all(|mine| mine.target != m.target) {
                let mut m = m.clone();
                m.read_only |= access == "ro";
                options.host.mounts.push(m);
            }
        }
    }
    Ok(())
}

/// Runs a `post_start` or `pre_stop` hook in the container, as `berth exec` in a child
/// process (libcontainer must not fork from this multi-threaded one). A failing hook is an
/// error naming the container.
pub fn run_hook(ctx: &Context, id: &str, name: &str, kind: &str, hook: &compose::model::Hook) -> Result<()> {
    let mut cmd = ctx.berth_command()?;
    cmd.arg("exec");
    if let Some(user) = &hook.user {
        cmd.args(["-u", user]);
    }
    if let Some(dir) = &hook.working_dir {
        cmd.args(["-w", dir]);
    }
    if hook.privileged {
        cmd.arg("--privileged");
    }
    for (k, v) in &hook.environment {
        cmd.arg("-e").arg(v.as_ref().map_or(k.clone(), |v| format!("{k}={v}")));
    }
    cmd.arg(id).args(&hook.command).stdin(std::process::Stdio::null());
    let status = cmd.status()?;
    if !status.success() {
        bail!("{kind} hook of container {name} failed with exit code {}", status.code().unwrap_or(-1));
    }
    Ok(())
}

/// Stops a running container: its `pre_stop` hooks first, then the stop signal.
pub fn stop(
    ctx: &Context,
    store: &Store,
    member: &Member,
    timeout: Option<i64>,
    pre_stop: &[compose::model::Hook],
) -> Result<()> {
    let (id, name) = (&member.record.id, &member.record.name);
    if !store.observed_state(id)?.status.is_running() {
        return Ok(());
    }
    event("Container", name, "Stopping");
    for hook in pre_stop {
        // A failed pre_stop hook is reported; the container is stopped all the same.
        if let Err(e) = run_hook(ctx, id, name, "pre_stop", hook) {
            eprintln!("WARN[0000] {e}");
        }
    }
    store.stop_container(id, stop_timeout(store, id, timeout), launcher(ctx).as_mut())?;
    event("Container", name, "Stopped");
    Ok(())
}

/// The `pre_stop` hooks of a container's service, when the project names it.
pub fn pre_stop_hooks<'a>(project: Option<&'a Project>, member: &Member) -> &'a [compose::model::Hook] {
    project.and_then(|p| p.services.get(member.service())).map_or(&[], |s| s.pre_stop.as_slice())
}

/// Stops and removes a container, with Compose's progress lines.
pub fn remove(
    ctx: &Context,
    store: &mut Store,
    member: &Member,
    timeout: Option<i64>,
    volumes: bool,
    pre_stop: &[compose::model::Hook],
) -> Result<()> {
    let name = &member.record.name;
    let mut launcher = launcher(ctx);
    stop(ctx, store, member, timeout, pre_stop)?;
    event("Container", name, "Removing");
    store.remove_container(&member.record.id, true, volumes, launcher.as_mut())?;
    event("Container", name, "Removed");
    Ok(())
}

/// Waits until `dep`'s containers meet `condition`.
fn wait_condition(store: &Store, project: &Project, dep: &str, condition: &str) -> Result<()> {
    if condition == "service_started" {
        return Ok(());
    }
    for m in members(store, &project.name)?.into_iter().filter(|m| m.service() == dep && !m.oneoff()) {
        let name = m.record.name.clone();
        event("Container", &name, "Waiting");
        loop {
            let Some(state) = store.settled_state(&m.record.id)? else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            match condition {
                "service_healthy" => {
                    let checked = m.has_healthcheck();
                    if !checked {
                        bail!("dependency failed to start: container {name} has no healthcheck configured");
                    }
                    // Until its monitor has set the health up, it is starting.
                    match state.health.as_ref().map_or("starting", |h| h.status.as_str()) {
                        "healthy" => {
                            event("Container", &name, "Healthy");
                            break;
                        }
                        "unhealthy" => bail!("dependency failed to start: container {name} is unhealthy"),
                        _ if state.status == Status::Exited => {
                            bail!("dependency failed to start: container {name} exited ({})", state.exit_code)
                        }
                        _ => {}
                    }
                }
                "service_completed_successfully" => {
                    if matches!(state.status, Status::Exited | Status::Dead) {
                        if state.exit_code != 0 {
                            bail!("service {dep:?} didn't complete successfully: exit {}", state.exit_code);
                        }
                        event("Container", &name, "Exited");
                        break;
                    }
                }
                other => bail!("unknown depends_on condition {other:?}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// One service's turn: its plan, carried out. Returns whether a container was replaced.
#[allow(clippy::too_many_arguments)]
fn converge_service(
    ctx: &Context,
    project: &Project,
    name: &str,
    image_id: &str,
    observed: &[Member],
    opts: &Options,
    restart_for_deps: bool,
) -> Result<bool> {
    let mut store = ctx.store()?;
    let svc = &project.services[name];
    let hash = compose::hash::service_hash(svc);
    let current: Vec<Observed> = observed
        .iter()
        .map(|m| Observed {
            id: m.record.id.clone(),
            number: m.number(),
            hash: m.record.config.labels.get(labels::CONFIG_HASH).cloned().unwrap_or_default(),
            image: m.record.image.to_string(),
            running: m.running(),
        })
        .collect();
    let desired = Desired {
        hash: &hash,
        image: image_id,
        replicas: replicas(svc, name, opts),
        force_recreate: opts.force_recreate,
        no_recreate: opts.no_recreate,
    };
    let mut recreated = false;
    let mut to_start = Vec::new();
    for action in plan::plan(desired, &current) {
        match action {
            Action::Keep { id } => {
                let m = observed.iter().find(|m| m.record.id == id).expect("planned from observed");
                if restart_for_deps && !opts.no_start {
                    event("Container", &m.record.name, "Restarting");
                    stop(ctx, &store, m, opts.timeout, &svc.pre_stop)?;
                    to_start.push((id, m.record.name.clone()));
                } else {
                    event("Container", &m.record.name, "Running");
                }
            }
            Action::Start { id } => {
                let m = observed.iter().find(|m| m.record.id == id).expect("planned from observed");
                to_start.push((id, m.record.name.clone()));
            }
            Action::Remove { id } => {
                let m = observed.iter().find(|m| m.record.id == id).expect("planned from observed");
                remove(ctx, &mut store, m, opts.timeout, false, &svc.pre_stop)?;
            }
            Action::Create { number } => {
                let container = labels::container_name(&project.name, name, svc, number);
                event("Container", &container, "Creating");
                let id = create(ctx, &mut store, project, name, number, image_id)?;
                event("Container", &container, "Created");
                to_start.push((id, container));
            }
            Action::Recreate { id, number } => {
                let old = observed.iter().find(|m| m.record.id == id).expect("planned from observed");
                let container = old.record.name.clone();
                event("Container", &container, "Recreate");
                let mut launcher = launcher(ctx);
                stop(ctx, &store, old, opts.timeout, &svc.pre_stop)?;
                // The old one steps aside under Compose's temporary name, so the new one can take
                // the name; it goes once the new one exists.
                store.rename_container(&id, &format!("{}_{container}", &id[..12]))?;
                let new = create(ctx, &mut store, project, name, number, image_id);
                match new {
                    Ok(new) => {
                        store.remove_container(&id, true, false, launcher.as_mut())?;
                        event("Container", &container, "Recreated");
                        to_start.push((new, container));
                        recreated = true;
                    }
                    Err(e) => {
                        let _ = store.rename_container(&id, &container);
                        return Err(e);
                    }
                }
            }
        }
    }
    if !opts.no_start {
        for (id, container) in to_start {
            event("Container", &container, "Starting");
            start_detached(ctx, &store, &id)
                .map_err(|e| anyhow!("{container}: {}", crate::commands::error_text(&e)))?;
            event("Container", &container, "Started");
            for hook in &svc.post_start {
                run_hook(ctx, &id, &container, "post_start", hook)?;
            }
        }
    }
    Ok(recreated)
}

/// Converges the selected services; returns them. Errors name the service and why.
pub fn converge(ctx: &Context, project: &Project, opts: &Options) -> Result<BTreeSet<String>> {
    super::project::check_services(project, &opts.services)?;
    let selected = selection(project, &opts.services, opts.no_deps);
    super::image::prepare(ctx, project, &selected, &opts.images)?;
    let mut store = ctx.store()?;
    let mut images = BTreeMap::new();
    for name in &selected {
        images.insert(name.clone(), service_image(&store, project, name, &project.services[name])?);
    }
    ensure_networks(ctx, project)?;
    ensure_volumes(&mut store, project)?;

    let all = members(&store, &project.name)?;
    let mut by_service: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    let mut orphans = Vec::new();
    for m in all.into_iter().filter(|m| !m.oneoff()) {
        if project.services.contains_key(m.service()) {
            by_service.entry(m.service().to_string()).or_default().push(m);
        } else {
            orphans.push(m);
        }
    }
    if !orphans.is_empty() {
        if opts.remove_orphans {
            for m in &orphans {
                remove(ctx, &mut store, m, opts.timeout, false, &[])?;
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|m| m.record.name.as_str()).collect();
            eprintln!(
                "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            );
        }
    }
    drop(store);

    let graph = compose::graph::Graph::of(project);
    let outcomes: Mutex<BTreeMap<String, Outcome>> = Mutex::new(BTreeMap::new());
    let changed = Condvar::new();
    let wait_for = |dep: &str| -> Outcome {
        let mut done = outcomes.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(o) = done.get(dep) {
                return o.clone();
            }
            done = changed.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    };
    std::thread::scope(|scope| {
        for name in &selected {
            let (graph, outcomes, changed, wait_for, images, by_service) =
                (&graph, &outcomes, &changed, &wait_for, &images, &by_service);
            let selected = &selected;
            scope.spawn(move || {
                let run = || -> Result<bool> {
                    let svc = &project.services[name];
                    let (mut restart, mut recreate) = (false, false);
                    for dep in graph.deps.get(name).into_iter().flatten().filter(|d| selected.contains(*d)) {
                        match wait_for(dep) {
                            Outcome::Failed(_) => bail!("dependency {dep:?} of service {name:?} failed to start"),
                            Outcome::Done { recreated } => {
                                let d = svc.depends_on.get(dep);
                                restart |= recreated && d.is_some_and(|d| d.restart);
                                recreate |= recreated && convert::parents(svc).contains(dep);
                                if !opts.no_start {
                                    let condition = d.map_or("service_started", |d| d.condition.as_str());
                                    wait_condition(&ctx.store()?, project, dep, condition)?;
                                }
                            }
                        }
                    }
                    let observed = by_service.get(name).map(Vec::as_slice).unwrap_or_default();
                    // A container sharing a recreated one's network or volumes is recreated too.
                    let opts = &Options { force_recreate: opts.force_recreate || recreate, ..opts.clone() };
                    converge_service(ctx, project, name, &images[name], observed, opts, restart)
                };
                let outcome = match run() {
                    Ok(recreated) => Outcome::Done { recreated },
                    Err(e) => Outcome::Failed(crate::commands::error_text(&e)),
                };
                outcomes.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone(), outcome);
                changed.notify_all();
            });
        }
    });
    // The first failure in dependency order is the one to report (the others follow from it).
    let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    for name in graph.order().map_err(|e| anyhow!(e.to_string()))? {
        if let Some(Outcome::Failed(why)) = outcomes.get(&name) {
            bail!("{why}");
        }
    }
    Ok(selected)
}
