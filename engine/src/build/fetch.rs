//! ADD's remote sources: a GET through ureq (the registry client's HTTP stack, rustls with the
//! system's roots). Redirects are followed by hand, and only to other `http://` or `https://`
//! URLs, so a server cannot point ADD at `file:///etc/shadow` or anything else on the
//! builder's host filesystem.

use std::io::Read;
use std::time::Duration;

use ureq::tls::{TlsConfig, TlsProvider};

use super::BuildError;

fn fail(url: &str, why: impl std::fmt::Display) -> BuildError {
    BuildError::Invalid(format!("failed to fetch {url}: {why}"))
}

/// Fetches `url`; returns the body and the final URL (whose last path segment names the file).
pub fn get(url: &str) -> Result<(Vec<u8>, String), BuildError> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(TlsConfig::builder().provider(TlsProvider::Rustls).build())
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let mut current = url.to_string();
    for _ in 0..10 {
        if !current.starts_with("http://") && !current.starts_with("https://") {
            return Err(fail(url, format!("refusing to follow a redirect to {current}")));
        }
        let response = agent.get(&current).call().map_err(|e| fail(url, e))?;
        let code = response.status().as_u16();
        if (300..400).contains(&code) {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| fail(url, format!("redirect {code} without a location")))?;
            current = crate::registry::transport::resolve(&current, location);
            continue;
        }
        if code != 200 {
            return Err(fail(url, format!("bad response status {code}")));
        }
        let mut body = Vec::new();
        response.into_body().into_reader().read_to_end(&mut body).map_err(|e| fail(url, e))?;
        return Ok((body, current));
    }
    Err(fail(url, "too many redirects"))
}

/// The file name a URL gives ADD when the destination is a directory.
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    after_host.rsplit('/').find(|s| !s.is_empty()).unwrap_or("download").to_string()
}
