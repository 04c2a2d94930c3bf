//! The service graph: `depends_on`, `links`, `network_mode: service:x`, `volumes_from`, and
//! `ipc`/`pid: service:x`. A cycle is an error naming every service on it.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::LoadError;
use crate::model::{Project, Service};

pub struct Graph {
    /// Service to the services it needs started first.
    pub deps: BTreeMap<String, BTreeSet<String>>,
}

/// The services `svc` needs, from every field that refers to another service.
pub fn dependencies(svc: &Service) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = svc.depends_on.keys().cloned().collect();
    for link in &svc.links {
        out.insert(link.split(':').next().unwrap_or(link).to_string());
    }
    for field in [&svc.network_mode, &svc.ipc, &svc.pid] {
        if let Some(s) = field.as_deref().and_then(|m| m.strip_prefix("service:")) {
            out.insert(s.to_string());
        }
    }
    for from in &svc.volumes_from {
        if from.starts_with("container:") {
            continue;
        }
        let name = from.strip_prefix("service:").unwrap_or(from);
        out.insert(name.split(':').next().unwrap_or(name).to_string());
    }
    out
}

impl Graph {
    pub fn of(p: &Project) -> Graph {
        let deps = p
            .services
            .iter()
            .map(|(name, svc)| {
                (name.clone(), dependencies(svc).into_iter().filter(|d| p.services.contains_key(d)).collect())
            })
            .collect();
        Graph { deps }
    }

    /// Fails with the first cycle found, e.g. `a -> b -> a`.
    pub fn check_cycles(&self) -> Result<(), LoadError> {
        self.order().map(|_| ())
    }

    /// Services in an order where each comes after everything it needs.
    pub fn order(&self) -> Result<Vec<String>, LoadError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
        let mut order = Vec::new();
        for start in self.deps.keys() {
            if marks.contains_key(start.as_str()) {
                continue;
            }
            // An explicit stack: (service, its remaining dependencies), so depth is not recursion.
            let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, self.next(start))];
            marks.insert(start, Mark::Visiting);
            while let Some((node, pending)) = stack.last_mut() {
                match pending.pop() {
                    Some(dep) => match marks.get(dep) {
                        Some(Mark::Done) => {}
                        Some(Mark::Visiting) => {
                            let from = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                            let mut cycle: Vec<String> = stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                            cycle.push(dep.to_string());
                            return Err(LoadError::Cycle(cycle));
                        }
                        None => {
                            marks.insert(dep, Mark::Visiting);
                            let next = self.next(dep);
                            stack.push((dep, next));
                        }
                    },
                    None => {
                        let node = *node;
                        marks.insert(node, Mark::Done);
                        order.push(node.to_string());
                        stack.pop();
                    }
                }
            }
        }
        Ok(order)
    }

    fn next(&self, name: &str) -> Vec<&str> {
        // Reversed so that popping visits dependencies in name order.
        self.deps.get(name).map(|d| d.iter().rev().map(String::as_str).collect()).unwrap_or_default()
    }
}
