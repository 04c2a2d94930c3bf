//! RUN: a container of the step's image, run by the caller's StepRunner, its upper dir
//! committed as the step's layer.

use std::collections::BTreeSet;
use std::fs;

use super::{cache, Builder, State, PROXY_ARGS};
use crate::build::parser::{Form, Instruction};
use crate::build::{BuildError, Event};
use crate::container::create::CreateOptions;
use crate::container::model::HostConfig;
use crate::error::IoContext;
use crate::oci;

impl Builder<'_> {
    pub(super) fn run(&mut self, st: &mut State, ins: &Instruction) -> Result<(), BuildError> {
        Self::check_flags(ins, &["network", "mount"])?;
        let mut mounts = Vec::new();
        for (name, spec) in &ins.flags {
            if name == "mount" {
                mounts.push(self.cache_mount(spec)?);
            }
        }
        let shell = st.config.config.shell.clone().unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        let argv: Vec<String> = match &ins.form {
            Form::Exec(v) => v.clone(),
            Form::Shell(s) => {
                let script = match ins.heredocs.as_slice() {
                    // `RUN <<EOF`: the heredoc is the script.
                    [h] if s.trim().trim_start_matches("<<").trim_start_matches('-').trim_matches(['"', '\''])
                        == h.name =>
                    {
                        if h.body.starts_with("#!") {
                            // A script with its own interpreter runs as a file, as in BuildKit.
                            format!(
                                "f=/.berth-heredoc-$$; cat > \"$f\" <<'BERTH_HEREDOC'\n{}BERTH_HEREDOC\nchmod +x \"$f\"; \"$f\"; s=$?; rm -f \"$f\"; exit $s",
                                h.body
                            )
                        } else {
                            h.body.clone()
                        }
                    }
                    // Otherwise the shell gets the command line and its heredocs, as written.
                    hs => {
                        let mut text = s.clone();
                        for h in hs {
                            text.push('\n');
                            text.push_str(&h.body);
                            text.push_str(&h.name);
                        }
                        text
                    }
                };
                shell.iter().cloned().chain(std::iter::once(script)).collect()
            }
        };
        let network = match ins.flag("network") {
            Some("default") | None => self.network.clone(),
            Some(n @ ("none" | "host" | "bridge")) => n.to_string(),
            Some(other) => {
                return Err(BuildError::Invalid(format!(
                    "RUN --network={other} is not supported (none, host, default)"
                )))
            }
        };
        // Build args reach RUN as environment variables (ENV wins), proxy args without a
        // declaration; only the declared ones are recorded in history.
        let env_keys: BTreeSet<String> =
            st.config.config.env.iter().map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string()).collect();
        let declared: Vec<String> = st
            .args
            .iter()
            .filter(|(k, v)| v.is_some() && !env_keys.contains(*k))
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("")))
            .collect();
        let mut env = declared.clone();
        for p in PROXY_ARGS {
            if let Some(v) = self.build_args.get(*p) {
                if !st.args.contains_key(*p) {
                    env.push(format!("{p}={v}"));
                }
            }
        }
        let command_text = argv.join(" ");
        let history = if declared.is_empty() {
            command_text.clone()
        } else {
            format!("|{} {} {}", declared.len(), declared.join(" "), command_text)
        };
        let key = cache::key(&[
            &st.parent_key(),
            "RUN",
            &serde_json::to_string(&argv).unwrap_or_default(),
            &env.join("\n"),
            &network,
            &mounts.iter().map(|m| m.target.as_str()).collect::<Vec<_>>().join("\n"),
        ]);
        if self.cached(st, &key)? {
            return Ok(());
        }
        let Some(image) = st.id.clone() else {
            return Err(BuildError::Invalid("cannot RUN in an empty image (FROM scratch): there is no shell".into()));
        };
        let cfg = &st.config.config;
        let options = CreateOptions {
            image: image.to_string(),
            cmd: argv.clone(),
            entrypoint: Some(Vec::new()),
            env,
            workdir: (!cfg.working_dir.is_empty()).then(|| cfg.working_dir.clone()),
            user: Some(cfg.user.clone()),
            no_healthcheck: true,
            host: HostConfig { network_mode: network, mounts, ..Default::default() },
            ..Default::default()
        };
        let record = self.store.create_container(&options)?;
        let short: String = record.id.chars().take(12).collect();
        self.emit(Event::Running(&short));
        let result = self.runner.run(self.store, &record.id).map_err(BuildError::from).and_then(|code| {
            if code != 0 {
                return Err(BuildError::RunFailed { command: command_text.clone(), code });
            }
            let upper = self.store.container_dir(&record.id).join("upper");
            let lowers: Vec<_> = st.layers.iter().map(|l| self.store.layer_dir(&l.chain_id).join("diff")).collect();
            strip_mountpoints(&upper, &lowers);
            let mut blob = self.store.blob_writer()?;
            crate::layer::write_layer_tar(&upper, &mut blob).at(&upper)?;
            let diff_id = blob.commit(None)?;
            let parent = st.layers.last().map(|l| l.chain_id.clone());
            Ok(self.store.unpack_layer(&diff_id, &diff_id, parent.as_ref(), Some(oci::MEDIA_OCI_LAYER))?)
        });
        let removed = self.runner.remove(self.store, &record.id);
        let row = result?;
        removed?;
        self.emit(Event::Removed(&short));
        self.commit(st, &key, Some(history), Some(row))
    }

    /// `--mount=type=cache,target=/x[,id=...]`: a directory of the state root that outlives the
    /// build, bind-mounted at the target; its content never reaches the layer. Other mount types
    /// are refused rather than ignored.
    fn cache_mount(&self, spec: &str) -> Result<crate::container::model::MountSpec, BuildError> {
        let mut kind = "bind";
        let mut target = None;
        let mut id = None;
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            match k {
                "type" => kind = v,
                "target" | "dst" | "destination" => target = Some(v.to_string()),
                "id" => id = Some(v.to_string()),
                // Sharing modes: steps of one build run one at a time here anyway.
                "sharing" | "mode" | "uid" | "gid" => {}
                other => return Err(BuildError::Invalid(format!("RUN --mount: unsupported option {other:?}"))),
            }
        }
        if kind != "cache" {
            return Err(BuildError::Invalid(format!("RUN --mount=type={kind} is not supported (only type=cache)")));
        }
        let target = target
            .filter(|t| t.starts_with('/'))
            .ok_or_else(|| BuildError::Invalid("RUN --mount=type=cache needs an absolute target=".into()))?;
        let id = id.unwrap_or_else(|| target.clone());
        let dir = self.store.root().join("buildcache").join("mounts").join(cache::key(&[&id]));
        fs::create_dir_all(&dir).at(&dir)?;
        Ok(crate::container::model::MountSpec {
            kind: "bind".into(),
            source: dir.display().to_string(),
            target,
            ..Default::default()
        })
    }
}

/// Removes what the runtime made in the container's upper dir only to mount over it: empty
/// `/etc/hosts`-like files the image lacks, and `/proc`, `/sys`, `/dev`, `/etc` when nothing
/// was written under them. Docker keeps these in an init layer, never in a step's layer.
fn strip_mountpoints(upper: &std::path::Path, lowers: &[std::path::PathBuf]) {
    let in_image = |rel: &str| lowers.iter().any(|l| fs::symlink_metadata(l.join(rel)).is_ok());
    for file in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        let path = upper.join(file);
        if !in_image(file) && fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = fs::remove_file(&path);
        }
    }
    // remove_dir only removes empty directories: anything a step wrote there stays.
    for dir in ["dev", "proc", "sys", "etc"] {
        let path = upper.join(dir);
        let opaque = xattr::get(&path, "trusted.overlay.opaque").ok().flatten().is_some();
        if !opaque {
            let _ = fs::remove_dir(&path);
        }
    }
}
