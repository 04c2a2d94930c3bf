//! How Docker Compose names and labels what it makes, so that berth and `docker compose` read
//! each other's projects: containers `<project>-<service>-<n>`, networks and volumes
//! `<project>_<name>`, and the `com.docker.compose.*` labels.

use std::collections::BTreeMap;

use crate::model::{Project, Service};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const IMAGE: &str = "com.docker.compose.image";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";

/// The Compose version berth's labels claim (the compose-spec level it follows).
pub const COMPOSE_VERSION: &str = "2.30.0";

/// `<project>-<service>-<n>`, or the service's `container_name`.
pub fn container_name(project: &str, service: &str, svc: &Service, number: u32) -> String {
    svc.container_name.clone().unwrap_or_else(|| format!("{project}-{service}-{number}"))
}

/// `<project>-<service>-run-<12 hex>`: a one-off container of `compose run`.
pub fn oneoff_name(project: &str, service: &str, suffix: &str) -> String {
    format!("{project}-{service}-run-{suffix}")
}

/// The image a service runs: its `image`, or `<project>-<service>` for one built from `build`.
pub fn image_name(project: &str, service: &str, svc: &Service) -> String {
    svc.image.clone().unwrap_or_else(|| format!("{project}-{service}"))
}

/// A network's name on the host: its `name`, or `<project>_<key>` (an external one: its name
/// or its key).
pub fn network_name(p: &Project, key: &str) -> String {
    match p.networks.get(key) {
        Some(n) if n.name.is_some() => n.name.clone().unwrap_or_default(),
        Some(n) if n.external => key.to_string(),
        _ => format!("{}_{key}", p.name),
    }
}

/// A volume's name on the host, by the same rule as networks.
pub fn volume_name(p: &Project, key: &str) -> String {
    match p.volumes.get(key) {
        Some(v) if v.name.is_some() => v.name.clone().unwrap_or_default(),
        Some(v) if v.external => key.to_string(),
        _ => format!("{}_{key}", p.name),
    }
}

/// The labels every container of the service carries.
pub fn container_labels(
    p: &Project,
    service: &str,
    svc: &Service,
    number: u32,
    oneoff: bool,
) -> BTreeMap<String, String> {
    let mut labels = svc.labels.clone();
    let files: Vec<String> = p.compose_files.iter().map(|f| f.display().to_string()).collect();
    let depends: Vec<String> =
        svc.depends_on.iter().map(|(name, d)| format!("{name}:{}:{}", d.condition, d.restart)).collect();
    for (k, v) in [
        (PROJECT, p.name.clone()),
        (SERVICE, service.to_string()),
        (NUMBER, number.to_string()),
        (CONFIG_HASH, crate::hash::service_hash(svc)),
        (ONEOFF, if oneoff { "True" } else { "False" }.to_string()),
        (WORKING_DIR, p.working_dir.display().to_string()),
        (CONFIG_FILES, files.join(",")),
        (DEPENDS_ON, depends.join(",")),
        (VERSION, COMPOSE_VERSION.to_string()),
    ] {
        labels.insert(k.to_string(), v);
    }
    labels
}

/// The labels of a network or volume the project creates (`kind` is [`NETWORK`] or [`VOLUME`]).
pub fn resource_labels(p: &Project, kind: &str, key: &str, own: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = own.clone();
    labels.insert(PROJECT.to_string(), p.name.clone());
    labels.insert(kind.to_string(), key.to_string());
    labels.insert(VERSION.to_string(), COMPOSE_VERSION.to_string());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Network;

    #[test]
    fn names_like_compose() {
        let mut p = Project { name: "demo".into(), ..Default::default() };
        p.networks.insert("back".into(), Network { name: Some("shared".into()), ..Default::default() });
        p.networks.insert("ext".into(), Network { external: true, ..Default::default() });
        assert_eq!(network_name(&p, "default"), "demo_default");
        assert_eq!(network_name(&p, "back"), "shared");
        assert_eq!(network_name(&p, "ext"), "ext");
        let svc = Service::default();
        assert_eq!(container_name("demo", "web", &svc, 2), "demo-web-2");
        assert_eq!(image_name("demo", "web", &svc), "demo-web");
        let svc = Service { container_name: Some("mine".into()), ..Default::default() };
        assert_eq!(container_name("demo", "web", &svc, 1), "mine");
    }
}
