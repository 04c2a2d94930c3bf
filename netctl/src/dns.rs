//! The DNS server of a state root's bridge networks (`berth __dns`, one process per runroot,
//! the aardvark-dns pattern). It listens on UDP port 53 of each gateway that has containers,
//! answers A queries for the names on that network only (container names, aliases, the short
//! container ID, `name.network`) from the networks' files, forwards every other query to the
//! host's resolvers (except on `--internal` networks), and exits once no network has
//! containers. Single-threaded: one poll loop over the gateway sockets and the forwarded
//! queries in flight.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::op::{Message, MessageType, Metadata, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::store::{Network, Networks};

/// Answers are short-lived: containers come and go.
const TTL: u32 = 60;
/// How long a forwarded query may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server lingers with no container before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(2);

/// The lock a running server holds; its presence is how `ensure_running` knows.
fn lock_path(runroot: &Path) -> std::path::PathBuf {
    runroot.join("dns.lock")
}

/// What the server answers for: `<gateway> <container id>` per line, rewritten after every
/// reload.
fn listening_path(runroot: &Path) -> std::path::PathBuf {
    runroot.join("dns.listening")
}

/// A datagram here wakes the server to reload at once (a container just joined a network),
/// instead of at its next tick.
fn wake_path(runroot: &Path) -> std::path::PathBuf {
    runroot.join("dns.wake")
}

fn try_lock(runroot: &Path) -> Option<File> {
    std::fs::create_dir_all(runroot).ok()?;
    let file = File::options().create(true).truncate(false).write(true).open(lock_path(runroot)).ok()?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(file)
}

/// Whether a server runs for this runroot.
pub fn is_running(runroot: &Path) -> bool {
    try_lock(runroot).is_none()
}

/// Waits (up to two seconds) until the server answers on `gateway` with the container's names
/// loaded, so that its first query is neither refused nor answered from stale data. `start` is
/// called whenever no server runs (also when one was just exiting, idle, as this one arrived).
pub fn ensure_listening(runroot: &Path, gateway: &str, container_id: &str, start: impl Fn()) {
    let line = format!("{gateway} {container_id}");
    let deadline = Instant::now() + Duration::from_secs(2);
    let waker = std::os::unix::net::UnixDatagram::unbound().ok();
    let mut woken: Option<Instant> = None;
    while Instant::now() < deadline {
        if !is_running(runroot) {
            start();
        }
        let listening = std::fs::read_to_string(listening_path(runroot)).unwrap_or_default();
        if listening.lines().any(|l| l == line) {
            return;
        }
        if woken.is_none_or(|t| t.elapsed() >= Duration::from_millis(20)) {
            if let Some(w) = &waker {
                let _ = w.send_to(b"reload", wake_path(runroot));
            }
            woken = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Where names that are not on a network go: the engine configuration's `dns` servers when it
/// sets some (as Docker's embedded DNS does), else the host's resolvers (all of them: this
/// process runs on the host, loopback ones included).
pub fn upstreams(configured: &[String]) -> Vec<SocketAddr> {
    let from_config: Vec<SocketAddr> = configured
        .iter()
        .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if !from_config.is_empty() {
        return from_config;
    }
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The addresses `name` has on `network` (lowercase, without the final dot).
pub fn lookup(network: &Network, name: &str) -> Vec<Ipv4Addr> {
    let suffix = format!(".{}", network.name.to_ascii_lowercase());
    let bare = name.strip_suffix(suffix.as_str()).unwrap_or(name);
    network
        .endpoints
        .iter()
        .filter(|(id, e)| {
            e.container_name.eq_ignore_ascii_case(bare)
                || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(bare))
                || (bare.len() == 12 && id.starts_with(bare))
        })
        .filter_map(|(_, e)| e.ip.parse().ok())
        .collect()
}

/// The answer to `query` from `network`, or `None` when it is not ours to answer.
fn answer(network: &Network, query: &Message) -> Option<Message> {
    let q = query.queries.first()?;
    let name = q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let addresses = lookup(network, &name);
    if addresses.is_empty() {
        return None;
    }
    let mut reply = Message::new(query.metadata.id, MessageType::Response, query.metadata.op_code);
    reply.metadata = Metadata::response_from_request(&query.metadata);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_available = true;
    reply.add_query(q.clone());
    if q.query_type() == RecordType::A || q.query_type() == RecordType::ANY {
        for ip in addresses {
            reply.add_answer(Record::from_rdata(q.name().clone(), TTL, RData::A(A(ip))));
        }
    }
    // AAAA and the rest: the name exists, with no record of that type (NOERROR, no answer).
    Some(reply)
}

fn error_reply(query: &Message, code: ResponseCode) -> Option<Vec<u8>> {
    let mut reply = Message::new(query.metadata.id, MessageType::Response, query.metadata.op_code);
    reply.metadata = Metadata::response_from_request(&query.metadata);
    reply.metadata.response_code = code;
    reply.add_queries(query.queries.clone());
    reply.to_vec().ok()
}

struct Listener {
    network: Network,
    socket: UdpSocket,
}

struct Forwarded {
    socket: UdpSocket,
    client: SocketAddr,
    listener: Ipv4Addr,
    deadline: Instant,
}

/// Runs the server until no network has containers; returns the exit status.
pub fn serve(root: &Path, runroot: &Path, upstreams: &[SocketAddr]) -> i32 {
    let Some(_lock) = try_lock(runroot) else { return 0 }; // another one serves
    let Ok(networks) = Networks::open(root) else { return 1 };
    let mut listeners: BTreeMap<Ipv4Addr, Listener> = BTreeMap::new();
    let mut forwarded: Vec<Forwarded> = Vec::new();
    let mut seen: Option<SystemTime> = None;
    let mut idle_since: Option<Instant> = None;
    let mut reloaded = Instant::now();
    let mut buf = vec![0u8; 4096];
    let _ = std::fs::remove_file(wake_path(runroot));
    let wake = std::os::unix::net::UnixDatagram::bind(wake_path(runroot)).ok();
    if let Some(w) = &wake {
        let _ = w.set_nonblocking(true);
    }
    let mut woken = false;
    // What `dns.listening` holds (`None` until written).
    let mut listening: Option<String> = None;
    loop {
        // Reload when a network file changed (every change renames into the directory), and
        // every 250 ms all the same: directory times are coarse, two changes in one tick look
        // like one.
        let mtime = std::fs::metadata(networks.dir()).and_then(|m| m.modified()).ok();
        if woken || mtime != seen || seen.is_none() || reloaded.elapsed() >= Duration::from_millis(250) {
            woken = false;
            seen = mtime;
            reloaded = Instant::now();
            let current: Vec<Network> =
                // Not the default network: it has no DNS by name, as Docker's has none.
                networks.list().unwrap_or_default().into_iter().filter(|n| !n.endpoints.is_empty() && !n.default).collect();
            listeners.retain(|gw, _| current.iter().any(|n| n.gateway.parse::<Ipv4Addr>().ok() == Some(*gw)));
            for network in current {
                let Ok(gw) = network.gateway.parse::<Ipv4Addr>() else { continue };
                match listeners.get_mut(&gw) {
                    Some(l) => l.network = network,
                    None => {
                        if let Ok(socket) = UdpSocket::bind((gw, 53)) {
                            let _ = socket.set_nonblocking(true);
                            listeners.insert(gw, Listener { network, socket });
                        }
                    }
                }
            }
            let text: String = listeners
                .iter()
                .flat_map(|(gw, l)| l.network.endpoints.keys().map(move |id| format!("{gw} {id}\n")))
                .collect();
            // Rewritten only when it changes: most reloads (one every 250 ms) change nothing.
            if listening.as_ref() != Some(&text) {
                let tmp = runroot.join(".dns.listening");
                if std::fs::write(&tmp, &text).is_ok() && std::fs::rename(&tmp, listening_path(runroot)).is_ok() {
                    listening = Some(text);
                }
            }
        }
        if listeners.is_empty() && forwarded.is_empty() {
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= IDLE_EXIT {
                let _ = std::fs::remove_file(listening_path(runroot));
                let _ = std::fs::remove_file(wake_path(runroot));
                return 0;
            }
        } else {
            idle_since = None;
        }
        forwarded.retain(|f| Instant::now() < f.deadline);

        let mut fds: Vec<PollFd> = Vec::new();
        if let Some(w) = &wake {
            fds.push(PollFd::new(w, PollFlags::IN));
        }
        for l in listeners.values() {
            fds.push(PollFd::new(&l.socket, PollFlags::IN));
        }
        for f in &forwarded {
            fds.push(PollFd::new(&f.socket, PollFlags::IN));
        }
        let timeout = Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
        let _ = poll(&mut fds, Some(&timeout));
        let mut ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if let Some(w) = &wake {
            if ready.remove(0) {
                while w.recv(&mut buf).is_ok() {}
                woken = true;
            }
        }
        let (from_clients, from_upstream) = ready.split_at(listeners.len());

        let ready_gateways: Vec<Ipv4Addr> =
            listeners.keys().zip(from_clients).filter(|(_, r)| **r).map(|(gw, _)| *gw).collect();
        for gw in ready_gateways {
            let l = &listeners[&gw];
            while let Ok((n, client)) = l.socket.recv_from(&mut buf) {
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                // A container on several networks finds names on all of them, whichever gateway
                // it asks (as Docker's embedded DNS answers for every network of the container).
                let reply = answer(&l.network, &query).or_else(|| {
                    let id = l.network.endpoints.iter().find(|(_, e)| e.ip.parse().ok() == Some(client.ip()))?.0;
                    listeners
                        .values()
                        .filter(|o| o.network.id != l.network.id && o.network.endpoints.contains_key(id))
                        .find_map(|o| answer(&o.network, &query))
                });
                if let Some(reply) = reply.and_then(|r| r.to_vec().ok()) {
                    let _ = l.socket.send_to(&reply, client);
                } else if l.network.internal || upstreams.is_empty() {
                    if let Some(reply) = error_reply(&query, ResponseCode::NXDomain) {
                        let _ = l.socket.send_to(&reply, client);
                    }
                } else if let Ok(socket) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
                    let _ = socket.set_nonblocking(true);
                    if socket.send_to(&buf[..n], upstreams[0]).is_ok() {
                        let deadline = Instant::now() + FORWARD_TIMEOUT;
                        forwarded.push(Forwarded { socket, client, listener: gw, deadline });
                    }
                }
            }
        }
        let mut done = Vec::new();
        for (i, f) in forwarded.iter().enumerate().filter(|(i, _)| from_upstream.get(*i) == Some(&true)) {
            if let Ok((n, _)) = f.socket.recv_from(&mut buf) {
                if let Some(l) = listeners.get(&f.listener) {
                    let _ = l.socket.send_to(&buf[..n], f.client);
                }
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            forwarded.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Endpoint;

    fn network() -> Network {
        let mut endpoints = BTreeMap::new();
        endpoints.insert(
            "abcdef012345".to_string() + &"0".repeat(52),
            Endpoint {
                container_name: "web".into(),
                ip: "10.89.0.2".into(),
                aliases: vec!["frontend".into()],
                ports: Vec::new(),
            },
        );
        Network {
            id: "f".repeat(64),
            name: "app".into(),
            created: String::new(),
            subnet: "10.89.0.0/24".into(),
            gateway: "10.89.0.1".into(),
            internal: false,
            labels: BTreeMap::new(),
            bridge: "br-x".into(),
            endpoints,
            draining: BTreeMap::new(),
            default: false,
        }
    }

    #[test]
    fn names_aliases_short_ids_and_network_suffixes_resolve() {
        let n = network();
        let ip: Ipv4Addr = "10.89.0.2".parse().unwrap();
        for name in ["web", "frontend", "abcdef012345", "web.app"] {
            assert_eq!(lookup(&n, name), [ip], "{name}");
        }
        assert!(lookup(&n, "db").is_empty());
        assert!(lookup(&n, "abcdef").is_empty(), "only the 12-character short ID");
    }
}
