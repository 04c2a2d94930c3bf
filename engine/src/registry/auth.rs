//! The registry auth challenge: a 401 carries `WWW-Authenticate: Basic realm=...` or
//! `Bearer realm="https://auth/token",service="...",scope="repository:x:pull"`; for Bearer
//! the client asks the realm for a token for the scopes it needs and retries.

use std::collections::BTreeMap;

/// One challenge from a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercase: `basic` or `bearer`.
    pub scheme: String,
    /// Parameter names lowercased, values unquoted.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses a `WWW-Authenticate` value (RFC 7235): one or more challenges, each a scheme and
/// comma-separated `name=value` or `name="quoted, value"` parameters.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let b = header.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize, set: &[u8]| {
        while *i < b.len() && set.contains(&b[*i]) {
            *i += 1;
        }
    };
    loop {
        skip(&mut i, b" \t,");
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && !b" \t,=".contains(&b[i]) {
            i += 1;
        }
        let token = header[start..i].to_string();
        let mut j = i;
        skip(&mut j, b" \t");
        if j < b.len() && b[j] == b'=' && is_token68_end(b, j) {
            // A challenge's token68 credentials (`Negotiate abc==`): nothing berth uses.
            i = j;
            skip(&mut i, b"=");
        } else if j < b.len() && b[j] == b'=' && !out.is_empty() {
            // A parameter of the current challenge.
            i = j + 1;
            skip(&mut i, b" \t");
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch = header[i..].chars().next().unwrap_or(' ');
                    v.push(ch);
                    i += ch.len_utf8();
                }
                i += 1;
                v
            } else {
                let s = i;
                while i < b.len() && !b" \t,".contains(&b[i]) {
                    i += 1;
                }
                header[s..i].to_string()
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            out.push(Challenge { scheme: token.to_ascii_lowercase(), params: BTreeMap::new() });
        }
    }
    out
}

/// `token68=` padding (`Basic abc==`) is not a parameter: `=` followed by the end or a comma.
fn is_token68_end(b: &[u8], eq: usize) -> bool {
    let mut k = eq;
    while k < b.len() && b[k] == b'=' {
        k += 1;
    }
    k == b.len() || b[k] == b','
}

/// A token scope: `repository:library/busybox:pull` or `...:pull,push`.
pub fn repository_scope(path: &str, actions: &[&str]) -> String {
    format!("repository:{path}:{}", actions.join(","))
}

/// The scopes to request: the ones the client needs, plus any the challenge names that are
/// not among them (the registry knows best what it wants).
pub fn scopes_for(challenge: &Challenge, wanted: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = wanted.to_vec();
    if let Some(s) = challenge.param("scope") {
        for scope in s.split(' ').filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|w| w == scope) {
                scopes.push(scope.to_string());
            }
        }
    }
    scopes
}

/// The token endpoint's answer: `token`, or OAuth's `access_token`.
pub fn token_from_response(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_bearer_challenge() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/busybox:pull"));
    }

    #[test]
    fn parses_basic_and_several_challenges() {
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            c,
            vec![Challenge { scheme: "basic".into(), params: [("realm".into(), "Registry Realm".into())].into() }]
        );
        let c = parse_challenges(
            r#"Basic realm="a, b", Bearer realm="https://t/token", service=reg, scope="repository:x:pull,push repository:y:pull""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("realm"), Some("a, b"));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("service"), Some("reg"));
        let scopes = scopes_for(&c[1], &[repository_scope("x", &["pull", "push"])]);
        assert_eq!(scopes, ["repository:x:pull,push", "repository:y:pull"]);
        // Quoted escapes and token68 padding.
        let c = parse_challenges(r#"Bearer realm="a\"b", error="insufficient_scope""#);
        assert_eq!(c[0].param("realm"), Some("a\"b"));
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
        let c = parse_challenges("Negotiate abc==, Basic realm=x");
        assert_eq!(c.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(), ["negotiate", "basic"]);
    }

    #[test]
    fn reads_tokens() {
        assert_eq!(token_from_response(br#"{"token":"t1","expires_in":300}"#).as_deref(), Some("t1"));
        assert_eq!(token_from_response(br#"{"access_token":"t2"}"#).as_deref(), Some("t2"));
        assert_eq!(token_from_response(br#"{"token":""}"#), None);
        assert_eq!(token_from_response(b"nope"), None);
    }
}
