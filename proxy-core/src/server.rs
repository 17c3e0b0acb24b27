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
//! connection the same way (`admit`).

mod shutdown;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::config::{Config, SigpipeMode};
use crate::error::ProxyError;
use crate::lazy::LazyStream;
use crate::limits::{AcceptBackoff, CLIENT_SNDBUF, effective_max_conns, raise_nofile};
use crate::proxy::Proxy;
use shutdown::{Conns, Slot, watch_signals};

/// Pending connections the kernel queues before `accept`.
const BACKLOG: i32 = 1024;

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

    /// Runs the async accept loop `dispatch` on one event loop per core,
    /// then waits for in-flight connections like [`Server::finish`].
    ///
    /// Each event loop is a single-threaded tokio runtime on its own
    /// thread, waiting for the one listening socket in its own epoll: the
    /// loop that accepts a connection serves it to the end, so a connection
    /// never moves between threads (a multi-threaded runtime hands each
    /// accepted connection to another worker, a wake-up per request), and
    /// whichever loop is free takes the next one. The listening socket is
    /// shared rather than bound once per loop with `SO_REUSEPORT`, which
    /// would let a second proxy of the same user bind the same port without
    /// an error and take half its connections. Shutdown shuts that one
    /// socket down, which wakes every loop.
    pub fn run_async<F, Fut>(self, dispatch: F) -> ExitCode
    where
        F: Fn(Arc<AsyncServer>) -> Fut + Sync,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Server {
            listener,
            proxy,
            state,
        } = self;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut listeners = Vec::with_capacity(cores);
        for _ in 1..cores {
            match listener.try_clone() {
                Ok(shared) => listeners.push(shared),
                Err(e) => {
                    tracing::warn!("one event loop fewer: {e}");
                    break;
                }
            }
        }
        listeners.push(listener);
        let (proxy, state, dispatch) = (&proxy, &state, &dispatch);
        std::thread::scope(|scope| {
            let mut listeners = listeners.into_iter();
            let first = listeners.next();
            let others: Vec<_> = listeners
                .enumerate()
                .filter_map(|(i, listener)| {
                    std::thread::Builder::new()
                        .name(format!("event-loop-{}", i + 1))
                        .spawn_scoped(scope, move || event_loop(listener, proxy, state, dispatch))
                        .ok()
                })
                .collect();
            let mut code = first.map_or(ExitCode::SUCCESS, |listener| {
                event_loop(listener, proxy, state, dispatch)
            });
            for other in others {
                match other.join() {
                    Ok(c) if c == ExitCode::SUCCESS => {}
                    Ok(c) => code = c,
                    Err(_) => code = ExitCode::FAILURE,
                }
            }
            code
        })
    }
}

/// One event loop: a single-threaded tokio runtime running `dispatch` on
/// `listener` until shutdown, then waiting for the connections in flight
/// (on every loop; the signal thread ends the process if the grace period
/// runs out first).
fn event_loop<F, Fut>(
    listener: TcpListener,
    proxy: &Arc<Proxy>,
    state: &Arc<State>,
    dispatch: &F,
) -> ExitCode
where
    F: Fn(Arc<AsyncServer>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match AsyncServer::new(listener, proxy, state) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The loop runs as a task, not as `block_on`'s own future, whose
        // every wake-up writes to the runtime's eventfd.
        let _ = tokio::spawn(dispatch(Arc::new(server))).await;
        state.conns.wait_idle_async().await;
        ExitCode::SUCCESS
    })
}

/// The loud warning printed when the proxy listens where others can reach
/// it (anything but loopback), or `None` on loopback.
pub fn exposure_warning(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "WARNING: listening on {addr}, which is not a loopback address: anyone who can \
             reach this machine can use this proxy (an open proxy). Use --bind 127.0.0.1 \
             unless you mean it."
        )
    })
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
    let mut backoff = state.backoff.lock().unwrap_or_else(|e| e.into_inner());
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
            match Slot::take(&state.conns) {
                Some(slot) => Admit::Serve(stream, peer, slot),
                None => {
                    tracing::warn!("connection limit {} reached: 503", state.conns.max);
                    Admit::Refuse(stream)
                }
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
        per_connection_options(socket2::SockRef::from(&self.stream));
        crate::doit::serve(self.stream, self.peer, &self.proxy);
    }
}

/// A listening proxy inside one event loop (see [`Server::run_async`]).
#[derive(Debug)]
pub struct AsyncServer {
    listener: AsyncFd<socket2::Socket>,
    proxy: Arc<Proxy>,
    state: Arc<State>,
}

impl AsyncServer {
    fn new(listener: TcpListener, proxy: &Arc<Proxy>, state: &Arc<State>) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        // SAFETY: the AsyncFd owns the socket, so its descriptor stays open
        // and the same until the AsyncFd is dropped.
        let listener = unsafe {
            AsyncFd::register_with_interest(socket2::Socket::from(listener), Interest::READABLE)
        }
        .map_err(io::Error::from)?;
        Ok(AsyncServer {
            listener,
            proxy: Arc::clone(proxy),
            state: Arc::clone(state),
        })
    }

    /// The next client connection, or `None` once shutdown has begun.
    pub async fn accept(&self) -> Option<AsyncConn> {
        loop {
            if self.state.conns.stopping() {
                return None;
            }
            let accepted = self
                .listener
                .async_io(Interest::READABLE, accept_nonblocking)
                .await;
            match admit(&self.state, accepted) {
                Admit::Serve(stream, peer, slot) => {
                    return Some(AsyncConn {
                        stream,
                        peer,
                        proxy: Arc::clone(&self.proxy),
                        _slot: slot,
                    });
                }
                Admit::Refuse(stream) => refuse(&stream, self.state.conns.max),
                Admit::Pause(pause) => tokio::time::sleep(pause).await,
                Admit::Stop => return None,
            }
        }
    }
}

/// `accept`, the new socket already non-blocking (one `accept4` on
/// Linux), with the client's address.
fn accept_nonblocking(listener: &socket2::Socket) -> io::Result<(TcpStream, SocketAddr)> {
    #[cfg(target_os = "linux")]
    let (socket, addr) = listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
    #[cfg(not(target_os = "linux"))]
    let (socket, addr) = {
        let (socket, addr) = listener.accept()?;
        socket.set_nonblocking(true)?;
        (socket, addr)
    };
    let peer = addr
        .as_socket()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok((socket.into(), peer))
}

/// Answers a connection over the limit with `503` and closes it: best
/// effort without waiting (an empty socket buffer takes a small page
/// whole).
fn refuse(stream: &TcpStream, max: usize) {
    let _ = rustix::net::send(
        stream,
        &overload_page(max),
        rustix::net::SendFlags::NOSIGNAL,
    );
}

/// One accepted connection of the async variant, not yet registered with
/// the event loop (see [`crate::lazy`]); counts as in flight until
/// dropped.
#[derive(Debug)]
pub struct AsyncConn {
    stream: TcpStream,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    _slot: Slot,
}

impl AsyncConn {
    /// Serves the connection to its end; spawn it as a task.
    pub async fn serve(self) {
        let AsyncConn {
            stream,
            peer,
            proxy,
            _slot,
        } = self;
        per_connection_options(socket2::SockRef::from(&stream));
        crate::doit_async::serve(LazyStream::new(stream), peer, proxy).await;
    }
}

fn overload_page(max: usize) -> Vec<u8> {
    ProxyError::Overloaded(max).page().unwrap_or_default()
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    client_socket_options(&socket);
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// What every client socket needs: `TCP_NODELAY` (a response head and body
/// written separately must not wait for an ACK) and a fixed send buffer
/// ([`CLIENT_SNDBUF`]: a client that stops reading pins a bounded amount
/// of kernel memory). Set on the listening socket, since on Linux an
/// accepted socket inherits both: two system calls fewer per request.
/// Elsewhere [`per_connection_options`] sets them on each client.
fn client_socket_options(socket: &socket2::Socket) {
    let _ = socket.set_tcp_nodelay(true);
    let _ = socket.set_send_buffer_size(CLIENT_SNDBUF);
}

/// Sets [`client_socket_options`] on an accepted socket where it does not
/// inherit them from the listener.
fn per_connection_options(client: socket2::SockRef<'_>) {
    if !cfg!(target_os = "linux") {
        let _ = client.set_tcp_nodelay(true);
        let _ = client.set_send_buffer_size(CLIENT_SNDBUF);
    }
}

/// Sets up `tracing` on stderr; `RUST_LOG` picks the level (info by
/// default, where each request is one line).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(io::stderr)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_off_loopback() {
        for quiet in ["127.0.0.1:3128", "[::1]:3128", "127.0.0.2:1"] {
            assert_eq!(
                exposure_warning(quiet.parse().expect("addr")),
                None,
                "{quiet}"
            );
        }
        for loud in ["0.0.0.0:3128", "[::]:3128", "192.168.1.10:3128"] {
            let warning = exposure_warning(loud.parse().expect("addr")).expect(loud);
            assert!(
                warning.starts_with("WARNING") && warning.contains(loud),
                "{warning}"
            );
        }
    }
}
