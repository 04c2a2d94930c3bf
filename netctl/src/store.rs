//! Networks as stored: per network under `<root>/networks/`, a JSON file of its configuration
//! (`<id>.json`) and one of its endpoints, container -> address (`.<id>.endpoints`). Every
//! change happens under an exclusive flock of `<root>/networks/lock` and lands by rename, so
//! parallel `run`s never get the same address.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ipam::{self, Subnet};
use crate::ports::{self, Mapping, Request};
use crate::{link, nat, Error, Result};

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Endpoint {
    pub container_name: String,
    pub ip: String,
    /// Other names the container answers to on this network (`--network-alias`, compose
    /// service names).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Published ports in force.
    #[serde(default)]
    pub ports: Vec<Mapping>,
}

impl Endpoint {
    /// `ip`, parsed.
    pub fn address(&self) -> Result<Ipv4Addr> {
        self.ip.parse().map_err(|_| Error::Invalid(format!("bad address {}", self.ip)))
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub created: String,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    /// The bridge device: `br-<id[..12]>`.
    pub bridge: String,
    /// Container ID -> endpoint. In the endpoints file (`Attachments`); read from this one
    /// as well, where berth before 2026-11-24 kept them.
    #[serde(default, skip_serializing)]
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Container ID -> the address of a container gone from the network whose namespace the
    /// kernel is still tearing down (`release`): the address stays taken while its veth is
    /// there, so no new container answers for it next to the old one.
    #[serde(default, skip_serializing)]
    pub draining: BTreeMap<String, String>,
    /// The default network (`bridge`): its bridge and rules exist only while it has containers,
    /// and it has no DNS by name, as Docker's default bridge has none.
    #[serde(default)]
    pub default: bool,
}

/// A network's endpoints, kept apart from its configuration: they change at every start and
/// exit of its containers, and need not survive a reboot, after which no container runs. Their
/// file is swapped in whole, not renamed over the old one, as the configuration is: on ext4 a
/// rename over a file writes the new one out at once (`auto_da_alloc`), about 0.25 ms here
/// against 0.08 ms for the swap (bench/README.md). After a crash the file may be empty: no
/// endpoints.
#[derive(Serialize, Deserialize, Default)]
struct Attachments {
    endpoints: BTreeMap<String, Endpoint>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    draining: BTreeMap<String, String>,
}

/// The default network's name, as Docker's.
pub const DEFAULT_NETWORK: &str = "bridge";

impl Network {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    pub fn subnet(&self) -> Result<Subnet> {
        Subnet::parse(&self.subnet)
    }
}

/// What `network create` asks for.
#[derive(Default, Debug, Clone)]
pub struct CreateOptions {
    pub name: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct Networks {
    dir: PathBuf,
}

/// The exclusive lock, held while it lives.
struct Guard(#[allow(dead_code)] File);

/// The host-wide lock over subnet choice (the kernel's routes are shared by every state root).
const HOST_LOCK: &str = "/run/berth-networks.lock";

fn host_lock() -> Result<Guard> {
    let path = Path::new(HOST_LOCK);
    let file = File::options().create(true).truncate(false).write(true).open(path).map_err(io(path))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::Io { path: path.to_path_buf(), source: e.into() })?;
    Ok(Guard(file))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// `key` among `all`: by name, full ID or unique ID prefix.
fn find_in(all: &[Network], key: &str) -> Result<Network> {
    if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
        return Ok(n.clone());
    }
    let by_prefix: Vec<&Network> = all.iter().filter(|n| !key.is_empty() && n.id.starts_with(key)).collect();
    match by_prefix.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(Error::NotFound(key.to_string())),
    }
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Networks {
    pub fn open(root: &Path) -> Result<Networks> {
        let dir = root.join("networks");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Networks { dir })
    }

    /// The directory of the network files (renamed into on every change).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<Guard> {
        let path = self.dir.join("lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::Io { path: path.clone(), source: e.into() })?;
        Ok(Guard(file))
    }

    /// Saves the network whole: its configuration, then its endpoints (`save_endpoints`).
    fn save(&self, network: &Network) -> Result<()> {
        let path = self.dir.join(format!("{}.json", network.id));
        let tmp = self.dir.join(format!(".{}.tmp", network.id));
        let text = serde_json::to_vec_pretty(network).expect("serializable");
        fs::write(&tmp, text).map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        self.save_endpoints(network)
    }

    /// Saves the network's endpoints alone, for a change that leaves its configuration as it is.
    fn save_endpoints(&self, network: &Network) -> Result<()> {
        let path = self.endpoints_path(&network.id);
        let attachments = Attachments { endpoints: network.endpoints.clone(), draining: network.draining.clone() };
        let text = serde_json::to_vec_pretty(&attachments).expect("serializable");
        swap_in(&path, &text).map_err(io(&path))
    }

    fn endpoints_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!(".{id}.endpoints"))
    }

    pub fn list(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let path = entry.map_err(io(&self.dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = fs::read(&path).map_err(io(&path))?;
                let mut network: Network =
                    serde_json::from_slice(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
                // Missing (none yet, or an older berth's network) or unreadable (a crash): the
                // configuration's own, if any.
                let attached = fs::read(self.endpoints_path(&network.id)).ok();
                if let Some(a) = attached.and_then(|text| serde_json::from_slice::<Attachments>(&text).ok()) {
                    (network.endpoints, network.draining) = (a.endpoints, a.draining);
                }
                out.push(network);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// By name, full ID or unique ID prefix, as Docker looks networks up.
    pub fn find(&self, key: &str) -> Result<Network> {
        find_in(&self.list()?, key)
    }

    /// Creates the network: its record, its bridge with the gateway address, its NAT rules.
    /// Nothing is left behind when a step fails.
    pub fn create(&self, options: &CreateOptions) -> Result<Network> {
        if options.name == DEFAULT_NETWORK || options.name == "host" || options.name == "none" {
            return Err(Error::Invalid(format!("network with name {} already exists", options.name)));
        }
        let _guard = self.lock()?;
        // Subnets are picked against the host's routes: two state roots creating networks at
        // once must not both pick the one that is free until the other's bridge is up.
        let _host_guard = host_lock()?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name == options.name) {
            return Err(Error::Exists(options.name.clone()));
        }
        let mut taken: Vec<Subnet> = existing.iter().filter_map(|n| n.subnet().ok()).collect();
        let subnet = match &options.subnet {
            Some(s) => {
                let s = Subnet::parse(s)?;
                if let Some(other) = existing.iter().find(|n| n.subnet().is_ok_and(|t| t.overlaps(&s))) {
                    return Err(Error::Invalid(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({} of network {})",
                        other.subnet, other.name
                    )));
                }
                s
            }
            None => {
                taken.extend(ipam::host_routes());
                ipam::pick_subnet(Subnet::parse(ipam::DEFAULT_POOL)?, &taken)?
            }
        };
        let gateway: Ipv4Addr = match &options.gateway {
            Some(g) => g.parse().map_err(|_| Error::Invalid(format!("invalid gateway address {g}")))?,
            None => subnet.nth(1),
        };
        if !subnet.contains(gateway) {
            return Err(Error::Invalid(format!("gateway {gateway} is not in the subnet {subnet}")));
        }
        let id = random_id();
        let network = Network {
            bridge: format!("br-{}", &id[..12]),
            id,
            name: options.name.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            internal: options.internal,
            labels: options.labels.clone(),
            endpoints: BTreeMap::new(),
            draining: BTreeMap::new(),
            default: false,
        };
        link::bridge_up(&network.bridge, gateway, subnet.prefix)?;
        if let Err(e) = nat::add(&network).and_then(|()| self.save(&network)) {
            let _ = nat::remove(&network.id, &network.bridge);
            let _ = link::bridge_down(&network.bridge);
            return Err(e);
        }
        Ok(network)
    }

    /// The default network's record, made on first use (no kernel objects until a container
    /// joins it).
    pub fn ensure_default(&self) -> Result<Network> {
        let _guard = self.lock()?;
        if let Some(n) = self.list()?.into_iter().find(|n| n.default) {
            return Ok(n);
        }
        let id = random_id();
        let network = Network {
            bridge: format!("br-{}", &id[..12]),
            id,
            name: DEFAULT_NETWORK.to_string(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            // Chosen when its bridge comes up (the host's routes decide).
            subnet: String::new(),
            gateway: String::new(),
            internal: false,
            labels: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            draining: BTreeMap::new(),
            default: true,
        };
        self.save(&network)?;
        Ok(network)
    }

    /// Brings the default network's bridge and rules up for its first container, on a subnet
    /// free on the host now (under the caller's lock).
    fn default_up(&self, network: &mut Network, all: &[Network]) -> Result<()> {
        let _host_guard = host_lock()?;
        let mut taken: Vec<Subnet> = all.iter().filter(|n| !n.default).filter_map(|n| n.subnet().ok()).collect();
        taken.extend(ipam::host_routes());
        let current = network.subnet().ok().filter(|s| !taken.iter().any(|t| t.overlaps(s)));
        let subnet = match current {
            Some(s) => s,
            None => ipam::pick_subnet(Subnet::parse(ipam::DEFAULT_POOL)?, &taken)?,
        };
        network.subnet = subnet.to_string();
        network.gateway = subnet.nth(1).to_string();
        link::bridge_up(&network.bridge, subnet.nth(1), subnet.prefix)?;
        if let Err(e) = nat::add(network) {
            let _ = nat::remove(&network.id, &network.bridge);
            let _ = link::bridge_down(&network.bridge);
            return Err(e);
        }
        Ok(())
    }

    /// Takes the default network's bridge and rules down when it has no container (`network
    /// prune`); returns whether it was up.
    pub fn default_down_if_unused(&self) -> Result<bool> {
        let _guard = self.lock()?;
        let Some(network) = self.list()?.into_iter().find(|n| n.default) else { return Ok(false) };
        let up = Path::new("/sys/class/net").join(&network.bridge).exists();
        if up && network.endpoints.is_empty() {
            Self::default_down(&network);
            return Ok(true);
        }
        Ok(false)
    }

    fn default_down(network: &Network) {
        let _ = nat::remove(&network.id, &network.bridge);
        let _ = link::bridge_down(&network.bridge);
    }

    /// Removes a network without endpoints: rules, bridge, record.
    pub fn remove(&self, key: &str) -> Result<Network> {
        let _guard = self.lock()?;
        let network = self.find(key)?;
        if network.default {
            return Err(Error::Invalid(format!("{} is a pre-defined network and cannot be removed", network.name)));
        }
        if !network.endpoints.is_empty() {
            return Err(Error::Invalid(format!(
                "error while removing network: network {} id {} has active endpoints",
                network.name, network.id
            )));
        }
        nat::remove(&network.id, &network.bridge)?;
        link::bridge_down(&network.bridge)?;
        let path = self.dir.join(format!("{}.json", network.id));
        fs::remove_file(&path).map_err(io(&path))?;
        let _ = fs::remove_file(self.endpoints_path(&network.id));
        Ok(network)
    }

    /// Gives the container an address on the network (the one asked for, or the next free) and
    /// its host ports; returns the network and the endpoint. Its interface is plugged in after
    /// (`plug_sandbox`, or `plug_interface` on a further network).
    pub fn reserve(
        &self,
        key: &str,
        container_id: &str,
        container_name: &str,
        ip: Option<&str>,
        aliases: &[String],
        publish: &[Request],
    ) -> Result<(Network, Endpoint)> {
        let _guard = self.lock()?;
        let all = self.list()?;
        let mut network = find_in(&all, key)?;
        // The default network's bridge comes up with its first container and then stays, as
        // docker0 does (bringing it up costs more than a container start); `network prune`
        // takes it down while it is unused.
        let brought_up = network.default && !Path::new("/sys/class/net").join(&network.bridge).exists();
        if brought_up {
            self.default_up(&mut network, &all)?;
        }
        let chosen = Self::choose_endpoint(&network, &all, container_id, container_name, ip, aliases, publish);
        let endpoint = match chosen {
            Ok(e) => e,
            Err(e) => {
                if brought_up {
                    Self::default_down(&network);
                }
                return Err(e);
            }
        };
        network.endpoints.insert(container_id.to_string(), endpoint.clone());
        network.draining.retain(|id, _| id != container_id && link::veth_exists(id));
        if brought_up {
            self.save(&network)?;
        } else {
            self.save_endpoints(&network)?;
        }
        Ok((network, endpoint))
    }

    /// Plugs the container's sandbox (`link::sandbox_begin`) in at its endpoint on `network`
    /// (`reserve`): `eth0`, the default route (none on an internal network) and the published
    /// ports. On failure the container is detached from every network.
    pub fn plug_sandbox(
        &self,
        sandbox: link::PendingSandbox,
        network: &Network,
        endpoint: &Endpoint,
        container_id: &str,
    ) -> Result<()> {
        let plugged = (|| {
            let prefix = network.subnet()?.prefix;
            let gateway = (!network.internal).then(|| network.gateway.parse().expect("checked"));
            sandbox.finish(&network.bridge, endpoint.address()?, prefix, gateway)?;
            nat::publish(container_id, network, &endpoint.ip, &endpoint.ports)
        })();
        if plugged.is_err() {
            let _ = self.detach(container_id);
        }
        plugged
    }

    /// Gives the container `eth<index>` (index >= 1, in the namespace it has) at its endpoint
    /// on a further network (`reserve`). On failure that endpoint goes.
    pub fn plug_interface(
        &self,
        network: &Network,
        endpoint: &Endpoint,
        container_id: &str,
        index: usize,
    ) -> Result<()> {
        let up = network.subnet().and_then(|subnet| {
            link::interface_up(container_id, index, &network.bridge, endpoint.address()?, subnet.prefix)
        });
        if up.is_err() {
            let _ = self.detach_from(&network.id, container_id, index);
        }
        up
    }

    /// Unplugs the container's `eth<index>` (index >= 1) from one network and frees its address.
    pub fn detach_from(&self, key: &str, container_id: &str, index: usize) -> Result<()> {
        link::interface_down(container_id, index);
        let _guard = self.lock()?;
        let mut network = find_in(&self.list()?, key)?;
        if network.endpoints.remove(container_id).is_some() {
            self.save_endpoints(&network)?;
        }
        Ok(())
    }

    /// The container's address (the one asked for, or the next free) and host ports on
    /// `network`.
    #[allow(clippy::too_many_arguments)]
    fn choose_endpoint(
        network: &Network,
        all: &[Network],
        container_id: &str,
        container_name: &str,
        ip: Option<&str>,
        aliases: &[String],
        publish: &[Request],
    ) -> Result<Endpoint> {
        let subnet = network.subnet()?;
        let gateway: Ipv4Addr = network.gateway.parse().map_err(|_| Error::Invalid("bad gateway".into()))?;
        let used: Vec<Ipv4Addr> = network
            .endpoints
            .iter()
            .map(|(id, e)| (id, &e.ip))
            .chain(network.draining.iter())
            .filter(|(id, _)| id.as_str() != container_id)
            .filter_map(|(_, ip)| ip.parse().ok())
            .collect();
        let address = match ip {
            Some(ip) => {
                let ip: Ipv4Addr = ip.parse().map_err(|_| Error::Invalid(format!("invalid IPv4 address: {ip}")))?;
                if !subnet.contains(ip) || ip == gateway {
                    return Err(Error::Invalid(format!(
                        "no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
                if used.contains(&ip) {
                    return Err(Error::Invalid(format!("Address already in use: {ip}")));
                }
                ip
            }
            None => ipam::next_free(subnet, gateway, &used)?,
        };
        // Host ports are one namespace across every network of this state root.
        let taken: Vec<Mapping> = all
            .iter()
            .flat_map(|n| n.endpoints.iter())
            .filter(|(id, _)| id.as_str() != container_id)
            .flat_map(|(_, e)| e.ports.iter().cloned())
            .collect();
        let ports = ports::allocate(publish, &taken)?;
        Ok(Endpoint {
            container_name: container_name.to_string(),
            ip: address.to_string(),
            aliases: aliases.to_vec(),
            ports,
        })
    }

    /// Unplugs the container from every network and frees its addresses (idempotent); when it
    /// returns, its namespace and veth pairs are gone.
    pub fn detach(&self, container_id: &str) -> Result<()> {
        self.unpublish(container_id)?;
        link::sandbox_down(container_id);
        self.remove_endpoints(container_id, false)
    }

    /// `detach` for a container whose processes are gone, without waiting for the kernel: its
    /// namespace is unpinned, and the kernel takes it and its veth pairs down in the
    /// background (3-30 ms here: RCU grace periods). Until then its addresses stay taken
    /// (`draining`); its own next start waits for its veth to go (`link::sandbox_begin`).
    pub fn release(&self, container_id: &str) -> Result<()> {
        self.unpublish(container_id)?;
        link::namespace_down(container_id);
        self.remove_endpoints(container_id, link::veth_exists(container_id))
    }

    fn unpublish(&self, container_id: &str) -> Result<()> {
        // Rules exist only for an endpoint recorded with ports (attach records it first), so
        // nft is asked only then: listing the table costs a process and ~20 ms.
        let published = self.list()?.iter().any(|n| n.endpoints.get(container_id).is_some_and(|e| !e.ports.is_empty()));
        if published {
            let _ = nat::unpublish(container_id);
        }
        Ok(())
    }

    fn remove_endpoints(&self, container_id: &str, draining: bool) -> Result<()> {
        let _guard = self.lock()?;
        for mut network in self.list()? {
            if let Some(endpoint) = network.endpoints.remove(container_id) {
                network.draining.retain(|id, _| link::veth_exists(id));
                if draining {
                    network.draining.insert(container_id.to_string(), endpoint.ip);
                }
                self.save_endpoints(&network)?;
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to a new file beside `path` and swaps it in (`renameat2` with
/// `RENAME_EXCHANGE`), then removes the old one; with nothing to swap with, renames. Readers see
/// the old file or the new one, never a part of either. The same as the engine's
/// `files::replace_volatile`: netctl and the engine depend on neither one another nor a
/// shared crate.
fn swap_in(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let new = path.with_file_name(format!("{name}.new{}", std::process::id()));
    fs::write(&new, bytes)?;
    let swapped = match renameat_with(CWD, &new, CWD, path, RenameFlags::EXCHANGE) {
        Ok(()) => fs::remove_file(&new),
        Err(_) => fs::rename(&new, path),
    };
    if swapped.is_err() {
        let _ = fs::remove_file(&new);
    }
    swapped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(id: &str) -> Network {
        Network {
            id: id.to_string(),
            name: "n".into(),
            created: String::new(),
            subnet: "10.97.1.0/24".into(),
            gateway: "10.97.1.1".into(),
            internal: false,
            labels: BTreeMap::new(),
            bridge: format!("br-{}", &id[..12]),
            endpoints: BTreeMap::new(),
            draining: BTreeMap::new(),
            default: false,
        }
    }

    fn endpoint(ip: &str) -> Endpoint {
        Endpoint { container_name: "c".into(), ip: ip.into(), aliases: Vec::new(), ports: Vec::new() }
    }

    #[test]
    fn endpoints_change_apart_from_the_configuration() {
        let root = tempfile::tempdir().unwrap();
        let networks = Networks::open(root.path()).unwrap();
        let mut n = network(&"a".repeat(64));
        n.endpoints.insert("c1".into(), endpoint("10.97.1.2"));
        networks.save(&n).unwrap();
        let config_path = networks.dir().join(format!("{}.json", n.id));
        let config = fs::read_to_string(&config_path).unwrap();
        assert!(!config.contains("10.97.1.2"), "{config}");

        n.endpoints.insert("c2".into(), endpoint("10.97.1.3"));
        n.draining.insert("c0".into(), "10.97.1.9".into());
        networks.save_endpoints(&n).unwrap();
        assert_eq!(fs::read_to_string(&config_path).unwrap(), config);
        let listed = networks.list().unwrap();
        assert_eq!(listed[0].endpoints.keys().collect::<Vec<_>>(), ["c1", "c2"]);
        assert_eq!(listed[0].draining["c0"], "10.97.1.9");
        let names: Vec<_> = fs::read_dir(networks.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn an_older_berths_endpoints_are_read_from_the_configuration() {
        let root = tempfile::tempdir().unwrap();
        let networks = Networks::open(root.path()).unwrap();
        let id = "b".repeat(64);
        let old = format!(
            r#"{{"id":"{id}","name":"old","created":"","subnet":"10.97.2.0/24","gateway":"10.97.2.1","internal":false,
            "labels":{{}},"bridge":"br-bbbbbbbbbbbb","endpoints":{{"c1":{{"container_name":"web","ip":"10.97.2.5"}}}}}}"#
        );
        fs::write(networks.dir().join(format!("{id}.json")), old).unwrap();
        assert_eq!(networks.list().unwrap()[0].endpoints["c1"].ip, "10.97.2.5");
        // An endpoints file left empty by a crash: the network has none.
        let mut n = networks.list().unwrap().remove(0);
        n.endpoints.clear();
        networks.save(&n).unwrap();
        fs::write(networks.endpoints_path(&id), "").unwrap();
        assert!(networks.list().unwrap()[0].endpoints.is_empty());
    }
}
