//! IPv4 subnets and addresses: parsing, the pool new networks take their subnet from, and the
//! next free address in a subnet.

use std::net::Ipv4Addr;

use crate::{Error, Result};

/// An IPv4 subnet (`10.89.0.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = || Error::Invalid(format!("invalid subnet {s}: expected an IPv4 CIDR such as 10.89.0.0/24"));
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().ok().filter(|p| (8..=30).contains(p)).ok_or_else(bad)?;
        let subnet = Subnet { base: Ipv4Addr::from(u32::from(addr) & mask(prefix)), prefix };
        if subnet.base != addr {
            return Err(Error::Invalid(format!("invalid subnet {s}: host bits are set (did you mean {subnet}?)")));
        }
        Ok(subnet)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.base)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = mask(self.prefix.min(other.prefix));
        u32::from(self.base) & m == u32::from(other.base) & m
    }

    /// The n-th address of the subnet (1 is the usual gateway).
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + n)
    }

    /// How many host addresses it has (without network and broadcast addresses).
    pub fn hosts(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 2
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// The default pool: /24s out of 10.89.0.0/16, clear of docker's 172.17.0.0/16 and podman's
/// 10.88.0.0/16.
pub const DEFAULT_POOL: &str = "10.89.0.0/16";

/// The first /24 of `pool` that overlaps none of `taken` (other networks, the host's routes).
pub fn pick_subnet(pool: Subnet, taken: &[Subnet]) -> Result<Subnet> {
    let size = if pool.prefix <= 24 { 24 } else { pool.prefix };
    let count = 1u32 << (size - pool.prefix);
    (0..count)
        .map(|i| Subnet { base: Ipv4Addr::from(u32::from(pool.base) + (i << (32 - size))), prefix: size })
        .find(|s| !taken.iter().any(|t| t.overlaps(s)))
        .ok_or_else(|| {
            Error::Invalid(format!("could not find an available, non-overlapping IPv4 address pool in {pool}"))
        })
}

/// The host's own routes (`/proc/net/route`), which a new subnet must not shadow. The default
/// route (0.0.0.0/0) is left out.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            let prefix = u32::from_be(mask).count_ones() as u8;
            (prefix > 0).then(|| Subnet { base: Ipv4Addr::from(u32::from_be(dest)), prefix })
        })
        .collect()
}

/// The lowest free host address from .2 on (.1 is the gateway).
pub fn next_free(subnet: Subnet, gateway: Ipv4Addr, used: &[Ipv4Addr]) -> Result<Ipv4Addr> {
    (1..=subnet.hosts())
        .map(|n| subnet.nth(n))
        .find(|ip| *ip != gateway && !used.contains(ip))
        .ok_or_else(|| Error::Invalid(format!("no available IPv4 addresses on the network's subnet {subnet}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        let s = Subnet::parse("10.89.3.0/24").unwrap();
        assert!(s.contains("10.89.3.77".parse().unwrap()) && !s.contains("10.89.4.1".parse().unwrap()));
        assert!(Subnet::parse("10.89.3.1/24").unwrap_err().to_string().contains("did you mean 10.89.3.0/24"));
        assert!(Subnet::parse("nonsense").is_err());
        assert!(s.overlaps(&Subnet::parse("10.89.0.0/16").unwrap()));
        assert!(!s.overlaps(&Subnet::parse("10.89.4.0/24").unwrap()));
    }

    #[test]
    fn the_pool_skips_taken_subnets_and_addresses_skip_used_ones() {
        let pool = Subnet::parse(DEFAULT_POOL).unwrap();
        let taken = [Subnet::parse("10.89.0.0/24").unwrap(), Subnet::parse("10.89.1.0/25").unwrap()];
        assert_eq!(pick_subnet(pool, &taken).unwrap().to_string(), "10.89.2.0/24");
        let s = Subnet::parse("10.89.2.0/30").unwrap();
        let gw = s.nth(1);
        assert_eq!(next_free(s, gw, &[]).unwrap().to_string(), "10.89.2.2");
        assert!(next_free(s, gw, &[s.nth(2)]).is_err(), "a /30 has two hosts");
    }
}
