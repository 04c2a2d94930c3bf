//! Credentials, shared with the docker CLI: `~/.docker/config.json` (`DOCKER_CONFIG` moves
//! it), its `auths` entries (`{"auth": base64("user:password")}`) and the credential helpers it
//! names (`credsStore` for every registry, `credHelpers` per registry), which are
//! `docker-credential-<name>` programs speaking JSON on stdin and stdout. A docker login is a
//! berth login and back. Unknown keys in the file are kept as they are.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{RegistryError, HUB_AUTH_KEY};

/// A user name and secret for one registry. `identity_token` is an OAuth refresh token some
/// registries hand out instead of a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub secret: String,
}

/// `DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

/// The server key as docker writes it: Docker Hub under its v1 URL, others as `host[:port]`.
pub fn normalize_server(server: &str) -> String {
    let host = super::url_host(server.trim());
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => HUB_AUTH_KEY.to_string(),
        h => h.to_string(),
    }
}

fn cred_err(path: &Path, what: impl std::fmt::Display) -> RegistryError {
    RegistryError::Credentials(format!("{}: {what}", path.display()))
}

/// config.json, read whole and written back whole (temp file and rename).
pub struct DockerConfig {
    path: PathBuf,
    value: Map<String, Value>,
}

impl DockerConfig {
    pub fn load(dir: &Path) -> Result<DockerConfig, RegistryError> {
        let path = dir.join("config.json");
        let value = match std::fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(cred_err(&path, "not a JSON object")),
                Err(e) => return Err(cred_err(&path, e)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(cred_err(&path, e)),
        };
        Ok(DockerConfig { path, value })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The helper for a server: its `credHelpers` entry, else `credsStore`.
    fn helper(&self, key: &str) -> Option<String> {
        let host = super::url_host(key);
        let per = self.value.get("credHelpers").and_then(Value::as_object);
        per.and_then(|m| m.get(key).or_else(|| m.get(host)))
            .or_else(|| self.value.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    }

    /// The `auths` entry for a server, matching `host`, `https://host` and `http://host/...`.
    fn auth_entry(&self, key: &str) -> Option<&Map<String, Value>> {
        let auths = self.value.get("auths")?.as_object()?;
        if let Some(entry) = auths.get(key).and_then(Value::as_object) {
            return Some(entry);
        }
        auths.iter().find(|(k, _)| normalize_server(k) == key).and_then(|(_, v)| v.as_object())
    }

    /// The credential for a server key (see `normalize_server`), if any.
    pub fn get(&self, key: &str) -> Result<Option<Credential>, RegistryError> {
        if let Some(helper) = self.helper(key) {
            if let Some(c) = helper_get(&helper, key)? {
                return Ok(Some(c));
            }
        }
        let Some(entry) = self.auth_entry(key) else {
            return Ok(None);
        };
        if let Some(token) = entry.get("identitytoken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            // docker's convention: an identity token travels as the password of user "<token>".
            return Ok(Some(Credential {
                username: super::transport::IDENTITY_TOKEN_USER.into(),
                secret: token.into(),
            }));
        }
        if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|e| cred_err(&self.path, format!("auths.{key}: {e}")))?;
            let text = String::from_utf8_lossy(&decoded);
            let (user, pass) =
                text.split_once(':').ok_or_else(|| cred_err(&self.path, format!("auths.{key}: invalid auth")))?;
            return Ok(Some(Credential { username: user.into(), secret: pass.into() }));
        }
        let user = entry.get("username").and_then(Value::as_str);
        let pass = entry.get("password").and_then(Value::as_str);
        Ok(user.zip(pass).map(|(u, p)| Credential { username: u.into(), secret: p.into() }))
    }

    /// Stores a credential (in the helper when one is configured). Returns where it went:
    /// `None` for a helper, else the file (which keeps the password base64-encoded only).
    pub fn store(&mut self, key: &str, cred: &Credential) -> Result<Option<PathBuf>, RegistryError> {
        if let Some(helper) = self.helper(key) {
            helper_call(
                &helper,
                "store",
                &json!({"ServerURL": key, "Username": cred.username, "Secret": cred.secret}).to_string(),
            )?;
            // Docker leaves an empty entry so `auths` still lists the server.
            self.auths_mut().insert(key.into(), json!({}));
            self.save()?;
            return Ok(None);
        }
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", cred.username, cred.secret));
        self.auths_mut().insert(key.into(), json!({ "auth": auth }));
        self.save()?;
        Ok(Some(self.path.clone()))
    }

    /// Removes a server's credential. Returns false when there was none.
    pub fn erase(&mut self, key: &str) -> Result<bool, RegistryError> {
        let mut found = false;
        if let Some(helper) = self.helper(key) {
            found = helper_call(&helper, "erase", key).is_ok();
        }
        let auths = self.auths_mut();
        let keys: Vec<String> = auths.keys().filter(|k| *k == key || normalize_server(k) == key).cloned().collect();
        for k in keys {
            auths.remove(&k);
            found = true;
        }
        if found {
            self.save()?;
        }
        Ok(found)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let entry = self.value.entry("auths").or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        entry.as_object_mut().expect("made an object above")
    }

    fn save(&self) -> Result<(), RegistryError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| cred_err(dir, e))?;
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let mut text = serde_json::to_string_pretty(&self.value).map_err(|e| cred_err(&self.path, e))?;
        text.push('\n');
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            // The file holds secrets: owner-only, as docker makes it.
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            cred_err(&self.path, e)
        })
    }
}

/// Runs `docker-credential-<helper> <verb>` with `input` on stdin; returns its stdout.
fn helper_call(helper: &str, verb: &str, input: &str) -> Result<String, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RegistryError::Credentials(format!("{program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| RegistryError::Credentials(format!("{program}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        let why = if stdout.is_empty() { String::from_utf8_lossy(&out.stderr).trim().to_string() } else { stdout };
        return Err(RegistryError::Credentials(format!("{program} {verb}: {why}")));
    }
    Ok(stdout)
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credential>, RegistryError> {
    match helper_call(helper, "get", key) {
        Ok(out) => {
            let v: Value = serde_json::from_str(&out)
                .map_err(|e| RegistryError::Credentials(format!("docker-credential-{helper} get: {e}")))?;
            let user = v.get("Username").and_then(Value::as_str).unwrap_or_default();
            let secret = v.get("Secret").and_then(Value::as_str).unwrap_or_default();
            Ok((!secret.is_empty()).then(|| Credential { username: user.into(), secret: secret.into() }))
        }
        // The helpers' protocol: "credentials not found in native keychain" is no credential.
        Err(RegistryError::Credentials(m)) if m.contains("credentials not found") => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_docker_entries() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"http://reg:5000":{"auth":"YTpiOmM="}},"psFormat":"x"}"#,
        )
        .unwrap();
        let mut c = DockerConfig::load(dir.path()).unwrap();
        assert_eq!(c.get(HUB_AUTH_KEY).unwrap(), Some(Credential { username: "user".into(), secret: "pass".into() }));
        assert_eq!(c.get("reg:5000").unwrap(), Some(Credential { username: "a".into(), secret: "b:c".into() }));
        assert_eq!(c.get("other").unwrap(), None);
        c.store("new:1", &Credential { username: "u".into(), secret: "p".into() }).unwrap();
        assert!(c.erase("reg:5000").unwrap());
        assert!(!c.erase("reg:5000").unwrap());
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["psFormat"], "x");
        assert_eq!(v["auths"]["new:1"]["auth"], "dTpw");
        assert!(v["auths"].get("http://reg:5000").is_none());
        assert_eq!(normalize_server("docker.io"), HUB_AUTH_KEY);
        assert_eq!(normalize_server("https://localhost:5000/v2/"), "localhost:5000");
    }
}
