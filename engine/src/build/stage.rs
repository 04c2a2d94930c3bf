//! The executor: splits the Dockerfile into stages, builds the ones the target needs, and runs
//! each instruction as a step that makes an image (cached by its key, see cache.rs). RUN is in
//! stage/run.rs, WORKDIR, COPY and ADD in stage/files.rs.

mod files;
mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use super::cache::{self, Cache};
use super::context::{self, Item, SourceRoot};
use super::dockerignore::Ignore;
use super::parser::{self, Form, Instruction};
use super::words::{process_word, process_words, split_raw};
use super::{BuildError, BuildOptions, Event, StepRunner};
use crate::db::LayerRow;
use crate::digest::Digest;
use crate::oci::{self, History, ImageConfig, RootFs};
use crate::reference::Reference;
use crate::store::Store;

/// Build args every Dockerfile may use without declaring them; kept out of history, as in Docker.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

struct StageDef {
    from: Instruction,
    body: Vec<Instruction>,
}

/// What a stage has built so far.
#[derive(Clone)]
struct State {
    /// `None` for `FROM scratch` before any step.
    id: Option<Digest>,
    config: ImageConfig,
    layers: Vec<LayerRow>,
    /// Declared ARGs in scope, with their values.
    args: BTreeMap<String, Option<String>>,
    /// CMD set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
}

struct Builder<'a> {
    store: &'a mut Store,
    runner: &'a mut dyn StepRunner,
    progress: &'a mut dyn FnMut(Event),
    cache: Cache,
    context: SourceRoot,
    escape: char,
    build_args: BTreeMap<String, String>,
    used_args: BTreeSet<String>,
    globals: BTreeMap<String, Option<String>>,
    names: Vec<Option<String>>,
    results: Vec<Option<State>>,
    network: String,
    step: usize,
    total: usize,
}

fn platform_ok(p: &str) -> bool {
    let host = oci::host_platform();
    let want = p.trim();
    want.is_empty()
        || want == format!("{}/{}", host.os, host.architecture)
        || want == host.architecture
        || want.starts_with(&format!("{}/{}/", host.os, host.architecture))
}

fn platform_error(p: &str) -> BuildError {
    let host = oci::host_platform();
    BuildError::Invalid(format!(
        "berth builds for its host platform ({}/{}) only: {p} is not supported",
        host.os, host.architecture
    ))
}

fn quoted_list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" "))
}

/// Go durations as HEALTHCHECK takes them: `30s`, `1m30s`, `500ms`, `1h`.
fn parse_duration(s: &str) -> Result<i64, String> {
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest == "0" {
        return Ok(0);
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..num_end].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("invalid duration {s:?}")),
        };
        total += value * factor;
        rest = &rest[unit_end..];
    }
    Ok(total as i64)
}

/// Builds the image the options ask for and returns its ID; see the module docs.
pub fn build(
    store: &mut Store,
    options: &BuildOptions,
    runner: &mut dyn StepRunner,
    progress: &mut dyn FnMut(Event),
) -> Result<Digest, BuildError> {
    // Everything the user typed is checked before any step runs.
    let mut tags = Vec::new();
    for t in &options.tags {
        let r = Reference::parse_tagged(t)?;
        tags.push(
            r.tagged_name().ok_or_else(|| BuildError::Invalid(format!("invalid tag {t}: a digest is not a tag")))?,
        );
    }
    if let Some(p) = &options.platform {
        if !platform_ok(p) {
            return Err(platform_error(p));
        }
    }
    if !options.context.is_dir() {
        return Err(BuildError::Invalid(format!(
            "unable to prepare context: path {:?} not found",
            options.context.display().to_string()
        )));
    }
    let text = match &options.dockerfile_text {
        Some(t) => t.clone(),
        None => {
            let path = options.context.join("Dockerfile");
            fs::read_to_string(&path)
                .map_err(|_| BuildError::Invalid("Cannot locate specified Dockerfile: Dockerfile".to_string()))?
        }
    };
    let dockerfile = parser::parse(&text)?;
    let ignore =
        fs::read_to_string(options.context.join(".dockerignore")).map(|t| Ignore::parse(&t)).unwrap_or_default();

    // Stages, and the ARGs before the first FROM.
    let mut global_args = Vec::new();
    let mut stages: Vec<StageDef> = Vec::new();
    for ins in dockerfile.instructions {
        if ins.keyword == "FROM" {
            stages.push(StageDef { from: ins, body: Vec::new() });
        } else if let Some(stage) = stages.last_mut() {
            stage.body.push(ins);
        } else if ins.keyword == "ARG" {
            global_args.push(ins);
        } else {
            return Err(BuildError::Parse {
                line: ins.line,
                message: format!("{} before the first FROM: only ARG may come before FROM", ins.keyword),
            });
        }
    }
    if stages.is_empty() {
        return Err(BuildError::Invalid("no build stage in current context: the Dockerfile has no FROM".into()));
    }

    let mut b = Builder {
        cache: Cache::new(store, !options.no_cache),
        store,
        runner,
        progress,
        context: SourceRoot::context(options.context.clone(), ignore),
        escape: dockerfile.escape,
        build_args: options.build_args.iter().cloned().collect(),
        used_args: BTreeSet::new(),
        globals: BTreeMap::new(),
        names: Vec::new(),
        results: Vec::new(),
        // RUN steps join the default bridge unless `--network` says otherwise, as Docker's do.
        network: options.network.clone().filter(|n| !n.is_empty() && n != "default").unwrap_or_else(|| "bridge".into()),
        step: 0,
        total: 0,
    };
    for ins in &global_args {
        let mut globals = std::mem::take(&mut b.globals);
        let vars: BTreeMap<String, String> =
            globals.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
        let res = b.declare_args(ins, &mut globals, &vars);
        b.globals = globals;
        res?;
    }
    let global_vars: BTreeMap<String, String> =
        b.globals.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
    // Stage names and what each depends on.
    let mut froms = Vec::new();
    for stage in &stages {
        let words = b.words(&stage.from.raw(), &global_vars).map_err(|m| b.step_error(&stage.from, m))?;
        let name = match words.as_slice() {
            [_] => None,
            [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
            _ => {
                return Err(BuildError::Parse {
                    line: stage.from.line,
                    message: "FROM requires either one or three arguments".into(),
                })
            }
        };
        froms.push(words[0].clone());
        b.names.push(name);
    }
    let target = match &options.target {
        None => stages.len() - 1,
        Some(t) => b
            .names
            .iter()
            .position(|n| n.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| BuildError::Invalid(format!("target stage {t:?} could not be found")))?,
    };
    let mut deps: Vec<Vec<usize>> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let mut d = Vec::new();
        if let Some(j) = b.stage_index(&froms[i], i) {
            d.push(j);
        }
        for ins in &stage.body {
            if let Some(from) = ins.flag("from") {
                let from = b.word(from, &global_vars).unwrap_or_else(|_| from.to_string());
                if let Some(j) = b.stage_index(&from, i) {
                    d.push(j);
                }
            }
        }
        deps.push(d);
    }
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if needed.insert(i) {
            todo.extend(deps[i].iter().copied());
        }
    }
    b.total = needed.iter().map(|&i| 1 + stages[i].body.len()).sum();

    for (i, stage) in stages.iter().enumerate() {
        if !needed.contains(&i) {
            b.results.push(None);
            continue;
        }
        let state = b.build_stage(i, &froms[i], stage)?;
        b.results.push(Some(state));
    }
    let mut state = b.results[target].clone().expect("the target stage was built");

    if !options.labels.is_empty() {
        let key = cache::key(&[
            &state.parent_key(),
            "build --label",
            &serde_json::to_string(&options.labels).unwrap_or_default(),
        ]);
        if !b.cached(&mut state, &key)? {
            state.config.config.labels.extend(options.labels.clone());
            b.commit(&mut state, &key, None, None)?;
        }
    }
    let id = match state.id.clone() {
        Some(id) => id,
        // `FROM scratch` and nothing else: an image with no layers.
        None => {
            let key = cache::key(&[&state.parent_key(), "empty"]);
            if !b.cached(&mut state, &key)? {
                b.commit(&mut state, &key, None, None)?;
            }
            state.id.clone().expect("committed")
        }
    };
    let unused: Vec<&String> =
        b.build_args.keys().filter(|k| !b.used_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str())).collect();
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        (b.progress)(Event::Warning(format!(
            "[Warning] One or more build-args [{}] were not consumed",
            list.join(" ")
        )));
    }
    for tag in &tags {
        b.store.tag_image(id.as_str(), tag)?;
    }
    Ok(id)
}

impl State {
    fn parent_key(&self) -> String {
        self.id.as_ref().map_or_else(|| "scratch".to_string(), |d| d.to_string())
    }
}

impl Builder<'_> {
    /// Docker's wording: `COPY failed: ...` for COPY and ADD, `KEYWORD: ...` otherwise.
    fn step_error(&self, ins: &Instruction, message: String) -> BuildError {
        let message = match ins.keyword.as_str() {
            "COPY" | "ADD" => format!("{} failed: {message}", ins.keyword),
            k => format!("{k}: {message}"),
        };
        BuildError::Step { line: ins.line, message }
    }

    fn word(&self, s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
        process_word(s, &|n| vars.get(n).cloned(), self.escape)
    }

    fn words(&self, s: &str, vars: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
        process_words(s, &|n| vars.get(n).cloned(), self.escape)
    }

    /// The stage `s` names (a name or an index) among those before `before`.
    fn stage_index(&self, s: &str, before: usize) -> Option<usize> {
        if let Ok(n) = s.parse::<usize>() {
            return (n < before).then_some(n);
        }
        let lower = s.to_ascii_lowercase();
        self.names[..before].iter().position(|n| n.as_deref() == Some(lower.as_str()))
    }

    /// Variables visible to substitution: ARGs in scope, overridden by ENV.
    fn vars(st: &State) -> BTreeMap<String, String> {
        let mut vars: BTreeMap<String, String> =
            st.args.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
        for e in &st.config.config.env {
            if let Some((k, v)) = e.split_once('=') {
                vars.insert(k.to_string(), v.to_string());
            }
        }
        vars
    }

    /// `ARG a b=c`: each name gets the build arg's value, else its default (substituted),
    /// else the global ARG's value.
    fn declare_args(
        &mut self,
        ins: &Instruction,
        scope: &mut BTreeMap<String, Option<String>>,
        vars: &BTreeMap<String, String>,
    ) -> Result<(), BuildError> {
        for raw in split_raw(&ins.raw(), self.escape).map_err(|m| self.step_error(ins, m))? {
            let (name, default) = match raw.split_once('=') {
                Some((n, d)) => (n.to_string(), Some(self.word(d, vars).map_err(|m| self.step_error(ins, m))?)),
                None => (raw.clone(), None),
            };
            let value = if let Some(v) = self.build_args.get(&name) {
                self.used_args.insert(name.clone());
                Some(v.clone())
            } else {
                default.or_else(|| self.globals.get(&name).cloned().flatten()).or_else(|| predefined(&name))
            };
            scope.insert(name, value);
        }
        Ok(())
    }

    fn emit(&mut self, e: Event) {
        (self.progress)(e)
    }

    /// Looks the key up; on a hit the state moves to the cached image.
    fn cached(&mut self, st: &mut State, key: &str) -> Result<bool, BuildError> {
        let Some(id) = self.cache.get(self.store, key) else { return Ok(false) };
        self.load(st, &id)?;
        self.emit(Event::Cached);
        self.emit(Event::Image(&id));
        Ok(true)
    }

    fn load(&mut self, st: &mut State, id: &Digest) -> Result<(), BuildError> {
        st.config = self.store.image_config(id)?;
        st.layers = self.layers_of(id)?;
        st.id = Some(id.clone());
        Ok(())
    }

    fn layers_of(&self, id: &Digest) -> Result<Vec<LayerRow>, BuildError> {
        let mut out = Vec::new();
        for chain in self.store.db.image_layers(id)? {
            out.push(
                self.store.db.layer(&chain)?.ok_or_else(|| BuildError::Invalid(format!("layer {chain} is missing")))?,
            );
        }
        Ok(out)
    }

    /// Makes the step's image: the state's config plus a history entry (and the layer).
    fn commit(
        &mut self,
        st: &mut State,
        key: &str,
        created_by: Option<String>,
        layer: Option<LayerRow>,
    ) -> Result<(), BuildError> {
        let now = crate::time::now();
        let mut cfg = st.config.clone();
        cfg.created = Some(now.clone());
        cfg.rootfs.kind = "layers".into();
        if let Some(by) = created_by {
            cfg.history.push(History {
                created: Some(now),
                created_by: Some(by),
                empty_layer: layer.is_none(),
                ..Default::default()
            });
        }
        if let Some(row) = layer {
            cfg.rootfs.diff_ids.push(row.diff_id.clone());
            st.layers.push(row);
        }
        let digest = self.store.put_blob(&oci::to_canonical_json(&cfg))?;
        let (id, _) = self.store.commit_image(&digest, None, &st.layers, &[])?;
        self.cache.put(key, &id);
        if let Some(parent) = &st.id {
            cache::record_parent(self.store, &id, parent);
        }
        st.config = cfg;
        st.id = Some(id.clone());
        self.emit(Event::Image(&id));
        Ok(())
    }

    /// The image's filesystem, read-only, for lookups (WORKDIR, COPY's destination, --chown).
    fn image_root(&self, layers: &[LayerRow]) -> Result<SourceRoot, BuildError> {
        let lowers: Vec<_> = layers.iter().rev().map(|l| self.store.layer_dir(&l.chain_id).join("diff")).collect();
        SourceRoot::image(&lowers, self.store.temp_dir("buildroot")?)
    }

    fn layer_from_items(&mut self, st: &State, items: &[Item]) -> Result<LayerRow, BuildError> {
        let blob = self.store.blob_writer()?;
        let blob = context::write_tar(items, blob)?;
        let diff_id = blob.commit(None)?;
        let parent = st.layers.last().map(|l| l.chain_id.clone());
        Ok(self.store.unpack_layer(&diff_id, &diff_id, parent.as_ref(), Some(oci::MEDIA_OCI_LAYER))?)
    }

    fn build_stage(&mut self, index: usize, image: &str, stage: &StageDef) -> Result<State, BuildError> {
        let from = &stage.from;
        self.step += 1;
        let text = from.display();
        (self.progress)(Event::Step { n: self.step, total: self.total, text: &text });
        if let Some(p) = from.flag("platform") {
            // BuildKit's platform args are in scope here without a declaration.
            let mut vars: BTreeMap<String, String> =
                self.globals.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
            for name in ["BUILDPLATFORM", "TARGETPLATFORM"] {
                if let Some(v) = predefined(name) {
                    vars.entry(name.to_string()).or_insert(v);
                }
            }
            let p = self.word(p, &vars).map_err(|m| self.step_error(from, m))?;
            if !platform_ok(&p) {
                return Err(self.step_error(from, platform_error(&p).to_string()));
            }
        }
        let mut st = if image.eq_ignore_ascii_case("scratch") {
            let host = oci::host_platform();
            State {
                id: None,
                config: ImageConfig {
                    architecture: host.architecture,
                    os: host.os,
                    rootfs: RootFs { kind: "layers".into(), diff_ids: Vec::new() },
                    ..Default::default()
                },
                layers: Vec::new(),
                args: BTreeMap::new(),
                cmd_set: false,
            }
        } else if let Some(j) = self.stage_index(image, index) {
            let mut s = self.results[j].clone().expect("dependencies are built first");
            s.args.clear();
            s.cmd_set = false;
            s
        } else {
            let id = self.store.resolve_image(image).map_err(|e| self.step_error(from, e.to_string()))?;
            let mut s = State {
                id: None,
                config: ImageConfig::default(),
                layers: Vec::new(),
                args: BTreeMap::new(),
                cmd_set: false,
            };
            self.load(&mut s, &id)?;
            s
        };
        if let Some(id) = st.id.clone() {
            self.emit(Event::Image(&id));
        }
        // ONBUILD triggers of the base run now, in this build; the child does not inherit them.
        let triggers = std::mem::take(&mut st.config.config.on_build);
        if !triggers.is_empty() {
            self.emit(Event::Triggers(triggers.len()));
            for t in &triggers {
                let ins = parser::parse_one(t, from.line)?;
                self.exec(&mut st, &ins).map_err(|e| self.wrap(&ins, e))?;
            }
        }
        for ins in &stage.body {
            self.step += 1;
            let text = ins.display();
            (self.progress)(Event::Step { n: self.step, total: self.total, text: &text });
            self.exec(&mut st, ins).map_err(|e| self.wrap(ins, e))?;
        }
        Ok(st)
    }

    /// Names the line in errors that do not carry it yet.
    fn wrap(&self, ins: &Instruction, e: BuildError) -> BuildError {
        match e {
            BuildError::Invalid(m) => self.step_error(ins, m),
            BuildError::Engine(e) => self.step_error(ins, e.to_string()),
            other => other,
        }
    }

    fn exec(&mut self, st: &mut State, ins: &Instruction) -> Result<(), BuildError> {
        let vars = Self::vars(st);
        let parent = st.parent_key();
        let shell = st.config.config.shell.clone().unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        let command = |form: &Form| match form {
            Form::Exec(v) => v.clone(),
            Form::Shell(s) => shell.iter().cloned().chain(std::iter::once(s.clone())).collect(),
        };
        let e = |m: String| BuildError::Invalid(m);
        match ins.keyword.as_str() {
            "RUN" => return self.run(st, ins),
            "COPY" | "ADD" => return self.copy(st, ins),
            "WORKDIR" => return self.workdir(st, ins),
            "ARG" => {
                let mut args = std::mem::take(&mut st.args);
                let r = self.declare_args(ins, &mut args, &vars);
                st.args = args;
                r?;
            }
            _ => {}
        }
        // Metadata instructions: the new config is computed, then keyed with its result.
        let mut cfg = st.config.clone();
        let c = &mut cfg.config;
        let shown: String;
        match ins.keyword.as_str() {
            "ARG" => {
                shown = format!("ARG {}", ins.raw());
            }
            "CMD" => {
                c.cmd = Some(command(&ins.form));
                shown = format!("CMD {}", quoted_list(c.cmd.as_ref().expect("set")));
            }
            "ENTRYPOINT" => {
                c.entrypoint = Some(command(&ins.form));
                // Docker: a CMD inherited from the base image does not survive a new ENTRYPOINT.
                if !st.cmd_set {
                    c.cmd = None;
                }
                shown = format!("ENTRYPOINT {}", quoted_list(c.entrypoint.as_ref().expect("set")));
            }
            "ENV" | "LABEL" => {
                let pairs = self.key_values(ins, &vars)?;
                let mut parts = Vec::new();
                for (k, v) in pairs {
                    if ins.keyword == "ENV" {
                        c.env.retain(|x| x.split_once('=').map_or(x.as_str(), |(a, _)| a) != k);
                        c.env.push(format!("{k}={v}"));
                    } else {
                        c.labels.insert(k.clone(), v.clone());
                    }
                    parts.push(format!("{k}={v}"));
                }
                shown = format!("{} {}", ins.keyword, parts.join(" "));
            }
            "MAINTAINER" => {
                cfg.author = Some(ins.raw());
                shown = format!("MAINTAINER {}", ins.raw());
            }
            "EXPOSE" => {
                let mut ports = Vec::new();
                for p in self.words(&ins.raw(), &vars).map_err(e)? {
                    let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                    let proto = proto.to_ascii_lowercase();
                    // `8000-8002` exposes each port of the range, as Docker does.
                    let (low, high) = num.split_once('-').unwrap_or((num, num));
                    let range = low.parse::<u16>().ok().zip(high.parse::<u16>().ok()).filter(|(l, h)| l <= h);
                    let Some((low, high)) = range.filter(|_| matches!(proto.as_str(), "tcp" | "udp" | "sctp")) else {
                        return Err(BuildError::Invalid(format!("invalid containerPort: {p}")));
                    };
                    for port in low..=high {
                        cfg.config.exposed_ports.insert(format!("{port}/{proto}"), serde_json::json!({}));
                        ports.push(format!("{port}/{proto}"));
                    }
                }
                shown = format!("EXPOSE {}", ports.join(" "));
            }
            "VOLUME" => {
                let list = match &ins.form {
                    Form::Exec(v) => v.iter().map(|s| self.word(s, &vars)).collect::<Result<Vec<_>, _>>().map_err(e)?,
                    Form::Shell(s) => self.words(s, &vars).map_err(e)?,
                };
                for v in &list {
                    if v.is_empty() {
                        return Err(BuildError::Invalid("VOLUME specified can not be an empty string".into()));
                    }
                    c.volumes.insert(v.clone(), serde_json::json!({}));
                }
                shown = format!("VOLUME {}", quoted_list(&list));
            }
            "USER" => {
                c.user = self.word(&ins.raw(), &vars).map_err(e)?;
                shown = format!("USER {}", c.user);
            }
            "STOPSIGNAL" => {
                let s = self.word(&ins.raw(), &vars).map_err(e)?;
                crate::container::lifecycle::parse_signal(&s)?;
                c.stop_signal = s.clone();
                shown = format!("STOPSIGNAL {s}");
            }
            "SHELL" => {
                let Form::Exec(v) = &ins.form else {
                    return Err(BuildError::Invalid("SHELL requires the arguments to be in JSON form".into()));
                };
                if v.is_empty() {
                    return Err(BuildError::Invalid("SHELL requires at least one argument".into()));
                }
                c.shell = Some(v.clone());
                shown = format!("SHELL {}", quoted_list(v));
            }
            "HEALTHCHECK" => {
                let hc = self.healthcheck(ins)?;
                shown = format!("HEALTHCHECK {}", hc);
                c.healthcheck = Some(hc);
            }
            "ONBUILD" => {
                let trigger = ins.raw();
                let (kw, _) = trigger.split_once(char::is_whitespace).unwrap_or((&trigger, ""));
                match kw.to_ascii_uppercase().as_str() {
                    "ONBUILD" => {
                        return Err(BuildError::Invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()))
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(BuildError::Invalid(format!("{kw} isn't allowed as an ONBUILD trigger")))
                    }
                    _ => {}
                }
                parser::parse_one(&trigger, ins.line)?;
                c.on_build.push(trigger.clone());
                shown = format!("ONBUILD {trigger}");
            }
            other => return Err(BuildError::Invalid(format!("unknown instruction: {other}"))),
        }
        let key = cache::key(&[&parent, "META", &shown, &serde_json::to_string(&cfg.config).unwrap_or_default()]);
        if ins.keyword == "CMD" {
            st.cmd_set = true;
        }
        if self.cached(st, &key)? {
            return Ok(());
        }
        st.config = cfg;
        self.commit(st, &key, Some(format!("/bin/sh -c #(nop)  {shown}")), None)
    }

    /// ENV and LABEL pairs: `k=v ...`, or the legacy `key value with spaces`.
    fn key_values(
        &self,
        ins: &Instruction,
        vars: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, BuildError> {
        let raw = ins.raw();
        let words = split_raw(&raw, self.escape).map_err(BuildError::Invalid)?;
        let e = |m: String| BuildError::Invalid(m);
        if words.first().is_some_and(|w| !w.contains('=')) {
            if ins.keyword == "LABEL" && words.len() == 1 {
                return Err(BuildError::Invalid(format!("LABEL requires a value: {raw}")));
            }
            let key = words[0].clone();
            let rest = raw[raw.find(&key).unwrap_or(0) + key.len()..].trim();
            if rest.is_empty() {
                return Err(BuildError::Invalid(format!("{} names must have a value: {key}", ins.keyword)));
            }
            return Ok(vec![(key, self.word(rest, vars).map_err(e)?)]);
        }
        let mut out = Vec::new();
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                return Err(BuildError::Invalid(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                )));
            };
            let k = self.word(k, vars).map_err(e)?;
            if k.is_empty() {
                return Err(BuildError::Invalid(format!("{} names can not be blank", ins.keyword)));
            }
            out.push((k, self.word(v, vars).map_err(e)?));
        }
        Ok(out)
    }

    /// `HEALTHCHECK [--interval=...] CMD ...` or `HEALTHCHECK NONE`, as the image config's JSON.
    fn healthcheck(&self, ins: &Instruction) -> Result<serde_json::Value, BuildError> {
        let raw = ins.raw();
        let (kw, rest) = raw.split_once(char::is_whitespace).unwrap_or((&raw, ""));
        let mut hc = serde_json::Map::new();
        match kw.to_ascii_uppercase().as_str() {
            "NONE" => {
                if !rest.trim().is_empty() || !ins.flags.is_empty() {
                    return Err(BuildError::Invalid("HEALTHCHECK NONE takes no arguments".into()));
                }
                hc.insert("Test".into(), serde_json::json!(["NONE"]));
                return Ok(serde_json::Value::Object(hc));
            }
            "CMD" => {
                let rest = rest.trim();
                let test: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                    Ok(v) if rest.starts_with('[') => std::iter::once("CMD".to_string()).chain(v).collect(),
                    // Docker keeps a shell-form check as CMD-SHELL, run by the container's /bin/sh.
                    _ => vec!["CMD-SHELL".to_string(), rest.to_string()],
                };
                if rest.is_empty() {
                    return Err(BuildError::Invalid("Missing command after HEALTHCHECK CMD".into()));
                }
                hc.insert("Test".into(), serde_json::json!(test));
            }
            _ => return Err(BuildError::Invalid(format!("Unknown type {kw:?} in HEALTHCHECK (try CMD)"))),
        }
        for (name, value) in &ins.flags {
            let field = match name.as_str() {
                "interval" => "Interval",
                "timeout" => "Timeout",
                "start-period" => "StartPeriod",
                "start-interval" => "StartInterval",
                "retries" => {
                    let n: i64 =
                        value.parse().map_err(|_| BuildError::Invalid(format!("invalid --retries: {value}")))?;
                    hc.insert("Retries".into(), n.into());
                    continue;
                }
                other => return Err(BuildError::Invalid(format!("Unknown flag: {other}"))),
            };
            let ns = parse_duration(value).map_err(BuildError::Invalid)?;
            hc.insert(field.into(), ns.into());
        }
        Ok(serde_json::Value::Object(hc))
    }

    fn check_flags(ins: &Instruction, allowed: &[&str]) -> Result<(), BuildError> {
        for (name, _) in &ins.flags {
            if !allowed.contains(&name.as_str()) {
                return Err(BuildError::Invalid(format!("Unknown flag: {name}")));
            }
        }
        Ok(())
    }
}

/// BuildKit's platform args, available when declared.
fn predefined(name: &str) -> Option<String> {
    let host = oci::host_platform();
    let platform = format!("{}/{}", host.os, host.architecture);
    match name {
        "TARGETPLATFORM" | "BUILDPLATFORM" => Some(platform),
        "TARGETOS" | "BUILDOS" => Some(host.os),
        "TARGETARCH" | "BUILDARCH" => Some(host.architecture),
        _ => None,
    }
}
