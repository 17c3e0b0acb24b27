//! Starting a proxy and the loop around the dispatch: everything in `main`
//! except the few lines that are the lesson.
//!
//! [`Server::start`] does what the lab's `main` does before its loop —
//! parse the command line, set SIGPIPE, `Open_listenfd` — and prints the
//! `listening on ADDR:PORT` line tools wait for. Each variant then writes
//! only its accept/dispatch loop over [`Server::incoming`] (blocking) or
//! [`AsyncServer::accept`] (tokio). The server also owns what a loop should
//! not have to think about: the connection limit (`503`), kept within the
//! open-file limit, a backoff when `accept` runs out of descriptors (see
//! [`crate::limits`]), and graceful shutdown on SIGINT/SIGTERM (stop
//! accepting, let in-flight connections finish for `--shutdown-grace`
//! seconds, exit 0; see `server/shutdown.rs`). Both accept loops admit a
//! connection the same way (`admit`). The sockets themselves are in
//! `server/socket.rs`, the async variant's event loops in
//! `server/async_loop.rs`.

mod async_loop;
mod shutdown;
mod socket;

pub use async_loop::{AsyncConn, AsyncServer};
pub use socket::exposure_warning;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Config, SigpipeMode};
use crate::limits::{AcceptBackoff, effective_max_conns, raise_nofile};
use crate::proxy::Proxy;
use shutdown::{Conns, Slot, watch_signals};
use socket::{accept_nonblocking, listen, per_connection_options, refuse};

/// How long start-up waits for the denied names to resolve.
const DENY_RESOLVE_WAIT: Duration = Duration::from_secs(2);

/// What the accept loops share with the connections and the signal
/// thread.
#[derive(Debug)]
struct State {
    /// The connections in flight, the limit, and whether we are stopping.
    conns: Arc<Conns>,
    /// What to do when `accept` fails (only the accept loop uses it).
    backoff: Mutex<AcceptBackoff>,
}

/// A bound, listening proxy, before its accept loop runs.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    proxy: Arc<Proxy>,
    state: Arc<State>,
}

impl Server {
    /// Parses the command line, sets up logging and SIGPIPE, binds, prints
    /// `listening on ADDR:PORT` and installs the shutdown handlers. On
    /// failure it has already printed why, and returns the exit code: 2 for
    /// a bad flag or deny list (like clap's own errors), 1 otherwise.
    pub fn start() -> Result<Server, ExitCode> {
        let config = Config::parse_checked();
        init_logging();
        Server::bind(config).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput {
                Config::usage_error(&e.to_string());
            }
            eprintln!("error: {e}");
            ExitCode::FAILURE
        })
    }

    /// Binds and starts a server for `config` (what [`Server::start`] does
    /// after parsing the command line). A bad deny list is an
    /// `InvalidInput` error that names where it came from.
    pub fn bind(config: Config) -> io::Result<Server> {
        if config.sigpipe == SigpipeMode::Default {
            crate::sigpipe::restore_default();
        }
        let fds = raise_nofile();
        let max_conns = effective_max_conns(config.max_conns, fds.soft);
        let addr = SocketAddr::new(config.bind, config.port());
        let listener = listen(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        let local_addr = listener.local_addr()?;
        if let Some(warning) = exposure_warning(local_addr) {
            eprintln!("{warning}");
            tracing::warn!("bound to a non-loopback address {local_addr}");
        }
        let proxy = Arc::new(Proxy::new(config, local_addr)?);
        proxy.deny.resolve_names(DENY_RESOLVE_WAIT);
        if max_conns < proxy.config.max_conns {
            tracing::warn!(
                "connection limit {max_conns}, not --max-conns {}: the open-file limit is {:?} \
                 (hard {:?}) and each connection needs {} descriptors",
                proxy.config.max_conns,
                fds.soft,
                fds.hard,
                crate::limits::FDS_PER_CONN
            );
        }
        let conns = Arc::new(Conns::new(max_conns));
        watch_signals(
            Arc::clone(&conns),
            listener.try_clone()?,
            proxy.config.shutdown_grace(),
        )?;
        // Last: whoever waits for this line may use the proxy at once.
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {local_addr}")?;
        out.flush()?;
        drop(out);
        tracing::info!(
            "proxy on {local_addr}: cache {}, {} denied hosts, sigpipe {:?}, \
             max {max_conns} connections (open files {:?} -> {:?})",
            if proxy.cache.is_some() { "on" } else { "off" },
            proxy.deny.len(),
            proxy.config.sigpipe,
            fds.before,
            fds.soft
        );
        Ok(Server {
            listener,
            proxy,
            state: Arc::new(State {
                conns,
                backoff: Mutex::new(AcceptBackoff::new()),
            }),
        })
    }

    /// The address the proxy listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The connection limit in force: `--max-conns`, lowered to what the
    /// open-file limit allows.
    pub fn max_conns(&self) -> usize {
        self.state.conns.max
    }

    /// Accepted connections, one at a time, until shutdown begins: the
    /// lab's `while (1) { connfd = Accept(listenfd, ...); ... }`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { server: self }
    }

    /// Waits for in-flight connections to finish and returns the exit
    /// status. The wait has no deadline of its own: the signal thread ends
    /// the process when the grace period is over (see `server/shutdown.rs`).
    pub fn finish(self) -> ExitCode {
        // Close the listening socket first: new clients are refused at once
        // instead of waiting in the backlog for a loop that has ended.
        let Server {
            listener, state, ..
        } = self;
        drop(listener);
        state.conns.wait_idle(None);
        ExitCode::SUCCESS
    }
}

/// What an accept loop does with the result of one `accept`.
enum Admit<S> {
    /// Serve this connection; it holds a slot until it ends.
    Serve(S, SocketAddr, Slot),
    /// At the connection limit: answer `503` and close.
    Refuse(S),
    /// `accept` failed: pause this long, then accept again.
    Pause(Duration),
    /// Shutdown has begun: end the loop.
    Stop,
}

/// The admission both accept loops share: stop once shutdown has begun,
/// back off when `accept` fails, and take a slot under the connection
/// limit or refuse.
fn admit<S>(state: &State, accepted: io::Result<(S, SocketAddr)>) -> Admit<S> {
    if state.conns.stopping() {
        return Admit::Stop;
    }
    let mut backoff = state
        .backoff
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match accepted {
        Err(e) => {
            let (pause, line) = backoff.failed(&e, Instant::now());
            if let Some(line) = line {
                tracing::warn!("{line}");
            }
            Admit::Pause(pause)
        }
        Ok((stream, peer)) => {
            backoff.succeeded();
            if let Some(slot) = Slot::take(&state.conns) {
                Admit::Serve(stream, peer, slot)
            } else {
                tracing::warn!("connection limit {} reached: 503", state.conns.max);
                Admit::Refuse(stream)
            }
        }
    }
}

/// The iterator behind [`Server::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    server: &'a Server,
}

impl Iterator for Incoming<'_> {
    type Item = Conn;

    fn next(&mut self) -> Option<Conn> {
        let server = self.server;
        loop {
            if server.state.conns.stopping() {
                return None;
            }
            // Non-blocking from the start: `doit` and the relay wait with
            // poll(2) only when a call would block.
            let accepted = accept_nonblocking(&socket2::SockRef::from(&server.listener));
            match admit(&server.state, accepted) {
                Admit::Serve(stream, peer, slot) => {
                    return Some(Conn {
                        stream,
                        peer,
                        proxy: Arc::clone(&server.proxy),
                        _slot: slot,
                    });
                }
                Admit::Refuse(stream) => refuse(&stream, server.state.conns.max),
                Admit::Pause(pause) => std::thread::sleep(pause),
                Admit::Stop => return None,
            }
        }
    }
}

/// One accepted client connection and what it needs to be served; it
/// counts as in flight until dropped.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    _slot: Slot,
}

impl Conn {
    /// Serves the connection to its end (the lab's `doit` then `Close`).
    pub fn serve(self) {
        per_connection_options(&socket2::SockRef::from(&self.stream));
        crate::doit::serve(self.stream, self.peer, &self.proxy);
    }
}

/// Sets up `tracing` on stderr; `RUST_LOG` picks the level (info by
/// default, where each request is one line).
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(io::stderr)
        .with_target(false)
        .try_init();
}
