//! The service configuration hash (the `com.docker.compose.config-hash` label): what `up`
//! compares to decide whether a container must be recreated.

use sha2::{Digest, Sha256};

use crate::model::Service;

/// SHA-256 of the service's JSON, leaving out what does not change the container itself
/// (build instructions, pull policy, scale, profiles, dependencies).
pub fn service_hash(svc: &Service) -> String {
    let mut s = svc.clone();
    s.build = None;
    s.pull_policy = None;
    s.scale = None;
    s.profiles.clear();
    s.depends_on.clear();
    if let Some(d) = &mut s.deploy {
        d.replicas = None;
    }
    let json = serde_json::to_vec(&s).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}
