//! `include`: other compose projects loaded on their own (own directory, own env files) and
//! their resources added to this one; a resource defined differently on both sides is an error.

use std::path::{Path, PathBuf};

use crate::dotenv;
use crate::error::LoadError;
use crate::loader::{empty, load_file, Ctx};
use crate::merge;
use crate::paths::absolute;
use crate::yaml::{Node, Value};

pub fn apply(ctx: &mut Ctx, root: &mut Node, base: &Path, warnings: &mut Vec<String>) -> Result<(), LoadError> {
    let Some(inc) = root.map_mut().and_then(|m| m.remove("include")) else { return Ok(()) };
    let items = match inc.value {
        Value::Seq(items) => items,
        Value::Null => return Ok(()),
        _ => return Err(LoadError::invalid(&inc.pos, "include", format!("must be a list, not {}", inc.kind()))),
    };
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("include[{i}]");
        let (files, project_dir, env_files) = entry(&item, base, &path)?;
        let project_dir = project_dir.unwrap_or_else(|| files[0].parent().unwrap_or(Path::new("/")).to_path_buf());
        let env_files = if env_files.is_empty() {
            let default = project_dir.join(".env");
            if default.is_file() {
                vec![default]
            } else {
                vec![]
            }
        } else {
            env_files
        };
        let mut sub = ctx.clone();
        sub.env = ctx.shell.clone();
        for f in &env_files {
            let text = std::fs::read_to_string(f).map_err(|source| LoadError::Io { path: f.clone(), source })?;
            let shell = &ctx.shell;
            for (k, v) in dotenv::parse(&text, f, &|n| shell.get(n).cloned())? {
                sub.env.entry(k).or_insert(v);
            }
        }
        let mut tree = empty(item.pos.clone());
        for f in &files {
            let t = load_file(&mut sub, f, &project_dir, warnings)?;
            merge::files(&mut tree, t);
        }
        add_resources(root, tree, &path)?;
    }
    Ok(())
}

/// One include entry: its files, project directory and env files.
type Entry = (Vec<PathBuf>, Option<PathBuf>, Vec<PathBuf>);

fn entry(item: &Node, base: &Path, path: &str) -> Result<Entry, LoadError> {
    let list = |n: &Node| -> Vec<PathBuf> {
        match &n.value {
            Value::Seq(items) => {
                items.iter().filter_map(Node::scalar_text).map(|s| PathBuf::from(absolute(base, &s))).collect()
            }
            _ => n.scalar_text().map(|s| PathBuf::from(absolute(base, &s))).into_iter().collect(),
        }
    };
    if let Some(text) = item.scalar_text() {
        return Ok((vec![PathBuf::from(absolute(base, &text))], None, vec![]));
    }
    let Some(m) = item.map() else {
        return Err(LoadError::invalid(&item.pos, path, "must be a string or a mapping"));
    };
    for (k, _) in m.iter() {
        if !["path", "project_directory", "env_file"].contains(&k.name.as_str()) && !k.name.starts_with("x-") {
            return Err(LoadError::invalid(&k.pos, path, format!("additional property {:?} is not allowed", k.name)));
        }
    }
    let files = m.get("path").map(list).unwrap_or_default();
    if files.is_empty() {
        return Err(LoadError::invalid(&item.pos, path, "\"path\" is required"));
    }
    let dir = m.get("project_directory").and_then(Node::scalar_text).map(|d| PathBuf::from(absolute(base, &d)));
    let env = m.get("env_file").map(list).unwrap_or_default();
    Ok((files, dir, env))
}

fn add_resources(root: &mut Node, included: Node, path: &str) -> Result<(), LoadError> {
    let Value::Map(inc) = included.value else { return Ok(()) };
    let Some(top) = root.map_mut() else { return Ok(()) };
    for (section, node) in inc.0 {
        if !["services", "networks", "volumes", "secrets", "configs"].contains(&section.name.as_str()) {
            continue;
        }
        let Value::Map(entries) = node.value else { continue };
        if top.get(&section.name).is_none() {
            top.0.push((section.clone(), Node::new(Value::Map(Default::default()), node.pos.clone())));
        }
        let Some(target) = top.get_mut(&section.name).and_then(Node::map_mut) else { continue };
        for (k, v) in entries.0 {
            match target.get(&k.name) {
                Some(existing) if !same(existing, &v) => {
                    return Err(LoadError::invalid(
                        &existing.pos,
                        format!("{}.{}", section.name, k.name),
                        format!("conflicts with the imported resource of {path}"),
                    ))
                }
                Some(_) => {}
                None => target.0.push((k, v)),
            }
        }
    }
    Ok(())
}

/// Equal values, whatever their positions.
fn same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(&k.name).is_some_and(|w| same(v, w)))
        }
        (Value::Seq(x), Value::Seq(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        (x, y) => x == y,
    }
}
