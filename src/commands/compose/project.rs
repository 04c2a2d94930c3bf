//! What every compose command shares: loading the project, finding its containers by their
//! labels, and the progress lines (` Container demo-web-1  Started`) Compose prints.

use std::collections::BTreeMap;

use anyhow::Result;
use compose::labels;
use compose::Project;
use engine::container::model::{Record, State};
use engine::Store;

use super::{load_options, print_warnings, ComposeArgs};

/// A compose error already printed; the command exits 1, as Docker Compose does.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("compose error")
    }
}

impl std::error::Error for Reported {}

/// Loads the project the global flags name; errors are printed here.
pub fn load(global: &ComposeArgs) -> Result<Project> {
    match compose::load(&load_options(global)) {
        Ok(p) => {
            print_warnings(&p.warnings);
            Ok(p)
        }
        Err(e) => {
            eprintln!("{e}");
            Err(Reported.into())
        }
    }
}

/// For commands on existing containers: with `-p NAME` and no `-f`, the project if its files
/// load and `None` quietly otherwise (`down -p NAME` works from anywhere, as Compose's does);
/// else the project, or the loader's error.
pub fn load_for_existing(global: &ComposeArgs) -> Result<Option<Project>> {
    match (&global.project_name, global.files.is_empty()) {
        (Some(_), true) => Ok(compose::load(&load_options(global)).ok()),
        _ => Ok(Some(load(global)?)),
    }
}

/// The project's name without loading its files when `-p` gives it (so `down`, `ps` and
/// `logs` work from anywhere, as Compose's do); otherwise from the files.
pub fn name_only(global: &ComposeArgs) -> Result<String> {
    match &global.project_name {
        Some(name) if global.files.is_empty() => Ok(name.clone()),
        _ => Ok(load(global)?.name),
    }
}

/// One container of a project.
pub struct Member {
    pub record: Record,
    pub state: State,
}

impl Member {
    pub fn service(&self) -> &str {
        self.record.config.labels.get(labels::SERVICE).map_or("", String::as_str)
    }

    pub fn number(&self) -> u32 {
        self.record.config.labels.get(labels::NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    pub fn oneoff(&self) -> bool {
        self.record.config.labels.get(labels::ONEOFF).is_some_and(|v| v == "True")
    }

    /// Whether the container has a healthcheck (its health is "starting" until the monitor
    /// first reports).
    pub fn has_healthcheck(&self) -> bool {
        self.record.config.healthcheck.as_ref().is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"))
    }

    pub fn running(&self) -> bool {
        self.state.status.is_running()
    }

    /// `web-1`: the name Compose prints in log prefixes.
    pub fn short_name(&self) -> String {
        if self.oneoff() {
            self.record.name.clone()
        } else {
            format!("{}-{}", self.service(), self.number())
        }
    }
}

/// Every container labelled with the project, in (service, number) order.
pub fn members(store: &Store, project: &str) -> Result<Vec<Member>> {
    let mut out = Vec::new();
    for id in store.container_ids()? {
        let Ok(record) = store.container(&id) else { continue };
        if record.config.labels.get(labels::PROJECT).map(String::as_str) != Some(project) {
            continue;
        }
        let state = store.observed_state(&id)?;
        out.push(Member { record, state });
    }
    out.sort_by(|a, b| (a.service(), a.number(), &a.record.name).cmp(&(b.service(), b.number(), &b.record.name)));
    Ok(out)
}

/// Every project that has containers: name -> its containers.
pub fn all_projects(store: &Store) -> Result<BTreeMap<String, Vec<Member>>> {
    let mut out: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for id in store.container_ids()? {
        let Ok(record) = store.container(&id) else { continue };
        let Some(project) = record.config.labels.get(labels::PROJECT).cloned() else { continue };
        let state = store.observed_state(&id)?;
        out.entry(project).or_default().push(Member { record, state });
    }
    Ok(out)
}

/// A resource's state changed (` Container demo-web-1  Started`), shown as `--progress` says.
pub fn event(kind: &str, name: &str, status: &str) {
    super::progress::event(kind, name, status);
}

/// The services named on the command line must exist in the project.
pub fn check_services(project: &Project, names: &[String]) -> Result<()> {
    for name in names {
        if !project.services.contains_key(name) {
            if project.disabled_services.contains_key(name) {
                eprintln!("service {name:?} has profiles that are not enabled");
            } else {
                eprintln!("no such service: {name}");
            }
            return Err(Reported.into());
        }
    }
    Ok(())
}
