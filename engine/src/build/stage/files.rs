//! The steps that write files themselves, with no container: WORKDIR (when its directory is
//! missing), COPY and ADD.

use std::collections::BTreeSet;
use std::fs;

use super::{cache, Builder, State};
use crate::build::context::{self, Content, Item, Meta, SourceRoot};
use crate::build::dockerignore::clean;
use crate::build::parser::{Form, Instruction};
use crate::build::words::expand_only;
use crate::build::{fetch, BuildError};
use crate::error::IoContext;

impl Builder<'_> {
    pub(super) fn workdir(&mut self, st: &mut State, ins: &Instruction) -> Result<(), BuildError> {
        let vars = Self::vars(st);
        let dir = self.word(&ins.raw(), &vars).map_err(BuildError::Invalid)?;
        let base = if dir.starts_with('/') { String::new() } else { st.config.config.working_dir.clone() };
        let parts = clean(&format!("{base}/{dir}").replace("//", "/")).unwrap_or_default();
        let path = format!("/{}", parts.join("/"));
        let mut cfg = st.config.clone();
        cfg.config.working_dir = path.clone();
        let key = cache::key(&[&st.parent_key(), "WORKDIR", &path]);
        if self.cached(st, &key)? {
            return Ok(());
        }
        // Created if missing, root-owned, as Docker does.
        let root = self.image_root(&st.layers)?;
        let mut items = Vec::new();
        let mut made: BTreeSet<Vec<String>> = BTreeSet::new();
        missing_dirs(&root, &parts, &mut made, &mut items)?;
        drop(root);
        st.config = cfg;
        if items.is_empty() {
            return self.commit(st, &key, Some(format!("/bin/sh -c #(nop) WORKDIR {path}")), None);
        }
        let row = self.layer_from_items(st, &items)?;
        self.commit(st, &key, Some(format!("/bin/sh -c #(nop) WORKDIR {path}")), Some(row))
    }

    pub(super) fn copy(&mut self, st: &mut State, ins: &Instruction) -> Result<(), BuildError> {
        let add = ins.keyword == "ADD";
        Self::check_flags(ins, &["from", "chown", "chmod", "link"])?;
        let vars = Self::vars(st);
        let e = BuildError::Invalid;
        let mut words = match &ins.form {
            Form::Exec(v) => v.iter().map(|s| self.word(s, &vars)).collect::<Result<Vec<_>, _>>().map_err(e)?,
            Form::Shell(s) => self.words(s, &vars).map_err(e)?,
        };
        if words.len() < 2 {
            return Err(BuildError::Invalid(format!("{} requires at least two arguments", ins.keyword)));
        }
        let dest = words.pop().expect("two words");
        let sources = words;
        // Where the sources are.
        let from_root = match ins.flag("from") {
            None => None,
            Some(f) => {
                if add {
                    return Err(BuildError::Invalid("ADD does not support --from".into()));
                }
                let f = self.word(f, &vars).map_err(e)?;
                let current = self.results.len();
                let layers = match self.stage_index(&f, current) {
                    Some(j) => match self.results[j].as_ref() {
                        Some(s) => s.layers.clone(),
                        // Dependencies are found with the global ARGs only.
                        None => {
                            return Err(BuildError::Invalid(format!(
                                "--from={f}: that stage was not built (its name came from a stage's own ARG)"
                            )))
                        }
                    },
                    None => {
                        let id = self.store.resolve_image(&f)?;
                        self.layers_of(&id)?
                    }
                };
                Some(self.image_root(&layers)?)
            }
        };
        let image = self.image_root(&st.layers)?;
        let (uid, gid) = match ins.flag("chown") {
            None => (0u64, 0u64),
            Some(spec) => {
                let spec = self.word(spec, &vars).map_err(e)?;
                let id = crate::container::user::resolve_user(&image.root, &spec).map_err(BuildError::Invalid)?;
                (u64::from(id.uid), u64::from(id.gid))
            }
        };
        let chmod = match ins.flag("chmod") {
            None => None,
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| BuildError::Invalid(format!("invalid --chmod={m}: an octal mode")))?,
            ),
        };
        let own = |m: Meta| Meta { uid, gid, mode: chmod.unwrap_or(m.mode), mtime: m.mtime };

        // The destination, relative to WORKDIR, through the image's symlinks.
        let workdir = st.config.config.working_dir.clone();
        let dest_abs = if dest.starts_with('/') { dest.clone() } else { format!("{workdir}/{dest}") };
        let dest_parts = clean(&dest_abs).unwrap_or_default();
        let dest_parts = match dest_parts.split_last() {
            None => Vec::new(),
            Some((last, parent)) => {
                let mut p = image.resolve(parent, true, &dest)?;
                p.push(last.clone());
                p
            }
        };
        let dest_dir_exists = image.path_of(&image.resolve(&dest_parts, true, &dest)?).is_dir();

        let src_root = from_root.as_ref().unwrap_or(&self.context);
        let mut items: Vec<Item> = Vec::new();
        let mut count = 0;
        struct Planned {
            parts: Vec<String>,
            is_dir: bool,
        }
        let mut planned: Vec<Planned> = Vec::new();
        let mut remote: Vec<(String, Vec<u8>)> = Vec::new();
        let mut inline: Vec<(String, Vec<u8>)> = Vec::new();
        for src in &sources {
            if add && (src.starts_with("http://") || src.starts_with("https://")) {
                let (body, final_url) = fetch::get(src)?;
                remote.push((fetch::file_name(&final_url), body));
                count += 1;
                continue;
            }
            if let Some(name) = src.strip_prefix("<<") {
                let name = name.trim_start_matches('-').trim_matches(['"', '\'']);
                if let Some(h) = ins.heredocs.iter().find(|h| h.name == name) {
                    // An unquoted delimiter: ARG and ENV values are substituted in the content.
                    let body = if h.expand {
                        expand_only(&h.body, &vars, self.escape).map_err(BuildError::Invalid)?
                    } else {
                        h.body.clone()
                    };
                    inline.push((name.to_string(), body.into_bytes()));
                    count += 1;
                    continue;
                }
            }
            if src.contains("://") {
                return Err(BuildError::Invalid(format!("{} does not support URLs: {src}", ins.keyword)));
            }
            for parts in src_root.expand(src)? {
                let is_dir = src_root.path_of(&parts).is_dir();
                planned.push(Planned { parts, is_dir });
                count += 1;
            }
        }
        let into_dir = dest.ends_with('/') || dest_dir_exists || count > 1 || dest == "." || dest.ends_with("/.");
        if count > 1 && !(dest.ends_with('/') || dest_dir_exists) {
            return Err(BuildError::Invalid(format!(
                "When using {} with more than one source file, the destination must be a directory and end with a /",
                ins.keyword
            )));
        }
        let join = |base: &[String], rest: &[String]| -> String {
            base.iter().chain(rest.iter()).cloned().collect::<Vec<_>>().join("/")
        };
        let file_dest = |name: &str| -> String {
            if into_dir {
                join(&dest_parts, &[name.to_string()])
            } else {
                dest_parts.join("/")
            }
        };
        let mut made: BTreeSet<Vec<String>> = BTreeSet::new();
        let mut parents_of = |path: &str, items: &mut Vec<Item>| -> Result<(), BuildError> {
            let parts: Vec<String> = path.split('/').map(str::to_string).collect();
            missing_dirs(&image, &parts[..parts.len().saturating_sub(1)], &mut made, items)
        };
        for (name, body) in remote.into_iter().chain(inline.iter().cloned()) {
            let is_remote = !inline.iter().any(|(n, _)| *n == name);
            let d = file_dest(&name);
            parents_of(&d, &mut items)?;
            let mode = if is_remote { 0o600 } else { 0o644 };
            items.push(Item::File {
                dest: d,
                src: Content::Bytes(body),
                meta: own(Meta { mode, uid: 0, gid: 0, mtime: 0 }),
            });
        }
        for p in planned {
            let path = src_root.path_of(&p.parts);
            if p.is_dir {
                // A directory's contents go into the destination.
                let mut dir_items = Vec::new();
                let base = dest_parts.join("/");
                if !base.is_empty() && !image.path_of(&image.resolve(&dest_parts, true, &dest)?).is_dir() {
                    parents_of(&base, &mut items)?;
                    let meta = fs::metadata(&path).at(&path)?;
                    dir_items
                        .push(Item::Dir { dest: base.clone(), meta: own(Meta { mode: 0o755, ..Meta::of(&meta) }) });
                }
                for (rel, meta) in src_root.walk(&p.parts)? {
                    let d = join(&dest_parts, &rel);
                    let src = path.join(rel.join("/"));
                    let m = own(Meta::of(&meta));
                    if meta.is_dir() {
                        dir_items.push(Item::Dir { dest: d, meta: m });
                    } else if meta.file_type().is_symlink() {
                        let target = fs::read_link(&src).at(&src)?.to_string_lossy().into_owned();
                        dir_items.push(Item::Symlink { dest: d, target, meta: Meta { mode: 0o777, ..m } });
                    } else if meta.is_file() {
                        dir_items.push(Item::File { dest: d, src: Content::Path(src), meta: m });
                    }
                }
                items.extend(dir_items);
            } else if add && from_root.is_none() && context::is_archive(&path) {
                let base = dest_parts.join("/");
                if !base.is_empty() {
                    parents_of(&format!("{base}/."), &mut items)?;
                }
                items.push(Item::Archive { dest: base, src: path });
            } else {
                let name = p.parts.last().cloned().unwrap_or_default();
                let d = file_dest(&name);
                parents_of(&d, &mut items)?;
                let meta = fs::metadata(&path).at(&path)?;
                items.push(Item::File { dest: d, src: Content::Path(path), meta: own(Meta::of(&meta)) });
            }
        }
        // The sources (and --from's mount) are read until the layer is written.
        let sum = context::checksum(&items)?;
        let shown_dest = format!("/{}", dest_parts.join("/"));
        let key = cache::key(&[&st.parent_key(), &ins.keyword, &shown_dest, &sum]);
        if self.cached(st, &key)? {
            return Ok(());
        }
        let row = self.layer_from_items(st, &items)?;
        let kind = if sources.len() == 1 && items.len() == 1 { "file" } else { "multi" };
        let history = format!("/bin/sh -c #(nop) {} {kind}:{sum} in {shown_dest} ", ins.keyword);
        self.commit(st, &key, Some(history), Some(row))
    }
}

/// Adds a root-owned 0755 directory for each of `parts`' prefixes the image lacks.
fn missing_dirs(
    image: &SourceRoot,
    parts: &[String],
    made: &mut BTreeSet<Vec<String>>,
    items: &mut Vec<Item>,
) -> Result<(), BuildError> {
    for k in 1..=parts.len() {
        let prefix = parts[..k].to_vec();
        if made.contains(&prefix) {
            continue;
        }
        let resolved = image.resolve(&prefix, true, &parts.join("/"))?;
        if image.path_of(&resolved).is_dir() {
            continue;
        }
        made.insert(prefix.clone());
        items.push(Item::Dir { dest: prefix.join("/"), meta: Meta { mode: 0o755, uid: 0, gid: 0, mtime: 0 } });
    }
    Ok(())
}
