//! network create, ls, inspect, rm, prune, connect, disconnect: bridge networks through netctl.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _, Result};
use netctl::{Network, Networks};
use serde_json::{json, Value};

use super::Context;
use crate::cli::{
    NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs, NetworkInspectArgs, NetworkLsArgs, NetworkPruneArgs,
    NetworkRmArgs,
};
use crate::format::{self, Format};
use crate::printer;

pub fn networks(ctx: &Context) -> Result<Networks> {
    Ok(Networks::open(&ctx.root)?)
}

fn labels_of(list: &[String]) -> BTreeMap<String, String> {
    list.iter().map(|l| l.split_once('=').map_or((l.clone(), String::new()), |(k, v)| (k.into(), v.into()))).collect()
}

/// Docker's `network inspect` shape.
fn network_json(n: &Network) -> Value {
    let containers: serde_json::Map<String, Value> = n
        .endpoints
        .iter()
        .map(|(id, e)| {
            let prefix = n.subnet.split('/').nth(1).unwrap_or("24");
            (
                id.clone(),
                json!({"Name": e.container_name, "IPv4Address": format!("{}/{prefix}", e.ip), "IPv6Address": ""}),
            )
        })
        .collect();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": n.subnet, "Gateway": n.gateway}]},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "Containers": containers,
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": n.labels,
    })
}

pub fn create(ctx: &Context, args: NetworkCreateArgs) -> Result<i32> {
    if args.driver != "bridge" {
        bail!("plugin \"{}\" not found: berth has the bridge driver only", args.driver);
    }
    if matches!(args.name.as_str(), "bridge" | "host" | "none") {
        bail!("operation is not permitted on predefined {} network", args.name);
    }
    let options = netctl::store::CreateOptions {
        name: args.name,
        subnet: args.subnet,
        gateway: args.gateway,
        internal: args.internal,
        labels: labels_of(&args.labels),
    };
    let network = networks(ctx)?.create(&options)?;
    printer::line(&network.id);
    Ok(0)
}

pub fn ls(ctx: &Context, args: NetworkLsArgs) -> Result<i32> {
    let mut items = Vec::new();
    let store = networks(ctx)?;
    // The default network is always listed, as Docker's is.
    store.ensure_default()?;
    for n in store.list()? {
        let mut keep = true;
        for f in &args.filters {
            let (k, v) =
                f.split_once('=').with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
            keep &= match k {
                "name" => n.name.contains(v),
                "id" => n.id.starts_with(v),
                "driver" => v == "bridge",
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                    None => n.labels.contains_key(v),
                },
                _ => bail!("invalid filter '{k}'"),
            };
        }
        if keep {
            let id = if args.no_trunc { n.id.clone() } else { n.short_id().to_string() };
            items.push(json!({"ID": id, "Name": n.name, "Driver": "bridge", "Scope": "local", "Internal": n.internal}));
        }
    }
    if args.quiet {
        for item in &items {
            printer::line(item["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    let header = |f: &str| if f == "ID" { "NETWORK ID".to_string() } else { f.to_uppercase() };
    let default = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
    printer::out(
        &format::render(&Format::parse(args.format.as_deref()), &items, default, &header)
            .map_err(anyhow::Error::msg)?,
    );
    Ok(0)
}

pub fn inspect(ctx: &Context, args: NetworkInspectArgs) -> Result<i32> {
    let store = networks(ctx)?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match store.find(name) {
            Ok(n) => found.push(network_json(&n)),
            Err(e) => {
                printer::err_line(&format!("Error response from daemon: {e}"));
                failed = true;
            }
        }
    }
    format::print_inspect(found, args.format.as_deref(), failed)
}

pub fn rm(ctx: &Context, args: NetworkRmArgs) -> Result<i32> {
    let store = networks(ctx)?;
    let mut failed = false;
    for name in &args.names {
        match store.remove(name) {
            Ok(_) => printer::line(name),
            Err(e) => {
                printer::err_line(&format!("Error response from daemon: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn prune(ctx: &Context, _args: NetworkPruneArgs) -> Result<i32> {
    let store = networks(ctx)?;
    // The default network stays, but its bridge and rules go while no container uses them.
    store.default_down_if_unused()?;
    let mut removed = Vec::new();
    for n in store.list()? {
        if n.endpoints.is_empty() && store.remove(&n.id).is_ok() {
            removed.push(n.name);
        }
    }
    if !removed.is_empty() {
        printer::line("Deleted Networks:");
        for name in removed {
            printer::line(&name);
        }
    }
    Ok(0)
}

/// `__dns`: the DNS server of this state root's networks, detached from whoever started it
/// (it forks; the parent returns at once, so the starter reaps it and leaves no zombie).
pub fn dns(ctx: &Context) -> Result<i32> {
    // SAFETY: fork in a single-threaded process (nothing has spawned a thread yet); the child
    // goes on in ordinary code.
    match unsafe { libc::fork() } {
        -1 => bail!("fork: {}", std::io::Error::last_os_error()),
        0 => {}
        _ => return Ok(0),
    }
    // SAFETY: setsid has no memory effects; it detaches the child from the starter's session.
    unsafe {
        libc::setsid();
    }
    Ok(netctl::dns::serve(&ctx.root, &ctx.runroot, &netctl::dns::upstreams(&ctx.config.dns)))
}

/// Starts `berth __dns` for this state root (it detaches itself), with the same engine
/// configuration.
pub fn start_dns(root: &std::path::Path, runroot: &std::path::Path, config: Option<&std::path::Path>) {
    let Ok(exe) = std::env::current_exe() else { return };
    let mut cmd = std::process::Command::new(exe);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let _ = cmd
        .arg("--root")
        .arg(root)
        .arg("--runroot")
        .arg(runroot)
        .arg("__dns")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// The index of the interface (`eth<index>`) that plugs a running container into `network`:
/// the one whose host end is a port of the network's bridge.
fn interface_on(container_id: &str, network: &Network) -> Option<usize> {
    (1..32).find(|i| {
        let master = std::path::PathBuf::from(format!("/sys/class/net/v{i}{}/master", &container_id[..12]));
        std::fs::read_link(master).is_ok_and(|m| m.file_name().is_some_and(|n| n == network.bridge.as_str()))
    })
}

/// The first free interface index of a running container (its veths' host ends tell).
fn free_interface(container_id: &str) -> usize {
    (1..).find(|i| !std::path::Path::new(&format!("/sys/class/net/v{i}{}", &container_id[..12])).exists()).unwrap_or(1)
}

/// The network a container was created on (`--network`), when it is a bridge network.
fn first_network(nets: &Networks, record: &engine::container::model::Record) -> Option<Network> {
    let mode = record.host_config.network_mode.as_str();
    nets.find(if mode == "default" { netctl::store::DEFAULT_NETWORK } else { mode }).ok()
}

pub fn connect(ctx: &Context, args: NetworkConnectArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    let mut record = store.container(&id)?;
    let nets = networks(ctx)?;
    let network = nets.find(&args.network)?;
    let mode = record.host_config.network_mode.as_str();
    if mode == "host" || mode == "none" || mode.starts_with("container:") {
        bail!("container cannot be connected to a network when its network mode is {mode}");
    }
    if first_network(&nets, &record).is_some_and(|p| p.id == network.id)
        || record.extra_networks.iter().any(|e| nets.find(&e.name).is_ok_and(|n| n.id == network.id))
    {
        bail!("endpoint with name {} already exists in network {}", record.name, network.name);
    }
    if network.default && (args.ip.is_some() || !args.alias.is_empty()) {
        bail!("network-scoped alias and IP address are supported only for containers in user defined networks");
    }
    let extra = engine::container::model::ExtraNetwork {
        name: network.name.clone(),
        endpoint: engine::container::model::EndpointConfig {
            aliases: args.alias.clone(),
            ipv4_address: args.ip.clone().unwrap_or_default(),
        },
    };
    if store.observed_state(&id)?.status.is_running() {
        super::container::connect_endpoint(&nets, &record, &extra, free_interface(&id))?;
    }
    record.extra_networks.push(extra);
    store.update_container(&record)?;
    if store.observed_state(&id)?.status.is_running() {
        super::container::ensure_dns_on_extras(&ctx.root, &ctx.runroot, ctx.config_path.as_deref(), &record);
    }
    Ok(0)
}

pub fn disconnect(ctx: &Context, args: NetworkDisconnectArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    let mut record = store.container(&id)?;
    let nets = networks(ctx)?;
    let network = nets.find(&args.network)?;
    let Some(pos) = record.extra_networks.iter().position(|e| nets.find(&e.name).is_ok_and(|n| n.id == network.id))
    else {
        if first_network(&nets, &record).is_some_and(|p| p.id == network.id) {
            bail!("berth cannot disconnect a container from the network it was created on ({})", network.name);
        }
        bail!("container {} is not connected to network {}", record.id, network.name);
    };
    if let Some(index) = interface_on(&id, &network) {
        nets.detach_from(&network.id, &id, index)?;
    }
    record.extra_networks.remove(pos);
    store.update_container(&record)?;
    Ok(0)
}
