//! Links, addresses and namespaces, through iproute2's `ip` in batch mode (netlink underneath):
//! a network's bridge, and a container's sandbox (a named network namespace, `eth0` in it, and
//! the host end of the veth pair on the bridge).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::Result;

/// The container's network namespace, named so that `ip netns` shows whose it is.
pub fn netns_name(container_id: &str) -> String {
    format!("berth-{}", &container_id[..12])
}

/// Where the namespace is pinned; the runtime joins it from there.
pub fn netns_path(container_id: &str) -> PathBuf {
    PathBuf::from("/var/run/netns").join(netns_name(container_id))
}

/// The host end of the container's veth pair (15 characters at most, as the kernel allows).
fn host_veth(container_id: &str) -> String {
    format!("vb{}", &container_id[..12])
}

/// Runs `ip [-n NETNS] -batch -` with `commands`, one per line.
fn ip_batch(netns: Option<&str>, commands: &str) -> Result<()> {
    let args: Vec<&str> = match netns {
        Some(ns) => vec!["-n", ns, "-batch", "-"],
        None => vec!["-batch", "-"],
    };
    crate::command::run("ip", &args, Some(commands)).map(|_| ())
}

/// Runs `ip ARGS`, ignoring failure (for removal of what may be gone already).
fn ip_quiet(args: &[&str]) {
    let _ = Command::new("ip").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Creates the bridge with the gateway address, up.
pub fn bridge_up(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
    let result = ip_batch(
        None,
        &format!("link add {name} type bridge\naddr add {gateway}/{prefix} dev {name}\nlink set {name} up\n"),
    );
    if result.is_err() {
        ip_quiet(&["link", "del", name]);
        return result;
    }
    // Published ports reach containers from 127.0.0.1: DNAT keeps the loopback source, which
    // the kernel routes out of the bridge only with route_localnet (masquerade then fixes it).
    let knob = format!("/proc/sys/net/ipv4/conf/{name}/route_localnet");
    std::fs::write(&knob, "1").map_err(|e| crate::Error::Io { path: knob.into(), source: e })
}

pub fn bridge_down(name: &str) -> Result<()> {
    ip_quiet(&["link", "del", name]);
    Ok(())
}

/// Makes the container's namespace, with `eth0` at `ip`, loopback up, and a default route via
/// `gateway` (none for an internal network). A half-made sandbox is removed on failure.
pub fn sandbox_up(container_id: &str, bridge: &str, ip: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>) -> Result<()> {
    // A sandbox left by a container whose monitor was killed goes first.
    sandbox_down(container_id);
    let ns = netns_name(container_id);
    let veth = host_veth(container_id);
    let result = ip_batch(
        None,
        &format!(
            "netns add {ns}\nlink add {veth} type veth peer name eth0 netns {ns}\nlink set {veth} master {bridge} up\nlink set {veth} type bridge_slave hairpin on\n"
        ),
    )
    .and_then(|()| {
        let mut inside = format!("addr add {ip}/{prefix} dev eth0\nlink set eth0 up\nlink set lo up\n");
        if let Some(gw) = gateway {
            inside.push_str(&format!("route add default via {gw}\n"));
        }
        ip_batch(Some(&ns), &inside)
    });
    if result.is_err() {
        sandbox_down(container_id);
    }
    result
}

/// Removes the container's namespace and veth pair, whatever is left of them.
pub fn sandbox_down(container_id: &str) {
    let ns = netns_name(container_id);
    if netns_path(container_id).exists() {
        ip_quiet(&["netns", "del", &ns]);
    }
    // Deleting the namespace deletes the pair; this catches a pair whose namespace never came.
    if std::path::Path::new("/sys/class/net").join(host_veth(container_id)).exists() {
        ip_quiet(&["link", "del", &host_veth(container_id)]);
    }
}

/// The host end of the container's `eth<index>` (index 0: `vb<id12>`; then `v<index><id12>`).
fn host_veth_of(container_id: &str, index: usize) -> String {
    if index == 0 {
        host_veth(container_id)
    } else {
        format!("v{index}{}", &container_id[..12])
    }
}

/// Adds `eth<index>` (index >= 1) to a container's existing namespace, on `bridge`, at `ip`; no
/// route (the first network has the default route). Removed again on failure.
pub fn interface_up(container_id: &str, index: usize, bridge: &str, ip: Ipv4Addr, prefix: u8) -> Result<()> {
    let ns = netns_name(container_id);
    let veth = host_veth_of(container_id, index);
    let result = ip_batch(
        None,
        &format!(
            "link add {veth} type veth peer name eth{index} netns {ns}\nlink set {veth} master {bridge} up\nlink set {veth} type bridge_slave hairpin on\n"
        ),
    )
    .and_then(|()| ip_batch(Some(&ns), &format!("addr add {ip}/{prefix} dev eth{index}\nlink set eth{index} up\n")));
    if result.is_err() {
        interface_down(container_id, index);
    }
    result
}

/// Removes `eth<index>` (its host end; the pair goes with it).
pub fn interface_down(container_id: &str, index: usize) {
    let veth = host_veth_of(container_id, index);
    if std::path::Path::new("/sys/class/net").join(&veth).exists() {
        ip_quiet(&["link", "del", &veth]);
    }
}
