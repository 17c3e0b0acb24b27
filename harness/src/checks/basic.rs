//! Objects through the proxy equal a direct fetch, byte for byte: the
//! lab's part I (`doit` forwarding, the relay loop) on every object of
//! the test site, with raw sockets and with reqwest as a real client.

use super::{CHECK_TIMEOUT, Check, Failure, Section};
use crate::clients::http::{self, Response, first_difference, get_direct, get_via_proxy};
use crate::lab::Lab;

/// Every object tiny-origin serves statically, plus dynamic ones.
pub fn all_objects() -> Vec<String> {
    let mut all: Vec<String> = tiny_origin::STATIC_PATHS
        .iter()
        .map(std::string::ToString::to_string)
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
pub fn same_as_direct(lab: Lab, path: &str) -> Result<(), Failure> {
    let direct = get_direct(lab.origin, path, CHECK_TIMEOUT)?;
    let proxied = get_via_proxy(lab.proxy, &lab.url(path), CHECK_TIMEOUT)?;
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

/// Every object through the proxy with raw sockets, and the home page and
/// the big binary with reqwest as a real client.
pub fn basic_all(lab: Lab) -> Vec<Check> {
    let mut checks: Vec<Check> = all_objects()
        .iter()
        .map(|path| {
            Check::from_result(
                Section::Objects,
                format!("fetch {path}"),
                same_as_direct(lab, path),
            )
        })
        .collect();
    for path in ["/home.html", "/big.bin", "/images/logo.gif"] {
        checks.push(Check::from_result(
            Section::Objects,
            format!("reqwest through the proxy: {path}"),
            reqwest_same(lab, path),
        ));
    }
    checks
}

fn reqwest_same(lab: Lab, path: &str) -> Result<(), Failure> {
    let target = lab.url(path);
    let direct = http::reqwest_get(&http::reqwest_direct()?, &target)?;
    let proxied = http::reqwest_get(&http::reqwest_via(lab.proxy)?, &target)?;
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
