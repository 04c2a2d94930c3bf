//! Which services the active profiles enable.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::Service;

/// Services with no profile, with an active profile (`*` activates all), or named on the command
/// line; a named service also activates its own profiles.
pub fn enabled(services: &BTreeMap<String, Service>, active: &[String], named: &[String]) -> BTreeSet<String> {
    let mut active: BTreeSet<&str> = active.iter().map(String::as_str).collect();
    for name in named {
        if let Some(s) = services.get(name) {
            active.extend(s.profiles.iter().map(String::as_str));
        }
    }
    let all = active.contains("*");
    services
        .iter()
        .filter(|(name, s)| {
            s.profiles.is_empty()
                || all
                || s.profiles.iter().any(|p| active.contains(p.as_str()))
                || named.contains(name)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Every profile any service names, sorted.
pub fn all(services: impl Iterator<Item = impl std::ops::Deref<Target = Service>>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for s in services {
        out.extend(s.profiles.iter().cloned());
    }
    out.into_iter().collect()
}
