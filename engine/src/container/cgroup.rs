//! A running container's cgroups, found from its PID 1 (`/proc/<pid>/cgroup`), so pause,
//! stats and top work whatever layout the runtime chose: v1, v2, or this machine's hybrid.

use std::fs;
use std::path::PathBuf;

use crate::error::{Error, IoContext, Result};

/// The directory of `controller` (a v1 name such as `freezer`, or "" for the v2 hierarchy)
/// for process `pid`.
pub fn cgroup_dir(pid: i32, controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        if matches {
            let base = if controller.is_empty() {
                // v2: the unified mount, at the top or beside v1 hierarchies (hybrid).
                if PathBuf::from("/sys/fs/cgroup/cgroup.controllers").exists() {
                    "/sys/fs/cgroup".to_string()
                } else {
                    "/sys/fs/cgroup/unified".to_string()
                }
            } else {
                format!(
                    "/sys/fs/cgroup/{}",
                    if controller == "cpuacct" && PathBuf::from("/sys/fs/cgroup/cpu,cpuacct").exists() {
                        "cpu,cpuacct"
                    } else {
                        controller
                    }
                )
            };
            return Some(PathBuf::from(format!("{base}{path}")));
        }
    }
    None
}

/// Whether the container is frozen (paused).
pub fn is_frozen(pid: i32) -> bool {
    if let Some(dir) = cgroup_dir(pid, "freezer") {
        return fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN");
    }
    cgroup_dir(pid, "").is_some_and(|d| fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1"))
}

/// Freezes or thaws every process of the container.
pub fn set_frozen(pid: i32, frozen: bool) -> Result<()> {
    if let Some(dir) = cgroup_dir(pid, "freezer").filter(|d| d.join("freezer.state").exists()) {
        let path = dir.join("freezer.state");
        fs::write(&path, if frozen { "FROZEN" } else { "THAWED" }).at(&path)?;
        // The kernel freezes asynchronously: wait until it says so.
        for _ in 0..1000 {
            let now = fs::read_to_string(&path).unwrap_or_default();
            if now.trim() == if frozen { "FROZEN" } else { "THAWED" } {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        return Err(Error::Invalid("the container did not freeze in time".into()));
    }
    if let Some(dir) = cgroup_dir(pid, "").filter(|d| d.join("cgroup.freeze").exists()) {
        let path = dir.join("cgroup.freeze");
        return fs::write(&path, if frozen { "1" } else { "0" }).at(&path);
    }
    Err(Error::Invalid("no freezer cgroup for this container".into()))
}

/// Resource use for `stats`.
#[derive(Debug, Default, Clone)]
pub struct Usage {
    pub memory: u64,
    pub memory_limit: u64,
    pub cpu_ns: u64,
    pub pids: u64,
}

fn read_u64(path: PathBuf) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn usage(pid: i32) -> Usage {
    let mut u = Usage::default();
    if let Some(d) = cgroup_dir(pid, "memory") {
        u.memory = read_u64(d.join("memory.usage_in_bytes")).unwrap_or(0);
        u.memory_limit = read_u64(d.join("memory.limit_in_bytes")).unwrap_or(0);
    } else if let Some(d) = cgroup_dir(pid, "") {
        u.memory = read_u64(d.join("memory.current")).unwrap_or(0);
        u.memory_limit = read_u64(d.join("memory.max")).unwrap_or(0);
    }
    if let Some(d) = cgroup_dir(pid, "cpuacct") {
        u.cpu_ns = read_u64(d.join("cpuacct.usage")).unwrap_or(0);
    }
    if let Some(d) = cgroup_dir(pid, "pids").or_else(|| cgroup_dir(pid, "")) {
        u.pids = read_u64(d.join("pids.current")).unwrap_or(0);
    }
    u
}

/// The host PIDs of every process in the container (same PID namespace as its PID 1).
pub fn processes(pid: i32) -> Vec<i32> {
    let Ok(ns) = fs::read_link(format!("/proc/{pid}/ns/pid")) else { return Vec::new() };
    let mut out: Vec<i32> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|p| fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|n| n == ns))
        .collect();
    out.sort_unstable();
    out
}

/// The v1 controllers the runtime puts a container into (libcgroups' list), by directory name.
const V1_CONTROLLERS: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// Makes the cgroup at `path` (as the spec's `cgroupsPath`) in every hierarchy the runtime
/// will put the container into, with its cpuset's CPUs and memory nodes copied from the
/// parent, as libcgroups would: a cgroup's mkdir costs the kernel tens of microseconds per
/// controller, and made ahead (`Launcher::prepare`) it leaves the runtime's path to PID 1,
/// which finds the directories there. Best effort: what fails here, the runtime does itself.
pub fn precreate(path: &str) {
    let base = std::path::Path::new("/sys/fs/cgroup");
    let relative = path.trim_start_matches('/');
    if base.join("cgroup.controllers").exists() {
        let _ = fs::create_dir_all(base.join(relative));
        return;
    }
    for controller in V1_CONTROLLERS {
        let hierarchy = base.join(controller);
        if !hierarchy.is_dir() {
            continue;
        }
        let dir = hierarchy.join(relative);
        if fs::create_dir_all(&dir).is_err() || controller != "cpuset" {
            continue;
        }
        // A cpuset cgroup takes no process until it has CPUs and memory nodes.
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let parent = dir.parent().map(|p| fs::read_to_string(p.join(file)).unwrap_or_default());
            if let Some(value) = parent.filter(|v| !v.trim().is_empty()) {
                let _ = fs::write(dir.join(file), value);
            }
        }
    }
}

/// Writes the container's limits and device rules (the spec's `linux.resources`) into its
/// cgroups at `path`, as the runtime's intermediate process would after joining them
/// (libcgroups' `apply`): made ahead, with the cgroups (`precreate`), they leave its path to
/// PID 1. Whether all of it was written; the runtime writes it all again otherwise.
pub fn apply_resources(path: &str, resources: serde_json::Value) -> bool {
    use libcgroups::common::{create_cgroup_manager, CgroupConfig, CgroupManager, ControllerOpt};
    let Ok(resources) = serde_json::from_value(resources) else { return false };
    let config = CgroupConfig { cgroup_path: path.into(), systemd_cgroup: false, container_name: String::new() };
    let Ok(manager) = create_cgroup_manager(config) else { return false };
    let options =
        ControllerOpt { resources: &resources, freezer_state: None, oom_score_adj: None, disable_oom_killer: false };
    manager.apply(&options).is_ok()
}

/// Removes the (empty) cgroup at `path` (as the spec's `cgroupsPath`, relative to each
/// hierarchy) from every hierarchy that has it: the v2 root, or each v1 controller's. A busy one
/// (EBUSY: it has processes) is tried again until `busy_wait` has passed, and the others are
/// removed all the same. `Ok(false)` when one stayed busy: the caller then needs a delete that
/// kills its processes.
pub fn remove_empty(path: &str, busy_wait: std::time::Duration) -> std::io::Result<bool> {
    let base = std::path::Path::new("/sys/fs/cgroup");
    let relative = path.trim_start_matches('/');
    let mut dirs = vec![base.join(relative)];
    if !base.join("cgroup.controllers").exists() {
        for entry in fs::read_dir(base)? {
            let entry = entry?;
            // cpu,cpuacct and its links: each hierarchy once, by its real directory.
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path().join(relative));
            }
        }
    }
    let deadline = std::time::Instant::now() + busy_wait;
    let mut all_removed = true;
    for dir in dirs {
        loop {
            match fs::remove_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                // The last of PID 1's namespace may still be on its way out.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    all_removed = false;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(all_removed)
}
