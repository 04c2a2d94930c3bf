//! Registry commands: pull, push, login, logout, search; and the pull that `run` and `create`
//! do for a missing image. Flags and printing only: the work is in `engine::registry`.
//! Pull and push failures exit 1, as docker's do.

use std::io::{self, BufRead, IsTerminal, Read, Write};

use anyhow::{bail, Result};
use engine::reference::Reference;
use engine::registry::credentials::{normalize_server, Credential, DockerConfig};
use engine::registry::progress::{Event, LayerStatus, Progress};
use engine::registry::pull::parse_platform;
use engine::registry::{self as reg, endpoints, RegistryError, RegistryOptions, HUB_AUTH_KEY};

use super::Context;
use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, SearchArgs};
use crate::printer;

/// Exit status of a failed pull or push (docker's).
const EXIT_FAILED: i32 = 1;

pub fn options(ctx: &Context, tls_verify: bool) -> RegistryOptions {
    RegistryOptions {
        mirrors: ctx.config.registry_mirrors.clone(),
        insecure: ctx.config.insecure_registries.clone(),
        tls_verify,
        max_concurrent: ctx.config.max_concurrent_downloads.unwrap_or(3).max(1),
        max_concurrent_uploads: ctx.config.max_concurrent_uploads.unwrap_or(5).max(1),
        // Docker's /etc/docker/certs.d, unless BERTH_CERTS_D points elsewhere (the tests' own
        // CAs, without touching the host's configuration).
        certs_dir: std::env::var_os("BERTH_CERTS_D")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| RegistryOptions::default().certs_dir),
        ..RegistryOptions::default()
    }
}

/// Shows progress as docker does: on a terminal one line per layer, rewritten in place with a
/// bar; otherwise a plain line per change of state (no byte counts); with `-q` nothing.
pub struct Renderer {
    out: Box<dyn Write>,
    tty: bool,
    quiet: bool,
    /// Layer lines printed since the last plain line, in order.
    layers: Vec<String>,
}

impl Renderer {
    pub fn new(to_stderr: bool, quiet: bool) -> Renderer {
        let (out, tty): (Box<dyn Write>, bool) = if to_stderr {
            (Box::new(io::stderr()), io::stderr().is_terminal())
        } else {
            (Box::new(io::stdout()), io::stdout().is_terminal())
        };
        Renderer { out, tty, quiet, layers: Vec::new() }
    }

    fn layer_text(&self, id: &str, status: &LayerStatus) -> String {
        match status {
            LayerStatus::Downloading(done, total) | LayerStatus::Pushing(done, total) if *total > 0 => {
                let width = 50;
                let filled = ((*done as f64 / *total as f64) * width as f64) as usize;
                let filled = filled.min(width);
                let bar = if filled < width {
                    format!("{}>{}", "=".repeat(filled.saturating_sub(1)), " ".repeat(width - filled.max(1)))
                } else {
                    "=".repeat(width)
                };
                let verb = if matches!(status, LayerStatus::Pushing(..)) { "Pushing" } else { "Downloading" };
                format!(
                    "{id}: {verb} [{bar}]  {}/{}",
                    engine::registry::progress::human(*done),
                    engine::registry::progress::human(*total)
                )
            }
            _ => format!("{id}: {status}"),
        }
    }
}

impl Progress for Renderer {
    fn event(&mut self, event: Event) {
        match event {
            Event::Warning(w) => {
                printer::err_line(&format!("WARNING: {w}"));
            }
            _ if self.quiet => {}
            Event::Line(line) => {
                self.layers.clear();
                let _ = writeln!(self.out, "{line}");
            }
            Event::Layer { id, status } => {
                if !self.tty {
                    if !status.is_progress() {
                        let _ = writeln!(self.out, "{id}: {status}");
                    }
                    return;
                }
                let text = self.layer_text(&id, &status);
                match self.layers.iter().position(|l| *l == id) {
                    Some(k) => {
                        let up = self.layers.len() - k;
                        let _ = write!(self.out, "\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r");
                    }
                    None => {
                        self.layers.push(id);
                        let _ = writeln!(self.out, "{text}");
                    }
                }
            }
        }
        let _ = self.out.flush();
    }
}

fn fail(err: impl Into<anyhow::Error>) -> i32 {
    printer::err_line(&format!("Error: {}", super::error_text(&err.into())));
    EXIT_FAILED
}

pub fn pull(ctx: &Context, args: PullArgs) -> Result<i32> {
    let options = options(ctx, args.tls_verify);
    let reference = match Reference::parse(&args.name) {
        Ok(r) => r,
        Err(e) => return Ok(fail(e)),
    };
    let platform = match args.platform.as_deref().map(parse_platform).transpose() {
        Ok(p) => p,
        Err(e) => return Ok(fail(e)),
    };
    let mut renderer = Renderer::new(false, args.quiet);
    let references: Vec<Reference> = if args.all_tags {
        if reference.tag.is_some() || reference.digest.is_some() {
            return Ok(fail(anyhow::anyhow!("tag can't be used with --all-tags/-a")));
        }
        match reg::pull::list_tags(&options, &reference) {
            Ok(tags) => tags.into_iter().map(|t| Reference { tag: Some(t), ..reference.clone() }).collect(),
            Err(e) => return Ok(fail(e)),
        }
    } else if reference.tag.is_none() && reference.digest.is_none() {
        renderer.event(Event::Line("Using default tag: latest".into()));
        vec![Reference { tag: Some("latest".into()), ..reference.clone() }]
    } else {
        vec![reference.clone()]
    };
    let mut store = ctx.store()?;
    for r in &references {
        if let Err(e) = reg::pull::pull(&mut store, &options, r, platform.as_ref(), &mut renderer) {
            return Ok(fail(e));
        }
    }
    // docker prints the canonical reference last (and only it with -q).
    printer::line(&if args.all_tags { reference.repository() } else { references[0].to_string() });
    Ok(0)
}

/// `run`/`create`: pulls `image` when `--pull` says so (`missing`: only when it is not in the
/// store). Runs before any container work; the pull's threads are joined when it returns.
pub fn ensure_image(
    ctx: &Context,
    store: &mut engine::store::Store,
    image: &str,
    policy: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<()> {
    let present = store.resolve_image(image).is_ok();
    let pull = match policy {
        "always" => true,
        "missing" => !present,
        "never" => false,
        other => bail!("invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""),
    };
    if !pull {
        return Ok(());
    }
    let Ok(reference) = Reference::parse_tagged(image) else {
        // An image ID or something else that is not a name: nothing to pull.
        return Ok(());
    };
    if !present {
        printer::err_line(&format!("Unable to find image '{}' locally", reference.familiar()));
    }
    let platform = platform.map(parse_platform).transpose()?;
    let options = options(ctx, true);
    let mut renderer = Renderer::new(true, quiet);
    reg::pull::pull(store, &options, &reference, platform.as_ref(), &mut renderer)?;
    Ok(())
}

pub fn push(ctx: &Context, args: PushArgs) -> Result<i32> {
    let options = options(ctx, args.tls_verify);
    let reference = match Reference::parse(&args.name) {
        Ok(r) if r.digest.is_some() => return Ok(fail(anyhow::anyhow!("cannot push a digest reference"))),
        Ok(r) => r,
        Err(e) => return Ok(fail(e)),
    };
    let mut store = ctx.store()?;
    let references: Vec<Reference> = if args.all_tags {
        if reference.tag.is_some() {
            return Ok(fail(anyhow::anyhow!("tag can't be used with --all-tags/-a")));
        }
        let prefix = format!("{}:", reference.repository());
        let tags: Vec<Reference> = store
            .db
            .tags()?
            .into_iter()
            .filter(|(t, _)| t.starts_with(&prefix))
            .filter_map(|(t, _)| Reference::parse(&t).ok())
            .collect();
        if tags.is_empty() {
            return Ok(fail(anyhow::anyhow!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_repository()
            )));
        }
        tags
    } else {
        vec![Reference { tag: Some(reference.tag.clone().unwrap_or_else(|| "latest".into())), ..reference.clone() }]
    };
    let mut renderer = Renderer::new(false, args.quiet);
    for r in &references {
        if let Err(e) = reg::push::push(&mut store, &options, r, &mut renderer) {
            return Ok(fail(e));
        }
    }
    if args.quiet {
        printer::line(&if args.all_tags { reference.familiar_repository() } else { references[0].familiar() });
    }
    Ok(0)
}

/// Reads a line from the terminal, without echo for a password.
fn prompt(label: &str, secret: bool) -> Result<String> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        bail!("Cannot perform an interactive login from a non TTY device");
    }
    eprint!("{label}");
    let _ = io::stderr().flush();
    let saved = if secret {
        rustix::termios::tcgetattr(&stdin).ok().inspect(|t| {
            let mut quiet = t.clone();
            quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
            let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
        })
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &t);
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn login(ctx: &Context, args: LoginArgs) -> Result<i32> {
    let options = options(ctx, args.tls_verify);
    let key = normalize_server(args.server.as_deref().unwrap_or(HUB_AUTH_KEY));
    if args.password.is_some() && args.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if args.password_stdin && args.username.is_none() {
        bail!("Must provide --username with --password-stdin");
    }
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ", false)?,
    };
    let password = if let Some(p) = args.password {
        printer::err_line("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if args.password_stdin {
        let mut s = String::new();
        io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else {
        prompt("Password: ", true)?
    };
    if username.is_empty() || password.is_empty() {
        bail!("Username and password are required");
    }
    let credential = Credential { username, secret: password };
    let domain = if key == HUB_AUTH_KEY { engine::reference::DEFAULT_DOMAIN.to_string() } else { key.clone() };
    let all = endpoints(&domain, &options, false);
    let mut result: Result<(), RegistryError> = Err(RegistryError::Protocol(format!("no endpoint for {key}")));
    for (i, endpoint) in all.iter().enumerate() {
        let client =
            engine::registry::transport::Client::new(endpoint.clone(), &options, Some(credential.clone()), Vec::new());
        result = client.ping();
        match &result {
            Err(RegistryError::Unreachable { .. }) if i + 1 < all.len() => {}
            _ => break,
        }
    }
    if let Err(e) = result {
        return Ok(fail(e));
    }
    let mut config = DockerConfig::load(&options.docker_config)?;
    if let Some(path) = config.store(&key, &credential)? {
        printer::err_line(&format!(
            "WARNING! Your password will be stored unencrypted in {}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/engine/reference/commandline/login/#credential-stores\n",
            path.display()
        ));
    }
    printer::line("Login Succeeded");
    Ok(0)
}

pub fn logout(_ctx: &Context, args: LogoutArgs) -> Result<i32> {
    let key = normalize_server(args.server.as_deref().unwrap_or(HUB_AUTH_KEY));
    let mut config = DockerConfig::load(&engine::registry::credentials::default_dir())?;
    if config.erase(&key)? {
        printer::line(&format!("Removing login credentials for {key}"));
    } else {
        printer::line(&format!("Not logged in to {key}"));
    }
    Ok(0)
}

pub fn search(ctx: &Context, args: SearchArgs) -> Result<i32> {
    let options = options(ctx, args.tls_verify);
    let (registry, term) = match args.term.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => (engine::reference::DEFAULT_DOMAIN.to_string(), args.term.clone()),
    };
    let mut official: Option<bool> = None;
    let mut min_stars = 0u64;
    for f in &args.filters {
        match f.split_once('=') {
            Some(("is-official", v)) => {
                official = Some(v.parse().map_err(|_| anyhow::anyhow!("invalid filter '{f}'"))?)
            }
            Some(("stars", v)) => min_stars = v.parse().map_err(|_| anyhow::anyhow!("invalid filter '{f}'"))?,
            Some(("is-automated", _)) => {}
            _ => bail!("invalid filter '{f}'"),
        }
    }
    if args.limit == 0 || args.limit > 100 {
        bail!("limit {} is outside the range of [1, 100]", args.limit);
    }
    let results = match reg::search::search(&options, &registry, &term, 100) {
        Ok(r) => r,
        Err(e) => return Ok(fail(e)),
    };
    let mut rows = vec![vec!["NAME".to_string(), "DESCRIPTION".into(), "STARS".into(), "OFFICIAL".into()]];
    for r in
        results.iter().filter(|r| official.is_none_or(|o| r.official == o) && r.stars >= min_stars).take(args.limit)
    {
        let mut description = r.description.replace(['\n', '\r'], " ");
        if !args.no_trunc && description.chars().count() > 45 {
            description = description.chars().take(44).collect::<String>() + "…";
        }
        rows.push(vec![
            r.name.clone(),
            description,
            r.stars.to_string(),
            if r.official { "[OK]".into() } else { String::new() },
        ]);
    }
    printer::out(&printer::table(&rows));
    Ok(0)
}
