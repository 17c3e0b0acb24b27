//! The request the proxy sends to the origin (SPEC §4.4): the lab's header
//! rewrite in `doit`/`build_requesthdrs`.
//!
//! HTTP/1.0, the lab's fixed `User-Agent`, `Connection: close` and
//! `Proxy-Connection: close`; the client's `Host` if it sent one; every other
//! end-to-end client header unchanged and in order. Nothing is added that
//! would tell the origin who the client is (no `X-Forwarded-For`, no `Via`).
//!
//! Hop-by-hop headers stay on the client's hop (RFC 9110 §7.6.1, issue #14
//! item 8), as squid, nginx and tinyproxy do: every header the client's
//! `Connection` (or `Proxy-Connection`) names, and `Proxy-Authorization`
//! (a credential for this proxy: forwarding it would hand the user's
//! password to every site), `TE`, `Trailer`, `Upgrade` and `Keep-Alive`.

use crate::request::Request;

/// The `User-Agent` the lab's proxy always sends.
pub const USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:10.0.3) Gecko/20120305 Firefox/10.0.3";

/// Client headers the proxy replaces with its own and never repeats.
const REPLACED: [&str; 4] = ["Host", "User-Agent", "Connection", "Proxy-Connection"];

/// Hop-by-hop headers that are never forwarded (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: [&str; 5] = [
    "Keep-Alive",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Upgrade",
];

/// The header names the client's `Connection` and `Proxy-Connection`
/// headers list (lower-case), which are hop-by-hop for this request.
fn connection_options(request: &Request) -> Vec<String> {
    request
        .headers
        .iter()
        .filter(|h| {
            h.name.eq_ignore_ascii_case("Connection")
                || h.name.eq_ignore_ascii_case("Proxy-Connection")
        })
        .flat_map(|h| {
            String::from_utf8_lossy(&h.value)
                .split(',')
                .map(|token| token.trim().to_ascii_lowercase())
                .filter(|token| !token.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `true` for a client header that is not forwarded as it is.
fn dropped(name: &str, options: &[String]) -> bool {
    REPLACED
        .iter()
        .chain(HOP_BY_HOP.iter())
        .any(|hop| name.eq_ignore_ascii_case(hop))
        || options
            .iter()
            .any(|option| name.eq_ignore_ascii_case(option))
}

/// Builds the complete request head for the origin.
pub fn origin_request(request: &Request) -> Vec<u8> {
    let host = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Host"))
        .map_or_else(
            || request.target.host_header().into_bytes(),
            |h| h.value.clone(),
        );

    let mut out = Vec::with_capacity(256 + request.target.path.len());
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(request.target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.0\r\nHost: ");
    out.extend_from_slice(&host);
    out.extend_from_slice(b"\r\nUser-Agent: ");
    out.extend_from_slice(USER_AGENT.as_bytes());
    out.extend_from_slice(b"\r\nConnection: close\r\nProxy-Connection: close\r\n");
    let options = connection_options(request);
    for header in &request.headers {
        if dropped(&header.name, &options) {
            continue;
        }
        out.extend_from_slice(header.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&header.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_request;

    fn rewrite(head: &str) -> String {
        let request = parse_request(head.as_bytes()).expect("valid request");
        String::from_utf8(origin_request(&request)).expect("ascii")
    }

    #[test]
    fn minimal_request_gets_host_from_uri() {
        assert_eq!(
            rewrite("GET http://example.test:8080/a/b?c HTTP/1.1\r\n\r\n"),
            format!(
                "GET /a/b?c HTTP/1.0\r\nHost: example.test:8080\r\nUser-Agent: {USER_AGENT}\r\n\
                 Connection: close\r\nProxy-Connection: close\r\n\r\n"
            )
        );
    }

    #[test]
    fn port_80_is_left_out_of_host() {
        assert!(rewrite("GET http://a.test/ HTTP/1.1\r\n\r\n").contains("\r\nHost: a.test\r\n"));
    }

    #[test]
    fn client_host_wins_and_replaced_headers_are_not_repeated() {
        let out = rewrite(
            "GET http://a.test/x HTTP/1.1\r\nUser-Agent: curl/8\r\nHost: other.test:1\r\n\
             Accept: */*\r\nConnection: keep-alive\r\nProxy-Connection: keep-alive\r\n\
             Keep-Alive: 300\r\nX-Custom: one\r\nCookie: a=b\r\n\r\n",
        );
        assert_eq!(
            out,
            format!(
                "GET /x HTTP/1.0\r\nHost: other.test:1\r\nUser-Agent: {USER_AGENT}\r\n\
                 Connection: close\r\nProxy-Connection: close\r\nAccept: */*\r\n\
                 X-Custom: one\r\nCookie: a=b\r\n\r\n"
            )
        );
    }

    #[test]
    fn hop_by_hop_headers_stay_on_the_client_hop() {
        let out = rewrite(
            "GET http://a.test/x HTTP/1.1\r\nHost: a.test\r\nConnection: X-Secret, keep-alive\r\n\
             Proxy-Connection: X-Other\r\nX-Secret: s\r\nX-Other: o\r\n\
             Proxy-Authorization: Basic dXNlcjpwYXNz\r\nTE: trailers\r\nTrailer: X-T\r\n\
             Upgrade: websocket\r\nKeep-Alive: 300\r\nX-Kept: k\r\nCookie: c=1\r\n\r\n",
        );
        assert_eq!(
            out,
            format!(
                "GET /x HTTP/1.0\r\nHost: a.test\r\nUser-Agent: {USER_AGENT}\r\n\
                 Connection: close\r\nProxy-Connection: close\r\nX-Kept: k\r\nCookie: c=1\r\n\r\n"
            )
        );
    }

    #[test]
    fn ipv6_host_is_bracketed() {
        assert!(
            rewrite("GET http://[::1]:81/ HTTP/1.0\r\n\r\n").contains("\r\nHost: [::1]:81\r\n")
        );
    }

    /// The client gives away who it is in its own User-Agent, its proxy
    /// credentials and a header it marks hop-by-hop: none of that reaches
    /// the origin, and the proxy adds nothing about the client.
    #[test]
    fn nothing_about_the_client_is_added_or_passed_on() {
        let out = rewrite(
            "GET http://a/ HTTP/1.0\r\nUser-Agent: alice-laptop/1.0\r\n\
             Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\nConnection: X-Client-Id\r\n\
             X-Client-Id: alice-42\r\nAccept: */*\r\n\r\n",
        )
        .to_ascii_lowercase();
        for leak in ["alice", "ywxpy2u6c2vjcmv0", "x-client-id"] {
            assert!(!out.contains(leak), "{leak} reached the origin:\n{out}");
        }
        assert!(
            !out.contains("x-forwarded-for") && !out.contains("via:") && !out.contains("forwarded"),
            "{out}"
        );
        assert!(out.contains("\r\naccept: */*\r\n"), "{out}");
    }
}
