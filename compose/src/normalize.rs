//! Short syntax to long syntax, on the node tree (so positions survive): ports, volumes,
//! depends_on, secrets, configs, networks, environment and other list-or-dict fields, build,
//! command strings, healthcheck test, env_file, extra_hosts, devices, extends.

use crate::error::{LoadError, Pos};
use crate::ports;
use crate::yaml::{Key, Map, Node, Value};

/// Normalizes one file's tree in place.
pub fn file(root: &mut Node) -> Result<(), LoadError> {
    let Some(top) = root.map_mut() else { return Ok(()) };
    if let Some(services) = top.get_mut("services") {
        let spos = services.pos.clone();
        match &mut services.value {
            Value::Map(m) => {
                for (k, svc) in m.0.iter_mut() {
                    let path = format!("services.{}", k.name);
                    match &mut svc.value {
                        Value::Map(s) => service(s, &path)?,
                        _ if svc.tag.is_some() => {}
                        _ => {
                            return Err(LoadError::invalid(
                                &svc.pos,
                                path,
                                format!("must be a mapping, not {}", svc.kind()),
                            ))
                        }
                    }
                }
            }
            Value::Null => services.value = Value::Map(Map::default()),
            _ => {
                return Err(LoadError::invalid(
                    &spos,
                    "services",
                    format!("must be a mapping, not {}", services.kind()),
                ))
            }
        }
    }
    for section in ["networks", "volumes", "secrets", "configs"] {
        let Some(node) = top.get_mut(section) else { continue };
        match &mut node.value {
            Value::Null => node.value = Value::Map(Map::default()),
            Value::Map(m) => {
                for (k, item) in m.0.iter_mut() {
                    let path = format!("{section}.{}", k.name);
                    if item.is_null() {
                        item.value = Value::Map(Map::default());
                    }
                    if let Some(r) = item.map_mut() {
                        resource(r, &path)?;
                    } else if item.tag.is_none() {
                        return Err(LoadError::invalid(
                            &item.pos,
                            path,
                            format!("must be a mapping, not {}", item.kind()),
                        ));
                    }
                }
            }
            _ => return Err(LoadError::invalid(&node.pos, section, format!("must be a mapping, not {}", node.kind()))),
        }
    }
    Ok(())
}

/// A top-level network, volume, secret or config.
fn resource(r: &mut Map, path: &str) -> Result<(), LoadError> {
    // The legacy `external: {name: x}` means `name: x, external: true`.
    if let Some(ext) = r.get_mut("external") {
        if let Some(m) = ext.map() {
            let name = m.get("name").cloned();
            ext.value = Value::Bool(true);
            if let Some(name) = name {
                r.insert(Key { name: "name".into(), pos: name.pos.clone() }, name);
            }
        }
    }
    for field in ["labels", "driver_opts"] {
        dict(r, field, path, '=')?;
    }
    if let Some(ipam) = r.get_mut("ipam").and_then(Node::map_mut) {
        dict(ipam, "options", &format!("{path}.ipam"), '=')?;
    }
    Ok(())
}

fn service(s: &mut Map, path: &str) -> Result<(), LoadError> {
    if let Some(b) = s.get_mut("build") {
        if let Value::Str(ctx) = &b.value {
            let mut m = Map::default();
            m.0.push((key("context", &b.pos), Node::str(ctx.clone(), b.pos.clone())));
            b.value = Value::Map(m);
        }
        let bpos = b.pos.clone();
        if let Some(bm) = b.map_mut() {
            let bpath = format!("{path}.build");
            if bm.get("context").is_none() {
                let pos = bpos;
                bm.0.insert(0, (key("context", &pos), Node::str(".", pos)));
            }
            dict(bm, "args", &bpath, '=')?;
            dict(bm, "labels", &bpath, '=')?;
            dict(bm, "additional_contexts", &bpath, '=')?;
            hosts(bm, "extra_hosts", &bpath)?;
            string_list(bm, "cache_from");
            string_list(bm, "tags");
            string_list(bm, "ssh");
            file_refs(bm, "secrets", &bpath, false)?;
        }
    }
    for field in ["command", "entrypoint"] {
        shell_command(s, field, path)?;
    }
    for field in ["environment", "labels", "annotations", "sysctls", "storage_opt"] {
        dict(s, field, path, '=')?;
    }
    hosts(s, "extra_hosts", path)?;
    for field in ["dns", "dns_search", "tmpfs", "label_file", "dns_opt"] {
        string_list(s, field);
    }
    if let Some(env_file) = s.get_mut("env_file") {
        string_list_node(env_file);
        if let Value::Seq(items) = &mut env_file.value {
            for item in items.iter_mut() {
                if let Value::Str(p) = &item.value {
                    let mut m = Map::default();
                    m.0.push((key("path", &item.pos), Node::str(p.clone(), item.pos.clone())));
                    item.value = Value::Map(m);
                }
                let pos = item.pos.clone();
                if let Some(m) = item.map_mut() {
                    if m.get("required").is_none() {
                        m.0.push((key("required", &pos), Node::new(Value::Bool(true), pos)));
                    }
                }
            }
        }
    }
    if let Some(expose) = s.get_mut("expose") {
        if let Value::Seq(items) = &mut expose.value {
            for item in items.iter_mut() {
                if let Some(text) = item.scalar_text() {
                    item.value = Value::Str(text);
                }
            }
        }
    }
    if let Some(p) = s.get_mut("ports") {
        if let Value::Seq(items) = &mut p.value {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.drain(..).enumerate() {
                out.extend(ports::normalize(item, &format!("{path}.ports[{i}]"))?);
            }
            *items = out;
        }
    }
    if let Some(v) = s.get_mut("volumes") {
        if let Value::Seq(items) = &mut v.value {
            for (i, item) in items.iter_mut().enumerate() {
                crate::volumes::normalize(item, &format!("{path}.volumes[{i}]"))?;
            }
        }
    }
    if let Some(d) = s.get_mut("devices") {
        if let Value::Seq(items) = &mut d.value {
            for (i, item) in items.iter_mut().enumerate() {
                device(item, &format!("{path}.devices[{i}]"))?;
            }
        }
    }
    depends_on(s);
    if let Some(n) = s.get_mut("networks") {
        if let Value::Seq(items) = &n.value {
            let mut m = Map::default();
            for item in items {
                if let Some(name) = item.scalar_text() {
                    m.0.push((Key { name, pos: item.pos.clone() }, Node::new(Value::Null, item.pos.clone())));
                }
            }
            n.value = Value::Map(m);
        }
    }
    file_refs(s, "secrets", path, true)?;
    file_refs(s, "configs", path, false)?;
    if let Some(h) = s.get_mut("healthcheck").and_then(Node::map_mut) {
        if let Some(test) = h.get_mut("test") {
            if let Value::Str(cmd) = &test.value {
                let pos = test.pos.clone();
                test.value = Value::Seq(vec![Node::str("CMD-SHELL", pos.clone()), Node::str(cmd.clone(), pos)]);
            }
        }
    }
    if let Some(e) = s.get_mut("extends") {
        if let Value::Str(name) = &e.value {
            let mut m = Map::default();
            m.0.push((key("service", &e.pos), Node::str(name.clone(), e.pos.clone())));
            e.value = Value::Map(m);
        }
    }
    if let Some(deploy) = s.get_mut("deploy").and_then(Node::map_mut) {
        dict(deploy, "labels", &format!("{path}.deploy"), '=')?;
    }
    if let Some(logging) = s.get_mut("logging").and_then(Node::map_mut) {
        dict(logging, "options", &format!("{path}.logging"), '=')?;
    }
    for hook in ["post_start", "pre_stop"] {
        if let Some(Value::Seq(items)) = s.get_mut(hook).map(|n| &mut n.value) {
            for (i, item) in items.iter_mut().enumerate() {
                if let Some(m) = item.map_mut() {
                    let p = format!("{path}.{hook}[{i}]");
                    shell_command(m, "command", &p)?;
                    dict(m, "environment", &p, '=')?;
                }
            }
        }
    }
    Ok(())
}

fn key(name: &str, pos: &Pos) -> Key {
    Key { name: name.into(), pos: pos.clone() }
}

/// A list of `KEY=VALUE` (or a mapping) to a mapping of strings; a bare `KEY` maps to null.
fn dict(m: &mut Map, field: &str, path: &str, sep: char) -> Result<(), LoadError> {
    let Some(node) = m.get_mut(field) else { return Ok(()) };
    let path = format!("{path}.{field}");
    match &mut node.value {
        Value::Seq(items) => {
            let mut out = Map::default();
            for (i, item) in items.iter().enumerate() {
                let Some(text) = item.scalar_text() else {
                    return Err(LoadError::invalid(
                        &item.pos,
                        format!("{path}[{i}]"),
                        format!("must be a string, not {}", item.kind()),
                    ));
                };
                let (k, v) = match text.split_once(sep) {
                    Some((k, v)) => (k.to_string(), Value::Str(v.to_string())),
                    None => (text, Value::Null),
                };
                out.insert(Key { name: k, pos: item.pos.clone() }, Node::new(v, item.pos.clone()));
            }
            node.value = Value::Map(out);
        }
        Value::Map(entries) => {
            for (k, v) in entries.0.iter_mut() {
                match &v.value {
                    Value::Null | Value::Str(_) => {}
                    Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                        v.value = Value::Str(v.scalar_text().unwrap_or_default())
                    }
                    _ => {
                        return Err(LoadError::invalid(
                            &v.pos,
                            format!("{path}.{}", k.name),
                            format!("must be a string, number, boolean or null, not {}", v.kind()),
                        ))
                    }
                }
            }
        }
        Value::Null => {}
        _ => {
            return Err(LoadError::invalid(
                &node.pos,
                path,
                format!("must be a mapping or a list, not {}", node.kind()),
            ))
        }
    }
    Ok(())
}

/// `extra_hosts` as a list of `host=ip`, from a list of `host:ip` / `host=ip` or a mapping.
fn hosts(m: &mut Map, field: &str, path: &str) -> Result<(), LoadError> {
    let Some(node) = m.get_mut(field) else { return Ok(()) };
    let path = format!("{path}.{field}");
    let mut out = Vec::new();
    match &node.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let Some(text) = item.scalar_text() else {
                    return Err(LoadError::invalid(&item.pos, format!("{path}[{i}]"), "must be a string"));
                };
                let entry = match text.split_once('=') {
                    Some(_) => text.clone(),
                    None => match text.split_once(':') {
                        Some((h, ip)) => format!("{h}={ip}"),
                        None => {
                            return Err(LoadError::invalid(
                                &item.pos,
                                format!("{path}[{i}]"),
                                format!("{text:?} is not a valid host=ip entry"),
                            ))
                        }
                    },
                };
                out.push(Node::str(entry, item.pos.clone()));
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries.iter() {
                let ips = match &v.value {
                    Value::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
                    _ => v.scalar_text().into_iter().collect::<Vec<_>>(),
                };
                for ip in ips {
                    out.push(Node::str(format!("{}={ip}", k.name), v.pos.clone()));
                }
            }
        }
        _ => return Ok(()),
    }
    node.value = Value::Seq(out);
    Ok(())
}

fn string_list(m: &mut Map, field: &str) {
    if let Some(node) = m.get_mut(field) {
        string_list_node(node);
    }
}

fn string_list_node(node: &mut Node) {
    if let Value::Str(s) = &node.value {
        node.value = Value::Seq(vec![Node::str(s.clone(), node.pos.clone())]);
    }
}

/// A command given as a string is split the way a POSIX shell would split it.
fn shell_command(m: &mut Map, field: &str, path: &str) -> Result<(), LoadError> {
    let Some(node) = m.get_mut(field) else { return Ok(()) };
    if let Value::Str(s) = &node.value {
        let words = shell_words(s).ok_or_else(|| {
            LoadError::invalid(&node.pos, format!("{path}.{field}"), format!("{s:?} has an unterminated quote"))
        })?;
        let pos = node.pos.clone();
        node.value = Value::Seq(words.into_iter().map(|w| Node::str(w, pos.clone())).collect());
    }
    Ok(())
}

/// POSIX-shell word splitting: quotes and backslashes, no expansion. `None` on an open quote.
pub fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => cur.push(c),
                            '\n' => {}
                            c => {
                                cur.push('\\');
                                cur.push(c);
                            }
                        },
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    if c != '\n' {
                        cur.push(c);
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

fn depends_on(s: &mut Map) {
    let Some(node) = s.get_mut("depends_on") else { return };
    let started = |pos: &Pos| {
        let mut m = Map::default();
        m.0.push((key("condition", pos), Node::str("service_started", pos.clone())));
        m.0.push((key("required", pos), Node::new(Value::Bool(true), pos.clone())));
        m
    };
    match &mut node.value {
        Value::Seq(items) => {
            let mut m = Map::default();
            for item in items.iter() {
                if let Some(name) = item.scalar_text() {
                    m.insert(
                        Key { name, pos: item.pos.clone() },
                        Node::new(Value::Map(started(&item.pos)), item.pos.clone()),
                    );
                }
            }
            node.value = Value::Map(m);
        }
        Value::Map(m) => {
            for (_, dep) in m.0.iter_mut() {
                if dep.is_null() {
                    dep.value = Value::Map(started(&dep.pos));
                } else {
                    let defaults = started(&dep.pos);
                    let Some(d) = dep.map_mut() else { continue };
                    for (k, v) in defaults.0 {
                        if d.get(&k.name).is_none() {
                            d.0.push((k, v));
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Service `secrets:` / `configs:` entries: a bare name is `{source: name}`; secrets get their
/// default target `/run/secrets/<source>`.
fn file_refs(s: &mut Map, field: &str, path: &str, secret_target: bool) -> Result<(), LoadError> {
    let Some(Value::Seq(items)) = s.get_mut(field).map(|n| &mut n.value) else { return Ok(()) };
    for (i, item) in items.iter_mut().enumerate() {
        if let Some(name) = item.scalar_text() {
            let mut m = Map::default();
            m.0.push((key("source", &item.pos), Node::str(name, item.pos.clone())));
            item.value = Value::Map(m);
        }
        let pos = item.pos.clone();
        let Some(m) = item.map_mut() else {
            return Err(LoadError::invalid(&pos, format!("{path}.{field}[{i}]"), "must be a string or a mapping"));
        };
        if secret_target && m.get("target").is_none() {
            if let Some(source) = m.get("source").and_then(Node::scalar_text) {
                m.0.push((key("target", &pos), Node::str(format!("/run/secrets/{source}"), pos.clone())));
            }
        }
    }
    Ok(())
}

/// `/dev/x[:/dev/y[:perms]]` to `{source, target, permissions}`.
fn device(item: &mut Node, path: &str) -> Result<(), LoadError> {
    let Some(text) = item.scalar_text() else { return Ok(()) };
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, perms) = match parts.as_slice() {
        [s] => (*s, *s, "rwm"),
        [s, t] => (*s, *t, "rwm"),
        [s, t, p] => (*s, *t, *p),
        _ => return Err(LoadError::invalid(&item.pos, path, format!("{text:?} is not a valid device mapping"))),
    };
    let pos = item.pos.clone();
    let mut m = Map::default();
    m.0.push((key("source", &pos), Node::str(source, pos.clone())));
    m.0.push((key("target", &pos), Node::str(target, pos.clone())));
    m.0.push((key("permissions", &pos), Node::str(perms, pos.clone())));
    item.value = Value::Map(m);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_splitting() {
        assert_eq!(shell_words("npm run start").unwrap(), ["npm", "run", "start"]);
        assert_eq!(shell_words(r#"sh -c 'echo "hi there"' x\ y"#).unwrap(), ["sh", "-c", "echo \"hi there\"", "x y"]);
        assert_eq!(shell_words(r#"a "b\"c" ''"#).unwrap(), ["a", "b\"c", ""]);
        assert!(shell_words("echo 'open").is_none());
    }
}
