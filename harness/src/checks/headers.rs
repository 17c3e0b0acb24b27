//! The request the origin receives (the lab's part I: building the
//! request headers in `doit`), seen through tiny-origin's `/echo`, which
//! answers with the head it got.
//!
//! Two groups: [`handout_rules`] checks what the lab handout asks of every
//! proxy (an extra of the grade); [`request_exact`] checks this project's
//! exact request of SPEC §4.4, byte for byte and in order (our variants).

use super::{CHECK_TIMEOUT, Check, Failure, LAB_USER_AGENT, Section};
use crate::clients::http;
use crate::lab::Lab;

/// What the origin saw: the body of `/echo`, split into the request line
/// and `(name, value)` headers.
#[derive(Debug)]
pub struct SeenRequest {
    /// The request line.
    pub line: String,
    /// The headers in order.
    pub headers: Vec<(String, String)>,
    /// The echo, verbatim.
    pub raw: String,
}

impl SeenRequest {
    fn parse(body: &[u8]) -> SeenRequest {
        let raw = String::from_utf8_lossy(body).into_owned();
        let mut lines = raw.lines();
        let line = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        SeenRequest { line, headers, raw }
    }

    /// Every value of the header `name` (any case), in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn text(&self) -> String {
        self.raw.replace("\r\n", "\n").trim_end().to_string()
    }
}

/// Sends `request` through the proxy to `/echo` and returns what the
/// origin saw.
pub fn echo(proxy: std::net::SocketAddr, request: &[u8]) -> Result<SeenRequest, Failure> {
    let response = http::exchange(proxy, request, CHECK_TIMEOUT)?;
    if response.status != Some(200) {
        return Err(Failure::new(
            format!("expected 200 from /echo, got {:?}", response.status_line()),
            None,
        ));
    }
    if response.body().is_empty() {
        return Err(Failure::new(
            format!(
                "the origin answered, but its body did not come through; the head was:\n{}",
                response.head().trim_end()
            ),
            Some(
                "this server writes Content-Length, not Tiny's Content-length: see the header spelling extra",
            ),
        ));
    }
    Ok(SeenRequest::parse(response.body()))
}

/// A browser-like request for `/echo?check=NAME`: HTTP/1.1, keep-alive
/// asked for, its own User-Agent, and headers to pass on. Each check has
/// its own query string, so a caching proxy cannot answer one from another.
fn browser_request(lab: Lab, name: &str) -> String {
    let target = lab.url(&format!("/echo?check={name}"));
    let origin = lab.origin;
    format!(
        "GET {target} HTTP/1.1\r\nHost: {origin}\r\nUser-Agent: curl/8.0 harness\r\n\
         Accept: */*\r\nConnection: keep-alive\r\nProxy-Connection: keep-alive\r\n\
         Keep-Alive: 300\r\nX-Lab-Custom: forty two\r\nCookie: a=b\r\n\r\n"
    )
}

/// The handout's rules for the request a proxy sends (checked as an
/// extra): `GET /path HTTP/1.0`, the browser's `Host`, the lab's
/// `User-Agent`, `Connection: close`, `Proxy-Connection: close`, and the
/// browser's other headers passed on.
pub fn handout_rules(lab: Lab) -> Vec<Check> {
    let section = Section::Request;
    let seen = match echo(lab.proxy, browser_request(lab, "handout").as_bytes()) {
        Ok(seen) => seen,
        Err(f) => {
            return vec![Check::from_result(
                section,
                "request reaches the origin",
                Err(f),
            )];
        }
    };
    let origin = lab.origin.to_string();
    let check = |name: &str, ok: bool, expected: String, hint: &str| {
        Check::expect(
            section,
            name,
            ok,
            || format!("{expected}\norigin saw:\n{}", seen.text()),
            Some(hint),
        )
    };
    let (hosts, agents) = (seen.values("Host"), seen.values("User-Agent"));
    let (connection, proxy_connection) =
        (seen.values("Connection"), seen.values("Proxy-Connection"));
    vec![
        check(
            "request line is GET /path HTTP/1.0",
            seen.line == "GET /echo?check=handout HTTP/1.0",
            format!(
                "expected \"GET /echo?check=handout HTTP/1.0\", got {:?}",
                seen.line
            ),
            "send the path only (not the absolute URI) and HTTP/1.0 to the server",
        ),
        check(
            "one Host header, the browser's",
            hosts == [origin.as_str()],
            format!("expected one Host: {origin}, got {hosts:?}"),
            "forward the browser's Host header once; add host:port from the URI only when it sent none",
        ),
        check(
            "the lab's User-Agent",
            agents == [LAB_USER_AGENT],
            format!("expected one User-Agent: {LAB_USER_AGENT}, got {agents:?}"),
            "send the handout's user_agent_hdr instead of the browser's User-Agent",
        ),
        check(
            "Connection: close",
            connection == ["close"],
            format!("expected one Connection: close, got {connection:?}"),
            "always send Connection: close, and drop the browser's Connection header",
        ),
        check(
            "Proxy-Connection: close",
            proxy_connection == ["close"],
            format!("expected one Proxy-Connection: close, got {proxy_connection:?}"),
            "always send Proxy-Connection: close, and drop the browser's",
        ),
        check(
            "other headers passed on unchanged",
            seen.values("X-Lab-Custom") == ["forty two"]
                && seen.values("Cookie") == ["a=b"]
                && seen.values("Accept") == ["*/*"],
            "expected X-Lab-Custom: forty two, Cookie: a=b and Accept: */* unchanged".into(),
            "forward every other header the browser sent, unchanged",
        ),
    ]
}

/// SPEC §4.4's exact request, in order, nothing about the client leaked,
/// and a `Host` from the URI when the client sent none (our variants).
pub fn request_exact(lab: Lab) -> Vec<Check> {
    let section = Section::RequestExact;
    let origin = lab.origin;
    let seen = match echo(lab.proxy, browser_request(lab, "full").as_bytes()) {
        Ok(seen) => seen,
        Err(f) => {
            return vec![Check::from_result(
                section,
                "request reaches the origin via /echo",
                Err(f),
            )];
        }
    };
    let leaks: Vec<&(String, String)> = seen
        .headers
        .iter()
        .filter(|(n, _)| {
            [
                "x-forwarded-for",
                "via",
                "forwarded",
                "x-real-ip",
                "keep-alive",
            ]
            .contains(&n.to_ascii_lowercase().as_str())
        })
        .collect();
    let expected = format!(
        "GET /echo?check=full HTTP/1.0\r\nHost: {origin}\r\nUser-Agent: {LAB_USER_AGENT}\r\n\
         Connection: close\r\nProxy-Connection: close\r\nAccept: */*\r\n\
         X-Lab-Custom: forty two\r\nCookie: a=b\r\n\r\n"
    );
    let mut checks = vec![
        Check::expect(
            section,
            "no X-Forwarded-For, Via or Keep-Alive",
            leaks.is_empty(),
            || format!("found {leaks:?}"),
            Some("the origin must not learn the client's address, and Keep-Alive is hop-by-hop"),
        ),
        Check::expect(
            section,
            "exact request of SPEC §4.4, in order",
            seen.raw == expected,
            || format!("expected:\n{expected}\norigin saw:\n{}", seen.text()),
            Some(
                "Host, User-Agent, Connection, Proxy-Connection first, then the client's other headers in order",
            ),
        ),
    ];
    // Without a Host header the proxy derives it from the URI.
    let bare = format!("GET {} HTTP/1.0\r\n\r\n", lab.url("/echo?check=bare"));
    checks.push(Check::from_result(
        section,
        "Host from the URI when the client sent none",
        echo(lab.proxy, bare.as_bytes()).and_then(|seen| {
            let hosts = seen.values("Host");
            if hosts == [origin.to_string()] {
                Ok(())
            } else {
                Err(Failure::new(
                    format!("expected Host: {origin}, got {hosts:?}"),
                    Some("add Host: host:port from the URI when the client sent none"),
                ))
            }
        }),
    ));
    checks
}
