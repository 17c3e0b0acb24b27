//! # tiny-origin
//!
//! A Tiny-like origin web server for testing, benchmarking and demonstrating
//! the Proxy Lab proxies of this workspace.
//!
//! CS:APP's Proxy Lab ships `tiny.c`, a minimal iterative HTTP/1.0 server:
//! `doit` reads a request, `serve_static` sends a file with `Content-type` and
//! `Content-length`, `serve_dynamic` runs a CGI program such as `adder`, and
//! `clienterror` sends a small HTML error page. tiny-origin plays the same
//! role, rewritten in Rust on top of the [`tiny_http`] crate, with everything
//! it serves generated in code (no course files are copied):
//!
//! * **Static** ([`STATIC_PATHS`], [`site()`]): `/` and `/home.html`,
//!   `/notes.txt`, `/style.css`, `/images/logo.gif` (a hand-assembled GIF) and
//!   `/big.bin` (300 000 bytes containing every byte value, `NUL`s and
//!   `\r\n\r\n`). With `--root DIR`, files under `DIR` are served too and take
//!   precedence over the built-in site (`..` and symbolic links out of `DIR`
//!   are refused with 403). This is `serve_static`.
//! * **Dynamic** (`serve_dynamic`): `/cgi-bin/adder?A&B` (the lab's adder),
//!   `/echo` (the request head as received), `/bytes/N` ([`byte_at`]
//!   pattern, streamed, up to 1 GiB), `/slow/N[?chunk=C&ms=M]` (same bytes,
//!   dripped), `/status/CODE`, `/stall` (never answers),
//!   `/hold/KEY` + `/release/KEY` (a rendezvous for race-free tests), and
//!   `/respond?status=CODE&header=Name:Value&short=N` (an answer shaped
//!   for cache tests: any status and headers, a body shorter than its
//!   `Content-Length`, `304` to a conditional and `206` to a `Range`
//!   request; the body `respond #K` counts the answers, so a test can tell
//!   an origin answer from a cached one).
//! * **Errors** (`clienterror`): unknown paths get 404, bad arguments 400,
//!   methods other than GET and HEAD (except on `/echo`) 501, each with a
//!   small HTML page.
//!
//! * **HTTPS** (`--tls`): the same site behind a TLS terminator, with a
//!   self-signed certificate generated at start ([`TlsCertificate`],
//!   [`ServerHandle::certificate`]; `--tls-cert FILE` writes it out for
//!   `curl --cacert`), so the proxies' `CONNECT` tunnels can be checked
//!   byte for byte against a direct `https://` fetch.
//!
//! Unlike Tiny, every request runs on its own thread, so `/stall` and `/hold`
//! never hold up other requests.
//!
//! ## Tiny, exactly (`--tiny`)
//!
//! With `--tiny` (in-process: [`start_tiny`]) the server answers as
//! `tiny.c` does, byte for byte — `HTTP/1.0 200 OK`, `Server: Tiny Web
//! Server`, `Connection: close`, `Content-length`, `Content-type`, no
//! `Date`, then close — from the lab's objects ([`LAB_OBJECTS`]: the kinds
//! and sizes of files the course's driver.sh fetches) and the built-in
//! site, with `cgi-bin/adder`; the test endpoints below are off. The
//! harness grades the 70 points against this server; see [`tiny`].
//!
//! ## HTTP behaviour inherited from `tiny_http` 0.12
//!
//! * Every response carries `Content-Length` (tiny-origin disables `tiny_http`'s
//!   switch to chunked encoding for HTTP/1.1 bodies of 32 KiB or more); the
//!   only exception is an HTTP/1.1 client that itself sends `TE: chunked`.
//! * The status line repeats the request's version: an HTTP/1.0 request gets
//!   `HTTP/1.0 200 OK`, an HTTP/1.1 one `HTTP/1.1 200 OK`.
//! * `tiny_http` adds `Date` and `Server` headers (tiny-origin sets `Server:
//!   tiny-origin`); it never sends a `Connection` header, but it closes the
//!   connection after answering an HTTP/1.0 request (unless it said
//!   `Connection: keep-alive`) or one with `Connection: close`.
//! * Responses to HEAD carry the would-be `Content-Length` and no body.
//! * `/echo` rebuilds the head from `tiny_http`'s parsed request: order, name
//!   case and duplicate headers are kept and nothing is added or removed, but
//!   whitespace around each value is trimmed (`Name:  v ` comes back as
//!   `Name: v`). `tiny_http` itself answers 400 to a malformed request line or
//!   header (including obsolete line folding), 417 to an `Expect` other than
//!   `100-continue`, 505 to HTTP/2.0 or 3.0, and silently closes the
//!   connection on a non-ASCII head; none of those reach tiny-origin.
//! * `/stall` takes `tiny_http`'s raw writer and drops it unused: the peer sees
//!   the connection close with no byte sent. That close happens only for
//!   connections `tiny_http` will not reuse (HTTP/1.0 or `Connection: close`,
//!   as Proxy Lab proxies send); on a kept-alive HTTP/1.1 connection
//!   `tiny_http` keeps waiting for a next request.
//! * `/slow/N` is likewise written by hand on the raw writer (`tiny_http`
//!   buffers its output), so its head has `Server`, `Content-Type` and
//!   `Content-Length` but no `Date`.
//!
//! ## Use
//!
//! The binary (`tiny-origin [PORT] [--bind ADDR] ...`, see [`Config`]) prints
//! `listening on ADDR:PORT` as its first stdout line, then serves forever.
//! In-process, [`start`] binds and serves on a background thread and returns
//! the bound address.

#![warn(missing_docs)]

mod handle;
mod hold;
mod lab;
mod pattern;
mod server;
mod site;
pub mod tiny;
mod tls;

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use anyhow::{Context, anyhow};
use clap::Parser;
use tracing::{error, warn};

pub use handle::ServerHandle;
pub use hold::HoldRegistry;
pub use lab::{
    CACHE_OBJECTS, ECHO_C_LEN, EXECUTABLE_LEN, FETCH_OBJECT, LAB_OBJECTS, RIO_C_LEN, lab_files,
    sample_executable, sample_source,
};
pub use pattern::{MAX_PATTERN_LEN, PatternReader, byte_at, pattern_bytes};
pub use server::{SERVER_NAME, SLOW_DEFAULT_CHUNK, SLOW_DEFAULT_MS, content_type_for};
pub use site::{
    BIG_BIN_LEN, NOTES_TXT, STATIC_PATHS, STYLE_CSS, SiteFile, adder_body, big_bin, error_page,
    home_html, html_escape, logo_gif, site, site_file,
};
pub use tiny::{TinyFiles, TinyVersion, start_tiny};
pub use tls::TlsCertificate;

/// Port used when neither `PORT` nor `--port` is given.
pub const DEFAULT_PORT: u16 = 8000;
/// Default `--hold-secs`.
pub const DEFAULT_HOLD_SECS: u64 = 30;
/// Default `--stall-secs`.
pub const DEFAULT_STALL_SECS: u64 = 120;

/// Command-line options of the `tiny-origin` binary, also the configuration
/// for [`start`] and [`run`].
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "tiny-origin",
    version,
    about = "A Tiny-like origin web server for testing Proxy Lab proxies",
    long_about = "A Tiny-like origin web server (after CS:APP's tiny.c) for testing, \
benchmarking and demonstrating Proxy Lab proxies.\n\n\
The first line on stdout is `listening on ADDR:PORT` (with the real port); \
request logs go to stderr (RUST_LOG sets the level, default info).\n\n\
Endpoints: / and /home.html, /notes.txt, /style.css, /images/logo.gif, /big.bin \
(static); /cgi-bin/adder?A&B; /echo (request head as received); /bytes/N \
(N pattern bytes, N <= 1 GiB); /slow/N[?chunk=C&ms=M] (the same bytes, C-byte \
chunks M ms apart, default 1024 and 20); /status/CODE (200..=599); /stall \
(never answers, closes after --stall-secs); /hold/KEY (answers once \
/release/KEY was requested, 504 after --hold-secs); /release/KEY (sticky); \
/respond?status=CODE&header=Name:Value&short=N (for cache tests: any status and \
headers, a short body, 304 to If-None-Match/If-Modified-Since, 206 to Range; \
the body `respond #K` counts answers).\n\n\
With --tls the same endpoints are served over HTTPS with a self-signed \
certificate generated at start (--tls-cert FILE writes it out)."
)]
pub struct Config {
    /// Port to listen on, like `./tiny 8000` (0 picks a free port; default 8000).
    #[arg(value_name = "PORT")]
    pub port: Option<u16>,

    /// Port to listen on (same as the positional PORT).
    #[arg(long = "port", value_name = "PORT", conflicts_with = "port")]
    pub port_flag: Option<u16>,

    /// Address to bind, IPv4 or IPv6 (e.g. `::1`).
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,

    /// Also serve static files from DIR; they take precedence over the
    /// built-in site (paths with `..` or leaving DIR are refused).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// How long /hold/KEY waits for /release/KEY before answering 504.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HOLD_SECS)]
    pub hold_secs: u64,

    /// How long /stall keeps the connection open before closing it unanswered.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_STALL_SECS)]
    pub stall_secs: u64,

    /// Answer exactly as CS:APP's tiny.c does (HTTP/1.0, Tiny's header
    /// names and order, close) from the lab's objects and the built-in
    /// site; the test endpoints are off. VERSION: 3e (the book's, the
    /// default) or 2019 (the Proxy Lab handout's "updated 11/2019").
    #[arg(long, value_name = "VERSION", num_args = 0..=1, default_missing_value = "3e")]
    pub tiny: Option<TinyVersion>,

    /// Serve HTTPS instead of HTTP, with a self-signed certificate for
    /// localhost, 127.0.0.1 and `::1` generated at start (for CONNECT
    /// tunnels through a proxy; `curl --cacert FILE` or `-k`).
    #[arg(long, conflicts_with = "tiny")]
    pub tls: bool,

    /// With --tls, write the generated certificate (PEM) to FILE.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_cert: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: None,
            port_flag: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            root: None,
            hold_secs: DEFAULT_HOLD_SECS,
            stall_secs: DEFAULT_STALL_SECS,
            tiny: None,
            tls: false,
            tls_cert: None,
        }
    }
}

impl Config {
    /// Defaults, listening on `port` (0 picks a free port) of 127.0.0.1.
    #[must_use]
    pub fn with_port(port: u16) -> Self {
        Self {
            port: Some(port),
            ..Self::default()
        }
    }

    /// The port to bind: `PORT`, else `--port`, else [`DEFAULT_PORT`].
    #[must_use]
    pub fn effective_port(&self) -> u16 {
        self.port.or(self.port_flag).unwrap_or(DEFAULT_PORT)
    }

    /// The address to bind: `--bind` and [`Config::effective_port`].
    #[must_use]
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.effective_port())
    }
}

/// Binds the listening socket and serves on a background thread: Tiny
/// exactly with `--tiny` ([`start_tiny`]), otherwise the full test server
/// with a thread per request.
///
/// Returns a handle with the bound address (the real port when port 0 was
/// asked for); dropping it stops the server.
///
/// # Errors
///
/// Binding fails, or `--root` is not an existing directory.
pub fn start(config: &Config) -> anyhow::Result<ServerHandle> {
    if config.tls {
        // The site on a private loopback port, TLS in front of it.
        let loopback: IpAddr = if config.bind.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            Ipv4Addr::LOCALHOST.into()
        };
        let plain = start(&Config {
            port: Some(0),
            port_flag: None,
            bind: loopback,
            tls: false,
            tls_cert: None,
            ..config.clone()
        })?;
        return tls::start(config.socket_addr(), plain, config.tls_cert.as_deref());
    }
    if let Some(version) = config.tiny {
        let mut files = TinyFiles::standard();
        files.version = version;
        return start_tiny(config.socket_addr(), files);
    }
    let root = match &config.root {
        Some(dir) => {
            let canon = dir
                .canonicalize()
                .with_context(|| format!("--root {}", dir.display()))?;
            if !canon.is_dir() {
                return Err(anyhow!("--root {} is not a directory", dir.display()));
            }
            Some(canon)
        }
        None => None,
    };
    let wanted = config.socket_addr();
    let listener = TcpListener::bind(wanted).with_context(|| format!("binding {wanted}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| anyhow!("starting tiny_http on {addr}: {e}"))?;
    let server = Arc::new(server);
    let shared = Arc::new(server::Shared::new(config, root));
    let stopping = Arc::new(AtomicBool::new(false));
    let serving = {
        let (server, stopping) = (Arc::clone(&server), Arc::clone(&stopping));
        thread::Builder::new()
            .name("tiny-origin-serve".to_owned())
            .spawn(move || serve(&server, &shared, &stopping))
            .context("spawning the serving thread")?
    };
    // Stopping wakes the serving loop; when it and this closure have let
    // go of the server, tiny_http closes the listening socket.
    let stopper = move || {
        stopping.store(true, Ordering::SeqCst);
        server.unblock();
    };
    Ok(ServerHandle::new(addr, stopper, serving))
}

/// Hands every request to a fresh thread, until the server is stopped.
fn serve(
    server: &Arc<tiny_http::Server>,
    shared: &Arc<server::Shared>,
    stopping: &AtomicBool,
) -> anyhow::Result<()> {
    loop {
        let rq = match server.recv() {
            Ok(rq) => rq,
            Err(_) if stopping.load(Ordering::SeqCst) => return Ok(()),
            Err(e) => return Err(e).context("accepting connections"),
        };
        let shared = Arc::clone(shared);
        // If the thread cannot be spawned, the request is dropped and
        // tiny_http answers it with 500.
        if let Err(e) = thread::Builder::new()
            .name("tiny-origin-req".to_owned())
            .spawn(move || server::handle(rq, &shared))
        {
            warn!("cannot spawn a request thread: {e}");
        }
    }
}

/// The binary's body: [`start`], print `listening on ADDR:PORT` as the first
/// stdout line (flushed at once; IPv6 as `[::1]:PORT`), then serve forever.
///
/// # Errors
///
/// [`start`] fails, stdout cannot be written, or serving stops.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let server = start(config)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.addr()).context("writing to stdout")?;
        out.flush().context("flushing stdout")?;
    }
    let result = server.wait();
    if let Err(e) = &result {
        error!("serving stopped: {e:#}");
    }
    result
}

/// Sends `tracing` output to stderr, at the level `RUST_LOG` says (default
/// `info`: one line per request with method, URL and status). Does nothing if
/// a subscriber is already installed.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Config::command().debug_assert();
    }

    #[test]
    fn ports() {
        assert_eq!(Config::default().effective_port(), DEFAULT_PORT);
        let c = Config::try_parse_from(["tiny-origin", "8123"]).expect("parse");
        assert_eq!(c.effective_port(), 8123);
        let c =
            Config::try_parse_from(["tiny-origin", "--port", "0", "--bind", "::1"]).expect("parse");
        assert_eq!(c.socket_addr().to_string(), "[::1]:0");
        assert_eq!(c.hold_secs, DEFAULT_HOLD_SECS);
        assert_eq!(c.stall_secs, DEFAULT_STALL_SECS);
    }
}
