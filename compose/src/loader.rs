//! One compose file to a normalized tree: read, parse, interpolate, check the top level,
//! normalize short syntax, resolve relative paths, then apply `extends` and `include`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{LoadError, Pos};
use crate::yaml::{self, Map, Node, Value};
use crate::{extends, include, interpolate, merge, normalize, paths};

const TOP_LEVEL: &[&str] =
    &["version", "name", "services", "networks", "volumes", "secrets", "configs", "include", "models"];

/// What loading a file needs to know.
#[derive(Clone)]
pub struct Ctx {
    /// The variables interpolation sees.
    pub env: BTreeMap<String, String>,
    /// The shell's own variables (an included project gets these plus its own env files).
    pub shell: BTreeMap<String, String>,
    pub interpolate: bool,
    /// Where relative file names are shown from.
    pub cwd: PathBuf,
    /// Files being loaded, outermost first: a file met again is an include cycle.
    pub stack: Vec<PathBuf>,
    /// Content for `-` (stdin).
    pub stdin: Option<String>,
}

impl Ctx {
    /// The name errors show for `path`: relative to the working directory when under it.
    pub fn display(&self, path: &Path) -> Arc<str> {
        let shown = path.strip_prefix(&self.cwd).unwrap_or(path);
        Arc::from(shown.to_string_lossy().as_ref())
    }
}

/// Reads, parses and normalizes one file; `base` is the directory its relative paths resolve
/// against. Applies `extends` and `include` too.
pub fn load_file(ctx: &mut Ctx, path: &Path, base: &Path, warnings: &mut Vec<String>) -> Result<Node, LoadError> {
    if ctx.stack.iter().any(|p| p == path) {
        let mut chain: Vec<String> = ctx.stack.iter().map(|p| ctx.display(p).to_string()).collect();
        chain.push(ctx.display(path).to_string());
        return Err(LoadError::IncludeCycle { pos: Pos::synthetic(&ctx.display(path)), chain });
    }
    ctx.stack.push(path.to_path_buf());
    let result = load_file_inner(ctx, path, base, warnings);
    ctx.stack.pop();
    result
}

fn load_file_inner(ctx: &mut Ctx, path: &Path, base: &Path, warnings: &mut Vec<String>) -> Result<Node, LoadError> {
    let mut root = read_normalized(ctx, path, base, warnings)?;
    extends::apply(ctx, &mut root, path, warnings)?;
    include::apply(ctx, &mut root, base, warnings)?;
    Ok(root)
}

/// Everything but `extends` and `include`.
pub fn read_normalized(ctx: &Ctx, path: &Path, base: &Path, warnings: &mut Vec<String>) -> Result<Node, LoadError> {
    let name = if path == Path::new("-") { Arc::from("-") } else { ctx.display(path) };
    let text = if path == Path::new("-") {
        ctx.stdin.clone().unwrap_or_default()
    } else {
        std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?
    };
    let mut docs = yaml::parse(&text, &name)?.into_iter();
    let Some(mut root) = docs.next().filter(|d| !d.is_null()) else {
        return Err(LoadError::Yaml { pos: Pos::new(&name, 1, 1), msg: "empty compose file".into() });
    };
    for doc in docs {
        merge::files(&mut root, doc);
    }
    let Some(top) = root.map_mut() else {
        return Err(LoadError::invalid(&root.pos, "(root)", format!("must be a mapping, not {}", root.kind())));
    };
    for (k, _) in top.iter() {
        if !TOP_LEVEL.contains(&k.name.as_str()) && !k.name.starts_with("x-") {
            return Err(LoadError::invalid(
                &k.pos,
                "(root)",
                format!("additional property {:?} is not allowed", k.name),
            ));
        }
    }
    if top.remove("version").is_some() {
        warnings.push(format!(
            "{name}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"
        ));
    }
    if ctx.interpolate {
        let env = &ctx.env;
        let lookup = |n: &str| env.get(n).cloned();
        interpolate::interpolate_tree(&mut root, "", &lookup, warnings)?;
    }
    normalize::file(&mut root)?;
    paths::resolve_file(&mut root, base);
    Ok(root)
}

/// The `services` mapping of a file tree.
pub fn services(root: &Node) -> Option<&Map> {
    root.map()?.get("services")?.map()
}

pub fn services_mut(root: &mut Node) -> Option<&mut Map> {
    root.map_mut()?.get_mut("services")?.map_mut()
}

/// An empty tree, for merging files into.
pub fn empty(pos: Pos) -> Node {
    Node::new(Value::Map(Map::default()), pos)
}
