//! Tiny, exactly: a server that answers the way CS:APP's `tiny.c` does,
//! byte for byte, for the grade's scored sections.
//!
//! Student proxies are written against Tiny. Many look for its exact
//! header spelling (`strncmp(buf, "Content-length", 14)`), so an origin
//! that says `Content-Length`, adds `Date`, answers HTTP/1.1 or keeps the
//! connection open is not the origin the course's driver grades with.
//! This module follows `tiny.c` step by step:
//!
//! - `doit`: read the request line with `rio_readlineb` semantics (at
//!   most `MAXLINE - 1` bytes a line), split it like
//!   `sscanf("%s %s %s")`; a method other than `GET` (any case) gets 501
//!   before the headers are read;
//! - `read_requesthdrs`: read lines until one is exactly `"\r\n"` (a bare
//!   `"\n"` does not end the head; at end of file `tiny.c` spins forever
//!   without answering, so the connection is held unanswered until the
//!   server stops);
//! - `parse_uri`: a URI containing `cgi-bin` is dynamic, with the
//!   arguments after `?`; otherwise the file is `"." + uri`, plus
//!   `home.html` when the URI ends in `/` (an absolute URI sent by a proxy
//!   names no file: 404, as with Tiny);
//! - `serve_static`: `HTTP/1.0 200 OK`, `Server: Tiny Web Server`,
//!   `Connection: close`, `Content-length: N`, `Content-type: T` (Tiny's
//!   `get_filetype`: html, gif, png, jpg, else `text/plain`), the blank
//!   line, the file;
//! - `serve_dynamic`: the first two of those lines, then the CGI program's
//!   output — here the lab's `adder`, computed with C `int` arithmetic;
//! - `clienterror`: the book's error page with `Content-type` and
//!   `Content-length`;
//! - then close, whatever the request asked.
//!
//! The files are a virtual directory ([`TinyFiles`]): the lab's objects
//! ([`crate::lab_files`]) and the built-in site, with `cgi-bin/adder` as
//! the only executable. One difference from `tiny.c`, on purpose: each
//! connection is served on its own thread, where Tiny is iterative. The
//! answers are the same; what changes is that one proxy connection that
//! never finishes its request cannot stop the harness's own reference
//! fetches, so a wedged origin is never mistaken for the student's fault.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use anyhow::Context;

use crate::handle::{ServerHandle, reachable};
use crate::site::{SiteFile, site};

/// `MAXLINE` of `csapp.h`: `rio_readlineb` returns at most this minus one
/// byte per call.
const MAXLINE: usize = 8192;

/// Which `tiny.c`: the handouts differ in three small ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TinyVersion {
    /// The CS:APP3e book's Tiny (SPEC §7): `serve_static` sends
    /// `Connection: close`, `clienterror` sends `Content-length`, `adder`
    /// sends no `Connection` line.
    #[default]
    #[value(name = "3e")]
    Book3e,
    /// The Proxy Lab handout's Tiny "updated 11/2019": no `Connection`
    /// line from `serve_static`, no `Content-length` from `clienterror`,
    /// and `adder` sends `Connection: close`.
    #[value(name = "2019")]
    Handout2019,
}

/// The lines `serve_static` sends before the body, in order.
#[must_use]
pub fn static_head(version: TinyVersion, len: usize, content_type: &str) -> String {
    let connection = match version {
        TinyVersion::Book3e => "Connection: close\r\n",
        TinyVersion::Handout2019 => "",
    };
    format!(
        "HTTP/1.0 200 OK\r\nServer: Tiny Web Server\r\n{connection}\
         Content-length: {len}\r\nContent-type: {content_type}\r\n\r\n"
    )
}

/// Tiny's `get_filetype`: by substring of the file name, as `strstr` does.
#[must_use]
pub fn tiny_filetype(filename: &str) -> &'static str {
    if filename.contains(".html") {
        "text/html"
    } else if filename.contains(".gif") {
        "image/gif"
    } else if filename.contains(".png") {
        "image/png"
    } else if filename.contains(".jpg") {
        "image/jpeg"
    } else {
        "text/plain"
    }
}

/// The complete answer `clienterror` sends.
#[must_use]
pub fn tiny_error(
    version: TinyVersion,
    cause: &str,
    errnum: u16,
    shortmsg: &str,
    longmsg: &str,
) -> Vec<u8> {
    let body = format!(
        "<html><title>Tiny Error</title><body bgcolor=ffffff>\r\n\
         {errnum}: {shortmsg}\r\n<p>{longmsg}: {cause}\r\n\
         <hr><em>The Tiny Web server</em>\r\n"
    );
    let length = match version {
        TinyVersion::Book3e => format!("Content-length: {}\r\n", body.len()),
        TinyVersion::Handout2019 => String::new(),
    };
    format!("HTTP/1.0 {errnum} {shortmsg}\r\nContent-type: text/html\r\n{length}\r\n{body}")
        .into_bytes()
}

/// What the lab's `cgi-bin/adder` prints for `QUERY_STRING=query`, after
/// Tiny's own first two lines. `None` where the C program crashes (no `&`
/// in the query: `strchr` returns `NULL`), so nothing more is sent.
#[must_use]
pub fn adder_output(version: TinyVersion, query: &str) -> Option<Vec<u8>> {
    let (a, b) = query.split_once('&')?;
    let (n1, n2) = (atoi(a), atoi(b));
    let content = format!(
        "Welcome to add.com: THE Internet addition portal.\r\n<p>\
         The answer is: {n1} + {n2} = {}\r\n<p>Thanks for visiting!\r\n",
        n1.wrapping_add(n2)
    );
    let connection = match version {
        TinyVersion::Book3e => "",
        TinyVersion::Handout2019 => "Connection: close\r\n",
    };
    Some(
        format!(
            "{connection}Content-length: {}\r\nContent-type: text/html\r\n\r\n{content}",
            content.len()
        )
        .into_bytes(),
    )
}

/// C's `atoi`: optional leading whitespace and sign, then digits; 0 when
/// there are none; wraps like a 32-bit `int` does in practice.
fn atoi(text: &str) -> i32 {
    let text = text.trim_start();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i32, |n, d| {
            n.wrapping_mul(10).wrapping_add(i32::from(d - b'0'))
        });
    if negative {
        value.wrapping_neg()
    } else {
        value
    }
}

/// What `stat` finds at a path of the virtual directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat<'a> {
    /// A regular, readable file (not executable).
    File(&'a SiteFile),
    /// The CGI program: regular and executable (not readable as a page).
    Program,
    /// A directory (a prefix of some file's path).
    Dir,
    /// Nothing there.
    Missing,
}

/// Tiny's directory: the files `serve_static` can send, and the CGI
/// programs `serve_dynamic` can run.
#[derive(Debug, Clone)]
pub struct TinyFiles {
    files: HashMap<String, SiteFile>,
    dirs: Vec<String>,
    /// Which `tiny.c` answers.
    pub version: TinyVersion,
}

/// The path of the only CGI program, relative to Tiny's directory.
const ADDER: &str = "cgi-bin/adder";

impl TinyFiles {
    /// The lab's objects and the built-in site.
    #[must_use]
    pub fn standard() -> TinyFiles {
        TinyFiles::from_files(crate::lab::lab_files().into_iter().chain(site()))
    }

    /// A directory holding exactly `files` (each `path` is relative to
    /// Tiny's directory, with a leading `/`).
    pub fn from_files(files: impl IntoIterator<Item = SiteFile>) -> TinyFiles {
        let mut map = HashMap::new();
        let mut dirs = vec![ADDER.rsplit_once('/').map_or("", |(d, _)| d).to_string()];
        for file in files {
            let rel = file.path.trim_start_matches('/').to_string();
            if rel.is_empty() {
                continue;
            }
            let mut parts: Vec<&str> = rel.split('/').collect();
            parts.pop();
            for i in 1..=parts.len() {
                dirs.push(parts[..i].join("/"));
            }
            map.insert(rel, file);
        }
        dirs.sort();
        dirs.dedup();
        TinyFiles {
            files: map,
            dirs,
            version: TinyVersion::default(),
        }
    }

    /// `stat(filename)` for a `filename` that starts with `.` as Tiny
    /// builds it: `//` and `/./` collapse, `..` climbs, and a trailing `/`
    /// after a file is an error (ENOTDIR), as in a real file system.
    fn stat(&self, filename: &str) -> Stat<'_> {
        let Some(rest) = filename.strip_prefix('.') else {
            return Stat::Missing;
        };
        if !rest.is_empty() && !rest.starts_with('/') {
            // "." followed by a name (".x") is a sibling of Tiny's directory.
            return Stat::Missing;
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in rest.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Stat::Missing;
                    }
                }
                name => parts.push(name),
            }
        }
        let rel = parts.join("/");
        if rel.is_empty() || self.dirs.contains(&rel) {
            return Stat::Dir;
        }
        let is_file = rel == ADDER || self.files.contains_key(&rel);
        if is_file && rest.ends_with('/') {
            return Stat::Missing;
        }
        if rel == ADDER {
            return Stat::Program;
        }
        self.files.get(&rel).map_or(Stat::Missing, Stat::File)
    }
}

/// `rio_readlineb` over a connection: buffered, at most `MAXLINE - 1`
/// bytes a line, the line ends after `\n`; `None` at end of file with
/// nothing read.
struct Rio {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Rio {
    fn new(stream: TcpStream) -> Rio {
        Rio {
            stream,
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn readlineb(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        while line.len() < MAXLINE - 1 {
            if self.pos == self.buf.len() {
                self.buf.resize(8192, 0);
                let n = loop {
                    match self.stream.read(&mut self.buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        other => break other?,
                    }
                };
                self.buf.truncate(n);
                self.pos = 0;
                if n == 0 {
                    return Ok((!line.is_empty()).then_some(line));
                }
            }
            let byte = self.buf[self.pos];
            self.pos += 1;
            line.push(byte);
            if byte == b'\n' {
                break;
            }
        }
        Ok(Some(line))
    }
}

/// `sscanf(buf, "%s %s %s", method, uri, version)`: up to three words
/// separated by white space; missing ones are empty.
fn three_words(line: &[u8]) -> [String; 3] {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_ascii_whitespace().map(str::to_string);
    [
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    ]
}

/// How a connection ended, for the log.
#[derive(Debug, PartialEq, Eq)]
enum Served {
    /// Closed with nothing read.
    Nothing,
    /// Answered with this status.
    Status(u16),
    /// The head never ended: held unanswered, like `tiny.c` spinning.
    Held,
}

/// Tiny's `doit`: one request, one answer, on `stream`.
fn doit(stream: TcpStream, files: &TinyFiles, stopping: &Stopping) -> io::Result<Served> {
    let version = files.version;
    let mut out = stream.try_clone()?;
    let mut rio = Rio::new(stream);
    let Some(line) = rio.readlineb()? else {
        return Ok(Served::Nothing);
    };
    let [method, uri, _version] = three_words(&line);
    if !method.eq_ignore_ascii_case("GET") {
        out.write_all(&tiny_error(
            version,
            &method,
            501,
            "Not Implemented",
            "Tiny does not implement this method",
        ))?;
        return Ok(Served::Status(501));
    }
    // read_requesthdrs
    loop {
        match rio.readlineb()? {
            Some(line) if line == b"\r\n" => break,
            Some(_) => {}
            None => {
                stopping.wait();
                return Ok(Served::Held);
            }
        }
    }
    // parse_uri
    let (is_static, filename, cgiargs) = if uri.contains("cgi-bin") {
        let (path, args) = uri.split_once('?').unwrap_or((&uri, ""));
        (false, format!(".{path}"), args.to_string())
    } else {
        let mut filename = format!(".{uri}");
        if uri.ends_with('/') {
            filename.push_str("home.html");
        }
        (true, filename, String::new())
    };
    // clienterror, with this request's file as the cause.
    let mut clienterror = |errnum: u16, shortmsg: &str, longmsg: &str| {
        out.write_all(&tiny_error(version, &filename, errnum, shortmsg, longmsg))
            .map(|()| Served::Status(errnum))
    };
    match (is_static, files.stat(&filename)) {
        (_, Stat::Missing) => clienterror(404, "Not found", "Tiny couldn't find this file"),
        (true, Stat::File(file)) => {
            let head = static_head(version, file.body.len(), tiny_filetype(&filename));
            out.write_all(head.as_bytes())?;
            out.write_all(&file.body)?;
            Ok(Served::Status(200))
        }
        (true, _) => clienterror(403, "Forbidden", "Tiny couldn't read the file"),
        (false, Stat::Program) => {
            out.write_all(b"HTTP/1.0 200 OK\r\nServer: Tiny Web Server\r\n")?;
            if let Some(output) = adder_output(version, &cgiargs) {
                out.write_all(&output)?;
            }
            Ok(Served::Status(200))
        }
        (false, _) => clienterror(403, "Forbidden", "Tiny couldn't run the CGI program"),
    }
}

/// The server's stop flag, which held connections wait on.
#[derive(Debug, Default)]
struct Stopping {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Stopping {
    fn stop(&self) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
        }
        self.changed.notify_all();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.lock().map_or(true, |s| *s)
    }

    /// Blocks until the server stops.
    fn wait(&self) {
        let Ok(mut stopped) = self.stopped.lock() else {
            return;
        };
        while !*stopped {
            match self.changed.wait(stopped) {
                Ok(guard) => stopped = guard,
                Err(_) => return,
            }
        }
    }
}

/// The connections being served, so stopping can cut them off.
#[derive(Debug, Default)]
struct Live {
    next: AtomicU64,
    streams: Mutex<HashMap<u64, TcpStream>>,
}

impl Live {
    fn add(&self, stream: &TcpStream) -> Option<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let clone = stream.try_clone().ok()?;
        self.streams.lock().ok()?.insert(id, clone);
        Some(id)
    }

    fn remove(&self, id: Option<u64>) {
        if let (Some(id), Ok(mut streams)) = (id, self.streams.lock()) {
            streams.remove(&id);
        }
    }

    fn cut_all(&self) {
        if let Ok(mut streams) = self.streams.lock() {
            for (_, stream) in streams.drain() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Starts Tiny on `bind` (port 0 picks a free one) serving `files`, on a
/// thread of its own and a thread per connection.
///
/// # Errors
///
/// Binding fails, or no thread can be started.
pub fn start_tiny(bind: SocketAddr, files: TinyFiles) -> anyhow::Result<ServerHandle> {
    let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let files = Arc::new(files);
    let stopping = Arc::new(Stopping::default());
    let live = Arc::new(Live::default());
    let accepting = Arc::new(AtomicBool::new(true));
    let serving = {
        let (stopping, live, accepting) = (
            Arc::clone(&stopping),
            Arc::clone(&live),
            Arc::clone(&accepting),
        );
        thread::Builder::new()
            .name("tiny-accept".into())
            .spawn(move || accept_loop(&listener, &files, &stopping, &live, &accepting))
            .context("spawning Tiny's accept thread")?
    };
    let stopper = move || {
        accepting.store(false, Ordering::SeqCst);
        stopping.stop();
        // Wake the accept loop; it sees the flag and drops the listener.
        let _ = TcpStream::connect(reachable(addr));
        live.cut_all();
    };
    Ok(ServerHandle::new(addr, stopper, serving))
}

/// Tiny's `main` loop, one thread per connection.
fn accept_loop(
    listener: &TcpListener,
    files: &Arc<TinyFiles>,
    stopping: &Arc<Stopping>,
    live: &Arc<Live>,
    accepting: &AtomicBool,
) -> anyhow::Result<()> {
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(conn) => conn,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if !accepting.load(Ordering::SeqCst) => return Ok(()),
            Err(e) => return Err(e).context("accepting connections"),
        };
        if !accepting.load(Ordering::SeqCst) || stopping.is_stopped() {
            return Ok(());
        }
        let id = live.add(&stream);
        let (files, stopping, live) = (Arc::clone(files), Arc::clone(stopping), Arc::clone(live));
        let spawned = thread::Builder::new()
            .name("tiny-conn".into())
            .spawn(move || {
                let served = doit(stream, &files, &stopping);
                tracing::debug!("tiny: {peer}: {served:?}");
                // Close(connfd): the stream and its clone drop here.
                live.remove(id);
            });
        if let Err(e) = spawned {
            tracing::warn!("tiny: cannot spawn a connection thread: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_is_c_s() {
        assert_eq!(atoi("15213"), 15213);
        assert_eq!(atoi("  -7x"), -7);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("+3"), 3);
        assert_eq!(atoi("2147483648"), i32::MIN);
    }

    #[test]
    fn adder_prints_what_the_lab_s_adder_prints() {
        let out = adder_output(TinyVersion::Handout2019, "15213&18213").expect("two numbers");
        let text = String::from_utf8(out).expect("text");
        assert!(text.starts_with("Connection: close\r\nContent-length: "));
        let out = adder_output(TinyVersion::Book3e, "1&2").expect("two numbers");
        assert!(out.starts_with(b"Content-length: "));
        assert!(text.ends_with(
            "\r\n\r\nWelcome to add.com: THE Internet addition portal.\r\n<p>The answer is: 15213 + 18213 = 33426\r\n<p>Thanks for visiting!\r\n"
        ));
        assert_eq!(
            adder_output(TinyVersion::Book3e, "15213"),
            None,
            "the C adder crashes without '&'"
        );
    }

    #[test]
    fn stat_behaves_like_a_file_system() {
        let files = TinyFiles::standard();
        assert!(matches!(files.stat("./home.html"), Stat::File(_)));
        assert!(matches!(files.stat(".//home.html"), Stat::File(_)));
        assert!(matches!(files.stat("./images/../home.html"), Stat::File(_)));
        assert_eq!(files.stat("./home.html/"), Stat::Missing);
        assert_eq!(files.stat("./images"), Stat::Dir);
        assert_eq!(files.stat("./"), Stat::Dir);
        assert_eq!(files.stat("./cgi-bin/adder"), Stat::Program);
        assert_eq!(files.stat("./../home.html"), Stat::Missing);
        assert_eq!(files.stat("./home.html?x=1"), Stat::Missing);
        assert_eq!(files.stat("http://localhost:1/home.html"), Stat::Missing);
        assert_eq!(files.stat(".http://localhost:1/home.html"), Stat::Missing);
    }

    #[test]
    fn filetypes_are_tiny_s() {
        assert_eq!(tiny_filetype("./home.html"), "text/html");
        assert_eq!(tiny_filetype("./images/photo.jpg"), "image/jpeg");
        assert_eq!(tiny_filetype("./src/rio.c"), "text/plain");
        assert_eq!(tiny_filetype("./bin/echoserver"), "text/plain");
        assert_eq!(tiny_filetype("./big.bin"), "text/plain");
    }
}
