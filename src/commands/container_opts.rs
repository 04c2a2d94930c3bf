//! Turning `run`/`create` flags into the engine's CreateOptions, with Docker's value syntax
//! (`-v src:dst:ro`, `--mount type=bind,...`, `--ulimit nofile=1024:2048`, `-m 512m`,
//! `--cpus 1.5`, `--restart on-failure:3`, durations like `1m30s`).

use std::collections::BTreeMap;

use anyhow::{bail, Context as _, Result};
use engine::container::model::{DeviceMapping, HealthConfig, HostConfig, MountSpec, RestartPolicy, Ulimit};
use engine::container::CreateOptions;

use crate::cli::RunArgs;

/// Go's time.ParseDuration subset Docker accepts: `1h2m3.5s`, `300ms`, `10us`, `5ns`; in ns.
pub fn parse_duration(s: &str) -> Result<i64> {
    let bad = || anyhow::anyhow!("invalid duration {s:?}");
    if s == "0" {
        return Ok(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(total as i64)
}

/// Docker's RAMInBytes: `512`, `64k`, `512m`, `1g` (binary units, optional trailing `b`).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let lower = s.to_ascii_lowercase();
    let trimmed = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, scale) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1i64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    let value: f64 = number.parse().with_context(|| format!("invalid size: '{s}'"))?;
    if value < 0.0 {
        bail!("invalid size: '{s}'");
    }
    Ok((value * scale as f64) as i64)
}

fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let (name, values) = s.split_once('=').with_context(|| format!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let parse = |v: &str| v.parse::<i64>().with_context(|| format!("invalid ulimit argument: {s}"));
    let (soft, hard) = (parse(soft)?, parse(hard)?);
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(Ulimit { name: name.to_string(), soft, hard })
}

pub fn parse_restart(s: &str) -> Result<RestartPolicy> {
    let (name, count) = s.split_once(':').map_or((s, None), |(n, c)| (n, Some(c)));
    let maximum_retry_count = match count {
        Some(c) => c
            .parse()
            .with_context(|| format!("invalid restart policy format: maximum retry count must be an integer: {s}"))?,
        None => 0,
    };
    match name {
        "no" | "" if count.is_none() => Ok(RestartPolicy { name: "no".into(), maximum_retry_count: 0 }),
        "always" | "unless-stopped" if count.is_none() => {
            Ok(RestartPolicy { name: name.into(), maximum_retry_count: 0 })
        }
        "on-failure" => Ok(RestartPolicy { name: name.into(), maximum_retry_count }),
        _ => bail!("invalid restart policy format: {s}"),
    }
}

/// `-v SRC:DST[:OPTS]`, `-v NAME:DST`, `-v DST` (anonymous volume).
pub(crate) fn parse_volume(s: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [target] => ("", *target, ""),
        [source, target] => (*source, *target, ""),
        [source, target, opts] => (*source, *target, *opts),
        _ => bail!("invalid volume specification: '{s}'"),
    };
    if !target.starts_with('/') {
        bail!("invalid volume specification: '{s}': invalid mount config for type \"bind\": invalid mount path: '{target}' mount path must be absolute");
    }
    let mut read_only = false;
    let mut options = Vec::new();
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" | "nocopy" | "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave"
            | "consistent" | "cached" | "delegated" => options.push(opt.to_string()),
            _ => bail!("invalid volume specification: '{s}': invalid mode: {opt}"),
        }
    }
    let kind = if source.starts_with('/') || source.starts_with('.') { "bind" } else { "volume" };
    let source = if kind == "bind" {
        // Docker's `-v` (not `--mount`) makes a missing host path, as a directory.
        if !std::path::Path::new(source).exists() {
            std::fs::create_dir_all(source).with_context(|| format!("creating the bind source {source}"))?;
        }
        std::fs::canonicalize(source)
            .with_context(|| {
                format!("invalid mount config for type \"bind\": bind source path does not exist: {source}")
            })?
            .display()
            .to_string()
    } else {
        source.to_string()
    };
    Ok(MountSpec { kind: kind.into(), source, target: target.into(), read_only, options, ..Default::default() })
}

/// `--mount type=bind,source=/a,target=/b,readonly`, `type=tmpfs,target=/t,tmpfs-size=1m`.
fn parse_mount(s: &str) -> Result<MountSpec> {
    let mut m = MountSpec { kind: "volume".into(), ..Default::default() };
    for field in s.split(',') {
        let (key, value) = field.split_once('=').map_or((field, None), |(k, v)| (k, Some(v)));
        let value_of =
            || value.map(str::to_string).with_context(|| format!("invalid field '{field}' must be a key=value pair"));
        match key {
            "type" => m.kind = value_of()?,
            "source" | "src" => m.source = value_of()?,
            "target" | "destination" | "dst" => m.target = value_of()?,
            "readonly" | "ro" => m.read_only = value.is_none_or(|v| matches!(v, "1" | "true")),
            "tmpfs-size" => m.tmpfs_size = parse_bytes(&value_of()?)?,
            "tmpfs-mode" => m.tmpfs_mode = value_of()?,
            "bind-propagation" | "consistency" | "volume-nocopy" => m.options.push(field.to_string()),
            _ => bail!("unexpected key '{key}' in '{field}'"),
        }
    }
    if m.target.is_empty() {
        bail!("invalid argument \"{s}\" for \"--mount\" flag: target is required");
    }
    if !matches!(m.kind.as_str(), "bind" | "volume" | "tmpfs") {
        bail!("invalid argument \"{s}\" for \"--mount\" flag: invalid mount type {:?}", m.kind);
    }
    if m.kind == "bind" {
        if !std::path::Path::new(&m.source).exists() {
            bail!("invalid mount config for type \"bind\": bind source path does not exist: {}", m.source);
        }
        m.source = std::fs::canonicalize(&m.source)?.display().to_string();
    }
    Ok(m)
}

/// `--tmpfs /path[:opts]`.
fn parse_tmpfs(s: &str) -> Result<MountSpec> {
    let (target, opts) = s.split_once(':').unwrap_or((s, ""));
    if !target.starts_with('/') {
        bail!("invalid tmpfs mount: {s}: mount path must be absolute");
    }
    let mut m = MountSpec { kind: "tmpfs".into(), target: target.into(), ..Default::default() };
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", v)) => m.tmpfs_size = parse_bytes(v)?,
            Some(("mode", v)) => m.tmpfs_mode = v.to_string(),
            _ if opt == "ro" => m.read_only = true,
            _ => m.options.push(opt.to_string()),
        }
    }
    Ok(m)
}

/// `--device /dev/x[:/dev/y][:rwm]`.
fn parse_device(s: &str) -> Result<DeviceMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, container, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if p.chars().all(|c| "rwm".contains(c)) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => bail!("invalid device specification: {s}"),
    };
    if !std::path::Path::new(host).exists() {
        bail!("error gathering device information while adding custom device \"{host}\": no such file or directory");
    }
    Ok(DeviceMapping {
        path_on_host: host.into(),
        path_in_container: container.into(),
        cgroup_permissions: perms.into(),
    })
}

/// Reads `--env-file`: `KEY=VALUE` lines, `KEY` alone takes the host's value, `#` comments.
pub fn read_env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!("{}:{}: variable '{key}' contains whitespaces", path.display(), n + 1);
        }
        out.extend(host_env(line));
    }
    Ok(out)
}

/// `-e KEY=VALUE` as is; `-e KEY` takes the host's value, or is dropped if unset.
pub fn host_env(entry: &str) -> Option<String> {
    if entry.contains('=') {
        Some(entry.to_string())
    } else {
        std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
    }
}

pub fn create_options(args: &RunArgs) -> Result<CreateOptions> {
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_env_file(file)?);
    }
    env.extend(args.env.iter().filter_map(|e| host_env(e)));
    let mut labels = BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut mounts = Vec::new();
    for v in &args.volumes {
        mounts.push(parse_volume(v)?);
    }
    for m in &args.mounts {
        mounts.push(parse_mount(m)?);
    }
    for t in &args.tmpfs {
        mounts.push(parse_tmpfs(t)?);
    }
    let healthcheck = if args.health_cmd.is_some()
        || args.health_interval.is_some()
        || args.health_timeout.is_some()
        || args.health_retries.is_some()
        || args.health_start_period.is_some()
    {
        let duration = |v: &Option<String>| v.as_deref().map(parse_duration).transpose().map(|d| d.unwrap_or(0));
        Some(HealthConfig {
            test: args.health_cmd.as_ref().map(|c| vec!["CMD-SHELL".to_string(), c.clone()]).unwrap_or_default(),
            interval: duration(&args.health_interval)?,
            timeout: duration(&args.health_timeout)?,
            start_period: duration(&args.health_start_period)?,
            start_interval: 0,
            retries: args.health_retries.unwrap_or(0),
        })
    } else {
        None
    };
    if args.rm && args.restart != "no" {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }
    for opt in &args.security_opt {
        if !matches!(
            opt.as_str(),
            "no-new-privileges"
                | "no-new-privileges:true"
                | "no-new-privileges=true"
                | "no-new-privileges:false"
                | "seccomp=unconfined"
                | "seccomp:unconfined"
                | "apparmor=unconfined"
                | "label=disable"
        ) {
            bail!("invalid --security-opt: {opt:?}");
        }
    }
    // A user network's existence is checked by `run`/`create`, which know the state root.
    let network = args.network.clone();
    let mut port_bindings: std::collections::BTreeMap<String, Vec<engine::container::model::PortBinding>> =
        Default::default();
    for spec in &args.publish {
        for r in netctl::ports::parse(spec)? {
            port_bindings
                .entry(r.container)
                .or_default()
                .push(engine::container::model::PortBinding { host_ip: r.host_ip, host_port: r.host_port });
        }
    }
    let host = HostConfig {
        port_bindings: port_bindings.clone(),
        publish_all_ports: args.publish_all,
        network_mode: network,
        restart_policy: parse_restart(&args.restart)?,
        auto_remove: args.rm,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        privileged: args.privileged,
        readonly_rootfs: args.read_only,
        security_opt: args.security_opt.clone(),
        ulimits: args.ulimits.iter().map(|u| parse_ulimit(u)).collect::<Result<_>>()?,
        init: args.init.then_some(true),
        devices: args.devices.iter().map(|d| parse_device(d)).collect::<Result<_>>()?,
        memory: args.memory.as_deref().map(parse_bytes).transpose()?.unwrap_or(0),
        nano_cpus: match &args.cpus {
            Some(c) => {
                let v: f64 = c.parse().with_context(|| format!("invalid argument \"{c}\" for \"--cpus\" flag"))?;
                (v * 1e9) as i64
            }
            None => 0,
        },
        pids_limit: args.pids_limit,
        shm_size: args.shm_size.as_deref().map(parse_bytes).transpose()?.unwrap_or(0),
        binds: args.volumes.clone(),
        mounts,
        extra_hosts: args.add_host.clone(),
        links: args
            .link
            .iter()
            .map(|l| match l.split_once(':') {
                Some((name, alias)) => format!("{}:{alias}", name.trim_start_matches('/')),
                None => format!("{l}:{l}"),
            })
            .collect(),
        dns: args.dns.clone(),
        dns_search: args.dns_search.clone(),
        dns_options: args.dns_option.clone(),
        ..Default::default()
    };
    Ok(CreateOptions {
        image: args.image.clone(),
        name: args.name.clone(),
        cmd: args.command.clone(),
        // `--entrypoint ""` clears the image's entrypoint.
        entrypoint: args.entrypoint.as_ref().map(|e| if e.is_empty() { Vec::new() } else { vec![e.clone()] }),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        tty: args.tty,
        open_stdin: args.interactive,
        labels,
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        healthcheck,
        no_healthcheck: args.no_healthcheck,
        // Published ports are exposed too, as Docker records them.
        endpoint: engine::container::model::EndpointConfig {
            aliases: args.network_alias.clone(),
            ipv4_address: args.ip.clone().unwrap_or_default(),
        },
        exposed_ports: args
            .expose
            .iter()
            .map(|p| if p.contains('/') { p.clone() } else { format!("{p}/tcp") })
            .chain(port_bindings.keys().cloned())
            .collect(),
        host,
        extra_networks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_like_docker() {
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("250ms").unwrap(), 250_000_000);
        assert!(parse_duration("5 s").is_err());
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_restart("on-failure:2").unwrap().maximum_retry_count, 2);
        assert!(parse_restart("sometimes").is_err());
        assert_eq!(parse_ulimit("nofile=1024:2048").unwrap(), Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 });
        let t = parse_tmpfs("/run:size=1m,noexec").unwrap();
        assert_eq!((t.tmpfs_size, t.options), (1 << 20, vec!["noexec".to_string()]));
    }
}
