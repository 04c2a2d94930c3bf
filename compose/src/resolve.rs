//! The merged tree to the typed project: env files read, profiles applied, every service
//! checked field by field, defaults filled (default network, resource names, Dockerfile),
//! references checked, the graph checked for cycles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::de::from_node;
use crate::error::{LoadError, Pos};
use crate::graph::Graph;
use crate::model::{Extensions, FileObject, Network, Project, Service, Volume};
use crate::yaml::{Key, Map, Node, Value};
use crate::{dotenv, profiles, unsupported};

pub struct Input {
    pub name: String,
    pub project_dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub profiles: Vec<String>,
    pub services: Vec<String>,
    pub files: Vec<PathBuf>,
}

pub fn project(mut tree: Node, input: Input) -> Result<Project, LoadError> {
    let mut spans = BTreeMap::new();
    record_spans(&tree, "", &mut spans);
    let empty = Map::default();
    if let Some(services) = tree.map_mut().and_then(|t| t.get_mut("services")).and_then(Node::map_mut) {
        for (k, svc) in services.0.iter_mut() {
            if let Some(s) = svc.map_mut() {
                read_env_files(s, &format!("services.{}", k.name), &input.env)?;
            }
        }
    }
    let top = tree.map().unwrap_or(&empty);
    let mut project = Project {
        name: input.name.clone(),
        working_dir: input.project_dir.clone(),
        compose_files: input.files.clone(),
        environment: input.env.clone(),
        extensions: extensions(top),
        spans,
        ..Project::default()
    };

    let mut all = BTreeMap::new();
    if let Some(services) = top.get("services").and_then(Node::map) {
        for (k, node) in services.iter() {
            // The compose spec's pattern for service names.
            let valid =
                !k.name.is_empty() && k.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                let msg = format!("{:?} is not a valid service name: only [a-zA-Z0-9._-] are allowed", k.name);
                return Err(LoadError::invalid(&k.pos, "services", msg));
            }
            let path = format!("services.{}", k.name);
            let mut svc: Service = from_node(node, &path)?;
            svc.extensions = node.map().map(extensions).unwrap_or_default();
            fill_service(&mut svc, &input.env);
            all.insert(k.name.clone(), svc);
        }
    }
    for s in &input.services {
        if !all.contains_key(s) {
            return Err(LoadError::Usage(format!("no such service: {s}")));
        }
    }
    let enabled = profiles::enabled(&all, &input.profiles, &input.services);
    for (name, svc) in all {
        if enabled.contains(&name) {
            project.services.insert(name, svc);
        } else {
            project.disabled_services.insert(name, svc);
        }
    }

    project.networks = section(top, "networks", &input.name, |n: &mut Network, key, name| {
        if n.name.is_none() {
            n.name = Some(if n.external { key.to_string() } else { format!("{name}_{key}") });
        }
    })?;
    project.volumes = section(top, "volumes", &input.name, |v: &mut Volume, key, name| {
        if v.name.is_none() {
            v.name = Some(if v.external { key.to_string() } else { format!("{name}_{key}") });
        }
    })?;
    let file_object = |o: &mut FileObject, key: &str, name: &str| {
        if o.name.is_none() {
            o.name = Some(if o.external { key.to_string() } else { format!("{name}_{key}") });
        }
    };
    project.secrets = section(top, "secrets", &input.name, file_object)?;
    project.configs = section(top, "configs", &input.name, file_object)?;

    default_network(&mut project);
    check_references(&project)?;
    Graph::of(&project).check_cycles()?;
    project.warnings.extend(unsupported::warnings(&project));
    Ok(project)
}

/// Deserializes one top-level section and names its entries.
fn section<T: serde::de::DeserializeOwned + HasExtensions + Default>(
    top: &Map,
    key: &str,
    project_name: &str,
    mut name: impl FnMut(&mut T, &str, &str),
) -> Result<BTreeMap<String, T>, LoadError> {
    let mut out = BTreeMap::new();
    let Some(m) = top.get(key).and_then(Node::map) else { return Ok(out) };
    for (k, node) in m.iter() {
        let mut v: T = crate::de::from_node_owned(node, &format!("{key}.{}", k.name))?;
        *v.extensions_mut() = node.map().map(extensions).unwrap_or_default();
        name(&mut v, &k.name, project_name);
        out.insert(k.name.clone(), v);
    }
    Ok(out)
}

pub trait HasExtensions {
    fn extensions_mut(&mut self) -> &mut Extensions;
}
impl HasExtensions for Network {
    fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }
}
impl HasExtensions for Volume {
    fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }
}
impl HasExtensions for FileObject {
    fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }
}

/// Service-level defaults.
fn fill_service(svc: &mut Service, env: &BTreeMap<String, String>) {
    if let Some(b) = &mut svc.build {
        if b.dockerfile.is_none() && b.dockerfile_inline.is_none() {
            b.dockerfile = Some("Dockerfile".into());
        }
    }
    // A variable named without a value takes the project environment's value, if any.
    for (k, v) in svc.environment.iter_mut() {
        if v.is_none() {
            *v = env.get(k).cloned();
        }
    }
    if let Some(b) = &mut svc.build {
        for (k, v) in b.args.iter_mut() {
            if v.is_none() {
                *v = env.get(k).cloned();
            }
        }
    }
}

/// Services on no network and with no network_mode join `default`, which exists only then.
fn default_network(p: &mut Project) {
    let mut used = false;
    for svc in p.services.values_mut() {
        if svc.networks.is_empty() && svc.network_mode.is_none() {
            svc.networks.insert("default".into(), None);
        }
        used |= svc.networks.contains_key("default");
    }
    if used && !p.networks.contains_key("default") {
        p.networks
            .insert("default".into(), Network { name: Some(format!("{}_default", p.name)), ..Network::default() });
    }
}

/// Every network, named volume, secret, config and dependency a service uses is defined.
fn check_references(p: &Project) -> Result<(), LoadError> {
    let pos = |path: &str| p.spans.get(path).cloned().unwrap_or_default();
    for (name, svc) in &p.services {
        let base = format!("services.{name}");
        for net in svc.networks.keys() {
            if !p.networks.contains_key(net) {
                let path = format!("{base}.networks.{net}");
                return Err(LoadError::invalid(
                    &pos(&path),
                    path,
                    format!("service {name:?} refers to undefined network {net}"),
                ));
            }
        }
        for (i, v) in svc.volumes.iter().enumerate() {
            if v.kind == "volume" {
                if let Some(src) = v.source.as_deref().filter(|s| !s.is_empty()) {
                    if !p.volumes.contains_key(src) {
                        let path = format!("{base}.volumes[{i}]");
                        return Err(LoadError::invalid(
                            &pos(&path),
                            path,
                            format!("service {name:?} refers to undefined volume {src}"),
                        ));
                    }
                }
            }
        }
        for (field, defined) in [("secrets", &p.secrets), ("configs", &p.configs)] {
            let refs = if field == "secrets" { &svc.secrets } else { &svc.configs };
            for (i, r) in refs.iter().enumerate() {
                if !defined.contains_key(&r.source) {
                    let path = format!("{base}.{field}[{i}]");
                    let what = &field[..field.len() - 1];
                    return Err(LoadError::invalid(
                        &pos(&path),
                        path,
                        format!("service {name:?} refers to undefined {what} {}", r.source),
                    ));
                }
            }
        }
        for (dep, d) in &svc.depends_on {
            let path = format!("{base}.depends_on.{dep}");
            if p.services.contains_key(dep) || !d.required {
                continue;
            }
            let msg = if p.disabled_services.contains_key(dep) {
                format!("service {name:?} depends on service {dep:?}, which is disabled by its profiles")
            } else {
                format!("service {name:?} depends on undefined service {dep:?}")
            };
            return Err(LoadError::invalid(&pos(&path), path, msg));
        }
    }
    Ok(())
}

/// Reads a service's env files into its `environment` (explicit entries win), in order.
fn read_env_files(s: &mut Map, path: &str, env: &BTreeMap<String, String>) -> Result<(), LoadError> {
    let Some(Value::Seq(files)) = s.get("env_file").map(|n| &n.value) else { return Ok(()) };
    let mut vars: Vec<(String, String, Pos)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let Some(m) = f.map() else { continue };
        let Some(file) = m.get("path").and_then(Node::scalar_text) else { continue };
        let required = !matches!(m.get("required").map(|n| &n.value), Some(Value::Bool(false)));
        let raw = m.get("format").and_then(Node::as_str) == Some("raw");
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(_) if !required => continue,
            Err(_) => {
                return Err(LoadError::invalid(
                    &f.pos,
                    format!("{path}.env_file[{i}]"),
                    format!("env file {file} not found"),
                ))
            }
        };
        let pairs = if raw {
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map(|l| match l.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (l.to_string(), String::new()),
                })
                .collect()
        } else {
            dotenv::parse(&text, Path::new(&file), &|n| env.get(n).cloned())?
        };
        for (k, v) in pairs {
            vars.retain(|(x, _, _)| *x != k);
            vars.push((k, v, f.pos.clone()));
        }
    }
    if vars.is_empty() {
        return Ok(());
    }
    let env_pos = s.get("env_file").map(|n| n.pos.clone()).unwrap_or_default();
    if s.get("environment").is_none() {
        s.0.push((
            Key { name: "environment".into(), pos: env_pos.clone() },
            Node::new(Value::Map(Map::default()), env_pos),
        ));
    }
    if let Some(envm) = s.get_mut("environment").and_then(Node::map_mut) {
        for (k, v, pos) in vars {
            if envm.get(&k).is_none() {
                envm.0.push((Key { name: k, pos: pos.clone() }, Node::str(v, pos)));
            }
        }
    }
    Ok(())
}

/// The `x-` fields of a mapping.
pub fn extensions(m: &Map) -> Extensions {
    m.iter().filter(|(k, _)| k.name.starts_with("x-")).map(|(k, v)| (k.name.clone(), to_json(v))).collect()
}

pub fn to_json(n: &Node) -> Json {
    match &n.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => Json::Object(m.iter().map(|(k, v)| (k.name.clone(), to_json(v))).collect()),
    }
}

/// Every field path of the merged tree with where it was written.
fn record_spans(n: &Node, path: &str, out: &mut BTreeMap<String, Pos>) {
    out.insert(path.to_string(), n.pos.clone());
    match &n.value {
        Value::Map(m) => {
            for (k, v) in m.iter() {
                let p = if path.is_empty() { k.name.clone() } else { format!("{path}.{}", k.name) };
                record_spans(v, &p, out);
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                record_spans(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}
