//! Property tests for the parts of proxy-core that see hostile bytes first:
//! the request-head reader ([`HeadBuf`], [`find_head_end`]), the parsers
//! ([`parse_target`], [`parse_request`]), [`Proxy::prepare`] and the SPEC §4.4
//! rewrite ([`origin_request`]).
//!
//! Properties:
//!
//! 1. Arbitrary bytes, in arbitrary chunks read the way the connection code
//!    reads them (never more than [`HeadBuf::read_limit`]), never panic, never
//!    make the buffer hold more than `MAX_HEAD + 1` bytes, and end the same
//!    way as the same bytes pushed whole: a head of at most `MAX_HEAD` bytes,
//!    `414` for a request line over `MAX_REQUEST_LINE`, `431` for a head over
//!    `MAX_HEAD`, or "need more".
//! 2. The parsers never panic on arbitrary input; whatever they accept is a
//!    GET of an absolute http URI with a sane target, and the rewrite of
//!    anything accepted satisfies SPEC §4.4 and parses again with httparse.
//! 3. Requests generated from parts (host name, IPv4 or `[IPv6]`, optional
//!    port, path, query, fragment, random headers, optional `Host`, and the
//!    headers the proxy replaces in random case and places) are accepted and
//!    rewritten to exactly the request SPEC §4.4 describes, whole or chunked.

use std::net::{Ipv4Addr, Ipv6Addr};

use clap::Parser;
use proptest::prelude::*;
use proxy_core::head::{
    HeadBuf, MAX_HEAD, MAX_REQUEST_LINE, READ_CHUNK, find_head_end, read_in_chunks,
};
use proxy_core::request::{Request, Target, parse_request, parse_target};
use proxy_core::rewrite::{USER_AGENT, origin_request};
use proxy_core::{Config, Proxy, ProxyError};

// ------------------------------------------------------------ head reading

/// How a head read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fed {
    /// The head is complete, this many bytes long.
    Head(usize),
    /// All input pushed, more needed.
    NeedMore,
    /// Refused with this status.
    Refused(Option<u16>),
}

fn fed(result: Result<Option<usize>, ProxyError>) -> Option<Fed> {
    match result {
        Ok(Some(end)) => Some(Fed::Head(end)),
        Ok(None) => None,
        Err(e) => Some(Fed::Refused(e.status())),
    }
}

/// Pushes `input` whole.
fn push_whole(input: &[u8]) -> Fed {
    fed(HeadBuf::new().push(input)).unwrap_or(Fed::NeedMore)
}

/// Reads `input` like `doit::read_head` does ([`read_in_chunks`]): chunks
/// end at the `splits` (offsets into `input`) and are cut further to
/// [`HeadBuf::read_limit`]. Checks the read limit before every read and
/// the buffer's limit at the end.
fn push_chunked(input: &[u8], splits: &[usize]) -> Result<Fed, TestCaseError> {
    let mut bounds: Vec<usize> = splits.iter().map(|&s| s.min(input.len())).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    bounds.dedup();
    let mut broken = None;
    let (head, result) = read_in_chunks(input, |_, head: &HeadBuf| {
        let held = head.bytes().len();
        let limit = head.read_limit();
        if held > MAX_HEAD {
            broken.get_or_insert_with(|| "reading after the head passed MAX_HEAD".to_string());
        }
        if !(1..=READ_CHUNK).contains(&limit) || held + limit > MAX_HEAD + 1 {
            broken.get_or_insert_with(|| format!("read_limit {limit} at {held}"));
        }
        bounds.iter().find(|&&b| b > held).map_or(0, |&b| b - held)
    });
    prop_assert_eq!(broken, None);
    prop_assert!(head.bytes().len() <= MAX_HEAD + 1);
    prop_assert_eq!(head.bytes(), &input[..head.bytes().len()]);
    Ok(fed(result).unwrap_or(Fed::NeedMore))
}

/// What the limits say `input` must give, written from SPEC §4.1 rather
/// than from the code: a request line that cannot become valid is 400; the request line (up to the first LF, without its
/// CR) over 8 KiB is 414; else a head ending within 64 KiB is accepted;
/// else more than 64 KiB (or a head ending past it) is 431.
fn expected(input: &[u8]) -> Fed {
    // A request line that httparse already rejects is refused at once.
    if proxy_core::head::request_line_error(input).is_some() {
        return Fed::Refused(Some(400));
    }
    let first_line = match input.iter().position(|&b| b == b'\n') {
        Some(lf) => input[..lf]
            .strip_suffix(b"\r")
            .unwrap_or(&input[..lf])
            .len(),
        // An unfinished line: its CR, if last, may still become a CRLF.
        None => input.strip_suffix(b"\r").unwrap_or(input).len(),
    };
    if first_line > MAX_REQUEST_LINE {
        return Fed::Refused(Some(414));
    }
    match find_head_end(input) {
        Some(end) if end <= MAX_HEAD => Fed::Head(end),
        Some(_) => Fed::Refused(Some(431)),
        None if input.len() > MAX_HEAD => Fed::Refused(Some(431)),
        None => Fed::NeedMore,
    }
}

/// Split points for `input`: some random, some right before or after a CR
/// or LF (where a chunk boundary is most likely to matter).
fn splits_for(input: &[u8], picks: &[(bool, u32)]) -> Vec<usize> {
    let ends: Vec<usize> = input
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\r' || **b == b'\n')
        .flat_map(|(i, _)| [i, i + 1])
        .collect();
    picks
        .iter()
        .map(|&(near_end, r)| {
            let r = r as usize;
            if near_end && !ends.is_empty() {
                ends[r % ends.len()]
            } else {
                r % (input.len() + 1)
            }
        })
        .collect()
}

/// Bytes that look a little like a request head: mostly line endings,
/// spaces, colons and letters, so heads do end.
fn heady_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(b'\n'),
            3 => Just(b'\r'),
            2 => Just(b' '),
            2 => Just(b':'),
            6 => b'a'..=b'z',
            1 => any::<u8>(),
        ],
        0..max,
    )
}

/// A head near the limits: a valid request line of about
/// `MAX_REQUEST_LINE` bytes and headers that bring it to about `MAX_HEAD`, with either line
/// ending, and a tail after it.
fn near_limit_head() -> impl Strategy<Value = Vec<u8>> {
    (
        MAX_REQUEST_LINE - 3..=MAX_REQUEST_LINE + 3,
        any::<bool>(),
        prop_oneof![Just(0usize), MAX_HEAD - 200..=MAX_HEAD + 200],
        any::<bool>(),
    )
        .prop_map(|(line, crlf, total, end_blank)| {
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            // A request line httparse accepts, padded in its query: a line
            // of letters only would be refused with 400 before any limit.
            let (start, end) = (&b"GET http://a.test/?"[..], &b" HTTP/1.0"[..]);
            let mut out = start.to_vec();
            out.resize(line - end.len(), b'q');
            out.extend_from_slice(end);
            out.extend_from_slice(eol);
            // Headers of 100 bytes each, then one that fills up to `total`.
            while out.len() + 100 + 2 * eol.len() < total {
                out.extend_from_slice(&[b'h'; 100 - 2]);
                out.extend_from_slice(b": ");
                out.extend_from_slice(eol);
            }
            if total > out.len() + 2 * eol.len() + 2 {
                let pad = total - out.len() - 2 * eol.len();
                out.extend(std::iter::repeat_n(b'p', pad - 2));
                out.extend_from_slice(b": ");
                out.extend_from_slice(eol);
            }
            if end_blank {
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(b"tail");
            out
        })
}

fn picks() -> impl Strategy<Value = Vec<(bool, u32)>> {
    prop::collection::vec((any::<bool>(), any::<u32>()), 0..12)
}

/// The inputs property 1 is checked on, in equal shares: bytes that look
/// a little like a head, any bytes, and heads near the limits.
fn head_inputs() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        heady_bytes(600),
        prop::collection::vec(any::<u8>(), 0..300),
        near_limit_head(),
    ]
}

proptest! {
    // As many cases for each kind of input as when each had its own test.
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn head_reader_keeps_its_limits_and_reads_chunks_as_whole(
        input in head_inputs(),
        picks in picks(),
    ) {
        let splits = splits_for(&input, &picks);
        let chunked = push_chunked(&input, &splits)?;
        prop_assert_eq!(chunked, push_whole(&input));
        prop_assert_eq!(chunked, expected(&input));
    }
}

proptest! {

    #[test]
    fn find_head_end_is_the_first_empty_line_after_the_first_line(
        input in heady_bytes(200),
    ) {
        if let Some(end) = find_head_end(&input) {
            prop_assert!(end >= 2 && end <= input.len());
            prop_assert_eq!(input[end - 1], b'\n');
            // The line that ends at `end` is empty (maybe a lone CR) and is
            // not the first line.
            let before = &input[..end - 1];
            let start = before.iter().rposition(|&b| b == b'\n').map(|p| p + 1);
            prop_assert!(start.is_some(), "the first line cannot end the head");
            let line = &input[start.unwrap_or(0)..end - 1];
            prop_assert!(line.is_empty() || line == b"\r");
            // No earlier line after the first was empty.
            prop_assert_eq!(find_head_end(&input[..end - 1]), None);
        }
    }
}

// ----------------------------------------------------- parsing, anything

fn proxy() -> Proxy {
    let config = Config::parse_from(["proxy"]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 3128));
    Proxy::new(config, addr).unwrap_or_else(|e| panic!("Proxy::new: {e}"))
}

const REPLACED: [&str; 9] = [
    "Host",
    "User-Agent",
    "Connection",
    "Proxy-Connection",
    "Keep-Alive",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Upgrade",
];

/// SPEC §4.4: a client header is not forwarded when the proxy replaces it,
/// when it is hop-by-hop, or when the client's `Connection` or
/// `Proxy-Connection` names it.
fn forwarded_header<'a>(
    headers: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
    name: &str,
) -> bool {
    if REPLACED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return false;
    }
    !headers
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case("Connection") || n.eq_ignore_ascii_case("Proxy-Connection")
        })
        .any(|(_, v)| {
            String::from_utf8_lossy(v)
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case(name))
        })
}

/// SPEC §4.4 for any accepted request: the exact first four headers, then
/// every other client header in order, and httparse reads it back.
fn check_rewrite(request: &Request, out: &[u8]) -> Result<(), TestCaseError> {
    let first_line = format!("GET {} HTTP/1.0\r\n", request.target.path);
    prop_assert!(out.starts_with(first_line.as_bytes()));
    let mut slots = vec![httparse::EMPTY_HEADER; request.headers.len() + 8];
    let mut parsed = httparse::Request::new(&mut slots);
    let status = parsed.parse(out);
    prop_assert!(
        matches!(status, Ok(httparse::Status::Complete(n)) if n == out.len()),
        "httparse on the rewrite: {:?}\n{}",
        status,
        String::from_utf8_lossy(out)
    );
    prop_assert_eq!(parsed.method, Some("GET"));
    prop_assert_eq!(parsed.path, Some(request.target.path.as_str()));
    prop_assert_eq!(parsed.version, Some(0));
    let got: Vec<(&str, &[u8])> = parsed.headers.iter().map(|h| (h.name, h.value)).collect();
    let client_host = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Host"))
        .map(|h| h.value.clone());
    let host = client_host.unwrap_or_else(|| request.target.host_header().into_bytes());
    let mut want: Vec<(&str, &[u8])> = vec![
        ("Host", &host),
        ("User-Agent", USER_AGENT.as_bytes()),
        ("Connection", b"close"),
        ("Proxy-Connection", b"close"),
    ];
    let all = request
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_slice()));
    want.extend(
        request
            .headers
            .iter()
            .filter(|h| forwarded_header(all.clone(), &h.name))
            .map(|h| (h.name.as_str(), h.value.as_slice())),
    );
    prop_assert_eq!(&got, &want);
    for name in REPLACED {
        let n = got
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count();
        let ours = ["Host", "User-Agent", "Connection", "Proxy-Connection"].contains(&name);
        prop_assert_eq!(n, usize::from(ours), "{} times {}", n, name);
    }
    Ok(())
}

/// What holds for every target the parser accepts.
fn check_target(uri: &str, target: &Target) -> Result<(), TestCaseError> {
    prop_assert!(target.port != 0);
    prop_assert!(target.path.starts_with('/'), "path {:?}", target.path);
    prop_assert!(!target.path.contains('#'));
    prop_assert!(!target.host.is_empty());
    prop_assert!(
        target.host.parse::<Ipv6Addr>().is_ok()
            || target
                .host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)),
        "host {:?} of {:?}",
        target.host,
        uri
    );
    // Printing and parsing again gives the same target.
    let again = parse_target(&target.to_string()).ok();
    prop_assert_eq!(again.as_ref(), Some(target));
    Ok(())
}

/// Every accepted request, whatever the input: a GET, one Host at most, no
/// body, no control bytes, and a rewrite that follows SPEC §4.4.
fn check_accepted(input: &[u8]) -> Result<(), TestCaseError> {
    let parsed = parse_request(input);
    let prepared = proxy().prepare(input);
    prop_assert_eq!(
        parsed.as_ref().err().map(ProxyError::status),
        prepared.as_ref().err().map(ProxyError::status)
    );
    if let Err(e) = &parsed {
        prop_assert!(matches!(e.status(), Some(400 | 501)), "{}", e);
    }
    let (Ok(request), Ok(prepared)) = (parsed, prepared) else {
        return Ok(());
    };
    prop_assert_eq!(&request.method, "GET");
    check_target(&request.uri, &request.target)?;
    let count = |name: &str| {
        request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    prop_assert!(count("Host") <= 1);
    prop_assert_eq!(count("Transfer-Encoding"), 0);
    for h in &request.headers {
        prop_assert!(
            !h.value
                .iter()
                .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        );
        if h.name.eq_ignore_ascii_case("Content-Length") {
            prop_assert_eq!(h.value.as_slice(), b"0");
        }
    }
    let out = origin_request(&request);
    prop_assert_eq!(&prepared.origin_request, &out);
    prop_assert_eq!(&prepared.request, &request);
    // The key is the normalised URI, plus the client's Host when that
    // names another authority (so a Host cannot poison another URI's entry).
    let key = request.target.cache_key();
    prop_assert!(
        prepared.cache_key == key || prepared.cache_key.starts_with(&format!("{key} host=")),
        "cache key {:?} for URI key {:?}",
        prepared.cache_key,
        key
    );
    check_rewrite(&request, &out)
}

/// Bytes of an HTTP-ish request line and headers, for inputs that get past
/// httparse more often than random bytes do.
fn request_ish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(&b"GET "[..]),
        Just(&b"get "[..]),
        Just(&b"http://"[..]),
        Just(&b"HTTPS://"[..]),
        Just(&b"a.b"[..]),
        Just(&b"[::1]"[..]),
        Just(&b":80"[..]),
        Just(&b":"[..]),
        Just(&b"@"[..]),
        Just(&b"#"[..]),
        Just(&b"?"[..]),
        Just(&b"/"[..]),
        Just(&b" HTTP/1.0"[..]),
        Just(&b" HTTP/1.1"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\n"[..]),
        Just(&b"Host: h"[..]),
        Just(&b"Content-Length: 0"[..]),
        Just(&b"Content-Length: 1"[..]),
        Just(&b"Transfer-Encoding: chunked"[..]),
        Just(&b"Connection: keep-alive"[..]),
        Just(&b"Keep-Alive: 1"[..]),
        Just(&b"X-A: b"[..]),
        Just(&b"\t"[..]),
        Just(&b" "[..]),
        Just(&b"\0"[..]),
        Just(&b"\xff"[..]),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// A valid request with some bytes replaced, inserted or removed.
fn mutated_request() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_request(),
        prop::collection::vec((0u8..3, any::<u16>(), any::<u8>()), 1..4),
    )
        .prop_map(|(valid, edits)| {
            let mut bytes = valid.head;
            for (kind, at, byte) in edits {
                let at = usize::from(at) % (bytes.len() + 1);
                match kind {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            bytes
        })
}

proptest! {
    #[test]
    fn parse_target_never_panics(uri in any::<String>()) {
        if let Ok(target) = parse_target(&uri) {
            check_target(&uri, &target)?;
        }
    }

    #[test]
    fn parse_target_on_uri_like_strings(
        uri in "(?i:https?)://(\\[[0-9a-f:.]{0,12}\\]|[a-zA-Z0-9.%_@-]{0,8})(:[0-9-]{0,6})?[/?#]?[ -~]{0,8}",
    ) {
        if let Ok(target) = parse_target(&uri) {
            check_target(&uri, &target)?;
        }
    }

    #[test]
    fn parser_and_prepare_never_panic_on_bytes(input in prop::collection::vec(any::<u8>(), 0..300)) {
        check_accepted(&input)?;
    }

    #[test]
    fn parser_and_prepare_on_request_ish_bytes(input in request_ish()) {
        check_accepted(&input)?;
    }

    #[test]
    fn parser_and_prepare_on_mutated_requests(input in mutated_request()) {
        check_accepted(&input)?;
    }
}

// ------------------------------------------------- valid requests, built

/// A request built from parts, with the rewrite it must get.
#[derive(Debug, Clone)]
struct Valid {
    head: Vec<u8>,
    host: String,
    port: u16,
    path: String,
    expected: Vec<u8>,
}

fn host_part() -> impl Strategy<Value = (String, String)> {
    // (as written in the URI, as Target::host)
    prop_oneof![
        "[a-zA-Z0-9_-]{1,12}(\\.[a-zA-Z0-9_-]{1,12}){0,3}".prop_map(|h| (h.clone(), h)),
        any::<Ipv4Addr>().prop_map(|ip| (ip.to_string(), ip.to_string())),
        any::<Ipv6Addr>().prop_map(|ip| (format!("[{ip}]"), ip.to_string())),
    ]
}

/// A valid `Host` header value: a host as in a URI, and maybe a port.
fn host_value() -> impl Strategy<Value = Vec<u8>> {
    (host_part(), port_part())
        .prop_map(|((host, _), (port, _))| format!("{host}{port}").into_bytes())
}

/// (as written after the host, the port it means)
fn port_part() -> impl Strategy<Value = (String, u16)> {
    prop_oneof![
        Just((String::new(), 80)),
        Just((":".to_string(), 80)),
        (1u16..).prop_map(|p| (format!(":{p}"), p)),
        (1u16..).prop_map(|p| (format!(":{p:05}"), p)),
    ]
}

/// (as written after the authority, the path the origin must get)
fn path_part() -> impl Strategy<Value = (String, String)> {
    const CHARS: &str = "[A-Za-z0-9._~!$&'()*+,;=:@%/\\[\\]\\-]{0,24}";
    const QUERY: &str = "[?][A-Za-z0-9._~!$&'()*+,;=:@%/?\\[\\]\\-]{0,24}";
    const FRAGMENT: &str = "#[A-Za-z0-9._~!$&'()*+,;=:@%/?#\\[\\]\\-]{0,24}";
    (
        prop_oneof![Just(String::new()), CHARS.prop_map(|p| format!("/{p}"))],
        prop::option::of(QUERY),
        prop::option::of(FRAGMENT),
    )
        .prop_map(|(path, query, fragment)| {
            let query = query.unwrap_or_default();
            let written = format!("{path}{query}{}", fragment.unwrap_or_default());
            let sent = match (path.as_str(), query.as_str()) {
                ("", "") => "/".to_string(),
                ("", q) => format!("/{q}"),
                (p, q) => format!("{p}{q}"),
            };
            (written, sent)
        })
}

fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}".prop_filter("a header with a rule of its own", |n| {
        ![
            "host",
            "user-agent",
            "connection",
            "proxy-connection",
            "keep-alive",
            "transfer-encoding",
            "content-length",
        ]
        .contains(&n.to_ascii_lowercase().as_str())
    })
}

/// A header value as httparse keeps it: visible bytes or obs-text, with
/// spaces and tabs inside but not at either end.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            6 => 0x21u8..=0x7e,
            1 => 0x80u8..=0xff,
            1 => Just(b' '),
            1 => Just(b'\t'),
        ],
        0..30,
    )
    .prop_map(|v| v.trim_ascii().to_vec())
}

/// Writes `name` with the case of each letter flipped where `mask` says.
fn recase(name: &str, mask: u32) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 32) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

prop_compose! {
    fn valid_request()(
        (host_uri, host) in host_part(),
        (port_uri, port) in port_part(),
        (path_uri, path) in path_part(),
        scheme_mask in any::<u32>(),
        minor in 0u8..=1,
        others in prop::collection::vec((header_name(), header_value()), 0..6),
        client_host in prop::option::of(host_value()),
        replaced in prop::collection::vec(
            (prop::sample::select(&["User-Agent", "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization", "TE", "Upgrade"][..]), any::<u32>(), header_value()),
            0..4,
        ),
        content_length_0 in any::<bool>(),
        places in prop::collection::vec(any::<u16>(), 8),
        host_mask in any::<u32>(),
        ows in prop::collection::vec(prop::sample::select(&["", " ", "  ", "\t", " \t"][..]), 16),
        trailing in prop::collection::vec(prop::sample::select(&["", " ", "\t"][..]), 16),
        crlf in prop::collection::vec(any::<bool>(), 16),
    ) -> Valid {
        let uri = format!("{}://{host_uri}{port_uri}{path_uri}", recase("http", scheme_mask));
        // Headers in the order the client sends them.
        let mut headers: Vec<(String, Vec<u8>)> = others.clone();
        let mut extra: Vec<(String, Vec<u8>)> = replaced
            .iter()
            .map(|(name, mask, value)| (recase(name, *mask), value.clone()))
            .collect();
        if let Some(value) = &client_host {
            extra.push((recase("host", host_mask), value.clone()));
        }
        if content_length_0 {
            extra.push(("Content-Length".to_string(), b"0".to_vec()));
        }
        for (i, header) in extra.into_iter().enumerate() {
            let at = usize::from(places[i % places.len()]) % (headers.len() + 1);
            headers.insert(at, header);
        }
        let eol = |i: usize| if crlf[i % crlf.len()] { &b"\r\n"[..] } else { &b"\n"[..] };
        let mut head = format!("GET {uri} HTTP/1.{minor}").into_bytes();
        head.extend_from_slice(eol(0));
        for (i, (name, value)) in headers.iter().enumerate() {
            head.extend_from_slice(name.as_bytes());
            head.push(b':');
            head.extend_from_slice(ows[i % ows.len()].as_bytes());
            head.extend_from_slice(value);
            if !value.is_empty() {
                head.extend_from_slice(trailing[i % trailing.len()].as_bytes());
            }
            head.extend_from_slice(eol(i + 1));
        }
        head.extend_from_slice(eol(headers.len() + 1));

        // The rewrite, written from SPEC §4.4.
        let host_for_uri = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let derived = if port == 80 { host_for_uri } else { format!("{host_for_uri}:{port}") };
        let mut expected = format!("GET {path} HTTP/1.0\r\nHost: ").into_bytes();
        expected.extend_from_slice(client_host.as_deref().unwrap_or(derived.as_bytes()));
        expected.extend_from_slice(
            format!(
                "\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\nProxy-Connection: close\r\n"
            )
            .as_bytes(),
        );
        let all = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        for (name, value) in &headers {
            if !forwarded_header(all.clone(), name) {
                continue;
            }
            expected.extend_from_slice(name.as_bytes());
            expected.extend_from_slice(b": ");
            expected.extend_from_slice(value);
            expected.extend_from_slice(b"\r\n");
        }
        expected.extend_from_slice(b"\r\n");
        Valid { head, host, port, path, expected }
    }
}

proptest! {
    #[test]
    fn valid_requests_round_trip_to_the_spec_rewrite(valid in valid_request()) {
        let request = parse_request(&valid.head);
        prop_assert!(
            request.is_ok(),
            "{:?} refused: {:?}",
            String::from_utf8_lossy(&valid.head),
            request.err()
        );
        let Ok(request) = request else { return Ok(()) };
        prop_assert_eq!(&request.target.host, &valid.host);
        prop_assert_eq!(request.target.port, valid.port);
        prop_assert_eq!(&request.target.path, &valid.path);
        let out = origin_request(&request);
        prop_assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&valid.expected)
        );
        check_rewrite(&request, &out)?;
        check_accepted(&valid.head)?;
    }

    #[test]
    fn valid_requests_chunked_read_as_whole(
        valid in valid_request(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        picks in picks(),
    ) {
        // A body or a pipelined request may follow; it is never part of the head.
        let mut input = valid.head.clone();
        input.extend_from_slice(&tail);
        let splits = splits_for(&input, &picks);
        let chunked = push_chunked(&input, &splits)?;
        prop_assert_eq!(chunked, Fed::Head(valid.head.len()));
        prop_assert_eq!(push_whole(&input), Fed::Head(valid.head.len()));
        let whole = proxy().prepare(&valid.head);
        prop_assert!(whole.is_ok());
        if let Ok(prepared) = whole {
            prop_assert_eq!(&prepared.origin_request, &valid.expected);
        }
    }
}
