//! Port short syntax (`[ip:][published[-range]:]target[-range][/proto]`) to long syntax.

use crate::error::{LoadError, Pos};
use crate::yaml::{Key, Map, Node, Value};

/// One `ports:` entry to one or more long-syntax mappings (a range gives several).
pub fn normalize(item: Node, path: &str) -> Result<Vec<Node>, LoadError> {
    if let Value::Map(mut m) = item.value {
        if let Some(p) = m.get_mut("published") {
            if let Some(text) = p.scalar_text() {
                p.value = Value::Str(text);
            }
        }
        for (k, default) in [("mode", "ingress"), ("protocol", "tcp")] {
            if m.get(k).is_none() {
                m.0.push((key(k, &item.pos), Node::str(default, item.pos.clone())));
            }
        }
        return Ok(vec![Node { value: Value::Map(m), pos: item.pos, tag: item.tag }]);
    }
    let Some(text) = item.scalar_text() else {
        return Err(LoadError::invalid(
            &item.pos,
            path,
            format!("must be a string, a number or a mapping, not {}", item.kind()),
        ));
    };
    let bad = || LoadError::invalid(&item.pos, path, format!("{text:?} is not a valid port"));
    let specs = parse(&text).ok_or_else(bad)?;
    Ok(specs
        .into_iter()
        .map(|s| {
            let pos = &item.pos;
            let mut m = Map::default();
            m.0.push((key("mode", pos), Node::str("ingress", pos.clone())));
            if let Some(ip) = s.host_ip {
                m.0.push((key("host_ip", pos), Node::str(ip, pos.clone())));
            }
            m.0.push((key("target", pos), Node::new(Value::Int(i64::from(s.target)), pos.clone())));
            if let Some(p) = s.published {
                m.0.push((key("published", pos), Node::str(p, pos.clone())));
            }
            m.0.push((key("protocol", pos), Node::str(s.protocol, pos.clone())));
            Node::new(Value::Map(m), pos.clone())
        })
        .collect())
}

fn key(name: &str, pos: &Pos) -> Key {
    Key { name: name.into(), pos: pos.clone() }
}

#[derive(Debug, PartialEq)]
pub struct PortSpec {
    pub host_ip: Option<String>,
    pub published: Option<String>,
    pub target: u16,
    pub protocol: String,
}

/// Parses the short syntax; `None` if it is not valid.
pub fn parse(text: &str) -> Option<Vec<PortSpec>> {
    let (rest, protocol) = match text.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (text, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return None;
    }
    let (ip, published, target) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after.split_once(']')?;
        let tail = tail.strip_prefix(':')?;
        let (p, t) = tail.rsplit_once(':')?;
        (Some(ip.to_string()), Some(p), t)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.as_slice() {
            [t] => (None, None, *t),
            [p, t] => (None, Some(*p), *t),
            [ip @ .., p, t] => (Some(ip.join(":")), Some(*p), *t),
            [] => return None,
        }
    };
    let ip = ip.filter(|s| !s.is_empty());
    if let Some(ip) = &ip {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return None;
        }
    }
    let (t0, t1) = range(target, 1)?;
    let published = published.filter(|p| !p.is_empty());
    let pub_range = match published {
        Some(p) => Some(range(p, 0)?),
        None => None,
    };
    let count = t1 - t0 + 1;
    let mut out = Vec::new();
    for i in 0..count {
        let published = match pub_range {
            None => None,
            Some((p0, p1)) if count == 1 => Some(if p0 == p1 { p0.to_string() } else { format!("{p0}-{p1}") }),
            Some((p0, p1)) if p1 - p0 + 1 == count => Some((p0 + i).to_string()),
            Some(_) => return None,
        };
        out.push(PortSpec { host_ip: ip.clone(), published, target: t0 + i, protocol: protocol.clone() });
    }
    Some(out)
}

/// `80` or `8000-8010`, each within `min..=65535`.
fn range(s: &str, min: u16) -> Option<(u16, u16)> {
    let num = |x: &str| -> Option<u16> {
        if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        x.parse::<u16>().ok().filter(|v| *v >= min)
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some((a, b))
        }
        None => num(s).map(|v| (v, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> (Option<String>, Option<String>, u16, String) {
        let mut v = parse(text).unwrap();
        assert_eq!(v.len(), 1);
        let p = v.remove(0);
        (p.host_ip, p.published, p.target, p.protocol)
    }

    #[test]
    fn short_syntax() {
        assert_eq!(one("80"), (None, None, 80, "tcp".into()));
        assert_eq!(one("8080:80"), (None, Some("8080".into()), 80, "tcp".into()));
        assert_eq!(one("127.0.0.1:8080:80/udp"), (Some("127.0.0.1".into()), Some("8080".into()), 80, "udp".into()));
        assert_eq!(one("127.0.0.1::80"), (Some("127.0.0.1".into()), None, 80, "tcp".into()));
        assert_eq!(one("[::1]:8080:80"), (Some("::1".into()), Some("8080".into()), 80, "tcp".into()));
        assert_eq!(one("9090-9091:8080"), (None, Some("9090-9091".into()), 8080, "tcp".into()));
        let r = parse("8000-8001:80-81").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[1].published.as_deref(), r[1].target), (Some("8001"), 81));
    }

    #[test]
    fn invalid() {
        for bad in ["70000:80", "80:70000", "0", "abc", "80/xyz", "8000-8002:80-81", "1.2.3:80:80", "-1", "80-79"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
