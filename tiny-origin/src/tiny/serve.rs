//! Tiny's `main` and `doit`: the accept loop (a thread per connection),
//! reading the request the way `rio_readlineb` and `read_requesthdrs` do,
//! and sending what [`super`]'s answers say, then closing.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use anyhow::Context;

use super::{
    HashMap, MAXLINE, Stat, TinyFiles, adder_output, static_head, tiny_error, tiny_filetype,
};
use crate::handle::{ServerHandle, reachable};

/// `rio_readlineb` over a connection: buffered, at most `MAXLINE - 1`
/// bytes a line, the line ends after `\n`; `None` at end of file with
/// nothing read.
pub(super) struct Rio {
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
pub(super) fn three_words(line: &[u8]) -> [String; 3] {
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
pub(super) enum Served {
    /// Closed with nothing read.
    Nothing,
    /// Answered with this status.
    Status(u16),
    /// The head never ended: held unanswered, like `tiny.c` spinning.
    Held,
}

/// Tiny's `doit`: one request, one answer, on `stream`.
pub(super) fn doit(
    stream: TcpStream,
    files: &TinyFiles,
    stopping: &Stopping,
) -> io::Result<Served> {
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
pub(super) struct Stopping {
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
pub(super) struct Live {
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
pub(super) fn accept_loop(
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
