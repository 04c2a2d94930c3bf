//! Finding the project (files, directory, env, name) and loading it: `compose::load`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{LoadError, Pos};
use crate::loader::{empty, load_file, Ctx};
use crate::model::Project;
use crate::{dotenv, merge, resolve};

/// The file names Compose looks for, in its order of preference.
pub const DEFAULT_FILES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];

/// What `compose::load` needs; the CLI fills it from its flags and the process environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order; `-` reads `stdin`. Empty: `COMPOSE_FILE`, else the default names.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// `--env-file`; empty: `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
    /// Services named on the command line: they are enabled whatever their profiles.
    pub services: Vec<String>,
    /// The working directory (where default files are searched from).
    pub working_dir: PathBuf,
    /// The shell environment.
    pub environment: BTreeMap<String, String>,
    /// `false` for `--no-interpolate`.
    pub interpolate: bool,
    /// What `-` reads.
    pub stdin: Option<String>,
}

impl LoadOptions {
    /// Options for the current process: its working directory and environment.
    pub fn from_process() -> LoadOptions {
        LoadOptions {
            working_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            environment: std::env::vars().collect(),
            interpolate: true,
            ..LoadOptions::default()
        }
    }
}

/// Loads, merges, validates and normalizes the project.
pub fn load(opts: &LoadOptions) -> Result<Project, LoadError> {
    let cwd = &opts.working_dir;
    let abs = |p: &Path| {
        if p.is_absolute() || p == Path::new("-") {
            p.to_path_buf()
        } else {
            crate::paths::clean(&cwd.join(p))
        }
    };
    let project_dir_flag = opts.project_directory.as_deref().map(abs);

    // The env file may itself set COMPOSE_FILE, so it is read against the directory we know
    // now (flag or working directory) when no -f was given.
    let early_dir = project_dir_flag.clone().unwrap_or_else(|| cwd.clone());
    let mut env = environment(opts, &early_dir)?;
    let files: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files.iter().map(|f| abs(f)).collect()
    } else if let Some(list) = env.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let sep = env.get("COMPOSE_PATH_SEPARATOR").cloned().unwrap_or_else(|| ":".into());
        list.split(sep.as_str()).filter(|s| !s.is_empty()).map(|f| abs(&early_dir.join(f))).collect()
    } else {
        find_default(&early_dir)?
    };
    let project_dir = project_dir_flag.unwrap_or_else(|| match files.first() {
        Some(f) if f != Path::new("-") => f.parent().map(Path::to_path_buf).unwrap_or_else(|| cwd.clone()),
        _ => cwd.clone(),
    });
    if project_dir != early_dir {
        env = environment(opts, &project_dir)?;
    }

    let mut ctx = Ctx {
        env: env.clone(),
        shell: opts.environment.clone(),
        interpolate: opts.interpolate,
        cwd: cwd.clone(),
        stack: Vec::new(),
        stdin: opts.stdin.clone(),
    };
    let mut warnings = Vec::new();
    let mut tree = empty(Pos::synthetic("compose"));
    for f in &files {
        let t = load_file(&mut ctx, f, &project_dir, &mut warnings)?;
        merge::files(&mut tree, t);
    }
    merge::clear_tags(&mut tree);

    let name = project_name(opts, &env, &tree, &project_dir)?;
    let mut profiles: Vec<String> = opts.profiles.clone();
    if let Some(p) = env.get("COMPOSE_PROFILES") {
        profiles.extend(p.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from));
    }
    let input = resolve::Input { name, project_dir, env, profiles, services: opts.services.clone(), files };
    let mut project = resolve::project(tree, input)?;
    project.warnings.splice(0..0, warnings);
    Ok(project)
}

/// Shell variables over the env files' (`--env-file`, else `<dir>/.env` if present).
fn environment(opts: &LoadOptions, dir: &Path) -> Result<BTreeMap<String, String>, LoadError> {
    let files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let default = dir.join(".env");
        if default.is_file() {
            vec![default]
        } else {
            vec![]
        }
    } else {
        opts.env_files.iter().map(|f| opts.working_dir.join(f)).collect()
    };
    let mut env = opts.environment.clone();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| LoadError::Io { path: f.clone(), source })?;
        let shell = &opts.environment;
        for (k, v) in dotenv::parse(&text, &f, &|n| shell.get(n).cloned())? {
            env.entry(k).or_insert(v);
        }
    }
    Ok(env)
}

/// The first default file in `dir` or a parent, plus its `.override` companion.
fn find_default(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    for d in dir.ancestors() {
        for name in DEFAULT_FILES {
            let candidate = d.join(name);
            if candidate.is_file() {
                let mut files = vec![candidate];
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "yaml"));
                let over = d.join(format!("{stem}.override.{ext}"));
                if over.is_file() {
                    files.push(over);
                }
                return Ok(files);
            }
        }
    }
    Err(LoadError::NoConfigFile)
}

fn project_name(
    opts: &LoadOptions,
    env: &BTreeMap<String, String>,
    tree: &crate::yaml::Node,
    dir: &Path,
) -> Result<String, LoadError> {
    let explicit = opts
        .project_name
        .clone()
        .or_else(|| env.get("COMPOSE_PROJECT_NAME").filter(|v| !v.is_empty()).cloned())
        .or_else(|| {
            tree.map().and_then(|m| m.get("name")).and_then(crate::yaml::Node::scalar_text).filter(|v| !v.is_empty())
        });
    if let Some(name) = explicit {
        if !is_valid_name(&name) {
            return Err(LoadError::ProjectName(name));
        }
        return Ok(name);
    }
    let base = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let normalized = normalize_name(&base);
    if normalized.is_empty() {
        return Err(LoadError::ProjectName(base));
    }
    Ok(normalized)
}

/// `[a-z0-9][a-z0-9_-]*`.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// A directory name made into a project name: lowercased, other characters dropped, and
/// leading `_`/`-` trimmed.
pub fn normalize_name(name: &str) -> String {
    let lower: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("My App.v2"), "myappv2");
        assert_eq!(normalize_name("__x-Y"), "x-y");
        assert!(is_valid_name("a_b-1"));
        assert!(!is_valid_name("Ab"));
        assert!(!is_valid_name("-a"));
    }
}
