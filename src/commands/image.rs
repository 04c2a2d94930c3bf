//! Image commands: images, import, load, save, tag, rmi, image prune, inspect, history.

use std::fs::File;
use std::io::{self, IsTerminal, Read};

use anyhow::{bail, Context as _, Result};
use engine::archive::{self, Loaded};
use engine::images::{ImageSummary, Removal};
use engine::import::{self, ImportOptions};
use engine::reference::Reference;
use engine::{Digest, Store};
use serde_json::{json, Value};

use super::Context;
use crate::cli::{
    HistoryArgs, ImagePruneArgs, ImagesArgs, ImportArgs, InspectArgs, LoadArgs, RmiArgs, SaveArgs, TagArgs,
};
use crate::format::{self, human_since, human_size, parse_time, Format};
use crate::printer;

fn short_id(id: &Digest, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.short().to_string()
    }
}

fn image_header(field: &str) -> String {
    match field {
        "ID" => "IMAGE ID".into(),
        "CreatedSince" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "CreatedBy" => "CREATED BY".into(),
        other => other.to_uppercase(),
    }
}

/// A parsed `images` filter.
enum Filter {
    Dangling(bool),
    Label(String, Option<String>),
    Before(chrono::DateTime<chrono::Utc>),
    Since(chrono::DateTime<chrono::Utc>),
    Reference(String),
}

fn created_of(image: &ImageSummary) -> chrono::DateTime<chrono::Utc> {
    parse_time(&image.row.created).unwrap_or_default()
}

fn parse_filters(store: &Store, filters: &[String]) -> Result<Vec<Filter>> {
    filters
        .iter()
        .map(|f| {
            let (key, value) =
                f.split_once('=').with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
            let image_time = |v: &str| -> Result<_> {
                Ok(parse_time(&store.image_summary(&store.resolve_image(v)?)?.row.created).unwrap_or_default())
            };
            Ok(match key {
                "dangling" => match value {
                    "true" | "1" => Filter::Dangling(true),
                    "false" | "0" => Filter::Dangling(false),
                    _ => bail!("invalid filter 'dangling={value}'"),
                },
                "label" => match value.split_once('=') {
                    Some((k, v)) => Filter::Label(k.into(), Some(v.into())),
                    None => Filter::Label(value.into(), None),
                },
                "before" => Filter::Before(image_time(value)?),
                "since" => Filter::Since(image_time(value)?),
                "reference" => Filter::Reference(value.into()),
                _ => bail!("invalid filter '{key}'"),
            })
        })
        .collect()
}

/// Shell-style glob with `*` and `?`, as `reference=` filters use.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && t[0] != '/' && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(&p, &t)
}

fn matches_image(image: &ImageSummary, filters: &[Filter]) -> bool {
    filters.iter().all(|f| match f {
        Filter::Dangling(d) => image.tags.is_empty() == *d,
        Filter::Label(k, v) => {
            image.config.config.labels.get(k).is_some_and(|have| v.as_ref().is_none_or(|v| v == have))
        }
        Filter::Before(t) => created_of(image) < *t,
        Filter::Since(t) => created_of(image) > *t,
        Filter::Reference(pattern) => image.tags.iter().any(|name| {
            let familiar = engine::images::familiar(name);
            let repo = familiar.rsplit_once(':').map_or(familiar.as_str(), |(r, _)| r);
            glob(pattern, &familiar) || glob(pattern, repo)
        }),
    })
}

pub fn images(ctx: &Context, args: ImagesArgs) -> Result<i32> {
    let store = ctx.store()?;
    let mut filters = parse_filters(&store, &args.filters)?;
    // `images busybox` / `images busybox:1.36`: the positional filter is a reference filter.
    if let Some(r) = &args.reference {
        filters.push(Filter::Reference(r.clone()));
    }
    let mut list = store.list_images()?;
    // Docker's rule: an untagged image that a build step built on is intermediate, hidden without -a.
    if !args.all {
        let intermediate = engine::build::intermediate_images(&store);
        list.retain(|i| !i.tags.is_empty() || !intermediate.contains(&i.row.id));
    }
    list.sort_by_key(|i| std::cmp::Reverse(created_of(i)));
    let mut items = Vec::new();
    for image in list.iter().filter(|i| matches_image(i, &filters)) {
        let mut rows: Vec<(String, String)> =
            image.tags.iter().map(|t| engine::reference::split_stored_tag(t)).collect();
        if let Some(wanted) = args
            .reference
            .as_deref()
            .and_then(|r| Reference::parse(r).ok())
            .and_then(|r| r.tag.clone().map(|t| (r.familiar_repository(), t)))
        {
            rows.retain(|row| *row == wanted);
        }
        if rows.is_empty() {
            rows.push(("<none>".into(), "<none>".into()));
        }
        let created = created_of(image);
        for (repository, tag) in rows {
            let digest = image
                .repo_digests
                .iter()
                .filter_map(|d| Reference::parse(d).ok())
                .find(|r| r.familiar_repository() == repository)
                .and_then(|r| r.digest)
                .map_or("<none>".to_string(), |d| d.to_string());
            items.push(json!({
                "Containers": "N/A",
                "CreatedAt": created.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
                "CreatedSince": human_since(created),
                "Digest": digest,
                "ID": short_id(&image.row.id, args.no_trunc),
                "Repository": repository,
                "SharedSize": "N/A",
                "Size": human_size(image.row.size),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(image.row.size),
            }));
        }
    }
    if args.quiet {
        for item in &items {
            printer::line(item["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    let default = if args.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let text = format::render(&Format::parse(args.format.as_deref()), &items, default, &image_header)
        .map_err(anyhow::Error::msg)?;
    printer::out(&text);
    Ok(0)
}

/// Opens a file argument, or stdin for `-` / none; refuses to read an archive from a terminal.
fn open_input(path: Option<&std::path::Path>, what: &str) -> Result<Box<dyn Read>> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            Ok(Box::new(File::open(p).with_context(|| format!("open {}", p.display()))?))
        }
        _ => {
            if io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            let _ = what;
            Ok(Box::new(io::stdin().lock()))
        }
    }
}

pub fn import(ctx: &Context, args: ImportArgs) -> Result<i32> {
    if args.source.starts_with("http://") || args.source.starts_with("https://") {
        bail!("importing from a URL is not supported yet: download it and import the file");
    }
    let input = open_input(Some(std::path::Path::new(&args.source)), "import")?;
    let mut store = ctx.store()?;
    let options = ImportOptions {
        changes: args.changes,
        message: args.message,
        source_name: args.source.clone(),
        reference: args.reference,
    };
    let id = import::import(&mut store, input, &options)?;
    printer::line(id.as_str());
    Ok(0)
}

pub fn load(ctx: &Context, args: LoadArgs) -> Result<i32> {
    let input = open_input(args.input.as_deref(), "load")?;
    let mut store = ctx.store()?;
    let loaded = archive::load(&mut store, input)?;
    if !args.quiet {
        for item in loaded {
            match item {
                Loaded::Named { name, replaced } => {
                    let name = engine::images::familiar(&name);
                    if let Some(old) = replaced {
                        printer::line(&format!(
                            "The image {name} already exists, renaming the old one with ID {old} to empty string"
                        ));
                    }
                    printer::line(&format!("Loaded image: {name}"));
                }
                Loaded::Unnamed(id) => printer::line(&format!("Loaded image ID: {id}")),
            }
        }
    }
    Ok(0)
}

pub fn save(ctx: &Context, args: SaveArgs) -> Result<i32> {
    let store = ctx.store()?;
    match &args.output {
        Some(path) if path.as_os_str() != "-" => {
            // Write beside the target and rename, so a failed save leaves no half archive.
            let tmp = path.with_file_name(format!(
                ".{}.berth-tmp",
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ));
            let file = File::create(&tmp)
                .with_context(|| format!("failed to save image: unable to create {}", tmp.display()))?;
            let result = archive::save(&store, &args.images, io::BufWriter::with_capacity(256 * 1024, file));
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
            std::fs::rename(&tmp, path).with_context(|| format!("failed to save image: {}", path.display()))?;
        }
        _ => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            archive::save(&store, &args.images, io::BufWriter::with_capacity(256 * 1024, io::stdout().lock()))?;
        }
    }
    Ok(0)
}

pub fn tag(ctx: &Context, args: TagArgs) -> Result<i32> {
    let mut store = ctx.store()?;
    store.tag_image(&args.source, &args.target)?;
    Ok(0)
}

fn print_removals(removals: &[Removal]) {
    for r in removals {
        match r {
            Removal::Untagged(name) => printer::line(&format!("Untagged: {name}")),
            Removal::Deleted(id) => printer::line(&format!("Deleted: {id}")),
        }
    }
}

pub fn rmi(ctx: &Context, args: RmiArgs) -> Result<i32> {
    let mut store = ctx.store()?;
    let mut failed = false;
    for name in &args.images {
        // A built image's untagged intermediate images go with it, as in Docker.
        let removed = store.remove_image(name, args.force).and_then(|mut removals| {
            let deleted: Vec<_> = removals
                .iter()
                .filter_map(|r| match r {
                    engine::images::Removal::Deleted(d) => Some(d.clone()),
                    _ => None,
                })
                .collect();
            for d in deleted {
                removals.extend(engine::build::remove_intermediates(&mut store, &d)?);
            }
            Ok(removals)
        });
        match removed {
            Ok(removals) => print_removals(&removals),
            Err(e) => {
                printer::err_line(&format!("Error: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed { super::EXIT_BERTH } else { 0 })
}

pub fn prune(ctx: &Context, args: ImagePruneArgs) -> Result<i32> {
    if !args.force
        && !confirm(if args.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        })?
    {
        return Ok(0);
    }
    let mut store = ctx.store()?;
    let filters = parse_filters(&store, &args.filters)?;
    // Intermediate build images are not dangling (Docker's rule): they are the build cache.
    let intermediate = if args.all { Default::default() } else { engine::build::intermediate_images(&store) };
    let (removals, reclaimed) = store
        .prune_images(args.all, &|image| !matches_image(image, &filters) || intermediate.contains(&image.row.id))?;
    if !removals.is_empty() {
        printer::line("Deleted Images:");
        print_removals(&removals);
        printer::line("");
    }
    printer::line(&format!("Total reclaimed space: {}", human_size(reclaimed)));
    Ok(0)
}

/// Asks `y/N` on the terminal, as Docker's prune commands do without `-f`.
pub(crate) fn confirm(warning: &str) -> Result<bool> {
    printer::out(&format!("{warning}\nAre you sure you want to continue? [y/N] "));
    let mut answer = String::new();
    io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The Docker-shaped `inspect` object of an image.
fn image_json(store: &Store, image: &ImageSummary) -> Result<Value> {
    let c = &image.config.config;
    let null_if_empty = |v: Value| {
        if v.as_object().is_some_and(|m| m.is_empty()) {
            Value::Null
        } else {
            v
        }
    };
    let mut config = json!({
        "Hostname": "", "Domainname": "", "User": c.user,
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "ExposedPorts": null_if_empty(json!(c.exposed_ports)),
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": if c.env.is_empty() { Value::Null } else { json!(c.env) },
        "Cmd": c.cmd, "Healthcheck": c.healthcheck, "Image": "",
        "Volumes": null_if_empty(json!(c.volumes)), "WorkingDir": c.working_dir,
        "Entrypoint": c.entrypoint, "OnBuild": if c.on_build.is_empty() { Value::Null } else { json!(c.on_build) },
        "Labels": null_if_empty(json!(c.labels)),
    });
    if !c.stop_signal.is_empty() {
        config["StopSignal"] = json!(c.stop_signal);
    }
    if let Some(shell) = &c.shell {
        config["Shell"] = json!(shell);
    }
    if c.healthcheck.is_none() {
        config.as_object_mut().expect("object").shift_remove("Healthcheck");
    }
    let layers = store.db.image_layers(&image.row.id)?;
    let dirs: Vec<String> =
        layers.iter().rev().map(|l| store.layer_dir(l).join("diff").display().to_string()).collect();
    Ok(json!({
        "Id": image.row.id,
        "RepoTags": image.tags.iter().map(|t| engine::images::familiar(t)).collect::<Vec<_>>(),
        "RepoDigests": image.repo_digests.iter().map(|t| engine::images::familiar(t)).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": image.config.other.get("comment").cloned().unwrap_or(json!("")),
        "Created": image.row.created,
        "DockerVersion": "",
        "Author": image.config.author.clone().unwrap_or_default(),
        "Config": config,
        "Architecture": image.config.architecture,
        "Variant": image.config.variant,
        "Os": image.config.os,
        "Size": image.row.size,
        "VirtualSize": image.row.size,
        "GraphDriver": { "Data": { "LowerDir": dirs.join(":") }, "Name": "overlay" },
        "RootFS": { "Type": image.config.rootfs.kind, "Layers": image.config.rootfs.diff_ids },
        "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
    }))
}

/// What `inspect` looks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum InspectKind {
    Any,
    Image,
    Container,
}

pub fn inspect(ctx: &Context, args: InspectArgs, kind: InspectKind) -> Result<i32> {
    let kind = match (kind, args.kind.as_deref()) {
        (InspectKind::Any, None) => InspectKind::Any,
        (InspectKind::Any, Some("image")) => InspectKind::Image,
        (InspectKind::Any, Some("container")) => InspectKind::Container,
        (InspectKind::Any, Some(other)) => bail!("\"{other}\" is not a valid value for --type"),
        (k, _) => k,
    };
    let store = ctx.store()?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        // Docker looks for a container first, then an image.
        if kind != InspectKind::Image {
            if let Ok(id) = store.resolve_container(name) {
                found.push(super::container::container_json(&store, &id)?);
                continue;
            }
        }
        if kind != InspectKind::Container {
            match store.resolve_image(name) {
                Ok(id) => {
                    found.push(image_json(&store, &store.image_summary(&id)?)?);
                    continue;
                }
                Err(engine::Error::NoSuchImage(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        missing.push(name.clone());
    }
    match args.format.as_deref() {
        None | Some("json") => printer::line(&serde_json::to_string_pretty(&Value::Array(found)).unwrap_or_default()),
        Some(f) => {
            let template = f.replace("\\t", "\t").replace("\\n", "\n");
            for item in &found {
                printer::line(&format::execute(&template, item).map_err(anyhow::Error::msg)?);
            }
        }
    }
    for name in &missing {
        let what = match kind {
            InspectKind::Any => "object",
            InspectKind::Image => "image",
            InspectKind::Container => "container",
        };
        printer::err_line(&format!("Error: No such {what}: {name}"));
    }
    // Docker's inspect exits 1 (not 125) when a name is unknown.
    Ok(if missing.is_empty() { 0 } else { 1 })
}

pub fn history(ctx: &Context, args: HistoryArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_image(&args.image)?;
    let image = store.image_summary(&id)?;
    let layer_sizes: Vec<u64> =
        store.db.image_layers(&id)?.iter().map(|c| store.db.layer(c).ok().flatten().map_or(0, |l| l.size)).collect();
    // Pair each non-empty history entry with its layer, bottom up.
    let mut next_layer = 0;
    let mut items: Vec<Value> = Vec::new();
    for entry in &image.config.history {
        let size = if entry.empty_layer {
            0
        } else {
            next_layer += 1;
            layer_sizes.get(next_layer - 1).copied().unwrap_or(0)
        };
        let created = entry.created.as_deref().and_then(parse_time).unwrap_or_default();
        let created_by = entry.created_by.clone().unwrap_or_default().replace('\t', " ");
        let shown_by = if args.no_trunc || created_by.chars().count() <= 45 {
            created_by.clone()
        } else {
            created_by.chars().take(44).collect::<String>() + "…"
        };
        items.push(json!({
            "ID": "<missing>",
            "CreatedAt": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "CreatedSince": if args.human { human_since(created) } else { created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) },
            "CreatedBy": shown_by,
            "Size": if args.human { human_size(size) } else { size.to_string() },
            "Comment": entry.comment.clone().unwrap_or_default(),
        }));
    }
    items.reverse();
    if let Some(top) = items.first_mut() {
        top["ID"] = json!(short_id(&id, args.no_trunc));
    }
    if args.quiet {
        for item in &items {
            printer::line(item["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    let default = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    let header = |f: &str| {
        if f == "ID" {
            "IMAGE".to_string()
        } else {
            image_header(f)
        }
    };
    printer::out(
        &format::render(&Format::parse(args.format.as_deref()), &items, default, &header)
            .map_err(anyhow::Error::msg)?,
    );
    Ok(0)
}
