//! The engine configuration: one file in the format of Docker's `daemon.json`
//! (`/etc/berth/daemon.json`, or `--config`). Keys that apply to berth are honoured; a key
//! berth does not know, or a value of the wrong type, is an error that names it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const DEFAULT_CONFIG: &str = "/etc/berth/daemon.json";
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_RUNROOT: &str = "/run/berth";

#[derive(Deserialize, Serialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EngineConfig {
    /// Root of persistent state (`--root` wins over it).
    #[serde(default)]
    pub data_root: Option<PathBuf>,
    #[serde(default)]
    pub registry_mirrors: Vec<String>,
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Blobs a pull fetches at once (Docker's default: 3).
    #[serde(default)]
    pub max_concurrent_downloads: Option<usize>,
    /// Layers a push sends at once (Docker's default: 5).
    #[serde(default)]
    pub max_concurrent_uploads: Option<usize>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_opts: Vec<String>,
    #[serde(default)]
    pub default_address_pools: Vec<AddressPool>,
    #[serde(default)]
    pub log_opts: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

impl EngineConfig {
    /// Reads the configuration. A missing file at the default path is an empty configuration;
    /// a missing file named explicitly is an error.
    pub fn load(path: Option<&Path>) -> Result<EngineConfig> {
        let explicit = path.is_some();
        let path = path.unwrap_or(Path::new(DEFAULT_CONFIG));
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(EngineConfig::default()),
            Err(source) => return Err(Error::Io { path: path.to_path_buf(), source }),
        };
        EngineConfig::parse(&text).map_err(|why| Error::Invalid(format!("{}: {why}", path.display())))
    }

    /// Parses daemon.json text; the error names the key and the line.
    pub fn parse(text: &str) -> std::result::Result<EngineConfig, String> {
        let config: EngineConfig = serde_json::from_str(text).map_err(|e| {
            // serde says "unknown field `x`, expected one of ..."; keep the first clause.
            let message = e.to_string();
            let message = message.split(", expected").next().unwrap_or(&message).to_string();
            let message = message.split(" at line").next().unwrap_or(&message).to_string();
            format!("line {}: {message}", e.line())
        })?;
        for pool in &config.default_address_pools {
            let ok = pool.base.split_once('/').is_some_and(|(ip, len)| {
                ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
            });
            if !ok || pool.size > 32 {
                return Err(format!("default-address-pools: invalid pool {:?}/{}", pool.base, pool.size));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unknown_and_mistyped_keys() {
        let err = EngineConfig::parse("{\n \"storage-driver\": \"overlay2\"\n}").unwrap_err();
        assert_eq!(err, "line 2: unknown field `storage-driver`");
        let err = EngineConfig::parse("{\"dns\": \"8.8.8.8\"}").unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        let ok = EngineConfig::parse(r#"{"data-root":"/x","registry-mirrors":["https://m"],"default-address-pools":[{"base":"10.99.0.0/16","size":24}]}"#).unwrap();
        assert_eq!(ok.registry_mirrors, ["https://m"]);
    }
}
