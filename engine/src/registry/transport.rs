//! One client per registry endpoint: sends requests, answers the 401 challenge (basic, or a
//! bearer token for the scopes it needs) once per request, and follows redirects itself so
//! that credentials go only to the registry's own host (a blob redirected to a CDN is fetched
//! without them).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use ureq::http::Response;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

use super::auth::{parse_challenges, scopes_for, token_from_response};
use super::credentials::Credential;
use super::{url_host, Endpoint, RegistryError, RegistryOptions};

pub type HttpResponse = Response<ureq::Body>;

/// A request body that can be sent again (after a 401 or a redirect).
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset` (a blob, or a chunk of it).
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

pub struct Client {
    agent: ureq::Agent,
    pub endpoint: Endpoint,
    credential: Option<Credential>,
    /// Token scopes this client's requests need (`repository:x:pull`, ...).
    scopes: Vec<String>,
    /// The Authorization value that worked last, reused until a 401 says otherwise.
    auth: Mutex<Option<String>>,
}

/// The system's trust roots (Debian's bundle) plus the registry's own CA certificates from
/// `<certs_dir>/<host>/*.crt`, as Docker reads `/etc/docker/certs.d`.
fn root_certs(options: &RegistryOptions, host: &str) -> RootCerts {
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    let mut files = vec![std::path::PathBuf::from("/etc/ssl/certs/ca-certificates.crt")];
    if let Ok(entries) = std::fs::read_dir(options.certs_dir.join(host)) {
        files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "crt")));
    }
    for file in files {
        if let Ok(pem) = std::fs::read(&file) {
            for item in ureq::tls::parse_pem(&pem).flatten() {
                if let PemItem::Certificate(c) = item {
                    certs.push(c);
                }
            }
        }
    }
    if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(&certs)
    }
}

/// `https://host/a/b` + `/c` or `http://x/y`: where a Location header points.
pub(crate) fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    if location.starts_with('/') {
        format!("{}{location}", &base[..host_end])
    } else {
        let dir_end = base.rfind('/').filter(|&i| i >= host_end).map_or(base.len(), |i| i + 1);
        format!("{}{location}", &base[..dir_end])
    }
}

/// The user name docker stores an identity token under (`auths.<host>.identitytoken`, or a
/// credential helper's answer): the secret is then an OAuth2 refresh token.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// The OAuth2 client ID berth names when it trades a refresh token for an access token.
const OAUTH_CLIENT_ID: &str = "berth";

/// An OAuth2 error answer (`{"error":"invalid_grant","error_description":"..."}`) as
/// `error: description`.
fn oauth_error(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = v.get("error")?.as_str()?;
    Some(match v.get("error_description").and_then(|d| d.as_str()) {
        Some(d) if !d.is_empty() => format!("{error}: {d}"),
        _ => error.to_string(),
    })
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The registry's error body (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":...}]}`), as
/// `code: message` for messages, and the first code.
pub fn error_detail(body: &[u8]) -> (Option<String>, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let first = v.get("errors").and_then(|e| e.get(0));
    let code = first.and_then(|e| e.get("code")).and_then(|c| c.as_str()).map(String::from);
    let message = first.and_then(|e| e.get("message")).and_then(|m| m.as_str()).unwrap_or_default();
    let text = match (&code, message) {
        (Some(c), m) if !m.is_empty() => format!("{}: {m}", c.to_ascii_lowercase().replace('_', " ")),
        (Some(c), _) => c.to_ascii_lowercase().replace('_', " "),
        (None, _) => String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string(),
    };
    (code, text)
}

/// Reads a small response body (manifests, JSON answers), refusing more than `limit` bytes.
pub fn read_small(resp: HttpResponse, limit: u64, host: &str) -> Result<Vec<u8>, RegistryError> {
    let mut body = resp.into_body();
    body.with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| RegistryError::Unreachable { host: host.to_string(), cause: e.to_string() })
}

impl Client {
    pub fn new(
        endpoint: Endpoint,
        options: &RegistryOptions,
        credential: Option<Credential>,
        scopes: Vec<String>,
    ) -> Client {
        let tls = if endpoint.insecure {
            TlsConfig::builder().provider(TlsProvider::Rustls).disable_verification(true).build()
        } else {
            TlsConfig::builder().provider(TlsProvider::Rustls).root_certs(root_certs(options, &endpoint.host)).build()
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .build();
        Client { agent: config.new_agent(), endpoint, credential, scopes, auth: Mutex::new(None) }
    }

    pub fn host(&self) -> &str {
        &self.endpoint.host
    }

    /// `<base>/v2/<rest>`.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/v2/{rest}", self.endpoint.base)
    }

    fn unreachable(&self, url: &str, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Unreachable { host: url_host(url).to_string(), cause: e.to_string() }
    }

    /// One HTTP exchange, no auth logic.
    fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        auth: Option<&str>,
    ) -> Result<HttpResponse, RegistryError> {
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        if let Some(a) = auth {
            builder = builder.header("Authorization", a);
        }
        let result = match body {
            Body::Empty => {
                let req = builder.body(()).map_err(|e| RegistryError::Protocol(e.to_string()))?;
                self.agent.run(req)
            }
            Body::Bytes(bytes) => {
                let req = builder
                    .header("Content-Length", bytes.len().to_string())
                    .body(bytes)
                    .map_err(|e| RegistryError::Protocol(e.to_string()))?;
                self.agent.run(req)
            }
            Body::File { path, offset, len } => {
                let mut file =
                    File::open(path).map_err(|e| RegistryError::Protocol(format!("{}: {e}", path.display())))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| RegistryError::Protocol(format!("{}: {e}", path.display())))?;
                let reader = file.take(len);
                let req = builder
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_owned_reader(reader))
                    .map_err(|e| RegistryError::Protocol(e.to_string()))?;
                self.agent.run(req)
            }
        };
        result.map_err(|e| self.unreachable(url, e))
    }

    /// Sends a request to this registry: answers one 401 challenge, follows redirects (with
    /// credentials only while on the registry's own host).
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<HttpResponse, RegistryError> {
        let mut url = url.to_string();
        let mut challenged = false;
        for _ in 0..10 {
            let own_host = url_host(&url) == url_host(&self.endpoint.base);
            let auth = if own_host { self.auth.lock().ok().and_then(|a| a.clone()) } else { None };
            let resp = self.raw(method, &url, headers, body, auth.as_deref())?;
            let status = resp.status().as_u16();
            if status == 401 && own_host && !challenged {
                challenged = true;
                let header: Vec<String> = resp
                    .headers()
                    .get_all("www-authenticate")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(String::from)
                    .collect();
                if self.authenticate(&header.join(", "))? {
                    continue;
                }
                return Ok(resp);
            }
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                if let Some(location) = resp.headers().get("location").and_then(|l| l.to_str().ok()) {
                    url = resolve(&url, location);
                    continue;
                }
            }
            return Ok(resp);
        }
        Err(RegistryError::Protocol(format!("{}: too many redirects", self.endpoint.host)))
    }

    /// Answers a challenge: remembers the Authorization value to send. False when there is
    /// nothing to answer with (no credentials for Basic, no challenge berth understands).
    fn authenticate(&self, header: &str) -> Result<bool, RegistryError> {
        let challenges = parse_challenges(header);
        let value = if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = bearer
                .param("realm")
                .ok_or_else(|| RegistryError::Protocol(format!("{}: bearer challenge without realm", self.host())))?;
            let scopes = scopes_for(bearer, &self.scopes);
            // Credentials go to the token service the registry names, as Docker sends them,
            // but never in clear text unless the registry itself is plain HTTP.
            let secure_realm = realm.starts_with("https://") || self.endpoint.base.starts_with("http://");
            let credential = self.credential.as_ref().filter(|_| secure_realm);
            let identity_token = credential.filter(|c| c.username == IDENTITY_TOKEN_USER);
            let (token_url, resp) = if let Some(c) = identity_token {
                // An identity token is an OAuth2 refresh token: it buys an access token with
                // a POSTed form (the distribution token spec's OAuth2 flow), never as a password.
                let mut form =
                    format!("grant_type=refresh_token&client_id={OAUTH_CLIENT_ID}&refresh_token={}", encode(&c.secret));
                if let Some(service) = bearer.param("service") {
                    form.push_str(&format!("&service={}", encode(service)));
                }
                if !scopes.is_empty() {
                    form.push_str(&format!("&scope={}", encode(&scopes.join(" "))));
                }
                let headers = [("Content-Type", "application/x-www-form-urlencoded")];
                (realm.to_string(), self.raw("POST", realm, &headers, Body::Bytes(form.as_bytes()), None)?)
            } else {
                let mut token_url = realm.to_string();
                let mut sep = if token_url.contains('?') { '&' } else { '?' };
                if let Some(service) = bearer.param("service") {
                    token_url.push_str(&format!("{sep}service={}", encode(service)));
                    sep = '&';
                }
                for scope in &scopes {
                    token_url.push_str(&format!("{sep}scope={}", encode(scope)));
                    sep = '&';
                }
                let basic = credential.map(basic_value);
                let resp = self.raw("GET", &token_url, &[], Body::Empty, basic.as_deref())?;
                (token_url, resp)
            };
            let status = resp.status().as_u16();
            let body = read_small(resp, 1 << 20, url_host(&token_url))?;
            if status == 401 || status == 403 || (identity_token.is_some() && status == 400) {
                // OAuth2 answers a refused refresh token with 400 invalid_grant.
                let refused = if identity_token.is_some() {
                    "the identity token was refused"
                } else {
                    "incorrect username or password"
                };
                return Err(RegistryError::Unauthorized {
                    host: self.host().to_string(),
                    detail: oauth_error(&body).unwrap_or_else(|| error_detail(&body).1).if_empty(refused),
                });
            }
            if status != 200 {
                return Err(RegistryError::Protocol(format!(
                    "{}: token service answered {status}: {}",
                    url_host(&token_url),
                    error_detail(&body).1
                )));
            }
            let token = token_from_response(&body).ok_or_else(|| {
                RegistryError::Protocol(format!("{}: token service answered no token", url_host(&token_url)))
            })?;
            format!("Bearer {token}")
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            match &self.credential {
                Some(c) => basic_value(c),
                None => return Ok(false),
            }
        } else {
            return Ok(false);
        };
        if let Ok(mut a) = self.auth.lock() {
            *a = Some(value);
        }
        Ok(true)
    }

    /// `GET /v2/`: is the registry there, and do our credentials work? (`login`.)
    pub fn ping(&self) -> Result<(), RegistryError> {
        let resp = self.send("GET", &self.url(""), &[], Body::Empty)?;
        let status = resp.status().as_u16();
        let body = read_small(resp, 1 << 20, self.host())?;
        match status {
            200..=299 => Ok(()),
            401 | 403 => Err(RegistryError::Unauthorized {
                host: self.host().to_string(),
                detail: error_detail(&body).1.if_empty("authentication required"),
            }),
            404 => Err(RegistryError::Protocol(format!("{}: not a registry (GET /v2/ answered 404)", self.host()))),
            s => Err(RegistryError::Protocol(format!("{}: GET /v2/ answered {s}", self.host()))),
        }
    }
}

fn basic_value(c: &Credential) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.secret)))
}

trait IfEmpty {
    fn if_empty(self, fallback: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, fallback: &str) -> String {
        if self.is_empty() {
            fallback.to_string()
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_oauth_errors() {
        let body = br#"{"error":"invalid_grant","error_description":"refresh token expired"}"#;
        assert_eq!(oauth_error(body).as_deref(), Some("invalid_grant: refresh token expired"));
        assert_eq!(oauth_error(br#"{"error":"invalid_request"}"#).as_deref(), Some("invalid_request"));
        assert_eq!(oauth_error(br#"{"errors":[{"code":"DENIED"}]}"#), None);
        assert_eq!(oauth_error(b"<html>"), None);
    }

    #[test]
    fn resolves_locations_and_reads_errors() {
        assert_eq!(
            resolve("http://h:5000/v2/x/blobs/uploads/", "/v2/x/blobs/uploads/u1?_state=s"),
            "http://h:5000/v2/x/blobs/uploads/u1?_state=s"
        );
        assert_eq!(resolve("https://h/v2/x", "https://cdn/y"), "https://cdn/y");
        assert_eq!(encode("repository:a/b:pull,push"), "repository:a/b:pull,push");
        assert_eq!(encode("a b&c"), "a%20b%26c");
        let (code, text) = error_detail(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#);
        assert_eq!(code.as_deref(), Some("MANIFEST_UNKNOWN"));
        assert_eq!(text, "manifest unknown: manifest unknown");
    }
}
