//! Every check the harness runs, as data.
//!
//! A check returns a [`Check`]: its section, its name, whether it passed,
//! what was expected and what came back, and a one-line hint in the lab's
//! terms. `cargo test -p harness` asserts that every check passes on our
//! variants; `harness grade` prints the same checks as a score.

pub mod cache;
pub mod concurrency;
pub mod robustness;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::http::{self, Response, first_difference, get_direct, get_via_proxy, url};

/// The `User-Agent` the lab's proxy must send (SPEC §4.4).
pub const LAB_USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:10.0.3) Gecko/20120305 Firefox/10.0.3";

/// How long one check may wait for an answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `basic`, `concurrency`, `cache`, `headers`, `bad_input`, …
    pub section: String,
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was expected and what came back (empty when it passed).
    pub detail: String,
    /// A hint in the lab's terms, when it failed.
    pub hint: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn pass(section: &str, name: impl Into<String>) -> Check {
        Check {
            section: section.into(),
            name: name.into(),
            passed: true,
            detail: String::new(),
            hint: None,
        }
    }

    /// A failed check with what went wrong and a hint.
    pub fn fail(
        section: &str,
        name: impl Into<String>,
        detail: impl Into<String>,
        hint: Option<&str>,
    ) -> Check {
        Check {
            section: section.into(),
            name: name.into(),
            passed: false,
            detail: detail.into(),
            hint: hint.map(str::to_string),
        }
    }

    /// Pass or fail from a result.
    pub fn from_result(
        section: &str,
        name: impl Into<String>,
        result: Result<(), Failure>,
    ) -> Check {
        match result {
            Ok(()) => Check::pass(section, name),
            Err(f) => Check::fail(section, name, f.detail, f.hint),
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.passed { "ok  " } else { "FAIL" };
        write!(f, "{mark} [{}] {}", self.section, self.name)?;
        if !self.passed {
            write!(f, "\n       {}", self.detail.replace('\n', "\n       "))?;
            if let Some(hint) = &self.hint {
                write!(f, "\n       hint: {hint}")?;
            }
        }
        Ok(())
    }
}

/// Why a check failed.
#[derive(Debug)]
pub struct Failure {
    /// Expected versus got.
    pub detail: String,
    /// A hint in the lab's terms.
    pub hint: Option<&'static str>,
}

impl Failure {
    /// A failure with a hint.
    pub fn new(detail: impl Into<String>, hint: Option<&'static str>) -> Failure {
        Failure {
            detail: detail.into(),
            hint,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        let text = format!("{error:#}");
        let partial = error
            .downcast_ref::<http::Incomplete>()
            .map(|i| i.partial.as_slice())
            .unwrap_or_default();
        let hint = if partial.starts_with(b"HTTP/1.1") {
            Some(
                "the answer started but never ended: your proxy sent HTTP/1.1 to the server, which kept the connection open; send HTTP/1.0 and Connection: close",
            )
        } else if text.contains("timed out") {
            Some("no answer in time: does your proxy hang on this request?")
        } else if text.contains("refused") {
            Some("the proxy refused the connection: did it die?")
        } else {
            None
        };
        Failure::new(text, hint)
    }
}

/// Panics with every failed check, for tests.
pub fn assert_all_passed(checks: &[Check]) {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} checks failed:\n{}",
        failed.len(),
        checks.len(),
        failed.join("\n")
    );
    assert!(!checks.is_empty(), "no checks ran");
}

// ---------------------------------------------------------------- basic

/// The objects the course's driver fetches, in spirit: pages, text, an
/// image, a binary file over 100 KiB and the dynamic adder. Graded 40
/// points, 8 each.
pub const BASIC_OBJECTS: [&str; 5] = [
    "/home.html",
    "/notes.txt",
    "/images/logo.gif",
    "/big.bin",
    "/cgi-bin/adder?15213&18213",
];

/// Every object tiny-origin serves statically, plus dynamic ones.
pub fn all_objects() -> Vec<String> {
    let mut all: Vec<String> = tiny_origin::STATIC_PATHS
        .iter()
        .map(|s| s.to_string())
        .collect();
    all.extend(
        [
            "/cgi-bin/adder?15213&18213",
            "/cgi-bin/adder?-1&1",
            "/bytes/0",
            "/bytes/1",
            "/bytes/102400",
            "/bytes/1048576",
            "/status/404",
        ]
        .map(String::from),
    );
    all
}

/// Fetches `path` directly and through the proxy; the proxied body must
/// equal the direct one byte for byte.
pub fn same_as_direct(origin: SocketAddr, proxy: SocketAddr, path: &str) -> Result<(), Failure> {
    let direct = get_direct(origin, path, CHECK_TIMEOUT)?;
    let proxied = get_via_proxy(proxy, &url(origin, path), CHECK_TIMEOUT)?;
    compare_responses(&direct, &proxied)
}

/// Compares a proxied response with the direct one.
pub fn compare_responses(direct: &Response, proxied: &Response) -> Result<(), Failure> {
    if proxied.raw.is_empty() {
        return Err(Failure::new(
            "the proxy closed the connection without sending anything",
            Some("nothing came back: did your proxy crash or fail to connect to the server?"),
        ));
    }
    if proxied.status != direct.status {
        let hint = if proxied.status_line().starts_with("HTTP/1.1") {
            Some(
                "the server answered HTTP/1.1: your proxy sent HTTP/1.1 to the server, not HTTP/1.0",
            )
        } else {
            None
        };
        return Err(Failure::new(
            format!(
                "expected status line {:?}, got {:?}",
                direct.status_line(),
                proxied.status_line()
            ),
            hint,
        ));
    }
    if proxied.status_line().starts_with("HTTP/1.1") && direct.status_line().starts_with("HTTP/1.0")
    {
        return Err(Failure::new(
            format!("the server answered {:?}", proxied.status_line()),
            Some("your proxy sent HTTP/1.1 to the server, not HTTP/1.0"),
        ));
    }
    let (want, got) = (direct.body(), proxied.body());
    if let Some(offset) = first_difference(want, got) {
        let hint = if got.len() < want.len() {
            Some(
                "the body is short: binary data cut at a NUL or a line end? Use rio_readnb/rio_writen, not string functions",
            )
        } else {
            Some("the body differs from a direct fetch")
        };
        return Err(Failure::new(
            format!(
                "bodies differ at byte {offset}: expected {} bytes, got {} bytes",
                want.len(),
                got.len()
            ),
            hint,
        ));
    }
    Ok(())
}

/// The graded basic section: [`BASIC_OBJECTS`] through the proxy.
pub fn basic(origin: SocketAddr, proxy: SocketAddr) -> Vec<Check> {
    BASIC_OBJECTS
        .iter()
        .map(|path| {
            Check::from_result(
                "basic",
                format!("fetch {path}"),
                same_as_direct(origin, proxy, path),
            )
        })
        .collect()
}

/// Every object through the proxy with raw sockets, and the home page and
/// the big binary with reqwest as a real client.
pub fn basic_all(origin: SocketAddr, proxy: SocketAddr) -> Vec<Check> {
    let mut checks: Vec<Check> = all_objects()
        .iter()
        .map(|path| {
            Check::from_result(
                "basic",
                format!("fetch {path}"),
                same_as_direct(origin, proxy, path),
            )
        })
        .collect();
    for path in ["/home.html", "/big.bin", "/images/logo.gif"] {
        checks.push(Check::from_result(
            "basic",
            format!("reqwest through the proxy: {path}"),
            reqwest_same(origin, proxy, path),
        ));
    }
    checks
}

fn reqwest_same(origin: SocketAddr, proxy: SocketAddr, path: &str) -> Result<(), Failure> {
    let target = url(origin, path);
    let direct = http::reqwest_get(&http::reqwest_direct()?, &target)?;
    let proxied = http::reqwest_get(&http::reqwest_via(proxy)?, &target)?;
    if direct != proxied {
        return Err(Failure::new(
            format!(
                "direct: {} with {} bytes; through the proxy: {} with {} bytes",
                direct.0,
                direct.1.len(),
                proxied.0,
                proxied.1.len()
            ),
            None,
        ));
    }
    Ok(())
}

// -------------------------------------------------------------- headers

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

    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends `request` through the proxy to `/echo` and returns what the
/// origin saw.
pub fn echo(proxy: SocketAddr, request: &[u8]) -> Result<SeenRequest, Failure> {
    let response = http::exchange(proxy, request, CHECK_TIMEOUT)?;
    if response.status != Some(200) {
        return Err(Failure::new(
            format!("expected 200 from /echo, got {:?}", response.status_line()),
            None,
        ));
    }
    Ok(SeenRequest::parse(response.body()))
}

/// The headers section (SPEC §4.4): what the origin receives.
pub fn headers(origin: SocketAddr, proxy: SocketAddr) -> Vec<Check> {
    // Each request has its own query string, so a caching proxy cannot
    // answer the second from the first.
    let target = url(origin, "/echo?check=full");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {origin}\r\nUser-Agent: curl/8.0 harness\r\n\
         Accept: */*\r\nConnection: keep-alive\r\nProxy-Connection: keep-alive\r\n\
         Keep-Alive: 300\r\nX-Lab-Custom: forty two\r\nCookie: a=b\r\n\r\n"
    );
    let seen = match echo(proxy, request.as_bytes()) {
        Ok(seen) => seen,
        Err(f) => {
            return vec![Check::from_result(
                "headers",
                "request reaches the origin via /echo",
                Err(f),
            )];
        }
    };
    let section = "headers";
    let mut checks = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String, hint: &'static str| {
        checks.push(if ok {
            Check::pass(section, name)
        } else {
            Check::fail(
                section,
                name,
                format!("{detail}\norigin saw:\n{}", seen_text(&seen)),
                Some(hint),
            )
        });
    };
    check(
        "request line is GET /path HTTP/1.0",
        seen.line == "GET /echo?check=full HTTP/1.0",
        format!(
            "expected \"GET /echo?check=full HTTP/1.0\", got {:?}",
            seen.line
        ),
        "send the path only (not the absolute URI) and HTTP/1.0 to the server",
    );
    let hosts = seen.values("Host");
    check(
        "exactly one Host, the client's",
        hosts == [origin.to_string()],
        format!("expected one Host: {origin}, got {hosts:?}"),
        "forward the client's Host header once; add host[:port] only when the client sent none",
    );
    let agents = seen.values("User-Agent");
    check(
        "the lab's fixed User-Agent, once",
        agents == [LAB_USER_AGENT],
        format!("expected one User-Agent: {LAB_USER_AGENT}, got {agents:?}"),
        "replace the client's User-Agent with the lab's user_agent_hdr",
    );
    let connection = seen.values("Connection");
    check(
        "Connection: close, once",
        connection == ["close"],
        format!("expected one Connection: close, got {connection:?}"),
        "send Connection: close and drop the client's Connection header",
    );
    let proxy_connection = seen.values("Proxy-Connection");
    check(
        "Proxy-Connection: close, once",
        proxy_connection == ["close"],
        format!("expected one Proxy-Connection: close, got {proxy_connection:?}"),
        "send Proxy-Connection: close and drop the client's",
    );
    check(
        "other client headers passed through",
        seen.values("X-Lab-Custom") == ["forty two"]
            && seen.values("Cookie") == ["a=b"]
            && seen.values("Accept") == ["*/*"],
        "expected X-Lab-Custom: forty two, Cookie: a=b and Accept: */* unchanged".into(),
        "forward every other header the client sent, unchanged",
    );
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
    check(
        "no X-Forwarded-For, Via or Keep-Alive",
        leaks.is_empty(),
        format!("found {leaks:?}"),
        "the origin must not learn the client's address, and Keep-Alive is hop-by-hop",
    );
    let expected = format!(
        "GET /echo?check=full HTTP/1.0\r\nHost: {origin}\r\nUser-Agent: {LAB_USER_AGENT}\r\n\
         Connection: close\r\nProxy-Connection: close\r\nAccept: */*\r\n\
         X-Lab-Custom: forty two\r\nCookie: a=b\r\n\r\n"
    );
    check(
        "exact request of SPEC §4.4, in order",
        seen.raw == expected,
        format!("expected:\n{expected}"),
        "Host, User-Agent, Connection, Proxy-Connection first, then the client's other headers in order",
    );

    // Without a Host header the proxy derives it from the URI.
    let bare = format!("GET {} HTTP/1.0\r\n\r\n", url(origin, "/echo?check=bare"));
    checks.push(Check::from_result(
        section,
        "Host from the URI when the client sent none",
        echo(proxy, bare.as_bytes()).and_then(|seen| {
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

fn seen_text(seen: &SeenRequest) -> String {
    seen.raw.replace("\r\n", "\n").trim_end().to_string()
}

// ------------------------------------------------------------ bad input

/// What a bad request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// This status.
    Status(u16),
    /// Any 4xx or 5xx error page, or a close without an answer.
    ErrorOrClose,
    /// This status, or a close without an answer (input a proxy may reject
    /// at once or only when the client gives up, e.g. a TLS ClientHello).
    StatusOrClose(u16),
    /// This status, and the answer must not contain this text (a fragment
    /// that must not reach the origin, a pipelined request not served).
    StatusWithout(u16, &'static str),
}

/// One hostile or malformed request and the answer it must get.
#[derive(Debug, Clone)]
pub struct BadCase {
    /// A short name.
    pub name: String,
    /// The bytes sent.
    pub request: Vec<u8>,
    /// The expected answer.
    pub expect: Expect,
}

/// The bad requests of SPEC §4 with their statuses. `origin` is a live
/// origin (so a case fails only for its own reason); `closed_port` is a
/// port where nothing listens; requests for the host `denied.invalid` must
/// be refused (start the proxy with `--deny denied.invalid`: a name under
/// `.invalid`, because a proxy resolves its denied names at start and a
/// test must not send a DNS query off the machine).
pub fn bad_cases(origin: SocketAddr, closed_port: u16) -> Vec<BadCase> {
    let ok_url = url(origin, "/home.html");
    let case = |name: &str, request: Vec<u8>, expect: Expect| BadCase {
        name: name.into(),
        request,
        expect,
    };
    let text = |s: String| s.into_bytes();
    vec![
        case(
            "malformed request line",
            b"HELLO\r\n\r\n".to_vec(),
            Expect::Status(400),
        ),
        case(
            "request line without version",
            text(format!("GET {ok_url}\r\n\r\n")),
            Expect::Status(400),
        ),
        case(
            "POST is not implemented",
            text(format!(
                "POST {ok_url} HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
            )),
            Expect::Status(501),
        ),
        case(
            "HEAD is not implemented",
            text(format!("HEAD {ok_url} HTTP/1.0\r\n\r\n")),
            Expect::Status(501),
        ),
        case(
            "CONNECT is not implemented",
            text(format!(
                "CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n"
            )),
            Expect::Status(501),
        ),
        case(
            "https:// is not implemented",
            text(format!("GET https://{origin}/ HTTP/1.1\r\n\r\n")),
            Expect::Status(501),
        ),
        case(
            "relative URI",
            b"GET /home.html HTTP/1.0\r\n\r\n".to_vec(),
            Expect::Status(400),
        ),
        case(
            "over-long request line",
            text(format!(
                "GET {ok_url}?{} HTTP/1.0\r\n\r\n",
                "a".repeat(9000)
            )),
            Expect::Status(414),
        ),
        case(
            "over-long headers",
            text(format!(
                "GET {ok_url} HTTP/1.0\r\n{}\r\n",
                format!("X-Pad: {}\r\n", "p".repeat(1000)).repeat(70)
            )),
            Expect::Status(431),
        ),
        case(
            "header without colon",
            text(format!("GET {ok_url} HTTP/1.0\r\nNoColonHere\r\n\r\n")),
            Expect::Status(400),
        ),
        case(
            "unreachable port",
            text(format!(
                "GET http://127.0.0.1:{closed_port}/ HTTP/1.0\r\n\r\n"
            )),
            Expect::Status(502),
        ),
        case(
            "unresolvable host",
            b"GET http://no-such-host.invalid/ HTTP/1.0\r\n\r\n".to_vec(),
            Expect::Status(502),
        ),
        case(
            "denied host",
            b"GET http://denied.invalid/ HTTP/1.0\r\n\r\n".to_vec(),
            Expect::Status(403),
        ),
        case(
            "denied subdomain, other case",
            b"GET http://WWW.Denied.Invalid/ HTTP/1.0\r\n\r\n".to_vec(),
            Expect::Status(403),
        ),
    ]
}

/// Sends one bad case and checks the answer.
pub fn run_bad_case(proxy: SocketAddr, case: &BadCase) -> Result<(), Failure> {
    let response = http::exchange(proxy, &case.request, CHECK_TIMEOUT)?;
    match case.expect {
        Expect::Status(want) if response.status == Some(want) => Ok(()),
        Expect::Status(want) => Err(Failure::new(
            format!(
                "expected status {want}, got {}",
                if response.raw.is_empty() {
                    "a close without an answer".to_string()
                } else {
                    format!("{:?}", response.status_line())
                }
            ),
            Some(
                "answer bad requests with an error page (clienterror) instead of closing or forwarding them",
            ),
        )),
        Expect::ErrorOrClose => match response.status {
            None if response.raw.is_empty() => Ok(()),
            Some(s) if s >= 400 => Ok(()),
            _ => Err(Failure::new(
                format!(
                    "expected an error or a close, got {:?}",
                    response.status_line()
                ),
                Some("this request must not be forwarded"),
            )),
        },
        Expect::StatusOrClose(want) if response.raw.is_empty() || response.status == Some(want) => {
            Ok(())
        }
        Expect::StatusOrClose(want) => Err(Failure::new(
            format!(
                "expected status {want} or a close without an answer, got {:?}",
                response.status_line()
            ),
            Some("a request head that never ends cannot be answered; do not forward it"),
        )),
        Expect::StatusWithout(want, text) => {
            let found = response
                .raw
                .windows(text.len().max(1))
                .any(|w| w == text.as_bytes());
            if response.status == Some(want) && !found {
                Ok(())
            } else {
                Err(Failure::new(
                    format!(
                        "expected status {want} without {text:?} in the answer, got {:?}{}",
                        response.status_line(),
                        if found {
                            format!(" containing {text:?}")
                        } else {
                            String::new()
                        }
                    ),
                    Some("forward only the first request, and never a URI's #fragment"),
                ))
            }
        }
    }
}

/// The bad-input section: every case, then a normal fetch to show the
/// proxy still serves.
pub fn bad_input(origin: SocketAddr, proxy: SocketAddr, cases: &[BadCase]) -> Vec<Check> {
    let mut checks: Vec<Check> = cases
        .iter()
        .map(|case| Check::from_result("bad_input", case.name.clone(), run_bad_case(proxy, case)))
        .collect();
    checks.push(Check::from_result(
        "bad_input",
        "still serves after the bad requests",
        same_as_direct(origin, proxy, "/home.html"),
    ));
    checks
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
pub fn closed_port() -> u16 {
    crate::process::free_port().unwrap_or(1)
}
