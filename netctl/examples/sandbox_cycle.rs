//! A container's sandbox made and removed through `netctl::link`, as the container monitor
//! does around a container's life: for bench/netlink.sh (as root).
//!
//! Usage: sandbox_cycle up|down|cycle BRIDGE ADDRESS/PREFIX [GATEWAY]

use std::net::Ipv4Addr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| {
        let step = args.first().filter(|s| ["up", "down", "cycle"].contains(&s.as_str()))?;
        let bridge = args.get(1)?;
        let (ip, prefix) = args.get(2)?.split_once('/')?;
        let gateway = match args.get(3) {
            Some(gw) => Some(gw.parse::<Ipv4Addr>().ok()?),
            None => None,
        };
        Some((step.clone(), bridge.clone(), ip.parse::<Ipv4Addr>().ok()?, prefix.parse::<u8>().ok()?, gateway))
    })();
    let Some((step, bridge, ip, prefix, gateway)) = parsed else {
        eprintln!("usage: sandbox_cycle up|down|cycle BRIDGE ADDRESS/PREFIX [GATEWAY]");
        return ExitCode::from(2);
    };
    let id = "5ca1ab1e0000".repeat(6);
    if step != "down" {
        if let Err(e) = netctl::link::sandbox_up(&id, &bridge, ip, prefix, gateway) {
            eprintln!("sandbox_cycle: {e}");
            return ExitCode::FAILURE;
        }
    }
    if step != "up" {
        netctl::link::sandbox_down(&id);
    }
    ExitCode::SUCCESS
}
