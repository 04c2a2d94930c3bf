//! Images for a project: `build` (a service's `build` section through `berth build`), `pull`
//! and `push`, and what `up`, `create` and `run` do first: build or pull what is missing, as
//! the service's `pull_policy` and the `--build`, `--no-build` and `--pull` flags say.

use anyhow::{bail, Result};
use clap::Args;
use compose::labels;
use compose::{Project, Service};

use super::project::{load, Reported};
use super::ComposeArgs;
use crate::cli;
use crate::commands::{build, registry, Context};

/// How `up` gets each service's image.
#[derive(Default, Clone)]
pub struct Policy {
    /// `--build`: build every service that has a `build` section.
    pub build: bool,
    /// `--no-build`: never build (a missing image is an error).
    pub no_build: bool,
    /// `--pull always|missing|never` (else each service's `pull_policy`, else `missing`).
    pub pull: Option<String>,
}

/// Builds the service's image from its `build` section; tags it `<project>-<service>` (or its
/// `image`) and its `build.tags`.
pub fn build_service(
    ctx: &Context,
    project: &Project,
    name: &str,
    svc: &Service,
    no_cache: bool,
    pull: bool,
    quiet: bool,
) -> Result<()> {
    let Some(b) = &svc.build else { bail!("service {name:?} has no build section") };
    let context = project.working_dir.join(&b.context);
    let file = match (&b.dockerfile_inline, &b.dockerfile) {
        (Some(text), _) => {
            let path = ctx.root.join("compose").join(&project.name).join(format!("{name}.Dockerfile"));
            std::fs::create_dir_all(path.parent().unwrap_or(&ctx.root))?;
            std::fs::write(&path, text)?;
            Some(path)
        }
        (None, Some(f)) => Some(context.join(f)),
        (None, None) => None,
    };
    let mut tags = vec![labels::image_name(&project.name, name, svc)];
    tags.extend(b.tags.iter().cloned());
    let args = cli::BuildArgs {
        tags,
        file,
        build_args: b.args.iter().map(|(k, v)| v.as_ref().map_or(k.clone(), |v| format!("{k}={v}"))).collect(),
        target: b.target.clone(),
        labels: b.labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        no_cache: no_cache || b.no_cache,
        pull: pull || b.pull,
        quiet,
        network: b.network.clone(),
        platform: None,
        rm: true,
        context: context.display().to_string(),
    };
    super::project::event("Image", &labels::image_name(&project.name, name, svc), "Building");
    match build::build(ctx, args)? {
        0 => {
            super::project::event("Image", &labels::image_name(&project.name, name, svc), "Built");
            Ok(())
        }
        code => bail!("service {name:?} failed to build: exit status {code}"),
    }
}

/// Builds or pulls what the selected services need before any container is made.
pub fn prepare(
    ctx: &Context,
    project: &Project,
    services: &std::collections::BTreeSet<String>,
    policy: &Policy,
) -> Result<()> {
    // A shared image is built once, however many services name it.
    let mut built = std::collections::BTreeSet::new();
    for name in services {
        let svc = &project.services[name];
        let image = labels::image_name(&project.name, name, svc);
        let present = ctx.store()?.resolve_image(&image).is_ok();
        let service_policy = svc.pull_policy.as_deref().unwrap_or("missing");
        let wants_build = svc.build.is_some()
            && !policy.no_build
            && (policy.build || service_policy == "build" || (!present && policy.pull.as_deref() != Some("always")));
        if wants_build {
            if built.insert(image.clone()) {
                build_service(ctx, project, name, svc, false, false, false)?;
            }
            continue;
        }
        let pull = match policy.pull.as_deref().unwrap_or(service_policy) {
            "if_not_present" | "missing" | "build" => "missing",
            "always" => "always",
            "never" => "never",
            // `daily`, `weekly`, `every_<duration>`: berth keeps no pull times; a present image is used.
            _ => "missing",
        };
        if pull == "never" || (present && pull == "missing") {
            continue;
        }
        if svc.build.is_some() && !present && policy.no_build {
            bail!("service {name:?}: image {image} is not built and --no-build was given");
        }
        registry::ensure_image(ctx, &mut ctx.store()?, &image, pull, svc.platform.as_deref(), false)
            .map_err(|e| anyhow::anyhow!("service {name:?}: {}", crate::commands::error_text(&e)))?;
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Don't print anything to STDOUT
    #[arg(short, long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

fn report(result: Result<()>) -> Result<i32> {
    match result {
        Ok(()) => Ok(0),
        Err(e) if e.downcast_ref::<Reported>().is_some() => Ok(1),
        Err(e) => {
            eprintln!("Error: {}", crate::commands::error_text(&e));
            Ok(1)
        }
    }
}

pub fn build_cmd(ctx: &Context, global: &ComposeArgs, args: &BuildArgs) -> Result<i32> {
    let project = load(global)?;
    super::project::check_services(&project, &args.services)?;
    report((|| {
        for (name, svc) in &project.services {
            if svc.build.is_some() && (args.services.is_empty() || args.services.contains(name)) {
                build_service(ctx, &project, name, svc, args.no_cache, args.pull, args.quiet)?;
            }
        }
        Ok(())
    })())
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Pull without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Ignore images that can be built
    #[arg(long)]
    pub ignore_buildable: bool,
    pub services: Vec<String>,
}

pub fn pull_cmd(ctx: &Context, global: &ComposeArgs, args: &PullArgs) -> Result<i32> {
    let project = load(global)?;
    super::project::check_services(&project, &args.services)?;
    let mut failed = false;
    for (name, svc) in &project.services {
        if !args.services.is_empty() && !args.services.contains(name) {
            continue;
        }
        // Images only made by `build` are not pulled (Compose skips them too).
        if svc.image.is_none() || (args.ignore_buildable && svc.build.is_some()) {
            continue;
        }
        let image = labels::image_name(&project.name, name, svc);
        super::project::event("Image", &image, "Pulling");
        let pull = cli::PullArgs {
            all_tags: false,
            quiet: true,
            platform: svc.platform.clone(),
            tls_verify: true,
            name: image.clone(),
        };
        match registry::pull(ctx, pull)? {
            0 => super::project::event("Image", &image, "Pulled"),
            _ if args.ignore_pull_failures || svc.build.is_some() => super::project::event("Image", &image, "Skipped"),
            _ => failed = true,
        }
    }
    Ok(i32::from(failed))
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures
    #[arg(long)]
    pub ignore_push_failures: bool,
    /// Push without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

pub fn push_cmd(ctx: &Context, global: &ComposeArgs, args: &PushArgs) -> Result<i32> {
    let project = load(global)?;
    super::project::check_services(&project, &args.services)?;
    let mut failed = false;
    for (name, svc) in &project.services {
        if (!args.services.is_empty() && !args.services.contains(name)) || svc.build.is_none() && svc.image.is_none() {
            continue;
        }
        // Compose pushes the images of services that have both an image name and a build.
        let Some(image) = svc.image.clone().filter(|_| svc.build.is_some()) else { continue };
        super::project::event("Image", &image, "Pushing");
        let push = cli::PushArgs { all_tags: false, quiet: true, tls_verify: true, name: image.clone() };
        match registry::push(ctx, push)? {
            0 => super::project::event("Image", &image, "Pushed"),
            _ if args.ignore_push_failures => {}
            _ => failed = true,
        }
    }
    Ok(i32::from(failed))
}
