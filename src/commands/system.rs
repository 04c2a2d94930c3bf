//! version, info, system check/df/prune.

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::Context;
use crate::cli::{FormatArgs, SystemCheckArgs, SystemDfArgs, SystemPruneArgs};
use crate::format::{self, human_size, Format};
use crate::printer;

fn os_arch() -> String {
    format!("linux/{}", engine::oci::host_platform().architecture)
}

pub fn version(_ctx: &Context, args: FormatArgs) -> Result<i32> {
    let v = env!("CARGO_PKG_VERSION");
    let data = json!({
        "Client": { "Version": v, "ApiVersion": "1.41", "Os": "linux", "Arch": engine::oci::host_platform().architecture, "Platform": { "Name": "berth" } },
        "Server": { "Version": v, "ApiVersion": "1.41", "Os": "linux", "Arch": engine::oci::host_platform().architecture, "Platform": { "Name": "berth (daemonless)" } },
    });
    if let Some(f) = &args.format {
        return print_template(f, &data);
    }
    printer::out(&format!(
        "Client: berth\n Version:           {v}\n API version:       1.41 (Docker-compatible commands)\n OS/Arch:           {oa}\n\nEngine: berth (daemonless, embedded in the client)\n Version:           {v}\n Runtime:           libcontainer\n OS/Arch:           {oa}\n",
        oa = os_arch()
    ));
    Ok(0)
}

fn print_template(f: &str, data: &Value) -> Result<i32> {
    if f == "json" {
        printer::line(&data.to_string());
    } else {
        printer::line(
            &format::execute(&f.replace("\\n", "\n").replace("\\t", "\t"), data).map_err(anyhow::Error::msg)?,
        );
    }
    Ok(0)
}

/// The cgroup layout: v2 (unified), v1, or v1 with an empty cgroup2 beside it (hybrid).
fn cgroup_layout() -> (&'static str, &'static str) {
    let base = std::path::Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        ("2", "unified")
    } else if base.join("unified").exists() {
        ("1", "hybrid")
    } else {
        ("1", "legacy")
    }
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "Linux".into())
}

fn kernel() -> String {
    rustix_uname()
}

fn rustix_uname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default()
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

pub fn info(ctx: &Context, args: FormatArgs) -> Result<i32> {
    let store = ctx.store()?;
    let images = store.db.images()?.len();
    let (cgroup_version, cgroup_layout) = cgroup_layout();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = mem_total();
    let data = json!({
        "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0, "ContainersStopped": 0,
        "Images": images,
        "Driver": "overlay",
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "CgroupLayout": cgroup_layout,
        "KernelVersion": kernel(),
        "OperatingSystem": os_name(),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": cpus,
        "MemTotal": mem,
        "Name": hostname(),
        "DockerRootDir": ctx.root.display().to_string(),
        "RunRoot": ctx.runroot.display().to_string(),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {},
            "Mirrors": ctx.config.registry_mirrors,
            "InsecureRegistries": ctx.config.insecure_registries,
        },
    });
    if let Some(f) = &args.format {
        return print_template(f, &data);
    }
    let mut out = String::new();
    out.push_str("Client:\n Version:    ");
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push_str("\n Context:    default\n Debug Mode: false\n\nServer:\n");
    out.push_str(&format!(" Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n Images: {images}\n"));
    out.push_str(&format!(" Server Version: {} (daemonless)\n Storage Driver: overlay\n Logging Driver: json-file\n Cgroup Driver: cgroupfs\n Cgroup Version: {cgroup_version} ({cgroup_layout})\n", env!("CARGO_PKG_VERSION")));
    out.push_str(&format!(" Runtimes: libcontainer\n Default Runtime: libcontainer\n Kernel Version: {}\n Operating System: {}\n OSType: linux\n Architecture: {}\n", kernel(), os_name(), std::env::consts::ARCH));
    out.push_str(&format!(
        " CPUs: {cpus}\n Total Memory: {:.2}GiB\n Name: {}\n",
        mem as f64 / (1u64 << 30) as f64,
        hostname()
    ));
    out.push_str(&format!(" Berth Root Dir: {}\n Berth Run Root: {}\n", ctx.root.display(), ctx.runroot.display()));
    out.push_str(&format!(
        " Engine Config: {}\n",
        ctx.config_path.as_ref().map_or(engine::config::DEFAULT_CONFIG.to_string(), |p| p.display().to_string())
    ));
    out.push_str(" Insecure Registries:\n");
    for r in ctx.config.insecure_registries.iter().map(String::as_str).chain(["127.0.0.0/8"]) {
        out.push_str(&format!("  {r}\n"));
    }
    if !ctx.config.registry_mirrors.is_empty() {
        out.push_str(" Registry Mirrors:\n");
        for m in &ctx.config.registry_mirrors {
            out.push_str(&format!("  {m}\n"));
        }
    }
    out.push_str(" Live Restore Enabled: false\n");
    printer::out(&out);
    Ok(0)
}

pub fn check(ctx: &Context, args: SystemCheckArgs) -> Result<i32> {
    let store = ctx.store_exclusive()?;
    let report = store.check(!args.no_repair)?;
    let verb = if args.no_repair { "found" } else { "removed" };
    for g in &report.garbage {
        printer::line(&format!("garbage {verb}: {g}"));
    }
    for e in &report.errors {
        printer::err_line(&format!("error: {e}"));
    }
    printer::line(&format!(
        "checked {} images, {} layers, {} blobs: {} errors, {} garbage {verb}",
        report.images_checked,
        report.layers_checked,
        report.blobs_checked,
        report.errors.len(),
        report.garbage.len()
    ));
    if !report.errors.is_empty() {
        bail!("the store has {} errors", report.errors.len());
    }
    Ok(0)
}

pub fn df(ctx: &Context, args: SystemDfArgs) -> Result<i32> {
    let store = ctx.store()?;
    let images = store.list_images()?;
    let total: u64 = store.db.layers()?.iter().map(|l| l.size).sum();
    let active = 0u64; // no containers yet: no image is active
    let reclaimable = total;
    let items = vec![
        json!({"Type": "Images", "TotalCount": images.len(), "Active": active, "Size": human_size(total), "Reclaimable": format!("{} ({}%)", human_size(reclaimable), reclaimable.checked_mul(100).and_then(|r| r.checked_div(total)).unwrap_or(0))}),
        json!({"Type": "Containers", "TotalCount": 0, "Active": 0, "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Local Volumes", "TotalCount": 0, "Active": 0, "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": "0B", "Reclaimable": "0B"}),
    ];
    let _ = args.verbose;
    let header = |f: &str| match f {
        "TotalCount" => "TOTAL".to_string(),
        other => other.to_uppercase(),
    };
    let default = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
    printer::out(
        &format::render(&Format::parse(args.format.as_deref()), &items, default, &header)
            .map_err(anyhow::Error::msg)?,
    );
    Ok(0)
}

pub fn prune(ctx: &Context, args: SystemPruneArgs) -> Result<i32> {
    let warning = if args.all {
        "WARNING! This will remove:\n  - all images without at least one container associated to them"
    } else {
        "WARNING! This will remove:\n  - all dangling images"
    };
    if !args.force && !super::image::confirm(warning)? {
        return Ok(0);
    }
    let _ = args.volumes;
    let mut store = ctx.store()?;
    let (removals, reclaimed) = store.prune_images(args.all, &|_| false)?;
    if !removals.is_empty() {
        printer::line("Deleted Images:");
        for r in &removals {
            match r {
                engine::images::Removal::Untagged(n) => printer::line(&format!("untagged: {n}")),
                engine::images::Removal::Deleted(d) => printer::line(&format!("deleted: {d}")),
            }
        }
        printer::line("");
    }
    drop(store);
    // Garbage of interrupted commands goes too, under the exclusive lock.
    let store = ctx.store_exclusive()?;
    let report = store.check(true)?;
    let _ = report;
    printer::line(&format!("Total reclaimed space: {}", human_size(reclaimed)));
    Ok(0)
}
