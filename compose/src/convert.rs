//! A service as the engine's `CreateOptions` (what `docker run` flags would say), and the
//! project's networks and volumes as netctl's and the engine's requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::container::model::{
    DeviceMapping, EndpointConfig, ExtraNetwork, HealthConfig, HostConfig, MountSpec, PortBinding, RestartPolicy,
    Ulimit,
};
use engine::container::CreateOptions;

use crate::labels;
use crate::model::{FileObject, Project, Service, Ulimit as ComposeUlimit};

/// What a service's container needs beyond the service itself.
pub struct Container<'a> {
    pub project: &'a Project,
    pub service: &'a str,
    pub svc: &'a Service,
    pub number: u32,
    /// The container's name (`<project>-<service>-<n>`, `container_name` or a one-off's).
    pub name: String,
    pub oneoff: bool,
    /// The image ID, for the `com.docker.compose.image` label.
    pub image_id: String,
    /// Where secrets and configs with inline or environment content are written.
    pub files_dir: &'a Path,
}

/// The network key a service's containers join (none with `network_mode`): its network with
/// the highest priority (ties: by name), else the project's `default`.
fn primary_network_key(svc: &Service) -> Option<String> {
    if svc.network_mode.is_some() {
        return None;
    }
    let by_priority = svc.networks.iter().max_by_key(|(name, n)| {
        (n.as_ref().and_then(|n| n.priority).unwrap_or(0), std::cmp::Reverse(name.to_string()))
    });
    Some(by_priority.map_or_else(|| "default".to_string(), |(name, _)| name.clone()))
}

/// The container's network mode: `network_mode`, else its primary network's host name.
pub fn primary_network(p: &Project, svc: &Service) -> String {
    match &svc.network_mode {
        Some(mode) => mode.clone(),
        None => labels::network_name(p, &primary_network_key(svc).unwrap_or_default()),
    }
}

fn duration_ns(d: &Option<crate::units::Duration>) -> i64 {
    d.map_or(0, |d| d.nanos)
}

fn healthcheck(svc: &Service) -> (Option<HealthConfig>, bool) {
    let Some(h) = &svc.healthcheck else { return (None, false) };
    if h.disable || h.test.as_deref().is_some_and(|t| t.first().is_some_and(|f| f == "NONE")) {
        return (None, true);
    }
    let config = HealthConfig {
        test: h.test.clone().unwrap_or_default(),
        interval: duration_ns(&h.interval),
        timeout: duration_ns(&h.timeout),
        start_period: duration_ns(&h.start_period),
        start_interval: duration_ns(&h.start_interval),
        retries: h.retries.map_or(0, |r| r as i64),
    };
    (Some(config), false)
}

fn restart_policy(svc: &Service) -> Result<RestartPolicy, String> {
    let text = match (&svc.restart, svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref())) {
        (Some(r), _) => r.clone(),
        (None, Some(p)) => match p.condition.as_deref() {
            Some("none") => "no".to_string(),
            Some("on-failure") => match p.max_attempts {
                Some(n) => format!("on-failure:{n}"),
                None => "on-failure".to_string(),
            },
            _ => "always".to_string(),
        },
        (None, None) => "no".to_string(),
    };
    let (name, count) = text.split_once(':').map_or((text.as_str(), None), |(n, c)| (n, Some(c)));
    let maximum_retry_count = match count {
        Some(c) => c.parse().map_err(|_| format!("invalid restart policy: {text}"))?,
        None => 0,
    };
    match name {
        "no" | "always" | "unless-stopped" | "on-failure" => {
            Ok(RestartPolicy { name: name.to_string(), maximum_retry_count })
        }
        _ => Err(format!("invalid restart policy: {text}")),
    }
}

/// Where a secret's or config's content is: its file, or a file written under `dir` from its
/// `environment` or `content`.
fn file_object_source(kind: &str, name: &str, obj: &FileObject, p: &Project, dir: &Path) -> Result<PathBuf, String> {
    if let Some(file) = &obj.file {
        return Ok(PathBuf::from(file));
    }
    let content = if let Some(var) = &obj.environment {
        p.environment
            .get(var)
            .cloned()
            .or_else(|| std::env::var(var).ok())
            .ok_or_else(|| format!("environment variable {var:?} required by {kind} {name:?} is not set"))?
    } else if let Some(content) = &obj.content {
        content.clone()
    } else {
        return Err(format!("{kind} {name:?} has no file, environment or content"));
    };
    let path = dir.join(kind).join(name);
    std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn mounts(c: &Container) -> Result<Vec<MountSpec>, String> {
    let (p, svc) = (c.project, c.svc);
    let mut out = Vec::new();
    for v in &svc.volumes {
        let mut m =
            MountSpec { kind: v.kind.clone(), target: v.target.clone(), read_only: v.read_only, ..Default::default() };
        match v.kind.as_str() {
            "volume" => {
                if let Some(source) = v.source.as_deref().filter(|s| !s.is_empty()) {
                    m.source = labels::volume_name(p, source);
                }
            }
            "bind" => {
                let source = v.source.clone().unwrap_or_default();
                if !Path::new(&source).exists() {
                    if v.bind.as_ref().is_none_or(|b| b.create_host_path) {
                        std::fs::create_dir_all(&source).map_err(|e| format!("creating {source}: {e}"))?;
                    } else {
                        return Err(format!("bind source path does not exist: {source}"));
                    }
                }
                m.source = source;
                if let Some(propagation) = v.bind.as_ref().and_then(|b| b.propagation.clone()) {
                    m.options.push(propagation);
                }
            }
            "tmpfs" => {
                if let Some(t) = &v.tmpfs {
                    m.tmpfs_size = t.size.map_or(0, |s| s.0);
                    m.tmpfs_mode = t.mode.map(|mode| format!("{mode:o}")).unwrap_or_default();
                }
            }
            other => return Err(format!("service {:?}: volume type {other:?} is not supported", c.service)),
        }
        out.push(m);
    }
    for t in &svc.tmpfs {
        let (target, opts) = t.split_once(':').unwrap_or((t, ""));
        let mut m = MountSpec { kind: "tmpfs".into(), target: target.into(), ..Default::default() };
        m.options = opts.split(',').filter(|o| !o.is_empty()).map(str::to_string).collect();
        out.push(m);
    }
    for (kind, refs, objects, default_dir) in
        [("secrets", &svc.secrets, &p.secrets, "/run/secrets/"), ("configs", &svc.configs, &p.configs, "/")]
    {
        for r in refs {
            let obj = objects
                .get(&r.source)
                .ok_or_else(|| format!("service {:?} refers to undefined {kind} {:?}", c.service, r.source))?;
            let source = file_object_source(kind, &r.source, obj, p, c.files_dir)?;
            let target = match &r.target {
                Some(t) if t.starts_with('/') => t.clone(),
                Some(t) => format!("{default_dir}{t}"),
                None => format!("{default_dir}{}", r.source),
            };
            out.push(MountSpec {
                kind: "bind".into(),
                source: source.display().to_string(),
                target,
                read_only: true,
                ..Default::default()
            });
        }
    }
    Ok(out)
}

/// The container `up`, `create` or `run` makes for the service.
pub fn create_options(c: &Container) -> Result<CreateOptions, String> {
    let (p, svc) = (c.project, c.svc);
    let mut labels = labels::container_labels(p, c.service, svc, c.number, c.oneoff);
    labels.insert(labels::IMAGE.to_string(), c.image_id.clone());
    let env = svc.environment.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))).collect();
    let mut port_bindings: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    let mut exposed: Vec<String> =
        svc.expose.iter().map(|e| if e.contains('/') { e.clone() } else { format!("{e}/tcp") }).collect();
    for port in &svc.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        exposed.push(key.clone());
        port_bindings.entry(key).or_default().push(PortBinding {
            host_ip: port.host_ip.clone().unwrap_or_default(),
            host_port: port.published.clone().unwrap_or_default(),
        });
    }
    let (healthcheck, no_healthcheck) = healthcheck(svc);
    let limits = svc.deploy.as_ref().and_then(|d| d.resources.as_ref()).and_then(|r| r.limits.as_ref());
    // `service:NAME` is left for the caller, who knows that service's container.
    let network_mode = primary_network(p, svc);
    // The service name is an alias on every network, so every replica answers to it.
    let endpoint_on = |key: &str| {
        let attach = svc.networks.get(key).cloned().flatten().unwrap_or_default();
        let mut aliases = vec![c.service.to_string()];
        aliases.extend(attach.aliases.iter().cloned());
        EndpointConfig { aliases, ipv4_address: attach.ipv4_address.clone().unwrap_or_default() }
    };
    let primary = primary_network_key(svc);
    let endpoint = primary.as_deref().map(endpoint_on).unwrap_or_default();
    // The other networks, by priority then name, after the primary one.
    let mut others: Vec<(&String, i64)> = svc
        .networks
        .iter()
        .filter(|(key, _)| Some(key.as_str()) != primary.as_deref())
        .map(|(key, n)| (key, n.as_ref().and_then(|n| n.priority).unwrap_or(0)))
        .collect();
    others.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let extra_networks = if primary.is_some() {
        others
            .into_iter()
            .map(|(key, _)| ExtraNetwork { name: labels::network_name(p, key), endpoint: endpoint_on(key) })
            .collect()
    } else {
        Vec::new()
    };
    let host = HostConfig {
        network_mode,
        restart_policy: restart_policy(svc).map_err(|e| format!("service {:?}: {e}", c.service))?,
        cap_add: svc.cap_add.clone(),
        cap_drop: svc.cap_drop.clone(),
        privileged: svc.privileged,
        readonly_rootfs: svc.read_only,
        security_opt: svc.security_opt.clone(),
        ulimits: svc
            .ulimits
            .iter()
            .map(|(name, u)| {
                let (soft, hard) = match u {
                    ComposeUlimit::Single(v) => (*v, *v),
                    ComposeUlimit::Range { soft, hard } => (*soft, *hard),
                };
                Ulimit { name: name.clone(), soft, hard }
            })
            .collect(),
        init: svc.init,
        devices: svc
            .devices
            .iter()
            .map(|d| DeviceMapping {
                path_on_host: d.source.clone(),
                path_in_container: d.target.clone(),
                cgroup_permissions: d.permissions.clone().unwrap_or_else(|| "rwm".into()),
            })
            .collect(),
        memory: svc.mem_limit.or(limits.and_then(|l| l.memory)).map_or(0, |b| b.0),
        nano_cpus: svc.cpus.or(limits.and_then(|l| l.cpus)).map_or(0, |c| (c * 1e9) as i64),
        pids_limit: svc.pids_limit.or(limits.and_then(|l| l.pids)),
        shm_size: svc.shm_size.map_or(0, |b| b.0),
        mounts: mounts(c)?,
        port_bindings,
        extra_hosts: svc.extra_hosts.clone(),
        // `links: [db:database]`: the converge step resolves service names to containers.
        links: svc.links.iter().map(|l| if l.contains(':') { l.clone() } else { format!("{l}:{l}") }).collect(),
        dns: svc.dns.clone(),
        dns_search: svc.dns_search.clone(),
        dns_options: svc.dns_opt.clone(),
        ..Default::default()
    };
    Ok(CreateOptions {
        image: labels::image_name(&p.name, c.service, svc),
        name: Some(c.name.clone()),
        cmd: svc.command.clone().unwrap_or_default(),
        entrypoint: svc.entrypoint.clone(),
        env,
        workdir: svc.working_dir.clone(),
        user: svc.user.clone(),
        hostname: svc.hostname.clone(),
        tty: svc.tty,
        open_stdin: svc.stdin_open,
        labels,
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc.stop_grace_period.map(|d| d.nanos / 1_000_000_000),
        healthcheck,
        no_healthcheck,
        exposed_ports: exposed,
        host,
        endpoint,
        extra_networks,
    })
}

/// The services whose containers this one shares something with (`network_mode: service:x`,
/// `volumes_from`): when one of them is recreated, this one must be too.
pub fn parents(svc: &Service) -> Vec<String> {
    let mut out: Vec<String> =
        svc.network_mode.as_deref().and_then(|m| m.strip_prefix("service:")).map(str::to_string).into_iter().collect();
    for from in svc.volumes_from.iter().filter(|f| !f.starts_with("container:")) {
        let name = from.strip_prefix("service:").unwrap_or(from);
        out.push(name.split(':').next().unwrap_or(name).to_string());
    }
    out
}

/// The network `up` creates for the project's `key`.
pub fn network_options(p: &Project, key: &str) -> netctl::store::CreateOptions {
    let n = p.networks.get(key).cloned().unwrap_or_default();
    let pool = n.ipam.as_ref().and_then(|i| i.config.first());
    netctl::store::CreateOptions {
        name: labels::network_name(p, key),
        subnet: pool.and_then(|c| c.subnet.clone()),
        gateway: pool.and_then(|c| c.gateway.clone()),
        internal: n.internal,
        labels: labels::resource_labels(p, labels::NETWORK, key, &n.labels),
    }
}

/// The networks the project's services use (keys, `default` included when used).
pub fn used_networks(p: &Project) -> Vec<String> {
    let mut keys: Vec<String> = p.services.values().filter_map(primary_network_key).collect();
    for svc in p.services.values() {
        keys.extend(svc.networks.keys().cloned());
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The named volumes the project's services use.
pub fn used_volumes(p: &Project) -> Vec<String> {
    let mut keys: Vec<String> = p
        .services
        .values()
        .flat_map(|s| &s.volumes)
        .filter(|v| v.kind == "volume")
        .filter_map(|v| v.source.clone())
        .filter(|s| !s.is_empty())
        .collect();
    keys.extend(p.volumes.keys().cloned());
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Port, ServiceVolume};

    #[test]
    fn a_service_becomes_run_flags() {
        let mut p = Project { name: "demo".into(), ..Default::default() };
        let mut svc = Service {
            image: Some("busybox".into()),
            command: Some(vec!["httpd".into(), "-f".into()]),
            ports: vec![Port {
                mode: "ingress".into(),
                target: 80,
                published: Some("8080".into()),
                protocol: "tcp".into(),
                ..Default::default()
            }],
            volumes: vec![ServiceVolume {
                kind: "volume".into(),
                source: Some("data".into()),
                target: "/data".into(),
                ..Default::default()
            }],
            restart: Some("on-failure:3".into()),
            ..Default::default()
        };
        svc.environment.insert("A".into(), Some("1".into()));
        svc.environment.insert("UNSET".into(), None);
        p.services.insert("web".into(), svc.clone());
        let dir = std::env::temp_dir();
        let c = Container {
            project: &p,
            service: "web",
            svc: &svc,
            number: 1,
            name: "demo-web-1".into(),
            oneoff: false,
            image_id: "sha256:x".into(),
            files_dir: &dir,
        };
        let o = create_options(&c).unwrap();
        assert_eq!(o.name.as_deref(), Some("demo-web-1"));
        assert_eq!(o.env, vec!["A=1".to_string()]);
        assert_eq!(o.host.network_mode, "demo_default");
        assert_eq!(o.endpoint.aliases, vec!["web".to_string()]);
        assert_eq!(o.host.port_bindings["80/tcp"][0].host_port, "8080");
        assert_eq!(o.host.mounts[0].source, "demo_data");
        assert_eq!(o.host.restart_policy.maximum_retry_count, 3);
        assert_eq!(o.labels[labels::SERVICE], "web");
        assert_eq!(o.labels[labels::NUMBER], "1");
        assert_eq!(used_networks(&p), vec!["default".to_string()]);
        assert_eq!(used_volumes(&p), vec!["data".to_string()]);
    }
}
