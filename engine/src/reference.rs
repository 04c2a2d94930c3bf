//! Image references, parsed as Docker parses them: `busybox` is `docker.io/library/busybox:latest`,
//! `host:5000/ns/repo:tag@sha256:...` keeps its registry, and names print back in familiar form.

use std::fmt;

use crate::digest::Digest;
use crate::error::Error;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_NAMESPACE: &str = "library";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (with port), e.g. `docker.io` or `localhost:5000`.
    pub domain: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

fn invalid(s: &str, why: &str) -> Error {
    if why.is_empty() {
        Error::InvalidReference(format!("{s:?}"))
    } else {
        Error::InvalidReference(format!("{why}: {s:?}"))
    }
}

/// One path component: lowercase alphanumerics separated by `.`, `_`, `__` or runs of `-`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__`, or one or more `-`, always followed by an alphanumeric.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || !b.get(i).is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (d, None),
    };
    let host_ok = if host.starts_with('[') && host.ends_with(']') {
        host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

impl Reference {
    /// Parses a reference in any form Docker accepts (not an image ID).
    pub fn parse(s: &str) -> Result<Reference, Error> {
        if s.is_empty() {
            return Err(invalid(s, ""));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).ok_or_else(|| invalid(s, "invalid digest"))?)),
            None => (s, None),
        };
        // The tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(invalid(s, ""));
            }
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        if !valid_domain(&domain) {
            return Err(invalid(s, ""));
        }
        if path.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(Error::InvalidReference("repository name must be lowercase".into()));
        }
        if path.is_empty() || !path.split('/').all(valid_component) || name.len() > 255 {
            return Err(invalid(s, ""));
        }
        let domain = if domain == LEGACY_DOMAIN { DEFAULT_DOMAIN.to_string() } else { domain };
        let path =
            if domain == DEFAULT_DOMAIN && !path.contains('/') { format!("{OFFICIAL_NAMESPACE}/{path}") } else { path };
        Ok(Reference { domain, path, tag: tag.map(str::to_string), digest })
    }

    /// Parses and, when neither tag nor digest is given, tags `latest`.
    pub fn parse_tagged(s: &str) -> Result<Reference, Error> {
        let mut r = Reference::parse(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".into());
        }
        Ok(r)
    }

    /// `docker.io/library/busybox`
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox`, `foo/bar`, `localhost:5000/x`: the repository as Docker prints it.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path.strip_prefix("library/").filter(|p| !p.contains('/')).unwrap_or(&self.path).to_string()
        } else {
            self.repository()
        }
    }

    /// The full name with tag, the key under which tags are stored.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.repository()))
    }

    /// The full name with digest, the key under which repo digests are stored.
    pub fn digested_name(&self) -> Option<String> {
        self.digest.as_ref().map(|d| format!("{}@{d}", self.repository()))
    }

    /// The familiar form with tag and/or digest: `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits a stored full name (`docker.io/library/busybox:latest`) into familiar repository and tag.
pub fn split_stored_tag(name: &str) -> (String, String) {
    match Reference::parse(name) {
        Ok(r) => (r.familiar_repository(), r.tag.unwrap_or_default()),
        Err(_) => (name.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let r = Reference::parse_tagged("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("foo/bar:1.0").unwrap();
        assert_eq!(r.to_string(), "docker.io/foo/bar:1.0");
        assert_eq!(r.familiar(), "foo/bar:1.0");
        let d = "sha256:".to_string() + &"a".repeat(64);
        let r = Reference::parse(&format!("host:5000/ns/repo:tag@{d}")).unwrap();
        assert_eq!(r.domain, "host:5000");
        assert_eq!(r.path, "ns/repo");
        assert_eq!(r.tag.as_deref(), Some("tag"));
        assert_eq!(r.digest.as_ref().map(|d| d.as_str().to_string()), Some(d));
        let r = Reference::parse("localhost/x").unwrap();
        assert_eq!(r.familiar(), "localhost/x");
        let r = Reference::parse("localhost:5000/x").unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert!(r.tag.is_none());
        assert_eq!(Reference::parse("index.docker.io/library/busybox").unwrap().familiar(), "busybox");
        assert_eq!(Reference::parse("docker.io/library/x/y").unwrap().familiar(), "library/x/y");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "UPPER", "a:b:c", "-a", "a-", "a//b", "a:", "a@sha256:xyz", "a b", "a..b", "Host:5000x/y"] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(Reference::parse("a__b.c-d---e").is_ok());
        assert!(Reference::parse("MyRegistry.io/x").is_ok());
    }
}
