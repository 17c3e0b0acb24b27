//! The async variant's side of the server: one single-threaded tokio
//! event loop per core around the one listening socket, and the accept
//! loop's [`AsyncServer::accept`] (the lab's "I/O multiplexing" road, with
//! the `select`/`epoll` loop written by tokio).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::shutdown::Slot;
use super::socket::{accept_nonblocking, per_connection_options, refuse};
use super::{Admit, Server, State, admit};
use crate::lazy::LazyStream;
use crate::proxy::Proxy;

impl Server {
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
        per_connection_options(&socket2::SockRef::from(&stream));
        crate::doit_async::serve(LazyStream::new(stream), peer, proxy).await;
    }
}
