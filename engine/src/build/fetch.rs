//! ADD's remote sources: a plain HTTP/1.1 GET, written by hand (berth has no HTTP client
//! yet). Redirects are followed only to other `http://` URLs, so a server cannot point ADD at
//! `file:///etc/shadow` or anything else on the builder's host filesystem.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::BuildError;

fn fail(url: &str, why: impl std::fmt::Display) -> BuildError {
    BuildError::Invalid(format!("failed to fetch {url}: {why}"))
}

/// Fetches `url`; returns the body and the final URL (whose last path segment names the file).
pub fn get(url: &str) -> Result<(Vec<u8>, String), BuildError> {
    let mut current = url.to_string();
    for _ in 0..10 {
        let Some(rest) = current.strip_prefix("http://") else {
            if current.starts_with("https://") {
                return Err(fail(url, "https is not supported yet (berth has no TLS client)"));
            }
            return Err(fail(url, format!("refusing to follow a redirect to {current}")));
        };
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:80") };
        let mut stream = TcpStream::connect(&addr).map_err(|e| fail(url, e))?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| fail(url, e))?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: berth\r\nConnection: close\r\n\r\n")
            .map_err(|e| fail(url, e))?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).map_err(|e| fail(url, e))?;
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| fail(url, "bad HTTP response"))?;
        let mut location = None;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(|e| fail(url, e))? == 0 {
                break;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let v = v.trim();
                match k.to_ascii_lowercase().as_str() {
                    "location" => location = Some(v.to_string()),
                    "content-length" => length = v.parse().ok(),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    _ => {}
                }
            }
        }
        if (300..400).contains(&code) {
            let loc = location.ok_or_else(|| fail(url, format!("redirect {code} without a location")))?;
            current = if loc.starts_with('/') { format!("http://{hostport}{loc}") } else { loc };
            continue;
        }
        if code != 200 {
            return Err(fail(url, format!("bad response status {}", status.trim())));
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).map_err(|e| fail(url, e))?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| fail(url, "bad chunk"))?;
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0; n];
                reader.read_exact(&mut chunk).map_err(|e| fail(url, e))?;
                body.extend_from_slice(&chunk);
                let mut crlf = String::new();
                reader.read_line(&mut crlf).map_err(|e| fail(url, e))?;
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            reader.read_exact(&mut body).map_err(|e| fail(url, e))?;
        } else {
            reader.read_to_end(&mut body).map_err(|e| fail(url, e))?;
        }
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
