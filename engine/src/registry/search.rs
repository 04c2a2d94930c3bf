//! `search`: Docker Hub's search API (`/v1/search`) for Docker Hub; for any other registry,
//! its `_catalog` filtered by the term (a plain distribution registry has no search).

use super::pull::client_for;
use super::transport::{encode, error_detail, read_small, Body};
use super::{endpoints, Endpoint, RegistryError, RegistryOptions};
use crate::error::Result;
use crate::reference::DEFAULT_DOMAIN;

#[derive(Clone, Debug, PartialEq)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub stars: u64,
    pub official: bool,
}

/// Searches `registry` (a host, or `docker.io`) for `term`, at most `limit` results.
pub fn search(options: &RegistryOptions, registry: &str, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
    if registry == DEFAULT_DOMAIN {
        let endpoint = Endpoint {
            base: "https://index.docker.io".into(),
            host: "index.docker.io".into(),
            insecure: !options.tls_verify,
            mirror: false,
        };
        let client = client_for(&endpoint, options, Vec::new())?;
        let url = format!("{}/v1/search?q={}&n={limit}", endpoint.base, encode(term));
        let resp = client.send("GET", &url, &[], Body::Empty)?;
        let status = resp.status().as_u16();
        let body = read_small(resp, 16 << 20, client.host())?;
        if status != 200 {
            return Err(RegistryError::Protocol(format!(
                "{}: search answered {status}: {}",
                client.host(),
                error_detail(&body).1
            ))
            .into());
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::Protocol(format!("{}: search: {e}", client.host())))?;
        let results = v.get("results").and_then(|r| r.as_array()).cloned().unwrap_or_default();
        return Ok(results
            .iter()
            .map(|r| SearchResult {
                name: r.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_string(),
                description: r.get("description").and_then(|n| n.as_str()).unwrap_or_default().to_string(),
                stars: r.get("star_count").and_then(|n| n.as_u64()).unwrap_or(0),
                official: r.get("is_official").and_then(|n| n.as_bool()).unwrap_or(false),
            })
            .take(limit)
            .collect());
    }
    let all = endpoints(registry, options, false);
    let mut last = None;
    for endpoint in &all {
        let client = client_for(endpoint, options, vec!["registry:catalog:*".to_string()])?;
        let result = (|| -> Result<Vec<SearchResult>> {
            let mut found = Vec::new();
            let mut url = client.url("_catalog");
            // The catalog comes in pages, each naming the next in a Link header.
            for _ in 0..100 {
                let resp = client.send("GET", &url, &[], Body::Empty)?;
                let status = resp.status().as_u16();
                let next = resp
                    .headers()
                    .get("link")
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| l.split_once('<'))
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(target, _)| format!("{}{target}", client.endpoint.base));
                let body = read_small(resp, 16 << 20, client.host())?;
                if status == 401 {
                    return Err(RegistryError::Unauthorized {
                        host: client.host().into(),
                        detail: error_detail(&body).1,
                    }
                    .into());
                }
                if status != 200 {
                    return Err(RegistryError::Protocol(format!(
                        "{}: _catalog answered {status}: {}",
                        client.host(),
                        error_detail(&body).1
                    ))
                    .into());
                }
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| RegistryError::Protocol(format!("{}: _catalog: {e}", client.host())))?;
                let repos = v.get("repositories").and_then(|r| r.as_array()).cloned().unwrap_or_default();
                found.extend(repos.iter().filter_map(|r| r.as_str()).filter(|r| r.contains(term)).map(|r| {
                    SearchResult {
                        name: format!("{registry}/{r}"),
                        description: String::new(),
                        stars: 0,
                        official: false,
                    }
                }));
                match next {
                    Some(n) if found.len() < limit => url = n,
                    _ => break,
                }
            }
            found.truncate(limit);
            Ok(found)
        })();
        match result {
            Ok(r) => return Ok(r),
            Err(e @ crate::Error::Registry(RegistryError::Unreachable { .. })) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| RegistryError::Protocol("no endpoint".into()).into()))
}
