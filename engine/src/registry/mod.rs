//! Registries (the distribution API, v2): pull, push, login and search. A small blocking
//! client on `ureq` (docs/architecture.md, "Registries", says why): blobs stream to and from
//! the store, downloads run on a few plain threads that are joined before a pull returns, so
//! no runtime or thread outlives it.
//!
//! - `transport`: one client per registry endpoint: requests, the auth challenge, redirects.
//! - `auth`: `WWW-Authenticate` parsing and token scopes.
//! - `credentials`: `~/.docker/config.json` and `docker-credential-*` helpers.
//! - `pull`, `push`, `search`: the operations; `progress`: what they report as they go.

pub mod auth;
pub mod credentials;
pub mod progress;
pub mod pull;
pub mod push;
pub mod search;
pub mod transport;

use std::net::IpAddr;
use std::path::PathBuf;

use crate::reference::DEFAULT_DOMAIN;

/// What a user can act on; the messages follow Docker's where Docker has one.
#[derive(thiserror::Error, Debug)]
pub enum RegistryError {
    /// No connection, TLS failure, timeout: the host and the cause.
    #[error("registry {host} is unreachable: {cause}")]
    Unreachable { host: String, cause: String },
    /// The registry does not know the repository (or hides it from us).
    #[error("pull access denied for {0}, repository does not exist or may require 'docker login'")]
    RepositoryUnknown(String),
    /// The repository exists, the tag or digest does not.
    #[error("manifest for {0} not found: manifest unknown")]
    ManifestUnknown(String),
    /// Credentials missing or refused.
    #[error("{host}: unauthorized: {detail}")]
    Unauthorized { host: String, detail: String },
    /// A push the registry refused (no permission to write).
    #[error("denied: requested access to the resource is denied ({0})")]
    Denied(String),
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatchingPlatform(String),
    /// The registry answered something berth cannot use.
    #[error("{0}")]
    Protocol(String),
    #[error("error getting credentials: {0}")]
    Credentials(String),
}

/// The registry part of the engine configuration, plus per-command flags.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// `registry-mirrors`: tried in order for Docker Hub, before the hub itself.
    pub mirrors: Vec<String>,
    /// `insecure-registries`: hosts (`host[:port]`) or CIDRs.
    pub insecure: Vec<String>,
    /// `--tls-verify=false`: no certificate checks, plain HTTP allowed, for every registry.
    pub tls_verify: bool,
    /// Per-registry CA certificates: `<certs_dir>/<host[:port]>/*.crt`.
    pub certs_dir: PathBuf,
    /// Where `config.json` lives (`DOCKER_CONFIG`, else `~/.docker`).
    pub docker_config: PathBuf,
    /// Blobs fetched at once (`max-concurrent-downloads`).
    pub max_concurrent: usize,
    /// Layers sent at once (`max-concurrent-uploads`).
    pub max_concurrent_uploads: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            mirrors: Vec::new(),
            insecure: Vec::new(),
            tls_verify: true,
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
            docker_config: credentials::default_dir(),
            max_concurrent: 3,
            max_concurrent_uploads: 5,
        }
    }
}

/// Docker Hub's API host, and the key its credentials are stored under.
pub const HUB_REGISTRY: &str = "registry-1.docker.io";
pub const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// One place to try: `https://host` (or `http://`), and what it is.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `scheme://host[:port]`, no trailing slash.
    pub base: String,
    /// `host[:port]`: the key for credentials and CA certificates.
    pub host: String,
    /// Certificates are not verified (an insecure registry).
    pub insecure: bool,
    /// A configured mirror: its failure is reported, then the next endpoint is tried.
    pub mirror: bool,
}

impl Endpoint {
    /// The key its credentials are stored under in config.json.
    pub fn auth_key(&self) -> String {
        if self.host == HUB_REGISTRY || self.host == "index.docker.io" || self.host == DEFAULT_DOMAIN {
            HUB_AUTH_KEY.to_string()
        } else {
            self.host.clone()
        }
    }
}

/// `host[:port]` of a URL (`http://h:5000/x` -> `h:5000`).
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// Is this registry insecure (plain HTTP allowed, certificates not checked)? Loopback
/// addresses and `localhost` always are, as Docker treats 127.0.0.0/8; then the configured
/// hosts and CIDRs.
pub fn is_insecure(domain: &str, options: &RegistryOptions) -> bool {
    if !options.tls_verify {
        return true;
    }
    let host = match domain.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => domain.split(':').next().unwrap_or(domain),
    };
    if host == "localhost" {
        return true;
    }
    let ip: Option<IpAddr> = host.parse().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    options.insecure.iter().any(|entry| {
        let entry = entry.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
        if entry == domain || entry == host {
            return true;
        }
        match (entry.split_once('/'), ip) {
            (Some((net, len)), Some(ip)) => in_cidr(ip, net, len),
            _ => false,
        }
    })
}

fn in_cidr(ip: IpAddr, net: &str, len: &str) -> bool {
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) if len <= 128 => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Where to pull a reference's repository from, in order: for Docker Hub the mirrors, then the
/// hub; for an insecure registry HTTPS (unverified), then plain HTTP; else HTTPS.
pub fn endpoints(domain: &str, options: &RegistryOptions, with_mirrors: bool) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if domain == DEFAULT_DOMAIN {
        if with_mirrors {
            for m in &options.mirrors {
                let base = m.trim_end_matches('/');
                let base = if base.contains("://") { base.to_string() } else { format!("https://{base}") };
                let host = url_host(&base).to_string();
                out.push(Endpoint { insecure: is_insecure(&host, options), host, base, mirror: true });
            }
        }
        out.push(Endpoint {
            base: format!("https://{HUB_REGISTRY}"),
            host: HUB_REGISTRY.into(),
            insecure: !options.tls_verify,
            mirror: false,
        });
        return out;
    }
    let insecure = is_insecure(domain, options);
    out.push(Endpoint { base: format!("https://{domain}"), host: domain.into(), insecure, mirror: false });
    if insecure {
        out.push(Endpoint { base: format!("http://{domain}"), host: domain.into(), insecure, mirror: false });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_like_docker() {
        let mut o = RegistryOptions::default();
        assert!(is_insecure("localhost:5000", &o));
        assert!(is_insecure("127.0.0.1:5000", &o));
        assert!(is_insecure("[::1]:5000", &o));
        assert!(!is_insecure("registry.example:5000", &o));
        o.insecure = vec!["registry.example:5000".into(), "10.1.0.0/16".into()];
        assert!(is_insecure("registry.example:5000", &o));
        assert!(is_insecure("10.1.2.3:443", &o));
        assert!(!is_insecure("10.2.2.3", &o));
        let e = endpoints("127.0.0.1:5000", &o, true);
        assert_eq!(
            e.iter().map(|e| e.base.as_str()).collect::<Vec<_>>(),
            ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
        );
        o.mirrors = vec!["http://127.0.0.1:1/".into()];
        let e = endpoints("docker.io", &o, true);
        assert_eq!(e[0].base, "http://127.0.0.1:1");
        assert!(e[0].mirror);
        assert_eq!(e[1].base, "https://registry-1.docker.io");
        assert_eq!(e[1].auth_key(), HUB_AUTH_KEY);
    }
}
