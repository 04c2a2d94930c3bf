//! Relative paths in a file's services and resources, made absolute against a base directory
//! (the project directory; for `extends: file:` and `include`, that file's own directory).

use std::path::{Component, Path, PathBuf};

use crate::yaml::{Map, Node, Value};

/// Joins `p` onto `base` and removes `.` and `..` lexically, as Go's filepath.Join does.
pub fn absolute(base: &Path, p: &str) -> String {
    let expanded = expand_home(p);
    let joined = if Path::new(&expanded).is_absolute() { PathBuf::from(&expanded) } else { base.join(&expanded) };
    clean(&joined).to_string_lossy().into_owned()
}

fn expand_home(p: &str) -> String {
    if p == "~" || p.starts_with("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return format!("{}{}", home.to_string_lossy(), &p[1..]);
        }
    }
    p.to_string()
}

pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// A build context that is a URL or a git reference stays as it is.
fn is_remote(ctx: &str) -> bool {
    ctx.contains("://") || ctx.starts_with("git@") || ctx.starts_with("github.com/")
}

fn set_path(node: &mut Node, base: &Path) {
    if let Value::Str(s) = &node.value {
        node.value = Value::Str(absolute(base, s));
    }
}

/// Resolves paths in a whole file tree.
pub fn resolve_file(root: &mut Node, base: &Path) {
    let Some(top) = root.map_mut() else { return };
    if let Some(services) = top.get_mut("services").and_then(Node::map_mut) {
        for (_, svc) in services.0.iter_mut() {
            if let Some(s) = svc.map_mut() {
                resolve_service(s, base);
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(m) = top.get_mut(section).and_then(Node::map_mut) {
            for (_, item) in m.0.iter_mut() {
                if let Some(f) = item.map_mut().and_then(|m| m.get_mut("file")) {
                    set_path(f, base);
                }
            }
        }
    }
}

pub fn resolve_service(s: &mut Map, base: &Path) {
    if let Some(b) = s.get_mut("build").and_then(Node::map_mut) {
        if let Some(ctx) = b.get_mut("context") {
            if ctx.as_str().is_some_and(|c| !is_remote(c)) {
                set_path(ctx, base);
            }
        }
        if let Some(extra) = b.get_mut("additional_contexts").and_then(Node::map_mut) {
            for (_, v) in extra.0.iter_mut() {
                if v.as_str().is_some_and(|c| !is_remote(c) && !c.contains(':')) {
                    set_path(v, base);
                }
            }
        }
    }
    if let Some(Value::Seq(items)) = s.get_mut("volumes").map(|n| &mut n.value) {
        for item in items.iter_mut() {
            let Some(v) = item.map_mut() else { continue };
            let is_bind = v.get("type").and_then(Node::as_str) == Some("bind");
            if let Some(src) = v.get_mut("source").filter(|_| is_bind) {
                set_path(src, base);
            }
        }
    }
    if let Some(Value::Seq(items)) = s.get_mut("env_file").map(|n| &mut n.value) {
        for item in items.iter_mut() {
            if let Some(p) = item.map_mut().and_then(|m| m.get_mut("path")) {
                set_path(p, base);
            }
        }
    }
    if let Some(Value::Seq(items)) = s.get_mut("label_file").map(|n| &mut n.value) {
        for item in items.iter_mut() {
            set_path(item, base);
        }
    }
    if let Some(f) = s.get_mut("extends").and_then(Node::map_mut).and_then(|m| m.get_mut("file")) {
        set_path(f, base);
    }
    if let Some(w) = s.get_mut("develop").and_then(Node::map_mut).and_then(|m| m.get_mut("watch")) {
        if let Value::Seq(items) = &mut w.value {
            for item in items.iter_mut() {
                if let Some(p) = item.map_mut().and_then(|m| m.get_mut("path")) {
                    set_path(p, base);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_cleans() {
        assert_eq!(absolute(Path::new("/p"), "./data"), "/p/data");
        assert_eq!(absolute(Path::new("/p/q"), "../x/./y"), "/p/x/y");
        assert_eq!(absolute(Path::new("/p"), "."), "/p");
        assert_eq!(absolute(Path::new("/p"), "/abs"), "/abs");
    }
}
