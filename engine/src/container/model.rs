//! A container as stored: its configuration (Docker's `Config` and `HostConfig`, so `inspect`
//! prints them as Docker does) and its state. The configuration is written once at create; the
//! state changes as the container runs, and is written by whichever process changes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

/// Docker's `Config`: what runs, after the image's defaults were merged in.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub exposed_ports: BTreeMap<String, Value>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub healthcheck: Option<HealthConfig>,
    pub image: String,
    pub volumes: BTreeMap<String, Value>,
    pub working_dir: String,
    pub entrypoint: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
}

/// Docker's healthcheck: `Test` is `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", script]`;
/// durations in nanoseconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// "", "no", "always", "on-failure", "unless-stopped"
    pub name: String,
    pub maximum_retry_count: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// One mount, in Docker's `--mount` terms (what `-v` and `--tmpfs` also become).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    /// "bind", "volume" or "tmpfs"
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path (bind), volume name (volume; empty for an anonymous one), empty (tmpfs).
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// tmpfs size in bytes (0: the kernel's default)
    #[serde(skip_serializing_if = "is_zero")]
    pub tmpfs_size: i64,
    /// tmpfs mode, or "" for the default
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tmpfs_mode: String,
    /// Extra mount options (`-v a:b:ro,z`, `--tmpfs /x:rw,noexec`)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Docker's `HostConfig`: how the container runs on this host.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Vec<String>,
    pub network_mode: String,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Vec<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub ulimits: Vec<Ulimit>,
    pub init: Option<bool>,
    pub devices: Vec<DeviceMapping>,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    pub shm_size: i64,
    pub mounts: Vec<MountSpec>,
    /// `-p`: `80/tcp` -> the host addresses and ports asked for ("" for a random port).
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `-P`: every exposed port on a random host port.
    pub publish_all_ports: bool,
    /// `--add-host`: `name:ip` lines for /etc/hosts.
    pub extra_hosts: Vec<String>,
    /// `--dns`, `--dns-search`, `--dns-option` (or the engine configuration's `dns`,
    /// `dns-search`, `dns-opts` when the container sets none of its own).
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--link NAME[:ALIAS]`, stored as `NAME:ALIAS`: the other container's address under
    /// both names in /etc/hosts.
    pub links: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// The stored configuration of one container (`containers/<id>/config.json`).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image ID the container was created from.
    pub image: Digest,
    /// The command, resolved: entrypoint + cmd.
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    /// `--network-alias` and `--ip` on the container's network (Docker's EndpointSettings).
    #[serde(default)]
    pub endpoint: EndpointConfig,
    /// Networks beyond the first (`network connect`, a compose service on several networks),
    /// in the order they were joined: `eth1`, `eth2`, ...
    #[serde(default)]
    pub extra_networks: Vec<ExtraNetwork>,
    /// The image's layers (chain IDs, lowest first) when the container was created: the
    /// monitor mounts the rootfs from them without the store's database. Empty in records
    /// written before berth kept them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Digest>,
}

/// A further network of a container, with its endpoint settings there.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExtraNetwork {
    pub name: String,
    pub endpoint: EndpointConfig,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointConfig {
    pub aliases: Vec<String>,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
}

impl Record {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// Where a container is in its life, as Docker names it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether PID 1 is (or is about to be) there: running, paused or restarting.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthLog {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// "starting", "healthy" or "unhealthy"
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthLog>,
}

/// The changing part (`containers/<id>/state.json`).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct State {
    pub status: Status,
    /// PID 1 of the container, as the host sees it (0 when not running).
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22): a recycled PID
    /// is never mistaken for the container.
    pub pid_start: u64,
    pub monitor_pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub restart_count: i64,
    pub oom_killed: bool,
    /// Set by `stop`/`kill`: the restart policy must not bring it back.
    pub stopped_by_user: bool,
    pub health: Option<Health>,
}

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
