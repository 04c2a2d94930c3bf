//! `develop.watch`: which rule a changed path falls under, what is ignored, and what one batch
//! of changes asks each service to do. Pure: the caller reads the filesystem and acts; this is
//! unit-tested without a kernel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::build::Ignore;

use crate::model::{Hook, Project};

/// A rule's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Sync,
    Rebuild,
    Restart,
    SyncRestart,
    SyncExec,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "sync" => Action::Sync,
            "rebuild" => Action::Rebuild,
            "restart" => Action::Restart,
            "sync+restart" => Action::SyncRestart,
            "sync+exec" => Action::SyncExec,
            _ => return None,
        })
    }

    pub fn syncs(self) -> bool {
        matches!(self, Action::Sync | Action::SyncRestart | Action::SyncExec)
    }
}

/// One `develop.watch` entry of a service, ready to match paths.
pub struct Rule {
    pub service: String,
    pub path: PathBuf,
    pub action: Action,
    pub target: Option<String>,
    pub initial_sync: bool,
    pub exec: Option<Hook>,
    ignore: Ignore,
    include: Vec<Vec<String>>,
    /// The service's build context and its `.dockerignore` (honoured for every rule).
    context: Option<(PathBuf, Ignore)>,
    /// The compose files and the Dockerfile: never synced (they may trigger other actions).
    never: Vec<PathBuf>,
}

/// Editor and tool droppings that are never synced nor trigger anything: vim's swap and
/// backup files and its `4913` write probe, emacs' lock and backup files.
pub fn is_editor_temp(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    name == "4913"
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.ends_with('~')
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
}

fn components(rel: &Path) -> Vec<&str> {
    rel.components().filter_map(|c| c.as_os_str().to_str()).filter(|c| !c.is_empty()).collect()
}

impl Rule {
    /// The project's rules, for the services named (empty: every service). `dockerignore`
    /// reads a build context's `.dockerignore` (the caller's filesystem access). An unknown
    /// action or a sync without a target is an error naming the service.
    pub fn all(
        project: &Project,
        services: &[String],
        dockerignore: &dyn Fn(&Path) -> Option<String>,
    ) -> Result<Vec<Rule>, String> {
        let mut out = Vec::new();
        for (name, svc) in &project.services {
            if !services.is_empty() && !services.contains(name) {
                continue;
            }
            let Some(develop) = &svc.develop else { continue };
            let context = svc.build.as_ref().map(|b| project.working_dir.join(&b.context));
            let mut never = project.compose_files.clone();
            if let (Some(b), Some(ctx)) = (&svc.build, &context) {
                never.push(ctx.join(b.dockerfile.as_deref().unwrap_or("Dockerfile")));
            }
            for w in &develop.watch {
                let action = Action::parse(&w.action)
                    .ok_or_else(|| format!("service {name:?}: unknown watch action {:?}", w.action))?;
                if action.syncs() && w.target.is_none() {
                    return Err(format!("service {name:?}: watch rule for {} needs a target", w.path));
                }
                if action == Action::SyncExec && w.exec.as_ref().is_none_or(|e| e.command.is_empty()) {
                    return Err(format!("service {name:?}: sync+exec rule for {} needs exec.command", w.path));
                }
                if action == Action::Rebuild && svc.build.is_none() {
                    return Err(format!("service {name:?}: rebuild rule for {} but no build section", w.path));
                }
                out.push(Rule {
                    service: name.clone(),
                    path: project.working_dir.join(&w.path),
                    action,
                    target: w.target.clone(),
                    initial_sync: w.initial_sync.unwrap_or(false),
                    exec: w.exec.clone(),
                    ignore: Ignore::parse(&w.ignore.join("\n")),
                    include: w.include.iter().filter_map(|p| crate_clean(p)).collect(),
                    context: context.clone().map(|c| {
                        let ig = Ignore::parse(&dockerignore(&c).unwrap_or_default());
                        (c, ig)
                    }),
                    never: never.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Whether a changed `path` is this rule's: under its path, not an editor temp file, not
    /// a compose file or the Dockerfile, not ignored (`.dockerignore`, `ignore`, negations
    /// included), and matching `include` when it has one.
    pub fn accepts(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.path) else { return false };
        // A Dockerfile change may well call for a rebuild; it is only never synced.
        if is_editor_temp(path) || (self.action.syncs() && self.never.iter().any(|n| n == path)) {
            return false;
        }
        if let Some((ctx, ig)) = &self.context {
            if let Ok(in_ctx) = path.strip_prefix(ctx) {
                let parts = components(in_ctx);
                if !parts.is_empty() && ig.excluded(&parts) {
                    return false;
                }
            }
        }
        let parts = components(rel);
        if !parts.is_empty() && self.ignore.excluded(&parts) {
            return false;
        }
        if !self.include.is_empty() {
            // A pattern without a `/` matches the file's name at any depth; one with a `/`
            // matches from the rule's path.
            let hit = self.include.iter().any(|p| {
                if p.len() == 1 {
                    parts.last().is_some_and(|n| engine::build::dockerignore::component_match(&p[0], n))
                } else {
                    engine::build::dockerignore::path_match(p, &parts)
                }
            });
            if !hit {
                return false;
            }
        }
        true
    }

    /// Where a path under this rule goes in the container.
    pub fn container_path(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.path).ok()?;
        let target = self.target.as_deref()?.trim_end_matches('/');
        let parts = components(rel);
        Some(if parts.is_empty() {
            if target.is_empty() {
                "/".into()
            } else {
                target.to_string()
            }
        } else {
            format!("{target}/{}", parts.join("/"))
        })
    }
}

fn crate_clean(p: &str) -> Option<Vec<String>> {
    engine::build::dockerignore::clean(p.trim_start_matches('/')).filter(|v| !v.is_empty())
}

/// One file to put into (or delete from) a service's containers.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOp {
    pub host: PathBuf,
    pub container: String,
    /// False when the path is gone on the host: it is deleted in the container.
    pub exists: bool,
    /// The rule it came from (an index into the rules given to [`plan`]).
    pub rule: usize,
}

/// What one batch asks of one service.
#[derive(Debug, Default, PartialEq)]
pub struct ServicePlan {
    /// Build the image and recreate the containers (the new container has the files: no sync).
    pub rebuild: bool,
    pub syncs: Vec<SyncOp>,
    pub restart: bool,
    /// `sync+exec` commands, each once per batch.
    pub execs: Vec<Hook>,
    /// How many distinct changed paths the service's rules took.
    pub changed: usize,
}

/// One batch: each changed path (with whether it still exists) goes to every rule that
/// accepts it; per service, a rebuild makes its syncs, restarts and execs moot.
pub fn plan(rules: &[Rule], changes: &[(PathBuf, bool)]) -> BTreeMap<String, ServicePlan> {
    let mut out: BTreeMap<String, ServicePlan> = BTreeMap::new();
    let mut seen: BTreeMap<&str, std::collections::BTreeSet<&Path>> = BTreeMap::new();
    for (path, exists) in changes {
        for (i, rule) in rules.iter().enumerate() {
            if !rule.accepts(path) {
                continue;
            }
            let p = out.entry(rule.service.clone()).or_default();
            if seen.entry(&rule.service).or_default().insert(path) {
                p.changed += 1;
            }
            match rule.action {
                Action::Rebuild => p.rebuild = true,
                Action::Restart => p.restart = true,
                action => {
                    if let Some(container) = rule.container_path(path) {
                        // The same container path from two rules: the later rule wins.
                        p.syncs.retain(|s| s.container != container);
                        p.syncs.push(SyncOp { host: path.clone(), container, exists: *exists, rule: i });
                    }
                    if action == Action::SyncRestart {
                        p.restart = true;
                    }
                    if let (Action::SyncExec, Some(hook)) = (action, &rule.exec) {
                        if !p.execs.contains(hook) {
                            p.execs.push(hook.clone());
                        }
                    }
                }
            }
        }
    }
    for p in out.values_mut() {
        if p.rebuild {
            p.syncs.clear();
            p.restart = false;
            p.execs.clear();
        }
    }
    out
}

/// Services to rebuild, grouped by the image they build: a shared image is built once per
/// batch, then every service of the group that asked is recreated.
pub fn rebuild_groups(project: &Project, plans: &BTreeMap<String, ServicePlan>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in plans.iter().filter(|(_, p)| p.rebuild).map(|(n, _)| n) {
        if let Some(svc) = project.services.get(name) {
            out.entry(crate::labels::image_name(&project.name, name, svc)).or_default().push(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Build, Develop, Service, Watch};

    fn project() -> Project {
        let mut p = Project { name: "demo".into(), working_dir: "/p".into(), ..Default::default() };
        p.compose_files = vec!["/p/compose.yaml".into()];
        let watch = |path: &str, action: &str, target: Option<&str>| Watch {
            path: path.into(),
            action: action.into(),
            target: target.map(Into::into),
            ..Default::default()
        };
        let mut web =
            Service { build: Some(Build { context: ".".into(), ..Default::default() }), ..Default::default() };
        let mut sync = watch("src", "sync", Some("/app/src"));
        sync.ignore = vec!["*.log".into(), "!keep.log".into(), "node_modules".into()];
        let mut exec = watch("conf", "sync+exec", Some("/etc/app"));
        exec.exec = Some(Hook { command: vec!["reload".into()], ..Default::default() });
        web.develop = Some(Develop {
            watch: vec![sync, watch("package.json", "rebuild", None), watch("cfg", "sync+restart", Some("/cfg")), exec],
        });
        p.services.insert("web".into(), web.clone());
        // A second service building the same image, rebuilt by the same rule.
        web.image = Some("demo-web".into());
        p.services.get_mut("web").unwrap().image = Some("demo-web".into());
        p.services.insert("worker".into(), web);
        let mut js = Service::default();
        let mut only_js = watch("static", "sync", Some("/srv"));
        only_js.include = vec!["*.js".into()];
        js.develop = Some(Develop { watch: vec![only_js] });
        p.services.insert("static".into(), js);
        p
    }

    fn rules() -> Vec<Rule> {
        Rule::all(&project(), &[], &|_| Some("secret.txt\n**/*.tmp\n!**/keep.tmp\n".into())).unwrap()
    }

    fn change(p: &str) -> (PathBuf, bool) {
        (PathBuf::from(p), true)
    }

    #[test]
    fn matches_rules_ignores_and_includes() {
        let rules = rules();
        let web_src = &rules.iter().find(|r| r.service == "web" && r.action == Action::Sync).unwrap();
        assert!(web_src.accepts(Path::new("/p/src/a.js")));
        assert!(!web_src.accepts(Path::new("/p/other/a.js")));
        assert!(!web_src.accepts(Path::new("/p/src/debug.log")));
        assert!(web_src.accepts(Path::new("/p/src/keep.log")));
        assert!(!web_src.accepts(Path::new("/p/src/node_modules/x/y.js")));
        assert!(!web_src.accepts(Path::new("/p/src/x.tmp")), ".dockerignore of the context");
        assert!(web_src.accepts(Path::new("/p/src/keep.tmp")), ".dockerignore negation");
        for temp in ["/p/src/.a.js.swp", "/p/src/a.js~", "/p/src/.#a.js", "/p/src/4913"] {
            assert!(!web_src.accepts(Path::new(temp)), "{temp}");
        }
        assert_eq!(web_src.container_path(Path::new("/p/src/d/a.js")).as_deref(), Some("/app/src/d/a.js"));
        let st = rules.iter().find(|r| r.service == "static").unwrap();
        assert!(st.accepts(Path::new("/p/static/deep/a.js")));
        assert!(!st.accepts(Path::new("/p/static/a.css")));
    }

    #[test]
    fn compose_files_and_dockerfile_are_never_synced() {
        let mut p = project();
        p.services.get_mut("web").unwrap().develop = Some(Develop {
            watch: vec![Watch {
                path: ".".into(),
                action: "sync".into(),
                target: Some("/app".into()),
                ..Default::default()
            }],
        });
        let rules = Rule::all(&p, &["web".into()], &|_| None).unwrap();
        assert!(!rules[0].accepts(Path::new("/p/compose.yaml")));
        assert!(!rules[0].accepts(Path::new("/p/Dockerfile")));
        assert!(rules[0].accepts(Path::new("/p/main.py")));
    }

    #[test]
    fn a_batch_becomes_one_plan_per_service() {
        let rules = rules();
        let mut changes: Vec<(PathBuf, bool)> = (0..500).map(|i| change(&format!("/p/src/f{i}.js"))).collect();
        changes.push((PathBuf::from("/p/src/gone.js"), false));
        changes.push(change("/p/cfg/app.ini"));
        changes.push(change("/p/conf/a"));
        changes.push(change("/p/conf/b"));
        let web: Vec<Rule> = rules.into_iter().filter(|r| r.service == "web").collect();
        let plans = plan(&web, &changes);
        let web = &plans["web"];
        assert_eq!(web.changed, 504);
        assert!(web.restart && !web.rebuild);
        assert_eq!(web.execs.len(), 1, "one exec per batch");
        assert!(web.syncs.iter().any(|s| s.container == "/app/src/gone.js" && !s.exists));
        assert!(web.syncs.iter().any(|s| s.container == "/cfg/app.ini"));
    }

    #[test]
    fn a_rebuild_supersedes_syncs_and_a_shared_image_is_built_once() {
        let p = project();
        let rules = Rule::all(&p, &[], &|_| None).unwrap();
        let plans = plan(&rules, &[change("/p/package.json"), change("/p/src/a.js")]);
        assert!(plans["web"].rebuild && plans["web"].syncs.is_empty());
        let groups = rebuild_groups(&p, &plans);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups["demo-web"], vec!["web".to_string(), "worker".to_string()]);
    }

    #[test]
    fn bad_rules_are_errors() {
        let mut p = project();
        p.services.get_mut("static").unwrap().develop =
            Some(Develop { watch: vec![Watch { path: "x".into(), action: "sync".into(), ..Default::default() }] });
        assert!(Rule::all(&p, &[], &|_| None).err().unwrap_or_default().contains("needs a target"));
        p.services.get_mut("static").unwrap().develop =
            Some(Develop { watch: vec![Watch { path: "x".into(), action: "teleport".into(), ..Default::default() }] });
        assert!(Rule::all(&p, &[], &|_| None).err().unwrap_or_default().contains("unknown watch action"));
    }
}
