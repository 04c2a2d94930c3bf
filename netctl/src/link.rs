//! Links, addresses and namespaces over rtnetlink, spoken directly: a network's bridge, and a
//! container's sandbox (a named network namespace, `eth0` in it, and the host end of the veth
//! pair on the bridge). No `ip` is exec'd: each exec cost milliseconds on the start path.
//!
//! Why `netlink-packet-route` + `netlink-sys`, used synchronously: youki's libcontainer already
//! links these exact versions, so they add no crate to the build; the message types (links with
//! nested veth peer and link info, addresses, routes) are typed, so no attribute is laid out by
//! hand; and a blocking socket is all this needs: one request, its ACK, next. `rtnetlink` is
//! async (tokio), and the monitor that begins a sandbox (`sandbox_begin`) forks once its
//! threads have ended; `neli` would be a second netlink stack in the binary. Replies are read
//! at the header level only (the ACK's code and extended message, a link's index), so new
//! kernel attributes never fail a request that succeeded.
//!
//! The namespace is made as `ip netns add` makes it, so `ip netns` still lists it: a file under
//! `/var/run/netns` (a shared mount point) with the namespace of a thread that did
//! `unshare(CLONE_NEWNET)` bind-mounted on it. That thread is short-lived (it ends in the new
//! namespace); it opens the netlink socket that configures the inside, which keeps talking to
//! that namespace afterwards. A container's sandbox is begun by such a thread while its caller
//! chooses the address (`sandbox_begin`); finishing it makes the veth pair, already on the
//! bridge, and addresses it. The runtime only needs the namespace pinned, so a monitor finishes
//! the sandbox while the runtime sets the container up.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    ErrorBuffer, NetlinkBuffer, NetlinkMessage, NlasIterator, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_CREATE,
    NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, LinkMessageBuffer,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::Socket;

use crate::{Error, Result};

const NETNS_DIR: &str = "/var/run/netns";

/// The container's network namespace, named so that `ip netns` shows whose it is.
pub fn netns_name(container_id: &str) -> String {
    format!("berth-{}", &container_id[..12])
}

/// Where the namespace is pinned; the runtime joins it from there.
pub fn netns_path(container_id: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(netns_name(container_id))
}

/// The host end of the container's veth pair (15 characters at most, as the kernel allows).
fn host_veth(container_id: &str) -> String {
    format!("vb{}", &container_id[..12])
}

/// Creates the bridge with the gateway address, up. A half-made bridge is removed on failure.
pub fn bridge_up(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
    let mut netlink = Netlink::open()?;
    let result = netlink.add_link(name, None, vec![LinkInfo::Kind(InfoKind::Bridge)]).and_then(|()| {
        let index = netlink.index(name)?;
        netlink.add_address(index, name, gateway, prefix)?;
        // Published ports reach containers from 127.0.0.1: DNAT keeps the loopback source, which
        // the kernel routes out of the bridge only with route_localnet (the source NAT of
        // published ports, nat.rs, then fixes it).
        write_knob(&format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"))
    });
    if result.is_err() {
        let _ = netlink.delete_link(name);
    }
    result
}

/// Removes the bridge; one already gone is no error.
pub fn bridge_down(name: &str) -> Result<()> {
    Netlink::open()?.delete_link(name)
}

/// Makes the container's namespace, with `eth0` at `ip`, loopback up, and a default route via
/// `gateway` (none for an internal network). A half-made sandbox is removed on failure.
pub fn sandbox_up(container_id: &str, bridge: &str, ip: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>) -> Result<()> {
    sandbox_begin(container_id).finish(bridge, ip, prefix, gateway)
}

/// A container's sandbox begun: its network namespace, made and pinned by a thread of its own
/// while the caller chooses the address and the bridge (the kernel takes about a millisecond).
/// `wait_pinned` waits for the namespace, which the runtime joins by its path; `finish` plugs
/// it in, which may come later, while the runtime sets the container up. Dropped unfinished,
/// it is removed.
pub struct PendingSandbox {
    /// Empty once finished.
    container_id: String,
    /// The thread making the namespace, until it is joined.
    namespace: Option<std::io::Result<std::thread::JoinHandle<Result<Sockets>>>>,
    /// What that thread made.
    sockets: Option<Sockets>,
}

/// Netlink sockets in the container's namespace and in the host's.
struct Sockets {
    inside: Netlink,
    host: Netlink,
}

/// Begins the container's sandbox (`PendingSandbox`).
pub fn sandbox_begin(container_id: &str) -> PendingSandbox {
    let id = container_id.to_string();
    let thread = std::thread::Builder::new().name("berth-netns".into()).spawn(move || {
        // A sandbox left by a container whose monitor was killed goes first.
        sandbox_down(&id);
        // Opened before this thread leaves the host's namespace (it ends after this).
        let host = Netlink::open()?;
        let inside = pin_new_netns(&netns_path(&id))?;
        Ok(Sockets { inside, host })
    });
    PendingSandbox { container_id: container_id.to_string(), namespace: Some(thread), sockets: None }
}

impl PendingSandbox {
    /// Waits until the namespace is pinned at `netns_path`. On failure the sandbox is removed
    /// when dropped.
    pub fn wait_pinned(&mut self) -> Result<()> {
        let fail = |message: String| Error::Netlink {
            op: format!("netns add {}", netns_path(&self.container_id).display()),
            message,
        };
        let made = match self.namespace.take() {
            Some(Ok(thread)) => thread.join().unwrap_or_else(|_| Err(fail("helper thread panicked".into()))),
            Some(Err(e)) => Err(fail(format!("helper thread: {e}"))),
            None => return if self.sockets.is_some() { Ok(()) } else { Err(fail("not made".into())) },
        };
        self.sockets = Some(made?);
        Ok(())
    }

    /// Gives the namespace `eth0` at `ip` on `bridge`, loopback up, and a default route via
    /// `gateway` (none for an internal network). A half-made sandbox is removed on failure.
    pub fn finish(mut self, bridge: &str, ip: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>) -> Result<()> {
        let result = self.wait_pinned().and_then(|()| {
            let sockets = self.sockets.take().expect("pinned");
            plug_sandbox(&self.container_id, sockets, bridge, ip, prefix, gateway)
        });
        if result.is_ok() {
            self.container_id.clear();
        }
        result
    }
}

impl Drop for PendingSandbox {
    fn drop(&mut self) {
        if self.container_id.is_empty() {
            return;
        }
        if let Some(Ok(thread)) = self.namespace.take() {
            let _ = thread.join();
        }
        sandbox_down(&self.container_id);
    }
}

/// Makes the container's veth pair, its host end on `bridge`, and gives `eth0` its address, up,
/// with `lo` and the default route via `gateway` (none for an internal network).
fn plug_sandbox(
    container_id: &str,
    sockets: Sockets,
    bridge: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<()> {
    let Sockets { mut inside, mut host } = sockets;
    let veth = host_veth(container_id);
    add_bridge_port(&mut host, bridge, &veth, "eth0", &netns_path(container_id))?;
    let eth0 = inside.index("eth0")?;
    inside.add_address(eth0, "eth0", ip, prefix)?;
    inside.set_up("eth0")?;
    inside.set_up("lo")?;
    if let Some(gateway) = gateway {
        inside.add_default_route(gateway)?;
    }
    Ok(())
}

/// A veth pair: `veth` on the host, up, a hairpin port of `bridge`; its peer `inner` in the
/// namespace pinned at `namespace`.
fn add_bridge_port(host: &mut Netlink, bridge: &str, veth: &str, inner: &str, namespace: &Path) -> Result<()> {
    let master = host.index(bridge)?;
    let file = File::open(namespace).map_err(|e| Error::Io { path: namespace.to_path_buf(), source: e })?;
    // `ip link add VETH up master BRIDGE type veth peer name INNER netns NS`, in one message.
    let mut peer = LinkMessage::default();
    peer.attributes.push(LinkAttribute::IfName(inner.into()));
    peer.attributes.push(LinkAttribute::NetNsFd(file.as_raw_fd()));
    peer.attributes.extend([LinkAttribute::NumTxQueues(1), LinkAttribute::NumRxQueues(1)]);
    host.add_link(
        veth,
        Some(master),
        vec![LinkInfo::Kind(InfoKind::Veth), LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer)))],
    )?;
    // Hairpin, so a container reaches itself through a published port (sysfs: one write, where
    // netlink would take a second request: the port's flags are not set at its creation).
    write_knob(&format!("/sys/class/net/{veth}/brport/hairpin_mode"))
}

/// Removes the container's namespace and veth pair, whatever is left of them; when it returns,
/// neither is listed on the host any more.
pub fn sandbox_down(container_id: &str) {
    namespace_down(container_id);
    // As the namespace dies, the kernel takes its devices, and the pair with them, in the
    // background: the veth's name leaves the host a few milliseconds after the unmount, where
    // deleting the veth ourselves waits for its whole unregistration (RCU grace periods: 15-30
    // ms on this project's machine, against 3 ms; bench/netlink.sh). Nothing is asked of the
    // kernel for what is not there (the usual case before a start): a request would wait for
    // the RTNL lock, which other namespaces' teardown may hold.
    let veth = Path::new("/sys/class/net").join(host_veth(container_id));
    let deadline = Instant::now() + Duration::from_millis(100);
    while veth.exists() && Instant::now() < deadline {
        // A few to a few tens of milliseconds (an exit does not wait: `Networks::release`).
        std::thread::sleep(Duration::from_micros(200));
    }
    // A pair whose namespace something else still holds (or never had one pinned): deleted.
    if veth.exists() {
        if let Ok(mut netlink) = Netlink::open() {
            let _ = netlink.delete_link(&host_veth(container_id));
        }
    }
}

/// Whether the host end of the container's veth pair is still there (its namespace's teardown
/// has not reached it yet).
pub fn veth_exists(container_id: &str) -> bool {
    Path::new("/sys/class/net").join(host_veth(container_id)).exists()
}

/// Unpins the container's network namespace, if it has one: once its processes are gone, the
/// kernel tears it down in the background. `sandbox_down` then waits for the end of that;
/// `Networks::release` does not.
pub fn namespace_down(container_id: &str) {
    let path = netns_path(container_id);
    if path.exists() {
        delete_netns(&path);
    }
}

/// Writes "1" to a sysfs or procfs knob.
fn write_knob(path: &str) -> Result<()> {
    std::fs::write(path, "1").map_err(|e| Error::Io { path: path.into(), source: e })
}

/// `ip netns add` from a thread that ends after this (it enters the new namespace): a new
/// namespace pinned at `path`; returns a netlink socket inside it. Nothing is left on failure.
fn pin_new_netns(path: &Path) -> Result<Netlink> {
    let fail =
        |op: &str, e: std::io::Error| Error::Netlink { op: format!("{op} {}", path.display()), message: e.to_string() };
    share_netns_dir()?;
    // The file the namespace is bound onto: it must not exist (sandbox_down has run).
    let flags = rustix::fs::OFlags::RDONLY
        | rustix::fs::OFlags::CREATE
        | rustix::fs::OFlags::EXCL
        | rustix::fs::OFlags::CLOEXEC;
    drop(rustix::fs::open(path, flags, rustix::fs::Mode::empty()).map_err(|e| fail("create", e.into()))?);
    let made = (|| {
        // SAFETY: CLONE_NEWNET alone moves only the calling thread, which ends after this, into
        // a new network namespace; the file table stays shared (the hazard of CLONE_FILES).
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
            .map_err(|e| Error::Netlink { op: "unshare(CLONE_NEWNET)".into(), message: e.to_string() })?;
        // berth's networks are IPv4 only, and Docker gives a container on such a network no
        // IPv6 at all: none on lo (`all`) nor on the eth0 made next (`default`), so the kernel
        // has no link-local address, duplicate address detection or router solicitation to
        // run for it. Best effort: a kernel without IPv6 has no such knobs.
        for interfaces in ["all", "default"] {
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{interfaces}/disable_ipv6"), "1");
        }
        let own = format!("/proc/self/task/{}/ns/net", rustix::thread::gettid().as_raw_nonzero());
        rustix::mount::mount_bind(own.as_str(), path).map_err(|e| Error::Netlink {
            op: format!("mount --bind {own} {}", path.display()),
            message: e.to_string(),
        })?;
        // A netlink socket belongs to the namespace it was opened in.
        Netlink::open()
    })();
    if made.is_err() {
        delete_netns(path);
    }
    made
}

/// As iproute2 does: `/var/run/netns` a shared mount point (bound onto itself first if it is no
/// mount point), so a namespace pinned there shows in every mount namespace that shares it.
fn share_netns_dir() -> Result<()> {
    use rustix::mount::{mount_bind_recursive, mount_change, MountPropagationFlags};
    let fail =
        |op: &str, e: rustix::io::Errno| Error::Netlink { op: format!("{op} {NETNS_DIR}"), message: e.to_string() };
    std::fs::create_dir_all(NETNS_DIR).map_err(|e| Error::Io { path: NETNS_DIR.into(), source: e })?;
    match mount_change(NETNS_DIR, MountPropagationFlags::SHARED | MountPropagationFlags::REC) {
        Err(rustix::io::Errno::INVAL) => {
            mount_bind_recursive(NETNS_DIR, NETNS_DIR).map_err(|e| fail("mount --rbind", e))?;
            mount_change(NETNS_DIR, MountPropagationFlags::SHARED | MountPropagationFlags::REC)
                .map_err(|e| fail("mount --make-rshared", e))
        }
        other => other.map_err(|e| fail("mount --make-rshared", e)),
    }
}

/// `ip netns del`: unmount and unlink, tolerant of either being done already.
fn delete_netns(path: &Path) {
    let _ = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH);
    let _ = std::fs::remove_file(path);
}

/// NLMSG_ERROR: the kernel's answer to a request with NLM_F_ACK (code 0: done).
const NLMSG_ERROR: u16 = 2;
/// RTM_NEWLINK: a link, as the answer to RTM_GETLINK.
const RTM_NEWLINK: u16 = 16;
/// NLMSGERR_ATTR_MSG: the extended ACK's text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// A blocking rtnetlink socket, in the namespace it was opened in.
struct Netlink {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

/// The kernel's refusal: its errno and its message.
#[derive(Debug)]
struct Refusal {
    errno: i32,
    message: String,
}

impl Refusal {
    fn io(e: std::io::Error) -> Self {
        Refusal { errno: e.raw_os_error().unwrap_or(0), message: e.to_string() }
    }
    fn during(self, op: String) -> Error {
        Error::Netlink { op, message: self.message }
    }
}

impl Netlink {
    fn open() -> Result<Self> {
        let fail = |e: std::io::Error| Error::Netlink { op: "netlink socket".into(), message: e.to_string() };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(fail)?;
        socket.bind_auto().map_err(fail)?;
        // The kernel's own words on failure, and no copy of the request in its answer.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(Netlink { socket, sequence: 0, buffer: Vec::with_capacity(32 * 1024) })
    }

    /// Sends `message` with NLM_F_ACK and reads up to the kernel's answer; returns the index of
    /// the link the kernel sent on the way (for RTM_GETLINK).
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> std::result::Result<Option<u32>, Refusal> {
        self.sequence += 1;
        let mut request = NetlinkMessage::from(message);
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        request.header.sequence_number = self.sequence;
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        self.socket.send(&bytes, 0).map_err(Refusal::io)?;
        let mut index = None;
        loop {
            self.buffer.clear();
            // MSG_TRUNC: the datagram's real size, so a truncated one is seen (never here: an
            // answer to one request is a link at most).
            let size = match self.socket.recv(&mut self.buffer, rustix::net::RecvFlags::TRUNC.bits() as i32) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other.map_err(Refusal::io)?,
            };
            if size > self.buffer.len() {
                return Err(Refusal { errno: 0, message: format!("netlink answer of {size} bytes truncated") });
            }
            let mut rest = &self.buffer[..];
            while !rest.is_empty() {
                let header =
                    NetlinkBuffer::new_checked(rest).map_err(|e| Refusal { errno: 0, message: e.to_string() })?;
                let length = header.length() as usize;
                if header.sequence_number() == self.sequence {
                    match header.message_type() {
                        NLMSG_ERROR => return answer(header.flags(), header.payload()).map(|()| index),
                        RTM_NEWLINK => {
                            index = LinkMessageBuffer::new_checked(header.payload()).ok().map(|link| link.link_index())
                        }
                        _ => {}
                    }
                }
                // Messages are aligned on 4 bytes; a bogus length ends the datagram.
                let next = (length + 3) & !3;
                if length == 0 || next >= rest.len() {
                    break;
                }
                rest = &rest[next..];
            }
        }
    }

    /// `ip link add NAME [master MASTER] up type ...`.
    fn add_link(&mut self, name: &str, master: Option<u32>, info: Vec<LinkInfo>) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        link.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(master) = master {
            link.attributes.push(LinkAttribute::Controller(master));
        }
        // One queue each way, as a veth ends up with anyway: without them the kernel makes it
        // one per CPU, then cuts the pair down to one, an RCU grace period for each end
        // (`veth_init_queues`). A bridge has one by default.
        link.attributes.push(LinkAttribute::NumTxQueues(1));
        link.attributes.push(LinkAttribute::NumRxQueues(1));
        let kind = info.iter().find_map(|i| if let LinkInfo::Kind(kind) = i { Some(kind.to_string()) } else { None });
        link.attributes.push(LinkAttribute::LinkInfo(info));
        self.request(RouteNetlinkMessage::NewLink(link), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|r| r.during(format!("link add {name} type {}", kind.unwrap_or_default())))
    }

    /// `ip link del NAME`; a link already gone is no error.
    fn delete_link(&mut self, name: &str) -> Result<()> {
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(RouteNetlinkMessage::DelLink(link), 0) {
            Err(r) if r.errno == rustix::io::Errno::NODEV.raw_os_error() => Ok(()),
            other => other.map(drop).map_err(|r| r.during(format!("link del {name}"))),
        }
    }

    /// `ip link set NAME up`.
    fn set_up(&mut self, name: &str) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        link.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(RouteNetlinkMessage::SetLink(link), 0)
            .map(drop)
            .map_err(|r| r.during(format!("link set {name} up")))
    }

    /// The index of the link called `name`.
    fn index(&mut self, name: &str) -> Result<u32> {
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(name.into()));
        let op = || format!("link show {name}");
        match self.request(RouteNetlinkMessage::GetLink(link), 0) {
            Ok(Some(index)) => Ok(index),
            Ok(None) => Err(Error::Netlink { op: op(), message: "no link in the kernel's answer".into() }),
            Err(r) => Err(r.during(op())),
        }
    }

    /// `ip addr add ADDRESS/PREFIX dev NAME` (`index` is NAME's).
    fn add_address(&mut self, index: u32, name: &str, address: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index;
        message.attributes.push(AddressAttribute::Local(IpAddr::V4(address)));
        message.attributes.push(AddressAttribute::Address(IpAddr::V4(address)));
        self.request(RouteNetlinkMessage::NewAddress(message), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|r| r.during(format!("addr add {address}/{prefix} dev {name}")))
    }

    /// `ip route add default via GATEWAY`.
    fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        route.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(RouteNetlinkMessage::NewRoute(route), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|r| r.during(format!("route add default via {gateway}")))
    }
}

/// Reads an NLMSG_ERROR payload: Ok for an ACK, else the errno's text and, when the kernel
/// gave one (extended ACK), its own message.
fn answer(flags: u16, payload: &[u8]) -> std::result::Result<(), Refusal> {
    let error = ErrorBuffer::new_checked(payload).map_err(|e| Refusal { errno: 0, message: e.to_string() })?;
    let Some(code) = error.code() else { return Ok(()) };
    let errno = code.get().saturating_abs();
    let mut message = std::io::Error::from_raw_os_error(errno).to_string();
    if let Some(text) = extended_message(flags, error.payload()) {
        message = format!("{message}: {text}");
    }
    Err(Refusal { errno, message })
}

/// The NLMSGERR_ATTR_MSG attribute after the echoed request (its header alone when capped).
fn extended_message(flags: u16, echoed: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let request = NetlinkBuffer::new_checked(echoed).ok()?;
    let skip = if flags & NLM_F_CAPPED != 0 { 16 } else { (request.length() as usize + 3) & !3 };
    NlasIterator::new(echoed.get(skip..)?)
        .filter_map(|nla| nla.ok())
        .find(|nla| nla.kind() == NLMSGERR_ATTR_MSG)
        .map(|nla| String::from_utf8_lossy(nla.value()).trim_end_matches('\0').to_string())
        .filter(|text| !text.is_empty())
}

/// The host end of the container's `eth<index>` (index 0: `vb<id12>`; then `v<index><id12>`).
fn host_veth_of(container_id: &str, index: usize) -> String {
    if index == 0 {
        host_veth(container_id)
    } else {
        format!("v{index}{}", &container_id[..12])
    }
}

/// A netlink socket inside the namespace pinned at `path` (opened by a short-lived thread that
/// enters it: a socket belongs to the namespace it was opened in).
fn netlink_in(path: &Path) -> Result<Netlink> {
    let namespace = File::open(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let fail = |e: String| Error::Netlink { op: format!("netns exec {}", path.display()), message: e };
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || -> Result<Netlink> {
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&namespace),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(|e| Error::Netlink { op: "setns".into(), message: e.to_string() })?;
            Netlink::open()
        })
        .map_err(|e| fail(e.to_string()))?
        .join()
        .unwrap_or_else(|_| Err(fail("helper thread panicked".into())))
}

/// Adds `eth<index>` (index >= 1) to a container's existing namespace, on `bridge`, at `ip`; no
/// route (the first network has the default route). Removed again on failure.
pub fn interface_up(container_id: &str, index: usize, bridge: &str, ip: Ipv4Addr, prefix: u8) -> Result<()> {
    let result = add_interface(container_id, index, bridge, ip, prefix);
    if result.is_err() {
        interface_down(container_id, index);
    }
    result
}

fn add_interface(container_id: &str, index: usize, bridge: &str, ip: Ipv4Addr, prefix: u8) -> Result<()> {
    let path = netns_path(container_id);
    let veth = host_veth_of(container_id, index);
    let name = format!("eth{index}");
    let mut inside = netlink_in(&path)?;
    let mut host = Netlink::open()?;
    add_bridge_port(&mut host, bridge, &veth, &name, &path)?;
    let inner = inside.index(&name)?;
    inside.add_address(inner, &name, ip, prefix)?;
    inside.set_up(&name)
}

/// Removes `eth<index>` (its host end; the pair goes with it).
pub fn interface_down(container_id: &str, index: usize) {
    let veth = host_veth_of(container_id, index);
    if Path::new("/sys/class/net").join(&veth).exists() {
        if let Ok(mut netlink) = Netlink::open() {
            let _ = netlink.delete_link(&veth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn names() {
        assert_eq!(netns_name(ID), "berth-0123456789ab");
        assert_eq!(netns_path(ID), PathBuf::from("/var/run/netns/berth-0123456789ab"));
        assert_eq!(host_veth(ID), "vb0123456789ab");
        assert!(host_veth(ID).len() <= 15);
    }

    /// An NLMSG_ERROR payload: code, the capped request header, then `tlvs`.
    fn error_payload(code: i32, tlvs: &[u8]) -> Vec<u8> {
        let mut payload = code.to_ne_bytes().to_vec();
        let mut header = [0u8; 16];
        header[..4].copy_from_slice(&40u32.to_ne_bytes());
        payload.extend_from_slice(&header);
        payload.extend_from_slice(tlvs);
        payload
    }

    #[test]
    fn answers() {
        assert!(answer(0, &error_payload(0, &[])).is_ok());
        let plain = answer(NLM_F_CAPPED, &error_payload(-17, &[])).unwrap_err();
        assert_eq!(plain.errno, 17);
        assert_eq!(plain.message, std::io::Error::from_raw_os_error(17).to_string());
        // NLMSGERR_ATTR_MSG "Unknown device type\0", padded to 4 bytes.
        let text = b"Unknown device type\0";
        let mut tlv = ((4 + text.len()) as u16).to_ne_bytes().to_vec();
        tlv.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        tlv.extend_from_slice(text);
        let extended = answer(NLM_F_CAPPED | NLM_F_ACK_TLVS, &error_payload(-95, &tlv)).unwrap_err();
        assert_eq!(extended.errno, 95);
        assert!(extended.message.ends_with("): Unknown device type"), "{}", extended.message);
    }

    /// As root only (skipped otherwise): what fails half-way is removed, with the operation
    /// and the kernel's words in the error.
    #[test]
    fn failures_leave_nothing() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let id = format!("{:012x}{}", rand::random::<u64>() & 0xffff_ffff_ffff, "0".repeat(52));
        let err = sandbox_up(&id, "nosuchbridge0", Ipv4Addr::new(10, 99, 0, 2), 24, None).unwrap_err().to_string();
        assert!(err.starts_with("link show nosuchbridge0: ") && err.contains("No such device"), "{err}");
        assert!(!netns_path(&id).exists());
        assert!(!Path::new("/sys/class/net").join(host_veth(&id)).exists());
        // A prefix the kernel refuses: the bridge goes again.
        let bridge = format!("br-{}", &id[..12]);
        let err = bridge_up(&bridge, Ipv4Addr::new(10, 99, 0, 1), 33).unwrap_err().to_string();
        assert!(err.starts_with(&format!("addr add 10.99.0.1/33 dev {bridge}: ")), "{err}");
        assert!(!Path::new("/sys/class/net").join(&bridge).exists());
        // Removal of what is gone already is no error.
        bridge_down(&bridge).unwrap();
        sandbox_down(&id);
    }

    /// Reading needs no privilege: lo is always index 1, and a missing link is the kernel's
    /// ENODEV with the operation named.
    #[test]
    fn index_of_links() {
        let mut netlink = Netlink::open().unwrap();
        assert_eq!(netlink.index("lo").unwrap(), 1);
        let missing = netlink.index("nosuchlink0").unwrap_err().to_string();
        assert!(missing.starts_with("link show nosuchlink0: "), "{missing}");
        assert!(missing.contains("No such device"), "{missing}");
        // The socket stays usable after a refusal.
        assert_eq!(netlink.index("lo").unwrap(), 1);
    }
}
