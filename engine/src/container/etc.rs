//! The files berth writes for a container's /etc: hostname, hosts and resolv.conf, kept in
//! the container's directory and bind-mounted over the image's.

use std::fs;
use std::path::Path;

use super::model::Record;
use crate::error::{IoContext, Result};

const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Writes `hostname`, `hosts` and `resolv.conf` into the container's directory. They are
/// written anew at every start, so they are replaced without being made durable
/// (`files::replace_volatile`).
pub fn write_etc_files(root: &Path, record: &Record) -> Result<()> {
    let dir = super::store::container_dir_at(root, &record.id);
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        crate::files::replace_volatile(&path, text.as_bytes()).at(&path)
    };
    let hostname = &record.config.hostname;
    write("hostname", format!("{hostname}\n"))?;
    let mut hosts = HOSTS.to_string();
    for entry in &record.host_config.extra_hosts {
        // `name:ip` (Docker's form) or `name=ip` (Compose's); an IPv6 address has colons too.
        let (name, ip) = entry.split_once('=').or_else(|| entry.split_once(':')).unwrap_or((entry, ""));
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    write("hosts", hosts)?;
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let h = &record.host_config;
    let text = with_dns_options(&resolv_conf(&host), &h.dns, &h.dns_search, &h.dns_options);
    write("resolv.conf", text)
}

/// A resolv.conf with the container's own `--dns` servers, `--dns-search` domains and
/// `--dns-option`s in place of the base file's lines of each kind (given ones only).
pub fn with_dns_options(base: &str, nameservers: &[String], search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    for line in base.lines() {
        let keep = match line.split_whitespace().next() {
            Some("nameserver") => nameservers.is_empty(),
            Some("search" | "domain") => search.is_empty(),
            Some("options") => options.is_empty(),
            _ => true,
        };
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    for ns in nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// The host's resolv.conf without loopback resolvers (unreachable from a container's network
/// namespace); Docker's public fallback when none is left.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            match words.next() {
                Some(ip) if ip.starts_with("127.") || ip == "::1" => continue,
                Some(_) => servers += 1,
                None => continue,
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}
