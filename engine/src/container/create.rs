//! `create`: a container's configuration from the image's defaults and the user's options,
//! combined as Docker combines them, then stored under a reserved name.

use std::collections::BTreeMap;

use super::model::{Config, HealthConfig, HostConfig, MountSpec, Record};
use super::names;
use crate::error::{Error, Result};
use crate::store::Store;

/// Docker's PATH for images that set none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the user asked for (`run`/`create` flags, already parsed).
#[derive(Default, Debug, Clone)]
pub struct CreateOptions {
    pub image: String,
    pub name: Option<String>,
    /// Arguments after the image name.
    pub cmd: Vec<String>,
    /// `--entrypoint` (one word) or compose's `entrypoint` (a list): `Some([])` clears the
    /// image's.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` entries, in order (`--env-file` lines first, then `-e`).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    /// Health flags; fields left at zero/empty keep the image's.
    pub healthcheck: Option<HealthConfig>,
    pub no_healthcheck: bool,
    pub exposed_ports: Vec<String>,
    pub host: HostConfig,
    pub endpoint: super::model::EndpointConfig,
    pub extra_networks: Vec<super::model::ExtraNetwork>,
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// Merges `overrides` into `base`, replacing entries with the same key.
pub fn merge_env(base: &mut Vec<String>, overrides: &[String]) {
    for entry in overrides {
        base.retain(|e| env_key(e) != env_key(entry));
        base.push(entry.clone());
    }
}

impl Store {
    pub fn create_container(&mut self, options: &CreateOptions) -> Result<Record> {
        let image_id = self.resolve_image(&options.image)?;
        let image = self.image_config(&image_id)?.config;
        if let Some(name) = &options.name {
            if !names::valid_name(name) {
                return Err(Error::Invalid(format!(
                    "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }

        // Docker: a new entrypoint drops the image's CMD; arguments replace CMD.
        let entrypoint = match &options.entrypoint {
            Some(e) => e.clone(),
            None => image.entrypoint.clone().unwrap_or_default(),
        };
        let cmd = if !options.cmd.is_empty() {
            options.cmd.clone()
        } else if options.entrypoint.is_some() {
            Vec::new()
        } else {
            image.cmd.clone().unwrap_or_default()
        };
        let argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
        let Some((path, args)) = argv.split_first() else {
            return Err(Error::Invalid("No command specified".into()));
        };

        let mut env = image.env.clone();
        if !env.iter().any(|e| env_key(e) == "PATH") {
            env.insert(0, DEFAULT_PATH.to_string());
        }
        merge_env(&mut env, &options.env);

        let mut labels = image.labels.clone();
        labels.extend(options.labels.clone());
        let mut exposed_ports = image.exposed_ports.clone();
        for p in &options.exposed_ports {
            exposed_ports.insert(p.clone(), serde_json::json!({}));
        }
        let healthcheck = if options.no_healthcheck {
            Some(HealthConfig { test: vec!["NONE".into()], ..Default::default() })
        } else {
            let base: Option<HealthConfig> =
                image.healthcheck.as_ref().and_then(|h| serde_json::from_value(h.clone()).ok());
            match (base, &options.healthcheck) {
                (base, None) => base,
                (None, Some(user)) => Some(user.clone()),
                (Some(base), Some(user)) => Some(HealthConfig {
                    test: if user.test.is_empty() { base.test } else { user.test.clone() },
                    interval: if user.interval == 0 { base.interval } else { user.interval },
                    timeout: if user.timeout == 0 { base.timeout } else { user.timeout },
                    start_period: if user.start_period == 0 { base.start_period } else { user.start_period },
                    start_interval: if user.start_interval == 0 { base.start_interval } else { user.start_interval },
                    retries: if user.retries == 0 { base.retries } else { user.retries },
                }),
            }
        };

        let id = names::random_id();
        let config = Config {
            hostname: options.hostname.clone().unwrap_or_else(|| id[..12].to_string()),
            user: options.user.clone().unwrap_or(image.user.clone()),
            attach_stdin: options.open_stdin,
            attach_stdout: true,
            attach_stderr: true,
            exposed_ports,
            tty: options.tty,
            open_stdin: options.open_stdin,
            stdin_once: options.open_stdin,
            env,
            cmd,
            healthcheck,
            image: options.image.clone(),
            volumes: image.volumes.clone(),
            working_dir: options.workdir.clone().unwrap_or(image.working_dir.clone()),
            entrypoint,
            labels,
            stop_signal: options.stop_signal.clone().unwrap_or(image.stop_signal.clone()),
            stop_timeout: options.stop_timeout,
            ..Default::default()
        };
        let mut host = options.host.clone();
        if host.network_mode.is_empty() || host.network_mode == "default" {
            host.network_mode = "bridge".into();
        }
        // Every image VOLUME the user did not mount over becomes an anonymous volume.
        for path in image.volumes.keys() {
            if !host.mounts.iter().any(|m| m.target.trim_end_matches('/') == path.trim_end_matches('/')) {
                host.mounts.push(MountSpec { kind: "volume".into(), target: path.clone(), ..Default::default() });
            }
        }
        for m in host.mounts.iter_mut().filter(|m| m.kind == "volume") {
            let volume = self.create_volume((!m.source.is_empty()).then_some(m.source.as_str()), &BTreeMap::new())?;
            m.source = volume.name;
        }
        let mut record = Record {
            id: id.clone(),
            name: String::new(),
            created: crate::time::now(),
            image: image_id.clone(),
            path: path.clone(),
            args: args.to_vec(),
            config,
            host_config: host,
            endpoint: options.endpoint.clone(),
            extra_networks: options.extra_networks.clone(),
            layers: self.db.image_layers(&image_id)?,
        };
        let volumes: Vec<String> =
            record.host_config.mounts.iter().filter(|m| m.kind == "volume").map(|m| m.source.clone()).collect();
        match &options.name {
            Some(name) => {
                record.name = name.clone();
                self.insert_container(&record)?;
            }
            None => {
                // A random name is retried when taken; a chosen one is an error.
                let mut tries = 0;
                loop {
                    record.name = names::random_name();
                    match self.insert_container(&record) {
                        Err(Error::Conflict(_)) if tries < 20 => tries += 1,
                        other => break other?,
                    }
                }
            }
        }
        for volume in &volumes {
            self.attach_volume(&record.id, volume)?;
        }
        Ok(record)
    }
}
