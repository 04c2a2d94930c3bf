//! Merging a later file (or an extending service) over an earlier one, with Compose's rules:
//! mappings merge key by key; sequences append; ports, volumes, secrets, configs, devices and
//! env files are unique by their key (the later entry replaces the earlier one in place);
//! `command`, `entrypoint` and `healthcheck.test` are replaced; `!reset` removes what came before
//! and `!override` replaces it whole.

use crate::yaml::{Map, Node, Tag, Value};

/// Merges two whole file trees.
pub fn files(base: &mut Node, over: Node) {
    node(base, over, &[]);
}

/// Merges a service definition over its base (for `extends`).
pub fn service(base: &mut Node, over: Node) {
    node(base, over, &["services", "*"]);
}

fn node(base: &mut Node, over: Node, path: &[&str]) {
    if over.tag == Some(Tag::Override) {
        *base = over;
        base.tag = None;
        return;
    }
    match (&mut base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => map(b, o, path),
        (Value::Seq(b), Value::Seq(o)) => {
            let field = service_field(path);
            match field.as_deref() {
                Some("command" | "entrypoint" | "healthcheck.test") => *b = o,
                Some("ports") => append_unique(b, o, |n| Some(format!("{n:?}", n = strip_pos(n)))),
                Some("volumes" | "devices" | "secrets" | "configs") => append_unique(b, o, |n| field_of(n, "target")),
                Some("env_file") => append_unique(b, o, |n| field_of(n, "path")),
                _ if o.iter().all(is_scalar) && b.iter().all(is_scalar) => append_unique(b, o, |n| n.scalar_text()),
                _ => b.extend(o),
            }
            base.pos = over.pos;
        }
        (_, value) => {
            base.value = value;
            base.pos = over.pos;
        }
    }
}

fn map(base: &mut Map, over: Map, path: &[&str]) {
    for (k, v) in over.0 {
        if v.tag == Some(Tag::Reset) {
            base.remove(&k.name);
            continue;
        }
        let mut child: Vec<&str> = path.to_vec();
        // Service names become `*` so the rules below match any service.
        let name = if path == ["services"] { "*" } else { k.name.as_str() };
        child.push(name);
        match base.get_mut(&k.name) {
            Some(existing) => node(existing, v, &child),
            None => {
                let mut v = v;
                clear_tags(&mut v);
                base.0.push((k, v));
            }
        }
    }
}

/// The field path inside a service (`ports`, `healthcheck.test`), if `path` is in one.
fn service_field(path: &[&str]) -> Option<String> {
    match path {
        ["services", _, rest @ ..] if !rest.is_empty() => Some(rest.join(".")),
        _ => None,
    }
}

fn is_scalar(n: &Node) -> bool {
    !matches!(n.value, Value::Seq(_) | Value::Map(_))
}

fn field_of(n: &Node, name: &str) -> Option<String> {
    n.map().and_then(|m| m.get(name)).and_then(Node::scalar_text)
}

/// The node's value with positions left out, for comparing entries.
fn strip_pos(n: &Node) -> String {
    match &n.value {
        Value::Map(m) => m.iter().map(|(k, v)| format!("{}={};", k.name, strip_pos(v))).collect(),
        Value::Seq(items) => items.iter().map(|v| format!("{},", strip_pos(v))).collect(),
        _ => n.scalar_text().unwrap_or_default(),
    }
}

fn append_unique(base: &mut Vec<Node>, over: Vec<Node>, key: impl Fn(&Node) -> Option<String>) {
    for mut item in over {
        clear_tags(&mut item);
        let k = key(&item);
        match k.and_then(|k| base.iter().position(|b| key(b).as_deref() == Some(k.as_str()))) {
            Some(i) => base[i] = item,
            None => base.push(item),
        }
    }
}

/// Drops `!reset` entries and forgets the tags once a tree no longer merges with anything.
pub fn clear_tags(n: &mut Node) {
    n.tag = None;
    match &mut n.value {
        Value::Map(m) => {
            m.0.retain(|(_, v)| v.tag != Some(Tag::Reset));
            for (_, v) in m.0.iter_mut() {
                clear_tags(v);
            }
        }
        Value::Seq(items) => {
            items.retain(|v| v.tag != Some(Tag::Reset));
            items.iter_mut().for_each(clear_tags);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use std::sync::Arc;

    fn merged(a: &str, b: &str) -> Node {
        let f: Arc<str> = Arc::from("t");
        let mut x = parse(a, &f).unwrap().remove(0);
        crate::normalize::file(&mut x).unwrap();
        let mut y = parse(b, &f).unwrap().remove(0);
        crate::normalize::file(&mut y).unwrap();
        files(&mut x, y);
        clear_tags(&mut x);
        x
    }

    fn svc(n: &Node) -> &Map {
        n.map().unwrap().get("services").unwrap().map().unwrap().get("web").unwrap().map().unwrap()
    }

    #[test]
    fn rules() {
        let n = merged(
            "services:\n  web:\n    image: a\n    command: [x, y]\n    ports: ['80:80']\n    volumes: ['d:/data', '/keep']\n    environment: {A: '1', B: '2'}\n    dns: [1.1.1.1]\n",
            "services:\n  web:\n    image: b\n    command: [z]\n    ports: ['80:80', '81:81']\n    volumes: ['e:/data']\n    environment: [B=3]\n    dns: [1.1.1.1, 8.8.8.8]\n",
        );
        let s = svc(&n);
        assert_eq!(s.get("image").unwrap().as_str(), Some("b"));
        let texts = |k: &str| match &s.get(k).unwrap().value {
            Value::Seq(items) => items.len(),
            _ => 0,
        };
        assert_eq!(texts("command"), 1);
        assert_eq!(texts("ports"), 2);
        assert_eq!(texts("volumes"), 2);
        assert_eq!(texts("dns"), 2);
        let env = s.get("environment").unwrap().map().unwrap();
        assert_eq!(env.get("A").unwrap().as_str(), Some("1"));
        assert_eq!(env.get("B").unwrap().as_str(), Some("3"));
    }

    #[test]
    fn reset_and_override() {
        let n = merged(
            "services:\n  web:\n    image: a\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
            "services:\n  web:\n    ports: !reset []\n    environment: !override {C: '3'}\n",
        );
        let s = svc(&n);
        assert!(s.get("ports").is_none());
        let env = s.get("environment").unwrap().map().unwrap();
        assert_eq!(env.len(), 1);
        assert!(env.get("C").is_some());
    }
}
