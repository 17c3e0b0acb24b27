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
    // One slot per line is always enough, so httparse never runs out.
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
    let method = parsed.method.unwrap_or_default().to_string();
    let uri = parsed.path.unwrap_or_default().to_string();
    if method != "GET" {
        return Err(ProxyError::NotImplemented(format!(
            "the {method} method (this proxy serves GET only)"
        )));
    }
    let target = parse_target(&uri)?;
    let headers: Vec<Header> = parsed
        .headers
        .iter()
        .map(|h| Header {
            name: h.name.to_string(),
            value: h.value.to_vec(),
        })
        .collect();
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
mod tests {
    use super::*;

    fn target(uri: &str) -> Target {
        parse_target(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    fn status(uri: &str) -> Option<u16> {
        parse_target(uri).err().and_then(|e| e.status())
    }

    #[test]
    fn splits_host_port_and_path() {
        let t = target("http://www.cmu.edu:8080/hub/index.html?x=1");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("www.cmu.edu", 8080, "/hub/index.html?x=1")
        );
    }

    #[test]
    fn defaults_port_80_and_path_slash() {
        let t = target("http://example.test");
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        assert_eq!(target("http://example.test:").port, 80);
        assert_eq!(target("http://a?q").path, "/?q");
        assert_eq!(target("HTTP://a/").host, "a");
    }

    #[test]
    fn ipv6_literals() {
        let t = target("http://[::1]:8000/x");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 8000, "/x")
        );
        assert_eq!(t.host_header(), "[::1]:8000");
        assert_eq!(target("http://[::1]/").port, 80);
        assert_eq!(status("http://::1/"), Some(400));
        assert_eq!(status("http://[::1/"), Some(400));
        assert_eq!(status("http://[nothex]/"), Some(400));
        assert_eq!(status("http://[::1]x/"), Some(400));
    }

    #[test]
    fn drops_fragment_and_keeps_percent_encoding() {
        assert_eq!(target("http://a/b%20c#frag").path, "/b%20c");
    }

    #[test]
    fn refuses_what_is_not_absolute_http() {
        assert_eq!(status("/home.html"), Some(400));
        assert_eq!(status("*"), Some(400));
        assert_eq!(status("ftp://a/"), Some(400));
        assert_eq!(status("https://a/"), Some(501));
        assert_eq!(status("http:///x"), Some(400));
        assert_eq!(status("http://user@a/"), Some(400));
        assert_eq!(status("http://a:99999/"), Some(400));
        assert_eq!(status("http://a:0/"), Some(400));
        assert_eq!(status("http://a:-1/"), Some(400));
        assert_eq!(status("http://a%41/"), Some(400));
    }

    #[test]
    fn cache_key_is_normalised() {
        assert_eq!(
            target("http://WWW.A.test/x").cache_key(),
            "http://www.a.test:80/x"
        );
        assert_eq!(
            target("http://a.test:80/x").cache_key(),
            target("http://A.TEST/x").cache_key()
        );
    }

    #[test]
    fn parses_a_request_with_crlf_or_bare_lf() {
        for head in [
            &b"GET http://a:81/p HTTP/1.1\r\nHost: a:81\r\nX-A: 1\r\n\r\n"[..],
            &b"GET http://a:81/p HTTP/1.1\nHost: a:81\nX-A: 1\n\n"[..],
        ] {
            let req = parse_request(head).expect("valid");
            assert_eq!(req.target.port, 81);
            assert_eq!(req.headers.len(), 2);
            assert_eq!(req.headers[1].value, b"1");
        }
    }

    #[test]
    fn host_header_must_be_one_plain_authority() {
        let ok = |v: &str| parse_host_header(v.as_bytes());
        assert_eq!(ok("Example.test"), Some(("example.test".into(), 80)));
        assert_eq!(ok("a.test:8080"), Some(("a.test".into(), 8080)));
        assert_eq!(ok("[::1]:81"), Some(("::1".into(), 81)));
        assert_eq!(ok("127.0.0.1"), Some(("127.0.0.1".into(), 80)));
        for bad in [
            "",
            "a.test,b.test",
            "user@a.test",
            "a.test/path",
            "a.test\\x",
            "a.test:+80",
            "a.test:-1",
            "a.test:0",
            "a.test:65536",
            "a.test:80:81",
            "a b",
            "[::1",
            "[not-v6]",
            "caf\u{e9}.test",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
        assert_eq!(parse_host_header(b"a\xff.test"), None);
        assert_eq!(ok(&"a".repeat(MAX_HOST_LEN)).map(|h| h.1), Some(80));
        assert_eq!(ok(&"a".repeat(MAX_HOST_LEN + 1)), None);
        let status = |head: &[u8]| parse_request(head).err().and_then(|e| e.status());
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nHost: a,b\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nHost: \xc3\xa9\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nHost: a:81\r\n\r\n"),
            None
        );
    }

    #[test]
    fn request_errors_map_to_statuses() {
        let status = |head: &[u8]| parse_request(head).err().and_then(|e| e.status());
        assert_eq!(status(b"POST http://a/ HTTP/1.0\r\n\r\n"), Some(501));
        assert_eq!(status(b"CONNECT a:443 HTTP/1.1\r\n\r\n"), Some(501));
        assert_eq!(status(b"GET https://a/ HTTP/1.1\r\n\r\n"), Some(501));
        assert_eq!(status(b"GET /p HTTP/1.0\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET http://a/\r\n\r\n"), Some(400));
        assert_eq!(status(b"GARBAGE\r\n\r\n"), Some(400));
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nNoColon\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nHost : a\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nContent-Length: 5\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nX: a\r\n b\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nX: a\0b\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET http://a/ HTTP/1.0\r\nContent-Length: 0\r\n\r\n"),
            None
        );
    }
}
