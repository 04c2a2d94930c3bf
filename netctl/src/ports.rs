//! Published ports: Docker's `-p` syntax, and choosing host ports (a random free one for `-p 80`
//! and `-P`; a taken one is refused before the container starts).

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One requested publication, as `HostConfig.PortBindings` keeps it: `80/tcp` ->
/// (host IP or "", host port or "" for a random one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `80/tcp`
    pub container: String,
    pub host_ip: String,
    pub host_port: String,
}

/// A publication in force: the kernel rules DNAT `host_ip:host_port` to the container.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub protocol: String,
    pub container_port: u16,
    /// "" for every host address.
    pub host_ip: String,
    pub host_port: u16,
}

fn port(s: &str, spec: &str) -> Result<u16> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::Invalid(format!("invalid port specification: \"{spec}\"")))
}

fn range(s: &str, spec: &str) -> Result<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a, spec)?, port(b, spec)?);
            if b < a {
                return Err(Error::Invalid(format!("invalid range specified for container port: \"{spec}\"")));
            }
            Ok((a, b))
        }
        None => port(s, spec).map(|p| (p, p)),
    }
}

/// Parses one `-p` value: `[ip:][hostPort[-end]:]containerPort[-end][/proto]`.
pub fn parse(spec: &str) -> Result<Vec<Request>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) if matches!(p, "tcp" | "udp" | "sctp") => (r, p),
        Some((_, p)) => return Err(Error::Invalid(format!("invalid proto: {p}"))),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(Error::Invalid(format!("invalid port specification: \"{spec}\""))),
    };
    if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
        return Err(Error::Invalid(format!("invalid IP address: {ip}")));
    }
    let (c0, c1) = range(container, spec)?;
    let host_range = if host.is_empty() { None } else { Some(range(host, spec)?) };
    if let Some((h0, h1)) = host_range {
        if h1 - h0 != c1 - c0 && h0 != h1 {
            return Err(Error::Invalid(format!("invalid ranges specified for container and host Ports: {spec}")));
        }
    }
    Ok((c0..=c1)
        .enumerate()
        .map(|(i, c)| Request {
            container: format!("{c}/{proto}"),
            host_ip: ip.to_string(),
            host_port: match host_range {
                Some((h0, h1)) if h0 == h1 => h0.to_string(),
                Some((h0, _)) => (h0 + i as u16).to_string(),
                None => String::new(),
            },
        })
        .collect())
}

/// Whether the host port is free for `protocol` on `ip` (checked by binding it for a moment).
fn free(protocol: &str, ip: Ipv4Addr, port: u16) -> bool {
    match protocol {
        "udp" => UdpSocket::bind((ip, port)).is_ok(),
        _ => TcpListener::bind((ip, port)).is_ok(),
    }
}

/// A free host port chosen by the kernel.
fn random(protocol: &str, ip: Ipv4Addr) -> Result<u16> {
    let chosen = match protocol {
        "udp" => UdpSocket::bind((ip, 0)).and_then(|s| s.local_addr()),
        _ => TcpListener::bind((ip, 0)).and_then(|s| s.local_addr()),
    };
    chosen.map(|a| a.port()).map_err(|e| Error::Invalid(format!("no free host port: {e}")))
}

/// Turns requests into mappings: random ports chosen, requested ones checked against the host's
/// sockets and `taken` (what other containers publish already).
pub fn allocate(requests: &[Request], taken: &[Mapping]) -> Result<Vec<Mapping>> {
    let mut out: Vec<Mapping> = Vec::new();
    for r in requests {
        let (number, protocol) = r.container.split_once('/').unwrap_or((&r.container, "tcp"));
        let container_port = port(number, &r.container)?;
        let ip: Ipv4Addr = if r.host_ip.is_empty() {
            Ipv4Addr::UNSPECIFIED
        } else {
            r.host_ip.parse().map_err(|_| Error::Invalid(format!("invalid IP address: {}", r.host_ip)))?
        };
        let host_port = if r.host_port.is_empty() {
            random(protocol, ip)?
        } else {
            let p = port(&r.host_port, &r.host_port)?;
            let clash = taken.iter().chain(out.iter()).any(|m| {
                m.host_port == p
                    && m.protocol == protocol
                    && (m.host_ip.is_empty() || r.host_ip.is_empty() || m.host_ip == r.host_ip)
            });
            if clash || !free(protocol, ip, p) {
                return Err(Error::Invalid(format!("Bind for {ip}:{p} failed: port is already allocated")));
            }
            p
        };
        out.push(Mapping { protocol: protocol.to_string(), container_port, host_ip: r.host_ip.clone(), host_port });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(container: &str, ip: &str, host: &str) -> Request {
        Request { container: container.into(), host_ip: ip.into(), host_port: host.into() }
    }

    #[test]
    fn docker_port_specs_parse() {
        assert_eq!(parse("8080:80").unwrap(), [req("80/tcp", "", "8080")]);
        assert_eq!(parse("127.0.0.1:8080:80/udp").unwrap(), [req("80/udp", "127.0.0.1", "8080")]);
        assert_eq!(parse("80").unwrap(), [req("80/tcp", "", "")]);
        assert_eq!(parse("8000-8001:80-81").unwrap(), [req("80/tcp", "", "8000"), req("81/tcp", "", "8001")]);
        assert!(parse("70000:80").is_err());
        assert!(parse("8000-8002:80-81").is_err());
        assert!(parse("80/xyz").is_err());
    }

    #[test]
    fn a_taken_port_is_refused_and_a_random_one_is_free() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let p = held.local_addr().unwrap().port();
        let err = allocate(&[req("80/tcp", "127.0.0.1", &p.to_string())], &[]).unwrap_err();
        assert!(err.to_string().contains("port is already allocated"), "{err}");
        let mine = Mapping { protocol: "tcp".into(), container_port: 80, host_ip: String::new(), host_port: 1 };
        assert!(allocate(&[req("80/tcp", "", "1")], &[mine]).is_err(), "another container's port");
        let random = allocate(&[req("80/tcp", "", "")], &[]).unwrap();
        assert!(random[0].host_port > 0);
    }
}
