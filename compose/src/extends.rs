//! `extends`: a service built on another, from the same file or from `file:`.

use std::path::{Path, PathBuf};

use crate::error::LoadError;
use crate::loader::{read_normalized, services, services_mut, Ctx};
use crate::merge;
use crate::yaml::Node;

pub fn apply(ctx: &Ctx, root: &mut Node, file: &Path, warnings: &mut Vec<String>) -> Result<(), LoadError> {
    let names: Vec<String> = match services(root) {
        Some(s) => s
            .iter()
            .filter(|(_, v)| v.map().is_some_and(|m| m.get("extends").is_some()))
            .map(|(k, _)| k.name.clone())
            .collect(),
        None => return Ok(()),
    };
    for name in names {
        resolve(ctx, root, file, &name, &mut Vec::new(), warnings)?;
    }
    Ok(())
}

/// Replaces service `name` of `root` by its base merged with itself, bases first.
fn resolve(
    ctx: &Ctx,
    root: &mut Node,
    file: &Path,
    name: &str,
    chain: &mut Vec<(PathBuf, String)>,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let Some(svc) = services(root).and_then(|s| s.get(name)) else { return Ok(()) };
    let Some(ext) = svc.map().and_then(|m| m.get("extends")) else { return Ok(()) };
    let path = format!("services.{name}.extends");
    let ext_pos = ext.pos.clone();
    let ext_map = ext.map().ok_or_else(|| LoadError::invalid(&ext.pos, &path, "must be a string or a mapping"))?;
    let base_name = ext_map
        .get("service")
        .and_then(Node::scalar_text)
        .ok_or_else(|| LoadError::invalid(&ext_pos, &path, "\"service\" is required"))?;
    let base_file = ext_map.get("file").and_then(Node::scalar_text).map(PathBuf::from);
    let here = (file.to_path_buf(), name.to_string());
    if chain.contains(&here) {
        let mut names: Vec<String> = chain.iter().map(|(_, n)| n.clone()).collect();
        names.push(name.to_string());
        return Err(LoadError::invalid(&ext_pos, &path, format!("circular reference: {}", names.join(" -> "))));
    }
    chain.push(here);
    let base = match &base_file {
        Some(other) if other != file => {
            let dir = other.parent().unwrap_or(Path::new("/")).to_path_buf();
            let mut tree = read_normalized(ctx, other, &dir, warnings)?;
            resolve(ctx, &mut tree, other, &base_name, chain, warnings)?;
            services(&tree).and_then(|s| s.get(&base_name)).cloned().ok_or_else(|| {
                LoadError::invalid(
                    &ext_pos,
                    &path,
                    format!("service {base_name:?} not found in {}", ctx.display(other)),
                )
            })?
        }
        _ => {
            resolve(ctx, root, file, &base_name, chain, warnings)?;
            services(root)
                .and_then(|s| s.get(&base_name))
                .cloned()
                .ok_or_else(|| LoadError::invalid(&ext_pos, &path, format!("service {base_name:?} not found")))?
        }
    };
    chain.pop();
    let Some(slot) = services_mut(root).and_then(|s| s.get_mut(name)) else { return Ok(()) };
    let mut over = slot.clone();
    if let Some(m) = over.map_mut() {
        m.remove("extends");
    }
    let mut merged = base;
    if let Some(m) = merged.map_mut() {
        m.remove("extends");
    }
    merge::service(&mut merged, over);
    *slot = merged;
    Ok(())
}
