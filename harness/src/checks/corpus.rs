//! The bad-input corpus: hostile and malformed requests, each with the
//! answer SPEC §4 and proxy-core's policy give it.
//!
//! The shapes are the ones proxies meet in the wild: request smuggling
//! (duplicate `Host`, `Transfer-Encoding` or a body on a GET, folded lines,
//! control bytes, spaces around the colon, bare CR), bad URIs (no host, bad
//! ports, user info, percent-encoded hosts, IPv6 literals), everything too
//! long (and exactly at the limits), pipelined requests, other protocols on
//! the plain port (HTTP/0.9, the HTTP/2 preface, a TLS `ClientHello`) and
//! binary garbage.
//!
//! The expected statuses follow proxy-core's policy (`request.rs`): `400`
//! for anything ambiguous or malformed, `501` for other methods and
//! `https://`, `403` for `CONNECT` to a port not in `--connect-ports`, `414`/`431` for the limits, `502` for an unreachable origin,
//! `403` for denied hosts. A case whose request is fine reaches the live
//! origin, so only its own defect decides the answer. A head that never
//! ends cannot be answered until the client gives up or the header timeout
//! expires: run the proxy with a short `--header-timeout` (the tests use 1 s).

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::bad_input::{BadCase, Expect};
use crate::clients::http::url;
use crate::lab::Lab;

/// The longest request line accepted (SPEC §4.1: 8 KiB), line end excluded.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest request head accepted (SPEC §4.1: 64 KiB), blank line included.
pub const MAX_HEAD: usize = 64 * 1024;

/// Hostile and malformed requests with the answer each must get: every
/// kind below, the lab's own error cases (`lab_errors`) first.
///
/// `origin` must be a live tiny-origin and `closed_port` a port on
/// 127.0.0.1 (and `::1`) where nothing listens; requests for
/// `denied.invalid` must be refused (start the proxy with `--deny
/// denied.invalid`: a name under `.invalid`, because a proxy resolves its
/// denied names at start and a test must not send a DNS query off the
/// machine). The spellings of denied addresses, of the proxy itself and of
/// bad `Host` values are in [`spelling_corpus`], which needs
/// a deny list of its own.
pub fn corpus(origin: SocketAddr, closed_port: u16) -> Vec<BadCase> {
    let mut b = Cases {
        origin,
        closed_port,
        home: url(origin, "/home.html"),
        list: Vec::new(),
    };
    lab_errors(&mut b);
    smuggling(&mut b);
    bad_uris(&mut b);
    over_long(&mut b);
    one_request(&mut b);
    protocols(&mut b);
    malformed(&mut b);
    b.list
}

/// The cases being collected, and what building one needs.
struct Cases {
    origin: SocketAddr,
    closed_port: u16,
    /// The URL of the origin's home page.
    home: String,
    /// The cases so far.
    list: Vec<BadCase>,
}

impl Cases {
    fn add(&mut self, name: impl Into<String>, request: Vec<u8>, expect: Expect) {
        self.list.push(BadCase {
            name: name.into(),
            request,
            expect,
            lab: false,
        });
    }

    /// A case of the lab's own error handling (see [`BadCase::lab`]).
    fn add_lab(&mut self, name: &str, request: Vec<u8>, expect: Expect) {
        self.add(name, request, expect);
        if let Some(case) = self.list.last_mut() {
            case.lab = true;
        }
    }

    /// `GET <home> HTTP/1.0`, then `headers` (each line with its CRLF),
    /// then the blank line.
    fn get(&self, headers: &str) -> Vec<u8> {
        format!("GET {} HTTP/1.0\r\n{headers}\r\n", self.home).into_bytes()
    }

    /// `GET <uri> HTTP/1.0` and the blank line.
    #[allow(
        clippy::unused_self,
        reason = "a method like `get`, so that every case reads `b.get(..)` or `b.target(..)`"
    )]
    fn target(&self, uri: &str) -> Vec<u8> {
        format!("GET {uri} HTTP/1.0\r\n\r\n").into_bytes()
    }
}

/// The bad-input cases for controls that must hold whatever the spelling
/// (issue #14 items 5-7), added to the hostile-request corpus.
///
/// Start the proxy with [`SPELLING_DENY_FLAGS`]. `lab.origin` must be a
/// live tiny-origin on 127.0.0.1 (it is not denied: the denied addresses
/// are `127.0.0.2`, `10.0.0.0/8` and `::1`), `lab.proxy` the proxy's own
/// address (the loop spellings aim at it).
pub fn spelling_corpus(lab: Lab) -> Vec<BadCase> {
    let Lab { origin, proxy } = lab;
    let mut cases = Vec::new();
    let mut add = |name: String, request: Vec<u8>, expect: Expect| {
        cases.push(BadCase {
            name,
            request,
            expect,
            lab: false,
        });
    };
    let port = origin.port();
    for host in [
        "127.0.0.2",
        "2130706434",
        "0x7f.2",
        "127.2",
        "0177.0.0.2",
        "127.000.000.002",
        "[::ffff:127.0.0.2]",
        "[::ffff:7f00:2]",
        "167772161",
        "0x0a000001",
        "10.1",
        "012.0.0.1",
        "[::ffff:10.0.0.1]",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[0000::0001]",
    ] {
        add(
            format!("denied address spelled {host}"),
            format!("GET http://{host}:{port}/home.html HTTP/1.0\r\n\r\n").into_bytes(),
            Expect::Status(403),
        );
    }
    let home = url(origin, "/home.html");
    for host in [
        "0x7f.2",
        "2130706434",
        "[::ffff:127.0.0.2]",
        "10.1:80",
        "[::1]",
    ] {
        add(
            format!("Host header naming a denied address as {host}"),
            format!("GET {home} HTTP/1.0\r\nHost: {host}\r\n\r\n").into_bytes(),
            Expect::Status(403),
        );
    }
    let own = proxy.port();
    for host in [
        "0",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "127.1",
        "0x7f.0.0.1",
    ] {
        add(
            format!("the proxy itself spelled {host}"),
            format!("GET http://{host}:{own}/ HTTP/1.0\r\n\r\n").into_bytes(),
            Expect::Status(508),
        );
    }
    for (name, value) in [
        ("a comma list", format!("{origin}, evil.invalid")),
        ("user info", format!("user:pw@{origin}")),
        ("a path", format!("{origin}/x")),
        ("a backslash", format!("{origin}\\x")),
        ("a plus before the port", format!("127.0.0.1:+{port}")),
        ("a port too big", "127.0.0.1:65536".to_string()),
        ("port 0", "127.0.0.1:0".to_string()),
        ("two ports", format!("{origin}:{port}")),
        ("an empty value", String::new()),
        ("an unclosed IPv6 bracket", "[::1".to_string()),
        ("a name of 300 bytes", "a".repeat(300)),
        ("a space inside", "a b".to_string()),
    ] {
        add(
            format!("Host with {name}"),
            format!("GET {home} HTTP/1.0\r\nHost: {value}\r\n\r\n").into_bytes(),
            Expect::Status(400),
        );
    }
    add(
        "Host with non-ASCII bytes".to_string(),
        [
            format!("GET {home} HTTP/1.0\r\nHost: caf").into_bytes(),
            vec![0xc3, 0xa9],
            b".test\r\n\r\n".to_vec(),
        ]
        .concat(),
        Expect::Status(400),
    );
    add(
        "Host naming the origin another way is fine".to_string(),
        format!("GET {home} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").into_bytes(),
        Expect::Status(200),
    );
    cases
}

/// The flags [`spelling_corpus`] expects on the proxy.
pub const SPELLING_DENY_FLAGS: [&str; 6] = [
    "--deny",
    "127.0.0.2",
    "--deny",
    "10.0.0.0/8",
    "--deny",
    "::1/128",
];

/// `head` followed by `rest`.
fn with_head(head: Vec<u8>, rest: &[u8]) -> Vec<u8> {
    [head, rest.to_vec()].concat()
}

/// The errors every Proxy Lab proxy meets: a malformed request line,
/// methods other than GET, targets that are not `http://host/...`, the
/// length limits, an origin that cannot be reached, a denied host.
fn lab_errors(b: &mut Cases) {
    let (origin, home, closed_port) = (b.origin, b.home.clone(), b.closed_port);
    b.add_lab(
        "malformed request line",
        b"HELLO\r\n\r\n".to_vec(),
        Expect::Status(400),
    );
    b.add_lab(
        "request line without version",
        format!("GET {home}\r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add_lab(
        "POST is not implemented",
        format!("POST {home} HTTP/1.0\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        Expect::Status(501),
    );
    b.add_lab(
        "HEAD is not implemented",
        format!("HEAD {home} HTTP/1.0\r\n\r\n").into_bytes(),
        Expect::Status(501),
    );
    // Our variants tunnel to --connect-ports only (default 443); the
    // origin's port is not one of them. (With an empty list: 501, the
    // lab's answer; harness/tests/tunnel.rs checks that.)
    b.add_lab(
        "CONNECT to a port not in --connect-ports",
        format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n").into_bytes(),
        Expect::Status(403),
    );
    b.add_lab(
        "https:// is not implemented",
        format!("GET https://{origin}/ HTTP/1.1\r\n\r\n").into_bytes(),
        Expect::Status(501),
    );
    b.add_lab(
        "relative URI",
        b"GET /home.html HTTP/1.0\r\n\r\n".to_vec(),
        Expect::Status(400),
    );
    b.add_lab(
        "over-long request line",
        format!("GET {home}?{} HTTP/1.0\r\n\r\n", "a".repeat(9000)).into_bytes(),
        Expect::Status(414),
    );
    b.add_lab(
        "over-long headers",
        b.get(&format!("X-Pad: {}\r\n", "p".repeat(1000)).repeat(70)),
        Expect::Status(431),
    );
    b.add_lab(
        "header without colon",
        b.get("NoColonHere\r\n"),
        Expect::Status(400),
    );
    b.add_lab(
        "unreachable port",
        b.target(&format!("http://127.0.0.1:{closed_port}/")),
        Expect::Status(502),
    );
    b.add_lab(
        "unresolvable host",
        b.target("http://no-such-host.invalid/"),
        Expect::Status(502),
    );
    b.add_lab(
        "denied host",
        b.target("http://denied.invalid/"),
        Expect::Status(403),
    );
    b.add_lab(
        "denied subdomain, other case",
        b.target("http://WWW.Denied.Invalid/"),
        Expect::Status(403),
    );
}

/// Request smuggling shapes: duplicate framing headers, folded lines, control bytes, spaces around the colon, bare CR.
#[allow(
    clippy::too_many_lines,
    reason = "a flat list of corpus cases, one `b.add` each; splitting it would only scatter the list"
)]
fn smuggling(b: &mut Cases) {
    let origin = b.origin;
    let home = b.home.clone();
    b.add(
        "duplicate Host",
        b.get("Host: a\r\nHost: b\r\n"),
        Expect::Status(400),
    );
    b.add(
        "duplicate Host, same value, other case",
        b.get(&format!("Host: {origin}\r\nHOST: {origin}\r\n")),
        Expect::Status(400),
    );
    b.add(
        "Transfer-Encoding: chunked on a GET",
        with_head(
            b.get("Transfer-Encoding: chunked\r\n"),
            b"5\r\nhello\r\n0\r\n\r\n",
        ),
        Expect::Status(400),
    );
    b.add(
        "transfer-encoding: identity (any TE) on a GET",
        b.get("transfer-encoding: identity\r\n"),
        Expect::Status(400),
    );
    b.add(
        "Content-Length and Transfer-Encoding (CL.TE)",
        with_head(
            b.get("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"),
            b"0\r\n\r\n",
        ),
        Expect::Status(400),
    );
    b.add(
        "Transfer-Encoding with a space before the colon",
        b.get("Transfer-Encoding : chunked\r\n"),
        Expect::Status(400),
    );
    b.add(
        "Content-Length with a body on a GET",
        with_head(b.get("Content-Length: 5\r\n"), b"hello"),
        Expect::Status(400),
    );
    b.add(
        "Content-Length: -1",
        b.get("Content-Length: -1\r\n"),
        Expect::Status(400),
    );
    b.add(
        "Content-Length: 0 then Content-Length: 5",
        b.get("Content-Length: 0\r\nContent-Length: 5\r\n"),
        Expect::Status(400),
    );
    b.add(
        "Content-Length: 0 is no body (fine)",
        b.get("Content-Length: 0\r\n"),
        Expect::Status(200),
    );
    b.add(
        "obs-fold continuation line (space)",
        b.get("X-A: one\r\n two\r\n"),
        Expect::Status(400),
    );
    b.add(
        "obs-fold continuation line (tab)",
        b.get("X-A: one\r\n\ttwo\r\n"),
        Expect::Status(400),
    );
    b.add(
        "whitespace before the first header (fold of the request line)",
        b.get(" X-A: b\r\n"),
        Expect::Status(400),
    );
    b.add(
        "space before the colon",
        b.get(&format!("Host : {origin}\r\n")),
        Expect::Status(400),
    );
    b.add(
        "tab before the colon",
        b.get("X-A\t: b\r\n"),
        Expect::Status(400),
    );
    b.add(
        "no space after the colon, spaces around the value (fine)",
        b.get("X-A:b\r\nX-B:    c   \r\n"),
        Expect::Status(200),
    );
    b.add(
        "header with an empty name",
        b.get(": value\r\n"),
        Expect::Status(400),
    );
    b.add(
        "header name with a parenthesis",
        b.get("X(A): b\r\n"),
        Expect::Status(400),
    );
    b.add(
        "NUL in the method",
        format!("G\0ET {home} HTTP/1.0\r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add(
        "NUL in the URI",
        b.target(&url(origin, "/home\0.html")),
        Expect::Status(400),
    );
    b.add(
        "NUL in a header name",
        b.get("X-\0A: b\r\n"),
        Expect::Status(400),
    );
    b.add(
        "NUL in a header value",
        b.get("X-A: b\0c\r\n"),
        Expect::Status(400),
    );
    b.add(
        "ESC in a header value",
        b.get("X-A: b\x1b[2Jc\r\n"),
        Expect::Status(400),
    );
    b.add(
        "DEL in a header value",
        b.get("X-A: b\x7fc\r\n"),
        Expect::Status(400),
    );
    b.add(
        "tab inside a header value (fine)",
        b.get("X-A: b\tc\r\n"),
        Expect::Status(200),
    );
    b.add(
        "obs-text bytes in a header value (fine)",
        with_head(
            format!("GET {home} HTTP/1.0\r\nX-A: caf").into_bytes(),
            b"\xc3\xa9 \xff\r\n\r\n",
        ),
        Expect::Status(200),
    );
    b.add(
        "bare CR inside a header value",
        b.get("X-A: b\rX-Injected: c\r\n"),
        Expect::Status(400),
    );
    b.add(
        "bare CR as the only line ending (the head never ends)",
        format!("GET {home} HTTP/1.0\rX-A: b\r\r").into_bytes(),
        Expect::StatusOrClose(400),
    );
    b.add(
        "bare LF line endings (fine)",
        format!("GET {home} HTTP/1.0\nX-A: b\n\n").into_bytes(),
        Expect::Status(200),
    );
    b.add(
        "mixed CRLF and LF line endings (fine)",
        format!("GET {home} HTTP/1.0\r\nX-A: 1\nX-B: 2\r\n\n").into_bytes(),
        Expect::Status(200),
    );
    b.add(
        "one empty line before the request line is ignored",
        [b"\r\n".to_vec(), b.get("")].concat(),
        Expect::Status(200),
    );
}

/// Bad targets: no host, bad ports, user info, percent-encoded hosts, IPv6 literals, denied names.
#[allow(
    clippy::too_many_lines,
    reason = "a flat list of corpus cases, one `b.add` each; splitting it would only scatter the list"
)]
fn bad_uris(b: &mut Cases) {
    let origin = b.origin;
    let closed_port = b.closed_port;
    b.add(
        "missing host: http:///x",
        b.target("http:///x"),
        Expect::Status(400),
    );
    b.add(
        "no authority at all: http://",
        b.target("http://"),
        Expect::Status(400),
    );
    b.add(
        "empty host with a port",
        b.target(&format!("http://:{}/home.html", origin.port())),
        Expect::Status(400),
    );
    b.add(
        "scheme-relative //host/path",
        b.target(&format!("//{origin}/home.html")),
        Expect::Status(400),
    );
    b.add(
        "another scheme: ftp://",
        b.target(&format!("ftp://{origin}/")),
        Expect::Status(400),
    );
    let host = origin.ip();
    for (name, port) in [
        ("port 99999", "99999"),
        ("port 65536", "65536"),
        ("port 0", "0"),
        ("port -1", "-1"),
        ("non-numeric port", "http"),
        ("port with a sign", "+80"),
        ("two ports", "80:80"),
    ] {
        b.add(
            name,
            b.target(&format!("http://{host}:{port}/home.html")),
            Expect::Status(400),
        );
    }
    b.add(
        "user info user:pw@host",
        b.target(&format!("http://user:pw@{origin}/home.html")),
        Expect::Status(400),
    );
    b.add(
        "user info hiding the real host (origin@evil)",
        b.target(&format!("http://{origin}@evil.test/")),
        Expect::Status(400),
    );
    b.add(
        "backslash before @ in the authority",
        b.target(&format!("http://{origin}\\@evil.test/")),
        Expect::Status(400),
    );
    b.add(
        "percent-encoding in the host",
        b.target(&format!("http://127.0.0.%31:{}/home.html", origin.port())),
        Expect::Status(400),
    );
    b.add(
        "fragment is not sent to the origin",
        b.target(&url(origin, "/echo?fragment-test#secret-fragment")),
        Expect::StatusWithout(200, "secret-fragment"),
    );
    b.add(
        "upper-case scheme HTTP:// (fine)",
        b.target(&format!("HTTP://{origin}/home.html")),
        Expect::Status(200),
    );
    b.add(
        "no path: http://host:port (fine, path /)",
        b.target(&format!("http://{origin}")),
        Expect::Status(200),
    );
    b.add(
        "@ in the query is not user info (fine)",
        b.target(&url(origin, "/home.html?user@host")),
        Expect::Status(200),
    );
    b.add(
        "IPv6 literal [::1] on a closed port",
        b.target(&format!("http://[::1]:{closed_port}/")),
        Expect::Status(502),
    );
    b.add(
        "IPv6 literal without brackets",
        b.target(&format!("http://::1:{closed_port}/")),
        Expect::Status(400),
    );
    b.add(
        "IPv6 literal without its closing bracket",
        b.target(&format!("http://[::1:{closed_port}/")),
        Expect::Status(400),
    );
    b.add(
        "IPv6 literal with junk after the bracket",
        b.target(&format!("http://[::1]junk:{closed_port}/")),
        Expect::Status(400),
    );
    b.add(
        "IPv4 address in brackets",
        b.target(&format!("http://[{host}]:{}/", origin.port())),
        Expect::Status(400),
    );
    b.add(
        "IPv6 literal with a zone id",
        b.target(&format!("http://[fe80::1%25eth0]:{closed_port}/")),
        Expect::Status(400),
    );
    b.add(
        "denied host with a trailing dot and explicit port",
        b.target("http://DENIED.INVALID.:80/"),
        Expect::Status(403),
    );
}

/// Everything too long, and exactly at the limits (SPEC §4.1).
fn over_long(b: &mut Cases) {
    let home = b.home.clone();
    let line_at = |len: usize| {
        let prefix = format!("GET {home}?");
        let suffix = " HTTP/1.0";
        let pad = "a".repeat(len - prefix.len() - suffix.len());
        format!("{prefix}{pad}{suffix}\r\n\r\n").into_bytes()
    };
    b.add(
        "request line of exactly 8 KiB (fine)",
        line_at(MAX_REQUEST_LINE),
        Expect::Status(200),
    );
    b.add(
        "request line of 8 KiB + 1",
        line_at(MAX_REQUEST_LINE + 1),
        Expect::Status(414),
    );
    let head_of = |len: usize| {
        let start = format!("GET {home} HTTP/1.0\r\nX-Pad: ");
        let pad = "p".repeat(len - start.len() - 4);
        format!("{start}{pad}\r\n\r\n").into_bytes()
    };
    b.add(
        "head of exactly 64 KiB (fine)",
        head_of(MAX_HEAD),
        Expect::Status(200),
    );
    b.add(
        "head of 64 KiB + 1",
        head_of(MAX_HEAD + 1),
        Expect::Status(431),
    );
    b.add(
        "one huge header value (70 000 bytes)",
        b.get(&format!("X-Big: {}\r\n", "v".repeat(70_000))),
        Expect::Status(431),
    );
    b.add(
        "a 9 000-byte header line (only the request line has the 8 KiB limit)",
        b.get(&format!("X-Long: {}\r\n", "l".repeat(9_000))),
        Expect::Status(200),
    );
    let small = |n: usize| {
        let mut headers = String::new();
        for i in 0..n {
            let _ = write!(headers, "X-H{i}: v\r\n");
        }
        headers
    };
    b.add(
        "3 000 small headers within 64 KiB (fine)",
        b.get(&small(3_000)),
        Expect::Status(200),
    );
    b.add(
        "7 000 small headers past 64 KiB",
        b.get(&small(7_000)),
        Expect::Status(431),
    );
}

/// One request per connection: pipelined requests and bytes after the head.
fn one_request(b: &mut Cases) {
    let origin = b.origin;
    b.add(
        "pipelined second request is not answered",
        [
            b.target(&url(origin, "/echo?first-request")),
            b.target(&url(origin, "/echo?second-request")),
        ]
        .concat(),
        Expect::StatusWithout(200, "second-request"),
    );
    b.add(
        "bytes after the head of a GET are ignored",
        with_head(b.get(""), b"name=value&body=ignored"),
        Expect::Status(200),
    );
}

/// Other protocols on the plain port (HTTP/0.9, the HTTP/2 preface, TLS) and other methods.
fn protocols(b: &mut Cases) {
    let home = b.home.clone();
    b.add(
        "HTTP/0.9 request line (no version, no blank line)",
        b"GET /\r\n".to_vec(),
        Expect::StatusOrClose(400),
    );
    b.add(
        "HTTP/0.9 as a version",
        format!("GET {home} HTTP/0.9\r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add(
        "HTTP/1.2",
        format!("GET {home} HTTP/1.2\r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add(
        "lower-case http/1.0",
        format!("GET {home} http/1.0\r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add(
        "HTTP/2 connection preface",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        Expect::Status(400),
    );
    b.add(
        "TLS ClientHello on the plain port",
        client_hello(),
        Expect::StatusOrClose(400),
    );
    b.add(
        "lower-case method get",
        format!("get {home} HTTP/1.0\r\n\r\n").into_bytes(),
        Expect::Status(501),
    );
    b.add(
        "OPTIONS *",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        Expect::Status(501),
    );
    b.add(
        "TRACE (would echo the client's headers back)",
        format!("TRACE {home} HTTP/1.0\r\n\r\n").into_bytes(),
        Expect::Status(501),
    );
    b.add(
        "PUT with a body",
        format!("PUT {home} HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi").into_bytes(),
        Expect::Status(501),
    );
}

/// Malformed request lines and binary garbage.
fn malformed(b: &mut Cases) {
    let home = b.home.clone();
    b.add(
        "empty request (a blank line)",
        b"\r\n\r\n".to_vec(),
        Expect::Status(400),
    );
    b.add(
        "tabs between the request-line parts",
        format!("GET\t{home}\tHTTP/1.0\r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add(
        "two spaces between the request-line parts",
        format!("GET  {home}  HTTP/1.0\r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add(
        "a space after the version",
        format!("GET {home} HTTP/1.0 \r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add(
        "a space before the method",
        format!(" GET {home} HTTP/1.0\r\n\r\n").into_bytes(),
        Expect::Status(400),
    );
    b.add(
        "binary garbage without a line end",
        garbage(512, 1),
        Expect::StatusOrClose(400),
    );
    b.add(
        "binary garbage, then a blank line",
        [garbage(512, 2), b"\r\n\r\n".to_vec()].concat(),
        Expect::Status(400),
    );
    b.add(
        "70 000 bytes of binary garbage (refused at its first byte)",
        garbage(70_000, 3),
        Expect::Status(400),
    );
}

/// `len` deterministic pseudo-random bytes, none of them LF, starting with
/// a byte that cannot start a method (so no prefix of it is a request).
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out: Vec<u8> = (0..len)
        .map(|_| match rng.u8(..) {
            b'\n' => 0,
            b => b,
        })
        .collect();
    if let Some(first) = out.first_mut() {
        *first = 0x00;
    }
    out
}

/// A TLS 1.2/1.3 `ClientHello` record for `localhost`, as a browser sends to
/// an `https://` proxy port: record type 0x16, version 0x0301.
fn client_hello() -> Vec<u8> {
    let sni = b"localhost";
    let mut ext = Vec::new();
    // server_name
    let list_len = sni.len() + 3;
    ext.extend_from_slice(&[0x00, 0x00]);
    ext.extend_from_slice(&u16_be(list_len + 2));
    ext.extend_from_slice(&u16_be(list_len));
    ext.push(0x00);
    ext.extend_from_slice(&u16_be(sni.len()));
    ext.extend_from_slice(sni);
    // supported_versions: TLS 1.3, 1.2
    ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03]);

    let mut hello = vec![0x03, 0x03];
    hello.extend((0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    hello.push(0x00); // no session id
    hello.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f]); // cipher suites
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    hello.extend_from_slice(&u16_be(ext.len()));
    hello.extend_from_slice(&ext);

    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&u16_be(hello.len()));
    handshake.extend_from_slice(&hello);

    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16_be(handshake.len()));
    record.extend_from_slice(&handshake);
    record
}

fn u16_be(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_large_and_names_are_unique() {
        let origin: SocketAddr = "127.0.0.1:8000".parse().expect("addr");
        let cases = corpus(origin, 1);
        assert!(cases.len() >= 50, "only {} cases", cases.len());
        let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cases.len(), "duplicate case names");
    }

    #[test]
    fn boundary_cases_are_exactly_at_the_limits() {
        let origin: SocketAddr = "127.0.0.1:8000".parse().expect("addr");
        let cases = corpus(origin, 1);
        let find = |name: &str| {
            cases
                .iter()
                .find(|c| c.name.starts_with(name))
                .map_or_else(|| panic!("no case {name}"), |c| c.request.clone())
        };
        let line = find("request line of exactly 8 KiB");
        assert_eq!(
            line.iter().position(|&b| b == b'\r'),
            Some(MAX_REQUEST_LINE)
        );
        let line = find("request line of 8 KiB + 1");
        assert_eq!(
            line.iter().position(|&b| b == b'\r'),
            Some(MAX_REQUEST_LINE + 1)
        );
        assert_eq!(find("head of exactly 64 KiB").len(), MAX_HEAD);
        assert_eq!(find("head of 64 KiB + 1").len(), MAX_HEAD + 1);
        let hello = find("TLS ClientHello");
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(
            hello.len(),
            usize::from(u16::from_be_bytes([hello[3], hello[4]])) + 5
        );
    }
}
