//! Service volume short syntax (`[source:]target[:options]`) to long syntax.

use crate::error::LoadError;
use crate::yaml::{Key, Map, Node, Value};

pub fn normalize(item: &mut Node, path: &str) -> Result<(), LoadError> {
    if item.map().is_some() {
        return Ok(());
    }
    let Some(text) = item.as_str().map(str::to_string) else {
        return Err(LoadError::invalid(&item.pos, path, format!("must be a string or a mapping, not {}", item.kind())));
    };
    let bad = |why: &str| LoadError::invalid(&item.pos, path, format!("{text:?} is not a valid volume: {why}"));
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, o] => (Some(*s), *t, Some(*o)),
        _ => return Err(bad("too many colons")),
    };
    if target.is_empty() {
        return Err(bad("empty target"));
    }
    if source.is_some_and(str::is_empty) {
        return Err(bad("empty source"));
    }
    let kind = match source {
        Some(s) if is_host_path(s) => "bind",
        _ => "volume",
    };
    let pos = item.pos.clone();
    let k = |name: &str| Key { name: name.into(), pos: pos.clone() };
    let mut m = Map::default();
    m.0.push((k("type"), Node::str(kind, pos.clone())));
    if let Some(s) = source {
        m.0.push((k("source"), Node::str(s, pos.clone())));
    }
    m.0.push((k("target"), Node::str(target, pos.clone())));
    let mut bind = Map::default();
    let mut volume = Map::default();
    for opt in options.into_iter().flat_map(|o| o.split(',')) {
        match opt {
            "ro" => m.0.push((k("read_only"), Node::new(Value::Bool(true), pos.clone()))),
            "rw" => {}
            "z" | "Z" => bind.0.push((k("selinux"), Node::str(opt, pos.clone()))),
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                bind.0.push((k("propagation"), Node::str(opt, pos.clone())))
            }
            "nocopy" => volume.0.push((k("nocopy"), Node::new(Value::Bool(true), pos.clone()))),
            "consistent" | "cached" | "delegated" => m.0.push((k("consistency"), Node::str(opt, pos.clone()))),
            other => return Err(bad(&format!("unknown option {other:?}"))),
        }
    }
    if kind == "bind" {
        bind.0.push((k("create_host_path"), Node::new(Value::Bool(true), pos.clone())));
        m.0.push((k("bind"), Node::new(Value::Map(bind), pos.clone())));
    } else {
        m.0.push((k("volume"), Node::new(Value::Map(volume), pos.clone())));
    }
    item.value = Value::Map(m);
    Ok(())
}

/// Whether a short-syntax source names a host path rather than a volume.
pub fn is_host_path(s: &str) -> bool {
    s.starts_with('.') || s.starts_with('/') || s.starts_with('~')
}
