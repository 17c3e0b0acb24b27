//! Request routing and the handlers (Tiny's `doit`, `serve_static`,
//! `serve_dynamic` and `clienterror`, on top of `tiny_http`).

use std::fs::File;
use std::io::{self, Cursor, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tiny_http::{HTTPVersion, Header, Method, Request, Response, StatusCode};
use tracing::{debug, info, warn};

use crate::Config;

mod respond;
mod timed;

use crate::hold::HoldRegistry;
use crate::pattern::{MAX_PATTERN_LEN, PatternReader};
use crate::site::{self, SiteFile};
use respond::{respond, respond_params};
use timed::{slow, slow_params, stall};

/// Value of the `Server` header on every response.
pub const SERVER_NAME: &str = "tiny-origin";

/// Default `/slow/N` chunk size in bytes.
pub const SLOW_DEFAULT_CHUNK: usize = 1024;
/// Default `/slow/N` pause between chunks in milliseconds.
pub const SLOW_DEFAULT_MS: u64 = 20;
/// Largest `chunk=` accepted by `/slow/N`.
const SLOW_MAX_CHUNK: usize = 1 << 20;
/// Largest `ms=` accepted by `/slow/N`.
const SLOW_MAX_MS: u64 = 60_000;

/// Everything the request threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `--hold-secs`.
    pub hold: Duration,
    /// `--stall-secs`.
    pub stall: Duration,
    /// Canonical `--root` directory, if any.
    pub root: Option<PathBuf>,
    /// The built-in site, generated once.
    pub site: Vec<SiteFile>,
    /// `/hold` and `/release` state.
    pub holds: HoldRegistry,
    /// How many `/respond` answers were made: each body carries its number,
    /// so a test sees whether an answer came from the origin or a cache.
    pub responds: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: &Config, root: Option<PathBuf>) -> Self {
        Self {
            hold: Duration::from_secs(config.hold_secs),
            stall: Duration::from_secs(config.stall_secs),
            root,
            site: site::site(),
            holds: HoldRegistry::new(),
            responds: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

type Body = Box<dyn Read + Send>;

/// A header built from known-good ASCII; `None` (header skipped) otherwise.
fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// A response with a known length, `Content-Type` and `Server` headers.
///
/// The chunked threshold is raised to the maximum so that `tiny_http` always
/// sends `Content-Length` (it would otherwise switch HTTP/1.1 responses of
/// 32 KiB or more to chunked encoding).
fn response(status: u16, content_type: &str, body: Body, len: usize) -> Response<Body> {
    let mut resp = Response::new(StatusCode(status), Vec::new(), body, Some(len), None)
        .with_chunked_threshold(usize::MAX);
    if let Some(h) = header("Content-Type", content_type) {
        resp.add_header(h);
    }
    if let Some(h) = header("Server", SERVER_NAME) {
        resp.add_header(h);
    }
    resp
}

/// A response whose body is held in memory.
fn bytes_response(status: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let len = body.len();
    response(status, content_type, Box::new(Cursor::new(body)), len)
}

/// A `text/plain` response.
fn text(status: u16, body: String) -> Response<Body> {
    bytes_response(status, "text/plain", body.into_bytes())
}

/// Tiny's `clienterror`: an HTML error page.
fn client_error(status: u16, short_msg: &str, long_msg: &str, cause: &str) -> Response<Body> {
    let page = site::error_page(status, short_msg, long_msg, cause);
    bytes_response(status, "text/html", page.into_bytes())
}

fn bad_request(what: &str, cause: &str) -> Response<Body> {
    client_error(400, "Bad request", what, cause)
}

/// What a handler did with the request.
enum Outcome {
    /// Send this response through `tiny_http`.
    Respond(Response<Body>),
    /// The handler wrote (or deliberately did not write) the answer itself;
    /// the text is logged in place of a status.
    Done(String),
}

/// Handles one request on the current thread, logging one line for it.
pub(crate) fn handle(rq: Request, shared: &Arc<Shared>) {
    let method = rq.method().clone();
    let url = rq.url().to_owned();
    let outcome = route(rq, shared, &method, &url);
    match outcome {
        (Outcome::Respond(resp), rq) => {
            let status = resp.status_code().0;
            match rq.respond(resp) {
                Ok(()) => info!("{method} {url} {status}"),
                Err(e) => warn!("{method} {url} {status} (send failed: {e})"),
            }
        }
        (Outcome::Done(status), _) => info!("{method} {url} {status}"),
    }
}

/// A request that was not consumed by its handler.
enum Pending {
    Request(Request),
    Consumed,
}

impl Pending {
    fn respond(self, resp: Response<Body>) -> io::Result<()> {
        match self {
            Pending::Request(rq) => rq.respond(resp),
            Pending::Consumed => Ok(()),
        }
    }
}

fn route(rq: Request, shared: &Arc<Shared>, method: &Method, url: &str) -> (Outcome, Pending) {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };

    if path == "/echo" {
        let body = echo_body(&rq);
        return (
            Outcome::Respond(bytes_response(200, "text/plain", body.into_bytes())),
            Pending::Request(rq),
        );
    }
    if *method != Method::Get && *method != Method::Head {
        let resp = client_error(
            501,
            "Not implemented",
            "tiny-origin does not implement this method",
            method.as_str(),
        );
        return (Outcome::Respond(resp), Pending::Request(rq));
    }

    if path == "/stall" {
        return (Outcome::Done(stall(rq, shared)), Pending::Consumed);
    }
    if path == "/respond" {
        return match respond_params(query) {
            Ok(params) => (
                Outcome::Done(respond(rq, &params, shared)),
                Pending::Consumed,
            ),
            Err(resp) => (Outcome::Respond(resp), Pending::Request(rq)),
        };
    }
    if let Some(spec) = path.strip_prefix("/slow/") {
        return match slow_params(spec, query) {
            Ok(params) => (Outcome::Done(slow(rq, params)), Pending::Consumed),
            Err(resp) => (Outcome::Respond(resp), Pending::Request(rq)),
        };
    }

    let resp = if path == "/cgi-bin/adder" {
        adder(query.unwrap_or(""))
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        bytes(n)
    } else if let Some(code) = path.strip_prefix("/status/") {
        status(code)
    } else if let Some(key) = path.strip_prefix("/hold/").filter(|k| !k.is_empty()) {
        if shared.holds.hold(key, shared.hold) {
            text(200, format!("released {key}\n"))
        } else {
            text(504, format!("hold timed out {key}\n"))
        }
    } else if let Some(key) = path.strip_prefix("/release/").filter(|k| !k.is_empty()) {
        let waiting = shared.holds.release(key);
        text(200, format!("release {key}: {waiting} waiting\n"))
    } else {
        serve_static(shared, path)
    };
    (Outcome::Respond(resp), Pending::Request(rq))
}

/// The request head as `tiny_http` parsed it: request line, then every header
/// in received order with its original name case, then a blank line.
///
/// `tiny_http` keeps duplicates and the order, but trims whitespace around
/// values (so `Name:value` comes back as `Name: value`).
fn echo_body(rq: &Request) -> String {
    let mut out = format!(
        "{} {} HTTP/{}\r\n",
        rq.method(),
        rq.url(),
        rq.http_version()
    );
    for h in rq.headers() {
        out.push_str(h.field.as_str().as_str());
        out.push_str(": ");
        out.push_str(h.value.as_str());
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out
}

/// Tiny's `serve_static`: `--root` files first, then the built-in site.
fn serve_static(shared: &Shared, path: &str) -> Response<Body> {
    if let Some(root) = &shared.root {
        match root_file(root, path) {
            Ok(Some(resp)) => return resp,
            Ok(None) => {}
            Err(()) => {
                return client_error(403, "Forbidden", "tiny-origin won't serve this path", path);
            }
        }
    }
    match shared.site.iter().find(|f| f.path == path) {
        Some(f) => bytes_response(200, f.content_type, f.body.clone()),
        None => client_error(
            404,
            "Not found",
            "tiny-origin couldn't find this file",
            path,
        ),
    }
}

/// Content type by file name extension, like Tiny's `get_filetype`.
#[must_use]
pub fn content_type_for(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html",
        Some("txt") => "text/plain",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("gif") => "image/gif",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        Some("mpg" | "mpeg") => "video/mpeg",
        _ => "application/octet-stream",
    }
}

/// Looks `path` up under `root`. `Ok(None)`: no such regular file.
/// `Err(())`: the path tries to leave `root` (`..`, backslashes, NUL, or a
/// symbolic link pointing outside).
fn root_file(root: &Path, path: &str) -> Result<Option<Response<Body>>, ()> {
    if path.contains(['\\', '\0']) || path.split('/').any(|seg| seg == "..") {
        return Err(());
    }
    let mut rel = path.trim_start_matches('/').to_owned();
    if rel.is_empty() || rel.ends_with('/') {
        rel.push_str("home.html");
    }
    let rel = Path::new(&rel);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(());
    }
    let Ok(full) = root.join(rel).canonicalize() else {
        return Ok(None);
    };
    if !full.starts_with(root) {
        return Err(());
    }
    let Ok(file) = File::open(&full) else {
        return Ok(None);
    };
    let Ok(meta) = file.metadata() else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Ok(None);
    }
    let Ok(len) = usize::try_from(meta.len()) else {
        return Err(());
    };
    let body: Body = Box::new(file.take(meta.len()));
    Ok(Some(response(200, content_type_for(&full), body, len)))
}

/// Tiny's `serve_dynamic` for the lab's `adder`: `A&B` (or `x=A&y=B`).
fn adder(query: &str) -> Response<Body> {
    fn arg(part: Option<&str>) -> Option<i64> {
        let part = part?;
        let value = part.rsplit_once('=').map_or(part, |(_, v)| v);
        value.trim().parse().ok()
    }
    let mut parts = query.splitn(2, '&');
    match (arg(parts.next()), arg(parts.next())) {
        (Some(a), Some(b)) => bytes_response(200, "text/html", site::adder_body(a, b).into_bytes()),
        _ => bad_request("adder needs two integers, as in /cgi-bin/adder?1&2", query),
    }
}

/// `/bytes/N`: the pattern, streamed.
fn bytes(n: &str) -> Response<Body> {
    let Some(len) = n.parse::<u64>().ok().filter(|n| *n <= MAX_PATTERN_LEN) else {
        return bad_request("/bytes/N needs 0 <= N <= 1073741824", n);
    };
    let Ok(size) = usize::try_from(len) else {
        return bad_request("length does not fit this machine", n);
    };
    response(
        200,
        "application/octet-stream",
        Box::new(PatternReader::new(len)),
        size,
    )
}

/// `/status/CODE`.
fn status(code: &str) -> Response<Body> {
    match code.parse::<u16>() {
        Ok(c @ 200..=599) => {
            // 204 and 304 must not carry a body; tiny_http would announce
            // the length yet send nothing, so send an empty one.
            let body = if c == 204 || c == 304 {
                String::new()
            } else {
                format!("status {c}\n")
            };
            text(c, body)
        }
        _ => bad_request("/status/CODE needs 200 <= CODE <= 599", code),
    }
}
