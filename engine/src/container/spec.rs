//! The OCI runtime spec (`config.json` of a bundle) for a container, from its record: what
//! Docker's daemon would hand runc. Built as JSON: the runtime reads it from the bundle anyway.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Value};

use super::model::{MountSpec, Record};
use super::user::Identity;

/// Docker's default capability set (`CapEff: 00000000a80425fb`).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability by name, in bit order (`CAP_CHOWN` is bit 0).
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's masked paths: hidden behind /dev/null (files) or an empty read-only tmpfs (dirs).
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Syscalls refused with EPERM unless a capability that legitimately needs them was added.
/// Docker's profile is an allow-list; this deny-list refuses the same dangerous calls (kernel
/// modules, kexec, the keyring, namespaces and mounts, clock, swap, reboot, raw I/O) with far
/// fewer rules to load at every start. Names the kernel lacks are skipped by the runtime.
const SECCOMP_DENY: &[(&str, &[&str])] = &[
    ("", &["add_key", "keyctl", "request_key", "kexec_load", "kexec_file_load", "userfaultfd", "uselib", "ustat"]),
    ("", &["sysfs", "_sysctl", "nfsservctl", "create_module", "get_kernel_syms", "query_module"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "mount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "swapon",
            "swapoff",
            "bpf",
            "perf_event_open",
            "lookup_dcookie",
            "quotactl",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "fanotify_init",
            "name_to_handle_at",
        ],
    ),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_TIME", &["settimeofday", "clock_settime", "clock_adjtime"]),
    ("CAP_SYS_PTRACE", &["process_vm_readv", "process_vm_writev", "kcmp"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_NICE", &["mbind", "set_mempolicy", "move_pages"]),
    ("CAP_SYSLOG", &["syslog"]),
];

/// What `--privileged` and `--cap-add ALL` give: every capability berth itself holds in its
/// bounding set (this machine's root lacks CAP_SYS_RESOURCE; asking for it fails the start).
fn all_available_caps() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string())))
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
        .unwrap_or(u64::MAX);
    ALL_CAPS.iter().enumerate().filter(|(bit, _)| bounding & (1 << bit) != 0).map(|(_, c)| c.to_string()).collect()
}

/// The capabilities after `--cap-add`/`--cap-drop` (`ALL` allowed in both), as Docker
/// combines them: drops apply to the default set, adds win over drops.
pub fn capabilities(record: &Record) -> Vec<String> {
    let host = &record.host_config;
    if host.privileged {
        return all_available_caps();
    }
    let norm = |c: &String| {
        let c = c.to_ascii_uppercase();
        if c == "ALL" || c.starts_with("CAP_") {
            c
        } else {
            format!("CAP_{c}")
        }
    };
    let adds: Vec<String> = host.cap_add.iter().map(norm).collect();
    let drops: Vec<String> = host.cap_drop.iter().map(norm).collect();
    let mut caps: Vec<String> = if adds.iter().any(|c| c == "ALL") {
        all_available_caps()
    } else {
        let mut base: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
        if drops.iter().any(|c| c == "ALL") {
            base.clear();
        } else {
            base.retain(|c| !drops.contains(c));
        }
        base
    };
    for c in adds.into_iter().filter(|c| c != "ALL") {
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    caps
}

/// The `process` object: what runs, as whom, with which capabilities.
pub fn process(args: &[String], env: &[String], cwd: &str, tty: bool, identity: &Identity, record: &Record) -> Value {
    let caps = capabilities(record);
    let no_new_privileges =
        record.host_config.security_opt.iter().any(|o| o == "no-new-privileges" || o == "no-new-privileges:true");
    // Docker gives a tty process TERM=xterm unless it sets its own.
    let mut env = env.to_vec();
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    // HOME from the user's passwd entry ("/" without one) when the image sets none, as runc's
    // init does. The runtime would otherwise look the user up itself, through glibc's NSS
    // inside the container, on the way to PID 1 (an exec's identity has no home: it does).
    if !identity.home.is_empty() && !env.iter().any(|e| e.strip_prefix("HOME=").is_some_and(|h| !h.is_empty())) {
        env.retain(|e| !e.starts_with("HOME="));
        env.push(format!("HOME={}", identity.home));
    }
    let mut process = json!({
        "terminal": tty,
        "user": {"uid": identity.uid, "gid": identity.gid},
        "args": args,
        "env": env,
        "cwd": if cwd.is_empty() { "/" } else { cwd },
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
    });
    // Only when asked: libcontainer 0.7 loads seccomp after dropping capabilities whenever
    // the field is present, even as `false`, and that load then fails with EACCES.
    if no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if !identity.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(identity.additional_gids);
    }
    // rlimits are inherited from the monitor unless --ulimit asks (DESIGN.md section 6).
    let rlimits: Vec<Value> = record
        .host_config
        .ulimits
        .iter()
        .map(|u| json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()), "soft": u.soft, "hard": u.hard}))
        .collect();
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    process
}

fn tmpfs_options(m: &MountSpec) -> Vec<String> {
    let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
    if m.read_only {
        options.push("ro".into());
    }
    if m.tmpfs_size > 0 {
        options.push(format!("size={}", m.tmpfs_size));
    }
    if !m.tmpfs_mode.is_empty() {
        options.push(format!("mode={}", m.tmpfs_mode));
    }
    options.extend(m.options.iter().cloned());
    options
}

/// The mounts: Docker's standard set, the /etc files berth writes, then the user's.
fn mounts(record: &Record, container_dir: &Path, volumes_dir: &Path) -> Vec<Value> {
    let privileged = record.host_config.privileged;
    let shm_size = if record.host_config.shm_size > 0 { record.host_config.shm_size } else { 64 << 20 };
    let mut out = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}),
    ];
    for name in ["resolv.conf", "hostname", "hosts"] {
        out.push(json!({"destination": format!("/etc/{name}"), "type": "bind",
                        "source": container_dir.join(name), "options": ["rbind", "rprivate"]}));
    }
    for m in &record.host_config.mounts {
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if m.read_only {
            options.push("ro".into());
        }
        let mount = match m.kind.as_str() {
            "tmpfs" => json!({"destination": m.target, "type": "tmpfs", "source": "tmpfs",
                              "options": tmpfs_options(m)}),
            "volume" => json!({"destination": m.target, "type": "bind",
                               "source": volumes_dir.join(&m.source).join("_data"), "options": options}),
            _ => json!({"destination": m.target, "type": "bind", "source": m.source, "options": options}),
        };
        out.push(mount);
    }
    out
}

/// The container's cgroup, relative to each hierarchy.
pub fn cgroups_path(record: &Record) -> String {
    format!("/berth/{}", record.id)
}

/// The spec's `linux.resources`: the cgroup limits and device rules.
pub fn resources(record: &Record) -> Result<Value, String> {
    let host = &record.host_config;
    let mut rules =
        if host.privileged { vec![json!({"allow": true, "access": "rwm"})] } else { default_device_rules() };
    for d in &host.devices {
        rules.push(device(&d.path_on_host, &d.path_in_container, &d.cgroup_permissions)?.1);
    }
    let mut resources = json!({"devices": rules});
    if host.memory > 0 {
        resources["memory"] = json!({"limit": host.memory});
    }
    if host.nano_cpus > 0 {
        let period: i64 = 100_000;
        resources["cpu"] = json!({"quota": host.nano_cpus * period / 1_000_000_000, "period": period});
    }
    if let Some(limit) = host.pids_limit.filter(|l| *l != 0) {
        resources["pids"] = json!({"limit": limit});
    }
    Ok(resources)
}

/// A host device for `--device`: the spec's device entry and its cgroup rule.
fn device(path_on_host: &str, path_in_container: &str, permissions: &str) -> Result<(Value, Value), String> {
    let meta = std::fs::metadata(path_on_host).map_err(|e| {
        format!("error gathering device information while adding custom device \"{path_on_host}\": {e}")
    })?;
    let kind = if meta.file_type().is_char_device() {
        "c"
    } else if meta.file_type().is_block_device() {
        "b"
    } else {
        return Err(format!(
            "error gathering device information while adding custom device \"{path_on_host}\": not a device node"
        ));
    };
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let target = if path_in_container.is_empty() { path_on_host } else { path_in_container };
    let access = if permissions.is_empty() { "rwm" } else { permissions };
    Ok((
        json!({"path": target, "type": kind, "major": major, "minor": minor, "fileMode": meta.mode() & 0o7777,
               "uid": meta.uid(), "gid": meta.gid()}),
        json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": access}),
    ))
}

/// The runtime makes these itself, and /dev/ptmx and /dev/console are its to set up.
const RUNTIME_DEVICES: &[&str] =
    &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/urandom", "/dev/random", "/dev/ptmx", "/dev/console"];

/// `--privileged`: every device node of the host's /dev, as Docker gives (not its pts, shm or
/// mqueue mounts, and not what the runtime makes itself).
fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            let kind = meta.file_type();
            if kind.is_dir() {
                if !matches!(path.to_str(), Some("/dev/pts" | "/dev/shm" | "/dev/mqueue")) {
                    dirs.push(path);
                }
                continue;
            }
            let text = path.to_string_lossy();
            if RUNTIME_DEVICES.contains(&text.as_ref()) || !(kind.is_char_device() || kind.is_block_device()) {
                continue;
            }
            if let Ok((dev, _)) = device(&text, "", "rwm") {
                out.push(dev);
            }
        }
    }
    out
}

/// Docker's default device cgroup rules: deny all, then the standard nodes and ptys.
fn default_device_rules() -> Vec<Value> {
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    for (kind, major, minor) in
        [("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9), ("c", 5, 0), ("c", 5, 2), ("c", 10, 200)]
    {
        rules.push(json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": "rwm"}));
    }
    rules.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
    rules.push(json!({"allow": true, "type": "c", "access": "m"}));
    rules.push(json!({"allow": true, "type": "b", "access": "m"}));
    rules
}

fn seccomp(caps: &[String]) -> Value {
    let mut denied: Vec<&str> = Vec::new();
    for (cap, names) in SECCOMP_DENY {
        if cap.is_empty() || !caps.iter().any(|c| c == cap) {
            denied.extend_from_slice(names);
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    })
}

/// The container's seccomp profile, as its spec has it: Docker's default, widened by the
/// capabilities it is given; none when privileged or `--security-opt seccomp=unconfined`.
pub fn seccomp_profile(record: &Record) -> Option<Value> {
    let host = &record.host_config;
    let unconfined = host.security_opt.iter().any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined");
    (!host.privileged && !unconfined).then(|| seccomp(&capabilities(record)))
}

/// Where `--init` finds its init: a static tini (Debian's `tini` package), as Docker ships
/// tini as docker-init. Static, so it runs in any image.
const INIT_CANDIDATES: &[&str] = &["/usr/bin/tini-static", "/usr/libexec/docker/docker-init", "/usr/bin/docker-init"];

/// Where the init is mounted in the container, as Docker mounts it.
const INIT_TARGET: &str = "/sbin/docker-init";

fn init_binary() -> Result<&'static str, String> {
    INIT_CANDIDATES
        .iter()
        .copied()
        .find(|p| Path::new(p).is_file())
        .ok_or_else(|| "--init: no init binary found: install tini (apt-get install tini)".to_string())
}

/// Where the container's namespaces come from: new ones, or a path to join.
pub struct Namespaces<'a> {
    /// `None`: the host's network; `Some(None)`: a new one; `Some(Some(path))`: join it.
    pub network: Option<Option<&'a Path>>,
}

/// The whole spec for the container's PID 1.
pub fn spec(
    record: &Record,
    rootfs: &Path,
    container_dir: &Path,
    volumes_dir: &Path,
    identity: &Identity,
    namespaces: &Namespaces,
) -> Result<Value, String> {
    let host = &record.host_config;
    let mut argv: Vec<String> = std::iter::once(record.path.clone()).chain(record.args.iter().cloned()).collect();
    let init = if host.init == Some(true) { Some(init_binary()?) } else { None };
    if init.is_some() {
        argv.splice(0..0, [INIT_TARGET.to_string(), "--".to_string()]);
    }
    let config = &record.config;
    let process = process(&argv, &config.env, &config.working_dir, config.tty, identity, record);
    let mut ns = vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
    match namespaces.network {
        None => {}
        Some(None) => ns.push(json!({"type": "network"})),
        Some(Some(path)) => ns.push(json!({"type": "network", "path": path})),
    }
    let resources = resources(record)?;
    let mut devices = if host.privileged { host_devices() } else { Vec::new() };
    for d in &host.devices {
        devices.push(device(&d.path_on_host, &d.path_in_container, &d.cgroup_permissions)?.0);
    }
    let mut linux = json!({
        "namespaces": ns,
        "resources": resources,
        "cgroupsPath": cgroups_path(record),
        "devices": devices,
    });
    if !host.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if let Some(profile) = seccomp_profile(record) {
        linux["seccomp"] = profile;
    }
    let mut mounts = mounts(record, container_dir, volumes_dir);
    if let Some(init) = init {
        mounts.push(json!({"destination": INIT_TARGET, "type": "bind", "source": init, "options": ["rbind", "ro"]}));
    }
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": rootfs, "readonly": host.readonly_rootfs},
        "hostname": record.config.hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::model::{Config, HostConfig};

    fn record(host: HostConfig) -> Record {
        Record {
            id: "a".repeat(64),
            name: "t".into(),
            created: String::new(),
            image: crate::digest::Digest::of_bytes(b"x"),
            path: "sh".into(),
            args: vec![],
            config: Config::default(),
            host_config: host,
            endpoint: Default::default(),
            extra_networks: Vec::new(),
            layers: Vec::new(),
        }
    }

    #[test]
    fn cap_add_and_drop_combine_as_docker_does() {
        let caps = capabilities(&record(HostConfig {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["net_admin".into()],
            ..Default::default()
        }));
        assert_eq!(caps, ["CAP_NET_ADMIN"]);
        let caps = capabilities(&record(HostConfig { cap_drop: vec!["CHOWN".into()], ..Default::default() }));
        assert_eq!(caps.len(), DEFAULT_CAPS.len() - 1);
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        let all = capabilities(&record(HostConfig { privileged: true, ..Default::default() }));
        assert!(all.len() > DEFAULT_CAPS.len() && all.len() <= ALL_CAPS.len());
        assert!(all.contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn an_added_capability_unblocks_its_syscalls() {
        let plain = seccomp(&[]);
        let names = |v: &Value| {
            v["syscalls"][0]["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert!(names(&plain).contains(&"mount".to_string()));
        let admin = seccomp(&["CAP_SYS_ADMIN".to_string()]);
        assert!(!names(&admin).contains(&"mount".to_string()));
        assert!(names(&admin).contains(&"kexec_load".to_string()), "never allowed");
    }
}
