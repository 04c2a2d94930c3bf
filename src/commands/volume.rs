//! volume create, ls, inspect, rm, prune.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _, Result};
use engine::volumes::Volume;
use engine::Store;
use serde_json::{json, Value};

use super::{Context, EXIT_BERTH};
use crate::cli::{VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs};
use crate::format::{self, Format};
use crate::printer;

fn labels_of(list: &[String]) -> BTreeMap<String, String> {
    list.iter().map(|l| l.split_once('=').map_or((l.clone(), String::new()), |(k, v)| (k.into(), v.into()))).collect()
}

fn volume_json(store: &Store, v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created,
        "Driver": "local",
        "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
        "Mountpoint": store.volume_data(&v.name),
        "Name": v.name,
        "Options": null,
        "Scope": "local",
    })
}

pub fn create(ctx: &Context, args: VolumeCreateArgs) -> Result<i32> {
    if args.driver != "local" {
        bail!(
            "create {}: error looking up volume plugin {}: plugin not found",
            args.name.as_deref().unwrap_or(""),
            args.driver
        );
    }
    if let Some(opt) = args.opts.first() {
        bail!("create: volume driver options are not supported: {opt}");
    }
    let mut store = ctx.store()?;
    let volume = store.create_volume(args.name.as_deref(), &labels_of(&args.labels))?;
    printer::line(&volume.name);
    Ok(0)
}

/// A volume is dangling when no container uses it.
fn matches(store: &Store, v: &Volume, filters: &[(String, String)]) -> Result<bool> {
    for (k, val) in filters {
        let ok = match k.as_str() {
            "dangling" => store.volume_users(&v.name)?.is_empty() == matches!(val.as_str(), "true" | "1"),
            "name" => v.name.contains(val.as_str()),
            "label" => match val.split_once('=') {
                Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                None => v.labels.contains_key(val),
            },
            "driver" => val == "local",
            _ => bail!("invalid filter '{k}'"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_filters(filters: &[String]) -> Result<Vec<(String, String)>> {
    filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("bad format of filter (expected name=value): {f}"))
        })
        .collect()
}

pub fn ls(ctx: &Context, args: VolumeLsArgs) -> Result<i32> {
    let store = ctx.store()?;
    let filters = parse_filters(&args.filters)?;
    let mut items = Vec::new();
    for v in store.volumes()? {
        if matches(&store, &v, &filters)? {
            let labels = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            items.push(json!({"Driver": "local", "Labels": labels, "Mountpoint": store.volume_data(&v.name), "Name": v.name, "Scope": "local", "Links": "N/A", "Size": "N/A"}));
        }
    }
    if args.quiet {
        for item in &items {
            printer::line(item["Name"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    let header = |f: &str| if f == "Name" { "VOLUME NAME".to_string() } else { f.to_uppercase() };
    printer::out(
        &format::render(&Format::parse(args.format.as_deref()), &items, "{{.Driver}}\t{{.Name}}", &header)
            .map_err(anyhow::Error::msg)?,
    );
    Ok(0)
}

pub fn inspect(ctx: &Context, args: VolumeInspectArgs) -> Result<i32> {
    let store = ctx.store()?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match store.volume(name)? {
            Some(v) => found.push(volume_json(&store, &v)),
            None => {
                printer::err_line(&format!("Error response from daemon: get {name}: no such volume"));
                failed = true;
            }
        }
    }
    format::print_inspect(found, args.format.as_deref(), failed)
}

pub fn rm(ctx: &Context, args: VolumeRmArgs) -> Result<i32> {
    let mut store = ctx.store()?;
    let mut failed = false;
    for name in &args.names {
        match store.remove_volume(name, args.force) {
            Ok(()) => printer::line(name),
            Err(e) => {
                printer::err_line(&format!("Error response from daemon: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed { EXIT_BERTH } else { 0 })
}

pub fn prune(ctx: &Context, args: VolumePruneArgs) -> Result<i32> {
    let warning = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !super::image::confirm(warning)? {
        return Ok(0);
    }
    let mut store = ctx.store()?;
    let filters = parse_filters(&args.filters)?;
    let mut removed = Vec::new();
    for v in store.volumes()? {
        if (v.anonymous || args.all) && store.volume_users(&v.name)?.is_empty() && matches(&store, &v, &filters)? {
            store.remove_volume(&v.name, true)?;
            removed.push(v.name);
        }
    }
    if !removed.is_empty() {
        printer::line("Deleted Volumes:");
        for name in &removed {
            printer::line(name);
        }
        printer::line("");
    }
    printer::line("Total reclaimed space: 0B");
    Ok(0)
}
