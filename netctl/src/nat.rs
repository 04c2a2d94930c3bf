//! Outbound NAT and forwarding for each network, in berth's own nftables table (`inet berth`),
//! so no one else's rules are touched. Every rule carries the comment `berth:<network id>`;
//! removal deletes those rules, and the table once it holds none.

use std::process::{Command, Stdio};

use crate::ports::Mapping;
use crate::store::Network;
use crate::{Error, Result};

const TABLE: &str = "table inet berth {
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }
  chain output { type nat hook output priority -100; policy accept; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }
  chain forward { type filter hook forward priority filter; policy accept; }
}
";

fn nft(args: &[&str], stdin: Option<&str>) -> Result<String> {
    crate::command::run("nft", args, stdin)
}

/// The `inet berth` table is one for the whole host, shared by every state root: each change
/// to it holds this lock, so one root's "delete the table, nothing is left in it" never runs
/// between another root's look at the table and its new rules (parallel tests do that).
fn table_lock() -> Result<std::fs::File> {
    let path = std::path::Path::new("/run/berth-nft.lock");
    let io = |e: std::io::Error| Error::Io { path: path.to_path_buf(), source: e };
    let file = std::fs::File::options().create(true).truncate(false).write(true).open(path).map_err(io)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| io(e.into()))?;
    Ok(file)
}

/// The network's rules: masquerade what leaves its subnet (not for `--internal`), accept its
/// forwarded traffic but not into other bridges, and for `--internal` drop what would leave
/// the bridge.
pub fn add(network: &Network) -> Result<()> {
    let (br, subnet, tag) = (&network.bridge, &network.subnet, format!("berth:{}", network.id));
    let mut script = String::from(TABLE);
    if network.internal {
        script.push_str(&format!(
            "add rule inet berth forward iifname \"{br}\" oifname != \"{br}\" drop comment \"{tag}\"\n"
        ));
        script.push_str(&format!(
            "add rule inet berth forward oifname \"{br}\" iifname != \"{br}\" drop comment \"{tag}\"\n"
        ));
    } else {
        script.push_str(&format!(
            "add rule inet berth postrouting ip saddr {subnet} ip daddr != {subnet} masquerade comment \"{tag}\"\n"
        ));
        // Networks are isolated from each other, as Docker's are: nothing goes from this bridge
        // to another bridge, except to a published port (DNAT'd through the host).
        script.push_str(&format!(
            "add rule inet berth forward iifname \"{br}\" oifname \"br-*\" oifname != \"{br}\" ct status & dnat == 0 drop comment \"{tag}\"\n"
        ));
        script.push_str(&format!("add rule inet berth forward iifname \"{br}\" accept comment \"{tag}\"\n"));
        script.push_str(&format!(
            "add rule inet berth forward oifname \"{br}\" ct state established,related accept comment \"{tag}\"\n"
        ));
    }
    let _lock = table_lock()?;
    nft(&["-f", "-"], Some(&script))?;
    if !network.internal {
        iptables_forward(br, true)?;
    }
    Ok(())
}

/// The filter FORWARD chain of iptables may drop by policy (Docker sets it to DROP and loads
/// br_netfilter, which sends bridged traffic through it): a verdict in our own table cannot
/// override that, so each bridge also gets ACCEPT rules there, removed with the network. Where
/// there is no iptables there is no such policy.
fn iptables_forward(bridge: &str, add: bool) -> Result<()> {
    let rules: [&[&str]; 2] = [&["-i", bridge, "-j", "ACCEPT"], &["-o", bridge, "-j", "ACCEPT"]];
    for rule in rules {
        let exists = Command::new("iptables")
            .args(["-w", "-C", "FORWARD"])
            .args(rule)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let Ok(exists) = exists else { return Ok(()) }; // no iptables at all
        let action = match (add, exists.success()) {
            (true, false) => "-I",
            (false, true) => "-D",
            _ => continue,
        };
        let out = Command::new("iptables").args(["-w", action, "FORWARD"]).args(rule).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(Error::Command {
                    command: format!("iptables {action} FORWARD {}", rule.join(" ")),
                    message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
                })
            }
            Err(e) => return Err(Error::Command { command: "iptables".into(), message: e.to_string() }),
        }
    }
    Ok(())
}

/// Deletes the network's rules, and the table when nothing else is in it.
pub fn remove(network_id: &str, bridge: &str) -> Result<()> {
    iptables_forward(bridge, false)?;
    remove_tagged(&format!("berth:{network_id}"))
}

/// The source address the container sees for connections to a published port from the host's
/// loopback (127.0.0.0/8 cannot leave the host). It is outside every network's subnet, so the
/// container answers through its gateway, where conntrack turns the reply back into loopback
/// traffic; nothing but this translation uses it.
///
/// Why not the gateway (what masquerade would choose): the host's own connections to the
/// container come from the gateway, from the same ephemeral ports as the loopback clients. When
/// a loopback connection's port is already taken there (for conntrack's 120 s of TIME_WAIT),
/// the kernel picks a random port instead, and the container's TIME_WAIT socket for that
/// address and port was made by another client: the new SYN's timestamp and sequence (the
/// kernel derives their offsets from the client's own addresses and ports; for timestamps
/// since "tcp: secure_seq: add back ports to TS offset", 2026) look older, the
/// container answers with an ACK for the old connection, the client resets and retries a few
/// milliseconds later. A short-connection benchmark through 127.0.0.1 lost half to three
/// quarters of its throughput to that (bench/README.md, network.sh). With an address of its
/// own, a loopback client's port is kept as it is (nothing else uses that address), so the
/// container's TIME_WAIT for it always comes from that same client, whose timestamps only grow.
pub const LOOPBACK_SOURCE: &str = "169.254.7.1";

/// Publishes the container's ports: DNAT from the host's addresses (or the one asked for), for
/// traffic from outside (prerouting) and from the host itself (output), with source NAT for
/// what comes from loopback (to `LOOPBACK_SOURCE`) or from the container's own network
/// (hairpin, masquerade to the gateway).
pub fn publish(container_id: &str, network: &Network, ip: &str, mappings: &[Mapping]) -> Result<()> {
    if mappings.is_empty() {
        return Ok(());
    }
    let tag = format!("berth:{container_id}");
    let mut script = String::from(TABLE);
    for m in mappings {
        let (proto, hp, cp) = (&m.protocol, m.host_port, m.container_port);
        let dest =
            if m.host_ip.is_empty() { "fib daddr type local".to_string() } else { format!("ip daddr {}", m.host_ip) };
        for chain in ["prerouting", "output"] {
            script.push_str(&format!(
                "add rule inet berth {chain} {dest} {proto} dport {hp} dnat ip to {ip}:{cp} comment \"{tag}\"\n"
            ));
        }
        // Hairpin: containers of the network, but not the gateway (the host itself), whose
        // connections need no translation (the answers go to the host anyway) and must get
        // none: masquerading them to the gateway again would remap a port now and then, with
        // the TIME_WAIT trouble `LOOPBACK_SOURCE` describes.
        let (subnet, gateway) = (&network.subnet, &network.gateway);
        let sources = [
            ("ip saddr 127.0.0.0/8".to_string(), format!("snat ip to {LOOPBACK_SOURCE}")),
            (format!("ip saddr {subnet} ip saddr != {gateway}"), "masquerade".to_string()),
        ];
        for (source, nat) in sources {
            script.push_str(&format!(
                "add rule inet berth postrouting {source} ip daddr {ip} {proto} dport {cp} {nat} comment \"{tag}\"\n"
            ));
        }
    }
    let _lock = table_lock()?;
    nft(&["-f", "-"], Some(&script)).map(|_| ())
}

/// Removes the container's published ports.
pub fn unpublish(container_id: &str) -> Result<()> {
    remove_tagged(&format!("berth:{container_id}"))
}

/// Deletes the rules tagged `tag`, and the table once no rule is left in it.
fn remove_tagged(tag: &str) -> Result<()> {
    let _lock = table_lock()?;
    let Ok(listing) = nft(&["-j", "-a", "list", "table", "inet", "berth"], None) else {
        return Ok(()); // no table: nothing of ours
    };
    let json: serde_json::Value = serde_json::from_str(&listing)
        .map_err(|e| Error::Command { command: "nft -j list table inet berth".into(), message: e.to_string() })?;
    let mut script = String::new();
    let mut others = 0;
    for item in json["nftables"].as_array().into_iter().flatten() {
        let Some(rule) = item.get("rule") else { continue };
        if rule["comment"].as_str() == Some(tag) {
            script.push_str(&format!(
                "delete rule inet berth {} handle {}\n",
                rule["chain"].as_str().unwrap_or(""),
                rule["handle"]
            ));
        } else {
            others += 1;
        }
    }
    if others == 0 {
        script = "delete table inet berth\n".into();
    }
    if !script.is_empty() {
        nft(&["-f", "-"], Some(&script))?;
    }
    Ok(())
}
