//! The extras: what the lab handout asks of a proxy and driver.sh does not
//! check. Each is reported under the 70 points with what was expected,
//! what came back and a hint in the lab's words; none takes a point.
//!
//! | section | what | the usual defect |
//! |---|---|---|
//! | [`Section::LargeObject`] | a 300,000-byte binary with NULs and CRLFCRLF | fixed buffers, string functions |
//! | [`Section::HeaderSpelling`] | objects from a server that says `Content-Length` | `strncmp(buf, "Content-length", 14)` |
//! | [`Section::Dynamic`] | `cgi-bin/adder?15213&18213` | the query string dropped |
//! | [`Section::Request`] | the request the origin receives | HTTP/1.1, missing `Connection: close` |
//! | [`Section::CacheHits`] | hits byte-identical, binaries cached, big objects not | a NUL added, `strlen` on cached data |
//! | [`Section::OriginDown`] | a refused or unresolvable origin | csapp's `Open_clientfd` exits |
//! | [`Section::BadInput`] | malformed requests | a crash on `sscanf` or a long line |
//! | [`Section::Sigpipe`] | clients that hang up mid-response | SIGPIPE, `Rio_writen` exits |
//! | [`Section::Leaks`] | descriptors and threads after 300 requests | a missing `Close` |
//! | [`Section::StalledClients`] | silent and half-sent clients | a sequential proxy |

use std::net::SocketAddr;
use std::time::Duration;

use super::sections::{Started, join_all, spawn_section};
use crate::checks::bad_input::{bad_cases, closed_port};
use crate::checks::concurrency::fetch_beside_stalled_clients;
use crate::checks::headers::handout_rules;
use crate::checks::robustness::{leaks, sigpipe};
use crate::checks::{Check, Failure, Section};
use crate::clients::curl::{self, Route};
use crate::clients::http::{self, first_difference};
use crate::lab::{Lab, Origin, ProxySpec, start_origin, start_tiny};
use crate::process::Running;

mod cache;

/// The longest one extra may take.
const BUDGET: Duration = Duration::from_secs(20);
/// How long one fetch of an extra may take.
const FETCH: Duration = Duration::from_secs(5);

/// Every extra, in the order the report lists them.
pub const EXTRAS: [Section; 10] = [
    Section::LargeObject,
    Section::HeaderSpelling,
    Section::Dynamic,
    Section::Request,
    Section::CacheHits,
    Section::OriginDown,
    Section::BadInput,
    Section::Sigpipe,
    Section::Leaks,
    Section::StalledClients,
];

/// Runs every extra side by side, each with a fresh proxy.
pub fn run(proxy: &ProxySpec) -> Vec<Check> {
    run_only(proxy, &EXTRAS)
}

/// Runs the extras of `sections` (a subset of [`EXTRAS`]) side by side.
pub fn run_only(proxy: &ProxySpec, sections: &[Section]) -> Vec<Check> {
    type Body = fn(&mut Running, &Started) -> Vec<Check>;
    let extras: [(Section, Body); 10] = [
        (Section::LargeObject, large_object),
        (Section::HeaderSpelling, header_spelling),
        (Section::Dynamic, dynamic),
        (Section::Request, request),
        (Section::CacheHits, cache::cache_hits),
        (Section::OriginDown, origin_down),
        (Section::BadInput, bad_input),
        (Section::Sigpipe, hang_ups),
        (Section::Leaks, no_leaks),
        (Section::StalledClients, stalled_clients),
    ];
    let handles = extras
        .into_iter()
        .filter(|(section, _)| sections.contains(section))
        .map(|(section, body)| (section, spawn_section(proxy, section, &[], BUDGET, body)))
        .collect();
    join_all(handles)
}

/// An origin for one extra, or a failed check that says the harness could
/// not start it.
fn origin(section: Section, tiny: bool) -> Result<Origin, Vec<Check>> {
    let started = if tiny {
        start_tiny()
    } else {
        start_origin(&["--stall-secs", "5", "--hold-secs", "5"])
    };
    started.map_err(|e| {
        vec![Check::fail(
            Section::Setup,
            format!("{section}: start an origin"),
            format!("{e:#}"),
            None,
        )]
    })
}

/// [`origin`], and the [`Lab`] of it and `proxy`.
fn origin_and_lab(
    section: Section,
    tiny: bool,
    proxy: &Running,
) -> Result<(Origin, Lab), Vec<Check>> {
    let started = origin(section, tiny)?;
    let lab = Lab {
        origin: started.addr,
        proxy: proxy.addr,
    };
    Ok((started, lab))
}

/// `path` from `lab.origin` through `lab.proxy`, as curl saves it,
/// compared with `expected`.
fn fetched_right(lab: Lab, path: &str, expected: &[u8]) -> Result<(), String> {
    let saved = curl::fetch(
        Route::Proxy(lab.proxy.port()),
        lab.origin.port(),
        path,
        FETCH,
    );
    if saved.same_file_as(expected) {
        return Ok(());
    }
    Err(match &saved.file {
        None => format!(
            "expected {} bytes; nothing saved ({}); first line {:?}",
            expected.len(),
            saved.error.as_deref().unwrap_or("no error"),
            saved.first_line()
        ),
        Some(got) => format!(
            "expected {} bytes, got {} bytes, first difference at byte {}{}",
            expected.len(),
            got.len(),
            first_difference(expected, got).unwrap_or(0),
            saved
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
    })
}

/// A direct fetch of `path` from the full test server, as curl saves it.
fn direct(origin: SocketAddr, path: &str) -> Vec<u8> {
    curl::fetch(Route::Direct, origin.port(), path, FETCH)
        .file
        .unwrap_or_default()
}

fn alive(section: Section, proxy: &mut Running, after: &str) -> Check {
    match proxy.exit_status() {
        None => Check::pass(section, format!("still running after {after}")),
        Some(status) => Check::fail(
            section,
            format!("still running after {after}"),
            format!(
                "the proxy exited: {}",
                crate::process::describe_exit(status)
            ),
            Some(
                "your proxy died: a crash (fixed-size buffer?), SIGPIPE, or an exit() inside a csapp wrapper (Rio_writen, Open_clientfd)",
            ),
        ),
    }
}

fn large_object(proxy: &mut Running, _: &Started) -> Vec<Check> {
    let section = Section::LargeObject;
    // `_tiny` lives to the end of the function: dropping it stops the origin.
    let (_tiny, lab) = match origin_and_lab(section, true, proxy) {
        Ok(started) => started,
        Err(checks) => return checks,
    };
    let expected = tiny_origin::big_bin();
    let fetched = fetched_right(lab, "/big.bin", &expected);
    vec![
        Check::from_result(
            section,
            "a 300,000-byte binary (NULs, CRLFCRLF inside) through the proxy",
            fetched.map_err(|detail| {
                Failure::new(
                    detail,
                    Some(
                        "objects can be larger than any buffer and contain NUL bytes: read with rio_readnb and write exactly the bytes read; no strlen/strcpy/sprintf on the body. An object over MAX_OBJECT_SIZE is still relayed in full, just not cached",
                    ),
                )
            }),
        ),
        alive(section, proxy, "a large object"),
    ]
}

fn header_spelling(proxy: &mut Running, _: &Started) -> Vec<Check> {
    let section = Section::HeaderSpelling;
    let (rich, lab) = match origin_and_lab(section, false, proxy) {
        Ok(started) => started,
        Err(checks) => return checks,
    };
    ["/home.html", "/notes.txt", "/images/logo.gif"]
        .into_iter()
        .map(|path| {
            let expected = direct(rich.addr, path);
            Check::from_result(
                section,
                format!("{path} from a server that writes Content-Length"),
                fetched_right(lab, path, &expected).map_err(|detail| {
                    Failure::new(
                        detail,
                        Some(
                            "real servers write Content-Length, content-length, Date, Transfer-Encoding…: header names are case-insensitive (strcasecmp), or better, do not parse the response at all — relay bytes until the server closes",
                        ),
                    )
                }),
            )
        })
        .collect()
}

fn dynamic(proxy: &mut Running, _: &Started) -> Vec<Check> {
    let section = Section::Dynamic;
    let (tiny, lab) = match origin_and_lab(section, true, proxy) {
        Ok(started) => started,
        Err(checks) => return checks,
    };
    let path = "/cgi-bin/adder?15213&18213";
    let expected = direct(tiny.addr, path);
    vec![Check::from_result(
        section,
        format!("{path} equals a direct fetch"),
        fetched_right(lab, path, &expected).map_err(|detail| {
            Failure::new(
                detail,
                Some("the query string (?15213&18213) is part of the path you send to the server"),
            )
        }),
    )]
}

fn request(proxy: &mut Running, _: &Started) -> Vec<Check> {
    match origin(Section::Request, false) {
        Ok(rich) => handout_rules(Lab {
            origin: rich.addr,
            proxy: proxy.addr,
        }),
        Err(checks) => checks,
    }
}

fn origin_down(proxy: &mut Running, _: &Started) -> Vec<Check> {
    let section = Section::OriginDown;
    // `_tiny` lives to the end of the function: dropping it stops the origin.
    let (_tiny, lab) = match origin_and_lab(section, true, proxy) {
        Ok(started) => started,
        Err(checks) => return checks,
    };
    // A port where nothing listens: connect() is refused. (No unknown
    // host name: a student's proxy would ask DNS, and the grade never
    // sends anything off this machine.)
    let target = format!("http://localhost:{}/home.html", closed_port());
    let _ = http::exchange(proxy.addr, &http::proxy_request(&target, &[]), FETCH);
    std::thread::sleep(Duration::from_millis(200));
    let serves = fetched_right(lab, "/home.html", &tiny_origin::home_html().into_bytes());
    let hint = "csapp's Open_clientfd (and Getaddrinfo) exit the whole process when the server cannot be reached: call open_clientfd, and answer the client with an error page instead";
    vec![
        match proxy.exit_status() {
            None => Check::pass(section, "alive after a request for a server that refuses"),
            Some(status) => Check::fail(
                section,
                "alive after a request for a server that refuses",
                format!(
                    "the proxy exited: {}",
                    crate::process::describe_exit(status)
                ),
                Some(hint),
            ),
        },
        Check::from_result(
            section,
            "still serves after an origin was down",
            serves.map_err(|detail| Failure::new(detail, Some(hint))),
        ),
    ]
}

fn bad_input(proxy: &mut Running, _: &Started) -> Vec<Check> {
    let section = Section::BadInput;
    let (tiny, lab) = match origin_and_lab(section, true, proxy) {
        Ok(started) => started,
        Err(checks) => return checks,
    };
    // The lab's malformed requests: those a proxy answers with a client
    // error, without contacting any server.
    for case in bad_cases(tiny.addr, closed_port())
        .iter()
        .filter(|case| case.is_client_error())
    {
        let _ = http::exchange(proxy.addr, &case.request, Duration::from_secs(2));
    }
    let serves = fetched_right(lab, "/home.html", &tiny_origin::home_html().into_bytes());
    vec![
        alive(section, proxy, "malformed requests (a bad request line, POST, a 9,000-byte line, 70 KB of headers…)"),
        Check::from_result(
            section,
            "still serves after malformed requests",
            serves.map_err(|detail| {
                Failure::new(
                    detail,
                    Some("check sscanf's result, bound every buffer, and answer bad requests with clienterror"),
                )
            }),
        ),
    ]
}

fn hang_ups(proxy: &mut Running, _: &Started) -> Vec<Check> {
    match origin(Section::Sigpipe, false) {
        Ok(rich) => sigpipe(rich.addr, proxy),
        Err(checks) => checks,
    }
}

fn no_leaks(proxy: &mut Running, _: &Started) -> Vec<Check> {
    let rich = match origin(Section::Leaks, false) {
        Ok(o) => o,
        Err(checks) => return checks,
    };
    leaks(rich.addr, proxy, 300).unwrap_or_else(|| {
        vec![Check::fail(
            Section::Setup,
            "leaks: read /proc",
            "the proxy's /proc entries could not be read",
            None,
        )]
    })
}

fn stalled_clients(proxy: &mut Running, _: &Started) -> Vec<Check> {
    match origin(Section::StalledClients, false) {
        Ok(rich) => vec![fetch_beside_stalled_clients(Lab {
            origin: rich.addr,
            proxy: proxy.addr,
        })],
        Err(checks) => checks,
    }
}
