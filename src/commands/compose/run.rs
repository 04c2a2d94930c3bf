//! `compose run` (a one-off container of a service, after its dependencies) and `compose exec`
//! (a command in a service's running container).

use std::io::IsTerminal;

use anyhow::{anyhow, Result};
use clap::Args;
use compose::{convert, labels};
use engine::container::model::PortBinding;

use super::converge::{self, converge, ensure_networks, ensure_volumes, service_image};
use super::project::{load, members, Reported};
use super::ComposeArgs;
use crate::cli::ExecArgs as ContainerExecArgs;
use crate::commands::container::{self, start_attached, start_detached};
use crate::commands::container_opts::host_env;
use crate::commands::Context;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Add or override a label
    #[arg(short, long = "label")]
    pub labels: Vec<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Publish a container's port(s) to the host
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long)]
    pub service_ports: bool,
    /// Use the service's network aliases in the network(s) the container connects to
    #[arg(long)]
    pub use_aliases: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long, default_value_t = true)]
    pub interactive: bool,
    /// Bind mount a volume
    #[arg(short, long = "volume")]
    pub volumes: Vec<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Context, global: &ComposeArgs, args: &RunArgs) -> Result<i32> {
    let project = load(global)?;
    super::project::check_services(&project, std::slice::from_ref(&args.service))?;
    let fail = |e: anyhow::Error| -> anyhow::Error {
        if e.downcast_ref::<Reported>().is_none() {
            eprintln!("Error: {}", crate::commands::error_text(&e));
        }
        Reported.into()
    };
    let deps: Vec<String> = converge::selection(&project, std::slice::from_ref(&args.service), false)
        .into_iter()
        .filter(|s| s != &args.service)
        .collect();
    if !args.no_deps && !deps.is_empty() {
        let opts = converge::Options { services: deps, remove_orphans: args.remove_orphans, ..Default::default() };
        converge(ctx, &project, &opts).map_err(fail)?;
    } else {
        ensure_networks(ctx, &project).map_err(fail)?;
        ensure_volumes(&mut ctx.store()?, &project).map_err(fail)?;
    }

    let only = std::iter::once(args.service.clone()).collect();
    super::image::prepare(ctx, &project, &only, &Default::default()).map_err(fail)?;
    let mut store = ctx.store()?;
    let mut svc = project.services[&args.service].clone();
    if !args.command.is_empty() {
        svc.command = Some(args.command.clone());
    }
    if let Some(e) = &args.entrypoint {
        svc.entrypoint = Some(if e.is_empty() { Vec::new() } else { vec![e.clone()] });
    }
    if !args.service_ports {
        svc.ports.clear();
    }
    // One-offs never restart, whatever the service says.
    svc.restart = Some("no".into());
    if let Some(d) = &mut svc.deploy {
        d.restart_policy = None;
    }
    svc.container_name = None;
    let image_id = service_image(&store, &project, &args.service, &svc).map_err(fail)?;
    let suffix: String = engine::container::names::random_id()[..12].to_string();
    let name = args.name.clone().unwrap_or_else(|| labels::oneoff_name(&project.name, &args.service, &suffix));
    let files = ctx.root.join("compose").join(&project.name);
    let mut options = convert::create_options(&convert::Container {
        project: &project,
        service: &args.service,
        svc: &svc,
        number: 1,
        name,
        oneoff: true,
        image_id,
        files_dir: &files,
    })
    .map_err(|e| fail(anyhow!(e)))?;
    converge::share_with_parents(&store, &project, &args.service, &svc, &mut options).map_err(fail)?;
    container::apply_dns_defaults(ctx, &mut options);
    options.env.extend(args.env.iter().filter_map(|e| host_env(e)));
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        options.labels.insert(k.to_string(), v.to_string());
    }
    if args.user.is_some() {
        options.user = args.user.clone();
    }
    if args.workdir.is_some() {
        options.workdir = args.workdir.clone();
    }
    if !args.use_aliases {
        options.endpoint.aliases.clear();
    }
    for spec in &args.publish {
        for r in netctl::ports::parse(spec)? {
            options.exposed_ports.push(r.container.clone());
            options
                .host
                .port_bindings
                .entry(r.container)
                .or_default()
                .push(PortBinding { host_ip: r.host_ip, host_port: r.host_port });
        }
    }
    for v in &args.volumes {
        options.host.mounts.push(crate::commands::container_opts::parse_volume(v)?);
    }
    let stdin_tty = std::io::stdin().is_terminal();
    options.tty = !args.no_tty && !args.detach && stdin_tty;
    options.open_stdin = args.interactive && !args.detach;
    options.host.auto_remove = args.rm;
    let record = store.create_container(&options)?;
    if args.detach {
        start_detached(ctx, &store, &record.id)?;
        crate::printer::line(&record.name);
        return Ok(0);
    }
    let result = start_attached(ctx, &store, &record.id, options.open_stdin, "ctrl-p,ctrl-q");
    if result.is_err() && args.rm {
        let _ = store.remove_container(&record.id, true, true, container::launcher(ctx).as_mut());
    }
    result
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Run the command as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Disable pseudo-TTY allocation. By default `compose exec` allocates a TTY
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long, default_value_t = true)]
    pub interactive: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

pub fn exec(ctx: &Context, global: &ComposeArgs, args: &ExecArgs) -> Result<i32> {
    let project = super::project::name_only(global)?;
    let store = ctx.store()?;
    let Some(target) = members(&store, &project)?
        .into_iter()
        .find(|m| !m.oneoff() && m.service() == args.service && m.number() == args.index && m.running())
    else {
        eprintln!("service {:?} is not running", args.service);
        return Err(Reported.into());
    };
    drop(store);
    container::exec(
        ctx,
        ContainerExecArgs {
            detach: args.detach,
            interactive: args.interactive && !args.detach,
            tty: !args.no_tty && !args.detach && std::io::stdin().is_terminal(),
            env: args.env.clone(),
            env_file: Vec::new(),
            user: args.user.clone(),
            workdir: args.workdir.clone(),
            privileged: args.privileged,
            container: target.record.id.clone(),
            command: args.command.clone(),
        },
    )
}
