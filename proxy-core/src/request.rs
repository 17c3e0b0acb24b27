//! Parsing the request head and its target URI: the lab's `parse_uri` and
//! the `sscanf(buf, "%s %s %s", method, uri, version)` in `doit`.
//!
//! Pure functions from bytes to values; nothing here touches a socket, so
//! every rule is unit-tested directly.

use std::fmt;

use crate::error::ProxyError;

/// Where the request goes: the parts of `http://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal, without the brackets of an IPv6 literal.
    pub host: String,
    /// Port, 80 when the URI names none.
    pub port: u16,
    /// Path and query, `/` when the URI has none. Never contains a fragment.
    pub path: String,
}

impl Target {
    /// `host` with brackets around an IPv6 literal, as in URIs and `Host`.
    pub fn host_for_uri(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The `Host` header value derived from the URI: `host`, plus `:port`
    /// when it is not the default 80.
    pub fn host_header(&self) -> String {
        if self.port == 80 {
            self.host_for_uri()
        } else {
            format!("{}:{}", self.host_for_uri(), self.port)
        }
    }

    /// The cache key (SPEC §5): the absolute URI with a lower-case host and an
    /// explicit port, so `http://A/x` and `http://a:80/x` share one entry.
    pub fn cache_key(&self) -> String {
        format!(
            "http://{}:{}{}",
            self.host_for_uri().to_ascii_lowercase(),
            self.port,
            self.path
        )
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

/// One request header as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name, in the client's spelling.
    pub name: String,
    /// The field value, raw bytes.
    pub value: Vec<u8>,
}

/// A parsed client request: what `doit` extracts before it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Always `GET` (anything else is refused while parsing).
    pub method: String,
    /// The URI as the client wrote it (for logs).
    pub uri: String,
    /// The parsed absolute URI.
    pub target: Target,
    /// The client's headers, in order.
    pub headers: Vec<Header>,
}

/// The longest host name accepted in a `Host` header: a DNS name has at most
/// 253 characters (255 with a trailing dot and a margin of one).
pub const MAX_HOST_LEN: usize = 255;

/// Parses a complete request head (as found by [`crate::head::HeadBuf`]).
///
/// Accepts CRLF and bare LF line endings. Refuses (`400`) what a careful
/// proxy must not forward: malformed lines, a header without a colon, spaces
/// before a colon, obsolete line folding, control bytes, two `Host` headers,
/// a `Host` that is not a valid `uri-host[:port]` ([`parse_host_header`]),
/// and a request body (`Transfer-Encoding`, non-zero `Content-Length`),
/// since one GET per connection has no body to forward.
pub fn parse_request(head: &[u8]) -> Result<Request, ProxyError> {
    let (method, uri, headers) = parse_head(head)?;
    if method != "GET" {
        return Err(ProxyError::NotImplemented(format!(
            "the {method} method (this proxy serves GET only)"
        )));
    }
    let target = parse_target(&uri)?;
    check_headers(&headers)?;
    if let Some(host) = headers.iter().find(|h| h.name.eq_ignore_ascii_case("Host"))
        && parse_host_header(&host.value).is_none()
    {
        return Err(ProxyError::BadRequest(format!(
            "the Host header {:?} is not a host[:port]",
            String::from_utf8_lossy(&host.value[..host.value.len().min(100)])
        )));
    }
    Ok(Request {
        method,
        uri,
        target,
        headers,
    })
}

/// Parses a `CONNECT host:port HTTP/1.x` head (SPEC §4.7): the target
/// in authority form, a host as in a `Host` header and a port that must be
/// given (`400` otherwise). The target's path is empty. Its headers are
/// not forwarded anywhere, but they are held to the same rules as a GET's
/// (no body, no control bytes).
pub fn parse_connect(head: &[u8]) -> Result<Target, ProxyError> {
    let (method, authority, headers) = parse_head(head)?;
    if method != "CONNECT" {
        return Err(ProxyError::BadRequest("not a CONNECT request".into()));
    }
    let bad = || ProxyError::BadRequest(format!("CONNECT needs host:port, not {authority:?}"));
    let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
        !port.is_empty() && (!host.starts_with('[') || host.ends_with(']'))
    });
    let (host, port) = split_authority(&authority)
        .filter(|(host, _)| has_port && host.len() <= MAX_HOST_LEN)
        .ok_or_else(bad)?;
    check_headers(&headers)?;
    Ok(Target {
        host: host.to_string(),
        port,
        path: String::new(),
    })
}

/// httparse over a complete head: its method, target and headers, or
/// `400` for a head that is not a request.
fn parse_head(head: &[u8]) -> Result<(String, String, Vec<Header>), ProxyError> {
    // One slot per line is always enough, so httparse never runs out.
    #[allow(
        clippy::naive_bytecount,
        reason = "one pass over a request head of at most a few KiB; not worth the bytecount crate"
    )]
    let lines = head.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut slots = vec![httparse::EMPTY_HEADER; lines];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ProxyError::BadRequest("incomplete request head".into()));
        }
        Err(e) => {
            return Err(ProxyError::BadRequest(format!(
                "malformed request head ({e})"
            )));
        }
    }
    let headers = parsed
        .headers
        .iter()
        .map(|h| Header {
            name: h.name.to_string(),
            value: h.value.to_vec(),
        })
        .collect();
    Ok((
        parsed.method.unwrap_or_default().to_string(),
        parsed.path.unwrap_or_default().to_string(),
        headers,
    ))
}

/// The header rules that keep the request unambiguous for the origin.
fn check_headers(headers: &[Header]) -> Result<(), ProxyError> {
    let count = |name: &str| {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    if count("Host") > 1 {
        return Err(ProxyError::BadRequest("more than one Host header".into()));
    }
    if count("Transfer-Encoding") > 0 {
        return Err(ProxyError::BadRequest(
            "Transfer-Encoding on a GET request".into(),
        ));
    }
    for h in headers {
        if h.value.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return Err(ProxyError::BadRequest(format!(
                "control byte in the {} header",
                h.name
            )));
        }
        if h.name.eq_ignore_ascii_case("Content-Length") && h.value.as_slice() != b"0" {
            return Err(ProxyError::BadRequest(
                "a GET request with a body is not forwarded".into(),
            ));
        }
    }
    Ok(())
}

/// Splits an absolute `http://host[:port][/path]` URI: the lab's
/// `parse_uri`.
///
/// A missing path is `/`, a missing (or empty) port is 80, IPv6 literals are
/// written `[::1]`, a `#fragment` is dropped. `https://` is `501` (this proxy
/// does no TLS); anything that is not an absolute http URI is `400`, as are
/// user info (`user@host`), port 0 or above 65535, and bytes that cannot be
/// part of a host name.
pub fn parse_target(uri: &str) -> Result<Target, ProxyError> {
    let bad = |why: &str| ProxyError::BadRequest(format!("{why}: {uri}"));
    let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(ProxyError::NotImplemented(
            "https:// (this proxy speaks plain HTTP only)".into(),
        ));
    }
    if !lower.starts_with("http://") {
        return Err(bad("the target must be an absolute http:// URI"));
    }
    let rest = &uri["http://".len()..];
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    if authority.contains('@') {
        return Err(bad("user info in the URI is not allowed"));
    }
    let (host, port) = split_authority(authority).ok_or_else(|| bad("bad host or port"))?;
    Ok(Target {
        host: host.to_string(),
        port,
        path,
    })
}

/// A client's `Host` header value as host and port (80 when it names
/// none), or `None` when it is not a `uri-host[:port]` this proxy accepts
/// (SPEC §4.4, issue #14 item 7): a name of letters, digits, `-`, `_` and
/// `.` of at most [`MAX_HOST_LEN`] bytes, or a bracketed IPv6 literal,
/// then optionally `:` and a port of 1-65535 written in digits only. A
/// comma list, user info, a path, a backslash, spaces, non-ASCII bytes,
/// an empty value or `host:+80` are all refused (`400`), so what reaches
/// the origin and the cache key is always one plain authority.
pub fn parse_host_header(value: &[u8]) -> Option<(String, u16)> {
    let text = std::str::from_utf8(value).ok()?;
    let (host, port) = split_authority(text)?;
    if host.len() > MAX_HOST_LEN {
        return None;
    }
    Some((host.to_ascii_lowercase(), port))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → host and port.
fn split_authority(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let port = if after.is_empty() {
            ""
        } else {
            after.strip_prefix(':')?
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, port),
            None => (authority, ""),
        }
    };
    let port = match port {
        "" => 80,
        p if p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 5 => {
            p.parse::<u16>().ok().filter(|&p| p != 0)?
        }
        _ => return None,
    };
    let valid_name = !host.is_empty()
        && (host.contains(':')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'));
    valid_name.then_some((host, port))
}

#[cfg(test)]
mod tests;
