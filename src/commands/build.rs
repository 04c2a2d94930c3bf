//! `build`: parses the flags, prepares the context, prints the classic builder's log; the
//! engine (engine::build) does the work. RUN steps run in a container through the usual
//! per-container monitor, attached, so libcontainer stays in a single-threaded process.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use engine::build::{BuildError, BuildOptions, Event, StepRunner};
use engine::container::attach;
use engine::{monitor, Store};

use super::container::{launcher, read_report, spawn_monitor, ExitError};
use super::Context;
use crate::cli::BuildArgs;
use crate::printer;

/// Runs a RUN container attached, copying its output to ours (unless quiet).
struct Runner<'a> {
    ctx: &'a Context,
    quiet: bool,
}

impl Runner<'_> {
    fn attach(&mut self, id: &str) -> Result<i32> {
        let (child, mut report) = spawn_monitor(self.ctx, id, true)?;
        read_report(&mut report, "ready")?;
        let stream = super::container::connect_attached(&monitor::attach_socket(&self.ctx.runroot, id), &mut report)?;
        let mut reader = io::BufReader::new(stream);
        let mut code = None;
        // A monitor that fails before it takes the connection resets it: the pipe says why.
        while let Ok(Some((kind, data))) = attach::read_frame(&mut reader) {
            match kind {
                attach::STDOUT if !self.quiet => {
                    let mut out = io::stdout().lock();
                    let _ = out.write_all(&data);
                    let _ = out.flush();
                }
                attach::STDERR if !self.quiet => {
                    let _ = io::stderr().lock().write_all(&data);
                }
                attach::EXIT => {
                    code = Some(i32::from_be_bytes(
                        data.get(..4).and_then(|b| b.try_into().ok()).unwrap_or([0, 0, 0, 125]),
                    ));
                    break;
                }
                _ => {}
            }
        }
        // A command that could not start (127, 126) is reported on the pipe with its message.
        let started = read_report(&mut report, "started");
        // The monitor unmounts and exits right after: wait, so the container can be removed.
        child.wait();
        match (started, code) {
            (Err(e), _) => match e.downcast_ref::<ExitError>() {
                Some(x) => {
                    printer::err_line(&x.message);
                    Ok(x.code)
                }
                None => Err(e),
            },
            (Ok(()), Some(code)) => Ok(code),
            (Ok(()), None) => bail!("the container monitor went away during the RUN step"),
        }
    }
}

impl StepRunner for Runner<'_> {
    fn run(&mut self, _store: &mut Store, container: &str) -> Result<i32, engine::Error> {
        self.attach(container).map_err(|e| engine::Error::Invalid(super::error_text(&e)))
    }

    fn remove(&mut self, store: &mut Store, container: &str) -> Result<(), engine::Error> {
        store.remove_container(container, true, true, launcher(self.ctx).as_mut())
    }
}

fn key_value(s: &str, what: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("invalid {what} {s:?}: expected KEY=VALUE"),
    }
}

/// The images `FROM` lines name, without earlier stages (`AS name`), `scratch` and names made
/// of build args.
fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for line in dockerfile.lines() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
        let Some(image) = rest.first() else { continue };
        if *image != "scratch" && !image.contains('$') && !stages.iter().any(|s| s.eq_ignore_ascii_case(image)) {
            images.push(image.to_string());
        }
        if let [_, kw, name] = rest.as_slice() {
            if kw.eq_ignore_ascii_case("AS") {
                stages.push(name.to_string());
            }
        }
    }
    images
}

/// Whether bytes are a tar archive (possibly compressed), else a Dockerfile.
fn looks_like_tar(bytes: &[u8]) -> bool {
    let Ok((kind, mut r)) = engine::layer::decompress(io::BufReader::new(bytes)) else { return false };
    if kind != engine::layer::Compression::None {
        return true;
    }
    let mut head = vec![0u8; 512];
    r.read_exact(&mut head).is_ok() && &head[257..262] == b"ustar"
}

pub fn build(ctx: &Context, args: BuildArgs) -> Result<i32> {
    let mut build_args = Vec::new();
    for a in &args.build_args {
        match a.split_once('=') {
            Some((k, v)) => build_args.push((k.to_string(), v.to_string())),
            // `--build-arg K`: the value from our environment, if set (Docker's rule).
            None => {
                if let Ok(v) = std::env::var(a) {
                    build_args.push((a.clone(), v));
                }
            }
        }
    }
    // Bad tags are usage errors (125), found before anything is built.
    for t in &args.tags {
        engine::reference::Reference::parse_tagged(t)
            .map_err(|e| anyhow::anyhow!("invalid argument {t:?} for \"-t, --tag\" flag: {e}"))?;
    }
    let mut labels = std::collections::BTreeMap::new();
    for l in &args.labels {
        let (k, v) = key_value(l, "label")?;
        labels.insert(k, v);
    }
    if args.network.as_deref().is_some_and(|n| !matches!(n, "none" | "host" | "default" | "bridge")) {
        bail!("--network {}: build supports bridge (default), none and host", args.network.as_deref().unwrap_or(""));
    }
    let mut store = ctx.store()?;
    let mut dockerfile_text = match &args.file {
        Some(f) if f.as_os_str() == "-" => {
            let mut text = String::new();
            io::stdin().read_to_string(&mut text).context("reading the Dockerfile from STDIN")?;
            Some(text)
        }
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("Cannot locate specified Dockerfile: {}: {e}", f.display()))?,
        ),
        None => None,
    };
    // `-`: a tar context on stdin, or a Dockerfile with an empty context.
    let mut temp: Option<PathBuf> = None;
    let context = if args.context == "-" {
        let mut bytes = Vec::new();
        io::stdin().read_to_end(&mut bytes).context("reading the build context from STDIN")?;
        let dir = store.temp_dir("context")?;
        temp = Some(dir.clone());
        if looks_like_tar(&bytes) {
            engine::build::unpack_context(bytes.as_slice(), &dir)?;
        } else if dockerfile_text.is_none() {
            dockerfile_text = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        dir
    } else {
        PathBuf::from(&args.context)
    };
    if dockerfile_text.is_none() {
        if let Some(f) = &args.file {
            // A relative -f that is not found from here is looked for in the context, as Docker does.
            dockerfile_text = std::fs::read_to_string(context.join(f)).ok();
        }
    }
    // Base images come from a registry when missing, or always with --pull (the classic
    // builder's behaviour). Stage names, `scratch` and ARG-made names are left to the builder.
    let text = dockerfile_text.clone().or_else(|| std::fs::read_to_string(context.join("Dockerfile")).ok());
    for image in base_images(text.as_deref().unwrap_or_default()) {
        let policy = if args.pull { "always" } else { "missing" };
        let pulled =
            super::registry::ensure_image(ctx, &mut store, &image, policy, args.platform.as_deref(), args.quiet);
        if let Err(e) = pulled {
            // A name the store cannot resolve and no registry has: the builder says so by line.
            if args.pull {
                return Err(e);
            }
        }
    }
    let options = BuildOptions {
        context,
        dockerfile_text,
        tags: args.tags.clone(),
        build_args,
        target: args.target.clone(),
        labels,
        no_cache: args.no_cache,
        network: args.network.clone(),
        platform: args.platform.clone(),
    };
    let quiet = args.quiet;
    let mut runner = Runner { ctx, quiet };
    let mut progress = |e: Event| {
        if quiet {
            return;
        }
        match e {
            Event::Step { n, total, text } => printer::line(&format!("Step {n}/{total} : {text}")),
            Event::Triggers(n) => {
                printer::line(&format!("# Executing {n} build trigger{}", if n == 1 { "" } else { "s" }))
            }
            Event::Cached => printer::line(" ---> CACHED"),
            Event::Running(id) => printer::line(&format!(" ---> Running in {id}")),
            Event::Removed(id) => printer::line(&format!("Removing intermediate container {id}")),
            Event::Image(id) => printer::line(&format!(" ---> {}", id.short())),
            Event::Warning(w) => printer::line(&w),
        }
    };
    let result = engine::build::build(&mut store, &options, &mut runner, &mut progress);
    if let Some(dir) = temp {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
        Ok(id) => {
            if quiet {
                printer::line(id.as_str());
            } else {
                printer::line(&format!("Successfully built {}", id.short()));
                for t in &args.tags {
                    let shown =
                        engine::reference::Reference::parse_tagged(t).map(|r| r.familiar()).unwrap_or(t.clone());
                    printer::line(&format!("Successfully tagged {shown}"));
                }
            }
            Ok(0)
        }
        // Docker prints the failed command's status as is, and exits 1.
        Err(e @ BuildError::RunFailed { .. }) => {
            printer::err_line(&e.to_string());
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
