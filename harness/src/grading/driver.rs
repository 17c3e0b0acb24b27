//! The 70 points, by driver.sh's procedure.
//!
//! The course's `driver.sh` runs three sections, each with a fresh `tiny`
//! and a fresh `./proxy PORT`, and fetches with `curl --max-time 5`:
//!
//! - **Basic (40)**: five objects (a page, two C sources, an image, the
//!   `tiny` executable), each fetched through the proxy and then directly,
//!   the two files `diff`ed; `40 × identical / 5` points. One proxy serves
//!   all five, so a crash fails every object after it.
//! - **Concurrency (15)**: a request for a server that accepts and never
//!   answers (`nop-server.py`) is left hanging through the proxy; then one
//!   page through the proxy must equal the direct fetch.
//! - **Cache (15)**: three objects through the proxy, `tiny` killed, then
//!   the page once more through the proxy must equal the file.
//!
//! This module does the same against [`tiny_origin::start_tiny`] (Tiny,
//! byte for byte) with the lab's objects ([`tiny_origin::LAB_OBJECTS`]),
//! the nop server in-process, and [`curl::fetch`] — the body as curl saves
//! it. Nothing else touches the points: no extra objects, no liveness
//! check, no head comparison. Two differences make it deterministic where
//! driver.sh races: the hanging request is known to have reached the nop
//! server before the page is fetched (driver.sh only starts it first),
//! and an object is compared with the bytes Tiny serves, checked against
//! the harness's own direct fetch, so a reference fetch that goes wrong is
//! reported as the harness's failure, never the student's.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tiny_origin::{CACHE_OBJECTS, FETCH_OBJECT, LAB_OBJECTS, TinyVersion, lab_files};

use crate::checks::{Check, Section};
use crate::clients::curl::{self, Route, Saved};
use crate::lab::{NopServer, Origin, ProxySpec, start_tiny_version};
use crate::process::{Running, describe_exit, procfs};

/// curl's `--max-time` in driver.sh.
pub const DRIVER_TIMEOUT: Duration = Duration::from_secs(5);
/// Points of Basic, as in driver.sh.
pub const BASIC_POINTS: u32 = 40;
/// Points of Concurrency.
pub const CONCURRENCY_POINTS: u32 = 15;
/// Points of Cache.
pub const CACHE_POINTS: u32 = 15;

/// How long to wait for the hanging request to reach the nop server.
const NOP_WAIT: Duration = Duration::from_secs(2);
/// How many times the harness retries its own reference fetch.
const REFERENCE_TRIES: usize = 3;

/// One scored section's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SectionResult {
    /// Basic, Concurrency or Cache.
    pub section: Section,
    /// Points earned.
    pub points: u32,
    /// Points possible.
    pub max: u32,
    /// One check per comparison driver.sh makes.
    pub checks: Vec<Check>,
}

impl SectionResult {
    /// A section of one comparison worth all of `max` or nothing, as
    /// driver.sh scores Concurrency and Cache.
    fn all_or_nothing(section: Section, max: u32, check: Check) -> SectionResult {
        SectionResult {
            section,
            points: if check.passed { max } else { 0 },
            max,
            checks: vec![check],
        }
    }
}

/// The three sections, and anything that went wrong on the harness's side.
#[derive(Debug, Clone)]
pub struct Driven {
    /// Basic, Concurrency, Cache, in that order.
    pub sections: Vec<SectionResult>,
    /// The harness's own failures (an origin that would not start, a
    /// reference fetch that came back wrong): not the proxy's.
    pub harness_errors: Vec<String>,
}

/// Runs the three sections one after another, as driver.sh does.
pub fn run(proxy: &ProxySpec, tiny: TinyVersion) -> Driven {
    run_reporting(proxy, tiny, &mut |_| {})
}

/// [`run`], handing each section to `done` as soon as it is scored (so a
/// caller that may be stopped later keeps the points already earned).
pub fn run_reporting(
    proxy: &ProxySpec,
    tiny: TinyVersion,
    done: &mut dyn FnMut(&SectionResult),
) -> Driven {
    type SectionFn = fn(&ProxySpec, TinyVersion, &mut Vec<String>) -> SectionResult;
    let mut errors = Vec::new();
    let mut sections = Vec::new();
    for section in [basic, concurrency, cache] as [SectionFn; 3] {
        let result = section(proxy, tiny, &mut errors);
        done(&result);
        sections.push(result);
    }
    Driven {
        sections,
        harness_errors: errors,
    }
}

/// The bytes Tiny serves for `path`.
fn file(path: &str) -> Vec<u8> {
    lab_files()
        .into_iter()
        .find(|f| f.path == path)
        .map(|f| f.body)
        .unwrap_or_default()
}

/// A fresh Tiny and a fresh proxy, or why not (the harness's fault for
/// Tiny, the proxy's for the proxy).
fn start(
    proxy: &ProxySpec,
    version: TinyVersion,
    errors: &mut Vec<String>,
) -> Result<(Origin, Running), String> {
    let tiny = start_tiny_version(version).map_err(|e| {
        let why = format!("the harness could not start its Tiny: {e:#}");
        errors.push(why.clone());
        why
    })?;
    let running = proxy
        .start(&[])
        .map_err(|e| format!("the proxy did not start: {e:#}"))?;
    if !procfs::listening(running.addr.port()).ipv4 {
        return Err(
            "driver.sh would never see your proxy start: it listens on IPv6 only ([::]), and driver.sh waits for the port with `netstat --protocol=tcpip`, which lists IPv4 sockets only; it gives up after 10 s and prints no score. Listen on an IPv4 address (0.0.0.0), as Open_listenfd does when getaddrinfo lists IPv4 first"
                .to_string(),
        );
    }
    Ok((tiny, running))
}

/// The harness's own direct fetch of `path` (what driver.sh saves in
/// `.noproxy`), checked against the file; a wrong one is retried, then
/// reported as the harness's failure.
fn check_reference(tiny: &Origin, path: &str, errors: &mut Vec<String>) {
    let expected = file(path);
    let mut last = None;
    for _ in 0..REFERENCE_TRIES {
        let direct = curl::fetch(Route::Direct, tiny.addr.port(), path, DRIVER_TIMEOUT);
        if direct.same_file_as(&expected) {
            return;
        }
        last = Some(direct);
    }
    if let Some(direct) = last {
        errors.push(format!(
            "the harness's direct fetch of {path} came back wrong {REFERENCE_TRIES} times ({}; {} of {} bytes)",
            direct.error.as_deref().unwrap_or("no error"),
            direct.file.as_ref().map_or(0, Vec::len),
            expected.len()
        ));
    }
}

/// Fetches `path` from Tiny through the proxy as curl does.
fn through(proxy: &Running, tiny: &Origin, path: &str) -> Saved {
    curl::fetch(
        Route::Proxy(proxy.addr.port()),
        tiny.addr.port(),
        path,
        DRIVER_TIMEOUT,
    )
}

/// driver.sh's Basic.
fn basic(proxy: &ProxySpec, version: TinyVersion, errors: &mut Vec<String>) -> SectionResult {
    let section = Section::Basic;
    let checks: Vec<Check> = match start(proxy, version, errors) {
        Err(why) => LAB_OBJECTS
            .iter()
            .map(|path| not_started(section, path, &why))
            .collect(),
        Ok((tiny, mut running)) => LAB_OBJECTS
            .iter()
            .map(|path| {
                let saved = through(&running, &tiny, path);
                check_reference(&tiny, path, errors);
                compare(section, path, &saved, &file(path), &mut running)
            })
            .collect(),
    };
    // At most the five lab objects, so the counts fit a u32.
    let identical = u32::try_from(checks.iter().filter(|c| c.passed).count()).unwrap_or(u32::MAX);
    let objects = u32::try_from(LAB_OBJECTS.len()).unwrap_or(u32::MAX);
    SectionResult {
        section,
        points: BASIC_POINTS * identical / objects,
        max: BASIC_POINTS,
        checks,
    }
}

/// driver.sh's Concurrency.
fn concurrency(proxy: &ProxySpec, version: TinyVersion, errors: &mut Vec<String>) -> SectionResult {
    let section = Section::Concurrency;
    let name = "a page through the proxy while another request hangs";
    let check = match (start(proxy, version, errors), NopServer::start()) {
        (Err(why), _) => not_started(section, name, &why),
        (_, Err(e)) => {
            let why = format!("the harness could not start its nop server: {e:#}");
            errors.push(why.clone());
            not_started(section, name, &why)
        }
        (Ok((tiny, mut running)), Ok(nop)) => {
            // The hanging fetch: curl in the background, given up after 5 s.
            let (proxy_port, nop_port) = (running.addr.port(), nop.addr.port());
            std::thread::spawn(move || {
                curl::fetch(
                    Route::Proxy(proxy_port),
                    nop_port,
                    "/nop-file.txt",
                    DRIVER_TIMEOUT,
                )
            });
            let reached = nop.wait_for_a_connection(NOP_WAIT);
            check_reference(&tiny, FETCH_OBJECT, errors);
            let saved = through(&running, &tiny, FETCH_OBJECT);
            let mut check = compare(section, name, &saved, &file(FETCH_OBJECT), &mut running);
            if !check.passed && reached {
                check.hint = Some(
                    "one request that hangs on its server blocks everyone: is your proxy sequential? serve each connection in its own thread (and detach it)"
                        .into(),
                );
            }
            drop(nop);
            check
        }
    };
    SectionResult::all_or_nothing(section, CONCURRENCY_POINTS, check)
}

/// driver.sh's Cache.
fn cache(proxy: &ProxySpec, version: TinyVersion, errors: &mut Vec<String>) -> SectionResult {
    let section = Section::Cache;
    let name = format!("{FETCH_OBJECT} served by the proxy after Tiny was killed");
    let check = match start(proxy, version, errors) {
        Err(why) => not_started(section, &name, &why),
        Ok((mut tiny, mut running)) => {
            for path in CACHE_OBJECTS {
                let _ = through(&running, &tiny, path);
            }
            let port = tiny.addr.port();
            tiny.stop();
            let saved = curl::fetch(
                Route::Proxy(running.addr.port()),
                port,
                FETCH_OBJECT,
                DRIVER_TIMEOUT,
            );
            let mut check = compare(section, &name, &saved, &file(FETCH_OBJECT), &mut running);
            if !check.passed && running.is_alive() {
                check.hint = Some(
                    "the object was not served from the cache: keep each response (up to MAX_OBJECT_SIZE) keyed by its URI, and look it up before connecting to the server"
                        .into(),
                );
            }
            check
        }
    };
    SectionResult::all_or_nothing(section, CACHE_POINTS, check)
}

/// The three sections of a proxy that could not be graded at all (it did
/// not build), or the `missing` ones of a grade stopped half-way: every
/// check driver.sh would make, failed with `why`, and no points.
pub fn unscored(done: &[SectionResult], why: &str, hint: &str) -> Driven {
    let name_of_fetch = format!("{FETCH_OBJECT} served by the proxy after Tiny was killed");
    let all: [(Section, u32, Vec<String>); 3] = [
        (
            Section::Basic,
            BASIC_POINTS,
            LAB_OBJECTS
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        ),
        (
            Section::Concurrency,
            CONCURRENCY_POINTS,
            vec!["a page through the proxy while another request hangs".to_string()],
        ),
        (Section::Cache, CACHE_POINTS, vec![name_of_fetch]),
    ];
    let sections = all
        .into_iter()
        .map(|(section, max, names)| {
            done.iter()
                .find(|d| d.section == section)
                .cloned()
                .unwrap_or_else(|| SectionResult {
                    section,
                    points: 0,
                    max,
                    checks: names
                        .iter()
                        .map(|name| Check::fail(section, name, why, Some(hint)))
                        .collect(),
                })
        })
        .collect();
    Driven {
        sections,
        harness_errors: Vec::new(),
    }
}

fn not_started(section: Section, name: &str, why: &str) -> Check {
    Check::fail(
        section,
        name,
        why,
        Some("does `./proxy PORT` listen on that port and keep running?"),
    )
}

/// driver.sh's `diff -q` of what curl saved and the expected file, as a
/// check that explains a difference.
fn compare(
    section: Section,
    name: &str,
    saved: &Saved,
    expected: &[u8],
    proxy: &mut Running,
) -> Check {
    if saved.same_file_as(expected) {
        return Check::pass(section, name);
    }
    let died = proxy
        .exit_status()
        .map(|status| format!("; the proxy had exited ({})", describe_exit(status)))
        .unwrap_or_default();
    let (detail, hint) = explain(saved, expected);
    Check::fail(section, name, format!("{detail}{died}"), Some(hint))
}

/// What differs, and a hint in the lab's terms.
fn explain(saved: &Saved, expected: &[u8]) -> (String, &'static str) {
    let error = saved
        .error
        .as_deref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    let Some(got) = &saved.file else {
        let hint = if saved.raw.is_empty() {
            "nothing came back: did the proxy crash, or fail to connect to the server?"
        } else {
            "the answer did not start with an HTTP status line and headers: relay the server's response as it is"
        };
        return (
            format!(
                "expected a file of {} bytes; curl saved no file{error}; first line received: {:?}",
                expected.len(),
                saved.first_line()
            ),
            hint,
        );
    };
    let offset = crate::clients::http::first_difference(expected, got).unwrap_or(0);
    let detail = format!(
        "expected {} bytes, curl saved {} bytes, first difference at byte {offset}{error}; status line {:?}",
        expected.len(),
        got.len(),
        saved.first_line()
    );
    let hint = match saved.status {
        Some(404) => {
            "Tiny could not find the file: send the path (/home.html), not the whole URL, in the request line"
        }
        Some(status) if status != 200 => {
            "the server's answer was not 200 OK: check the request you send it"
        }
        _ if saved
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")) =>
        {
            "no complete answer within 5 s: send HTTP/1.0 with Connection: close, relay until the server closes, then close the client"
        }
        _ if got.len() < expected.len() => {
            "the body is short: binary data cut at a NUL or a line end? Use rio_readnb/rio_writen with byte counts, not string functions"
        }
        _ => "the body differs from a direct fetch: relay the bytes exactly as they come",
    };
    (detail, hint)
}
